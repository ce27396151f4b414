/* SPDX-License-Identifier: MIT */
/*
 * ctl.c - shimmer_ctl(): the allocator read and changed by name.
 *
 * A name is dotted words and numbers (stats.classes.12.nmalloc).  Each
 * handler below owns one prefix and parses the rest; values are copied
 * through copy_out/copy_in, which check sizes, so that every handler gives
 * the same answers: ENOENT for a name that is not there, EINVAL for a size
 * that does not match, EPERM for a write to something read-only.
 */
#include "tcache.h"

#include <errno.h>
#include <string.h>

static uint64_t ctl_epoch;

/* Read v (size bytes) out to the caller, if it asked. */
static int copy_out(void *oldp, size_t *oldlenp, const void *v, size_t size)
{
	if (oldp == NULL && oldlenp == NULL)
		return 0;
	if (oldp == NULL || oldlenp == NULL || *oldlenp != size)
		return EINVAL;
	memcpy(oldp, v, size);
	return 0;
}

/* A read-only value: reads it, refuses a write. */
static int read_only(void *oldp, size_t *oldlenp, const void *newp,
		     const void *v, size_t size)
{
	if (newp != NULL)
		return EPERM;
	return copy_out(oldp, oldlenp, v, size);
}

static int read_u64(void *oldp, size_t *oldlenp, const void *newp, uint64_t v)
{
	return read_only(oldp, oldlenp, newp, &v, sizeof(v));
}

/* The decimal number at *s, below limit, followed by '.' or the end;
 * advances *s past it. */
static bool ctl_index(const char **s, uint64_t limit, unsigned *out)
{
	const char *p = *s;
	uint64_t v = 0;

	if (*p < '0' || *p > '9' || (*p == '0' && p[1] >= '0' && p[1] <= '9'))
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v >= limit)
			return false;
	}
	if (*p != '.' && *p != '\0')
		return false;
	*s = *p == '.' ? p + 1 : p;
	*out = (unsigned)v;
	return true;
}

/* ---- opt.KEY -------------------------------------------------------------------- */

/* Options whose change takes effect at once; the rest shape structures made
 * at start-up. */
static bool opt_writable(const char *name)
{
	static const char *const names[] = {
		"decay_ms", "retain_chunks", "stats_print", "stats_format", "on_error",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

/* How many values a choice or bool option takes. */
static unsigned opt_choices(const shm_option_def_t *def)
{
	if (strcmp(def->type, "unsigned") == 0)
		return 0;
	unsigned n = 1;
	for (const char *c = def->type; *c; c++)
		n += *c == '|';
	return strcmp(def->type, "bool") == 0 ? 2 : n;
}

static int ctl_opt(const char *key, void *oldp, size_t *oldlenp,
		   const void *newp, size_t newlen)
{
	const shm_option_def_t *def = shm_option_find(key, strlen(key));
	unsigned v;

	if (def == NULL)
		return ENOENT;
	unsigned *field = (unsigned *)((char *)&shm_opt + def->offset);
	if (newp == NULL)
		return copy_out(oldp, oldlenp, field, sizeof(*field));
	if (!opt_writable(def->name))
		return EPERM;
	if (newlen != sizeof(v))
		return EINVAL;
	memcpy(&v, newp, sizeof(v));
	unsigned choices = opt_choices(def);
	if (choices ? v >= choices : v < def->min || v > def->max)
		return EINVAL;
	int err = copy_out(oldp, oldlenp, field, sizeof(*field));
	if (err == 0)
		__atomic_store_n(field, v, __ATOMIC_RELAXED);
	return err;
}

/* ---- stats.* ---------------------------------------------------------------------- */

static int ctl_stats_class(const char *rest, const shm_stats_t *st,
			   void *oldp, size_t *oldlenp, const void *newp)
{
	unsigned c;

	if (!ctl_index(&rest, SHM_NCLASSES, &c))
		return ENOENT;
	if (strcmp(rest, "size") == 0)
		return read_u64(oldp, oldlenp, newp, shm_classes[c].size);
	if (strcmp(rest, "nmalloc") == 0)
		return read_u64(oldp, oldlenp, newp, st->cls[c].nmalloc);
	if (strcmp(rest, "nfree") == 0)
		return read_u64(oldp, oldlenp, newp, st->cls[c].nfree);
	if (strcmp(rest, "live") == 0)
		return read_u64(oldp, oldlenp, newp, st->cls[c].nmalloc - st->cls[c].nfree);
	if (strcmp(rest, "slabs") == 0)
		return read_u64(oldp, oldlenp, newp, st->cls[c].nslabs);
	if (strcmp(rest, "util") == 0)
		return read_u64(oldp, oldlenp, newp, shm_stats_util(st, c));
	if (strcmp(rest, "nfills") == 0)
		return read_u64(oldp, oldlenp, newp, st->cls[c].nfills);
	if (strcmp(rest, "nflushes") == 0)
		return read_u64(oldp, oldlenp, newp, st->cls[c].nflushes);
	return ENOENT;
}

static int ctl_stats_arena(const char *rest, void *oldp, size_t *oldlenp,
			   const void *newp)
{
	unsigned i;

	if (!ctl_index(&rest, shm_narenas, &i))
		return ENOENT;
	/* An arena not made yet reads as empty: its counters are zero. */
	shm_arena_t *arena = shm_arena_at(i);
	const shm_pub_arena_t *a = shm_publish_arena(i);
	uint64_t v;
	if (arena)
		pthread_mutex_lock(&arena->lock);
	if (strcmp(rest, "nchunks") == 0)
		v = a->nchunks;
	else if (strcmp(rest, "active") == 0)
		v = a->active_pages << SHM_PAGE_SHIFT;
	else if (strcmp(rest, "dirty") == 0)
		v = a->dirty_pages << SHM_PAGE_SHIFT;
	else if (strcmp(rest, "large") == 0)
		v = a->large_bytes;
	else if (strcmp(rest, "nmalloc_large") == 0)
		v = a->nmalloc_large;
	else if (strcmp(rest, "nfree_large") == 0)
		v = a->nfree_large;
	else
		v = UINT64_MAX;
	if (arena)
		pthread_mutex_unlock(&arena->lock);
	return v == UINT64_MAX ? ENOENT : read_u64(oldp, oldlenp, newp, v);
}

static int ctl_stats(const char *rest, void *oldp, size_t *oldlenp,
		     const void *newp)
{
	static const struct {
		const char *name;
		size_t offset;
	} totals[] = {
#define TOTAL(f) { #f, offsetof(struct shimmer_stats, f) }
		TOTAL(allocated), TOTAL(active), TOTAL(resident), TOTAL(mapped),
		TOTAL(retained), TOTAL(dirty), TOTAL(huge), TOTAL(nmalloc),
		TOTAL(nfree),
#undef TOTAL
	};
	shm_stats_t st;

	if (strncmp(rest, "arenas.", 7) == 0)
		return ctl_stats_arena(rest + 7, oldp, oldlenp, newp);
	shm_stats_gather(&st);
	if (strncmp(rest, "classes.", 8) == 0)
		return ctl_stats_class(rest + 8, &st, oldp, oldlenp, newp);
	for (size_t i = 0; i < sizeof(totals) / sizeof(totals[0]); i++)
		if (strcmp(rest, totals[i].name) == 0)
			return read_u64(oldp, oldlenp, newp,
					*(size_t *)((char *)&st.sum + totals[i].offset));
	return ENOENT;
}

/* ---- Actions ------------------------------------------------------------------------ */

static int action(void *oldp, size_t *oldlenp, const void *newp)
{
	return oldp || oldlenp || newp ? EINVAL : 0;
}

static int ctl_arena(const char *rest, void *oldp, size_t *oldlenp,
		     const void *newp)
{
	unsigned i, from = 0, to = shm_narenas;

	if (strcmp(rest, "purge") != 0) {
		if (!ctl_index(&rest, shm_narenas, &i) || strcmp(rest, "purge") != 0)
			return ENOENT;
		from = i;
		to = i + 1;
	}
	int err = action(oldp, oldlenp, newp);
	if (err)
		return err;
	shm_arena_t *arena;
	for (i = from; (arena = shm_arena_next(&i, to));)
		shm_arena_purge_all(arena, NULL);
	if (to - from == shm_narenas)
		shm_huge_decay(true, NULL);
	return 0;
}

SHM_EXPORT SHM_COLD int shimmer_ctl(const char *name, void *oldp, size_t *oldlenp,
			   const void *newp, size_t newlen)
{
	static const char *const version = SHIMMER_VERSION;

	if (name == NULL)
		return EINVAL;
	shm_start();
	if (strcmp(name, "version") == 0)
		return read_only(oldp, oldlenp, newp, &version, sizeof(version));
	if (strcmp(name, "epoch") == 0) {
		/* The counters are always current; a write just moves the
		 * epoch, as callers of mallctl expect. */
		if (newp != NULL) {
			if (newlen != sizeof(uint64_t))
				return EINVAL;
			__atomic_add_fetch(&ctl_epoch, 1, __ATOMIC_RELAXED);
		}
		uint64_t e = __atomic_load_n(&ctl_epoch, __ATOMIC_RELAXED);
		return copy_out(oldp, oldlenp, &e, sizeof(e));
	}
	if (strncmp(name, "opt.", 4) == 0)
		return ctl_opt(name + 4, oldp, oldlenp, newp, newlen);
	if (strcmp(name, "arenas.narenas") == 0)
		return read_only(oldp, oldlenp, newp, &shm_narenas, sizeof(shm_narenas));
	if (strcmp(name, "arenas.nclasses") == 0) {
		unsigned n = SHM_NCLASSES;
		return read_only(oldp, oldlenp, newp, &n, sizeof(n));
	}
	if (strncmp(name, "arenas.class.", 13) == 0) {
		const char *rest = name + 13;
		unsigned c;
		if (!ctl_index(&rest, SHM_NCLASSES, &c) || strcmp(rest, "size") != 0)
			return ENOENT;
		return read_u64(oldp, oldlenp, newp, shm_classes[c].size);
	}
	if (strncmp(name, "stats.", 6) == 0)
		return ctl_stats(name + 6, oldp, oldlenp, newp);
	if (strcmp(name, "thread.tcache.flush") == 0) {
		int err = action(oldp, oldlenp, newp);
		shm_tcache_t *tc = shm_tcache_mine();
		if (err == 0 && tc)
			shm_tcache_flush_all(tc);
		return err;
	}
	if (strncmp(name, "arena.", 6) == 0)
		return ctl_arena(name + 6, oldp, oldlenp, newp);
	return ENOENT;
}

/* SPDX-License-Identifier: MIT */
/*
 * stats.c - the allocator's counters and the statistics report.
 *
 * The central heap counts under its arena locks; thread caches count
 * nothing on their fast paths.  Bytes in blocks handed to the program are
 * what left the slabs, minus what sits in thread caches, plus large and
 * huge blocks.
 */
#include "tcache.h"

#include <malloc.h>
#include <string.h>
#include <unistd.h>

void shm_stats_collect(struct shimmer_stats *out)
{
	size_t small_out = 0, large = 0, active_pages = 0, chunks = 0;
	size_t dirty = 0, nmalloc = 0, nfree = 0, huge_bytes, huge_count, huge_cached;

	memset(out, 0, sizeof(*out));
	if (!shm_started)
		return;
	for (unsigned i = 0; i < shm_narenas; i++) {
		shm_arena_t *arena = shm_arenas[i];
		pthread_mutex_lock(&arena->lock);
		for (unsigned cls = 0; cls < SHM_NCLASSES; cls++) {
			const shm_bin_t *bin = &arena->bins[cls];
			small_out += (bin->nmalloc - bin->nfree) *
				     shm_classes[cls].size;
			nmalloc += bin->nmalloc;
			nfree += bin->nfree;
		}
		large += arena->large_allocated;
		nmalloc += arena->nmalloc_large;
		nfree += arena->nfree_large;
		active_pages += arena->active_pages;
		chunks += arena->nchunks;
		dirty += arena->dirty_pages;
		pthread_mutex_unlock(&arena->lock);
	}
	shm_huge_totals(&huge_bytes, &huge_count, &huge_cached);

	size_t cached = shm_tcache_cached_bytes();
	out->allocated = (small_out > cached ? small_out - cached : 0) + large +
			 huge_bytes;
	out->active = (active_pages << SHM_PAGE_SHIFT) + huge_bytes;
	out->mapped = chunks * SHM_CHUNK_SIZE + huge_bytes + huge_cached +
		      shm_base_mapped();
	out->dirty = (dirty << SHM_PAGE_SHIFT) + huge_cached;
	out->huge = huge_bytes;
	out->nmalloc = nmalloc + huge_count;
	out->nfree = nfree;
	if (out->allocated > out->active)
		out->allocated = out->active;
}

/* ---- The report ----------------------------------------------------------------- */

typedef struct out {
	shimmer_write_cb *cb;
	void *opaque;
	char buf[1024];
	size_t len;
} out_t;

static void out_flush(out_t *o)
{
	if (o->len == 0)
		return;
	o->buf[o->len] = '\0';
	if (o->cb)
		o->cb(o->opaque, o->buf);
	else
		shm_os_write(2, o->buf, o->len);
	o->len = 0;
}

static void out_str(out_t *o, const char *s)
{
	size_t n = strlen(s);

	if (o->len + n >= sizeof(o->buf))
		out_flush(o);
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

static void out_u64(out_t *o, uint64_t v)
{
	char num[24];

	shm_fmt_u64(num, v);
	out_str(o, num);
}

/* One "name value" pair in either format. */
static void out_field(out_t *o, bool json, const char *name, uint64_t v,
		      bool last)
{
	if (json) {
		out_str(o, "    \"");
		out_str(o, name);
		out_str(o, "\": ");
		out_u64(o, v);
		out_str(o, last ? "\n" : ",\n");
	} else {
		out_str(o, "  ");
		out_str(o, name);
		out_str(o, ":");
		for (size_t n = strlen(name); n < 14; n++)
			out_str(o, " ");
		out_u64(o, v);
		out_str(o, "\n");
	}
}

static void stats_report(out_t *o, bool json)
{
	struct shimmer_stats st;

	shm_stats_collect(&st);
	if (json) {
		out_str(o, "{\n  \"shimmer\": {\n    \"version\": \"" SHIMMER_VERSION
			   "\",\n");
	} else {
		out_str(o, "shimmer " SHIMMER_VERSION " statistics of process ");
		out_u64(o, (uint64_t)getpid());
		out_str(o, "\n");
	}
	if (json)
		out_field(o, json, "pid", (uint64_t)getpid(), false);
	out_field(o, json, "allocated", st.allocated, false);
	out_field(o, json, "active", st.active, false);
	out_field(o, json, "dirty", st.dirty, false);
	out_field(o, json, "mapped", st.mapped, false);
	out_field(o, json, "huge", st.huge, false);
	out_field(o, json, "narenas", shm_narenas, false);
	out_field(o, json, "nmalloc", st.nmalloc, false);
	out_field(o, json, "nfree", st.nfree, false);
	size_t rss, peak;
	shm_os_rss(&rss, &peak);
	out_field(o, json, "rss", rss, false);
	out_field(o, json, "peak_rss", peak, true);
	if (json)
		out_str(o, "  }\n}\n");
	out_flush(o);
}

SHM_EXPORT void shimmer_stats_print(shimmer_write_cb *write_cb, void *opaque,
				    const char *opts)
{
	out_t o = { .cb = write_cb, .opaque = opaque, .len = 0 };

	shm_start();
	stats_report(&o, opts && strchr(opts, 'J'));
}

SHM_EXPORT void shimmer_stats_get(struct shimmer_stats *out)
{
	shm_start();
	shm_stats_collect(out);
}

SHM_EXPORT void malloc_stats(void)
{
	out_t o = { .cb = NULL, .opaque = NULL, .len = 0 };

	shm_start();
	stats_report(&o, false);
}

SHM_EXPORT struct mallinfo2 mallinfo2(void)
{
	struct mallinfo2 mi;
	struct shimmer_stats st;

	memset(&mi, 0, sizeof(mi));
	shm_start();
	shm_stats_collect(&st);
	mi.arena = st.mapped - st.huge;
	mi.hblks = 0;
	mi.hblkhd = st.huge;
	mi.uordblks = st.allocated;
	mi.fordblks = st.mapped - st.allocated;
	mi.keepcost = 0;
	return mi;
}

void shm_stats_exit_report(void)
{
	if (shm_started && shm_opt.stats_print) {
		out_t o = { .cb = NULL, .opaque = NULL, .len = 0 };
		stats_report(&o, shm_opt.stats_format == SHM_STATS_JSON);
	}
}

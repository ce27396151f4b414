/* SPDX-License-Identifier: MIT */
/*
 * stats.c - gathering the counters, and the reports: text for people, JSON
 * for programs (with a picture of the heap), glibc's malloc_stats,
 * mallinfo2 and malloc_info.
 *
 * The counters live in the published arenas (publish.h).  Thread caches
 * count the program's calls with plain increments and merge them when they
 * refill or flush; gathering adds what live caches have not merged yet, so
 * counts are exact whenever the program's threads are quiet.
 */
#include "tcache.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

SHM_COLD void shm_stats_gather(shm_stats_t *st)
{
	uint64_t pend_malloc[SHM_NCLASSES] = { 0 }, pend_free[SHM_NCLASSES] = { 0 };
	uint64_t active_pages = 0, dirty_pages = 0, chunks = 0, large = 0;
	uint64_t headers = 0;

	memset(st, 0, sizeof(*st));
	if (!shm_started)
		return;
	shm_tcache_pending(pend_malloc, pend_free);
	for (unsigned c = 0; c < SHM_NCLASSES; c++) {
		st->cls[c].nmalloc = pend_malloc[c];
		st->cls[c].nfree = pend_free[c];
	}
	shm_arena_t *arena;
	for (unsigned i = 0; (arena = shm_arena_next(&i, shm_narenas));) {
		const shm_pub_arena_t *a = arena->pub;
		pthread_mutex_lock(&arena->lock);
		for (unsigned c = 0; c < SHM_NCLASSES; c++) {
			st->cls[c].nmalloc += __atomic_load_n(&a->classes[c].nmalloc,
							      __ATOMIC_RELAXED);
			st->cls[c].nfree += __atomic_load_n(&a->classes[c].nfree,
							    __ATOMIC_RELAXED);
			st->cls[c].nslabs += a->classes[c].nslabs;
			st->cls[c].slab_objs += a->classes[c].slab_objs;
			st->cls[c].nfills += a->classes[c].nfills;
			st->cls[c].nflushes += __atomic_load_n(&a->classes[c].nflushes,
							       __ATOMIC_RELAXED);
		}
		large += a->large_bytes;
		st->sum.nmalloc += a->nmalloc_large;
		st->sum.nfree += a->nfree_large;
		active_pages += a->active_pages;
		dirty_pages += a->dirty_pages;
		chunks += a->nchunks;
		for (shm_chunk_t *c = arena->chunks; c; c = c->next)
			headers += shm_chunk_touched(c);
		pthread_mutex_unlock(&arena->lock);
	}

	uint64_t small = 0;
	for (unsigned c = 0; c < SHM_NCLASSES; c++) {
		uint64_t live = st->cls[c].nmalloc > st->cls[c].nfree ?
				st->cls[c].nmalloc - st->cls[c].nfree : 0;
		small += live * shm_classes[c].size;
		st->sum.nmalloc += st->cls[c].nmalloc;
		st->sum.nfree += st->cls[c].nfree;
	}
	uint64_t huge = shm_pub->huge_bytes, cached = shm_pub->huge_cached;
	st->sum.nmalloc += shm_pub->huge_nmalloc;
	st->sum.nfree += shm_pub->huge_nfree;
	st->nchunks = chunks;
	st->sum.huge = huge;
	st->sum.active = (active_pages << SHM_PAGE_SHIFT) + huge;
	st->sum.allocated = small + large + huge;
	if (st->sum.allocated > st->sum.active)
		st->sum.allocated = st->sum.active;
	st->sum.dirty = (dirty_pages << SHM_PAGE_SHIFT) + cached;
	st->sum.mapped = chunks * SHM_CHUNK_SIZE + huge + cached + shm_base_mapped();
	/* Pages touched and not given back: blocks, dirty pages, the parts
	 * of chunk headers written so far and the allocator's own metadata. */
	st->sum.resident = st->sum.active + st->sum.dirty + headers +
			   shm_base_resident();
	if (st->sum.resident > st->sum.mapped)
		st->sum.resident = st->sum.mapped;
	st->sum.retained = st->sum.mapped - st->sum.resident;
}

/* Per mille of a class's slab objects that are out of the slabs. */
SHM_COLD uint64_t shm_stats_util(const shm_stats_t *st, unsigned c)
{
	uint64_t room = st->cls[c].nslabs * shm_classes[c].nobjs;

	return room ? st->cls[c].slab_objs * 1000 / room : 0;
}

/* ---- Writing a report ---------------------------------------------------------- */

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

static void out_mem(out_t *o, const char *s, size_t n)
{
	while (n > 0) {
		size_t room = sizeof(o->buf) - 1 - o->len;
		if (room == 0) {
			out_flush(o);
			continue;
		}
		size_t k = n < room ? n : room;
		memcpy(o->buf + o->len, s, k);
		o->len += k;
		s += k;
		n -= k;
	}
}

static void out_str(out_t *o, const char *s)
{
	out_mem(o, s, strlen(s));
}

static void out_u64(out_t *o, uint64_t v)
{
	char num[24];

	out_mem(o, num, shm_fmt_u64(num, v));
}

static void out_hex(out_t *o, uint64_t v)
{
	char num[24];

	out_mem(o, num, shm_fmt_hex(num, v));
}

/* Text: "  name:          value"; JSON: ",\n  \"name\": value" (the
 * object's first member is written by the caller). */
static void out_field(out_t *o, bool json, const char *name, uint64_t v)
{
	if (json) {
		out_str(o, ",\n  \"");
		out_str(o, name);
		out_str(o, "\": ");
	} else {
		out_str(o, "  ");
		out_str(o, name);
		out_str(o, ":");
		for (size_t n = strlen(name); n < 14; n++)
			out_str(o, " ");
	}
	out_u64(o, v);
	if (!json)
		out_str(o, "\n");
}

/* The size classes the program used most, in the text report. */
static void report_busiest(out_t *o, const shm_stats_t *st)
{
	bool shown[SHM_NCLASSES] = { false };

	out_str(o, "  busiest size classes:\n"
		   "         size       mallocs          live    slabs  used\n");
	for (int k = 0; k < 8; k++) {
		int best = -1;
		for (unsigned c = 0; c < SHM_NCLASSES; c++)
			if (!shown[c] && st->cls[c].nmalloc > 0 &&
			    (best < 0 || st->cls[c].nmalloc > st->cls[best].nmalloc))
				best = (int)c;
		if (best < 0)
			break;
		shown[best] = true;
		const uint64_t vals[5] = {
			shm_classes[best].size, st->cls[best].nmalloc,
			st->cls[best].nmalloc - st->cls[best].nfree,
			st->cls[best].nslabs, shm_stats_util(st, (unsigned)best) / 10
		};
		static const size_t width[5] = { 13, 14, 14, 9, 5 };
		char num[5][24];
		for (int i = 0; i < 5; i++) {
			shm_fmt_u64(num[i], vals[i]);
			for (size_t n = strlen(num[i]); n < width[i]; n++)
				out_str(o, " ");
			out_str(o, num[i]);
		}
		out_str(o, "%\n");
	}
}

static void report_classes_json(out_t *o, const shm_stats_t *st)
{
	bool first = true;

	out_str(o, ",\n  \"classes\": [");
	for (unsigned c = 0; c < SHM_NCLASSES; c++) {
		if (st->cls[c].nmalloc == 0 && st->cls[c].nslabs == 0)
			continue;
		out_str(o, first ? "\n    {\"class\": " : ",\n    {\"class\": ");
		first = false;
		out_u64(o, c);
		out_str(o, ", \"size\": ");
		out_u64(o, shm_classes[c].size);
		out_str(o, ", \"nmalloc\": ");
		out_u64(o, st->cls[c].nmalloc);
		out_str(o, ", \"nfree\": ");
		out_u64(o, st->cls[c].nfree);
		out_str(o, ", \"live\": ");
		out_u64(o, st->cls[c].nmalloc - st->cls[c].nfree);
		out_str(o, ", \"slabs\": ");
		out_u64(o, st->cls[c].nslabs);
		out_str(o, ", \"util\": ");
		out_u64(o, shm_stats_util(st, c));
		out_str(o, ", \"nfills\": ");
		out_u64(o, st->cls[c].nfills);
		out_str(o, ", \"nflushes\": ");
		out_u64(o, st->cls[c].nflushes);
		out_str(o, "}");
	}
	out_str(o, "\n  ]");
}

/* The heap picture (publish.h), written fresh for the report. */
static void report_heap_json(out_t *o)
{
	shm_publish_snapshot();
	const shm_pub_chunk_t *chunks =
		(const shm_pub_chunk_t *)((const char *)shm_pub + shm_pub->chunks_offset);
	const shm_pub_huge_t *huge =
		(const shm_pub_huge_t *)((const char *)shm_pub + shm_pub->huge_offset);

	out_str(o, ",\n  \"heap\": {\"page_size\": ");
	out_u64(o, SHM_PAGE_SIZE);
	out_str(o, ", \"chunk_size\": ");
	out_u64(o, SHM_CHUNK_SIZE);
	out_str(o, ", \"truncated\": ");
	out_str(o, shm_pub->snap_truncated ? "true" : "false");
	out_str(o, ",\n    \"chunks\": [");
	for (uint32_t i = 0; i < shm_pub->snap_chunks; i++) {
		out_str(o, i ? ",\n      {\"addr\": \"" : "\n      {\"addr\": \"");
		out_hex(o, chunks[i].addr);
		out_str(o, "\", \"arena\": ");
		out_u64(o, chunks[i].arena);
		out_str(o, ", \"state\": \"");
		out_mem(o, chunks[i].state, SHM_PUB_CHUNK_PAGES);
		out_str(o, "\", \"fill\": \"");
		out_mem(o, chunks[i].fill, SHM_PUB_CHUNK_PAGES);
		out_str(o, "\"}");
	}
	out_str(o, "],\n    \"huge\": [");
	for (uint32_t i = 0; i < shm_pub->snap_huge; i++) {
		out_str(o, i ? ", {\"addr\": \"" : "{\"addr\": \"");
		out_hex(o, huge[i].addr);
		out_str(o, "\", \"size\": ");
		out_u64(o, huge[i].size);
		out_str(o, "}");
	}
	out_str(o, "]}");
}

static void stats_report(out_t *o, bool json)
{
	shm_stats_t st;
	size_t rss, peak;

	shm_stats_gather(&st);
	shm_os_rss(&rss, &peak);
	if (json) {
		out_str(o, "{\n  \"version\": \"" SHIMMER_VERSION "\"");
		out_field(o, true, "pid", (uint64_t)getpid());
	} else {
		out_str(o, "shimmer " SHIMMER_VERSION " statistics of process ");
		out_u64(o, (uint64_t)getpid());
		out_str(o, "\n");
	}
	out_field(o, json, "allocated", st.sum.allocated);
	out_field(o, json, "active", st.sum.active);
	out_field(o, json, "resident", st.sum.resident);
	out_field(o, json, "dirty", st.sum.dirty);
	out_field(o, json, "retained", st.sum.retained);
	out_field(o, json, "mapped", st.sum.mapped);
	out_field(o, json, "huge", st.sum.huge);
	out_field(o, json, "narenas", shm_narenas);
	out_field(o, json, "nchunks", st.nchunks);
	out_field(o, json, "nmalloc", st.sum.nmalloc);
	out_field(o, json, "nfree", st.sum.nfree);
	out_field(o, json, "rss", rss);
	out_field(o, json, "peak_rss", peak);
	if (json) {
		report_classes_json(o, &st);
		report_heap_json(o);
		out_str(o, "\n}\n");
	} else {
		if (st.sum.allocated) {
			/* Held per byte in blocks, in hundredths. */
			uint64_t r = st.sum.active * 100 / st.sum.allocated;
			char num[24];
			out_str(o, "  held/allocated: ");
			out_u64(o, r / 100);
			out_str(o, ".");
			shm_fmt_u64(num, r % 100 + 100);
			out_str(o, num + 1);
			out_str(o, " (active pages per byte in blocks)\n");
		}
		report_busiest(o, &st);
	}
	out_flush(o);
}

SHM_EXPORT SHM_COLD void shimmer_stats_print(shimmer_write_cb *write_cb, void *opaque,
				    const char *opts)
{
	out_t o = { .cb = write_cb, .opaque = opaque, .len = 0 };

	shm_start();
	stats_report(&o, opts && strchr(opts, 'J'));
}

SHM_EXPORT SHM_COLD void shimmer_stats_get(struct shimmer_stats *out)
{
	shm_stats_t st;

	shm_start();
	shm_stats_gather(&st);
	*out = st.sum;
}

SHM_EXPORT SHM_COLD void malloc_stats(void)
{
	out_t o = { .cb = NULL, .opaque = NULL, .len = 0 };

	shm_start();
	stats_report(&o, false);
}

SHM_EXPORT SHM_COLD struct mallinfo2 mallinfo2(void)
{
	struct mallinfo2 mi;
	shm_stats_t st;

	memset(&mi, 0, sizeof(mi));
	shm_start();
	shm_stats_gather(&st);
	mi.arena = st.sum.mapped - st.sum.huge;
	mi.hblks = shm_pub->huge_count;
	mi.hblkhd = st.sum.huge;
	mi.uordblks = st.sum.allocated;
	mi.fordblks = st.sum.mapped - st.sum.allocated;
	return mi;
}

/* glibc's XML report, with Shimmer's numbers: one <heap> per arena, its
 * size classes as <size> elements (count: objects out of the arena's
 * slabs), then the totals. */
SHM_EXPORT SHM_COLD int malloc_info(int options, FILE *fp)
{
	shm_stats_t st;

	if (options != 0) {
		errno = EINVAL;
		return -1;
	}
	shm_start();
	shm_stats_gather(&st);
	fprintf(fp, "<malloc version=\"shimmer-%s\">\n", SHIMMER_VERSION);
	for (unsigned i = 0; i < shm_narenas; i++) {
		const shm_pub_arena_t *a = shm_publish_arena(i);
		uint64_t count = 0, bytes = 0;
		fprintf(fp, "<heap nr=\"%u\">\n<sizes>\n", i);
		for (unsigned c = 0; c < SHM_NCLASSES; c++) {
			uint64_t n = a->classes[c].slab_objs;
			if (n == 0)
				continue;
			uint32_t from = c ? shm_classes[c - 1].size + 1 : 1;
			fprintf(fp, "  <size from=\"%u\" to=\"%u\" total=\"%llu\" count=\"%llu\"/>\n",
				from, shm_classes[c].size,
				(unsigned long long)(n * shm_classes[c].size),
				(unsigned long long)n);
			count += n;
			bytes += n * shm_classes[c].size;
		}
		fprintf(fp, "</sizes>\n<total type=\"small\" count=\"%llu\" size=\"%llu\"/>\n"
			"<total type=\"large\" count=\"%llu\" size=\"%llu\"/>\n"
			"<system type=\"current\" size=\"%llu\"/>\n</heap>\n",
			(unsigned long long)count, (unsigned long long)bytes,
			(unsigned long long)(a->nmalloc_large - a->nfree_large),
			(unsigned long long)a->large_bytes,
			(unsigned long long)(a->nchunks * SHM_CHUNK_SIZE));
	}
	fprintf(fp, "<total type=\"mmap\" count=\"%llu\" size=\"%llu\"/>\n"
		"<total type=\"allocated\" size=\"%llu\"/>\n"
		"<system type=\"current\" size=\"%llu\"/>\n"
		"<aspace type=\"total\" size=\"%llu\"/>\n</malloc>\n",
		(unsigned long long)shm_pub->huge_count,
		(unsigned long long)st.sum.huge,
		(unsigned long long)st.sum.allocated,
		(unsigned long long)st.sum.resident,
		(unsigned long long)st.sum.mapped);
	return 0;
}

SHM_COLD void shm_stats_exit_report(void)
{
	if (shm_started && shm_opt.stats_print) {
		out_t o = { .cb = NULL, .opaque = NULL, .len = 0 };
		stats_report(&o, shm_opt.stats_format == SHM_STATS_JSON);
	}
}

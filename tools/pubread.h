/* SPDX-License-Identifier: MIT */
/*
 * pubread.h - the reading side of lib/publish.h: find a process's
 * statistics mapping through /proc, map it, check it, and add it up.
 *
 * Everything that the process may change under us is read with atomic
 * loads; the geometry (arena count, offsets, capacities) is read once,
 * checked against the size of the mapping and kept here, so a later change
 * by the process cannot send a read outside the mapping.
 */
#ifndef SHIMMER_PUBREAD_H
#define SHIMMER_PUBREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "publish.h"

typedef struct pub {
	int pid;
	int procfd;			/* /proc/PID, to follow the process */
	void *base;			/* the mapping */
	size_t size;
	bool writable;
	shm_pub_t *hdr;
	const shm_pub_arena_t *arenas;
	const shm_pub_chunk_t *chunks;
	const shm_pub_huge_t *huge;
	uint32_t narenas;
	uint32_t max_chunks, max_huge;
	uint32_t page_size;
	uint64_t chunk_size;
	uint32_t class_size[SHM_PUB_CLASSES];
	uint32_t class_nobjs[SHM_PUB_CLASSES];
	char version[sizeof(((shm_pub_t *)0)->version_string)];
} pub_t;

/* The totals, computed the way the library's own report computes them. */
typedef struct pub_totals {
	uint64_t allocated;	/* live small objects + large + huge bytes */
	uint64_t active;	/* pages in slabs and large blocks + huge */
	uint64_t dirty;		/* free pages not purged + cached huge */
	uint64_t mapped;	/* chunks + huge + cached huge + metadata */
	uint64_t huge;		/* bytes in live huge blocks */
	uint64_t huge_count;
	uint64_t nchunks;
	uint64_t nmalloc, nfree;
} pub_totals_t;

/* One size class, summed over the arenas. */
typedef struct pub_class {
	unsigned index;
	uint64_t size, nobjs;
	uint64_t nmalloc, nfree, live;
	uint64_t nslabs, slab_objs;
	uint64_t nfills, nflushes;
	double util;		/* slab_objs / (nslabs * nobjs), 0 without slabs */
} pub_class_t;

/* Find and map the statistics of process pid; writable maps them read-write
 * (to ask for a heap picture).  Returns 0, or 1 after one line on stderr
 * that says why not. */
int pub_open(pub_t *p, int pid, bool writable);
void pub_close(pub_t *p);

void pub_totals(const pub_t *p, pub_totals_t *t);
/* All classes, in class order. */
void pub_classes(const pub_t *p, pub_class_t out[SHM_PUB_CLASSES]);

/* Whether the process still runs (a zombie does not). */
bool pub_alive(const pub_t *p);
/* Its resident set from /proc/PID/statm; false if that cannot be read. */
bool pub_rss(const pub_t *p, uint64_t *bytes);
/* Its command name from /proc/PID/comm, or "" if that cannot be read. */
void pub_comm(const pub_t *p, char *buf, size_t len);

/* Ask the process for a heap picture and wait up to timeout_ms for it.
 * Returns 0 when it is there, 1 after a message on stderr. */
int pub_snapshot(pub_t *p, unsigned timeout_ms);

#endif /* SHIMMER_PUBREAD_H */

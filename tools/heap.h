/* SPDX-License-Identifier: MIT */
/*
 * heap.h - a picture of a heap, whichever way it was obtained: from a live
 * process (pubread.c) or from the "heap" object of the library's JSON
 * report.  map.c draws it.
 */
#ifndef SHIMMER_HEAP_H
#define SHIMMER_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "publish.h"

typedef struct heap_chunk {
	uint64_t addr;
	uint32_t arena;
	char state[SHM_PUB_CHUNK_PAGES];	/* the alphabet of publish.h */
	char fill[SHM_PUB_CHUNK_PAGES];
} heap_chunk_t;

typedef struct heap_huge {
	uint64_t addr, size;
} heap_huge_t;

/* Totals of the statistics; have says which of them the source gave. */
enum heap_total {
	HT_ALLOCATED, HT_ACTIVE, HT_DIRTY, HT_MAPPED, HT_HUGE, HT_COUNT
};

/* Pages of the picture by state. */
enum heap_pages {
	HP_HEADER, HP_FREE, HP_DIRTY, HP_LARGE, HP_GUARD, HP_SLAB, HP_OTHER,
	HP_COUNT
};

typedef struct heap {
	char source[160];		/* "process 123 (name)" or a file name */
	char version[32];		/* the library's, or "" */
	uint32_t page_size;
	uint64_t chunk_size;
	size_t nchunks;
	heap_chunk_t *chunks;
	size_t nhuge;
	heap_huge_t *huge;
	bool truncated;
	uint64_t total[HT_COUNT];
	bool have[HT_COUNT];
	uint32_t class_size[SHM_PUB_CLASSES];	/* 0 if not known */
	/* Filled in by heap_count(). */
	uint64_t pages[HP_COUNT];
	uint64_t huge_bytes;
} heap_t;

extern const char *const heap_total_name[HT_COUNT];
extern const char *const heap_pages_name[HP_COUNT];

/* From a live process: ask for a picture, wait for it, copy it.  Returns 0
 * or 1 after a message on stderr. */
int heap_from_pid(heap_t *h, int pid);
/* From a JSON report (path "-" is standard input).  Returns 0 or 1. */
int heap_from_json(heap_t *h, const char *path);
void heap_free(heap_t *h);

/* Count the pages by state and the bytes in huge blocks. */
void heap_count(heap_t *h);
/* What a page is, from its state and fill characters. */
enum heap_pages heap_page_kind(char state, char fill);
/* The size class of a slab page, or -1 for any other page. */
int heap_slab_class(char state, char fill);
/* The fill of a slab page in tenths, 0-10; -1 if unknown. */
int heap_fill_tenths(char fill);

#endif /* SHIMMER_HEAP_H */

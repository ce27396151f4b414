/* SPDX-License-Identifier: MIT */
/*
 * tool-fakepub - publishes statistics the way lib/publish.h lays them out,
 * with contents chosen by hand, so that t-tool.sh can check every number
 * "shimmer stats" and "shimmer map" derive, and how they refuse a mapping
 * that is not right.  Not linked with libshimmer.
 *
 *   tool-fakepub MODE READYFILE
 *
 *   good        a valid mapping; answers requests for a heap picture
 *   idle        a valid mapping; never answers
 *   badmagic    the mark at the start is wrong
 *   badversion  a format version from the future
 *   short       the memory file is shorter than the header
 *   badoffset   the arena table runs past the end of the mapping
 *   json        no mapping: print the library's JSON report of the same
 *               heap (after a line of other output) and exit
 *
 * READYFILE gets "key value" lines: the numbers the tool must show, then
 * "ready PID".  All but json then wait to be killed, at most a minute.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "publish.h"

#define PAGE 4096u
#define CHUNK ((uint64_t)PAGE * SHM_PUB_CHUNK_PAGES)
#define MIB ((uint64_t)1 << 20)
#define NARENAS 2
#define MAX_CHUNKS 8
#define MAX_HUGE 4

static const uint32_t class_size[SHM_PUB_CLASSES] = {
	16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448,
	512, 576, 640, 704, 768, 832, 896, 960, 1024, 1152, 1280, 1408, 1536,
	1664, 1792, 1920, 2048, 2304, 2560, 2816, 3072, 3328, 3584, 3840, 4096,
	4608, 5120, 5632, 6144, 6656, 7168, 7680, 8192, 9216, 10240, 11264,
	12288, 13312, 14336, 15360, 16384, 18432, 20480, 22528, 24576, 26624,
	28672, 30720, 32768, 36864, 40960, 45056, 49152, 53248, 57344, 61440,
	65536
};

/* The picture: three chunks, two huge blocks.  Page counts by state are
 * added up while it is drawn. */
static shm_pub_chunk_t pic[3];
static const shm_pub_huge_t pic_huge[2] = {
	{ 0x7f1000000000ull, 8 * MIB }, { 0x7f2000000000ull, 3 * MIB }
};
static uint64_t npages[7];	/* header free dirty large guard slab other */

static void run(shm_pub_chunk_t *c, size_t *at, size_t n, char state,
		char fill, int kind)
{
	memset(c->state + *at, state, n);
	memset(c->fill + *at, fill, n);
	npages[kind] += n;
	*at += n;
}

static void draw(void)
{
	size_t at;

	/* Classes 13 and 43 are written 'd' and 'H', like a dirty page and a
	 * header page; their fill marks tell. */
	at = 0;
	pic[0].addr = 0x7f0000000000ull;
	pic[0].arena = 0;
	run(&pic[0], &at, 13, 'H', ' ', 0);
	run(&pic[0], &at, 16, '3', 'A', 5);
	run(&pic[0], &at, 16, '3', '5', 5);
	run(&pic[0], &at, 8, 'd', '8', 5);
	run(&pic[0], &at, 1, 'g', ' ', 4);
	run(&pic[0], &at, 1, 'L', ' ', 3);
	run(&pic[0], &at, 99, 'l', ' ', 3);
	run(&pic[0], &at, 30, 'd', ' ', 2);
	run(&pic[0], &at, SHM_PUB_CHUNK_PAGES - at, '.', ' ', 1);

	at = 0;
	pic[1].addr = 0x7f0000400000ull;
	pic[1].arena = 0;
	run(&pic[1], &at, 13, 'H', ' ', 0);
	run(&pic[1], &at, 4, 'H', '0', 5);
	run(&pic[1], &at, SHM_PUB_CHUNK_PAGES - at, '.', ' ', 1);

	/* A page in a state the tool does not know, written '<'. */
	at = 0;
	pic[2].addr = 0x7f0000c00000ull;
	pic[2].arena = 1;
	run(&pic[2], &at, 13, 'H', ' ', 0);
	run(&pic[2], &at, 4, '3', '2', 5);
	run(&pic[2], &at, 5, 'd', ' ', 2);
	run(&pic[2], &at, 1, '<', ' ', 6);
	run(&pic[2], &at, SHM_PUB_CHUNK_PAGES - at, '.', ' ', 1);
}

/* The counters, and what they add up to (worked out by hand). */
static void fill_arenas(shm_pub_arena_t *a)
{
	a[0].nchunks = 2;
	a[0].active_pages = 150;
	a[0].dirty_pages = 30;
	a[0].large_bytes = 409600;
	a[0].nmalloc_large = 5;
	a[0].nfree_large = 2;
	a[0].classes[3] = (shm_pub_class_t){ 1000, 200, 4, 900, 7, 2 };
	a[0].classes[19] = (shm_pub_class_t){ 500, 500, 1, 3, 2, 2 };
	a[0].classes[13] = (shm_pub_class_t){ 50, 10, 2, 40, 3, 0 };
	/* More frees than allocations of class 3 in arena 1: blocks
	 * allocated through arena 0 and freed through arena 1. */
	a[1].nchunks = 1;
	a[1].active_pages = 20;
	a[1].dirty_pages = 5;
	a[1].classes[3] = (shm_pub_class_t){ 100, 300, 1, 10, 1, 4 };
}

static const struct {
	const char *key;
	uint64_t value;
} expect[] = {
	/* (1100 - 500) * 64 + (50 - 10) * 384 + 409600 + 8 MiB + 3 MiB */
	{ "allocated", 38400 + 15360 + 409600 + 11 * MIB },
	/* (150 + 20) pages + huge */
	{ "active", 170 * PAGE + 11 * MIB },
	/* 35 dirty pages + 4 MiB of cached huge mappings */
	{ "dirty", 35 * PAGE + 4 * MIB },
	/* 3 chunks + huge + cached huge + 64 KiB of metadata */
	{ "mapped", 3 * CHUNK + 11 * MIB + 4 * MIB + 65536 },
	{ "huge", 11 * MIB },
	{ "nmalloc", 1100 + 500 + 50 + 5 + 3 },
	{ "nfree", 500 + 500 + 10 + 2 + 1 },
	{ "nchunks", 3 },
	{ "narenas", NARENAS },
	/* The busiest class: 64 bytes, 1100 allocations, 600 live, 5 slabs,
	 * 910 of 5 * 256 objects in use. */
	{ "top_size", 64 },
	{ "top_nmalloc", 1100 },
	{ "top_live", 600 },
	{ "top_slabs", 5 },
	{ "top_util", 711 },
};

static const char *const page_key[7] = {
	"pages-header", "pages-free", "pages-dirty", "pages-large",
	"pages-guard", "pages-slab", "pages-other"
};

static void write_ready(const char *path)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (!(f = fopen(tmp, "w"))) {
		perror(tmp);
		exit(1);
	}
	for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++)
		fprintf(f, "%s %llu\n", expect[i].key,
			(unsigned long long)expect[i].value);
	for (int i = 0; i < 7; i++)
		fprintf(f, "%s %llu\n", page_key[i], (unsigned long long)npages[i]);
	fprintf(f, "huge-blocks 2\nhuge-bytes %llu\nchunks 3\n",
		(unsigned long long)(11 * MIB));
	fprintf(f, "ready %ld\n", (long)getpid());
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		perror(path);
		exit(1);
	}
}

static void print_json(void)
{
	printf("shimmer: a line of other output before the report\n{\n"
	       "  \"version\": \"0.1.0-\\u0066ake\",\n  \"pid\": %ld", (long)getpid());
	for (size_t i = 0; i < 5; i++)
		printf(",\n  \"%s\": %llu", expect[i].key,
		       (unsigned long long)expect[i].value);
	printf(",\n  \"classes\": [{\"class\": 3, \"size\": 64, \"nmalloc\": 1100},"
	       " {\"class\": 13, \"size\": 384, \"nmalloc\": 50}]");
	printf(",\n  \"heap\": {\"page_size\": %u, \"chunk_size\": %llu, "
	       "\"truncated\": false,\n    \"chunks\": [", PAGE,
	       (unsigned long long)CHUNK);
	for (int i = 0; i < 3; i++)
		printf("%s\n      {\"addr\": \"0x%llx\", \"arena\": %u, \"state\": \"%.*s\", "
		       "\"fill\": \"%.*s\"}", i ? "," : "", (unsigned long long)pic[i].addr,
		       (unsigned)pic[i].arena, SHM_PUB_CHUNK_PAGES, pic[i].state,
		       SHM_PUB_CHUNK_PAGES, pic[i].fill);
	printf("],\n    \"huge\": [");
	for (int i = 0; i < 2; i++)
		printf("%s{\"addr\": \"0x%llx\", \"size\": %llu}", i ? ", " : "",
		       (unsigned long long)pic_huge[i].addr,
		       (unsigned long long)pic_huge[i].size);
	printf("]}\n}\n");
}

int main(int argc, char **argv)
{
	const struct timespec tick = { 0, 5 * 1000 * 1000 };
	size_t arenas_off = (sizeof(shm_pub_t) + 63) & ~(size_t)63;
	size_t chunks_off = arenas_off + NARENAS * sizeof(shm_pub_arena_t);
	size_t huge_off = chunks_off + MAX_CHUNKS * sizeof(shm_pub_chunk_t);
	size_t total = huge_off + MAX_HUGE * sizeof(shm_pub_huge_t);
	const char *mode;
	shm_pub_t *h;
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: tool-fakepub MODE READYFILE\n");
		return 2;
	}
	mode = argv[1];
	alarm(60);
	draw();
	if (!strcmp(mode, "json")) {
		print_json();
		write_ready(argv[2]);
		return fflush(stdout) != 0;
	}

	fd = memfd_create(SHM_PUB_MEMFD_NAME, MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, !strcmp(mode, "short") ? 100 : (off_t)total) != 0) {
		perror("tool-fakepub: memfd");
		return 1;
	}
	if (!strcmp(mode, "short")) {
		if (write(fd, SHM_PUB_MAGIC, 8) != 8)
			return 1;
		write_ready(argv[2]);
		for (;;)
			pause();
	}
	h = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED) {
		perror("tool-fakepub: mmap");
		return 1;
	}
	memcpy(h->magic, !strcmp(mode, "badmagic") ? "SHIMSTA0" : SHM_PUB_MAGIC, 8);
	h->version = !strcmp(mode, "badversion") ? SHM_PUB_VERSION + 1 : SHM_PUB_VERSION;
	h->header_size = sizeof(shm_pub_t);
	h->total_size = total;
	h->pid = (uint32_t)getpid();
	h->narenas = NARENAS;
	h->nclasses = SHM_PUB_CLASSES;
	h->page_size = PAGE;
	h->chunk_size = CHUNK;
	for (int c = 0; c < SHM_PUB_CLASSES; c++) {
		h->class_size[c] = class_size[c];
		/* Slabs of 16 KiB, and of two objects above that. */
		h->class_nobjs[c] = class_size[c] <= 16384 ? 16384 / class_size[c] : 2;
	}
	snprintf(h->version_string, sizeof(h->version_string), "0.1.0-fake");
	h->huge_bytes = 11 * MIB;
	h->huge_count = 2;
	h->huge_cached = 4 * MIB;
	h->huge_nmalloc = 3;
	h->huge_nfree = 1;
	h->base_mapped = 65536;
	h->arenas_offset = !strcmp(mode, "badoffset") ? total - 64 : arenas_off;
	h->chunks_offset = chunks_off;
	h->huge_offset = huge_off;
	h->max_chunks = MAX_CHUNKS;
	h->max_huge = MAX_HUGE;
	fill_arenas((shm_pub_arena_t *)((char *)h + arenas_off));
	write_ready(argv[2]);

	for (;;) {
		uint64_t want = __atomic_load_n(&h->snapshot_request, __ATOMIC_ACQUIRE);

		if (!strcmp(mode, "good") && want != h->snapshot_done) {
			memcpy((char *)h + chunks_off, pic, sizeof(pic));
			memcpy((char *)h + huge_off, pic_huge, sizeof(pic_huge));
			h->snap_chunks = 3;
			h->snap_huge = 2;
			h->snap_truncated = 0;
			__atomic_store_n(&h->snapshot_done, want, __ATOMIC_RELEASE);
		}
		nanosleep(&tick, NULL);
	}
}

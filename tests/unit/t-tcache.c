/* SPDX-License-Identifier: MIT */
/*
 * t-tcache.c - how a thread cache refills and flushes: the first refill of
 * a class brings 4 objects (or a page of them, if fewer: 2 of 2048 bytes,
 * 1 of 4096 or more), each next one twice as many, up to half the bin
 * and at most SHM_REFILL_BYTES of objects; a bin's bound starts at
 * SHM_BIN_START and doubles with each refill up to the class's, so a thread
 * that only frees blocks other threads made keeps few, giving all back when
 * its bin is full, while one that allocates the class keeps half a full bin;
 * and a bin that runs from empty to full in one batch of frees doubles its
 * bound past the class's instead of flushing, once per such batch.  A
 * refill that takes never-used objects from many slabs (more than it links
 * after dropping the arena lock) still hands over each object once, marked
 * free and linked in front of what the bin held; a flush of a list that
 * goes back and forth between two arenas' objects, longer than the pieces
 * it walks before locking, gives back exactly the objects asked for, each
 * to its own arena.  Once per decay time, a bin that ran empty since the
 * last such pass keeps what it holds, one used but never emptied gives
 * half back, and an idle one gives all back.  A thread that exits leaves
 * its cache to the next thread made, each bin with at most
 * SHM_RETIRE_KEEP_BYTES of objects; objects no thread takes over go back
 * at malloc_trim, or once their cache stayed spare for the decay time.
 * A child forked while another thread is partway through a flush leaves
 * that thread's cache alone and hands out each object once.
 */
#include "tcache.h"
#include "clock.h"
#include "../tap.h"

#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define REFILLS 8

/* Allocate blocks of size until REFILLS refills have happened, keeping them
 * all, and note how many objects each refill brought. */
static void refill_sizes(size_t size, unsigned *got, void **keep, size_t nkeep)
{
	shm_cache_bin_t *bin = shm_tcache_bin(shm_tls_cache, shm_size_class(size));
	unsigned n = 0;

	for (size_t i = 0; i < nkeep && n < REFILLS; i++) {
		bool empty = bin->count == 0;
		keep[i] = malloc(size);
		if (empty)
			got[n++] = bin->count + 1u;
	}
}

static void check(size_t size)
{
	static void *keep[4096];
	unsigned got[REFILLS] = { 0 };
	const shm_class_info_t *c = &shm_classes[shm_size_class(size)];
	unsigned want = size >= SHM_PAGE_SIZE ? 1 : SHM_PAGE_SIZE / size >= 4 ? 4 :
			(unsigned)(SHM_PAGE_SIZE / size), errors = 0;
	unsigned first = want;

	refill_sizes(size, got, keep, sizeof(keep) / sizeof(keep[0]));
	for (unsigned i = 0; i < REFILLS; i++) {
		if (got[i] != want) {
			diag("refill %u of %zu-byte blocks: %u objects, not %u",
			     i, size, got[i], want);
			errors++;
		}
		if (want < c->tcache_max / 2 && want * 2 * size <= SHM_REFILL_BYTES)
			want *= 2;
	}
	ok(errors == 0, "%zu-byte blocks: refills of %u doubling up to %u", size,
	   first, want);
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]) && keep[i]; i++) {
		free(keep[i]);
		keep[i] = NULL;
	}
}

static void *check_thread(void *arg)
{
	void *volatile first = malloc(8192);	/* makes this thread's cache */

	free(first);
	check(*(size_t *)arg);
	return NULL;
}

/* fn(arg) in a thread of its own, waited for. */
static void run(void *(*fn)(void *), void *arg)
{
	pthread_t t;

	if (pthread_create(&t, NULL, fn, arg) != 0)
		bail("pthread_create failed");
	pthread_join(t, NULL);
}

/* check() in a thread of its own: its cache has made no refill yet (this
 * one's has, for stdout's buffer among others). */
static void check_fresh(size_t size)
{
	run(check_thread, &size);
}

#define NBLOCKS 1000

struct freer {
	void **blocks;
	unsigned most, max;	/* the bin's largest count and its bound */
};

/* Free blocks another thread made, as a consumer of a queue would. */
static void *consume(void *arg)
{
	struct freer *f = arg;
	void *volatile own = malloc(8192);	/* makes this thread's cache */

	free(own);
	for (unsigned i = 0; i < NBLOCKS; i++) {
		free(f->blocks[i]);
		shm_cache_bin_t *bin = shm_tcache_bin(shm_tls_cache, shm_size_class(64));
		if (bin->count > f->most)
			f->most = bin->count;
		f->max = bin->max;
	}
	return NULL;
}

static void flushes(void)
{
	static void *blocks[NBLOCKS];
	struct freer f = { blocks, 0, 0 };
	unsigned cls = shm_size_class(64);

	for (unsigned i = 0; i < NBLOCKS; i++)
		blocks[i] = malloc(64);
	run(consume, &f);
	is(f.max, SHM_BIN_START, "a thread that only frees keeps its first bound");
	ok(f.most <= SHM_BIN_START, "and so at most %u blocks (%u)", SHM_BIN_START,
	   f.most);

	shm_cache_bin_t *bin = shm_tcache_bin(shm_tls_cache, cls);
	for (unsigned i = 0; i < NBLOCKS; i++)
		blocks[i] = malloc(64);
	for (unsigned i = 0; i < NBLOCKS; i++)
		free(blocks[i]);
	is(bin->max, 2 * shm_classes[cls].tcache_max,
	   "a thread that allocated the class, then freed a batch bigger than "
	   "its full bound, doubled the bound once");
	ok(bin->count >= bin->max / 2, "and keeps half a full bin (%u)", bin->count);
}

/* The idle-bin pass of the thread's cache, as its slow paths run it once
 * the decay time went by since the last: every eighth tick (TICK_EVERY). */
static void bin_pass(void)
{
	shm_tls_cache->gc_stamp = shm_now_ms() - shm_opt.decay_ms;
	for (int i = 0; i < 8; i++)
		shm_tcache_tick();
}

static void *trim_thread(void *arg)
{
	static void *blocks[200];
	shm_cache_bin_t *bin;
	unsigned held;

	(void)arg;
	for (unsigned i = 0; i < 200; i++)
		blocks[i] = malloc(64);
	for (unsigned i = 0; i < 200; i++)
		free(blocks[i]);
	bin = shm_tcache_bin(shm_tls_cache, shm_size_class(64));
	held = bin->count;
	bin_pass();
	ok(held > 1 && bin->count == held,
	   "a bin that ran empty since the last pass keeps its %u objects", held);
	void *volatile one = malloc(64);	/* used: a malloc and a free */
	free(one);
	bin_pass();
	is(bin->count, held / 2, "one used but never emptied since gives half back");
	bin_pass();
	is(bin->count, 0, "and an idle one gives all back");
	return NULL;
}

/* What a thread's cache was and held in objects of size bytes when it
 * exited, or when it was made. */
struct handed {
	size_t size;
	shm_tcache_t *tc;
	unsigned count;
};

static unsigned count_held(shm_tcache_t *tc, size_t size)
{
	return shm_tcache_bin(tc, shm_size_class(size))->count;
}

static void *leave_thread(void *arg)
{
	struct handed *h = arg;
	void *blocks[100];

	for (unsigned i = 0; i < 100; i++)
		blocks[i] = malloc(h->size);
	for (unsigned i = 0; i < 100; i++)
		free(blocks[i]);
	h->tc = shm_tls_cache;
	h->count = count_held(h->tc, h->size);
	return NULL;
}

static void *take_thread(void *arg)
{
	struct handed *h = arg;
	void *volatile first = malloc(8192);	/* makes this thread's cache */

	free(first);
	h->tc = shm_tls_cache;
	h->count = count_held(h->tc, h->size);
	return NULL;
}

/* What a bin of 96-byte objects that held count keeps at its thread's
 * exit: at most 1 KiB of them. */
static unsigned kept96(unsigned count)
{
	unsigned keep = (unsigned)(SHM_RETIRE_KEEP_BYTES / 96);

	return count < keep ? count : keep;
}

static void spares(void)
{
	struct handed left = { .size = 96 }, taken = { .size = 96 };
	struct handed big = { .size = 4096 };

	run(leave_thread, &left);
	run(take_thread, &taken);
	ok(left.count > kept96(left.count) && kept96(left.count) > 0 &&
	   taken.tc == left.tc && taken.count == kept96(left.count),
	   "the next thread made takes over an exited thread's cache with "
	   "%u of its %u objects", taken.count, left.count);

	run(leave_thread, &left);
	malloc_trim(0);
	ok(left.count > 0 && count_held(left.tc, 96) == 0,
	   "malloc_trim gives back what a cache left spare holds");

	run(leave_thread, &big);
	ok(big.count > 0 && count_held(big.tc, 4096) == 0,
	   "a bin of blocks over 1 KiB hands on none of its %u", big.count);

	run(leave_thread, &left);
	ok(count_held(left.tc, 96) == kept96(left.count), "a spare cache keeps them");
	left.tc->gc_stamp = shm_now_ms() - shm_opt.decay_ms;
	wait_clock(shm_decay_every());	/* a poll is due */
	bin_pass();
	is(count_held(left.tc, 96), 0, "until it stayed spare for the decay time");
}

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;

	return x < y ? -1 : x > y;
}

/* Sort the n objects of size bytes in seen by address; how many of them
 * start less than size bytes after the one before (overlap it, or are it). */
static unsigned overlaps(void **seen, unsigned n, size_t size)
{
	unsigned bad = 0;

	qsort(seen, n, sizeof(seen[0]), cmp_ptr);
	for (unsigned i = 1; i < n; i++)
		bad += (uintptr_t)seen[i] - (uintptr_t)seen[i - 1] < size;
	return bad;
}

#define FILL_SLABS 7

/* Fill a bin of its own straight from this thread's arena: one object,
 * then FILL_SLABS slabs' worth, which takes never-used objects from at
 * least FILL_SLABS - 1 new slabs. */
static void fill_many_slabs(void)
{
	unsigned cls = shm_size_class(4096);
	unsigned nobjs = shm_classes[cls].nobjs, n = FILL_SLABS * nobjs;
	shm_arena_t *arena = shm_tcache_arena(shm_tls_cache);
	shm_cache_bin_t bin = { .max = UINT16_MAX };
	static void *seen[FILL_SLABS * 64 + 1];
	unsigned walked = 0, bad = 0;

	if (n + 1 > sizeof(seen) / sizeof(seen[0]))
		bail("%u objects per slab of 4096 bytes", nobjs);
	shm_arena_fill(arena, cls, &bin, 1);
	void *old = bin.head;
	shm_arena_fill(arena, cls, &bin, n);
	is(bin.count, n + 1, "a refill of %u slabs' worth takes %u objects",
	   FILL_SLABS, n);
	for (shm_link_t *obj = bin.head; obj && walked <= n;
	     obj = shm_link_decode(obj, obj->next)) {
		bad += obj->key != shm_secret;
		seen[walked++] = obj;
	}
	ok(walked == n + 1 && seen[n] == old && bad == 0,
	   "its list holds them all, marked free, ahead of the one held before "
	   "(%u walked, %u unmarked)", walked, bad);
	bad += overlaps(seen, walked, 4096);
	ok(bad == 0, "each object once, none overlapping another");
	ok(shm_arena_flush(bin.head, bin.count, cls) == NULL,
	   "and they all go back");
}

#define MIXED 120		/* objects from each of two arenas */

/* Objects taken out of arena's slabs of class cls. */
static uint64_t out_of_slabs(shm_arena_t *arena, unsigned cls)
{
	return arena->pub->classes[cls].slab_objs;
}

static void flush_mixed(void)
{
	unsigned cls = shm_size_class(64);
	shm_arena_t *arena[2] = { shm_arena_get(0), shm_arena_get(1) };
	shm_cache_bin_t bin[2] = { { .max = UINT16_MAX }, { .max = UINT16_MAX } };
	static void *obj[2 * MIXED];
	uint64_t before[2];
	unsigned n = 0, from[2] = { 0, 0 };

	if (arena[1] == NULL)
		bail("arena 1 could not be made");
	for (unsigned a = 0; a < 2; a++) {
		before[a] = out_of_slabs(arena[a], cls);
		/* A refill may stop short, taking a slab's list whole. */
		while (bin[a].count < MIXED)
			shm_arena_fill(arena[a], cls, &bin[a], MIXED - bin[a].count);
	}
	/* Runs of 1, 2, 3, ... objects from each arena in turn: many more
	 * pieces than a flush walks at once. */
	for (unsigned len = 1; n < 2 * MIXED; len++)
		for (unsigned a = 0; a < 2; a++)
			for (unsigned i = 0; i < len && from[a] < MIXED; i++) {
				obj[n++] = bin[a].head;
				from[a]++;
				bin[a].head = shm_link_decode(bin[a].head,
							      ((shm_link_t *)bin[a].head)->next);
				bin[a].count--;
			}
	for (unsigned i = 0; i < n; i++)
		((shm_link_t *)obj[i])->next =
			shm_link_encode(obj[i], i + 1 < n ? obj[i + 1] : NULL);

	void *rest = shm_arena_flush(obj[0], 3 * MIXED / 2, cls);
	ok(rest == obj[3 * MIXED / 2],
	   "a flush of %u of a list mixing two arenas stops where asked",
	   3 * MIXED / 2);
	ok(shm_arena_flush(rest, n, cls) == NULL, "the rest flushes to its end");
	for (unsigned a = 0; a < 2; a++)	/* what the refills took beyond */
		shm_arena_flush(bin[a].head, bin[a].count, cls);
	ok(out_of_slabs(arena[0], cls) == before[0] &&
	   out_of_slabs(arena[1], cls) == before[1],
	   "and each arena has all its objects back (%llu, %llu out of slabs, "
	   "%llu and %llu before)",
	   (unsigned long long)out_of_slabs(arena[0], cls),
	   (unsigned long long)out_of_slabs(arena[1], cls),
	   (unsigned long long)before[0], (unsigned long long)before[1]);
}

/* A thread holding objects in its cache, parked until told to exit. */
struct parked {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stage;		/* 1: its cache holds them; 2: it may exit */
	shm_tcache_t *tc;
};

static void *park_thread(void *arg)
{
	struct parked *p = arg;
	void *blocks[100];

	for (unsigned i = 0; i < 100; i++)
		blocks[i] = malloc(96);
	for (unsigned i = 0; i < 100; i++)
		free(blocks[i]);
	pthread_mutex_lock(&p->lock);
	p->tc = shm_tls_cache;
	p->stage = 1;
	pthread_cond_broadcast(&p->cond);
	while (p->stage != 2)
		pthread_cond_wait(&p->cond, &p->lock);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* In a child, a fill of n objects from arena: whether each came once. */
static bool fill_distinct(shm_arena_t *arena, unsigned cls, unsigned n)
{
	static void *seen[512];
	shm_cache_bin_t bin = { .max = 512 };
	unsigned walked = 0;

	while (bin.count < n) {
		unsigned had = bin.count;
		shm_arena_fill(arena, cls, &bin, n - bin.count);
		if (bin.count == had)
			return false;
	}
	for (shm_link_t *obj = bin.head; obj && walked < bin.count;
	     obj = shm_link_decode(obj, obj->next))
		seen[walked++] = obj;
	return walked == bin.count &&
	       overlaps(seen, walked, shm_classes[cls].size) == 0;
}

/*
 * A fork while another thread is between a flush's pieces: some of its
 * bin's objects are back in their slabs, and the bin, not updated yet,
 * still lists them.  The child must leave that cache alone: its objects
 * stay out of the slabs, and the slabs hand each object out once.
 */
static void fork_mid_flush(void)
{
	unsigned cls = shm_size_class(96);
	struct parked p = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
			    0, NULL };
	pthread_t t;

	if (pthread_create(&t, NULL, park_thread, &p) != 0)
		bail("pthread_create failed");
	pthread_mutex_lock(&p.lock);
	while (p.stage != 1)
		pthread_cond_wait(&p.cond, &p.lock);
	pthread_mutex_unlock(&p.lock);

	shm_cache_bin_t *bin = shm_tcache_bin(p.tc, cls);
	shm_arena_t *arena = p.tc->arena;
	unsigned k = bin->count / 2, n = 2 * bin->count;
	void *rest = shm_arena_flush(bin->head, k, cls);
	uint64_t out = out_of_slabs(arena, cls);
	pid_t pid = fork();
	if (pid == 0) {
		alarm(10);
		bool same = out_of_slabs(arena, cls) == out;
		_exit(!same ? 1 : !fill_distinct(arena, cls, n) ? 2 : 0);
	}
	int status = -1;
	waitpid(pid, &status, 0);
	ok(pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "a child forked while a thread is between a flush's pieces leaves "
	   "its cache alone, and its slabs hand out %u objects once each "
	   "(child status %#x)", n, status);

	/* The rest of that flush, as shm_tcache_flush ends it. */
	bin->head = rest;
	bin->count = (uint16_t)(bin->count - k);
	bin->base -= k;
	pthread_mutex_lock(&p.lock);
	p.stage = 2;
	pthread_cond_broadcast(&p.cond);
	pthread_mutex_unlock(&p.lock);
	pthread_join(t, NULL);
}

int main(void)
{
	void *volatile first = malloc(8192);	/* makes this thread's cache */

	free(first);
	if (shm_tls_cache == NULL || shm_tcache_bin(shm_tls_cache, 0)->max == 0) {
		skip(23, "no thread cache");
		return done_testing();
	}
	check_fresh(16);	/* half the bin first: 128 objects */
	check_fresh(512);	/* the byte bound first: 8 objects */
	check_fresh(4096);	/* a page of them, the byte bound already: 1 */
	flushes();
	fill_many_slabs();
	flush_mixed();
	run(trim_thread, NULL);	/* a cache that holds only its blocks */
	spares();
	fork_mid_flush();
	return done_testing();
}

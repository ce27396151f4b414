/* SPDX-License-Identifier: MIT */
/*
 * t-ctl - shimmer_ctl and the statistics behind it: every kind of name and
 * every error (ENOENT, EINVAL, EPERM), options read and written at run
 * time, counts that match a known workload exactly, the invariant
 * allocated <= active <= resident <= mapped, the actions, malloc_info, the
 * published memory file (and a fork child's own), the JSON report's
 * picture of the heap, a thread cache giving back a class it stopped
 * using and growing a bin that batches outgrow, and the dirty pages of an
 * arena nothing frees into any more purged all the same.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shimmer.h"
#include "tap.h"
#include "testutil.h"

static uint64_t stat_u64(const char *name)
{
	uint64_t v = UINT64_MAX;
	size_t len = sizeof(v);

	if (shimmer_ctl(name, &v, &len, NULL, 0) != 0)
		return UINT64_MAX;
	return v;
}

static unsigned opt_get(const char *name)
{
	unsigned v = 12345;
	size_t len = sizeof(v);

	shimmer_ctl(name, &v, &len, NULL, 0);
	return v;
}

/* The class index whose size is exactly size, or -1. */
static int class_of(uint64_t size)
{
	unsigned n = 0;
	size_t len = sizeof(n);
	char name[64];

	shimmer_ctl("arenas.nclasses", &n, &len, NULL, 0);
	for (unsigned c = 0; c < n; c++) {
		snprintf(name, sizeof(name), "arenas.class.%u.size", c);
		if (stat_u64(name) == size)
			return (int)c;
	}
	return -1;
}

static void test_names(void)
{
	const char *version = NULL;
	size_t len = sizeof(version);
	unsigned u = 0;
	uint64_t v = 0;

	is(shimmer_ctl("version", &version, &len, NULL, 0), 0, "version reads");
	ok(version && strcmp(version, shimmer_version()) == 0, "version is %s", version);
	is(shimmer_ctl("version", NULL, NULL, &version, sizeof(version)), EPERM,
	   "version is read-only");
	is(shimmer_ctl("no.such.name", &v, &len, NULL, 0), ENOENT, "unknown name: ENOENT");
	is(shimmer_ctl("stats.classes.99999.size", &v, &len, NULL, 0), ENOENT,
	   "class out of range: ENOENT");
	is(shimmer_ctl("stats.classes.01.size", &v, &len, NULL, 0), ENOENT,
	   "a number with a leading zero: ENOENT");
	is(shimmer_ctl("stats.arenas.100000.active", &v, &len, NULL, 0), ENOENT,
	   "arena out of range: ENOENT");
	is(shimmer_ctl("", &v, &len, NULL, 0), ENOENT, "empty name: ENOENT");
	is(shimmer_ctl(NULL, &v, &len, NULL, 0), EINVAL, "NULL name: EINVAL");
	len = 3;
	is(shimmer_ctl("stats.allocated", &v, &len, NULL, 0), EINVAL,
	   "wrong size: EINVAL");
	len = sizeof(u);
	is(shimmer_ctl("arenas.narenas", &u, &len, NULL, 0), 0, "arenas.narenas reads");
	ok(u >= 1 && u <= 1024, "%u arenas", u);
	ok(stat_u64("arenas.class.0.size") == 16, "the first class is 16 bytes");
	ok(stat_u64("stats.arenas.0.nchunks") != UINT64_MAX, "per-arena statistics read");
	is(shimmer_ctl("thread.tcache.flush", NULL, NULL, NULL, 0), 0,
	   "thread.tcache.flush runs");
	is(shimmer_ctl("thread.tcache.flush", &v, &len, NULL, 0), EINVAL,
	   "an action takes no value");
	is(shimmer_ctl("arena.purge", NULL, NULL, NULL, 0), 0, "arena.purge runs");
	is(shimmer_ctl("arena.0.purge", NULL, NULL, NULL, 0), 0, "arena.0.purge runs");
	is(shimmer_ctl("arena.x.purge", NULL, NULL, NULL, 0), ENOENT,
	   "arena.x.purge: ENOENT");
	uint64_t e0 = stat_u64("epoch");
	is(shimmer_ctl("epoch", NULL, NULL, &v, sizeof(v)), 0, "epoch can be written");
	ok(stat_u64("epoch") == e0 + 1, "and moves on");
}

static void test_options(void)
{
	unsigned decay = opt_get("opt.decay_ms"), old = 0, nv = 5000;
	size_t len = sizeof(old);

	ok(decay == 500, "opt.decay_ms reads its default (%u)", decay);
	is(shimmer_ctl("opt.decay_ms", &old, &len, &nv, sizeof(nv)), 0,
	   "opt.decay_ms can be written");
	ok(old == decay && opt_get("opt.decay_ms") == 5000, "old value back, new value in");
	nv = 4000000;
	is(shimmer_ctl("opt.decay_ms", NULL, NULL, &nv, sizeof(nv)), EINVAL,
	   "out of range: EINVAL");
	nv = 7;
	is(shimmer_ctl("opt.stats_format", NULL, NULL, &nv, sizeof(nv)), EINVAL,
	   "a choice out of range: EINVAL");
	is(shimmer_ctl("opt.decay_ms", NULL, NULL, &nv, 2), EINVAL, "short value: EINVAL");
	nv = 2;
	is(shimmer_ctl("opt.narenas", NULL, NULL, &nv, sizeof(nv)), EPERM,
	   "opt.narenas is read-only: EPERM");
	is(shimmer_ctl("opt.nosuch", NULL, NULL, &nv, sizeof(nv)), ENOENT,
	   "unknown option: ENOENT");
	nv = decay;
	shimmer_ctl("opt.decay_ms", NULL, NULL, &nv, sizeof(nv));
	ok(opt_get("opt.tcache") == 1 && opt_get("opt.dss") == 2 && opt_get("opt.publish") == 1,
	   "bools and choices read as numbers");
}

/* Exactly N mallocs and N frees of one class show in its counts, whatever
 * the thread caches did in between. */
static void *counting_thread(void *arg)
{
	void **blocks = arg;

	for (int i = 0; i < 500; i++)
		blocks[i] = malloc(hide_size(200));
	return NULL;
}

static void test_counts(void)
{
	int c = class_of(224);
	char nm[64], nf[64], live[64];
	void *blocks[500];

	ok(c >= 0, "200-byte blocks are in the 224-byte class (%d)", c);
	snprintf(nm, sizeof(nm), "stats.classes.%d.nmalloc", c);
	snprintf(nf, sizeof(nf), "stats.classes.%d.nfree", c);
	snprintf(live, sizeof(live), "stats.classes.%d.live", c);
	uint64_t m0 = stat_u64(nm), f0 = stat_u64(nf), l0 = stat_u64(live);
	uint64_t all0 = stat_u64("stats.nmalloc");

	for (int i = 0; i < 1000; i++)
		free(malloc(hide_size(200)));
	void *keep[300];
	for (int i = 0; i < 300; i++)
		keep[i] = malloc(hide_size(210));
	is(stat_u64(nm) - m0, 1300, "1300 mallocs counted exactly");
	is(stat_u64(nf) - f0, 1000, "1000 frees counted exactly");
	is(stat_u64(live) - l0, 300, "300 blocks live");
	ok(stat_u64("stats.nmalloc") - all0 >= 1300, "the total counts them too");

	/* Blocks made by a thread that exits, freed here. */
	pthread_t t;
	pthread_create(&t, NULL, counting_thread, blocks);
	pthread_join(t, NULL);
	for (int i = 0; i < 500; i++)
		free(blocks[i]);
	for (int i = 0; i < 300; i++)
		free(keep[i]);
	is(stat_u64(nm) - m0, 1800, "a finished thread's mallocs are counted");
	is(stat_u64(nf) - f0, 1800, "and frees of its blocks by another thread");
	is(stat_u64(live), l0, "leaving as many live as before");

	uint64_t u = stat_u64("stats.classes.0.util");
	ok(u <= 1000, "utilisation is a per mille (%llu)", (unsigned long long)u);
}

static void test_invariant(void)
{
	void *big = malloc(hide_size(5 << 20)), *large = malloc(hide_size(100000));
	void *small[2000];

	for (int i = 0; i < 2000; i++)
		small[i] = malloc(hide_size(1000));
	uint64_t al = stat_u64("stats.allocated"), ac = stat_u64("stats.active");
	uint64_t re = stat_u64("stats.resident"), ma = stat_u64("stats.mapped");
	uint64_t rt = stat_u64("stats.retained"), hu = stat_u64("stats.huge");
	ok(al >= 2000 * 1000 + 100000 + (5 << 20), "allocated covers the live blocks (%llu)",
	   (unsigned long long)al);
	ok(al <= ac && ac <= re && re <= ma,
	   "allocated <= active <= resident <= mapped (%llu %llu %llu %llu)",
	   (unsigned long long)al, (unsigned long long)ac, (unsigned long long)re,
	   (unsigned long long)ma);
	is(rt, ma - re, "retained = mapped - resident");
	ok(hu >= 5 << 20, "huge counts the 5 MiB block");

	struct shimmer_stats st;
	shimmer_stats_get(&st);
	ok(st.allocated == al && st.mapped == ma, "shimmer_stats_get agrees with shimmer_ctl");

	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	is(malloc_info(0, f), 0, "malloc_info writes");
	fclose(f);
	ok(buf && strncmp(buf, "<malloc version=\"shimmer-", 25) == 0 &&
	   strstr(buf, "</malloc>") != NULL, "an XML document from Shimmer");
	free(buf);
	errno = 0;
	ok(malloc_info(1, stdout) == -1 && errno == EINVAL, "malloc_info(1, ...) fails: EINVAL");

	for (int i = 0; i < 2000; i++)
		free(small[i]);
	free(big);
	free(large);
}

/* Whether process pid has the published memory file open. */
static int has_memfd(pid_t pid)
{
	char dir[64], path[320], target[256];
	struct dirent *d;
	int found = 0;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	DIR *dp = opendir(dir);
	if (dp == NULL)
		return 0;
	while ((d = readdir(dp)) != NULL) {
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			found |= strncmp(target, "/memfd:shimmer-stats", 20) == 0;
		}
	}
	closedir(dp);
	return found;
}

static void test_publish(void)
{
	ok(has_memfd(getpid()), "the statistics are published in a memory file");
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		/* The child's file is its own, not the parent's. */
		free(malloc(100));
		_exit(has_memfd(getpid()) ? 0 : 1);
	}
	int st = -1;
	waitpid(pid, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a fork child publishes its own");
}

struct text {
	char *buf;
	size_t len, cap;
};

static void collect(void *opaque, const char *text)
{
	struct text *t = opaque;
	size_t n = strlen(text);

	if (t->len + n + 1 > t->cap) {
		t->cap = (t->len + n + 1) * 2;
		t->buf = realloc(t->buf, t->cap);
	}
	memcpy(t->buf + t->len, text, n + 1);
	t->len += n;
}

static void test_json_heap(void)
{
	struct text t = { NULL, 0, 0 };
	void *huge = malloc(hide_size(3 << 20));
	void *run = malloc(hide_size(70000));

	shimmer_stats_print(collect, &t, "J");
	ok(t.buf && strstr(t.buf, "\"heap\": {") != NULL, "the JSON report has a heap picture");
	ok(t.buf && strstr(t.buf, "\"classes\": [") != NULL, "and per-class statistics");
	const char *state = t.buf ? strstr(t.buf, "\"state\": \"") : NULL;
	int good = state != NULL;
	if (state) {
		state += 10;
		for (int i = 0; i < 1024 && good; i++)
			good = strchr("H.dLlg0123456789abcdefghijklmnopqrstuvwxyz"
				      "ABCDEFGHIJKLMNOPQRSTUVWXYZ!#$%*+=?@^",
				      state[i]) != NULL;
		good = good && state[1024] == '"' && state[0] == 'H';
	}
	ok(good, "a chunk's state is 1024 pages from the documented alphabet");
	ok(t.buf && strstr(t.buf, "Llllllllllllllllll") != NULL,
	   "an 18-page large block shows as L and 17 l");
	ok(t.buf && strstr(t.buf, "\"huge\": [{\"addr\"") != NULL, "the huge block is listed");
	free(t.buf);
	free(huge);
	free(run);
}

/* Objects of a class the thread no longer uses leave its cache within two
 * decay times (a pass that sees the class used, then one that sees it
 * idle) of its later slow paths, and the slabs they held are released.
 * Large blocks make every call a slow path. */
static void test_idle_bin(void)
{
	enum { N = 256 };
	int c = class_of(1536);
	unsigned decay = 100, old = 0;
	size_t len = sizeof(old);
	char name[64];
	void *p[N];

	if (c < 0) {
		ok(0, "a 1536-byte class exists");
		return;
	}
	snprintf(name, sizeof(name), "stats.classes.%d.slabs", c);
	for (int i = 0; i < N; i++)
		p[i] = malloc(hide_size(1536));
	for (int i = 0; i < N; i++)
		free(p[i]);
	uint64_t held = stat_u64(name);
	ok(held != UINT64_MAX && held >= 2,
	   "objects kept in the cache hold %llu slabs of the class",
	   (unsigned long long)held);
	shimmer_ctl("opt.decay_ms", &old, &len, &decay, sizeof(decay));
	for (int pass = 0; pass < 2; pass++) {
		usleep((decay + 50) * 1000);
		for (int i = 0; i < 64; i++)
			free(malloc(hide_size(128 << 10)));
	}
	/* A bin keeps one empty slab to absorb churn. */
	ok(stat_u64(name) <= 1, "after two decay times the idle class holds no objects' slabs");
	shimmer_ctl("opt.decay_ms", NULL, NULL, &old, sizeof(old));
}

/* Rounds of n blocks of size bytes allocated, then all freed. */
static void batch_rounds(size_t size, int n, int rounds)
{
	static void *p[8000];

	for (int r = 0; r < rounds; r++) {
		for (int i = 0; i < n; i++)
			p[i] = malloc(hide_size(size));
		for (int i = 0; i < n; i++)
			free(p[i]);
	}
}

/* A thread that allocates more blocks of a class than its cache holds and
 * then frees them all, over and over, grows the bin until a batch fits:
 * from then on its rounds neither refill the bin nor flush it.  A batch
 * bigger than a bin may grow to still goes back and forth. */
static void test_batch_bin(void)
{
	int c = class_of(48);
	char fills[64], flushes[64];

	if (c < 0) {
		ok(0, "a 48-byte class exists");
		return;
	}
	snprintf(fills, sizeof(fills), "stats.classes.%d.nfills", c);
	snprintf(flushes, sizeof(flushes), "stats.classes.%d.nflushes", c);
	batch_rounds(48, 400, 8);
	uint64_t f0 = stat_u64(fills), g0 = stat_u64(flushes);
	ok(f0 != UINT64_MAX && f0 > 0 && g0 != UINT64_MAX,
	   "refills (%llu) and flushes (%llu) are counted",
	   (unsigned long long)f0, (unsigned long long)g0);
	batch_rounds(48, 400, 20);
	is(stat_u64(fills) - f0, 0, "rounds of 400 blocks, once they fit, refill nothing");
	is(stat_u64(flushes) - g0, 0, "and flush nothing");
	batch_rounds(48, 8000, 2);
	g0 = stat_u64(flushes);
	batch_rounds(48, 8000, 2);
	ok(stat_u64(flushes) > g0, "rounds of 8000 (375 KiB) outgrow the bin and flush");
}

/* Dirty bytes of all arenas but the main thread's (arena 0). */
static uint64_t other_arenas_dirty(void)
{
	unsigned n = opt_get("arenas.narenas");
	uint64_t sum = 0;
	char name[64];

	for (unsigned i = 1; i < n; i++) {
		snprintf(name, sizeof(name), "stats.arenas.%u.dirty", i);
		sum += stat_u64(name);
	}
	return sum;
}

static void *free_large_blocks(void *arg)
{
	void *p[32];

	(void)arg;
	for (int i = 0; i < 32; i++)
		p[i] = malloc(hide_size(256 << 10));
	for (int i = 0; i < 32; i++)
		free(p[i]);
	return NULL;
}

/* A thread frees large blocks into its arena and ends: nothing frees into
 * that arena again, yet its dirty pages are purged after the decay time,
 * driven by another thread's slow paths (large allocations that it keeps,
 * so that they dirty nothing themselves). */
static void test_orphan_arena_purged(void)
{
	unsigned decay = 100, old = 0;
	size_t len = sizeof(old);
	void *keep[64];
	pthread_t t;

	shimmer_ctl("opt.decay_ms", &old, &len, &decay, sizeof(decay));
	if (pthread_create(&t, NULL, free_large_blocks, NULL) != 0)
		bail("pthread_create failed");
	pthread_join(t, NULL);
	uint64_t dirty = other_arenas_dirty();
	ok(dirty > 0, "a thread that ended left %llu dirty bytes in its arena",
	   (unsigned long long)dirty);
	for (int i = 0; i < 64; i++) {
		usleep(10 * 1000);
		keep[i] = malloc(hide_size(128 << 10));
	}
	is(other_arenas_dirty(), 0, "they are purged after the decay time all the same");
	for (int i = 0; i < 64; i++)
		free(keep[i]);
	shimmer_ctl("opt.decay_ms", NULL, NULL, &old, sizeof(old));
}

/* A program that, after freeing much, only mallocs and frees small blocks
 * its thread cache serves never reaches a slow path; the freed pages are
 * purged after the decay time all the same. */
static void test_fast_path_purges(void)
{
	enum { N = 16384 };
	static void *p[N];
	unsigned decay = 100, old = 0;
	size_t len = sizeof(old);
	char fills[64];
	int c = class_of(64);

	if (c < 0) {
		ok(0, "a 64-byte class exists");
		return;
	}
	snprintf(fills, sizeof(fills), "stats.classes.%d.nfills", c);
	shimmer_ctl("opt.decay_ms", &old, &len, &decay, sizeof(decay));
	for (int i = 0; i < N; i++)
		p[i] = malloc(hide_size(1000));
	for (int i = 0; i < N; i++)
		free(p[i]);
	free(malloc(hide_size(64)));
	uint64_t dirty = stat_u64("stats.dirty"), f0 = stat_u64(fills);
	ok(dirty > 0, "%d freed blocks of 1000 bytes left %llu dirty bytes", N,
	   (unsigned long long)dirty);
	for (int ms = 0; ms < 4 * (int)decay; ms++) {
		for (int k = 0; k < 256; k++)
			free(malloc(hide_size(64)));
		usleep(1000);
	}
	is(stat_u64(fills), f0, "mallocs of 64 bytes, all from the cache, refill nothing");
	is(stat_u64("stats.dirty"), 0, "and they see the dirty pages purged after the decay time");
	shimmer_ctl("opt.decay_ms", NULL, NULL, &old, sizeof(old));
}

int main(void)
{
	alarm(60);
	test_names();
	test_options();
	test_counts();
	test_invariant();
	test_publish();
	test_json_heap();
	test_idle_bin();
	test_batch_bin();
	test_orphan_arena_purged();
	test_fast_path_purges();
	return done_testing();
}

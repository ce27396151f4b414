/* SPDX-License-Identifier: MIT */
/*
 * Shared benchmark helpers; see common.h for the contract.  Nothing here
 * calls malloc on a measured path: /proc is read with open/read into stack
 * buffers and bookkeeping memory comes from mmap.
 */
#define _GNU_SOURCE
#include "common.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* ---- options ------------------------------------------------------------ */

/* Accept 4096, 4k, 4K, 16m, 1g: sizes are easier to read that way. */
static size_t parse_size(const char *s, const char *opt)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		goto bad;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	if ((*end == 'b' || *end == 'B') && end[1] == '\0')
		end++;
	if (*end != '\0')
		goto bad;
	return (size_t)v;
bad:
	fprintf(stderr, "bad size for %s: '%s'\n", opt, s);
	exit(2);
}

static long parse_long(const char *s, const char *opt)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < 0) {
		fprintf(stderr, "bad number for %s: '%s'\n", opt, s);
		exit(2);
	}
	return v;
}

static void usage(const char *prog, const char *what, const char *n_help,
		  const char *w_help, const struct bench_opts *o, FILE *f)
{
	fprintf(f, "usage: %s [-t threads] [-m min] [-M max] [-d seconds]"
		   "%s%s [-s seed]\n", prog, n_help ? " [-n N]" : "",
		w_help ? " [-w N]" : "");
	fprintf(f, "%s\n", what);
	fprintf(f, "  -t N   threads (default %d%s)\n",
		o->threads ? o->threads : bench_online_cpus(),
		o->threads ? "" : ", the online CPUs");
	fprintf(f, "  -m N   smallest request, bytes; k/m/g suffixes (default %zu)\n",
		o->min_size);
	fprintf(f, "  -M N   largest request (default %zu)\n", o->max_size);
	fprintf(f, "  -d S   seconds of measured work (default %g)\n", o->duration);
	if (n_help)
		fprintf(f, "  -n N   %s (default %ld)\n", n_help, o->iters);
	if (w_help)
		fprintf(f, "  -w N   %s (default %ld)\n", w_help, o->working_set);
	fprintf(f, "  -s N   random seed (default %llu)\n",
		(unsigned long long)o->seed);
	fprintf(f, "Prints one line: result bench=... key=value ...\n");
}

void bench_parse(int argc, char **argv, struct bench_opts *o,
		 const char *what, const char *n_help, const char *w_help)
{
	int c;

	while ((c = getopt(argc, argv, "t:m:M:d:n:w:s:h")) != -1) {
		switch (c) {
		case 't': o->threads = (int)parse_long(optarg, "-t"); break;
		case 'm': o->min_size = parse_size(optarg, "-m"); break;
		case 'M': o->max_size = parse_size(optarg, "-M"); break;
		case 'd': {
			char *end;

			o->duration = strtod(optarg, &end);
			if (end == optarg || *end != '\0' || o->duration < 0) {
				fprintf(stderr, "bad duration: '%s'\n", optarg);
				exit(2);
			}
			break;
		}
		case 'n': o->iters = parse_long(optarg, "-n"); break;
		case 'w': o->working_set = parse_long(optarg, "-w"); break;
		case 's':
			o->seed = (uint64_t)parse_long(optarg, "-s");
			break;
		case 'h':
			usage(argv[0], what, n_help, w_help, o, stdout);
			exit(0);
		default:
			usage(argv[0], what, n_help, w_help, o, stderr);
			exit(2);
		}
	}
	if (optind != argc) {
		usage(argv[0], what, n_help, w_help, o, stderr);
		exit(2);
	}
	if (o->threads <= 0)
		o->threads = bench_online_cpus();
	if (o->min_size == 0)
		o->min_size = 1;
	if (o->max_size < o->min_size)
		o->max_size = o->min_size;
}

int bench_online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (int)n : 1;
}

/* ---- time --------------------------------------------------------------- */

double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void bench_sleep(double seconds)
{
	struct timespec ts;

	if (seconds <= 0)
		return;
	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ---- sizes and memory --------------------------------------------------- */

/*
 * A piecewise-linear stand-in for log2 and its exact inverse, so that sizes
 * can be drawn log-uniformly without libm: plog(2^e * (1 + f)) = e + f.
 */
static double plog2(double x)
{
	int e = 0;

	while (x >= 2.0) {
		x *= 0.5;
		e++;
	}
	return (double)e + (x - 1.0);
}

static double pexp2(double y)
{
	int e = (int)y;
	double v = 1.0 + (y - (double)e);

	while (e-- > 0)
		v *= 2.0;
	return v;
}

size_t bench_size_log(struct bench_rng *r, size_t lo, size_t hi)
{
	double a, b, u;
	size_t v;

	if (hi <= lo)
		return lo;
	a = plog2((double)lo);
	b = plog2((double)hi + 1.0);
	u = (double)(bench_rand(r) >> 11) * 0x1.0p-53;
	v = (size_t)pexp2(a + u * (b - a));
	return v < lo ? lo : v > hi ? hi : v;
}

#define SIZE_TABLE (1u << 16)

void bench_sizes_init(struct bench_sizes *t, struct bench_rng *r,
		      size_t lo, size_t hi)
{
	uint64_t i;

	t->v = bench_map(SIZE_TABLE * sizeof *t->v);
	t->mask = SIZE_TABLE - 1;
	for (i = 0; i < SIZE_TABLE; i++)
		t->v[i] = bench_size_log(r, lo, hi);
}

void bench_sizes_free(struct bench_sizes *t)
{
	bench_unmap(t->v, SIZE_TABLE * sizeof *t->v);
	t->v = NULL;
}

void *bench_map(size_t bytes)
{
	void *p = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		fprintf(stderr, "bench: mmap of %zu bytes failed: %s\n", bytes,
			strerror(errno));
		exit(1);
	}
	return p;
}

void bench_unmap(void *p, size_t bytes)
{
	munmap(p, bytes ? bytes : 1);
}

void *bench_xmalloc(size_t n)
{
	void *p = malloc(n);

	if (!p) {
		fprintf(stderr, "bench: malloc(%zu) failed\n", n);
		exit(1);
	}
	return p;
}

/* Read a small /proc file into buf without touching the allocator. */
static ssize_t read_proc(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n, total = 0;

	if (fd < 0)
		return -1;
	while ((size_t)total < size - 1) {
		n = read(fd, buf + total, size - 1 - (size_t)total);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		total += n;
	}
	close(fd);
	buf[total] = '\0';
	return total;
}

long bench_rss_kb(void)
{
	char buf[256];
	long pages_total, pages_rss;

	if (read_proc("/proc/self/statm", buf, sizeof buf) <= 0)
		return -1;
	if (sscanf(buf, "%ld %ld", &pages_total, &pages_rss) != 2)
		return -1;
	return pages_rss * (sysconf(_SC_PAGESIZE) / 1024);
}

long bench_hwm_kb(void)
{
	char buf[4096];
	const char *p;

	if (read_proc("/proc/self/status", buf, sizeof buf) <= 0)
		return -1;
	p = strstr(buf, "VmHWM:");
	if (!p)
		return -1;
	return strtol(p + 6, NULL, 10);
}

const char *bench_malloc_origin(void)
{
	static char name[128];
	Dl_info info;
	void *sym = dlsym(RTLD_DEFAULT, "malloc");
	const char *base;

	if (!sym || !dladdr(sym, &info) || !info.dli_fname)
		return "unknown";
	base = strrchr(info.dli_fname, '/');
	base = base ? base + 1 : info.dli_fname;
	if (!*base)
		return "main";
	snprintf(name, sizeof name, "%s", base);
	return name;
}

/* ---- reporting ---------------------------------------------------------- */

void bench_report(const char *name, int threads, uint64_t ops, double secs,
		  uint64_t check, const char *extra)
{
	double ns = ops ? secs * 1e9 / (double)ops : 0.0;
	double rate = secs > 0 ? (double)ops / secs : 0.0;

	printf("result bench=%s threads=%d ops=%llu secs=%.4f ops_per_sec=%.1f "
	       "ns_per_op=%.3f%s%s hwm_kb=%ld malloc=%s check=%016llx\n",
	       name, threads, (unsigned long long)ops, secs, rate, ns,
	       extra ? " " : "", extra ? extra : "", bench_hwm_kb(),
	       bench_malloc_origin(), (unsigned long long)check);
	fflush(stdout);
}

/* ---- threads ------------------------------------------------------------ */

static pthread_barrier_t start_barrier;
static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;

void bench_thread_done(struct bench_clock *c)
{
	double t = bench_now();

	pthread_mutex_lock(&done_lock);
	if (t > c->t_done)
		c->t_done = t;
	pthread_mutex_unlock(&done_lock);
}

void bench_thread_ready(void)
{
	pthread_barrier_wait(&start_barrier);
}

void bench_run_threads(int n, void *(*fn)(void *), void *args,
		       size_t arg_size, struct bench_clock *c,
		       double duration)
{
	pthread_t *tid = bench_map((size_t)n * sizeof *tid);
	int i, err;

	__atomic_store_n(&c->stop, 0, __ATOMIC_RELAXED);
	c->t_done = 0;
	pthread_barrier_init(&start_barrier, NULL, (unsigned)n + 1);
	for (i = 0; i < n; i++) {
		err = pthread_create(&tid[i], NULL, fn,
				     (char *)args + (size_t)i * arg_size);
		if (err) {
			fprintf(stderr, "bench: pthread_create: %s\n",
				strerror(err));
			exit(1);
		}
	}
	pthread_barrier_wait(&start_barrier);
	c->t0 = bench_now();
	if (duration > 0) {
		bench_sleep(duration);
		__atomic_store_n(&c->stop, 1, __ATOMIC_RELAXED);
	}
	for (i = 0; i < n; i++)
		pthread_join(tid[i], NULL);
	c->t1 = c->t_done > c->t0 ? c->t_done : bench_now();
	pthread_barrier_destroy(&start_barrier);
	bench_unmap(tid, (size_t)n * sizeof *tid);
}

void bench_run_workers(const char *name, const struct bench_opts *o,
		       void *(*fn)(void *), size_t size, const char *extra)
{
	struct bench_clock clock;
	char *workers = bench_map((size_t)o->threads * size);
	uint64_t ops = 0, check = 0;

	for (int i = 0; i < o->threads; i++) {
		struct bench_worker *w = (struct bench_worker *)(workers + (size_t)i * size);
		w->o = o;
		w->clock = &clock;
		w->id = i;
	}
	bench_run_threads(o->threads, fn, workers, size, &clock, o->duration);
	for (int i = 0; i < o->threads; i++) {
		const struct bench_worker *w =
			(const struct bench_worker *)(workers + (size_t)i * size);
		ops += w->ops;
		check ^= w->check;
	}
	bench_report(name, o->threads, ops, clock.t1 - clock.t0, check, extra);
}

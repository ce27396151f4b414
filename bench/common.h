/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the benchmark programs: option parsing, a fast random
 * generator, clocks, RSS probes and the one-line result format.
 *
 * The programs link nothing but libc and pthreads.  The allocator under test
 * is whatever LD_PRELOAD puts first, so every program must work with any
 * malloc.  Bookkeeping arrays come from mmap (bench_map) rather than malloc
 * so that they neither share the allocator's heap with the objects being
 * measured nor show up as the allocator's memory after it frees everything.
 */
#ifndef SHIMMER_BENCH_COMMON_H
#define SHIMMER_BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* Options every program understands; each program sets its own defaults. */
struct bench_opts {
	int threads;		/* -t: worker threads (0: online CPUs) */
	size_t min_size;	/* -m: smallest request */
	size_t max_size;	/* -M: largest request */
	double duration;	/* -d: seconds of measured work */
	long iters;		/* -n: iterations, meaning given per program */
	long working_set;	/* -w: live objects, meaning given per program */
	uint64_t seed;		/* -s: random seed */
};

/*
 * Parse argv into *o.  `what` is a one-line description printed by -h,
 * `n_help` and `w_help` say what -n and -w mean here (NULL: not used).
 * Exits on a bad option.
 */
void bench_parse(int argc, char **argv, struct bench_opts *o,
		 const char *what, const char *n_help, const char *w_help);

int bench_online_cpus(void);

/* Monotonic time in seconds. */
double bench_now(void);
void bench_sleep(double seconds);

/* splitmix64: tiny state, good enough spread, no division. */
struct bench_rng {
	uint64_t s;
};

static inline uint64_t bench_rand(struct bench_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, n) by multiply-high: no modulo bias worth the name. */
static inline uint64_t bench_below(struct bench_rng *r, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)bench_rand(r) * n) >> 64);
}

static inline void bench_rng_init(struct bench_rng *r, uint64_t seed,
				  uint64_t stream)
{
	r->s = seed * 0x2545f4914f6cdd1dULL + stream * 0x9e3779b97f4a7c15ULL;
	(void)bench_rand(r);
}

/*
 * A size in [lo, hi] with every power of two equally likely, so that small
 * requests dominate by count as they do in real programs while the large
 * end of the range is still exercised.
 */
size_t bench_size_log(struct bench_rng *r, size_t lo, size_t hi);

/*
 * bench_size_log is too slow to call beside a 20 ns malloc, so hot loops
 * draw from a table of pre-drawn sizes instead (a power-of-two count).
 */
struct bench_sizes {
	size_t *v;
	uint64_t mask;
};

void bench_sizes_init(struct bench_sizes *t, struct bench_rng *r,
		      size_t lo, size_t hi);
void bench_sizes_free(struct bench_sizes *t);

static inline size_t bench_size_pick(const struct bench_sizes *t,
				     struct bench_rng *r)
{
	return t->v[bench_rand(r) & t->mask];
}

/* Zeroed anonymous memory outside the allocator; exits on failure. */
void *bench_map(size_t bytes);
void bench_unmap(void *p, size_t bytes);

/* Resident set now and its high-water mark, in KiB, from /proc/self. */
long bench_rss_kb(void);
long bench_hwm_kb(void);

/* Which shared object provides the malloc this process calls. */
const char *bench_malloc_origin(void);

/* Allocation that must succeed: a benchmark cannot go on without it. */
void *bench_xmalloc(size_t n);

/*
 * Print the one result line:
 *   result bench=NAME threads=T ops=N secs=S ops_per_sec=R ns_per_op=P
 *          <extra> hwm_kb=K malloc=LIB check=HEX
 * `extra` may be NULL.  The checksum is printed so that the work which
 * produced it cannot be optimised away.
 */
void bench_report(const char *name, int threads, uint64_t ops, double secs,
		  uint64_t check, const char *extra);

/* Start barrier + stop flag for duration-bound multi-threaded runs. */
struct bench_clock {
	volatile int stop;	/* read with __atomic_load_n */
	double t0, t1;
	double t_done;		/* latest bench_thread_done, 0 if none */
};

static inline int bench_stopped(struct bench_clock *c)
{
	return __atomic_load_n(&c->stop, __ATOMIC_RELAXED);
}

/*
 * Run fn(i, arg_i) on n threads, where arg_i = (char *)args + i * arg_size.
 * Workers should call bench_thread_ready() once set up; the clock starts
 * when all of them have, and if duration > 0 the stop flag is raised after
 * that many seconds.  Returns when every worker has returned; c->t0 and
 * c->t1 then hold the measured interval.
 */
void bench_run_threads(int n, void *(*fn)(void *), void *args,
		       size_t arg_size, struct bench_clock *c,
		       double duration);
void bench_thread_ready(void);

/* The head of every worker of a benchmark whose threads work apart: what
 * bench_run_workers sets up and adds together. */
struct bench_worker {
	const struct bench_opts *o;
	struct bench_clock *clock;
	int id;
	uint64_t ops;
	uint64_t check;
};

/*
 * Run o->threads workers of `size` bytes each, every one starting with a
 * struct bench_worker, through fn for o->duration, and print the result
 * line for `name` with the workers' ops and checksums summed.
 */
void bench_run_workers(const char *name, const struct bench_opts *o,
		       void *(*fn)(void *), size_t size, const char *extra);

/*
 * A worker calls this when its measured work is over and only teardown
 * remains; c->t1 is then the latest such time rather than the join time,
 * so freeing the final live set does not count against the ops.
 */
void bench_thread_done(struct bench_clock *c);

#endif

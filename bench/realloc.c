/* SPDX-License-Identifier: MIT */
/*
 * realloc: growth of strings and vectors from a few bytes to megabytes.
 *
 * Eight buffers grow side by side, so a buffer can seldom extend in place
 * just because nothing else was allocated after it.  Even-numbered ones are
 * strings, appended to a few bytes at a time (realloc to the exact new
 * length, as naive string builders do); odd-numbered ones are vectors that
 * double their capacity.  Each buffer grows to a random target between
 * -m and -M (strings to at most -M/16), is checked and freed, and starts
 * again.  The appended bytes of strings are written; for vectors one word
 * per page of the new part is, so page faults count as they would when a
 * vector is filled.  ops are realloc calls.
 */
#define _GNU_SOURCE
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NBUF 8

struct buf {
	char *p;
	size_t len;		/* bytes in use */
	size_t cap;		/* bytes allocated */
	size_t target;
	unsigned char fill;	/* byte that strings are filled with */
};

static void buf_start(struct buf *b, struct bench_rng *r, int vector,
		      size_t lo, size_t hi)
{
	if (!vector && hi / 16 > lo)
		hi /= 16;
	b->target = bench_size_log(r, lo, hi);
	b->fill = (unsigned char)('a' + bench_below(r, 26));
	b->len = 0;
	b->cap = vector ? 16 : 1;
	b->p = bench_xmalloc(b->cap);
	b->p[0] = (char)b->fill;
}

/* Check what realloc must have preserved, then free. */
static uint64_t buf_finish(struct buf *b, int vector)
{
	uint64_t sum = 0;
	size_t off;

	if (vector) {
		for (off = 4096; off < b->len; off += 4096)
			sum += (unsigned char)b->p[off];
	} else if (b->len) {
		if ((unsigned char)b->p[0] != b->fill ||
		    (unsigned char)b->p[b->len - 1] != b->fill) {
			fprintf(stderr, "realloc: string contents lost\n");
			exit(1);
		}
		sum = b->len;
	}
	free(b->p);
	b->p = NULL;
	return sum;
}

struct worker {
	struct bench_worker b;	/* first: see bench_run_workers */
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	size_t lo = w->b.o->min_size, hi = w->b.o->max_size;
	struct buf b[NBUF];
	struct bench_rng rng;
	uint64_t ops = 0, check = 0;
	int i, k;

	bench_rng_init(&rng, w->b.o->seed, (uint64_t)w->b.id);
	for (i = 0; i < NBUF; i++)
		buf_start(&b[i], &rng, i & 1, lo, hi);
	bench_thread_ready();
	while (!bench_stopped(w->b.clock)) {
		for (k = 0; k < 256; k++) {
			int v = (int)bench_below(&rng, NBUF);
			struct buf *x = &b[v];
			size_t newcap, off;
			char *q;

			if (v & 1) {
				newcap = x->cap * 2;
				q = realloc(x->p, newcap);
				if (!q)
					goto oom;
				for (off = x->cap; off < newcap; off += 4096)
					q[off] = (char)off;
				q[newcap - 1] = 1;
				x->p = q;
				x->cap = newcap;
				x->len = newcap;
			} else {
				size_t add = 1 + (size_t)bench_below(&rng, 64);

				newcap = x->len + add;
				q = realloc(x->p, newcap);
				if (!q)
					goto oom;
				memset(q + x->len, x->fill, add);
				x->p = q;
				x->cap = newcap;
				x->len = newcap;
			}
			ops++;
			if ((unsigned char)q[0] != x->fill) {
				fprintf(stderr, "realloc: contents lost\n");
				exit(1);
			}
			if (x->len >= x->target) {
				check += buf_finish(x, v & 1);
				buf_start(x, &rng, v & 1, lo, hi);
			}
		}
	}
	bench_thread_done(w->b.clock);
	for (i = 0; i < NBUF; i++)
		check += buf_finish(&b[i], i & 1);
	w->b.ops = ops;
	w->b.check = check;
	return NULL;
oom:
	fprintf(stderr, "realloc: out of memory\n");
	exit(1);
}

int main(int argc, char **argv)
{
	struct bench_opts o = {
		.threads = 1, .min_size = 1, .max_size = 8 << 20,
		.duration = 2.0, .seed = 1,
	};

	bench_parse(argc, argv, &o,
		    "realloc growth of strings (small appends) and vectors "
		    "(doubling) up to -M bytes; ops are realloc calls.",
		    NULL, NULL);
	bench_run_workers("realloc", &o, worker_main, sizeof(struct worker), NULL);
	return 0;
}

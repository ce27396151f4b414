/* SPDX-License-Identifier: MIT */
/*
 * t-stress - many threads allocating, resizing and freeing at once, with
 * every block's contents checked before it is released: no block is handed
 * to two owners, none is corrupted by another thread's metadata, and blocks
 * freed by a thread other than their allocator are accepted.  Repeating the
 * run must not make the heap grow without bound.
 */
#include "config.h"

#include <malloc.h>
#include <unistd.h>

#include "shimmer.h"
#include "tap.h"
#include "testutil.h"
#include "workload.h"

#define MiB ((size_t)1 << 20)

static size_t mapped_now(void)
{
	struct shimmer_stats st;

	shimmer_stats_get(&st);
	return st.mapped;
}

int main(void)
{
	struct workload_cfg mixed = {
		.threads = 8, .ops = 20000, .slots = 512,
		.max_size = 64 << 10, .big_one_in = 1000, .seed = 1,
	};
	struct workload_cfg tiny = {
		.threads = 4, .ops = 200000, .slots = 2048,
		.max_size = 256, .big_one_in = 0, .seed = 2,
	};
	struct workload_cfg crowd = {
		.threads = 32, .ops = 5000, .slots = 128,
		.max_size = 16 << 10, .big_one_in = 2000, .seed = 3,
	};
	size_t m[2];
	long cross = 0, f;

	alarm(120);
	plan(8);

	f = run_workload(&mixed, &cross);
	is(f, 0, "8 threads, 1 B..64 KiB and 1..4 MiB blocks, contents checked");
	ok(cross > 0, "%ld blocks were freed by a thread that did not allocate them", cross);

	f = run_workload(&tiny, NULL);
	is(f, 0, "4 threads, 1..256 B blocks, 2048 live each");

	f = run_workload(&crowd, NULL);
	is(f, 0, "32 threads on two cores, 1 B..16 KiB blocks");

	/* The same work again must reuse what the first round left behind. */
	for (int r = 0; r < 2; r++) {
		mixed.seed = 10 + (uint64_t)r;
		f += run_workload(&mixed, NULL);
		m[r] = mapped_now();
	}
	is(f, 0, "two more rounds of the mixed workload");
	diag("mapped after each round: %zu, %zu MiB", m[0] / MiB, m[1] / MiB);
	ok(m[1] <= m[0] + m[0] / 2 + 64 * MiB,
	   "repeating the workload does not keep growing the heap");

	struct shimmer_stats st;
	shimmer_stats_get(&st);
	ok(st.allocated <= st.active && st.active <= st.mapped,
	   "allocated %zu <= active %zu <= mapped %zu after the threads are gone",
	   st.allocated, st.active, st.mapped);
	ok(st.allocated < 64 * MiB,
	   "with every block freed, allocated is small (%zu bytes)", st.allocated);
	return done_testing();
}

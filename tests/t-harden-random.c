/* SPDX-License-Identifier: MIT */
/*
 * t-harden-random - random_slab:true hands out the blocks of a new slab in
 * an order that cannot be guessed.  A fresh process makes 64 blocks of 64
 * bytes and reports their addresses.  With the default options the blocks
 * come from fresh slabs in address order, so nearly every step from one
 * block to the next is exactly one block (+64 or, where a batch is handed
 * out newest first, -64).  With random_slab, steps of one block become
 * rare, and two processes get two different orders.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "testutil.h"
#include "harden-util.h"

#define N 64
#define SIZE 64

static void addresses(void)
{
	static uintptr_t a[N];
	char line[64];

	/* Every block first, then the report: printing must not allocate
	 * between the blocks. */
	for (int i = 0; i < N; i++) {
		a[i] = (uintptr_t)malloc(hide_size(SIZE));
		child_require(a[i] != 0, "malloc");
	}
	for (int i = 0; i < N; i++) {
		snprintf(line, sizeof line, "%#" PRIxPTR "\n", a[i]);
		child_say(line);
	}
}

static const struct harden_case cases[] = {
	{ "default", "default options", NULL, addresses },
	{ "random", "random_slab:true", "random_slab:true", addresses },
};

/* Run the case and read its N addresses; false if that failed. */
static int collect(const struct harden_case *c, const char *self,
		   uintptr_t *a)
{
	struct child_result r;
	const char *s;
	int n = 0;

	harden_run(self, c->name, c->options, &r);
	s = r.out;
	while (n < N) {
		unsigned long long v;
		int used;

		if (sscanf(s, "%llx%n", &v, &used) != 1)
			break;
		a[n++] = (uintptr_t)v;
		s += used;
	}
	if (!ok(harden_exited_ok(&r) && r.err[0] == '\0' && n == N,
		"%s: %d blocks of %d bytes, their addresses reported", c->desc,
		N, SIZE)) {
		harden_show(&r);
		return 0;
	}
	return 1;
}

/* Steps of exactly one block between consecutive addresses. */
static int unit_steps(const uintptr_t *a)
{
	int n = 0;

	for (int i = 1; i < N; i++)
		n += a[i] - a[i - 1] == SIZE || a[i - 1] - a[i] == SIZE;
	return n;
}

static int distinct(const uintptr_t *a)
{
	for (int i = 0; i < N; i++)
		for (int j = i + 1; j < N; j++)
			if (a[i] == a[j])
				return 0;
	return 1;
}

/* The same order of blocks within their slab, relative to the lowest. */
static int same_order(const uintptr_t *a, const uintptr_t *b)
{
	uintptr_t amin = a[0], bmin = b[0];

	for (int i = 1; i < N; i++) {
		amin = a[i] < amin ? a[i] : amin;
		bmin = b[i] < bmin ? b[i] : bmin;
	}
	for (int i = 0; i < N; i++)
		if (a[i] - amin != b[i] - bmin)
			return 0;
	return 1;
}

int main(int argc, char **argv)
{
	static uintptr_t def[N], r1[N], r2[N];

	if (argc > 1) {
		harden_child_main(cases, 2, argv[1]);
		bail("no case named %s", argv[1]);
	}
	plan(8);
	if (collect(&cases[0], argv[0], def)) {
		ok(distinct(def), "default: the blocks are distinct");
		/* A few steps may cross from one refill batch to the next. */
		if (!ok(unit_steps(def) >= N - 16,
			"default: consecutive blocks are neighbours"))
			diag("%d steps of one block of %d", unit_steps(def), N - 1);
	} else {
		skip(2, "no addresses");
	}
	int got1 = collect(&cases[1], argv[0], r1);
	int got2 = collect(&cases[1], argv[0], r2);
	if (got1 && got2) {
		ok(distinct(r1) && distinct(r2), "random_slab: the blocks are distinct");
		/* In a random order of 64 or more blocks, about two steps
		 * in 63 are to a neighbour; 16 would be far beyond chance. */
		if (!ok(unit_steps(r1) < 16 && unit_steps(r2) < 16,
			"random_slab: consecutive blocks are seldom neighbours"))
			diag("%d and %d steps of one block of %d",
			     unit_steps(r1), unit_steps(r2), N - 1);
		ok(!same_order(r1, r2), "random_slab: two processes, two orders");
	} else {
		skip(3, "no addresses");
	}
	return done_testing();
}

/* SPDX-License-Identifier: MIT */
/*
 * t-harden-report - on_error:report turns each detected misuse into its
 * one line on stderr and lets the program go on: double frees of small,
 * large and huge blocks, frees of a stack address and of pointers inside
 * small and large blocks, free_sized with the wrong size, an overflow
 * caught by a canary (with canary:true), realloc and malloc_usable_size of
 * an address that is no block (realloc then returns NULL with errno
 * EINVAL, malloc_usable_size returns 0), and realloc of a freed block.
 *
 * The child then checks that the allocator still works - a block freed
 * twice is not handed out twice, the block behind an interior pointer is
 * still live - runs a little workload, prints "continued" and exits 0.
 * The parent checks the exit status, that stdout says "continued", and
 * that stderr is exactly the expected line, naming the block.
 */
#include "config.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "testutil.h"
#include "harden-util.h"

#define REPORT "on_error:report"

/* After the misuse: blocks of every range, filled and checked. */
static void carry_on(void)
{
	static const size_t sizes[] = { 8, 64, 1000, 16384, 100000, 3 << 20 };
	void *p[sizeof sizes / sizeof sizes[0]];

	for (int round = 0; round < 20; round++) {
		for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
			p[i] = malloc(hide_size(sizes[i]));
			child_require(p[i] != NULL, "malloc after the report");
			fill_pattern(p[i], sizes[i]);
		}
		for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
			child_require(check_pattern(p[i], sizes[i]),
				      "blocks keep their contents after the report");
			free(p[i]);
		}
	}
	child_say("continued\n");
}

/* Free twice, then allocate the size twice: two different blocks. */
static void double_free(size_t size)
{
	void *p = malloc(hide_size(size)), *a, *b;

	child_require(p != NULL, "malloc");
	child_announce(p);
	free(p);
	free(hide_ptr(p));
	a = malloc(hide_size(size));
	b = malloc(hide_size(size));
	child_require(a && b && a != b, "a block freed twice is handed out once");
	free(a);
	free(b);
	carry_on();
}

static void double_free_small(void)
{
	double_free(64);
}

static void double_free_large(void)
{
	double_free(100 << 10);
}

static void double_free_huge(void)
{
	double_free(8 << 20);
}

static void free_stack(void)
{
	char buf[64];

	memset(buf, 0, sizeof buf);
	child_announce(buf);
	free(hide_ptr(buf));
	carry_on();
}

/* The block whose inside was freed is still live and intact. */
static void free_interior(size_t size, size_t offset)
{
	unsigned char *p = malloc(hide_size(size));

	child_require(p != NULL, "malloc");
	fill_pattern(p, size);
	child_announce(p + offset);
	free(hide_ptr(p + offset));
	child_require(malloc_usable_size(p) >= size && check_pattern(p, size),
		      "the block is still live and intact");
	free(p);
	carry_on();
}

static void free_interior_small(void)
{
	free_interior(1000, 16);
}

static void free_interior_large(void)
{
	free_interior(200000, 8192);
}

static void free_sized_wrong(void)
{
	void *p = malloc(hide_size(100));

	child_require(p != NULL, "malloc");
	child_announce(p);
	free_sized(p, hide_size(100000));
	carry_on();
}

static void canary_overflow(void)
{
	unsigned char *p = malloc(hide_size(24));

	child_require(p != NULL, "malloc");
	child_announce(p);
	p = hide_ptr(p);
	child_clobber(p, hide_size(24));
	free(p);
	carry_on();
}

static void realloc_stack(void)
{
	char buf[64];
	void *q;

	memset(buf, 0, sizeof buf);
	child_announce(buf);
	errno = 0;
	q = realloc(hide_ptr(buf), hide_size(100));
	child_require(q == NULL, "realloc of a stack address returns NULL");
	child_require(errno == EINVAL, "realloc of a stack address sets EINVAL");
	carry_on();
}

static void usable_stack(void)
{
	char buf[64];

	memset(buf, 0, sizeof buf);
	child_announce(buf);
	child_require(malloc_usable_size(hide_ptr(buf)) == 0,
		      "malloc_usable_size of a stack address is 0");
	carry_on();
}

static void realloc_freed(void)
{
	void *p = malloc(hide_size(64)), *q;

	child_require(p != NULL, "malloc");
	child_announce(p);
	free(p);
	errno = 0;
	q = realloc(hide_ptr(p), hide_size(200));
	child_require(q == NULL && errno == EINVAL,
		      "realloc of a freed block returns NULL with EINVAL");
	carry_on();
}

static const struct harden_case cases[] = {
	{ "double-free-small", "double free of a 64-byte block", REPORT, double_free_small },
	{ "double-free-large", "double free of a 100 KiB block", REPORT, double_free_large },
	{ "double-free-huge", "double free of an 8 MiB block", REPORT, double_free_huge },
	{ "free-stack", "free of a stack address", REPORT, free_stack },
	{ "free-interior-small", "free inside a 1000-byte block", REPORT, free_interior_small },
	{ "free-interior-large", "free inside a 200000-byte block", REPORT, free_interior_large },
	{ "free-sized-wrong", "free_sized with a wrong size", REPORT, free_sized_wrong },
	{ "canary", "one byte past a 24-byte block (canary:true)", REPORT ",canary:true", canary_overflow },
	{ "realloc-stack", "realloc of a stack address", REPORT, realloc_stack },
	{ "usable-stack", "malloc_usable_size of a stack address", REPORT, usable_stack },
	{ "realloc-freed", "realloc of a freed block", REPORT, realloc_freed },
};

#define NCASES (sizeof cases / sizeof cases[0])

/* The line each case must print. */
static const struct {
	const char *funcs, *problem;
	long cls;
} lines[NCASES] = {
	{ "free", "double free of", 64 },
	{ "free", "double free of", 0 },
	/* A freed huge block is unmapped or cached: no longer known as one. */
	{ "free", "double free of|invalid pointer", 0 },
	{ "free", "invalid pointer", 0 },
	{ "free", "invalid pointer (not the start of a block) in", 1024 },
	{ "free", "invalid pointer|invalid pointer (not the start of a block) in", 0 },
	{ "free_sized", "size does not match the block at", 112 },
	{ "free", "heap overflow past the end of", 48 },
	{ "realloc", "invalid pointer", 0 },
	{ "malloc_usable_size", "invalid pointer", 0 },
	{ "realloc", "use of a freed block", 64 },
};

int main(int argc, char **argv)
{
	if (argc > 1) {
		harden_child_main(cases, NCASES, argv[1]);
		bail("no case named %s", argv[1]);
	}
	plan(2 * (int)NCASES);
	for (size_t i = 0; i < NCASES; i++) {
		struct child_result r;
		uintptr_t want, got;

		harden_run(argv[0], cases[i].name, cases[i].options, &r);
		want = harden_announced(&r);
		if (!ok(harden_exited_ok(&r) && strstr(r.out, "continued\n"),
			"%s: the program goes on and exits 0", cases[i].desc))
			harden_show(&r);
		int line = harden_parse_line(r.err, lines[i].funcs,
					     lines[i].problem, lines[i].cls, &got);
		if (!ok(line && want != 0 && got == want,
			"%s: one line \"shimmer: %s(): %s %#" PRIxPTR "\"",
			cases[i].desc, lines[i].funcs, lines[i].problem, want)) {
			diag("expected size class %ld", lines[i].cls);
			harden_show(&r);
		}
	}
	return done_testing();
}

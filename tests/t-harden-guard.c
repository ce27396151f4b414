/* SPDX-License-Identifier: MIT */
/*
 * t-harden-guard - with guard:true, the page after every slab, large block
 * and huge block is inaccessible.  Writing the first byte after a large
 * block's usable size (malloc_usable_size bytes from its start) faults
 * exactly there: for malloc, aligned_alloc, realloc and calloc, for a
 * large (100 KiB) and a huge (3 MiB) block.  Writing forward from a small
 * block, one page at a time, faults on a page boundary no further than a
 * slab and its guard away.  Each such child dies by SIGSEGV without a word
 * on stderr; a handler in the child reports the faulting address first.
 * A program that stays inside its blocks runs to the end.
 */
#include "config.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "testutil.h"
#include "harden-util.h"

#define GUARD "guard:true"
#define PAGE 4096u
/* A slab is at most 16 pages; its guard follows it. */
#define SLAB_REACH (17u * PAGE)

/* ---- In the child ------------------------------------------------------------- */

/* Report the faulting address, then let the fault happen again with the
 * default action (SA_RESETHAND), so that the child dies by SIGSEGV. */
static void on_fault(int sig, siginfo_t *si, void *ctx)
{
	static const char digits[] = "0123456789abcdef";
	char line[32] = "fault 0x";
	uintptr_t a = (uintptr_t)si->si_addr;
	size_t n = 8;
	int shift = 60;

	(void)sig;
	(void)ctx;
	while (shift > 0 && ((a >> shift) & 15) == 0)
		shift -= 4;
	for (; shift >= 0; shift -= 4)
		line[n++] = digits[(a >> shift) & 15];
	line[n++] = '\n';
	if (write(1, line, n) < 0)
		_exit(4);
}

static void catch_fault(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	child_require(sigaction(SIGSEGV, &sa, NULL) == 0, "sigaction");
}

/* Fill all usable bytes (which must not fault), then write one more. */
static void write_past(unsigned char *p)
{
	size_t n;

	child_require(p != NULL, "allocation");
	n = malloc_usable_size(p);
	memset(p, 0x5c, n);
	catch_fault();
	child_announce(p + n);
	p = hide_ptr(p);
	p[hide_size(n)] = 1;
}

static void large(void)
{
	write_past(malloc(hide_size(100 << 10)));
}

static void large_aligned(void)
{
	write_past(aligned_alloc(65536, hide_size(100 << 10)));
}

static void large_realloc(void)
{
	unsigned char *p = malloc(hide_size(50000));

	child_require(p != NULL, "malloc");
	write_past(realloc(p, hide_size(200000)));
}

static void huge(void)
{
	write_past(malloc(hide_size(3 << 20)));
}

static void huge_calloc(void)
{
	write_past(calloc(1, hide_size(5 << 20)));
}

static void huge_realloc(void)
{
	unsigned char *p = malloc(hide_size(3 << 20));

	child_require(p != NULL, "malloc");
	write_past(realloc(p, hide_size(7 << 20)));
}

/* One byte per page from a small block's page onward. */
static void walk_from(size_t size)
{
	unsigned char *p = malloc(hide_size(size));
	uintptr_t page;

	child_require(p != NULL, "malloc");
	memset(p, 0, size);
	child_announce(p);
	catch_fault();
	page = (uintptr_t)p & ~(uintptr_t)(PAGE - 1);
	for (uintptr_t a = page + PAGE; a <= page + SLAB_REACH; a += PAGE)
		*(volatile unsigned char *)hide_ptr((void *)a) = 1;
}

static void slab_64(void)
{
	walk_from(64);
}

static void slab_1280(void)
{
	walk_from(1280);
}

static void slab_16384(void)
{
	walk_from(16384);
}

/* Blocks of every range, each written in full, resized and freed. */
static void inside(void)
{
	static void *keep[300];
	uint64_t rng = 5;

	for (int i = 0; i < 300; i++) {
		size_t n = i % 50 == 0 ? rng_range(&rng, 2 << 20, 6 << 20)
			 : rng_range(&rng, 1, 200000);
		unsigned char *p = malloc(hide_size(n));

		child_require(p != NULL, "malloc");
		memset(p, i, malloc_usable_size(p));
		p = realloc(p, hide_size(n / 2 + 1));
		child_require(p != NULL, "realloc");
		memset(p, i, malloc_usable_size(p));
		keep[i] = p;
	}
	for (int i = 0; i < 300; i++)
		free(keep[i]);
}

static const struct harden_case cases[] = {
	{ "large", "byte after a 100 KiB block", GUARD, large },
	{ "large-aligned", "byte after a 100 KiB aligned_alloc block", GUARD, large_aligned },
	{ "large-realloc", "byte after a block grown by realloc to 200000", GUARD, large_realloc },
	{ "huge", "byte after a 3 MiB block", GUARD, huge },
	{ "huge-calloc", "byte after a 5 MiB calloc block", GUARD, huge_calloc },
	{ "huge-realloc", "byte after a block grown by realloc to 7 MiB", GUARD, huge_realloc },
	{ "slab-64", "pages after a 64-byte block", GUARD, slab_64 },
	{ "slab-1280", "pages after a 1280-byte block", GUARD, slab_1280 },
	{ "slab-16384", "pages after a 16 KiB block", GUARD, slab_16384 },
	{ "inside", "writes inside blocks only", GUARD, inside },
};

#define NCASES (sizeof cases / sizeof cases[0])
#define NEXACT 6	/* the cases that fault at the announced address */

/* ---- In the parent ------------------------------------------------------------ */

static uintptr_t fault_address(const struct child_result *r)
{
	const char *s = strstr(r->out, "fault 0x");
	unsigned long long v;

	if (s == NULL || sscanf(s + 6, "%llx", &v) != 1)
		return 0;
	return (uintptr_t)v;
}

static void expect_fault(const struct harden_case *c, const char *self)
{
	struct child_result r;
	uintptr_t want, got;
	int exact = c - cases < NEXACT, where;

	harden_run(self, c->name, c->options, &r);
	want = harden_announced(&r);
	got = fault_address(&r);
	if (!ok(harden_died_by(&r, SIGSEGV) && r.err[0] == '\0',
		"%s: SIGSEGV, nothing on stderr", c->desc))
		harden_show(&r);
	if (exact)
		where = want != 0 && got == want;
	else
		where = want != 0 && got % PAGE == 0 && got > want &&
			got <= want + SLAB_REACH;
	if (!ok(where, "%s: the fault is %s", c->desc,
		exact ? "at the first byte past the usable size"
		      : "on a page boundary within a slab and its guard")) {
		diag("block end or block %#" PRIxPTR ", fault at %#" PRIxPTR,
		     want, got);
		harden_show(&r);
	}
}

int main(int argc, char **argv)
{
	if (argc > 1) {
		harden_child_main(cases, NCASES, argv[1]);
		bail("no case named %s", argv[1]);
	}
	plan(2 * (int)(NCASES - 1) + 1);
	for (size_t i = 0; i + 1 < NCASES; i++)
		expect_fault(&cases[i], argv[0]);
	harden_expect_clean(&cases[NCASES - 1], argv[0]);
	return done_testing();
}

/* SPDX-License-Identifier: MIT */
/*
 * t-thp - the thp option, as the kernel records it on the chunks' mappings.
 * Under thp:default an arena's first chunk takes no transparent huge pages
 * (with the system's setting at always, a small program would otherwise
 * hold 2 MiB for the few pages it touches) and later chunks are left to the
 * system; thp:always asks for them everywhere and thp:never refuses them
 * everywhere; chunks from brk (dss:primary) are no different.  The kernel
 * shows the advice as the mapping's "hg" and "nh" flags in
 * /proc/self/smaps, whatever the system's own setting is, so each case is
 * checked on any machine.  Each runs in a fresh copy of this program,
 * since the option is read at start-up.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shimmer-internal.h"
#include "tap.h"
#include "testutil.h"

/* The advice flags of the mapping holding addr: 'h' for hg (huge pages
 * asked for), 'n' for nh (refused), '-' for neither, '?' if not found;
 * *brk tells whether the mapping is the program's heap. */
static char advice_at(uintptr_t addr, bool *brk)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool inside = false;
	char found = '?';

	if (f == NULL)
		return '?';
	while (fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		/* A mapping's first line; no field's name parses so. */
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			inside = addr >= lo && addr < hi;
			if (inside)
				*brk = strstr(line, "[heap]") != NULL;
			continue;
		}
		if (inside && strncmp(line, "VmFlags:", 8) == 0) {
			found = strstr(line, " hg") ? 'h' : strstr(line, " nh") ? 'n' : '-';
			break;
		}
	}
	fclose(f);
	return found;
}

/* In the copy: a small block, then blocks of 1 MiB (large blocks, served
 * from the arena's chunks) until one lies in a chunk other than the small
 * block's; prints the advice on both chunks, and 'b' if both came from
 * brk, else 'm'. */
static int child(void)
{
	void *small = malloc(64);
	uintptr_t first = (uintptr_t)shm_chunk_of(small), second = 0;
	void *big[16];
	int n = 0;

	while (n < 16 && second == 0) {
		big[n] = malloc((size_t)1 << 20);
		if (big[n] == NULL)
			break;
		if ((uintptr_t)shm_chunk_of(big[n]) != first)
			second = (uintptr_t)shm_chunk_of(big[n]);
		n++;
	}
	bool brk1 = false, brk2 = false;
	char first_advice = advice_at(first, &brk1);
	char second_advice = second ? advice_at(second, &brk2) : '?';
	printf("%c %c %c\n", first_advice, second_advice, brk1 && brk2 ? 'b' : 'm');
	while (n > 0)
		free(big[--n]);
	free(small);
	return 0;
}

/* Run a copy under options; its two advice flags in out[0] and out[1],
 * where its chunks came from in out[2]. */
static bool run_copy(const char *options, char out[3])
{
	char buf[16];

	if (run_self_copy("child", options, buf, sizeof buf) != 0 ||
	    strlen(buf) < 5)
		return false;
	out[0] = buf[0];
	out[1] = buf[2];
	out[2] = buf[4];
	return true;
}

/* Run a copy under options and check the advice on its first chunk and
 * the next, and that they came from brk or not, as the options say. */
static void check(const char *options, bool brk, char first, char second,
		  const char *what)
{
	char got[3] = { '?', '?', '?' };

	ok(run_copy(options, got) && got[2] == (brk ? 'b' : 'm'),
	   "a copy with %s ran, its chunks from %s", options, brk ? "brk" : "mmap");
	ok(got[0] == first, "%s: the first chunk %s (flag %c)", options, what, got[0]);
	ok(got[1] == second, "%s: the next chunk %s (flag %c, want %c)", options,
	   first == second ? "the same" : "is left to the system", got[1], second);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "child") == 0)
		return child();
	/* A kernel built without transparent huge pages refuses the advice
	 * and shows no flags. */
	if (access("/sys/kernel/mm/transparent_hugepage", F_OK) != 0) {
		skip(18, "this kernel has no transparent huge pages");
		return done_testing();
	}
	check("thp:default", false, 'n', '-', "takes no huge pages");
	check("thp:always", false, 'h', 'h', "asks for huge pages");
	check("thp:never", false, 'n', 'n', "refuses huge pages");
	check("thp:default,dss:primary", true, 'n', '-', "takes no huge pages");
	check("thp:always,dss:primary", true, 'h', 'h', "asks for huge pages");
	check("thp:never,dss:primary", true, 'n', 'n', "refuses huge pages");
	return done_testing();
}

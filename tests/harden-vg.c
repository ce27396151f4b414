/* SPDX-License-Identifier: MIT */
/*
 * harden-vg - the mistakes t-valgrind.sh wants memcheck to see, one per
 * argument.  Not linked with libshimmer: the script preloads it, or not.
 *
 *   leak        a 77-byte block whose last pointer is dropped
 *   uaf-read    a read of byte 50 of a freed 64-byte block
 *   overflow    a write one past the end of a 24-byte block
 *
 * Every access is really made at any optimisation level: the pointers are
 * volatile and the compiler is not told what malloc and free do.  Each
 * mistake sits in a function of its own that is not inlined, so that its
 * frame names it in memcheck's report.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where the leaked pointer lives until it is dropped: in a global, not in
 * a register or stack slot that memcheck could still find. */
static void *volatile holder;

static __attribute__((noinline)) void leak(void)
{
	holder = malloc(77);
	if (holder == NULL)
		exit(2);
	memset(holder, 1, 77);
	holder = NULL;
}

static __attribute__((noinline)) int uaf_read(void)
{
	unsigned char *volatile p = malloc(64);

	if (p == NULL)
		exit(2);
	memset(p, 7, 64);
	free(p);
	return p[50];	/* deliberate: the read memcheck must report */
}

static __attribute__((noinline)) void overflow(void)
{
	unsigned char *volatile p = malloc(24);

	if (p == NULL)
		exit(2);
	memset(p, 7, 24);
	p[24] = 1;	/* deliberate: one byte past the block */
	free(p);
}

int main(int argc, char **argv)
{
	int sink = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "leak") == 0)
			leak();
		else if (strcmp(argv[i], "uaf-read") == 0)
			sink += uaf_read();
		else if (strcmp(argv[i], "overflow") == 0)
			overflow();
		else {
			fprintf(stderr, "harden-vg: unknown job %s\n", argv[i]);
			return 2;
		}
	}
	/* Keep the value read, so that the read is not dropped. */
	return sink == 1234567 ? 3 : 0;
}

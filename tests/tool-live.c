/* SPDX-License-Identifier: MIT */
/*
 * tool-live - a process for "shimmer stats" and "shimmer map" to look at.
 * Not linked with libshimmer: t-tool.sh runs it under "shimmer run".
 *
 *   tool-live READYFILE [idle]
 *
 * It allocates known amounts and keeps them: 1000 blocks of 1000 bytes,
 * 10 large blocks of 100000 bytes and one huge block of 8 MiB.  Then it
 * writes "ready PID BYTES" to READYFILE (whole, by rename) and waits to be
 * killed, for at most a minute.  While it waits it asks every 10 ms for a
 * block too large for any allocator: the request takes the allocator's
 * slow path, where Shimmer answers requests for a heap picture, and fails
 * without changing a single counter.  With "idle" it makes no call at all,
 * as an idle program would.
 */
#include "config.h"

#include <dlfcn.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { NSMALL = 1000, SMALL = 1000, NLARGE = 10, LARGE = 100000 };
#define HUGE_BYTES ((size_t)8 << 20)

static void *keep[NSMALL + NLARGE + 1];
static volatile size_t impossible = (size_t)1 << 50;

/* Make the allocator's counts current: Shimmer's thread caches merge
 * their counts when flushed.  Found through dlsym, as the program is not
 * linked with Shimmer. */
static void flush_cache(void)
{
	int (*ctl)(const char *, void *, size_t *, const void *, size_t);

	*(void **)&ctl = dlsym(RTLD_DEFAULT, "shimmer_ctl");
	if (ctl)
		ctl("thread.tcache.flush", NULL, NULL, NULL, 0);
}

int main(int argc, char **argv)
{
	const struct timespec tick = { 0, 10 * 1000 * 1000 };
	size_t total = 0, n = 0;
	char tmp[4096];
	bool idle;
	FILE *f;

	if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "idle"))) {
		fprintf(stderr, "usage: tool-live READYFILE [idle]\n");
		return 2;
	}
	idle = argc == 3;
	alarm(60);
	for (int i = 0; i < NSMALL; i++, total += SMALL)
		if (!(keep[n++] = malloc(SMALL)))
			return 1;
	for (int i = 0; i < NLARGE; i++, total += LARGE)
		if (!(keep[n++] = malloc(LARGE)))
			return 1;
	if (!(keep[n++] = malloc(HUGE_BYTES)))
		return 1;
	total += HUGE_BYTES;
	/* Touch everything, so that the memory is really there. */
	for (size_t i = 0; i < n; i++)
		memset(keep[i], (int)i, i < NSMALL ? SMALL : i < NSMALL + NLARGE ?
		       LARGE : HUGE_BYTES);
	flush_cache();

	snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]);
	f = fopen(tmp, "w");
	if (!f || fprintf(f, "ready %ld %zu\n", (long)getpid(), total) < 0 ||
	    fclose(f) != 0 || rename(tmp, argv[1]) != 0) {
		perror("tool-live: writing the ready file");
		return 1;
	}
	for (;;) {
		nanosleep(&tick, NULL);
		if (!idle) {
			void *p = malloc(impossible);

			free(p);
		}
	}
}

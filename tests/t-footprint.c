/* SPDX-License-Identifier: MIT */
/*
 * t-footprint - what Shimmer's own zero-initialised data costs a small
 * program in resident memory.  It is mostly the registry (page.c), 32 MiB
 * of which only the pages of the slots in use are touched; the rest is a
 * few pages of tables and variables.  Those must lie together, ahead of
 * the registry: split over both of its sides they took a page more
 * (Makefile.am lists page.c last for that).  Past the registry's end lie
 * the slots of the top of the address space, where no chunk is, so the
 * mapping's last page is never touched.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "tap.h"
#include "testutil.h"

/* The pages of the registry a small program touches: those of its chunks'
 * slots, one page for chunks within 16 GiB of each other. */
#define REGISTRY_PAGES 1
/* Size-class tables and the library's other variables. */
#define OTHER_PAGES 3

/* The anonymous mapping that continues the library's last file mapping:
 * its zero-initialised data.  False if there is none. */
static bool find_bss(unsigned long *bss_start, unsigned long *bss_end)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	unsigned long lib_end = 0, start, end;
	bool found = false;

	if (f == NULL)
		return false;
	while (!found && fgets(line, sizeof line, f)) {
		char path[256] = "";
		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %255s", &start, &end, path) < 2 ||
		    strchr(line, '-') > strchr(line, ' '))
			continue;	/* not a mapping's first line */
		if (path[0] == '\0' && start == lib_end && lib_end != 0) {
			*bss_start = start;
			*bss_end = end;
			found = true;
		}
		if (strstr(path, "libshimmer.so"))
			lib_end = end;
	}
	fclose(f);
	return found;
}

int main(void)
{
	void *p[64];

	/* A small program's allocations: a few blocks of a few sizes. */
	for (int i = 0; i < 64; i++)
		p[i] = malloc((size_t)(i % 8 + 1) * 24);
	for (int i = 0; i < 64; i++)
		free(p[i]);

	unsigned long start = 0, end = 0;
	if (!ok(find_bss(&start, &end), "the library's zero-initialised data is found"))
		return done_testing();
	size_t npages = (end - start) / 4096, resident = 0;
	unsigned char *vec = malloc(npages);
	if (!ok(vec && mincore((void *)start, end - start, vec) == 0, "mincore reads it"))
		return done_testing();
	for (size_t i = 0; i < npages; i++)
		resident += vec[i] & 1;
	ok(resident >= 1 && resident <= REGISTRY_PAGES + OTHER_PAGES,
	   "%zu of its pages are resident, at most %d", resident,
	   REGISTRY_PAGES + OTHER_PAGES);
	ok(!(vec[npages - 1] & 1), "none of the library's variables lies past the registry");
	free(vec);
	return done_testing();
}

/* SPDX-License-Identifier: MIT */
/*
 * t-footprint - what Shimmer's own zero-initialised data costs a small
 * program in resident memory.  It is mostly the registry (page.c), 32 MiB
 * of which only the pages of the slots in use are touched; the rest is a
 * few pages of tables and variables.  Those must lie together, ahead of
 * the registry: split over both of its sides they took a page more
 * (Makefile.am lists page.c last for that).  So every page of that data
 * written to is one of its first few, or the registry's page for the
 * program's chunk, where the registry ends it.
 */
#include "config.h"

#include <fcntl.h>
#include <link.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shimmer-internal.h"
#include "tap.h"
#include "testutil.h"

/* Pages of size-class tables and the library's other variables. */
#define OTHER_PAGES 3

/* The library's zero-initialised data, from its writable segment: the
 * pages past the file's part, up to the segment's end. */
struct bss {
	uintptr_t start, end;
};

static int find_bss(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct bss *bss = arg;

	(void)size;
	if (strstr(info->dlpi_name, "libshimmer.so") == NULL)
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W))
			continue;
		uintptr_t seg = info->dlpi_addr + ph->p_vaddr;
		bss->start = shm_align_up(seg + ph->p_filesz, SHM_PAGE_SIZE);
		bss->end = seg + ph->p_memsz;
		return 1;
	}
	return 0;
}

int main(void)
{
	void *p[64];

	/* A small program's allocations: a few blocks of a few sizes. */
	for (int i = 0; i < 64; i++)
		p[i] = malloc((size_t)(i % 8 + 1) * 24);
	for (int i = 1; i < 64; i++)
		free(p[i]);

	struct bss bss = { 0, 0 };
	dl_iterate_phdr(find_bss, &bss);
	if (!ok(bss.end > bss.start, "the library's zero-initialised data is found"))
		return done_testing();
	size_t npages = (shm_align_up(bss.end, SHM_PAGE_SIZE) - bss.start) / SHM_PAGE_SIZE;
	int fd = open("/proc/self/pagemap", O_RDONLY);
	if (!ok(fd >= 0, "its pages can be looked up"))
		return done_testing();
	/* Where the registry ends the data, the page of the slot of p[0]'s
	 * chunk. */
	size_t slot_page = (bss.end - SHM_REGISTRY_SLOTS +
			    ((uintptr_t)p[0] >> SHM_CHUNK_SHIFT) - bss.start) / SHM_PAGE_SIZE;
	size_t resident = 0, stray = 0;
	for (size_t i = 0; i < npages; i++) {
		if (!page_written(fd, (const void *)(bss.start + i * SHM_PAGE_SIZE)))
			continue;
		resident++;
		if (i >= OTHER_PAGES && i != slot_page)
			stray++;
	}
	ok(resident >= 1 && resident <= OTHER_PAGES + 1,
	   "%zu of its pages are resident, at most %d", resident, OTHER_PAGES + 1);
	is(stray, 0, "each is one of the first %d or the registry's for the chunk in use",
	   OTHER_PAGES);
	close(fd);
	free(p[0]);
	return done_testing();
}

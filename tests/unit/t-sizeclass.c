/* SPDX-License-Identifier: MIT */
/*
 * t-sizeclass.c - the size-class table: every small size maps to the
 * smallest class that holds it, no class wastes more than a quarter of a
 * request (an eighth from 512 B up), slabs are laid out as the rest
 * of the allocator assumes, with every colour, and the test of whether an
 * address in a slab starts an object, through the slab map's entry, is
 * exact.
 */
#include "shimmer-internal.h"
#include "../tap.h"

int main(void)
{
	shm_start();

	is(shm_classes[0].size, 16, "the smallest class is 16 bytes");
	is(shm_classes[SHM_NCLASSES - 1].size, SHM_SMALL_MAX,
	   "the largest class is SHM_SMALL_MAX");

	int ascending = 1, aligned = 1;
	for (unsigned c = 1; c < SHM_NCLASSES; c++) {
		ascending &= shm_classes[c].size > shm_classes[c - 1].size;
		aligned &= shm_classes[c].size % SHM_MIN_ALIGN == 0;
	}
	ok(ascending, "class sizes strictly increase");
	ok(aligned, "every class size is a multiple of 16");

	size_t bad_fit = 0, bad_waste = 0, bad_fine = 0;
	for (size_t size = 0; size <= SHM_SMALL_MAX; size++) {
		unsigned c = shm_size_class(size);
		size_t got = shm_classes[c].size;
		if (got < size || (c > 0 && shm_classes[c - 1].size >= size))
			bad_fit++;
		if (size > 128 && got * 4 > size * 5)
			bad_waste++;
		if (size > 512 && got * 8 > size * 9)
			bad_fine++;
	}
	is(bad_fit, 0, "each size maps to the smallest class that holds it");
	is(bad_waste, 0, "no class above 128 B wastes more than 25 %%");
	is(bad_fine, 0, "no class above 512 B wastes more than 12.5 %%");

	size_t bad_slab = 0, bad_index = 0, bad_slot = 0, bad_colours = 0;
	size_t bad_tight = 0;
	for (unsigned c = 0; c < SHM_NCLASSES; c++) {
		const shm_class_info_t *ci = &shm_classes[c];
		size_t bytes = (size_t)ci->npages << SHM_PAGE_SHIFT;
		size_t room = (size_t)(ci->ncolours - 1) * ci->colour_step;
		if (ci->nobjs == 0 || room + ci->nobjs * ci->size > bytes ||
		    (bytes - ci->nobjs * ci->size) * 8 > bytes ||
		    ci->nobjs > (SHM_SLAB_PAGES << SHM_PAGE_SHIFT) / SHM_MIN_ALIGN ||
		    ci->tcache_max == 0 ||
		    ci->ncolours == 0 || room > SHM_COLOUR_SPAN ||
		    ci->colour_step % SHM_COLOUR_UNIT != 0)
			bad_slab++;
		/* Colours step by the alignment the size gives, up to 64
		 * bytes, and span all but one step of an object, up to
		 * SHM_COLOUR_SPAN; only classes whose slabs cannot spare the
		 * room go without. */
		size_t step = ci->size & -ci->size;
		if (step > 64)
			step = 64;
		size_t span = ci->size - step < SHM_COLOUR_SPAN ?
			      ci->size - step : SHM_COLOUR_SPAN;
		if (ci->colour_step != step ||
		    (ci->size <= 4096 && ci->ncolours != span / step + 1))
			bad_colours++;
		/* Where a slab of at most shm_slab_max_pages pages (with 8
		 * objects if 8 fit in SHM_SLAB_PAGES pages, else 2) holds the
		 * colours' room and wastes at most 1/64, the class's slab
		 * does too. */
		size_t min = 8 * ci->size <= SHM_SLAB_PAGES << SHM_PAGE_SHIFT ? 8 : 2;
		int can_tight = 0;
		for (size_t np = 1; np <= shm_slab_max_pages(ci->size); np++) {
			size_t b = np << SHM_PAGE_SHIFT, n = (b - room) / ci->size;
			if (n >= min &&
			    (b - n * ci->size) * 64 <= b)
				can_tight = 1;
		}
		if (can_tight && (bytes - ci->nobjs * ci->size) * 64 > bytes)
			bad_tight++;
		for (size_t off = 0; off < bytes + ci->size; off++) {
			int want = off % ci->size == 0 && off / ci->size < ci->nobjs;
			if (shm_class_is_object(c, off) != want)
				bad_index++;
		}
		/* Every byte of a slab at a page-aligned address, as the free
		 * path sees it: an object start exactly where one was made. */
		for (unsigned colour = 0; colour < ci->ncolours; colour++) {
			size_t first = colour * ci->colour_step;
			for (size_t at = 0; at < bytes; at++) {
				uintptr_t p = ((uintptr_t)1 << 30) + at;
				uint32_t slot = shm_slab_slot(c, (unsigned)first,
							      at >> SHM_PAGE_SHIFT);
				size_t off = shm_slot_offset(slot, (void *)p);
				int want = at >= first &&
					   (at - first) % ci->size == 0 &&
					   (at - first) / ci->size < ci->nobjs;
				if (shm_class_is_object(c, off) != want ||
				    shm_slot_class1(slot) != c + 1 ||
				    shm_slot_back(slot) != at >> SHM_PAGE_SHIFT)
					bad_slot++;
			}
		}
	}
	is(bad_slab, 0, "slabs hold their objects, every colour's room included, "
	   "with at most 1/8 left over, and no more objects than %d pages of "
	   "16-byte ones", SHM_SLAB_PAGES);
	is(bad_tight, 0, "slabs waste at most 1/64 wherever a slab of at most "
	   "%d pages can", SHM_SLAB_MAX_PAGES);
	is(bad_colours, 0, "classes up to 4 KiB step their colours by their alignment, up to 64 "
	   "bytes, over all but a step of an object, up to 240 bytes");
	is(bad_index, 0, "the object test is exact at every offset of every slab");
	is(bad_slot, 0, "through the slab map entry, every byte of every slab of "
	   "every colour is an object start exactly where one was made");
	return done_testing();
}

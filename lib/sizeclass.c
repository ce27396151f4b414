/* SPDX-License-Identifier: MIT */
/*
 * sizeclass.c - the size-class table, its lookup index and slab geometry.
 */
#include "shimmer-internal.h"

shm_class_info_t shm_classes[SHM_NCLASSES];
uint8_t shm_class_index[(SHM_CLASS_SIZE_MAX >> 4) + 1];

/* The bytes between a class's colours: the alignment its size gives its
 * objects, up to SHM_COLOUR_ALIGN. */
static uint32_t sizeclass_colour_step(uint32_t size)
{
	uint32_t low = size & -size;

	return low < SHM_COLOUR_ALIGN ? low : SHM_COLOUR_ALIGN;
}

/* The bytes a slab keeps free for colours: short of one object, so that
 * the colours move objects to every offset in steps of the class's, and at
 * most SHM_COLOUR_SPAN. */
static uint32_t sizeclass_colour_room(uint32_t size)
{
	uint32_t step = sizeclass_colour_step(size);
	uint32_t room = size - step < SHM_COLOUR_SPAN ? size - step : SHM_COLOUR_SPAN;

	return room - room % step;
}

/* The most pages a slab of objects of size bytes may span: SHM_SLAB_PAGES,
 * or SHM_SLAB_MAX_PAGES for the classes above 16 KiB, which would fit
 * fewer than four objects in that, so that their tails waste little. */
uint32_t shm_slab_max_pages(uint32_t size)
{
	return (SHM_SLAB_PAGES << SHM_PAGE_SHIFT) / size < 4 ? SHM_SLAB_MAX_PAGES
							     : SHM_SLAB_PAGES;
}

/*
 * Pages per slab such that the tail left over after the last object, room
 * bytes kept free included, wastes at most 1/den of the slab, with at least
 * 8 objects where that fits in SHM_SLAB_PAGES pages and 2 otherwise (a slab
 * of one object would be made and released with every block): the fewest
 * such pages, or 0 if there are none.  With den 0, the size that wastes least.
 */
static uint32_t sizeclass_slab_pages(uint32_t size, uint32_t room, uint32_t den)
{
	uint32_t best = 0;
	uint32_t best_waste = UINT32_MAX;
	uint32_t min = 8 * size <= SHM_SLAB_PAGES << SHM_PAGE_SHIFT ? 8 : 2;

	for (uint32_t np = 1; np <= shm_slab_max_pages(size); np++) {
		uint32_t bytes = np << SHM_PAGE_SHIFT;
		uint32_t n = (bytes - room) / size;
		uint32_t waste = bytes - n * size;

		if (n < min)
			continue;
		if (den != 0 && waste * den <= bytes)
			return np;
		/* Per-mille of the slab wasted, to compare slab sizes. */
		if (waste * 1000 / bytes < best_waste) {
			best_waste = waste * 1000 / bytes;
			best = np;
		}
	}
	return den != 0 ? 0 : best;
}

/* The fewest pages per slab that waste at most 1/64, else at most 1/16.
 * Every partly used slab carries its tail, and a program's live objects
 * of one class sit in many partly used slabs at once: with 1/16, the
 * tails were 4 % of bench/churn's heap.  The looser bound is for classes
 * whose colour room does not fit the tighter one in 16 pages. */
static uint32_t sizeclass_slab_fit(uint32_t size, uint32_t room)
{
	uint32_t np = sizeclass_slab_pages(size, room, 64);

	return np != 0 ? np : sizeclass_slab_pages(size, room, 16);
}

/* A class's slab size, objects and colours: coloured where the colours'
 * room fits in what a slab may waste, else with one colour. */
static void sizeclass_slab_geometry(shm_class_info_t *c)
{
	uint32_t room = sizeclass_colour_room(c->size);
	uint32_t np = sizeclass_slab_fit(c->size, room);

	if (np == 0) {
		room = 0;
		np = sizeclass_slab_fit(c->size, 0);
	}
	if (np == 0)
		np = sizeclass_slab_pages(c->size, 0, 0);
	c->npages = np;
	c->nobjs = ((np << SHM_PAGE_SHIFT) - room) / c->size;
	c->colour_step = sizeclass_colour_step(c->size);
	c->ncolours = room / c->colour_step + 1;
}

/* How many objects of a class a thread cache keeps: enough to amortise the
 * arena lock over many operations, few enough that an idle thread does not
 * pin much memory (about 64 KiB per class for mid sizes, at most 128 KiB
 * for the largest). */
static uint32_t sizeclass_tcache_max(uint32_t size)
{
	uint32_t n = (64u << 10) / size;

	if (n > 256)
		n = 256;
	if (n < 8)
		n = (128u << 10) / size < 8 ? (128u << 10) / size : 8;
	return n;
}

void shm_sizeclass_init(void)
{
	unsigned cls = 0;

	for (uint32_t size = 16; size <= 128; size += 16)
		shm_classes[cls++].size = size;
	for (uint32_t base = 128; base < SHM_CLASS_SIZE_MAX; base *= 2)
		for (uint32_t step = 1, n = base < 512 ? 4 : 8;
		     step <= n; step++)
			shm_classes[cls++].size = base + step * (base / n);

	for (cls = 0; cls < SHM_NCLASSES; cls++) {
		shm_class_info_t *c = &shm_classes[cls];

		sizeclass_slab_geometry(c);
		c->div = (uint64_t)(((unsigned __int128)1 << 64) / c->size) + 1;
		c->limit = (uint32_t)((c->nobjs - 1) * (c->div * c->size));
		c->tcache_max = sizeclass_tcache_max(c->size);
	}

	cls = 0;
	for (size_t i = 0; i <= (SHM_CLASS_SIZE_MAX >> 4); i++) {
		while (shm_classes[cls].size < (i << 4))
			cls++;
		shm_class_index[i] = (uint8_t)cls;
	}
}

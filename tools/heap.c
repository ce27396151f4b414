/* SPDX-License-Identifier: MIT */
/*
 * heap.c - obtain a heap picture: ask a live process for one through its
 * statistics mapping, or read the "heap" object of a JSON report.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "json.h"
#include "pubread.h"
#include "tool.h"

/* How long a live process may take to draw its heap. */
#define HEAP_SNAPSHOT_MS 3000
/* A JSON report of 1024 chunks is about 2 MiB; leave room, refuse worse. */
#define HEAP_JSON_MAX ((size_t)256 << 20)

const char *const heap_total_name[HT_COUNT] = {
	"allocated", "active", "dirty", "mapped", "huge"
};

const char *const heap_pages_name[HP_COUNT] = {
	"header", "free", "dirty", "large", "guard", "slab", "other"
};

/* ---- Reading the page alphabet of publish.h ------------------------------- */

/*
 * Slab pages carry a fill mark and no other page does.  The class digits
 * 'd', 'g', 'l', 'H' and 'L' (13, 16, 21, 43, 47) are also the letters of
 * dirty, guard, large and header pages, so the fill mark is what tells
 * them apart.
 */
static bool heap_is_fill(char fill)
{
	return (fill >= '0' && fill <= '9') || fill == 'A';
}

int heap_slab_class(char state, char fill)
{
	if (!heap_is_fill(fill))
		return -1;
	const char *at = state ? strchr(SHM_PUB_CLASS_LETTERS, state) : NULL;

	return at ? (int)(at - SHM_PUB_CLASS_LETTERS) : -1;
}

enum heap_pages heap_page_kind(char state, char fill)
{
	if (heap_slab_class(state, fill) >= 0)
		return HP_SLAB;
	switch (state) {
	case 'H': return HP_HEADER;
	case '.': return HP_FREE;
	case 'd': return HP_DIRTY;
	case 'L': case 'l': return HP_LARGE;
	case 'g': return HP_GUARD;
	default: return HP_OTHER;
	}
}

int heap_fill_tenths(char fill)
{
	if (fill == 'A')
		return 10;
	if (fill >= '0' && fill <= '9')
		return fill - '0';
	return -1;
}

void heap_count(heap_t *h)
{
	memset(h->pages, 0, sizeof(h->pages));
	h->huge_bytes = 0;
	for (size_t c = 0; c < h->nchunks; c++)
		for (size_t i = 0; i < SHM_PUB_CHUNK_PAGES; i++)
			h->pages[heap_page_kind(h->chunks[c].state[i],
						h->chunks[c].fill[i])]++;
	for (size_t i = 0; i < h->nhuge; i++)
		h->huge_bytes += h->huge[i].size;
}

void heap_free(heap_t *h)
{
	free(h->chunks);
	free(h->huge);
	h->chunks = NULL;
	h->huge = NULL;
}

/* ---- From a live process ----------------------------------------------------- */

int heap_from_pid(heap_t *h, int pid)
{
	pub_t p;
	pub_totals_t t;
	char comm[64];
	uint32_t nchunks, nhuge;
	int rc;

	memset(h, 0, sizeof(*h));
	if ((rc = pub_open(&p, pid, true)))
		return rc;
	pub_comm(&p, comm, sizeof(comm));
	snprintf(h->source, sizeof(h->source), "process %d%s%s%s", pid,
		 *comm ? " (" : "", comm, *comm ? ")" : "");
	snprintf(h->version, sizeof(h->version), "%s", p.version);
	if ((rc = pub_snapshot(&p, HEAP_SNAPSHOT_MS))) {
		pub_close(&p);
		return rc;
	}
	nchunks = __atomic_load_n(&p.hdr->snap_chunks, __ATOMIC_RELAXED);
	nhuge = __atomic_load_n(&p.hdr->snap_huge, __ATOMIC_RELAXED);
	h->truncated = __atomic_load_n(&p.hdr->snap_truncated, __ATOMIC_RELAXED) != 0;
	if (nchunks > p.max_chunks) {
		nchunks = p.max_chunks;
		h->truncated = true;
	}
	if (nhuge > p.max_huge) {
		nhuge = p.max_huge;
		h->truncated = true;
	}
	h->page_size = p.page_size;
	h->chunk_size = p.chunk_size;
	h->chunks = calloc(nchunks ? nchunks : 1, sizeof(*h->chunks));
	h->huge = calloc(nhuge ? nhuge : 1, sizeof(*h->huge));
	if (!h->chunks || !h->huge) {
		tool_error("out of memory");
		pub_close(&p);
		heap_free(h);
		return TOOL_EXIT_FAIL;
	}
	/* Copied at once, so that a picture another reader asks for next
	 * cannot change ours while it is drawn. */
	for (uint32_t i = 0; i < nchunks; i++) {
		h->chunks[i].addr = p.chunks[i].addr;
		h->chunks[i].arena = p.chunks[i].arena;
		memcpy(h->chunks[i].state, p.chunks[i].state, SHM_PUB_CHUNK_PAGES);
		memcpy(h->chunks[i].fill, p.chunks[i].fill, SHM_PUB_CHUNK_PAGES);
	}
	for (uint32_t i = 0; i < nhuge; i++) {
		h->huge[i].addr = p.huge[i].addr;
		h->huge[i].size = p.huge[i].size;
	}
	h->nchunks = nchunks;
	h->nhuge = nhuge;
	pub_totals(&p, &t);
	h->total[HT_ALLOCATED] = t.allocated;
	h->total[HT_ACTIVE] = t.active;
	h->total[HT_DIRTY] = t.dirty;
	h->total[HT_MAPPED] = t.mapped;
	h->total[HT_HUGE] = t.huge;
	for (int i = 0; i < HT_COUNT; i++)
		h->have[i] = true;
	memcpy(h->class_size, p.class_size, sizeof(h->class_size));
	pub_close(&p);
	heap_count(h);
	return 0;
}

/* ---- From a JSON report -------------------------------------------------------- */

/* The whole file, NUL-terminated; NULL after a message. */
static char *heap_slurp(const char *path, size_t *lenp)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	size_t len = 0, cap = 1 << 16, n;
	char *buf;

	if (!f) {
		tool_error("%s: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(cap);
	if (!buf)
		tool_error("%s: out of memory", path);
	while (buf) {
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (len < cap - 1)
			break;
		if (cap >= HEAP_JSON_MAX) {
			tool_error("%s: larger than %zu MiB: not a statistics report",
				   path, HEAP_JSON_MAX >> 20);
			free(buf);
			buf = NULL;
			break;
		}
		char *bigger = realloc(buf, cap * 2);

		if (!bigger) {
			tool_error("%s: out of memory", path);
			free(buf);
			buf = NULL;
			break;
		}
		buf = bigger;
		cap *= 2;
	}
	if (buf && ferror(f)) {
		tool_error("%s: %s", path, strerror(errno));
		free(buf);
		buf = NULL;
	}
	if (f != stdin)
		fclose(f);
	if (buf) {
		buf[len] = '\0';
		*lenp = len;
	}
	return buf;
}

/*
 * The report is where the program left it, on its standard error, maybe
 * after other lines: parse from the first line that opens an object.
 */
static json_t *heap_parse_report(const char *path, const char *text, size_t len)
{
	char err[160] = "";
	size_t at = 0;

	while (at < len) {
		size_t i = at;

		while (i < len && (text[i] == ' ' || text[i] == '\t'))
			i++;
		if (i < len && text[i] == '{') {
			json_t *v = json_parse(text + i, len - i, NULL, err, sizeof(err));

			if (v)
				return v;
			/* A malformed report is reported, not skipped. */
			tool_error("%s: not a valid JSON report: %s", path, err);
			return NULL;
		}
		const char *nl = memchr(text + at, '\n', len - at);

		if (!nl)
			break;
		at = (size_t)(nl - text) + 1;
	}
	tool_error("%s: no JSON report in it", path);
	return NULL;
}

static bool heap_addr(const json_t *v, uint64_t *out)
{
	char *end;

	if (json_u64(v, out))
		return true;
	if (!v || v->type != JSON_STRING || strncmp(v->string, "0x", 2) ||
	    !v->string[2])
		return false;
	errno = 0;
	*out = strtoull(v->string + 2, &end, 16);
	return errno == 0 && *end == '\0';
}

static int heap_bad(const char *path, const char *what)
{
	tool_error("%s: the heap picture is not valid: %s", path, what);
	return TOOL_EXIT_FAIL;
}

/* Class sizes for the legend, if the report says which class is which. */
static void heap_json_classes(heap_t *h, const json_t *root, const json_t *heap)
{
	const json_t *table = json_get(heap, "class_size");
	const json_t *classes = json_get(root, "classes");
	uint64_t v, idx;

	if (table && table->type == JSON_ARRAY)
		for (size_t i = 0; i < table->count && i < SHM_PUB_CLASSES; i++)
			if (json_u64(table->items[i], &v) && v <= UINT32_MAX)
				h->class_size[i] = (uint32_t)v;
	if (!classes || classes->type != JSON_ARRAY)
		return;
	for (size_t i = 0; i < classes->count; i++)
		if (json_u64(json_get(classes->items[i], "class"), &idx) &&
		    idx < SHM_PUB_CLASSES &&
		    json_u64(json_get(classes->items[i], "size"), &v) &&
		    v <= UINT32_MAX)
			h->class_size[idx] = (uint32_t)v;
	for (size_t i = 0; i < SHM_PUB_CLASSES; i++)
		if (h->class_size[i])
			return;

	/*
	 * Entries without their class number: they come in class order, and
	 * the classes that have slabs are the ones with slab pages in a
	 * whole picture.  If both lists are as long, they name each other.
	 */
	bool in_picture[SHM_PUB_CLASSES] = { false };
	uint32_t sizes[SHM_PUB_CLASSES];
	size_t npic = 0, nlisted = 0;

	if (h->truncated)
		return;
	for (size_t c = 0; c < h->nchunks; c++)
		for (size_t i = 0; i < SHM_PUB_CHUNK_PAGES; i++) {
			int cls = heap_slab_class(h->chunks[c].state[i],
						  h->chunks[c].fill[i]);

			if (cls >= 0 && !in_picture[cls]) {
				in_picture[cls] = true;
				npic++;
			}
		}
	for (size_t i = 0; i < classes->count; i++) {
		const json_t *e = classes->items[i];

		if (!json_u64(json_get(e, "slabs"), &v) || !v)
			continue;
		if (nlisted == SHM_PUB_CLASSES ||
		    !json_u64(json_get(e, "size"), &v) || v > UINT32_MAX ||
		    (nlisted && v <= sizes[nlisted - 1]))
			return;
		sizes[nlisted++] = (uint32_t)v;
	}
	if (nlisted != npic)
		return;
	for (size_t c = 0, k = 0; c < SHM_PUB_CLASSES; c++)
		if (in_picture[c])
			h->class_size[c] = sizes[k++];
}

static int heap_from_tree(heap_t *h, const char *path, const json_t *root)
{
	const json_t *heap = json_get(root, "heap"), *chunks, *huge, *v;
	uint64_t u;

	/* The report's numbers sit beside "heap", at the top or one level
	 * down (a report wrapped in an object of its own). */
	if (!heap && root && root->type == JSON_OBJECT)
		for (size_t i = 0; i < root->count && !heap; i++)
			if ((heap = json_get(root->items[i], "heap")))
				root = root->items[i];
	if (!heap || heap->type != JSON_OBJECT) {
		tool_error("%s: the report has no heap picture (\"heap\"): it "
			   "comes from a Shimmer that does not draw one", path);
		return TOOL_EXIT_FAIL;
	}
	if (!json_u64(json_get(heap, "page_size"), &u) || u < 512 ||
	    u > UINT32_MAX || (u & (u - 1)))
		return heap_bad(path, "no valid page_size");
	h->page_size = (uint32_t)u;
	if (!json_u64(json_get(heap, "chunk_size"), &u) ||
	    u != (uint64_t)h->page_size * SHM_PUB_CHUNK_PAGES)
		return heap_bad(path, "chunk_size is not 1024 pages");
	h->chunk_size = u;
	v = json_get(heap, "truncated");
	h->truncated = v && v->type == JSON_BOOL && v->boolean;

	chunks = json_get(heap, "chunks");
	huge = json_get(heap, "huge");
	if (!chunks || chunks->type != JSON_ARRAY)
		return heap_bad(path, "no \"chunks\" array");
	if (huge && huge->type != JSON_ARRAY)
		return heap_bad(path, "\"huge\" is not an array");
	h->chunks = calloc(chunks->count ? chunks->count : 1, sizeof(*h->chunks));
	h->huge = calloc(huge && huge->count ? huge->count : 1, sizeof(*h->huge));
	if (!h->chunks || !h->huge) {
		tool_error("out of memory");
		return TOOL_EXIT_FAIL;
	}
	for (size_t i = 0; i < chunks->count; i++) {
		const json_t *c = chunks->items[i];
		const json_t *state = json_get(c, "state"), *fill = json_get(c, "fill");
		heap_chunk_t *out = &h->chunks[i];

		if (!heap_addr(json_get(c, "addr"), &out->addr))
			return heap_bad(path, "a chunk without a valid \"addr\"");
		if (json_u64(json_get(c, "arena"), &u) && u <= UINT32_MAX)
			out->arena = (uint32_t)u;
		if (!state || state->type != JSON_STRING ||
		    state->len != SHM_PUB_CHUNK_PAGES)
			return heap_bad(path, "a chunk whose \"state\" is not 1024 characters");
		memcpy(out->state, state->string, SHM_PUB_CHUNK_PAGES);
		if (fill && fill->type == JSON_STRING && fill->len == SHM_PUB_CHUNK_PAGES)
			memcpy(out->fill, fill->string, SHM_PUB_CHUNK_PAGES);
		else if (fill)
			return heap_bad(path, "a chunk whose \"fill\" is not 1024 characters");
		else
			memset(out->fill, ' ', SHM_PUB_CHUNK_PAGES);
		h->nchunks++;
	}
	for (size_t i = 0; huge && i < huge->count; i++) {
		const json_t *b = huge->items[i];

		if (!heap_addr(json_get(b, "addr"), &h->huge[i].addr) ||
		    !json_u64(json_get(b, "size"), &h->huge[i].size))
			return heap_bad(path, "a huge block without addr and size");
		h->nhuge++;
	}

	for (int i = 0; i < HT_COUNT; i++)
		h->have[i] = json_u64(json_get(root, heap_total_name[i]), &h->total[i]);
	v = json_get(root, "version");
	if (v && v->type == JSON_STRING)
		snprintf(h->version, sizeof(h->version), "%s", v->string);
	if (json_u64(json_get(root, "pid"), &u))
		snprintf(h->source, sizeof(h->source), "process %llu, from %s",
			 (unsigned long long)u, path);
	else
		snprintf(h->source, sizeof(h->source), "%s", path);
	heap_json_classes(h, root, heap);
	heap_count(h);
	return 0;
}

int heap_from_json(heap_t *h, const char *path)
{
	size_t len;
	char *text;
	json_t *root;
	int rc;

	memset(h, 0, sizeof(*h));
	if (!(text = heap_slurp(path, &len)))
		return TOOL_EXIT_FAIL;
	root = heap_parse_report(path, text, len);
	free(text);
	if (!root)
		return TOOL_EXIT_FAIL;
	rc = heap_from_tree(h, strcmp(path, "-") ? path : "standard input", root);
	json_free(root);
	if (rc)
		heap_free(h);
	return rc;
}

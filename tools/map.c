/* SPDX-License-Identifier: MIT */
/*
 * map.c - "shimmer map": draw a heap picture as SVG.
 *
 * Each chunk is four rows of 256 pages, one small rectangle per run of
 * pages in the same state; slab pages are coloured by size class and
 * shaded by how full their slab is.  Huge blocks are bars scaled to the
 * largest one.  The totals are written out for people (text) and for
 * programs (data-* attributes of the element with id "totals").
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "heap.h"
#include "tool.h"

/* ---- Geometry ------------------------------------------------------------- */

#define PAGE_W 3			/* pixels per page */
#define ROW_PAGES 256			/* pages per row: a chunk is 4 rows */
#define ROW_H 10
#define ROW_GAP 2
#define CHUNK_ROWS (SHM_PUB_CHUNK_PAGES / ROW_PAGES)
#define CHUNK_H (CHUNK_ROWS * (ROW_H + ROW_GAP) - ROW_GAP)
#define CHUNK_GAP 14
#define MARGIN 20
#define LABEL_W 160			/* chunk and block labels, left */
#define GRID_X (MARGIN + LABEL_W)
#define GRID_W (ROW_PAGES * PAGE_W)
#define WIDTH (GRID_X + GRID_W + MARGIN)
#define LINE_H 18
#define HUGE_H 14
#define HUGE_GAP 6

/* ---- Colours -------------------------------------------------------------- */

/* Pages that are not slab pages, by enum heap_pages (large: first page). */
static const char *const map_colour[HP_COUNT] = {
	[HP_HEADER] = "#404040",
	[HP_FREE] = "#ececec",
	[HP_DIRTY] = "#f7a6b7",
	[HP_LARGE] = "#8c510a",
	[HP_GUARD] = "#e31a1c",
	[HP_SLAB] = "#4daf4a",
	[HP_OTHER] = "#ff00ff",
};
#define MAP_LARGE_LATER "#c8964f"
#define MAP_HUGE "#5b6770"

static const char *const map_label[HP_COUNT] = {
	[HP_HEADER] = "chunk header",
	[HP_FREE] = "free, purged",
	[HP_DIRTY] = "free, dirty (not purged)",
	[HP_LARGE] = "large block",
	[HP_GUARD] = "guard page",
	[HP_SLAB] = "slab",
	[HP_OTHER] = "unknown",
};

/* Classes get hues from a wheel without the reds and browns of guard
 * pages and large blocks; neighbouring classes lie seven hues apart. */
static double map_hue(int cls)
{
	return 45 + 15 * (double)((cls * 7) % 18);
}

static void map_hsl(char out[8], double h, double s, double l)
{
	double c = (1 - (2 * l - 1 < 0 ? 1 - 2 * l : 2 * l - 1)) * s;
	double hp = h / 60, x, r = 0, g = 0, b = 0, m;
	double frac = hp - 2 * (double)(int)(hp / 2);

	x = c * (1 - (frac - 1 < 0 ? 1 - frac : frac - 1));
	if (hp < 1) { r = c; g = x; }
	else if (hp < 2) { r = x; g = c; }
	else if (hp < 3) { g = c; b = x; }
	else if (hp < 4) { g = x; b = c; }
	else if (hp < 5) { r = x; b = c; }
	else { r = c; b = x; }
	m = l - c / 2;
	snprintf(out, 8, "#%02x%02x%02x", (unsigned)((r + m) * 255 + 0.5),
		 (unsigned)((g + m) * 255 + 0.5), (unsigned)((b + m) * 255 + 0.5));
}

/* A slab page: its class's hue, darker the fuller it is. */
static void map_slab_colour(char out[8], int cls, int tenths)
{
	if (tenths < 0)
		tenths = 5;
	map_hsl(out, map_hue(cls), 0.55, 0.90 - 0.055 * tenths);
}

static void map_page_colour(char out[8], char state, char fill)
{
	enum heap_pages k = heap_page_kind(state, fill);

	if (k == HP_SLAB)
		map_slab_colour(out, heap_slab_class(state, fill), heap_fill_tenths(fill));
	else
		snprintf(out, 8, "%s", state == 'l' ? MAP_LARGE_LATER : map_colour[k]);
}

/* ---- Text ----------------------------------------------------------------- */

/* The length of the valid UTF-8 character XML allows at p, or 0. */
static size_t map_utf8(const unsigned char *p)
{
	unsigned c = p[0];

	if (c < 0x80)
		return c >= 0x20 || c == '\t' || c == '\n' ? 1 : 0;
	if (c >= 0xc2 && c <= 0xdf)
		return (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 ||
		    (c == 0xe0 && p[1] < 0xa0) ||		/* overlong */
		    (c == 0xed && p[1] >= 0xa0) ||		/* surrogate */
		    (c == 0xef && p[1] == 0xbf && p[2] >= 0xbe))	/* U+FFFE/F */
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 ||
		    (p[3] & 0xc0) != 0x80 || (c == 0xf0 && p[1] < 0x90) ||
		    (c == 0xf4 && p[1] >= 0x90))
			return 0;
		return 4;
	}
	return 0;
}

/* Text as XML character data or attribute value: markup escaped, and
 * anything that is not valid UTF-8 or not allowed in XML replaced. */
static void map_puts(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		size_t n = map_utf8(p);

		if (n == 0) {
			fputc('?', f);
			p++;
		} else if (*p == '&') {
			fputs("&amp;", f);
		} else if (*p == '<') {
			fputs("&lt;", f);
		} else if (*p == '>') {
			fputs("&gt;", f);
		} else if (*p == '"') {
			fputs("&quot;", f);
		} else if (*p == '\'') {
			fputs("&apos;", f);
		} else {
			fwrite(p, 1, n, f);
		}
		p += n;
	}
}

static void map_text(FILE *f, int x, int y, const char *attrs, const char *text)
{
	fprintf(f, "<text x=\"%d\" y=\"%d\"%s%s>", x, y, *attrs ? " " : "", attrs);
	map_puts(f, text);
	fputs("</text>\n", f);
}

static const char *map_class_name(const heap_t *h, int cls, char *buf, size_t len)
{
	if (h->class_size[cls])
		snprintf(buf, len, "%u B", (unsigned)h->class_size[cls]);
	else
		snprintf(buf, len, "class %d", cls);
	return buf;
}

/* ---- The parts of the picture ---------------------------------------------- */

static int map_header(FILE *f, const heap_t *h, int y)
{
	char line[512], a[TOOL_HUMAN], b[TOOL_HUMAN];
	static const char *const page_order[] = { "slab", "large", "dirty", "free",
						  "header", "guard", "other" };
	static const enum heap_pages page_kind[] = { HP_SLAB, HP_LARGE, HP_DIRTY,
						     HP_FREE, HP_HEADER, HP_GUARD,
						     HP_OTHER };
	size_t n;

	snprintf(line, sizeof(line), "Shimmer heap of %s", h->source);
	map_text(f, MARGIN, y, "font-size=\"18\" font-weight=\"bold\"", line);
	y += 8;

	/* The numbers for programs first, then the same for people. */
	fputs("<g id=\"totals\"", f);
	for (int i = 0; i < HT_COUNT; i++)
		if (h->have[i])
			fprintf(f, " data-%s=\"%llu\"", heap_total_name[i],
				(unsigned long long)h->total[i]);
	fprintf(f, " data-chunks=\"%zu\" data-huge-blocks=\"%zu\" data-huge-bytes=\"%llu\"",
		h->nchunks, h->nhuge, (unsigned long long)h->huge_bytes);
	for (int i = 0; i < HP_COUNT; i++)
		fprintf(f, " data-pages-%s=\"%llu\"", heap_pages_name[i],
			(unsigned long long)h->pages[i]);
	fprintf(f, " data-truncated=\"%s\">\n", h->truncated ? "true" : "false");

	n = 0;
	for (int i = 0; i < HT_COUNT; i++) {
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%s %s",
				      i ? "  \xc2\xb7  " : "", heap_total_name[i],
				      h->have[i] ? tool_human(h->total[i], a) : "?");
		if (n >= sizeof(line))
			break;
	}
	y += LINE_H;
	fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"14\">", MARGIN, y);
	map_puts(f, line);
	fputs("<title>", f);
	for (int i = 0; i < HT_COUNT; i++)
		if (h->have[i])
			fprintf(f, "%s%s: %llu bytes", i ? "; " : "", heap_total_name[i],
				(unsigned long long)h->total[i]);
	fputs("</title></text>\n", f);

	n = (size_t)snprintf(line, sizeof(line), "%zu chunk%s of %s; pages:", h->nchunks,
			     h->nchunks == 1 ? "" : "s", tool_human(h->chunk_size, a));
	for (size_t i = 0; i < sizeof(page_kind) / sizeof(page_kind[0]); i++) {
		if (!h->pages[page_kind[i]] && page_kind[i] == HP_OTHER)
			continue;
		if (n < sizeof(line))
			n += (size_t)snprintf(line + n, sizeof(line) - n, "%s %llu %s",
					      i ? "," : "",
					      (unsigned long long)h->pages[page_kind[i]],
					      page_order[i]);
	}
	y += LINE_H;
	map_text(f, MARGIN, y, "", line);

	if (h->nhuge)
		snprintf(line, sizeof(line), "%zu huge block%s, %s (%llu bytes)", h->nhuge,
			 h->nhuge == 1 ? "" : "s", tool_human(h->huge_bytes, b),
			 (unsigned long long)h->huge_bytes);
	else
		snprintf(line, sizeof(line), "no huge blocks");
	y += LINE_H;
	map_text(f, MARGIN, y, "", line);
	if (h->truncated) {
		y += LINE_H;
		map_text(f, MARGIN, y, "fill=\"#b00000\"",
			 "Truncated: the process had more chunks or huge blocks than "
			 "its picture holds.");
	}
	if (*h->version) {
		snprintf(line, sizeof(line), "Shimmer %s", h->version);
		y += LINE_H;
		map_text(f, MARGIN, y, "fill=\"#606060\"", line);
	}
	fputs("</g>\n", f);
	return y + LINE_H;
}

static void map_swatch(FILE *f, int x, int y, const char *colour)
{
	fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"%d\" fill=\"%s\" "
		"stroke=\"#808080\" stroke-width=\"0.5\"/>\n", x, y - 10, ROW_H, colour);
}

static int map_legend(FILE *f, const heap_t *h, int y)
{
	static const enum heap_pages kinds[] = { HP_HEADER, HP_FREE, HP_DIRTY,
						 HP_LARGE, HP_GUARD };
	bool used[SHM_PUB_CLASSES] = { false };
	char colour[8], name[32];
	int x = MARGIN, busiest = -1, nused = 0;
	uint64_t count[SHM_PUB_CLASSES] = { 0 };

	fputs("<g id=\"legend\">\n", f);
	map_text(f, MARGIN, y, "font-weight=\"bold\"", "Pages");
	y += LINE_H;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		map_swatch(f, x, y, map_colour[kinds[i]]);
		if (kinds[i] == HP_LARGE) {
			map_swatch(f, x + 14, y, MAP_LARGE_LATER);
			x += 14;
		}
		map_text(f, x + 20, y, "", map_label[kinds[i]]);
		x += 20 + (int)strlen(map_label[kinds[i]]) * 7 + 16;
	}
	if (h->pages[HP_OTHER]) {
		map_swatch(f, x, y, map_colour[HP_OTHER]);
		map_text(f, x + 20, y, "", map_label[HP_OTHER]);
	}

	for (size_t c = 0; c < h->nchunks; c++)
		for (size_t i = 0; i < SHM_PUB_CHUNK_PAGES; i++) {
			int cls = heap_slab_class(h->chunks[c].state[i], h->chunks[c].fill[i]);

			if (cls >= 0) {
				used[cls] = true;
				count[cls]++;
			}
		}
	for (int c = 0; c < SHM_PUB_CLASSES; c++) {
		nused += used[c];
		if (used[c] && (busiest < 0 || count[c] > count[busiest]))
			busiest = c;
	}

	/* How fill shows, on the class with the most pages. */
	y += LINE_H + 4;
	x = MARGIN;
	map_text(f, x, y, "", "slab pages, by how full the slab is:  empty");
	x += 268;
	for (int t = 0; t <= 10; t++) {
		map_slab_colour(colour, busiest < 0 ? 0 : busiest, t);
		map_swatch(f, x, y, colour);
		x += 15;
	}
	map_text(f, x + 6, y, "", "full");

	if (nused) {
		y += LINE_H + 4;
		map_text(f, MARGIN, y, "", "slab pages, by size class (a page's colour "
			 "is its class's, shaded by fill):");
		x = MARGIN;
		for (int c = 0; c < SHM_PUB_CLASSES; c++) {
			if (!used[c])
				continue;
			if (x == MARGIN)
				y += LINE_H;
			map_slab_colour(colour, c, 7);
			map_swatch(f, x, y, colour);
			map_text(f, x + 20, y, "", map_class_name(h, c, name, sizeof(name)));
			x += 100;
			if (x + 100 > WIDTH - MARGIN)
				x = MARGIN;
		}
	}
	fputs("</g>\n", f);
	return y + LINE_H + 6;
}

/* What a run of pages is, for its tooltip. */
static void map_describe(const heap_t *h, const heap_chunk_t *c, size_t from,
			 size_t n, char *buf, size_t len)
{
	char size[TOOL_HUMAN], name[32];
	char state = c->state[from], fill = c->fill[from];
	enum heap_pages k = heap_page_kind(state, fill);
	int used = snprintf(buf, len, "pages %zu-%zu (%s): ", from, from + n - 1,
			    tool_human((uint64_t)n * h->page_size, size));

	if (used < 0 || (size_t)used >= len)
		return;
	buf += used;
	len -= (size_t)used;
	if (k == HP_SLAB) {
		int t = heap_fill_tenths(fill), cls = heap_slab_class(state, fill);

		if (t == 10)
			snprintf(buf, len, "slab of %s objects, full",
				 map_class_name(h, cls, name, sizeof(name)));
		else
			snprintf(buf, len, "slab of %s objects, %d-%d%% in use",
				 map_class_name(h, cls, name, sizeof(name)), t * 10,
				 t * 10 + 9);
	} else if (k == HP_LARGE) {
		snprintf(buf, len, "%s", state == 'L' ? "large block, first page" :
			 "large block");
	} else if (k == HP_OTHER) {
		snprintf(buf, len, "unknown state '%c'",
			 state > 0x20 && state < 0x7f ? state : '?');
	} else {
		snprintf(buf, len, "%s", map_label[k]);
	}
}

static int map_by_addr(const void *a, const void *b)
{
	const heap_chunk_t *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static int map_chunks(FILE *f, heap_t *h, int y)
{
	char text[160], colour[8], pct[TOOL_HUMAN];

	qsort(h->chunks, h->nchunks, sizeof(*h->chunks), map_by_addr);
	fputs("<g id=\"chunks\" shape-rendering=\"crispEdges\">\n", f);
	map_text(f, MARGIN, y, "font-weight=\"bold\"", h->nchunks ? "Chunks" :
		 "Chunks: none");
	y += 10;
	for (size_t ci = 0; ci < h->nchunks; ci++) {
		const heap_chunk_t *c = &h->chunks[ci];
		uint64_t inuse = 0;

		for (size_t i = 0; i < SHM_PUB_CHUNK_PAGES; i++) {
			enum heap_pages k = heap_page_kind(c->state[i], c->fill[i]);

			inuse += k == HP_SLAB || k == HP_LARGE;
		}
		fprintf(f, "<g class=\"chunk\" data-addr=\"0x%llx\" data-arena=\"%u\">\n",
			(unsigned long long)c->addr, (unsigned)c->arena);
		snprintf(text, sizeof(text), "0x%llx", (unsigned long long)c->addr);
		map_text(f, MARGIN, y + 11, "font-family=\"monospace\" font-size=\"12\"", text);
		snprintf(text, sizeof(text), "arena %u, %s in use", (unsigned)c->arena,
			 tool_human(inuse * h->page_size, pct));
		map_text(f, MARGIN, y + 26, "font-size=\"11\" fill=\"#606060\"", text);
		for (size_t i = 0; i < SHM_PUB_CHUNK_PAGES; ) {
			size_t n = 1, row = i / ROW_PAGES;

			/* One rectangle per run of equal pages within a row. */
			while (i + n < SHM_PUB_CHUNK_PAGES && (i + n) % ROW_PAGES &&
			       c->state[i + n] == c->state[i] && c->fill[i + n] == c->fill[i])
				n++;
			map_page_colour(colour, c->state[i], c->fill[i]);
			map_describe(h, c, i, n, text, sizeof(text));
			fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
				"fill=\"%s\"><title>", GRID_X + (int)(i % ROW_PAGES) * PAGE_W,
				y + (int)row * (ROW_H + ROW_GAP), (int)n * PAGE_W, ROW_H, colour);
			map_puts(f, text);
			fputs("</title></rect>\n", f);
			i += n;
		}
		fputs("</g>\n", f);
		y += CHUNK_H + CHUNK_GAP;
	}
	fputs("</g>\n", f);
	return y + 10;
}

static int map_huge(FILE *f, const heap_t *h, int y)
{
	uint64_t max = 0;
	char text[96], size[TOOL_HUMAN];

	for (size_t i = 0; i < h->nhuge; i++)
		if (h->huge[i].size > max)
			max = h->huge[i].size;
	fputs("<g id=\"huge\">\n", f);
	map_text(f, MARGIN, y, "font-weight=\"bold\"", h->nhuge ?
		 "Huge blocks (bars to scale with the largest)" : "Huge blocks: none");
	y += 8;
	for (size_t i = 0; i < h->nhuge; i++) {
		const heap_huge_t *b = &h->huge[i];
		int w = (int)((double)(GRID_W - 90) * (double)b->size / (double)max);

		if (w < 2)
			w = 2;
		snprintf(text, sizeof(text), "0x%llx", (unsigned long long)b->addr);
		map_text(f, MARGIN, y + 11, "font-family=\"monospace\" font-size=\"12\"", text);
		fprintf(f, "<rect class=\"huge\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
			"fill=\"%s\" data-size=\"%llu\"><title>", GRID_X, y, w, HUGE_H,
			MAP_HUGE, (unsigned long long)b->size);
		snprintf(text, sizeof(text), "huge block at 0x%llx, %llu bytes",
			 (unsigned long long)b->addr, (unsigned long long)b->size);
		map_puts(f, text);
		fputs("</title></rect>\n", f);
		map_text(f, GRID_X + w + 6, y + 11, "", tool_human(b->size, size));
		y += HUGE_H + HUGE_GAP;
	}
	fputs("</g>\n", f);
	return y + 10;
}

/* The whole document.  The body is drawn first, to know the height. */
static int map_write(FILE *out, heap_t *h)
{
	char *body = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&body, &len);
	int y = MARGIN + 16;

	if (!f) {
		tool_error("out of memory");
		return TOOL_EXIT_FAIL;
	}
	y = map_header(f, h, y);
	y = map_legend(f, h, y + 6);
	y = map_chunks(f, h, y + 10);
	y = map_huge(f, h, y + 10);
	if (fclose(f) != 0) {
		tool_error("out of memory");
		free(body);
		return TOOL_EXIT_FAIL;
	}
	fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
		"width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
		"font-family=\"DejaVu Sans, Verdana, Arial, sans-serif\" font-size=\"12\">\n"
		"<title>", WIDTH, y, WIDTH, y);
	fputs("Shimmer heap of ", out);
	map_puts(out, h->source);
	fputs("</title>\n<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n", out);
	fwrite(body, 1, len, out);
	fputs("</svg>\n", out);
	free(body);
	return 0;
}

/* ---- The command -------------------------------------------------------------- */

static void map_usage(FILE *f)
{
	fputs("Usage: shimmer map PID|STATS.json [-o FILE.svg]\n"
	      "Draws the heap of running process PID, or the heap picture in a JSON\n"
	      "report (stats_format:json; - reads standard input), as SVG.\n"
	      "  -o FILE   where to write it (default heap.svg; - for standard output)\n",
	      f);
}

int cmd_map(int argc, char **argv)
{
	const char *source = NULL, *output = "heap.svg";
	heap_t h;
	FILE *out;
	int pid, rc;
	bool opts_done = false;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!opts_done && (!strcmp(a, "-o") || !strcmp(a, "--output"))) {
			if (i + 1 >= argc || !argv[i + 1][0])
				tool_usage_error("%s needs a file name", a);
			output = argv[++i];
		} else if (!opts_done && !strncmp(a, "--output=", 9) && a[9]) {
			output = a + 9;
		} else if (!opts_done && !strncmp(a, "-o", 2) && a[2]) {
			output = a + 2;
		} else if (!opts_done && (!strcmp(a, "--help") || !strcmp(a, "-h"))) {
			map_usage(stdout);
			return TOOL_EXIT_OK;
		} else if (!opts_done && !strcmp(a, "--")) {
			opts_done = true;
		} else if (!opts_done && a[0] == '-' && a[1]) {
			tool_usage_error("unknown option '%s'", a);
		} else if (source) {
			tool_usage_error("one process or file at a time: '%s' and '%s'",
					 source, a);
		} else {
			source = a;
		}
	}
	if (!source)
		tool_usage_error("map needs a process ID or a JSON report");

	/* Digits name a process; anything else is a file ("./123" for a
	 * file named like a number). */
	if (source[0] >= '0' && source[0] <= '9' && !source[strspn(source, "0123456789")]) {
		if (!tool_parse_pid(source, &pid))
			tool_usage_error("'%s' is not a process ID", source);
		rc = heap_from_pid(&h, pid);
	} else {
		rc = heap_from_json(&h, source);
	}
	if (rc)
		return rc;

	out = strcmp(output, "-") ? fopen(output, "w") : stdout;
	if (!out) {
		tool_error("%s: %s", output, strerror(errno));
		heap_free(&h);
		return TOOL_EXIT_FAIL;
	}
	rc = map_write(out, &h);
	if (fflush(out) != 0 || ferror(out))
		rc = TOOL_EXIT_FAIL;
	if (out != stdout && fclose(out) != 0)
		rc = TOOL_EXIT_FAIL;
	if (rc) {
		tool_error("%s: cannot write the picture: %s", output, strerror(errno));
		if (out != stdout)
			unlink(output);
	} else if (out != stdout) {
		printf("%s: %zu chunk%s, %zu huge block%s\n", output, h.nchunks,
		       h.nchunks == 1 ? "" : "s", h.nhuge, h.nhuge == 1 ? "" : "s");
	}
	heap_free(&h);
	return rc;
}

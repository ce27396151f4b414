/* SPDX-License-Identifier: MIT */
/*
 * t-stats - the statistics a program can read: shimmer_stats_get() counts
 * what was allocated and freed (small and huge) and keeps
 * allocated <= active <= mapped; shimmer_stats_print() produces a text
 * report and, with "J", a well-formed JSON document, through the callback or
 * on stderr; malloc_stats() writes to stderr; mallinfo2() counts bytes in
 * use.
 */
#include "config.h"

#include <ctype.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shimmer.h"
#include "tap.h"
#include "testutil.h"

#define MiB ((size_t)1 << 20)
#define N 4000
#define BLOCK 1000
/* What a thread cache may hold back from the counters either way. */
#define SLACK (512 << 10)

static int invariant(const struct shimmer_stats *s)
{
	return s->allocated <= s->active && s->active <= s->mapped &&
	       s->dirty <= s->mapped && s->huge <= s->mapped;
}

static void test_counters(void)
{
	static void *p[N];
	struct shimmer_stats a, b, c;

	shimmer_stats_get(&a);
	ok(invariant(&a), "at start: allocated %zu <= active %zu <= mapped %zu",
	   a.allocated, a.active, a.mapped);
	for (int i = 0; i < N; i++) {
		p[i] = malloc(hide_size(BLOCK));
		memset(p[i], 1, BLOCK);
	}
	shimmer_stats_get(&b);
	ok(b.allocated >= a.allocated + (size_t)N * BLOCK - SLACK,
	   "allocated grew by %zd after %d blocks of %d bytes",
	   (ssize_t)(b.allocated - a.allocated), N, BLOCK);
	ok(invariant(&b), "with the blocks: allocated %zu <= active %zu <= mapped %zu",
	   b.allocated, b.active, b.mapped);
	ok(b.nmalloc >= a.nmalloc && b.nfree >= a.nfree && b.nmalloc > a.nmalloc,
	   "nmalloc grew (%zu -> %zu) and nfree did not shrink",
	   a.nmalloc, b.nmalloc);

	for (int i = 0; i < N; i++)
		free(p[i]);
	shimmer_stats_get(&c);
	ok(c.allocated + (size_t)N * BLOCK / 2 <= b.allocated,
	   "allocated fell by %zd after freeing them",
	   (ssize_t)(b.allocated - c.allocated));
	ok(invariant(&c), "after freeing: allocated %zu <= active %zu <= mapped %zu",
	   c.allocated, c.active, c.mapped);
	ok(c.nfree > b.nfree && c.nmalloc >= b.nmalloc,
	   "nfree grew (%zu -> %zu)", b.nfree, c.nfree);
}

static void test_huge_counters(void)
{
	struct shimmer_stats a, b, c;
	void *p;

	shimmer_stats_get(&a);
	p = malloc(hide_size(8 * MiB));
	memset(p, 2, 8 * MiB);
	shimmer_stats_get(&b);
	ok(b.huge >= a.huge + 8 * MiB && b.allocated >= a.allocated + 8 * MiB &&
	   b.mapped >= a.mapped + 8 * MiB - SLACK,
	   "an 8 MiB block counts in huge (+%zd), allocated (+%zd) and mapped (+%zd)",
	   (ssize_t)(b.huge - a.huge), (ssize_t)(b.allocated - a.allocated),
	   (ssize_t)(b.mapped - a.mapped));
	ok(invariant(&b), "with the huge block: allocated %zu <= active %zu <= mapped %zu",
	   b.allocated, b.active, b.mapped);
	free(p);
	shimmer_stats_get(&c);
	ok(c.huge + 8 * MiB <= b.huge && c.allocated + 8 * MiB <= b.allocated,
	   "freeing it takes it out of huge and allocated");
}

/* ---- collecting reports ---------------------------------------------- */

struct sink {
	char buf[1 << 20];
	size_t len;
	int calls;
	int overflow;
};

static void collect(void *opaque, const char *text)
{
	struct sink *s = opaque;
	size_t n = strlen(text);

	s->calls++;
	if (s->len + n >= sizeof s->buf) {
		s->overflow = 1;
		return;
	}
	memcpy(s->buf + s->len, text, n + 1);
	s->len += n;
}

/* Run fn with fd 2 sent to a temporary file; return what it wrote. */
static char *capture_stderr(void (*fn)(void))
{
	static char out[1 << 20];
	FILE *tmp = tmpfile();
	int saved;
	ssize_t n;

	out[0] = '\0';
	if (!tmp)
		return out;
	fflush(stderr);
	saved = dup(2);
	dup2(fileno(tmp), 2);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	lseek(fileno(tmp), 0, SEEK_SET);
	n = read(fileno(tmp), out, sizeof out - 1);
	out[n > 0 ? n : 0] = '\0';
	fclose(tmp);
	return out;
}

/* ---- a small JSON checker (RFC 8259 syntax, no semantics) ------------- */

static const char *js_ws(const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	return s;
}

static const char *js_value(const char *s, int depth);

static const char *js_string(const char *s)
{
	if (*s++ != '"')
		return NULL;
	while (*s != '"') {
		if ((unsigned char)*s < 0x20)
			return NULL;
		if (*s == '\\') {
			s++;
			if (*s == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!isxdigit((unsigned char)s[i]))
						return NULL;
				s += 4;
			} else if (!strchr("\"\\/bfnrt", *s) || !*s) {
				return NULL;
			}
		}
		s++;
	}
	return s + 1;
}

static const char *js_number(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (isdigit((unsigned char)*s))
		while (isdigit((unsigned char)*s))
			s++;
	else
		return NULL;
	if (*s == '.') {
		s++;
		if (!isdigit((unsigned char)*s))
			return NULL;
		while (isdigit((unsigned char)*s))
			s++;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!isdigit((unsigned char)*s))
			return NULL;
		while (isdigit((unsigned char)*s))
			s++;
	}
	return s;
}

static const char *js_value(const char *s, int depth)
{
	if (depth > 64 || s == NULL)
		return NULL;
	s = js_ws(s);
	if (*s == '{' || *s == '[') {
		char close = *s == '{' ? '}' : ']';
		int obj = *s == '{';

		s = js_ws(s + 1);
		if (*s == close)
			return s + 1;
		for (;;) {
			if (obj) {
				s = js_string(js_ws(s));
				if (!s)
					return NULL;
				s = js_ws(s);
				if (*s++ != ':')
					return NULL;
			}
			s = js_value(s, depth + 1);
			if (!s)
				return NULL;
			s = js_ws(s);
			if (*s == close)
				return s + 1;
			if (*s++ != ',')
				return NULL;
		}
	}
	if (*s == '"')
		return js_string(s);
	if (!strncmp(s, "true", 4))
		return s + 4;
	if (!strncmp(s, "false", 5))
		return s + 5;
	if (!strncmp(s, "null", 4))
		return s + 4;
	return js_number(s);
}

static int json_document(const char *s)
{
	s = js_value(s, 0);
	return s != NULL && *js_ws(s) == '\0';
}

static void print_text(void)
{
	shimmer_stats_print(NULL, NULL, NULL);
}

static void print_malloc_stats(void)
{
	malloc_stats();
}

static void test_reports(void)
{
	static struct sink text, empty, json;
	char *out;

	shimmer_stats_print(collect, &text, NULL);
	ok(text.calls > 0 && !text.overflow && strstr(text.buf, "shimmer"),
	   "the text report goes through the callback and names shimmer (%zu bytes, %d calls)",
	   text.len, text.calls);

	shimmer_stats_print(collect, &empty, "");
	ok(empty.calls > 0 && strstr(empty.buf, "shimmer"),
	   "opts \"\" also gives the text report");

	shimmer_stats_print(collect, &json, "J");
	const char *b = js_ws(json.buf);
	const char *e = json.buf + json.len;
	while (e > b && isspace((unsigned char)e[-1]))
		e--;
	ok(json.calls > 0 && *b == '{' && e > b && e[-1] == '}',
	   "the JSON report is an object: starts with '{' and ends with '}'");
	ok(json_document(json.buf), "the JSON report is well-formed JSON");
	if (!json_document(json.buf))
		diag("JSON report begins: %.200s", json.buf);
	/* This thread is the only one: its blocks are in arena 0. */
	ok(strstr(json.buf, "\"arena\": 0,") != NULL,
	   "the JSON report's heap picture puts this thread's chunks in arena 0");

	out = capture_stderr(print_text);
	ok(strstr(out, "shimmer") != NULL,
	   "with no callback the report goes to stderr (%zu bytes)", strlen(out));

	out = capture_stderr(print_malloc_stats);
	ok(strlen(out) > 0, "malloc_stats() writes a report to stderr (%zu bytes)",
	   strlen(out));
}

static void test_mallinfo(void)
{
	static void *p[N];
	struct mallinfo2 before, after;

	before = mallinfo2();
	for (int i = 0; i < N; i++)
		p[i] = malloc(hide_size(BLOCK));
	after = mallinfo2();
	ok(after.uordblks > 0, "mallinfo2().uordblks = %zu after allocating", after.uordblks);
	ok(after.uordblks >= before.uordblks + (size_t)N * BLOCK / 2,
	   "uordblks grew by %zd with %d blocks of %d bytes",
	   (ssize_t)(after.uordblks - before.uordblks), N, BLOCK);
	for (int i = 0; i < N; i++)
		free(p[i]);
}

int main(void)
{
	/* A heap damaged badly enough can make a loop spin forever. */
	alarm(120);
	test_counters();
	test_huge_counters();
	test_reports();
	test_mallinfo();
	return done_testing();
}

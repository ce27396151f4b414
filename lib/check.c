/* SPDX-License-Identifier: MIT */
/*
 * check.c - the one place that prints a diagnostic and aborts, and the
 * warning line used for bad options.  Lines are built in a stack buffer and
 * written with write(2): no stdio, no allocation, safe inside malloc.
 */
#include "shimmer-internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct line {
	char buf[512];
	size_t len;
} line_t;

/* Append at most max bytes of s: hostile option strings can be long. */
static void line_str(line_t *l, const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	if (n > sizeof(l->buf) - 1 - l->len)
		n = sizeof(l->buf) - 1 - l->len;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

SHM_COLD size_t shm_fmt_u64(char *buf, uint64_t v)
{
	char tmp[24];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	buf[n] = '\0';
	return n;
}

SHM_COLD size_t shm_fmt_hex(char *buf, uint64_t v)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[24];
	size_t n = 0, i;

	do {
		tmp[n++] = digits[v & 15];
		v >>= 4;
	} while (v);
	buf[0] = '0';
	buf[1] = 'x';
	for (i = 0; i < n; i++)
		buf[2 + i] = tmp[n - 1 - i];
	buf[2 + n] = '\0';
	return n + 2;
}

/* "shimmer: free(): double free of 0x7f... (size class 64)". */
static void diagnose(const char *func, const void *p, const char *problem,
		     unsigned cls)
{
	line_t l = { .len = 0 };
	char num[32];

	line_str(&l, "shimmer: ", 16);
	line_str(&l, func, 32);
	line_str(&l, "(): ", 8);
	line_str(&l, problem, 128);
	line_str(&l, " ", 1);
	shm_fmt_hex(num, (uintptr_t)p);
	line_str(&l, num, sizeof(num));
	if (cls < SHM_NCLASSES) {
		line_str(&l, " (size class ", 16);
		shm_fmt_u64(num, shm_classes[cls].size);
		line_str(&l, num, sizeof(num));
		line_str(&l, ")", 1);
	}
	line_str(&l, "\n", 1);
	shm_os_write(2, l.buf, l.len);
}

/* Damage the allocator cannot step around: always the end. */
SHM_COLD void shm_fatal(const char *func, const void *p, const char *problem,
	       unsigned cls)
{
	diagnose(func, p, problem, cls);
	abort();
}

/* A misuse by the program (an invalid or double free, a size mismatch):
 * the end too, unless on_error:report asked to carry on, in which case the
 * caller leaves the block alone and returns. */
SHM_COLD void shm_report(const char *func, const void *p, const char *problem,
		unsigned cls)
{
	diagnose(func, p, problem, cls);
	if (shm_opt.on_error != SHM_ON_ERROR_REPORT)
		abort();
}

/* "shimmer: " a b c, each part cut short if very long. */
SHM_COLD void shm_warn(const char *a, const char *b, const char *c)
{
	line_t l = { .len = 0 };

	line_str(&l, "shimmer: ", 16);
	if (a)
		line_str(&l, a, 160);
	if (b)
		line_str(&l, b, 160);
	if (c)
		line_str(&l, c, 160);
	line_str(&l, "\n", 1);
	shm_os_write(2, l.buf, l.len);
}

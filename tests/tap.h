/* SPDX-License-Identifier: MIT */
/*
 * tap.h - a minimal producer of the Test Anything Protocol.
 *
 * Every test program in this directory prints TAP on stdout and is run by
 * Automake's tap-driver.sh.  The state lives in one function-local static so
 * that the header can be included without tripping unused-variable warnings.
 *
 * Each line is flushed at once: a test that crashes must still have reported
 * everything it did before the crash, and a child created by fork() must not
 * inherit (and later print a second time) half-written output.
 *
 * Assertions are meant to be made from one thread; worker threads count
 * their failures and the main thread reports them.
 */
#ifndef SHIMMER_TAP_H
#define SHIMMER_TAP_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#if defined(__GNUC__)
# define TAP_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
# define TAP_PRINTF(f, a)
#endif

struct tap_state {
	int planned;	/* -1 until plan() is called */
	int run;
	int failed;
};

static inline struct tap_state *tap_state(void)
{
	static struct tap_state s = { -1, 0, 0 };
	return &s;
}

static inline void tap_vline(const char *prefix, const char *fmt, va_list ap)
{
	fputs(prefix, stdout);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	fflush(stdout);
}

static inline void plan(int n)
{
	tap_state()->planned = n;
	printf("1..%d\n", n);
	fflush(stdout);
}

static inline TAP_PRINTF(1, 2) void diag(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vline("# ", fmt, ap);
	va_end(ap);
}

static inline void tap_result(int pass, const char *fmt, va_list ap)
{
	struct tap_state *s = tap_state();

	s->run++;
	if (!pass)
		s->failed++;
	printf("%s %d - ", pass ? "ok" : "not ok", s->run);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	fflush(stdout);
}

/* Report one test; returns the condition so callers can chain diagnostics. */
static inline TAP_PRINTF(2, 3) int ok(int cond, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_result(cond != 0, fmt, ap);
	va_end(ap);
	return cond != 0;
}

static inline TAP_PRINTF(5, 6) int tap_is(intmax_t got, intmax_t want,
					  const char *file, int line,
					  const char *fmt, ...)
{
	va_list ap;
	int pass = got == want;

	va_start(ap, fmt);
	tap_result(pass, fmt, ap);
	va_end(ap);
	if (!pass) {
		printf("#   at %s line %d\n", file, line);
		printf("#          got: %jd (%#jx)\n", got, (uintmax_t)got);
		printf("#     expected: %jd (%#jx)\n", want, (uintmax_t)want);
		fflush(stdout);
	}
	return pass;
}

/* is(got, expected, "description", ...) for integers, sizes and errno. */
#define is(got, want, ...) \
	tap_is((intmax_t)(got), (intmax_t)(want), __FILE__, __LINE__, __VA_ARGS__)

static inline TAP_PRINTF(2, 3) void skip(int n, const char *why, ...)
{
	struct tap_state *s = tap_state();
	va_list ap;

	while (n-- > 0) {
		s->run++;
		printf("ok %d # SKIP ", s->run);
		va_start(ap, why);
		vprintf(why, ap);
		va_end(ap);
		fputc('\n', stdout);
	}
	fflush(stdout);
}

static inline TAP_PRINTF(1, 2) void bail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vline("Bail out! ", fmt, ap);
	va_end(ap);
	exit(255);
}

/*
 * Print the plan if none was given, complain about a wrong count, and return
 * the exit status for main(): 0 only when everything planned ran and passed.
 */
static inline int done_testing(void)
{
	struct tap_state *s = tap_state();

	if (s->planned < 0) {
		printf("1..%d\n", s->run);
		s->planned = s->run;
	}
	if (s->run != s->planned)
		printf("# planned %d tests but ran %d\n", s->planned, s->run);
	if (s->failed)
		printf("# failed %d of %d tests\n", s->failed, s->run);
	fflush(stdout);
	return (s->failed || s->run != s->planned) ? 1 : 0;
}

#endif /* SHIMMER_TAP_H */

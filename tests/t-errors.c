/* SPDX-License-Identifier: MIT */
/*
 * t-errors - misuse is caught, not silently absorbed: double frees (small,
 * large and huge blocks), frees of pointers the allocator never handed out
 * (stack, static data, a foreign mapping, the inside of a block), realloc of
 * a foreign pointer and free_sized with the wrong size each end the process
 * with SIGABRT after one line on stderr that starts with "shimmer:" and
 * names the function and the pointer.
 *
 * Every case runs in a child of its own; the parent checks the signal and
 * the message.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shimmer.h"
#include "tap.h"
#include "testutil.h"

static char static_area[256];

/* A case writes the pointer it is about to misuse to fd, so that the
 * parent can look for it in the message, then commits the error. */
typedef void misuse_fn(int fd);

static void announce(int fd, const void *p)
{
	uintptr_t v = (uintptr_t)p;

	if (write(fd, &v, sizeof v) != (ssize_t)sizeof v)
		_exit(3);
}

static void double_free_small(int fd)
{
	void *p = malloc(hide_size(64));

	announce(fd, p);
	free(p);
	free(hide_ptr(p));
}

static void double_free_small_later(int fd)
{
	void *p = malloc(hide_size(200)), *q[100];

	announce(fd, p);
	free(p);
	/* Other traffic between the two frees. */
	for (int i = 0; i < 100; i++)
		q[i] = malloc(hide_size(200 + (size_t)i * 50));
	for (int i = 0; i < 100; i++)
		free(q[i]);
	free(hide_ptr(p));
}

static void double_free_large(int fd)
{
	void *p = malloc(hide_size(100000));

	announce(fd, p);
	free(p);
	free(hide_ptr(p));
}

static void double_free_huge(int fd)
{
	void *p = malloc(hide_size(8 << 20));

	announce(fd, p);
	free(p);
	free(hide_ptr(p));
}

static void free_stack(int fd)
{
	char buf[64];

	memset(buf, 0, sizeof buf);
	announce(fd, buf);
	free(hide_ptr(buf));
}

static void free_static(int fd)
{
	announce(fd, static_area + 16);
	free(hide_ptr(static_area + 16));
}

static void free_foreign_mapping(int fd)
{
	void *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED)
		_exit(3);
	announce(fd, (char *)m + 4096);
	free((char *)m + 4096);
}

static void free_interior_small(int fd)
{
	char *p = malloc(hide_size(1000));

	announce(fd, p + 16);
	free(hide_ptr(p + 16));
}

static void free_interior_large(int fd)
{
	char *p = malloc(hide_size(200000));

	announce(fd, p + 8192);
	free(hide_ptr(p + 8192));
}

/* A page of a chunk that no block has used yet: its descriptor was never
 * written, and must still not pass for a block.  The chunk is 4 MiB and
 * aligned to its size; a fresh process has not handed out its last page. */
static void free_unused_page(int fd)
{
	char *p = malloc(hide_size(100));
	uintptr_t chunk = (uintptr_t)p & ~(((uintptr_t)4 << 20) - 1);
	char *q = (char *)chunk + (4 << 20) - 4096;

	announce(fd, q);
	free(hide_ptr(q));
}

static void realloc_foreign(int fd)
{
	char buf[64];

	memset(buf, 0, sizeof buf);
	announce(fd, buf);
	void *q = realloc(hide_ptr(buf), hide_size(100));
	free(q);
}

static void free_sized_wrong(int fd)
{
	void *p = malloc(hide_size(100));

	announce(fd, p);
	free_sized(p, hide_size(100000));
}

static void free_sized_wrong_large(int fd)
{
	void *p = malloc(hide_size(300000));

	announce(fd, p);
	free_sized(p, hide_size(24));
}

static const struct {
	const char *name;
	const char *func;	/* the function the message must name */
	misuse_fn *fn;
} cases[] = {
	{ "double free of a small block", "free", double_free_small },
	{ "double free of a small block, other frees between", "free", double_free_small_later },
	{ "double free of a large block", "free", double_free_large },
	{ "double free of a huge block", "free", double_free_huge },
	{ "free of a stack address", "free", free_stack },
	{ "free of a static address", "free", free_static },
	{ "free inside a mapping the allocator does not own", "free", free_foreign_mapping },
	{ "free of a pointer inside a small block", "free", free_interior_small },
	{ "free of a pointer inside a large block", "free", free_interior_large },
	{ "free of a chunk page no block has used", "free", free_unused_page },
	{ "realloc of a stack address", "realloc", realloc_foreign },
	{ "free_sized with a much larger size", "free_sized", free_sized_wrong },
	{ "free_sized with a much smaller size", "free_sized", free_sized_wrong_large },
};

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

static void run_case(size_t i)
{
	int ptr_pipe[2], err_pipe[2], st;
	char err[4096] = "", hex[32];
	uintptr_t ptr = 0;
	ssize_t n, len = 0;
	pid_t pid;

	if (pipe(ptr_pipe) || pipe(err_pipe))
		bail("pipe: %s", strerror(errno));
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		bail("fork: %s", strerror(errno));
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };

		setrlimit(RLIMIT_CORE, &no_core);
		alarm(20);
		close(ptr_pipe[0]);
		close(err_pipe[0]);
		dup2(err_pipe[1], 2);
		cases[i].fn(ptr_pipe[1]);
		_exit(0);	/* the misuse went unnoticed */
	}
	close(ptr_pipe[1]);
	close(err_pipe[1]);
	if (read(ptr_pipe[0], &ptr, sizeof ptr) != (ssize_t)sizeof ptr)
		ptr = 0;
	while (len < (ssize_t)sizeof err - 1 &&
	       (n = read(err_pipe[0], err + len, sizeof err - 1 - (size_t)len)) > 0)
		len += n;
	err[len] = '\0';
	close(ptr_pipe[0]);
	close(err_pipe[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;

	int aborted = WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
	if (!ok(aborted, "%s: the process aborts", cases[i].name)) {
		if (WIFSIGNALED(st))
			diag("killed by signal %d instead", WTERMSIG(st));
		else
			diag("exited with status %d instead", WEXITSTATUS(st));
	}

	snprintf(hex, sizeof hex, "%jx", (uintmax_t)ptr);
	lower(err);
	int lines = 0;
	for (char *c = err; *c; c++)
		lines += *c == '\n';
	int named = lines == 1 && strncmp(err, "shimmer:", 8) == 0 &&
		    strstr(err, cases[i].func) != NULL &&
		    ptr != 0 && strstr(err, hex) != NULL;
	if (!ok(named, "%s: one line on stderr names shimmer, %s() and the pointer",
		cases[i].name, cases[i].func))
		diag("pointer %s; stderr: %.300s", hex, err);
}

int main(void)
{
	/* Where a pipe's reader is gone, the child must see EPIPE, not die. */
	signal(SIGPIPE, SIG_IGN);
	plan((int)(2 * (sizeof cases / sizeof cases[0])));
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		run_case(i);
	return done_testing();
}

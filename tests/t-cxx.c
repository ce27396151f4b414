/* SPDX-License-Identifier: MIT */
/*
 * t-cxx - C++'s operators new and delete are Shimmer's in a program linked
 * with libshimmer ahead of the C++ runtime: all twenty resolve into the
 * library; new hands out Shimmer blocks (aligned where asked) that every
 * delete frees; and a new that cannot allocate behaves as the standard
 * has it, through the C++ runtime's own operator: the program's
 * new-handler runs, the nothrow forms return NULL, and the others throw
 * std::bad_alloc.  Written in C: the operators are called by their
 * mangled names, and a throw that nothing catches ends in std::terminate.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shimmer.h"
#include "tap.h"
#include "testutil.h"

#if SIZE_MAX == UINT_MAX
#define SZ "j"
#else
#define SZ "m"
#endif
#define AL "St11align_val_t"
#define NT "RKSt9nothrow_t"

static const char *const names[] = {
	"_Znw" SZ, "_Zna" SZ, "_Znw" SZ NT, "_Zna" SZ NT,
	"_Znw" SZ AL, "_Zna" SZ AL, "_Znw" SZ AL NT, "_Zna" SZ AL NT,
	"_ZdlPv", "_ZdaPv", "_ZdlPv" SZ, "_ZdaPv" SZ, "_ZdlPv" NT, "_ZdaPv" NT,
	"_ZdlPv" AL, "_ZdaPv" AL, "_ZdlPv" SZ AL, "_ZdaPv" SZ AL,
	"_ZdlPv" AL NT, "_ZdaPv" AL NT,
};

void *op_new(size_t) __asm__("_Znw" SZ);
void *op_new_array_nothrow(size_t, const void *) __asm__("_Zna" SZ NT);
void *op_new_aligned(size_t, size_t) __asm__("_Znw" SZ AL);
void op_delete_sized(void *, size_t) __asm__("_ZdlPv" SZ);
void op_delete_array(void *) __asm__("_ZdaPv");
void op_delete_sized_aligned(void *, size_t, size_t) __asm__("_ZdlPv" SZ AL);
/* std::set_new_handler */
typedef void handler_fn(void);
handler_fn *set_new_handler(handler_fn *) __asm__("_ZSt15set_new_handlerPFvvE");

/* std::nothrow: only its address is passed. */
static const char nothrow_tag;

static int handler_calls;

/* A new-handler that cannot free anything: it removes itself, so that
 * the next failure is final. */
static void give_up(void)
{
	handler_calls++;
	set_new_handler(NULL);
}

/* In a child: call operator new for more than can be had, with nothing
 * to catch what it throws.  Whether it died of SIGABRT with std::bad_alloc
 * named on stderr. */
static int new_throws(void)
{
	int err_pipe[2], st;
	char err[512];
	ssize_t n, len = 0;

	if (pipe(err_pipe))
		bail("pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		bail("fork: %s", strerror(errno));
	if (pid == 0) {
		close(err_pipe[0]);
		dup2(err_pipe[1], 2);
		void *volatile p = op_new(hide_size(SIZE_MAX / 2));
		(void)p;
		_exit(0);
	}
	close(err_pipe[1]);
	while (len < (ssize_t)sizeof(err) - 1 &&
	       (n = read(err_pipe[0], err + len, sizeof(err) - 1 - (size_t)len)) > 0)
		len += n;
	err[len] = '\0';
	close(err_pipe[0]);
	waitpid(pid, &st, 0);
	if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT) ||
	    strstr(err, "bad_alloc") == NULL) {
		diag("status %d, stderr: %.200s", st, err);
		return 0;
	}
	return 1;
}

int main(void)
{
	int all = 1;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *where;
		if (!in_shimmer(dlsym(RTLD_DEFAULT, names[i]), &where)) {
			diag("%s resolves to %s", names[i], where);
			all = 0;
		}
	}
	ok(all, "all %zu operators new and delete resolve into libshimmer",
	   sizeof(names) / sizeof(names[0]));

	void *p = op_new(100);
	ok(p && shimmer_usable_size(p) >= 100, "operator new gives a Shimmer block");
	op_delete_sized(p, 100);
	void *q = op_new_aligned(300, 256);
	ok(q && is_aligned(q, 256) && shimmer_usable_size(q) >= 300,
	   "aligned operator new gives a block on the boundary");
	op_delete_sized_aligned(q, 300, 256);
	void *a = op_new_array_nothrow(40, &nothrow_tag);
	ok(a != NULL, "nothrow operator new[] allocates");
	op_delete_array(a);

	ok(op_new_array_nothrow(hide_size(SIZE_MAX / 2), &nothrow_tag) == NULL,
	   "nothrow operator new[] returns NULL for more than can be had");
	set_new_handler(give_up);
	void *r = op_new_array_nothrow(hide_size(SIZE_MAX / 2), &nothrow_tag);
	ok(r == NULL && handler_calls == 1,
	   "after calling the program's new-handler (%d calls)", handler_calls);
	ok(new_throws(), "operator new throws std::bad_alloc");
	return done_testing();
}

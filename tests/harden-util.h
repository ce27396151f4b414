/* SPDX-License-Identifier: MIT */
/*
 * harden-util.h - running one case of a hardening test in a child process.
 *
 * Options are read once, when the allocator starts, so a case that needs
 * SHIMMER_OPTIONS cannot run in the test's own process.  Each case is run
 * by re-executing the test program (/proc/self/exe) with the case's name as
 * its argument and the options in the environment; the program's main()
 * hands such an argument to harden_child_main().  The parent collects the
 * child's stdout, its stderr and how it ended, and checks them.
 *
 * A child that is about to misuse a block announces the address it expects
 * the diagnostic to name ("addr 0x..." on stdout), with write(2) so that
 * nothing is left in a stdio buffer when it dies.
 *
 * A diagnostic must be exactly one line of the documented form
 *     shimmer: FUNC(): PROBLEM 0xADDR
 * optionally followed by " (size class N)".
 */
#ifndef SHIMMER_HARDEN_UTIL_H
#define SHIMMER_HARDEN_UTIL_H

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"

/* Each case must finish in a few seconds; a child that hangs is killed. */
#define HARDEN_CHILD_SECONDS 30

struct harden_case {
	const char *name;	/* the argument the child runs with */
	const char *desc;	/* what the test reports */
	const char *options;	/* SHIMMER_OPTIONS, NULL for none */
	void (*fn)(void);	/* the child's work; returning means exit 0 */
};

struct child_result {
	int status;		/* from waitpid */
	char out[16384];
	char err[16384];
};

/* ---- In the child ----------------------------------------------------------- */

static inline void child_say(const char *text)
{
	size_t n = strlen(text);

	while (n > 0) {
		ssize_t w = write(1, text, n);
		if (w <= 0)
			_exit(3);
		text += w;
		n -= (size_t)w;
	}
}

/* Tell the parent which address the diagnostic must name. */
static inline void child_announce(const void *p)
{
	char line[64];

	snprintf(line, sizeof line, "addr %#" PRIxPTR "\n", (uintptr_t)p);
	child_say(line);
}

/* A check inside the child: on failure, say why and exit 1. */
/* Overwrite the byte at p[i] with a different value.  A fixed value would
 * equal a random canary's byte there once in 256 runs, and the overflow
 * would rightly go unseen. */
static inline void child_clobber(unsigned char *p, size_t i)
{
	p[i] = (unsigned char)~p[i];
}

static inline void child_require(int cond, const char *what)
{
	if (!cond) {
		child_say("failed: ");
		child_say(what);
		child_say("\n");
		_exit(1);
	}
}

/*
 * Run the case named name, if there is one: the re-executed test program
 * calls this first.  Returns only when name is no case of the table.
 */
static inline void harden_child_main(const struct harden_case *cases,
				     size_t ncases, const char *name)
{
	struct rlimit no_core = { 0, 0 };

	for (size_t i = 0; i < ncases; i++) {
		if (strcmp(cases[i].name, name) != 0)
			continue;
		/* A deliberate crash should not leave a core file behind. */
		setrlimit(RLIMIT_CORE, &no_core);
		alarm(HARDEN_CHILD_SECONDS);
		cases[i].fn();
		_exit(0);
	}
}

/* ---- In the parent ---------------------------------------------------------- */

/* Start self_exe with argument name and the options; collect everything. */
static inline void harden_run(const char *self_exe, const char *name,
			      const char *options, struct child_result *r)
{
	int out_pipe[2], err_pipe[2];
	size_t out_len = 0, err_len = 0;
	pid_t pid;

	if (pipe(out_pipe) || pipe(err_pipe))
		bail("pipe: %s", strerror(errno));
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		bail("fork: %s", strerror(errno));
	if (pid == 0) {
		char *argv[] = { (char *)self_exe, (char *)name, NULL };

		dup2(out_pipe[1], 1);
		dup2(err_pipe[1], 2);
		close(out_pipe[0]);
		close(out_pipe[1]);
		close(err_pipe[0]);
		close(err_pipe[1]);
		if (options)
			setenv("SHIMMER_OPTIONS", options, 1);
		else
			unsetenv("SHIMMER_OPTIONS");
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(out_pipe[1]);
	close(err_pipe[1]);

	/* Both pipes at once: a child blocked on a full one must not stall. */
	struct pollfd fds[2] = {
		{ .fd = out_pipe[0], .events = POLLIN },
		{ .fd = err_pipe[0], .events = POLLIN },
	};
	int open_fds = 2;
	while (open_fds > 0) {
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			bail("poll: %s", strerror(errno));
		}
		for (int i = 0; i < 2; i++) {
			char *buf = i == 0 ? r->out : r->err;
			size_t *len = i == 0 ? &out_len : &err_len;
			size_t cap = i == 0 ? sizeof r->out : sizeof r->err;
			char sink[4096];
			ssize_t n;

			if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (*len < cap - 1)
				n = read(fds[i].fd, buf + *len, cap - 1 - *len);
			else
				n = read(fds[i].fd, sink, sizeof sink);
			if (n > 0 && *len < cap - 1) {
				*len += (size_t)n;
			} else if (n == 0 || (n < 0 && errno != EINTR)) {
				close(fds[i].fd);
				fds[i].fd = -1;
				open_fds--;
			}
		}
	}
	r->out[out_len] = '\0';
	r->err[err_len] = '\0';
	while (waitpid(pid, &r->status, 0) < 0)
		if (errno != EINTR)
			bail("waitpid: %s", strerror(errno));
}

/* The first lines of a child's output, each as a diagnostic. */
static inline void harden_show_text(const char *what, const char *text)
{
	int lines = 0;

	diag("child %s:%s", what, *text ? "" : " (empty)");
	while (*text && lines++ < 12) {
		int n = (int)strcspn(text, "\n");

		diag("  %.*s", n > 200 ? 200 : n, text);
		text += n;
		if (*text == '\n')
			text++;
	}
}

static inline void harden_show(const struct child_result *r)
{
	if (WIFSIGNALED(r->status))
		diag("child killed by signal %d", WTERMSIG(r->status));
	else if (WIFEXITED(r->status))
		diag("child exited with status %d", WEXITSTATUS(r->status));
	harden_show_text("stdout", r->out);
	harden_show_text("stderr", r->err);
}

/* The address the child announced, or 0. */
static inline uintptr_t harden_announced(const struct child_result *r)
{
	const char *s = strstr(r->out, "addr 0x");
	unsigned long long v;

	if (s == NULL || sscanf(s + 5, "%llx", &v) != 1)
		return 0;
	return (uintptr_t)v;
}

static inline int harden_died_by(const struct child_result *r, int sig)
{
	return WIFSIGNALED(r->status) && WTERMSIG(r->status) == sig;
}

static inline int harden_exited_ok(const struct child_result *r)
{
	return WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0;
}

/*
 * Whether text is exactly one diagnostic line naming one of the functions
 * in funcs ("free|realloc"), one of the problems in problem (alternatives
 * also separated by '|'), an address and, when cls is not 0, the size
 * class cls (cls < 0: a size class may or may not follow).  The address is
 * stored in *addr.
 */
static inline int harden_parse_line(const char *text, const char *funcs,
				    const char *problem, long cls,
				    uintptr_t *addr)
{
	const char *s = text, *f = funcs;
	size_t n;
	char *end;

	*addr = 0;
	if (strncmp(s, "shimmer: ", 9) != 0)
		return 0;
	s += 9;
	/* One of the function names, then "(): ". */
	for (;;) {
		n = strcspn(f, "|");
		if (strncmp(s, f, n) == 0 && strncmp(s + n, "(): ", 4) == 0)
			break;
		if (f[n] == '\0')
			return 0;
		f += n + 1;
	}
	s += n + 4;
	/* One of the problems, then a space and the address (one problem may
	 * be the start of another, so the address decides). */
	for (f = problem;;) {
		n = strcspn(f, "|");
		if (strncmp(s, f, n) == 0 && strncmp(s + n, " 0x", 3) == 0)
			break;
		if (f[n] == '\0')
			return 0;
		f += n + 1;
	}
	s += n + 1;
	if (strncmp(s, "0x", 2) != 0 || !strchr("0123456789abcdef", s[2]) ||
	    s[2] == '\0')
		return 0;
	*addr = (uintptr_t)strtoull(s + 2, &end, 16);
	s = end;
	if (strncmp(s, " (size class ", 13) == 0) {
		long got;

		if (cls == 0)
			return 0;
		got = strtol(s + 13, &end, 10);
		if (end == s + 13 || strcmp(end, ")\n") != 0)
			return 0;
		return cls < 0 || got == cls;
	}
	return cls <= 0 && strcmp(s, "\n") == 0;
}

/*
 * The case must end by signal sig after exactly one diagnostic line of the
 * expected form, naming the address the child announced (if it did).
 * Two results: the signal, and the line.
 */
static inline void harden_expect_death(const struct harden_case *c,
				       const char *self_exe, int sig,
				       const char *funcs, const char *problem,
				       long cls)
{
	struct child_result r;
	uintptr_t want, got;

	harden_run(self_exe, c->name, c->options, &r);
	want = harden_announced(&r);
	if (!ok(harden_died_by(&r, sig), "%s: killed by signal %d", c->desc, sig))
		harden_show(&r);
	int line = harden_parse_line(r.err, funcs, problem, cls, &got);
	if (!ok(line && want != 0 && got == want,
		"%s: one line \"shimmer: %s(): %s %#" PRIxPTR "%s\"", c->desc,
		funcs, problem, want, cls > 0 ? " (size class ...)" : "")) {
		diag("expected size class %ld, address %#" PRIxPTR, cls, want);
		harden_show(&r);
	}
}

/* The case must run to the end, exit 0 and print nothing on stderr. */
static inline void harden_expect_clean(const struct harden_case *c,
				       const char *self_exe)
{
	struct child_result r;

	harden_run(self_exe, c->name, c->options, &r);
	if (!ok(harden_exited_ok(&r) && r.err[0] == '\0',
		"%s: exits 0 with nothing on stderr", c->desc))
		harden_show(&r);
}

#endif /* SHIMMER_HARDEN_UTIL_H */

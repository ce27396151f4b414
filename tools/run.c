/* SPDX-License-Identifier: MIT */
/*
 * run.c - "shimmer run": put libshimmer in front of LD_PRELOAD, add the
 * options to SHIMMER_OPTIONS, and exec the program.
 *
 * The program replaces this process rather than running as its child, so
 * its exit status, its signals and its statistics report at exit are its
 * own, with nothing of ours in between.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"

#ifndef SHIMMER_LIBDIR
# error "SHIMMER_LIBDIR must name the directory the library is installed to"
#endif

#define RUN_SONAME "libshimmer.so.1"

/* A growing string for the options. */
typedef struct run_buf {
	char *s;
	size_t len, cap;
} run_buf_t;

static void run_buf_add(run_buf_t *b, const char *text)
{
	size_t n = strlen(text), need = b->len + n + 2;

	if (need > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		char *s;

		while (cap < need)
			cap *= 2;
		s = realloc(b->s, cap);
		if (!s) {
			tool_error("out of memory");
			exit(TOOL_EXIT_FAIL);
		}
		b->s = s;
		b->cap = cap;
	}
	if (b->len)
		b->s[b->len++] = ',';
	memcpy(b->s + b->len, text, n + 1);
	b->len += n;
}

/* DIR/UP/lib/.libs/libshimmer.so.1 with the directory made absolute, if
 * the file is there.  The name stays the soname, not the file it links to,
 * as a program linked with the library would load it. */
static char *run_lib_beside(const char *dir, const char *up)
{
	char path[PATH_MAX], *real, *lib = NULL;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s/lib/.libs", dir, up) >=
	    sizeof(path))
		return NULL;
	real = realpath(path, NULL);
	if (real && asprintf(&lib, "%s/" RUN_SONAME, real) < 0)
		lib = NULL;
	free(real);
	if (lib && access(lib, R_OK) != 0) {
		free(lib);
		lib = NULL;
	}
	return lib;
}

/*
 * The built, uninstalled library if this program runs from a build tree:
 * tools/shimmer next to lib/.libs/, or, when libtool keeps the real binary
 * in tools/.libs/ behind a wrapper, two levels up.
 */
static char *run_build_tree_lib(const char *argv0)
{
	char exe[PATH_MAX], *slash, *lib;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0) {
		/* No /proc: fall back on how we were called. */
		if (!argv0 || !strchr(argv0, '/') || strlen(argv0) >= sizeof(exe))
			return NULL;
		strcpy(exe, argv0);
	} else {
		exe[n] = '\0';
	}
	slash = strrchr(exe, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	if (!*exe)
		strcpy(exe, "/");
	lib = run_lib_beside(exe, "..");
	if (!lib) {
		const char *base = strrchr(exe, '/');

		if (base && !strcmp(base + 1, ".libs"))
			lib = run_lib_beside(exe, "../..");
	}
	return lib;
}

static char *run_find_lib(const char *argv0)
{
	const char *env = getenv("SHIMMER_LIB");
	char *lib;

	if (env && *env)
		return strdup(env);
	lib = run_build_tree_lib(argv0);
	return lib ? lib : strdup(SHIMMER_LIBDIR "/" RUN_SONAME);
}

static void run_usage(void)
{
	fputs("Usage: shimmer run [-o KEY:VAL,...] [--stats[=text|json]] [--] PROGRAM [ARGS...]\n"
	      "Runs PROGRAM with libshimmer preloaded.\n"
	      "  -o KEY:VAL,...     Shimmer options (see shimmer(3), SHIMMER_OPTIONS)\n"
	      "  --stats[=FORMAT]   print the allocator's statistics to stderr at exit\n"
	      "                     (FORMAT text, the default, or json)\n",
	      stdout);
}

int cmd_run(int argc, char **argv)
{
	run_buf_t opts = { NULL, 0, 0 };
	const char *old;
	char *lib, *value;
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--")) {
			i++;
			break;
		} else if (!strcmp(a, "-o")) {
			if (i + 1 >= argc || !argv[i + 1][0])
				tool_usage_error("-o needs KEY:VAL");
			run_buf_add(&opts, argv[++i]);
		} else if (!strncmp(a, "-o", 2)) {
			run_buf_add(&opts, a + 2);
		} else if (!strcmp(a, "--stats") || !strcmp(a, "--stats=text")) {
			run_buf_add(&opts, "stats_print:true");
			if (a[7])
				run_buf_add(&opts, "stats_format:text");
		} else if (!strcmp(a, "--stats=json")) {
			run_buf_add(&opts, "stats_print:true,stats_format:json");
		} else if (!strncmp(a, "--stats=", 8)) {
			tool_usage_error("unknown statistics format '%s'", a + 8);
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			run_usage();
			return TOOL_EXIT_OK;
		} else if (a[0] == '-' && a[1]) {
			tool_usage_error("unknown option '%s'", a);
		} else {
			break;
		}
	}
	if (i >= argc)
		tool_usage_error("no program to run");

	lib = run_find_lib(argv[0]);
	/* ld.so splits LD_PRELOAD at spaces and colons. */
	if (strpbrk(lib, " :")) {
		tool_error("%s: cannot be preloaded: the path holds a space or a colon",
			   lib);
		free(lib);
		free(opts.s);
		return TOOL_EXIT_NOTFOUND;
	}
	if (access(lib, R_OK) != 0) {
		tool_error("cannot find %s: %s (SHIMMER_LIB names another)", lib,
			   strerror(errno));
		free(lib);
		free(opts.s);
		return TOOL_EXIT_NOTFOUND;
	}

	if (opts.len) {
		old = getenv("SHIMMER_OPTIONS");
		if (old && *old) {
			if (asprintf(&value, "%s,%s", old, opts.s) < 0)
				value = NULL;
		} else {
			value = strdup(opts.s);
		}
		if (!value || setenv("SHIMMER_OPTIONS", value, 1) != 0) {
			tool_error("cannot set SHIMMER_OPTIONS: %s", strerror(errno));
			return TOOL_EXIT_FAIL;
		}
		free(value);
	}
	old = getenv("LD_PRELOAD");
	if (old && *old) {
		if (asprintf(&value, "%s:%s", lib, old) < 0)
			value = NULL;
	} else {
		value = strdup(lib);
	}
	if (!value || setenv("LD_PRELOAD", value, 1) != 0) {
		tool_error("cannot set LD_PRELOAD: %s", strerror(errno));
		return TOOL_EXIT_FAIL;
	}
	free(value);
	free(lib);
	free(opts.s);

	fflush(stdout);
	execvp(argv[i], argv + i);
	/* The statuses a shell gives, so scripts can tell the cases apart. */
	if (errno == ENOENT || errno == ENOTDIR) {
		if (strchr(argv[i], '/'))
			tool_error("%s: %s", argv[i], strerror(errno));
		else
			tool_error("%s: command not found", argv[i]);
		return TOOL_EXIT_NOTFOUND;
	}
	tool_error("%s: cannot execute: %s", argv[i], strerror(errno));
	return TOOL_EXIT_NOEXEC;
}

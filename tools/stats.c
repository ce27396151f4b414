/* SPDX-License-Identifier: MIT */
/*
 * stats.c - "shimmer stats": the allocator statistics of a running
 * process, read from the mapping it publishes, as text or JSON, once or
 * every few seconds until the process exits.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pubread.h"
#include "tool.h"

/* The classes shown in the text report. */
#define STATS_TOP 8

typedef struct stats_opts {
	bool json;
	bool watch;
	double interval;
	int pid;
} stats_opts_t;

static void stats_usage(FILE *f)
{
	fputs("Usage: shimmer stats [--json] [--watch SECONDS] PID\n"
	      "Shows the Shimmer statistics of running process PID.\n"
	      "  --json            one JSON object (one per line with --watch)\n"
	      "  --watch SECONDS   repeat every SECONDS until the process exits\n",
	      f);
}

/* Busiest first; ties in class order, so the order is stable. */
static int stats_by_nmalloc(const void *a, const void *b)
{
	const pub_class_t *x = a, *y = b;

	if (x->nmalloc != y->nmalloc)
		return x->nmalloc > y->nmalloc ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* The classes that were ever used, busiest first; returns how many. */
static size_t stats_used_classes(const pub_t *p, pub_class_t cls[SHM_PUB_CLASSES])
{
	size_t n = 0;

	pub_classes(p, cls);
	for (size_t c = 0; c < SHM_PUB_CLASSES; c++)
		if (cls[c].nmalloc || cls[c].nslabs)
			cls[n++] = cls[c];
	qsort(cls, n, sizeof(*cls), stats_by_nmalloc);
	return n;
}

/* The library's version string, kept to characters that need no escape
 * in either format. */
static void stats_clean(char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e || *s == '"' || *s == '\\')
			*s = '?';
}

static void stats_text(const pub_t *p, bool watch)
{
	pub_totals_t t;
	pub_class_t cls[SHM_PUB_CLASSES];
	char comm[64], h[TOOL_HUMAN], version[sizeof(p->version)];
	uint64_t rss;
	size_t n;
	static const char *const names[] = {
		"allocated:", "active:", "dirty:", "mapped:", "huge:"
	};
	uint64_t vals[5];

	pub_totals(p, &t);
	pub_comm(p, comm, sizeof(comm));
	stats_clean(comm);
	memcpy(version, p->version, sizeof(version));
	stats_clean(version);
	printf("shimmer %s statistics of process %d", version, p->pid);
	if (*comm)
		printf(" (%s)", comm);
	if (watch) {
		time_t now = time(NULL);
		struct tm tm;
		char when[16];

		if (localtime_r(&now, &tm) && strftime(when, sizeof(when), "%H:%M:%S", &tm))
			printf(" at %s", when);
	}
	putchar('\n');
	vals[0] = t.allocated;
	vals[1] = t.active;
	vals[2] = t.dirty;
	vals[3] = t.mapped;
	vals[4] = t.huge;
	for (size_t i = 0; i < 5; i++)
		printf("  %-14s %-14llu (%s)\n", names[i], (unsigned long long)vals[i],
		       tool_human(vals[i], h));
	if (pub_rss(p, &rss))
		printf("  %-14s %-14llu (%s)\n", "rss:", (unsigned long long)rss,
		       tool_human(rss, h));
	else
		printf("  %-14s -\n", "rss:");
	printf("  %-14s %u\n", "narenas:", (unsigned)p->narenas);
	printf("  %-14s %llu\n", "nchunks:", (unsigned long long)t.nchunks);
	printf("  %-14s %llu\n", "nmalloc:", (unsigned long long)t.nmalloc);
	printf("  %-14s %llu\n", "nfree:", (unsigned long long)t.nfree);

	n = stats_used_classes(p, cls);
	if (n == 0)
		return;
	printf("busiest size classes:\n"
	       "  %10s %14s %14s %9s %7s\n", "size", "nmalloc", "live", "slabs", "util");
	for (size_t i = 0; i < n && i < STATS_TOP; i++)
		printf("  %10llu %14llu %14llu %9llu %6.1f%%\n",
		       (unsigned long long)cls[i].size,
		       (unsigned long long)cls[i].nmalloc,
		       (unsigned long long)cls[i].live,
		       (unsigned long long)cls[i].nslabs, cls[i].util * 100);
}

/* One JSON object, laid out like the library's own report: pretty when
 * alone, one line per report with --watch (JSON Lines). */
static void stats_json(const pub_t *p, bool oneline)
{
	const char *nl = oneline ? "" : "\n", *ind = oneline ? "" : "  ";
	const char *sp = oneline ? " " : "";
	pub_totals_t t;
	pub_class_t cls[SHM_PUB_CLASSES];
	char version[sizeof(p->version)];
	uint64_t rss;
	size_t n;
	static const char *const names[] = {
		"allocated", "active", "dirty", "mapped", "huge", "nchunks",
		"nmalloc", "nfree"
	};
	uint64_t vals[8];

	pub_totals(p, &t);
	vals[0] = t.allocated;
	vals[1] = t.active;
	vals[2] = t.dirty;
	vals[3] = t.mapped;
	vals[4] = t.huge;
	vals[5] = t.nchunks;
	vals[6] = t.nmalloc;
	vals[7] = t.nfree;
	memcpy(version, p->version, sizeof(version));
	stats_clean(version);
	printf("{%s%s\"version\": \"%s\",%s%s%s\"pid\": %d,", nl, ind, version, nl,
	       sp, ind, p->pid);
	for (size_t i = 0; i < 8; i++)
		printf("%s%s%s\"%s\": %llu,", nl, sp, ind, names[i],
		       (unsigned long long)vals[i]);
	if (pub_rss(p, &rss))
		printf("%s%s%s\"rss\": %llu,", nl, sp, ind, (unsigned long long)rss);
	else
		printf("%s%s%s\"rss\": null,", nl, sp, ind);
	printf("%s%s%s\"narenas\": %u,", nl, sp, ind, (unsigned)p->narenas);
	printf("%s%s%s\"classes\": [", nl, sp, ind);
	n = stats_used_classes(p, cls);
	for (size_t i = 0; i < n; i++)
		printf("%s%s%s%s%s{\"class\": %u, \"size\": %llu, \"nmalloc\": %llu, "
		       "\"nfree\": %llu, \"live\": %llu, \"slabs\": %llu, "
		       "\"util\": %u, \"nfills\": %llu, \"nflushes\": %llu}",
		       i ? "," : "", i ? sp : "", nl, ind, ind,
		       cls[i].index, (unsigned long long)cls[i].size,
		       (unsigned long long)cls[i].nmalloc,
		       (unsigned long long)cls[i].nfree,
		       (unsigned long long)cls[i].live,
		       (unsigned long long)cls[i].nslabs,
		       (unsigned)(cls[i].util * 1000 + 0.5),
		       (unsigned long long)cls[i].nfills,
		       (unsigned long long)cls[i].nflushes);
	printf("%s%s]%s}\n", n ? nl : "", n ? ind : "", nl);
}

/* Sleep the interval, resuming after signals that do not end us. */
static void stats_sleep(double seconds)
{
	struct timespec ts;

	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void stats_parse(int argc, char **argv, stats_opts_t *o)
{
	const char *pid = NULL;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;

		if (!strcmp(a, "--json")) {
			o->json = true;
			continue;
		}
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			stats_usage(stdout);
			exit(TOOL_EXIT_OK);
		}
		if (!strcmp(a, "--watch") || !strcmp(a, "-w")) {
			if (i + 1 >= argc)
				tool_usage_error("%s needs a number of seconds", a);
			val = argv[++i];
		} else if (!strncmp(a, "--watch=", 8)) {
			val = a + 8;
		} else if (a[0] == '-' && strcmp(a, "--")) {
			tool_usage_error("unknown option '%s'", a);
		} else {
			if (!strcmp(a, "--")) {
				if (i + 1 >= argc)
					break;
				a = argv[++i];
			}
			if (pid)
				tool_usage_error("one process at a time: '%s' and '%s'",
						 pid, a);
			pid = a;
			continue;
		}
		char *end;

		errno = 0;
		o->interval = strtod(val, &end);
		if (errno || end == val || *end || !isfinite(o->interval) ||
		    o->interval < 0.1 || o->interval > 86400)
			tool_usage_error("--watch needs a number of seconds from 0.1 "
					 "to 86400, not '%s'", val);
		o->watch = true;
	}
	if (!pid)
		tool_usage_error("stats needs the ID of a process");
	if (!tool_parse_pid(pid, &o->pid))
		tool_usage_error("'%s' is not a process ID", pid);
}

int cmd_stats(int argc, char **argv)
{
	stats_opts_t o = { false, false, 0, 0 };
	pub_t p;
	int rc;

	stats_parse(argc, argv, &o);
	if ((rc = pub_open(&p, o.pid, false)))
		return rc;
	for (bool first = true; ; first = false) {
		if (!first && !o.json)
			putchar('\n');
		if (o.json)
			stats_json(&p, o.watch);
		else
			stats_text(&p, o.watch);
		if (fflush(stdout) != 0 || ferror(stdout)) {
			tool_error("cannot write the report: %s", strerror(errno));
			pub_close(&p);
			return TOOL_EXIT_FAIL;
		}
		if (!o.watch)
			break;
		stats_sleep(o.interval);
		if (!pub_alive(&p)) {
			/* Keep standard output JSON for programs that read it. */
			fprintf(o.json ? stderr : stdout, "%sprocess %d has exited\n",
				o.json ? "shimmer: " : "", o.pid);
			break;
		}
	}
	pub_close(&p);
	return fflush(stdout) == 0 ? TOOL_EXIT_OK : TOOL_EXIT_FAIL;
}

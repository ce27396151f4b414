/* SPDX-License-Identifier: MIT */
/*
 * options.c - SHIMMER_OPTIONS="key:value,key:value", read once at start-up.
 *
 * shm_option_table is the single list of options: the parser reads it, and
 * the ENVIRONMENT section of shimmer(3) is checked against it by the tests.
 * A bad key or value gets one warning naming it and the accepted values,
 * and is ignored; the program runs on.
 */
#include "shimmer-internal.h"

#include <string.h>

shm_options_t shm_opt = {
	.narenas = 0,			/* 0: four per CPU, decided at start */
	.tcache = 1,
	.tcache_max = SHM_SMALL_MAX,
	/* Half a second: a program that frees most of its memory has it back
	 * with the system within a second, its pages purged well clear of
	 * the mark, where at 1000 the purge of the last pages freed fell
	 * right on it (bench/memreturn's RSS 1 s after freeing its gigabyte
	 * was 19 MiB in one run, 290 in the next).  bench/ kept its times
	 * and peaks, and so did the mimalloc-bench programs tried, within
	 * their noise (bench/README). */
	.decay_ms = 500,
	.retain_chunks = 4,
	.dss = SHM_DSS_SECONDARY,
	.thp = SHM_THP_DEFAULT,
	.stats_print = 0,
	.stats_format = SHM_STATS_TEXT,
	.on_error = SHM_ON_ERROR_ABORT,
	.publish = 1,
};

#define OPT(field) offsetof(shm_options_t, field)
#define BOOL "bool"

const shm_option_def_t shm_option_table[] = {
	{ "narenas", "unsigned", OPT(narenas), 1, 1024, "4 x CPUs",
	  "most arenas that threads are spread over" },
	{ "tcache", BOOL, OPT(tcache), 0, 1, "true",
	  "per-thread caches of small blocks" },
	{ "tcache_max", "unsigned", OPT(tcache_max), 16, 65536, "65536",
	  "largest block size, in bytes, kept in thread caches" },
	{ "decay_ms", "unsigned", OPT(decay_ms), 0, 3600000, "500",
	  "milliseconds freed pages stay before they are purged; 0 purges at once" },
	{ "retain_chunks", "unsigned", OPT(retain_chunks), 0, 1024, "4",
	  "empty chunks an arena keeps mapped before it unmaps more" },
	{ "dss", "disabled|primary|secondary", OPT(dss), 0, 2, "secondary",
	  "brk as a chunk source: first (primary), when mmap fails (secondary), never" },
	{ "thp", "default|always|never", OPT(thp), 0, 2, "default",
	  "transparent huge pages for chunks and huge blocks: the system's "
	  "setting (none in an arena's first chunk), ask, refuse" },
	{ "stats_print", BOOL, OPT(stats_print), 0, 1, "false",
	  "print statistics to stderr at exit" },
	{ "stats_format", "text|json", OPT(stats_format), 0, 1, "text",
	  "format of the statistics printed at exit" },
	{ "publish", BOOL, OPT(publish), 0, 1, "true",
	  "publish statistics for shimmer stats and shimmer map (a memory file)" },
	{ "on_error", "abort|report", OPT(on_error), 0, 1, "abort",
	  "on an invalid or double free: abort, or report it and leak the block" },
	{ "junk", BOOL, OPT(junk), 0, 1, "false",
	  "fill new blocks with 0xa5 and freed blocks with 0x5a" },
	{ "zero_free", BOOL, OPT(zero_free), 0, 1, "false",
	  "zero blocks when they are freed" },
	{ "uaf_check", BOOL, OPT(uaf_check), 0, 1, "false",
	  "fill freed small blocks and check the fill when they are reused" },
	{ "canary", BOOL, OPT(canary), 0, 1, "false",
	  "a canary after each small block, checked when it is freed" },
	{ "guard", BOOL, OPT(guard), 0, 1, "false",
	  "an inaccessible page after each slab, large and huge block" },
	{ "random_slab", BOOL, OPT(random_slab), 0, 1, "false",
	  "hand out the objects of a new slab in random order" },
};

const size_t shm_option_count = sizeof(shm_option_table) / sizeof(shm_option_table[0]);

static bool opt_parse_uint(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 19)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

/* The index of [s, s+n) in a '|'-separated list of words. */
static bool opt_parse_choice(const char *choices, const char *s, size_t n,
			     uint64_t *out)
{
	uint64_t i = 0;

	for (const char *c = choices; *c; i++) {
		size_t len = strcspn(c, "|");
		if (len == n && memcmp(c, s, n) == 0) {
			*out = i;
			return true;
		}
		c += len + (c[len] == '|');
	}
	return false;
}

/* Parse one value for def; false if it is not acceptable. */
static bool opt_parse(const shm_option_def_t *def, const char *s, size_t n,
		      uint64_t *v)
{
	if (strcmp(def->type, "unsigned") == 0)
		return opt_parse_uint(s, n, v) && *v >= def->min && *v <= def->max;
	if (strcmp(def->type, BOOL) == 0)
		return opt_parse_choice("false|true", s, n, v);
	return opt_parse_choice(def->type, s, n, v);
}

/* A copy of a view, cut to fit, for a warning line. */
static const char *opt_view(char *buf, size_t size, const char *s, size_t n)
{
	if (n >= size)
		n = size - 1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return buf;
}

/* What a warning says a key accepts. */
static const char *opt_accepted(const shm_option_def_t *def, char *buf)
{
	char num[24];

	if (strcmp(def->type, "unsigned") == 0) {
		shm_fmt_u64(buf, def->min);
		strcat(buf, " to ");
		shm_fmt_u64(num, def->max);
		strcat(buf, num);
	} else if (strcmp(def->type, BOOL) == 0) {
		strcpy(buf, "true or false");
	} else {
		strcpy(buf, "one of ");
		strcat(buf, def->type);
	}
	return buf;
}

SHM_COLD const shm_option_def_t *shm_option_find(const char *key, size_t len)
{
	for (size_t i = 0; i < shm_option_count; i++)
		if (strlen(shm_option_table[i].name) == len &&
		    memcmp(shm_option_table[i].name, key, len) == 0)
			return &shm_option_table[i];
	return NULL;
}

static void opt_apply(const char *key, size_t klen, const char *val,
		      size_t vlen)
{
	const shm_option_def_t *def = shm_option_find(key, klen);
	char kbuf[64], vbuf[64], msg[160];
	uint64_t v;

	if (def == NULL) {
		shm_warn("SHIMMER_OPTIONS: unknown key '",
			 opt_view(kbuf, sizeof(kbuf), key, klen),
			 "' ignored (see shimmer(3) for the keys)");
		return;
	}
	if (val != NULL && opt_parse(def, val, vlen, &v)) {
		*(unsigned *)((char *)&shm_opt + def->offset) = (unsigned)v;
		return;
	}
	strcpy(msg, "' for ");
	strcat(msg, def->name);
	strcat(msg, " ignored: it takes ");
	opt_accepted(def, msg + strlen(msg));
	shm_warn("SHIMMER_OPTIONS: value '",
		 val ? opt_view(vbuf, sizeof(vbuf), val, vlen) : "", msg);
}

SHM_COLD void shm_options_init(const char *text)
{
	const char *s = text;
	bool empty_item = false;

	if (s && *s == '\0')
		shm_warn("SHIMMER_OPTIONS is set but empty", NULL, NULL);
	while (s && *s) {
		size_t len = strcspn(s, ",");
		const char *colon = memchr(s, ':', len);

		if (colon)
			opt_apply(s, (size_t)(colon - s), colon + 1,
				  len - (size_t)(colon - s) - 1);
		else if (len > 0)
			opt_apply(s, len, NULL, 0);
		else
			empty_item = true;
		s += len;
		if (*s == ',' && *++s == '\0')
			empty_item = true;
	}
	if (empty_item)
		shm_warn("SHIMMER_OPTIONS: empty item ignored "
			 "(write key:value,key:value)", NULL, NULL);
	if (shm_opt.narenas == 0) {
		unsigned n = 4 * shm_os_ncpus();
		shm_opt.narenas = n > 1024 ? 1024 : n;
	}
}

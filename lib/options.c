/* SPDX-License-Identifier: MIT */
/*
 * options.c - SHIMMER_OPTIONS="key:value,key:value", read once at start-up.
 *
 * The table below is the single list of options: the parser reads it, and
 * the ENVIRONMENT section of shimmer(3) is checked against it by the tests.
 * A bad key or value gets one warning naming it and the accepted values,
 * and is ignored; the program runs on.
 */
#include "shimmer-internal.h"

#include <string.h>

shm_options_t shm_opt = {
	.narenas = 0,			/* 0: four per CPU, decided at start */
	.tcache = true,
	.decay_ms = 10000,
	.retain_chunks = 4,
	.dss = SHM_DSS_SECONDARY,
	.stats_print = false,
	.stats_format = SHM_STATS_TEXT,
};

enum opt_type { OPT_UINT, OPT_BOOL, OPT_CHOICE };

typedef struct opt_def {
	const char *name;
	enum opt_type type;
	size_t offset;		/* into shm_options_t */
	uint64_t min, max;	/* OPT_UINT */
	const char *choices;	/* OPT_CHOICE: '|'-separated, in enum order */
	const char *accepted;	/* for the warning */
} opt_def_t;

#define OPT(field) offsetof(shm_options_t, field)

static const opt_def_t opt_table[] = {
	{ "narenas", OPT_UINT, OPT(narenas), 1, 1024, NULL, "1 to 1024" },
	{ "tcache", OPT_BOOL, OPT(tcache), 0, 1, NULL, "true or false" },
	{ "decay_ms", OPT_UINT, OPT(decay_ms), 0, 3600000, NULL,
	  "0 to 3600000" },
	{ "retain_chunks", OPT_UINT, OPT(retain_chunks), 0, 1024, NULL,
	  "0 to 1024" },
	{ "dss", OPT_CHOICE, OPT(dss), 0, 2, "disabled|primary|secondary",
	  "primary, secondary or disabled" },
	{ "stats_print", OPT_BOOL, OPT(stats_print), 0, 1, NULL,
	  "true or false" },
	{ "stats_format", OPT_CHOICE, OPT(stats_format), 0, 1, "text|json",
	  "text or json" },
};

/* A value is a view into the environment string: [s, s+n). */
static bool opt_equals(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && memcmp(s, word, n) == 0;
}

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

static void opt_store(const opt_def_t *def, uint64_t v)
{
	char *field = (char *)&shm_opt + def->offset;

	if (def->type == OPT_BOOL)
		*(bool *)field = v != 0;
	else if (def->offset == OPT(decay_ms))
		*(uint32_t *)field = (uint32_t)v;
	else
		*(unsigned *)field = (unsigned)v;
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

static void opt_apply(const char *key, size_t klen, const char *val,
		      size_t vlen, bool has_value)
{
	char kbuf[64], vbuf[64], msg[160];

	for (size_t i = 0; i < sizeof(opt_table) / sizeof(opt_table[0]); i++) {
		const opt_def_t *def = &opt_table[i];
		uint64_t v;
		bool good;

		if (!opt_equals(key, klen, def->name))
			continue;
		if (!has_value) {
			good = false;
		} else if (def->type == OPT_UINT) {
			good = opt_parse_uint(val, vlen, &v) && v >= def->min &&
			       v <= def->max;
		} else if (def->type == OPT_BOOL) {
			good = opt_parse_choice("false|true", val, vlen, &v);
		} else {
			good = opt_parse_choice(def->choices, val, vlen, &v);
		}
		if (good) {
			opt_store(def, v);
			return;
		}
		strcpy(msg, "' ignored: ");
		strcat(msg, def->name);
		strcat(msg, " takes ");
		strcat(msg, def->accepted);
		shm_warn("SHIMMER_OPTIONS: value '",
			 has_value ? opt_view(vbuf, sizeof(vbuf), val, vlen) : "",
			 msg);
		return;
	}
	shm_warn("SHIMMER_OPTIONS: unknown key '",
		 opt_view(kbuf, sizeof(kbuf), key, klen),
		 "' ignored (keys: narenas, tcache, decay_ms, retain_chunks, "
		 "dss, stats_print, stats_format)");
}

void shm_options_init(const char *text)
{
	const char *s = text;

	while (s && *s) {
		size_t len = strcspn(s, ",");
		const char *colon = memchr(s, ':', len);

		if (len > 0) {
			if (colon)
				opt_apply(s, (size_t)(colon - s), colon + 1,
					  len - (size_t)(colon - s) - 1, true);
			else
				opt_apply(s, len, NULL, 0, false);
		}
		s += len + (s[len] == ',');
	}
	if (shm_opt.narenas == 0) {
		unsigned n = 4 * shm_os_ncpus();
		shm_opt.narenas = n > 1024 ? 1024 : n;
	}
}

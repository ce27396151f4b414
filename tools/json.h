/* SPDX-License-Identifier: MIT */
/*
 * json.h - a small JSON reader (RFC 8259), enough for the library's
 * statistics report: a tree of values, integers kept exact up to 2^64 - 1.
 */
#ifndef SHIMMER_JSON_H
#define SHIMMER_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum json_type {
	JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT
};

typedef struct json {
	enum json_type type;
	bool boolean;
	double number;
	bool is_u64;		/* a non-negative integer that fits in u64 */
	uint64_t u64;
	char *string;		/* NUL-terminated; len excludes the NUL */
	size_t len;
	struct json **items;	/* array elements, object values */
	char **keys;		/* object keys, parallel to items */
	size_t count;
} json_t;

/*
 * Parse one value from text[0..len).  Whitespace before it is skipped;
 * what follows it is left alone and *end (if not NULL) points past it.
 * Returns NULL with a message in err (including the line) on a syntax
 * error, on nesting deeper than 64, or when out of memory.
 */
json_t *json_parse(const char *text, size_t len, size_t *end, char *err,
		   size_t errlen);
void json_free(json_t *v);

/* The value of key in an object (the last one if repeated), or NULL. */
const json_t *json_get(const json_t *obj, const char *key);
/* The value as an exact u64: true only for a non-negative integer. */
bool json_u64(const json_t *v, uint64_t *out);

#endif /* SHIMMER_JSON_H */

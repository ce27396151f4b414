/* SPDX-License-Identifier: MIT */
/*
 * json.c - a recursive-descent JSON reader.  Strict about the grammar (a
 * report that does not parse is better refused than half-drawn), bounded
 * in depth so that a hostile file cannot exhaust the stack.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define JSON_MAX_DEPTH 64

typedef struct parser {
	const char *s;
	size_t pos, len;
	char *err;
	size_t errlen;
	bool failed;
} parser_t;

static void json_fail(parser_t *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void json_fail(parser_t *p, const char *fmt, ...)
{
	va_list ap;
	size_t line = 1;
	int n;

	if (p->failed)
		return;
	p->failed = true;
	for (size_t i = 0; i < p->pos && i < p->len; i++)
		line += p->s[i] == '\n';
	n = snprintf(p->err, p->errlen, "line %zu: ", line);
	if (n < 0 || (size_t)n >= p->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static void json_skip_ws(parser_t *p)
{
	while (p->pos < p->len && strchr(" \t\r\n", p->s[p->pos]) && p->s[p->pos])
		p->pos++;
}

static json_t *json_new(parser_t *p, enum json_type type)
{
	json_t *v = calloc(1, sizeof(*v));

	if (!v)
		json_fail(p, "out of memory");
	else
		v->type = type;
	return v;
}

void json_free(json_t *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->count; i++) {
		json_free(v->items[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->string);
	free(v);
}

/* ---- Strings ---------------------------------------------------------------- */

static int json_hex4(parser_t *p, unsigned *out)
{
	unsigned v = 0;

	if (p->len - p->pos < 4) {
		json_fail(p, "short \\u escape");
		return -1;
	}
	for (int i = 0; i < 4; i++) {
		char c = p->s[p->pos++];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else {
			json_fail(p, "bad \\u escape");
			return -1;
		}
	}
	*out = v;
	return 0;
}

static size_t json_utf8(char *dst, unsigned cp)
{
	if (cp < 0x80) {
		dst[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		dst[0] = (char)(0xc0 | (cp >> 6));
		dst[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		dst[0] = (char)(0xe0 | (cp >> 12));
		dst[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		dst[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	dst[0] = (char)(0xf0 | (cp >> 18));
	dst[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	dst[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	dst[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* At the opening quote; returns a malloc'd string. An escape never makes
 * the text longer than its source, so the source length bounds it. */
static char *json_string_raw(parser_t *p, size_t *lenp)
{
	size_t start = ++p->pos, n = 0, cap;
	char *out;

	while (p->pos < p->len && p->s[p->pos] != '"') {
		if (p->s[p->pos] == '\\')
			p->pos++;
		p->pos++;
	}
	if (p->pos >= p->len) {
		json_fail(p, "unterminated string");
		return NULL;
	}
	cap = p->pos - start + 1;
	p->pos = start;
	out = malloc(cap);
	if (!out) {
		json_fail(p, "out of memory");
		return NULL;
	}
	while (p->s[p->pos] != '"') {
		unsigned char c = (unsigned char)p->s[p->pos++];
		unsigned cp, lo;

		if (c < 0x20) {
			json_fail(p, "control character in a string");
			goto bad;
		}
		if (c != '\\') {
			out[n++] = (char)c;
			continue;
		}
		c = (unsigned char)p->s[p->pos++];
		switch (c) {
		case '"': case '\\': case '/': out[n++] = (char)c; break;
		case 'b': out[n++] = '\b'; break;
		case 'f': out[n++] = '\f'; break;
		case 'n': out[n++] = '\n'; break;
		case 'r': out[n++] = '\r'; break;
		case 't': out[n++] = '\t'; break;
		case 'u':
			if (json_hex4(p, &cp))
				goto bad;
			if (cp >= 0xd800 && cp < 0xdc00 && p->len - p->pos >= 6 &&
			    p->s[p->pos] == '\\' && p->s[p->pos + 1] == 'u') {
				size_t save = p->pos;

				p->pos += 2;
				if (json_hex4(p, &lo))
					goto bad;
				if (lo >= 0xdc00 && lo < 0xe000)
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				else
					p->pos = save;
			}
			if (cp >= 0xd800 && cp < 0xe000)
				cp = 0xfffd;	/* a lone surrogate */
			n += json_utf8(out + n, cp);
			break;
		default:
			json_fail(p, "bad escape '\\%c'", c);
			goto bad;
		}
	}
	p->pos++;
	out[n] = '\0';
	*lenp = n;
	return out;
bad:
	free(out);
	return NULL;
}

/* ---- Numbers ---------------------------------------------------------------- */

static json_t *json_number(parser_t *p)
{
	size_t start = p->pos;
	bool integer = true, neg = false;
	char buf[64], *end;
	json_t *v;

	if (p->s[p->pos] == '-') {
		neg = true;
		p->pos++;
	}
	if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9') {
		json_fail(p, "bad number");
		return NULL;
	}
	if (p->s[p->pos] == '0')
		p->pos++;
	else
		while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
			p->pos++;
	if (p->pos < p->len && p->s[p->pos] == '.') {
		integer = false;
		p->pos++;
		if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9') {
			json_fail(p, "bad number");
			return NULL;
		}
		while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
			p->pos++;
	}
	if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
		integer = false;
		p->pos++;
		if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
			p->pos++;
		if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9') {
			json_fail(p, "bad number");
			return NULL;
		}
		while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
			p->pos++;
	}
	if (p->pos - start >= sizeof(buf)) {
		json_fail(p, "number too long");
		return NULL;
	}
	memcpy(buf, p->s + start, p->pos - start);
	buf[p->pos - start] = '\0';
	if (!(v = json_new(p, JSON_NUMBER)))
		return NULL;
	v->number = strtod(buf, NULL);
	if (integer && !neg) {
		errno = 0;
		v->u64 = strtoull(buf, &end, 10);
		v->is_u64 = errno == 0 && *end == '\0';
	}
	return v;
}

/* ---- Values ----------------------------------------------------------------- */

static json_t *json_value(parser_t *p, int depth);

static bool json_push(parser_t *p, json_t *c, json_t *item, char *key,
		      size_t *cap)
{
	if (c->count == *cap) {
		size_t n = *cap ? *cap * 2 : 8;
		json_t **items = realloc(c->items, n * sizeof(*items));

		if (items)
			c->items = items;
		if (items && c->type == JSON_OBJECT) {
			char **keys = realloc(c->keys, n * sizeof(*keys));

			if (keys)
				c->keys = keys;
			else
				items = NULL;
		}
		if (!items) {
			json_fail(p, "out of memory");
			return false;
		}
		*cap = n;
	}
	c->items[c->count] = item;
	if (c->type == JSON_OBJECT)
		c->keys[c->count] = key;
	c->count++;
	return true;
}

static json_t *json_container(parser_t *p, int depth, bool object)
{
	json_t *c = json_new(p, object ? JSON_OBJECT : JSON_ARRAY);
	char close = object ? '}' : ']';
	size_t cap = 0;

	if (!c)
		return NULL;
	p->pos++;
	json_skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == close) {
		p->pos++;
		return c;
	}
	for (;;) {
		char *key = NULL;
		json_t *item;
		size_t klen;

		json_skip_ws(p);
		if (object) {
			if (p->pos >= p->len || p->s[p->pos] != '"') {
				json_fail(p, "expected a key in quotes");
				break;
			}
			if (!(key = json_string_raw(p, &klen)))
				break;
			json_skip_ws(p);
			if (p->pos >= p->len || p->s[p->pos] != ':') {
				json_fail(p, "expected ':' after a key");
				free(key);
				break;
			}
			p->pos++;
		}
		item = json_value(p, depth + 1);
		if (!item || !json_push(p, c, item, key, &cap)) {
			json_free(item);
			free(key);
			break;
		}
		json_skip_ws(p);
		if (p->pos < p->len && p->s[p->pos] == ',') {
			p->pos++;
			continue;
		}
		if (p->pos < p->len && p->s[p->pos] == close) {
			p->pos++;
			return c;
		}
		json_fail(p, "expected ',' or '%c'", close);
		break;
	}
	json_free(c);
	return NULL;
}

static bool json_word(parser_t *p, const char *w)
{
	size_t n = strlen(w);

	if (p->len - p->pos >= n && !memcmp(p->s + p->pos, w, n)) {
		p->pos += n;
		return true;
	}
	return false;
}

static json_t *json_value(parser_t *p, int depth)
{
	json_t *v;
	char c;

	if (depth > JSON_MAX_DEPTH) {
		json_fail(p, "nested deeper than %d", JSON_MAX_DEPTH);
		return NULL;
	}
	json_skip_ws(p);
	if (p->pos >= p->len) {
		json_fail(p, "unexpected end of the text");
		return NULL;
	}
	c = p->s[p->pos];
	if (c == '{' || c == '[')
		return json_container(p, depth, c == '{');
	if (c == '"') {
		if (!(v = json_new(p, JSON_STRING)))
			return NULL;
		if (!(v->string = json_string_raw(p, &v->len))) {
			free(v);
			return NULL;
		}
		return v;
	}
	if (c == '-' || (c >= '0' && c <= '9'))
		return json_number(p);
	if (json_word(p, "true") || json_word(p, "false")) {
		if ((v = json_new(p, JSON_BOOL)))
			v->boolean = c == 't';
		return v;
	}
	if (json_word(p, "null"))
		return json_new(p, JSON_NULL);
	json_fail(p, "unexpected character '%c'", c >= 0x20 && c < 0x7f ? c : '?');
	return NULL;
}

json_t *json_parse(const char *text, size_t len, size_t *end, char *err,
		   size_t errlen)
{
	parser_t p = { text, 0, len, err, errlen, false };
	json_t *v;

	if (errlen)
		err[0] = '\0';
	v = json_value(&p, 0);
	if (v && end)
		*end = p.pos;
	return v;
}

const json_t *json_get(const json_t *obj, const char *key)
{
	const json_t *found = NULL;

	if (!obj || obj->type != JSON_OBJECT)
		return NULL;
	for (size_t i = 0; i < obj->count; i++)
		if (!strcmp(obj->keys[i], key))
			found = obj->items[i];
	return found;
}

bool json_u64(const json_t *v, uint64_t *out)
{
	if (!v || v->type != JSON_NUMBER || !v->is_u64)
		return false;
	*out = v->u64;
	return true;
}

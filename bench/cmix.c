/* SPDX-License-Identifier: MIT */
/*
 * cmix: the allocation mix of a compiler or interpreter.
 *
 * Work is organised as modules of functions.  For each function a syntax
 * tree of variable-sized nodes with name strings is built by random
 * insertion; every node brings a few short-lived temporaries (token
 * buffers, scratch lists) that die within a handful of steps.  The tree is
 * walked with a growable explicit stack, then most trees are freed while a
 * quarter stay alive until the end of the module, as inlining candidates
 * would.  Some nodes add symbols to a module-wide table that lives as long
 * as the module.  Now and then a function needs a large code buffer.
 * This mixes very short, medium and module-long lifetimes with occasional
 * large blocks, which is what stresses size-class reuse in such programs.
 */
#define _GNU_SOURCE
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct node {
	struct node *kid[2];
	char *name;
	uint32_t kind;
	uint32_t val;
	/* a variable-sized payload follows, as in real AST node kinds */
};

struct sym {
	struct sym *next;
	char *name;
	uint64_t hash;
};

struct tree {
	struct tree *next;
	struct node *root;
};

#define NTEMPS 16

struct ctx {
	struct bench_rng rng;
	struct bench_sizes temp_sizes;
	size_t min_size, max_size;
	void *temps[NTEMPS];
	unsigned ntemp;
	uint64_t allocs;
	uint64_t check;
};

static void *cmix_alloc(struct ctx *c, size_t n)
{
	c->allocs++;
	return bench_xmalloc(n);
}

static char *new_name(struct ctx *c)
{
	size_t len = 3 + (size_t)bench_below(&c->rng, 29);
	char *s = cmix_alloc(c, len + 1);

	memset(s, 'a' + (int)(len % 26), len);
	s[len] = '\0';
	return s;
}

/* A short-lived temporary: it replaces, and so frees, one of the last 16. */
static void temp_churn(struct ctx *c)
{
	size_t n = bench_size_pick(&c->temp_sizes, &c->rng);
	unsigned i = c->ntemp++ % NTEMPS;
	char *p;

	if (c->temps[i]) {
		c->check += (unsigned char)((char *)c->temps[i])[0];
		free(c->temps[i]);
	}
	p = cmix_alloc(c, n);
	p[0] = (char)n;
	p[n - 1] = (char)c->ntemp;
	c->temps[i] = p;
}

static struct node *new_node(struct ctx *c)
{
	size_t extra = (size_t)bench_below(&c->rng, 97);
	struct node *n = cmix_alloc(c, sizeof *n + extra);

	n->kid[0] = n->kid[1] = NULL;
	n->name = new_name(c);
	n->kind = (uint32_t)bench_below(&c->rng, 40);
	n->val = (uint32_t)bench_rand(&c->rng);
	return n;
}

static struct node *build_tree(struct ctx *c, struct sym **symtab,
			       unsigned nodes)
{
	struct node *root = new_node(c);
	unsigned i, t;

	for (i = 1; i < nodes; i++) {
		struct node *n = new_node(c), **at = &root->kid[0];

		while (*at)
			at = &(*at)->kid[bench_rand(&c->rng) & 1];
		*at = n;
		for (t = (unsigned)bench_below(&c->rng, 5); t > 0; t--)
			temp_churn(c);
		if ((bench_rand(&c->rng) & 7) == 0) {
			struct sym *s = cmix_alloc(c, sizeof *s);

			s->name = new_name(c);
			s->hash = n->val;
			s->next = *symtab;
			*symtab = s;
		}
	}
	return root;
}

/* Walk with an explicit stack that grows by realloc, as a visitor would. */
static uint64_t walk_tree(struct ctx *c, struct node *root, int destroy)
{
	size_t cap = 16, top = 0;
	struct node **stack = cmix_alloc(c, cap * sizeof *stack);
	uint64_t sum = 0;

	stack[top++] = root;
	while (top) {
		struct node *n = stack[--top];

		if (top + 2 > cap) {
			cap *= 2;
			stack = realloc(stack, cap * sizeof *stack);
			if (!stack)
				abort();
		}
		if (n->kid[0])
			stack[top++] = n->kid[0];
		if (n->kid[1])
			stack[top++] = n->kid[1];
		sum += n->val ^ n->kind ^ (unsigned char)n->name[0];
		if (destroy) {
			free(n->name);
			free(n);
		}
	}
	free(stack);
	return sum;
}

static void code_buffer(struct ctx *c)
{
	size_t n = bench_size_log(&c->rng, 64 << 10, 2 << 20), off;
	char *buf = cmix_alloc(c, n);

	for (off = 0; off < n; off += 4096)
		buf[off] = (char)off;
	buf[n - 1] = 1;
	c->check += (unsigned char)buf[n / 2 & ~(size_t)4095];
	free(buf);
}

static void run_module(struct ctx *c, unsigned functions)
{
	struct sym *symtab = NULL;
	struct tree *kept = NULL;
	unsigned f;

	for (f = 0; f < functions; f++) {
		unsigned nodes = 20 + (unsigned)bench_size_log(&c->rng, 1, 2000);
		struct node *root = build_tree(c, &symtab, nodes);

		c->check += walk_tree(c, root, 0);
		if ((bench_rand(&c->rng) & 3) == 0) {
			struct tree *t = cmix_alloc(c, sizeof *t);

			t->root = root;
			t->next = kept;
			kept = t;
		} else {
			c->check += walk_tree(c, root, 1);
		}
		if ((bench_rand(&c->rng) & 15) == 0)
			code_buffer(c);
	}
	while (kept) {
		struct tree *t = kept;

		kept = t->next;
		c->check += walk_tree(c, t->root, 1);
		free(t);
	}
	while (symtab) {
		struct sym *s = symtab;

		symtab = s->next;
		c->check += s->hash + (unsigned char)s->name[0];
		free(s->name);
		free(s);
	}
}

struct worker {
	struct bench_worker b;	/* first: see bench_run_workers */
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct ctx *c = bench_map(sizeof *c);
	unsigned i;

	bench_rng_init(&c->rng, w->b.o->seed, (uint64_t)w->b.id);
	bench_sizes_init(&c->temp_sizes, &c->rng, w->b.o->min_size,
			 w->b.o->max_size);
	bench_thread_ready();
	while (!bench_stopped(w->b.clock))
		run_module(c, (unsigned)w->b.o->iters);
	for (i = 0; i < NTEMPS; i++)
		free(c->temps[i]);
	bench_thread_done(w->b.clock);
	w->b.ops = c->allocs;
	w->b.check = c->check;
	bench_sizes_free(&c->temp_sizes);
	bench_unmap(c, sizeof *c);
	return NULL;
}

int main(int argc, char **argv)
{
	struct bench_opts o = {
		.threads = 1, .min_size = 16, .max_size = 256,
		.duration = 2.0, .iters = 64, .seed = 1,
	};

	bench_parse(argc, argv, &o,
		    "Compiler-like mix: trees, symbols, temporaries "
		    "(sized by -m/-M) and large buffers; ops are mallocs.",
		    "functions per module", NULL);
	if (o.iters < 1)
		o.iters = 1;
	bench_run_workers("cmix", &o, worker_main, sizeof(struct worker), NULL);
	return 0;
}

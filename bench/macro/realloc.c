/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * realloc: strings and vectors that grow.
 *
 * Two growth patterns that programs lean on realloc for, interleaved
 * over many buffers so that a neighbour often stands in the way of
 * growing in place:
 *
 * - vectors= arrays of 8-byte elements, appended one element at a time,
 *   whose capacity doubles (from 4 elements) when full, as in a
 *   growable array; each is dropped at a random length between 1 KiB
 *   and vmax= bytes and started anew;
 * - strings= strings appended 1 to 32 bytes at a time with realloc to
 *   the exact new length at every append (naive concatenation), dropped
 *   at a random length up to smax= bytes.
 *
 * The contents are checked as they grow: every vector element holds
 * its index, and a string's last byte and first byte are checked at
 * each append.  steps= appends in all, half to each kind.
 */
#define	MACRO_NAME	"realloc"
#include "macro.h"

struct vec {
	uint64_t	*v_a;
	size_t		v_len, v_cap, v_limit;
};

struct str {
	char		*s_p;
	size_t		s_len, s_limit;
};

static void
vec_append(struct vec *v, mk_rng_t *r, size_t vmax)
{
	if (v->v_len == v->v_cap) {
		size_t cap = v->v_cap == 0 ? 4 : v->v_cap * 2;
		uint64_t *a = realloc(v->v_a, cap * sizeof(*a));

		if (a == NULL)
			mk_die("realloc(%zu) failed", cap * sizeof(*a));
		if (v->v_len > 0 && (a[0] != 0 ||
		    a[v->v_len - 1] != v->v_len - 1))
			mk_die("a vector of %zu elements lost its contents "
			    "in realloc", v->v_len);
		v->v_a = a;
		v->v_cap = cap;
	}
	v->v_a[v->v_len] = v->v_len;
	v->v_len++;
	if (v->v_len * sizeof(uint64_t) >= v->v_limit) {
		free(v->v_a);
		v->v_a = NULL;
		v->v_len = v->v_cap = 0;
		v->v_limit = mk_range(r, 1024, vmax);
	}
}

static void
str_append(struct str *s, mk_rng_t *r, size_t smax)
{
	size_t n = mk_range(r, 1, 32);
	char c = (char)('a' + s->s_len % 26), *p;

	p = realloc(s->s_p, s->s_len + n + 1);
	if (p == NULL)
		mk_die("realloc(%zu) failed", s->s_len + n + 1);
	if (s->s_len > 0 && (p[0] != 'a' ||
	    p[s->s_len - 1] != (char)('a' + (s->s_len - 1) % 26)))
		mk_die("a string of %zu bytes lost its contents in realloc",
		    s->s_len);
	memset(p + s->s_len, c, n);
	p[0] = 'a';
	/* The last byte tells the length it was written at. */
	p[s->s_len + n - 1] = (char)('a' + (s->s_len + n - 1) % 26);
	p[s->s_len + n] = '\0';
	s->s_p = p;
	s->s_len += n;
	if (s->s_len >= s->s_limit) {
		free(s->s_p);
		s->s_p = NULL;
		s->s_len = 0;
		s->s_limit = mk_range(r, 16, smax);
	}
}

int
main(int argc, char **argv)
{
	static const char *const keys[] = { "threads", "scale", "seed",
	    "steps", "vectors", "strings", "vmax", "smax", NULL };
	size_t nvec, nstr, vmax, smax, k;
	struct vec *vecs;
	struct str *strs;
	uint64_t seed, t0;
	double scale;
	mk_rng_t rng;
	long steps, i;

	mk_check_args(argc, argv, keys);
	(void)mk_threads(argc, argv, 1);
	scale = mk_arg_double(argc, argv, "scale", 1);
	seed = (uint64_t)mk_arg_long(argc, argv, "seed", 1);
	steps = mk_scaled(scale, mk_arg_long(argc, argv, "steps", 16000000),
	    1000);
	nvec = (size_t)mk_arg_long(argc, argv, "vectors", 64);
	nstr = (size_t)mk_arg_long(argc, argv, "strings", 256);
	vmax = (size_t)mk_arg_long(argc, argv, "vmax", 1024 * 1024);
	smax = (size_t)mk_arg_long(argc, argv, "smax", 8192);
	if (nvec == 0 || nstr == 0 || vmax < 1024 || smax < 16)
		mk_die("want vectors, strings > 0, vmax >= 1024, smax >= 16");

	t0 = mk_now_ns();
	mk_seed(&rng, seed, 0);
	vecs = calloc(nvec, sizeof(*vecs));
	strs = calloc(nstr, sizeof(*strs));
	if (vecs == NULL || strs == NULL)
		mk_die("no memory for the tables");
	for (k = 0; k < nvec; k++)
		vecs[k].v_limit = mk_range(&rng, 1024, vmax);
	for (k = 0; k < nstr; k++)
		strs[k].s_limit = mk_range(&rng, 16, smax);
	for (i = 0; i < steps; i++) {
		if (i & 1)
			vec_append(&vecs[mk_below(&rng, nvec)], &rng, vmax);
		else
			str_append(&strs[mk_below(&rng, nstr)], &rng, smax);
	}
	for (k = 0; k < nvec; k++)
		free(vecs[k].v_a);
	for (k = 0; k < nstr; k++)
		free(strs[k].s_p);
	free(vecs);
	free(strs);
	mk_result(1, steps, t0, "vectors=%zu strings=%zu", nvec, nstr);
	return 0;
}

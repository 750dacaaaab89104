/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * mstress: several threads doing random things to random objects.
 *
 * After the stress test that D. Leijen, B. Zorn and L. de Moura
 * describe with mimalloc ("Mimalloc: Free List Sharding in Action",
 * APLAS 2019; mstress in the mimalloc suite): each thread keeps a table
 * of live objects and, at every step, picks one of allocating into a
 * random slot (freeing what was there), freeing a random slot,
 * reallocating a random slot to a new size, or swapping a random slot
 * with a random slot of a table shared by all threads (so objects
 * migrate and end up freed by a thread that did not allocate them).
 * Sizes are mostly small, sometimes medium, rarely large.  Every
 * rounds= round each thread frees all it holds, so lifetimes range
 * from one step to a whole round.
 *
 * Keys: threads=, rounds=, steps= (per thread and round), slots= (per
 * thread), shared= (slots of the shared table).
 */
#define	MACRO_NAME	"mstress"
#include "macro.h"

#include <stdatomic.h>

/*
 * An object carries its size in its first word, so that it can be
 * checked and freed by any thread that ends up holding it.
 */
struct ms_hdr {
	size_t		h_size;
};

static _Atomic(struct ms_hdr *) *ms_shared;
static size_t ms_nshared;

struct ms_arg {
	long		ma_rounds, ma_steps;
	size_t		ma_slots;
	mk_rng_t	ma_rng;
	long		ma_allocs;
};

static size_t
ms_size(mk_rng_t *r)
{
	uint64_t x = mk_below(r, 1000);

	if (x == 0)
		return mk_range(r, 32 * 1024, 512 * 1024);	/* 0.1% */
	if (x < 30)
		return mk_range(r, 1024, 16 * 1024);		/* 2.9% */
	return 8 * mk_range(r, 2, 40);			/* 16..320 */
}

static struct ms_hdr *
ms_new(size_t size)
{
	struct ms_hdr *h = mk_alloc(size);

	h->h_size = size;
	mk_stamp((char *)h + sizeof(*h), size - sizeof(*h));
	return h;
}

static void
ms_check(const struct ms_hdr *h)
{
	mk_verify((const char *)h + sizeof(*h), h->h_size - sizeof(*h));
}

static void
ms_free(struct ms_hdr *h)
{
	if (h != NULL) {
		ms_check(h);
		free(h);
	}
}

static void *
ms_worker(void *varg)
{
	struct ms_arg *a = varg;
	struct ms_hdr **tab, *h, *n;
	long r, s;
	size_t k, sz;

	tab = calloc(a->ma_slots, sizeof(*tab));
	if (tab == NULL)
		mk_die("no memory for a table");
	for (r = 0; r < a->ma_rounds; r++) {
		for (s = 0; s < a->ma_steps; s++) {
			uint64_t op = mk_below(&a->ma_rng, 100);

			k = (size_t)mk_below(&a->ma_rng, a->ma_slots);
			if (op < 50) {
				ms_free(tab[k]);
				tab[k] = ms_new(ms_size(&a->ma_rng));
				a->ma_allocs++;
			} else if (op < 75) {
				ms_free(tab[k]);
				tab[k] = NULL;
			} else if (op < 85 && tab[k] != NULL) {
				uint64_t w0, w1;

				h = tab[k];
				ms_check(h);
				memcpy(&w0, h + 1, sizeof(w0));
				sz = ms_size(&a->ma_rng);
				n = realloc(h, sz);
				if (n == NULL)
					mk_die("realloc(%zu) failed", sz);
				/* The contents moved (every size >= 16). */
				memcpy(&w1, n + 1, sizeof(w1));
				if (w0 != w1 || n->h_size < 16)
					mk_die("realloc to %zu bytes lost the "
					    "contents", sz);
				n->h_size = sz;
				mk_stamp((char *)n + sizeof(*n),
				    sz - sizeof(*n));
				tab[k] = n;
				a->ma_allocs++;
			} else if (op >= 85) {
				size_t j = (size_t)mk_below(&a->ma_rng,
				    ms_nshared);

				tab[k] = atomic_exchange(&ms_shared[j],
				    tab[k]);
			}
		}
		for (k = 0; k < a->ma_slots; k++) {
			ms_free(tab[k]);
			tab[k] = NULL;
		}
	}
	free(tab);
	return NULL;
}

int
main(int argc, char **argv)
{
	static const char *const keys[] = { "threads", "scale", "seed",
	    "rounds", "steps", "slots", "shared", NULL };
	struct ms_arg args[MACRO_MAXTHREADS];
	long rounds, steps, allocs = 0;
	int nthreads, i;
	uint64_t seed, t0;
	double scale;
	size_t slots, k;

	mk_check_args(argc, argv, keys);
	nthreads = mk_threads(argc, argv, 2);
	scale = mk_arg_double(argc, argv, "scale", 1);
	seed = (uint64_t)mk_arg_long(argc, argv, "seed", 1);
	rounds = mk_scaled(scale, mk_arg_long(argc, argv, "rounds", 20), 2);
	steps = mk_scaled(scale, mk_arg_long(argc, argv, "steps", 600000),
	    100);
	slots = (size_t)mk_arg_long(argc, argv, "slots", 5000);
	ms_nshared = (size_t)mk_arg_long(argc, argv, "shared", 1000);
	if (slots == 0 || ms_nshared == 0)
		mk_die("want slots > 0 and shared > 0");

	t0 = mk_now_ns();
	ms_shared = calloc(ms_nshared, sizeof(*ms_shared));
	if (ms_shared == NULL)
		mk_die("no memory for the shared table");
	for (i = 0; i < nthreads; i++) {
		args[i].ma_rounds = rounds;
		args[i].ma_steps = steps;
		args[i].ma_slots = slots;
		args[i].ma_allocs = 0;
		mk_seed(&args[i].ma_rng, seed, (unsigned)i + 1);
	}
	mk_run_threads(nthreads, ms_worker, args, sizeof(args[0]));
	for (k = 0; k < ms_nshared; k++)
		ms_free(atomic_load(&ms_shared[k]));
	free(ms_shared);
	for (i = 0; i < nthreads; i++)
		allocs += args[i].ma_allocs;
	mk_result(nthreads, allocs, t0, "rounds=%ld", rounds);
	return 0;
}

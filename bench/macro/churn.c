/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * churn: a single-threaded program's small objects, as traces show them.
 *
 * The allocation-intensive C programs measured by B. Zorn and D.
 * Grunwald, "Empirical Measurements of Six Allocation-intensive C
 * Programs", SIGPLAN Notices 27(12), 1992 (espresso, cfrac, gs, ...;
 * espresso and cfrac are still in the mimalloc suite), and surveyed by
 * P. Wilson, M. Johnstone, M. Neely and D. Boles, "Dynamic Storage
 * Allocation: A Survey and Critical Review", IWMM 1995, share a shape
 * that this program reproduces without their code: a handful of small
 * sizes dominate (most requests under 64 bytes, a thin tail up to a
 * few KiB), most objects die within a few allocations, some live for
 * a while, a few live long and pile up.
 *
 * Each step allocates one object with a size drawn from the table
 * below (plus a few bytes of jitter) and gives it a lifetime class:
 * young (70%: freed after ring= further allocations, FIFO), medium
 * (25%: replaces a random entry of a table of medium= objects) or long
 * (5%: appended to a list of up to long= objects, half of which are
 * dropped at random when it is full).  The first bytes of every object
 * are written.  steps= allocations in all.
 */
#define	MACRO_NAME	"churn"
#include "macro.h"

/* Request sizes and their weights, in percent of allocations. */
static const struct {
	uint32_t	sz;
	uint32_t	pct;
} churn_sizes[] = {
	{ 8, 8 }, { 16, 22 }, { 24, 16 }, { 32, 14 }, { 40, 7 },
	{ 48, 7 }, { 64, 8 }, { 96, 5 }, { 128, 4 }, { 256, 4 },
	{ 512, 2 }, { 1024, 2 }, { 4096, 1 },
};

struct obj {
	void		*o_p;
	size_t		o_size;
};

static size_t
churn_size(mk_rng_t *r)
{
	uint32_t x = (uint32_t)mk_below(r, 100), acc = 0;
	size_t i, sz;

	for (i = 0; i < sizeof(churn_sizes) / sizeof(churn_sizes[0]); i++) {
		acc += churn_sizes[i].pct;
		if (x < acc)
			break;
	}
	if (i == sizeof(churn_sizes) / sizeof(churn_sizes[0]))
		i--;
	sz = churn_sizes[i].sz;
	/* Exact class sizes most of the time, a little jitter otherwise. */
	if (sz > 8 && mk_below(r, 4) == 0)
		sz -= (size_t)mk_below(r, 8);
	return sz;
}

static void *
churn_new(mk_rng_t *r, size_t *szp)
{
	size_t sz = churn_size(r);
	char *p = mk_alloc(sz);

	memset(p, 0x5a, sz < 64 ? sz : 64);
	mk_stamp(p, sz);
	*szp = sz;
	return p;
}

int
main(int argc, char **argv)
{
	static const char *const keys[] = { "threads", "scale", "seed",
	    "steps", "ring", "medium", "long", NULL };
	struct obj *ring, *med, *lng;
	size_t nring, nmed, nlong, nl = 0, ri = 0, k, sz;
	long steps, i;
	uint64_t seed, t0;
	double scale;
	mk_rng_t rng;
	void *p;

	mk_check_args(argc, argv, keys);
	(void)mk_threads(argc, argv, 1);
	scale = mk_arg_double(argc, argv, "scale", 1);
	seed = (uint64_t)mk_arg_long(argc, argv, "seed", 1);
	steps = mk_scaled(scale, mk_arg_long(argc, argv, "steps", 12000000),
	    1000);
	nring = (size_t)mk_arg_long(argc, argv, "ring", 64);
	nmed = (size_t)mk_arg_long(argc, argv, "medium", 8192);
	nlong = (size_t)mk_arg_long(argc, argv, "long", 65536);
	if (nring == 0 || nmed == 0 || nlong < 2)
		mk_die("want ring > 0, medium > 0, long > 1");

	t0 = mk_now_ns();
	mk_seed(&rng, seed, 0);
	ring = calloc(nring, sizeof(*ring));
	med = calloc(nmed, sizeof(*med));
	lng = calloc(nlong, sizeof(*lng));
	if (ring == NULL || med == NULL || lng == NULL)
		mk_die("no memory for the tables");
	for (i = 0; i < steps; i++) {
		uint64_t cls = mk_below(&rng, 100);

		p = churn_new(&rng, &sz);
		if (cls < 70) {
			if (ring[ri].o_p != NULL)
				mk_free_stamped(ring[ri].o_p, ring[ri].o_size);
			ring[ri].o_p = p;
			ring[ri].o_size = sz;
			ri = ri + 1 == nring ? 0 : ri + 1;
		} else if (cls < 95) {
			k = (size_t)mk_below(&rng, nmed);
			if (med[k].o_p != NULL)
				mk_free_stamped(med[k].o_p, med[k].o_size);
			med[k].o_p = p;
			med[k].o_size = sz;
		} else {
			if (nl == nlong) {
				/* Drop a random half, keep the rest packed. */
				size_t w = 0;

				for (k = 0; k < nl; k++) {
					if (mk_below(&rng, 2) == 0)
						mk_free_stamped(lng[k].o_p,
						    lng[k].o_size);
					else
						lng[w++] = lng[k];
				}
				nl = w;
			}
			lng[nl].o_p = p;
			lng[nl].o_size = sz;
			nl++;
		}
	}
	for (k = 0; k < nring; k++)
		if (ring[k].o_p != NULL)
			mk_free_stamped(ring[k].o_p, ring[k].o_size);
	for (k = 0; k < nmed; k++)
		if (med[k].o_p != NULL)
			mk_free_stamped(med[k].o_p, med[k].o_size);
	for (k = 0; k < nl; k++)
		mk_free_stamped(lng[k].o_p, lng[k].o_size);
	free(ring);
	free(med);
	free(lng);
	mk_result(1, steps, t0, "long_kept=%zu", nl);
	return 0;
}

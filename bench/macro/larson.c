/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * larson: a server that hands its work from thread to thread.
 *
 * The shape follows the server simulation of P. Larson and M. Krishnan,
 * "Memory allocation for long-running server applications", ISMM 1998
 * (the "larson" program of the Hoard and mimalloc benchmark suites):
 * every worker owns a table of live objects and replaces a random one
 * at each step (free the old, allocate a new one of random size); after
 * a while the worker exits and a new thread takes its table over, so
 * that most objects are freed by another thread than the one that
 * allocated them, and per-thread caches are set up and torn down all
 * the time.
 *
 * Here the work is counted, not timed: generations= rounds of threads=
 * new threads; in generation g thread i works on table (i + g) mod
 * threads, steps= replacements per thread and generation, tables of
 * slots= objects of min= to max= bytes.  The tables are filled by the
 * main thread first, and emptied by it at the end.
 */
#define	MACRO_NAME	"larson"
#include "macro.h"

struct larson_table {
	void		**lt_obj;
	size_t		*lt_size;
};

struct larson_arg {
	struct larson_table	*la_table;
	long			la_steps;
	size_t			la_slots;
	size_t			la_min, la_max;
	mk_rng_t		la_rng;
};

static void *
larson_worker(void *varg)
{
	struct larson_arg *a = varg;
	struct larson_table *t = a->la_table;
	long i;

	for (i = 0; i < a->la_steps; i++) {
		size_t k = (size_t)mk_below(&a->la_rng, a->la_slots);
		size_t sz = mk_range(&a->la_rng, a->la_min, a->la_max);

		mk_free_stamped(t->lt_obj[k], t->lt_size[k]);
		t->lt_obj[k] = mk_alloc_stamped(sz);
		t->lt_size[k] = sz;
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	static const char *const keys[] = { "threads", "scale", "seed",
	    "generations", "steps", "slots", "min", "max", NULL };
	struct larson_table tables[MACRO_MAXTHREADS];
	struct larson_arg args[MACRO_MAXTHREADS];
	int nthreads, g, i;
	long gens, steps;
	size_t slots, min, max, k;
	double scale;
	uint64_t seed, t0;
	mk_rng_t rng;

	mk_check_args(argc, argv, keys);
	nthreads = mk_threads(argc, argv, 2);
	scale = mk_arg_double(argc, argv, "scale", 1);
	seed = (uint64_t)mk_arg_long(argc, argv, "seed", 1);
	gens = mk_scaled(scale, mk_arg_long(argc, argv, "generations", 40), 2);
	steps = mk_scaled(scale, mk_arg_long(argc, argv, "steps", 500000), 10);
	slots = (size_t)mk_arg_long(argc, argv, "slots", 1000);
	min = (size_t)mk_arg_long(argc, argv, "min", 8);
	max = (size_t)mk_arg_long(argc, argv, "max", 1000);
	if (slots == 0 || min == 0 || max < min)
		mk_die("want slots > 0 and 0 < min <= max");

	t0 = mk_now_ns();
	mk_seed(&rng, seed, 0);
	for (i = 0; i < nthreads; i++) {
		tables[i].lt_obj = mk_alloc(slots * sizeof(void *));
		tables[i].lt_size = mk_alloc(slots * sizeof(size_t));
		for (k = 0; k < slots; k++) {
			tables[i].lt_size[k] = mk_range(&rng, min, max);
			tables[i].lt_obj[k] =
			    mk_alloc_stamped(tables[i].lt_size[k]);
		}
	}
	for (g = 0; g < gens; g++) {
		for (i = 0; i < nthreads; i++) {
			args[i].la_table = &tables[(i + g) % nthreads];
			args[i].la_steps = steps;
			args[i].la_slots = slots;
			args[i].la_min = min;
			args[i].la_max = max;
			mk_seed(&args[i].la_rng, seed,
			    (unsigned)(g * nthreads + i + 1));
		}
		mk_run_threads(nthreads, larson_worker, args, sizeof(args[0]));
	}
	for (i = 0; i < nthreads; i++) {
		for (k = 0; k < slots; k++)
			mk_free_stamped(tables[i].lt_obj[k],
			    tables[i].lt_size[k]);
		free(tables[i].lt_obj);
		free(tables[i].lt_size);
	}
	mk_result(nthreads, gens * steps * nthreads, t0, "generations=%ld",
	    gens);
	return 0;
}

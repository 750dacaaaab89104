/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * cache_scratch, cache_thrash: false sharing caused by the allocator.
 *
 * The two tests of E. Berger, K. McKinley, R. Blumofe and P. Wilson,
 * "Hoard: A Scalable Memory Allocator for Multithreaded Applications",
 * ASPLOS 2000 (cache-scratch and cache-thrash of the Hoard and mimalloc
 * suites), built from this one file:
 *
 * - cache_thrash (active false sharing): every thread allocates a small
 *   object, writes it many times and frees it, over and over.  An
 *   allocator that carves objects for different threads out of one
 *   cache line makes the threads fight over that line.
 *
 * - cache_scratch (passive false sharing, MACRO_SCRATCH): the main
 *   thread allocates one small object per thread, side by side, and
 *   hands one to each thread, which frees it before starting the same
 *   loop.  An allocator that gives the freed object (or its neighbours)
 *   back to the thread that freed it reproduces the sharing that the
 *   main thread set up.
 *
 * Keys: threads=, iterations= (allocations per thread), writes= (writes
 * to each object), size= (bytes, 8 by default).  The time is almost all
 * spent writing: a good allocator keeps it flat from one thread to
 * two.
 */
#ifdef MACRO_SCRATCH
#define	MACRO_NAME	"cache_scratch"
#else
#define	MACRO_NAME	"cache_thrash"
#endif
#include "macro.h"

struct cf_arg {
	char		*ca_first;	/* scratch: the main thread's object */
	long		ca_iterations;
	long		ca_writes;
	size_t		ca_size;
	uint64_t	ca_sum;
};

static void *
cf_worker(void *varg)
{
	struct cf_arg *a = varg;
	volatile char *p;
	long i, w;
	size_t j;

	if (a->ca_first != NULL)
		free(a->ca_first);
	for (i = 0; i < a->ca_iterations; i++) {
		p = mk_alloc(a->ca_size);
		for (w = 0; w < a->ca_writes; w++)
			for (j = 0; j < a->ca_size; j++)
				p[j] = (char)(p[j] + 1);
		a->ca_sum += (unsigned char)p[0];
		free((void *)p);
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	static const char *const keys[] = { "threads", "scale", "seed",
	    "iterations", "writes", "size", NULL };
	struct cf_arg args[MACRO_MAXTHREADS];
	long iterations, writes;
	int nthreads, i;
	uint64_t t0;
	double scale;
	size_t size;

	mk_check_args(argc, argv, keys);
	nthreads = mk_threads(argc, argv, 2);
	scale = mk_arg_double(argc, argv, "scale", 1);
	iterations = mk_scaled(scale, mk_arg_long(argc, argv, "iterations",
	    1500), 2);
	writes = mk_arg_long(argc, argv, "writes", 100000);
	size = (size_t)mk_arg_long(argc, argv, "size", 8);
	if (size == 0 || writes == 0)
		mk_die("want size > 0 and writes > 0");

	t0 = mk_now_ns();
	for (i = 0; i < nthreads; i++) {
		args[i].ca_first = NULL;
#ifdef MACRO_SCRATCH
		args[i].ca_first = mk_alloc(size);
		memset(args[i].ca_first, 0, size);
#endif
		args[i].ca_iterations = iterations;
		args[i].ca_writes = writes;
		args[i].ca_size = size;
		args[i].ca_sum = 0;
	}
	mk_run_threads(nthreads, cf_worker, args, sizeof(args[0]));
	mk_result(nthreads, iterations * nthreads, t0, "writes=%ld size=%zu",
	    writes, size);
	return 0;
}

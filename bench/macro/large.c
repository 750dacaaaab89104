/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * large: big buffers, 64 KiB to 8 MiB.
 *
 * Buffers of this size are where allocators differ most in how they
 * get memory from the kernel (mmap per buffer, a heap that grows, or
 * cached spans) and in how often they hand it back; a program that
 * keeps replacing a few large buffers (an image pipeline, a server's
 * I/O buffers, a compressor's windows) pays for every page the
 * allocator returns and faults in again.
 *
 * Each of threads= threads keeps live= buffers and replaces a random
 * one at each step with a buffer of a size drawn log-uniformly from
 * min= to max= bytes; the new buffer is written once per 4 KiB page
 * (as a program filling it would) and stamped at both ends.  steps=
 * replacements per thread.
 */
#define	MACRO_NAME	"large"
#include "macro.h"

#include <math.h>

struct lg_arg {
	long		la_steps;
	size_t		la_live, la_min, la_max;
	mk_rng_t	la_rng;
	uint64_t	la_bytes;
};

static size_t
lg_size(mk_rng_t *r, size_t min, size_t max)
{
	double u = (double)mk_below(r, 1u << 30) / (double)(1u << 30);
	double lo = log((double)min), hi = log((double)max);
	size_t sz = (size_t)exp(lo + u * (hi - lo));

	return sz < min ? min : sz > max ? max : sz;
}

static void *
lg_new(size_t sz)
{
	char *p = mk_alloc(sz);
	size_t off;

	for (off = 0; off < sz; off += 4096)
		p[off] = (char)off;
	mk_stamp(p, sz);
	return p;
}

static void *
lg_worker(void *varg)
{
	struct lg_arg *a = varg;
	char **buf;
	size_t *size, k;
	long s;

	buf = calloc(a->la_live, sizeof(*buf));
	size = calloc(a->la_live, sizeof(*size));
	if (buf == NULL || size == NULL)
		mk_die("no memory for a table");
	for (s = 0; s < a->la_steps; s++) {
		k = (size_t)mk_below(&a->la_rng, a->la_live);
		if (buf[k] != NULL)
			mk_free_stamped(buf[k], size[k]);
		size[k] = lg_size(&a->la_rng, a->la_min, a->la_max);
		buf[k] = lg_new(size[k]);
		a->la_bytes += size[k];
	}
	for (k = 0; k < a->la_live; k++)
		if (buf[k] != NULL)
			mk_free_stamped(buf[k], size[k]);
	free(buf);
	free(size);
	return NULL;
}

int
main(int argc, char **argv)
{
	static const char *const keys[] = { "threads", "scale", "seed",
	    "steps", "live", "min", "max", NULL };
	struct lg_arg args[MACRO_MAXTHREADS];
	size_t live, min, max;
	uint64_t seed, t0, bytes = 0;
	int nthreads, i;
	double scale;
	long steps;

	mk_check_args(argc, argv, keys);
	nthreads = mk_threads(argc, argv, 1);
	scale = mk_arg_double(argc, argv, "scale", 1);
	seed = (uint64_t)mk_arg_long(argc, argv, "seed", 1);
	steps = mk_scaled(scale, mk_arg_long(argc, argv, "steps", 3000), 10);
	live = (size_t)mk_arg_long(argc, argv, "live", 8);
	min = (size_t)mk_arg_long(argc, argv, "min", 64 * 1024);
	max = (size_t)mk_arg_long(argc, argv, "max", 8 * 1024 * 1024);
	if (live == 0 || min < 16 || max < min)
		mk_die("want live > 0 and 16 <= min <= max");

	t0 = mk_now_ns();
	for (i = 0; i < nthreads; i++) {
		args[i].la_steps = steps;
		args[i].la_live = live;
		args[i].la_min = min;
		args[i].la_max = max;
		args[i].la_bytes = 0;
		mk_seed(&args[i].la_rng, seed, (unsigned)i + 1);
	}
	mk_run_threads(nthreads, lg_worker, args, sizeof(args[0]));
	for (i = 0; i < nthreads; i++)
		bytes += args[i].la_bytes;
	mk_result(nthreads, steps * nthreads, t0, "mib=%.0f",
	    (double)bytes / 1048576);
	return 0;
}

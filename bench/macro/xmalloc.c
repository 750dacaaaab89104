/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * xmalloc: producers and consumers, every free a remote one.
 *
 * Modelled on the producer/consumer test of C. Lever and D. Boreham,
 * "malloc() Performance in a Multithreaded Linux Environment", USENIX
 * 2000 (xmalloc-test in the mimalloc benchmark suite): memory is
 * allocated in one thread and released in another, which defeats an
 * allocator that only caches per thread and never sends memory home.
 *
 * Here each of threads= threads is both a producer and a consumer:
 * thread i fills batches of batch= objects (sizes 16 to max= bytes,
 * most of them small) and passes them through a single-producer,
 * single-consumer ring to thread i + 1 (mod threads), and frees the
 * batches it gets from thread i - 1.  With one thread the ring loops
 * back (the same work without remote frees).  objects= objects per
 * thread in all.
 */
#define	MACRO_NAME	"xmalloc"
#include "macro.h"

#include <sched.h>
#include <stdatomic.h>

#define	RING	64		/* batches in flight per ring */
#define	MAXBATCH 256

struct batch {
	int		b_n;
	void		*b_obj[MAXBATCH];
	uint32_t	b_size[MAXBATCH];
};

struct ring {
	_Atomic(uint64_t)	r_head __attribute__((__aligned__(64)));
	_Atomic(uint64_t)	r_tail __attribute__((__aligned__(64)));
	struct batch		*r_slot[RING];
};

struct xm_arg {
	struct ring	*xa_out, *xa_in;
	long		xa_batches;	/* to produce and to consume */
	int		xa_batch;
	size_t		xa_max;
	mk_rng_t	xa_rng;
	long		xa_freed;
};

static size_t
xm_size(mk_rng_t *r, size_t max)
{
	/* Three in four small (16 to 128 bytes), the rest up to max. */
	if (mk_below(r, 4) != 0)
		return mk_range(r, 16, max < 128 ? max : 128);
	return mk_range(r, 16, max);
}

static void *
xm_worker(void *varg)
{
	struct xm_arg *a = varg;
	long made = 0, got = 0;
	struct batch *b;
	uint64_t h, t;
	int i;

	while (made < a->xa_batches || got < a->xa_batches) {
		bool idle = true;

		h = atomic_load_explicit(&a->xa_out->r_head,
		    memory_order_relaxed);
		t = atomic_load_explicit(&a->xa_out->r_tail,
		    memory_order_acquire);
		if (made < a->xa_batches && h - t < RING) {
			b = mk_alloc(sizeof(*b));
			b->b_n = a->xa_batch;
			for (i = 0; i < b->b_n; i++) {
				b->b_size[i] = (uint32_t)xm_size(&a->xa_rng,
				    a->xa_max);
				b->b_obj[i] = mk_alloc_stamped(b->b_size[i]);
			}
			a->xa_out->r_slot[h % RING] = b;
			atomic_store_explicit(&a->xa_out->r_head, h + 1,
			    memory_order_release);
			made++;
			idle = false;
		}
		t = atomic_load_explicit(&a->xa_in->r_tail,
		    memory_order_relaxed);
		h = atomic_load_explicit(&a->xa_in->r_head,
		    memory_order_acquire);
		while (t != h) {
			b = a->xa_in->r_slot[t % RING];
			for (i = 0; i < b->b_n; i++)
				mk_free_stamped(b->b_obj[i], b->b_size[i]);
			a->xa_freed += b->b_n;
			free(b);
			t++;
			got++;
			atomic_store_explicit(&a->xa_in->r_tail, t,
			    memory_order_release);
			idle = false;
		}
		if (idle)
			sched_yield();
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	static const char *const keys[] = { "threads", "scale", "seed",
	    "objects", "batch", "max", NULL };
	struct xm_arg args[MACRO_MAXTHREADS];
	struct ring *rings;
	long objects, freed = 0;
	int nthreads, batch, i;
	double scale;
	uint64_t seed, t0;
	size_t max;

	mk_check_args(argc, argv, keys);
	nthreads = mk_threads(argc, argv, 2);
	scale = mk_arg_double(argc, argv, "scale", 1);
	seed = (uint64_t)mk_arg_long(argc, argv, "seed", 1);
	objects = mk_scaled(scale, mk_arg_long(argc, argv, "objects",
	    6000000), 1000);
	batch = (int)mk_arg_long(argc, argv, "batch", 100);
	max = (size_t)mk_arg_long(argc, argv, "max", 512);
	if (batch < 1 || batch > MAXBATCH || max < 16)
		mk_die("want 1 <= batch <= %d and max >= 16", MAXBATCH);

	t0 = mk_now_ns();
	rings = aligned_alloc(64, sizeof(*rings) * (size_t)nthreads);
	if (rings == NULL)
		mk_die("no memory for the rings");
	memset(rings, 0, sizeof(*rings) * (size_t)nthreads);
	for (i = 0; i < nthreads; i++) {
		args[i].xa_out = &rings[i];
		args[i].xa_in = &rings[(i + nthreads - 1) % nthreads];
		args[i].xa_batches = objects / batch;
		args[i].xa_batch = batch;
		args[i].xa_max = max;
		args[i].xa_freed = 0;
		mk_seed(&args[i].xa_rng, seed, (unsigned)i + 1);
	}
	mk_run_threads(nthreads, xm_worker, args, sizeof(args[0]));
	for (i = 0; i < nthreads; i++)
		freed += args[i].xa_freed;
	free(rings);
	if (freed != (objects / batch) * batch * nthreads)
		mk_die("freed %ld objects, want %ld", freed,
		    (objects / batch) * batch * nthreads);
	mk_result(nthreads, freed, t0, "batch=%d", batch);
	return 0;
}

/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_rss: resident memory tracks live data.  Threads allocate a mix of
 * kmem(3) objects from 8 bytes to 1 MiB and pool_cache(3) objects with
 * a constructor, up to about 200 MiB live, free each other's objects,
 * and after nbmem_reclaim() the process's resident anonymous memory
 * (/proc/self/statm) is back within 10% or 1 MiB, whichever is larger,
 * of what it was before: while the threads are still alive (their
 * per-thread or per-CPU slots must be emptied by the reclaim pass) and
 * after they exited.
 */
#include <sys/mman.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <atf-c.h>

#include <nbmem/kmem.h>
#include <nbmem/nbmem.h>
#include <nbmem/pool.h>

#include "nbtest.h"

#if defined(__SANITIZE_ADDRESS__)
#define	NBT_ASAN	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define	NBT_ASAN	1
#endif
#endif

#define	NTHREAD		4
#define	LIVE_MAX	(200u << 20)	/* bytes live at the peak */
#define	NREC		200000		/* records per thread */

struct rec {
	void		*r_p;
	uint32_t	r_size;		/* 0: a pool_cache object */
};

struct worker {
	pthread_t	w_thread;
	unsigned int	w_id;
	uint64_t	w_rng;
	size_t		w_target;	/* live bytes to reach */
	size_t		w_live;
	unsigned int	w_n;
	struct rec	*w_rec;		/* mmap'ed: not from the allocator */
	unsigned int	w_ctor, w_dtor;
};

static struct worker workers[NTHREAD];
static bool small_only;		/* sizes up to 4 KiB only */
static pthread_barrier_t bar;
static pool_cache_t obj_cache;
static unsigned int nctor, ndtor;
static size_t ps;

#define	OBJ_SIZE	200

static int
obj_ctor(void *arg, void *obj, int flags)
{
	(void)arg;
	(void)flags;
	memset(obj, 0xc3, OBJ_SIZE);
	__atomic_add_fetch(&nctor, 1, __ATOMIC_RELAXED);
	return 0;
}

static void
obj_dtor(void *arg, void *obj)
{
	(void)arg;
	ATF_CHECK(((unsigned char *)obj)[OBJ_SIZE - 1] == 0xc3);
	__atomic_add_fetch(&ndtor, 1, __ATOMIC_RELAXED);
}

/*
 * Resident anonymous memory: statm's resident pages less its shared
 * ones (file-backed: the code of the libraries, which the workload
 * faults in and the allocator has nothing to do with).
 */
static size_t
rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size, res, shared;

	ATF_REQUIRE(f != NULL);
	ATF_REQUIRE(fscanf(f, "%lu %lu %lu", &size, &res, &shared) == 3);
	fclose(f);
	return (res - shared) * ps;
}

static uint64_t
rng(struct worker *w)
{
	uint64_t x = w->w_rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return w->w_rng = x;
}

/* Log-uniform sizes: mostly small, some up to 1 MiB. */
static uint32_t
pick_size(struct worker *w)
{
	uint64_t r = rng(w);
	unsigned int kind = (unsigned int)(r % 10), bits;

	r >>= 8;
	if (small_only)
		bits = 3 + (unsigned int)(r % 10);	/* 8 B .. 8 KiB */
	else if (kind < 7)
		bits = 3 + (unsigned int)(r % 8);	/* 8 B .. 2 KiB */
	else if (kind < 9)
		bits = 11 + (unsigned int)(r % 6);	/* 2 KiB .. 128 KiB */
	else
		bits = 16 + (unsigned int)(r % 5);	/* 64 KiB .. 1 MiB */
	r >>= 8;
	return (uint32_t)((1u << bits) + r % (1u << bits));
}

static void
rec_free(struct rec *r)
{
	if (r->r_size == 0) {
		pool_cache_put(obj_cache, r->r_p);
	} else {
		ATF_CHECK(((unsigned char *)r->r_p)[r->r_size - 1] ==
		    (unsigned char)r->r_size);
		kmem_free(r->r_p, r->r_size);
	}
	r->r_p = NULL;
}

/* Allocate (with some churn) until the target is live. */
static void
fill(struct worker *w)
{
	while (w->w_live < w->w_target && w->w_n < NREC) {
		struct rec *r = &w->w_rec[w->w_n];
		uint64_t x = rng(w);

		if (x % 4 == 0 && w->w_n > 0) {
			/* Churn: free a random live object, move the last. */
			unsigned int i = (unsigned int)((x >> 8) % w->w_n);
			struct rec *v = &w->w_rec[i];
			w->w_live -= v->r_size != 0 ? v->r_size : OBJ_SIZE;
			rec_free(v);
			*v = w->w_rec[--w->w_n];
			continue;
		}
		if (x % 4 == 1) {
			r->r_size = 0;
			r->r_p = pool_cache_get(obj_cache, PR_WAITOK);
			ATF_REQUIRE(r->r_p != NULL);
			ATF_CHECK(((unsigned char *)r->r_p)[0] == 0xc3);
			w->w_live += OBJ_SIZE;
		} else {
			r->r_size = pick_size(w);
			r->r_p = kmem_alloc(r->r_size, KM_SLEEP);
			ATF_REQUIRE(r->r_p != NULL);
			memset(r->r_p, (unsigned char)r->r_size, r->r_size);
			w->w_live += r->r_size;
		}
		w->w_n++;
	}
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct worker *other = &workers[(w->w_id + 1) % NTHREAD];

	fill(w);
	(void)pthread_barrier_wait(&bar);
	/* The main thread measures the peak meanwhile. */
	(void)pthread_barrier_wait(&bar);
	/* Free the neighbour's objects: cross-thread frees. */
	for (unsigned int i = 0; i < other->w_n; i++)
		rec_free(&other->w_rec[i]);
	(void)pthread_barrier_wait(&bar);
	/* Stay alive, slots full, while the main thread reclaims. */
	(void)pthread_barrier_wait(&bar);
	return NULL;
}

static void
run(size_t live)
{
	ATF_REQUIRE(pthread_barrier_init(&bar, NULL, NTHREAD + 1) == 0);
	for (unsigned int i = 0; i < NTHREAD; i++) {
		struct worker *w = &workers[i];
		w->w_id = i;
		w->w_rng = 0x9e3779b97f4a7c15ull * (i + 1) + live;
		w->w_target = live / NTHREAD;
		w->w_live = 0;
		w->w_n = 0;
		ATF_REQUIRE(pthread_create(&w->w_thread, NULL, worker_main,
		    w) == 0);
	}
}

static void
finish(void)
{
	(void)pthread_barrier_wait(&bar);
	for (unsigned int i = 0; i < NTHREAD; i++)
		ATF_REQUIRE(pthread_join(workers[i].w_thread, NULL) == 0);
	ATF_REQUIRE(pthread_barrier_destroy(&bar) == 0);
}

/* The test's own records are not the library's: drop their pages. */
static void
rec_drop(void)
{
	for (unsigned int i = 0; i < NTHREAD; i++)
		ATF_REQUIRE(madvise(workers[i].w_rec, NREC * sizeof(struct rec),
		    MADV_DONTNEED) == 0);
}

static void
check_rss(const char *when, size_t base)
{
	size_t now = rss_bytes(), slack = base / 10;

	if (slack < (1u << 20))
		slack = 1u << 20;
	printf("%s: rss %zu KiB (start %zu KiB, allowed %zu KiB more); "
	    "budget in use %zu KiB\n", when, now >> 10, base >> 10,
	    slack >> 10, nbmem_physmem_inuse() >> 10);
	if (now > base + slack) {
		(void)nbmem_stats_print(STDOUT_FILENO, NULL);
		atf_tc_fail_nonfatal("%s: resident %zu KiB, started at %zu "
		    "KiB: %zu KiB not given back", when, now >> 10, base >> 10,
		    (now - base) >> 10);
	}
}

static void
rss_workload(size_t live)
{
	size_t base, peak = 0;

#ifdef NBT_ASAN
	/*
	 * AddressSanitizer's shadow of every page the workload touched
	 * stays resident after the pages themselves are gone (measured: 16
	 * MiB, one eighth of the peak, while the budget is back to one
	 * page): the resident set measures the sanitizer, not the library.
	 */
	atf_tc_skip("under ASan the shadow of the freed pages stays "
	    "resident");
#endif
	ps = (size_t)sysconf(_SC_PAGESIZE);
	obj_cache = pool_cache_init(OBJ_SIZE, 0, 0, 0, "t-rss-obj", NULL,
	    IPL_NONE, obj_ctor, obj_dtor, NULL);
	ATF_REQUIRE(obj_cache != NULL);
	for (unsigned int i = 0; i < NTHREAD; i++) {
		void *p = mmap(NULL, NREC * sizeof(struct rec),
		    PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ATF_REQUIRE(p != MAP_FAILED);
		workers[i].w_rec = p;
	}

	/*
	 * A small round first: the threads' stacks (kept by the C
	 * library), the caches and their slots exist before the start is
	 * measured, as they would in a program that runs for a while.
	 */
	run(4u << 20);
	(void)pthread_barrier_wait(&bar);
	(void)pthread_barrier_wait(&bar);
	(void)pthread_barrier_wait(&bar);
	finish();
	(void)nbmem_reclaim();
	rec_drop();
	base = rss_bytes();

	run(live);
	(void)pthread_barrier_wait(&bar);	/* every thread is full */
	/* Measured before the threads free anything (they wait for it). */
	peak = rss_bytes();
	printf("peak: rss %zu KiB, budget in use %zu KiB\n", peak >> 10,
	    nbmem_physmem_inuse() >> 10);
	(void)pthread_barrier_wait(&bar);
	ATF_CHECK_MSG(peak > base + live / 2, "peak %zu KiB: the "
	    "workload did not run", peak >> 10);
	(void)pthread_barrier_wait(&bar);	/* everything freed */
	(void)nbmem_reclaim();
	rec_drop();
	check_rss("threads alive", base);
	finish();
	(void)nbmem_reclaim();
	check_rss("threads exited", base);
	ATF_CHECK_EQ(obj_cache->pc_pool.pr_nout, 0);
	ATF_CHECK_EQ(__atomic_load_n(&nctor, __ATOMIC_RELAXED),
	    __atomic_load_n(&ndtor, __ATOMIC_RELAXED));
	pool_cache_destroy(obj_cache);
}

/* Sizes from 8 bytes to 1 MiB: size classes and the large path. */
ATF_TC_WITHOUT_HEAD(rss_back_after_reclaim);
ATF_TC_BODY(rss_back_after_reclaim, tc)
{
	rss_workload(LIVE_MAX);
}

/*
 * Small objects only: hundreds of thousands of pool pages' worth of
 * items, page headers, groups, boundary tags and hash buckets.
 */
ATF_TC_WITHOUT_HEAD(rss_back_small_objects);
ATF_TC_BODY(rss_back_small_objects, tc)
{
	small_only = true;
	rss_workload(LIVE_MAX / 2);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, rss_back_after_reclaim);
	ATF_TP_ADD_TC(tp, rss_back_small_objects);
	return atf_no_error();
}

/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * kmem.c: the general-purpose allocator kmem(3): size classes over pool
 * caches, whole pages over vmem above them.
 *
 * 1 Overview
 *   A request of n bytes (n > 0) is served by the smallest size class
 *   that holds it, a pool cache at IPL_VM named "kmem-NNNNN" whose pages
 *   come from kmem_va_arena through uvm_km_kmem_alloc(); above the
 *   largest class, by whole pages of kmem_va_arena (the large path,
 *   uvm_km_kmem_alloc with instant fit).  kmem_free() is given the size
 *   and recomputes the same class from it, so no object carries a
 *   header.  The classes are NetBSD's on 64-byte cache lines and 4 KiB
 *   pages (8, 16, 32, 64, 128, 192, 256, 320, 384, 448, 512, 768, 1024,
 *   2048, 4096) and, beyond NetBSD, 8, 12, 16, 24, 32, 48 and 64 KiB:
 *   a pool cache keeps freed objects of those sizes at hand, where the
 *   large path would give the pages back to the system on every free
 *   (bench/micro/kmem_bench.c measures the difference).  The malloc
 *   library asks, before kmem_init(), for 23 classes more between those
 *   ("malloc-NNNNN", nbmem_kmem_malloc_classes): only its own lookups
 *   (nbmem_kmem_malloc_cache) reach them; kmem_alloc keeps NetBSD's
 *   classes and alignments there too.
 *
 * 2 Data structures
 *   kmem_cache_store[] holds the caches (pool_cache_bootstrap storage);
 *   two tables map a size to its cache without a loop or a division:
 *   kmem_cache_small[(n - 1) >> 3] for n <= 4096 and
 *   kmem_cache_big[(n - 1) >> 11] for 4096 < n <= 64 KiB, as NetBSD's
 *   kmem_cache and kmem_cache_big (whose small table stops at 1024: one
 *   table up to the page spares the fast path a second size test, for
 *   4 KiB of pointers); kmem_msmall and kmem_mbig (one entry per
 *   8 bytes, then per 1 KiB) do the same for the malloc library over all
 *   the classes made.  Every class has a pool allocator of its own,
 *   over pool_allocator_kmem's functions; each page the pool lays out
 *   (with where its first object is) and each it gives back is reported
 *   to nbmem_kmem_page_hook when one is set (the malloc family's page
 *   map).  The classes above 4 KiB draw pages
 *   of four to five objects (a power of two, as pool(3) wants) from
 *   private allocators, and so do the malloc classes up to 4 KiB that a
 *   4 KiB page would hold with more than a sixteenth wasted; those pages
 *   are page-aligned only, so their pools are PR_NOALIGN.
 *
 * 3 Invariants
 *   - the tables are filled once, by kmem_init(), before any cache in
 *     them is used, and never change afterwards; an entry is NULL only
 *     before that, which sends the caller to the slow path, where the
 *     first call of the process runs kmem_init() (a program that never
 *     calls kmem has no kmem caches);
 *   - alignment: 8 bytes for the 8-byte class, 16 for the 16- and
 *     32-byte classes (what malloc(3) owes them), 64 bytes for the
 *     classes from 64, the page (at most 4 KiB for the classes) for
 *     classes that are multiples of 4 KiB and for the large path; the
 *     malloc classes: 64 bytes for multiples of 64, 16 for the others;
 *   - every object of a class is at least n bytes for every n mapped to
 *     it, so a size passed to kmem_free() that maps to the same class
 *     is harmless (NetBSD: undetected without KMEM_SIZE).
 *
 * 4 Locking and signal safety
 *   kmem has no lock of its own.  The fast paths are the pool cache's
 *   (no lock, no atomic read-modify-write).  The caches and
 *   kmem_va_arena are at IPL_VM, so kmem_intr_* with KM_NOSLEEP run
 *   from signal handlers: pool_cache takes its depot path there, the
 *   page layer holds its locks with signals blocked.  kmem_alloc,
 *   kmem_zalloc and kmem_free refuse interrupt context, as NetBSD's do.
 *
 * 5 Debug features
 *   Always on: size 0, sleep flags other than exactly one of KM_SLEEP
 *   and KM_NOSLEEP, kmem_free(NULL, n), kmem_free(p, 0), the plain
 *   calls from a signal handler, KM_SLEEP from one, kmem_strndup with a
 *   NULL string or maxlen 0, sizes that can never be met.  A pointer
 *   freed into the wrong class, or not from kmem, is diagnosed by the
 *   pool when the object reaches it (invalidation, reclaim, a full
 *   cache), and on the large path by the page layer and vmem at once
 *   (unaligned, foreign, wrong size).  nbmem_debug_kmem (the run-time
 *   debug modes, NBMEM_DEBUG) sends every call through
 *   nbmem_kmem_debug_alloc/free, which build on nbmem_kmem_raw_alloc/
 *   free below; the test costs one load and a predicted branch.
 *
 * 6 Differences from NetBSD
 *   - Classes beyond the page (8 KiB to 64 KiB), see 1.
 *   - No KMEM_SIZE footer in the default build: it is one of the run-
 *     time debug modes instead of a DIAGNOSTIC compile option.
 *   - kmem_alloc's interrupt-context check covers signal handlers marked
 *     with nbmem_intr_enter(); "soft interrupts" do not exist.
 *   - A KM_SLEEP request that the memory budget cannot meet blocks in
 *     the page layer until memory is freed (nbmem(3)), as the kernel
 *     waits for the pagedaemon.
 *
 * 7 References
 *   NetBSD kmem(9) and sys/kern/subr_kmem.c (1.87); J. Bonwick and J.
 *   Adams, "Magazines and Vmem", USENIX 2001.
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "pool_cache_impl.h"
#include "os/os.h"

#include <nbmem/kmem.h>
#include <nbmem/pool.h>
#include <nbmem/uvm_km.h>

#ifndef __noinline
#define	__noinline	__attribute__((__noinline__))
#endif

CTASSERT(KM_SLEEP == PR_WAITOK);
CTASSERT(KM_NOSLEEP == PR_NOWAIT);

#define	KMEM_ALIGN		8u	/* every object; kmem_roundup_size */
#define	KMEM_SHIFT		3	/* small table: one entry per 8 bytes */
#define	KMEM_MAXSIZE		4096u	/* largest size of the small table */
#define	KMEM_BIG_SHIFT		11	/* big table: one entry per 2 KiB */
#define	KMEM_BIG_MAX		65536u	/* largest class */
#define	KMEM_COHERENCY		64u	/* COHERENCY_UNIT: a cache line */
#define	KMEM_PAGE		4096u	/* alignment of page-multiple classes */
#define	KMEM_MALLOC_ALIGN	16u	/* classes from 16 bytes: malloc(3)'s */
/* Pages of the classes above 4 KiB hold at least this many objects. */
#define	KMEM_BIG_PERPAGE	4u

#define	KMEM_NSMALL		(KMEM_MAXSIZE >> KMEM_SHIFT)
#define	KMEM_NBIG		(KMEM_BIG_MAX >> KMEM_BIG_SHIFT)

/*
 * The classes: NetBSD's candidates that are cache-line friendly on 64-
 * byte lines (spec 4.2), then page multiples that waste at most a
 * quarter of an object above 8 KiB.
 */
static const unsigned int kmem_class_size[] = {
	8, 16, 32, 64, 128, 192, 256, 320, 384, 448, 512, 768, 1024,
	2048, 4096, 8192, 12288, 16384, 24576, 32768, 49152, 65536,
	/*
	 * The malloc library's classes (nbmem_kmem_malloc_classes), after
	 * kmem's: with them every power of two up to 64 KiB is cut in four
	 * (as jemalloc's classes, J. Evans, "A scalable concurrent malloc(3)
	 * implementation for FreeBSD", BSDCan 2006, and its later size
	 * classes), so that an object wastes at most a fifth of itself
	 * where kmem's classes alone waste up to half (72 bytes in the
	 * 128-byte class, 4,100 in the 8 KiB one).  Multiples of 16, for
	 * malloc's alignment.
	 */
	48, 80, 96, 112, 160, 224, 640, 896, 1280, 1536, 1792, 2560, 3072,
	3584, 5120, 6144, 7168, 10240, 14336, 20480, 28672, 40960, 57344,
};
#define	KMEM_NALL	(sizeof(kmem_class_size) / sizeof(kmem_class_size[0]))
#define	KMEM_NCLASS	22	/* kmem's own classes: the first ones */
#define	KMEM_NBIGCLASS	7	/* kmem's classes above 4 KiB */
#define	KMEM_NBIGALL	16	/* the same, the malloc classes with them */
#define	KMEM_PCPU_AREA	((size_t)24 << 10)	/* a CPU's slots, all classes */
#define	KMEM_PCPU_AREA_ALL	((size_t)48 << 10)	/* with malloc's */
/* The malloc classes' second table: one entry per 1 KiB above 4 KiB. */
#define	KMEM_MBIG_SHIFT		10
#define	KMEM_NMBIG		(KMEM_BIG_MAX >> KMEM_MBIG_SHIFT)

CTASSERT(KMEM_NALL <= 64);

static struct pool_cache kmem_cache_store[KMEM_NALL];
static char kmem_cache_name[KMEM_NALL][16];
/* The classes made: KMEM_NCLASS, or KMEM_NALL with malloc's. */
static unsigned int kmem_nmade;
/* nbmem_kmem_malloc_classes() asked for them before kmem_init(). */
static bool kmem_malloc_wanted;
/*
 * The malloc library's tables: the smallest class of all made that holds
 * a size, by (n - 1) >> 3 up to 4 KiB and (n - 1) >> 10 above; kmem's
 * own classes only when the malloc classes were not made.
 */
static pool_cache_t kmem_msmall[KMEM_NSMALL];
static pool_cache_t kmem_mbig[KMEM_NMBIG];
static pool_cache_t kmem_cache_small[KMEM_NSMALL];
/*
 * What the inline fast paths index: kmem_cache_small, or, before
 * kmem_init and always when a debug mode is on (set before the first
 * cache exists), kmem_cache_none, so that the fast paths need no test of
 * their own for either.  kmem_cache_none is a cache of zeroes but for
 * its id, which no table reaches, so its fast paths always decline (no
 * slot, no per-CPU array, no page header check) and reach
 * kmem_alloc_big / kmem_free_big, which use kmem_cache_small.
 */
static struct pool_cache kmem_cache_none;

/*
 * Its id is past every thread's slot table, so the per-thread fast path
 * misses at the bounds test, before any slot (the shared placeholder
 * included, which entering writes) is touched.
 */
__attribute__((__constructor__(101)))
static void
kmem_cache_none_init(void)
{
	pc_impl(&kmem_cache_none)->pc_id = UINT_MAX;
}

static pool_cache_t kmem_cache_fast[KMEM_NSMALL] = {
	[0 ... KMEM_NSMALL - 1] = &kmem_cache_none
};
static pool_cache_t kmem_cache_big[KMEM_NBIG];
/* The same for the classes above 4 KiB: kmem_cache_big, or none. */
static pool_cache_t kmem_cache_bigfast[KMEM_NBIG] = {
	[0 ... KMEM_NBIG - 1] = &kmem_cache_none
};
static pthread_once_t kmem_once = PTHREAD_ONCE_INIT;

CTASSERT(KMEM_NSMALL == 512 && KMEM_NBIG == 32);

/*
 * Each class has an allocator of its own: pool_allocator_kmem's pages
 * (kmem_va_arena, pa_pagesz bytes a page; larger pages above 4 KiB),
 * given back through kmem_page_free; once the pool has laid a page out,
 * kmem_page_primed tells nbmem_kmem_page_hook which class it serves and
 * where its first object is (the pool's colour moves it from page to
 * page), kmem_page_free that it goes.
 */
static struct pool_allocator kmem_allocator[KMEM_NALL];

void	(*nbmem_kmem_page_hook)(void *, size_t, size_t, size_t);

/*
 * The size of class i (kmem's, then malloc's), 0 past the last made, or
 * to be made by kmem_init().
 */
size_t
nbmem_kmem_class_size(unsigned int i)
{
	unsigned int n;

	if (__atomic_load_n(&kmem_cache_small[0], __ATOMIC_ACQUIRE) != NULL)
		n = kmem_nmade;
	else
		n = __atomic_load_n(&kmem_malloc_wanted, __ATOMIC_RELAXED) ?
		    KMEM_NALL : KMEM_NCLASS;
	return i < n ? kmem_class_size[i] : 0;
}

bool
nbmem_kmem_malloc_classes(void)
{
	if (__atomic_load_n(&kmem_cache_small[0], __ATOMIC_ACQUIRE) != NULL)
		return kmem_nmade == KMEM_NALL;
	__atomic_store_n(&kmem_malloc_wanted, true, __ATOMIC_RELAXED);
	return true;
}

/* The class size of the pool of a kmem cache. */
static size_t
kmem_pool_class(struct pool *pp)
{
	struct pool_cache *pc = (struct pool_cache *)(void *)((char *)pp -
	    offsetof(struct pool_cache, pc_pool));

	return kmem_class_size[pc - kmem_cache_store];
}

/* The pool made a page ready: its first object is at page + off. */
static void
kmem_page_primed(struct pool *pp, char *page, size_t off)
{
	void (*hook)(void *, size_t, size_t, size_t);

	hook = __atomic_load_n(&nbmem_kmem_page_hook, __ATOMIC_ACQUIRE);
	if (hook != NULL)
		(*hook)(page, pp->pr_alloc->pa_pagesz, kmem_pool_class(pp),
		    off);
}

static void
kmem_page_free(struct pool *pp, void *v)
{
	void (*hook)(void *, size_t, size_t, size_t);

	hook = __atomic_load_n(&nbmem_kmem_page_hook, __ATOMIC_ACQUIRE);
	if (hook != NULL)
		(*hook)(v, pp->pr_alloc->pa_pagesz, 0, 0);
	(*pool_allocator_kmem.pa_free)(pp, v);
}

/* The smallest power of two >= x (x > 0). */
static size_t
kmem_pow2(size_t x)
{
	size_t p = 1;

	while (p < x)
		p <<= 1;
	return p;
}

/* ---- initialisation */

/*
 * A prefix and five digits, as NetBSD names the caches ("kmem-00008");
 * the malloc classes are "malloc-00048".
 */
static void
kmem_name(char *buf, const char *prefix, size_t sz)
{
	size_t n = strlen(prefix);
	int d;

	memcpy(buf, prefix, n);
	for (d = (int)n + 4; d >= (int)n; d--, sz /= 10)
		buf[d] = (char)('0' + sz % 10);
	buf[n + 5] = '\0';
}

/*
 * Fill tab[0 .. n), entry k for the sizes up to (k + 1) << shift, with
 * the smallest of the classes cls[] (indices, by increasing size, the
 * last one holding every size of the table) that holds them, and fast
 * the same when it is not NULL: one walk, as the sizes only grow.
 */
static void
kmem_table_fill(pool_cache_t *tab, pool_cache_t *fast, size_t n,
    unsigned int shift, const unsigned char *cls)
{
	unsigned int i = 0;

	for (size_t k = 0; k < n; k++) {
		pool_cache_t pc;

		while (kmem_class_size[cls[i]] < (k + 1) << shift)
			i++;
		pc = &kmem_cache_store[cls[i]];
		__atomic_store_n(&tab[k], pc, __ATOMIC_RELEASE);
		if (fast != NULL)
			__atomic_store_n(&fast[k], pc, __ATOMIC_RELEASE);
	}
}

static void
kmem_init1(void)
{
	size_t ps = nbmem_os_pagesize();
	unsigned int i, nbig = 0, depth = nbmem_intr_depth;
	/* Class indices: kmem's own (its last, 64 KiB, ends every walk). */
	unsigned char own[KMEM_NALL], byall[KMEM_NALL];
	size_t n;

	/*
	 * The first call may be a kmem_intr_alloc in a signal handler
	 * marked with nbmem_intr_enter, which is allowed: the set-up's
	 * pool_init calls are kmem's, not the caller's sleeping calls
	 * (NetBSD sets kmem up at boot, before any interrupt).  The fast
	 * paths still decline meanwhile (the rseq divert follows
	 * nbmem_pcc_fast_sync, which is not called here).
	 */
	nbmem_intr_depth = 0;
	nbmem_uvm_init();
	/*
	 * The classes' CPU slots share one area (pool_cache.c): about 1 KiB
	 * a class and CPU up to 4 KiB, 384 bytes above.
	 */
	kmem_nmade = __atomic_load_n(&kmem_malloc_wanted, __ATOMIC_RELAXED) ?
	    KMEM_NALL : KMEM_NCLASS;
	nbmem_pc_pcpu_area_open(kmem_nmade == KMEM_NALL ? KMEM_PCPU_AREA_ALL :
	    KMEM_PCPU_AREA);
	for (i = 0; i < kmem_nmade; i++) {
		size_t sz = kmem_class_size[i];
		struct pool_allocator *pa = &kmem_allocator[i];
		unsigned int align;
		int flags = 0;

		pa->pa_alloc = pool_allocator_kmem.pa_alloc;
		pa->pa_free = kmem_page_free;
		if (sz < KMEM_COHERENCY) {
			/*
			 * Too small for a free-list link and its check word;
			 * 16 and 32 bytes on 16 (malloc's alignment for them).
			 */
			align = sz < KMEM_MALLOC_ALIGN ? KMEM_ALIGN :
			    KMEM_MALLOC_ALIGN;
			flags |= PR_NOTOUCH;
		} else if (sz % KMEM_PAGE == 0)
			align = KMEM_PAGE;
		else if (i >= KMEM_NCLASS)
			/* malloc's: cache lines where the size allows it. */
			align = sz % KMEM_COHERENCY == 0 ? KMEM_COHERENCY :
			    KMEM_MALLOC_ALIGN;
		else if ((sz & (sz - 1)) == 0)
			/*
			 * Powers of two on their size: the malloc library
			 * serves memalign up to 2 KiB from them.  Only the
			 * 128-byte class keeps its header on the page, and
			 * fits 31 objects either way.
			 */
			align = (unsigned int)sz;
		else
			align = KMEM_COHERENCY;
		if (sz > ps || sz > KMEM_PAGE) {
			nbig++;
			n = kmem_pow2(sz * KMEM_BIG_PERPAGE);
			pa->pa_pagesz = (unsigned int)(n < ps ? ps : n);
			flags |= PR_NOALIGN;
		} else if (i >= KMEM_NCLASS) {
			/*
			 * A malloc class up to the page: the smallest page of
			 * a power of two from the system page up that wastes
			 * at most a sixteenth of itself (3,584 bytes: 9
			 * objects in 32 KiB, where a 4 KiB page holds one
			 * and wastes an eighth; 2,560: 3 in 8 KiB, not 1 in 4).
			 */
			for (n = ps; n % sz > n / 16 && n < 8 * ps; n *= 2)
				continue;
			if (n > ps) {
				pa->pa_pagesz = (unsigned int)n;
				flags |= PR_NOALIGN;
			}
		}
		kmem_name(kmem_cache_name[i], i < KMEM_NCLASS ? "kmem-" :
		    "malloc-", sz);
		pool_cache_bootstrap(&kmem_cache_store[i], sz, align, 0,
		    (unsigned int)flags, kmem_cache_name[i], pa, IPL_VM, NULL,
		    NULL, NULL);
		nbmem_pool_cache_spl_batch(&kmem_cache_store[i]);
		nbmem_pool_decay_enable(&kmem_cache_store[i].pc_pool);
		nbmem_pool_prime_hook_set(&kmem_cache_store[i].pc_pool,
		    kmem_page_primed);
	}
	nbmem_pc_pcpu_area_close();
	VERIFY(nbig == (kmem_nmade == KMEM_NALL ? KMEM_NBIGALL :
	    KMEM_NBIGCLASS), "kmem: init: %u classes above the page", nbig);

	/*
	 * Every table entry: the smallest class that holds its sizes,
	 * among kmem's (in size order already) for kmem's tables, among
	 * all the classes made (sorted here) for the malloc library's.
	 */
	for (i = 0; i < kmem_nmade; i++) {
		unsigned int j = i;

		for (; j > 0 && kmem_class_size[byall[j - 1]] >
		    kmem_class_size[i]; j--)
			byall[j] = byall[j - 1];
		byall[j] = (unsigned char)i;
		own[i] = (unsigned char)i;
	}
	kmem_table_fill(kmem_cache_small, nbmem_debug_kmem == 0 ?
	    kmem_cache_fast : NULL, KMEM_NSMALL, KMEM_SHIFT, own);
	kmem_table_fill(kmem_cache_big, nbmem_debug_kmem == 0 ?
	    kmem_cache_bigfast : NULL, KMEM_NBIG, KMEM_BIG_SHIFT, own);
	kmem_table_fill(kmem_msmall, NULL, KMEM_NSMALL, KMEM_SHIFT, byall);
	kmem_table_fill(kmem_mbig, NULL, KMEM_NMBIG, KMEM_MBIG_SHIFT, byall);
	nbmem_intr_depth = depth;
}

NBMEM_EXPORT void
kmem_init(void)
{
	pthread_once(&kmem_once, kmem_init1);
}

/* ---- size to cache */

/* The cache of a size in [1, KMEM_BIG_MAX], NULL before kmem_init(). */
static inline pool_cache_t
kmem_cache_of(size_t size)
{
	if (size <= KMEM_MAXSIZE)
		return __atomic_load_n(
		    &kmem_cache_small[(size - 1) >> KMEM_SHIFT],
		    __ATOMIC_ACQUIRE);
	return __atomic_load_n(&kmem_cache_big[(size - 1) >> KMEM_BIG_SHIFT],
	    __ATOMIC_ACQUIRE);
}

/* The cache of a size, initialising kmem if needed (slow paths). */
static pool_cache_t
kmem_cache_get(size_t size)
{
	pool_cache_t pc = kmem_cache_of(size);

	if (__predict_false(pc == NULL)) {
		kmem_init();
		pc = kmem_cache_of(size);
	}
	return pc;
}

/*
 * The cache of a size in [1, KMEM_BIG_MAX], initialising kmem if needed:
 * the malloc family indexes these from its own fast paths.
 */
pool_cache_t
nbmem_kmem_cache(size_t size)
{
	return kmem_cache_get(size);
}

/*
 * The cache malloc(3) takes for a size in [1, KMEM_BIG_MAX] at its own
 * alignment (16 bytes): the malloc classes' when they were made.
 */
pool_cache_t
nbmem_kmem_malloc_cache(size_t size)
{
	kmem_init();
	if (size <= KMEM_MAXSIZE)
		return __atomic_load_n(&kmem_msmall[(size - 1) >> KMEM_SHIFT],
		    __ATOMIC_ACQUIRE);
	return __atomic_load_n(&kmem_mbig[(size - 1) >> KMEM_MBIG_SHIFT],
	    __ATOMIC_ACQUIRE);
}

/* A name for diagnostics: the cache's, or the large path's arena. */
static const char *
kmem_objname(size_t size)
{
	pool_cache_t pc;

	if (size - 1 >= KMEM_BIG_MAX)
		return "kva";
	pc = kmem_cache_of(size);
	return pc != NULL ? pc->pc_pool.pr_wchan : "kmem";
}

/* ---- the raw back end: classes and large path, no checks */

/*
 * Counters of the large path, for the statistics (nbmemstat -k): not on
 * a fast path (every large allocation is a page-layer call), so plain
 * relaxed atomic additions.
 */
static uint64_t kmem_large_nalloc, kmem_large_nfree, kmem_large_bytes;

/*
 * The malloc library's choice: kmem's classes refill a CPU's slot with a
 * run of consecutive objects on a miss, so that two threads' small
 * objects do not share cache lines (pool_cache.c, pc_refill), and keep
 * no stash of full groups per CPU (it cost the malloc workloads memory
 * and saved them no time).
 */
void
nbmem_kmem_refill_runs(void)
{
	kmem_init();
	for (size_t i = 0; i < kmem_nmade; i++)
		nbmem_pool_cache_refill_runs(&kmem_cache_store[i]);
}

void
nbmem_kmem_large_stats(uint64_t *nallocp, uint64_t *nfreep, uint64_t *bytesp)
{
	*nallocp = __atomic_load_n(&kmem_large_nalloc, __ATOMIC_RELAXED);
	*nfreep = __atomic_load_n(&kmem_large_nfree, __ATOMIC_RELAXED);
	*bytesp = __atomic_load_n(&kmem_large_bytes, __ATOMIC_RELAXED);
}

size_t
nbmem_kmem_live_bytes(void)
{
	size_t live = 0;

	if (__atomic_load_n(&kmem_cache_small[0], __ATOMIC_ACQUIRE) == NULL)
		return 0;		/* before kmem_init */
	for (unsigned int i = 0; i < kmem_nmade; i++) {
		struct pool_cache *pc = &kmem_cache_store[i];
		size_t out, held;
		out = __atomic_load_n(&pc->pc_pool.pr_nout, __ATOMIC_RELAXED);
		held = nbmem_pool_cache_nheld(pc);
		if (out > held)
			live += (out - held) * kmem_class_size[i];
	}
	return live;
}

static void *
kmem_large_alloc(size_t size, km_flag_t flags)
{
	size_t ps = nbmem_os_pagesize();
	vmem_addr_t va;

	nbmem_uvm_init();
	if (__predict_false(size > nbmem_os_va_span())) {
		if (flags == KM_NOSLEEP)
			return NULL;
		nbmem_panic("kmem: \"kva\": kmem_alloc(%zu, KM_SLEEP): size "
		    "can never be met", size);
	}
	/*
	 * More than the kernel would ever commit (all RAM and swap, under
	 * its heuristic overcommit): a KM_NOSLEEP request fails at once, as
	 * NetBSD's fails when kmem_arena cannot hold it; a KM_SLEEP one is
	 * granted lazily, as before.
	 */
	if (flags == KM_NOSLEEP && size > nbmem_os_commit_limit())
		return NULL;
	if (uvm_km_kmem_alloc(kmem_va_arena, (size + ps - 1) & ~(ps - 1),
	    (flags == KM_SLEEP ? VM_SLEEP : VM_NOSLEEP) | VM_INSTANTFIT,
	    &va) != 0)
		return NULL;
	__atomic_fetch_add(&kmem_large_nalloc, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&kmem_large_bytes, (size + ps - 1) & ~(ps - 1),
	    __ATOMIC_RELAXED);
	return (void *)va;
}

static void
kmem_large_free(void *p, size_t size)
{
	size_t ps = nbmem_os_pagesize();

	/* The page layer and vmem check the address and the size. */
	uvm_km_kmem_free(kmem_va_arena, (vmem_addr_t)p,
	    size > SIZE_MAX - ps + 1 ? size : (size + ps - 1) & ~(ps - 1));
	/* Only a free that passed those checks gets here. */
	__atomic_fetch_add(&kmem_large_nfree, 1, __ATOMIC_RELAXED);
	__atomic_fetch_sub(&kmem_large_bytes, (size + ps - 1) & ~(ps - 1),
	    __ATOMIC_RELAXED);
}

void *
nbmem_kmem_raw_alloc(size_t allocsz, km_flag_t flags)
{
	if (allocsz - 1 < KMEM_BIG_MAX)
		return nbmem_pc_get_fast(kmem_cache_get(allocsz),
		    (int)flags, NULL);
	return kmem_large_alloc(allocsz, flags);
}

void
nbmem_kmem_raw_free(void *p, size_t allocsz)
{
	if (allocsz - 1 < KMEM_BIG_MAX)
		nbmem_pc_put_fast(kmem_cache_get(allocsz), p);
	else
		kmem_large_free(p, allocsz);
}

bool
nbmem_kmem_pool_p(const struct pool *pp)
{
	uintptr_t a = (uintptr_t)pp;

	return a >= (uintptr_t)kmem_cache_store &&
	    a < (uintptr_t)(kmem_cache_store + KMEM_NCLASS);
}

const char *
nbmem_kmem_raw_name(size_t allocsz)
{
	return kmem_objname(allocsz);
}

size_t
nbmem_kmem_raw_usable(size_t allocsz)
{
	size_t ps = nbmem_os_pagesize();
	pool_cache_t pc;

	if (allocsz - 1 >= KMEM_BIG_MAX)
		return allocsz > SIZE_MAX - ps + 1 ? allocsz :
		    (allocsz + ps - 1) & ~(ps - 1);
	pc = kmem_cache_get(allocsz);
	return kmem_class_size[pc - kmem_cache_store];
}

/* ---- checks and slow paths */

#define	KMEM_INTR	0x1	/* the kmem_intr_* variant */
#define	KMEM_ZERO	0x2	/* zero-fill */

static void __noinline
kmem_alloc_check(size_t size, km_flag_t flags, unsigned int how)
{
	const char *fn = (how & KMEM_INTR) != 0 ?
	    ((how & KMEM_ZERO) != 0 ? "kmem_intr_zalloc" : "kmem_intr_alloc") :
	    ((how & KMEM_ZERO) != 0 ? "kmem_zalloc" : "kmem_alloc");

	if (__predict_false(size == 0))
		nbmem_panic("kmem: %s(0, %#x): size 0", fn, flags);
	if (__predict_false(flags != KM_SLEEP && flags != KM_NOSLEEP))
		nbmem_panic("kmem: %s(%zu, %#x): flags must be exactly one of "
		    "KM_SLEEP and KM_NOSLEEP", fn, size, flags);
	if (nbmem_intr_p()) {
		if ((how & KMEM_INTR) == 0)
			nbmem_panic("kmem: \"%s\": %s(%zu): called from "
			    "interrupt (signal handler) context (use "
			    "kmem_intr_alloc with KM_NOSLEEP)",
			    kmem_objname(size), fn, size);
		if (flags == KM_SLEEP)
			nbmem_panic("kmem: \"%s\": %s(%zu, KM_SLEEP): sleeping "
			    "call from interrupt (signal handler) context",
			    kmem_objname(size), fn, size);
	}
}

static void * __noinline
kmem_alloc_slow(size_t size, km_flag_t flags, unsigned int how)
{
	void *p;

	kmem_alloc_check(size, flags, how);
	if (__predict_false(nbmem_debug_kmem != 0)) {
		/*
		 * Signals blocked once for the whole of it: the record, the
		 * cache's miss and the quarantine would each block them
		 * (two system calls apiece), which was most of a debug
		 * pair's cost.
		 */
		spl_block_enter();
		p = nbmem_kmem_debug_alloc(size, flags,
		    (how & KMEM_ZERO) != 0);
		spl_block_exit();
		return p;
	}
	p = nbmem_kmem_raw_alloc(size, flags);
	if (__predict_false(p == NULL)) {
		VERIFY(flags == KM_NOSLEEP, "kmem: \"%s\": kmem_alloc(%zu, "
		    "KM_SLEEP) returned NULL", kmem_objname(size), size);
		return NULL;
	}
	if ((how & KMEM_ZERO) != 0)
		memset(p, 0, size);
	return p;
}

static void __noinline
kmem_free_slow(void *p, size_t size, unsigned int how)
{
	const char *fn = (how & KMEM_INTR) != 0 ? "kmem_intr_free" :
	    "kmem_free";

	if (__predict_false(p == NULL))
		nbmem_panic("kmem: %s(NULL, %zu): NULL pointer", fn, size);
	if (__predict_false(size == 0))
		nbmem_panic("kmem: %s(%p, 0): size 0", fn, p);
	if ((how & KMEM_INTR) == 0 && nbmem_intr_p())
		nbmem_panic("kmem: \"%s\": %s(%p, %zu): called from interrupt "
		    "(signal handler) context (use kmem_intr_free)",
		    kmem_objname(size), fn, p, size);
	if (__predict_false(nbmem_debug_kmem != 0)) {
		spl_block_enter();
		nbmem_kmem_debug_free(p, size);
		spl_block_exit();
		return;
	}
	if (__predict_false(size - 1 >= KMEM_BIG_MAX &&
	    ((uintptr_t)p & (nbmem_os_pagesize() - 1)) != 0))
		nbmem_panic("kmem: \"kva\": %s(%p, %zu): address not "
		    "page-aligned, as every object of this size is: wrong "
		    "size, or foreign pointer", fn, p, size);
	nbmem_kmem_raw_free(p, size);
}

/* ---- the interface */

/*
 * The fast paths, for sizes up to 64 KiB: one test for the size, one for
 * the flags, a table load (kmem_cache_none before kmem_init, and always
 * with a debug mode on: kmem_fast_cache), then the pool cache's
 * fast path inline, which declines in a signal handler and when its
 * slot is empty or full (nbmem_pc_get_try, pool_cache_impl.h).  The
 * classes above 4 KiB, everything declined and every misuse go out of
 * line to kmem_alloc_big/kmem_free_big, which check the debug modes and
 * a handler's use of the plain functions first.
 */
#define	KMEM_FLAGS_OK(flags)	__predict_true((flags) - 1 <= 1)

/*
 * The cache the inline fast paths try for a size: from kmem_cache_fast
 * up to 4 KiB, from kmem_cache_bigfast up to 64 KiB (kmem_cache_none in
 * both before kmem_init and under a debug mode), NULL above: the large
 * path.  The test for sizes above 4 KiB is off the small sizes' path.
 */
static inline __attribute__((__always_inline__)) pool_cache_t
kmem_fast_cache(size_t size)
{
	pool_cache_t pc;

	if (__predict_true(size - 1 < KMEM_MAXSIZE))
		pc = __atomic_load_n(&kmem_cache_fast[(size - 1) >> KMEM_SHIFT],
		    __ATOMIC_ACQUIRE);
	else if (size - 1 < KMEM_BIG_MAX)
		pc = __atomic_load_n(
		    &kmem_cache_bigfast[(size - 1) >> KMEM_BIG_SHIFT],
		    __ATOMIC_ACQUIRE);
	else
		return NULL;
	if (pc == NULL)
		__builtin_unreachable();
	return pc;
}

static void * __noinline
kmem_alloc_big(size_t size, km_flag_t flags, unsigned int how)
{
	pool_cache_t pc;
	void *p;

	if (__predict_false(nbmem_debug_kmem != 0))
		return kmem_alloc_slow(size, flags, how);
	if (size - 1 < KMEM_BIG_MAX && KMEM_FLAGS_OK(flags) &&
	    !nbmem_intr_p() && (pc = kmem_cache_of(size)) != NULL) {
		p = nbmem_pc_get_fast(pc, (int)flags, NULL);
		if ((how & KMEM_ZERO) != 0 && p != NULL)
			memset(p, 0, size);
		return p;
	}
	return kmem_alloc_slow(size, flags, how);
}

static void __noinline
kmem_free_big(void *p, size_t size, unsigned int how)
{
	pool_cache_t pc;

	if (__predict_false(nbmem_debug_kmem != 0)) {
		kmem_free_slow(p, size, how);
		return;
	}
	if (p != NULL && size - 1 < KMEM_BIG_MAX &&
	    ((how & KMEM_INTR) != 0 || !nbmem_intr_p()) &&
	    (pc = kmem_cache_of(size)) != NULL) {
		nbmem_pc_put_fast(pc, p);
		return;
	}
	kmem_free_slow(p, size, how);
}

/*
 * The bodies of the six entry points: the inline fast path, then the
 * out-of-line rest with `how' (KMEM_INTR, KMEM_ZERO), a constant in
 * each caller.
 */
static inline __attribute__((__always_inline__)) void *
kmem_alloc_how(size_t size, km_flag_t flags, unsigned int how)
{
	pool_cache_t pc;
	void *p;

	if (KMEM_FLAGS_OK(flags) && (pc = kmem_fast_cache(size)) != NULL &&
	    __predict_true((p = nbmem_pc_get_try(pc)) != NULL)) {
		if ((how & KMEM_ZERO) != 0)
			memset(p, 0, size);
		return p;
	}
	return kmem_alloc_big(size, flags, how);
}

static inline __attribute__((__always_inline__)) void
kmem_free_how(void *p, size_t size, unsigned int how)
{
	pool_cache_t pc;

	if ((pc = kmem_fast_cache(size)) != NULL &&
	    __predict_true(nbmem_pc_put_try(pc, p)))
		return;
	kmem_free_big(p, size, how);
}

NBMEM_EXPORT NBMEM_HOT void *
kmem_alloc(size_t size, km_flag_t flags)
{
	return kmem_alloc_how(size, flags, 0);
}

NBMEM_EXPORT NBMEM_HOT void *
kmem_zalloc(size_t size, km_flag_t flags)
{
	return kmem_alloc_how(size, flags, KMEM_ZERO);
}

NBMEM_EXPORT NBMEM_HOT void
kmem_free(void *p, size_t size)
{
	kmem_free_how(p, size, 0);
}

NBMEM_EXPORT NBMEM_HOT void *
kmem_intr_alloc(size_t size, km_flag_t flags)
{
	return kmem_alloc_how(size, flags, KMEM_INTR);
}

NBMEM_EXPORT void *
kmem_intr_zalloc(size_t size, km_flag_t flags)
{
	return kmem_alloc_how(size, flags, KMEM_INTR | KMEM_ZERO);
}

NBMEM_EXPORT NBMEM_HOT void
kmem_intr_free(void *p, size_t size)
{
	kmem_free_how(p, size, KMEM_INTR);
}

NBMEM_EXPORT size_t
kmem_roundup_size(size_t size)
{
	return (size + (KMEM_ALIGN - 1)) & ~(size_t)(KMEM_ALIGN - 1);
}

/* ---- strings and temporary buffers */

NBMEM_EXPORT char *
kmem_asprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	VERIFY(len >= 0, "kmem: kmem_asprintf(\"%s\"): bad format", fmt);
	s = kmem_alloc((size_t)len + 1, KM_SLEEP);
	va_start(ap, fmt);
	(void)vsnprintf(s, (size_t)len + 1, fmt, ap);
	va_end(ap);
	return s;
}

NBMEM_EXPORT char *
kmem_strdupsize(const char *str, size_t *lenp, km_flag_t flags)
{
	size_t len;
	char *s;

	VERIFY(str != NULL, "kmem: kmem_strdupsize(NULL): NULL string");
	len = strlen(str) + 1;
	s = kmem_alloc(len, flags);
	if (s == NULL)
		return NULL;
	memcpy(s, str, len);
	if (lenp != NULL)
		*lenp = len;
	return s;
}

NBMEM_EXPORT char *
kmem_strndup(const char *str, size_t maxlen, km_flag_t flags)
{
	size_t len;
	char *s;

	if (__predict_false(str == NULL || maxlen == 0))
		nbmem_panic("kmem: kmem_strndup(%p, %zu): %s", (const void *)str,
		    maxlen, str == NULL ? "NULL string" : "maxlen 0");
	len = strnlen(str, maxlen);
	s = kmem_alloc(len + 1, flags);
	if (s == NULL)
		return NULL;
	memcpy(s, str, len);
	s[len] = '\0';
	return s;
}

NBMEM_EXPORT void
kmem_strfree(char *str)
{
	if (str == NULL)
		return;
	kmem_free(str, strlen(str) + 1);
}

NBMEM_EXPORT void *
kmem_tmpbuf_alloc(size_t size, void *stackbuf, size_t stackbufsize,
    km_flag_t flags)
{
	if (size <= stackbufsize)
		return stackbuf;
	return kmem_alloc(size, flags);
}

NBMEM_EXPORT void
kmem_tmpbuf_free(void *buf, size_t size, void *stackbuf)
{
	if (buf != stackbuf)
		kmem_free(buf, size);
}

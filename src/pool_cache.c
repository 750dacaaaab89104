/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * pool_cache.c: caches of constructed objects over a pool.
 *
 * 1 Overview
 *   A pool cache is a pool (pc_pool) plus two layers of constructed
 *   objects in front of it: a CPU layer that serves most operations
 *   without a lock, and a depot of whole groups shared by all.  A get is
 *   served by the first layer that has an object; only a miss of both
 *   reaches pool_get() and the constructor.  A put goes back the same
 *   way; the destructor runs only when an object leaves the cache for
 *   the pool (invalidation, reclaim, destroy, destruct_object, or a put
 *   that finds no group to hold it).  Bonwick's magazines, as NetBSD's
 *   subr_pool.c has them since 2007 (reworked in 2020).
 *
 * 2 Data structures (pool_cache_impl.h)
 *   - A group (pcg_t) holds up to 15 objects (63 with PR_LARGECACHE),
 *     allocated from the internal pools "pcgnormal" and "pcglarge".
 *   - The CPU layer has two forms, chosen per cache at creation:
 *     per-CPU slots where restartable sequences work (os/rseq.h): one
 *     array of two groups' worth of objects per possible CPU, popped and
 *     pushed by sequences that restart when preempted, migrated or
 *     signalled; or per-thread slots (pool_cache_cpu_t: a current and a
 *     previous group, the dummy group at first) found through the
 *     thread's table indexed by the cache id (pool_cache_cpu.c).
 *     NBMEM_PERCPU=0, or a thread without an rseq registration, gets
 *     the per-thread form.
 *   - The depot: lists of full, partial and empty groups of this cache,
 *     under pc_lock.  NetBSD shares empty groups between all caches and
 *     keeps full ones on lock-free stacks; one per-cache lock taken once
 *     per exchange (at most once per 15 operations) is simpler and lets
 *     vmstat -C show real empty-group counts.
 *
 * 3 Invariants
 *   - every object is in exactly one place: handed out, in a CPU slot,
 *     in one group, or free in the pool; cached objects are constructed;
 *   - depot lists hold full (avail == size), partial (0 < avail < size)
 *     and empty (avail == 0) groups respectively, counted by pc_ngroups;
 *   - a per-thread slot's groups are touched only by its owner inside
 *     pcc_enter/pcc_exit, or by a thief that saw cc_idle == 1 after
 *     setting cc_steal and a membarrier; a per-CPU slot only by a
 *     sequence on that CPU or by the holder of its lock;
 *   - nothing is called outside this module while a slot is entered or
 *     locked or pc_lock is held (no pool_get, constructor, destructor).
 *
 * 4 Locking
 *   Fast paths: no lock and no atomic read-modify-write.  Per-CPU: one
 *   restartable sequence.  Per-thread: the owner marks its slot busy
 *   with a plain decrement of cc_idle (1 -> 0) and checks cc_steal; a
 *   signal handler whose own decrement does not reach 0 (it interrupted
 *   the owner inside the slot) undoes it, bypasses the slot and
 *   works on the depot.  A thread that must empty other threads' slots
 *   (invalidate, destroy) sets cc_steal, issues membarrier(PRIVATE_
 *   EXPEDITED) so that every running thread has either published its
 *   busy mark or will see the request, then waits for cc_idle == 1 and
 *   takes the groups (the asymmetric Dekker scheme of user-space RCU).
 *   Without membarrier the owner's store must be sequentially
 *   consistent: the inline fast path then finds no table (its table
 *   pointer, nbmem_pcc_fast, points at an empty one) and the slow path
 *   enters the slot with the fence.  The same empty table is in place
 *   inside nbmem_intr_enter/exit, so the fast paths test neither the
 *   interrupt depth nor the fence, and handlers get the slow path's
 *   checks.  Per-CPU slow paths take the slot's lock
 *   with a sequence (never waiting: a busy slot sends the caller to the
 *   depot); invalidation takes each CPU's lock remotely (os/rseq.h).
 *   Lock order: cache list (pool_cache_cpu.c) -> slot registry -> a
 *   per-CPU slot lock -> depot pc_lock; pool locks are never taken
 *   while any of these is held.  pc_lock has the cache's IPL: above
 *   IPL_NONE it is held with signals blocked, which is what makes the
 *   depot paths signal-safe.
 *
 * 5 Debug features
 *   Always on: flag checks (exactly one of PR_WAITOK/PR_NOWAIT), IPL_NONE
 *   caches used from interrupt context, PR_WAITOK from interrupt
 *   context, PR_ZERO with a constructor, NULL puts, destroy with
 *   objects out, uninitialized caches (id 0 never has a slot, so they
 *   reach the checks of the slow path).  Puts to a cache whose pool has
 *   its page headers on the page are checked on the fast path, as
 *   NetBSD's pc_phinpage_check does: a foreign pointer, an object of
 *   another cache or an address in the header is diagnosed at once
 *   (one tag comparison, see pc_put_ok).  With headers off the page a
 *   foreign or wrong-cache object is diagnosed by the pool only when it
 *   reaches the pool layer (invalidation, destroy, or a put that finds
 *   no group); double puts are detected only in the NBMEM_DEBUG modes
 *   (NetBSD leaves them to DEBUG's freecheck).
 *
 * 6 Differences from NetBSD
 *   - Per-CPU slots hold objects, not group pointers, and trade one
 *     group with the depot at a time; the per-thread fallback is flushed
 *     to the depot at thread exit and reclaimed in a fork child.
 *   - PR_ZERO zeroes every object handed out when there is no
 *     constructor; with a constructor it is a diagnosed misuse.
 *   - *pap receives POOL_PADDR_INVALID: a process has no physical
 *     addresses, and a virtual one passed off as physical would mislead
 *     ported driver code that hands it to a device.
 *   - PR_PSERIALIZE needs no barrier: nbmem has no passive serialization
 *     readers of its own; the flag still goes to the pool when there is
 *     no destructor, as in NetBSD.
 *   - Empty groups are per cache (see 2); pool_cache_cpu_init() does
 *     nothing (slots are set up on first use, pool_cache_cpu.c).
 *
 * 7 References
 *   J. Bonwick and J. Adams, "Magazines and Vmem", USENIX 2001.
 *   NetBSD pool_cache(9) and sys/kern/subr_pool.c.  M. Desnoyers et al.,
 *   "User-Level Implementations of Read-Copy Update", IEEE TPDS 2012
 *   (the membarrier-based asymmetric fence).  Linux membarrier(2).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "internal.h"
#include "os/os.h"
#include "pool_cache_impl.h"
#include "reclaim.h"

CTASSERT(sizeof(pcg_t) == 16);

#ifndef __noinline
#define	__noinline	__attribute__((__noinline__))
#endif

#define	PR_SLEEPMASK	(PR_WAITOK | PR_NOWAIT)

pcg_t nbmem_pcg_dummy = { NULL, 0, 0 };

/*
 * ThreadSanitizer cannot see the ordering that restartable sequences
 * and their slot locks provide (they are inline assembly), so a TSan
 * build uses the per-thread slots, whose ordering it follows.
 */
#if NBMEM_TSAN
bool nbmem_pcc_percpu = false;
#else
bool nbmem_pcc_percpu = true;
#endif

/* Groups and cache structures come from these (NetBSD's names). */
static struct pool pcg_normal_pool, pcg_large_pool, pcache_pool;
static pthread_once_t pc_once = PTHREAD_ONCE_INIT;

/* ---- big-page allocators for IPL_NONE caches of large objects */

#define	POOL_ALLOCATOR_BIG_BASE	13	/* 8 KiB */
#define	POOL_ALLOCATOR_BIG_MAX	24	/* 16 MiB */
#define	POOL_ALLOCATOR_NBIG	\
	(POOL_ALLOCATOR_BIG_MAX - POOL_ALLOCATOR_BIG_BASE + 1)

static void *
pool_page_alloc_big(struct pool *pp, int flags)
{
	vmem_addr_t va;
	vm_flag_t vf = VM_INSTANTFIT |
	    ((flags & PR_WAITOK) != 0 ? VM_SLEEP : VM_NOSLEEP);
	const char *prev = nbmem_budget_client;
	int error;

	nbmem_budget_client = pp->pr_wchan;
	error = uvm_km_kmem_alloc(kmem_va_arena, pp->pr_alloc->pa_pagesz, vf,
	    &va);
	nbmem_budget_client = prev;
	return error == 0 ? (void *)va : NULL;
}

static void
pool_page_free_big(struct pool *pp, void *v)
{
	uvm_km_kmem_free(kmem_va_arena, (vmem_addr_t)v,
	    pp->pr_alloc->pa_pagesz);
}

#define	BIGALLOC(i) {							\
	.pa_alloc = pool_page_alloc_big,				\
	.pa_free = pool_page_free_big,					\
	.pa_pagesz = 1u << (POOL_ALLOCATOR_BIG_BASE + (i)) }

static struct pool_allocator pool_allocator_big[POOL_ALLOCATOR_NBIG] = {
	BIGALLOC(0), BIGALLOC(1), BIGALLOC(2), BIGALLOC(3), BIGALLOC(4),
	BIGALLOC(5), BIGALLOC(6), BIGALLOC(7), BIGALLOC(8), BIGALLOC(9),
	BIGALLOC(10), BIGALLOC(11),
};
CTASSERT(POOL_ALLOCATOR_NBIG == 12);

/* The big allocator for `size': smallest power of two >= size. */
static struct pool_allocator *
pool_allocator_big_for(size_t size, const char *wchan)
{
	for (unsigned int i = 0; i < POOL_ALLOCATOR_NBIG; i++) {
		if (size <= pool_allocator_big[i].pa_pagesz)
			return &pool_allocator_big[i];
	}
	nbmem_panic("pool_cache: \"%s\": init: object size %zu is larger "
	    "than the largest page (%u)", wchan, size,
	    1u << POOL_ALLOCATOR_BIG_MAX);
}

/* ---- internal pools */

static void
pc_init_once(void)
{
	/* Groups are aligned to the coherency unit, as in NetBSD. */
	pool_init(&pcg_normal_pool, sizeof(pcg_t) +
	    PCG_NOBJECTS_NORMAL * sizeof(void *), 64, 0, 0, "pcgnormal",
	    &pool_allocator_meta, IPL_VM);
	pool_init(&pcg_large_pool, sizeof(pcg_t) +
	    PCG_NOBJECTS_LARGE * sizeof(void *), 64, 0, 0, "pcglarge",
	    &pool_allocator_meta, IPL_VM);
	nbmem_pool_decay_enable(&pcg_normal_pool);
	nbmem_pool_decay_enable(&pcg_large_pool);
	pool_init(&pcache_pool, sizeof(struct pool_cache),
	    _Alignof(struct pool_cache), 0, 0, "pcache",
	    &pool_allocator_meta, IPL_NONE);
	nbmem_pool_decay_enable(&pcache_pool);
	nbmem_pcc_init();
}

/* ---- depot (pc_lock held) */

static inline void
depot_lock(struct pool_cache_impl *pci)
{
	if (__predict_false(__atomic_load_n(&pci->pc_lock.mtx_word,
	    __ATOMIC_RELAXED) != 0)) {
		mutex_enter(&pci->pc_lock);
		pci->pc_contended++;
		return;
	}
	mutex_enter(&pci->pc_lock);
}

static inline unsigned int
pcg_kind(const pcg_t *g)
{
	if (g->pcg_avail == 0)
		return PCG_EMPTY;
	return g->pcg_avail == g->pcg_size ? PCG_FULL : PCG_PART;
}

static void
depot_push(struct pool_cache_impl *pci, pcg_t *g)
{
	unsigned int k = pcg_kind(g);

	g->pcg_next = pci->pc_groups[k];
	pci->pc_groups[k] = g;
	pci->pc_ngroups[k]++;
}

/* A group from list `k', else from list `k2'; NULL if both are empty. */
static pcg_t *
depot_pop(struct pool_cache_impl *pci, unsigned int k, unsigned int k2)
{
	pcg_t *g;

	if ((g = pci->pc_groups[k]) == NULL) {
		k = k2;
		if ((g = pci->pc_groups[k]) == NULL)
			return NULL;
	}
	pci->pc_groups[k] = g->pcg_next;
	if (--pci->pc_ngroups[k] < pci->pc_fullmin && k == PCG_FULL)
		pci->pc_fullmin = pci->pc_ngroups[k];
	return g;
}

/* A group with objects, full ones first. */
#define	depot_pop_objects(pci)	depot_pop((pci), PCG_FULL, PCG_PART)
/* A group with room, partial ones first. */
#define	depot_pop_room(pci)	depot_pop((pci), PCG_PART, PCG_EMPTY)
#define	depot_pop_empty(pci)	depot_pop((pci), PCG_EMPTY, PCG_EMPTY)

/* Take the depot lock from an entered slot, counting contention. */
static inline void
slot_depot_lock(struct pool_cache_impl *pci, pool_cache_cpu_t *cc)
{
	if (__predict_false(__atomic_load_n(&pci->pc_lock.mtx_word,
	    __ATOMIC_RELAXED) != 0))
		PCC_INC(cc->cc_contended);
	mutex_enter(&pci->pc_lock);
}

/* Push n groups into the depot under one hold of pc_lock. */
static void
pc_depot_push_many(struct pool_cache_impl *pci, pcg_t **gs, unsigned int n)
{
	if (n == 0)
		return;
	mutex_enter(&pci->pc_lock);
	for (unsigned int i = 0; i < n; i++)
		depot_push(pci, gs[i]);
	mutex_exit(&pci->pc_lock);
}

/* Push one group into the depot (takes pc_lock). */
static void
pc_depot_push_one(struct pool_cache_impl *pci, pcg_t *g)
{
	pc_depot_push_many(pci, &g, 1);
}

/*
 * The groups a slot keeps aside: a list and its count (slot lock, or a
 * per-thread slot entered).  The statistics, decay passes and
 * nbmem_pool_cache_nheld read the count with neither: stored whole.
 */
static inline void
aside_push(pcg_t **list, uint32_t *n, pcg_t *g)
{
	g->pcg_next = *list;
	*list = g;
	__atomic_store_n(n, *n + 1, __ATOMIC_RELAXED);
}

static inline pcg_t *
aside_pop(pcg_t **list, uint32_t *n)
{
	pcg_t *g = *list;

	if (g != NULL) {
		*list = g->pcg_next;
		__atomic_store_n(n, *n - 1, __ATOMIC_RELAXED);
	}
	return g;
}

/* Give the groups of an aside list to the depot, under one pc_lock. */
static void
aside_give(struct pool_cache_impl *pci, pcg_t **list, uint32_t *n)
{
	pcg_t *g;

	if (*list == NULL)
		return;
	mutex_enter(&pci->pc_lock);
	while ((g = aside_pop(list, n)) != NULL)
		depot_push(pci, g);
	mutex_exit(&pci->pc_lock);
}

void
nbmem_pc_depot_give_aside(struct pool_cache *pc, pcg_t **list,
    uint32_t *n)
{
	aside_give(pc_impl(pc), list, n);
}

/*
 * A per-thread slot keeps its bursts aside, as a per-CPU slot does
 * (PC_STASH_OBJS, below): the full groups its puts retire, at most
 * pc_pcc_stash, and the empty ones its gets retire, as many plus one,
 * so that a thread that gives back what it took (1,000 gets, then the
 * 1,000 puts) trades no group with the depot, whose lock and groups
 * two such threads otherwise pass back and forth: batches of 16-byte
 * objects on two threads took 5 to 48 ns a pair against 4.7 on one
 * thread (bench/micro/cache_bench.c, NBMEM_PERCPU=0).  What a thread
 * keeps is what it had out and gave back itself.  Decay passes hand
 * the stashes to the depot (nbmem_pcc_unstash), which gives back what
 * stays unused; invalidation, destruction and the thread's exit drain
 * them (pcc_slot_flush).  Owner only, inside the slot.  True: g kept.
 */
static inline bool
slot_keep(struct pool_cache_impl *pci, pool_cache_cpu_t *cc, pcg_t *g)
{
	unsigned int max = __atomic_load_n(&pci->pc_pcc_stash,
	    __ATOMIC_RELAXED);

	/* No stash (the malloc library's caches), no spares: none used. */
	if (g->pcg_avail == 0 && max != 0 && cc->cc_nspare <= max) {
		aside_push(&cc->cc_spare, &cc->cc_nspare, g);
		return true;
	}
	if (g->pcg_avail == g->pcg_size && cc->cc_nstash < max) {
		aside_push(&cc->cc_stash, &cc->cc_nstash, g);
		return true;
	}
	return false;
}

/*
 * Make room for a new current group (slot entered): the current one
 * becomes the previous if that is the dummy, else it is kept aside
 * (slot_keep); returns it when it is the depot's, else NULL.
 */
static inline pcg_t *
slot_retire(struct pool_cache_impl *pci, pool_cache_cpu_t *cc)
{
	pcg_t *cur = cc->cc_current;

	if (cur == &nbmem_pcg_dummy)
		return NULL;
	if (cc->cc_previous == &nbmem_pcg_dummy) {
		cc->cc_previous = cur;
		return NULL;
	}
	return slot_keep(pci, cc, cur) ? NULL : cur;
}

/* The same with pc_lock held: the depot's group goes to it at once. */
static inline void
slot_retire_current(struct pool_cache_impl *pci, pool_cache_cpu_t *cc)
{
	pcg_t *g = slot_retire(pci, cc);

	if (g != NULL)
		depot_push(pci, g);
}

void
nbmem_pc_depot_give(struct pool_cache *pc, pcg_t *g)
{
	struct pool_cache_impl *pci = pc_impl(pc);

	if (g == &nbmem_pcg_dummy)
		return;
	pc_depot_push_one(pci, g);
}

void
nbmem_pc_counters_merge(struct pool_cache *pc, const pool_cache_cpu_t *cc)
{
	struct pool_cache_impl *pci = pc_impl(pc);

	mutex_enter(&pci->pc_lock);
	pci->pc_hits += cc->cc_hits;
	pci->pc_misses += cc->cc_misses;
	pci->pc_pcmisses += cc->cc_pcmisses;
	pci->pc_contended += cc->cc_contended;
	mutex_exit(&pci->pc_lock);
}

/* Where groups of `size' objects come from and go back to. */
static inline struct pool *
pcg_pool_of(unsigned int size)
{
	return size == PCG_NOBJECTS_LARGE ? &pcg_large_pool : &pcg_normal_pool;
}

/* A new empty group (no lock held, no slot entered); NULL on failure. */
static pcg_t *
pcg_alloc(struct pool_cache_impl *pci)
{
	unsigned int size;
	pcg_t *g;

	/*
	 * The size may change once, before any group is made
	 * (nbmem_pool_cache_refill_runs, under pc_lock).  The first
	 * allocation marks the cache and reads the size under that lock,
	 * so a change cannot fall between its read and the mark: a group
	 * of the old size would be left among groups of the new one,
	 * which the statistics count at the cache's size.  Acquire: the
	 * mark seen set, the size read after it is the final one.
	 */
	if (__predict_false(!__atomic_load_n(&pci->pc_pcgmade,
	    __ATOMIC_ACQUIRE))) {
		mutex_enter(&pci->pc_lock);
		__atomic_store_n(&pci->pc_pcgmade, true, __ATOMIC_RELEASE);
		size = pci->pc_pcgsize;
		mutex_exit(&pci->pc_lock);
	} else
		size = __atomic_load_n(&pci->pc_pcgsize, __ATOMIC_RELAXED);
	g = pool_get(pcg_pool_of(size), PR_NOWAIT);
	if (g != NULL) {
		g->pcg_next = NULL;
		g->pcg_avail = 0;
		g->pcg_size = size;
	}
	return g;
}

/* The pool the cache's groups come from now (tests). */
struct pool *
nbmem_pc_group_pool(struct pool_cache *pc)
{
	return pcg_pool_of(__atomic_load_n(&pc_impl(pc)->pc_pcgsize,
	    __ATOMIC_RELAXED));
}

/*
 * Back to the pool of its size: a malloc cache in the per-thread mode
 * switches to 63-object groups (nbmem_pool_cache_refill_runs), so the
 * group's own size says where it came from, not the cache's.
 */
static void
pcg_free(pcg_t *g)
{
	pool_put(pcg_pool_of(g->pcg_size), g);
}

/* ---- per-CPU slots (rseq) */


/*
 * With restartable sequences each cache has one slot per possible CPU: an
 * array of objects that the sequences of os/rseq.h pop and push without a
 * lock, restarting when preempted, migrated or interrupted by a signal.  A slot
 * holds two batches (see PC_PCPU_BATCH) and trades one batch, in whole groups,
 * with the depot at a time, so a thread alternating gets and puts at the
 * boundary does not thrash.  Slow paths hold the slot's lock (any sequence on
 * it then reports BUSY and its caller uses the depot) and never call out of
 * the module while holding it.  Threads without an rseq registration use their
 * per-thread slots.
 */
/*
 * Per-CPU slots of caches of objects up to PC_PCPU_LARGE_MAX bytes trade
 * PC_PCPU_BATCH objects with the depot at each miss (four 15-object groups;
 * one of 63 with PR_LARGECACHE; slots of 120 or 126), where a slot of two
 * groups would meet the depot every 15 objects (bench/micro/cache_bench.c,
 * batches of 1,000 objects: 6.8 to 7.1 ns a pair with batches of two groups,
 * 6.5 to 6.9 with four, and 4 KiB objects on two threads, which meet the
 * depot, 8.9 ns against 6.9).  Slots are per CPU, not per thread, so the
 * footprint stays bounded, and the depot is met a quarter as often: measured
 * with bench/micro/cache_bench.c on 2 CPUs (when this was done with 63-object
 * groups), batches of 1,000 64-byte objects went from 0.6x to 1.5x with two
 * threads against one, and from 8.2 to 7.2 ns per pair with one.  At 4 KiB (up
 * to 504 KiB per CPU) batches of 1,000 with two threads went from 15 to 20 ns
 * per pair (the depot lock's line crossing between the CPUs every 15 objects)
 * to 7.4, level with one thread.  The groups themselves keep NetBSD's sizes,
 * which the statistics and the depot count.  Per-thread slots trade one group,
 * since threads can be many.
 */
#define	PC_PCPU_LARGE_MAX	4096
#define	PC_PCPU_BATCH		60
/*
 * The malloc library's caches: bytes of a group, and of what a slot
 * trades, at most (nbmem_pool_cache_refill_runs); objects of a group,
 * at least.
 */
#define	PC_RUNS_BATCH_BYTES	((size_t)16 << 10)
#define	PC_RUNS_GROUP_MIN	2u
/* The malloc caches' per-thread mode: 63-object groups up to this size. */
#define	PC_THREAD_LARGE_MAX	1024

/*
 * Each CPU also keeps aside full groups of its own spills, up to
 * PC_STASH_OBJS objects and PC_STASH_BYTES bytes of them (1,005 to
 * 1,008 objects up to 4 KiB, 4 MiB of bigger ones), and as
 * many empty groups plus one: batches of 1,000 gets then 1,000 puts on
 * two threads went from 1.3x to 1.6x the throughput of one thread to
 * 1.9x to 2.0x up to 1 KiB, instead of trading every group through the
 * depot's lock and lines.  With 1 MiB of bytes (252 objects at 4 KiB) a
 * batch of 4 KiB objects still met the depot: 1.03x; with 4 MiB, 2.0x
 * (bench/micro/cache_bench.c, 3.3 to 3.5 ns a pair against 6.6 to 7.0
 * with one thread).  What a CPU keeps is what it had out and gave back
 * itself, so the bound is the burst the program made, at most 4 MiB a
 * CPU and cache.  Decay passes hand the stashes to the depot, which
 * gives back what stays unused; invalidation and destruction drain
 * them.  The malloc library's caches keep none.
 */
#define	PC_STASH_OBJS		(16 * PCG_NOBJECTS_LARGE)
#define	PC_STASH_BYTES		((size_t)4 << 20)

/*
 * The shared per-CPU area (nbmem_pc_pcpu_area_open): one block of
 * pca_stride bytes a CPU, in which the caches its opener makes until it
 * closes it take their regions in turn, each at the same offset in
 * every block.  kmem's classes live there, so that the malloc library
 * reaches a class's slot on this CPU from the block's base and an offset
 * its page map keeps, without loading the cache's own slot array address
 * first (see free_impl in malloc.c).  Regions start on multiples of
 * PC_AREA_ALIGN (two lines: the map's entry keeps the offset in bits 7
 * to 16 and the class below them), from PC_AREA_ALIGN, so an offset of
 * 0 names no region.  Never unmapped: kmem's caches live as long as
 * the process.
 */
#define	PC_AREA_ALIGN	128u
static struct {
	char		*pca_base;	/* NULL: not made */
	size_t		pca_stride;	/* bytes of a CPU's block */
	size_t		pca_used;	/* of each block, given out */
} pc_area;
/*
 * The thread that opened the area, until it closes it: only its caches
 * take regions, so pca_used needs no lock.
 */
static __thread bool pc_area_open
    __attribute__((__tls_model__("initial-exec")));

void
nbmem_pc_pcpu_area_open(size_t cpu_bytes)
{
	size_t ps = nbmem_os_pagesize();
	unsigned int ncpu;

	if (!nbmem_pcc_percpu || !nbmem_rseq_available() ||
	    pc_area.pca_base != NULL)
		return;
	ncpu = nbmem_rseq_ncpu();
	cpu_bytes = (cpu_bytes + 63) & ~(size_t)63;
	/*
	 * Zero pages, faulted in only where a CPU uses its block; small
	 * ones (from 43 CPUs the area spans 2 MiB with the malloc classes,
	 * 48 KiB a CPU, from 86 with kmem's alone; a huge page would make
	 * the blocks of CPUs never used resident).
	 */
	pc_area.pca_base = nbmem_os_map_lazy(((size_t)ncpu * cpu_bytes +
	    ps - 1) & ~(ps - 1));
	if (pc_area.pca_base == NULL)
		return;
	pc_area.pca_stride = cpu_bytes;
	pc_area.pca_used = PC_AREA_ALIGN;
	pc_area_open = true;
}

void
nbmem_pc_pcpu_area_close(void)
{
	pc_area_open = false;
}

void *
nbmem_pc_pcpu_area(size_t *stridep)
{
	*stridep = pc_area.pca_stride;
	return pc_area.pca_base;
}

/* Full groups a slot may keep aside: PC_STASH_OBJS, PC_STASH_BYTES. */
static unsigned int
pc_stash_groups(const struct pool_cache_impl *pci, size_t objsize)
{
	size_t n = PC_STASH_BYTES / (objsize * pci->pc_pcgsize);

	if (n > PC_STASH_OBJS / pci->pc_pcgsize)
		n = PC_STASH_OBJS / pci->pc_pcgsize;
	return (unsigned int)n;
}

static void
pc_pcpu_init(struct pool_cache_impl *pci, size_t objsize)
{
	size_t ps = nbmem_os_pagesize();
	char *map;

	if (!nbmem_pcc_percpu || !nbmem_rseq_available())
		return;
	/*
	 * The groups keep NetBSD's sizes (15 objects, 63 with
	 * PR_LARGECACHE): they are what the depot, the statistics and
	 * pool_cache_sethiwat() count.  A slot trades as many whole groups
	 * as fit in PC_PCPU_BATCH objects at each miss.
	 */
	pci->pc_pcpu_batch = pci->pc_pcgsize;
	if (objsize <= PC_PCPU_LARGE_MAX &&
	    PC_PCPU_BATCH >= 2 * pci->pc_pcgsize)
		pci->pc_pcpu_batch = PC_PCPU_BATCH / pci->pc_pcgsize *
		    pci->pc_pcgsize;
	pci->pc_ncpu = nbmem_rseq_ncpu();
	pci->pc_pcpu_size = 2 * pci->pc_pcpu_batch;
	pci->pc_pcpu_stash = pc_stash_groups(pci, objsize);
	/*
	 * A CPU's region: the slot (its header counts the hits), rounded up
	 * to cache lines, then a line of the other counters.  The stride is
	 * the region in a mapping of our own, the block size in the shared
	 * area.
	 */
	pci->pc_pcpu_region = NBMEM_PCPU_STRIDE(pci->pc_pcpu_size) + 64;
	CTASSERT(sizeof(struct pcc_pcpu_stats) <= 64);
	CTASSERT(2 * PC_PCPU_BATCH <= NBMEM_PCPU_SIZE_MAX &&
	    2 * PCG_NOBJECTS_LARGE <= NBMEM_PCPU_SIZE_MAX);
	if (pc_area_open &&
	    pc_area.pca_used + pci->pc_pcpu_region <= pc_area.pca_stride) {
		pci->pc_pcpu_stride = pc_area.pca_stride;
		pci->pc_pcpu = pc_area.pca_base + pc_area.pca_used;
		pc_area.pca_used += (pci->pc_pcpu_region + PC_AREA_ALIGN - 1) &
		    ~(size_t)(PC_AREA_ALIGN - 1);
		return;
	}
	pci->pc_pcpu_stride = pci->pc_pcpu_region;
	pci->pc_pcpu_bytes = ((size_t)pci->pc_ncpu * pci->pc_pcpu_stride +
	    ps - 1) & ~(ps - 1);
	/* Zero pages: every slot starts "not set up" (ps_size 0). */
	map = nbmem_os_map(pci->pc_pcpu_bytes, 0, NBMEM_OS_PROT_RW, false);
	if (map != NULL)
		pci->pc_pcpu = map;
}

/* Groups a slot takes from the depot at one miss, at most. */
#define	PC_REFILL_GROUPS	8

/*
 * Count a wrap of the hits in slot s's word (its lock held): they went
 * down since the last slow path on the CPU.
 */
static void
pc_pcpu_wraps(struct nbmem_pcpu_slot *s, struct pcc_pcpu_stats *st)
{
	uint64_t h = nbmem_pcpu_hits(s);

	if (h < st->ps_hlast)
		__atomic_store_n(&st->ps_hwraps, st->ps_hwraps + 1,
		    __ATOMIC_RELAXED);
	st->ps_hlast = h;
}

/* The hits of CPU cpu's slot, the wraps its slow paths saw included. */
static uint64_t
pc_pcpu_hits(struct pool_cache_impl *pci, unsigned int cpu)
{
	return (__atomic_load_n(&pcpu_stats(pci, cpu)->ps_hwraps,
	    __ATOMIC_RELAXED) << (64 - NBMEM_PCPU_HIT_SHIFT)) +
	    nbmem_pcpu_hits(pcpu_slot(pci, cpu));
}

/*
 * Empty g into slot s (its lock held), then keep g aside as a spare;
 * returns g when the spares are full and it is the depot's.
 */
static pcg_t *
pc_pcpu_take(struct pool_cache_impl *pci, struct nbmem_pcpu_slot *s,
    struct pcc_pcpu_stats *st, pcg_t *g)
{
	/*
	 * The copy runs outside the depot lock: a depot group may have
	 * been filled on another CPU, its lines cross now.
	 */
	uint32_t cnt = nbmem_pcpu_count(s);

	memcpy(&s->ps_objs[cnt], g->pcg_objects,
	    g->pcg_avail * sizeof(void *));
	nbmem_pcpu_set_count(s, cnt + g->pcg_avail);
	g->pcg_avail = 0;
	if (st->ps_nspare > __atomic_load_n(&pci->pc_pcpu_stash,
	    __ATOMIC_RELAXED))
		return g;
	aside_push(&st->ps_spare, &st->ps_nspare, g);
	return NULL;
}

/*
 * Get, this CPU's slot being empty or not set up: refill it with groups
 * kept aside or from the depot, up to a batch.  Returns the object,
 * NULL when the pool must serve (`*bypass' false, counted) or when the
 * slot is busy (`*bypass' true, not counted).
 */
static void *
pc_pcpu_get_slow(struct pool_cache_impl *pci, bool *bypass)
{
	struct nbmem_pcpu_slot *s;
	struct pcc_pcpu_stats *st;
	pcg_t *gs[PC_REFILL_GROUPS];
	unsigned int cpu, ng = 0, batch = pci->pc_pcpu_batch;
	uint32_t cnt;
	void *obj = NULL;
	pcg_t *g;

	*bypass = true;
	if (nbmem_rseq_trylock(pci->pc_pcpu, pci->pc_pcpu_stride, &cpu) !=
	    NBMEM_RSEQ_OK)
		return NULL;
	*bypass = false;
	s = pcpu_slot(pci, cpu);
	st = pcpu_stats(pci, cpu);
	PCC_INC(st->ps_misses);
	pc_pcpu_wraps(s, st);
	if (s->ps_size == 0)
		s->ps_size = pci->pc_pcpu_size;
	if (nbmem_pcpu_count(s) == 0) {
		if (__predict_false(__atomic_load_n(&pci->pc_lock.mtx_word,
		    __ATOMIC_RELAXED) != 0))
			PCC_INC(st->ps_contended);
		unsigned int nback = 0;
		/* A group holds at most a batch: the slot never overflows. */
		while (nbmem_pcpu_count(s) < batch &&
		    nback < PC_REFILL_GROUPS &&
		    (g = aside_pop(&st->ps_stash, &st->ps_nstash)) != NULL) {
			if ((g = pc_pcpu_take(pci, s, st, g)) != NULL)
				gs[nback++] = g;
		}
		if (nbmem_pcpu_count(s) < batch && nback == 0) {
			unsigned int want = nbmem_pcpu_count(s);
			mutex_enter(&pci->pc_lock);
			while (want < batch && ng < PC_REFILL_GROUPS &&
			    (g = depot_pop_objects(pci)) != NULL) {
				want += g->pcg_avail;
				gs[ng++] = g;
			}
			mutex_exit(&pci->pc_lock);
			for (unsigned int i = 0; i < ng; i++) {
				if ((g = pc_pcpu_take(pci, s, st, gs[i])) !=
				    NULL)
					gs[nback++] = g;
			}
		}
		pc_depot_push_many(pci, gs, nback);
	}
	if ((cnt = nbmem_pcpu_count(s)) != 0) {
		obj = s->ps_objs[cnt - 1];
		nbmem_pcpu_set_count(s, cnt - 1);
	} else
		PCC_INC(st->ps_pcmisses);
	nbmem_rseq_unlock(pci->pc_pcpu, pci->pc_pcpu_stride, cpu);
	return obj;
}

/*
 * Fill empty group g with the top of slot s (its lock held), then keep
 * it aside; returns g when the stash is full and it is the depot's.
 */
static pcg_t *
pc_pcpu_spill(struct pool_cache_impl *pci, struct nbmem_pcpu_slot *s,
    struct pcc_pcpu_stats *st, pcg_t *g)
{
	unsigned int n = pci->pc_pcgsize;
	uint32_t cnt = nbmem_pcpu_count(s) - n;

	/* Filled outside the depot lock. */
	nbmem_pcpu_set_count(s, cnt);
	memcpy(g->pcg_objects, &s->ps_objs[cnt], n * sizeof(void *));
	g->pcg_avail = n;
	if (st->ps_nstash >= __atomic_load_n(&pci->pc_pcpu_stash,
	    __ATOMIC_RELAXED))
		return g;
	aside_push(&st->ps_stash, &st->ps_nstash, g);
	return NULL;
}

/*
 * Put, this CPU's slot being full or not set up: move a batch to the
 * depot in empty groups (the first may be `*gp', allocated by the
 * caller when neither the slot's spares nor the depot had one).
 * Returns 0 when the object is in the slot, 1 when an empty group is
 * needed first, 2 when the slot is busy.
 */
static int
pc_pcpu_put_slow(struct pool_cache *pc, void *obj, pcg_t **gp,
    bool counted)
{
	struct pool_cache_impl *pci = pc_impl(pc);
	struct nbmem_pcpu_slot *s;
	struct pcc_pcpu_stats *st;
	unsigned int cpu, n = pci->pc_pcgsize, ng = 0, nout = 0;
	unsigned int keep = pci->pc_pcpu_size - pci->pc_pcpu_batch;
	pcg_t *gs[PC_REFILL_GROUPS], *out[PC_REFILL_GROUPS + 1];
	pcg_t *g = *gp;

	if (nbmem_rseq_trylock(pci->pc_pcpu, pci->pc_pcpu_stride, &cpu) !=
	    NBMEM_RSEQ_OK)
		return 2;
	s = pcpu_slot(pci, cpu);
	st = pcpu_stats(pci, cpu);
	if (!counted)
		PCC_INC(st->ps_misses);
	pc_pcpu_wraps(s, st);
	if (s->ps_size == 0)
		s->ps_size = pci->pc_pcpu_size;
	if (nbmem_pcpu_count(s) == s->ps_size) {
		if (__predict_false(__atomic_load_n(&pci->pc_lock.mtx_word,
		    __ATOMIC_RELAXED) != 0))
			PCC_INC(st->ps_contended);
		if (g != NULL) {
			if ((g = pc_pcpu_spill(pci, s, st, g)) != NULL)
				out[nout++] = g;
			*gp = g = NULL;
		}
		while (nbmem_pcpu_count(s) >= keep + n &&
		    nout < PC_REFILL_GROUPS &&
		    (g = aside_pop(&st->ps_spare, &st->ps_nspare)) != NULL) {
			if ((g = pc_pcpu_spill(pci, s, st, g)) != NULL)
				out[nout++] = g;
		}
		if (nbmem_pcpu_count(s) >= keep + n &&
		    nout < PC_REFILL_GROUPS) {
			unsigned int left = nbmem_pcpu_count(s);
			mutex_enter(&pci->pc_lock);
			while (left >= keep + n && ng < PC_REFILL_GROUPS -
			    nout && (g = depot_pop_empty(pci)) != NULL) {
				left -= n;
				gs[ng++] = g;
			}
			mutex_exit(&pci->pc_lock);
			for (unsigned int i = 0; i < ng; i++) {
				if ((g = pc_pcpu_spill(pci, s, st, gs[i])) !=
				    NULL)
					out[nout++] = g;
			}
		}
		pc_depot_push_many(pci, out, nout);
		g = NULL;
		if (nbmem_pcpu_count(s) == s->ps_size) {
			/* No empty group at all: the caller makes one. */
			nbmem_rseq_unlock(pci->pc_pcpu, pci->pc_pcpu_stride,
			    cpu);
			return 1;
		}
	}
	n = nbmem_pcpu_count(s);
	s->ps_objs[n] = obj;
	nbmem_pcpu_set_count(s, n + 1);
	nbmem_rseq_unlock(pci->pc_pcpu, pci->pc_pcpu_stride, cpu);
	if (g != NULL) {
		/* Not needed after all (another thread made room). */
		nbmem_pc_depot_give(pc, g);
		*gp = NULL;
	}
	return 0;
}

/*
 * Destruct every object in the CPU slots (invalidate, destroy; thread
 * context), a batch at a time through a buffer on the stack: no group
 * is allocated, so this works when memory is short.  Waits for each
 * slot's lock: holders keep it for a few instructions.
 */
static void pc_destruct1(struct pool_cache *, void *);

#define	PC_DRAIN_TRIES	10000000ul	/* about a minute of yields */

/*
 * Give the groups slot `cpu' keeps aside to the depot: its stash, and
 * with `spares' its empty groups too.  The slot's lock is held (slot
 * lock, then pc_lock: the lock order), so an invalidation, which drains
 * every slot under its lock before it sweeps the depot, finds each
 * group either still on its slot or already in the depot.
 */
static void
pc_pcpu_give_aside(struct pool_cache_impl *pci, unsigned int cpu,
    bool spares)
{
	struct pcc_pcpu_stats *st = pcpu_stats(pci, cpu);

	aside_give(pci, &st->ps_stash, &st->ps_nstash);
	if (spares)
		aside_give(pci, &st->ps_spare, &st->ps_nspare);
}

/*
 * Move every CPU's stash to the depot (decay passes, thread context),
 * skipping the slots found busy.
 */
static void
pc_pcpu_unstash(struct pool_cache *pc)
{
	struct pool_cache_impl *pci = pc_impl(pc);

	if (pci->pc_pcpu == NULL)
		return;
	for (unsigned int cpu = 0; cpu < pci->pc_ncpu; cpu++) {
		if (__atomic_load_n(&pcpu_stats(pci, cpu)->ps_nstash,
		    __ATOMIC_RELAXED) == 0 ||
		    !nbmem_rseq_trylock_cpu(pci->pc_pcpu, pci->pc_pcpu_stride,
		    cpu))
			continue;
		pc_pcpu_give_aside(pci, cpu, false);
		nbmem_rseq_unlock(pci->pc_pcpu, pci->pc_pcpu_stride, cpu);
	}
}

static void
pc_pcpu_drain(struct pool_cache *pc)
{
	struct pool_cache_impl *pci = pc_impl(pc);
	void *buf[PCG_NOBJECTS_LARGE];
	unsigned int k;
	uint32_t cnt;
	bool more;

	if (pci->pc_pcpu == NULL)
		return;
	for (unsigned int cpu = 0; cpu < pci->pc_ncpu; cpu++) {
		struct nbmem_pcpu_slot *s = pcpu_slot(pci, cpu);
		if (__atomic_load_n(&s->ps_size, __ATOMIC_RELAXED) == 0)
			continue;	/* never used: leave the page alone */
		do {
			/*
			 * The holder of a slot lock never sleeps with it, so
			 * a lock that stays refused for this many tries means
			 * the fence itself fails: say so rather than spin.
			 */
			unsigned long tries = 0;
			while (!nbmem_rseq_trylock_cpu(pci->pc_pcpu,
			    pci->pc_pcpu_stride, cpu)) {
				VERIFY(++tries < PC_DRAIN_TRIES, "pool_cache: "
				    "\"%s\": cannot lock the slot of CPU %u "
				    "to drain it (%lu tries)",
				    pc->pc_pool.pr_wchan, cpu, tries);
				sched_yield();
			}
			cnt = nbmem_pcpu_count(s);
			k = cnt < PCG_NOBJECTS_LARGE ? cnt : PCG_NOBJECTS_LARGE;
			cnt -= k;
			nbmem_pcpu_set_count(s, cnt);
			memcpy(buf, &s->ps_objs[cnt], k * sizeof(void *));
			more = cnt != 0;
			pc_pcpu_give_aside(pci, cpu, true);
			nbmem_rseq_unlock(pci->pc_pcpu, pci->pc_pcpu_stride,
			    cpu);
			for (unsigned int i = 0; i < k; i++)
				pc_destruct1(pc, buf[i]);
		} while (more);
	}
}

/* ---- checks */

static void __noinline
pc_bad_flags(struct pool_cache *pc, int flags)
{
	nbmem_panic("pool_cache: \"%s\": pool_cache_get: flags %#x must "
	    "hold exactly one of PR_WAITOK and PR_NOWAIT",
	    pc->pc_pool.pr_wchan, (unsigned int)flags);
}

static inline void
pc_check(struct pool_cache *pc, const char *call)
{
	VERIFY(pc != NULL && pc_impl(pc)->pc_magic == PC_MAGIC,
	    "pool_cache: %s: %p is not an initialized pool cache", call,
	    (void *)pc);
}

/* ---- construct / destruct */

/* Destruct a batch of groups' objects, free the objects and the groups. */
static void
pc_destruct_groups(struct pool_cache *pc, pcg_t *list)
{
	struct pool_cache_impl *pci = pc_impl(pc);

	while (list != NULL) {
		pcg_t *g = list;
		list = g->pcg_next;
		for (uint32_t i = 0; i < g->pcg_avail; i++) {
			void *obj = g->pcg_objects[i];
			if (__predict_false(pci->pc_debug))
				nbmem_pc_debug_uncache(pc, obj);
			if (pci->pc_dtor != NULL)
				(*pci->pc_dtor)(pci->pc_arg, obj);
			pool_put(&pc->pc_pool, obj);
		}
		pcg_free(g);
	}
}

static void
pc_destruct1(struct pool_cache *pc, void *obj)
{
	struct pool_cache_impl *pci = pc_impl(pc);

	if (pci->pc_dtor != NULL)
		(*pci->pc_dtor)(pci->pc_arg, obj);
	pool_put(&pc->pc_pool, obj);
}

/*
 * A miss of both layers: an object from the pool, constructed.  The
 * pool gets the caller's flags as they are, as in NetBSD, so its drain
 * hook sees PR_ZERO too; the caller zeroes again what the debug modes
 * or a refill may have written since (a cache with a constructor never
 * gets here with PR_ZERO).
 */
static void *
pc_get_pool(struct pool_cache *pc, int flags)
{
	struct pool_cache_impl *pci = pc_impl(pc);
	void *obj = pool_get(&pc->pc_pool, flags);

	if (obj == NULL)
		return NULL;
	if (pci->pc_ctor != NULL &&
	    (*pci->pc_ctor)(pci->pc_arg, obj, flags) != 0) {
		/* The raw object goes back; NULL even with PR_WAITOK. */
		pool_put(&pc->pc_pool, obj);
		return NULL;
	}
	return obj;
}

/* ---- init and destroy */

NBMEM_EXPORT void
pool_cache_bootstrap(pool_cache_t pc, size_t size, unsigned int align,
    unsigned int align_offset, unsigned int flags, const char *wchan,
    struct pool_allocator *palloc, int ipl, int (*ctor)(void *, void *, int),
    void (*dtor)(void *, void *), void *arg)
{
	struct pool_cache_impl *pci = pc_impl(pc);
	/*
	 * The pool gets the cache's flags, PR_LARGECACHE included (which it
	 * ignores), as in NetBSD: vmstat -m shows them.
	 */
	int pflags = (int)flags;

	VERIFY(wchan != NULL, "pool_cache: bootstrap of %p without a name",
	    (void *)pc);
	pthread_once(&pc_once, pc_init_once);
	nbmem_intr_check_sleep("pool_cache", wchan, "pool_cache_bootstrap");

	if (palloc == NULL && ipl == IPL_NONE) {
		if (size > nbmem_os_pagesize()) {
			palloc = pool_allocator_big_for(size, wchan);
			pflags |= PR_NOALIGN;
		} else
			palloc = &pool_allocator_nointr;
	}
	/* With a destructor the cache would do the barrier, not the pool. */
	if ((pflags & PR_PSERIALIZE) != 0 && dtor != NULL)
		pflags &= ~PR_PSERIALIZE;

	memset(pci, 0, sizeof(*pci));
	mutex_init(&pci->pc_lock, ipl);
	pci->pc_ipl = ipl;
	pci->pc_flags = flags;
	pci->pc_ctor = ctor;
	pci->pc_dtor = dtor;
	pci->pc_arg = arg;
	pci->pc_pcgsize = (flags & PR_LARGECACHE) != 0 ?
	    PCG_NOBJECTS_LARGE : PCG_NOBJECTS_NORMAL;

	pool_init(&pc->pc_pool, size, align, align_offset, pflags, wchan,
	    palloc, ipl);
	if ((pc->pc_pool.pr_roflags & PR_PHINPAGE) != 0) {
		pci->pc_phmask = pool_impl(&pc->pc_pool)->pr_pagemask;
		pci->pc_phkey = pool_impl(&pc->pc_pool)->pr_phkey;
		pci->pc_phoff = pool_impl(&pc->pc_pool)->pr_phoffset;
	}
	/* Debug modes, memcheck, ASan: no CPU layer, every get/put slow. */
	pci->pc_debug = nbmem_debug_bypass_p();
	pci->pc_pcc_stash = pc_stash_groups(pci, pc->pc_pool.pr_size);
	if (!pci->pc_debug)
		pc_pcpu_init(pci, pc->pc_pool.pr_size);
	pci->pc_id = nbmem_pcc_id_alloc(wchan);
	__atomic_store_n(&pci->pc_magic, PC_MAGIC, __ATOMIC_RELEASE);
	nbmem_pcc_cache_link(pc);
	/* From here pool_reclaim() and pool_drain() invalidate us. */
	__atomic_store_n(&pc->pc_pool.pr_cache, pc, __ATOMIC_RELEASE);
}

NBMEM_EXPORT pool_cache_t
pool_cache_init(size_t size, unsigned int align, unsigned int align_offset,
    unsigned int flags, const char *wchan, struct pool_allocator *palloc,
    int ipl, int (*ctor)(void *, void *, int), void (*dtor)(void *, void *),
    void *arg)
{
	pool_cache_t pc;

	pthread_once(&pc_once, pc_init_once);
	nbmem_intr_check_sleep("pool_cache", wchan != NULL ? wchan : "?",
	    "pool_cache_init");
	pc = pool_get(&pcache_pool, PR_WAITOK);
	if (pc == NULL)
		return NULL;
	pool_cache_bootstrap(pc, size, align, align_offset, flags, wchan,
	    palloc, ipl, ctor, dtor, arg);
	pc_impl(pc)->pc_allocated = true;
	return pc;
}

NBMEM_EXPORT void
pool_cache_bootstrap_destroy(pool_cache_t pc)
{
	struct pool_cache_impl *pci;

	pc_check(pc, "pool_cache_destroy");
	pci = pc_impl(pc);
	nbmem_intr_check_sleep("pool_cache", pc->pc_pool.pr_wchan,
	    "pool_cache_destroy");
	nbmem_pcc_cache_unlink(pc);
	/* Every slot's groups to the depot, the slots forgotten. */
	nbmem_pcc_collect(pc, true);
	pool_cache_invalidate(pc);
	if (__predict_false(pc->pc_pool.pr_nout != 0))
		nbmem_panic("pool_cache: \"%s\": destroy with %u objects "
		    "(%zu bytes) out, the first at %p (cache %p)",
		    pc->pc_pool.pr_wchan, pc->pc_pool.pr_nout,
		    (size_t)pc->pc_pool.pr_nout *
		    nbmem_pool_objsize(&pc->pc_pool),
		    nbmem_pool_first_out(&pc->pc_pool), (void *)pc);
	__atomic_store_n(&pc->pc_pool.pr_cache, NULL, __ATOMIC_RELEASE);
	/*
	 * pool_destroy() waits for a pool_drain() that may still be
	 * invalidating this cache; only then do its slots go.
	 */
	pool_destroy(&pc->pc_pool);
	if (__predict_false(pci->pc_debug))
		nbmem_track_forget(pc, pci->pc_ipl);
	pci->pc_magic = 0;
	if (pci->pc_pcpu != NULL && pci->pc_pcpu_bytes != 0)
		nbmem_os_unmap(pci->pc_pcpu, pci->pc_pcpu_bytes);
	nbmem_pcc_id_free(pci->pc_id);
	mutex_destroy(&pci->pc_lock);
}

NBMEM_EXPORT void
pool_cache_destroy(pool_cache_t pc)
{
	bool allocated;

	pc_check(pc, "pool_cache_destroy");
	allocated = pc_impl(pc)->pc_allocated;
	pool_cache_bootstrap_destroy(pc);
	if (allocated)
		pool_put(&pcache_pool, pc);
}

/* ---- get */

/*
 * Refill from the pool in runs: for the caches of the malloc library,
 * which asks for it (kmem.c, nbmem_kmem_refill_runs).  Not the default:
 * a get then counts a group's worth of pool gets (pr_nget, the pages),
 * which NetBSD's one object per miss does not.  The same caches keep
 * no stash of full groups per CPU: under the malloc library's workloads
 * (bench/macro, xmalloc and mstress with two threads) the stash saved
 * no time and its groups raised the peak resident memory from 3.4 to
 * 7.0 MiB and from 12.6 to 15.2 MiB.
 */
void
nbmem_pool_cache_refill_runs(struct pool_cache *pc)
{
	struct pool_cache_impl *pci = pc_impl(pc);

	size_t sz = pc->pc_pool.pr_size;
	unsigned int g, b;

	pci->pc_refill = true;
	__atomic_store_n(&pci->pc_pcpu_stash, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&pci->pc_pcc_stash, 0, __ATOMIC_RELAXED);
	if (pci->pc_debug)
		return;
	/*
	 * The group size may change only while the cache has no group yet
	 * (the library asks at start-up), so that the depot and the
	 * statistics count groups of one size.
	 *
	 * Without per-CPU slots (no rseq: glibc before 2.35, valgrind,
	 * NBMEM_PERCPU=0) each thread's slot holds two groups and meets
	 * the depot, whose lock blocks signals (two system calls) for
	 * these IPL_VM caches, at every 15th object of a random walk:
	 * 63-object groups for objects up to PC_THREAD_LARGE_MAX make
	 * that four times rarer.  Measured (bench/macro, NBMEM_PERCPU=0,
	 * medians of three): larson with two threads 1.50 s to 0.93,
	 * xmalloc 0.68 to 0.24, churn 0.91 to 0.69, growshrink 0.64 to
	 * 0.55; peak resident memory 17 to 18 % higher on xmalloc and
	 * mstress with two threads, level elsewhere.
	 *
	 * Larger objects take groups of at most PC_RUNS_BATCH_BYTES (and
	 * at least PC_RUNS_GROUP_MIN objects), and per-CPU slots trade as
	 * many whole groups as fit in it (at least one) and keep twice
	 * that: 15-object groups and batches of 60 objects made slots of
	 * 120 KiB of 1 KiB objects and 1.9 MiB of 64 KiB ones per CPU and
	 * class, each a class's share of what the malloc library held
	 * idle (bench/macro/realloc.c: the classes of 8 to 64 KiB held
	 * 8 MiB of a 30 MiB heap at its end).  Such objects are written
	 * in far more time than a trip to the depot takes.  The regions
	 * of the slots were sized for more.
	 */
	mutex_enter(&pci->pc_lock);
	if (!__atomic_load_n(&pci->pc_pcgmade, __ATOMIC_RELAXED)) {
		g = pci->pc_pcgsize;
		if (pci->pc_pcpu == NULL && sz <= PC_THREAD_LARGE_MAX)
			g = PCG_NOBJECTS_LARGE;
		if (sz > PC_THREAD_LARGE_MAX && sz * g > PC_RUNS_BATCH_BYTES)
			g = PC_RUNS_BATCH_BYTES / sz > PC_RUNS_GROUP_MIN ?
			    (unsigned int)(PC_RUNS_BATCH_BYTES / sz) :
			    PC_RUNS_GROUP_MIN;
		if (g < pci->pc_pcgsize || pci->pc_pcpu == NULL)
			__atomic_store_n(&pci->pc_pcgsize, g,
			    __ATOMIC_RELAXED);
		if (pci->pc_pcpu != NULL) {
			b = (unsigned int)(PC_RUNS_BATCH_BYTES / sz) / g * g;
			if (b > PC_PCPU_BATCH / g * g)
				b = PC_PCPU_BATCH / g * g;
			/* 63-object groups: PC_PCPU_BATCH holds none. */
			if (b < g)
				b = g;
			if (b < pci->pc_pcpu_batch) {
				pci->pc_pcpu_batch = b;
				pci->pc_pcpu_size = 2 * b;
			}
		}
	}
	mutex_exit(&pci->pc_lock);
}

/*
 * After a get that went to the pool, for a cache without a constructor
 * (nothing runs, so nothing the caller could count changes): take up to
 * a group's worth of items more from the pages the pool holds and put
 * them in this CPU's or this thread's slot.  One pool lock for a group
 * instead of one per object; above all, a thread gets a run of items
 * of one page, where two threads starting on empty slots would
 * otherwise take alternate items and share cache lines (the
 * cache-thrash workload of Berger et al., ASPLOS 2000, ran 4.2 times
 * slower with two threads than with one).  The caller hands out the
 * first item of the run, not the one pool_get() gave it, which another
 * thread's pool_get() may have made the neighbour of its own; that one
 * goes to the bottom of the slot, and the rest of the run above it.
 *
 * Items smaller than a cache line leave the slot one line apart: the
 * first item of each line of the run, then the second of each, and so
 * on.  Two objects taken one after the other from one CPU's slot (by
 * two threads that share the CPU for a moment, or by a thread that
 * hands them to two others: Hoard's cache-scratch) are then never
 * neighbours in a line, where in address order each thread kept
 * writing its half of a shared line for good, since a freed object
 * comes back to the slot it left (cache-thrash with two threads ran
 * 4.5 times slower than with one in one run of seven, cache-scratch 4
 * times in every run).  The run spans a few KiB at most (63 items of
 * 48 bytes), so the items handed out in a row stay within a few lines
 * of the first-level cache.  What does not fit goes back to the pool.
 */
#define	PC_LINE		64	/* bytes: the cache line of x86-64, arm64 */

/*
 * The k-th of n pushes: the pool_get item (objs[1]) first, then the run
 * objs[2..n] in the reverse of the order it is to be handed out in,
 * which takes every `stride'-th item from objs[1 + stride] up (objs[1]
 * itself went to the caller), then every stride-th from objs[2], from
 * objs[3] and so on.
 */
static inline unsigned int
pc_refill_idx(unsigned int k, unsigned int n, unsigned int stride)
{
	unsigned int pos, r, c;

	if (k == 0)
		return 1;
	if (stride <= 1)
		return n + 1 - k;
	/*
	 * The run is items 0..n-1 of objs[1..n]; item 0 went out, so the
	 * slot hands out n - 1 items, at positions 1..n-1 of the order
	 * "residue 0 (item 0 first, already out), residue 1, ...": the
	 * k-th push is position n - k, the last handed out goes in first.
	 */
	pos = n - k;
	for (r = 0;; r++) {
		c = r < n ? (n - 1 - r) / stride + 1 : 0;
		if (pos < c)
			return 1 + r + pos * stride;
		pos -= c;
	}
}

static void *
pc_refill(struct pool_cache *pc, void *obj)
{
	struct pool_cache_impl *pci = pc_impl(pc);
	void *objs[PCG_NOBJECTS_LARGE + 1], *out;
	unsigned int n, i = 0, stride;
	pool_cache_cpu_t *cc;
	size_t size;

	if (nbmem_intr_p())
		return obj;
	n = nbmem_pool_get_more(&pc->pc_pool, objs + 1, pci->pc_pcpu != NULL ?
	    pci->pc_pcpu_batch : pci->pc_pcgsize);
	if (n == 0)
		return obj;
	/*
	 * Items stride * size bytes apart, at least a line plus an item
	 * less a byte: then the last byte of one and the first of the
	 * next are a line apart, even for items that straddle two lines
	 * (24, 40, 48 or 56 bytes, or a page whose items start off a
	 * line boundary).
	 */
	size = pc->pc_pool.pr_size;
	stride = size < PC_LINE ? (unsigned int)((PC_LINE + 2 * size - 2) /
	    size) : 1;
	out = objs[1];
	objs[1] = obj;
	if (pci->pc_pcpu != NULL) {
		while (i < n && nbmem_rseq_refill(pci->pc_pcpu,
		    pci->pc_pcpu_stride,
		    objs[pc_refill_idx(i, n, stride)]) ==
		    NBMEM_RSEQ_OK)
			i++;
	} else if ((cc = pcc_lookup(pci->pc_id)) != NULL) {
		/*
		 * A thread's slot may still hold only the dummy group: give
		 * it an empty one, made before the slot is entered.
		 */
		pcg_t *g = cc->cc_current == &nbmem_pcg_dummy ?
		    pcg_alloc(pci) : NULL;
		if (pcc_enter(cc)) {
			if (g != NULL && cc->cc_current == &nbmem_pcg_dummy) {
				cc->cc_current = g;
				g = NULL;
			}
			while (i < n && pcc_push(cc,
			    objs[pc_refill_idx(i, n, stride)]))
				i++;
			pcc_exit(cc);
		}
		if (g != NULL)
			pcg_free(g);
	}
	for (; i < n; i++)
		pool_put(&pc->pc_pool, objs[pc_refill_idx(i, n, stride)]);
	return out;
}

static void *
pc_get_slow(pool_cache_t pc, int flags, paddr_t *pap)
{
	struct pool_cache_impl *pci = pc_impl(pc);
	pool_cache_cpu_t *cc;
	bool bypass, fresh = false;
	pcg_t *g;
	void *obj;
	int r;

	pc_check(pc, "pool_cache_get");
	if ((unsigned int)(flags & PR_SLEEPMASK) - 1 > 1)
		pc_bad_flags(pc, flags);
	if (nbmem_intr_p()) {
		nbmem_intr_check_ipl(pci->pc_ipl, "pool_cache",
		    pc->pc_pool.pr_wchan, "pool_cache_get");
		if ((flags & PR_WAITOK) != 0)
			nbmem_intr_check_sleep("pool_cache",
			    pc->pc_pool.pr_wchan, "pool_cache_get(PR_WAITOK)");
	}
	VERIFY((flags & PR_ZERO) == 0 || pci->pc_ctor == NULL,
	    "pool_cache: \"%s\": pool_cache_get: PR_ZERO on a cache with a "
	    "constructor (constructed objects are not zeroed)",
	    pc->pc_pool.pr_wchan);
	if (__predict_false(pci->pc_debug))
		goto depot;

	if (pci->pc_pcpu != NULL &&
	    (r = nbmem_rseq_pop(pci->pc_pcpu, pci->pc_pcpu_stride, &obj)) !=
	    NBMEM_RSEQ_NOCPU) {
		if (r == NBMEM_RSEQ_OK)
			goto out;
		if (r == NBMEM_RSEQ_EMPTY) {
			if ((obj = pc_pcpu_get_slow(pci, &bypass)) != NULL)
				goto out;
			if (!bypass)
				goto pool;
		}
		goto depot;
	}

	cc = pcc_lookup(pci->pc_id);
	if (cc == NULL)
		cc = nbmem_pcc_slot_create(pc);
	if (cc == NULL || !pcc_enter(cc))
		goto depot;
	if ((obj = pcc_pop(cc)) != NULL) {
		PCC_INC(cc->cc_hits);
		pcc_exit(cc);
		goto out;
	}
	/* Both groups empty: a group kept aside, else a depot group. */
	PCC_INC(cc->cc_misses);
	if ((g = aside_pop(&cc->cc_stash, &cc->cc_nstash)) != NULL) {
		pcg_t *cur = slot_retire(pci, cc);

		cc->cc_current = g;
		obj = g->pcg_objects[--g->pcg_avail];
		pcc_exit(cc);
		if (cur != NULL)
			nbmem_pc_depot_give(pc, cur);
		goto out;
	}
	slot_depot_lock(pci, cc);
	if ((g = depot_pop_objects(pci)) != NULL) {
		slot_retire_current(pci, cc);
		cc->cc_current = g;
		mutex_exit(&pci->pc_lock);
		obj = g->pcg_objects[--g->pcg_avail];
		pcc_exit(cc);
		goto out;
	}
	mutex_exit(&pci->pc_lock);
	PCC_INC(cc->cc_pcmisses);
	pcc_exit(cc);
	goto pool;

depot:
	/*
	 * No slot to use (a handler interrupted its owner inside it, a
	 * thief is emptying it, or none could be made): take one object
	 * straight from a depot group.
	 */
	depot_lock(pci);
	pci->pc_misses++;
	if ((g = depot_pop_objects(pci)) != NULL) {
		obj = g->pcg_objects[--g->pcg_avail];
		depot_push(pci, g);
		mutex_exit(&pci->pc_lock);
		goto out;
	}
	pci->pc_pcmisses++;
	mutex_exit(&pci->pc_lock);
pool:
	if ((obj = pc_get_pool(pc, flags)) == NULL)
		return NULL;
	if (pci->pc_refill && pci->pc_ctor == NULL && !pci->pc_debug)
		obj = pc_refill(pc, obj);
	fresh = true;
out:
	if (__predict_false(pci->pc_debug))
		nbmem_pc_debug_get(pc, obj, fresh);
	if ((flags & PR_ZERO) != 0)
		memset(obj, 0, pc->pc_pool.pr_reqsize);
	if (pap != NULL)
		*pap = POOL_PADDR_INVALID;
	return obj;
}

NBMEM_EXPORT NBMEM_HOT void *
pool_cache_get_paddr(pool_cache_t pc, int flags, paddr_t *pap)
{

	return nbmem_pc_get_fast(pc, flags, pap);
}

NBMEM_EXPORT NBMEM_HOT void *
pool_cache_get(pool_cache_t pc, int flags)
{

	return nbmem_pc_get_fast(pc, flags, NULL);
}

/* ---- put */

#if NBMEM_ASAN
__attribute__((__no_sanitize__("address"))) uint32_t
nbmem_pc_ph_tag(uintptr_t ph)
{
	return ((const struct pool_item_header *)ph)->ph_tag;
}

__attribute__((__no_sanitize__("address"))) char *
nbmem_pc_ph_page(uintptr_t ph)
{
	return ((const struct pool_item_header *)ph)->ph_page;
}
#endif

/*
 * Diagnose obj if it is no object of pc's; `kmem': the put may be
 * kmem_free's, whose size chose pc (not malloc's, which chose pc from
 * its page map).
 */
static void
pc_put_check(pool_cache_t pc, struct pool_cache_impl *pci, void *obj,
    bool kmem)
{
	uintptr_t ph;
	const char *why;

	if (obj == NULL || pc_put_ok(pci, obj))
		return;
	ph = (uintptr_t)obj & pci->pc_phmask;
	if (nbmem_pc_ph_page(ph) != (char *)ph)
		why = "not on a page of any pool";
	else if ((nbmem_pc_ph_tag(ph) ^ (uint32_t)ph) != pci->pc_phkey)
		why = "its page belongs to another pool: wrong cache";
	else
		why = "inside the page header, not an item";
	nbmem_panic("pool_cache: \"%s\": pool_cache_put: %p: foreign pointer "
	    "(%s); this cache's objects are %zu bytes%s",
	    pc->pc_pool.pr_wchan, obj, why, nbmem_pool_objsize(&pc->pc_pool),
	    kmem && nbmem_kmem_pool_p(&pc->pc_pool) ? NBMEM_KMEM_HINT : "");
}

void
nbmem_pc_put_check(pool_cache_t pc, void *obj)
{
	pc_put_check(pc, pc_impl(pc), obj, false);
}

static void
pc_put_slow(pool_cache_t pc, void *obj)
{
	struct pool_cache_impl *pci = pc_impl(pc);
	pool_cache_cpu_t *cc;
	pcg_t *g = NULL;
	bool counted = false;
	int r;

	pc_check(pc, "pool_cache_put");
	VERIFY(obj != NULL, "pool_cache: \"%s\": pool_cache_put: NULL object",
	    pc->pc_pool.pr_wchan);
	pc_put_check(pc, pci, obj, true);
	if (nbmem_intr_p())
		nbmem_intr_check_ipl(pci->pc_ipl, "pool_cache",
		    pc->pc_pool.pr_wchan, "pool_cache_put");
	if (__predict_false(pci->pc_debug)) {
		nbmem_pc_debug_put(pc, obj);
		goto depot;
	}

	if (pci->pc_pcpu != NULL &&
	    (r = nbmem_rseq_push(pci->pc_pcpu, pci->pc_pcpu_stride, obj)) !=
	    NBMEM_RSEQ_NOCPU) {
		if (r == NBMEM_RSEQ_OK)
			return;
		if (r == NBMEM_RSEQ_BUSY)
			goto depot;
		/* Full or not set up; at most two rounds, as below. */
		for (int round = 0; round < 2; round++) {
			r = pc_pcpu_put_slow(pc, obj, &g, counted);
			if (r == 0)
				return;
			if (r == 2)
				goto depot;
			counted = true;
			if ((g = pcg_alloc(pci)) == NULL)
				goto destruct;
		}
		goto depot;
	}

	cc = pcc_lookup(pci->pc_id);
	if (cc == NULL)
		cc = nbmem_pcc_slot_create(pc);
	/*
	 * At most two rounds: the second after allocating an empty group
	 * outside the slot (pool_get may reclaim, and reclaim empties
	 * slots), when a handler may have changed the slot meanwhile.
	 */
	for (int round = 0; cc != NULL && round < 2; round++) {
		if (!pcc_enter(cc))
			break;
		if (pcc_push(cc, obj)) {
			if (!counted)
				PCC_INC(cc->cc_hits);
			pcc_exit(cc);
			if (g != NULL)
				nbmem_pc_depot_give(pc, g);
			return;
		}
		/* Both groups full: install an empty group. */
		if (!counted)
			PCC_INC(cc->cc_misses);
		counted = true;
		/*
		 * One kept aside, with no lock, the full current kept too:
		 * slot_keep decides, on one read of the bound, which a
		 * nbmem_pool_cache_refill_runs may lower meanwhile.
		 */
		if (cc->cc_current != &nbmem_pcg_dummy &&
		    cc->cc_previous != &nbmem_pcg_dummy &&
		    (g != NULL || cc->cc_spare != NULL) &&
		    slot_keep(pci, cc, cc->cc_current)) {
			if (g == NULL)
				g = aside_pop(&cc->cc_spare, &cc->cc_nspare);
			g->pcg_objects[0] = obj;
			g->pcg_avail = 1;
			cc->cc_current = g;
			pcc_exit(cc);
			return;
		}
		slot_depot_lock(pci, cc);
		if (g == NULL)
			g = depot_pop_empty(pci);
		if (g != NULL) {
			slot_retire_current(pci, cc);
			mutex_exit(&pci->pc_lock);
			g->pcg_objects[0] = obj;
			g->pcg_avail = 1;
			cc->cc_current = g;
			pcc_exit(cc);
			return;
		}
		mutex_exit(&pci->pc_lock);
		pcc_exit(cc);
		if ((g = pcg_alloc(pci)) == NULL)
			goto destruct;
	}
depot:
	/* Bypass the slot: put into a depot group with room. */
	depot_lock(pci);
	if (!counted)
		pci->pc_misses++;
	counted = true;
	if (g == NULL)
		g = depot_pop_room(pci);
	if (g != NULL) {
		g->pcg_objects[g->pcg_avail++] = obj;
		depot_push(pci, g);
		mutex_exit(&pci->pc_lock);
		return;
	}
	mutex_exit(&pci->pc_lock);
	if ((g = pcg_alloc(pci)) != NULL) {
		g->pcg_objects[g->pcg_avail++] = obj;
		nbmem_pc_depot_give(pc, g);
		return;
	}
destruct:
	/* No group to hold it: the object leaves the cache. */
	mutex_enter(&pci->pc_lock);
	if (!counted)
		pci->pc_misses++;
	pci->pc_pcmisses++;
	mutex_exit(&pci->pc_lock);
	if (__predict_false(pci->pc_debug))
		nbmem_pc_debug_uncache(pc, obj);
	pc_destruct1(pc, obj);
}

/*
 * The slow paths of a cache above IPL_NONE take several of its spin
 * mutexes in a row (the depot's, the pool's, the group pool's, the
 * page layer's): for kmem's caches (nbmem_pool_cache_spl_batch), whose
 * misses run no code of the program (no constructor, destructor, page
 * allocator or drain hook of its own), signals are blocked once around
 * the whole miss rather than by each mutex (two system calls each),
 * which the mutexes then find done (spl_block_enter).  growshrink, one
 * thread: 474,000 signal-mask calls before, 134,000 after.  A PR_ZERO
 * get comes here even when the slot has an object, so it does not.
 */
void
nbmem_pool_cache_spl_batch(struct pool_cache *pc)
{
	struct pool_cache_impl *pci = pc_impl(pc);

	pci->pc_spl_batch = pci->pc_ipl > IPL_NONE && pci->pc_ctor == NULL &&
	    pci->pc_dtor == NULL;
}

/*
 * Before a batched miss blocks signals: the inline fast paths of the
 * per-thread slots look at the current group only, so a slot whose
 * previous group can serve (the exchange of pcc_pop and pcc_push) comes
 * here too, and needs no lock.  Done as the fast path does it, signals
 * open: pc_slot_get and pc_slot_put, true when served.  Not in a signal
 * handler inside nbmem_intr_enter/exit (the slow path checks what it
 * may do), nor in the debug modes (no slots).  larson, one thread,
 * per-thread slots: 63,000 signal-mask calls per 2 million operations
 * before, most of them for such an exchange.
 */

/* This thread's per-thread slot of the cache, entered; NULL if none. */
static pool_cache_cpu_t *
pc_slot_enter(struct pool_cache_impl *pci)
{
	pool_cache_cpu_t *cc;

	if (pci->pc_pcpu != NULL || pci->pc_debug || nbmem_intr_p() ||
	    (cc = pcc_lookup(pci->pc_id)) == NULL || !pcc_enter(cc))
		return NULL;
	return cc;
}

/* Get from the slot, either group. */
static bool
pc_slot_get(struct pool_cache_impl *pci, void **objp)
{
	pool_cache_cpu_t *cc;
	void *obj;

	if ((cc = pc_slot_enter(pci)) == NULL)
		return false;
	if ((obj = pcc_pop(cc)) != NULL)
		PCC_INC(cc->cc_hits);
	pcc_exit(cc);
	*objp = obj;
	return obj != NULL;
}

/* Put into the slot, either group, an object that passes the check. */
static bool
pc_slot_put(struct pool_cache_impl *pci, void *obj)
{
	pool_cache_cpu_t *cc;
	bool done;

	if (!pc_put_ok(pci, obj) || (cc = pc_slot_enter(pci)) == NULL)
		return false;
	if ((done = pcc_push(cc, obj)))
		PCC_INC(cc->cc_hits);
	pcc_exit(cc);
	return done;
}

void *__noinline
nbmem_pc_get_slow(pool_cache_t pc, int flags, paddr_t *pap)
{
	struct pool_cache_impl *pci = pc_impl(pc);
	void *obj;

	if (!pci->pc_spl_batch || (flags & PR_ZERO) != 0)
		return pc_get_slow(pc, flags, pap);
	if ((unsigned int)flags - 1 <= 1 && pc_slot_get(pci, &obj)) {
		if (pap != NULL)
			*pap = POOL_PADDR_INVALID;
		return obj;
	}
	spl_block_enter();
	obj = pc_get_slow(pc, flags, pap);
	spl_block_exit();
	return obj;
}

void __noinline
nbmem_pc_put_slow(pool_cache_t pc, void *obj)
{
	struct pool_cache_impl *pci = pc_impl(pc);

	if (!pci->pc_spl_batch) {
		pc_put_slow(pc, obj);
		return;
	}
	if (pc_slot_put(pci, obj))
		return;
	spl_block_enter();
	pc_put_slow(pc, obj);
	spl_block_exit();
}

NBMEM_EXPORT NBMEM_HOT void
pool_cache_put_paddr(pool_cache_t pc, void *obj, paddr_t pa)
{

	(void)pa;
	nbmem_pc_put_fast(pc, obj);
}

NBMEM_EXPORT void
pool_cache_destruct_object(pool_cache_t pc, void *obj)
{
	pc_check(pc, "pool_cache_destruct_object");
	VERIFY(obj != NULL, "pool_cache: \"%s\": pool_cache_destruct_object: "
	    "NULL object", pc->pc_pool.pr_wchan);
	if (__predict_false(pc_impl(pc)->pc_debug))
		nbmem_pc_debug_destruct(pc, obj);
	pc_destruct1(pc, obj);
}

/* ---- invalidate and reclaim */

static void
pc_invalidate1(pool_cache_t pc)
{
	struct pool_cache_impl *pci = pc_impl(pc);
	pcg_t *list, *g, *next;

	nbmem_pcc_collect(pc, false);
	pc_pcpu_drain(pc);
	mutex_enter(&pci->pc_lock);
	/* Chain the three lists into one. */
	list = NULL;
	for (unsigned int k = 0; k < PCG_NKINDS; k++) {
		for (g = pci->pc_groups[k]; g != NULL; g = next) {
			next = g->pcg_next;
			g->pcg_next = list;
			list = g;
		}
		pci->pc_groups[k] = NULL;
		pci->pc_ngroups[k] = 0;
	}
	mutex_exit(&pci->pc_lock);
	pc_destruct_groups(pc, list);
}

/*
 * A decay pass (reclaim.h) on a cache in use: the full groups that sat
 * in the depot since the previous pass, never taken (the depot's low-
 * water mark of full groups, Bonwick and Adams' working set), leave it,
 * destructors run; the rest stays.  Returns the objects destructed.
 */
size_t
nbmem_pool_cache_decay(struct pool_cache *pc)
{
	struct pool_cache_impl *pci = pc_impl(pc);
	pcg_t *list = NULL, *g;
	unsigned int n;
	size_t nobj = 0;

	/* Stashed groups join the depot, to leave it next pass if idle. */
	pc_pcpu_unstash(pc);
	nbmem_pcc_unstash(pc);
	mutex_enter(&pci->pc_lock);
	n = pci->pc_fullmin;
	if (n > pci->pc_ngroups[PCG_FULL])
		n = pci->pc_ngroups[PCG_FULL];
	while (n-- > 0 && (g = depot_pop(pci, PCG_FULL, PCG_FULL)) != NULL) {
		nobj += g->pcg_avail;
		g->pcg_next = list;
		list = g;
	}
	pci->pc_fullmin = pci->pc_ngroups[PCG_FULL];
	mutex_exit(&pci->pc_lock);
	pc_destruct_groups(pc, list);
	return nobj;
}

NBMEM_EXPORT void
pool_cache_invalidate(pool_cache_t pc)
{
	pc_check(pc, "pool_cache_invalidate");
	nbmem_intr_check_sleep("pool_cache", pc->pc_pool.pr_wchan,
	    "pool_cache_invalidate");
	pc_invalidate1(pc);
}

void
nbmem_pool_cache_invalidate(struct pool_cache *pc)
{
	pc_invalidate1(pc);
}

NBMEM_EXPORT bool
pool_cache_reclaim(pool_cache_t pc)
{
	pc_check(pc, "pool_cache_reclaim");
	nbmem_intr_check_sleep("pool_cache", pc->pc_pool.pr_wchan,
	    "pool_cache_reclaim");
	return pool_reclaim(&pc->pc_pool) != 0;
}

/* ---- forwarded to the pool */

NBMEM_EXPORT void
pool_cache_set_drain_hook(pool_cache_t pc, void (*fn)(void *, int),
    void *arg)
{
	pc_check(pc, "pool_cache_set_drain_hook");
	pool_set_drain_hook(&pc->pc_pool, fn, arg);
}

NBMEM_EXPORT void
pool_cache_setlowat(pool_cache_t pc, int n)
{
	pc_check(pc, "pool_cache_setlowat");
	pool_setlowat(&pc->pc_pool, n);
}

NBMEM_EXPORT void
pool_cache_sethiwat(pool_cache_t pc, int n)
{
	pc_check(pc, "pool_cache_sethiwat");
	pool_sethiwat(&pc->pc_pool, n);
}

NBMEM_EXPORT void
pool_cache_sethardlimit(pool_cache_t pc, int n, const char *warnmess,
    int ratecap)
{
	pc_check(pc, "pool_cache_sethardlimit");
	pool_sethardlimit(&pc->pc_pool, n, warnmess, ratecap);
}

NBMEM_EXPORT void
pool_cache_prime(pool_cache_t pc, int n)
{
	pc_check(pc, "pool_cache_prime");
	nbmem_intr_check_sleep("pool_cache", pc->pc_pool.pr_wchan,
	    "pool_cache_prime");
	pool_prime(&pc->pc_pool, n);
}

NBMEM_EXPORT unsigned int
pool_cache_nget(pool_cache_t pc)
{
	return pool_nget(&pc->pc_pool);
}

NBMEM_EXPORT unsigned int
pool_cache_nput(pool_cache_t pc)
{
	return pool_nput(&pc->pc_pool);
}

/* ---- statistics */

void
nbmem_pool_cache_fill_sysctl(struct pool_cache *pc, struct pool_sysctl *ps)
{
	struct pool_cache_impl *pci = pc_impl(pc);
	uint64_t hits, misses, pcmisses, contended, nstash;

	nbmem_pcc_counters(pc, &hits, &misses, &pcmisses, &contended,
	    &nstash);
	/*
	 * Full groups a CPU or a thread keeps aside are full groups of the
	 * cache.
	 */
	ps->pr_cache_nfull = nstash;
	for (unsigned int c = 0; pci->pc_pcpu != NULL && c < pci->pc_ncpu;
	    c++) {
		struct pcc_pcpu_stats *st = pcpu_stats(pci, c);
		ps->pr_cache_nfull += __atomic_load_n(&st->ps_nstash,
		    __ATOMIC_RELAXED);
		hits += pc_pcpu_hits(pci, c);
		misses += __atomic_load_n(&st->ps_misses, __ATOMIC_RELAXED);
		pcmisses += __atomic_load_n(&st->ps_pcmisses,
		    __ATOMIC_RELAXED);
		contended += __atomic_load_n(&st->ps_contended,
		    __ATOMIC_RELAXED);
	}
	mutex_enter(&pci->pc_lock);
	ps->pr_cache_meta_size = pci->pc_pcgsize;
	ps->pr_cache_nfull += pci->pc_ngroups[PCG_FULL];
	ps->pr_cache_npartial = pci->pc_ngroups[PCG_PART];
	ps->pr_cache_nempty = pci->pc_ngroups[PCG_EMPTY];
	hits += pci->pc_hits;
	misses += pci->pc_misses;
	pcmisses += pci->pc_pcmisses;
	contended += pci->pc_contended;
	mutex_exit(&pci->pc_lock);
	ps->pr_cache_ncontended = contended;
	ps->pr_cache_nmiss_global = pcmisses;
	ps->pr_cache_nhit_global = misses - pcmisses;
	ps->pr_cache_nmiss_pcpu = misses;
	ps->pr_cache_nhit_pcpu = hits;
}

size_t
nbmem_pool_cache_nheld(struct pool_cache *pc)
{
	struct pool_cache_impl *pci = pc_impl(pc);
	size_t n = 0;

	for (unsigned int c = 0; pci->pc_pcpu != NULL && c < pci->pc_ncpu;
	    c++) {
		n += nbmem_pcpu_count(pcpu_slot(pci, c));
		n += (size_t)__atomic_load_n(&pcpu_stats(pci, c)->ps_nstash,
		    __ATOMIC_RELAXED) * pci->pc_pcgsize;
	}
	mutex_enter(&pci->pc_lock);
	n += (size_t)pci->pc_ngroups[PCG_FULL] * pci->pc_pcgsize;
	for (pcg_t *g = pci->pc_groups[PCG_PART]; g != NULL; g = g->pcg_next)
		n += g->pcg_avail;
	mutex_exit(&pci->pc_lock);
	return n;
}

/* ---- pool_printit */

void
nbmem_pool_cache_print_groups(struct pool_cache *pc,
    void (*pr)(const char *, ...))
{
	struct pool_cache_impl *pci = pc_impl(pc);
	void *objs[PCG_NOBJECTS_LARGE];
	uint32_t n;
	pcg_t *g;

	/*
	 * pr may allocate, from this very cache for kmem's: nothing is
	 * printed under pc_lock.  The k-th group is found again each time,
	 * so a depot that changes meanwhile is shown as it then is.
	 */
	for (unsigned int k = 0;; k++) {
		mutex_enter(&pci->pc_lock);
		g = pci->pc_groups[PCG_FULL];
		for (unsigned int i = 0; g != NULL && i < k; i++)
			g = g->pcg_next;
		if (g == NULL) {
			mutex_exit(&pci->pc_lock);
			return;
		}
		n = g->pcg_avail <= PCG_NOBJECTS_LARGE ? g->pcg_avail :
		    PCG_NOBJECTS_LARGE;
		memcpy(objs, g->pcg_objects, n * sizeof(void *));
		mutex_exit(&pci->pc_lock);
		(*pr)("\t\tgroup %p: avail %u\n", (void *)g, n);
		for (uint32_t i = 0; i < n; i++)
			(*pr)("\t\t\t%p\n", objs[i]);
	}
}

/* ---- pool_whatis */

bool
nbmem_pcg_holds(const pcg_t *g, const void *obj)
{
	uint32_t n;

	if (g == NULL)
		return false;
	n = __atomic_load_n(&g->pcg_avail, __ATOMIC_RELAXED);
	for (uint32_t i = 0; i < n && i < g->pcg_size; i++)
		if (__atomic_load_n(&g->pcg_objects[i], __ATOMIC_RELAXED) ==
		    obj)
			return true;
	return false;
}

bool
nbmem_pcg_list_holds(const pcg_t *g, const void *obj)
{
	for (; g != NULL; g = g->pcg_next)
		if (nbmem_pcg_holds(g, obj))
			return true;
	return false;
}

/*
 * Where the cache keeps obj, for pool_whatis(): PC_WHERE_CPU with the
 * CPU in *cpup (a per-CPU slot, or the groups that CPU keeps aside),
 * PC_WHERE_CACHED (the calling thread's slot or the depot), or
 * PC_WHERE_NONE.  The caller holds the pool's locks, which rank after
 * the cache's, so every lock here is only tried; one that is busy
 * leaves its part unsearched.  Other threads' slots are not searched
 * (nbmem_pcc_holds).
 */
int
nbmem_pool_cache_whatis(struct pool_cache *pc, const void *obj,
    unsigned int *cpup)
{
	struct pool_cache_impl *pci = pc_impl(pc);
	bool found = false;

	for (unsigned int cpu = 0; pci->pc_pcpu != NULL && cpu < pci->pc_ncpu;
	    cpu++) {
		struct nbmem_pcpu_slot *sl = pcpu_slot(pci, cpu);
		struct pcc_pcpu_stats *st = pcpu_stats(pci, cpu);
		if (__atomic_load_n(&sl->ps_size, __ATOMIC_RELAXED) == 0 ||
		    !nbmem_rseq_trylock_cpu(pci->pc_pcpu, pci->pc_pcpu_stride,
		    cpu))
			continue;
		for (uint32_t i = 0; i < nbmem_pcpu_count(sl) && !found; i++)
			found = sl->ps_objs[i] == obj;
		if (!found)
			found = nbmem_pcg_list_holds(st->ps_stash, obj);
		nbmem_rseq_unlock(pci->pc_pcpu, pci->pc_pcpu_stride, cpu);
		if (found) {
			*cpup = cpu;
			return PC_WHERE_CPU;
		}
	}
	if (nbmem_pcc_holds(pc, obj))
		return PC_WHERE_CACHED;
	if (mutex_tryenter(&pci->pc_lock)) {
		found = nbmem_pcg_list_holds(pci->pc_groups[PCG_FULL], obj) ||
		    nbmem_pcg_list_holds(pci->pc_groups[PCG_PART], obj);
		mutex_exit(&pci->pc_lock);
	}
	return found ? PC_WHERE_CACHED : PC_WHERE_NONE;
}

/* ---- vmem quantum caches (vmem(3) qcache_max) */

/*
 * An arena with qcache_max > 0 gets pool caches for the sizes quantum,
 * 2*quantum, ... qcache_max (at most VMEM_QCACHE_IDX_MAX classes).  Their
 * "objects" are addresses of the arena itself, so the pools are PR_NOTOUCH
 * (never write into an item: it need not be memory) and PR_NOALIGN (their
 * pages are quantum-aligned ranges), and PR_RECURSIVE for the statistics.  The
 * "page" is the smallest power of two above 3 * qcache_max (16 at least),
 * taken from the arena with VM_INSTANTFIT.  A class with as many items per page
 * as the next larger one is served by that one.  All of it lives in one mapping
 * from the OS, as it may be built while the page layer itself is being set
 * up.  Difference from NetBSD: a page at address 0, which a pool would take for
 * a failed allocation, is set aside unused until the caches are destroyed.
 */

struct nbmem_qcache {
	vmem_t		*qc_arena;
	vmem_size_t	qc_quantum;
	vmem_size_t	qc_max;
	unsigned int	qc_qshift;
	size_t		qc_bytes;
	vmem_size_t	qc_zeropage;	/* size of the page at 0, if taken */
	struct pool_allocator qc_allocator;
	pool_cache_t	qc_cache[VMEM_QCACHE_IDX_MAX];	/* by size/quantum-1 */
	bool		qc_made[VMEM_QCACHE_IDX_MAX];
	char		qc_name[VMEM_QCACHE_IDX_MAX][16];
	struct pool_cache qc_store[VMEM_QCACHE_IDX_MAX];
};

static void *
qc_page_alloc(struct pool *pp, int flags)
{
	struct nbmem_qcache *qc = pp->pr_qcache;
	vm_flag_t vf = VM_INSTANTFIT |
	    ((flags & PR_WAITOK) != 0 ? VM_SLEEP : VM_NOSLEEP);
	vmem_addr_t va;

	if (vmem_alloc(qc->qc_arena, pp->pr_alloc->pa_pagesz, vf, &va) != 0)
		return NULL;
	if (__predict_false(va == 0)) {
		/* Address 0 reads as failure to the pool: keep it aside. */
		__atomic_store_n(&qc->qc_zeropage, pp->pr_alloc->pa_pagesz,
		    __ATOMIC_RELAXED);
		if (vmem_alloc(qc->qc_arena, pp->pr_alloc->pa_pagesz, vf,
		    &va) != 0)
			return NULL;
	}
	return (void *)va;
}

static void
qc_page_free(struct pool *pp, void *v)
{
	struct nbmem_qcache *qc = pp->pr_qcache;

	vmem_free(qc->qc_arena, (vmem_addr_t)v, pp->pr_alloc->pa_pagesz);
}

struct nbmem_qcache *
nbmem_vmem_qcache_create(vmem_t *vm, const char *name, vmem_size_t quantum,
    vmem_size_t qcache_max, int ipl)
{
	struct nbmem_qcache *qc;
	size_t ps = nbmem_os_pagesize();
	size_t bytes = (sizeof(*qc) + ps - 1) & ~(ps - 1);
	unsigned int nclass = (unsigned int)(qcache_max / quantum);
	size_t pagesz, previpp = 0;
	pool_cache_t larger = NULL;

	if (qcache_max == 0)
		return NULL;
	VERIFY(nclass <= VMEM_QCACHE_IDX_MAX && (quantum & (quantum - 1)) ==
	    0, "vmem: arena \"%s\": quantum caches: qcache_max %#zx, quantum "
	    "%#zx", name, (size_t)qcache_max, (size_t)quantum);
	qc = nbmem_os_map(bytes, 0, NBMEM_OS_PROT_RW, false);
	VERIFY(qc != NULL, "vmem: arena \"%s\": no memory for its quantum "
	    "caches (%zu bytes)", name, bytes);
	qc->qc_bytes = bytes;
	qc->qc_arena = vm;
	qc->qc_quantum = quantum;
	qc->qc_max = qcache_max;
	qc->qc_qshift = (unsigned int)__builtin_ctzll(quantum);
	/*
	 * Smallest power of two strictly above 3 * qcache_max, and no
	 * smaller than a pool's smallest page (16): NetBSD's pools take a
	 * page of 4 or 8 for a qcache_max of 1 or 2 with quantum 1.
	 */
	for (pagesz = 16; pagesz <= 3 * qcache_max; pagesz <<= 1)
		continue;
	qc->qc_allocator.pa_alloc = qc_page_alloc;
	qc->qc_allocator.pa_free = qc_page_free;
	qc->qc_allocator.pa_pagesz = (unsigned int)pagesz;

	for (unsigned int i = nclass; i >= 1; i--) {
		size_t size = (size_t)i * quantum;
		size_t ipp = pagesz / size;
		if (larger != NULL && ipp == previpp) {
			qc->qc_cache[i - 1] = larger;
			continue;
		}
		pool_cache_t pc = &qc->qc_store[i - 1];
		nbmem_snprintf(qc->qc_name[i - 1], sizeof(qc->qc_name[0]),
		    "%s-%zu", name, size);
		pool_cache_bootstrap(pc, size, (unsigned int)quantum, 0,
		    PR_NOALIGN | PR_NOTOUCH | PR_RECURSIVE, qc->qc_name[i - 1],
		    &qc->qc_allocator, ipl, NULL, NULL, NULL);
		pc->pc_pool.pr_qcache = qc;
		qc->qc_cache[i - 1] = pc;
		qc->qc_made[i - 1] = true;
		larger = pc;
		previpp = ipp;
	}
	return qc;
}

void
nbmem_vmem_qcache_destroy(struct nbmem_qcache *qc)
{
	if (qc == NULL)
		return;
	for (unsigned int i = 0; i < VMEM_QCACHE_IDX_MAX; i++) {
		if (qc->qc_made[i])
			pool_cache_bootstrap_destroy(&qc->qc_store[i]);
	}
	if (qc->qc_zeropage != 0)
		vmem_free(qc->qc_arena, 0, qc->qc_zeropage);
	nbmem_os_unmap(qc, qc->qc_bytes);
}

int
nbmem_vmem_qcache_alloc(struct nbmem_qcache *qc, vmem_size_t size,
    vm_flag_t flags, vmem_addr_t *addrp)
{
	pool_cache_t pc = qc->qc_cache[(size - 1) >> qc->qc_qshift];
	void *p = pool_cache_get(pc,
	    (flags & VM_SLEEP) != 0 ? PR_WAITOK : PR_NOWAIT);

	/* As NetBSD's: the address may be unwanted; 0 on a failure. */
	if (addrp != NULL)
		*addrp = (vmem_addr_t)p;
	return p != NULL ? 0 : ENOMEM;
}

void
nbmem_vmem_qcache_free(struct nbmem_qcache *qc, vmem_addr_t addr,
    vmem_size_t size)
{
	pool_cache_put(qc->qc_cache[(size - 1) >> qc->qc_qshift],
	    (void *)addr);
}

pool_cache_t
nbmem_vmem_qcache_cache(struct nbmem_qcache *qc, vmem_size_t size)
{
	return qc->qc_cache[(size - 1) >> qc->qc_qshift];
}

/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * pool_cache_impl.h: the private layout of a pool cache, its groups and
 * its CPU-layer slots, shared by pool_cache.c (depot, constructors,
 * public interface) and pool_cache_cpu.c (slot registry, thread exit,
 * fork).  The theory is at the top of pool_cache.c.
 */
#ifndef NBMEM_POOL_CACHE_IMPL_H
#define NBMEM_POOL_CACHE_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include <nbmem/pool.h>

#include "internal.h"
#include "lock.h"
#include "os/rseq.h"
#include "nbvalgrind.h"
#include "pool_impl.h"

/*
 * A group (a magazine in Bonwick's words): up to pcg_size objects.
 * NetBSD keeps a (virtual, physical) pair per object; the physical
 * address of a userspace object is its virtual address, so one pointer
 * is enough.  Sizes are NetBSD's LP64 counts (3.3 of the reference):
 * 15 objects, or 63 with PR_LARGECACHE.
 */
typedef struct pcg {
	struct pcg	*pcg_next;	/* depot list link */
	uint32_t	pcg_avail;	/* objects held */
	uint32_t	pcg_size;	/* capacity; 0 for the dummy */
	void		*pcg_objects[];
} pcg_t;

#define	PCG_NOBJECTS_NORMAL	15
#define	PCG_NOBJECTS_LARGE	63

/*
 * The dummy group has capacity 0: it is at once empty (no get can take
 * from it) and full (no put can add to it), so a fresh slot needs no
 * NULL checks on its fast path.
 */
extern pcg_t nbmem_pcg_dummy;

/*
 * One CPU-layer slot: the current and previous group one thread uses
 * for one cache (NetBSD's pool_cache_cpu_t, kept per thread).  The
 * owner writes the groups and counters; cc_idle is 1 while no one is
 * inside the slot (the owner decrements it to 0 to enter, a signal
 * handler that interrupted the owner inside finds it non-zero after
 * its own decrement), cc_steal another thread's request to take the
 * groups (see 2 and 4 of the theory in pool_cache.c).  64-byte
 * aligned: one owner per line.
 */
typedef struct pool_cache_cpu {
	pcg_t		*cc_current;
	pcg_t		*cc_previous;
	int32_t		cc_idle;	/* 1: no one inside the slot */
	uint32_t	cc_steal;	/* a thief wants the groups */
	/*
	 * Groups the owner keeps aside (pool_cache.c, slot_keep): full
	 * ones of its own bursts, at most pc_pcc_stash, and empty ones
	 * for the next; a thief takes them with the others.
	 */
	pcg_t		*cc_stash;
	pcg_t		*cc_spare;
	uint32_t	cc_nstash;
	uint32_t	cc_nspare;
	uint64_t	cc_hits;	/* gets and puts served here */
	uint64_t	cc_misses;	/* gets and puts not served here */
	uint64_t	cc_pcmisses;	/* ... that reached the pool too */
	uint64_t	cc_contended;	/* depot lock found taken */
	/* registry lock */
	struct pool_cache *cc_cache;
	struct pool_cache_cpu *cc_next;	/* the cache's slots */
	struct pool_cache_cpu **cc_pprev;
	struct pcc_table *cc_table;	/* the owner's table */
} __attribute__((__aligned__(64))) pool_cache_cpu_t;

/*
 * A thread's slots, indexed by cache id.  Mapped from the OS (a page or
 * more); replaced by a bigger copy when a cache id does not fit.
 */
struct pcc_table {
	struct pcc_table *pt_next;	/* all tables (registry lock) */
	struct pcc_table *pt_prev;
	/*
	 * The thread's earlier, smaller tables, kept mapped until it
	 * exits: a signal handler that makes a slot may grow the table
	 * while the code it interrupted is reading the old one.
	 */
	struct pcc_table *pt_retired;
	unsigned int	pt_cap;		/* entries in pt_slots */
	size_t		pt_bytes;	/* mapping size */
	pool_cache_cpu_t *pt_slots[];
};

extern __thread struct pcc_table *nbmem_pcc_table
    __attribute__((__tls_model__("initial-exec")));

/* Depot lists: full (avail == size), partial, empty (avail == 0). */
#define	PCG_FULL	0
#define	PCG_PART	1
#define	PCG_EMPTY	2
#define	PCG_NKINDS	3

/* The cache itself, in pc_private. */
struct pool_cache_impl {
	kmutex_t	pc_lock;	/* depot, at the cache's IPL */
	uint32_t	pc_magic;
	unsigned int	pc_id;		/* index in thread tables */
	unsigned int	pc_pcgsize;	/* objects per group */
	int		pc_ipl;
	unsigned int	pc_flags;	/* pool_cache_init flags */
	bool		pc_allocated;	/* by pool_cache_init */
	bool		pc_debug;	/* no CPU layer: debug_pool.c hooks */
	bool		pc_refill;	/* misses refill runs from the pool */
	bool		pc_spl_batch;	/* misses block signals once (kmem) */
	bool		pc_pcgmade;	/* a group was ever asked for (pc_lock) */
	int		(*pc_ctor)(void *, void *, int);
	void		(*pc_dtor)(void *, void *);
	void		*pc_arg;
	/* depot (pc_lock): lists of full, partial and empty groups */
	pcg_t		*pc_groups[PCG_NKINDS];
	unsigned int	pc_ngroups[PCG_NKINDS];
	unsigned int	pc_fullmin;	/* fewest full groups since decay */
	/* counters of exited slots and of bypassing operations (pc_lock) */
	uint64_t	pc_hits;
	uint64_t	pc_misses;
	uint64_t	pc_pcmisses;
	uint64_t	pc_contended;
	/*
	 * Pools with their page headers on the page (the put check): the
	 * mask that finds an object's header, the key its tag must match
	 * and the lowest item offset (0, 0, 0 when headers are off the
	 * page: nothing to check on put).
	 */
	uintptr_t	pc_phmask;
	uintptr_t	pc_phoff;
	uint32_t	pc_phkey;
	/* per-CPU slots (rseq), or NULL: the per-thread slots serve */
	void		*pc_pcpu;
	size_t		pc_pcpu_stride;	/* from a CPU's slot to the next's */
	size_t		pc_pcpu_region;	/* of that, ours: slot + counters */
	size_t		pc_pcpu_bytes;	/* mapping size; 0: the shared area */
	unsigned int	pc_pcpu_size;	/* objects per CPU slot */
	unsigned int	pc_pcpu_batch;	/* objects a slot trades per miss */
	unsigned int	pc_pcpu_stash;	/* full groups a CPU keeps aside */
	unsigned int	pc_pcc_stash;	/* ... and a per-thread slot */
	unsigned int	pc_ncpu;
	/* registry lock */
	pool_cache_cpu_t *pc_cpus;	/* slots of live threads */
	/* cache list lock */
	struct pool_cache *pc_nextcache;
};

#define	PC_MAGIC	0x70636163u	/* "pcac" */

/*
 * Counters of one CPU, and the groups its slot keeps aside, after its
 * slot in the per-CPU array.  The count of hits is in the slot's own
 * word, committed by the sequences with the count of objects
 * (os/rseq.h); these are the slow path's, under the slot's lock.
 */
struct pcc_pcpu_stats {
	uint64_t	ps_misses;
	uint64_t	ps_pcmisses;
	uint64_t	ps_contended;
	/*
	 * Empty groups kept by the slot (its lock held), at most
	 * pc_pcpu_stash + 1: the next spills fill them outside the depot
	 * lock, and a refill's emptied group stays here instead of going
	 * back.
	 */
	pcg_t		*ps_spare;
	/*
	 * Full groups this CPU's spills left aside for its own refills,
	 * at most pc_pcpu_stash (the slot's lock held): a burst of gets
	 * and puts larger than the slot stays on its CPU instead of
	 * crossing through the depot.  Decay passes and invalidation move
	 * them to the depot.
	 */
	pcg_t		*ps_stash;
	uint32_t	ps_nspare;
	uint32_t	ps_nstash;
	/*
	 * The slot's hits (48 bits of its word) when a slow path last saw
	 * them, and the wraps seen: the hits are ps_hwraps << 48 plus the
	 * word's, as long as some slow path runs on the CPU within each
	 * 2^48 hits (days of nothing but hits).
	 */
	uint64_t	ps_hlast;
	uint64_t	ps_hwraps;
};

/* Caches made from now on use per-CPU slots where rseq works. */
extern bool nbmem_pcc_percpu;

CTASSERT(sizeof(struct pool_cache_impl) <= POOL_CACHE_PRIVATE_SIZE);

static inline struct pool_cache_impl *
pc_impl(struct pool_cache *pc)
{
	return (struct pool_cache_impl *)(void *)pc->pc_private;
}

static inline struct nbmem_pcpu_slot *
pcpu_slot(struct pool_cache_impl *pci, unsigned int cpu)
{
	return nbmem_pcpu_slot(pci->pc_pcpu, pci->pc_pcpu_stride, cpu);
}

static inline struct pcc_pcpu_stats *
pcpu_stats(struct pool_cache_impl *pci, unsigned int cpu)
{
	return (struct pcc_pcpu_stats *)(void *)((char *)pcpu_slot(pci, cpu) +
	    pci->pc_pcpu_region - 64);
}

/* Plain counter increment that a concurrent reader may load. */
#define	PCC_INC(field)							\
	__atomic_store_n(&(field), __atomic_load_n(&(field),		\
	    __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED)

/*
 * The same for a counter only its owner thread writes, on the fast
 * path: one read-modify-write instruction on memory (addq on x86-64).
 * An aligned 64-bit store is single-copy atomic on both architectures
 * we run the fast path on, so a reader's relaxed load sees the old or
 * the new value, never a mix.  ThreadSanitizer cannot know that: its
 * builds keep the explicit atomic form.
 */
#if NBMEM_TSAN
#define	PCC_BUMP(field)	PCC_INC(field)
#elif defined(__x86_64__)
#define	PCC_BUMP(field)	__asm__("addq $1, %0" : "+m" (field))
#else
#define	PCC_BUMP(field)	((void)((field)++))
#endif

/*
 * The per-CPU step of the fast paths: true when done.  Declines in a
 * signal handler inside nbmem_intr_enter/exit (the slow path checks
 * what a handler may do): on x86-64 the sequence itself finds no CPU
 * there (os/rseq.h, nbmem_rseq_divert), elsewhere a test does it.
 */
static inline __attribute__((__always_inline__)) bool
pcc_rseq_pop(void *base, size_t stride, void **objp)
{
#ifdef NBMEM_RSEQ_HAVE_FAST
	return nbmem_rseq_pop_fast(base, stride, objp);
#else
	return !nbmem_intr_p() &&
	    nbmem_rseq_pop(base, stride, objp) == NBMEM_RSEQ_OK;
#endif
}

static inline __attribute__((__always_inline__)) bool
pcc_rseq_push(void *base, size_t stride, void *obj)
{
#ifdef NBMEM_RSEQ_HAVE_FAST
	return nbmem_rseq_push_fast(base, stride, obj);
#else
	return !nbmem_intr_p() &&
	    nbmem_rseq_push(base, stride, obj) == NBMEM_RSEQ_OK;
#endif
}

/* ---- the slot interface (the fast path) */

/*
 * The entry of a table for a cache without a slot in this thread: its
 * cc_steal is always set, so no one ever gets inside it.  Entering
 * writes cc_idle (a decrement, then an increment back), so it is not
 * const; the value it drifts to when threads race is of no consequence.
 */
extern pool_cache_cpu_t nbmem_pcc_slot_none;
#define	PCC_SLOT_NONE	((pool_cache_cpu_t *)(uintptr_t)&nbmem_pcc_slot_none)

/* This thread's slot for cache id `id', or NULL. */
static inline pool_cache_cpu_t *
pcc_lookup(unsigned int id)
{
	struct pcc_table *t = nbmem_pcc_table;
	pool_cache_cpu_t *cc;

	if (__predict_true(t != NULL && id < t->pt_cap) &&
	    (cc = t->pt_slots[id]) != PCC_SLOT_NONE)
		return cc;
	return NULL;
}

/* Fast path enter needs a full fence when membarrier is unavailable. */
extern bool nbmem_pcc_fence;

/*
 * The table the inline fast paths look slots up in: this thread's
 * table, or an empty one (capacity 0, so every lookup misses) while the
 * thread has no table, runs inside nbmem_intr_enter/exit (handlers take
 * the slow path, which checks what a handler may do), or when
 * membarrier is missing (the slow path then enters slots with a full
 * fence).  nbmem_pcc_fast_sync() recomputes it; declared in internal.h.
 * A miss is NULL, which the callers' test folds into the branch that
 * found it: the placeholder slot, which entering writes, is reached
 * only through a table entry, so threads without a table (or without
 * membarrier) do not all write one shared line.  A table entry is never
 * NULL (PCC_SLOT_NONE).
 */
static inline __attribute__((__always_inline__)) pool_cache_cpu_t *
pcc_lookup_fast(unsigned int id)
{
	struct pcc_table *t = nbmem_pcc_fast;
	pool_cache_cpu_t *cc;

	if (__predict_true(id < t->pt_cap)) {
		cc = t->pt_slots[id];
		if (cc == NULL)
			__builtin_unreachable();
		return cc;
	}
	return NULL;
}

/*
 * Decrement the owner's word of a slot; true when the result is zero.
 * One read-modify-write instruction with the flags used at once (subl
 * on x86-64), not an atomic one: only the owner thread and its signal
 * handlers write cc_idle, and a handler always puts back what it took
 * before it returns, so even a load/store pair would be right.
 */
#if NBMEM_TSAN
#define	PCC_IDLE_DEC(field)						\
	(__atomic_sub_fetch(&(field), 1, __ATOMIC_RELAXED) == 0)
#define	PCC_IDLE_INC(field)						\
	((void)__atomic_add_fetch(&(field), 1, __ATOMIC_RELAXED))
#elif defined(__x86_64__)
static inline __attribute__((__always_inline__)) bool
pcc_idle_dec(int32_t *field)
{
	bool zero;

	__asm__("subl $1, %0" : "+m" (*field), "=@ccz" (zero));
	return zero;
}
#define	PCC_IDLE_DEC(field)	pcc_idle_dec(&(field))
#define	PCC_IDLE_INC(field)	__asm__("addl $1, %0" : "+m" (field))
#else
#define	PCC_IDLE_DEC(field)	(--(field) == 0)
#define	PCC_IDLE_INC(field)	((void)(field)++)
#endif
/*
 * Leave: cc_idle = 1 with release order.  An x86-64 store is a release
 * store; the asm keeps it one instruction on the slot's own address.
 */
#if defined(__x86_64__) && !NBMEM_TSAN
#define	PCC_IDLE_SET(field)						\
	__asm__ __volatile__("movl $1, %0" : "=m" (field))
#else
#define	PCC_IDLE_SET(field)						\
	__atomic_store_n(&(field), 1, __ATOMIC_RELEASE)
#endif

/*
 * A thief's request, read after the decrement.  x86-64 loads are
 * acquire loads already; the asm tests the word in memory (one
 * instruction less than an atomic load and a test).
 */
#if defined(__x86_64__) && !NBMEM_TSAN
static inline __attribute__((__always_inline__)) bool
pcc_steal_p(const uint32_t *steal)
{
	bool set;

	__asm__ __volatile__("cmpl $0, %1" : "=@ccne" (set) : "m" (*steal));
	return set;
}
#define	PCC_STEAL_P(cc)	pcc_steal_p(&(cc)->cc_steal)
#else
#define	PCC_STEAL_P(cc)							\
	(__atomic_load_n(&(cc)->cc_steal, __ATOMIC_ACQUIRE) != 0)
#endif

/*
 * Enter the slot: false when the slot is already entered (a signal
 * handler interrupted its owner inside it) or a thief is taking its
 * groups.  A decrement, a branch, a load and a branch: the ordering
 * between the store of cc_idle and the load of cc_steal is supplied by
 * the thief's membarrier (theory, 4), or by the sequentially consistent
 * decrement when `fence' is set.
 */
static inline __attribute__((__always_inline__)) bool
pcc_enter1(pool_cache_cpu_t *cc, bool fence)
{
	bool zero;

	if (__predict_false(fence))
		zero = __atomic_sub_fetch(&cc->cc_idle, 1,
		    __ATOMIC_SEQ_CST) == 0;
	else
		zero = PCC_IDLE_DEC(cc->cc_idle);
	if (__predict_false(!zero)) {
		PCC_IDLE_INC(cc->cc_idle);
		return false;
	}
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (__predict_false(PCC_STEAL_P(cc))) {
		PCC_IDLE_SET(cc->cc_idle);
		return false;
	}
	return true;
}

static inline bool
pcc_enter(pool_cache_cpu_t *cc)
{
	return pcc_enter1(cc, nbmem_pcc_fence);
}

/*
 * pcc_enter() for the fast paths, which run only where membarrier works
 * (the table they look slots up in is empty otherwise).
 */
static inline bool
pcc_enter_fast(pool_cache_cpu_t *cc)
{
	return pcc_enter1(cc, false);
}

static inline __attribute__((__always_inline__)) void
pcc_exit(pool_cache_cpu_t *cc)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	PCC_IDLE_SET(cc->cc_idle);
}

/* Pop an object from the slot's groups, NULL if both are empty. */
static inline void *
pcc_pop(pool_cache_cpu_t *cc)
{
	pcg_t *g = cc->cc_current;

	if (__predict_false(g->pcg_avail == 0)) {
		g = cc->cc_previous;
		if (g->pcg_avail == 0)
			return NULL;
		cc->cc_previous = cc->cc_current;
		cc->cc_current = g;
	}
	return g->pcg_objects[--g->pcg_avail];
}

/* Push an object into the slot's groups; false if both are full. */
static inline bool
pcc_push(pool_cache_cpu_t *cc, void *obj)
{
	pcg_t *g = cc->cc_current;

	if (__predict_false(g->pcg_avail == g->pcg_size)) {
		g = cc->cc_previous;
		if (g->pcg_avail == g->pcg_size)
			return false;
		cc->cc_previous = cc->cc_current;
		cc->cc_current = g;
	}
	g->pcg_objects[g->pcg_avail] = obj;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	g->pcg_avail++;
	return true;
}

/* ---- the fast paths, inline for pool_cache.c's entry points and kmem */

/* Everything the fast paths do not handle (pool_cache.c). */
void	*nbmem_pc_get_slow(struct pool_cache *, int, paddr_t *);
void	nbmem_pc_put_slow(struct pool_cache *, void *);
/*
 * The put check on its own: panics, naming the fault, when obj is not on
 * a page of the cache's pool or is inside its page header; returns
 * otherwise (the malloc family, before it names a pointer inside an
 * object).
 */
void	nbmem_pc_put_check(struct pool_cache *, void *);

/*
 * The fast path: a restartable pop from this CPU's slot, or one table
 * lookup, the thread slot's busy mark and a pop.  nbmem_pc_get_try()
 * returns NULL instead of doing anything unusual (interrupt context, no
 * slot yet, empty slot); the caller checked the flags (exactly PR_WAITOK
 * or PR_NOWAIT) and goes to nbmem_pc_get_slow() on NULL, as
 * nbmem_pc_get_fast() does for pool_cache_get_paddr() and kmem.
 */
/* Cached objects are never NULL (puts refuse it): lets NULL mean "miss". */
#define	NBMEM_PC_NONNULL(obj)	do {					\
	if ((obj) == NULL)						\
		__builtin_unreachable();				\
} while (0)

/*
 * The per-CPU step alone, given the cache's slot array and stride
 * (nbmem_pc_pcpu_slots): an object, or NULL for the slow path.
 */
static inline __attribute__((__always_inline__)) void *
nbmem_pc_pcpu_get(void *base, size_t stride)
{
	void *obj;

	if (__predict_true(pcc_rseq_pop(base, stride, &obj))) {
		NBMEM_PC_NONNULL(obj);
		return obj;
	}
	return NULL;
}

/* The same for a put: false for the slow path. */
static inline __attribute__((__always_inline__)) bool
nbmem_pc_pcpu_put(void *base, size_t stride, void *obj)
{
	return pcc_rseq_push(base, stride, obj);
}

/*
 * A cache's per-CPU slot array, NULL in the per-thread mode, and its
 * stride in *stridep: fixed from pool_cache_init to pool_cache_destroy,
 * so a caller may keep them (the malloc library's class table).
 */
static inline void *
nbmem_pc_pcpu_slots(struct pool_cache *pc, size_t *stridep)
{
	struct pool_cache_impl *pci = pc_impl(pc);

	*stridep = pci->pc_pcpu_stride;
	return pci->pc_pcpu;
}

static inline __attribute__((__always_inline__)) void *
nbmem_pc_get_try(struct pool_cache *pc)
{
	struct pool_cache_impl *pci = pc_impl(pc);
	pool_cache_cpu_t *cc;
	void *obj;

	if (pci->pc_pcpu != NULL)
		return nbmem_pc_pcpu_get(pci->pc_pcpu, pci->pc_pcpu_stride);
	/* Inside nbmem_intr_enter/exit this misses: see pcc_lookup_fast. */
	cc = pcc_lookup_fast(pci->pc_id);
	if (__predict_true(cc != NULL && pcc_enter_fast(cc))) {
		pcg_t *g = cc->cc_current;
		size_t n;
		if (__predict_true(!__builtin_sub_overflow(
		    (size_t)g->pcg_avail, 1, &n))) {
			g->pcg_avail = (uint32_t)n;
			obj = g->pcg_objects[n];
			PCC_BUMP(cc->cc_hits);
			pcc_exit(cc);
			NBMEM_PC_NONNULL(obj);
			return obj;
		}
		pcc_exit(cc);
	}
	return NULL;
}

static inline __attribute__((__always_inline__)) void *
nbmem_pc_get_fast(struct pool_cache *pc, int flags, paddr_t *pap)
{
	void *obj;

	if (__predict_true((unsigned int)flags - 1 <= 1) &&
	    __predict_true((obj = nbmem_pc_get_try(pc)) != NULL)) {
		if (pap != NULL)
			*pap = POOL_PADDR_INVALID;
		return obj;
	}
	return nbmem_pc_get_slow(pc, flags, pap);
}

/*
 * A put to a cache whose pool keeps its page headers on the page is
 * checked at once, as NetBSD does on every put (pc_phinpage_check): the
 * header found by masking the address must be a page header of this
 * cache's pool (one comparison: its tag is the page address mixed with
 * the pool's key, pool.c), and the object must lie past the header.  A
 * foreign pointer or an object of another cache never enters a group.
 * Caches with headers off the page find out when the object reaches
 * the pool.  The fast path only tests; the slow path names the fault.
 */
/*
 * Read a page header word for the put check.  The address comes from
 * the caller's pointer, which may be anything; in AddressSanitizer
 * builds the read must not be instrumented, or a foreign pointer into
 * poisoned memory would end in ASan's report instead of ours.
 */
#if NBMEM_ASAN
uint32_t nbmem_pc_ph_tag(uintptr_t);
char	*nbmem_pc_ph_page(uintptr_t);
#else
static inline uint32_t
nbmem_pc_ph_tag(uintptr_t ph)
{
	return ((const struct pool_item_header *)ph)->ph_tag;
}

static inline char *
nbmem_pc_ph_page(uintptr_t ph)
{
	return ((const struct pool_item_header *)ph)->ph_page;
}
#endif

static inline bool
pc_put_ok(struct pool_cache_impl *pci, void *obj)
{
	uintptr_t mask = pci->pc_phmask, ph;

	if (mask == 0)
		return obj != NULL;
	/* NULL fails the offset test before anything is read. */
	ph = (uintptr_t)obj & mask;
	return (uintptr_t)obj - ph >= pci->pc_phoff &&
	    (nbmem_pc_ph_tag(ph) ^ (uint32_t)ph) == pci->pc_phkey;
}

/*
 * The put fast path: the check above, then a push as for the get;
 * false when the put needs nbmem_pc_put_slow().
 */
static inline __attribute__((__always_inline__)) bool
pc_put_try_checked(struct pool_cache *pc, void *obj)
{
	struct pool_cache_impl *pci = pc_impl(pc);
	pool_cache_cpu_t *cc;

	if (pci->pc_pcpu != NULL)
		return nbmem_pc_pcpu_put(pci->pc_pcpu, pci->pc_pcpu_stride,
		    obj);
	cc = pcc_lookup_fast(pci->pc_id);
	if (__predict_true(cc != NULL && pcc_enter_fast(cc))) {
		pcg_t *g = cc->cc_current;
		if (__predict_true(g->pcg_avail < g->pcg_size)) {
			g->pcg_objects[g->pcg_avail] = obj;
			__atomic_signal_fence(__ATOMIC_SEQ_CST);
			g->pcg_avail++;
			PCC_BUMP(cc->cc_hits);
			pcc_exit(cc);
			return true;
		}
		pcc_exit(cc);
	}
	return false;
}

static inline __attribute__((__always_inline__)) bool
nbmem_pc_put_try(struct pool_cache *pc, void *obj)
{
	if (__predict_false(!pc_put_ok(pc_impl(pc), obj)))
		return false;
	return pc_put_try_checked(pc, obj);
}

/*
 * The same for a caller that has already found obj on a page of this
 * cache's pool by other means (the malloc library's page map, whose
 * entry for the page names the class): only the offset part of the
 * check is left, so the page header, a cache line of its own, is not
 * read.  (Headers off the page: mask 0, offset 0, nothing to test.)
 */
static inline __attribute__((__always_inline__)) bool
nbmem_pc_put_try_owned(struct pool_cache *pc, void *obj)
{
	struct pool_cache_impl *pci = pc_impl(pc);

	if (__predict_false(((uintptr_t)obj & ~pci->pc_phmask) <
	    pci->pc_phoff))
		return false;
	return pc_put_try_checked(pc, obj);
}

static inline __attribute__((__always_inline__)) void
nbmem_pc_put_fast(struct pool_cache *pc, void *obj)
{
	if (__predict_false(!nbmem_pc_put_try(pc, obj)))
		nbmem_pc_put_slow(pc, obj);
}

/* ---- defined in pool_cache_cpu.c: slots, threads, fork */

/* Once: the thread key and the membarrier registration. */
void	nbmem_pcc_init(void);
/* A fresh cache id (registry lock); give it back at destroy. */
unsigned int nbmem_pcc_id_alloc(const char *);
void	nbmem_pcc_id_free(unsigned int);
/* Create this thread's slot for pc; NULL when not possible now. */
pool_cache_cpu_t *nbmem_pcc_slot_create(struct pool_cache *);
/*
 * Take the groups of every slot of pc (other threads' included) and
 * give them to the depot; with `unregister', also drop the slots.
 */
void	nbmem_pcc_collect(struct pool_cache *, bool unregister);
void	nbmem_pcc_unstash(struct pool_cache *);
/* Does the calling thread's slot hold obj (pool_whatis)? */
bool	nbmem_pcc_holds(struct pool_cache *, const void *obj);
/* Sum the slots' counters, and the full groups they keep aside. */
void	nbmem_pcc_counters(struct pool_cache *, uint64_t *hits,
	    uint64_t *misses, uint64_t *pcmisses, uint64_t *contended,
	    uint64_t *nstash);
/* Add a cache to / remove it from the list fork walks. */
void	nbmem_pcc_cache_link(struct pool_cache *);
void	nbmem_pcc_cache_unlink(struct pool_cache *);

/* ---- defined in pool_cache.c, for pool_cache_cpu.c */

/* Is obj among the objects of group g (NULL: no)? */
bool	nbmem_pcg_holds(const pcg_t *g, const void *obj);
/* ... among those of the groups of list g (linked by pcg_next)? */
bool	nbmem_pcg_list_holds(const pcg_t *g, const void *obj);

/* The pool the cache's groups come from now (tests). */
struct pool *nbmem_pc_group_pool(struct pool_cache *);
/* Give a slot's group to the depot (full, partial or empty list). */
void	nbmem_pc_depot_give(struct pool_cache *, pcg_t *);
/* ... every group of a list kept aside, emptying it and its count. */
void	nbmem_pc_depot_give_aside(struct pool_cache *, pcg_t **list,
	    uint32_t *n);
/* Fold a dying slot's counters into the cache (pc_lock taken). */
void	nbmem_pc_counters_merge(struct pool_cache *, const pool_cache_cpu_t *);

/* ---- quantum caches: the vmem side is declared in internal.h */
/* The cache serving `size' (tests). */
pool_cache_t nbmem_vmem_qcache_cache(struct nbmem_qcache *, vmem_size_t);

#endif /* NBMEM_POOL_CACHE_IMPL_H */

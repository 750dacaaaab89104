/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * internal.h: cross-module private interfaces, grouped by the file that
 * defines them.  Nothing here is exported from the shared library.
 */
#ifndef NBMEM_INTERNAL_H
#define NBMEM_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nbmem/kmem.h>
#include <nbmem/nbmem.h>
#include <nbmem/vmem.h>

/* Marks the definition of a documented, exported symbol. */
#define	NBMEM_EXPORT	__attribute__((__visibility__("default")))
/*
 * An entry point whose fast path is a few dozen instructions: aligned
 * on a cache line, so that its timing does not move with the code
 * placed before it (the pool_cache pair measured 5.8 ns or 6.3 ns with
 * the same instructions, the function starting 16 or 48 bytes into a
 * line).
 */
#define	NBMEM_HOT	__attribute__((__aligned__(64)))

#define	__predict_true(x)	__builtin_expect(!!(x), 1)
#define	__predict_false(x)	__builtin_expect(!!(x), 0)
#define	__unused		__attribute__((__unused__))
#define	__noreturn		__attribute__((__noreturn__))
#define	__printflike(a, b)	__attribute__((__format__(__printf__, a, b)))

#define	CTASSERT(x)		_Static_assert((x), #x)

#ifndef NBMEM_CONFIG_SANITY
#define	NBMEM_CONFIG_SANITY	0
#endif
/* ThreadSanitizer build: gcc says __SANITIZE_THREAD__, clang a feature. */
#if defined(__SANITIZE_THREAD__)
#define	NBMEM_TSAN	1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define	NBMEM_TSAN	1
#endif
#endif
#ifndef NBMEM_TSAN
#define	NBMEM_TSAN	0
#endif

/* Whole-structure checks after every operation (a SANITY build). */
static const bool config_sanity = NBMEM_CONFIG_SANITY;

/* ---- defined in debug.c */

/*
 * Report a broken rule and abort: one line "nbmem: " + the formatted
 * text, then a backtrace.  Formats into a stack buffer; never allocates
 * and takes no allocator lock.  Understands %s %c %d %u %x %p %zu %zx
 * %lu %lx %ld and %%.
 */
void	nbmem_panic(const char *, ...) __printflike(1, 2) __noreturn;
/* Format into buf (always terminated); returns the length. */
size_t	nbmem_vsnprintf(char *, size_t, const char *, va_list);
size_t	nbmem_snprintf(char *, size_t, const char *, ...) __printflike(3, 4);
/* A warning line on stderr (no abort). */
void	nbmem_warn(const char *, ...) __printflike(1, 2);

/* VERIFY: always on, cheap; the message names the object. */
#define	VERIFY(cond, ...) do {						\
	if (__predict_false(!(cond)))					\
		nbmem_panic(__VA_ARGS__);				\
} while (0)

/* ---- defined in malloc/malloc.c, in the malloc library only */

/*
 * Weak: its address is NULL in libnbmem.  The malloc library loads the
 * unwinder only on request (debug.c), gives the C library's own memory
 * back before a leak report (debug_track.c) and starts its threads late
 * (reclaim.h).
 */
extern const bool nbmem_malloc_library
    __attribute__((__weak__, __visibility__("hidden")));
#define	NBMEM_MALLOC_LIBRARY()	(&nbmem_malloc_library != NULL)

/* ---- defined in options.c */

/* Parse "123", "64K", "16M", "2G", "1T"; false on bad input. */
bool	nbmem_options_parse_size(const char *, size_t *);
/* NBMEM_SLEEP_TIMEOUT in ns, 0 when unset (wait forever). */
uint64_t nbmem_options_sleep_timeout(void);
/* NBMEM_MLOCK=1 */
bool	nbmem_options_mlock(void);
/* NBMEM_DECOMMIT=1: kmem arena pages are decommitted when freed. */
bool	nbmem_options_decommit(void);

/* ---- defined in pool.c, for pool_cache.c */

/* The first item out of a pool (NULL: none), for diagnostics. */
struct pool;
void	*nbmem_pool_first_out(struct pool *);

/* Up to n more items from pages the pool holds, after a pool_get(). */
struct pool;
struct pool_cache;
unsigned int nbmem_pool_get_more(struct pool *, void **, unsigned int);
/*
 * fn(pool, page, offset of its first item) for every page the pool
 * makes ready, before any of its items is handed out (pool lock held;
 * fn must not call into the pool).  Set once, before the first get.
 */
void	nbmem_pool_prime_hook_set(struct pool *,
	    void (*)(struct pool *, char *, size_t));
/*
 * Let the decay passes (reclaim.c) give back what the pool and its cache
 * leave idle: the library's own pools only.  The program's pools and
 * caches keep NetBSD's behaviour: their empty pages and cached objects
 * stay until a reclaim (pool_reclaim, pool_drain, nbmem_reclaim, memory
 * pressure), and no destructor runs behind the program's back.
 */
void	nbmem_pool_decay_enable(struct pool *);
/*
 * A cache without constructor refills its slots in runs and keeps no
 * per-CPU stash (pool_cache.c).
 */
void	nbmem_pool_cache_refill_runs(struct pool_cache *);
/* kmem's caches: a miss blocks signals once, not per lock. */
void	nbmem_pool_cache_spl_batch(struct pool_cache *);
/*
 * The shared per-CPU area: between open and close, the caches this
 * thread makes put their CPU slots in one area of cpu_bytes a CPU
 * (while they fit), at the same offset in each CPU's block; area gives
 * its base (NULL: none, as in the per-thread mode) and the block size.
 */
void	nbmem_pc_pcpu_area_open(size_t cpu_bytes);
void	nbmem_pc_pcpu_area_close(void);
void	*nbmem_pc_pcpu_area(size_t *stridep);
/* intr.c: sections with signals open (lock.h, nbmem_sig_lazy). */
void	nbmem_sig_handler_installed(void);
void	nbmem_sig_fork_child(void);
/* Every kmem class cache does (kmem.c; the malloc library asks). */
void	nbmem_kmem_refill_runs(void);

/* ---- defined in pool_cache_cpu.c, for intr.c */

/* The slot table the pool_cache fast paths use (pool_cache_impl.h). */
struct pcc_table;
extern __thread struct pcc_table *nbmem_pcc_fast
    __attribute__((__tls_model__("initial-exec")));
/* Recompute nbmem_pcc_fast after a change of table or of intr depth. */
void	nbmem_pcc_fast_sync(void);

/* ---- defined in intr.c */

/* Depth of nbmem_intr_enter() in this thread (initial-exec: no call). */
extern __thread unsigned int nbmem_intr_depth
    __attribute__((__tls_model__("initial-exec")));
/* True when the calling thread is inside nbmem_intr_enter/exit. */
static inline bool
nbmem_intr_p(void)
{
	return __predict_false(nbmem_intr_depth != 0);
}
/* Diagnose a sleeping call or an IPL_NONE object from a handler. */
void	nbmem_intr_check_sleep(const char *subsys, const char *obj,
	    const char *call);
void	nbmem_intr_check_ipl(int ipl, const char *subsys, const char *obj,
	    const char *call);

/* ---- defined in vmem_bt.c: boundary tag supply */
struct vmem_btag;
/* Take up to n tags from the global supply, chained through bt_fnext. */
struct vmem_btag *nbmem_bt_get(unsigned int n, unsigned int *got);
/* Give a chain of n tags back. */
void	nbmem_bt_put(struct vmem_btag *, unsigned int n);

/* ---- defined in vmem.c */

/* Record/read a small per-allocation cookie on a busy segment. */
void	nbmem_vmem_cookie_set(vmem_t *, vmem_addr_t, unsigned int);
/*
 * Free like vmem_xfree and return the cookie the segment carried; a
 * misuse is reported as the caller's `call'.
 */
unsigned int nbmem_vmem_xfree_cookie(vmem_t *, vmem_addr_t, vmem_size_t,
	    const char *);
/*
 * Find the busy segment containing addr: true with its start, size and
 * cookie, false when addr lies in no busy segment.  O(segments): for
 * slow paths and diagnostics.
 */
bool	nbmem_vmem_lookup(vmem_t *, vmem_addr_t, vmem_addr_t *,
	    vmem_size_t *, unsigned int *);
/* Split a busy segment in two at addr + at (0, or ENOMEM: no tag). */
int	nbmem_vmem_split(vmem_t *, vmem_addr_t addr, vmem_size_t size,
	    vmem_size_t at);
/* Join two neighbouring busy segments (0, or EINVAL: they are not). */
int	nbmem_vmem_join(vmem_t *, vmem_addr_t addr, vmem_size_t size,
	    vmem_size_t size2);
/* Readies [addr, addr + size) under the arena's lock before a growth. */
typedef int nbmem_vmem_ready_t(void *arg, vmem_addr_t addr,
	    vmem_size_t size);
/* Grow a busy segment into the free space after it (0, ENOMEM, ready's). */
int	nbmem_vmem_extend(vmem_t *, vmem_addr_t addr, vmem_size_t size,
	    vmem_size_t extra, nbmem_vmem_ready_t *ready, void *arg);
/* The same, past the end of its span, imported from src. */
int	nbmem_vmem_extend_span(vmem_t *, vmem_addr_t addr, vmem_size_t size,
	    vmem_size_t extra, vmem_t *src, nbmem_vmem_ready_t *ready,
	    void *arg);
const char *nbmem_vmem_name(const vmem_t *);
int	nbmem_vmem_ipl(const vmem_t *);
vmem_size_t nbmem_vmem_quantum(const vmem_t *);
/* SANITY: check every invariant of the arena, panic on the first broken. */
void	nbmem_vmem_check(vmem_t *);
/* Busy segments now (tests). */
size_t	nbmem_vmem_nbusy(vmem_t *);
/* Buckets of the allocated-segment hash now (tests). */
size_t	nbmem_vmem_hashsize(vmem_t *);
/* Statistics of up to n arenas (struct nbstat_vmem, stats_seg.h);
 * returns how many arenas there are.  Takes no lock of the caller's. */
struct nbstat_vmem;
size_t	nbmem_vmem_stats(struct nbstat_vmem *, size_t n);

/* ---- defined in pool.c */
struct pool;
struct pool_cache;
struct pool_sysctl;
/* Fill the pool-layer fields of a record (the pool's lock is taken). */
void	nbmem_pool_fill_sysctl(struct pool *, struct pool_sysctl *);

/* ---- defined in pool_cache.c */
/*
 * Fill the cache fields (pr_cache_*) of a pool's record: per-CPU and
 * per-thread counters merged on read.  Called by nbmem_pool_sysctl().
 */
void	nbmem_pool_cache_fill_sysctl(struct pool_cache *, struct pool_sysctl *);
/* Where a pool cache keeps an object (pool_whatis; locks only tried). */
#define	PC_WHERE_NONE	0
#define	PC_WHERE_CACHED	1	/* this thread's slot or the depot */
#define	PC_WHERE_CPU	2	/* a CPU's slot, *cpup set */
int	nbmem_pool_cache_whatis(struct pool_cache *, const void *,
	    unsigned int *cpup);
/*
 * Print the depot's full groups through pr, one at a time, each copied
 * under pc_lock and printed without it (pool_printit 'c').
 */
void	nbmem_pool_cache_print_groups(struct pool_cache *,
	    void (*pr)(const char *, ...));
/* Invalidate the cache attached to a pool (pool_reclaim, pool_drain). */
void	nbmem_pool_cache_invalidate(struct pool_cache *);
/*
 * About how many objects the cache holds: its depot (pc_lock taken) and
 * its CPUs' slots and stashes, read as they are; the groups of
 * per-thread slots are not counted (at most two groups a thread).  For
 * statistics (mallinfo2).
 */
size_t	nbmem_pool_cache_nheld(struct pool_cache *);

/*
 * vmem quantum caches: pool caches of the sizes quantum .. qcache_max,
 * whose objects are addresses of the arena.  Built by vmem_create when
 * qcache_max > 0; sizes passed in are already rounded to the quantum.
 */
struct nbmem_qcache;
struct nbmem_qcache *nbmem_vmem_qcache_create(vmem_t *, const char *,
	    vmem_size_t quantum, vmem_size_t qcache_max, int ipl);
void	nbmem_vmem_qcache_destroy(struct nbmem_qcache *);
int	nbmem_vmem_qcache_alloc(struct nbmem_qcache *, vmem_size_t, vm_flag_t,
	    vmem_addr_t *);
void	nbmem_vmem_qcache_free(struct nbmem_qcache *, vmem_addr_t,
	    vmem_size_t);

/* ---- defined in fork.c */

#define	NBMEM_FORK_PREPARE	0	/* take every lock */
#define	NBMEM_FORK_PARENT	1	/* release them */
#define	NBMEM_FORK_CHILD	2	/* release them, forget other threads */

/* The library's lock order, outermost first (fork takes them so). */
#define	NBMEM_FORK_ORDER_STATS		2	/* stats.c stats_lock */
#define	NBMEM_FORK_ORDER_RECLAIM	5	/* budget.c reclaim_lock */
#define	NBMEM_FORK_ORDER_MALLOC		7	/* malloc.c large cache */
#define	NBMEM_FORK_ORDER_CACHE		10	/* pool_cache.c */
#define	NBMEM_FORK_ORDER_POOL		20	/* pool.c */
#define	NBMEM_FORK_ORDER_VMEM		40	/* vmem list, then arenas */
#define	NBMEM_FORK_ORDER_BT		50	/* vmem_bt.c tag supply */
#define	NBMEM_FORK_ORDER_UVM		55	/* uvm_km.c registry */
#define	NBMEM_FORK_ORDER_BUDGET		60	/* budget.c budget_lock */
#define	NBMEM_FORK_ORDER_KMEMDBG	65	/* debug_kmem.c quarantine, guard */
#define	NBMEM_FORK_ORDER_TRACK		70	/* debug_track.c table */

/* Register a fork hook; call from a library constructor. */
void	nbmem_fork_hook_add(int order, void (*fn)(int phase));

/* ---- defined in budget.c: the memory budget and reclaim */

/* Charge `bytes' against the budget.  `wait': run reclaim and block
 * until it fits; `canfail': with wait, give up after one reclaim pass.
 * Returns true when charged. */
bool	nbmem_budget_charge(size_t bytes, bool wait, bool canfail,
	    const char *what);
void	nbmem_budget_uncharge(size_t bytes);
/* Reclaim passes run (urgent and decay) and bytes released meanwhile. */
void	nbmem_reclaim_stats(uint64_t *npass, uint64_t *bytes);
void	nbmem_reclaim_kick(void);

/* ---- defined in pool_alloc.c */
struct pool_allocator;
/* Whether `pa' hands out pages of the page layer (the standard ones). */
bool	nbmem_pool_allocator_pages_p(const struct pool_allocator *pa);

/* ---- defined in stats.c */
/* An image of the process's statistics segment in a private mapping
 * (not freed: tests); false when no memory could be mapped. */
bool	nbmem_stats_snapshot(void **bufp, size_t *lenp);

/* ---- defined in debug_mode.c: the run-time debug modes (NBMEM_DEBUG) */

#define	NBMEM_DEBUG_SIZE	0x01	/* kmem: size footer, wrong size */
#define	NBMEM_DEBUG_REDZONE	0x02	/* bytes past the object checked */
#define	NBMEM_DEBUG_POISON	0x04	/* freed memory filled, verified */
#define	NBMEM_DEBUG_GUARD	0x08	/* kmem: own pages, guard page */
#define	NBMEM_DEBUG_AUDIT	0x10	/* the allocating stack kept */
#define	NBMEM_DEBUG_LEAKS	0x20	/* live objects reported at exit */
#define	NBMEM_DEBUG_MODES	0x3f	/* what NBMEM_DEBUG=all selects */
#define	NBMEM_DEBUG_MEMCHECK	0x100	/* running under Valgrind memcheck */
#define	NBMEM_DEBUG_ASAN	0x200	/* built with AddressSanitizer */

/* Fill bytes: freed (poison), handed out (fresh), redzones, size footer. */
#define	NBMEM_DEBUG_FREE_BYTE		0xdf
#define	NBMEM_DEBUG_FRESH_BYTE		0xa5
#define	NBMEM_DEBUG_REDZONE_BYTE	0xbb
#define	NBMEM_DEBUG_SIZE_FREED_BYTE	0xff

/* The modes in force; fixed before the first pool is created. */
extern unsigned int nbmem_debug_flags;
/* Read NBMEM_DEBUG once (a constructor calls it; idempotent). */
void	nbmem_debug_init(void);
/*
 * Parse a mode list ("size,poison", "all", ""); unknown words get one
 * warning line each when `warn', and are ignored.  Never allocates.
 */
unsigned int nbmem_debug_parse(const char *, bool warn);
/* A new pool cache must bypass its CPU layer (every get/put is slow). */
static inline bool
nbmem_debug_bypass_p(void)
{
	return __predict_false(nbmem_debug_flags != 0);
}

/* ---- defined in debug_track.c: live objects (audit, leaks, frees) */

#define	NBMEM_TRACK_NOLEAK	0x1	/* not reported as a leak */
#define	NBMEM_TRACK_KMEM	0x2	/* handed out by kmem */
#define	NBMEM_TRACK_GUARD	0x4	/* kmem: on guard pages */
/* kmem_free has had it; its cache has not yet (kmem's quarantine). */
#define	NBMEM_TRACK_KMFREED	0x8
/* The library's own (nbmem_track_lib): not a leak of the program. */
#define	NBMEM_TRACK_LIB		0x10

/*
 * While on, what this thread allocates is the library's own: the C
 * library's memory for a thread the library starts (its TLS), which
 * lives as long as the thread, is kept out of the leak report; so is
 * the block an over-aligned malloc'd object sits in.  Returns what it
 * was before.
 */
bool	nbmem_track_lib(bool on);

/*
 * Record `p' as handed out by `owner' (kind "pool", "pool_cache"...),
 * whose interrupt priority level is `ipl' (which table keeps it).
 */
void	nbmem_track_alloc(void *p, const void *owner, int ipl,
	    const char *kind, const char *name, size_t size,
	    unsigned int flags);
/*
 * `p' comes back to `owner' through `call': panics with the taxonomy
 * (double free, foreign pointer, wrong cache) unless it is live and
 * owned by `owner'; returns its recorded size.
 */
size_t	nbmem_track_free(void *p, const void *owner, int ipl,
	    const char *kind, const char *name, const char *call);
/*
 * kmem's layer over a record: the requested size, NBMEM_TRACK_KMEM.
 * Returns the size the cache recorded, or 0 when p came from no cache
 * (the large path, guard pages): a record owned by kmem is made then.
 */
size_t	nbmem_track_kmem_alloc(void *p, size_t size, unsigned int flags);
/*
 * kmem_free(p, size): panics unless p is a live kmem object of that
 * size; clears the kmem mark.  Returns the cache's recorded size (the
 * record stays live for the cache's own put, marked NBMEM_TRACK_KMFREED
 * meanwhile: a second kmem_free is a double free, and it is no leak),
 * or 0 for an object of no cache, whose record is freed; *flagsp gets
 * the record's flags.
 */
size_t	nbmem_track_kmem_free(void *p, size_t size, const char *call,
	    unsigned int *flagsp);
/*
 * The record of p, left as it is: for a live kmem object the size
 * kmem was asked (*ownerp NULL), for another live object its size and
 * *ownerp its owner.  Panics naming `kind' and `call' when p is not
 * live: foreign pointer or double free.
 */
size_t	nbmem_track_lookup(void *p, const char *kind, const char *call,
	    const void **ownerp);
/* Drop every record of an owner (at `ipl') that is going away. */
void	nbmem_track_forget(const void *owner, int ipl);
/*
 * The live kmem object on guard pages whose guard page is `page' (ps:
 * the page size): its address and size asked.  For a fault handler: it
 * takes no lock, so the answer may be stale.
 */
bool	nbmem_track_guard_find(uintptr_t page, size_t ps, void **pp,
	    size_t *sizep);
/* Whether objects are recorded (any NBMEM_DEBUG mode, memcheck). */
static inline bool
nbmem_track_p(void)
{
	return (nbmem_debug_flags &
	    (NBMEM_DEBUG_MODES | NBMEM_DEBUG_MEMCHECK)) != 0;
}

/* ---- defined in debug_pool.c: pool and pool_cache hooks */

#define	PDBG_ON		0x01	/* hooks run for this pool */
#define	PDBG_MEM	0x02	/* its items are memory to mark and fill */
#define	PDBG_POISON	0x04	/* free items filled and verified */
#define	PDBG_REDZONE	0x08	/* bytes past pr_reqsize checked */
#define	PDBG_TRACK	0x10	/* items recorded (pools without a cache) */

/* At pool_init: the pool's pr_debug bits; may grow *sizep (redzone). */
uint32_t nbmem_pool_debug_init(struct pool *, size_t *sizep,
	    size_t pagesz, const struct pool_allocator *palloc);
/* The item size diagnostics name: pr_size less a redzone's growth. */
size_t	nbmem_pool_objsize(struct pool *);
/* A fresh page's n items from `items'; the pool lock is held. */
void	nbmem_pool_debug_page(struct pool *, char *items, unsigned int n);
/* pool_get handed out v (no lock held). */
void	nbmem_pool_debug_get(struct pool *, void *v);
/* pool_put took v back, after its own checks (lock held). */
void	nbmem_pool_debug_put(struct pool *, void *v);
/* A page goes back to its allocator. */
void	nbmem_pool_debug_release(struct pool *, void *page);
/* pool_cache: an object handed out (`fresh': straight from the pool). */
void	nbmem_pc_debug_get(struct pool_cache *, void *, bool fresh);
/* pool_cache: an object given back, before it is cached. */
void	nbmem_pc_debug_put(struct pool_cache *, void *);
/* pool_cache: a cached object leaves for the destructor and the pool. */
void	nbmem_pc_debug_uncache(struct pool_cache *, void *);
/* pool_cache_destruct_object: a live object leaves the cache. */
void	nbmem_pc_debug_destruct(struct pool_cache *, void *);

/* ---- defined in stats.c */
/* An image of the process's statistics segment in a private mapping
 * (not freed: tests); false when no memory could be mapped. */
bool	nbmem_stats_snapshot(void **bufp, size_t *lenp);

/* ---- defined in uvm_km.c */
void	nbmem_uvm_init(void);

/* ---- defined in kmem.c */

/*
 * The size classes and the large path with no checks and no debug
 * processing: allocsz > 0 bytes with exactly one of KM_SLEEP and
 * KM_NOSLEEP; free with the same allocsz.  Async-signal-safe with
 * KM_NOSLEEP, as kmem_intr_alloc and kmem_intr_free.
 */
/* kmem's large path: allocations, frees, bytes (pages) in use. */
void	nbmem_kmem_large_stats(uint64_t *, uint64_t *, uint64_t *);
/*
 * About the bytes of the size classes' objects handed out and not
 * given back (class sizes): what the pools have out, less what the
 * caches hold (nbmem_pool_cache_nheld).
 */
size_t	nbmem_kmem_live_bytes(void);
void	*nbmem_kmem_raw_alloc(size_t allocsz, km_flag_t flags);
void	nbmem_kmem_raw_free(void *p, size_t allocsz);
/* For diagnostics: pp is the pool of one of kmem's own classes. */
bool	nbmem_kmem_pool_p(const struct pool *);
/*
 * What a class's put check adds to its foreign pointer message (only
 * kmem_free and kmem_intr_free put unchecked pointers into them).
 */
#define	NBMEM_KMEM_HINT	"; given to kmem_free with a size of this " \
			"class: wrong size, or foreign pointer"
/* For diagnostics: the cache serving allocsz, or "kva" (large path). */
const char *nbmem_kmem_raw_name(size_t allocsz);
/* The bytes the raw object of allocsz has: its class, or whole pages. */
size_t	nbmem_kmem_raw_usable(size_t allocsz);
/*
 * Called with (page, page size, class size, offset of the first object)
 * when a size class has made a page ready, before any object of it is
 * handed out, and with (page, page size, 0, 0) before it gives one
 * back; NULL (the default) for none.  Set once, before kmem_init().
 * The objects of the page are at the offset and every class size after
 * it, as many as fit.
 */
extern void (*nbmem_kmem_page_hook)(void *, size_t, size_t, size_t);
/* The pool cache of the class of a size in [1, 64 KiB] (the malloc
 * family's fast paths run the pool cache's inline fast path on it). */
struct pool_cache;
struct pool_cache *nbmem_kmem_cache(size_t);
/*
 * The class sizes by index from 0: kmem's, smallest first, then the
 * malloc classes; 0 past the last.
 */
size_t	nbmem_kmem_class_size(unsigned int);
/*
 * The malloc library's classes: asked for before kmem_init(), kmem makes
 * classes between its own (pool caches "malloc-NNNNN") that only
 * nbmem_kmem_malloc_cache() hands out; kmem_alloc keeps NetBSD's classes
 * and their alignments.  Returns whether they are (or will be) made:
 * false once kmem was set up without them.
 */
bool	nbmem_kmem_malloc_classes(void);
/* The cache of the smallest class made that holds a size in [1, 64 KiB]. */
struct pool_cache *nbmem_kmem_malloc_cache(size_t);

/* ---- defined in debug_kmem.c: the run-time debug modes of kmem */

/*
 * Non-zero when a debug mode of kmem is on; every kmem entry point then
 * calls the two functions below (after its own argument checks).
 */
extern unsigned int nbmem_debug_kmem;
void	*nbmem_kmem_debug_alloc(size_t size, km_flag_t flags, bool zero);
void	nbmem_kmem_debug_free(void *p, size_t size);
/*
 * The call a debug-mode kmem free names in its diagnostics when not
 * kmem_free: the malloc library's free and realloc set it (this
 * thread, around their kmem_intr_free).
 */
extern __thread const char *nbmem_kmem_debug_call
    __attribute__((__tls_model__("initial-exec")));
/*
 * An urgent reclaim pass (budget.c): the freed objects the quarantine
 * and the guard FIFO hold go back, checked.  No lock may be held.
 */
void	nbmem_kmem_debug_reclaim(void);

#endif /* NBMEM_INTERNAL_H */

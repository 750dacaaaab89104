/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * malloc.c: the malloc family over kmem(3), the only code of nbmem that
 * defines malloc, free and their relatives (libnbmem_malloc.so).
 *
 * 1 Overview
 *   A request of n bytes up to the largest kmem class (64 KiB) is a
 *   kmem object of the smallest class that holds n, among kmem's
 *   classes and the library's own between them (kmem.c: four to a power
 *   of two; requests for 32 or 64 bytes of alignment take kmem's,
 *   aligned on 64 bytes from 64); above it, whole pages of
 *   kmem_va_arena (uvm_km_kmem_alloc), as kmem's own large path.  free
 *   is not told the size: a page map gives it.  kmem reports every page
 *   a size class takes or gives back (nbmem_kmem_page_hook), and the
 *   map records the class size against the page; a large allocation
 *   records its length against the page of the pointer handed out.  So
 *   free is a map lookup and a put to the class's pool cache: no object
 *   carries a header.  The fast paths of malloc and free up to 4 KiB go
 *   straight to the class's slot on this CPU (its offset in the shared
 *   per-CPU area from malloc_slot_off by (size - 1) >> 3, or from the
 *   map entry) or, with per-thread slots, run the pool cache's inline
 *   fast path (pool_cache_impl.h) on the cache of the class, found in
 *   malloc_fast by (size - 1) >> 3, as kmem's own fast paths do; sizes
 *   of 4 to 64 KiB find theirs in malloc_big by (size - 1) >> 10.  The
 *   slow paths take and give back objects through the class's pool
 *   cache (malloc_get, class_put), over-aligned ones through
 *   kmem_intr_alloc/free.
 *
 *   Freed large blocks go to the large cache, a short list of committed
 *   ranges kept for the next large requests: a range is reused whole,
 *   or its front is cut off (nbmem_vmem_split) and the rest stays; a
 *   freed block joins a cached neighbour (nbmem_vmem_join), which
 *   mends a range cut before.  Its pages were written, so a hit costs
 *   no system call and no page fault, where a fresh block costs a
 *   commit, a decommit and a fault per page.  The cache holds at most
 *   LC_MIN (64 MiB) plus half the bytes of live large blocks, and no
 *   more than LC_FLOOR (2 MiB) plus the bytes of about the last 64
 *   large requests (lc_cap), in up to LC_NSLOT ranges, oldest evicted
 *   first; beyond LC_FLOOR, a range that no request took for 5 ms and
 *   4 large requests goes back at the next request
 *   (lc_evict_idle_locked).  It makes room before a miss commits fresh
 *   pages (so the cache and the new block are not both committed in
 *   between); a miss then takes the pages of up to LC_FILL_MAX cached
 *   ranges, which the kernel moves into the new block (lc_fill): no
 *   page fault where they land, and the cache shrinks by what the block
 *   adds.
 *   bench/macro/large.c, buffers of 64 KiB to 8 MiB replaced at random:
 *   2.5x glibc's time with 8 MiB plus an eighth in 32 slots (a fresh
 *   block, and its page faults, for most requests), 0.35x with 32 MiB
 *   plus half, 0.10x with this bound, at 1.43x glibc's peak resident
 *   memory (tcmalloc: 0.09x and 1.18x; it gives nothing back); moving
 *   cached pages into misses took the time to 0.11x at 1.35x the memory
 *   (tcmalloc 0.10x and 1.18x in the same run); moving pages that were
 *   moved before again, while the process has room for more mappings
 *   (lc_maps_room), took the memory to 0.95x (71 MiB to 50, glibc 53)
 *   in the same time.  Reclaim passes empty it (nbmem_reclaim,
 *   malloc_trim, memory pressure), decay passes give back ranges cached
 *   for the decay time (reclaim.c).  realloc resizes a large block in
 *   place: it shrinks by cutting its tail into the cache and grows into
 *   the cached range or the free address space that follows it.
 *
 * 2 Data structures
 *   The page map is a two-level radix tree over 47-bit addresses in
 *   units of 4 KiB (PM_SHIFT; finer than or equal to the page on every
 *   platform nbmem runs on): pm_root[va >> 30] points to a leaf of 2^18
 *   64-bit entries covering 1 GiB.  The root is 1 MiB of .bss, of which
 *   only the pages that are written become resident (one page of it
 *   covers 512 GiB of address space); a leaf (2 MiB, of which a page
 *   covers 2 MiB of address space and becomes resident when written) is
 *   mapped from the OS when its first page is recorded, installed with
 *   a compare-and-swap and never freed.  The first leaf made is the hot
 *   one (pm_hot): free reaches its entries without the root, so the
 *   entry is one load from the pointer, not two; a heap of up to a few
 *   hundred MiB usually lies in one such window.  An entry is 0
 *   (nothing of ours starts there), a page of a class, or a large
 *   allocation: bit 0 set, bits 1..26 the
 *   pages from the start of the mapping to the pointer handed out
 *   (over-aligned requests), bits 27..31 how many mappings of its own
 *   its moved pages make at most (PM_MAPS, 0 when none was moved in),
 *   bits 32..63 the length in map units.  A class entry (bit 0 clear)
 *   holds kmem's index of the class (bits 1..6), where the class's CPU
 *   slots are in the shared per-CPU area (bits 7..16: a multiple of 128
 *   below 128 KiB; pool_cache.c: kmem's classes keep their slots at one
 *   offset of every CPU's block), and where objects start in its unit:
 *   the offset of the first (bits 17..29), the distance from it to the
 *   last (30..41), and the reciprocal of the size (42..63), so that
 *   free tells an object's start from a pointer inside it with one
 *   multiplication and no page header read (pm_obj_start).
 *
 *   The large cache: lc_tab[], up to LC_NSLOT ranges, oldest first,
 *   each a busy segment of kmem_va_arena with the time of its free, the
 *   count of large requests then (le_seq, from lc_seq) and the mappings
 *   its moved pages make (le_maps, as PM_MAPS).
 *
 * 3 Invariants
 *   - an entry is set while its page belongs to a class or to a live
 *     large allocation, and cleared before the page is given back;
 *   - every pointer handed out is 16-byte aligned unless the request
 *     was of at most 8 bytes (every class from 16 bytes is aligned on
 *     16; kmem's from 64 on 64, page multiples on the page);
 *   - with an NBMEM_DEBUG mode (fixed at start-up) no hook is set and
 *     the map stays empty: every call takes the debug path, which asks
 *     kmem for the exact size and finds it again in the debug record;
 *     malloc_fast, malloc_big and malloc_slot_off stay empty too, so
 *     the fast paths always decline;
 *   - a cached range is committed, charged to the budget and has no
 *     map entry; lc_bytes <= the cap at the time of the last insertion.
 *
 * 4 Locking, start-up, threads and fork
 *   The map needs no lock (leaves are installed once; an entry is
 *   written by the owner of its page).  The large cache has one lock
 *   at IPL_NONE (no signal-mask system calls), held for a scan of at
 *   most LC_NSLOT slots and a vmem split or join, never across a call
 *   to the page layer: ranges evicted go back after it is dropped.  A
 *   signal handler that interrupts its holder (lc_held) bypasses the
 *   cache.  Fork takes it before the library's locks
 *   (NBMEM_FORK_ORDER_MALLOC); reclaim passes take it inside theirs.
 *   The first call initialises kmem; calls made by the initialising
 *   thread meanwhile (none today, but a library constructor may be run
 *   by the loader) are served by a bootstrap buffer and never freed.
 *   Caches of threads that exit, and fork, are pool_cache's and the
 *   library's fork handlers' work.
 *
 * 5 Debug features
 *   free of a pointer the map does not know: "foreign pointer"; of a
 *   large allocation already freed: the same (its entry is gone); of a
 *   pointer inside a block, small or large: the same, naming the block
 *   (free, realloc and malloc_usable_size check it before the block is
 *   touched); of a small one twice: undetected by default, a "double free" with
 *   NBMEM_DEBUG (any mode), which also brings kmem's redzones, poison,
 *   guard pages, audit and the leak report to every malloc'd object.
 *
 * 6 Differences from glibc
 *   No arenas, no mallopt tunables (accepted and ignored); a large
 *   block grows in place into a cached range or free address space of
 *   kmem_va_arena (glibc's mmapped chunks into any free address space,
 *   through mremap); one of 256 KiB or more that cannot moves its pages
 *   to a new range (mremap, as glibc's mmapped chunks) instead of
 *   copying them; memory is given back by kmem's pools and the page
 *   layer, the large cache's bound and decay, and malloc_trim.
 *
 * 7 References
 *   NetBSD kmem(9); J. Bonwick and J. Adams, "Magazines and Vmem",
 *   USENIX 2001 (a general-purpose allocator over object caches);
 *   illumos libumem's malloc layer.
 */
#define	_GNU_SOURCE		/* RTLD_NEXT, SIG_HOLD */
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nbmem/kmem.h>
#include <nbmem/nbmem.h>
#include <nbmem/uvm_km.h>

#include "internal.h"
#include "lock.h"
#include "os/os.h"
#include "pool_cache_impl.h"
#include "reclaim.h"
#include "uvm_km_impl.h"

#define	MALLOC_EXPORT	__attribute__((__visibility__("default")))

#define	PM_SHIFT	12		/* map unit: 4 KiB */
#define	PM_UNIT		((size_t)1 << PM_SHIFT)
#define	PM_LEAF_SHIFT	30		/* a leaf covers 1 GiB */
#define	PM_VA_BITS	47		/* user addresses on x86-64, aarch64 */
#define	PM_NLEAF	((size_t)1 << (PM_LEAF_SHIFT - PM_SHIFT))
#define	PM_NROOT	((size_t)1 << (PM_VA_BITS - PM_LEAF_SHIFT))
#define	PM_LARGE	((uint64_t)1)
/* Bits 1..26: pages before the pointer; bits 27..31: PM_MAPS. */
#define	PM_OFF(e)	(((e) >> 1) & 0x3ffffffu)
#define	PM_OFF_MAX	0x3ffffffu
/*
 * A large block some of whose pages were moved in (lc_fill, large_move,
 * or joined with such a range) holds mappings of its own: PM_MAPS says
 * how many at most (0: none, its pages are the arena's mapping's), up
 * to MAPS_SAT; lc_fill moves such a block's pages again only while the
 * process has room for more mappings (lc_maps_room), and one of several
 * mappings not at all on kernels that refuse to move it.
 */
#define	PM_MAPS_SHIFT	27
#define	PM_MAPS(e)	((unsigned int)((e) >> PM_MAPS_SHIFT) & MAPS_SAT)
#define	PM_MAPSV(n)	((uint64_t)(n) << PM_MAPS_SHIFT)
#define	MAPS_SAT	31u
/*
 * A class entry: bits 1..6 kmem's index of the class (PM_CLASS; its
 * size in pm_class_size), 7..16 where the class's CPU slots are in a
 * CPU's block of the shared per-CPU area (PM_SLOT_MASK: the offset in
 * bytes from pm_hot.ph_slot_base, a multiple of 128 below 128 KiB; 0
 * where there is none: per-thread mode, classes above 4 KiB); 17..29
 * the offset in the
 * unit of the first object that starts in it (PM_NOSTART: none does);
 * 30..41 from that one to the last one; 42..63 c = ceil(2^24 / size).
 * An offset n < 4 KiB is a multiple of the size exactly when the low
 * 24 bits of n * c are below c: one multiplication, no division (D.
 * Lemire, O. Kaser, N. Kurz, "Faster remainder by direct computation",
 * 2019: for N-bit n and a divisor of at most L bits, 2^F with F >= N + L
 * is enough; here N = L = 12 for every size that can start twice in a
 * unit, and bigger sizes start at most once, at n = 0).  Checked for
 * every multiple of 8 up to 64 KiB and every n below 4 KiB.
 */
#define	PM_CLASS(e)	((unsigned int)((e) >> 1) & 0x3fu)
#define	PM_CLASSV(c)	((uint64_t)(c) << 1)
#define	PM_SIZE(e)	(pm_class_size[PM_CLASS(e)])
#define	PM_SLOT_MASK	((uint64_t)0x1ff80)
#define	PM_SLOT_MAX	((size_t)PM_SLOT_MASK)
#define	PM_FIRST_SHIFT	17
#define	PM_FIRST(e)	(((e) >> PM_FIRST_SHIFT) & 0x1fffu)
#define	PM_NOSTART	((uint64_t)0x1fff)	/* above any offset */
#define	PM_SPAN_SHIFT	30
#define	PM_SPAN(e)	(((e) >> PM_SPAN_SHIFT) & 0xfffu)
#define	PM_RECIP_POS	42
#define	PM_DIV_BITS	24
#define	PM_DIV_MASK	(((uint64_t)1 << PM_DIV_BITS) - 1)
#define	PM_RECIP(e)	((e) >> PM_RECIP_POS)

#define	SMALL_MAX	65536u		/* kmem's largest class */
#define	PAGE_CLASS	4096u		/* classes from here: page-aligned */
#define	MALLOC_ALIGN	16u		/* max_align_t */
#define	MALLOC_NATURAL	8u		/* malloc: 16 from 16 bytes up */
#define	BOOT_SIZE	(64u << 10)	/* the bootstrap buffer */
#define	FAST_SHIFT	3		/* malloc_fast: one entry per 8 bytes */
/* realloc grows a small block by at least 1/REALLOC_STEP of it. */
#define	REALLOC_STEP	4u
#define	FAST_N		(PAGE_CLASS >> FAST_SHIFT)

/*
 * The large cache (1): slots, bytes always allowed, share of live; what
 * recent requests justify: a floor plus the bytes of about the last
 * 2^LC_DEMAND_SHIFT large requests.
 */
#define	LC_NSLOT	64
#define	LC_MIN		((size_t)64 << 20)
#define	LC_LIVE_SHIFT	1		/* plus half the live large bytes */
#define	LC_FLOOR	((size_t)2 << 20)
#define	LC_DEMAND_SHIFT	6
#define	LC_SPLIT_MIN	((size_t)64 << 10)	/* a rest worth keeping */
#define	LC_FILL_MAX	4		/* ranges moved into a miss */
#define	LC_MAPS_LIMIT	1024		/* moved pages move again below */
#define	LC_MAPS_EVERY	64		/* fills between two counts */
#define	LC_MOVED_MIN	((size_t)1 << 20)	/* a fill that takes them */
#define	LC_FILL_MIN	((size_t)64 << 10)	/* worth a system call */
#define	LC_FILL_NLIVE	4096		/* no fill with more live blocks */
/* Idle beyond the floor: untouched this long and by this many requests. */
#define	LC_IDLE_NS	((uint64_t)5000000)
#define	LC_IDLE_REQS	4u

CTASSERT(PM_NLEAF == ((size_t)1 << 18) && PM_NROOT == ((size_t)1 << 17));

/*
 * kmem's class sizes by index (PM_CLASS), filled before the page hook
 * is set; the pool cache of each class up to 4 KiB, for free's fast
 * path with per-thread slots (NULL before start-up and in the debug
 * modes); and, with per-CPU slots, the shared area's first slot
 * (its start) and the size of a CPU's block: a class's
 * slot on CPU c is at ph_slot_base + c * ph_slot_stride + its entry's
 * PM_SLOT_MASK bits (pm_hot, below).  ph_slot_base is set once, before
 * the first entry that names a slot.
 */
#define	PM_NCLASS	64
static size_t pm_class_size[PM_NCLASS];
static pool_cache_t pm_class_cache[PM_NCLASS];
/* Every class's pool cache, for the slow paths (after start-up). */
static pool_cache_t pm_class_pc[PM_NCLASS];

static uint64_t *pm_root[PM_NROOT];
/*
 * What free's fast path reads besides the entry and the slot, on one
 * line: the hot leaf (the first one made) and its index in the root
 * (PM_NROOT: none yet), and the shared per-CPU area's first slot and
 * block size (above).  Each is written once; the line is padded so
 * that no variable written often shares it.
 */
static struct {
	uintptr_t	ph_root;
	uint64_t	*ph_leaf;
	char		*ph_slot_base;
	size_t		ph_slot_stride;
	char		ph_pad[64 - 4 * sizeof(void *)];
} pm_hot __attribute__((__aligned__(64))) = { PM_NROOT, NULL, NULL, 0,
    { 0 } };
CTASSERT(sizeof(pm_hot) == 64);
static int pm_hot_claimed;

/* 0 before start-up, 1 while it runs, 2 once done. */
static int malloc_state;
/* The NBMEM_DEBUG modes are on: every call takes the debug path. */
static bool malloc_debug;
static __thread bool malloc_initialising
    __attribute__((__tls_model__("initial-exec")));

/*
 * The pool cache of every size up to 4 KiB, by (n - 1) >> 3: kmem's
 * classes, read by the inline fast paths.  All NULL before start-up and
 * with a debug mode on, which sends every call to the slow paths.
 */
static pool_cache_t malloc_fast[FAST_N];

/*
 * The same classes' CPU slots in the shared per-CPU area: the offset of
 * each size's class from pm_hot.ph_slot_base, as its page map entries
 * have it (PM_SLOT_MASK), 0 where there is none (before start-up, in
 * the debug modes, with per-thread slots).  malloc goes from the size
 * straight to its slot on this CPU, and the table is 2 KiB (a class's
 * slot array address and stride took 8 KiB).
 */
static uint32_t malloc_slot_off[FAST_N];
CTASSERT(PM_SLOT_MAX <= UINT32_MAX);

/*
 * The pool cache of every size from 4 KiB to 64 KiB, by (n - 1) >> 10
 * (the first four entries unused); NULL as malloc_fast.  Without it a
 * malloc of 8 KiB went through kmem's lookup and its once-only test:
 * 7.1 ns a pair where 5.7 before the malloc classes (kmem_bench).
 */
#define	BIG_SHIFT	10
static pool_cache_t malloc_big[SMALL_MAX >> BIG_SHIFT];

/*
 * The large cache: freed large blocks kept committed, oldest first.  A
 * slot is one busy range of kmem_va_arena, [va, va + len).
 */
struct lc_ent {
	uintptr_t	le_va;
	size_t		le_len;
	uint64_t	le_when;	/* nbmem_os_now_ns() at its free */
	uint64_t	le_seq;		/* lc_seq at its free */
	unsigned int	le_maps;	/* PM_MAPS: mappings of its own */
};

static kmutex_t lc_lock = MUTEX_INITIALIZER(IPL_NONE);
static struct lc_ent lc_tab[LC_NSLOT];	/* lc_lock */
static unsigned int lc_n;		/* lc_lock */
static size_t lc_bytes;			/* lc_lock; read without it */
static size_t large_live;		/* bytes of live large blocks */
static size_t large_nlive;		/* live large blocks */
static uint64_t lc_hits, lc_misses;	/* statistics (relaxed) */
/* Bytes of recent large requests, decayed (relaxed, approximate). */
static size_t lc_demand;
/* Large requests so far (an atomic count). */
static uint64_t lc_seq;
/* The kernel cannot move pages (no MREMAP_DONTUNMAP): copy, fault. */
static bool move_unsupported;
/* It cannot move a range of several mappings (before Linux 6.17). */
static bool move_several_refused;
/* Fills until the mappings are counted again; there is room for more. */
static unsigned int maps_countdown;
static bool maps_room;
/* This thread holds lc_lock: a signal handler's call bypasses the cache. */
static __thread bool lc_held __attribute__((__tls_model__("initial-exec")));

static _Alignas(16) char boot_buf[BOOT_SIZE];
static size_t boot_used;

/* The owner of the debug records of over-aligned pointers. */
static const char malloc_aligned_owner[] = "malloc";

/* Gone from glibc's headers, still called by old programs. */
void	cfree(void *);
/* glibc's internal names, which a few programs call. */
void	*__libc_malloc(size_t);
void	__libc_free(void *);
void	*__libc_calloc(size_t, size_t);
void	*__libc_realloc(void *, size_t);
void	*__libc_memalign(size_t, size_t);
void	*__libc_valloc(size_t);
void	*__libc_pvalloc(size_t);
int	__libc_mallopt(int, int);
struct mallinfo __libc_mallinfo(void);
int	__sigaction(int, const struct sigaction *, struct sigaction *);
void	(*bsd_signal(int, void (*)(int)))(int);

/* ---- the page map */

/* The leaf that covers va, or NULL: the hot one without the root. */
static inline __attribute__((__always_inline__)) uint64_t *
pm_leaf_find(uintptr_t va)
{
	if (__predict_true((va >> PM_LEAF_SHIFT) == __atomic_load_n(
	    &pm_hot.ph_root, __ATOMIC_ACQUIRE)))
		return __atomic_load_n(&pm_hot.ph_leaf, __ATOMIC_RELAXED);
	if ((va >> PM_LEAF_SHIFT) >= PM_NROOT)
		return NULL;
	return __atomic_load_n(&pm_root[va >> PM_LEAF_SHIFT],
	    __ATOMIC_ACQUIRE);
}

static inline uint64_t
pm_get(uintptr_t va)
{
	uint64_t *leaf = pm_leaf_find(va);

	if (leaf == NULL)
		return 0;
	return __atomic_load_n(&leaf[(va >> PM_SHIFT) & (PM_NLEAF - 1)],
	    __ATOMIC_RELAXED);
}

static uint64_t *
pm_leaf(uintptr_t va)
{
	size_t bytes = PM_NLEAF * sizeof(uint64_t);
	uint64_t **slot, *leaf, *old = NULL;

	VERIFY((va >> PM_LEAF_SHIFT) < PM_NROOT, "malloc: page map: address "
	    "%#zx is beyond %d bits", (size_t)va, PM_VA_BITS);
	slot = &pm_root[va >> PM_LEAF_SHIFT];
	leaf = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
	if (leaf != NULL)
		return leaf;
	/*
	 * Small pages: a leaf is exactly 2 MiB, which the kernel places on
	 * a 2 MiB boundary, so with transparent huge pages always on its
	 * first entry written would make all of it resident.
	 */
	leaf = nbmem_os_map_lazy(bytes);
	VERIFY(leaf != NULL, "malloc: page map: no memory for a leaf of "
	    "%zu bytes", bytes);
	if (!__atomic_compare_exchange_n(slot, &old, leaf, false,
	    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		nbmem_os_unmap(leaf, bytes);
		return old;
	}
	if (__atomic_exchange_n(&pm_hot_claimed, 1, __ATOMIC_ACQ_REL) == 0) {
		__atomic_store_n(&pm_hot.ph_leaf, leaf, __ATOMIC_RELAXED);
		__atomic_store_n(&pm_hot.ph_root, va >> PM_LEAF_SHIFT,
		    __ATOMIC_RELEASE);
	}
	return leaf;
}

/* Set the entries of [va, va + len) to e. */
static void
pm_set(uintptr_t va, size_t len, uint64_t e)
{
	for (uintptr_t a = va; a < va + len; a += PM_UNIT)
		__atomic_store_n(&pm_leaf(a)[(a >> PM_SHIFT) & (PM_NLEAF - 1)],
		    e, __ATOMIC_RELEASE);
}

/*
 * The PM_SLOT_MASK bits of a class's entries: where its CPU slots are in
 * the shared area, or 0 (per-thread slots, a class above 4 KiB, before
 * ph_slot_base is set, or a class whose slots did not fit the area).
 */
static uint64_t
pm_slot_of(size_t objsz)
{
	char *base = __atomic_load_n(&pm_hot.ph_slot_base, __ATOMIC_ACQUIRE);
	pool_cache_t pc;
	size_t stride, off;
	char *slots;

	if (base == NULL || objsz > PAGE_CLASS ||
	    (pc = nbmem_kmem_malloc_cache(objsz)) == NULL ||
	    (slots = nbmem_pc_pcpu_slots(pc, &stride)) == NULL ||
	    stride != pm_hot.ph_slot_stride || slots < base)
		return 0;
	off = (size_t)(slots - base);
	if ((off & ~PM_SLOT_MASK) != 0)	/* beyond the field, or unaligned */
		return 0;
	return off;
}

/*
 * kmem's report: a page of a class (objsz), its first object at
 * page + first, or one given back (objsz 0).  Each unit's entry says
 * where the objects that start in it are.
 */
static void
pm_page_hook(void *page, size_t pagesz, size_t objsz, size_t first)
{
	uintptr_t va = (uintptr_t)page;
	size_t nobj, lo, hi, start;
	unsigned int cls;
	uint64_t e, slot;

	if (objsz == 0) {
		pm_set(va, pagesz, 0);
		return;
	}
	nobj = (pagesz - first) / objsz;
	for (cls = 0; pm_class_size[cls] != objsz; cls++)
		VERIFY(cls + 1 < PM_NCLASS, "malloc: page map: no class of "
		    "%zu bytes", objsz);
	slot = pm_slot_of(objsz);
	for (size_t u = 0; u < pagesz; u += PM_UNIT) {
		/* The first and the last object that start in the unit. */
		lo = first >= u ? 0 : (u - first + objsz - 1) / objsz;
		start = first + lo * objsz;
		e = PM_CLASSV(cls) | slot | ((uint64_t)((((size_t)1 <<
		    PM_DIV_BITS) + objsz - 1) / objsz) << PM_RECIP_POS);
		if (lo < nobj && start < u + PM_UNIT) {
			hi = (u + PM_UNIT - 1 - first) / objsz;
			if (hi > nobj - 1)
				hi = nobj - 1;
			e |= (uint64_t)(start - u) << PM_FIRST_SHIFT |
			    (uint64_t)((hi - lo) * objsz) << PM_SPAN_SHIFT;
		} else
			e |= PM_NOSTART << PM_FIRST_SHIFT;
		pm_set(va + u, PM_UNIT, e);
	}
}

/* Does an object of the class entry e (not 0) start at va? */
static inline bool
pm_obj_start(uint64_t e, uintptr_t va)
{
	uint64_t n = (va & (PM_UNIT - 1)) - PM_FIRST(e), c = PM_RECIP(e);

	return n <= PM_SPAN(e) && ((n * c) & PM_DIV_MASK) < c;
}

/*
 * The start of the object of its class that holds va, from the entries
 * of va's unit and those before it on the page (the page's first unit
 * is the last one looked at): 0 for a pointer outside every object (a
 * page header, the tail of a page).
 */
static uintptr_t
pm_obj_of(uintptr_t va)
{
	uint64_t e = pm_get(va);
	size_t sz = PM_SIZE(e), k;
	uintptr_t u = va & ~(uintptr_t)(PM_UNIT - 1), start;

	for (size_t back = 0; back <= SMALL_MAX; back += PM_UNIT) {
		uint64_t eu = pm_get(u);
		if (eu == 0 || (eu & PM_LARGE) != 0 || PM_SIZE(eu) != sz)
			return 0;
		if (PM_FIRST(eu) == PM_NOSTART || u + PM_FIRST(eu) > va) {
			u -= PM_UNIT;
			continue;
		}
		k = (va - u - PM_FIRST(eu)) / sz;
		if (k > PM_SPAN(eu) / sz)
			k = PM_SPAN(eu) / sz;
		start = u + PM_FIRST(eu) + k * sz;
		return va < start + sz ? start : 0;
	}
	return 0;
}

/* The malloc library is this one (internal.h, NBMEM_MALLOC_LIBRARY). */
const bool nbmem_malloc_library
    __attribute__((__visibility__("hidden"))) = true;

/* NBMEM_BACKTRACE=1: panics print a backtrace (nbmem_malloc(3)). */
static bool
backtrace_wanted(void)
{
	const char *v = nbmem_os_getenv("NBMEM_BACKTRACE");

	return v != NULL && strcmp(v, "1") == 0;
}

/* ---- the large cache */

/*
 * Map [va, va + len) afresh, read-write, after the kernel split it off
 * (a page move) or unmapped it (a failed one): as its chunk is mapped
 * (uvm_km(3)), so that it merges with its neighbours again.  A failure
 * would leave a hole in the arena, which the next block there would
 * fault on, or which another mapping could take: say so and stop.
 */
static void
remap_rw(uintptr_t va, size_t len, bool lazy)
{
	int error = lazy ? nbmem_os_remap_lazy((void *)va, len) :
	    nbmem_os_commit((void *)va, len, NBMEM_OS_PROT_RW, false);

	if (error != 0)
		nbmem_panic("malloc: cannot map %#zx bytes at %p again after "
		    "a page move (error %d)", len, (void *)va, error);
}

/*
 * Give a range back to the page layer.  One that pages were moved into
 * or out of (`moved') holds mappings of its own, which the kernel does
 * not merge again by itself: in a read-write chunk, mapping the range
 * afresh first makes it part of its neighbours' mapping again (there
 * the page layer only drops the pages of a range it gets back:
 * t_malloc's realloc_mappings_bounded counted 1,400 mappings after
 * 1,200 reallocs without this); in a PROT_NONE one the page layer's
 * decommit maps it afresh itself.
 */
/* Mappings of two ranges made one: at most their sum, saturated. */
static inline unsigned int
maps_add(unsigned int a, unsigned int b)
{
	return a + b < MAPS_SAT ? a + b : MAPS_SAT;
}

static void
lc_release(uintptr_t va, size_t len, bool moved)
{
	if (moved && nbmem_uvm_kmem_lazy_range(va, len))
		remap_rw(va, len, true);
	uvm_km_kmem_free(kmem_va_arena, va, len);
}

static void
lc_enter(void)
{
	mutex_enter(&lc_lock);
	lc_held = true;
}

/* Drop the lock, then give the n ranges of out back. */
static void
lc_exit(const struct lc_ent *out, unsigned int n)
{
	lc_held = false;
	mutex_exit(&lc_lock);
	while (n > 0) {
		n--;
		lc_release(out[n].le_va, out[n].le_len,
		    out[n].le_maps != 0);
	}
}

/*
 * What the cache may hold now: LC_MIN plus half the live large bytes,
 * but no more than LC_FLOOR plus what the recent large requests asked
 * for.  A program that frees large blocks it made long ago (realloc's
 * growth makes them without a request, bench/macro/realloc.c) keeps no
 * more of them than its requests take back: 52 MiB of peak resident
 * memory there instead of 60 (glibc: 34), in the same time, and a floor
 * of 2 MiB instead of 8 took it from 54.5 MiB to 50.7, in the same time
 * again, with mstress, large and growshrink unchanged; one that
 * replaces its large blocks all along (bench/macro/large.c) asks for
 * far more than the cap and keeps all of it.
 */
static size_t
lc_cap(void)
{
	size_t cap = LC_MIN + (__atomic_load_n(&large_live,
	    __ATOMIC_RELAXED) >> LC_LIVE_SHIFT);
	size_t want = LC_FLOOR + __atomic_load_n(&lc_demand,
	    __ATOMIC_RELAXED);

	return want < cap ? want : cap;
}

/*
 * A large request of len bytes: the demand decays by 1/2^LC_DEMAND_SHIFT
 * and adds len, so it holds about the last 2^LC_DEMAND_SHIFT requests.
 * Threads that race lose an update: the figure is an estimate.
 */
static inline void
lc_demand_note(size_t len)
{
	size_t d = __atomic_load_n(&lc_demand, __ATOMIC_RELAXED);

	__atomic_store_n(&lc_demand, d - (d >> LC_DEMAND_SHIFT) + len,
	    __ATOMIC_RELAXED);
	/* Never backwards: seq - le_seq must not wrap (lc_take). */
	(void)__atomic_fetch_add(&lc_seq, 1, __ATOMIC_RELAXED);
}

/* Drop slot i (lc_lock held); the slots stay oldest first. */
static void
lc_remove_locked(unsigned int i)
{
	__atomic_store_n(&lc_bytes, lc_bytes - lc_tab[i].le_len,
	    __ATOMIC_RELAXED);
	memmove(&lc_tab[i], &lc_tab[i + 1], (lc_n - i - 1) *
	    sizeof(lc_tab[0]));
	lc_n--;
}

/*
 * Evict the oldest ranges into out[] (lc_lock held) until len more
 * bytes fit under cap and at least `slots' slots are free; returns how
 * many were evicted, for lc_exit() to give back.
 */
static unsigned int
lc_evict_locked(size_t len, size_t cap, unsigned int slots,
    struct lc_ent *out)
{
	unsigned int nout = 0;

	while (lc_n > 0 && (lc_n + slots > LC_NSLOT || lc_bytes + len > cap)) {
		out[nout++] = lc_tab[0];
		lc_remove_locked(0);
	}
	return nout;
}

/*
 * Evict into out[] (lc_lock held) the oldest ranges that have waited
 * for a request for LC_IDLE_NS and through LC_IDLE_REQS large requests
 * since their free, while what stays is at least LC_FLOOR, all but the
 * one in slot *keep (LC_NSLOT: none), which the request at hand takes:
 * that request is one of the count, and gave back the very range it
 * then missed, to commit fresh pages instead; *keep follows its slot.
 * Returns how many, for lc_exit() to give back.  Without it a program
 * whose large live set swings keeps its cache at the top of the swing
 * for as long as the cap allows (the decay pass comes after seconds):
 * the rests of split ranges and the blocks of a past peak that
 * requests of other sizes do not take.  The requests' count keeps a
 * range that a program's next request, made after a pause, will take.
 * bench/macro: realloc's peak resident memory went from 50.6 MiB to
 * 44.6, mstress's from 9.0 to 8.3 (one thread) and 12.9 to 12.0 (two),
 * in the same time; large, whose ranges wait about 1.2 ms between two
 * uses, keeps its time (0.035 s) and memory.  An idle time of 1 ms
 * took mstress to 7.0 MiB but made large 3.5 times slower; 2 ms kept
 * large's time on this machine, too close to its 1.2 ms to rely on.
 */
static unsigned int
lc_evict_idle_locked(struct lc_ent *out, unsigned int *keep)
{
	uint64_t now = nbmem_os_now_ns();
	uint64_t seq = __atomic_load_n(&lc_seq, __ATOMIC_RELAXED);
	unsigned int i = 0, nout = 0;

	/* Oldest first: le_when is read under the lock at each insertion. */
	while (i < lc_n) {
		if (i == *keep) {
			i++;
			continue;
		}
		if (now - lc_tab[i].le_when <= LC_IDLE_NS ||
		    seq - lc_tab[i].le_seq < LC_IDLE_REQS ||
		    lc_bytes - lc_tab[i].le_len < LC_FLOOR)
			break;
		out[nout++] = lc_tab[i];
		lc_remove_locked(i);
		if (*keep != LC_NSLOT && i < *keep)
			(*keep)--;
	}
	return nout;
}

/*
 * A cached range for len bytes, or 0: the smallest one that holds it,
 * the oldest of equals (the newest took large's peak from 49.9 MiB to
 * 52.0 and its time from 0.038 s to 0.041).  One much larger is split
 * in the arena (nbmem_vmem_split), its front handed out and the rest
 * kept; either way the pages are committed and were written, so no
 * page fault and no system call serve the request.
 */
static uintptr_t
lc_take(size_t len, size_t *lenp, unsigned int *mapsp)
{
	struct lc_ent out[LC_NSLOT];
	size_t best = SIZE_MAX;
	unsigned int i, bi = 0, nout;
	uintptr_t va = 0;

	if (__atomic_load_n(&lc_bytes, __ATOMIC_RELAXED) < len || lc_held)
		return 0;
	lc_enter();
	for (i = 0; i < lc_n; i++)
		if (lc_tab[i].le_len >= len && lc_tab[i].le_len < best) {
			best = lc_tab[i].le_len;
			bi = i;
		}
	if (best == SIZE_MAX)
		bi = LC_NSLOT;
	nout = lc_evict_idle_locked(out, &bi);
	if (best == SIZE_MAX) {
		/* Nothing holds it. */
	} else if (best - len >= LC_SPLIT_MIN &&
	    nbmem_vmem_split(kmem_va_arena, lc_tab[bi].le_va, best,
	    len) == 0) {
		va = lc_tab[bi].le_va;
		*lenp = len;
		*mapsp = lc_tab[bi].le_maps;
		lc_tab[bi].le_va += len;
		lc_tab[bi].le_len -= len;
		__atomic_store_n(&lc_bytes, lc_bytes - len, __ATOMIC_RELAXED);
	} else if (best <= len + len / 2) {
		va = lc_tab[bi].le_va;
		*lenp = best;
		*mapsp = lc_tab[bi].le_maps;
		lc_remove_locked(bi);
	}
	lc_exit(out, nout);
	return va;
}

/*
 * Keep a freed range, evicting the oldest beyond the cap or the slots;
 * what does not stay goes back to the page layer after the lock is
 * dropped.  Bounded work: at most LC_NSLOT evictions.
 */
static void
lc_put(uintptr_t va, size_t len, unsigned int maps)
{
	struct lc_ent out[LC_NSLOT];
	unsigned int nout;
	size_t cap = lc_cap();

	if (len > cap || lc_held) {
		lc_release(va, len, maps != 0);
		return;
	}
	lc_enter();
	/*
	 * A cached neighbour (the rest of the range this block was split
	 * from, most often) absorbs it: the range is whole again.
	 */
	for (unsigned int i = 0; i < lc_n; i++) {
		struct lc_ent *le = &lc_tab[i];
		if (le->le_va + le->le_len == va && nbmem_vmem_join(
		    kmem_va_arena, le->le_va, le->le_len, len) == 0) {
			len += le->le_len;
			va = le->le_va;
		} else if (va + len == le->le_va && nbmem_vmem_join(
		    kmem_va_arena, va, len, le->le_len) == 0)
			len += le->le_len;
		else
			continue;
		maps = maps_add(maps, le->le_maps);
		lc_remove_locked(i);
		i--;
	}
	nout = lc_evict_locked(len, cap, 1, out);
	lc_tab[lc_n].le_va = va;
	lc_tab[lc_n].le_len = len;
	lc_tab[lc_n].le_when = nbmem_os_now_ns();
	lc_tab[lc_n].le_seq = __atomic_load_n(&lc_seq, __ATOMIC_RELAXED);
	lc_tab[lc_n].le_maps = maps;
	lc_n++;
	__atomic_store_n(&lc_bytes, lc_bytes + len, __ATOMIC_RELAXED);
	lc_exit(out, nout);
}

/*
 * Before fresh pages are committed for a large block that the cache
 * could not serve: give back the oldest cached ranges until the block
 * would fit under the cap beside what stays.  The block comes back to
 * the cache when it is freed; evicting then instead would leave the
 * cache and the block both committed in between, raising the peak.
 */
static void
lc_make_room(size_t len)
{
	struct lc_ent out[LC_NSLOT];
	size_t cap = lc_cap();

	if (__atomic_load_n(&lc_bytes, __ATOMIC_RELAXED) + len <= cap ||
	    lc_held)
		return;
	lc_enter();
	lc_exit(out, lc_evict_locked(len, cap, 0, out));
}

/*
 * May pages that were moved before move again (lc_fill)?  While the
 * process has fewer mappings than a quarter of what the kernel allows,
 * or LC_MAPS_LIMIT: counted every LC_MAPS_EVERY calls (a read of
 * /proc/self/maps, no allocation); unknown counts as no room.  Threads
 * that race count twice or use an old answer: either is harmless.
 */
static bool
lc_maps_room(void)
{
	static long limit;
	unsigned int n = __atomic_load_n(&maps_countdown, __ATOMIC_RELAXED);
	long have, lim;

	if (n != 0) {
		__atomic_store_n(&maps_countdown, n - 1, __ATOMIC_RELAXED);
		return __atomic_load_n(&maps_room, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&maps_countdown, LC_MAPS_EVERY, __ATOMIC_RELAXED);
	if (__atomic_load_n(&limit, __ATOMIC_RELAXED) == 0) {
		have = nbmem_os_max_mappings() / 4;
		if (have < 1)
			have = 1;
		__atomic_store_n(&limit, have < LC_MAPS_LIMIT ? have :
		    LC_MAPS_LIMIT, __ATOMIC_RELAXED);
	}
	/* Read no further than the limit: no room once it is reached. */
	lim = __atomic_load_n(&limit, __ATOMIC_RELAXED);
	have = nbmem_os_nmappings(lim);
	__atomic_store_n(&maps_room, have >= 0 && have < lim,
	    __ATOMIC_RELAXED);
	return __atomic_load_n(&maps_room, __ATOMIC_RELAXED);
}

/*
 * A miss: [va, va + len) was just committed, its pages not yet touched.
 * Move into it, front first, the pages of up to LC_FILL_MAX cached
 * ranges, oldest first (the last one cut to what is left to fill):
 * the kernel moves their page tables (nbmem_os_move), so the new block
 * costs no page fault and no zeroing where they land, and the cache
 * shrinks by as much as the block grows, so the resident set does not
 * (a miss used to add its whole length on top of the cache).  The
 * emptied ranges go back to the page layer.  Returns the bytes moved
 * in (their old contents: calloc clears them).  A range the kernel
 * will not move (out of memory, say) is given back as it is, the rest
 * of the block is mapped again (the kernel unmapped it first), and
 * faults in as fresh pages would.  Moved pages keep a mapping of their
 * own (the kernel cannot merge it with its neighbours), and a block
 * filled from ranges that hold some holds all their mappings: moving
 * them again splits blocks further at every miss (600 misses made 600
 * mappings).  So a range that holds moved pages (le_maps) is a source
 * only after the others, for a block of at least LC_MOVED_MIN, while
 * the process has fewer mappings than a quarter of vm.max_map_count or
 * LC_MAPS_LIMIT (lc_maps_room, counted every LC_MAPS_EVERY fills), and
 * one of several mappings not at all once the kernel refused to move
 * one (kernels before Linux 6.17).  Without them, the ranges that held
 * moved pages were kept until evicted unused by misses:
 * bench/macro/large.c peaked at 71 MiB, 50 with them (glibc 53) in the
 * same time; a thousand live blocks replaced 150,000 times made 7,700
 * mappings without the count.  Smaller blocks leave them to later hits:
 * taken by every miss, they raised bench/macro/mstress's peak by 4% to
 * 12% (its blocks are of 64 to 512 KiB).  Past the count, a block
 * filled from ranges of fresh pages alone spans at most LC_FILL_MAX + 1
 * mappings, and none is filled while LC_FILL_NLIVE large blocks or more
 * are live.
 */
static size_t
lc_fill(uintptr_t va, size_t len, unsigned int *mapsp)
{
	struct lc_ent in[LC_FILL_MAX];
	unsigned int nin = 0, maps = 1;
	size_t want = len, moved = 0, off = 0;
	bool room;
	int error;

	if (__atomic_load_n(&move_unsupported, __ATOMIC_RELAXED) ||
	    __atomic_load_n(&lc_bytes, __ATOMIC_RELAXED) < LC_FILL_MIN ||
	    __atomic_load_n(&large_nlive, __ATOMIC_RELAXED) >= LC_FILL_NLIVE ||
	    lc_held)
		return 0;
	room = len >= LC_MOVED_MIN && lc_maps_room();
	lc_enter();
	/* Fresh pages first; then, with room, pages moved before. */
	for (unsigned int pass = 0; pass < (room ? 2u : 1u); pass++)
	for (unsigned int i = 0; i < lc_n && nin < LC_FILL_MAX &&
	    want >= LC_FILL_MIN; i++) {
		struct lc_ent *le = &lc_tab[i];
		if ((le->le_maps != 0) != (pass == 1) || (le->le_maps > 1 &&
		    __atomic_load_n(&move_several_refused, __ATOMIC_RELAXED)))
			continue;
		/* Its mappings, as they will be in the block. */
		maps = maps_add(maps, le->le_maps > 1 ? le->le_maps : 1);
		if (le->le_len <= want) {
			in[nin++] = *le;
			want -= le->le_len;
			lc_remove_locked(i);
			i--;
		} else if (nbmem_vmem_split(kmem_va_arena, le->le_va,
		    le->le_len, want) == 0) {
			in[nin].le_va = le->le_va;
			in[nin].le_maps = le->le_maps;
			in[nin++].le_len = want;
			le->le_va += want;
			le->le_len -= want;
			__atomic_store_n(&lc_bytes, lc_bytes - want,
			    __ATOMIC_RELAXED);
			want = 0;
		} else
			break;
	}
	lc_exit(NULL, 0);
	for (unsigned int i = 0; i < nin; i++) {
		if (moved == off && (error = nbmem_os_move(
		    (void *)in[i].le_va, (void *)(va + off),
		    in[i].le_len)) == 0)
			moved += in[i].le_len;
		else if (moved == off) {
			/*
			 * The kernel unmaps the target before it checks the
			 * source: map that part of the block again (no page
			 * is lost, it had none).
			 */
			if (error == EINVAL || error == ENOSYS)
				__atomic_store_n(&move_unsupported, true,
				    __ATOMIC_RELAXED);
			if (error == EFAULT && in[i].le_maps > 1)
				__atomic_store_n(&move_several_refused, true,
				    __ATOMIC_RELAXED);
			remap_rw(va + off, len - off,
			    nbmem_uvm_kmem_lazy_range(va + off, len - off));
		}
		off += in[i].le_len;
		lc_release(in[i].le_va, in[i].le_len, true);
	}
	*mapsp = moved != 0 ? maps : 0;
	return moved;
}

/*
 * The reclaim hook: an urgent pass (nbmem_reclaim, malloc_trim, memory
 * pressure) empties the cache; a decay pass gives back the ranges
 * cached for at least its age.
 */
static void
lc_reclaim(void *arg)
{
	struct lc_ent out[LC_NSLOT];
	uint64_t age = nbmem_reclaim_age(), now = nbmem_os_now_ns();
	unsigned int nout = 0;

	(void)arg;
	if (lc_held)
		return;
	lc_enter();
	/* Oldest first: stop at the first one younger than the age. */
	while (lc_n > 0 && (age == 0 || now - lc_tab[0].le_when >= age)) {
		out[nout++] = lc_tab[0];
		lc_remove_locked(0);
	}
	lc_exit(out, nout);
}

/* ---- signal handlers
 *
 * The library's sections block signals only once the process has a
 * handler (lock.h, nbmem_sig_lazy): two system calls for every miss of
 * a CPU slot that reaches the depot are what a handler that calls
 * malloc (which POSIX does not allow, but programs do) could deadlock
 * without.  The library sees every handler installed through the C
 * library's functions, which it defines in front of the C library's and
 * which call them (dlsym RTLD_NEXT); a handler installed by a system
 * call of one's own is not seen: NBMEM_SIGBLOCK=1 then keeps the
 * blocking (nbmem_malloc(3)).  growshrink: 183,000 signal-mask calls
 * and 0.61 s with them, 0.55 s without; xmalloc 0.65 s and 0.57 s.
 */

/* A disposition that runs code. */
static bool
sig_runs(void (*h)(int))
{
	return h != SIG_DFL && h != SIG_IGN && h != SIG_ERR &&
	    h != SIG_HOLD;
}

typedef void (*sig_fn_t)(int);
typedef int (*sigaction_fn_t)(int, const struct sigaction *,
    struct sigaction *);
typedef sig_fn_t (*signal_fn_t)(int, sig_fn_t);

/* The C library's function `name', found once (malloc_ctor). */
static void *
sig_next(void **slot, const char *name)
{
	void *f = __atomic_load_n(slot, __ATOMIC_ACQUIRE);

	if (f == NULL) {
		f = dlsym(RTLD_NEXT, name);
		VERIFY(f != NULL, "malloc: no %s after this library", name);
		__atomic_store_n(slot, f, __ATOMIC_RELEASE);
	}
	return f;
}

static void *sig_next_sigaction, *sig_next_sigaction2, *sig_next_signal,
    *sig_next_bsd_signal, *sig_next_ssignal, *sig_next_sysv_signal,
    *sig_next_sysv_signal2, *sig_next_sigset;

#define	SIG_SIGACTION(fn, slot, name)					\
NBMEM_EXPORT int							\
fn(int sig, const struct sigaction *act, struct sigaction *old)	\
{									\
	if (act != NULL && sig_runs(act->sa_handler))			\
		nbmem_sig_handler_installed();				\
	return ((sigaction_fn_t)sig_next(&(slot), (name)))(sig, act,	\
	    old);							\
}
#define	SIG_SIGNAL(fn, slot, name)					\
NBMEM_EXPORT sig_fn_t							\
fn(int sig, sig_fn_t h)							\
{									\
	if (sig_runs(h))						\
		nbmem_sig_handler_installed();				\
	return ((signal_fn_t)sig_next(&(slot), (name)))(sig, h);	\
}

SIG_SIGACTION(sigaction, sig_next_sigaction, "sigaction")
SIG_SIGACTION(__sigaction, sig_next_sigaction2, "__sigaction")
SIG_SIGNAL(signal, sig_next_signal, "signal")
SIG_SIGNAL(bsd_signal, sig_next_bsd_signal, "bsd_signal")
SIG_SIGNAL(ssignal, sig_next_ssignal, "ssignal")
SIG_SIGNAL(sysv_signal, sig_next_sysv_signal, "sysv_signal")
SIG_SIGNAL(__sysv_signal, sig_next_sysv_signal2, "__sysv_signal")
SIG_SIGNAL(sigset, sig_next_sigset, "sigset")

/*
 * Start-up: handlers already there (installed before this library's
 * functions were bound, or by a system call) keep the blocking.  The C
 * library's own (SIGCANCEL and SIGSETXID, below SIGRTMIN) run none of
 * ours.
 */
static void
sig_init(void)
{
	sigaction_fn_t sa = (sigaction_fn_t)sig_next(&sig_next_sigaction,
	    "sigaction");
	const char *env = nbmem_os_getenv("NBMEM_SIGBLOCK");
	struct sigaction old;

	if (env != NULL && strcmp(env, "1") == 0)
		return;
	for (int sig = 1; sig < NSIG; sig++) {
		if (sig < SIGRTMIN && sig > SIGSYS)
			continue;
		if (sa(sig, NULL, &old) == 0 && sig_runs(old.sa_handler))
			nbmem_sig_handler_installed();
	}
	__atomic_store_n(&nbmem_sig_pid, (unsigned int)getpid(),
	    __ATOMIC_RELAXED);
	__atomic_store_n(&nbmem_sig_lazy, true, __ATOMIC_RELEASE);
}

/* fork: the cache lock is taken before the library's own locks. */
static void
lc_fork(int phase)
{
	if (phase == NBMEM_FORK_PREPARE)
		mutex_enter(&lc_lock);
	else
		mutex_exit(&lc_lock);
}

__attribute__((__constructor__(140)))
static void
malloc_ctor(void)
{
	nbmem_fork_hook_add(NBMEM_FORK_ORDER_MALLOC, lc_fork);
	/* dlsym is not async-signal-safe: no lookup from a handler later. */
	(void)sig_next(&sig_next_sigaction, "sigaction");
	(void)sig_next(&sig_next_sigaction2, "__sigaction");
	(void)sig_next(&sig_next_signal, "signal");
	(void)sig_next(&sig_next_bsd_signal, "bsd_signal");
	(void)sig_next(&sig_next_ssignal, "ssignal");
	(void)sig_next(&sig_next_sysv_signal, "sysv_signal");
	(void)sig_next(&sig_next_sysv_signal2, "__sysv_signal");
	(void)sig_next(&sig_next_sigset, "sigset");
}

/* ---- start-up */

static void __attribute__((__noinline__))
malloc_init(void)
{
	int s = 0;

	if (malloc_initialising)	/* a call made by the start-up itself */
		return;
	if (__atomic_compare_exchange_n(&malloc_state, &s, 1, false,
	    __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE)) {
		malloc_initialising = true;
		nbmem_debug_init();
		malloc_debug = nbmem_debug_kmem != 0;
		if (!malloc_debug)
			sig_init();
		/*
		 * The unwinder behind backtrace(3) (audit, leaks, panics)
		 * is loaded with dlopen, which allocates: load it now, from
		 * the bootstrap buffer, when a debug mode or
		 * NBMEM_BACKTRACE=1 asks for backtraces.  Not by default: it
		 * is 330 KiB of every program's resident memory (an empty
		 * program: 2.35 MiB with it, 2.02 MiB without, 1.22 MiB on
		 * the C library's malloc).
		 */
		if (nbmem_debug_flags != 0 || backtrace_wanted())
			nbmem_os_backtrace_init();
		/* Finer classes than kmem's: see kmem.c, malloc_get. */
		if (!malloc_debug)
			(void)nbmem_kmem_malloc_classes();
		for (unsigned int i = 0; i < PM_NCLASS; i++)
			pm_class_size[i] = nbmem_kmem_class_size(i);
		if (!malloc_debug)
			__atomic_store_n(&nbmem_kmem_page_hook, pm_page_hook,
			    __ATOMIC_RELEASE);
		kmem_init();
		if (!malloc_debug) {
			char *area = nbmem_pc_pcpu_area(&pm_hot.ph_slot_stride);

			for (size_t i = 0; i < PM_NCLASS; i++) {
				size_t sz = pm_class_size[i];
				pool_cache_t pc;

				if (sz == 0)
					continue;
				pc = nbmem_kmem_malloc_cache(sz);
				__atomic_store_n(&pm_class_pc[i], pc,
				    __ATOMIC_RELEASE);
				if (sz <= PAGE_CLASS)
					__atomic_store_n(&pm_class_cache[i],
					    pc, __ATOMIC_RELEASE);
			}
			if (area != NULL)
				__atomic_store_n(&pm_hot.ph_slot_base,
				    area, __ATOMIC_RELEASE);
			nbmem_kmem_refill_runs();
			for (size_t i = 0; i < FAST_N; i++) {
				size_t n = (i + 1) << FAST_SHIFT;
				pool_cache_t pc = nbmem_kmem_malloc_cache(n);

				__atomic_store_n(&malloc_slot_off[i],
				    (uint32_t)pm_slot_of(n),
				    __ATOMIC_RELEASE);
				__atomic_store_n(&malloc_fast[i], pc,
				    __ATOMIC_RELEASE);
			}
			for (size_t i = PAGE_CLASS >> BIG_SHIFT;
			    i < SMALL_MAX >> BIG_SHIFT; i++)
				__atomic_store_n(&malloc_big[i],
				    nbmem_kmem_malloc_cache((i + 1) <<
				    BIG_SHIFT), __ATOMIC_RELEASE);
			(void)nbmem_reclaim_hook_add_decay(lc_reclaim, NULL);
		}
		malloc_initialising = false;
		__atomic_store_n(&malloc_state, 2, __ATOMIC_RELEASE);
		return;
	}
	while (__atomic_load_n(&malloc_state, __ATOMIC_ACQUIRE) != 2)
		sched_yield();
}

static inline bool
malloc_ready(void)
{
	return __predict_true(__atomic_load_n(&malloc_state,
	    __ATOMIC_ACQUIRE) == 2);
}

/*
 * Ready before the program runs, whether or not a constructor before
 * this one allocated (none starts a thread now, reclaim.h): the
 * unwinder a backtrace needs, the signal wrappers and the classes do
 * not wait for the program's first call, which may be a free of a
 * foreign pointer.
 */
__attribute__((__constructor__(141)))
static void
malloc_ctor_init(void)
{
	if (!malloc_ready())
		malloc_init();
}

/* Memory for the initialising thread: bump allocation, never freed. */
static void *
boot_alloc(size_t n)
{
	size_t need = (n + 2 * MALLOC_ALIGN - 1) & ~(size_t)(MALLOC_ALIGN - 1);
	size_t off = __atomic_fetch_add(&boot_used, need, __ATOMIC_RELAXED);
	char *p;

	if (n > BOOT_SIZE || off + need > BOOT_SIZE) {
		errno = ENOMEM;
		return NULL;
	}
	p = boot_buf + off;
	memcpy(p, &n, sizeof(n));
	return p + MALLOC_ALIGN;
}

static inline bool
boot_p(const void *p)
{
	return (const char *)p >= boot_buf &&
	    (const char *)p < boot_buf + BOOT_SIZE;
}

static size_t
boot_size(const void *p)
{
	size_t n;

	memcpy(&n, (const char *)p - MALLOC_ALIGN, sizeof(n));
	return n;
}

/* ---- allocation */

/* kmem, then once more after a reclaim pass; NULL with ENOMEM. */
static void *
kmem_get(size_t n, bool zero)
{
	void *p;

	for (int pass = 0; pass < 2; pass++) {
		p = zero ? kmem_intr_zalloc(n, KM_NOSLEEP) :
		    kmem_intr_alloc(n, KM_NOSLEEP);
		if (p != NULL)
			return p;
		if (pass == 0)
			(void)nbmem_reclaim();
	}
	errno = ENOMEM;
	return NULL;
}

/* The cache of a size up to 4 KiB, or NULL (start-up, debug modes). */
static inline pool_cache_t
fast_cache(size_t n)
{
	return __atomic_load_n(&malloc_fast[(n - 1) >> FAST_SHIFT],
	    __ATOMIC_ACQUIRE);
}

/* The same for a size up to 64 KiB: malloc_fast, then malloc_big. */
static inline pool_cache_t
class_cache(size_t n)
{
	if (n <= PAGE_CLASS)
		return fast_cache(n);
	return __atomic_load_n(&malloc_big[(n - 1) >> BIG_SHIFT],
	    __ATOMIC_ACQUIRE);
}

/*
 * n bytes (at most 64 KiB) at malloc's own alignment, 16 bytes: the
 * malloc classes (kmem.c) with kmem's, where the smallest class that
 * holds n wastes at most a fifth of it (kmem's alone: up to half), as
 * kmem_get otherwise.  kmem_get serves larger alignments, which kmem's
 * classes give (64 bytes from 64, the page for page multiples), and the
 * debug path, whose records need kmem's exact sizes.
 */
static void *
malloc_get(size_t n, bool zero)
{
	pool_cache_t pc = class_cache(n);
	void *p;

	for (int pass = 0; pass < 2; pass++) {
		p = nbmem_pc_get_fast(pc, PR_NOWAIT, NULL);
		if (p != NULL) {
			if (zero)
				memset(p, 0, n);
			return p;
		}
		if (pass == 0)
			(void)nbmem_reclaim();
	}
	errno = ENOMEM;
	return NULL;
}

/* Give p, an object of the class of entry e, back to its cache. */
static void
class_put(void *p, uint64_t e)
{
	nbmem_pc_put_fast(__atomic_load_n(&pm_class_pc[PM_CLASS(e)],
	    __ATOMIC_ACQUIRE), p);
}

/*
 * Whole pages of kmem_va_arena for n bytes at an alignment (a power of
 * two); fresh pages are zero (the page layer commits new anonymous
 * memory), so calloc needs no fill.
 */
static void *
large_alloc(size_t n, size_t align, bool zero)
{
	size_t ps = nbmem_os_pagesize();
	size_t len, extra = align > ps ? align - ps : 0;
	vmem_addr_t va;
	uintptr_t q;
	size_t got, moved = 0;
	unsigned int maps = 0;

	if (n > SIZE_MAX - ps - extra) {
		errno = ENOMEM;
		return NULL;
	}
	len = ((n + ps - 1) & ~(ps - 1)) + extra;
	/*
	 * More than the kernel's heuristic would ever commit (all RAM and
	 * swap): refused as the C library's malloc is refused by mmap.
	 */
	if ((len >> PM_SHIFT) > UINT32_MAX ||
	    (extra >> PM_SHIFT) > PM_OFF_MAX || len > nbmem_os_commit_limit()) {
		errno = ENOMEM;
		return NULL;
	}
	lc_demand_note(len);
	if (extra == 0 && (va = lc_take(len, &got, &maps)) != 0) {
		__atomic_fetch_add(&lc_hits, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&large_live, got, __ATOMIC_RELAXED);
		__atomic_fetch_add(&large_nlive, 1, __ATOMIC_RELAXED);
		pm_set(va, PM_UNIT, PM_LARGE | PM_MAPSV(maps) |
		    ((uint64_t)(got >> PM_SHIFT) << 32));
		/* Written before: calloc clears what it asked for. */
		if (zero)
			memset((void *)va, 0, n);
		return (void *)va;
	}
	__atomic_fetch_add(&lc_misses, 1, __ATOMIC_RELAXED);
	lc_make_room(len);
	if (uvm_km_kmem_alloc(kmem_va_arena, len, VM_NOSLEEP |
	    VM_INSTANTFIT, &va) != 0) {
		(void)nbmem_reclaim();
		if (uvm_km_kmem_alloc(kmem_va_arena, len, VM_NOSLEEP |
		    VM_INSTANTFIT, &va) != 0) {
			errno = ENOMEM;
			return NULL;
		}
	}
	__atomic_fetch_add(&large_live, len, __ATOMIC_RELAXED);
	__atomic_fetch_add(&large_nlive, 1, __ATOMIC_RELAXED);
	if (extra == 0 && (moved = lc_fill(va, len, &maps)) != 0 && zero)
		memset((void *)va, 0, moved < n ? moved : n);
	q = (va + align - 1) & ~(uintptr_t)(align - 1);
	pm_set(q, PM_UNIT, PM_LARGE | PM_MAPSV(maps) |
	    ((uint64_t)(len >> PM_SHIFT) << 32) |
	    ((uint64_t)((q - va) >> PM_SHIFT) << 1));
	return (void *)q;
}

static void
large_free(uintptr_t q, uint64_t e)
{
	uintptr_t va = q - ((uintptr_t)PM_OFF(e) << PM_SHIFT);
	size_t len = (size_t)(e >> 32) << PM_SHIFT;

	pm_set(q, PM_UNIT, 0);
	__atomic_fetch_sub(&large_live, len, __ATOMIC_RELAXED);
	__atomic_fetch_sub(&large_nlive, 1, __ATOMIC_RELAXED);
	lc_put(va, len, PM_MAPS(e));
}

/* Bytes usable at q, a large allocation. */
static size_t
large_usable(uint64_t e)
{
	return (((size_t)(e >> 32)) - PM_OFF(e)) << PM_SHIFT;
}

/*
 * The debug path: kmem is asked the exact size (its redzones and
 * footers fit the caller's bytes).  An over-aligned request takes
 * n + align + DEBUG_AHDR bytes at p; the aligned pointer q, at least
 * DEBUG_AHDR bytes in, is recorded as an object of its own of n bytes
 * (the one a leak report names; p's record is the library's).  The
 * DEBUG_AHDR bytes before q hold q - p and its complement, the bytes
 * from p to them and from q + n to the end of p hold the redzone byte,
 * checked at the free: the block is as big as asked, as kmem's are.
 */
#define	DEBUG_AHDR	(2 * sizeof(size_t))

static void *
debug_alloc(size_t n, size_t align, bool zero)
{
	size_t hdr[2];
	bool lib;
	char *p, *q;

	if (n > nbmem_os_commit_limit()) {	/* as large_alloc */
		errno = ENOMEM;
		return NULL;
	}
	if (n == 0)
		n = 1;
	if (align == MALLOC_ALIGN && n < MALLOC_ALIGN)
		n = MALLOC_ALIGN;
	if (align <= MALLOC_ALIGN)
		return kmem_get(n, zero);
	if (n > SIZE_MAX - align - DEBUG_AHDR) {
		errno = ENOMEM;
		return NULL;
	}
	lib = nbmem_track_lib(true);
	p = kmem_get(n + align + DEBUG_AHDR, zero);
	(void)nbmem_track_lib(lib);
	if (p == NULL)
		return NULL;
	q = (char *)(((uintptr_t)p + DEBUG_AHDR + align - 1) &
	    ~(uintptr_t)(align - 1));
	hdr[0] = (size_t)(q - p);
	hdr[1] = ~hdr[0];
	memset(p, NBMEM_DEBUG_REDZONE_BYTE, hdr[0] - DEBUG_AHDR);
	memcpy(q - DEBUG_AHDR, hdr, DEBUG_AHDR);
	memset(q + n, NBMEM_DEBUG_REDZONE_BYTE, align - hdr[0] + DEBUG_AHDR);
	nbmem_track_alloc(q, malloc_aligned_owner, IPL_VM, "malloc",
	    "aligned", n, 0);
	return q;
}

static void __noreturn __attribute__((__noinline__, __cold__))
debug_overrun(const char *call, const char *q, size_t n, ptrdiff_t off,
    const char *what)
{
	nbmem_panic("malloc: \"aligned\": %s: %p: overrun (%s at offset "
	    "%ld, past the %zu-byte object, is %#x)", call, (const void *)q,
	    what, (long)off, n, (unsigned int)(unsigned char)q[off]);
}

/*
 * The start and the size asked of a debug-path pointer; *totalp: the
 * bytes kmem gave at the start (the size asked unless over-aligned).
 */
static char *
debug_find(void *q, const char *call, size_t *sizep, size_t *totalp)
{
	const void *owner;
	size_t sz = nbmem_track_lookup(q, "malloc", call, &owner), hdr[2];
	char *p, *b = q;

	/*
	 * A record of kmem's caches that kmem no longer owns: the object
	 * was freed and waits in kmem's quarantine (poison mode); the
	 * lookup has diagnosed that.  Anything else is a pool's object.
	 */
	if (owner != NULL && owner != malloc_aligned_owner)
		nbmem_panic("malloc: \"malloc\": %s: %p: wrong cache (an "
		    "object of a pool or cache, not of malloc)", call, q);
	*sizep = sz;
	*totalp = sz;
	if (owner == NULL)
		return q;
	memcpy(hdr, b - DEBUG_AHDR, DEBUG_AHDR);
	if (hdr[1] != ~hdr[0] || hdr[0] < DEBUG_AHDR ||
	    hdr[0] > (uintptr_t)b)
		debug_overrun(call, b, sz, -(ptrdiff_t)DEBUG_AHDR,
		    "header byte before the object");
	p = b - hdr[0];
	*totalp = nbmem_track_lookup(p, "malloc", call, &owner);
	return p;
}

/* The redzone of an over-aligned block: before the header, past q + n. */
static void
debug_check_aligned(const char *call, char *p, char *q, size_t n,
    size_t total)
{
	for (char *b = p; b < q - DEBUG_AHDR; b++)
		if (*(unsigned char *)b != NBMEM_DEBUG_REDZONE_BYTE)
			debug_overrun(call, q, n, b - q, "redzone byte before "
			    "the object");
	for (char *b = q + n; b < p + total; b++)
		if (*(unsigned char *)b != NBMEM_DEBUG_REDZONE_BYTE)
			debug_overrun(call, q, n, b - q, "redzone byte");
}

static void
debug_free(void *q, const char *call)
{
	const char *was = nbmem_kmem_debug_call;
	size_t n, total;
	char *p = debug_find(q, call, &n, &total);

	if (p != q) {
		debug_check_aligned(call, p, q, n, total);
		(void)nbmem_track_free(q, malloc_aligned_owner, IPL_VM,
		    "malloc", "aligned", call);
	}
	/* kmem's diagnostics name the program's call. */
	nbmem_kmem_debug_call = call;
	kmem_intr_free(p, total);
	nbmem_kmem_debug_call = was;
}

/*
 * n (< 4 KiB) bytes at an alignment from 128 to 2048: the power-of-two
 * class that holds both.  Those classes fill their pages with no header
 * and no colour (a page is a whole number of objects), so their objects
 * sit on multiples of their size; the pointer is checked all the same,
 * and one that is not aligned goes back (NULL: the caller takes a page
 * class).  *failedp: no memory (NULL, errno ENOMEM).
 */
static void *
pow2_aligned(size_t n, size_t align, bool zero, bool *failedp)
{
	size_t c = n < align ? align : n;
	void *p;

	c = (size_t)1 << (64 - __builtin_clzl(c - 1));
	if (c >= PAGE_CLASS)
		return NULL;
	p = kmem_get(c, zero);
	*failedp = p == NULL;
	if (p == NULL || ((uintptr_t)p & (align - 1)) == 0)
		return p;
	kmem_intr_free(p, c);
	return NULL;
}

/*
 * n bytes at an alignment (a power of two).  kmem's class alignments
 * serve up to 4 KiB: 16 from the 16-byte class, 64 from the 64-byte
 * class, their size for the power-of-two classes from 128 to 2048
 * (pow2_aligned), 4 KiB for the classes of 4 KiB and more; larger
 * alignments and sizes take the large path.
 */
static void *
alloc_impl(size_t n, size_t align, bool zero)
{
	void *p;

	if (__predict_false(!malloc_ready())) {
		malloc_init();
		if (malloc_initialising) {
			if (align > MALLOC_ALIGN) {
				errno = ENOMEM;
				return NULL;
			}
			p = boot_alloc(n);
			if (p != NULL && zero)
				memset(p, 0, n);
			return p;
		}
	}
	nbmem_svc_poke();
	if (__predict_false(malloc_debug))
		return debug_alloc(n, align, zero);
	if (n == 0)
		n = 1;
	if (n <= SMALL_MAX && align <= PAGE_CLASS) {
		if (align > 64 && n < PAGE_CLASS) {
			bool failed = false;
			p = pow2_aligned(n, align, zero, &failed);
			if (p != NULL || failed)
				return p;
			n = PAGE_CLASS;
		}
		if (align > MALLOC_ALIGN)
			return kmem_get(n < 64 ? 64 : n, zero);
		if (align > MALLOC_NATURAL && n < MALLOC_ALIGN)
			n = MALLOC_ALIGN;
		return malloc_get(n, zero);
	}
	return large_alloc(n, align, zero);
}

static void * __attribute__((__noinline__))
malloc_slow(size_t n)
{
	void *p;

	pool_cache_t pc;

	if (n - 1 < SMALL_MAX && (pc = class_cache(n)) != NULL) {
		p = nbmem_pc_get_fast(pc, PR_NOWAIT, NULL);
		if (__predict_true(p != NULL))
			return p;
	}
	return alloc_impl(n, MALLOC_NATURAL, false);
}

/*
 * The fast path: a size up to 4 KiB, its CPU slot from malloc_slot_off
 * (or, with per-thread slots, its cache from malloc_fast and the pool
 * cache's inline fast path: kmem's, without kmem's own tests).
 */
static inline void *
malloc_impl(size_t n)
{
	pool_cache_t pc;
	size_t off;
	void *p;

	if (__predict_true(n - 1 < PAGE_CLASS)) {
		off = __atomic_load_n(&malloc_slot_off[(n - 1) >> FAST_SHIFT],
		    __ATOMIC_ACQUIRE);
		if (__predict_true(off != 0)) {
			if (__predict_true((p = nbmem_pc_pcpu_get(
			    pm_hot.ph_slot_base + off,
			    pm_hot.ph_slot_stride)) != NULL))
				return p;
		} else if ((pc = fast_cache(n)) != NULL &&
		    (p = nbmem_pc_get_try(pc)) != NULL)
			return p;
	}
	return malloc_slow(n);
}

/* ---- free */

static void __attribute__((__noinline__, __noreturn__, __cold__))
free_foreign(void *p, const char *call, const char *why)
{
	nbmem_panic("malloc: %s(%p): foreign pointer (%s)", call, p, why);
}

/*
 * p is on a page of a class (entry e) but no object starts there: the
 * pool cache names a pointer into a page header; otherwise name the
 * object it points into, when there is one.
 */
static void __attribute__((__noinline__, __noreturn__, __cold__))
free_inside(void *p, const char *call, uint64_t e)
{
	size_t sz = PM_SIZE(e);
	uintptr_t start;

	nbmem_pc_put_check(pm_class_pc[PM_CLASS(e)], p);
	start = pm_obj_of((uintptr_t)p);
	if (start != 0)
		nbmem_panic("malloc: %s(%p): foreign pointer (%zu bytes inside "
		    "the block at %p, of %zu bytes, not its start)", call, p,
		    (size_t)((uintptr_t)p - start), (void *)start, sz);
	nbmem_panic("malloc: %s(%p): foreign pointer (on a page of %zu-byte "
	    "blocks, outside every block)", call, p, sz);
}

/* p points inside the large block at q (entry e), not at its start. */
static void __attribute__((__noinline__, __noreturn__, __cold__))
large_inside(void *p, const char *call, uintptr_t q, uint64_t e)
{
	nbmem_panic("malloc: %s(%p): foreign pointer (%zu bytes inside the "
	    "large block at %p, of %zu bytes, not its start)", call, p,
	    (size_t)((uintptr_t)p - q), (void *)q, large_usable(e));
}

/* How far back an error path looks for the large block holding va. */
#define	LARGE_SCAN_MAX	((size_t)256 << 20)

/*
 * va has no entry: if it points inside a live large block (whose only
 * entry is at its start), name the block; else it was never handed out
 * or was freed.  For the error paths only: a bounded scan back through
 * the page map, stopping at the first entry met.
 */
static void __attribute__((__noinline__, __noreturn__, __cold__))
free_unknown(void *p, const char *call)
{
	uintptr_t va = (uintptr_t)p, u = va & ~(uintptr_t)(PM_UNIT - 1);

	for (size_t back = PM_UNIT; back <= LARGE_SCAN_MAX && back <= u;
	    back += PM_UNIT) {
		uint64_t e = pm_get(u - back);
		uintptr_t start;
		size_t len;

		if (e == 0)
			continue;
		if ((e & PM_LARGE) == 0)
			break;
		start = u - back;
		len = large_usable(e);
		if (va < start + len)
			large_inside(p, call, start, e);
		break;
	}
	free_foreign(p, call, "not allocated by malloc, or already freed");
}

/*
 * The map entry of p, which must be the start of a block handed out
 * (not the bootstrap buffer's, no debug mode): otherwise the misuse is
 * reported, naming the block p points into when there is one.  For
 * free's slow path, realloc and malloc_usable_size.
 */
static uint64_t
block_entry(void *p, const char *call)
{
	uintptr_t va = (uintptr_t)p;
	uint64_t e = pm_get(va);

	if (e == 0)
		free_unknown(p, call);
	if ((e & PM_LARGE) != 0) {
		if ((va & (PM_UNIT - 1)) != 0)
			large_inside(p, call, va & ~(uintptr_t)(PM_UNIT - 1),
			    e);
	} else if (!pm_obj_start(e, va))
		free_inside(p, call, e);
	return e;
}

static void __attribute__((__noinline__))
free_slow(void *p, const char *call)
{
	uint64_t e;

	if (p == NULL || boot_p(p))
		return;
	nbmem_svc_poke();
	if (malloc_debug) {
		debug_free(p, call);
		return;
	}
	e = block_entry(p, call);
	if ((e & PM_LARGE) != 0) {
		large_free((uintptr_t)p, e);
		return;
	}
	class_put(p, e);
}

/*
 * The fast path: one map lookup (one load in the hot leaf's window, two
 * elsewhere); a class up to 4 KiB goes to its CPU slot, at the offset
 * the entry gives in this CPU's block of the shared area, or, with
 * per-thread slots, to the pool cache's inline put; a larger one to
 * kmem's free with the class size.  The entry says whether an object of
 * the class starts at p (pm_obj_start), so a pointer inside one is
 * refused before the cache would hand it out again, overlapping its
 * neighbour, and the put needs none of the pool cache's own check,
 * which reads the page header (larson, 1,000 objects of 8 to 1,000
 * bytes freed in random order, missed the first level cache on 63% of
 * frees with it, on 13% without; cachegrind).  Every load depends on
 * the one before it, so each level counts.  Going from the class
 * straight to its slots, not through the cache, took
 * bench/micro/kmem_bench.c's rand (1,000 live objects, a random one
 * replaced by one of 8 to 1,000 bytes) from 9.5-10.0 to 8.6-9.0 ns.
 * Then the slot's address came from a per-class table (root, leaf,
 * table, slot: four loads in a row); with the slot's offset in the
 * entry and the hot leaf (leaf, slot), the same step with a random
 * pointer from a table of 1,000 went from 18.1 to 14.2 ns (8-byte
 * blocks), and from 25.4 to 19.3 ns with sizes of 8 to 1,000 bytes
 * and a byte of each block read before its free and written after its
 * malloc (mimalloc 13.8 and 16.1, tcmalloc 12.9 and 16.4 in the same
 * runs).  The program's own loads feed the pointer late, so the chain
 * that starts from it is what an iteration waits for.
 */
static inline __attribute__((__always_inline__)) void
free_impl(void *p, const char *call)
{
	uintptr_t va = (uintptr_t)p;
	uint64_t *leaf, e;
	pool_cache_t pc;

	if (__predict_true((leaf = pm_leaf_find(va)) != NULL)) {
		e = __atomic_load_n(&leaf[(va >> PM_SHIFT) & (PM_NLEAF - 1)],
		    __ATOMIC_RELAXED);
		/* An empty entry (0) fails pm_obj_start: c is 0. */
		if (__predict_true((e & PM_LARGE) == 0) &&
		    __predict_true(pm_obj_start(e, va))) {
			size_t off = (size_t)(e & PM_SLOT_MASK);

			if (__predict_true(off != 0)) {
				if (__predict_true(nbmem_pc_pcpu_put(
				    pm_hot.ph_slot_base + off,
				    pm_hot.ph_slot_stride, p)))
					return;
			} else if ((pc = pm_class_cache[PM_CLASS(e)]) !=
			    NULL && nbmem_pc_put_try_owned(pc, p))
				return;
			class_put(p, e);
			return;
		}
	}
	free_slow(p, call);
}

/* Bytes usable at p (not NULL). */
static size_t
usable_impl(void *p, const char *call)
{
	uint64_t e;
	size_t n;

	if (boot_p(p))
		return boot_size(p);
	if (malloc_debug) {
		size_t total;
		(void)debug_find(p, call, &n, &total);
		return n;
	}
	e = block_entry(p, call);
	return (e & PM_LARGE) != 0 ? large_usable(e) : PM_SIZE(e);
}

/* ---- realloc */

/*
 * For resizing the large block at q to n bytes: its length and the
 * page-rounded new one (the map's length field holds it); false when q
 * is not the start of a large block that is not over-aligned, or n is
 * too big.
 */
static bool
large_sizes(uintptr_t q, size_t n, size_t *lenp, size_t *needp)
{
	size_t ps = nbmem_os_pagesize();
	uint64_t e = pm_get(q);

	if ((e & PM_LARGE) == 0 || PM_OFF(e) != 0 ||
	    n > SIZE_MAX - ps)
		return false;
	*lenp = (size_t)(e >> 32) << PM_SHIFT;
	*needp = (n + ps - 1) & ~(ps - 1);
	return (*needp >> PM_SHIFT) <= UINT32_MAX;
}

/* Large blocks from this size up grow by moving their pages. */
#define	MOVE_MIN	((size_t)256 << 10)

/*
 * Grow the large block at q (not over-aligned) to n bytes elsewhere
 * without copying: fresh pages of kmem_va_arena for the new size, then
 * the kernel moves the old pages to their front (nbmem_os_move; the
 * old range stays mapped until it is given back, so nothing else can
 * land in it), and the old range goes back to the page layer.  glibc
 * grows its mmapped chunks with mremap(2) likewise.  No copy, and the
 * old and the new pages are never both resident: bench/macro realloc
 * (vectors doubling up to 1 MiB) peaked at 63 MiB instead of 69 in the
 * same time.  The moved pages keep a mapping of their own in front of
 * the new range's (the kernel cannot merge them), so only a growth to
 * at least twice the size moves: a block ends up in at most about
 * log2(size / MOVE_MIN) mappings (and those of the cached ranges
 * lc_fill moves into its new tail), where growing by fixed steps
 * would add one mapping each time, toward vm.max_map_count.  Returns
 * the new address, or 0 when the block does not qualify or the kernel
 * cannot move it (then the caller copies; a kernel without
 * MREMAP_DONTUNMAP is not asked again, nor one that refused to move a
 * block of several mappings, as kernels before Linux 6.17 do, such a
 * block again).
 */
static uintptr_t
large_move(uintptr_t q, size_t n)
{
	size_t len, need;
	vmem_addr_t va;
	unsigned int maps, tail;
	bool several;
	int error;

	if (__atomic_load_n(&move_unsupported, __ATOMIC_RELAXED) ||
	    !large_sizes(q, n, &len, &need) || need / 2 < len)
		return 0;
	maps = PM_MAPS(pm_get(q));
	several = maps != 0;
	if (several && __atomic_load_n(&move_several_refused,
	    __ATOMIC_RELAXED))
		return 0;
	if (uvm_km_kmem_alloc(kmem_va_arena, need, VM_NOSLEEP |
	    VM_INSTANTFIT, &va) != 0)
		return 0;
	if ((error = nbmem_os_move((void *)q, (void *)va, len)) != 0) {
		if (error == EINVAL || error == ENOSYS)
			__atomic_store_n(&move_unsupported, true,
			    __ATOMIC_RELAXED);
		if (error == EFAULT && several)
			__atomic_store_n(&move_several_refused, true,
			    __ATOMIC_RELAXED);
		/* The target was unmapped first: mapped and given back. */
		lc_release(va, need, true);
		return 0;
	}
	pm_set(q, PM_UNIT, 0);
	__atomic_fetch_add(&large_live, need - len, __ATOMIC_RELAXED);
	lc_release(q, len, true);
	/* The new tail, fresh pages: cached ones are moved in if any. */
	if (lc_fill(va + len, need - len, &tail) == 0)
		tail = 1;
	/* The old pages' mappings, then the tail's. */
	pm_set(va, PM_UNIT, PM_LARGE | PM_MAPSV(maps_add(maps > 1 ? maps : 1,
	    tail)) | ((uint64_t)(need >> PM_SHIFT) << 32));
	return va;
}

/*
 * Resize the large block at q (not over-aligned) in place to hold n
 * bytes: a shrink splits the block and caches the tail; a growth takes
 * the front of a cached range that starts where the block ends (often
 * the rest of the range it was split from) and joins it, or else the
 * address space after the block when the arena has it free
 * (nbmem_uvm_kmem_extend), as mremap(2) grows a mapping: a block grown
 * by 4 KiB at a time, from 300 KiB, 1,200 times, took 1.37 s when each
 * step copied it (glibc, which grows its mapping: 0.004 s), 0.003 s
 * now.  False when none applies.
 */
static bool
large_resize(uintptr_t q, size_t n)
{
	size_t len, need, extra;
	unsigned int i;
	bool ok = false;
	unsigned int maps;

	if (!large_sizes(q, n, &len, &need))
		return false;
	maps = PM_MAPS(pm_get(q));
	if (need < len) {
		if (nbmem_vmem_split(kmem_va_arena, q, len, need) != 0)
			return false;
		pm_set(q, PM_UNIT, PM_LARGE | PM_MAPSV(maps) |
		    ((uint64_t)(need >> PM_SHIFT) << 32));
		__atomic_fetch_sub(&large_live, len - need, __ATOMIC_RELAXED);
		lc_put(q + need, len - need, maps);
		return true;
	}
	extra = need - len;
	if (extra == 0)
		return true;
	if (lc_held)
		return false;
	lc_enter();
	for (i = 0; i < lc_n; i++) {
		struct lc_ent *le = &lc_tab[i];
		if (le->le_va != q + len || le->le_len < extra)
			continue;
		if (le->le_len > extra && nbmem_vmem_split(kmem_va_arena,
		    le->le_va, le->le_len, extra) != 0)
			break;
		if (nbmem_vmem_join(kmem_va_arena, q, len, extra) != 0) {
			/* Not one span: put the cached range back whole. */
			if (le->le_len > extra)
				VERIFY(nbmem_vmem_join(kmem_va_arena,
				    le->le_va, extra, le->le_len - extra) == 0,
				    "malloc: realloc(%p): cannot join the "
				    "cached range again", (void *)q);
			break;
		}
		maps = maps_add(maps, le->le_maps);
		if (le->le_len > extra) {
			le->le_va += extra;
			le->le_len -= extra;
			__atomic_store_n(&lc_bytes, lc_bytes - extra,
			    __ATOMIC_RELAXED);
		} else
			lc_remove_locked(i);
		ok = true;
		break;
	}
	lc_exit(NULL, 0);
	/*
	 * Or into free address space: fresh pages, as a miss's (with a
	 * cached range after it, the arena refuses: the range is busy).
	 */
	if (!ok)
		ok = nbmem_uvm_kmem_extend(kmem_va_arena, q, len, extra) == 0;
	if (ok) {
		pm_set(q, PM_UNIT, PM_LARGE | PM_MAPSV(maps) |
		    ((uint64_t)(need >> PM_SHIFT) << 32));
		__atomic_fetch_add(&large_live, extra, __ATOMIC_RELAXED);
	}
	return ok;
}

static void *
realloc_impl(void *p, size_t n)
{
	size_t have;
	void *q;

	if (p == NULL)
		return malloc_impl(n);
	if (n == 0) {		/* glibc: free, and return NULL */
		free_impl(p, "realloc");
		return NULL;
	}
	have = usable_impl(p, "realloc");
	/* Growth past what the kernel would commit: p stays as it was. */
	if (n > have && n > nbmem_os_commit_limit()) {
		errno = ENOMEM;
		return NULL;
	}
	/* In place: same class, or within a large block's last page. */
	if (!boot_p(p) && !malloc_debug && n <= have &&
	    (n > have / 2 || have <= 2 * MALLOC_ALIGN))
		return p;
	/* A large block shrinks, or grows into what follows it. */
	if (!boot_p(p) && !malloc_debug && n > SMALL_MAX &&
	    have > SMALL_MAX && large_resize((uintptr_t)p, n))
		return p;
	/* A big one moves its pages instead of copying them. */
	if (!boot_p(p) && !malloc_debug && n > have && have >= MOVE_MIN &&
	    (q = (void *)large_move((uintptr_t)p, n)) != NULL)
		return q;
	/*
	 * A small block moves: by at least a quarter of it (within the
	 * classes), so that a string grown a few bytes at a time is not
	 * copied into every class on its way.  bench/macro/realloc.c's
	 * strings, grown by 1 to 32 bytes: 0.216 s to 0.200.
	 */
	q = NULL;
	if (n > have && have < SMALL_MAX && !malloc_debug) {
		size_t m = have + have / REALLOC_STEP;

		if (m > SMALL_MAX)
			m = SMALL_MAX;
		if (n < m)
			q = malloc_impl(m);
	}
	if (q == NULL && (q = malloc_impl(n)) == NULL)
		return NULL;
	memcpy(q, p, n < have ? n : have);
	free_impl(p, "realloc");
	return q;
}

static bool
powerof2(size_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

/* ---- the interface */

MALLOC_EXPORT void *
malloc(size_t n)
{
	return malloc_impl(n);
}

MALLOC_EXPORT void
free(void *p)
{
	free_impl(p, "free");
}

MALLOC_EXPORT void
cfree(void *p)
{
	free_impl(p, "cfree");
}

MALLOC_EXPORT void *
calloc(size_t nmemb, size_t size)
{
	size_t n;

	if (__builtin_mul_overflow(nmemb, size, &n)) {
		errno = ENOMEM;
		return NULL;
	}
	return alloc_impl(n, MALLOC_NATURAL, true);
}

/*
 * Valgrind's memcheck replaces the names it knows of a preloaded
 * malloc library (malloc, free, calloc, realloc, memalign, valloc...)
 * with its own allocator, at their entry points; not reallocarray nor
 * pvalloc.  Those two call the entry points of realloc and valloc
 * (realloc_entry, valloc_entry: this library's, never a program's), not
 * the code behind them, so that under memcheck they take and give
 * memcheck's blocks, as the glibc names (aliases, below) do: a block of
 * memcheck's given to the code behind them is a foreign pointer.
 */
MALLOC_EXPORT __attribute__((__noinline__)) void *
realloc(void *p, size_t n)
{
	return realloc_impl(p, n);
}

#pragma GCC diagnostic push
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmissing-attributes"
#endif
static void	*realloc_entry(void *, size_t)
    __attribute__((__alias__("realloc")));
#pragma GCC diagnostic pop

MALLOC_EXPORT void *
reallocarray(void *p, size_t nmemb, size_t size)
{
	size_t n;

	if (__builtin_mul_overflow(nmemb, size, &n)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc_entry(p, n);
}

MALLOC_EXPORT int
posix_memalign(void **pp, size_t align, size_t n)
{
	void *p;
	int saved = errno;

	if (!powerof2(align) || align % sizeof(void *) != 0)
		return EINVAL;
	p = alloc_impl(n, align, false);
	if (p == NULL) {
		errno = saved;
		return ENOMEM;
	}
	*pp = p;
	return 0;
}

/* memalign, for aligned_alloc too. */
static void *
memalign_impl(size_t align, size_t n)
{
	if (align <= MALLOC_NATURAL)
		return malloc_impl(n);
	if (!powerof2(align)) {
		/* glibc rounds a bad alignment up to a power of two. */
		if (align > SIZE_MAX / 2 + 1) {
			errno = EINVAL;
			return NULL;
		}
		while (!powerof2(align))
			align &= align - 1;
		align <<= 1;
	}
	return alloc_impl(n, align, false);
}

MALLOC_EXPORT void *
memalign(size_t align, size_t n)
{
	return memalign_impl(align, n);
}

/*
 * C17 (DR 460): an alignment the implementation does not support fails
 * the call, and a valid alignment is a power of two; glibc refuses the
 * others, 0 included, with EINVAL since 2.38 (BZ #20137, backported to
 * its stable branches).  glibc 2.36 made aligned_alloc memalign, which
 * rounds them up.  memalign_impl, not memalign: a program's own
 * memalign is not reached from here.
 */
MALLOC_EXPORT void *
aligned_alloc(size_t align, size_t n)
{
	if (!powerof2(align)) {
		errno = EINVAL;
		return NULL;
	}
	return memalign_impl(align, n);
}

MALLOC_EXPORT __attribute__((__noinline__)) void *
valloc(size_t n)
{
	return alloc_impl(n, nbmem_os_pagesize(), false);
}

#pragma GCC diagnostic push
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmissing-attributes"
#endif
static void	*valloc_entry(size_t) __attribute__((__alias__("valloc")));
#pragma GCC diagnostic pop

/* valloc of whole pages, through its entry point (see realloc). */
MALLOC_EXPORT void *
pvalloc(size_t n)
{
	size_t ps = nbmem_os_pagesize();

	if (n > SIZE_MAX - ps) {
		errno = ENOMEM;
		return NULL;
	}
	return valloc_entry(n == 0 ? ps : (n + ps - 1) & ~(ps - 1));
}

MALLOC_EXPORT size_t
malloc_usable_size(void *p)
{
	return p == NULL ? 0 : usable_impl(p, "malloc_usable_size");
}

/*
 * glibc's fastbin limit: mallopt refuses a value of M_MXFAST outside
 * [0, 80 * sizeof(size_t) / 4].
 */
#define	MXFAST_MAX	(80 * (int)sizeof(size_t) / 4)

/*
 * Tunables of glibc's allocator: accepted, and nothing to tune; 0 for
 * what glibc refuses, so that a program sees the same answers.
 */
MALLOC_EXPORT int
mallopt(int param, int value)
{
	if (param == M_MXFAST && (value < 0 || value > MXFAST_MAX))
		return 0;
	return 1;
}

/* Give every idle page back: kmem's caches, pools and the page layer. */
MALLOC_EXPORT int
malloc_trim(size_t pad)
{
	if (!malloc_ready())
		return 0;
	return nbmem_reclaim() != 0;
}

/*
 * arena: the bytes of pages nbmem holds; uordblks: those of live blocks
 * (class sizes, and the pages of large blocks), fordblks the rest;
 * hblks and hblkhd: the live large blocks, which glibc would have
 * mapped on their own; keepcost: the large cache, which malloc_trim
 * gives back.
 */
static struct mallinfo2
mallinfo2_impl(void)
{
	struct mallinfo2 mi;

	memset(&mi, 0, sizeof(mi));
	mi.arena = nbmem_physmem_inuse();
	if (!malloc_ready())
		return mi;
	mi.hblks = __atomic_load_n(&large_nlive, __ATOMIC_RELAXED);
	mi.hblkhd = __atomic_load_n(&large_live, __ATOMIC_RELAXED);
	mi.uordblks = nbmem_kmem_live_bytes() + mi.hblkhd;
	mi.fordblks = mi.arena > mi.uordblks ? mi.arena - mi.uordblks : 0;
	mi.keepcost = __atomic_load_n(&lc_bytes, __ATOMIC_RELAXED);
	return mi;
}

MALLOC_EXPORT struct mallinfo2
mallinfo2(void)
{
	return mallinfo2_impl();
}

static int
mallinfo_int(size_t n)
{
	return (int)(n > INT32_MAX ? INT32_MAX : n);
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
MALLOC_EXPORT struct mallinfo
mallinfo(void)
{
	struct mallinfo2 m2 = mallinfo2_impl();
	struct mallinfo mi;

	memset(&mi, 0, sizeof(mi));
	mi.arena = mallinfo_int(m2.arena);
	mi.hblks = mallinfo_int(m2.hblks);
	mi.hblkhd = mallinfo_int(m2.hblkhd);
	mi.uordblks = mallinfo_int(m2.uordblks);
	mi.fordblks = mallinfo_int(m2.fordblks);
	mi.keepcost = mallinfo_int(m2.keepcost);
	return mi;
}
#pragma GCC diagnostic pop

/*
 * glibc's XML, one heap, with mallinfo2's figures: the system's current
 * and max (nbmem keeps no peak: the current figure again) are arena,
 * "rest" is fordblks, "mmap" the live large blocks; no size bins.  glibc
 * returns EINVAL for options other than 0, and 0 otherwise.
 */
MALLOC_EXPORT int
malloc_info(int options, FILE *fp)
{
	struct mallinfo2 mi;

	if (options != 0)
		return EINVAL;
	mi = mallinfo2_impl();
	(void)fprintf(fp, "<malloc version=\"1\">\n<heap nr=\"0\">\n"
	    "<sizes>\n</sizes>\n"
	    "<total type=\"fast\" count=\"0\" size=\"0\"/>\n"
	    "<total type=\"rest\" count=\"0\" size=\"%zu\"/>\n"
	    "<system type=\"current\" size=\"%zu\"/>\n"
	    "<system type=\"max\" size=\"%zu\"/>\n"
	    "<aspace type=\"total\" size=\"%zu\"/>\n"
	    "<aspace type=\"mprotect\" size=\"%zu\"/>\n</heap>\n"
	    "<total type=\"fast\" count=\"0\" size=\"0\"/>\n"
	    "<total type=\"rest\" count=\"0\" size=\"%zu\"/>\n"
	    "<total type=\"mmap\" count=\"%zu\" size=\"%zu\"/>\n"
	    "<system type=\"current\" size=\"%zu\"/>\n"
	    "<system type=\"max\" size=\"%zu\"/>\n"
	    "<aspace type=\"total\" size=\"%zu\"/>\n"
	    "<aspace type=\"mprotect\" size=\"%zu\"/>\n</malloc>\n",
	    mi.fordblks, mi.arena, mi.arena, mi.arena, mi.arena, mi.fordblks,
	    mi.hblks, mi.hblkhd, mi.arena, mi.arena, mi.arena, mi.arena);
	return 0;
}

/* glibc prints to stderr; so does this, the nbmemstat -m table. */
MALLOC_EXPORT void
malloc_stats(void)
{
	(void)nbmem_stats_print(STDERR_FILENO, NULL);
}

/*
 * glibc's public __libc_ names, which its own code and some programs
 * call (a block from glibc's valloc given to this free would be a
 * foreign pointer): aliases, as glibc's are, not calls of the plain
 * names, which a program that wraps them around these (as tracers do)
 * defines in front of ours: a call would come back to its wrapper,
 * which calls this again, for ever.  Not functions of their own
 * either: memcheck replaces the plain names' entry points, which are
 * theirs too (see realloc).  They carry none of the attributes
 * (malloc, alloc_size...) that the C library's header gives the plain
 * names.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmissing-attributes"
#endif
MALLOC_EXPORT void *__libc_malloc(size_t)
    __attribute__((__alias__("malloc")));
MALLOC_EXPORT void __libc_free(void *)
    __attribute__((__alias__("free")));
MALLOC_EXPORT void *__libc_realloc(void *, size_t)
    __attribute__((__alias__("realloc")));
MALLOC_EXPORT void *__libc_calloc(size_t, size_t)
    __attribute__((__alias__("calloc")));
MALLOC_EXPORT void *__libc_memalign(size_t, size_t)
    __attribute__((__alias__("memalign")));
MALLOC_EXPORT void *__libc_valloc(size_t)
    __attribute__((__alias__("valloc")));
MALLOC_EXPORT void *__libc_pvalloc(size_t)
    __attribute__((__alias__("pvalloc")));
MALLOC_EXPORT int __libc_mallopt(int, int)
    __attribute__((__alias__("mallopt")));
MALLOC_EXPORT struct mallinfo __libc_mallinfo(void)
    __attribute__((__alias__("mallinfo")));
#pragma GCC diagnostic pop

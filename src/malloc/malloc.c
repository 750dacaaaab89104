/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * malloc.c: the malloc family over kmem(3), the only code of nbmem that
 * defines malloc, free and their relatives (libnbmem_malloc.so).
 *
 * 1 Overview
 *   A request of n bytes up to the largest kmem class (64 KiB) is a
 *   kmem object of the class that holds n; above it, whole pages of
 *   kmem_va_arena (uvm_km_kmem_alloc), as kmem's own large path.  free
 *   is not told the size: a page map gives it.  kmem reports every page
 *   a size class takes or gives back (nbmem_kmem_page_hook), and the
 *   map records the class size against the page; a large allocation
 *   records its length against the page of the pointer handed out.  So
 *   free is a map lookup and kmem_intr_free(p, class size): no object
 *   carries a header.
 *
 * 2 Data structures
 *   The page map is a two-level radix tree over 47-bit addresses in
 *   units of 4 KiB (PM_SHIFT; finer than or equal to the page on every
 *   platform nbmem runs on): pm_root[va >> 26] points to a leaf of 2^14
 *   64-bit entries covering 64 MiB.  The root is 16 MiB of .bss, of
 *   which only the pages that are written become resident (one page of
 *   it covers 32 GiB of address space); a leaf is mapped from the OS
 *   when its first page is recorded, installed with a compare-and-swap
 *   and never freed.  An entry is 0 (nothing of ours starts there), a
 *   class size (even, at most 64 KiB: a page of that class), or a large
 *   allocation: bit 0 set, bits 1..31 the pages from the start of the
 *   mapping to the pointer handed out (over-aligned requests), bits
 *   32..63 the length in map units.
 *
 * 3 Invariants
 *   - an entry is set while its page belongs to a class or to a live
 *     large allocation, and cleared before the page is given back;
 *   - every pointer handed out is 16-byte aligned unless the request
 *     was of at most 8 bytes (kmem's classes from 16 bytes are aligned
 *     on 16, from 64 on 64, page multiples on the page);
 *   - with an NBMEM_DEBUG mode (fixed at start-up) no hook is set and
 *     the map stays empty: every call takes the debug path, which asks
 *     kmem for the exact size and finds it again in the debug record.
 *
 * 4 Locking, start-up, threads and fork
 *   The map needs no lock (leaves are installed once; an entry is
 *   written by the owner of its page).  The first call initialises
 *   kmem; calls made by the initialising thread meanwhile (none today,
 *   but a library constructor may be run by the loader) are served by
 *   a bootstrap buffer and never freed.  Caches of threads that exit,
 *   and fork, are pool_cache's and the library's fork handlers' work.
 *
 * 5 Debug features
 *   free of a pointer the map does not know: "foreign pointer"; of a
 *   large allocation already freed: the same (its entry is gone); of a
 *   small one twice: undetected by default, a "double free" with
 *   NBMEM_DEBUG (any mode), which also brings kmem's redzones, poison,
 *   guard pages, audit and the leak report to every malloc'd object.
 *
 * 6 Differences from glibc
 *   No arenas, no mallopt tunables (accepted and ignored), no
 *   in-place growth of large blocks beyond their last page; memory is
 *   given back by kmem's pools and the page layer, and by malloc_trim.
 *
 * 7 References
 *   NetBSD kmem(9); J. Bonwick and J. Adams, "Magazines and Vmem",
 *   USENIX 2001 (a general-purpose allocator over object caches);
 *   illumos libumem's malloc layer.
 */
#include <errno.h>
#include <malloc.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nbmem/kmem.h>
#include <nbmem/nbmem.h>
#include <nbmem/uvm_km.h>

#include "internal.h"
#include "os/os.h"

#define	MALLOC_EXPORT	__attribute__((__visibility__("default")))

#define	PM_SHIFT	12		/* map unit: 4 KiB */
#define	PM_UNIT		((size_t)1 << PM_SHIFT)
#define	PM_LEAF_SHIFT	26		/* a leaf covers 64 MiB */
#define	PM_VA_BITS	47		/* user addresses on x86-64, aarch64 */
#define	PM_NLEAF	((size_t)1 << (PM_LEAF_SHIFT - PM_SHIFT))
#define	PM_NROOT	((size_t)1 << (PM_VA_BITS - PM_LEAF_SHIFT))
#define	PM_LARGE	((uint64_t)1)

#define	SMALL_MAX	65536u		/* kmem's largest class */
#define	PAGE_CLASS	4096u		/* classes from here: page-aligned */
#define	MALLOC_ALIGN	16u		/* max_align_t */
#define	MALLOC_NATURAL	8u		/* malloc: 16 from 16 bytes up */
#define	BOOT_SIZE	(64u << 10)	/* the bootstrap buffer */

CTASSERT(PM_NLEAF == 16384 && PM_NROOT == ((size_t)1 << 21));

static uint64_t *pm_root[PM_NROOT];

/* 0 before start-up, 1 while it runs, 2 once done. */
static int malloc_state;
/* The NBMEM_DEBUG modes are on: every call takes the debug path. */
static bool malloc_debug;
static __thread bool malloc_initialising
    __attribute__((__tls_model__("initial-exec")));

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

/* ---- the page map */

static inline uint64_t
pm_get(uintptr_t va)
{
	uint64_t *leaf;

	if (__predict_false((va >> PM_LEAF_SHIFT) >= PM_NROOT))
		return 0;
	leaf = __atomic_load_n(&pm_root[va >> PM_LEAF_SHIFT],
	    __ATOMIC_ACQUIRE);
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
	leaf = nbmem_os_map(bytes, 0, NBMEM_OS_PROT_RW, false);
	VERIFY(leaf != NULL, "malloc: page map: no memory for a leaf of "
	    "%zu bytes", bytes);
	if (!__atomic_compare_exchange_n(slot, &old, leaf, false,
	    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		nbmem_os_unmap(leaf, bytes);
		leaf = old;
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

/* kmem's report: a page of a class (objsz) or one given back (0). */
static void
pm_page_hook(void *page, size_t pagesz, size_t objsz)
{
	pm_set((uintptr_t)page, pagesz, objsz);
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
		/*
		 * The unwinder behind backtrace(3) (audit, leaks, panics)
		 * is loaded with dlopen, which allocates: load it now,
		 * from the bootstrap buffer.
		 */
		nbmem_os_backtrace_init();
		nbmem_debug_init();
		malloc_debug = nbmem_debug_kmem != 0;
		if (!malloc_debug)
			__atomic_store_n(&nbmem_kmem_page_hook, pm_page_hook,
			    __ATOMIC_RELEASE);
		kmem_init();
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

/*
 * Whole pages of kmem_va_arena for n bytes at an alignment (a power of
 * two); fresh pages are zero (the page layer commits new anonymous
 * memory), so calloc needs no fill.
 */
static void *
large_alloc(size_t n, size_t align)
{
	size_t ps = nbmem_os_pagesize();
	size_t len, extra = align > ps ? align - ps : 0;
	vmem_addr_t va;
	uintptr_t q;

	if (n > SIZE_MAX - ps - extra) {
		errno = ENOMEM;
		return NULL;
	}
	len = ((n + ps - 1) & ~(ps - 1)) + extra;
	if ((len >> PM_SHIFT) > UINT32_MAX) {
		errno = ENOMEM;
		return NULL;
	}
	if (uvm_km_kmem_alloc(kmem_va_arena, len, VM_NOSLEEP |
	    VM_INSTANTFIT, &va) != 0) {
		(void)nbmem_reclaim();
		if (uvm_km_kmem_alloc(kmem_va_arena, len, VM_NOSLEEP |
		    VM_INSTANTFIT, &va) != 0) {
			errno = ENOMEM;
			return NULL;
		}
	}
	q = (va + align - 1) & ~(uintptr_t)(align - 1);
	pm_set(q, PM_UNIT, PM_LARGE | ((uint64_t)(len >> PM_SHIFT) << 32) |
	    ((uint64_t)((q - va) >> PM_SHIFT) << 1));
	return (void *)q;
}

static void
large_free(uintptr_t q, uint64_t e)
{
	uintptr_t va = q - (((e & 0xffffffffu) >> 1) << PM_SHIFT);

	pm_set(q, PM_UNIT, 0);
	uvm_km_kmem_free(kmem_va_arena, va, (size_t)(e >> 32) << PM_SHIFT);
}

/* Bytes usable at q, a large allocation. */
static size_t
large_usable(uint64_t e)
{
	return (((size_t)(e >> 32)) - ((e & 0xffffffffu) >> 1)) << PM_SHIFT;
}

/*
 * The debug path: kmem is asked the exact size (its redzones and
 * footers fit the caller's bytes); an over-aligned request takes
 * n + align bytes and records the aligned pointer, with its offset, as
 * an object of its own.
 */
static void *
debug_alloc(size_t n, size_t align, bool zero)
{
	char *p, *q;

	if (n == 0)
		n = 1;
	if (align == MALLOC_ALIGN && n < MALLOC_ALIGN)
		n = MALLOC_ALIGN;
	if (align <= MALLOC_ALIGN)
		return kmem_get(n, zero);
	if (n > SIZE_MAX - align) {
		errno = ENOMEM;
		return NULL;
	}
	p = kmem_get(n + align, zero);
	if (p == NULL)
		return NULL;
	q = (char *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
	if (q != p)
		nbmem_track_alloc(q, malloc_aligned_owner, "malloc",
		    "aligned", (size_t)(q - p), NBMEM_TRACK_NOLEAK);
	return q;
}

/* The start and the size asked of a debug-path pointer. */
static char *
debug_find(void *q, const char *call, size_t *sizep)
{
	const void *owner;
	size_t sz = nbmem_track_lookup(q, "malloc", call, &owner);

	/*
	 * A record of kmem's caches that kmem no longer owns: the object
	 * was freed and waits in kmem's quarantine (poison mode).
	 */
	if (owner != NULL && owner != malloc_aligned_owner)
		nbmem_panic("malloc: %s(%p): double free (already freed, "
		    "held in kmem's quarantine)", call, q);
	if (owner == malloc_aligned_owner) {
		char *p = (char *)q - sz;
		*sizep = nbmem_track_lookup(p, "malloc", call, &owner) -
		    sz;
		return p;
	}
	*sizep = sz;
	return q;
}

static void
debug_free(void *q, const char *call)
{
	size_t n;
	char *p = debug_find(q, call, &n);

	if (p != q)
		(void)nbmem_track_free(q, malloc_aligned_owner, "malloc",
		    "aligned", call);
	kmem_intr_free(p, n + (size_t)((char *)q - p));
}

/*
 * n bytes at an alignment (a power of two).  kmem's class alignments
 * serve up to 4 KiB: 16 from the 16-byte class, 64 from the 64-byte
 * class, 4 KiB for the classes of 4 KiB and more; larger alignments
 * and sizes take the large path.
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
	if (__predict_false(malloc_debug))
		return debug_alloc(n, align, zero);
	if (n == 0)
		n = 1;
	if (n <= SMALL_MAX && align <= PAGE_CLASS) {
		if (align > 64 && n < PAGE_CLASS)
			n = PAGE_CLASS;
		else if (align > MALLOC_ALIGN && n < 64)
			n = 64;
		else if (align > MALLOC_NATURAL && n < MALLOC_ALIGN)
			n = MALLOC_ALIGN;
		return kmem_get(n, zero);
	}
	return large_alloc(n, align);
}

static void *
malloc_impl(size_t n)
{
	void *p;

	/* The fast path: a class up to 4 KiB, kmem's own fast path. */
	if (__predict_true(n - 1 < PAGE_CLASS) && malloc_ready() &&
	    __predict_true(!malloc_debug)) {
		p = kmem_intr_alloc(n, KM_NOSLEEP);
		if (__predict_true(p != NULL))
			return p;
	}
	return alloc_impl(n, MALLOC_NATURAL, false);
}

/* ---- free */

static void __attribute__((__noinline__, __noreturn__, __cold__))
free_foreign(void *p, const char *call, const char *why)
{
	nbmem_panic("malloc: %s(%p): foreign pointer (%s)", call, p, why);
}

static void __attribute__((__noinline__))
free_slow(void *p, const char *call)
{
	uint64_t e;

	if (p == NULL || boot_p(p))
		return;
	if (malloc_debug) {
		debug_free(p, call);
		return;
	}
	e = pm_get((uintptr_t)p);
	if (e == 0)
		free_foreign(p, call, "not allocated by malloc, or already "
		    "freed");
	if ((e & PM_LARGE) != 0) {
		if (((uintptr_t)p & (PM_UNIT - 1)) != 0)
			free_foreign(p, call, "inside a large block, not its "
			    "start");
		large_free((uintptr_t)p, e);
		return;
	}
	kmem_intr_free(p, (size_t)e);
}

/*
 * The fast path: one map lookup (two dependent loads), then kmem's
 * free with the class size.
 */
static inline void
free_impl(void *p, const char *call)
{
	uintptr_t va = (uintptr_t)p;
	uint64_t *leaf, e;

	if (__predict_true((va >> PM_LEAF_SHIFT) < PM_NROOT) &&
	    __predict_true((leaf = __atomic_load_n(
	    &pm_root[va >> PM_LEAF_SHIFT], __ATOMIC_ACQUIRE)) != NULL)) {
		e = __atomic_load_n(&leaf[(va >> PM_SHIFT) & (PM_NLEAF - 1)],
		    __ATOMIC_RELAXED);
		if (__predict_true(e != 0 && (e & PM_LARGE) == 0)) {
			kmem_intr_free(p, (size_t)e);
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
		(void)debug_find(p, call, &n);
		return n;
	}
	e = pm_get((uintptr_t)p);
	if (e == 0)
		free_foreign(p, call, "not allocated by malloc, or already "
		    "freed");
	if ((e & PM_LARGE) != 0)
		return large_usable(e);
	return (size_t)e;
}

/* ---- realloc */

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
	/* In place: same class, or within a large block's last page. */
	if (!boot_p(p) && !malloc_debug && n <= have &&
	    (n > have / 2 || have <= 2 * MALLOC_ALIGN))
		return p;
	q = malloc_impl(n);
	if (q == NULL)
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

MALLOC_EXPORT void *
realloc(void *p, size_t n)
{
	return realloc_impl(p, n);
}

MALLOC_EXPORT void *
reallocarray(void *p, size_t nmemb, size_t size)
{
	size_t n;

	if (__builtin_mul_overflow(nmemb, size, &n)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc_impl(p, n);
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

MALLOC_EXPORT void *
aligned_alloc(size_t align, size_t n)
{
	if (!powerof2(align)) {
		errno = EINVAL;
		return NULL;
	}
	return alloc_impl(n, align, false);
}

MALLOC_EXPORT void *
memalign(size_t align, size_t n)
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
valloc(size_t n)
{
	return alloc_impl(n, nbmem_os_pagesize(), false);
}

MALLOC_EXPORT void *
pvalloc(size_t n)
{
	size_t ps = nbmem_os_pagesize();

	if (n > SIZE_MAX - ps) {
		errno = ENOMEM;
		return NULL;
	}
	return alloc_impl(n == 0 ? ps : (n + ps - 1) & ~(ps - 1), ps, false);
}

MALLOC_EXPORT size_t
malloc_usable_size(void *p)
{
	return p == NULL ? 0 : usable_impl(p, "malloc_usable_size");
}

/* Tunables of glibc's allocator: accepted, and nothing to tune. */
MALLOC_EXPORT int
mallopt(int param, int value)
{
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

MALLOC_EXPORT struct mallinfo2
mallinfo2(void)
{
	struct mallinfo2 mi;

	memset(&mi, 0, sizeof(mi));
	mi.arena = nbmem_physmem_inuse();
	mi.uordblks = mi.arena;
	return mi;
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
MALLOC_EXPORT struct mallinfo
mallinfo(void)
{
	struct mallinfo mi;
	size_t inuse = nbmem_physmem_inuse();

	memset(&mi, 0, sizeof(mi));
	mi.arena = (int)(inuse > INT32_MAX ? INT32_MAX : inuse);
	mi.uordblks = mi.arena;
	return mi;
}
#pragma GCC diagnostic pop

/* glibc prints to stderr; so does this, the nbmemstat -m table. */
MALLOC_EXPORT void
malloc_stats(void)
{
	(void)nbmem_stats_print(STDERR_FILENO, NULL);
}

/* The names glibc's own code and some programs call. */
MALLOC_EXPORT void *
__libc_malloc(size_t n)
{
	return malloc_impl(n);
}

MALLOC_EXPORT void
__libc_free(void *p)
{
	free_impl(p, "free");
}

MALLOC_EXPORT void *
__libc_calloc(size_t nmemb, size_t size)
{
	return calloc(nmemb, size);
}

MALLOC_EXPORT void *
__libc_realloc(void *p, size_t n)
{
	return realloc_impl(p, n);
}

MALLOC_EXPORT void *
__libc_memalign(size_t align, size_t n)
{
	return memalign(align, n);
}

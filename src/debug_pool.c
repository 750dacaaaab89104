/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * debug_pool.c: the run-time debug modes of pool(3) and pool_cache(3),
 * and what they tell memcheck and AddressSanitizer.
 *
 * 1 Overview
 *   pool.c and pool_cache.c call in here from their slow paths when a
 *   pool's pr_debug or a cache's pc_debug says so (both decided at
 *   creation from NBMEM_DEBUG, memcheck and ASan; debug_mode.c).  Such
 *   a cache has no CPU layer: every get and put takes the slow path,
 *   through the depot, so nothing reaches a caller unchecked.
 *   - Poison (POOL_DEBUG's free-item check, KMEM_POISON): a free pool
 *     item is filled with NBMEM_DEBUG_FREE_BYTE past the pool's free-
 *     list header and verified when handed out again; a cached object
 *     of a cache without a constructor likewise.  A constructed object
 *     keeps its state while cached: only the pool's free items of such
 *     a cache are poisoned (after the destructor ran).
 *   - Redzone (POOL_REDZONE): the bytes from pr_reqsize to the item's
 *     end hold NBMEM_DEBUG_REDZONE_BYTE while the item is out, and are
 *     checked when it comes back; if rounding left none, the item grows
 *     by 8 bytes (rounded to the alignment) when it still fits a page.
 *   - Records (debug_track.c): objects of pools without a cache and of
 *     caches, so a double put, a foreign pointer or a put to the wrong
 *     cache is diagnosed at the put, with stacks under audit/leaks.
 *   - memcheck: handed-out objects are malloc-like blocks (defined when
 *     constructed), others inaccessible.  ASan: cached and free objects
 *     are poisoned.
 *
 * 2 Data structures
 *   pr_debug bits (PDBG_*, internal.h) in the pool's private area;
 *   pc_debug in the cache's.
 *
 * 3 Invariants
 *   - a free item of a PDBG_POISON pool holds the free byte past its
 *     header; a cached object of a poisoning cache without constructor
 *     holds it in its first pr_reqsize bytes;
 *   - an item out of a PDBG_REDZONE pool holds the redzone byte from
 *     pr_reqsize (or the free-list header's end) to pr_size;
 *   - pools of PR_NOTOUCH whose items may not be memory (vmem's
 *     quantum caches: any allocator but the standard ones) or may be
 *     read after their put (PR_PSERIALIZE), and the library's own pools
 *     (pool_allocator_meta), are never written to or marked;
 *   - objects of vmem's quantum caches (addresses of an arena) are
 *     recorded but never reported as leaks.
 *
 * 4 Locking
 *   nbmem_pool_debug_put and _page run under the pool's lock; the
 *   others with no lock.  Records take debug_track.c's leaf lock.
 *
 * 5 Debug features
 *   This file is one; see nbmem(3), DEBUGGING.
 *
 * 6 Differences from NetBSD
 *   NetBSD's pool redzone and kmem poison are compile-time options with
 *   address-derived patterns; here fixed, named bytes, chosen at run
 *   time.  A cache bypassing its CPU layer is nbmem's own (NetBSD has
 *   pool_cache_debug for FREECHECK only).
 *
 * 7 References
 *   NetBSD sys/kern/subr_pool.c (pool_redzone_*, POOL_CHECK_MAGIC);
 *   Valgrind manual, memcheck client requests; AddressSanitizer manual
 *   poisoning (sanitizer/asan_interface.h).
 */
#include <string.h>

#include "internal.h"
#include "nbvalgrind.h"
#include "pool_cache_impl.h"
#include "pool_impl.h"

/* Grow an item by this much for a redzone when rounding left none. */
#define	POOL_REDZONE_MIN	8u

static inline bool
dbg_memcheck(void)
{
	return (nbmem_debug_flags & NBMEM_DEBUG_MEMCHECK) != 0;
}

/* Bytes at the start of a free item the pool itself uses. */
static inline size_t
pool_dbg_hdr(const struct pool *pp)
{
	return (pp->pr_roflags & PR_USEBMAP) != 0 ? 0 :
	    sizeof(struct pool_item);
}

/* Make [p, p+n) accessible to our own reads and writes. */
static inline void
dbg_open(void *p, size_t n)
{
	NBMEM_ASAN_UNPOISON(p, n);
	if (dbg_memcheck())
		NBMEM_VG_DEFINED(p, n);
}

static inline void
dbg_close(void *p, size_t n)
{
	NBMEM_ASAN_POISON(p, n);
	if (dbg_memcheck())
		NBMEM_VG_NOACCESS(p, n);
}

/* The first byte in [from, to) of p that is not `byte', or `to'. */
static size_t
dbg_scan(const void *p, size_t from, size_t to, unsigned char byte)
{
	const unsigned char *b = p;

	for (size_t i = from; i < to; i++)
		if (b[i] != byte)
			return i;
	return to;
}

static void __noreturn __attribute__((__noinline__, __cold__))
dbg_modified(const char *kind, const char *name, const char *call,
    const void *p, size_t off, size_t size)
{
	nbmem_panic("%s: \"%s\": %s: %p: modified after free (byte at "
	    "offset %zu of %zu is %#x, not the free pattern %#x)", kind,
	    name, call, p, off, size, ((const unsigned char *)p)[off],
	    NBMEM_DEBUG_FREE_BYTE);
}

static void __noreturn __attribute__((__noinline__, __cold__))
dbg_overrun(const char *kind, const char *name, const char *call,
    const void *p, size_t off, size_t size)
{
	nbmem_panic("%s: \"%s\": %s: %p: overrun (redzone byte at offset "
	    "%zu, past the %zu-byte object, is %#x, not %#x)", kind, name,
	    call, p, off, size, ((const unsigned char *)p)[off],
	    NBMEM_DEBUG_REDZONE_BYTE);
}

/* ---- pool */

uint32_t
nbmem_pool_debug_init(struct pool *pp, size_t *sizep, size_t pagesz,
    const struct pool_allocator *palloc)
{
	unsigned int f = nbmem_debug_flags;
	uint32_t d = PDBG_ON;

	if (f == 0 || palloc == &pool_allocator_meta)
		return 0;
	if (nbmem_track_p())
		d |= PDBG_TRACK;
	/*
	 * PR_NOTOUCH: hands off, unless the items are memory of the page
	 * layer that no reader may still see once they are put (not
	 * PR_PSERIALIZE): kmem's smallest classes, a program's own pools.
	 */
	if ((pp->pr_roflags & PR_NOTOUCH) != 0 &&
	    ((pp->pr_roflags & PR_PSERIALIZE) != 0 ||
	    !nbmem_pool_allocator_pages_p(palloc)))
		return d;
	d |= PDBG_MEM;
	if ((f & NBMEM_DEBUG_POISON) != 0)
		d |= PDBG_POISON;
	if ((f & NBMEM_DEBUG_REDZONE) != 0) {
		size_t a = pp->pr_align;
		if (*sizep == pp->pr_reqsize) {
			size_t nsz = (pp->pr_reqsize + POOL_REDZONE_MIN +
			    a - 1) & ~(a - 1);
			if (nsz <= pagesz)
				*sizep = nsz;
		}
		if (*sizep > pp->pr_reqsize)
			d |= PDBG_REDZONE;
	}
	return d;
}

/*
 * The object size a diagnostic names: the item's, less the bytes a
 * redzone added to it above, so that a misuse reads the same with a
 * mode as without (pool_init1's rounding, recomputed).
 */
size_t
nbmem_pool_objsize(struct pool *pp)
{
	size_t a = pp->pr_align, size = pp->pr_reqsize;

	if ((pool_impl(pp)->pr_debug & PDBG_REDZONE) == 0)
		return pp->pr_size;
	size = (size + a - 1) & ~(a - 1);
	if ((pp->pr_roflags & PR_NOTOUCH) == 0 &&
	    size < sizeof(struct pool_item))
		size = (sizeof(struct pool_item) + a - 1) & ~(a - 1);
	return size;
}

void
nbmem_pool_debug_page(struct pool *pp, char *items, unsigned int n)
{
	uint32_t d = pool_impl(pp)->pr_debug;
	size_t hdr = pool_dbg_hdr(pp), size = pp->pr_size;

	if ((d & PDBG_MEM) == 0)
		return;
	for (unsigned int i = 0; i < n; i++, items += size) {
		if ((d & PDBG_POISON) != 0)
			memset(items + hdr, NBMEM_DEBUG_FREE_BYTE, size - hdr);
		dbg_close(items + hdr, size - hdr);
	}
}

void
nbmem_pool_debug_get(struct pool *pp, void *v)
{
	uint32_t d = pool_impl(pp)->pr_debug;
	size_t hdr = pool_dbg_hdr(pp), size = pp->pr_size;
	size_t req = pp->pr_reqsize;
	bool cached = __atomic_load_n(&pp->pr_cache, __ATOMIC_RELAXED) !=
	    NULL;

	if ((d & PDBG_MEM) != 0) {
		dbg_open(v, size);
		if ((d & PDBG_POISON) != 0) {
			size_t off = dbg_scan(v, hdr, size,
			    NBMEM_DEBUG_FREE_BYTE);
			if (off != size)
				dbg_modified("pool", pp->pr_wchan, "pool_get",
				    v, off, size);
			memset(v, NBMEM_DEBUG_FRESH_BYTE, req);
		}
		if ((d & PDBG_REDZONE) != 0)
			memset((char *)v + req, NBMEM_DEBUG_REDZONE_BYTE,
			    size - req);
		if (dbg_memcheck() && !cached) {
			NBMEM_VG_NOACCESS(v, size);
			NBMEM_VG_MALLOCLIKE(v, req, 0);
		}
	}
	if ((d & PDBG_TRACK) != 0 && !cached)
		nbmem_track_alloc(v, pp, pp->pr_ipl, "pool", pp->pr_wchan,
		    req, 0);
}

void
nbmem_pool_debug_put(struct pool *pp, void *v)
{
	uint32_t d = pool_impl(pp)->pr_debug;
	size_t hdr = pool_dbg_hdr(pp), size = pp->pr_size;
	size_t req = pp->pr_reqsize;
	bool cached = __atomic_load_n(&pp->pr_cache, __ATOMIC_RELAXED) !=
	    NULL;

	if ((d & PDBG_TRACK) != 0 && !cached)
		(void)nbmem_track_free(v, pp, pp->pr_ipl, "pool",
		    pp->pr_wchan, "pool_put");
	if ((d & PDBG_MEM) == 0)
		return;
	dbg_open(v, size);
	if ((d & PDBG_REDZONE) != 0) {
		size_t from = req > hdr ? req : hdr;
		size_t off = dbg_scan(v, from, size,
		    NBMEM_DEBUG_REDZONE_BYTE);
		if (off != size)
			dbg_overrun("pool", pp->pr_wchan, "pool_put", v, off,
			    req);
	}
	if ((d & PDBG_POISON) != 0)
		memset((char *)v + hdr, NBMEM_DEBUG_FREE_BYTE, size - hdr);
	if (dbg_memcheck() && !cached) {
		NBMEM_VG_FREELIKE(v);
		NBMEM_VG_DEFINED(v, hdr);
	}
	dbg_close((char *)v + hdr, size - hdr);
}

void
nbmem_pool_debug_release(struct pool *pp, void *page)
{
	if ((pool_impl(pp)->pr_debug & PDBG_MEM) != 0)
		dbg_open(page, pool_impl(pp)->pr_pagesz);
}

/* ---- pool_cache */

static inline bool
pc_dbg_poison(struct pool_cache *pc)
{
	return (pool_impl(&pc->pc_pool)->pr_debug & PDBG_POISON) != 0 &&
	    pc_impl(pc)->pc_ctor == NULL;
}

void
nbmem_pc_debug_get(struct pool_cache *pc, void *obj, bool fresh)
{
	struct pool *pp = &pc->pc_pool;
	uint32_t d = pool_impl(pp)->pr_debug;
	size_t req = pp->pr_reqsize, size = pp->pr_size;

	if ((d & PDBG_MEM) != 0) {
		if (!fresh) {
			dbg_open(obj, size);
			if (pc_dbg_poison(pc)) {
				size_t off = dbg_scan(obj, 0, req,
				    NBMEM_DEBUG_FREE_BYTE);
				if (off != req)
					dbg_modified("pool_cache", pp->pr_wchan,
					    "pool_cache_get", obj, off, req);
				memset(obj, NBMEM_DEBUG_FRESH_BYTE, req);
			}
		}
		if (dbg_memcheck()) {
			NBMEM_VG_NOACCESS(obj, size);
			NBMEM_VG_MALLOCLIKE(obj, req, 0);
			if (pc_impl(pc)->pc_ctor != NULL)
				NBMEM_VG_DEFINED(obj, req);
		}
	}
	if ((d & PDBG_TRACK) != 0)
		nbmem_track_alloc(obj, pc, pp->pr_ipl, "pool_cache",
		    pp->pr_wchan, req,
		    pp->pr_qcache != NULL ? NBMEM_TRACK_NOLEAK : 0);
}

/* The redzone of a cache's object, checked when it comes back. */
static void
pc_dbg_redzone(struct pool_cache *pc, void *obj, const char *call)
{
	struct pool *pp = &pc->pc_pool;
	size_t req = pp->pr_reqsize, size = pp->pr_size, off;

	if ((pool_impl(pp)->pr_debug & PDBG_REDZONE) == 0)
		return;
	dbg_open((char *)obj + req, size - req);
	off = dbg_scan(obj, req, size, NBMEM_DEBUG_REDZONE_BYTE);
	if (off != size)
		dbg_overrun("pool_cache", pp->pr_wchan, call, obj, off, req);
}

void
nbmem_pc_debug_put(struct pool_cache *pc, void *obj)
{
	struct pool *pp = &pc->pc_pool;
	uint32_t d = pool_impl(pp)->pr_debug;
	size_t live;

	if ((d & PDBG_TRACK) != 0)
		(void)nbmem_track_free(obj, pc, pp->pr_ipl, "pool_cache",
		    pp->pr_wchan, "pool_cache_put");
	if ((d & PDBG_MEM) == 0)
		return;
	/*
	 * ASan alone (no records): an object this cache handed out is
	 * live over all its pr_size bytes.  One that is not live at all
	 * was freed already (or never was an object); one live only in
	 * part is smaller than this cache's objects, and its tail belongs
	 * to others: leave their poisoning alone, the pool diagnoses it.
	 */
	if ((live = NBMEM_ASAN_LIVE(obj, pp->pr_size)) == 0)
		nbmem_panic("pool_cache: \"%s\": pool_cache_put: %p: double "
		    "free or foreign pointer (not a live object: "
		    "AddressSanitizer has it poisoned)", pp->pr_wchan, obj);
	if (live != pp->pr_size)
		return;
	pc_dbg_redzone(pc, obj, "pool_cache_put");
	if (pc_dbg_poison(pc))
		memset(obj, NBMEM_DEBUG_FREE_BYTE, pp->pr_reqsize);
	if (dbg_memcheck())
		NBMEM_VG_FREELIKE(obj);
	dbg_close(obj, pp->pr_size);
}

void
nbmem_pc_debug_uncache(struct pool_cache *pc, void *obj)
{
	struct pool *pp = &pc->pc_pool;
	size_t req = pp->pr_reqsize;

	if ((pool_impl(pp)->pr_debug & PDBG_MEM) == 0)
		return;
	dbg_open(obj, pp->pr_size);
	if (pc_dbg_poison(pc)) {
		size_t off = dbg_scan(obj, 0, req, NBMEM_DEBUG_FREE_BYTE);
		if (off != req)
			dbg_modified("pool_cache", pp->pr_wchan,
			    "pool_cache (destruct)", obj, off, req);
	}
}

void
nbmem_pc_debug_destruct(struct pool_cache *pc, void *obj)
{
	struct pool *pp = &pc->pc_pool;
	uint32_t d = pool_impl(pp)->pr_debug;

	if ((d & PDBG_TRACK) != 0)
		(void)nbmem_track_free(obj, pc, pp->pr_ipl, "pool_cache",
		    pp->pr_wchan, "pool_cache_destruct_object");
	if ((d & PDBG_MEM) == 0)
		return;
	pc_dbg_redzone(pc, obj, "pool_cache_destruct_object");
	if (dbg_memcheck()) {
		NBMEM_VG_FREELIKE(obj);
		NBMEM_VG_DEFINED(obj, pp->pr_size);
	}
}

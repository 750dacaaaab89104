/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * pool.c: the pool resource allocator (pool(3)): pages of fixed-size
 * items.
 *
 * 1 Overview
 *   A pool hands out items of one size carved from pages of its
 *   allocator (pool_alloc.c: kmem_va_arena pages by default, any power
 *   of two for a custom allocator).  The caller owns struct pool; its
 *   private area holds struct pool_impl (pool_impl.h).  Every pool is on
 *   one global list sorted by name, which pool_drain() walks round-robin
 *   and nbmem_pool_sysctl() reports.  A reclaim hook registered with the
 *   memory budget reclaims every pool, so a sleeping request anywhere
 *   gets idle pool pages back (the pagedaemon's pool_drain).
 *
 * 2 Data structures
 *   Each page has a header: at the start of the page (PR_PHINPAGE), or
 *   an item of one of the header pools "phpool-N" and a node of the
 *   pool's page tree, a treap keyed by page address (exact match, or the
 *   nearest page at or below the address for PR_NOALIGN).  Where the
 *   header goes is decided at init by spec 2.3's five rules, in order:
 *   PR_PHINPAGE forces it on the page; PR_NOTOUCH or PR_NOALIGN force it
 *   off; items smaller than min(page / 16, 8 * header) keep it on; so
 *   does a header that costs no item; otherwise it is off the page.
 *   Free items are tracked by a bitmap in the header (PR_USEBMAP: one bit
 *   per item, set = free) when the pool is PR_NOTOUCH, the header is off
 *   the page, or the on-page header's spare bytes up to the aligned item
 *   area hold one bit per item; otherwise by a list threaded through the
 *   free items (a link and the word POOL_ITEM_MAGIC).  Items start after
 *   the aligned header, staggered by a colour that advances by the
 *   alignment per new page through the unused tail of the page.  Pages
 *   are on one of three lists: empty (no item out), partial, full.  The
 *   current page is the first partial page, else an empty one: the
 *   first, or the page that was current when others were added.
 *
 * 3 Invariants (pool_chk() checks them all)
 *   - a page is on the list its ph_nmissing says; pr_nidle counts the
 *     empty list, pr_npages all three, pr_nitems the free items;
 *   - pr_nout == pr_npages * pr_itemsperpage - pr_nitems;
 *   - pr_npagealloc - pr_npagefree == pr_npages <= pr_hiwat;
 *   - a bitmap has exactly itemsperpage - nmissing bits set, none beyond
 *     itemsperpage; a free list that many items, each at an item start
 *     and marked;
 *   - an empty page is released at once on put only while the pool keeps
 *     more than pr_minpages and pr_maxpages pages and pr_minitems free
 *     items without it; otherwise pool_reclaim() frees it after 10 s idle.
 *
 * 4 Locking and lock order
 *   One mutex per pool at its IPL: above IPL_NONE it is held with the
 *   signals blocked, so PR_NOWAIT gets and puts work from signal
 *   handlers.  One thread grows a pool at a time (PR_GROWING); a
 *   PR_WAITOK grow drops the lock around the page allocation, a
 *   PR_NOWAIT grow keeps it.  Waiters (grow, hard limit) sleep on pr_cv.
 *   Drain hooks and pa_free run without the pool lock.  Order: a pool
 *   cache, the pool list lock, then a pool, then a header pool (IPL_VM),
 *   then the page layer.  pool_reclaim() only try-locks the pool.  A
 *   fork handler takes the list, every pool and the header pools last.
 *   Pool references (pr_refcnt: pool_drain, the reclaim hook, sysctl)
 *   let the list lock go while a pool is worked on; pool_destroy waits
 *   for them.  The reclaim hook follows pool_reclaim's idle rule, so a
 *   sleeper gets back pages that have been idle for 10 s, as the
 *   pagedaemon's pool_drain gives them.
 *
 * 5 Debug features
 *   Always on: bad flags, align_offset, items larger than a page, the
 *   uninitialised or destroyed pool, a foreign pointer (wrong page, wrong pool
 *   id, no header), a pointer inside an item, a double put (bitmap bit already
 *   set; on a free list, the magic word confirmed by a walk of the page's free
 *   list, so a live item that happens to hold the word is not mistaken), a free
 *   item modified (magic or link broken) when it is handed out again, destroy
 *   with items out or a cache attached, a second drain hook, an IPL_NONE pool
 *   or PR_WAITOK in a signal handler, a custom allocator that fails a PR_WAITOK
 *   page.  A SANITY build checks the touched page after every get and
 *   put.  pool_chk(), pool_printit(), pool_whatis().
 *
 * 6 Differences from NetBSD
 *   - pool_sethiwat() sets a real ceiling, as the manual page says:
 *     pr_maxpages = ceil(n / itemsperpage) and idle pages above it go at
 *     once (NetBSD 1.284 stores the value and ignores it).
 *   - An interior pointer and a double put to a free-list pool are
 *     diagnosed on put (NetBSD frees the containing item or corrupts the
 *     list).  No redzones, no quarantine.
 *   - The drain hook after a failed PR_NOWAIT page allocation runs with
 *     the pool unlocked (NetBSD holds the lock).
 *   - PR_PSERIALIZE implies PR_NOTOUCH; its cross-CPU barrier has no
 *     meaning in a process without passive serialization, so none runs.
 *   - Off-page headers are in a treap (NetBSD: a splay tree); there are
 *     seven header pools, for 64 to 4096 items per page.
 *   - pool_subsystem_init() is optional: pool_init() and the functions
 *     that walk the pools or need a header pool run it (pthread_once).
 *   - pool_chk() reports every inconsistency by returning non-zero,
 *     bad magic words included (NetBSD panics on those).
 *   - pool_totalpages_locked() reads the counters without the list lock.
 *   - Hard-limit waits honour NBMEM_SLEEP_TIMEOUT.
 *   - The standard allocators serve the system page size; larger pages
 *     come from custom allocators (pool_cache(3) builds its own).
 *
 * 7 References
 *   NetBSD pool(9), pool_cache(9), sys/kern/subr_pool.c (1.284) and
 *   sys/sys/pool.h; J. Bonwick, "The Slab Allocator: An Object-Caching
 *   Kernel Memory Allocator", USENIX Summer 1994; C. Aragon and R.
 *   Seidel, "Randomized Search Trees", FOCS 1989 (treaps).
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>

#include "internal.h"
#include "lock.h"
#include "os/os.h"
#include "pool_impl.h"
#include "reclaim.h"

CTASSERT(sizeof(struct pool_impl) <= POOL_PRIVATE_SIZE);
CTASSERT(_Alignof(struct pool_impl) <= 64);
CTASSERT(POOL_PH_MAXITEMS == 64u << (POOL_NPHPOOL - 1));

/* align 0: the machine's natural alignment (NetBSD's ALIGN(1)). */
#define	POOL_ALIGN_DEFAULT	8u
/*
 * The smallest allocator page.  A page must hold an item, and a header
 * too when the header is on the page; pool_layout() checks both.  Small
 * pages exist for the quantum caches of vmem arenas, whose "pages" are
 * NetBSD's: the smallest power of two above 3 * qcache_max.
 */
#define	POOL_PAGESZ_MIN		16u
/* Hard-limit waits are cut into slices to check NBMEM_SLEEP_TIMEOUT. */
#define	POOL_WAIT_SLICE_NS	(1000ull * 1000 * 1000)

#define	PR_GETFLAGS	(PR_WAITOK | PR_NOWAIT | PR_LIMITFAIL | PR_ZERO)
#define	PR_INITFLAGS	(PR_PHINPAGE | PR_RECURSIVE | PR_NOTOUCH | \
			 PR_NOALIGN | PR_LARGECACHE | PR_PSERIALIZE)

#define	PHSIZE		sizeof(struct pool_item_header)

/* Every diagnostic starts so, followed by the function and the rule. */
#define	PMSG		"pool: pool \"%s\": "

TAILQ_HEAD(pool_head, pool_impl);

/* The pool list; pool_busy is signalled when a reference drops. */
static kmutex_t pool_head_lock = MUTEX_INITIALIZER(IPL_NONE);
static kcondvar_t pool_busy;
static struct pool_head pool_head = TAILQ_HEAD_INITIALIZER(pool_head);
static struct pool_impl *pool_drainpp;	/* last pool pool_drain() took */
static uint32_t pool_nextid;

static struct pool phpool[POOL_NPHPOOL];
static char phpool_names[POOL_NPHPOOL][16];
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static uint64_t (*pool_clockfn)(void);

static void pool_init1(struct pool *, size_t, unsigned int, int,
    const char *, struct pool_allocator *, int);

/* ---- small helpers */

uint64_t
nbmem_pool_clock(void)
{
	uint64_t (*fn)(void) = __atomic_load_n(&pool_clockfn,
	    __ATOMIC_ACQUIRE);

	return fn != NULL ? (*fn)() : nbmem_os_now_ns();
}

void
nbmem_pool_clock_set(uint64_t (*fn)(void))
{
	__atomic_store_n(&pool_clockfn, fn, __ATOMIC_RELEASE);
}

/* A page's idle stamp: the pool clock in milliseconds, modulo 2^32. */
static inline uint32_t
ph_clock(void)
{
	return (uint32_t)(nbmem_pool_clock() / 1000000);
}

/* A test's clock is in place: the decay thread stands aside. */
bool
nbmem_pool_clock_faked(void)
{
	return __atomic_load_n(&pool_clockfn, __ATOMIC_ACQUIRE) != NULL;
}

static inline bool
powerof2(size_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

static inline size_t
roundup2(size_t x, size_t a)	/* a: a power of two */
{
	return (x + a - 1) & ~(a - 1);
}

static void __noreturn __attribute__((__noinline__, __cold__))
pool_uninit(struct pool *pp, const char *call)
{
	nbmem_panic("pool: %p: %s: pool not initialised (never passed to "
	    "pool_init, or destroyed)", (void *)pp, call);
}

static inline struct pool_impl *
pool_check(struct pool *pp, const char *call)
{
	struct pool_impl *pi;

	if (__predict_false(pp == NULL))
		pool_uninit(pp, call);
	pi = pool_impl(pp);
	if (__predict_false(pi->pr_magic != POOL_MAGIC ||
	    pp->pr_itemsperpage == 0))
		pool_uninit(pp, call);
	return pi;
}

/*
 * pr_npages without the pool's lock (pool_drain and the reclaim hook
 * skip pools without pages); the lock holder stores it atomically.
 */
static inline unsigned int
pool_npages_peek(struct pool *pp)
{
	return __atomic_load_n(&pp->pr_npages, __ATOMIC_RELAXED);
}

/* ---- the page tree: a treap keyed by page address */

static inline uint64_t
ph_prio(const struct pool_item_header *ph)
{
	/* Fibonacci hashing: the high bits of the product look random. */
	return (uint64_t)(uintptr_t)ph->ph_page * 0x9e3779b97f4a7c15ull;
}

static struct pool_item_header *
phtree_insert(struct pool_item_header *root, struct pool_item_header *ph)
{
	struct pool_item_header *c;

	if (root == NULL) {
		ph->ph_left = ph->ph_right = NULL;
		return ph;
	}
	if (ph->ph_page < root->ph_page) {
		root->ph_left = phtree_insert(root->ph_left, ph);
		if (ph_prio(root->ph_left) > ph_prio(root)) {
			c = root->ph_left;
			root->ph_left = c->ph_right;
			c->ph_right = root;
			root = c;
		}
	} else {
		root->ph_right = phtree_insert(root->ph_right, ph);
		if (ph_prio(root->ph_right) > ph_prio(root)) {
			c = root->ph_right;
			root->ph_right = c->ph_left;
			c->ph_left = root;
			root = c;
		}
	}
	return root;
}

/* Join two treaps, every key of a below every key of b. */
static struct pool_item_header *
phtree_merge(struct pool_item_header *a, struct pool_item_header *b)
{
	if (a == NULL)
		return b;
	if (b == NULL)
		return a;
	if (ph_prio(a) > ph_prio(b)) {
		a->ph_right = phtree_merge(a->ph_right, b);
		return a;
	}
	b->ph_left = phtree_merge(a, b->ph_left);
	return b;
}

static struct pool_item_header *
phtree_remove(struct pool_item_header *root, struct pool_item_header *ph)
{
	if (root == ph)
		return phtree_merge(ph->ph_left, ph->ph_right);
	if (ph->ph_page < root->ph_page)
		root->ph_left = phtree_remove(root->ph_left, ph);
	else
		root->ph_right = phtree_remove(root->ph_right, ph);
	return root;
}

/* The header of the page starting at `page', or NULL. */
static struct pool_item_header *
phtree_find(struct pool_item_header *t, const char *page)
{
	while (t != NULL && t->ph_page != page)
		t = page < t->ph_page ? t->ph_left : t->ph_right;
	return t;
}

/* The header of the highest page starting at or below `va', or NULL. */
static struct pool_item_header *
phtree_floor(struct pool_item_header *t, const char *va)
{
	struct pool_item_header *best = NULL;

	while (t != NULL) {
		if (t->ph_page <= va) {
			best = t;
			t = t->ph_right;
		} else
			t = t->ph_left;
	}
	return best;
}

/* ---- header pools and start-up */

static unsigned int
phpool_index(unsigned int itemsperpage)
{
	unsigned int i = 0;

	while ((64u << i) < itemsperpage)
		i++;
	return i;
}

struct pool *
nbmem_pool_phpool(unsigned int itemsperpage)
{
	pool_subsystem_init();
	return &phpool[phpool_index(itemsperpage)];
}

static void pool_reclaim_cache(struct pool *, struct pool_impl *, uint64_t);
static void *pool_first_out_locked(struct pool *, struct pool_impl *);
static int pool_reclaim_pages(struct pool *, struct pool_impl *, uint64_t);
static bool pool_is_phpool(const struct pool_impl *);

/*
 * fn on every pool with pages or a cache, header pools aside, holding a
 * reference; on a decay pass (age not 0) only the library's own pools
 * (nbmem_pool_decay_enable).  A cache whose pool has no page may still
 * hold objects: one freed to the wrong kmem class, which its pool
 * refuses only when the cache empties into it.
 */
static void
pool_foreach_ref(void (*fn)(struct pool *, struct pool_impl *, uint64_t),
    uint64_t age)
{
	struct pool_impl *pi, *next;

	mutex_enter(&pool_head_lock);
	for (pi = TAILQ_FIRST(&pool_head); pi != NULL; pi = next) {
		if ((pool_npages_peek(pi->pr_pool) == 0 &&
		    pi->pr_pool->pr_cache == NULL) || pool_is_phpool(pi) ||
		    (age != 0 && !__atomic_load_n(&pi->pr_decay,
		    __ATOMIC_RELAXED))) {
			next = TAILQ_NEXT(pi, pr_poollist);
			continue;
		}
		pi->pr_refcnt++;
		mutex_exit(&pool_head_lock);
		(*fn)(pi->pr_pool, pi, age);
		mutex_enter(&pool_head_lock);
		next = TAILQ_NEXT(pi, pr_poollist);
		if (--pi->pr_refcnt == 0)
			cv_broadcast(&pool_busy);
	}
	mutex_exit(&pool_head_lock);
}

static void
pool_reclaim_pages1(struct pool *pp, struct pool_impl *pi, uint64_t age)
{
	(void)pool_reclaim_pages(pp, pi, age);
}

/*
 * The library's reclaim hook, in three rounds, so that what one pool's
 * reclaim frees into another is given back in the same pass: first the
 * caches (their groups go to "pcgnormal" and "pcglarge", their objects
 * to their pools), then the pages of every pool (off-page headers go to
 * the header pools), then the header pools, the largest bitmaps first
 * (phpool-64 holds the headers of the others' pages).  An urgent pass
 * (age 0) takes everything above the low-water marks; a decay pass only
 * what has been idle for `age'.
 */
static void
pool_reclaim_hook(void *arg)
{
	uint64_t age = nbmem_reclaim_age();

	(void)arg;
	pool_foreach_ref(pool_reclaim_cache, age);
	pool_foreach_ref(pool_reclaim_pages1, age);
	for (int i = POOL_NPHPOOL - 1; i >= 0; i--)
		(void)pool_reclaim_pages(&phpool[i], pool_impl(&phpool[i]),
		    age);
}

/*
 * The header pools: header items with bitmaps for 64 << i items, from
 * pool_allocator_meta at IPL_VM (usable under any pool's lock).  The
 * first has small items, so its own headers are on its pages and the
 * recursion stops there.
 */
static void
pool_subsystem_init1(void)
{
	for (unsigned int i = 0; i < POOL_NPHPOOL; i++) {
		size_t sz = PH_BITMAP_OFF + (64u << i) / 8;
		if (sz < PHSIZE)
			sz = PHSIZE;
		nbmem_snprintf(phpool_names[i], sizeof(phpool_names[i]),
		    "phpool-%u", 64u << i);
		pool_init1(&phpool[i], sz, 0, 0, phpool_names[i],
		    &pool_allocator_meta, IPL_VM);
	}
	VERIFY((phpool[0].pr_roflags & PR_PHINPAGE) != 0,
	    "pool: pool \"phpool-64\": header pool with off-page headers");
	VERIFY(nbmem_reclaim_hook_add_decay(pool_reclaim_hook, NULL) > 0,
	    "pool: cannot register the reclaim hook");
}

/*
 * NetBSD's boot calls this once, before the first pool.  Here every
 * entry point that needs the header pools calls it, so a program need
 * not; it may, from any thread, any number of times.  Not from a signal
 * handler, which could interrupt the first call.
 */
NBMEM_EXPORT void
pool_subsystem_init(void)
{
	pthread_once(&pool_once, pool_subsystem_init1);
}

/* ---- fork */

static bool
pool_is_phpool(const struct pool_impl *pi)
{
	return pi->pr_pool >= &phpool[0] &&
	    pi->pr_pool < &phpool[POOL_NPHPOOL];
}

/*
 * Before fork: the list lock, every pool but the header pools in list
 * order, then the header pools from the largest bitmap down (a pool's
 * lock is held while it takes a header, and phpool-N's while it takes
 * one of phpool-64's).  In the child no other thread grows a pool, waits
 * at a hard limit or holds a reference: a grow that was in flight in the
 * parent is forgotten (its page is lost to the child).
 */
static void
pool_fork(int phase)
{
	struct pool_impl *pi;

	if (phase == NBMEM_FORK_PREPARE) {
		mutex_enter(&pool_head_lock);
		TAILQ_FOREACH(pi, &pool_head, pr_poollist)
			if (!pool_is_phpool(pi))
				mutex_enter(&pi->pr_lock);
		for (int i = POOL_NPHPOOL - 1; i >= 0; i--)
			if (pool_impl(&phpool[i])->pr_magic == POOL_MAGIC)
				mutex_enter(&pool_impl(&phpool[i])->pr_lock);
		return;
	}
	TAILQ_FOREACH(pi, &pool_head, pr_poollist) {
		if (phase == NBMEM_FORK_CHILD) {
			pi->pr_pool->pr_flags &= ~(PR_GROWING |
			    PR_GROWINGNOWAIT | PR_WANTED);
			pi->pr_refcnt = 0;
		}
		mutex_exit(&pi->pr_lock);
	}
	mutex_exit(&pool_head_lock);
}

__attribute__((__constructor__(105)))
static void
pool_fork_init(void)
{
	nbmem_fork_hook_add(NBMEM_FORK_ORDER_POOL, pool_fork);
}

/* ---- pool_init */

/*
 * The first pool to use an allocator fixes its page size; so does the
 * first after the last one using it was destroyed, as in NetBSD, which
 * lets its owner change pa_pagesz in between.  The fields are written
 * only when they change: a pool still giving back its pages after its
 * pool_destroy() dropped the count reads them.
 */
static void
pool_allocator_attach(struct pool_allocator *pa, const char *wchan)
{
	mutex_enter(&pool_head_lock);
	if (pa->pa_refcnt == 0) {
		size_t sz = pa->pa_pagesz;
		if (sz == 0)
			sz = nbmem_os_pagesize();
		if (!powerof2(sz) || sz < POOL_PAGESZ_MIN ||
		    sz > UINT_MAX / 2 + 1) {
			mutex_exit(&pool_head_lock);
			nbmem_panic(PMSG "pool_init: allocator %p: "
			    "page size %zu is not a power of two in [%u, 2^31]",
			    wchan, (void *)pa, sz, POOL_PAGESZ_MIN);
		}
		VERIFY(pa->pa_alloc != NULL && pa->pa_free != NULL,
		    PMSG "pool_init: allocator %p has no "
		    "pa_alloc or pa_free", wchan, (void *)pa);
		if (pa->pa_pagesz != sz)
			pa->pa_pagesz = (unsigned int)sz;
		if (pa->pa_pagemask != ~(uintptr_t)(sz - 1)) {
			pa->pa_pagemask = ~(uintptr_t)(sz - 1);
			pa->pa_pageshift = (unsigned int)__builtin_ctzl(sz);
		}
	}
	pa->pa_refcnt++;
	mutex_exit(&pool_head_lock);
}

/* Spec 2.3's five rules: is the page header on the page? */
static bool
pool_init_is_phinpage(int flags, size_t size, size_t pagesz)
{
	if (flags & PR_PHINPAGE)
		return true;
	if (flags & (PR_NOTOUCH | PR_NOALIGN))
		return false;
	if (size < (pagesz / 16 < PHSIZE * 8 ? pagesz / 16 : PHSIZE * 8))
		return true;
	if (pagesz / size == (pagesz - PHSIZE) / size)
		return true;
	return false;
}

/* Lay out the pages; the allocator is attached. */
static void
pool_layout(struct pool *pp, struct pool_impl *pi, size_t size)
{
	size_t pagesz = pp->pr_alloc->pa_pagesz;
	size_t align = pp->pr_align;
	size_t phoff = 0, ipp, words;
	int flags = pp->pr_roflags;

	if (pool_init_is_phinpage(flags, size, pagesz)) {
		phoff = roundup2(PHSIZE, align);
		if (phoff >= pagesz || (pagesz - phoff) / size == 0) {
			VERIFY((flags & PR_PHINPAGE) == 0,
			    PMSG "pool_init: PR_PHINPAGE but no %zu-byte item "
			    "fits in a %zu-byte page after the header",
			    pp->pr_wchan, size, pagesz);
			phoff = 0;
		} else if (phoff > POOL_PH_MAXOFF &&
		    (flags & PR_PHINPAGE) == 0)
			/* The first item's offset would not fit in ph_off. */
			phoff = 0;
		else
			flags |= PR_PHINPAGE;
	}
	if (flags & PR_PHINPAGE) {
		ipp = (pagesz - phoff) / size;
		if (flags & PR_NOTOUCH) {
			/* Grow the header until its bitmap covers the page. */
			for (;;) {
				size_t need = roundup2(PH_BITMAP_OFF +
				    4 * ((ipp + 31) / 32), align);
				if (need <= phoff)
					break;
				phoff = need;
				VERIFY(phoff < pagesz &&
				    (pagesz - phoff) / size > 0,
				    PMSG "pool_init: no room for the "
				    "bitmap", pp->pr_wchan);
				ipp = (pagesz - phoff) / size;
			}
			flags |= PR_USEBMAP;
		} else if (ipp <= (phoff - PH_BITMAP_OFF) * 8)
			flags |= PR_USEBMAP;
	} else {
		ipp = pagesz / size;
		if (ipp > POOL_PH_MAXITEMS)
			nbmem_panic(PMSG "pool_init: %zu items per "
			    "page is more than an off-page bitmap covers (%u)",
			    pp->pr_wchan, ipp, POOL_PH_MAXITEMS);
		flags |= PR_USEBMAP;
		pi->pr_phpool = &phpool[phpool_index((unsigned int)ipp)];
	}
	words = (ipp + BITMAP_MASK) >> BITMAP_SHIFT;
	/* The header counts items and offsets in 16 bits, as NetBSD's. */
	VERIFY(ipp <= POOL_PH_MAXOFF,
	    PMSG "pool_init: %zu items of %zu bytes on a %zu-byte page: more "
	    "than a page header counts (%u)", pp->pr_wchan, ipp, size, pagesz,
	    (unsigned int)POOL_PH_MAXOFF);
	VERIFY(phoff <= POOL_PH_MAXOFF,
	    PMSG "pool_init: PR_PHINPAGE puts the first item at offset %zu, "
	    "more than a page header counts (%u)", pp->pr_wchan, phoff,
	    (unsigned int)POOL_PH_MAXOFF);
	pp->pr_roflags = flags;
	pp->pr_itemsperpage = (unsigned int)ipp;
	pi->pr_phoffset = (uint32_t)phoff;
	pi->pr_bitmapwords = (uint32_t)words;
	pi->pr_maxcolor = (uint32_t)((pagesz - phoff - ipp * size) &
	    ~(align - 1));
	/* Colours stop where the first item's offset would not fit. */
	if (phoff + pi->pr_maxcolor > POOL_PH_MAXOFF)
		pi->pr_maxcolor = (uint32_t)((POOL_PH_MAXOFF - phoff) &
		    ~(align - 1));
	pi->pr_curcolor = 0;
	pi->pr_pagesz = pagesz;
	pi->pr_pagemask = pp->pr_alloc->pa_pagemask;
}

/*
 * The key of a pool's page tags: its id spread over 32 bits (the
 * splitmix64 finalizer), so that one comparison of a page's tag with
 * (page address ^ key, low 32 bits) tells both "this is a page header"
 * and "of this pool", and stray bytes match it with odds of 2^-32.
 * pool_cache's put check relies on it (pool_cache.c); the pool's own
 * checks compare the page address and the id in full.
 */
static uint32_t
pool_phkey(uint32_t id)
{
	uint64_t z = (uint64_t)id + 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (uint32_t)(z ^ (z >> 31));
}

static void
pool_init1(struct pool *pp, size_t size, unsigned int align, int flags,
    const char *wchan, struct pool_allocator *palloc, int ipl)
{
	struct pool_impl *pi = pool_impl(pp), *it;

	if (pi->pr_magic == POOL_MAGIC) {
		mutex_enter(&pool_head_lock);
		TAILQ_FOREACH(it, &pool_head, pr_poollist)
			if (it == pi)
				nbmem_panic(PMSG "pool_init: %p is "
				    "already initialised (as \"%s\")", wchan,
				    (void *)pp, pp->pr_wchan);
		mutex_exit(&pool_head_lock);
	}
	if (palloc == NULL)
		palloc = &pool_allocator_kmem;
	pool_allocator_attach(palloc, wchan);

	memset(pp, 0, offsetof(struct pool, pr_private));
	memset(pi, 0, sizeof(*pi));
	if (flags & PR_PSERIALIZE)
		flags |= PR_NOTOUCH;
	if (align == 0)
		align = POOL_ALIGN_DEFAULT;
	pp->pr_wchan = wchan;
	pp->pr_reqsize = size;
	pp->pr_align = align;
	pp->pr_alloc = palloc;
	pp->pr_roflags = flags;
	pp->pr_ipl = ipl;
	pp->pr_maxitems = UINT_MAX;
	pp->pr_maxpages = UINT_MAX;
	pp->pr_hardlimit = UINT_MAX;

	size = roundup2(size, align);
	if ((flags & PR_NOTOUCH) == 0 && size < sizeof(struct pool_item))
		size = roundup2(sizeof(struct pool_item), align);
	if (__predict_false(nbmem_debug_flags != 0))
		pi->pr_debug = nbmem_pool_debug_init(pp, &size,
		    palloc->pa_pagesz, palloc);
	if (size > palloc->pa_pagesz) {
		palloc->pa_refcnt--;
		nbmem_panic(PMSG "pool_init: item size %zu (asked "
		    "%zu, align %u) is larger than the allocator's page "
		    "(%u bytes)", wchan, size, pp->pr_reqsize, align,
		    palloc->pa_pagesz);
	}
	pp->pr_size = size;
	pool_layout(pp, pi, size);

	mutex_init(&pi->pr_lock, ipl);
	cv_init(&pi->pr_cv);
	LIST_INIT(&pi->pr_emptypages);
	LIST_INIT(&pi->pr_partpages);
	LIST_INIT(&pi->pr_fullpages);
	pi->pr_pool = pp;
	pi->pr_poolid = __atomic_add_fetch(&pool_nextid, 1, __ATOMIC_RELAXED);
	pi->pr_phkey = pool_phkey(pi->pr_poolid);

	/* On the list, sorted by name. */
	mutex_enter(&pool_head_lock);
	TAILQ_FOREACH(it, &pool_head, pr_poollist)
		if (strcmp(it->pr_pool->pr_wchan, wchan) > 0)
			break;
	if (it != NULL)
		TAILQ_INSERT_BEFORE(it, pi, pr_poollist);
	else
		TAILQ_INSERT_TAIL(&pool_head, pi, pr_poollist);
	pi->pr_magic = POOL_MAGIC;
	mutex_exit(&pool_head_lock);
}

NBMEM_EXPORT void
pool_init(struct pool *pp, size_t size, unsigned int align,
    unsigned int align_offset, int flags, const char *wchan,
    struct pool_allocator *palloc, int ipl)
{
	VERIFY(pp != NULL && wchan != NULL,
	    "pool: pool_init: NULL %s", pp == NULL ? "pool" : "name");
	nbmem_intr_check_sleep("pool", wchan, "pool_init");
	if (__predict_false(align_offset != 0))
		nbmem_panic(PMSG "pool_init: align_offset %u must "
		    "be 0", wchan, align_offset);
	if (__predict_false(size == 0))
		nbmem_panic(PMSG "pool_init: size 0", wchan);
	if (__predict_false(align != 0 && !powerof2(align)))
		nbmem_panic(PMSG "pool_init: align %u is not a "
		    "power of two", wchan, align);
	if (__predict_false((flags & ~PR_INITFLAGS) != 0))
		nbmem_panic(PMSG "pool_init: bad flags %#x (unknown "
		    "%#x)", wchan, (unsigned int)flags,
		    (unsigned int)(flags & ~PR_INITFLAGS));
	if (__predict_false((flags & (PR_PHINPAGE | PR_NOALIGN)) ==
	    (PR_PHINPAGE | PR_NOALIGN)))
		nbmem_panic(PMSG "pool_init: bad flags %#x: "
		    "PR_PHINPAGE needs aligned pages (not PR_NOALIGN)", wchan,
		    (unsigned int)flags);
	if (__predict_false(ipl < IPL_NONE || ipl > IPL_HIGH))
		nbmem_panic(PMSG "pool_init: bad ipl %d", wchan, ipl);
	pool_subsystem_init();
	pool_init1(pp, size, align, flags, wchan, palloc, ipl);
}

/* ---- pages */

static inline void
pool_update_curpage(struct pool_impl *pi)
{
	struct pool_item_header *ph = LIST_FIRST(&pi->pr_partpages);

	pi->pr_curpage = ph != NULL ? ph : LIST_FIRST(&pi->pr_emptypages);
}

/* Make a fresh page ready; the lock is held. */
static void
pool_prime_page(struct pool *pp, struct pool_impl *pi, char *page,
    struct pool_item_header *ph)
{
	unsigned int ipp = pp->pr_itemsperpage;

	if (pp->pr_roflags & PR_PHINPAGE)
		ph = (struct pool_item_header *)(void *)page;
	ph->ph_page = page;
	ph->ph_time = ph_clock();
	if (pp->pr_roflags & PR_PHINPAGE) {
		ph->ph_poolid = pi->pr_poolid;
		ph->ph_tag = (uint32_t)(uintptr_t)page ^ pi->pr_phkey;
	}
	ph->ph_nmissing = 0;
	ph->ph_off = (uint16_t)(pi->pr_phoffset + pi->pr_curcolor);
	pi->pr_curcolor += pp->pr_align;
	if (pi->pr_curcolor > pi->pr_maxcolor)
		pi->pr_curcolor = 0;
	if ((pp->pr_roflags & PR_PHINPAGE) == 0)
		pi->pr_phtree = phtree_insert(pi->pr_phtree, ph);

	if (pp->pr_roflags & PR_USEBMAP) {
		unsigned int w, n = pi->pr_bitmapwords;
		for (w = 0; w < n; w++)
			ph->ph_bitmap[w] = ~(pool_item_bitmap_t)0;
		if (ipp & BITMAP_MASK)
			ph->ph_bitmap[n - 1] =
			    ((pool_item_bitmap_t)1 << (ipp & BITMAP_MASK)) - 1;
	} else {
		char *item = page + ph->ph_off;
		struct pool_item *prev = NULL;
		for (unsigned int i = 0; i < ipp; i++, item += pp->pr_size) {
			struct pool_item *it = (struct pool_item *)(void *)item;
			it->pi_magic = POOL_ITEM_MAGIC;
			it->pi_next = NULL;
			if (prev == NULL)
				ph->ph_freelist = it;
			else
				prev->pi_next = it;
			prev = it;
		}
	}
	if (__predict_false(pi->pr_debug != 0))
		nbmem_pool_debug_page(pp, page + ph->ph_off, ipp);
	if (pi->pr_prime_hook != NULL)
		(*pi->pr_prime_hook)(pp, page, ph->ph_off);
	LIST_INSERT_HEAD(&pi->pr_emptypages, ph, ph_pagelist);
	pp->pr_nitems += ipp;
	__atomic_store_n(&pp->pr_npages, pp->pr_npages + 1, __ATOMIC_RELAXED);
	pp->pr_nidle++;
	if (pp->pr_npages > pp->pr_hiwat)
		pp->pr_hiwat = pp->pr_npages;
	/*
	 * As NetBSD: the new page serves only a pool that had none to
	 * serve from; after pool_prime the first page primed is current.
	 */
	if (pi->pr_curpage == NULL)
		pi->pr_curpage = ph;
}

/* Take an empty page off the pool onto `pq'; the caller frees it. */
static void
pool_rmpage(struct pool *pp, struct pool_impl *pi,
    struct pool_item_header *ph, struct pool_pagelist *pq)
{
	LIST_REMOVE(ph, ph_pagelist);
	pp->pr_nidle--;
	pp->pr_nitems -= pp->pr_itemsperpage;
	__atomic_store_n(&pp->pr_npages, pp->pr_npages - 1, __ATOMIC_RELAXED);
	pp->pr_npagefree++;
	if ((pp->pr_roflags & PR_PHINPAGE) == 0)
		pi->pr_phtree = phtree_remove(pi->pr_phtree, ph);
	if (pi->pr_curpage == ph)
		pi->pr_curpage = NULL;
	LIST_INSERT_HEAD(pq, ph, ph_pagelist);
}

/*
 * Give the pages of `pq' back, with no pool lock held.  (PR_PSERIALIZE
 * would run its reader barrier here; see the theory block.)
 */
static void
pool_free_pages(struct pool *pp, struct pool_impl *pi,
    struct pool_pagelist *pq)
{
	struct pool_item_header *ph, *next;

	for (ph = LIST_FIRST(pq); ph != NULL; ph = next) {
		next = LIST_NEXT(ph, ph_pagelist);
		if (__predict_false(pi->pr_debug != 0))
			nbmem_pool_debug_release(pp, ph->ph_page);
		(*pp->pr_alloc->pa_free)(pp, ph->ph_page);
		if ((pp->pr_roflags & PR_PHINPAGE) == 0)
			pool_put(pi->pr_phpool, ph);
	}
}

/*
 * Release empty pages while the low-water marks allow:
 * POOL_RELEASE_IDLE only those idle for `age' (pool_reclaim: 10 s),
 * POOL_RELEASE_CEILING those above pr_maxpages (pool_sethiwat),
 * POOL_RELEASE_ALL every one (a reclaim pass under memory pressure).
 */
#define	POOL_RELEASE_IDLE	0
#define	POOL_RELEASE_CEILING	1
#define	POOL_RELEASE_ALL	2

static void
pool_release_empty(struct pool *pp, struct pool_impl *pi, int how,
    uint64_t age, struct pool_pagelist *pq)
{
	struct pool_item_header *ph, *next;
	uint32_t now = how == POOL_RELEASE_IDLE ? ph_clock() : 0, idle;
	/* Stamps are in whole milliseconds (NetBSD's: seconds). */
	uint64_t agems = age / 1000000;

	for (ph = LIST_FIRST(&pi->pr_emptypages); ph != NULL; ph = next) {
		next = LIST_NEXT(ph, ph_pagelist);
		if (pp->pr_npages <= pp->pr_minpages ||
		    pp->pr_nitems - pp->pr_itemsperpage < pp->pr_minitems)
			break;
		idle = now - ph->ph_time;
		/* A clock set back (a test's) leaves the page alone. */
		if (how == POOL_RELEASE_IDLE &&
		    (idle > INT32_MAX || idle < agems))
			continue;
		if (how == POOL_RELEASE_CEILING &&
		    pp->pr_npages <= pp->pr_maxpages)
			break;
		pool_rmpage(pp, pi, ph, pq);
	}
	pool_update_curpage(pi);
}

/*
 * Add a page.  The lock is held; PR_WAITOK drops it around the page
 * allocation.  0: a page was added; ERESTART: someone else grew the pool
 * (start over); EWOULDBLOCK: PR_NOWAIT while a sleeper grows; ENOMEM:
 * the PR_NOWAIT allocation failed.
 */
static int
pool_grow(struct pool *pp, struct pool_impl *pi, int flags)
{
	struct pool_item_header *ph = NULL;
	struct pool_allocator *pa = pp->pr_alloc;
	char *page;

	if (pp->pr_flags & PR_GROWING) {
		if (flags & PR_WAITOK) {
			do
				cv_timedwait_ns(&pi->pr_cv, &pi->pr_lock, 0);
			while (pp->pr_flags & PR_GROWING);
			return ERESTART;
		}
		return (pp->pr_flags & PR_GROWINGNOWAIT) ? ERESTART :
		    EWOULDBLOCK;
	}
	pp->pr_flags |= PR_GROWING;
	if (flags & PR_WAITOK)
		mutex_exit(&pi->pr_lock);
	else
		pp->pr_flags |= PR_GROWINGNOWAIT;

	page = (*pa->pa_alloc)(pp, flags & (PR_WAITOK | PR_NOWAIT));
	if (page != NULL) {
		if (__predict_false((pp->pr_roflags & PR_NOALIGN) == 0 &&
		    ((uintptr_t)page & ~pi->pr_pagemask) != 0))
			nbmem_panic(PMSG "allocator %p returned "
			    "unaligned page %p (page size %zu; use PR_NOALIGN)",
			    pp->pr_wchan, (void *)pa, (void *)page,
			    pi->pr_pagesz);
		if ((pp->pr_roflags & PR_PHINPAGE) == 0)
			ph = pool_get(pi->pr_phpool,
			    flags & (PR_WAITOK | PR_NOWAIT));
	}
	if (flags & PR_WAITOK)
		mutex_enter(&pi->pr_lock);
	pp->pr_flags &= ~(PR_GROWING | PR_GROWINGNOWAIT);
	cv_broadcast(&pi->pr_cv);
	if (page == NULL)
		return ENOMEM;
	if ((pp->pr_roflags & PR_PHINPAGE) == 0 && ph == NULL) {
		mutex_exit(&pi->pr_lock);
		(*pa->pa_free)(pp, page);
		mutex_enter(&pi->pr_lock);
		return ENOMEM;
	}
	pool_prime_page(pp, pi, page, ph);
	pp->pr_npagealloc++;
	return 0;
}

/* The drain hook, with the pool's lock dropped around it (NetBSD's too). */
static void
pool_call_drain_hook(struct pool *pp, struct pool_impl *pi, int flags)
{
	mutex_exit(&pi->pr_lock);
	(*pp->pr_drain_hook)(pp->pr_drain_hook_arg, flags);
	mutex_enter(&pi->pr_lock);
}

/*
 * Grow with PR_NOWAIT up to the low-water mark; failure is ignored.  A
 * page the allocator refuses runs the drain hook (PR_NOWAIT, the lock
 * dropped) and is asked for once more, as for a PR_NOWAIT get: NetBSD's
 * pool_allocator_alloc does so for every no-sleep page request.
 */
static void
pool_catchup(struct pool *pp, struct pool_impl *pi)
{
	bool retried = false;
	int error;

	while (pp->pr_nitems < pp->pr_minitems) {
		error = pool_grow(pp, pi, PR_NOWAIT);
		if (error == 0) {
			retried = false;
			continue;
		}
		if (error != ENOMEM || retried || pp->pr_drain_hook == NULL)
			break;
		retried = true;
		pool_call_drain_hook(pp, pi, PR_NOWAIT);
	}
}

/* ---- checking one page (pool_chk, SANITY builds) */

static int __attribute__((__cold__))
pool_chk_fail(struct pool *pp, const char *label,
    struct pool_item_header *ph, const char *what)
{
	nbmem_warn(PMSG "pool_chk(%s): page %p (header %p): %s",
	    pp->pr_wchan, label != NULL ? label : "", ph != NULL ?
	    (void *)ph->ph_page : NULL, (void *)ph, what);
	return 1;
}

static int
pool_chk_page(struct pool *pp, struct pool_impl *pi,
    struct pool_item_header *ph, const char *label)
{
	unsigned int ipp = pp->pr_itemsperpage, nfree = 0;
	char *page = ph->ph_page, *lo, *hi;

	if (pp->pr_roflags & PR_PHINPAGE) {
		if (page != (char *)ph)
			return pool_chk_fail(pp, label, ph,
			    "on-page header not at its page start");
		if (ph->ph_poolid != pi->pr_poolid)
			return pool_chk_fail(pp, label, ph, "wrong pool id");
	} else if (phtree_find(pi->pr_phtree, page) != ph)
		return pool_chk_fail(pp, label, ph, "not in the page tree");
	if ((pp->pr_roflags & PR_NOALIGN) == 0 &&
	    ((uintptr_t)page & ~pi->pr_pagemask) != 0)
		return pool_chk_fail(pp, label, ph, "page not aligned");
	if (ph->ph_off < pi->pr_phoffset ||
	    ph->ph_off > pi->pr_phoffset + pi->pr_maxcolor ||
	    (ph->ph_off & (pp->pr_align - 1)) != 0)
		return pool_chk_fail(pp, label, ph, "bad item offset");
	if (ph->ph_nmissing > ipp)
		return pool_chk_fail(pp, label, ph, "more items out than fit");
	lo = page + ph->ph_off;
	hi = lo + (size_t)ipp * pp->pr_size;
	if (pp->pr_roflags & PR_USEBMAP) {
		for (unsigned int w = 0; w < pi->pr_bitmapwords; w++) {
			pool_item_bitmap_t b = ph->ph_bitmap[w];
			if (w == pi->pr_bitmapwords - 1 &&
			    (ipp & BITMAP_MASK) != 0 &&
			    (b >> (ipp & BITMAP_MASK)) != 0)
				return pool_chk_fail(pp, label, ph,
				    "bitmap bit set beyond the last item");
			nfree += (unsigned int)__builtin_popcount(b);
		}
	} else {
		struct pool_item *it;
		for (it = ph->ph_freelist; it != NULL; it = it->pi_next) {
			char *c = (char *)it;
			if (c < lo || c >= hi ||
			    (size_t)(c - lo) % pp->pr_size != 0)
				return pool_chk_fail(pp, label, ph,
				    "free list link outside the item area "
				    "(modified after free)");
			if (it->pi_magic != POOL_ITEM_MAGIC)
				return pool_chk_fail(pp, label, ph,
				    "free item magic overwritten (modified "
				    "after free)");
			if (++nfree > ipp)
				return pool_chk_fail(pp, label, ph,
				    "free list loops");
		}
	}
	if (nfree != ipp - ph->ph_nmissing)
		return pool_chk_fail(pp, label, ph,
		    "free items disagree with ph_nmissing");
	return 0;
}

/* ---- pool_get / pool_put */

static void __noreturn __attribute__((__noinline__, __cold__))
pool_modified(struct pool *pp, struct pool_item_header *ph, void *item,
    const char *what)
{
	nbmem_panic(PMSG "pool_get: free item %p (%zu bytes) on page %p: "
	    "%s (modified after free)", pp->pr_wchan, item,
	    nbmem_pool_objsize(pp), (void *)ph->ph_page, what);
}

/* Take an item from the current page; the lock is held. */
static void *
pool_get_item(struct pool *pp, struct pool_impl *pi,
    struct pool_item_header *ph)
{
	unsigned int ipp = pp->pr_itemsperpage;
	char *item;

	if (pp->pr_roflags & PR_USEBMAP) {
		pool_item_bitmap_t *bm = ph->ph_bitmap;
		unsigned int w = 0, b;
		while (bm[w] == 0) {
			if (++w == pi->pr_bitmapwords)
				pool_modified(pp, ph, NULL,
				    "page has no free item but is current");
		}
		b = (unsigned int)__builtin_ctz(bm[w]);
		bm[w] &= ~((pool_item_bitmap_t)1 << b);
		item = ph->ph_page + ph->ph_off +
		    (size_t)((w << BITMAP_SHIFT) + b) * pp->pr_size;
	} else {
		struct pool_item *it = ph->ph_freelist;
		char *next, *lo;
		if (__predict_false(it == NULL))
			pool_modified(pp, ph, NULL,
			    "page has no free item but is current");
		if (__predict_false(it->pi_magic != POOL_ITEM_MAGIC))
			pool_modified(pp, ph, it, "magic word overwritten");
		/*
		 * A link outside the item area is caught here; a misplaced
		 * one inside it fails the magic test when it is reached.
		 */
		next = (char *)it->pi_next;
		lo = ph->ph_page + ph->ph_off;
		if (__predict_false(next != NULL && (next < lo ||
		    next >= lo + (size_t)ipp * pp->pr_size)))
			pool_modified(pp, ph, it, "free list link overwritten");
		ph->ph_freelist = it->pi_next;
		it->pi_magic = 0;
		item = (char *)it;
	}
	pp->pr_nitems--;
	pp->pr_nout++;
	if (ph->ph_nmissing++ == 0) {
		pp->pr_nidle--;
		LIST_REMOVE(ph, ph_pagelist);
		LIST_INSERT_HEAD(&pi->pr_partpages, ph, ph_pagelist);
	}
	if (ph->ph_nmissing == ipp) {
		LIST_REMOVE(ph, ph_pagelist);
		LIST_INSERT_HEAD(&pi->pr_fullpages, ph, ph_pagelist);
		pool_update_curpage(pi);
	} else
		pi->pr_curpage = ph;
	return item;
}

static void
pool_hardlimit_warn(struct pool *pp, struct pool_impl *pi)
{
	uint64_t now;

	if (pi->pr_hardlimit_warning == NULL)
		return;
	now = nbmem_pool_clock();
	if (pi->pr_hardlimit_once && now - pi->pr_hardlimit_warned <
	    (uint64_t)pi->pr_hardlimit_ratecap * 1000000000u)
		return;
	pi->pr_hardlimit_once = true;
	pi->pr_hardlimit_warned = now;
	nbmem_warn(PMSG "%s", pp->pr_wchan,
	    pi->pr_hardlimit_warning);
}

/* Sleep for the hard limit; the lock is held. */
static void
pool_wait_limit(struct pool *pp, struct pool_impl *pi, uint64_t *since)
{
	uint64_t limit = nbmem_options_sleep_timeout();

	if (*since == 0)
		*since = nbmem_os_now_ns();
	else if (limit != 0 && nbmem_os_now_ns() - *since >= limit)
		nbmem_panic(PMSG "pool_get: waited for the hard limit "
		    "(%u items) longer than NBMEM_SLEEP_TIMEOUT", pp->pr_wchan,
		    pp->pr_hardlimit);
	pp->pr_flags |= PR_WANTED;
	cv_timedwait_ns(&pi->pr_cv, &pi->pr_lock, POOL_WAIT_SLICE_NS);
}

static void
pool_sanity_page(struct pool *pp, struct pool_impl *pi,
    struct pool_item_header *ph, const char *call)
{
	if (pool_chk_page(pp, pi, ph, call) != 0)
		nbmem_panic(PMSG "%s: page %p inconsistent (SANITY)",
		    pp->pr_wchan, call, (void *)ph->ph_page);
}

void
nbmem_pool_decay_enable(struct pool *pp)
{
	struct pool_impl *pi = pool_impl(pp);

	mutex_enter(&pi->pr_lock);
	pi->pr_decay = true;
	mutex_exit(&pi->pr_lock);
}

/* The pool lock orders the store before the first page is primed. */
void
nbmem_pool_prime_hook_set(struct pool *pp,
    void (*fn)(struct pool *, char *, size_t))
{
	struct pool_impl *pi = pool_impl(pp);

	mutex_enter(&pi->pr_lock);
	pi->pr_prime_hook = fn;
	mutex_exit(&pi->pr_lock);
}

/*
 * More items for a pool cache that just took one with pool_get(): up to
 * n from the pages the pool already holds (never growing, never past
 * the hard limit), under one lock acquisition, consecutive in their
 * page.  A cache without a constructor fills its CPU slot with them, so
 * that two threads starting on empty slots do not get alternate items
 * of one cache line (pool_cache.c, pc_refill).
 */
unsigned int
nbmem_pool_get_more(struct pool *pp, void **objs, unsigned int n)
{
	struct pool_impl *pi = pool_impl(pp);
	struct pool_item_header *ph;
	unsigned int k = 0;

	if (pi->pr_debug != 0)
		return 0;
	mutex_enter(&pi->pr_lock);
	while (k < n && pp->pr_nout < pp->pr_hardlimit &&
	    (ph = pi->pr_curpage) != NULL) {
		objs[k++] = pool_get_item(pp, pi, ph);
		pp->pr_nget++;
		if (config_sanity)
			pool_sanity_page(pp, pi, ph, "pool_get");
	}
	if (__predict_false(pp->pr_nitems < pp->pr_minitems))
		pool_catchup(pp, pi);
	mutex_exit(&pi->pr_lock);
	return k;
}

NBMEM_EXPORT void *
pool_get(struct pool *pp, int flags)
{
	struct pool_impl *pi = pool_check(pp, "pool_get");
	struct pool_item_header *ph;
	uint64_t since = 0;
	bool retried = false;
	void *v;
	int error;

	if (__predict_false((flags & ~PR_GETFLAGS) != 0 ||
	    ((flags & PR_WAITOK) != 0) == ((flags & PR_NOWAIT) != 0)))
		nbmem_panic(PMSG "pool_get: bad flags %#x (exactly "
		    "one of PR_WAITOK and PR_NOWAIT, plus PR_LIMITFAIL or "
		    "PR_ZERO)", pp->pr_wchan, (unsigned int)flags);
	if (__predict_false(nbmem_intr_p())) {
		nbmem_intr_check_ipl(pp->pr_ipl, "pool", pp->pr_wchan,
		    "pool_get");
		if (flags & PR_WAITOK)
			nbmem_intr_check_sleep("pool", pp->pr_wchan,
			    "pool_get(PR_WAITOK)");
	}

	mutex_enter(&pi->pr_lock);
startover:
	if (__predict_false(pp->pr_nout >= pp->pr_hardlimit)) {
		if (pp->pr_drain_hook != NULL) {
			pool_call_drain_hook(pp, pi, flags);
			if (pp->pr_nout < pp->pr_hardlimit)
				goto startover;
		}
		if ((flags & (PR_WAITOK | PR_LIMITFAIL)) == PR_WAITOK) {
			pool_wait_limit(pp, pi, &since);
			goto startover;
		}
		pool_hardlimit_warn(pp, pi);
		pp->pr_nfail++;
		mutex_exit(&pi->pr_lock);
		return NULL;
	}
	ph = pi->pr_curpage;
	if (__predict_false(ph == NULL)) {
		error = pool_grow(pp, pi, flags);
		if (error == 0 || error == ERESTART ||
		    pi->pr_curpage != NULL)
			goto startover;
		if (__predict_false((flags & (PR_NOWAIT | PR_LIMITFAIL)) ==
		    0)) {
			/* Only a custom allocator fails a page that waits. */
			mutex_exit(&pi->pr_lock);
			nbmem_panic(PMSG "pool_get: allocator %p returned no "
			    "page (%u bytes) for PR_WAITOK (pa_alloc must not "
			    "fail when it may sleep)", pp->pr_wchan,
			    (void *)pp->pr_alloc, pp->pr_alloc->pa_pagesz);
		}
		if (error == ENOMEM && !retried && (flags & PR_NOWAIT) &&
		    pp->pr_drain_hook != NULL) {
			/* Ask the owner for items, then try once more. */
			retried = true;
			pool_call_drain_hook(pp, pi, flags);
			goto startover;
		}
		pp->pr_nfail++;
		mutex_exit(&pi->pr_lock);
		return NULL;
	}
	v = pool_get_item(pp, pi, ph);
	pp->pr_nget++;
	if (config_sanity)
		pool_sanity_page(pp, pi, ph, "pool_get");
	if (__predict_false(pp->pr_nitems < pp->pr_minitems))
		pool_catchup(pp, pi);
	mutex_exit(&pi->pr_lock);

	if (__predict_false(pi->pr_debug != 0))
		nbmem_pool_debug_get(pp, v);
	if (flags & PR_ZERO)
		memset(v, 0, pp->pr_reqsize);
	return v;
}

static void __noreturn __attribute__((__noinline__, __cold__))
pool_put_foreign(struct pool *pp, void *v, const char *why)
{
	nbmem_panic(PMSG "pool_put: %p: foreign pointer (%s); this pool's "
	    "items are %zu bytes%s", pp->pr_wchan, v, why,
	    nbmem_pool_objsize(pp),
	    nbmem_kmem_pool_p(pp) ? NBMEM_KMEM_HINT : "");
}

/* The page's header names another pool (NetBSD: "poolid %u != %u"). */
static void __noreturn __attribute__((__noinline__, __cold__))
pool_put_wrong_pool(struct pool *pp, struct pool_impl *pi, void *v,
    const struct pool_item_header *ph)
{
	char why[96];

	nbmem_snprintf(why, sizeof(why), "its page belongs to another pool "
	    "(pool id %u, not %u): wrong pool", ph->ph_poolid,
	    pi->pr_poolid);
	pool_put_foreign(pp, v, why);
}

/* The header of the page holding v; diagnoses foreign pointers. */
static struct pool_item_header *
pool_find_ph(struct pool *pp, struct pool_impl *pi, char *v)
{
	struct pool_item_header *ph;

	if (pp->pr_roflags & PR_PHINPAGE) {
		char *page = (char *)((uintptr_t)v & pi->pr_pagemask);
		ph = (struct pool_item_header *)(void *)page;
		if (__predict_false(ph->ph_page != page))
			pool_put_foreign(pp, v, "not on a page of any pool");
		if (__predict_false(ph->ph_poolid != pi->pr_poolid))
			pool_put_wrong_pool(pp, pi, v, ph);
		return ph;
	}
	if (pp->pr_roflags & PR_NOALIGN) {
		ph = phtree_floor(pi->pr_phtree, v);
		if (ph == NULL || v >= ph->ph_page + pi->pr_pagesz)
			pool_put_foreign(pp, v, "no page of this pool holds "
			    "it: page header missing");
		return ph;
	}
	ph = phtree_find(pi->pr_phtree,
	    (char *)((uintptr_t)v & pi->pr_pagemask));
	if (__predict_false(ph == NULL))
		pool_put_foreign(pp, v, "no page of this pool holds it: page "
		    "header missing");
	return ph;
}

static void __noreturn __attribute__((__noinline__, __cold__))
pool_double_put(struct pool *pp, void *v)
{
	nbmem_panic(PMSG "pool_put: %p: double free (the item of %zu "
	    "bytes is already free)", pp->pr_wchan, v,
	    nbmem_pool_objsize(pp));
}

/* Return an item; the lock is held.  Pages to free go on `pq'. */
static void
pool_put_locked(struct pool *pp, struct pool_impl *pi, char *v,
    struct pool_pagelist *pq)
{
	struct pool_item_header *ph = pool_find_ph(pp, pi, v);
	unsigned int ipp = pp->pr_itemsperpage;
	char *lo = ph->ph_page + ph->ph_off;
	size_t off, idx;

	if (__predict_false(v < lo))
		pool_put_foreign(pp, v, "below the item area of its page");
	off = (size_t)(v - lo);
	idx = off / pp->pr_size;
	if (__predict_false(idx >= ipp))
		pool_put_foreign(pp, v, "past the item area of its page");
	if (__predict_false(off % pp->pr_size != 0))
		nbmem_panic(PMSG "pool_put: %p: foreign pointer (not the "
		    "start of an item: item %p + %zu, size %u; wrong size or "
		    "interior pointer)", pp->pr_wchan, (void *)v, (void *)(v -
		    off % pp->pr_size), off % pp->pr_size, pp->pr_size);

	if (pp->pr_roflags & PR_USEBMAP) {
		pool_item_bitmap_t bit =
		    (pool_item_bitmap_t)1 << (idx & BITMAP_MASK);
		pool_item_bitmap_t *w = &ph->ph_bitmap[idx >> BITMAP_SHIFT];
		if (__predict_false(*w & bit))
			pool_double_put(pp, v);
		*w |= bit;
	} else {
		struct pool_item *it = (struct pool_item *)(void *)v;
		if (__predict_false(it->pi_magic == POOL_ITEM_MAGIC)) {
			/* Free, or a live item holding the word? Look. */
			struct pool_item *f;
			unsigned int n = 0;
			for (f = ph->ph_freelist; f != NULL && n <= ipp;
			    f = f->pi_next, n++)
				if (f == it)
					pool_double_put(pp, v);
		}
		it->pi_next = ph->ph_freelist;
		it->pi_magic = POOL_ITEM_MAGIC;
		ph->ph_freelist = it;
	}
	if (__predict_false(ph->ph_nmissing == 0 || pp->pr_nout == 0))
		pool_double_put(pp, v);
	if (__predict_false(pi->pr_debug != 0))
		nbmem_pool_debug_put(pp, v);

	ph->ph_nmissing--;
	pp->pr_nput++;
	pp->pr_nitems++;
	pp->pr_nout--;
	if (__predict_false(pp->pr_flags & PR_WANTED)) {
		pp->pr_flags &= ~PR_WANTED;
		cv_broadcast(&pi->pr_cv);
	}
	if (ph->ph_nmissing == 0) {
		pp->pr_nidle++;
		LIST_REMOVE(ph, ph_pagelist);
		LIST_INSERT_HEAD(&pi->pr_emptypages, ph, ph_pagelist);
		if (pp->pr_nitems - ipp >= pp->pr_minitems &&
		    pp->pr_npages > pp->pr_minpages &&
		    pp->pr_npages > pp->pr_maxpages)
			pool_rmpage(pp, pi, ph, pq);
		else {
			ph->ph_time = ph_clock();
			if (config_sanity)
				pool_sanity_page(pp, pi, ph, "pool_put");
		}
		pool_update_curpage(pi);
	} else {
		if (ph->ph_nmissing == ipp - 1) {
			/* Was full: make it current, to fill it first. */
			LIST_REMOVE(ph, ph_pagelist);
			LIST_INSERT_HEAD(&pi->pr_partpages, ph, ph_pagelist);
			pi->pr_curpage = ph;
		}
		if (config_sanity)
			pool_sanity_page(pp, pi, ph, "pool_put");
	}
	if (pi->pr_curpage == NULL)
		pool_update_curpage(pi);
}

NBMEM_EXPORT void
pool_put(struct pool *pp, void *v)
{
	struct pool_impl *pi = pool_check(pp, "pool_put");
	struct pool_pagelist pq;

	if (__predict_false(v == NULL))
		nbmem_panic(PMSG "pool_put: NULL pointer",
		    pp->pr_wchan);
	if (__predict_false(nbmem_intr_p()))
		nbmem_intr_check_ipl(pp->pr_ipl, "pool", pp->pr_wchan,
		    "pool_put");
	LIST_INIT(&pq);
	mutex_enter(&pi->pr_lock);
	pool_put_locked(pp, pi, v, &pq);
	mutex_exit(&pi->pr_lock);
	if (__predict_false(!LIST_EMPTY(&pq)))
		pool_free_pages(pp, pi, &pq);
}

/* ---- pool_destroy and the tuning calls */

NBMEM_EXPORT void
pool_destroy(struct pool *pp)
{
	struct pool_impl *pi = pool_check(pp, "pool_destroy");
	struct pool_pagelist pq;
	struct pool_item_header *ph;

	nbmem_intr_check_sleep("pool", pp->pr_wchan, "pool_destroy");
	if (__predict_false(pp->pr_cache != NULL))
		nbmem_panic(PMSG "pool_destroy: pool cache %p is "
		    "still attached", pp->pr_wchan, (void *)pp->pr_cache);
	mutex_enter(&pi->pr_lock);
	if (__predict_false(pp->pr_nout != 0))
		nbmem_panic(PMSG "pool_destroy: %u items (%zu bytes) still "
		    "out, the first at %p (pool %p)", pp->pr_wchan,
		    pp->pr_nout, (size_t)pp->pr_nout * nbmem_pool_objsize(pp),
		    pool_first_out_locked(pp, pi), (void *)pp);
	mutex_exit(&pi->pr_lock);

	mutex_enter(&pool_head_lock);
	while (pi->pr_refcnt != 0)
		cv_timedwait_ns(&pool_busy, &pool_head_lock, 0);
	if (pool_drainpp == pi)
		pool_drainpp = TAILQ_PREV(pi, pool_head, pr_poollist);
	TAILQ_REMOVE(&pool_head, pi, pr_poollist);
	pi->pr_magic = 0;
	pp->pr_alloc->pa_refcnt--;
	mutex_exit(&pool_head_lock);

	LIST_INIT(&pq);
	mutex_enter(&pi->pr_lock);
	while ((ph = LIST_FIRST(&pi->pr_emptypages)) != NULL)
		pool_rmpage(pp, pi, ph, &pq);
	VERIFY(LIST_EMPTY(&pi->pr_partpages) && LIST_EMPTY(&pi->pr_fullpages),
	    PMSG "pool_destroy: pages in use with no item out",
	    pp->pr_wchan);
	mutex_exit(&pi->pr_lock);
	pool_free_pages(pp, pi, &pq);
	mutex_destroy(&pi->pr_lock);
	cv_destroy(&pi->pr_cv);
	pp->pr_itemsperpage = 0;
}

NBMEM_EXPORT void
pool_set_drain_hook(struct pool *pp, void (*fn)(void *, int), void *arg)
{
	pool_check(pp, "pool_set_drain_hook");
	if (__predict_false(pp->pr_drain_hook != NULL))
		nbmem_panic(PMSG "pool_set_drain_hook: a drain hook "
		    "is already set (%p)", pp->pr_wchan,
		    (void *)(uintptr_t)pp->pr_drain_hook);
	pp->pr_drain_hook_arg = arg;
	__atomic_store_n(&pp->pr_drain_hook, fn, __ATOMIC_RELEASE);
}

/*
 * The count of pool_prime and the setters, which take the pool's lock:
 * from a handler, only at a pool above IPL_NONE, as pool_get.
 */
static unsigned int
pool_count_arg(struct pool *pp, int n, const char *call)
{
	if (__predict_false(nbmem_intr_p()))
		nbmem_intr_check_ipl(pp->pr_ipl, "pool", pp->pr_wchan, call);
	if (__predict_false(n < 0))
		nbmem_panic(PMSG "%s: negative count %d",
		    pp->pr_wchan, call, n);
	return (unsigned int)n;
}

static unsigned int
pool_pages_for(struct pool *pp, unsigned int n)	/* ceil(n / ipp) */
{
	return n / pp->pr_itemsperpage +
	    (n % pp->pr_itemsperpage != 0 ? 1 : 0);
}

NBMEM_EXPORT void
pool_prime(struct pool *pp, int n)
{
	struct pool_impl *pi = pool_check(pp, "pool_prime");
	unsigned int un = pool_count_arg(pp, n, "pool_prime");

	nbmem_intr_check_sleep("pool", pp->pr_wchan, "pool_prime");
	mutex_enter(&pi->pr_lock);
	pp->pr_minpages = pool_pages_for(pp, un);
	if (pp->pr_maxpages <= pp->pr_minpages)
		pp->pr_maxpages = pp->pr_minpages + 1;
	while (pp->pr_npages < pp->pr_minpages)
		(void)pool_grow(pp, pi, PR_WAITOK);
	mutex_exit(&pi->pr_lock);
}

NBMEM_EXPORT void
pool_setlowat(struct pool *pp, int n)
{
	struct pool_impl *pi = pool_check(pp, "pool_setlowat");
	unsigned int un = pool_count_arg(pp, n, "pool_setlowat");

	mutex_enter(&pi->pr_lock);
	pp->pr_minitems = un;
	pool_catchup(pp, pi);
	mutex_exit(&pi->pr_lock);
}

NBMEM_EXPORT void
pool_sethiwat(struct pool *pp, int n)
{
	struct pool_impl *pi = pool_check(pp, "pool_sethiwat");
	unsigned int un = pool_count_arg(pp, n, "pool_sethiwat");
	struct pool_pagelist pq;

	LIST_INIT(&pq);
	mutex_enter(&pi->pr_lock);
	pp->pr_maxitems = un;
	pp->pr_maxpages = pool_pages_for(pp, un);
	pool_release_empty(pp, pi, POOL_RELEASE_CEILING, 0, &pq);
	mutex_exit(&pi->pr_lock);
	pool_free_pages(pp, pi, &pq);
}

NBMEM_EXPORT void
pool_sethardlimit(struct pool *pp, int n, const char *warnmess, int ratecap)
{
	struct pool_impl *pi = pool_check(pp, "pool_sethardlimit");
	unsigned int un = pool_count_arg(pp, n, "pool_sethardlimit");

	mutex_enter(&pi->pr_lock);
	pp->pr_hardlimit = un;
	pi->pr_hardlimit_warning = warnmess;
	pi->pr_hardlimit_ratecap = ratecap < 0 ? 0 : (unsigned int)ratecap;
	pi->pr_hardlimit_warned = 0;
	pi->pr_hardlimit_once = false;
	pp->pr_maxpages = pool_pages_for(pp, un);
	mutex_exit(&pi->pr_lock);
}

/* ---- reclaim */

/*
 * pool_reclaim() keeps NetBSD's rule: only pages idle for 10 seconds go.
 * The library's reclaim pass (memory pressure, nbmem_reclaim()) is
 * urgent: a thread is waiting for memory now, so every empty page above
 * the low-water marks goes back, however recently it emptied.  A decay
 * pass (reclaim.h) applies the idle rule with its own age, empties a
 * cache when nothing was asked of it for that long, and otherwise trims
 * its depot to the full groups taken since the previous pass.
 */

/* Gets and puts of a cache, all layers; changes whenever it is used. */
static uint64_t
pool_cache_requests(struct pool *pp)
{
	struct pool_sysctl ps;

	memset(&ps, 0, sizeof(ps));
	nbmem_pool_cache_fill_sysctl(pp->pr_cache, &ps);
	return ps.pr_cache_nhit_pcpu + ps.pr_cache_nmiss_pcpu +
	    __atomic_load_n(&pp->pr_nget, __ATOMIC_RELAXED) +
	    __atomic_load_n(&pp->pr_nput, __ATOMIC_RELAXED);
}

static void
pool_reclaim_cache(struct pool *pp, struct pool_impl *pi, uint64_t age)
{
	void (*hook)(void *, int);

	if (age == 0) {
		hook = __atomic_load_n(&pp->pr_drain_hook, __ATOMIC_ACQUIRE);
		if (hook != NULL)
			(*hook)(pp->pr_drain_hook_arg, PR_NOWAIT);
		if (pp->pr_cache != NULL)
			nbmem_pool_cache_invalidate(pp->pr_cache);
		return;
	}
	if (pp->pr_cache == NULL)
		return;
	/* Decay passes are serialised: the two fields need no lock. */
	uint64_t nreq = pool_cache_requests(pp), now = nbmem_pool_clock();
	if (nreq != pi->pr_decay_nreq || pi->pr_decay_since == 0) {
		/* In use: only the depot's groups unused since last time. */
		if (pi->pr_decay_since != 0 &&
		    nbmem_pool_cache_decay(pp->pr_cache) != 0)
			nreq = pool_cache_requests(pp);
		pi->pr_decay_nreq = nreq;
		pi->pr_decay_since = now;
	} else if (now - pi->pr_decay_since >= age) {
		nbmem_pool_cache_invalidate(pp->pr_cache);
		/* The invalidation's puts are not the program's requests. */
		pi->pr_decay_nreq = pool_cache_requests(pp);
	}
}

/* Release empty pages: all above the low-water marks, or the idle ones. */
static int
pool_reclaim_pages(struct pool *pp, struct pool_impl *pi, uint64_t age)
{
	struct pool_pagelist pq;

	if (pi->pr_magic != POOL_MAGIC || !mutex_tryenter(&pi->pr_lock))
		return 0;
	LIST_INIT(&pq);
	pool_release_empty(pp, pi, age == 0 ? POOL_RELEASE_ALL :
	    POOL_RELEASE_IDLE, age, &pq);
	mutex_exit(&pi->pr_lock);
	if (LIST_EMPTY(&pq))
		return 0;
	pool_free_pages(pp, pi, &pq);
	return 1;
}

static int
pool_reclaim1(struct pool *pp, struct pool_impl *pi)
{
	pool_reclaim_cache(pp, pi, 0);
	return pool_reclaim_pages(pp, pi, POOL_INACTIVE_NS);
}

NBMEM_EXPORT int
pool_reclaim(struct pool *pp)
{
	struct pool_impl *pi = pool_check(pp, "pool_reclaim");

	nbmem_intr_check_sleep("pool", pp->pr_wchan, "pool_reclaim");
	return pool_reclaim1(pp, pi);
}

NBMEM_EXPORT bool
pool_drain(struct pool **ppp)
{
	struct pool_impl *pi, *start;
	bool reclaimed;

	nbmem_intr_check_sleep("pool", "pool_drain", "pool_drain");
	mutex_enter(&pool_head_lock);
	start = pool_drainpp != NULL ?
	    TAILQ_NEXT(pool_drainpp, pr_poollist) : NULL;
	if (start == NULL)
		start = TAILQ_FIRST(&pool_head);
	pi = start;
	while (pi != NULL && pool_npages_peek(pi->pr_pool) == 0) {
		pi = TAILQ_NEXT(pi, pr_poollist);
		if (pi == NULL)
			pi = TAILQ_FIRST(&pool_head);
		if (pi == start)
			pi = NULL;
	}
	if (pi == NULL) {
		mutex_exit(&pool_head_lock);
		if (ppp != NULL)
			*ppp = NULL;
		return false;
	}
	pi->pr_refcnt++;
	pool_drainpp = pi;
	mutex_exit(&pool_head_lock);

	reclaimed = pool_reclaim(pi->pr_pool) != 0;

	mutex_enter(&pool_head_lock);
	if (--pi->pr_refcnt == 0)
		cv_broadcast(&pool_busy);
	mutex_exit(&pool_head_lock);
	if (ppp != NULL)
		*ppp = pi->pr_pool;
	return reclaimed;
}

/* ---- counters and statistics */

static uint64_t
pool_bytes(struct pool *pp)
{
	uint64_t bytes = (uint64_t)pp->pr_npages * pp->pr_alloc->pa_pagesz;

	/* A recursive pool's items are other pools' pages. */
	if (pp->pr_roflags & PR_RECURSIVE)
		bytes -= (uint64_t)pp->pr_nout * pp->pr_size;
	return bytes;
}

NBMEM_EXPORT int
pool_totalpages_locked(void)
{
	struct pool_impl *pi;
	uint64_t total = 0;

	TAILQ_FOREACH(pi, &pool_head, pr_poollist)
		total += pool_bytes(pi->pr_pool);
	total /= nbmem_os_pagesize();
	return total > INT_MAX ? INT_MAX : (int)total;
}

NBMEM_EXPORT int
pool_totalpages(void)
{
	int n;

	mutex_enter(&pool_head_lock);
	n = pool_totalpages_locked();
	mutex_exit(&pool_head_lock);
	return n;
}

NBMEM_EXPORT unsigned int
pool_nget(struct pool *pp)
{
	pool_check(pp, "pool_nget");
	return (unsigned int)__atomic_load_n(&pp->pr_nget, __ATOMIC_RELAXED);
}

NBMEM_EXPORT unsigned int
pool_nput(struct pool *pp)
{
	pool_check(pp, "pool_nput");
	return (unsigned int)__atomic_load_n(&pp->pr_nput, __ATOMIC_RELAXED);
}

void
nbmem_pool_fill_sysctl(struct pool *pp, struct pool_sysctl *ps)
{
	struct pool_impl *pi = pool_check(pp, "nbmem_pool_sysctl");

	memset(ps, 0, sizeof(*ps));
	mutex_enter(&pi->pr_lock);
	strncpy(ps->pr_wchan, pp->pr_wchan, sizeof(ps->pr_wchan) - 1);
	ps->pr_flags = (uint64_t)(unsigned int)(pp->pr_roflags |
	    pp->pr_flags);
	ps->pr_size = pp->pr_size;
	ps->pr_pagesize = pp->pr_alloc->pa_pagesz;
	ps->pr_itemsperpage = pp->pr_itemsperpage;
	ps->pr_nitems = pp->pr_nitems;
	ps->pr_nout = pp->pr_nout;
	ps->pr_hardlimit = pp->pr_hardlimit;
	ps->pr_npages = pp->pr_npages;
	ps->pr_minpages = pp->pr_minpages;
	ps->pr_maxpages = pp->pr_maxpages;
	ps->pr_nget = pp->pr_nget;
	ps->pr_nfail = pp->pr_nfail;
	ps->pr_nput = pp->pr_nput;
	ps->pr_npagealloc = pp->pr_npagealloc;
	ps->pr_npagefree = pp->pr_npagefree;
	ps->pr_hiwat = pp->pr_hiwat;
	ps->pr_nidle = pp->pr_nidle;
	mutex_exit(&pi->pr_lock);
	if (pp->pr_cache == NULL)
		return;
	nbmem_pool_cache_fill_sysctl(pp->pr_cache, ps);
	/*
	 * NetBSD's record has said 0 here since its empty groups became
	 * shared by all caches; the depot's own empty groups are shown by
	 * pool_printit() only.
	 */
	ps->pr_cache_nempty = 0;
}

NBMEM_EXPORT size_t
nbmem_pool_sysctl(struct pool_sysctl *out, size_t n)
{
	struct pool_impl *pi, *next;
	size_t i = 0;

	/*
	 * Each pool is filled with the list lock dropped and a reference
	 * held (pool_destroy waits for it): the cache's part takes the
	 * cache's lock, which ranks before the pool list.
	 */
	pool_subsystem_init();
	mutex_enter(&pool_head_lock);
	for (pi = TAILQ_FIRST(&pool_head); pi != NULL; pi = next, i++) {
		if (out == NULL || i >= n) {
			next = TAILQ_NEXT(pi, pr_poollist);
			continue;
		}
		pi->pr_refcnt++;
		mutex_exit(&pool_head_lock);
		nbmem_pool_fill_sysctl(pi->pr_pool, &out[i]);
		mutex_enter(&pool_head_lock);
		next = TAILQ_NEXT(pi, pr_poollist);
		if (--pi->pr_refcnt == 0)
			cv_broadcast(&pool_busy);
	}
	mutex_exit(&pool_head_lock);
	return i;
}

/* ---- checking and printing */

NBMEM_EXPORT int
pool_chk(struct pool *pp, const char *label)
{
	struct pool_impl *pi = pool_check(pp, "pool_chk");
	struct pool_item_header *ph;
	unsigned int npages = 0, nidle = 0, nfree = 0;
	unsigned int ipp = pp->pr_itemsperpage;
	int r = 0;

	mutex_enter(&pi->pr_lock);
	LIST_FOREACH(ph, &pi->pr_emptypages, ph_pagelist) {
		if ((r = pool_chk_page(pp, pi, ph, label)) != 0)
			goto out;
		if (ph->ph_nmissing != 0) {
			r = pool_chk_fail(pp, label, ph,
			    "on the empty list with items out");
			goto out;
		}
		npages++, nidle++, nfree += ipp;
	}
	LIST_FOREACH(ph, &pi->pr_partpages, ph_pagelist) {
		if ((r = pool_chk_page(pp, pi, ph, label)) != 0)
			goto out;
		if (ph->ph_nmissing == 0 || ph->ph_nmissing == ipp) {
			r = pool_chk_fail(pp, label, ph,
			    "on the partial list but empty or full");
			goto out;
		}
		npages++, nfree += ipp - ph->ph_nmissing;
	}
	LIST_FOREACH(ph, &pi->pr_fullpages, ph_pagelist) {
		if ((r = pool_chk_page(pp, pi, ph, label)) != 0)
			goto out;
		if (ph->ph_nmissing != ipp) {
			r = pool_chk_fail(pp, label, ph,
			    "on the full list but not full");
			goto out;
		}
		npages++;
	}
	/* The first partial page, else an empty one (NULL: none). */
	ph = LIST_FIRST(&pi->pr_partpages);
	if (ph == NULL) {
		LIST_FOREACH(ph, &pi->pr_emptypages, ph_pagelist)
			if (ph == pi->pr_curpage)
				break;
		if (ph == NULL)
			ph = LIST_FIRST(&pi->pr_emptypages);
	}
	if (pi->pr_curpage != ph)
		r = pool_chk_fail(pp, label, pi->pr_curpage,
		    "current page is not the first partial page, nor an "
		    "empty one");
	else if (npages != pp->pr_npages || nidle != pp->pr_nidle ||
	    nfree != pp->pr_nitems)
		r = pool_chk_fail(pp, label, NULL,
		    "pr_npages, pr_nidle or pr_nitems disagree with the pages");
	else if (pp->pr_nout != npages * ipp - nfree)
		r = pool_chk_fail(pp, label, NULL,
		    "pr_nout disagrees with the pages");
	else if (pp->pr_npagealloc - pp->pr_npagefree != pp->pr_npages ||
	    pp->pr_hiwat < pp->pr_npages)
		r = pool_chk_fail(pp, label, NULL,
		    "page counters disagree (npagealloc, npagefree, hiwat)");
out:
	mutex_exit(&pi->pr_lock);
	return r;
}

typedef void (*pool_pr_t)(const char *, ...);

/*
 * One page list under NetBSD's title, when it has pages; with `items'
 * the free items of a free-list page, else only those whose mark was
 * overwritten (NetBSD lists those in DIAGNOSTIC kernels).
 */
static void
pool_print_pages(struct pool *pp, struct pool_pagelist *pl, const char *title,
    bool items, pool_pr_t pr)
{
	struct pool_item_header *ph;

	if (!LIST_EMPTY(pl))
		(*pr)("\n\t%s:\n", title);
	LIST_FOREACH(ph, pl, ph_pagelist) {
		(*pr)("\t\tpage %p, nmissing %u, time %u ms, header %p, off "
		    "%u\n", (void *)ph->ph_page, (unsigned int)ph->ph_nmissing,
		    (unsigned int)ph->ph_time, (void *)ph,
		    (unsigned int)ph->ph_off);
		if (pp->pr_roflags & PR_USEBMAP)
			continue;
		for (struct pool_item *it = ph->ph_freelist; it != NULL;
		    it = it->pi_next) {
			bool bad = it->pi_magic != POOL_ITEM_MAGIC;
			if (items || bad)
				(*pr)("\t\t\tfree item %p%s\n", (void *)it,
				    bad ? " (magic overwritten)" : "");
		}
	}
}

/*
 * NetBSD's pool_print1, line for line where it has the line: the
 * header (POOLCACHE for a cache's pool), the addresses, the marks and
 * counters; with 'p' the page lists; a blank line unless 'l'; for a
 * cache its layer counts, and with 'c' its full groups.  nbmem adds the
 * size asked, the state flags, the IPL, the page size and layout.
 */
NBMEM_EXPORT void
pool_printit(struct pool *pp, const char *modif, pool_pr_t pr)
{
	struct pool_impl *pi;
	bool log = false, pages = false, cache = false, brief = false;
	struct pool_cache *pc;

	/* ddb's "show pool" without an address, as NetBSD answers it. */
	if (pp == NULL) {
		(*pr)("Must specify a pool to print.\n");
		return;
	}
	pi = pool_check(pp, "pool_printit");
	for (; modif != NULL && *modif != '\0'; modif++) {
		switch (*modif) {
		case 'l': log = true; break;
		case 'p': pages = true; break;
		case 'c': cache = true; break;
		case 's': brief = true; break;
		case 'S': if (pp->pr_nget == 0) return; break;
		}
	}
	pc = __atomic_load_n(&pp->pr_cache, __ATOMIC_ACQUIRE);
	(*pr)("%s", pc != NULL ? "POOLCACHE" : "POOL");
	if (brief) {
		(*pr)(" %s:%p:%u:%u:%u:%u:%u:%lu:%lu:%lu:%lu:%lu\n",
		    pp->pr_wchan, (void *)pp, pp->pr_size, pp->pr_align,
		    pp->pr_npages, pp->pr_nitems, pp->pr_nout, pp->pr_nget,
		    pp->pr_nput, pp->pr_npagealloc, pp->pr_npagefree,
		    pp->pr_nidle);
		return;
	}
	(*pr)(" %s: size %u, align %u, ioff %u, roflags 0x%08x, flags "
	    "%#x, ipl %d, asked %zu\n", pp->pr_wchan, pp->pr_size,
	    pp->pr_align, pi->pr_phoffset, pp->pr_roflags, pp->pr_flags,
	    pp->pr_ipl, pp->pr_reqsize);
	(*pr)("\tpool %p, alloc %p, page size %u, header %s, %s\n",
	    (void *)pp, (void *)pp->pr_alloc, pp->pr_alloc->pa_pagesz,
	    (pp->pr_roflags & PR_PHINPAGE) ? "on page" : "off page",
	    (pp->pr_roflags & PR_USEBMAP) ? "bitmap" : "free list");
	(*pr)("\tminitems %u, minpages %u, maxpages %u, npages %u\n",
	    pp->pr_minitems, pp->pr_minpages, pp->pr_maxpages, pp->pr_npages);
	(*pr)("\titemsperpage %u, nitems %u, nout %u, hardlimit %u\n",
	    pp->pr_itemsperpage, pp->pr_nitems, pp->pr_nout,
	    pp->pr_hardlimit);
	(*pr)("\tnget %lu, nfail %lu, nput %lu\n", pp->pr_nget, pp->pr_nfail,
	    pp->pr_nput);
	(*pr)("\tnpagealloc %lu, npagefree %lu, hiwat %u, nidle %lu\n",
	    pp->pr_npagealloc, pp->pr_npagefree, pp->pr_hiwat, pp->pr_nidle);
	if (pages) {
		mutex_enter(&pi->pr_lock);
		pool_print_pages(pp, &pi->pr_emptypages, "empty page list",
		    log, pr);
		pool_print_pages(pp, &pi->pr_fullpages, "full page list",
		    log, pr);
		pool_print_pages(pp, &pi->pr_partpages, "partial-page list",
		    log, pr);
		if (pi->pr_curpage == NULL)
			(*pr)("\tno current page\n");
		else
			(*pr)("\tcurpage %p\n",
			    (void *)pi->pr_curpage->ph_page);
		mutex_exit(&pi->pr_lock);
	}
	if (!log)
		(*pr)("\n");
	if (pc == NULL)
		return;
	struct pool_sysctl ps;
	memset(&ps, 0, sizeof(ps));
	nbmem_pool_cache_fill_sysctl(pc, &ps);
	(*pr)("\tcpu layer hits %llu misses %llu\n",
	    (unsigned long long)ps.pr_cache_nhit_pcpu,
	    (unsigned long long)ps.pr_cache_nmiss_pcpu);
	(*pr)("\tcache layer hits %llu misses %llu\n",
	    (unsigned long long)ps.pr_cache_nhit_global,
	    (unsigned long long)ps.pr_cache_nmiss_global);
	(*pr)("\tcache layer full groups %llu\n",
	    (unsigned long long)ps.pr_cache_nfull);
	(*pr)("\tcache %p: group size %llu, partial groups %llu, empty "
	    "groups %llu\n", (void *)pc,
	    (unsigned long long)ps.pr_cache_meta_size,
	    (unsigned long long)ps.pr_cache_npartial,
	    (unsigned long long)ps.pr_cache_nempty);
	if (cache) {
		(*pr)("\tfull cache groups:\n");
		nbmem_pool_cache_print_groups(pc, pr);
	}
}

/*
 * Every pool, in order of name.  Each is printed with the list lock
 * dropped and a reference held (pool_destroy waits for it): a cache's
 * part takes the cache's locks, which rank before the pool list.
 */
NBMEM_EXPORT void
pool_printall(const char *modif, pool_pr_t pr)
{
	struct pool_impl *pi, *next;

	pool_subsystem_init();
	mutex_enter(&pool_head_lock);
	for (pi = TAILQ_FIRST(&pool_head); pi != NULL; pi = next) {
		pi->pr_refcnt++;
		mutex_exit(&pool_head_lock);
		pool_printit(pi->pr_pool, modif, pr);
		mutex_enter(&pool_head_lock);
		next = TAILQ_NEXT(pi, pr_poollist);
		if (--pi->pr_refcnt == 0)
			cv_broadcast(&pool_busy);
	}
	mutex_exit(&pool_head_lock);
}

static bool pool_item_free_p(struct pool *, struct pool_item_header *,
    size_t);

/* The first item out of pp, for a diagnostic (pr_lock held). */
static void *
pool_first_out_locked(struct pool *pp, struct pool_impl *pi)
{
	struct pool_item_header *ph;

	LIST_FOREACH(ph, &pi->pr_fullpages, ph_pagelist)
		return ph->ph_page + ph->ph_off;
	LIST_FOREACH(ph, &pi->pr_partpages, ph_pagelist)
		for (size_t i = 0; i < pp->pr_itemsperpage; i++)
			if (!pool_item_free_p(pp, ph, i))
				return ph->ph_page + ph->ph_off +
				    i * pp->pr_size;
	return NULL;
}

void *
nbmem_pool_first_out(struct pool *pp)
{
	struct pool_impl *pi = pool_impl(pp);
	void *p;

	mutex_enter(&pi->pr_lock);
	p = pool_first_out_locked(pp, pi);
	mutex_exit(&pi->pr_lock);
	return p;
}

/* Is the item at index idx of ph free?  The lock is held. */
static bool
pool_item_free_p(struct pool *pp, struct pool_item_header *ph, size_t idx)
{
	if (pp->pr_roflags & PR_USEBMAP)
		return (ph->ph_bitmap[idx >> BITMAP_SHIFT] >>
		    (idx & BITMAP_MASK)) & 1;
	char *item = ph->ph_page + ph->ph_off + idx * pp->pr_size;
	for (struct pool_item *it = ph->ph_freelist; it != NULL;
	    it = it->pi_next)
		if ((char *)it == item)
			return true;
	return false;
}

static bool
pool_whatis1(struct pool *pp, struct pool_impl *pi, struct pool_pagelist *pl,
    char *va, pool_pr_t pr)
{
	struct pool_item_header *ph;

	LIST_FOREACH(ph, pl, ph_pagelist) {
		char *lo = ph->ph_page + ph->ph_off;
		size_t idx;
		if (va < ph->ph_page || va >= ph->ph_page + pi->pr_pagesz)
			continue;
		if (va < lo || (idx = (size_t)(va - lo) / pp->pr_size) >=
		    pp->pr_itemsperpage) {
			(*pr)("%p is in a page of pool \"%s\" (page %p), "
			    "outside its items\n", (void *)va, pp->pr_wchan,
			    (void *)ph->ph_page);
			return true;
		}
		char *item = lo + idx * pp->pr_size, where[32];
		unsigned int cpu = 0;
		int w = PC_WHERE_NONE;
		bool isfree = pool_item_free_p(pp, ph, idx);

		/* NetBSD's words: free, cached by CPU n, cached, allocated. */
		if (!isfree && pp->pr_cache != NULL)
			w = nbmem_pool_cache_whatis(pp->pr_cache, item, &cpu);
		if (w == PC_WHERE_CPU)
			nbmem_snprintf(where, sizeof(where), "cached by CPU %u",
			    cpu);
		else
			nbmem_snprintf(where, sizeof(where), "%s", isfree ?
			    "free" : w == PC_WHERE_CACHED ? "cached" :
			    "allocated");
		(*pr)("%p is %p+%zu in POOL '%s' (%s)\n", (void *)va,
		    (void *)item, (size_t)(va - item), pp->pr_wchan, where);
		return true;
	}
	return false;
}

NBMEM_EXPORT void
pool_whatis(uintptr_t addr, pool_pr_t pr)
{
	struct pool_impl *pi;
	char *va = (char *)addr;
	bool found = false;

	pool_subsystem_init();
	mutex_enter(&pool_head_lock);
	TAILQ_FOREACH(pi, &pool_head, pr_poollist) {
		struct pool *pp = pi->pr_pool;
		mutex_enter(&pi->pr_lock);
		found = pool_whatis1(pp, pi, &pi->pr_emptypages, va, pr) ||
		    pool_whatis1(pp, pi, &pi->pr_partpages, va, pr) ||
		    pool_whatis1(pp, pi, &pi->pr_fullpages, va, pr);
		mutex_exit(&pi->pr_lock);
		if (found)
			break;
	}
	mutex_exit(&pool_head_lock);
}

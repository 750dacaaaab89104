/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * vmem.c: the vmem resource allocator.
 *
 * 1 Overview
 *   An arena hands out ranges of integers ("addresses") in multiples of
 *   its quantum: kernel-style address space, device windows, IDs.  vmem
 *   never touches the resource itself, only its own bookkeeping.  Ranges
 *   come from spans added with vmem_add() (static) or imported from a
 *   source arena or callback (released again once wholly free).
 *
 * 2 Data structures
 *   Boundary tags (vmem_impl.h) describe spans and segments.  All tags of
 *   an arena are on one doubly linked segment list: each span tag is
 *   followed by the free and busy segments that tile it, in address
 *   order.  A free segment of n quanta is also on free list floor(log2 n);
 *   a 64-bit map records which lists are non-empty, so the instant-fit
 *   search is one count-trailing-zeros, O(1) at any fragmentation.  A
 *   busy segment is on a chain of the allocated-segment hash, keyed by
 *   its start, so a free is O(1).  The hash starts with one bucket inside
 *   the arena and is resized inline when the load factor leaves [1/8, 2]
 *   (NetBSD resizes it from a periodic job instead, which
 *   vmem_rehash_start() starts; here that function does nothing).  Span
 *   tags are on a span list of their own through the same link field, so
 *   vmem_add() can refuse overlapping spans without walking segments.
 *
 * 3 Invariants (checked by nbmem_vmem_check(), after every operation in
 *   a SANITY build)
 *   - segments of a span tile it exactly, in address order;
 *   - no two free segments are adjacent (frees coalesce);
 *   - a free segment is on the list of floor(log2(quanta)), a busy one in
 *     the hash; vm_freemap bit k is set iff list k is non-empty;
 *   - vm_inuse is the sum of busy sizes, vm_size the sum of span sizes;
 *   - at least VMEM_BT_RESERVE spare tags are on hand before a split.
 *
 * 4 Locking
 *   One mutex per arena, at the arena's IPL: above IPL_NONE it is held
 *   with the asynchronous signals blocked (lock.h), which makes the
 *   no-sleep calls async-signal-safe.  Import and release callbacks run
 *   without it; nbmem_vmem_extend's ready callback with it (uvm_km
 *   commits a growth's pages there: a failed commit leaves nothing to
 *   undo, where undoing would need a tag).  Lock order: the list of all
 *   arenas, then an arena, then the global tag supply (vmem_bt.c).
 *   VM_SLEEP requests wait on the arena's condition variable; every free
 *   that reaches the segment layer and every vmem_add() wakes them.
 *   Before the first wait and every VMEM_KICK_NS after, a request runs a
 *   reclaim pass with the lock dropped, as NetBSD's kicks the pagedaemon
 *   (nbmem_reclaim_kick): the quantum caches hold the arena's space in
 *   free objects until a pass empties them.
 *   nbmem_vmem_stats() (nbmemstat -v) reads each arena with the list
 *   lock dropped, holding vm_statref, since its quantum caches' locks
 *   rank before the arenas; vmem_destroy() takes the arena off the list
 *   once vm_statref is 0, before anything else.  The statistics
 *   counters (vm_nalloc ... vm_nfreetag) change only under the arena's
 *   lock, never on the quantum caches' paths.
 *
 * 5 Debug features
 *   Argument checks and the "not allocated" / "wrong size" checks of
 *   vmem_xfree are always on: they cost a comparison or a hash miss.
 *   nbmem_vmem_check() walks the whole arena.  vmem_print(),
 *   vmem_printall() and vmem_whatis() dump arenas as NetBSD's ddb does.
 *
 * 6 Differences from NetBSD
 *   - VM_NEXTFIT (from illumos): cyclic allocation after the last one.
 *   - The hash grows and shrinks inline; instant fit uses a bitmap.
 *   - vmem_add() wakes sleepers; overlapping vmem_add() spans are
 *     diagnosed (NetBSD checks only under VMEM_SANITY).
 *   - Quantum caches (qcache_max) are pool caches built at creation
 *     (pool_cache.c), as in NetBSD; their pages are busy segments of the
 *     arena, so vmem_size(VMEM_ALLOC) counts what they hold.
 *   - VM_SLEEP waits may be bounded by NBMEM_SLEEP_TIMEOUT (a panic).
 *   - VM_BOOTSTRAP is accepted and has no effect.
 *   - vmem_subsystem_init() creates no arena: it runs the page layer's
 *     start-up, which has made kmem_arena and the arenas over it.
 *   - vmem_xalloc() of a range narrower than the size fails at once
 *     (NetBSD imports until refused, then sleeps); vmem_xalloc_addr()
 *     bounds the range with the rounded size (NetBSD's, with the size
 *     given, cannot be met by a size that is not a multiple of quantum).
 *
 * 7 References
 *   J. Bonwick and J. Adams, "Magazines and Vmem: Extending the Slab
 *   Allocator to Many CPUs and Arbitrary Resources", USENIX 2001.
 *   NetBSD vmem(9) and sys/kern/subr_vmem.c; illumos vmem.c (VM_NEXTFIT).
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "internal.h"
#include "os/os.h"
#include "pool_cache_impl.h"
#include "reclaim.h"
#include "stats_seg.h"
#include "vmem_impl.h"

CTASSERT(sizeof(struct vmem) <= VMEM_STORAGE_SIZE);
CTASSERT(sizeof(bt_t) <= VMEM_BTAG_STORAGE_SIZE && _Alignof(bt_t) <= 8);
CTASSERT(_Alignof(struct vmem) <= 64);
CTASSERT(sizeof(vmem_addr_t) == sizeof(vmem_size_t));

#define	VM_FITMASK	(VM_INSTANTFIT | VM_BESTFIT | VM_NEXTFIT)
#define	VM_SLEEPMASK	(VM_SLEEP | VM_NOSLEEP)

/*
 * Spare tags needed before a search: a split makes at most two new tags
 * (a leading fragment and the busy segment), a span import two (the span
 * and its free segment).  Refill in batches of VMEM_BT_BATCH; keep at
 * most VMEM_BT_MAX, returning VMEM_BT_BATCH at a time above it, so the
 * global supply is touched once per 16 operations at worst.
 */
#define	VMEM_BT_RESERVE	2
#define	VMEM_BT_BATCH	16
#define	VMEM_BT_MAX	64

/* Waits are cut in slices so that a lost wakeup costs at most this. */
#define	VMEM_WAIT_SLICE_NS	(1000ull * 1000 * 1000)
#define	VMEM_KICK_NS		VMEM_WAIT_SLICE_NS

/* Hash: resize when the load leaves [1/8, 2]; grow to load 1/2. */
#define	VMEM_HASH_MAXLOAD	2
#define	VMEM_HASH_MINSIZE	VMEM_HASH_INLINE

static kmutex_t vmem_list_lock = MUTEX_INITIALIZER(IPL_HIGH);
static kcondvar_t vmem_list_cv;		/* vm_statref dropped */
static vmem_t *vmem_list;

/* ---- small helpers */

static inline unsigned int
flsz(vmem_size_t n)		/* floor(log2(n)), n > 0 */
{
	return (unsigned int)(63 - __builtin_clzll((unsigned long long)n));
}

static inline bool
powerof2(vmem_size_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

static inline vmem_size_t
vmem_round(const vmem_t *vm, vmem_size_t size)
{
	return (size + vm->vm_quantum_mask) & ~vm->vm_quantum_mask;
}

static inline unsigned int
vmem_flist(const vmem_t *vm, vmem_size_t size)
{
	return flsz(size >> vm->vm_qshift);
}

/* ---- tag cache */

static bool
bt_refill(vmem_t *vm, unsigned int need)
{
	/* A VM_PRIVTAGS arena has only the tags vmem_add_bts() gave it. */
	if (vm->vm_flags & VM_PRIVTAGS)
		return vm->vm_nbtcache >= need;
	while (vm->vm_nbtcache < need) {
		unsigned int got;
		bt_t *chain = nbmem_bt_get(VMEM_BT_BATCH, &got);
		if (got == 0)
			return false;
		while (chain != NULL) {
			bt_t *next = chain->bt_fnext;
			chain->bt_fnext = vm->vm_btcache;
			vm->vm_btcache = chain;
			chain = next;
		}
		vm->vm_nbtcache += got;
	}
	return true;
}

static inline bt_t *
bt_alloc(vmem_t *vm)
{
	bt_t *bt = vm->vm_btcache;

	/* Callers reserve VMEM_BT_RESERVE first; checked in SANITY builds. */
	if (config_sanity)
		VERIFY(bt != NULL, "vmem: arena \"%s\": out of reserved "
		    "boundary tags", vm->vm_name);
	vm->vm_btcache = bt->bt_fnext;
	vm->vm_nbtcache--;
	return bt;
}

static inline void
bt_free(vmem_t *vm, bt_t *bt)
{
	bt->bt_type = BT_TYPE_SENTINEL;
	bt->bt_fnext = vm->vm_btcache;
	vm->vm_btcache = bt;
	vm->vm_nbtcache++;
}

static void
bt_trim(vmem_t *vm)
{
	if (__predict_true(vm->vm_nbtcache <= VMEM_BT_MAX) ||
	    (vm->vm_flags & VM_PRIVTAGS))
		return;
	bt_t *chain = vm->vm_btcache, *tail = chain;
	for (unsigned int i = 1; i < VMEM_BT_BATCH; i++)
		tail = tail->bt_fnext;
	vm->vm_btcache = tail->bt_fnext;
	vm->vm_nbtcache -= VMEM_BT_BATCH;
	tail->bt_fnext = NULL;
	nbmem_bt_put(chain, VMEM_BT_BATCH);
}

/* ---- segment list */

static inline void
seg_insert_after(bt_t *prev, bt_t *bt)
{
	bt->bt_prev = prev;
	bt->bt_next = prev->bt_next;
	prev->bt_next->bt_prev = bt;
	prev->bt_next = bt;
}

static inline void
seg_remove(vmem_t *vm, bt_t *bt)
{
	bt->bt_prev->bt_next = bt->bt_next;
	bt->bt_next->bt_prev = bt->bt_prev;
	if (__predict_false(vm->vm_rotor == bt)) {
		if (BT_SPAN_P(bt)) {
			/*
			 * The rotor's span goes (released): next fit goes on
			 * from the start of the span listed after it.
			 */
			vm->vm_rotor = bt->bt_next;
			vm->vm_rotor_addr = bt->bt_next->bt_start;
		} else
			vm->vm_rotor = bt->bt_prev;
	}
}

/* ---- free lists */

static inline void
freelist_insert(vmem_t *vm, bt_t *bt)
{
	unsigned int k = vmem_flist(vm, bt->bt_size);
	bt_t **head = &vm->vm_freelist[k];

	bt->bt_flist = (uint8_t)k;
	bt->bt_fnext = *head;
	if (*head != NULL)
		(*head)->bt_fprevp = &bt->bt_fnext;
	bt->bt_fprevp = head;
	*head = bt;
	vm->vm_freemap |= (uint64_t)1 << k;
	vm->vm_nfreetag++;
}

static inline void
freelist_remove(vmem_t *vm, bt_t *bt)
{
	if (bt->bt_fnext != NULL)
		bt->bt_fnext->bt_fprevp = bt->bt_fprevp;
	*bt->bt_fprevp = bt->bt_fnext;
	if (vm->vm_freelist[bt->bt_flist] == NULL)
		vm->vm_freemap &= ~((uint64_t)1 << bt->bt_flist);
	vm->vm_nfreetag--;
}

/* ---- allocated-segment hash */

static inline bt_t **
hash_bucket(const vmem_t *vm, vmem_addr_t addr)
{
	/*
	 * Fibonacci hashing (Knuth, TAOCP vol. 3, 6.4): the top bits of
	 * the product depend on every address bit, so the quantum's low
	 * zero bits need no shift first.
	 */
	uint64_t h = (uint64_t)addr * UINT64_C(0x9e3779b97f4a7c15);

	return &vm->vm_hashlist[(h >> vm->vm_hashshift) & vm->vm_hashmask];
}

static inline void
hash_limits(vmem_t *vm)
{
	size_t n = vm->vm_hashmask + 1;

	vm->vm_hashshift = 64 - (n > 1 ? flsz(n) : 1);
	vm->vm_hashgrow = VMEM_HASH_MAXLOAD * n;
	vm->vm_hashshrink = n > VMEM_HASH_MINSIZE ? n / 8 : 0;
}

static void
hash_resize(vmem_t *vm, size_t nbuckets)
{
	size_t oldsize = vm->vm_hashmask + 1;
	bt_t **oldlist = vm->vm_hashlist;
	bt_t **newlist;
	bt_t *all = NULL;

	if (nbuckets <= VMEM_HASH_INLINE) {
		nbuckets = VMEM_HASH_INLINE;
		newlist = vm->vm_hash0;
	} else {
		newlist = nbmem_os_map(nbuckets * sizeof(bt_t *), 0,
		    NBMEM_OS_PROT_RW, false);
		if (newlist == NULL)
			return;	/* keep the old table: slower, still right */
	}
	if (newlist == oldlist && nbuckets == oldsize)
		return;
	/* Unhook every busy tag into one chain, then rehash the chain. */
	for (size_t i = 0; i < oldsize; i++) {
		bt_t *bt = oldlist[i];
		while (bt != NULL) {
			bt_t *next = bt->bt_fnext;
			bt->bt_fnext = all;
			all = bt;
			bt = next;
		}
		oldlist[i] = NULL;
	}
	if (oldlist != vm->vm_hash0)
		nbmem_os_unmap(oldlist, oldsize * sizeof(bt_t *));
	vm->vm_hashlist = newlist;
	vm->vm_hashmask = nbuckets - 1;
	hash_limits(vm);
	for (size_t i = 0; i < nbuckets; i++)
		newlist[i] = NULL;
	while (all != NULL) {
		bt_t *next = all->bt_fnext;
		bt_t **b = hash_bucket(vm, all->bt_start);
		all->bt_fnext = *b;
		if (*b != NULL)
			(*b)->bt_fprevp = &all->bt_fnext;
		all->bt_fprevp = b;
		*b = all;
		all = next;
	}
}

static inline void
hash_insert(vmem_t *vm, bt_t *bt)
{
	bt_t **b = hash_bucket(vm, bt->bt_start);

	bt->bt_fnext = *b;
	if (*b != NULL)
		(*b)->bt_fprevp = &bt->bt_fnext;
	bt->bt_fprevp = b;
	*b = bt;
	vm->vm_nbusytag++;
	if (__predict_false(vm->vm_nbusytag > vm->vm_hashgrow))
		hash_resize(vm, (vm->vm_hashmask + 1) * 4);
}

static inline bt_t *
hash_lookup(vmem_t *vm, vmem_addr_t addr)
{
	bt_t *bt = *hash_bucket(vm, addr);

	while (bt != NULL && bt->bt_start != addr)
		bt = bt->bt_fnext;
	return bt;
}

static inline void
hash_remove(vmem_t *vm, bt_t *bt)
{
	if (bt->bt_fnext != NULL)
		bt->bt_fnext->bt_fprevp = bt->bt_fprevp;
	*bt->bt_fprevp = bt->bt_fnext;
	vm->vm_nbusytag--;
	if (__predict_false(vm->vm_nbusytag < vm->vm_hashshrink))
		hash_resize(vm, (vm->vm_hashmask + 1) / 4);
}

/*
 * NetBSD's boot calls this to start a callout that, every 10 seconds,
 * rebuilds each arena's hash to fit its recent peak of busy tags; its
 * hash never resizes otherwise.  Here hash_insert() and hash_remove()
 * resize the table when the load crosses its limits, so there is no job
 * to start.
 */
NBMEM_EXPORT void
vmem_rehash_start(void)
{
}

/* ---- spans */

static void
span_add_locked(vmem_t *vm, vmem_addr_t addr, vmem_size_t size, int type)
{
	bt_t *span = bt_alloc(vm), *seg = bt_alloc(vm);

	span->bt_start = addr;
	span->bt_size = size;
	span->bt_type = (uint8_t)type;
	seg->bt_start = addr;
	seg->bt_size = size;
	seg->bt_type = BT_TYPE_FREE;
	seg->bt_cookie = 0;
	seg_insert_after(vm->vm_seg.bt_prev, span);
	seg_insert_after(span, seg);
	span->bt_fnext = vm->vm_spans;
	if (vm->vm_spans != NULL)
		vm->vm_spans->bt_fprevp = &span->bt_fnext;
	span->bt_fprevp = &vm->vm_spans;
	vm->vm_spans = span;
	freelist_insert(vm, seg);
	vm->vm_size += size;
}

static void
span_remove_locked(vmem_t *vm, bt_t *span)
{
	if (span->bt_fnext != NULL)
		span->bt_fnext->bt_fprevp = span->bt_fprevp;
	*span->bt_fprevp = span->bt_fnext;
	seg_remove(vm, span);
	vm->vm_size -= span->bt_size;
	bt_free(vm, span);
}

/* ---- the fit test */

/*
 * Can [s, s + size) be placed in free segment bt under the constraints?
 * align is a power of two >= quantum, phase < align, nocross 0 or a
 * power of two >= size, minaddr <= maxaddr (both inclusive).  All
 * arithmetic is modular; a candidate that wraps is below the segment's
 * start and is refused, so a segment ending at VMEM_ADDR_MAX works.
 */
static inline bool
vmem_fit(const bt_t *bt, vmem_size_t size, vmem_size_t align,
    vmem_size_t phase, vmem_size_t nocross, vmem_addr_t minaddr,
    vmem_addr_t maxaddr, vmem_addr_t *addrp)
{
	vmem_addr_t start = bt->bt_start, end = BT_END(bt), s;

	if (start < minaddr)
		start = minaddr;
	if (end > maxaddr)
		end = maxaddr;
	if (start > end)
		return false;
	s = ((start - phase + align - 1) & ~(align - 1)) + phase;
	if (s < start)
		return false;
	if (nocross != 0 &&
	    ((s ^ (s + size - 1)) & ~(nocross - 1)) != 0) {
		vmem_addr_t t = ((s - phase + nocross - 1) &
		    ~(nocross - 1)) + phase;
		if (t < s)
			return false;
		s = t;
	}
	if (s > end || end - s < size - 1)
		return false;
	*addrp = s;
	return true;
}

/* ---- searches */

struct vmem_req {
	vmem_size_t	r_size;		/* rounded */
	vmem_size_t	r_align;	/* >= quantum */
	vmem_size_t	r_phase;
	vmem_size_t	r_nocross;
	vmem_addr_t	r_minaddr;
	vmem_addr_t	r_maxaddr;
	vm_flag_t	r_flags;
	bool		r_simple;	/* no constraint beyond the size */
};

static bt_t *
vmem_search_bestfit(vmem_t *vm, const struct vmem_req *r, unsigned int first,
    vmem_addr_t *addrp)
{
	uint64_t map = vm->vm_freemap & (~(uint64_t)0 << first);

	while (map != 0) {
		unsigned int k = (unsigned int)__builtin_ctzll(map);
		map &= map - 1;
		for (bt_t *bt = vm->vm_freelist[k]; bt != NULL;
		    bt = bt->bt_fnext) {
			if (bt->bt_size < r->r_size)
				continue;
			if (r->r_simple) {
				*addrp = bt->bt_start;
				return bt;
			}
			if (vmem_fit(bt, r->r_size, r->r_align, r->r_phase,
			    r->r_nocross, r->r_minaddr, r->r_maxaddr, addrp))
				return bt;
		}
	}
	return NULL;
}

/*
 * VM_NEXTFIT, as illumos: the first fit after the last allocation, in
 * the order of the segment list (spans in the order they came, each in
 * address order), round to the start, and back up to the last one.
 * The rotor is the address where the last allocation ended and a tag
 * at or below it in its span (vm_rotor, which moves to the previous
 * tag when its own goes, or to the next span when its span goes,
 * seg_remove): an address, so that freeing the last allocation, whose
 * tag then merges with its free neighbours, does not move it back, and
 * the range is not handed out again before the allocations have come
 * round to it.
 */
static bt_t *
vmem_search_nextfit(vmem_t *vm, const struct vmem_req *r,
    vmem_addr_t *addrp)
{
	vmem_addr_t rot = vm->vm_rotor_addr, lo;
	bt_t *end = &vm->vm_seg, *first = vm->vm_rotor, *bt;
	bool below = true, seen = false, whole = false;

	/* A tag split by another strategy may have moved up: go back. */
	while (first != end && !BT_SPAN_P(first) && first->bt_start > rot)
		first = first->bt_prev;
	if (first == end) {
		first = end->bt_next;
		below = false;
		whole = true;
	}
	/* The rest of the rotor's span from it up, then the spans after. */
	for (bt = first; bt != end; bt = bt->bt_next) {
		if (bt != first && BT_SPAN_P(bt))
			below = false;
		if (bt->bt_type != BT_TYPE_FREE || bt->bt_size < r->r_size)
			continue;
		lo = r->r_minaddr;
		if (below) {
			if (bt->bt_start + (bt->bt_size - 1) < rot)
				continue;
			if (lo < rot)
				lo = rot;
		}
		if (vmem_fit(bt, r->r_size, r->r_align, r->r_phase,
		    r->r_nocross, lo, r->r_maxaddr, addrp))
			return bt;
	}
	/*
	 * Only a walk from the start of the list has seen every tag: one
	 * from the first span's tag skipped that span's ranges below rot.
	 */
	if (whole)
		return NULL;
	/* Round: the spans before, then the rotor's span below it. */
	for (bt = end->bt_next; bt != end; bt = bt->bt_next) {
		if (seen && (BT_SPAN_P(bt) || bt->bt_start >= rot))
			break;
		seen |= bt == first;
		if (bt->bt_type == BT_TYPE_FREE && bt->bt_size >= r->r_size &&
		    vmem_fit(bt, r->r_size, r->r_align, r->r_phase,
		    r->r_nocross, r->r_minaddr, r->r_maxaddr, addrp))
			return bt;
	}
	return NULL;
}

static inline __attribute__((__always_inline__)) bt_t *
vmem_search(vmem_t *vm, const struct vmem_req *r, vmem_addr_t *addrp)
{
	vmem_size_t n = r->r_size >> vm->vm_qshift;
	unsigned int floor = flsz(n);

	switch (r->r_flags & VM_FITMASK) {
	case VM_INSTANTFIT: {
		/* Every segment from list ceil(log2 n) up is big enough. */
		unsigned int ceil = floor + ((n & (n - 1)) != 0);
		uint64_t map = ceil >= VMEM_MAXORDER ? 0 :
		    vm->vm_freemap & (~(uint64_t)0 << ceil);
		if (__predict_true(r->r_simple && map != 0)) {
			/* Any head will do: the O(1) case of the paper. */
			bt_t *bt = vm->vm_freelist[__builtin_ctzll(map)];
			*addrp = bt->bt_start;
			return bt;
		}
		while (map != 0) {
			unsigned int k = (unsigned int)__builtin_ctzll(map);
			bt_t *bt = vm->vm_freelist[k];
			if (vmem_fit(bt, r->r_size, r->r_align, r->r_phase,
			    r->r_nocross, r->r_minaddr, r->r_maxaddr, addrp))
				return bt;
			map &= map - 1;
		}
		/* Instant fit never fails where best fit succeeds. */
		break;
	}
	case VM_NEXTFIT: {
		struct vmem_req copy = *r;
		return vmem_search_nextfit(vm, &copy, addrp);
	}
	default:
		break;
	}
	/*
	 * Out of line with a copy of the request: its own address never
	 * escapes, so the compiler keeps vmem_alloc's constant fields out
	 * of memory on the fast path (seven stores a call).
	 */
	struct vmem_req copy = *r;
	return vmem_search_bestfit(vm, &copy, floor, addrp);
}

/*
 * Carve [addr, addr + size) out of free segment bt; return the new busy
 * tag.  Needs VMEM_BT_RESERVE spare tags.  As in NetBSD, the leading
 * fragment and then the remainder are filed at the head of their lists,
 * even the list bt was on, so the remainder comes first: which segment
 * heads a list decides what instant fit and best fit take next.
 */
static inline __attribute__((__always_inline__)) bt_t *
vmem_split(vmem_t *vm, bt_t *bt, vmem_addr_t addr, vmem_size_t size)
{
	bt_t *busy;

	freelist_remove(vm, bt);
	if (addr != bt->bt_start) {
		/* The leading fragment stays free as a new tag. */
		bt_t *lead = bt_alloc(vm);
		lead->bt_start = bt->bt_start;
		lead->bt_size = addr - bt->bt_start;
		lead->bt_type = BT_TYPE_FREE;
		seg_insert_after(bt->bt_prev, lead);
		freelist_insert(vm, lead);
		bt->bt_start = addr;
		bt->bt_size -= lead->bt_size;
	}
	if (bt->bt_size == size)
		busy = bt;
	else {
		/* The remainder keeps bt. */
		busy = bt_alloc(vm);
		busy->bt_start = addr;
		busy->bt_size = size;
		seg_insert_after(bt->bt_prev, busy);
		bt->bt_start += size;
		bt->bt_size -= size;
		freelist_insert(vm, bt);
	}
	busy->bt_type = BT_TYPE_BUSY;
	busy->bt_cookie = 0;
	hash_insert(vm, busy);
	vm->vm_inuse += size;
	vm->vm_nalloc++;
	return busy;
}

/* ---- waiting and importing */

struct vmem_wait {
	uint64_t	w_start;	/* when the first wait began */
	uint64_t	w_kick;		/* when it last ran a reclaim pass */
};

/*
 * Called with the lock held; drops it while it waits, or while it runs
 * a reclaim pass instead: the caller tries again either way.
 */
static void
vmem_sleep(vmem_t *vm, struct vmem_wait *w, const struct vmem_req *r,
    const char *call)
{
	uint64_t limit = nbmem_options_sleep_timeout();
	uint64_t now = nbmem_os_now_ns();

	if (w->w_start == 0)
		w->w_start = now;
	else if (limit != 0 && now - w->w_start >= limit)
		nbmem_panic("vmem: arena \"%s\": %s: VM_SLEEP request of "
		    "size %#zx waited longer than NBMEM_SLEEP_TIMEOUT "
		    "(%zu bytes free, %zu in use)", vm->vm_name, call,
		    r->r_size, vm->vm_size - vm->vm_inuse, vm->vm_inuse);
	if (w->w_kick == 0 || now - w->w_kick >= VMEM_KICK_NS) {
		w->w_kick = now;
		mutex_exit(&vm->vm_lock);
		nbmem_reclaim_kick();
		mutex_enter(&vm->vm_lock);
		return;
	}
	vm->vm_nwait++;
	vm->vm_nsleep++;
	cv_timedwait_ns(&vm->vm_cv, &vm->vm_lock,
	    limit != 0 && limit < VMEM_WAIT_SLICE_NS ? limit :
	    VMEM_WAIT_SLICE_NS);
	vm->vm_nwait--;
}

static inline void
vmem_wakeup(vmem_t *vm)
{
	if (vm->vm_nwait != 0)
		cv_broadcast(&vm->vm_cv);
}

/*
 * Import a span big enough for r from the source; called and returns
 * with the lock held, drops it around the callback.  The callback gets
 * the request's flags as given, as in NetBSD: the sleep and fit flags,
 * so vmem_alloc of a parent arena can serve as the import function
 * directly, and any other (VM_POPULATING), for the source to pass on.
 */
static int
vmem_import(vmem_t *vm, const struct vmem_req *r, vm_flag_t flags)
{
	vmem_size_t size = r->r_size;
	vmem_addr_t addr;
	int rc;

	if (vm->vm_importfn == NULL && vm->vm_ximportfn == NULL)
		return EINVAL;
	if (vm->vm_flags & VM_LARGEIMPORT) {
		if (size > VMEM_ADDR_MAX / 16)
			return ENOMEM;
		size *= 16;
	}
	mutex_exit(&vm->vm_lock);
	if (vm->vm_ximportfn != NULL)
		rc = (*vm->vm_ximportfn)(vm->vm_arg, size, &size, flags,
		    &addr);
	else
		rc = (*vm->vm_importfn)(vm->vm_arg, size, flags, &addr);
	mutex_enter(&vm->vm_lock);
	if (rc != 0)
		return ENOMEM;
	VERIFY(((addr | size) & vm->vm_quantum_mask) == 0 && size != 0 &&
	    size - 1 <= VMEM_ADDR_MAX - addr,
	    "vmem: arena \"%s\": import returned span %#zx size %#zx, not "
	    "a non-empty multiple of the quantum %#zx", vm->vm_name,
	    (size_t)addr, (size_t)size, (size_t)vm->vm_quantum_mask + 1);
	if (!bt_refill(vm, VMEM_BT_RESERVE)) {
		if (vm->vm_releasefn != NULL) {
			mutex_exit(&vm->vm_lock);
			(*vm->vm_releasefn)(vm->vm_arg, addr, size);
			mutex_enter(&vm->vm_lock);
		}
		return ENOMEM;
	}
	span_add_locked(vm, addr, size, BT_TYPE_SPAN);
	vm->vm_nimport++;
	return 0;
}

static int __attribute__((__noinline__))
vmem_xalloc_slow(vmem_t *vm, const struct vmem_req *r, const char *call,
    vmem_addr_t *addrp);

/* Found: carve the segment, drop the lock, hand out the address. */
static inline __attribute__((__always_inline__)) void
vmem_take(vmem_t *vm, const struct vmem_req *r, bt_t *bt, vmem_addr_t addr,
    vmem_addr_t *addrp)
{
	bt_t *busy = vmem_split(vm, bt, addr, r->r_size);

	if (r->r_flags & VM_NEXTFIT) {
		vm->vm_rotor = busy;
		vm->vm_rotor_addr = addr + r->r_size;
		/*
		 * At the top of the address space the end wraps to 0, which
		 * would put the rotor back at the start of its span: it is
		 * the start of the span listed next (busy is the last tag
		 * of its span), or the sentinel, the start of the list.
		 */
		if (__predict_false(vm->vm_rotor_addr == 0)) {
			vm->vm_rotor = busy->bt_next;
			vm->vm_rotor_addr = busy->bt_next->bt_start;
		}
	}
	if (config_sanity)
		nbmem_vmem_check(vm);
	mutex_exit(&vm->vm_lock);
	if (addrp != NULL)
		*addrp = addr;
}

/*
 * The allocation engine behind vmem_alloc, vmem_xalloc and
 * vmem_xalloc_addr.  The first attempt is inline: lock, search, split,
 * unlock.  Everything else (tag refills, imports, sleeping) is in
 * vmem_xalloc_slow(), out of line, which keeps the fast path's register
 * pressure and prologue small.
 */
static inline __attribute__((__always_inline__)) int
vmem_xalloc1(vmem_t *vm, const struct vmem_req *r, const char *call,
    vmem_addr_t *addrp)
{
	struct vmem_req copy;
	vmem_addr_t addr;
	bt_t *bt;

	mutex_enter(&vm->vm_lock);
	if (__predict_true(vm->vm_nbtcache >= VMEM_BT_RESERVE) &&
	    __predict_true((bt = vmem_search(vm, r, &addr)) != NULL)) {
		vmem_take(vm, r, bt, addr, addrp);
		return 0;
	}
	/*
	 * The slow path gets a copy: the request's own address never
	 * escapes, so the compiler keeps its fields out of memory on the
	 * fast path (vmem_alloc's constants cost no stores).
	 */
	copy = *r;
	return vmem_xalloc_slow(vm, &copy, call, addrp);
}

/*
 * Called with the lock held after a failed first attempt (or none);
 * returns with it released.  Constraints other than the address range
 * rule out import and sleep, as in NetBSD.  As NetBSD's, an instant-fit
 * request that found nothing is a best-fit one from then on: the search
 * after an import or a wait is best fit only (the import function still
 * gets the flags as given).
 */
static int __attribute__((__noinline__))
vmem_xalloc_slow(vmem_t *vm, const struct vmem_req *r0, const char *call,
    vmem_addr_t *addrp)
{
	struct vmem_req req = *r0, *r = &req;
	struct vmem_wait w = { 0 };
	vm_flag_t flags = r0->r_flags;
	bool constrained = !r->r_simple && (r->r_align !=
	    vm->vm_quantum_mask + 1 || r->r_phase != 0 || r->r_nocross != 0);
	vmem_addr_t addr;
	bt_t *bt;

	for (;;) {
		if (__predict_false(vm->vm_nbtcache < VMEM_BT_RESERVE) &&
		    !bt_refill(vm, VMEM_BT_RESERVE)) {
			if (flags & VM_NOSLEEP)
				break;
			vmem_sleep(vm, &w, r, call);
			continue;
		}
		bt = vmem_search(vm, r, &addr);
		if (bt != NULL) {
			vmem_take(vm, r, bt, addr, addrp);
			return 0;
		}
		if (r->r_flags & VM_INSTANTFIT)
			r->r_flags = (r->r_flags & ~VM_INSTANTFIT) | VM_BESTFIT;
		if (constrained)
			break;
		if (vmem_import(vm, r, flags) == 0)
			continue;
		if (flags & VM_NOSLEEP)
			break;
		vmem_sleep(vm, &w, r, call);
	}
	mutex_exit(&vm->vm_lock);
	return ENOMEM;
}

/* ---- argument checks */

static void __attribute__((__noinline__))
vmem_check_flags_slow(const vmem_t *vm, vm_flag_t flags, const char *call,
    bool fit)
{
	vm_flag_t sl = flags & VM_SLEEPMASK, ft = flags & VM_FITMASK;

	if (sl != VM_SLEEP && sl != VM_NOSLEEP)
		nbmem_panic("vmem: arena \"%s\": %s: flags %#x must carry "
		    "exactly one of VM_SLEEP and VM_NOSLEEP", vm->vm_name, call,
		    flags);
	if (fit && ft != VM_INSTANTFIT && ft != VM_BESTFIT &&
	    ft != VM_NEXTFIT)
		nbmem_panic("vmem: arena \"%s\": %s: flags %#x must carry "
		    "exactly one of VM_INSTANTFIT, VM_BESTFIT and VM_NEXTFIT",
		    vm->vm_name, call, flags);
	if (nbmem_intr_p()) {
		nbmem_intr_check_ipl(vm->vm_ipl, "vmem", vm->vm_name, call);
		if (sl == VM_SLEEP)
			nbmem_intr_check_sleep("vmem", vm->vm_name, call);
	}
}

/*
 * The sleep flags (bits 0 and 1) and the fit flags (bits 12 to 14) as
 * one 5-bit key; VMEM_FLAGS_OK has a bit for each valid key: exactly
 * one sleep flag and, where a strategy is asked for, exactly one fit
 * flag.  One shift and test instead of a test for each rule.
 */
#define	VMEM_FLAGS_KEY(f)	(((f) & VM_SLEEPMASK) | (((f) >> 10) & 0x1c))
#define	VMEM_SLEEP_OK		((1u << VM_SLEEP) | (1u << VM_NOSLEEP))
#define	VMEM_FLAGS_OK		(VMEM_SLEEP_OK << 4 | VMEM_SLEEP_OK << 8 | \
				    VMEM_SLEEP_OK << 16)
CTASSERT(VM_SLEEPMASK == 0x3 && VM_INSTANTFIT == 0x1000 &&
    VM_BESTFIT == 0x2000 && VM_NEXTFIT == 0x4000);

/* Exactly one sleep flag, one fit flag; interrupt-context rules. */
static inline void
vmem_check_flags(const vmem_t *vm, vm_flag_t flags, const char *call,
    bool fit)
{
	bool ok = fit ? (VMEM_FLAGS_OK >> VMEM_FLAGS_KEY(flags)) & 1 :
	    (VMEM_SLEEP_OK >> (flags & VM_SLEEPMASK)) & 1;

	if (__predict_false(!ok || nbmem_intr_p()))
		vmem_check_flags_slow(vm, flags, call, fit);
}

/* ---- allocation */

static void __attribute__((__noinline__, __cold__, __noreturn__))
vmem_alloc_badsize(vmem_t *vm, vmem_size_t size)
{
	if (size == 0)
		nbmem_panic("vmem: arena \"%s\": vmem_alloc: size 0",
		    vm->vm_name);
	nbmem_panic("vmem: arena \"%s\": vmem_alloc: size %#zx overflows "
	    "when rounded to the quantum", vm->vm_name, size);
}

NBMEM_EXPORT int
vmem_alloc(vmem_t *vm, vmem_size_t size, vm_flag_t flags, vmem_addr_t *addrp)
{
	struct vmem_req r;

	vmem_check_flags(vm, flags, "vmem_alloc", true);
	r.r_size = vmem_round(vm, size);
	/* One test for both: size 0, and a size that wraps when rounded. */
	if (__predict_false(size - 1 >= r.r_size))
		vmem_alloc_badsize(vm, size);
	if (r.r_size <= vm->vm_qcache_max)	/* the strategy is ignored */
		return nbmem_vmem_qcache_alloc(vm->vm_qcache, r.r_size, flags,
		    addrp);
	r.r_align = vm->vm_quantum_mask + 1;
	r.r_phase = 0;
	r.r_nocross = 0;
	r.r_minaddr = VMEM_ADDR_MIN;
	r.r_maxaddr = VMEM_ADDR_MAX;
	r.r_flags = flags;
	r.r_simple = true;
	return vmem_xalloc1(vm, &r, "vmem_alloc", addrp);
}

NBMEM_EXPORT int
vmem_xalloc(vmem_t *vm, vmem_size_t size0, vmem_size_t align,
    vmem_size_t phase, vmem_size_t nocross, vmem_addr_t minaddr,
    vmem_addr_t maxaddr, vm_flag_t flags, vmem_addr_t *addrp)
{
	const char *n = vm->vm_name;
	vmem_size_t quantum = vm->vm_quantum_mask + 1;
	struct vmem_req r;

	vmem_check_flags(vm, flags, "vmem_xalloc", true);
	VERIFY(size0 != 0, "vmem: arena \"%s\": vmem_xalloc: size 0", n);
	vmem_size_t size = vmem_round(vm, size0);
	VERIFY(size >= size0, "vmem: arena \"%s\": vmem_xalloc: size %#zx "
	    "overflows when rounded to the quantum", n, size0);
	if (align == 0) {
		VERIFY(phase == 0, "vmem: arena \"%s\": vmem_xalloc: phase "
		    "%#zx without an alignment", n, phase);
		align = quantum;
	}
	VERIFY(powerof2(align), "vmem: arena \"%s\": vmem_xalloc: align "
	    "%#zx is not a power of two", n, align);
	VERIFY((align & vm->vm_quantum_mask) == 0, "vmem: arena \"%s\": "
	    "vmem_xalloc: align %#zx is not a multiple of the quantum %#zx",
	    n, align, quantum);
	VERIFY((phase & vm->vm_quantum_mask) == 0, "vmem: arena \"%s\": "
	    "vmem_xalloc: phase %#zx is not a multiple of the quantum %#zx",
	    n, phase, quantum);
	VERIFY(phase < align, "vmem: arena \"%s\": vmem_xalloc: phase %#zx "
	    "is not below align %#zx", n, phase, align);
	if (nocross != 0) {
		VERIFY(powerof2(nocross), "vmem: arena \"%s\": vmem_xalloc: "
		    "nocross %#zx is not a power of two", n, nocross);
		VERIFY((nocross & vm->vm_quantum_mask) == 0, "vmem: arena "
		    "\"%s\": vmem_xalloc: nocross %#zx is not a multiple of "
		    "the quantum %#zx", n, nocross, quantum);
		VERIFY(nocross >= size, "vmem: arena \"%s\": vmem_xalloc: "
		    "nocross %#zx is below size %#zx", n, nocross, size);
		VERIFY(((phase ^ (phase + size - 1)) & ~(nocross - 1)) == 0,
		    "vmem: arena \"%s\": vmem_xalloc: phase %#zx + size %#zx "
		    "crosses nocross %#zx", n, phase, size, nocross);
	}
	VERIFY(minaddr <= maxaddr, "vmem: arena \"%s\": vmem_xalloc: "
	    "minaddr %#zx is above maxaddr %#zx", n, (size_t)minaddr,
	    (size_t)maxaddr);
	r.r_size = size;
	r.r_align = align;
	r.r_phase = phase;
	r.r_nocross = nocross;
	r.r_minaddr = minaddr;
	r.r_maxaddr = maxaddr;
	r.r_flags = flags;
	r.r_simple = align == quantum && phase == 0 && nocross == 0 &&
	    minaddr == VMEM_ADDR_MIN && maxaddr == VMEM_ADDR_MAX;
	/* A range narrower than the request can never be met. */
	if (maxaddr - minaddr < size - 1)
		return ENOMEM;
	return vmem_xalloc1(vm, &r, "vmem_xalloc", addrp);
}

NBMEM_EXPORT int
vmem_xalloc_addr(vmem_t *vm, vmem_addr_t addr, vmem_size_t size0,
    vm_flag_t flags)
{
	struct vmem_req r;
	vmem_addr_t got;
	int rc;

	flags = (flags & ~VM_FITMASK) | VM_BESTFIT;
	vmem_check_flags(vm, flags, "vmem_xalloc_addr", true);
	VERIFY(size0 != 0, "vmem: arena \"%s\": vmem_xalloc_addr: size 0",
	    vm->vm_name);
	VERIFY((addr & vm->vm_quantum_mask) == 0, "vmem: arena \"%s\": "
	    "vmem_xalloc_addr: address %#zx (size %#zx) is not a multiple "
	    "of the quantum %#zx", vm->vm_name, (size_t)addr, size0,
	    (size_t)vm->vm_quantum_mask + 1);
	vmem_size_t size = vmem_round(vm, size0);
	VERIFY(size >= size0 && size - 1 <= VMEM_ADDR_MAX - addr,
	    "vmem: arena \"%s\": vmem_xalloc_addr: range %#zx size %#zx "
	    "wraps around", vm->vm_name, (size_t)addr, size0);
	r.r_size = size;
	r.r_align = vm->vm_quantum_mask + 1;
	r.r_phase = 0;
	r.r_nocross = 0;
	r.r_minaddr = addr;
	r.r_maxaddr = addr + size - 1;
	r.r_flags = flags;
	r.r_simple = false;
	rc = vmem_xalloc1(vm, &r, "vmem_xalloc_addr", &got);
	if (rc == 0)
		VERIFY(got == addr, "vmem: arena \"%s\": vmem_xalloc_addr: "
		    "placed at %#zx instead of %#zx", vm->vm_name,
		    (size_t)got, (size_t)addr);
	return rc;
}

/* ---- free */

static void __attribute__((__noinline__, __cold__, __noreturn__))
vmem_free_panic(vmem_t *vm, const char *call, vmem_addr_t addr,
    vmem_size_t size0, const bt_t *bt)
{
	vmem_size_t rec = bt != NULL ? bt->bt_size : 0;

	mutex_exit(&vm->vm_lock);
	if (bt == NULL)
		nbmem_panic("vmem: arena \"%s\": %s: %#zx (size %#zx) was "
		    "never allocated or is already freed (double free)",
		    vm->vm_name, call, (size_t)addr, size0);
	nbmem_panic("vmem: arena \"%s\": %s: %#zx freed with size %#zx but "
	    "allocated with size %#zx (wrong size)", vm->vm_name, call,
	    (size_t)addr, size0, rec);
}

/*
 * Free a busy segment: coalesce with free neighbours, release a wholly
 * free imported span.  Called and returns with the lock held (dropped
 * around the release callback).  Returns the segment's cookie.  A free
 * neighbour absorbs the freed segment; the joined segment is filed at
 * the head of its list, as NetBSD files it, even when its list is the
 * one the neighbour was on.
 */
static inline __attribute__((__always_inline__)) unsigned int
vmem_xfree1(vmem_t *vm, vmem_addr_t addr, vmem_size_t size0,
    const char *call)
{
	vmem_size_t size = vmem_round(vm, size0);
	bt_t *bt, *f, *prev, *next;

	bt = hash_lookup(vm, addr);
	if (__predict_false(bt == NULL || bt->bt_size != size))
		vmem_free_panic(vm, call, addr, size0, bt);
	unsigned int cookie = bt->bt_cookie;
	hash_remove(vm, bt);
	vm->vm_inuse -= size;
	vm->vm_nfree++;

	prev = bt->bt_prev;
	next = bt->bt_next;
	if (next->bt_type == BT_TYPE_FREE) {
		freelist_remove(vm, next);
		if (prev->bt_type == BT_TYPE_FREE) {
			freelist_remove(vm, prev);
			prev->bt_size += size + next->bt_size;
			seg_remove(vm, next);
			bt_free(vm, next);
			f = prev;
		} else {
			next->bt_start = bt->bt_start;
			next->bt_size += size;
			f = next;
		}
		seg_remove(vm, bt);
		bt_free(vm, bt);
	} else if (prev->bt_type == BT_TYPE_FREE) {
		freelist_remove(vm, prev);
		prev->bt_size += size;
		seg_remove(vm, bt);
		bt_free(vm, bt);
		f = prev;
	} else {
		bt->bt_type = BT_TYPE_FREE;
		f = bt;
	}

	bt_t *span = f->bt_prev;
	if (span->bt_type == BT_TYPE_SPAN && span->bt_size == f->bt_size &&
	    vm->vm_releasefn != NULL) {
		vmem_addr_t spanaddr = span->bt_start;
		vmem_size_t spansize = span->bt_size;
		seg_remove(vm, f);
		bt_free(vm, f);
		span_remove_locked(vm, span);
		vm->vm_nrelease++;
		vmem_wakeup(vm);
		bt_trim(vm);
		mutex_exit(&vm->vm_lock);
		(*vm->vm_releasefn)(vm->vm_arg, spanaddr, spansize);
		mutex_enter(&vm->vm_lock);
		return cookie;
	}
	freelist_insert(vm, f);
	vmem_wakeup(vm);
	bt_trim(vm);
	return cookie;
}

static inline void
vmem_check_free(vmem_t *vm, vmem_addr_t addr, vmem_size_t size,
    const char *call)
{
	VERIFY(size != 0, "vmem: arena \"%s\": %s: %#zx with size 0",
	    vm->vm_name, call, (size_t)addr);
	VERIFY((addr & vm->vm_quantum_mask) == 0, "vmem: arena \"%s\": %s: "
	    "address %#zx (size %#zx) is not a multiple of the quantum %#zx "
	    "(misaligned free)", vm->vm_name, call, (size_t)addr, size,
	    (size_t)vm->vm_quantum_mask + 1);
	if (__predict_false(nbmem_intr_p()))
		nbmem_intr_check_ipl(vm->vm_ipl, "vmem", vm->vm_name, call);
}

static inline __attribute__((__always_inline__)) void
vmem_free_common(vmem_t *vm, vmem_addr_t addr, vmem_size_t size,
    const char *call)
{
	vmem_check_free(vm, addr, size, call);
	mutex_enter(&vm->vm_lock);
	(void)vmem_xfree1(vm, addr, size, call);
	if (config_sanity)
		nbmem_vmem_check(vm);
	mutex_exit(&vm->vm_lock);
}

NBMEM_EXPORT void
vmem_xfree(vmem_t *vm, vmem_addr_t addr, vmem_size_t size)
{
	vmem_free_common(vm, addr, size, "vmem_xfree");
}

/* Sizes up to qcache_max go back to their quantum cache. */
NBMEM_EXPORT void
vmem_free(vmem_t *vm, vmem_addr_t addr, vmem_size_t size)
{
	if (size - 1 < vm->vm_qcache_max) {	/* size 0 wraps: not here */
		vmem_check_free(vm, addr, size, "vmem_free");
		nbmem_vmem_qcache_free(vm->vm_qcache, addr,
		    vmem_round(vm, size));
		return;
	}
	vmem_free_common(vm, addr, size, "vmem_free");
}

unsigned int
nbmem_vmem_xfree_cookie(vmem_t *vm, vmem_addr_t addr, vmem_size_t size,
    const char *call)
{
	unsigned int cookie;

	vmem_check_free(vm, addr, size, call);
	mutex_enter(&vm->vm_lock);
	cookie = vmem_xfree1(vm, addr, size, call);
	mutex_exit(&vm->vm_lock);
	return cookie;
}

void
nbmem_vmem_cookie_set(vmem_t *vm, vmem_addr_t addr, unsigned int cookie)
{
	mutex_enter(&vm->vm_lock);
	bt_t *bt = hash_lookup(vm, addr);
	VERIFY(bt != NULL, "vmem: arena \"%s\": %#zx is not allocated",
	    vm->vm_name, (size_t)addr);
	bt->bt_cookie = (uint8_t)cookie;
	mutex_exit(&vm->vm_lock);
}

/*
 * The busy segment [addr, addr + size) of the private operations below
 * (lock held); a panic when there is none of that size.
 */
static bt_t *
busy_lookup(vmem_t *vm, vmem_addr_t addr, vmem_size_t size,
    const char *call)
{
	bt_t *bt = hash_lookup(vm, addr);

	if (__predict_false(bt == NULL || bt->bt_size != size))
		vmem_free_panic(vm, call, addr, size, bt);
	return bt;
}

/*
 * Split the busy segment [addr, addr + size) at addr + at into two busy
 * segments, [addr, addr + at) and [addr + at, addr + size), each freed
 * on its own afterwards (the malloc family's large cache hands out the
 * front of a cached range and keeps the rest).  Returns 0, or ENOMEM
 * when no boundary tag could be had.
 */
int
nbmem_vmem_split(vmem_t *vm, vmem_addr_t addr, vmem_size_t size,
    vmem_size_t at)
{
	bt_t *bt, *nb;

	VERIFY(at != 0 && at < size && (at & vm->vm_quantum_mask) == 0,
	    "vmem: arena \"%s\": split of %#zx (size %#zx) at %#zx: not "
	    "inside the segment on a quantum boundary", vm->vm_name,
	    (size_t)addr, size, at);
	mutex_enter(&vm->vm_lock);
	bt = busy_lookup(vm, addr, size, "nbmem_vmem_split");
	if (!bt_refill(vm, VMEM_BT_RESERVE)) {
		mutex_exit(&vm->vm_lock);
		return ENOMEM;
	}
	nb = bt_alloc(vm);
	nb->bt_start = addr + at;
	nb->bt_size = size - at;
	nb->bt_type = BT_TYPE_BUSY;
	nb->bt_cookie = bt->bt_cookie;
	bt->bt_size = at;
	seg_insert_after(bt, nb);
	hash_insert(vm, nb);
	vm->vm_nalloc++;
	if (config_sanity)
		nbmem_vmem_check(vm);
	mutex_exit(&vm->vm_lock);
	return 0;
}

/*
 * Join the busy segments [addr, addr + size) and [addr + size, addr +
 * size + size2), neighbours in one span, into one busy segment (the
 * reverse of nbmem_vmem_split).  Returns 0, or EINVAL, changing
 * nothing, when they are not two such segments.
 */
int
nbmem_vmem_join(vmem_t *vm, vmem_addr_t addr, vmem_size_t size,
    vmem_size_t size2)
{
	bt_t *a, *b;

	mutex_enter(&vm->vm_lock);
	a = hash_lookup(vm, addr);
	if (a == NULL || a->bt_size != size || a->bt_next->bt_type !=
	    BT_TYPE_BUSY || a->bt_next->bt_start != addr + size ||
	    a->bt_next->bt_size != size2) {
		mutex_exit(&vm->vm_lock);
		return EINVAL;
	}
	b = a->bt_next;
	hash_remove(vm, b);
	seg_remove(vm, b);
	bt_free(vm, b);
	a->bt_size += size2;
	vm->vm_nfree++;
	bt_trim(vm);
	if (config_sanity)
		nbmem_vmem_check(vm);
	mutex_exit(&vm->vm_lock);
	return 0;
}

/*
 * Grow the busy segment [addr, addr + size) by the next extra bytes when
 * they are free in the same span (the malloc family's realloc grows a
 * large block in place, as mremap(2) grows a mapping): no import, no
 * sleep, no tag needed.  ready, if not NULL, is called with the arena
 * locked once the bytes are found free, before they are taken, to make
 * them usable (uvm_km commits their pages): a growth it refuses leaves
 * nothing to undo (undoing one would need a tag, which may not be had).
 * Returns 0, ENOMEM when the bytes are not free, or ready's error; on
 * an error nothing changed.
 */
int
nbmem_vmem_extend(vmem_t *vm, vmem_addr_t addr, vmem_size_t size,
    vmem_size_t extra, nbmem_vmem_ready_t *ready, void *arg)
{
	bt_t *bt, *f;
	int error;

	VERIFY(extra != 0 && (extra & vm->vm_quantum_mask) == 0,
	    "vmem: arena \"%s\": growth of %#zx (size %#zx) by %#zx: not a "
	    "multiple of the quantum", vm->vm_name, (size_t)addr, size,
	    extra);
	mutex_enter(&vm->vm_lock);
	bt = busy_lookup(vm, addr, size, "nbmem_vmem_extend");
	f = bt->bt_next;
	if (f->bt_type != BT_TYPE_FREE || f->bt_size < extra) {
		mutex_exit(&vm->vm_lock);
		return ENOMEM;
	}
	if (ready != NULL && (error = (*ready)(arg, addr + size, extra)) != 0) {
		mutex_exit(&vm->vm_lock);
		return error;
	}
	freelist_remove(vm, f);
	if (f->bt_size == extra) {
		seg_remove(vm, f);
		bt_free(vm, f);
	} else {
		f->bt_start += extra;
		f->bt_size -= extra;
		freelist_insert(vm, f);
	}
	bt->bt_size += extra;
	vm->vm_inuse += extra;
	if (config_sanity)
		nbmem_vmem_check(vm);
	mutex_exit(&vm->vm_lock);
	return 0;
}

/*
 * Grow the busy segment [addr, addr + size), the last of a span vm
 * imported from the arena src with vmem_alloc (uvm_km's "kva" from
 * "kmem"), by the extra bytes after the span when src has them free:
 * src's segment, the span and the busy segment all grow.  ready as for
 * nbmem_vmem_extend, with src locked.  0, ENOMEM or ready's error, with
 * nothing changed.  The caller owns the segment, so the span (which it
 * ends) keeps its place and size while the lock is dropped.
 */
int
nbmem_vmem_extend_span(vmem_t *vm, vmem_addr_t addr, vmem_size_t size,
    vmem_size_t extra, vmem_t *src, nbmem_vmem_ready_t *ready, void *arg)
{
	bt_t *bt, *sp;
	vmem_addr_t start;
	vmem_size_t spansize;
	int error;

	mutex_enter(&vm->vm_lock);
	bt = busy_lookup(vm, addr, size, "nbmem_vmem_extend_span");
	for (sp = bt->bt_prev; !BT_SPAN_P(sp); sp = sp->bt_prev)
		continue;
	if (sp->bt_type != BT_TYPE_SPAN ||
	    sp->bt_start + sp->bt_size != addr + size) {
		mutex_exit(&vm->vm_lock);
		return ENOMEM;
	}
	start = sp->bt_start;
	spansize = sp->bt_size;
	mutex_exit(&vm->vm_lock);
	if ((error = nbmem_vmem_extend(src, start, spansize, extra, ready,
	    arg)) != 0)
		return error;
	mutex_enter(&vm->vm_lock);
	sp->bt_size += extra;
	vm->vm_size += extra;
	bt->bt_size += extra;
	vm->vm_inuse += extra;
	if (config_sanity)
		nbmem_vmem_check(vm);
	mutex_exit(&vm->vm_lock);
	return 0;
}

NBMEM_EXPORT void
vmem_xfreeall(vmem_t *vm)
{
	VERIFY(vm->vm_qcache_max == 0, "vmem: arena \"%s\": vmem_xfreeall: "
	    "the arena has quantum caches (qcache_max %#zx)", vm->vm_name,
	    vm->vm_qcache_max);
	if (__predict_false(nbmem_intr_p()))
		nbmem_intr_check_ipl(vm->vm_ipl, "vmem", vm->vm_name,
		    "vmem_xfreeall");
	mutex_enter(&vm->vm_lock);
	/*
	 * Free the busy segments in the order of the segment list, as
	 * NetBSD does, so imported spans go back in the order they came.
	 * The free joins bt with a free successor and may release its span
	 * (span tag, segment): the first tag after them is kept.  A release
	 * drops the lock, so the walk then starts over; the spans before
	 * bt hold no busy segment by then, and are passed at once.
	 */
	bt_t *bt = vm->vm_seg.bt_next;
	while (vm->vm_nbusytag != 0) {
		while (bt->bt_type != BT_TYPE_BUSY)
			bt = bt->bt_next;
		bt_t *next = bt->bt_next;
		if (next->bt_type == BT_TYPE_FREE)
			next = next->bt_next;
		uint64_t nrelease = vm->vm_nrelease;
		(void)vmem_xfree1(vm, bt->bt_start, bt->bt_size,
		    "vmem_xfreeall");
		bt = vm->vm_nrelease == nrelease ? next : vm->vm_seg.bt_next;
	}
	if (config_sanity)
		nbmem_vmem_check(vm);
	mutex_exit(&vm->vm_lock);
}

/* ---- spans */

/*
 * The boundary tags of a VM_PRIVTAGS arena: the caller's array, added
 * before the first span; the arena takes no tag from anywhere else and
 * gives none back (a free returns its tags to the arena's own cache).
 */
NBMEM_EXPORT void
vmem_add_bts(vmem_t *vm, struct vmem_btag *bts, unsigned int nbts)
{
	VERIFY(vm != NULL, "vmem: vmem_add_bts: NULL arena");
	VERIFY(vm->vm_flags & VM_PRIVTAGS, "vmem: arena \"%s\": "
	    "vmem_add_bts: the arena was not created with VM_PRIVTAGS",
	    vm->vm_name);
	VERIFY(bts != NULL || nbts == 0, "vmem: arena \"%s\": "
	    "vmem_add_bts: NULL array of %u tags", vm->vm_name, nbts);
	VERIFY(((uintptr_t)bts & (_Alignof(bt_t) - 1)) == 0, "vmem: arena "
	    "\"%s\": vmem_add_bts: tags at %p are not aligned on %zu",
	    vm->vm_name, (void *)bts, _Alignof(bt_t));
	mutex_enter(&vm->vm_lock);
	if (vm->vm_spans != NULL) {
		mutex_exit(&vm->vm_lock);
		nbmem_panic("vmem: arena \"%s\": vmem_add_bts: %u tags at %p "
		    "after the first span (they must come before vmem_add)",
		    vm->vm_name, nbts, (void *)bts);
	}
	/* The caller's elements are VMEM_BTAG_STORAGE_SIZE bytes apart. */
	for (unsigned int i = 0; i < nbts; i++) {
		bt_t *bt = (bt_t *)(void *)((char *)bts +
		    (size_t)i * VMEM_BTAG_STORAGE_SIZE);
		memset(bt, 0, sizeof(*bt));
		bt_free(vm, bt);
	}
	mutex_exit(&vm->vm_lock);
}

NBMEM_EXPORT int
vmem_add(vmem_t *vm, vmem_addr_t addr, vmem_size_t size, vm_flag_t flags)
{
	vmem_check_flags(vm, flags, "vmem_add", false);
	VERIFY(size != 0, "vmem: arena \"%s\": vmem_add: %#zx with size 0",
	    vm->vm_name, (size_t)addr);
	VERIFY(((addr | size) & vm->vm_quantum_mask) == 0, "vmem: arena "
	    "\"%s\": vmem_add: span %#zx size %#zx is not aligned to the "
	    "quantum %#zx", vm->vm_name, (size_t)addr, size,
	    (size_t)vm->vm_quantum_mask + 1);
	VERIFY(size - 1 <= VMEM_ADDR_MAX - addr, "vmem: arena \"%s\": "
	    "vmem_add: span %#zx size %#zx wraps around the address space",
	    vm->vm_name, (size_t)addr, size);

	mutex_enter(&vm->vm_lock);
	for (bt_t *s = vm->vm_spans; s != NULL; s = s->bt_fnext) {
		if (addr <= BT_END(s) && s->bt_start <= addr + size - 1) {
			vmem_addr_t os = s->bt_start;
			vmem_size_t oz = s->bt_size;
			mutex_exit(&vm->vm_lock);
			nbmem_panic("vmem: arena \"%s\": vmem_add: span %#zx "
			    "size %#zx overlaps span %#zx size %#zx",
			    vm->vm_name, (size_t)addr, size, (size_t)os, oz);
		}
	}
	struct vmem_wait w = { 0 };
	struct vmem_req r = { .r_size = size };
	while (!bt_refill(vm, VMEM_BT_RESERVE)) {
		if (flags & VM_NOSLEEP) {
			mutex_exit(&vm->vm_lock);
			return ENOMEM;
		}
		vmem_sleep(vm, &w, &r, "vmem_add");
	}
	span_add_locked(vm, addr, size, BT_TYPE_SPAN_STATIC);
	vmem_wakeup(vm);
	if (config_sanity)
		nbmem_vmem_check(vm);
	mutex_exit(&vm->vm_lock);
	return 0;
}

/* ---- creation and destruction */

static void	vmem_destroy1(vmem_t *);

static vmem_t *
vmem_init1(vmem_t *vm, const char *name, vmem_addr_t base, vmem_size_t size,
    vmem_size_t quantum, vmem_import_t *importfn, vmem_ximport_t *ximportfn,
    vmem_release_t *releasefn, void *arg, vmem_size_t qcache_max,
    vm_flag_t flags, int ipl)
{
	const char *nm = name != NULL ? name : "(null)";
	size_t mapsize = 0;

	VERIFY(powerof2(quantum), "vmem: arena \"%s\": create: quantum %#zx "
	    "is not a power of two", nm, quantum);
	VERIFY((flags & VM_SLEEPMASK) == VM_SLEEP ||
	    (flags & VM_SLEEPMASK) == VM_NOSLEEP, "vmem: arena \"%s\": "
	    "create: flags %#x must carry exactly one of VM_SLEEP and "
	    "VM_NOSLEEP", nm, flags);
	VERIFY(ipl >= IPL_NONE && ipl <= IPL_HIGH, "vmem: arena \"%s\": "
	    "create: ipl %d is not an IPL_* level", nm, ipl);
	VERIFY((qcache_max & (quantum - 1)) == 0, "vmem: arena \"%s\": "
	    "create: qcache_max %#zx is not a multiple of the quantum %#zx",
	    nm, qcache_max, quantum);
	VERIFY(!(flags & VM_PRIVTAGS) || size == 0, "vmem: arena \"%s\": "
	    "create: VM_PRIVTAGS with an initial span", nm);
	if (nbmem_intr_p())
		nbmem_panic("vmem: arena \"%s\": create from interrupt "
		    "(signal handler) context", nm);

	if (vm == NULL) {
		size_t ps = nbmem_os_pagesize();
		mapsize = (sizeof(*vm) + ps - 1) & ~(ps - 1);
		vm = nbmem_os_map(mapsize, 0, NBMEM_OS_PROT_RW, false);
		if (vm == NULL)
			return NULL;
	}
	memset(vm, 0, sizeof(*vm));
	vm->vm_mapsize = mapsize;
	mutex_init(&vm->vm_lock, ipl);
	cv_init(&vm->vm_cv);
	vm->vm_flags = flags;
	vm->vm_ipl = ipl;
	vm->vm_qshift = flsz(quantum);
	vm->vm_quantum_mask = quantum - 1;
	if (qcache_max > VMEM_QCACHE_IDX_MAX * quantum)
		qcache_max = VMEM_QCACHE_IDX_MAX * quantum;
	vm->vm_qcache_max = qcache_max;
	vm->vm_importfn = importfn;
	vm->vm_ximportfn = ximportfn;
	vm->vm_releasefn = releasefn;
	vm->vm_arg = arg;
	vm->vm_hashlist = vm->vm_hash0;
	vm->vm_hashmask = 0;
	hash_limits(vm);
	vm->vm_seg.bt_next = vm->vm_seg.bt_prev = &vm->vm_seg;
	vm->vm_seg.bt_type = BT_TYPE_SENTINEL;
	vm->vm_rotor = &vm->vm_seg;
	size_t i;
	for (i = 0; i < VMEM_NAME_MAX && nm[i] != '\0'; i++)
		vm->vm_name[i] = nm[i];
	vm->vm_name[i] = '\0';

	if (size != 0 && vmem_add(vm, base, size, flags & VM_SLEEPMASK) != 0) {
		vmem_destroy1(vm);
		return NULL;
	}
	/* The caches draw their pages from the arena: it must be ready. */
	if (vm->vm_qcache_max != 0)
		vm->vm_qcache = nbmem_vmem_qcache_create(vm, vm->vm_name,
		    quantum, vm->vm_qcache_max, ipl);
	mutex_enter(&vmem_list_lock);
	vm->vm_allnext = vmem_list;
	if (vmem_list != NULL)
		vmem_list->vm_allprevp = &vm->vm_allnext;
	vm->vm_allprevp = &vmem_list;
	vmem_list = vm;
	mutex_exit(&vmem_list_lock);
	return vm;
}

NBMEM_EXPORT vmem_t *
vmem_init(vmem_t *vm, const char *name, vmem_addr_t base, vmem_size_t size,
    vmem_size_t quantum, vmem_import_t *importfn, vmem_release_t *releasefn,
    void *arg, vmem_size_t qcache_max, vm_flag_t flags, int ipl)
{
	VERIFY(!(flags & VM_XIMPORT), "vmem: arena \"%s\": create: "
	    "VM_XIMPORT is internal (use vmem_xcreate)",
	    name != NULL ? name : "(null)");
	return vmem_init1(vm, name, base, size, quantum, importfn, NULL,
	    releasefn, arg, qcache_max, flags, ipl);
}

NBMEM_EXPORT vmem_t *
vmem_create(const char *name, vmem_addr_t base, vmem_size_t size,
    vmem_size_t quantum, vmem_import_t *importfn, vmem_release_t *releasefn,
    void *arg, vmem_size_t qcache_max, vm_flag_t flags, int ipl)
{
	return vmem_init(NULL, name, base, size, quantum, importfn,
	    releasefn, arg, qcache_max, flags, ipl);
}

NBMEM_EXPORT vmem_t *
vmem_xcreate(const char *name, vmem_addr_t base, vmem_size_t size,
    vmem_size_t quantum, vmem_ximport_t *importfn, vmem_release_t *releasefn,
    void *arg, vmem_size_t qcache_max, vm_flag_t flags, int ipl)
{
	VERIFY(!(flags & VM_XIMPORT), "vmem: arena \"%s\": create: "
	    "VM_XIMPORT is internal (vmem_xcreate sets it)",
	    name != NULL ? name : "(null)");
	return vmem_init1(NULL, name, base, size, quantum, NULL, importfn,
	    releasefn, arg, qcache_max, flags | VM_XIMPORT, ipl);
}

/*
 * vm is an arena created and not yet destroyed: on the list of all
 * arenas.  Checked by address before vm is read: the memory of a
 * destroyed arena of vmem_create's is unmapped.  Walks the list, at
 * most one step per live arena.
 */
static bool
vmem_listed_p(const vmem_t *vm)
{
	const vmem_t *v;

	mutex_enter(&vmem_list_lock);
	for (v = vmem_list; v != NULL && v != vm; v = v->vm_allnext)
		continue;
	mutex_exit(&vmem_list_lock);
	return v != NULL;
}

NBMEM_EXPORT void
vmem_destroy(vmem_t *vm)
{
	if (__predict_false(vm == NULL || !vmem_listed_p(vm)))
		nbmem_panic("vmem: %p: vmem_destroy: not an arena (never "
		    "created, or already destroyed: double free)",
		    (void *)vm);
	if (nbmem_intr_p())
		nbmem_panic("vmem: arena \"%s\": vmem_destroy from interrupt "
		    "(signal handler) context", vm->vm_name);
	vmem_destroy1(vm);
}

/* vmem_destroy, also of an arena vmem_init1 could not make. */
static void
vmem_destroy1(vmem_t *vm)
{
	/*
	 * Off the list first, once nbmem_vmem_stats() is done with it: the
	 * statistics read the quantum caches without the list lock.
	 */
	if (vm->vm_allprevp != NULL) {
		mutex_enter(&vmem_list_lock);
		while (vm->vm_statref != 0)
			cv_timedwait_ns(&vmem_list_cv, &vmem_list_lock,
			    VMEM_WAIT_SLICE_NS);
		if (vm->vm_allnext != NULL)
			vm->vm_allnext->vm_allprevp = vm->vm_allprevp;
		*vm->vm_allprevp = vm->vm_allnext;
		vm->vm_allprevp = NULL;
		mutex_exit(&vmem_list_lock);
	}
	/* Cached ranges go back first; pages of the caches are busy. */
	if (vm->vm_qcache != NULL) {
		nbmem_vmem_qcache_destroy(vm->vm_qcache);
		vm->vm_qcache = NULL;
	}
	mutex_enter(&vm->vm_lock);
	if (__predict_false(vm->vm_nbusytag != 0)) {
		bt_t *bt = vm->vm_seg.bt_next;
		while (bt->bt_type != BT_TYPE_BUSY)
			bt = bt->bt_next;
		nbmem_panic("vmem: arena \"%s\": vmem_destroy: %zu segments "
		    "(%zu bytes) still allocated, the first at %#zx size %#zx",
		    vm->vm_name, vm->vm_nbusytag, vm->vm_inuse,
		    (size_t)bt->bt_start, bt->bt_size);
	}
	mutex_exit(&vm->vm_lock);

	/* Every tag back to the supply: segments, spans, the cache. */
	bt_t *bt = vm->vm_seg.bt_next;
	while (bt != &vm->vm_seg) {
		bt_t *next = bt->bt_next;
		bt_free(vm, bt);
		bt = next;
	}
	/* The caller's own tags (VM_PRIVTAGS) stay the caller's. */
	if (!(vm->vm_flags & VM_PRIVTAGS))
		nbmem_bt_put(vm->vm_btcache, vm->vm_nbtcache);
	if (vm->vm_hashlist != vm->vm_hash0)
		nbmem_os_unmap(vm->vm_hashlist,
		    (vm->vm_hashmask + 1) * sizeof(bt_t *));
	cv_destroy(&vm->vm_cv);
	mutex_destroy(&vm->vm_lock);
	if (vm->vm_mapsize != 0)
		nbmem_os_unmap(vm, vm->vm_mapsize);
	else
		memset(vm->vm_name, 0, sizeof(vm->vm_name));
}

/*
 * NetBSD's boot calls this once with kmem_arena, to create the arenas
 * vmem's own metadata comes from ("vmem-va" importing from vm, then
 * "vmem-meta").  Here tags come from the OS (vmem_bt.c) and the page
 * layer creates kmem_arena, kmem_va_arena and kmem_meta_arena itself
 * (uvm_km.c), so this only makes sure they exist.  vm is checked, not
 * used.  Any number of calls, from any thread.
 */
NBMEM_EXPORT void
vmem_subsystem_init(vmem_t *vm)
{
	VERIFY(vm != NULL, "vmem: vmem_subsystem_init: NULL arena (NetBSD "
	    "passes kmem_arena)");
	nbmem_uvm_init();
}

/* ---- queries */

NBMEM_EXPORT vmem_size_t
vmem_roundup_size(vmem_t *vm, vmem_size_t size)
{
	return vmem_round(vm, size);
}

NBMEM_EXPORT vmem_size_t
vmem_size(vmem_t *vm, int typemask)
{
	vmem_size_t v;

	mutex_enter(&vm->vm_lock);
	switch (typemask) {
	case VMEM_ALLOC:
		v = vm->vm_inuse;
		break;
	case VMEM_FREE:
		v = vm->vm_size - vm->vm_inuse;
		break;
	case VMEM_ALLOC | VMEM_FREE:
		v = vm->vm_size;
		break;
	default:
		mutex_exit(&vm->vm_lock);
		nbmem_panic("vmem: arena \"%s\": vmem_size: unknown type mask "
		    "%#x", vm->vm_name, (unsigned int)typemask);
	}
	mutex_exit(&vm->vm_lock);
	return v;
}

bool
nbmem_vmem_lookup(vmem_t *vm, vmem_addr_t addr, vmem_addr_t *startp,
    vmem_size_t *sizep, unsigned int *cookiep)
{
	bool found = false;

	mutex_enter(&vm->vm_lock);
	/* Exact starts are one hash probe; interior addresses a walk. */
	bt_t *bt = hash_lookup(vm, addr & ~vm->vm_quantum_mask);
	if (bt == NULL) {
		for (bt = vm->vm_seg.bt_next; bt != &vm->vm_seg;
		    bt = bt->bt_next) {
			if (bt->bt_type == BT_TYPE_BUSY &&
			    addr >= bt->bt_start && addr <= BT_END(bt))
				break;
		}
		if (bt == &vm->vm_seg)
			bt = NULL;
	}
	if (bt != NULL) {
		found = true;
		if (startp != NULL)
			*startp = bt->bt_start;
		if (sizep != NULL)
			*sizep = bt->bt_size;
		if (cookiep != NULL)
			*cookiep = bt->bt_cookie;
	}
	mutex_exit(&vm->vm_lock);
	return found;
}

const char *
nbmem_vmem_name(const vmem_t *vm)
{
	return vm->vm_name;
}

int
nbmem_vmem_ipl(const vmem_t *vm)
{
	return vm->vm_ipl;
}

vmem_size_t
nbmem_vmem_quantum(const vmem_t *vm)
{
	return vm->vm_quantum_mask + 1;
}

size_t
nbmem_vmem_nbusy(vmem_t *vm)
{
	mutex_enter(&vm->vm_lock);
	size_t n = vm->vm_nbusytag;
	mutex_exit(&vm->vm_lock);
	return n;
}

size_t
nbmem_vmem_hashsize(vmem_t *vm)
{
	mutex_enter(&vm->vm_lock);
	size_t n = vm->vm_hashmask + 1;
	mutex_exit(&vm->vm_lock);
	return n;
}

/* ---- consistency check (called with the lock held) */

void
nbmem_vmem_check(vmem_t *vm)
{
	const char *n = vm->vm_name;
	vmem_size_t total = 0, inuse = 0;
	size_t nbusy = 0, nfree = 0;
	bt_t *span = NULL;
	vmem_addr_t next = 0;

	for (bt_t *bt = vm->vm_seg.bt_next; bt != &vm->vm_seg;
	    bt = bt->bt_next) {
		VERIFY(bt->bt_next->bt_prev == bt, "vmem: arena \"%s\": "
		    "check: segment list broken at %#zx", n,
		    (size_t)bt->bt_start);
		VERIFY(bt->bt_size != 0 &&
		    bt->bt_size - 1 <= VMEM_ADDR_MAX - bt->bt_start,
		    "vmem: arena \"%s\": check: tag %#zx has size %#zx", n,
		    (size_t)bt->bt_start, bt->bt_size);
		if (BT_SPAN_P(bt)) {
			VERIFY(span == NULL || next == BT_END(span) + 1 ||
			    (BT_END(span) == VMEM_ADDR_MAX && next == 0),
			    "vmem: arena \"%s\": check: span %#zx not tiled",
			    n, (size_t)span->bt_start);
			span = bt;
			next = bt->bt_start;
			total += bt->bt_size;
			continue;
		}
		VERIFY(span != NULL && bt->bt_start == next &&
		    BT_END(bt) <= BT_END(span), "vmem: arena \"%s\": check: "
		    "segment %#zx size %#zx out of place", n,
		    (size_t)bt->bt_start, bt->bt_size);
		next = bt->bt_start + bt->bt_size;
		if (bt->bt_type == BT_TYPE_FREE) {
			nfree++;
			VERIFY(bt->bt_next->bt_type != BT_TYPE_FREE,
			    "vmem: arena \"%s\": check: free segments %#zx "
			    "and its successor not coalesced", n,
			    (size_t)bt->bt_start);
			VERIFY(bt->bt_flist == vmem_flist(vm, bt->bt_size) &&
			    *bt->bt_fprevp == bt, "vmem: arena \"%s\": "
			    "check: free segment %#zx on the wrong list", n,
			    (size_t)bt->bt_start);
		} else {
			VERIFY(bt->bt_type == BT_TYPE_BUSY, "vmem: arena "
			    "\"%s\": check: tag %#zx has type %d", n,
			    (size_t)bt->bt_start, bt->bt_type);
			VERIFY(hash_lookup(vm, bt->bt_start) == bt,
			    "vmem: arena \"%s\": check: busy segment %#zx "
			    "not in the hash", n, (size_t)bt->bt_start);
			nbusy++;
			inuse += bt->bt_size;
		}
	}
	VERIFY(span == NULL || next == BT_END(span) + 1 ||
	    (BT_END(span) == VMEM_ADDR_MAX && next == 0),
	    "vmem: arena \"%s\": check: last span not tiled", n);
	size_t nlisted = 0;
	for (unsigned int k = 0; k < VMEM_MAXORDER; k++) {
		bool nonempty = vm->vm_freelist[k] != NULL;
		VERIFY(nonempty == ((vm->vm_freemap >> k) & 1), "vmem: arena "
		    "\"%s\": check: free map bit %u wrong", n, k);
		for (bt_t *bt = vm->vm_freelist[k]; bt != NULL;
		    bt = bt->bt_fnext) {
			VERIFY(bt->bt_type == BT_TYPE_FREE && bt->bt_flist == k,
			    "vmem: arena \"%s\": check: list %u holds a "
			    "stray tag", n, k);
			nlisted++;
		}
	}
	VERIFY(nlisted == nfree, "vmem: arena \"%s\": check: %zu free "
	    "segments, %zu on lists", n, nfree, nlisted);
	VERIFY(nbusy == vm->vm_nbusytag && inuse == vm->vm_inuse &&
	    total == vm->vm_size, "vmem: arena \"%s\": check: counters "
	    "(busy %zu/%zu, inuse %#zx/%#zx, size %#zx/%#zx)", n, nbusy,
	    vm->vm_nbusytag, inuse, vm->vm_inuse, total, vm->vm_size);
}

/* ---- fork */

/*
 * Before fork: the list lock, then every arena in list order (arena
 * locks are never nested in one another: imports and releases run
 * unlocked).  In the child, sleepers of other threads are gone.
 */
static void
vmem_fork(int phase)
{
	if (phase == NBMEM_FORK_PREPARE) {
		mutex_enter(&vmem_list_lock);
		for (vmem_t *vm = vmem_list; vm != NULL; vm = vm->vm_allnext)
			mutex_enter(&vm->vm_lock);
		return;
	}
	for (vmem_t *vm = vmem_list; vm != NULL; vm = vm->vm_allnext) {
		if (phase == NBMEM_FORK_CHILD) {
			vm->vm_nwait = 0;
			vm->vm_statref = 0;
		}
		mutex_exit(&vm->vm_lock);
	}
	mutex_exit(&vmem_list_lock);
}

__attribute__((__constructor__(105)))
static void
vmem_fork_init(void)
{
	nbmem_fork_hook_add(NBMEM_FORK_ORDER_VMEM, vmem_fork);
}

/* ---- statistics (nbmemstat -v) */

/* The arena's own figures, under its lock. */
static void
vmem_stats1(vmem_t *vm, struct nbstat_vmem *sv)
{
	memset(sv, 0, sizeof(*sv));
	mutex_enter(&vm->vm_lock);
	/* The statistics keep 15 characters, as vmstat shows pool names. */
	CTASSERT(sizeof(sv->sv_name) <= VMEM_NAME_MAX);
	memcpy(sv->sv_name, vm->vm_name, sizeof(sv->sv_name) - 1);
	sv->sv_name[sizeof(sv->sv_name) - 1] = '\0';
	sv->sv_quantum = vm->vm_quantum_mask + 1;
	sv->sv_size = vm->vm_size;
	sv->sv_inuse = vm->vm_inuse;
	sv->sv_qcache_max = vm->vm_qcache_max;
	sv->sv_nalloc = vm->vm_nalloc;
	sv->sv_nfree = vm->vm_nfree;
	sv->sv_nimport = vm->vm_nimport;
	sv->sv_nrelease = vm->vm_nrelease;
	sv->sv_nsleep = vm->vm_nsleep;
	sv->sv_nbusy = vm->vm_nbusytag;
	sv->sv_nfreeseg = vm->vm_nfreetag;
	for (bt_t *s = vm->vm_spans; s != NULL; s = s->bt_fnext) {
		if (s->bt_type == BT_TYPE_SPAN)
			sv->sv_nspan_import++;
		else
			sv->sv_nspan_static++;
	}
	sv->sv_flags = (uint64_t)vm->vm_flags;
	mutex_exit(&vm->vm_lock);
}

/*
 * The quantum caches' part: operations served by a cache (CPU layer or
 * depot) and those that went to the pool layer, hence maybe to the
 * arena.  Called with no lock held (the caches' locks rank before the
 * arenas); vm_statref keeps the caches alive.
 */
static void
vmem_stats_qcache(vmem_t *vm, struct nbstat_vmem *sv)
{
	pool_cache_t prev = NULL;
	struct pool_sysctl ps;
	vmem_size_t q = vm->vm_quantum_mask + 1;

	if (vm->vm_qcache == NULL)
		return;
	for (vmem_size_t size = q; size <= vm->vm_qcache_max; size += q) {
		pool_cache_t pc = nbmem_vmem_qcache_cache(vm->vm_qcache, size);
		if (pc == prev)
			continue;
		prev = pc;
		nbmem_pool_fill_sysctl(&pc->pc_pool, &ps);
		sv->sv_qc_hit += ps.pr_cache_nhit_pcpu +
		    ps.pr_cache_nhit_global;
		sv->sv_qc_miss += ps.pr_cache_nmiss_global;
	}
}

/*
 * Fill up to n records, one per arena, newest first; return how many
 * arenas there are.  Each arena is read with the list lock dropped and
 * vm_statref held, which vmem_destroy() waits for.
 */
size_t
nbmem_vmem_stats(struct nbstat_vmem *out, size_t n)
{
	vmem_t *vm, *next;
	size_t i = 0;

	mutex_enter(&vmem_list_lock);
	for (vm = vmem_list; vm != NULL; vm = next, i++) {
		if (out == NULL || i >= n) {
			next = vm->vm_allnext;
			continue;
		}
		vm->vm_statref++;
		mutex_exit(&vmem_list_lock);
		vmem_stats1(vm, &out[i]);
		vmem_stats_qcache(vm, &out[i]);
		mutex_enter(&vmem_list_lock);
		next = vm->vm_allnext;
		if (--vm->vm_statref == 0)
			cv_broadcast(&vmem_list_cv);
	}
	mutex_exit(&vmem_list_lock);
	return i;
}

/*
 * Reclaim: every arena's spare tags but VMEM_BT_RESERVE go back to the
 * global supply, where a spare tag would otherwise keep a whole chunk of
 * free tags mapped (vmem_bt.c).  Arena locks nest inside the list lock,
 * as in the fork handler.
 */
void
nbmem_vmem_bt_drain(void)
{
	mutex_enter(&vmem_list_lock);
	for (vmem_t *vm = vmem_list; vm != NULL; vm = vm->vm_allnext) {
		mutex_enter(&vm->vm_lock);
		if (vm->vm_nbtcache > VMEM_BT_RESERVE &&
		    !(vm->vm_flags & VM_PRIVTAGS)) {
			unsigned int n = vm->vm_nbtcache - VMEM_BT_RESERVE;
			bt_t *chain = vm->vm_btcache, *tail = chain;
			for (unsigned int i = 1; i < n; i++)
				tail = tail->bt_fnext;
			vm->vm_btcache = tail->bt_fnext;
			vm->vm_nbtcache = VMEM_BT_RESERVE;
			tail->bt_fnext = NULL;
			nbmem_bt_put(chain, n);
		}
		mutex_exit(&vm->vm_lock);
	}
	mutex_exit(&vmem_list_lock);
}

/* ---- debugger-style printing */

typedef void (vmem_pr_t)(const char *, ...);

static const char *
bt_typename(int type)
{
	static const char *const names[] = { "sentinel", "span", "static",
	    "free", "busy" };

	return type >= 0 && type <= BT_TYPE_BUSY ? names[type] : "?";
}

/*
 * One arena in full, as NetBSD's ddb dump does: the summary, every span
 * and segment, the non-empty free lists.
 */
static void
vmem_print1(vmem_t *vm, vmem_pr_t *pr)
{
	mutex_enter(&vm->vm_lock);
	(*pr)("vmem %p \"%s\": quantum %#zx, ipl %d, size %#zx, inuse %#zx, "
	    "free %#zx, busy segments %zu, hash buckets %zu, qcache_max "
	    "%#zx\n", (void *)vm, vm->vm_name,
	    (size_t)vm->vm_quantum_mask + 1, vm->vm_ipl, vm->vm_size,
	    vm->vm_inuse, vm->vm_size - vm->vm_inuse, vm->vm_nbusytag,
	    vm->vm_hashmask + 1, vm->vm_qcache_max);
	(*pr)("  allocs %llu, frees %llu, imports %llu, releases %llu, "
	    "sleeps %llu\n", (unsigned long long)vm->vm_nalloc,
	    (unsigned long long)vm->vm_nfree,
	    (unsigned long long)vm->vm_nimport,
	    (unsigned long long)vm->vm_nrelease,
	    (unsigned long long)vm->vm_nsleep);
	for (bt_t *bt = vm->vm_seg.bt_next; bt != &vm->vm_seg;
	    bt = bt->bt_next) {
		(*pr)("  %s%-6s %#zx - %#zx (size %#zx)\n",
		    BT_SPAN_P(bt) ? "" : "  ", bt_typename(bt->bt_type),
		    (size_t)bt->bt_start, (size_t)BT_END(bt), bt->bt_size);
	}
	for (unsigned int k = 0; k < VMEM_MAXORDER; k++) {
		size_t cnt = 0;
		for (bt_t *bt = vm->vm_freelist[k]; bt != NULL;
		    bt = bt->bt_fnext)
			cnt++;
		if (cnt != 0)
			(*pr)("  freelist[%u] (%#zx quanta and up): %zu "
			    "segments\n", k, (size_t)1 << k, cnt);
	}
	mutex_exit(&vm->vm_lock);
}

NBMEM_EXPORT void
vmem_print(uintptr_t addr, const char *modif, void (*pr)(const char *, ...))
{
	(void)modif;
	vmem_print1((vmem_t *)addr, pr);
}

/* Every arena in full, as NetBSD's; modif is ignored there too. */
NBMEM_EXPORT void
vmem_printall(const char *modif, void (*pr)(const char *, ...))
{
	(void)modif;
	mutex_enter(&vmem_list_lock);
	for (vmem_t *vm = vmem_list; vm != NULL; vm = vm->vm_allnext)
		vmem_print1(vm, pr);
	mutex_exit(&vmem_list_lock);
}

NBMEM_EXPORT void
vmem_whatis(uintptr_t addr, void (*pr)(const char *, ...))
{
	mutex_enter(&vmem_list_lock);
	for (vmem_t *vm = vmem_list; vm != NULL; vm = vm->vm_allnext) {
		mutex_enter(&vm->vm_lock);
		for (bt_t *bt = vm->vm_seg.bt_next; bt != &vm->vm_seg;
		    bt = bt->bt_next) {
			if (BT_SPAN_P(bt) || addr < bt->bt_start ||
			    addr > BT_END(bt))
				continue;
			/* NetBSD's line, word for word: tools parse it. */
			(*pr)("%p is %p+%zu in VMEM '%s' (%s)\n",
			    (void *)addr, (void *)bt->bt_start,
			    (size_t)(addr - bt->bt_start), vm->vm_name,
			    bt->bt_type == BT_TYPE_BUSY ? "allocated" : "free");
		}
		mutex_exit(&vm->vm_lock);
	}
	mutex_exit(&vmem_list_lock);
}

/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * uvm_km.c: the page layer: kernel_map, submaps and the kmem arenas.
 *
 * 1 Overview
 *   kernel_map is the process address space.  uvm_km_alloc() on it maps
 *   fresh anonymous memory where the OS likes (UVM_KMF_WIRED: populated;
 *   UVM_KMF_PAGEABLE: faulted on touch; UVM_KMF_VAONLY: a PROT_NONE
 *   reservation) and records the range, with its type, in a bookkeeping
 *   arena spanning every address, so that uvm_km_free() can check what
 *   it is given.  uvm_km_suballoc() reserves a range (PROT_NONE) and puts
 *   a vmem arena over it: allocations from a submap are carved by that
 *   arena and committed in place.  The kmem arenas feed pool and kmem:
 *   kmem_arena imports chunks of KMEM_CHUNK bytes from the OS and
 *   releases a chunk once wholly free (keeping one spare against
 *   thrashing); kmem_va_arena and kmem_meta_arena import from it;
 *   uvm_km_kmem_alloc() takes a range from any arena stacked on them.
 *   By default the chunks are read-write and unaccounted (MAP_NORESERVE):
 *   a page is faulted in on first touch, an allocation makes no system
 *   call, and uvm_km_kmem_free() gives the pages back with MADV_DONTNEED,
 *   which changes no mapping (the process's mmap lock is taken shared,
 *   not exclusively: large-2t ran 0.16x glibc's time against 0.18x with
 *   commits).  A caller that moved pages into or out of a range
 *   (nbmem_os_move, malloc's large blocks) maps it afresh before giving
 *   it back, so the mappings the move split off merge again.  Under
 *   strict overcommit, where a writable mapping is charged in full, or
 *   with NBMEM_DECOMMIT=1, chunks are PROT_NONE: an allocation commits
 *   its range read/write and a free makes it inaccessible again, so a
 *   stray access to a freed page faults, at twice the system calls (the
 *   growshrink benchmark made 21,500 commits: 0.65 s against 0.55 s).
 *   Every page handed out is charged to the memory budget (budget.c)
 *   first.
 *
 * 2 Data structures
 *   struct vm_map (uvm_km_impl.h) fits the caller storage of uvm_map.h.
 *   A busy segment of a map's arena carries its type as a vmem cookie.
 *   The reservation registry is an array, by descending address, of the
 *   ranges the page layer reserved at the top level (kmem chunks, one
 *   spare chunk, submaps of kernel_map, VAONLY allocations of
 *   kernel_map); uvm_km_kmem_alloc() and uvm_km_kmem_free() commit or
 *   drop pages only inside one of them.
 *
 * 3 Invariants
 *   - a page is handed out only after it was charged; it is uncharged
 *     only after its memory went back (purged, decommitted or unmapped);
 *   - registered reservations never overlap;
 *   - a submap's range is busy in its parent with the submap cookie, so
 *     uvm_km_free() refuses it.
 *
 * 4 Locking and signal safety
 *   Map and kmem arenas are vmem arenas with their own locks (kernel_map,
 *   the kmem arenas and VM_MAP_INTRSAFE submaps at IPL_VM).  Registry
 *   writers hold resv_lock (IPL_VM: signals blocked); readers take no
 *   lock: a sequence counter tells them to retry, and replaced tables are
 *   never unmapped, so a reader never faults.  uvm_km_kmem_alloc() with
 *   VM_NOSLEEP and uvm_km_kmem_free() are therefore async-signal-safe on
 *   arenas above IPL_NONE.  No uvm_km lock is held across a vmem or
 *   budget call; nbmem_uvm_kmem_extend commits the pages of a growth
 *   from inside one (kmem_extend_ready, with the arena locked).
 *
 * 5 Debug features
 *   Always on: bad flag combinations, misaligned or foreign addresses, a
 *   free of what was never allocated, of the wrong size or as the wrong
 *   type, a map pointer that is not a map, a commit outside the page
 *   layer's reservations ("foreign arena").  Each panics naming the map
 *   or arena, the address, the sizes and the flags.
 *
 * 6 Differences from NetBSD
 *   - kernel_map places with mmap (the OS chooses), not inside a window.
 *   - WIRED pages are populated, and mlock()ed only with NBMEM_MLOCK=1.
 *   - UVM_KMF_COLORMATCH: there is one page colour; the colour in align
 *     is ignored.  UVM_KMF_TRYLOCK: no map lock sleeps; accepted.
 *   - uvm_km_free() checks the size and the type (NetBSD checks neither).
 *   - uvm_km_va_starved_p() reads the budget (see there).
 *   - kernel_map is not VM_MAP_INTRSAFE: from a signal handler only an
 *     INTRSAFE submap may be used, with UVM_KMF_NOWAIT (NetBSD's kmem
 *     maps were the interrupt-safe ones).
 *   - Submap arenas have no import: a submap is full when its range is.
 *   As in NetBSD, an allocation from a map with no room returns 0
 *   unless UVM_KMF_WAITVA makes it sleep for address space; kernel_map
 *   has none when the OS refuses even a PROT_NONE reservation.
 *
 * 7 References
 *   NetBSD uvm_km(9), sys/uvm/uvm_km.c (uvm_km_alloc, uvm_km_suballoc,
 *   uvm_km_kmem_alloc, uvm_km_bootstrap); the rump kernel's vm.c.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "internal.h"
#include "lock.h"
#include "nbvalgrind.h"
#include "os/os.h"
#include "uvm_km_impl.h"

CTASSERT(VM_PROT_READ == NBMEM_OS_PROT_READ);
CTASSERT(VM_PROT_WRITE == NBMEM_OS_PROT_WRITE);
CTASSERT(VM_PROT_EXECUTE == NBMEM_OS_PROT_EXEC);

/*
 * kmem_arena imports address space in chunks of at least this much: a
 * PROT_NONE reservation costs one VMA and no memory, and 64 MiB keeps it
 * to one mmap (and one registry entry) per 64 MiB of kmem while a small
 * process still holds a single chunk.
 */
#define	KMEM_CHUNK	((vmem_size_t)64 << 20)

#define	UVM_KMF_KNOWN	(UVM_KMF_TYPEMASK | UVM_KMF_CANFAIL | UVM_KMF_ZERO | \
			 UVM_KMF_EXEC | UVM_KMF_TRYLOCK | UVM_KMF_NOWAIT | \
			 UVM_KMF_WAITVA | UVM_KMF_COLORMATCH)
#define	VM_MAP_KNOWN	(VM_MAP_PAGEABLE | VM_MAP_TOPDOWN | VM_MAP_INTRSAFE)
#define	VM_PROT_ALL	(VM_PROT_READ | VM_PROT_WRITE | VM_PROT_EXECUTE)
#define	VM_FIT_MASK	(VM_INSTANTFIT | VM_BESTFIT | VM_NEXTFIT)

static struct vm_map kernel_map_store;

NBMEM_EXPORT struct vm_map *kernel_map = &kernel_map_store;
NBMEM_EXPORT vmem_t *kmem_arena;
NBMEM_EXPORT vmem_t *kmem_va_arena;
NBMEM_EXPORT vmem_t *kmem_meta_arena;

static pthread_once_t uvm_once = PTHREAD_ONCE_INIT;
static bool kmem_import_failed;	/* the last chunk import was refused */
static bool kmem_lazy;		/* chunks read-write, pages on touch */

static inline size_t
km_ps(void)
{
	return nbmem_os_pagesize();
}

static inline bool
km_powerof2(size_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

/* ---- the reservation registry */

struct resv {
	vaddr_t		rv_start;
	vaddr_t		rv_end;		/* exclusive */
	vaddr_t		rv_lazy;	/* read-write, pages on touch */
};

/* What resv_lookup() finds a range in. */
#define	RESV_OUTSIDE	0	/* no reservation */
#define	RESV_NONE	1	/* a PROT_NONE one: commit to use */
#define	RESV_LAZY	2	/* a read-write one (kmem_lazy chunks) */

struct resv_table {
	size_t		rt_cap;		/* fixed when the table is made */
	size_t		rt_n;		/* entries in use */
	struct resv	rt_ent[];
};

static kmutex_t resv_lock = MUTEX_INITIALIZER(IPL_VM);
static unsigned long resv_seq;		/* odd while a writer changes it */
static struct resv_table *resv_tab;

/*
 * A sequence lock without fences: the writer's stores are releases and
 * the reader's loads acquires, so a reader that sees any new value also
 * sees the odd count that preceded it, and its final read of the count
 * cannot move above its reads of the table (C11; plain moves on x86).
 */
#define	RESV_LOAD(p)	__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define	RESV_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

/*
 * The entries run from the highest address down: Linux places mappings
 * top-down, so a new reservation usually goes at the end and the newest
 * leaves from there, with no entry to move.  Returns the index of the
 * first entry that starts at or below va, or n if none does.
 */
static size_t
resv_find(struct resv_table *t, size_t n, vaddr_t va)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (RESV_LOAD(&t->rt_ent[mid].rv_start) <= va)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/*
 * Is [va, va + size) inside one registered reservation, and of which
 * kind (RESV_*)?  Lock-free: the
 * answer is taken only when no writer ran meanwhile.  A writer in this
 * thread cannot be interrupted (it holds resv_lock with signals blocked),
 * so a signal handler never spins on itself.
 */
static int
resv_lookup(vaddr_t va, vsize_t size)
{
	for (;;) {
		unsigned long seq = __atomic_load_n(&resv_seq,
		    __ATOMIC_ACQUIRE);
		if (seq & 1)
			continue;
		struct resv_table *t = __atomic_load_n(&resv_tab,
		    __ATOMIC_ACQUIRE);
		int ok = RESV_OUTSIDE;
		if (t != NULL) {
			size_t n = RESV_LOAD(&t->rt_n), i;
			if (n > t->rt_cap)	/* torn: retried below */
				n = t->rt_cap;
			i = resv_find(t, n, va);
			if (i < n) {
				struct resv *r = &t->rt_ent[i];
				vaddr_t s = RESV_LOAD(&r->rv_start);
				vaddr_t e = RESV_LOAD(&r->rv_end);
				if (s <= va && va < e && size <= e - va)
					ok = RESV_LOAD(&r->rv_lazy) != 0 ?
					    RESV_LAZY : RESV_NONE;
			}
		}
		if (__atomic_load_n(&resv_seq, __ATOMIC_RELAXED) == seq)
			return ok;
	}
}

/* Entry i of t takes the value of entry j, for lock-free readers. */
static inline void
resv_copy(struct resv_table *t, size_t i, size_t j)
{
	RESV_STORE(&t->rt_ent[i].rv_start, t->rt_ent[j].rv_start);
	RESV_STORE(&t->rt_ent[i].rv_end, t->rt_ent[j].rv_end);
	RESV_STORE(&t->rt_ent[i].rv_lazy, t->rt_ent[j].rv_lazy);
}

static void
resv_write_begin(void)
{
	__atomic_store_n(&resv_seq, resv_seq + 1, __ATOMIC_RELAXED);
}

static void
resv_write_end(void)
{
	__atomic_store_n(&resv_seq, resv_seq + 1, __ATOMIC_RELEASE);
}

/*
 * Make room for one more entry.  The old table stays mapped (a reader
 * may be in it): tables double, so all the old ones together are smaller
 * than the live one.
 */
static bool
resv_grow_locked(void)
{
	struct resv_table *t = resv_tab, *nt;
	size_t cap, bytes;

	if (t != NULL && t->rt_n < t->rt_cap)
		return true;
	bytes = t == NULL ? km_ps() :
	    2 * (sizeof(*t) + t->rt_cap * sizeof(struct resv));
	bytes = (bytes + km_ps() - 1) & ~(km_ps() - 1);
	nt = nbmem_os_map(bytes, 0, NBMEM_OS_PROT_RW, false);
	if (nt == NULL)
		return false;
	cap = (bytes - sizeof(*nt)) / sizeof(struct resv);
	nt->rt_cap = cap;
	nt->rt_n = t == NULL ? 0 : t->rt_n;
	if (t != NULL)
		memcpy(nt->rt_ent, t->rt_ent, t->rt_n * sizeof(struct resv));
	__atomic_store_n(&resv_tab, nt, __ATOMIC_RELEASE);
	return true;
}

static bool
resv_insert(vaddr_t start, vsize_t size, bool lazy)
{
	struct resv_table *t;
	size_t pos;

	mutex_enter(&resv_lock);
	if (!resv_grow_locked()) {
		mutex_exit(&resv_lock);
		return false;
	}
	t = resv_tab;
	pos = resv_find(t, t->rt_n, start);
	if ((pos < t->rt_n && t->rt_ent[pos].rv_end > start) ||
	    (pos > 0 && t->rt_ent[pos - 1].rv_start - start < size)) {
		mutex_exit(&resv_lock);
		nbmem_panic("uvm_km: reservations: [%#zx, %#zx) overlaps one "
		    "the page layer already holds", (size_t)start,
		    (size_t)(start + size));
	}
	resv_write_begin();
	for (size_t i = t->rt_n; i > pos; i--)
		resv_copy(t, i, i - 1);
	RESV_STORE(&t->rt_ent[pos].rv_start, start);
	RESV_STORE(&t->rt_ent[pos].rv_end, start + size);
	RESV_STORE(&t->rt_ent[pos].rv_lazy, (vaddr_t)lazy);
	RESV_STORE(&t->rt_n, t->rt_n + 1);
	resv_write_end();
	mutex_exit(&resv_lock);
	return true;
}

static void
resv_remove(vaddr_t start, vsize_t size)
{
	struct resv_table *t;
	size_t pos;

	mutex_enter(&resv_lock);
	t = resv_tab;
	pos = t != NULL ? resv_find(t, t->rt_n, start) : 0;
	if (t == NULL || pos == t->rt_n || t->rt_ent[pos].rv_start != start ||
	    t->rt_ent[pos].rv_end - start != size) {
		mutex_exit(&resv_lock);
		nbmem_panic("uvm_km: reservations: [%#zx, %#zx) is not one "
		    "the page layer holds", (size_t)start,
		    (size_t)(start + size));
	}
	resv_write_begin();
	for (size_t i = pos; i + 1 < t->rt_n; i++)
		resv_copy(t, i, i + 1);
	RESV_STORE(&t->rt_n, t->rt_n - 1);
	resv_write_end();
	mutex_exit(&resv_lock);
}

size_t
nbmem_uvm_nresv(void)
{
	size_t n;

	mutex_enter(&resv_lock);
	n = resv_tab != NULL ? resv_tab->rt_n : 0;
	mutex_exit(&resv_lock);
	return n;
}

/* resv_lookup() for any range: RESV_OUTSIDE when it is empty or wraps. */
static int
resv_kind(vaddr_t va, vsize_t size)
{
	if (size == 0 || size - 1 > VMEM_ADDR_MAX - va)
		return RESV_OUTSIDE;
	return resv_lookup(va, size);
}

bool
nbmem_uvm_resv_contains(vaddr_t va, vsize_t size)
{
	return resv_kind(va, size) != RESV_OUTSIDE;
}

/* ---- the kmem arenas */

/*
 * kmem_arena's source: chunks of the process address space, read-write
 * and unaccounted when kmem_lazy, PROT_NONE otherwise.
 * One wholly free chunk is kept as a spare (reserved and registered, no
 * pages behind it) rather than unmapped, so that a page allocated and
 * freed in a loop does not map and unmap a whole chunk every time.
 */
static vaddr_t kmem_spare;		/* under resv_lock */

static int
kmem_chunk_import(void *arg, vmem_size_t size, vmem_size_t *actual,
    vm_flag_t flags, vmem_addr_t *addrp)
{
	vmem_size_t chunk = size < KMEM_CHUNK ? KMEM_CHUNK : size;
	void *p = NULL;
	bool lazy;

	if (chunk == KMEM_CHUNK) {
		mutex_enter(&resv_lock);
		p = (void *)kmem_spare;
		kmem_spare = 0;
		mutex_exit(&resv_lock);
	}
	if (p == NULL) {
		lazy = __atomic_load_n(&kmem_lazy, __ATOMIC_RELAXED);
		if (lazy && (p = nbmem_os_map_lazy(chunk)) != NULL &&
		    nbmem_os_resident((char *)p + chunk - km_ps())) {
			/*
			 * The kernel populated the whole chunk at once: the
			 * process locks its future mappings (mlockall with
			 * MCL_FUTURE).  Chunks are PROT_NONE from now on,
			 * committed as they are used.
			 */
			nbmem_os_unmap(p, chunk);
			p = NULL;
			lazy = false;
			__atomic_store_n(&kmem_lazy, false, __ATOMIC_RELAXED);
		}
		if (!lazy)
			p = nbmem_os_map(chunk, 0, NBMEM_OS_PROT_NONE, false);
		if (p != NULL && !resv_insert((vaddr_t)p, chunk, lazy)) {
			nbmem_os_unmap(p, chunk);
			p = NULL;
		}
	}
	__atomic_store_n(&kmem_import_failed, p == NULL, __ATOMIC_RELAXED);
	if (p == NULL)
		return ENOMEM;
	*actual = chunk;
	*addrp = (vmem_addr_t)p;
	return 0;
}

static void
kmem_chunk_release(void *arg, vmem_addr_t addr, vmem_size_t size)
{
	bool kept = false;

	if (size == KMEM_CHUNK) {
		mutex_enter(&resv_lock);
		if (kmem_spare == 0) {
			kmem_spare = addr;
			kept = true;
		}
		mutex_exit(&resv_lock);
	}
	if (!kept) {
		resv_remove(addr, size);
		nbmem_os_unmap((void *)addr, size);
	}
}

/* kmem_va_arena and kmem_meta_arena: address space from kmem_arena. */
static int
kmem_sub_import(void *arg, vmem_size_t size, vm_flag_t flags,
    vmem_addr_t *addrp)
{
	return vmem_alloc(arg, size, (flags & (VM_SLEEP | VM_NOSLEEP)) |
	    VM_INSTANTFIT, addrp);
}

static void
kmem_sub_release(void *arg, vmem_addr_t addr, vmem_size_t size)
{
	vmem_free(arg, addr, size);
}

/* ---- initialisation */

static void
uvm_init1(void)
{
	size_t ps = km_ps();
	struct vm_map *map = &kernel_map_store;
	vmem_t *vm;

	nbmem_budget_init();
	kmem_lazy = !nbmem_options_decommit() && !nbmem_os_overcommit_strict();
	vm = vmem_create("kernel_map", ps, VMEM_ADDR_MAX - 2 * ps + 1, ps,
	    NULL, NULL, NULL, 0, VM_SLEEP, IPL_VM);
	VERIFY(vm != NULL, "uvm_km: kernel_map: cannot create its arena");
	map->vmm_flags = VMM_KERNEL;
	map->vmm_parent = NULL;
	map->vmm_arena = vm;
	map->vmm_min = ps;
	map->vmm_max = VMEM_ADDR_MAX - ps + 1;
	nbmem_snprintf(map->vmm_name, sizeof(map->vmm_name), "kernel_map");
	__atomic_store_n(&map->vmm_magic, VMM_MAGIC, __ATOMIC_RELEASE);

	/* NetBSD's names: "kmem", "kva", "vmem-meta" (uvm_km_bootstrap). */
	vm = vmem_xcreate("kmem", 0, 0, ps, kmem_chunk_import,
	    kmem_chunk_release, NULL, 0, VM_SLEEP, IPL_VM);
	VERIFY(vm != NULL, "uvm_km: kmem: cannot create the arena");
	__atomic_store_n(&kmem_arena, vm, __ATOMIC_RELEASE);
	vm = vmem_create("kva", 0, 0, ps, kmem_sub_import, kmem_sub_release,
	    kmem_arena, 0, VM_SLEEP, IPL_VM);
	VERIFY(vm != NULL, "uvm_km: kva: cannot create the arena");
	__atomic_store_n(&kmem_va_arena, vm, __ATOMIC_RELEASE);
	vm = vmem_create("vmem-meta", 0, 0, ps, kmem_sub_import,
	    kmem_sub_release, kmem_arena, 0, VM_SLEEP, IPL_VM);
	VERIFY(vm != NULL, "uvm_km: vmem-meta: cannot create the arena");
	__atomic_store_n(&kmem_meta_arena, vm, __ATOMIC_RELEASE);
}

bool
nbmem_uvm_kmem_lazy(void)
{
	nbmem_uvm_init();
	return __atomic_load_n(&kmem_lazy, __ATOMIC_RELAXED);
}

bool
nbmem_uvm_kmem_lazy_range(vaddr_t va, vsize_t size)
{
	return resv_kind(va, size) == RESV_LAZY;
}

void
nbmem_uvm_init(void)
{
	pthread_once(&uvm_once, uvm_init1);
}

/* The library's start-up calls nbmem_uvm_init() too; once is enough. */
__attribute__((__constructor__(110)))
static void
uvm_km_ctor(void)
{
	nbmem_uvm_init();
}

/* ---- maps: checks and bookkeeping */

static struct vm_map *
km_map_check(struct vm_map *map, const char *call)
{
	nbmem_uvm_init();
	if (__predict_false(map == NULL ||
	    __atomic_load_n(&map->vmm_magic, __ATOMIC_ACQUIRE) != VMM_MAGIC))
		nbmem_panic("uvm_km: map %p: %s: not a map (neither "
		    "kernel_map nor a submap from uvm_km_suballoc)",
		    (void *)map, call);
	return map;
}

/*
 * From a signal handler (nbmem_intr_enter), a map may be used only if it
 * is VM_MAP_INTRSAFE, and only without sleeping, as in NetBSD, where the
 * other maps take a lock that sleeps.
 */
static void
km_intr_check(const struct vm_map *map, bool sleep, const char *call)
{
	if (__predict_true(!nbmem_intr_p()))
		return;
	if (sleep)
		nbmem_intr_check_sleep("uvm_km", map->vmm_name, call);
	if (!(map->vmm_flags & VM_MAP_INTRSAFE))
		nbmem_panic("uvm_km: %s: %s: from interrupt (signal handler) "
		    "context on a map that is not VM_MAP_INTRSAFE",
		    map->vmm_name, call);
}

static const char *
km_typename(unsigned int type)
{
	switch (type) {
	case UVM_KMF_WIRED:
		return "WIRED";
	case UVM_KMF_PAGEABLE:
		return "PAGEABLE";
	case UVM_KMF_VAONLY:
		return "VAONLY";
	case UVM_KM_COOKIE_SUBMAP:
		return "a submap";
	default:
		return "?";
	}
}

static inline bool
km_type_valid(unsigned int type)
{
	return type == UVM_KMF_WIRED || type == UVM_KMF_PAGEABLE ||
	    type == UVM_KMF_VAONLY;
}

static int
km_prot(uvm_flag_t flags)
{
	if ((flags & UVM_KMF_TYPEMASK) == UVM_KMF_VAONLY)
		return NBMEM_OS_PROT_NONE;
	return NBMEM_OS_PROT_RW |
	    ((flags & UVM_KMF_EXEC) ? NBMEM_OS_PROT_EXEC : 0);
}

/* Round a size to pages; panics on 0 or overflow. */
static vsize_t
km_round(const struct vm_map *map, vsize_t size, const char *call)
{
	size_t ps = km_ps();
	vsize_t r = (size + ps - 1) & ~(ps - 1);

	if (__predict_false(size == 0 || r < size))
		nbmem_panic("uvm_km: %s: %s: size %#zx is %s", map->vmm_name,
		    call, size, size == 0 ? "0" : "too large to round to "
		    "pages");
	return r;
}

/*
 * The busy segment of vm holding addr: is [addr, addr + size) inside
 * it, and with which cookie?  *cookiep is set whenever addr lies in a
 * busy segment.  vmem keeps no search by containment, so this may walk
 * the segment list: for the rare paths only.
 */
static bool
km_lookup(vmem_t *vm, vaddr_t addr, vsize_t size, unsigned int *cookiep)
{
	vmem_addr_t start;
	vmem_size_t ssize;

	if (!nbmem_vmem_lookup(vm, addr, &start, &ssize, cookiep))
		return false;
	return size - 1 <= ssize - 1 - (addr - start);
}

/*
 * Record [va, va + size), just mapped by the OS, in kernel_map with its
 * cookie; reservations are registered too.  False when the records
 * could not be made (no memory for them).
 */
static bool
km_record(struct vm_map *map, vaddr_t va, vsize_t size, unsigned int cookie)
{
	unsigned int old;

	if (vmem_xalloc_addr(map->vmm_arena, va, size, VM_NOSLEEP) != 0) {
		if (km_lookup(map->vmm_arena, va, 1, &old))
			nbmem_panic("uvm_km: %s: the OS returned [%#zx, %#zx), "
			    "which is still allocated as %s (was it unmapped "
			    "behind the page layer's back?)", map->vmm_name,
			    (size_t)va, (size_t)(va + size),
			    km_typename(old));
		return false;
	}
	nbmem_vmem_cookie_set(map->vmm_arena, va, cookie);
	if ((cookie == UVM_KMF_VAONLY || cookie == UVM_KM_COOKIE_SUBMAP) &&
	    !resv_insert(va, size, false)) {
		(void)nbmem_vmem_xfree_cookie(map->vmm_arena, va, size,
		    "uvm_km_alloc");
		return false;
	}
	return true;
}

/* Wired pages are populated already; lock them when asked to. */
static void
km_wire(const struct vm_map *map, vaddr_t va, vsize_t size)
{
	static bool warned;
	int error;

	if (!nbmem_options_mlock())
		return;
	error = nbmem_os_mlock((void *)va, size);
	if (error != 0 && !__atomic_exchange_n(&warned, true,
	    __ATOMIC_RELAXED))
		nbmem_warn("uvm_km: %s: NBMEM_MLOCK=1 but mlock of %#zx bytes "
		    "failed (errno %d, see RLIMIT_MEMLOCK); wired memory stays "
		    "unlocked", map->vmm_name, size, error);
}

static void
km_type_check(const struct vm_map *map, vaddr_t addr, vsize_t size,
    unsigned int had, unsigned int type)
{
	if (__predict_false(had != type))
		nbmem_panic("uvm_km: %s: uvm_km_free: %#zx (size %#zx): "
		    "allocated as %s, freed as %s (type mismatch)",
		    map->vmm_name, (size_t)addr, size, km_typename(had),
		    km_typename(type));
}

/* ---- uvm_km_alloc and uvm_km_free */

static void
km_alloc_check(const struct vm_map *map, vsize_t align, uvm_flag_t flags)
{
	unsigned int type = flags & UVM_KMF_TYPEMASK;
	size_t ps = km_ps();

	if (__predict_false(flags & ~UVM_KMF_KNOWN))
		nbmem_panic("uvm_km: %s: uvm_km_alloc: flags %#x: unknown "
		    "bits %#x", map->vmm_name, flags, flags & ~UVM_KMF_KNOWN);
	if (__predict_false(!km_type_valid(type)))
		nbmem_panic("uvm_km: %s: uvm_km_alloc: flags %#x: need "
		    "exactly one of UVM_KMF_WIRED, UVM_KMF_PAGEABLE and "
		    "UVM_KMF_VAONLY", map->vmm_name, flags);
	/* NetBSD's uvm_map asserts the same. */
	if (__predict_false((flags & (UVM_KMF_NOWAIT | UVM_KMF_WAITVA)) ==
	    (UVM_KMF_NOWAIT | UVM_KMF_WAITVA)))
		nbmem_panic("uvm_km: %s: uvm_km_alloc: flags %#x: "
		    "UVM_KMF_NOWAIT and UVM_KMF_WAITVA together",
		    map->vmm_name, flags);
	if (__predict_false((flags & UVM_KMF_COLORMATCH) &&
	    type != UVM_KMF_VAONLY))
		nbmem_panic("uvm_km: %s: uvm_km_alloc: flags %#x: "
		    "UVM_KMF_COLORMATCH is only for UVM_KMF_VAONLY",
		    map->vmm_name, flags);
	/*
	 * NetBSD's uvm_map asserts a power of two; one below the page size
	 * is met by every page-aligned address.
	 */
	if (__predict_false(!(flags & UVM_KMF_COLORMATCH) && align != 0 &&
	    !km_powerof2(align)))
		nbmem_panic("uvm_km: %s: uvm_km_alloc: align %#zx is not 0 "
		    "or a power of two (the page size is %#zx)",
		    map->vmm_name, align, ps);
}

/*
 * The OS refused a mapping of `size' bytes of kernel_map: was it the
 * address space (no reservation of that size fits either, as under
 * RLIMIT_AS) rather than memory?  VAONLY asked for a reservation.
 */
static bool
km_va_short(vsize_t size, vsize_t align, unsigned int type)
{
	void *p;

	if (type == UVM_KMF_VAONLY)
		return true;
	p = nbmem_os_map(size, align, NBMEM_OS_PROT_NONE, false);
	if (p == NULL)
		return true;
	nbmem_os_unmap(p, size);
	return false;
}

static vaddr_t
km_alloc_kernel(struct vm_map *map, vsize_t size, vsize_t align,
    uvm_flag_t flags)
{
	unsigned int type = flags & UVM_KMF_TYPEMASK;
	bool wait = !(flags & UVM_KMF_NOWAIT);
	bool canfail = (flags & UVM_KMF_CANFAIL) != 0;
	uint64_t since = 0;
	void *p;

	if (type != UVM_KMF_VAONLY &&
	    !nbmem_budget_charge(size, wait, canfail, map->vmm_name))
		return 0;
	for (;;) {
		bool vashort = false;

		p = nbmem_os_map(size, align, km_prot(flags),
		    type == UVM_KMF_WIRED);
		if (p != NULL && km_record(map, (vaddr_t)p, size, type))
			break;
		if (p != NULL)
			nbmem_os_unmap(p, size);
		else
			vashort = km_va_short(size, align, type);
		/*
		 * No room in the map: 0 at once, or with UVM_KMF_WAITVA a
		 * wait for address space, which CANFAIL does not cut short
		 * (NetBSD: uvm_map fails unless UVM_FLAG_WAITVA).
		 */
		if (!wait || (vashort && !(flags & UVM_KMF_WAITVA)) ||
		    !nbmem_budget_oswait(map->vmm_name, size,
		    canfail && !vashort, &since)) {
			if (type != UVM_KMF_VAONLY)
				nbmem_budget_uncharge(size);
			return 0;
		}
	}
	if (type == UVM_KMF_WIRED)
		km_wire(map, (vaddr_t)p, size);
	return (vaddr_t)p;
}

static vaddr_t
km_alloc_submap(struct vm_map *map, vsize_t size, vsize_t align,
    uvm_flag_t flags)
{
	unsigned int type = flags & UVM_KMF_TYPEMASK;
	bool wait = !(flags & UVM_KMF_NOWAIT);
	bool canfail = (flags & UVM_KMF_CANFAIL) != 0;
	vm_flag_t vf = VM_BESTFIT |
	    (wait && (flags & UVM_KMF_WAITVA) ? VM_SLEEP : VM_NOSLEEP);
	uint64_t since = 0;
	vmem_addr_t va;

	/* A full map fails the call unless UVM_KMF_WAITVA, as in NetBSD. */
	if (vmem_xalloc(map->vmm_arena, size, align, 0, 0, VMEM_ADDR_MIN,
	    VMEM_ADDR_MAX, vf, &va) != 0)
		return 0;
	if (type != UVM_KMF_VAONLY) {
		if (!nbmem_budget_charge(size, wait, canfail, map->vmm_name)) {
			vmem_xfree(map->vmm_arena, va, size);
			return 0;
		}
		while (nbmem_os_commit((void *)va, size, km_prot(flags),
		    type == UVM_KMF_WIRED) != 0) {
			/* A failed MAP_FIXED may leave a hole: close it. */
			(void)nbmem_os_decommit((void *)va, size);
			if (!wait || !nbmem_budget_oswait(map->vmm_name, size,
			    canfail, &since)) {
				nbmem_budget_uncharge(size);
				vmem_xfree(map->vmm_arena, va, size);
				return 0;
			}
		}
	}
	nbmem_vmem_cookie_set(map->vmm_arena, va, type);
	if (type == UVM_KMF_WIRED)
		km_wire(map, va, size);
	return va;
}

NBMEM_EXPORT vaddr_t
uvm_km_alloc(struct vm_map *map, vsize_t size, vsize_t align,
    uvm_flag_t flags)
{
	km_map_check(map, "uvm_km_alloc");
	km_alloc_check(map, align, flags);
	km_intr_check(map, !(flags & UVM_KMF_NOWAIT), "uvm_km_alloc");
	/*
	 * The span is at most 2^63: it bounds what rounds to pages too.
	 * No map has room for more: 0, as NetBSD's uvm_map fails, unless
	 * UVM_KMF_WAITVA would wait for ever.
	 */
	if (__predict_false(size == 0 || size > nbmem_os_va_span())) {
		if (size != 0 && !(flags & UVM_KMF_WAITVA))
			return 0;
		(void)km_round(map, size, "uvm_km_alloc");
		nbmem_panic("uvm_km: %s: uvm_km_alloc: size %#zx can never be "
		    "met (the address space spans %#zx)", map->vmm_name,
		    (size_t)size, nbmem_os_va_span());
	}
	size = km_round(map, size, "uvm_km_alloc");
	if ((flags & UVM_KMF_COLORMATCH) || align <= km_ps())
		align = 0;
	if (map->vmm_flags & VMM_KERNEL)
		return km_alloc_kernel(map, size, align, flags);
	return km_alloc_submap(map, size, align, flags);
}

NBMEM_EXPORT void
uvm_km_free(struct vm_map *map, vaddr_t addr, vsize_t size, uvm_flag_t flags)
{
	unsigned int type = flags & UVM_KMF_TYPEMASK, had;

	km_map_check(map, "uvm_km_free");
	km_intr_check(map, false, "uvm_km_free");
	if (__predict_false(!km_type_valid(type)))
		nbmem_panic("uvm_km: %s: uvm_km_free: %#zx: flags %#x: need "
		    "exactly one of UVM_KMF_WIRED, UVM_KMF_PAGEABLE and "
		    "UVM_KMF_VAONLY", map->vmm_name, (size_t)addr, flags);
	if (__predict_false((addr & (km_ps() - 1)) != 0))
		nbmem_panic("uvm_km: %s: uvm_km_free: address %#zx (size "
		    "%#zx) is not page-aligned", map->vmm_name, (size_t)addr,
		    size);
	size = km_round(map, size, "uvm_km_free");

	if (map->vmm_flags & VMM_KERNEL) {
		/* Forget it first: the OS may hand the range out at unmap. */
		had = nbmem_vmem_xfree_cookie(map->vmm_arena, addr, size,
		    "uvm_km_free");
		km_type_check(map, addr, size, had, type);
		if (had == UVM_KMF_VAONLY)
			resv_remove(addr, size);
		nbmem_os_unmap((void *)addr, size);
	} else {
		if (__predict_false(addr < map->vmm_min ||
		    addr >= map->vmm_max || size > map->vmm_max - addr))
			nbmem_panic("uvm_km: %s: uvm_km_free: [%#zx, %#zx) is "
			    "not inside the map [%#zx, %#zx)", map->vmm_name,
			    (size_t)addr, (size_t)(addr + size),
			    (size_t)map->vmm_min, (size_t)map->vmm_max);
		/* Drop the pages first: once freed the range is reusable. */
		if (nbmem_os_decommit((void *)addr, size) != 0)
			(void)nbmem_os_purge((void *)addr, size);
		had = nbmem_vmem_xfree_cookie(map->vmm_arena, addr, size,
		    "uvm_km_free");
		km_type_check(map, addr, size, had, type);
	}
	if (had != UVM_KMF_VAONLY)
		nbmem_budget_uncharge(size);
}

NBMEM_EXPORT int
uvm_km_protect(struct vm_map *map, vaddr_t addr, vsize_t size,
    vm_prot_t prot)
{
	unsigned int had = 0;

	km_map_check(map, "uvm_km_protect");
	km_intr_check(map, true, "uvm_km_protect");	/* never from one */
	if (__predict_false((prot & ~VM_PROT_ALL) != 0))
		nbmem_panic("uvm_km: %s: uvm_km_protect: %#zx: protection "
		    "%#x is not a set of VM_PROT_READ, VM_PROT_WRITE and "
		    "VM_PROT_EXECUTE", map->vmm_name, (size_t)addr,
		    (unsigned int)prot);
	if (__predict_false((addr & (km_ps() - 1)) != 0))
		nbmem_panic("uvm_km: %s: uvm_km_protect: address %#zx is not "
		    "page-aligned", map->vmm_name, (size_t)addr);
	size = km_round(map, size, "uvm_km_protect");
	if (__predict_false(size - 1 > VMEM_ADDR_MAX - addr ||
	    !km_lookup(map->vmm_arena, addr, size, &had)))
		nbmem_panic("uvm_km: %s: uvm_km_protect: [%#zx, %#zx) is not "
		    "inside one allocation of the map", map->vmm_name,
		    (size_t)addr, (size_t)(addr + size));
	if (had == UVM_KM_COOKIE_SUBMAP)
		return EINVAL;		/* NetBSD: a submap entry */
	return nbmem_os_protect((void *)addr, size, prot);
}

/* ---- submaps */

NBMEM_EXPORT struct vm_map *
uvm_km_suballoc(struct vm_map *map, vaddr_t *vmin, vaddr_t *vmax,
    vsize_t size, int flags, bool fixed, struct vm_map *submap)
{
	size_t ps = km_ps();
	vaddr_t va = 0;
	vmem_t *vm;

	km_map_check(map, "uvm_km_suballoc");
	km_intr_check(map, true, "uvm_km_suballoc");
	VERIFY(vmin != NULL && vmax != NULL, "uvm_km: %s: uvm_km_suballoc: "
	    "NULL vmin or vmax", map->vmm_name);
	VERIFY((flags & ~VM_MAP_KNOWN) == 0, "uvm_km: %s: uvm_km_suballoc: "
	    "flags %#x: unknown bits %#x", map->vmm_name,
	    (unsigned int)flags, (unsigned int)(flags & ~VM_MAP_KNOWN));
	VERIFY(((uintptr_t)submap & (UVM_MAP_STORAGE_ALIGN - 1)) == 0,
	    "uvm_km: %s: uvm_km_suballoc: submap storage %p is not aligned "
	    "to %d bytes", map->vmm_name, (void *)submap,
	    UVM_MAP_STORAGE_ALIGN);
	size = km_round(map, size, "uvm_km_suballoc");
	if (fixed)
		VERIFY((*vmin & (ps - 1)) == 0 &&
		    size - 1 <= VMEM_ADDR_MAX - *vmin, "uvm_km: %s: "
		    "uvm_km_suballoc: fixed address %#zx (size %#zx) is not "
		    "page-aligned or wraps", map->vmm_name, (size_t)*vmin,
		    size);

	if (map->vmm_flags & VMM_KERNEL) {
		void *p = fixed ?
		    nbmem_os_map_at((void *)*vmin, size, NBMEM_OS_PROT_NONE,
		    false) : nbmem_os_map(size, 0, NBMEM_OS_PROT_NONE, false);
		if (p == NULL || !km_record(map, (vaddr_t)p, size,
		    UVM_KM_COOKIE_SUBMAP))
			nbmem_panic("uvm_km: %s: uvm_km_suballoc: cannot "
			    "reserve %#zx bytes%s (at %#zx)", map->vmm_name,
			    size, fixed ? " at the fixed address" : "",
			    (size_t)(fixed ? *vmin : (vaddr_t)p));
		va = (vaddr_t)p;
	} else {
		int rc;
		if (fixed) {
			va = *vmin;
			rc = vmem_xalloc_addr(map->vmm_arena, va, size,
			    VM_NOSLEEP);
		} else
			rc = vmem_xalloc(map->vmm_arena, size, 0, 0, 0,
			    VMEM_ADDR_MIN, VMEM_ADDR_MAX,
			    VM_BESTFIT | VM_NOSLEEP, &va);
		if (rc != 0)
			nbmem_panic("uvm_km: %s: uvm_km_suballoc: cannot "
			    "reserve %#zx bytes%s (at %#zx)", map->vmm_name,
			    size, fixed ? " at the fixed address" : "",
			    (size_t)va);
		nbmem_vmem_cookie_set(map->vmm_arena, va,
		    UVM_KM_COOKIE_SUBMAP);
	}

	vm = vmem_create("submap", va, size, ps, NULL, NULL, NULL, 0,
	    VM_SLEEP, (flags & VM_MAP_INTRSAFE) ? IPL_VM : IPL_NONE);
	VERIFY(vm != NULL, "uvm_km: %s: uvm_km_suballoc: cannot create the "
	    "arena of a submap of %#zx bytes", map->vmm_name, size);
	uint32_t vflags = (uint32_t)flags;
	if (submap == NULL) {
		size_t ss = (sizeof(*submap) + ps - 1) & ~(ps - 1);
		submap = nbmem_os_map(ss, 0, NBMEM_OS_PROT_RW, false);
		VERIFY(submap != NULL, "uvm_km: %s: uvm_km_suballoc: no memory "
		    "for a submap", map->vmm_name);
		vflags |= VMM_OSSTORAGE;
	}
	memset(submap, 0, sizeof(*submap));
	submap->vmm_flags = vflags;
	submap->vmm_parent = map;
	submap->vmm_arena = vm;
	submap->vmm_min = va;
	submap->vmm_max = va + size;
	nbmem_snprintf(submap->vmm_name, sizeof(submap->vmm_name),
	    "submap %#zx", (size_t)va);
	__atomic_store_n(&submap->vmm_magic, VMM_MAGIC, __ATOMIC_RELEASE);
	*vmin = va;
	*vmax = va + size;
	return submap;
}

/* ---- the kmem back end */

static void
kmem_arena_check(vmem_t *vm, const char *call)
{
	VERIFY(vm != NULL, "uvm_km: %s: NULL arena", call);
	if (__predict_false((nbmem_vmem_quantum(vm) & (km_ps() - 1)) != 0))
		nbmem_panic("uvm_km: arena \"%s\": %s: quantum %#zx is not a "
		    "multiple of the page size %#zx", nbmem_vmem_name(vm),
		    call, nbmem_vmem_quantum(vm), km_ps());
	if (__predict_false(nbmem_intr_p()))
		nbmem_intr_check_ipl(nbmem_vmem_ipl(vm), "uvm_km",
		    nbmem_vmem_name(vm), call);
}

static void
kmem_foreign(vmem_t *vm, vmem_addr_t va, vmem_size_t size, const char *call)
{
	nbmem_panic("uvm_km: arena \"%s\": %s: [%#zx, %#zx) is not address "
	    "space the page layer reserved (foreign arena; stack it on "
	    "kmem_va_arena or kmem_meta_arena)", nbmem_vmem_name(vm), call,
	    (size_t)va, (size_t)(va + size));
}

/*
 * Pages of a kmem arena handed out: the checkers see them as usable again
 * (uvm_km_kmem_free left the range inaccessible to them).
 */
static void
kmem_pages_usable(vmem_addr_t va, vmem_size_t size)
{
	NBMEM_ASAN_UNPOISON((void *)va, size);
	if (__predict_false((nbmem_debug_flags & NBMEM_DEBUG_MEMCHECK) != 0))
		NBMEM_VG_DEFINED((void *)va, size);
}

NBMEM_EXPORT int
uvm_km_kmem_alloc(vmem_t *vm, vmem_size_t size, vm_flag_t flags,
    vmem_addr_t *addrp)
{
	vm_flag_t sleep = flags & (VM_SLEEP | VM_NOSLEEP);
	size_t ps = km_ps();
	uint64_t since = 0;
	vmem_addr_t va;
	int kind;

	kmem_arena_check(vm, "uvm_km_kmem_alloc");
	if (__predict_false(sleep != VM_SLEEP && sleep != VM_NOSLEEP))
		nbmem_panic("uvm_km: arena \"%s\": uvm_km_kmem_alloc: flags "
		    "%#x must carry exactly one of VM_SLEEP and VM_NOSLEEP",
		    nbmem_vmem_name(vm), flags);
	if (__predict_false(size == 0))
		nbmem_panic("uvm_km: arena \"%s\": uvm_km_kmem_alloc: size 0",
		    nbmem_vmem_name(vm));
	if (sleep == VM_SLEEP)
		nbmem_intr_check_sleep("uvm_km", nbmem_vmem_name(vm),
		    "uvm_km_kmem_alloc");
	if (__predict_false(size > nbmem_os_va_span())) {
		if (sleep == VM_NOSLEEP)
			return ENOMEM;
		nbmem_panic("uvm_km: arena \"%s\": uvm_km_kmem_alloc: size "
		    "%#zx can never be met (the address space spans %#zx)",
		    nbmem_vmem_name(vm), size, nbmem_os_va_span());
	}
	size = (size + ps - 1) & ~(ps - 1);
	if ((flags & VM_FIT_MASK) == 0)
		flags |= VM_INSTANTFIT;

	if (!nbmem_budget_charge(size, sleep == VM_SLEEP, false,
	    nbmem_vmem_name(vm)))
		return ENOMEM;
	if (vmem_alloc(vm, size, flags, &va) != 0) {
		nbmem_budget_uncharge(size);
		return ENOMEM;
	}
	kind = resv_lookup(va, size);
	if (__predict_false(kind == RESV_OUTSIDE))
		kmem_foreign(vm, va, size, "uvm_km_kmem_alloc");
	while (kind == RESV_NONE && nbmem_os_commit((void *)va, size,
	    NBMEM_OS_PROT_RW, false) != 0) {
		(void)nbmem_os_decommit((void *)va, size);
		if (sleep == VM_NOSLEEP || !nbmem_budget_oswait(
		    nbmem_vmem_name(vm), size, false, &since)) {
			vmem_free(vm, va, size);
			nbmem_budget_uncharge(size);
			return ENOMEM;
		}
	}
	kmem_pages_usable(va, size);
	*addrp = va;
	return 0;
}

/*
 * nbmem_uvm_kmem_extend's nbmem_vmem_ready_t, with the arena locked (the
 * new pages are still free there, so no one else maps them): commit
 * them where the chunk is PROT_NONE.  EFAULT outside the page layer's
 * reservations (the caller panics, the lock dropped).
 */
static int
kmem_extend_ready(void *arg, vmem_addr_t va, vmem_size_t size)
{
	int kind = resv_lookup(va, size);

	(void)arg;
	if (__predict_false(kind == RESV_OUTSIDE))
		return EFAULT;
	if (kind == RESV_NONE && nbmem_os_commit((void *)va, size,
	    NBMEM_OS_PROT_RW, false) != 0) {
		(void)nbmem_os_decommit((void *)va, size);
		return ENOMEM;
	}
	return 0;
}

/*
 * Grow the range [va, va + size) that uvm_km_kmem_alloc gave, in place,
 * by the extra bytes after it when the arena has them free (the malloc
 * family's realloc): charged and committed as uvm_km_kmem_alloc's
 * pages are, never waiting.  0, or ENOMEM with nothing changed.
 */
int
nbmem_uvm_kmem_extend(vmem_t *vm, vmem_addr_t va, vmem_size_t size,
    vmem_size_t extra)
{
	size_t ps = km_ps();
	vmem_addr_t end = va + size;
	int error;

	kmem_arena_check(vm, "realloc");
	extra = (extra + ps - 1) & ~(ps - 1);
	if (!nbmem_budget_charge(extra, false, true, nbmem_vmem_name(vm)))
		return ENOMEM;
	/* Free space in its span, or after the span in kmem_arena. */
	error = nbmem_vmem_extend(vm, va, size, extra, kmem_extend_ready,
	    NULL);
	if (error == ENOMEM && vm == kmem_va_arena)
		error = nbmem_vmem_extend_span(vm, va, size, extra,
		    kmem_arena, kmem_extend_ready, NULL);
	if (__predict_false(error == EFAULT))
		kmem_foreign(vm, end, extra, "realloc");
	if (error != 0) {
		nbmem_budget_uncharge(extra);
		return ENOMEM;
	}
	kmem_pages_usable(end, extra);
	return 0;
}

NBMEM_EXPORT void
uvm_km_kmem_free(vmem_t *vm, vmem_addr_t addr, vmem_size_t size)
{
	size_t ps = km_ps();
	int kind = RESV_OUTSIDE;

	kmem_arena_check(vm, "uvm_km_kmem_free");
	if (__predict_false(size == 0 || (addr & (ps - 1)) != 0))
		nbmem_panic("uvm_km: arena \"%s\": uvm_km_kmem_free: %#zx "
		    "(size %#zx): %s", nbmem_vmem_name(vm), (size_t)addr, size,
		    size == 0 ? "size 0" : "address not page-aligned");
	size = (size + ps - 1) & ~(ps - 1);
	if (__predict_false(size == 0 || size - 1 > VMEM_ADDR_MAX - addr ||
	    (kind = resv_lookup(addr, size)) == RESV_OUTSIDE))
		kmem_foreign(vm, addr, size, "uvm_km_kmem_free");
	/* Drop the pages first: once freed the range is reusable. */
	if (kind == RESV_LAZY) {
		/*
		 * Locked memory (mlockall) refuses MADV_DONTNEED: a fresh
		 * mapping drops the pages instead, so that the range reads
		 * as zeros again (calloc counts on it).
		 */
		if (nbmem_os_purge((void *)addr, size) != 0 &&
		    nbmem_os_remap_lazy((void *)addr, size) != 0)
			nbmem_panic("uvm_km: arena \"%s\": uvm_km_kmem_free: "
			    "[%#zx, %#zx): the OS takes its pages back neither "
			    "by madvise nor by a new mapping",
			    nbmem_vmem_name(vm), (size_t)addr,
			    (size_t)(addr + size));
	} else if (nbmem_os_decommit((void *)addr, size) != 0)
		(void)nbmem_os_purge((void *)addr, size);
	/*
	 * A use after free of kmem's large path, or of any page given
	 * back, is reported by memcheck and ASan; before the range is
	 * reusable, so as not to hide the next owner's pages.
	 */
	NBMEM_ASAN_POISON((void *)addr, size);
	if (__predict_false((nbmem_debug_flags & NBMEM_DEBUG_MEMCHECK) != 0))
		NBMEM_VG_NOACCESS((void *)addr, size);
	vmem_free(vm, addr, size);
	nbmem_budget_uncharge(size);
}

/*
 * Userspace has address space to spare and keeps kmem_arena growing on
 * demand, so "less than 10% of kmem_arena free" (NetBSD) would say
 * nothing.  What can starve is the budget, and the address space when
 * the OS refuses it: true when the budget is limited and less than a
 * tenth of it is left, or when the last import of address space into
 * kmem_arena was refused.
 */
NBMEM_EXPORT bool
uvm_km_va_starved_p(void)
{
	return nbmem_budget_tight_p() ||
	    __atomic_load_n(&kmem_import_failed, __ATOMIC_RELAXED);
}

/* ---- fork */

static void
uvm_fork(int phase)
{
	if (phase == NBMEM_FORK_PREPARE)
		mutex_enter(&resv_lock);
	else
		mutex_exit(&resv_lock);
}

__attribute__((__constructor__(105)))
static void
uvm_fork_init(void)
{
	nbmem_fork_hook_add(NBMEM_FORK_ORDER_UVM, uvm_fork);
}

/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * debug_track.c: the record of every object handed out, for the
 * run-time debug modes (NBMEM_DEBUG).
 *
 * 1 Overview
 *   With any mode on, pool(3), pool_cache(3) and kmem(3) record each
 *   object they hand out and look it up when it comes back: NetBSD's
 *   FREECHECK ("not out") for every allocator.  A put of an object that
 *   is not live is a double free (it was freed) or a foreign pointer
 *   (it was never handed out); a put to another cache than the one that
 *   handed it out is a wrong cache; kmem_free with another size than
 *   the one asked is a wrong size.  With audit or leaks the record also
 *   keeps the stack of the allocation (of the last free, once freed),
 *   printed with a diagnostic about the object and by the leak report
 *   (nbmem_leaks_report(), or at exit with leaks).
 *
 * 2 Data structures
 *   One open-addressing hash table keyed by address, linear probing,
 *   mapped from the OS (never from nbmem's allocators: the table must
 *   not recurse into what it watches).  A record is live, free (kept,
 *   so a second free is told from a foreign pointer) or a tombstone
 *   (its owner was destroyed).  The table doubles when half full;
 *   free records and tombstones are dropped by the copy only if they
 *   are tombstones.
 *
 * 3 Invariants
 *   - at most one record per address; a live record's owner is the
 *     pool or cache (or kmem's large path) that handed the object out;
 *   - used (live + free + tombstones) <= capacity / 2.
 *
 * 4 Locking
 *   One mutex at IPL_HIGH (signals blocked: caches above IPL_NONE are
 *   used from signal handlers).  It is a leaf: taken under pool locks,
 *   nothing is taken under it.  Stacks are captured before it is taken.
 *   Fork takes it last (NBMEM_FORK_ORDER_TRACK).
 *
 * 5 Debug features
 *   This file is one.  Diagnostics use the taxonomy words and never
 *   allocate; the leak report writes with write(2) only.
 *
 * 6 Differences from NetBSD
 *   NetBSD's freecheck keeps a fixed array of pointers per CPU for
 *   DEBUG kernels; here one table, sized as needed, serves every
 *   allocator, and keeps stacks as illumos' umem audit does.
 *
 * 7 References
 *   NetBSD sys/kern/subr_debug.c (freecheck_out, freecheck_in: the
 *   DEBUG kernel's "not out" check); illumos umem_debug(3MALLOC), audit.
 */
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "lock.h"
#include "os/os.h"

/* Frames kept per record: enough to reach the caller of a kmem wrapper. */
#define	TRACK_FRAMES	12
/* First table: 4096 records (a few hundred KiB of address space). */
#define	TRACK_INITCAP	4096u

#define	TR_EMPTY	0
#define	TR_LIVE		1
#define	TR_FREE		2
#define	TR_DEAD		3	/* tombstone */

/*
 * A record keeps its object's address complemented, so that a leak
 * checker scanning the table (memcheck) does not take it for a pointer
 * to the object and call a leaked object reachable.
 */
#define	TRACK_KEY(a)	(~(uintptr_t)(a))

struct track_rec {
	uintptr_t	tr_key;		/* TRACK_KEY(the object's address) */
	const void	*tr_owner;
	const char	*tr_kind;
	const char	*tr_name;
	size_t		tr_size;	/* owner's object size */
	size_t		tr_kmsize;	/* kmem: the size asked */
	uint16_t	tr_state;
	uint16_t	tr_flags;
	uint16_t	tr_nframes;
	void		*tr_stack[TRACK_FRAMES];
};

static kmutex_t track_lock = MUTEX_INITIALIZER(IPL_HIGH);
static struct track_rec *track_tab;	/* track_lock */
static size_t track_cap, track_used;

struct track_stack {
	int	ts_n;
	void	*ts_frames[TRACK_FRAMES + 2];
};

static bool
track_stacks_p(void)
{
	return (nbmem_debug_flags &
	    (NBMEM_DEBUG_AUDIT | NBMEM_DEBUG_LEAKS)) != 0;
}

static void
track_capture(struct track_stack *ts)
{
	ts->ts_n = track_stacks_p() ?
	    nbmem_os_backtrace_capture(ts->ts_frames, TRACK_FRAMES + 2) : 0;
}

/* Keep the frames past this file and its caller's hook. */
static void
track_setstack(struct track_rec *r, const struct track_stack *ts)
{
	int skip = ts->ts_n > 2 ? 2 : ts->ts_n;

	r->tr_nframes = (uint16_t)(ts->ts_n - skip);
	memcpy(r->tr_stack, ts->ts_frames + skip,
	    (size_t)r->tr_nframes * sizeof(void *));
}

static inline size_t
track_hash(uintptr_t a, size_t cap)
{
	return (size_t)(((uint64_t)(a >> 3) * 0x9e3779b97f4a7c15ull) >>
	    17) & (cap - 1);
}

/* The record of a, or NULL; the lock is held. */
static struct track_rec *
track_find(uintptr_t a)
{
	uintptr_t k = TRACK_KEY(a);

	if (track_tab == NULL)
		return NULL;
	for (size_t i = track_hash(k, track_cap);; i = (i + 1) &
	    (track_cap - 1)) {
		struct track_rec *r = &track_tab[i];
		if (r->tr_state == TR_EMPTY)
			return NULL;
		if (r->tr_key == k && r->tr_state != TR_DEAD)
			return r;
	}
}

/* Double the table (or make the first); the lock is held. */
static void
track_grow(void)
{
	size_t ncap = track_cap == 0 ? TRACK_INITCAP : track_cap * 2;
	size_t bytes = ncap * sizeof(struct track_rec);
	struct track_rec *nt = nbmem_os_map(bytes, 0, NBMEM_OS_PROT_RW,
	    false);
	size_t used = 0;

	VERIFY(nt != NULL, "debug: no memory for the table of live objects "
	    "(%zu bytes)", bytes);
	for (size_t j = 0; j < track_cap; j++) {
		struct track_rec *r = &track_tab[j];
		if (r->tr_state != TR_LIVE && r->tr_state != TR_FREE)
			continue;
		size_t i = track_hash(r->tr_key, ncap);
		while (nt[i].tr_state != TR_EMPTY)
			i = (i + 1) & (ncap - 1);
		nt[i] = *r;
		used++;
	}
	if (track_tab != NULL)
		nbmem_os_unmap(track_tab, track_cap * sizeof(struct track_rec));
	track_tab = nt;
	track_cap = ncap;
	track_used = used;
}

/* The record of a, made if missing; the lock is held. */
static struct track_rec *
track_insert(uintptr_t a)
{
	struct track_rec *r = track_find(a);

	if (r != NULL)
		return r;
	if ((track_used + 1) * 2 > track_cap)
		track_grow();
	for (size_t i = track_hash(TRACK_KEY(a), track_cap);; i = (i + 1) &
	    (track_cap - 1)) {
		r = &track_tab[i];
		if (r->tr_state == TR_EMPTY) {
			track_used++;
			break;
		}
		if (r->tr_state == TR_DEAD)
			break;
	}
	r->tr_key = TRACK_KEY(a);
	r->tr_state = TR_FREE;
	return r;
}

/* ---- diagnostics */

static void
track_print_stack(int fd, const struct track_rec *r)
{
	if (r->tr_nframes > 0)
		nbmem_os_backtrace_print(fd, r->tr_stack, r->tr_nframes);
}

/*
 * Report a misuse about object p, given back to `kind' "name" through
 * `call': with audit, the recorded stack first (of the allocation, or
 * of the last free), then the panic line.  The lock is held.
 */
static void __noreturn __attribute__((__noinline__, __cold__))
track_panic(const struct track_rec *r, const char *kind, const char *name,
    const char *call, void *p, const char *rule)
{
	struct track_rec copy;
	bool stack = r != NULL && r->tr_nframes > 0;

	if (r != NULL)
		copy = *r;
	mutex_exit(&track_lock);
	if (stack) {
		nbmem_warn("debug: %p (%s \"%s\", %zu bytes) was last %s at:",
		    p, copy.tr_kind, copy.tr_name, copy.tr_size,
		    copy.tr_state == TR_FREE ? "freed" : "allocated");
		track_print_stack(STDERR_FILENO, &copy);
	}
	if (r == NULL)
		nbmem_panic("%s: \"%s\": %s: %p: %s", kind, name, call, p,
		    rule);
	nbmem_panic("%s: \"%s\": %s: %p: %s %s \"%s\", %zu bytes)", kind,
	    name, call, p, rule, copy.tr_kind, copy.tr_name,
	    (copy.tr_flags & NBMEM_TRACK_KMEM) != 0 ? copy.tr_kmsize :
	    copy.tr_size);
}

#define	TRACK_FOREIGN	"foreign pointer (never handed out by a pool, a " \
			"cache or kmem)"

/* ---- the interface */

void
nbmem_track_alloc(void *p, const void *owner, const char *kind,
    const char *name, size_t size, unsigned int flags)
{
	struct track_stack ts;
	struct track_rec *r;

	track_capture(&ts);
	mutex_enter(&track_lock);
	r = track_insert((uintptr_t)p);
	r->tr_owner = owner;
	r->tr_kind = kind;
	r->tr_name = name;
	r->tr_size = size;
	r->tr_kmsize = 0;
	r->tr_state = TR_LIVE;
	r->tr_flags = (uint16_t)flags;
	track_setstack(r, &ts);
	mutex_exit(&track_lock);
}

size_t
nbmem_track_free(void *p, const void *owner, const char *kind,
    const char *name, const char *call)
{
	struct track_stack ts;
	struct track_rec *r;
	size_t size;

	track_capture(&ts);
	mutex_enter(&track_lock);
	r = track_find((uintptr_t)p);
	if (r == NULL)
		track_panic(NULL, kind, name, call, p, TRACK_FOREIGN);
	if (r->tr_state == TR_FREE)
		track_panic(r, kind, name, call, p, "double free (already "
		    "freed; it came from");
	/* Only vmem's quantum caches keep NOLEAK records. */
	if (r->tr_owner != owner && (r->tr_flags & NBMEM_TRACK_NOLEAK) != 0)
		track_panic(r, kind, name, call, p, "wrong size (vmem_free "
		    "with the size of another quantum cache of the arena; "
		    "it came from");
	if (r->tr_owner != owner)
		track_panic(r, kind, name, call, p, "wrong cache (it was "
		    "handed out by");
	if ((r->tr_flags & NBMEM_TRACK_KMEM) != 0)
		track_panic(r, kind, name, call, p, "wrong cache (a live kmem "
		    "object, to be given back with kmem_free; from");
	size = r->tr_size;
	r->tr_state = TR_FREE;
	track_setstack(r, &ts);
	mutex_exit(&track_lock);
	return size;
}

/* The owner of kmem's records for objects of no cache. */
static const char track_kmem_owner[] = "kmem";

size_t
nbmem_track_kmem_alloc(void *p, size_t size, unsigned int flags)
{
	struct track_rec *r;
	size_t csize;

	mutex_enter(&track_lock);
	r = track_find((uintptr_t)p);
	if (r != NULL && r->tr_state == TR_LIVE) {
		r->tr_flags |= NBMEM_TRACK_KMEM;
		r->tr_kmsize = size;
		csize = r->tr_size;
		mutex_exit(&track_lock);
		return csize;
	}
	mutex_exit(&track_lock);
	nbmem_track_alloc(p, track_kmem_owner, "kmem",
	    (flags & NBMEM_TRACK_GUARD) != 0 ? "guard" : "kva", size,
	    NBMEM_TRACK_KMEM | flags);
	mutex_enter(&track_lock);
	r = track_find((uintptr_t)p);
	r->tr_kmsize = size;
	mutex_exit(&track_lock);
	return 0;
}

size_t
nbmem_track_kmem_free(void *p, size_t size, const char *call,
    unsigned int *flagsp)
{
	struct track_stack ts;
	struct track_rec *r;
	size_t csize = 0;

	track_capture(&ts);
	mutex_enter(&track_lock);
	r = track_find((uintptr_t)p);
	if (r == NULL)
		track_panic(NULL, "kmem", "kmem", call, p, TRACK_FOREIGN);
	if (r->tr_state == TR_FREE)
		track_panic(r, "kmem", r->tr_name, call, p, "double free "
		    "(already freed; it came from");
	if ((r->tr_flags & NBMEM_TRACK_KMEM) == 0)
		track_panic(r, "kmem", "kmem", call, p, "wrong cache (not "
		    "from kmem: handed out by");
	if (r->tr_kmsize != size) {
		char rule[128];
		nbmem_snprintf(rule, sizeof(rule), "wrong size (kmem_free(%p, "
		    "%zu) != allocated size %zu; from", p, size, r->tr_kmsize);
		track_panic(r, "kmem", r->tr_name, call, p, rule);
	}
	*flagsp = r->tr_flags;
	r->tr_flags &= (uint16_t)~NBMEM_TRACK_KMEM;
	if (r->tr_owner == track_kmem_owner) {
		r->tr_state = TR_FREE;
		track_setstack(r, &ts);
	} else
		csize = r->tr_size;
	mutex_exit(&track_lock);
	return csize;
}

size_t
nbmem_track_lookup(void *p, const char *kind, const char *call,
    const void **ownerp)
{
	struct track_rec *r;
	size_t size;

	mutex_enter(&track_lock);
	r = track_find((uintptr_t)p);
	if (r == NULL)
		track_panic(NULL, kind, kind, call, p, TRACK_FOREIGN);
	if (r->tr_state == TR_FREE)
		track_panic(r, kind, r->tr_name, call, p, "double free "
		    "(already freed; it came from");
	if ((r->tr_flags & NBMEM_TRACK_KMEM) != 0) {
		*ownerp = NULL;
		size = r->tr_kmsize;
	} else {
		*ownerp = r->tr_owner;
		size = r->tr_size;
	}
	mutex_exit(&track_lock);
	return size;
}

void
nbmem_track_forget(const void *owner)
{
	mutex_enter(&track_lock);
	for (size_t i = 0; i < track_cap; i++) {
		struct track_rec *r = &track_tab[i];
		if ((r->tr_state == TR_LIVE || r->tr_state == TR_FREE) &&
		    r->tr_owner == owner)
			r->tr_state = TR_DEAD;
	}
	mutex_exit(&track_lock);
}

bool
nbmem_track_guard_find(uintptr_t page, size_t ps, void **pp, size_t *sizep)
{
	/* From a fault handler: no lock (see internal.h). */
	struct track_rec *tab = __atomic_load_n(&track_tab, __ATOMIC_ACQUIRE);
	size_t cap = __atomic_load_n(&track_cap, __ATOMIC_RELAXED);

	for (size_t i = 0; tab != NULL && i < cap; i++) {
		const struct track_rec *r = &tab[i];
		uintptr_t a = TRACK_KEY(r->tr_key);
		if (r->tr_state != TR_LIVE || (r->tr_flags & (NBMEM_TRACK_KMEM |
		    NBMEM_TRACK_GUARD)) != (NBMEM_TRACK_KMEM |
		    NBMEM_TRACK_GUARD))
			continue;
		if (((a + r->tr_kmsize + ps - 1) & ~(uintptr_t)(ps - 1)) ==
		    page) {
			*pp = (void *)a;
			*sizep = r->tr_kmsize;
			return true;
		}
	}
	return false;
}

/* ---- leaks */

NBMEM_EXPORT size_t
nbmem_leaks_report(int fd)
{
	char line[256];
	size_t n = 0, bytes = 0, len;

	mutex_enter(&track_lock);
	for (size_t i = 0; i < track_cap; i++) {
		struct track_rec *r = &track_tab[i];
		if (r->tr_state != TR_LIVE ||
		    (r->tr_flags & NBMEM_TRACK_NOLEAK) != 0)
			continue;
		size_t size = (r->tr_flags & NBMEM_TRACK_KMEM) != 0 ?
		    r->tr_kmsize : r->tr_size;
		n++;
		bytes += size;
		if (fd < 0)
			continue;
		len = nbmem_snprintf(line, sizeof(line), "nbmem: leak: %s "
		    "\"%s\": %p, %zu bytes, still allocated%s\n",
		    (r->tr_flags & NBMEM_TRACK_KMEM) != 0 ? "kmem" :
		    r->tr_kind, r->tr_name, (void *)TRACK_KEY(r->tr_key), size,
		    r->tr_nframes > 0 ? "; allocated at:" : "");
		nbmem_os_write_fd(fd, line, len);
		track_print_stack(fd, r);
	}
	mutex_exit(&track_lock);
	if (fd >= 0 && n > 0) {
		len = nbmem_snprintf(line, sizeof(line), "nbmem: leaks: %zu "
		    "objects, %zu bytes still allocated\n", n, bytes);
		nbmem_os_write_fd(fd, line, len);
	}
	return n;
}

/* With leaks, the report at exit (the library's destructor). */
__attribute__((__destructor__))
static void
track_exit_report(void)
{
	if ((nbmem_debug_flags & NBMEM_DEBUG_LEAKS) != 0)
		(void)nbmem_leaks_report(STDERR_FILENO);
}

static void
track_fork(int phase)
{
	if (phase == NBMEM_FORK_PREPARE)
		mutex_enter(&track_lock);
	else
		mutex_exit(&track_lock);
}

__attribute__((__constructor__(105)))
static void
track_fork_init(void)
{
	nbmem_fork_hook_add(NBMEM_FORK_ORDER_TRACK, track_fork);
}

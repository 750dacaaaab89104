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
 *   Two open-addressing hash tables (see 4), keyed by address, linear
 *   probing,
 *   mapped from the OS (never from nbmem's allocators: the table must
 *   not recurse into what it watches).  A record is live, free (kept,
 *   so a second free is told from a foreign pointer) or a tombstone
 *   (its owner was destroyed).  The table doubles when half full;
 *   free records and tombstones are dropped by the copy only if they
 *   are tombstones.
 *
 * 3 Invariants
 *   - at most one record per address in a table; a live record's owner
 *     is the pool or cache (or kmem's large path) that handed the
 *     object out, and it is in the table of its owner's level;
 *   - used (live + free + tombstones) <= capacity / 2 in each table.
 *
 * 4 Locking
 *   Two tables, each with its mutex: the objects of owners above
 *   IPL_NONE (and kmem's, malloc's) in track_intr, whose mutex is at
 *   IPL_HIGH (signals blocked: such objects are used from signal
 *   handlers), and those of IPL_NONE pools and caches in track_thread,
 *   whose mutex blocks nothing, so that a get or put of such a cache
 *   makes no system call (a debug pair of a 64-byte IPL_NONE cache
 *   made four signal-mask calls, most of its cost).  A handler may not
 *   use IPL_NONE objects: one that re-enters track_thread on the
 *   thread that holds it is diagnosed (track_thread_held) instead of
 *   waiting for ever.  Both are leaves: taken under pool locks, nothing
 *   is taken under them; a misuse's classification looks in the other
 *   table after the first is dropped.  Stacks are captured before
 *   either is taken.  Fork takes both, last (NBMEM_FORK_ORDER_TRACK).
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

struct track_table {
	kmutex_t		tt_lock;
	struct track_rec	*tt_tab;	/* tt_lock */
	size_t			tt_cap, tt_used;
};

static struct track_table track_intr = { MUTEX_INITIALIZER(IPL_HIGH),
    NULL, 0, 0 };
static struct track_table track_thread = { MUTEX_INITIALIZER(IPL_NONE),
    NULL, 0, 0 };
/* This thread holds track_thread's mutex. */
static __thread bool track_thread_held
    __attribute__((__tls_model__("initial-exec")));

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

/* The table of an owner at `ipl'. */
static inline struct track_table *
track_table(int ipl)
{
	return ipl > IPL_NONE ? &track_intr : &track_thread;
}

static void __noreturn __attribute__((__noinline__, __cold__))
track_reentered(void)
{
	nbmem_panic("debug: an IPL_NONE pool or cache was used from a signal "
	    "handler that interrupted this thread inside the library (only "
	    "objects above IPL_NONE may be used from a handler)");
}

/*
 * track_thread_held is set before the mutex is taken and cleared after
 * it is released, so that a handler finds it set wherever it interrupts
 * the section, the mutex's own instructions included.
 */
static void
track_enter(struct track_table *t)
{
	if (t == &track_thread) {
		if (track_thread_held)
			track_reentered();
		track_thread_held = true;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
	}
	mutex_enter(&t->tt_lock);
}

/*
 * track_enter() that gives up instead of waiting on track_thread: false
 * when this thread holds it already (a handler that interrupted the
 * section) or another thread does.
 */
static bool
track_tryenter(struct track_table *t)
{
	if (t != &track_thread) {
		track_enter(t);
		return true;
	}
	if (track_thread_held)
		return false;
	track_thread_held = true;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (mutex_tryenter(&t->tt_lock))
		return true;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	track_thread_held = false;
	return false;
}

static void
track_exit(struct track_table *t)
{
	mutex_exit(&t->tt_lock);
	if (t == &track_thread) {
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		track_thread_held = false;
	}
}

static inline size_t
track_hash(uintptr_t a, size_t cap)
{
	return (size_t)(((uint64_t)(a >> 3) * 0x9e3779b97f4a7c15ull) >>
	    17) & (cap - 1);
}

/* The record of a in t, or NULL; t's lock is held. */
static struct track_rec *
track_find(struct track_table *t, uintptr_t a)
{
	uintptr_t k = TRACK_KEY(a);

	if (t->tt_tab == NULL)
		return NULL;
	for (size_t i = track_hash(k, t->tt_cap);; i = (i + 1) &
	    (t->tt_cap - 1)) {
		struct track_rec *r = &t->tt_tab[i];
		if (r->tr_state == TR_EMPTY)
			return NULL;
		if (r->tr_key == k && r->tr_state != TR_DEAD)
			return r;
	}
}

/* Double t (or make its first table); its lock is held. */
static void
track_grow(struct track_table *t)
{
	size_t ncap = t->tt_cap == 0 ? TRACK_INITCAP : t->tt_cap * 2;
	size_t bytes = ncap * sizeof(struct track_rec);
	struct track_rec *nt = nbmem_os_map(bytes, 0, NBMEM_OS_PROT_RW,
	    false);
	size_t used = 0;

	VERIFY(nt != NULL, "debug: no memory for the table of live objects "
	    "(%zu bytes)", bytes);
	for (size_t j = 0; j < t->tt_cap; j++) {
		struct track_rec *r = &t->tt_tab[j];
		if (r->tr_state != TR_LIVE && r->tr_state != TR_FREE)
			continue;
		size_t i = track_hash(r->tr_key, ncap);
		while (nt[i].tr_state != TR_EMPTY)
			i = (i + 1) & (ncap - 1);
		nt[i] = *r;
		used++;
	}
	/*
	 * The old table's pages are dropped, not unmapped: the guard
	 * pages' fault handler reads the table without a lock
	 * (nbmem_track_guard_find), and an address that stays mapped reads
	 * as empty records instead of faulting inside the handler.  The
	 * address space kept is at most the size of the new table.
	 */
	struct track_rec *old = t->tt_tab;
	size_t oldcap = t->tt_cap;

	__atomic_store_n(&t->tt_tab, nt, __ATOMIC_RELEASE);
	__atomic_store_n(&t->tt_cap, ncap, __ATOMIC_RELEASE);
	t->tt_used = used;
	if (old != NULL)
		(void)nbmem_os_purge(old, oldcap * sizeof(struct track_rec));
}

/* The record of a in t, made if missing; t's lock is held. */
static struct track_rec *
track_insert(struct track_table *t, uintptr_t a)
{
	struct track_rec *r = track_find(t, a);

	if (r != NULL)
		return r;
	if ((t->tt_used + 1) * 2 > t->tt_cap)
		track_grow(t);
	for (size_t i = track_hash(TRACK_KEY(a), t->tt_cap);; i = (i + 1) &
	    (t->tt_cap - 1)) {
		r = &t->tt_tab[i];
		if (r->tr_state == TR_EMPTY) {
			t->tt_used++;
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

#define	TRACK_TWICE	"double free (already freed; it came from"
#define	TRACK_WRONG	"wrong cache (it was handed out by"

/*
 * The record of a in the other table than t, live or freed, copied to
 * *out: what looked like a foreign pointer or a double free in t may be
 * a wrong cache (live there) or a double free (freed there).  Neither
 * lock is held.  track_thread's is only tried: a handler above IPL_NONE
 * may be running on a thread that holds it.
 */
static bool
track_other(struct track_table *t, uintptr_t a, struct track_rec *out)
{
	struct track_table *o = t == &track_intr ? &track_thread :
	    &track_intr;
	struct track_rec *r;
	bool found;

	if (!track_tryenter(o))
		return false;
	r = track_find(o, a);
	found = r != NULL && (r->tr_state == TR_LIVE ||
	    r->tr_state == TR_FREE);
	if (found)
		*out = *r;
	track_exit(o);
	return found;
}

/*
 * A live object of either table that holds address a without starting
 * there (an interior pointer), for the report of a foreign pointer:
 * the tables are walked whole, on the way to the panic only; a table
 * whose lock is busy is not searched.
 */
static bool
track_inside(uintptr_t a, struct track_rec *out)
{
	struct track_table *ts[2] = { &track_intr, &track_thread };
	bool found = false;

	for (int k = 0; k < 2 && !found; k++) {
		struct track_table *t = ts[k];
		if (!track_tryenter(t))
			continue;
		for (size_t i = 0; i < t->tt_cap && !found; i++) {
			const struct track_rec *r = &t->tt_tab[i];
			uintptr_t start = ~r->tr_key;
			size_t size = (r->tr_flags & NBMEM_TRACK_KMEM) != 0 ?
			    r->tr_kmsize : r->tr_size;
			if (r->tr_state == TR_LIVE && a > start &&
			    a - start < size) {
				*out = *r;
				found = true;
			}
		}
		track_exit(t);
	}
	return found;
}

/*
 * Report a misuse about object p, given back to `kind' "name" through
 * `call': with audit, the recorded stack first (of the allocation, or
 * of the last free), then the panic line.  t's lock is held, r (if
 * any) is p's record in t.  An object not live in t but live in the
 * other table was given to the wrong cache (`wrong'); one that t does
 * not know and the other table has freed was freed twice.
 */
static void __noreturn __attribute__((__noinline__, __cold__))
track_panic2(struct track_table *t, const struct track_rec *r,
    const char *kind, const char *name, const char *call, void *p,
    const char *rule, const char *wrong)
{
	struct track_rec copy, other;
	size_t size;
	bool stack;

	if (r != NULL)
		copy = *r;
	track_exit(t);
	if ((r == NULL || copy.tr_state == TR_FREE) &&
	    track_other(t, (uintptr_t)p, &other)) {
		if (other.tr_state == TR_LIVE) {
			copy = other;
			r = &copy;
			rule = wrong;
		} else if (r == NULL) {
			copy = other;
			r = &copy;
			rule = TRACK_TWICE;
		}
	}
	stack = r != NULL && copy.tr_nframes > 0;
	/* kmem's objects: the size asked, in both lines. */
	size = r != NULL && (copy.tr_flags & (NBMEM_TRACK_KMEM |
	    NBMEM_TRACK_KMFREED)) != 0 ? copy.tr_kmsize : copy.tr_size;
	if (stack) {
		nbmem_warn("debug: %p (%s \"%s\", %zu bytes) was last %s at:",
		    p, copy.tr_kind, copy.tr_name, size,
		    copy.tr_state == TR_FREE ||
		    (copy.tr_flags & NBMEM_TRACK_KMFREED) != 0 ? "freed" :
		    "allocated");
		track_print_stack(STDERR_FILENO, &copy);
	}
	if (r == NULL && track_inside((uintptr_t)p, &copy)) {
		size = (copy.tr_flags & NBMEM_TRACK_KMEM) != 0 ?
		    copy.tr_kmsize : copy.tr_size;
		nbmem_panic("%s: \"%s\": %s: %p: foreign pointer (%zu bytes "
		    "inside the %s \"%s\" object at %p, of %zu bytes, not "
		    "its start)", kind, name, call, p,
		    (size_t)((uintptr_t)p - ~copy.tr_key), copy.tr_kind,
		    copy.tr_name, (void *)~copy.tr_key, size);
	}
	if (r == NULL)
		nbmem_panic("%s: \"%s\": %s: %p: %s", kind, name, call, p,
		    rule);
	nbmem_panic("%s: \"%s\": %s: %p: %s %s \"%s\", %zu bytes)", kind,
	    name, call, p, rule, copy.tr_kind, copy.tr_name, size);
}

#define	TRACK_NOTKMEM	"wrong cache (not from kmem: handed out by"

/* The same, for callers whose wrong-cache rule is the general one. */
static void __noreturn __attribute__((__noinline__, __cold__))
track_panic(struct track_table *t, const struct track_rec *r,
    const char *kind, const char *name, const char *call, void *p,
    const char *rule)
{
	track_panic2(t, r, kind, name, call, p, rule, TRACK_WRONG);
}

#define	TRACK_FOREIGN	"foreign pointer (never handed out by a pool, a " \
			"cache or kmem)"

/* ---- the interface */

/* nbmem_track_lib: this thread allocates for the library itself. */
static __thread bool track_lib_on
    __attribute__((__tls_model__("initial-exec")));

bool
nbmem_track_lib(bool on)
{
	bool was = track_lib_on;

	track_lib_on = on;
	return was;
}

void
nbmem_track_alloc(void *p, const void *owner, int ipl, const char *kind,
    const char *name, size_t size, unsigned int flags)
{
	struct track_table *t = track_table(ipl);
	struct track_stack ts;
	struct track_rec *r;

	track_capture(&ts);
	track_enter(t);
	r = track_insert(t, (uintptr_t)p);
	r->tr_owner = owner;
	r->tr_kind = kind;
	r->tr_name = name;
	r->tr_size = size;
	r->tr_kmsize = 0;
	r->tr_state = TR_LIVE;
	r->tr_flags = (uint16_t)(flags | (track_lib_on ? NBMEM_TRACK_LIB :
	    0));
	track_setstack(r, &ts);
	track_exit(t);
}

size_t
nbmem_track_free(void *p, const void *owner, int ipl, const char *kind,
    const char *name, const char *call)
{
	struct track_table *t = track_table(ipl);
	struct track_stack ts;
	struct track_rec *r;
	size_t size;

	track_capture(&ts);
	track_enter(t);
	r = track_find(t, (uintptr_t)p);
	if (r == NULL)
		track_panic(t, NULL, kind, name, call, p, TRACK_FOREIGN);
	if (r->tr_state == TR_FREE)
		track_panic(t, r, kind, name, call, p, TRACK_TWICE);
	/* Only vmem's quantum caches keep NOLEAK records. */
	if (r->tr_owner != owner && (r->tr_flags & NBMEM_TRACK_NOLEAK) != 0)
		track_panic(t, r, kind, name, call, p, "wrong size (vmem_free "
		    "with the size of another quantum cache of the arena; "
		    "it came from");
	if (r->tr_owner != owner)
		track_panic(t, r, kind, name, call, p, TRACK_WRONG);
	if ((r->tr_flags & NBMEM_TRACK_KMEM) != 0)
		track_panic(t, r, kind, name, call, p, "wrong cache (a live "
		    "kmem object, to be given back with kmem_free; from");
	size = r->tr_size;
	r->tr_state = TR_FREE;
	track_setstack(r, &ts);
	track_exit(t);
	return size;
}

/* The owner of kmem's records for objects of no cache. */
static const char track_kmem_owner[] = "kmem";

size_t
nbmem_track_kmem_alloc(void *p, size_t size, unsigned int flags)
{
	struct track_table *t = &track_intr;
	struct track_rec *r;
	size_t csize;

	track_enter(t);
	r = track_find(t, (uintptr_t)p);
	if (r != NULL && r->tr_state == TR_LIVE) {
		r->tr_flags |= NBMEM_TRACK_KMEM;
		r->tr_kmsize = size;
		csize = r->tr_size;
		track_exit(t);
		return csize;
	}
	track_exit(t);
	nbmem_track_alloc(p, track_kmem_owner, IPL_VM, "kmem",
	    (flags & NBMEM_TRACK_GUARD) != 0 ? "guard" : "kva", size,
	    NBMEM_TRACK_KMEM | flags);
	track_enter(t);
	r = track_find(t, (uintptr_t)p);
	r->tr_kmsize = size;
	track_exit(t);
	return 0;
}

size_t
nbmem_track_kmem_free(void *p, size_t size, const char *call,
    unsigned int *flagsp)
{
	struct track_table *t = &track_intr;
	struct track_stack ts;
	struct track_rec *r;
	size_t csize = 0;

	track_capture(&ts);
	track_enter(t);
	r = track_find(t, (uintptr_t)p);
	if (r == NULL)
		track_panic2(t, NULL, "kmem", "kmem", call, p, TRACK_FOREIGN,
		    TRACK_NOTKMEM);
	/* Freed: back in its cache, or still in kmem's quarantine. */
	if (r->tr_state == TR_FREE ||
	    (r->tr_flags & NBMEM_TRACK_KMFREED) != 0)
		track_panic2(t, r, "kmem", r->tr_name, call, p, TRACK_TWICE,
		    TRACK_NOTKMEM);
	if ((r->tr_flags & NBMEM_TRACK_KMEM) == 0)
		track_panic(t, r, "kmem", "kmem", call, p, TRACK_NOTKMEM);
	if (r->tr_kmsize != size) {
		char rule[128];
		nbmem_snprintf(rule, sizeof(rule), "wrong size (kmem_free(%p, "
		    "%zu) != allocated size %zu; from", p, size, r->tr_kmsize);
		track_panic(t, r, "kmem", r->tr_name, call, p, rule);
	}
	*flagsp = r->tr_flags;
	r->tr_flags &= (uint16_t)~NBMEM_TRACK_KMEM;
	if (r->tr_owner == track_kmem_owner)
		r->tr_state = TR_FREE;
	else {
		r->tr_flags |= NBMEM_TRACK_KMFREED;
		csize = r->tr_size;
	}
	track_setstack(r, &ts);
	track_exit(t);
	return csize;
}

size_t
nbmem_track_lookup(void *p, const char *kind, const char *call,
    const void **ownerp)
{
	struct track_table *t = &track_intr;
	struct track_rec *r;
	size_t size;

	track_enter(t);
	r = track_find(t, (uintptr_t)p);
	if (r == NULL)
		track_panic(t, NULL, kind, kind, call, p, TRACK_FOREIGN);
	/* Freed: back in its cache, or still in kmem's quarantine. */
	if (r->tr_state == TR_FREE ||
	    (r->tr_flags & NBMEM_TRACK_KMFREED) != 0)
		track_panic(t, r, kind, r->tr_name, call, p, TRACK_TWICE);
	if ((r->tr_flags & NBMEM_TRACK_KMEM) != 0) {
		*ownerp = NULL;
		size = r->tr_kmsize;
	} else {
		*ownerp = r->tr_owner;
		size = r->tr_size;
	}
	track_exit(t);
	return size;
}

void
nbmem_track_forget(const void *owner, int ipl)
{
	struct track_table *t = track_table(ipl);

	track_enter(t);
	for (size_t i = 0; i < t->tt_cap; i++) {
		struct track_rec *r = &t->tt_tab[i];
		if ((r->tr_state == TR_LIVE || r->tr_state == TR_FREE) &&
		    r->tr_owner == owner)
			r->tr_state = TR_DEAD;
	}
	track_exit(t);
}

bool
nbmem_track_guard_find(uintptr_t page, size_t ps, void **pp, size_t *sizep)
{
	/* From a fault handler: no lock (see internal.h). */
	/* The capacity first: a table read with it is at least as big. */
	size_t cap = __atomic_load_n(&track_intr.tt_cap, __ATOMIC_ACQUIRE);
	struct track_rec *tab = __atomic_load_n(&track_intr.tt_tab,
	    __ATOMIC_ACQUIRE);

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

/* Report t's leaks to fd (none if fd < 0); counts into *np, *bytesp. */
static void
track_leaks(struct track_table *t, int fd, size_t *np, size_t *bytesp)
{
	char line[256];
	size_t len;

	track_enter(t);
	for (size_t i = 0; i < t->tt_cap; i++) {
		struct track_rec *r = &t->tt_tab[i];
		if (r->tr_state != TR_LIVE || (r->tr_flags &
		    (NBMEM_TRACK_NOLEAK | NBMEM_TRACK_KMFREED |
		    NBMEM_TRACK_LIB)) != 0)
			continue;
		size_t size = (r->tr_flags & NBMEM_TRACK_KMEM) != 0 ?
		    r->tr_kmsize : r->tr_size;
		(*np)++;
		*bytesp += size;
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
	track_exit(t);
}

NBMEM_EXPORT size_t
nbmem_leaks_report(int fd)
{
	char line[256];
	size_t n = 0, bytes = 0, len;

	track_leaks(&track_thread, fd, &n, &bytes);
	track_leaks(&track_intr, fd, &n, &bytes);
	if (fd >= 0 && n > 0) {
		len = nbmem_snprintf(line, sizeof(line), "nbmem: leaks: %zu "
		    "objects, %zu bytes still allocated\n", n, bytes);
		nbmem_os_write_fd(fd, line, len);
	}
	return n;
}

/*
 * With leaks, the report at exit (the library's destructor).  Under the
 * malloc library the C library's own memory is nbmem's too: what it
 * keeps to the end (stdio buffers, the stacks and thread blocks of
 * joined threads, locale data) is given back first, as glibc's mtrace(3)
 * and valgrind do, so that the report names the program's leaks only.
 */
__attribute__((__destructor__))
static void
track_exit_report(void)
{
	if ((nbmem_debug_flags & NBMEM_DEBUG_LEAKS) == 0)
		return;
	if (NBMEM_MALLOC_LIBRARY())
		nbmem_os_libc_freeres();
	(void)nbmem_leaks_report(STDERR_FILENO);
}

/*
 * A handler may fork while its thread is inside track_thread's section
 * (the mutex does not block signals): that thread already holds it, so
 * the hooks leave it be, and in both processes the interrupted section
 * finishes and drops it once the handler returns.
 */
static __thread bool track_fork_owned
    __attribute__((__tls_model__("initial-exec")));

static void
track_fork(int phase)
{
	if (phase == NBMEM_FORK_PREPARE) {
		track_fork_owned = track_thread_held;
		if (!track_fork_owned)
			mutex_enter(&track_thread.tt_lock);
		mutex_enter(&track_intr.tt_lock);
	} else {
		mutex_exit(&track_intr.tt_lock);
		if (!track_fork_owned)
			mutex_exit(&track_thread.tt_lock);
	}
}

__attribute__((__constructor__(105)))
static void
track_fork_init(void)
{
	nbmem_fork_hook_add(NBMEM_FORK_ORDER_TRACK, track_fork);
}

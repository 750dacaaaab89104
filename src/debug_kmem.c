/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * debug_kmem.c: the run-time debug modes of kmem(3).
 *
 * 1 Overview
 *   When a mode of NBMEM_DEBUG is on, or under memcheck, every kmem
 *   call reaches nbmem_kmem_debug_alloc/free (kmem.c tests
 *   nbmem_debug_kmem first), which build on kmem's raw size classes
 *   and large path:
 *   - size (KMEM_SIZE): the size asked is stored in a footer right
 *     after the object; kmem_free compares it (and the record's) with
 *     its argument, then overwrites it with 0xff;
 *   - redzone (KMEM_REDZONE): at least one byte after the object, up
 *     to the end of its size class (of its last page on the large
 *     path), holds 0xbb, checked at free;
 *   - poison (KMEM_POISON): a freed object is filled with 0xdf and
 *     kept in a quarantine of up to KD_QMAX objects or KD_QBYTES bytes;
 *     it is checked when it leaves (then the cache checks it again when
 *     it hands it out);
 *   - guard (KMEM_GUARD): each object on pages of its own from
 *     kernel_map, at their end, before a PROT_NONE page; freed pages
 *     stay PROT_NONE in a FIFO of KD_GUARDQ ranges before they go back
 *     (a range a handler's kmem_intr_free pushes out waits, on
 *     kd_defer, for the next guard call in thread context);
 *     a fault there is diagnosed (kd_fault: overrun, modified after
 *     free), others go on to the program's handler;
 *   - an urgent reclaim pass (budget.c) empties the quarantine and the
 *     guard FIFO (nbmem_kmem_debug_reclaim): memory they hold must not
 *     starve a sleeping allocation;
 *   - audit, leaks and the free checks: debug_track.c's records, which
 *     kmem relabels with the size asked (NBMEM_TRACK_KMEM).
 *   Under memcheck an object is a heap block of exactly the size asked.
 *
 * 2 Data structures
 *   The quarantine and the guard FIFO: rings under kd_lock.  Layout of
 *   an object outside guard mode: [0, size) the caller's, the footer
 *   (size), the redzone to allocsz = roundup(size + footer + 1, 8),
 *   and with the redzone mode on to the end of allocsz's class or page
 *   (kd_rzend); without it the bytes to allocsz hold 0xbb all the same.
 *
 * 3 Invariants
 *   - an object in the quarantine is full of 0xdf;
 *   - a range in the guard FIFO is PROT_NONE.
 *
 * 4 Locking
 *   kd_lock is at IPL_VM (kmem_intr_* run in signal handlers); nothing
 *   is called while it is held.  Fork takes it (NBMEM_FORK_ORDER_
 *   KMEMDBG).  Guard pages are not made in signal handlers: there the
 *   raw path serves, as the page layer's kernel_map is not interrupt-
 *   safe; a guard object freed there is protected with mprotect(2)
 *   itself, and ranges it pushes out of the FIFO go back later.
 *
 * 5 Debug features
 *   This file is one; see nbmem(3), DEBUGGING.
 *
 * 6 Differences from NetBSD
 *   NetBSD's KMEM_SIZE footer is on in DIAGNOSTIC kernels only, its
 *   redzone and poison were removed for KASAN, and KMEM_GUARD's FIFO
 *   was compiled out; here all are run-time modes.
 *
 * 7 References
 *   NetBSD sys/kern/subr_kmem.c (1.87 and the KMEM_GUARD code of 1.60).
 */
#include <string.h>

#include <nbmem/uvm_km.h>

#include "internal.h"
#include "lock.h"
#include "nbvalgrind.h"
#include "os/os.h"

/* The quarantine: enough objects to outlive a few frees of each class. */
#define	KD_QMAX		1024u
#define	KD_QBYTES	(4u << 20)
/* Guard ranges kept inaccessible after free. */
#define	KD_GUARDQ	256u

struct kd_held {
	void	*kh_p;
	size_t	kh_len;		/* quarantine: allocsz; guard: mapping */
	uintptr_t kh_va;	/* guard: the mapping */
	size_t	kh_size;	/* guard: the size asked */
};

static kmutex_t kd_lock = MUTEX_INITIALIZER(IPL_VM);
static struct kd_held kd_quar[KD_QMAX];
static unsigned int kd_qhead, kd_qcount;
static size_t kd_qbytes;
static struct kd_held kd_guard[KD_GUARDQ];
static unsigned int kd_ghead, kd_gcount;
static uintptr_t kd_defer;	/* ranges out of the FIFO in a handler */

static void	kd_guard_drain(void);

static inline unsigned int
kd_flags(void)
{
	return nbmem_debug_flags;
}

static inline size_t
kd_footer(void)
{
	return (kd_flags() & NBMEM_DEBUG_SIZE) != 0 ? sizeof(size_t) : 0;
}

/* Bytes asked of the raw back end for `size'. */
static size_t
kd_allocsz(size_t size)
{
	size_t a = size + kd_footer();

	if ((kd_flags() & NBMEM_DEBUG_REDZONE) != 0)
		a++;
	return (a + 7) & ~(size_t)7;
}

/* Where the bytes of 0xbb after an object of `allocsz' end. */
static size_t
kd_rzend(size_t allocsz)
{
	if ((kd_flags() & NBMEM_DEBUG_REDZONE) != 0)
		return nbmem_kmem_raw_usable(allocsz);
	return allocsz;
}

__thread const char *nbmem_kmem_debug_call
    __attribute__((__tls_model__("initial-exec")));

/* The call the diagnostics of a free name. */
static const char *
kd_call(void)
{
	return nbmem_kmem_debug_call != NULL ? nbmem_kmem_debug_call :
	    "kmem_free";
}

static void __noreturn __attribute__((__noinline__, __cold__))
kd_overrun(const char *name, const void *p, size_t off, size_t size,
    const char *what)
{
	nbmem_panic("kmem: \"%s\": %s: %p: overrun (%s byte at offset %zu, "
	    "past the %zu-byte object, is %#x)", name, kd_call(), p, what,
	    off, size, ((const unsigned char *)p)[off]);
}

static void
kd_check_fill(const char *name, const void *p, size_t from, size_t to,
    unsigned char byte, size_t size, const char *what)
{
	const unsigned char *b = p;

	for (size_t i = from; i < to; i++)
		if (b[i] != byte)
			kd_overrun(name, p, i, size, what);
}

/* ---- guard pages */

/*
 * The bytes from the object to its guard page: the size rounded up to
 * the alignment of its class (8 bytes up to 8, 16 up to 32, 64 above),
 * so that guard mode keeps the alignments the classes give (malloc(3)
 * owes 16 bytes from 16); the bytes past the size are filled and
 * checked at the free.
 */
static size_t
kd_guard_span(size_t size)
{
	size_t a = size > 32 ? 64 : size > 8 ? 16 : 8;

	return (size + a - 1) & ~(a - 1);
}

/*
 * A fault in guard mode: a freed object's pages or a live object's
 * guard page is diagnosed; any other fault is not ours (return).  Runs
 * in the SIGSEGV handler: no lock is taken (the fault is the program's,
 * never inside this file), nothing allocates.
 */
static void
kd_fault(uintptr_t addr, int write)
{
	size_t ps = nbmem_os_pagesize(), size;
	unsigned int n = __atomic_load_n(&kd_gcount, __ATOMIC_RELAXED);
	unsigned int head = __atomic_load_n(&kd_ghead, __ATOMIC_RELAXED);
	const char *acc = write == 1 ? "a write" : write == 0 ? "a read" :
	    "an access";
	void *p;

	for (unsigned int i = 0; i < n && i < KD_GUARDQ; i++) {
		const struct kd_held *h = &kd_guard[(head + i) % KD_GUARDQ];
		if (addr < h->kh_va || addr >= h->kh_va + h->kh_len)
			continue;
		nbmem_panic("kmem: \"guard\": %p: %s (%s at offset %ld of "
		    "the %zu-byte object freed by kmem_free; its pages stay "
		    "inaccessible)", h->kh_p, write == 1 ? "modified after "
		    "free" : "used after free", acc,
		    (long)(addr - (uintptr_t)h->kh_p), h->kh_size);
	}
	if (nbmem_track_guard_find(addr & ~(uintptr_t)(ps - 1), ps, &p,
	    &size))
		nbmem_panic("kmem: \"guard\": %p: overrun (%s at offset %zu, "
		    "past the %zu-byte object, into its guard page)", p, acc,
		    (size_t)(addr - (uintptr_t)p), size);
}

static void *
kd_guard_alloc(size_t size, km_flag_t flags)
{
	static int hooked;
	size_t ps = nbmem_os_pagesize(), span = kd_guard_span(size);
	size_t npages = (span + ps - 1) / ps, len = (npages + 1) * ps;
	vaddr_t va;
	char *p;

	if (!__atomic_exchange_n(&hooked, 1, __ATOMIC_ACQ_REL))
		(void)nbmem_os_fault_hook(kd_fault);
	kd_guard_drain();
	va = uvm_km_alloc(kernel_map, len, 0, UVM_KMF_WIRED |
	    (flags == KM_NOSLEEP ? UVM_KMF_NOWAIT | UVM_KMF_CANFAIL : 0));
	if (va == 0)
		return NULL;
	VERIFY(uvm_km_protect(kernel_map, va + npages * ps, ps,
	    VM_PROT_NONE) == 0, "kmem: guard: cannot protect %#lx",
	    (unsigned long)(va + npages * ps));
	p = (char *)va + npages * ps - span;
	memset(p + size, NBMEM_DEBUG_REDZONE_BYTE, span - size);
	return p;
}

/* A range out of the guard FIFO goes back to kernel_map. */
static void
kd_guard_release(const struct kd_held *h)
{
	(void)uvm_km_protect(kernel_map, h->kh_va, h->kh_len,
	    VM_PROT_READ | VM_PROT_WRITE);
	uvm_km_free(kernel_map, h->kh_va, h->kh_len, UVM_KMF_WIRED);
}

/*
 * A range a handler (kmem_intr_free) pushed out of the FIFO cannot go
 * back to kernel_map there: it waits on kd_defer, linked through its
 * first bytes, for the next guard call in thread context.
 */
struct kd_link {
	uintptr_t	kl_next;
	size_t		kl_len;
};

static void
kd_guard_defer(const struct kd_held *h)
{
	struct kd_link *l = (struct kd_link *)h->kh_va;

	(void)nbmem_os_protect(l, nbmem_os_pagesize(), NBMEM_OS_PROT_RW);
	mutex_enter(&kd_lock);
	l->kl_next = kd_defer;
	l->kl_len = h->kh_len;
	__atomic_store_n(&kd_defer, h->kh_va, __ATOMIC_RELAXED);
	mutex_exit(&kd_lock);
}

/* Thread context: the deferred ranges go back. */
static void
kd_guard_drain(void)
{
	uintptr_t va;

	if (__atomic_load_n(&kd_defer, __ATOMIC_RELAXED) == 0)
		return;
	mutex_enter(&kd_lock);
	va = kd_defer;
	__atomic_store_n(&kd_defer, 0, __ATOMIC_RELAXED);
	mutex_exit(&kd_lock);
	while (va != 0) {
		const struct kd_link *l = (const struct kd_link *)va;
		struct kd_held h = { NULL, l->kl_len, va, 0 };

		va = l->kl_next;
		kd_guard_release(&h);
	}
}

/*
 * In a handler (kmem_intr_free) the pages are protected with the
 * system call itself: kernel_map, whose bookkeeping uvm_km_protect
 * consults, is not interrupt-safe.
 */
static void
kd_guard_free(void *p, size_t size)
{
	size_t ps = nbmem_os_pagesize(), span = kd_guard_span(size);
	size_t npages = (span + ps - 1) / ps, len = (npages + 1) * ps;
	uintptr_t va = (uintptr_t)p + span - npages * ps;
	struct kd_held old = { NULL, 0, 0, 0 };
	bool intr = nbmem_intr_p();

	kd_check_fill("guard", p, size, span, NBMEM_DEBUG_REDZONE_BYTE, size,
	    "redzone");
	if (intr)
		(void)nbmem_os_protect((void *)va, len, NBMEM_OS_PROT_NONE);
	else {
		kd_guard_drain();
		(void)uvm_km_protect(kernel_map, va, len, VM_PROT_NONE);
	}
	mutex_enter(&kd_lock);
	if (kd_gcount == KD_GUARDQ) {
		old = kd_guard[kd_ghead];
		kd_ghead = (kd_ghead + 1) % KD_GUARDQ;
		kd_gcount--;
	}
	kd_guard[(kd_ghead + kd_gcount) % KD_GUARDQ] =
	    (struct kd_held){ p, len, va, size };
	__atomic_store_n(&kd_gcount, kd_gcount + 1, __ATOMIC_RELEASE);
	mutex_exit(&kd_lock);
	if (old.kh_va == 0)
		return;
	if (intr)
		kd_guard_defer(&old);
	else
		kd_guard_release(&old);
}

/* ---- the quarantine */

static void
kd_release(void *p, size_t allocsz)
{
	const unsigned char *b = p;

	NBMEM_ASAN_UNPOISON(p, allocsz);
	if ((kd_flags() & NBMEM_DEBUG_MEMCHECK) != 0)
		NBMEM_VG_DEFINED(p, allocsz);
	for (size_t i = 0; i < allocsz; i++)
		if (b[i] != NBMEM_DEBUG_FREE_BYTE)
			nbmem_panic("kmem: \"%s\": quarantine: %p: modified "
			    "after free (byte at offset %zu of %zu is %#x, "
			    "not the free pattern %#x)",
			    nbmem_kmem_raw_name(allocsz), p, i, allocsz, b[i],
			    NBMEM_DEBUG_FREE_BYTE);
	nbmem_kmem_raw_free(p, allocsz);
}

static void
kd_quarantine(void *p, size_t allocsz)
{
	struct kd_held out[4];
	unsigned int nout = 0;

	memset(p, NBMEM_DEBUG_FREE_BYTE, allocsz);
	NBMEM_ASAN_POISON(p, allocsz);
	if ((kd_flags() & NBMEM_DEBUG_MEMCHECK) != 0)
		NBMEM_VG_NOACCESS(p, allocsz);
	mutex_enter(&kd_lock);
	while (nout < 4 && kd_qcount > 0 && (kd_qcount == KD_QMAX ||
	    kd_qbytes + allocsz > KD_QBYTES)) {
		out[nout++] = kd_quar[kd_qhead];
		kd_qbytes -= kd_quar[kd_qhead].kh_len;
		kd_qhead = (kd_qhead + 1) % KD_QMAX;
		kd_qcount--;
	}
	if (kd_qcount < KD_QMAX) {
		kd_quar[(kd_qhead + kd_qcount) % KD_QMAX] =
		    (struct kd_held){ p, allocsz, 0, 0 };
		kd_qcount++;
		kd_qbytes += allocsz;
		p = NULL;
	}
	mutex_exit(&kd_lock);
	for (unsigned int i = 0; i < nout; i++)
		kd_release(out[i].kh_p, out[i].kh_len);
	if (p != NULL)
		kd_release(p, allocsz);
}

/*
 * Memory pressure, or nbmem_reclaim(): the quarantine is emptied, each
 * object checked as when it leaves in turn, and the guard FIFO's ranges
 * go back, so that the memory the program freed never keeps a sleeping
 * allocation waiting (or stays resident after a reclaim).  A use of
 * such an object after the pass is no longer caught.
 */
void
nbmem_kmem_debug_reclaim(void)
{
	if (__atomic_load_n(&nbmem_debug_kmem, __ATOMIC_RELAXED) == 0)
		return;
	kd_guard_drain();
	for (;;) {
		struct kd_held q = { NULL, 0, 0, 0 }, g = q;

		mutex_enter(&kd_lock);
		if (kd_qcount > 0) {
			q = kd_quar[kd_qhead];
			kd_qbytes -= q.kh_len;
			kd_qhead = (kd_qhead + 1) % KD_QMAX;
			kd_qcount--;
		}
		if (kd_gcount > 0) {
			g = kd_guard[kd_ghead];
			kd_ghead = (kd_ghead + 1) % KD_GUARDQ;
			__atomic_store_n(&kd_gcount, kd_gcount - 1,
			    __ATOMIC_RELEASE);
		}
		mutex_exit(&kd_lock);
		if (q.kh_p == NULL && g.kh_va == 0)
			break;
		if (q.kh_p != NULL)
			kd_release(q.kh_p, q.kh_len);
		if (g.kh_va != 0)
			kd_guard_release(&g);
	}
}

/* ---- the interface for kmem.c */

void *
nbmem_kmem_debug_alloc(size_t size, km_flag_t flags, bool zero)
{
	unsigned int f = kd_flags();
	bool guard = (f & NBMEM_DEBUG_GUARD) != 0 && !nbmem_intr_p();
	size_t allocsz, csize = 0, foot = guard ? 0 : kd_footer();
	char *p;

	/*
	 * More than the address space: the raw path refuses it (NULL, or
	 * the KM_SLEEP diagnostic) before the footer, the redzone or the
	 * guard page could wrap the size round to a small one.  So does a
	 * KM_NOSLEEP request beyond all RAM and swap, as without a mode.
	 */
	if (size > nbmem_os_va_span() ||
	    (flags == KM_NOSLEEP && size > nbmem_os_commit_limit()))
		return nbmem_kmem_raw_alloc(size, flags);
	allocsz = guard ? kd_guard_span(size) : kd_allocsz(size);
	p = guard ? kd_guard_alloc(size, flags) :
	    nbmem_kmem_raw_alloc(allocsz, flags);
	if (p == NULL) {
		VERIFY(flags == KM_NOSLEEP, "kmem: kmem_alloc(%zu, KM_SLEEP) "
		    "returned NULL", size);
		return NULL;
	}
	if (nbmem_track_p())
		csize = nbmem_track_kmem_alloc(p, size, guard ?
		    NBMEM_TRACK_GUARD : 0);
	if (zero)
		memset(p, 0, size);
	else if ((f & NBMEM_DEBUG_POISON) != 0)
		memset(p, NBMEM_DEBUG_FRESH_BYTE, size);
	if (foot != 0)
		memcpy(p + size, &size, sizeof(size));
	if (!guard)
		memset(p + size + foot, NBMEM_DEBUG_REDZONE_BYTE,
		    kd_rzend(allocsz) - size - foot);
	if ((f & NBMEM_DEBUG_MEMCHECK) != 0) {
		if (csize != 0)
			NBMEM_VG_RESIZE(p, csize, size);
		else
			NBMEM_VG_MALLOCLIKE(p, size, zero);
	}
	return p;
}

void
nbmem_kmem_debug_free(void *p, size_t size)
{
	unsigned int f = kd_flags(), tflags = 0;
	size_t csize = 0, allocsz, foot;
	const char *name;
	char *b = p;

	if (nbmem_track_p())
		csize = nbmem_track_kmem_free(p, size, kd_call(), &tflags);
	if ((f & NBMEM_DEBUG_MEMCHECK) != 0) {
		if (csize != 0)
			NBMEM_VG_RESIZE(p, size, csize);
		else
			NBMEM_VG_FREELIKE(p);
		NBMEM_VG_DEFINED(p, csize != 0 ? csize : size);
	}
	if ((tflags & NBMEM_TRACK_GUARD) != 0) {
		kd_guard_free(p, size);
		return;
	}
	allocsz = kd_allocsz(size);
	name = nbmem_kmem_raw_name(allocsz);
	foot = kd_footer();
	if (foot != 0) {
		size_t rec;
		memcpy(&rec, b + size, sizeof(rec));
		if (rec != size) {
			size_t all = (size_t)-1;
			if (memcmp(&rec, &all, sizeof(rec)) == 0)
				nbmem_panic("kmem: \"%s\": %s: %p: double "
				    "free (kmem_free(%p, %zu): size footer "
				    "already cleared)", name, kd_call(), p, p,
				    size);
			/* The record has checked the size: an overrun. */
			nbmem_panic("kmem: \"%s\": %s: %p: overrun (size "
			    "footer at offset %zu changed: kmem_free(%p, %zu) "
			    "!= allocated size %zu in the footer)", name,
			    kd_call(), p, size, p, size, rec);
		}
		memset(b + size, NBMEM_DEBUG_SIZE_FREED_BYTE, foot);
	}
	kd_check_fill(name, p, size + foot, kd_rzend(allocsz),
	    NBMEM_DEBUG_REDZONE_BYTE, size, "redzone");
	if ((f & NBMEM_DEBUG_POISON) != 0)
		kd_quarantine(p, allocsz);
	else
		nbmem_kmem_raw_free(p, allocsz);
}

static void
kd_fork(int phase)
{
	if (phase == NBMEM_FORK_PREPARE)
		mutex_enter(&kd_lock);
	else
		mutex_exit(&kd_lock);
}

__attribute__((__constructor__(105)))
static void
kd_fork_init(void)
{
	nbmem_fork_hook_add(NBMEM_FORK_ORDER_KMEMDBG, kd_fork);
}

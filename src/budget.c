/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * budget.c: the memory budget ("physical memory") and reclaim (the
 * pagedaemon).
 *
 * 1 Overview
 *   The page layer (uvm_km.c) charges every page it makes accessible
 *   (UVM_KMF_WIRED, UVM_KMF_PAGEABLE, uvm_km_kmem_alloc) against one
 *   process-wide budget and uncharges it when the page goes back to the
 *   OS.  The limit is the userspace stand-in for the amount of physical
 *   memory: 0 means unlimited; the first value comes from NBMEM_PHYSMEM,
 *   else the cgroup's memory.max, else unlimited; nbmem_physmem_set()
 *   changes it at run time.  A charge that does not fit fails at once if
 *   the caller may not sleep.  A sleeping caller runs a reclaim pass (the
 *   hooks other layers register: pool drains, cache invalidation) and
 *   retries; with `canfail' (UVM_KMF_CANFAIL) it gives up after that one
 *   pass, otherwise it blocks until an uncharge or a new limit makes room.
 *   Passes are of two kinds (reclaim.h): urgent ones (pressure,
 *   nbmem_reclaim()) run every hook and give back all that is idle above
 *   the low-water marks; decay passes (the decay thread, reclaim.c) run
 *   only the library's own hooks and give back what has been idle for
 *   their age.  Every pass ends with the boundary-tag supply, so that
 *   the tags the hooks' frees left unused go back too.
 *
 * 2 Data structures
 *   budget_inuse and budget_limit are words updated with atomics;
 *   budget_released counts every byte ever uncharged, so a reclaim pass
 *   can report what went back while it ran.  Sleepers wait on budget_cv
 *   under budget_lock and are counted in budget_nwaiters.  The hook table
 *   has RECLAIM_NHOOKS fixed slots; a handle encodes the slot and the
 *   slot's generation, so a stale handle is diagnosed, not obeyed.
 *
 * 3 Invariants
 *   - budget_inuse is the sum of the charges not yet uncharged; it only
 *     exceeds the limit after the limit was lowered;
 *   - budget_nwaiters counts threads between their registration under
 *     budget_lock and their successful charge;
 *   - at most one reclaim pass runs at a time (reclaim_running), urgent
 *     or decay; reclaim_curage is the running pass's age (0: urgent).
 *
 * 4 Locking and signal safety
 *   The no-wait charge is one compare-and-swap loop and the uncharge one
 *   atomic subtraction: neither takes a lock unless a sleeper is
 *   registered, and then only budget_lock, an IPL_VM mutex held with the
 *   signals blocked.  Both are therefore async-signal-safe.  A sleeper
 *   registers itself (seq_cst increment) before its final check of the
 *   counter, and an uncharger reads the sleeper count after its (seq_cst)
 *   subtraction: one of the two always sees the other, and the sleeper's
 *   check and wait are atomic under budget_lock, so a wakeup cannot be
 *   lost.  Waits are cut in BUDGET_WAIT_NS slices all the same.
 *   reclaim_lock (IPL_NONE) guards the hook table and the pass flag; the
 *   hooks themselves run with no nbmem lock held.  Lock order:
 *   reclaim_lock and budget_lock are never held together.
 *
 * 5 Debug features
 *   An uncharge of more than is in use, a stale hook handle and a sleep
 *   longer than NBMEM_SLEEP_TIMEOUT panic, naming the allocation and the
 *   sizes, and the pool the page was for when a pool allocator set
 *   nbmem_budget_client.  A sleeping charge from a signal handler
 *   (nbmem_intr_enter) is diagnosed.
 *
 * 6 Differences from NetBSD
 *   NetBSD counts free physical pages and wakes a pagedaemon thread; here
 *   a byte budget is counted and the thread that needs memory runs the
 *   reclaim pass itself (concurrent needers wait for that one pass), as
 *   the rump kernel's RUMP_MEMLIMIT does in spirit.  A blocked sleeper
 *   runs another pass every BUDGET_RECLAIM_NS without progress, as the
 *   pagedaemon keeps scanning while memory stays short.
 *
 * 7 References
 *   NetBSD uvm_pdaemon.c (uvm_wait, uvm_pageout); NetBSD
 *   sys/rump/librump/rumpkern/vm.c (RUMP_MEMLIMIT, the rump pagedaemon).
 */
#include <errno.h>
#include <string.h>

#include "internal.h"
#include "lock.h"
#include "os/os.h"
#include "reclaim.h"
#include "uvm_km_impl.h"

/* The limit has not been read from the environment yet. */
#define	BUDGET_UNREAD		SIZE_MAX

/*
 * A sleeper re-checks at least this often (a missed wakeup costs at most
 * one slice), and runs another reclaim pass after BUDGET_RECLAIM_NS with
 * no success: ten passes a second at most, cheap next to a blocked
 * thread, frequent enough for hooks that free what others released.
 */
#define	BUDGET_WAIT_NS		(100ull * 1000 * 1000)
#define	BUDGET_RECLAIM_NS	(1000ull * 1000 * 1000)

/* As many hooks as the subsystems and large caches of one process. */
#define	RECLAIM_NHOOKS		64
#define	RECLAIM_GEN_MAX		((unsigned int)(INT32_MAX / RECLAIM_NHOOKS) - 1)

static size_t budget_limit = BUDGET_UNREAD;
static size_t budget_inuse;
static uint64_t budget_released;
static unsigned int budget_nwaiters;

static kmutex_t budget_lock = MUTEX_INITIALIZER(IPL_VM);
static kcondvar_t budget_cv;		/* zero: ready to use */

struct reclaim_hook {
	void		(*rh_fn)(void *);
	void		*rh_arg;
	unsigned int	rh_gen;
	bool		rh_decay;	/* runs on decay passes too */
};

static kmutex_t reclaim_lock = MUTEX_INITIALIZER(IPL_NONE);
static kcondvar_t reclaim_cv;
static bool reclaim_running;
static uint64_t reclaim_npass;
/* Bytes of pages given back while passes ran (reclaim_lock). */
static uint64_t reclaim_bytes;
static struct reclaim_hook reclaim_hooks[RECLAIM_NHOOKS];
static __thread bool reclaim_self;	/* this thread runs the hooks */
__thread const char *nbmem_budget_client;	/* reclaim.h */
static uint64_t reclaim_curage;		/* of the running pass: 0 urgent */

/* ---- the limit */

/*
 * The first limit: NBMEM_PHYSMEM, else the cgroup's memory.max, else
 * unlimited.  Only system calls and parsing: safe wherever it runs.
 */
static size_t
budget_limit_initial(void)
{
	const char *s = nbmem_os_getenv("NBMEM_PHYSMEM");
	size_t v;

	if (s != NULL && *s != '\0') {
		if (nbmem_options_parse_size(s, &v))
			return v == BUDGET_UNREAD ? 0 : v;
		nbmem_warn("budget: NBMEM_PHYSMEM=\"%s\" is not a size "
		    "(a number with an optional K, M, G or T); ignored", s);
	}
	v = nbmem_os_cgroup_memlimit();
	return v == BUDGET_UNREAD ? 0 : v;
}

static inline size_t
budget_limit_get(void)
{
	size_t lim = __atomic_load_n(&budget_limit, __ATOMIC_ACQUIRE);

	if (__predict_false(lim == BUDGET_UNREAD)) {
		size_t expect = BUDGET_UNREAD;
		size_t v = budget_limit_initial();
		/* Lose quietly to nbmem_physmem_set() or another reader. */
		(void)__atomic_compare_exchange_n(&budget_limit, &expect, v,
		    false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
		lim = __atomic_load_n(&budget_limit, __ATOMIC_ACQUIRE);
	}
	return lim;
}

/* Read the limit now, at start-up, rather than in the first charge. */
void
nbmem_budget_init(void)
{
	(void)budget_limit_get();
}

/* ---- charging */

/* Add `bytes' to the in-use count if it stays within the limit. */
static inline bool
budget_tryadd(size_t bytes)
{
	size_t lim = budget_limit_get();
	size_t cur = __atomic_load_n(&budget_inuse, __ATOMIC_RELAXED);

	do {
		if (lim != 0 ? bytes > lim || cur > lim - bytes :
		    cur > SIZE_MAX - bytes)
			return false;	/* over the limit, or no count */
	} while (!__atomic_compare_exchange_n(&budget_inuse, &cur, cur + bytes,
	    true, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
	return true;
}

/* Wake every sleeper: memory was released or the limit changed. */
static void
budget_wakeup(void)
{
	if (__atomic_load_n(&budget_nwaiters, __ATOMIC_SEQ_CST) == 0)
		return;
	mutex_enter(&budget_lock);
	cv_broadcast(&budget_cv);
	mutex_exit(&budget_lock);
}

static void
budget_timeout_check(const char *what, const char *why, size_t bytes,
    uint64_t since)
{
	uint64_t limit = nbmem_options_sleep_timeout();

	const char *client = nbmem_budget_client;

	if (limit == 0 || nbmem_os_now_ns() - since < limit)
		return;
	nbmem_panic("budget: %s%s%s%s: %s for %zu bytes longer than "
	    "NBMEM_SLEEP_TIMEOUT (%lu ms; budget %zu, in use %zu)",
	    what != NULL ? what : "?", client != NULL ? " for pool \"" : "",
	    client != NULL ? client : "", client != NULL ? "\"" : "", why,
	    bytes,
	    (unsigned long)(limit / 1000000),
	    __atomic_load_n(&budget_limit, __ATOMIC_RELAXED),
	    __atomic_load_n(&budget_inuse, __ATOMIC_RELAXED));
}

static void reclaim_pass(bool join);

static bool
budget_charge_slow(size_t bytes, bool canfail, const char *what)
{
	uint64_t start, last;

	nbmem_intr_check_sleep("budget", what != NULL ? what : "?",
	    "sleeping allocation");
	reclaim_pass(true);
	if (budget_tryadd(bytes))
		return true;
	if (canfail)
		return false;

	start = last = nbmem_os_now_ns();
	mutex_enter(&budget_lock);
	__atomic_add_fetch(&budget_nwaiters, 1, __ATOMIC_SEQ_CST);
	while (!budget_tryadd(bytes)) {
		budget_timeout_check(what, "sleeping allocation waited", bytes,
		    start);
		(void)cv_timedwait_ns(&budget_cv, &budget_lock,
		    BUDGET_WAIT_NS);
		uint64_t now = nbmem_os_now_ns();
		if (now - last >= BUDGET_RECLAIM_NS) {
			mutex_exit(&budget_lock);
			reclaim_pass(true);
			mutex_enter(&budget_lock);
			last = now;
		}
	}
	__atomic_sub_fetch(&budget_nwaiters, 1, __ATOMIC_SEQ_CST);
	mutex_exit(&budget_lock);
	return true;
}

bool
nbmem_budget_charge(size_t bytes, bool wait, bool canfail, const char *what)
{
	if (__predict_true(budget_tryadd(bytes)))
		return true;
	if (!wait)
		return false;
	return budget_charge_slow(bytes, canfail, what);
}

void
nbmem_budget_uncharge(size_t bytes)
{
	size_t old = __atomic_fetch_sub(&budget_inuse, bytes,
	    __ATOMIC_SEQ_CST);

	VERIFY(old >= bytes, "budget: uncharge of %zu bytes with only %zu "
	    "in use", bytes, old);
	__atomic_add_fetch(&budget_released, bytes, __ATOMIC_RELAXED);
	budget_wakeup();
}

bool
nbmem_budget_oswait(const char *what, size_t bytes, bool canfail,
    uint64_t *since)
{
	nbmem_intr_check_sleep("budget", what != NULL ? what : "?",
	    "sleeping allocation");
	if (*since == 0) {
		*since = nbmem_os_now_ns();
		reclaim_pass(true);
		return true;
	}
	if (canfail)
		return false;
	budget_timeout_check(what, "the OS refused memory", bytes, *since);
	mutex_enter(&budget_lock);
	__atomic_add_fetch(&budget_nwaiters, 1, __ATOMIC_SEQ_CST);
	(void)cv_timedwait_ns(&budget_cv, &budget_lock, BUDGET_WAIT_NS);
	__atomic_sub_fetch(&budget_nwaiters, 1, __ATOMIC_SEQ_CST);
	mutex_exit(&budget_lock);
	reclaim_pass(true);
	return true;
}

bool
nbmem_budget_tight_p(void)
{
	size_t lim = budget_limit_get();
	size_t inuse = __atomic_load_n(&budget_inuse, __ATOMIC_RELAXED);

	return lim != 0 && (inuse >= lim || lim - inuse < lim / 10);
}

/* ---- nbmem(3): the budget */

NBMEM_EXPORT void
nbmem_physmem_set(size_t bytes)
{
	/* SIZE_MAX is as good as unlimited, and is our "not read" mark. */
	__atomic_store_n(&budget_limit, bytes == BUDGET_UNREAD ? 0 : bytes,
	    __ATOMIC_SEQ_CST);
	budget_wakeup();
}

NBMEM_EXPORT size_t
nbmem_physmem_get(void)
{
	return budget_limit_get();
}

NBMEM_EXPORT size_t
nbmem_physmem_inuse(void)
{
	return __atomic_load_n(&budget_inuse, __ATOMIC_RELAXED);
}

NBMEM_EXPORT unsigned int
nbmem_physmem_waiters(void)
{
	return __atomic_load_n(&budget_nwaiters, __ATOMIC_SEQ_CST);
}

/* ---- reclaim */

/*
 * Run the hooks of a pass with no nbmem lock held, then give back the
 * boundary tags the hooks' frees left unused.  The pass flag is set.
 */
static void
reclaim_run(uint64_t age)
{
	struct reclaim_hook snap[RECLAIM_NHOOKS];
	unsigned int n = 0;

	mutex_enter(&reclaim_lock);
	for (unsigned int i = 0; i < RECLAIM_NHOOKS; i++)
		if (reclaim_hooks[i].rh_fn != NULL &&
		    (age == 0 || reclaim_hooks[i].rh_decay))
			snap[n++] = reclaim_hooks[i];
	mutex_exit(&reclaim_lock);

	uint64_t before = __atomic_load_n(&budget_released, __ATOMIC_RELAXED);

	reclaim_self = true;
	__atomic_store_n(&reclaim_curage, age, __ATOMIC_RELAXED);
	/* Freed kmem objects the debug modes hold, before the caches. */
	if (age == 0)
		nbmem_kmem_debug_reclaim();
	for (unsigned int i = 0; i < n; i++)
		(*snap[i].rh_fn)(snap[i].rh_arg);
	nbmem_bt_reclaim();
	__atomic_store_n(&reclaim_curage, 0, __ATOMIC_RELAXED);
	reclaim_self = false;

	mutex_enter(&reclaim_lock);
	reclaim_running = false;
	reclaim_npass++;
	/* Frees by other threads meanwhile count too: a statistic. */
	reclaim_bytes += __atomic_load_n(&budget_released, __ATOMIC_RELAXED) -
	    before;
	cv_broadcast(&reclaim_cv);
	mutex_exit(&reclaim_lock);
}

/*
 * An urgent pass: every hook once.  One pass at a time: with `join', a
 * caller that finds a pass running waits for it and takes it as its
 * own; without, it waits and then runs a full pass of its own.  A hook
 * that allocates and lands here again returns at once.
 */
static void
reclaim_pass(bool join)
{
	if (reclaim_self)
		return;
	mutex_enter(&reclaim_lock);
	if (reclaim_running) {
		uint64_t pass = reclaim_npass;
		while (reclaim_running && reclaim_npass == pass)
			(void)cv_timedwait_ns(&reclaim_cv, &reclaim_lock,
			    BUDGET_WAIT_NS);
		if (join) {
			mutex_exit(&reclaim_lock);
			return;
		}
		while (reclaim_running)
			(void)cv_timedwait_ns(&reclaim_cv, &reclaim_lock,
			    BUDGET_WAIT_NS);
	}
	reclaim_running = true;
	mutex_exit(&reclaim_lock);
	reclaim_run(0);
}

/* A decay pass, unless any pass is running (it did the work). */
bool
nbmem_reclaim_decay(uint64_t age)
{
	if (reclaim_self || age == 0)
		return false;
	mutex_enter(&reclaim_lock);
	if (reclaim_running) {
		mutex_exit(&reclaim_lock);
		return false;
	}
	reclaim_running = true;
	mutex_exit(&reclaim_lock);
	reclaim_run(age);
	return true;
}

uint64_t
nbmem_reclaim_age(void)
{
	return __atomic_load_n(&reclaim_curage, __ATOMIC_RELAXED);
}

void
nbmem_reclaim_stats(uint64_t *npassp, uint64_t *bytesp)
{
	mutex_enter(&reclaim_lock);
	*npassp = reclaim_npass;
	*bytesp = reclaim_bytes;
	mutex_exit(&reclaim_lock);
}

uint64_t
nbmem_reclaim_npass(void)
{
	uint64_t n;

	mutex_enter(&reclaim_lock);
	n = reclaim_npass;
	mutex_exit(&reclaim_lock);
	return n;
}

/*
 * For a VM_SLEEP request that vmem cannot meet (NetBSD's vmem_xalloc
 * kicks the pagedaemon): an urgent pass, or the end of one running.
 */
void
nbmem_reclaim_kick(void)
{
	reclaim_pass(true);
}

NBMEM_EXPORT size_t
nbmem_reclaim(void)
{
	uint64_t before = __atomic_load_n(&budget_released, __ATOMIC_RELAXED);

	nbmem_intr_check_sleep("budget", "reclaim", "nbmem_reclaim");
	reclaim_pass(false);
	return (size_t)(__atomic_load_n(&budget_released, __ATOMIC_RELAXED) -
	    before);
}

static int
reclaim_hook_add(void (*fn)(void *), void *arg, bool decay)
{
	int handle = 0;

	VERIFY(fn != NULL, "budget: reclaim: nbmem_reclaim_hook_add: NULL "
	    "function");
	mutex_enter(&reclaim_lock);
	for (unsigned int i = 0; i < RECLAIM_NHOOKS; i++) {
		struct reclaim_hook *rh = &reclaim_hooks[i];
		if (rh->rh_fn != NULL)
			continue;
		rh->rh_fn = fn;
		rh->rh_arg = arg;
		rh->rh_decay = decay;
		rh->rh_gen = rh->rh_gen >= RECLAIM_GEN_MAX ? 0 :
		    rh->rh_gen + 1;
		handle = (int)(rh->rh_gen * RECLAIM_NHOOKS + i + 1);
		break;
	}
	mutex_exit(&reclaim_lock);
	return handle;
}

NBMEM_EXPORT int
nbmem_reclaim_hook_add(void (*fn)(void *), void *arg)
{
	return reclaim_hook_add(fn, arg, false);
}

int
nbmem_reclaim_hook_add_decay(void (*fn)(void *), void *arg)
{
	return reclaim_hook_add(fn, arg, true);
}

NBMEM_EXPORT void
nbmem_reclaim_hook_remove(int handle)
{
	unsigned int i, gen;
	struct reclaim_hook *rh;

	VERIFY(handle > 0, "budget: reclaim: hook handle %d: not a handle "
	    "from nbmem_reclaim_hook_add", handle);
	i = (unsigned int)(handle - 1) % RECLAIM_NHOOKS;
	gen = (unsigned int)(handle - 1) / RECLAIM_NHOOKS;
	rh = &reclaim_hooks[i];
	mutex_enter(&reclaim_lock);
	if (rh->rh_fn == NULL || rh->rh_gen != gen) {
		mutex_exit(&reclaim_lock);
		nbmem_panic("budget: reclaim: hook handle %d: not registered "
		    "(removed twice?)", handle);
	}
	rh->rh_fn = NULL;
	rh->rh_arg = NULL;
	/* A running pass may hold a copy: let it finish before returning. */
	if (reclaim_running && !reclaim_self) {
		uint64_t pass = reclaim_npass;
		while (reclaim_running && reclaim_npass == pass)
			(void)cv_timedwait_ns(&reclaim_cv, &reclaim_lock,
			    BUDGET_WAIT_NS);
	}
	mutex_exit(&reclaim_lock);
}

/* ---- fork */

/*
 * The reclaim lock is the outermost of the library, the budget lock a
 * leaf.  In the child no other thread waits or reclaims any more.
 */
static void
budget_fork_reclaim(int phase)
{
	if (phase == NBMEM_FORK_PREPARE) {
		mutex_enter(&reclaim_lock);
		return;
	}
	if (phase == NBMEM_FORK_CHILD) {
		reclaim_running = false;
		reclaim_self = false;
		reclaim_curage = 0;
	}
	mutex_exit(&reclaim_lock);
}

static void
budget_fork_budget(int phase)
{
	if (phase == NBMEM_FORK_PREPARE) {
		mutex_enter(&budget_lock);
		return;
	}
	if (phase == NBMEM_FORK_CHILD)
		__atomic_store_n(&budget_nwaiters, 0, __ATOMIC_SEQ_CST);
	mutex_exit(&budget_lock);
}

__attribute__((__constructor__(105)))
static void
budget_fork_init(void)
{
	nbmem_fork_hook_add(NBMEM_FORK_ORDER_RECLAIM, budget_fork_reclaim);
	nbmem_fork_hook_add(NBMEM_FORK_ORDER_BUDGET, budget_fork_budget);
}

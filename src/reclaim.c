/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * reclaim.c: the decay thread, which returns memory left idle.
 *
 * 1 Overview
 *   NBMEM_DECAY=SECONDS (a decimal number; 0 turns it off) sets the
 *   decay time.  When it is on, a thread wakes every half decay time and
 *   runs a decay pass (budget.c, reclaim.h) over the library's own pools
 *   and caches (kmem's and the malloc library's classes, the group,
 *   header and cache-record pools: nbmem_pool_decay_enable): pool pages
 *   empty for at least the decay time go back to the page layer and
 *   from there to the OS, caches no one asked anything of for that long
 *   are emptied, wholly free boundary-tag chunks are unmapped.  The
 *   program's pools and caches are NetBSD's: only a reclaim takes their
 *   idle pages and cached objects, so no destructor of theirs runs on
 *   this thread and pool_reclaim's 10-second rule sees their pages.
 *   Memory in use, and memory idle for less than the decay time, stay:
 *   a steady workload keeps its pages (no thrashing), a program whose
 *   live set shrank gets its resident set back within 1.5 decay times.
 *   The thread is started by the library's constructor, and again in the
 *   child after fork(2), where the parent's thread does not exist.
 *
 * 2 Data structures
 *   decay_age (ns, 0 = off) and decay_gen (bumped on every change, so a
 *   thread of an older configuration exits) under decay_lock; the
 *   thread sleeps on decay_cv.
 *
 * 3 Invariants
 *   - at most one thread runs for the current generation;
 *   - the thread holds no nbmem lock while it reclaims, and its passes
 *     are serialised with every other pass by budget.c (a decay pass is
 *     skipped, not queued, when another pass is running).
 *
 * 4 Locking and signal safety
 *   decay_lock (IPL_NONE) is never held across a pass; it is held while
 *   a thread is created, which may allocate, so it is the outermost
 *   lock of the library.  The
 *   thread blocks every signal, so no handler of the program runs on it,
 *   and is detached: it never keeps the process alive, and exit() ends
 *   it wherever it is (every structure it touches is consistent at each
 *   lock release, as for any other thread).  Its stack comes from the C
 *   library; it allocates nothing from nbmem except through the reclaim
 *   pass, which only frees.
 *
 * 5 Debug features
 *   A bad NBMEM_DECAY is reported once and ignored.  nbmem_decay_set()
 *   and nbmem_decay_npass() let tests drive the thread, which skips its
 *   passes while a test has replaced the pool clock (the ages it would
 *   compare are the test's).
 *
 * 6 Differences from NetBSD
 *   NetBSD has no decay: the pagedaemon reclaims under pressure only,
 *   and pool_reclaim's 10-second rule applies when something calls it;
 *   which is what the program's own pools still get here.
 *   The decay thread is closer to jemalloc's background purging and to
 *   the illumos kmem_reap of idle magazines.
 *
 * 7 References
 *   NetBSD sys/kern/subr_pool.c (pool_reclaim, POOL_INACTIVE);
 *   J. Bonwick and J. Adams, "Magazines and Vmem", USENIX 2001 (the
 *   working-set reaping of depots).
 */
#define	_GNU_SOURCE		/* pthread_setname_np */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#include "internal.h"
#include "lock.h"
#include "os/os.h"
#include "os/shm.h"
#include "reclaim.h"

/* The thread wakes at least this often when on; at most this rarely. */
#define	DECAY_MIN_PERIOD_NS	(10ull * 1000 * 1000)
#define	DECAY_STACK		(256u * 1024)

/*
 * On by default (nbmem(3), "Hysteresis and decay", has the measurements
 * behind it), except under ThreadSanitizer, which kills a fork child of
 * a process with threads as soon as the child starts one, and reports
 * the test programs' unlocked peeks at pool counters the thread updates.
 */
#define	DECAY_DEFAULT_NS	(NBMEM_TSAN ? 0 : 10ull * 1000 * 1000 * 1000)

static kmutex_t decay_lock = MUTEX_INITIALIZER(IPL_NONE);
static kcondvar_t decay_cv;
static uint64_t decay_age;		/* ns; 0: off */
static uint64_t decay_gen;		/* configuration generation */
static bool decay_thread_up;		/* a thread of decay_gen exists */
static bool decay_deferred;		/* nbmem_svc_start will start it */
/* This thread is starting a thread of ours: its allocations poke not. */
static __thread bool svc_busy __attribute__((__tls_model__("initial-exec")));
static uint64_t decay_npass;		/* passes the thread ran */

static uint64_t
decay_env(void)
{
	const char *s = nbmem_os_getenv("NBMEM_DECAY");
	char *end;
	double secs;

	if (s == NULL || *s == '\0')
		return DECAY_DEFAULT_NS;
	secs = strtod(s, &end);
	if (*end != '\0' || !(secs >= 0) || secs > 1e9) {
		nbmem_warn("reclaim: NBMEM_DECAY=\"%s\" is not a number of "
		    "seconds; the default (%llu s) applies", s,
		    (unsigned long long)(DECAY_DEFAULT_NS / 1000000000u));
		return DECAY_DEFAULT_NS;
	}
	return (uint64_t)(secs * 1e9);
}

static void *
decay_main(void *arg)
{
	uint64_t gen = (uint64_t)(uintptr_t)arg;

	/*
	 * Named from inside (prctl): pthread_setname_np() on another
	 * thread writes /proc/self/task/N/comm through stdio, code of the
	 * C library that nothing else of a small program runs, 88 KiB of
	 * it resident (a program that allocates nothing peaked at 1,980
	 * KiB instead of 1,890).
	 */
	nbmem_os_thread_setname("nbmem-decay");
	mutex_enter(&decay_lock);
	while (decay_gen == gen && decay_age != 0) {
		uint64_t age = decay_age;
		uint64_t period = age / 2 < DECAY_MIN_PERIOD_NS ?
		    DECAY_MIN_PERIOD_NS : age / 2;
		(void)cv_timedwait_ns(&decay_cv, &decay_lock, period);
		if (decay_gen != gen || decay_age == 0)
			break;
		age = decay_age;
		mutex_exit(&decay_lock);
		bool ran = !nbmem_pool_clock_faked() &&
		    nbmem_reclaim_decay(age);
		mutex_enter(&decay_lock);
		if (ran)
			decay_npass++;
		cv_broadcast(&decay_cv);
	}
	if (decay_gen == gen)
		decay_thread_up = false;
	mutex_exit(&decay_lock);
	return NULL;
}

/* Start a thread for the current generation; decay_lock is held. */
static void
decay_start_locked(void)
{
	pthread_attr_t attr;
	pthread_t t;
	sigset_t all, old;

	if (decay_age == 0 || decay_thread_up || decay_deferred)
		return;
	if (pthread_attr_init(&attr) != 0)
		return;
	(void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	(void)pthread_attr_setstacksize(&attr, DECAY_STACK);
	/* The thread inherits the mask: every signal blocked. */
	sigfillset(&all);
	(void)pthread_sigmask(SIG_SETMASK, &all, &old);
	(void)nbmem_track_lib(true);	/* its TLS is no leak of the program */
	svc_busy = true;	/* pthread_create allocates: no poke */
	if (pthread_create(&t, &attr, decay_main,
	    (void *)(uintptr_t)decay_gen) == 0)
		decay_thread_up = true;
	else
		nbmem_warn("reclaim: cannot start the decay thread; idle "
		    "memory goes back only under pressure");
	svc_busy = false;
	(void)nbmem_track_lib(false);
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	(void)pthread_attr_destroy(&attr);
}

/*
 * Set the decay time (0: off) and start or stop the thread.  A thread of
 * the previous setting exits at its next wakeup, which this one causes.
 */
void
nbmem_decay_set(uint64_t age_ns)
{
	mutex_enter(&decay_lock);
	decay_deferred = false;		/* asked for: now */
	decay_age = age_ns;
	decay_gen++;
	decay_thread_up = false;
	cv_broadcast(&decay_cv);
	decay_start_locked();
	mutex_exit(&decay_lock);
}

uint64_t
nbmem_decay_get(void)
{
	uint64_t age;

	mutex_enter(&decay_lock);
	age = decay_age;
	mutex_exit(&decay_lock);
	return age;
}

uint64_t
nbmem_decay_npass(void)
{
	uint64_t n;

	mutex_enter(&decay_lock);
	n = decay_npass;
	mutex_exit(&decay_lock);
	return n;
}

/* ---- deferred service threads (reclaim.h) */

/*
 * A single-threaded program gets the threads after this many pokes: a
 * count, not a clock, so that no poke costs a system call (valgrind
 * has no vDSO) and a program's first slow paths stay cheap.
 */
#define	SVC_POKES_MIN	4096u

bool nbmem_svc_pending;
unsigned int nbmem_svc_pokes;

/* Defer the threads from now (constructors, fork child). */
void
nbmem_svc_defer(void)
{
	nbmem_svc_pokes = 0;
	__atomic_store_n(&nbmem_svc_pending, true, __ATOMIC_RELEASE);
}

/*
 * A slow path of the malloc library while the threads wait: start them
 * when the program has a thread of its own (it is multithreaded
 * anyway) or has poked SVC_POKES_MIN times.  Not in a signal handler nor while
 * the caller holds a lock of ours (the malloc library pokes only from
 * its slow paths' entries), since starting a thread allocates.
 */
void
nbmem_svc_start(void)
{
	int cs;

	if (svc_busy || nbmem_intr_p() || (nbmem_os_single_threaded() &&
	    nbmem_svc_pokes < SVC_POKES_MIN))
		return;
	/* One thread starts them; the others go on. */
	if (!__atomic_exchange_n(&nbmem_svc_pending, false, __ATOMIC_ACQ_REL))
		return;
	/*
	 * malloc is no cancellation point: the publisher's start closes a
	 * descriptor (os/shm_linux.c), and close is one.
	 */
	(void)pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cs);
	svc_busy = true;
	nbmem_stats_start_deferred();
	svc_busy = false;
	mutex_enter(&decay_lock);
	decay_deferred = false;
	decay_start_locked();
	mutex_exit(&decay_lock);
	(void)pthread_setcancelstate(cs, NULL);
}

/*
 * fork: the decay lock is taken before every lock of the library (this
 * handler is registered after fork.c's, and prepare handlers run in the
 * reverse order of registration); it is the outermost lock, since
 * starting a thread may allocate.  In the child the parent's thread does
 * not exist: start one, once the library's own child handlers (which
 * run first) have released every lock.
 */
static void
decay_fork_prepare(void)
{
	mutex_enter(&decay_lock);
}

static void
decay_fork_parent(void)
{
	mutex_exit(&decay_lock);
}

static void
decay_fork_child(void)
{
	decay_gen++;
	decay_thread_up = false;
	decay_npass = 0;
	/* A deferred child is single-threaded again until it is poked. */
	if (NBMEM_MALLOC_LIBRARY()) {
		decay_deferred = true;
		nbmem_svc_defer();
	} else if (!NBMEM_TSAN)
		decay_start_locked();
	mutex_exit(&decay_lock);
}

__attribute__((__constructor__(130)))
static void
decay_ctor(void)
{
	(void)pthread_atfork(decay_fork_prepare, decay_fork_parent,
	    decay_fork_child);
	if (NBMEM_MALLOC_LIBRARY()) {
		mutex_enter(&decay_lock);
		decay_age = decay_env();
		decay_deferred = true;
		mutex_exit(&decay_lock);
		nbmem_svc_defer();
	} else
		nbmem_decay_set(decay_env());
}

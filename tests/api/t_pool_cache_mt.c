/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_pool_cache_mt: pool_cache(3) under threads, signals and fork.
 *
 * Every object carries an owner word.  Whoever gets an object claims it
 * with an atomic exchange and requires it to be unowned; before putting
 * it back it releases the claim and requires it was still its own.  So
 * an object handed out twice is caught whichever thread (or signal
 * handler) got it.  Constructor and destructor counts are checked
 * against the pool's counters at the end.  Every loop is bounded by an
 * operation count and a wall-clock cap.  Each case runs twice: with the
 * default CPU layer (per-CPU slots where rseq works) and with per-thread
 * slots (NBMEM_PERCPU=0, set before the process's first cache).
 */
#include <sys/time.h>
#include <sys/wait.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <atf-c.h>

#include <nbmem/intr.h>
#include <nbmem/pool.h>

#include "nbtest.h"

#define	NTHREADS	4
#define	MAXLIVE		48
#define	NXCHG		64

struct obj {
	_Atomic unsigned int	o_owner;	/* 0: in the cache */
	unsigned int		o_magic;
	char			o_pad[48];
};

#define	OMAGIC	0x5eed5eedu

static atomic_uint nctor, ndtor, nerrors;
static char first_error[200];
static atomic_flag first_taken = ATOMIC_FLAG_INIT;

static void
report(const char *what, void *o, unsigned int who, unsigned int found)
{
	atomic_fetch_add(&nerrors, 1);
	if (!atomic_flag_test_and_set(&first_taken))
		snprintf(first_error, sizeof(first_error),
		    "%s: object %p owner %u found %u", what, o, who, found);
}

static int
ctor(void *arg, void *v, int flags)
{
	struct obj *o = v;

	atomic_store(&o->o_owner, 0);
	o->o_magic = OMAGIC;
	atomic_fetch_add(&nctor, 1);
	return 0;
}

static void
dtor(void *arg, void *v)
{
	struct obj *o = v;

	if (o->o_magic != OMAGIC || atomic_load(&o->o_owner) != 0)
		report("destructing a damaged or owned object", o, 0,
		    atomic_load(&o->o_owner));
	o->o_magic = 0;
	atomic_fetch_add(&ndtor, 1);
}

/* Claim / release; async-signal-safe. */
static bool
claim(struct obj *o, unsigned int id)
{
	unsigned int prev = atomic_exchange(&o->o_owner, id);

	if (prev != 0 || o->o_magic != OMAGIC) {
		atomic_fetch_add(&nerrors, 1);
		return false;
	}
	return true;
}

static void
release(struct obj *o, unsigned int id)
{
	unsigned int prev = atomic_exchange(&o->o_owner, 0);

	if (prev != id)
		atomic_fetch_add(&nerrors, 1);
}

static pool_cache_t
mkcache(const char *name, int ipl)
{
	pool_cache_t pc = pool_cache_init(sizeof(struct obj), 0, 0, 0, name,
	    NULL, ipl, ctor, dtor, NULL);

	ATF_REQUIRE(pc != NULL);
	return pc;
}

static void
finish(pool_cache_t pc)
{
	ATF_CHECK_EQ_MSG(atomic_load(&nerrors), 0, "%s", first_error);
	pool_cache_invalidate(pc);
	ATF_CHECK_EQ(pc->pc_pool.pr_nout, 0);
	ATF_CHECK_EQ(atomic_load(&nctor), atomic_load(&ndtor));
	ATF_CHECK_EQ(atomic_load(&nctor), pool_cache_nget(pc));
	pool_cache_destroy(pc);
}

/* ---- the worker: gets, puts, exchanges through a shared array */

struct work {
	pool_cache_t	pc;
	unsigned int	id;
	unsigned int	ops;
	uint64_t	deadline;
	_Atomic(struct obj *) *xchg;	/* cross-thread frees */
	bool		keep;		/* exit with full groups */
};

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *
worker(void *arg)
{
	struct work *w = arg;
	struct obj *live[MAXLIVE];
	int nlive = 0;
	uint64_t seed = 0x9e3779b97f4a7c15ull * (w->id + 1);

	for (unsigned int i = 0; i < w->ops; i++) {
		if ((i & 1023) == 0 && nbt_now_ns() > w->deadline)
			break;
		unsigned int r = (unsigned int)rnd(&seed);
		if (nlive < MAXLIVE && (nlive == 0 || (r & 3) != 0)) {
			struct obj *o = pool_cache_get(w->pc,
			    (r & 16) ? PR_NOWAIT : PR_WAITOK);
			if (o == NULL)
				continue;
			if (claim(o, w->id))
				live[nlive++] = o;
		} else {
			int k = (int)((r >> 8) % (unsigned int)nlive);
			struct obj *o = live[k];
			live[k] = live[--nlive];
			if (w->xchg != NULL && (r & 32) != 0) {
				/* Hand it to whoever takes this cell. */
				release(o, w->id);
				o = atomic_exchange(&w->xchg[(r >> 16) %
				    NXCHG], o);
				if (o == NULL)
					continue;
				if (!claim(o, w->id))
					continue;
			}
			release(o, w->id);
			pool_cache_put(w->pc, o);
		}
	}
	while (nlive > 0) {
		struct obj *o = live[--nlive];
		release(o, w->id);
		pool_cache_put(w->pc, o);
	}
	return NULL;
}

static void
run_workers(pool_cache_t pc, int n, unsigned int ops, bool xchg,
    unsigned int idbase, unsigned int ms)
{
	static _Atomic(struct obj *) cells[NXCHG];
	pthread_t t[NTHREADS];
	struct work w[NTHREADS];

	for (int i = 0; i < n; i++) {
		w[i] = (struct work){ .pc = pc, .id = idbase + (unsigned)i + 1,
		    .ops = ops, .deadline = nbt_now_ns() + ms * 1000000ull,
		    .xchg = xchg ? cells : NULL };
		ATF_REQUIRE(pthread_create(&t[i], NULL, worker, &w[i]) == 0);
	}
	for (int i = 0; i < n; i++)
		ATF_REQUIRE(pthread_join(t[i], NULL) == 0);
	for (int i = 0; i < NXCHG; i++) {
		struct obj *o = atomic_exchange(&cells[i], NULL);
		if (o != NULL)
			pool_cache_put(pc, o);
	}
}

static void
unique_objects(void)
{
	pool_cache_t pc = mkcache("mt-unique", IPL_NONE);

	run_workers(pc, NTHREADS, 3000000, false, 0, 1000);
	finish(pc);
}

static void
cross_thread_frees(void)
{
	pool_cache_t pc = mkcache("mt-cross", IPL_NONE);

	run_workers(pc, NTHREADS, 3000000, true, 0, 1000);
	finish(pc);
}

/* Waves of short-lived threads that exit with objects in their groups. */
static void
threads_exit_full(void)
{
	pool_cache_t pc = mkcache("mt-exit", IPL_NONE);

	for (unsigned int wave = 0; wave < 20; wave++)
		run_workers(pc, NTHREADS, 2000, wave & 1, wave * NTHREADS,
		    1000);
	/*
	 * Per-thread slots: the exiting threads' groups went back to the
	 * depot.  Per-CPU slots outlive the threads, and may hold all of
	 * them; either way the objects are still the cache's (out of the
	 * pool), and finish() checks that invalidation gets every one back.
	 */
	const char *mode = getenv("NBMEM_PERCPU");
	bool per_thread = mode != NULL && strcmp(mode, "0") == 0;
	struct pool_sysctl ps[256];
	size_t n = nbmem_pool_sysctl(ps, 256);
	bool seen = false;
	for (size_t i = 0; i < n && i < 256; i++) {
		if (strcmp(ps[i].pr_wchan, "mt-exit") != 0)
			continue;
		seen = true;
		ATF_CHECK(ps[i].pr_nout > 0);
		if (per_thread)
			ATF_CHECK(ps[i].pr_cache_nfull +
			    ps[i].pr_cache_npartial > 0);
	}
	ATF_CHECK(seen);
	finish(pc);
}

/* Invalidation takes the groups of threads that are using them. */
static atomic_bool stop_inval;

static void *
invalidator(void *arg)
{
	while (!atomic_load(&stop_inval)) {
		pool_cache_invalidate(arg);
		usleep(200);
	}
	return NULL;
}

static void
invalidate_while_busy(void)
{
	pool_cache_t pc = mkcache("mt-inval", IPL_NONE);
	pthread_t t;

	ATF_REQUIRE(pthread_create(&t, NULL, invalidator, pc) == 0);
	run_workers(pc, NTHREADS - 1, 3000000, true, 0, 1000);
	atomic_store(&stop_inval, true);
	ATF_REQUIRE(pthread_join(t, NULL) == 0);
	finish(pc);
}

/*
 * The statistics read every thread's counters, and the count of the
 * full groups each keeps aside, while the threads change them: bursts
 * of gets, then the puts, which per-thread slots keep aside.
 */
#define	BURST	200

static atomic_bool stop_stats;

static void *
stats_reader(void *arg)
{
	struct pool_sysctl ps[256];

	(void)arg;
	while (!atomic_load(&stop_stats))
		(void)nbmem_pool_sysctl(ps, 256);
	return NULL;
}

static void *
burster(void *arg)
{
	struct work *w = arg;
	struct obj *o[BURST];

	while (nbt_now_ns() < w->deadline) {
		for (int i = 0; i < BURST; i++) {
			ATF_REQUIRE((o[i] = pool_cache_get(w->pc,
			    PR_WAITOK)) != NULL);
			(void)claim(o[i], w->id);
		}
		for (int i = 0; i < BURST; i++) {
			release(o[i], w->id);
			pool_cache_put(w->pc, o[i]);
		}
	}
	return NULL;
}

static void
stats_while_busy(void)
{
	pool_cache_t pc = mkcache("mt-stats", IPL_NONE);
	pthread_t r, t[NTHREADS - 1];
	struct work w[NTHREADS - 1];

	ATF_REQUIRE(pthread_create(&r, NULL, stats_reader, NULL) == 0);
	for (int i = 0; i < NTHREADS - 1; i++) {
		w[i] = (struct work){ .pc = pc, .id = (unsigned)i + 1,
		    .deadline = nbt_now_ns() + 500000000ull };
		ATF_REQUIRE(pthread_create(&t[i], NULL, burster, &w[i]) ==
		    0);
	}
	for (int i = 0; i < NTHREADS - 1; i++)
		ATF_REQUIRE(pthread_join(t[i], NULL) == 0);
	atomic_store(&stop_stats, true);
	ATF_REQUIRE(pthread_join(r, NULL) == 0);
	finish(pc);
}

/* ---- a timer storm: handlers use an IPL_VM cache too */

static pool_cache_t storm_pc;
static atomic_uint nhandler, nhandler_got;

static void
storm_handler(int sig)
{
	int error = errno;

	nbmem_intr_enter();
	struct obj *o = pool_cache_get(storm_pc, PR_NOWAIT);
	if (o != NULL) {
		if (claim(o, 1000)) {
			release(o, 1000);
			pool_cache_put(storm_pc, o);
		}
		atomic_fetch_add(&nhandler_got, 1);
	}
	atomic_fetch_add(&nhandler, 1);
	nbmem_intr_exit();
	errno = error;
}

static void
signal_storm(void)
{
	struct sigaction sa;
	struct sigevent sev;
	timer_t timer;
	/* Every 50 us: the interrupted thread is often inside the cache. */
	struct itimerspec it = { { 0, 50000 }, { 0, 50000 } };

	storm_pc = mkcache("mt-storm", IPL_VM);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = storm_handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	ATF_REQUIRE(sigaction(SIGRTMIN, &sa, NULL) == 0);
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIGRTMIN;
	ATF_REQUIRE(timer_create(CLOCK_MONOTONIC, &sev, &timer) == 0);
	ATF_REQUIRE(timer_settime(timer, 0, &it, NULL) == 0);
	run_workers(storm_pc, NTHREADS, UINT32_MAX, true, 0, 1500);
	ATF_REQUIRE(timer_delete(timer) == 0);
	sa.sa_handler = SIG_IGN;
	ATF_REQUIRE(sigaction(SIGRTMIN, &sa, NULL) == 0);
	printf("%u handler runs, %u got an object\n", atomic_load(&nhandler),
	    atomic_load(&nhandler_got));
	ATF_CHECK(atomic_load(&nhandler) > 0);
	finish(storm_pc);
}

/* ---- fork while other threads allocate */

static atomic_bool stop_fork;

static void *
forkload(void *arg)
{
	struct work w = { .pc = arg, .id = 77, .ops = 2000,
	    .deadline = UINT64_MAX };

	while (!atomic_load(&stop_fork)) {
		w.deadline = nbt_now_ns() + 1000000000ull;
		worker(&w);
	}
	return NULL;
}

static void
fork_while_allocating(void)
{
	pool_cache_t pc = mkcache("mt-fork", IPL_NONE);
	pool_cache_t pcvm = mkcache("mt-forkvm", IPL_VM);
	pthread_t t[2];

	ATF_REQUIRE(pthread_create(&t[0], NULL, forkload, pc) == 0);
	ATF_REQUIRE(pthread_create(&t[1], NULL, forkload, pcvm) == 0);
	for (int i = 0; i < 30; i++) {
		pid_t pid = fork();
		ATF_REQUIRE(pid >= 0);
		if (pid == 0) {
			alarm(20);	/* a deadlock fails, not hangs */
			struct obj *o[40];
			for (int r = 0; r < 3; r++) {
				for (int k = 0; k < 40; k++) {
					o[k] = pool_cache_get(r & 1 ? pcvm :
					    pc, PR_WAITOK);
					if (o[k] == NULL)
						_exit(2);
				}
				for (int k = 0; k < 40; k++)
					pool_cache_put(r & 1 ? pcvm : pc,
					    o[k]);
			}
			/* The parent's threads' groups came back. */
			pool_cache_invalidate(pc);
			pool_cache_invalidate(pcvm);
			_exit(0);
		}
		int status;
		ATF_REQUIRE(waitpid(pid, &status, 0) == pid);
		ATF_CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "child %d: status %#x", i, status);
	}
	atomic_store(&stop_fork, true);
	ATF_REQUIRE(pthread_join(t[0], NULL) == 0);
	ATF_REQUIRE(pthread_join(t[1], NULL) == 0);
	ATF_CHECK_EQ_MSG(atomic_load(&nerrors), 0, "%s", first_error);
	pool_cache_invalidate(pc);
	pool_cache_invalidate(pcvm);
	ATF_CHECK_EQ(pc->pc_pool.pr_nout, 0);
	ATF_CHECK_EQ(pcvm->pc_pool.pr_nout, 0);
	pool_cache_destroy(pc);
	pool_cache_destroy(pcvm);
}

#define	BOTH_MODES(name)						\
ATF_TC_WITHOUT_HEAD(name);						\
ATF_TC_BODY(name, tc)							\
{									\
	name();								\
}									\
ATF_TC_WITHOUT_HEAD(name##_per_thread);					\
ATF_TC_BODY(name##_per_thread, tc)					\
{									\
	ATF_REQUIRE(setenv("NBMEM_PERCPU", "0", 1) == 0);		\
	name();								\
}

BOTH_MODES(unique_objects)
BOTH_MODES(cross_thread_frees)
BOTH_MODES(threads_exit_full)
BOTH_MODES(invalidate_while_busy)
BOTH_MODES(stats_while_busy)
BOTH_MODES(signal_storm)
BOTH_MODES(fork_while_allocating)

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, unique_objects);
	ATF_TP_ADD_TC(tp, unique_objects_per_thread);
	ATF_TP_ADD_TC(tp, cross_thread_frees);
	ATF_TP_ADD_TC(tp, cross_thread_frees_per_thread);
	ATF_TP_ADD_TC(tp, threads_exit_full);
	ATF_TP_ADD_TC(tp, threads_exit_full_per_thread);
	ATF_TP_ADD_TC(tp, invalidate_while_busy);
	ATF_TP_ADD_TC(tp, invalidate_while_busy_per_thread);
	ATF_TP_ADD_TC(tp, stats_while_busy);
	ATF_TP_ADD_TC(tp, stats_while_busy_per_thread);
	ATF_TP_ADD_TC(tp, signal_storm);
	ATF_TP_ADD_TC(tp, signal_storm_per_thread);
	ATF_TP_ADD_TC(tp, fork_while_allocating);
	ATF_TP_ADD_TC(tp, fork_while_allocating_per_thread);
	return atf_no_error();
}

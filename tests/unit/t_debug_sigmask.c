/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * What the debug modes (NBMEM_DEBUG) cost in signal-mask calls, and the
 * misuse their cheaper locking must still catch.
 *
 * The record of live objects has two tables (debug_track.c): objects
 * of IPL_NONE pools and caches are recorded under a mutex that blocks
 * no signal, so a debug get or put of such a cache makes no system
 * call; objects above IPL_NONE (kmem's among them) under one that
 * blocks them, once per kmem_alloc or kmem_free however many spin
 * mutexes the operation takes.  A signal handler that uses an IPL_NONE
 * object while its thread is inside that first mutex is diagnosed
 * rather than left to wait for ever.  Each case runs in a child started
 * with the modes in its environment (nbdebug.h).
 */
#include <sys/time.h>

#include <signal.h>
#include <string.h>
#include <time.h>

#include <nbmem/kmem.h>
#include <nbmem/nbmem.h>
#include <nbmem/pool.h>

#include "nbdebug.h"
#include "nbtest.h"
#include "os/os.h"

#define	NPAIRS	1000

static uint64_t
nsigblock(void)
{
	return __atomic_load_n(&nbmem_os_nsigblock, __ATOMIC_RELAXED);
}

ATF_TC_WITHOUT_HEAD(c_counts);
ATF_TC_BODY(c_counts, tc)
{
	struct pool pool;
	pool_cache_t pc, pcvm;
	uint64_t before, ncache, npool, nkmem, nvm;
	void *p;
	int i;

	NBT_DEBUG_CHILD();
	pc = pool_cache_init(64, 0, 0, 0, "t_dbg_none", NULL, IPL_NONE,
	    NULL, NULL, NULL);
	pcvm = pool_cache_init(64, 0, 0, 0, "t_dbg_vm", NULL, IPL_VM,
	    NULL, NULL, NULL);
	pool_init(&pool, 48, 0, 0, 0, "t_dbg_pool", NULL, IPL_NONE);
	ATF_REQUIRE(pc != NULL && pcvm != NULL);
	/* Warm up: pages, groups and the tables' first growth. */
	for (i = 0; i < NPAIRS; i++) {
		pool_cache_put(pc, pool_cache_get(pc, PR_WAITOK));
		pool_cache_put(pcvm, pool_cache_get(pcvm, PR_WAITOK));
		pool_put(&pool, pool_get(&pool, PR_WAITOK));
		kmem_free(kmem_alloc(64, KM_SLEEP), 64);
	}

	before = nsigblock();
	for (i = 0; i < NPAIRS; i++) {
		p = pool_cache_get(pc, PR_WAITOK);
		pool_cache_put(pc, p);
	}
	ncache = nsigblock() - before;

	before = nsigblock();
	for (i = 0; i < NPAIRS; i++) {
		p = pool_get(&pool, PR_WAITOK);
		pool_put(&pool, p);
	}
	npool = nsigblock() - before;

	before = nsigblock();
	for (i = 0; i < NPAIRS; i++) {
		p = kmem_alloc(64, KM_SLEEP);
		kmem_free(p, 64);
	}
	nkmem = nsigblock() - before;

	/* The counter counts: an IPL_VM cache does block them. */
	before = nsigblock();
	for (i = 0; i < NPAIRS; i++) {
		p = pool_cache_get(pcvm, PR_NOWAIT);
		pool_cache_put(pcvm, p);
	}
	nvm = nsigblock() - before;

	ATF_CHECK_EQ_MSG(ncache, 0, "IPL_NONE cache: %llu signal blocks "
	    "for %d debug pairs", (unsigned long long)ncache, NPAIRS);
	ATF_CHECK_EQ_MSG(npool, 0, "IPL_NONE pool: %llu signal blocks for "
	    "%d debug pairs", (unsigned long long)npool, NPAIRS);
	ATF_CHECK_MSG(nkmem <= 2 * NPAIRS, "kmem: %llu signal blocks for "
	    "%d debug pairs (one per call expected)",
	    (unsigned long long)nkmem, NPAIRS);
	ATF_CHECK_MSG(nvm >= NPAIRS, "IPL_VM cache: only %llu signal "
	    "blocks for %d debug pairs", (unsigned long long)nvm, NPAIRS);
	pool_cache_destroy(pc);
	pool_cache_destroy(pcvm);
	pool_destroy(&pool);
}

ATF_TC_WITHOUT_HEAD(counts);
ATF_TC_BODY(counts, tc)
{
	static char err[65536];
	int st;

	st = nbt_debug_run("c_counts", "size", err, sizeof(err));
	ATF_CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x: %s",
	    st, err);
	st = nbt_debug_run("c_counts", "redzone,poison", err, sizeof(err));
	ATF_CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x: %s",
	    st, err);
}

/*
 * The misuse: a timer's handler gets and puts on an IPL_NONE cache of
 * its own while the thread it interrupts does the same on another.
 * Sooner or later a signal lands while the thread holds the record's
 * mutex (which no longer blocks signals); the handler's put must then
 * stop the program with the rule, not wait on its own thread.
 */
static pool_cache_t handler_pc;

static void
on_alarm(int sig)
{
	void *p;

	(void)sig;
	p = pool_cache_get(handler_pc, PR_NOWAIT);
	if (p != NULL)
		pool_cache_put(handler_pc, p);
}

ATF_TC_WITHOUT_HEAD(c_handler_none);
ATF_TC_BODY(c_handler_none, tc)
{
	/* Not too often: a loaded machine must not spend it all in handlers. */
	struct itimerval it = { { 0, 500 }, { 0, 500 } };
	struct sigaction sa;
	struct timespec t0, t;
	pool_cache_t pc;

	NBT_DEBUG_CHILD();
	pc = pool_cache_init(64, 0, 0, 0, "t_dbg_thread", NULL, IPL_NONE,
	    NULL, NULL, NULL);
	handler_pc = pool_cache_init(64, 0, 0, 0, "t_dbg_handler", NULL,
	    IPL_NONE, NULL, NULL, NULL);
	ATF_REQUIRE(pc != NULL && handler_pc != NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	ATF_REQUIRE(sigaction(SIGALRM, &sa, NULL) == 0);
	ATF_REQUIRE(setitimer(ITIMER_REAL, &it, NULL) == 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		for (int i = 0; i < 1000; i++)
			pool_cache_put(pc, pool_cache_get(pc, PR_WAITOK));
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (t.tv_sec - t0.tv_sec < 30);
	/* Not reached: the parent fails on a normal exit. */
}

ATF_TC_WITHOUT_HEAD(handler_none);
ATF_TC_BODY(handler_none, tc)
{
	nbt_debug_death("c_handler_none", "size", "debug: an IPL_NONE pool "
	    "or cache was used from a signal handler", NULL);
}

/*
 * An object of an IPL_NONE cache, put back, then given to kmem_free:
 * kmem's table does not know it, the other table has it freed, so it
 * was freed twice (not "never handed out").
 */
ATF_TC_WITHOUT_HEAD(c_double_across);
ATF_TC_BODY(c_double_across, tc)
{
	pool_cache_t pc;
	void *p;

	NBT_DEBUG_CHILD();
	pc = pool_cache_init(64, 0, 0, 0, "t_dbg_across", NULL, IPL_NONE,
	    NULL, NULL, NULL);
	ATF_REQUIRE(pc != NULL);
	p = pool_cache_get(pc, PR_WAITOK);
	pool_cache_put(pc, p);
	kmem_free(p, 64);		/* the bug */
}

ATF_TC_WITHOUT_HEAD(double_across);
ATF_TC_BODY(double_across, tc)
{
	nbt_debug_death("c_double_across", "size", "kmem_free: ", NULL);
	nbt_debug_death("c_double_across", "size", "double free (already "
	    "freed; it came from pool_cache \"t_dbg_across\"", NULL);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, c_counts);
	ATF_TP_ADD_TC(tp, c_handler_none);
	ATF_TP_ADD_TC(tp, c_double_across);
	ATF_TP_ADD_TC(tp, counts);
	ATF_TP_ADD_TC(tp, handler_none);
	ATF_TP_ADD_TC(tp, double_across);
	return atf_no_error();
}

/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * reclaim.h: the kinds of reclaim pass, between budget.c (which runs
 * them), reclaim.c (the decay thread) and the layers that give memory
 * back (pool.c, vmem_bt.c).
 *
 * An urgent pass (memory pressure, nbmem_reclaim()) gives back all it
 * can above the low-water marks.  A decay pass gives back only what has
 * been idle for at least its age: empty pages that long empty, cached
 * objects of caches that long unused.  Hooks registered with
 * nbmem_reclaim_hook_add() run on urgent passes only; the library's own
 * hooks, registered with nbmem_reclaim_hook_add_decay(), run on both
 * and ask nbmem_reclaim_age() which one is running.
 */
#ifndef NBMEM_RECLAIM_H
#define	NBMEM_RECLAIM_H

#include <stdbool.h>
#include <stdint.h>

/* 0 in an urgent pass; in a decay pass, the age in nanoseconds. */
uint64_t nbmem_reclaim_age(void);

/* A hook that runs on decay passes as well as urgent ones. */
int	nbmem_reclaim_hook_add_decay(void (*)(void *), void *);

/*
 * Run a decay pass: memory idle for `age' nanoseconds or more goes back.
 * Returns false, running nothing, when another pass is under way.
 */
bool	nbmem_reclaim_decay(uint64_t age);

/* Passes run so far, urgent and decay (statistics, tests). */
uint64_t nbmem_reclaim_npass(void);

/*
 * vmem_bt.c: unmap the boundary-tag chunks that are wholly free, but
 * one.  Runs at the end of every pass, after the hooks freed segments.
 */
void	nbmem_bt_reclaim(void);
/* vmem.c: the arenas' spare tags, but a reserve, back to the supply. */
void	nbmem_vmem_bt_drain(void);

/*
 * reclaim.c: the decay thread.  Set the decay time (0: off; the first
 * value comes from NBMEM_DECAY) and start or stop the thread; read it;
 * count the passes the thread ran (tests).
 */
void	nbmem_decay_set(uint64_t);
uint64_t nbmem_decay_get(void);
uint64_t nbmem_decay_npass(void);

/*
 * The library's own threads (the decay thread, the statistics
 * publisher) in the malloc library: not started by its constructors,
 * but by nbmem_svc_poke() on a slow path of malloc or free once the
 * program has a thread of its own or has taken such slow paths a few
 * thousand times (reclaim.c, SVC_POKES_MIN), so that
 * a process under it stays single-threaded at first, as under the C
 * library's malloc: unshare(CLONE_NEWUSER) and setns() into a user
 * namespace, which only a single-threaded process may call, work in
 * it, as in a fork child.  libnbmem starts them at once (which library
 * this is: NBMEM_MALLOC_LIBRARY(), internal.h).
 */
extern bool nbmem_svc_pending;
extern unsigned int nbmem_svc_pokes;
void	nbmem_svc_defer(void);
void	nbmem_svc_start(void);
/*
 * Called by slow paths that are not every call's (calloc, aligned and
 * large requests, large frees; not the classes' own): while the threads
 * wait, one poke in 64 looks at the thread count and the pokes, so
 * that a program pays a load and an add a call.  The count is racy
 * once the program has threads: only the rate of looks suffers.
 */
#define	NBMEM_SVC_EVERY	64u
static inline void
nbmem_svc_poke(void)
{
	if (__predict_false(__atomic_load_n(&nbmem_svc_pending,
	    __ATOMIC_RELAXED)) &&
	    ++nbmem_svc_pokes % NBMEM_SVC_EVERY == 0)
		nbmem_svc_start();
}
/* stats.c: start the deferred publisher (nbmem_svc_start). */
void	nbmem_stats_start_deferred(void);

/*
 * budget.c: the pool a page is being allocated for, set by the pool
 * allocators around their page allocation, so that a sleep that lasts
 * longer than NBMEM_SLEEP_TIMEOUT names it.
 */
extern __thread const char *nbmem_budget_client;

/* pool_cache.c: trim a cache's depot to its working set (decay). */
struct pool_cache;
size_t	nbmem_pool_cache_decay(struct pool_cache *);

/* pool.c: a test replaced the pool clock (the thread skips its passes). */
bool	nbmem_pool_clock_faked(void);

#endif /* NBMEM_RECLAIM_H */

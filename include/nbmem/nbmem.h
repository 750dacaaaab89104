/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * nbmem/nbmem.h: what nbmem adds to NetBSD's interfaces: the memory
 * budget, reclaim, diagnostics.  See nbmem(3).  MT-Safe.
 */
#ifndef NBMEM_NBMEM_H
#define NBMEM_NBMEM_H

#include <stddef.h>

#include <nbmem/intr.h>

#ifdef __cplusplus
extern "C" {
#endif

#define	NBMEM_VERSION_MAJOR	0
#define	NBMEM_VERSION_MINOR	1
#define	NBMEM_VERSION_PATCH	0

/* The library's version as "MAJOR.MINOR.PATCH". */
const char *nbmem_version(void);

/*
 * The memory budget ("physical memory"): bytes of pages the page layer
 * may hold.  0 means unlimited.  The initial value comes from
 * NBMEM_PHYSMEM=SIZE (a number with an optional K, M, G or T suffix),
 * else from the cgroup's memory.max when one applies, else unlimited.
 * Lowering the budget below what is in use fails nothing already
 * allocated; later requests wait or fail until use drops below it.
 */
void	nbmem_physmem_set(size_t);
size_t	nbmem_physmem_get(void);
/* Bytes of pages the page layer holds now (wired and pageable). */
size_t	nbmem_physmem_inuse(void);
/* Threads currently blocked waiting for memory. */
unsigned int nbmem_physmem_waiters(void);

/*
 * Reclaim (the pagedaemon): run every registered reclaim hook, the way
 * the page layer does when a sleeping request finds the budget full.
 * Returns the number of bytes of pages released while it ran.
 */
size_t	nbmem_reclaim(void);

/*
 * Register a reclaim hook: fn(arg) is called, without any nbmem lock
 * held, on every reclaim pass.  Returns a handle (> 0) for
 * nbmem_reclaim_hook_remove(), or 0 when the table (64 hooks) is full.
 */
int	nbmem_reclaim_hook_add(void (*)(void *), void *);
void	nbmem_reclaim_hook_remove(int);

/*
 * Statistics of every pool and pool cache: the kern.pool records of
 * NetBSD (struct pool_sysctl, defined in <nbmem/pool.h>), with the
 * columns of vmstat -m and vmstat -C; per-CPU and per-thread counters
 * are merged on read.  Fills up to n records, returns how many pools
 * there are.  See pool(3).
 */
struct pool_sysctl;
size_t	nbmem_pool_sysctl(struct pool_sysctl *, size_t);

/*
 * Print the process's statistics tables, as nbmemstat(1) prints them
 * from outside, on descriptor fd: `views' is a string of the letters
 * m (pools, vmstat -m), C (pool caches, vmstat -C), v (vmem arenas),
 * k (kmem and the memory budget); NULL means "mCvk".  Writes with
 * write(2) from a buffer on the stack and allocates nothing from the
 * allocators it reports on.  Returns 0, or -1 with errno set (EINVAL,
 * ENOMEM, EIO).  See nbmem(3).
 */
int	nbmem_stats_print(int, const char *);

/*
 * Diagnostics.  Every misuse nbmem detects is reported as one line
 * "nbmem: <subsystem>: <object>: <rule broken>" on standard error,
 * followed by a backtrace, and the process aborts.  A program (a test,
 * typically) may install a handler that receives the line first; if the
 * handler returns, the process still aborts.  The handler must not call
 * into nbmem.  Returns the previous handler.
 */
typedef void (nbmem_panic_handler_t)(const char *);
nbmem_panic_handler_t *nbmem_panic_handler_set(nbmem_panic_handler_t *);

/*
 * Leaks.  With a mode of NBMEM_DEBUG on (nbmem(3), DEBUGGING), every
 * object handed out by pool(3), pool_cache(3) and kmem(3) is recorded
 * until it comes back.  nbmem_leaks_report() writes one line per live
 * object (its allocator, address and size, and with audit or leaks the
 * stack that allocated it) to the descriptor fd, then a total line, and
 * returns how many objects are live; fd -1 only counts.  Returns 0 when
 * no mode is on.  Never allocates.
 */
size_t	nbmem_leaks_report(int fd);

#ifdef __cplusplus
}
#endif

#endif /* NBMEM_NBMEM_H */

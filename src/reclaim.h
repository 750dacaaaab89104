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

/* reclaim.c: start the decay thread if NBMEM_DECAY asks for it. */
void	nbmem_decay_init(void);

#endif /* NBMEM_RECLAIM_H */

/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * fork.c: keeping the allocators usable across fork(2).
 *
 * A child process starts with one thread: any lock another thread of the
 * parent held at the moment of the fork would stay held forever.  So
 * before fork every module takes all of its locks, in the global lock
 * order, and after fork both parent and child release them (the child
 * also resets what belonged to threads that do not exist there).
 *
 * Modules register one hook each with an order number; the prepare phase
 * runs the hooks in ascending order, the parent and child phases in
 * descending order.  The order numbers below are the library's lock
 * order, outermost first: a lock may be taken while holding one of a
 * lower number, never the reverse.
 */
#include <pthread.h>

#include "internal.h"

#define	FORK_NHOOKS	16

struct fork_hook {
	int	fh_order;
	void	(*fh_fn)(int);
};

static struct fork_hook fork_hooks[FORK_NHOOKS];
static unsigned int fork_nhooks;

static void
fork_prepare(void)
{
	for (unsigned int i = 0; i < fork_nhooks; i++)
		(*fork_hooks[i].fh_fn)(NBMEM_FORK_PREPARE);
}

static void
fork_parent(void)
{
	for (unsigned int i = fork_nhooks; i-- > 0;)
		(*fork_hooks[i].fh_fn)(NBMEM_FORK_PARENT);
}

static void
fork_child(void)
{
	nbmem_sig_fork_child();
	for (unsigned int i = fork_nhooks; i-- > 0;)
		(*fork_hooks[i].fh_fn)(NBMEM_FORK_CHILD);
}

/*
 * Called from library constructors, before any thread of the program can
 * fork; the table is sorted on insertion.
 */
void
nbmem_fork_hook_add(int order, void (*fn)(int))
{
	static bool registered;

	VERIFY(fork_nhooks < FORK_NHOOKS, "fork: more than %d fork hooks",
	    FORK_NHOOKS);
	unsigned int i = fork_nhooks++;
	while (i > 0 && fork_hooks[i - 1].fh_order > order) {
		fork_hooks[i] = fork_hooks[i - 1];
		i--;
	}
	fork_hooks[i].fh_order = order;
	fork_hooks[i].fh_fn = fn;
	if (!registered) {
		registered = true;
		(void)pthread_atfork(fork_prepare, fork_parent, fork_child);
	}
}

/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * vmem_bt.c: the global supply of boundary tags.
 *
 * Arenas keep a small cache of spare tags (vmem.c) and refill it here in
 * batches, so this lock is taken once per batch, not per operation.  Tags
 * come from 64 KiB chunks mapped straight from the OS: vmem sits below
 * every other allocator and may not call any of them, nor malloc(3).  The
 * lock is held with signals blocked, because arenas above IPL_NONE take
 * it from signal handlers.  Chunks are kept for reuse, not unmapped: a
 * tag is 56 bytes and the population follows the peak segment count.
 * (NetBSD seeds its supply with static tags and then draws from a pool on
 * the metadata arena; here the OS plays the metadata arena.)
 */
#include <pthread.h>

#include "internal.h"
#include "os/os.h"
#include "vmem_impl.h"

#define	BT_CHUNK	(64 * 1024)	/* bytes per refill from the OS */

static kmutex_t bt_lock = MUTEX_INITIALIZER(IPL_HIGH);
static bt_t *bt_freelist;
static size_t bt_nfree;
static size_t bt_total;

static bool
bt_grow_locked(void)
{
	bt_t *chunk = nbmem_os_map(BT_CHUNK, 0, NBMEM_OS_PROT_RW, false);
	size_t n = BT_CHUNK / sizeof(bt_t);

	if (chunk == NULL)
		return false;
	for (size_t i = 0; i < n; i++) {
		chunk[i].bt_fnext = bt_freelist;
		bt_freelist = &chunk[i];
	}
	bt_nfree += n;
	bt_total += n;
	return true;
}

bt_t *
nbmem_bt_get(unsigned int n, unsigned int *got)
{
	bt_t *head = NULL;
	unsigned int i;

	mutex_enter(&bt_lock);
	if (bt_nfree < n)
		(void)bt_grow_locked();
	for (i = 0; i < n && bt_freelist != NULL; i++) {
		bt_t *bt = bt_freelist;
		bt_freelist = bt->bt_fnext;
		bt->bt_fnext = head;
		head = bt;
	}
	bt_nfree -= i;
	mutex_exit(&bt_lock);
	*got = i;
	return head;
}

void
nbmem_bt_put(bt_t *chain, unsigned int n)
{
	bt_t *tail = chain;

	if (n == 0)
		return;
	for (unsigned int i = 1; i < n; i++)
		tail = tail->bt_fnext;
	mutex_enter(&bt_lock);
	tail->bt_fnext = bt_freelist;
	bt_freelist = chain;
	bt_nfree += n;
	mutex_exit(&bt_lock);
}

static void
bt_fork(int phase)
{
	if (phase == NBMEM_FORK_PREPARE)
		mutex_enter(&bt_lock);
	else
		mutex_exit(&bt_lock);
}

__attribute__((__constructor__(105)))
static void
bt_fork_init(void)
{
	nbmem_fork_hook_add(NBMEM_FORK_ORDER_BT, bt_fork);
}

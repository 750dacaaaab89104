/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * vmem_bt.c: the global supply of boundary tags.
 *
 * Arenas keep a small cache of spare tags (vmem.c) and refill it here in
 * batches, so this lock is taken once per batch, not per operation.  Tags
 * come from 64 KiB chunks mapped straight from the OS: vmem sits below
 * every other allocator and may not call any of them, nor malloc(3).  The
 * lock is held with signals blocked, because arenas above IPL_NONE take
 * it from signal handlers.
 *
 * The population follows the peak segment count, and a peak passes: each
 * chunk keeps its own free list and count, tags are handed out from the
 * chunks already in use before a wholly free one is touched (so free
 * tags gather in whole chunks instead of spreading over all of them),
 * and each reclaim pass (reclaim.h) unmaps the wholly free chunks but
 * one, kept against the next refill.  Chunks are aligned to their size:
 * a tag finds its chunk by masking its address, and the chunk's header
 * sits in the bytes after its last tag.  A chunk's tags are handed out
 * in address order the first time (bc_carved), so its pages are touched
 * only as they are needed: linking all of them at once made every
 * process resident in 64 KiB of tags it did not use.  (NetBSD seeds its
 * supply with static tags and then draws from a pool on the metadata
 * arena; here the OS plays the metadata arena.)
 */
#include <pthread.h>

#include "internal.h"
#include "os/os.h"
#include "reclaim.h"
#include "vmem_impl.h"

#define	BT_CHUNK	(64 * 1024)	/* bytes per refill from the OS */

/* At the end of each chunk, after its tags. */
struct bt_chunk {
	struct bt_chunk	*bc_next;	/* on bt_partial or bt_empty */
	struct bt_chunk	**bc_prevp;	/* NULL: no free tag, on no list */
	bt_t		*bc_free;	/* free tags, through bt_fnext */
	size_t		bc_nfree;	/* on bc_free, and never handed out */
	size_t		bc_carved;	/* tags handed out at least once */
};

#define	BT_PERCHUNK	((BT_CHUNK - sizeof(struct bt_chunk)) / sizeof(bt_t))
#define	BT_KEEP		1	/* wholly free chunks a reclaim keeps */

static kmutex_t bt_lock = MUTEX_INITIALIZER(IPL_HIGH);
static struct bt_chunk *bt_partial;	/* some tags free */
static struct bt_chunk *bt_empty;	/* every tag free */
static size_t bt_nempty;
static size_t bt_nfree;
static size_t bt_total;

static inline struct bt_chunk *
bt_chunk_of(const void *p)
{
	uintptr_t base = (uintptr_t)p & ~(uintptr_t)(BT_CHUNK - 1);

	return (struct bt_chunk *)(base + BT_PERCHUNK * sizeof(bt_t));
}

static void
bc_unlink(struct bt_chunk *bc)
{
	if (bc->bc_next != NULL)
		bc->bc_next->bc_prevp = bc->bc_prevp;
	*bc->bc_prevp = bc->bc_next;
	bc->bc_prevp = NULL;
}

static void
bc_link(struct bt_chunk **head, struct bt_chunk *bc)
{
	bc->bc_next = *head;
	if (*head != NULL)
		(*head)->bc_prevp = &bc->bc_next;
	bc->bc_prevp = head;
	*head = bc;
}

static bool
bt_grow_locked(void)
{
	bt_t *chunk = nbmem_os_map(BT_CHUNK, BT_CHUNK, NBMEM_OS_PROT_RW,
	    false);
	struct bt_chunk *bc;

	if (chunk == NULL)
		return false;
	bc = bt_chunk_of(chunk);
	bc->bc_free = NULL;
	bc->bc_carved = 0;
	bc->bc_nfree = BT_PERCHUNK;
	bc_link(&bt_empty, bc);
	bt_nempty++;
	bt_nfree += BT_PERCHUNK;
	bt_total += BT_PERCHUNK;
	return true;
}

bt_t *
nbmem_bt_get(unsigned int n, unsigned int *got)
{
	bt_t *head = NULL;
	unsigned int i = 0;

	mutex_enter(&bt_lock);
	if (bt_nfree < n)
		(void)bt_grow_locked();
	while (i < n) {
		struct bt_chunk *bc = bt_partial;
		if (bc == NULL) {
			if ((bc = bt_empty) == NULL)
				break;
			bc_unlink(bc);
			bt_nempty--;
			bc_link(&bt_partial, bc);
		}
		while (i < n && bc->bc_nfree > 0) {
			bt_t *bt = bc->bc_free;
			if (bt != NULL)
				bc->bc_free = bt->bt_fnext;
			else {
				bt = (bt_t *)((uintptr_t)bc & ~(uintptr_t)
				    (BT_CHUNK - 1)) + bc->bc_carved++;
			}
			bc->bc_nfree--;
			bt->bt_fnext = head;
			head = bt;
			i++;
		}
		if (bc->bc_nfree == 0)
			bc_unlink(bc);
	}
	bt_nfree -= i;
	mutex_exit(&bt_lock);
	*got = i;
	return head;
}

void
nbmem_bt_put(bt_t *chain, unsigned int n)
{
	if (n == 0)
		return;
	mutex_enter(&bt_lock);
	for (unsigned int i = 0; i < n; i++) {
		bt_t *bt = chain;
		struct bt_chunk *bc = bt_chunk_of(bt);
		chain = bt->bt_fnext;
		bt->bt_fnext = bc->bc_free;
		bc->bc_free = bt;
		if (bc->bc_nfree++ == 0)
			bc_link(&bt_partial, bc);
		if (bc->bc_nfree == BT_PERCHUNK) {
			bc_unlink(bc);
			bc_link(&bt_empty, bc);
			bt_nempty++;
		}
	}
	bt_nfree += n;
	mutex_exit(&bt_lock);
}

/* Unmap the wholly free chunks but BT_KEEP. */
void
nbmem_bt_reclaim(void)
{
	struct bt_chunk *gone = NULL, *bc;

	nbmem_vmem_bt_drain();
	mutex_enter(&bt_lock);
	while (bt_nempty > BT_KEEP) {
		bc = bt_empty;
		bc_unlink(bc);
		bt_nempty--;
		bt_nfree -= BT_PERCHUNK;
		bt_total -= BT_PERCHUNK;
		bc->bc_next = gone;
		gone = bc;
	}
	mutex_exit(&bt_lock);
	while ((bc = gone) != NULL) {
		gone = bc->bc_next;
		nbmem_os_unmap((void *)((uintptr_t)bc &
		    ~(uintptr_t)(BT_CHUNK - 1)), BT_CHUNK);
	}
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

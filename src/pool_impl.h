/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * pool_impl.h: the private layout of a pool (the pr_private area of
 * struct pool) and of its page headers.  See the theory block of pool.c.
 * Unit tests include this file to look inside; nothing here is exported.
 */
#ifndef NBMEM_POOL_IMPL_H
#define NBMEM_POOL_IMPL_H

#include <sys/queue.h>

#include <stdint.h>

#include <nbmem/pool.h>

#include "lock.h"

/* pr_magic of an initialised pool ("POOL"); cleared by pool_destroy. */
#define	POOL_MAGIC		0x504f4f4cu
/* Second word of a free item on a free list ("dead dead"). */
#define	POOL_ITEM_MAGIC		0xdeaddeadu
/* Bitmap words are 32 bits; a set bit marks a free item. */
typedef uint32_t pool_item_bitmap_t;
#define	BITMAP_SHIFT		5
#define	BITMAP_MASK		31u
/* Largest items-per-page an off-page header's bitmap can cover. */
#define	POOL_PH_MAXITEMS	4096u
/* Header pools: bitmaps for 64, 128, ..., 4096 items. */
#define	POOL_NPHPOOL		7
/* An empty page is released by pool_reclaim after this long idle. */
#define	POOL_INACTIVE_NS	(10ull * 1000 * 1000 * 1000)

/* A free item on a free-list page (pools without PR_USEBMAP). */
struct pool_item {
	struct pool_item *pi_next;
	uint32_t	pi_magic;	/* POOL_ITEM_MAGIC while free */
};

/*
 * A page header.  On-page it sits at the start of the page; off-page it
 * is an item of a header pool and a node of the pool's page tree, a
 * treap keyed by ph_page whose priorities are a hash of the key.  The
 * tree links (off-page) and the owner's marks (on-page) share space, as
 * in NetBSD, so the header is NetBSD's 56 bytes on LP64 and a pool fits
 * as many items on a page (spec 2.3: 252 of 16 bytes in 4 KiB).
 */
struct pool_item_header {
	LIST_ENTRY(pool_item_header) ph_pagelist;	/* empty/part/full */
	union {
		struct {			/* off-page: the page tree */
			struct pool_item_header *phu_left, *phu_right;
		} ph_tree;
		struct {			/* on-page */
			uint32_t phu_poolid;	/* the owner's pr_poolid */
			uint32_t phu_tag;	/* page ^ pr_phkey, low bits */
		} ph_onpage;
	} ph_u1;
	char		*ph_page;	/* the page */
	uint32_t	ph_time;	/* when it last became empty (ms) */
	uint16_t	ph_nmissing;	/* items out */
	uint16_t	ph_off;		/* offset of the first item */
	union {
		struct pool_item *ph_freelist;		/* !PR_USEBMAP */
		/*
		 * PR_USEBMAP: as many words as the page needs, running on
		 * past the union (zero-length: no bound for the compiler or
		 * the sanitizers to hold indexes against).
		 */
		pool_item_bitmap_t ph_bitmap[0];
	};
};
#define	ph_left		ph_u1.ph_tree.phu_left
#define	ph_right	ph_u1.ph_tree.phu_right
#define	ph_poolid	ph_u1.ph_onpage.phu_poolid
#define	ph_tag		ph_u1.ph_onpage.phu_tag
_Static_assert(sizeof(struct pool_item_header) == 56 ||
    sizeof(void *) != 8, "NetBSD's page header size on LP64");
/* Items a page may hold (ph_nmissing), first item offsets (ph_off). */
#define	POOL_PH_MAXOFF		UINT16_MAX

LIST_HEAD(pool_pagelist, pool_item_header);

/* Bytes of header before the bitmap words. */
#define	PH_BITMAP_OFF	offsetof(struct pool_item_header, ph_bitmap)

/* What struct pool's pr_private holds. */
struct pool_impl {
	kmutex_t	pr_lock;	/* at the pool's IPL */
	kcondvar_t	pr_cv;		/* hard limit and grower waits */
	uint32_t	pr_magic;	/* POOL_MAGIC while initialised */
	uint32_t	pr_poolid;	/* unique, written in on-page headers */
	uint32_t	pr_phkey;	/* mixed from the id: see ph_tag */
	uint32_t	pr_phoffset;	/* on-page: aligned header size */
	uint32_t	pr_maxcolor;	/* largest colour offset */
	uint32_t	pr_curcolor;	/* colour of the next page */
	uint32_t	pr_bitmapwords;	/* PR_USEBMAP: words per page */
	uint32_t	pr_refcnt;	/* pool_drain/sysctl references */
	struct pool_pagelist pr_emptypages;
	struct pool_pagelist pr_partpages;
	struct pool_pagelist pr_fullpages;
	struct pool_item_header *pr_curpage;
	struct pool_item_header *pr_phtree;	/* off-page headers by page */
	struct pool	*pr_phpool;	/* where off-page headers come from */
	size_t		pr_pagesz;	/* copy of pr_alloc->pa_pagesz */
	uintptr_t	pr_pagemask;
	const char	*pr_hardlimit_warning;
	unsigned int	pr_hardlimit_ratecap;	/* seconds */
	uint64_t	pr_hardlimit_warned;	/* clock of the last warning */
	bool		pr_hardlimit_once;	/* a warning was printed */
	bool		pr_decay;	/* decay passes take its idle memory */
	uint32_t	pr_debug;	/* PDBG_* (debug_pool.c), fixed at init */
	uint64_t	pr_decay_nreq;	/* cache requests at the last decay */
	uint64_t	pr_decay_since;	/* clock when they last changed */
	struct pool	*pr_pool;	/* back pointer */
	/* told of every page made ready (nbmem_pool_prime_hook_set) */
	void		(*pr_prime_hook)(struct pool *, char *, size_t);
	TAILQ_ENTRY(pool_impl) pr_poollist;	/* global, by name */
};

static inline struct pool_impl *
pool_impl(struct pool *pp)
{
	return (struct pool_impl *)(void *)pp->pr_private;
}

/*
 * Test hooks (defined in pool.c).  The pool clock drives the idle rule
 * of pool_reclaim and the hard-limit warning's rate cap; a test may
 * replace it (NULL restores the monotonic clock).
 */
void	nbmem_pool_clock_set(uint64_t (*)(void));
uint64_t nbmem_pool_clock(void);
/* The header pool serving `itemsperpage' (tests). */
struct pool *nbmem_pool_phpool(unsigned int);

#endif /* NBMEM_POOL_IMPL_H */

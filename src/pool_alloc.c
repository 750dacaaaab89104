/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * pool_alloc.c: the standard pool page allocators (pool(3), spec 2.4).
 *
 * pool_allocator_kmem (the default) and pool_allocator_nointr take pages
 * from kmem_va_arena, pool_allocator_meta (the header pools' and other
 * allocator metadata's) from kmem_meta_arena, all through
 * uvm_km_kmem_alloc() with instant fit, so every page is charged to the
 * memory budget.  A PR_WAITOK request sleeps in the page layer until the
 * budget has room (and never fails); a PR_NOWAIT one fails at once.
 * Both arenas are at IPL_VM, so the PR_NOWAIT path may run under a
 * pool's lock at any level and from a signal handler.
 *
 * The standard allocators serve the system page size (pa_pagesz 0);
 * pools that need larger pages use a custom allocator of any power of
 * two, whose pages must be aligned to it unless the pool has PR_NOALIGN.
 */
#include "internal.h"
#include "pool_impl.h"
#include "reclaim.h"

#include <nbmem/uvm_km.h>

static void *
pool_page_alloc1(vmem_t *arena, struct pool *pp, int flags)
{
	vm_flag_t vflags = VM_INSTANTFIT |
	    ((flags & PR_WAITOK) != 0 ? VM_SLEEP : VM_NOSLEEP);
	vmem_addr_t va;
	const char *prev = nbmem_budget_client;
	int error;

	/* A sleep at the budget names the pool (NBMEM_SLEEP_TIMEOUT). */
	nbmem_budget_client = pp->pr_wchan;
	error = uvm_km_kmem_alloc(arena, pp->pr_alloc->pa_pagesz, vflags, &va);
	nbmem_budget_client = prev;
	return error == 0 ? (void *)va : NULL;
}

static void *
pool_page_alloc(struct pool *pp, int flags)
{
	nbmem_uvm_init();
	return pool_page_alloc1(kmem_va_arena, pp, flags);
}

static void
pool_page_free(struct pool *pp, void *v)
{
	uvm_km_kmem_free(kmem_va_arena, (vmem_addr_t)v,
	    pp->pr_alloc->pa_pagesz);
}

static void *
pool_page_alloc_meta(struct pool *pp, int flags)
{
	nbmem_uvm_init();
	return pool_page_alloc1(kmem_meta_arena, pp, flags);
}

static void
pool_page_free_meta(struct pool *pp, void *v)
{
	uvm_km_kmem_free(kmem_meta_arena, (vmem_addr_t)v,
	    pp->pr_alloc->pa_pagesz);
}

/*
 * Pages of these allocators are memory whatever the pool does with them,
 * so the debug modes may mark and fill the items of a PR_NOTOUCH pool
 * over them (kmem's classes below 64 bytes); a custom allocator's items
 * may be mere addresses (vmem's quantum caches).
 */
bool
nbmem_pool_allocator_pages_p(const struct pool_allocator *pa)
{
	return pa->pa_alloc == pool_page_alloc ||
	    pa->pa_alloc == pool_page_alloc_meta;
}

NBMEM_EXPORT struct pool_allocator pool_allocator_kmem = {
	.pa_alloc = pool_page_alloc,
	.pa_free = pool_page_free,
	.pa_pagesz = 0,
};

/* The same pages: NetBSD's nointr allocator also uses kmem_va_arena. */
NBMEM_EXPORT struct pool_allocator pool_allocator_nointr = {
	.pa_alloc = pool_page_alloc,
	.pa_free = pool_page_free,
	.pa_pagesz = 0,
};

NBMEM_EXPORT struct pool_allocator pool_allocator_meta = {
	.pa_alloc = pool_page_alloc_meta,
	.pa_free = pool_page_free_meta,
	.pa_pagesz = 0,
};

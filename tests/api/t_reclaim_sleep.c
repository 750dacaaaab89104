/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_reclaim_sleep: sleeping requests at the memory budget, for the
 * allocators that had no such test: a pool cache with a constructor
 * (PR_WAITOK blocks until memory comes back, the object it finally gets
 * is constructed; PR_NOWAIT fails at once; NBMEM_SLEEP_TIMEOUT names the
 * cache), and a vmem arena that imports its spans from the page layer
 * (VM_SLEEP blocks in the import until spans are released; VM_NOSLEEP
 * fails at once).  kmem and uvm_km have theirs in t_kmem_mt and
 * t_uvm_km.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <atf-c.h>

#include <nbmem/nbmem.h>
#include <nbmem/pool.h>
#include <nbmem/uvm_km.h>
#include <nbmem/vmem.h>

#include "nbtest.h"

#define	OBJ	4096
#define	MAXHELD	2048

static void *held[MAXHELD];

static bool
someone_waits(void *arg)
{
	(void)arg;
	return nbmem_physmem_waiters() > 0;
}

/* ---- pool_cache with a constructor */

static int
obj_ctor(void *arg, void *obj, int flags)
{
	(void)arg;
	(void)flags;
	memset(obj, 0x6b, 64);
	return 0;
}

struct getter {
	pool_cache_t	pc;
	void		*got;
	int		done;
};

static void *
getter_main(void *arg)
{
	struct getter *g = arg;

	g->got = pool_cache_get(g->pc, PR_WAITOK);
	__atomic_store_n(&g->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Take PR_NOWAIT objects until the budget (and reclaim) is exhausted. */
static size_t
cache_fill(pool_cache_t pc)
{
	size_t n = 0;

	do {
		while (n < MAXHELD &&
		    (held[n] = pool_cache_get(pc, PR_NOWAIT)) != NULL)
			n++;
	} while (n < MAXHELD && nbmem_reclaim() != 0);
	return n;
}

ATF_TC_WITHOUT_HEAD(pool_cache_waitok_blocks);
ATF_TC_BODY(pool_cache_waitok_blocks, tc)
{
	pool_cache_t pc = pool_cache_init(OBJ, 0, 0, 0, "t-sleep-cache",
	    NULL, IPL_NONE, obj_ctor, NULL, NULL);
	struct getter g = { pc, NULL, 0 };
	pthread_t t;

	ATF_REQUIRE(pc != NULL);
	pool_cache_put(pc, pool_cache_get(pc, PR_WAITOK));
	(void)nbmem_reclaim();
	nbmem_physmem_set(nbmem_physmem_inuse() + (1u << 20));
	size_t n = cache_fill(pc);
	ATF_REQUIRE_MSG(n > 0 && n < MAXHELD, "%zu objects", n);
	/* No memory and nothing to reclaim: PR_NOWAIT fails at once. */
	ATF_CHECK(pool_cache_get(pc, PR_NOWAIT) == NULL);

	ATF_REQUIRE(pthread_create(&t, NULL, getter_main, &g) == 0);
	nbt_wait_until(someone_waits, NULL, "the PR_WAITOK get to block");
	ATF_CHECK_EQ(__atomic_load_n(&g.done, __ATOMIC_ACQUIRE), 0);
	/* Back to the cache only: the sleeper's reclaim must empty it. */
	while (n > 0)
		pool_cache_put(pc, held[--n]);
	ATF_REQUIRE(pthread_join(t, NULL) == 0);
	ATF_REQUIRE(g.got != NULL);
	ATF_CHECK_EQ(((unsigned char *)g.got)[63], 0x6b);
	pool_cache_put(pc, g.got);
	nbmem_physmem_set(0);
	pool_cache_destroy(pc);
}

static void
timeout_child(void *arg)
{
	pool_cache_t pc = arg;

	nbmem_physmem_set(nbmem_physmem_inuse() + (256u << 10));
	(void)cache_fill(pc);
	(void)pool_cache_get(pc, PR_WAITOK);
}

ATF_TC_WITHOUT_HEAD(pool_cache_sleep_timeout);
ATF_TC_BODY(pool_cache_sleep_timeout, tc)
{
	pool_cache_t pc = pool_cache_init(OBJ, 0, 0, 0, "t-sleep-named",
	    NULL, IPL_NONE, obj_ctor, NULL, NULL);

	ATF_REQUIRE(pc != NULL);
	ATF_REQUIRE(setenv("NBMEM_SLEEP_TIMEOUT", "0.3", 1) == 0);
	nbt_death(timeout_child, pc, "longer than NBMEM_SLEEP_TIMEOUT");
	nbt_death(timeout_child, pc, "budget: kva for pool \"t-sleep-named\": "
	    "sleeping allocation waited for 4096 bytes longer than "
	    "NBMEM_SLEEP_TIMEOUT");
	ATF_REQUIRE(unsetenv("NBMEM_SLEEP_TIMEOUT") == 0);
	pool_cache_destroy(pc);
}

/* ---- vmem importing from the page layer */

static int
imp(void *arg, vmem_size_t size, vm_flag_t flags, vmem_addr_t *addrp)
{
	(void)arg;
	return uvm_km_kmem_alloc(kmem_va_arena, size,
	    (flags & (VM_SLEEP | VM_NOSLEEP)) | VM_INSTANTFIT, addrp);
}

static void
rel(void *arg, vmem_addr_t addr, vmem_size_t size)
{
	(void)arg;
	uvm_km_kmem_free(kmem_va_arena, addr, size);
}

#define	SEG	(64u << 10)

struct vgetter {
	vmem_t		*vm;
	vmem_addr_t	got;
	int		error;
};

static void *
vgetter_main(void *arg)
{
	struct vgetter *g = arg;

	g->error = vmem_alloc(g->vm, SEG, VM_SLEEP | VM_INSTANTFIT, &g->got);
	return NULL;
}

ATF_TC_WITHOUT_HEAD(vmem_sleep_in_import);
ATF_TC_BODY(vmem_sleep_in_import, tc)
{
	static vmem_addr_t segs[MAXHELD];
	vmem_t *vm = vmem_create("t-sleep-imp", 0, 0, 4096, imp, rel, NULL,
	    0, VM_SLEEP, IPL_NONE);
	struct vgetter g = { vm, 0, -1 };
	pthread_t t;
	size_t n = 0;

	ATF_REQUIRE(vm != NULL);
	(void)nbmem_reclaim();
	nbmem_physmem_set(nbmem_physmem_inuse() + (1u << 20));
	do {
		while (n < MAXHELD && vmem_alloc(vm, SEG,
		    VM_NOSLEEP | VM_INSTANTFIT, &segs[n]) == 0)
			n++;
	} while (n < MAXHELD && nbmem_reclaim() != 0);
	ATF_REQUIRE_MSG(n > 0 && n < MAXHELD, "%zu segments", n);
	vmem_addr_t a;
	ATF_CHECK_EQ(vmem_alloc(vm, SEG, VM_NOSLEEP | VM_INSTANTFIT, &a),
	    ENOMEM);

	ATF_REQUIRE(pthread_create(&t, NULL, vgetter_main, &g) == 0);
	nbt_wait_until(someone_waits, NULL, "the VM_SLEEP import to block");
	/* Each free releases its span to the page layer. */
	while (n > 0)
		vmem_free(vm, segs[--n], SEG);
	ATF_REQUIRE(pthread_join(t, NULL) == 0);
	ATF_REQUIRE_EQ(g.error, 0);
	memset((void *)g.got, 1, SEG);
	vmem_free(vm, g.got, SEG);
	nbmem_physmem_set(0);
	vmem_destroy(vm);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, pool_cache_waitok_blocks);
	ATF_TP_ADD_TC(tp, pool_cache_sleep_timeout);
	ATF_TP_ADD_TC(tp, vmem_sleep_in_import);
	return atf_no_error();
}

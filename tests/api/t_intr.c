/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * spl*()/splx() and the interrupt-context markers of <nbmem/intr.h>.
 */
#include <signal.h>

#include <atf-c.h>

#include <nbmem/intr.h>
#include <nbmem/kmem.h>
#include <nbmem/nbmem.h>
#include <nbmem/pool.h>
#include <nbmem/uvm_km.h>
#include <nbmem/vmem.h>

#include "nbtest.h"

static bool
blocked(int sig)
{
	sigset_t cur;

	ATF_REQUIRE(pthread_sigmask(SIG_BLOCK, NULL, &cur) == 0);
	return sigismember(&cur, sig) == 1;
}

ATF_TC_WITHOUT_HEAD(spl_blocks_and_restores);
ATF_TC_BODY(spl_blocks_and_restores, tc)
{
	ATF_REQUIRE(!blocked(SIGALRM));
	int s = splvm();
	ATF_CHECK(blocked(SIGALRM));
	ATF_CHECK(blocked(SIGUSR1));
	ATF_CHECK(!blocked(SIGSEGV));	/* faults stay deliverable */
	int t = splhigh();
	ATF_CHECK(blocked(SIGALRM));
	splx(t);
	ATF_CHECK(blocked(SIGALRM));	/* still at splvm */
	splx(s);
	ATF_CHECK(!blocked(SIGALRM));
}

ATF_TC_WITHOUT_HEAD(spl_keeps_callers_mask);
ATF_TC_BODY(spl_keeps_callers_mask, tc)
{
	sigset_t one;

	sigemptyset(&one);
	sigaddset(&one, SIGUSR2);
	ATF_REQUIRE(pthread_sigmask(SIG_BLOCK, &one, NULL) == 0);
	int s = splsched();
	splx(s);
	ATF_CHECK(blocked(SIGUSR2));	/* restored exactly, not cleared */
	ATF_CHECK(!blocked(SIGALRM));
	ATF_REQUIRE(pthread_sigmask(SIG_UNBLOCK, &one, NULL) == 0);
}

ATF_TC_WITHOUT_HEAD(spl0_unblocks);
ATF_TC_BODY(spl0_unblocks, tc)
{
	int s = splvm();
	int t = spl0();
	ATF_CHECK(!blocked(SIGALRM));
	splx(t);
	ATF_CHECK(blocked(SIGALRM));
	splx(s);
	ATF_CHECK(!blocked(SIGALRM));
}

static void
bad_splx(void *arg)
{
	(void)arg;
	splx(42);
}

ATF_TC_WITHOUT_HEAD(splx_bad_cookie);
ATF_TC_BODY(splx_bad_cookie, tc)
{
	nbt_death(bad_splx, NULL, "splx(42): not an interrupt priority level");
}

/*
 * The cookie is the previous level and splx() sets the level, as in
 * NetBSD: a cookie given back twice, or out of order, is no misuse.
 */
ATF_TC_WITHOUT_HEAD(splx_sets_the_level);
ATF_TC_BODY(splx_sets_the_level, tc)
{
	int s = splvm();
	ATF_CHECK_EQ(s, IPL_NONE);
	splx(s);
	splx(s);			/* again: already there */
	ATF_CHECK(!blocked(SIGALRM));

	int s1 = splvm();
	int s2 = splhigh();
	ATF_CHECK_EQ(s1, IPL_NONE);
	ATF_CHECK_EQ(s2, IPL_VM);
	splx(s1);			/* out of order: down to IPL_NONE */
	ATF_CHECK(!blocked(SIGALRM));
	splx(s2);			/* and up to IPL_VM again */
	ATF_CHECK(blocked(SIGALRM));
	ATF_CHECK_EQ(splsoftnet(), IPL_VM);	/* a raise never lowers */
	ATF_CHECK(blocked(SIGALRM));
	splx(IPL_NONE);
	ATF_CHECK(!blocked(SIGALRM));
}

ATF_TC_WITHOUT_HEAD(intr_markers);
ATF_TC_BODY(intr_markers, tc)
{
	ATF_CHECK(!cpu_intr_p());
	nbmem_intr_enter();
	ATF_CHECK(cpu_intr_p());
	nbmem_intr_enter();
	nbmem_intr_exit();
	ATF_CHECK(cpu_intr_p());
	nbmem_intr_exit();
	ATF_CHECK(!cpu_intr_p());
}

static void
unbalanced_exit(void *arg)
{
	(void)arg;
	nbmem_intr_exit();
}

ATF_TC_WITHOUT_HEAD(intr_exit_unbalanced);
ATF_TC_BODY(intr_exit_unbalanced, tc)
{
	nbt_death(unbalanced_exit, NULL,
	    "nbmem_intr_exit without nbmem_intr_enter");
}

/*
 * G2 (spec 7.2): an IPL_NONE object used from a handler is diagnosed,
 * whatever the call: its lock does not block signals, so the handler
 * could find it held by the code it interrupted.  The setters and
 * vmem_xfreeall take that lock as pool_get and vmem_free do.
 */
static void
none_xfreeall(void *arg)
{
	vmem_t *vm = vmem_create("intr-none", 0x1000, 0x10000, 16, NULL,
	    NULL, NULL, 0, VM_SLEEP, IPL_NONE);
	vmem_addr_t a;

	(void)arg;
	ATF_REQUIRE(vmem_alloc(vm, 16, VM_SLEEP | VM_INSTANTFIT, &a) == 0);
	nbmem_intr_enter();
	vmem_xfreeall(vm);
}

static struct pool none_pool;

static void
none_setter(void *arg)
{
	int which = *(int *)arg;

	pool_init(&none_pool, 64, 0, 0, 0, "intr-none", NULL, IPL_NONE);
	nbmem_intr_enter();
	if (which == 0)
		pool_setlowat(&none_pool, 1);
	else if (which == 1)
		pool_sethiwat(&none_pool, 1);
	else
		pool_sethardlimit(&none_pool, 1, NULL, 0);
}

ATF_TC_WITHOUT_HEAD(ipl_none_other_calls);
ATF_TC_BODY(ipl_none_other_calls, tc)
{
	static const char msg[] = "object created at IPL_NONE used from "
	    "interrupt";
	int which[3] = { 0, 1, 2 };

	nbt_death(none_xfreeall, NULL, msg);
	for (int i = 0; i < 3; i++)
		nbt_death(none_setter, &which[i], msg);

	/* At IPL_VM the same calls are no misuse. */
	pool_init(&none_pool, 64, 0, 0, 0, "intr-vm", NULL, IPL_VM);
	nbmem_intr_enter();
	pool_sethiwat(&none_pool, 4);
	pool_sethardlimit(&none_pool, 100, NULL, 0);
	nbmem_intr_exit();
	pool_destroy(&none_pool);
}

/*
 * Every level above IPL_NONE is usable from a handler (spec 7.2 G3),
 * the soft levels included: nbmem has no soft-interrupt threads.
 */
ATF_TC_WITHOUT_HEAD(soft_level_arena);
ATF_TC_BODY(soft_level_arena, tc)
{
	vmem_t *vm = vmem_create("intr-soft", 0x1000, 0x10000, 16, NULL,
	    NULL, NULL, 0, VM_SLEEP, IPL_SOFTNET);
	vmem_addr_t a;

	nbmem_intr_enter();
	ATF_CHECK_EQ(vmem_alloc(vm, 16, VM_NOSLEEP | VM_INSTANTFIT, &a), 0);
	vmem_free(vm, a, 16);
	nbmem_intr_exit();
	vmem_destroy(vm);
}

/*
 * Spec 7.1 and G4 (7.2): what a kernel never does from interrupt
 * context is diagnosed from a marked handler even on objects above
 * IPL_NONE, with the object's name and the call: every create, init
 * and destroy, pool_drain, pool_prime, and the sleeping variants of
 * vmem_add, vmem_xalloc_addr and the submap of uvm_km_suballoc.
 */
static struct pool never_pool;
static struct pool_cache never_pc;
static vmem_t *never_vm;
static pool_cache_t never_cache;
static char never_arena[4096] __attribute__((__aligned__(64)));

enum never_call {
	NV_VMEM_XCREATE, NV_VMEM_INIT, NV_VMEM_DESTROY, NV_POOL_INIT,
	NV_POOL_DESTROY, NV_CACHE_INIT, NV_CACHE_BOOTSTRAP, NV_CACHE_DESTROY,
	NV_POOL_DRAIN, NV_POOL_PRIME, NV_VMEM_ADD, NV_VMEM_XALLOC_ADDR,
	NV_SUBALLOC, NV_ASPRINTF, NV_COUNT
};

/* What the diagnostic names: the object, then the call. */
static const char *const never_diag[NV_COUNT] = {
	[NV_VMEM_XCREATE] =	"\"nv-new\": create",
	[NV_VMEM_INIT] =	"\"nv-new\": create",
	[NV_VMEM_DESTROY] =	"\"nv-arena\": vmem_destroy",
	[NV_POOL_INIT] =	"\"nv-new\": pool_init",
	[NV_POOL_DESTROY] =	"\"nv-pool\": pool_destroy",
	[NV_CACHE_INIT] =	"\"nv-new\": pool_cache_init",
	[NV_CACHE_BOOTSTRAP] =	"\"nv-new\": pool_cache_bootstrap",
	[NV_CACHE_DESTROY] =	"\"nv-cache\": pool_cache_destroy",
	[NV_POOL_DRAIN] =	"\"pool_drain\": pool_drain",
	[NV_POOL_PRIME] =	"\"nv-pool\": pool_prime",
	[NV_VMEM_ADD] =		"\"nv-arena\": vmem_add",
	[NV_VMEM_XALLOC_ADDR] =	"\"nv-arena\": vmem_xalloc_addr",
	[NV_SUBALLOC] =		"\"kernel_map\": uvm_km_suballoc",
	[NV_ASPRINTF] =		"\"kmem-00008\": kmem_alloc(3)",
};

static void
never_in_intr(void *arg)
{
	enum never_call c = *(enum never_call *)arg;
	struct pool *pp;
	vaddr_t lo, hi;

	never_vm = vmem_create("nv-arena", 0x1000, 0x10000, 16, NULL, NULL,
	    NULL, 0, VM_SLEEP, IPL_VM);
	pool_init(&never_pool, 64, 0, 0, 0, "nv-pool", NULL, IPL_VM);
	never_cache = pool_cache_init(64, 0, 0, 0, "nv-cache", NULL, IPL_VM,
	    NULL, NULL, NULL);
	kmem_init();
	nbmem_intr_enter();
	switch (c) {
	case NV_VMEM_XCREATE:
		(void)vmem_xcreate("nv-new", 0, 0, 16, NULL, NULL, NULL, 0,
		    VM_NOSLEEP, IPL_VM);
		break;
	case NV_VMEM_INIT:
		(void)vmem_init((vmem_t *)(void *)never_arena, "nv-new", 0, 0,
		    16, NULL, NULL, NULL, 0, VM_NOSLEEP, IPL_VM);
		break;
	case NV_VMEM_DESTROY:
		vmem_destroy(never_vm);
		break;
	case NV_POOL_INIT:
		pool_init(&never_pc.pc_pool, 64, 0, 0, 0, "nv-new", NULL,
		    IPL_VM);
		break;
	case NV_POOL_DESTROY:
		pool_destroy(&never_pool);
		break;
	case NV_CACHE_INIT:
		(void)pool_cache_init(64, 0, 0, 0, "nv-new", NULL, IPL_VM,
		    NULL, NULL, NULL);
		break;
	case NV_CACHE_BOOTSTRAP:
		pool_cache_bootstrap(&never_pc, 64, 0, 0, 0, "nv-new", NULL,
		    IPL_VM, NULL, NULL, NULL);
		break;
	case NV_CACHE_DESTROY:
		pool_cache_destroy(never_cache);
		break;
	case NV_POOL_DRAIN:
		(void)pool_drain(&pp);
		break;
	case NV_POOL_PRIME:
		pool_prime(&never_pool, 4);
		break;
	case NV_VMEM_ADD:
		(void)vmem_add(never_vm, 0x100000, 0x1000, VM_SLEEP);
		break;
	case NV_VMEM_XALLOC_ADDR:
		(void)vmem_xalloc_addr(never_vm, 0x2000, 16, VM_SLEEP);
		break;
	case NV_SUBALLOC:
		(void)uvm_km_suballoc(kernel_map, &lo, &hi, 1 << 20, 0,
		    false, NULL);
		break;
	case NV_ASPRINTF:
		(void)kmem_asprintf("%d", 42);
		break;
	case NV_COUNT:
		break;
	}
}

ATF_TC_WITHOUT_HEAD(never_from_intr);
ATF_TC_BODY(never_from_intr, tc)
{
	for (enum never_call c = 0; c < NV_COUNT; c++) {
		nbt_death(never_in_intr, &c, "interrupt (signal handler) "
		    "context");
		nbt_death(never_in_intr, &c, never_diag[c]);
	}
}

/*
 * G3 (spec 7.2): the no-sleep subset works from a marked handler on
 * objects above IPL_NONE, the variants included: the paddr forms,
 * pool_cache_destruct_object, vmem_xalloc_addr, vmem_add, and
 * kmem_intr_* on the large path.  (A handler that interrupts the
 * allocator itself: the signal tests of t_pool, t_pool_cache_mt,
 * t_kmem_mt and t_vmem_mt.)
 */
ATF_TC_WITHOUT_HEAD(nosleep_subset_in_intr);
ATF_TC_BODY(nosleep_subset_in_intr, tc)
{
	struct pool pp;
	pool_cache_t pc;
	vmem_t *vm;
	vmem_addr_t a;
	paddr_t pa;
	void *v;

	pool_init(&pp, 64, 0, 0, 0, "nosleep-pool", NULL, IPL_VM);
	pc = pool_cache_init(64, 0, 0, 0, "nosleep-cache", NULL, IPL_VM,
	    NULL, NULL, NULL);
	vm = vmem_create("nosleep-arena", 0x1000, 0x10000, 16, NULL, NULL,
	    NULL, 64, VM_SLEEP, IPL_VM);
	kmem_init();

	nbmem_intr_enter();
	ATF_REQUIRE((v = pool_get(&pp, PR_NOWAIT | PR_ZERO)) != NULL);
	pool_put(&pp, v);
	ATF_REQUIRE((v = pool_cache_get_paddr(pc, PR_NOWAIT, &pa)) != NULL);
	pool_cache_put_paddr(pc, v, pa);
	ATF_REQUIRE((v = pool_cache_get(pc, PR_NOWAIT)) != NULL);
	pool_cache_destruct_object(pc, v);
	ATF_CHECK_EQ(vmem_xalloc_addr(vm, 0x3000, 16, VM_NOSLEEP), 0);
	vmem_xfree(vm, 0x3000, 16);
	ATF_CHECK_EQ(vmem_alloc(vm, 32, VM_NOSLEEP | VM_INSTANTFIT, &a), 0);
	vmem_free(vm, a, 32);
	ATF_CHECK_EQ(vmem_xalloc(vm, 16, 64, 16, 0, VMEM_ADDR_MIN,
	    VMEM_ADDR_MAX, VM_NOSLEEP | VM_BESTFIT, &a), 0);
	ATF_CHECK_EQ(a & 63, 16);
	vmem_xfree(vm, a, 16);
	ATF_CHECK_EQ(vmem_add(vm, 0x100000, 0x1000, VM_NOSLEEP), 0);
	ATF_REQUIRE((v = kmem_intr_zalloc(1 << 20, KM_NOSLEEP)) != NULL);
	ATF_CHECK_EQ(((unsigned char *)v)[(1 << 20) - 1], 0);
	kmem_intr_free(v, 1 << 20);
	nbmem_intr_exit();

	ATF_CHECK_EQ(pp.pr_nout, 0);
	pool_destroy(&pp);
	pool_cache_destroy(pc);
	vmem_destroy(vm);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, spl_blocks_and_restores);
	ATF_TP_ADD_TC(tp, spl_keeps_callers_mask);
	ATF_TP_ADD_TC(tp, spl0_unblocks);
	ATF_TP_ADD_TC(tp, splx_bad_cookie);
	ATF_TP_ADD_TC(tp, splx_sets_the_level);
	ATF_TP_ADD_TC(tp, intr_markers);
	ATF_TP_ADD_TC(tp, intr_exit_unbalanced);
	ATF_TP_ADD_TC(tp, ipl_none_other_calls);
	ATF_TP_ADD_TC(tp, soft_level_arena);
	ATF_TP_ADD_TC(tp, never_from_intr);
	ATF_TP_ADD_TC(tp, nosleep_subset_in_intr);
	return atf_no_error();
}

/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * spl*()/splx() and the interrupt-context markers of <nbmem/intr.h>.
 */
#include <signal.h>

#include <atf-c.h>

#include <nbmem/intr.h>
#include <nbmem/pool.h>
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
	return atf_no_error();
}

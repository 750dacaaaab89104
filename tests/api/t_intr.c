/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * spl*()/splx() and the interrupt-context markers of <nbmem/intr.h>.
 */
#include <signal.h>

#include <atf-c.h>

#include <nbmem/intr.h>

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

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, spl_blocks_and_restores);
	ATF_TP_ADD_TC(tp, spl_keeps_callers_mask);
	ATF_TP_ADD_TC(tp, spl0_unblocks);
	ATF_TP_ADD_TC(tp, splx_bad_cookie);
	ATF_TP_ADD_TC(tp, splx_sets_the_level);
	ATF_TP_ADD_TC(tp, intr_markers);
	ATF_TP_ADD_TC(tp, intr_exit_unbalanced);
	return atf_no_error();
}

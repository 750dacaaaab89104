/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * Reclaim: pool_reclaim() keeps NetBSD's 10-second idle rule, while the
 * library's reclaim pass (nbmem_reclaim(), memory pressure) gives every
 * empty page back at once, down to the low-water marks.
 */
#include <atf-c.h>

#include <nbmem/nbmem.h>
#include <nbmem/pool.h>

#include "nbtest.h"

static struct pool pl;

static void
fill_and_empty(int n)
{
	void *items[512];

	for (int i = 0; i < n; i++)
		ATF_REQUIRE((items[i] = pool_get(&pl, PR_WAITOK)) != NULL);
	for (int i = 0; i < n; i++)
		pool_put(&pl, items[i]);
}

ATF_TC_WITHOUT_HEAD(reclaim_pass_is_urgent);
ATF_TC_BODY(reclaim_pass_is_urgent, tc)
{
	pool_init(&pl, 1024, 0, 0, 0, "t-urgent", NULL, IPL_NONE);
	fill_and_empty(256);
	unsigned int held = pl.pr_npages;
	ATF_REQUIRE(held > 1);
	ATF_CHECK_EQ(pl.pr_nidle, held);
	/* Just emptied: pool_reclaim keeps them (not idle 10 s yet). */
	ATF_CHECK_EQ(pool_reclaim(&pl), 0);
	ATF_CHECK_EQ(pl.pr_npages, held);
	/* The reclaim pass does not wait for them to age. */
	size_t before = nbmem_physmem_inuse();
	(void)nbmem_reclaim();
	ATF_CHECK_EQ(pl.pr_npages, 0);
	ATF_CHECK(nbmem_physmem_inuse() < before);
	pool_destroy(&pl);
}

ATF_TC_WITHOUT_HEAD(reclaim_pass_keeps_lowat);
ATF_TC_BODY(reclaim_pass_keeps_lowat, tc)
{
	pool_init(&pl, 1024, 0, 0, 0, "t-lowat", NULL, IPL_NONE);
	pool_setlowat(&pl, 8);
	fill_and_empty(256);
	(void)nbmem_reclaim();
	ATF_CHECK(pl.pr_nitems >= 8);
	ATF_CHECK(pl.pr_npages >= 1);
	ATF_CHECK(pl.pr_npages < 256 / pl.pr_itemsperpage);
	pool_destroy(&pl);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, reclaim_pass_is_urgent);
	ATF_TP_ADD_TC(tp, reclaim_pass_keeps_lowat);
	return atf_no_error();
}

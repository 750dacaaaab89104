/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_reclaim_stats: the totals of reclaim passes that nbmemstat shows:
 * every pass counts, and the pages a pass gives back are counted as
 * released by it.
 */
#include <atf-c.h>

#include <nbmem/nbmem.h>
#include <nbmem/pool.h>

#include "internal.h"

ATF_TC_WITHOUT_HEAD(pass_counts_released_pages);
ATF_TC_BODY(pass_counts_released_pages, tc)
{
	static struct pool p;
	uint64_t n0, b0, n1, b1;
	void *v[256];

	pool_init(&p, 512, 0, 0, 0, "t-rstats", NULL, IPL_NONE);
	for (unsigned int i = 0; i < 256; i++)
		v[i] = pool_get(&p, PR_WAITOK);
	for (unsigned int i = 0; i < 256; i++)
		pool_put(&p, v[i]);
	/* 256 items of 512 bytes: 32 pages kept empty by the pool. */
	ATF_REQUIRE(p.pr_npages >= 32);

	nbmem_reclaim_stats(&n0, &b0);
	(void)nbmem_reclaim();
	nbmem_reclaim_stats(&n1, &b1);
	ATF_CHECK_MSG(n1 >= n0 + 1, "passes %ju -> %ju", (uintmax_t)n0,
	    (uintmax_t)n1);
	ATF_CHECK_EQ(p.pr_npages, 0);
	ATF_CHECK_MSG(b1 - b0 >= 32 * 4096, "released %ju bytes",
	    (uintmax_t)(b1 - b0));
	pool_destroy(&p);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, pass_counts_released_pages);
	return atf_no_error();
}

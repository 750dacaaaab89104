/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * Invalidation and reclaim really give memory back: the pages that held
 * a cache's objects stop being resident (mincore) and the process's
 * resident set shrinks (/proc/self/statm).
 */
#include <sys/mman.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <atf-c.h>

#include <nbmem/nbmem.h>
#include <nbmem/pool.h>

#include "nbtest.h"

#define	NOBJ	512

static size_t ps;

static size_t
rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size, res;

	ATF_REQUIRE(f != NULL);
	ATF_REQUIRE(fscanf(f, "%lu %lu", &size, &res) == 2);
	fclose(f);
	return res * ps;
}

/* How many of the objects' pages are resident. */
static unsigned int
resident(void **objs, int n)
{
	unsigned int count = 0;

	for (int i = 0; i < n; i++) {
		unsigned char vec;
		void *page = (void *)((uintptr_t)objs[i] & ~(uintptr_t)(ps - 1));
		ATF_REQUIRE(mincore(page, ps, &vec) == 0);
		count += vec & 1;
	}
	return count;
}

ATF_TC_WITHOUT_HEAD(invalidate_then_reclaim_returns_pages);
ATF_TC_BODY(invalidate_then_reclaim_returns_pages, tc)
{
	static void *objs[NOBJ];

	ps = (size_t)sysconf(_SC_PAGESIZE);
	/* One object per page: each page's fate is visible. */
	pool_cache_t pc = pool_cache_init(ps, 0, 0, 0, "t-rss", NULL,
	    IPL_NONE, NULL, NULL, NULL);
	ATF_REQUIRE(pc != NULL);
	for (int i = 0; i < NOBJ; i++) {
		ATF_REQUIRE((objs[i] = pool_cache_get(pc, PR_WAITOK)) != NULL);
		memset(objs[i], 0xa5, ps);
	}
	ATF_CHECK_EQ(resident(objs, NOBJ), NOBJ);
	size_t full = rss_bytes();
	for (int i = 0; i < NOBJ; i++)
		pool_cache_put(pc, objs[i]);
	/* Cached objects are still memory the process holds. */
	ATF_CHECK(resident(objs, NOBJ) > NOBJ / 2);
	pool_cache_invalidate(pc);
	ATF_CHECK_EQ(pc->pc_pool.pr_nout, 0);
	/* Invalidation empties the cache; reclaim releases the pages. */
	(void)pool_cache_reclaim(pc);
	(void)nbmem_reclaim();
	ATF_CHECK_EQ(pc->pc_pool.pr_npages, 0);
	ATF_CHECK_EQ(resident(objs, NOBJ), 0);
	size_t after = rss_bytes();
	ATF_CHECK_MSG(full - after >= (NOBJ / 2) * ps,
	    "resident set went from %zu to %zu bytes only", full, after);
	pool_cache_destroy(pc);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, invalidate_then_reclaim_returns_pages);
	return atf_no_error();
}

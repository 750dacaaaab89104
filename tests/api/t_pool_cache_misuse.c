/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_pool_cache_misuse: every misuse pool_cache(3) diagnoses, each in a
 * child process that must abort with the expected text.
 *
 * What is detected: bad sleep flags, PR_ZERO on a cache with a
 * constructor, NULL puts, destroy with objects out, an IPL_NONE cache
 * or a sleeping call from interrupt (signal handler) context, and an
 * object put to the wrong cache once it reaches that cache's pool
 * (invalidation here; the pool's foreign-pointer check).  Not detected:
 * a double put (the object sits twice in the groups), as in NetBSD.
 */
#include <stdint.h>
#include <string.h>

#include <atf-c.h>

#include <nbmem/intr.h>
#include <nbmem/pool.h>

#include "nbtest.h"

static int
ctor(void *arg, void *obj, int flags)
{
	memset(obj, 0x11, 32);
	return 0;
}

static pool_cache_t
mk(const char *name, int ipl, bool withctor)
{
	pool_cache_t pc = pool_cache_init(32, 0, 0, 0, name, NULL, ipl,
	    withctor ? ctor : NULL, NULL, NULL);

	if (pc == NULL)
		abort();
	return pc;
}

static void
zero_with_ctor(void *arg)
{
	(void)pool_cache_get(mk("m-zeroctor", IPL_NONE, true),
	    PR_WAITOK | PR_ZERO);
}

static void
put_null(void *arg)
{
	pool_cache_put(mk("m-null", IPL_NONE, false), NULL);
}

static void
flags_none(void *arg)
{
	(void)pool_cache_get(mk("m-flags0", IPL_NONE, false), 0);
}

static void
flags_both(void *arg)
{
	(void)pool_cache_get(mk("m-flags2", IPL_NONE, false),
	    PR_WAITOK | PR_NOWAIT);
}

static void
destroy_busy(void *arg)
{
	pool_cache_t pc = mk("m-destroy", IPL_NONE, false);

	(void)pool_cache_get(pc, PR_WAITOK);
	pool_cache_destroy(pc);
}

static void
ipl_none_in_intr(void *arg)
{
	pool_cache_t pc = mk("m-iplnone", IPL_NONE, false);
	void *o = pool_cache_get(pc, PR_WAITOK);

	pool_cache_put(pc, o);
	nbmem_intr_enter();
	(void)pool_cache_get(pc, PR_NOWAIT);
}

static void
ipl_none_put_in_intr(void *arg)
{
	pool_cache_t pc = mk("m-iplnoneput", IPL_NONE, false);
	void *o = pool_cache_get(pc, PR_WAITOK);

	nbmem_intr_enter();
	pool_cache_put(pc, o);
}

static void
waitok_in_intr(void *arg)
{
	pool_cache_t pc = mk("m-waitok", IPL_VM, false);

	nbmem_intr_enter();
	(void)pool_cache_get(pc, PR_WAITOK);
}

static void
invalidate_in_intr(void *arg)
{
	pool_cache_t pc = mk("m-invintr", IPL_VM, false);

	nbmem_intr_enter();
	pool_cache_invalidate(pc);
}

static void
wrong_cache(void *arg)
{
	pool_cache_t a = mk("m-wrong-a", IPL_NONE, false);
	pool_cache_t b = pool_cache_init(64, 0, 0, 0, "m-wrong-b", NULL,
	    IPL_NONE, NULL, NULL, NULL);
	void *o = pool_cache_get(a, PR_WAITOK);

	/* Accepted into b's groups; the pool sees it at invalidation. */
	pool_cache_put(b, o);
	pool_cache_invalidate(b);
}

static void
uninitialized(void *arg)
{
	static struct pool_cache pc;

	(void)pool_cache_get(&pc, PR_NOWAIT);
}

#define	DEATH(name, fn, text)						\
ATF_TC_WITHOUT_HEAD(name);						\
ATF_TC_BODY(name, tc)							\
{									\
	nbt_death(fn, NULL, text);					\
}

DEATH(zero_with_ctor, zero_with_ctor, "PR_ZERO on a cache with a constructor")
DEATH(put_null, put_null, "\"m-null\": pool_cache_put: NULL object")
DEATH(flags_none, flags_none, "exactly one of PR_WAITOK and PR_NOWAIT")
DEATH(flags_both, flags_both, "exactly one of PR_WAITOK and PR_NOWAIT")
DEATH(destroy_busy, destroy_busy, "\"m-destroy\": destroy with 1 objects out")
DEATH(ipl_none_in_intr, ipl_none_in_intr, "IPL_NONE used from interrupt")
DEATH(ipl_none_put_in_intr, ipl_none_put_in_intr,
    "IPL_NONE used from interrupt")
DEATH(waitok_in_intr, waitok_in_intr, "sleeping call from interrupt")
DEATH(invalidate_in_intr, invalidate_in_intr, "pool_cache_invalidate")
DEATH(wrong_cache, wrong_cache, "\"m-wrong-b\": pool_put")
DEATH(uninitialized, uninitialized, "not an initialized pool cache")

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, zero_with_ctor);
	ATF_TP_ADD_TC(tp, put_null);
	ATF_TP_ADD_TC(tp, flags_none);
	ATF_TP_ADD_TC(tp, flags_both);
	ATF_TP_ADD_TC(tp, destroy_busy);
	ATF_TP_ADD_TC(tp, ipl_none_in_intr);
	ATF_TP_ADD_TC(tp, ipl_none_put_in_intr);
	ATF_TP_ADD_TC(tp, waitok_in_intr);
	ATF_TP_ADD_TC(tp, invalidate_in_intr);
	ATF_TP_ADD_TC(tp, wrong_cache);
	ATF_TP_ADD_TC(tp, uninitialized);
	return atf_no_error();
}

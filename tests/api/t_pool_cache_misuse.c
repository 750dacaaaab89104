/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_pool_cache_misuse: every misuse pool_cache(3) diagnoses, each in a
 * child process that must abort with the expected text.
 *
 * What is detected: bad sleep flags, PR_ZERO on a cache with a
 * constructor, NULL puts, destroy with objects out, an IPL_NONE cache
 * or a sleeping call from interrupt (signal handler) context, and a
 * foreign pointer or an object of another cache: at the put itself when
 * the cache's pool keeps its page headers on the page (small objects),
 * else once the object reaches the pool (invalidation here; the pool's
 * foreign-pointer check).  Not detected without NBMEM_DEBUG: a double
 * put (the object sits twice in the groups), as in NetBSD.
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
reclaim_in_intr(void *arg)
{
	pool_cache_t pc = mk("m-reclintr", IPL_VM, false);

	nbmem_intr_enter();
	(void)pool_cache_reclaim(pc);
}

static void
prime_in_intr(void *arg)
{
	pool_cache_t pc = mk("m-primeintr", IPL_VM, false);

	nbmem_intr_enter();
	pool_cache_prime(pc, 10);
}

/* Small objects: page headers on the page, checked on every put. */
static void
wrong_cache(void *arg)
{
	pool_cache_t a = mk("m-wrong-a", IPL_NONE, false);
	pool_cache_t b = pool_cache_init(64, 0, 0, 0, "m-wrong-b", NULL,
	    IPL_NONE, NULL, NULL, NULL);
	void *o = pool_cache_get(a, PR_WAITOK);
	void *p = pool_cache_get(b, PR_WAITOK);

	/* b's own object goes back warm: the check is on the fast path. */
	pool_cache_put(b, p);
	p = pool_cache_get(b, PR_WAITOK);
	pool_cache_put(b, p);
	pool_cache_put(b, o);
}

static void
foreign_pointer(void *arg)
{
	pool_cache_t pc = mk("m-foreign", IPL_NONE, false);
	static char buf[8192] __attribute__((__aligned__(4096)));

	pool_cache_put(pc, pool_cache_get(pc, PR_WAITOK));
	pool_cache_put(pc, buf + 4096 + 64);
}

static void
inside_header(void *arg)
{
	pool_cache_t pc = mk("m-header", IPL_NONE, false);
	char *o = pool_cache_get(pc, PR_WAITOK);
	uintptr_t page = (uintptr_t)o & ~(uintptr_t)4095;

	/* The first bytes of the item's page hold the page header. */
	pool_cache_put(pc, (void *)(page + 8));
}

/* Large objects: headers off the page; the pool sees it later. */
static void
wrong_cache_offpage(void *arg)
{
	pool_cache_t a = pool_cache_init(1024, 0, 0, 0, "m-wrongoff-a", NULL,
	    IPL_NONE, NULL, NULL, NULL);
	pool_cache_t b = pool_cache_init(1024, 0, 0, 0, "m-wrongoff-b", NULL,
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
DEATH(ipl_none_in_intr, ipl_none_in_intr, "IPL_NONE used from interrupt")
DEATH(ipl_none_put_in_intr, ipl_none_put_in_intr,
    "IPL_NONE used from interrupt")
DEATH(waitok_in_intr, waitok_in_intr, "sleeping call from interrupt")
DEATH(invalidate_in_intr, invalidate_in_intr, "pool_cache_invalidate")
/* The call made is named, not the pool function behind it. */
DEATH(reclaim_in_intr, reclaim_in_intr, "pool_cache: \"m-reclintr\": "
    "pool_cache_reclaim: sleeping call from interrupt")
DEATH(prime_in_intr, prime_in_intr, "pool_cache: \"m-primeintr\": "
    "pool_cache_prime: sleeping call from interrupt")
/* The message names the cache, then the pointer, then the rule. */
static void
death2(void (*fn)(void *), const char *name, const char *rule)
{
	nbt_death(fn, NULL, name);
	nbt_death(fn, NULL, rule);
}

#define	DEATH2(name, fn, text1, text2)					\
ATF_TC_WITHOUT_HEAD(name);						\
ATF_TC_BODY(name, tc)							\
{									\
	death2(fn, text1, text2);					\
}

DEATH2(destroy_busy, destroy_busy, "\"m-destroy\": destroy with 1 objects (",
    "bytes) out, the first at 0x")
DEATH2(wrong_cache, wrong_cache, "\"m-wrong-b\": pool_cache_put: 0x",
    ": foreign pointer (its page belongs to another pool: wrong cache); "
    "this cache's objects are 64 bytes")
DEATH2(foreign_pointer, foreign_pointer, "\"m-foreign\": pool_cache_put: 0x",
    ": foreign pointer (not on a page of any pool); this cache's objects "
    "are 32 bytes")
DEATH2(inside_header, inside_header, "\"m-header\": pool_cache_put: 0x",
    ": foreign pointer (inside the page header, not an item); this "
    "cache's objects are 32 bytes")
DEATH(wrong_cache_offpage, wrong_cache_offpage, "\"m-wrongoff-b\": pool_put")
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
	ATF_TP_ADD_TC(tp, reclaim_in_intr);
	ATF_TP_ADD_TC(tp, prime_in_intr);
	ATF_TP_ADD_TC(tp, wrong_cache);
	ATF_TP_ADD_TC(tp, foreign_pointer);
	ATF_TP_ADD_TC(tp, inside_header);
	ATF_TP_ADD_TC(tp, wrong_cache_offpage);
	ATF_TP_ADD_TC(tp, uninitialized);
	return atf_no_error();
}

/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * What the allocators tell the memory checkers (nbvalgrind.h): a
 * planted use after free of a pool_cache object and of a kmem object.
 *
 * - AddressSanitizer (builds with -fsanitize=address only; the case
 *   skips elsewhere): a child reads a freed cache object and writes a
 *   freed kmem object; ASan must report the access itself.
 * - Valgrind's memcheck: c_memcheck is the program tests/tool/
 *   t_memcheck.sh runs under valgrind; it plants both bugs and a leak
 *   and exits normally (memcheck reports and goes on).
 */
#include <string.h>

#include <nbmem/kmem.h>
#include <nbmem/nbmem.h>
#include <nbmem/pool.h>

#include "nbdebug.h"

#define	OBJSIZE	40

static pool_cache_t
mkcache(const char *name)
{
	pool_cache_t pc = pool_cache_init(OBJSIZE, 0, 0, 0, name, NULL,
	    IPL_NONE, NULL, NULL, NULL);

	ATF_REQUIRE(pc != NULL);
	return pc;
}

/* A read the compiler cannot drop. */
static unsigned char __attribute__((__noinline__))
peek(const void *p)
{
	return *(const volatile unsigned char *)p;
}

static void __attribute__((__noinline__))
poke(void *p, unsigned char v)
{
	*(volatile unsigned char *)p = v;
}

static void
uaf_cache(void *arg)
{
	pool_cache_t pc = mkcache("uaf-cache");
	char *p = pool_cache_get(pc, PR_WAITOK);

	(void)arg;
	memset(p, 1, OBJSIZE);
	pool_cache_put(pc, p);
	(void)peek(p + 8);		/* the bug: a read after free */
}

static void
uaf_kmem(void *arg)
{
	char *p = kmem_alloc(64, KM_SLEEP);

	(void)arg;
	memset(p, 1, 64);
	kmem_free(p, 64);
	poke(p + 16, 2);		/* the bug: a write after free */
}

/* Leave one object of `pc' out with no pointer to it anywhere. */
static void __attribute__((__noinline__))
leak_one(pool_cache_t pc)
{
	void *volatile p = pool_cache_get(pc, PR_WAITOK);

	memset(p, 3, OBJSIZE);
	p = NULL;
}

/* ---- memcheck: the child tests/tool/t_memcheck.sh runs */

ATF_TC_WITHOUT_HEAD(c_memcheck);
ATF_TC_BODY(c_memcheck, tc)
{
	NBT_DEBUG_CHILD();
	uaf_cache(NULL);
	uaf_kmem(NULL);
	leak_one(mkcache("leaky-cache"));
}

/* ---- AddressSanitizer */

static void
asan_expect(void (*fn)(void *), const char *what)
{
	static char err[65536];
	int st = nbt_debug_fork(fn, NULL, err, sizeof(err));

	ATF_CHECK_MSG(!WIFEXITED(st) || WEXITSTATUS(st) != 0,
	    "%s: the child survived its bug (status %#x): %s", what, st, err);
	ATF_CHECK_MSG(strstr(err, "AddressSanitizer: use-after-poison") !=
	    NULL || strstr(err, "AddressSanitizer: heap-use-after-free") !=
	    NULL, "%s: no ASan report: %s", what, err);
}

ATF_TC_WITHOUT_HEAD(asan_uaf);
ATF_TC_BODY(asan_uaf, tc)
{
	if (!NBT_ASAN)
		atf_tc_skip("not an AddressSanitizer build");
	asan_expect(uaf_cache, "pool_cache");
	asan_expect(uaf_kmem, "kmem");
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, c_memcheck);
	ATF_TP_ADD_TC(tp, asan_uaf);
	return atf_no_error();
}

/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * What the allocators tell the memory checkers (nbvalgrind.h): a
 * planted use after free of a pool_cache object and of kmem objects
 * (64 bytes, a class below 64 bytes, the large path).
 *
 * - AddressSanitizer (builds with -fsanitize=address only; the case
 *   skips elsewhere): a child reads a freed cache object, or uses a
 *   freed kmem object; ASan must report the access itself.
 * - Valgrind's memcheck: c_memcheck is the program tests/tool/
 *   t_memcheck.sh runs under valgrind; it plants these bugs and two
 *   leaks and exits normally (memcheck reports and goes on).
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

/*
 * A kmem object of ku_size bytes, freed, then the bug: a write (or a
 * read) at ku_off.  64 bytes; 12, a class below 64 bytes, whose pages
 * keep no free list in the objects; 100000, the large path (whole pages
 * of kmem_va_arena).
 */
struct kmem_uaf {
	size_t	ku_size;
	size_t	ku_off;
	bool	ku_write;
};

static const struct kmem_uaf kmem_uaf64 = { 64, 16, true };
static const struct kmem_uaf kmem_uaf12 = { 12, 4, true };
static const struct kmem_uaf kmem_uaf_large = { 100000, 40000, false };

static void
uaf_kmem(void *arg)
{
	const struct kmem_uaf *ku = arg;
	char *p = kmem_alloc(ku->ku_size, KM_SLEEP);

	memset(p, 1, ku->ku_size);
	kmem_free(p, ku->ku_size);
	if (ku->ku_write)
		poke(p + ku->ku_off, 2);
	else
		(void)peek(p + ku->ku_off);
}

/* Leave one object of `pc' out with no pointer to it anywhere. */
static void __attribute__((__noinline__))
leak_one(pool_cache_t pc)
{
	void *volatile p = pool_cache_get(pc, PR_WAITOK);

	memset(p, 3, OBJSIZE);
	p = NULL;
}

/*
 * The same for a 12-byte kmem object, not the first of its page: the
 * page header of these classes, off the page, points at that one.
 */
static void __attribute__((__noinline__))
leak_small(void)
{
	void *first = kmem_alloc(12, KM_SLEEP);
	void *volatile p = kmem_alloc(12, KM_SLEEP);

	memset(p, 3, 12);
	p = NULL;
	kmem_free(first, 12);
}

/* ---- memcheck: the child tests/tool/t_memcheck.sh runs */

ATF_TC_WITHOUT_HEAD(c_memcheck);
ATF_TC_BODY(c_memcheck, tc)
{
	NBT_DEBUG_CHILD();
	uaf_cache(NULL);
	uaf_kmem((void *)&kmem_uaf64);
	uaf_kmem((void *)&kmem_uaf12);
	uaf_kmem((void *)&kmem_uaf_large);
	leak_small();
	leak_one(mkcache("leaky-cache"));
}

/* ---- AddressSanitizer */

static void
asan_expect(void (*fn)(void *), const void *arg, const char *what)
{
	static char err[65536];
	int st = nbt_debug_fork(fn, (void *)arg, err, sizeof(err));

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
	asan_expect(uaf_cache, NULL, "pool_cache");
	asan_expect(uaf_kmem, &kmem_uaf64, "kmem, 64 bytes");
	asan_expect(uaf_kmem, &kmem_uaf12, "kmem, 12 bytes");
	asan_expect(uaf_kmem, &kmem_uaf_large, "kmem, 100000 bytes");
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, c_memcheck);
	ATF_TP_ADD_TC(tp, asan_uaf);
	return atf_no_error();
}

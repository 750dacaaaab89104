/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_kmem: kmem(3) through the public interface: every function and flag,
 * the size classes and their alignment, zero-fill, the string and
 * temporary-buffer helpers, the interchangeability of the _intr_
 * variants, KM_NOSLEEP failing at once under the memory budget.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <atf-c.h>

#include <nbmem/intr.h>
#include <nbmem/kmem.h>
#include <nbmem/nbmem.h>
#include <nbmem/pool.h>

#include "nbpool.h"
#include "nbtest.h"

/* NetBSD's classes on 64-byte lines, then nbmem's up to 64 KiB. */
static const size_t classes[] = {
	8, 16, 32, 64, 128, 192, 256, 320, 384, 448, 512, 768, 1024,
	2048, 4096, 8192, 12288, 16384, 24576, 32768, 49152, 65536,
};
#define	NCLASSES	(sizeof(classes) / sizeof(classes[0]))

/* The alignment kmem promises for a request of n bytes. */
static size_t
promised_align(size_t n)
{
	size_t i;

	for (i = 0; i < NCLASSES; i++) {
		if (n <= classes[i]) {
			if (classes[i] < 64)
				return 8;
			return classes[i] % 4096 == 0 ? 4096 : 64;
		}
	}
	return 4096;		/* the large path: whole pages */
}

static void
fill(unsigned char *p, size_t n, unsigned char seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(seed + i * 7);
}

static bool
check(const unsigned char *p, size_t n, unsigned char seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)(seed + i * 7))
			return false;
	return true;
}

/* Every get and put of a cache counts in one of these. */
static uint64_t
cache_ops(const struct pool_sysctl *r)
{
	return r->pr_cache_nhit_pcpu + r->pr_cache_nmiss_pcpu +
	    r->pr_cache_nhit_global + r->pr_cache_nmiss_global;
}

ATF_TC_WITHOUT_HEAD(classes_named);
ATF_TC_BODY(classes_named, tc)
{
	struct pool_sysctl r;
	char name[32];

	kmem_init();
	kmem_init();		/* idempotent */
	for (size_t i = 0; i < NCLASSES; i++) {
		snprintf(name, sizeof(name), "kmem-%05zu", classes[i]);
		ATF_REQUIRE_MSG(nbt_pool_record(name, &r), "no pool %s", name);
		ATF_CHECK_EQ_MSG(r.pr_size, classes[i], "%s: size %ju", name,
		    (uintmax_t)r.pr_size);
	}
	/* The sizes NetBSD skips are not classes. */
	ATF_CHECK(!nbt_pool_record("kmem-00024", &r));
	ATF_CHECK(!nbt_pool_record("kmem-00080", &r));
	ATF_CHECK(!nbt_pool_record("kmem-00160", &r));
}

/* A request lands in the smallest class that holds it. */
ATF_TC_WITHOUT_HEAD(class_choice);
ATF_TC_BODY(class_choice, tc)
{
	static const struct { size_t n, cls; } t[] = {
		{ 1, 8 }, { 8, 8 }, { 9, 16 }, { 17, 32 }, { 24, 32 },
		{ 33, 64 }, { 72, 128 }, { 129, 192 }, { 200, 256 },
		{ 513, 768 }, { 1000, 1024 }, { 1025, 2048 }, { 2049, 4096 },
		{ 4097, 8192 }, { 9000, 12288 }, { 12289, 16384 },
		{ 20000, 24576 }, { 32768, 32768 }, { 40000, 49152 },
		{ 65536, 65536 },
	};
	struct pool_sysctl before, after;
	char name[32];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(name, sizeof(name), "kmem-%05zu", t[i].cls);
		kmem_init();
		ATF_REQUIRE(nbt_pool_record(name, &before));
		void *p = kmem_alloc(t[i].n, KM_SLEEP);
		ATF_REQUIRE(nbt_pool_record(name, &after));
		ATF_CHECK_MSG(cache_ops(&after) > cache_ops(&before),
		    "%zu bytes did not come from %s", t[i].n, name);
		kmem_free(p, t[i].n);
	}
}

ATF_TC_WITHOUT_HEAD(alignment);
ATF_TC_BODY(alignment, tc)
{
	static const size_t sizes[] = {
		1, 7, 8, 9, 16, 24, 31, 32, 33, 63, 64, 65, 100, 128, 190,
		192, 256, 300, 320, 384, 448, 500, 512, 700, 768, 1024, 1025,
		2000, 2048, 3000, 4096, 4097, 8192, 10000, 16384, 30000,
		65536, 65537, 100000, 1 << 20,
	};
	void *keep[8];

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i], a = promised_align(n);
		for (size_t k = 0; k < 8; k++) {
			keep[k] = kmem_alloc(n, KM_SLEEP);
			ATF_REQUIRE(keep[k] != NULL);
			ATF_CHECK_MSG(((uintptr_t)keep[k] & (a - 1)) == 0,
			    "%zu bytes at %p: not %zu-aligned", n, keep[k], a);
			fill(keep[k], n, (unsigned char)k);
		}
		for (size_t k = 0; k < 8; k++) {
			ATF_CHECK(check(keep[k], n, (unsigned char)k));
			kmem_free(keep[k], n);
		}
	}
}

ATF_TC_WITHOUT_HEAD(zalloc);
ATF_TC_BODY(zalloc, tc)
{
	static const size_t sizes[] = { 1, 8, 40, 64, 1000, 4096, 9000, 70000 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		/* Dirty objects go back to the cache, then come out zeroed. */
		for (int r = 0; r < 4; r++) {
			unsigned char *p = kmem_alloc(n, KM_SLEEP);
			memset(p, 0xa5, n);
			kmem_free(p, n);
		}
		for (int r = 0; r < 4; r++) {
			unsigned char *p = r & 1 ? kmem_intr_zalloc(n, KM_NOSLEEP) :
			    kmem_zalloc(n, KM_SLEEP);
			ATF_REQUIRE(p != NULL);
			for (size_t j = 0; j < n; j++)
				ATF_REQUIRE_MSG(p[j] == 0, "%zu bytes: byte %zu is "
				    "%#x", n, j, p[j]);
			memset(p, 0xa5, n);
			kmem_free(p, n);
		}
	}
}

/* Memory of the _intr_ and plain variants is the same. */
ATF_TC_WITHOUT_HEAD(intr_interchangeable);
ATF_TC_BODY(intr_interchangeable, tc)
{
	static const size_t sizes[] = { 8, 100, 1024, 4000, 20000, 200000 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		void *a = kmem_intr_alloc(n, KM_SLEEP);
		void *b = kmem_alloc(n, KM_NOSLEEP);
		ATF_REQUIRE(a != NULL && b != NULL);
		fill(a, n, 1);
		fill(b, n, 2);
		kmem_free(a, n);
		kmem_intr_free(b, n);
		a = kmem_intr_alloc(n, KM_NOSLEEP);
		ATF_REQUIRE(a != NULL);
		kmem_intr_free(a, n);
	}
}

ATF_TC_WITHOUT_HEAD(roundup);
ATF_TC_BODY(roundup, tc)
{
	ATF_CHECK_EQ(kmem_roundup_size(0), 0);
	ATF_CHECK_EQ(kmem_roundup_size(1), 8);
	ATF_CHECK_EQ(kmem_roundup_size(8), 8);
	ATF_CHECK_EQ(kmem_roundup_size(9), 16);
	ATF_CHECK_EQ(kmem_roundup_size(1001), 1008);
	ATF_CHECK_EQ(kmem_roundup_size(65536), 65536);
}

ATF_TC_WITHOUT_HEAD(strings);
ATF_TC_BODY(strings, tc)
{
	size_t len = 0;
	char *s;

	s = kmem_strdup("vnode", KM_SLEEP);
	ATF_CHECK_STREQ(s, "vnode");
	kmem_strfree(s);

	s = kmem_strdupsize("ffs", &len, KM_NOSLEEP);
	ATF_REQUIRE(s != NULL);
	ATF_CHECK_STREQ(s, "ffs");
	ATF_CHECK_EQ(len, 4);
	kmem_free(s, len);

	s = kmem_strdupsize("", &len, KM_SLEEP);
	ATF_CHECK_STREQ(s, "");
	ATF_CHECK_EQ(len, 1);
	kmem_strfree(s);

	/* A long string takes the large path. */
	char *big = malloc(100001);
	ATF_REQUIRE(big != NULL);
	memset(big, 'x', 100000);
	big[100000] = '\0';
	s = kmem_strdupsize(big, &len, KM_SLEEP);
	ATF_CHECK_EQ(len, 100001);
	ATF_CHECK(strcmp(s, big) == 0);
	kmem_strfree(s);
	free(big);

	s = kmem_strndup("abcdef", 3, KM_SLEEP);
	ATF_CHECK_STREQ(s, "abc");
	kmem_free(s, 4);
	s = kmem_strndup("ab", 10, KM_SLEEP);
	ATF_CHECK_STREQ(s, "ab");
	kmem_strfree(s);

	kmem_strfree(NULL);	/* accepted, nothing happens */
}

ATF_TC_WITHOUT_HEAD(asprintf_exact);
ATF_TC_BODY(asprintf_exact, tc)
{
	char *s = kmem_asprintf("%s-%d-%05x", "dev", 42, 0xbeef);

	ATF_CHECK_STREQ(s, "dev-42-0beef");
	/* Exactly strlen + 1 bytes: this size must be accepted. */
	kmem_free(s, strlen("dev-42-0beef") + 1);
	s = kmem_asprintf("%s", "");
	ATF_CHECK_STREQ(s, "");
	kmem_strfree(s);
	s = kmem_asprintf("%0*d", 5000, 7);
	ATF_CHECK_EQ(strlen(s), 5000);
	ATF_CHECK_EQ(s[4999], '7');
	kmem_strfree(s);
}

ATF_TC_WITHOUT_HEAD(tmpbuf);
ATF_TC_BODY(tmpbuf, tc)
{
	char stackbuf[128];
	char *b;

	b = kmem_tmpbuf_alloc(100, stackbuf, sizeof(stackbuf), KM_SLEEP);
	ATF_CHECK(b == stackbuf);
	memset(b, 1, 100);
	kmem_tmpbuf_free(b, 100, stackbuf);

	b = kmem_tmpbuf_alloc(128, stackbuf, sizeof(stackbuf), KM_SLEEP);
	ATF_CHECK(b == stackbuf);
	kmem_tmpbuf_free(b, 128, stackbuf);

	b = kmem_tmpbuf_alloc(129, stackbuf, sizeof(stackbuf), KM_SLEEP);
	ATF_CHECK(b != stackbuf && b != NULL);
	memset(b, 2, 129);
	kmem_tmpbuf_free(b, 129, stackbuf);

	b = kmem_tmpbuf_alloc(50000, NULL, 0, KM_NOSLEEP);
	ATF_REQUIRE(b != NULL);
	memset(b, 3, 50000);
	kmem_tmpbuf_free(b, 50000, NULL);
}

/* Freed objects are reused: the small path does not leak pages. */
ATF_TC_WITHOUT_HEAD(reuse);
ATF_TC_BODY(reuse, tc)
{
	size_t before;

	for (int r = 0; r < 1000; r++)
		kmem_free(kmem_alloc(64, KM_SLEEP), 64);
	before = nbmem_physmem_inuse();
	for (int r = 0; r < 100000; r++) {
		void *p = kmem_alloc(64, KM_SLEEP);
		kmem_free(p, 64);
		p = kmem_alloc(200000, KM_SLEEP);
		kmem_free(p, 200000);
	}
	ATF_CHECK_MSG(nbmem_physmem_inuse() <= before + (1u << 20),
	    "pages in use grew from %zu to %zu", before,
	    nbmem_physmem_inuse());
}

/* Under the budget, KM_NOSLEEP fails at once on both paths. */
ATF_TC_WITHOUT_HEAD(nosleep_fails);
ATF_TC_BODY(nosleep_fails, tc)
{
	enum { MAX = 4096 };
	static void *held[MAX];
	size_t n = 0;

	kmem_free(kmem_alloc(4096, KM_SLEEP), 4096);
	nbmem_physmem_set(nbmem_physmem_inuse() + (256u << 10));
	while (n < MAX && (held[n] = kmem_alloc(4096, KM_NOSLEEP)) != NULL)
		n++;
	ATF_CHECK_MSG(n > 0 && n < MAX, "%zu objects of 4 KiB under a "
	    "256 KiB budget", n);
	ATF_CHECK(kmem_alloc(1 << 20, KM_NOSLEEP) == NULL);
	ATF_CHECK(kmem_intr_alloc(4096, KM_NOSLEEP) == NULL);
	ATF_CHECK_EQ(nbmem_physmem_waiters(), 0);
	while (n > 0)
		kmem_free(held[--n], 4096);
	nbmem_physmem_set(0);
}

/* KM_NOSLEEP beyond all RAM and swap fails at once (the heuristic). */
ATF_TC_WITHOUT_HEAD(nosleep_beyond_ram);
ATF_TC_BODY(nosleep_beyond_ram, tc)
{
	size_t big = nbt_beyond_ram_and_swap();
	void *p;

	ATF_CHECK(kmem_alloc(big, KM_NOSLEEP) == NULL);
	ATF_CHECK(kmem_intr_alloc(big, KM_NOSLEEP) == NULL);
	ATF_CHECK(kmem_zalloc(big, KM_NOSLEEP) == NULL);
	/* 1 GiB the machine could hold is granted. */
	p = kmem_alloc((size_t)1 << 30, KM_NOSLEEP);
	ATF_REQUIRE(p != NULL);
	kmem_free(p, (size_t)1 << 30);
}

/*
 * The process's first kmem call is a kmem_intr_alloc in a signal
 * handler (allowed there): kmem sets itself up then, which is not a
 * sleeping call of the handler's.  Each test case runs in a process of
 * its own, so kmem has not been used before this one.
 */
static void *first_obj;

static void
first_handler(int sig)
{
	(void)sig;
	nbmem_intr_enter();
	first_obj = kmem_intr_alloc(48, KM_NOSLEEP);
	if (first_obj != NULL)
		memset(first_obj, 0x5a, 48);
	nbmem_intr_exit();
}

ATF_TC_WITHOUT_HEAD(first_use_in_handler);
ATF_TC_BODY(first_use_in_handler, tc)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = first_handler;
	ATF_REQUIRE(sigaction(SIGUSR1, &sa, NULL) == 0);
	ATF_REQUIRE(raise(SIGUSR1) == 0);
	ATF_REQUIRE_MSG(first_obj != NULL, "kmem_intr_alloc(48, KM_NOSLEEP) "
	    "as the first kmem call, in a handler, failed");
	kmem_intr_free(first_obj, 48);
	/* And kmem works outside handlers afterwards. */
	kmem_free(kmem_alloc(48, KM_SLEEP), 48);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, classes_named);
	ATF_TP_ADD_TC(tp, class_choice);
	ATF_TP_ADD_TC(tp, alignment);
	ATF_TP_ADD_TC(tp, zalloc);
	ATF_TP_ADD_TC(tp, intr_interchangeable);
	ATF_TP_ADD_TC(tp, roundup);
	ATF_TP_ADD_TC(tp, strings);
	ATF_TP_ADD_TC(tp, asprintf_exact);
	ATF_TP_ADD_TC(tp, tmpbuf);
	ATF_TP_ADD_TC(tp, reuse);
	ATF_TP_ADD_TC(tp, nosleep_fails);
	ATF_TP_ADD_TC(tp, first_use_in_handler);
	ATF_TP_ADD_TC(tp, nosleep_beyond_ram);
	return atf_no_error();
}

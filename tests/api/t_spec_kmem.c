/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * Conformance tests for kmem(3), written from the NetBSD kmem(9)
 * semantics (the reference specification, section 4: functions, the
 * size classes of 4.2, the misuse table 4.4) against the public headers
 * only, included as ported code includes them.
 */
#include <sys/kmem.h>
#include <sys/pool.h>
#include <sys/intr.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <atf-c.h>

#include <nbmem/nbmem.h>

#include "nbpool.h"
#include "nbtest.h"

static bool
page4k(void)
{
	return sysconf(_SC_PAGESIZE) == 4096;
}

/* ---- 4.2 size classes */

ATF_TC_WITHOUT_HEAD(size_class_names);
ATF_TC_BODY(size_class_names, tc)
{
	static const char *const made[] = { "kmem-00008", "kmem-00016",
	    "kmem-00032", "kmem-00064", "kmem-00128", "kmem-00192",
	    "kmem-00256", "kmem-00320", "kmem-00384", "kmem-00448",
	    "kmem-00512", "kmem-00768", "kmem-01024", "kmem-02048",
	    "kmem-04096" };
	static const char *const skipped[] = { "kmem-00024", "kmem-00040",
	    "kmem-00048", "kmem-00056", "kmem-00080", "kmem-00096",
	    "kmem-00112", "kmem-00160", "kmem-00224", "kmem-8", "kmem-64" };
	struct pool_sysctl r;
	unsigned int i;
	void *p;

	if (!page4k())
		atf_tc_skip("the table of 4.2 is for 4 KiB pages");
	p = kmem_alloc(8, KM_SLEEP);	/* kmem is up */
	kmem_free(p, 8);
	for (i = 0; i < sizeof(made) / sizeof(made[0]); i++) {
		ATF_CHECK_MSG(nbt_pool_record(made[i], &r), "no cache %s", made[i]);
		if (nbt_pool_record(made[i], &r)) {
			ATF_CHECK_EQ_MSG(r.pr_size,
			    strtoul(made[i] + 5, NULL, 10), "%s", made[i]);
			ATF_CHECK_MSG(r.pr_cache_meta_size != 0,
			    "%s is not a pool cache", made[i]);
		}
	}
	for (i = 0; i < sizeof(skipped) / sizeof(skipped[0]); i++)
		ATF_CHECK_MSG(!nbt_pool_record(skipped[i], NULL), "%s exists",
		    skipped[i]);
	/* below a cache line: PR_NOTOUCH */
	ATF_REQUIRE(nbt_pool_record("kmem-00008", &r));
	ATF_CHECK(r.pr_flags & PR_NOTOUCH);
	ATF_REQUIRE(nbt_pool_record("kmem-00032", &r));
	ATF_CHECK(r.pr_flags & PR_NOTOUCH);
}

static uint64_t
pool_gets(const char *name)
{
	struct pool_sysctl r;

	ATF_REQUIRE_MSG(nbt_pool_record(name, &r), "no pool %s", name);
	return r.pr_nget;
}

static uint64_t
pool_out(const char *name)
{
	struct pool_sysctl r;

	ATF_REQUIRE_MSG(nbt_pool_record(name, &r), "no pool %s", name);
	return r.pr_nout;
}

ATF_TC_WITHOUT_HEAD(size_class_of_request);
ATF_TC_BODY(size_class_of_request, tc)
{
	/* a 72-byte request is served from kmem-00128, 136 from 192... */
	static const struct {
		size_t		size;
		const char	*class;
	} cases[] = {
		{ 72, "kmem-00128" }, { 100, "kmem-00128" },
		{ 136, "kmem-00192" }, { 200, "kmem-00256" },
		{ 600, "kmem-00768" }, { 1100, "kmem-02048" },
		{ 3000, "kmem-04096" },
	};
	enum { N = 600 };
	static void *p[N];
	unsigned int c, i;

	if (!page4k())
		atf_tc_skip("the table of 4.2 is for 4 KiB pages");
	p[0] = kmem_alloc(8, KM_SLEEP);	/* kmem is up */
	kmem_free(p[0], 8);
	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		uint64_t before = pool_gets(cases[c].class);
		uint64_t out = pool_out(cases[c].class);

		for (i = 0; i < N; i++) {
			p[i] = kmem_alloc(cases[c].size, KM_SLEEP);
			ATF_REQUIRE(p[i] != NULL);
		}
		/* cached objects count as out: at most that many are hits */
		ATF_CHECK_MSG(pool_gets(cases[c].class) - before >= N - out,
		    "%zu bytes: %s served %ju of %u", cases[c].size,
		    cases[c].class, (uintmax_t)(pool_gets(cases[c].class) -
		    before), N);
		for (i = 0; i < N; i++)
			kmem_free(p[i], cases[c].size);
	}
}

ATF_TC_WITHOUT_HEAD(alignment);
ATF_TC_BODY(alignment, tc)
{
	const size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	size_t n;
	void *p;

	for (n = 1; n <= 3 * ps; n += (n < 2048 ? 1 : 61)) {
		size_t cls = (n + 7) & ~(size_t)7;

		p = kmem_alloc(n, KM_SLEEP);
		ATF_REQUIRE(p != NULL);
		ATF_CHECK_MSG((uintptr_t)p % 8 == 0, "%zu: %p", n, p);
		if (cls > 32)
			ATF_CHECK_MSG((uintptr_t)p % 64 == 0, "%zu: %p", n, p);
		if (n > ps / 2 + 8)	/* the page class or the large path */
			ATF_CHECK_MSG((uintptr_t)p % ps == 0, "%zu: %p", n, p);
		memset(p, 0xee, n);
		kmem_free(p, n);
	}
	/* the large path: page aligned */
	for (n = 5 * ps; n <= 300 * ps; n = n * 3 + 17) {
		p = kmem_alloc(n, KM_NOSLEEP);
		ATF_REQUIRE(p != NULL);
		ATF_CHECK((uintptr_t)p % ps == 0);
		memset(p, 1, n);
		kmem_free(p, n);
	}
}

ATF_TC_WITHOUT_HEAD(zalloc_zeroes);
ATF_TC_BODY(zalloc_zeroes, tc)
{
	static const size_t sizes[] = { 1, 7, 8, 64, 72, 100, 1000, 1024,
	    2000, 4096, 5000, 70000, 1 << 20 };
	unsigned int s, i, k;

	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		for (i = 0; i < 20; i++) {
			unsigned char *p = kmem_alloc(sizes[s], KM_SLEEP);

			memset(p, 0xab, sizes[s]);
			kmem_free(p, sizes[s]);
			p = (i % 2) ? kmem_zalloc(sizes[s], KM_SLEEP) :
			    kmem_intr_zalloc(sizes[s], KM_NOSLEEP);
			ATF_REQUIRE(p != NULL);
			for (k = 0; k < sizes[s]; k++)
				if (p[k] != 0)
					break;
			ATF_CHECK_MSG(k == sizes[s], "%zu bytes: byte %u set",
			    sizes[s], k);
			kmem_free(p, sizes[s]);
		}
	}
}

ATF_TC_WITHOUT_HEAD(intr_variants_interchangeable);
ATF_TC_BODY(intr_variants_interchangeable, tc)
{
	void *p;

	p = kmem_intr_alloc(100, KM_NOSLEEP);
	ATF_REQUIRE(p != NULL);
	kmem_free(p, 100);
	p = kmem_alloc(100, KM_SLEEP);
	kmem_intr_free(p, 100);
	p = kmem_intr_alloc(100000, KM_SLEEP);
	ATF_REQUIRE(p != NULL);
	kmem_free(p, 100000);
	/* from "interrupt" context with KM_NOSLEEP */
	nbmem_intr_enter();
	p = kmem_intr_alloc(64, KM_NOSLEEP);
	if (p != NULL)
		kmem_intr_free(p, 64);
	nbmem_intr_exit();
}

ATF_TC_WITHOUT_HEAD(roundup_size);
ATF_TC_BODY(roundup_size, tc)
{
	ATF_CHECK_EQ(kmem_roundup_size(1), 8);
	ATF_CHECK_EQ(kmem_roundup_size(7), 8);
	ATF_CHECK_EQ(kmem_roundup_size(8), 8);
	ATF_CHECK_EQ(kmem_roundup_size(9), 16);
	ATF_CHECK_EQ(kmem_roundup_size(72), 72);
	ATF_CHECK_EQ(kmem_roundup_size(1001), 1008);
	ATF_CHECK_EQ(kmem_roundup_size(100000), 100000);
	ATF_CHECK_EQ(kmem_roundup_size(100001), 100008);
}

/* ---- 4.1 strings and temporary buffers */

ATF_TC_WITHOUT_HEAD(strings);
ATF_TC_BODY(strings, tc)
{
	char *s;
	size_t len = 0;
	char big[5000];

	s = kmem_asprintf("%s-%d-%c", "abc", 42, 'z');
	ATF_REQUIRE(s != NULL);
	ATF_CHECK_STREQ(s, "abc-42-z");
	kmem_free(s, strlen(s) + 1);	/* exactly strlen + 1 bytes */
	s = kmem_asprintf("%s", "");
	ATF_CHECK_STREQ(s, "");
	kmem_strfree(s);

	s = kmem_strdupsize("hello", &len, KM_SLEEP);
	ATF_CHECK_STREQ(s, "hello");
	ATF_CHECK_EQ(len, 6);
	kmem_free(s, len);
	s = kmem_strdupsize("x", NULL, KM_NOSLEEP);
	ATF_REQUIRE(s != NULL);
	ATF_CHECK_STREQ(s, "x");
	kmem_strfree(s);
	s = kmem_strdup("dup", KM_SLEEP);
	ATF_CHECK_STREQ(s, "dup");
	kmem_free(s, 4);

	s = kmem_strndup("hello", 3, KM_SLEEP);
	ATF_CHECK_STREQ(s, "hel");
	kmem_strfree(s);
	s = kmem_strndup("hello", 5, KM_SLEEP);
	ATF_CHECK_STREQ(s, "hello");
	kmem_strfree(s);
	s = kmem_strndup("hello", 100, KM_NOSLEEP);
	ATF_REQUIRE(s != NULL);
	ATF_CHECK_STREQ(s, "hello");
	kmem_free(s, 6);

	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	s = kmem_strdupsize(big, &len, KM_SLEEP);
	ATF_CHECK_EQ(len, sizeof(big));
	ATF_CHECK_STREQ(s, big);
	kmem_strfree(s);
	s = kmem_asprintf("%s%s", big, big);
	ATF_CHECK_EQ(strlen(s), 2 * (sizeof(big) - 1));
	kmem_free(s, strlen(s) + 1);

	kmem_strfree(NULL);		/* accepted and ignored */
}

ATF_TC_WITHOUT_HEAD(tmpbuf);
ATF_TC_BODY(tmpbuf, tc)
{
	char stackbuf[128];
	void *b;

	b = kmem_tmpbuf_alloc(100, stackbuf, sizeof(stackbuf), KM_SLEEP);
	ATF_CHECK(b == stackbuf);
	kmem_tmpbuf_free(b, 100, stackbuf);
	b = kmem_tmpbuf_alloc(128, stackbuf, sizeof(stackbuf), KM_SLEEP);
	ATF_CHECK(b == stackbuf);
	kmem_tmpbuf_free(b, 128, stackbuf);
	b = kmem_tmpbuf_alloc(129, stackbuf, sizeof(stackbuf), KM_SLEEP);
	ATF_REQUIRE(b != NULL);
	ATF_CHECK(b != stackbuf);
	memset(b, 0, 129);
	kmem_tmpbuf_free(b, 129, stackbuf);
	b = kmem_tmpbuf_alloc(10000, NULL, 0, KM_NOSLEEP);
	ATF_REQUIRE(b != NULL);
	memset(b, 0, 10000);
	kmem_tmpbuf_free(b, 10000, NULL);
}

ATF_TC_WITHOUT_HEAD(init_again);
ATF_TC_BODY(init_again, tc)
{
	void *p;

	kmem_init();
	p = kmem_alloc(64, KM_SLEEP);
	ATF_REQUIRE(p != NULL);
	kmem_free(p, 64);
}

/* ---- 4.4 misuse */

static void
d_alloc(void *arg)
{
	(void)kmem_alloc((size_t)(uintptr_t)arg, KM_SLEEP);
}

static void
d_zalloc0(void *arg)
{
	(void)kmem_zalloc(0, KM_NOSLEEP);
}

static void
d_flags(void *arg)
{
	(void)kmem_alloc(64, (km_flag_t)(uintptr_t)arg);
}

static void
d_intr_flags(void *arg)
{
	(void)kmem_intr_alloc(64, (km_flag_t)(uintptr_t)arg);
}

static void
d_alloc_in_intr(void *arg)
{
	nbmem_intr_enter();
	(void)kmem_alloc(64, KM_NOSLEEP);
}

static void
d_free_in_intr(void *arg)
{
	void *p = kmem_alloc(64, KM_SLEEP);

	nbmem_intr_enter();
	kmem_free(p, 64);
}

static void
d_zalloc_in_intr(void *arg)
{
	nbmem_intr_enter();
	(void)kmem_zalloc(64, KM_NOSLEEP);
}

static void
d_intr_sleep(void *arg)
{
	nbmem_intr_enter();
	(void)kmem_intr_alloc(64, KM_SLEEP);
}

static void
d_free_null(void *arg)
{
	kmem_free(NULL, 64);
}

static void
d_free_zero(void *arg)
{
	void *p = kmem_alloc(64, KM_SLEEP);

	kmem_free(p, 0);
}

static void
d_foreign(void *arg)
{
	static char buf[65536] __attribute__((__aligned__(65536)));

	(void)kmem_alloc(64, KM_SLEEP);
	kmem_free(buf + 128, 64);
}

static void
d_other_class(void *arg)
{
	void *p = kmem_alloc(64, KM_SLEEP);

	(void)kmem_alloc(128, KM_SLEEP);
	kmem_free(p, 128);
}

static void
d_strndup0(void *arg)
{
	(void)kmem_strndup("abc", 0, KM_SLEEP);
}

static void
d_strndup_null(void *arg)
{
	(void)kmem_strndup(NULL, 3, KM_SLEEP);
}

ATF_TC_WITHOUT_HEAD(misuse);
ATF_TC_BODY(misuse, tc)
{
	nbt_death(d_alloc, (void *)(uintptr_t)0, "kmem");
	nbt_death(d_zalloc0, NULL, "kmem");
	nbt_death(d_flags, (void *)(uintptr_t)0, "kmem");
	nbt_death(d_flags, (void *)(uintptr_t)(KM_SLEEP | KM_NOSLEEP),
	    "kmem");
	nbt_death(d_intr_flags, (void *)(uintptr_t)0, "kmem");
	nbt_death(d_intr_flags, (void *)(uintptr_t)(KM_SLEEP | KM_NOSLEEP),
	    "kmem");
	nbt_death(d_alloc_in_intr, NULL, "kmem");
	nbt_death(d_zalloc_in_intr, NULL, "kmem");
	nbt_death(d_free_in_intr, NULL, "kmem");
	nbt_death(d_intr_sleep, NULL, "kmem");
	nbt_death(d_free_null, NULL, "kmem");
	nbt_death(d_free_zero, NULL, "kmem");
	nbt_death(d_foreign, NULL, "foreign pointer");
	nbt_death(d_other_class, NULL, NULL);
	nbt_death(d_strndup0, NULL, "kmem");
	nbt_death(d_strndup_null, NULL, "kmem");
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, size_class_names);
	ATF_TP_ADD_TC(tp, size_class_of_request);
	ATF_TP_ADD_TC(tp, alignment);
	ATF_TP_ADD_TC(tp, zalloc_zeroes);
	ATF_TP_ADD_TC(tp, intr_variants_interchangeable);
	ATF_TP_ADD_TC(tp, roundup_size);
	ATF_TP_ADD_TC(tp, strings);
	ATF_TP_ADD_TC(tp, tmpbuf);
	ATF_TP_ADD_TC(tp, init_again);
	ATF_TP_ADD_TC(tp, misuse);
	return atf_no_error();
}

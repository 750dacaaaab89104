/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_pool_internal: white-box tests of pool.c: the page layout spec 2.3
 * prescribes (header on or off the page, bitmap or free list, items per
 * page, colouring, header pools), the idle rule of pool_reclaim() under
 * an injected clock, the water marks it respects, pool_chk() finding
 * damage, the hard-limit warning's rate cap, and the memory-budget case
 * of NetBSD's rump test t_vm:uvmwait (spec 10.2).
 */
#include <sys/types.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <atf-c.h>

#include "internal.h"
#include "pool_impl.h"

#include <nbmem/nbmem.h>

#include "nbpool.h"
#include "nbtest.h"

#define	SEC	1000000000ull

static uint64_t fake_now = 1000 * SEC;

static uint64_t
fake_clock(void)
{
	return __atomic_load_n(&fake_now, __ATOMIC_SEQ_CST);
}

static void
advance(uint64_t ns)
{
	__atomic_add_fetch(&fake_now, ns, __ATOMIC_SEQ_CST);
}

static bool
need_4k(void)
{
	if (sysconf(_SC_PAGESIZE) == 4096)
		return true;
	atf_tc_skip("the expected layouts are for 4 KiB pages");
	return false;
}

/* ---- layout */

struct layout {
	size_t		size;
	unsigned int	align;
	int		flags;
	bool		onpage;
	bool		bitmap;
	unsigned int	ipp;
	unsigned int	phoff;	/* on-page */
};

static const struct layout layouts[] = {
	/*
	 * rule 3: small items keep the header; lists above 64 items.  The
	 * counts are NetBSD's (its header is 56 bytes on LP64 too).
	 */
	{ 8, 0, 0, true, false, 252, 56 },	/* raised to a pool_item */
	{ 16, 0, 0, true, false, 252, 56 },
	{ 24, 0, 0, true, false, 168, 56 },
	{ 32, 0, 0, true, false, 126, 56 },
	{ 64, 0, 0, true, true, 63, 56 },	/* 63 bits fit in 8 bytes */
	{ 200, 0, 0, true, true, 20, 56 },
	{ 64, 64, 0, true, true, 63, 64 },	/* 16 spare bytes */
	/* rule 4: the header costs no item */
	{ 448, 0, 0, true, true, 9, 56 },
	{ 1000, 0, 0, true, true, 4, 56 },
	{ 3000, 0, 0, true, true, 1, 56 },
	/* rule 5: off the page, always a bitmap */
	{ 256, 0, 0, false, true, 16, 0 },
	{ 1024, 0, 0, false, true, 4, 0 },
	{ 2048, 0, 0, false, true, 2, 0 },
	{ 4096, 0, 0, false, true, 1, 0 },
	/* rule 2: PR_NOTOUCH and PR_NOALIGN force it off */
	{ 8, 0, PR_NOTOUCH, false, true, 512, 0 },
	{ 64, 0, PR_NOALIGN, false, true, 64, 0 },
	{ 8, 0, PR_PSERIALIZE, false, true, 512, 0 },
	/* rule 1: PR_PHINPAGE forces it on; a PR_NOTOUCH bitmap grows it */
	{ 2048, 0, PR_PHINPAGE, true, true, 1, 56 },
	{ 8, 0, PR_NOTOUCH | PR_PHINPAGE, true, true, 498, 112 },
};

ATF_TC_WITHOUT_HEAD(layout);
ATF_TC_BODY(layout, tc)
{
	need_4k();
	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++) {
		const struct layout *l = &layouts[i];
		struct pool p;
		struct pool_impl *pi = pool_impl(&p);
		pool_init(&p, l->size, l->align, 0, l->flags, "t_layout",
		    NULL, IPL_NONE);
		ATF_CHECK_EQ_MSG(!!(p.pr_roflags & PR_PHINPAGE), l->onpage,
		    "size %zu flags %#x: on-page", l->size, l->flags);
		ATF_CHECK_EQ_MSG(!!(p.pr_roflags & PR_USEBMAP), l->bitmap,
		    "size %zu flags %#x: bitmap", l->size, l->flags);
		ATF_CHECK_EQ_MSG(p.pr_itemsperpage, l->ipp,
		    "size %zu flags %#x: %u items per page", l->size,
		    l->flags, p.pr_itemsperpage);
		ATF_CHECK_EQ_MSG(pi->pr_phoffset, l->phoff,
		    "size %zu flags %#x: header %u", l->size, l->flags,
		    pi->pr_phoffset);
		if (!l->onpage)
			ATF_CHECK(pi->pr_phpool ==
			    nbmem_pool_phpool(l->ipp));
		/* Every item of two pages is usable and in its page. */
		void *v[1024];
		unsigned int n = 2 * p.pr_itemsperpage;
		for (unsigned int j = 0; j < n; j++) {
			v[j] = pool_get(&p, PR_WAITOK);
			memset(v[j], 0xee, l->size);
		}
		ATF_CHECK_EQ(p.pr_npages, 2);
		ATF_CHECK_EQ(pool_chk(&p, "layout"), 0);
		for (unsigned int j = 0; j < n; j++)
			pool_put(&p, v[j]);
		ATF_CHECK_EQ(pool_chk(&p, "layout"), 0);
		pool_destroy(&p);
	}
}

ATF_TC_WITHOUT_HEAD(header_pools);
ATF_TC_BODY(header_pools, tc)
{
	ATF_CHECK_STREQ(nbmem_pool_phpool(1)->pr_wchan, "phpool-64");
	ATF_CHECK_STREQ(nbmem_pool_phpool(64)->pr_wchan, "phpool-64");
	ATF_CHECK_STREQ(nbmem_pool_phpool(65)->pr_wchan, "phpool-128");
	ATF_CHECK_STREQ(nbmem_pool_phpool(4096)->pr_wchan, "phpool-4096");
	for (unsigned int n = 64; n <= POOL_PH_MAXITEMS; n *= 2) {
		struct pool *ph = nbmem_pool_phpool(n);
		ATF_CHECK(ph->pr_size >= PH_BITMAP_OFF + n / 8);
		ATF_CHECK_EQ(ph->pr_ipl, IPL_VM);
		ATF_CHECK(ph->pr_alloc == &pool_allocator_meta);
	}
	/* The first header pool keeps its headers on its pages. */
	ATF_CHECK(nbmem_pool_phpool(64)->pr_roflags & PR_PHINPAGE);
}

ATF_TC_WITHOUT_HEAD(colour);
ATF_TC_BODY(colour, tc)
{
	struct pool p;
	struct pool_impl *pi = pool_impl(&p);
	struct pool_item_header *ph;
	bool seen[16] = { false };
	unsigned int n = 0;

	need_4k();
	/* 6 items of 664 bytes leave 56 bytes: 8 colours of 8 bytes. */
	pool_init(&p, 664, 0, 0, 0, "t_colour", NULL, IPL_NONE);
	ATF_REQUIRE_EQ(p.pr_itemsperpage, 6);
	ATF_REQUIRE_EQ(pi->pr_maxcolor, 56);
	pool_prime(&p, 8 * 6);
	ATF_REQUIRE_EQ(p.pr_npages, 8);
	LIST_FOREACH(ph, &pi->pr_emptypages, ph_pagelist) {
		unsigned int c = ph->ph_off - pi->pr_phoffset;
		ATF_REQUIRE(c <= 56 && c % 8 == 0);
		ATF_CHECK(!seen[c / 8]);
		seen[c / 8] = true;
		n++;
	}
	ATF_CHECK_EQ(n, 8);
	/* A fresh page's first item sits at its colour. */
	char *v = pool_get(&p, PR_WAITOK);
	ph = pi->pr_curpage;
	ATF_CHECK(v == ph->ph_page + ph->ph_off);
	pool_put(&p, v);
	pool_destroy(&p);
}

/* ---- reclaim and the idle rule */

static void
fill_and_empty(struct pool *pp, unsigned int npages)
{
	unsigned int n = npages * pp->pr_itemsperpage;
	void **v = calloc(n, sizeof(*v));

	ATF_REQUIRE(v != NULL);
	for (unsigned int i = 0; i < n; i++)
		ATF_REQUIRE((v[i] = pool_get(pp, PR_WAITOK)) != NULL);
	for (unsigned int i = 0; i < n; i++)
		pool_put(pp, v[i]);
	free(v);
}

ATF_TC_WITHOUT_HEAD(reclaim_idle);
ATF_TC_BODY(reclaim_idle, tc)
{
	struct pool p;

	nbmem_pool_clock_set(fake_clock);
	pool_init(&p, 512, 0, 0, 0, "t_idle", NULL, IPL_NONE);
	fill_and_empty(&p, 4);
	ATF_CHECK_EQ(p.pr_npages, 4);
	ATF_CHECK_EQ(p.pr_nidle, 4);
	ATF_CHECK_EQ(pool_reclaim(&p), 0);
	advance(9 * SEC);
	ATF_CHECK_EQ(pool_reclaim(&p), 0);
	ATF_CHECK_EQ(p.pr_npages, 4);
	advance(1 * SEC);
	ATF_CHECK_EQ(pool_reclaim(&p), 1);
	ATF_CHECK_EQ(p.pr_npages, 0);
	ATF_CHECK_EQ(p.pr_npagefree, 4);

	/* A page idle for 10 s goes; one emptied since stays. */
	fill_and_empty(&p, 2);
	advance(5 * SEC);
	void *v = pool_get(&p, PR_WAITOK);
	pool_put(&p, v);	/* re-stamps one page */
	advance(5 * SEC);
	ATF_CHECK_EQ(pool_reclaim(&p), 1);
	ATF_CHECK_EQ(p.pr_npages, 1);
	ATF_CHECK_EQ(pool_chk(&p, "idle"), 0);
	pool_destroy(&p);
	nbmem_pool_clock_set(NULL);
}

ATF_TC_WITHOUT_HEAD(reclaim_marks);
ATF_TC_BODY(reclaim_marks, tc)
{
	struct pool p;
	unsigned int ipp;

	nbmem_pool_clock_set(fake_clock);
	/* pr_minpages, from pool_prime */
	pool_init(&p, 512, 0, 0, 0, "t_marks", NULL, IPL_NONE);
	ipp = p.pr_itemsperpage;
	pool_prime(&p, (int)(2 * ipp));
	fill_and_empty(&p, 6);
	advance(60 * SEC);
	ATF_CHECK_EQ(pool_reclaim(&p), 1);
	ATF_CHECK_EQ(p.pr_npages, 2);
	ATF_CHECK_EQ(pool_reclaim(&p), 0);
	pool_destroy(&p);

	/* pr_minitems, from pool_setlowat */
	pool_init(&p, 512, 0, 0, 0, "t_marks", NULL, IPL_NONE);
	pool_setlowat(&p, (int)(2 * ipp + 1));
	fill_and_empty(&p, 6);
	advance(60 * SEC);
	ATF_CHECK_EQ(pool_reclaim(&p), 1);
	ATF_CHECK_EQ(p.pr_npages, 3);
	ATF_CHECK(p.pr_nitems >= 2 * ipp + 1);
	pool_destroy(&p);
	nbmem_pool_clock_set(NULL);
}

/*
 * The reclaim hook of the budget drains every pool's empty pages at
 * once, however young: someone is waiting for memory.
 */
ATF_TC_WITHOUT_HEAD(reclaim_hook);
ATF_TC_BODY(reclaim_hook, tc)
{
	struct pool a, b;

	nbmem_pool_clock_set(fake_clock);
	pool_init(&a, 512, 0, 0, 0, "t_hook_a", NULL, IPL_NONE);
	pool_init(&b, 100, 0, 0, 0, "t_hook_b", NULL, IPL_VM);
	fill_and_empty(&a, 3);
	fill_and_empty(&b, 2);
	size_t before = nbmem_physmem_inuse();
	ATF_CHECK_EQ(pool_reclaim(&a), 0);	/* young: pool_reclaim keeps */
	ATF_CHECK_EQ(a.pr_npages, 3);
	ATF_CHECK(nbmem_reclaim() >= 5 * (size_t)sysconf(_SC_PAGESIZE));
	ATF_CHECK_EQ(a.pr_npages, 0);
	ATF_CHECK_EQ(b.pr_npages, 0);
	ATF_CHECK(nbmem_physmem_inuse() < before);
	pool_destroy(&a);
	pool_destroy(&b);
	nbmem_pool_clock_set(NULL);
}

/* ---- pool_chk finds damage */

ATF_TC_WITHOUT_HEAD(chk_finds_damage);
ATF_TC_BODY(chk_finds_damage, tc)
{
	struct pool l, b;
	uint32_t *v;
	struct pool_item_header *ph;

	pool_init(&l, 32, 0, 0, 0, "t_chk_list", NULL, IPL_NONE);
	v = pool_get(&l, PR_WAITOK);
	pool_put(&l, v);
	ATF_CHECK_EQ(pool_chk(&l, "clean"), 0);
	v[2] ^= 1;		/* the magic of a free item */
	ATF_CHECK(pool_chk(&l, "magic") != 0);
	v[2] ^= 1;
	ATF_CHECK_EQ(pool_chk(&l, "clean"), 0);
	l.pr_nitems++;
	ATF_CHECK(pool_chk(&l, "counter") != 0);
	l.pr_nitems--;
	ph = pool_impl(&l)->pr_curpage;
	ph->ph_nmissing++;
	ATF_CHECK(pool_chk(&l, "nmissing") != 0);
	ph->ph_nmissing--;
	ph->ph_poolid++;
	ATF_CHECK(pool_chk(&l, "poolid") != 0);
	ph->ph_poolid--;
	ATF_CHECK_EQ(pool_chk(&l, "clean"), 0);
	pool_destroy(&l);

	pool_init(&b, 1024, 0, 0, 0, "t_chk_bmap", NULL, IPL_NONE);
	v = pool_get(&b, PR_WAITOK);
	ph = pool_impl(&b)->pr_curpage;
	ph->ph_bitmap[0] |= 1u << 5;	/* beyond the 4 items */
	ATF_CHECK(pool_chk(&b, "bitmap") != 0);
	ph->ph_bitmap[0] &= ~(1u << 5);
	ph->ph_bitmap[0] ^= 1u;		/* the item out marked free */
	ATF_CHECK(pool_chk(&b, "bitmap") != 0);
	ph->ph_bitmap[0] ^= 1u;
	ATF_CHECK_EQ(pool_chk(&b, "clean"), 0);
	pool_put(&b, v);
	pool_destroy(&b);
}

/* ---- the hard-limit warning's rate cap, on the pool clock */

static void
fail_then_wait(void *arg)
{
	struct pool *pp = arg;

	ATF_CHECK(pool_get(pp, PR_NOWAIT) == NULL);	/* warns */
	advance(4 * SEC);
	ATF_CHECK(pool_get(pp, PR_NOWAIT) == NULL);	/* within the cap */
	advance(1 * SEC);
	ATF_CHECK(pool_get(pp, PR_NOWAIT) == NULL);	/* 5 s later: warns */
	ATF_CHECK(pool_get(pp, PR_NOWAIT) == NULL);
}

ATF_TC_WITHOUT_HEAD(warning_ratecap);
ATF_TC_BODY(warning_ratecap, tc)
{
	struct pool p;
	void *v;

	nbmem_pool_clock_set(fake_clock);
	pool_init(&p, 64, 0, 0, 0, "t_ratecap", NULL, IPL_NONE);
	pool_sethardlimit(&p, 1, "t_ratecap full", 5);
	v = pool_get(&p, PR_WAITOK);
	ATF_CHECK_EQ(nbt_stderr_lines(fail_then_wait, &p, "t_ratecap full"), 2);
	ATF_CHECK_EQ(p.pr_nfail, 4);
	pool_put(&p, v);
	pool_destroy(&p);
	nbmem_pool_clock_set(NULL);
}

/* ---- the memory budget: NetBSD's t_vm:uvmwait (spec 10.2) */

#define	LIMIT		(1024 * 1024)
#define	NPOOL1		32

static struct pool pool1, pool2;
static void *items1[NPOOL1];
static int helper_go;

static void *
helper(void *arg)
{
	(void)arg;
	/* Wait until the main thread sleeps for memory. */
	while (__atomic_load_n(&helper_go, __ATOMIC_SEQ_CST) == 0 ||
	    nbmem_physmem_waiters() == 0)
		usleep(1000);
	for (int i = 0; i < NPOOL1; i++)
		pool_put(&pool1, items1[i]);
	/* Now make pool1's idle pages old enough for the reclaim pass. */
	advance(11 * SEC);
	return NULL;
}

ATF_TC(budget_uvmwait);
ATF_TC_HEAD(budget_uvmwait, tc)
{
	atf_tc_set_md_var(tc, "timeout", "60");
}
ATF_TC_BODY(budget_uvmwait, tc)
{
	pthread_t t;
	void **items2 = calloc(LIMIT / 1024 + 64, sizeof(void *));
	size_t count = 0;

	ATF_REQUIRE(items2 != NULL);
	nbmem_pool_clock_set(fake_clock);
	pool_init(&pool1, 1024, 0, 0, 0, "uvmwait1", &pool_allocator_nointr,
	    IPL_NONE);
	pool_init(&pool2, 1024, 0, 0, 0, "uvmwait2", &pool_allocator_nointr,
	    IPL_NONE);
	/* The budget: what is in use now plus 1 MiB. */
	nbmem_physmem_set(nbmem_physmem_inuse() + LIMIT);

	for (int i = 0; i < NPOOL1; i++)
		ATF_REQUIRE((items1[i] = pool_get(&pool1, PR_NOWAIT)) != NULL);
	ATF_REQUIRE(pthread_create(&t, NULL, helper, NULL) == 0);
	while ((items2[count] = pool_get(&pool2, PR_NOWAIT)) != NULL) {
		count++;
		ATF_REQUIRE_MSG(count * 1024 <= LIMIT, "%zu items of 1 KiB "
		    "with a 1 MiB budget", count);
	}
	ATF_CHECK(count > 0);
	ATF_CHECK(pool2.pr_nfail >= 1);

	/* Sleeps until pool1's pages are reclaimed, then succeeds. */
	__atomic_store_n(&helper_go, 1, __ATOMIC_SEQ_CST);
	items2[count] = pool_get(&pool2, PR_WAITOK);
	ATF_REQUIRE(items2[count] != NULL);
	count++;
	ATF_REQUIRE(pthread_join(t, NULL) == 0);
	ATF_CHECK(pool1.pr_npagefree > 0);

	for (size_t i = 0; i < count; i++)
		pool_put(&pool2, items2[i]);
	nbmem_physmem_set(0);
	pool_destroy(&pool1);
	pool_destroy(&pool2);
	nbmem_pool_clock_set(NULL);
	free(items2);
}

/* ---- condition variables: a wake only when someone waits */

static kmutex_t cvt_lock = MUTEX_INITIALIZER(IPL_VM);
static kcondvar_t cvt_cv;
static int cvt_flag;

static void *
cvt_waiter(void *arg)
{
	(void)arg;
	mutex_enter(&cvt_lock);
	while (cvt_flag == 0)
		cv_timedwait_ns(&cvt_cv, &cvt_lock, 0);
	mutex_exit(&cvt_lock);
	return NULL;
}

/*
 * cv_broadcast makes no system call with no one waiting (a pool that
 * grows broadcasts once per page: 24,500 futex calls in the growshrink
 * workload), and still wakes a waiter: the waiter below sleeps with no
 * time limit, so a lost wakeup hangs the test.
 */
ATF_TC_WITHOUT_HEAD(cv_wake_only_waiters);
ATF_TC_BODY(cv_wake_only_waiters, tc)
{
	struct pool p;
	void *v[64];
	uint64_t before;
	pthread_t t;

	before = __atomic_load_n(&nbmem_os_nfutex_wake, __ATOMIC_RELAXED);
	for (int i = 0; i < 100; i++)
		cv_broadcast(&cvt_cv);
	pool_init(&p, 4096, 0, 0, 0, "t_cvwake", NULL, IPL_NONE);
	for (int i = 0; i < 64; i++)
		ATF_REQUIRE((v[i] = pool_get(&p, PR_WAITOK)) != NULL);
	for (int i = 0; i < 64; i++)
		pool_put(&p, v[i]);
	pool_destroy(&p);
	ATF_CHECK_EQ_MSG(__atomic_load_n(&nbmem_os_nfutex_wake,
	    __ATOMIC_RELAXED), before, "%llu futex wakes with no waiter",
	    (unsigned long long)(__atomic_load_n(&nbmem_os_nfutex_wake,
	    __ATOMIC_RELAXED) - before));

	ATF_REQUIRE(pthread_create(&t, NULL, cvt_waiter, NULL) == 0);
	while (__atomic_load_n(&cvt_cv.cv_waiters, __ATOMIC_SEQ_CST) == 0)
		usleep(1000);
	mutex_enter(&cvt_lock);
	cvt_flag = 1;
	mutex_exit(&cvt_lock);
	cv_broadcast(&cvt_cv);
	ATF_REQUIRE(pthread_join(t, NULL) == 0);
	ATF_CHECK(__atomic_load_n(&nbmem_os_nfutex_wake, __ATOMIC_RELAXED) >
	    before);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, cv_wake_only_waiters);
	ATF_TP_ADD_TC(tp, layout);
	ATF_TP_ADD_TC(tp, header_pools);
	ATF_TP_ADD_TC(tp, colour);
	ATF_TP_ADD_TC(tp, reclaim_idle);
	ATF_TP_ADD_TC(tp, reclaim_marks);
	ATF_TP_ADD_TC(tp, reclaim_hook);
	ATF_TP_ADD_TC(tp, chk_finds_damage);
	ATF_TP_ADD_TC(tp, warning_ratecap);
	ATF_TP_ADD_TC(tp, budget_uvmwait);
	return atf_no_error();
}

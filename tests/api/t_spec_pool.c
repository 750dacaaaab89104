/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * Conformance tests for pool(3) and pool_cache(3), written from the
 * NetBSD pool(9) and pool_cache(9) semantics (the reference
 * specification, sections 2, 3, 8 and the misuse tables 2.6 and 3.4)
 * against the public headers only, included as ported code includes
 * them.  The counts asserted are those of one thread: no other thread
 * of the process touches these pools.
 */
#include <sys/pool.h>
#include <sys/intr.h>

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <atf-c.h>

#include <nbmem/nbmem.h>

#include "nbpool.h"
#include "nbprint.h"
#include "nbtest.h"

static size_t
pagesz(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

/* counters of 2.5/8.1 that hold at any quiet moment */
static void
check_counters(struct pool *pp)
{
	ATF_CHECK_EQ(pp->pr_nget - pp->pr_nput, (unsigned long)pp->pr_nout);
	ATF_CHECK_EQ(pp->pr_npagealloc - pp->pr_npagefree,
	    (unsigned long)pp->pr_npages);
	ATF_CHECK(pp->pr_hiwat >= pp->pr_npages);
	ATF_CHECK(pp->pr_nidle <= pp->pr_npages);
	ATF_CHECK_EQ(pp->pr_nitems + pp->pr_nout,
	    pp->pr_npages * pp->pr_itemsperpage);
	ATF_CHECK_EQ(pool_nget(pp), (unsigned int)pp->pr_nget);
	ATF_CHECK_EQ(pool_nput(pp), (unsigned int)pp->pr_nput);
}

/* ---- 2.1 pool_init */

ATF_TC_WITHOUT_HEAD(init_fields);
ATF_TC_BODY(init_fields, tc)
{
	static struct pool p;
	static const char name[] = "spec-fields";

	pool_init(&p, 100, 0, 0, 0, name, NULL, IPL_NONE);
	ATF_CHECK(p.pr_wchan == name);		/* kept, not copied */
	ATF_CHECK_EQ(p.pr_reqsize, 100);
	ATF_CHECK_EQ(p.pr_align, 8);		/* ALIGN(1) on LP64 */
	ATF_CHECK(p.pr_size >= 100 && p.pr_size % 8 == 0);
	ATF_CHECK(p.pr_alloc == &pool_allocator_kmem);
	ATF_CHECK_EQ(p.pr_alloc->pa_pagesz, pagesz());
	ATF_CHECK_EQ(p.pr_ipl, IPL_NONE);
	ATF_CHECK_EQ(p.pr_hardlimit, UINT_MAX);
	ATF_CHECK_EQ(p.pr_maxpages, UINT_MAX);
	ATF_CHECK_EQ(p.pr_minpages, 0);
	ATF_CHECK_EQ(p.pr_minitems, 0);
	ATF_CHECK(p.pr_cache == NULL);
	ATF_CHECK_EQ(p.pr_nout, 0);
	ATF_CHECK_EQ(p.pr_npages, 0);
	ATF_CHECK_EQ(p.pr_nget, 0);
	ATF_CHECK(p.pr_itemsperpage >= 1 &&
	    p.pr_itemsperpage <= pagesz() / p.pr_size);
	check_counters(&p);
	pool_destroy(&p);

	/* free-list links live in items: at least two pointers */
	pool_init(&p, 1, 0, 0, 0, "spec-tiny", NULL, IPL_VM);
	ATF_CHECK(p.pr_size >= 2 * sizeof(void *));
	ATF_CHECK_EQ(p.pr_ipl, IPL_VM);
	pool_destroy(&p);
	/* PR_NOTOUCH: nothing stored in free items */
	pool_init(&p, 1, 0, 0, PR_NOTOUCH, "spec-tinyn", NULL, IPL_NONE);
	ATF_CHECK_EQ(p.pr_size, 8);
	ATF_CHECK(p.pr_roflags & PR_NOTOUCH);
	pool_destroy(&p);
	/* the size is rounded up to the alignment */
	pool_init(&p, 100, 64, 0, 0, "spec-r64", &pool_allocator_nointr,
	    IPL_NONE);
	ATF_CHECK_EQ(p.pr_size, 128);
	ATF_CHECK_EQ(p.pr_align, 64);
	ATF_CHECK(p.pr_alloc == &pool_allocator_nointr);
	pool_destroy(&p);
}

ATF_TC_WITHOUT_HEAD(items_per_page);
ATF_TC_BODY(items_per_page, tc)
{
	static struct pool p;
	const size_t ps = pagesz();

	/* PR_NOTOUCH: off-page header, the whole page holds items */
	pool_init(&p, 64, 0, 0, PR_NOTOUCH, "spec-ipp1", NULL, IPL_NONE);
	ATF_CHECK_EQ(p.pr_itemsperpage, ps / 64);
	pool_destroy(&p);
	/* a header in the page would cost an item: off-page */
	pool_init(&p, ps / 2, 0, 0, 0, "spec-ipp2", NULL, IPL_NONE);
	ATF_CHECK_EQ(p.pr_itemsperpage, 2);
	pool_destroy(&p);
	pool_init(&p, ps / 4, 0, 0, 0, "spec-ipp3", NULL, IPL_NONE);
	ATF_CHECK_EQ(p.pr_itemsperpage, 4);
	pool_destroy(&p);
	pool_init(&p, ps, 0, 0, 0, "spec-ipp4", NULL, IPL_NONE);
	ATF_CHECK_EQ(p.pr_itemsperpage, 1);
	pool_destroy(&p);
	/* PR_PHINPAGE forces the header in: one item less */
	pool_init(&p, ps / 4, 0, 0, PR_PHINPAGE, "spec-ipp5", NULL, IPL_NONE);
	ATF_CHECK_EQ(p.pr_itemsperpage, 3);
	pool_destroy(&p);
	/* small items: header on the page, nearly the whole page is items */
	pool_init(&p, 16, 0, 0, 0, "spec-ipp6", NULL, IPL_NONE);
	ATF_CHECK(p.pr_itemsperpage < ps / 16);
	ATF_CHECK(p.pr_itemsperpage >= ps / 16 - 1024 / 16);
	pool_destroy(&p);
}

/* ---- a custom allocator (2.1) */

static struct {
	int	nalloc;
	int	nfree;
	int	lastflags;
	int	nwaitok;
	int	nnowait;
	bool	refuse;		/* PR_NOWAIT pages */
	void	*pages[64];
	int	npages;
} ca;

static void *
ca_alloc(struct pool *pp, int flags)
{
	void *p;

	ca.nalloc++;
	ca.lastflags = flags;
	if (flags & PR_WAITOK)
		ca.nwaitok++;
	else
		ca.nnowait++;
	if (ca.refuse && (flags & PR_NOWAIT))
		return NULL;
	p = aligned_alloc(65536, 65536);
	if (p != NULL && ca.npages < 64)
		ca.pages[ca.npages++] = p;
	return p;
}

static void
ca_free(struct pool *pp, void *v)
{
	ca.nfree++;
	free(v);
}

static struct pool_allocator custom = {
	.pa_alloc = ca_alloc,
	.pa_free = ca_free,
	.pa_pagesz = 65536,
};

ATF_TC_WITHOUT_HEAD(custom_allocator);
ATF_TC_BODY(custom_allocator, tc)
{
	static struct pool p;
	void *it[8];
	int i, j;
	bool inside;

	pool_init(&p, 16384, 0, 0, 0, "spec-custom", &custom, IPL_NONE);
	ATF_CHECK(p.pr_alloc == &custom);
	ATF_CHECK_EQ(p.pr_itemsperpage, 4);
	ATF_CHECK_EQ(ca.nalloc, 0);
	for (i = 0; i < 8; i++) {
		it[i] = pool_get(&p, i % 2 ? PR_WAITOK : PR_NOWAIT);
		ATF_REQUIRE(it[i] != NULL);
		inside = false;
		for (j = 0; j < ca.npages; j++)
			if ((char *)it[i] >= (char *)ca.pages[j] &&
			    (char *)it[i] + 16384 <= (char *)ca.pages[j] +
			    65536)
				inside = true;
		ATF_CHECK_MSG(inside, "item %p not in a page of the allocator",
		    it[i]);
		memset(it[i], i, 16384);
	}
	ATF_CHECK_EQ(ca.nalloc, 2);
	ATF_CHECK(ca.lastflags == PR_WAITOK || ca.lastflags == PR_NOWAIT);
	ATF_CHECK_EQ(p.pr_npages, 2);
	for (i = 0; i < 8; i++)
		pool_put(&p, it[i]);
	ATF_CHECK_EQ(pool_chk(&p, "spec"), 0);
	pool_destroy(&p);
	ATF_CHECK_EQ(ca.nfree, 2);

	/* pa_pagesz 0 becomes the system page size */
	static struct pool_allocator zero = { .pa_alloc = NULL };
	zero.pa_alloc = pool_allocator_kmem.pa_alloc;
	zero.pa_free = pool_allocator_kmem.pa_free;
	pool_init(&p, 64, 0, 0, 0, "spec-zero", &zero, IPL_NONE);
	ATF_CHECK_EQ(zero.pa_pagesz, pagesz());
	it[0] = pool_get(&p, PR_WAITOK);
	ATF_REQUIRE(it[0] != NULL);
	pool_put(&p, it[0]);
	pool_destroy(&p);
}

/* ---- 2.1 pool_get / pool_put */

ATF_TC_WITHOUT_HEAD(get_put_align_zero);
ATF_TC_BODY(get_put_align_zero, tc)
{
	static struct pool p;
	static const unsigned int aligns[] = { 0, 8, 16, 64, 256, 1024 };
	void *it[300];
	unsigned int a, i;

	for (a = 0; a < 6; a++) {
		unsigned int al = aligns[a] ? aligns[a] : 8;

		pool_init(&p, 40, aligns[a], 0, 0, "spec-align", NULL,
		    IPL_NONE);
		for (i = 0; i < 300; i++) {
			it[i] = pool_get(&p, PR_WAITOK);
			ATF_REQUIRE(it[i] != NULL);
			ATF_CHECK_MSG((uintptr_t)it[i] % al == 0,
			    "item %p not aligned to %u", it[i], al);
			memset(it[i], 0xa5, 40);
		}
		check_counters(&p);
		ATF_CHECK_EQ(p.pr_nout, 300);
		for (i = 0; i < 300; i++)
			pool_put(&p, it[i]);
		/* PR_ZERO: the first size bytes are zero */
		for (i = 0; i < 300; i++) {
			it[i] = pool_get(&p, PR_NOWAIT | PR_ZERO);
			ATF_REQUIRE(it[i] != NULL);
			for (unsigned int k = 0; k < 40; k++)
				ATF_REQUIRE(((unsigned char *)it[i])[k] == 0);
		}
		for (i = 0; i < 300; i++)
			pool_put(&p, it[i]);
		check_counters(&p);
		ATF_CHECK_EQ(p.pr_nget, 600);
		ATF_CHECK_EQ(p.pr_nput, 600);
		ATF_CHECK_EQ(p.pr_nout, 0);
		ATF_CHECK_EQ(p.pr_nfail, 0);
		ATF_CHECK_EQ(pool_chk(&p, "spec"), 0);
		pool_destroy(&p);
	}
}

ATF_TC_WITHOUT_HEAD(pages_kept_and_counters);
ATF_TC_BODY(pages_kept_and_counters, tc)
{
	static struct pool p;
	void *it[1000];
	unsigned int i, n, ipp;

	pool_init(&p, 256, 0, 0, 0, "spec-pages", NULL, IPL_NONE);
	ipp = p.pr_itemsperpage;
	n = ipp * 3;
	ATF_REQUIRE(n <= 1000);
	for (i = 0; i < n; i++)
		ATF_REQUIRE((it[i] = pool_get(&p, PR_WAITOK)) != NULL);
	ATF_CHECK_EQ(p.pr_npages, 3);
	ATF_CHECK_EQ(p.pr_nidle, 0);
	ATF_CHECK_EQ(p.pr_nitems, 0);
	ATF_CHECK_EQ(p.pr_hiwat, 3);
	ATF_CHECK(pool_totalpages() >= 3);
	check_counters(&p);
	for (i = 0; i < n; i++)
		pool_put(&p, it[i]);
	/* by default empty pages stay: pr_maxpages is UINT_MAX */
	ATF_CHECK_EQ(p.pr_npages, 3);
	ATF_CHECK_EQ(p.pr_nidle, 3);
	ATF_CHECK_EQ(p.pr_npagefree, 0);
	ATF_CHECK_EQ(p.pr_nitems, n);
	check_counters(&p);
	/* pages idle for less than 10 seconds are not reclaimed */
	ATF_CHECK_EQ(pool_reclaim(&p), 0);
	ATF_CHECK_EQ(p.pr_npages, 3);
	pool_destroy(&p);
}

ATF_TC_WITHOUT_HEAD(sysctl_record);
ATF_TC_BODY(sysctl_record, tc)
{
	static struct pool p;
	struct pool_sysctl r;
	void *a, *b;

	pool_init(&p, 200, 0, 0, 0, "spec-sysctl", NULL, IPL_NONE);
	a = pool_get(&p, PR_WAITOK);
	b = pool_get(&p, PR_WAITOK);
	pool_put(&p, b);
	ATF_REQUIRE(nbt_pool_record("spec-sysctl", &r));
	ATF_CHECK_EQ(r.pr_size, p.pr_size);
	ATF_CHECK_EQ(r.pr_pagesize, pagesz());
	ATF_CHECK_EQ(r.pr_itemsperpage, p.pr_itemsperpage);
	ATF_CHECK_EQ(r.pr_nout, 1);
	ATF_CHECK_EQ(r.pr_nget, 2);
	ATF_CHECK_EQ(r.pr_nput, 1);
	ATF_CHECK_EQ(r.pr_nfail, 0);
	ATF_CHECK_EQ(r.pr_npages, 1);
	ATF_CHECK_EQ(r.pr_npagealloc, 1);
	ATF_CHECK_EQ(r.pr_npagefree, 0);
	ATF_CHECK_EQ(r.pr_hiwat, 1);
	ATF_CHECK_EQ(r.pr_nidle, 0);
	ATF_CHECK_EQ(r.pr_nitems, p.pr_itemsperpage - 1);
	ATF_CHECK_EQ(r.pr_hardlimit, UINT_MAX);
	ATF_CHECK_EQ(r.pr_maxpages, UINT_MAX);
	ATF_CHECK_EQ(r.pr_minpages, 0);
	ATF_CHECK_EQ(r.pr_cache_meta_size, 0);	/* no cache */
	ATF_CHECK_EQ(r.pr_flags & (PR_NOTOUCH | PR_RECURSIVE), 0);
	pool_put(&p, a);
	pool_destroy(&p);
	ATF_CHECK(!nbt_pool_record("spec-sysctl", NULL));
}

ATF_TC_WITHOUT_HEAD(sysctl_sorted_by_name);
ATF_TC_BODY(sysctl_sorted_by_name, tc)
{
	static struct pool p1, p2, p3;
	static struct pool_sysctl recs[1024];
	size_t n, i;

	pool_init(&p1, 32, 0, 0, 0, "spec-zz", NULL, IPL_NONE);
	pool_init(&p2, 32, 0, 0, 0, "spec-aa", NULL, IPL_NONE);
	pool_init(&p3, 32, 0, 0, 0, "spec-mm", NULL, IPL_NONE);
	n = nbmem_pool_sysctl(recs, 1024);
	ATF_REQUIRE(n >= 3 && n <= 1024);
	for (i = 1; i < n; i++)
		ATF_CHECK_MSG(strncmp(recs[i - 1].pr_wchan, recs[i].pr_wchan,
		    16) <= 0, "%.16s before %.16s", recs[i - 1].pr_wchan,
		    recs[i].pr_wchan);
	ATF_CHECK(nbmem_pool_sysctl(NULL, 0) == n);
	pool_destroy(&p1);
	pool_destroy(&p2);
	pool_destroy(&p3);
}

/* ---- hard limit, drain hook (2.1) */

static struct {
	int	ncalls;
	int	lastflags;
	struct pool *pp;
	void	*give;
} dh;

static void
drain_hook(void *arg, int flags)
{
	ATF_CHECK(arg == &dh);
	dh.ncalls++;
	dh.lastflags = flags;
	if (dh.give != NULL) {
		void *g = dh.give;

		dh.give = NULL;
		pool_put(dh.pp, g);
	}
}

struct getter {
	struct pool	*pp;
	void		*item;
};

static void *
getter_main(void *arg)
{
	struct getter *g = arg;

	g->item = pool_get(g->pp, PR_WAITOK);
	return NULL;
}

ATF_TC_WITHOUT_HEAD(hardlimit);
ATF_TC_BODY(hardlimit, tc)
{
	static struct pool p;
	void *it[4];
	struct getter g = { .pp = &p };
	const struct timespec d = { 0, 20000000 };
	pthread_t t;
	unsigned long nfail;
	int i;

	pool_init(&p, 64, 0, 0, 0, "spec-hard", NULL, IPL_NONE);
	pool_sethardlimit(&p, 3, "spec-hard: limit reached", 60);
	ATF_CHECK_EQ(p.pr_hardlimit, 3);
	ATF_CHECK_EQ(p.pr_maxpages, 1);		/* ceil(3 / ipp) */
	for (i = 0; i < 3; i++)
		ATF_REQUIRE((it[i] = pool_get(&p, PR_NOWAIT)) != NULL);
	nfail = p.pr_nfail;
	ATF_CHECK(pool_get(&p, PR_NOWAIT) == NULL);
	ATF_CHECK(pool_get(&p, PR_WAITOK | PR_LIMITFAIL) == NULL);
	ATF_CHECK_EQ(p.pr_nfail, nfail + 2);
	ATF_CHECK_EQ(p.pr_nout, 3);
	/* PR_WAITOK sleeps until a put */
	ATF_REQUIRE_EQ(pthread_create(&t, NULL, getter_main, &g), 0);
	(void)nanosleep(&d, NULL);
	pool_put(&p, it[2]);
	ATF_REQUIRE_EQ(pthread_join(t, NULL), 0);
	ATF_CHECK(g.item == it[2]);
	ATF_CHECK_EQ(p.pr_nout, 3);
	pool_put(&p, g.item);
	pool_put(&p, it[1]);
	pool_put(&p, it[0]);
	check_counters(&p);
	pool_destroy(&p);

	/* the drain hook at the limit: called with the caller's flags */
	pool_init(&p, 64, 0, 0, 0, "spec-hard2", NULL, IPL_NONE);
	pool_set_drain_hook(&p, drain_hook, &dh);
	ATF_CHECK(p.pr_drain_hook == drain_hook);
	ATF_CHECK(p.pr_drain_hook_arg == &dh);
	pool_sethardlimit(&p, 2, NULL, 0);
	dh.pp = &p;
	ATF_REQUIRE((it[0] = pool_get(&p, PR_NOWAIT)) != NULL);
	ATF_REQUIRE((it[1] = pool_get(&p, PR_NOWAIT)) != NULL);
	ATF_CHECK_EQ(dh.ncalls, 0);
	ATF_CHECK(pool_get(&p, PR_NOWAIT) == NULL);
	ATF_CHECK(dh.ncalls >= 1);
	ATF_CHECK(dh.lastflags & PR_NOWAIT);
	/* the hook gives one back: the limit is checked again */
	dh.give = it[1];
	dh.ncalls = 0;
	it[2] = pool_get(&p, PR_WAITOK | PR_LIMITFAIL);
	ATF_CHECK(it[2] != NULL);
	ATF_CHECK(dh.ncalls >= 1);
	ATF_CHECK(dh.lastflags & PR_WAITOK);
	/* pool_reclaim calls the hook with PR_NOWAIT */
	dh.ncalls = 0;
	(void)pool_reclaim(&p);
	ATF_CHECK_EQ(dh.ncalls, 1);
	ATF_CHECK_EQ(dh.lastflags & (PR_WAITOK | PR_NOWAIT), PR_NOWAIT);
	pool_put(&p, it[0]);
	if (it[2] != NULL)
		pool_put(&p, it[2]);
	pool_destroy(&p);
}

/*
 * 10.2: NetBSD's t_vm:uvmwait with the budget in place of RUMP_MEMLIMIT
 * (1 MiB above what the process holds): two pools of 1 KiB items on
 * pool_allocator_nointr; 32 items from the first; PR_NOWAIT gets from
 * the second fail before 1 MiB of items is handed out; a PR_WAITOK get
 * then sleeps until a helper, once it sees a waiter, returns the 32
 * items to the first pool, whose emptied pages the sleeper's reclaim
 * pass gives back (NetBSD's pagedaemon draining pool 1): it succeeds.
 */
#define	UVMWAIT_LIMIT	(1024 * 1024)
#define	UVMWAIT_N1	32

static struct pool uvmwait_p1, uvmwait_p2;
static void *uvmwait_items1[UVMWAIT_N1];
static int uvmwait_go;
static bool uvmwait_slept;

/*
 * The get sleeps, or has returned already: a reclaim pass before it
 * slept may have found memory elsewhere (uvmwait_go is 2 then).
 */
static bool
uvmwait_sleeping(void *arg)
{
	int go = __atomic_load_n(&uvmwait_go, __ATOMIC_ACQUIRE);

	(void)arg;
	if (go == 1 && nbmem_physmem_waiters() != 0)
		uvmwait_slept = true;
	return go == 2 || uvmwait_slept;
}

static void *
uvmwait_helper(void *arg)
{
	(void)arg;
	nbt_wait_until(uvmwait_sleeping, NULL, "the PR_WAITOK get to sleep");
	for (int i = 0; i < UVMWAIT_N1; i++)
		pool_put(&uvmwait_p1, uvmwait_items1[i]);
	return NULL;
}

ATF_TC(uvmwait);
ATF_TC_HEAD(uvmwait, tc)
{
	atf_tc_set_md_var(tc, "timeout", "60");
}
ATF_TC_BODY(uvmwait, tc)
{
	void **items2;
	size_t count = 0, max = UVMWAIT_LIMIT / 1024 + 1;
	pthread_t t;

	items2 = calloc(max + 1, sizeof(*items2));
	ATF_REQUIRE(items2 != NULL);
	pool_init(&uvmwait_p1, 1024, 0, 0, 0, "uvmwait1",
	    &pool_allocator_nointr, IPL_NONE);
	pool_init(&uvmwait_p2, 1024, 0, 0, 0, "uvmwait2",
	    &pool_allocator_nointr, IPL_NONE);
	(void)nbmem_reclaim();
	nbmem_physmem_set(nbmem_physmem_inuse() + UVMWAIT_LIMIT);

	for (int i = 0; i < UVMWAIT_N1; i++)
		ATF_REQUIRE((uvmwait_items1[i] = pool_get(&uvmwait_p1,
		    PR_NOWAIT)) != NULL);
	ATF_REQUIRE_EQ(pthread_create(&t, NULL, uvmwait_helper, NULL), 0);
	while ((items2[count] = pool_get(&uvmwait_p2, PR_NOWAIT)) != NULL) {
		count++;
		ATF_REQUIRE_MSG(count * 1024 <= UVMWAIT_LIMIT, "%zu items of "
		    "1 KiB under a 1 MiB limit", count);
	}
	ATF_CHECK(count > 0);
	ATF_CHECK(uvmwait_p2.pr_nfail > 0);

	__atomic_store_n(&uvmwait_go, 1, __ATOMIC_RELEASE);
	items2[count] = pool_get(&uvmwait_p2, PR_WAITOK);
	__atomic_store_n(&uvmwait_go, 2, __ATOMIC_RELEASE);
	ATF_REQUIRE(items2[count] != NULL);
	count++;
	ATF_REQUIRE_EQ(pthread_join(t, NULL), 0);
	/* Having slept, it got pool 1's pages: they went back. */
	if (uvmwait_slept)
		ATF_CHECK(uvmwait_p1.pr_npagefree > 0);
	ATF_CHECK(nbmem_physmem_inuse() <= nbmem_physmem_get());

	nbmem_physmem_set(0);
	while (count > 0)
		pool_put(&uvmwait_p2, items2[--count]);
	pool_destroy(&uvmwait_p1);
	pool_destroy(&uvmwait_p2);
	free(items2);
}

/* ---- water marks, prime (2.1) */

ATF_TC_WITHOUT_HEAD(lowat_prime);
ATF_TC_BODY(lowat_prime, tc)
{
	static struct pool p;
	unsigned int ipp;
	void *it;

	pool_init(&p, 512, 0, 0, 0, "spec-lowat", NULL, IPL_NONE);
	ipp = p.pr_itemsperpage;
	pool_setlowat(&p, (int)ipp * 2 + 1);
	ATF_CHECK_EQ(p.pr_minitems, ipp * 2 + 1);
	ATF_CHECK(p.pr_nitems >= ipp * 2 + 1);
	ATF_CHECK_EQ(p.pr_npages, 3);
	it = pool_get(&p, PR_WAITOK);
	pool_put(&p, it);
	ATF_CHECK_EQ(pool_reclaim(&p), 0);
	ATF_CHECK_EQ(p.pr_npages, 3);
	check_counters(&p);
	pool_destroy(&p);

	pool_init(&p, 512, 0, 0, 0, "spec-prime", NULL, IPL_NONE);
	ipp = p.pr_itemsperpage;
	pool_prime(&p, (int)ipp * 4 - 1);
	ATF_CHECK_EQ(p.pr_minpages, 4);
	ATF_CHECK(p.pr_maxpages >= 5);
	ATF_CHECK_EQ(p.pr_npages, 4);
	ATF_CHECK(p.pr_nitems >= ipp * 4 - 1);
	ATF_CHECK_EQ(p.pr_nout, 0);
	check_counters(&p);
	pool_destroy(&p);
}

/*
 * 11.2, 2.1: since NetBSD 9 pool_prime grows with PR_WAITOK (it used
 * PR_NOWAIT and returned ENOMEM); pool_setlowat and the catch-up after
 * a get grow with PR_NOWAIT and shrug off a refusal.  The custom
 * allocator refuses every PR_NOWAIT page while ca.refuse is set.
 */
ATF_TC_WITHOUT_HEAD(prime_waitok_lowat_nowait);
ATF_TC_BODY(prime_waitok_lowat_nowait, tc)
{
	static struct pool p;
	unsigned int ipp;
	void *it[2];

	pool_init(&p, 1024, 0, 0, 0, "spec-primewait", &custom,
	    IPL_NONE);
	ipp = p.pr_itemsperpage;
	ca.refuse = true;
	pool_prime(&p, (int)(2 * ipp + 1));
	ATF_CHECK_EQ(p.pr_npages, 3);
	ATF_CHECK_EQ(ca.nwaitok, 3);
	ATF_CHECK_EQ(ca.nnowait, 0);

	/* the low-water mark is set even though no page could be had */
	pool_setlowat(&p, (int)(5 * ipp));
	ATF_CHECK_EQ(p.pr_minitems, 5 * ipp);
	ATF_CHECK_EQ(p.pr_npages, 3);
	ATF_CHECK(ca.nnowait >= 1);
	ATF_CHECK_EQ(ca.nwaitok, 3);

	/* a get served from a page still succeeds; its catch-up fails */
	it[0] = pool_get(&p, PR_NOWAIT);
	ATF_CHECK(it[0] != NULL);
	ATF_CHECK_EQ(p.pr_nfail, 0);
	ATF_CHECK_EQ(p.pr_npages, 3);

	/* allowed again, the next get catches up without sleeping */
	ca.refuse = false;
	ca.nnowait = 0;
	it[1] = pool_get(&p, PR_WAITOK);
	ATF_CHECK(it[1] != NULL);
	ATF_CHECK(p.pr_nitems >= 5 * ipp);
	ATF_CHECK_EQ(p.pr_npages, 6);
	ATF_CHECK_EQ(ca.nnowait, 3);
	ATF_CHECK_EQ(ca.nwaitok, 3);
	pool_put(&p, it[0]);
	pool_put(&p, it[1]);
	check_counters(&p);
	pool_destroy(&p);
}

ATF_TC_WITHOUT_HEAD(sethiwat);
ATF_TC_BODY(sethiwat, tc)
{
	/* nbmem follows the documented (older NetBSD) semantics, 2.1 */
	static struct pool p;
	void *it[200];
	unsigned int i, ipp, n;

	pool_init(&p, 512, 0, 0, 0, "spec-hiwat", NULL, IPL_NONE);
	ipp = p.pr_itemsperpage;
	n = ipp * 4;
	ATF_REQUIRE(n <= 200);
	pool_sethiwat(&p, (int)ipp + 1);
	ATF_CHECK_EQ(p.pr_maxpages, 2);
	for (i = 0; i < n; i++)
		ATF_REQUIRE((it[i] = pool_get(&p, PR_WAITOK)) != NULL);
	ATF_CHECK_EQ(p.pr_npages, 4);
	for (i = 0; i < n; i++)
		pool_put(&p, it[i]);
	ATF_CHECK_EQ(p.pr_npages, 2);
	ATF_CHECK_EQ(p.pr_npagefree, 2);
	check_counters(&p);
	pool_destroy(&p);
}

/*
 * 10.5: pr_nidle is the number of empty pages, exactly.  The default
 * allocator's pages are aligned to their size, so the pages that hold
 * items out are found from the items' addresses: every other page the
 * pool has must be empty and counted in pr_nidle.
 */
static unsigned int
pages_in_use(void **it, unsigned int n)
{
	uintptr_t pg[1000];
	unsigned int i, j, np = 0;

	for (i = 0; i < n; i++) {
		uintptr_t a = (uintptr_t)it[i] & ~(uintptr_t)(pagesz() - 1);

		for (j = 0; j < np && pg[j] != a; j++)
			continue;
		if (j == np)
			pg[np++] = a;
	}
	return np;
}

ATF_TC_WITHOUT_HEAD(nidle_counts_empty_pages);
ATF_TC_BODY(nidle_counts_empty_pages, tc)
{
	static struct pool p;
	void *it[1000];
	unsigned int i, k, n = 0, ipp, seed = 10005;

	pool_init(&p, 512, 0, 0, 0, "spec-nidle", NULL, IPL_NONE);
	ipp = p.pr_itemsperpage;
	ATF_REQUIRE(ipp >= 2 && ipp * 4 <= 1000);
	/* four full pages; empty the second, leave one item on the third */
	for (i = 0; i < ipp * 4; i++)
		ATF_REQUIRE((it[n++] = pool_get(&p, PR_WAITOK)) != NULL);
	ATF_CHECK_EQ(p.pr_npages, 4);
	ATF_CHECK_EQ(p.pr_nidle, 0);
	for (i = ipp; i < ipp * 3 - 1; i++)
		pool_put(&p, it[i]);
	ATF_CHECK_EQ(p.pr_npages, 4);
	ATF_CHECK_EQ(p.pr_nidle, 1);
	ATF_CHECK_EQ(p.pr_nitems, ipp * 2 - 1);
	/* a get refills the partial page first: nothing leaves pr_nidle */
	ATF_REQUIRE((it[ipp] = pool_get(&p, PR_WAITOK)) != NULL);
	ATF_CHECK_EQ(p.pr_nidle, 1);
	ATF_CHECK_EQ(pages_in_use(it + ipp, 1), 1);
	ATF_CHECK_EQ((uintptr_t)it[ipp] & ~(uintptr_t)(pagesz() - 1),
	    (uintptr_t)it[ipp * 3 - 1] & ~(uintptr_t)(pagesz() - 1));
	pool_put(&p, it[ipp]);
	/* keep the items out: pages 1, 3 (one item) and 4 */
	for (i = ipp; i <= ipp * 2; i++)
		it[i] = it[i + ipp * 2 - 1];
	n = ipp * 2 + 1;
	ATF_CHECK_EQ(pages_in_use(it, n), 3);
	ATF_CHECK_EQ(p.pr_npages - p.pr_nidle, 3);

	/* random gets and puts: the relation holds at every step */
	for (k = 0; k < 5000; k++) {
		if (n < ipp * 6 && (n == 0 || rand_r(&seed) % 2 == 0))
			ATF_REQUIRE((it[n++] = pool_get(&p, PR_NOWAIT)) !=
			    NULL);
		else {
			i = (unsigned int)rand_r(&seed) % n;
			pool_put(&p, it[i]);
			it[i] = it[--n];
		}
		if (p.pr_npages - p.pr_nidle != pages_in_use(it, n)) {
			ATF_CHECK_EQ_MSG(p.pr_npages - p.pr_nidle,
			    pages_in_use(it, n), "step %u: %u pages, %lu idle, "
			    "%u items out on %u pages", k, p.pr_npages,
			    p.pr_nidle, n, pages_in_use(it, n));
			break;
		}
		ATF_REQUIRE_EQ(p.pr_nout, n);
	}
	check_counters(&p);
	while (n > 0)
		pool_put(&p, it[--n]);
	ATF_CHECK_EQ(p.pr_nidle, p.pr_npages);
	ATF_CHECK_EQ(p.pr_nitems, p.pr_npages * ipp);
	pool_destroy(&p);
}

/* ---- pool_drain, printing, whatis (2.1, 8.4) */

ATF_TC_WITHOUT_HEAD(drain_print_whatis);
ATF_TC_BODY(drain_print_whatis, tc)
{
	static struct pool p;
	struct pool *which = NULL;
	void *it;
	int i;

	pool_init(&p, 128, 0, 0, 0, "spec-print", NULL, IPL_NONE);
	it = pool_get(&p, PR_WAITOK);
	ATF_REQUIRE(it != NULL);
	prlen = 0;
	prbuf[0] = '\0';
	pool_printit(&p, "s", pr);
	ATF_CHECK_MSG(strstr(prbuf, "spec-print") != NULL, "%s", prbuf);
	prlen = 0;
	prbuf[0] = '\0';
	pool_printit(&p, "lpc", pr);
	ATF_CHECK_MSG(strstr(prbuf, "spec-print") != NULL, "%s", prbuf);
	prlen = 0;
	prbuf[0] = '\0';
	pool_printall("s", pr);
	ATF_CHECK_MSG(strstr(prbuf, "spec-print") != NULL, "%s", prbuf);
	prlen = 0;
	prbuf[0] = '\0';
	pool_whatis((uintptr_t)it + 3, pr);
	ATF_CHECK_MSG(strstr(prbuf, "spec-print") != NULL, "%s", prbuf);
	/* pool_drain walks the pools round-robin */
	for (i = 0; i < 1000 && which != &p; i++)
		(void)pool_drain(&which);
	ATF_CHECK(which == &p);
	pool_put(&p, it);
	ATF_CHECK_EQ(pool_chk(&p, NULL), 0);
	ATF_CHECK(pool_totalpages_locked() >= 0);
	pool_destroy(&p);
}

/* ---- 3 pool_cache */

static struct {
	int	nctor;
	int	ndtor;
	int	fail;
	int	lastflags;
} cd;

static int
ctor(void *arg, void *obj, int flags)
{
	ATF_CHECK(arg == &cd);
	cd.lastflags = flags;
	if (cd.fail)
		return 1;
	cd.nctor++;
	*(uint32_t *)obj = 0xc0ffee;
	return 0;
}

static void
dtor(void *arg, void *obj)
{
	ATF_CHECK(arg == &cd);
	ATF_CHECK_EQ(*(uint32_t *)obj, 0xc0ffee);
	cd.ndtor++;
}

ATF_TC_WITHOUT_HEAD(cache_ctor_dtor_counts);
ATF_TC_BODY(cache_ctor_dtor_counts, tc)
{
	pool_cache_t pc;
	void *o, *o2, *objs[40];
	int i;

	memset(&cd, 0, sizeof(cd));
	pc = pool_cache_init(100, 0, 0, 0, "spec-ctor", NULL, IPL_NONE, ctor,
	    dtor, &cd);
	ATF_REQUIRE(pc != NULL);
	ATF_CHECK(pc->pc_pool.pr_cache == pc);
	ATF_CHECK(strcmp(pc->pc_pool.pr_wchan, "spec-ctor") == 0);
	/* a miss of both levels: the constructor runs, with the flags */
	o = pool_cache_get(pc, PR_WAITOK);
	ATF_REQUIRE(o != NULL);
	ATF_CHECK_EQ(cd.nctor, 1);
	ATF_CHECK_EQ(cd.lastflags & (PR_WAITOK | PR_NOWAIT), PR_WAITOK);
	ATF_CHECK_EQ(pool_cache_nget(pc), 1);
	/* a put into the cache: no destructor; the get after it: no ctor */
	pool_cache_put(pc, o);
	ATF_CHECK_EQ(cd.ndtor, 0);
	o2 = pool_cache_get(pc, PR_NOWAIT);
	ATF_CHECK(o2 == o);
	ATF_CHECK_EQ(cd.nctor, 1);
	ATF_CHECK_EQ(pool_cache_nget(pc), 1);
	ATF_CHECK_EQ(pool_cache_nput(pc), 0);
	/* destruct_object: destructor, straight back to the pool */
	pool_cache_destruct_object(pc, o2);
	ATF_CHECK_EQ(cd.ndtor, 1);
	ATF_CHECK_EQ(pool_cache_nput(pc), 1);
	ATF_CHECK_EQ(pc->pc_pool.pr_nout, 0);

	/* invalidate: every cached object destructed, none in use */
	for (i = 0; i < 40; i++)
		ATF_REQUIRE((objs[i] = pool_cache_get(pc, PR_WAITOK)) != NULL);
	ATF_CHECK_EQ(cd.nctor, 41);
	for (i = 0; i < 30; i++)
		pool_cache_put(pc, objs[i]);
	ATF_CHECK_EQ(cd.ndtor, 1);
	pool_cache_invalidate(pc);
	ATF_CHECK_EQ(cd.ndtor, 31);
	ATF_CHECK_EQ(pc->pc_pool.pr_nout, 10);
	/* it does not release pages */
	ATF_CHECK(pc->pc_pool.pr_npages >= 1);
	/* objects still out are untouched; get after invalidate: ctor */
	o = pool_cache_get(pc, PR_WAITOK);
	ATF_CHECK_EQ(cd.nctor, 42);
	pool_cache_put(pc, o);
	for (i = 30; i < 40; i++)
		pool_cache_put(pc, objs[i]);
	/* pool_cache_reclaim: invalidates first */
	(void)pool_cache_reclaim(pc);
	ATF_CHECK_EQ(cd.ndtor, 42);
	ATF_CHECK_EQ(pc->pc_pool.pr_nout, 0);
	/* destroy: the destructor for every cached object */
	for (i = 0; i < 20; i++)
		ATF_REQUIRE((objs[i] = pool_cache_get(pc, PR_WAITOK)) != NULL);
	for (i = 0; i < 20; i++)
		pool_cache_put(pc, objs[i]);
	ATF_CHECK_EQ(cd.nctor, 62);
	pool_cache_destroy(pc);
	ATF_CHECK_EQ(cd.ndtor, 62);
}

ATF_TC_WITHOUT_HEAD(cache_pool_reclaim_destructs);
ATF_TC_BODY(cache_pool_reclaim_destructs, tc)
{
	/* pool_reclaim of the pool, and pool_drain, destruct cached ones */
	pool_cache_t pc;
	struct pool *which = NULL;
	void *objs[10];
	int i;

	memset(&cd, 0, sizeof(cd));
	pc = pool_cache_init(64, 0, 0, 0, "spec-prc", NULL, IPL_VM, ctor, dtor,
	    &cd);
	for (i = 0; i < 10; i++)
		ATF_REQUIRE((objs[i] = pool_cache_get(pc, PR_NOWAIT)) != NULL);
	for (i = 0; i < 10; i++)
		pool_cache_put(pc, objs[i]);
	(void)pool_reclaim(&pc->pc_pool);
	ATF_CHECK_EQ(cd.ndtor, 10);
	for (i = 0; i < 10; i++)
		ATF_REQUIRE((objs[i] = pool_cache_get(pc, PR_NOWAIT)) != NULL);
	ATF_CHECK_EQ(cd.nctor, 20);
	for (i = 0; i < 10; i++)
		pool_cache_put(pc, objs[i]);
	for (i = 0; i < 1000 && which != &pc->pc_pool; i++)
		(void)pool_drain(&which);
	ATF_CHECK(which == &pc->pc_pool);
	ATF_CHECK_EQ(cd.ndtor, 20);
	pool_cache_destroy(pc);
	ATF_CHECK_EQ(cd.ndtor, 20);
}

ATF_TC_WITHOUT_HEAD(cache_ctor_failure);
ATF_TC_BODY(cache_ctor_failure, tc)
{
	pool_cache_t pc;

	memset(&cd, 0, sizeof(cd));
	pc = pool_cache_init(64, 0, 0, 0, "spec-cfail", NULL, IPL_NONE, ctor,
	    dtor, &cd);
	cd.fail = 1;
	ATF_CHECK(pool_cache_get(pc, PR_WAITOK) == NULL);
	ATF_CHECK(pool_cache_get(pc, PR_NOWAIT) == NULL);
	ATF_CHECK_EQ(cd.lastflags & (PR_WAITOK | PR_NOWAIT), PR_NOWAIT);
	/* the raw objects went back to the pool */
	ATF_CHECK_EQ(pc->pc_pool.pr_nout, 0);
	ATF_CHECK_EQ(cd.ndtor, 0);
	cd.fail = 0;
	void *o = pool_cache_get(pc, PR_WAITOK);
	ATF_CHECK(o != NULL);
	pool_cache_put(pc, o);
	pool_cache_destroy(pc);
	ATF_CHECK_EQ(cd.ndtor, 1);
}

ATF_TC_WITHOUT_HEAD(cache_prime_no_ctor);
ATF_TC_BODY(cache_prime_no_ctor, tc)
{
	/* pool_cache_prime primes the pool layer; nothing constructed */
	pool_cache_t pc;

	memset(&cd, 0, sizeof(cd));
	pc = pool_cache_init(64, 0, 0, 0, "spec-cprime", NULL, IPL_NONE, ctor,
	    dtor, &cd);
	pool_cache_prime(pc, 100);
	ATF_CHECK_EQ(cd.nctor, 0);
	ATF_CHECK(pc->pc_pool.pr_nitems >= 100);
	ATF_CHECK(pc->pc_pool.pr_minpages >= 1);
	pool_cache_setlowat(pc, 10);
	ATF_CHECK_EQ(pc->pc_pool.pr_minitems, 10);
	pool_cache_sethiwat(pc, 1000);
	pool_cache_destroy(pc);
	ATF_CHECK_EQ(cd.ndtor, 0);
}

ATF_TC_WITHOUT_HEAD(cache_hardlimit_drain_hook);
ATF_TC_BODY(cache_hardlimit_drain_hook, tc)
{
	pool_cache_t pc;
	void *a, *b;

	pc = pool_cache_init(64, 0, 0, 0, "spec-chard", NULL, IPL_NONE, NULL,
	    NULL, NULL);
	pool_cache_sethardlimit(pc, 2, NULL, 0);
	ATF_CHECK_EQ(pc->pc_pool.pr_hardlimit, 2);
	memset(&dh, 0, sizeof(dh));
	pool_cache_set_drain_hook(pc, drain_hook, &dh);
	ATF_CHECK(pc->pc_pool.pr_drain_hook == drain_hook);
	a = pool_cache_get(pc, PR_NOWAIT);
	b = pool_cache_get(pc, PR_NOWAIT);
	ATF_REQUIRE(a != NULL && b != NULL);
	ATF_CHECK(pool_cache_get(pc, PR_NOWAIT) == NULL);
	ATF_CHECK(pool_cache_get(pc, PR_WAITOK | PR_LIMITFAIL) == NULL);
	ATF_CHECK(dh.ncalls >= 1);
	pool_cache_put(pc, a);
	pool_cache_put(pc, b);
	pool_cache_destroy(pc);
}

ATF_TC_WITHOUT_HEAD(cache_zero_without_ctor);
ATF_TC_BODY(cache_zero_without_ctor, tc)
{
	/* open point 3, nbmem's choice: PR_ZERO always zeroes (no ctor) */
	pool_cache_t pc;
	unsigned char *o;
	int i, k;

	pc = pool_cache_init(96, 0, 0, 0, "spec-czero", NULL, IPL_NONE, NULL,
	    NULL, NULL);
	for (i = 0; i < 50; i++) {
		o = pool_cache_get(pc, PR_WAITOK);
		memset(o, 0x5a, 96);
		pool_cache_put(pc, o);
		o = pool_cache_get(pc, PR_WAITOK | PR_ZERO);
		for (k = 0; k < 96; k++)
			ATF_REQUIRE_EQ(o[k], 0);
		pool_cache_put(pc, o);
	}
	pool_cache_destroy(pc);
}

ATF_TC_WITHOUT_HEAD(cache_paddr);
ATF_TC_BODY(cache_paddr, tc)
{
	pool_cache_t pc;
	paddr_t pa = 0;
	void *o;

	pc = pool_cache_init(64, 0, 0, 0, "spec-paddr", NULL, IPL_NONE, NULL,
	    NULL, NULL);
	o = pool_cache_get_paddr(pc, PR_WAITOK, &pa);
	ATF_REQUIRE(o != NULL);
	pool_cache_put_paddr(pc, o, pa);
	o = pool_cache_get_paddr(pc, PR_WAITOK, &pa);
	pool_cache_put(pc, o);
	pool_cache_destroy(pc);
	ATF_CHECK_EQ(pa, POOL_PADDR_INVALID);
}

ATF_TC_WITHOUT_HEAD(cache_big_items_allocator);
ATF_TC_BODY(cache_big_items_allocator, tc)
{
	/* IPL_NONE, no allocator, item above a page: a big-page allocator */
	const size_t ps = pagesz();
	pool_cache_t pc;
	void *o[3];
	size_t want;
	int i;

	for (want = 8192; want < ps + 1; want <<= 1)
		continue;
	pc = pool_cache_init(ps + 1, 0, 0, 0, "spec-cbig", NULL, IPL_NONE,
	    NULL, NULL, NULL);
	ATF_CHECK_EQ(pc->pc_pool.pr_alloc->pa_pagesz, want);
	ATF_CHECK(pc->pc_pool.pr_roflags & PR_NOALIGN);
	for (i = 0; i < 3; i++) {
		o[i] = pool_cache_get(pc, PR_WAITOK);
		ATF_REQUIRE(o[i] != NULL);
		memset(o[i], i, ps + 1);
	}
	for (i = 0; i < 3; i++)
		pool_cache_put(pc, o[i]);
	pool_cache_destroy(pc);

	pc = pool_cache_init(5 * ps, 0, 0, 0, "spec-cbig2", NULL, IPL_NONE,
	    NULL, NULL, NULL);
	ATF_CHECK_EQ(pc->pc_pool.pr_alloc->pa_pagesz, 8 * ps < 8192 ? 8192 :
	    8 * ps);
	o[0] = pool_cache_get(pc, PR_WAITOK);
	memset(o[0], 1, 5 * ps);
	pool_cache_put(pc, o[0]);
	pool_cache_destroy(pc);

	/* at or below a page: pool_allocator_nointr */
	pc = pool_cache_init(ps, 0, 0, 0, "spec-cnointr", NULL, IPL_NONE,
	    NULL, NULL, NULL);
	ATF_CHECK(pc->pc_pool.pr_alloc == &pool_allocator_nointr);
	pool_cache_destroy(pc);
	/* another ipl: pool_allocator_kmem */
	pc = pool_cache_init(64, 0, 0, 0, "spec-ckmem", NULL, IPL_VM,
	    NULL, NULL, NULL);
	ATF_CHECK(pc->pc_pool.pr_alloc == &pool_allocator_kmem);
	pool_cache_destroy(pc);
}

ATF_TC_WITHOUT_HEAD(cache_bootstrap);
ATF_TC_BODY(cache_bootstrap, tc)
{
	static struct pool_cache store;
	void *o;

	memset(&cd, 0, sizeof(cd));
	pool_cache_bootstrap(&store, 48, 16, 0, 0, "spec-boot", NULL, IPL_VM,
	    ctor, dtor, &cd);
	ATF_CHECK(store.pc_pool.pr_cache == &store);
	o = pool_cache_get(&store, PR_NOWAIT);
	ATF_REQUIRE(o != NULL);
	ATF_CHECK((uintptr_t)o % 16 == 0);
	pool_cache_put(&store, o);
	pool_cache_bootstrap_destroy(&store);
	ATF_CHECK_EQ(cd.nctor, 1);
	ATF_CHECK_EQ(cd.ndtor, 1);
}

ATF_TC_WITHOUT_HEAD(cache_sysctl);
ATF_TC_BODY(cache_sysctl, tc)
{
	pool_cache_t pc, pcl;
	struct pool_sysctl r;
	/*
	 * More than a CPU's share of the cache: NetBSD's two groups (30
	 * objects), or nbmem's per-CPU slot of two batches (up to 126).
	 */
	enum { N = 300 };
	void *o[N];
	int i;

	pc = pool_cache_init(64, 0, 0, 0, "spec-cstat", NULL, IPL_NONE, NULL,
	    NULL, NULL);
	pcl = pool_cache_init(64, 0, 0, PR_LARGECACHE, "spec-cstatl", NULL,
	    IPL_NONE, NULL, NULL, NULL);
	for (i = 0; i < N; i++)
		o[i] = pool_cache_get(pc, PR_WAITOK);
	for (i = 0; i < N; i++)
		pool_cache_put(pc, o[i]);
	for (i = 0; i < 10; i++) {
		o[0] = pool_cache_get(pc, PR_WAITOK);
		pool_cache_put(pc, o[0]);
	}
	ATF_REQUIRE(nbt_pool_record("spec-cstat", &r));
	ATF_CHECK_EQ(r.pr_cache_meta_size, 15);
	ATF_CHECK_EQ(r.pr_cache_nempty, 0);
	/* gets and puts all pass through the CPU layer */
	ATF_CHECK_EQ(r.pr_cache_nhit_pcpu + r.pr_cache_nmiss_pcpu, 2 * N + 20);
	ATF_CHECK(r.pr_cache_nmiss_global <= r.pr_cache_nmiss_pcpu);
	ATF_CHECK_EQ(r.pr_cache_nhit_global,
	    r.pr_cache_nmiss_pcpu - r.pr_cache_nmiss_global);
	/* the pool layer served the first N gets, nothing else */
	ATF_CHECK_EQ(r.pr_nget, N);
	/* cached objects count as out in the pool layer */
	ATF_CHECK(r.pr_nout >= 1);
	/* what overflows the CPU's share is counted in full groups */
	ATF_CHECK(r.pr_cache_nfull >= 1);
	ATF_REQUIRE(nbt_pool_record("spec-cstatl", &r));
	ATF_CHECK_EQ(r.pr_cache_meta_size, 63);
	pool_cache_destroy(pc);
	pool_cache_destroy(pcl);
}

/*
 * 8.1, 8.3, 10.5: the relations of the cache's counters hold with several
 * threads, once they have exited: the CPU layer saw every get and put, the
 * global layer's hits are the CPU layer's misses it served, the pool
 * layer's gets and puts are the objects constructed and destructed.
 */
enum { MT_THREADS = 4, MT_OPS = 20000, MT_BURST = 200 };

static void *
cache_mt_worker(void *arg)
{
	pool_cache_t pc = arg;
	void *o[MT_BURST];
	unsigned int seed = (unsigned int)(uintptr_t)pthread_self();
	int done = 0, k, j;

	while (done < MT_OPS) {
		seed = seed * 1103515245u + 12345u;
		k = 1 + (int)((seed >> 8) % MT_BURST);
		if (k > MT_OPS - done)
			k = MT_OPS - done;
		for (j = 0; j < k; j++)
			if ((o[j] = pool_cache_get(pc, PR_WAITOK)) == NULL)
				return (void *)1;
		for (j = 0; j < k; j++)
			pool_cache_put(pc, o[j]);
		done += k;
	}
	return NULL;
}

ATF_TC_WITHOUT_HEAD(cache_sysctl_threads);
ATF_TC_BODY(cache_sysctl_threads, tc)
{
	pool_cache_t pc;
	pthread_t t[MT_THREADS];
	struct pool_sysctl r;
	void *rv;
	int i;

	pc = pool_cache_init(64, 0, 0, 0, "spec-cstatmt", NULL, IPL_NONE,
	    NULL, NULL, NULL);
	for (i = 0; i < MT_THREADS; i++)
		ATF_REQUIRE(pthread_create(&t[i], NULL, cache_mt_worker,
		    pc) == 0);
	for (i = 0; i < MT_THREADS; i++) {
		ATF_REQUIRE(pthread_join(t[i], &rv) == 0);
		ATF_CHECK(rv == NULL);
	}
	ATF_REQUIRE(nbt_pool_record("spec-cstatmt", &r));
	ATF_CHECK_EQ(r.pr_cache_nhit_pcpu + r.pr_cache_nmiss_pcpu,
	    2 * MT_THREADS * MT_OPS);
	ATF_CHECK(r.pr_cache_nmiss_global <= r.pr_cache_nmiss_pcpu);
	ATF_CHECK_EQ(r.pr_cache_nhit_global,
	    r.pr_cache_nmiss_pcpu - r.pr_cache_nmiss_global);
	/* no constructor to fail: each global get miss is a pool get */
	ATF_CHECK(r.pr_nget >= 1 && r.pr_nget <= r.pr_cache_nmiss_global);
	ATF_CHECK_EQ(r.pr_nget - r.pr_nput, r.pr_nout);
	ATF_CHECK_EQ(r.pr_nfail, 0);
	ATF_CHECK_EQ(r.pr_cache_nempty, 0);
	/* the objects the threads left cached all go back to the pool */
	pool_cache_invalidate(pc);
	ATF_REQUIRE(nbt_pool_record("spec-cstatmt", &r));
	ATF_CHECK_EQ(r.pr_nout, 0);
	ATF_CHECK_EQ(r.pr_nput, r.pr_nget);
	ATF_CHECK_EQ(r.pr_cache_nfull, 0);
	ATF_CHECK_EQ(r.pr_cache_npartial, 0);
	pool_cache_destroy(pc);
}

/*
 * 8.1, 8.3: pr_cache_nempty, vmstat -C's Emty, has been 0 since the 2020
 * rework (empty groups are shared by all caches), whatever the cache
 * went through: here the gets that follow a burst of puts empty many
 * groups at once.
 */
ATF_TC_WITHOUT_HEAD(cache_sysctl_nempty);
ATF_TC_BODY(cache_sysctl_nempty, tc)
{
	pool_cache_t pc;
	struct pool_sysctl r;
	enum { N = 3000 };
	static void *o[N];
	int i, round;

	pc = pool_cache_init(64, 0, 0, 0, "spec-cempty", NULL, IPL_NONE,
	    NULL, NULL, NULL);
	for (round = 0; round < 2; round++) {
		for (i = 0; i < N; i++)
			ATF_REQUIRE((o[i] = pool_cache_get(pc, PR_WAITOK)) !=
			    NULL);
		ATF_REQUIRE(nbt_pool_record("spec-cempty", &r));
		ATF_CHECK_EQ_MSG(r.pr_cache_nempty, 0, "round %d: %llu",
		    round, (unsigned long long)r.pr_cache_nempty);
		for (i = 0; i < N; i++)
			pool_cache_put(pc, o[i]);
		ATF_REQUIRE(nbt_pool_record("spec-cempty", &r));
		ATF_CHECK_EQ(r.pr_cache_nempty, 0);
	}
	/* the first round's objects were all reused */
	ATF_CHECK_EQ(r.pr_nget, N);
	pool_cache_destroy(pc);
}

/*
 * 2.2, 3.1, 10.5 PR_PSERIALIZE: readers may still look at a freed item,
 * so the pool keeps no state in free items (PR_NOTOUCH) and a put leaves
 * the item's bytes as they were.  A cache with a destructor does the
 * barrier itself: its pool is made without the flag; a cache without a
 * destructor passes it to its pool.  (nbmem has no passive
 * serialization readers of its own: the barrier itself is empty.)
 */
ATF_TC_WITHOUT_HEAD(pserialize);
ATF_TC_BODY(pserialize, tc)
{
	static struct pool p;
	pool_cache_t pc;
	unsigned char *it[3], *o;
	int i, k;

	pool_init(&p, 40, 0, 0, PR_PSERIALIZE, "spec-pser", NULL, IPL_NONE);
	ATF_CHECK_EQ(p.pr_roflags & (PR_PSERIALIZE | PR_NOTOUCH),
	    PR_PSERIALIZE | PR_NOTOUCH);
	ATF_CHECK_EQ(p.pr_size, 40);	/* no free-list link to make room for */
	for (i = 0; i < 3; i++) {
		ATF_REQUIRE((it[i] = pool_get(&p, PR_WAITOK)) != NULL);
		memset(it[i], 0x60 + i, 40);
	}
	for (i = 0; i < 3; i++)
		pool_put(&p, it[i]);
	/* the pages are kept (pr_maxpages is UINT_MAX): still readable */
	for (i = 0; i < 3; i++)
		for (k = 0; k < 40; k++)
			ATF_REQUIRE_MSG(it[i][k] == 0x60 + i, "freed item %p "
			    "byte %d is %#x, not %#x", (void *)it[i], k,
			    it[i][k], 0x60 + i);
	ATF_CHECK_EQ(pool_chk(&p, "spec"), 0);
	pool_destroy(&p);

	/* with a destructor: the pool is made without the flag */
	memset(&cd, 0, sizeof(cd));
	pc = pool_cache_init(64, 0, 0, PR_PSERIALIZE, "spec-cpser", NULL,
	    IPL_NONE, ctor, dtor, &cd);
	ATF_REQUIRE(pc != NULL);
	ATF_CHECK_EQ(pc->pc_pool.pr_roflags & (PR_PSERIALIZE | PR_NOTOUCH),
	    0);
	o = pool_cache_get(pc, PR_WAITOK);
	ATF_REQUIRE(o != NULL);
	pool_cache_put(pc, o);
	pool_cache_invalidate(pc);
	ATF_CHECK_EQ(cd.nctor, 1);
	ATF_CHECK_EQ(cd.ndtor, 1);
	ATF_CHECK_EQ(pc->pc_pool.pr_nout, 0);
	pool_cache_destroy(pc);

	/* without one: the pool has it, and with it PR_NOTOUCH */
	pc = pool_cache_init(64, 0, 0, PR_PSERIALIZE, "spec-cpser2", NULL,
	    IPL_NONE, NULL, NULL, NULL);
	ATF_REQUIRE(pc != NULL);
	ATF_CHECK_EQ(pc->pc_pool.pr_roflags & (PR_PSERIALIZE | PR_NOTOUCH),
	    PR_PSERIALIZE | PR_NOTOUCH);
	o = pool_cache_get(pc, PR_WAITOK);
	ATF_REQUIRE(o != NULL);
	memset(o, 0x77, 64);
	pool_cache_put(pc, o);
	/* back in the pool layer, still intact */
	pool_cache_invalidate(pc);
	ATF_CHECK_EQ(pc->pc_pool.pr_nout, 0);
	for (k = 0; k < 64; k++)
		ATF_REQUIRE_MSG(o[k] == 0x77, "freed object %p byte %d is "
		    "%#x", (void *)o, k, o[k]);
	pool_cache_destroy(pc);
}

/* ---- 2.6, 3.4 misuse */

static struct pool dp;

static void
d_get_flags(void *arg)
{
	pool_init(&dp, 64, 0, 0, 0, "spec-dpool", NULL, IPL_NONE);
	(void)pool_get(&dp, (int)(intptr_t)arg);
}

static void
d_align_offset(void *arg)
{
	pool_init(&dp, 64, 0, 8, 0, "spec-dpool", NULL, IPL_NONE);
}

static void
d_too_big(void *arg)
{
	pool_init(&dp, pagesz() + 1, 0, 0, 0, "spec-dpool", NULL, IPL_NONE);
}

static void
d_foreign(void *arg)
{
	static char buf[65536] __attribute__((__aligned__(65536)));

	pool_init(&dp, 64, 0, 0, (int)(intptr_t)arg, "spec-dpool", NULL,
	    IPL_NONE);
	(void)pool_get(&dp, PR_WAITOK);
	pool_put(&dp, buf + 128);
}

static void
d_middle(void *arg)
{
	char *it;

	pool_init(&dp, 64, 0, 0, (int)(intptr_t)arg, "spec-dpool", NULL,
	    IPL_NONE);
	it = pool_get(&dp, PR_WAITOK);
	(void)pool_get(&dp, PR_WAITOK);
	pool_put(&dp, it + 8);
}

static void
d_double_put(void *arg)
{
	void *it;

	pool_init(&dp, 64, 0, 0, (int)(intptr_t)arg, "spec-dpool", NULL,
	    IPL_NONE);
	it = pool_get(&dp, PR_WAITOK);
	(void)pool_get(&dp, PR_WAITOK);
	pool_put(&dp, it);
	pool_put(&dp, it);
}

static void
d_destroy_out(void *arg)
{
	pool_init(&dp, 64, 0, 0, 0, "spec-dpool", NULL, IPL_NONE);
	(void)pool_get(&dp, PR_WAITOK);
	pool_destroy(&dp);
}

static void
d_drain_hook_twice(void *arg)
{
	pool_init(&dp, 64, 0, 0, 0, "spec-dpool", NULL, IPL_NONE);
	pool_set_drain_hook(&dp, drain_hook, &dh);
	pool_set_drain_hook(&dp, drain_hook, &dh);
}

static void
d_ipl_none_intr(void *arg)
{
	void *it;

	pool_init(&dp, 64, 0, 0, 0, "spec-dpool", NULL, IPL_NONE);
	it = pool_get(&dp, PR_WAITOK);
	nbmem_intr_enter();
	if (arg == NULL)
		(void)pool_get(&dp, PR_NOWAIT);
	else
		pool_put(&dp, it);
}

static void
d_waitok_intr(void *arg)
{
	pool_init(&dp, 64, 0, 0, 0, "spec-dpool", NULL, IPL_VM);
	nbmem_intr_enter();
	(void)pool_get(&dp, PR_WAITOK);
}

ATF_TC_WITHOUT_HEAD(pool_misuse);
ATF_TC_BODY(pool_misuse, tc)
{
	nbt_death(d_get_flags, (void *)(intptr_t)0, "spec-dpool");
	nbt_death(d_get_flags, (void *)(intptr_t)(PR_WAITOK | PR_NOWAIT),
	    "spec-dpool");
	nbt_death(d_get_flags, (void *)(intptr_t)PR_ZERO, "spec-dpool");
	nbt_death(d_align_offset, NULL, "spec-dpool");
	nbt_death(d_too_big, NULL, "spec-dpool");
	nbt_death(d_foreign, (void *)(intptr_t)0, "foreign pointer");
	nbt_death(d_foreign, (void *)(intptr_t)PR_NOTOUCH, "foreign pointer");
	nbt_death(d_foreign, (void *)(intptr_t)PR_PHINPAGE,
	    "foreign pointer");
	nbt_death(d_middle, (void *)(intptr_t)0, "spec-dpool");
	nbt_death(d_middle, (void *)(intptr_t)PR_NOTOUCH, "spec-dpool");
	nbt_death(d_double_put, (void *)(intptr_t)PR_NOTOUCH, "double free");
	nbt_death(d_destroy_out, NULL, "spec-dpool");
	nbt_death(d_drain_hook_twice, NULL, "spec-dpool");
	nbt_death(d_ipl_none_intr, NULL, "spec-dpool");
	nbt_death(d_ipl_none_intr, (void *)1, "spec-dpool");
	nbt_death(d_waitok_intr, NULL, "spec-dpool");
}

static pool_cache_t dpc;

static void
d_cache_put_null(void *arg)
{
	dpc = pool_cache_init(64, 0, 0, 0, "spec-dcache", NULL, IPL_NONE,
	    NULL, NULL, NULL);
	pool_cache_put(dpc, NULL);
}

static void
d_cache_flags(void *arg)
{
	dpc = pool_cache_init(64, 0, 0, 0, "spec-dcache", NULL, IPL_NONE,
	    NULL, NULL, NULL);
	(void)pool_cache_get(dpc, (int)(intptr_t)arg);
}

static void
d_cache_foreign(void *arg)
{
	static char buf[65536] __attribute__((__aligned__(65536)));

	dpc = pool_cache_init(64, 0, 0, 0, "spec-dcache", NULL, IPL_NONE,
	    NULL, NULL, NULL);
	(void)pool_cache_get(dpc, PR_WAITOK);
	pool_cache_put(dpc, buf + 256);
}

static void
d_cache_destroy_out(void *arg)
{
	dpc = pool_cache_init(64, 0, 0, 0, "spec-dcache", NULL, IPL_NONE,
	    NULL, NULL, NULL);
	(void)pool_cache_get(dpc, PR_WAITOK);
	pool_cache_destroy(dpc);
}

static void
d_pool_destroy_with_cache(void *arg)
{
	dpc = pool_cache_init(64, 0, 0, 0, "spec-dcache", NULL, IPL_NONE,
	    NULL, NULL, NULL);
	pool_destroy(&dpc->pc_pool);
}

static void
d_cache_intr(void *arg)
{
	void *o;

	dpc = pool_cache_init(64, 0, 0, 0, "spec-dcache", NULL, IPL_NONE,
	    NULL, NULL, NULL);
	o = pool_cache_get(dpc, PR_WAITOK);
	nbmem_intr_enter();
	if (arg == NULL)
		(void)pool_cache_get(dpc, PR_NOWAIT);
	else
		pool_cache_put(dpc, o);
}

static void
d_cache_invalidate_intr(void *arg)
{
	dpc = pool_cache_init(64, 0, 0, 0, "spec-dcache", NULL, IPL_VM,
	    NULL, NULL, NULL);
	nbmem_intr_enter();
	pool_cache_invalidate(dpc);
}

static void
d_cache_zero_with_ctor(void *arg)
{
	memset(&cd, 0, sizeof(cd));
	dpc = pool_cache_init(64, 0, 0, 0, "spec-dcache", NULL, IPL_NONE,
	    ctor, dtor, &cd);
	(void)pool_cache_get(dpc, PR_WAITOK | PR_ZERO);
}

ATF_TC_WITHOUT_HEAD(cache_misuse);
ATF_TC_BODY(cache_misuse, tc)
{
	nbt_death(d_cache_put_null, NULL, "spec-dcache");
	nbt_death(d_cache_flags, (void *)(intptr_t)0, "spec-dcache");
	nbt_death(d_cache_flags, (void *)(intptr_t)(PR_WAITOK | PR_NOWAIT),
	    "spec-dcache");
	nbt_death(d_cache_foreign, NULL, "foreign pointer");
	nbt_death(d_cache_destroy_out, NULL, "spec-dcache");
	nbt_death(d_pool_destroy_with_cache, NULL, "spec-dcache");
	nbt_death(d_cache_intr, NULL, "spec-dcache");
	nbt_death(d_cache_intr, (void *)1, "spec-dcache");
	nbt_death(d_cache_invalidate_intr, NULL, "spec-dcache");
	nbt_death(d_cache_zero_with_ctor, NULL, "spec-dcache");
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, init_fields);
	ATF_TP_ADD_TC(tp, items_per_page);
	ATF_TP_ADD_TC(tp, custom_allocator);
	ATF_TP_ADD_TC(tp, get_put_align_zero);
	ATF_TP_ADD_TC(tp, pages_kept_and_counters);
	ATF_TP_ADD_TC(tp, sysctl_record);
	ATF_TP_ADD_TC(tp, sysctl_sorted_by_name);
	ATF_TP_ADD_TC(tp, hardlimit);
	ATF_TP_ADD_TC(tp, uvmwait);
	ATF_TP_ADD_TC(tp, lowat_prime);
	ATF_TP_ADD_TC(tp, prime_waitok_lowat_nowait);
	ATF_TP_ADD_TC(tp, sethiwat);
	ATF_TP_ADD_TC(tp, nidle_counts_empty_pages);
	ATF_TP_ADD_TC(tp, drain_print_whatis);
	ATF_TP_ADD_TC(tp, cache_ctor_dtor_counts);
	ATF_TP_ADD_TC(tp, cache_pool_reclaim_destructs);
	ATF_TP_ADD_TC(tp, cache_ctor_failure);
	ATF_TP_ADD_TC(tp, cache_prime_no_ctor);
	ATF_TP_ADD_TC(tp, cache_hardlimit_drain_hook);
	ATF_TP_ADD_TC(tp, cache_zero_without_ctor);
	ATF_TP_ADD_TC(tp, cache_paddr);
	ATF_TP_ADD_TC(tp, cache_big_items_allocator);
	ATF_TP_ADD_TC(tp, cache_bootstrap);
	ATF_TP_ADD_TC(tp, cache_sysctl);
	ATF_TP_ADD_TC(tp, cache_sysctl_threads);
	ATF_TP_ADD_TC(tp, cache_sysctl_nempty);
	ATF_TP_ADD_TC(tp, pserialize);
	ATF_TP_ADD_TC(tp, pool_misuse);
	ATF_TP_ADD_TC(tp, cache_misuse);
	return atf_no_error();
}

/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_pool: pool(3) through the public interface: items, flags, counters,
 * water marks, the hard limit, drain hooks, custom allocators, the
 * statistics records and the printing functions (spec 2 and 10.5).
 */
#include <sys/time.h>
#include <sys/types.h>

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <atf-c.h>

#include <nbmem/nbmem.h>
#include <nbmem/pool.h>

#include "nbpool.h"
#include "nbprint.h"
#include "nbtest.h"

#define	NITEMS	2000

static void
check_counters(struct pool *pp)
{
	ATF_CHECK_EQ(pp->pr_nget - pp->pr_nput, (unsigned long)pp->pr_nout);
	ATF_CHECK_EQ(pp->pr_npagealloc - pp->pr_npagefree,
	    (unsigned long)pp->pr_npages);
	ATF_CHECK(pp->pr_hiwat >= pp->pr_npages);
	ATF_CHECK(pp->pr_nidle <= pp->pr_npages);
	ATF_CHECK_EQ(pp->pr_nout + pp->pr_nitems,
	    pp->pr_npages * pp->pr_itemsperpage);
	ATF_CHECK_EQ(pool_nget(pp), (unsigned int)pp->pr_nget);
	ATF_CHECK_EQ(pool_nput(pp), (unsigned int)pp->pr_nput);
	ATF_CHECK_EQ(pool_chk(pp, "test"), 0);
}

static int
cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;

	return x < y ? -1 : x > y;
}

/* n items from pp: each aligned, none overlapping another. */
static void
get_many(struct pool *pp, void **v, size_t n, size_t align, int flags)
{
	uintptr_t *sorted = malloc(n * sizeof(*sorted));

	ATF_REQUIRE(sorted != NULL);
	for (size_t i = 0; i < n; i++) {
		v[i] = pool_get(pp, flags);
		ATF_REQUIRE(v[i] != NULL);
		ATF_REQUIRE_MSG(((uintptr_t)v[i] & (align - 1)) == 0,
		    "%p not aligned to %zu", v[i], align);
		memset(v[i], (int)(i & 0xff), pp->pr_reqsize);
		sorted[i] = (uintptr_t)v[i];
	}
	qsort(sorted, n, sizeof(*sorted), cmp_ptr);
	for (size_t i = 1; i < n; i++)
		ATF_REQUIRE_MSG(sorted[i] - sorted[i - 1] >= pp->pr_reqsize,
		    "items %#lx and %#lx overlap", (unsigned long)sorted[i - 1],
		    (unsigned long)sorted[i]);
	free(sorted);
}

static void
put_many(struct pool *pp, void **v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const unsigned char *c = v[i];
		for (size_t j = 0; j < pp->pr_reqsize; j++)
			ATF_REQUIRE_MSG(c[j] == (i & 0xff),
			    "item %zu byte %zu changed while out", i, j);
		pool_put(pp, v[i]);
	}
}

ATF_TC_WITHOUT_HEAD(alignment);
ATF_TC_BODY(alignment, tc)
{
	static const size_t sizes[] = { 1, 7, 8, 24, 33, 64, 100, 200, 256,
	    500, 1000, 1024, 1500, 2048, 4000 };
	static const unsigned int aligns[] = { 0, 8, 16, 32, 64, 128, 512 };
	void **v = calloc(NITEMS, sizeof(*v));
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);

	ATF_REQUIRE(v != NULL);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		for (size_t a = 0; a < sizeof(aligns) / sizeof(aligns[0]);
		    a++) {
			struct pool p;
			size_t al = aligns[a] == 0 ? 8 : aligns[a];
			size_t rs = (sizes[s] + al - 1) & ~(al - 1);
			if (rs > ps)
				continue;
			size_t n = rs > 1024 ? 100 : 600;
			pool_init(&p, sizes[s], aligns[a], 0, 0, "t_align",
			    NULL, IPL_NONE);
			ATF_CHECK(p.pr_size >= sizes[s]);
			ATF_CHECK_EQ(p.pr_size % al, 0);
			ATF_CHECK_EQ(p.pr_align, (unsigned int)al);
			get_many(&p, v, n, al, PR_WAITOK);
			check_counters(&p);
			put_many(&p, v, n);
			check_counters(&p);
			ATF_CHECK_EQ(p.pr_nout, 0);
			pool_destroy(&p);
		}
	}
	free(v);
}

ATF_TC_WITHOUT_HEAD(zero);
ATF_TC_BODY(zero, tc)
{
	struct pool p;
	unsigned char *v[64];

	pool_init(&p, 100, 0, 0, 0, "t_zero", NULL, IPL_NONE);
	for (int i = 0; i < 64; i++) {
		v[i] = pool_get(&p, PR_WAITOK);
		memset(v[i], 0xa5, 100);
	}
	for (int i = 0; i < 64; i++)
		pool_put(&p, v[i]);
	for (int i = 0; i < 64; i++) {
		v[i] = pool_get(&p, i % 2 ? PR_WAITOK | PR_ZERO :
		    PR_NOWAIT | PR_ZERO);
		ATF_REQUIRE(v[i] != NULL);
		for (int j = 0; j < 100; j++)
			ATF_REQUIRE_EQ(v[i][j], 0);
	}
	for (int i = 0; i < 64; i++)
		pool_put(&p, v[i]);
	pool_destroy(&p);
}

ATF_TC_WITHOUT_HEAD(counters);
ATF_TC_BODY(counters, tc)
{
	struct pool p;
	void *v[500];
	unsigned int seed = 12345;
	int n = 0;

	pool_init(&p, 48, 0, 0, 0, "t_counters", NULL, IPL_VM);
	for (int i = 0; i < 20000; i++) {
		if (n < 500 && (n == 0 || rand_r(&seed) % 3 != 0))
			v[n++] = pool_get(&p, PR_NOWAIT);
		else {
			int k = rand_r(&seed) % n;
			pool_put(&p, v[k]);
			v[k] = v[--n];
		}
		if (i % 1000 == 0)
			check_counters(&p);
	}
	ATF_CHECK_EQ(p.pr_nout, (unsigned int)n);
	check_counters(&p);
	while (n > 0)
		pool_put(&p, v[--n]);
	check_counters(&p);
	ATF_CHECK_EQ(p.pr_nidle, p.pr_npages);
	ATF_CHECK_EQ(p.pr_nfail, 0);
	pool_destroy(&p);
}

/* ---- the hard limit */

ATF_TC_WITHOUT_HEAD(hardlimit_fail);
ATF_TC_BODY(hardlimit_fail, tc)
{
	struct pool p;
	void *v[10];

	pool_init(&p, 64, 0, 0, 0, "t_hardlimit", NULL, IPL_NONE);
	pool_sethardlimit(&p, 10, NULL, 0);
	ATF_CHECK_EQ(p.pr_hardlimit, 10);
	ATF_CHECK_EQ(p.pr_maxpages, 1);	/* ceil(10 / itemsperpage) */
	for (int i = 0; i < 10; i++)
		ATF_REQUIRE((v[i] = pool_get(&p, PR_NOWAIT)) != NULL);
	ATF_CHECK(pool_get(&p, PR_NOWAIT) == NULL);
	ATF_CHECK(pool_get(&p, PR_WAITOK | PR_LIMITFAIL) == NULL);
	ATF_CHECK_EQ(p.pr_nfail, 2);
	ATF_CHECK_EQ(p.pr_nout, 10);
	pool_put(&p, v[0]);
	ATF_CHECK((v[0] = pool_get(&p, PR_NOWAIT)) != NULL);
	for (int i = 0; i < 10; i++)
		pool_put(&p, v[i]);
	check_counters(&p);
	pool_destroy(&p);
}

struct waiter {
	struct pool	*pool;
	void		*item;
	int		started;
	int		done;
};

static void *
waiter_main(void *arg)
{
	struct waiter *w = arg;

	__atomic_store_n(&w->started, 1, __ATOMIC_SEQ_CST);
	w->item = pool_get(w->pool, PR_WAITOK);
	__atomic_store_n(&w->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* Read the pool's flags through its statistics record (locked). */
static bool
waiter_blocked(void *arg)
{
	struct waiter *w = arg;
	struct pool_sysctl rec[256];
	size_t n = nbmem_pool_sysctl(rec, 256);
	bool wanted = false;

	for (size_t i = 0; i < n && i < 256; i++)
		if (strcmp(rec[i].pr_wchan, w->pool->pr_wchan) == 0)
			wanted = (rec[i].pr_flags & PR_WANTED) != 0;
	return wanted;
}

static bool
waiter_done(void *arg)
{
	struct waiter *w = arg;

	return __atomic_load_n(&w->done, __ATOMIC_SEQ_CST) != 0;
}

ATF_TC_WITHOUT_HEAD(hardlimit_wait);
ATF_TC_BODY(hardlimit_wait, tc)
{
	struct pool p;
	struct waiter w = { .pool = &p };
	pthread_t t;
	void *v[4];

	pool_init(&p, 64, 0, 0, 0, "t_hardwait", NULL, IPL_NONE);
	pool_sethardlimit(&p, 4, NULL, 0);
	for (int i = 0; i < 4; i++)
		v[i] = pool_get(&p, PR_WAITOK);
	ATF_REQUIRE(pthread_create(&t, NULL, waiter_main, &w) == 0);
	nbt_wait_until(waiter_blocked, &w, "the getter to wait at the limit");
	ATF_CHECK(!waiter_done(&w));
	pool_put(&p, v[3]);
	nbt_wait_until(waiter_done, &w, "the getter to get the item back");
	ATF_REQUIRE(pthread_join(t, NULL) == 0);
	ATF_CHECK(w.item == v[3]);
	v[3] = w.item;
	for (int i = 0; i < 4; i++)
		pool_put(&p, v[i]);
	ATF_CHECK_EQ(p.pr_nfail, 0);
	pool_destroy(&p);
}

static void
three_failures(void *arg)
{
	struct pool *pp = arg;

	for (int i = 0; i < 3; i++)
		ATF_CHECK(pool_get(pp, PR_NOWAIT) == NULL);
}

/*
 * A PR_WAITOK get waits at the limit and is served by a put: it did not
 * fail, so it prints nothing (NetBSD warns only for a get it refuses).
 */
static void
wait_at_limit(void *arg)
{
	struct pool *pp = arg;
	struct waiter w = { .pool = pp };
	pthread_t t;
	void *v = pool_get(pp, PR_WAITOK);

	ATF_REQUIRE(pthread_create(&t, NULL, waiter_main, &w) == 0);
	nbt_wait_until(waiter_blocked, &w, "the getter to wait at the limit");
	pool_put(pp, v);
	ATF_REQUIRE(pthread_join(t, NULL) == 0);
	pool_put(pp, w.item);
}

ATF_TC_WITHOUT_HEAD(hardlimit_warning);
ATF_TC_BODY(hardlimit_warning, tc)
{
	struct pool p;
	void *v;

	pool_init(&p, 64, 0, 0, 0, "t_warnwait", NULL, IPL_NONE);
	pool_sethardlimit(&p, 1, "t_warnwait: limit reached", 3600);
	ATF_CHECK_EQ(nbt_stderr_lines(wait_at_limit, &p, "t_warnwait"), 0);
	/* The rate cap is untouched: the first refusal warns. */
	v = pool_get(&p, PR_WAITOK);
	ATF_CHECK_EQ(nbt_stderr_lines(three_failures, &p, "t_warnwait"), 1);
	pool_put(&p, v);
	pool_destroy(&p);

	pool_init(&p, 64, 0, 0, 0, "t_warn", NULL, IPL_NONE);
	v = pool_get(&p, PR_WAITOK);
	/* An hour's rate cap: one line for three failures. */
	pool_sethardlimit(&p, 1, "t_warn: limit reached", 3600);
	ATF_CHECK_EQ(nbt_stderr_lines(three_failures, &p,
	    "pool \"t_warn\": t_warn: limit reached"), 1);
	/* A cap of 0: every failure warns. */
	pool_sethardlimit(&p, 1, "t_warn: again", 0);
	ATF_CHECK_EQ(nbt_stderr_lines(three_failures, &p, "t_warn: again"), 3);
	/* No message: silence. */
	pool_sethardlimit(&p, 1, NULL, 0);
	ATF_CHECK_EQ(nbt_stderr_lines(three_failures, &p, "t_warn"), 0);
	pool_put(&p, v);
	pool_destroy(&p);
}

/* ---- drain hooks */

struct hook {
	struct pool	*pool;
	int		ncalls;
	int		flags[16];
	void		*give[16];	/* items to put back when called */
	int		ngive;
};

static void
drain_hook(void *arg, int flags)
{
	struct hook *h = arg;

	if (h->ncalls < 16)
		h->flags[h->ncalls] = flags;
	h->ncalls++;
	if (h->ngive > 0)
		pool_put(h->pool, h->give[--h->ngive]);
}

ATF_TC_WITHOUT_HEAD(drain_hook_flags);
ATF_TC_BODY(drain_hook_flags, tc)
{
	struct pool p;
	struct hook h = { .pool = &p };
	void *v[3];

	pool_init(&p, 64, 0, 0, 0, "t_drain", NULL, IPL_NONE);
	pool_set_drain_hook(&p, drain_hook, &h);
	pool_sethardlimit(&p, 2, NULL, 0);
	v[0] = pool_get(&p, PR_WAITOK);
	v[1] = pool_get(&p, PR_WAITOK);
	ATF_CHECK_EQ(h.ncalls, 0);

	ATF_CHECK(pool_get(&p, PR_NOWAIT) == NULL);
	ATF_REQUIRE_EQ(h.ncalls, 1);
	ATF_CHECK_EQ(h.flags[0], PR_NOWAIT);
	ATF_CHECK(pool_get(&p, PR_WAITOK | PR_LIMITFAIL | PR_ZERO) == NULL);
	ATF_REQUIRE_EQ(h.ncalls, 2);
	ATF_CHECK_EQ(h.flags[1], PR_WAITOK | PR_LIMITFAIL | PR_ZERO);

	/* The hook gives an item back: the limit is checked again. */
	h.give[h.ngive++] = v[1];
	v[2] = pool_get(&p, PR_WAITOK);
	ATF_CHECK(v[2] != NULL);
	ATF_CHECK_EQ(h.ncalls, 3);
	ATF_CHECK_EQ(h.flags[2], PR_WAITOK);

	/* pool_reclaim calls it with PR_NOWAIT. */
	(void)pool_reclaim(&p);
	ATF_REQUIRE_EQ(h.ncalls, 4);
	ATF_CHECK_EQ(h.flags[3], PR_NOWAIT);
	pool_put(&p, v[0]);
	pool_put(&p, v[2]);
	pool_destroy(&p);
}

/*
 * An allocator that refuses the next `refuse' PR_NOWAIT pages, and the
 * next `refuse_waitok' PR_WAITOK ones (which breaks its contract).
 */
static int refuse, refuse_waitok, nalloc_calls;

static void *
stingy_alloc(struct pool *pp, int flags)
{
	void *v;

	nalloc_calls++;
	if ((flags & PR_NOWAIT) && refuse > 0) {
		refuse--;
		return NULL;
	}
	if ((flags & PR_WAITOK) && refuse_waitok > 0) {
		refuse_waitok--;
		return NULL;
	}
	if (posix_memalign(&v, pp->pr_alloc->pa_pagesz,
	    pp->pr_alloc->pa_pagesz) != 0)
		return NULL;
	return v;
}

static void
stingy_free(struct pool *pp, void *v)
{
	(void)pp;
	free(v);
}

static struct pool_allocator stingy = {
	.pa_alloc = stingy_alloc, .pa_free = stingy_free, .pa_pagesz = 8192,
};

/* A pool over `stingy' with the counting hook. */
static void
stingy_pool(struct pool *pp, struct hook *h, const char *name)
{
	pool_init(pp, 128, 0, 0, 0, name, &stingy, IPL_NONE);
	pool_set_drain_hook(pp, drain_hook, h);
}

/*
 * A get from a new pool over `stingy' that refuses `nowait' PR_NOWAIT
 * and `waitok' PR_WAITOK pages: it fails, after `ncalls' hook calls and
 * `nallocs' page requests.
 */
static void
drainpage_fails(const char *name, int flags, int nowait, int waitok,
    int ncalls, int nallocs)
{
	struct pool q;
	struct hook g = { .pool = &q };

	stingy_pool(&q, &g, name);
	refuse = nowait;
	refuse_waitok = waitok;
	nalloc_calls = 0;
	ATF_CHECK_MSG(pool_get(&q, flags) == NULL, "%s", name);
	ATF_CHECK_EQ_MSG(g.ncalls, ncalls, "%s", name);
	ATF_CHECK_EQ_MSG(nalloc_calls, nallocs, "%s", name);
	ATF_CHECK_EQ_MSG(q.pr_nfail, 1, "%s", name);
	refuse = refuse_waitok = 0;
	pool_destroy(&q);
}

/* The next `n' PR_NOWAIT pages are refused; page requests counted anew. */
static void
refuse_next(int n)
{
	refuse = n;
	nalloc_calls = 0;
}

/* The hook ran `n' times so far, last with PR_NOWAIT. */
#define	CHECK_NOWAIT_HOOK(h, n, nallocs) do {				\
	ATF_CHECK_EQ((h)->ncalls, (n));					\
	ATF_CHECK_EQ((h)->flags[(n) - 1], PR_NOWAIT);			\
	ATF_CHECK_EQ(nalloc_calls, (nallocs));				\
} while (0)

ATF_TC_WITHOUT_HEAD(drain_hook_page);
ATF_TC_BODY(drain_hook_page, tc)
{
	struct pool p;
	struct hook h = { .pool = &p };
	void *v;

	stingy_pool(&p, &h, "t_drainpage");
	/* Refused once: the hook runs, and the second try succeeds. */
	refuse_next(1);
	v = pool_get(&p, PR_NOWAIT);
	ATF_CHECK(v != NULL);
	CHECK_NOWAIT_HOOK(&h, 1, 2);
	pool_put(&p, v);
	pool_destroy(&p);

	/* Refused twice: one hook call, one retry, then NULL. */
	drainpage_fails("t_drainpage2", PR_NOWAIT, 2, 0, 1, 2);
	/*
	 * Only a PR_NOWAIT refusal runs the hook (NetBSD's
	 * pool_allocator_alloc): a PR_WAITOK | PR_LIMITFAIL get whose
	 * allocator breaks its contract fails without it, asked once.
	 */
	drainpage_fails("t_drainpage3", PR_WAITOK | PR_LIMITFAIL, 0, 1, 0, 1);
}

/*
 * The low-water catch-up asks for its pages with PR_NOWAIT too: a page
 * the allocator refuses runs the hook, and is asked for once more, as
 * NetBSD's pool_allocator_alloc does for every no-sleep page request.
 */
ATF_TC_WITHOUT_HEAD(drain_hook_lowat);
ATF_TC_BODY(drain_hook_lowat, tc)
{
	struct pool p;
	struct hook h = { .pool = &p };
	void *v;

	stingy_pool(&p, &h, "t_drainlowat");
	/* Refused once: the hook runs, and the second try succeeds. */
	refuse_next(1);
	pool_setlowat(&p, 1);
	CHECK_NOWAIT_HOOK(&h, 1, 2);
	ATF_CHECK_EQ(p.pr_npages, 1);
	ATF_CHECK(p.pr_nitems >= 1);

	/* Refused twice: one hook call, one retry, the mark left unmet. */
	refuse_next(2);
	pool_setlowat(&p, (int)p.pr_itemsperpage + 1);
	CHECK_NOWAIT_HOOK(&h, 2, 2);
	ATF_CHECK_EQ(p.pr_npages, 1);

	/* After a get, the catch-up runs the hook the same way. */
	refuse_next(1);
	v = pool_get(&p, PR_NOWAIT);
	ATF_REQUIRE(v != NULL);
	CHECK_NOWAIT_HOOK(&h, 3, 2);
	ATF_CHECK_EQ(p.pr_npages, 2);
	refuse_next(0);
	pool_put(&p, v);
	pool_setlowat(&p, 0);
	pool_destroy(&p);
}

/* ---- water marks */

ATF_TC_WITHOUT_HEAD(lowat);
ATF_TC_BODY(lowat, tc)
{
	struct pool p;
	void *v[200];

	pool_init(&p, 256, 0, 0, 0, "t_lowat", NULL, IPL_NONE);
	ATF_CHECK_EQ(p.pr_npages, 0);
	pool_setlowat(&p, 40);
	ATF_CHECK_EQ(p.pr_minitems, 40);
	ATF_CHECK(p.pr_nitems >= 40);
	/* After every get the pool catches up with the mark. */
	for (int i = 0; i < 200; i++) {
		v[i] = pool_get(&p, PR_NOWAIT);
		ATF_REQUIRE(v[i] != NULL);
		ATF_REQUIRE_MSG(p.pr_nitems >= 40, "%u free items after "
		    "get %d", p.pr_nitems, i);
	}
	/* Pages go only while the mark stays met. */
	pool_sethiwat(&p, 0);
	for (int i = 0; i < 200; i++)
		pool_put(&p, v[i]);
	ATF_CHECK(p.pr_nitems >= 40);
	ATF_CHECK(p.pr_npagefree > 0);
	check_counters(&p);
	pool_destroy(&p);
}

ATF_TC_WITHOUT_HEAD(prime);
ATF_TC_BODY(prime, tc)
{
	struct pool p;
	unsigned int want;

	pool_init(&p, 512, 0, 0, 0, "t_prime", NULL, IPL_NONE);
	pool_prime(&p, 50);
	want = (50 + p.pr_itemsperpage - 1) / p.pr_itemsperpage;
	ATF_CHECK_EQ(p.pr_minpages, want);
	ATF_CHECK(p.pr_maxpages >= want + 1);
	ATF_CHECK_EQ(p.pr_npages, want);
	ATF_CHECK(p.pr_nitems >= 50);
	ATF_CHECK_EQ(p.pr_nout, 0);
	/* Reclaim keeps the primed pages. */
	ATF_CHECK_EQ(pool_reclaim(&p), 0);
	ATF_CHECK_EQ(p.pr_npages, want);
	check_counters(&p);
	pool_destroy(&p);
}

/*
 * A page added while the pool has a current page does not replace it
 * (NetBSD's pool_prime_page): after pool_prime the first page primed
 * serves first, then the empty pages from the newest.  104-byte items:
 * 38 a page, 88 bytes of slack, so the three pages are coloured 0, 8
 * and 16 bytes and their first items are at 56, 64 and 72.
 */
ATF_TC_WITHOUT_HEAD(prime_page_order);
ATF_TC_BODY(prime_page_order, tc)
{
	static const uintptr_t want[3] = { 56, 72, 64 };
	struct pool p;
	void *v[3 * 38];
	unsigned int ipp;

	if (sysconf(_SC_PAGESIZE) != 4096)
		atf_tc_skip("the offsets are those of 4 KiB pages");
	pool_init(&p, 104, 0, 0, 0, "t_prime_order", NULL, IPL_NONE);
	ipp = p.pr_itemsperpage;
	ATF_REQUIRE_EQ(ipp, 38);
	pool_prime(&p, (int)(3 * ipp));
	ATF_REQUIRE_EQ(p.pr_npages, 3);
	for (unsigned int i = 0; i < 3 * ipp; i++) {
		v[i] = pool_get(&p, PR_NOWAIT);
		ATF_REQUIRE(v[i] != NULL);
		if (i % ipp == 0)
			ATF_CHECK_EQ_MSG((uintptr_t)v[i] & 4095, want[i / ipp],
			    "page %u", i / ipp);
	}
	ATF_CHECK_EQ(p.pr_npagealloc, 3);
	ATF_CHECK_EQ(pool_chk(&p, "prime_page_order"), 0);
	for (unsigned int i = 0; i < 3 * ipp; i++)
		pool_put(&p, v[i]);
	ATF_CHECK_EQ(pool_chk(&p, "prime_page_order"), 0);
	check_counters(&p);
	pool_destroy(&p);
}

ATF_TC_WITHOUT_HEAD(sethiwat);
ATF_TC_BODY(sethiwat, tc)
{
	struct pool p;
	void **v = calloc(NITEMS, sizeof(*v));
	unsigned int ipp, n;

	ATF_REQUIRE(v != NULL);
	pool_init(&p, 200, 0, 0, 0, "t_hiwat", NULL, IPL_NONE);
	ipp = p.pr_itemsperpage;
	n = 10 * ipp;
	for (unsigned int i = 0; i < n; i++)
		v[i] = pool_get(&p, PR_WAITOK);
	ATF_CHECK_EQ(p.pr_npages, 10);
	/* By default emptied pages stay idle. */
	for (unsigned int i = 0; i < n; i++)
		pool_put(&p, v[i]);
	ATF_CHECK_EQ(p.pr_npages, 10);
	ATF_CHECK_EQ(p.pr_nidle, 10);
	/* A mark of 3 pages' items: the idle pages above go at once. */
	pool_sethiwat(&p, (int)(2 * ipp + 1));
	ATF_CHECK_EQ(p.pr_maxitems, 2 * ipp + 1);
	ATF_CHECK_EQ(p.pr_maxpages, 3);
	ATF_CHECK_EQ(p.pr_npages, 3);
	ATF_CHECK_EQ(p.pr_npagefree, 7);
	/* And pages emptied above the mark are released on put. */
	for (unsigned int i = 0; i < n; i++)
		v[i] = pool_get(&p, PR_WAITOK);
	for (unsigned int i = 0; i < n; i++) {
		pool_put(&p, v[i]);
		ATF_REQUIRE(p.pr_nidle <= 3);
	}
	ATF_CHECK_EQ(p.pr_npages, 3);
	check_counters(&p);
	pool_destroy(&p);
	free(v);
}

/* ---- custom allocators */

static unsigned int big_pages;

static void *
big_alloc(struct pool *pp, int flags)
{
	void *v;

	if (posix_memalign(&v, pp->pr_alloc->pa_pagesz,
	    pp->pr_alloc->pa_pagesz) != 0)
		return NULL;
	big_pages++;
	return v;
}

static void
big_free(struct pool *pp, void *v)
{
	ATF_REQUIRE_EQ((uintptr_t)v % pp->pr_alloc->pa_pagesz, 0);
	big_pages--;
	free(v);
}

static struct pool_allocator big64k = {
	.pa_alloc = big_alloc, .pa_free = big_free, .pa_pagesz = 65536,
};

/* Pages at a page-size offset from 64 KiB boundaries: never aligned. */
static void *
skew_alloc(struct pool *pp, int flags)
{
	size_t sz = pp->pr_alloc->pa_pagesz;
	char *v;

	if (posix_memalign((void **)&v, sz, 2 * sz) != 0)
		return NULL;
	big_pages++;
	return v + 4096;
}

static void
skew_free(struct pool *pp, void *v)
{
	big_pages--;
	free((char *)v - 4096);
}

static struct pool_allocator skew64k = {
	.pa_alloc = skew_alloc, .pa_free = skew_free, .pa_pagesz = 65536,
};

static void
custom_run(struct pool_allocator *pa, int flags, const char *name)
{
	static const size_t sizes[] = { 16, 200, 4000, 9000, 30000, 65536 };
	void **v = calloc(NITEMS, sizeof(*v));

	ATF_REQUIRE(v != NULL);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		struct pool p;
		if ((flags & PR_NOALIGN) == 0 && sizes[s] == 65536)
			continue;	/* no room for an on-page header */
		pool_init(&p, sizes[s], 0, 0, flags, name, pa, IPL_NONE);
		ATF_CHECK_EQ(pa->pa_pagesz, 65536);
		ATF_CHECK(p.pr_itemsperpage >= 1);
		size_t n = 3 * p.pr_itemsperpage + 1;
		if (n > NITEMS)
			n = NITEMS;
		get_many(&p, v, n, 8, PR_WAITOK);
		ATF_CHECK_EQ(big_pages, p.pr_npages);
		check_counters(&p);
		put_many(&p, v, n);
		pool_destroy(&p);
		ATF_CHECK_EQ(big_pages, 0);
	}
	ATF_CHECK_EQ(pa->pa_refcnt, 0);
	free(v);
}

static struct pool_allocator big1m = {
	.pa_alloc = big_alloc, .pa_free = big_free, .pa_pagesz = 1u << 20,
};

/*
 * 1 MiB pages of 192 KiB items on 64 KiB boundaries: 64 KiB are left
 * over, room for a header on the page, but the first item would then
 * be at offset 65536, which a page header does not count in 16 bits.
 * The pool keeps the header off the page instead.
 */
ATF_TC_WITHOUT_HEAD(custom_allocator_1m);
ATF_TC_BODY(custom_allocator_1m, tc)
{
	void *v[11];
	struct pool p;

	pool_init(&p, 3u << 16, 1u << 16, 0, 0, "t_big1m", &big1m, IPL_NONE);
	ATF_CHECK_EQ(p.pr_itemsperpage, 5);
	ATF_CHECK((p.pr_roflags & PR_PHINPAGE) == 0);
	for (size_t i = 0; i < 11; i++) {
		v[i] = pool_get(&p, PR_WAITOK);
		ATF_REQUIRE(v[i] != NULL);
		ATF_CHECK_EQ((uintptr_t)v[i] % (1u << 16), 0);
		memset(v[i], 0x5a, 3u << 16);
	}
	ATF_CHECK_EQ(big_pages, 3);
	ATF_CHECK_EQ(pool_chk(&p, "t_big1m"), 0);
	for (size_t i = 0; i < 11; i++)
		pool_put(&p, v[i]);
	pool_destroy(&p);
	ATF_CHECK_EQ(big_pages, 0);
}

ATF_TC_WITHOUT_HEAD(custom_allocator);
ATF_TC_BODY(custom_allocator, tc)
{
	custom_run(&big64k, 0, "t_big64k");
}

ATF_TC_WITHOUT_HEAD(custom_noalign);
ATF_TC_BODY(custom_noalign, tc)
{
	custom_run(&skew64k, PR_NOALIGN, "t_skew64k");
}

ATF_TC_WITHOUT_HEAD(allocator_shared);
ATF_TC_BODY(allocator_shared, tc)
{
	struct pool a, b;
	void *x, *y;

	pool_init(&a, 100, 0, 0, 0, "t_shared_a", &pool_allocator_nointr,
	    IPL_NONE);
	pool_init(&b, 300, 0, 0, 0, "t_shared_b", &pool_allocator_nointr,
	    IPL_NONE);
	ATF_CHECK(pool_allocator_nointr.pa_refcnt >= 2);
	ATF_CHECK_EQ(pool_allocator_nointr.pa_pagesz,
	    (unsigned int)sysconf(_SC_PAGESIZE));
	x = pool_get(&a, PR_WAITOK);
	y = pool_get(&b, PR_WAITOK);
	pool_put(&a, x);
	pool_put(&b, y);
	pool_destroy(&a);
	pool_destroy(&b);

	struct pool m;
	pool_init(&m, 64, 0, 0, 0, "t_meta", &pool_allocator_meta, IPL_VM);
	x = pool_get(&m, PR_NOWAIT);
	ATF_CHECK(x != NULL);
	pool_put(&m, x);
	pool_destroy(&m);
}

/*
 * An allocator no pool uses any more is set up afresh by the next
 * pool_init(), as in NetBSD (palloc->pa_refcnt++ == 0): a page size
 * changed in between gives the matching mask and shift, and the items
 * of the new pool are found on their pages.
 */
ATF_TC_WITHOUT_HEAD(allocator_reattach);
ATF_TC_BODY(allocator_reattach, tc)
{
	struct pool_allocator pa = {
		.pa_alloc = stingy_alloc, .pa_free = stingy_free,
		.pa_pagesz = 8192,
	};
	struct pool p;
	void *v[64];

	pool_init(&p, 512, 0, 0, 0, "t_reattach", &pa, IPL_NONE);
	ATF_CHECK_EQ(pa.pa_pagemask, ~(uintptr_t)8191);
	ATF_CHECK_EQ(pa.pa_pageshift, 13u);
	v[0] = pool_get(&p, PR_WAITOK);
	pool_put(&p, v[0]);
	pool_destroy(&p);
	ATF_CHECK_EQ(pa.pa_refcnt, 0u);

	pa.pa_pagesz = 32768;
	pool_init(&p, 512, 0, 0, 0, "t_reattach", &pa, IPL_NONE);
	ATF_CHECK_EQ(pa.pa_pagemask, ~(uintptr_t)32767);
	ATF_CHECK_EQ(pa.pa_pageshift, 15u);
	ATF_CHECK_EQ(p.pr_itemsperpage, 64u);
	for (int i = 0; i < 64; i++)
		ATF_REQUIRE((v[i] = pool_get(&p, PR_WAITOK)) != NULL);
	ATF_CHECK_EQ(p.pr_npages, 1u);
	ATF_CHECK_EQ(pool_chk(&p, "reattach"), 0);
	for (int i = 0; i < 64; i++)
		pool_put(&p, v[i]);
	ATF_CHECK_EQ(p.pr_nout, 0u);
	pool_destroy(&p);
}

ATF_TC_WITHOUT_HEAD(notouch);
ATF_TC_BODY(notouch, tc)
{
	struct pool p;
	unsigned char *v[100];

	/* Free items keep their contents: nothing is written into them. */
	pool_init(&p, 32, 0, 0, PR_PSERIALIZE, "t_notouch", NULL, IPL_NONE);
	ATF_CHECK(p.pr_roflags & PR_NOTOUCH);
	ATF_CHECK(p.pr_roflags & PR_USEBMAP);
	ATF_CHECK_EQ(p.pr_size, 32);
	for (int i = 0; i < 100; i++) {
		v[i] = pool_get(&p, PR_WAITOK);
		memset(v[i], 0x5a, 32);
	}
	for (int i = 0; i < 100; i++)
		pool_put(&p, v[i]);
	for (int i = 0; i < 100; i++)
		for (int j = 0; j < 32; j++)
			ATF_REQUIRE_EQ(v[i][j], 0x5a);
	check_counters(&p);
	pool_destroy(&p);
}

/* ---- statistics, drain, printing */

ATF_TC_WITHOUT_HEAD(sysctl);
ATF_TC_BODY(sysctl, tc)
{
	struct pool a, b;
	struct pool_sysctl *rec;
	void *x[3];
	size_t n, m;
	int found = 0;

	pool_init(&b, 100, 0, 0, 0, "t_sysctl_b", NULL, IPL_NONE);
	pool_init(&a, 40, 0, 0, 0, "t_sysctl_a", NULL, IPL_NONE);
	for (int i = 0; i < 3; i++)
		x[i] = pool_get(&a, PR_WAITOK);
	pool_put(&a, x[2]);
	n = nbmem_pool_sysctl(NULL, 0);
	ATF_REQUIRE(n >= 2);
	rec = calloc(n, sizeof(*rec));
	ATF_REQUIRE(rec != NULL);
	m = nbmem_pool_sysctl(rec, n);
	ATF_CHECK_EQ(m, n);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			ATF_CHECK_MSG(strcmp(rec[i - 1].pr_wchan,
			    rec[i].pr_wchan) <= 0, "%s before %s",
			    rec[i - 1].pr_wchan, rec[i].pr_wchan);
		if (strcmp(rec[i].pr_wchan, "t_sysctl_a") == 0) {
			found++;
			ATF_CHECK_EQ(rec[i].pr_nget, 3);
			ATF_CHECK_EQ(rec[i].pr_nput, 1);
			ATF_CHECK_EQ(rec[i].pr_nout, 2);
			ATF_CHECK_EQ(rec[i].pr_size, a.pr_size);
			ATF_CHECK_EQ(rec[i].pr_npages, 1);
			ATF_CHECK_EQ(rec[i].pr_itemsperpage, a.pr_itemsperpage);
			ATF_CHECK_EQ(rec[i].pr_hardlimit, UINT_MAX);
			ATF_CHECK_EQ(rec[i].pr_maxpages, UINT_MAX);
			ATF_CHECK_EQ(rec[i].pr_pagesize,
			    (uint64_t)sysconf(_SC_PAGESIZE));
			ATF_CHECK_EQ(rec[i].pr_cache_meta_size, 0);
		}
		if (strcmp(rec[i].pr_wchan, "t_sysctl_b") == 0)
			found++;
	}
	ATF_CHECK_EQ(found, 2);
	free(rec);
	pool_put(&a, x[0]);
	pool_put(&a, x[1]);
	pool_destroy(&a);
	pool_destroy(&b);
}

ATF_TC_WITHOUT_HEAD(print);
ATF_TC_BODY(print, tc)
{
	struct pool p;
	char want[256];
	void *x, *y;

	pool_init(&p, 64, 0, 0, 0, "t_print", NULL, IPL_NONE);
	x = pool_get(&p, PR_WAITOK);
	y = pool_get(&p, PR_WAITOK);
	pool_put(&p, y);

	prlen = 0;
	pool_printit(&p, "s", pr);
	snprintf(want, sizeof(want), "POOL t_print:%p:64:8:1:%u:1:2:1:1:0:0\n",
	    (void *)&p, p.pr_itemsperpage - 1);
	ATF_CHECK_STREQ(prbuf, want);

	prlen = 0;
	pool_printit(&p, "pcl", pr);
	ATF_CHECK(strstr(prbuf, "POOL t_print") != NULL);
	ATF_CHECK(strstr(prbuf, "partial-page list") != NULL);
	ATF_CHECK(strstr(prbuf, "nget 2, nfail 0, nput 1") != NULL);

	/* 'S' skips pools that never served a get. */
	struct pool q;
	pool_init(&q, 64, 0, 0, 0, "t_print_idle", NULL, IPL_NONE);
	prlen = 0;
	prbuf[0] = '\0';
	pool_printit(&q, "sS", pr);
	ATF_CHECK_EQ(prlen, 0);
	prlen = 0;
	pool_printall("sS", pr);
	ATF_CHECK(strstr(prbuf, "POOL t_print:") != NULL);
	ATF_CHECK(strstr(prbuf, "t_print_idle") == NULL);

	prlen = 0;
	pool_whatis((uintptr_t)x + 5, pr);
	/* NetBSD's line, word for word (ddb's whatis). */
	snprintf(want, sizeof(want), "%p is %p+5 in POOL 't_print' "
	    "(allocated)", (void *)((char *)x + 5), x);
	ATF_CHECK_MSG(strstr(prbuf, want) != NULL, "%s", prbuf);
	prlen = 0;
	pool_whatis((uintptr_t)y, pr);
	ATF_CHECK_MSG(strstr(prbuf, "(free)") != NULL, "%s", prbuf);

	pool_put(&p, x);
	pool_destroy(&p);
	pool_destroy(&q);

	/*
	 * 'c' reports the cache built on a pool (8 KiB objects: 15-object
	 * groups in both CPU modes).
	 */
	pool_cache_t pc = pool_cache_init(8192, 0, 0, 0, "t_print_cache", NULL,
	    IPL_NONE, NULL, NULL, NULL);
	x = pool_cache_get(pc, PR_WAITOK);
	pool_cache_put(pc, x);
	prlen = 0;
	pool_printit(&pc->pc_pool, "c", pr);
	ATF_CHECK_MSG(strstr(prbuf, "group size 15") != NULL, "%s", prbuf);
	/* The one-line form says POOLCACHE for a cache's pool. */
	prlen = 0;
	pool_printit(&pc->pc_pool, "s", pr);
	snprintf(want, sizeof(want), "POOLCACHE t_print_cache:%p:8192:",
	    (void *)&pc->pc_pool);
	ATF_CHECK_MSG(strncmp(prbuf, want, strlen(want)) == 0, "%s", prbuf);
	/*
	 * pool_whatis tells a cached object from one handed out: x went
	 * back to this thread's slot (or its CPU's).
	 */
	prlen = 0;
	pool_whatis((uintptr_t)x, pr);
	ATF_CHECK_MSG(strstr(prbuf, "in POOL 't_print_cache' (cached") !=
	    NULL, "%s", prbuf);
	if (getenv("NBMEM_PERCPU") != NULL &&
	    strcmp(getenv("NBMEM_PERCPU"), "0") == 0)
		ATF_CHECK_MSG(strstr(prbuf, "(cached)") != NULL, "%s", prbuf);
	y = pool_cache_get(pc, PR_WAITOK);
	prlen = 0;
	pool_whatis((uintptr_t)y + 1, pr);
	ATF_CHECK_MSG(strstr(prbuf, "+1 in POOL 't_print_cache' "
	    "(allocated)") != NULL, "%s", prbuf);
	pool_cache_put(pc, y);
	/* Wherever the cache keeps them (slot, aside, depot): cached. */
	{
		enum { M = 200 };
		static void *o[M];
		int ncached = 0;

		for (int i = 0; i < M; i++)
			ATF_REQUIRE((o[i] = pool_cache_get(pc, PR_WAITOK)) !=
			    NULL);
		for (int i = 0; i < M; i++)
			pool_cache_put(pc, o[i]);
		for (int i = 0; i < M; i++) {
			prlen = 0;
			pool_whatis((uintptr_t)o[i], pr);
			ncached += strstr(prbuf, "(cached") != NULL;
		}
		ATF_CHECK_EQ_MSG(ncached, M, "%d of %d put back reported "
		    "cached", ncached, M);
	}
	/* Invalidated: destructed and back in the pool, so free. */
	pool_cache_invalidate(pc);
	prlen = 0;
	pool_whatis((uintptr_t)x, pr);
	ATF_CHECK_MSG(strstr(prbuf, "(free)") != NULL, "%s", prbuf);
	pool_cache_destroy(pc);
}

/*
 * The long form follows NetBSD's pool_print1: POOLCACHE for a cache's
 * pool, the pool's and the allocator's addresses, ioff (where the first
 * item of a page starts), the page lists under NetBSD's titles (only
 * those with pages) and the current page, and for a cache its CPU and
 * cache layer counts whatever the modifiers, its full groups with 'c'.
 */
ATF_TC_WITHOUT_HEAD(print_netbsd_form);
ATF_TC_BODY(print_netbsd_form, tc)
{
	const char *head = "POOL t_pnf: size 64, align 8, ioff 56, roflags 0x";
	const char *chead = "POOLCACHE t_pnf_cache: size 64,";
	struct pool p;
	char want[256];
	void *x;

	pool_init(&p, 64, 0, 0, 0, "t_pnf", NULL, IPL_NONE);
	prlen = 0;
	pool_printit(&p, "p", pr);
	ATF_CHECK_MSG(strstr(prbuf, "\tno current page\n") != NULL, "%s",
	    prbuf);
	x = pool_get(&p, PR_WAITOK);
	prlen = 0;
	pool_printit(&p, "p", pr);
	ATF_CHECK_MSG(strncmp(prbuf, head, strlen(head)) == 0, "%s", prbuf);
	snprintf(want, sizeof(want), "\tpool %p, alloc %p", (void *)&p,
	    (void *)p.pr_alloc);
	ATF_CHECK_MSG(strstr(prbuf, want) != NULL, "%s", prbuf);
	snprintf(want, sizeof(want), "\n\tpartial-page list:\n\t\tpage %p, "
	    "nmissing 1, time ", (void *)((uintptr_t)x & ~(uintptr_t)4095));
	ATF_CHECK_MSG(sysconf(_SC_PAGESIZE) != 4096 ||
	    strstr(prbuf, want) != NULL, "%s", prbuf);
	ATF_CHECK_MSG(strstr(prbuf, "empty page list") == NULL &&
	    strstr(prbuf, "full page list") == NULL, "%s", prbuf);
	ATF_CHECK_MSG(strstr(prbuf, "\tcurpage 0x") != NULL, "%s", prbuf);
	ATF_CHECK_MSG(strstr(prbuf, "cpu layer") == NULL, "%s", prbuf);
	pool_put(&p, x);
	pool_destroy(&p);

	pool_cache_t pc = pool_cache_init(64, 0, 0, 0, "t_pnf_cache", NULL,
	    IPL_NONE, NULL, NULL, NULL);
	enum { M = 3000 };
	static void *o[M];
	for (int i = 0; i < M; i++)
		ATF_REQUIRE((o[i] = pool_cache_get(pc, PR_WAITOK)) != NULL);
	for (int i = 0; i < M; i++)
		pool_cache_put(pc, o[i]);
	prlen = 0;
	pool_printit(&pc->pc_pool, "", pr);
	ATF_CHECK_MSG(strncmp(prbuf, chead, strlen(chead)) == 0, "%s", prbuf);
	ATF_CHECK_MSG(strstr(prbuf, "\tcpu layer hits ") != NULL &&
	    strstr(prbuf, "\tcache layer hits ") != NULL &&
	    strstr(prbuf, "\tcache layer full groups ") != NULL, "%s", prbuf);
	ATF_CHECK_MSG(strstr(prbuf, "full cache groups") == NULL, "%s",
	    prbuf);
	prlen = 0;
	pool_printit(&pc->pc_pool, "c", pr);
	ATF_CHECK_MSG(strstr(prbuf, "\tfull cache groups:\n\t\tgroup 0x") !=
	    NULL && strstr(prbuf, ": avail 15\n\t\t\t0x") != NULL, "%s",
	    prbuf);
	pool_cache_destroy(pc);
}

/*
 * ddb's "show pool" without an address: NetBSD's pool_printit() prints
 * a request for one and returns, it does not fault.
 */
ATF_TC_WITHOUT_HEAD(print_null_pool);
ATF_TC_BODY(print_null_pool, tc)
{
	prlen = 0;
	prbuf[0] = '\0';
	pool_printit(NULL, "", pr);
	ATF_CHECK_STREQ(prbuf, "Must specify a pool to print.\n");
	prlen = 0;
	prbuf[0] = '\0';
	pool_printit(NULL, "s", pr);
	ATF_CHECK_STREQ(prbuf, "Must specify a pool to print.\n");
}

ATF_TC_WITHOUT_HEAD(drain_totalpages);
ATF_TC_BODY(drain_totalpages, tc)
{
	struct pool a, b;
	struct pool *got;
	void *x, *y;
	int base = pool_totalpages();

	pool_init(&a, 64, 0, 0, 0, "t_drain_a", NULL, IPL_NONE);
	pool_init(&b, 64, 0, 0, 0, "t_drain_b", NULL, IPL_NONE);
	x = pool_get(&a, PR_WAITOK);
	y = pool_get(&b, PR_WAITOK);
	ATF_CHECK_EQ(pool_totalpages(), base + 2);
	ATF_CHECK_EQ(pool_totalpages_locked(), base + 2);
	pool_put(&a, x);
	pool_put(&b, y);
	/* The pages are idle but young: drain walks, releases nothing. */
	bool seen_a = false, seen_b = false;
	for (int i = 0; i < 64; i++) {
		ATF_CHECK(!pool_drain(&got));
		if (got == &a)
			seen_a = true;
		if (got == &b)
			seen_b = true;
	}
	ATF_CHECK(seen_a && seen_b);
	ATF_CHECK_EQ(a.pr_npages, 1);
	pool_destroy(&a);
	pool_destroy(&b);
	ATF_CHECK_EQ(pool_totalpages(), base);

	/* A PR_RECURSIVE pool's items out are other pools' pages. */
	struct pool r;
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	pool_init(&r, ps, 0, 0, PR_RECURSIVE, "t_recursive", NULL, IPL_NONE);
	ATF_CHECK(r.pr_roflags & PR_RECURSIVE);
	x = pool_get(&r, PR_WAITOK);
	y = pool_get(&r, PR_WAITOK);
	pool_put(&r, x);
	pool_put(&r, y);
	ATF_CHECK_EQ(r.pr_npages, 2);
	base = pool_totalpages();	/* two idle pages */
	x = pool_get(&r, PR_WAITOK);
	y = pool_get(&r, PR_WAITOK);
	ATF_CHECK_EQ(pool_totalpages(), base - 2);
	pool_put(&r, y);
	ATF_CHECK_EQ(pool_totalpages(), base - 1);
	pool_put(&r, x);
	pool_destroy(&r);
}

/* ---- signal handlers */

static struct pool sigpool;
static volatile sig_atomic_t sig_gets;

static void
on_alarm(int sig)
{
	void *v[4];

	(void)sig;
	nbmem_intr_enter();
	for (int i = 0; i < 4; i++)
		v[i] = pool_get(&sigpool, PR_NOWAIT);
	for (int i = 0; i < 4; i++)
		if (v[i] != NULL) {
			memset(v[i], 0x77, 24);
			pool_put(&sigpool, v[i]);
			sig_gets++;
		}
	nbmem_intr_exit();
}

ATF_TC_WITHOUT_HEAD(signal_handler);
ATF_TC_BODY(signal_handler, tc)
{
	struct sigaction sa;
	struct itimerval it = { { 0, 200 }, { 0, 200 } };
	void *v[64];

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	ATF_REQUIRE(sigaction(SIGALRM, &sa, NULL) == 0);
	pool_init(&sigpool, 24, 0, 0, 0, "t_signal", NULL, IPL_VM);
	ATF_REQUIRE(setitimer(ITIMER_REAL, &it, NULL) == 0);
	/*
	 * Until the handler has run often enough; a sanitizer that defers
	 * signals may make that slow, so after a while one run will do.
	 */
	uint64_t start = nbt_now_ns();
	for (int round = 0; round < 3000 || sig_gets < 100; round++) {
		for (int i = 0; i < 64; i++)
			ATF_REQUIRE((v[i] = pool_get(&sigpool, PR_NOWAIT)) !=
			    NULL);
		for (int i = 0; i < 64; i++)
			pool_put(&sigpool, v[i]);
		uint64_t s = (nbt_now_ns() - start) / 1000000000u;
		if (s >= 5 && sig_gets > 0)
			break;
		ATF_REQUIRE_MSG(s < NBT_WAIT_SECONDS, "no signal handled");
	}
	memset(&it, 0, sizeof(it));
	ATF_REQUIRE(setitimer(ITIMER_REAL, &it, NULL) == 0);
	ATF_CHECK_EQ(sigpool.pr_nout, 0);
	ATF_CHECK_EQ(pool_chk(&sigpool, "signal"), 0);
	pool_destroy(&sigpool);
}

/* ---- fork */

static struct pool forkpool;
static int fork_stop;

static void *
fork_busy(void *arg)
{
	void *v[8];

	(void)arg;
	while (!__atomic_load_n(&fork_stop, __ATOMIC_RELAXED)) {
		for (int i = 0; i < 8; i++)
			v[i] = pool_get(&forkpool, PR_WAITOK);
		for (int i = 0; i < 8; i++)
			pool_put(&forkpool, v[i]);
		(void)pool_reclaim(&forkpool);
	}
	return NULL;
}

/* A child forked while another thread works in a pool can use it. */
ATF_TC_WITHOUT_HEAD(fork_child);
ATF_TC_BODY(fork_child, tc)
{
	pthread_t t;

	pool_init(&forkpool, 1024, 0, 0, 0, "t_fork", NULL, IPL_VM);
	ATF_REQUIRE(pthread_create(&t, NULL, fork_busy, NULL) == 0);
	for (int i = 0; i < 50; i++) {
		pid_t pid = fork();
		ATF_REQUIRE(pid >= 0);
		if (pid == 0) {
			void *v[16];
			for (int j = 0; j < 16; j++)
				if ((v[j] = pool_get(&forkpool, PR_WAITOK)) ==
				    NULL)
					_exit(1);
			for (int j = 0; j < 16; j++)
				pool_put(&forkpool, v[j]);
			_exit(pool_chk(&forkpool, "child") == 0 ? 0 : 2);
		}
		int status;
		ATF_REQUIRE(waitpid(pid, &status, 0) == pid);
		ATF_REQUIRE_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "child %d: status %#x", i, status);
	}
	__atomic_store_n(&fork_stop, 1, __ATOMIC_RELAXED);
	ATF_REQUIRE(pthread_join(t, NULL) == 0);
	pool_destroy(&forkpool);
}

ATF_TC_WITHOUT_HEAD(reinit);
ATF_TC_BODY(reinit, tc)
{
	struct pool p;

	for (int i = 0; i < 3; i++) {
		pool_init(&p, 64 * (size_t)(i + 1), 0, 0, 0, "t_reinit", NULL,
		    IPL_NONE);
		void *v = pool_get(&p, PR_WAITOK);
		pool_put(&p, v);
		pool_destroy(&p);
	}
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, alignment);
	ATF_TP_ADD_TC(tp, zero);
	ATF_TP_ADD_TC(tp, counters);
	ATF_TP_ADD_TC(tp, hardlimit_fail);
	ATF_TP_ADD_TC(tp, hardlimit_wait);
	ATF_TP_ADD_TC(tp, hardlimit_warning);
	ATF_TP_ADD_TC(tp, drain_hook_flags);
	ATF_TP_ADD_TC(tp, drain_hook_page);
	ATF_TP_ADD_TC(tp, drain_hook_lowat);
	ATF_TP_ADD_TC(tp, lowat);
	ATF_TP_ADD_TC(tp, prime);
	ATF_TP_ADD_TC(tp, prime_page_order);
	ATF_TP_ADD_TC(tp, sethiwat);
	ATF_TP_ADD_TC(tp, custom_allocator);
	ATF_TP_ADD_TC(tp, custom_allocator_1m);
	ATF_TP_ADD_TC(tp, custom_noalign);
	ATF_TP_ADD_TC(tp, allocator_shared);
	ATF_TP_ADD_TC(tp, allocator_reattach);
	ATF_TP_ADD_TC(tp, notouch);
	ATF_TP_ADD_TC(tp, sysctl);
	ATF_TP_ADD_TC(tp, print);
	ATF_TP_ADD_TC(tp, print_netbsd_form);
	ATF_TP_ADD_TC(tp, print_null_pool);
	ATF_TP_ADD_TC(tp, drain_totalpages);
	ATF_TP_ADD_TC(tp, signal_handler);
	ATF_TP_ADD_TC(tp, fork_child);
	ATF_TP_ADD_TC(tp, reinit);
	return atf_no_error();
}

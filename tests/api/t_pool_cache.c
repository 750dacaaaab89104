/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_pool_cache: pool_cache(3) on one or two threads: when constructors
 * and destructors run (the table of pool_cache(3)), constructor
 * failure, objects crossing threads, thread-exit flushes, invalidation,
 * PR_ZERO, paddr, group sizes, statistics and the forwarded setters.
 *
 * Exact counts need to know which objects sit in which slot, so the
 * tests that check them run with per-thread slots (NBMEM_PERCPU=0, read
 * once per process at the first cache; each test case is a process of
 * its own): with per-CPU slots a thread that migrates between a put and
 * a get meets another CPU's slot.  t_pool_cache_mt and the white-box
 * tests cover the per-CPU mode.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <atf-c.h>

#include <nbmem/pool.h>

#include "nbdebug.h"
#include "nbtest.h"

#define	OBJSIZE		64
#define	MAGIC		0x6f626a21u	/* "obj!" */

struct counts {
	unsigned int	nctor;
	unsigned int	ndtor;
	int		fail;		/* constructor fails when set */
};

static int
ctor(void *arg, void *obj, int flags)
{
	struct counts *c = arg;

	if (c->fail)
		return 1;
	__atomic_fetch_add(&c->nctor, 1, __ATOMIC_RELAXED);
	*(uint32_t *)obj = MAGIC;
	return 0;
}

static void
dtor(void *arg, void *obj)
{
	struct counts *c = arg;

	ATF_CHECK_EQ(*(uint32_t *)obj, MAGIC);
	*(uint32_t *)obj = 0;
	__atomic_fetch_add(&c->ndtor, 1, __ATOMIC_RELAXED);
}

static unsigned int
nctor(struct counts *c)
{
	return __atomic_load_n(&c->nctor, __ATOMIC_RELAXED);
}

static unsigned int
ndtor(struct counts *c)
{
	return __atomic_load_n(&c->ndtor, __ATOMIC_RELAXED);
}

static pool_cache_t
mkcache(const char *name, struct counts *c, unsigned int flags, int ipl)
{
	pool_cache_t pc = pool_cache_init(OBJSIZE, 0, 0, flags, name, NULL,
	    ipl, ctor, dtor, c);

	ATF_REQUIRE(pc != NULL);
	return pc;
}

static void
per_thread_slots(void)
{
	ATF_REQUIRE(setenv("NBMEM_PERCPU", "0", 1) == 0);
}

/*
 * A check of how the per-thread slots count and hold objects: an
 * AddressSanitizer build sends every cache around its CPU layer, so that
 * cached objects can be poisoned (nbvalgrind.h); nothing to check there.
 */
static void
cpu_layer_or_skip(void)
{
	if (NBT_ASAN)
		atf_tc_skip("AddressSanitizer build: caches have no CPU layer");
}

/* o[from..to) = gets; puts of o[from..to). */
static void
get_range(pool_cache_t pc, void **o, int from, int to, int flags)
{
	for (int i = from; i < to; i++) {
		o[i] = pool_cache_get(pc, flags);
		ATF_REQUIRE(o[i] != NULL);
	}
}

static void
put_range(pool_cache_t pc, void **o, int from, int to)
{
	for (int i = from; i < to; i++)
		pool_cache_put(pc, o[i]);
}

/* The statistics record of the pool called `name'. */
static struct pool_sysctl
stats(const char *name)
{
	static struct pool_sysctl ps[512];
	size_t n = nbmem_pool_sysctl(ps, 512);

	ATF_REQUIRE(n <= 512);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(ps[i].pr_wchan, name) == 0)
			return ps[i];
	}
	atf_tc_fail("no statistics record for \"%s\"", name);
}

ATF_TC_WITHOUT_HEAD(ctor_dtor_table);
ATF_TC_BODY(ctor_dtor_table, tc)
{
	per_thread_slots();
	struct counts c = { 0, 0, 0 };
	pool_cache_t pc = mkcache("t-ctor", &c, 0, IPL_NONE);
	void *o[40];

	/* Misses of both layers construct. */
	for (int i = 0; i < 40; i++) {
		o[i] = pool_cache_get(pc, PR_WAITOK);
		ATF_REQUIRE(o[i] != NULL);
		ATF_CHECK_EQ(*(uint32_t *)o[i], MAGIC);
	}
	ATF_CHECK_EQ(nctor(&c), 40);
	ATF_CHECK_EQ(pool_cache_nget(pc), 40);
	/* Puts into groups destruct nothing. */
	put_range(pc, o, 0, 40);
	ATF_CHECK_EQ(ndtor(&c), 0);
	ATF_CHECK_EQ(pool_cache_nput(pc), 0);
	/* Gets served by the cache construct nothing. */
	get_range(pc, o, 0, 40, PR_NOWAIT);
	ATF_CHECK_EQ(nctor(&c), 40);
	ATF_CHECK_EQ(pool_cache_nget(pc), 40);
	/* destruct_object: destructor, then the pool. */
	pool_cache_destruct_object(pc, o[0]);
	ATF_CHECK_EQ(ndtor(&c), 1);
	ATF_CHECK_EQ(pool_cache_nput(pc), 1);
	put_range(pc, o, 1, 40);
	ATF_CHECK_EQ(ndtor(&c), 1);
	/* Invalidate destructs every cached object. */
	pool_cache_invalidate(pc);
	ATF_CHECK_EQ(ndtor(&c), 40);
	ATF_CHECK_EQ(pc->pc_pool.pr_nout, 0);
	/* Destroy destructs what is cached again. */
	get_range(pc, o, 0, 20, PR_WAITOK);
	ATF_CHECK_EQ(nctor(&c), 60);
	put_range(pc, o, 0, 20);
	pool_cache_destroy(pc);
	ATF_CHECK_EQ(ndtor(&c), 60);
}

ATF_TC_WITHOUT_HEAD(ctor_failure);
ATF_TC_BODY(ctor_failure, tc)
{
	struct counts c = { 0, 0, 1 };
	pool_cache_t pc = mkcache("t-ctorfail", &c, 0, IPL_NONE);
	unsigned int nout = pc->pc_pool.pr_nout;

	/* NULL even with PR_WAITOK; the raw object went back to the pool. */
	ATF_CHECK(pool_cache_get(pc, PR_WAITOK) == NULL);
	ATF_CHECK(pool_cache_get(pc, PR_NOWAIT) == NULL);
	ATF_CHECK_EQ(pc->pc_pool.pr_nout, nout);
	ATF_CHECK_EQ(pool_cache_nget(pc), 2);
	ATF_CHECK_EQ(pool_cache_nput(pc), 2);
	ATF_CHECK_EQ(ndtor(&c), 0);
	c.fail = 0;
	void *o = pool_cache_get(pc, PR_WAITOK);
	ATF_REQUIRE(o != NULL);
	pool_cache_put(pc, o);
	pool_cache_destroy(pc);
	ATF_CHECK_EQ(nctor(&c), 1);
	ATF_CHECK_EQ(ndtor(&c), 1);
}

/* ---- objects crossing threads */

struct xfer {
	pool_cache_t	pc;
	void		*o[30];
	int		n;
};

static void *
put_all(void *arg)
{
	struct xfer *x = arg;

	for (int i = 0; i < x->n; i++)
		pool_cache_put(x->pc, x->o[i]);
	return NULL;
}

static void *
get_put_exit(void *arg)
{
	struct xfer *x = arg;

	for (int i = 0; i < x->n; i++)
		x->o[i] = pool_cache_get(x->pc, PR_WAITOK);
	for (int i = 0; i < x->n; i++)
		pool_cache_put(x->pc, x->o[i]);
	return NULL;	/* the thread's groups go to the depot */
}

ATF_TC_WITHOUT_HEAD(cross_thread);
ATF_TC_BODY(cross_thread, tc)
{
	per_thread_slots();
	struct counts c = { 0, 0, 0 };
	pool_cache_t pc = mkcache("t-cross", &c, 0, IPL_NONE);
	struct xfer x = { .pc = pc, .n = 30 };
	pthread_t t;

	/* Got here, put there: back here only after that thread exits. */
	for (int i = 0; i < x.n; i++)
		x.o[i] = pool_cache_get(pc, PR_WAITOK);
	ATF_REQUIRE(pthread_create(&t, NULL, put_all, &x) == 0);
	ATF_REQUIRE(pthread_join(t, NULL) == 0);
	ATF_CHECK_EQ(nctor(&c), 30);
	ATF_CHECK_EQ(pc->pc_pool.pr_nout, 30);
	for (int i = 0; i < x.n; i++) {
		void *o = pool_cache_get(pc, PR_WAITOK);
		bool found = false;
		for (int j = 0; j < x.n; j++)
			found |= o == x.o[j];
		ATF_CHECK_MSG(found, "object %p did not come from the exited "
		    "thread's groups", o);
	}
	ATF_CHECK_EQ(nctor(&c), 30);
	ATF_CHECK_EQ(pool_cache_nget(pc), 30);
	for (int i = 0; i < x.n; i++)
		pool_cache_put(pc, x.o[i]);
	pool_cache_destroy(pc);
	ATF_CHECK_EQ(ndtor(&c), 30);
}

ATF_TC_WITHOUT_HEAD(thread_exit_flush);
ATF_TC_BODY(thread_exit_flush, tc)
{
	per_thread_slots();
	struct counts c = { 0, 0, 0 };
	pool_cache_t pc = mkcache("t-exit", &c, 0, IPL_NONE);
	struct xfer x = { .pc = pc, .n = 25 };
	pthread_t t;

	ATF_REQUIRE(pthread_create(&t, NULL, get_put_exit, &x) == 0);
	ATF_REQUIRE(pthread_join(t, NULL) == 0);
	/* 25 objects: one full group (15) and a partial one (10). */
	struct pool_sysctl ps = stats("t-exit");
	ATF_CHECK_EQ(ps.pr_cache_nfull, 1);
	ATF_CHECK_EQ(ps.pr_cache_npartial, 1);
	ATF_CHECK_EQ(ps.pr_nout, 25);
	/* Another thread sees them without constructing. */
	void *o[25];
	get_range(pc, o, 0, 25, PR_WAITOK);
	ATF_CHECK_EQ(nctor(&c), 25);
	ATF_CHECK_EQ(pool_cache_nget(pc), 25);
	put_range(pc, o, 0, 25);
	pool_cache_destroy(pc);
	ATF_CHECK_EQ(ndtor(&c), 25);
}

/* A thread that fills its groups and waits, alive, while we invalidate. */
struct holder {
	pool_cache_t	pc;
	int		n;
	int		state;		/* 1: groups filled; 2: may exit */
};

static bool
holder_ready(void *arg)
{
	return __atomic_load_n(&((struct holder *)arg)->state,
	    __ATOMIC_ACQUIRE) == 1;
}

static void *
holder_main(void *arg)
{
	struct holder *h = arg;
	void *o[20];

	for (int i = 0; i < h->n; i++)
		o[i] = pool_cache_get(h->pc, PR_WAITOK);
	for (int i = 0; i < h->n; i++)
		pool_cache_put(h->pc, o[i]);
	__atomic_store_n(&h->state, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&h->state, __ATOMIC_ACQUIRE) != 2)
		usleep(1000);
	/* The groups were taken: this get constructs anew. */
	o[0] = pool_cache_get(h->pc, PR_WAITOK);
	pool_cache_put(h->pc, o[0]);
	return NULL;
}

ATF_TC_WITHOUT_HEAD(invalidate_exact);
ATF_TC_BODY(invalidate_exact, tc)
{
	struct counts c = { 0, 0, 0 };
	pool_cache_t pc = mkcache("t-inval", &c, 0, IPL_NONE);
	struct holder h = { .pc = pc, .n = 7 };
	pthread_t t;
	void *o[40];

	ATF_REQUIRE(pthread_create(&t, NULL, holder_main, &h) == 0);
	nbt_wait_until(holder_ready, &h, "the holder thread");
	get_range(pc, o, 0, 40, PR_WAITOK);
	put_range(pc, o, 10, 40);
	/*
	 * Per-thread slots: 30 cached here, 7 in the live holder's groups,
	 * 10 in use.  Per-CPU slots: the same, wherever they sit.
	 */
	unsigned int made = nctor(&c);
	ATF_CHECK(made >= 40 && made <= 47);
	pool_cache_invalidate(pc);
	ATF_CHECK_EQ(ndtor(&c), made - 10);
	ATF_CHECK_EQ(pc->pc_pool.pr_nout, 10);
	for (int i = 0; i < 10; i++)
		ATF_CHECK_EQ(*(uint32_t *)o[i], MAGIC);
	__atomic_store_n(&h.state, 2, __ATOMIC_RELEASE);
	ATF_REQUIRE(pthread_join(t, NULL) == 0);
	/* The holder's groups were taken: its next get constructed. */
	ATF_CHECK_EQ(nctor(&c), made + 1);
	put_range(pc, o, 0, 10);
	pool_cache_destroy(pc);
	ATF_CHECK_EQ(ndtor(&c), made + 1);
}

ATF_TC_WITHOUT_HEAD(zero_without_ctor);
ATF_TC_BODY(zero_without_ctor, tc)
{
	per_thread_slots();
	pool_cache_t pc = pool_cache_init(200, 0, 0, 0, "t-zero", NULL,
	    IPL_NONE, NULL, NULL, NULL);
	unsigned char *p, *q;

	ATF_REQUIRE(pc != NULL);
	for (int round = 0; round < 40; round++) {
		p = pool_cache_get(pc, PR_WAITOK | PR_ZERO);
		ATF_REQUIRE(p != NULL);
		for (int i = 0; i < 200; i++)
			ATF_REQUIRE_EQ_MSG(p[i], 0, "byte %d of %p round %d",
			    i, p, round);
		memset(p, 0xa5, 200);
		pool_cache_put(pc, p);
		/* The same object, a cache hit, zeroed again. */
		q = pool_cache_get(pc, PR_NOWAIT | PR_ZERO);
		ATF_REQUIRE(q == p);
		for (int i = 0; i < 200; i++)
			ATF_REQUIRE_EQ(q[i], 0);
		memset(q, 0x5a, 200);
		pool_cache_put(pc, q);
	}
	ATF_CHECK_EQ(pool_cache_nget(pc), 1);
	pool_cache_destroy(pc);
}

/*
 * A miss hands the get's flags to pool_get() as they are, PR_ZERO
 * included (NetBSD's pool_cache_get_slow): the pool's drain hook, called
 * at the hard limit, sees exactly the flags the caller gave.
 */
static int zero_hook_flags[4], zero_hook_calls;

static void
zero_hook(void *arg, int flags)
{
	(void)arg;
	if (zero_hook_calls < 4)
		zero_hook_flags[zero_hook_calls] = flags;
	zero_hook_calls++;
}

ATF_TC_WITHOUT_HEAD(zero_drain_hook_flags);
ATF_TC_BODY(zero_drain_hook_flags, tc)
{
	pool_cache_t pc = pool_cache_init(64, 0, 0, 0, "t-zerohook", NULL,
	    IPL_NONE, NULL, NULL, NULL);
	void *o;

	ATF_REQUIRE(pc != NULL);
	pool_cache_set_drain_hook(pc, zero_hook, NULL);
	pool_cache_sethardlimit(pc, 1, NULL, 0);
	o = pool_cache_get(pc, PR_WAITOK | PR_ZERO);
	ATF_REQUIRE(o != NULL);
	ATF_CHECK(pool_cache_get(pc, PR_NOWAIT | PR_ZERO) == NULL);
	ATF_CHECK(pool_cache_get(pc, PR_WAITOK | PR_LIMITFAIL | PR_ZERO) ==
	    NULL);
	ATF_REQUIRE_EQ(zero_hook_calls, 2);
	ATF_CHECK_EQ(zero_hook_flags[0], PR_NOWAIT | PR_ZERO);
	ATF_CHECK_EQ(zero_hook_flags[1], PR_WAITOK | PR_LIMITFAIL | PR_ZERO);
	pool_cache_put(pc, o);
	pool_cache_destroy(pc);
}

ATF_TC_WITHOUT_HEAD(paddr);
ATF_TC_BODY(paddr, tc)
{
	per_thread_slots();
	pool_cache_t pc = pool_cache_init(32, 0, 0, 0, "t-paddr", NULL,
	    IPL_VM, NULL, NULL, NULL);
	paddr_t pa = 0;

	/* A process has no physical addresses: always the invalid one. */
	void *o = pool_cache_get_paddr(pc, PR_WAITOK, &pa);
	ATF_CHECK_EQ(pa, POOL_PADDR_INVALID);
	pool_cache_put_paddr(pc, o, 0x1000);
	pa = 0;
	void *o2 = pool_cache_get_paddr(pc, PR_NOWAIT, &pa);
	ATF_CHECK(o2 == o);
	ATF_CHECK_EQ(pa, POOL_PADDR_INVALID);
	pool_cache_put(pc, o2);
	pool_cache_destroy(pc);
}

ATF_TC_WITHOUT_HEAD(group_sizes);
ATF_TC_BODY(group_sizes, tc)
{
	cpu_layer_or_skip();
	per_thread_slots();
	pool_cache_t n = pool_cache_init(16, 0, 0, 0, "t-grpnormal", NULL,
	    IPL_NONE, NULL, NULL, NULL);
	pool_cache_t l = pool_cache_init(16, 0, 0, PR_LARGECACHE,
	    "t-grplarge", NULL, IPL_NONE, NULL, NULL, NULL);
	void *o[200];

	ATF_CHECK_EQ(stats("t-grpnormal").pr_cache_meta_size, 15);
	ATF_CHECK_EQ(stats("t-grplarge").pr_cache_meta_size, 63);
	/*
	 * As NetBSD, the cache's flags go to its pool: the flag shows in
	 * pr_roflags and in the record vmstat -m prints.
	 */
	ATF_CHECK((l->pc_pool.pr_roflags & PR_LARGECACHE) != 0);
	ATF_CHECK((stats("t-grplarge").pr_flags & PR_LARGECACHE) != 0);
	ATF_CHECK((n->pc_pool.pr_roflags & PR_LARGECACHE) == 0);
	/* A group really holds that many: 2 groups stay on the thread. */
	get_range(l, o, 0, 200, PR_WAITOK);
	put_range(l, o, 0, 200);
	struct pool_sysctl ps = stats("t-grplarge");
	ATF_CHECK_EQ(ps.pr_cache_nfull, (200 - 63) / 63);
	pool_cache_destroy(l);
	pool_cache_destroy(n);
}

ATF_TC_WITHOUT_HEAD(stats_relations);
ATF_TC_BODY(stats_relations, tc)
{
	cpu_layer_or_skip();
	per_thread_slots();
	pool_cache_t pc = pool_cache_init(48, 0, 0, 0, "t-stats", NULL,
	    IPL_NONE, NULL, NULL, NULL);
	void *o[100];
	uint64_t ops = 0;

	for (int round = 0; round < 5; round++) {
		int n = 20 * (round + 1);
		for (int i = 0; i < n; i++, ops++)
			o[i] = pool_cache_get(pc, PR_WAITOK);
		for (int i = 0; i < n; i++, ops++)
			pool_cache_put(pc, o[i]);
	}
	struct pool_sysctl ps = stats("t-stats");
	ATF_CHECK_EQ(ps.pr_cache_nhit_pcpu + ps.pr_cache_nmiss_pcpu, ops);
	ATF_CHECK_EQ(ps.pr_cache_nhit_global + ps.pr_cache_nmiss_global,
	    ps.pr_cache_nmiss_pcpu);
	/* Each object came from the pool once: those gets went there. */
	ATF_CHECK_EQ(ps.pr_nget, 100);
	ATF_CHECK(ps.pr_cache_nmiss_global >= 100);
	ATF_CHECK(ps.pr_cache_nhit_pcpu > ps.pr_cache_nmiss_pcpu);
	pool_cache_destroy(pc);
}

ATF_TC_WITHOUT_HEAD(big_objects);
ATF_TC_BODY(big_objects, tc)
{
	pool_cache_t pc = pool_cache_init(20000, 0, 0, 0, "t-big", NULL,
	    IPL_NONE, NULL, NULL, NULL);
	void *o[4];

	ATF_CHECK_EQ(pc->pc_pool.pr_alloc->pa_pagesz, 32768);
	ATF_CHECK((pc->pc_pool.pr_roflags & PR_NOALIGN) != 0);
	for (int i = 0; i < 4; i++) {
		o[i] = pool_cache_get(pc, PR_WAITOK);
		memset(o[i], i, 20000);
	}
	put_range(pc, o, 0, 4);
	pool_cache_destroy(pc);
}

/* Caller storage, and the setters that forward to the pool. */
static struct pool_cache boot_pc;

ATF_TC_WITHOUT_HEAD(bootstrap_and_setters);
ATF_TC_BODY(bootstrap_and_setters, tc)
{
	void *a, *b;

	pool_cache_bootstrap(&boot_pc, 100, 0, 0, 0, "t-boot", NULL, IPL_VM,
	    NULL, NULL, NULL);
	ATF_CHECK(boot_pc.pc_pool.pr_cache == &boot_pc);
	pool_cache_sethardlimit(&boot_pc, 2, NULL, 0);
	ATF_CHECK_EQ(boot_pc.pc_pool.pr_hardlimit, 2);
	a = pool_cache_get(&boot_pc, PR_NOWAIT);
	b = pool_cache_get(&boot_pc, PR_NOWAIT);
	ATF_REQUIRE(a != NULL && b != NULL);
	ATF_CHECK(pool_cache_get(&boot_pc, PR_NOWAIT) == NULL);
	ATF_CHECK(pool_cache_get(&boot_pc, PR_WAITOK | PR_LIMITFAIL) == NULL);
	pool_cache_put(&boot_pc, a);
	pool_cache_put(&boot_pc, b);
	pool_cache_setlowat(&boot_pc, 5);
	ATF_CHECK_EQ(boot_pc.pc_pool.pr_minitems, 5);
	pool_cache_prime(&boot_pc, 3);
	ATF_CHECK(boot_pc.pc_pool.pr_minpages >= 1);
	pool_cache_bootstrap_destroy(&boot_pc);
}

/* The pool's own reclaim and sethiwat reach the cache. */
ATF_TC_WITHOUT_HEAD(pool_reclaim_invalidates);
ATF_TC_BODY(pool_reclaim_invalidates, tc)
{
	struct counts c = { 0, 0, 0 };
	pool_cache_t pc = mkcache("t-reclaim", &c, 0, IPL_NONE);
	void *o[300];

	pool_cache_sethiwat(pc, 0);
	get_range(pc, o, 0, 300, PR_WAITOK);
	put_range(pc, o, 0, 300);
	unsigned int npages = pc->pc_pool.pr_npages;
	ATF_REQUIRE(npages > 1);
	(void)pool_cache_reclaim(pc);
	ATF_CHECK_EQ(ndtor(&c), 300);
	ATF_CHECK_EQ(pc->pc_pool.pr_nout, 0);
	/* With a high-water mark of 0, empty pages go at once. */
	ATF_CHECK_EQ(pc->pc_pool.pr_npages, 0);
	pool_cache_destroy(pc);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, ctor_dtor_table);
	ATF_TP_ADD_TC(tp, ctor_failure);
	ATF_TP_ADD_TC(tp, cross_thread);
	ATF_TP_ADD_TC(tp, thread_exit_flush);
	ATF_TP_ADD_TC(tp, invalidate_exact);
	ATF_TP_ADD_TC(tp, zero_without_ctor);
	ATF_TP_ADD_TC(tp, zero_drain_hook_flags);
	ATF_TP_ADD_TC(tp, paddr);
	ATF_TP_ADD_TC(tp, group_sizes);
	ATF_TP_ADD_TC(tp, stats_relations);
	ATF_TP_ADD_TC(tp, big_objects);
	ATF_TP_ADD_TC(tp, bootstrap_and_setters);
	ATF_TP_ADD_TC(tp, pool_reclaim_invalidates);
	return atf_no_error();
}

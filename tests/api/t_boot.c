/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_boot: the entry points NetBSD's kernel calls while it starts
 * (reference specification, sections 1.2, 1.4.5, 2.1 and 3.1), which a
 * process does not need but ported code calls.  Each must link, accept
 * being called again, and leave the allocators working.  The headers
 * are included as ported code includes them.  Each case runs in a
 * process of its own, so "before any pool" means what it says.
 */
#include <sys/mman.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <sys/pool.h>

#include <atf-c.h>

#include <nbmem/nbmem.h>

#include "nbtest.h"

#define	NTHREADS	4
#define	NCALLS		1000
/* The reclaim hook table holds 64 (nbmem.h); room to spare. */
#define	NHOOKS_MAX	128

/* ---- helpers */

static void
noop_hook(void *arg)
{
	(void)arg;
}

/*
 * How many reclaim hooks may still be registered: fill the table, then
 * give every slot back.  Call it from one thread, with no other thread
 * inside the library.
 */
static int
hook_slots_free(void)
{
	int h[NHOOKS_MAX], n = 0;

	while (n < NHOOKS_MAX &&
	    (h[n] = nbmem_reclaim_hook_add(noop_hook, NULL)) > 0)
		n++;
	for (int i = 0; i < n; i++)
		nbmem_reclaim_hook_remove(h[i]);
	return n;
}

/* How many pools nbmem_pool_sysctl() lists under the name `name'. */
static unsigned int
pools_named(const char *name)
{
	static struct pool_sysctl ps[512];
	size_t n = nbmem_pool_sysctl(ps, 512);
	unsigned int found = 0;

	ATF_REQUIRE(n <= 512);
	for (size_t i = 0; i < n; i++)
		if (strcmp(ps[i].pr_wchan, name) == 0)
			found++;
	return found;
}

/*
 * A pool whose page headers are outside its pages (PR_NOTOUCH), so it
 * needs the header pools pool_subsystem_init() creates: fill two pages,
 * empty them, and check the counts.
 */
static void
offpage_pool_works(const char *name)
{
	struct pool p;
	void *item[2 * 4096 / 64];
	unsigned int n;

	memset(&p, 0, sizeof(p));
	pool_init(&p, 64, 0, 0, PR_NOTOUCH, name, NULL, IPL_NONE);
	n = 2 * p.pr_itemsperpage;
	ATF_REQUIRE(n <= sizeof(item) / sizeof(item[0]));
	for (unsigned int i = 0; i < n; i++) {
		item[i] = pool_get(&p, PR_WAITOK);
		ATF_REQUIRE(item[i] != NULL);
		memset(item[i], 0xa5, 64);
	}
	ATF_CHECK_EQ(p.pr_nout, n);
	ATF_CHECK_EQ(p.pr_npages, 2);
	ATF_CHECK_EQ(pool_chk(&p, name), 0);
	for (unsigned int i = 0; i < n; i++)
		pool_put(&p, item[i]);
	ATF_CHECK_EQ(p.pr_nout, 0);
	pool_destroy(&p);
}

/* ---- pool_subsystem_init (2.1) */

ATF_TC_WITHOUT_HEAD(pool_subsystem_init_first);
ATF_TC_BODY(pool_subsystem_init_first, tc)
{
	int before, after;

	/*
	 * No pool yet.  The set-up registers the pools' reclaim hook:
	 * one slot of the table, taken by the first call only.
	 */
	before = hook_slots_free();
	ATF_REQUIRE(before > 0);
	pool_subsystem_init();
	after = hook_slots_free();
	ATF_CHECK_EQ(after, before - 1);
	for (int i = 0; i < NCALLS; i++)
		pool_subsystem_init();
	ATF_CHECK_EQ(hook_slots_free(), after);

	offpage_pool_works("boot-first");
	pool_subsystem_init();
	ATF_CHECK_EQ(hook_slots_free(), after);
	/* The header pools were made once: each is listed once. */
	ATF_CHECK_EQ(pools_named("phpool-64"), 1);
	ATF_CHECK_EQ(pools_named("phpool-4096"), 1);
}

static pthread_barrier_t pool_start;

static void *
pool_init_worker(void *arg)
{
	(void)pthread_barrier_wait(&pool_start);
	for (int i = 0; i < NCALLS; i++)
		pool_subsystem_init();
	offpage_pool_works(arg);
	pool_subsystem_init();
	return NULL;
}

ATF_TC_WITHOUT_HEAD(pool_subsystem_init_threads);
ATF_TC_BODY(pool_subsystem_init_threads, tc)
{
	static char names[NTHREADS][8] = { "boot-t0", "boot-t1",
	    "boot-t2", "boot-t3" };
	pthread_t t[NTHREADS];
	int before = hook_slots_free();

	/* The first calls race: one does the work, the others wait. */
	ATF_REQUIRE(pthread_barrier_init(&pool_start, NULL, NTHREADS) == 0);
	for (int i = 0; i < NTHREADS; i++)
		ATF_REQUIRE(pthread_create(&t[i], NULL, pool_init_worker,
		    names[i]) == 0);
	for (int i = 0; i < NTHREADS; i++)
		ATF_REQUIRE(pthread_join(t[i], NULL) == 0);
	pthread_barrier_destroy(&pool_start);
	ATF_CHECK_EQ(hook_slots_free(), before - 1);
	ATF_CHECK_EQ(pools_named("phpool-64"), 1);
	offpage_pool_works("boot-after");
}

/* ---- pool_cache_cpu_init (3.1) */

#define	NOBJ		100
#define	OBJ_MAGIC	0xc0ffee11u

static unsigned int nctor, ndtor, nbad;

static int
obj_ctor(void *arg, void *obj, int flags)
{
	(void)arg;
	(void)flags;
	*(uint32_t *)obj = OBJ_MAGIC;
	__atomic_add_fetch(&nctor, 1, __ATOMIC_RELAXED);
	return 0;
}

static void
obj_dtor(void *arg, void *obj)
{
	(void)arg;
	if (*(uint32_t *)obj != OBJ_MAGIC)
		__atomic_add_fetch(&nbad, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&ndtor, 1, __ATOMIC_RELAXED);
}

/* NOBJ gets, every object constructed, then NOBJ puts. */
static void *
cache_round(void *arg)
{
	pool_cache_t pc = arg;
	void *o[NOBJ];

	for (int i = 0; i < NOBJ; i++) {
		o[i] = pool_cache_get(pc, PR_WAITOK);
		if (o[i] == NULL || *(uint32_t *)o[i] != OBJ_MAGIC)
			__atomic_add_fetch(&nbad, 1, __ATOMIC_RELAXED);
	}
	for (int i = 0; i < NOBJ; i++)
		if (o[i] != NULL)
			pool_cache_put(pc, o[i]);
	return NULL;
}

ATF_TC_WITHOUT_HEAD(pool_cache_cpu_init_any);
ATF_TC_BODY(pool_cache_cpu_init_any, tc)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	struct cpu_info *ci;
	pool_cache_t pc;
	pthread_t t;
	void *none;

	/* A cpu_info it may not read: any access would fault. */
	none = mmap(NULL, ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ATF_REQUIRE(none != MAP_FAILED);
	ci = none;
	for (int i = 0; i < NCALLS; i++) {
		pool_cache_cpu_init(NULL);
		pool_cache_cpu_init(ci);
	}

	pc = pool_cache_init(64, 0, 0, 0, "boot-cache", NULL, IPL_NONE,
	    obj_ctor, obj_dtor, NULL);
	ATF_REQUIRE(pc != NULL);
	cache_round(pc);
	/* A CPU comes online while the cache is in use. */
	pool_cache_cpu_init(NULL);
	pool_cache_cpu_init(ci);
	ATF_REQUIRE(pthread_create(&t, NULL, cache_round, pc) == 0);
	ATF_REQUIRE(pthread_join(t, NULL) == 0);
	cache_round(pc);
	/* Every object the cache took from its pool was constructed. */
	ATF_CHECK(nctor >= NOBJ && nctor <= 3 * NOBJ);
	ATF_CHECK_EQ(pool_cache_nget(pc), nctor);
	pool_cache_destroy(pc);
	ATF_CHECK_EQ(ndtor, nctor);
	ATF_CHECK_EQ(nbad, 0);
	ATF_REQUIRE(munmap(none, ps) == 0);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, pool_subsystem_init_first);
	ATF_TP_ADD_TC(tp, pool_subsystem_init_threads);
	ATF_TP_ADD_TC(tp, pool_cache_cpu_init_any);
	return atf_no_error();
}

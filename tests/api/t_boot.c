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
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sys/kmem.h>
#include <sys/pool.h>
#include <sys/vmem.h>
#include <uvm/uvm_extern.h>

#include <atf-c.h>

#include <nbmem/nbmem.h>

#include "nbprint.h"
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

/* ---- vmem_subsystem_init (1.2, 13) */

/* How many arenas vmem_printall() reports: one summary line each. */
static unsigned int
arenas(void)
{
	unsigned int n = 0;

	prlen = 0;
	prbuf[0] = '\0';
	vmem_printall("", pr);
	for (const char *p = prbuf; (p = strstr(p, "vmem ")) != NULL; p++)
		if (p == prbuf || p[-1] == '\n')
			n++;
	return n;
}

ATF_TC_WITHOUT_HEAD(vmem_subsystem_init_kmem);
ATF_TC_BODY(vmem_subsystem_init_kmem, tc)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	vmem_t *va = kmem_va_arena, *meta = kmem_meta_arena, *vm;
	vmem_size_t total, inuse;
	vmem_addr_t a, b;
	unsigned int n;
	void *p, *q;

	/* The library made its arenas when it was loaded. */
	ATF_REQUIRE(kmem_arena != NULL && va != NULL && meta != NULL);
	n = arenas();
	total = vmem_size(kmem_arena, VMEM_ALLOC | VMEM_FREE);
	inuse = vmem_size(kmem_arena, VMEM_ALLOC);
	for (int i = 0; i < NCALLS; i++)
		vmem_subsystem_init(kmem_arena);
	/* Nothing created, nothing replaced, kmem_arena untouched. */
	ATF_CHECK_EQ(arenas(), n);
	ATF_CHECK(kmem_va_arena == va && kmem_meta_arena == meta);
	ATF_CHECK_EQ(vmem_size(kmem_arena, VMEM_ALLOC | VMEM_FREE), total);
	ATF_CHECK_EQ(vmem_size(kmem_arena, VMEM_ALLOC), inuse);

	/* kmem, small and over a page, and the arenas under it work. */
	p = kmem_alloc(100, KM_SLEEP);
	q = kmem_zalloc(3 * ps, KM_SLEEP);
	ATF_REQUIRE(p != NULL && q != NULL);
	memset(p, 1, 100);
	ATF_CHECK_EQ(((unsigned char *)q)[3 * ps - 1], 0);
	kmem_free(q, 3 * ps);
	kmem_free(p, 100);
	ATF_REQUIRE(uvm_km_kmem_alloc(kmem_va_arena, 2 * ps,
	    VM_SLEEP | VM_INSTANTFIT, &a) == 0);
	memset((void *)a, 2, 2 * ps);
	uvm_km_kmem_free(kmem_va_arena, a, 2 * ps);

	/* Given another arena, it leaves that one alone too. */
	vm = vmem_create("boot-ids", 1, 1000, 1, NULL, NULL, NULL, 0,
	    VM_SLEEP, IPL_NONE);
	ATF_REQUIRE(vm != NULL);
	ATF_REQUIRE(vmem_alloc(vm, 10, VM_SLEEP | VM_BESTFIT, &a) == 0);
	vmem_subsystem_init(vm);
	ATF_CHECK_EQ(vmem_size(vm, VMEM_ALLOC), 10);
	ATF_CHECK_EQ(vmem_size(vm, VMEM_ALLOC | VMEM_FREE), 1000);
	ATF_REQUIRE(vmem_alloc(vm, 990, VM_NOSLEEP | VM_BESTFIT, &b) == 0);
	vmem_free(vm, b, 990);
	vmem_free(vm, a, 10);
	vmem_destroy(vm);
	ATF_CHECK_EQ(arenas(), n);
}

static void
subsystem_init_null(void *arg)
{
	(void)arg;
	vmem_subsystem_init(NULL);
}

ATF_TC_WITHOUT_HEAD(vmem_subsystem_init_null);
ATF_TC_BODY(vmem_subsystem_init_null, tc)
{
	nbt_death(subsystem_init_null, NULL,
	    "nbmem: vmem: vmem_subsystem_init: NULL arena");
}

/* ---- vmem_rehash_start (1.4.5) */

#define	NSEG		10000	/* busy segments: a table of 16384 buckets */
#define	STRIDE		7919	/* prime, so i * STRIDE % NSEG visits all */

/* The "busy segments" and "hash buckets" of vm's summary line. */
static void
hash_stats(vmem_t *vm, size_t *busy, size_t *buckets)
{
	const char *p;

	prlen = 0;
	prbuf[0] = '\0';
	vmem_print((uintptr_t)vm, "", pr);
	p = strstr(prbuf, "busy segments ");
	ATF_REQUIRE_MSG(p != NULL, "no busy segment count in: %s", prbuf);
	ATF_REQUIRE(sscanf(p, "busy segments %zu, hash buckets %zu", busy,
	    buckets) == 2);
}

ATF_TC_WITHOUT_HEAD(vmem_rehash_start_many);
ATF_TC_BODY(vmem_rehash_start_many, tc)
{
	static vmem_addr_t a[NSEG];
	size_t busy, buckets;
	vmem_addr_t all;
	vmem_t *vm;

	for (int i = 0; i < NCALLS; i++)
		vmem_rehash_start();
	vm = vmem_create("boot-hash", 0, NSEG, 1, NULL, NULL, NULL, 0,
	    VM_SLEEP, IPL_NONE);
	ATF_REQUIRE(vm != NULL);
	hash_stats(vm, &busy, &buckets);
	ATF_CHECK_EQ(busy, 0);
	ATF_CHECK_EQ(buckets, 1);
	for (int i = 0; i < NSEG; i++) {
		ATF_REQUIRE(vmem_alloc(vm, 1, VM_NOSLEEP | VM_INSTANTFIT,
		    &a[i]) == 0);
		if (i % 1000 == 0)
			vmem_rehash_start();
	}
	vmem_rehash_start();
	/* Grown with the allocations: at most two segments a bucket. */
	hash_stats(vm, &busy, &buckets);
	ATF_CHECK_EQ(busy, NSEG);
	ATF_CHECK_MSG(2 * buckets >= NSEG, "%zu buckets for %zu segments",
	    buckets, busy);

	/* Every free finds its segment, in an order unlike the gets'. */
	for (int i = 0; i < NSEG; i++) {
		vmem_free(vm, a[(size_t)i * STRIDE % NSEG], 1);
		if (i % 1000 == 0)
			vmem_rehash_start();
	}
	ATF_CHECK_EQ(vmem_size(vm, VMEM_ALLOC), 0);
	hash_stats(vm, &busy, &buckets);
	ATF_CHECK_EQ(busy, 0);
	ATF_CHECK_EQ(buckets, 16);	/* shrunk back as they went */
	/* All coalesced again: the whole range in one piece. */
	ATF_REQUIRE(vmem_alloc(vm, NSEG, VM_NOSLEEP | VM_BESTFIT, &all) == 0);
	ATF_CHECK_EQ(all, 0);
	vmem_free(vm, all, NSEG);
	vmem_destroy(vm);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, pool_subsystem_init_first);
	ATF_TP_ADD_TC(tp, pool_subsystem_init_threads);
	ATF_TP_ADD_TC(tp, pool_cache_cpu_init_any);
	ATF_TP_ADD_TC(tp, vmem_subsystem_init_kmem);
	ATF_TP_ADD_TC(tp, vmem_subsystem_init_null);
	ATF_TP_ADD_TC(tp, vmem_rehash_start_many);
	return atf_no_error();
}

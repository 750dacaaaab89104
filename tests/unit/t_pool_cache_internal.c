/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_pool_cache_internal: white-box tests of the CPU layer: a busy slot
 * is bypassed, a thief waits for the owner to leave its slot, thread
 * tables grow, exited threads and fork orphans leave no slot behind,
 * and reclaim gives pages back once they have been idle; per-CPU slots
 * are set up on first use, bypassed while locked, emptied by
 * invalidation and unlocked in a fork child, keep a spare group and a
 * stash of full ones.  Tests of per-thread slots turn per-CPU slots off
 * (nbmem_pcc_percpu) before their first cache.
 */
#define	_GNU_SOURCE
#include <sys/wait.h>

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <atf-c.h>

#include <nbmem/kmem.h>
#include <nbmem/vmem.h>

#include "internal.h"
#include "os/os.h"
#include "pool_cache_impl.h"
#include "pool_impl.h"
#include "reclaim.h"

#include "nbpool.h"
#include "nbtest.h"

static unsigned int ndtor;

/*
 * An AddressSanitizer build sends every cache around its CPU layer so
 * that cached objects can be poisoned (nbmem_debug_bypass_p); these
 * tests are about that layer, so its caches keep it there too, and ASan
 * still checks the layer's own accesses.  Runs before any cache exists.
 */
__attribute__((__constructor__))
static void
keep_cpu_layer(void)
{
	nbmem_debug_flags &= ~(unsigned int)NBMEM_DEBUG_ASAN;
}

static void
dtor(void *arg, void *obj)
{
	__atomic_fetch_add(&ndtor, 1, __ATOMIC_RELAXED);
}

static pool_cache_t
mk(const char *name)
{
	pool_cache_t pc = pool_cache_init(64, 0, 0, 0, name, NULL, IPL_VM,
	    NULL, dtor, NULL);

	ATF_REQUIRE(pc != NULL);
	return pc;
}

static unsigned int
nslots(pool_cache_t pc)
{
	unsigned int n = 0;

	for (pool_cache_cpu_t *cc = pc_impl(pc)->pc_cpus; cc != NULL;
	    cc = cc->cc_next)
		n++;
	return n;
}

ATF_TC_WITHOUT_HEAD(fresh_slot_dummy);
ATF_TC_BODY(fresh_slot_dummy, tc)
{
	nbmem_pcc_percpu = false;
	pool_cache_t pc = mk("u-dummy");

	ATF_CHECK(pcc_lookup(pc_impl(pc)->pc_id) == NULL);
	void *o = pool_cache_get(pc, PR_WAITOK);
	pool_cache_cpu_t *cc = pcc_lookup(pc_impl(pc)->pc_id);
	ATF_REQUIRE(cc != NULL);
	ATF_CHECK(cc->cc_current == &nbmem_pcg_dummy);
	ATF_CHECK(cc->cc_previous == &nbmem_pcg_dummy);
	ATF_CHECK(pcc_pop(cc) == NULL);
	ATF_CHECK(!pcc_push(cc, o));
	pool_cache_put(pc, o);
	ATF_CHECK(cc->cc_current != &nbmem_pcg_dummy);
	ATF_CHECK_EQ(cc->cc_current->pcg_size, PCG_NOBJECTS_NORMAL);
	ATF_CHECK_EQ(cc->cc_current->pcg_avail, 1);
	pool_cache_destroy(pc);
}

/* A handler that interrupted the owner inside its slot works around it. */
ATF_TC_WITHOUT_HEAD(busy_slot_bypassed);
ATF_TC_BODY(busy_slot_bypassed, tc)
{
	nbmem_pcc_percpu = false;
	pool_cache_t pc = mk("u-busy");
	struct pool_cache_impl *pci = pc_impl(pc);
	void *a = pool_cache_get(pc, PR_WAITOK);

	pool_cache_put(pc, a);
	pool_cache_cpu_t *cc = pcc_lookup(pci->pc_id);
	ATF_REQUIRE(cc != NULL && cc->cc_current->pcg_avail == 1);
	cc->cc_idle = 0;		/* "inside the fast path" */
	void *b = pool_cache_get(pc, PR_NOWAIT);
	ATF_REQUIRE(b != NULL);
	ATF_CHECK(b != a);		/* the slot was not touched */
	ATF_CHECK_EQ(cc->cc_current->pcg_avail, 1);
	ATF_CHECK_EQ(pool_cache_nget(pc), 2);
	pool_cache_put(pc, b);		/* into a depot group */
	ATF_CHECK_EQ(cc->cc_current->pcg_avail, 1);
	ATF_CHECK_EQ(cc->cc_idle, 0);	/* the handler's decrement undone */
	ATF_CHECK_EQ(pci->pc_ngroups[PCG_PART], 1);
	void *c = pool_cache_get(pc, PR_NOWAIT);
	ATF_CHECK(c == b);		/* from the depot group */
	ATF_CHECK_EQ(pci->pc_ngroups[PCG_PART], 0);
	ATF_CHECK_EQ(pci->pc_ngroups[PCG_EMPTY], 1);
	cc->cc_idle = 1;
	pool_cache_put(pc, c);
	ATF_CHECK_EQ(cc->cc_current->pcg_avail, 2);
	pool_cache_destroy(pc);
}

/* A thief waits until the owner has left its slot. */
struct thief {
	pool_cache_t	pc;
	int		state;	/* 1 started, 2 done */
};

static void *
thief_main(void *arg)
{
	struct thief *t = arg;

	__atomic_store_n(&t->state, 1, __ATOMIC_RELEASE);
	pool_cache_invalidate(t->pc);
	__atomic_store_n(&t->state, 2, __ATOMIC_RELEASE);
	return NULL;
}

static bool
steal_requested(void *arg)
{
	pool_cache_cpu_t *cc = arg;

	return __atomic_load_n(&cc->cc_steal, __ATOMIC_ACQUIRE) != 0;
}

static bool
thief_done(void *arg)
{
	return __atomic_load_n(&((struct thief *)arg)->state,
	    __ATOMIC_ACQUIRE) == 2;
}

ATF_TC_WITHOUT_HEAD(thief_waits_for_owner);
ATF_TC_BODY(thief_waits_for_owner, tc)
{
	nbmem_pcc_percpu = false;
	pool_cache_t pc = mk("u-thief");
	struct thief t = { .pc = pc };
	pthread_t th;
	void *o[5];

	for (int i = 0; i < 5; i++)
		o[i] = pool_cache_get(pc, PR_WAITOK);
	for (int i = 0; i < 5; i++)
		pool_cache_put(pc, o[i]);
	pool_cache_cpu_t *cc = pcc_lookup(pc_impl(pc)->pc_id);
	ATF_REQUIRE(pcc_enter(cc));
	unsigned int before = __atomic_load_n(&ndtor, __ATOMIC_RELAXED);
	ATF_REQUIRE(pthread_create(&th, NULL, thief_main, &t) == 0);
	nbt_wait_until(steal_requested, cc, "the steal request");
	/* Inside the slot, our groups are still ours. */
	ATF_CHECK_EQ(cc->cc_current->pcg_avail, 5);
	ATF_CHECK(__atomic_load_n(&t.state, __ATOMIC_ACQUIRE) != 2);
	ATF_CHECK_EQ(__atomic_load_n(&ndtor, __ATOMIC_RELAXED), before);
	pcc_exit(cc);
	nbt_wait_until(thief_done, &t, "the invalidation");
	ATF_REQUIRE(pthread_join(th, NULL) == 0);
	ATF_CHECK_EQ(__atomic_load_n(&ndtor, __ATOMIC_RELAXED), before + 5);
	ATF_CHECK(cc->cc_current == &nbmem_pcg_dummy);
	ATF_CHECK_EQ(cc->cc_steal, 0);
	/* While a steal is pending, the owner cannot enter. */
	cc->cc_steal = 1;
	ATF_CHECK(!pcc_enter(cc));
	ATF_CHECK_EQ(cc->cc_idle, 1);
	cc->cc_steal = 0;
	pool_cache_destroy(pc);
}

ATF_TC_WITHOUT_HEAD(table_grows);
ATF_TC_BODY(table_grows, tc)
{
	nbmem_pcc_percpu = false;
	enum { N = 1200 };
	static pool_cache_t pcs[N];
	static char names[N][16];
	static void *objs[N];

	struct pcc_table *first = NULL;
	unsigned int first_cap = 0;

	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "u-grow%d", i);
		pcs[i] = pool_cache_init(32, 0, 0, 0, names[i], NULL,
		    IPL_NONE, NULL, NULL, NULL);
		objs[i] = pool_cache_get(pcs[i], PR_WAITOK);
		pool_cache_put(pcs[i], objs[i]);
		if (first == NULL) {
			first = nbmem_pcc_table;
			first_cap = first->pt_cap;
		}
	}
	struct pcc_table *t = nbmem_pcc_table;
	ATF_REQUIRE(t != NULL);
	ATF_CHECK(t->pt_cap > pc_impl(pcs[N - 1])->pc_id);
	/*
	 * The tables it outgrew are kept, still mapped and readable, for
	 * code a signal handler interrupted while it read one: the first
	 * is at the end of the chain, its entries as they were.
	 */
	ATF_REQUIRE(t != first && first_cap < t->pt_cap);
	struct pcc_table *r = t;
	while (r->pt_retired != NULL)
		r = r->pt_retired;
	ATF_CHECK(r == first);
	ATF_CHECK_EQ(first->pt_cap, first_cap);
	ATF_CHECK(first->pt_slots[pc_impl(pcs[0])->pc_id] ==
	    t->pt_slots[pc_impl(pcs[0])->pc_id]);
	for (int i = 0; i < N; i++) {
		pool_cache_cpu_t *cc = pcc_lookup(pc_impl(pcs[i])->pc_id);
		ATF_REQUIRE(cc != NULL);
		ATF_CHECK(cc->cc_table == t);
		ATF_CHECK(cc->cc_cache == pcs[i]);
		/* Each still finds its own object. */
		ATF_CHECK(pool_cache_get(pcs[i], PR_NOWAIT) == objs[i]);
		pool_cache_put(pcs[i], objs[i]);
	}
	unsigned int id = pc_impl(pcs[7])->pc_id;
	for (int i = 0; i < N; i++)
		pool_cache_destroy(pcs[i]);
	/* Destroy forgets the slots; a new cache reuses an id cleanly. */
	ATF_CHECK(pcc_lookup(id) == NULL);
	pool_cache_t pc = mk("u-reuse");
	ATF_CHECK(pcc_lookup(pc_impl(pc)->pc_id) == NULL);
	pool_cache_destroy(pc);
}

static void *
use_and_exit(void *arg)
{
	void *o = pool_cache_get(arg, PR_WAITOK);

	pool_cache_put(arg, o);
	return NULL;
}

/*
 * A per-thread slot keeps its bursts aside (slot_keep): 300 gets then
 * the 300 puts leave the full groups with the thread, not the depot,
 * and the next burst's gets take them back without it; the gets of
 * the second burst keep the emptied groups for its puts.  A decay pass
 * hands the stash to the depot, and a thread's exit does too.
 */
enum { BURST = 300 };

static void
burst(pool_cache_t pc, void **o)
{
	for (int i = 0; i < BURST; i++)
		ATF_REQUIRE((o[i] = pool_cache_get(pc, PR_WAITOK)) != NULL);
	for (int i = 0; i < BURST; i++)
		pool_cache_put(pc, o[i]);
}

static void *
burst_and_exit(void *arg)
{
	static void *o[BURST];

	burst(arg, o);
	return NULL;
}

ATF_TC_WITHOUT_HEAD(slot_keeps_bursts);
ATF_TC_BODY(slot_keeps_bursts, tc)
{
	nbmem_pcc_percpu = false;
	pool_cache_t pc = mk("u-stash");
	struct pool_cache_impl *pci = pc_impl(pc);
	static void *o[BURST];
	unsigned int nstash;
	pthread_t th;

	burst(pc, o);
	pool_cache_cpu_t *cc = pcc_lookup(pci->pc_id);
	ATF_REQUIRE(cc != NULL);
	nstash = cc->cc_nstash;
	ATF_CHECK_MSG(nstash >= BURST / PCG_NOBJECTS_NORMAL - 2, "%u full "
	    "groups kept aside after a burst of %d", nstash, BURST);
	ATF_CHECK_EQ(pci->pc_ngroups[PCG_FULL], 0);
	/* The next burst: its gets take the stash, its puts the spares. */
	uint64_t contended = pci->pc_contended, pcmisses = cc->cc_pcmisses;
	unsigned int empty = pci->pc_ngroups[PCG_EMPTY];
	burst(pc, o);
	ATF_CHECK_EQ(cc->cc_nstash, nstash);
	ATF_CHECK_EQ(pci->pc_ngroups[PCG_FULL], 0);
	ATF_CHECK_EQ(pci->pc_ngroups[PCG_EMPTY], empty);
	ATF_CHECK_EQ(cc->cc_pcmisses, pcmisses);
	ATF_CHECK_EQ(pci->pc_contended, contended);
	/* A decay pass: the stash joins the depot. */
	(void)nbmem_pool_cache_decay(pc);
	ATF_CHECK_EQ(cc->cc_nstash, 0);
	ATF_CHECK_EQ(cc->cc_nspare, 0);
	ATF_CHECK_EQ(pci->pc_ngroups[PCG_FULL], nstash);
	/* Another thread's burst; its exit hands its stash over. */
	unsigned int before = pci->pc_ngroups[PCG_FULL];
	ATF_REQUIRE(pthread_create(&th, NULL, burst_and_exit, pc) == 0);
	ATF_REQUIRE(pthread_join(th, NULL) == 0);
	ATF_CHECK(pci->pc_ngroups[PCG_FULL] >= before);
	pool_cache_invalidate(pc);
	ATF_CHECK_EQ(pci->pc_ngroups[PCG_FULL], 0);
	ATF_CHECK_EQ(pool_cache_nget(pc) - pool_cache_nput(pc), 0);
	pool_cache_destroy(pc);
}

/*
 * The bound may drop to 0 while a put is on its way to keep the full
 * current group (nbmem_pool_cache_refill_runs stores it with no lock):
 * the group must then go to the depot, not be lost with its objects.
 * A thread flips the bound while this one bursts; after invalidation
 * the pool must have every object back.
 */
struct flipper {
	struct pool_cache_impl	*pci;
	unsigned int		max;
	bool			stop;
};

static void *
flip_bound(void *arg)
{
	struct flipper *f = arg;

	for (unsigned int i = 0; !__atomic_load_n(&f->stop,
	    __ATOMIC_RELAXED); i++)
		__atomic_store_n(&f->pci->pc_pcc_stash, (i & 1) ? f->max : 0,
		    __ATOMIC_RELAXED);
	__atomic_store_n(&f->pci->pc_pcc_stash, f->max, __ATOMIC_RELAXED);
	return NULL;
}

ATF_TC_WITHOUT_HEAD(slot_keep_bound_drops);
ATF_TC_BODY(slot_keep_bound_drops, tc)
{
	nbmem_pcc_percpu = false;
	pool_cache_t pc = mk("u-stash-flip");
	struct flipper f = { .pci = pc_impl(pc) };
	static void *o[BURST];
	uint64_t deadline = nbt_now_ns() + 1500000000ull;
	pthread_t th;

	f.max = f.pci->pc_pcc_stash;
	ATF_REQUIRE(f.max > 0);
	ATF_REQUIRE(pthread_create(&th, NULL, flip_bound, &f) == 0);
	while (nbt_now_ns() < deadline)
		burst(pc, o);
	__atomic_store_n(&f.stop, true, __ATOMIC_RELAXED);
	ATF_REQUIRE(pthread_join(th, NULL) == 0);
	pool_cache_invalidate(pc);
	ATF_CHECK_EQ(pc->pc_pool.pr_nout, 0);
	pool_cache_destroy(pc);
}

/*
 * A cache that keeps no stash (the malloc library's classes) keeps no
 * empty group aside either: no put could use it, and the depot, where
 * the other threads' puts look for one, would go without.
 */
ATF_TC_WITHOUT_HEAD(slot_no_stash_no_spare);
ATF_TC_BODY(slot_no_stash_no_spare, tc)
{
	nbmem_pcc_percpu = false;
	pool_cache_t pc = mk("u-nostash");
	struct pool_cache_impl *pci = pc_impl(pc);
	static void *o[BURST];

	nbmem_pool_cache_refill_runs(pc);
	ATF_REQUIRE_EQ(pci->pc_pcc_stash, 0);
	burst(pc, o);
	burst(pc, o);
	pool_cache_cpu_t *cc = pcc_lookup(pci->pc_id);
	ATF_REQUIRE(cc != NULL);
	ATF_CHECK_EQ(cc->cc_nstash, 0);
	ATF_CHECK_EQ(cc->cc_nspare, 0);
	ATF_CHECK(cc->cc_spare == NULL);
	pool_cache_invalidate(pc);
	ATF_CHECK_EQ(pc->pc_pool.pr_nout, 0);
	pool_cache_destroy(pc);
}

ATF_TC_WITHOUT_HEAD(exited_thread_leaves_no_slot);
ATF_TC_BODY(exited_thread_leaves_no_slot, tc)
{
	nbmem_pcc_percpu = false;
	pool_cache_t pc = mk("u-exit");
	pthread_t th;

	for (int i = 0; i < 10; i++) {
		ATF_REQUIRE(pthread_create(&th, NULL, use_and_exit, pc) == 0);
		ATF_REQUIRE(pthread_join(th, NULL) == 0);
	}
	ATF_CHECK_EQ(nslots(pc), 0);
	/* One object, passed on from thread to thread through the depot. */
	ATF_CHECK_EQ(pool_cache_nget(pc), 1);
	ATF_CHECK_EQ(pc_impl(pc)->pc_ngroups[PCG_PART], 1);
	ATF_CHECK_EQ(pc_impl(pc)->pc_hits, 9);
	ATF_CHECK_EQ(pc_impl(pc)->pc_misses, 11);
	pool_cache_destroy(pc);
}

/* A thread that keeps objects in its groups across our fork. */
static int park_state;

static void *
park(void *arg)
{
	void *o[20];

	for (int i = 0; i < 20; i++)
		o[i] = pool_cache_get(arg, PR_WAITOK);
	for (int i = 0; i < 20; i++)
		pool_cache_put(arg, o[i]);
	__atomic_store_n(&park_state, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&park_state, __ATOMIC_ACQUIRE) != 2)
		usleep(1000);
	return NULL;
}

static bool
parked(void *arg)
{
	return __atomic_load_n(&park_state, __ATOMIC_ACQUIRE) == 1;
}

ATF_TC_WITHOUT_HEAD(fork_child_adopts_orphans);
ATF_TC_BODY(fork_child_adopts_orphans, tc)
{
	nbmem_pcc_percpu = false;
	pool_cache_t pc = mk("u-fork");
	pthread_t th;
	int status;

	void *mine = pool_cache_get(pc, PR_WAITOK);
	pool_cache_put(pc, mine);
	ATF_REQUIRE(pthread_create(&th, NULL, park, pc) == 0);
	nbt_wait_until(parked, NULL, "the parked thread");
	ATF_CHECK_EQ(nslots(pc), 2);
	pid_t pid = fork();
	ATF_REQUIRE(pid >= 0);
	if (pid == 0) {
		alarm(20);
		struct pool_cache_impl *pci = pc_impl(pc);
		/* Only our slot is left; the other's 20 are in the depot. */
		if (nslots(pc) != 1 || pci->pc_cpus !=
		    pcc_lookup(pci->pc_id))
			_exit(1);
		if (pci->pc_ngroups[PCG_FULL] != 1 || pci->pc_ngroups[PCG_PART] != 1)
			_exit(2);
		pool_cache_invalidate(pc);
		if (pc->pc_pool.pr_nout != 0)
			_exit(3);
		_exit(0);
	}
	ATF_REQUIRE(waitpid(pid, &status, 0) == pid);
	ATF_CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "child status %#x", status);
	__atomic_store_n(&park_state, 2, __ATOMIC_RELEASE);
	ATF_REQUIRE(pthread_join(th, NULL) == 0);
	pool_cache_destroy(pc);
}

/* ---- reclaim with an injected pool clock */

static uint64_t fake_now;

static uint64_t
fake_clock(void)
{
	return __atomic_load_n(&fake_now, __ATOMIC_RELAXED);
}

ATF_TC_WITHOUT_HEAD(reclaim_returns_pages);
ATF_TC_BODY(reclaim_returns_pages, tc)
{
	nbmem_pcc_percpu = false;
	pool_cache_t pc = mk("u-reclaim");
	void *o[500];

	fake_now = 1000ull * 1000000000ull;
	nbmem_pool_clock_set(fake_clock);
	for (int i = 0; i < 500; i++)
		o[i] = pool_cache_get(pc, PR_WAITOK);
	for (int i = 0; i < 500; i++)
		pool_cache_put(pc, o[i]);
	unsigned int npages = pc->pc_pool.pr_npages;
	ATF_REQUIRE(npages >= 2);
	ATF_CHECK_EQ(pc->pc_pool.pr_nout, 500);
	/* First reclaim: objects back to the pool, pages only now idle. */
	(void)pool_cache_reclaim(pc);
	ATF_CHECK_EQ(pc->pc_pool.pr_nout, 0);
	ATF_CHECK_EQ(pc->pc_pool.pr_npages, npages);
	/* Idle long enough: the pages go. */
	fake_now += 60ull * 1000000000ull;
	ATF_CHECK(pool_cache_reclaim(pc));
	ATF_CHECK_EQ(pc->pc_pool.pr_npages, 0);
	nbmem_pool_clock_set(NULL);
	pool_cache_destroy(pc);
}


/* ---- vmem quantum caches */

ATF_TC_WITHOUT_HEAD(qcache_classes);
ATF_TC_BODY(qcache_classes, tc)
{
	/* quantum 4096, qcache_max 64 KiB: 256 KiB pages (kva's numbers). */
	vmem_t *vm = vmem_create("u-qc-arena-long", 0x10000000, 0x10000000,
	    4096, NULL, NULL, NULL, 0, VM_SLEEP, IPL_VM);
	struct nbmem_qcache *qc;
	struct pool_sysctl ps;

	ATF_REQUIRE(vm != NULL);
	ATF_CHECK(nbmem_vmem_qcache_create(vm, "x", 4096, 0, IPL_VM) == NULL);
	qc = nbmem_vmem_qcache_create(vm, "u-qc-arena-long", 4096, 65536,
	    IPL_VM);
	ATF_REQUIRE(qc != NULL);
	/* Names "<arena>-<size>" cut to 15 characters. */
	pool_cache_t c4 = nbmem_vmem_qcache_cache(qc, 4096);
	ATF_CHECK_STREQ(c4->pc_pool.pr_wchan, "u-qc-arena-long");
	ATF_CHECK(strlen(c4->pc_pool.pr_wchan) <= 15);
	ATF_CHECK_EQ(c4->pc_pool.pr_alloc->pa_pagesz, 262144);
	ATF_CHECK_EQ(c4->pc_pool.pr_roflags & (PR_NOALIGN | PR_NOTOUCH |
	    PR_RECURSIVE), PR_NOALIGN | PR_NOTOUCH | PR_RECURSIVE);
	/* 13 to 16 quanta all fit 4 times in 256 KiB: one cache serves. */
	ATF_CHECK(nbmem_vmem_qcache_cache(qc, 13 * 4096) ==
	    nbmem_vmem_qcache_cache(qc, 16 * 4096));
	ATF_CHECK(nbmem_vmem_qcache_cache(qc, 12 * 4096) !=
	    nbmem_vmem_qcache_cache(qc, 13 * 4096));
	ATF_CHECK(nbmem_vmem_qcache_cache(qc, 1 * 4096) !=
	    nbmem_vmem_qcache_cache(qc, 2 * 4096));
	/* A served class never has the same items per page as the next. */
	for (unsigned int i = 1; i < 16; i++) {
		pool_cache_t a = nbmem_vmem_qcache_cache(qc, i * 4096);
		pool_cache_t b = nbmem_vmem_qcache_cache(qc, (i + 1) * 4096);
		ATF_CHECK(a->pc_pool.pr_size >= i * 4096);
		if (a != b)
			ATF_CHECK(262144 / a->pc_pool.pr_size !=
			    262144 / b->pc_pool.pr_size);
	}
	/* Addresses are quantum aligned, distinct, counted as allocated. */
	vmem_addr_t a[64];
	for (int i = 0; i < 64; i++) {
		vmem_size_t sz = (vmem_size_t)(1 + i % 16) * 4096;
		ATF_REQUIRE_EQ(nbmem_vmem_qcache_alloc(qc, sz, VM_SLEEP, &a[i]),
		    0);
		ATF_CHECK_EQ(a[i] % 4096, 0);
		ATF_CHECK(a[i] >= 0x10000000 && a[i] + sz <= 0x20000000);
		for (int j = 0; j < i; j++) {
			vmem_size_t szj = (vmem_size_t)(1 + j % 16) * 4096;
			ATF_CHECK(a[i] + sz <= a[j] || a[j] + szj <= a[i]);
		}
	}
	ATF_CHECK(vmem_size(vm, VMEM_ALLOC) >= 262144);
	ATF_CHECK(nbt_pool_record("u-qc-arena-long", &ps));
	ATF_CHECK_EQ(ps.pr_pagesize, 262144);
	for (int i = 0; i < 64; i++)
		nbmem_vmem_qcache_free(qc, a[i], (vmem_size_t)(1 + i % 16) *
		    4096);
	/* Destroy gives every page back to the arena. */
	nbmem_vmem_qcache_destroy(qc);
	ATF_CHECK_EQ(vmem_size(vm, VMEM_ALLOC), 0);
	vmem_destroy(vm);
}

/* An arena starting at 0: the page at address 0 is never a pool page. */
ATF_TC_WITHOUT_HEAD(qcache_zero_address);
ATF_TC_BODY(qcache_zero_address, tc)
{
	vmem_t *vm = vmem_create("u-qc-zero", 0, 1 << 20, 1, NULL, NULL,
	    NULL, 0, VM_SLEEP, IPL_NONE);
	struct nbmem_qcache *qc = nbmem_vmem_qcache_create(vm, "u-qc-zero",
	    1, 16, IPL_NONE);
	vmem_addr_t a;

	ATF_REQUIRE(qc != NULL);
	/* The smallest power of two above 3 * 16, as NetBSD's. */
	ATF_CHECK_EQ(nbmem_vmem_qcache_cache(qc, 3)->pc_pool.pr_alloc->
	    pa_pagesz, 64);
	ATF_REQUIRE_EQ(nbmem_vmem_qcache_alloc(qc, 3, VM_NOSLEEP, &a), 0);
	ATF_CHECK(a != 0);
	nbmem_vmem_qcache_free(qc, a, 3);
	nbmem_vmem_qcache_destroy(qc);
	vmem_destroy(vm);
}

/* ---- per-CPU slots */

static pool_cache_t
mk_pcpu(const char *name)
{
	pool_cache_t pc = mk(name);

	if (pc_impl(pc)->pc_pcpu == NULL) {
		pool_cache_destroy(pc);
		atf_tc_skip("no per-CPU slots here (no restartable sequences, "
		    "or a ThreadSanitizer build)");
	}
	return pc;
}

/* Objects in all CPU slots, and whether some slot is set up. */
static unsigned int
pcpu_count(pool_cache_t pc, bool *setup)
{
	struct pool_cache_impl *pci = pc_impl(pc);
	unsigned int n = 0;

	*setup = false;
	for (unsigned int c = 0; c < pci->pc_ncpu; c++) {
		n += nbmem_pcpu_count(pcpu_slot(pci, c));
		*setup |= pcpu_slot(pci, c)->ps_size == pci->pc_pcpu_size;
	}
	return n;
}

/*
 * A per-CPU slot keeps the group a refill emptied as its spare (the
 * next spill fills it outside the depot lock), and the spare goes back
 * when the cache is destroyed: no group of the "pcglarge" pool is left
 * out.
 */
ATF_TC_WITHOUT_HEAD(pcpu_spare_group);
ATF_TC_BODY(pcpu_spare_group, tc)
{
	enum { N = 300 };
	static void *o[N];
	struct pool_sysctl before, after;
	bool spare = false;

	pool_cache_t pc = pool_cache_init(64, 0, 0, 0, "u-spare", NULL,
	    IPL_NONE, NULL, NULL, NULL);
	struct pool_cache_impl *pci = pc_impl(pc);

	if (pci->pc_pcpu == NULL) {
		pool_cache_destroy(pc);
		atf_tc_skip("no per-CPU slots here");
	}
	ATF_REQUIRE(nbt_pool_record("pcglarge", &before));
	/* Fill the depot with full groups, then refill from it. */
	for (int i = 0; i < N; i++)
		ATF_REQUIRE((o[i] = pool_cache_get(pc, PR_WAITOK)) != NULL);
	for (int i = 0; i < N; i++)
		pool_cache_put(pc, o[i]);
	for (int i = 0; i < N; i++)
		ATF_REQUIRE((o[i] = pool_cache_get(pc, PR_WAITOK)) != NULL);
	for (unsigned int c = 0; c < pci->pc_ncpu; c++)
		if (__atomic_load_n(&pcpu_stats(pci, c)->ps_spare,
		    __ATOMIC_RELAXED) != NULL)
			spare = true;
	ATF_CHECK_MSG(spare, "no CPU slot kept a spare group");
	/* Back to the pool without passing the slots: the spare stays. */
	for (int i = 0; i < N; i++)
		pool_cache_destruct_object(pc, o[i]);
	pool_cache_destroy(pc);
	ATF_REQUIRE(nbt_pool_record("pcglarge", &after));
	ATF_CHECK_MSG(after.pr_nout == before.pr_nout, "pcglarge: %ju groups "
	    "out before, %ju after the cache's destruction",
	    (uintmax_t)before.pr_nout, (uintmax_t)after.pr_nout);
}

/*
 * The hits a slot counts in 48 bits of its word wrap; the slow paths
 * count the wraps they see, so the cache's per-CPU hits go on growing
 * past 2^48 instead of falling back to a few thousand.
 */
ATF_TC_WITHOUT_HEAD(pcpu_hits_wrap);
ATF_TC_BODY(pcpu_hits_wrap, tc)
{
	enum { N = 2000 };
	static void *o[200];
	const uint64_t top = (uint64_t)1 << (64 - NBMEM_PCPU_HIT_SHIFT);
	pool_cache_t pc = mk_pcpu("u-hwrap");
	struct pool_cache_impl *pci = pc_impl(pc);
	struct nbmem_pcpu_slot *s;
	struct pool_sysctl rec;
	cpu_set_t one, all;
	unsigned int cpu, n;
	void *p;

	/* On one CPU throughout: a migration would move to another slot. */
	ATF_REQUIRE(sched_getaffinity(0, sizeof(all), &all) == 0);
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	ATF_REQUIRE(sched_setaffinity(0, sizeof(one), &one) == 0);
	cpu = (unsigned int)sched_getcpu();
	pool_cache_put(pc, pool_cache_get(pc, PR_WAITOK));
	s = pcpu_slot(pci, cpu);
	ATF_REQUIRE(nbmem_pcpu_count(s) > 0);
	/* 1,000 hits short of the wrap. */
	ATF_REQUIRE(nbmem_rseq_trylock_cpu(pci->pc_pcpu, pci->pc_pcpu_stride,
	    cpu));
	s->ps_word = ((top - 1000) << NBMEM_PCPU_HIT_SHIFT) |
	    nbmem_pcpu_count(s);
	nbmem_rseq_unlock(pci->pc_pcpu, pci->pc_pcpu_stride, cpu);
	/* Empty the slot, then one more get: a slow path sees them. */
	n = nbmem_pcpu_count(s);
	for (unsigned int i = 0; i <= n; i++)
		ATF_REQUIRE((o[i] = pool_cache_get(pc, PR_WAITOK)) != NULL);
	for (unsigned int i = 0; i <= n; i++)
		pool_cache_put(pc, o[i]);
	/* Past the wrap, then a slow path again. */
	for (int i = 0; i < N; i++) {
		ATF_REQUIRE((p = pool_cache_get(pc, PR_WAITOK)) != NULL);
		pool_cache_put(pc, p);
	}
	ATF_REQUIRE(nbmem_pcpu_hits(s) < 10 * N);
	n = nbmem_pcpu_count(s);
	for (unsigned int i = 0; i <= n; i++)
		ATF_REQUIRE((o[i] = pool_cache_get(pc, PR_WAITOK)) != NULL);
	for (unsigned int i = 0; i <= n; i++)
		pool_cache_put(pc, o[i]);
	ATF_REQUIRE(sched_setaffinity(0, sizeof(all), &all) == 0);
	ATF_REQUIRE(nbt_pool_record("u-hwrap", &rec));
	ATF_CHECK_MSG(rec.pr_cache_nhit_pcpu > top &&
	    rec.pr_cache_nhit_pcpu < top + 10 * N,
	    "per-CPU hits %ju after the wrap (2^48 is %ju)",
	    (uintmax_t)rec.pr_cache_nhit_pcpu, (uintmax_t)top);
	pool_cache_destroy(pc);
}

/* Full groups in the stashes of all CPUs. */
static unsigned int
stashed(struct pool_cache_impl *pci)
{
	unsigned int n = 0;

	for (unsigned int c = 0; c < pci->pc_ncpu; c++)
		n += __atomic_load_n(&pcpu_stats(pci, c)->ps_nstash,
		    __ATOMIC_RELAXED);
	return n;
}

/*
 * A burst of puts larger than the slot leaves its full groups in the
 * CPU's stash, not in the depot; the next gets take them back from
 * there; a decay pass hands them to the depot; invalidation destructs
 * what is stashed.
 */
ATF_TC_WITHOUT_HEAD(pcpu_stash);
ATF_TC_BODY(pcpu_stash, tc)
{
	enum { N = 300 };
	static void *o[N];
	pool_cache_t pc = mk("u-stash");
	struct pool_cache_impl *pci = pc_impl(pc);
	unsigned int before, n;

	cpu_set_t one, all;

	if (pci->pc_pcpu == NULL) {
		pool_cache_destroy(pc);
		atf_tc_skip("no per-CPU slots here");
	}
	/* On one CPU throughout: a migration would move to another slot. */
	ATF_REQUIRE(sched_getaffinity(0, sizeof(all), &all) == 0);
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	ATF_REQUIRE(sched_setaffinity(0, sizeof(one), &one) == 0);
	/* 1,008 objects' worth of 15-object groups (64-byte objects). */
	ATF_CHECK_EQ(pci->pc_pcpu_stash, 16 * PCG_NOBJECTS_LARGE /
	    PCG_NOBJECTS_NORMAL);
	/*
	 * As many of 4 KiB objects: a batch of 1,000 of them stays on its
	 * CPU (4 MiB), where 1 MiB (17 groups) sent it to the depot.
	 */
	pool_cache_t big = pool_cache_init(4096, 0, 0, 0, "u-stash4k", NULL,
	    IPL_VM, NULL, NULL, NULL);
	ATF_REQUIRE(big != NULL);
	ATF_CHECK_EQ(pc_impl(big)->pc_pcpu_stash, 16 * PCG_NOBJECTS_LARGE /
	    PCG_NOBJECTS_NORMAL);
	pool_cache_destroy(big);
	for (int i = 0; i < N; i++)
		ATF_REQUIRE((o[i] = pool_cache_get(pc, PR_WAITOK)) != NULL);
	for (int i = 0; i < N; i++)
		pool_cache_put(pc, o[i]);
	n = stashed(pci);
	ATF_CHECK_MSG(n >= 2, "%u groups stashed after %d puts", n, N);
	ATF_CHECK_EQ(pci->pc_ngroups[PCG_FULL], 0);
	for (int i = 0; i < N; i++)
		ATF_REQUIRE((o[i] = pool_cache_get(pc, PR_WAITOK)) != NULL);
	ATF_CHECK_EQ(stashed(pci), 0);
	ATF_CHECK_EQ(pci->pc_ngroups[PCG_FULL], 0);
	for (int i = 0; i < N; i++)
		pool_cache_put(pc, o[i]);
	n = stashed(pci);
	(void)nbmem_pool_cache_decay(pc);
	ATF_CHECK_EQ(stashed(pci), 0);
	ATF_CHECK_EQ(pci->pc_ngroups[PCG_FULL], n);
	/* A stash made before the cache stopped stashing still decays. */
	for (int i = 0; i < N; i++)
		ATF_REQUIRE((o[i] = pool_cache_get(pc, PR_WAITOK)) != NULL);
	for (int i = 0; i < N; i++)
		pool_cache_put(pc, o[i]);
	ATF_CHECK(stashed(pci) >= 2);
	nbmem_pool_cache_refill_runs(pc);
	(void)nbmem_pool_cache_decay(pc);
	ATF_CHECK_EQ(stashed(pci), 0);
	__atomic_store_n(&pci->pc_pcpu_stash, 16, __ATOMIC_RELAXED);
	/* Back to a stash, then invalidation destructs everything. */
	for (int i = 0; i < N; i++)
		ATF_REQUIRE((o[i] = pool_cache_get(pc, PR_WAITOK)) != NULL);
	for (int i = 0; i < N; i++)
		pool_cache_put(pc, o[i]);
	ATF_CHECK(stashed(pci) >= 2);
	before = __atomic_load_n(&ndtor, __ATOMIC_RELAXED);
	pool_cache_invalidate(pc);
	ATF_CHECK_EQ(__atomic_load_n(&ndtor, __ATOMIC_RELAXED) - before, N);
	ATF_CHECK_EQ(stashed(pci), 0);
	pool_cache_destroy(pc);
	ATF_REQUIRE(sched_setaffinity(0, sizeof(all), &all) == 0);
}

/*
 * The malloc library's choice for kmem's classes: refills in runs and
 * no per-CPU stash; other caches keep theirs.
 */
ATF_TC_WITHOUT_HEAD(malloc_classes_no_stash);
ATF_TC_BODY(malloc_classes_no_stash, tc)
{
	pool_cache_t own = mk("u-own-stash");
	struct pool_cache_impl *k64;

	if (pc_impl(own)->pc_pcpu == NULL) {
		pool_cache_destroy(own);
		atf_tc_skip("no per-CPU slots here");
	}
	k64 = pc_impl(nbmem_kmem_cache(64));
	ATF_CHECK(k64->pc_pcpu_stash > 0 && !k64->pc_refill);
	nbmem_kmem_refill_runs();
	ATF_CHECK_EQ(k64->pc_pcpu_stash, 0);
	ATF_CHECK(k64->pc_refill);
	ATF_CHECK_EQ(pc_impl(nbmem_kmem_cache(1000))->pc_pcpu_stash, 0);
	ATF_CHECK(pc_impl(own)->pc_pcpu_stash > 0);
	pool_cache_destroy(own);
}

/*
 * A per-thread slot of a cache whose misses block signals once (kmem's:
 * IPL_VM, no constructor) exchanges its current and previous groups
 * without blocking signals: taking 20 objects and giving them back
 * crosses a group boundary twice without ever needing the depot.
 * Without per-CPU slots, as the malloc library runs where the C library
 * registers no rseq area.
 */
ATF_TC_WITHOUT_HEAD(thread_exchange_no_sigblock);
ATF_TC_BODY(thread_exchange_no_sigblock, tc)
{
	enum { N = 20, ROUNDS = 1000 };
	void *o[N];
	uint64_t before, n;
	pool_cache_t pc;

	nbmem_pcc_percpu = false;
	pc = pool_cache_init(64, 0, 0, 0, "u-exchange", NULL, IPL_VM, NULL,
	    NULL, NULL);
	ATF_REQUIRE(pc != NULL);
	nbmem_pool_cache_spl_batch(pc);
	ATF_REQUIRE(pc_impl(pc)->pc_spl_batch);
	/* Both groups of the slot full (2 x 15 objects). */
	for (int r = 0; r < 2; r++) {
		void *w[2 * PCG_NOBJECTS_NORMAL];
		for (int i = 0; i < 2 * PCG_NOBJECTS_NORMAL; i++)
			ATF_REQUIRE((w[i] = pool_cache_get(pc,
			    PR_WAITOK)) != NULL);
		for (int i = 0; i < 2 * PCG_NOBJECTS_NORMAL; i++)
			pool_cache_put(pc, w[i]);
	}
	before = __atomic_load_n(&nbmem_os_nsigblock, __ATOMIC_RELAXED);
	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < N; i++)
			ATF_REQUIRE((o[i] = pool_cache_get(pc,
			    PR_NOWAIT)) != NULL);
		for (int i = 0; i < N; i++)
			pool_cache_put(pc, o[i]);
	}
	n = __atomic_load_n(&nbmem_os_nsigblock, __ATOMIC_RELAXED) - before;
	ATF_CHECK_EQ_MSG(n, 0, "%ju signal blocks for %d rounds of %d gets "
	    "and puts within the slot's two groups", (uintmax_t)n, ROUNDS, N);
	pool_cache_destroy(pc);
}

/*
 * Without per-CPU slots, the malloc library's classes up to 1 KiB take
 * 63-object groups (nbmem_pool_cache_refill_runs), bigger ones groups
 * of at most 16 KiB and at least 2 objects; a cache that already made
 * a group keeps its size, and groups go back to the pool of their own
 * size.
 */
ATF_TC_WITHOUT_HEAD(thread_malloc_group_sizes);
ATF_TC_BODY(thread_malloc_group_sizes, tc)
{
	pool_cache_t used;
	void *o[100];

	nbmem_pcc_percpu = false;
	used = mk("u-used");
	pool_cache_put(used, pool_cache_get(used, PR_WAITOK));
	nbmem_pool_cache_refill_runs(used);
	ATF_CHECK_EQ(pc_impl(used)->pc_pcgsize, PCG_NOBJECTS_NORMAL);
	pool_cache_destroy(used);

	nbmem_kmem_refill_runs();
	ATF_CHECK_EQ(pc_impl(nbmem_kmem_cache(64))->pc_pcgsize,
	    PCG_NOBJECTS_LARGE);
	ATF_CHECK_EQ(pc_impl(nbmem_kmem_cache(1024))->pc_pcgsize,
	    PCG_NOBJECTS_LARGE);
	ATF_CHECK_EQ(pc_impl(nbmem_kmem_cache(2048))->pc_pcgsize, 8);
	ATF_CHECK_EQ(pc_impl(nbmem_kmem_cache(4096))->pc_pcgsize, 4);
	ATF_CHECK_EQ(pc_impl(nbmem_kmem_cache(65536))->pc_pcgsize, 2);
	ATF_CHECK(nbmem_pc_group_pool(nbmem_kmem_cache(64)) !=
	    nbmem_pc_group_pool(nbmem_kmem_cache(2048)));
	/* Through the depot and back: every group of 63 objects. */
	for (int i = 0; i < 100; i++)
		ATF_REQUIRE((o[i] = kmem_alloc(64, KM_SLEEP)) != NULL);
	for (int i = 0; i < 100; i++)
		kmem_free(o[i], 64);
	pool_cache_cpu_t *cc = pcc_lookup(pc_impl(nbmem_kmem_cache(64))->pc_id);
	ATF_REQUIRE(cc != NULL);
	ATF_CHECK_EQ(cc->cc_current->pcg_size, PCG_NOBJECTS_LARGE);
	pool_cache_invalidate(nbmem_kmem_cache(64));
}

/*
 * nbmem_pool_cache_refill_runs while another thread makes the cache's
 * first group: that thread is held inside the group pool (its lock
 * held here) when the switch comes.  Whichever size wins, every group
 * of the cache must have the cache's size, which the statistics
 * multiply the depot's full groups by (nbmem_pool_cache_nheld).
 */
struct size_race {
	pool_cache_t	pc;
	sem_t		got;
	sem_t		go;
};

static void *
size_race_main(void *arg)
{
	struct size_race *r = arg;
	void *o = pool_cache_get(r->pc, PR_WAITOK);

	(void)sem_post(&r->got);
	while (sem_wait(&r->go) != 0)
		continue;
	if (o != NULL)
		pool_cache_put(r->pc, o);	/* the first group */
	return o;
}

ATF_TC_WITHOUT_HEAD(thread_group_size_race);
ATF_TC_BODY(thread_group_size_race, tc)
{
	struct size_race r;
	struct pool_impl *gpi;
	unsigned int size, ng = 0;
	bool waited = false;
	pthread_t th;
	void *o;

	nbmem_pcc_percpu = false;
	r.pc = pool_cache_init(64, 0, 0, 0, "u-sizerace", NULL, IPL_VM, NULL,
	    NULL, NULL);
	ATF_REQUIRE(r.pc != NULL);
	ATF_REQUIRE_EQ(pc_impl(r.pc)->pc_pcgsize, PCG_NOBJECTS_NORMAL);
	gpi = pool_impl(nbmem_pc_group_pool(r.pc));
	ATF_REQUIRE(sem_init(&r.got, 0, 0) == 0);
	ATF_REQUIRE(sem_init(&r.go, 0, 0) == 0);
	ATF_REQUIRE(pthread_create(&th, NULL, size_race_main, &r) == 0);
	while (sem_wait(&r.got) != 0)
		continue;
	mutex_enter(&gpi->pr_lock);
	(void)sem_post(&r.go);
	/* Until the thread sleeps on the group pool's lock (word 2). */
	for (int i = 0; i < 20000 && !waited; i++) {
		waited = __atomic_load_n(&gpi->pr_lock.mtx_word,
		    __ATOMIC_ACQUIRE) == 2;
		if (!waited)
			usleep(100);
	}
	nbmem_pool_cache_refill_runs(r.pc);
	mutex_exit(&gpi->pr_lock);
	ATF_REQUIRE(pthread_join(th, &o) == 0);
	ATF_REQUIRE(o != NULL);
	ATF_REQUIRE_MSG(waited, "the thread never waited for the group pool");

	/* The thread's slot went to the depot at its exit. */
	size = pc_impl(r.pc)->pc_pcgsize;
	mutex_enter(&pc_impl(r.pc)->pc_lock);
	for (unsigned int k = 0; k < PCG_NKINDS; k++) {
		for (pcg_t *g = pc_impl(r.pc)->pc_groups[k]; g != NULL;
		    g = g->pcg_next, ng++)
			ATF_CHECK_EQ_MSG(g->pcg_size, size, "a group of %u "
			    "objects in a cache of %u-object groups",
			    g->pcg_size, size);
	}
	mutex_exit(&pc_impl(r.pc)->pc_lock);
	ATF_CHECK(ng >= 1);
	pool_cache_destroy(r.pc);
	(void)sem_destroy(&r.got);
	(void)sem_destroy(&r.go);
}

/*
 * A refill in runs (kmem's classes in the malloc library) hands out
 * items smaller than a cache line one line apart, so that objects taken
 * one after the other (by two threads sharing a CPU, or by a thread
 * handing them to two others) never share a line; bigger items come
 * out in address order.
 */
ATF_TC_WITHOUT_HEAD(refill_lines_apart);
ATF_TC_BODY(refill_lines_apart, tc)
{
	static const size_t sizes[] = { 8, 16, 24, 32, 40, 48, 56, 64, 128 };
	enum { K = 4 };
	cpu_set_t one, all;
	uintptr_t a[K + 1];
	void *o[K + 1];

	/* On one CPU throughout: a migration would change slots. */
	ATF_REQUIRE(sched_getaffinity(0, sizeof(all), &all) == 0);
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	ATF_REQUIRE(sched_setaffinity(0, sizeof(one), &one) == 0);
	for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
		size_t sz = sizes[z];
		pool_cache_t pc = pool_cache_init(sz, 0, 0, 0, "u-lines",
		    NULL, IPL_NONE, NULL, NULL, NULL);

		ATF_REQUIRE(pc != NULL);
		nbmem_pool_cache_refill_runs(pc);
		/* The first get misses and refills the slot with a run. */
		for (int i = 0; i <= K; i++) {
			ATF_REQUIRE((o[i] = pool_cache_get(pc, PR_WAITOK)) !=
			    NULL);
			a[i] = (uintptr_t)o[i];
		}
		for (int i = 0; i < K; i++) {
			/* No byte of one in a line of the other. */
			uintptr_t lo = a[i] < a[i + 1] ? a[i] : a[i + 1];
			uintptr_t hi = a[i] < a[i + 1] ? a[i + 1] : a[i];
			if (sz < 64)
				ATF_CHECK_MSG((lo + sz - 1) / 64 < hi / 64 &&
				    a[i + 1] - a[0] < 64 * sz,
				    "%zu-byte items: get %d at %#lx, get %d at "
				    "%#lx (first %#lx)", sz, i, (unsigned long)
				    a[i], i + 1, (unsigned long)a[i + 1],
				    (unsigned long)a[0]);
			else
				ATF_CHECK_MSG(a[i + 1] == a[i] + sz,
				    "%zu-byte items: get %d at %#lx, get %d at "
				    "%#lx", sz, i, (unsigned long)a[i], i + 1,
				    (unsigned long)a[i + 1]);
		}
		for (int i = 0; i <= K; i++)
			pool_cache_put(pc, o[i]);
		pool_cache_destroy(pc);
	}
	ATF_REQUIRE(sched_setaffinity(0, sizeof(all), &all) == 0);
}

/*
 * Per-CPU caches of objects up to 4 KiB use the large groups; bigger
 * objects keep NetBSD's 15, and so do per-thread slots.
 */
ATF_TC_WITHOUT_HEAD(pcpu_group_sizes);
ATF_TC_BODY(pcpu_group_sizes, tc)
{
	pool_cache_t small = pool_cache_init(64, 0, 0, 0, "u-gs-64", NULL,
	    IPL_NONE, NULL, NULL, NULL);
	pool_cache_t page = pool_cache_init(4096, 0, 0, 0, "u-gs-4k", NULL,
	    IPL_NONE, NULL, NULL, NULL);
	pool_cache_t big = pool_cache_init(8192, 0, 0, 0, "u-gs-8k", NULL,
	    IPL_NONE, NULL, NULL, NULL);
	pool_cache_t large = pool_cache_init(64, 0, 0, PR_LARGECACHE,
	    "u-gs-64l", NULL, IPL_NONE, NULL, NULL, NULL);
	bool percpu = pc_impl(small)->pc_pcpu != NULL;

	/* Groups keep NetBSD's sizes in both CPU layers (spec 3.3). */
	ATF_CHECK_EQ(pc_impl(small)->pc_pcgsize, PCG_NOBJECTS_NORMAL);
	ATF_CHECK_EQ(pc_impl(page)->pc_pcgsize, PCG_NOBJECTS_NORMAL);
	ATF_CHECK_EQ(pc_impl(big)->pc_pcgsize, PCG_NOBJECTS_NORMAL);
	ATF_CHECK_EQ(pc_impl(large)->pc_pcgsize, PCG_NOBJECTS_LARGE);
	if (percpu) {
		/* A slot trades four 15-object groups, or one of 63. */
		ATF_CHECK_EQ(pc_impl(small)->pc_pcpu_batch,
		    4 * PCG_NOBJECTS_NORMAL);
		ATF_CHECK_EQ(pc_impl(small)->pc_pcpu_size,
		    8 * PCG_NOBJECTS_NORMAL);
		ATF_CHECK_EQ(pc_impl(page)->pc_pcpu_batch,
		    4 * PCG_NOBJECTS_NORMAL);
		ATF_CHECK_EQ(pc_impl(large)->pc_pcpu_batch,
		    PCG_NOBJECTS_LARGE);
		ATF_CHECK_EQ(pc_impl(large)->pc_pcpu_size,
		    2 * PCG_NOBJECTS_LARGE);
		ATF_CHECK_EQ(pc_impl(big)->pc_pcpu_batch,
		    PCG_NOBJECTS_NORMAL);
		ATF_CHECK_EQ(pc_impl(big)->pc_pcpu_size,
		    2 * PCG_NOBJECTS_NORMAL);
	}
	pool_cache_destroy(small);
	pool_cache_destroy(page);
	pool_cache_destroy(big);
	pool_cache_destroy(large);
}

/*
 * The malloc library's caches (nbmem_pool_cache_refill_runs) with
 * per-CPU slots: groups and the batch a slot trades hold at most 16 KiB
 * (groups at least 2 objects, a batch at least one group), so a slot
 * keeps at most 32 KiB (or two groups of 2) of a class; small classes
 * keep four 15-object groups.
 */
ATF_TC_WITHOUT_HEAD(pcpu_malloc_group_sizes);
ATF_TC_BODY(pcpu_malloc_group_sizes, tc)
{
	static const struct {
		size_t		size;
		unsigned int	group, batch;
	} t[] = {
		{ 64, 15, 60 }, { 256, 15, 60 }, { 512, 15, 30 },
		{ 1024, 15, 15 }, { 2048, 8, 8 }, { 4096, 4, 4 },
		{ 8192, 2, 2 }, { 65536, 2, 2 },
	};
	pool_cache_t pc;

	pc = pool_cache_init(4096, 0, 0, 0, "u-mg", NULL, IPL_NONE, NULL,
	    NULL, NULL);
	if (pc_impl(pc)->pc_pcpu == NULL) {
		pool_cache_destroy(pc);
		atf_tc_skip("no per-CPU slots (no rseq)");
	}
	pool_cache_destroy(pc);

	nbmem_kmem_refill_runs();
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct pool_cache_impl *pci =
		    pc_impl(nbmem_kmem_cache(t[i].size));

		ATF_CHECK_EQ_MSG(pci->pc_pcgsize, t[i].group, "%zu bytes: "
		    "groups of %u", t[i].size, pci->pc_pcgsize);
		ATF_CHECK_EQ_MSG(pci->pc_pcpu_batch, t[i].batch, "%zu bytes: "
		    "batches of %u", t[i].size, pci->pc_pcpu_batch);
		ATF_CHECK_EQ(pci->pc_pcpu_size, 2 * t[i].batch);
	}
}

/*
 * A cache of 63-object groups (PR_LARGECACHE) made to refill in runs:
 * its CPU slots still trade at least one whole group (PC_PCPU_BATCH
 * holds none of them), and gets and puts through them work.
 */
ATF_TC_WITHOUT_HEAD(pcpu_runs_largecache);
ATF_TC_BODY(pcpu_runs_largecache, tc)
{
	enum { N = 300 };
	pool_cache_t pc = pool_cache_init(64, 0, 0, PR_LARGECACHE,
	    "u-runs-63", NULL, IPL_NONE, NULL, NULL, NULL);
	struct pool_cache_impl *pci = pc_impl(pc);
	static void *o[N];

	if (pci->pc_pcpu == NULL) {
		pool_cache_destroy(pc);
		atf_tc_skip("no per-CPU slots (no rseq)");
	}
	nbmem_pool_cache_refill_runs(pc);
	ATF_REQUIRE_EQ(pci->pc_pcgsize, PCG_NOBJECTS_LARGE);
	ATF_REQUIRE_MSG(pci->pc_pcpu_batch >= pci->pc_pcgsize, "batches of "
	    "%u objects, groups of %u", pci->pc_pcpu_batch, pci->pc_pcgsize);
	ATF_REQUIRE_EQ(pci->pc_pcpu_size, 2 * pci->pc_pcpu_batch);
	for (int r = 0; r < 2; r++) {
		for (int i = 0; i < N; i++)
			ATF_REQUIRE((o[i] = pool_cache_get(pc, PR_WAITOK)) !=
			    NULL);
		for (int i = 0; i < N; i++)
			pool_cache_put(pc, o[i]);
	}
	pool_cache_destroy(pc);
}

/*
 * With the malloc library's classes, every class up to 4 KiB keeps its
 * CPU slots in the shared per-CPU area, at an offset the page map's
 * entry can hold (a multiple of 128 below 128 KiB, not 0), so that the
 * library's free reaches each of them from the entry.
 */
ATF_TC_WITHOUT_HEAD(pcpu_area_holds_malloc_classes);
ATF_TC_BODY(pcpu_area_holds_malloc_classes, tc)
{
	size_t stride, s;
	char *area, *slots;
	unsigned int n = 0;

	ATF_REQUIRE(nbmem_kmem_malloc_classes());
	kmem_init();
	area = nbmem_pc_pcpu_area(&stride);
	if (area == NULL)
		atf_tc_skip("no shared per-CPU area (no rseq)");
	for (unsigned int i = 0; nbmem_kmem_class_size(i) != 0; i++) {
		size_t sz = nbmem_kmem_class_size(i);
		uintptr_t off;

		if (sz > 4096)
			continue;
		slots = nbmem_pc_pcpu_slots(nbmem_kmem_malloc_cache(sz), &s);
		ATF_REQUIRE_MSG(slots != NULL && s == stride && slots > area,
		    "class %zu: slots %p, stride %zu (area %p, %zu)", sz,
		    (void *)slots, s, (void *)area, stride);
		off = (uintptr_t)(slots - area);
		ATF_CHECK_MSG(off % 128 == 0 && off != 0 && off < 131072,
		    "class %zu: region at offset %#lx", sz,
		    (unsigned long)off);
		n++;
	}
	ATF_CHECK_EQ(n, 29);		/* 15 of kmem's, 14 of malloc's */
}

ATF_TC_WITHOUT_HEAD(pcpu_setup_and_invalidate);
ATF_TC_BODY(pcpu_setup_and_invalidate, tc)
{
	pool_cache_t pc = mk_pcpu("u-pcpu");
	void *o[100];
	bool setup;

	ATF_CHECK_EQ(pcpu_count(pc, &setup), 0);
	ATF_CHECK(!setup);
	unsigned int before = ndtor;
	for (int i = 0; i < 100; i++)
		o[i] = pool_cache_get(pc, PR_WAITOK);
	for (int i = 0; i < 100; i++)
		pool_cache_put(pc, o[i]);
	/* No per-thread slot was made; the CPU slots and depot hold all. */
	ATF_CHECK(pcc_lookup(pc_impl(pc)->pc_id) == NULL);
	unsigned int incpu = pcpu_count(pc, &setup);
	ATF_CHECK(setup);
	ATF_CHECK(incpu > 0 && incpu <= 100);
	ATF_CHECK_EQ(pc->pc_pool.pr_nout, 100);
	pool_cache_invalidate(pc);
	ATF_CHECK_EQ(pcpu_count(pc, &setup), 0);
	ATF_CHECK_EQ(ndtor - before, 100);
	ATF_CHECK_EQ(pc->pc_pool.pr_nout, 0);
	/* Statistics: every operation counted once (no other thread). */
	struct pool_sysctl ps;
	ATF_REQUIRE(nbt_pool_record("u-pcpu", &ps));
	ATF_CHECK_EQ(ps.pr_cache_nhit_pcpu + ps.pr_cache_nmiss_pcpu, 200);
	pool_cache_destroy(pc);
}

/* Misses of a cache's per-CPU layer, all CPUs. */
static uint64_t
pcpu_misses(pool_cache_t pc)
{
	struct pool_cache_impl *pci = pc_impl(pc);
	uint64_t n = 0;

	for (unsigned int c = 0; c < pci->pc_ncpu; c++)
		n += pcpu_stats(pci, c)->ps_misses;
	return n;
}

/*
 * kmem's classes keep their CPU slots in the shared area, each class in
 * a region of its own at the same offset of every CPU's block (what the
 * malloc library's page map records); a cache made afterwards maps its
 * own slots.  A region's counters are its own: a miss of one class is
 * counted in it and not in the next class's.
 */
ATF_TC_WITHOUT_HEAD(pcpu_area);
ATF_TC_BODY(pcpu_area, tc)
{
	pool_cache_t own, pc64, pc128;
	size_t astride, stride, end = 128, sz;	/* the first region's */
	char *area;
	unsigned int i;

	kmem_free(kmem_alloc(8, KM_SLEEP), 8);
	own = mk_pcpu("u-own");		/* after kmem's start-up */
	area = nbmem_pc_pcpu_area(&astride);
	ATF_REQUIRE(area != NULL);
	for (i = 0; (sz = nbmem_kmem_class_size(i)) != 0; i++) {
		struct pool_cache_impl *pci = pc_impl(nbmem_kmem_cache(sz));
		char *slots = nbmem_pc_pcpu_slots(nbmem_kmem_cache(sz),
		    &stride);
		size_t off = (size_t)(slots - area);

		ATF_CHECK_EQ(stride, astride);
		ATF_CHECK_EQ(pci->pc_pcpu_bytes, 0);
		ATF_CHECK_EQ(off % 128, 0);
		/*
		 * In class order, one after the other (on multiples of 128
		 * bytes), inside a block.
		 */
		ATF_CHECK_EQ(off, (end + 127) & ~(size_t)127);
		end = off + pci->pc_pcpu_region;
		ATF_CHECK(end <= astride);
		ATF_CHECK((char *)(pcpu_stats(pci, pci->pc_ncpu - 1) + 1) <=
		    area + (pci->pc_ncpu - 1) * astride + end);
	}
	ATF_CHECK_EQ(i, 22);
	struct pool_cache_impl *opi = pc_impl(own);
	ATF_CHECK(opi->pc_pcpu_bytes != 0);
	ATF_CHECK_EQ(opi->pc_pcpu_stride, opi->pc_pcpu_region);
	ATF_CHECK((char *)opi->pc_pcpu < area ||
	    (char *)opi->pc_pcpu >= area + opi->pc_ncpu * astride);
	pool_cache_destroy(own);

	pc64 = nbmem_kmem_cache(64);
	pc128 = nbmem_kmem_cache(128);
	pool_cache_invalidate(pc64);
	uint64_t m64 = pcpu_misses(pc64), m128 = pcpu_misses(pc128);
	kmem_free(kmem_alloc(64, KM_SLEEP), 64);
	ATF_CHECK(pcpu_misses(pc64) > m64);
	ATF_CHECK_EQ(pcpu_misses(pc128), m128);
}

ATF_TC_WITHOUT_HEAD(pcpu_locked_slot_bypassed);
ATF_TC_BODY(pcpu_locked_slot_bypassed, tc)
{
	pool_cache_t pc = mk_pcpu("u-pcpu-lock");
	struct pool_cache_impl *pci = pc_impl(pc);
	bool setup;

	void *a = pool_cache_get(pc, PR_WAITOK);
	pool_cache_put(pc, a);
	ATF_CHECK_EQ(pcpu_count(pc, &setup), 1);
	/* Lock every CPU's slot: wherever we run, the sequences see BUSY. */
	for (unsigned int c = 0; c < pci->pc_ncpu; c++)
		ATF_REQUIRE(nbmem_rseq_trylock_cpu(pci->pc_pcpu,
		    pci->pc_pcpu_stride, c));
	void *b = pool_cache_get(pc, PR_NOWAIT);
	ATF_CHECK(b != a);
	pool_cache_put(pc, b);
	ATF_CHECK_EQ(pci->pc_ngroups[PCG_PART], 1);
	ATF_CHECK_EQ(pcpu_count(pc, &setup), 1);
	for (unsigned int c = 0; c < pci->pc_ncpu; c++)
		nbmem_rseq_unlock(pci->pc_pcpu, pci->pc_pcpu_stride, c);
	pool_cache_destroy(pc);
}

ATF_TC_WITHOUT_HEAD(pcpu_fork_unlocks);
ATF_TC_BODY(pcpu_fork_unlocks, tc)
{
	pool_cache_t pc = mk_pcpu("u-pcpu-fork");
	struct pool_cache_impl *pci = pc_impl(pc);
	int status;

	void *a = pool_cache_get(pc, PR_WAITOK);
	pool_cache_put(pc, a);
	/* As if a thread were inside a slow path at the fork. */
	ATF_REQUIRE(nbmem_rseq_trylock_cpu(pci->pc_pcpu, pci->pc_pcpu_stride,
	    0));
	pid_t pid = fork();
	ATF_REQUIRE(pid >= 0);
	if (pid == 0) {
		alarm(20);
		for (unsigned int c = 0; c < pci->pc_ncpu; c++) {
			if (pcpu_slot(pci, c)->ps_lock != 0)
				_exit(1);
		}
		void *o[50];
		for (int i = 0; i < 50; i++)
			o[i] = pool_cache_get(pc, PR_WAITOK);
		for (int i = 0; i < 50; i++)
			pool_cache_put(pc, o[i]);
		_exit(0);
	}
	ATF_REQUIRE(waitpid(pid, &status, 0) == pid);
	ATF_CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "child status %#x", status);
	nbmem_rseq_unlock(pci->pc_pcpu, pci->pc_pcpu_stride, 0);
	pool_cache_destroy(pc);
}

/*
 * A miss of one of kmem's caches (nbmem_pool_cache_spl_batch: a new
 * page from the page layer, a group, the depot: several spin mutexes)
 * blocks signals once for the whole slow path, not once per mutex: one
 * signal-mask call to block (and one to restore) per miss.  Other
 * caches (here one with a constructor, which runs with the program's
 * mask) block them mutex by mutex.
 */
static int
count_ctor(void *arg, void *obj, int flags)
{
	(void)arg;
	(void)obj;
	(void)flags;
	return 0;
}

ATF_TC_WITHOUT_HEAD(slow_path_blocks_once);
ATF_TC_BODY(slow_path_blocks_once, tc)
{
	pool_cache_t pc, pcc;
	uint64_t before, n, nctor;
	void *obj;

	pc = pool_cache_init(512, 0, 0, 0, "t_splonce", NULL, IPL_VM, NULL,
	    NULL, NULL);
	pcc = pool_cache_init(512, 0, 0, 0, "t_splctor", NULL, IPL_VM,
	    count_ctor, NULL, NULL);
	ATF_REQUIRE(pc != NULL && pcc != NULL);
	nbmem_pool_cache_spl_batch(pc);
	nbmem_pool_cache_spl_batch(pcc);	/* refused: a constructor */
	before = __atomic_load_n(&nbmem_os_nsigblock, __ATOMIC_RELAXED);
	obj = pool_cache_get(pc, PR_NOWAIT);
	n = __atomic_load_n(&nbmem_os_nsigblock, __ATOMIC_RELAXED) - before;
	ATF_REQUIRE(obj != NULL);
	pool_cache_put(pc, obj);
	before = __atomic_load_n(&nbmem_os_nsigblock, __ATOMIC_RELAXED);
	obj = pool_cache_get(pcc, PR_NOWAIT);
	nctor = __atomic_load_n(&nbmem_os_nsigblock, __ATOMIC_RELAXED) -
	    before;
	ATF_REQUIRE(obj != NULL);
	pool_cache_put(pcc, obj);
	ATF_CHECK_EQ_MSG(n, 1, "%llu signal blocks for one miss",
	    (unsigned long long)n);
	ATF_CHECK_MSG(nctor > 1, "%llu signal blocks for a miss of a cache "
	    "with a constructor", (unsigned long long)nctor);
	pool_cache_destroy(pc);
	pool_cache_destroy(pcc);
}

/*
 * 3.2, 3.3: a put that finds no group to hold its object (none empty in
 * the depot, and a new one cannot be had) destructs the object and puts
 * it back in the pool.  The group pool is held at its hard limit, so
 * pcg_alloc() fails: objects the CPU layer can keep without a new group
 * stay (a per-CPU slot's array; a per-thread slot has only the dummy
 * group), every other one is destructed at once.  Once groups can be
 * had again, puts cache their objects: no destructor runs.
 */
static unsigned int nctor_g, ndtor_g;

static int
g_ctor(void *arg, void *obj, int flags)
{
	(void)arg;
	(void)flags;
	*(uint64_t *)obj = 0x6f626a;
	nctor_g++;
	return 0;
}

static void
g_dtor(void *arg, void *obj)
{
	(void)arg;
	ATF_CHECK_EQ(*(uint64_t *)obj, 0x6f626a);
	ndtor_g++;
}

static void
nogroup_destructs(bool percpu)
{
	pool_cache_t pc;
	struct pool_cache_impl *pci;
	struct pool *gp;
	unsigned int i, n, kept, hardlimit, maxpages;
	bool setup;
	void **o;

	nbmem_pcc_percpu = percpu;
	pc = pool_cache_init(128, 0, 0, 0, "u-nogroup", NULL, IPL_VM, g_ctor,
	    g_dtor, NULL);
	ATF_REQUIRE(pc != NULL);
	pci = pc_impl(pc);
	if (percpu && pci->pc_pcpu == NULL) {
		pool_cache_destroy(pc);
		atf_tc_skip("no per-CPU slots here");
	}
	ATF_REQUIRE(percpu || pci->pc_pcpu == NULL);
	/* more than all CPU slots together can hold */
	n = (percpu ? pci->pc_ncpu * 2 * pci->pc_pcgsize : 0) + 100;
	o = calloc(n, sizeof(*o));
	ATF_REQUIRE(o != NULL);
	for (i = 0; i < n; i++)
		ATF_REQUIRE((o[i] = pool_cache_get(pc, PR_WAITOK)) != NULL);
	ATF_CHECK_EQ(nctor_g, n);
	ATF_CHECK_EQ(ndtor_g, 0);

	gp = nbmem_pc_group_pool(pc);
	hardlimit = gp->pr_hardlimit;
	maxpages = gp->pr_maxpages;
	pool_sethardlimit(gp, (int)gp->pr_nout, NULL, 0);
	for (i = 0; i < n; i++)
		pool_cache_put(pc, o[i]);
	kept = percpu ? pcpu_count(pc, &setup) : 0;
	ATF_CHECK_MSG(kept < n, "%u of %u objects cached without groups",
	    kept, n);
	ATF_CHECK_EQ_MSG(ndtor_g, n - kept, "%u objects put, %u kept in "
	    "the CPU layer, %u destructed", n, kept, ndtor_g);
	ATF_CHECK_EQ(pc->pc_pool.pr_nout, kept);
	ATF_CHECK_EQ(pci->pc_ngroups[PCG_FULL] + pci->pc_ngroups[PCG_PART],
	    0);

	/* groups again: the objects stay in the cache */
	pool_sethardlimit(gp, INT_MAX, NULL, 0);
	mutex_enter(&pool_impl(gp)->pr_lock);
	gp->pr_hardlimit = hardlimit;
	gp->pr_maxpages = maxpages;
	mutex_exit(&pool_impl(gp)->pr_lock);
	for (i = 0; i < n; i++)
		ATF_REQUIRE((o[i] = pool_cache_get(pc, PR_WAITOK)) != NULL);
	ATF_CHECK_EQ(ndtor_g, n - kept);
	for (i = 0; i < n; i++)
		pool_cache_put(pc, o[i]);
	ATF_CHECK_EQ(ndtor_g, n - kept);
	ATF_CHECK_EQ(pc->pc_pool.pr_nout, n);
	pool_cache_destroy(pc);
	ATF_CHECK_EQ(ndtor_g, nctor_g);
	free(o);
}

ATF_TC_WITHOUT_HEAD(nogroup_destructs_per_thread);
ATF_TC_BODY(nogroup_destructs_per_thread, tc)
{
	nogroup_destructs(false);
}

ATF_TC_WITHOUT_HEAD(nogroup_destructs_per_cpu);
ATF_TC_BODY(nogroup_destructs_per_cpu, tc)
{
	nogroup_destructs(true);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, slow_path_blocks_once);
	ATF_TP_ADD_TC(tp, fresh_slot_dummy);
	ATF_TP_ADD_TC(tp, busy_slot_bypassed);
	ATF_TP_ADD_TC(tp, slot_keeps_bursts);
	ATF_TP_ADD_TC(tp, slot_keep_bound_drops);
	ATF_TP_ADD_TC(tp, slot_no_stash_no_spare);
	ATF_TP_ADD_TC(tp, thief_waits_for_owner);
	ATF_TP_ADD_TC(tp, table_grows);
	ATF_TP_ADD_TC(tp, exited_thread_leaves_no_slot);
	ATF_TP_ADD_TC(tp, fork_child_adopts_orphans);
	ATF_TP_ADD_TC(tp, reclaim_returns_pages);
	ATF_TP_ADD_TC(tp, qcache_classes);
	ATF_TP_ADD_TC(tp, qcache_zero_address);
	ATF_TP_ADD_TC(tp, pcpu_group_sizes);
	ATF_TP_ADD_TC(tp, pcpu_malloc_group_sizes);
	ATF_TP_ADD_TC(tp, pcpu_area_holds_malloc_classes);
	ATF_TP_ADD_TC(tp, pcpu_runs_largecache);
	ATF_TP_ADD_TC(tp, pcpu_spare_group);
	ATF_TP_ADD_TC(tp, pcpu_hits_wrap);
	ATF_TP_ADD_TC(tp, pcpu_stash);
	ATF_TP_ADD_TC(tp, malloc_classes_no_stash);
	ATF_TP_ADD_TC(tp, thread_exchange_no_sigblock);
	ATF_TP_ADD_TC(tp, thread_malloc_group_sizes);
	ATF_TP_ADD_TC(tp, thread_group_size_race);
	ATF_TP_ADD_TC(tp, refill_lines_apart);
	ATF_TP_ADD_TC(tp, pcpu_setup_and_invalidate);
	ATF_TP_ADD_TC(tp, pcpu_area);
	ATF_TP_ADD_TC(tp, pcpu_locked_slot_bypassed);
	ATF_TP_ADD_TC(tp, pcpu_fork_unlocks);
	ATF_TP_ADD_TC(tp, nogroup_destructs_per_thread);
	ATF_TP_ADD_TC(tp, nogroup_destructs_per_cpu);
	return atf_no_error();
}

/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * pool_cache_cpu.c: the CPU layer's bookkeeping: cache ids, thread
 * tables, slots, thread exit, taking other threads' groups, fork.
 *
 * Each thread that uses a cache gets one slot for it (pool_cache_impl.h)
 * on first use, found through the thread's table at index pc_id.  A slot
 * is on its cache's list (pc_cpus) and in its thread's table; both are
 * changed only under the registry lock, which also guards the list of
 * all tables, the id map and the free slots.  The registry lock is a
 * spin lock (signals blocked): a thread is never interrupted while it
 * holds it, so a handler never meets a half-replaced table.
 *
 * Thread exit (a pthread key destructor) gives the slots' groups to the
 * depots and frees the table.  nbmem_pcc_collect() takes the groups of
 * every slot of one cache, using the steal protocol of pool_cache.c's
 * theory, section 4.  In a fork child, slots of the parent's other
 * threads are orphans: their groups go to the depots, except where the
 * owner was inside its slot at the fork (those groups may be half
 * updated and are left alone, their objects lost to the child).
 */

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "os/os.h"
#include "pool_cache_impl.h"

__thread struct pcc_table *nbmem_pcc_table
    __attribute__((__tls_model__("initial-exec")));
bool nbmem_pcc_fence;

/*
 * The slot of every table entry without one: always being stolen, so
 * the fast paths fail to enter it and take the slow path, which makes a
 * slot.
 */
pool_cache_cpu_t nbmem_pcc_slot_none = {
	.cc_current = &nbmem_pcg_dummy,
	.cc_previous = &nbmem_pcg_dummy,
	.cc_idle = 1,
	.cc_steal = 1,
};

/* Capacity 0: every fast lookup misses. */
static struct pcc_table pcc_table_none;
__thread struct pcc_table *nbmem_pcc_fast
    __attribute__((__tls_model__("initial-exec"))) = &pcc_table_none;

void
nbmem_pcc_fast_sync(void)
{
	struct pcc_table *t = nbmem_pcc_table;

	if (t == NULL || nbmem_intr_depth != 0 || nbmem_pcc_fence)
		t = &pcc_table_none;
	nbmem_pcc_fast = t;
	nbmem_rseq_set_divert(nbmem_intr_depth != 0);
}

/* Cache ids: a bitmap.  65536 live caches are far beyond any program. */
#define	PCC_MAXID	65536u
/* Slots are carved from chunks of this many bytes. */
#define	PCC_CHUNK	(64u * 1024)

static kmutex_t pcc_list_lock = MUTEX_INITIALIZER(IPL_HIGH);
static struct pool_cache *pcc_caches;		/* pcc_list_lock */

static kmutex_t pcc_lock = MUTEX_INITIALIZER(IPL_HIGH);
/* Id 0 is never given: a zeroed, uninitialized cache finds no slot. */
static uint64_t pcc_idmap[PCC_MAXID / 64] = { 1 };	/* pcc_lock */
static struct pcc_table *pcc_tables;		/* pcc_lock */
/* Written under pcc_lock; peeked at without it. */
static pool_cache_cpu_t *pcc_freeslots;
static pthread_key_t pcc_key;

/* ---- membarrier: the heavy side of the slot protocol */

static void
pcc_membarrier_init(void)
{
	if (!nbmem_os_membarrier_init())
		nbmem_pcc_fence = true;
}

/*
 * After this returns, every other thread has either published its
 * cc_idle store or will see our cc_steal store.
 */
static void
pcc_membarrier(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (nbmem_pcc_fence)
		return;
	int error = nbmem_os_membarrier();
	if (error != 0)
		nbmem_panic("pool_cache: membarrier failed (errno %d)", error);
}

/* ---- slots (pcc_lock held) */

static void
pcc_slot_link(struct pool_cache *pc, pool_cache_cpu_t *cc)
{
	struct pool_cache_impl *pci = pc_impl(pc);

	cc->cc_next = pci->pc_cpus;
	if (cc->cc_next != NULL)
		cc->cc_next->cc_pprev = &cc->cc_next;
	cc->cc_pprev = &pci->pc_cpus;
	pci->pc_cpus = cc;
}

static void
pcc_slot_unlink(pool_cache_cpu_t *cc)
{
	*cc->cc_pprev = cc->cc_next;
	if (cc->cc_next != NULL)
		cc->cc_next->cc_pprev = cc->cc_pprev;
	cc->cc_next = NULL;
	cc->cc_pprev = NULL;
}

/* Give the groups the slot keeps aside to the depot. */
static void
pcc_slot_unstash(pool_cache_cpu_t *cc)
{
	nbmem_pc_depot_give_aside(cc->cc_cache, &cc->cc_stash,
	    &cc->cc_nstash);
	nbmem_pc_depot_give_aside(cc->cc_cache, &cc->cc_spare,
	    &cc->cc_nspare);
}

/*
 * Empty a slot whose owner is not inside it: groups, those kept aside
 * included, to the depot.  With `drop', also fold its counters into the
 * cache, remove it from the cache's list and its owner's table, and
 * free it.
 */
static void
pcc_slot_flush(pool_cache_cpu_t *cc, bool drop)
{
	struct pool_cache *pc = cc->cc_cache;
	pcg_t *cur = cc->cc_current, *prev = cc->cc_previous;

	cc->cc_current = &nbmem_pcg_dummy;
	cc->cc_previous = &nbmem_pcg_dummy;
	nbmem_pc_depot_give(pc, cur);
	nbmem_pc_depot_give(pc, prev);
	pcc_slot_unstash(cc);
	if (!drop)
		return;
	nbmem_pc_counters_merge(pc, cc);
	pcc_slot_unlink(cc);
	cc->cc_table->pt_slots[pc_impl(pc)->pc_id] = PCC_SLOT_NONE;
	cc->cc_cache = NULL;
	cc->cc_table = NULL;
	cc->cc_next = pcc_freeslots;
	__atomic_store_n(&pcc_freeslots, cc, __ATOMIC_RELAXED);
}

static void
pcc_table_unlink(struct pcc_table *t)
{
	if (t->pt_prev != NULL)
		t->pt_prev->pt_next = t->pt_next;
	else
		pcc_tables = t->pt_next;
	if (t->pt_next != NULL)
		t->pt_next->pt_prev = t->pt_prev;
}

static void
pcc_table_link(struct pcc_table *t)
{
	t->pt_prev = NULL;
	t->pt_next = pcc_tables;
	if (t->pt_next != NULL)
		t->pt_next->pt_prev = t;
	pcc_tables = t;
}

/* ---- thread exit */

/* Unmap a table and the tables it replaced (no lock needed: unlinked). */
static void
pcc_table_unmap(struct pcc_table *t)
{
	while (t != NULL) {
		struct pcc_table *older = t->pt_retired;
		nbmem_os_unmap(t, t->pt_bytes);
		t = older;
	}
}

static void
pcc_thread_exit(void *arg)
{
	struct pcc_table *t = arg;

	mutex_enter(&pcc_lock);
	for (unsigned int i = 0; i < t->pt_cap; i++) {
		if (t->pt_slots[i] != PCC_SLOT_NONE)
			pcc_slot_flush(t->pt_slots[i], true);
	}
	pcc_table_unlink(t);
	if (nbmem_pcc_table == t) {
		nbmem_pcc_table = NULL;
		nbmem_pcc_fast_sync();
	}
	mutex_exit(&pcc_lock);
	pcc_table_unmap(t);
}

/* ---- fork */

static void
pcc_fork_child(void)
{
	struct pcc_table *t, *next, *dead = NULL;

	/* Locks are free again; forget the other threads. */
	mutex_enter(&pcc_lock);
	for (t = pcc_tables; t != NULL; t = next) {
		next = t->pt_next;
		if (t == nbmem_pcc_table)
			continue;
		for (unsigned int i = 0; i < t->pt_cap; i++) {
			pool_cache_cpu_t *cc = t->pt_slots[i];
			if (cc == PCC_SLOT_NONE)
				continue;
			if (__atomic_load_n(&cc->cc_idle,
			    __ATOMIC_RELAXED) != 1) {
				/* Caught mid-update: leave its groups. */
				cc->cc_current = &nbmem_pcg_dummy;
				cc->cc_previous = &nbmem_pcg_dummy;
				cc->cc_stash = cc->cc_spare = NULL;
				cc->cc_nstash = cc->cc_nspare = 0;
				cc->cc_idle = 1;
			}
			pcc_slot_flush(cc, true);
		}
		pcc_table_unlink(t);
		t->pt_next = dead;
		dead = t;
	}
	mutex_exit(&pcc_lock);
	while (dead != NULL) {
		t = dead;
		dead = t->pt_next;
		pcc_table_unmap(t);
	}
}

/*
 * A per-CPU slot locked at the fork belonged to a thread the child does
 * not have, caught inside a slow path: its contents may be half moved,
 * so they are dropped (the objects are lost to the child) and the lock
 * is freed.  Sequences in flight were restarted by the fork itself.
 */
static void
pcc_fork_child_pcpu(struct pool_cache_impl *pci)
{
	for (unsigned int cpu = 0; pci->pc_pcpu != NULL && cpu < pci->pc_ncpu;
	    cpu++) {
		struct nbmem_pcpu_slot *s = pcpu_slot(pci, cpu);
		if (__atomic_load_n(&s->ps_lock, __ATOMIC_RELAXED) != 0) {
			nbmem_pcpu_set_count(s, 0);
			__atomic_store_n(&s->ps_lock, 0, __ATOMIC_RELEASE);
		}
	}
}

/*
 * Before fork take the cache list, the registry and every depot lock,
 * in the lock order; release them after, in both processes.  Pools are
 * later in the order (NBMEM_FORK_ORDER_POOL): none is held with these.
 */
static void
pcc_fork(int phase)
{
	struct pool_cache *pc;

	if (phase == NBMEM_FORK_PREPARE) {
		mutex_enter(&pcc_list_lock);
		mutex_enter(&pcc_lock);
		for (pc = pcc_caches; pc != NULL;
		    pc = pc_impl(pc)->pc_nextcache)
			mutex_enter(&pc_impl(pc)->pc_lock);
		return;
	}
	for (pc = pcc_caches; pc != NULL; pc = pc_impl(pc)->pc_nextcache) {
		mutex_exit(&pc_impl(pc)->pc_lock);
		if (phase == NBMEM_FORK_CHILD)
			pcc_fork_child_pcpu(pc_impl(pc));
	}
	mutex_exit(&pcc_lock);
	mutex_exit(&pcc_list_lock);
	if (phase == NBMEM_FORK_CHILD)
		pcc_fork_child();
}

__attribute__((__constructor__(105)))
static void
pcc_fork_init(void)
{
	nbmem_fork_hook_add(NBMEM_FORK_ORDER_CACHE, pcc_fork);
}

/* ---- init, ids, cache list */

void
nbmem_pcc_init(void)
{
	int error = pthread_key_create(&pcc_key, pcc_thread_exit);

	VERIFY(error == 0, "pool_cache: cannot create the thread key "
	    "(error %d)", error);
	pcc_membarrier_init();
}

unsigned int
nbmem_pcc_id_alloc(const char *wchan)
{
	mutex_enter(&pcc_lock);
	for (unsigned int w = 0; w < PCC_MAXID / 64; w++) {
		if (pcc_idmap[w] == ~(uint64_t)0)
			continue;
		unsigned int b = (unsigned int)__builtin_ctzll(~pcc_idmap[w]);
		pcc_idmap[w] |= (uint64_t)1 << b;
		mutex_exit(&pcc_lock);
		return w * 64 + b;
	}
	mutex_exit(&pcc_lock);
	nbmem_panic("pool_cache: \"%s\": more than %u caches", wchan,
	    PCC_MAXID);
}

void
nbmem_pcc_id_free(unsigned int id)
{
	mutex_enter(&pcc_lock);
	pcc_idmap[id / 64] &= ~((uint64_t)1 << (id % 64));
	mutex_exit(&pcc_lock);
}

void
nbmem_pcc_cache_link(struct pool_cache *pc)
{
	mutex_enter(&pcc_list_lock);
	pc_impl(pc)->pc_nextcache = pcc_caches;
	pcc_caches = pc;
	mutex_exit(&pcc_list_lock);
}

void
nbmem_pcc_cache_unlink(struct pool_cache *pc)
{
	mutex_enter(&pcc_list_lock);
	for (struct pool_cache **pp = &pcc_caches; *pp != NULL;
	    pp = &pc_impl(*pp)->pc_nextcache) {
		if (*pp == pc) {
			*pp = pc_impl(pc)->pc_nextcache;
			break;
		}
	}
	mutex_exit(&pcc_list_lock);
}

/* ---- slot creation */

/*
 * NetBSD calls this as it attaches each CPU, to give every cache a slot
 * for it.  Here no slot waits for that: a cache maps the per-CPU slots
 * of every possible CPU when it is created (pool_cache.c), and a
 * thread's slot is made by its first get or put (below).  Any ci, NULL
 * included; it is never read.
 */
NBMEM_EXPORT void
pool_cache_cpu_init(struct cpu_info *ci)
{
	(void)ci;
}

/* Carve a chunk of slots (no lock held); false if the OS refuses. */
static bool
pcc_chunk_add(void)
{
	pool_cache_cpu_t *chunk = nbmem_os_map(PCC_CHUNK, 0,
	    NBMEM_OS_PROT_RW, false);
	size_t n = PCC_CHUNK / sizeof(pool_cache_cpu_t);

	if (chunk == NULL)
		return false;
	mutex_enter(&pcc_lock);
	for (size_t i = 0; i < n; i++) {
		chunk[i].cc_next = pcc_freeslots;
		__atomic_store_n(&pcc_freeslots, &chunk[i], __ATOMIC_RELAXED);
	}
	mutex_exit(&pcc_lock);
	return true;
}

pool_cache_cpu_t *
nbmem_pcc_slot_create(struct pool_cache *pc)
{
	struct pool_cache_impl *pci = pc_impl(pc);
	struct pcc_table *t = nbmem_pcc_table, *nt = NULL;
	unsigned int id = pci->pc_id;
	pool_cache_cpu_t *cc;

	/* Handlers use the depot; thread context makes the slot. */
	if (nbmem_intr_p())
		return NULL;
	if (t == NULL || id >= t->pt_cap) {
		size_t ps = nbmem_os_pagesize();
		size_t cap = t == NULL ? 0 : t->pt_cap;
		if (cap <= id)
			cap = id + 1;
		size_t bytes = sizeof(*nt) + cap * 2 * sizeof(void *);
		bytes = (bytes + ps - 1) & ~(ps - 1);
		nt = nbmem_os_map(bytes, 0, NBMEM_OS_PROT_RW, false);
		if (nt == NULL)
			return NULL;
		nt->pt_bytes = bytes;
		nt->pt_cap = (unsigned int)((bytes - sizeof(*nt)) /
		    sizeof(void *));
		for (unsigned int i = 0; i < nt->pt_cap; i++)
			nt->pt_slots[i] = PCC_SLOT_NONE;
	}
	if (__atomic_load_n(&pcc_freeslots, __ATOMIC_RELAXED) == NULL &&
	    !pcc_chunk_add()) {
		if (nt != NULL)
			nbmem_os_unmap(nt, nt->pt_bytes);
		return NULL;
	}

	mutex_enter(&pcc_lock);
	if ((cc = pcc_freeslots) == NULL) {
		mutex_exit(&pcc_lock);
		if (nt != NULL)
			nbmem_os_unmap(nt, nt->pt_bytes);
		return NULL;
	}
	__atomic_store_n(&pcc_freeslots, cc->cc_next, __ATOMIC_RELAXED);
	if (nt != NULL) {
		if (t != NULL) {
			for (unsigned int i = 0; i < t->pt_cap; i++) {
				nt->pt_slots[i] = t->pt_slots[i];
				if (nt->pt_slots[i] != PCC_SLOT_NONE)
					nt->pt_slots[i]->cc_table = nt;
			}
			pcc_table_unlink(t);
			nt->pt_retired = t;
		}
		pcc_table_link(nt);
		nbmem_pcc_table = nt;
		nbmem_pcc_fast_sync();
	}
	memset(cc, 0, sizeof(*cc));
	cc->cc_idle = 1;
	cc->cc_current = &nbmem_pcg_dummy;
	cc->cc_previous = &nbmem_pcg_dummy;
	cc->cc_cache = pc;
	cc->cc_table = nbmem_pcc_table;
	pcc_slot_link(pc, cc);
	nbmem_pcc_table->pt_slots[id] = cc;
	mutex_exit(&pcc_lock);

	/*
	 * The old table stays mapped (nt->pt_retired) until the thread
	 * exits: this may be a signal handler's call, and the code it
	 * interrupted may be between loading the old table and reading
	 * its entries (pcc_lookup_fast).  Tables double, so the retired
	 * ones add up to less than the last.
	 */
	if (nt != NULL)
		(void)pthread_setspecific(pcc_key, nt);
	return cc;
}

/* ---- taking other threads' groups */

/*
 * Take the groups of every slot of pc, or (`stash_only') only those
 * they keep aside; with `unregister' also remove the slots.
 */
static void
pcc_collect(struct pool_cache *pc, bool unregister, bool stash_only)
{
	struct pool_cache_impl *pci = pc_impl(pc);
	pool_cache_cpu_t *cc, *next;
	bool any = !stash_only;

	mutex_enter(&pcc_lock);
	/* Read without the owners: a stash seen empty waits for a pass. */
	for (cc = pci->pc_cpus; cc != NULL && !any; cc = cc->cc_next)
		any = __atomic_load_n(&cc->cc_nstash, __ATOMIC_RELAXED) != 0 ||
		    __atomic_load_n(&cc->cc_nspare, __ATOMIC_RELAXED) != 0;
	if (pci->pc_cpus == NULL || !any) {
		mutex_exit(&pcc_lock);
		return;
	}
	for (cc = pci->pc_cpus; cc != NULL; cc = cc->cc_next)
		__atomic_store_n(&cc->cc_steal, 1, __ATOMIC_RELAXED);
	pcc_membarrier();
	for (cc = pci->pc_cpus; cc != NULL; cc = next) {
		next = cc->cc_next;
		/* The owner leaves its slot within a few instructions. */
		for (unsigned int spins = 0;
		    __atomic_load_n(&cc->cc_idle, __ATOMIC_ACQUIRE) != 1;
		    spins++) {
			if (spins < 1000)
				nbmem_os_cpu_relax();
			else
				sched_yield();
		}
		if (stash_only)
			pcc_slot_unstash(cc);
		else
			pcc_slot_flush(cc, unregister);
		if (!unregister)
			__atomic_store_n(&cc->cc_steal, 0, __ATOMIC_RELEASE);
	}
	mutex_exit(&pcc_lock);
}

void
nbmem_pcc_collect(struct pool_cache *pc, bool unregister)
{
	pcc_collect(pc, unregister, false);
}

/* The groups the slots keep aside, to the depot (decay passes). */
void
nbmem_pcc_unstash(struct pool_cache *pc)
{
	pcc_collect(pc, false, true);
}

/*
 * Does the calling thread's slot of pc hold obj?  For pool_whatis().
 * Only its own: another thread's groups change hands with no lock this
 * side could hold (a group its owner retires may be freed, its page
 * given back), so reading them could fault.  The slot is entered as
 * its owner enters it, so a signal handler of this thread keeps out.
 */
bool
nbmem_pcc_holds(struct pool_cache *pc, const void *obj)
{
	pool_cache_cpu_t *cc = pcc_lookup(pc_impl(pc)->pc_id);
	bool found;

	if (cc == NULL || !pcc_enter(cc))
		return false;
	found = nbmem_pcg_holds(cc->cc_current, obj) ||
	    nbmem_pcg_holds(cc->cc_previous, obj) ||
	    nbmem_pcg_list_holds(cc->cc_stash, obj);
	pcc_exit(cc);
	return found;
}

void
nbmem_pcc_counters(struct pool_cache *pc, uint64_t *hits, uint64_t *misses,
    uint64_t *pcmisses, uint64_t *contended, uint64_t *nstash)
{
	struct pool_cache_impl *pci = pc_impl(pc);

	*hits = *misses = *pcmisses = *contended = *nstash = 0;
	mutex_enter(&pcc_lock);
	for (pool_cache_cpu_t *cc = pci->pc_cpus; cc != NULL;
	    cc = cc->cc_next) {
		*hits += __atomic_load_n(&cc->cc_hits, __ATOMIC_RELAXED);
		*misses += __atomic_load_n(&cc->cc_misses, __ATOMIC_RELAXED);
		*pcmisses += __atomic_load_n(&cc->cc_pcmisses,
		    __ATOMIC_RELAXED);
		*contended += __atomic_load_n(&cc->cc_contended,
		    __ATOMIC_RELAXED);
		*nstash += __atomic_load_n(&cc->cc_nstash, __ATOMIC_RELAXED);
	}
	mutex_exit(&pcc_lock);
}

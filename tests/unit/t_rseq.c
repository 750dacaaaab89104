/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * The rseq per-CPU primitives of os/rseq.h: availability and its
 * fallbacks, LIFO order and the full/empty limits, the slot a CPU
 * reaches, threads hammering shared slots (every object popped was
 * pushed, none twice), a timer-signal storm whose handler uses the same
 * slots as the code it interrupts, and the slot lock under contention.
 *
 * Objects are entries of objs[]; each carries an atomic state, 1 while
 * it sits in a slot and 0 while a thread (or the signal handler) owns
 * it.  An owner sets 1 before pushing (after the commit another thread
 * may pop it at once) and a popper swaps in 0 and must find 1: a lost
 * update of the slot's count shows up as an object popped twice or one that is
 * in a slot and owned at once, which the final census also counts.
 * Runs are bounded by time, not by an expected rate.
 */
#define	_GNU_SOURCE
#include <sys/time.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <atf-c.h>

#include "os/rseq.h"
#include "nbtest.h"

#define	SLOTN		16		/* objects per slot */
#define	NOBJ		4096
#define	RUN_NS		1500000000ull	/* each stress phase */

struct tobj {
	int		state;		/* 1: in a slot, 0: owned */
	unsigned int	pushes;
	unsigned int	pops;
};

static struct tobj objs[NOBJ];
static unsigned int errors;		/* broken rules seen by workers */
static const char *first_error;

static void
fail(const char *what)
{
	if (__atomic_fetch_add(&errors, 1, __ATOMIC_RELAXED) == 0)
		first_error = what;
}

static void
require_rseq(void)
{
	const char *env = getenv("NBMEM_PERCPU");

	if (nbmem_rseq_available())
		return;
	if (env != NULL && strcmp(env, "0") == 0)
		atf_tc_skip("NBMEM_PERCPU=0: per-CPU mode off");
	atf_tc_skip("glibc did not register rseq for this thread "
	    "(valgrind, GLIBC_TUNABLES=glibc.pthread.rseq=0, an old kernel "
	    "or C library, or no membarrier rseq fence)");
}

static size_t stride;
static unsigned int ncpu;
static void *slots;

static void
slots_setup(unsigned int size)
{
	ncpu = nbmem_rseq_ncpu();
	stride = NBMEM_PCPU_STRIDE(SLOTN);
	ATF_REQUIRE(size <= SLOTN);
	slots = aligned_alloc(64, stride * ncpu);
	ATF_REQUIRE(slots != NULL);
	memset(slots, 0, stride * ncpu);
	for (unsigned int c = 0; c < ncpu; c++)
		nbmem_pcpu_slot(slots, stride, c)->ps_size = size;
	memset(objs, 0, sizeof(objs));
	errors = 0;
	first_error = NULL;
}

static struct tobj *
as_obj(void *p)
{
	struct tobj *o = p;

	if (o < objs || o >= objs + NOBJ) {
		fail("popped a pointer that was never pushed");
		return NULL;
	}
	return o;
}

/* Push an owned object; on failure it stays owned. */
static int
obj_push(struct tobj *o)
{
	if (__atomic_exchange_n(&o->state, 1, __ATOMIC_ACQ_REL) != 0)
		fail("pushed an object already in a slot");
	__atomic_fetch_add(&o->pushes, 1, __ATOMIC_RELAXED);
	int rc = nbmem_rseq_push(slots, stride, o);
	if (rc != NBMEM_RSEQ_OK) {
		__atomic_fetch_sub(&o->pushes, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&o->state, 0, __ATOMIC_RELEASE);
	}
	return rc;
}

static struct tobj *
obj_pop(int *rcp)
{
	void *p;
	int rc = nbmem_rseq_pop(slots, stride, &p);

	*rcp = rc;
	if (rc != NBMEM_RSEQ_OK)
		return NULL;
	struct tobj *o = as_obj(p);
	if (o == NULL)
		return NULL;
	if (__atomic_exchange_n(&o->state, 0, __ATOMIC_ACQ_REL) != 1)
		fail("popped an object twice");
	__atomic_fetch_add(&o->pops, 1, __ATOMIC_RELAXED);
	return o;
}

/*
 * After the run: every object is in exactly one place, slots hold only
 * objects in state 1, and pushes - pops is 1 for those, 0 for the rest.
 */
static void
census(struct tobj **owned, size_t nowned)
{
	static unsigned char seen[NOBJ];
	size_t total = nowned;

	ATF_CHECK_MSG(errors == 0, "%u broken rules, first: %s", errors,
	    first_error);
	memset(seen, 0, sizeof(seen));
	for (size_t i = 0; i < nowned; i++) {
		ATF_REQUIRE(owned[i] >= objs && owned[i] < objs + NOBJ);
		seen[owned[i] - objs]++;
		ATF_CHECK_EQ(owned[i]->state, 0);
	}
	for (unsigned int c = 0; c < ncpu; c++) {
		struct nbmem_pcpu_slot *s = nbmem_pcpu_slot(slots, stride, c);

		ATF_CHECK_EQ_MSG(s->ps_lock, 0, "slot %u left locked", c);
		ATF_REQUIRE(nbmem_pcpu_count(s) <= s->ps_size);
		for (unsigned int j = 0; j < nbmem_pcpu_count(s); j++) {
			struct tobj *o = s->ps_objs[j];
			ATF_REQUIRE(o >= objs && o < objs + NOBJ);
			seen[o - objs]++;
			ATF_CHECK_EQ(o->state, 1);
		}
		total += nbmem_pcpu_count(s);
	}
	for (size_t i = 0; i < NOBJ; i++) {
		ATF_CHECK_EQ_MSG(seen[i], 1, "object %zu found %u times", i,
		    seen[i]);
		ATF_CHECK_EQ_MSG(objs[i].pushes - objs[i].pops,
		    (unsigned int)objs[i].state,
		    "object %zu: %u pushes, %u pops", i, objs[i].pushes,
		    objs[i].pops);
	}
	ATF_CHECK_EQ(total, (size_t)NOBJ);
}

static uint32_t
rnd(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

/* ---- availability */

static void *
probe_thread(void *arg)
{
	return nbmem_rseq_available() ? &objs : NULL;
}

ATF_TC_WITHOUT_HEAD(available);
ATF_TC_BODY(available, tc)
{
	const char *env = getenv("NBMEM_PERCPU");

	if (env != NULL && strcmp(env, "0") == 0) {
		/* The suite's fallback run: reported off in every thread. */
		ATF_CHECK(!nbmem_rseq_available());
		return;
	}
	require_rseq();
	ATF_CHECK(nbmem_rseq_cpu_id() >= 0);
	ATF_CHECK(nbmem_rseq_cpu() < nbmem_rseq_ncpu());
	ATF_CHECK(nbmem_rseq_ncpu() >= (unsigned int)sysconf(
	    _SC_NPROCESSORS_ONLN));
	/* Every thread has its registration. */
	pthread_t t;
	void *ret;
	ATF_REQUIRE(pthread_create(&t, NULL, probe_thread, NULL) == 0);
	ATF_REQUIRE(pthread_join(t, &ret) == 0);
	ATF_CHECK(ret != NULL);
}

ATF_TC_WITHOUT_HEAD(env_disables);
ATF_TC_BODY(env_disables, tc)
{
	/* A fresh process: nothing has asked yet in this one. */
	ATF_REQUIRE(setenv("NBMEM_PERCPU", "0", 1) == 0);
	ATF_CHECK(!nbmem_rseq_available());
	ATF_CHECK(!nbmem_rseq_trylock_cpu(&objs, 0, 0));
}

/*
 * Without a registration every operation reports NOCPU and leaves the
 * slot alone.  When glibc did register, re-run this case in a child
 * with the tunable that stops it, which is what valgrind looks like.
 */
ATF_TC(nocpu);
ATF_TC_HEAD(nocpu, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "NOCPU without rseq, checked under glibc.pthread.rseq=0");
}
ATF_TC_BODY(nocpu, tc)
{
	if (nbmem_rseq_cpu_id() >= 0) {
		char self[PATH_MAX], dir[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		ATF_REQUIRE(n > 0);
		self[n] = '\0';
		strcpy(dir, self);
		*strrchr(dir, '/') = '\0';
		pid_t pid = fork();
		ATF_REQUIRE(pid >= 0);
		if (pid == 0) {
			setenv("GLIBC_TUNABLES", "glibc.pthread.rseq=0", 1);
			execl(self, self, "-s", dir, "nocpu", (char *)NULL);
			_exit(127);
		}
		int status;
		ATF_REQUIRE(waitpid(pid, &status, 0) == pid);
		ATF_CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "the child without rseq failed: status %#x", status);
		return;
	}
	slots_setup(SLOTN);
	void *p = NULL;
	unsigned int cpu = 77;
	ATF_CHECK(!nbmem_rseq_available());
	ATF_CHECK_EQ(nbmem_rseq_push(slots, stride, &objs[0]),
	    NBMEM_RSEQ_NOCPU);
	ATF_CHECK_EQ(nbmem_rseq_pop(slots, stride, &p), NBMEM_RSEQ_NOCPU);
	ATF_CHECK(p == NULL);
	ATF_CHECK_EQ(nbmem_rseq_trylock(slots, stride, &cpu),
	    NBMEM_RSEQ_NOCPU);
	ATF_CHECK_EQ(cpu, 77);
	for (unsigned int c = 0; c < ncpu; c++) {
		struct nbmem_pcpu_slot *s = nbmem_pcpu_slot(slots, stride, c);
		ATF_CHECK(s->ps_lock == 0 && s->ps_word == 0);
	}
	free(slots);
}

/* ---- one thread */

ATF_TC_WITHOUT_HEAD(lifo_full_empty);
ATF_TC_BODY(lifo_full_empty, tc)
{
	void *p;
	unsigned int cpu;

	require_rseq();
	/* Stride 0: every CPU reaches the same slot, so migration is moot. */
	slots_setup(4);
	ATF_CHECK_EQ(nbmem_rseq_pop(slots, 0, &p), NBMEM_RSEQ_EMPTY);
	for (int i = 0; i < 4; i++)
		ATF_CHECK_EQ(nbmem_rseq_push(slots, 0, &objs[i]),
		    NBMEM_RSEQ_OK);
	ATF_CHECK_EQ(nbmem_rseq_push(slots, 0, &objs[4]), NBMEM_RSEQ_FULL);
	struct nbmem_pcpu_slot *s = slots;
	ATF_CHECK_EQ(nbmem_pcpu_count(s), 4);
	/* A refused push wrote nothing. */
	ATF_CHECK(s->ps_objs[4] == NULL);
	for (int i = 3; i >= 0; i--) {
		p = NULL;
		ATF_CHECK_EQ(nbmem_rseq_pop(slots, 0, &p), NBMEM_RSEQ_OK);
		ATF_CHECK_EQ(p, &objs[i]);
	}
	ATF_CHECK_EQ(nbmem_rseq_pop(slots, 0, &p), NBMEM_RSEQ_EMPTY);

	/* A held lock turns both away; unlock lets them in again. */
	ATF_CHECK_EQ(nbmem_rseq_push(slots, 0, &objs[0]), NBMEM_RSEQ_OK);
	ATF_CHECK_EQ(nbmem_rseq_trylock(slots, 0, &cpu), NBMEM_RSEQ_OK);
	ATF_CHECK(cpu < ncpu);
	ATF_CHECK_EQ(s->ps_lock, 1);
	ATF_CHECK_EQ(nbmem_rseq_trylock(slots, 0, &cpu), NBMEM_RSEQ_BUSY);
	ATF_CHECK_EQ(nbmem_rseq_push(slots, 0, &objs[1]), NBMEM_RSEQ_BUSY);
	ATF_CHECK_EQ(nbmem_rseq_pop(slots, 0, &p), NBMEM_RSEQ_BUSY);
	ATF_CHECK(!nbmem_rseq_trylock_cpu(slots, 0, 0));
	nbmem_rseq_unlock(slots, 0, 0);
	ATF_CHECK_EQ(nbmem_rseq_pop(slots, 0, &p), NBMEM_RSEQ_OK);
	ATF_CHECK_EQ(p, &objs[0]);

	/* The remote lock, taken and released. */
	ATF_CHECK(nbmem_rseq_trylock_cpu(slots, 0, 0));
	ATF_CHECK(s->ps_lock != 0);
	ATF_CHECK_EQ(nbmem_rseq_push(slots, 0, &objs[1]), NBMEM_RSEQ_BUSY);
	nbmem_rseq_unlock(slots, 0, 0);
	ATF_CHECK_EQ(nbmem_rseq_push(slots, 0, &objs[1]), NBMEM_RSEQ_OK);

	/* A slot of zeroes is empty and full at once. */
	memset(slots, 0, stride);
	ATF_CHECK_EQ(nbmem_rseq_push(slots, 0, &objs[0]), NBMEM_RSEQ_FULL);
	ATF_CHECK_EQ(nbmem_rseq_pop(slots, 0, &p), NBMEM_RSEQ_EMPTY);
	free(slots);
}

/*
 * The slot's word counts every successful pop and push as a hit, with
 * the count of objects, in the sequence's one commit: refused ones,
 * refills and a lock holder's changes count none, and the hits carry
 * out of their 48 bits without touching the count.
 */
ATF_TC_WITHOUT_HEAD(hits_counted);
ATF_TC_BODY(hits_counted, tc)
{
	struct nbmem_pcpu_slot *s;
	void *p;
	unsigned int cpu;

	require_rseq();
	slots_setup(4);
	s = slots;
	for (int i = 0; i < 3; i++)
		ATF_CHECK_EQ(nbmem_rseq_push(slots, 0, &objs[i]),
		    NBMEM_RSEQ_OK);
	ATF_CHECK_EQ(nbmem_rseq_pop(slots, 0, &p), NBMEM_RSEQ_OK);
	ATF_CHECK_EQ(nbmem_pcpu_count(s), 2);
	ATF_CHECK_EQ(nbmem_pcpu_hits(s), 4);
	/* A refill is no hit; refused operations are none either. */
	ATF_CHECK_EQ(nbmem_rseq_refill(slots, 0, &objs[2]), NBMEM_RSEQ_OK);
	ATF_CHECK_EQ(nbmem_rseq_refill(slots, 0, &objs[3]), NBMEM_RSEQ_OK);
	ATF_CHECK_EQ(nbmem_rseq_refill(slots, 0, &objs[4]), NBMEM_RSEQ_FULL);
	ATF_CHECK_EQ(nbmem_rseq_push(slots, 0, &objs[4]), NBMEM_RSEQ_FULL);
	ATF_CHECK_EQ(nbmem_pcpu_count(s), 4);
	ATF_CHECK_EQ(nbmem_pcpu_hits(s), 4);
	ATF_CHECK_EQ(nbmem_rseq_pop(slots, 0, &p), NBMEM_RSEQ_OK);
	ATF_CHECK_EQ(p, &objs[3]);
	ATF_CHECK_EQ(nbmem_pcpu_hits(s), 5);
	/* The lock holder sets the count and keeps the hits. */
	ATF_CHECK_EQ(nbmem_rseq_trylock(slots, 0, &cpu), NBMEM_RSEQ_OK);
	ATF_CHECK_EQ(nbmem_rseq_pop(slots, 0, &p), NBMEM_RSEQ_BUSY);
	nbmem_pcpu_set_count(s, 1);
	nbmem_rseq_unlock(slots, 0, cpu);
	ATF_CHECK_EQ(nbmem_pcpu_count(s), 1);
	ATF_CHECK_EQ(nbmem_pcpu_hits(s), 5);
	/* The hits wrap; the count does not notice. */
	s->ps_word = ((uint64_t)0xffffffffffff << NBMEM_PCPU_HIT_SHIFT) | 1;
	ATF_CHECK_EQ(nbmem_rseq_push(slots, 0, &objs[5]), NBMEM_RSEQ_OK);
	ATF_CHECK_EQ(nbmem_pcpu_count(s), 2);
	ATF_CHECK_EQ(nbmem_pcpu_hits(s), 0);
	ATF_CHECK_EQ(nbmem_rseq_pop(slots, 0, &p), NBMEM_RSEQ_OK);
	ATF_CHECK_EQ(p, &objs[5]);
	ATF_CHECK_EQ(nbmem_pcpu_count(s), 1);
	ATF_CHECK_EQ(nbmem_pcpu_hits(s), 1);
#ifdef NBMEM_RSEQ_HAVE_FAST
	/* The inline sequences count as the others do. */
	ATF_CHECK(nbmem_rseq_push_fast(slots, 0, &objs[6]));
	ATF_CHECK(nbmem_rseq_pop_fast(slots, 0, &p));
	ATF_CHECK_EQ(p, &objs[6]);
	ATF_CHECK_EQ(nbmem_pcpu_count(s), 1);
	ATF_CHECK_EQ(nbmem_pcpu_hits(s), 3);
#endif
	free(slots);
}

#ifdef NBMEM_RSEQ_HAVE_FAST
/*
 * The inline push of the fast paths, its slot output ignored (as a
 * caller that counts no hit would): an asm goto with outputs is not
 * implicitly volatile to GCC 12, which deleted the whole sequence and
 * took its success exit, losing the object, until the asm said
 * volatile.
 */
ATF_TC_WITHOUT_HEAD(fast_push_slot_unused);
ATF_TC_BODY(fast_push_slot_unused, tc)
{
	void *p = NULL;
	int pushed = 0;

	require_rseq();
	slots_setup(4);
	for (int i = 0; i < 4; i++)
		pushed += nbmem_rseq_push_fast(slots, 0, &objs[i]);
	ATF_CHECK_EQ(pushed, 4);
	ATF_CHECK_EQ(nbmem_pcpu_count(slots), 4);
	ATF_CHECK(!nbmem_rseq_push_fast(slots, 0, &objs[4]));
	ATF_CHECK_EQ(nbmem_rseq_pop(slots, 0, &p), NBMEM_RSEQ_OK);
	ATF_CHECK_EQ(p, &objs[3]);
	free(slots);
}
#endif

/* Pinned to each CPU in turn, a push lands in that CPU's slot. */
ATF_TC_WITHOUT_HEAD(slot_of_cpu);
ATF_TC_BODY(slot_of_cpu, tc)
{
	cpu_set_t allowed, one;
	unsigned int tried = 0;

	require_rseq();
	slots_setup(SLOTN);
	ATF_REQUIRE(sched_getaffinity(0, sizeof(allowed), &allowed) == 0);
	for (unsigned int c = 0; c < ncpu && c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, &allowed))
			continue;
		CPU_ZERO(&one);
		CPU_SET(c, &one);
		if (sched_setaffinity(0, sizeof(one), &one) != 0)
			continue;
		ATF_CHECK_EQ(nbmem_rseq_cpu(), c);
		ATF_CHECK_EQ(nbmem_rseq_push(slots, stride, &objs[c]),
		    NBMEM_RSEQ_OK);
		struct nbmem_pcpu_slot *s = nbmem_pcpu_slot(slots, stride, c);
		ATF_CHECK_EQ(nbmem_pcpu_count(s), 1);
		ATF_CHECK_EQ(s->ps_objs[0], &objs[c]);
		unsigned int got = ~0u;
		ATF_CHECK_EQ(nbmem_rseq_trylock(slots, stride, &got),
		    NBMEM_RSEQ_OK);
		ATF_CHECK_EQ(got, c);
		nbmem_rseq_unlock(slots, stride, got);
		tried++;
	}
	ATF_REQUIRE(sched_setaffinity(0, sizeof(allowed), &allowed) == 0);
	ATF_CHECK(tried > 0);
	free(slots);
}

/* A fork child keeps its registration and the remote lock's fence. */
ATF_TC_WITHOUT_HEAD(fork_child);
ATF_TC_BODY(fork_child, tc)
{
	void *p = NULL;

	require_rseq();
	slots_setup(SLOTN);
	ATF_REQUIRE(nbmem_rseq_push(slots, 0, &objs[1]) == NBMEM_RSEQ_OK);
	pid_t pid = fork();
	ATF_REQUIRE(pid >= 0);
	if (pid == 0) {
		int bad = 0;
		bad |= !nbmem_rseq_available();
		bad |= nbmem_rseq_push(slots, 0, &objs[2]) != NBMEM_RSEQ_OK;
		bad |= nbmem_rseq_pop(slots, 0, &p) != NBMEM_RSEQ_OK ||
		    p != &objs[2];
		bad |= !nbmem_rseq_trylock_cpu(slots, stride, 0);
		nbmem_rseq_unlock(slots, stride, 0);
		_exit(bad);
	}
	int status;
	ATF_REQUIRE(waitpid(pid, &status, 0) == pid);
	ATF_CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "child status %#x", status);
	free(slots);
}

/* ---- many threads */

struct worker {
	pthread_t	w_thread;
	uint32_t	w_seed;
	bool		w_slowpaths;	/* also take slot locks */
	size_t		w_nowned;
	struct tobj	*w_owned[NOBJ];
};

static volatile bool stop;
static unsigned int *holders;		/* per slot: lock holders now */
static unsigned long nlocked, nremote;

/*
 * Holding slot c's lock: no fast path may change it, so its count must
 * stay put across a yield (which invites migration and other threads on
 * the same CPU); then move objects in or out with plain accesses.
 */
static void
locked_work(struct worker *w, unsigned int c)
{
	struct nbmem_pcpu_slot *s = nbmem_pcpu_slot(slots, stride, c);

	if (__atomic_fetch_add(&holders[c], 1, __ATOMIC_ACQ_REL) != 0)
		fail("two holders of one slot lock");
	uint64_t before = __atomic_load_n(&s->ps_word, __ATOMIC_RELAXED);
	uint32_t n;
	sched_yield();
	if (__atomic_load_n(&s->ps_word, __ATOMIC_RELAXED) != before)
		fail("a locked slot changed under its holder");
	if (rnd(&w->w_seed) & 1) {
		/* drain half */
		while ((n = nbmem_pcpu_count(s)) > s->ps_size / 2) {
			struct tobj *o = s->ps_objs[n - 1];
			nbmem_pcpu_set_count(s, n - 1);
			if (__atomic_exchange_n(&o->state, 0,
			    __ATOMIC_ACQ_REL) != 1)
				fail("drained an object not in a slot");
			__atomic_fetch_add(&o->pops, 1, __ATOMIC_RELAXED);
			w->w_owned[w->w_nowned++] = o;
		}
	} else {
		while ((n = nbmem_pcpu_count(s)) < s->ps_size &&
		    w->w_nowned > 0) {
			struct tobj *o = w->w_owned[--w->w_nowned];
			if (__atomic_exchange_n(&o->state, 1,
			    __ATOMIC_ACQ_REL) != 0)
				fail("refilled an object already in a slot");
			__atomic_fetch_add(&o->pushes, 1, __ATOMIC_RELAXED);
			s->ps_objs[n] = o;
			nbmem_pcpu_set_count(s, n + 1);
		}
	}
	__atomic_fetch_sub(&holders[c], 1, __ATOMIC_ACQ_REL);
}

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	int rc;

	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		uint32_t r = rnd(&w->w_seed);
		if (w->w_slowpaths && (r & 255) == 0) {
			unsigned int c;
			if (r & 256) {
				c = (r >> 9) % ncpu;
				if (!nbmem_rseq_trylock_cpu(slots, stride, c))
					continue;
				__atomic_fetch_add(&nremote, 1,
				    __ATOMIC_RELAXED);
			} else {
				if (nbmem_rseq_trylock(slots, stride, &c) !=
				    NBMEM_RSEQ_OK)
					continue;
				__atomic_fetch_add(&nlocked, 1,
				    __ATOMIC_RELAXED);
			}
			locked_work(w, c);
			nbmem_rseq_unlock(slots, stride, c);
		} else if ((r & 1) && w->w_nowned > 0) {
			if (obj_push(w->w_owned[w->w_nowned - 1]) ==
			    NBMEM_RSEQ_OK)
				w->w_nowned--;
		} else {
			struct tobj *o = obj_pop(&rc);
			if (o != NULL)
				w->w_owned[w->w_nowned++] = o;
			else if (rc == NBMEM_RSEQ_NOCPU)
				fail("a worker thread has no rseq");
		}
	}
	return NULL;
}

static void
hammer(bool slowpaths)
{
	unsigned int nthr = 2 * (unsigned int)sysconf(_SC_NPROCESSORS_ONLN) + 2;
	struct worker *w = calloc(nthr, sizeof(*w));
	static struct tobj *all[NOBJ];
	size_t nall = 0;

	ATF_REQUIRE(w != NULL);
	if (nthr > 16)
		nthr = 16;
	slots_setup(SLOTN);
	holders = calloc(ncpu, sizeof(*holders));
	ATF_REQUIRE(holders != NULL);
	for (size_t i = 0; i < NOBJ; i++)
		w[i % nthr].w_owned[w[i % nthr].w_nowned++] = &objs[i];
	stop = false;
	for (unsigned int i = 0; i < nthr; i++) {
		w[i].w_seed = 0x9e3779b9u * (i + 1);
		w[i].w_slowpaths = slowpaths;
		ATF_REQUIRE(pthread_create(&w[i].w_thread, NULL, worker_run,
		    &w[i]) == 0);
	}
	uint64_t t0 = nbt_now_ns();
	while (nbt_now_ns() - t0 < RUN_NS)
		usleep(10000);
	__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
	for (unsigned int i = 0; i < nthr; i++) {
		ATF_REQUIRE(pthread_join(w[i].w_thread, NULL) == 0);
		for (size_t j = 0; j < w[i].w_nowned; j++)
			all[nall++] = w[i].w_owned[j];
	}
	census(all, nall);
	printf("%u threads, %u CPUs; slot locks taken %lu here, %lu "
	    "remotely\n", nthr, ncpu, nlocked, nremote);
	if (slowpaths)
		ATF_CHECK(nlocked > 0 && nremote > 0);
	free(holders);
	free(slots);
	free(w);
}

ATF_TC_WITHOUT_HEAD(threads_push_pop);
ATF_TC_BODY(threads_push_pop, tc)
{
	require_rseq();
	hammer(false);
}

ATF_TC_WITHOUT_HEAD(threads_lock_contention);
ATF_TC_BODY(threads_lock_contention, tc)
{
	require_rseq();
	hammer(true);
}

/* ---- signals */

/* The handler's own objects; only it touches them (SIGALRM is masked
 * while it runs). */
static struct tobj *h_owned[NOBJ];
static size_t h_nowned;
static unsigned long h_runs, h_ops;
static uint32_t h_seed = 12345;

static void
storm_handler(int sig)
{
	int saved = errno, rc;

	h_runs++;
	for (int i = 0; i < 8; i++) {
		if ((rnd(&h_seed) & 1) && h_nowned > 0) {
			if (obj_push(h_owned[h_nowned - 1]) == NBMEM_RSEQ_OK) {
				h_nowned--;
				h_ops++;
			}
		} else {
			struct tobj *o = obj_pop(&rc);
			if (o != NULL) {
				h_owned[h_nowned++] = o;
				h_ops++;
			}
		}
	}
	errno = saved;
}

ATF_TC_WITHOUT_HEAD(signal_storm);
ATF_TC_BODY(signal_storm, tc)
{
	static struct worker mw;
	static struct tobj *all[NOBJ];
	struct sigaction sa;
	struct itimerval it = { { 0, 50 }, { 0, 50 } };
	int rc;

	require_rseq();
	slots_setup(SLOTN);
	for (size_t i = 0; i < NOBJ; i++) {
		if (i & 1)
			mw.w_owned[mw.w_nowned++] = &objs[i];
		else
			h_owned[h_nowned++] = &objs[i];
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = storm_handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	ATF_REQUIRE(sigaction(SIGALRM, &sa, NULL) == 0);
	ATF_REQUIRE(setitimer(ITIMER_REAL, &it, NULL) == 0);
	uint64_t t0 = nbt_now_ns();
	mw.w_seed = 777;
	while (nbt_now_ns() - t0 < RUN_NS) {
		for (int i = 0; i < 1000; i++) {
			if ((rnd(&mw.w_seed) & 1) && mw.w_nowned > 0) {
				if (obj_push(mw.w_owned[mw.w_nowned - 1]) ==
				    NBMEM_RSEQ_OK)
					mw.w_nowned--;
			} else {
				struct tobj *o = obj_pop(&rc);
				if (o != NULL)
					mw.w_owned[mw.w_nowned++] = o;
			}
		}
	}
	memset(&it, 0, sizeof(it));
	ATF_REQUIRE(setitimer(ITIMER_REAL, &it, NULL) == 0);
	signal(SIGALRM, SIG_IGN);
	size_t nall = 0;
	for (size_t i = 0; i < mw.w_nowned; i++)
		all[nall++] = mw.w_owned[i];
	for (size_t i = 0; i < h_nowned; i++)
		all[nall++] = h_owned[i];
	census(all, nall);
	printf("handler ran %lu times, %lu operations\n", h_runs, h_ops);
	ATF_CHECK(h_runs > 0 && h_ops > 0);
	free(slots);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, available);
	ATF_TP_ADD_TC(tp, env_disables);
	ATF_TP_ADD_TC(tp, nocpu);
	ATF_TP_ADD_TC(tp, lifo_full_empty);
	ATF_TP_ADD_TC(tp, hits_counted);
#ifdef NBMEM_RSEQ_HAVE_FAST
	ATF_TP_ADD_TC(tp, fast_push_slot_unused);
#endif
	ATF_TP_ADD_TC(tp, slot_of_cpu);
	ATF_TP_ADD_TC(tp, fork_child);
	ATF_TP_ADD_TC(tp, threads_push_pop);
	ATF_TP_ADD_TC(tp, threads_lock_contention);
	ATF_TP_ADD_TC(tp, signal_storm);
	return atf_no_error();
}

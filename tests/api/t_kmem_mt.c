/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_kmem_mt: kmem(3) with threads and signals: KM_SLEEP blocking at the
 * memory budget until another thread frees, on the large path and in a
 * size class; kmem_intr_* in a signal handler that interrupts a thread
 * using kmem; many threads freeing each other's objects.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <atf-c.h>

#include <nbmem/kmem.h>
#include <nbmem/nbmem.h>

#include "nbtest.h"

/* ---- KM_SLEEP at the budget */

struct sleeper {
	size_t		size;
	void		*got;
	int		done;
};

static void *
sleeper_main(void *arg)
{
	struct sleeper *s = arg;

	s->got = kmem_alloc(s->size, KM_SLEEP);
	__atomic_store_n(&s->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static bool
someone_waits(void *arg)
{
	(void)arg;
	return nbmem_physmem_waiters() > 0;
}

/*
 * Fill the budget with objects of `size' taken with KM_NOSLEEP (the last
 * one fails at once), start a thread whose KM_SLEEP request of the same
 * size must block, free everything, and see it complete.
 */
static void
sleep_at_budget(size_t size, size_t budget)
{
	enum { MAX = 4096 };
	static void *held[MAX];
	struct sleeper s = { size, NULL, 0 };
	pthread_t t;
	size_t n = 0;

	kmem_free(kmem_alloc(size, KM_SLEEP), size);
	nbmem_physmem_set(nbmem_physmem_inuse() + budget);
	/*
	 * Until nothing is left to reclaim either, so that the sleeper's own
	 * reclaim pass finds nothing and it must wait for our frees.
	 */
	do {
		while (n < MAX &&
		    (held[n] = kmem_alloc(size, KM_NOSLEEP)) != NULL) {
			memset(held[n], 0x5a, size);
			n++;
		}
	} while (n < MAX && nbmem_reclaim() != 0);
	ATF_REQUIRE_MSG(n > 0 && n < MAX, "%zu objects of %zu bytes under a "
	    "%zu-byte budget", n, size, budget);
	ATF_CHECK(kmem_alloc(size, KM_NOSLEEP) == NULL);

	ATF_REQUIRE(pthread_create(&t, NULL, sleeper_main, &s) == 0);
	nbt_wait_until(someone_waits, NULL, "the KM_SLEEP request to block");
	ATF_CHECK_EQ(__atomic_load_n(&s.done, __ATOMIC_ACQUIRE), 0);
	while (n > 0)
		kmem_free(held[--n], size);
	ATF_REQUIRE(pthread_join(t, NULL) == 0);
	ATF_REQUIRE(s.got != NULL);
	memset(s.got, 1, size);
	kmem_free(s.got, size);
	nbmem_physmem_set(0);
}

ATF_TC_WITHOUT_HEAD(sleep_blocks_large);
ATF_TC_BODY(sleep_blocks_large, tc)
{
	sleep_at_budget(256u << 10, 2u << 20);
}

/* Freed objects sit in the cache: the reclaim pass must get them back. */
ATF_TC_WITHOUT_HEAD(sleep_blocks_class);
ATF_TC_BODY(sleep_blocks_class, tc)
{
	sleep_at_budget(4096, 512u << 10);
}

/* ---- signal storm */

static volatile sig_atomic_t sig_runs, sig_fail;

static const size_t sig_sizes[] = { 8, 24, 64, 100, 512, 1024, 3000, 9000,
    70000 };
#define	NSIGSIZES	(sizeof(sig_sizes) / sizeof(sig_sizes[0]))

static void
on_alarm(int sig)
{
	unsigned char *p[NSIGSIZES];
	size_t i, j;

	(void)sig;
	nbmem_intr_enter();
	for (i = 0; i < NSIGSIZES; i++) {
		p[i] = (i & 1) ? kmem_intr_zalloc(sig_sizes[i], KM_NOSLEEP) :
		    kmem_intr_alloc(sig_sizes[i], KM_NOSLEEP);
		if (p[i] != NULL) {
			if ((i & 1) && p[i][sig_sizes[i] - 1] != 0)
				sig_fail = 1;
			memset(p[i], (int)(0x40 + i), sig_sizes[i]);
		}
	}
	for (i = 0; i < NSIGSIZES; i++) {
		if (p[i] == NULL)
			continue;
		for (j = 0; j < sig_sizes[i]; j += 61)
			if (p[i][j] != (unsigned char)(0x40 + i))
				sig_fail = 1;
		kmem_intr_free(p[i], sig_sizes[i]);
	}
	sig_runs++;
	nbmem_intr_exit();
}

ATF_TC_WITHOUT_HEAD(signal_storm);
ATF_TC_BODY(signal_storm, tc)
{
	struct sigaction sa;
	struct itimerval it = { { 0, 200 }, { 0, 200 } };
	enum { N = 32 };
	unsigned char *v[N];
	size_t sz[N];
	unsigned int seed = 1;

	kmem_init();	/* not from the handler: see kmem(3) */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	ATF_REQUIRE(sigaction(SIGALRM, &sa, NULL) == 0);
	ATF_REQUIRE(setitimer(ITIMER_REAL, &it, NULL) == 0);
	/*
	 * Until the handler has run often enough; a sanitizer that defers
	 * signals may make that slow, so after a while one run will do.
	 */
	uint64_t start = nbt_now_ns();
	for (int round = 0; round < 2000 || sig_runs < 100; round++) {
		for (int i = 0; i < N; i++) {
			seed = seed * 1103515245u + 12345u;
			sz[i] = sig_sizes[(seed >> 16) % NSIGSIZES];
			v[i] = (i & 1) ? kmem_intr_alloc(sz[i], KM_SLEEP) :
			    kmem_alloc(sz[i], KM_SLEEP);
			ATF_REQUIRE(v[i] != NULL);
			v[i][0] = (unsigned char)i;
			v[i][sz[i] - 1] = (unsigned char)i;
		}
		for (int i = 0; i < N; i++) {
			ATF_REQUIRE(v[i][0] == (unsigned char)i &&
			    v[i][sz[i] - 1] == (unsigned char)i);
			if (i & 2)
				kmem_intr_free(v[i], sz[i]);
			else
				kmem_free(v[i], sz[i]);
		}
		uint64_t s = (nbt_now_ns() - start) / 1000000000u;
		if (s >= 5 && sig_runs > 0)
			break;
		ATF_REQUIRE_MSG(s < NBT_WAIT_SECONDS, "no signal handled");
	}
	memset(&it, 0, sizeof(it));
	ATF_REQUIRE(setitimer(ITIMER_REAL, &it, NULL) == 0);
	ATF_CHECK_EQ(sig_fail, 0);
}

/* ---- threads freeing each other's objects */

#define	NTHREADS	4
#define	QCAP		256

struct xobj {
	unsigned char	*p;
	size_t		size;
	unsigned char	pat;
};

static struct xq {
	pthread_mutex_t	lock;
	struct xobj	q[QCAP];
	unsigned int	head, n;
} xq[NTHREADS];

static int xfail;

static void *
cross_main(void *arg)
{
	unsigned int me = (unsigned int)(uintptr_t)arg;
	unsigned int next = (me + 1) % NTHREADS;
	unsigned int seed = me * 7919 + 1;
	struct xobj o;

	for (int i = 0; i < 20000; i++) {
		seed = seed * 1103515245u + 12345u;
		size_t size = 1 + (seed >> 8) % ((seed & 0x8000) ? 70000 : 600);
		o.size = size;
		o.pat = (unsigned char)(seed >> 24);
		o.p = (seed & 1) ? kmem_zalloc(size, KM_SLEEP) :
		    kmem_intr_alloc(size, KM_SLEEP);
		memset(o.p, o.pat, size);
		/* Hand it to the next thread, or free it when its queue is full. */
		pthread_mutex_lock(&xq[next].lock);
		if (xq[next].n < QCAP) {
			xq[next].q[(xq[next].head + xq[next].n++) % QCAP] = o;
			o.p = NULL;
		}
		pthread_mutex_unlock(&xq[next].lock);
		if (o.p != NULL)
			kmem_free(o.p, o.size);
		/* Free what the previous thread gave us. */
		for (;;) {
			pthread_mutex_lock(&xq[me].lock);
			if (xq[me].n == 0) {
				pthread_mutex_unlock(&xq[me].lock);
				break;
			}
			o = xq[me].q[xq[me].head];
			xq[me].head = (xq[me].head + 1) % QCAP;
			xq[me].n--;
			pthread_mutex_unlock(&xq[me].lock);
			if (o.p[0] != o.pat || o.p[o.size - 1] != o.pat ||
			    o.p[o.size / 2] != o.pat)
				__atomic_store_n(&xfail, 1, __ATOMIC_RELAXED);
			if (seed & 2)
				kmem_intr_free(o.p, o.size);
			else
				kmem_free(o.p, o.size);
		}
	}
	return NULL;
}

ATF_TC_WITHOUT_HEAD(cross_thread);
ATF_TC_BODY(cross_thread, tc)
{
	pthread_t t[NTHREADS];
	unsigned int i;

	for (i = 0; i < NTHREADS; i++)
		pthread_mutex_init(&xq[i].lock, NULL);
	for (i = 0; i < NTHREADS; i++)
		ATF_REQUIRE(pthread_create(&t[i], NULL, cross_main,
		    (void *)(uintptr_t)i) == 0);
	for (i = 0; i < NTHREADS; i++)
		ATF_REQUIRE(pthread_join(t[i], NULL) == 0);
	/* What is left in the queues. */
	for (i = 0; i < NTHREADS; i++) {
		while (xq[i].n > 0) {
			struct xobj *o = &xq[i].q[xq[i].head];
			ATF_CHECK(o->p[0] == o->pat);
			kmem_free(o->p, o->size);
			xq[i].head = (xq[i].head + 1) % QCAP;
			xq[i].n--;
		}
	}
	ATF_CHECK_EQ(xfail, 0);
	/* Everything came back: a reclaim leaves no page out of place. */
	(void)nbmem_reclaim();
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, sleep_blocks_large);
	ATF_TP_ADD_TC(tp, sleep_blocks_class);
	ATF_TP_ADD_TC(tp, signal_storm);
	ATF_TP_ADD_TC(tp, cross_thread);
	return atf_no_error();
}

/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_vmem_mt: vmem(3) under threads and signals.
 *
 * Every unit of the test arenas has a cell in an ownership array.  Whoever
 * gets a range from vmem claims its cells with an atomic exchange and
 * requires them to be unowned; before freeing it gives them back and
 * requires they were still its own.  So two live allocations that overlap
 * are caught whichever thread (or signal handler) made them.  Every loop
 * is bounded by an operation count and a wall-clock cap.
 */
#include <sys/time.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <atf-c.h>

#include <nbmem/intr.h>
#include <nbmem/vmem.h>

#include "nbtest.h"

#define	NTHREADS	4
#define	ARENA_UNITS	(1u << 20)
#define	MAXLIVE		64

static _Atomic unsigned char own[ARENA_UNITS];
static atomic_int nerrors;
static char first_error[256];
static atomic_flag first_error_taken = ATOMIC_FLAG_INIT;

/* Record an error (thread context only: uses snprintf). */
static void
report(const char *what, vmem_addr_t a, vmem_size_t s, int who, int other)
{
	atomic_fetch_add(&nerrors, 1);
	if (!atomic_flag_test_and_set(&first_error_taken))
		snprintf(first_error, sizeof(first_error), "%s: [%#jx, +%#jx) "
		    "owner %d found %d", what, (uintmax_t)a, (uintmax_t)s, who,
		    other);
}

/*
 * Claim or give back the cells of [a, a + s).  Async-signal-safe (lock-
 * free atomics only).  Returns the first foreign owner met, or 0.
 */
static int
claim(vmem_addr_t a, vmem_size_t s, unsigned char id)
{
	int bad = 0;

	for (vmem_size_t i = 0; i < s; i++) {
		unsigned char old = atomic_exchange_explicit(&own[a + i], id,
		    memory_order_acq_rel);
		if (old != 0 && bad == 0)
			bad = old;
	}
	return bad;
}

static int
unclaim(vmem_addr_t a, vmem_size_t s, unsigned char id)
{
	int bad = 0;

	for (vmem_size_t i = 0; i < s; i++) {
		unsigned char old = atomic_exchange_explicit(&own[a + i], 0,
		    memory_order_acq_rel);
		if (old != id && bad == 0)
			bad = old == 0 ? 255 : old;
	}
	return bad;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: a small per-thread generator. */
static inline uint64_t
rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * UINT64_C(0x2545f4914f6cdd1d);
}

static void
reset_state(void)
{
	memset(own, 0, sizeof(own));
	atomic_store(&nerrors, 0);
	atomic_flag_clear(&first_error_taken);
	first_error[0] = '\0';
}

static void
check_no_errors(void)
{
	ATF_CHECK_MSG(atomic_load(&nerrors) == 0, "%d errors, first: %s",
	    atomic_load(&nerrors), first_error);
}

/* ---- threads, no sleeping */

struct live {
	vmem_addr_t	a;
	vmem_size_t	s;
	int		x;	/* from vmem_xalloc */
};

struct worker {
	vmem_t		*vm;
	unsigned char	id;
	int		nops;
	uint64_t	deadline;
	int		sleepy;	/* VM_SLEEP when holding nothing */
	long		nalloc;	/* statistics */
	long		nfail;
};

static void
worker_free(struct worker *w, struct live *l)
{
	int bad = unclaim(l->a, l->s, w->id);

	if (bad != 0)
		report("free: cells taken over", l->a, l->s, w->id, bad);
	if (l->x)
		vmem_xfree(w->vm, l->a, l->s);
	else
		vmem_free(w->vm, l->a, l->s);
}

static void *
worker_main(void *arg)
{
	static const vm_flag_t fits[] = { VM_INSTANTFIT, VM_BESTFIT,
	    VM_NEXTFIT };
	struct worker *w = arg;
	struct live live[MAXLIVE];
	uint64_t seed = 0x9e3779b97f4a7c15ull * (w->id + 1);
	int n = 0;

	for (int op = 0; op < w->nops; op++) {
		if ((op & 255) == 0 && now_ns() > w->deadline)
			break;
		uint64_t r = rnd(&seed);
		if (n > 0 && (n == MAXLIVE || (r & 1) != 0)) {
			int k = (int)((r >> 8) % (uint64_t)n);
			worker_free(w, &live[k]);
			live[k] = live[--n];
			continue;
		}
		vm_flag_t fl = fits[(r >> 4) % 3];
		fl |= (w->sleepy && n == 0) ? VM_SLEEP : VM_NOSLEEP;
		vmem_size_t s = (r >> 16) % 256 + 1;
		if ((r >> 40) % 64 == 0)
			s = (r >> 16) % 8192 + 1;
		vmem_addr_t a = 0;
		/* Constrained VM_SLEEP requests may fail: keep those plain. */
		int x = (fl & VM_NOSLEEP) && (r >> 48) % 4 == 0, rc;
		if (x) {
			vmem_size_t align = (vmem_size_t)1 << ((r >> 52) % 9);
			rc = vmem_xalloc(w->vm, s, align, 0, 0, VMEM_ADDR_MIN,
			    VMEM_ADDR_MAX, fl, &a);
			if (rc == 0 && a % align != 0)
				report("misaligned", a, s, w->id, 0);
		} else
			rc = vmem_alloc(w->vm, s, fl, &a);
		if (rc != 0) {
			if (fl & VM_SLEEP)
				report("VM_SLEEP failed", 0, s, w->id, rc);
			w->nfail++;
			continue;
		}
		w->nalloc++;
		if (a + s > ARENA_UNITS || a + s < a) {
			report("outside the arena", a, s, w->id, 0);
			continue;
		}
		int bad = claim(a, s, w->id);
		if (bad != 0)
			report("alloc: overlaps", a, s, w->id, bad);
		live[n].a = a;
		live[n].s = s;
		live[n].x = x;
		n++;
	}
	while (n > 0)
		worker_free(w, &live[--n]);
	return NULL;
}

static void
run_workers(vmem_t *vm, int nops, int sleepy)
{
	struct worker w[NTHREADS];
	pthread_t t[NTHREADS];
	long nalloc = 0, nfail = 0;
	int i;

	reset_state();
	for (i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){ .vm = vm, .id = (unsigned char)(i + 1),
		    .nops = nops, .sleepy = sleepy,
		    .deadline = now_ns() + 10ull * 1000000000u };
		ATF_REQUIRE_EQ(pthread_create(&t[i], NULL, worker_main, &w[i]),
		    0);
	}
	for (i = 0; i < NTHREADS; i++) {
		ATF_REQUIRE_EQ(pthread_join(t[i], NULL), 0);
		nalloc += w[i].nalloc;
		nfail += w[i].nfail;
	}
	printf("%ld allocations, %ld ENOMEM\n", nalloc, nfail);
	check_no_errors();
	ATF_CHECK(nalloc > 0);
	ATF_CHECK_EQ(vmem_size(vm, VMEM_ALLOC), 0);
}

/* A fresh IPL_NONE arena [0, units) with quantum 1, run, destroyed. */
static void
run_arena(const char *name, vmem_size_t units, int nops, int sleepy)
{
	vmem_t *vm;

	vm = vmem_create(name, 0, units, 1, NULL, NULL, NULL, 0, VM_SLEEP,
	    IPL_NONE);
	ATF_REQUIRE(vm != NULL);
	run_workers(vm, nops, sleepy);
	vmem_destroy(vm);
}

ATF_TC(threads_nosleep);
ATF_TC_HEAD(threads_nosleep, tc)
{
	atf_tc_set_md_var(tc, "descr", "4 threads allocate and free from "
	    "one arena; no two live ranges ever overlap");
	atf_tc_set_md_var(tc, "timeout", "60");
}
ATF_TC_BODY(threads_nosleep, tc)
{
	run_arena("mt-nosleep", ARENA_UNITS, 200000, 0);
}

ATF_TC(threads_tight);
ATF_TC_HEAD(threads_tight, tc)
{
	atf_tc_set_md_var(tc, "descr", "4 threads on an arena too small for "
	    "all of them: ENOMEM under contention, never an overlap");
	atf_tc_set_md_var(tc, "timeout", "60");
}
ATF_TC_BODY(threads_tight, tc)
{
	/* 16 Ki units: about half of what the threads want at their peak. */
	run_arena("mt-tight", 16384, 200000, 0);
}

ATF_TC(threads_sleep);
ATF_TC_HEAD(threads_sleep, tc)
{
	atf_tc_set_md_var(tc, "descr", "VM_SLEEP requests of threads that "
	    "hold nothing wait for the others' frees and never fail");
	atf_tc_set_md_var(tc, "timeout", "60");
}
ATF_TC_BODY(threads_sleep, tc)
{
	/*
	 * A thread sleeps only while it holds nothing, so when every
	 * thread sleeps the arena is empty: no deadlock is possible, and
	 * the arena (16 Ki units) holds the largest request (8 Ki).
	 */
	run_arena("mt-sleep", 16384, 100000, 1);
}

/* Threads importing from a shared parent through their own children. */
static int
imp(void *arg, vmem_size_t size, vm_flag_t fl, vmem_addr_t *ap)
{
	return vmem_alloc(arg, size, (fl & (VM_SLEEP | VM_NOSLEEP)) |
	    VM_INSTANTFIT, ap);
}

static void
rel(void *arg, vmem_addr_t a, vmem_size_t size)
{
	vmem_free(arg, a, size);
}

ATF_TC(threads_import);
ATF_TC_HEAD(threads_import, tc)
{
	atf_tc_set_md_var(tc, "descr", "4 threads allocate from a child "
	    "arena that imports from and releases to a parent");
	atf_tc_set_md_var(tc, "timeout", "60");
}
ATF_TC_BODY(threads_import, tc)
{
	vmem_t *parent, *vm;

	parent = vmem_create("mt-parent", 0, ARENA_UNITS, 1, NULL, NULL,
	    NULL, 0, VM_SLEEP, IPL_NONE);
	ATF_REQUIRE(parent != NULL);
	vm = vmem_create("mt-child", 0, 0, 1, imp, rel, parent, 0, VM_SLEEP,
	    IPL_NONE);
	ATF_REQUIRE(vm != NULL);
	run_workers(vm, 100000, 0);
	/* Every span went back with its last segment. */
	ATF_CHECK_EQ(vmem_size(vm, VMEM_ALLOC | VMEM_FREE), 0);
	ATF_CHECK_EQ(vmem_size(parent, VMEM_ALLOC), 0);
	vmem_destroy(vm);
	vmem_destroy(parent);
}

/* ---- signal handlers as interrupts */

#define	SIG_UNITS	65536

static vmem_t *sig_vm;
static __thread unsigned char sig_myid;
static atomic_long sig_nhandler;	/* handler runs */
static atomic_long sig_nok;		/* handler allocations that worked */
static atomic_int sig_nbad;		/* handler-detected errors */
static volatile sig_atomic_t sig_stop;

static void
sig_handler(int signo)
{
	static const vm_flag_t fits[] = { VM_INSTANTFIT, VM_BESTFIT,
	    VM_NEXTFIT };
	int saved = errno;
	vmem_addr_t a;
	long n;
	int rc, x;

	if (sig_stop || sig_myid == 0) {
		errno = saved;
		return;
	}
	nbmem_intr_enter();
	n = atomic_fetch_add(&sig_nhandler, 1);
	vmem_size_t s = (vmem_size_t)(n % 48) + 1;
	x = (n % 5) == 0;
	if (x)
		rc = vmem_xalloc(sig_vm, s, 64, 0, 0, VMEM_ADDR_MIN,
		    VMEM_ADDR_MAX, fits[n % 3] | VM_NOSLEEP, &a);
	else
		rc = vmem_alloc(sig_vm, s, fits[n % 3] | VM_NOSLEEP, &a);
	if (rc == 0) {
		unsigned char id = (unsigned char)(sig_myid + 100);
		atomic_fetch_add(&sig_nok, 1);
		if (a + s > SIG_UNITS || claim(a, s, id) != 0)
			atomic_fetch_add(&sig_nbad, 1);
		else if (unclaim(a, s, id) != 0)
			atomic_fetch_add(&sig_nbad, 1);
		if (x)
			vmem_xfree(sig_vm, a, s);
		else
			vmem_free(sig_vm, a, s);
	} else if (rc != ENOMEM)
		atomic_fetch_add(&sig_nbad, 1);
	nbmem_intr_exit();
	errno = saved;
}

struct sigworker {
	int		signo;
	unsigned char	id;
	uint64_t	deadline;
	long		nops;
};

static void *
sigworker_main(void *arg)
{
	struct sigworker *w = arg;
	struct live live[16];
	uint64_t seed = 0x2545f4914f6cdd1dull * (w->id + 7);
	sigset_t set;
	int n = 0;

	sig_myid = w->id;
	/* The creating thread blocks the signal: it lands on workers. */
	sigemptyset(&set);
	sigaddset(&set, w->signo);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	for (long op = 0; op < 4000000; op++) {
		if ((op & 1023) == 0 && now_ns() > w->deadline)
			break;
		uint64_t r = rnd(&seed);
		if (n > 0 && (n == 16 || (r & 1) != 0)) {
			int k = (int)((r >> 8) % (uint64_t)n);
			struct worker fw = { .vm = sig_vm, .id = w->id };
			worker_free(&fw, &live[k]);
			live[k] = live[--n];
			w->nops++;
			continue;
		}
		vmem_size_t s = (r >> 16) % 128 + 1;
		vmem_addr_t a;
		int x = (r >> 40) % 4 == 0, rc;
		if (x) {
			s = s % 64 + 1;	/* nocross 64 >= size */
			rc = vmem_xalloc(sig_vm, s, 32, 0, 64, VMEM_ADDR_MIN,
			    VMEM_ADDR_MAX, VM_BESTFIT | VM_NOSLEEP, &a);
		} else
			rc = vmem_alloc(sig_vm, s, VM_INSTANTFIT | VM_NOSLEEP,
			    &a);
		w->nops++;
		if (rc != 0)
			continue;
		int bad = claim(a, s, w->id);
		if (bad != 0)
			report("alloc: overlaps", a, s, w->id, bad);
		live[n].a = a;
		live[n].s = s;
		live[n].x = x;
		n++;
	}
	/* Keep the handler away while tearing down this thread's state. */
	sig_myid = 0;
	while (n > 0) {
		struct worker fw = { .vm = sig_vm, .id = w->id };
		worker_free(&fw, &live[--n]);
	}
	return NULL;
}

static void
run_signals(int nthreads, int which, int signo, const char *name)
{
	struct sigworker w[NTHREADS];
	pthread_t t[NTHREADS];
	struct sigaction sa;
	struct itimerval it;
	sigset_t set, oset;
	long nops = 0;
	int i;

	reset_state();
	sig_vm = vmem_create(name, 0, SIG_UNITS, 1, NULL, NULL, NULL, 0,
	    VM_SLEEP, IPL_VM);
	ATF_REQUIRE(sig_vm != NULL);
	atomic_store(&sig_nhandler, 0);
	atomic_store(&sig_nok, 0);
	atomic_store(&sig_nbad, 0);
	sig_stop = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sig_handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	ATF_REQUIRE_EQ(sigaction(signo, &sa, NULL), 0);
	sigemptyset(&set);
	sigaddset(&set, signo);
	ATF_REQUIRE_EQ(pthread_sigmask(SIG_BLOCK, &set, &oset), 0);
	/* 20 kHz asked; the kernel delivers what it can. */
	it.it_interval.tv_sec = 0;
	it.it_interval.tv_usec = 50;
	it.it_value = it.it_interval;
	ATF_REQUIRE_EQ(setitimer(which, &it, NULL), 0);

	for (i = 0; i < nthreads; i++) {
		w[i] = (struct sigworker){ .signo = signo,
		    .id = (unsigned char)(i + 1),
		    .deadline = now_ns() + 2ull * 1000000000u };
		ATF_REQUIRE_EQ(pthread_create(&t[i], NULL, sigworker_main,
		    &w[i]), 0);
	}
	for (i = 0; i < nthreads; i++) {
		ATF_REQUIRE_EQ(pthread_join(t[i], NULL), 0);
		nops += w[i].nops;
	}

	sig_stop = 1;
	memset(&it, 0, sizeof(it));
	ATF_REQUIRE_EQ(setitimer(which, &it, NULL), 0);
	sa.sa_handler = SIG_IGN;
	ATF_REQUIRE_EQ(sigaction(signo, &sa, NULL), 0);
	ATF_REQUIRE_EQ(pthread_sigmask(SIG_SETMASK, &oset, NULL), 0);

	printf("%ld thread operations, %ld handler runs, %ld handler "
	    "allocations\n", nops, atomic_load(&sig_nhandler),
	    atomic_load(&sig_nok));
	check_no_errors();
	ATF_CHECK_EQ(atomic_load(&sig_nbad), 0);
	ATF_CHECK_MSG(atomic_load(&sig_nhandler) > 0, "no signal arrived");
	ATF_CHECK_MSG(atomic_load(&sig_nok) > 0, "the handler never got an "
	    "allocation");
	ATF_CHECK_EQ(vmem_size(sig_vm, VMEM_ALLOC), 0);
	ATF_CHECK_EQ(vmem_size(sig_vm, VMEM_FREE), SIG_UNITS);
	vmem_destroy(sig_vm);
	sig_vm = NULL;
}

ATF_TC(signal_handler);
ATF_TC_HEAD(signal_handler, tc)
{
	atf_tc_set_md_var(tc, "descr", "an IPL_VM arena used from a timer "
	    "signal handler that interrupts the thread inside the same "
	    "arena: no deadlock, consistent accounting");
	atf_tc_set_md_var(tc, "timeout", "60");
}
ATF_TC_BODY(signal_handler, tc)
{
	run_signals(1, ITIMER_REAL, SIGALRM, "sig-real");
}

ATF_TC(signal_handler_threads);
ATF_TC_HEAD(signal_handler_threads, tc)
{
	atf_tc_set_md_var(tc, "descr", "the same with two threads, the "
	    "timer signal landing on either");
	atf_tc_set_md_var(tc, "timeout", "60");
}
ATF_TC_BODY(signal_handler_threads, tc)
{
	run_signals(2, ITIMER_REAL, SIGALRM, "sig-real-2");
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, threads_nosleep);
	ATF_TP_ADD_TC(tp, threads_tight);
	ATF_TP_ADD_TC(tp, threads_sleep);
	ATF_TP_ADD_TC(tp, threads_import);
	ATF_TP_ADD_TC(tp, signal_handler);
	ATF_TP_ADD_TC(tp, signal_handler_threads);
	return atf_no_error();
}

/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * lock.h: kernel-style mutexes and condition variables at an IPL.
 *
 * A mutex above IPL_NONE is the userspace analogue of a spin mutex at
 * its level: it is only ever held with the asynchronous signals blocked,
 * so a handler that interrupts the thread can never find it taken by the
 * code it interrupted.  (NetBSD runs soft interrupts in threads and gives
 * the soft levels adaptive mutexes; nbmem has no soft-interrupt threads,
 * so any level above IPL_NONE means "usable from a signal handler".)
 * At IPL_NONE it is a plain mutex.
 *
 * The mutex is a three-state futex word (0 free, 1 held, 2 held with
 * sleepers), after U. Drepper, "Futexes Are Tricky" (2011): an
 * uncontended enter is one compare-and-swap and an exit one exchange,
 * a quarter of what a pthread mutex costs on these fast paths.  A
 * contended enter spins briefly, then sleeps in the kernel.  The
 * condition variable is a sequence word that sleepers wait on and
 * broadcasters bump.  The signal mask saved by the first spin mutex a
 * thread takes lives in thread-local storage, below.
 * Mutexes can be statically initialised with MUTEX_INITIALIZER(ipl).
 */
#ifndef NBMEM_LOCK_H
#define NBMEM_LOCK_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include <nbmem/intr.h>

#include "os/os.h"

typedef struct kmutex {
	uint32_t	mtx_word;	/* 0 free, 1 held, 2 held + sleepers */
	int		mtx_ipl;
} kmutex_t;

/*
 * Signals are blocked once per thread however many spin mutexes it
 * holds: the first enter saves the mask, the last exit restores it, and
 * nested enters (vmem arena -> tag supply, kva -> kmem arena) cost no
 * system call.  A handler that runs before the first block sees depth 0
 * and does its own; none can run while the depth is above 0.
 */
extern __thread unsigned int nbmem_lock_sigdepth
    __attribute__((__tls_model__("initial-exec")));
extern __thread sigset_t nbmem_lock_sigsaved
    __attribute__((__tls_model__("initial-exec")));

/*
 * Sections without the system calls (the malloc library; intr.c).
 * Blocking signals around a section only matters if a handler may run
 * nbmem's code: while the process has installed no handler (the
 * library sees every sigaction() and signal() through its own, see
 * nbmem_sig_handler_installed), a section at depth 0 counts itself in
 * nbmem_sig_nopen instead of blocking (nbmem_lock_sigopen), and the
 * first installation waits until no such section is left before the
 * handler goes in.  A section that goes to sleep (cv_timedwait_ns)
 * blocks signals first and leaves the count, so that the wait is
 * always short.
 */
extern bool nbmem_sig_lazy;
extern int nbmem_sig_handlers;
extern unsigned long nbmem_sig_nopen;
extern unsigned int nbmem_sig_pid;
extern __thread bool nbmem_lock_sigopen
    __attribute__((__tls_model__("initial-exec")));

typedef struct kcondvar {
	uint32_t	cv_seq;
	uint32_t	cv_waiters;	/* threads in cv_timedwait_ns */
} kcondvar_t;

#define	MUTEX_INITIALIZER(ipl)	{ 0, (ipl) }
#define	MUTEX_SPIN_P(m)		((m)->mtx_ipl > IPL_NONE)
#define	MUTEX_SPINS		100	/* tries before sleeping */

static inline void
mutex_init(kmutex_t *m, int ipl)
{
	m->mtx_word = 0;
	m->mtx_ipl = ipl;
}

static inline void
mutex_destroy(kmutex_t *m)
{
	(void)m;
}

static void __attribute__((__noinline__, __unused__))
mutex_lock_slow(kmutex_t *m)
{
	uint32_t c;

	for (int i = 0; i < MUTEX_SPINS; i++) {
		c = 0;
		if (__atomic_load_n(&m->mtx_word, __ATOMIC_RELAXED) == 0 &&
		    __atomic_compare_exchange_n(&m->mtx_word, &c, 1, false,
		    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return;
		nbmem_os_cpu_relax();
	}
	while (__atomic_exchange_n(&m->mtx_word, 2, __ATOMIC_ACQUIRE) != 0)
		nbmem_os_futex_wait(&m->mtx_word, 2, 0);
}

static inline void
mutex_lock_word(kmutex_t *m)
{
	uint32_t c = 0;

	if (__builtin_expect(!__atomic_compare_exchange_n(&m->mtx_word, &c, 1,
	    false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED), 0))
		mutex_lock_slow(m);
}

static inline void
mutex_unlock_word(kmutex_t *m)
{
	if (__builtin_expect(__atomic_exchange_n(&m->mtx_word, 0,
	    __ATOMIC_RELEASE) == 2, 0))
		nbmem_os_futex_wake(&m->mtx_word, 1);
}

/* A section at depth 0 with signals open, when no handler exists. */
static inline bool
spl_open_enter(void)
{
	if (!__atomic_load_n(&nbmem_sig_lazy, __ATOMIC_RELAXED) ||
	    __atomic_load_n(&nbmem_sig_handlers, __ATOMIC_RELAXED))
		return false;
	__atomic_fetch_add(&nbmem_sig_nopen, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&nbmem_sig_handlers, __ATOMIC_SEQ_CST)) {
		__atomic_fetch_sub(&nbmem_sig_nopen, 1, __ATOMIC_RELEASE);
		return false;
	}
	nbmem_lock_sigopen = true;
	return true;
}

/* Leave the count of open sections (this thread is in one). */
static inline void
spl_open_leave(void)
{
	nbmem_lock_sigopen = false;
	__atomic_fetch_sub(&nbmem_sig_nopen, 1, __ATOMIC_RELEASE);
}

/*
 * Signals blocked, counted per thread: by each spin mutex, and across a
 * stretch of code that takes several of them, which then find them
 * blocked (the depth is above 0) and make no system call of their own.
 */
static inline void
spl_block_enter(void)
{
	if (nbmem_lock_sigdepth == 0 && !spl_open_enter())
		nbmem_os_sigblock(&nbmem_lock_sigsaved);
	nbmem_lock_sigdepth++;
}

static inline void
spl_block_exit(void)
{
	if (--nbmem_lock_sigdepth == 0) {
		if (nbmem_lock_sigopen)
			spl_open_leave();
		else
			nbmem_os_sigrestore(&nbmem_lock_sigsaved);
	}
}

/* The signal-blocking side of a spin mutex. */
static inline void
mutex_spl_raise(kmutex_t *m)
{
	if (MUTEX_SPIN_P(m))
		spl_block_enter();
}

static inline void
mutex_spl_lower(kmutex_t *m)
{
	if (MUTEX_SPIN_P(m))
		spl_block_exit();
}

static inline void
mutex_enter(kmutex_t *m)
{
	mutex_spl_raise(m);
	mutex_lock_word(m);
}

/* Take the mutex only if it is free at once (NetBSD's mutex_tryenter). */
static inline bool
mutex_tryenter(kmutex_t *m)
{
	uint32_t c = 0;

	mutex_spl_raise(m);
	if (__atomic_compare_exchange_n(&m->mtx_word, &c, 1, false,
	    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return true;
	mutex_spl_lower(m);
	return false;
}

static inline void
mutex_exit(kmutex_t *m)
{
	mutex_unlock_word(m);
	mutex_spl_lower(m);
}

static inline void
cv_init(kcondvar_t *cv)
{
	cv->cv_seq = 0;
	cv->cv_waiters = 0;
}

static inline void
cv_destroy(kcondvar_t *cv)
{
	(void)cv;
}

/*
 * Wait at most `ns' nanoseconds (0: no limit) for a broadcast; the
 * caller re-checks its condition (wakeups may be spurious).  Returns
 * with the mutex held.
 *
 * A thread waits for memory for as long as it takes: signals do not
 * stay blocked across the wait, as a sleeping NetBSD thread leaves
 * interrupts on.  When the mutex is all the library holds (a spin
 * mutex, the depth 1), the thread waits with its own mask, the depth 0
 * while it does, so that a handler that runs then may call the library
 * as it would anywhere else; when more is held (a batch of kmem's, a
 * mutex taken before), only the signals that run no code open, so that
 * SIGTERM or ^C still end a program with no handler for them.  Either
 * way the mask before the library blocked signals is put back after.
 * Which signals have a handler is read as each wait begins (waits are
 * cut in slices of at most a second): a handler another thread
 * installs during one may run in the waiter at its next delivery.
 */
static void __attribute__((__noinline__, __unused__))
cv_wait_signals(kcondvar_t *cv, kmutex_t *m, uint64_t ns, uint32_t seq)
{
	unsigned int depth = nbmem_lock_sigdepth;
	bool open = depth == (MUTEX_SPIN_P(m) ? 1u : 0u);
	sigset_t saved = nbmem_lock_sigsaved, during, now;

	nbmem_os_sigwaitmask(&saved, open, &during);
	mutex_unlock_word(m);
	if (open)
		nbmem_lock_sigdepth = 0;
	nbmem_os_sigrestore(&during);
	nbmem_os_futex_wait(&cv->cv_seq, seq, ns);
	nbmem_os_sigblock(&now);
	nbmem_lock_sigdepth = depth;
	nbmem_lock_sigsaved = saved;
}

static inline void
cv_timedwait_ns(kcondvar_t *cv, kmutex_t *m, uint64_t ns)
{
	uint32_t seq;

	/* Asleep, a section blocks signals like any: see nbmem_sig_lazy. */
	if (nbmem_lock_sigopen) {
		nbmem_os_sigblock(&nbmem_lock_sigsaved);
		spl_open_leave();
	}
	/* Counted before the sequence is read: see cv_broadcast. */
	__atomic_fetch_add(&cv->cv_waiters, 1, __ATOMIC_SEQ_CST);
	seq = __atomic_load_n(&cv->cv_seq, __ATOMIC_SEQ_CST);
	if (nbmem_lock_sigdepth != 0) {
		cv_wait_signals(cv, m, ns, seq);
	} else {
		mutex_unlock_word(m);
		nbmem_os_futex_wait(&cv->cv_seq, seq, ns);
	}
	__atomic_fetch_sub(&cv->cv_waiters, 1, __ATOMIC_RELAXED);
	/* Others may sleep on the mutex too: take it as "contended". */
	while (__atomic_exchange_n(&m->mtx_word, 2, __ATOMIC_ACQUIRE) != 0)
		nbmem_os_futex_wait(&m->mtx_word, 2, 0);
}

/*
 * The wake is a system call: made only when someone waits.  A waiter
 * counts itself before it reads the sequence, and the broadcaster reads
 * the count after it bumps the sequence (all sequentially consistent),
 * so a waiter that read the sequence before the bump is counted by
 * then, and woken; one that read it after waits for a later broadcast,
 * as without the count.
 */
static inline void
cv_broadcast(kcondvar_t *cv)
{
	__atomic_fetch_add(&cv->cv_seq, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&cv->cv_waiters, __ATOMIC_SEQ_CST) != 0)
		nbmem_os_futex_wake(&cv->cv_seq, 0x7fffffff);
}

#endif /* NBMEM_LOCK_H */

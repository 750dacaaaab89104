/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * lock.h: kernel-style mutexes and condition variables at an IPL.
 *
 * A mutex at IPL_VM or above is the userspace analogue of a spin mutex
 * at that level: it is only ever held with the asynchronous signals
 * blocked, so a handler that interrupts the thread can never find it
 * taken by the code it interrupted.  Below IPL_VM it is a plain mutex.
 * The saved signal mask lives in the mutex (only the owner touches it);
 * cv_wait() keeps the owner's copy across the wait.
 */
#ifndef NBMEM_LOCK_H
#define NBMEM_LOCK_H

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <time.h>

#include <nbmem/intr.h>

#include "os/os.h"

typedef struct kmutex {
	pthread_mutex_t	mtx_lock;
	int		mtx_ipl;
	sigset_t	mtx_saved;
} kmutex_t;

typedef struct kcondvar {
	pthread_cond_t	cv_cond;
} kcondvar_t;

#define	MUTEX_SPIN_P(m)	((m)->mtx_ipl >= IPL_VM)

static inline void
mutex_init(kmutex_t *m, int ipl)
{
	pthread_mutex_init(&m->mtx_lock, NULL);
	m->mtx_ipl = ipl;
}

static inline void
mutex_destroy(kmutex_t *m)
{
	pthread_mutex_destroy(&m->mtx_lock);
}

static inline void
mutex_enter(kmutex_t *m)
{
	if (MUTEX_SPIN_P(m)) {
		sigset_t old;
		nbmem_os_sigblock(&old);
		pthread_mutex_lock(&m->mtx_lock);
		m->mtx_saved = old;
	} else
		pthread_mutex_lock(&m->mtx_lock);
}

static inline void
mutex_exit(kmutex_t *m)
{
	if (MUTEX_SPIN_P(m)) {
		sigset_t old = m->mtx_saved;
		pthread_mutex_unlock(&m->mtx_lock);
		nbmem_os_sigrestore(&old);
	} else
		pthread_mutex_unlock(&m->mtx_lock);
}

static inline void
cv_init(kcondvar_t *cv)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&cv->cv_cond, &a);
	pthread_condattr_destroy(&a);
}

static inline void
cv_destroy(kcondvar_t *cv)
{
	pthread_cond_destroy(&cv->cv_cond);
}

/* Wait at most `ns' nanoseconds; returns false on timeout. */
static inline bool
cv_timedwait_ns(kcondvar_t *cv, kmutex_t *m, uint64_t ns)
{
	sigset_t saved = m->mtx_saved;
	struct timespec ts;
	int error;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ns / 1000000000u);
	ts.tv_nsec += (long)(ns % 1000000000u);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	error = pthread_cond_timedwait(&cv->cv_cond, &m->mtx_lock, &ts);
	m->mtx_saved = saved;
	return error != ETIMEDOUT;
}

static inline void
cv_broadcast(kcondvar_t *cv)
{
	pthread_cond_broadcast(&cv->cv_cond);
}

#endif /* NBMEM_LOCK_H */

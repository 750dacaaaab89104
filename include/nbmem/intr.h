/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * nbmem/intr.h: interrupt priority levels and their userspace meaning.
 *
 * In nbmem an "interrupt" is an asynchronous signal handler.  An object
 * created above IPL_NONE may be used (with the no-sleep calls) from a
 * handler that interrupted the same thread inside the same object; its
 * locks are held with the interrupt signals blocked.  See nbmem(3).
 */
#ifndef NBMEM_INTR_H
#define NBMEM_INTR_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define	IPL_NONE	0	/* thread context only */
#define	IPL_SOFTCLOCK	1	/* soft levels: thread context in nbmem */
#define	IPL_SOFTBIO	2
#define	IPL_SOFTNET	3
#define	IPL_SOFTSERIAL	4
#define	IPL_VM		5	/* highest level that may allocate */
#define	IPL_SCHED	6
#define	IPL_HIGH	7

/*
 * spl*() for ported code: block the interrupt signals (every signal
 * but the fault and abort ones) in the calling thread and return the
 * thread's previous level (IPL_NONE at first) as the cookie; splx(s)
 * sets the level to s, restoring at IPL_NONE the mask that was in force
 * there.  As in NetBSD, a cookie may be given back twice or out of
 * order.  MT-Safe (per thread).
 */
int	splvm(void);
int	splsched(void);
int	splhigh(void);
int	splsoftnet(void);
int	spl0(void);
void	splx(int);

/*
 * Interrupt context markers: a signal handler that uses nbmem calls
 * nbmem_intr_enter() first and nbmem_intr_exit() last, so that the
 * library can diagnose sleeping calls and IPL_NONE objects used from it.
 * cpu_intr_p() reports whether the thread is inside such a handler.
 */
void	nbmem_intr_enter(void);
void	nbmem_intr_exit(void);
bool	cpu_intr_p(void);

#ifdef __cplusplus
}
#endif

#endif /* NBMEM_INTR_H */

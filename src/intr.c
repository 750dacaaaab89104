/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * intr.c: interrupt context in userspace.
 *
 * A signal handler is nbmem's interrupt.  spl*() block the interrupt
 * signals in the calling thread, as raising the IPL blocks interrupts on
 * a CPU; the cookie is the nesting depth, and the mask in force at each
 * depth is kept per thread so splx() restores exactly it.  All the
 * raising levels block the same set: a userspace process has no
 * interrupt priorities among its signals worth modelling.
 *
 * nbmem_intr_enter()/nbmem_intr_exit() mark a handler so that sleeping
 * calls and IPL_NONE objects used from it can be diagnosed (the
 * cpu_intr_p() checks of the kernel).
 */
#include <pthread.h>
#include <signal.h>

#include "internal.h"
#include "os/os.h"

#define	SPL_DEPTH_MAX	32

static __thread int spl_depth;
static __thread sigset_t spl_saved[SPL_DEPTH_MAX];
__thread unsigned int nbmem_lock_sigdepth
    __attribute__((__tls_model__("initial-exec")));
__thread sigset_t nbmem_lock_sigsaved
    __attribute__((__tls_model__("initial-exec")));
__thread unsigned int nbmem_intr_depth
    __attribute__((__tls_model__("initial-exec")));

static int
spl_raise(void)
{
	int s = spl_depth;

	VERIFY(s < SPL_DEPTH_MAX, "intr: spl: nesting deeper than %d",
	    SPL_DEPTH_MAX);
	nbmem_os_sigblock(&spl_saved[s]);
	spl_depth = s + 1;
	return s;
}

NBMEM_EXPORT int splvm(void) { return spl_raise(); }
NBMEM_EXPORT int splsched(void) { return spl_raise(); }
NBMEM_EXPORT int splhigh(void) { return spl_raise(); }
NBMEM_EXPORT int splsoftnet(void) { return spl_raise(); }

NBMEM_EXPORT int
spl0(void)
{
	int s = spl_depth;

	VERIFY(s < SPL_DEPTH_MAX, "intr: spl: nesting deeper than %d",
	    SPL_DEPTH_MAX);
	sigset_t none;
	sigemptyset(&none);
	pthread_sigmask(SIG_SETMASK, &none, &spl_saved[s]);
	spl_depth = s + 1;
	return s;
}

NBMEM_EXPORT void
splx(int s)
{
	VERIFY(s >= 0 && s < spl_depth,
	    "intr: splx(%d): not a cookie of this thread (depth %d)", s,
	    spl_depth);
	spl_depth = s;
	nbmem_os_sigrestore(&spl_saved[s]);
}

NBMEM_EXPORT void
nbmem_intr_enter(void)
{
	nbmem_intr_depth++;
	nbmem_pcc_fast_sync();
}

NBMEM_EXPORT void
nbmem_intr_exit(void)
{
	VERIFY(nbmem_intr_depth > 0,
	    "intr: nbmem_intr_exit without nbmem_intr_enter");
	nbmem_intr_depth--;
	nbmem_pcc_fast_sync();
}

NBMEM_EXPORT bool
cpu_intr_p(void)
{
	return nbmem_intr_depth != 0;
}

void
nbmem_intr_check_sleep(const char *subsys, const char *obj, const char *call)
{
	if (__predict_false(nbmem_intr_depth != 0))
		nbmem_panic("%s: \"%s\": %s: sleeping call from interrupt "
		    "(signal handler) context", subsys, obj, call);
}

void
nbmem_intr_check_ipl(int ipl, const char *subsys, const char *obj,
    const char *call)
{
	if (__predict_false(nbmem_intr_depth != 0 && ipl == IPL_NONE))
		nbmem_panic("%s: \"%s\": %s: object created at IPL_NONE used "
		    "from interrupt (signal handler) context", subsys, obj,
		    call);
}

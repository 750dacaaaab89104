/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * intr.c: interrupt context in userspace.
 *
 * A signal handler is nbmem's interrupt.  spl*() block the interrupt
 * signals in the calling thread, as raising the IPL blocks interrupts on
 * a CPU.  Each thread has a level, IPL_NONE at first; the cookie is the
 * level before the call, and splx(s) sets the level to s, as NetBSD's
 * does: a cookie may be given back twice, or out of order.  Leaving
 * IPL_NONE blocks the signals and keeps the mask that was in force,
 * which coming back to IPL_NONE restores exactly.  All the raising
 * levels block the same set: a userspace process has no interrupt
 * priorities among its signals worth modelling.
 *
 * nbmem_intr_enter()/nbmem_intr_exit() mark a handler so that sleeping
 * calls and IPL_NONE objects used from it can be diagnosed (the
 * cpu_intr_p() checks of the kernel).
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <nbmem/intr.h>

#include "internal.h"
#include "os/os.h"

static __thread int spl_ipl;		/* this thread's level */
static __thread sigset_t spl_base;	/* the mask in force at IPL_NONE */
__thread unsigned int nbmem_lock_sigdepth
    __attribute__((__tls_model__("initial-exec")));
__thread sigset_t nbmem_lock_sigsaved
    __attribute__((__tls_model__("initial-exec")));
__thread unsigned int nbmem_intr_depth
    __attribute__((__tls_model__("initial-exec")));
bool nbmem_sig_lazy;
int nbmem_sig_handlers;
unsigned long nbmem_sig_nopen;
__thread bool nbmem_lock_sigopen
    __attribute__((__tls_model__("initial-exec")));

/*
 * The process whose sections nbmem_sig_nopen counts (sig_init, fork
 * child); 0: not known, then always this one.
 */
unsigned int nbmem_sig_pid;

/*
 * A handler is about to be installed (the malloc library's sigaction()
 * and signal()): from now on sections block signals, and the sections
 * that run with them open are waited for, so that none is left when
 * the handler can first run.  Every installer waits, not only the first:
 * a second one must not put its handler in while the first still waits
 * (the flag is up by then).  A handler that installs one while its
 * thread is in such a section does not wait for its own.  A child that
 * no fork handler ran in (_Fork, vfork, a raw clone) does not wait: the
 * count is of its parent's threads, which run no handler of the child's
 * (and, after _Fork, never leave their sections).  The wait sleeps after
 * a while rather than only yield, which lets no thread of a lower
 * real-time priority run.  Async-signal-safe.
 */
void
nbmem_sig_handler_installed(void)
{
	unsigned long mine;
	unsigned int pid, zero = 0;

	__atomic_store_n(&nbmem_sig_handlers, 1, __ATOMIC_SEQ_CST);
	mine = nbmem_lock_sigopen ? 1 : 0;
	if (__atomic_load_n(&nbmem_sig_nopen, __ATOMIC_SEQ_CST) <= mine)
		return;
	pid = __atomic_load_n(&nbmem_sig_pid, __ATOMIC_RELAXED);
	if (pid != 0 && pid != (unsigned int)getpid())
		return;
	for (unsigned int i = 0;
	    __atomic_load_n(&nbmem_sig_nopen, __ATOMIC_SEQ_CST) > mine; i++) {
		if (i < 100)
			sched_yield();
		else
			nbmem_os_futex_wait(&zero, 0, 50 * 1000);
	}
}

/* In a child of fork: the forking thread's open section is all left. */
void
nbmem_sig_fork_child(void)
{
	__atomic_store_n(&nbmem_sig_nopen, nbmem_lock_sigopen ? 1 : 0,
	    __ATOMIC_RELAXED);
	if (__atomic_load_n(&nbmem_sig_pid, __ATOMIC_RELAXED) != 0)
		__atomic_store_n(&nbmem_sig_pid, (unsigned int)getpid(),
		    __ATOMIC_RELAXED);
}

/* Set this thread's level to ipl, blocking or restoring the signals. */
static void
spl_set(int ipl)
{
	if (spl_ipl == IPL_NONE && ipl != IPL_NONE)
		nbmem_os_sigblock(&spl_base);
	else if (spl_ipl != IPL_NONE && ipl == IPL_NONE)
		nbmem_os_sigrestore(&spl_base);
	spl_ipl = ipl;
}

static int
spl_raise(int ipl)
{
	int s = spl_ipl;

	if (ipl > s)
		spl_set(ipl);
	return s;
}

NBMEM_EXPORT int splsoftnet(void) { return spl_raise(IPL_SOFTNET); }
NBMEM_EXPORT int splvm(void) { return spl_raise(IPL_VM); }
NBMEM_EXPORT int splsched(void) { return spl_raise(IPL_SCHED); }
NBMEM_EXPORT int splhigh(void) { return spl_raise(IPL_HIGH); }

/*
 * Down to IPL_NONE with every signal deliverable, as NetBSD's spl0()
 * enables every interrupt; a later splx() of a raised level blocks the
 * signals again.
 */
NBMEM_EXPORT int
spl0(void)
{
	int s = spl_ipl;
	sigset_t none;

	sigemptyset(&none);
	pthread_sigmask(SIG_SETMASK, &none, NULL);
	spl_ipl = IPL_NONE;
	return s;
}

NBMEM_EXPORT void
splx(int s)
{
	VERIFY(s >= IPL_NONE && s <= IPL_HIGH, "intr: splx(%d): not an "
	    "interrupt priority level (a cookie of spl*() is one, from %d "
	    "to %d)", s, IPL_NONE, IPL_HIGH);
	spl_set(s);
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

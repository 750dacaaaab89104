/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * Sections with signals open (lock.h, nbmem_sig_lazy): while the process
 * has no signal handler, a section takes no signal-mask system call and
 * counts itself instead; installing the first handler waits for every
 * such section to end, and sections block signals from then on; a
 * section that goes to sleep blocks them first; a child of fork starts
 * with no other thread's section counted.  The malloc library turns
 * the mode on (malloc.c, sig_init); here the tests turn it on by hand
 * (kyua runs each case in a process of its own, and the flag of a
 * handler, once set, stays set).
 */
#include <sys/syscall.h>
#include <sys/wait.h>

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nbmem/kmem.h>
#include <nbmem/nbmem.h>

#include "internal.h"
#include "lock.h"
#include "nbtest.h"
#include "os/os.h"

static uint64_t
nsigblock(void)
{
	return __atomic_load_n(&nbmem_os_nsigblock, __ATOMIC_RELAXED);
}

static unsigned long
nopen(void)
{
	return __atomic_load_n(&nbmem_sig_nopen, __ATOMIC_ACQUIRE);
}

/* Kmem objects of 2 KiB, more than a CPU slot holds, got and put back. */
static void
churn(void)
{
	static void *o[512];

	for (int i = 0; i < 512; i++)
		o[i] = kmem_alloc(2048, KM_SLEEP);
	for (int i = 0; i < 512; i++)
		kmem_free(o[i], 2048);
}

ATF_TC_WITHOUT_HEAD(no_handler_no_syscall);
ATF_TC_BODY(no_handler_no_syscall, tc)
{
	uint64_t before;

	churn();
	/* Blocking, as always without the mode. */
	before = nsigblock();
	churn();
	ATF_CHECK(nsigblock() > before);
	/* The mode, no handler: no signal-mask call, nothing left open. */
	nbmem_sig_lazy = true;
	before = nsigblock();
	churn();
	ATF_CHECK_EQ(nsigblock(), before);
	ATF_CHECK_EQ(nopen(), 0);
	ATF_CHECK(!nbmem_lock_sigopen);
	/* A handler: blocking again. */
	nbmem_sig_handler_installed();
	before = nsigblock();
	churn();
	ATF_CHECK(nsigblock() > before);
	ATF_CHECK_EQ(nopen(), 0);
}

/* A thread in an open section that sleeps a while before leaving it. */
static uint64_t left_at;
static int entered;

static void *
slow_section(void *arg)
{
	(void)arg;
	spl_block_enter();
	__atomic_store_n(&entered, 1, __ATOMIC_RELEASE);
	usleep(200 * 1000);
	__atomic_store_n(&left_at, nbt_now_ns(), __ATOMIC_RELEASE);
	spl_block_exit();
	return NULL;
}

ATF_TC_WITHOUT_HEAD(install_waits_for_sections);
ATF_TC_BODY(install_waits_for_sections, tc)
{
	pthread_t t;
	uint64_t done;

	nbmem_sig_lazy = true;
	ATF_REQUIRE(pthread_create(&t, NULL, slow_section, NULL) == 0);
	while (!__atomic_load_n(&entered, __ATOMIC_ACQUIRE))
		sched_yield();
	ATF_CHECK_EQ(nopen(), 1);
	nbmem_sig_handler_installed();
	done = nbt_now_ns();
	/* Not back before the other thread had left its section. */
	ATF_CHECK(__atomic_load_n(&left_at, __ATOMIC_ACQUIRE) != 0);
	ATF_CHECK(done >= __atomic_load_n(&left_at, __ATOMIC_ACQUIRE));
	ATF_CHECK_EQ(nopen(), 0);
	pthread_join(t, NULL);
}

/*
 * Two installers: the second must not return (and put its handler in)
 * while the first is still waiting for an open section to end.
 */
static void *
installer(void *arg)
{
	(void)arg;
	nbmem_sig_handler_installed();
	return NULL;
}

ATF_TC_WITHOUT_HEAD(second_installer_waits);
ATF_TC_BODY(second_installer_waits, tc)
{
	pthread_t t, u;

	nbmem_sig_lazy = true;
	ATF_REQUIRE(pthread_create(&t, NULL, slow_section, NULL) == 0);
	while (!__atomic_load_n(&entered, __ATOMIC_ACQUIRE))
		sched_yield();
	ATF_REQUIRE(pthread_create(&u, NULL, installer, NULL) == 0);
	while (!__atomic_load_n(&nbmem_sig_handlers, __ATOMIC_ACQUIRE))
		sched_yield();
	nbmem_sig_handler_installed();
	/* The first installer's wait is this one's too. */
	ATF_CHECK_MSG(__atomic_load_n(&left_at, __ATOMIC_ACQUIRE) != 0,
	    "returned while a section was still open");
	pthread_join(u, NULL);
	pthread_join(t, NULL);
}

/* A section that sleeps on a condition variable blocks signals first. */
static kmutex_t cv_lock = MUTEX_INITIALIZER(IPL_VM);
static kcondvar_t cv;

ATF_TC_WITHOUT_HEAD(sleep_blocks_first);
ATF_TC_BODY(sleep_blocks_first, tc)
{
	uint64_t before;
	sigset_t now;

	nbmem_sig_lazy = true;
	before = nsigblock();
	mutex_enter(&cv_lock);
	ATF_CHECK(nbmem_lock_sigopen);
	ATF_CHECK_EQ(nopen(), 1);
	cv_timedwait_ns(&cv, &cv_lock, 1000 * 1000);
	/*
	 * Blocked now, and no longer counted: an installer need not wait.
	 * Twice: before the wait, and after it, which it spent with the
	 * thread's own mask (lock.h, cv_wait_signals).
	 */
	ATF_CHECK(!nbmem_lock_sigopen);
	ATF_CHECK_EQ(nopen(), 0);
	ATF_CHECK_EQ(nsigblock(), before + 2);
	pthread_sigmask(SIG_BLOCK, NULL, &now);
	ATF_CHECK(sigismember(&now, SIGUSR1));
	mutex_exit(&cv_lock);
	pthread_sigmask(SIG_BLOCK, NULL, &now);
	ATF_CHECK(!sigismember(&now, SIGUSR1));
}

/*
 * A wait that holds more than its mutex opens the signals with no
 * handler that the thread's own mask leaves open, and no other: not
 * the faults and SIGABRT (which the library never blocks) when the
 * thread itself blocks them and has a handler for them.
 */
static kmutex_t outer_lock = MUTEX_INITIALIZER(IPL_VM);
static int trap_runs;

static void
trap_count(int sig)
{
	(void)sig;
	__atomic_add_fetch(&trap_runs, 1, __ATOMIC_RELAXED);
}

ATF_TC_WITHOUT_HEAD(wait_keeps_own_blocks);
ATF_TC_BODY(wait_keeps_own_blocks, tc)
{
	struct sigaction sa;
	sigset_t set;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = trap_count;
	ATF_REQUIRE(sigaction(SIGTRAP, &sa, NULL) == 0);
	sigemptyset(&set);
	sigaddset(&set, SIGTRAP);
	ATF_REQUIRE(pthread_sigmask(SIG_BLOCK, &set, NULL) == 0);
	ATF_REQUIRE(pthread_kill(pthread_self(), SIGTRAP) == 0);
	for (int depth = 1; depth <= 2; depth++) {
		if (depth == 2)
			mutex_enter(&outer_lock);
		mutex_enter(&cv_lock);
		cv_timedwait_ns(&cv, &cv_lock, 20 * 1000 * 1000);
		mutex_exit(&cv_lock);
		if (depth == 2)
			mutex_exit(&outer_lock);
		ATF_CHECK_MSG(__atomic_load_n(&trap_runs, __ATOMIC_RELAXED) ==
		    0, "a wait holding %d spin mutexes ran the handler of "
		    "SIGTRAP, which the thread blocks", depth);
	}
	sa.sa_handler = SIG_IGN;
	ATF_REQUIRE(sigaction(SIGTRAP, &sa, NULL) == 0);
	ATF_REQUIRE(pthread_sigmask(SIG_UNBLOCK, &set, NULL) == 0);
}

/* fork while another thread is inside an open section. */
static int release;

static void *
held_section(void *arg)
{
	(void)arg;
	spl_block_enter();
	__atomic_store_n(&entered, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&release, __ATOMIC_ACQUIRE))
		usleep(1000);
	spl_block_exit();
	return NULL;
}

ATF_TC_WITHOUT_HEAD(fork_child_counts_none);
ATF_TC_BODY(fork_child_counts_none, tc)
{
	pthread_t t;
	pid_t pid;
	int status;

	nbmem_sig_lazy = true;
	ATF_REQUIRE(pthread_create(&t, NULL, held_section, NULL) == 0);
	while (!__atomic_load_n(&entered, __ATOMIC_ACQUIRE))
		sched_yield();
	pid = fork();
	ATF_REQUIRE(pid >= 0);
	if (pid == 0) {
		/* The other thread is not here: installing must not wait. */
		alarm(10);
		if (nopen() != 0)
			_exit(2);
		nbmem_sig_handler_installed();
		churn();
		_exit(0);
	}
	ATF_REQUIRE(waitpid(pid, &status, 0) == pid);
	ATF_CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "child: status %#x", status);
	__atomic_store_n(&release, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
}

/*
 * A child that no fork handler ran in (_Fork, a raw clone): the count
 * still holds the other thread's open section, which never ends there;
 * installing a handler must not wait for it.
 */
ATF_TC_WITHOUT_HEAD(raw_fork_child_installs);
ATF_TC_BODY(raw_fork_child_installs, tc)
{
	pthread_t t;
	long pid;
	int status;

	nbmem_sig_lazy = true;
	nbmem_sig_pid = (unsigned int)getpid();
	ATF_REQUIRE(pthread_create(&t, NULL, held_section, NULL) == 0);
	while (!__atomic_load_n(&entered, __ATOMIC_ACQUIRE))
		sched_yield();
	pid = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	ATF_REQUIRE(pid >= 0);
	if (pid == 0) {
		alarm(10);
		if (nbmem_sig_nopen != 1)
			_exit(2);
		nbmem_sig_handler_installed();
		_exit(0);
	}
	ATF_REQUIRE(waitpid((pid_t)pid, &status, 0) == (pid_t)pid);
	ATF_CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "child: status %#x", status);
	__atomic_store_n(&release, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, no_handler_no_syscall);
	ATF_TP_ADD_TC(tp, install_waits_for_sections);
	ATF_TP_ADD_TC(tp, second_installer_waits);
	ATF_TP_ADD_TC(tp, sleep_blocks_first);
	ATF_TP_ADD_TC(tp, wait_keeps_own_blocks);
	ATF_TP_ADD_TC(tp, fork_child_counts_none);
	ATF_TP_ADD_TC(tp, raw_fork_child_installs);
	return atf_no_error();
}

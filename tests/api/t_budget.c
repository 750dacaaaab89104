/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_budget: the memory budget and reclaim of nbmem(3): the accounting,
 * the limit and where it comes from, the hooks, and the waits.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <atf-c.h>

#include <nbmem/kmem.h>
#include <nbmem/nbmem.h>
#include <nbmem/uvm_km.h>

#include "nbtest.h"

static size_t ps;

static void
setup(void)
{
	ps = (size_t)sysconf(_SC_PAGESIZE);
}

static bool
waiters_are(void *arg)
{
	return nbmem_physmem_waiters() == (unsigned int)(uintptr_t)arg;
}

/*
 * Run test case `tc' of this program in a fresh process (so the library
 * starts up under `env', "NAME=value"), with its standard error in
 * `err'.  Returns the wait status; the case itself reports through its
 * exit status (0: passed or skipped).
 */
static int
run_self(const char *tc, const char *env, char *err, size_t errlen)
{
	char exe[4096], res[64];
	int pfd[2], status;
	ssize_t n, len = 0;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ATF_REQUIRE(n > 0);
	exe[n] = '\0';
	snprintf(res, sizeof(res), "child-%s.res", tc);
	ATF_REQUIRE(pipe(pfd) == 0);
	pid_t pid = fork();
	ATF_REQUIRE(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		dup2(pfd[1], STDERR_FILENO);
		putenv((char *)(uintptr_t)env);
		setenv("NBT_CHILD", "1", 1);
		execl(exe, exe, "-r", res, tc, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	while ((n = read(pfd[0], err + len, errlen - 1 - (size_t)len)) > 0)
		len += n;
	err[len] = '\0';
	close(pfd[0]);
	ATF_REQUIRE(waitpid(pid, &status, 0) == pid);
	return status;
}

static void
child_only(void)
{
	if (getenv("NBT_CHILD") == NULL)
		atf_tc_skip("run by another test case in a fresh process");
}

/* ---- accounting */

ATF_TC_WITHOUT_HEAD(inuse_exact);
ATF_TC_BODY(inuse_exact, tc)
{
	static const size_t sizes[] = { 1, 100, 4096, 4097, 12288, 65537 };
	vaddr_t va[6];
	vmem_addr_t ka[6];
	size_t total = 0;

	setup();
	size_t base = nbmem_physmem_inuse();
	for (int i = 0; i < 6; i++) {
		size_t want = (sizes[i] + ps - 1) / ps * ps;
		size_t before = nbmem_physmem_inuse();
		va[i] = uvm_km_alloc(kernel_map, sizes[i], 0,
		    i % 2 ? UVM_KMF_WIRED : UVM_KMF_PAGEABLE);
		ATF_REQUIRE(va[i] != 0);
		ATF_CHECK_EQ(nbmem_physmem_inuse() - before, want);
		before = nbmem_physmem_inuse();
		ATF_REQUIRE_EQ(uvm_km_kmem_alloc(kmem_va_arena, sizes[i],
		    VM_SLEEP, &ka[i]), 0);
		ATF_CHECK_EQ(nbmem_physmem_inuse() - before, want);
		total += 2 * want;
	}
	ATF_CHECK_EQ(nbmem_physmem_inuse() - base, total);
	for (int i = 5; i >= 0; i--) {
		size_t want = (sizes[i] + ps - 1) / ps * ps;
		size_t before = nbmem_physmem_inuse();
		uvm_km_free(kernel_map, va[i], sizes[i],
		    i % 2 ? UVM_KMF_WIRED : UVM_KMF_PAGEABLE);
		ATF_CHECK_EQ(before - nbmem_physmem_inuse(), want);
		before = nbmem_physmem_inuse();
		uvm_km_kmem_free(kmem_va_arena, ka[i], sizes[i]);
		ATF_CHECK_EQ(before - nbmem_physmem_inuse(), want);
	}
	ATF_CHECK_EQ(nbmem_physmem_inuse(), base);
}

/* ---- the limit */

ATF_TC_WITHOUT_HEAD(set_get);
ATF_TC_BODY(set_get, tc)
{
	setup();
	nbmem_physmem_set(123 * ps);
	ATF_CHECK_EQ(nbmem_physmem_get(), 123 * ps);
	nbmem_physmem_set(0);
	ATF_CHECK_EQ(nbmem_physmem_get(), 0);
	nbmem_physmem_set(SIZE_MAX);		/* as good as unlimited */
	ATF_CHECK_EQ(nbmem_physmem_get(), 0);
}

ATF_TC_WITHOUT_HEAD(lowered_below_use);
ATF_TC_BODY(lowered_below_use, tc)
{
	setup();
	nbmem_physmem_set(0);
	vaddr_t va = uvm_km_alloc(kernel_map, 8 * ps, 0, UVM_KMF_WIRED);
	ATF_REQUIRE(va != 0);
	size_t inuse = nbmem_physmem_inuse();
	nbmem_physmem_set(inuse - 4 * ps);
	/* Nothing taken away; nothing more given. */
	ATF_CHECK_EQ(nbmem_physmem_inuse(), inuse);
	((volatile char *)va)[7 * ps] = 1;
	ATF_CHECK_EQ(uvm_km_alloc(kernel_map, ps, 0,
	    UVM_KMF_PAGEABLE | UVM_KMF_NOWAIT), 0);
	uvm_km_free(kernel_map, va, 8 * ps, UVM_KMF_WIRED);
	vaddr_t v2 = uvm_km_alloc(kernel_map, ps, 0,
	    UVM_KMF_PAGEABLE | UVM_KMF_NOWAIT);
	ATF_CHECK(v2 != 0);
	uvm_km_free(kernel_map, v2, ps, UVM_KMF_PAGEABLE);
	nbmem_physmem_set(0);
}

ATF_TC_WITHOUT_HEAD(env_physmem_child);
ATF_TC_BODY(env_physmem_child, tc)
{
	child_only();
	const char *want = getenv("NBT_WANT");
	ATF_REQUIRE(want != NULL);
	ATF_CHECK_EQ(nbmem_physmem_get(), (size_t)strtoull(want, NULL, 0));
	if (nbmem_physmem_get() != 0) {
		/* The limit is enforced from the start. */
		ATF_CHECK_EQ(uvm_km_alloc(kernel_map, nbmem_physmem_get() +
		    4096, 0, UVM_KMF_WIRED | UVM_KMF_NOWAIT), 0);
	}
}

static int
run_env(const char *physmem, const char *want, char *err, size_t len)
{
	static char env[128];

	snprintf(env, sizeof(env), "NBMEM_PHYSMEM=%s", physmem);
	setenv("NBT_WANT", want, 1);
	return run_self("env_physmem_child", env, err, len);
}

ATF_TC_WITHOUT_HEAD(env_physmem);
ATF_TC_BODY(env_physmem, tc)
{
	static char err[65536];
	char want[32];
	int st;

	st = run_env("3M", "3145728", err, sizeof(err));
	ATF_CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "NBMEM_PHYSMEM=3M: status %#x: %s", st, err);
	st = run_env("12345", "12345", err, sizeof(err));
	ATF_CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "NBMEM_PHYSMEM=12345: status %#x: %s", st, err);
	st = run_env("0", "0", err, sizeof(err));
	ATF_CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "NBMEM_PHYSMEM=0: status %#x: %s", st, err);

	/* Not a size: a warning, then the default (the cgroup's, or 0). */
	unsetenv("NBMEM_PHYSMEM");
	snprintf(want, sizeof(want), "%zu", nbmem_physmem_get());
	st = run_env("lots", want, err, sizeof(err));
	ATF_CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "NBMEM_PHYSMEM=lots: status %#x: %s", st, err);
	ATF_CHECK_MSG(strstr(err, "nbmem: budget: NBMEM_PHYSMEM=\"lots\" "
	    "is not a size") != NULL, "stderr: %s", err);
}

/* ---- reclaim hooks */

static unsigned int calls[3];

static void
hook(void *arg)
{
	calls[(uintptr_t)arg]++;
}

ATF_TC_WITHOUT_HEAD(hooks_called_each_pass);
ATF_TC_BODY(hooks_called_each_pass, tc)
{
	int h0 = nbmem_reclaim_hook_add(hook, (void *)0);
	int h1 = nbmem_reclaim_hook_add(hook, (void *)1);

	ATF_REQUIRE(h0 > 0 && h1 > 0 && h0 != h1);
	ATF_CHECK_EQ(nbmem_reclaim(), 0);
	ATF_CHECK_EQ(calls[0], 1);
	ATF_CHECK_EQ(calls[1], 1);
	nbmem_reclaim_hook_remove(h0);
	(void)nbmem_reclaim();
	ATF_CHECK_EQ(calls[0], 1);
	ATF_CHECK_EQ(calls[1], 2);
	nbmem_reclaim_hook_remove(h1);
	(void)nbmem_reclaim();
	ATF_CHECK_EQ(calls[1], 2);
}

static vaddr_t to_free;

static void
freeing_hook(void *arg)
{
	(void)arg;
	if (to_free != 0)
		uvm_km_free(kernel_map, to_free, 3 * ps, UVM_KMF_WIRED);
	to_free = 0;
}

ATF_TC_WITHOUT_HEAD(reclaim_returns_released);
ATF_TC_BODY(reclaim_returns_released, tc)
{
	setup();
	int h = nbmem_reclaim_hook_add(freeing_hook, NULL);
	to_free = uvm_km_alloc(kernel_map, 3 * ps, 0, UVM_KMF_WIRED);
	ATF_REQUIRE(to_free != 0);
	size_t before = nbmem_physmem_inuse();
	ATF_CHECK_EQ(nbmem_reclaim(), 3 * ps);
	ATF_CHECK_EQ(before - nbmem_physmem_inuse(), 3 * ps);
	ATF_CHECK_EQ(nbmem_reclaim(), 0);
	nbmem_reclaim_hook_remove(h);
}

ATF_TC_WITHOUT_HEAD(hook_table_full);
ATF_TC_BODY(hook_table_full, tc)
{
	int h[64];

	for (int i = 0; i < 64; i++) {
		h[i] = nbmem_reclaim_hook_add(hook, (void *)2);
		ATF_REQUIRE_MSG(h[i] > 0, "hook %d refused", i);
	}
	ATF_CHECK_EQ(nbmem_reclaim_hook_add(hook, (void *)2), 0);
	(void)nbmem_reclaim();
	ATF_CHECK_EQ(calls[2], 64);
	nbmem_reclaim_hook_remove(h[10]);
	int again = nbmem_reclaim_hook_add(hook, (void *)2);
	ATF_CHECK(again > 0);
	ATF_CHECK(again != h[10]);	/* a stale handle stays stale */
	for (int i = 0; i < 64; i++)
		if (i != 10)
			nbmem_reclaim_hook_remove(h[i]);
	nbmem_reclaim_hook_remove(again);
}

static void
remove_twice(void *arg)
{
	int h = nbmem_reclaim_hook_add(hook, NULL);

	(void)arg;
	nbmem_reclaim_hook_remove(h);
	nbmem_reclaim_hook_remove(h);
}

static void
remove_stale(void *arg)
{
	int h = nbmem_reclaim_hook_add(hook, NULL);

	(void)arg;
	nbmem_reclaim_hook_remove(h);
	(void)nbmem_reclaim_hook_add(hook, NULL);	/* takes the slot */
	nbmem_reclaim_hook_remove(h);
}

static void
add_null(void *arg)
{
	(void)arg;
	(void)nbmem_reclaim_hook_add(NULL, NULL);
}

static void
reclaim_in_handler(void *arg)
{
	(void)arg;
	nbmem_intr_enter();
	(void)nbmem_reclaim();
}

ATF_TC_WITHOUT_HEAD(hook_misuse);
ATF_TC_BODY(hook_misuse, tc)
{
	nbt_death(remove_twice, NULL, "nbmem: budget: reclaim: hook handle ");
	nbt_death(remove_twice, NULL, "not registered (removed twice?)");
	nbt_death(remove_stale, NULL, "not registered");
	nbt_death(add_null, NULL, "nbmem_reclaim_hook_add: NULL function");
	nbt_death(reclaim_in_handler, NULL, "nbmem_reclaim: sleeping call "
	    "from interrupt");
}

/* A hook that asks for reclaim again does not nest a pass. */
static void
nesting_hook(void *arg)
{
	(void)arg;
	calls[0]++;
	ATF_CHECK_EQ(nbmem_reclaim(), 0);
}

ATF_TC_WITHOUT_HEAD(hook_no_nesting);
ATF_TC_BODY(hook_no_nesting, tc)
{
	int h = nbmem_reclaim_hook_add(nesting_hook, NULL);

	(void)nbmem_reclaim();
	ATF_CHECK_EQ(calls[0], 1);
	nbmem_reclaim_hook_remove(h);
}

/*
 * nbmem_reclaim_hook_remove() waits for a running pass: once it returns
 * the hook is no longer running.  The order of events is recorded; a
 * removal that did not wait returns before the hook does.
 */
static unsigned int order, hook_done_at, remove_done_at;
static int hook_entered, hook_release, remover_started;

#define	SET(x)	__atomic_store_n(&(x), 1, __ATOMIC_SEQ_CST)

static bool
flag_set(void *arg)
{
	return __atomic_load_n((int *)arg, __ATOMIC_SEQ_CST) != 0;
}

static void
slow_hook(void *arg)
{
	(void)arg;
	SET(hook_entered);
	nbt_wait_until(flag_set, &hook_release, "the hook's release");
	hook_done_at = __atomic_add_fetch(&order, 1, __ATOMIC_SEQ_CST);
}

static void *
reclaimer(void *arg)
{
	(void)arg;
	(void)nbmem_reclaim();
	return NULL;
}

static void *
remover(void *arg)
{
	SET(remover_started);
	nbmem_reclaim_hook_remove((int)(intptr_t)arg);
	remove_done_at = __atomic_add_fetch(&order, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

ATF_TC_WITHOUT_HEAD(hook_remove_waits_for_pass);
ATF_TC_BODY(hook_remove_waits_for_pass, tc)
{
	pthread_t a, b;
	int h = nbmem_reclaim_hook_add(slow_hook, NULL);

	ATF_REQUIRE(pthread_create(&a, NULL, reclaimer, NULL) == 0);
	nbt_wait_until(flag_set, &hook_entered, "the hook to run");
	ATF_REQUIRE(pthread_create(&b, NULL, remover,
	    (void *)(intptr_t)h) == 0);
	nbt_wait_until(flag_set, &remover_started, "the remover");
	usleep(50000);		/* let it reach the wait; not a check */
	SET(hook_release);
	ATF_REQUIRE(pthread_join(a, NULL) == 0);
	ATF_REQUIRE(pthread_join(b, NULL) == 0);
	ATF_CHECK_MSG(remove_done_at > hook_done_at,
	    "remove returned (%u) before the hook finished (%u)",
	    remove_done_at, hook_done_at);
}

/* ---- waits */

struct sleeper {
	size_t	size;
	vaddr_t	va;
};

static void *
sleeper_main(void *arg)
{
	struct sleeper *s = arg;

	s->va = uvm_km_alloc(kernel_map, s->size, 0, UVM_KMF_PAGEABLE);
	return NULL;
}

ATF_TC_WITHOUT_HEAD(raise_wakes_sleepers);
ATF_TC_BODY(raise_wakes_sleepers, tc)
{
	struct sleeper s[2] = { { 0, 0 }, { 0, 0 } };
	pthread_t t[2];

	setup();
	nbmem_physmem_set(nbmem_physmem_inuse() + ps);
	for (int i = 0; i < 2; i++) {
		s[i].size = 4 * ps;
		ATF_REQUIRE(pthread_create(&t[i], NULL, sleeper_main,
		    &s[i]) == 0);
	}
	nbt_wait_until(waiters_are, (void *)2, "two sleepers");
	nbmem_physmem_set(0);
	for (int i = 0; i < 2; i++) {
		ATF_REQUIRE(pthread_join(t[i], NULL) == 0);
		ATF_CHECK(s[i].va != 0);
		uvm_km_free(kernel_map, s[i].va, 4 * ps, UVM_KMF_PAGEABLE);
	}
	ATF_CHECK_EQ(nbmem_physmem_waiters(), 0);
}

static void
kmem_sleep_forever(void *arg)
{
	vmem_addr_t a;

	(void)arg;
	setenv("NBMEM_SLEEP_TIMEOUT", "0.1", 1);
	nbmem_physmem_set(nbmem_physmem_inuse() + ps);
	(void)uvm_km_kmem_alloc(kmem_va_arena, 3 * ps, VM_SLEEP, &a);
}

ATF_TC_WITHOUT_HEAD(timeout_names_request);
ATF_TC_BODY(timeout_names_request, tc)
{
	char want[160];

	setup();
	snprintf(want, sizeof(want), "nbmem: budget: kva: sleeping "
	    "allocation waited for %zu bytes longer than NBMEM_SLEEP_TIMEOUT "
	    "(100 ms; budget ", 3 * ps);
	nbt_death(kmem_sleep_forever, NULL, want);
}

/* ---- signals during a wait */

static void
usr1_exit(int sig)
{
	(void)sig;
	_exit(42);
}

/*
 * A child that allocates `size' bytes with KM_SLEEP until it waits for
 * ever (the budget is full and no thread frees), with a handler for
 * SIGUSR1 that ends it with status 42 when `handler'; returns its wait
 * status after `sig'.
 */
static int
sleeper_signalled(size_t size, bool handler, int sig)
{
	int status = 0, pfd[2];
	char c;
	pid_t pid;

	ATF_REQUIRE(pipe(pfd) == 0);
	pid = fork();
	ATF_REQUIRE(pid >= 0);
	if (pid == 0) {
		if (handler)
			(void)signal(SIGUSR1, usr1_exit);
		nbmem_physmem_set(nbmem_physmem_inuse() + ps);
		(void)write(pfd[1], "r", 1);
		for (;;)
			(void)kmem_alloc(size, KM_SLEEP);
	}
	close(pfd[1]);
	ATF_REQUIRE(read(pfd[0], &c, 1) == 1);
	close(pfd[0]);
	usleep(200 * 1000);	/* into the wait */
	ATF_REQUIRE(kill(pid, sig) == 0);
	for (int i = 0; i < 500; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		usleep(10 * 1000);
	}
	(void)kill(pid, SIGKILL);
	ATF_REQUIRE(waitpid(pid, &status, 0) == pid);
	atf_tc_fail("a thread waiting in kmem_alloc(%zu, KM_SLEEP) did not "
	    "take signal %d in 5 s (killed)", size, sig);
	return status;
}

/*
 * A thread waiting for memory takes its signals, as a sleeping NetBSD
 * thread takes interrupts: SIGTERM with no handler ends the program
 * whatever the wait (a size class's miss, or the large path), and a
 * handler runs during the wait of the large path, which holds nothing
 * else of the library.  (A class's miss blocks signals once for all of
 * it, holding what a handler may need: a handler waits for its end.)
 */
ATF_TC_WITHOUT_HEAD(wait_takes_signals);
ATF_TC_BODY(wait_takes_signals, tc)
{
	int status;

	static const size_t sizes[] = { 100, 5000, 1u << 20 };

	setup();
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		status = sleeper_signalled(sizes[i], false, SIGTERM);
		ATF_CHECK_MSG(WIFSIGNALED(status) &&
		    WTERMSIG(status) == SIGTERM, "%zu bytes: status %#x, not "
		    "the end by SIGTERM", sizes[i], status);
	}
	status = sleeper_signalled(1u << 20, true, SIGUSR1);
	ATF_CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 42,
	    "status %#x, not the handler's exit (42)", status);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, inuse_exact);
	ATF_TP_ADD_TC(tp, wait_takes_signals);
	ATF_TP_ADD_TC(tp, set_get);
	ATF_TP_ADD_TC(tp, lowered_below_use);
	ATF_TP_ADD_TC(tp, env_physmem_child);
	ATF_TP_ADD_TC(tp, env_physmem);
	ATF_TP_ADD_TC(tp, hooks_called_each_pass);
	ATF_TP_ADD_TC(tp, reclaim_returns_released);
	ATF_TP_ADD_TC(tp, hook_table_full);
	ATF_TP_ADD_TC(tp, hook_misuse);
	ATF_TP_ADD_TC(tp, hook_no_nesting);
	ATF_TP_ADD_TC(tp, hook_remove_waits_for_pass);
	ATF_TP_ADD_TC(tp, raise_wakes_sleepers);
	ATF_TP_ADD_TC(tp, timeout_names_request);
	return atf_no_error();
}

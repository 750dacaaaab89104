/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * Test helpers shared by the ATF programs.
 *
 * nbt_death(fn, arg, text): run fn(arg) in a child process and require
 * that it aborts (SIGABRT) with `text' somewhere in what it wrote to
 * standard error.  The child's stderr is captured through a pipe.
 *
 * nbt_wait_until(cond, arg, what): poll cond(arg) every millisecond
 * until it is true; fail the test naming `what' if it is still false
 * after NBT_WAIT_SECONDS.  The bound guards against a hang (a lost
 * wakeup, a thread that never got there); it is not a timing check, so
 * it is generous enough for a loaded machine and the sanitizers.
 */
#ifndef NBTEST_H
#define NBTEST_H

#include <sys/sysinfo.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <atf-c.h>

static inline void
nbt_death_sig(void (*fn)(void *), void *arg, int sig, const char *text)
{
	int pfd[2];
	ATF_REQUIRE(pipe(pfd) == 0);
	pid_t pid = fork();
	ATF_REQUIRE(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		dup2(pfd[1], STDERR_FILENO);
		(*fn)(arg);
		_exit(0);
	}
	close(pfd[1]);
	static char buf[65536];
	size_t len = 0;
	ssize_t n;
	while ((n = read(pfd[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(pfd[0]);
	int status;
	ATF_REQUIRE(waitpid(pid, &status, 0) == pid);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != sig) {
		atf_tc_fail("expected death by signal %d, got status %#x; "
		    "stderr: %s", sig, status, buf);
	}
	if (text != NULL && strstr(buf, text) == NULL)
		atf_tc_fail("diagnostic lacks \"%s\"; stderr was: %s", text,
		    buf);
}

static inline void
nbt_death(void (*fn)(void *), void *arg, const char *text)
{
	nbt_death_sig(fn, arg, SIGABRT, text);
}

#ifndef NBT_WAIT_SECONDS
#define	NBT_WAIT_SECONDS	30
#endif

static inline uint64_t
nbt_now_ns(void)
{
	struct timespec ts;

	ATF_REQUIRE(clock_gettime(CLOCK_MONOTONIC, &ts) == 0);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void
nbt_wait_until(bool (*cond)(void *), void *arg, const char *what)
{
	uint64_t start = nbt_now_ns();
	const struct timespec ms = { 0, 1000000 };

	while (!(*cond)(arg)) {
		if (nbt_now_ns() - start >=
		    (uint64_t)NBT_WAIT_SECONDS * 1000000000u)
			atf_tc_fail("gave up waiting for %s after %d s", what,
			    NBT_WAIT_SECONDS);
		(void)nanosleep(&ms, NULL);
	}
}

/*
 * A size larger than all RAM and swap by 1 GiB, which the kernel's
 * heuristic overcommit refuses to map; skips the test case where
 * vm.overcommit_memory is not that heuristic (0).
 */
static inline size_t
nbt_beyond_ram_and_swap(void)
{
	struct sysinfo si;
	char mode = '0';
	FILE *f;

	if ((f = fopen("/proc/sys/vm/overcommit_memory", "r")) != NULL) {
		if (fscanf(f, " %c", &mode) != 1)
			mode = '0';
		fclose(f);
	}
	if (mode != '0')
		atf_tc_skip("vm.overcommit_memory is %c, not the heuristic",
		    mode);
	ATF_REQUIRE(sysinfo(&si) == 0);
	return (size_t)(si.totalram + si.totalswap) * si.mem_unit +
	    ((size_t)1 << 30);
}

#endif /* NBTEST_H */

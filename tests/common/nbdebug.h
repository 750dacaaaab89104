/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * Test helpers for the run-time debug modes (NBMEM_DEBUG), which the
 * library reads once when it starts.
 *
 * nbt_debug_run(tc, modes, err, len): run test case `tc' of this
 * program in a fresh process whose environment has NBMEM_DEBUG=modes
 * (and NBT_CHILD=1), its standard error into err; returns the wait
 * status.
 *
 * nbt_debug_death(tc, modes, text): the child must die of SIGABRT with
 * `text' in its standard error (a diagnostic); in a build with
 * AddressSanitizer, `asan_text' may stand in for it (ASan reports a bad
 * access to a poisoned object itself and exits), when not NULL.
 *
 * nbt_debug_fork(fn, arg, err, len): run fn(arg) in a forked child (the
 * modes stay the parent's), its standard error into err; the child
 * exits 0 if fn returns.  Returns the wait status.
 *
 * NBT_DEBUG_CHILD(): at the top of a child case: skip unless run so.
 */
#ifndef NBDEBUG_H
#define NBDEBUG_H

#include <sys/types.h>
#include <sys/wait.h>

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <atf-c.h>

#if defined(__SANITIZE_ADDRESS__)
#define	NBT_ASAN	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define	NBT_ASAN	1
#endif
#endif
#ifndef NBT_ASAN
#define	NBT_ASAN	0
#endif

#define	NBT_DEBUG_CHILD() do {						\
	if (getenv("NBT_CHILD") == NULL)				\
		atf_tc_skip("run by another test case in a fresh "	\
		    "process");						\
} while (0)

/* Read the child's stderr from fd into err, then reap it. */
static inline int
nbt_debug_collect(pid_t pid, int fd, char *err, size_t errlen)
{
	ssize_t n, len = 0;
	int status;

	while ((n = read(fd, err + len, errlen - 1 - (size_t)len)) > 0)
		len += n;
	err[len] = '\0';
	close(fd);
	ATF_REQUIRE(waitpid(pid, &status, 0) == pid);
	return status;
}

static inline int
nbt_debug_fork(void (*fn)(void *), void *arg, char *err, size_t errlen)
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
	return nbt_debug_collect(pid, pfd[0], err, errlen);
}

struct nbt_debug_exec {
	const char	*de_tc;
	const char	*de_modes;
};

/* In the child: this program again, test case de_tc, the modes set. */
static inline void
nbt_debug_exec(void *arg)
{
	const struct nbt_debug_exec *de = arg;
	char exe[4096], res[128];
	ssize_t n;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		_exit(127);
	exe[n] = '\0';
	snprintf(res, sizeof(res), "child-%s.res", de->de_tc);
	if (de->de_modes != NULL)
		setenv("NBMEM_DEBUG", de->de_modes, 1);
	else
		unsetenv("NBMEM_DEBUG");
	setenv("NBT_CHILD", "1", 1);
	execl(exe, exe, "-r", res, de->de_tc, (char *)NULL);
	_exit(127);
}

static inline int
nbt_debug_run(const char *tc, const char *modes, char *err, size_t errlen)
{
	struct nbt_debug_exec de = { tc, modes };

	return nbt_debug_fork(nbt_debug_exec, &de, err, errlen);
}

static inline void
nbt_debug_death_sig(const char *tc, const char *modes, int sig,
    const char *text, const char *asan_text)
{
	static char err[65536];
	int st = nbt_debug_run(tc, modes, err, sizeof(err));

	if (NBT_ASAN && asan_text != NULL && strstr(err, asan_text) != NULL)
		return;
	if (!WIFSIGNALED(st) || WTERMSIG(st) != sig)
		atf_tc_fail("NBMEM_DEBUG=%s %s: expected death by signal %d, "
		    "got status %#x; stderr: %s", modes, tc, sig, st, err);
	if (text != NULL && strstr(err, text) == NULL)
		atf_tc_fail("NBMEM_DEBUG=%s %s: diagnostic lacks \"%s\"; "
		    "stderr: %s", modes, tc, text, err);
}

static inline void
nbt_debug_death(const char *tc, const char *modes, const char *text,
    const char *asan_text)
{
	nbt_debug_death_sig(tc, modes, SIGABRT, text, asan_text);
}

#endif	/* NBDEBUG_H */

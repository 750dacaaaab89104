/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * Test helpers shared by the ATF programs.
 *
 * nbt_death(fn, arg, text): run fn(arg) in a child process and require
 * that it aborts (SIGABRT) with `text' somewhere in what it wrote to
 * standard error.  The child's stderr is captured through a pipe.
 */
#ifndef NBTEST_H
#define NBTEST_H

#include <sys/types.h>
#include <sys/wait.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

#endif /* NBTEST_H */

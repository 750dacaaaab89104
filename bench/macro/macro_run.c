/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * macro_run: run one workload and measure it from outside.
 *
 *	macro_run [-p LIBRARY] [-t SECONDS] -- PROGRAM [ARGUMENT ...]
 *
 * PROGRAM runs as a child, with LD_PRELOAD=LIBRARY when -p is given
 * (the runner itself never runs with the allocator under test, so it
 * does not disturb it).  Its standard output and error pass through;
 * when it has ended, the runner prints one line
 *
 *	macro_run wall_s=W maxrss_kb=M user_s=U sys_s=S status=X
 *
 * W is the wall time from fork to the child's end (monotonic clock), M
 * the child's peak resident set (wait4's ru_maxrss), X its exit status
 * or "signal-N".  The runner exits with 0 only if the child did; with
 * -t the child is killed after SECONDS.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pid_t child;

static void
on_alarm(int sig)
{
	(void)sig;
	if (child > 0)
		kill(child, SIGKILL);
}

static double
tv_s(const struct timeval *tv)
{
	return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

static void
usage(void)
{
	fprintf(stderr, "usage: macro_run [-p LIBRARY] [-t SECONDS] -- "
	    "PROGRAM [ARGUMENT ...]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *preload = NULL;
	struct timespec t0, t1;
	struct rusage ru;
	unsigned timeout = 0;
	char status[32];
	int c, st;

	while ((c = getopt(argc, argv, "p:t:")) != -1) {
		switch (c) {
		case 'p':
			preload = optarg;
			break;
		case 't':
			timeout = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();
	if (preload != NULL && access(preload, R_OK) != 0) {
		fprintf(stderr, "macro_run: %s: %s\n", preload,
		    strerror(errno));
		return 2;
	}
	fflush(stdout);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	child = fork();
	if (child < 0) {
		perror("macro_run: fork");
		return 2;
	}
	if (child == 0) {
		if (preload != NULL)
			setenv("LD_PRELOAD", preload, 1);
		else
			unsetenv("LD_PRELOAD");
		execv(argv[optind], argv + optind);
		fprintf(stderr, "macro_run: %s: %s\n", argv[optind],
		    strerror(errno));
		_exit(127);
	}
	if (timeout > 0) {
		signal(SIGALRM, on_alarm);
		alarm(timeout);
	}
	while (wait4(child, &st, 0, &ru) < 0) {
		if (errno != EINTR) {
			perror("macro_run: wait4");
			return 2;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (WIFEXITED(st))
		snprintf(status, sizeof(status), "%d", WEXITSTATUS(st));
	else
		snprintf(status, sizeof(status), "signal-%d", WTERMSIG(st));
	printf("macro_run wall_s=%.4f maxrss_kb=%ld user_s=%.3f sys_s=%.3f "
	    "status=%s\n",
	    (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
	    ru.ru_maxrss, tv_s(&ru.ru_utime), tv_s(&ru.ru_stime), status);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

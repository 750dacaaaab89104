/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * debug_bench: what each run-time debug mode (NBMEM_DEBUG) costs.
 *
 * 1. What is measured
 *
 *    kmem64    a kmem_alloc(64)/kmem_free pair in a tight loop;
 *    kmemmix   the same with the size taken in turn from a fixed mix
 *              (8 to 4096 bytes, small sizes more often);
 *    cache     a pool_cache_get/pool_cache_put pair of a 64-byte cache
 *              without constructor;
 *    with no mode, with each mode alone and with all of them.  The
 *    modes are read once when the library starts, so each mode runs in
 *    a child process (this program again, with --child and NBMEM_DEBUG
 *    in its environment).
 *
 *    A child warms up, sizes a run to take about 20 ms, then times
 *    `repeats' runs of each test and prints the median.  Time is the
 *    thread's CPU time (CLOCK_THREAD_CPUTIME_ID), system calls included:
 *    on a shared machine wall time mostly measures the other programs.
 *
 * 2. Output
 *
 *    One line per mode and test, "debug mode=M test=T ns=MEDIAN
 *    slowdown=F", F being the median over that of no mode; then a
 *    markdown table of the factors.  '#' lines are comments.
 *
 * 3. Build type
 *
 *    Figures from anything but a Release build mean nothing; the program
 *    refuses to run elsewhere unless given --allow-debug.
 */

#include <sys/wait.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nbmem/kmem.h>
#include <nbmem/nbmem.h>
#include <nbmem/pool.h>

#define	BENCH_PROG	"debug_bench"
#include "bench.h"

static const char *const modes[] = {
	"", "size", "redzone", "poison", "guard", "audit", "leaks", "all",
};
#define	NMODES		(sizeof(modes) / sizeof(modes[0]))

static const char *const tests[] = { "kmem64", "kmemmix", "cache" };
#define	NTESTS		(sizeof(tests) / sizeof(tests[0]))

static const size_t mix[] = {
	8, 24, 64, 16, 100, 40, 256, 32, 512, 48, 1000, 24, 2048, 64, 4096, 16,
};
#define	NMIX		(sizeof(mix) / sizeof(mix[0]))

#define	MAXREPEATS	101
#define	RUN_NS		20000000ull	/* one timed run: about 20 ms */

static pool_cache_t cache;

static uint64_t
cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
run(unsigned int test, uint64_t n)
{
	switch (test) {
	case 0:
		for (uint64_t i = 0; i < n; i++) {
			void *p = kmem_alloc(64, KM_SLEEP);
			__asm__ volatile("" : : "r"(p) : "memory");
			kmem_free(p, 64);
		}
		break;
	case 1:
		for (uint64_t i = 0; i < n; i++) {
			size_t sz = mix[i % NMIX];
			void *p = kmem_alloc(sz, KM_SLEEP);
			__asm__ volatile("" : : "r"(p) : "memory");
			kmem_free(p, sz);
		}
		break;
	default:
		for (uint64_t i = 0; i < n; i++) {
			void *p = pool_cache_get(cache, PR_WAITOK);
			__asm__ volatile("" : : "r"(p) : "memory");
			pool_cache_put(cache, p);
		}
		break;
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The child: every test under the modes of its environment. */
static void
child(unsigned int repeats)
{
	double ns[MAXREPEATS];

	cache = pool_cache_init(64, 0, 0, 0, "debug_bench", NULL, IPL_NONE,
	    NULL, NULL, NULL);
	if (cache == NULL)
		die("pool_cache_init failed");
	for (unsigned int t = 0; t < NTESTS; t++) {
		uint64_t n = 64, t0;

		run(t, 1000);			/* warm up */
		for (;;) {			/* size a run */
			t0 = cpu_ns();
			run(t, n);
			if (cpu_ns() - t0 >= RUN_NS / 4)
				break;
			n *= 2;
		}
		n *= 4;
		for (unsigned int r = 0; r < repeats; r++) {
			t0 = cpu_ns();
			run(t, n);
			ns[r] = (double)(cpu_ns() - t0) / (double)n;
		}
		qsort(ns, repeats, sizeof(ns[0]), cmp_double);
		printf("%s %.2f\n", tests[t], ns[repeats / 2]);
	}
	fflush(stdout);
}

/* Run the child under `mode'; its medians into ns[]. */
static void
measure(const char *self, const char *mode, unsigned int repeats,
    double *ns)
{
	char arg[32], name[32], *line = NULL;
	size_t cap = 0;
	int pfd[2], st;
	pid_t pid;
	FILE *f;

	snprintf(arg, sizeof(arg), "repeats=%u", repeats);
	if (pipe(pfd) != 0 || (pid = fork()) < 0)
		die("cannot start a child");
	if (pid == 0) {
		close(pfd[0]);
		dup2(pfd[1], STDOUT_FILENO);
		if (*mode != '\0')
			setenv("NBMEM_DEBUG", mode, 1);
		else
			unsetenv("NBMEM_DEBUG");
		execl(self, self, "--child", arg, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	if ((f = fdopen(pfd[0], "r")) == NULL)
		die("fdopen");
	for (unsigned int t = 0; t < NTESTS; t++)
		ns[t] = -1;
	while (getline(&line, &cap, f) > 0) {
		double v;
		if (sscanf(line, "%31s %lf", name, &v) != 2)
			continue;
		for (unsigned int t = 0; t < NTESTS; t++)
			if (strcmp(name, tests[t]) == 0)
				ns[t] = v;
	}
	free(line);
	fclose(f);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0)
		die("a child failed");
}

int
main(int argc, char **argv)
{
	double ns[NMODES][NTESTS];
	unsigned long repeats = 11;
	bool allow_debug = false, is_child = false;
	char self[4096];
	ssize_t n;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--allow-debug") == 0)
			allow_debug = true;
		else if (strcmp(argv[i], "--child") == 0)
			is_child = true;
		else if (strncmp(argv[i], "repeats=", 8) == 0)
			repeats = parse_num(argv[i] + 8, "repeats");
		else {
			fprintf(stderr, "usage: debug_bench [--allow-debug] "
			    "[repeats=N]\n");
			return 2;
		}
	}
	if (repeats < 1 || repeats > MAXREPEATS) {
		fprintf(stderr, "debug_bench: repeats must be 1 to %d\n",
		    MAXREPEATS);
		return 2;
	}
	if (is_child) {
		child((unsigned int)repeats);
		return 0;
	}
	if (bench_refuse(allow_debug, BENCH_PROG ": a %s build (%s) cannot "
	    "be measured; use `make bench` or --allow-debug\n",
	    NBMEM_BENCH_BUILD_TYPE, NBMEM_BENCH_WHY))
		return 1;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		die("cannot find myself");
	self[n] = '\0';

	printf("# debug_bench: %s build, median of %lu runs of about 20 ms; "
	    "CPU ns per pair\n", NBMEM_BENCH_BUILD_TYPE, repeats);
	for (unsigned int m = 0; m < NMODES; m++) {
		fprintf(stderr, "debug_bench: NBMEM_DEBUG=%s ...\n", modes[m]);
		measure(self, modes[m], (unsigned int)repeats, ns[m]);
		for (unsigned int t = 0; t < NTESTS; t++)
			printf("debug mode=%s test=%s ns=%.2f slowdown=%.2f\n",
			    *modes[m] != '\0' ? modes[m] : "none", tests[t],
			    ns[m][t], ns[m][t] / ns[0][t]);
	}
	printf("\n| NBMEM_DEBUG | kmem 64 B | kmem size mix | pool_cache "
	    "64 B |\n|---|---:|---:|---:|\n");
	for (unsigned int m = 0; m < NMODES; m++) {
		if (m == 0) {
			printf("| (none), ns per pair | %.1f | %.1f | %.1f |\n",
			    ns[0][0], ns[0][1], ns[0][2]);
			continue;
		}
		printf("| %s |", modes[m]);
		for (unsigned int t = 0; t < NTESTS; t++)
			printf(" %.1fx |", ns[m][t] / ns[0][t]);
		printf("\n");
	}
	return 0;
}

/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * macro.h: what every macro-benchmark workload shares.
 *
 * 1. The workloads are ordinary programs that call malloc, free and
 *    realloc of whatever C library they run with: they are linked
 *    against nothing but libc, and the allocator under test is chosen
 *    with LD_PRELOAD (bench/scripts/macro.sh).  Wall time and peak
 *    resident memory are measured from outside, by macro_run.
 *
 * 2. Arguments are key=value words: threads=N (where threads matter),
 *    scale=X (multiplies the amount of work, 1 by default: the sizes
 *    the suite is tuned for, about half a second to two seconds on two
 *    cores; the smoke test runs scale=0.01), seed=N, and each
 *    workload's own keys.
 *
 * 3. Every object handed out is stamped at its head (and at its tail
 *    from 16 bytes on) with a value derived from its address and size
 *    (mk_stamp) and checked before it is freed (mk_verify): two live
 *    objects that overlap, or an allocator that moves data wrongly in
 *    realloc, make the program fail instead of producing a figure.
 *
 * 4. A run ends with one line "macro_result workload=NAME threads=N
 *    ops=N ..." on standard output and exit status 0; anything else is
 *    a failure.
 */
#ifndef NBMEM_BENCH_MACRO_H
#define	NBMEM_BENCH_MACRO_H

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef MACRO_NAME
#error "MACRO_NAME (the workload's name) must be defined"
#endif

#define	MACRO_MAXTHREADS	64

static inline void
__attribute__((__noreturn__, __format__(__printf__, 1, 2)))
mk_die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "macro_%s: ", MACRO_NAME);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* The value of "key=..." among the arguments, or NULL. */
static inline const char *
mk_arg(int argc, char **argv, const char *key)
{
	size_t len = strlen(key);
	int i;

	for (i = 1; i < argc; i++)
		if (strncmp(argv[i], key, len) == 0 && argv[i][len] == '=')
			return argv[i] + len + 1;
	return NULL;
}

static inline void
mk_check_args(int argc, char **argv, const char *const *keys)
{
	const char *const *k;
	int i;

	for (i = 1; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');

		if (eq == NULL)
			mk_die("argument \"%s\" is not key=value", argv[i]);
		for (k = keys; *k != NULL; k++)
			if (strlen(*k) == (size_t)(eq - argv[i]) &&
			    strncmp(*k, argv[i], (size_t)(eq - argv[i])) == 0)
				break;
		if (*k == NULL)
			mk_die("unknown argument \"%s\"", argv[i]);
	}
}

static inline double
mk_arg_double(int argc, char **argv, const char *key, double def)
{
	const char *s = mk_arg(argc, argv, key);
	char *end;
	double v;

	if (s == NULL)
		return def;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v > 0))
		mk_die("%s=%s: want a positive number", key, s);
	return v;
}

static inline long
mk_arg_long(int argc, char **argv, const char *key, long def)
{
	const char *s = mk_arg(argc, argv, key);
	char *end;
	long v;

	if (s == NULL)
		return def;
	errno = 0;
	v = strtol(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0' || v < 0)
		mk_die("%s=%s: want a non-negative integer", key, s);
	return v;
}

/* A count scaled by scale=, never below lo. */
static inline long
mk_scaled(double scale, long n, long lo)
{
	double v = (double)n * scale;

	return v < (double)lo ? lo : (long)v;
}

static inline uint64_t
mk_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Resident set now, in KiB, from /proc/self/statm. */
static inline long
mk_rss_kb(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size, res = 0;

	if (f == NULL)
		return 0;
	if (fscanf(f, "%ld %ld", &size, &res) != 2)
		res = 0;
	fclose(f);
	return res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* A splitmix64 generator, one state per thread. */
typedef struct mk_rng {
	uint64_t	r_s;
} mk_rng_t;

static inline uint64_t
mk_rand(mk_rng_t *r)
{
	uint64_t z = (r->r_s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, n). */
static inline uint64_t
mk_below(mk_rng_t *r, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)mk_rand(r) * n) >> 64);
}

/* Uniform in [lo, hi]. */
static inline size_t
mk_range(mk_rng_t *r, size_t lo, size_t hi)
{
	return lo + (size_t)mk_below(r, hi - lo + 1);
}

static inline void
mk_seed(mk_rng_t *r, uint64_t seed, unsigned stream)
{
	r->r_s = seed * 0x2545f4914f6cdd1dULL + stream * 0x9e3779b9ULL + 1;
	(void)mk_rand(r);
}

/* The stamp of an object of size bytes at p (see 3. above). */
static inline uint64_t
mk_tag(const void *p, size_t size)
{
	return ((uintptr_t)p * 0x9e3779b97f4a7c15ULL) ^ size;
}

static inline void
mk_stamp(void *p, size_t size)
{
	uint64_t t = mk_tag(p, size);

	if (size >= 16)
		memcpy((char *)p + size - 8, &t, 8);
	memcpy(p, &t, size < 8 ? size : 8);
}

static inline void
mk_verify(const void *p, size_t size)
{
	uint64_t t = mk_tag(p, size), a, b;

	a = b = t;
	memcpy(&a, p, size < 8 ? size : 8);
	if (size >= 16)
		memcpy(&b, (const char *)p + size - 8, 8);
	if (a != t || b != t)
		mk_die("object %p of %zu bytes was overwritten (head %#llx "
		    "tail %#llx, want %#llx)", p, size, (unsigned long long)a,
		    (unsigned long long)b, (unsigned long long)t);
}

static inline void *
mk_alloc(size_t size)
{
	void *p = malloc(size);

	if (p == NULL)
		mk_die("malloc(%zu) failed", size);
	return p;
}

static inline void *
mk_alloc_stamped(size_t size)
{
	void *p = mk_alloc(size);

	mk_stamp(p, size);
	return p;
}

static inline void
mk_free_stamped(void *p, size_t size)
{
	mk_verify(p, size);
	free(p);
}

/* Start n threads running fn(&args[i]) and wait for all of them. */
static inline void
mk_run_threads(int n, void *(*fn)(void *), void *args, size_t argsize)
{
	pthread_t t[MACRO_MAXTHREADS];
	int i, error;

	if (n < 1 || n > MACRO_MAXTHREADS)
		mk_die("threads=%d: want 1 to %d", n, MACRO_MAXTHREADS);
	for (i = 0; i < n; i++) {
		error = pthread_create(&t[i], NULL, fn,
		    (char *)args + (size_t)i * argsize);
		if (error != 0)
			mk_die("pthread_create: %s", strerror(error));
	}
	for (i = 0; i < n; i++)
		pthread_join(t[i], NULL);
}

static inline int
mk_threads(int argc, char **argv, int def)
{
	long n = mk_arg_long(argc, argv, "threads", def);

	if (n < 1 || n > MACRO_MAXTHREADS)
		mk_die("threads=%ld: want 1 to %d", n, MACRO_MAXTHREADS);
	return (int)n;
}

/*
 * The closing line.  The caller adds its own key=value pairs; elapsed
 * time inside the program is given for information only (macro_run
 * measures the whole process).
 */
static inline void
__attribute__((__format__(__printf__, 4, 5)))
mk_result(int threads, long ops, uint64_t t0, const char *fmt, ...)
{
	va_list ap;

	printf("macro_result workload=%s threads=%d ops=%ld inner_s=%.4f",
	    MACRO_NAME, threads, ops, (double)(mk_now_ns() - t0) / 1e9);
	if (fmt != NULL && *fmt != '\0') {
		putchar(' ');
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
	}
	putchar('\n');
	fflush(stdout);
}

#endif /* !NBMEM_BENCH_MACRO_H */

/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench.h: what every micro-benchmark program shares.
 *
 * 1. Build type.  bench/CMakeLists.txt passes NBMEM_BENCH_RELEASE (1
 *    only for a Release build without sanity checks or sanitizers),
 *    NBMEM_BENCH_BUILD_TYPE and NBMEM_BENCH_WHY (what makes the build
 *    unmeasurable); the defaults below describe an unknown build.
 *    bench_refuse() says why a figure from this build would mean
 *    nothing, unless --allow-debug was given.
 *
 * 2. Instruction counts.  When <valgrind/callgrind.h> is available,
 *    BENCH_CLIENT_REQUESTS is 1 and CALLGRIND_START/STOP_INSTRUMENTATION
 *    switch instrumentation on only around a marked region; otherwise
 *    they do nothing.  BENCH_MARKER keeps a marked function under its
 *    own name, for --toggle-collect.
 *
 * 3. A program defines BENCH_PROG (its name, for die()) before
 *    including this file, and may define BENCH_CMD (the name in
 *    command-line errors, from parse_num(); BENCH_PROG by default).
 */
#ifndef NBMEM_BENCH_H
#define	NBMEM_BENCH_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#ifndef BENCH_PROG
#error "BENCH_PROG (the program's name) must be defined"
#endif

#ifndef BENCH_CMD
#define	BENCH_CMD	BENCH_PROG
#endif

#ifndef NBMEM_BENCH_BUILD_TYPE
#define	NBMEM_BENCH_BUILD_TYPE	"unknown"
#endif
#ifndef NBMEM_BENCH_RELEASE
#define	NBMEM_BENCH_RELEASE	0
#endif
#ifndef NBMEM_BENCH_WHY
#define	NBMEM_BENCH_WHY		"unknown configuration"
#endif

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define	BENCH_CLIENT_REQUESTS	1
#endif
#endif
#ifndef BENCH_CLIENT_REQUESTS
#define	BENCH_CLIENT_REQUESTS	0
#define	CALLGRIND_START_INSTRUMENTATION	do { } while (0)
#define	CALLGRIND_STOP_INSTRUMENTATION	do { } while (0)
#endif

/*
 * A marker must be called under its own name: never inlined, and with
 * gcc never cloned into a specialised copy (clang does not clone
 * functions that are visible outside the file).
 */
#if defined(__clang__)
#define	BENCH_MARKER	__attribute__((__noinline__, __used__))
#else
#define	BENCH_MARKER	__attribute__((__noinline__, __noclone__, __used__))
#endif

static inline uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void __attribute__((__noreturn__))
die(const char *what)
{

	fprintf(stderr, BENCH_PROG ": %s\n", what);
	exit(1);
}

/* A whole decimal number from the command line, or exit 2. */
static inline unsigned long
parse_num(const char *s, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0') {
		fprintf(stderr, BENCH_CMD ": bad %s: %s\n", what, s);
		exit(2);
	}
	return v;
}

/*
 * In a build that cannot be measured and without --allow-debug, print
 * the refusal (a printf format and its arguments) and return true.
 */
static inline bool __attribute__((__format__(__printf__, 2, 3)))
bench_refuse(bool allow_debug, const char *fmt, ...)
{
	va_list ap;

	if (NBMEM_BENCH_RELEASE || allow_debug)
		return false;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	return true;
}

#endif	/* NBMEM_BENCH_H */

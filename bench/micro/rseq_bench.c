/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * rseq_bench: what a per-CPU slot operation costs (os/rseq.h), against
 * the per-thread arrays it would replace.
 *
 * 1. What is measured, in one thread, ns per push+pop pair on a slot
 *    of 16 objects kept half full (so neither limit is hit):
 *
 *    rseq_pair       nbmem_rseq_push + nbmem_rseq_pop on a per-CPU
 *                    array (two restartable sequences);
 *    tls_pair        the same on a plain initial-exec __thread array:
 *                    the floor, not signal-safe;
 *    tls_mark_pair   the plain array with a "busy" mark stored before and
 *                    cleared after each operation, as a per-thread cache
 *                    needs so that a signal handler keeps off it;
 *    rseq_lock_pair  nbmem_rseq_trylock + nbmem_rseq_unlock (the slow
 *                    path's entry);
 *    remote_lock     nbmem_rseq_trylock_cpu + unlock: a membarrier
 *                    system call and an IPI, ns per lock.
 *
 *    Each figure is the median of REPEATS runs (11 by default) of
 *    PAIRS pairs (10^7; 10^4 for remote_lock).
 *
 * 2. Output: one line per result, "name key=value ...", for scripts;
 *    lines that start with '#' are comments.
 *
 * 3. Build type: figures from anything but a Release build mean
 *    nothing; the program refuses to run elsewhere unless given
 *    --allow-debug.  It links the static library (the rseq primitives
 *    are internal) and needs a thread with an rseq registration: under
 *    valgrind, NBMEM_PERCPU=0 or GLIBC_TUNABLES=glibc.pthread.rseq=0 it
 *    prints why and measures only the per-thread arrays.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "os/rseq.h"

#define	BENCH_PROG	"rseq_bench"
#include "bench.h"

#define	SLOTN		16
#define	MAXREPEATS	101

struct tls_slot {
	uint32_t	ts_busy;
	uint32_t	ts_count;
	uint32_t	ts_size;
	void		*ts_objs[SLOTN];
};

static __thread struct tls_slot tls_slot
    __attribute__((__tls_model__("initial-exec")));

/* Hide a value from the optimizer, so a push and pop do not cancel. */
#define	OPAQUE(x)	__asm__ __volatile__("" : "+r" (x) : : "memory")

static inline bool
tls_push(void *obj)
{
	struct tls_slot *s = &tls_slot;

	if (s->ts_count == s->ts_size)
		return false;
	s->ts_objs[s->ts_count++] = obj;
	return true;
}

static inline void *
tls_pop(void)
{
	struct tls_slot *s = &tls_slot;

	if (s->ts_count == 0)
		return NULL;
	return s->ts_objs[--s->ts_count];
}

static inline bool
tls_mark_push(void *obj)
{
	struct tls_slot *s = &tls_slot;
	bool ok;

	__atomic_store_n(&s->ts_busy, 1, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	ok = tls_push(obj);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(&s->ts_busy, 0, __ATOMIC_RELAXED);
	return ok;
}

static inline void *
tls_mark_pop(void)
{
	struct tls_slot *s = &tls_slot;
	void *obj;

	__atomic_store_n(&s->ts_busy, 1, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	obj = tls_pop();
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(&s->ts_busy, 0, __ATOMIC_RELAXED);
	return obj;
}

static void *slots;
static size_t stride;
static unsigned int ncpu;
static long dummy[SLOTN];

static void __attribute__((__noinline__))
run_rseq(unsigned long n)
{
	void *obj = &dummy[0], *p;

	for (unsigned long i = 0; i < n; i++) {
		OPAQUE(obj);
		if (nbmem_rseq_push(slots, stride, obj) != NBMEM_RSEQ_OK)
			die("push refused");
		if (nbmem_rseq_pop(slots, stride, &p) != NBMEM_RSEQ_OK)
			die("pop refused");
		obj = p;
	}
}

static void __attribute__((__noinline__))
run_tls(unsigned long n)
{
	void *obj = &dummy[0];

	for (unsigned long i = 0; i < n; i++) {
		OPAQUE(obj);
		if (!tls_push(obj))
			die("push refused");
		OPAQUE(obj);
		if ((obj = tls_pop()) == NULL)
			die("pop refused");
	}
}

static void __attribute__((__noinline__))
run_tls_mark(unsigned long n)
{
	void *obj = &dummy[0];

	for (unsigned long i = 0; i < n; i++) {
		OPAQUE(obj);
		if (!tls_mark_push(obj))
			die("push refused");
		OPAQUE(obj);
		if ((obj = tls_mark_pop()) == NULL)
			die("pop refused");
	}
}

static void __attribute__((__noinline__))
run_lock(unsigned long n)
{
	unsigned int cpu;

	for (unsigned long i = 0; i < n; i++) {
		if (nbmem_rseq_trylock(slots, stride, &cpu) != NBMEM_RSEQ_OK)
			die("trylock refused");
		nbmem_rseq_unlock(slots, stride, cpu);
	}
}

static void __attribute__((__noinline__))
run_remote(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++) {
		unsigned int cpu = (unsigned int)(i % ncpu);
		if (!nbmem_rseq_trylock_cpu(slots, stride, cpu))
			die("trylock_cpu refused");
		nbmem_rseq_unlock(slots, stride, cpu);
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
median_ns(void (*fn)(unsigned long), unsigned long n, unsigned int repeats)
{
	double v[MAXREPEATS];

	fn(n / 10 + 1);		/* warm up */
	for (unsigned int r = 0; r < repeats; r++) {
		uint64_t t0 = now_ns();
		fn(n);
		v[r] = (double)(now_ns() - t0) / (double)n;
	}
	qsort(v, repeats, sizeof(v[0]), cmp_double);
	return v[repeats / 2];
}

static void
fill_half(void)
{
	for (unsigned int c = 0; c < ncpu; c++) {
		struct nbmem_pcpu_slot *s = nbmem_pcpu_slot(slots, stride, c);
		s->ps_size = SLOTN;
		nbmem_pcpu_set_count(s, SLOTN / 2);
		for (unsigned int i = 0; i < SLOTN / 2; i++)
			s->ps_objs[i] = &dummy[i];
	}
	tls_slot.ts_size = SLOTN;
	for (unsigned int i = 0; i < SLOTN / 2; i++)
		(void)tls_push(&dummy[i]);
}

int
main(int argc, char **argv)
{
	unsigned long pairs = 10000000, remote = 10000;
	unsigned int repeats = 11;
	bool allow_debug = false;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--allow-debug") == 0)
			allow_debug = true;
		else if (strncmp(argv[i], "pairs=", 6) == 0)
			pairs = strtoul(argv[i] + 6, NULL, 10);
		else if (strncmp(argv[i], "repeats=", 8) == 0)
			repeats = (unsigned int)strtoul(argv[i] + 8, NULL, 10);
		else {
			fprintf(stderr, "usage: rseq_bench [--allow-debug] "
			    "[pairs=N] [repeats=N]\n");
			return 2;
		}
	}
	if (repeats == 0 || repeats > MAXREPEATS || pairs == 0)
		die("repeats must be 1..101 and pairs > 0");
	if (bench_refuse(allow_debug, "rseq_bench: refusing to measure a "
	    "%s build (%s); use `make bench`, or --allow-debug\n",
	    NBMEM_BENCH_BUILD_TYPE, NBMEM_BENCH_WHY))
		return 1;
	ncpu = nbmem_rseq_ncpu();
	stride = NBMEM_PCPU_STRIDE(SLOTN);
	slots = aligned_alloc(64, stride * ncpu);
	if (slots == NULL)
		die("out of memory");
	memset(slots, 0, stride * ncpu);
	fill_half();

	bool rseq = nbmem_rseq_available();
	printf("# rseq_bench: build %s%s, %u CPU slots, rseq %s, "
	    "median of %u\n", NBMEM_BENCH_BUILD_TYPE,
	    NBMEM_BENCH_RELEASE ? "" : " (NOT MEASURABLE)", ncpu,
	    rseq ? "available" : "not available", repeats);
	printf("tls_pair ns_per_pair=%.2f\n", median_ns(run_tls, pairs,
	    repeats));
	printf("tls_mark_pair ns_per_pair=%.2f\n", median_ns(run_tls_mark,
	    pairs, repeats));
	if (!rseq) {
		printf("# no rseq in this thread: valgrind, NBMEM_PERCPU=0, "
		    "glibc.pthread.rseq=0, or an old kernel or C library\n");
		return 0;
	}
	printf("rseq_pair ns_per_pair=%.2f\n", median_ns(run_rseq, pairs,
	    repeats));
	printf("rseq_lock_pair ns_per_pair=%.2f\n", median_ns(run_lock,
	    pairs, repeats));
	printf("remote_lock ns_per_lock=%.0f\n", median_ns(run_remote,
	    remote, repeats));
	free(slots);
	return 0;
}

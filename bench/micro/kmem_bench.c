/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * kmem_bench: kmem_alloc/kmem_free against the malloc/free of other
 * allocators, from one source.
 *
 * 1. One program per allocator
 *
 *    As bench/micro/cache_bench.c: the file is compiled once per
 *    allocator (bench/CMakeLists.txt).  BENCH_NBMEM selects kmem_alloc
 *    and kmem_free (with KM_SLEEP); otherwise malloc and free, the
 *    program being linked against the peer (-ljemalloc,
 *    -ltcmalloc_minimal, -lmimalloc, or nothing for the C library;
 *    nbmalloc is the same against nbmem's own libnbmem_malloc.so, whose
 *    free finds the size from the address).  At start the program
 *    checks where malloc comes from and refuses to run if it is not the
 *    library it was built for.
 *
 * 2. What is measured
 *
 *    pair   an allocation of a fixed size and its free, in a tight loop,
 *           for 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192,
 *           16384 and 65536 bytes;
 *    mix    a realistic mix: 256 live objects, each step frees the
 *           oldest and allocates a new one whose size comes from a fixed
 *           table drawn once (seeded): half 8 to 64 bytes, 30% 65 to 512,
 *           15% 513 to 4096, 5% 4097 to 32768;
 *    rand   larson's step without its program: 1,000 live objects, each
 *           step frees a random one and allocates one of a random size
 *           from 8 to 1,000 bytes in its place (a fixed seeded sequence),
 *           so that every free is of an object allocated long before;
 *    both in one thread and in two threads at once, each doing the same
 *    work; ns are wall time over all pairs (two threads that scale
 *    perfectly show half the ns of one).
 *
 *    Every test runs once untimed to warm up; then REPEATS rounds over
 *    all tests.  Each run is sized to take about 25 ms.
 *
 * 3. Output
 *
 *    One line per result, "kmem alloc=A test=T size=N threads=T
 *    ns=MEDIAN samples=a,b,...", ns per pair; '#' lines are comments.
 *
 * 4. Instruction counts
 *
 *    --callgrind test=pair|mix|rand [size=N] n=N warms up, then runs n pairs
 *    inside bench_marked() alone; bench/scripts/kmem.sh runs it under
 *    valgrind --tool=callgrind --toggle-collect=bench_marked and divides
 *    the instructions by n.
 *
 * 5. Build type
 *
 *    Figures from anything but a Release build mean nothing; the program
 *    refuses to run elsewhere unless given --allow-debug.
 */

#define	_GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef BENCH_NBMEM
#include <nbmem/kmem.h>
#include <nbmem/nbmem.h>
#endif

#ifndef BENCH_ALLOC
#error "BENCH_ALLOC (the allocator's name) must be defined"
#endif
#ifndef BENCH_MALLOC_FROM
#define	BENCH_MALLOC_FROM	""
#endif

#define	BENCH_PROG	"kmem_bench(" BENCH_ALLOC ")"
#define	BENCH_CMD	"kmem_bench"
#include "bench.h"

static const size_t sizes[] = {
	8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 65536,
};
#define	NSIZES		(sizeof(sizes) / sizeof(sizes[0]))

#define	MIX_LIVE	256		/* objects alive in the mix */
#define	RAND_LIVE	1000		/* objects alive in rand */
#define	RAND_SEQ	4096		/* its steps: (slot, size), repeated */
#define	MIX_TABLE	4096		/* sizes drawn once, power of 2 */
#define	TARGET_NS	25e6		/* a timed run */
#define	MAXREPEATS	64

#define	ESCAPE(p)	__asm__ __volatile__("" : : "r"(p) : "memory")

/* ---- the shim */

#ifdef BENCH_NBMEM
static inline void *
obj_get(size_t n)
{
	return kmem_alloc(n, KM_SLEEP);
}

static inline void
obj_put(void *p, size_t n)
{
	kmem_free(p, n);
}
#else
static inline void *
obj_get(size_t n)
{
	void *p = malloc(n);

	if (__builtin_expect(p == NULL, 0))
		die("malloc failed");
	return p;
}

static inline void
obj_put(void *p, size_t n)
{
	(void)n;
	free(p);
}
#endif

/* ---- workloads */

static size_t mix_size[MIX_TABLE];

static void
mix_init(void)
{
	uint64_t x = UINT64_C(0x6b6d656d62656e63);
	unsigned int i;

	for (i = 0; i < MIX_TABLE; i++) {
		x = x * UINT64_C(6364136223846793005) + 1442695040888963407u;
		unsigned int r = (unsigned int)(x >> 33);
		unsigned int pct = r % 100;
		size_t lo, hi;

		if (pct < 50) {
			lo = 8; hi = 64;
		} else if (pct < 80) {
			lo = 65; hi = 512;
		} else if (pct < 95) {
			lo = 513; hi = 4096;
		} else {
			lo = 4097; hi = 32768;
		}
		mix_size[i] = lo + (size_t)(x >> 13) % (hi - lo + 1);
	}
}

/* rand's sequence of steps, drawn once. */
static struct {
	unsigned int	slot;
	unsigned int	size;
} rand_step[RAND_SEQ];

static void
rand_init(void)
{
	uint64_t x = UINT64_C(0x72616e646b6d656d);

	for (unsigned int i = 0; i < RAND_SEQ; i++) {
		x = x * UINT64_C(6364136223846793005) + 1442695040888963407u;
		rand_step[i].slot = (unsigned int)((x >> 33) % RAND_LIVE);
		rand_step[i].size = 8 + (unsigned int)((x >> 13) % 993);
	}
}

static void
run_rand(unsigned long n)
{
	static __thread void *live[RAND_LIVE];
	static __thread size_t lsz[RAND_LIVE];
	unsigned long i;
	unsigned int k;

	for (k = 0; k < RAND_LIVE; k++) {
		lsz[k] = rand_step[k % RAND_SEQ].size;
		live[k] = obj_get(lsz[k]);
	}
	for (i = 0; i < n; i++) {
		unsigned int s = (unsigned int)(i % RAND_SEQ);
		k = rand_step[s].slot;
		obj_put(live[k], lsz[k]);
		lsz[k] = rand_step[s].size;
		live[k] = obj_get(lsz[k]);
		ESCAPE(live[k]);
	}
	for (k = 0; k < RAND_LIVE; k++)
		obj_put(live[k], lsz[k]);
}

static void
run_pairs(size_t size, unsigned long n)
{
	void *p;

	while (n-- > 0) {
		p = obj_get(size);
		ESCAPE(p);
		obj_put(p, size);
	}
}

static void
run_mix(unsigned long n)
{
	void *live[MIX_LIVE];
	size_t lsz[MIX_LIVE];
	unsigned long i;
	unsigned int k;

	for (k = 0; k < MIX_LIVE; k++) {
		lsz[k] = mix_size[k];
		live[k] = obj_get(lsz[k]);
	}
	for (i = 0; i < n; i++) {
		k = (unsigned int)(i % MIX_LIVE);
		obj_put(live[k], lsz[k]);
		lsz[k] = mix_size[(i + MIX_LIVE) & (MIX_TABLE - 1)];
		live[k] = obj_get(lsz[k]);
		ESCAPE(live[k]);
	}
	for (k = 0; k < MIX_LIVE; k++)
		obj_put(live[k], lsz[k]);
}

enum { T_PAIR, T_MIX, T_RAND };
static const char *const test_name[] = { "pair", "mix", "rand" };

struct job {
	int		test;		/* T_* */
	size_t		size;		/* pair */
	unsigned long	n;
};

static void
run_job(const struct job *j, unsigned long n)
{
	switch (j->test) {
	case T_MIX:
		run_mix(n);
		break;
	case T_RAND:
		run_rand(n);
		break;
	default:
		run_pairs(j->size, n);
	}
}

static pthread_barrier_t go;

static void *
worker(void *arg)
{
	const struct job *j = arg;

	pthread_barrier_wait(&go);
	run_job(j, j->n);
	return NULL;
}

/* One timed run in `threads' threads; ns per pair. */
static double
run_once(const struct job *j, unsigned int threads)
{
	pthread_t t[2];
	uint64_t t0;
	unsigned int i;

	pthread_barrier_init(&go, NULL, threads + 1);
	for (i = 0; i < threads; i++)
		if (pthread_create(&t[i], NULL, worker, (void *)j) != 0)
			die("pthread_create failed");
	/*
	 * The clock starts before the workers are released: started after,
	 * it missed the work of a worker that ran while this thread was
	 * not scheduled (samples of 0 ns on a loaded machine).
	 */
	t0 = now_ns();
	pthread_barrier_wait(&go);
	for (i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	t0 = now_ns() - t0;
	pthread_barrier_destroy(&go);
	return (double)t0 / (double)(j->n * threads);
}

struct test {
	struct job	job;
	unsigned int	threads;
	double		samples[MAXREPEATS];
};

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
median(const double *v, unsigned int n)
{
	double s[MAXREPEATS];

	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), cmp_double);
	return (n % 2) ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static void
describe(void)
{
	Dl_info di;
	void *m = dlsym(RTLD_DEFAULT, "malloc");
	const char *from = "?";

	if (m != NULL && dladdr(m, &di) != 0 && di.dli_fname != NULL)
		from = di.dli_fname;
	printf("# kmem_bench: alloc %s, build %s, malloc from %s\n",
	    BENCH_ALLOC, NBMEM_BENCH_BUILD_TYPE, from);
	if (BENCH_MALLOC_FROM[0] != '\0' &&
	    strstr(from, BENCH_MALLOC_FROM) == NULL) {
		fprintf(stderr, BENCH_PROG ": malloc comes from %s, not "
		    "lib%s\n", from, BENCH_MALLOC_FROM);
		exit(1);
	}
#ifdef BENCH_NBMEM
	printf("# nbmem %s\n", nbmem_version());
#endif
}

static void
run_timing(unsigned int repeats)
{
	static struct test tests[2 * (NSIZES + 2)];
	unsigned int nt = 0, i, r, th;
	char samples[MAXREPEATS * 16];

	for (th = 1; th <= 2; th++) {
		for (i = 0; i < NSIZES; i++) {
			tests[nt].job = (struct job){ T_PAIR, sizes[i],
			    100000 };
			tests[nt++].threads = th;
		}
		tests[nt].job = (struct job){ T_MIX, 0, 100000 };
		tests[nt++].threads = th;
		tests[nt].job = (struct job){ T_RAND, 0, 100000 };
		tests[nt++].threads = th;
	}
	/* Warm up, and size each run to about TARGET_NS. */
	for (i = 0; i < nt; i++) {
		double ns = run_once(&tests[i].job, tests[i].threads);
		double n = TARGET_NS / (ns * tests[i].threads);
		tests[i].job.n = n < 10000 ? 10000 : n > 5e7 ? 50000000 :
		    (unsigned long)n;
	}
	for (r = 0; r < repeats; r++)
		for (i = 0; i < nt; i++)
			tests[i].samples[r] = run_once(&tests[i].job,
			    tests[i].threads);
	for (i = 0; i < nt; i++) {
		size_t len = 0;

		samples[0] = '\0';
		for (r = 0; r < repeats; r++)
			len += (size_t)snprintf(samples + len,
			    sizeof(samples) - len, "%s%.2f", r ? "," : "",
			    tests[i].samples[r]);
		printf("kmem alloc=%s test=%s size=%zu threads=%u ns=%.2f "
		    "samples=%s\n", BENCH_ALLOC,
		    test_name[tests[i].job.test], tests[i].job.size,
		    tests[i].threads, median(tests[i].samples, repeats),
		    samples);
	}
}

void	bench_marked(const struct job *);

/* The region callgrind counts. */
BENCH_MARKER void
bench_marked(const struct job *j)
{
	run_job(j, j->n);
}

int
main(int argc, char **argv)
{
	bool allow_debug = false, cg = false;
	unsigned int repeats = 11;
	struct job j = { T_PAIR, 64, 100000 };
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--allow-debug") == 0)
			allow_debug = true;
		else if (strcmp(argv[i], "--callgrind") == 0)
			cg = true;
		else if (strncmp(argv[i], "repeats=", 8) == 0)
			repeats = (unsigned int)parse_num(argv[i] + 8,
			    "repeats");
		else if (strncmp(argv[i], "size=", 5) == 0)
			j.size = parse_num(argv[i] + 5, "size");
		else if (strncmp(argv[i], "n=", 2) == 0)
			j.n = parse_num(argv[i] + 2, "n");
		else if (strcmp(argv[i], "test=pair") == 0)
			j.test = T_PAIR;
		else if (strcmp(argv[i], "test=mix") == 0)
			j.test = T_MIX;
		else if (strcmp(argv[i], "test=rand") == 0)
			j.test = T_RAND;
		else {
			fprintf(stderr, "usage: kmem_bench [--allow-debug] "
			    "[repeats=N] | --callgrind test=pair|mix|rand "
			    "size=N n=N\n");
			return 2;
		}
	}
	if (repeats == 0 || repeats > MAXREPEATS)
		die("repeats must be 1 to 64");
	if (bench_refuse(allow_debug, BENCH_PROG ": a %s build (%s) cannot "
	    "be measured; use `make bench` or --allow-debug\n",
	    NBMEM_BENCH_BUILD_TYPE, NBMEM_BENCH_WHY))
		return 1;
	describe();
	mix_init();
	rand_init();
	if (cg) {
		struct job warm = j;

		warm.n = j.n / 4 + 1;
		run_job(&warm, warm.n);
		printf("# callgrind client_requests=%d\n",
		    BENCH_CLIENT_REQUESTS);
		CALLGRIND_START_INSTRUMENTATION;
		bench_marked(&j);
		CALLGRIND_STOP_INSTRUMENTATION;
		printf("callgrind_region alloc=%s test=%s size=%zu n=%lu\n",
		    BENCH_ALLOC, test_name[j.test], j.test == T_PAIR ? j.size : 0,
		    j.n);
		return 0;
	}
	run_timing(repeats);
	return 0;
}

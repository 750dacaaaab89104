/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * cache_bench: pool_cache(3) against the malloc/free of other
 * allocators, from one source.
 *
 * 1. One program per allocator
 *
 *    The same file is compiled once per allocator (bench/CMakeLists.txt):
 *    BENCH_NBMEM selects pool_cache_get/pool_cache_put on one cache per
 *    object size (no constructor, IPL_NONE, PR_WAITOK); otherwise the
 *    shim is malloc/free and the program is linked against the peer
 *    (-ljemalloc, -ltcmalloc_minimal, -lmimalloc, or nothing for the C
 *    library), whose malloc then comes first in symbol lookup.  Linking
 *    was preferred to LD_PRELOAD: each program says by itself what it
 *    measures, nothing depends on the environment it is started from,
 *    and the same files run unchanged under valgrind.  At start the
 *    program asks the dynamic linker which object malloc came from and
 *    refuses to run if it is not the one it was built for.
 *
 * 2. What is measured (each for sizes 16, 64, 256, 1024, 4096)
 *
 *    pair     a get and its put in a tight loop;
 *    batch    1,000 gets, then the 1,000 puts, over and over;
 *    pair and batch again in two threads at once, each doing the same
 *             work as the single thread: ns are wall time over all
 *             pairs, so 2x throughput shows as half the ns;
 *    xthread  a producer thread gets objects, writes a word into each
 *             and passes them through a 1,024-slot ring to a consumer
 *             thread that puts them: ns per object, wall time;
 *    ctor     256-byte objects holding a pthread mutex, a list head and
 *             some counters (struct bobj).  nbmem: a cache whose
 *             constructor sets them up once (destructor: the mutex);
 *             peers: malloc, initialisation, then destroy and free,
 *             every time.  use=0 is just that; use=1 also takes the
 *             mutex and bumps the counters once per object, the least
 *             a real user would do; use=2 clears the whole object
 *             before setting its fields, as constructors commonly do
 *             (NetBSD's begin with a memset, and malloc callers with
 *             calloc or memset: a buffer whose bytes must start at
 *             zero).
 *
 *    spin     no allocation at all, a loop of multiplications about as
 *             long as a pair, in one and two threads: how much two
 *             threads can gain on this machine at best.
 *
 *    The single-thread runs happen in a worker thread too, so that
 *    threads=1 and threads=2 differ only in the thread count.  Workers
 *    are started once and kept; the main thread times from releasing
 *    them to their all being done (two barrier waits, microseconds
 *    against tens of milliseconds of work).  Every test is run once
 *    untimed first; then REPEATS rounds over all tests, so that a slow
 *    spell of the machine spreads over all of them.
 *
 * 3. Output
 *
 *    One line per result, "cache key=value ...", with the median and
 *    every sample (samples=a,b,c) so that a script can pool the samples
 *    of several runs; lines starting with '#' are comments.
 *
 * 4. Instruction counts
 *
 *    --callgrind test=pair|batch|ctor size=N n=N [use=0|1|2] warms up,
 *    then runs n pairs (ctor: n objects) inside bench_marked() alone;
 *    run it under valgrind --tool=callgrind
 *    --toggle-collect=bench_marked and divide Ir by n.  With
 *    <valgrind/callgrind.h> instrumentation is also switched on only
 *    around that call ("# callgrind client_requests=1").  Valgrind does
 *    not implement rseq(2), so there the C library registers no rseq
 *    area: the "# rseq" line says what this process got.
 *    bench/scripts/cache.sh does all of this.
 *
 * 5. Build type
 *
 *    Figures from anything but a Release build of the library mean
 *    nothing; the program refuses to run elsewhere unless given
 *    --allow-debug.
 */

#define	_GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef BENCH_NBMEM
#include <nbmem/nbmem.h>
#include <nbmem/pool.h>
#endif

#ifndef BENCH_ALLOC
#error "BENCH_ALLOC (the allocator's name) must be defined"
#endif
#ifndef BENCH_MALLOC_FROM
#define	BENCH_MALLOC_FROM	""	/* substring of malloc's object */
#endif

#define	BENCH_PROG	"cache_bench(" BENCH_ALLOC ")"
#define	BENCH_CMD	"cache_bench"
#include "bench.h"

#define	NSIZES		5
static const size_t sizes[NSIZES] = { 16, 64, 256, 1024, 4096 };

#define	BATCH		1000
#define	RING		1024		/* xthread ring slots, power of 2 */
#define	NWORKERS	2
#define	SPIN_YIELD	256		/* spins before sched_yield() */

/* Operations per timed run (per thread), at most; see size_test(). */
#define	N_PAIR		2000000UL
#define	N_BATCH		2000000UL	/* pairs: 2,000 batches */
#define	N_XTHREAD	500000UL
#define	N_CTOR		1000000UL
#define	MIN_N		(10 * BATCH)
#define	TARGET_NS	25e6		/* a run, once warm */

/* Keep the compiler from eliding a get/put pair or dead stores. */
#define	ESCAPE(p)	__asm__ __volatile__("" : : "r"(p) : "memory")

/* ---- the object of the constructor workload */

struct bobj {
	pthread_mutex_t	o_lock;
	struct bobj	*o_next;	/* list head: self-linked when empty */
	struct bobj	*o_prev;
	uint32_t	o_refcnt;
	uint32_t	o_flags;
	uint64_t	o_gen;
	uint64_t	o_stats[8];
	unsigned char	o_payload[256 - sizeof(pthread_mutex_t) -
			    2 * sizeof(void *) - 16 - 8 * 8];
};
_Static_assert(sizeof(struct bobj) == 256, "struct bobj is 256 bytes");

#define	BOBJ_IDLE	0x1

static void
bobj_init(struct bobj *o)
{

	pthread_mutex_init(&o->o_lock, NULL);
	o->o_next = o->o_prev = o;
	o->o_refcnt = 0;
	o->o_flags = BOBJ_IDLE;
	o->o_gen = 0;
	memset(o->o_stats, 0, sizeof(o->o_stats));
}

/* The same from a cleared object (use=2). */
static void
bobj_init_zero(struct bobj *o)
{

	memset(o, 0, sizeof(*o));
	bobj_init(o);
}

static void
bobj_fini(struct bobj *o)
{

	pthread_mutex_destroy(&o->o_lock);
}

static inline void
bobj_use(struct bobj *o)
{

	pthread_mutex_lock(&o->o_lock);
	o->o_refcnt++;
	o->o_flags &= ~BOBJ_IDLE;
	o->o_stats[0]++;
	o->o_gen++;
	pthread_mutex_unlock(&o->o_lock);
}

/* Back to the constructed state before the object is released. */
static inline void
bobj_unuse(struct bobj *o)
{

	o->o_refcnt--;
	o->o_flags |= BOBJ_IDLE;
}

/* ---- the shim: one allocator behind obj_get/obj_put */

#ifdef BENCH_NBMEM

static pool_cache_t caches[NSIZES];
static pool_cache_t bobj_cache, bobj_zcache;

/* arg: non-NULL for the cache of cleared objects (use=2). */
static int
bobj_ctor(void *arg, void *obj, int flags)
{

	(void)flags;
	if (arg != NULL)
		bobj_init_zero(obj);
	else
		bobj_init(obj);
	return 0;
}

static void
bobj_dtor(void *arg, void *obj)
{

	(void)arg;
	bobj_fini(obj);
}

static void
shim_init(void)
{
	static char names[NSIZES][16];	/* pr_wchan is not copied */
	unsigned int i;

	for (i = 0; i < NSIZES; i++) {
		snprintf(names[i], sizeof(names[i]), "bench%zu", sizes[i]);
		caches[i] = pool_cache_init(sizes[i], 0, 0, 0, names[i],
		    NULL, IPL_NONE, NULL, NULL, NULL);
		if (caches[i] == NULL)
			die("pool_cache_init failed");
	}
	bobj_cache = pool_cache_init(sizeof(struct bobj), 0, 0, 0, "benchobj",
	    NULL, IPL_NONE, bobj_ctor, bobj_dtor, NULL);
	bobj_zcache = pool_cache_init(sizeof(struct bobj), 0, 0, 0,
	    "benchzobj", NULL, IPL_NONE, bobj_ctor, bobj_dtor, &bobj_zcache);
	if (bobj_cache == NULL || bobj_zcache == NULL)
		die("pool_cache_init failed");
}

static inline void *
obj_get(unsigned int si)
{
	void *p = pool_cache_get(caches[si], PR_WAITOK);

	if (__builtin_expect(p == NULL, 0))
		die("pool_cache_get failed");
	return p;
}

static inline void
obj_put(unsigned int si, void *p)
{

	pool_cache_put(caches[si], p);
}

static inline struct bobj *
bobj_get(int zero)
{
	struct bobj *o = pool_cache_get(zero ? bobj_zcache : bobj_cache,
	    PR_WAITOK);

	if (__builtin_expect(o == NULL, 0))
		die("pool_cache_get failed");
	ESCAPE(o);
	return o;
}

static inline void
bobj_put(struct bobj *o, int zero)
{

	ESCAPE(o);
	pool_cache_put(zero ? bobj_zcache : bobj_cache, o);
}

#else /* malloc/free */

static void
shim_init(void)
{
}

static inline void *
obj_get(unsigned int si)
{
	void *p = malloc(sizes[si]);

	if (__builtin_expect(p == NULL, 0))
		die("malloc failed");
	return p;
}

static inline void
obj_put(unsigned int si, void *p)
{

	(void)si;
	free(p);
}

static inline struct bobj *
bobj_get(int zero)
{
	struct bobj *o = malloc(sizeof(*o));

	if (__builtin_expect(o == NULL, 0))
		die("malloc failed");
	if (zero)
		bobj_init_zero(o);
	else
		bobj_init(o);
	ESCAPE(o);
	return o;
}

static inline void
bobj_put(struct bobj *o, int zero)
{

	(void)zero;
	ESCAPE(o);
	bobj_fini(o);
	free(o);
}

#endif

/* ---- the workloads */

enum test { T_NONE, T_SPIN, T_PAIR, T_BATCH, T_PRODUCE, T_CONSUME, T_CTOR };

struct job {
	enum test	kind;
	unsigned int	si;		/* size index */
	unsigned long	n;		/* pairs, objects */
	int		use;		/* ctor: 1 mutex taken, 2 cleared */
};

/*
 * No allocation: a few multiplications per step, about as long as a
 * pair.  Its two-thread ratio is what the machine itself gives.
 */
static void
run_spin(unsigned long n)
{
	uint64_t x = n;

	while (n-- > 0) {
		x = (x ^ (x >> 31)) * UINT64_C(0x9e3779b97f4a7c15) + n;
		ESCAPE(x);
	}
}

static void
run_pairs(unsigned int si, unsigned long n)
{
	void *p;

	while (n-- > 0) {
		p = obj_get(si);
		ESCAPE(p);
		obj_put(si, p);
	}
}

static void
run_batches(unsigned int si, unsigned long n)
{
	void *v[BATCH];
	unsigned long r;
	unsigned int i;

	for (r = 0; r < n / BATCH; r++) {
		for (i = 0; i < BATCH; i++) {
			v[i] = obj_get(si);
			ESCAPE(v[i]);
		}
		for (i = 0; i < BATCH; i++)
			obj_put(si, v[i]);
	}
}

/*
 * One loop per variant (use is a constant in each copy), so that each
 * runs the code it would run alone: with the three in one loop the
 * compiler's code for the peers' use=0 took 4 ns more a pair.
 */
static inline __attribute__((__always_inline__)) void
run_ctor_loop(unsigned long n, int use)
{
	struct bobj *o;

	while (n-- > 0) {
		o = bobj_get(use == 2);
		if (use == 1) {
			bobj_use(o);
			bobj_unuse(o);
		}
		bobj_put(o, use == 2);
	}
}

static void
run_ctor(unsigned long n, int use)
{

	if (use == 0)
		run_ctor_loop(n, 0);
	else if (use == 1)
		run_ctor_loop(n, 1);
	else
		run_ctor_loop(n, 2);
}

/* The single-producer, single-consumer ring of xthread. */
static struct {
	void		*slot[RING];
	_Alignas(64) size_t head;	/* next to fill; the producer's */
	_Alignas(64) size_t tail;	/* next to drain; the consumer's */
} ring __attribute__((__aligned__(64)));

static void
run_produce(unsigned int si, unsigned long n)
{
	size_t head = 0, tail = 0;
	unsigned long i;
	unsigned int spins;
	void *p;

	for (i = 0; i < n; i++) {
		p = obj_get(si);
		*(volatile uintptr_t *)p = i;
		for (spins = 0; head - tail == RING; spins++) {
			tail = __atomic_load_n(&ring.tail, __ATOMIC_ACQUIRE);
			if (spins >= SPIN_YIELD)
				sched_yield();
		}
		ring.slot[head % RING] = p;
		__atomic_store_n(&ring.head, ++head, __ATOMIC_RELEASE);
	}
}

static void
run_consume(unsigned int si, unsigned long n)
{
	size_t head = 0, tail = 0;
	unsigned long i;
	unsigned int spins;
	void *p;

	for (i = 0; i < n; i++) {
		for (spins = 0; tail == head; spins++) {
			head = __atomic_load_n(&ring.head, __ATOMIC_ACQUIRE);
			if (spins >= SPIN_YIELD)
				sched_yield();
		}
		p = ring.slot[tail % RING];
		__atomic_store_n(&ring.tail, ++tail, __ATOMIC_RELEASE);
		obj_put(si, p);
	}
}

static void
run_job(const struct job *j)
{

	switch (j->kind) {
	case T_NONE:
		break;
	case T_SPIN:
		run_spin(j->n);
		break;
	case T_PAIR:
		run_pairs(j->si, j->n);
		break;
	case T_BATCH:
		run_batches(j->si, j->n);
		break;
	case T_PRODUCE:
		run_produce(j->si, j->n);
		break;
	case T_CONSUME:
		run_consume(j->si, j->n);
		break;
	case T_CTOR:
		run_ctor(j->n, j->use);
		break;
	}
}

/*
 * The callgrind marker: what this function executes, and nothing
 * else, is what --toggle-collect=bench_marked counts.
 */
void	bench_marked(const struct job *);

void BENCH_MARKER
bench_marked(const struct job *j)
{

	run_job(j);
}

/* ---- workers */

static pthread_barrier_t go, done;
static struct job jobs[NWORKERS];
static volatile bool quit;

static void *
worker(void *arg)
{
	unsigned int me = (unsigned int)(uintptr_t)arg;

	for (;;) {
		pthread_barrier_wait(&go);
		if (quit)
			break;
		run_job(&jobs[me]);
		pthread_barrier_wait(&done);
	}
	return NULL;
}

/* Run the jobs set in jobs[]; the wall time in ns. */
static uint64_t
run_workers(void)
{
	uint64_t t0;

	ring.head = ring.tail = 0;
	t0 = now_ns();
	pthread_barrier_wait(&go);
	pthread_barrier_wait(&done);
	return now_ns() - t0;
}

/* ---- the test list */

struct test_desc {
	const char	*name;
	enum test	kind;
	unsigned int	si;
	unsigned int	threads;
	int		use;
	unsigned long	n;		/* per thread */
	unsigned long	div;		/* pairs or objects the time covers */
	double		*samples;
};

#define	MAXTESTS	(2 + 5 * NSIZES + 3)	/* spin, per size, ctor */
static struct test_desc tests[MAXTESTS];
static unsigned int ntests;

static void
set_n(struct test_desc *t, unsigned long n)
{

	t->n = n;
	t->div = t->kind == T_PRODUCE ? n : n * t->threads;
}

static void
add_test(const char *name, enum test kind, unsigned int si,
    unsigned int threads, int use, unsigned long n)
{
	struct test_desc *t;

	if (ntests == MAXTESTS)
		die("more tests than MAXTESTS");
	t = &tests[ntests++];

	t->name = name;
	t->kind = kind;
	t->si = si;
	t->threads = threads;
	t->use = use;
	set_n(t, n);
}

static void
build_tests(void)
{
	unsigned int si;

	add_test("spin", T_SPIN, 0, 1, 0, N_PAIR);
	add_test("spin", T_SPIN, 0, 2, 0, N_PAIR);
	for (si = 0; si < NSIZES; si++) {
		add_test("pair", T_PAIR, si, 1, 0, N_PAIR);
		add_test("pair", T_PAIR, si, 2, 0, N_PAIR);
		add_test("batch", T_BATCH, si, 1, 0, N_BATCH);
		add_test("batch", T_BATCH, si, 2, 0, N_BATCH);
		add_test("xthread", T_PRODUCE, si, 2, 0, N_XTHREAD);
	}
	add_test("ctor", T_CTOR, 2, 1, 0, N_CTOR);
	add_test("ctor", T_CTOR, 2, 1, 1, N_CTOR);
	add_test("ctor", T_CTOR, 2, 1, 2, N_CTOR);
}

static double
run_test(const struct test_desc *t)
{
	unsigned int w;

	for (w = 0; w < NWORKERS; w++) {
		jobs[w].kind = T_NONE;
		jobs[w].si = t->si;
		jobs[w].n = t->n;
		jobs[w].use = t->use;
	}
	if (t->kind == T_PRODUCE) {
		jobs[0].kind = T_PRODUCE;
		jobs[1].kind = T_CONSUME;
	} else {
		for (w = 0; w < t->threads; w++)
			jobs[w].kind = t->kind;
	}
	return (double)run_workers() / (double)t->div;
}

/* Set the count so that a run takes about TARGET_NS (samples[0]: ns/op). */
static void
size_test(struct test_desc *t)
{
	unsigned long n, max = t->n * 16;
	double per_run = t->samples[0] * (double)t->div;	/* ns */

	n = per_run > 0 ? (unsigned long)(TARGET_NS / per_run *
	    (double)t->n) : max;
	if (n > max)
		n = max;
	if (n < MIN_N)
		n = MIN_N;
	set_n(t, (n + BATCH - 1) / BATCH * BATCH);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
median(const double *v, unsigned int n)
{
	double s[64];

	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), cmp_double);
	return (n % 2) ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* ---- where malloc comes from */

extern const unsigned int __rseq_size __attribute__((__weak__));

static void
describe(void)
{
	Dl_info di;
	void *m = dlsym(RTLD_DEFAULT, "malloc");	/* what calls bind to */
	const char *from = "?";

	if (m != NULL && dladdr(m, &di) != 0 && di.dli_fname != NULL)
		from = di.dli_fname;
	printf("# cache_bench: alloc %s, build %s, malloc from %s\n",
	    BENCH_ALLOC, NBMEM_BENCH_BUILD_TYPE, from);
	if (BENCH_MALLOC_FROM[0] != '\0' &&
	    strstr(from, BENCH_MALLOC_FROM) == NULL) {
		fprintf(stderr, "cache_bench(%s): malloc comes from %s, not "
		    "lib%s\n", BENCH_ALLOC, from, BENCH_MALLOC_FROM);
		exit(1);
	}
	printf("# rseq: the C library registered %s (__rseq_size %u)\n",
	    &__rseq_size != NULL && __rseq_size != 0 ? "an area" : "none",
	    &__rseq_size != NULL ? __rseq_size : 0);
#ifdef BENCH_NBMEM
	printf("# nbmem %s\n", nbmem_version());
#endif
}

/*
 * nbmem: what the caches' counters say after the run (how often the
 * CPU layer missed, how often the depot lock was found taken).
 */
static void
report_caches(void)
{
#ifdef BENCH_NBMEM
	struct pool_sysctl ps[64];
	size_t i, n;

	n = nbmem_pool_sysctl(ps, 64);
	for (i = 0; i < n && i < 64; i++) {
		if (strncmp(ps[i].pr_wchan, "bench", 5) != 0)
			continue;
		printf("# pool_cache %s: group %ju, hits %ju, misses %ju "
		    "(to the pool %ju), depot lock contended %ju\n",
		    ps[i].pr_wchan, (uintmax_t)ps[i].pr_cache_meta_size,
		    (uintmax_t)ps[i].pr_cache_nhit_pcpu,
		    (uintmax_t)ps[i].pr_cache_nmiss_pcpu,
		    (uintmax_t)ps[i].pr_cache_nmiss_global,
		    (uintmax_t)ps[i].pr_cache_ncontended);
	}
#endif
}

/* ---- drivers */

static void
run_timing(unsigned int repeats)
{
	pthread_t tid[NWORKERS];
	unsigned int i, r, k;
	uint64_t t0;

	build_tests();
	pthread_barrier_init(&go, NULL, NWORKERS + 1);
	pthread_barrier_init(&done, NULL, NWORKERS + 1);
	for (i = 0; i < NWORKERS; i++)
		if (pthread_create(&tid[i], NULL, worker,
		    (void *)(uintptr_t)i) != 0)
			die("pthread_create failed");
	for (i = 0; i < ntests; i++) {
		tests[i].samples = calloc(repeats, sizeof(double));
		if (tests[i].samples == NULL)
			die("out of memory");
	}

	/*
	 * Warm up: every test at a sixteenth of its count, and the clock
	 * for 200 ms at least; then size each test to take about
	 * TARGET_NS per run (a C library batch of 4 KiB objects is a
	 * hundred times slower than a pool_cache one).
	 */
	for (i = 0; i < ntests; i++)
		set_n(&tests[i], tests[i].n / 16);
	t0 = now_ns();
	do {
		for (i = 0; i < ntests; i++)
			tests[i].samples[0] = run_test(&tests[i]);
	} while (now_ns() - t0 < 200000000);
	for (i = 0; i < ntests; i++)
		size_test(&tests[i]);

	for (r = 0; r < repeats; r++)
		for (i = 0; i < ntests; i++)
			tests[i].samples[r] = run_test(&tests[i]);

	for (i = 0; i < ntests; i++) {
		const struct test_desc *t = &tests[i];

		printf("cache alloc=%s test=%s size=%zu threads=%u",
		    BENCH_ALLOC, t->name, t->kind == T_CTOR ?
		    sizeof(struct bobj) : t->kind == T_SPIN ? 0 :
		    sizes[t->si], t->threads);
		if (t->kind == T_CTOR)
			printf(" use=%d", t->use);
		printf(" ns_per_pair=%.2f median_of=%u n=%lu samples=",
		    median(t->samples, repeats), repeats, t->n);
		for (k = 0; k < repeats; k++)
			printf("%s%.2f", k ? "," : "", t->samples[k]);
		printf("\n");
		free(t->samples);
	}

	report_caches();
	quit = true;
	pthread_barrier_wait(&go);
	for (i = 0; i < NWORKERS; i++)
		pthread_join(tid[i], NULL);
}

static void
run_callgrind(const char *test, size_t size, unsigned long n, int use)
{
	struct job j;
	unsigned int si;

	memset(&j, 0, sizeof(j));
	for (si = 0; si < NSIZES && sizes[si] != size; si++)
		continue;
	if (si == NSIZES)
		die("size must be one of 16, 64, 256, 1024, 4096");
	j.si = si;
	j.use = use;
	if (strcmp(test, "pair") == 0)
		j.kind = T_PAIR;
	else if (strcmp(test, "batch") == 0) {
		j.kind = T_BATCH;
		n = (n + BATCH - 1) / BATCH * BATCH;
	} else if (strcmp(test, "ctor") == 0) {
		j.kind = T_CTOR;
		size = sizeof(struct bobj);
	} else
		die("test must be pair, batch or ctor");

	/* Warm up: the same work, uncounted. */
	j.n = j.kind == T_BATCH ? 4 * BATCH : 4096;
	run_job(&j);
	j.n = n;
	printf("# callgrind client_requests=%d\n", BENCH_CLIENT_REQUESTS);
	fflush(stdout);
	CALLGRIND_START_INSTRUMENTATION;
	bench_marked(&j);
	CALLGRIND_STOP_INSTRUMENTATION;
	printf("callgrind_region alloc=%s test=%s size=%zu", BENCH_ALLOC,
	    test, size);
	if (j.kind == T_CTOR)
		printf(" use=%d", use);
	printf(" n=%lu\n", n);
}

/* ---- command line */

static void __attribute__((__noreturn__))
usage(void)
{

	fprintf(stderr,
	    "usage: cache_bench_ALLOC [--allow-debug] [repeats=N]\n"
	    "       cache_bench_ALLOC [--allow-debug] --callgrind "
	    "test=pair|batch|ctor\n"
	    "           [size=16|64|256|1024|4096] [n=N] [use=0|1|2]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	bool allow_debug = false, callgrind = false;
	unsigned int repeats = 9;
	const char *test = "pair";
	size_t size = 64;
	unsigned long n = 100000;
	int use = 0, i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--allow-debug") == 0)
			allow_debug = true;
		else if (strcmp(a, "--callgrind") == 0)
			callgrind = true;
		else if (strncmp(a, "repeats=", 8) == 0)
			repeats = (unsigned int)parse_num(a + 8, "repeats");
		else if (strncmp(a, "test=", 5) == 0)
			test = a + 5;
		else if (strncmp(a, "size=", 5) == 0)
			size = parse_num(a + 5, "size");
		else if (strncmp(a, "n=", 2) == 0)
			n = parse_num(a + 2, "n");
		else if (strncmp(a, "use=", 4) == 0)
			use = (int)parse_num(a + 4, "use");
		else
			usage();
	}
	if (repeats == 0 || repeats > 64)
		usage();
	if (bench_refuse(allow_debug, "cache_bench: this build cannot be "
	    "measured (%s); use `make bench`, or --allow-debug to run it "
	    "anyway\n", NBMEM_BENCH_WHY))
		return 1;
	describe();
	shim_init();
	if (callgrind)
		run_callgrind(test, size, n, use);
	else
		run_timing(repeats);
	return 0;
}

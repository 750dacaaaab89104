/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * vmem_bench: the cost of vmem allocation and free as the number of
 * live segments grows.
 *
 * 1. What is measured
 *
 *    For each population of live segments (10, 10^3, 10^5, 10^6 by
 *    default) one arena is filled the same way: 2N segments of random
 *    sizes (1 to 16 quanta) are allocated, then a random half of them
 *    is freed, so the arena holds N busy segments separated by free
 *    fragments of many sizes and the power-of-two free lists are all
 *    populated.  On that arena:
 *
 *    vmem_pair   an alloc of SIZE bytes and its free, in a loop, with
 *                VM_INSTANTFIT and with VM_BESTFIT; ns per pair;
 *    vmem_free   kind=fresh: a batch of segments is allocated, then the
 *                frees alone are timed; kind=random: random segments of
 *                the population itself (cold in the cache at large N)
 *                are freed, timed, and reallocated untimed;
 *    malloc_pair the system malloc(SIZE)/free pair, for scale.
 *
 *    Each figure is the median of REPEATS runs (11 by default).  The
 *    arena is thread-safe (every vmem arena is), IPL_NONE, quantum 16,
 *    no quantum caches (qcache_max 0), so every request reaches the
 *    segment layer.  Calls use VM_SLEEP, the common case.  The random
 *    numbers come from a fixed seed.
 *
 * 2. Output
 *
 *    One line per result, "name key=value ...", for scripts; lines that
 *    start with '#' are comments.
 *
 * 3. Instruction counts
 *
 *    --callgrind [op=pair|free] [fit=instant|best] live=N n=N [size=N]
 *    builds the population, then runs only the marked region:
 *    bench_marked_pairs() with n pairs (op=pair), or
 *    bench_marked_frees() with n frees of random members of the
 *    population (op=free; at most half of it).  Run it under
 *        valgrind --tool=callgrind --toggle-collect=<that function>
 *    and divide the collected Ir by n (the loop's own few instructions
 *    are included).  When <valgrind/callgrind.h> was available at build
 *    time the program also switches instrumentation on only around the
 *    region, so --instr-atstart=no skips the slow instrumented setup;
 *    it says so on a "# callgrind client_requests=1" line.
 *    bench/scripts/callgrind.sh does all of this.
 *
 * 4. Build type
 *
 *    Figures from anything but a Release build of the library mean
 *    nothing; the program refuses to run elsewhere unless given
 *    --allow-debug.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nbmem/nbmem.h>
#include <nbmem/vmem.h>

#define	BENCH_PROG	"vmem_bench"
#include "bench.h"

#define	QUANTUM		16
#define	POP_MAXQ	16		/* population sizes: 1..16 quanta */
#define	SEED		UINT64_C(0x6e626d656d2d7631)
/* Far from 0 and wide enough for 2 * 10^6 segments of 256 bytes. */
#define	ARENA_BASE	((vmem_addr_t)1 << 40)
#define	ARENA_SIZE	((vmem_size_t)1 << 40)

#define	FRESH_BATCH	1000		/* segments per fresh-free round */
#define	RANDOM_MAXK	1000		/* segments per random-free round */
#define	MIN_TIMED_OPS	20000		/* per repeat, for the free runs */

struct config {
	unsigned int	repeats;
	unsigned long	pairs;		/* per repeat */
	size_t		lives[8];
	unsigned int	nlives;
	vmem_size_t	sizes[4];
	unsigned int	nsizes;
};

/* The live population of one arena. */
struct pop {
	vmem_t		*vm;
	vmem_addr_t	*addr;
	vmem_size_t	*size;
	size_t		n;
};

static uint64_t rng_state = SEED;

/* splitmix64: small, fast, well mixed; plenty for shuffling. */
static uint64_t
rng(void)
{
	uint64_t z;

	z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static size_t
rng_below(size_t n)
{

	return (size_t)(rng() % n);
}

static void *
xmalloc(size_t n)
{
	void *p = malloc(n);

	if (p == NULL)
		die("out of memory");
	return p;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
median(double *v, unsigned int n)
{

	qsort(v, n, sizeof(*v), cmp_double);
	return (n % 2) ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static const char *
fit_name(vm_flag_t fit)
{

	return fit == VM_INSTANTFIT ? "instant" : "best";
}

/* ---- the population */

static void
pop_build(struct pop *p, size_t live)
{
	size_t total = 2 * live, i, j;
	vmem_addr_t ta;
	vmem_size_t ts;

	p->vm = vmem_create("bench", ARENA_BASE, ARENA_SIZE, QUANTUM,
	    NULL, NULL, NULL, 0, VM_SLEEP, IPL_NONE);
	if (p->vm == NULL)
		die("vmem_create failed");
	p->addr = xmalloc(total * sizeof(*p->addr));
	p->size = xmalloc(total * sizeof(*p->size));
	for (i = 0; i < total; i++) {
		p->size[i] = (vmem_size_t)(1 + rng_below(POP_MAXQ)) * QUANTUM;
		if (vmem_alloc(p->vm, p->size[i], VM_SLEEP | VM_INSTANTFIT,
		    &p->addr[i]) != 0)
			die("population: vmem_alloc failed");
	}
	/* Shuffle; free the first half, keep the second. */
	for (i = total; i > 1; i--) {
		j = rng_below(i);
		ta = p->addr[i - 1];
		p->addr[i - 1] = p->addr[j];
		p->addr[j] = ta;
		ts = p->size[i - 1];
		p->size[i - 1] = p->size[j];
		p->size[j] = ts;
	}
	for (i = 0; i < live; i++)
		vmem_free(p->vm, p->addr[i], p->size[i]);
	memmove(p->addr, p->addr + live, live * sizeof(*p->addr));
	memmove(p->size, p->size + live, live * sizeof(*p->size));
	p->n = live;
}

/* Move k random members to the end of the arrays (partial shuffle). */
static void
pop_pick_tail(struct pop *p, size_t k)
{
	size_t i, j, last;
	vmem_addr_t ta;
	vmem_size_t ts;

	for (i = 0; i < k; i++) {
		j = rng_below(p->n - i);
		last = p->n - 1 - i;
		ta = p->addr[j];
		p->addr[j] = p->addr[last];
		p->addr[last] = ta;
		ts = p->size[j];
		p->size[j] = p->size[last];
		p->size[last] = ts;
	}
}

static void
pop_destroy(struct pop *p)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		vmem_free(p->vm, p->addr[i], p->size[i]);
	vmem_destroy(p->vm);
	free(p->addr);
	free(p->size);
}

/* ---- the measured loops */

/*
 * The callgrind marker: everything this function executes, and nothing
 * else, is what --toggle-collect=bench_marked_pairs counts.
 */
void	bench_marked_pairs(vmem_t *, vmem_size_t, vm_flag_t, unsigned long);

void BENCH_MARKER
bench_marked_pairs(vmem_t *vm, vmem_size_t size, vm_flag_t fl,
    unsigned long n)
{
	vmem_addr_t a;

	while (n-- > 0) {
		if (__builtin_expect(vmem_alloc(vm, size, fl, &a) != 0, 0))
			die("vmem_alloc failed");
		vmem_free(vm, a, size);
	}
}

/* The second marker: n frees of the given segments. */
void	bench_marked_frees(vmem_t *, const vmem_addr_t *, const vmem_size_t *,
	    unsigned long);

void BENCH_MARKER
bench_marked_frees(vmem_t *vm, const vmem_addr_t *addr,
    const vmem_size_t *size, unsigned long n)
{
	unsigned long i;

	for (i = 0; i < n; i++)
		vmem_free(vm, addr[i], size[i]);
}

/* The same loop, unmarked, for warming up under callgrind. */
static void __attribute__((__noinline__))
warm_pairs(vmem_t *vm, vmem_size_t size, vm_flag_t fl, unsigned long n)
{
	vmem_addr_t a;

	while (n-- > 0) {
		if (vmem_alloc(vm, size, fl, &a) != 0)
			die("vmem_alloc failed");
		vmem_free(vm, a, size);
	}
}

static double
time_pairs(vmem_t *vm, vmem_size_t size, vm_flag_t fit, unsigned long n)
{
	uint64_t t0, t1;

	t0 = now_ns();
	bench_marked_pairs(vm, size, VM_SLEEP | fit, n);
	t1 = now_ns();
	return (double)(t1 - t0) / (double)n;
}

static double
time_malloc_pairs(size_t size, unsigned long n)
{
	void *volatile sink;
	uint64_t t0, t1;
	unsigned long i;

	t0 = now_ns();
	for (i = 0; i < n; i++) {
		sink = malloc(size);
		free(sink);
	}
	t1 = now_ns();
	return (double)(t1 - t0) / (double)n;
}

/* What one now_ns() pair costs; subtracted from short timed regions. */
static double
timer_overhead(void)
{
	double v[101];
	unsigned int i;
	uint64_t t0;

	for (i = 0; i < 101; i++) {
		t0 = now_ns();
		v[i] = (double)(now_ns() - t0);
	}
	return median(v, 101);
}

/* Frees of freshly allocated segments: allocate a batch, time its frees. */
static double
time_fresh_frees(vmem_t *vm, vmem_size_t size)
{
	static vmem_addr_t batch[FRESH_BATCH];
	uint64_t t0, spent = 0;
	unsigned long done = 0;
	unsigned int i;

	while (done < MIN_TIMED_OPS) {
		for (i = 0; i < FRESH_BATCH; i++)
			if (vmem_alloc(vm, size, VM_SLEEP | VM_INSTANTFIT,
			    &batch[i]) != 0)
				die("vmem_alloc failed");
		t0 = now_ns();
		for (i = 0; i < FRESH_BATCH; i++)
			vmem_free(vm, batch[i], size);
		spent += now_ns() - t0;
		done += FRESH_BATCH;
	}
	return (double)spent / (double)done;
}

/*
 * Frees of random members of the population: k at a time, timed, then
 * the same sizes allocated again (untimed) so the population keeps its
 * count.
 */
static double
time_random_frees(struct pop *p, size_t k, double overhead)
{
	size_t i;
	uint64_t t0, dt;
	double spent = 0;
	unsigned long done = 0;

	while (done < MIN_TIMED_OPS) {
		pop_pick_tail(p, k);
		t0 = now_ns();
		for (i = p->n - k; i < p->n; i++)
			vmem_free(p->vm, p->addr[i], p->size[i]);
		dt = now_ns() - t0;
		spent += (double)dt - overhead;
		done += k;
		for (i = p->n - k; i < p->n; i++)
			if (vmem_alloc(p->vm, p->size[i],
			    VM_SLEEP | VM_INSTANTFIT, &p->addr[i]) != 0)
				die("vmem_alloc failed");
	}
	return spent / (double)done;
}

/* ---- drivers */

#define	NFITS	2
static const vm_flag_t fits[NFITS] = { VM_INSTANTFIT, VM_BESTFIT };

/* The samples of one population: [size][fit][repeat] and [repeat]. */
struct samples {
	double	*pair;
	double	*fresh;
	double	*random;
	size_t	k;			/* random frees per round */
};

static double *
pair_slot(const struct config *c, struct samples *sm, unsigned int s,
    unsigned int f)
{

	return sm->pair + ((size_t)s * NFITS + f) * c->repeats;
}

/*
 * Every population is built first and the repeats go round all of them
 * in turn, so that a slow spell of the machine (another process, the
 * clock ramping up) spreads over all populations instead of skewing one
 * of them; each figure is then the median over the repeats.
 */
static void
run_timing(const struct config *c)
{
	double overhead = timer_overhead();
	struct pop *pops = xmalloc(c->nlives * sizeof(*pops));
	struct samples *sm = xmalloc(c->nlives * sizeof(*sm));
	double *v = xmalloc(c->repeats * sizeof(*v));
	uint64_t t0;
	unsigned int i, r, s, f;

	printf("# vmem_bench: nbmem %s, build %s, quantum %d, population "
	    "sizes %d..%d bytes, seed %#" PRIx64 ", timer %.0f ns\n",
	    nbmem_version(), NBMEM_BENCH_BUILD_TYPE, QUANTUM, QUANTUM,
	    QUANTUM * POP_MAXQ, SEED, overhead);
	for (i = 0; i < c->nlives; i++) {
		t0 = now_ns();
		pop_build(&pops[i], c->lives[i]);
		printf("vmem_setup live=%zu segments=%zu ms=%.1f\n",
		    c->lives[i], 2 * c->lives[i],
		    (double)(now_ns() - t0) / 1e6);
		sm[i].pair = xmalloc((size_t)c->nsizes * NFITS * c->repeats *
		    sizeof(double));
		sm[i].fresh = xmalloc(c->repeats * sizeof(double));
		sm[i].random = xmalloc(c->repeats * sizeof(double));
		sm[i].k = c->lives[i] / 2 < RANDOM_MAXK ?
		    c->lives[i] / 2 : RANDOM_MAXK;
		if (sm[i].k == 0)
			sm[i].k = 1;
	}
	fflush(stdout);

	/* Warm up: caches, hash tables, the clock speed. */
	t0 = now_ns();
	while (now_ns() - t0 < 200000000)
		for (i = 0; i < c->nlives; i++)
			(void)time_pairs(pops[i].vm, c->sizes[0],
			    VM_INSTANTFIT, 10000);

	for (r = 0; r < c->repeats; r++) {
		for (i = 0; i < c->nlives; i++) {
			for (s = 0; s < c->nsizes; s++)
				for (f = 0; f < NFITS; f++)
					pair_slot(c, &sm[i], s, f)[r] =
					    time_pairs(pops[i].vm,
					    c->sizes[s], fits[f], c->pairs);
			sm[i].fresh[r] = time_fresh_frees(pops[i].vm,
			    c->sizes[0]);
			sm[i].random[r] = time_random_frees(&pops[i],
			    sm[i].k, overhead);
		}
	}

	for (i = 0; i < c->nlives; i++) {
		for (s = 0; s < c->nsizes; s++)
			for (f = 0; f < NFITS; f++)
				printf("vmem_pair fit=%s size=%zu live=%zu "
				    "ns_per_pair=%.1f median_of=%u\n",
				    fit_name(fits[f]), (size_t)c->sizes[s],
				    c->lives[i], median(pair_slot(c, &sm[i],
				    s, f), c->repeats), c->repeats);
		printf("vmem_free kind=fresh size=%zu batch=%d live=%zu "
		    "ns_per_free=%.1f median_of=%u\n", (size_t)c->sizes[0],
		    FRESH_BATCH, c->lives[i], median(sm[i].fresh, c->repeats),
		    c->repeats);
		printf("vmem_free kind=random k=%zu live=%zu ns_per_free=%.1f "
		    "median_of=%u\n", sm[i].k, c->lives[i],
		    median(sm[i].random, c->repeats), c->repeats);
		pop_destroy(&pops[i]);
		free(sm[i].pair);
		free(sm[i].fresh);
		free(sm[i].random);
	}

	for (s = 0; s < c->nsizes; s++) {
		for (r = 0; r < c->repeats; r++)
			v[r] = time_malloc_pairs(c->sizes[s], c->pairs);
		printf("malloc_pair size=%zu ns_per_pair=%.1f median_of=%u\n",
		    (size_t)c->sizes[s], median(v, c->repeats), c->repeats);
	}
	free(v);
	free(sm);
	free(pops);
}

/*
 * Callgrind mode: build the population, warm up, then run only the
 * marked region.  op=pair runs n alloc/free pairs; op=free frees n
 * random members of the population (at most half of it).
 */
static void
run_callgrind(bool op_free, vm_flag_t fit, size_t live, unsigned long n,
    vmem_size_t size)
{
	struct pop p;

	pop_build(&p, live);
	warm_pairs(p.vm, size, VM_SLEEP | fit, 16);
	if (op_free) {
		if (n > p.n / 2)
			n = p.n / 2 > 0 ? p.n / 2 : 1;
		pop_pick_tail(&p, n);
	}
	printf("# callgrind client_requests=%d\n", BENCH_CLIENT_REQUESTS);
	fflush(stdout);
	if (op_free) {
		CALLGRIND_START_INSTRUMENTATION;
		bench_marked_frees(p.vm, p.addr + p.n - n, p.size + p.n - n,
		    n);
		CALLGRIND_STOP_INSTRUMENTATION;
		p.n -= n;
		printf("callgrind_region op=free live=%zu n=%lu\n", live, n);
	} else {
		CALLGRIND_START_INSTRUMENTATION;
		bench_marked_pairs(p.vm, size, VM_SLEEP | fit, n);
		CALLGRIND_STOP_INSTRUMENTATION;
		printf("callgrind_region op=pair fit=%s size=%zu live=%zu "
		    "n=%lu\n", fit_name(fit), (size_t)size, live, n);
	}
	pop_destroy(&p);
}

/* ---- command line */

/* "10,1000,100000" into an array; returns the count. */
static unsigned int
parse_list(const char *s, size_t *out, unsigned int max, const char *what)
{
	char buf[256], *tok, *save;
	unsigned int n = 0;

	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		if (n == max) {
			fprintf(stderr, "vmem_bench: too many %s\n", what);
			exit(2);
		}
		out[n++] = parse_num(tok, what);
	}
	return n;
}

static void __attribute__((__noreturn__))
usage(void)
{

	fprintf(stderr,
	    "usage: vmem_bench [--allow-debug] [live=N,...] [size=N,...]\n"
	    "                  [repeats=N] [pairs=N]\n"
	    "       vmem_bench [--allow-debug] --callgrind [op=pair|free]\n"
	    "                  [fit=instant|best] live=N n=N [size=N]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct config c = {
		.repeats = 11,
		.pairs = 200000,
		.lives = { 10, 1000, 100000, 1000000 },
		.nlives = 4,
		.sizes = { 64, 80 },
		.nsizes = 2,
	};
	bool callgrind = false, allow_debug = false, op_free = false;
	vm_flag_t fit = VM_INSTANTFIT;
	size_t tmp[4];
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--callgrind") == 0)
			callgrind = true;
		else if (strcmp(a, "--allow-debug") == 0)
			allow_debug = true;
		else if (strcmp(a, "op=pair") == 0)
			op_free = false;
		else if (strcmp(a, "op=free") == 0)
			op_free = true;
		else if (strcmp(a, "fit=instant") == 0)
			fit = VM_INSTANTFIT;
		else if (strcmp(a, "fit=best") == 0)
			fit = VM_BESTFIT;
		else if (strncmp(a, "live=", 5) == 0)
			c.nlives = parse_list(a + 5, c.lives, 8, "live");
		else if (strncmp(a, "size=", 5) == 0) {
			c.nsizes = parse_list(a + 5, tmp, 4, "size");
			for (unsigned int k = 0; k < c.nsizes; k++)
				c.sizes[k] = tmp[k];
		} else if (strncmp(a, "repeats=", 8) == 0)
			c.repeats = (unsigned int)parse_num(a + 8, "repeats");
		else if (strncmp(a, "pairs=", 6) == 0)
			c.pairs = parse_num(a + 6, "pairs");
		else if (strncmp(a, "n=", 2) == 0)
			c.pairs = parse_num(a + 2, "n");
		else
			usage();
	}
	for (i = 0; i < (int)c.nsizes; i++)
		if (c.sizes[i] == 0)
			usage();
	if (c.repeats == 0 || c.nlives == 0 || c.nsizes == 0)
		usage();

	if (bench_refuse(allow_debug, "vmem_bench: this build cannot be "
	    "measured (%s): figures only mean something from a Release "
	    "build without sanity checks or sanitizers (make bench); "
	    "--allow-debug runs it anyway\n", NBMEM_BENCH_WHY))
		return 1;

	if (callgrind) {
		if (c.nlives != 1)
			usage();
		run_callgrind(op_free, fit, c.lives[0], c.pairs,
		    c.sizes[0]);
	} else
		run_timing(&c);
	return 0;
}

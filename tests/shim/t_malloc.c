/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * The malloc family of libnbmem_malloc.so, linked: every function, its
 * edge cases (size 0, NULL, overflow, alignments, ENOMEM), threads,
 * fork while other threads allocate, the foreign pointer diagnostic and
 * malloc_trim giving memory back.
 */
/* The misuse and the huge sizes below are on purpose. */
#define	_GNU_SOURCE			/* CPU_SET, pthread_setaffinity_np */
#pragma GCC diagnostic ignored "-Wfree-nonheap-object"
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Walloc-size-larger-than="
#if __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wuse-after-free"
#endif
#endif

#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <sched.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <atf-c.h>

#include "nbtest.h"

/* Gone from glibc's headers; the library keeps it. */
void	cfree(void *);

/* The library is ours: its malloc_stats prints nbmem's tables. */
static void
require_nbmem(void)
{
	void *p = malloc(100);

	ATF_REQUIRE(p != NULL);
	ATF_REQUIRE_EQ(malloc_usable_size(p), 112);
	free(p);
}

static const size_t sizes[] = {
	1, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 48, 63, 64, 65, 100, 128,
	129, 200, 255, 256, 257, 320, 384, 448, 511, 512, 513, 700, 768,
	1000, 1024, 1025, 2000, 2048, 2049, 4095, 4096, 4097, 6000, 8192,
	10000, 12288, 16385, 24576, 30000, 32768, 40000, 49152, 65535,
	65536, 65537, 100000, 262144, 1000000, 4u << 20,
};
#define	NSIZES	(sizeof(sizes) / sizeof(sizes[0]))

ATF_TC_WITHOUT_HEAD(sizes);
ATF_TC_BODY(sizes, tc)
{
	void *p[NSIZES];

	require_nbmem();
	for (size_t i = 0; i < NSIZES; i++) {
		p[i] = malloc(sizes[i]);
		ATF_REQUIRE(p[i] != NULL);
		ATF_CHECK_MSG(malloc_usable_size(p[i]) >= sizes[i],
		    "usable %zu < %zu", malloc_usable_size(p[i]), sizes[i]);
		if (sizes[i] > 8)
			ATF_CHECK_MSG(((uintptr_t)p[i] & 15) == 0,
			    "malloc(%zu) = %p not 16-aligned", sizes[i], p[i]);
		memset(p[i], (int)i, sizes[i]);
	}
	for (size_t i = 0; i < NSIZES; i++) {
		unsigned char *b = p[i];
		ATF_CHECK(b[0] == (unsigned char)i &&
		    b[sizes[i] - 1] == (unsigned char)i);
		free(p[i]);
	}
}

ATF_TC_WITHOUT_HEAD(zero_null);
ATF_TC_BODY(zero_null, tc)
{
	void *a = malloc(0), *b = malloc(0);

	ATF_REQUIRE(a != NULL && b != NULL && a != b);
	ATF_CHECK(malloc_usable_size(a) >= 1);
	free(a);
	free(b);
	free(NULL);
	cfree(NULL);
	ATF_CHECK_EQ(malloc_usable_size(NULL), 0);
	a = calloc(0, 10);
	ATF_REQUIRE(a != NULL);
	free(a);
}

/* 16-byte objects: many pages, every one 16-aligned (colouring). */
ATF_TC_WITHOUT_HEAD(align16);
ATF_TC_BODY(align16, tc)
{
	enum { N = 20000 };
	static void *p[N];

	for (int i = 0; i < N; i++) {
		p[i] = malloc(9 + (size_t)(i % 3) * 8);
		ATF_REQUIRE(p[i] != NULL);
		ATF_REQUIRE_MSG(((uintptr_t)p[i] & 15) == 0, "%p", p[i]);
	}
	for (int i = 0; i < N; i++)
		free(p[i]);
}

ATF_TC_WITHOUT_HEAD(memalign_all);
ATF_TC_BODY(memalign_all, tc)
{
	static const size_t al[] = { 8, 16, 32, 64, 128, 256, 512, 1024,
	    2048, 4096, 8192, 16384, 65536, 1u << 20 };
	static const size_t sz[] = { 0, 1, 24, 100, 1000, 5000, 70000 };
	void *p;

	for (size_t i = 0; i < sizeof(al) / sizeof(al[0]); i++)
		for (size_t j = 0; j < sizeof(sz) / sizeof(sz[0]); j++) {
			p = NULL;
			ATF_REQUIRE_EQ(posix_memalign(&p, al[i], sz[j]), 0);
			ATF_CHECK_MSG(((uintptr_t)p & (al[i] - 1)) == 0,
			    "posix_memalign(%zu, %zu) = %p", al[i], sz[j], p);
			ATF_CHECK(malloc_usable_size(p) >= sz[j]);
			memset(p, 0x5a, sz[j]);
			free(p);
			p = aligned_alloc(al[i], sz[j]);
			ATF_REQUIRE(p != NULL);
			ATF_CHECK(((uintptr_t)p & (al[i] - 1)) == 0);
			free(p);
			p = memalign(al[i], sz[j]);
			ATF_REQUIRE(p != NULL);
			ATF_CHECK(((uintptr_t)p & (al[i] - 1)) == 0);
			p = realloc(p, sz[j] + 100000);
			ATF_REQUIRE(p != NULL);
			free(p);
		}
	p = (void *)1;
	ATF_CHECK_EQ(posix_memalign(&p, 0, 10), EINVAL);
	ATF_CHECK_EQ(posix_memalign(&p, 4, 10), EINVAL);
	ATF_CHECK_EQ(posix_memalign(&p, 24, 10), EINVAL);
	ATF_CHECK(p == (void *)1);
	/* C17: 24 is no alignment (memalign rounds it up to 32). */
	errno = 0;
	ATF_CHECK(aligned_alloc(24, 10) == NULL && errno == EINVAL);
	p = memalign(48, 10);		/* glibc: rounded up to 64 */
	ATF_REQUIRE(p != NULL);
	ATF_CHECK(((uintptr_t)p & 63) == 0);
	free(p);
	p = valloc(10);
	ATF_REQUIRE(p != NULL);
	ATF_CHECK(((uintptr_t)p & ((size_t)getpagesize() - 1)) == 0);
	free(p);
	p = pvalloc(10);
	ATF_REQUIRE(p != NULL);
	ATF_CHECK(malloc_usable_size(p) >= (size_t)getpagesize());
	free(p);
}

/*
 * memalign as glibc has it: alignments that are not powers of two are
 * rounded up, below the natural one malloc serves, beyond
 * SIZE_MAX / 2 + 1 it is EINVAL.
 */
ATF_TC_WITHOUT_HEAD(memalign_odd);
ATF_TC_BODY(memalign_odd, tc)
{
	static const size_t al[] = { 0, 1, 2, 3, 5, 12, 24, 40, 48, 100,
	    1000, 3000, 5000, 70000, 1000000 };
	void *p;

	for (size_t i = 0; i < sizeof(al) / sizeof(al[0]); i++) {
		size_t want = 1;
		while (want < al[i])
			want <<= 1;
		errno = 0;
		p = memalign(al[i], 100);
		ATF_REQUIRE_MSG(p != NULL, "memalign(%zu, 100): errno %d",
		    al[i], errno);
		ATF_CHECK_MSG(((uintptr_t)p & (want - 1)) == 0,
		    "memalign(%zu, 100) = %p, not %zu-aligned", al[i], p,
		    want);
		ATF_CHECK_EQ(errno, 0);
		memset(p, 1, 100);
		free(p);
	}
	errno = 0;
	ATF_CHECK(memalign(SIZE_MAX / 2 + 2, 10) == NULL && errno == EINVAL);
	errno = 0;
	ATF_CHECK(memalign(SIZE_MAX, 10) == NULL && errno == EINVAL);
	errno = 0;
	ATF_CHECK(memalign(SIZE_MAX / 2 + 1, 10) == NULL && errno == ENOMEM);
}

/*
 * aligned_alloc as C17 has it (DR 460; glibc 2.38, BZ #20137): an
 * alignment that is not a power of two, 0 included, is no valid
 * alignment, and the call fails with EINVAL; every power of two is
 * one, the size need not be a multiple of it.
 */
ATF_TC_WITHOUT_HEAD(aligned_alloc_c17);
ATF_TC_BODY(aligned_alloc_c17, tc)
{
	static const size_t bad[] = { 0, 3, 5, 12, 24, 40, 48, 100, 1000,
	    3000, 5000, 70000, 1000000, SIZE_MAX / 2 + 2, SIZE_MAX };
	void *p;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		p = aligned_alloc(bad[i], 100);
		ATF_CHECK_MSG(p == NULL && errno == EINVAL,
		    "aligned_alloc(%zu, 100) = %p, errno %d", bad[i], p,
		    errno);
		free(p);
	}
	for (size_t al = 1; al <= ((size_t)1 << 22); al <<= 1) {
		errno = 0;
		p = aligned_alloc(al, 100);
		ATF_REQUIRE_MSG(p != NULL, "aligned_alloc(%zu, 100): errno %d",
		    al, errno);
		ATF_CHECK_MSG(((uintptr_t)p & (al - 1)) == 0,
		    "aligned_alloc(%zu, 100) = %p", al, p);
		ATF_CHECK_EQ(errno, 0);
		memset(p, 1, 100);
		free(p);
	}
	p = aligned_alloc(64, 0);
	ATF_CHECK(p != NULL);
	free(p);
	errno = 0;
	ATF_CHECK(aligned_alloc(64, SIZE_MAX) == NULL && errno == ENOMEM);
	errno = 0;
	ATF_CHECK(aligned_alloc(SIZE_MAX / 2 + 1, 10) == NULL &&
	    errno == ENOMEM);
}

/* glibc's public __libc_ names: the same allocator as the plain ones. */
void	*__libc_valloc(size_t);
void	*__libc_pvalloc(size_t);
void	*__libc_memalign(size_t, size_t);
int	__libc_mallopt(int, int);

ATF_TC_WITHOUT_HEAD(libc_names);
ATF_TC_BODY(libc_names, tc)
{
	size_t ps = (size_t)getpagesize();
	void *p;

	require_nbmem();
	p = __libc_valloc(100);
	ATF_REQUIRE(p != NULL);
	ATF_CHECK(((uintptr_t)p & (ps - 1)) == 0);
	ATF_CHECK(malloc_usable_size(p) >= 100);
	free(p);
	p = __libc_pvalloc(100);
	ATF_REQUIRE(p != NULL);
	ATF_CHECK(((uintptr_t)p & (ps - 1)) == 0);
	ATF_CHECK(malloc_usable_size(p) >= ps);
	free(p);
	p = __libc_memalign(256, 100);
	ATF_REQUIRE(p != NULL);
	ATF_CHECK(((uintptr_t)p & 255) == 0);
	free(p);
	ATF_CHECK_EQ(__libc_mallopt(M_MXFAST, 64), 1);
	ATF_CHECK_EQ(__libc_mallopt(M_MXFAST, 1000), 0);
}

/*
 * mallopt answers as glibc does: 1 for every parameter, known or not,
 * but for M_MXFAST outside [0, 80 * sizeof(size_t) / 4].
 */
ATF_TC_WITHOUT_HEAD(mallopt_answers);
ATF_TC_BODY(mallopt_answers, tc)
{
	const int mxfast_max = 80 * (int)sizeof(size_t) / 4;

	ATF_CHECK_EQ(mallopt(M_MXFAST, 0), 1);
	ATF_CHECK_EQ(mallopt(M_MXFAST, mxfast_max), 1);
	ATF_CHECK_EQ(mallopt(M_MXFAST, mxfast_max + 1), 0);
	ATF_CHECK_EQ(mallopt(M_MXFAST, -1), 0);
	ATF_CHECK_EQ(mallopt(M_MXFAST, 1 << 30), 0);
	ATF_CHECK_EQ(mallopt(M_TRIM_THRESHOLD, -1), 1);
	ATF_CHECK_EQ(mallopt(M_MMAP_THRESHOLD, 1 << 30), 1);
	ATF_CHECK_EQ(mallopt(M_ARENA_MAX, 0), 1);
	ATF_CHECK_EQ(mallopt(M_PERTURB, 0x55), 1);
	ATF_CHECK_EQ(mallopt(12345, 1), 1);
}

ATF_TC_WITHOUT_HEAD(calloc_overflow);
ATF_TC_BODY(calloc_overflow, tc)
{
	unsigned char *p;
	void *q;

	errno = 0;
	ATF_CHECK(calloc(SIZE_MAX / 2, 3) == NULL && errno == ENOMEM);
	errno = 0;
	ATF_CHECK(reallocarray(NULL, SIZE_MAX / 4, 8) == NULL &&
	    errno == ENOMEM);
	errno = 0;
	ATF_CHECK(malloc(SIZE_MAX) == NULL && errno == ENOMEM);
	errno = 0;
	ATF_CHECK(malloc(SIZE_MAX / 2) == NULL && errno == ENOMEM);
	errno = 0;
	ATF_CHECK(realloc(NULL, SIZE_MAX - 100) == NULL && errno == ENOMEM);
	/* Dirty memory, freed, then calloc'd again: zero every time. */
	for (int round = 0; round < 3; round++)
		for (size_t i = 0; i < NSIZES; i++) {
			p = malloc(sizes[i]);
			memset(p, 0xee, sizes[i]);
			free(p);
			p = calloc(1, sizes[i]);
			ATF_REQUIRE(p != NULL);
			for (size_t k = 0; k < sizes[i]; k += 61)
				ATF_REQUIRE_MSG(p[k] == 0, "calloc(%zu)[%zu]",
				    sizes[i], k);
			ATF_REQUIRE(p[sizes[i] - 1] == 0);
			free(p);
		}
	q = reallocarray(NULL, 10, 10);
	ATF_REQUIRE(q != NULL);
	free(q);
}

ATF_TC_WITHOUT_HEAD(realloc_all);
ATF_TC_BODY(realloc_all, tc)
{
	unsigned char *p, *q;
	size_t n = 1;

	/* Same class: in place. */
	p = malloc(100);
	ATF_CHECK(realloc(p, 112) == p);
	ATF_CHECK(realloc(p, 70) == p);
	/* Large block, within its last page: in place. */
	q = malloc(200000);
	ATF_CHECK(realloc(q, 200100) == q);
	free(q);
	/* Grow through every class and the large path, content kept. */
	p = realloc(p, 1);
	p[0] = 0;
	while (n < (8u << 20)) {
		size_t m = n * 3 / 2 + 1;
		p = realloc(p, m);
		ATF_REQUIRE(p != NULL);
		for (size_t k = 0; k < n; k += 97)
			ATF_REQUIRE_MSG(p[k] == (unsigned char)(k * 7),
			    "byte %zu lost growing %zu -> %zu", k, n, m);
		for (size_t k = n; k < m; k++)
			p[k] = (unsigned char)(k * 7);
		for (size_t k = 0; k < n; k++)
			p[k] = (unsigned char)(k * 7);
		n = m;
	}
	/* Shrink back: content kept. */
	p = realloc(p, 1000);
	ATF_REQUIRE(p != NULL);
	for (size_t k = 0; k < 1000; k++)
		ATF_REQUIRE(p[k] == (unsigned char)(k * 7));
	/* glibc: realloc(p, 0) frees and returns NULL. */
	ATF_CHECK(realloc(p, 0) == NULL);
	p = realloc(NULL, 10);
	ATF_REQUIRE(p != NULL);
	free(p);
}

/* Fill n bytes with a pattern of seed; check that they still hold it. */
static void
pattern_fill(unsigned char *p, size_t n, unsigned int seed)
{
	for (size_t k = 0; k < n; k++)
		p[k] = (unsigned char)(k * 31 + seed);
}

static bool
pattern_kept(const unsigned char *p, size_t n, unsigned int seed)
{
	for (size_t k = 0; k < n; k++)
		if (p[k] != (unsigned char)(k * 31 + seed))
			return false;
	return true;
}

/*
 * realloc from every boundary size to every other (the smallest
 * classes, the page, the largest class, large blocks) keeps the bytes
 * both sizes hold, and so it does for blocks of posix_memalign up to
 * 2 MiB alignments.
 */
ATF_TC_WITHOUT_HEAD(realloc_boundaries);
ATF_TC_BODY(realloc_boundaries, tc)
{
	static const size_t sz[] = { 1, 8, 9, 16, 17, 4095, 4096, 4097,
	    65535, 65536, 65537, 262144, 300000, 4u << 20 };
	static const size_t al[] = { 32, 64, 256, 4096, 8192, 1u << 20,
	    2u << 20 };
	const size_t nsz = sizeof(sz) / sizeof(sz[0]);
	unsigned char *p;
	void *v;

	for (size_t i = 0; i < nsz; i++)
		for (size_t j = 0; j < nsz; j++) {
			size_t keep = sz[i] < sz[j] ? sz[i] : sz[j];
			p = malloc(sz[i]);
			ATF_REQUIRE(p != NULL);
			pattern_fill(p, sz[i], (unsigned int)i);
			p = realloc(p, sz[j]);
			ATF_REQUIRE(p != NULL);
			ATF_CHECK_MSG(pattern_kept(p, keep, (unsigned int)i),
			    "realloc %zu -> %zu lost bytes", sz[i], sz[j]);
			ATF_CHECK(malloc_usable_size(p) >= sz[j]);
			if (sz[j] > 8)
				ATF_CHECK(((uintptr_t)p & 15) == 0);
			free(p);
		}
	for (size_t a = 0; a < sizeof(al) / sizeof(al[0]); a++)
		for (size_t j = 0; j < nsz; j++) {
			ATF_REQUIRE_EQ(posix_memalign(&v, al[a], 5000), 0);
			ATF_CHECK_MSG(((uintptr_t)v & (al[a] - 1)) == 0,
			    "posix_memalign(%zu) = %p", al[a], v);
			pattern_fill(v, 5000, (unsigned int)a);
			p = realloc(v, sz[j]);
			ATF_REQUIRE(p != NULL);
			ATF_CHECK_MSG(pattern_kept(p, sz[j] < 5000 ? sz[j] :
			    5000, (unsigned int)a), "realloc of a %zu-aligned "
			    "block to %zu lost bytes", al[a], sz[j]);
			free(p);
		}
}

/*
 * A call that succeeds leaves errno as it was, free included (glibc's
 * free has kept it since 2.33): the same sizes, every function.
 */
ATF_TC_WITHOUT_HEAD(errno_kept);
ATF_TC_BODY(errno_kept, tc)
{
	static const size_t sz[] = { 0, 1, 100, 4096, 5000, 65536, 70000,
	    300000, 5u << 20 };
	void *p;

	for (size_t i = 0; i < sizeof(sz) / sizeof(sz[0]); i++) {
		errno = 4242;
		p = malloc(sz[i]);
		p = realloc(p, sz[i] * 3 + 1);
		p = realloc(p, sz[i] / 3 + 1);
		free(p);
		p = calloc(1, sz[i]);
		free(p);
		ATF_REQUIRE_EQ(posix_memalign(&p, 4096, sz[i]), 0);
		free(p);
		p = memalign(1u << 20, sz[i]);
		free(p);
		free(valloc(sz[i]));
		free(pvalloc(sz[i]));
		(void)malloc_usable_size(NULL);
		ATF_CHECK_EQ_MSG(errno, 4242, "size %zu: errno %d", sz[i],
		    errno);
	}
	errno = 4242;
	(void)malloc_trim(0);
	(void)mallinfo2();
	ATF_CHECK_EQ(errno, 4242);
}

/* ---- threads */

#define	NTHR	4
static void *volatile handoff[NTHR][256];

static void *
thr_body(void *arg)
{
	uintptr_t id = (uintptr_t)arg;
	unsigned int seed = (unsigned int)id * 7919u + 1;

	for (int i = 0; i < 20000; i++) {
		size_t n = (size_t)(rand_r(&seed) % 3000) + 1;
		unsigned int slot = (unsigned int)rand_r(&seed) % 256;
		unsigned int other = (unsigned int)((id + 1) % NTHR);
		void *p;

		if (rand_r(&seed) % 64 == 0)
			n = 100000;
		p = malloc(n);
		ATF_REQUIRE(p != NULL);
		memset(p, 1, n < 64 ? n : 64);
		/* Free another thread's object: cross-thread frees. */
		p = __atomic_exchange_n(&handoff[other][slot], p,
		    __ATOMIC_ACQ_REL);
		free(p);
	}
	return NULL;
}

ATF_TC_WITHOUT_HEAD(threads);
ATF_TC_BODY(threads, tc)
{
	pthread_t t[NTHR];

	/* Three generations of threads: caches of dead threads reused. */
	for (int gen = 0; gen < 3; gen++) {
		for (uintptr_t i = 0; i < NTHR; i++)
			ATF_REQUIRE(pthread_create(&t[i], NULL, thr_body,
			    (void *)i) == 0);
		for (int i = 0; i < NTHR; i++)
			ATF_REQUIRE(pthread_join(t[i], NULL) == 0);
	}
	for (int i = 0; i < NTHR; i++)
		for (int j = 0; j < 256; j++)
			free(handoff[i][j]);
}

static volatile int fork_stop;

static void *
fork_churn(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg;
	void *keep[64] = { 0 };

	while (!__atomic_load_n(&fork_stop, __ATOMIC_ACQUIRE)) {
		unsigned int k = (unsigned int)rand_r(&seed) % 64;
		free(keep[k]);
		keep[k] = malloc((size_t)(rand_r(&seed) % 9000) + 1);
	}
	for (int k = 0; k < 64; k++)
		free(keep[k]);
	return NULL;
}

ATF_TC_WITHOUT_HEAD(fork_while_allocating);
ATF_TC_BODY(fork_while_allocating, tc)
{
	pthread_t t[2];

	for (uintptr_t i = 0; i < 2; i++)
		ATF_REQUIRE(pthread_create(&t[i], NULL, fork_churn,
		    (void *)(i + 1)) == 0);
	for (int i = 0; i < 40; i++) {
		pid_t pid = fork();
		ATF_REQUIRE(pid >= 0);
		if (pid == 0) {
			void *p[100];
			for (int k = 0; k < 100; k++)
				p[k] = malloc((size_t)k * 97 + 1);
			for (int k = 0; k < 100; k++)
				free(p[k]);
			free(malloc(300000));
			_exit(0);
		}
		int status;
		ATF_REQUIRE(waitpid(pid, &status, 0) == pid);
		ATF_REQUIRE_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "child %d: status %#x", i, status);
	}
	__atomic_store_n(&fork_stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 2; i++)
		ATF_REQUIRE(pthread_join(t[i], NULL) == 0);
}

/* ---- diagnostics */

static void
free_stack(void *arg)
{
	char buf[64];
	char *volatile q = buf;	/* opaque: the compiler must call free */

	free(q + (uintptr_t)arg);
}

static void
free_large_twice(void *arg)
{
	void *p = malloc(300000);

	free(p);
	free(p);
}

static void
free_inside_large(void *arg)
{
	char *p = malloc(300000);

	free(p + 8192);
}

/*
 * A pointer into the page header of a small class's page: the page map
 * knows the page, so only the put's offset test stands between it and
 * the cache.  (64-byte objects: a 4 KiB pool page, header in front.)
 */
static void
free_in_header(void *arg)
{
	char *p = malloc(64);
	uintptr_t page = (uintptr_t)p & ~(uintptr_t)4095;

	free((void *)(page + 8));
}

static void
free_it(void *arg)
{
	free(arg);
}

static void
realloc_it(void *arg)
{
	free(realloc(arg, 100000));
}

static void
usable_it(void *arg)
{
	(void)malloc_usable_size(arg);
}

/*
 * Blocks of one class in two 1 GiB windows of the page map: free reads
 * the entry of the first window's leaf without the root and any other
 * through it.  2 GiB of address space reserved below the first block
 * push the pages made next into another window; blocks there are freed
 * into their class (the next malloc hands the last one back: the
 * thread stays on one CPU meanwhile, as a CPU's slot is what gives it
 * back), their size is known, and a pointer inside one is still
 * refused.
 */
ATF_TC_WITHOUT_HEAD(page_map_two_windows);
ATF_TC_BODY(page_map_two_windows, tc)
{
	enum { NMAX = 4 << 20 };
	char **b, *near, *far = NULL, want[200];
	cpu_set_t was, one;
	uintptr_t w;
	void *gap, *q, *r;
	size_t n;

	require_nbmem();
	ATF_REQUIRE(sched_getaffinity(0, sizeof(was), &was) == 0);
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	ATF_REQUIRE(sched_setaffinity(0, sizeof(one), &one) == 0);
	near = malloc(64);
	ATF_REQUIRE(near != NULL);
	w = (uintptr_t)near >> 30;
	gap = mmap(NULL, (size_t)2 << 30, PROT_NONE, MAP_PRIVATE |
	    MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ATF_REQUIRE(gap != MAP_FAILED);
	b = mmap(NULL, NMAX * sizeof(char *), PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ATF_REQUIRE(b != MAP_FAILED);
	for (n = 0; n < NMAX && far == NULL; n++) {
		ATF_REQUIRE((b[n] = malloc(64)) != NULL);
		memset(b[n], (int)(n & 0xff), 64);
		if (((uintptr_t)b[n] >> 30) != w)
			far = b[n];
	}
	ATF_REQUIRE_MSG(far != NULL, "no block outside the first window "
	    "after %zu blocks", n);
	ATF_CHECK_EQ(malloc_usable_size(far), 64);
	ATF_CHECK_EQ(malloc_usable_size(near), 64);
	snprintf(want, sizeof(want), "free(%p): foreign pointer (16 bytes "
	    "inside the block at %p, of 64 bytes, not its start)",
	    (void *)(far + 16), (void *)far);
	nbt_death(free_it, far + 16, want);
	free(far);
	ATF_CHECK_EQ((q = malloc(64)), far);
	free(near);
	ATF_CHECK_EQ((r = malloc(64)), near);
	ATF_REQUIRE(sched_setaffinity(0, sizeof(was), &was) == 0);
	/* Every block came back whole: no two were handed out at once. */
	for (size_t i = 0; i + 1 < n; i++) {
		ATF_REQUIRE_EQ(b[i][0], (char)(i & 0xff));
		ATF_REQUIRE_EQ(b[i][63], (char)(i & 0xff));
		free(b[i]);
	}
	free(q);
	free(r);
	munmap(b, NMAX * sizeof(char *));
	munmap(gap, (size_t)2 << 30);
}

/*
 * A pointer inside a small block: the cache would hand it out again,
 * overlapping the block and its neighbour.  free, realloc and
 * malloc_usable_size refuse it, naming the block, for every kind of
 * class (power of two or not, below and above the page).
 */
ATF_TC_WITHOUT_HEAD(free_interior);
ATF_TC_BODY(free_interior, tc)
{
	static const struct {
		size_t	size;
		size_t	off;
		size_t	class;
	} t[] = {
		{ 16, 8, 16 }, { 24, 16, 32 }, { 100, 16, 112 },
		{ 100, 96, 112 }, { 70, 64, 80 }, { 300, 64, 320 },
		{ 700, 192, 768 }, { 700, 8, 768 }, { 1500, 1024, 1536 },
		{ 2000, 1024, 2048 }, { 4096, 16, 4096 },
		{ 5000, 4096, 5120 }, { 6000, 5120, 6144 },
		{ 12000, 8192, 12288 }, { 20000, 16384, 20480 },
		{ 40000, 4096, 40960 }, { 60000, 65528, 65536 },
	};
	char want[200];
	char *p;

	require_nbmem();
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		p = malloc(t[i].size);
		ATF_REQUIRE(p != NULL);
		ATF_REQUIRE_EQ(malloc_usable_size(p), t[i].class);
		snprintf(want, sizeof(want), "free(%p): foreign pointer (%zu "
		    "bytes inside the block at %p, of %zu bytes, not its "
		    "start)", (void *)(p + t[i].off), t[i].off, (void *)p,
		    t[i].class);
		nbt_death(free_it, p + t[i].off, want);
		free(p);
	}
	p = malloc(300);
	ATF_REQUIRE(p != NULL);
	snprintf(want, sizeof(want), "realloc(%p): foreign pointer (32 "
	    "bytes inside the block at %p", (void *)(p + 32), (void *)p);
	nbt_death(realloc_it, p + 32, want);
	snprintf(want, sizeof(want), "malloc_usable_size(%p): foreign "
	    "pointer (32 bytes inside the block at %p", (void *)(p + 32),
	    (void *)p);
	nbt_death(usable_it, p + 32, want);
	free(p);
	p = malloc(300000);
	ATF_REQUIRE(p != NULL);
	snprintf(want, sizeof(want), "realloc(%p): foreign pointer (16 bytes "
	    "inside the large block at %p, of %zu bytes, not its start)",
	    (void *)(p + 16), (void *)p, malloc_usable_size(p));
	nbt_death(realloc_it, p + 16, want);
	/* Pages into it, where the map has no entry: still named. */
	snprintf(want, sizeof(want), "free(%p): foreign pointer (%d bytes "
	    "inside the large block at %p, of %zu bytes, not its start)",
	    (void *)(p + 3 * 4096 + 8), 3 * 4096 + 8, (void *)p,
	    malloc_usable_size(p));
	nbt_death(free_it, p + 3 * 4096 + 8, want);
	snprintf(want, sizeof(want), "malloc_usable_size(%p): foreign "
	    "pointer (%d bytes inside the large block at %p",
	    (void *)(p + 200000), 200000, (void *)p);
	nbt_death(usable_it, p + 200000, want);
	free(p);
}

ATF_TC_WITHOUT_HEAD(foreign_pointer);
ATF_TC_BODY(foreign_pointer, tc)
{
	nbt_death(free_stack, (void *)0, "foreign pointer");
	nbt_death(free_large_twice, NULL, "foreign pointer");
	nbt_death(free_inside_large, NULL, "foreign pointer");
	require_nbmem();
	nbt_death(free_in_header, NULL, "foreign pointer (inside the page "
	    "header, not an item)");
}

/* ---- trim */

static size_t
rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size, rss;

	ATF_REQUIRE(f != NULL);
	ATF_REQUIRE(fscanf(f, "%lu %lu", &size, &rss) == 2);
	fclose(f);
	return rss * (size_t)getpagesize();
}

/* p[0..n) = n blocks of `size' bytes, written (resident). */
static void
alloc_written(void **p, int n, size_t size)
{
	for (int i = 0; i < n; i++) {
		p[i] = malloc(size);
		ATF_REQUIRE(p[i] != NULL);
		memset(p[i], 1, size);
	}
}

ATF_TC_WITHOUT_HEAD(trim);
ATF_TC_BODY(trim, tc)
{
	enum { N = 64 * 1024 };		/* 64 MiB of 1000-byte objects */
	static void *p[N];
	size_t before, full, after;
	struct mallinfo2 mi;

	(void)malloc_trim(0);
	before = rss_bytes();
	alloc_written(p, N, 1000);
	full = rss_bytes();
	mi = mallinfo2();
	ATF_CHECK(mi.arena >= (size_t)N * 1000);
	for (int i = 0; i < N; i++)
		free(p[i]);
	ATF_CHECK_EQ(malloc_trim(0), 1);
	after = rss_bytes();
	printf("rss: before %zu, full %zu, after trim %zu\n", before, full,
	    after);
	ATF_CHECK(full > before + (40u << 20));
	ATF_CHECK_MSG(after < before + (8u << 20), "rss after trim %zu, "
	    "before %zu", after, before);
	ATF_CHECK_EQ(mallopt(M_TRIM_THRESHOLD, 0), 1);
}

/*
 * Freed large blocks stay committed for the next ones (mallinfo2's
 * arena, the bytes of pages nbmem holds, does not drop), a smaller
 * request takes the front of a cached block, calloc from the cache is
 * zero, and malloc_trim empties the cache.
 */
ATF_TC_WITHOUT_HEAD(large_cache);
ATF_TC_BODY(large_cache, tc)
{
	const size_t big = 4u << 20, small = 1u << 20;
	size_t held;
	char *p, *q;

	require_nbmem();
	(void)malloc_trim(0);
	p = malloc(big);
	ATF_REQUIRE(p != NULL);
	memset(p, 0xa5, big);
	held = mallinfo2().arena;
	free(p);
	ATF_CHECK_MSG(mallinfo2().arena >= held, "arena %zu after the free, "
	    "%zu before: the block was not kept", mallinfo2().arena, held);
	q = calloc(1, small);
	ATF_REQUIRE(q != NULL);
	ATF_CHECK_MSG(q == p, "calloc(%zu) = %p, not the front of the cached "
	    "block %p", small, (void *)q, (void *)p);
	for (size_t i = 0; i < small; i += 512)
		ATF_REQUIRE_EQ(q[i], 0);
	ATF_CHECK(q[small - 1] == 0);
	ATF_CHECK(malloc_usable_size(q) >= small &&
	    malloc_usable_size(q) < small + (64u << 10));
	free(q);
	ATF_CHECK_EQ(malloc_trim(0), 1);
	ATF_CHECK_MSG(mallinfo2().arena + big <= held, "arena %zu after "
	    "trim, %zu with the block", mallinfo2().arena, held);
}

/*
 * The large cache's bound: a freed 40 MiB block stays committed with
 * nothing else live (64 MiB are always allowed) and serves the next
 * request of its size; a request it cannot serve makes room first, so
 * the cached block and the new one are not both held.
 */
ATF_TC_WITHOUT_HEAD(large_cache_bound);
ATF_TC_BODY(large_cache_bound, tc)
{
	const size_t mib = 1u << 20;
	size_t base, kept, both;
	char *p, *q;

	require_nbmem();
	(void)malloc_trim(0);
	base = mallinfo2().arena;
	p = malloc(40 * mib);
	ATF_REQUIRE(p != NULL);
	memset(p, 1, 40 * mib);
	free(p);
	kept = mallinfo2().arena;
	ATF_CHECK_MSG(kept >= base + 40 * mib, "arena %zu after the free, "
	    "%zu before the block: it was not kept", kept, base);
	q = malloc(40 * mib);
	ATF_CHECK_MSG(q == p, "malloc(40 MiB) = %p, not the cached %p",
	    (void *)q, (void *)p);
	free(q);
	q = malloc(50 * mib);
	ATF_REQUIRE(q != NULL);
	both = mallinfo2().arena;
	ATF_CHECK_MSG(both < base + 70 * mib, "arena %zu with a 50 MiB block "
	    "(%zu before the blocks): the 40 MiB one is still held", both,
	    base);
	free(q);
	ATF_CHECK_EQ(malloc_trim(0), 1);
}

/*
 * The large cache keeps what recent requests justify: forty 1 MiB blocks
 * made long ago (then hundreds of 128 KiB requests) are not all kept
 * when they are freed, where the fixed bound alone (64 MiB) kept them;
 * some are (a floor of 2 MiB plus the last 64 requests' 8 MiB; a floor
 * of 8 MiB kept 16), and keepcost reports the cache.
 */
ATF_TC_WITHOUT_HEAD(large_cache_demand);
ATF_TC_BODY(large_cache_demand, tc)
{
	enum { NBIG = 40, NSMALL = 400 };
	const size_t mib = 1u << 20;
	static char *big[NBIG];
	size_t kept;

	require_nbmem();
	(void)malloc_trim(0);
	for (int i = 0; i < NBIG; i++) {
		ATF_REQUIRE((big[i] = malloc(mib)) != NULL);
		memset(big[i], 1, mib);
	}
	for (int i = 0; i < NSMALL; i++) {
		char *q = malloc(128u << 10);
		ATF_REQUIRE(q != NULL);
		q[0] = 1;
		free(q);
	}
	for (int i = 0; i < NBIG; i++)
		free(big[i]);
	kept = mallinfo2().keepcost;
	ATF_CHECK_MSG(kept >= 8 * mib && kept <= 12 * mib, "the large cache "
	    "holds %zu KiB after %d blocks of 1 MiB were freed", kept >> 10,
	    NBIG);
	ATF_CHECK_EQ(malloc_trim(0), 1);
	ATF_CHECK_EQ(mallinfo2().keepcost, 0);
}

/*
 * The large cache gives back, at the next large requests, the ranges
 * that no request took for 5 ms, down to its floor of 2 MiB: eight
 * written 1 MiB blocks, kept apart by live ones, freed; after a pause,
 * eight requests of 128 KiB, kept, cut the oldest range (the smallest
 * that holds them, the oldest of equals) to nothing and leave the
 * floor kept, and the pages of the rest are no longer resident.
 */
ATF_TC_WITHOUT_HEAD(large_cache_idle);
ATF_TC_BODY(large_cache_idle, tc)
{
	enum { NBIG = 8, NREQ = 8 };
	const size_t mib = 1u << 20;
	char *big[NBIG], *wall[NBIG], *q[NREQ];
	size_t kept, rss;

	require_nbmem();
	(void)malloc_trim(0);
	for (int i = 0; i < NBIG; i++) {
		big[i] = malloc(mib);
		wall[i] = malloc(mib);
		ATF_REQUIRE(big[i] != NULL && wall[i] != NULL);
		memset(big[i], 1, mib);
		wall[i][0] = 1;
	}
	for (int i = 0; i < NBIG; i++)
		free(big[i]);
	kept = mallinfo2().keepcost;
	ATF_REQUIRE_MSG(kept == NBIG * mib, "the large cache holds %zu KiB "
	    "after %d blocks of 1 MiB were freed", kept >> 10, NBIG);
	rss = rss_bytes();
	usleep(20 * 1000);
	for (int i = 0; i < NREQ; i++) {
		q[i] = malloc(128u << 10);
		ATF_REQUIRE(q[i] != NULL);
		q[i][0] = 1;
	}
	kept = mallinfo2().keepcost;
	ATF_CHECK_MSG(kept == 2 * mib, "the large cache holds %zu KiB, not "
	    "its floor of 2 MiB, 20 ms and %d requests after %d blocks of "
	    "1 MiB were freed", kept >> 10, NREQ, NBIG);
	ATF_CHECK_MSG(rss_bytes() + 4 * mib <= rss, "resident memory went "
	    "from %zu KiB to %zu, with %zu KiB given back", rss >> 10,
	    rss_bytes() >> 10, (NBIG * mib - kept) >> 10);
	for (int i = 0; i < NREQ; i++)
		free(q[i]);
	for (int i = 0; i < NBIG; i++)
		free(wall[i]);
	ATF_CHECK_EQ(malloc_trim(0), 1);
}

/*
 * A kept range idle long enough is not given back by the request that
 * takes it: a 3 MiB range freed first, then two of 1 MiB; after a
 * pause and three aligned requests (which the cache does not serve), a
 * request of 3 MiB is the fourth since the frees, and gets the kept
 * range, its pages as written, rather than fresh pages while the
 * range goes back to the system.
 */
ATF_TC_WITHOUT_HEAD(large_cache_idle_taken);
ATF_TC_BODY(large_cache_idle_taken, tc)
{
	const size_t mib = 1u << 20;
	char *r[3], *wall[3], *q;
	void *al[3];

	require_nbmem();
	(void)malloc_trim(0);
	for (int i = 0; i < 3; i++) {
		r[i] = malloc(i == 0 ? 3 * mib : mib);
		wall[i] = malloc(mib);
		ATF_REQUIRE(r[i] != NULL && wall[i] != NULL);
		memset(r[i], 0xa1 + i, i == 0 ? 3 * mib : mib);
		wall[i][0] = 1;
	}
	for (int i = 0; i < 3; i++)
		free(r[i]);
	ATF_REQUIRE_EQ(mallinfo2().keepcost, 5 * mib);
	usleep(20 * 1000);
	for (int i = 0; i < 3; i++)
		ATF_REQUIRE(posix_memalign(&al[i], 2 * mib, mib) == 0);
	ATF_REQUIRE_EQ(mallinfo2().keepcost, 5 * mib);
	q = malloc(3 * mib);
	ATF_REQUIRE(q != NULL);
	ATF_CHECK_MSG(q == r[0] && (unsigned char)q[0] == 0xa1 &&
	    (unsigned char)q[3 * mib - 1] == 0xa1, "a request of 3 MiB "
	    "got %p (byte %#x), not the kept range %p it fits", (void *)q,
	    (unsigned char)q[0], (void *)r[0]);
	free(q);
	for (int i = 0; i < 3; i++) {
		free(al[i]);
		free(wall[i]);
	}
	ATF_CHECK_EQ(malloc_trim(0), 1);
}

/*
 * mallinfo2 follows the live bytes: uordblks grows by what is allocated
 * (class sizes) and drops when it is freed, although the pages stay
 * held (arena); a large block shows in hblks and hblkhd too, its freed
 * range in keepcost until malloc_trim.
 */
/*
 * malloc_info: glibc's XML, with the figures of mallinfo2 (glibc's own,
 * reached when the library had none, reports its untouched heap: 0).
 */
ATF_TC_WITHOUT_HEAD(malloc_info_xml);
ATF_TC_BODY(malloc_info_xml, tc)
{
	char *buf = NULL, *s;
	size_t len = 0, cur = 0, nmmap = 0, mmapsz = 0;
	void *b;
	FILE *f;

	require_nbmem();
	b = malloc(3u << 20);
	ATF_REQUIRE(b != NULL);
	f = open_memstream(&buf, &len);
	ATF_REQUIRE(f != NULL);
	ATF_CHECK_EQ(malloc_info(0, f), 0);
	ATF_REQUIRE(fclose(f) == 0);
	ATF_REQUIRE_MSG(strncmp(buf, "<malloc version=\"1\">\n", 21) == 0,
	    "malloc_info: %s", buf);
	ATF_CHECK(strstr(buf, "</malloc>\n") != NULL);
	s = strstr(buf, "</heap>");
	ATF_REQUIRE(s != NULL);
	s = strstr(s, "<system type=\"current\" size=\"");
	ATF_REQUIRE(s != NULL);
	ATF_CHECK(sscanf(s, "<system type=\"current\" size=\"%zu\"", &cur) ==
	    1);
	ATF_CHECK_MSG(cur >= (3u << 20), "current: %zu bytes, with a live "
	    "block of 3 MiB", cur);
	s = strstr(buf, "<total type=\"mmap\" count=\"");
	ATF_REQUIRE(s != NULL);
	ATF_CHECK(sscanf(s, "<total type=\"mmap\" count=\"%zu\" "
	    "size=\"%zu\"", &nmmap, &mmapsz) == 2);
	ATF_CHECK_MSG(nmmap >= 1 && mmapsz >= (3u << 20), "mmap: %zu "
	    "blocks, %zu bytes, with a live block of 3 MiB", nmmap, mmapsz);
	free(buf);
	free(b);
	f = fopen("/dev/null", "w");
	ATF_REQUIRE(f != NULL);
	ATF_CHECK_EQ(malloc_info(1, f), EINVAL);
	(void)fclose(f);
}

ATF_TC_WITHOUT_HEAD(mallinfo2_live);
ATF_TC_BODY(mallinfo2_live, tc)
{
	enum { N = 20000 };
	const size_t big = 10u << 20, slack = 512u << 10;
	static void *p[N];
	struct mallinfo2 m0, m1, m2;
	struct mallinfo mi;
	void *b;

	require_nbmem();
	(void)malloc_trim(0);
	m0 = mallinfo2();
	alloc_written(p, N, 200);
	m1 = mallinfo2();
	ATF_CHECK_MSG(m1.uordblks >= m0.uordblks + (size_t)N * 200 &&
	    m1.uordblks <= m0.uordblks + (size_t)N * 256 + slack,
	    "uordblks %zu with %d blocks of 200 bytes, %zu before",
	    m1.uordblks, N, m0.uordblks);
	ATF_CHECK(m1.arena >= m1.uordblks);
	ATF_CHECK_EQ(m1.fordblks, m1.arena - m1.uordblks);
	for (int i = 0; i < N; i++)
		free(p[i]);
	m2 = mallinfo2();
	ATF_CHECK_MSG(m2.uordblks <= m0.uordblks + slack, "uordblks %zu "
	    "after the frees, %zu before the blocks", m2.uordblks,
	    m0.uordblks);
	ATF_CHECK_MSG(m2.fordblks + slack >= (size_t)N * 200, "fordblks %zu "
	    "after the frees", m2.fordblks);
	b = malloc(big);
	ATF_REQUIRE(b != NULL);
	m1 = mallinfo2();
	ATF_CHECK_EQ(m1.hblks, m2.hblks + 1);
	ATF_CHECK(m1.hblkhd >= m2.hblkhd + big);
	ATF_CHECK(m1.uordblks >= m2.uordblks + big);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	mi = mallinfo();
#pragma GCC diagnostic pop
	ATF_CHECK_EQ((size_t)mi.hblkhd, m1.hblkhd);
	free(b);
	m2 = mallinfo2();
	ATF_CHECK_EQ(m2.hblks, m1.hblks - 1);
	ATF_CHECK(m2.hblkhd + big <= m1.hblkhd);
	ATF_CHECK(m2.keepcost >= big);
	ATF_CHECK_EQ(malloc_trim(0), 1);
	ATF_CHECK_EQ(mallinfo2().keepcost, 0);
}

/* Minor page faults of the process so far. */
static long
minflt(void)
{
	struct rusage ru;

	ATF_REQUIRE(getrusage(RUSAGE_SELF, &ru) == 0);
	return ru.ru_minflt;
}

/* Lines of /proc/self/maps: the process's mappings. */
static int
nmappings(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	int c, n = 0;

	ATF_REQUIRE(f != NULL);
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

/*
 * Moved pages keep a mapping of their own: a block grown by fixed steps
 * must not gain one per realloc (toward vm.max_map_count), and one
 * that keeps doubling gains a few at most.  Misses take cached pages
 * too (lc_fill), and a range that holds moved pages is never moved
 * again: what the cache and the live blocks hold stays within a mapping
 * more per cached range (64 at most), whatever the number of reallocs.
 */
ATF_TC_WITHOUT_HEAD(realloc_mappings_bounded);
ATF_TC_BODY(realloc_mappings_bounded, tc)
{
	size_t n = 300u << 10;
	char *p, *wall;
	int before, after600;

	require_nbmem();
	(void)malloc_trim(0);
	p = malloc(n);
	wall = malloc(1u << 20);
	ATF_REQUIRE(p != NULL && wall != NULL);
	before = nmappings();
	for (int i = 0; i < 1200; i++) {
		n += 4096;
		ATF_REQUIRE((p = realloc(p, n)) != NULL);
		p[n - 1] = 1;
		if (i == 599)
			after600 = nmappings();
	}
	ATF_CHECK_MSG(after600 - before < 40 + 64, "%d mappings after 600 "
	    "reallocs by 4 KiB, %d before", after600, before);
	ATF_CHECK_MSG(nmappings() <= after600 + 8, "%d mappings after 1200 "
	    "reallocs by 4 KiB, %d after 600", nmappings(), after600);
	free(p);
	p = malloc(256u << 10);
	ATF_REQUIRE(p != NULL);
	before = nmappings();
	for (n = 512u << 10; n <= (64u << 20); n *= 2) {
		ATF_REQUIRE((p = realloc(p, n)) != NULL);
		p[n - 1] = 1;
	}
	ATF_CHECK_MSG(nmappings() - before < 40, "%d mappings after 8 "
	    "doublings, %d before", nmappings(), before);
	free(p);
	free(wall);
}

/*
 * realloc of a big block that cannot grow in place moves its pages
 * instead of copying them: the contents arrive, the block's old pages
 * are not faulted in again at the new address, and the old range is
 * given back.
 */
ATF_TC_WITHOUT_HEAD(realloc_large_moves);
ATF_TC_BODY(realloc_large_moves, tc)
{
	const size_t mib = 1u << 20;
	char *p, *q, *wall;
	long before, faults;

	require_nbmem();
	(void)malloc_trim(0);
	p = malloc(4 * mib);
	ATF_REQUIRE(p != NULL);
	for (size_t i = 0; i < 4 * mib; i++)
		p[i] = (char)(i * 7);
	wall = malloc(1 * mib);		/* keeps p from growing in place */
	ATF_REQUIRE(wall != NULL);
	memset(wall, 3, 1 * mib);
	before = minflt();
	q = realloc(p, 8 * mib);
	faults = minflt() - before;
	ATF_REQUIRE(q != NULL);
	ATF_CHECK(q != p);
	for (size_t i = 0; i < 4 * mib; i += 4093)
		ATF_REQUIRE_EQ(q[i], (char)(i * 7));
	ATF_CHECK_EQ(q[4 * mib - 1], (char)((4 * mib - 1) * 7));
	/* A copy faults in 1,024 pages at the new address. */
	ATF_CHECK_MSG(faults < 128, "%ld page faults for a 4 MiB realloc",
	    faults);
	memset(q + 4 * mib, 5, 4 * mib);
	ATF_CHECK_EQ(malloc_usable_size(q), 8 * mib);
	free(q);
	free(wall);
	ATF_CHECK_EQ(malloc_trim(0), 1);
}

/*
 * Four written 1 MiB blocks freed into the large cache, kept apart (so
 * that they do not join) by the four live blocks left in wall[], which
 * wall_free() frees.
 */
static void
cache_four_mib(char *wall[4])
{
	const size_t mib = 1u << 20;
	char *blk[4];

	for (int i = 0; i < 4; i++) {
		blk[i] = malloc(mib);
		wall[i] = malloc(mib);
		ATF_REQUIRE(blk[i] != NULL && wall[i] != NULL);
		memset(blk[i], 0x5a, mib);
		memset(wall[i], 1, 4096);
	}
	for (int i = 0; i < 4; i++)
		free(blk[i]);
}

static void
wall_free(char *wall[4])
{
	for (int i = 0; i < 4; i++)
		free(wall[i]);
}

/*
 * A large request that no cached range holds (here four freed 1 MiB
 * blocks, kept apart by live ones) takes their pages: the kernel moves
 * them in, so filling the new block faults in none of its 1,024 pages
 * (they come back with their old bytes: calloc clears them), and the
 * cache gives up what the block takes.
 */
ATF_TC_WITHOUT_HEAD(large_miss_takes_cached_pages);
ATF_TC_BODY(large_miss_takes_cached_pages, tc)
{
	const size_t mib = 1u << 20;
	char *wall[4], *q;
	long before, faults;
	int pass;

	require_nbmem();
	for (pass = 0; pass < 2; pass++) {
		(void)malloc_trim(0);
		cache_four_mib(wall);
		before = minflt();
		q = pass == 0 ? malloc(4 * mib) : calloc(1, 4 * mib);
		ATF_REQUIRE(q != NULL);
		if (pass == 1) {
			/* Every byte reads as zero, moved pages included. */
			for (size_t i = 0; i < 4 * mib; i += 512)
				ATF_REQUIRE_EQ_MSG(q[i], 0, "calloc: byte %zu "
				    "is %#x", i, (unsigned char)q[i]);
		}
		memset(q, 7, 4 * mib);
		faults = minflt() - before;
		ATF_CHECK_MSG(faults < 128, "%s: %ld page faults filling "
		    "4 MiB with 4 MiB cached", pass == 0 ? "malloc" :
		    "calloc", faults);
		ATF_CHECK_EQ(q[4 * mib - 1], 7);
		free(q);
		wall_free(wall);
	}
	ATF_CHECK_EQ(malloc_trim(0), 1);
}

/* Page faults of a block of n bytes written whole, then freed. */
static long
write_faults(size_t n)
{
	long before, faults;
	char *q;

	before = minflt();
	q = malloc(n);
	ATF_REQUIRE(q != NULL);
	memset(q, 7, n);
	faults = minflt() - before;
	ATF_CHECK_EQ(q[n - 1], 7);
	free(q);
	return faults;
}

/*
 * Pages moved into a block move again: a 4 MiB block filled from four
 * cached 1 MiB ones, freed, then a 6 MiB request (which it cannot hold)
 * takes its pages, and writing the new block faults in only the 2 MiB
 * that no cached range gave.  Returns those faults.
 */
static long
moved_again_faults(void)
{
	char *wall[4];
	long faults;

	(void)malloc_trim(0);
	cache_four_mib(wall);
	(void)write_faults(4u << 20);
	faults = write_faults(6u << 20);
	wall_free(wall);
	(void)malloc_trim(0);
	return faults;
}

ATF_TC_WITHOUT_HEAD(large_miss_moves_moved_pages);
ATF_TC_BODY(large_miss_moves_moved_pages, tc)
{
	long faults;

	require_nbmem();
	faults = moved_again_faults();
	ATF_CHECK_MSG(faults < 512 + 128, "%ld page faults filling 6 MiB "
	    "with a 4 MiB block of moved pages cached", faults);
}

/*
 * Each block made of moved pages is a few mappings: a process that has
 * many already (more than the bound, 1,024) gets no more from them, and
 * such a block's pages are given back rather than moved again.
 */
/* n pages, every other one read-only: one mapping per page. */
static char *
many_mappings(size_t n)
{
	const size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	char *m = mmap(NULL, n * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE |
	    MAP_ANONYMOUS, -1, 0);

	ATF_REQUIRE(m != MAP_FAILED);
	for (size_t i = 0; i < n; i += 2)
		ATF_REQUIRE(mprotect(m + i * ps, ps, PROT_READ) == 0);
	ATF_REQUIRE((size_t)nmappings() > n);
	return m;
}

ATF_TC_WITHOUT_HEAD(large_moved_pages_stay_with_many_mappings);
ATF_TC_BODY(large_moved_pages_stay_with_many_mappings, tc)
{
	const size_t n = 2400;
	char *m;
	long faults;

	require_nbmem();
	m = many_mappings(n);
	faults = moved_again_faults();
	ATF_CHECK_MSG(faults >= 1400, "%ld page faults filling 6 MiB: moved "
	    "pages moved again with %d mappings", faults, nmappings());
	ATF_REQUIRE(munmap(m, n * (size_t)sysconf(_SC_PAGESIZE)) == 0);
}

/* Large misses enough for malloc to count the mappings (every 64). */
#define	NMISS_COUNTED	70

/* Bytes the process's read(2) calls returned so far (/proc/self/io). */
static long
rchar(void)
{
	FILE *f = fopen("/proc/self/io", "r");
	long v = -1;

	ATF_REQUIRE(f != NULL);
	ATF_REQUIRE(fscanf(f, "rchar: %ld", &v) == 1);
	fclose(f);
	return v;
}

/*
 * The count of the mappings (lc_maps_room) stops at the bound: a
 * process with 20,000 mappings does not read them all (1.5 MiB of
 * /proc/self/maps; 5 MiB and 21 ms at 60,000) inside malloc, once
 * every 64 misses.
 */
ATF_TC_WITHOUT_HEAD(large_miss_counts_few_mappings);
ATF_TC_BODY(large_miss_counts_few_mappings, tc)
{
	const size_t n = 20000;
	char *m, *big[NMISS_COUNTED], *small;
	long before, read;

	require_nbmem();
	m = many_mappings(n);
	before = rchar();
	for (int i = 0; i < NMISS_COUNTED; i++) {
		small = malloc(256u << 10);
		ATF_REQUIRE(small != NULL);
		small[0] = 1;
		free(small);
		big[i] = malloc(2u << 20);
		ATF_REQUIRE(big[i] != NULL);
	}
	read = rchar() - before;
	for (int i = 0; i < NMISS_COUNTED; i++)
		free(big[i]);
	ATF_CHECK_MSG(read < (512 << 10), "%ld bytes read making %d large "
	    "blocks with %d mappings", read, NMISS_COUNTED, nmappings());
	ATF_REQUIRE(munmap(m, n * (size_t)sysconf(_SC_PAGESIZE)) == 0);
}

/*
 * A large block grows in place into the address space after it when
 * nothing is there, as mremap(2) grows a mapping: realloc by 4 KiB at a
 * time keeps its address and its bytes.
 */
ATF_TC_WITHOUT_HEAD(realloc_grows_in_place);
ATF_TC_BODY(realloc_grows_in_place, tc)
{
	size_t n = 300u << 10;
	char *p, *q;

	require_nbmem();
	p = malloc(n);
	ATF_REQUIRE(p != NULL);
	memset(p, 5, n);
	for (int i = 0; i < 200; i++) {
		q = realloc(p, n + 4096);
		ATF_REQUIRE(q != NULL);
		ATF_CHECK_MSG(q == p, "step %d: realloc to %zu bytes moved "
		    "%p to %p", i, n + 4096, (void *)p, (void *)q);
		p = q;
		memset(p + n, 5, 4096);
		n += 4096;
	}
	for (size_t i = 0; i < n; i += 4096)
		ATF_REQUIRE_EQ(p[i], 5);
	ATF_CHECK(malloc_usable_size(p) >= n);
	free(p);
}

/*
 * malloc is no cancellation point (POSIX allows none outside its
 * lists), nor is what it reads /proc/self/maps with (lc_maps_room): a
 * thread with a cancellation request pending makes 2 MiB misses, each
 * with a cached range to fill it from, and finishes them all.
 */
static volatile int cancel_done;

static void *
cancel_misses(void *arg)
{
	char *big[NMISS_COUNTED], *small;
	int n = 0;

	(void)arg;
	(void)pthread_cancel(pthread_self());	/* pending: deferred */
	for (int i = 0; i < NMISS_COUNTED; i++) {
		small = malloc(256u << 10);
		if (small == NULL)
			break;
		small[0] = 1;
		free(small);			/* cached */
		if ((big[n] = malloc(2u << 20)) == NULL)
			break;
		big[n++][0] = 1;
	}
	for (int i = 0; i < n; i++)
		free(big[i]);
	cancel_done = n;
	return NULL;
}

ATF_TC_WITHOUT_HEAD(large_miss_no_cancellation_point);
ATF_TC_BODY(large_miss_no_cancellation_point, tc)
{
	pthread_t t;
	void *rv;

	require_nbmem();
	(void)malloc_trim(0);
	ATF_REQUIRE(pthread_create(&t, NULL, cancel_misses, NULL) == 0);
	ATF_REQUIRE(pthread_join(t, &rv) == 0);
	ATF_CHECK_MSG(rv != PTHREAD_CANCELED, "a thread was cancelled "
	    "inside malloc");
	ATF_CHECK_EQ(cancel_done, NMISS_COUNTED);
}

/*
 * One large miss with four 1 MiB blocks cached (kept apart by live
 * ones): the page faults of filling the new 4 MiB block.
 */
static long
miss_faults(void)
{
	char *wall[4];
	long faults;

	cache_four_mib(wall);
	faults = write_faults(4u << 20);
	wall_free(wall);
	(void)malloc_trim(0);
	return faults;
}

/*
 * With 4,096 large blocks or more live, a miss no longer takes cached
 * pages (each block it fills keeps several mappings): the same miss as
 * above faults its pages in, and takes cached pages again once the
 * blocks are gone.
 */
ATF_TC_WITHOUT_HEAD(large_miss_many_live);
ATF_TC_BODY(large_miss_many_live, tc)
{
	const size_t nlive = 4200;
	char **live;
	long faults[2];

	require_nbmem();
	(void)malloc_trim(0);
	live = calloc(nlive, sizeof(*live));
	ATF_REQUIRE(live != NULL);
	for (size_t i = 0; i < nlive; i++) {
		live[i] = malloc(68u << 10);
		ATF_REQUIRE(live[i] != NULL);
		live[i][0] = 1;
	}
	faults[0] = miss_faults();
	for (size_t i = 0; i < nlive; i++)
		free(live[i]);
	(void)malloc_trim(0);
	faults[1] = miss_faults();
	ATF_CHECK_MSG(faults[0] >= 1000, "%ld page faults with %zu large "
	    "blocks live", faults[0], nlive);
	ATF_CHECK_MSG(faults[1] < 128, "%ld page faults once they are "
	    "freed", faults[1]);
	free(live);
}

/*
 * The library's mremap(2) calls come here (the program's definition
 * wins): with fail_moves set, a page move fails as kernels before Linux
 * 6.17 make it fail for a source of several mappings, after unmapping
 * the target.
 */
static volatile int fail_moves;
static void *volatile last_from;	/* the last source of a page move */

__attribute__((__visibility__("default"))) void *
mremap(void *from, size_t oldsz, size_t newsz, int flags, ...)
{
	void *to = NULL;
	va_list ap;

	va_start(ap, flags);
	if ((flags & MREMAP_FIXED) != 0)
		to = va_arg(ap, void *);
	va_end(ap);
	if ((flags & MREMAP_DONTUNMAP) != 0)
		last_from = from;
	if (fail_moves && (flags & MREMAP_DONTUNMAP) != 0) {
		(void)munmap(to, newsz);
		errno = EFAULT;
		return MAP_FAILED;
	}
	return (void *)syscall(SYS_mremap, from, oldsz, newsz, flags, to);
}

/*
 * A page move that fails has cost the new block the mapping of its
 * target, which the kernel drops before it looks at the source: the
 * block is mapped again, can be written through, and errno stays as it
 * was after the malloc that succeeded.
 */
ATF_TC_WITHOUT_HEAD(large_miss_move_fails);
ATF_TC_BODY(large_miss_move_fails, tc)
{
	char *wall[4], *q;

	require_nbmem();
	(void)malloc_trim(0);
	cache_four_mib(wall);
	fail_moves = 1;
	errno = 4321;
	q = malloc(4u << 20);
	ATF_CHECK_EQ_MSG(errno, 4321, "errno %d after a malloc that "
	    "succeeded", errno);
	fail_moves = 0;
	ATF_REQUIRE(q != NULL);
	memset(q, 7, 4u << 20);
	ATF_CHECK_EQ(q[(4u << 20) - 1], 7);
	free(q);
	wall_free(wall);
	ATF_CHECK_EQ(malloc_trim(0), 1);
}

/*
 * realloc grows a block whose pages were moved before by moving them
 * again; when the kernel refuses (as before Linux 6.17, a range of
 * several mappings), it copies, and does not ask again for such blocks.
 */
ATF_TC_WITHOUT_HEAD(realloc_move_refused_once);
ATF_TC_BODY(realloc_move_refused_once, tc)
{
	char *p, *q, *wall, *after;

	require_nbmem();
	(void)malloc_trim(0);
	for (int round = 0; round < 2; round++) {
		p = malloc(300u << 10);
		wall = malloc(1u << 20);
		ATF_REQUIRE(p != NULL && wall != NULL);
		memset(p, 3, 300u << 10);
		memset(wall, 1, 4096);
		ATF_REQUIRE((p = realloc(p, 700u << 10)) != NULL);
		/* What follows p is taken: it cannot grow in place. */
		after = malloc(1u << 20);
		ATF_REQUIRE(after != NULL);
		ATF_REQUIRE_MSG(after == p + (700u << 10), "%p does not "
		    "follow %p", (void *)after, (void *)p);
		fail_moves = 1;
		last_from = NULL;
		q = realloc(p, 1500u << 10);
		fail_moves = 0;
		ATF_REQUIRE(q != NULL);
		ATF_CHECK(q[0] == 3 && q[(300u << 10) - 1] == 3);
		free(after);
		if (round == 0)
			ATF_CHECK_MSG(last_from == p, "no move of %p asked",
			    (void *)p);
		else
			ATF_CHECK_MSG(last_from != p, "a move of %p asked "
			    "again after a refusal", (void *)p);
		free(q);
		free(wall);
		(void)malloc_trim(0);
	}
}

/*
 * A big block that realloc moves (it cannot grow in place) gets the new
 * tail from cached pages too: four 1 MiB blocks freed (kept apart by
 * live ones), then a 4 MiB block doubled: writing its new half faults
 * in none of its 1,024 pages, and the old half arrives intact.
 */
ATF_TC_WITHOUT_HEAD(realloc_move_fills_tail);
ATF_TC_BODY(realloc_move_fills_tail, tc)
{
	const size_t mib = 1u << 20;
	char *wall[4], *p, *q, *guard;
	long before, faults;

	require_nbmem();
	(void)malloc_trim(0);
	p = malloc(4 * mib);
	guard = malloc(mib);		/* keeps p from growing in place */
	ATF_REQUIRE(p != NULL && guard != NULL);
	for (size_t i = 0; i < 4 * mib; i++)
		p[i] = (char)(i * 3);
	memset(guard, 1, 4096);
	cache_four_mib(wall);
	before = minflt();
	q = realloc(p, 8 * mib);
	ATF_REQUIRE(q != NULL);
	memset(q + 4 * mib, 7, 4 * mib);
	faults = minflt() - before;
	ATF_CHECK_MSG(faults < 128, "%ld page faults growing 4 MiB to 8 "
	    "with 4 MiB cached", faults);
	for (size_t i = 0; i < 4 * mib; i += 4093)
		ATF_REQUIRE_EQ(q[i], (char)(i * 3));
	free(q);
	free(guard);
	wall_free(wall);
	ATF_CHECK_EQ(malloc_trim(0), 1);
}

/*
 * realloc of a large block in place: it grows into the cached rest of
 * the range it was cut from, and shrinks (its tail goes to the cache).
 */
ATF_TC_WITHOUT_HEAD(realloc_large_inplace);
ATF_TC_BODY(realloc_large_inplace, tc)
{
	char *p, *q, *r;

	require_nbmem();
	(void)malloc_trim(0);
	p = malloc(8u << 20);
	ATF_REQUIRE(p != NULL);
	free(p);
	q = malloc(1u << 20);
	ATF_REQUIRE(q == p);
	memset(q, 7, 1u << 20);
	r = realloc(q, 5u << 20);
	ATF_CHECK_MSG(r == q, "realloc grew %p by moving it to %p",
	    (void *)q, (void *)r);
	ATF_CHECK(malloc_usable_size(r) >= (5u << 20));
	ATF_CHECK(r[0] == 7 && r[(1u << 20) - 1] == 7);
	memset(r, 8, 5u << 20);
	q = realloc(r, 200000);
	ATF_CHECK_MSG(q == r, "realloc shrank %p by moving it to %p",
	    (void *)r, (void *)q);
	ATF_CHECK(malloc_usable_size(q) >= 200000 &&
	    malloc_usable_size(q) < 300000);
	ATF_CHECK(q[0] == 8 && q[199999] == 8);
	free(q);
	(void)malloc_trim(0);
}

/*
 * With the kernel's heuristic overcommit, a request larger than all RAM
 * and swap fails at once with ENOMEM, as the C library's malloc does
 * (mmap refuses it), though the library's own mappings are lazy.
 */
ATF_TC_WITHOUT_HEAD(beyond_ram_and_swap);
ATF_TC_BODY(beyond_ram_and_swap, tc)
{
	char *p, *q;
	size_t big;
	void *v;

	require_nbmem();
	big = nbt_beyond_ram_and_swap();
	errno = 0;
	ATF_CHECK(malloc(big) == NULL && errno == ENOMEM);
	errno = 0;
	ATF_CHECK(calloc(1, big) == NULL && errno == ENOMEM);
	ATF_CHECK_EQ(posix_memalign(&v, 1 << 20, big), ENOMEM);
	p = malloc(100);
	ATF_REQUIRE(p != NULL);
	memset(p, 9, 100);
	errno = 0;
	q = realloc(p, big);
	ATF_CHECK(q == NULL && errno == ENOMEM);
	ATF_CHECK(p[0] == 9 && p[99] == 9);
	free(p);
	/* A large block the machine could hold is still granted. */
	p = malloc((size_t)1 << 30);
	ATF_REQUIRE(p != NULL);
	p[0] = p[((size_t)1 << 30) - 1] = 1;
	free(p);
}

/*
 * malloc's size classes: kmem's, and between them the malloc classes,
 * four to a power of two, so that no request of more than 16 bytes
 * wastes more than a fifth of its block.  Every size up to the largest
 * class gets the smallest that holds it, 16-byte aligned above 8 bytes.
 */
static const size_t malloc_class[] = {
	8, 16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384,
	448, 512, 640, 768, 896, 1024, 1280, 1536, 1792, 2048, 2560, 3072,
	3584, 4096, 5120, 6144, 7168, 8192, 10240, 12288, 14336, 16384,
	20480, 24576, 28672, 32768, 40960, 49152, 57344, 65536,
};

ATF_TC_WITHOUT_HEAD(classes);
ATF_TC_BODY(classes, tc)
{
	size_t c = 0;
	void *p;

	require_nbmem();
	for (size_t n = 1; n <= 65536; n++) {
		while (malloc_class[c] < n)
			c++;
		p = malloc(n);
		ATF_REQUIRE(p != NULL);
		if (malloc_usable_size(p) != malloc_class[c])
			ATF_REQUIRE_MSG(false, "malloc(%zu): %zu usable bytes, "
			    "expected %zu", n, malloc_usable_size(p),
			    malloc_class[c]);
		ATF_REQUIRE(n <= 8 || ((uintptr_t)p & 15) == 0);
		ATF_REQUIRE(n <= 16 || malloc_class[c] - n < n / 4 + 16);
		free(p);
	}
}

/*
 * A small block that realloc must move grows by at least a quarter, so
 * that a string grown a few bytes at a time is not copied into every
 * class on its way; a growth by more than that gets what it asks.
 */
ATF_TC_WITHOUT_HEAD(realloc_small_step);
ATF_TC_BODY(realloc_small_step, tc)
{
	char *p, *q;

	require_nbmem();
	p = malloc(100);			/* 112 */
	ATF_REQUIRE(p != NULL);
	memset(p, 'a', 100);
	q = realloc(p, 113);			/* 112 + 28: 160, not 128 */
	ATF_REQUIRE(q != NULL);
	ATF_CHECK_EQ(malloc_usable_size(q), 160);
	ATF_CHECK(q[0] == 'a' && q[99] == 'a');
	p = realloc(q, 4000);			/* more than a quarter */
	ATF_REQUIRE(p != NULL);
	ATF_CHECK_EQ(malloc_usable_size(p), 4096);
	ATF_CHECK(p[0] == 'a' && p[99] == 'a');
	q = realloc(p, 4097);			/* 4096 + 1024 */
	ATF_REQUIRE(q != NULL);
	ATF_CHECK_EQ(malloc_usable_size(q), 5120);
	free(q);
	p = malloc(57344);
	ATF_REQUIRE(p != NULL);
	q = realloc(p, 60000);			/* no more than the classes */
	ATF_REQUIRE(q != NULL);
	ATF_CHECK_EQ(malloc_usable_size(q), 65536);
	free(q);
	p = malloc(57344);
	ATF_REQUIRE(p != NULL);
	memset(p, 'b', 57344);
	q = realloc(p, 70000);			/* the large path, as asked */
	ATF_REQUIRE(q != NULL);
	ATF_CHECK(malloc_usable_size(q) >= 70000 &&
	    malloc_usable_size(q) < 70000 + 8192);
	ATF_CHECK(q[57343] == 'b');
	free(q);
}

/*
 * Alignments of 32 and 64 bytes come from kmem's classes (64-byte
 * aligned from 64 bytes), not from the malloc classes between them,
 * which are only 16-byte aligned (80, 96, 112...).
 */
ATF_TC_WITHOUT_HEAD(memalign_between_classes);
ATF_TC_BODY(memalign_between_classes, tc)
{
	enum { N = 16 };
	void *p[N];

	require_nbmem();
	for (size_t a = 32; a <= 64; a *= 2)
		for (size_t n = 1; n <= 4096; n += 8) {
			for (int i = 0; i < N; i++) {
				ATF_REQUIRE_EQ(posix_memalign(&p[i], a, n), 0);
				if (((uintptr_t)p[i] & (a - 1)) != 0)
					ATF_REQUIRE_MSG(false, "posix_memalign"
					    "(%zu, %zu): %p", a, n, p[i]);
				ATF_REQUIRE(malloc_usable_size(p[i]) >= n);
			}
			for (int i = 0; i < N; i++)
				free(p[i]);
		}
}

/* Small over-aligned requests take the power-of-two class, not a page. */
ATF_TC_WITHOUT_HEAD(memalign_small);
ATF_TC_BODY(memalign_small, tc)
{
	void *p[64];

	require_nbmem();
	for (size_t a = 128; a <= 2048; a *= 2) {
		for (int i = 0; i < 64; i++) {
			ATF_REQUIRE_EQ(posix_memalign(&p[i], a, (size_t)i + 1),
			    0);
			ATF_CHECK(((uintptr_t)p[i] & (a - 1)) == 0);
			ATF_CHECK_EQ(malloc_usable_size(p[i]), a);
		}
		for (int i = 0; i < 64; i++)
			free(p[i]);
		p[0] = memalign(a, a + 1);
		ATF_CHECK(((uintptr_t)p[0] & (a - 1)) == 0);
		ATF_CHECK_EQ(malloc_usable_size(p[0]), 2 * a < 4096 ? 2 * a :
		    4096);
		free(p[0]);
	}
}

/*
 * Small objects of two threads on two CPUs must not share a cache line
 * (the false sharing of Hoard's cache-thrash test): each thread's first
 * miss takes a run of consecutive objects from the pool, and hands out
 * the run's first, never the neighbour of the other thread's object.
 */
#define	APART_N	8

struct apart {
	int		cpu;
	int		me;
	void		*obj[APART_N];
};

static int apart_turn;		/* whose malloc is next: 0 or 1 */
static int apart_done;		/* both allocated everything */

static void *
apart_thread(void *arg)
{
	struct apart *a = arg;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(a->cpu, &set);
	(void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	/* Turns: A, B, A, B, ... each on an empty slot at first. */
	for (int i = 0; i < APART_N; i++) {
		while (__atomic_load_n(&apart_turn, __ATOMIC_ACQUIRE) != a->me)
			sched_yield();
		a->obj[i] = malloc(16);
		__atomic_store_n(&apart_turn, 1 - a->me, __ATOMIC_RELEASE);
	}
	while (__atomic_load_n(&apart_done, __ATOMIC_ACQUIRE) == 0)
		sched_yield();
	for (int i = 0; i < APART_N; i++)
		free(a->obj[i]);
	return NULL;
}

ATF_TC_WITHOUT_HEAD(small_objects_of_two_cpus_apart);
ATF_TC_BODY(small_objects_of_two_cpus_apart, tc)
{
	struct apart a[2];
	pthread_t t[2];
	cpu_set_t set;
	int cpus[2], n = 0, shared = 0;

	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		atf_tc_skip("sched_getaffinity failed");
	for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
		if (CPU_ISSET(c, &set))
			cpus[n++] = c;
	if (n < 2)
		atf_tc_skip("one CPU only");
	for (int i = 0; i < 2; i++) {
		memset(&a[i], 0, sizeof(a[i]));
		a[i].cpu = cpus[i];
		a[i].me = i;
		ATF_REQUIRE(pthread_create(&t[i], NULL, apart_thread,
		    &a[i]) == 0);
	}
	while (__atomic_load_n(&a[1].obj[APART_N - 1], __ATOMIC_ACQUIRE) ==
	    NULL)
		sched_yield();
	for (int i = 0; i < APART_N; i++)
		for (int j = 0; j < APART_N; j++)
			if ((uintptr_t)a[0].obj[i] / 64 ==
			    (uintptr_t)a[1].obj[j] / 64)
				shared++;
	ATF_CHECK_EQ_MSG(shared, 0, "%d pairs of objects of the two "
	    "threads share a cache line", shared);
	__atomic_store_n(&apart_done, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, small_objects_of_two_cpus_apart);
	ATF_TP_ADD_TC(tp, large_cache);
	ATF_TP_ADD_TC(tp, large_cache_bound);
	ATF_TP_ADD_TC(tp, large_cache_demand);
	ATF_TP_ADD_TC(tp, large_cache_idle);
	ATF_TP_ADD_TC(tp, large_cache_idle_taken);
	ATF_TP_ADD_TC(tp, realloc_large_inplace);
	ATF_TP_ADD_TC(tp, realloc_large_moves);
	ATF_TP_ADD_TC(tp, large_miss_takes_cached_pages);
	ATF_TP_ADD_TC(tp, large_miss_moves_moved_pages);
	ATF_TP_ADD_TC(tp, large_moved_pages_stay_with_many_mappings);
	ATF_TP_ADD_TC(tp, realloc_grows_in_place);
	ATF_TP_ADD_TC(tp, large_miss_no_cancellation_point);
	ATF_TP_ADD_TC(tp, large_miss_counts_few_mappings);
	ATF_TP_ADD_TC(tp, large_miss_many_live);
	ATF_TP_ADD_TC(tp, realloc_move_fills_tail);
	ATF_TP_ADD_TC(tp, large_miss_move_fails);
	ATF_TP_ADD_TC(tp, realloc_move_refused_once);
	ATF_TP_ADD_TC(tp, realloc_mappings_bounded);
	ATF_TP_ADD_TC(tp, memalign_small);
	ATF_TP_ADD_TC(tp, classes);
	ATF_TP_ADD_TC(tp, realloc_small_step);
	ATF_TP_ADD_TC(tp, memalign_between_classes);
	ATF_TP_ADD_TC(tp, beyond_ram_and_swap);
	ATF_TP_ADD_TC(tp, sizes);
	ATF_TP_ADD_TC(tp, zero_null);
	ATF_TP_ADD_TC(tp, align16);
	ATF_TP_ADD_TC(tp, memalign_all);
	ATF_TP_ADD_TC(tp, memalign_odd);
	ATF_TP_ADD_TC(tp, aligned_alloc_c17);
	ATF_TP_ADD_TC(tp, libc_names);
	ATF_TP_ADD_TC(tp, mallopt_answers);
	ATF_TP_ADD_TC(tp, calloc_overflow);
	ATF_TP_ADD_TC(tp, realloc_all);
	ATF_TP_ADD_TC(tp, realloc_boundaries);
	ATF_TP_ADD_TC(tp, errno_kept);
	ATF_TP_ADD_TC(tp, threads);
	ATF_TP_ADD_TC(tp, fork_while_allocating);
	ATF_TP_ADD_TC(tp, foreign_pointer);
	ATF_TP_ADD_TC(tp, page_map_two_windows);
	ATF_TP_ADD_TC(tp, free_interior);
	ATF_TP_ADD_TC(tp, trim);
	ATF_TP_ADD_TC(tp, mallinfo2_live);
	ATF_TP_ADD_TC(tp, malloc_info_xml);
	return atf_no_error();
}

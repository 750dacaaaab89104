/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_kmem_random: kmem against a reference model of live allocations,
 * with random operations.
 *
 * The model is the array of live allocations (address, size, pattern
 * seed, allocating function).  Each step allocates (kmem_alloc,
 * kmem_zalloc, kmem_intr_alloc, kmem_intr_zalloc, kmem_strdupsize,
 * kmem_asprintf, kmem_tmpbuf_alloc without a stack buffer, or
 * nbmem_kmem_raw_alloc) with a size from 1 byte to 1 MiB drawn
 * log-uniformly, or frees a random live allocation with a matching free
 * function.  After each step:
 *   - a new allocation must not overlap any live one (the model keeps
 *     them sorted by address), must have its class's alignment, must be
 *     zero where zeroing was asked, and gets a pattern written over all
 *     of its bytes;
 *   - a freed allocation must still hold its whole pattern (nothing
 *     else wrote into it).
 * The live-allocation target cycles between 10 and 2000, and every
 * CHECK_EVERY steps every live allocation's pattern is verified.
 *
 * Seed and length: NBMEM_TEST_SEED (default fixed), NBMEM_TEST_OPS
 * (default 1000000).  The seed is printed; a failure names the step.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <atf-c.h>

#include "internal.h"

#include <nbmem/kmem.h>

#define	DEFAULT_SEED	UINT64_C(0x6e626d656d6b6d31)
#define	DEFAULT_OPS	1000000
#define	CHECK_EVERY	100000
#define	MAXLIVE		4096
#define	MAXSIZE		(1u << 20)
#define	LIVE_TARGET	(10 + (step / 100000 % 2) * 1990)

enum how { H_ALLOC, H_ZALLOC, H_INTR, H_INTRZ, H_STRDUP, H_ASPRINTF,
	H_TMPBUF, H_RAW, H_NHOW };

struct live {
	unsigned char	*p;
	size_t		size;
	uint64_t	pat;
	enum how	how;
};

static struct live live[MAXLIVE];
static size_t nlive;
static uint64_t rng;
static unsigned long step;

static uint64_t
rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/*
 * 1 .. MAXSIZE, log-uniform within two bands: nine steps in ten below
 * 16 KiB (every class is hit often), one in ten from 16 KiB to 1 MiB
 * (the largest classes and the large path).
 */
static size_t
rnd_size(void)
{
	unsigned int bits = rnd() % 10 != 0 ?
	    (unsigned int)(rnd() % 14) : 14 + (unsigned int)(rnd() % 7);
	size_t lo = (size_t)1 << bits;
	size_t n = lo + (size_t)(rnd() % lo);

	return n > MAXSIZE ? MAXSIZE : n;
}

/*
 * The bytes a pattern covers: all of an allocation up to SMALL bytes;
 * of a larger one its first and last REGION bytes and REGION bytes at a
 * place drawn from the pattern, so that a 1 MiB allocation does not
 * cost a write to every page.
 */
#define	SMALL		8192
#define	REGION		256

static bool
covered(const struct live *l, size_t i)
{
	size_t mid;

	if (l->size <= SMALL)
		return true;
	mid = (size_t)(l->pat % (l->size - REGION));
	return i < REGION || i >= l->size - REGION ||
	    (i >= mid && i < mid + REGION);
}

/* Next covered byte at or after i. */
static size_t
next_covered(const struct live *l, size_t i)
{
	size_t mid;

	if (l->size <= SMALL || covered(l, i))
		return i;
	mid = (size_t)(l->pat % (l->size - REGION));
	if (i < mid)
		return mid;
	return l->size - REGION > i ? l->size - REGION : i;
}

/* Pattern byte i of an allocation; never 0 (strings), never all same. */
static inline unsigned char
pat_byte(uint64_t pat, size_t i)
{
	unsigned char b = (unsigned char)((pat >> ((i & 7) * 8)) + i);

	return b == 0 ? 0x5a : b;
}

static void
pat_write(const struct live *l)
{
	size_t n = l->size;

	/* Strings keep their terminating NUL. */
	if (l->how == H_STRDUP || l->how == H_ASPRINTF)
		n--;
	for (size_t i = next_covered(l, 0); i < n; i = next_covered(l, i + 1))
		l->p[i] = pat_byte(l->pat, i);
}

static void
pat_check(const struct live *l, const char *when)
{
	size_t n = l->size;

	if (l->how == H_STRDUP || l->how == H_ASPRINTF) {
		n--;
		if (l->p[n] != '\0')
			atf_tc_fail("step %lu: %s: string %p (%zu) lost its NUL",
			    step, when, (void *)l->p, l->size);
	}
	for (size_t i = next_covered(l, 0); i < n; i = next_covered(l, i + 1))
		if (l->p[i] != pat_byte(l->pat, i))
			atf_tc_fail("step %lu: %s: %p (%zu bytes, how %d): byte "
			    "%zu is %#x, expected %#x", step, when, (void *)l->p,
			    l->size, l->how, i, l->p[i], pat_byte(l->pat, i));
}

/* The alignment kmem promises for n bytes (kmem(3), "Alignment"). */
static size_t
align_of(size_t n)
{
	if (n <= 32)
		return 8;
	if (n <= 1024)
		return 64;
	return n <= 2048 ? 64 : 4096;
}

/* Index of the first live allocation at or above p. */
static size_t
live_find(const unsigned char *p)
{
	size_t lo = 0, hi = nlive;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (live[mid].p < p)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void
live_insert(const struct live *l)
{
	size_t i = live_find(l->p);

	if (i < nlive && live[i].p < l->p + l->size)
		atf_tc_fail("step %lu: %p (%zu) overlaps live %p (%zu)", step,
		    (void *)l->p, l->size, (void *)live[i].p, live[i].size);
	if (i > 0 && live[i - 1].p + live[i - 1].size > l->p)
		atf_tc_fail("step %lu: %p (%zu) overlaps live %p (%zu)", step,
		    (void *)l->p, l->size, (void *)live[i - 1].p,
		    live[i - 1].size);
	memmove(&live[i + 1], &live[i], (nlive - i) * sizeof(live[0]));
	live[i] = *l;
	nlive++;
}

static void
do_alloc(void)
{
	struct live l;
	char *s;
	size_t n = rnd_size(), len;

	l.how = (enum how)(rnd() % H_NHOW);
	l.pat = rnd();
	switch (l.how) {
	case H_ALLOC:
		l.p = kmem_alloc(n, KM_SLEEP);
		break;
	case H_ZALLOC:
		l.p = kmem_zalloc(n, (rnd() & 1) ? KM_SLEEP : KM_NOSLEEP);
		break;
	case H_INTR:
		l.p = kmem_intr_alloc(n, (rnd() & 1) ? KM_SLEEP : KM_NOSLEEP);
		break;
	case H_INTRZ:
		l.p = kmem_intr_zalloc(n, KM_SLEEP);
		break;
	case H_STRDUP:
	case H_ASPRINTF:
		/* A string of n - 1 characters (n >= 1), short: copied whole. */
		if (n > SMALL)
			n = n % SMALL + 1;
		s = malloc(n);
		ATF_REQUIRE(s != NULL);
		for (size_t i = 0; i + 1 < n; i++)
			s[i] = (char)pat_byte(l.pat, i);
		s[n - 1] = '\0';
		if (l.how == H_STRDUP) {
			l.p = (unsigned char *)kmem_strdupsize(s, &len,
			    KM_SLEEP);
			ATF_REQUIRE_EQ(len, n);
		} else
			l.p = (unsigned char *)kmem_asprintf("%s", s);
		ATF_REQUIRE(l.p != NULL);
		if (memcmp(l.p, s, n) != 0)
			atf_tc_fail("step %lu: string copy of %zu differs",
			    step, n);
		free(s);
		break;
	case H_TMPBUF:
		l.p = kmem_tmpbuf_alloc(n, NULL, 0, KM_SLEEP);
		break;
	case H_RAW:
		l.p = nbmem_kmem_raw_alloc(n, KM_SLEEP);
		break;
	default:
		abort();
	}
	l.size = n;
	/* KM_NOSLEEP may fail only for want of memory: there is no budget. */
	if (l.p == NULL)
		atf_tc_fail("step %lu: %zu bytes (how %d): NULL", step, n,
		    l.how);
	if (((uintptr_t)l.p & (align_of(n) - 1)) != 0)
		atf_tc_fail("step %lu: %p (%zu bytes) not %zu-aligned", step,
		    (void *)l.p, n, align_of(n));
	if (l.how == H_ZALLOC || l.how == H_INTRZ) {
		for (size_t i = next_covered(&l, 0); i < n;
		    i = next_covered(&l, i + 1))
			if (l.p[i] != 0)
				atf_tc_fail("step %lu: zeroed %p (%zu): byte %zu "
				    "is %#x", step, (void *)l.p, n, i, l.p[i]);
	}
	if (l.how != H_STRDUP && l.how != H_ASPRINTF)
		pat_write(&l);
	live_insert(&l);
}

static void
do_free(void)
{
	size_t i = (size_t)(rnd() % nlive);
	struct live l = live[i];

	pat_check(&l, "free");
	memmove(&live[i], &live[i + 1], (nlive - i - 1) * sizeof(live[0]));
	nlive--;
	switch (l.how) {
	case H_STRDUP:
	case H_ASPRINTF:
		if (rnd() & 1)
			kmem_strfree((char *)l.p);
		else
			kmem_free(l.p, l.size);
		break;
	case H_TMPBUF:
		kmem_tmpbuf_free(l.p, l.size, NULL);
		break;
	case H_RAW:
		nbmem_kmem_raw_free(l.p, l.size);
		break;
	default:
		/* Memory of the plain and _intr_ variants is the same. */
		if (rnd() & 1)
			kmem_intr_free(l.p, l.size);
		else
			kmem_free(l.p, l.size);
		break;
	}
}

ATF_TC(random_ops);
ATF_TC_HEAD(random_ops, tc)
{
	atf_tc_set_md_var(tc, "descr", "kmem against a model of the live "
	    "allocations, NBMEM_TEST_OPS random steps");
	atf_tc_set_md_var(tc, "timeout", "600");
}
ATF_TC_BODY(random_ops, tc)
{
	const char *e;
	uint64_t seed = DEFAULT_SEED;
	unsigned long ops = DEFAULT_OPS;

	if ((e = getenv("NBMEM_TEST_SEED")) != NULL)
		seed = strtoull(e, NULL, 0);
	if ((e = getenv("NBMEM_TEST_OPS")) != NULL)
		ops = strtoul(e, NULL, 0);
	printf("t_kmem_random: seed %#" PRIx64 ", %lu steps\n", seed, ops);
	rng = seed;

	for (step = 0; step < ops; step++) {
		size_t target = LIVE_TARGET;
		bool alloc = nlive == 0 || (nlive < MAXLIVE &&
		    (nlive < target ? rnd() % 4 != 0 : rnd() % 4 == 0));
		if (alloc)
			do_alloc();
		else
			do_free();
		if (step % CHECK_EVERY == CHECK_EVERY - 1)
			for (size_t i = 0; i < nlive; i++)
				pat_check(&live[i], "periodic check");
	}
	while (nlive > 0)
		do_free();
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, random_ops);
	return atf_no_error();
}

/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_pool_random: pool(3) against a reference model, with random
 * operations.
 *
 * The model of a pool is the set of its live items, each with the seed
 * of the byte pattern written over its requested size when it was got.
 * Eight pools run side by side, one per layout of spec 2.3: a free list
 * on the page, a bitmap on the page (aligned, and PR_NOTOUCH grown
 * headers), headers off the page looked up exactly and, for PR_NOALIGN,
 * by the nearest page below, one item per page, and 64 KiB pages of a
 * custom allocator.  Each step picks a pool and gets (PR_WAITOK or
 * PR_NOWAIT, sometimes PR_ZERO) or puts a random live item; rarely it
 * moves the water marks, primes, or advances the injected clock and
 * reclaims.  After each step:
 *   - a new item is aligned, zeroed when PR_ZERO was asked, and not live
 *     anywhere (a hash set of every live item of every pool);
 *   - a returned item still holds its pattern (no other item overlaps
 *     it, nothing wrote into it);
 *   - pr_nout, pr_nget and pr_nput equal the model's counts, and the
 *     page counters keep their relations.
 * Every CHECK_EVERY steps pool_chk() walks every pool.
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
#include <time.h>

#include <atf-c.h>

#include "internal.h"
#include "pool_impl.h"

#define	DEFAULT_SEED	UINT64_C(0x6e626d656d706f6f)
#define	DEFAULT_OPS	1000000
#define	CHECK_EVERY	10000
#define	NPOOLS		8
#define	MAXLIVE		4096
/* Live items per pool swing between few and many every 40000 steps. */
#define	LIVE_TARGET(step) (32 + ((step) / 40000 % 4) * 700)
#define	SETSIZE		(1u << 16)	/* > NPOOLS * MAXLIVE, a power of 2 */

static uint64_t rng, seed;

static uint64_t
rnd(void)
{
	/* xorshift64* (Vigna 2016) */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * UINT64_C(0x2545f4914f6cdd1d);
}

static uint64_t
rndn(uint64_t n)
{
	return rnd() % n;
}

static uint64_t
env_u64(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);

	return s != NULL && *s != '\0' ? strtoull(s, NULL, 0) : dflt;
}

static uint64_t fake_now = 1000000000000ull;

static uint64_t
fake_clock(void)
{
	return fake_now;
}

/* ---- the set of every live item */

static uintptr_t liveset[SETSIZE];

static size_t
set_slot(uintptr_t v)
{
	return (size_t)((v * UINT64_C(0x9e3779b97f4a7c15)) >> 48) &
	    (SETSIZE - 1);
}

static bool
set_has(uintptr_t v)
{
	for (size_t i = set_slot(v);; i = (i + 1) & (SETSIZE - 1)) {
		if (liveset[i] == v)
			return true;
		if (liveset[i] == 0)
			return false;
	}
}

static void
set_add(uintptr_t v)
{
	size_t i = set_slot(v);

	while (liveset[i] != 0)
		i = (i + 1) & (SETSIZE - 1);
	liveset[i] = v;
}

static void
set_del(uintptr_t v)	/* linear probing: re-insert the cluster after */
{
	size_t i = set_slot(v), j;

	while (liveset[i] != v)
		i = (i + 1) & (SETSIZE - 1);
	liveset[i] = 0;
	for (j = (i + 1) & (SETSIZE - 1); liveset[j] != 0;
	    j = (j + 1) & (SETSIZE - 1)) {
		uintptr_t w = liveset[j];
		liveset[j] = 0;
		set_add(w);
	}
}

/* ---- the models */

struct live {
	unsigned char	*v;
	uint32_t	pat;
};

struct model {
	struct pool	pool;
	const char	*name;
	size_t		size;
	unsigned int	align;
	int		flags;
	struct pool_allocator *pa;
	int		ipl;
	struct live	*live;
	unsigned int	nlive;
	unsigned long	nget, nput;
};

static void *
big_alloc(struct pool *pp, int flags)
{
	void *v;

	(void)flags;
	if (posix_memalign(&v, pp->pr_alloc->pa_pagesz,
	    pp->pr_alloc->pa_pagesz) != 0)
		return NULL;
	return v;
}

static void
big_free(struct pool *pp, void *v)
{
	(void)pp;
	free(v);
}

static struct pool_allocator big64k = {
	.pa_alloc = big_alloc, .pa_free = big_free, .pa_pagesz = 65536,
};

static struct model models[NPOOLS] = {
	{ .name = "rnd-list", .size = 24 },
	{ .name = "rnd-bmap", .size = 100, .align = 16, .ipl = IPL_VM },
	{ .name = "rnd-aligned", .size = 64, .align = 64 },
	{ .name = "rnd-notouch", .size = 12, .flags = PR_NOTOUCH |
	    PR_PHINPAGE },
	{ .name = "rnd-offpage", .size = 1024, .ipl = IPL_VM },
	{ .name = "rnd-noalign", .size = 200, .flags = PR_NOALIGN },
	{ .name = "rnd-one", .size = 3000 },
	{ .name = "rnd-big", .size = 48, .align = 32, .pa = &big64k },
};

static void
pattern(unsigned char *v, size_t n, uint32_t pat)
{
	for (size_t i = 0; i < n; i++)
		v[i] = (unsigned char)(pat + i * 7);
}

static void
pattern_check(struct model *m, unsigned char *v, uint32_t pat,
    unsigned long step)
{
	for (size_t i = 0; i < m->size; i++)
		if (v[i] != (unsigned char)(pat + i * 7))
			atf_tc_fail("step %lu: %s: item %p byte %zu changed "
			    "while out (seed %#" PRIx64 ")", step, m->name,
			    (void *)v, i, seed);
}

static void
counters_check(struct model *m, unsigned long step)
{
	struct pool *pp = &m->pool;

	if (pp->pr_nout != m->nlive || pp->pr_nget != m->nget ||
	    pp->pr_nput != m->nput)
		atf_tc_fail("step %lu: %s: nout %u nget %lu nput %lu, model "
		    "%u %lu %lu (seed %#" PRIx64 ")", step, m->name,
		    pp->pr_nout, pp->pr_nget, pp->pr_nput, m->nlive, m->nget,
		    m->nput, seed);
	if (pp->pr_npagealloc - pp->pr_npagefree != pp->pr_npages ||
	    pp->pr_hiwat < pp->pr_npages || pp->pr_nidle > pp->pr_npages ||
	    pp->pr_nout + pp->pr_nitems != pp->pr_npages * pp->pr_itemsperpage)
		atf_tc_fail("step %lu: %s: page counters disagree (seed %#"
		    PRIx64 ")", step, m->name, seed);
}

static void
do_get(struct model *m, unsigned long step)
{
	struct pool *pp = &m->pool;
	int flags = rndn(2) ? PR_WAITOK : PR_NOWAIT;
	unsigned char *v;
	size_t align = m->align != 0 ? m->align : 8;

	if (rndn(8) == 0)
		flags |= PR_ZERO;
	v = pool_get(pp, flags);
	if (v == NULL) {
		if (flags & PR_WAITOK)
			atf_tc_fail("step %lu: %s: PR_WAITOK get failed",
			    step, m->name);
		return;	/* the page layer may refuse PR_NOWAIT */
	}
	m->nget++;
	if (((uintptr_t)v & (align - 1)) != 0)
		atf_tc_fail("step %lu: %s: %p not aligned to %zu", step,
		    m->name, (void *)v, align);
	if (set_has((uintptr_t)v))
		atf_tc_fail("step %lu: %s: %p handed out twice (seed %#"
		    PRIx64 ")", step, m->name, (void *)v, seed);
	if (flags & PR_ZERO)
		for (size_t i = 0; i < m->size; i++)
			if (v[i] != 0)
				atf_tc_fail("step %lu: %s: PR_ZERO item %p "
				    "byte %zu not zero", step, m->name,
				    (void *)v, i);
	set_add((uintptr_t)v);
	uint32_t pat = (uint32_t)rnd();
	pattern(v, m->size, pat);
	m->live[m->nlive].v = v;
	m->live[m->nlive].pat = pat;
	m->nlive++;
}

static void
do_put(struct model *m, unsigned long step)
{
	unsigned int k = (unsigned int)rndn(m->nlive);
	struct live l = m->live[k];

	pattern_check(m, l.v, l.pat, step);
	m->live[k] = m->live[--m->nlive];
	set_del((uintptr_t)l.v);
	pool_put(&m->pool, l.v);
	m->nput++;
}

static void
do_rare(struct model *m, unsigned long step)
{
	struct pool *pp = &m->pool;
	unsigned int ipp = pp->pr_itemsperpage;

	switch (rndn(6)) {
	case 0:
		pool_setlowat(pp, (int)rndn(2 * ipp + 1));
		break;
	case 1:
		pool_sethiwat(pp, rndn(3) == 0 ? 0 : (int)rndn(8 * ipp + 1));
		break;
	case 2:
		pool_sethiwat(pp, 0x7fffffff);
		pool_setlowat(pp, 0);
		break;
	case 3:
		pool_prime(pp, (int)rndn(3 * ipp + 1));
		break;
	default:
		fake_now += rndn(15) * 1000000000ull;
		(void)pool_reclaim(pp);
		break;
	}
	(void)step;
}

ATF_TC(random_ops);
ATF_TC_HEAD(random_ops, tc)
{
	atf_tc_set_md_var(tc, "descr", "pool against a reference model "
	    "(NBMEM_TEST_SEED, NBMEM_TEST_OPS)");
	atf_tc_set_md_var(tc, "timeout", "600");
}
ATF_TC_BODY(random_ops, tc)
{
	unsigned long nops, step;
	struct timespec t0, t1;

	seed = env_u64("NBMEM_TEST_SEED", DEFAULT_SEED);
	nops = (unsigned long)env_u64("NBMEM_TEST_OPS", DEFAULT_OPS);
	rng = seed != 0 ? seed : 1;
	printf("NBMEM_TEST_SEED=%#" PRIx64 " NBMEM_TEST_OPS=%lu\n", seed,
	    nops);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	nbmem_pool_clock_set(fake_clock);

	for (int i = 0; i < NPOOLS; i++) {
		struct model *m = &models[i];
		pool_init(&m->pool, m->size, m->align, 0, m->flags, m->name,
		    m->pa, m->ipl);
		m->live = calloc(MAXLIVE, sizeof(*m->live));
		ATF_REQUIRE(m->live != NULL);
	}
	for (step = 0; step < nops; step++) {
		struct model *m = &models[rndn(NPOOLS)];
		unsigned int target = LIVE_TARGET(step);
		if (target > MAXLIVE)
			target = MAXLIVE;
		uint64_t r = rndn(1000);
		if (r == 0)
			do_rare(m, step);
		else if (m->nlive == 0 || (m->nlive < MAXLIVE &&
		    rndn(2 * target) >= m->nlive))
			do_get(m, step);
		else
			do_put(m, step);
		counters_check(m, step);
		if (step % CHECK_EVERY == 0)
			for (int i = 0; i < NPOOLS; i++)
				if (pool_chk(&models[i].pool, "random") != 0)
					atf_tc_fail("step %lu: %s: pool_chk "
					    "(seed %#" PRIx64 ")", step,
					    models[i].name, seed);
	}
	for (int i = 0; i < NPOOLS; i++) {
		struct model *m = &models[i];
		while (m->nlive > 0)
			do_put(m, step);
		counters_check(m, step);
		ATF_CHECK_EQ(pool_chk(&m->pool, "end"), 0);
		pool_destroy(&m->pool);
		free(m->live);
	}
	nbmem_pool_clock_set(NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%lu operations in %.2f s\n", nops,
	    (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, random_ops);
	return atf_no_error();
}

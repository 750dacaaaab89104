/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * growshrink: a long-running program whose live set rises and falls.
 *
 * Long-running programs (a server between load peaks, a compiler
 * between functions, an editor between files) go through phases: the
 * live set grows to a peak, most of it dies, and the next phase asks
 * for objects of other sizes.  What counts then is not only speed but
 * whether the memory of the last peak comes back to the system and can
 * serve the next phase; M. Johnstone and P. Wilson, "The Memory
 * Fragmentation Problem: Solved?", ISMM 1998, measure fragmentation
 * over such phases.
 *
 * cycles= cycles; in each, objects are allocated (one in four steps
 * frees a random live object instead) until peak= MiB are live, then
 * random objects are freed until a tenth is left.  Even cycles use
 * small objects (16 to 256 bytes), odd ones medium objects (256 bytes
 * to 16 KiB), so what survives a shrink is scattered among the pages
 * the next phase wants.  Every sample= steps a line
 *
 *	macro_rss step=N t_ms=T live_kb=L rss_kb=R
 *
 * records the resident set (from /proc/self/statm) against the bytes
 * live, after N steps (allocations and frees); the closing line adds
 * the mean resident set at the low points (rss_low_kb) and at the end
 * (rss_end_kb).
 */
#define	MACRO_NAME	"growshrink"
#include "macro.h"

struct gs_obj {
	void		*o_p;
	size_t		o_size;
};

static struct gs_obj *gs_objs;
static size_t gs_n, gs_cap, gs_live;

static void
gs_add(size_t sz)
{
	if (gs_n == gs_cap) {
		gs_cap = gs_cap == 0 ? 65536 : gs_cap * 2;
		gs_objs = realloc(gs_objs, gs_cap * sizeof(*gs_objs));
		if (gs_objs == NULL)
			mk_die("no memory for the table");
	}
	gs_objs[gs_n].o_p = mk_alloc_stamped(sz);
	gs_objs[gs_n].o_size = sz;
	gs_n++;
	gs_live += sz;
}

static void
gs_drop(mk_rng_t *r)
{
	size_t k = (size_t)mk_below(r, gs_n);

	mk_free_stamped(gs_objs[k].o_p, gs_objs[k].o_size);
	gs_live -= gs_objs[k].o_size;
	gs_objs[k] = gs_objs[--gs_n];
}

int
main(int argc, char **argv)
{
	static const char *const keys[] = { "threads", "scale", "seed",
	    "cycles", "peak", "sample", NULL };
	long cycles, c, steps = 0, sample, nlow = 0;
	size_t peak, lo, hi;
	uint64_t seed, t0;
	double scale, lowsum = 0;
	mk_rng_t rng;

	mk_check_args(argc, argv, keys);
	(void)mk_threads(argc, argv, 1);
	scale = mk_arg_double(argc, argv, "scale", 1);
	seed = (uint64_t)mk_arg_long(argc, argv, "seed", 1);
	cycles = mk_arg_long(argc, argv, "cycles", 6);
	peak = (size_t)mk_scaled(scale, mk_arg_long(argc, argv, "peak", 64) <<
	    20, 65536);
	sample = mk_arg_long(argc, argv, "sample", 50000);
	if (cycles < 1 || sample < 1)
		mk_die("want cycles >= 1 and sample >= 1");

	t0 = mk_now_ns();
	mk_seed(&rng, seed, 0);
#define	GS_SAMPLE() do {						\
	if (++steps % sample == 0)					\
		printf("macro_rss step=%ld t_ms=%.1f live_kb=%zu "	\
		    "rss_kb=%ld\n", steps,				\
		    (double)(mk_now_ns() - t0) / 1e6, gs_live / 1024,	\
		    mk_rss_kb());					\
} while (0)
	for (c = 0; c < cycles; c++) {
		if (c % 2 == 0) {
			lo = 16;
			hi = 256;
		} else {
			lo = 256;
			hi = 16384;
		}
		while (gs_live < peak) {
			if (gs_n > 0 && mk_below(&rng, 4) == 0)
				gs_drop(&rng);
			else
				gs_add(mk_range(&rng, lo, hi));
			GS_SAMPLE();
		}
		while (gs_n > 0 && gs_live > peak / 10) {
			gs_drop(&rng);
			GS_SAMPLE();
		}
		lowsum += (double)mk_rss_kb();
		nlow++;
	}
#undef GS_SAMPLE
	while (gs_n > 0)
		gs_drop(&rng);
	free(gs_objs);
	mk_result(1, steps, t0, "peak_kb=%zu rss_low_kb=%.0f rss_end_kb=%ld",
	    peak >> 10, lowsum / (double)nlow, mk_rss_kb());
	return 0;
}

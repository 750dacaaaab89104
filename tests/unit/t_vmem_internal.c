/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_vmem_internal: white-box tests of vmem.c and vmem_bt.c through the
 * private interfaces of internal.h and the layout in vmem_impl.h: the
 * allocated-segment hash resizing inline, segment cookies, the tag supply
 * and the per-arena tag cache, and nbmem_vmem_check() finding each kind
 * of damage (which the randomized test relies on).
 */
#include <sys/mman.h>
#include <sys/wait.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <atf-c.h>

/* Set when the build passes the library's SANITY setting to tests. */
#ifdef NBMEM_CONFIG_SANITY
#define	SANITY_KNOWN	1
#else
#define	SANITY_KNOWN	0
#endif

#include "internal.h"
#include "lock.h"
#include "vmem_impl.h"

#include "nbtest.h"

#define	BF	(VM_BESTFIT | VM_NOSLEEP)

static vmem_t *
mk(const char *name, vmem_addr_t base, vmem_size_t size, vmem_size_t q,
    int ipl)
{
	vmem_t *vm;

	vm = vmem_create(name, base, size, q, NULL, NULL, NULL, 0, VM_SLEEP,
	    ipl);
	ATF_REQUIRE(vm != NULL);
	return vm;
}

static void
check_locked(vmem_t *vm)
{
	mutex_enter(&vm->vm_lock);
	nbmem_vmem_check(vm);
	mutex_exit(&vm->vm_lock);
}

/* ---- is the library a SANITY build? */

static vmem_t *damaged_base(const char *);

/* Damage the accounting, then make an ordinary call. */
static void
damage_then_operate(void *arg)
{
	vmem_t *vm = damaged_base("sanity");
	vmem_addr_t a;

	vm->vm_inuse += 0x10;
	(void)vmem_alloc(vm, 0x10, BF, &a);
}

/*
 * In a SANITY build every operation ends with the whole-arena check, so
 * the call above aborts; otherwise it returns.  Tests are compiled apart
 * from the library, so ask it (once, in a child).
 */
static bool
sanity_build(void)
{
	static int known = -1;
	int status;
	pid_t pid;

	if (known >= 0)
		return known;
	pid = fork();
	ATF_REQUIRE(pid >= 0);
	if (pid == 0) {
		close(STDERR_FILENO);
		damage_then_operate(NULL);
		_exit(0);
	}
	ATF_REQUIRE_EQ(waitpid(pid, &status, 0), pid);
	known = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
	return known;
}

/* ---- getters */

ATF_TC_WITHOUT_HEAD(getters);
ATF_TC_BODY(getters, tc)
{
	vmem_t *vm = mk("getters-and-a-long-name", 0x1000, 0x1000, 0x40,
	    IPL_VM);

	ATF_CHECK_STREQ(nbmem_vmem_name(vm), "getters-and-a-lo");
	ATF_CHECK_EQ(strlen(nbmem_vmem_name(vm)), VMEM_NAME_MAX);
	ATF_CHECK_EQ(nbmem_vmem_ipl(vm), IPL_VM);
	ATF_CHECK_EQ(nbmem_vmem_quantum(vm), 0x40);
	ATF_CHECK_EQ(nbmem_vmem_nbusy(vm), 0);
	vmem_destroy(vm);

	vm = mk("q1", 0, 10, 1, IPL_NONE);
	ATF_CHECK_STREQ(nbmem_vmem_name(vm), "q1");
	ATF_CHECK_EQ(nbmem_vmem_ipl(vm), IPL_NONE);
	ATF_CHECK_EQ(nbmem_vmem_quantum(vm), 1);
	vmem_destroy(vm);
}

/* ---- the allocated-segment hash */

static int
hash_ok(vmem_t *vm, size_t *nbusyp, size_t *sizep)
{
	size_t nbusy = nbmem_vmem_nbusy(vm), hs = nbmem_vmem_hashsize(vm);

	*nbusyp = nbusy;
	*sizep = hs;
	/* a power of two, load at most 2, at least 1/8 above the inline */
	return (hs & (hs - 1)) == 0 && nbusy <= 2 * hs &&
	    (hs <= VMEM_HASH_INLINE || nbusy >= hs / 8);
}

ATF_TC(hash_grows_and_shrinks);
ATF_TC_HEAD(hash_grows_and_shrinks, tc)
{
	atf_tc_set_md_var(tc, "descr", "the hash keeps its load between 1/8 "
	    "and 2 while 10^5 segments come and go (a free stays O(1))");
	atf_tc_set_md_var(tc, "timeout", "120");
}
ATF_TC_BODY(hash_grows_and_shrinks, tc)
{
	/* A SANITY build walks the arena after each call: fewer there. */
	const int N = sanity_build() ? 5000 : 100000;
	vmem_t *vm = mk("hash", 0, (vmem_size_t)N, 1, IPL_NONE);
	vmem_addr_t *a;
	size_t nbusy, hs, peak = 0;
	int i;

	a = calloc((size_t)N, sizeof(*a));
	ATF_REQUIRE(a != NULL);
	ATF_CHECK(nbmem_vmem_hashsize(vm) <= VMEM_HASH_INLINE);
	for (i = 0; i < N; i++) {
		/* Busy segments never merge: each has its own tag. */
		ATF_REQUIRE_EQ(vmem_alloc(vm, 1, VM_INSTANTFIT | VM_NOSLEEP,
		    &a[i]), 0);
		if (i % 997 == 0)
			ATF_REQUIRE_MSG(hash_ok(vm, &nbusy, &hs), "growing: "
			    "%zu busy, %zu buckets", nbusy, hs);
	}
	ATF_CHECK_EQ(nbmem_vmem_nbusy(vm), (size_t)N);
	ATF_CHECK_MSG(hash_ok(vm, &nbusy, &hs), "%zu busy, %zu buckets",
	    nbusy, hs);
	peak = hs;
	ATF_CHECK_MSG(peak >= (size_t)N / 2, "%zu buckets for %d busy", peak,
	    N);
	check_locked(vm);
	/* Free from the middle out, so neither end is special. */
	for (i = 0; i < N; i++) {
		int k = (i % 2) ? N / 2 + i / 2 : N / 2 - 1 - i / 2;
		vmem_free(vm, a[k], 1);
		if (i % 997 == 0)
			ATF_REQUIRE_MSG(hash_ok(vm, &nbusy, &hs), "shrinking: "
			    "%zu busy, %zu buckets", nbusy, hs);
	}
	ATF_CHECK_EQ(nbmem_vmem_nbusy(vm), 0);
	ATF_CHECK(nbmem_vmem_hashsize(vm) <= VMEM_HASH_INLINE);
	check_locked(vm);
	free(a);
	vmem_destroy(vm);
}

/* ---- cookies */

ATF_TC_WITHOUT_HEAD(cookies);
ATF_TC_BODY(cookies, tc)
{
	vmem_t *vm = mk("cookies", 0x10000, 0x10000, 0x100, IPL_NONE);
	vmem_addr_t a[8];
	int i;

	for (i = 0; i < 8; i++)
		ATF_REQUIRE_EQ(vmem_alloc(vm, 0x100, BF, &a[i]), 0);
	/* A fresh segment carries 0. */
	ATF_CHECK_EQ(nbmem_vmem_xfree_cookie(vm, a[0], 0x100, ""), 0);
	for (i = 1; i < 8; i++)
		nbmem_vmem_cookie_set(vm, a[i], (unsigned int)(i * 37));
	nbmem_vmem_cookie_set(vm, a[7], 255);
	/* Frees around a segment (coalescing its neighbours) keep it. */
	ATF_CHECK_EQ(nbmem_vmem_xfree_cookie(vm, a[2], 0x100, ""), 2 * 37);
	ATF_CHECK_EQ(nbmem_vmem_xfree_cookie(vm, a[4], 0x100, ""), 4 * 37);
	ATF_CHECK_EQ(nbmem_vmem_xfree_cookie(vm, a[3], 0x100, ""), 3 * 37);
	ATF_CHECK_EQ(nbmem_vmem_xfree_cookie(vm, a[1], 0x100, ""), 37);
	ATF_CHECK_EQ(nbmem_vmem_xfree_cookie(vm, a[7], 0x100, ""), 255);
	ATF_CHECK_EQ(nbmem_vmem_xfree_cookie(vm, a[5], 0x100, ""), 5 * 37);
	ATF_CHECK_EQ(nbmem_vmem_xfree_cookie(vm, a[6], 0x100, ""), 6 * 37);
	/* Reused ranges start from 0 again. */
	ATF_REQUIRE_EQ(vmem_xalloc_addr(vm, a[7], 0x100, VM_NOSLEEP), 0);
	ATF_CHECK_EQ(nbmem_vmem_xfree_cookie(vm, a[7], 0x100, ""), 0);
	ATF_CHECK_EQ(vmem_size(vm, VMEM_ALLOC), 0);
	check_locked(vm);
	vmem_destroy(vm);
}

static void
do_cookie_unallocated(void *arg)
{
	vmem_t *vm = mk("cookie-free", 0x1000, 0x1000, 0x10, IPL_NONE);

	nbmem_vmem_cookie_set(vm, 0x1200, 1);
}

static void
do_cookie_free_twice(void *arg)
{
	vmem_t *vm = mk("cookie-twice", 0x1000, 0x1000, 0x10, IPL_NONE);
	vmem_addr_t a;

	(void)vmem_alloc(vm, 0x10, BF, &a);
	(void)nbmem_vmem_xfree_cookie(vm, a, 0x10, "vmem_xfree");
	(void)nbmem_vmem_xfree_cookie(vm, a, 0x10, "vmem_xfree");
}

ATF_TC_WITHOUT_HEAD(cookie_misuse);
ATF_TC_BODY(cookie_misuse, tc)
{
	nbt_death(do_cookie_unallocated, NULL,
	    "arena \"cookie-free\": 0x1200 is not allocated");
	nbt_death(do_cookie_free_twice, NULL,
	    "arena \"cookie-twice\": vmem_xfree: 0x1000 (size 0x10) was never "
	    "allocated");
}

/* ---- boundary tags */

ATF_TC_WITHOUT_HEAD(bt_supply);
ATF_TC_BODY(bt_supply, tc)
{
	enum { N = 3000 };	/* more than one 64 KiB chunk */
	static bt_t *seen[N];
	unsigned int got, i, j;
	bt_t *chain, *bt;

	/* "Up to n" per call, but every call makes progress. */
	for (i = 0; i < N; i += got) {
		chain = nbmem_bt_get(N - i, &got);
		ATF_REQUIRE(got > 0 && got <= N - i);
		for (j = 0, bt = chain; bt != NULL; bt = bt->bt_fnext, j++) {
			ATF_REQUIRE(j < got);
			seen[i + j] = bt;
		}
		ATF_REQUIRE_EQ(j, got);
	}
	/* Distinct and not overlapping: write each whole. */
	for (i = 0; i < N; i++)
		memset(seen[i], 0xa5 ^ (int)i, sizeof(bt_t));
	for (i = 0; i < N; i++) {
		const unsigned char *p = (const unsigned char *)seen[i];
		for (j = 0; j < sizeof(bt_t); j++)
			ATF_REQUIRE_EQ(p[j], (unsigned char)(0xa5 ^ i));
	}
	/* Put back as a chain again. */
	for (i = 0; i + 1 < N; i++)
		seen[i]->bt_fnext = seen[i + 1];
	seen[N - 1]->bt_fnext = NULL;
	nbmem_bt_put(seen[0], N);
	/* And they come back. */
	chain = nbmem_bt_get(16, &got);
	ATF_CHECK_EQ(got, 16);
	nbmem_bt_put(chain, got);
	nbmem_bt_put(NULL, 0);
}

ATF_TC_WITHOUT_HEAD(bt_cache_trimmed);
ATF_TC_BODY(bt_cache_trimmed, tc)
{
	enum { N = 5000 };
	vmem_t *vm = mk("bt-cache", 0, 4 * N, 1, IPL_NONE);
	static vmem_addr_t a[N];
	unsigned int peak;
	int i;

	for (i = 0; i < N; i++)
		ATF_REQUIRE_EQ(vmem_xalloc(vm, 1, 2, 0, 0, 0, VMEM_ADDR_MAX,
		    BF, &a[i]), 0);
	for (i = 0; i < N; i++)
		vmem_xfree(vm, a[i], 1);
	/* The tags of 10^4 segments went back to the supply, not kept. */
	mutex_enter(&vm->vm_lock);
	peak = vm->vm_nbtcache;
	mutex_exit(&vm->vm_lock);
	ATF_CHECK_MSG(peak <= 64, "%u spare tags kept", peak);
	ATF_CHECK_EQ(vmem_size(vm, VMEM_ALLOC), 0);
	vmem_destroy(vm);
}

/* ---- instant fit picks the first list that surely fits */

ATF_TC_WITHOUT_HEAD(instantfit_lists);
ATF_TC_BODY(instantfit_lists, tc)
{
	const vm_flag_t IF = VM_INSTANTFIT | VM_NOSLEEP;
	vmem_t *vm = mk("lists", 0, 0, 1, IPL_NONE);
	vmem_addr_t a;

	/* Free segments of 5 (list 2), 9 (list 3) and 40 (list 5). */
	ATF_REQUIRE_EQ(vmem_add(vm, 100, 5, VM_SLEEP), 0);
	ATF_REQUIRE_EQ(vmem_add(vm, 200, 9, VM_SLEEP), 0);
	ATF_REQUIRE_EQ(vmem_add(vm, 300, 40, VM_SLEEP), 0);
	/* 5 quanta: lists from ceil(log2 5) = 3; the 9 is first. */
	ATF_REQUIRE_EQ(vmem_alloc(vm, 5, IF, &a), 0);
	ATF_CHECK_EQ(a, 200);
	vmem_free(vm, a, 5);
	/* 4 quanta: a power of two, list 2 holds only segments >= 4. */
	ATF_REQUIRE_EQ(vmem_alloc(vm, 4, IF, &a), 0);
	ATF_CHECK_EQ(a, 100);
	vmem_free(vm, a, 4);
	/* Best fit starts at floor(log2 5) = 2: the 5 itself. */
	ATF_REQUIRE_EQ(vmem_alloc(vm, 5, VM_BESTFIT | VM_NOSLEEP, &a), 0);
	ATF_CHECK_EQ(a, 100);
	vmem_free(vm, a, 5);
	/* 10 quanta: list 4 is empty, list 5 holds the 40. */
	ATF_REQUIRE_EQ(vmem_alloc(vm, 10, IF, &a), 0);
	ATF_CHECK_EQ(a, 300);
	vmem_free(vm, a, 10);
	check_locked(vm);
	vmem_destroy(vm);
}

/* ---- nbmem_vmem_check finds damage */

/*
 * An arena with spans [0x1000, 0x2000) and [0x8000, 0x9000), quantum 0x10,
 * and segments busy at 0x1000 (0x100), 0x1200 (0x100), 0x8000 (0x40):
 * free segments between and after them.
 */
static vmem_t *
damaged_base(const char *name)
{
	vmem_t *vm = mk(name, 0x1000, 0x1000, 0x10, IPL_NONE);

	if (vmem_add(vm, 0x8000, 0x1000, VM_SLEEP) != 0 ||
	    vmem_xalloc_addr(vm, 0x1000, 0x100, VM_NOSLEEP) != 0 ||
	    vmem_xalloc_addr(vm, 0x1200, 0x100, VM_NOSLEEP) != 0 ||
	    vmem_xalloc_addr(vm, 0x8000, 0x40, VM_NOSLEEP) != 0)
		abort();
	return vm;
}

/* The tag whose segment starts at addr (not a span tag). */
static bt_t *
seg_at(vmem_t *vm, vmem_addr_t addr)
{
	for (bt_t *bt = vm->vm_seg.bt_next; bt != &vm->vm_seg;
	    bt = bt->bt_next)
		if (!BT_SPAN_P(bt) && bt->bt_start == addr)
			return bt;
	abort();
}

static void
damage(void *arg)
{
	vmem_t *vm = damaged_base("damaged");
	bt_t *bt;

	switch ((int)(intptr_t)arg) {
	case 0:		/* accounting */
		vm->vm_inuse += 0x10;
		break;
	case 1:		/* a free segment filed on the wrong list */
		bt = seg_at(vm, 0x1100);
		bt->bt_flist = (uint8_t)(bt->bt_flist + 1);
		break;
	case 2:		/* free-list map bit */
		vm->vm_freemap ^= (uint64_t)1 << 40;
		break;
	case 3:		/* overlapping segments */
		bt = seg_at(vm, 0x1000);
		bt->bt_size += 0x10;
		break;
	case 4:		/* a gap in a span */
		bt = seg_at(vm, 0x8000);
		bt->bt_start += 0x10;
		bt->bt_size -= 0x10;
		break;
	case 5:		/* two free neighbours left apart */
		bt = seg_at(vm, 0x1200);
		bt->bt_type = BT_TYPE_FREE;
		break;
	case 6:		/* the segment list's back links */
		bt = seg_at(vm, 0x1200);
		bt->bt_next->bt_prev = bt->bt_prev;
		break;
	case 7:		/* a busy segment missing from the hash */
		bt = seg_at(vm, 0x1200);
		bt->bt_start += 0x10;
		seg_at(vm, 0x1100)->bt_size += 0x10;
		bt->bt_size -= 0x10;
		break;
	}
	check_locked(vm);
}

ATF_TC_WITHOUT_HEAD(check_finds_damage);
ATF_TC_BODY(check_finds_damage, tc)
{
	vmem_t *vm = damaged_base("undamaged");

	/* The base arena itself passes. */
	check_locked(vm);
	vmem_xfreeall(vm);
	check_locked(vm);
	vmem_destroy(vm);

	nbt_death(damage, (void *)0, "arena \"damaged\": check: counters");
	nbt_death(damage, (void *)1, "arena \"damaged\": check: free segment "
	    "0x1100 on the wrong list");
	nbt_death(damage, (void *)2, "arena \"damaged\": check: free map bit "
	    "40 wrong");
	nbt_death(damage, (void *)3, "arena \"damaged\": check: segment "
	    "0x1100");
	nbt_death(damage, (void *)4, "arena \"damaged\": check: segment "
	    "0x8010");
	nbt_death(damage, (void *)5, "arena \"damaged\": check: free segments "
	    "0x1100 and its successor not coalesced");
	nbt_death(damage, (void *)6, "arena \"damaged\": check: segment list "
	    "broken");
	nbt_death(damage, (void *)7, "arena \"damaged\": check: busy segment "
	    "0x1210 not in the hash");
}

ATF_TC_WITHOUT_HEAD(sanity_checks_each_op);
ATF_TC_BODY(sanity_checks_each_op, tc)
{
	if (SANITY_KNOWN && !config_sanity)
		atf_tc_skip("not a SANITY build (-DNBMEM_SANITY=ON)");
	if (!SANITY_KNOWN && !sanity_build())
		atf_tc_skip("the library did not check the arena after an "
		    "operation: not a SANITY build, presumably");
	nbt_death(damage_then_operate, NULL, "arena \"sanity\": check: "
	    "counters");
}

/*
 * The boundary-tag supply maps 64 KiB chunks but touches their tags only
 * as it hands them out: with the few tags the library has used so far,
 * most pages of the chunk are not resident (all 16 were, when a new
 * chunk linked every tag into its free list).
 */
ATF_TC_WITHOUT_HEAD(bt_chunk_touched_lazily);
ATF_TC_BODY(bt_chunk_touched_lazily, tc)
{
	const size_t chunk = 64 * 1024, ps = (size_t)sysconf(_SC_PAGESIZE);
	unsigned char vec[64 * 1024 / 4096];
	unsigned int got, resident = 0;
	struct vmem_btag *bt;

	if (ps != 4096)
		atf_tc_skip("counts 4 KiB pages");
	bt = nbmem_bt_get(1, &got);
	ATF_REQUIRE(bt != NULL && got == 1);
	ATF_REQUIRE(mincore((void *)((uintptr_t)bt & ~(uintptr_t)(chunk -
	    1)), chunk, vec) == 0);
	for (size_t i = 0; i < sizeof(vec); i++)
		resident += vec[i] & 1;
	nbmem_bt_put(bt, 1);
	ATF_CHECK_MSG(resident <= 4, "%u of the chunk's 16 pages resident",
	    resident);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, bt_chunk_touched_lazily);
	ATF_TP_ADD_TC(tp, getters);
	ATF_TP_ADD_TC(tp, hash_grows_and_shrinks);
	ATF_TP_ADD_TC(tp, cookies);
	ATF_TP_ADD_TC(tp, cookie_misuse);
	ATF_TP_ADD_TC(tp, bt_supply);
	ATF_TP_ADD_TC(tp, bt_cache_trimmed);
	ATF_TP_ADD_TC(tp, instantfit_lists);
	ATF_TP_ADD_TC(tp, check_finds_damage);
	ATF_TP_ADD_TC(tp, sanity_checks_each_op);
	return atf_no_error();
}

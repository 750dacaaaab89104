/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_vmem: vmem(3) behaviour through the public interface.
 *
 * Covers the interface contract of the spec (section 1), the extent(9)
 * edge cases of NetBSD's tests/kernel/t_extent.c restated for vmem, the
 * fixed part of the UNITTEST program in NetBSD's sys/kern/subr_vmem.c,
 * and nbmem's own decisions (VM_NEXTFIT, vmem_add waking sleepers).
 */
#include <sys/types.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <atf-c.h>

#include <nbmem/vmem.h>
#include <nbmem/vmem_impl.h>

#include "nbprint.h"
#include "nbtest.h"

#define	BF	(VM_BESTFIT | VM_NOSLEEP)
#define	FITMASK	(VM_BESTFIT | VM_INSTANTFIT | VM_NEXTFIT)

/* ---- helpers */

static vmem_t *
mk(const char *name, vmem_addr_t base, vmem_size_t size, vmem_size_t q)
{
	vmem_t *vm;

	vm = vmem_create(name, base, size, q, NULL, NULL, NULL, 0, VM_SLEEP,
	    IPL_NONE);
	ATF_REQUIRE_MSG(vm != NULL, "vmem_create(%s) failed", name);
	return vm;
}

/*
 * Check every constraint of a vmem_xalloc result: quantum alignment,
 * addr % align == phase, inside [lo, hi] (inclusive), no nocross line
 * crossed, no wrap-around.
 */
static void
check_fit(int line, vmem_t *vm, vmem_addr_t a, vmem_size_t size,
    vmem_size_t align, vmem_size_t phase, vmem_size_t nocross,
    vmem_addr_t lo, vmem_addr_t hi)
{
	vmem_size_t q = vmem_roundup_size(vm, 1);
	vmem_size_t rs = vmem_roundup_size(vm, size);
	vmem_addr_t last = a + rs - 1;

	if (align == 0)
		align = q;
	ATF_CHECK_MSG(a % q == 0, "line %d: %#jx not a multiple of the "
	    "quantum %#jx", line, (uintmax_t)a, (uintmax_t)q);
	ATF_CHECK_MSG(a % align == phase, "line %d: %#jx %% %#jx != %#jx",
	    line, (uintmax_t)a, (uintmax_t)align, (uintmax_t)phase);
	ATF_CHECK_MSG(last >= a, "line %d: [%#jx, +%#jx) wraps", line,
	    (uintmax_t)a, (uintmax_t)rs);
	ATF_CHECK_MSG(a >= lo && last <= hi, "line %d: [%#jx, %#jx] not in "
	    "[%#jx, %#jx]", line, (uintmax_t)a, (uintmax_t)last,
	    (uintmax_t)lo, (uintmax_t)hi);
	if (nocross != 0)
		ATF_CHECK_MSG(a / nocross == last / nocross, "line %d: "
		    "[%#jx, %#jx] crosses a multiple of %#jx", line,
		    (uintmax_t)a, (uintmax_t)last, (uintmax_t)nocross);
}

static vmem_addr_t
xok(int line, vmem_t *vm, vmem_size_t size, vmem_size_t align,
    vmem_size_t phase, vmem_size_t nocross, vmem_addr_t lo, vmem_addr_t hi,
    vm_flag_t fl)
{
	vmem_addr_t a = 0xdeadbeef;
	int rc;

	rc = vmem_xalloc(vm, size, align, phase, nocross, lo, hi, fl, &a);
	ATF_REQUIRE_MSG(rc == 0, "line %d: vmem_xalloc(size %#jx, align %#jx, "
	    "phase %#jx, nocross %#jx, [%#jx, %#jx]) = %d", line,
	    (uintmax_t)size, (uintmax_t)align, (uintmax_t)phase,
	    (uintmax_t)nocross, (uintmax_t)lo, (uintmax_t)hi, rc);
	check_fit(line, vm, a, size, align, phase, nocross, lo, hi);
	return a;
}

static void
xfail(int line, vmem_t *vm, vmem_size_t size, vmem_size_t align,
    vmem_size_t phase, vmem_size_t nocross, vmem_addr_t lo, vmem_addr_t hi,
    vm_flag_t fl)
{
	vmem_addr_t a = 0xdeadbeef;
	int rc;

	rc = vmem_xalloc(vm, size, align, phase, nocross, lo, hi, fl, &a);
	ATF_CHECK_MSG(rc == ENOMEM, "line %d: vmem_xalloc(size %#jx, "
	    "align %#jx, phase %#jx, nocross %#jx, [%#jx, %#jx]) = %d "
	    "(addr %#jx), expected ENOMEM", line, (uintmax_t)size,
	    (uintmax_t)align, (uintmax_t)phase, (uintmax_t)nocross,
	    (uintmax_t)lo, (uintmax_t)hi, rc, (uintmax_t)a);
}

#define	XOK(vm, sz, al, ph, nc, lo, hi)					\
	xok(__LINE__, (vm), (sz), (al), (ph), (nc), (lo), (hi), BF)
#define	XFAIL(vm, sz, al, ph, nc, lo, hi)				\
	xfail(__LINE__, (vm), (sz), (al), (ph), (nc), (lo), (hi), BF)

#define	CHECK_ADDR(got, want) do {					\
	uintmax_t g_ = (uintmax_t)(got), w_ = (uintmax_t)(want);	\
	ATF_CHECK_MSG(g_ == w_, "%s = %#jx, expected %#jx", #got, g_, w_); \
} while (0)

#define	CHECK_SIZE(vm, mask, want) do {					\
	uintmax_t g_ = (uintmax_t)vmem_size((vm), (mask));		\
	uintmax_t w_ = (uintmax_t)(want);				\
	ATF_CHECK_MSG(g_ == w_, "vmem_size(%s) = %#jx, expected %#jx",	\
	    #mask, g_, w_);						\
} while (0)

static vmem_addr_t
aok(int line, vmem_t *vm, vmem_size_t size, vm_flag_t fl)
{
	vmem_addr_t a = 0xdeadbeef;
	int rc;

	rc = vmem_alloc(vm, size, fl, &a);
	ATF_REQUIRE_MSG(rc == 0, "line %d: vmem_alloc(%#jx, %#x) = %d", line,
	    (uintmax_t)size, fl, rc);
	check_fit(line, vm, a, size, 0, 0, 0, VMEM_ADDR_MIN, VMEM_ADDR_MAX);
	return a;
}
#define	AOK(vm, sz, fl)	aok(__LINE__, (vm), (sz), (fl))

/* Sleep for `ms' milliseconds. */
static void
msleep(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		continue;
}

/* Wait (at most ~10 s, polling) until *flag becomes non-zero. */
static void
wait_flag(atomic_int *flag)
{
	int i;

	for (i = 0; i < 10000 && atomic_load(flag) == 0; i++)
		msleep(1);
	ATF_REQUIRE_MSG(atomic_load(flag) != 0, "thread did not start");
}

/* Output capture for vmem_print / vmem_printall / vmem_whatis: pr(). */
static void
capture_reset(void)
{
	prlen = 0;
	prbuf[0] = '\0';
}

/* ---- basic contract */

ATF_TC_WITHOUT_HEAD(create_alloc_free);
ATF_TC_BODY(create_alloc_free, tc)
{
	vmem_t *vm = mk("basic", 0x10000, 0x10000, 0x10);
	vmem_addr_t a, b;

	a = AOK(vm, 1, VM_BESTFIT | VM_SLEEP);
	b = AOK(vm, 0x21, VM_INSTANTFIT | VM_NOSLEEP);
	ATF_CHECK(a >= 0x10000 && a + 0x10 <= 0x20000);
	ATF_CHECK(b >= 0x10000 && b + 0x30 <= 0x20000);
	ATF_CHECK_MSG(a + 0x10 <= b || b + 0x30 <= a, "overlap %#jx %#jx",
	    (uintmax_t)a, (uintmax_t)b);
	CHECK_SIZE(vm, VMEM_ALLOC, 0x40);
	vmem_free(vm, a, 1);
	vmem_free(vm, b, 0x21);
	CHECK_SIZE(vm, VMEM_ALLOC, 0);
	/* The whole span, after the frees: free space coalesced. */
	a = AOK(vm, 0x10000, BF);
	CHECK_ADDR(a, 0x10000);
	vmem_free(vm, a, 0x10000);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(addrp_null);
ATF_TC_BODY(addrp_null, tc)
{
	vmem_t *vm = mk("addrp-null", 0, 0x100, 1);

	/* addrp may be NULL (the result is then lost: use xfreeall). */
	ATF_CHECK_EQ(vmem_alloc(vm, 0x10, BF, NULL), 0);
	ATF_CHECK_EQ(vmem_xalloc(vm, 0x10, 0, 0, 0, 0, VMEM_ADDR_MAX, BF,
	    NULL), 0);
	CHECK_SIZE(vm, VMEM_ALLOC, 0x20);
	vmem_xfreeall(vm);
	CHECK_SIZE(vm, VMEM_ALLOC, 0);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(quantum_rounding);
ATF_TC_BODY(quantum_rounding, tc)
{
	vmem_t *vm = mk("rounding", 0x1000, 0x10000, 0x1000);
	vmem_addr_t a[5];
	int i;

	CHECK_ADDR(vmem_roundup_size(vm, 0), 0);
	CHECK_ADDR(vmem_roundup_size(vm, 1), 0x1000);
	CHECK_ADDR(vmem_roundup_size(vm, 0xfff), 0x1000);
	CHECK_ADDR(vmem_roundup_size(vm, 0x1000), 0x1000);
	CHECK_ADDR(vmem_roundup_size(vm, 0x1001), 0x2000);
	for (i = 0; i < 5; i++) {
		a[i] = AOK(vm, (vmem_size_t)i * 0x1000 + 1, BF);
		ATF_CHECK_EQ(a[i] % 0x1000, 0);
	}
	/* 1 + 2 + 3 + 4 + 5 pages */
	CHECK_SIZE(vm, VMEM_ALLOC, 15 * 0x1000);
	for (i = 0; i < 5; i++)
		vmem_free(vm, a[i], (vmem_size_t)i * 0x1000 + 1);
	vmem_destroy(vm);

	vm = mk("rounding-1", 0, 100, 1);
	CHECK_ADDR(vmem_roundup_size(vm, 7), 7);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(size_masks);
ATF_TC_BODY(size_masks, tc)
{
	vmem_t *vm = mk("sizes", 0x1000, 0x1000, 0x10);
	vmem_addr_t a, b;

	CHECK_SIZE(vm, VMEM_ALLOC, 0);
	CHECK_SIZE(vm, VMEM_FREE, 0x1000);
	CHECK_SIZE(vm, VMEM_ALLOC | VMEM_FREE, 0x1000);
	ATF_REQUIRE_EQ(vmem_add(vm, 0x10000, 0x2000, VM_SLEEP), 0);
	CHECK_SIZE(vm, VMEM_ALLOC, 0);
	CHECK_SIZE(vm, VMEM_FREE, 0x3000);
	CHECK_SIZE(vm, VMEM_ALLOC | VMEM_FREE, 0x3000);
	a = AOK(vm, 0x100, BF);
	b = AOK(vm, 1, BF);
	CHECK_SIZE(vm, VMEM_ALLOC, 0x110);
	CHECK_SIZE(vm, VMEM_FREE, 0x3000 - 0x110);
	CHECK_SIZE(vm, VMEM_ALLOC | VMEM_FREE, 0x3000);
	vmem_free(vm, a, 0x100);
	CHECK_SIZE(vm, VMEM_ALLOC, 0x10);
	vmem_free(vm, b, 1);
	CHECK_SIZE(vm, VMEM_ALLOC, 0);
	CHECK_SIZE(vm, VMEM_FREE, 0x3000);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(addr_zero);
ATF_TC_BODY(addr_zero, tc)
{
	vmem_t *vm = mk("zero", 0, 0x40, 0x10);
	vmem_addr_t a = 0xdeadbeef;

	/* Address 0 is an ordinary address: rc 0 and *addrp == 0. */
	ATF_REQUIRE_EQ(vmem_xalloc(vm, 0x10, 0, 0, 0, 0, 0xf, BF, &a), 0);
	CHECK_ADDR(a, 0);
	vmem_xfree(vm, 0, 0x10);
	a = 0xdeadbeef;
	ATF_REQUIRE_EQ(vmem_alloc(vm, 0x40, BF, &a), 0);
	CHECK_ADDR(a, 0);
	vmem_free(vm, a, 0x40);
	ATF_CHECK_EQ(vmem_xalloc_addr(vm, 0, 0x10, VM_NOSLEEP), 0);
	vmem_xfree(vm, 0, 0x10);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(align_zero_is_quantum);
ATF_TC_BODY(align_zero_is_quantum, tc)
{
	vmem_t *vm = mk("align0", 0x100, 0x1000, 0x100);
	vmem_addr_t a, b;

	/* align 0: multiples of the quantum, and nothing stricter. */
	a = XOK(vm, 0x100, 0, 0, 0, 0, VMEM_ADDR_MAX);
	b = XOK(vm, 0x100, 0, 0, 0, 0, VMEM_ADDR_MAX);
	ATF_CHECK_EQ(a % 0x100, 0);
	ATF_CHECK_EQ(b % 0x100, 0);
	/* Only 0x100 lies below 0x200: align 0 must not round to 0x200. */
	vmem_xfree(vm, a, 0x100);
	vmem_xfree(vm, b, 0x100);
	a = XOK(vm, 0x100, 0, 0, 0, 0, 0x1ff);
	CHECK_ADDR(a, 0x100);
	vmem_xfree(vm, a, 0x100);
	vmem_destroy(vm);
}

/* ---- the range constraint: maxaddr inclusive, the very top */

ATF_TC_WITHOUT_HEAD(maxaddr_inclusive);
ATF_TC_BODY(maxaddr_inclusive, tc)
{
	vmem_t *vm = mk("maxaddr", 0, 100, 1);
	vmem_addr_t a;

	/* [0, 9] holds exactly 10 units; [0, 8] does not. */
	XFAIL(vm, 10, 0, 0, 0, 0, 8);
	a = XOK(vm, 10, 0, 0, 0, 0, 9);
	CHECK_ADDR(a, 0);
	/* minaddr == maxaddr - size + 1: the one possible placement. */
	a = XOK(vm, 10, 0, 0, 0, 50, 59);
	CHECK_ADDR(a, 50);
	XFAIL(vm, 10, 0, 0, 0, 51, 59);
	a = XOK(vm, 1, 0, 0, 0, 99, 99);
	CHECK_ADDR(a, 99);
	XFAIL(vm, 1, 0, 0, 0, 99, 99);
	XFAIL(vm, 1, 0, 0, 0, 100, 1000);
	vmem_xfree(vm, 0, 10);
	vmem_xfree(vm, 50, 10);
	vmem_xfree(vm, 99, 1);
	CHECK_SIZE(vm, VMEM_ALLOC, 0);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(top_of_address_space);
ATF_TC_BODY(top_of_address_space, tc)
{
	const vmem_addr_t top = VMEM_ADDR_MAX - 0xff;
	vmem_t *vm = mk("top", 0, 0, 1);
	vmem_addr_t a;

	/* A span whose last unit is VMEM_ADDR_MAX (base + size wraps). */
	ATF_REQUIRE_EQ(vmem_add(vm, top, 0x100, VM_SLEEP), 0);
	CHECK_SIZE(vm, VMEM_FREE, 0x100);
	XFAIL(vm, 0x101, 0, 0, 0, top, VMEM_ADDR_MAX);
	XFAIL(vm, 0x100, 0, 0, 0, top + 1, VMEM_ADDR_MAX);
	XFAIL(vm, 0x100, 0, 0, 0, top, VMEM_ADDR_MAX - 1);
	a = XOK(vm, 0x100, 0, 0, 0, top, VMEM_ADDR_MAX);
	CHECK_ADDR(a, top);
	vmem_xfree(vm, a, 0x100);

	/* The last unit alone, by range and by exact address. */
	a = XOK(vm, 1, 0, 0, 0, VMEM_ADDR_MAX, VMEM_ADDR_MAX);
	CHECK_ADDR(a, VMEM_ADDR_MAX);
	XFAIL(vm, 1, 0, 0, 0, VMEM_ADDR_MAX, VMEM_ADDR_MAX);
	vmem_xfree(vm, a, 1);
	ATF_CHECK_EQ(vmem_xalloc_addr(vm, VMEM_ADDR_MAX - 0xf, 0x10,
	    VM_NOSLEEP), 0);
	ATF_CHECK_EQ(vmem_xalloc_addr(vm, VMEM_ADDR_MAX, 1, VM_NOSLEEP),
	    ENOMEM);
	vmem_xfree(vm, VMEM_ADDR_MAX - 0xf, 0x10);

	/* Plain allocations take the whole span, to the last unit. */
	a = AOK(vm, 0x80, BF);
	ATF_CHECK(a >= top);
	a = AOK(vm, 0x80, VM_INSTANTFIT | VM_NOSLEEP);
	ATF_CHECK(a >= top);
	CHECK_SIZE(vm, VMEM_FREE, 0);
	vmem_xfreeall(vm);

	/* Aligned and bounded allocations near the top. */
	a = XOK(vm, 0x40, 0x40, 0, 0x40, 0, VMEM_ADDR_MAX);
	CHECK_ADDR(a, top);
	a = XOK(vm, 0x40, 0x80, 0x40, 0x80, VMEM_ADDR_MAX - 0x7f,
	    VMEM_ADDR_MAX);
	CHECK_ADDR(a, VMEM_ADDR_MAX - 0x3f);
	vmem_xfreeall(vm);
	vmem_destroy(vm);

	/* An arena created over the top page with a page quantum. */
	vm = mk("top-page", VMEM_ADDR_MAX - 0xfff, 0x1000, 0x1000);
	a = AOK(vm, 0x1000, BF);
	CHECK_ADDR(a, VMEM_ADDR_MAX - 0xfff);
	vmem_free(vm, a, 0x1000);
	vmem_destroy(vm);
}

/*
 * The fixed part of the NetBSD UNITTEST program (spec 10.1): spans of
 * odd sizes, then instant-fit allocations bounded by an inclusive range.
 * The top span sits at 0xffffff00 as in the 32-bit original.  Every
 * call has VM_SLEEP, as there: the three that must fail ask for more
 * than their range holds, which fails at once instead of sleeping.
 */
ATF_TC_WITHOUT_HEAD(netbsd_unittest_fixed);
ATF_TC_BODY(netbsd_unittest_fixed, tc)
{
	static const struct { vmem_addr_t a; vmem_size_t s; } spans[] = {
		{ 0, 50 }, { 100, 200 }, { 2000, 1 }, { 40000, 65536 },
		{ 10000, 10000 }, { 500, 1000 }, { 0xffffff00, 0x100 },
	};
	const vm_flag_t IF = VM_INSTANTFIT | VM_SLEEP;
	vmem_t *vm = mk("test", 0, 0, 1);
	vmem_size_t total = 0;
	vmem_addr_t a;
	size_t i;

	for (i = 0; i < sizeof(spans) / sizeof(spans[0]); i++) {
		ATF_REQUIRE_EQ(vmem_add(vm, spans[i].a, spans[i].s, VM_SLEEP),
		    0);
		total += spans[i].s;
	}
	CHECK_SIZE(vm, VMEM_ALLOC | VMEM_FREE, total);
	xfail(__LINE__, vm, 0x101, 0, 0, 0, 0xffffff00, 0xffffffff, IF);
	a = xok(__LINE__, vm, 50, 0, 0, 0, 0, 49, IF);
	CHECK_ADDR(a, 0);
	vmem_xfree(vm, a, 50);
	a = xok(__LINE__, vm, 25, 0, 0, 0, 0, 24, IF);
	CHECK_ADDR(a, 0);
	xfail(__LINE__, vm, 0x100, 0, 0, 0, 0xffffff01, 0xffffffff, IF);
	xfail(__LINE__, vm, 0x100, 0, 0, 0, 0xffffff00, 0xfffffffe, IF);
	a = xok(__LINE__, vm, 0x100, 0, 0, 0, 0xffffff00, 0xffffffff, IF);
	CHECK_ADDR(a, 0xffffff00);
	/* The one-unit span. */
	a = xok(__LINE__, vm, 1, 0, 0, 0, 1500, 2500, IF);
	CHECK_ADDR(a, 2000);
	CHECK_SIZE(vm, VMEM_ALLOC, 25 + 0x100 + 1);
	vmem_xfreeall(vm);
	CHECK_SIZE(vm, VMEM_ALLOC, 0);
	vmem_destroy(vm);
}

/* ---- extent(9) cases (NetBSD tests/kernel/t_extent.c) as vmem tests */

ATF_TC_WITHOUT_HEAD(extent_coalesce);
ATF_TC_BODY(extent_coalesce, tc)
{
	vmem_t *vm = mk("ext-coalesce", 0, 0x50, 1);
	vmem_addr_t a;

	ATF_REQUIRE_EQ(vmem_xalloc_addr(vm, 0x00, 0x10, VM_NOSLEEP), 0);
	ATF_REQUIRE_EQ(vmem_xalloc_addr(vm, 0x20, 0x10, VM_NOSLEEP), 0);
	ATF_REQUIRE_EQ(vmem_xalloc_addr(vm, 0x40, 0x10, VM_NOSLEEP), 0);
	ATF_REQUIRE_EQ(vmem_xalloc_addr(vm, 0x10, 0x10, VM_NOSLEEP), 0);
	a = XOK(vm, 0x10, 0, 0, 0, 0, 0x4f);
	CHECK_ADDR(a, 0x30);
	CHECK_SIZE(vm, VMEM_FREE, 0);
	/* Free out of order; the free space must merge back into one. */
	vmem_xfree(vm, 0x20, 0x10);
	vmem_xfree(vm, 0x00, 0x10);
	vmem_xfree(vm, 0x40, 0x10);
	vmem_xfree(vm, 0x30, 0x10);
	vmem_xfree(vm, 0x10, 0x10);
	a = XOK(vm, 0x50, 0, 0, 0, 0, 0x4f);
	CHECK_ADDR(a, 0);
	vmem_xfree(vm, a, 0x50);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(extent_subregion1);
ATF_TC_BODY(extent_subregion1, tc)
{
	vmem_t *vm = mk("ext-sub1", 0, 0x30, 1);

	ATF_REQUIRE_EQ(vmem_xalloc_addr(vm, 0, 0x10, VM_NOSLEEP), 0);
	CHECK_ADDR(XOK(vm, 0x10, 0, 0, 0, 0x20, 0x30), 0x20);
	vmem_xfreeall(vm);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(extent_subregion2);
ATF_TC_BODY(extent_subregion2, tc)
{
	vmem_t *vm = mk("ext-sub2", 0, 0x40, 1);

	ATF_REQUIRE_EQ(vmem_xalloc_addr(vm, 0, 0x20, VM_NOSLEEP), 0);
	ATF_REQUIRE_EQ(vmem_xalloc_addr(vm, 0x30, 0x10, VM_NOSLEEP), 0);
	CHECK_ADDR(XOK(vm, 0x10, 0, 0, 0, 0x10, 0x3f), 0x20);
	CHECK_SIZE(vm, VMEM_FREE, 0);
	vmem_xfreeall(vm);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(extent_bound1);
ATF_TC_BODY(extent_bound1, tc)
{
	vmem_t *vm = mk("ext-bound1", 0xf0000000, 0x10000000, 1);

	ATF_REQUIRE_EQ(vmem_xalloc_addr(vm, 0xf1000000, 1, VM_NOSLEEP), 0);
	CHECK_ADDR(XOK(vm, 1, 0, 0, 0x20000000, 0xf0000000, 0xffffffff),
	    0xf0000000);
	vmem_xfreeall(vm);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(extent_bound2);
ATF_TC_BODY(extent_bound2, tc)
{
	vmem_t *vm = mk("ext-bound2", 0xf0000000, 0x10000000, 1);

	CHECK_ADDR(XOK(vm, 1, 0, 0, 0x20000000, 0xf0000000, 0xffffffff),
	    0xf0000000);
	vmem_xfreeall(vm);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(extent_bound3);
ATF_TC_BODY(extent_bound3, tc)
{
	vmem_t *vm = mk("ext-bound3", 0, 12, 1);

	CHECK_ADDR(XOK(vm, 8, 0, 0, 8, 0, 11), 0);
	CHECK_ADDR(XOK(vm, 2, 0, 0, 8, 0, 11), 8);
	CHECK_ADDR(XOK(vm, 2, 0, 0, 8, 0, 11), 0xa);
	CHECK_SIZE(vm, VMEM_FREE, 0);
	vmem_xfreeall(vm);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(extent_bound4);
ATF_TC_BODY(extent_bound4, tc)
{
	vmem_t *vm = mk("ext-bound4", 0, 12, 1);

	CHECK_ADDR(XOK(vm, 7, 0, 0, 8, 0, 11), 0);
	/* [7, 10] would cross 8: bumped to 8, exactly up to the end. */
	CHECK_ADDR(XOK(vm, 4, 0, 0, 8, 0, 11), 8);
	CHECK_SIZE(vm, VMEM_FREE, 1);
	XFAIL(vm, 2, 0, 0, 8, 0, 11);
	vmem_xfreeall(vm);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(extent_subregion3);
ATF_TC_BODY(extent_subregion3, tc)
{
	vmem_t *vm = mk("ext-sub3", 0, 0x50, 1);

	ATF_REQUIRE_EQ(vmem_xalloc_addr(vm, 0x30, 0x10, VM_NOSLEEP), 0);
	CHECK_ADDR(XOK(vm, 0x10, 0, 0, 0, 0, 0xf), 0);
	XFAIL(vm, 0x10, 0, 0, 0, 0, 0xf);
	vmem_xfreeall(vm);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(extent_bound5);
ATF_TC_BODY(extent_bound5, tc)
{
	vmem_t *vm = mk("ext-bound5", 0, 0x50, 1);

	CHECK_ADDR(XOK(vm, 4, 0, 0, 0, 0, 0x10), 0);
	CHECK_ADDR(XOK(vm, 2, 0, 0, 0, 0xd, 0x20), 0xd);
	/* [4, 0xc] is too small once bumped past 8; [0xf, ...] to 0x10. */
	CHECK_ADDR(XOK(vm, 8, 0, 0, 8, 0, 0x4f), 0x10);
	CHECK_SIZE(vm, VMEM_ALLOC, 4 + 2 + 8);
	/* The holes are still whole: [4, 0xc] and [0xf, 0xf]. */
	CHECK_ADDR(XOK(vm, 9, 0, 0, 0, 0, 0xf), 4);
	CHECK_ADDR(XOK(vm, 1, 0, 0, 0, 0, 0xf), 0xf);
	vmem_xfreeall(vm);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(extent_free);
ATF_TC_BODY(extent_free, tc)
{
	const vmem_addr_t lo = 0xc0002000, hi = 0xffffe000;
	vmem_t *vm = mk("ext-free", lo, hi - lo + 1, 1);
	vmem_addr_t a, b, c;

	a = XOK(vm, 0x2000, 0x10000, 0, 0x10000, lo, hi);
	CHECK_ADDR(a, 0xc0010000);
	b = XOK(vm, 0x2000, 0x10000, 0, 0x10000, lo, hi);
	/*
	 * One placement only for vmem too: the free segment below a has
	 * no multiple of 0x10000 in it, and the fit takes the lowest
	 * aligned start of the one above.
	 */
	CHECK_ADDR(b, 0xc0020000);
	vmem_xfree(vm, b, 0x2000);
	CHECK_SIZE(vm, VMEM_ALLOC, 0x2000);
	c = XOK(vm, 0x10000, 0x10000, 0, 0x10000, lo, hi);
	ATF_CHECK(c + 0x10000 <= a || c >= a + 0x2000);
	CHECK_SIZE(vm, VMEM_ALLOC, 0x12000);
	vmem_xfree(vm, c, 0x10000);
	/* What b had is reusable. */
	CHECK_ADDR(vmem_xalloc_addr(vm, b, 0x2000, VM_NOSLEEP), 0);
	vmem_xfreeall(vm);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(extent_subregion4);
ATF_TC_BODY(extent_subregion4, tc)
{
	vmem_t *vm = mk("ext-sub4", 0x10, 0x11, 1);

	CHECK_ADDR(XOK(vm, 4, 0, 0, 0, 0x10, 0x13), 0x10);
	CHECK_ADDR(XOK(vm, 2, 0, 0, 0, 0x1e, 0x1f), 0x1e);
	CHECK_ADDR(XOK(vm, 1, 0, 0, 0, 0x20, 0x20), 0x20);
	/* The end unit is handed out once only. */
	XFAIL(vm, 1, 0, 0, 0, 0x20, 0x20);
	CHECK_ADDR(XOK(vm, 1, 0, 0, 0, 0x10, 0x20), 0x14);
	CHECK_SIZE(vm, VMEM_ALLOC, 8);
	vmem_xfreeall(vm);
	vmem_destroy(vm);
}

/* ---- align, phase, nocross */

ATF_TC_WITHOUT_HEAD(constraints);
ATF_TC_BODY(constraints, tc)
{
	vmem_t *vm = mk("constraints", 0x1010, 0x10000, 0x10);
	vmem_addr_t a;

	a = XOK(vm, 0x10, 0x1000, 0, 0, 0, VMEM_ADDR_MAX);
	CHECK_ADDR(a, 0x2000);
	a = XOK(vm, 0x10, 0x1000, 0x30, 0, 0, VMEM_ADDR_MAX);
	CHECK_ADDR(a, 0x1030);
	a = XOK(vm, 0x100, 0x100, 0xf0, 0, 0, VMEM_ADDR_MAX);
	/* Every placement must keep [a, a + 0x80) inside one 0x100 block. */
	a = XOK(vm, 0x80, 0, 0, 0x100, 0, VMEM_ADDR_MAX);
	a = XOK(vm, 0x80, 0x80, 0x40, 0x100, 0, VMEM_ADDR_MAX);
	a = XOK(vm, 0x30, 0x20, 0x10, 0x40, 0x4000, 0x8000);
	a = XOK(vm, 0x1000, 0x1000, 0, 0x1000, 0x4000, 0x8fff);
	vmem_xfreeall(vm);
	CHECK_SIZE(vm, VMEM_ALLOC, 0);
	vmem_destroy(vm);
}

struct impsrc {
	vmem_t		*parent;
	atomic_int	nimport;
	atomic_int	nrelease;
	vmem_size_t	imp_size;	/* last import asked for */
	vm_flag_t	imp_flags;
	vmem_addr_t	rel_addr;	/* last release */
	vmem_size_t	rel_size;
	vmem_size_t	xfactor;	/* ximport: span = xfactor * size */
	int		nosleep;	/* import without sleeping */
};

static int
imp_fn(void *arg, vmem_size_t size, vm_flag_t fl, vmem_addr_t *ap)
{
	struct impsrc *s = arg;
	vm_flag_t pfl;

	s->nimport++;
	s->imp_size = size;
	s->imp_flags = fl;
	pfl = fl & (VM_SLEEP | VM_NOSLEEP | FITMASK);
	if ((pfl & FITMASK) == 0)
		pfl |= VM_BESTFIT;
	if (s->nosleep)
		pfl = (pfl & ~VM_SLEEP) | VM_NOSLEEP;
	return vmem_alloc(s->parent, size, pfl, ap);
}

static int
ximp_fn(void *arg, vmem_size_t size, vmem_size_t *actual, vm_flag_t fl,
    vmem_addr_t *ap)
{
	struct impsrc *s = arg;
	int rc;

	rc = imp_fn(arg, size * s->xfactor, fl, ap);
	if (rc == 0)
		*actual = size * s->xfactor;
	return rc;
}

static void
rel_fn(void *arg, vmem_addr_t a, vmem_size_t size)
{
	struct impsrc *s = arg;

	s->nrelease++;
	s->rel_addr = a;
	s->rel_size = size;
	vmem_free(s->parent, a, size);
}

/*
 * Next fit in an arena that imports two-page spans at set addresses:
 * when the rotor's span is released, next fit goes on with the span
 * listed after it, not with the one before (at higher addresses here).
 */
static const vmem_addr_t nfrel_addr[] = { 0x800000, 0x100000 };
static unsigned int nfrel_n;

static int
nfrel_imp(void *arg, vmem_size_t size, vmem_size_t *actual, vm_flag_t fl,
    vmem_addr_t *ap)
{
	(void)arg;
	(void)fl;
	if (nfrel_n == sizeof(nfrel_addr) / sizeof(nfrel_addr[0]))
		return ENOMEM;
	*ap = nfrel_addr[nfrel_n++];
	*actual = 2 * size;
	return 0;
}

static void
nfrel_rel(void *arg, vmem_addr_t a, vmem_size_t size)
{
	(void)arg;
	(void)a;
	(void)size;
}

ATF_TC_WITHOUT_HEAD(nextfit_span_released);
ATF_TC_BODY(nextfit_span_released, tc)
{
	const vm_flag_t NF = VM_NEXTFIT | VM_NOSLEEP;
	const vmem_size_t q = 0x1000;
	vmem_t *vm;

	vm = vmem_xcreate("nfrel", 0, 0, q, nfrel_imp, nfrel_rel, NULL, 0,
	    VM_SLEEP, IPL_NONE);
	ATF_REQUIRE(vm != NULL);
	/* Spans in list order: 0x800000, 0x100000, then 0x900000 added. */
	CHECK_ADDR(AOK(vm, q, NF), 0x800000);
	CHECK_ADDR(AOK(vm, q, NF), 0x801000);
	CHECK_ADDR(AOK(vm, q, NF), 0x100000);
	CHECK_ADDR(AOK(vm, q, NF), 0x101000);
	ATF_REQUIRE(vmem_add(vm, 0x900000, 2 * q, VM_SLEEP) == 0);
	vmem_free(vm, 0x800000, q);
	vmem_free(vm, 0x101000, q);
	vmem_free(vm, 0x100000, q);	/* the span goes */
	CHECK_SIZE(vm, VMEM_ALLOC | VMEM_FREE, 4 * q);
	CHECK_ADDR(AOK(vm, q, NF), 0x900000);
	CHECK_ADDR(AOK(vm, q, NF), 0x901000);
	CHECK_ADDR(AOK(vm, q, NF), 0x800000);
	vmem_xfreeall(vm);
	vmem_destroy(vm);
}

/* Constrained requests that cannot fit fail at once, even with VM_SLEEP. */
ATF_TC(constrained_sleep_fails);
ATF_TC_HEAD(constrained_sleep_fails, tc)
{
	atf_tc_set_md_var(tc, "descr", "align/phase/nocross VM_SLEEP "
	    "requests that cannot fit return ENOMEM without importing or "
	    "blocking");
	atf_tc_set_md_var(tc, "timeout", "30");
}
ATF_TC_BODY(constrained_sleep_fails, tc)
{
	vmem_t *parent = mk("cs-parent", 0x100000, 0x100000, 1);
	struct impsrc src = { .parent = parent };
	const vm_flag_t SL = VM_BESTFIT | VM_SLEEP;
	vmem_t *vm;

	vm = vmem_create("cs-child", 1, 99, 1, imp_fn, rel_fn, &src, 0,
	    VM_SLEEP, IPL_NONE);
	ATF_REQUIRE(vm != NULL);
	/* [1, 99]: nothing is 128-aligned. */
	xfail(__LINE__, vm, 10, 128, 0, 0, 0, VMEM_ADDR_MAX, SL);
	/* phase 40 in a 64 block: [40, 109] does not fit below 100. */
	xfail(__LINE__, vm, 70, 64, 40, 0, 0, VMEM_ADDR_MAX, SL);
	/* [34, 73] crosses 64, [64, 103] is out: nocross fails. */
	ATF_REQUIRE_EQ(vmem_xalloc_addr(vm, 30, 4, VM_NOSLEEP), 0);
	xfail(__LINE__, vm, 40, 0, 0, 64, 0, VMEM_ADDR_MAX, SL);
	ATF_CHECK_EQ_MSG(src.nimport, 0, "constrained requests imported "
	    "%d times", src.nimport);
	/* Without constraints, 70 does not fit either: it imports. */
	(void)xok(__LINE__, vm, 70, 0, 0, 0, 0, VMEM_ADDR_MAX, SL);
	ATF_CHECK_EQ(src.nimport, 1);
	vmem_xfreeall(vm);
	vmem_destroy(vm);
	vmem_xfreeall(parent);
	vmem_destroy(parent);
}

/* ---- strategies */

ATF_TC_WITHOUT_HEAD(strategy_difference);
ATF_TC_BODY(strategy_difference, tc)
{
	vmem_t *vm = mk("strategies", 0, 0, 1);
	vmem_addr_t a;

	/* Separate spans, so the 3 and the 100 cannot coalesce. */
	ATF_REQUIRE_EQ(vmem_add(vm, 1000, 3, VM_SLEEP), 0);
	ATF_REQUIRE_EQ(vmem_add(vm, 2000, 100, VM_SLEEP), 0);
	a = AOK(vm, 3, VM_BESTFIT | VM_NOSLEEP);
	CHECK_ADDR(a, 1000);
	vmem_free(vm, a, 3);
	/* Instant fit starts at the list of 4..7 quanta: the 100. */
	a = AOK(vm, 3, VM_INSTANTFIT | VM_NOSLEEP);
	ATF_CHECK_MSG(a >= 2000 && a + 3 <= 2100, "instant fit took %#jx",
	    (uintmax_t)a);
	vmem_free(vm, a, 3);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(instantfit_falls_back);
ATF_TC_BODY(instantfit_falls_back, tc)
{
	const vm_flag_t IF = VM_INSTANTFIT | VM_NOSLEEP;
	vmem_t *vm = mk("instant", 0, 0, 1);
	vmem_addr_t a;

	/*
	 * Segments of 5 and 3 quanta: on lists 2 and 1, below where
	 * instant fit starts for 5 (list 3) and 3 (list 2).
	 */
	ATF_REQUIRE_EQ(vmem_add(vm, 100, 5, VM_SLEEP), 0);
	ATF_REQUIRE_EQ(vmem_add(vm, 200, 3, VM_SLEEP), 0);
	a = AOK(vm, 5, IF);
	CHECK_ADDR(a, 100);
	a = AOK(vm, 3, IF);
	CHECK_ADDR(a, 200);
	vmem_free(vm, 100, 5);
	vmem_free(vm, 200, 3);

	/* The first segment of the list misses the alignment; another fits. */
	ATF_REQUIRE_EQ(vmem_add(vm, 0x3000, 0x20, VM_SLEEP), 0);
	ATF_REQUIRE_EQ(vmem_add(vm, 0x1001, 0x20, VM_SLEEP), 0);
	a = xok(__LINE__, vm, 0x10, 0x1000, 0, 0, 0, VMEM_ADDR_MAX, IF);
	CHECK_ADDR(a, 0x3000);
	vmem_xfree(vm, a, 0x10);
	/* Phase 0x11 in a 0x20 block: only [0x1011, 0x1020] fits. */
	a = xok(__LINE__, vm, 0x10, 0x20, 0x11, 0, 0, VMEM_ADDR_MAX, IF);
	CHECK_ADDR(a, 0x1011);
	vmem_xfreeall(vm);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(nextfit_ids);
ATF_TC_BODY(nextfit_ids, tc)
{
	const vm_flag_t NF = VM_NEXTFIT | VM_NOSLEEP;
	vmem_t *vm = mk("ids", 1, 1000, 1);
	vmem_addr_t a;
	int i;

	CHECK_ADDR(AOK(vm, 1, NF), 1);
	CHECK_ADDR(AOK(vm, 1, NF), 2);
	CHECK_ADDR(AOK(vm, 1, NF), 3);
	vmem_free(vm, 1, 1);
	/* Not 1 again: next fit continues after the last one. */
	CHECK_ADDR(AOK(vm, 1, NF), 4);
	for (i = 5; i <= 1000; i++) {
		a = AOK(vm, 1, NF);
		if (a != (vmem_addr_t)i) {
			CHECK_ADDR(a, i);
			break;
		}
	}
	/* Wraps around to the freed ID. */
	CHECK_ADDR(AOK(vm, 1, NF), 1);
	ATF_CHECK_EQ(vmem_alloc(vm, 1, NF, &a), ENOMEM);
	vmem_free(vm, 700, 1);
	vmem_free(vm, 300, 1);
	CHECK_ADDR(AOK(vm, 1, NF), 300);
	CHECK_ADDR(AOK(vm, 1, NF), 700);
	vmem_free(vm, 500, 1);
	vmem_free(vm, 800, 1);
	vmem_free(vm, 200, 1);
	CHECK_ADDR(AOK(vm, 1, NF), 800);
	CHECK_ADDR(AOK(vm, 1, NF), 200);
	CHECK_ADDR(AOK(vm, 1, NF), 500);
	CHECK_SIZE(vm, VMEM_FREE, 0);
	vmem_xfreeall(vm);
	vmem_destroy(vm);
}

/*
 * Freeing the last allocation, alone or merged with free neighbours,
 * does not bring next fit back to it: it continues after it (illumos).
 */
ATF_TC_WITHOUT_HEAD(nextfit_free_last);
ATF_TC_BODY(nextfit_free_last, tc)
{
	const vm_flag_t NF = VM_NEXTFIT | VM_NOSLEEP;
	vmem_t *vm = mk("nflast", 1, 32767, 1);
	vmem_addr_t a;
	int i;

	CHECK_ADDR(AOK(vm, 1, NF), 1);
	vmem_free(vm, 1, 1);
	CHECK_ADDR(AOK(vm, 1, NF), 2);
	for (i = 3; i <= 5; i++)
		CHECK_ADDR(AOK(vm, 1, NF), i);
	vmem_free(vm, 5, 1);
	vmem_free(vm, 2, 1);
	CHECK_ADDR(AOK(vm, 1, NF), 6);
	/* The last one freed and merged into the free space above it. */
	vmem_free(vm, 6, 1);
	vmem_free(vm, 4, 1);
	CHECK_ADDR(AOK(vm, 1, NF), 7);
	/* The rest of the arena, then round to the first hole that fits. */
	CHECK_ADDR(AOK(vm, 32760, NF), 8);
	vmem_free(vm, 8, 32760);
	CHECK_ADDR(AOK(vm, 3, NF), 4);
	ATF_CHECK_EQ(vmem_alloc(vm, 32767, NF, &a), ENOMEM);
	vmem_xfreeall(vm);
	vmem_destroy(vm);

	/* A full arena whose last slot is freed hands out that slot. */
	vm = mk("nffull", 1, 5, 1);
	for (i = 1; i <= 5; i++)
		CHECK_ADDR(AOK(vm, 1, NF), i);
	vmem_free(vm, 5, 1);
	CHECK_ADDR(AOK(vm, 1, NF), 5);
	vmem_free(vm, 3, 1);
	vmem_free(vm, 5, 1);
	CHECK_ADDR(AOK(vm, 1, NF), 3);
	CHECK_ADDR(AOK(vm, 1, NF), 5);
	vmem_xfreeall(vm);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(nextfit_sizes);
ATF_TC_BODY(nextfit_sizes, tc)
{
	const vm_flag_t NF = VM_NEXTFIT | VM_NOSLEEP;
	vmem_t *vm = mk("nextfit", 0, 100, 1);
	vmem_addr_t a, b, c;

	a = AOK(vm, 10, NF);
	b = AOK(vm, 10, NF);
	CHECK_ADDR(a, 0);
	CHECK_ADDR(b, 10);
	vmem_free(vm, a, 10);
	/* Larger than the hole at 0: after b. */
	c = AOK(vm, 20, NF);
	CHECK_ADDR(c, 20);
	vmem_free(vm, b, 10);
	vmem_free(vm, c, 20);
	/* The whole arena is free again; next fit still finds all of it. */
	a = AOK(vm, 100, NF);
	CHECK_ADDR(a, 0);
	vmem_free(vm, a, 100);
	vmem_destroy(vm);
}

/*
 * The rotor's tag is the first span's own when the last allocation was
 * the first segment there and has been freed: going round must still
 * look at that span below the rotor, after the spans listed later.
 */
ATF_TC_WITHOUT_HEAD(nextfit_first_span);
ATF_TC_BODY(nextfit_first_span, tc)
{
	const vm_flag_t NF = VM_NEXTFIT | VM_NOSLEEP;
	vmem_t *vm = mk("nffirst", 1, 100, 1);

	ATF_REQUIRE(vmem_add(vm, 1000, 10, VM_SLEEP) == 0);
	CHECK_ADDR(AOK(vm, 10, NF), 1);
	vmem_free(vm, 1, 10);
	/* Nothing from 11 up or in the second span: round to 1. */
	CHECK_ADDR(AOK(vm, 95, NF), 1);
	vmem_xfreeall(vm);
	vmem_destroy(vm);
}

/*
 * An allocation that ends at the top of the address space leaves next
 * fit at the start of the span listed after its own, here the start of
 * the list, not at the start of its own span.
 */
ATF_TC_WITHOUT_HEAD(nextfit_top_wrap);
ATF_TC_BODY(nextfit_top_wrap, tc)
{
	const vm_flag_t NF = VM_NEXTFIT | VM_NOSLEEP;
	const vmem_size_t q = 0x1000;
	const vmem_addr_t top = (vmem_addr_t)0 - 2 * q;
	vmem_t *vm = mk("nfwrap", 0x10000, 2 * q, q);

	ATF_REQUIRE(vmem_add(vm, top, 2 * q, VM_SLEEP) == 0);
	CHECK_ADDR(AOK(vm, q, NF), 0x10000);
	CHECK_ADDR(AOK(vm, q, NF), 0x11000);
	CHECK_ADDR(AOK(vm, q, NF), top);
	CHECK_ADDR(AOK(vm, q, NF), top + q);
	vmem_free(vm, 0x10000, q);
	vmem_free(vm, top, q);
	CHECK_ADDR(AOK(vm, q, NF), 0x10000);
	CHECK_ADDR(AOK(vm, q, NF), top);
	vmem_xfreeall(vm);
	vmem_destroy(vm);
}

/* ---- import and release */

ATF_TC_WITHOUT_HEAD(stacked_arenas);
ATF_TC_BODY(stacked_arenas, tc)
{
	vmem_t *parent = mk("parent", 0x100000, 0x100000, 0x1000);
	vmem_t *child;
	vmem_addr_t a, b;

	child = vmem_create("child", 0, 0, 0x1000, (vmem_import_t *)vmem_alloc,
	    (vmem_release_t *)vmem_free, parent, 0, VM_SLEEP, IPL_NONE);
	ATF_REQUIRE(child != NULL);
	CHECK_SIZE(child, VMEM_ALLOC | VMEM_FREE, 0);
	a = AOK(child, 0x3000, VM_BESTFIT | VM_SLEEP);
	ATF_CHECK(a >= 0x100000 && a + 0x3000 <= 0x200000);
	CHECK_SIZE(parent, VMEM_ALLOC, 0x3000);
	b = AOK(child, 0x1000, VM_INSTANTFIT | VM_NOSLEEP);
	CHECK_SIZE(parent, VMEM_ALLOC, 0x4000);
	CHECK_SIZE(child, VMEM_ALLOC, 0x4000);
	vmem_free(child, a, 0x3000);
	CHECK_SIZE(parent, VMEM_ALLOC, 0x1000);
	vmem_free(child, b, 0x1000);
	CHECK_SIZE(parent, VMEM_ALLOC, 0);
	CHECK_SIZE(child, VMEM_ALLOC | VMEM_FREE, 0);
	/* Constrained requests use the parent through plain vmem_alloc. */
	a = XOK(child, 0x2000, 0, 0, 0, 0, VMEM_ADDR_MAX);
	vmem_xfree(child, a, 0x2000);
	CHECK_SIZE(parent, VMEM_ALLOC, 0);
	vmem_destroy(child);
	vmem_destroy(parent);
}

ATF_TC_WITHOUT_HEAD(import_release_counts);
ATF_TC_BODY(import_release_counts, tc)
{
	vmem_t *parent = mk("ir-parent", 0x100000, 0x100000, 0x10);
	struct impsrc src = { .parent = parent };
	vmem_t *vm;
	vmem_addr_t a, b;

	vm = vmem_create("ir-child", 0, 0, 0x10, imp_fn, rel_fn, &src, 0,
	    VM_SLEEP, IPL_NONE);
	ATF_REQUIRE(vm != NULL);
	ATF_CHECK_EQ(src.nimport, 0);
	a = AOK(vm, 100, VM_BESTFIT | VM_SLEEP);
	ATF_CHECK_EQ(src.nimport, 1);
	/* The import asks the rounded size, with the caller's sleep flag. */
	CHECK_ADDR(src.imp_size, 112);
	ATF_CHECK_MSG(src.imp_flags & VM_SLEEP, "import flags %#x",
	    src.imp_flags);
	b = AOK(vm, 100, VM_BESTFIT | VM_NOSLEEP);
	ATF_CHECK_EQ(src.nimport, 2);
	ATF_CHECK_MSG(src.imp_flags & VM_NOSLEEP, "import flags %#x",
	    src.imp_flags);
	ATF_CHECK_EQ(src.nrelease, 0);
	vmem_free(vm, a, 100);
	ATF_CHECK_EQ(src.nrelease, 1);
	CHECK_ADDR(src.rel_addr, a);
	CHECK_ADDR(src.rel_size, 112);
	vmem_free(vm, b, 100);
	ATF_CHECK_EQ(src.nrelease, 2);
	CHECK_ADDR(src.rel_addr, b);
	CHECK_SIZE(parent, VMEM_ALLOC, 0);
	CHECK_SIZE(vm, VMEM_ALLOC | VMEM_FREE, 0);
	vmem_destroy(vm);
	vmem_destroy(parent);
}

/* A span goes back exactly when its last segment is freed. */
ATF_TC_WITHOUT_HEAD(release_on_last_free);
ATF_TC_BODY(release_on_last_free, tc)
{
	vmem_t *parent = mk("rl-parent", 0x100000, 0x100000, 0x10);
	struct impsrc src = { .parent = parent };
	vmem_addr_t a[16];
	vmem_t *vm;
	int i;

	vm = vmem_create("rl-child", 0, 0, 0x10, imp_fn, rel_fn, &src, 0,
	    VM_SLEEP | VM_LARGEIMPORT, IPL_NONE);
	ATF_REQUIRE(vm != NULL);
	a[0] = AOK(vm, 0x20, VM_BESTFIT | VM_SLEEP);
	ATF_CHECK_EQ(src.nimport, 1);
	/* VM_LARGEIMPORT: 16 times the request. */
	CHECK_ADDR(src.imp_size, 16 * 0x20);
	CHECK_SIZE(vm, VMEM_ALLOC | VMEM_FREE, 16 * 0x20);
	for (i = 1; i < 16; i++)
		a[i] = AOK(vm, 0x20, VM_BESTFIT | VM_SLEEP);
	ATF_CHECK_EQ(src.nimport, 1);
	CHECK_SIZE(vm, VMEM_FREE, 0);
	/* Free in a scattered order; no release before the last one. */
	for (i = 0; i < 15; i++) {
		int j = (i * 7) % 16;

		vmem_free(vm, a[j], 0x20);
		ATF_CHECK_EQ_MSG(src.nrelease, 0, "released after %d of 16 "
		    "frees", i + 1);
	}
	vmem_free(vm, a[(15 * 7) % 16], 0x20);
	ATF_CHECK_EQ(src.nrelease, 1);
	CHECK_SIZE(vm, VMEM_ALLOC | VMEM_FREE, 0);
	CHECK_SIZE(parent, VMEM_ALLOC, 0);
	CHECK_ADDR(src.rel_size, 16 * 0x20);
	vmem_destroy(vm);
	vmem_destroy(parent);
}

ATF_TC_WITHOUT_HEAD(ximport_larger_span);
ATF_TC_BODY(ximport_larger_span, tc)
{
	vmem_t *parent = mk("xi-parent", 0x100000, 0x100000, 0x10);
	struct impsrc src = { .parent = parent, .xfactor = 4 };
	vmem_addr_t a[5], lo, hi;
	vmem_t *vm;
	int i;

	vm = vmem_xcreate("xi-child", 0, 0, 0x10, ximp_fn, rel_fn, &src, 0,
	    VM_SLEEP, IPL_NONE);
	ATF_REQUIRE(vm != NULL);
	a[0] = AOK(vm, 0x100, VM_BESTFIT | VM_SLEEP);
	ATF_CHECK_EQ(src.nimport, 1);
	/* The whole reported span belongs to the arena. */
	CHECK_SIZE(vm, VMEM_ALLOC | VMEM_FREE, 0x400);
	CHECK_SIZE(vm, VMEM_FREE, 0x300);
	lo = a[0];
	hi = a[0];
	for (i = 1; i < 4; i++) {
		a[i] = AOK(vm, 0x100, VM_BESTFIT | VM_SLEEP);
		lo = a[i] < lo ? a[i] : lo;
		hi = a[i] > hi ? a[i] : hi;
	}
	ATF_CHECK_EQ(src.nimport, 1);
	ATF_CHECK_EQ(hi - lo, 0x300);
	a[4] = AOK(vm, 0x100, VM_BESTFIT | VM_SLEEP);
	ATF_CHECK_EQ(src.nimport, 2);
	CHECK_SIZE(vm, VMEM_ALLOC | VMEM_FREE, 0x800);
	for (i = 0; i < 4; i++)
		vmem_free(vm, a[i], 0x100);
	ATF_CHECK_EQ(src.nrelease, 1);
	CHECK_ADDR(src.rel_addr, lo);
	CHECK_ADDR(src.rel_size, 0x400);
	vmem_free(vm, a[4], 0x100);
	ATF_CHECK_EQ(src.nrelease, 2);
	CHECK_SIZE(parent, VMEM_ALLOC, 0);
	vmem_destroy(vm);
	vmem_destroy(parent);
}

ATF_TC_WITHOUT_HEAD(static_spans_kept);
ATF_TC_BODY(static_spans_kept, tc)
{
	vmem_t *parent = mk("st-parent", 0x100000, 0x100000, 0x10);
	struct impsrc src = { .parent = parent };
	vmem_addr_t a, b;
	vmem_t *vm;

	vm = vmem_create("st-child", 0x500000, 0x1000, 0x10, imp_fn, rel_fn,
	    &src, 0, VM_SLEEP, IPL_NONE);
	ATF_REQUIRE(vm != NULL);
	ATF_REQUIRE_EQ(vmem_add(vm, 0x600000, 0x1000, VM_SLEEP), 0);
	a = AOK(vm, 0x1000, VM_BESTFIT | VM_SLEEP);
	b = AOK(vm, 0x1000, VM_BESTFIT | VM_SLEEP);
	ATF_CHECK_EQ(src.nimport, 0);
	ATF_CHECK((a == 0x500000 && b == 0x600000) ||
	    (a == 0x600000 && b == 0x500000));
	vmem_free(vm, a, 0x1000);
	vmem_free(vm, b, 0x1000);
	ATF_CHECK_EQ(src.nrelease, 0);
	CHECK_SIZE(vm, VMEM_FREE, 0x2000);
	/* An imported span next to them goes back; they stay. */
	a = AOK(vm, 0x3000, VM_BESTFIT | VM_SLEEP);
	ATF_CHECK_EQ(src.nimport, 1);
	vmem_free(vm, a, 0x3000);
	ATF_CHECK_EQ(src.nrelease, 1);
	CHECK_SIZE(vm, VMEM_FREE, 0x2000);
	CHECK_SIZE(vm, VMEM_ALLOC | VMEM_FREE, 0x2000);
	vmem_destroy(vm);
	vmem_destroy(parent);
}

/* The source refusing: VM_NOSLEEP fails, nothing is left behind. */
ATF_TC_WITHOUT_HEAD(import_failure);
ATF_TC_BODY(import_failure, tc)
{
	vmem_t *parent = mk("if-parent", 0x100000, 0x1000, 0x10);
	struct impsrc src = { .parent = parent };
	vmem_addr_t a;
	vmem_t *vm;

	vm = vmem_create("if-child", 0, 0, 0x10, imp_fn, rel_fn, &src, 0,
	    VM_SLEEP, IPL_NONE);
	ATF_REQUIRE(vm != NULL);
	ATF_CHECK_EQ(vmem_alloc(vm, 0x2000, BF, &a), ENOMEM);
	ATF_CHECK(src.nimport >= 1);
	CHECK_SIZE(vm, VMEM_ALLOC | VMEM_FREE, 0);
	CHECK_SIZE(parent, VMEM_ALLOC, 0);
	a = AOK(vm, 0x1000, BF);
	vmem_free(vm, a, 0x1000);
	CHECK_SIZE(parent, VMEM_ALLOC, 0);
	vmem_destroy(vm);
	vmem_destroy(parent);
}

/* ---- sleeping */

struct sleeper {
	vmem_t		*vm;
	vmem_size_t	size;
	vmem_addr_t	lo, hi;
	int		exact;		/* vmem_xalloc_addr(lo, size) */
	atomic_int	started;
	atomic_int	done;
	int		rc;
	vmem_addr_t	addr;
};

static void *
sleeper_main(void *arg)
{
	struct sleeper *s = arg;

	atomic_store(&s->started, 1);
	if (s->exact) {
		s->rc = vmem_xalloc_addr(s->vm, s->lo, s->size, VM_SLEEP);
		s->addr = s->lo;
	} else
		s->rc = vmem_xalloc(s->vm, s->size, 0, 0, 0, s->lo, s->hi,
		    VM_BESTFIT | VM_SLEEP, &s->addr);
	atomic_store(&s->done, 1);
	return NULL;
}

/* Start a sleeper and require that it is still blocked after 100 ms. */
static void
sleeper_start(struct sleeper *s, pthread_t *t)
{
	atomic_init(&s->started, 0);
	atomic_init(&s->done, 0);
	s->rc = -1;
	ATF_REQUIRE_EQ(pthread_create(t, NULL, sleeper_main, s), 0);
	wait_flag(&s->started);
	msleep(100);
	ATF_REQUIRE_MSG(atomic_load(&s->done) == 0,
	    "VM_SLEEP request returned %d at once instead of blocking",
	    s->rc);
}

static void
sleeper_join(struct sleeper *s, pthread_t t)
{
	ATF_REQUIRE_EQ(pthread_join(t, NULL), 0);
	ATF_CHECK_EQ(atomic_load(&s->done), 1);
	ATF_CHECK_EQ(s->rc, 0);
}

ATF_TC(sleep_until_free);
ATF_TC_HEAD(sleep_until_free, tc)
{
	atf_tc_set_md_var(tc, "descr", "VM_SLEEP blocks until another "
	    "thread frees, then succeeds");
	atf_tc_set_md_var(tc, "timeout", "30");
}
ATF_TC_BODY(sleep_until_free, tc)
{
	vmem_t *vm = mk("sleepy", 0, 100, 1);
	struct sleeper s = { .vm = vm, .size = 10, .hi = VMEM_ADDR_MAX };
	vmem_addr_t a[10];
	pthread_t t;
	int i;

	for (i = 0; i < 10; i++)
		a[i] = AOK(vm, 10, BF);
	sleeper_start(&s, &t);
	vmem_free(vm, a[3], 10);
	sleeper_join(&s, t);
	CHECK_ADDR(s.addr, a[3]);
	vmem_xfree(vm, s.addr, 10);
	for (i = 0; i < 10; i++)
		if (i != 3)
			vmem_free(vm, a[i], 10);
	CHECK_SIZE(vm, VMEM_ALLOC, 0);
	vmem_destroy(vm);
}

ATF_TC(add_wakes_sleeper);
ATF_TC_HEAD(add_wakes_sleeper, tc)
{
	atf_tc_set_md_var(tc, "descr", "vmem_add wakes a VM_SLEEP request "
	    "that waits for space (nbmem decision)");
	atf_tc_set_md_var(tc, "timeout", "30");
}
ATF_TC_BODY(add_wakes_sleeper, tc)
{
	vmem_t *vm = mk("add-wake", 0, 100, 1);
	struct sleeper s = { .vm = vm, .size = 50, .hi = VMEM_ADDR_MAX };
	vmem_addr_t a;
	pthread_t t;

	a = AOK(vm, 60, BF);
	sleeper_start(&s, &t);
	ATF_REQUIRE_EQ(vmem_add(vm, 5000, 50, VM_SLEEP), 0);
	sleeper_join(&s, t);
	CHECK_ADDR(s.addr, 5000);
	vmem_xfree(vm, s.addr, 50);
	vmem_free(vm, a, 60);
	vmem_destroy(vm);
}

/*
 * A range narrower than the size can never be met: ENOMEM at once with
 * either sleep flag, with no import (vmem(3), differences).
 */
ATF_TC_WITHOUT_HEAD(narrow_range_no_import);
ATF_TC_BODY(narrow_range_no_import, tc)
{
	vmem_t *parent = mk("nr-parent", 0x1000, 0x1000, 1);
	struct impsrc src = { .parent = parent };
	vmem_addr_t a;
	vmem_t *vm;

	vm = vmem_create("nr-child", 0, 0, 1, imp_fn, rel_fn, &src, 0,
	    VM_SLEEP, IPL_NONE);
	ATF_REQUIRE(vm != NULL);
	ATF_CHECK_EQ(vmem_xalloc(vm, 0x10, 0, 0, 0, 0x1000, 0x100e,
	    VM_NOSLEEP | VM_BESTFIT, &a), ENOMEM);
	ATF_CHECK_EQ(vmem_xalloc(vm, 0x10, 0, 0, 0, 0x1000, 0x100e,
	    VM_SLEEP | VM_INSTANTFIT, &a), ENOMEM);
	ATF_CHECK_EQ(src.nimport, 0);
	/* one unit wider, and the import serves it */
	ATF_CHECK_EQ(vmem_xalloc(vm, 0x10, 0, 0, 0, 0x1000, 0x100f,
	    VM_NOSLEEP | VM_BESTFIT, &a), 0);
	ATF_CHECK_EQ(a, 0x1000);
	ATF_CHECK_EQ(src.nimport, 1);
	vmem_xfree(vm, a, 0x10);
	ATF_CHECK_EQ(src.nrelease, 1);
	vmem_destroy(vm);
	vmem_destroy(parent);
}

/*
 * A request constrained only by its range imports (the import ignores
 * the range) and then, with VM_SLEEP, sleeps until a free.
 */
ATF_TC(range_only_imports_then_sleeps);
ATF_TC_HEAD(range_only_imports_then_sleeps, tc)
{
	atf_tc_set_md_var(tc, "descr", "minaddr/maxaddr-only VM_SLEEP "
	    "requests import, then sleep until a free");
	atf_tc_set_md_var(tc, "timeout", "30");
}
ATF_TC_BODY(range_only_imports_then_sleeps, tc)
{
	vmem_t *parent = mk("ro-parent", 1000, 100, 1);
	struct impsrc src = { .parent = parent, .nosleep = 1 };
	struct sleeper s = { .size = 10, .lo = 0, .hi = 99 };
	pthread_t t;
	vmem_t *vm;

	vm = vmem_create("ro-child", 0, 100, 1, imp_fn, rel_fn, &src, 0,
	    VM_SLEEP, IPL_NONE);
	ATF_REQUIRE(vm != NULL);
	s.vm = vm;
	ATF_REQUIRE_EQ(vmem_xalloc_addr(vm, 0, 100, VM_NOSLEEP), 0);
	/* Without sleeping: imports, then fails. */
	xfail(__LINE__, vm, 10, 0, 0, 0, 0, 99, VM_BESTFIT | VM_NOSLEEP);
	ATF_CHECK_MSG(src.nimport >= 1, "no import for a range-only "
	    "request");
	src.nimport = 0;
	sleeper_start(&s, &t);
	ATF_CHECK_MSG(src.nimport >= 1, "no import for a range-only "
	    "request");
	vmem_xfree(vm, 0, 100);
	sleeper_join(&s, t);
	ATF_CHECK(s.addr + 10 <= 100);
	vmem_xfree(vm, s.addr, 10);
	vmem_destroy(vm);
	/* Spans the child imported but never used may still be out. */
	vmem_xfreeall(parent);
	vmem_destroy(parent);
}

ATF_TC(xalloc_addr_sleeps);
ATF_TC_HEAD(xalloc_addr_sleeps, tc)
{
	atf_tc_set_md_var(tc, "descr", "vmem_xalloc_addr with VM_SLEEP waits "
	    "until its exact range is free; frees elsewhere do not satisfy it");
	atf_tc_set_md_var(tc, "timeout", "30");
}
ATF_TC_BODY(xalloc_addr_sleeps, tc)
{
	vmem_t *vm = mk("addr-sleep", 0, 100, 1);
	struct sleeper s = { .vm = vm, .size = 10, .lo = 40, .exact = 1 };
	pthread_t t;

	ATF_REQUIRE_EQ(vmem_xalloc_addr(vm, 35, 10, VM_NOSLEEP), 0);
	ATF_REQUIRE_EQ(vmem_xalloc_addr(vm, 0, 30, VM_NOSLEEP), 0);
	sleeper_start(&s, &t);
	/* A free elsewhere wakes it, but [40, 50) is still partly busy. */
	vmem_xfree(vm, 0, 30);
	msleep(100);
	ATF_CHECK_MSG(atomic_load(&s.done) == 0, "vmem_xalloc_addr returned "
	    "%d while its range was busy", s.rc);
	vmem_xfree(vm, 35, 10);
	sleeper_join(&s, t);
	vmem_xfree(vm, 40, 10);
	CHECK_SIZE(vm, VMEM_ALLOC, 0);
	vmem_destroy(vm);
}

/* ---- vmem_add, vmem_xfreeall, vmem_xalloc_addr */

ATF_TC_WITHOUT_HEAD(add_then_alloc);
ATF_TC_BODY(add_then_alloc, tc)
{
	vmem_t *vm = mk("add", 0, 0, 0x10);
	vmem_addr_t a, b;

	ATF_CHECK_EQ(vmem_alloc(vm, 0x10, BF, &a), ENOMEM);
	ATF_REQUIRE_EQ(vmem_add(vm, 0x5000, 0x100, VM_SLEEP), 0);
	a = AOK(vm, 0x100, BF);
	CHECK_ADDR(a, 0x5000);
	ATF_CHECK_EQ(vmem_alloc(vm, 0x10, BF, &b), ENOMEM);
	ATF_REQUIRE_EQ(vmem_add(vm, 0x9000, 0x100, VM_NOSLEEP), 0);
	b = AOK(vm, 0x10, VM_INSTANTFIT | VM_NOSLEEP);
	ATF_CHECK(b >= 0x9000 && b + 0x10 <= 0x9100);
	/* Adjacent spans stay separate: 0x200 does not fit across them. */
	ATF_REQUIRE_EQ(vmem_add(vm, 0x5100, 0x100, VM_SLEEP), 0);
	vmem_free(vm, a, 0x100);
	ATF_CHECK_EQ(vmem_alloc(vm, 0x200, BF, &a), ENOMEM);
	CHECK_SIZE(vm, VMEM_ALLOC | VMEM_FREE, 0x300);
	vmem_free(vm, b, 0x10);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(xfreeall_destroy);
ATF_TC_BODY(xfreeall_destroy, tc)
{
	vmem_t *vm = mk("freeall", 0, 0x1000, 0x10);
	vmem_addr_t a;
	int i;

	ATF_REQUIRE_EQ(vmem_add(vm, 0x10000, 0x1000, VM_SLEEP), 0);
	for (i = 0; i < 50; i++)
		(void)XOK(vm, 0x10 * (vmem_size_t)(i % 5 + 1), 0, 0, 0, 0,
		    VMEM_ADDR_MAX);
	(void)AOK(vm, 0x100, BF);
	ATF_CHECK(vmem_size(vm, VMEM_ALLOC) > 0);
	vmem_xfreeall(vm);
	CHECK_SIZE(vm, VMEM_ALLOC, 0);
	CHECK_SIZE(vm, VMEM_FREE, 0x2000);
	/* Both spans are whole again. */
	a = XOK(vm, 0x1000, 0, 0, 0, 0, 0xfff);
	CHECK_ADDR(a, 0);
	a = XOK(vm, 0x1000, 0, 0, 0, 0x10000, VMEM_ADDR_MAX);
	CHECK_ADDR(a, 0x10000);
	vmem_xfreeall(vm);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(xalloc_addr);
ATF_TC_BODY(xalloc_addr, tc)
{
	vmem_t *vm = mk("exact", 0, 1000, 1);

	ATF_CHECK_EQ(vmem_xalloc_addr(vm, 100, 50, VM_NOSLEEP), 0);
	ATF_CHECK_EQ(vmem_xalloc_addr(vm, 120, 10, VM_NOSLEEP), ENOMEM);
	ATF_CHECK_EQ(vmem_xalloc_addr(vm, 149, 1, VM_NOSLEEP), ENOMEM);
	ATF_CHECK_EQ(vmem_xalloc_addr(vm, 90, 11, VM_NOSLEEP), ENOMEM);
	ATF_CHECK_EQ(vmem_xalloc_addr(vm, 100, 50, VM_NOSLEEP), ENOMEM);
	ATF_CHECK_EQ(vmem_xalloc_addr(vm, 50, 200, VM_NOSLEEP), ENOMEM);
	ATF_CHECK_EQ(vmem_xalloc_addr(vm, 150, 10, VM_NOSLEEP), 0);
	ATF_CHECK_EQ(vmem_xalloc_addr(vm, 90, 10, VM_NOSLEEP), 0);
	/* Outside the span, or running past its end. */
	ATF_CHECK_EQ(vmem_xalloc_addr(vm, 1000, 1, VM_NOSLEEP), ENOMEM);
	ATF_CHECK_EQ(vmem_xalloc_addr(vm, 990, 11, VM_NOSLEEP), ENOMEM);
	ATF_CHECK_EQ(vmem_xalloc_addr(vm, 990, 10, VM_SLEEP), 0);
	CHECK_SIZE(vm, VMEM_ALLOC, 50 + 10 + 10 + 10);
	vmem_xfree(vm, 100, 50);
	vmem_xfree(vm, 150, 10);
	vmem_xfree(vm, 90, 10);
	vmem_xfree(vm, 990, 10);
	CHECK_SIZE(vm, VMEM_ALLOC, 0);
	ATF_CHECK_EQ(vmem_xalloc_addr(vm, 0, 1000, VM_NOSLEEP), 0);
	vmem_xfree(vm, 0, 1000);
	vmem_destroy(vm);

	/* With a quantum: the exact range, rounded. */
	vm = mk("exact-q", 0x1000, 0x10000, 0x1000);
	ATF_CHECK_EQ(vmem_xalloc_addr(vm, 0x3000, 0x1800, VM_NOSLEEP), 0);
	CHECK_SIZE(vm, VMEM_ALLOC, 0x2000);
	ATF_CHECK_EQ(vmem_xalloc_addr(vm, 0x4000, 0x1000, VM_NOSLEEP),
	    ENOMEM);
	ATF_CHECK_EQ(vmem_xalloc_addr(vm, 0x5000, 0x1000, VM_NOSLEEP), 0);
	vmem_xfree(vm, 0x3000, 0x1800);
	vmem_xfree(vm, 0x5000, 0x1000);
	vmem_destroy(vm);
}

/* ---- creation variants */

ATF_TC_WITHOUT_HEAD(init_caller_storage);
ATF_TC_BODY(init_caller_storage, tc)
{
	static struct vmem store;
	vmem_t *vm;
	vmem_addr_t a;
	int round;

	for (round = 0; round < 2; round++) {
		vm = vmem_init(&store, "static-arena", 0x1000, 0x1000, 0x10,
		    NULL, NULL, NULL, 0, VM_SLEEP, IPL_VM);
		ATF_REQUIRE_EQ(vm, &store);
		a = AOK(vm, 0x100, BF);
		CHECK_SIZE(vm, VMEM_ALLOC, 0x100);
		vmem_free(vm, a, 0x100);
		vmem_destroy(vm);
	}
	vm = vmem_init(NULL, "heap-arena", 0x1000, 0x1000, 0x10, NULL, NULL,
	    NULL, 0, VM_SLEEP, IPL_NONE);
	ATF_REQUIRE(vm != NULL);
	ATF_CHECK(vm != &store);
	a = AOK(vm, 0x100, BF);
	vmem_free(vm, a, 0x100);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(name_truncated);
ATF_TC_BODY(name_truncated, tc)
{
	vmem_t *vm = mk("abcdefghijklmnopqrstuvwxyz", 0, 0x100, 1);

	capture_reset();
	vmem_print((uintptr_t)vm, "", pr);
	/* VMEM_NAME_MAX characters are kept, as in NetBSD */
	ATF_CHECK_MSG(strstr(prbuf, "abcdefghijklmnop") != NULL,
	    "no name in: %s", prbuf);
	ATF_CHECK_MSG(strstr(prbuf, "abcdefghijklmnopq") == NULL,
	    "name not truncated to 16 characters: %s", prbuf);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(print_whatis);
ATF_TC_BODY(print_whatis, tc)
{
	/* Far above any user address, so no other arena holds it. */
	const vmem_addr_t base = (vmem_addr_t)0xabc0 << 48;
	vmem_t *vm = mk("whatis-arena", base, 0x10000, 0x100);
	vmem_addr_t a;
	char want[160];

	a = XOK(vm, 0x300, 0, 0, 0, base + 0x1000, VMEM_ADDR_MAX);
	CHECK_ADDR(a, base + 0x1000);

	capture_reset();
	vmem_print((uintptr_t)vm, "", pr);
	ATF_CHECK_MSG(strstr(prbuf, "whatis-arena") != NULL, "vmem_print: "
	    "%s", prbuf);

	capture_reset();
	vmem_printall("", pr);
	ATF_CHECK_MSG(strstr(prbuf, "whatis-arena") != NULL,
	    "vmem_printall: %s", prbuf);

	/* NetBSD's line: "ADDR is START+OFF in VMEM 'name' (state)". */
	capture_reset();
	vmem_whatis(base + 0x1080, pr);
	snprintf(want, sizeof(want), "%p is %p+%zu in VMEM 'whatis-arena' "
	    "(allocated)\n", (void *)(base + 0x1080), (void *)(base + 0x1000),
	    (size_t)0x80);
	ATF_CHECK_MSG(strstr(prbuf, want) != NULL,
	    "vmem_whatis (allocated): %s", prbuf);
	capture_reset();
	vmem_whatis(base + 0x8000, pr);
	snprintf(want, sizeof(want), "%p is %p+%zu in VMEM 'whatis-arena' "
	    "(free)\n", (void *)(base + 0x8000), (void *)(base + 0x1300),
	    (size_t)(0x8000 - 0x1300));
	ATF_CHECK_MSG(strstr(prbuf, want) != NULL,
	    "vmem_whatis (free): %s", prbuf);
	/* An address no arena holds names none of ours. */
	capture_reset();
	vmem_whatis(base + 0x20000, pr);
	ATF_CHECK_MSG(strstr(prbuf, "whatis-arena") == NULL,
	    "vmem_whatis (outside): %s", prbuf);

	vmem_xfree(vm, a, 0x300);
	vmem_destroy(vm);
	/* A destroyed arena is gone from the list. */
	capture_reset();
	vmem_printall("", pr);
	ATF_CHECK_MSG(strstr(prbuf, "whatis-arena") == NULL,
	    "vmem_printall after destroy: %s", prbuf);
}

/*
 * vmem_printall dumps every arena as vmem_print does, its segments and
 * free lists included, whatever modif says: NetBSD's dumps each arena
 * in full (spec 1.4.11) and takes no modifier.
 */
ATF_TC_WITHOUT_HEAD(printall_segments);
ATF_TC_BODY(printall_segments, tc)
{
	const vmem_addr_t base = (vmem_addr_t)0xabd0 << 48;
	vmem_t *vm = mk("printall-arena", base, 0x10000, 0x100);
	const char *modif[] = { "", "f", NULL };
	char seg[64];
	vmem_addr_t a;

	a = XOK(vm, 0x300, 0, 0, 0, base + 0x1000, VMEM_ADDR_MAX);
	CHECK_ADDR(a, base + 0x1000);
	/* The busy segment's line, as vmem_print writes it. */
	capture_reset();
	vmem_print((uintptr_t)vm, "", pr);
	snprintf(seg, sizeof(seg), "%#jx - %#jx", (uintmax_t)a,
	    (uintmax_t)(a + 0x2ff));
	ATF_REQUIRE_MSG(strstr(prbuf, seg) != NULL, "vmem_print: %s",
	    prbuf);
	for (size_t i = 0; i < sizeof(modif) / sizeof(modif[0]); i++) {
		capture_reset();
		vmem_printall(modif[i], pr);
		ATF_CHECK_MSG(strstr(prbuf, seg) != NULL, "vmem_printall(%s) "
		    "shows no segment %s: %s", modif[i] != NULL ? modif[i] :
		    "NULL", seg, prbuf);
		ATF_CHECK_MSG(strstr(prbuf, "freelist[") != NULL,
		    "vmem_printall(%s) shows no free list: %s",
		    modif[i] != NULL ? modif[i] : "NULL", prbuf);
	}
	vmem_xfree(vm, a, 0x300);
	vmem_destroy(vm);
}

/* ---- quantum caches */

struct seg {
	vmem_addr_t	a;
	vmem_size_t	s;	/* as asked */
	vmem_size_t	rs;	/* rounded */
};

static int
seg_cmp(const void *x, const void *y)
{
	const struct seg *p = x, *q = y;

	return p->a < q->a ? -1 : p->a > q->a;
}

static void
check_disjoint(struct seg *v, size_t n, vmem_addr_t lo, vmem_addr_t end)
{
	size_t i;

	qsort(v, n, sizeof(*v), seg_cmp);
	for (i = 0; i < n; i++) {
		ATF_REQUIRE_MSG(v[i].a >= lo && v[i].a + v[i].rs <= end,
		    "[%#jx, +%#jx) outside the span", (uintmax_t)v[i].a,
		    (uintmax_t)v[i].rs);
		if (i > 0)
			ATF_REQUIRE_MSG(v[i - 1].a + v[i - 1].rs <= v[i].a,
			    "[%#jx, +%#jx) overlaps [%#jx, +%#jx)",
			    (uintmax_t)v[i - 1].a, (uintmax_t)v[i - 1].rs,
			    (uintmax_t)v[i].a, (uintmax_t)v[i].rs);
	}
}

ATF_TC_WITHOUT_HEAD(qcache);
ATF_TC_BODY(qcache, tc)
{
	enum { N = 3000 };
	static struct seg v[N];
	const vmem_addr_t base = 0x100000;
	const vmem_size_t span = 0x400000;
	vmem_size_t sum;
	unsigned int x = 12345;
	vmem_t *vm;
	int round, i;

	vm = vmem_create("qc-arena", base, span, 0x10, NULL, NULL, NULL,
	    0x40, VM_SLEEP, IPL_VM);
	ATF_REQUIRE(vm != NULL);
	for (round = 0; round < 3; round++) {
		sum = 0;
		for (i = 0; i < N; i++) {
			x = x * 1103515245u + 12345u;
			v[i].s = (x >> 8) % 0x120 + 1;
			v[i].rs = vmem_roundup_size(vm, v[i].s);
			v[i].a = AOK(vm, v[i].s, (i & 1) ?
			    VM_INSTANTFIT | VM_SLEEP : BF);
			sum += v[i].rs;
		}
		ATF_CHECK(vmem_size(vm, VMEM_ALLOC) >= sum);
		CHECK_SIZE(vm, VMEM_ALLOC | VMEM_FREE, span);
		check_disjoint(v, N, base, base + span);
		for (i = 0; i < N; i++)
			vmem_free(vm, v[i].a, v[i].s);
		CHECK_SIZE(vm, VMEM_ALLOC | VMEM_FREE, span);
	}
	/* Cached ranges are the arena's own: destroy does not complain. */
	vmem_destroy(vm);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, create_alloc_free);
	ATF_TP_ADD_TC(tp, addrp_null);
	ATF_TP_ADD_TC(tp, quantum_rounding);
	ATF_TP_ADD_TC(tp, size_masks);
	ATF_TP_ADD_TC(tp, addr_zero);
	ATF_TP_ADD_TC(tp, align_zero_is_quantum);
	ATF_TP_ADD_TC(tp, maxaddr_inclusive);
	ATF_TP_ADD_TC(tp, top_of_address_space);
	ATF_TP_ADD_TC(tp, netbsd_unittest_fixed);
	ATF_TP_ADD_TC(tp, extent_coalesce);
	ATF_TP_ADD_TC(tp, extent_subregion1);
	ATF_TP_ADD_TC(tp, extent_subregion2);
	ATF_TP_ADD_TC(tp, extent_bound1);
	ATF_TP_ADD_TC(tp, extent_bound2);
	ATF_TP_ADD_TC(tp, extent_bound3);
	ATF_TP_ADD_TC(tp, extent_bound4);
	ATF_TP_ADD_TC(tp, extent_subregion3);
	ATF_TP_ADD_TC(tp, extent_bound5);
	ATF_TP_ADD_TC(tp, extent_free);
	ATF_TP_ADD_TC(tp, extent_subregion4);
	ATF_TP_ADD_TC(tp, constraints);
	ATF_TP_ADD_TC(tp, constrained_sleep_fails);
	ATF_TP_ADD_TC(tp, strategy_difference);
	ATF_TP_ADD_TC(tp, instantfit_falls_back);
	ATF_TP_ADD_TC(tp, nextfit_ids);
	ATF_TP_ADD_TC(tp, nextfit_free_last);
	ATF_TP_ADD_TC(tp, nextfit_sizes);
	ATF_TP_ADD_TC(tp, nextfit_first_span);
	ATF_TP_ADD_TC(tp, nextfit_top_wrap);
	ATF_TP_ADD_TC(tp, nextfit_span_released);
	ATF_TP_ADD_TC(tp, stacked_arenas);
	ATF_TP_ADD_TC(tp, import_release_counts);
	ATF_TP_ADD_TC(tp, release_on_last_free);
	ATF_TP_ADD_TC(tp, ximport_larger_span);
	ATF_TP_ADD_TC(tp, static_spans_kept);
	ATF_TP_ADD_TC(tp, import_failure);
	ATF_TP_ADD_TC(tp, sleep_until_free);
	ATF_TP_ADD_TC(tp, add_wakes_sleeper);
	ATF_TP_ADD_TC(tp, narrow_range_no_import);
	ATF_TP_ADD_TC(tp, range_only_imports_then_sleeps);
	ATF_TP_ADD_TC(tp, xalloc_addr_sleeps);
	ATF_TP_ADD_TC(tp, add_then_alloc);
	ATF_TP_ADD_TC(tp, xfreeall_destroy);
	ATF_TP_ADD_TC(tp, xalloc_addr);
	ATF_TP_ADD_TC(tp, init_caller_storage);
	ATF_TP_ADD_TC(tp, name_truncated);
	ATF_TP_ADD_TC(tp, print_whatis);
	ATF_TP_ADD_TC(tp, printall_segments);
	ATF_TP_ADD_TC(tp, qcache);
	return atf_no_error();
}

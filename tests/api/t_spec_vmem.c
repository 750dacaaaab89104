/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * Conformance tests for vmem(3), written from the NetBSD vmem(9)
 * semantics (the reference specification, section 1, the misuse table
 * 1.6 and the test plan of 10.1, 10.3 and 10.5) against the public
 * headers only, included the way ported NetBSD code includes them.
 *
 * Every arena here is private to its test case; addresses are plain
 * integers and are never dereferenced.
 */
#include <sys/vmem.h>
#include <sys/vmem_impl.h>
#include <sys/pool.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <atf-c.h>

#include <nbmem/nbmem.h>

#include "nbpool.h"
#include "nbprint.h"
#include "nbtest.h"

#define	NF	(VM_NOSLEEP | VM_BESTFIT)
#define	NI	(VM_NOSLEEP | VM_INSTANTFIT)

static vmem_t *
mk(const char *name, vmem_addr_t base, vmem_size_t size, vmem_size_t q)
{
	vmem_t *vm;

	vm = vmem_create(name, base, size, q, NULL, NULL, NULL, 0, VM_SLEEP,
	    IPL_NONE);
	ATF_REQUIRE(vm != NULL);
	return vm;
}

static void
check_sizes(vmem_t *vm, vmem_size_t alloc, vmem_size_t total)
{
	ATF_CHECK_EQ(vmem_size(vm, VMEM_ALLOC), alloc);
	ATF_CHECK_EQ(vmem_size(vm, VMEM_FREE), total - alloc);
	ATF_CHECK_EQ(vmem_size(vm, VMEM_ALLOC | VMEM_FREE), total);
}

/* ---- 1.2 create, sizes, rounding */

ATF_TC_WITHOUT_HEAD(create_sizes);
ATF_TC_BODY(create_sizes, tc)
{
	vmem_t *vm = mk("spec-sizes", 0x1000, 0x10000, 16);
	vmem_addr_t a, b;

	check_sizes(vm, 0, 0x10000);
	ATF_CHECK_EQ(vmem_roundup_size(vm, 1), 16);
	ATF_CHECK_EQ(vmem_roundup_size(vm, 16), 16);
	ATF_CHECK_EQ(vmem_roundup_size(vm, 17), 32);
	ATF_CHECK_EQ(vmem_roundup_size(vm, 0x1001), 0x1010);

	/* sizes are rounded to the quantum, addresses are multiples of it */
	ATF_REQUIRE_EQ(vmem_alloc(vm, 1, NF, &a), 0);
	ATF_CHECK_EQ(a % 16, 0);
	ATF_CHECK(a >= 0x1000 && a + 16 <= 0x11000);
	check_sizes(vm, 16, 0x10000);
	ATF_REQUIRE_EQ(vmem_alloc(vm, 17, VM_SLEEP | VM_INSTANTFIT, &b), 0);
	ATF_CHECK_EQ(b % 16, 0);
	ATF_CHECK(b + 32 <= a || a + 16 <= b);
	check_sizes(vm, 48, 0x10000);
	vmem_free(vm, a, 1);
	vmem_free(vm, b, 17);
	check_sizes(vm, 0, 0x10000);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(create_empty_then_add);
ATF_TC_BODY(create_empty_then_add, tc)
{
	/* size 0 skips the initial span; vmem_add adds static spans */
	vmem_t *vm = mk("spec-add", 0x5000, 0, 1);
	vmem_addr_t a;

	check_sizes(vm, 0, 0);
	ATF_CHECK_EQ(vmem_alloc(vm, 1, NF, &a), ENOMEM);
	ATF_REQUIRE_EQ(vmem_add(vm, 100, 50, VM_SLEEP), 0);
	ATF_REQUIRE_EQ(vmem_add(vm, 1000, 10, VM_NOSLEEP), 0);
	check_sizes(vm, 0, 60);
	ATF_REQUIRE_EQ(vmem_alloc(vm, 50, NF, &a), 0);
	ATF_CHECK_EQ(a, 100);
	/* spans never coalesce: 60 units free in total, but not 11 */
	ATF_CHECK_EQ(vmem_alloc(vm, 11, NF, &a), ENOMEM);
	ATF_REQUIRE_EQ(vmem_alloc(vm, 10, NF, &a), 0);
	ATF_CHECK_EQ(a, 1000);
	check_sizes(vm, 60, 60);
	ATF_CHECK_EQ(vmem_alloc(vm, 1, NF, &a), ENOMEM);
	ATF_CHECK_EQ(vmem_alloc(vm, 1, NI, &a), ENOMEM);
	vmem_free(vm, 100, 50);
	vmem_free(vm, 1000, 10);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(alloc_addrp_null);
ATF_TC_BODY(alloc_addrp_null, tc)
{
	/* "stores the start address through addrp (if not NULL)" */
	vmem_t *vm = mk("spec-null", 0x40, 0x10, 0x10);

	ATF_REQUIRE_EQ(vmem_alloc(vm, 0x10, NF, NULL), 0);
	check_sizes(vm, 0x10, 0x10);
	vmem_free(vm, 0x40, 0x10);
	ATF_REQUIRE_EQ(vmem_xalloc(vm, 0x10, 0, 0, 0, VMEM_ADDR_MIN,
	    VMEM_ADDR_MAX, NF, NULL), 0);
	vmem_xfree(vm, 0x40, 0x10);
	check_sizes(vm, 0, 0x10);
	vmem_destroy(vm);

	/* The same through a quantum cache. */
	vm = vmem_create("spec-nullq", 0x1000, 0x1000, 0x10, NULL, NULL,
	    NULL, 0x40, VM_SLEEP, IPL_NONE);
	ATF_REQUIRE(vm != NULL);
	ATF_REQUIRE_EQ(vmem_alloc(vm, 0x10, NF, NULL), 0);
	ATF_REQUIRE_EQ(vmem_alloc(vm, 0x40, NF, NULL), 0);
	ATF_CHECK(vmem_size(vm, VMEM_ALLOC) >= 0x50);
	/* Not destroyed: the two ranges were never known, so never freed. */
}

ATF_TC_WITHOUT_HEAD(init_storage);
ATF_TC_BODY(init_storage, tc)
{
	static struct vmem storage;
	vmem_t *vm, *vm2;
	vmem_addr_t a;

	vm = vmem_init(&storage, "spec-init", 0x2000, 0x2000, 0x1000, NULL,
	    NULL, NULL, 0, VM_SLEEP, IPL_VM);
	ATF_REQUIRE(vm == &storage);
	ATF_REQUIRE_EQ(vmem_alloc(vm, 0x1000, NF, &a), 0);
	ATF_CHECK(a == 0x2000 || a == 0x3000);
	vmem_free(vm, a, 0x1000);
	vmem_destroy(vm);

	/* vm NULL: allocates, exactly like vmem_create */
	vm2 = vmem_init(NULL, "spec-init2", 0, 0x100, 1, NULL, NULL, NULL, 0,
	    VM_SLEEP, IPL_NONE);
	ATF_REQUIRE(vm2 != NULL);
	check_sizes(vm2, 0, 0x100);
	vmem_destroy(vm2);
}

ATF_TC_WITHOUT_HEAD(name_kept);
ATF_TC_BODY(name_kept, tc)
{
	/* VMEM_NAME_MAX (16): at most 16 characters of the name are kept */
	vmem_t *vm = mk("spec-name-0123456789", 0, 0x100, 1);

	prlen = 0;
	prbuf[0] = '\0';
	vmem_print((uintptr_t)vm, "", pr);
	ATF_CHECK_MSG(strstr(prbuf, "spec-name-012345") != NULL,
	    "the first 16 characters are not shown: %s", prbuf);
	ATF_CHECK_MSG(strstr(prbuf, "spec-name-0123456") == NULL,
	    "more than 16 characters kept: %s", prbuf);
	vmem_destroy(vm);
}

/* ---- 1.4.3 strategies */

ATF_TC_WITHOUT_HEAD(bestfit_vs_instantfit);
ATF_TC_BODY(bestfit_vs_instantfit, tc)
{
	/*
	 * Free segments of 3 and 100 quanta in two separate spans: a
	 * 3-quantum best fit takes the small one; instant fit starts at the
	 * list of 4..7 quanta and is served from the big one.
	 */
	vmem_t *vm = mk("spec-fit", 0, 0, 0x10);
	vmem_addr_t a, b;

	ATF_REQUIRE_EQ(vmem_add(vm, 0x1000, 3 * 0x10, VM_SLEEP), 0);
	ATF_REQUIRE_EQ(vmem_add(vm, 0x100000, 100 * 0x10, VM_SLEEP), 0);
	ATF_REQUIRE_EQ(vmem_alloc(vm, 3 * 0x10, NF, &a), 0);
	ATF_CHECK_EQ(a, 0x1000);
	vmem_free(vm, a, 3 * 0x10);
	ATF_REQUIRE_EQ(vmem_alloc(vm, 3 * 0x10, NI, &b), 0);
	ATF_CHECK_EQ(b, 0x100000);
	vmem_free(vm, b, 3 * 0x10);

	/* the same with vmem_xalloc */
	ATF_REQUIRE_EQ(vmem_xalloc(vm, 0x30, 0, 0, 0, VMEM_ADDR_MIN,
	    VMEM_ADDR_MAX, NF, &a), 0);
	ATF_CHECK_EQ(a, 0x1000);
	ATF_REQUIRE_EQ(vmem_xalloc(vm, 0x30, 0, 0, 0, VMEM_ADDR_MIN,
	    VMEM_ADDR_MAX, NI, &b), 0);
	ATF_CHECK_EQ(b, 0x100000);
	vmem_xfree(vm, a, 0x30);
	vmem_xfree(vm, b, 0x30);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(instantfit_never_fails_where_bestfit_succeeds);
ATF_TC_BODY(instantfit_never_fails_where_bestfit_succeeds, tc)
{
	/* the only free segment is 3 quanta: not on instant fit's lists */
	vmem_t *vm = mk("spec-ifit", 0x300, 3, 1);
	vmem_addr_t a;

	ATF_REQUIRE_EQ(vmem_alloc(vm, 3, NI, &a), 0);
	ATF_CHECK_EQ(a, 0x300);
	vmem_free(vm, a, 3);
	/* 5 quanta out of 7: instant fit looks at list 3 (8..15) first */
	ATF_REQUIRE_EQ(vmem_add(vm, 0x1000, 7, VM_SLEEP), 0);
	ATF_REQUIRE_EQ(vmem_alloc(vm, 5, NI, &a), 0);
	ATF_CHECK_EQ(a, 0x1000);
	ATF_REQUIRE_EQ(vmem_alloc(vm, 2, NI, &a), 0);
	ATF_CHECK(a == 0x1005 || a == 0x300 || a == 0x301);
	vmem_xfreeall(vm);
	vmem_destroy(vm);
}

/*
 * 1.4.3 and NetBSD's vmem_xalloc: once instant fit and then best fit
 * have found nothing, the request is a best-fit one from there on: the
 * search after an import (or a wakeup) is best fit only.  The import
 * function here frees two ranges of the arena itself while the lock is
 * dropped, a segment of 3 units (list 1) and one of 8 (list 3), and
 * returns a span of the 3 units asked for at 0x1000, which goes to the
 * head of list 1.  Best fit walks list 1 from its head and takes the
 * span; instant fit would look at list 2 and up and take the 8 units.
 */
struct refill {
	vmem_t		*vm;
	int		nimport;
};

static int
refill_import(void *arg, vmem_size_t size, vm_flag_t flags, vmem_addr_t *ap)
{
	struct refill *rf = arg;

	(void)flags;
	if (rf->nimport++ != 0)
		return ENOMEM;
	vmem_xfree(rf->vm, 0, 3);
	vmem_xfree(rf->vm, 4, 8);
	*ap = 0x1000;
	ATF_CHECK_EQ(size, 3);
	return 0;
}

ATF_TC_WITHOUT_HEAD(bestfit_after_import);
ATF_TC_BODY(bestfit_after_import, tc)
{
	struct refill rf = { 0 };
	vmem_t *vm;
	vmem_addr_t a;

	vm = vmem_create("spec-refill", 0, 0x20, 1, refill_import, NULL, &rf,
	    0, VM_SLEEP, IPL_NONE);
	ATF_REQUIRE(vm != NULL);
	rf.vm = vm;
	ATF_REQUIRE_EQ(vmem_xalloc_addr(vm, 0, 3, VM_NOSLEEP), 0);
	ATF_REQUIRE_EQ(vmem_xalloc_addr(vm, 3, 1, VM_NOSLEEP), 0);
	ATF_REQUIRE_EQ(vmem_xalloc_addr(vm, 4, 8, VM_NOSLEEP), 0);
	ATF_REQUIRE_EQ(vmem_xalloc_addr(vm, 12, 0x14, VM_NOSLEEP), 0);
	ATF_REQUIRE_EQ(vmem_alloc(vm, 3, NI, &a), 0);
	ATF_CHECK_EQ(rf.nimport, 1);
	ATF_CHECK_EQ_MSG(a, 0x1000, "the search after the import took %#jx, "
	    "not the imported span at 0x1000 (instant fit instead of best "
	    "fit)", (uintmax_t)a);
	vmem_xfreeall(vm);
	vmem_destroy(vm);
}

/*
 * 1.4.2: a free segment goes to the head of its list whenever it is
 * filed, which NetBSD does each time a segment is made or changed: the
 * free segment that a free leaves after joining its neighbours, and the
 * remainder and the leading fragment of a split (the remainder ahead of
 * the fragment), even when the list is the one it was on.  Instant fit
 * takes the head of a list and best fit walks it from there, so the
 * order decides the address.
 */
static void
carve(vmem_t *vm, const vmem_addr_t *cut, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++)
		ATF_REQUIRE_EQ(vmem_xalloc_addr(vm, cut[i], cut[i + 1] - cut[i],
		    VM_NOSLEEP), 0);
}

ATF_TC_WITHOUT_HEAD(freelist_head_after_join);
ATF_TC_BODY(freelist_head_after_join, tc)
{
	static const vmem_addr_t cut1[] = { 0, 0x10, 0x20, 0x30, 0x40, 0x41,
	    0x100 };
	static const vmem_addr_t cut2[] = { 0, 0x10, 0x20, 0x30, 0x31, 0x48,
	    0x100 };
	vmem_t *vm = mk("spec-lifo-join", 0, 0x100, 1);
	vmem_addr_t a;

	/* [0x30, 0x40) then [0x10, 0x20) freed: list 4 is 0x10, 0x30 */
	carve(vm, cut1, sizeof(cut1) / sizeof(cut1[0]));
	vmem_xfree(vm, 0x30, 0x10);
	vmem_xfree(vm, 0x10, 0x10);
	/* 0x40 joins the segment before it: 17 units, still list 4, head */
	vmem_xfree(vm, 0x40, 1);
	ATF_REQUIRE_EQ(vmem_alloc(vm, 0x10, NI, &a), 0);
	ATF_CHECK_EQ_MSG(a, 0x30, "instant fit took %#zx", (size_t)a);
	vmem_free(vm, a, 0x10);
	ATF_REQUIRE_EQ(vmem_alloc(vm, 0x10, NF, &a), 0);
	ATF_CHECK_EQ_MSG(a, 0x30, "best fit took %#zx", (size_t)a);
	vmem_xfreeall(vm);

	/* [0x31, 0x48) then [0x10, 0x20) freed: list 4 is 0x10, 0x31 */
	carve(vm, cut2, sizeof(cut2) / sizeof(cut2[0]));
	vmem_xfree(vm, 0x31, 0x17);
	vmem_xfree(vm, 0x10, 0x10);
	/* 0x30 joins the segment after it: 24 units, list 4, head */
	vmem_xfree(vm, 0x30, 1);
	ATF_REQUIRE_EQ(vmem_alloc(vm, 0x10, NI, &a), 0);
	ATF_CHECK_EQ_MSG(a, 0x30, "instant fit took %#zx", (size_t)a);
	vmem_xfreeall(vm);
	check_sizes(vm, 0, 0x100);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(freelist_head_after_split);
ATF_TC_BODY(freelist_head_after_split, tc)
{
	static const vmem_addr_t cut1[] = { 0, 0x10, 0x30, 0x40, 0x68,
	    0x100 };
	static const vmem_addr_t cut2[] = { 0, 0x10, 0x30, 0x40, 0x90,
	    0x100 };
	vmem_t *vm = mk("spec-lifo-split", 0, 0x100, 1);
	vmem_addr_t a;

	/* 32 units at 0x10 and 40 at 0x40, both on list 5, 0x10 first */
	carve(vm, cut1, sizeof(cut1) / sizeof(cut1[0]));
	vmem_xfree(vm, 0x40, 0x28);
	vmem_xfree(vm, 0x10, 0x20);
	/* one unit from the second: its 39-unit rest goes to the head */
	ATF_REQUIRE_EQ(vmem_xalloc(vm, 1, 0, 0, 0, 0x40, VMEM_ADDR_MAX, NF,
	    &a), 0);
	ATF_CHECK_EQ(a, 0x40);
	ATF_REQUIRE_EQ(vmem_alloc(vm, 0x20, NI, &a), 0);
	ATF_CHECK_EQ_MSG(a, 0x41, "instant fit took %#zx", (size_t)a);
	vmem_xfreeall(vm);

	/*
	 * 32 units at 0x10 (list 5) and 80 at 0x40 (list 6); one unit at
	 * 0x60 leaves a 32-unit fragment at 0x40 and a 47-unit rest at
	 * 0x61: list 5 is then the rest, the fragment, 0x10.
	 */
	carve(vm, cut2, sizeof(cut2) / sizeof(cut2[0]));
	vmem_xfree(vm, 0x40, 0x50);
	vmem_xfree(vm, 0x10, 0x20);
	ATF_REQUIRE_EQ(vmem_xalloc(vm, 1, 0, 0, 0, 0x60, VMEM_ADDR_MAX, NF,
	    &a), 0);
	ATF_CHECK_EQ(a, 0x60);
	ATF_REQUIRE_EQ(vmem_alloc(vm, 0x20, NI, &a), 0);
	ATF_CHECK_EQ_MSG(a, 0x61, "first instant fit took %#zx", (size_t)a);
	ATF_REQUIRE_EQ(vmem_alloc(vm, 0x20, NI, &a), 0);
	ATF_CHECK_EQ_MSG(a, 0x40, "second instant fit took %#zx", (size_t)a);
	ATF_REQUIRE_EQ(vmem_alloc(vm, 0x20, NI, &a), 0);
	ATF_CHECK_EQ_MSG(a, 0x10, "third instant fit took %#zx", (size_t)a);
	vmem_xfreeall(vm);
	check_sizes(vm, 0, 0x100);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(nextfit_cyclic);
ATF_TC_BODY(nextfit_cyclic, tc)
{
	/* nbmem extension: allocate after the previous one, wrap round */
	vmem_t *vm = mk("spec-nfit", 0, 10, 1);
	vmem_addr_t a;
	int i;

	ATF_REQUIRE_EQ(vmem_alloc(vm, 1, VM_NOSLEEP | VM_NEXTFIT, &a), 0);
	ATF_CHECK_EQ(a, 0);
	ATF_REQUIRE_EQ(vmem_alloc(vm, 1, VM_NOSLEEP | VM_NEXTFIT, &a), 0);
	ATF_CHECK_EQ(a, 1);
	vmem_free(vm, 0, 1);
	/* a freed range is not reused until the allocations went round */
	for (i = 2; i < 10; i++) {
		ATF_REQUIRE_EQ(vmem_alloc(vm, 1, VM_NOSLEEP | VM_NEXTFIT, &a),
		    0);
		ATF_CHECK_EQ(a, (vmem_addr_t)i);
	}
	ATF_REQUIRE_EQ(vmem_alloc(vm, 1, VM_NOSLEEP | VM_NEXTFIT, &a), 0);
	ATF_CHECK_EQ(a, 0);
	ATF_CHECK_EQ(vmem_alloc(vm, 1, VM_NOSLEEP | VM_NEXTFIT, &a), ENOMEM);
	vmem_xfreeall(vm);
	check_sizes(vm, 0, 10);
	vmem_destroy(vm);
}

/* ---- 1.2 vmem_xalloc constraints, 1.4.4 */

static void
xa_ok(vmem_t *vm, vmem_size_t size, vmem_size_t align, vmem_size_t phase,
    vmem_size_t nocross, vmem_addr_t min, vmem_addr_t max, vmem_addr_t want)
{
	vmem_addr_t a = 0xdead;

	ATF_REQUIRE_EQ_MSG(vmem_xalloc(vm, size, align, phase, nocross, min,
	    max, NF, &a), 0, "size %#zx align %#zx phase %#zx nocross %#zx "
	    "[%#zx, %#zx]", size, align, phase, nocross, min, max);
	ATF_CHECK_EQ_MSG(a, want, "got %#zx want %#zx", a, want);
}

static void
xa_fail(vmem_t *vm, vmem_size_t size, vmem_size_t align, vmem_size_t phase,
    vmem_size_t nocross, vmem_addr_t min, vmem_addr_t max)
{
	vmem_addr_t a = 0xdead;

	ATF_CHECK_EQ_MSG(vmem_xalloc(vm, size, align, phase, nocross, min,
	    max, NF, &a), ENOMEM, "size %#zx [%#zx, %#zx] gave %#zx", size,
	    min, max, a);
	ATF_CHECK_EQ_MSG(vmem_xalloc(vm, size, align, phase, nocross, min,
	    max, NI, &a), ENOMEM, "instant fit, size %#zx [%#zx, %#zx]", size,
	    min, max);
}

ATF_TC_WITHOUT_HEAD(xalloc_unittest_fixed);
ATF_TC_BODY(xalloc_unittest_fixed, tc)
{
	/* 10.1 step 1 and 2: the spans and fixed allocations of UNITTEST */
	vmem_t *vm = mk("spec-unittest", 0, 0, 1);
	vmem_addr_t a;

	ATF_REQUIRE_EQ(vmem_add(vm, 0, 50, VM_SLEEP), 0);
	ATF_REQUIRE_EQ(vmem_add(vm, 100, 200, VM_SLEEP), 0);
	ATF_REQUIRE_EQ(vmem_add(vm, 2000, 1, VM_SLEEP), 0);
	ATF_REQUIRE_EQ(vmem_add(vm, 40000, 65536, VM_SLEEP), 0);
	ATF_REQUIRE_EQ(vmem_add(vm, 10000, 10000, VM_SLEEP), 0);
	ATF_REQUIRE_EQ(vmem_add(vm, 500, 1000, VM_SLEEP), 0);
	ATF_REQUIRE_EQ(vmem_add(vm, 0xffffff00, 0x100, VM_SLEEP), 0);

	ATF_CHECK_EQ(vmem_xalloc(vm, 0x101, 0, 0, 0, 0xffffff00, 0xffffffff,
	    NI, &a), ENOMEM);
	ATF_REQUIRE_EQ(vmem_xalloc(vm, 50, 0, 0, 0, 0, 49, NI, &a), 0);
	ATF_CHECK_EQ(a, 0);
	vmem_xfree(vm, a, 50);
	ATF_REQUIRE_EQ(vmem_xalloc(vm, 25, 0, 0, 0, 0, 24, NI, &a), 0);
	ATF_CHECK_EQ(a, 0);
	ATF_CHECK_EQ(vmem_xalloc(vm, 0x100, 0, 0, 0, 0xffffff01, 0xffffffff,
	    NI, &a), ENOMEM);
	ATF_CHECK_EQ(vmem_xalloc(vm, 0x100, 0, 0, 0, 0xffffff00, 0xfffffffe,
	    NI, &a), ENOMEM);
	ATF_REQUIRE_EQ(vmem_xalloc(vm, 0x100, 0, 0, 0, 0xffffff00, 0xffffffff,
	    NI, &a), 0);
	ATF_CHECK_EQ(a, 0xffffff00);
	vmem_xfreeall(vm);
	check_sizes(vm, 0, 50 + 200 + 1 + 65536 + 10000 + 1000 + 0x100);
	vmem_destroy(vm);
}

/*
 * 10.1 step 3: the random phase of the UNITTEST program, with its
 * distribution: 46 in 100 frees of a random earlier allocation (with
 * the matching free function), 25 vmem_alloc and 29 vmem_xalloc of 1 to
 * 500 units, the latter with align and nocross 2^0 to 2^14, a phase
 * below 65536 cleared unless below align, nocross cleared when the phase
 * window crosses it, minaddr below 50000 and maxaddr below 70000.  The
 * loop ends when a plain allocation fails, as in NetBSD, or after
 * UT_STEPS: frees outnumber the successful allocations, so the arena
 * settles near 50 live ranges and rarely fills.  VM_NOSLEEP instead of
 * NetBSD's VM_SLEEP, whose no-op condition variables make an exhausted
 * arena retry forever (10.1).  NetBSD asserts through the fit
 * routine's KASSERTs and VMEM_SANITY; here a bitmap of the busy units
 * checks every result against the constraints, the spans and the live
 * allocations, and a failure against an exhaustive search: instant fit
 * falls back to best fit, so ENOMEM means no placement exists at all.
 */
#define	UT_END		(40000 + 65536)		/* above: the top span */
#define	UT_MAXREG	4096
#define	UT_STEPS	25000

struct ut_reg {
	vmem_addr_t	p;
	vmem_size_t	sz;
	bool		x;
};

static uint8_t ut_inspan[UT_END], ut_busy[UT_END];
static struct ut_reg ut_reg[UT_MAXREG];
static uint64_t ut_rng;

static unsigned int
ut_rand(void)
{
	/* xorshift64*, the top 31 bits like rand() */
	ut_rng ^= ut_rng >> 12;
	ut_rng ^= ut_rng << 25;
	ut_rng ^= ut_rng >> 27;
	return (unsigned int)((ut_rng * UINT64_C(0x2545f4914f6cdd1d)) >> 33);
}

static bool
ut_cross(vmem_addr_t a, vmem_addr_t b, vmem_size_t nocross)
{
	return nocross != 0 && a / nocross != b / nocross;
}

/* Is there any free placement for the request?  Brute force. */
static bool
ut_fits(vmem_size_t sz, vmem_size_t align, vmem_size_t phase,
    vmem_size_t nocross, vmem_addr_t min, vmem_addr_t max)
{
	vmem_addr_t s, e;

	for (s = 0; s < UT_END; s = e + 1) {
		vmem_addr_t lo, hi, c;

		/* one maximal run of free units [s, e) */
		while (s < UT_END && (!ut_inspan[s] || ut_busy[s]))
			s++;
		for (e = s; e < UT_END && ut_inspan[e] && !ut_busy[e]; e++)
			continue;
		if (s == UT_END)
			break;
		lo = s > min ? s : min;
		hi = e - 1 < max ? e - 1 : max;
		if (lo > hi || hi - lo + 1 < sz)
			continue;
		c = (lo + align - 1 - phase) / align * align + phase;
		if (c < lo)
			c += align;
		for (; c + sz - 1 <= hi; c += align)
			if (!ut_cross(c, c + sz - 1, nocross))
				return true;
	}
	return false;
}

static void
ut_run(uint64_t seed, vm_flag_t strat)
{
	static const struct { vmem_addr_t a; vmem_size_t s; } spans[] = {
		{ 0, 50 }, { 100, 200 }, { 2000, 1 }, { 40000, 65536 },
		{ 10000, 10000 }, { 500, 1000 }, { 0xffffff00, 0x100 },
	};
	const vm_flag_t fl = strat | VM_NOSLEEP;
	vmem_t *vm = mk("test", 0, 0, 1);
	vmem_size_t total = 0, inuse;
	unsigned long step, nalloc = 0, nxfail = 0, nfree = 0;
	unsigned int nreg = 0;
	vmem_addr_t p, i;
	bool ended = false;
	size_t k;

	memset(ut_inspan, 0, sizeof(ut_inspan));
	memset(ut_busy, 0, sizeof(ut_busy));
	for (k = 0; k < sizeof(spans) / sizeof(spans[0]); k++) {
		ATF_REQUIRE_EQ(vmem_add(vm, spans[k].a, spans[k].s, VM_SLEEP),
		    0);
		total += spans[k].s;
		for (i = spans[k].a; i < UT_END &&
		    i < spans[k].a + spans[k].s; i++)
			ut_inspan[i] = 1;
	}
	/* the fixed part leaves [0, 24] and the top span allocated */
	ATF_REQUIRE_EQ(vmem_xalloc(vm, 25, 0, 0, 0, 0, 24, fl, &p), 0);
	ATF_REQUIRE_EQ(p, 0);
	memset(ut_busy, 1, 25);
	ATF_REQUIRE_EQ(vmem_xalloc(vm, 0x100, 0, 0, 0, 0xffffff00, 0xffffffff,
	    fl, &p), 0);
	ATF_REQUIRE_EQ(p, 0xffffff00);
	inuse = 25 + 0x100;

	ut_rng = seed;
	for (step = 0; step < UT_STEPS && !ended; step++) {
		unsigned int t = ut_rand() % 100;
		struct ut_reg *r;

		if (t > 45) {
			vmem_size_t sz = ut_rand() % 500 + 1;
			vmem_size_t align = 1, phase = 0, nocross = 0;
			vmem_addr_t min = VMEM_ADDR_MIN, max = VMEM_ADDR_MAX;
			bool x = t > 70;
			int rc;

			if (x) {
				align = (vmem_size_t)1 << (ut_rand() % 15);
				phase = ut_rand() % 65536;
				nocross = (vmem_size_t)1 << (ut_rand() % 15);
				if (align <= phase)
					phase = 0;
				if (ut_cross(phase, phase + sz - 1, nocross))
					nocross = 0;
				do {
					min = ut_rand() % 50000;
					max = ut_rand() % 70000;
				} while (min > max);
				rc = vmem_xalloc(vm, sz, align, phase,
				    nocross, min, max, fl, &p);
			} else
				rc = vmem_alloc(vm, sz, fl, &p);
			if (rc != 0) {
				ATF_REQUIRE_EQ(rc, ENOMEM);
				ATF_REQUIRE_MSG(!ut_fits(sz, align, phase,
				    nocross, min, max), "seed %" PRIu64
				    " step %lu: ENOMEM for %zu units, align "
				    "%zu phase %zu nocross %zu [%zu, %zu], "
				    "but a placement exists", seed, step, sz,
				    align, phase, nocross, (size_t)min,
				    (size_t)max);
				if (!x)
					ended = true;
				nxfail += x;
				continue;
			}
			ATF_REQUIRE_MSG(p < UT_END && sz <= UT_END - p &&
			    p % align == phase &&
			    !ut_cross(p, p + sz - 1, nocross) &&
			    p >= min && p + sz - 1 <= max, "seed %" PRIu64
			    " step %lu: %zu units at %zu break align %zu "
			    "phase %zu nocross %zu [%zu, %zu]", seed, step,
			    sz, (size_t)p, align, phase, nocross,
			    (size_t)min, (size_t)max);
			for (i = p; i < p + sz; i++) {
				ATF_REQUIRE_MSG(ut_inspan[i] && !ut_busy[i],
				    "seed %" PRIu64 " step %lu: unit %zu of "
				    "[%zu, +%zu) is %s", seed, step,
				    (size_t)i, (size_t)p, sz, ut_inspan[i] ?
				    "busy" : "outside the spans");
				ut_busy[i] = 1;
			}
			ATF_REQUIRE(nreg < UT_MAXREG);
			ut_reg[nreg++] = (struct ut_reg){ p, sz, x };
			inuse += sz;
			nalloc++;
		} else if (nreg != 0) {
			r = &ut_reg[ut_rand() % nreg];
			if (r->x)
				vmem_xfree(vm, r->p, r->sz);
			else
				vmem_free(vm, r->p, r->sz);
			memset(&ut_busy[r->p], 0, r->sz);
			inuse -= r->sz;
			*r = ut_reg[--nreg];
			nfree++;
		}
		if (step % 64 == 0)
			check_sizes(vm, inuse, total);
	}
	check_sizes(vm, inuse, total);
	printf("seed %" PRIu64 " %s: %lu steps, %lu allocations (%lu "
	    "constrained failures), %lu frees, %u live\n", seed,
	    strat == VM_INSTANTFIT ? "instant fit" : "best fit", step, nalloc,
	    nxfail, nfree, nreg);
	vmem_xfreeall(vm);
	check_sizes(vm, 0, total);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(xalloc_unittest_random);
ATF_TC_BODY(xalloc_unittest_random, tc)
{
	uint64_t seed;

	/* instant fit as in the original, best fit as its #else */
	for (seed = 1; seed <= 4; seed++) {
		ut_run(seed * UINT64_C(0x9e3779b97f4a7c15), VM_INSTANTFIT);
		ut_run(seed * UINT64_C(0x9e3779b97f4a7c15), VM_BESTFIT);
	}
}

ATF_TC_WITHOUT_HEAD(xalloc_top_of_address_space);
ATF_TC_BODY(xalloc_top_of_address_space, tc)
{
	/* allocations ending exactly at VMEM_ADDR_MAX */
	vmem_t *vm = mk("spec-top", 0, 0, 1);
	vmem_addr_t a;

	ATF_REQUIRE_EQ(vmem_add(vm, VMEM_ADDR_MAX - 0xff, 0x100, VM_SLEEP), 0);
	check_sizes(vm, 0, 0x100);
	xa_fail(vm, 0x101, 0, 0, 0, VMEM_ADDR_MIN, VMEM_ADDR_MAX);
	xa_fail(vm, 0x100, 0, 0, 0, VMEM_ADDR_MIN, VMEM_ADDR_MAX - 1);
	xa_ok(vm, 0x100, 0, 0, 0, VMEM_ADDR_MIN, VMEM_ADDR_MAX,
	    VMEM_ADDR_MAX - 0xff);
	vmem_xfree(vm, VMEM_ADDR_MAX - 0xff, 0x100);
	/* the very last unit, exactly: minaddr == maxaddr - size + 1 */
	xa_ok(vm, 1, 0, 0, 0, VMEM_ADDR_MAX, VMEM_ADDR_MAX, VMEM_ADDR_MAX);
	xa_fail(vm, 1, 0, 0, 0, VMEM_ADDR_MAX, VMEM_ADDR_MAX);
	ATF_REQUIRE_EQ(vmem_alloc(vm, 0xff, NF, &a), 0);
	ATF_CHECK_EQ(a, VMEM_ADDR_MAX - 0xff);
	vmem_free(vm, a, 0xff);
	vmem_xfree(vm, VMEM_ADDR_MAX, 1);
	/* with an alignment: the last 16-aligned 16 units */
	xa_ok(vm, 0x10, 0x10, 0, 0, VMEM_ADDR_MAX - 0x1e, VMEM_ADDR_MAX,
	    VMEM_ADDR_MAX - 0xf);
	vmem_xfree(vm, VMEM_ADDR_MAX - 0xf, 0x10);
	check_sizes(vm, 0, 0x100);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(xalloc_minmax_inclusive);
ATF_TC_BODY(xalloc_minmax_inclusive, tc)
{
	vmem_t *vm = mk("spec-minmax", 0x1000, 0x1000, 0x10);
	vmem_addr_t a;

	/* minaddr == maxaddr - size + 1: one placement only */
	xa_ok(vm, 0x40, 0, 0, 0, 0x1800, 0x183f, 0x1800);
	xa_fail(vm, 0x40, 0, 0, 0, 0x1800, 0x183e);
	xa_fail(vm, 0x40, 0, 0, 0, 0x1800, 0x183f);	/* now busy */
	xa_ok(vm, 0x10, 0, 0, 0, 0x1840, 0x184f, 0x1840);
	/* a range wholly outside the arena */
	xa_fail(vm, 0x10, 0, 0, 0, 0x3000, 0x4000);
	xa_fail(vm, 0x10, 0, 0, 0, 0, 0xfff);
	/* the last quantum of the arena, by the inclusive bound */
	xa_ok(vm, 0x10, 0, 0, 0, 0x1ff0, 0x1fff, 0x1ff0);
	/* maxaddr may lie past the end of the arena */
	xa_ok(vm, 0x10, 0, 0, 0, 0x1fe0, VMEM_ADDR_MAX, 0x1fe0);
	/* the first quantum */
	xa_ok(vm, 0x10, 0, 0, 0, 0, 0x100f, 0x1000);
	vmem_xfree(vm, 0x1800, 0x40);
	vmem_xfree(vm, 0x1840, 0x10);
	vmem_xfree(vm, 0x1ff0, 0x10);
	vmem_xfree(vm, 0x1fe0, 0x10);
	vmem_xfree(vm, 0x1000, 0x10);
	ATF_REQUIRE_EQ(vmem_alloc(vm, 0x1000, NF, &a), 0);
	ATF_CHECK_EQ(a, 0x1000);
	vmem_free(vm, a, 0x1000);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(xalloc_zero_bounds);
ATF_TC_BODY(xalloc_zero_bounds, tc)
{
	/*
	 * 11.1: up to NetBSD 5 a minaddr or maxaddr of 0 meant "no
	 * limit"; now both are addresses like any other, so [0, 0] is
	 * the range of address 0 alone, and an arena without it has
	 * nothing there.
	 */
	vmem_t *vm = mk("spec-zerob", 0x1000, 0x1000, 0x10);

	xa_fail(vm, 0x10, 0, 0, 0, 0, 0);
	xa_fail(vm, 0x10, 0, 0, 0, 0, 0xfff);
	xa_ok(vm, 0x10, 0, 0, 0, 0, 0x100f, 0x1000);
	xa_ok(vm, 0x10, 0, 0, 0, 0x1ff0, VMEM_ADDR_MAX, 0x1ff0);
	check_sizes(vm, 0x20, 0x1000);
	vmem_xfreeall(vm);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(xalloc_align_phase_nocross);
ATF_TC_BODY(xalloc_align_phase_nocross, tc)
{
	vmem_t *vm = mk("spec-align", 0x1010, 0x10000, 0x10);
	vmem_addr_t a, addrs[64];
	unsigned int i, n = 0;

	/* align 0 means the quantum */
	xa_ok(vm, 0x10, 0, 0, 0, VMEM_ADDR_MIN, VMEM_ADDR_MAX, 0x1010);
	/* align: the next multiple of 0x100 */
	xa_ok(vm, 0x10, 0x100, 0, 0, VMEM_ADDR_MIN, VMEM_ADDR_MAX, 0x1100);
	/* phase: addr % align == phase */
	xa_ok(vm, 0x10, 0x100, 0x30, 0, VMEM_ADDR_MIN, VMEM_ADDR_MAX, 0x1030);
	/* nocross: [0x1020, 0x10ff] must not straddle 0x1100 */
	xa_ok(vm, 0x20, 0, 0, 0x100, 0x10f0, VMEM_ADDR_MAX, 0x1110);
	/* nocross with a phase: moved to the next multiple plus phase */
	xa_ok(vm, 0x30, 0x20, 0x10, 0x80, 0x1170, VMEM_ADDR_MAX, 0x1190);
	vmem_xfreeall(vm);
	check_sizes(vm, 0, 0x10000);

	/* random constraints: every result obeys all of them */
	srandom(42);
	for (i = 0; i < 2000; i++) {
		vmem_size_t size = ((vmem_size_t)(random() % 32) + 1) * 0x10;
		vmem_size_t align = (random() % 2) ?
		    (vmem_size_t)0x10 << (random() % 9) : 0;
		vmem_size_t phase = align != 0 ?
		    (((vmem_size_t)random() % align) & ~(vmem_size_t)0xf) : 0;
		vmem_size_t nocross = 0;
		vmem_addr_t min = 0x1000 + ((vmem_addr_t)(random() % 0x8000) &
		    ~(vmem_addr_t)0xf);
		vmem_addr_t max = min + ((vmem_addr_t)(random() % 0x10000)) +
		    size - 1;
		int rc;

		if (random() % 2) {
			nocross = (vmem_size_t)0x200 << (random() % 5);
			if (nocross < size ||
			    (align != 0 && phase % nocross + size > nocross))
				nocross = 0;
		}
		if (n == 64 || (n > 0 && random() % 3 == 0)) {
			unsigned int k = (unsigned int)random() % n;

			vmem_xfree(vm, addrs[k], 0x10);
			addrs[k] = addrs[--n];
			continue;
		}
		rc = vmem_xalloc(vm, size, align, phase, nocross, min, max,
		    (random() % 2) ? NF : NI, &a);
		if (rc != 0) {
			ATF_CHECK_EQ(rc, ENOMEM);
			continue;
		}
		ATF_CHECK(a % 0x10 == 0);
		if (align != 0)
			ATF_CHECK_MSG(a % align == phase, "addr %#zx align "
			    "%#zx phase %#zx", a, align, phase);
		if (nocross != 0)
			ATF_CHECK_MSG(a / nocross == (a + size - 1) / nocross,
			    "addr %#zx size %#zx crosses %#zx", a, size,
			    nocross);
		ATF_CHECK_MSG(a >= min && a + size - 1 <= max,
		    "addr %#zx size %#zx outside [%#zx, %#zx]", a, size, min,
		    max);
		ATF_CHECK(a >= 0x1010 && a + size <= 0x11010);
		/* keep only one quantum of it, to exercise splits */
		if (size > 0x10)
			vmem_xfree(vm, a, size);
		else
			addrs[n++] = a;
	}
	while (n > 0)
		vmem_xfree(vm, addrs[--n], 0x10);
	check_sizes(vm, 0, 0x10000);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(xalloc_extent_cases);
ATF_TC_BODY(xalloc_extent_cases, tc)
{
	vmem_t *vm;
	vmem_addr_t a;

	/* coalesce: 4 adjacent regions out of order, then one more */
	vm = mk("spec-ext1", 0, 0x100, 1);
	xa_ok(vm, 0x10, 0, 0, 0, 0x20, 0x2f, 0x20);
	xa_ok(vm, 0x10, 0, 0, 0, 0x0, 0xf, 0x0);
	xa_ok(vm, 0x10, 0, 0, 0, 0x10, 0x1f, 0x10);
	xa_ok(vm, 0x10, 0, 0, 0, 0x30, 0x3f, 0x30);
	vmem_xfree(vm, 0x30, 0x10);
	xa_ok(vm, 0x10, 0, 0, 0, 0x0, 0x4f, 0x30);
	vmem_xfreeall(vm);
	vmem_destroy(vm);

	/* subregion1 */
	vm = mk("spec-ext2", 0, 0x100, 1);
	xa_ok(vm, 0x10, 0, 0, 0, 0, 0xf, 0);
	xa_ok(vm, 0x10, 0, 0, 0, 0x20, 0x30, 0x20);
	vmem_xfreeall(vm);
	vmem_destroy(vm);

	/* subregion2 */
	vm = mk("spec-ext3", 0, 0x100, 1);
	xa_ok(vm, 0x20, 0, 0, 0, 0, 0x1f, 0);
	xa_ok(vm, 0x10, 0, 0, 0, 0x30, 0x3f, 0x30);
	xa_ok(vm, 0x10, 0, 0, 0, 0x10, 0x3f, 0x20);
	vmem_xfreeall(vm);
	vmem_destroy(vm);

	/* bound1 and bound2 */
	vm = mk("spec-ext4", 0xf0000000, 0x10000000, 1);
	xa_ok(vm, 1, 0, 0, 0, 0xf1000000, 0xf1000000, 0xf1000000);
	xa_ok(vm, 1, 0, 0, 0x20000000, VMEM_ADDR_MIN, VMEM_ADDR_MAX,
	    0xf0000000);
	vmem_xfreeall(vm);
	xa_ok(vm, 1, 0, 0, 0x20000000, VMEM_ADDR_MIN, VMEM_ADDR_MAX,
	    0xf0000000);
	vmem_xfreeall(vm);
	vmem_destroy(vm);

	/* bound3: arena 0..11, boundary 8: sizes 8, 2, 2 */
	vm = mk("spec-ext5", 0, 12, 1);
	xa_ok(vm, 8, 0, 0, 8, VMEM_ADDR_MIN, VMEM_ADDR_MAX, 0);
	xa_ok(vm, 2, 0, 0, 8, VMEM_ADDR_MIN, VMEM_ADDR_MAX, 8);
	xa_ok(vm, 2, 0, 0, 8, VMEM_ADDR_MIN, VMEM_ADDR_MAX, 0xa);
	vmem_xfreeall(vm);
	/* bound4: sizes 7, 4 */
	xa_ok(vm, 7, 0, 0, 8, VMEM_ADDR_MIN, VMEM_ADDR_MAX, 0);
	xa_ok(vm, 4, 0, 0, 8, VMEM_ADDR_MIN, VMEM_ADDR_MAX, 8);
	vmem_xfreeall(vm);
	vmem_destroy(vm);

	/* subregion3: 0x30..0x3f taken; two allocations of 16 in [0, 0xf] */
	vm = mk("spec-ext6", 0, 0x100, 1);
	xa_ok(vm, 0x10, 0, 0, 0, 0x30, 0x3f, 0x30);
	xa_ok(vm, 0x10, 0, 0, 0, 0, 0xf, 0);
	xa_fail(vm, 0x10, 0, 0, 0, 0, 0xf);
	vmem_xfreeall(vm);
	vmem_destroy(vm);

	/* bound5: small allocations at 0 and 0xd, then 8 with boundary 8 */
	vm = mk("spec-ext7", 0, 0x100, 1);
	xa_ok(vm, 1, 0, 0, 0, 0, 0, 0);
	xa_ok(vm, 1, 0, 0, 0, 0xd, 0xd, 0xd);
	ATF_REQUIRE_EQ(vmem_xalloc(vm, 8, 0, 0, 8, VMEM_ADDR_MIN,
	    VMEM_ADDR_MAX, NF, &a), 0);
	ATF_CHECK(a % 8 == 0 && a != 0 && a != 8);
	vmem_xfreeall(vm);
	vmem_destroy(vm);

	/* subregion4: arena 0x10..0x20, the end unit once */
	vm = mk("spec-ext8", 0x10, 0x11, 1);
	xa_ok(vm, 1, 0, 0, 0, 0x20, 0x20, 0x20);
	xa_fail(vm, 1, 0, 0, 0, 0x20, 0x20);
	xa_fail(vm, 1, 0, 0, 0, 0x20, VMEM_ADDR_MAX);
	vmem_xfreeall(vm);
	vmem_destroy(vm);
}

/* ---- constrained VM_SLEEP and imports (1.2, 1.4.7) */

struct src {
	vmem_t		*parent;
	int		nimport;
	int		nrelease;
	int		refuse_after;	/* imports allowed; -1: no limit */
	vmem_size_t	lastsize;
	vm_flag_t	lastflags;
	vmem_addr_t	relspan[16];
	vmem_size_t	relsize[16];
	vmem_size_t	xextra;		/* ximport: span this much larger */
};

static int
src_import(void *arg, vmem_size_t size, vm_flag_t flags, vmem_addr_t *ap)
{
	struct src *s = arg;

	s->nimport++;
	s->lastsize = size;
	s->lastflags = flags;
	if (s->refuse_after >= 0 && s->nimport > s->refuse_after)
		return ENOMEM;
	return vmem_xalloc(s->parent, size, 0, 0, 0, VMEM_ADDR_MIN,
	    VMEM_ADDR_MAX, (flags & (VM_SLEEP | VM_NOSLEEP)) | VM_BESTFIT,
	    ap);
}

static int
src_ximport(void *arg, vmem_size_t size, vmem_size_t *actual, vm_flag_t flags,
    vmem_addr_t *ap)
{
	struct src *s = arg;
	int rc;

	s->nimport++;
	s->lastsize = size;
	s->lastflags = flags;
	rc = vmem_xalloc(s->parent, size + s->xextra, 0, 0, 0, VMEM_ADDR_MIN,
	    VMEM_ADDR_MAX, (flags & (VM_SLEEP | VM_NOSLEEP)) | VM_BESTFIT,
	    ap);
	if (rc == 0)
		*actual = size + s->xextra;
	return rc;
}

static void
src_release(void *arg, vmem_addr_t addr, vmem_size_t size)
{
	struct src *s = arg;

	if (s->nrelease < 16) {
		s->relspan[s->nrelease] = addr;
		s->relsize[s->nrelease] = size;
	}
	s->nrelease++;
	vmem_xfree(s->parent, addr, size);
}

ATF_TC_WITHOUT_HEAD(xalloc_constrained_sleep_fails);
ATF_TC_BODY(xalloc_constrained_sleep_fails, tc)
{
	/*
	 * align other than the quantum, a phase or a nocross, and nothing
	 * fits: ENOMEM even with VM_SLEEP, without importing or sleeping.
	 */
	struct src s = { .refuse_after = -1 };
	vmem_t *vm;
	vmem_addr_t a;

	s.parent = mk("spec-csp", 0x100000, 0x100000, 0x1000);
	vm = vmem_create("spec-csc", 0x1000, 0x3000, 0x1000, src_import,
	    src_release, &s, 0, VM_SLEEP, IPL_NONE);
	ATF_REQUIRE(vm != NULL);
	ATF_CHECK_EQ(vmem_xalloc(vm, 0x1000, 0x4000, 0, 0, VMEM_ADDR_MIN,
	    VMEM_ADDR_MAX, VM_SLEEP | VM_BESTFIT, &a), ENOMEM);
	ATF_CHECK_EQ(vmem_xalloc(vm, 0x1000, 0x4000, 0x3000, 0, 0x5000,
	    VMEM_ADDR_MAX, VM_SLEEP | VM_INSTANTFIT, &a), ENOMEM);
	ATF_CHECK_EQ(vmem_xalloc(vm, 0x4000, 0, 0, 0x4000, VMEM_ADDR_MIN,
	    VMEM_ADDR_MAX, VM_SLEEP | VM_BESTFIT, &a), ENOMEM);
	ATF_CHECK_EQ(s.nimport, 0);

	/* only min/max constrain it: the arena imports (the range ignored) */
	s.refuse_after = 2;
	ATF_CHECK_EQ(vmem_xalloc(vm, 0x1000, 0, 0, 0, 0x50000, 0x50fff,
	    VM_NOSLEEP | VM_BESTFIT, &a), ENOMEM);
	ATF_CHECK(s.nimport >= 1);
	ATF_CHECK(s.lastflags & VM_NOSLEEP);
	ATF_CHECK_EQ(vmem_size(vm, VMEM_ALLOC), 0);
	/* the imported spans stay with the child: the parent is left */
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(import_gets_request_flags);
ATF_TC_BODY(import_gets_request_flags, tc)
{
	/*
	 * NetBSD hands the import function the request's flags as they
	 * were given: its fit strategy, and VM_POPULATING, which its
	 * vmem-meta arena passes on to the arena it imports from.
	 */
	struct src s = { .refuse_after = -1 };
	vmem_t *vm;
	vmem_addr_t a, b;

	s.parent = mk("spec-imf-parent", 0x100000, 0x100000, 0x1000);
	vm = vmem_create("spec-imf", 0, 0, 0x1000, src_import, src_release,
	    &s, 0, VM_SLEEP, IPL_NONE);
	ATF_REQUIRE(vm != NULL);
	ATF_REQUIRE_EQ(vmem_alloc(vm, 0x1000, VM_NOSLEEP | VM_INSTANTFIT |
	    VM_POPULATING, &a), 0);
	ATF_CHECK_EQ_MSG(s.lastflags, VM_NOSLEEP | VM_INSTANTFIT |
	    VM_POPULATING, "import flags %#x", s.lastflags);
	ATF_REQUIRE_EQ(vmem_xalloc(vm, 0x1000, 0, 0, 0, VMEM_ADDR_MIN,
	    VMEM_ADDR_MAX, VM_SLEEP | VM_BESTFIT | VM_POPULATING, &b), 0);
	ATF_CHECK_EQ_MSG(s.lastflags, VM_SLEEP | VM_BESTFIT | VM_POPULATING,
	    "import flags %#x", s.lastflags);
	ATF_CHECK_EQ(s.nimport, 2);
	vmem_free(vm, a, 0x1000);
	vmem_xfree(vm, b, 0x1000);
	ATF_CHECK_EQ(s.nrelease, 2);
	vmem_destroy(vm);
	vmem_destroy(s.parent);
}

ATF_TC_WITHOUT_HEAD(import_release_stacked);
ATF_TC_BODY(import_release_stacked, tc)
{
	struct src s = { .refuse_after = -1 };
	vmem_t *vm;
	vmem_addr_t a, b;

	s.parent = mk("spec-parent", 0x100000, 0x100000, 0x1000);
	vm = vmem_create("spec-child", 0, 0, 0x1000, src_import, src_release,
	    &s, 0, VM_SLEEP, IPL_NONE);
	ATF_REQUIRE(vm != NULL);
	check_sizes(vm, 0, 0);

	ATF_REQUIRE_EQ(vmem_alloc(vm, 0x1800, NF, &a), 0);
	ATF_CHECK_EQ(s.nimport, 1);
	ATF_CHECK_EQ(s.lastsize, 0x2000);	/* the rounded request */
	ATF_CHECK(a >= 0x100000 && a + 0x2000 <= 0x200000);
	check_sizes(vm, 0x2000, 0x2000);
	ATF_CHECK_EQ(vmem_size(s.parent, VMEM_ALLOC), 0x2000);
	ATF_REQUIRE_EQ(vmem_alloc(vm, 0x1000, VM_SLEEP | VM_BESTFIT, &b), 0);
	ATF_CHECK_EQ(s.nimport, 2);
	ATF_CHECK(s.lastflags & VM_SLEEP);
	vmem_free(vm, a, 0x1800);
	ATF_CHECK_EQ(s.nrelease, 1);
	ATF_CHECK_EQ(s.relspan[0], a);
	ATF_CHECK_EQ(s.relsize[0], 0x2000);
	check_sizes(vm, 0x1000, 0x1000);
	vmem_free(vm, b, 0x1000);
	ATF_CHECK_EQ(s.nrelease, 2);
	check_sizes(vm, 0, 0);
	ATF_CHECK_EQ(vmem_size(s.parent, VMEM_ALLOC), 0);

	/* the source refuses: ENOMEM */
	s.refuse_after = s.nimport;
	ATF_CHECK_EQ(vmem_alloc(vm, 0x1000, NF, &a), ENOMEM);
	ATF_CHECK_EQ(vmem_alloc(vm, 0x1000, NI, &a), ENOMEM);
	vmem_destroy(vm);
	vmem_destroy(s.parent);
}

ATF_TC_WITHOUT_HEAD(import_with_vmem_alloc);
ATF_TC_BODY(import_with_vmem_alloc, tc)
{
	/* the standard way to stack arenas: the parent's vmem_alloc/free */
	vmem_t *parent = mk("spec-std-p", 0x10000000, 0x1000000, 0x1000);
	vmem_t *vm;
	vmem_addr_t a[8];
	int i;

	vm = vmem_create("spec-std-c", 0, 0, 0x1000,
	    (vmem_import_t *)vmem_alloc, (vmem_release_t *)vmem_free, parent,
	    0, VM_SLEEP, IPL_VM);
	ATF_REQUIRE(vm != NULL);
	for (i = 0; i < 8; i++) {
		ATF_REQUIRE_EQ(vmem_alloc(vm, 0x1000 * (i + 1),
		    (i % 2 ? VM_SLEEP : VM_NOSLEEP) |
		    (i % 3 ? VM_BESTFIT : VM_INSTANTFIT), &a[i]), 0);
		ATF_CHECK(a[i] >= 0x10000000 && a[i] < 0x11000000);
	}
	ATF_CHECK_EQ(vmem_size(vm, VMEM_ALLOC), 36 * 0x1000);
	ATF_CHECK(vmem_size(parent, VMEM_ALLOC) >= 36 * 0x1000);
	for (i = 0; i < 8; i++)
		vmem_free(vm, a[i], 0x1000 * (i + 1));
	ATF_CHECK_EQ(vmem_size(vm, VMEM_ALLOC | VMEM_FREE), 0);
	ATF_CHECK_EQ(vmem_size(parent, VMEM_ALLOC), 0);
	vmem_destroy(vm);
	vmem_destroy(parent);
}

ATF_TC_WITHOUT_HEAD(largeimport);
ATF_TC_BODY(largeimport, tc)
{
	struct src s = { .refuse_after = -1 };
	vmem_t *vm;
	vmem_addr_t a[16];
	int i;

	s.parent = mk("spec-lip", 0x1000000, 0x1000000, 0x1000);
	vm = vmem_create("spec-lic", 0, 0, 0x1000, src_import, src_release,
	    &s, 0, VM_SLEEP | VM_LARGEIMPORT, IPL_NONE);
	ATF_REQUIRE(vm != NULL);
	ATF_REQUIRE_EQ(vmem_alloc(vm, 0x1000, NF, &a[0]), 0);
	ATF_CHECK_EQ(s.nimport, 1);
	ATF_CHECK_EQ(s.lastsize, 16 * 0x1000);
	for (i = 1; i < 16; i++)
		ATF_REQUIRE_EQ(vmem_alloc(vm, 0x1000, NF, &a[i]), 0);
	ATF_CHECK_EQ(s.nimport, 1);
	for (i = 0; i < 15; i++)
		vmem_free(vm, a[i], 0x1000);
	ATF_CHECK_EQ(s.nrelease, 0);
	vmem_free(vm, a[15], 0x1000);
	ATF_CHECK_EQ(s.nrelease, 1);
	ATF_CHECK_EQ(s.relsize[0], 16 * 0x1000);
	vmem_destroy(vm);
	vmem_destroy(s.parent);
}

ATF_TC_WITHOUT_HEAD(xcreate_larger_span);
ATF_TC_BODY(xcreate_larger_span, tc)
{
	/* the span reported larger than asked is used in full */
	struct src s = { .refuse_after = -1, .xextra = 0x3000 };
	vmem_t *vm;
	vmem_addr_t a[4];
	int i;

	s.parent = mk("spec-xcp", 0x1000000, 0x1000000, 0x1000);
	vm = vmem_xcreate("spec-xcc", 0, 0, 0x1000, src_ximport, src_release,
	    &s, 0, VM_SLEEP, IPL_NONE);
	ATF_REQUIRE(vm != NULL);
	ATF_REQUIRE_EQ(vmem_alloc(vm, 0x1000, NF, &a[0]), 0);
	ATF_CHECK_EQ(s.lastsize, 0x1000);
	check_sizes(vm, 0x1000, 0x4000);
	for (i = 1; i < 4; i++)
		ATF_REQUIRE_EQ(vmem_alloc(vm, 0x1000, NF, &a[i]), 0);
	ATF_CHECK_EQ(s.nimport, 1);
	/* released exactly when the last segment of the span is freed */
	for (i = 3; i > 0; i--) {
		vmem_free(vm, a[i], 0x1000);
		ATF_CHECK_EQ(s.nrelease, 0);
	}
	vmem_free(vm, a[0], 0x1000);
	ATF_CHECK_EQ(s.nrelease, 1);
	ATF_CHECK_EQ(s.relsize[0], 0x4000);
	check_sizes(vm, 0, 0);
	vmem_destroy(vm);
	vmem_destroy(s.parent);
}

ATF_TC_WITHOUT_HEAD(static_spans_never_released);
ATF_TC_BODY(static_spans_never_released, tc)
{
	struct src s = { .refuse_after = -1 };
	vmem_t *vm;
	vmem_addr_t a, b;

	s.parent = mk("spec-ssp", 0x1000000, 0x1000000, 0x1000);
	vm = vmem_create("spec-ssc", 0x1000, 0x2000, 0x1000, src_import,
	    src_release, &s, 0, VM_SLEEP, IPL_NONE);
	ATF_REQUIRE(vm != NULL);
	ATF_REQUIRE_EQ(vmem_add(vm, 0x8000, 0x1000, VM_SLEEP), 0);
	ATF_REQUIRE_EQ(vmem_alloc(vm, 0x2000, NF, &a), 0);
	ATF_CHECK_EQ(a, 0x1000);
	ATF_REQUIRE_EQ(vmem_alloc(vm, 0x1000, NF, &b), 0);
	ATF_CHECK_EQ(b, 0x8000);
	ATF_CHECK_EQ(s.nimport, 0);
	vmem_free(vm, a, 0x2000);
	vmem_free(vm, b, 0x1000);
	ATF_CHECK_EQ(s.nrelease, 0);
	check_sizes(vm, 0, 0x3000);
	vmem_destroy(vm);
	ATF_CHECK_EQ(s.nrelease, 0);
	vmem_destroy(s.parent);
}

ATF_TC_WITHOUT_HEAD(no_import_nosleep_fails);
ATF_TC_BODY(no_import_nosleep_fails, tc)
{
	vmem_t *vm = mk("spec-noimp", 0, 0x10, 1);
	vmem_addr_t a;

	ATF_CHECK_EQ(vmem_alloc(vm, 0x11, NF, &a), ENOMEM);
	ATF_CHECK_EQ(vmem_alloc(vm, 0x11, NI, &a), ENOMEM);
	ATF_CHECK_EQ(vmem_xalloc(vm, 0x11, 0, 0, 0, VMEM_ADDR_MIN,
	    VMEM_ADDR_MAX, NF, &a), ENOMEM);
	ATF_REQUIRE_EQ(vmem_alloc(vm, 0x10, NF, &a), 0);
	ATF_CHECK_EQ(vmem_alloc(vm, 1, NF, &a), ENOMEM);
	vmem_free(vm, 0, 0x10);
	vmem_destroy(vm);
}

/* ---- vmem_xalloc_addr, vmem_xfreeall */

ATF_TC_WITHOUT_HEAD(xalloc_addr);
ATF_TC_BODY(xalloc_addr, tc)
{
	vmem_t *vm = mk("spec-xaddr", 0x10000, 0x10000, 0x100);
	vmem_addr_t a;

	ATF_REQUIRE_EQ(vmem_xalloc_addr(vm, 0x12300, 0x200, VM_NOSLEEP), 0);
	check_sizes(vm, 0x200, 0x10000);
	/* any part busy: ENOMEM */
	ATF_CHECK_EQ(vmem_xalloc_addr(vm, 0x12300, 0x100, VM_NOSLEEP), ENOMEM);
	ATF_CHECK_EQ(vmem_xalloc_addr(vm, 0x12400, 0x100, VM_NOSLEEP), ENOMEM);
	ATF_CHECK_EQ(vmem_xalloc_addr(vm, 0x12200, 0x200, VM_NOSLEEP), ENOMEM);
	ATF_CHECK_EQ(vmem_xalloc_addr(vm, 0x12000, 0x1000, VM_NOSLEEP),
	    ENOMEM);
	/* outside the arena */
	ATF_CHECK_EQ(vmem_xalloc_addr(vm, 0x20000, 0x100, VM_NOSLEEP), ENOMEM);
	ATF_CHECK_EQ(vmem_xalloc_addr(vm, 0x1ff00, 0x200, VM_NOSLEEP), ENOMEM);
	/* the neighbours, exactly */
	ATF_REQUIRE_EQ(vmem_xalloc_addr(vm, 0x12200, 0x100, VM_NOSLEEP), 0);
	ATF_REQUIRE_EQ(vmem_xalloc_addr(vm, 0x12500, 0x100, VM_SLEEP), 0);
	ATF_REQUIRE_EQ(vmem_xalloc_addr(vm, 0x1ff00, 0x100, VM_NOSLEEP), 0);
	ATF_REQUIRE_EQ(vmem_xalloc_addr(vm, 0x10000, 0x100, VM_NOSLEEP), 0);
	check_sizes(vm, 0x600, 0x10000);
	vmem_xfree(vm, 0x12300, 0x200);
	ATF_REQUIRE_EQ(vmem_xalloc(vm, 0x200, 0, 0, 0, 0x12000, 0x124ff, NF,
	    &a), 0);
	ATF_CHECK_EQ(a, 0x12300);
	vmem_xfree(vm, a, 0x200);
	vmem_xfree(vm, 0x12200, 0x100);
	vmem_xfree(vm, 0x12500, 0x100);
	vmem_xfree(vm, 0x1ff00, 0x100);
	vmem_xfree(vm, 0x10000, 0x100);
	check_sizes(vm, 0, 0x10000);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(xfreeall_then_destroy);
ATF_TC_BODY(xfreeall_then_destroy, tc)
{
	vmem_t *vm = mk("spec-freeall", 0, 0x1000, 1);
	vmem_addr_t a;
	int i;

	for (i = 0; i < 100; i++)
		ATF_REQUIRE_EQ(vmem_alloc(vm, (vmem_size_t)i % 7 + 1,
		    i % 2 ? NF : NI, &a), 0);
	ATF_REQUIRE_EQ(vmem_xalloc_addr(vm, 0xf00, 0x10, VM_NOSLEEP), 0);
	ATF_REQUIRE_EQ(vmem_xalloc(vm, 0x40, 0x40, 0, 0, VMEM_ADDR_MIN,
	    VMEM_ADDR_MAX, NF, &a), 0);
	ATF_CHECK(vmem_size(vm, VMEM_ALLOC) > 0);
	vmem_xfreeall(vm);
	check_sizes(vm, 0, 0x1000);
	/* everything free again and coalesced */
	ATF_REQUIRE_EQ(vmem_alloc(vm, 0x1000, NF, &a), 0);
	ATF_CHECK_EQ(a, 0);
	vmem_xfreeall(vm);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(xfreeall_list_order);
ATF_TC_BODY(xfreeall_list_order, tc)
{
	/*
	 * NetBSD frees the busy segments in the order of the segment list
	 * (spans in the order they came, each in address order), so the
	 * imported spans go back to the source in the order they came.
	 */
	struct src s = { .refuse_after = -1 };
	vmem_addr_t a[48];
	vmem_t *vm;
	int i;

	s.parent = mk("spec-xfa-parent", 0x100000, 0x100000, 0x1000);
	vm = vmem_create("spec-xfa", 0, 0, 0x10, src_import, src_release,
	    &s, 0, VM_SLEEP | VM_LARGEIMPORT, IPL_NONE);
	ATF_REQUIRE(vm != NULL);
	/* three spans of 0x1000, 16 busy segments in each */
	for (i = 0; i < 48; i++)
		ATF_REQUIRE_EQ(vmem_alloc(vm, 0x100, NF, &a[i]), 0);
	ATF_REQUIRE_EQ(s.nimport, 3);
	vmem_xfreeall(vm);
	ATF_REQUIRE_EQ(s.nrelease, 3);
	for (i = 0; i < 3; i++) {
		ATF_CHECK_EQ_MSG(s.relspan[i], a[16 * i], "release %d gave "
		    "back %#zx, not %#zx", i, (size_t)s.relspan[i],
		    (size_t)a[16 * i]);
		ATF_CHECK_EQ(s.relsize[i], 0x1000);
	}
	check_sizes(vm, 0, 0);
	check_sizes(s.parent, 0, 0x100000);
	vmem_destroy(vm);
	vmem_destroy(s.parent);
}

/* ---- 1.4.8 waiting */

struct waiter {
	vmem_t		*vm;
	vmem_addr_t	addr;
	int		rc;
	bool		xaddr;
};

static void *
waiter_main(void *arg)
{
	struct waiter *w = arg;

	if (w->xaddr)
		w->rc = vmem_xalloc_addr(w->vm, 0x2000, 0x1000, VM_SLEEP);
	else
		w->rc = vmem_alloc(w->vm, 0x1000, VM_SLEEP | VM_INSTANTFIT,
		    &w->addr);
	return NULL;
}

ATF_TC_WITHOUT_HEAD(sleep_until_free);
ATF_TC_BODY(sleep_until_free, tc)
{
	vmem_t *vm = mk("spec-sleep", 0x1000, 0x2000, 0x1000);
	struct waiter w = { .vm = vm, .rc = -1 };
	const struct timespec d = { 0, 20000000 };
	pthread_t t;
	vmem_addr_t a, b;

	ATF_REQUIRE_EQ(vmem_alloc(vm, 0x1000, NF, &a), 0);
	ATF_REQUIRE_EQ(vmem_alloc(vm, 0x1000, NF, &b), 0);
	ATF_REQUIRE_EQ(pthread_create(&t, NULL, waiter_main, &w), 0);
	(void)nanosleep(&d, NULL);	/* not required: just likelier */
	vmem_free(vm, b, 0x1000);
	ATF_REQUIRE_EQ(pthread_join(t, NULL), 0);
	ATF_CHECK_EQ(w.rc, 0);
	ATF_CHECK_EQ(w.addr, b);

	/* vmem_xalloc_addr with VM_SLEEP waits until the range is free */
	vmem_free(vm, w.addr, 0x1000);
	ATF_REQUIRE_EQ(vmem_xalloc_addr(vm, 0x2000, 0x1000, VM_NOSLEEP), 0);
	w.xaddr = true;
	w.rc = -1;
	ATF_REQUIRE_EQ(pthread_create(&t, NULL, waiter_main, &w), 0);
	(void)nanosleep(&d, NULL);
	vmem_xfree(vm, 0x2000, 0x1000);
	ATF_REQUIRE_EQ(pthread_join(t, NULL), 0);
	ATF_CHECK_EQ(w.rc, 0);
	vmem_xfree(vm, 0x2000, 0x1000);
	vmem_free(vm, a, 0x1000);
	check_sizes(vm, 0, 0x2000);
	vmem_destroy(vm);
}

/* ---- 1.4.6 quantum caches */

ATF_TC_WITHOUT_HEAD(qcache_alloc_free_sizes);
ATF_TC_BODY(qcache_alloc_free_sizes, tc)
{
	vmem_t *vm = vmem_create("spec-qc", 0x100000, 0x100000, 0x10, NULL,
	    NULL, NULL, 0x40, VM_SLEEP, IPL_VM);
	vmem_addr_t a[64];
	vmem_size_t sz;
	int i, j;

	ATF_REQUIRE(vm != NULL);
	for (i = 0; i < 64; i++) {
		sz = (vmem_size_t)(i % 5 + 1) * 0x10 - (i % 2);
		ATF_REQUIRE_EQ(vmem_alloc(vm, sz,
		    (i % 2 ? VM_SLEEP : VM_NOSLEEP) |
		    (i % 3 ? VM_BESTFIT : VM_INSTANTFIT), &a[i]), 0);
		ATF_CHECK_EQ(a[i] % 0x10, 0);
		ATF_CHECK(a[i] >= 0x100000 && a[i] < 0x200000);
		for (j = 0; j < i; j++) {
			vmem_size_t sj = (vmem_size_t)(j % 5 + 1) * 0x10;
			vmem_size_t si = (vmem_size_t)(i % 5 + 1) * 0x10;

			ATF_CHECK(a[i] + si <= a[j] || a[j] + sj <= a[i]);
		}
	}
	/* the pages behind the caches count as allocated */
	ATF_CHECK(vmem_size(vm, VMEM_ALLOC) >= 64 * 0x10);
	ATF_CHECK_EQ(vmem_size(vm, VMEM_ALLOC) + vmem_size(vm, VMEM_FREE),
	    0x100000);
	ATF_CHECK_EQ(vmem_size(vm, VMEM_ALLOC | VMEM_FREE), 0x100000);
	for (i = 0; i < 64; i++)
		vmem_free(vm, a[i], (vmem_size_t)(i % 5 + 1) * 0x10 - (i % 2));
	/* larger sizes go to the segment layer as usual */
	ATF_REQUIRE_EQ(vmem_alloc(vm, 0x80000, NF, &a[0]), 0);
	vmem_free(vm, a[0], 0x80000);
	vmem_destroy(vm);
}

/*
 * 10.5: vmem_size counts a quantum cache's pages as allocated from the
 * moment the cache takes them from the arena, whether their items are
 * out or cached, until the pages go back (reclaim, destroy).  quantum
 * 16, qcache_max 64: each cache's "page" is 256 bytes (16 items of 16,
 * 4 of 64).
 */
ATF_TC_WITHOUT_HEAD(qcache_pages_counted);
ATF_TC_BODY(qcache_pages_counted, tc)
{
	vmem_t *vm = vmem_create("spec-qsz", 0x100000, 0x100000, 0x10, NULL,
	    NULL, NULL, 0x40, VM_SLEEP, IPL_VM);
	vmem_addr_t a[17], b, c;
	int i;

	ATF_REQUIRE(vm != NULL);
	check_sizes(vm, 0, 0x100000);
	ATF_REQUIRE_EQ(vmem_alloc(vm, 0x10, NF, &a[0]), 0);
	check_sizes(vm, 0x100, 0x100000);
	ATF_REQUIRE_EQ(vmem_alloc(vm, 0x40, NI, &b), 0);
	check_sizes(vm, 0x200, 0x100000);
	/* the 17th item of 16 bytes needs a second page */
	for (i = 1; i < 16; i++)
		ATF_REQUIRE_EQ(vmem_alloc(vm, 0x10, NF, &a[i]), 0);
	check_sizes(vm, 0x200, 0x100000);
	ATF_REQUIRE_EQ(vmem_alloc(vm, 0x10, NF, &a[16]), 0);
	check_sizes(vm, 0x300, 0x100000);
	/* freed items stay in their caches: the pages stay allocated */
	for (i = 0; i < 17; i++)
		vmem_free(vm, a[i], 0x10);
	vmem_free(vm, b, 0x40);
	check_sizes(vm, 0x300, 0x100000);
	/* above qcache_max: the segment layer, to the byte */
	ATF_REQUIRE_EQ(vmem_alloc(vm, 0x50, NF, &c), 0);
	check_sizes(vm, 0x350, 0x100000);
	vmem_free(vm, c, 0x50);
	check_sizes(vm, 0x300, 0x100000);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(qcache_pools_named);
ATF_TC_BODY(qcache_pools_named, tc)
{
	/*
	 * quantum 16, qcache_max 64: caches "<name>-<bytes>" for 16..64,
	 * "page" size the smallest power of two above 3 * 64 (256), the
	 * pools PR_NOTOUCH | PR_RECURSIVE | PR_NOALIGN at quantum alignment.
	 */
	struct pool_sysctl r;
	vmem_t *vm = vmem_create("spec-qn", 0x100000, 0x100000, 0x10, NULL,
	    NULL, NULL, 0x40, VM_SLEEP, IPL_VM);
	vmem_addr_t a;
	const char *names[] = { "spec-qn-16", "spec-qn-32", "spec-qn-48",
	    "spec-qn-64" };
	unsigned int ipp[] = { 16, 8, 5, 4 };
	unsigned int i;

	ATF_REQUIRE(vm != NULL);
	for (i = 0; i < 4; i++) {
		ATF_REQUIRE_MSG(nbt_pool_record(names[i], &r), "no pool %s",
		    names[i]);
		ATF_CHECK_EQ(r.pr_size, 16 * (i + 1));
		ATF_CHECK_EQ(r.pr_pagesize, 256);
		ATF_CHECK_EQ(r.pr_itemsperpage, ipp[i]);
		ATF_CHECK(r.pr_flags & PR_NOTOUCH);
		ATF_CHECK(r.pr_flags & PR_RECURSIVE);
		ATF_CHECK(r.pr_flags & PR_NOALIGN);
	}
	ATF_CHECK(!nbt_pool_record("spec-qn-80", NULL));
	ATF_REQUIRE_EQ(vmem_alloc(vm, 0x30, NF, &a), 0);
	ATF_REQUIRE(nbt_pool_record("spec-qn-48", &r));
	ATF_CHECK_EQ(r.pr_npages, 1);
	/* the page of the cache is one 256-byte allocation of the arena */
	ATF_CHECK_EQ(vmem_size(vm, VMEM_ALLOC), 256);
	vmem_free(vm, a, 0x30);
	vmem_destroy(vm);
	ATF_CHECK(!nbt_pool_record("spec-qn-48", NULL));

}
ATF_TC_WITHOUT_HEAD(qcache_same_itemsperpage_skipped);
ATF_TC_BODY(qcache_same_itemsperpage_skipped, tc)
{
	vmem_t *vm2;
	vmem_addr_t a;
	unsigned int i;

	/*
	 * quantum 1, qcache_max 16: "page" 64 bytes; a class with as many
	 * items per page as the next larger one is not created (11, 13, 14,
	 * 15); qcache_max above 16 quanta is clamped.
	 */
	vm2 = vmem_create("spec-qs", 0x100000, 0x100000, 1, NULL, NULL, NULL,
	    32, VM_SLEEP, IPL_NONE);
	ATF_REQUIRE(vm2 != NULL);
	for (i = 1; i <= 32; i++) {
		char name[32];
		bool want = i <= 12 || i == 16;

		if (i == 11)
			want = false;
		snprintf(name, sizeof(name), "spec-qs-%u", i);
		ATF_CHECK_MSG(nbt_pool_record(name, NULL) == want, "%s %s", name,
		    want ? "missing" : "should not exist");
	}
	for (i = 1; i <= 20; i++) {
		ATF_REQUIRE_EQ(vmem_alloc(vm2, i, NF, &a), 0);
		vmem_free(vm2, a, i);
	}
	vmem_destroy(vm2);
}

/*
 * The smallest qcache_max values (1 or 2 with quantum 1, 2 with quantum
 * 2) make caches too: their pages are 16 bytes, a pool's smallest.
 */
ATF_TC_WITHOUT_HEAD(qcache_tiny);
ATF_TC_BODY(qcache_tiny, tc)
{
	static const vmem_size_t q[][2] = { { 1, 1 }, { 1, 2 }, { 2, 2 },
	    { 1, 5 }, { 4, 4 } };

	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		vmem_addr_t a[8];
		vmem_t *vm = vmem_create("spec-qt", 0x100, 0x10000, q[i][0],
		    NULL, NULL, NULL, q[i][1], VM_SLEEP, IPL_NONE);

		char name[32];

		ATF_REQUIRE(vm != NULL);
		snprintf(name, sizeof(name), "spec-qt-%zu", (size_t)q[i][0]);
		ATF_CHECK_MSG(nbt_pool_record(name, NULL), "quantum %zu, "
		    "qcache_max %zu: no cache %s", (size_t)q[i][0],
		    (size_t)q[i][1], name);
		for (int j = 0; j < 8; j++) {
			ATF_REQUIRE_EQ(vmem_alloc(vm, q[i][0], NF, &a[j]), 0);
			ATF_CHECK(a[j] >= 0x100 && a[j] < 0x10100);
			for (int k = 0; k < j; k++)
				ATF_CHECK(a[k] != a[j]);
		}
		/* The cache took whole 16-byte pages from the arena. */
		ATF_CHECK_MSG(vmem_size(vm, VMEM_ALLOC) % 16 == 0 &&
		    vmem_size(vm, VMEM_ALLOC) >= 16, "quantum %zu, qcache_max "
		    "%zu: %zu bytes allocated in the arena", (size_t)q[i][0],
		    (size_t)q[i][1], (size_t)vmem_size(vm, VMEM_ALLOC));
		for (int j = 0; j < 8; j++)
			vmem_free(vm, a[j], q[i][0]);
		vmem_destroy(vm);
	}
}

ATF_TC_WITHOUT_HEAD(qcache_name_truncated);
ATF_TC_BODY(qcache_name_truncated, tc)
{
	/* names truncated to 15 characters */
	vmem_t *vm = vmem_create("spec-qtrunc", 0x100000, 0x100000, 0x40,
	    NULL, NULL, NULL, 0x400, VM_SLEEP, IPL_VM);
	struct pool_sysctl r;

	ATF_REQUIRE(vm != NULL);
	ATF_CHECK(nbt_pool_record("spec-qtrunc-64", NULL));
	ATF_CHECK(nbt_pool_record("spec-qtrunc-102", &r));	/* -1024 */
	ATF_CHECK_EQ(r.pr_size, 1024);
	vmem_destroy(vm);
}

/* ---- 1.6 misuse */

static vmem_t *
dmk(void)
{
	return vmem_create("spec-death", 0x1000, 0x10000, 0x10, NULL, NULL,
	    NULL, 0, VM_SLEEP, IPL_NONE);
}

static void
d_double_free(void *arg)
{
	vmem_t *vm = dmk();
	vmem_addr_t a;

	vmem_alloc(vm, 0x100, NF, &a);
	vmem_free(vm, a, 0x100);
	vmem_free(vm, a, 0x100);
}

static void
d_double_xfree(void *arg)
{
	vmem_t *vm = dmk();
	vmem_addr_t a;

	vmem_xalloc(vm, 0x100, 0x100, 0, 0, 0, VMEM_ADDR_MAX, NF, &a);
	vmem_xfree(vm, a, 0x100);
	vmem_xfree(vm, a, 0x100);
}

static void
d_unknown(void *arg)
{
	vmem_t *vm = dmk();
	vmem_addr_t a;

	vmem_alloc(vm, 0x100, NF, &a);
	vmem_free(vm, a + 0x40, 0x40);
}

static void
d_never_allocated(void *arg)
{
	vmem_free(dmk(), 0x2000, 0x10);
}

static void
d_misaligned(void *arg)
{
	vmem_t *vm = dmk();
	vmem_addr_t a;

	vmem_alloc(vm, 0x100, NF, &a);
	vmem_free(vm, a + 1, 0x100);
}

static void
d_wrong_size(void *arg)
{
	vmem_t *vm = dmk();
	vmem_addr_t a;

	vmem_xalloc(vm, 0x100, 0, 0, 0, 0, VMEM_ADDR_MAX, NF, &a);
	vmem_xfree(vm, a, 0x200);
}

static void
d_destroy_busy(void *arg)
{
	vmem_t *vm = dmk();
	vmem_addr_t a;

	vmem_alloc(vm, 0x100, NF, &a);
	vmem_destroy(vm);
}

static void
d_alloc_zero(void *arg)
{
	vmem_addr_t a;

	vmem_alloc(dmk(), 0, NF, &a);
}

static void
d_xalloc_zero(void *arg)
{
	vmem_addr_t a;

	vmem_xalloc(dmk(), 0, 0, 0, 0, 0, VMEM_ADDR_MAX, NF, &a);
}

static void
d_free_zero(void *arg)
{
	vmem_t *vm = dmk();
	vmem_addr_t a;

	vmem_alloc(vm, 0x10, NF, &a);
	vmem_free(vm, a, 0);
}

static void
d_flags(void *arg)
{
	vmem_addr_t a;

	vmem_alloc(dmk(), 0x10, (vm_flag_t)(uintptr_t)arg, &a);
}

static void
d_xflags(void *arg)
{
	vmem_addr_t a;

	vmem_xalloc(dmk(), 0x10, 0, 0, 0, 0, VMEM_ADDR_MAX,
	    (vm_flag_t)(uintptr_t)arg, &a);
}

struct xargs {
	vmem_size_t size, align, phase, nocross;
	vmem_addr_t min, max;
};

static void
d_constraints(void *arg)
{
	struct xargs *x = arg;
	vmem_addr_t a;

	vmem_xalloc(dmk(), x->size, x->align, x->phase, x->nocross, x->min,
	    x->max, NF, &a);
}

static void
d_quantum(void *arg)
{
	(void)vmem_create("spec-death", 0, 0x1000,
	    (vmem_size_t)(uintptr_t)arg, NULL, NULL, NULL, 0, VM_SLEEP,
	    IPL_NONE);
}

static void
d_create_flags(void *arg)
{
	(void)vmem_create("spec-death", 0, 0x1000, 1, NULL, NULL, NULL, 0,
	    (vm_flag_t)(uintptr_t)arg, IPL_NONE);
}

static void
d_freeall_qcache(void *arg)
{
	vmem_t *vm = vmem_create("spec-death", 0x1000, 0x10000, 0x10, NULL,
	    NULL, NULL, 0x40, VM_SLEEP, IPL_NONE);

	vmem_xfreeall(vm);
}

static void
d_size_mask(void *arg)
{
	(void)vmem_size(dmk(), (int)(intptr_t)arg);
}

ATF_TC_WITHOUT_HEAD(misuse_frees);
ATF_TC_BODY(misuse_frees, tc)
{
	nbt_death(d_double_free, NULL, "spec-death");
	nbt_death(d_double_xfree, NULL, "spec-death");
	nbt_death(d_unknown, NULL, "spec-death");
	nbt_death(d_never_allocated, NULL, "spec-death");
	nbt_death(d_misaligned, NULL, "spec-death");
	nbt_death(d_wrong_size, NULL, "wrong size");
	nbt_death(d_destroy_busy, NULL, "spec-death");
	nbt_death(d_free_zero, NULL, "spec-death");
}

ATF_TC_WITHOUT_HEAD(misuse_alloc_args);
ATF_TC_BODY(misuse_alloc_args, tc)
{
	static struct xargs x[] = {
		{ 0x10, 0x30, 0, 0, 0, VMEM_ADDR_MAX },	/* align not 2^n */
		{ 0x10, 0x8, 0, 0, 0, VMEM_ADDR_MAX },	/* align < quantum */
		{ 0x10, 0x100, 0x100, 0, 0, VMEM_ADDR_MAX }, /* phase>=align */
		{ 0x10, 0, 0x10, 0, 0, VMEM_ADDR_MAX },	/* phase, align 0 */
		{ 0x10, 0x100, 0x8, 0, 0, VMEM_ADDR_MAX }, /* phase % q */
		{ 0x100, 0, 0, 0x80, 0, VMEM_ADDR_MAX },	/* nocross<size */
		{ 0x10, 0, 0, 0x300, 0, VMEM_ADDR_MAX },	/* nocross 2^n */
		{ 0x10, 0, 0, 0x8, 0, VMEM_ADDR_MAX },	/* nocross % q */
		{ 0x40, 0x100, 0xe0, 0x100, 0, VMEM_ADDR_MAX }, /* window */
		{ 0x10, 0, 0, 0, 0x5000, 0x4000 },	/* min > max */
	};
	unsigned int i;

	nbt_death(d_alloc_zero, NULL, "spec-death");
	nbt_death(d_xalloc_zero, NULL, "spec-death");
	nbt_death(d_flags, (void *)(uintptr_t)VM_BESTFIT, "spec-death");
	nbt_death(d_flags, (void *)(uintptr_t)(VM_SLEEP | VM_NOSLEEP |
	    VM_BESTFIT), "spec-death");
	nbt_death(d_flags, (void *)(uintptr_t)VM_NOSLEEP, "spec-death");
	nbt_death(d_flags, (void *)(uintptr_t)(VM_NOSLEEP | VM_BESTFIT |
	    VM_INSTANTFIT), "spec-death");
	nbt_death(d_xflags, (void *)(uintptr_t)VM_INSTANTFIT, "spec-death");
	nbt_death(d_xflags, (void *)(uintptr_t)VM_NOSLEEP, "spec-death");
	for (i = 0; i < sizeof(x) / sizeof(x[0]); i++)
		nbt_death(d_constraints, &x[i], "spec-death");
}

ATF_TC_WITHOUT_HEAD(misuse_create_and_misc);
ATF_TC_BODY(misuse_create_and_misc, tc)
{
	nbt_death(d_quantum, (void *)(uintptr_t)0, "spec-death");
	nbt_death(d_quantum, (void *)(uintptr_t)24, "spec-death");
	nbt_death(d_create_flags, (void *)(uintptr_t)0, "spec-death");
	nbt_death(d_create_flags, (void *)(uintptr_t)(VM_SLEEP | VM_NOSLEEP),
	    "spec-death");
	nbt_death(d_create_flags, (void *)(uintptr_t)(VM_SLEEP | VM_XIMPORT),
	    "spec-death");
	nbt_death(d_freeall_qcache, NULL, "spec-death");
	nbt_death(d_size_mask, (void *)(intptr_t)0, "spec-death");
	nbt_death(d_size_mask, (void *)(intptr_t)4, "spec-death");
}

/*
 * vmem_add_bts (spec 1.2, NetBSD-current): a VM_PRIVTAGS arena made in
 * caller storage, with no span, as NetBSD's bus-space and wired-map
 * arenas are, takes its tags from the caller's array only.  Without
 * them vmem_add fails; with VMEM_EST_BTCOUNT(1, 8) the span and eight
 * allocations fit; with fewer, allocations fail for want of tags while
 * the span still has room, and a free gives its tags back.
 */
static struct vmem privtags_store;
static struct vmem_btag privtags_bts[VMEM_EST_BTCOUNT(1, 8)];

ATF_TC_WITHOUT_HEAD(add_bts_private_tags);
ATF_TC_BODY(add_bts_private_tags, tc)
{
	vmem_addr_t a[16];
	vmem_t *vm;
	unsigned int n;

	memset(privtags_bts, 0xa5, sizeof(privtags_bts));
	vm = vmem_init(&privtags_store, "t-privtags", 0, 0, 1, NULL, NULL,
	    NULL, 0, VM_NOSLEEP | VM_PRIVTAGS, IPL_NONE);
	ATF_REQUIRE(vm == &privtags_store);
	/* No tags yet: not even the span's. */
	ATF_CHECK_EQ(vmem_add(vm, 0x1000, 0x1000, VM_NOSLEEP), ENOMEM);
	ATF_CHECK_EQ(vmem_size(vm, VMEM_ALLOC | VMEM_FREE), 0);

	vmem_add_bts(vm, privtags_bts, VMEM_EST_BTCOUNT(1, 8));
	ATF_REQUIRE_EQ(vmem_add(vm, 0x1000, 0x1000, VM_NOSLEEP), 0);
	for (n = 0; n < 8; n++) {
		ATF_REQUIRE_EQ_MSG(vmem_xalloc(vm, 0x10, 0x100, 0, 0,
		    VMEM_ADDR_MIN, VMEM_ADDR_MAX, VM_NOSLEEP | VM_BESTFIT,
		    &a[n]), 0, "allocation %u of 8", n);
		ATF_CHECK(a[n] >= 0x1000 && a[n] + 0x10 <= 0x2000 &&
		    a[n] % 0x100 == 0);
	}
	ATF_CHECK_EQ(vmem_size(vm, VMEM_ALLOC), 8 * 0x10);
	for (n = 0; n < 8; n++)
		vmem_xfree(vm, a[n], 0x10);
	ATF_CHECK_EQ(vmem_size(vm, VMEM_FREE), 0x1000);

	/* Aligned allocations split twice: the tags run out first. */
	for (n = 0; n < 16; n++)
		if (vmem_xalloc(vm, 0x10, 0x100, 0, 0, VMEM_ADDR_MIN,
		    VMEM_ADDR_MAX, VM_NOSLEEP | VM_BESTFIT, &a[n]) != 0)
			break;
	ATF_CHECK_MSG(n >= 8 && n < 16, "%u aligned allocations with %d "
	    "tags", n, VMEM_EST_BTCOUNT(1, 8));
	ATF_CHECK(vmem_size(vm, VMEM_FREE) >= 0x100);
	vmem_xfree(vm, a[0], 0x10);
	ATF_CHECK_EQ(vmem_xalloc(vm, 0x10, 0x100, 0, 0, VMEM_ADDR_MIN,
	    VMEM_ADDR_MAX, VM_NOSLEEP | VM_BESTFIT, &a[0]), 0);
	vmem_xfreeall(vm);
	vmem_destroy(vm);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, create_sizes);
	ATF_TP_ADD_TC(tp, add_bts_private_tags);
	ATF_TP_ADD_TC(tp, create_empty_then_add);
	ATF_TP_ADD_TC(tp, alloc_addrp_null);
	ATF_TP_ADD_TC(tp, qcache_tiny);
	ATF_TP_ADD_TC(tp, init_storage);
	ATF_TP_ADD_TC(tp, name_kept);
	ATF_TP_ADD_TC(tp, bestfit_vs_instantfit);
	ATF_TP_ADD_TC(tp, instantfit_never_fails_where_bestfit_succeeds);
	ATF_TP_ADD_TC(tp, bestfit_after_import);
	ATF_TP_ADD_TC(tp, freelist_head_after_join);
	ATF_TP_ADD_TC(tp, freelist_head_after_split);
	ATF_TP_ADD_TC(tp, nextfit_cyclic);
	ATF_TP_ADD_TC(tp, xalloc_unittest_fixed);
	ATF_TP_ADD_TC(tp, xalloc_unittest_random);
	ATF_TP_ADD_TC(tp, xalloc_top_of_address_space);
	ATF_TP_ADD_TC(tp, xalloc_minmax_inclusive);
	ATF_TP_ADD_TC(tp, xalloc_zero_bounds);
	ATF_TP_ADD_TC(tp, xalloc_align_phase_nocross);
	ATF_TP_ADD_TC(tp, xalloc_extent_cases);
	ATF_TP_ADD_TC(tp, xalloc_constrained_sleep_fails);
	ATF_TP_ADD_TC(tp, import_gets_request_flags);
	ATF_TP_ADD_TC(tp, import_release_stacked);
	ATF_TP_ADD_TC(tp, import_with_vmem_alloc);
	ATF_TP_ADD_TC(tp, largeimport);
	ATF_TP_ADD_TC(tp, xcreate_larger_span);
	ATF_TP_ADD_TC(tp, static_spans_never_released);
	ATF_TP_ADD_TC(tp, no_import_nosleep_fails);
	ATF_TP_ADD_TC(tp, xalloc_addr);
	ATF_TP_ADD_TC(tp, xfreeall_then_destroy);
	ATF_TP_ADD_TC(tp, xfreeall_list_order);
	ATF_TP_ADD_TC(tp, sleep_until_free);
	ATF_TP_ADD_TC(tp, qcache_alloc_free_sizes);
	ATF_TP_ADD_TC(tp, qcache_pools_named);
	ATF_TP_ADD_TC(tp, qcache_pages_counted);
	ATF_TP_ADD_TC(tp, qcache_same_itemsperpage_skipped);
	ATF_TP_ADD_TC(tp, qcache_name_truncated);
	ATF_TP_ADD_TC(tp, misuse_frees);
	ATF_TP_ADD_TC(tp, misuse_alloc_args);
	ATF_TP_ADD_TC(tp, misuse_create_and_misc);
	return atf_no_error();
}

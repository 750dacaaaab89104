/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_vmem_split: nbmem_vmem_split and nbmem_vmem_join, the private vmem
 * operations the malloc family's large cache cuts and mends its ranges
 * with: pieces are freed on their own, joins need two busy neighbours of
 * one span, misuse is diagnosed, and the arena's accounting (checked by
 * nbmem_vmem_check) holds throughout.
 */
#include <errno.h>
#include <stdint.h>

#include <atf-c.h>

#include "internal.h"
#include "lock.h"
#include "vmem_impl.h"

#include "nbtest.h"

#define	Q	((vmem_size_t)4096)
#define	BF	(VM_BESTFIT | VM_NOSLEEP)

static vmem_t *
mk(void)
{
	vmem_t *vm = vmem_create("t_split", 0x100000, 64 * Q, Q, NULL, NULL,
	    NULL, 0, VM_SLEEP, IPL_NONE);

	ATF_REQUIRE(vm != NULL);
	return vm;
}

static void
check(vmem_t *vm)
{
	mutex_enter(&vm->vm_lock);
	nbmem_vmem_check(vm);
	mutex_exit(&vm->vm_lock);
}

ATF_TC_WITHOUT_HEAD(split_then_free_pieces);
ATF_TC_BODY(split_then_free_pieces, tc)
{
	vmem_t *vm = mk();
	vmem_addr_t a;

	ATF_REQUIRE_EQ(vmem_xalloc(vm, 10 * Q, 0, 0, 0, VMEM_ADDR_MIN,
	    VMEM_ADDR_MAX, BF, &a), 0);
	ATF_REQUIRE_EQ(nbmem_vmem_split(vm, a, 10 * Q, 3 * Q), 0);
	check(vm);
	ATF_CHECK_EQ(nbmem_vmem_nbusy(vm), 2);
	ATF_CHECK_EQ(vmem_size(vm, VMEM_ALLOC), 10 * Q);
	/* Each piece is a segment of its own now. */
	ATF_REQUIRE_EQ(nbmem_vmem_split(vm, a + 3 * Q, 7 * Q, Q), 0);
	vmem_xfree(vm, a + 3 * Q, Q);
	vmem_xfree(vm, a, 3 * Q);
	vmem_xfree(vm, a + 4 * Q, 6 * Q);
	check(vm);
	ATF_CHECK_EQ(vmem_size(vm, VMEM_ALLOC), 0);
	ATF_CHECK_EQ(nbmem_vmem_nbusy(vm), 0);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(join_neighbours);
ATF_TC_BODY(join_neighbours, tc)
{
	vmem_t *vm = mk();
	vmem_addr_t a, b, c;

	ATF_REQUIRE_EQ(vmem_xalloc_addr(vm, 0x100000, 2 * Q, VM_NOSLEEP), 0);
	ATF_REQUIRE_EQ(vmem_xalloc_addr(vm, 0x100000 + 2 * Q, 3 * Q,
	    VM_NOSLEEP), 0);
	ATF_REQUIRE_EQ(vmem_xalloc_addr(vm, 0x100000 + 6 * Q, Q,
	    VM_NOSLEEP), 0);
	a = 0x100000;
	b = a + 2 * Q;
	c = a + 6 * Q;
	/* Wrong sizes, a gap, a free neighbour: refused, nothing changes. */
	ATF_CHECK_EQ(nbmem_vmem_join(vm, a, Q, 3 * Q), EINVAL);
	ATF_CHECK_EQ(nbmem_vmem_join(vm, a, 2 * Q, 2 * Q), EINVAL);
	ATF_CHECK_EQ(nbmem_vmem_join(vm, b, 3 * Q, Q), EINVAL);
	ATF_CHECK_EQ(nbmem_vmem_join(vm, c, Q, Q), EINVAL);
	check(vm);
	ATF_CHECK_EQ(nbmem_vmem_nbusy(vm), 3);
	ATF_REQUIRE_EQ(nbmem_vmem_join(vm, a, 2 * Q, 3 * Q), 0);
	check(vm);
	ATF_CHECK_EQ(nbmem_vmem_nbusy(vm), 2);
	vmem_xfree(vm, a, 5 * Q);
	vmem_xfree(vm, c, Q);
	check(vm);
	ATF_CHECK_EQ(vmem_size(vm, VMEM_ALLOC), 0);
	vmem_destroy(vm);
}

/* Two spans side by side: their segments never join. */
ATF_TC_WITHOUT_HEAD(join_not_across_spans);
ATF_TC_BODY(join_not_across_spans, tc)
{
	vmem_t *vm = vmem_create("t_spans", 0, 0, Q, NULL, NULL, NULL, 0,
	    VM_SLEEP, IPL_NONE);
	vmem_addr_t a, b;

	ATF_REQUIRE(vm != NULL);
	ATF_REQUIRE(vmem_add(vm, 0x200000, 2 * Q, VM_SLEEP) == 0);
	ATF_REQUIRE(vmem_add(vm, 0x200000 + 2 * Q, 2 * Q, VM_SLEEP) == 0);
	ATF_REQUIRE_EQ(vmem_xalloc_addr(vm, 0x200000, 2 * Q, VM_NOSLEEP), 0);
	ATF_REQUIRE_EQ(vmem_xalloc_addr(vm, 0x200000 + 2 * Q, 2 * Q,
	    VM_NOSLEEP), 0);
	a = 0x200000;
	b = a + 2 * Q;
	ATF_CHECK_EQ(nbmem_vmem_join(vm, a, 2 * Q, 2 * Q), EINVAL);
	vmem_xfree(vm, a, 2 * Q);
	vmem_xfree(vm, b, 2 * Q);
	check(vm);
	vmem_destroy(vm);
}

static void
split_wrong_size(void *arg)
{
	vmem_t *vm = mk();
	vmem_addr_t a;

	(void)arg;
	(void)vmem_alloc(vm, 4 * Q, BF, &a);
	(void)nbmem_vmem_split(vm, a, 3 * Q, Q);
}

static void
split_outside(void *arg)
{
	vmem_t *vm = mk();
	vmem_addr_t a;

	(void)arg;
	(void)vmem_alloc(vm, 4 * Q, BF, &a);
	(void)nbmem_vmem_split(vm, a, 4 * Q, 4 * Q);
}

ATF_TC_WITHOUT_HEAD(split_misuse);
ATF_TC_BODY(split_misuse, tc)
{
	nbt_death(split_wrong_size, NULL, "wrong size");
	nbt_death(split_outside, NULL, "not inside the segment");
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, split_then_free_pieces);
	ATF_TP_ADD_TC(tp, join_neighbours);
	ATF_TP_ADD_TC(tp, join_not_across_spans);
	ATF_TP_ADD_TC(tp, split_misuse);
	return atf_no_error();
}

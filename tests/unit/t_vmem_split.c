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

/* Growths with no ready callback. */
static int
grow(vmem_t *vm, vmem_addr_t a, vmem_size_t size, vmem_size_t extra)
{
	return nbmem_vmem_extend(vm, a, size, extra, NULL, NULL);
}

static int
grow_span(vmem_t *vm, vmem_addr_t a, vmem_size_t size, vmem_size_t extra,
    vmem_t *src)
{
	return nbmem_vmem_extend_span(vm, a, size, extra, src, NULL, NULL);
}

/*
 * nbmem_vmem_extend: a busy segment grows into the free space after it,
 * whole or in part, and not into a busy neighbour, past the span, or
 * into space that is too short; the grown segment frees as one.
 */
ATF_TC_WITHOUT_HEAD(extend_into_free);
ATF_TC_BODY(extend_into_free, tc)
{
	vmem_t *vm = vmem_create("t_extend", 0, 0, Q, NULL, NULL, NULL, 0,
	    VM_SLEEP, IPL_NONE);
	vmem_addr_t a = 0x300000, b = a + 6 * Q;

	ATF_REQUIRE(vm != NULL);
	ATF_REQUIRE(vmem_add(vm, a, 8 * Q, VM_SLEEP) == 0);
	ATF_REQUIRE_EQ(vmem_xalloc_addr(vm, a, 2 * Q, VM_NOSLEEP), 0);
	ATF_REQUIRE_EQ(vmem_xalloc_addr(vm, b, Q, VM_NOSLEEP), 0);
	/* Four pages free between them. */
	ATF_CHECK_EQ(grow(vm, a, 2 * Q, 5 * Q), ENOMEM);
	ATF_CHECK_EQ(grow(vm, a, 2 * Q, Q), 0);
	check(vm);
	ATF_CHECK_EQ(vmem_size(vm, VMEM_ALLOC), 4 * Q);
	ATF_CHECK_EQ(grow(vm, a, 3 * Q, 3 * Q), 0);
	check(vm);
	ATF_CHECK_EQ(vmem_size(vm, VMEM_ALLOC), 7 * Q);
	ATF_CHECK_EQ(nbmem_vmem_nbusy(vm), 2);
	/* Now b follows it: no more. */
	ATF_CHECK_EQ(grow(vm, a, 6 * Q, Q), ENOMEM);
	/* b ends one page before the end of the span: one page, not two. */
	ATF_CHECK_EQ(grow(vm, b, Q, 2 * Q), ENOMEM);
	ATF_CHECK_EQ(grow(vm, b, Q, Q), 0);
	ATF_CHECK_EQ(grow(vm, b, 2 * Q, Q), ENOMEM);
	vmem_xfree(vm, a, 6 * Q);
	vmem_xfree(vm, b, 2 * Q);
	check(vm);
	ATF_CHECK_EQ(vmem_size(vm, VMEM_ALLOC), 0);
	vmem_destroy(vm);
}

/*
 * nbmem_vmem_extend_span: the last segment of a span imported from a
 * parent grows past the span's end when the parent has the space after
 * it free: the parent's segment, the span and the segment grow, and
 * freeing the segment gives the whole span back to the parent.
 */
static int
t_import(void *arg, vmem_size_t size, vm_flag_t flags, vmem_addr_t *ap)
{
	return vmem_alloc(arg, size, (flags & (VM_SLEEP | VM_NOSLEEP)) |
	    VM_INSTANTFIT, ap);
}

static void
t_release(void *arg, vmem_addr_t a, vmem_size_t size)
{
	vmem_free(arg, a, size);
}

/* An arena importing from a parent of 16 quanta. */
static vmem_t *
mk_child(vmem_t **srcp)
{
	vmem_t *src = vmem_create("t_parent", 0x400000, 16 * Q, Q, NULL,
	    NULL, NULL, 0, VM_SLEEP, IPL_NONE);
	vmem_t *vm = vmem_create("t_child", 0, 0, Q, t_import, t_release,
	    src, 0, VM_SLEEP, IPL_NONE);

	ATF_REQUIRE(src != NULL && vm != NULL);
	*srcp = src;
	return vm;
}

ATF_TC_WITHOUT_HEAD(extend_span_from_parent);
ATF_TC_BODY(extend_span_from_parent, tc)
{
	vmem_t *src, *vm = mk_child(&src);
	vmem_addr_t a;

	ATF_REQUIRE_EQ(vmem_alloc(vm, 2 * Q, BF, &a), 0);
	ATF_REQUIRE_EQ(vmem_size(src, VMEM_ALLOC), 2 * Q);
	/* Its span is exactly a: nothing free inside it. */
	ATF_CHECK_EQ(grow(vm, a, 2 * Q, Q), ENOMEM);
	ATF_CHECK_EQ(grow_span(vm, a, 2 * Q, 3 * Q, src), 0);
	check(vm);
	check(src);
	ATF_CHECK_EQ(vmem_size(vm, VMEM_ALLOC), 5 * Q);
	ATF_CHECK_EQ(vmem_size(vm, VMEM_ALLOC | VMEM_FREE), 5 * Q);
	ATF_CHECK_EQ(vmem_size(src, VMEM_ALLOC), 5 * Q);
	/* A parent segment after it: no more growth. */
	ATF_REQUIRE_EQ(vmem_xalloc_addr(src, a + 5 * Q, Q, VM_NOSLEEP), 0);
	ATF_CHECK_EQ(grow_span(vm, a, 5 * Q, Q, src), ENOMEM);
	check(src);
	ATF_CHECK_EQ(vmem_size(vm, VMEM_ALLOC), 5 * Q);
	/* Not the last segment of its span: no growth past it. */
	ATF_REQUIRE_EQ(nbmem_vmem_split(vm, a, 5 * Q, 2 * Q), 0);
	ATF_CHECK_EQ(grow_span(vm, a, 2 * Q, Q, src), ENOMEM);
	ATF_REQUIRE_EQ(nbmem_vmem_join(vm, a, 2 * Q, 3 * Q), 0);
	vmem_free(vm, a, 5 * Q);
	check(vm);
	/* The span went back whole. */
	ATF_CHECK_EQ(vmem_size(vm, VMEM_ALLOC | VMEM_FREE), 0);
	ATF_CHECK_EQ(vmem_size(src, VMEM_ALLOC), Q);
	vmem_free(src, a + 5 * Q, Q);
	check(src);
	ATF_CHECK_EQ(vmem_size(src, VMEM_ALLOC), 0);
	vmem_destroy(vm);
	vmem_destroy(src);
}

/*
 * The ready callback: called once the bytes are found free, with the
 * arena that holds them locked (the parent, past the span), with their
 * range; its error is returned and the growth is not made.  Not called
 * when the bytes are not free.
 */
struct t_ready {
	vmem_t		*tr_vm;		/* the arena to find locked */
	vmem_addr_t	tr_addr;	/* what it was called with */
	vmem_size_t	tr_size;
	int		tr_calls;
	int		tr_error;	/* what it returns */
};

static int
t_ready(void *arg, vmem_addr_t addr, vmem_size_t size)
{
	struct t_ready *r = arg;

	ATF_CHECK(__atomic_load_n(&r->tr_vm->vm_lock.mtx_word,
	    __ATOMIC_RELAXED) != 0);
	r->tr_addr = addr;
	r->tr_size = size;
	r->tr_calls++;
	return r->tr_error;
}

ATF_TC_WITHOUT_HEAD(extend_ready);
ATF_TC_BODY(extend_ready, tc)
{
	vmem_t *src, *vm = mk_child(&src);
	struct t_ready r = { .tr_vm = vm, .tr_error = EIO };
	vmem_addr_t a, b;

	ATF_REQUIRE_EQ(vmem_alloc(vm, 4 * Q, BF, &a), 0);
	ATF_REQUIRE_EQ(nbmem_vmem_split(vm, a, 4 * Q, Q), 0);
	vmem_free(vm, a + Q, 3 * Q);
	/* In the span: refused, then made. */
	ATF_CHECK_EQ(nbmem_vmem_extend(vm, a, Q, 2 * Q, t_ready, &r), EIO);
	ATF_CHECK_EQ(r.tr_calls, 1);
	ATF_CHECK(r.tr_addr == a + Q && r.tr_size == 2 * Q);
	check(vm);
	ATF_CHECK_EQ(vmem_size(vm, VMEM_ALLOC), Q);
	r.tr_error = 0;
	ATF_CHECK_EQ(nbmem_vmem_extend(vm, a, Q, 2 * Q, t_ready, &r), 0);
	ATF_CHECK_EQ(vmem_size(vm, VMEM_ALLOC), 3 * Q);
	/* Too short: not called. */
	ATF_CHECK_EQ(nbmem_vmem_extend(vm, a, 3 * Q, 2 * Q, t_ready, &r),
	    ENOMEM);
	ATF_CHECK_EQ(r.tr_calls, 2);
	ATF_CHECK_EQ(nbmem_vmem_extend(vm, a, 3 * Q, Q, t_ready, &r), 0);
	/* Past the span: src is the one locked; refused, then made. */
	r.tr_vm = src;
	r.tr_error = EIO;
	ATF_CHECK_EQ(nbmem_vmem_extend_span(vm, a, 4 * Q, 2 * Q, src, t_ready,
	    &r), EIO);
	ATF_CHECK(r.tr_addr == a + 4 * Q && r.tr_size == 2 * Q);
	check(vm);
	check(src);
	ATF_CHECK_EQ(vmem_size(vm, VMEM_ALLOC | VMEM_FREE), 4 * Q);
	ATF_CHECK_EQ(vmem_size(src, VMEM_ALLOC), 4 * Q);
	r.tr_error = 0;
	ATF_CHECK_EQ(nbmem_vmem_extend_span(vm, a, 4 * Q, 2 * Q, src, t_ready,
	    &r), 0);
	ATF_CHECK_EQ(r.tr_calls, 5);
	ATF_CHECK_EQ(vmem_size(src, VMEM_ALLOC), 6 * Q);
	/* Past the span with a segment of src there: not called. */
	ATF_REQUIRE_EQ(vmem_xalloc_addr(src, a + 6 * Q, Q, VM_NOSLEEP), 0);
	b = a + 6 * Q;
	ATF_CHECK_EQ(nbmem_vmem_extend_span(vm, a, 6 * Q, Q, src, t_ready,
	    &r), ENOMEM);
	ATF_CHECK_EQ(r.tr_calls, 5);
	vmem_free(vm, a, 6 * Q);
	vmem_free(src, b, Q);
	check(src);
	ATF_CHECK_EQ(vmem_size(src, VMEM_ALLOC), 0);
	vmem_destroy(vm);
	vmem_destroy(src);
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

/* Growth of a segment given with the wrong size, or by no quantum. */
static void
extend_wrong_size(void *arg)
{
	vmem_t *vm = mk();
	vmem_addr_t a;

	(void)arg;
	(void)vmem_alloc(vm, 4 * Q, BF, &a);
	(void)nbmem_vmem_extend(vm, a, 3 * Q, Q, NULL, NULL);
}

static void
extend_span_wrong_size(void *arg)
{
	vmem_t *vm = mk();
	vmem_addr_t a;

	(void)arg;
	(void)vmem_alloc(vm, 4 * Q, BF, &a);
	(void)nbmem_vmem_extend_span(vm, a, 2 * Q, Q, vm, NULL, NULL);
}

static void
extend_unaligned(void *arg)
{
	vmem_t *vm = mk();
	vmem_addr_t a;

	(void)arg;
	(void)vmem_alloc(vm, 4 * Q, BF, &a);
	(void)nbmem_vmem_extend(vm, a, 4 * Q, Q / 2, NULL, NULL);
}

ATF_TC_WITHOUT_HEAD(split_misuse);
ATF_TC_BODY(split_misuse, tc)
{
	nbt_death(split_wrong_size, NULL, "wrong size");
	nbt_death(split_outside, NULL, "not inside the segment");
	nbt_death(extend_wrong_size, NULL, "nbmem_vmem_extend");
	nbt_death(extend_wrong_size, NULL, "wrong size");
	nbt_death(extend_span_wrong_size, NULL, "nbmem_vmem_extend_span");
	nbt_death(extend_unaligned, NULL, "not a multiple of the quantum");
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, split_then_free_pieces);
	ATF_TP_ADD_TC(tp, join_neighbours);
	ATF_TP_ADD_TC(tp, join_not_across_spans);
	ATF_TP_ADD_TC(tp, split_misuse);
	ATF_TP_ADD_TC(tp, extend_into_free);
	ATF_TP_ADD_TC(tp, extend_span_from_parent);
	ATF_TP_ADD_TC(tp, extend_ready);
	return atf_no_error();
}

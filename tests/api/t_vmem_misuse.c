/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_vmem_misuse: every vmem(3) misuse nbmem diagnoses aborts with one
 * line naming the arena, the address or sizes involved and the rule
 * broken (spec 1.6 and 9).  Each case runs in a child process.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <atf-c.h>

#include <nbmem/intr.h>
#include <nbmem/vmem.h>
#include <nbmem/vmem_impl.h>

#include "nbtest.h"

#define	BF	(VM_BESTFIT | VM_NOSLEEP)

/*
 * Run fn in a child and require SIGABRT with every one of the given
 * texts in its diagnostic (a NULL-terminated list).
 */
static void
death(void (*fn)(void *), void *arg, ...)
{
	const char *text;
	va_list ap;

	va_start(ap, arg);
	while ((text = va_arg(ap, const char *)) != NULL)
		nbt_death(fn, arg, text);
	va_end(ap);
}

static vmem_t *
mk(const char *name, vmem_addr_t base, vmem_size_t size, vmem_size_t q)
{
	vmem_t *vm;

	vm = vmem_create(name, base, size, q, NULL, NULL, NULL, 0, VM_SLEEP,
	    IPL_NONE);
	if (vm == NULL)
		abort();
	return vm;
}

/*
 * An arena with quantum caches up to 0x40 and one range of 0x20, a
 * cached size, allocated at *ap.
 */
static vmem_t *
mk_qc(const char *name, vmem_addr_t *ap)
{
	vmem_t *vm;

	vm = vmem_create(name, 0x10000, 0x10000, 0x10, NULL, NULL, NULL,
	    0x40, VM_SLEEP, IPL_NONE);
	if (vm == NULL || vmem_alloc(vm, 0x20, BF, ap) != 0)
		abort();
	return vm;
}

/* Allocation arguments for the bad-request cases. */
struct req {
	const char	*name;
	vmem_size_t	size, align, phase, nocross;
	vmem_addr_t	lo, hi;
	vm_flag_t	flags;
	int		plain;		/* vmem_alloc, not vmem_xalloc */
};

static void
do_req(void *arg)
{
	const struct req *r = arg;
	vmem_t *vm = mk(r->name, 0x1000, 0x100000, 0x10);
	vmem_addr_t a;

	if (r->plain)
		(void)vmem_alloc(vm, r->size, r->flags, &a);
	else
		(void)vmem_xalloc(vm, r->size, r->align, r->phase, r->nocross,
		    r->lo, r->hi != 0 ? r->hi : VMEM_ADDR_MAX, r->flags, &a);
}

/* hi 0 stands for VMEM_ADDR_MAX */
#define	REQ(...)	(&(struct req){ __VA_ARGS__ })

ATF_TC_WITHOUT_HEAD(alloc_size_zero);
ATF_TC_BODY(alloc_size_zero, tc)
{
	death(do_req, REQ(.name = "sz0-alloc", .plain = 1, .flags = BF),
	    "arena \"sz0-alloc\"", "vmem_alloc: size 0", NULL);
	death(do_req, REQ(.name = "sz0-xalloc", .flags = BF),
	    "arena \"sz0-xalloc\"", "vmem_xalloc: size 0", NULL);
}

#define	SLEEP_RULE	"must carry exactly one of VM_SLEEP and VM_NOSLEEP"
#define	FIT_RULE	"must carry exactly one of VM_INSTANTFIT, VM_BESTFIT " \
			"and VM_NEXTFIT"

ATF_TC_WITHOUT_HEAD(sleep_flags);
ATF_TC_BODY(sleep_flags, tc)
{
	death(do_req, REQ(.name = "no-sleep-flag", .plain = 1, .size = 16,
	    .flags = VM_BESTFIT), "arena \"no-sleep-flag\"",
	    "vmem_alloc: flags 0x2000 " SLEEP_RULE, NULL);
	death(do_req, REQ(.name = "two-sleep-flags", .plain = 1, .size = 16,
	    .flags = VM_BESTFIT | VM_SLEEP | VM_NOSLEEP),
	    "arena \"two-sleep-flags\"", "flags 0x2003 " SLEEP_RULE, NULL);
	death(do_req, REQ(.name = "x-no-sleep-flag", .size = 16,
	    .flags = VM_INSTANTFIT), "arena \"x-no-sleep-flag\"",
	    "vmem_xalloc: flags 0x1000 " SLEEP_RULE, NULL);
}

ATF_TC_WITHOUT_HEAD(fit_flags);
ATF_TC_BODY(fit_flags, tc)
{
	death(do_req, REQ(.name = "no-fit-flag", .plain = 1, .size = 16,
	    .flags = VM_NOSLEEP), "arena \"no-fit-flag\"",
	    "vmem_alloc: flags 0x2 " FIT_RULE, NULL);
	death(do_req, REQ(.name = "two-fit-flags", .plain = 1, .size = 16,
	    .flags = VM_NOSLEEP | VM_BESTFIT | VM_INSTANTFIT),
	    "arena \"two-fit-flags\"", "flags 0x3002 " FIT_RULE, NULL);
	death(do_req, REQ(.name = "x-two-fits", .size = 16,
	    .flags = VM_NOSLEEP | VM_NEXTFIT | VM_BESTFIT),
	    "arena \"x-two-fits\"", "vmem_xalloc: flags 0x6002 " FIT_RULE,
	    NULL);
}

ATF_TC_WITHOUT_HEAD(bad_align);
ATF_TC_BODY(bad_align, tc)
{
	death(do_req, REQ(.name = "align-not-pow2", .size = 16, .align = 0x30,
	    .flags = BF), "arena \"align-not-pow2\"",
	    "align 0x30 is not a power of two", NULL);
	/* The name is kept to 16 characters in diagnostics too. */
	death(do_req, REQ(.name = "align-lt-quantum!", .size = 16, .align = 8,
	    .flags = BF), "arena \"align-lt-quantum\"",
	    "align 0x8 is not a multiple of the quantum 0x10", NULL);
}

ATF_TC_WITHOUT_HEAD(bad_phase);
ATF_TC_BODY(bad_phase, tc)
{
	death(do_req, REQ(.name = "phase-ge-align", .size = 16, .align = 0x40,
	    .phase = 0x40, .flags = BF), "arena \"phase-ge-align\"",
	    "phase 0x40 is not below align 0x40", NULL);
	death(do_req, REQ(.name = "phase-no-align", .size = 16, .phase = 0x10,
	    .flags = BF), "arena \"phase-no-align\"",
	    "phase 0x10 without an alignment", NULL);
	death(do_req, REQ(.name = "phase-off-quantum", .size = 16,
	    .align = 0x100, .phase = 0x8, .flags = BF),
	    "arena \"phase-off-quantu\"",
	    "phase 0x8 is not a multiple of the quantum 0x10", NULL);
}

ATF_TC_WITHOUT_HEAD(bad_nocross);
ATF_TC_BODY(bad_nocross, tc)
{
	death(do_req, REQ(.name = "nocross-pow2", .size = 16,
	    .nocross = 0x300, .flags = BF), "arena \"nocross-pow2\"",
	    "nocross 0x300 is not a power of two", NULL);
	death(do_req, REQ(.name = "nocross-small", .size = 0x200,
	    .nocross = 0x100, .flags = BF), "arena \"nocross-small\"",
	    "nocross 0x100 is below size 0x200", NULL);
	death(do_req, REQ(.name = "nocross-quantum", .size = 16,
	    .nocross = 0x8, .flags = BF), "arena \"nocross-quantum\"",
	    "nocross 0x8 is not a multiple of the quantum 0x10", NULL);
	/* Every place addr % align == phase would cross a line. */
	death(do_req, REQ(.name = "nocross-window", .size = 0x40,
	    .align = 0x100, .phase = 0xe0, .nocross = 0x100, .flags = BF),
	    "arena \"nocross-window\"",
	    "phase 0xe0 + size 0x40 crosses nocross 0x100", NULL);
}

ATF_TC_WITHOUT_HEAD(bad_range);
ATF_TC_BODY(bad_range, tc)
{
	death(do_req, REQ(.name = "min-gt-max", .size = 16, .lo = 0x9000,
	    .hi = 0x8000, .flags = BF), "arena \"min-gt-max\"",
	    "minaddr 0x9000 is above maxaddr 0x8000", NULL);
}

static void
do_create(void *arg)
{
	const struct req *r = arg;

	/*
	 * Here size is the quantum, flags the creation flags, align the
	 * qcache_max, phase the ipl, lo the initial span's size (0: 0x1000).
	 */
	(void)vmem_create(r->name, 0, r->lo != 0 ? r->lo : 0x1000, r->size,
	    NULL, NULL, NULL, r->align, r->flags, (int)r->phase);
}

ATF_TC_WITHOUT_HEAD(bad_create);
ATF_TC_BODY(bad_create, tc)
{
	death(do_create, REQ(.name = "quantum-zero", .size = 0,
	    .flags = VM_SLEEP), "arena \"quantum-zero\"",
	    "quantum 0x0 is not a power of two", NULL);
	death(do_create, REQ(.name = "quantum-odd", .size = 24,
	    .flags = VM_SLEEP), "arena \"quantum-odd\"",
	    "quantum 0x18 is not a power of two", NULL);
	death(do_create, REQ(.name = "ximport-flag", .size = 16,
	    .flags = VM_SLEEP | VM_XIMPORT), "arena \"ximport-flag\"",
	    "VM_XIMPORT is internal", NULL);
	death(do_create, REQ(.name = "create-sleep", .size = 16,
	    .flags = VM_SLEEP | VM_NOSLEEP), "arena \"create-sleep\"",
	    "create: flags 0x3 " SLEEP_RULE, NULL);
	death(do_create, REQ(.name = "qcache-odd", .size = 16, .align = 0x48,
	    .flags = VM_SLEEP), "arena \"qcache-odd\"", "create: "
	    "qcache_max 0x48 is not a multiple of the quantum 0x10", NULL);
	death(do_create, REQ(.name = "privtags-span", .size = 16,
	    .flags = VM_SLEEP | VM_PRIVTAGS), "arena \"privtags-span\"",
	    "create: VM_PRIVTAGS with an initial span", NULL);
	death(do_create, REQ(.name = "bad-ipl", .size = 16, .phase = 8,
	    .flags = VM_SLEEP), "arena \"bad-ipl\"",
	    "create: ipl 8 is not an IPL_* level", NULL);
}

/* ---- vmem_add_bts */

static struct vmem_btag misuse_bts[VMEM_EST_BTCOUNT(1, 4)];

static void
do_bts_not_private(void *arg)
{
	(void)arg;
	vmem_add_bts(mk("bts-shared", 0, 0, 0x10), misuse_bts,
	    VMEM_EST_BTCOUNT(1, 4));
}

static void
do_bts_after_span(void *arg)
{
	vmem_t *vm;

	(void)arg;
	vm = vmem_create("bts-late", 0, 0, 0x10, NULL, NULL, NULL, 0,
	    VM_SLEEP | VM_PRIVTAGS, IPL_NONE);
	vmem_add_bts(vm, misuse_bts, 2);
	if (vmem_add(vm, 0x1000, 0x1000, VM_NOSLEEP) != 0)
		abort();
	vmem_add_bts(vm, misuse_bts + 2, 2);
}

ATF_TC_WITHOUT_HEAD(add_bts_misuse);
ATF_TC_BODY(add_bts_misuse, tc)
{
	death(do_bts_not_private, NULL, "arena \"bts-shared\"",
	    "vmem_add_bts: the arena was not created with VM_PRIVTAGS", NULL);
	death(do_bts_after_span, NULL, "arena \"bts-late\"",
	    "vmem_add_bts: 2 tags at", "after the first span", NULL);
}

/* ---- frees */

static void
do_free_never(void *arg)
{
	vmem_t *vm = mk("never-alloc", 0x1000, 0x1000, 0x10);
	vmem_addr_t a;

	(void)vmem_alloc(vm, 0x10, BF, &a);
	vmem_free(vm, 0x1800, 0x10);
}

static void
do_xfree_never(void *arg)
{
	vmem_t *vm = mk("never-xalloc", 0x1000, 0x1000, 0x10);

	vmem_xfree(vm, 0x1230, 0x10);
}

ATF_TC_WITHOUT_HEAD(free_never_allocated);
ATF_TC_BODY(free_never_allocated, tc)
{
	death(do_free_never, NULL, "arena \"never-alloc\"",
	    "vmem_free: 0x1800 (size 0x10) was never allocated", NULL);
	death(do_xfree_never, NULL, "arena \"never-xalloc\"",
	    "vmem_xfree: 0x1230 (size 0x10) was never allocated", NULL);
}

static void
do_double_free(void *arg)
{
	vmem_t *vm = mk("double-free", 0x1000, 0x1000, 0x10);
	vmem_addr_t a, b;

	(void)vmem_alloc(vm, 0x20, BF, &a);
	(void)vmem_alloc(vm, 0x20, BF, &b);
	if (a != 0x1000)
		abort();
	vmem_free(vm, a, 0x20);
	vmem_free(vm, a, 0x20);
}

ATF_TC_WITHOUT_HEAD(double_free);
ATF_TC_BODY(double_free, tc)
{
	death(do_double_free, NULL, "arena \"double-free\"",
	    "vmem_free: 0x1000 (size 0x20) was never allocated or is already "
	    "freed (double free)", NULL);
}

static void
do_wrong_size(void *arg)
{
	vmem_t *vm = mk("wrong-size", 0x1000, 0x1000, 0x10);

	if (vmem_xalloc_addr(vm, 0x1400, 0x40, VM_NOSLEEP) != 0)
		abort();
	vmem_xfree(vm, 0x1400, 0x80);
}

static void
do_wrong_size_small(void *arg)
{
	vmem_t *vm = mk("wrong-size-2", 0x1000, 0x1000, 0x10);
	vmem_addr_t a;

	if (vmem_alloc(vm, 0x300, BF, &a) != 0 || a != 0x1000)
		abort();
	vmem_free(vm, a, 0x100);
}

ATF_TC_WITHOUT_HEAD(wrong_size);
ATF_TC_BODY(wrong_size, tc)
{
	death(do_wrong_size, NULL, "arena \"wrong-size\"", "vmem_xfree: "
	    "0x1400 freed with size 0x80 but allocated with size 0x40 "
	    "(wrong size)", NULL);
	death(do_wrong_size_small, NULL, "arena \"wrong-size-2\"",
	    "vmem_free: 0x1000 freed with size 0x100 but allocated with "
	    "size 0x300", NULL);
}

static void
do_misaligned_free(void *arg)
{
	vmem_t *vm = mk("misaligned", 0x1000, 0x1000, 0x10);

	if (vmem_xalloc_addr(vm, 0x1400, 0x40, VM_NOSLEEP) != 0)
		abort();
	vmem_xfree(vm, 0x1408, 0x40);
}

/* The quantum caches' path checks the alignment too. */
static void
do_misaligned_free_qcache(void *arg)
{
	vmem_addr_t a;
	vmem_t *vm = mk_qc("misaligned-qc", &a);

	vmem_free(vm, a + 4, 0x20);
}

ATF_TC_WITHOUT_HEAD(misaligned_free);
ATF_TC_BODY(misaligned_free, tc)
{
	/* The line names the size given as well as the address. */
	death(do_misaligned_free, NULL, "arena \"misaligned\"",
	    "vmem_xfree: address 0x1408 (size 0x40) is not a multiple of the "
	    "quantum 0x10 (misaligned free)", NULL);
	death(do_misaligned_free_qcache, NULL, "arena \"misaligned-qc\"",
	    "vmem_free: address 0x10004 (size 0x20) is not a multiple of the "
	    "quantum 0x10 (misaligned free)", NULL);
}

/* ---- arena-wide calls */

static void
do_destroy_busy(void *arg)
{
	vmem_t *vm = mk("busy-arena", 0x1000, 0x1000, 0x10);
	vmem_addr_t a;
	int i;

	for (i = 0; i < 3; i++)
		(void)vmem_alloc(vm, 0x10, BF, &a);
	vmem_destroy(vm);
}

/* A range of a cached size, still out: its cache reports it. */
static void
do_destroy_busy_qcache(void *arg)
{
	vmem_addr_t a;

	vmem_destroy(mk_qc("qc-busy", &a));
}

static void
do_destroy_twice(void *arg)
{
	vmem_t *vm = mk("twice", 0x1000, 0x1000, 0x10);

	vmem_destroy(vm);
	vmem_destroy(vm);
}

/* Storage of the caller's (vmem_init): the arena is not unmapped. */
static void
do_destroy_twice_init(void *arg)
{
	static struct vmem storage;
	vmem_t *vm = vmem_init(&storage, "twice-init", 0x1000, 0x1000, 0x10,
	    NULL, NULL, NULL, 0, VM_SLEEP, IPL_NONE);

	vmem_destroy(vm);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(destroy_twice);
ATF_TC_BODY(destroy_twice, tc)
{
	const char *twice = ": vmem_destroy: not an arena (never created, "
	    "or already destroyed: double free)";

	nbt_death(do_destroy_twice, NULL, twice);
	nbt_death(do_destroy_twice_init, NULL, twice);
}

ATF_TC_WITHOUT_HEAD(destroy_busy);
ATF_TC_BODY(destroy_busy, tc)
{
	death(do_destroy_busy, NULL, "arena \"busy-arena\"",
	    "vmem_destroy: 3 segments (48 bytes) still allocated", NULL);
	/* The line vmem(3) gives for an arena with quantum caches. */
	death(do_destroy_busy_qcache, NULL, "pool_cache: \"qc-busy-32\": "
	    "destroy with 1 objects (32 bytes) out, the first at 0x", NULL);
}

static void
do_xfreeall_qcache(void *arg)
{
	vmem_t *vm;

	vm = vmem_create("qc-freeall", 0x1000, 0x10000, 0x10, NULL, NULL,
	    NULL, 0x40, VM_SLEEP, IPL_NONE);
	vmem_xfreeall(vm);
}

ATF_TC_WITHOUT_HEAD(xfreeall_qcache);
ATF_TC_BODY(xfreeall_qcache, tc)
{
	death(do_xfreeall_qcache, NULL, "arena \"qc-freeall\"",
	    "vmem_xfreeall: the arena has quantum caches (qcache_max 0x40)",
	    NULL);
}

static void
do_size_mask(void *arg)
{
	vmem_t *vm = mk("size-mask", 0x1000, 0x1000, 0x10);

	(void)vmem_size(vm, (int)(intptr_t)arg);
}

ATF_TC_WITHOUT_HEAD(size_bad_mask);
ATF_TC_BODY(size_bad_mask, tc)
{
	death(do_size_mask, (void *)(intptr_t)0, "arena \"size-mask\"",
	    "vmem_size: unknown type mask 0x0", NULL);
	death(do_size_mask, (void *)(intptr_t)4, "arena \"size-mask\"",
	    "vmem_size: unknown type mask 0x4", NULL);
}

static void
do_add_overlap(void *arg)
{
	vmem_t *vm = mk("add-overlap", 0x1000, 0x1000, 0x10);

	(void)vmem_add(vm, 0x1800, 0x1000, VM_SLEEP);
}

ATF_TC_WITHOUT_HEAD(add_overlap);
ATF_TC_BODY(add_overlap, tc)
{
	death(do_add_overlap, NULL, "arena \"add-overlap\"", "vmem_add: "
	    "span 0x1800 size 0x1000 overlaps span 0x1000 size 0x1000", NULL);
}

static void
do_add_misaligned(void *arg)
{
	vmem_t *vm = mk("add-misaligned", 0x1000, 0x1000, 0x10);

	(void)vmem_add(vm, 0x8008, 0x100, VM_SLEEP);
}

static void
do_add_wraps(void *arg)
{
	vmem_t *vm = mk("add-wraps", 0, 0, 0x10);

	(void)vmem_add(vm, VMEM_ADDR_MAX - 0xff, 0x200, VM_SLEEP);
}

ATF_TC_WITHOUT_HEAD(add_bad_span);
ATF_TC_BODY(add_bad_span, tc)
{
	death(do_add_misaligned, NULL, "arena \"add-misaligned\"",
	    "vmem_add: span 0x8008 size 0x100 is not aligned to the quantum "
	    "0x10", NULL);
	death(do_add_wraps, NULL, "arena \"add-wraps\"", "vmem_add: span "
	    "0xffffffffffffff00 size 0x200 wraps around", NULL);
}

static void
do_xalloc_addr_misaligned(void *arg)
{
	vmem_t *vm = mk("addr-misaligned", 0x1000, 0x1000, 0x10);

	(void)vmem_xalloc_addr(vm, 0x1004, 0x10, VM_NOSLEEP);
}

static void
do_free_size_zero(void *arg)
{
	vmem_t *vm = mk("free-size0", 0x1000, 0x1000, 0x10);
	vmem_addr_t a;

	(void)vmem_alloc(vm, 0x10, BF, &a);
	vmem_free(vm, a, 0);
}

ATF_TC_WITHOUT_HEAD(misc_bad_args);
ATF_TC_BODY(misc_bad_args, tc)
{
	death(do_xalloc_addr_misaligned, NULL, "arena \"addr-misaligned\"",
	    "vmem_xalloc_addr: address 0x1004 (size 0x10) is not a multiple "
	    "of the quantum 0x10", NULL);
	death(do_free_size_zero, NULL, "arena \"free-size0\"",
	    "vmem_free: 0x1000 with size 0", NULL);
}

/* NBMEM_SLEEP_TIMEOUT turns a wait that long into a diagnostic. */
static void
do_sleep_timeout(void *arg)
{
	vmem_t *vm = mk("sleep-timeout", 0x1000, 0x1000, 0x10);
	vmem_addr_t a;

	setenv("NBMEM_SLEEP_TIMEOUT", "0.1", 1);
	(void)vmem_alloc(vm, 0x1000, VM_BESTFIT | VM_SLEEP, &a);
	(void)vmem_alloc(vm, 0x10, VM_BESTFIT | VM_SLEEP, &a);
}

ATF_TC(sleep_timeout);
ATF_TC_HEAD(sleep_timeout, tc)
{
	atf_tc_set_md_var(tc, "descr", "a VM_SLEEP request waiting longer "
	    "than NBMEM_SLEEP_TIMEOUT aborts naming the arena and size");
	atf_tc_set_md_var(tc, "timeout", "30");
}
ATF_TC_BODY(sleep_timeout, tc)
{
	death(do_sleep_timeout, NULL, "arena \"sleep-timeout\"",
	    "vmem_alloc: VM_SLEEP request of size 0x10 waited longer than "
	    "NBMEM_SLEEP_TIMEOUT", NULL);
}

/* ---- interrupt context */

static void
do_sleep_in_intr(void *arg)
{
	vmem_t *vm;
	vmem_addr_t a;

	vm = vmem_create("intr-sleep", 0x1000, 0x1000, 0x10, NULL, NULL, NULL,
	    0, VM_SLEEP, IPL_VM);
	nbmem_intr_enter();
	(void)vmem_alloc(vm, 0x10, VM_BESTFIT | VM_SLEEP, &a);
}

static void
do_iplnone_in_intr(void *arg)
{
	vmem_t *vm = mk("intr-ipl-none", 0x1000, 0x1000, 0x10);
	vmem_addr_t a;

	nbmem_intr_enter();
	(void)vmem_alloc(vm, 0x10, BF, &a);
}

static void
do_create_in_intr(void *arg)
{
	nbmem_intr_enter();
	(void)mk("intr-create", 0x1000, 0x1000, 0x10);
}

static void
do_destroy_in_intr(void *arg)
{
	vmem_t *vm;

	vm = vmem_create("intr-destroy", 0x1000, 0x1000, 0x10, NULL, NULL,
	    NULL, 0, VM_SLEEP, IPL_VM);
	nbmem_intr_enter();
	vmem_destroy(vm);
}

static void
do_iplnone_free_in_intr(void *arg)
{
	vmem_t *vm = mk("intr-free", 0x1000, 0x1000, 0x10);
	vmem_addr_t a;

	(void)vmem_alloc(vm, 0x10, BF, &a);
	nbmem_intr_enter();
	vmem_free(vm, a, 0x10);
}

ATF_TC_WITHOUT_HEAD(intr_context);
ATF_TC_BODY(intr_context, tc)
{
	death(do_sleep_in_intr, NULL, "\"intr-sleep\"", "vmem_alloc: "
	    "sleeping call from interrupt", NULL);
	death(do_iplnone_in_intr, NULL, "\"intr-ipl-none\"", "vmem_alloc: "
	    "object created at IPL_NONE used from interrupt", NULL);
	death(do_iplnone_free_in_intr, NULL, "\"intr-free\"", "vmem_free: "
	    "object created at IPL_NONE used from interrupt", NULL);
	death(do_create_in_intr, NULL, "arena \"intr-create\"",
	    "create from interrupt", NULL);
	death(do_destroy_in_intr, NULL, "arena \"intr-destroy\"",
	    "vmem_destroy from interrupt", NULL);
}

/* The no-sleep calls on an IPL_VM arena are allowed in a handler. */
ATF_TC_WITHOUT_HEAD(intr_allowed);
ATF_TC_BODY(intr_allowed, tc)
{
	vmem_t *vm;
	vmem_addr_t a;

	vm = vmem_create("intr-ok", 0x1000, 0x1000, 0x10, NULL, NULL, NULL,
	    0, VM_SLEEP, IPL_VM);
	ATF_REQUIRE(vm != NULL);
	nbmem_intr_enter();
	ATF_CHECK(cpu_intr_p());
	ATF_CHECK_EQ(vmem_alloc(vm, 0x10, BF, &a), 0);
	vmem_free(vm, a, 0x10);
	ATF_CHECK_EQ(vmem_xalloc(vm, 0x10, 0x100, 0, 0, 0, VMEM_ADDR_MAX,
	    VM_INSTANTFIT | VM_NOSLEEP, &a), 0);
	vmem_xfree(vm, a, 0x10);
	nbmem_intr_exit();
	ATF_CHECK(!cpu_intr_p());
	vmem_destroy(vm);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, alloc_size_zero);
	ATF_TP_ADD_TC(tp, sleep_flags);
	ATF_TP_ADD_TC(tp, fit_flags);
	ATF_TP_ADD_TC(tp, bad_align);
	ATF_TP_ADD_TC(tp, bad_phase);
	ATF_TP_ADD_TC(tp, bad_nocross);
	ATF_TP_ADD_TC(tp, bad_range);
	ATF_TP_ADD_TC(tp, bad_create);
	ATF_TP_ADD_TC(tp, add_bts_misuse);
	ATF_TP_ADD_TC(tp, free_never_allocated);
	ATF_TP_ADD_TC(tp, double_free);
	ATF_TP_ADD_TC(tp, wrong_size);
	ATF_TP_ADD_TC(tp, misaligned_free);
	ATF_TP_ADD_TC(tp, destroy_busy);
	ATF_TP_ADD_TC(tp, destroy_twice);
	ATF_TP_ADD_TC(tp, xfreeall_qcache);
	ATF_TP_ADD_TC(tp, size_bad_mask);
	ATF_TP_ADD_TC(tp, add_overlap);
	ATF_TP_ADD_TC(tp, add_bad_span);
	ATF_TP_ADD_TC(tp, misc_bad_args);
	ATF_TP_ADD_TC(tp, sleep_timeout);
	ATF_TP_ADD_TC(tp, intr_context);
	ATF_TP_ADD_TC(tp, intr_allowed);
	return atf_no_error();
}

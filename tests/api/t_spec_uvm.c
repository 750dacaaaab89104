/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * Conformance tests for uvm_km(3), written from the NetBSD uvm_km(9)
 * semantics (the reference specification, section 5) against the public
 * headers only, included as ported code includes them.
 */
#include <uvm/uvm_extern.h>
#include <uvm/uvm_map.h>
#include <sys/vmem.h>

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <atf-c.h>

#include <nbmem/nbmem.h>

#include "nbtest.h"

static size_t
ps(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

static bool
all_zero(const void *p, size_t n)
{
	const unsigned char *c = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (c[i] != 0)
			return false;
	return true;
}

ATF_TC_WITHOUT_HEAD(wired);
ATF_TC_BODY(wired, tc)
{
	vaddr_t va;
	int i;

	for (i = 0; i < 20; i++) {
		vsize_t sz = (vsize_t)(i + 1) * ps() - (i % 3);

		va = uvm_km_alloc(kernel_map, sz, 0, UVM_KMF_WIRED);
		ATF_REQUIRE(va != 0);
		ATF_CHECK(va % ps() == 0);
		memset((void *)va, 0x77, sz);
		uvm_km_free(kernel_map, va, sz, UVM_KMF_WIRED);
	}
	/* UVM_KMF_ZERO: zero-filled, recycled memory too */
	for (i = 0; i < 20; i++) {
		vsize_t sz = (vsize_t)(i % 4 + 1) * ps();

		va = uvm_km_alloc(kernel_map, sz, 0, UVM_KMF_WIRED);
		memset((void *)va, 0x55, sz);
		uvm_km_free(kernel_map, va, sz, UVM_KMF_WIRED);
		va = uvm_km_alloc(kernel_map, sz, 0,
		    UVM_KMF_WIRED | UVM_KMF_ZERO);
		ATF_REQUIRE(va != 0);
		ATF_CHECK(all_zero((void *)va, sz));
		uvm_km_free(kernel_map, va, sz, UVM_KMF_WIRED);
	}
	/* EXEC, NOWAIT, CANFAIL, TRYLOCK, WAITVA accepted with a type */
	va = uvm_km_alloc(kernel_map, ps(), 0, UVM_KMF_WIRED | UVM_KMF_EXEC);
	ATF_REQUIRE(va != 0);
	uvm_km_free(kernel_map, va, ps(), UVM_KMF_WIRED);
	va = uvm_km_alloc(kernel_map, ps(), 0, UVM_KMF_WIRED | UVM_KMF_NOWAIT |
	    UVM_KMF_TRYLOCK);
	ATF_REQUIRE(va != 0);
	uvm_km_free(kernel_map, va, ps(), UVM_KMF_WIRED);
	va = uvm_km_alloc(kernel_map, ps(), 0, UVM_KMF_WIRED |
	    UVM_KMF_CANFAIL | UVM_KMF_WAITVA | UVM_KMF_ZERO);
	ATF_REQUIRE(va != 0);
	ATF_CHECK(all_zero((void *)va, ps()));
	uvm_km_free(kernel_map, va, ps(), UVM_KMF_WIRED);
}

ATF_TC_WITHOUT_HEAD(align);
ATF_TC_BODY(align, tc)
{
	vsize_t al;
	vaddr_t va;

	for (al = ps(); al <= 4096 * ps(); al <<= 1) {
		va = uvm_km_alloc(kernel_map, ps(), al, UVM_KMF_WIRED);
		ATF_REQUIRE(va != 0);
		ATF_CHECK_MSG(va % al == 0, "%#lx align %#lx",
		    (unsigned long)va, (unsigned long)al);
		uvm_km_free(kernel_map, va, ps(), UVM_KMF_WIRED);
		va = uvm_km_alloc(kernel_map, 3 * ps(), al, UVM_KMF_VAONLY);
		ATF_REQUIRE(va != 0);
		ATF_CHECK(va % al == 0);
		uvm_km_free(kernel_map, va, 3 * ps(), UVM_KMF_VAONLY);
	}
}

ATF_TC_WITHOUT_HEAD(pageable);
ATF_TC_BODY(pageable, tc)
{
	/* demand-zero on first touch */
	vsize_t sz = 16 * ps();
	vaddr_t va = uvm_km_alloc(kernel_map, sz, 0, UVM_KMF_PAGEABLE);

	ATF_REQUIRE(va != 0);
	ATF_CHECK(va % ps() == 0);
	ATF_CHECK(all_zero((void *)va, sz));
	memset((void *)va, 3, sz);
	uvm_km_free(kernel_map, va, sz, UVM_KMF_PAGEABLE);
}

/* the fault kills the child, sanitizers' handlers notwithstanding */
static void
default_segv(void)
{
	(void)signal(SIGSEGV, SIG_DFL);
	(void)signal(SIGBUS, SIG_DFL);
}

static void
touch_vaonly(void *arg)
{
	vaddr_t va = uvm_km_alloc(kernel_map, ps(), 0, UVM_KMF_VAONLY);

	default_segv();
	if (va == 0)
		_exit(3);
	*(volatile char *)va = 1;
}

static void
write_readonly(void *arg)
{
	vaddr_t va = uvm_km_alloc(kernel_map, ps(), 0, UVM_KMF_WIRED);

	default_segv();
	if (va == 0 || uvm_km_protect(kernel_map, va, ps(), VM_PROT_READ) != 0)
		_exit(3);
	(void)*(volatile char *)va;
	*(volatile char *)va = 1;
}

ATF_TC_WITHOUT_HEAD(vaonly_faults_protect);
ATF_TC_BODY(vaonly_faults_protect, tc)
{
	vaddr_t va;

	nbt_death_sig(touch_vaonly, NULL, SIGSEGV, NULL);
	nbt_death_sig(write_readonly, NULL, SIGSEGV, NULL);
	/* protect back to read/write */
	va = uvm_km_alloc(kernel_map, 2 * ps(), 0, UVM_KMF_WIRED);
	ATF_REQUIRE(va != 0);
	ATF_CHECK_EQ(uvm_km_protect(kernel_map, va, 2 * ps(), VM_PROT_READ),
	    0);
	ATF_CHECK_EQ(uvm_km_protect(kernel_map, va, 2 * ps(),
	    VM_PROT_READ | VM_PROT_WRITE), 0);
	memset((void *)va, 1, 2 * ps());
	uvm_km_free(kernel_map, va, 2 * ps(), UVM_KMF_WIRED);
}

ATF_TC_WITHOUT_HEAD(nowait_canfail_at_limit);
ATF_TC_BODY(nowait_canfail_at_limit, tc)
{
	size_t old = nbmem_physmem_get();
	vmem_addr_t a;
	vaddr_t va;

	nbmem_physmem_set(nbmem_physmem_inuse() + 4 * ps());
	va = uvm_km_alloc(kernel_map, 64 * ps(), 0, UVM_KMF_WIRED |
	    UVM_KMF_NOWAIT);
	ATF_CHECK_EQ(va, 0);
	va = uvm_km_alloc(kernel_map, 64 * ps(), 0, UVM_KMF_WIRED |
	    UVM_KMF_CANFAIL);
	ATF_CHECK_EQ(va, 0);
	ATF_CHECK_EQ(uvm_km_kmem_alloc(kmem_va_arena, 64 * ps(),
	    VM_NOSLEEP | VM_INSTANTFIT, &a), ENOMEM);
	/* address space only: no pages, not limited */
	va = uvm_km_alloc(kernel_map, 64 * ps(), 0, UVM_KMF_VAONLY);
	ATF_CHECK(va != 0);
	if (va != 0)
		uvm_km_free(kernel_map, va, 64 * ps(), UVM_KMF_VAONLY);
	nbmem_physmem_set(old);
	va = uvm_km_alloc(kernel_map, 64 * ps(), 0, UVM_KMF_WIRED |
	    UVM_KMF_NOWAIT);
	ATF_CHECK(va != 0);
	if (va != 0)
		uvm_km_free(kernel_map, va, 64 * ps(), UVM_KMF_WIRED);
}

ATF_TC_WITHOUT_HEAD(kmem_alloc_pages);
ATF_TC_BODY(kmem_alloc_pages, tc)
{
	vmem_addr_t a;
	vmem_size_t before;
	int i;

	for (i = 1; i <= 8; i++) {
		vmem_size_t sz = (vmem_size_t)i * ps() - 1;

		before = vmem_size(kmem_va_arena, VMEM_ALLOC);
		ATF_REQUIRE_EQ(uvm_km_kmem_alloc(kmem_va_arena, sz,
		    (i % 2 ? VM_SLEEP : VM_NOSLEEP) | VM_INSTANTFIT, &a), 0);
		ATF_CHECK(a % ps() == 0);
		memset((void *)a, 9, sz);
		ATF_CHECK(vmem_size(kmem_va_arena, VMEM_ALLOC) >= before);
		/* kmem_va_arena takes its address space from kmem_arena */
		ATF_CHECK_MSG(vmem_size(kmem_arena, VMEM_ALLOC) >= sz,
		    "kmem_arena: %zu allocated of %zu", (size_t)vmem_size(
		    kmem_arena, VMEM_ALLOC), (size_t)vmem_size(kmem_arena,
		    VMEM_ALLOC | VMEM_FREE));
		uvm_km_kmem_free(kmem_va_arena, a, sz);
	}
	ATF_CHECK(!uvm_km_va_starved_p());
}

ATF_TC_WITHOUT_HEAD(kmem_alloc_as_import);
ATF_TC_BODY(kmem_alloc_as_import, tc)
{
	/* its signature matches vmem_import_t: an arena of backed pages */
	vmem_t *vm = vmem_create("spec-backed", 0, 0, ps(),
	    (vmem_import_t *)uvm_km_kmem_alloc,
	    (vmem_release_t *)uvm_km_kmem_free, kmem_va_arena, 0, VM_SLEEP,
	    IPL_VM);
	vmem_addr_t a[4];
	int i;

	ATF_REQUIRE(vm != NULL);
	for (i = 0; i < 4; i++) {
		ATF_REQUIRE_EQ(vmem_alloc(vm, (vmem_size_t)(i + 1) * ps(),
		    VM_SLEEP | VM_BESTFIT, &a[i]), 0);
		memset((void *)a[i], i, (size_t)(i + 1) * ps());
	}
	for (i = 0; i < 4; i++)
		vmem_free(vm, a[i], (vmem_size_t)(i + 1) * ps());
	ATF_CHECK_EQ(vmem_size(vm, VMEM_ALLOC | VMEM_FREE), 0);
	vmem_destroy(vm);
}

ATF_TC_WITHOUT_HEAD(suballoc);
ATF_TC_BODY(suballoc, tc)
{
	static struct vm_map store;
	struct vm_map *sub;
	vaddr_t vmin = 0, vmax = 0, va;
	int i;

	sub = uvm_km_suballoc(kernel_map, &vmin, &vmax, 256 * ps(), 0, false,
	    &store);
	ATF_REQUIRE(sub != NULL);
	ATF_CHECK(sub == &store);
	ATF_CHECK(vmin != 0 && vmax - vmin == 256 * ps());
	for (i = 0; i < 10; i++) {
		va = uvm_km_alloc(sub, 8 * ps(), 0, UVM_KMF_WIRED |
		    UVM_KMF_ZERO);
		ATF_REQUIRE(va != 0);
		ATF_CHECK(va >= vmin && va + 8 * ps() <= vmax);
		ATF_CHECK(all_zero((void *)va, 8 * ps()));
		memset((void *)va, 1, 8 * ps());
		uvm_km_free(sub, va, 8 * ps(), UVM_KMF_WIRED);
	}
	/* the submap's address space runs out: 0 without WAITVA */
	va = uvm_km_alloc(sub, 512 * ps(), 0, UVM_KMF_VAONLY);
	ATF_CHECK_EQ(va, 0);
}

static void
d_alloc_flags(void *arg)
{
	(void)uvm_km_alloc(kernel_map, ps(), 0, (uvm_flag_t)(uintptr_t)arg);
}

static void
d_free_unaligned(void *arg)
{
	vaddr_t va = uvm_km_alloc(kernel_map, 2 * ps(), 0, UVM_KMF_WIRED);

	uvm_km_free(kernel_map, va + 8, ps(), UVM_KMF_WIRED);
}

static void
d_free_type(void *arg)
{
	vaddr_t va = uvm_km_alloc(kernel_map, ps(), 0, UVM_KMF_WIRED);

	uvm_km_free(kernel_map, va, ps(), (uvm_flag_t)(uintptr_t)arg);
}

ATF_TC_WITHOUT_HEAD(misuse);
ATF_TC_BODY(misuse, tc)
{
	nbt_death(d_alloc_flags, (void *)(uintptr_t)0, "uvm_km");
	nbt_death(d_alloc_flags, (void *)(uintptr_t)(UVM_KMF_WIRED |
	    UVM_KMF_PAGEABLE), "uvm_km");
	nbt_death(d_alloc_flags, (void *)(uintptr_t)UVM_KMF_TYPEMASK,
	    "uvm_km");
	nbt_death(d_alloc_flags, (void *)(uintptr_t)(UVM_KMF_WIRED |
	    UVM_KMF_COLORMATCH), "uvm_km");
	nbt_death(d_free_unaligned, NULL, "uvm_km");
	nbt_death(d_free_type, (void *)(uintptr_t)0, "uvm_km");
	nbt_death(d_free_type, (void *)(uintptr_t)(UVM_KMF_WIRED |
	    UVM_KMF_VAONLY), "uvm_km");
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, wired);
	ATF_TP_ADD_TC(tp, align);
	ATF_TP_ADD_TC(tp, pageable);
	ATF_TP_ADD_TC(tp, vaonly_faults_protect);
	ATF_TP_ADD_TC(tp, nowait_canfail_at_limit);
	ATF_TP_ADD_TC(tp, kmem_alloc_pages);
	ATF_TP_ADD_TC(tp, kmem_alloc_as_import);
	ATF_TP_ADD_TC(tp, suballoc);
	ATF_TP_ADD_TC(tp, misuse);
	return atf_no_error();
}

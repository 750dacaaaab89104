/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_uvm_km: uvm_km(3) through the public interface: the three types,
 * alignment, ZERO and EXEC, failure and sleeping at the memory budget,
 * submaps, the kmem back end, and every misuse diagnosed.
 */
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/time.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <atf-c.h>

#include <nbmem/nbmem.h>
#include <nbmem/uvm_km.h>
#include <nbmem/uvm_map.h>
#include <nbmem/vmem.h>

#include "nbtest.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define	SANITIZED	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define	SANITIZED	1
#endif
#endif
#ifndef SANITIZED
#define	SANITIZED	0
#endif

static size_t ps;

static void
setup(void)
{
	ps = (size_t)sysconf(_SC_PAGESIZE);
}

/* Pages of [va, va + n pages) resident now. */
static size_t
resident(vaddr_t va, size_t n)
{
	unsigned char vec[1024];
	size_t cnt = 0;

	ATF_REQUIRE(n <= sizeof(vec));
	ATF_REQUIRE(mincore((void *)va, n * ps, vec) == 0);
	for (size_t i = 0; i < n; i++)
		cnt += vec[i] & 1;
	return cnt;
}

/* The permissions column of /proc/self/maps for the mapping holding va. */
static void
perms(vaddr_t va, char out[5])
{
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned long lo, hi;
	char p[5];

	ATF_REQUIRE(f != NULL);
	strcpy(out, "?");
	while (fscanf(f, "%lx-%lx %4s%*[^\n]", &lo, &hi, p) == 3) {
		if (va >= lo && va < hi) {
			strcpy(out, p);
			break;
		}
	}
	fclose(f);
}

/* Leave room for exactly `bytes' more in the budget. */
static void
budget_room(size_t bytes)
{
	nbmem_physmem_set(nbmem_physmem_inuse() + bytes);
}

static bool
one_waiter(void *arg)
{
	(void)arg;
	return nbmem_physmem_waiters() == 1;
}

static unsigned int hook_calls;

static void
count_hook(void *arg)
{
	(void)arg;
	__atomic_add_fetch(&hook_calls, 1, __ATOMIC_SEQ_CST);
}

/* ---- the three types */

ATF_TC_WITHOUT_HEAD(wired_populated);
ATF_TC_BODY(wired_populated, tc)
{
	setup();
	size_t before = nbmem_physmem_inuse();
	vaddr_t va = uvm_km_alloc(kernel_map, 16 * ps, 0, UVM_KMF_WIRED);

	ATF_REQUIRE(va != 0);
	ATF_CHECK_EQ(va % ps, 0);
	ATF_CHECK_EQ(resident(va, 16), 16);
	ATF_CHECK_EQ(nbmem_physmem_inuse() - before, 16 * ps);
	memset((void *)va, 0xa5, 16 * ps);
	uvm_km_free(kernel_map, va, 16 * ps, UVM_KMF_WIRED);
	ATF_CHECK_EQ(nbmem_physmem_inuse(), before);
}

/* Kilobytes locked in memory (VmLck of /proc/self/status). */
static long
vmlck_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmLck: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

ATF_TC_WITHOUT_HEAD(wired_mlock);
ATF_TC_BODY(wired_mlock, tc)
{
	int status;

	setup();
	/* Not asked: not locked. */
	long before = vmlck_kb();
	vaddr_t va = uvm_km_alloc(kernel_map, 4 * ps, 0, UVM_KMF_WIRED);
	ATF_CHECK_EQ(vmlck_kb(), before);
	uvm_km_free(kernel_map, va, 4 * ps, UVM_KMF_WIRED);

	/* NBMEM_MLOCK=1, read before first use: locked (rlimit allowing). */
	if (SANITIZED)
		atf_tc_skip("the sanitizers' mlock does nothing");
	pid_t pid = fork();
	ATF_REQUIRE(pid >= 0);
	if (pid == 0) {
		struct rlimit rl;
		setenv("NBMEM_MLOCK", "1", 1);
		if (getrlimit(RLIMIT_MEMLOCK, &rl) != 0 ||
		    rl.rlim_cur < 64 * ps)
			_exit(0);	/* cannot tell: a warning instead */
		long b = vmlck_kb();
		vaddr_t v = uvm_km_alloc(kernel_map, 4 * ps, 0, UVM_KMF_WIRED);
		long a = vmlck_kb();
		uvm_km_free(kernel_map, v, 4 * ps, UVM_KMF_WIRED);
		_exit(a - b == (long)(4 * ps / 1024) && vmlck_kb() == b ? 0 :
		    1);
	}
	ATF_REQUIRE(waitpid(pid, &status, 0) == pid);
	ATF_CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "status %#x", status);
}

ATF_TC_WITHOUT_HEAD(pageable_on_touch);
ATF_TC_BODY(pageable_on_touch, tc)
{
	setup();
	size_t before = nbmem_physmem_inuse();
	vaddr_t va = uvm_km_alloc(kernel_map, 16 * ps, 0, UVM_KMF_PAGEABLE);

	ATF_REQUIRE(va != 0);
	ATF_CHECK_EQ(resident(va, 16), 0);
	ATF_CHECK_EQ(nbmem_physmem_inuse() - before, 16 * ps);
	((volatile char *)va)[3 * ps] = 1;
	ATF_CHECK_EQ(resident(va, 16), 1);
	ATF_CHECK_EQ(resident(va + 3 * ps, 1), 1);
	ATF_CHECK_EQ(((volatile char *)va)[5 * ps], 0);
	uvm_km_free(kernel_map, va, 16 * ps, UVM_KMF_PAGEABLE);
	ATF_CHECK_EQ(nbmem_physmem_inuse(), before);
}

static void
touch_vaonly(void *arg)
{
	vaddr_t va = uvm_km_alloc(kernel_map, 4 * ps, 0, UVM_KMF_VAONLY);

	(void)arg;
	if (va == 0)
		_exit(2);
	signal(SIGSEGV, SIG_DFL);	/* not a sanitizer's report */
	((volatile char *)va)[ps] = 1;
}

ATF_TC_WITHOUT_HEAD(vaonly_faults);
ATF_TC_BODY(vaonly_faults, tc)
{
	setup();
	size_t before = nbmem_physmem_inuse();
	vaddr_t va = uvm_km_alloc(kernel_map, 64 * ps, 0, UVM_KMF_VAONLY);
	char p[5];

	ATF_REQUIRE(va != 0);
	ATF_CHECK_EQ(nbmem_physmem_inuse(), before);	/* not charged */
	perms(va, p);
	ATF_CHECK_STREQ(p, "---p");
	uvm_km_free(kernel_map, va, 64 * ps, UVM_KMF_VAONLY);
	ATF_CHECK_EQ(nbmem_physmem_inuse(), before);
	nbt_death_sig(touch_vaonly, NULL, SIGSEGV, NULL);
}

ATF_TC_WITHOUT_HEAD(sizes_round_to_pages);
ATF_TC_BODY(sizes_round_to_pages, tc)
{
	static const size_t sizes[] = { 1, 4095, 4096, 4097, 3 * 4096 + 5 };

	setup();
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t sz = sizes[i] * (ps / 4096);
		size_t want = (sz + ps - 1) / ps * ps;
		size_t before = nbmem_physmem_inuse();
		vaddr_t va = uvm_km_alloc(kernel_map, sz, 0, UVM_KMF_WIRED);
		ATF_REQUIRE(va != 0);
		ATF_CHECK_EQ(nbmem_physmem_inuse() - before, want);
		/* The last byte of the rounded range is ours. */
		((volatile char *)va)[want - 1] = 1;
		uvm_km_free(kernel_map, va, sz, UVM_KMF_WIRED);
		ATF_CHECK_EQ(nbmem_physmem_inuse(), before);
	}
}

ATF_TC_WITHOUT_HEAD(alignment);
ATF_TC_BODY(alignment, tc)
{
	static const size_t aligns[] = { 64 << 10, 2 << 20 };
	static const uvm_flag_t types[] = { UVM_KMF_WIRED, UVM_KMF_PAGEABLE,
	    UVM_KMF_VAONLY };

	setup();
	for (size_t i = 0; i < 2; i++) {
		for (size_t j = 0; j < 3; j++) {
			size_t a = aligns[i] < ps ? ps : aligns[i];
			vaddr_t va = uvm_km_alloc(kernel_map, 3 * ps, a,
			    types[j]);
			ATF_REQUIRE(va != 0);
			ATF_CHECK_EQ_MSG(va % a, 0, "%#lx align %#zx",
			    (unsigned long)va, a);
			uvm_km_free(kernel_map, va, 3 * ps, types[j]);
		}
	}
	/*
	 * A power of two below the page size is accepted, as NetBSD's
	 * uvm_map accepts it: every page-aligned address meets it.
	 */
	for (size_t a = 8; a < ps; a <<= 1) {
		vaddr_t va = uvm_km_alloc(kernel_map, ps, a, UVM_KMF_WIRED);
		ATF_REQUIRE_MSG(va != 0, "align %#zx", a);
		ATF_CHECK_EQ(va % ps, 0);
		uvm_km_free(kernel_map, va, ps, UVM_KMF_WIRED);
	}
}

ATF_TC_WITHOUT_HEAD(zero);
ATF_TC_BODY(zero, tc)
{
	setup();
	for (int round = 0; round < 2; round++) {
		vaddr_t va = uvm_km_alloc(kernel_map, 8 * ps, 0,
		    UVM_KMF_WIRED | UVM_KMF_ZERO);
		ATF_REQUIRE(va != 0);
		for (size_t i = 0; i < 8 * ps; i++)
			if (((unsigned char *)va)[i] != 0)
				atf_tc_fail("byte %zu is not zero", i);
		memset((void *)va, 0xff, 8 * ps);	/* dirty for round 2 */
		uvm_km_free(kernel_map, va, 8 * ps, UVM_KMF_WIRED);
	}
}

ATF_TC_WITHOUT_HEAD(exec);
ATF_TC_BODY(exec, tc)
{
	char p[5];

	setup();
	vaddr_t x = uvm_km_alloc(kernel_map, ps, 0,
	    UVM_KMF_WIRED | UVM_KMF_EXEC);
	vaddr_t n = uvm_km_alloc(kernel_map, ps, 0, UVM_KMF_WIRED);
	ATF_REQUIRE(x != 0 && n != 0);
	perms(x, p);
	ATF_CHECK_STREQ(p, "rwxp");
	perms(n, p);
	ATF_CHECK_STREQ(p, "rw-p");
	uvm_km_free(kernel_map, x, ps, UVM_KMF_WIRED);
	uvm_km_free(kernel_map, n, ps, UVM_KMF_WIRED);
}

ATF_TC_WITHOUT_HEAD(protect);
ATF_TC_BODY(protect, tc)
{
	char p[5];

	setup();
	vaddr_t va = uvm_km_alloc(kernel_map, 4 * ps, 0, UVM_KMF_PAGEABLE);
	ATF_REQUIRE(va != 0);
	ATF_CHECK_EQ(uvm_km_protect(kernel_map, va + ps, ps, VM_PROT_READ),
	    0);
	perms(va + ps, p);
	ATF_CHECK_STREQ(p, "r--p");
	perms(va, p);
	ATF_CHECK_STREQ(p, "rw-p");
	uvm_km_free(kernel_map, va, 4 * ps, UVM_KMF_PAGEABLE);

	/* VAONLY made accessible by the caller. */
	va = uvm_km_alloc(kernel_map, 4 * ps, 0, UVM_KMF_VAONLY);
	ATF_REQUIRE(va != 0);
	ATF_CHECK_EQ(uvm_km_protect(kernel_map, va, 2 * ps,
	    VM_PROT_READ | VM_PROT_WRITE), 0);
	((volatile char *)va)[ps] = 1;
	uvm_km_free(kernel_map, va, 4 * ps, UVM_KMF_VAONLY);
}

/* ---- the budget: failing, reclaiming, sleeping */

ATF_TC_WITHOUT_HEAD(nowait_canfail_over_budget);
ATF_TC_BODY(nowait_canfail_over_budget, tc)
{
	setup();
	int h = nbmem_reclaim_hook_add(count_hook, NULL);
	ATF_REQUIRE(h > 0);
	budget_room(4 * ps);
	size_t before = nbmem_physmem_inuse();

	ATF_CHECK_EQ(uvm_km_alloc(kernel_map, 8 * ps, 0,
	    UVM_KMF_WIRED | UVM_KMF_NOWAIT), 0);
	ATF_CHECK_EQ(hook_calls, 0);		/* NOWAIT does not reclaim */
	ATF_CHECK_EQ(uvm_km_alloc(kernel_map, 8 * ps, 0,
	    UVM_KMF_PAGEABLE | UVM_KMF_CANFAIL), 0);
	ATF_CHECK_EQ(hook_calls, 1);		/* CANFAIL: one pass */
	ATF_CHECK_EQ(nbmem_physmem_inuse(), before);

	/* What fits still succeeds; VAONLY is not charged at all. */
	vaddr_t va = uvm_km_alloc(kernel_map, 4 * ps, 0,
	    UVM_KMF_WIRED | UVM_KMF_NOWAIT);
	ATF_CHECK(va != 0);
	vaddr_t vo = uvm_km_alloc(kernel_map, 64 * ps, 0,
	    UVM_KMF_VAONLY | UVM_KMF_NOWAIT);
	ATF_CHECK(vo != 0);
	ATF_CHECK_EQ(uvm_km_alloc(kernel_map, ps, 0,
	    UVM_KMF_WIRED | UVM_KMF_NOWAIT), 0);
	uvm_km_free(kernel_map, va, 4 * ps, UVM_KMF_WIRED);
	uvm_km_free(kernel_map, vo, 64 * ps, UVM_KMF_VAONLY);
	nbmem_reclaim_hook_remove(h);
	nbmem_physmem_set(0);
}

/*
 * Sizes no process can map: no address space, so uvm_km_alloc fails at
 * once whatever its flags, as NetBSD's does when the map has no room,
 * with memory in use and no budget (the in-use count must not wrap);
 * the calls that would wait for ever (UVM_KMF_WAITVA, VM_SLEEP) are
 * diagnosed instead.
 */
static void
never_met_wired(void *arg)
{
	(void)arg;
	(void)uvm_km_alloc(kernel_map, (vsize_t)1 << 62, 0,
	    UVM_KMF_WIRED | UVM_KMF_WAITVA);
}

static void
never_met_kmem(void *arg)
{
	vmem_addr_t a;

	(void)arg;
	(void)uvm_km_kmem_alloc(kmem_va_arena, (vmem_size_t)1 << 62, VM_SLEEP,
	    &a);
}

ATF_TC_WITHOUT_HEAD(impossible_sizes);
ATF_TC_BODY(impossible_sizes, tc)
{
	vmem_addr_t a;

	setup();
	vaddr_t held = uvm_km_alloc(kernel_map, 64 * ps, 0, UVM_KMF_WIRED);
	ATF_REQUIRE(held != 0);
	size_t before = nbmem_physmem_inuse();
	ATF_CHECK_EQ(uvm_km_alloc(kernel_map, (vsize_t)0xfffffffffffff000ull,
	    0, UVM_KMF_WIRED | UVM_KMF_NOWAIT), 0);
	ATF_CHECK_EQ(uvm_km_alloc(kernel_map, (vsize_t)1 << 62, 0,
	    UVM_KMF_PAGEABLE | UVM_KMF_CANFAIL), 0);
	/* Without NOWAIT or CANFAIL too: it is address space that lacks. */
	ATF_CHECK_EQ(uvm_km_alloc(kernel_map, (vsize_t)1 << 62, 0,
	    UVM_KMF_WIRED), 0);
	ATF_CHECK_EQ(uvm_km_alloc(kernel_map, (vsize_t)1 << 62, 0,
	    UVM_KMF_PAGEABLE | UVM_KMF_ZERO), 0);
	ATF_CHECK_EQ(uvm_km_alloc(kernel_map, (vsize_t)0xfffffffffffff000ull,
	    0, UVM_KMF_VAONLY), 0);
	ATF_CHECK_EQ(uvm_km_alloc(kernel_map, SIZE_MAX, 0, UVM_KMF_WIRED), 0);
	ATF_CHECK_EQ(uvm_km_kmem_alloc(kmem_va_arena,
	    (vmem_size_t)0xfffffffffffff000ull, VM_NOSLEEP, &a), ENOMEM);
	ATF_CHECK_EQ(uvm_km_kmem_alloc(kmem_va_arena, (vmem_size_t)1 << 62,
	    VM_NOSLEEP, &a), ENOMEM);
	ATF_CHECK_EQ(nbmem_physmem_inuse(), before);
	uvm_km_free(kernel_map, held, 64 * ps, UVM_KMF_WIRED);
	nbt_death(never_met_wired, NULL, "can never be met");
	nbt_death(never_met_kmem, NULL, "can never be met");
}

struct sleeper {
	size_t		size;
	uvm_flag_t	flags;
	unsigned int	hooks_before;	/* hook calls when it returned */
	vaddr_t		va;
};

static void *
sleeper_main(void *arg)
{
	struct sleeper *s = arg;

	s->va = uvm_km_alloc(kernel_map, s->size, 0, s->flags);
	return NULL;
}

ATF_TC_WITHOUT_HEAD(sleep_until_free);
ATF_TC_BODY(sleep_until_free, tc)
{
	struct sleeper s = { 0 };
	pthread_t t;

	setup();
	int h = nbmem_reclaim_hook_add(count_hook, NULL);
	budget_room(8 * ps);
	vaddr_t a = uvm_km_alloc(kernel_map, 8 * ps, 0, UVM_KMF_WIRED);
	ATF_REQUIRE(a != 0);

	s.size = 4 * ps;
	s.flags = UVM_KMF_WIRED;
	ATF_REQUIRE(pthread_create(&t, NULL, sleeper_main, &s) == 0);
	nbt_wait_until(one_waiter, NULL, "the allocation to sleep");
	/* It ran the reclaim hooks before it went to sleep. */
	ATF_CHECK(__atomic_load_n(&hook_calls, __ATOMIC_SEQ_CST) >= 1);
	ATF_CHECK_EQ(s.va, 0);
	uvm_km_free(kernel_map, a, 8 * ps, UVM_KMF_WIRED);
	ATF_REQUIRE(pthread_join(t, NULL) == 0);
	ATF_CHECK(s.va != 0);
	ATF_CHECK_EQ(nbmem_physmem_waiters(), 0);
	uvm_km_free(kernel_map, s.va, 4 * ps, UVM_KMF_WIRED);
	nbmem_reclaim_hook_remove(h);
	nbmem_physmem_set(0);
}

/* A hook that gives back what the allocation needs: no sleep at all. */
static vaddr_t hook_frees_va;

static void
free_hook(void *arg)
{
	(void)arg;
	hook_calls++;
	if (hook_frees_va != 0) {
		uvm_km_free(kernel_map, hook_frees_va, 8 * ps,
		    UVM_KMF_PAGEABLE);
		hook_frees_va = 0;
	}
}

ATF_TC_WITHOUT_HEAD(reclaim_hook_makes_room);
ATF_TC_BODY(reclaim_hook_makes_room, tc)
{
	setup();
	int h = nbmem_reclaim_hook_add(free_hook, NULL);
	budget_room(8 * ps);
	hook_frees_va = uvm_km_alloc(kernel_map, 8 * ps, 0, UVM_KMF_PAGEABLE);
	ATF_REQUIRE(hook_frees_va != 0);

	/* Sleeping, in this very thread: only the hook can make room. */
	vaddr_t va = uvm_km_alloc(kernel_map, 8 * ps, 0, UVM_KMF_WIRED);
	ATF_CHECK(va != 0);
	ATF_CHECK_EQ(hook_calls, 1);
	ATF_CHECK_EQ(hook_frees_va, 0);
	uvm_km_free(kernel_map, va, 8 * ps, UVM_KMF_WIRED);
	nbmem_reclaim_hook_remove(h);
	nbmem_physmem_set(0);
}

static void
sleep_forever(void *arg)
{
	(void)arg;
	/* Read by the library on the first wait, not before. */
	setenv("NBMEM_SLEEP_TIMEOUT", "0.2", 1);
	budget_room(ps);
	(void)uvm_km_alloc(kernel_map, 2 * ps, 0, UVM_KMF_WIRED);
}

ATF_TC_WITHOUT_HEAD(sleep_timeout_panics);
ATF_TC_BODY(sleep_timeout_panics, tc)
{
	char want[128];

	setup();
	nbt_death(sleep_forever, NULL, "NBMEM_SLEEP_TIMEOUT");
	snprintf(want, sizeof(want), "budget: kernel_map: sleeping "
	    "allocation waited for %zu bytes", 2 * ps);
	nbt_death(sleep_forever, NULL, want);
}

static void
sleep_in_handler(void *arg)
{
	(void)arg;
	nbmem_intr_enter();
	(void)uvm_km_alloc(kernel_map, ps, 0, UVM_KMF_WIRED);
}

static void
free_in_handler(void *arg)
{
	vaddr_t va = uvm_km_alloc(kernel_map, ps, 0, UVM_KMF_WIRED);

	(void)arg;
	nbmem_intr_enter();
	uvm_km_free(kernel_map, va, ps, UVM_KMF_WIRED);
}

static void
nowait_in_handler(void *arg)
{
	vaddr_t lo = 0, hi = 0;
	struct vm_map *m = uvm_km_suballoc(kernel_map, &lo, &hi, 4 * ps, 0,
	    false, NULL);

	(void)arg;
	nbmem_intr_enter();
	(void)uvm_km_alloc(m, ps, 0, UVM_KMF_WIRED | UVM_KMF_NOWAIT);
}

static void
protect_in_handler(void *arg)
{
	vaddr_t va = uvm_km_alloc(kernel_map, ps, 0, UVM_KMF_WIRED);

	(void)arg;
	nbmem_intr_enter();
	(void)uvm_km_protect(kernel_map, va, ps, VM_PROT_READ);
}

ATF_TC_WITHOUT_HEAD(interrupt_context);
ATF_TC_BODY(interrupt_context, tc)
{
	vaddr_t lo = 0, hi = 0;

	setup();
	nbt_death(sleep_in_handler, NULL, "uvm_km: \"kernel_map\": "
	    "uvm_km_alloc: sleeping call from interrupt");
	nbt_death(free_in_handler, NULL, "uvm_km: kernel_map: uvm_km_free: "
	    "from interrupt (signal handler) context on a map that is not "
	    "VM_MAP_INTRSAFE");
	nbt_death(nowait_in_handler, NULL, "uvm_km_alloc: from interrupt");
	nbt_death(protect_in_handler, NULL, "uvm_km: \"kernel_map\": "
	    "uvm_km_protect: sleeping call from interrupt");

	/* An INTRSAFE submap serves NOWAIT requests and frees there. */
	struct vm_map *m = uvm_km_suballoc(kernel_map, &lo, &hi, 4 * ps,
	    VM_MAP_INTRSAFE, false, NULL);
	nbmem_intr_enter();
	vaddr_t va = uvm_km_alloc(m, ps, 0, UVM_KMF_WIRED | UVM_KMF_NOWAIT);
	if (va != 0) {
		*(volatile char *)va = 1;
		uvm_km_free(m, va, ps, UVM_KMF_WIRED);
	}
	nbmem_intr_exit();
	ATF_CHECK(va >= lo && va < hi);
}

/* ---- submaps */

ATF_TC_WITHOUT_HEAD(suballoc_placed);
ATF_TC_BODY(suballoc_placed, tc)
{
	static struct vm_map store;
	vaddr_t lo = 0, hi = 0, va[3];
	static const uvm_flag_t types[] = { UVM_KMF_WIRED, UVM_KMF_PAGEABLE,
	    UVM_KMF_VAONLY };

	setup();
	struct vm_map *m = uvm_km_suballoc(kernel_map, &lo, &hi, 64 * ps - 1,
	    0, false, &store);
	ATF_REQUIRE(m == &store);
	ATF_CHECK(lo != 0);
	ATF_CHECK_EQ(lo % ps, 0);
	ATF_CHECK_EQ(hi - lo, 64 * ps);

	size_t before = nbmem_physmem_inuse();
	for (int i = 0; i < 3; i++) {
		va[i] = uvm_km_alloc(m, 8 * ps, 0, types[i]);
		ATF_REQUIRE(va[i] != 0);
		ATF_CHECK(va[i] >= lo && va[i] + 8 * ps <= hi);
	}
	ATF_CHECK_EQ(nbmem_physmem_inuse() - before, 16 * ps);
	ATF_CHECK_EQ(resident(va[0], 8), 8);	/* wired: populated */
	ATF_CHECK_EQ(resident(va[1], 8), 0);	/* pageable: on touch */
	memset((void *)va[0], 1, 8 * ps);
	memset((void *)va[1], 1, 8 * ps);
	char p[5];
	perms(va[2], p);
	ATF_CHECK_STREQ(p, "---p");
	for (int i = 0; i < 3; i++)
		uvm_km_free(m, va[i], 8 * ps, types[i]);
	ATF_CHECK_EQ(nbmem_physmem_inuse(), before);

	/* Freed pages are gone: the range is inaccessible again. */
	perms(va[0], p);
	ATF_CHECK_STREQ(p, "---p");
}

ATF_TC_WITHOUT_HEAD(suballoc_aligned);
ATF_TC_BODY(suballoc_aligned, tc)
{
	vaddr_t lo = 0, hi = 0;

	setup();
	struct vm_map *m = uvm_km_suballoc(kernel_map, &lo, &hi, 8 << 20, 0,
	    false, NULL);
	ATF_REQUIRE(m != NULL);
	vaddr_t a = uvm_km_alloc(m, ps, 0, UVM_KMF_WIRED);
	vaddr_t b = uvm_km_alloc(m, 3 * ps, 2 << 20, UVM_KMF_WIRED);
	ATF_REQUIRE(a != 0 && b != 0);
	ATF_CHECK_EQ(b % (2 << 20), 0);
	ATF_CHECK(b >= lo && b + 3 * ps <= hi);
	uvm_km_free(m, b, 3 * ps, UVM_KMF_WIRED);
	uvm_km_free(m, a, ps, UVM_KMF_WIRED);
}

ATF_TC_WITHOUT_HEAD(suballoc_fixed);
ATF_TC_BODY(suballoc_fixed, tc)
{
	static struct vm_map outer_store, inner_store;

	setup();
	/* Find a free range, then give it back for the submap to take. */
	void *hole = mmap(NULL, 64 * ps, PROT_NONE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ATF_REQUIRE(hole != MAP_FAILED);
	ATF_REQUIRE(munmap(hole, 64 * ps) == 0);

	vaddr_t lo = (vaddr_t)hole, hi = 0;
	struct vm_map *m = uvm_km_suballoc(kernel_map, &lo, &hi, 64 * ps, 0,
	    true, &outer_store);
	ATF_REQUIRE(m == &outer_store);
	ATF_CHECK_EQ(lo, (vaddr_t)hole);
	ATF_CHECK_EQ(hi, (vaddr_t)hole + 64 * ps);

	/* A submap of the submap, fixed and not. */
	vaddr_t ilo = lo + 16 * ps, ihi = 0;
	struct vm_map *in = uvm_km_suballoc(m, &ilo, &ihi, 8 * ps,
	    VM_MAP_INTRSAFE, true, &inner_store);
	ATF_CHECK_EQ(ilo, lo + 16 * ps);
	ATF_CHECK_EQ(ihi, lo + 24 * ps);
	vaddr_t va = uvm_km_alloc(in, 8 * ps, 0, UVM_KMF_WIRED);
	ATF_CHECK(va == ilo);
	memset((void *)va, 7, 8 * ps);
	/* The inner submap is full now. */
	ATF_CHECK_EQ(uvm_km_alloc(in, ps, 0, UVM_KMF_WIRED), 0);
	uvm_km_free(in, va, 8 * ps, UVM_KMF_WIRED);

	vaddr_t plo = 0, phi = 0;
	struct vm_map *in2 = uvm_km_suballoc(m, &plo, &phi, 16 * ps, 0,
	    false, NULL);
	ATF_REQUIRE(in2 != NULL);
	ATF_CHECK(plo >= lo && phi <= hi);
	ATF_CHECK(phi <= ilo || plo >= ihi);	/* disjoint from the other */
	ATF_CHECK_EQ(phi - plo, 16 * ps);
}

ATF_TC_WITHOUT_HEAD(submap_full);
ATF_TC_BODY(submap_full, tc)
{
	vaddr_t lo = 0, hi = 0;

	setup();
	struct vm_map *m = uvm_km_suballoc(kernel_map, &lo, &hi, 4 * ps, 0,
	    false, NULL);
	vaddr_t va = uvm_km_alloc(m, 4 * ps, 0, UVM_KMF_PAGEABLE);
	ATF_REQUIRE(va == lo);
	size_t before = nbmem_physmem_inuse();
	/* No address space: 0, even for a sleeping request (no WAITVA). */
	ATF_CHECK_EQ(uvm_km_alloc(m, ps, 0, UVM_KMF_PAGEABLE), 0);
	ATF_CHECK_EQ(uvm_km_alloc(m, ps, 0, UVM_KMF_WIRED | UVM_KMF_NOWAIT),
	    0);
	ATF_CHECK_EQ(nbmem_physmem_inuse(), before);
	uvm_km_free(m, va, 4 * ps, UVM_KMF_PAGEABLE);
	va = uvm_km_alloc(m, ps, 0, UVM_KMF_PAGEABLE);
	ATF_CHECK(va != 0);
}

/* ---- the kmem back end */

static int
va_import(void *arg, vmem_size_t size, vm_flag_t flags, vmem_addr_t *addrp)
{
	return vmem_alloc(arg, size, (flags & (VM_SLEEP | VM_NOSLEEP)) |
	    VM_INSTANTFIT, addrp);
}

static void
va_release(void *arg, vmem_addr_t addr, vmem_size_t size)
{
	vmem_free(arg, addr, size);
}

static int
page_import(void *arg, vmem_size_t size, vm_flag_t flags,
    vmem_addr_t *addrp)
{
	return uvm_km_kmem_alloc(arg, size, (flags & (VM_SLEEP | VM_NOSLEEP)) |
	    VM_INSTANTFIT, addrp);
}

static void
page_release(void *arg, vmem_addr_t addr, vmem_size_t size)
{
	uvm_km_kmem_free(arg, addr, size);
}

ATF_TC_WITHOUT_HEAD(kmem_va_arena_pages);
ATF_TC_BODY(kmem_va_arena_pages, tc)
{
	vmem_addr_t a, b;

	setup();
	ATF_REQUIRE(kmem_arena != NULL && kmem_va_arena != NULL &&
	    kmem_meta_arena != NULL);
	size_t before = nbmem_physmem_inuse();
	ATF_REQUIRE_EQ(uvm_km_kmem_alloc(kmem_va_arena, 3 * ps + 1,
	    VM_SLEEP | VM_INSTANTFIT, &a), 0);
	ATF_CHECK_EQ(a % ps, 0);
	ATF_CHECK_EQ(nbmem_physmem_inuse() - before, 4 * ps);
	memset((void *)a, 0x5a, 4 * ps);
	/* No fit flag: instant fit by default. */
	ATF_REQUIRE_EQ(uvm_km_kmem_alloc(kmem_meta_arena, ps, VM_NOSLEEP,
	    &b), 0);
	memset((void *)b, 0x5a, ps);
	ATF_CHECK(vmem_size(kmem_arena, VMEM_ALLOC) >= 5 * ps);
	uvm_km_kmem_free(kmem_meta_arena, b, ps);
	uvm_km_kmem_free(kmem_va_arena, a, 3 * ps + 1);
	ATF_CHECK_EQ(nbmem_physmem_inuse(), before);

	/* Over the budget: VM_NOSLEEP fails with ENOMEM. */
	budget_room(2 * ps);
	ATF_CHECK_EQ(uvm_km_kmem_alloc(kmem_va_arena, 3 * ps,
	    VM_NOSLEEP | VM_INSTANTFIT, &a), ENOMEM);
	ATF_CHECK_EQ(nbmem_physmem_inuse(), before);
	nbmem_physmem_set(0);
}

ATF_TC_WITHOUT_HEAD(kmem_stacked_arenas);
ATF_TC_BODY(kmem_stacked_arenas, tc)
{
	vmem_addr_t a, o[32];

	setup();
	/* Address space from kva, pages committed on request (vmem-va). */
	vmem_t *va = vmem_create("t-va", 0, 0, ps, va_import, va_release,
	    kmem_va_arena, 0, VM_SLEEP, IPL_VM);
	ATF_REQUIRE(va != NULL);
	size_t before = nbmem_physmem_inuse();
	ATF_REQUIRE_EQ(uvm_km_kmem_alloc(va, 2 * ps, VM_SLEEP | VM_BESTFIT,
	    &a), 0);
	ATF_CHECK_EQ(nbmem_physmem_inuse() - before, 2 * ps);
	memset((void *)a, 1, 2 * ps);
	uvm_km_kmem_free(va, a, 2 * ps);
	ATF_CHECK_EQ(nbmem_physmem_inuse(), before);
	vmem_destroy(va);

	/* Spans that are pages, imported through uvm_km_kmem_alloc. */
	vmem_t *small = vmem_create("t-small", 0, 0, 64, page_import,
	    page_release, kmem_va_arena, 0, VM_SLEEP | VM_LARGEIMPORT,
	    IPL_NONE);
	ATF_REQUIRE(small != NULL);
	for (int i = 0; i < 32; i++) {
		ATF_REQUIRE_EQ(vmem_alloc(small, 100, VM_SLEEP |
		    VM_INSTANTFIT, &o[i]), 0);
		memset((void *)o[i], i, 100);
	}
	ATF_CHECK(nbmem_physmem_inuse() > before);
	for (int i = 0; i < 32; i++)
		vmem_free(small, o[i], 100);
	/* Wholly free spans went back to the page layer. */
	ATF_CHECK_EQ(nbmem_physmem_inuse(), before);
	vmem_destroy(small);
}

/* An arena over a VAONLY range of kernel_map is the page layer's too. */
ATF_TC_WITHOUT_HEAD(kmem_over_vaonly);
ATF_TC_BODY(kmem_over_vaonly, tc)
{
	vmem_addr_t a;

	setup();
	vaddr_t r = uvm_km_alloc(kernel_map, 32 * ps, 0, UVM_KMF_VAONLY);
	ATF_REQUIRE(r != 0);
	vmem_t *vm = vmem_create("t-resv", r, 32 * ps, ps, NULL, NULL, NULL,
	    0, VM_SLEEP, IPL_NONE);
	ATF_REQUIRE_EQ(uvm_km_kmem_alloc(vm, 4 * ps, VM_SLEEP, &a), 0);
	ATF_CHECK(a >= r && a + 4 * ps <= r + 32 * ps);
	memset((void *)a, 3, 4 * ps);
	uvm_km_kmem_free(vm, a, 4 * ps);
	vmem_destroy(vm);
	uvm_km_free(kernel_map, r, 32 * ps, UVM_KMF_VAONLY);
}

/*
 * Signal safety: a timer handler allocates and frees pages from
 * kmem_va_arena (VM_NOSLEEP) while the thread it interrupts does the
 * same.  A lock taken without blocking signals would deadlock here.
 */
static volatile sig_atomic_t handler_ok, handler_runs;

static void
on_alarm(int sig)
{
	vmem_addr_t a;

	(void)sig;
	nbmem_intr_enter();
	if (uvm_km_kmem_alloc(kmem_va_arena, ps, VM_NOSLEEP, &a) == 0) {
		*(volatile char *)a = 1;
		uvm_km_kmem_free(kmem_va_arena, a, ps);
		handler_ok++;
	}
	handler_runs++;
	nbmem_intr_exit();
}

ATF_TC_WITHOUT_HEAD(kmem_from_signal_handler);
ATF_TC_BODY(kmem_from_signal_handler, tc)
{
	struct sigaction sa;
	struct itimerval it = { { 0, 200 }, { 0, 200 } };
	vmem_addr_t a;

	setup();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	ATF_REQUIRE(sigaction(SIGALRM, &sa, NULL) == 0);
	ATF_REQUIRE(setitimer(ITIMER_REAL, &it, NULL) == 0);
	for (int i = 0; i < 20000 || handler_runs < 50; i++) {
		ATF_REQUIRE_EQ(uvm_km_kmem_alloc(kmem_va_arena,
		    (size_t)(1 + i % 3) * ps, VM_SLEEP, &a), 0);
		uvm_km_kmem_free(kmem_va_arena, a, (size_t)(1 + i % 3) * ps);
	}
	memset(&it, 0, sizeof(it));
	ATF_REQUIRE(setitimer(ITIMER_REAL, &it, NULL) == 0);
	ATF_CHECK(handler_runs >= 50);
	ATF_CHECK_EQ(handler_ok, handler_runs);
}

/* ---- uvm_km_va_starved_p */

ATF_TC_WITHOUT_HEAD(va_starved_budget);
ATF_TC_BODY(va_starved_budget, tc)
{
	setup();
	nbmem_physmem_set(0);
	ATF_CHECK(!uvm_km_va_starved_p());
	size_t base = nbmem_physmem_inuse();
	nbmem_physmem_set(base + 100 * ps);
	ATF_CHECK(!uvm_km_va_starved_p());
	/* Leave 5 of 100 pages: under a tenth. */
	vaddr_t va = uvm_km_alloc(kernel_map, 95 * ps, 0, UVM_KMF_PAGEABLE);
	ATF_REQUIRE(va != 0);
	if (base < 50 * ps)	/* the 10% line is below the 5 pages left */
		ATF_CHECK(uvm_km_va_starved_p());
	uvm_km_free(kernel_map, va, 95 * ps, UVM_KMF_PAGEABLE);
	ATF_CHECK(!uvm_km_va_starved_p());
	nbmem_physmem_set(0);
}

/*
 * In a child: room for 32 MiB more of address space (RLIMIT_AS), less
 * than a chunk of kmem_arena; exits 3 or 4 when that cannot be set.
 */
static void
as_room_32m(void)
{
	unsigned long vmpages = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f == NULL || fscanf(f, "%lu", &vmpages) != 1)
		_exit(3);
	fclose(f);
	struct rlimit rl = { vmpages * ps + (32 << 20),
	    vmpages * ps + (32 << 20) };
	if (setrlimit(RLIMIT_AS, &rl) != 0)
		_exit(4);
}

/*
 * The OS refuses address space (RLIMIT_AS): without UVM_KMF_WAITVA the
 * call returns 0 at once, NOWAIT and CANFAIL or not, as NetBSD's does
 * when kernel_map has no room; it does not wait as for memory.
 */
ATF_TC_WITHOUT_HEAD(no_address_space);
ATF_TC_BODY(no_address_space, tc)
{
	static const uvm_flag_t types[] = { UVM_KMF_WIRED,
	    UVM_KMF_PAGEABLE, UVM_KMF_VAONLY, UVM_KMF_WIRED | UVM_KMF_ZERO,
	    UVM_KMF_PAGEABLE | UVM_KMF_CANFAIL };

	setup();
	pid_t pid = fork();
	ATF_REQUIRE(pid >= 0);
	if (pid == 0) {
		as_room_32m();
		alarm(20);		/* a wait would be the failure */
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (uvm_km_alloc(kernel_map, 256 << 20, 0,
			    types[i]) != 0)
				_exit(10 + (int)i);
		/* What fits is still given. */
		vaddr_t va = uvm_km_alloc(kernel_map, 4 * ps, 0,
		    UVM_KMF_WIRED);
		if (va == 0)
			_exit(5);
		uvm_km_free(kernel_map, va, 4 * ps, UVM_KMF_WIRED);
		_exit(0);
	}
	int status;
	ATF_REQUIRE(waitpid(pid, &status, 0) == pid);
	ATF_CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "child status %#x", status);
}

ATF_TC_WITHOUT_HEAD(va_starved_no_address_space);
ATF_TC_BODY(va_starved_no_address_space, tc)
{
	setup();
	pid_t pid = fork();
	ATF_REQUIRE(pid >= 0);
	if (pid == 0) {
		as_room_32m();
		vmem_addr_t a;
		if (uvm_km_kmem_alloc(kmem_va_arena, 128 << 20,
		    VM_NOSLEEP | VM_INSTANTFIT, &a) != ENOMEM)
			_exit(5);
		if (!uvm_km_va_starved_p())
			_exit(6);
		_exit(0);
	}
	int status;
	ATF_REQUIRE(waitpid(pid, &status, 0) == pid);
	ATF_CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "child status %#x", status);
}

/* ---- misuse */

struct bad {
	struct vm_map	*map;
	vsize_t		size, align;
	uvm_flag_t	flags;
	vaddr_t		addr;
};

static void
bad_alloc(void *arg)
{
	struct bad *b = arg;

	(void)uvm_km_alloc(b->map != NULL ? b->map : kernel_map, b->size,
	    b->align, b->flags);
}

ATF_TC_WITHOUT_HEAD(misuse_alloc_flags);
ATF_TC_BODY(misuse_alloc_flags, tc)
{
	struct bad b = { 0 };

	setup();
	b.size = ps;
	b.flags = 0;
	nbt_death(bad_alloc, &b, "uvm_km: kernel_map: uvm_km_alloc: flags "
	    "0x0: need exactly one of UVM_KMF_WIRED, UVM_KMF_PAGEABLE and "
	    "UVM_KMF_VAONLY");
	b.flags = UVM_KMF_WIRED | UVM_KMF_PAGEABLE;
	nbt_death(bad_alloc, &b, "flags 0x3: need exactly one");
	b.flags = UVM_KMF_WIRED | UVM_KMF_COLORMATCH;
	nbt_death(bad_alloc, &b, "UVM_KMF_COLORMATCH is only for "
	    "UVM_KMF_VAONLY");
	b.flags = UVM_KMF_WIRED | 0x40000000;
	nbt_death(bad_alloc, &b, "flags 0x40000001: unknown bits 0x40000000");
	/* NetBSD's uvm_map KASSERTs that not both are given. */
	b.flags = UVM_KMF_WIRED | UVM_KMF_NOWAIT | UVM_KMF_WAITVA;
	nbt_death(bad_alloc, &b, "flags 0xc00001: UVM_KMF_NOWAIT and "
	    "UVM_KMF_WAITVA together");
	b.flags = UVM_KMF_VAONLY | UVM_KMF_NOWAIT | UVM_KMF_WAITVA;
	b.size = (vsize_t)1 << 62;
	nbt_death(bad_alloc, &b, "UVM_KMF_NOWAIT and UVM_KMF_WAITVA together");
	b.size = ps;
	b.flags = UVM_KMF_WIRED;
	b.align = ps / 2 + 8;
	nbt_death(bad_alloc, &b, "align 0x");
	b.align = 3 * ps;
	nbt_death(bad_alloc, &b, "is not 0 or a power of two (the page "
	    "size is");
	b.align = 0;
	b.size = 0;
	nbt_death(bad_alloc, &b, "uvm_km_alloc: size 0x0 is 0");
	/* A colour is no alignment: accepted with VAONLY. */
	vaddr_t va = uvm_km_alloc(kernel_map, ps, 3,
	    UVM_KMF_VAONLY | UVM_KMF_COLORMATCH);
	ATF_CHECK(va != 0);
	uvm_km_free(kernel_map, va, ps, UVM_KMF_VAONLY);
}

static void
bad_free(void *arg)
{
	struct bad *b = arg;

	uvm_km_free(b->map != NULL ? b->map : kernel_map, b->addr, b->size,
	    b->flags);
}

static void
double_free(void *arg)
{
	vaddr_t va = uvm_km_alloc(kernel_map, 2 * ps, 0, UVM_KMF_WIRED);

	(void)arg;
	uvm_km_free(kernel_map, va, 2 * ps, UVM_KMF_WIRED);
	uvm_km_free(kernel_map, va, 2 * ps, UVM_KMF_WIRED);
}

ATF_TC_WITHOUT_HEAD(misuse_free);
ATF_TC_BODY(misuse_free, tc)
{
	struct bad b = { 0 };
	char want[160];

	setup();
	vaddr_t va = uvm_km_alloc(kernel_map, 2 * ps, 0, UVM_KMF_WIRED);
	ATF_REQUIRE(va != 0);

	b.addr = va + 16;
	b.size = ps;
	b.flags = UVM_KMF_WIRED;
	snprintf(want, sizeof(want), "uvm_km: kernel_map: uvm_km_free: "
	    "address %#lx (size %#zx) is not page-aligned",
	    (unsigned long)b.addr, ps);
	nbt_death(bad_free, &b, want);

	b.addr = va;
	b.size = 2 * ps;
	b.flags = UVM_KMF_PAGEABLE;
	snprintf(want, sizeof(want), "uvm_km: kernel_map: uvm_km_free: %#lx "
	    "(size %#zx): allocated as WIRED, freed as PAGEABLE",
	    (unsigned long)va, 2 * ps);
	nbt_death(bad_free, &b, want);

	b.flags = UVM_KMF_WIRED | UVM_KMF_VAONLY;
	nbt_death(bad_free, &b, "uvm_km_free");
	nbt_death(bad_free, &b, "need exactly one of UVM_KMF_WIRED");

	b.flags = UVM_KMF_WIRED;
	b.size = 3 * ps;
	snprintf(want, sizeof(want), "vmem: arena \"kernel_map\": uvm_km_free: "
	    "%#lx freed with size %#zx but allocated with size %#zx",
	    (unsigned long)va, 3 * ps, 2 * ps);
	nbt_death(bad_free, &b, want);

	b.addr = va + ps;		/* inside, not the start */
	b.size = ps;
	nbt_death(bad_free, &b, "was never allocated or is already freed");

	nbt_death(double_free, NULL, "arena \"kernel_map\": uvm_km_free: ");
	nbt_death(double_free, NULL, "(double free)");
	uvm_km_free(kernel_map, va, 2 * ps, UVM_KMF_WIRED);
}

ATF_TC_WITHOUT_HEAD(misuse_foreign_map);
ATF_TC_BODY(misuse_foreign_map, tc)
{
	static struct vm_map junk;	/* zeroes: never given to suballoc */
	struct bad b = { 0 };
	char want[128];

	setup();
	b.map = &junk;
	b.size = ps;
	b.flags = UVM_KMF_WIRED;
	snprintf(want, sizeof(want), "uvm_km: map %p: uvm_km_alloc: not a "
	    "map", (void *)&junk);
	nbt_death(bad_alloc, &b, want);
	b.addr = 0x10000;
	nbt_death(bad_free, &b, "uvm_km_free: not a map");
}

ATF_TC_WITHOUT_HEAD(misuse_wrong_map);
ATF_TC_BODY(misuse_wrong_map, tc)
{
	struct bad b = { 0 };
	vaddr_t lo = 0, hi = 0;
	char want[160];

	setup();
	struct vm_map *m = uvm_km_suballoc(kernel_map, &lo, &hi, 16 * ps, 0,
	    false, NULL);
	vaddr_t k = uvm_km_alloc(kernel_map, ps, 0, UVM_KMF_WIRED);
	vaddr_t s = uvm_km_alloc(m, ps, 0, UVM_KMF_WIRED);

	/* A kernel_map range freed through the submap. */
	b.map = m;
	b.addr = k;
	b.size = ps;
	b.flags = UVM_KMF_WIRED;
	snprintf(want, sizeof(want), "uvm_km: submap %#lx: uvm_km_free: "
	    "[%#lx, %#lx) is not inside the map", (unsigned long)lo,
	    (unsigned long)k, (unsigned long)(k + ps));
	nbt_death(bad_free, &b, want);

	/* The whole submap freed through kernel_map. */
	b.map = kernel_map;
	b.addr = lo;
	b.size = 16 * ps;
	b.flags = UVM_KMF_VAONLY;
	nbt_death(bad_free, &b, "allocated as a submap, freed as VAONLY");

	/* A submap allocation freed through kernel_map. */
	b.addr = s;
	b.size = ps;
	b.flags = UVM_KMF_WIRED;
	nbt_death(bad_free, &b, "arena \"kernel_map\"");
	uvm_km_free(m, s, ps, UVM_KMF_WIRED);
	uvm_km_free(kernel_map, k, ps, UVM_KMF_WIRED);
}

static void
bad_protect(void *arg)
{
	struct bad *b = arg;

	(void)uvm_km_protect(kernel_map, b->addr, b->size, (vm_prot_t)b->flags);
}

ATF_TC_WITHOUT_HEAD(misuse_protect);
ATF_TC_BODY(misuse_protect, tc)
{
	struct bad b = { 0 };
	vaddr_t lo = 0, hi = 0;

	setup();
	vaddr_t va = uvm_km_alloc(kernel_map, 2 * ps, 0, UVM_KMF_PAGEABLE);
	b.addr = va + ps;
	b.size = 2 * ps;		/* runs past the end */
	b.flags = VM_PROT_READ;
	nbt_death(bad_protect, &b, "uvm_km_protect: [");
	nbt_death(bad_protect, &b, "is not inside one allocation of the map");
	b.size = ps;
	b.flags = 0x10;
	nbt_death(bad_protect, &b, "protection 0x10 is not a set of");
	b.addr = va + 1;
	b.flags = VM_PROT_READ;
	nbt_death(bad_protect, &b, "is not page-aligned");

	/* A submap is no allocation to protect: EINVAL, as in NetBSD. */
	(void)uvm_km_suballoc(kernel_map, &lo, &hi, 4 * ps, 0, false, NULL);
	ATF_CHECK_EQ(uvm_km_protect(kernel_map, lo, ps, VM_PROT_READ), EINVAL);
	uvm_km_free(kernel_map, va, 2 * ps, UVM_KMF_PAGEABLE);
}

static void
suballoc_taken(void *arg)
{
	vaddr_t lo = (vaddr_t)arg, hi;

	(void)uvm_km_suballoc(kernel_map, &lo, &hi, 4 * ps, 0, true, NULL);
}

ATF_TC_WITHOUT_HEAD(misuse_suballoc);
ATF_TC_BODY(misuse_suballoc, tc)
{
	setup();
	vaddr_t va = uvm_km_alloc(kernel_map, 4 * ps, 0, UVM_KMF_WIRED);
	nbt_death(suballoc_taken, (void *)va, "uvm_km: kernel_map: "
	    "uvm_km_suballoc: cannot reserve 0x");
	nbt_death(suballoc_taken, (void *)va, "at the fixed address");
	uvm_km_free(kernel_map, va, 4 * ps, UVM_KMF_WIRED);
}

static void
kmem_foreign(void *arg)
{
	vmem_t *vm = arg;
	vmem_addr_t a;

	(void)uvm_km_kmem_alloc(vm, ps, VM_SLEEP, &a);
}

static void
kmem_free_foreign(void *arg)
{
	uvm_km_kmem_free(kmem_va_arena, (vmem_addr_t)arg, ps);
}

ATF_TC_WITHOUT_HEAD(misuse_foreign_arena);
ATF_TC_BODY(misuse_foreign_arena, tc)
{
	static char buf[1 << 16] __attribute__((__aligned__(1 << 16)));

	setup();
	/* Numbers that are nobody's address space. */
	vmem_t *ids = vmem_create("ids", 0x10000000, 16 * ps, ps, NULL, NULL,
	    NULL, 0, VM_SLEEP, IPL_NONE);
	nbt_death(kmem_foreign, ids, "uvm_km: arena \"ids\": "
	    "uvm_km_kmem_alloc: [0x10000000, ");
	nbt_death(kmem_foreign, ids, "is not address space the page layer "
	    "reserved (foreign arena");
	/* Memory that is the program's own. */
	vmem_t *own = vmem_create("own", (vmem_addr_t)buf, sizeof(buf), ps,
	    NULL, NULL, NULL, 0, VM_SLEEP, IPL_NONE);
	nbt_death(kmem_foreign, own, "foreign arena");
	/* Wired memory of kernel_map is an allocation, not a reservation. */
	vaddr_t w = uvm_km_alloc(kernel_map, 16 * ps, 0, UVM_KMF_WIRED);
	vmem_t *wired = vmem_create("wired", w, 16 * ps, ps, NULL, NULL,
	    NULL, 0, VM_SLEEP, IPL_NONE);
	nbt_death(kmem_foreign, wired, "foreign arena");
	/* A free of an address the page layer never reserved. */
	nbt_death(kmem_free_foreign, buf, "uvm_km: arena \"kva\": "
	    "uvm_km_kmem_free: [");
	nbt_death(kmem_free_foreign, buf, "foreign arena");
	/* The program's page survived the attempts (in the children). */
	buf[0] = 1;
}

static void
kmem_bad_flags(void *arg)
{
	vmem_addr_t a;

	(void)uvm_km_kmem_alloc(kmem_va_arena, ps, (vm_flag_t)(uintptr_t)arg,
	    &a);
}

static void
kmem_double_free(void *arg)
{
	vmem_addr_t a, keep;

	(void)arg;
	/* keep holds the chunk, so the range stays the page layer's. */
	if (uvm_km_kmem_alloc(kmem_va_arena, ps, VM_SLEEP, &keep) != 0 ||
	    uvm_km_kmem_alloc(kmem_va_arena, ps, VM_SLEEP, &a) != 0)
		_exit(2);
	uvm_km_kmem_free(kmem_va_arena, a, ps);
	uvm_km_kmem_free(kmem_va_arena, a, ps);
}

ATF_TC_WITHOUT_HEAD(misuse_kmem);
ATF_TC_BODY(misuse_kmem, tc)
{
	setup();
	nbt_death(kmem_bad_flags, (void *)(uintptr_t)(VM_SLEEP | VM_NOSLEEP),
	    "uvm_km: arena \"kva\": uvm_km_kmem_alloc: flags 0x3 must carry "
	    "exactly one of VM_SLEEP and VM_NOSLEEP");
	nbt_death(kmem_bad_flags, (void *)(uintptr_t)VM_INSTANTFIT,
	    "flags 0x1000 must carry exactly one");
	nbt_death(kmem_double_free, NULL, "arena \"kva\": vmem_free: ");
	nbt_death(kmem_double_free, NULL, "(double free)");
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, wired_populated);
	ATF_TP_ADD_TC(tp, wired_mlock);
	ATF_TP_ADD_TC(tp, pageable_on_touch);
	ATF_TP_ADD_TC(tp, vaonly_faults);
	ATF_TP_ADD_TC(tp, sizes_round_to_pages);
	ATF_TP_ADD_TC(tp, alignment);
	ATF_TP_ADD_TC(tp, zero);
	ATF_TP_ADD_TC(tp, exec);
	ATF_TP_ADD_TC(tp, protect);
	ATF_TP_ADD_TC(tp, nowait_canfail_over_budget);
	ATF_TP_ADD_TC(tp, impossible_sizes);
	ATF_TP_ADD_TC(tp, sleep_until_free);
	ATF_TP_ADD_TC(tp, reclaim_hook_makes_room);
	ATF_TP_ADD_TC(tp, sleep_timeout_panics);
	ATF_TP_ADD_TC(tp, interrupt_context);
	ATF_TP_ADD_TC(tp, suballoc_placed);
	ATF_TP_ADD_TC(tp, suballoc_aligned);
	ATF_TP_ADD_TC(tp, suballoc_fixed);
	ATF_TP_ADD_TC(tp, submap_full);
	ATF_TP_ADD_TC(tp, kmem_va_arena_pages);
	ATF_TP_ADD_TC(tp, kmem_stacked_arenas);
	ATF_TP_ADD_TC(tp, kmem_over_vaonly);
	ATF_TP_ADD_TC(tp, kmem_from_signal_handler);
	ATF_TP_ADD_TC(tp, va_starved_budget);
	ATF_TP_ADD_TC(tp, no_address_space);
	ATF_TP_ADD_TC(tp, va_starved_no_address_space);
	ATF_TP_ADD_TC(tp, misuse_alloc_flags);
	ATF_TP_ADD_TC(tp, misuse_free);
	ATF_TP_ADD_TC(tp, misuse_foreign_map);
	ATF_TP_ADD_TC(tp, misuse_wrong_map);
	ATF_TP_ADD_TC(tp, misuse_protect);
	ATF_TP_ADD_TC(tp, misuse_suballoc);
	ATF_TP_ADD_TC(tp, misuse_foreign_arena);
	ATF_TP_ADD_TC(tp, misuse_kmem);
	return atf_no_error();
}

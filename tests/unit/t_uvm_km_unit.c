/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_uvm_km_unit: the page layer from the inside: the reservation
 * registry (chunks, spares, growth, lock-free readers), the map layout,
 * WAITVA sleeping on a full submap, and how kmem_arena's pages are
 * mapped (read-write chunks by default, PROT_NONE with NBMEM_DECOMMIT).
 */
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <atf-c.h>

#include "internal.h"
#include "nbvalgrind.h"
#include "uvm_km_impl.h"
#include "vmem_impl.h"

#include "nbdebug.h"
#include "nbtest.h"

static size_t ps;

static void
setup(void)
{
	ps = nbmem_os_pagesize();
	nbmem_uvm_init();
}

ATF_TC_WITHOUT_HEAD(map_layout);
ATF_TC_BODY(map_layout, tc)
{
	setup();
	ATF_CHECK(sizeof(struct vm_map) <= UVM_MAP_STORAGE_SIZE);
	ATF_CHECK_EQ(kernel_map->vmm_magic, VMM_MAGIC);
	ATF_CHECK(kernel_map->vmm_flags & VMM_KERNEL);
	ATF_CHECK_STREQ(nbmem_vmem_name(kernel_map->vmm_arena), "kernel_map");
	ATF_CHECK_EQ(nbmem_vmem_quantum(kernel_map->vmm_arena), ps);
	ATF_CHECK_EQ(nbmem_vmem_ipl(kernel_map->vmm_arena), IPL_VM);
	ATF_CHECK_STREQ(nbmem_vmem_name(kmem_arena), "kmem");
	ATF_CHECK_STREQ(nbmem_vmem_name(kmem_va_arena), "kva");
	ATF_CHECK_STREQ(nbmem_vmem_name(kmem_meta_arena), "vmem-meta");
	ATF_CHECK_EQ(nbmem_vmem_ipl(kmem_va_arena), IPL_VM);

	/* Every kernel_map allocation is a busy segment with its type. */
	size_t nb = nbmem_vmem_nbusy(kernel_map->vmm_arena);
	vaddr_t va = uvm_km_alloc(kernel_map, ps, 0, UVM_KMF_PAGEABLE);
	ATF_CHECK_EQ(nbmem_vmem_nbusy(kernel_map->vmm_arena), nb + 1);
	uvm_km_free(kernel_map, va, ps, UVM_KMF_PAGEABLE);
	ATF_CHECK_EQ(nbmem_vmem_nbusy(kernel_map->vmm_arena), nb);

	/* Submaps: INTRSAFE decides the arena's level. */
	vaddr_t lo = 0, hi = 0;
	struct vm_map *a = uvm_km_suballoc(kernel_map, &lo, &hi, 4 * ps, 0,
	    false, NULL);
	struct vm_map *b = uvm_km_suballoc(kernel_map, &lo, &hi, 4 * ps,
	    VM_MAP_INTRSAFE, false, NULL);
	ATF_CHECK_EQ(nbmem_vmem_ipl(a->vmm_arena), IPL_NONE);
	ATF_CHECK_EQ(nbmem_vmem_ipl(b->vmm_arena), IPL_VM);
	ATF_CHECK(b->vmm_flags & VMM_OSSTORAGE);
	ATF_CHECK_EQ(b->vmm_parent, kernel_map);
	ATF_CHECK_EQ(b->vmm_min, lo);
	ATF_CHECK_EQ(b->vmm_max, hi);
}

ATF_TC_WITHOUT_HEAD(chunks_and_spare);
ATF_TC_BODY(chunks_and_spare, tc)
{
	vmem_addr_t a, b, big;

	setup();
	size_t n0 = nbmem_uvm_nresv();
	ATF_CHECK_EQ(vmem_size(kmem_arena, VMEM_ALLOC | VMEM_FREE), 0);

	/* The first page brings a 64 MiB chunk. */
	ATF_REQUIRE_EQ(uvm_km_kmem_alloc(kmem_va_arena, ps, VM_SLEEP, &a), 0);
	ATF_CHECK_EQ(nbmem_uvm_nresv(), n0 + 1);
	ATF_CHECK_EQ(vmem_size(kmem_arena, VMEM_ALLOC | VMEM_FREE),
	    (size_t)64 << 20);
	ATF_CHECK(nbmem_uvm_resv_contains(a, ps));

	/* Wholly free: the chunk leaves the arena but stays as the spare. */
	uvm_km_kmem_free(kmem_va_arena, a, ps);
	ATF_CHECK_EQ(vmem_size(kmem_arena, VMEM_ALLOC | VMEM_FREE), 0);
	ATF_CHECK_EQ(nbmem_uvm_nresv(), n0 + 1);
	ATF_CHECK(nbmem_uvm_resv_contains(a, ps));
	/* Its page is gone. */
	unsigned char v;
	ATF_CHECK(mincore((void *)a, ps, &v) == 0 && (v & 1) == 0);

	/* The spare comes back before any new mapping. */
	ATF_REQUIRE_EQ(uvm_km_kmem_alloc(kmem_va_arena, ps, VM_SLEEP, &b), 0);
	ATF_CHECK_EQ(nbmem_uvm_nresv(), n0 + 1);
	ATF_CHECK(nbmem_uvm_resv_contains(b, ps));

	/* A request above a chunk gets its own, unmapped once free. */
	ATF_REQUIRE_EQ(uvm_km_kmem_alloc(kmem_va_arena, 100 << 20,
	    VM_NOSLEEP, &big), 0);
	ATF_CHECK_EQ(nbmem_uvm_nresv(), n0 + 2);
	ATF_CHECK(nbmem_uvm_resv_contains(big, 100 << 20));
	uvm_km_kmem_free(kmem_va_arena, big, 100 << 20);
	ATF_CHECK_EQ(nbmem_uvm_nresv(), n0 + 1);
	ATF_CHECK(!nbmem_uvm_resv_contains(big, ps));
	ATF_CHECK(!uvm_km_va_starved_p());
	uvm_km_kmem_free(kmem_va_arena, b, ps);
}

ATF_TC_WITHOUT_HEAD(registry_ranges);
ATF_TC_BODY(registry_ranges, tc)
{
	setup();
	size_t n0 = nbmem_uvm_nresv();
	vaddr_t lo = 0, hi = 0;

	/* Submaps of kernel_map and VAONLY ranges are reservations... */
	struct vm_map *m = uvm_km_suballoc(kernel_map, &lo, &hi, 16 * ps, 0,
	    false, NULL);
	ATF_CHECK(nbmem_uvm_resv_contains(lo, 16 * ps));
	ATF_CHECK(!nbmem_uvm_resv_contains(lo, 17 * ps));
	ATF_CHECK(!nbmem_uvm_resv_contains(lo - ps, 2 * ps));
	vaddr_t vo = uvm_km_alloc(kernel_map, 8 * ps, 0, UVM_KMF_VAONLY);
	ATF_CHECK(nbmem_uvm_resv_contains(vo + ps, 7 * ps));
	ATF_CHECK_EQ(nbmem_uvm_nresv(), n0 + 2);

	/* ...a submap of a submap lies inside its parent's... */
	vaddr_t ilo = 0, ihi = 0;
	(void)uvm_km_suballoc(m, &ilo, &ihi, 4 * ps, 0, false, NULL);
	ATF_CHECK_EQ(nbmem_uvm_nresv(), n0 + 2);
	ATF_CHECK(nbmem_uvm_resv_contains(ilo, 4 * ps));

	/* ...wired and pageable memory is not. */
	vaddr_t w = uvm_km_alloc(kernel_map, 8 * ps, 0, UVM_KMF_WIRED);
	ATF_CHECK(!nbmem_uvm_resv_contains(w, ps));
	ATF_CHECK_EQ(nbmem_uvm_nresv(), n0 + 2);

	uvm_km_free(kernel_map, vo, 8 * ps, UVM_KMF_VAONLY);
	ATF_CHECK(!nbmem_uvm_resv_contains(vo, ps));
	ATF_CHECK_EQ(nbmem_uvm_nresv(), n0 + 1);
	uvm_km_free(kernel_map, w, 8 * ps, UVM_KMF_WIRED);
	ATF_CHECK(!nbmem_uvm_resv_contains(0, ps));
	ATF_CHECK(!nbmem_uvm_resv_contains(VMEM_ADDR_MAX - ps + 1, 2 * ps));
}

/* Many reservations: the table grows, and shrinks back in count. */
ATF_TC_WITHOUT_HEAD(registry_grows);
ATF_TC_BODY(registry_grows, tc)
{
	enum { N = 1500 };
	static vaddr_t va[N];

	setup();
	size_t n0 = nbmem_uvm_nresv();
	for (int i = 0; i < N; i++) {
		va[i] = uvm_km_alloc(kernel_map, ps, 0, UVM_KMF_VAONLY);
		ATF_REQUIRE(va[i] != 0);
	}
	ATF_CHECK_EQ(nbmem_uvm_nresv(), n0 + N);
	for (int i = 0; i < N; i++)
		ATF_CHECK(nbmem_uvm_resv_contains(va[i], ps));
	for (int i = 0; i < N; i += 2)
		uvm_km_free(kernel_map, va[i], ps, UVM_KMF_VAONLY);
	for (int i = 0; i < N; i++)
		ATF_CHECK_EQ(nbmem_uvm_resv_contains(va[i], ps), i % 2 == 1);
	for (int i = 1; i < N; i += 2)
		uvm_km_free(kernel_map, va[i], ps, UVM_KMF_VAONLY);
	ATF_CHECK_EQ(nbmem_uvm_nresv(), n0);
}

/*
 * Lock-free readers under churn: a range that stays registered is found
 * on every lookup while other threads insert and remove around it.
 */
static int churn_stop;

static void *
churn(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&churn_stop, __ATOMIC_RELAXED)) {
		vaddr_t v[8];
		for (int i = 0; i < 8; i++)
			v[i] = uvm_km_alloc(kernel_map, ps, 0, UVM_KMF_VAONLY);
		for (int i = 0; i < 8; i++)
			uvm_km_free(kernel_map, v[i], ps, UVM_KMF_VAONLY);
	}
	return NULL;
}

ATF_TC_WITHOUT_HEAD(registry_readers);
ATF_TC_BODY(registry_readers, tc)
{
	pthread_t t[2];

	setup();
	vaddr_t keep = uvm_km_alloc(kernel_map, 4 * ps, 0, UVM_KMF_VAONLY);
	for (int i = 0; i < 2; i++)
		ATF_REQUIRE(pthread_create(&t[i], NULL, churn, NULL) == 0);
	unsigned long misses = 0;
	for (int i = 0; i < 200000; i++) {
		if (!nbmem_uvm_resv_contains(keep + ps, 2 * ps))
			misses++;
		if (nbmem_uvm_resv_contains(keep + ps, 4 * ps))
			misses++;
	}
	__atomic_store_n(&churn_stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < 2; i++)
		ATF_REQUIRE(pthread_join(t[i], NULL) == 0);
	ATF_CHECK_EQ(misses, 0);
	uvm_km_free(kernel_map, keep, 4 * ps, UVM_KMF_VAONLY);
}

/* UVM_KMF_WAITVA sleeps on a full submap until a free. */
struct waitva {
	struct vm_map	*map;
	vaddr_t		va;
};

static void *
waitva_main(void *arg)
{
	struct waitva *w = arg;

	w->va = uvm_km_alloc(w->map, 2 * ps, 0,
	    UVM_KMF_PAGEABLE | UVM_KMF_WAITVA);
	return NULL;
}

static unsigned int
arena_nwait(vmem_t *vm)
{
	unsigned int n;

	mutex_enter(&vm->vm_lock);
	n = vm->vm_nwait;
	mutex_exit(&vm->vm_lock);
	return n;
}

ATF_TC_WITHOUT_HEAD(waitva_sleeps);
ATF_TC_BODY(waitva_sleeps, tc)
{
	struct waitva w = { 0 };
	vaddr_t lo = 0, hi = 0;
	pthread_t t;

	setup();
	w.map = uvm_km_suballoc(kernel_map, &lo, &hi, 4 * ps, 0, false,
	    NULL);
	vaddr_t a = uvm_km_alloc(w.map, 4 * ps, 0, UVM_KMF_PAGEABLE);
	ATF_REQUIRE(a != 0);
	ATF_REQUIRE(pthread_create(&t, NULL, waitva_main, &w) == 0);
	for (int i = 0; arena_nwait(w.map->vmm_arena) == 0; i++) {
		if (i > 60000)
			atf_tc_fail("the WAITVA allocation never slept");
		usleep(1000);
	}
	uvm_km_free(w.map, a, 4 * ps, UVM_KMF_PAGEABLE);
	ATF_REQUIRE(pthread_join(t, NULL) == 0);
	ATF_CHECK(w.va >= lo && w.va + 2 * ps <= hi);
}

/*
 * Mapping boundaries (a start or an end) strictly inside (lo, hi): what
 * a system call on part of [lo, hi) would add, unlike the mappings that
 * other threads (the library's, the sanitizers') make elsewhere.
 */
static int
nbounds(uintptr_t lo, uintptr_t hi)
{
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned long a, b;
	char line[512];
	int n = 0;

	ATF_REQUIRE(f != NULL);
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "%lx-%lx", &a, &b) == 2)
			n += (a > lo && a < hi) + (b > lo && b < hi);
	fclose(f);
	return n;
}

static bool
resident(vmem_addr_t va)
{
	unsigned char v;

	ATF_REQUIRE(mincore((void *)va, ps, &v) == 0);
	return (v & 1) != 0;
}

/*
 * By default kmem_arena's chunks are read-write: an allocation makes no
 * system call (its pages fault in on touch) and changes no mapping, and
 * a free drops the pages, leaving the range readable as zeros.
 */
ATF_TC_WITHOUT_HEAD(kmem_pages_lazy);
ATF_TC_BODY(kmem_pages_lazy, tc)
{
	enum { N = 64, PAGES = 4 };
	vmem_addr_t a, r[N];

	setup();
	if (nbmem_os_overcommit_strict() || getenv("NBMEM_DECOMMIT") != NULL)
		atf_tc_skip("strict overcommit or NBMEM_DECOMMIT: chunks are "
		    "PROT_NONE (kmem_decommit_env)");
	ATF_REQUIRE(nbmem_uvm_kmem_lazy());

	uint64_t c0 = __atomic_load_n(&nbmem_os_ncommit, __ATOMIC_RELAXED);
	ATF_REQUIRE_EQ(uvm_km_kmem_alloc(kmem_va_arena, PAGES * ps, VM_SLEEP,
	    &a), 0);
	ATF_CHECK_EQ_MSG(__atomic_load_n(&nbmem_os_ncommit, __ATOMIC_RELAXED),
	    c0, "an allocation committed its range");
	ATF_CHECK(!resident(a));
	ATF_CHECK_EQ(((volatile char *)a)[PAGES * ps - 1], 0);
	memset((void *)a, 7, PAGES * ps);
	ATF_CHECK(resident(a) && resident(a + (PAGES - 1) * ps));
	uvm_km_kmem_free(kmem_va_arena, a, PAGES * ps);
	ATF_CHECK(!resident(a) && !resident(a + (PAGES - 1) * ps));
	/*
	 * Freed, the range reads as zeros rather than faulting (ASan has
	 * it poisoned, a use after free: this read is the test's own).
	 */
	NBMEM_ASAN_UNPOISON((void *)a, ps);
	ATF_CHECK_EQ(((volatile char *)a)[0], 0);

	/*
	 * Ranges taken and given back, every other one kept: no mapping
	 * split where they lie (at most the boundary of two chunks).
	 */
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	for (int i = 0; i < N; i++) {
		ATF_REQUIRE_EQ(uvm_km_kmem_alloc(kmem_va_arena, PAGES * ps,
		    VM_SLEEP, &r[i]), 0);
		memset((void *)r[i], i, PAGES * ps);
		lo = r[i] < lo ? r[i] : lo;
		hi = r[i] + PAGES * ps > hi ? r[i] + PAGES * ps : hi;
	}
	int b0 = nbounds(lo, hi);
	ATF_CHECK_MSG(b0 <= 2, "%d mapping boundaries among %d ranges just "
	    "taken", b0, N);
	for (int i = 0; i < N; i += 2)
		uvm_km_kmem_free(kmem_va_arena, r[i], PAGES * ps);
	ATF_CHECK_MSG(nbounds(lo, hi) == b0, "%d mapping boundaries among "
	    "%d ranges with half given back, %d before", nbounds(lo, hi), N,
	    b0);
	for (int i = 1; i < N; i += 2) {
		ATF_CHECK_EQ(((volatile char *)r[i])[ps], (char)i);
		uvm_km_kmem_free(kmem_va_arena, r[i], PAGES * ps);
	}
	ATF_CHECK_EQ(__atomic_load_n(&nbmem_os_ncommit, __ATOMIC_RELAXED), c0);
}

/*
 * Locked pages refuse MADV_DONTNEED: a free maps the range afresh
 * instead, so that it reads as zeros again (calloc counts on it).
 */
ATF_TC_WITHOUT_HEAD(kmem_free_locked);
ATF_TC_BODY(kmem_free_locked, tc)
{
	vmem_addr_t a;

	setup();
	if (!nbmem_uvm_kmem_lazy())
		atf_tc_skip("chunks are PROT_NONE here");
	if (NBT_ASAN)
		atf_tc_skip("AddressSanitizer's mlock does nothing");
	ATF_REQUIRE_EQ(uvm_km_kmem_alloc(kmem_va_arena, 4 * ps, VM_SLEEP,
	    &a), 0);
	memset((void *)a, 0x5a, 4 * ps);
	if (mlock((void *)a, 4 * ps) != 0)
		atf_tc_skip("mlock: %s", strerror(errno));
	ATF_REQUIRE(madvise((void *)a, ps, MADV_DONTNEED) != 0);
	uvm_km_kmem_free(kmem_va_arena, a, 4 * ps);
	for (size_t i = 0; i < 4 * ps; i += ps / 2)
		ATF_CHECK_EQ_MSG(((volatile unsigned char *)a)[i], 0,
		    "byte %zu of a freed locked range still holds %#x", i,
		    ((volatile unsigned char *)a)[i]);
	ATF_CHECK(nbmem_uvm_kmem_lazy_range(a, 4 * ps));
	(void)munlock((void *)a, 4 * ps);
}

/*
 * A process that locks its future mappings (mlockall(MCL_FUTURE))
 * would have every read-write chunk populated whole: the page layer
 * notices on the next chunk and maps PROT_NONE chunks from then on.
 */
static void
mcl_future_child(void *arg)
{
	size_t big = (size_t)65 << 20;	/* above a chunk: a new one */
	vmem_addr_t a;

	(void)arg;
	if (mlockall(MCL_FUTURE) != 0)
		_exit(3);
	if (uvm_km_kmem_alloc(kmem_va_arena, big, VM_SLEEP, &a) != 0)
		_exit(4);
	if (nbmem_uvm_kmem_lazy() || nbmem_uvm_kmem_lazy_range(a, big))
		_exit(5);
	uvm_km_kmem_free(kmem_va_arena, a, big);
	_exit(0);
}

ATF_TC_WITHOUT_HEAD(kmem_mlockall_future);
ATF_TC_BODY(kmem_mlockall_future, tc)
{
	static char err[4096];
	int st;

	setup();
	if (!nbmem_uvm_kmem_lazy())
		atf_tc_skip("chunks are PROT_NONE here");
	if (NBT_ASAN)
		atf_tc_skip("AddressSanitizer's mlockall does nothing");
	st = nbt_debug_fork(mcl_future_child, NULL, err, sizeof(err));
	if (WIFEXITED(st) && WEXITSTATUS(st) == 3)
		atf_tc_skip("mlockall(MCL_FUTURE) refused");
	ATF_CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x "
	    "(exit 5: a read-write chunk after mlockall); stderr: %s", st,
	    err);
}

/*
 * With no budget limit, a charge that would wrap the in-use count is
 * refused, not added: the uncharge of a failed request would otherwise
 * find less in use than it gives back and stop the process.
 */
ATF_TC_WITHOUT_HEAD(budget_count_no_wrap);
ATF_TC_BODY(budget_count_no_wrap, tc)
{
	setup();
	nbmem_physmem_set(0);
	ATF_REQUIRE(nbmem_budget_charge(4 * ps, false, false, "t"));
	size_t before = nbmem_physmem_inuse();
	ATF_CHECK(!nbmem_budget_charge(SIZE_MAX - 2 * ps, false, true, "t"));
	ATF_CHECK(!nbmem_budget_charge(SIZE_MAX - 2 * ps, true, true, "t"));
	ATF_CHECK_EQ(nbmem_physmem_inuse(), before);
	nbmem_budget_uncharge(4 * ps);
}

ATF_TC_WITHOUT_HEAD(c_decommit_faults);
ATF_TC_BODY(c_decommit_faults, tc)
{
	vmem_addr_t a;

	NBT_DEBUG_CHILD();
	setup();
	if (nbmem_uvm_kmem_lazy())
		_exit(3);	/* NBMEM_DECOMMIT=1 not taken */
	ATF_REQUIRE_EQ(uvm_km_kmem_alloc(kmem_va_arena, ps, VM_SLEEP, &a), 0);
	memset((void *)a, 1, ps);
	uvm_km_kmem_free(kmem_va_arena, a, ps);
	signal(SIGSEGV, SIG_DFL);
	NBMEM_ASAN_UNPOISON((void *)a, ps);	/* the fault, not ASan */
	(void)((volatile char *)a)[0];		/* a freed page */
	_exit(4);
}

/* In the child: this program again, case arg, with NBMEM_DECOMMIT=1. */
static void
decommit_exec(void *arg)
{
	char exe[4096], res[128];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		_exit(127);
	exe[n] = '\0';
	snprintf(res, sizeof(res), "child-%s.res", (const char *)arg);
	setenv("NBMEM_DECOMMIT", "1", 1);
	setenv("NBT_CHILD", "1", 1);
	execl(exe, exe, "-r", res, (const char *)arg, (char *)NULL);
	_exit(127);
}

/* NBMEM_DECOMMIT=1: chunks are PROT_NONE, a freed page faults. */
ATF_TC_WITHOUT_HEAD(kmem_decommit_env);
ATF_TC_BODY(kmem_decommit_env, tc)
{
	static char err[16384];
	int st;

	setup();
	st = nbt_debug_fork(decommit_exec, "c_decommit_faults", err,
	    sizeof(err));
	ATF_CHECK_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV,
	    "NBMEM_DECOMMIT=1: a read of a freed kmem page gave status %#x "
	    "(exit 3: chunks stayed read-write); stderr: %s", st, err);
}

/*
 * The library's mmap(2) calls come here (the program's definition
 * wins): with fail_commits set, a commit (read-write over a range, with
 * MAP_FIXED) fails as the kernel fails one at vm.max_map_count.
 */
static volatile int fail_commits;

#if !NBT_ASAN
void *
mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (fail_commits && (flags & MAP_FIXED) != 0 &&
	    (prot & PROT_WRITE) != 0) {
		errno = ENOMEM;
		return MAP_FAILED;
	}
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}
#endif

/*
 * nbmem_uvm_kmem_extend in a PROT_NONE chunk whose new pages cannot be
 * committed: ENOMEM with the range, the arena and the budget as they
 * were, even when the arena has no boundary tag to spare (a growth
 * undone must not need one), and the growth works once commits do.
 */
ATF_TC_WITHOUT_HEAD(c_extend_commit_fails);
ATF_TC_BODY(c_extend_commit_fails, tc)
{
	static _Alignas(16) char bts[4 * VMEM_BTAG_STORAGE_SIZE];
	vmem_addr_t base, a;
	vmem_t *vm;
	size_t inuse;
	int rc;

	NBT_DEBUG_CHILD();
	setup();
	if (nbmem_uvm_kmem_lazy())
		_exit(3);	/* NBMEM_DECOMMIT=1 not taken */
	ATF_REQUIRE_EQ(uvm_km_kmem_alloc(kmem_va_arena, 8 * ps, VM_SLEEP,
	    &base), 0);
	/* Four tags: the span and its free segment, one busy, one left. */
	vm = vmem_create("t_extend", 0, 0, ps, NULL, NULL, NULL, 0,
	    VM_SLEEP | VM_PRIVTAGS, IPL_VM);
	ATF_REQUIRE(vm != NULL);
	vmem_add_bts(vm, (struct vmem_btag *)(void *)bts, 4);
	ATF_REQUIRE_EQ(vmem_add(vm, base, 8 * ps, VM_SLEEP), 0);
	ATF_REQUIRE_EQ(uvm_km_kmem_alloc(vm, 2 * ps, VM_SLEEP, &a), 0);
	memset((void *)a, 1, 2 * ps);
	inuse = nbmem_physmem_inuse();
	fail_commits = 1;
	rc = nbmem_uvm_kmem_extend(vm, a, 2 * ps, ps);
	fail_commits = 0;
	ATF_REQUIRE_EQ(rc, ENOMEM);
	ATF_CHECK_EQ(vmem_size(vm, VMEM_ALLOC), 2 * ps);
	ATF_CHECK_EQ(nbmem_physmem_inuse(), inuse);
	ATF_CHECK_EQ(((volatile char *)a)[2 * ps - 1], 1);
	ATF_REQUIRE_EQ(nbmem_uvm_kmem_extend(vm, a, 2 * ps, ps), 0);
	memset((void *)(a + 2 * ps), 2, ps);
	ATF_CHECK_EQ(vmem_size(vm, VMEM_ALLOC), 3 * ps);
	uvm_km_kmem_free(vm, a, 3 * ps);
	ATF_CHECK_EQ(vmem_size(vm, VMEM_ALLOC), 0);
	vmem_destroy(vm);
	uvm_km_kmem_free(kmem_va_arena, base, 8 * ps);
}

ATF_TC_WITHOUT_HEAD(kmem_extend_commit_fails);
ATF_TC_BODY(kmem_extend_commit_fails, tc)
{
	static char err[16384];
	int st;

	if (NBT_ASAN)
		atf_tc_skip("ASan's runtime owns mmap(2)");
	setup();
	st = nbt_debug_fork(decommit_exec, "c_extend_commit_fails", err,
	    sizeof(err));
	ATF_CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a growth "
	    "whose commit failed: status %#x (exit 3: chunks stayed "
	    "read-write; 1: a check failed); stderr: %s", st, err);
}

/*
 * The page layer's system-call wrappers return their error and leave
 * errno as the caller had it: an allocation that succeeds after a
 * failed commit and a retry must not report ENOMEM through errno.
 */
ATF_TC_WITHOUT_HEAD(os_calls_keep_errno);
ATF_TC_BODY(os_calls_keep_errno, tc)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	char *m = mmap(NULL, 2 * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
	    -1, 0);

	ATF_REQUIRE(m != MAP_FAILED);
	/* Not page-aligned: mmap(MAP_FIXED) refuses with EINVAL. */
	errno = 4242;
	ATF_CHECK_EQ(nbmem_os_commit(m + 1, pg, NBMEM_OS_PROT_RW, false),
	    EINVAL);
	ATF_CHECK_EQ(errno, 4242);
	errno = 4343;
	ATF_CHECK_EQ(nbmem_os_decommit(m + 1, pg), EINVAL);
	ATF_CHECK_EQ(errno, 4343);
	/* And on success too. */
	errno = 4444;
	ATF_CHECK_EQ(nbmem_os_commit(m, pg, NBMEM_OS_PROT_RW, false), 0);
	ATF_CHECK_EQ(nbmem_os_decommit(m, pg), 0);
	ATF_CHECK_EQ(errno, 4444);
	ATF_REQUIRE(munmap(m, 2 * pg) == 0);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, os_calls_keep_errno);
	ATF_TP_ADD_TC(tp, map_layout);
	ATF_TP_ADD_TC(tp, chunks_and_spare);
	ATF_TP_ADD_TC(tp, registry_ranges);
	ATF_TP_ADD_TC(tp, registry_grows);
	ATF_TP_ADD_TC(tp, registry_readers);
	ATF_TP_ADD_TC(tp, waitva_sleeps);
	ATF_TP_ADD_TC(tp, kmem_pages_lazy);
	ATF_TP_ADD_TC(tp, budget_count_no_wrap);
	ATF_TP_ADD_TC(tp, kmem_free_locked);
	ATF_TP_ADD_TC(tp, kmem_mlockall_future);
	ATF_TP_ADD_TC(tp, c_decommit_faults);
	ATF_TP_ADD_TC(tp, kmem_decommit_env);
	ATF_TP_ADD_TC(tp, c_extend_commit_fails);
	ATF_TP_ADD_TC(tp, kmem_extend_commit_fails);
	return atf_no_error();
}

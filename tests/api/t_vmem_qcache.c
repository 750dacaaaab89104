/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * vmem quantum caches: sizes up to qcache_max go through pool caches
 * named "<arena>-<size>", whose pages are busy segments of the arena.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <atf-c.h>

#include <nbmem/pool.h>
#include <nbmem/vmem.h>

#include "nbpool.h"
#include "nbtest.h"

ATF_TC_WITHOUT_HEAD(small_sizes_go_through_caches);
ATF_TC_BODY(small_sizes_go_through_caches, tc)
{
	vmem_t *vm = vmem_create("qct", 0x10000, 1 << 20, 16, NULL, NULL,
	    NULL, 64, VM_SLEEP, IPL_NONE);
	vmem_addr_t a[200];
	struct pool_sysctl ps;

	ATF_REQUIRE(vm != NULL);
	ATF_CHECK(nbt_pool_record("qct-16", NULL));
	ATF_CHECK(nbt_pool_record("qct-64", NULL));
	for (int i = 0; i < 200; i++) {
		ATF_REQUIRE(vmem_alloc(vm, 1 + i % 64, VM_NOSLEEP |
		    VM_BESTFIT, &a[i]) == 0);
		ATF_CHECK_EQ(a[i] % 16, 0);
		ATF_CHECK(a[i] >= 0x10000 && a[i] < 0x10000 + (1 << 20));
		for (int j = 0; j < i; j++) {
			vmem_size_t si = (1 + i % 64 + 15) & ~15;
			vmem_size_t sj = (1 + j % 64 + 15) & ~15;
			ATF_CHECK(a[j] + sj <= a[i] || a[i] + si <= a[j]);
		}
	}
	ATF_REQUIRE(nbt_pool_record("qct-64", &ps));
	ATF_CHECK(ps.pr_nget > 0);	/* the cache missed into its pool */
	ATF_CHECK((ps.pr_flags & PR_RECURSIVE) != 0);
	for (int i = 0; i < 200; i++)
		vmem_free(vm, a[i], 1 + i % 64);
	/* The caches keep their pages: they are busy in the arena. */
	ATF_CHECK(vmem_size(vm, VMEM_ALLOC) > 0);
	/* Above qcache_max the segment layer serves directly. */
	vmem_addr_t big;
	vmem_size_t before = vmem_size(vm, VMEM_ALLOC);
	ATF_REQUIRE(vmem_alloc(vm, 4096, VM_NOSLEEP | VM_INSTANTFIT,
	    &big) == 0);
	ATF_CHECK_EQ(vmem_size(vm, VMEM_ALLOC), before + 4096);
	vmem_free(vm, big, 4096);
	vmem_destroy(vm);
	ATF_CHECK(!nbt_pool_record("qct-16", NULL));
}

ATF_TC_WITHOUT_HEAD(exhaustion_fails_nosleep);
ATF_TC_BODY(exhaustion_fails_nosleep, tc)
{
	/* 4 KiB of 16-byte quanta, caches up to 32 bytes. */
	vmem_t *vm = vmem_create("qcx", 0x1000, 4096, 16, NULL, NULL, NULL,
	    32, VM_SLEEP, IPL_VM);
	vmem_addr_t a[512];
	int n = 0;

	ATF_REQUIRE(vm != NULL);
	while (n < 512 && vmem_alloc(vm, 32, VM_NOSLEEP | VM_INSTANTFIT,
	    &a[n]) == 0)
		n++;
	ATF_CHECK(n > 0 && n <= 4096 / 32);
	/* A cache's failure stores 0 in *addrp, as NetBSD's vmem_alloc. */
	vmem_addr_t x = 0x1234;
	ATF_CHECK_EQ(vmem_alloc(vm, 32, VM_NOSLEEP | VM_INSTANTFIT, &x),
	    ENOMEM);
	ATF_CHECK_EQ_MSG(x, 0, "a failed cache allocation left %#zx in "
	    "*addrp", (size_t)x);
	for (int i = 0; i < n; i++)
		vmem_free(vm, a[i], 32);
	vmem_destroy(vm);
}

/*
 * A VM_SLEEP request that the arena cannot meet while its quantum
 * caches hold its space in free objects does not wait for ever: before
 * it sleeps it runs a reclaim pass, which empties the caches and gives
 * their pages back to the arena (NetBSD's vmem_xalloc kicks the
 * pagedaemon, whose pool drain does the same).  An alarm ends the test
 * if it waits.
 */
ATF_TC_WITHOUT_HEAD(sleep_reclaims_caches);
ATF_TC_BODY(sleep_reclaims_caches, tc)
{
	vmem_t *vm = vmem_create("qcs", 0x1000, 4096, 16, NULL, NULL, NULL,
	    32, VM_SLEEP, IPL_NONE);
	vmem_addr_t a[512], big;
	int n = 0;

	ATF_REQUIRE(vm != NULL);
	while (n < 512 && vmem_alloc(vm, 32, VM_NOSLEEP | VM_INSTANTFIT,
	    &a[n]) == 0)
		n++;
	ATF_REQUIRE(n > 0);
	for (int i = 0; i < n; i++)
		vmem_free(vm, a[i], 32);
	/* The caches hold the space: a request that may not sleep fails. */
	ATF_CHECK_EQ(vmem_alloc(vm, 4096, VM_NOSLEEP | VM_INSTANTFIT, &big),
	    ENOMEM);
	(void)signal(SIGALRM, SIG_DFL);
	alarm(20);
	ATF_REQUIRE_EQ(vmem_alloc(vm, 4096, VM_SLEEP | VM_INSTANTFIT, &big),
	    0);
	alarm(0);
	ATF_CHECK_EQ(big, 0x1000);
	vmem_free(vm, big, 4096);
	vmem_destroy(vm);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, small_sizes_go_through_caches);
	ATF_TP_ADD_TC(tp, exhaustion_fails_nosleep);
	ATF_TP_ADD_TC(tp, sleep_reclaims_caches);
	return atf_no_error();
}

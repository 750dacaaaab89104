/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * fork(2) while other threads allocate: the child must be able to
 * allocate and free at once (every lock was taken around the fork).
 */
#include <sys/wait.h>

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include <atf-c.h>

#include <nbmem/nbmem.h>
#include <nbmem/uvm_km.h>
#include <nbmem/vmem.h>

#include "nbtest.h"

static vmem_t *arena;
static atomic_bool stop;
static atomic_ulong rounds;

static void *
churn(void *arg)
{
	vmem_addr_t a[16];
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);

	(void)arg;
	while (!atomic_load(&stop)) {
		for (int i = 0; i < 16; i++)
			ATF_REQUIRE(vmem_alloc(arena, 16 + 16 * i,
			    VM_SLEEP | VM_INSTANTFIT, &a[i]) == 0);
		for (int i = 0; i < 16; i++)
			vmem_free(arena, a[i], 16 + 16 * i);
		vmem_addr_t p;
		ATF_REQUIRE(uvm_km_kmem_alloc(kmem_va_arena, ps,
		    VM_SLEEP | VM_INSTANTFIT, &p) == 0);
		uvm_km_kmem_free(kmem_va_arena, p, ps);
		atomic_fetch_add(&rounds, 1);
	}
	return NULL;
}

/* The child: every layer works at once, then exit 0. */
static void
child(void)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	vmem_addr_t a, p;

	if (vmem_alloc(arena, 64, VM_NOSLEEP | VM_BESTFIT, &a) != 0)
		_exit(2);
	vmem_free(arena, a, 64);
	if (uvm_km_kmem_alloc(kmem_va_arena, ps, VM_NOSLEEP | VM_INSTANTFIT,
	    &p) != 0)
		_exit(3);
	*(volatile char *)p = 1;
	uvm_km_kmem_free(kmem_va_arena, p, ps);
	vaddr_t w = uvm_km_alloc(kernel_map, ps, 0, UVM_KMF_WIRED);
	if (w == 0)
		_exit(4);
	uvm_km_free(kernel_map, w, ps, UVM_KMF_WIRED);
	(void)nbmem_reclaim();
	vmem_t *fresh = vmem_create("child", 0, 4096, 1, NULL, NULL, NULL, 0,
	    VM_NOSLEEP, IPL_NONE);
	if (fresh == NULL)
		_exit(5);
	vmem_destroy(fresh);
	_exit(0);
}

static bool
churned(void *arg)
{
	(void)arg;
	return atomic_load(&rounds) >= 10;
}

ATF_TC_WITHOUT_HEAD(fork_while_allocating);
ATF_TC_BODY(fork_while_allocating, tc)
{
	pthread_t t[3];

	arena = vmem_create("forked", 0, 1 << 20, 16, NULL, NULL, NULL, 0,
	    VM_SLEEP, IPL_VM);
	ATF_REQUIRE(arena != NULL);
	for (int i = 0; i < 3; i++)
		ATF_REQUIRE(pthread_create(&t[i], NULL, churn, NULL) == 0);
	nbt_wait_until(churned, NULL, "the threads to start churning");
	for (int n = 0; n < 50; n++) {
		pid_t pid = fork();
		ATF_REQUIRE(pid >= 0);
		if (pid == 0)
			child();
		int status;
		ATF_REQUIRE(waitpid(pid, &status, 0) == pid);
		ATF_REQUIRE_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "child %d: status %#x", n, status);
	}
	atomic_store(&stop, true);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	ATF_CHECK_EQ(vmem_size(arena, VMEM_ALLOC), 0);
	vmem_destroy(arena);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, fork_while_allocating);
	return atf_no_error();
}

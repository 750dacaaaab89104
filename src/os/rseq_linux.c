/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * os/rseq_linux.c: the out-of-line half of os/rseq.h (whose theory
 * block explains the sequences): deciding whether per-CPU mode is
 * available, sizing per-CPU arrays, and taking another CPU's slot lock
 * with membarrier's rseq fence.
 */
#include <linux/membarrier.h>
#include <sys/syscall.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "os/os.h"
#include "os/rseq.h"

#ifndef MEMBARRIER_CMD_FLAG_CPU
#define	MEMBARRIER_CMD_FLAG_CPU	(1 << 0)
#endif

/*
 * Fields of the rseq area used here end with rseq_cs (offset 8, 8
 * bytes); flags follow it in the original 20-byte feature set, the
 * smallest __rseq_size a registering glibc reports.
 */
#define	RSEQ_FEATURE_MIN	20

#if NBMEM_RSEQ_ARCH
ptrdiff_t nbmem_rseq_offset;

/* Before any other constructor of the library can make a cache. */
__attribute__((__constructor__(101)))
static void
rseq_offset_init(void)
{
	if (&__rseq_offset != NULL)
		nbmem_rseq_offset = __rseq_offset;
}
#endif

#if NBMEM_RSEQ_ARCH && defined(NBMEM_RSEQ_HAVE_FAST)
__thread ptrdiff_t nbmem_rseq_divert
    __attribute__((__tls_model__("initial-exec")));

/*
 * What the fast sequences read instead of the real area while diverted:
 * cpu_id -1 ("not registered"); they store their descriptor address
 * into its rseq_cs, which the kernel never reads.
 */
static __thread struct {
	uint32_t	cpu_id_start;
	int32_t		cpu_id;
	uint64_t	rseq_cs;
} nbmem_rseq_fake __attribute__((__tls_model__("initial-exec"),
    __aligned__(32))) = { 0, -1, 0 };

void
nbmem_rseq_set_divert(bool off)
{
	char *tp;

	if (!off) {
		nbmem_rseq_divert = 0;
		return;
	}
	/*
	 * The displacement is taken against the offset the fast paths
	 * will add: make sure it is the final one (the constructor may not
	 * have run yet; the value never changes after that).
	 */
	if (nbmem_rseq_offset == 0 && &__rseq_offset != NULL)
		nbmem_rseq_offset = __rseq_offset;
	__asm__("movq %%fs:0, %0" : "=r" (tp));
	nbmem_rseq_divert = ((char *)&nbmem_rseq_fake - tp) -
	    nbmem_rseq_offset;
}
#else
void
nbmem_rseq_set_divert(bool off)
{
	(void)off;
}
#endif

/* Process-wide verdict: 0 not decided yet, 1 usable, 2 not. */
static int rseq_state;

static bool
rseq_membarrier(int cmd, unsigned int flags, int cpu)
{
	return syscall(__NR_membarrier, cmd, flags, cpu) == 0;
}

/*
 * Abort the sequences of this process running on `cpu'.  Registration
 * is per address space and survives fork on current kernels; should one
 * refuse a child (EPERM), register again once.
 */
static bool
rseq_fence(unsigned int cpu)
{
	if (rseq_membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ,
	    MEMBARRIER_CMD_FLAG_CPU, (int)cpu))
		return true;
	return errno == EPERM &&
	    rseq_membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ,
	    0, 0) &&
	    rseq_membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ,
	    MEMBARRIER_CMD_FLAG_CPU, (int)cpu);
}

static int
rseq_decide(void)
{
	const char *env = nbmem_os_getenv("NBMEM_PERCPU");

	if (!NBMEM_RSEQ_ARCH)
		return 2;
	if (env != NULL && strcmp(env, "0") == 0)
		return 2;
	if (&__rseq_size == NULL || &__rseq_offset == NULL ||
	    __rseq_size < RSEQ_FEATURE_MIN)
		return 2;
	/*
	 * Needed by nbmem_rseq_trylock_cpu(); registering twice is
	 * harmless (Linux 5.10 and later).
	 */
	if (!rseq_membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ,
	    0, 0))
		return 2;
#if NBMEM_RSEQ_ARCH
	/*
	 * A cache may be made before the library's constructors ran (the
	 * malloc library serves the dynamic loader and other libraries'
	 * constructors first): take the offset here too.
	 */
	nbmem_rseq_offset = __rseq_offset;
#endif
	return 1;
}

/* The process can use per-CPU slots (whatever this thread's state). */
static bool
rseq_process_ok(void)
{
	int s = __atomic_load_n(&rseq_state, __ATOMIC_ACQUIRE);

	if (__builtin_expect(s == 0, 0)) {
		s = rseq_decide();
		__atomic_store_n(&rseq_state, s, __ATOMIC_RELEASE);
	}
	return s == 1;
}

bool
nbmem_rseq_available(void)
{
	if (!rseq_process_ok())
		return false;
#if NBMEM_RSEQ_ARCH
	/* This thread's registration: cpu_id is negative when it failed. */
	return nbmem_rseq_cpu_id() >= 0;
#else
	return false;
#endif
}

/* Parse a CPU list such as "0-3,8,10-11"; return the highest + 1. */
static unsigned int
rseq_cpulist_max(const char *s)
{
	unsigned int max = 0, v;

	while (*s != '\0' && *s != '\n') {
		if (*s < '0' || *s > '9') {
			s++;
			continue;
		}
		v = 0;
		while (*s >= '0' && *s <= '9')
			v = v * 10 + (unsigned int)(*s++ - '0');
		if (v + 1 > max)
			max = v + 1;
	}
	return max;
}

unsigned int
nbmem_rseq_ncpu(void)
{
	static unsigned int ncpu;
	unsigned int n = __atomic_load_n(&ncpu, __ATOMIC_RELAXED);
	char buf[256];
	ssize_t len;
	int fd;

	if (n != 0)
		return n;
	n = nbmem_os_ncpu();
	fd = open("/sys/devices/system/cpu/possible", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len > 0) {
			buf[len] = '\0';
			unsigned int p = rseq_cpulist_max(buf);
			if (p > n)
				n = p;
		}
	}
	__atomic_store_n(&ncpu, n, __ATOMIC_RELAXED);
	return n;
}

bool
nbmem_rseq_trylock_cpu(void *base, size_t stride, unsigned int cpu)
{
	uint32_t *lock = &nbmem_pcpu_slot(base, stride, cpu)->ps_lock;
	/* Unique among live threads: Linux thread ids stay below 2^22. */
	uint32_t token = 0x80000000u | (uint32_t)syscall(SYS_gettid);
	uint32_t expect = 0;

	/*
	 * The fence is a process-wide registration: a thread without an
	 * rseq area of its own (one that invalidates a cache, say) may lock
	 * a CPU's slot all the same.
	 */
	if (!rseq_process_ok())
		return false;
	if (!__atomic_compare_exchange_n(lock, &expect, token, false,
	    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
		return false;
	/*
	 * Every sequence of ours that runs on `cpu' now and may have read
	 * ps_lock == 0 before the swap is aborted; those that committed
	 * did so before this returns.
	 */
	if (!rseq_fence(cpu)) {
		expect = token;
		(void)__atomic_compare_exchange_n(lock, &expect, 0, false,
		    __ATOMIC_RELEASE, __ATOMIC_RELAXED);
		return false;
	}
	/* A local trylock that committed over the token owns the slot. */
	return __atomic_load_n(lock, __ATOMIC_ACQUIRE) == token;
}

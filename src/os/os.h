/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * os/os.h: the operating-system seam.  Everything nbmem needs from the
 * kernel it runs on is here, and only files under os/ implement it (one
 * per platform: os_linux.c).  Every function is async-signal-safe in
 * practice (plain system calls, no locks, no malloc), so the page layer
 * can be used from signal handlers.
 */
#ifndef NBMEM_OS_H
#define NBMEM_OS_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* protections, the same values as vm_prot_t */
#define	NBMEM_OS_PROT_NONE	0x0
#define	NBMEM_OS_PROT_READ	0x1
#define	NBMEM_OS_PROT_WRITE	0x2
#define	NBMEM_OS_PROT_EXEC	0x4
#define	NBMEM_OS_PROT_RW	(NBMEM_OS_PROT_READ | NBMEM_OS_PROT_WRITE)

/* The system page size, a power of two. */
size_t	nbmem_os_pagesize(void);
/*
 * The span of the process's address space: the power of two just above
 * its highest mapping (the main stack), 2^47 on x86-64 with 4-level
 * page tables.  No single mapping can be larger.
 */
size_t	nbmem_os_va_span(void);

/*
 * Anonymous mapping of `size' bytes (page multiple) aligned to `align'
 * (0 or a power of two >= the page size), with protection `prot'.
 * `populate' faults every page in now.  PROT_NONE mappings reserve
 * address space only (no commit charge).  NULL on failure.
 */
void	*nbmem_os_map(size_t size, size_t align, int prot, bool populate);
/*
 * Read-write address space whose pages are faulted in on first touch
 * and charged to nothing until then (MAP_NORESERVE), in small pages
 * (MADV_NOHUGEPAGE: with transparent huge pages always on, one touched
 * page would otherwise make 2 MiB resident); give pages back with
 * nbmem_os_purge().  NULL on failure.
 */
void	*nbmem_os_map_lazy(size_t size);
/*
 * The same over [addr, addr + size), which must lie in such a mapping:
 * fresh zero pages, and one mapping with its neighbours again.  0 or an
 * errno value (the range may then be unmapped: a hole).
 */
int	nbmem_os_remap_lazy(void *addr, size_t size);
/*
 * True when the kernel accounts every writable private page at mapping
 * time (Linux's strict overcommit, vm.overcommit_memory = 2): then
 * address space must stay PROT_NONE until committed.
 */
bool	nbmem_os_overcommit_strict(void);
/*
 * The largest single commitment the kernel would grant a plain private
 * mapping: with its heuristic overcommit (vm.overcommit_memory = 0) a
 * request larger than all RAM and swap is refused at mmap time, which
 * nbmem's lazy mappings (MAP_NORESERVE) would not see; SIZE_MAX when
 * the kernel grants anything (1) or accounts every commitment itself
 * (2).  Read once.
 */
size_t	nbmem_os_commit_limit(void);
/* The same at a fixed address that must be free: NULL if it is not. */
void	*nbmem_os_map_at(void *addr, size_t size, int prot, bool populate);
/* Unmap. */
void	nbmem_os_unmap(void *addr, size_t size);
/*
 * Inside a reservation: make [addr, addr+size) accessible with `prot'
 * (fresh zero pages, unaccounted as nbmem_os_map_lazy's, and a mapping
 * that the kernel can merge with read-write neighbours), or drop its
 * pages and make it inaccessible again.  Return 0 or an errno value.
 */
int	nbmem_os_commit(void *addr, size_t size, int prot, bool populate);
int	nbmem_os_decommit(void *addr, size_t size);
/* nbmem_os_commit() calls so far (tests). */
extern uint64_t nbmem_os_ncommit;
int	nbmem_os_protect(void *addr, size_t size, int prot);
/*
 * Give the pages back but keep the range accessible (reads as zero).
 * Returns 0, or an errno value when the kernel refused (EINVAL on
 * locked memory: mlock, mlockall): then the pages are still there.
 */
int	nbmem_os_purge(void *addr, size_t size);
/* Is the page at addr resident (mincore)?  False when unknown. */
bool	nbmem_os_resident(const void *addr);
/*
 * Move the pages of [from, from + size) to [to, to + size), which must
 * be mapped read-write, without copying them; from stays mapped, empty.
 * 0, or an errno when the kernel cannot: then nothing moved, but the
 * kernel may have unmapped the target already (map it again).  errno
 * is left as it was.
 */
int	nbmem_os_move(void *from, void *to, size_t size);
/*
 * The process's mappings now, counted up to max at least (-1: unknown),
 * and how many the kernel allows it (vm.max_map_count).
 */
long	nbmem_os_nmappings(long max);
long	nbmem_os_max_mappings(void);
int	nbmem_os_mlock(void *addr, size_t size);

/*
 * Block every asynchronous signal in the calling thread (all but the
 * synchronous fault signals), saving the previous mask; restore it.
 */
void	nbmem_os_sigblock(sigset_t *old);
/* Calls of nbmem_os_sigblock (each a system call): for the tests. */
extern uint64_t nbmem_os_nsigblock;
void	nbmem_os_sigrestore(const sigset_t *old);
/*
 * The mask a thread waits with while the library would keep signals
 * blocked (lock.h, cv_timedwait_ns): `orig' (the mask before they were
 * blocked) when nothing of the library is held across the wait
 * (`open'); otherwise every signal blocked but those that run no code
 * (no handler: the default action, or ignored) and that `orig' leaves
 * open.
 */
void	nbmem_os_sigwaitmask(const sigset_t *orig, bool open, sigset_t *out);

/*
 * Make fn the handler of memory faults (SIGSEGV), keeping the previous
 * disposition: fn gets the faulting address and whether the access was
 * a write (1), a read (0) or unknown (-1).  If fn returns, the previous
 * disposition is put back and the access retried (it faults again, to
 * the program's handler or the default action).  fn runs in a signal
 * handler.  Returns 0 or an errno value.
 */
int	nbmem_os_fault_hook(void (*fn)(uintptr_t addr, int write));

/*
 * Futex-style waiting on a 32-bit word: sleep while *addr == val, at most
 * `ns' nanoseconds (0: no limit); wake up to n sleepers.  Spurious
 * wakeups are allowed.
 */
void	nbmem_os_futex_wait(uint32_t *addr, uint32_t val, uint64_t ns);
void	nbmem_os_futex_wake(uint32_t *addr, int n);
/* Wake calls made (each a system call): for the tests. */
extern uint64_t nbmem_os_nfutex_wake;

/*
 * Asymmetric memory barrier (Linux membarrier(2)): after
 * nbmem_os_membarrier() returns, every other thread of the process has
 * passed a full barrier.  _init() returns false when the kernel offers
 * none (callers then fence on their fast side instead).  Returns 0 or an
 * errno value.
 */
bool	nbmem_os_membarrier_init(void);
int	nbmem_os_membarrier(void);

/* A spin-wait hint to the CPU (pause / yield). */
static inline void
nbmem_os_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

/* Monotonic clock, nanoseconds. */
uint64_t nbmem_os_now_ns(void);
/* Has the process only one thread (false when the C library cannot say)? */
bool	nbmem_os_single_threaded(void);
/* Write to standard error, whole, ignoring errors; never allocates. */
void	nbmem_os_write_err(const char *buf, size_t len);
/* Write to a descriptor, whole, ignoring errors; never allocates. */
void	nbmem_os_write_fd(int fd, const char *buf, size_t len);
/*
 * Print a backtrace of the calling thread to standard error, once
 * nbmem_os_backtrace_init() has loaded the unwinder; before that, a line
 * saying how to get one (loading it then could allocate).
 */
void	nbmem_os_backtrace(void);
/* Up to n return addresses of the calling thread; how many were taken. */
int	nbmem_os_backtrace_capture(void **frames, int n);
/* Print captured frames, symbolised where possible; never allocates. */
void	nbmem_os_backtrace_print(int fd, void *const *frames, int n);
/* Load the unwinder (it allocates): backtraces work from then on. */
void	nbmem_os_backtrace_init(void);
/*
 * At exit, before a leak report: the C library gives back the memory it
 * keeps for itself to the end (glibc's __libc_freeres, as mtrace(3) and
 * valgrind call it), and libstdc++ its own (__gnu_cxx::__freeres, as
 * valgrind calls it); nothing where they have no such call.
 */
void	nbmem_os_libc_freeres(void);
void	nbmem_os_abort(void) __attribute__((__noreturn__));
/*
 * getenv that is safe before the C library is fully up; NULL in a
 * set-user-ID or set-group-ID program.
 */
const char *nbmem_os_getenv(const char *name);
/* The memory limit of the process's cgroup (v2 memory.max), 0 if none. */
size_t	nbmem_os_cgroup_memlimit(void);
/* Number of CPUs configured. */
unsigned int nbmem_os_ncpu(void);

#endif /* NBMEM_OS_H */

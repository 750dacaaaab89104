/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * os_linux.c: the operating-system seam on Linux.
 *
 * The only file of the library that makes system calls.  Reservations are
 * PROT_NONE + MAP_NORESERVE mappings (no commit charge); committing a
 * range maps fresh anonymous pages over it with MAP_FIXED, which also
 * guarantees that they read as zero; decommitting maps PROT_NONE over it
 * again, which drops the pages at once (cheaper to reason about than
 * MADV_DONTNEED followed by mprotect).
 */
#ifndef _GNU_SOURCE
#define	_GNU_SOURCE		/* mremap(2) and its flags */
#endif
#include <sys/auxv.h>
#include <sys/mman.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>

#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <ucontext.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__has_include)
#if __has_include(<sys/single_threaded.h>)
#include <sys/single_threaded.h>
#define	NBMEM_HAVE_SINGLE_THREADED	1
#endif
#endif

#include "os/os.h"

#ifndef MAP_FIXED_NOREPLACE
#define	MAP_FIXED_NOREPLACE	0x100000
#endif

static size_t os_pagesize;

static int
os_prot(int prot)
{
	int p = PROT_NONE;

	if (prot & NBMEM_OS_PROT_READ)
		p |= PROT_READ;
	if (prot & NBMEM_OS_PROT_WRITE)
		p |= PROT_WRITE;
	if (prot & NBMEM_OS_PROT_EXEC)
		p |= PROT_EXEC;
	return p;
}

size_t
nbmem_os_va_span(void)
{
	static size_t span;
	size_t s = __atomic_load_n(&span, __ATOMIC_RELAXED);

	if (s == 0) {
		/*
		 * The highest of this frame (on some thread's stack) and
		 * AT_RANDOM's bytes (at the top of the main one).
		 */
		uintptr_t top = (uintptr_t)__builtin_frame_address(0);
		uintptr_t stk = (uintptr_t)getauxval(AT_RANDOM);
		int bits;

		if (stk > top)
			top = stk;
		bits = 64 - __builtin_clzll((unsigned long long)top | 1);
		s = bits >= 63 ? SIZE_MAX / 2 + 1 : (size_t)1 << bits;
		__atomic_store_n(&span, s, __ATOMIC_RELAXED);
	}
	return s;
}

size_t
nbmem_os_pagesize(void)
{
	size_t ps = __atomic_load_n(&os_pagesize, __ATOMIC_RELAXED);

	if (__builtin_expect(ps == 0, 0)) {
		long v = sysconf(_SC_PAGESIZE);
		ps = v > 0 ? (size_t)v : 4096;
		__atomic_store_n(&os_pagesize, ps, __ATOMIC_RELAXED);
	}
	return ps;
}

static int
os_flags(int prot, bool populate)
{
	int fl = MAP_PRIVATE | MAP_ANONYMOUS;

	if (prot == NBMEM_OS_PROT_NONE)
		fl |= MAP_NORESERVE;
	else if (populate)
		fl |= MAP_POPULATE;
	return fl;
}

void *
nbmem_os_map(size_t size, size_t align, int prot, bool populate)
{
	size_t ps = nbmem_os_pagesize();
	void *p;

	if (align <= ps) {
		p = mmap(NULL, size, os_prot(prot), os_flags(prot, populate),
		    -1, 0);
		return p == MAP_FAILED ? NULL : p;
	}
	/*
	 * Over-reserve by the alignment, then trim the unaligned head and
	 * the tail; only the kept part is committed.
	 */
	if (size + align < size)
		return NULL;
	p = mmap(NULL, size + align, PROT_NONE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	uintptr_t a = (uintptr_t)p;
	uintptr_t aligned = (a + align - 1) & ~(uintptr_t)(align - 1);
	size_t head = aligned - a, tail = align - head;
	if (head != 0)
		munmap(p, head);
	if (tail != 0)
		munmap((void *)(aligned + size), tail);
	if (prot != NBMEM_OS_PROT_NONE &&
	    nbmem_os_commit((void *)aligned, size, prot, populate) != 0) {
		munmap((void *)aligned, size);
		return NULL;
	}
	return (void *)aligned;
}

void *
nbmem_os_map_at(void *addr, size_t size, int prot, bool populate)
{
	void *p = mmap(addr, size, os_prot(prot),
	    os_flags(prot, populate) | MAP_FIXED_NOREPLACE, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (p != addr) {	/* kernels before 4.17 take it as a hint */
		munmap(p, size);
		return NULL;
	}
	return p;
}

/* Small pages only (nbmem_os_map_lazy); errno left as it was. */
static void
os_nohuge(void *p, size_t size)
{
#ifdef MADV_NOHUGEPAGE
	int saved = errno;

	(void)madvise(p, size, MADV_NOHUGEPAGE);
	errno = saved;
#else
	(void)p;
	(void)size;
#endif
}

void *
nbmem_os_map_lazy(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	os_nohuge(p, size);
	return p;
}

int
nbmem_os_remap_lazy(void *addr, size_t size)
{
	int saved = errno;
	int error = nbmem_os_commit(addr, size, NBMEM_OS_PROT_RW, false);

	if (error == 0)
		os_nohuge(addr, size);
	errno = saved;
	return error;
}

/*
 * open(2), read(2) and close(2) of the files below, as system calls of
 * our own: the C library's are cancellation points, which malloc must
 * not be (POSIX allows none outside its lists: a thread with a request
 * pending would be cancelled inside malloc, its block and a descriptor
 * lost), and a program may define them in front of the C library's
 * (and allocate there).  They set errno as the C library's do.
 */
static int
os_open_rd(const char *path)
{
	long fd = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);

	return fd < 0 ? -1 : (int)fd;
}

static ssize_t
os_read(int fd, void *buf, size_t n)
{
	long got;

	do
		got = syscall(SYS_read, fd, buf, n);
	while (got < 0 && errno == EINTR);
	return (ssize_t)got;
}

static void
os_close(int fd)
{
	(void)syscall(SYS_close, fd);
}

/*
 * The start of a small /proc or /sys file into buf, NUL-terminated: its
 * length, or -1 (nothing read).  errno is left as it was.
 */
static ssize_t
os_read_small(const char *path, char *buf, size_t size)
{
	int saved = errno, fd = os_open_rd(path);
	ssize_t n = -1;

	if (fd >= 0) {
		n = os_read(fd, buf, size - 1);
		os_close(fd);
	}
	buf[n > 0 ? n : 0] = '\0';
	errno = saved;
	return n > 0 ? n : -1;
}

/* The number that buf starts with (0 when it starts with no digit). */
static size_t
os_digits(const char *buf)
{
	size_t v = 0;

	for (; *buf >= '0' && *buf <= '9'; buf++)
		v = v * 10 + (size_t)(*buf - '0');
	return v;
}

/* vm.overcommit_memory's digit, '0' when it cannot be read. */
static char
os_overcommit_mode(void)
{
	char buf[4];

	return os_read_small("/proc/sys/vm/overcommit_memory", buf,
	    sizeof(buf)) > 0 ? buf[0] : '0';
}

/*
 * The lines of a /proc file up to max (reads through a buffer on the
 * stack, no allocation), or -1 when it cannot be read.  Tells the
 * mappings of the process from /proc/self/maps: the kernel makes the
 * text as it is read, 5 MiB and 21 ms for 60,000 mappings, so the
 * reading stops once the count is known to reach max.
 */
static long
os_count_lines(const char *path, long max)
{
	char buf[4096];
	int saved = errno, fd;
	long n = 0;
	ssize_t got = 0;

	fd = os_open_rd(path);
	if (fd < 0) {
		errno = saved;
		return -1;
	}
	while (n < max && (got = os_read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < got; i++)
			n += buf[i] == '\n';
	if (n < max && got < 0)
		n = -1;
	os_close(fd);
	errno = saved;
	return n;
}

long
nbmem_os_nmappings(long max)
{
	return os_count_lines("/proc/self/maps", max);
}

long
nbmem_os_max_mappings(void)
{
	char buf[32];
	size_t v;

	(void)os_read_small("/proc/sys/vm/max_map_count", buf, sizeof(buf));
	v = os_digits(buf);
	return v > 0 && v <= LONG_MAX ? (long)v : 65530; /* the default */
}

bool
nbmem_os_overcommit_strict(void)
{
	return os_overcommit_mode() == '2';
}

size_t
nbmem_os_commit_limit(void)
{
	static size_t limit;	/* 0: not read yet */
	size_t l = __atomic_load_n(&limit, __ATOMIC_RELAXED);
	struct sysinfo si;
	int saved = errno;

	if (l != 0)
		return l;
	l = SIZE_MAX;
	if (os_overcommit_mode() == '0' && sysinfo(&si) == 0 &&
	    si.mem_unit != 0) {
		unsigned __int128 b = ((unsigned __int128)si.totalram +
		    si.totalswap) * si.mem_unit;
		if (b != 0 && b < SIZE_MAX)
			l = (size_t)b;
	}
	errno = saved;
	__atomic_store_n(&limit, l, __ATOMIC_RELAXED);
	return l;
}

void
nbmem_os_unmap(void *addr, size_t size)
{
	(void)munmap(addr, size);
}

uint64_t nbmem_os_ncommit;

int
nbmem_os_commit(void *addr, size_t size, int prot, bool populate)
{
	int saved = errno, error = 0;

	__atomic_fetch_add(&nbmem_os_ncommit, 1, __ATOMIC_RELAXED);
	void *p = mmap(addr, size, os_prot(prot),
	    os_flags(prot, populate) | MAP_NORESERVE | MAP_FIXED, -1, 0);

	/* The error is returned: errno stays the caller's. */
	if (p == MAP_FAILED)
		error = errno;
	errno = saved;
	return error;
}

int
nbmem_os_decommit(void *addr, size_t size)
{
	int saved = errno, error = 0;
	void *p = mmap(addr, size, PROT_NONE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);

	if (p == MAP_FAILED)
		error = errno;
	errno = saved;
	return error;
}

/*
 * mremap(2) with MREMAP_DONTUNMAP (Linux 5.7 and later, private
 * anonymous mappings): the page tables move, and the source range stays
 * mapped, so no other mapping can land in it meanwhile.
 */
int
nbmem_os_move(void *from, void *to, size_t size)
{
#ifdef MREMAP_DONTUNMAP
	int saved = errno, error = 0;
	void *p = mremap(from, size, size, MREMAP_MAYMOVE | MREMAP_FIXED |
	    MREMAP_DONTUNMAP, to);

	if (p == MAP_FAILED)
		error = errno;
	errno = saved;
	return error;
#else
	(void)from;
	(void)to;
	(void)size;
	return ENOSYS;
#endif
}

int
nbmem_os_protect(void *addr, size_t size, int prot)
{
	return mprotect(addr, size, os_prot(prot)) == 0 ? 0 : errno;
}

int
nbmem_os_purge(void *addr, size_t size)
{
	int saved = errno, error = 0;

	if (madvise(addr, size, MADV_DONTNEED) != 0)
		error = errno;
	errno = saved;
	return error;
}

bool
nbmem_os_resident(const void *addr)
{
	int saved = errno;
	unsigned char v = 0;
	bool in;

	in = mincore((void *)((uintptr_t)addr & ~(uintptr_t)
	    (nbmem_os_pagesize() - 1)), 1, &v) == 0 && (v & 1) != 0;
	errno = saved;
	return in;
}

int
nbmem_os_mlock(void *addr, size_t size)
{
	return mlock(addr, size) == 0 ? 0 : errno;
}

static void
os_sigblockset(sigset_t *set)
{
	sigfillset(set);
	/* Faults are synchronous: blocking them would only hide bugs. */
	sigdelset(set, SIGSEGV);
	sigdelset(set, SIGBUS);
	sigdelset(set, SIGFPE);
	sigdelset(set, SIGILL);
	sigdelset(set, SIGTRAP);
	sigdelset(set, SIGABRT);
	sigdelset(set, SIGSYS);
}

uint64_t nbmem_os_nsigblock;

void
nbmem_os_sigblock(sigset_t *old)
{
	static sigset_t all;
	static int ready;

	__atomic_fetch_add(&nbmem_os_nsigblock, 1, __ATOMIC_RELAXED);

	if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
		sigset_t s;
		os_sigblockset(&s);
		all = s;
		__atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
	}
	pthread_sigmask(SIG_BLOCK, &all, old);
}

void
nbmem_os_sigrestore(const sigset_t *old)
{
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

/*
 * Whether a signal's disposition runs code: read with the system call,
 * not sigaction(3), which the malloc library defines in front of the C
 * library's.  The kernel's structure starts with the handler on every
 * platform nbmem runs on; the buffer is larger than any of them.
 */
static bool
os_sig_handled(int sig)
{
	union {
		void		*k_handler;
		uint64_t	k_words[16];
	} k;

	if (syscall(SYS_rt_sigaction, sig, NULL, &k, sizeof(uint64_t)) != 0)
		return true;		/* unknown: keep it blocked */
	return k.k_handler != (void *)SIG_DFL && k.k_handler != (void *)SIG_IGN;
}

void
nbmem_os_sigwaitmask(const sigset_t *orig, bool open, sigset_t *out)
{
	int saved = errno;
	sigset_t blockable;

	if (open) {
		*out = *orig;
		return;
	}
	/*
	 * Open only what `orig' leaves open: the signals the library never
	 * blocks (the faults, SIGABRT) too, which the thread may block.
	 */
	os_sigblockset(&blockable);
	sigfillset(out);
	for (int sig = 1; sig < NSIG; sig++)
		if (!sigismember(orig, sig) && (!sigismember(&blockable, sig) ||
		    !os_sig_handled(sig)))
			sigdelset(out, sig);
	errno = saved;
}

void
nbmem_os_futex_wait(uint32_t *addr, uint32_t val, uint64_t ns)
{
	struct timespec ts, *tsp = NULL;

	int saved = errno;	/* callable from signal handlers */

	if (ns != 0) {
		ts.tv_sec = (time_t)(ns / 1000000000u);
		ts.tv_nsec = (long)(ns % 1000000000u);
		tsp = &ts;
	}
	(void)syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, tsp, NULL, 0);
	errno = saved;
}

uint64_t nbmem_os_nfutex_wake;

void
nbmem_os_futex_wake(uint32_t *addr, int n)
{
	int saved = errno;

	__atomic_fetch_add(&nbmem_os_nfutex_wake, 1, __ATOMIC_RELAXED);
	(void)syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
	errno = saved;
}

static int os_mb_cmd;		/* 0: no membarrier */

static long
os_membarrier_call(int cmd)
{
	return syscall(SYS_membarrier, cmd, 0, 0);
}

bool
nbmem_os_membarrier_init(void)
{
	long mask = os_membarrier_call(MEMBARRIER_CMD_QUERY);

	if (mask > 0 && (mask & MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 &&
	    os_membarrier_call(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0)
		os_mb_cmd = MEMBARRIER_CMD_PRIVATE_EXPEDITED;
	else if (mask > 0 && (mask & MEMBARRIER_CMD_GLOBAL) != 0)
		os_mb_cmd = MEMBARRIER_CMD_GLOBAL;
	else
		os_mb_cmd = 0;
	return os_mb_cmd != 0;
}

int
nbmem_os_membarrier(void)
{
	int saved = errno, error = 0;

	if (os_mb_cmd == 0)
		return ENOSYS;
	if (os_membarrier_call(os_mb_cmd) != 0) {
		error = errno;
		/* A fork child may have to register again. */
		if (error == EPERM &&
		    os_mb_cmd == MEMBARRIER_CMD_PRIVATE_EXPEDITED &&
		    os_membarrier_call(
		    MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0 &&
		    os_membarrier_call(os_mb_cmd) == 0)
			error = 0;
	}
	errno = saved;
	return error;
}

uint64_t
nbmem_os_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * glibc 2.32 and later keep __libc_single_threaded true until the
 * process creates its first thread (and again in a fork child).
 */
bool
nbmem_os_single_threaded(void)
{
#ifdef NBMEM_HAVE_SINGLE_THREADED
	return __libc_single_threaded != 0;
#else
	return false;
#endif
}

void
nbmem_os_write_err(const char *buf, size_t len)
{
	nbmem_os_write_fd(STDERR_FILENO, buf, len);
}

void
nbmem_os_write_fd(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

/* The unwinder was loaded: backtrace(3) no longer allocates. */
static bool bt_loaded;

void
nbmem_os_backtrace_init(void)
{
	void *frames[2];

	/* The first call loads the unwinder, which may allocate. */
	(void)backtrace(frames, 2);
	__atomic_store_n(&bt_loaded, true, __ATOMIC_RELEASE);
}

/* glibc's, for memory debuggers; weak: other C libraries lack it. */
extern void __libc_freeres(void) __attribute__((__weak__));
/*
 * libstdc++'s (__gnu_cxx::__freeres, GCC 8), which frees the emergency
 * pool for exceptions it keeps to the end (72 KiB of every C++
 * program's, a leak report's without it); weak: a program without
 * libstdc++ lacks it.  Valgrind calls both, this one first.
 */
extern void cxx_freeres(void) __asm__("_ZN9__gnu_cxx9__freeresEv")
    __attribute__((__weak__));

/*
 * __libc_freeres closes the unwinder backtrace(3) loaded, which crashed
 * in it on the next capture (cc1, a free of __libc_freeres's own under
 * NBMEM_DEBUG=leaks): no backtrace from then on.
 */
static bool bt_gone;

void
nbmem_os_libc_freeres(void)
{
	if (cxx_freeres != NULL)
		cxx_freeres();
	if (__libc_freeres == NULL)
		return;
	__atomic_store_n(&bt_gone, true, __ATOMIC_RELEASE);
	__libc_freeres();
}

void
nbmem_os_backtrace(void)
{
	static const char hint[] = "nbmem: no backtrace: the unwinder is "
	    "loaded at start-up with NBMEM_BACKTRACE=1 or an NBMEM_DEBUG "
	    "mode\n";
	static const char gone[] = "nbmem: no backtrace: the unwinder was "
	    "unloaded at exit\n";
	void *frames[64];
	int n;

	if (__atomic_load_n(&bt_gone, __ATOMIC_ACQUIRE)) {
		nbmem_os_write_err(gone, sizeof(gone) - 1);
		return;
	}
	if (!__atomic_load_n(&bt_loaded, __ATOMIC_ACQUIRE)) {
		nbmem_os_write_err(hint, sizeof(hint) - 1);
		return;
	}
	n = backtrace(frames, 64);
	backtrace_symbols_fd(frames, n, STDERR_FILENO);
}

int
nbmem_os_backtrace_capture(void **frames, int n)
{
	if (__atomic_load_n(&bt_gone, __ATOMIC_ACQUIRE))
		return 0;
	return backtrace(frames, n);
}

void
nbmem_os_backtrace_print(int fd, void *const *frames, int n)
{
	backtrace_symbols_fd(frames, n, fd);
}

void
nbmem_os_abort(void)
{
	abort();
}

/*
 * secure_getenv: a set-user-ID or set-group-ID program (AT_SECURE) sees
 * no variable, so that whoever runs it sets neither its memory budget
 * (allocations that fail on purpose) nor a debug report of its
 * addresses, as glibc ignores its malloc tunables there.
 */
const char *
nbmem_os_getenv(const char *name)
{
	return secure_getenv(name);
}

size_t
nbmem_os_cgroup_memlimit(void)
{
	char buf[64];

	(void)os_read_small("/sys/fs/cgroup/memory.max", buf, sizeof(buf));
	return os_digits(buf);	/* "max" parses as 0: no limit */
}

unsigned int
nbmem_os_ncpu(void)
{
	long n = sysconf(_SC_NPROCESSORS_CONF);

	return n > 0 ? (unsigned int)n : 1;
}

/* ---- memory faults (NBMEM_DEBUG=guard) */

static void (*os_fault_fn)(uintptr_t, int);
static struct sigaction os_fault_prev;

static void
os_fault_handler(int sig, siginfo_t *si, void *ctx)
{
	int write = -1;

	(void)sig;
#if defined(__x86_64__)
	/*
	 * The page-fault error code, gregs[REG_ERR] (19; the name needs
	 * _GNU_SOURCE): bit 1 set for a write.
	 */
	write = (((ucontext_t *)ctx)->uc_mcontext.gregs[19] & 2) != 0;
#else
	(void)ctx;
#endif
	(*os_fault_fn)((uintptr_t)si->si_addr, write);
	(void)sigaction(SIGSEGV, &os_fault_prev, NULL);
}

int
nbmem_os_fault_hook(void (*fn)(uintptr_t addr, int write))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = os_fault_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	os_fault_fn = fn;
	return sigaction(SIGSEGV, &sa, &os_fault_prev) == 0 ? 0 : errno;
}

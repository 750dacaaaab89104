/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * os/shm_linux.c: os/shm.h on Linux.  The segment is a memfd: it has no
 * name in any file system, so a process that dies, even by abort(),
 * leaves nothing behind; other processes of the same user open it
 * through /proc/PID/fd.
 */
#define	_GNU_SOURCE
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <linux/futex.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shm.h"

/* The publisher needs little: no deep calls, no large locals. */
#define	SHM_THREAD_STACK	(128 * 1024)

/*
 * Move the segment's descriptor out of the program's way, to 48 or
 * above (half the soft limit when that is lower): programs count on
 * open() returning the lowest free number, 3 for the first file, and
 * the library starts before them.  Not higher: a descriptor past the
 * 64 the kernel's first table holds makes it grow the table, which in
 * a process with threads waits for an RCU grace period (the malloc
 * library starts this late, bench/macro large: 8 ms more with the
 * descriptor at 10,000).  Where the limit leaves no room it stays.
 */
#define	SHM_FD_MIN	48

static int
shm_fd_high(int fd)
{
	struct rlimit rl;
	rlim_t lo;
	int hi;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return fd;
	lo = rl.rlim_cur / 2 < SHM_FD_MIN ? rl.rlim_cur / 2 : SHM_FD_MIN;
	if (lo <= (rlim_t)fd ||
	    (hi = fcntl(fd, F_DUPFD_CLOEXEC, (int)lo)) < 0)
		return fd;
	(void)close(fd);
	return hi;
}

bool
nbmem_os_shm_create(struct nbmem_shm *shm, const char *name, size_t size)
{
	int fd = memfd_create(name, MFD_CLOEXEC);
	struct stat st;
	void *p;

	if (fd < 0)
		return false;
	fd = shm_fd_high(fd);
	if (fchmod(fd, 0600) != 0 || ftruncate(fd, (off_t)size) != 0 ||
	    fstat(fd, &st) != 0)
		goto fail;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		goto fail;
	shm->shm_fd = fd;
	shm->shm_map = p;
	shm->shm_size = size;
	shm->shm_dev = (uint64_t)st.st_dev;
	shm->shm_ino = (uint64_t)st.st_ino;
	return true;
fail:
	(void)close(fd);
	return false;
}

bool
nbmem_os_shm_ours(const struct nbmem_shm *shm)
{
	struct stat st;

	return shm->shm_fd >= 0 && fstat(shm->shm_fd, &st) == 0 &&
	    (uint64_t)st.st_dev == shm->shm_dev &&
	    (uint64_t)st.st_ino == shm->shm_ino;
}

int
nbmem_os_shm_grow(struct nbmem_shm *shm, size_t newsize)
{
	void *p;

	if (!nbmem_os_shm_ours(shm) ||
	    ftruncate(shm->shm_fd, (off_t)newsize) != 0)
		return -1;
	p = mremap(shm->shm_map, shm->shm_size, newsize, MREMAP_MAYMOVE);
	if (p == MAP_FAILED)
		return -1;
	shm->shm_map = p;
	shm->shm_size = newsize;
	return 0;
}

void
nbmem_os_shm_destroy(struct nbmem_shm *shm)
{
	if (shm->shm_map != NULL)
		(void)munmap(shm->shm_map, shm->shm_size);
	if (nbmem_os_shm_ours(shm))
		(void)close(shm->shm_fd);
	shm->shm_fd = -1;
	shm->shm_map = NULL;
	shm->shm_size = 0;
}

void
nbmem_os_futex_wait_shared(uint32_t *addr, uint32_t val, uint64_t ns)
{
	struct timespec ts, *tsp = NULL;
	int saved = errno;

	if (ns != 0) {
		ts.tv_sec = (time_t)(ns / 1000000000u);
		ts.tv_nsec = (long)(ns % 1000000000u);
		tsp = &ts;
	}
	(void)syscall(SYS_futex, addr, FUTEX_WAIT, val, tsp, NULL, 0);
	errno = saved;
}

void
nbmem_os_futex_wake_shared(uint32_t *addr, int n)
{
	int saved = errno;

	(void)syscall(SYS_futex, addr, FUTEX_WAKE, n, NULL, NULL, 0);
	errno = saved;
}

bool
nbmem_os_thread_start(void *(*fn)(void *))
{
	pthread_attr_t attr;
	pthread_t t;
	sigset_t all, old;
	bool ok;

	if (pthread_attr_init(&attr) != 0)
		return false;
	(void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	(void)pthread_attr_setstacksize(&attr, SHM_THREAD_STACK);
	/* The new thread inherits the mask: it never takes a signal. */
	sigfillset(&all);
	(void)pthread_sigmask(SIG_SETMASK, &all, &old);
	ok = pthread_create(&t, &attr, fn, NULL) == 0;
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	(void)pthread_attr_destroy(&attr);
	return ok;
}

void
nbmem_os_thread_setname(const char *name)
{
	(void)prctl(PR_SET_NAME, name, 0, 0, 0);
}

unsigned int
nbmem_os_getpid(void)
{
	return (unsigned int)getpid();
}

void
nbmem_os_comm(char buf[16])
{
	memset(buf, 0, 16);
	if (prctl(PR_GET_NAME, buf, 0, 0, 0) != 0)
		(void)strcpy(buf, "?");
	buf[15] = '\0';
}

uint64_t
nbmem_os_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

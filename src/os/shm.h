/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * os/shm.h: what the statistics segment (stats.c) needs from the
 * operating system: an anonymous shared-memory file other processes of
 * the same user can open, futexes that work across processes, and a
 * service thread.  One implementation per platform (shm_linux.c).
 */
#ifndef NBMEM_OS_SHM_H
#define NBMEM_OS_SHM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A shared-memory segment: its descriptor, mapping and identity. */
struct nbmem_shm {
	int		shm_fd;
	void		*shm_map;
	size_t		shm_size;	/* bytes mapped (the file's size) */
	uint64_t	shm_dev, shm_ino;
};

/*
 * A new shared-memory file of `size' bytes, mode 0600, closed on exec,
 * mapped shared read-write.  False when it cannot be made.
 */
bool	nbmem_os_shm_create(struct nbmem_shm *, const char *name, size_t size);
/*
 * True while shm_fd still names the segment: a program may close
 * descriptors it did not open, and the number may be reused for a
 * file of its own, which must never be resized.
 */
bool	nbmem_os_shm_ours(const struct nbmem_shm *);
/* Grow the file to `newsize' (checked to be ours) and remap.  0 or -1. */
int	nbmem_os_shm_grow(struct nbmem_shm *, size_t newsize);
/* Unmap, and close the descriptor when it is still ours. */
void	nbmem_os_shm_destroy(struct nbmem_shm *);

/* Futexes on memory shared between processes. */
void	nbmem_os_futex_wait_shared(uint32_t *addr, uint32_t val, uint64_t ns);
void	nbmem_os_futex_wake_shared(uint32_t *addr, int n);

/*
 * Start a detached service thread running fn(NULL): every signal
 * blocked in it, a small stack.  False when it cannot.
 */
bool	nbmem_os_thread_start(void *(*fn)(void *));
/* Name the calling thread (15 characters kept). */
void	nbmem_os_thread_setname(const char *);

unsigned int nbmem_os_getpid(void);
/* The calling thread's name (the command name, from the main thread). */
void	nbmem_os_comm(char buf[16]);
/* CLOCK_REALTIME in nanoseconds. */
uint64_t nbmem_os_realtime_ns(void);

#endif /* NBMEM_OS_SHM_H */

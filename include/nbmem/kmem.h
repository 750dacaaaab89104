/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * nbmem/kmem.h: the kmem(3) general-purpose allocator.
 *
 * Names, signatures and flag names are NetBSD's kmem(9); the caller
 * passes the size back to kmem_free().  Every function is MT-Safe.
 * kmem_intr_alloc(), kmem_intr_zalloc() with KM_NOSLEEP and
 * kmem_intr_free() are also async-signal-safe; kmem_alloc(),
 * kmem_zalloc() and kmem_free() must not be called from a signal handler
 * (nbmem_intr_enter() marks one), as in NetBSD's interrupt context.
 */
#ifndef NBMEM_KMEM_H
#define NBMEM_KMEM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef unsigned int km_flag_t;

/* Exactly one of these; the values are those of PR_WAITOK, PR_NOWAIT. */
#define	KM_SLEEP	0x00000001	/* may sleep; never returns NULL */
#define	KM_NOSLEEP	0x00000002	/* never sleeps; may return NULL */

void	kmem_init(void);
size_t	kmem_roundup_size(size_t);

void	*kmem_alloc(size_t, km_flag_t);
void	*kmem_zalloc(size_t, km_flag_t);
void	kmem_free(void *, size_t);

void	*kmem_intr_alloc(size_t, km_flag_t);
void	*kmem_intr_zalloc(size_t, km_flag_t);
void	kmem_intr_free(void *, size_t);

char	*kmem_asprintf(const char *, ...)
	    __attribute__((__format__(__printf__, 1, 2)));
char	*kmem_strdupsize(const char *, size_t *, km_flag_t);
#define	kmem_strdup(s, f)	kmem_strdupsize((s), NULL, (f))
char	*kmem_strndup(const char *, size_t, km_flag_t);
void	kmem_strfree(char *);

void	*kmem_tmpbuf_alloc(size_t, void *, size_t, km_flag_t);
void	kmem_tmpbuf_free(void *, size_t, void *);

#ifdef __cplusplus
}
#endif

#endif /* NBMEM_KMEM_H */

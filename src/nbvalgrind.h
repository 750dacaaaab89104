/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * nbvalgrind.h: what the allocators tell Valgrind's memcheck and
 * AddressSanitizer about the objects they hand out and take back.
 *
 * Both tools see only the pages nbmem maps; without help they cannot
 * tell a live object from a cached or a free one.  pool(3), pool_cache(3)
 * and kmem(3) therefore describe their objects (debug_pool.c,
 * debug_kmem.c): an object handed out is a block memcheck knows about
 * (VALGRIND_MALLOCLIKE_BLOCK, defined when it holds constructed state),
 * one given back is freed (VALGRIND_FREELIKE_BLOCK) and inaccessible,
 * and ASan poisons cached and free objects.  The client requests are
 * a handful of instructions that do nothing outside Valgrind; they are
 * only reached on the slow paths the debug modes use, which the caches
 * take under memcheck (nbmem_debug_memcheck) and in ASan builds
 * (NBMEM_ASAN).  Without <valgrind/memcheck.h> at build time, the
 * memcheck hooks compile to nothing.
 */
#ifndef NBMEM_NBVALGRIND_H
#define NBMEM_NBVALGRIND_H

#include <stddef.h>

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define	NBMEM_HAVE_MEMCHECK	1
#endif
#endif
#ifndef NBMEM_HAVE_MEMCHECK
#define	NBMEM_HAVE_MEMCHECK	0
#endif

/* AddressSanitizer build: gcc says __SANITIZE_ADDRESS__, clang a feature. */
#if defined(__SANITIZE_ADDRESS__)
#define	NBMEM_ASAN	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define	NBMEM_ASAN	1
#endif
#endif
#ifndef NBMEM_ASAN
#define	NBMEM_ASAN	0
#endif

/*
 * NBMEM_ASAN_LIVE(p, n): how many bytes from p on ASan lets the program
 * touch (n when none of [p, p+n) is poisoned; always n without ASan).
 */
#if NBMEM_ASAN
void	__asan_poison_memory_region(void const volatile *, size_t);
void	__asan_unpoison_memory_region(void const volatile *, size_t);
void	*__asan_region_is_poisoned(void *, size_t);
#define	NBMEM_ASAN_POISON(p, n)	__asan_poison_memory_region((p), (n))
#define	NBMEM_ASAN_UNPOISON(p, n) __asan_unpoison_memory_region((p), (n))
static inline size_t
NBMEM_ASAN_LIVE(void *p, size_t n)
{
	char *bad = __asan_region_is_poisoned(p, n);

	return bad == NULL ? n : (size_t)(bad - (char *)p);
}
#else
#define	NBMEM_ASAN_POISON(p, n)	((void)(p), (void)(n))
#define	NBMEM_ASAN_UNPOISON(p, n) ((void)(p), (void)(n))
#define	NBMEM_ASAN_LIVE(p, n)	((void)(p), (size_t)(n))
#endif

#if NBMEM_HAVE_MEMCHECK
#define	NBMEM_VG_RUNNING()		(RUNNING_ON_VALGRIND != 0)
#define	NBMEM_VG_MALLOCLIKE(p, n, zeroed)				\
	VALGRIND_MALLOCLIKE_BLOCK((p), (n), 0, (zeroed))
#define	NBMEM_VG_FREELIKE(p)		VALGRIND_FREELIKE_BLOCK((p), 0)
#define	NBMEM_VG_RESIZE(p, o, n)	VALGRIND_RESIZEINPLACE_BLOCK((p), (o), (n), 0)
#define	NBMEM_VG_NOACCESS(p, n)		VALGRIND_MAKE_MEM_NOACCESS((p), (n))
#define	NBMEM_VG_UNDEFINED(p, n)	VALGRIND_MAKE_MEM_UNDEFINED((p), (n))
#define	NBMEM_VG_DEFINED(p, n)		VALGRIND_MAKE_MEM_DEFINED((p), (n))
#else
#define	NBMEM_VG_RUNNING()		0
#define	NBMEM_VG_MALLOCLIKE(p, n, zeroed) ((void)(p), (void)(n), (void)(zeroed))
#define	NBMEM_VG_FREELIKE(p)		((void)(p))
#define	NBMEM_VG_RESIZE(p, o, n)	((void)(p), (void)(o), (void)(n))
#define	NBMEM_VG_NOACCESS(p, n)		((void)(p), (void)(n))
#define	NBMEM_VG_UNDEFINED(p, n)	((void)(p), (void)(n))
#define	NBMEM_VG_DEFINED(p, n)		((void)(p), (void)(n))
#endif

#endif /* NBMEM_NBVALGRIND_H */

/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * nbmem/pool.h: the pool(3) and pool_cache(3) allocators.
 *
 * Names, signatures, flag names and the public struct pool fields are
 * NetBSD's pool(9) and pool_cache(9).  The caller owns struct pool and,
 * for pool_cache_bootstrap(), struct pool_cache storage; the fields
 * named pr_* and pc_* below may be read (they are what ported code and
 * vmstat read) but are written only by the library; the *_private areas
 * are opaque.  Every function is MT-Safe.  Pools and caches created
 * above IPL_NONE are async-signal-safe for pool_get/pool_cache_get with
 * PR_NOWAIT and for pool_put/pool_cache_put.
 */
#ifndef NBMEM_POOL_H
#define NBMEM_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nbmem/intr.h>
#include <nbmem/uvm_km.h>	/* paddr_t */

#ifdef __cplusplus
extern "C" {
#endif

/* get flags */
#define	PR_WAITOK	0x01		/* may sleep; = KM_SLEEP */
#define	PR_NOWAIT	0x02		/* may not sleep; = KM_NOSLEEP */
#define	PR_LIMITFAIL	0x100		/* with PR_WAITOK: fail at hard limit */
#define	PR_ZERO		0x8000		/* zero the item */
/* init flags */
#define	PR_PHINPAGE	0x40		/* page header inside the page */
#define	PR_RECURSIVE	0x200		/* items are other pools' pages */
#define	PR_NOTOUCH	0x400		/* never write into a free item */
#define	PR_NOALIGN	0x800		/* allocator pages are not aligned */
#define	PR_LARGECACHE	0x1000		/* pool_cache: 63-object groups */
#define	PR_PSERIALIZE	0x20000		/* freed items may still be read */
/* internal state, visible in pr_flags / pr_roflags */
#define	PR_WANTED	0x04
#define	PR_GROWING	0x2000
#define	PR_GROWINGNOWAIT 0x4000
#define	PR_USEBMAP	0x10000

#define	POOL_PADDR_INVALID	((paddr_t)-1)

struct cpu_info;	/* the kernel's; only pool_cache_cpu_init names it */
struct pool;

struct pool_allocator {
	void		*(*pa_alloc)(struct pool *, int);
	void		(*pa_free)(struct pool *, void *);
	unsigned int	pa_pagesz;	/* 0: the system page size */
	/* private: set by the first pool_init that uses it */
	unsigned int	pa_refcnt;
	uintptr_t	pa_pagemask;
	unsigned int	pa_pageshift;
};

extern struct pool_allocator pool_allocator_kmem;	/* default */
extern struct pool_allocator pool_allocator_nointr;	/* thread context */
extern struct pool_allocator pool_allocator_meta;	/* metadata */

typedef struct pool_cache *pool_cache_t;

#define	POOL_PRIVATE_SIZE	448
#define	POOL_CACHE_PRIVATE_SIZE	512

struct pool {
	const char	*pr_wchan;	/* name (not copied) */
	unsigned int	pr_size;	/* item size, rounded */
	size_t		pr_reqsize;	/* item size asked at init */
	unsigned int	pr_align;
	unsigned int	pr_itemsperpage;
	struct pool_allocator *pr_alloc;
	unsigned int	pr_roflags;	/* init flags */
	unsigned int	pr_flags;	/* run-time state */
	int		pr_ipl;
	unsigned int	pr_nitems;	/* free items in pages */
	unsigned int	pr_nout;	/* items handed out */
	unsigned int	pr_npages;	/* pages held */
	unsigned int	pr_minitems;	/* low-water mark, items */
	unsigned int	pr_maxitems;	/* high-water mark, items */
	unsigned int	pr_minpages;
	unsigned int	pr_maxpages;	/* UINT_MAX: no ceiling */
	unsigned int	pr_hardlimit;	/* UINT_MAX: no limit */
	unsigned int	pr_hiwat;	/* most pages ever held */
	unsigned long	pr_nidle;	/* pages with no item out */
	unsigned long	pr_nget;	/* successful gets */
	unsigned long	pr_nfail;	/* failed gets */
	unsigned long	pr_nput;	/* puts */
	unsigned long	pr_npagealloc;	/* pages taken from the allocator */
	unsigned long	pr_npagefree;	/* pages given back */
	struct pool_cache *pr_cache;	/* attached cache, or NULL */
	void		(*pr_drain_hook)(void *, int);
	void		*pr_drain_hook_arg;
	void		*pr_qcache;	/* vmem quantum cache back-pointer */
	unsigned char	pr_private[POOL_PRIVATE_SIZE]
	    __attribute__((__aligned__(64)));
};

struct pool_cache {
	struct pool	pc_pool;	/* the pool layer under the cache */
	unsigned char	pc_private[POOL_CACHE_PRIVATE_SIZE]
	    __attribute__((__aligned__(64)));
};

/*
 * One pool's statistics, the record NetBSD's kern.pool sysctl returns
 * (vmstat -m and -C read it).  nbmem_pool_sysctl() fills up to n records,
 * one per pool (pools behind caches included) sorted by name, and returns
 * how many pools there are.  Per-CPU counters are merged on read.
 */
struct pool_sysctl {
	char		pr_wchan[16];
	uint64_t	pr_flags;
	uint64_t	pr_size;
	uint64_t	pr_pagesize;
	uint64_t	pr_itemsperpage;
	uint64_t	pr_nitems;
	uint64_t	pr_nout;
	uint64_t	pr_hardlimit;
	uint64_t	pr_npages;
	uint64_t	pr_minpages;
	uint64_t	pr_maxpages;
	uint64_t	pr_nget;
	uint64_t	pr_nfail;
	uint64_t	pr_nput;
	uint64_t	pr_npagealloc;
	uint64_t	pr_npagefree;
	uint64_t	pr_hiwat;
	uint64_t	pr_nidle;
	uint64_t	pr_cache_meta_size;
	uint64_t	pr_cache_nfull;
	uint64_t	pr_cache_npartial;
	uint64_t	pr_cache_nempty;
	uint64_t	pr_cache_ncontended;
	uint64_t	pr_cache_nmiss_global;
	uint64_t	pr_cache_nhit_global;
	uint64_t	pr_cache_nmiss_pcpu;
	uint64_t	pr_cache_nhit_pcpu;
};

size_t	nbmem_pool_sysctl(struct pool_sysctl *, size_t);

/* ---- pool(3) */
/* NetBSD's boot-time set-up; optional here, idempotent, MT-Safe. */
void	pool_subsystem_init(void);
void	pool_init(struct pool *, size_t, unsigned int, unsigned int, int,
	    const char *, struct pool_allocator *, int);
void	pool_destroy(struct pool *);
void	pool_set_drain_hook(struct pool *, void (*)(void *, int), void *);
void	*pool_get(struct pool *, int);
void	pool_put(struct pool *, void *);
int	pool_reclaim(struct pool *);
void	pool_prime(struct pool *, int);
void	pool_setlowat(struct pool *, int);
void	pool_sethiwat(struct pool *, int);
void	pool_sethardlimit(struct pool *, int, const char *, int);
bool	pool_drain(struct pool **);
int	pool_totalpages(void);
int	pool_totalpages_locked(void);
unsigned int pool_nget(struct pool *);
unsigned int pool_nput(struct pool *);
void	pool_printit(struct pool *, const char *, void (*)(const char *, ...));
void	pool_printall(const char *, void (*)(const char *, ...));
int	pool_chk(struct pool *, const char *);
void	pool_whatis(uintptr_t, void (*)(const char *, ...));

/* ---- pool_cache(3) */
pool_cache_t pool_cache_init(size_t, unsigned int, unsigned int, unsigned int,
	    const char *, struct pool_allocator *, int,
	    int (*)(void *, void *, int), void (*)(void *, void *), void *);
void	pool_cache_bootstrap(pool_cache_t, size_t, unsigned int, unsigned int,
	    unsigned int, const char *, struct pool_allocator *, int,
	    int (*)(void *, void *, int), void (*)(void *, void *), void *);
void	pool_cache_destroy(pool_cache_t);
void	pool_cache_bootstrap_destroy(pool_cache_t);
void	*pool_cache_get_paddr(pool_cache_t, int, paddr_t *);
void	pool_cache_put_paddr(pool_cache_t, void *, paddr_t);
/*
 * NetBSD makes pool_cache_get() a macro over pool_cache_get_paddr() with
 * a NULL address; a function of its own spares the fast path the test
 * of that argument.  Calls compile and behave the same.
 */
void	*pool_cache_get(pool_cache_t, int);
#define	pool_cache_put(pc, o)	pool_cache_put_paddr((pc), (o), \
				    POOL_PADDR_INVALID)
void	pool_cache_destruct_object(pool_cache_t, void *);
void	pool_cache_invalidate(pool_cache_t);
bool	pool_cache_reclaim(pool_cache_t);
void	pool_cache_set_drain_hook(pool_cache_t, void (*)(void *, int), void *);
void	pool_cache_setlowat(pool_cache_t, int);
void	pool_cache_sethiwat(pool_cache_t, int);
void	pool_cache_sethardlimit(pool_cache_t, int, const char *, int);
void	pool_cache_prime(pool_cache_t, int);
/* A CPU came online: nothing to do here (slots are made on first use). */
void	pool_cache_cpu_init(struct cpu_info *);
unsigned int pool_cache_nget(pool_cache_t);
unsigned int pool_cache_nput(pool_cache_t);

#ifdef __cplusplus
}
#endif

#endif /* NBMEM_POOL_H */

/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * stats_seg.h: the statistics segment a process publishes (stats.c) and
 * nbmemstat(1) reads, and the reader's side: the parser, which treats
 * every byte as untrusted, and the emitter of the vmstat-style tables
 * (stats_fmt.c, compiled into the library and into the tool).
 *
 * Layout (version 1), native byte order, all offsets from the start:
 *
 *	struct nbstat_hdr			at 0, sh_hdrsize bytes
 *	struct nbstat_glob			at sh_glob_off
 *	struct nbstat_pool[sh_pool_count]	at sh_pool_off, sh_pool_recsize each
 *	struct nbstat_vmem[sh_vmem_count]	at sh_vmem_off, sh_vmem_recsize each
 *
 * A reader accepts records larger than it knows (a newer minor layout
 * appends fields) and reads the prefix it knows; smaller ones are
 * refused.  Names are 16 bytes and need not be terminated.  Counters
 * and names only: no object contents, no addresses.
 */
#ifndef NBMEM_STATS_SEG_H
#define NBMEM_STATS_SEG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define	NBSTAT_MAGIC	0x5453424eu	/* "NBST" read as little-endian */
#define	NBSTAT_VERSION	1
#define	NBSTAT_NAMELEN	16
/* The memfd's name; /proc/PID/fd/N links to "/memfd:" NBSTAT_MEMFD_NAME. */
#define	NBSTAT_MEMFD_NAME	"nbmem.stats"
/* Refuse segments claiming more than this (a damaged size word). */
#define	NBSTAT_MAXSEG	(64u << 20)
#define	NBSTAT_UNKNOWN	UINT64_MAX	/* a counter the process lacks */

struct nbstat_hdr {
	uint32_t	sh_magic;
	uint16_t	sh_version;
	uint16_t	sh_hdrsize;
	uint32_t	sh_request;	/* futex word: readers add 1, wake */
	uint32_t	sh_reply;	/* futex word: last request served */
	uint32_t	sh_seq;		/* odd while the publisher writes */
	uint32_t	sh_segsize;	/* bytes of the snapshot */
	uint32_t	sh_pid;
	uint32_t	sh_flags;
	uint64_t	sh_time_ns;	/* CLOCK_REALTIME of the snapshot */
	uint64_t	sh_npublish;	/* snapshots published so far */
	char		sh_comm[NBSTAT_NAMELEN];
	uint32_t	sh_glob_off, sh_glob_size;
	uint32_t	sh_pool_off, sh_pool_count, sh_pool_recsize;
	uint32_t	sh_vmem_off, sh_vmem_count, sh_vmem_recsize;
	uint32_t	sh_spare[6];
};

#define	NBSTAT_F_PERCPU	0x1	/* pool caches use per-CPU slots */

/* Process-wide figures. */
struct nbstat_glob {
	uint64_t	sg_physmem_limit;	/* budget, 0: unlimited */
	uint64_t	sg_physmem_inuse;	/* bytes of pages held */
	uint64_t	sg_physmem_waiters;
	uint64_t	sg_reclaim_npass;	/* reclaim passes run */
	uint64_t	sg_reclaim_bytes;	/* released by them, or UNKNOWN */
	uint64_t	sg_pagesize;
	uint64_t	sg_ncpu;
	uint64_t	sg_start_ns;		/* CLOCK_REALTIME of start */
	uint64_t	sg_kmem_large_nalloc;	/* UNKNOWN until kmem counts */
	uint64_t	sg_kmem_large_nfree;
	uint64_t	sg_kmem_large_bytes;
};

/* One pool: struct pool_sysctl's fields, in its order. */
struct nbstat_pool {
	char		sp_name[NBSTAT_NAMELEN];
	uint64_t	sp_flags, sp_size, sp_pagesize, sp_itemsperpage;
	uint64_t	sp_nitems, sp_nout, sp_hardlimit, sp_npages;
	uint64_t	sp_minpages, sp_maxpages, sp_nget, sp_nfail, sp_nput;
	uint64_t	sp_npagealloc, sp_npagefree, sp_hiwat, sp_nidle;
	uint64_t	sp_cache_meta_size, sp_cache_nfull, sp_cache_npartial;
	uint64_t	sp_cache_nempty, sp_cache_ncontended;
	uint64_t	sp_cache_nmiss_global, sp_cache_nhit_global;
	uint64_t	sp_cache_nmiss_pcpu, sp_cache_nhit_pcpu;
};

/* One vmem arena (vmem.c fills it: nbmem_vmem_stats). */
struct nbstat_vmem {
	char		sv_name[NBSTAT_NAMELEN];
	uint64_t	sv_quantum;
	uint64_t	sv_size;	/* bytes in all spans */
	uint64_t	sv_inuse;	/* bytes in busy segments */
	uint64_t	sv_qcache_max;
	uint64_t	sv_nalloc, sv_nfree;	/* segment layer */
	uint64_t	sv_nimport, sv_nrelease, sv_nsleep;
	uint64_t	sv_nspan_import;	/* imported spans held now */
	uint64_t	sv_nspan_static;	/* vmem_add spans */
	uint64_t	sv_nbusy;	/* busy segments */
	uint64_t	sv_nfreeseg;	/* free segments */
	uint64_t	sv_qc_hit;	/* served by the quantum caches */
	uint64_t	sv_qc_miss;	/* caches that went to the arena */
	uint64_t	sv_flags;
};

/* ---- the reader (stats_fmt.c); nothing here allocates */

/* A validated snapshot: pointers into the caller's buffer. */
struct nbstat_snap {
	const unsigned char *ss_buf;
	size_t		ss_len;
	struct nbstat_hdr ss_hdr;	/* copied, comm terminated */
	char		ss_comm[NBSTAT_NAMELEN + 1];
	struct nbstat_glob ss_glob;
};

/*
 * Check a snapshot image of len bytes: magic, version, every size,
 * offset and count.  Returns true, or false with a one-line reason in
 * err.  `pid' (0: any) must match the segment's owner.
 */
bool	nbstat_parse(const void *buf, size_t len, unsigned int pid,
	    struct nbstat_snap *, char *err, size_t errlen);
size_t	nbstat_npool(const struct nbstat_snap *);
size_t	nbstat_nvmem(const struct nbstat_snap *);
/* Copy record i (i < count), names terminated. */
void	nbstat_pool_get(const struct nbstat_snap *, size_t,
	    struct nbstat_pool *);
void	nbstat_vmem_get(const struct nbstat_snap *, size_t,
	    struct nbstat_vmem *);

/* ---- the emitter */

struct nbstat_out {
	int		so_fd;
	bool		so_error;	/* a write failed */
	size_t		so_len;
	char		so_buf[4096];
};

void	nbstat_out_init(struct nbstat_out *, int fd);
void	nbstat_printf(struct nbstat_out *, const char *, ...)
	    __attribute__((__format__(__printf__, 2, 3)));
void	nbstat_flush(struct nbstat_out *);

struct nbstat_opts {
	bool		so_json;
	bool		so_all;		/* rows without activity too */
	bool		so_wide;	/* -W: PageSz and Flags too */
	const uint32_t	*so_order;	/* row order (NULL: segment order) */
	const struct nbstat_snap *so_prev; /* -w: counters as differences */
	double		so_interval;	/* seconds between the two */
};

/*
 * Print one view of a snapshot: 'm' pools (vmstat -m), 'C' pool caches
 * (vmstat -C), 'v' vmem arenas, 'k' kmem and the memory budget.
 * so_order indexes pools for m, C and k, arenas for v.
 */
void	nbstat_emit(struct nbstat_out *, const struct nbstat_snap *, int view,
	    const struct nbstat_opts *);
/* The views in a string ("mCvk"), each as nbstat_emit prints it. */
void	nbstat_emit_views(struct nbstat_out *, const struct nbstat_snap *,
	    const char *views, const struct nbstat_opts *);
/* True when `key' is a sort key of the view; fills order (count rows). */
bool	nbstat_sort(const struct nbstat_snap *, int view, const char *key,
	    uint32_t *order);

#endif /* NBMEM_STATS_SEG_H */

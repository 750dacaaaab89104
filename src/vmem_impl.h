/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * vmem_impl.h: the private layout of a vmem arena and its boundary tags.
 * See the theory statement at the top of vmem.c.
 */
#ifndef NBMEM_VMEM_IMPL_PRIVATE_H
#define NBMEM_VMEM_IMPL_PRIVATE_H

#include <stdint.h>

#include <nbmem/vmem.h>

#include "lock.h"

#define	VMEM_MAXORDER		64	/* bits in vmem_size_t */
#define	VMEM_HASH_INLINE	16	/* buckets kept inside the arena */

typedef struct vmem_btag bt_t;

struct vmem_btag {
	bt_t		*bt_next;	/* segment list, address order */
	bt_t		*bt_prev;
	bt_t		*bt_fnext;	/* free list, hash chain, span list */
	bt_t		**bt_fprevp;
	vmem_addr_t	bt_start;
	vmem_size_t	bt_size;
	uint8_t		bt_type;
	uint8_t		bt_cookie;	/* busy: owner's cookie (uvm_km) */
	uint8_t		bt_flist;	/* free: index of its free list */
};

#define	BT_TYPE_SENTINEL	0	/* the list head of the arena */
#define	BT_TYPE_SPAN		1	/* imported: released when all free */
#define	BT_TYPE_SPAN_STATIC	2	/* added: never released */
#define	BT_TYPE_FREE		3
#define	BT_TYPE_BUSY		4

#define	BT_SPAN_P(bt)	((bt)->bt_type == BT_TYPE_SPAN || \
			 (bt)->bt_type == BT_TYPE_SPAN_STATIC)
#define	BT_END(bt)	((bt)->bt_start + (bt)->bt_size - 1)	/* inclusive */

struct vmem {
	kmutex_t	vm_lock;
	kcondvar_t	vm_cv;
	unsigned int	vm_nwait;	/* sleepers on vm_cv */
	vm_flag_t	vm_flags;
	int		vm_ipl;
	unsigned int	vm_qshift;	/* log2(quantum) */
	vmem_size_t	vm_quantum_mask;
	vmem_size_t	vm_qcache_max;
	struct nbmem_qcache *vm_qcache;	/* quantum caches, or NULL */
	vmem_import_t	*vm_importfn;
	vmem_ximport_t	*vm_ximportfn;
	vmem_release_t	*vm_releasefn;
	void		*vm_arg;

	/* free lists: list k holds free segments of [2^k, 2^(k+1)) quanta */
	uint64_t	vm_freemap;	/* bit k: list k is not empty */
	bt_t		*vm_freelist[VMEM_MAXORDER];

	/* allocated-segment hash */
	bt_t		**vm_hashlist;
	size_t		vm_hashmask;	/* buckets - 1, a power of two - 1 */
	unsigned int	vm_hashshift;	/* 64 - log2(buckets): top bits */
	size_t		vm_nbusytag;
	size_t		vm_hashgrow;	/* resize above this many busy tags */
	size_t		vm_hashshrink;	/* resize below this many */
	bt_t		*vm_hash0[VMEM_HASH_INLINE];

	bt_t		vm_seg;		/* sentinel of the segment list */
	bt_t		*vm_spans;	/* span tags, through bt_fnext */
	bt_t		*vm_rotor;	/* VM_NEXTFIT: a tag at or below... */
	vmem_addr_t	vm_rotor_addr;	/* ...the end of the last one */

	bt_t		*vm_btcache;	/* spare tags, through bt_fnext */
	unsigned int	vm_nbtcache;

	vmem_size_t	vm_size;	/* bytes in all spans */
	vmem_size_t	vm_inuse;	/* bytes in busy segments */
	uint64_t	vm_nalloc;	/* statistics */
	uint64_t	vm_nfree;
	uint64_t	vm_nimport;
	uint64_t	vm_nrelease;
	uint64_t	vm_nsleep;
	size_t		vm_nfreetag;	/* free segments (on the free lists) */
	unsigned int	vm_statref;	/* nbmem_vmem_stats() working on it */

	struct vmem	*vm_allnext;	/* all arenas */
	struct vmem	**vm_allprevp;
	size_t		vm_mapsize;	/* bytes mapped for it; 0: caller's */
	char		vm_name[VMEM_NAME_MAX + 1];	/* 16 characters */
};

#endif /* NBMEM_VMEM_IMPL_PRIVATE_H */

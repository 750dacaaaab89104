/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * uvm_km_impl.h: the private layout of a map and the interfaces shared by
 * uvm_km.c and budget.c.  See the theory statement at the top of uvm_km.c.
 */
#ifndef NBMEM_UVM_KM_IMPL_H
#define NBMEM_UVM_KM_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nbmem/uvm_km.h>

#include "internal.h"

/*
 * Bytes a caller reserves for a submap: VM_MAP_STORAGE_SIZE of
 * <nbmem/uvm_map.h>, which the library does not include (it defines the
 * same tag as caller storage).  The two must be kept equal.
 */
#define	UVM_MAP_STORAGE_SIZE	128
#define	UVM_MAP_STORAGE_ALIGN	16

#define	VMM_MAGIC	0x766d6d70u	/* "vmmp": a live map */
#define	VMM_NAME_MAX	24

/* vmm_flags: VM_MAP_* as given to uvm_km_suballoc(), plus these */
#define	VMM_KERNEL	0x1000		/* kernel_map itself */
#define	VMM_OSSTORAGE	0x2000		/* struct mapped by the library */

struct vm_map {
	uint32_t	vmm_magic;	/* VMM_MAGIC */
	uint32_t	vmm_flags;
	struct vm_map	*vmm_parent;	/* NULL for kernel_map */
	vmem_t		*vmm_arena;	/* kernel_map: records; submap: space */
	vaddr_t		vmm_min;	/* submap: [vmm_min, vmm_max) */
	vaddr_t		vmm_max;
	char		vmm_name[VMM_NAME_MAX];
};

CTASSERT(sizeof(struct vm_map) <= UVM_MAP_STORAGE_SIZE);
CTASSERT(_Alignof(struct vm_map) <= UVM_MAP_STORAGE_ALIGN);

/*
 * What a busy segment of a map's arena is, kept in its vmem cookie: the
 * UVM_KMF_* type it was allocated with, or a submap reservation.
 */
#define	UVM_KM_COOKIE_SUBMAP	0x80
CTASSERT((UVM_KMF_TYPEMASK & UVM_KM_COOKIE_SUBMAP) == 0);

/* ---- budget.c, for uvm_km.c */

/* Read the initial budget from the environment (idempotent). */
void	nbmem_budget_init(void);
/*
 * The OS refused `bytes' for `what' to a caller that may sleep.  The
 * first refusal (*since == 0) records the time and runs a reclaim pass;
 * later ones return false with `canfail', else sleep until memory is
 * released or a short period passes, and run reclaim again.  True: try
 * again.  A wait that outlasts NBMEM_SLEEP_TIMEOUT panics.
 */
bool	nbmem_budget_oswait(const char *what, size_t bytes, bool canfail,
	    uint64_t *since);
/* True when the budget is limited and less than a tenth of it is free. */
bool	nbmem_budget_tight_p(void);

/* Grow a uvm_km_kmem_alloc range in place (0, or ENOMEM). */
int	nbmem_uvm_kmem_extend(vmem_t *vm, vmem_addr_t va, vmem_size_t size,
	    vmem_size_t extra);

/* ---- uvm_km.c, for tests */

/* Reservations the page layer owns now (kmem chunks, submaps, VAONLY). */
size_t	nbmem_uvm_nresv(void);
/* True when [va, va + size) lies inside one of them. */
bool	nbmem_uvm_resv_contains(vaddr_t va, vsize_t size);
/* True when kmem_arena's new chunks are read-write (pages on touch). */
bool	nbmem_uvm_kmem_lazy(void);
/* True when [va, va + size) lies in such a chunk. */
bool	nbmem_uvm_kmem_lazy_range(vaddr_t va, vsize_t size);

#endif /* NBMEM_UVM_KM_IMPL_H */

/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * nbmem/uvm_km.h: the uvm_km(3) page allocator.
 *
 * Names, signatures and flag names are NetBSD's uvm_km(9).  kernel_map is
 * the process address space; uvm_km_suballoc() carves submaps from it.
 * Pages are counted against the memory budget (nbmem(3)).  MT-Safe.
 * uvm_km_kmem_alloc() with VM_NOSLEEP and uvm_km_kmem_free() are
 * async-signal-safe on arenas created above IPL_NONE.
 */
#ifndef NBMEM_UVM_KM_H
#define NBMEM_UVM_KM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nbmem/vmem.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef NBMEM_VADDR_T_DEFINED
#define NBMEM_VADDR_T_DEFINED
typedef uintptr_t vaddr_t;
typedef size_t vsize_t;
typedef uintptr_t paddr_t;	/* userspace: the virtual address */
typedef int vm_prot_t;
typedef unsigned int uvm_flag_t;
#endif

struct vm_map;			/* storage: <nbmem/uvm_map.h> */
extern struct vm_map *kernel_map;
/* kmem_arena, kmem_va_arena and kmem_meta_arena: <nbmem/vmem.h> */

/*
 * The uvm_map(9) flags that four uvm_km flags are, as in NetBSD's
 * uvm_extern.h; nbmem has no uvm_map() to take the others.
 */
#define	UVM_FLAG_TRYLOCK	0x00200000	/* fail if the map is locked */
#define	UVM_FLAG_NOWAIT		0x00400000	/* never sleep */
#define	UVM_FLAG_WAITVA		0x00800000	/* sleep for address space */
#define	UVM_FLAG_COLORMATCH	0x04000000	/* VAONLY: align is a colour */

#define	UVM_KMF_WIRED		0x1	/* populated now, counted resident */
#define	UVM_KMF_PAGEABLE	0x2	/* demand-zero on first touch */
#define	UVM_KMF_VAONLY		0x4	/* address space only (PROT_NONE) */
#define	UVM_KMF_TYPEMASK	(UVM_KMF_VAONLY | UVM_KMF_PAGEABLE | UVM_KMF_WIRED)
#define	UVM_KMF_CANFAIL		0x8	/* fail when nothing is reclaimable */
#define	UVM_KMF_ZERO		0x10	/* zero-filled (wired) */
#define	UVM_KMF_EXEC		0x20	/* executable mapping */
#define	UVM_KMF_TRYLOCK		UVM_FLAG_TRYLOCK
#define	UVM_KMF_NOWAIT		UVM_FLAG_NOWAIT
#define	UVM_KMF_WAITVA		UVM_FLAG_WAITVA
#define	UVM_KMF_COLORMATCH	UVM_FLAG_COLORMATCH

/* vm_prot_t */
#define	VM_PROT_NONE		0x0
#define	VM_PROT_READ		0x1
#define	VM_PROT_WRITE		0x2
#define	VM_PROT_EXECUTE		0x4

/*
 * uvm_km_suballoc() map flags, with NetBSD's values (VM_MAP_INTRSAFE
 * that of the releases that have it).
 */
#define	VM_MAP_PAGEABLE		0x01
#define	VM_MAP_INTRSAFE		0x02	/* the submap's arena is at IPL_VM */
#define	VM_MAP_TOPDOWN		0x40	/* accepted; placement is vmem's */

vaddr_t	uvm_km_alloc(struct vm_map *, vsize_t, vsize_t, uvm_flag_t);
void	uvm_km_free(struct vm_map *, vaddr_t, vsize_t, uvm_flag_t);
int	uvm_km_protect(struct vm_map *, vaddr_t, vsize_t, vm_prot_t);
struct vm_map *uvm_km_suballoc(struct vm_map *, vaddr_t *, vaddr_t *,
	    vsize_t, int, bool, struct vm_map *);
int	uvm_km_kmem_alloc(vmem_t *, vmem_size_t, vm_flag_t, vmem_addr_t *);
void	uvm_km_kmem_free(vmem_t *, vmem_addr_t, vmem_size_t);
bool	uvm_km_va_starved_p(void);

#ifdef __cplusplus
}
#endif

#endif /* NBMEM_UVM_KM_H */

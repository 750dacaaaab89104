/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * nbmem/vmem.h: the vmem(3) resource allocator.
 *
 * Names, signatures and flag names are NetBSD's vmem(9); see vmem(3).
 * Every function is MT-Safe.  Arenas created above IPL_NONE are
 * async-signal-safe for vmem_alloc/vmem_xalloc/vmem_xalloc_addr with
 * VM_NOSLEEP and for vmem_free/vmem_xfree.
 */
#ifndef NBMEM_VMEM_H
#define NBMEM_VMEM_H

#include <stddef.h>
#include <stdint.h>

#include <nbmem/intr.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vmem vmem_t;
typedef unsigned int vm_flag_t;
typedef uintptr_t vmem_addr_t;
typedef size_t vmem_size_t;

#define	VMEM_ADDR_MIN	0
#define	VMEM_ADDR_MAX	(~(vmem_addr_t)0)

typedef int	(vmem_import_t)(void *, vmem_size_t, vm_flag_t, vmem_addr_t *);
typedef void	(vmem_release_t)(void *, vmem_addr_t, vmem_size_t);
typedef int	(vmem_ximport_t)(void *, vmem_size_t, vmem_size_t *, vm_flag_t,
		    vmem_addr_t *);

/*
 * The arenas of the page layer, declared here as NetBSD's <sys/vmem.h>
 * declares them; uvm_km(3) describes them.
 */
extern vmem_t *kmem_arena;	/* address space, page quantum */
extern vmem_t *kmem_meta_arena;	/* pages for allocator metadata */
extern vmem_t *kmem_va_arena;	/* pages for pools and large kmem */

/* vmem_size() type mask */
#define	VMEM_ALLOC	0x01
#define	VMEM_FREE	0x02

/* vm_flag_t: sleep flags (exactly one on every call) */
#define	VM_SLEEP	0x00000001	/* may block; does not fail */
#define	VM_NOSLEEP	0x00000002	/* never blocks; may fail */
/* fit strategies (exactly one on every allocation) */
#define	VM_INSTANTFIT	0x00001000	/* O(1): first segment of a big list */
#define	VM_BESTFIT	0x00002000	/* smallest list that fits, walked */
#define	VM_NEXTFIT	0x00004000	/* nbmem: cyclic, from the last one */
/* creation flags */
#define	VM_BOOTSTRAP	0x00010000	/* accepted; tags are always on hand */
#define	VM_POPULATING	0x00040000	/* internal */
#define	VM_LARGEIMPORT	0x00080000	/* import 16 times what is asked */
#define	VM_XIMPORT	0x00100000	/* internal: set by vmem_xcreate */
#define	VM_PRIVTAGS	0x00200000	/* tags only from vmem_add_bts */

#define	VMEM_NAME_MAX	16		/* characters of the name kept */
#define	VMEM_QCACHE_IDX_MAX 16		/* qcache_max is clamped to 16 quanta */

/*
 * Storage for vmem_init() callers; defined in <nbmem/vmem_impl.h>
 * (<sys/vmem_impl.h>).  The library checks at build time that its arena
 * fits in this many bytes.
 */
#define	VMEM_STORAGE_SIZE	2304
/*
 * Storage of one boundary tag for vmem_add_bts(); struct vmem_btag and
 * VMEM_EST_BTCOUNT() are in <nbmem/vmem_impl.h> (<sys/vmem_impl.h>).
 */
#define	VMEM_BTAG_STORAGE_SIZE	64

struct vmem_btag;

vmem_t	*vmem_create(const char *, vmem_addr_t, vmem_size_t, vmem_size_t,
	    vmem_import_t *, vmem_release_t *, void *, vmem_size_t,
	    vm_flag_t, int);
vmem_t	*vmem_xcreate(const char *, vmem_addr_t, vmem_size_t, vmem_size_t,
	    vmem_ximport_t *, vmem_release_t *, void *, vmem_size_t,
	    vm_flag_t, int);
vmem_t	*vmem_init(vmem_t *, const char *, vmem_addr_t, vmem_size_t,
	    vmem_size_t, vmem_import_t *, vmem_release_t *, void *,
	    vmem_size_t, vm_flag_t, int);
void	vmem_destroy(vmem_t *);
int	vmem_alloc(vmem_t *, vmem_size_t, vm_flag_t, vmem_addr_t *);
void	vmem_free(vmem_t *, vmem_addr_t, vmem_size_t);
int	vmem_xalloc(vmem_t *, vmem_size_t, vmem_size_t, vmem_size_t,
	    vmem_size_t, vmem_addr_t, vmem_addr_t, vm_flag_t, vmem_addr_t *);
int	vmem_xalloc_addr(vmem_t *, vmem_addr_t, vmem_size_t, vm_flag_t);
void	vmem_xfree(vmem_t *, vmem_addr_t, vmem_size_t);
void	vmem_xfreeall(vmem_t *);
int	vmem_add(vmem_t *, vmem_addr_t, vmem_size_t, vm_flag_t);
void	vmem_add_bts(vmem_t *, struct vmem_btag *, unsigned int);
vmem_size_t vmem_roundup_size(vmem_t *, vmem_size_t);
vmem_size_t vmem_size(vmem_t *, int);

/*
 * NetBSD's boot creates the metadata arenas with this; the library makes
 * its own, so here it only checks vm and makes sure they exist.
 */
void	vmem_subsystem_init(vmem_t *);
/* Starts NetBSD's periodic hash resizing; nothing here (see vmem(3)). */
void	vmem_rehash_start(void);

/* Debugger-style hooks, as in NetBSD: print with the given printf. */
void	vmem_print(uintptr_t, const char *, void (*)(const char *, ...));
void	vmem_printall(const char *, void (*)(const char *, ...));
void	vmem_whatis(uintptr_t, void (*)(const char *, ...));

#ifdef __cplusplus
}
#endif

#endif /* NBMEM_VMEM_H */

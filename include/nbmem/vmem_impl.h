/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * nbmem/vmem_impl.h: storage for arenas initialised with vmem_init().
 *
 * As in NetBSD, code that provides its own arena storage includes this
 * header.  The layout is private: only the size and alignment are
 * promised.
 */
#ifndef NBMEM_VMEM_IMPL_H
#define NBMEM_VMEM_IMPL_H

#include <nbmem/vmem.h>

struct vmem {
	unsigned char	vm_storage[VMEM_STORAGE_SIZE]
	    __attribute__((__aligned__(64)));
};

/*
 * Boundary tags a VM_PRIVTAGS arena is given with vmem_add_bts(), as
 * NetBSD's bus-space and wired-map arenas declare them, and an estimate
 * of how many an arena of `ns' spans and `na' allocations needs: two
 * for each span (its own and its first segment) and two for each
 * allocation (the busy segment and a free rest split off beside it).
 */
struct vmem_btag {
	unsigned char bt_storage[VMEM_BTAG_STORAGE_SIZE]
	    __attribute__((__aligned__(8)));
};

#define	VMEM_EST_BTCOUNT(ns, na)	(((ns) + (na)) * 2)

#endif /* NBMEM_VMEM_IMPL_H */

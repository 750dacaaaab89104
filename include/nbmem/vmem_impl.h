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
	unsigned char vm_storage[VMEM_STORAGE_SIZE] __attribute__((__aligned__(64)));
};

#endif /* NBMEM_VMEM_IMPL_H */

/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * nbmem/uvm_map.h: storage for submaps passed to uvm_km_suballoc().
 * The layout is private: only the size and alignment are promised.
 */
#ifndef NBMEM_UVM_MAP_H
#define NBMEM_UVM_MAP_H

#include <nbmem/uvm_km.h>

#define	VM_MAP_STORAGE_SIZE	128

struct vm_map {
	unsigned char vmm_storage[VM_MAP_STORAGE_SIZE]
	    __attribute__((__aligned__(16)));
};

#endif /* NBMEM_UVM_MAP_H */

/*	SPDX-License-Identifier: BSD-2-Clause */
/* <uvm/uvm_map.h> for ported NetBSD code: submap storage. */
#include <nbmem/uvm_map.h>

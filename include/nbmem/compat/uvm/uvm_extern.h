/*	SPDX-License-Identifier: BSD-2-Clause */
/* <uvm/uvm_extern.h> for ported NetBSD code: see uvm_km(3). */
#include <nbmem/uvm_km.h>

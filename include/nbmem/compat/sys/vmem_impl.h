/*	SPDX-License-Identifier: BSD-2-Clause */
/* <sys/vmem_impl.h> for ported NetBSD code: arena storage for vmem_init. */
#include <nbmem/vmem_impl.h>

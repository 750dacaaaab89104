/*	SPDX-License-Identifier: BSD-2-Clause */
/* <sys/vmem.h> for ported NetBSD code: see vmem(3). */
#include <nbmem/vmem.h>

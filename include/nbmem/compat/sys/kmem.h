/*	SPDX-License-Identifier: BSD-2-Clause */
/* <sys/kmem.h> for ported NetBSD code: see kmem(3). */
#include <nbmem/kmem.h>

/*	SPDX-License-Identifier: BSD-2-Clause */
/* <sys/intr.h> for ported NetBSD code: IPLs and spl*(). */
#include <nbmem/intr.h>

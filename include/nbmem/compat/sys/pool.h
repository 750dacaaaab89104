/*	SPDX-License-Identifier: BSD-2-Clause */
/* <sys/pool.h> for ported NetBSD code: see pool(3) and pool_cache(3). */
#include <nbmem/pool.h>

/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * options.c: the environment variables nbmem reads.
 *
 *	NBMEM_PHYSMEM=SIZE		memory budget (budget.c)
 *	NBMEM_SLEEP_TIMEOUT=SECONDS	a sleeping allocation that waits this
 *					long panics instead (0: forever)
 *	NBMEM_MLOCK=1			lock UVM_KMF_WIRED memory
 *	NBMEM_DECOMMIT=1		freed pages of the kmem arenas become
 *					inaccessible (uvm_km.c)
 *
 * SIZE is a decimal number with an optional K, M, G or T suffix (powers
 * of 1024).  Each variable is read once, on first use.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "os/os.h"

bool
nbmem_options_parse_size(const char *s, size_t *out)
{
	size_t v = 0;
	unsigned int shift = 0;

	if (s == NULL || *s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		size_t d = (size_t)(*s - '0');
		if (v > (SIZE_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	switch (*s) {
	case 'k': case 'K': shift = 10; s++; break;
	case 'm': case 'M': shift = 20; s++; break;
	case 'g': case 'G': shift = 30; s++; break;
	case 't': case 'T': shift = 40; s++; break;
	}
	if (*s == 'i' || *s == 'I')	/* accept KiB, MiB... */
		s++;
	if (*s == 'b' || *s == 'B')
		s++;
	if (*s != '\0')
		return false;
	if (shift != 0 && v > (SIZE_MAX >> shift))
		return false;
	*out = v << shift;
	return true;
}

uint64_t
nbmem_options_sleep_timeout(void)
{
	static uint64_t timeout_ns;
	static int ready;

	if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
		const char *s = nbmem_os_getenv("NBMEM_SLEEP_TIMEOUT");
		uint64_t ns = 0;
		if (s != NULL && *s != '\0') {
			char *end;
			double secs = strtod(s, &end);
			if (*end != '\0' || secs < 0)
				nbmem_warn("options: NBMEM_SLEEP_TIMEOUT=\"%s\" "
				    "is not a number of seconds; ignored", s);
			else
				ns = (uint64_t)(secs * 1e9);
		}
		__atomic_store_n(&timeout_ns, ns, __ATOMIC_RELAXED);
		__atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
	}
	return __atomic_load_n(&timeout_ns, __ATOMIC_RELAXED);
}

bool
nbmem_options_mlock(void)
{
	const char *s = nbmem_os_getenv("NBMEM_MLOCK");

	return s != NULL && strcmp(s, "1") == 0;
}

NBMEM_EXPORT const char *
nbmem_version(void)
{
#define	NBMEM_STR1(x)	#x
#define	NBMEM_STR(x)	NBMEM_STR1(x)
	return NBMEM_STR(NBMEM_VERSION_MAJOR) "." NBMEM_STR(NBMEM_VERSION_MINOR)
	    "." NBMEM_STR(NBMEM_VERSION_PATCH);
}

bool
nbmem_options_decommit(void)
{
	const char *s = nbmem_os_getenv("NBMEM_DECOMMIT");

	return s != NULL && strcmp(s, "1") == 0;
}

/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * debug_mode.c: the run-time debug modes, NBMEM_DEBUG.
 *
 * 1 Overview
 *   The costly checks of NetBSD's DIAGNOSTIC, DEBUG, KMEM_SIZE,
 *   KMEM_REDZONE, KMEM_GUARD, POOL_REDZONE and FREECHECK options are
 *   compiled into every build and chosen when the process starts:
 *
 *	NBMEM_DEBUG=mode[,mode...]	or	NBMEM_DEBUG=all
 *
 *   with the modes size, redzone, poison, guard, audit and leaks
 *   (nbmem(3), DEBUGGING); blanks around a word are ignored.  A word
 *   that is not a mode (mixed case included) gets one warning line
 *   naming it and is ignored; an empty value, or an empty word, selects
 *   nothing and gets a warning too, so no typo goes unnoticed.
 *   The variable is read once, by a library constructor that runs
 *   before any pool exists, so every pool and cache sees the same modes
 *   for its whole life; nothing here allocates.
 *
 * 2 Data structures
 *   nbmem_debug_flags: the NBMEM_DEBUG_* bits of internal.h, plus
 *   NBMEM_DEBUG_MEMCHECK under Valgrind's memcheck and NBMEM_DEBUG_ASAN
 *   in AddressSanitizer builds.  Any bit makes new pool caches bypass
 *   their CPU layer (pool_cache.c), so every get and put reaches the
 *   slow paths where debug_pool.c's hooks run; nbmem_debug_kmem sends
 *   kmem through debug_kmem.c.
 *
 * 3 Invariants
 *   - the flags are written once, before the first pool_init, and only
 *     read afterwards;
 *   - memcheck is recognised only when the process runs under Valgrind
 *     with memcheck's preload library (vgpreload_memcheck in
 *     LD_PRELOAD): callgrind and cachegrind, which count instructions
 *     for the benchmarks, keep the normal fast paths.
 *
 * 4 Locking
 *   None: a constructor writes, everyone else reads.
 *
 * 5 Debug features
 *   This file is the switchboard; the checks are in debug_pool.c,
 *   debug_kmem.c and debug_track.c.
 *
 * 6 Differences from NetBSD
 *   NetBSD selects these checks with kernel options at build time (and
 *   KMEM_GUARD's depth from the debugger); nbmem selects them at run
 *   time, as illumos libumem does with UMEM_DEBUG.
 *
 * 7 References
 *   NetBSD sys/kern/subr_kmem.c and subr_pool.c; illumos umem_debug(3MALLOC);
 *   Valgrind manual, "The Client Request mechanism".
 */
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "nbvalgrind.h"
#include "os/os.h"

unsigned int nbmem_debug_flags;
unsigned int nbmem_debug_kmem;

static const struct {
	const char	*dm_name;
	unsigned int	dm_flag;
} debug_modes[] = {
	{ "size",	NBMEM_DEBUG_SIZE },
	{ "redzone",	NBMEM_DEBUG_REDZONE },
	{ "poison",	NBMEM_DEBUG_POISON },
	{ "guard",	NBMEM_DEBUG_GUARD },
	{ "audit",	NBMEM_DEBUG_AUDIT },
	{ "leaks",	NBMEM_DEBUG_LEAKS },
	{ "all",	NBMEM_DEBUG_MODES },
};

#define	DEBUG_NMODES	(sizeof(debug_modes) / sizeof(debug_modes[0]))

/* A word that is no mode: say which, and the mode it may stand for. */
static void
debug_warn_word(const char *s, size_t len)
{
	char word[64];
	size_t n = len < sizeof(word) - 1 ? len : sizeof(word) - 1;

	memcpy(word, s, n);
	word[n] = '\0';
	for (size_t i = 0; i < DEBUG_NMODES; i++) {
		if (strlen(debug_modes[i].dm_name) == len &&
		    strncasecmp(debug_modes[i].dm_name, s, len) == 0) {
			nbmem_warn("debug: NBMEM_DEBUG: unknown mode \"%s\" "
			    "ignored (mode names are lower case: \"%s\")",
			    word, debug_modes[i].dm_name);
			return;
		}
	}
	nbmem_warn("debug: NBMEM_DEBUG: unknown mode \"%s\" ignored "
	    "(modes: size, redzone, poison, guard, audit, leaks, all)", word);
}

unsigned int
nbmem_debug_parse(const char *s, bool warn)
{
	unsigned int flags = 0;
	bool empty = false, any = false;

	if (s != NULL && *s == '\0' && warn)
		nbmem_warn("debug: NBMEM_DEBUG is set but empty: no mode "
		    "selected");
	while (s != NULL && *s != '\0') {
		const char *end = strchr(s, ',');
		size_t len = end != NULL ? (size_t)(end - s) : strlen(s);
		size_t i;

		/* Blanks around a word are no part of it ("size, poison"). */
		while (len > 0 && (*s == ' ' || *s == '\t')) {
			s++;
			len--;
		}
		while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
			len--;

		for (i = 0; i < DEBUG_NMODES; i++) {
			if (strlen(debug_modes[i].dm_name) == len &&
			    memcmp(debug_modes[i].dm_name, s, len) == 0) {
				flags |= debug_modes[i].dm_flag;
				break;
			}
		}
		if (len == 0)
			empty = true;
		else
			any = true;
		if (i == DEBUG_NMODES && len > 0 && warn)
			debug_warn_word(s, len);
		s = end != NULL ? end + 1 : NULL;
	}
	if (empty && warn)
		nbmem_warn("debug: NBMEM_DEBUG: %s", any ? "an empty word "
		    "between commas ignored" : "no mode named: none selected");
	return flags;
}

/* Valgrind's memcheck, not one of its instruction-counting tools. */
static bool
debug_memcheck_p(void)
{
	const char *pre;

	if (!NBMEM_VG_RUNNING())
		return false;
	pre = nbmem_os_getenv("LD_PRELOAD");
	return pre != NULL && strstr(pre, "vgpreload_memcheck") != NULL;
}

void
nbmem_debug_init(void)
{
	static int done;
	unsigned int flags;

	if (__atomic_load_n(&done, __ATOMIC_ACQUIRE))
		return;
	flags = nbmem_debug_parse(nbmem_os_getenv("NBMEM_DEBUG"), true);
	if (debug_memcheck_p())
		flags |= NBMEM_DEBUG_MEMCHECK;
	if (NBMEM_ASAN)
		flags |= NBMEM_DEBUG_ASAN;
	__atomic_store_n(&nbmem_debug_flags, flags, __ATOMIC_RELAXED);
	/* kmem goes through debug_kmem.c for its modes and for memcheck. */
	__atomic_store_n(&nbmem_debug_kmem, flags & (NBMEM_DEBUG_MODES |
	    NBMEM_DEBUG_MEMCHECK), __ATOMIC_RELAXED);
	__atomic_store_n(&done, 1, __ATOMIC_RELEASE);
}

/* After debug.c's (101), before the first pool can exist. */
__attribute__((__constructor__(102)))
static void
debug_mode_init(void)
{
	nbmem_debug_init();
}

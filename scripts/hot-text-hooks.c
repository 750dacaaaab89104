/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * hot-text-hooks.c: the entry hook of a libnbmem_malloc.so built with
 * -finstrument-functions, for scripts/hot-text.sh.  Every function the
 * library enters is recorded once, by address, in a lock-free
 * open-addressed table; when the process exits, the offsets from the
 * library's load address are written to $NBMEM_HOT_DIR/PID.txt, in
 * hexadecimal as nm(1) prints addresses.  It calls nothing that
 * allocates until the exit, and nothing of the library (it is not
 * instrumented itself: see the attributes).
 */
#define	_GNU_SOURCE
#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define	HOT_NTAB	8192		/* a power of two */
#define	HOT_NOINST	__attribute__((no_instrument_function))
#define	HOT_EXPORT	__attribute__((visibility("default")))

static void *hot_tab[HOT_NTAB];

HOT_NOINST HOT_EXPORT void __cyg_profile_func_enter(void *, void *);
HOT_NOINST HOT_EXPORT void __cyg_profile_func_exit(void *, void *);

void
__cyg_profile_func_enter(void *fn, void *site)
{
	uintptr_t h = (uintptr_t)fn * 0x9e3779b97f4a7c15u >> 51;
	void *v;

	(void)site;
	for (;; h = (h + 1) & (HOT_NTAB - 1)) {
		v = __atomic_load_n(&hot_tab[h], __ATOMIC_RELAXED);
		if (v == fn)
			return;
		if (v == NULL && __atomic_compare_exchange_n(&hot_tab[h], &v,
		    fn, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			return;
		if (v == fn)
			return;
	}
}

void
__cyg_profile_func_exit(void *fn, void *site)
{
	(void)fn;
	(void)site;
}

HOT_NOINST __attribute__((destructor(101))) static void
hot_dump(void)
{
	const char *dir = getenv("NBMEM_HOT_DIR");
	char path[4096];
	Dl_info di;
	FILE *f;
	size_t i;

	if (dir == NULL)
		return;
	snprintf(path, sizeof(path), "%s/%ld.txt", dir, (long)getpid());
	if ((f = fopen(path, "w")) == NULL)
		return;
	for (i = 0; i < HOT_NTAB; i++)
		if (hot_tab[i] != NULL && dladdr(hot_tab[i], &di) != 0)
			fprintf(f, "%016lx\n", (unsigned long)((char *)hot_tab[i] -
			    (char *)di.dli_fbase));
	fclose(f);
}

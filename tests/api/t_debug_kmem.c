/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * The run-time debug modes (NBMEM_DEBUG) on kmem(3): one planted bug
 * per mode, each in a fresh process (nbdebug.h); the "c_" cases are the
 * children and skip when run directly.
 */
#include <sys/mman.h>

#include <signal.h>
#include <string.h>

#include <nbmem/intr.h>
#include <nbmem/kmem.h>
#include <nbmem/nbmem.h>
#include <nbmem/pool.h>

#include "nbdebug.h"
#include "nbtest.h"

#define	CHILD(name)	ATF_TC_WITHOUT_HEAD(name); ATF_TC_BODY(name, tc)

CHILD(c_wrong_size)
{
	NBT_DEBUG_CHILD();
	void *p = kmem_alloc(20, KM_SLEEP);
	kmem_free(p, 24);		/* same class (32), wrong size */
}

CHILD(c_double_free)
{
	NBT_DEBUG_CHILD();
	void *p = kmem_alloc(100, KM_SLEEP);
	kmem_free(p, 100);
	kmem_free(p, 100);
}

/* Freed objects held in the quarantine are not leaks. */
CHILD(c_quarantine_no_leak)
{
	NBT_DEBUG_CHILD();
	kmem_free(kmem_alloc(20, KM_SLEEP), 20);
	kmem_free(kmem_zalloc(3000, KM_SLEEP), 3000);
	ATF_REQUIRE_EQ(nbmem_leaks_report(-1), 0);
	void *keep = kmem_alloc(20, KM_SLEEP);
	ATF_REQUIRE_EQ(nbmem_leaks_report(-1), 1);
	kmem_free(keep, 20);
	ATF_REQUIRE_EQ(nbmem_leaks_report(-1), 0);
	exit(0);
}

/* Sizes no mapping can hold, and with the heuristic, beyond all RAM. */
CHILD(c_huge_nosleep)
{
	static const size_t huge[] = { SIZE_MAX, SIZE_MAX - 4, SIZE_MAX - 100,
	    SIZE_MAX / 2 + 1 };

	NBT_DEBUG_CHILD();
	for (size_t i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
		ATF_REQUIRE(kmem_alloc(huge[i], KM_NOSLEEP) == NULL);
		ATF_REQUIRE(kmem_zalloc(huge[i], KM_NOSLEEP) == NULL);
		ATF_REQUIRE(kmem_intr_alloc(huge[i], KM_NOSLEEP) == NULL);
	}
	size_t big = nbt_beyond_ram_and_swap();	/* skips otherwise */
	ATF_REQUIRE(kmem_alloc(big, KM_NOSLEEP) == NULL);
	exit(0);
}

CHILD(c_huge_sleep)
{
	NBT_DEBUG_CHILD();
	(void)kmem_alloc(SIZE_MAX - 4, KM_SLEEP);
}

CHILD(c_large_double_free)
{
	NBT_DEBUG_CHILD();
	void *p = kmem_alloc(200000, KM_SLEEP);
	kmem_free(p, 200000);
	kmem_free(p, 200000);
}

/* Write a byte at offset off of a kmem object of size bytes, free it. */
static void
overrun_at(size_t size, size_t off)
{
	char *p = kmem_alloc(size, KM_SLEEP);

	p[off] = 'x';
	kmem_free(p, size);
}

CHILD(c_overrun)
{
	NBT_DEBUG_CHILD();
	overrun_at(13, 13);
}

/* A write inside the 128-byte class, past the 72-byte object. */
CHILD(c_overrun_class)
{
	NBT_DEBUG_CHILD();
	overrun_at(72, 127);
}

/* On the large path, a write in the object's last page. */
CHILD(c_overrun_large)
{
	NBT_DEBUG_CHILD();
	overrun_at(70000, 70100);
}

CHILD(c_modified)
{
	NBT_DEBUG_CHILD();
	char *p = kmem_alloc(64, KM_SLEEP);
	kmem_free(p, 64);
	p[3] = 1;			/* write after free */
	for (int i = 0; i < 2000; i++)
		kmem_free(kmem_alloc(64, KM_SLEEP), 64);
}

CHILD(c_guard_overrun)
{
	NBT_DEBUG_CHILD();
	volatile char *p = kmem_alloc(64, KM_SLEEP);
	p[64] = 1;			/* the guard page */
}

CHILD(c_guard_uaf)
{
	NBT_DEBUG_CHILD();
	volatile char *p = kmem_alloc(300, KM_SLEEP);
	kmem_free((void *)p, 300);
	(void)p[0];			/* freed pages are PROT_NONE */
}

/*
 * kmem_intr_free in a handler, of objects on guard pages (allocated in
 * thread context): more than the FIFO of freed ranges holds, so that
 * the handler pushes the oldest out.  They are freed, their pages stay
 * inaccessible (`uaf': a read of the first faults), and what the
 * handler pushed out goes back at the next call in thread context.
 */
#define	INTR_NOBJ	300
static void *intr_obj[INTR_NOBJ];

static void
intr_free_handler(int sig)
{
	(void)sig;
	nbmem_intr_enter();
	for (int i = 0; i < INTR_NOBJ; i++)
		kmem_intr_free(intr_obj[i], 100);
	nbmem_intr_exit();
}

static void
intr_free_run(bool uaf)
{
	NBT_DEBUG_CHILD();
	for (int i = 0; i < INTR_NOBJ; i++)
		ATF_REQUIRE((intr_obj[i] = kmem_intr_alloc(100,
		    KM_NOSLEEP)) != NULL);
	ATF_REQUIRE(signal(SIGUSR1, intr_free_handler) != SIG_ERR);
	ATF_REQUIRE(raise(SIGUSR1) == 0);
	ATF_REQUIRE_EQ(nbmem_leaks_report(-1), 0);
	if (uaf)
		(void)*(volatile char *)intr_obj[INTR_NOBJ - 1];
	for (int i = 0; i < INTR_NOBJ; i++)
		kmem_free(kmem_alloc(100, KM_SLEEP), 100);
	(void)nbmem_reclaim();
	exit(0);
}

CHILD(c_guard_intr_free)
{
	intr_free_run(false);
}

CHILD(c_guard_intr_uaf)
{
	intr_free_run(true);
}

/*
 * Between a 40-byte object and its guard page lie the 24 bytes its
 * 64-byte alignment leaves: a write there is caught at the free.
 */
CHILD(c_guard_slack)
{
	NBT_DEBUG_CHILD();
	volatile char *p = kmem_alloc(40, KM_SLEEP);
	p[45] = 1;
	kmem_free((void *)p, 40);
}

/*
 * The guard and size modes keep the classes' alignments: 16 from 16
 * bytes, 64 from 33.  The size mode keeps the large path's whole pages
 * too (the guard mode ends the object at its guard page): NetBSD's
 * KMEM_SIZE is a footer since about 2019 (spec 4.3, 11.3); as the
 * header it was before, it left pointers only 8-byte aligned.
 */
CHILD(c_align)
{
	const size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	bool guard;

	NBT_DEBUG_CHILD();
	guard = strstr(getenv("NBMEM_DEBUG"), "guard") != NULL;
	for (size_t n = 1; n <= 3 * pg; n += n < 300 ? 1 : 61) {
		char *p = kmem_alloc(n, KM_SLEEP);
		uintptr_t a = n >= pg && !guard ? pg : n > 32 ? 64 :
		    n > 8 ? 16 : 8;

		if (((uintptr_t)p & (a - 1)) != 0) {
			fprintf(stderr, "kmem_alloc(%zu): %p, not aligned on "
			    "%zu\n", n, (void *)p, (size_t)a);
			_exit(2);
		}
		memset(p, 0x5a, n);
		kmem_free(p, n);
	}
	exit(0);
}

CHILD(c_guard_other)
{
	NBT_DEBUG_CHILD();
	volatile char *nowhere = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE |
	    MAP_ANONYMOUS, -1, 0);

	ATF_REQUIRE(nowhere != MAP_FAILED);
	kmem_free(kmem_alloc(64, KM_SLEEP), 64);
	nowhere[16] = 1;		/* not a guard page */
}

CHILD(c_foreign)
{
	static char buf[64];

	NBT_DEBUG_CHILD();
	kmem_free(buf, 64);
}

CHILD(c_cache_obj)
{
	NBT_DEBUG_CHILD();
	pool_cache_t pc = pool_cache_init(32, 0, 0, 0, "dbg-obj", NULL,
	    IPL_NONE, NULL, NULL, NULL);
	void *p = pool_cache_get(pc, PR_WAITOK);
	kmem_free(p, 32);		/* not a kmem object */
}

CHILD(c_clean)
{
	NBT_DEBUG_CHILD();
	for (size_t n = 1; n < 100000; n = n * 3 + 1) {
		char *p = kmem_zalloc(n, KM_SLEEP);
		for (size_t i = 0; i < n; i++)
			ATF_REQUIRE_EQ(p[i], 0);
		memset(p, 7, n);
		kmem_free(p, n);
		char *s = kmem_asprintf("%zu", n);
		kmem_strfree(s);
	}
	void *keep = kmem_alloc(20, KM_SLEEP);
	ATF_REQUIRE_EQ(nbmem_leaks_report(-1), 1);
	kmem_free(keep, 20);
	ATF_REQUIRE_EQ(nbmem_leaks_report(-1), 0);
}

/*
 * What the modes hold after a free (the quarantine, the guard pages)
 * goes back on a reclaim pass: nbmem_reclaim() releases it, and a
 * sleeping allocation at the budget gets it instead of waiting for
 * ever.
 */
#define	HELD_N		4
#define	HELD_SIZE	((size_t)512 << 10)	/* the large path */

CHILD(c_reclaim_held)
{
	void *p[HELD_N];
	size_t live;

	NBT_DEBUG_CHILD();
	for (int i = 0; i < HELD_N; i++)
		p[i] = kmem_alloc(HELD_SIZE, KM_SLEEP);
	live = nbmem_physmem_inuse();
	for (int i = 0; i < HELD_N; i++)
		kmem_free(p[i], HELD_SIZE);
	(void)nbmem_reclaim();
	ATF_REQUIRE_MSG(nbmem_physmem_inuse() + HELD_N * HELD_SIZE <= live,
	    "in use %zu after the frees and a reclaim, %zu before the frees",
	    nbmem_physmem_inuse(), live);

	for (int i = 0; i < HELD_N; i++)
		p[i] = kmem_alloc(HELD_SIZE, KM_SLEEP);
	nbmem_physmem_set(nbmem_physmem_inuse() + HELD_SIZE / 2);
	for (int i = 0; i < HELD_N; i++)
		kmem_free(p[i], HELD_SIZE);
	/* Fits only once what the frees left held is released. */
	kmem_free(kmem_alloc(HELD_SIZE, KM_SLEEP), HELD_SIZE);
	exit(0);
}

CHILD(c_leak)
{
	NBT_DEBUG_CHILD();
	(void)kmem_alloc(20, KM_SLEEP);
	exit(0);			/* the report comes from exit() */
}

ATF_TC_WITHOUT_HEAD(size);
ATF_TC_BODY(size, tc)
{
	nbt_debug_death("c_wrong_size", "size", "wrong size (kmem_free(", NULL);
	nbt_debug_death("c_wrong_size", "size", ", 24) != allocated size 20",
	    NULL);
	nbt_debug_death("c_double_free", "size", "double free", NULL);
	nbt_debug_death("c_large_double_free", "size", "double free", NULL);
}

/*
 * In every mode a size no mapping can hold fails with KM_NOSLEEP and is
 * diagnosed with KM_SLEEP, as without one: the footer, the redzone and
 * the guard page must not wrap it round to a small size.
 */
ATF_TC_WITHOUT_HEAD(huge);
ATF_TC_BODY(huge, tc)
{
	static const char *modes[] = { "size", "redzone", "poison", "guard",
	    "audit", "all" };
	static char err[65536];

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		int st = nbt_debug_run("c_huge_nosleep", modes[i], err,
		    sizeof(err));
		ATF_CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		    "NBMEM_DEBUG=%s: status %#x: %s", modes[i], st, err);
		nbt_debug_death("c_huge_sleep", modes[i], "kmem: \"kva\": "
		    "kmem_alloc(18446744073709551611, KM_SLEEP): size can "
		    "never be met", NULL);
	}
}

/* Under poison, the second free finds the object in the quarantine. */
ATF_TC_WITHOUT_HEAD(double_free_quarantined);
ATF_TC_BODY(double_free_quarantined, tc)
{
	nbt_debug_death("c_double_free", "poison", "kmem: "
	    "\"kmem-00128\": kmem_free: 0x", NULL);
	nbt_debug_death("c_double_free", "poison", ": double "
	    "free (already freed", NULL);
	nbt_debug_death("c_double_free", "poison,size", ": "
	    "double free (already freed", NULL);
	nbt_debug_death("c_double_free", "poison,audit",
	    "was last freed at:", NULL);
}

ATF_TC_WITHOUT_HEAD(quarantine_no_leak);
ATF_TC_BODY(quarantine_no_leak, tc)
{
	static char err[65536];
	int st = nbt_debug_run("c_quarantine_no_leak", "poison,leaks", err,
	    sizeof(err));

	ATF_CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x: %s",
	    st, err);
	ATF_CHECK_MSG(strstr(err, "leak") == NULL, "%s", err);
}

ATF_TC_WITHOUT_HEAD(redzone);
ATF_TC_BODY(redzone, tc)
{
	nbt_debug_death("c_overrun", "redzone", "overrun (redzone byte at "
	    "offset 13, past the 13-byte object", NULL);
	/* With the size footer, the overrun lands on the footer. */
	nbt_debug_death("c_overrun", "size", "overrun", NULL);
	/* The cache's or arena's name, the address and the sizes. */
	nbt_debug_death("c_overrun", "redzone", "kmem: \"kmem-00016\": "
	    "kmem_free: 0x", NULL);
	nbt_debug_death("c_overrun", "size", "kmem: \"kmem-00032\": "
	    "kmem_free: 0x", NULL);
	nbt_debug_death("c_overrun", "size", ", 13) != allocated size ",
	    NULL);
	/* The record confirms the size: the footer was overrun. */
	{
		static char err[65536];
		int st = nbt_debug_run("c_overrun", "size", err, sizeof(err));
		ATF_CHECK_MSG(WIFSIGNALED(st) && strstr(err, "wrong size") ==
		    NULL && strstr(err, ": overrun (") != NULL, "%s", err);
	}
	/* Up to the end of the size class, and of the large path's page. */
	nbt_debug_death("c_overrun_class", "redzone", "kmem: \"kmem-00128\""
	    ": kmem_free: 0x", NULL);
	nbt_debug_death("c_overrun_class", "redzone", "overrun (redzone byte "
	    "at offset 127, past the 72-byte object", NULL);
	nbt_debug_death("c_overrun_large", "redzone", "kmem: \"kva\": "
	    "kmem_free: 0x", NULL);
	nbt_debug_death("c_overrun_large", "redzone", "overrun (redzone byte "
	    "at offset 70100, past the 70000-byte object", NULL);
}

ATF_TC_WITHOUT_HEAD(poison);
ATF_TC_BODY(poison, tc)
{
	nbt_debug_death("c_modified", "poison", "modified after free (byte "
	    "at offset 3 of", "use-after-poison");
	nbt_debug_death("c_modified", "poison", "kmem: \"kmem-00064\": ",
	    "use-after-poison");
}

ATF_TC_WITHOUT_HEAD(guard);
ATF_TC_BODY(guard, tc)
{
	/* The fault is diagnosed (a write past the end, a read after free). */
	nbt_debug_death("c_guard_overrun", "guard", "kmem: \"guard\": ", "SEGV");
	nbt_debug_death("c_guard_overrun", "guard", "overrun (a write at "
	    "offset 64, past the 64-byte object, into its guard page)", "SEGV");
	nbt_debug_death("c_guard_uaf", "guard", "used after free (a read at "
	    "offset 0 of the 300-byte object freed by kmem_free", "SEGV");
	/* A fault elsewhere still reaches the default action. */
	nbt_debug_death_sig("c_guard_other", "guard", SIGSEGV, NULL, "SEGV");
	/* Short of the guard page, the free finds the overrun. */
	nbt_debug_death("c_guard_slack", "guard", "overrun", "SEGV");
}

static void
check_align(const char *modes)
{
	char err[4096];
	int st = nbt_debug_run("c_align", modes, err, sizeof(err));

	ATF_CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: status "
	    "%#x: %s", modes, st, err);
}

ATF_TC_WITHOUT_HEAD(guard_intr_free);
ATF_TC_BODY(guard_intr_free, tc)
{
	static const char *modes[] = { "guard", "all" };
	static char err[65536];

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		int st = nbt_debug_run("c_guard_intr_free", modes[i], err,
		    sizeof(err));
		ATF_CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		    "NBMEM_DEBUG=%s: status %#x: %s", modes[i], st, err);
	}
	nbt_debug_death("c_guard_intr_uaf", "guard", "used after free (a "
	    "read at offset 0 of the 100-byte object freed by kmem_free",
	    "SEGV");
}

ATF_TC_WITHOUT_HEAD(guard_align);
ATF_TC_BODY(guard_align, tc)
{
	check_align("guard");
}

ATF_TC_WITHOUT_HEAD(size_align);
ATF_TC_BODY(size_align, tc)
{
	check_align("size");
}

ATF_TC_WITHOUT_HEAD(foreign);
ATF_TC_BODY(foreign, tc)
{
	nbt_debug_death("c_foreign", "audit", "kmem: \"kmem\": kmem_free: ",
	    NULL);
	nbt_debug_death("c_foreign", "audit", "foreign pointer", NULL);
	nbt_debug_death("c_cache_obj", "audit", "wrong cache (not from kmem: "
	    "handed out by pool_cache \"dbg-obj\"", NULL);
}

ATF_TC_WITHOUT_HEAD(audit);
ATF_TC_BODY(audit, tc)
{
	nbt_debug_death("c_double_free", "audit", "was last freed at:", NULL);
	/* The stack's line gives the size asked, as the rule's line does. */
	nbt_debug_death("c_double_free", "audit", "(pool_cache "
	    "\"kmem-00128\", 100 bytes) was last freed at:", NULL);
}

ATF_TC_WITHOUT_HEAD(all_clean);
ATF_TC_BODY(all_clean, tc)
{
	static char err[65536];
	int st = nbt_debug_run("c_clean", "all", err, sizeof(err));

	ATF_CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x: %s",
	    st, err);
}

ATF_TC_WITHOUT_HEAD(reclaim_held);
ATF_TC_BODY(reclaim_held, tc)
{
	static const char *modes[] = { "poison", "guard", "all" };
	static char err[65536];

	/* Without the release, a diagnostic instead of a hang. */
	ATF_REQUIRE(setenv("NBMEM_SLEEP_TIMEOUT", "60", 1) == 0);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		int st = nbt_debug_run("c_reclaim_held", modes[i], err,
		    sizeof(err));
		ATF_CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		    "NBMEM_DEBUG=%s: status %#x: %s", modes[i], st, err);
	}
}

ATF_TC_WITHOUT_HEAD(leaks_at_exit);
ATF_TC_BODY(leaks_at_exit, tc)
{
	static char err[65536];
	int st = nbt_debug_run("c_leak", "leaks", err, sizeof(err));

	ATF_CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x: %s",
	    st, err);
	ATF_CHECK_MSG(strstr(err, "nbmem: leak: kmem \"kmem-00032\": ") !=
	    NULL, "%s", err);
	ATF_CHECK_MSG(strstr(err, ", 20 bytes, still allocated; allocated "
	    "at:") != NULL, "%s", err);
	ATF_CHECK_MSG(strstr(err, "nbmem: leaks: 1 objects, 20 bytes") !=
	    NULL, "%s", err);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, c_wrong_size);
	ATF_TP_ADD_TC(tp, c_double_free);
	ATF_TP_ADD_TC(tp, c_quarantine_no_leak);
	ATF_TP_ADD_TC(tp, c_huge_nosleep);
	ATF_TP_ADD_TC(tp, c_huge_sleep);
	ATF_TP_ADD_TC(tp, c_large_double_free);
	ATF_TP_ADD_TC(tp, c_overrun);
	ATF_TP_ADD_TC(tp, c_overrun_class);
	ATF_TP_ADD_TC(tp, c_overrun_large);
	ATF_TP_ADD_TC(tp, c_modified);
	ATF_TP_ADD_TC(tp, c_guard_overrun);
	ATF_TP_ADD_TC(tp, c_guard_slack);
	ATF_TP_ADD_TC(tp, c_guard_uaf);
	ATF_TP_ADD_TC(tp, c_guard_other);
	ATF_TP_ADD_TC(tp, c_guard_intr_free);
	ATF_TP_ADD_TC(tp, c_guard_intr_uaf);
	ATF_TP_ADD_TC(tp, c_align);
	ATF_TP_ADD_TC(tp, guard_align);
	ATF_TP_ADD_TC(tp, size_align);
	ATF_TP_ADD_TC(tp, c_foreign);
	ATF_TP_ADD_TC(tp, c_cache_obj);
	ATF_TP_ADD_TC(tp, c_clean);
	ATF_TP_ADD_TC(tp, c_reclaim_held);
	ATF_TP_ADD_TC(tp, c_leak);
	ATF_TP_ADD_TC(tp, size);
	ATF_TP_ADD_TC(tp, huge);
	ATF_TP_ADD_TC(tp, double_free_quarantined);
	ATF_TP_ADD_TC(tp, quarantine_no_leak);
	ATF_TP_ADD_TC(tp, redzone);
	ATF_TP_ADD_TC(tp, poison);
	ATF_TP_ADD_TC(tp, guard);
	ATF_TP_ADD_TC(tp, guard_intr_free);
	ATF_TP_ADD_TC(tp, foreign);
	ATF_TP_ADD_TC(tp, audit);
	ATF_TP_ADD_TC(tp, all_clean);
	ATF_TP_ADD_TC(tp, reclaim_held);
	ATF_TP_ADD_TC(tp, leaks_at_exit);
	return atf_no_error();
}

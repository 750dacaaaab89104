/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_kmem_misuse: the misuse table of kmem(3) (NetBSD kmem(9)'s KASSERTs
 * and what the layers below detect), each case in a child process that
 * must abort with the expected diagnostic.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <atf-c.h>

#include <nbmem/kmem.h>
#include <nbmem/nbmem.h>

#include "nbtest.h"

static void
alloc_size0(void *arg)
{
	(void)kmem_alloc(0, KM_SLEEP);
}

static void
zalloc_size0(void *arg)
{
	(void)kmem_zalloc(0, KM_NOSLEEP);
}

static void
intr_alloc_size0(void *arg)
{
	(void)kmem_intr_alloc(0, KM_NOSLEEP);
}

static void
intr_zalloc_size0(void *arg)
{
	(void)kmem_intr_zalloc(0, KM_NOSLEEP);
}

ATF_TC_WITHOUT_HEAD(size_zero);
ATF_TC_BODY(size_zero, tc)
{
	nbt_death(alloc_size0, NULL, "nbmem: kmem: kmem_alloc(0, 0x1): size 0");
	nbt_death(zalloc_size0, NULL,
	    "nbmem: kmem: kmem_zalloc(0, 0x2): size 0");
	nbt_death(intr_alloc_size0, NULL,
	    "nbmem: kmem: kmem_intr_alloc(0, 0x2): size 0");
	/* Each function is named in its own diagnostics. */
	nbt_death(intr_zalloc_size0, NULL,
	    "nbmem: kmem: kmem_intr_zalloc(0, 0x2): size 0");
}

static void
flags_none(void *arg)
{
	(void)kmem_alloc(64, 0);
}

static void
flags_both(void *arg)
{
	(void)kmem_alloc(64, KM_SLEEP | KM_NOSLEEP);
}

static void
flags_large(void *arg)
{
	(void)kmem_intr_alloc(1 << 20, KM_SLEEP | KM_NOSLEEP);
}

static void
flags_unknown(void *arg)
{
	(void)kmem_zalloc(64, KM_SLEEP | 0x100);
}

ATF_TC_WITHOUT_HEAD(bad_flags);
ATF_TC_BODY(bad_flags, tc)
{
	const char *rule = "flags must be exactly one of KM_SLEEP and "
	    "KM_NOSLEEP";

	nbt_death(flags_none, NULL, "kmem: kmem_alloc(64, 0x0): flags must");
	nbt_death(flags_both, NULL, "kmem: kmem_alloc(64, 0x3): flags must");
	nbt_death(flags_large, NULL, rule);
	nbt_death(flags_unknown, NULL, "kmem_zalloc(64, 0x101)");
}

static void
free_null(void *arg)
{
	kmem_free(NULL, 64);
}

static void
intr_free_null(void *arg)
{
	kmem_intr_free(NULL, 1 << 20);
}

static void
free_size0(void *arg)
{
	void *p = kmem_alloc(64, KM_SLEEP);

	kmem_free(p, 0);
}

ATF_TC_WITHOUT_HEAD(free_args);
ATF_TC_BODY(free_args, tc)
{
	nbt_death(free_null, NULL,
	    "nbmem: kmem: kmem_free(NULL, 64): NULL pointer");
	nbt_death(intr_free_null, NULL,
	    "nbmem: kmem: kmem_intr_free(NULL, 1048576): NULL pointer");
	nbt_death(free_size0, NULL, "): size 0");
}

/*
 * Set up before the handler: setting up is not async-signal-safe.  The
 * object freed first waits in this thread's (or this CPU's) slot, so
 * the inline fast path itself must decline inside the handler.
 */
static void
alloc_in_handler(void *arg)
{
	kmem_free(kmem_alloc(100, KM_SLEEP), 100);
	nbmem_intr_enter();
	(void)kmem_alloc(100, KM_NOSLEEP);
}

static void
zalloc_in_handler(void *arg)
{
	kmem_init();
	nbmem_intr_enter();
	(void)kmem_zalloc(1 << 20, KM_NOSLEEP);
}

static void
free_in_handler(void *arg)
{
	void *p = kmem_alloc(100, KM_SLEEP);

	nbmem_intr_enter();
	kmem_free(p, 100);
}

static void
intr_sleep_in_handler(void *arg)
{
	kmem_init();
	nbmem_intr_enter();
	(void)kmem_intr_alloc(100, KM_SLEEP);
}

static void
intr_zsleep_in_handler(void *arg)
{
	kmem_init();
	nbmem_intr_enter();
	(void)kmem_intr_zalloc(100, KM_SLEEP);
}

static void
strdup_in_handler(void *arg)
{
	kmem_init();
	nbmem_intr_enter();
	(void)kmem_strdup("x", KM_NOSLEEP);
}

ATF_TC_WITHOUT_HEAD(interrupt_context);
ATF_TC_BODY(interrupt_context, tc)
{
	nbt_death(alloc_in_handler, NULL, "nbmem: kmem: \"kmem-00128\": "
	    "kmem_alloc(100): called from interrupt (signal handler) context");
	nbt_death(zalloc_in_handler, NULL, "nbmem: kmem: \"kva\": "
	    "kmem_zalloc(1048576): called from interrupt");
	nbt_death(free_in_handler, NULL, "nbmem: kmem: \"kmem-00128\": "
	    "kmem_free(0x");
	nbt_death(free_in_handler, NULL, ", 100): called from interrupt "
	    "(signal handler) context (use kmem_intr_free)");
	nbt_death(intr_sleep_in_handler, NULL, "nbmem: kmem: \"kmem-00128\": "
	    "kmem_intr_alloc(100, KM_SLEEP): sleeping call from interrupt");
	nbt_death(intr_zsleep_in_handler, NULL, "nbmem: kmem: \"kmem-00128\": "
	    "kmem_intr_zalloc(100, KM_SLEEP): sleeping call from interrupt");
	nbt_death(strdup_in_handler, NULL,
	    "\"kmem-00008\": kmem_alloc(2): called from interrupt");
}

static void
strndup_null(void *arg)
{
	(void)kmem_strndup(NULL, 5, KM_SLEEP);
}

static void
strndup_zero(void *arg)
{
	(void)kmem_strndup("abc", 0, KM_SLEEP);
}

ATF_TC_WITHOUT_HEAD(strndup_args);
ATF_TC_BODY(strndup_args, tc)
{
	nbt_death(strndup_null, NULL,
	    "nbmem: kmem: kmem_strndup(0x0, 5): NULL string");
	nbt_death(strndup_zero, NULL, "kmem_strndup(0x");
	nbt_death(strndup_zero, NULL, ", 0): maxlen 0");
}

static void
never_met(void *arg)
{
	(void)kmem_alloc(SIZE_MAX - 100, KM_SLEEP);
}

/* Larger than the address space: it could only wait for ever. */
static void
never_met_span(void *arg)
{
	(void)kmem_alloc((size_t)1 << 62, KM_SLEEP);
}

ATF_TC_WITHOUT_HEAD(huge);
ATF_TC_BODY(huge, tc)
{
	/* Memory in use: a count that would wrap must not be charged. */
	void *held = kmem_alloc(300000, KM_SLEEP);

	ATF_CHECK(kmem_alloc(SIZE_MAX - 100, KM_NOSLEEP) == NULL);
	ATF_CHECK(kmem_alloc(SIZE_MAX / 2, KM_NOSLEEP) == NULL);
	ATF_CHECK(kmem_alloc((size_t)0xfffffffffffff000ull, KM_NOSLEEP) ==
	    NULL);
	ATF_CHECK(kmem_intr_alloc((size_t)0xffffffffffff0000ull,
	    KM_NOSLEEP) == NULL);
	ATF_CHECK(kmem_alloc((size_t)1 << 62, KM_NOSLEEP) == NULL);
	kmem_free(held, 300000);
	nbt_death(never_met, NULL, "can never be met");
	nbt_death(never_met_span, NULL, "can never be met");
}

/*
 * A 64-byte object freed as 128 bytes is put to kmem-00128's cache,
 * whose pool keeps its page headers on the page: the put itself finds
 * the page belongs to another pool.  A 2048-byte object freed as 8000
 * bytes goes to kmem-08192's cache, whose pool keeps its headers off the
 * page: that pool refuses it when the cache is emptied (reclaim, which
 * visits the pools that hold pages: one object of the class is kept).
 */
/* What a class's check adds when the cache or pool is kmem's. */
#define	KMEM_HINT	"given to kmem_free with a size of this class: " \
			"wrong size, or foreign pointer"

static void
wrong_class(void *arg)
{
	void *keep = kmem_alloc(128, KM_SLEEP);
	void *p = kmem_alloc(64, KM_SLEEP);

	(void)keep;

	kmem_free(p, 128);
	(void)nbmem_reclaim();
}

static void
wrong_class_big(void *arg)
{
	void *keep = kmem_alloc(8000, KM_SLEEP);
	void *p = kmem_alloc(2048, KM_SLEEP);

	(void)keep;
	kmem_free(p, 8000);
	(void)nbmem_reclaim();
}

/* The same with no object of the wrong class live: no page there. */
static void
wrong_class_nopage(void *arg)
{
	void *p = kmem_alloc(2048, KM_SLEEP);

	kmem_free(p, 8000);
	(void)nbmem_reclaim();
}

ATF_TC_WITHOUT_HEAD(wrong_size_class);
ATF_TC_BODY(wrong_size_class, tc)
{
	nbt_death(wrong_class_nopage, NULL, "pool \"kmem-08192\": pool_put: ");
	nbt_death(wrong_class, NULL,
	    "pool_cache: \"kmem-00128\": pool_cache_put: ");
	nbt_death(wrong_class, NULL, "foreign pointer (its page belongs to "
	    "another pool: wrong cache)");
	nbt_death(wrong_class_big, NULL, "pool \"kmem-08192\": pool_put: ");
	nbt_death(wrong_class_big, NULL, "foreign pointer");
	/* The pool cache's and the pool's checks name kmem's rule too. */
	nbt_death(wrong_class, NULL, KMEM_HINT);
	nbt_death(wrong_class_nopage, NULL, KMEM_HINT);
	nbt_death(wrong_class_big, NULL, KMEM_HINT);
}

/* Same class: harmless, as in NetBSD without KMEM_SIZE. */
ATF_TC_WITHOUT_HEAD(wrong_size_same_class);
ATF_TC_BODY(wrong_size_same_class, tc)
{
	void *p = kmem_alloc(100, KM_SLEEP);

	kmem_free(p, 128);
	(void)nbmem_reclaim();
}

static void
large_wrong_size(void *arg)
{
	void *p = kmem_alloc(1 << 20, KM_SLEEP);

	kmem_free(p, 2 << 20);
}

static void
large_short_size(void *arg)
{
	void *p = kmem_alloc(1 << 20, KM_SLEEP);

	kmem_free(p, 512 << 10);
}

static void
large_interior(void *arg)
{
	char *p = kmem_alloc(1 << 20, KM_SLEEP);

	kmem_free(p + 4096, (1 << 20) - 4096);
}

/* A class's object freed with a size of the large path. */
static void
small_as_large(void *arg)
{
	void *p = kmem_alloc(40, KM_SLEEP);

	kmem_free(p, 100000);
}

ATF_TC_WITHOUT_HEAD(large_misuse);
ATF_TC_BODY(large_misuse, tc)
{
	nbt_death(large_wrong_size, NULL, "kva");
	nbt_death(large_short_size, NULL, "kva");
	nbt_death(large_interior, NULL, "kva");
	nbt_death(small_as_large, NULL, "kmem: \"kva\": kmem_free(0x");
	nbt_death(small_as_large, NULL, ", 100000): address not page-aligned, "
	    "as every object of this size is: wrong size, or foreign pointer");
}

static void
foreign_small(void *arg)
{
	void *keep = kmem_alloc(64, KM_SLEEP);
	void *p = malloc(64);

	(void)keep;
	kmem_free(p, 64);
	(void)nbmem_reclaim();
}

static void
foreign_large(void *arg)
{
	static char buf[1 << 17] __attribute__((__aligned__(4096)));

	kmem_free(buf, sizeof(buf));
}

static void
foreign_unaligned(void *arg)
{
	kmem_free((char *)malloc(1 << 18) + 8, 1 << 17);
}

ATF_TC_WITHOUT_HEAD(foreign_pointer);
ATF_TC_BODY(foreign_pointer, tc)
{
	nbt_death(foreign_small, NULL,
	    "pool_cache: \"kmem-00064\": pool_cache_put: ");
	nbt_death(foreign_small, NULL, "foreign pointer");
	nbt_death(foreign_large, NULL, "uvm_km: arena \"kva\": "
	    "uvm_km_kmem_free: ");
	nbt_death(foreign_large, NULL, "is not address space the page layer "
	    "reserved");
	nbt_death(foreign_unaligned, NULL, "address not page-aligned");
}

static void
large_double_free(void *arg)
{
	void *p = kmem_alloc(1 << 20, KM_SLEEP);

	kmem_free(p, 1 << 20);
	kmem_free(p, 1 << 20);
}

ATF_TC_WITHOUT_HEAD(double_free_large);
ATF_TC_BODY(double_free_large, tc)
{
	nbt_death(large_double_free, NULL, "kva");
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, size_zero);
	ATF_TP_ADD_TC(tp, bad_flags);
	ATF_TP_ADD_TC(tp, free_args);
	ATF_TP_ADD_TC(tp, interrupt_context);
	ATF_TP_ADD_TC(tp, strndup_args);
	ATF_TP_ADD_TC(tp, huge);
	ATF_TP_ADD_TC(tp, wrong_size_class);
	ATF_TP_ADD_TC(tp, wrong_size_same_class);
	ATF_TP_ADD_TC(tp, large_misuse);
	ATF_TP_ADD_TC(tp, foreign_pointer);
	ATF_TP_ADD_TC(tp, double_free_large);
	return atf_no_error();
}

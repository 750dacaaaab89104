/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_pool_misuse: every pool(3) misuse nbmem diagnoses aborts with one
 * line naming the pool, the address or sizes involved and the rule
 * broken (spec 2.6 and 9).  Each case runs in a child process.
 */
#include <sys/types.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <atf-c.h>

#include <nbmem/intr.h>
#include <nbmem/nbmem.h>
#include <nbmem/pool.h>

#include "nbtest.h"

static struct pool *
mk(const char *name, size_t size, int flags)
{
	struct pool *pp = calloc(1, sizeof(*pp));

	if (pp == NULL)
		abort();
	pool_init(pp, size, 0, 0, flags, name, NULL, IPL_NONE);
	return pp;
}

/* ---- foreign and interior pointers */

static void
foreign_onpage(void *arg)
{
	struct pool *a = mk("m_onpage_a", 64, 0);
	struct pool *b = mk("m_onpage_b", 64, 0);
	void *v = pool_get(b, PR_WAITOK);

	(void)arg;
	pool_put(a, v);		/* b's item to a: wrong pool id */
}

static void
foreign_offpage(void *arg)
{
	struct pool *a = mk("m_offpage", 1024, 0);
	static char buf[2048];

	(void)arg;
	(void)pool_get(a, PR_WAITOK);
	pool_put(a, buf);
}

static void
foreign_offpage_other(void *arg)
{
	struct pool *a = mk("m_offpage_a", 1024, 0);
	struct pool *b = mk("m_offpage_b", 1024, 0);

	(void)arg;
	(void)pool_get(a, PR_WAITOK);
	pool_put(a, pool_get(b, PR_WAITOK));
}

static void
foreign_below(void *arg)
{
	struct pool *a = mk("m_below", 64, 0);
	char *v = pool_get(a, PR_WAITOK);

	(void)arg;
	/* The start of the page: the header, not an item. */
	pool_put(a, (void *)((uintptr_t)v & ~(uintptr_t)4095));
}

ATF_TC_WITHOUT_HEAD(foreign_pointer);
ATF_TC_BODY(foreign_pointer, tc)
{
	nbt_death(foreign_onpage, NULL, "pool \"m_onpage_a\": pool_put");
	nbt_death(foreign_onpage, NULL, "foreign pointer");
	nbt_death(foreign_onpage, NULL, "wrong pool");
	/* The sizes and the page's owner, as NetBSD's "poolid %u != %u". */
	nbt_death(foreign_onpage, NULL, "foreign pointer (its page belongs "
	    "to another pool (pool id ");
	nbt_death(foreign_onpage, NULL, "; this pool's items are 64 bytes");
	nbt_death(foreign_offpage, NULL, "; this pool's items are 1024 "
	    "bytes");
	nbt_death(foreign_offpage, NULL, "pool \"m_offpage\": pool_put");
	nbt_death(foreign_offpage, NULL, "foreign pointer");
	nbt_death(foreign_offpage_other, NULL, "page header missing");
	nbt_death(foreign_below, NULL, "below the item area");
}

static void
interior(void *arg)
{
	struct pool *a = mk("m_interior", (size_t)(uintptr_t)arg,
	    (size_t)(uintptr_t)arg == 4 ? PR_NOTOUCH : 0);
	char *v = pool_get(a, PR_WAITOK);

	pool_put(a, v + 8);
}

ATF_TC_WITHOUT_HEAD(interior_pointer);
ATF_TC_BODY(interior_pointer, tc)
{
	/* A free-list pool, a bitmap pool, an off-page pool. */
	nbt_death(interior, (void *)(uintptr_t)32, "not the start of an item");
	nbt_death(interior, (void *)(uintptr_t)100,
	    "not the start of an item");
	nbt_death(interior, (void *)(uintptr_t)1024,
	    "pool \"m_interior\": pool_put");
	nbt_death(interior, (void *)(uintptr_t)1024, "interior pointer");
}

/* ---- double put */

static void
double_put(void *arg)
{
	size_t size = (size_t)(uintptr_t)arg;
	struct pool *a = mk("m_double", size, 0);
	void *v = pool_get(a, PR_WAITOK);
	void *w = pool_get(a, PR_WAITOK);

	pool_put(a, v);
	pool_put(a, v);
	(void)w;
}

static void
double_put_last(void *arg)
{
	struct pool *a = mk("m_double_last", (size_t)(uintptr_t)arg, 0);
	void *v = pool_get(a, PR_WAITOK);

	pool_put(a, v);
	pool_put(a, v);
}

ATF_TC_WITHOUT_HEAD(double_free);
ATF_TC_BODY(double_free, tc)
{
	/* 32-byte items: a free list; 64: an on-page bitmap; 1024: off. */
	nbt_death(double_put, (void *)(uintptr_t)32, "double free");
	nbt_death(double_put, (void *)(uintptr_t)32, "pool \"m_double\"");
	nbt_death(double_put, (void *)(uintptr_t)64, "double free");
	nbt_death(double_put, (void *)(uintptr_t)64, "double free (the item "
	    "of 64 bytes is already free)");
	nbt_death(double_put, (void *)(uintptr_t)1024, "double free");
	nbt_death(double_put_last, (void *)(uintptr_t)32, "double free");
	nbt_death(double_put_last, (void *)(uintptr_t)1024, "double free");
}

/* A live item that holds the free-list magic is not a double free. */
ATF_TC_WITHOUT_HEAD(magic_in_live_item);
ATF_TC_BODY(magic_in_live_item, tc)
{
	struct pool *a = mk("m_magic", 32, 0);
	uint32_t *v[3];

	for (int i = 0; i < 3; i++) {
		v[i] = pool_get(a, PR_WAITOK);
		for (int j = 0; j < 8; j++)
			v[i][j] = 0xdeaddeadu;
	}
	for (int i = 0; i < 3; i++)
		pool_put(a, v[i]);
	ATF_CHECK_EQ(a->pr_nout, 0);
	ATF_CHECK_EQ(pool_chk(a, "magic"), 0);
	pool_destroy(a);
	free(a);
}

static void
modified_after_free(void *arg)
{
	struct pool *a = mk("m_modified", 32, 0);
	uint32_t *v = pool_get(a, PR_WAITOK);

	(void)arg;
	pool_put(a, v);
	v[2] = 0x12345678;	/* the magic word of the freed item */
	(void)pool_get(a, PR_WAITOK);
}

static void
modified_link(void *arg)
{
	struct pool *a = mk("m_modified_link", 32, 0);
	void **v = pool_get(a, PR_WAITOK);

	(void)arg;
	pool_put(a, v);
	v[0] = (void *)(uintptr_t)0x1000;	/* the link */
	(void)pool_get(a, PR_WAITOK);
}

ATF_TC_WITHOUT_HEAD(modified);
ATF_TC_BODY(modified, tc)
{
	nbt_death(modified_after_free, NULL, "modified after free");
	nbt_death(modified_after_free, NULL, "pool \"m_modified\": pool_get");
	nbt_death(modified_link, NULL, "free list link overwritten");
	nbt_death(modified_after_free, NULL, "bytes) on page");
}

/* ---- destroy, hooks, uninitialised pools */

static void
destroy_busy(void *arg)
{
	struct pool *a = mk("m_destroy", 64, 0);

	(void)arg;
	(void)pool_get(a, PR_WAITOK);
	(void)pool_get(a, PR_WAITOK);
	pool_destroy(a);
}

ATF_TC_WITHOUT_HEAD(destroy_with_items);
ATF_TC_BODY(destroy_with_items, tc)
{
	nbt_death(destroy_busy, NULL, "pool \"m_destroy\": pool_destroy");
	nbt_death(destroy_busy, NULL, "2 items (128 bytes) still out, the "
	    "first at 0x");
}

static void
hook(void *arg, int flags)
{
	(void)arg;
	(void)flags;
}

static void
second_hook(void *arg)
{
	struct pool *a = mk("m_hook", 64, 0);

	(void)arg;
	pool_set_drain_hook(a, hook, NULL);
	pool_set_drain_hook(a, hook, NULL);
}

static void
uninit_get(void *arg)
{
	struct pool *a = calloc(1, sizeof(*a));

	(void)arg;
	(void)pool_get(a, PR_WAITOK);
}

static void
destroyed_put(void *arg)
{
	struct pool *a = mk("m_destroyed", 64, 0);

	(void)arg;
	pool_destroy(a);
	(void)pool_get(a, PR_NOWAIT);
}

static void
double_init(void *arg)
{
	struct pool *a = mk("m_init", 64, 0);

	(void)arg;
	pool_init(a, 64, 0, 0, 0, "m_init_again", NULL, IPL_NONE);
}

static void
put_null(void *arg)
{
	struct pool *a = mk("m_null", 64, 0);

	(void)arg;
	pool_put(a, NULL);
}

ATF_TC_WITHOUT_HEAD(lifecycle);
ATF_TC_BODY(lifecycle, tc)
{
	nbt_death(second_hook, NULL, "a drain hook is already set");
	nbt_death(uninit_get, NULL, "pool not initialised");
	nbt_death(destroyed_put, NULL, "pool not initialised");
	nbt_death(double_init, NULL, "already initialised");
	nbt_death(put_null, NULL, "pool \"m_null\": pool_put: NULL pointer");
}

/* ---- bad arguments */

static void
get_flags(void *arg)
{
	struct pool *a = mk("m_flags", 64, 0);

	(void)pool_get(a, (int)(intptr_t)arg);
}

struct initargs {
	size_t		size;
	unsigned int	align, align_offset;
	int		flags, ipl;
	struct pool_allocator *pa;
};

static void
bad_init(void *arg)
{
	struct initargs *ia = arg;
	struct pool p;

	memset(&p, 0, sizeof(p));
	pool_init(&p, ia->size, ia->align, ia->align_offset, ia->flags,
	    "m_init", ia->pa, ia->ipl);
}

static void *
nop_alloc(struct pool *pp, int flags)
{
	(void)pp;
	(void)flags;
	return NULL;
}

static void
nop_free(struct pool *pp, void *v)
{
	(void)pp;
	(void)v;
}

static struct pool_allocator odd_pa = {
	.pa_alloc = nop_alloc, .pa_free = nop_free, .pa_pagesz = 12288,
};

/* 1 MiB pages: 129,018 items of 8 bytes, more than a header counts. */
static struct pool_allocator huge_pa = {
	.pa_alloc = nop_alloc, .pa_free = nop_free, .pa_pagesz = 1u << 20,
};

ATF_TC_WITHOUT_HEAD(bad_arguments);
ATF_TC_BODY(bad_arguments, tc)
{
	struct initargs ia;

	nbt_death(get_flags, (void *)(intptr_t)0, "pool_get: bad flags 0");
	nbt_death(get_flags, (void *)(intptr_t)(PR_WAITOK | PR_NOWAIT),
	    "pool \"m_flags\": pool_get: bad flags 0x3");
	nbt_death(get_flags, (void *)(intptr_t)(PR_WAITOK | PR_PHINPAGE),
	    "bad flags");

	memset(&ia, 0, sizeof(ia));
	ia.size = 64;
	ia.align_offset = 8;
	nbt_death(bad_init, &ia, "pool \"m_init\": pool_init: align_offset 8");
	ia.align_offset = 0;
	ia.align = 24;
	nbt_death(bad_init, &ia, "align 24 is not a power of two");
	ia.align = 0;
	ia.flags = PR_WAITOK;
	nbt_death(bad_init, &ia, "pool_init: bad flags 0x1");
	ia.flags = PR_PHINPAGE | PR_NOALIGN;
	nbt_death(bad_init, &ia, "PR_PHINPAGE needs aligned pages");
	ia.flags = 0;
	ia.size = 0;
	nbt_death(bad_init, &ia, "pool_init: size 0");
	ia.size = (size_t)sysconf(_SC_PAGESIZE) + 1;
	nbt_death(bad_init, &ia, "is larger than the allocator's page");
	ia.size = 64;
	ia.ipl = 99;
	nbt_death(bad_init, &ia, "bad ipl 99");
	ia.ipl = IPL_NONE;
	ia.pa = &odd_pa;
	nbt_death(bad_init, &ia, "page size 12288 is not a power of two");
	ia.pa = &huge_pa;
	ia.size = 8;
	ia.flags = PR_PHINPAGE | PR_NOTOUCH;
	nbt_death(bad_init, &ia, "pool \"m_init\": pool_init: 129018 items "
	    "of 8 bytes on a 1048576-byte page: more than a page header "
	    "counts (65535)");
}

/* ---- interrupt context */

static void
intr_ipl_none(void *arg)
{
	struct pool *a = mk("m_intr", 64, 0);
	void *v = pool_get(a, PR_WAITOK);

	nbmem_intr_enter();
	if (arg != NULL)
		pool_put(a, v);
	else
		(void)pool_get(a, PR_NOWAIT);
}

static void
intr_waitok(void *arg)
{
	struct pool p;

	(void)arg;
	pool_init(&p, 64, 0, 0, 0, "m_intr_vm", NULL, IPL_VM);
	nbmem_intr_enter();
	(void)pool_get(&p, PR_WAITOK);
}

static void
intr_reclaim(void *arg)
{
	struct pool p;

	(void)arg;
	pool_init(&p, 64, 0, 0, 0, "m_intr_reclaim", NULL, IPL_VM);
	nbmem_intr_enter();
	(void)pool_reclaim(&p);
}

ATF_TC_WITHOUT_HEAD(interrupt_context);
ATF_TC_BODY(interrupt_context, tc)
{
	nbt_death(intr_ipl_none, NULL, "\"m_intr\": pool_get: object "
	    "created at IPL_NONE used from interrupt");
	nbt_death(intr_ipl_none, (void *)1, "\"m_intr\": pool_put: object "
	    "created at IPL_NONE");
	nbt_death(intr_waitok, NULL, "\"m_intr_vm\": pool_get(PR_WAITOK): "
	    "sleeping call from interrupt");
	nbt_death(intr_reclaim, NULL, "pool_reclaim: sleeping call");
}

/* ---- an allocator that fails a PR_WAITOK page */

static struct pool_allocator null_pa = {
	.pa_alloc = nop_alloc, .pa_free = nop_free,
};

static void
waitok_nopage(void *arg)
{
	struct pool p;

	(void)arg;
	pool_init(&p, 64, 0, 0, 0, "m_nopage", &null_pa, IPL_NONE);
	(void)pool_get(&p, PR_WAITOK);
}

/*
 * NetBSD's pool_get asserts that a get that may sleep, without
 * PR_LIMITFAIL, does not fail: pa_alloc must not return NULL for
 * PR_WAITOK (spec 2.1, the allocator contract).
 */
ATF_TC_WITHOUT_HEAD(waitok_allocator_fails);
ATF_TC_BODY(waitok_allocator_fails, tc)
{
	char want[160];

	snprintf(want, sizeof(want), "pool \"m_nopage\": pool_get: "
	    "allocator %p returned no page (4096 bytes) for PR_WAITOK",
	    (void *)&null_pa);
	if (sysconf(_SC_PAGESIZE) != 4096)
		snprintf(want, sizeof(want), "pool \"m_nopage\": pool_get: "
		    "allocator %p returned no page", (void *)&null_pa);
	nbt_death(waitok_nopage, NULL, want);
}

/* ---- NBMEM_SLEEP_TIMEOUT bounds a wait at the hard limit */

static void
limit_forever(void *arg)
{
	struct pool *a;

	(void)arg;
	setenv("NBMEM_SLEEP_TIMEOUT", "0.2", 1);
	a = mk("m_limit", 64, 0);
	pool_sethardlimit(a, 1, NULL, 0);
	(void)pool_get(a, PR_WAITOK);
	(void)pool_get(a, PR_WAITOK);
}

ATF_TC_WITHOUT_HEAD(sleep_timeout);
ATF_TC_BODY(sleep_timeout, tc)
{
	nbt_death(limit_forever, NULL, "pool \"m_limit\": pool_get: waited "
	    "for the hard limit (1 items) longer than NBMEM_SLEEP_TIMEOUT");
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, foreign_pointer);
	ATF_TP_ADD_TC(tp, interior_pointer);
	ATF_TP_ADD_TC(tp, double_free);
	ATF_TP_ADD_TC(tp, magic_in_live_item);
	ATF_TP_ADD_TC(tp, modified);
	ATF_TP_ADD_TC(tp, destroy_with_items);
	ATF_TP_ADD_TC(tp, lifecycle);
	ATF_TP_ADD_TC(tp, bad_arguments);
	ATF_TP_ADD_TC(tp, interrupt_context);
	ATF_TP_ADD_TC(tp, sleep_timeout);
	ATF_TP_ADD_TC(tp, waitok_allocator_fails);
	return atf_no_error();
}

/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * With NBMEM_DEBUG=all every misuse of the allocators' objects is
 * diagnosed, in the taxonomy's words, naming the object and address:
 * those the normal build already catches (they must survive the debug
 * modes' changes to layouts and paths) and those only the modes see,
 * NetBSD's DIAGNOSTIC/DEBUG-only cases: a double put or a foreign
 * pointer given to a cache, a quantum-cache free of vmem with another
 * size, kmem's wrong size within a class.  Each misuse runs in a fresh
 * process started with NBMEM_DEBUG=all (nbdebug.h); the "c_" cases are
 * those children and skip when run directly.
 */
#include <sys/mman.h>

#include <string.h>

#include <nbmem/kmem.h>
#include <nbmem/nbmem.h>
#include <nbmem/pool.h>
#include <nbmem/vmem.h>

#include "nbdebug.h"

#define	CHILD(name)	ATF_TC_WITHOUT_HEAD(name); ATF_TC_BODY(name, tc)

static pool_cache_t
mkcache(const char *name, size_t size)
{
	pool_cache_t pc = pool_cache_init(size, 0, 0, 0, name, NULL,
	    IPL_NONE, NULL, NULL, NULL);

	ATF_REQUIRE(pc != NULL);
	return pc;
}

/* Memory of no allocator, mapped (checks may read around a pointer). */
static char *
foreign(void)
{
	char *p = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE |
	    MAP_ANONYMOUS, -1, 0);

	ATF_REQUIRE(p != MAP_FAILED);
	return p + 4096 + 64;
}

static vmem_t *
mkarena(void)
{
	vmem_t *vm = vmem_create("dm-arena", 0x10000, 1 << 20, 16, NULL,
	    NULL, NULL, 64, VM_SLEEP, IPL_NONE);

	ATF_REQUIRE(vm != NULL);
	return vm;
}

/* ---- vmem: its quantum caches */

CHILD(c_vmem_qc_double_free)
{
	vmem_addr_t a;

	NBT_DEBUG_CHILD();
	vmem_t *vm = mkarena();
	ATF_REQUIRE(vmem_alloc(vm, 16, VM_SLEEP | VM_INSTANTFIT, &a) == 0);
	vmem_free(vm, a, 16);
	vmem_free(vm, a, 16);
}

CHILD(c_vmem_qc_wrong_size)
{
	vmem_addr_t a;

	NBT_DEBUG_CHILD();
	vmem_t *vm = mkarena();
	ATF_REQUIRE(vmem_alloc(vm, 16, VM_SLEEP | VM_INSTANTFIT, &a) == 0);
	vmem_free(vm, a, 64);
}

CHILD(c_vmem_qc_never)
{
	vmem_addr_t a;

	NBT_DEBUG_CHILD();
	vmem_t *vm = mkarena();
	ATF_REQUIRE(vmem_alloc(vm, 16, VM_SLEEP | VM_INSTANTFIT, &a) == 0);
	vmem_free(vm, a + 16, 16);	/* never handed out */
}

CHILD(c_vmem_double_free)
{
	vmem_addr_t a;

	NBT_DEBUG_CHILD();
	vmem_t *vm = mkarena();
	ATF_REQUIRE(vmem_alloc(vm, 4096, VM_SLEEP | VM_INSTANTFIT, &a) == 0);
	vmem_free(vm, a, 4096);
	vmem_free(vm, a, 4096);
}

/* ---- pool */

static struct pool dm_pool;

static char *
pool_item(void)
{
	pool_init(&dm_pool, 48, 0, 0, 0, "dm-pool", NULL, IPL_NONE);
	return pool_get(&dm_pool, PR_WAITOK);
}

CHILD(c_pool_double_put)
{
	NBT_DEBUG_CHILD();
	char *p = pool_item();
	pool_put(&dm_pool, p);
	pool_put(&dm_pool, p);
}

CHILD(c_pool_interior)
{
	NBT_DEBUG_CHILD();
	char *p = pool_item();
	pool_put(&dm_pool, p + 8);
}

CHILD(c_pool_foreign)
{
	NBT_DEBUG_CHILD();
	(void)pool_item();
	pool_put(&dm_pool, foreign());
}

CHILD(c_pool_destroy_busy)
{
	NBT_DEBUG_CHILD();
	(void)pool_item();
	pool_destroy(&dm_pool);
}

CHILD(c_pool_modified)
{
	NBT_DEBUG_CHILD();
	char *p = pool_item();
	pool_put(&dm_pool, p);
	p[20] = 1;
	(void)pool_get(&dm_pool, PR_WAITOK);
}

CHILD(c_pool_overrun)
{
	NBT_DEBUG_CHILD();
	char *p = pool_item();
	p[48] = 1;
	pool_put(&dm_pool, p);
}

/* ---- pool_cache */

CHILD(c_cache_double_put)
{
	NBT_DEBUG_CHILD();
	pool_cache_t pc = mkcache("dm-cache", 48);
	void *p = pool_cache_get(pc, PR_WAITOK);
	pool_cache_put(pc, p);
	pool_cache_put(pc, p);
}

/* Large objects: the pool keeps its page headers off the page. */
CHILD(c_cache_foreign_offpage)
{
	NBT_DEBUG_CHILD();
	pool_cache_t pc = mkcache("dm-big", 3000);
	(void)pool_cache_get(pc, PR_WAITOK);
	pool_cache_put(pc, foreign());
}

CHILD(c_cache_interior)
{
	NBT_DEBUG_CHILD();
	pool_cache_t pc = mkcache("dm-cache", 48);
	char *p = pool_cache_get(pc, PR_WAITOK);
	pool_cache_put(pc, p + 16);
}

CHILD(c_cache_destroy_busy)
{
	NBT_DEBUG_CHILD();
	pool_cache_t pc = mkcache("dm-cache", 48);
	(void)pool_cache_get(pc, PR_WAITOK);
	pool_cache_destroy(pc);
}

CHILD(c_cache_wrong)
{
	NBT_DEBUG_CHILD();
	pool_cache_t a = mkcache("dm-a", 48), b = mkcache("dm-b", 48);
	pool_cache_put(b, pool_cache_get(a, PR_WAITOK));
}

CHILD(c_cache_kmem_obj)
{
	NBT_DEBUG_CHILD();
	pool_cache_t pc = mkcache("dm-cache", 48);
	pool_cache_put(pc, kmem_alloc(48, KM_SLEEP));
}

CHILD(c_cache_destruct_twice)
{
	NBT_DEBUG_CHILD();
	pool_cache_t pc = mkcache("dm-cache", 48);
	void *p = pool_cache_get(pc, PR_WAITOK);
	pool_cache_destruct_object(pc, p);
	pool_cache_destruct_object(pc, p);
}

CHILD(c_cache_modified)
{
	NBT_DEBUG_CHILD();
	pool_cache_t pc = mkcache("dm-cache", 48);
	char *p = pool_cache_get(pc, PR_WAITOK);
	pool_cache_put(pc, p);
	p[7] = 1;
	(void)pool_cache_get(pc, PR_WAITOK);
}

CHILD(c_cache_overrun)
{
	NBT_DEBUG_CHILD();
	pool_cache_t pc = mkcache("dm-cache", 48);
	char *p = pool_cache_get(pc, PR_WAITOK);
	p[48] = 1;
	pool_cache_put(pc, p);
}

/* ---- kmem */

CHILD(c_kmem_wrong_size_class)
{
	NBT_DEBUG_CHILD();
	kmem_free(kmem_alloc(100, KM_SLEEP), 104);
}

CHILD(c_kmem_wrong_size_other)
{
	NBT_DEBUG_CHILD();
	kmem_free(kmem_alloc(64, KM_SLEEP), 128);
}

CHILD(c_kmem_wrong_size_large)
{
	NBT_DEBUG_CHILD();
	kmem_free(kmem_alloc(100000, KM_SLEEP), 90000);
}

CHILD(c_kmem_double_free)
{
	NBT_DEBUG_CHILD();
	void *p = kmem_alloc(64, KM_SLEEP);
	kmem_free(p, 64);
	kmem_free(p, 64);
}

CHILD(c_kmem_foreign)
{
	NBT_DEBUG_CHILD();
	kmem_free(foreign(), 64);
}

CHILD(c_kmem_interior)
{
	NBT_DEBUG_CHILD();
	char *p = kmem_alloc(64, KM_SLEEP);
	kmem_free(p + 8, 56);
}

CHILD(c_kmem_cache_obj)
{
	NBT_DEBUG_CHILD();
	pool_cache_t pc = mkcache("dm-cache", 48);
	kmem_free(pool_cache_get(pc, PR_WAITOK), 48);
}

CHILD(c_kmem_overrun)
{
	NBT_DEBUG_CHILD();
	char *p = kmem_alloc(20, KM_SLEEP);
	p[20] = 1;
	kmem_free(p, 20);
}

/* Under all, kmem's objects sit before a guard page (guard). */
CHILD(c_kmem_guard_overrun)
{
	NBT_DEBUG_CHILD();
	volatile char *p = kmem_alloc(64, KM_SLEEP);
	p[64] = 1;
}

CHILD(c_kmem_modified)
{
	NBT_DEBUG_CHILD();
	volatile char *p = kmem_alloc(200, KM_SLEEP);
	kmem_free((void *)p, 200);
	p[10] = 1;
}

/* ---- the parents: NBMEM_DEBUG=all, the words and the names */

/*
 * Run child `tc' under NBMEM_DEBUG=all: it must abort with `name' and
 * `rule' and an address in its diagnostic.  An ASan build may instead
 * report the bad access itself (`asan_text', when not NULL).
 */
static void
all_death_asan(const char *tc, const char *name, const char *rule,
    const char *asan_text)
{
	static char err[65536];
	int st = nbt_debug_run(tc, "all", err, sizeof(err));

	if (NBT_ASAN && asan_text != NULL && strstr(err, asan_text) != NULL)
		return;
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGABRT)
		atf_tc_fail("%s: expected an abort, got status %#x; stderr: "
		    "%s", tc, st, err);
	ATF_CHECK_MSG(strstr(err, name) != NULL, "%s: no \"%s\" in: %s", tc,
	    name, err);
	ATF_CHECK_MSG(strstr(err, rule) != NULL, "%s: no \"%s\" in: %s", tc,
	    rule, err);
	ATF_CHECK_MSG(strstr(err, ": 0x") != NULL, "%s: no address in: %s",
	    tc, err);
}

static void
all_death(const char *tc, const char *name, const char *rule)
{
	all_death_asan(tc, name, rule, NULL);
}

ATF_TC_WITHOUT_HEAD(vmem);
ATF_TC_BODY(vmem, tc)
{
	all_death("c_vmem_qc_double_free", "\"dm-arena-16\"", "double free");
	all_death("c_vmem_qc_wrong_size", "\"dm-arena-64\"", "wrong size");
	all_death("c_vmem_qc_wrong_size", "vmem_free", "\"dm-arena-16\"");
	all_death("c_vmem_qc_never", "\"dm-arena-16\"", "foreign pointer");
	all_death("c_vmem_double_free", "arena \"dm-arena\"", "vmem_free");
}

ATF_TC_WITHOUT_HEAD(pool);
ATF_TC_BODY(pool, tc)
{
	all_death("c_pool_double_put", "\"dm-pool\"", "double free");
	all_death("c_pool_interior", "\"dm-pool\"", "interior pointer");
	/* In the taxonomy, as for a cache's interior pointer. */
	all_death("c_pool_interior", "\"dm-pool\"", "foreign pointer");
	all_death("c_pool_foreign", "\"dm-pool\"", "foreign pointer");
	all_death_asan("c_pool_modified", "\"dm-pool\"", "modified "
	    "after free", "use-after-poison");
	all_death("c_pool_overrun", "\"dm-pool\"", "overrun");
	/*
	 * The sizes are the object's, as without a mode, not the item's
	 * grown by the redzone (48 bytes, not 56).
	 */
	all_death("c_pool_double_put", "\"dm-pool\"", "the item of 48 bytes "
	    "is already free");
	all_death("c_pool_foreign", "\"dm-pool\"", "this pool's items are "
	    "48 bytes");
	nbt_debug_death("c_pool_destroy_busy", "all", "pool \"dm-pool\": "
	    "pool_destroy: 1 items (48 bytes) still out, the first at 0x",
	    NULL);
}

ATF_TC_WITHOUT_HEAD(pool_cache);
ATF_TC_BODY(pool_cache, tc)
{
	all_death("c_cache_double_put", "pool_cache: \"dm-cache\"",
	    "double free");
	all_death("c_cache_foreign_offpage", "\"dm-big\"", "foreign pointer");
	all_death("c_cache_interior", "\"dm-cache\"", "foreign pointer");
	/* The object it points into, as without a mode. */
	all_death("c_cache_interior", "\"dm-cache\"", "(16 bytes inside the "
	    "pool_cache \"dm-cache\" object at 0x");
	all_death("c_cache_interior", "\"dm-cache\"", "of 48 bytes, not its "
	    "start)");
	all_death("c_cache_wrong", "pool_cache: \"dm-b\"", "wrong cache");
	/* Under guard, kmem's object is on pages of its own. */
	all_death("c_cache_kmem_obj", "\"dm-cache\"", "foreign pointer");
	all_death("c_cache_destruct_twice", "pool_cache_destruct_object",
	    "double free");
	all_death_asan("c_cache_modified", "\"dm-cache\"", "modified after "
	    "free", "use-after-poison");
	all_death("c_cache_overrun", "\"dm-cache\"", "overrun");
	/* The objects' sizes, not the items' grown by the redzone. */
	all_death("c_cache_foreign_offpage", "\"dm-big\"", "this cache's "
	    "objects are 3000 bytes");
	nbt_debug_death("c_cache_destroy_busy", "all", "pool_cache: "
	    "\"dm-cache\": destroy with 1 objects (48 bytes) out, the first "
	    "at 0x", NULL);
}

ATF_TC_WITHOUT_HEAD(kmem);
ATF_TC_BODY(kmem, tc)
{
	all_death("c_kmem_wrong_size_class", "kmem_free", "wrong size");
	all_death("c_kmem_wrong_size_class", "kmem_free(", "104) != "
	    "allocated size 100");
	all_death("c_kmem_wrong_size_other", "kmem_free", "wrong size");
	all_death("c_kmem_wrong_size_large", "kmem_free", "wrong size");
	all_death("c_kmem_double_free", "kmem_free", "double free");
	all_death("c_kmem_foreign", "kmem_free", "foreign pointer");
	all_death("c_kmem_interior", "kmem_free", "foreign pointer");
	all_death("c_kmem_interior", "kmem_free", "(8 bytes inside the kmem "
	    "\"guard\" object at 0x");
	all_death("c_kmem_interior", "kmem_free", "of 64 bytes, not its "
	    "start)");
	all_death("c_kmem_cache_obj", "\"dm-cache\"", "wrong cache");
	all_death("c_kmem_overrun", "kmem_free", "overrun");
	all_death_asan("c_kmem_guard_overrun", "kmem: \"guard\"", "overrun "
	    "(a write at offset 64, past the 64-byte object", "SEGV");
	all_death_asan("c_kmem_modified", "kmem: \"guard\"", "modified after "
	    "free (a write at offset 10 of the 200-byte object", "SEGV");
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, c_vmem_qc_double_free);
	ATF_TP_ADD_TC(tp, c_vmem_qc_wrong_size);
	ATF_TP_ADD_TC(tp, c_vmem_qc_never);
	ATF_TP_ADD_TC(tp, c_vmem_double_free);
	ATF_TP_ADD_TC(tp, c_pool_double_put);
	ATF_TP_ADD_TC(tp, c_pool_interior);
	ATF_TP_ADD_TC(tp, c_pool_foreign);
	ATF_TP_ADD_TC(tp, c_pool_destroy_busy);
	ATF_TP_ADD_TC(tp, c_pool_modified);
	ATF_TP_ADD_TC(tp, c_pool_overrun);
	ATF_TP_ADD_TC(tp, c_cache_double_put);
	ATF_TP_ADD_TC(tp, c_cache_foreign_offpage);
	ATF_TP_ADD_TC(tp, c_cache_interior);
	ATF_TP_ADD_TC(tp, c_cache_destroy_busy);
	ATF_TP_ADD_TC(tp, c_cache_wrong);
	ATF_TP_ADD_TC(tp, c_cache_kmem_obj);
	ATF_TP_ADD_TC(tp, c_cache_destruct_twice);
	ATF_TP_ADD_TC(tp, c_cache_modified);
	ATF_TP_ADD_TC(tp, c_cache_overrun);
	ATF_TP_ADD_TC(tp, c_kmem_wrong_size_class);
	ATF_TP_ADD_TC(tp, c_kmem_wrong_size_other);
	ATF_TP_ADD_TC(tp, c_kmem_wrong_size_large);
	ATF_TP_ADD_TC(tp, c_kmem_double_free);
	ATF_TP_ADD_TC(tp, c_kmem_foreign);
	ATF_TP_ADD_TC(tp, c_kmem_interior);
	ATF_TP_ADD_TC(tp, c_kmem_cache_obj);
	ATF_TP_ADD_TC(tp, c_kmem_overrun);
	ATF_TP_ADD_TC(tp, c_kmem_guard_overrun);
	ATF_TP_ADD_TC(tp, c_kmem_modified);
	ATF_TP_ADD_TC(tp, vmem);
	ATF_TP_ADD_TC(tp, pool);
	ATF_TP_ADD_TC(tp, pool_cache);
	ATF_TP_ADD_TC(tp, kmem);
	return atf_no_error();
}

/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * The run-time debug modes (NBMEM_DEBUG) on pool(3) and pool_cache(3):
 * the grammar, one planted bug per mode with its diagnostic, and the
 * leak report.  Each bug runs in a fresh process started with the
 * modes in its environment (nbdebug.h); the "c_" cases are those
 * children and skip when run directly.
 */
#include <sys/mman.h>

#include <string.h>

#include <nbmem/nbmem.h>
#include <nbmem/pool.h>

#include "nbdebug.h"
#include "nbtest.h"

#define	OBJSIZE	40

static pool_cache_t
mkcache(const char *name)
{
	pool_cache_t pc = pool_cache_init(OBJSIZE, 0, 0, 0, name, NULL,
	    IPL_NONE, NULL, NULL, NULL);

	ATF_REQUIRE(pc != NULL);
	return pc;
}

/* ---- children: one planted bug each */

ATF_TC_WITHOUT_HEAD(c_cache_double_put);
ATF_TC_BODY(c_cache_double_put, tc)
{
	NBT_DEBUG_CHILD();
	pool_cache_t pc = mkcache("dbg-cache");
	void *p = pool_cache_get(pc, PR_WAITOK);
	pool_cache_put(pc, p);
	pool_cache_put(pc, p);		/* the bug */
}

ATF_TC_WITHOUT_HEAD(c_cache_foreign);
ATF_TC_BODY(c_cache_foreign, tc)
{
	/* Mapped memory: the put's checks may read around the pointer. */
	char *notours = mmap(NULL, 65536, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	NBT_DEBUG_CHILD();
	ATF_REQUIRE(notours != MAP_FAILED);
	pool_cache_t pc = mkcache("dbg-cache");
	pool_cache_put(pc, notours + 4096 + 64);	/* the bug */
}

ATF_TC_WITHOUT_HEAD(c_cache_wrong);
ATF_TC_BODY(c_cache_wrong, tc)
{
	NBT_DEBUG_CHILD();
	pool_cache_t a = mkcache("dbg-a"), b = mkcache("dbg-b");
	void *p = pool_cache_get(a, PR_WAITOK);
	pool_cache_put(b, p);		/* the bug */
}

ATF_TC_WITHOUT_HEAD(c_cache_poison);
ATF_TC_BODY(c_cache_poison, tc)
{
	NBT_DEBUG_CHILD();
	pool_cache_t pc = mkcache("dbg-cache");
	char *p = pool_cache_get(pc, PR_WAITOK);
	pool_cache_put(pc, p);
	p[5] = 1;			/* the bug: a write after free */
	(void)pool_cache_get(pc, PR_WAITOK);
}

ATF_TC_WITHOUT_HEAD(c_cache_redzone);
ATF_TC_BODY(c_cache_redzone, tc)
{
	NBT_DEBUG_CHILD();
	pool_cache_t pc = mkcache("dbg-cache");
	char *p = pool_cache_get(pc, PR_WAITOK);
	p[OBJSIZE] = 1;			/* the bug: one byte past the end */
	pool_cache_put(pc, p);
}

ATF_TC_WITHOUT_HEAD(c_pool_poison);
ATF_TC_BODY(c_pool_poison, tc)
{
	static struct pool pp;

	NBT_DEBUG_CHILD();
	pool_init(&pp, 64, 0, 0, 0, "dbg-pool", NULL, IPL_NONE);
	char *p = pool_get(&pp, PR_WAITOK);
	pool_put(&pp, p);
	p[40] = 1;			/* the bug: a write after free */
	(void)pool_get(&pp, PR_WAITOK);
}

ATF_TC_WITHOUT_HEAD(c_pool_redzone);
ATF_TC_BODY(c_pool_redzone, tc)
{
	static struct pool pp;

	NBT_DEBUG_CHILD();
	pool_init(&pp, 60, 0, 0, 0, "dbg-pool", NULL, IPL_NONE);
	char *p = pool_get(&pp, PR_WAITOK);
	p[61] = 1;			/* the bug: past the 60 bytes */
	pool_put(&pp, p);
}

/* The constructed state of a cached object survives poison mode. */
static int
ctor(void *arg, void *obj, int flags)
{
	memset(obj, 0x5a, OBJSIZE);
	return 0;
}

ATF_TC_WITHOUT_HEAD(c_ctor_state);
ATF_TC_BODY(c_ctor_state, tc)
{
	NBT_DEBUG_CHILD();
	pool_cache_t pc = pool_cache_init(OBJSIZE, 0, 0, 0, "dbg-ctor", NULL,
	    IPL_NONE, ctor, NULL, NULL);
	unsigned char *p = pool_cache_get(pc, PR_WAITOK);
	pool_cache_put(pc, p);
	p = pool_cache_get(pc, PR_WAITOK);
	for (int i = 0; i < OBJSIZE; i++)
		ATF_REQUIRE_EQ(p[i], 0x5a);
	pool_cache_put(pc, p);
	pool_cache_destroy(pc);
}

ATF_TC_WITHOUT_HEAD(c_leaks);
ATF_TC_BODY(c_leaks, tc)
{
	static struct pool pp;
	int pfd[2];
	char buf[4096];
	ssize_t n;

	NBT_DEBUG_CHILD();
	pool_cache_t pc = mkcache("dbg-leaky");
	pool_init(&pp, 64, 0, 0, 0, "dbg-pool", NULL, IPL_NONE);
	void *a = pool_cache_get(pc, PR_WAITOK);
	void *b = pool_cache_get(pc, PR_WAITOK);
	void *c = pool_get(&pp, PR_WAITOK);
	pool_cache_put(pc, b);
	ATF_REQUIRE(pipe(pfd) == 0);
	ATF_REQUIRE_EQ(nbmem_leaks_report(pfd[1]), 2);
	close(pfd[1]);
	n = read(pfd[0], buf, sizeof(buf) - 1);
	ATF_REQUIRE(n > 0);
	buf[n] = '\0';
	ATF_CHECK_MSG(strstr(buf, "pool_cache \"dbg-leaky\"") != NULL, "%s",
	    buf);
	ATF_CHECK_MSG(strstr(buf, "pool \"dbg-pool\"") != NULL, "%s", buf);
	ATF_CHECK_MSG(strstr(buf, "2 objects, 104 bytes") != NULL, "%s", buf);
	pool_cache_put(pc, a);
	pool_put(&pp, c);
	ATF_REQUIRE_EQ(nbmem_leaks_report(-1), 0);
}

ATF_TC_WITHOUT_HEAD(c_nothing);
ATF_TC_BODY(c_nothing, tc)
{
	NBT_DEBUG_CHILD();
	pool_cache_t pc = mkcache("dbg-cache");
	void *p = pool_cache_get(pc, PR_WAITOK);
	pool_cache_put(pc, p);
	pool_cache_destroy(pc);
}

/* ---- the parents */

ATF_TC_WITHOUT_HEAD(grammar);
ATF_TC_BODY(grammar, tc)
{
	static char err[65536];
	int st;

	st = nbt_debug_run("c_nothing", "size,bogus,poison,,x", err,
	    sizeof(err));
	ATF_CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x: %s",
	    st, err);
	ATF_CHECK_MSG(strstr(err, "nbmem: debug: NBMEM_DEBUG: unknown mode "
	    "\"bogus\" ignored") != NULL, "%s", err);
	ATF_CHECK_MSG(strstr(err, "unknown mode \"x\"") != NULL, "%s", err);
	/* Never a silent ignore: the empty word, mixed case, no mode. */
	ATF_CHECK_MSG(strstr(err, "NBMEM_DEBUG: an empty word") != NULL, "%s",
	    err);
	st = nbt_debug_run("c_nothing", "Poison,size", err, sizeof(err));
	ATF_CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x: %s",
	    st, err);
	ATF_CHECK_MSG(strstr(err, "unknown mode \"Poison\" ignored (mode "
	    "names are lower case: \"poison\")") != NULL, "%s", err);
	st = nbt_debug_run("c_nothing", "", err, sizeof(err));
	ATF_CHECK_MSG(strstr(err, "NBMEM_DEBUG is set but empty") != NULL,
	    "%s", err);
	st = nbt_debug_run("c_nothing", " , ", err, sizeof(err));
	ATF_CHECK_MSG(strstr(err, "NBMEM_DEBUG: no mode named") != NULL,
	    "%s", err);
	/* Every mode on: a clean run stays clean and quiet. */
	st = nbt_debug_run("c_nothing", "all", err, sizeof(err));
	ATF_CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x: %s",
	    st, err);
	ATF_CHECK_MSG(strstr(err, "unknown") == NULL, "%s", err);
}

ATF_TC_WITHOUT_HEAD(cache_double_put);
ATF_TC_BODY(cache_double_put, tc)
{
	nbt_debug_death("c_cache_double_put", "audit",
	    "pool_cache: \"dbg-cache\": pool_cache_put: ", NULL);
	nbt_debug_death("c_cache_double_put", "audit", "double free", NULL);
	/* With audit, where it was freed the first time. */
	nbt_debug_death("c_cache_double_put", "audit", "was last freed at:",
	    NULL);
}

ATF_TC_WITHOUT_HEAD(cache_foreign);
ATF_TC_BODY(cache_foreign, tc)
{
	nbt_debug_death("c_cache_foreign", "poison", "foreign pointer", NULL);
}

ATF_TC_WITHOUT_HEAD(cache_wrong);
ATF_TC_BODY(cache_wrong, tc)
{
	nbt_debug_death("c_cache_wrong", "size", "pool_cache: \"dbg-b\": "
	    "pool_cache_put: ", NULL);
	nbt_debug_death("c_cache_wrong", "size", "wrong cache", NULL);
}

ATF_TC_WITHOUT_HEAD(cache_poison);
ATF_TC_BODY(cache_poison, tc)
{
	nbt_debug_death("c_cache_poison", "poison", "pool_cache_get: ",
	    "use-after-poison");
	nbt_debug_death("c_cache_poison", "poison", "modified after free "
	    "(byte at offset 5 of 40", "use-after-poison");
}

ATF_TC_WITHOUT_HEAD(cache_redzone);
ATF_TC_BODY(cache_redzone, tc)
{
	nbt_debug_death("c_cache_redzone", "redzone", "overrun (redzone byte "
	    "at offset 40, past the 40-byte object", NULL);
}

ATF_TC_WITHOUT_HEAD(pool_poison);
ATF_TC_BODY(pool_poison, tc)
{
	nbt_debug_death("c_pool_poison", "poison", "pool: \"dbg-pool\": "
	    "pool_get: ", "use-after-poison");
	nbt_debug_death("c_pool_poison", "poison", "modified after free (byte "
	    "at offset 40 of 64", "use-after-poison");
}

ATF_TC_WITHOUT_HEAD(pool_redzone);
ATF_TC_BODY(pool_redzone, tc)
{
	nbt_debug_death("c_pool_redzone", "redzone", "overrun (redzone byte "
	    "at offset 61, past the 60-byte object", NULL);
}

ATF_TC_WITHOUT_HEAD(ctor_state);
ATF_TC_BODY(ctor_state, tc)
{
	static char err[65536];
	int st = nbt_debug_run("c_ctor_state", "all", err, sizeof(err));

	ATF_CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x: %s",
	    st, err);
}

ATF_TC_WITHOUT_HEAD(leaks);
ATF_TC_BODY(leaks, tc)
{
	static char err[65536];
	int st = nbt_debug_run("c_leaks", "leaks", err, sizeof(err));

	ATF_CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x: %s",
	    st, err);
	/* Without a mode nothing is recorded. */
	ATF_CHECK_EQ(nbmem_leaks_report(-1), 0);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, c_cache_double_put);
	ATF_TP_ADD_TC(tp, c_cache_foreign);
	ATF_TP_ADD_TC(tp, c_cache_wrong);
	ATF_TP_ADD_TC(tp, c_cache_poison);
	ATF_TP_ADD_TC(tp, c_cache_redzone);
	ATF_TP_ADD_TC(tp, c_pool_poison);
	ATF_TP_ADD_TC(tp, c_pool_redzone);
	ATF_TP_ADD_TC(tp, c_ctor_state);
	ATF_TP_ADD_TC(tp, c_leaks);
	ATF_TP_ADD_TC(tp, c_nothing);
	ATF_TP_ADD_TC(tp, grammar);
	ATF_TP_ADD_TC(tp, cache_double_put);
	ATF_TP_ADD_TC(tp, cache_foreign);
	ATF_TP_ADD_TC(tp, cache_wrong);
	ATF_TP_ADD_TC(tp, cache_poison);
	ATF_TP_ADD_TC(tp, cache_redzone);
	ATF_TP_ADD_TC(tp, pool_poison);
	ATF_TP_ADD_TC(tp, pool_redzone);
	ATF_TP_ADD_TC(tp, ctor_state);
	ATF_TP_ADD_TC(tp, leaks);
	return atf_no_error();
}

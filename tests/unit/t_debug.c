/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * The panic path: the allocation-free formatter, the handler hook, the
 * one-line diagnostic, option parsing, and the futex mutex/condvar.
 */
#include <pthread.h>
#include <string.h>

#include <atf-c.h>

#include "internal.h"
#include "lock.h"
#include "nbtest.h"

ATF_TC_WITHOUT_HEAD(format);
ATF_TC_BODY(format, tc)
{
	char buf[128];

	nbmem_snprintf(buf, sizeof(buf), "%s=%d/%u/%#x/%zu/%zx/%lu/%c%%",
	    "a", -42, 42u, 255u, (size_t)7, (size_t)0xabc, 9ul, 'z');
	ATF_CHECK_STREQ(buf, "a=-42/42/0xff/7/abc/9/z%");
	nbmem_snprintf(buf, sizeof(buf), "%p", (void *)0x1000);
	ATF_CHECK_STREQ(buf, "0x1000");
	const char *volatile nothing = NULL;
	nbmem_snprintf(buf, sizeof(buf), "%s", nothing);
	ATF_CHECK_STREQ(buf, "(null)");
	size_t n = nbmem_snprintf(buf, 5, "%s", "truncated");
	ATF_CHECK_STREQ(buf, "trun");
	ATF_CHECK_EQ(n, 4);
}

static char seen[256];

static void
handler(const char *line)
{
	strncpy(seen, line, sizeof(seen) - 1);
	nbmem_os_write_err("handler saw: ", 13);
	nbmem_os_write_err(seen, strlen(seen));
	nbmem_os_write_err("\n", 1);
}

static void
panic_with_handler(void *arg)
{
	(void)arg;
	nbmem_panic_handler_set(handler);
	nbmem_panic("test: \"obj\": rule %d broken", 7);
}

ATF_TC_WITHOUT_HEAD(panic_line_and_handler);
ATF_TC_BODY(panic_line_and_handler, tc)
{
	/* The handler sees the line first; the process still aborts. */
	nbt_death(panic_with_handler, NULL,
	    "handler saw: nbmem: test: \"obj\": rule 7 broken");
	nbt_death(panic_with_handler, NULL,
	    "\nnbmem: test: \"obj\": rule 7 broken\n");
}

ATF_TC_WITHOUT_HEAD(parse_size);
ATF_TC_BODY(parse_size, tc)
{
	size_t v;

	ATF_CHECK(nbmem_options_parse_size("123", &v) && v == 123);
	ATF_CHECK(nbmem_options_parse_size("64K", &v) && v == 65536);
	ATF_CHECK(nbmem_options_parse_size("16m", &v) && v == 16u << 20);
	ATF_CHECK(nbmem_options_parse_size("2GiB", &v) &&
	    v == (size_t)2 << 30);
	ATF_CHECK(nbmem_options_parse_size("1T", &v) && v == (size_t)1 << 40);
	ATF_CHECK(!nbmem_options_parse_size("", &v));
	ATF_CHECK(!nbmem_options_parse_size("12Q", &v));
	ATF_CHECK(!nbmem_options_parse_size("-1", &v));
	ATF_CHECK(!nbmem_options_parse_size("99999999999999999999", &v));
	ATF_CHECK(!nbmem_options_parse_size("99999999999T", &v));
}

/* The futex mutex excludes; the condvar wakes a sleeper. */
static kmutex_t tmtx = MUTEX_INITIALIZER(IPL_NONE);
static kcondvar_t tcv;
static volatile unsigned long counter;
static int flag;

static void *
incr(void *arg)
{
	for (int i = 0; i < 200000; i++) {
		mutex_enter(&tmtx);
		counter++;
		mutex_exit(&tmtx);
	}
	return arg;
}

ATF_TC_WITHOUT_HEAD(mutex_excludes);
ATF_TC_BODY(mutex_excludes, tc)
{
	pthread_t t[4];

	for (int i = 0; i < 4; i++)
		ATF_REQUIRE(pthread_create(&t[i], NULL, incr, NULL) == 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	ATF_CHECK_EQ(counter, 800000ul);
}

static void *
setter(void *arg)
{
	mutex_enter(&tmtx);
	flag = 1;
	cv_broadcast(&tcv);
	mutex_exit(&tmtx);
	return arg;
}

ATF_TC_WITHOUT_HEAD(condvar_wakes);
ATF_TC_BODY(condvar_wakes, tc)
{
	pthread_t t;

	cv_init(&tcv);
	mutex_enter(&tmtx);
	ATF_REQUIRE(pthread_create(&t, NULL, setter, NULL) == 0);
	int rounds = 0;
	while (!flag && rounds++ < 100)	/* 100 s at most */
		cv_timedwait_ns(&tcv, &tmtx, 1000000000ull);
	ATF_CHECK_EQ(flag, 1);
	mutex_exit(&tmtx);
	pthread_join(t, NULL);
}

/* NBMEM_DEBUG's grammar: words, commas, blanks around words. */
ATF_TC_WITHOUT_HEAD(debug_grammar);
ATF_TC_BODY(debug_grammar, tc)
{
	ATF_CHECK_EQ(nbmem_debug_parse("size,poison", false),
	    NBMEM_DEBUG_SIZE | NBMEM_DEBUG_POISON);
	ATF_CHECK_EQ(nbmem_debug_parse(" size , poison\t,guard ", false),
	    NBMEM_DEBUG_SIZE | NBMEM_DEBUG_POISON | NBMEM_DEBUG_GUARD);
	ATF_CHECK_EQ(nbmem_debug_parse("all", false), NBMEM_DEBUG_MODES);
	ATF_CHECK_EQ(nbmem_debug_parse(" all", false), NBMEM_DEBUG_MODES);
	ATF_CHECK_EQ(nbmem_debug_parse("", false), 0);
	ATF_CHECK_EQ(nbmem_debug_parse(" , ,", false), 0);
	ATF_CHECK_EQ(nbmem_debug_parse("bogus,leaks", false),
	    NBMEM_DEBUG_LEAKS);
	ATF_CHECK_EQ(nbmem_debug_parse("si ze", false), 0);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, format);
	ATF_TP_ADD_TC(tp, panic_line_and_handler);
	ATF_TP_ADD_TC(tp, parse_size);
	ATF_TP_ADD_TC(tp, mutex_excludes);
	ATF_TP_ADD_TC(tp, condvar_wakes);
	ATF_TP_ADD_TC(tp, debug_grammar);
	return atf_no_error();
}

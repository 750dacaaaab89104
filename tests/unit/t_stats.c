/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_stats: the statistics segment (stats.c) and its parser and tables
 * (stats_fmt.c): a snapshot holds what the process did; every damaged
 * header is refused with its reason; random damage never makes the
 * parser or the tables read outside the image (run under ASan in
 * check-asan); arena statistics are safe against a concurrent
 * vmem_destroy; a forked child publishes its own segment.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <atf-c.h>

#include <nbmem/nbmem.h>
#include <nbmem/pool.h>
#include <nbmem/vmem.h>

#include "internal.h"
#include "stats_seg.h"

static void
snapshot(void **buf, size_t *len)
{
	ATF_REQUIRE(nbmem_stats_snapshot(buf, len));
}

static bool
find_pool(const struct nbstat_snap *ss, const char *name,
    struct nbstat_pool *sp)
{
	for (size_t i = 0; i < nbstat_npool(ss); i++) {
		nbstat_pool_get(ss, i, sp);
		if (strcmp(sp->sp_name, name) == 0)
			return true;
	}
	return false;
}

static bool
find_vmem(const struct nbstat_snap *ss, const char *name,
    struct nbstat_vmem *sv)
{
	for (size_t i = 0; i < nbstat_nvmem(ss); i++) {
		nbstat_vmem_get(ss, i, sv);
		if (strcmp(sv->sv_name, name) == 0)
			return true;
	}
	return false;
}

ATF_TC_WITHOUT_HEAD(snapshot_counts);
ATF_TC_BODY(snapshot_counts, tc)
{
	struct pool pp;
	struct nbstat_snap ss;
	struct nbstat_pool sp;
	struct nbstat_vmem sv;
	void *items[40], *buf;
	vmem_addr_t a[5];
	size_t len;
	char err[256];

	pool_init(&pp, 256, 0, 0, 0, "ts-pool", NULL, IPL_NONE);
	for (int i = 0; i < 40; i++)
		items[i] = pool_get(&pp, PR_WAITOK);
	for (int i = 0; i < 10; i++)
		pool_put(&pp, items[i]);
	vmem_t *vm = vmem_create("ts-arena", 100, 900, 4, NULL, NULL, NULL,
	    0, VM_SLEEP, IPL_NONE);
	for (int i = 0; i < 5; i++)
		ATF_REQUIRE(vmem_alloc(vm, 8, VM_SLEEP | VM_INSTANTFIT,
		    &a[i]) == 0);
	vmem_free(vm, a[1], 8);
	vmem_free(vm, a[3], 8);

	snapshot(&buf, &len);
	ATF_REQUIRE_MSG(nbstat_parse(buf, len, (unsigned int)getpid(), &ss,
	    err, sizeof(err)), "%s", err);
	ATF_REQUIRE(find_pool(&ss, "ts-pool", &sp));
	ATF_CHECK_EQ(sp.sp_size, 256);
	ATF_CHECK_EQ(sp.sp_nget, 40);
	ATF_CHECK_EQ(sp.sp_nput, 10);
	ATF_CHECK_EQ(sp.sp_nout, 30);
	ATF_CHECK_EQ(sp.sp_npagealloc - sp.sp_npagefree, sp.sp_npages);
	ATF_REQUIRE(find_vmem(&ss, "ts-arena", &sv));
	ATF_CHECK_EQ(sv.sv_quantum, 4);
	ATF_CHECK_EQ(sv.sv_size, 900);
	ATF_CHECK_EQ(sv.sv_inuse, 24);
	ATF_CHECK_EQ(sv.sv_nalloc, 5);
	ATF_CHECK_EQ(sv.sv_nfree, 2);
	ATF_CHECK_EQ(sv.sv_nbusy, 3);
	ATF_CHECK_EQ(sv.sv_nspan_static, 1);
	ATF_CHECK_EQ(sv.sv_nspan_import, 0);
	/* The two holes and the rest of the span, whatever the order. */
	ATF_CHECK(sv.sv_nfreeseg >= 1 && sv.sv_nfreeseg <= 4);
	ATF_CHECK(ss.ss_glob.sg_physmem_inuse > 0);

	for (int i = 10; i < 40; i++)
		pool_put(&pp, items[i]);
	pool_destroy(&pp);
	vmem_free(vm, a[0], 8);
	vmem_free(vm, a[2], 8);
	vmem_free(vm, a[4], 8);
	vmem_destroy(vm);
}

/* A header field set to a value, and the reason expected. */
struct damage {
	size_t		off;
	uint32_t	val;
	size_t		width;
	const char	*reason;
};

ATF_TC_WITHOUT_HEAD(damaged_headers);
ATF_TC_BODY(damaged_headers, tc)
{
#define	OFF(f)	__builtin_offsetof(struct nbstat_hdr, f)
	const struct damage cases[] = {
		{ OFF(sh_magic), 0x12345678, 4, "magic 0x12345678" },
		{ OFF(sh_version), 2, 2, "version 2" },
		{ OFF(sh_hdrsize), 8, 2, "header of 8 bytes" },
		{ OFF(sh_segsize), 0x7fffffff, 4, "damaged segment" },
		{ OFF(sh_segsize), 16, 4, "damaged segment" },
		{ OFF(sh_seq), 3, 4, "mid-update" },
		{ OFF(sh_pid), 1, 4, "belongs to process 1" },
		{ OFF(sh_glob_off), 0xfffffff0u, 4, "global record" },
		{ OFF(sh_glob_size), 4, 4, "global record" },
		{ OFF(sh_pool_off), 0xfffffff0u, 4, "pool table" },
		{ OFF(sh_pool_off), 0, 4, "pool table" },
		{ OFF(sh_pool_count), 0xffffffffu, 4, "pool records" },
		{ OFF(sh_pool_recsize), 16, 4, "pool records of 16 bytes" },
		{ OFF(sh_pool_recsize), 0x10000, 4, "pool records of 65536" },
		{ OFF(sh_vmem_recsize), 1, 4, "arena records of 1 " },
		{ OFF(sh_vmem_count), 0x00100000, 4, "arena table" },
	};
#undef OFF
	struct nbstat_snap ss;
	unsigned char *copy;
	void *buf;
	size_t len;
	char err[256];

	snapshot(&buf, &len);
	ATF_REQUIRE(nbstat_parse(buf, len, 0, &ss, err, sizeof(err)));
	ATF_REQUIRE((copy = malloc(len)) != NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(copy, buf, len);
		if (cases[i].width == 2) {
			uint16_t v = (uint16_t)cases[i].val;
			memcpy(copy + cases[i].off, &v, 2);
		} else
			memcpy(copy + cases[i].off, &cases[i].val, 4);
		bool ok = nbstat_parse(copy, len, (unsigned int)getpid(), &ss,
		    err, sizeof(err));
		ATF_CHECK_MSG(!ok, "case %zu accepted", i);
		ATF_CHECK_MSG(strstr(err, cases[i].reason) != NULL,
		    "case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].reason);
	}
	/* Every length short of the whole is refused, never read past. */
	for (size_t l = 0; l < len; l += 7) {
		unsigned char *cut = malloc(l + 1);
		ATF_REQUIRE(cut != NULL);
		memcpy(cut, buf, l);
		ATF_CHECK(!nbstat_parse(cut, l, 0, &ss, err, sizeof(err)));
		free(cut);
	}
	free(copy);
}

/* xorshift64: a fixed sequence, so a failure can be replayed. */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

ATF_TC_WITHOUT_HEAD(random_damage);
ATF_TC_BODY(random_damage, tc)
{
	uint64_t seed = 0x6e626d656d737461ull;
	const char *env = getenv("NBMEM_TEST_SEED");
	struct nbstat_snap ss;
	struct nbstat_out out;
	struct nbstat_pool sp;
	unsigned char *copy;
	uint32_t *order;
	void *buf;
	size_t len, accepted = 0;
	char err[256];
	int devnull = open("/dev/null", O_WRONLY);

	if (env != NULL)
		seed = strtoull(env, NULL, 0);
	ATF_REQUIRE(devnull >= 0);
	/* Names of every length and byte value in the image. */
	struct pool p1;
	pool_init(&p1, 64, 0, 0, 0, "ts-\x01\xff\"\\%s%n-abcdefgh", NULL,
	    IPL_NONE);
	pool_put(&p1, pool_get(&p1, PR_WAITOK));
	snapshot(&buf, &len);
	ATF_REQUIRE(nbstat_parse(buf, len, 0, &ss, err, sizeof(err)));
	ATF_REQUIRE((copy = malloc(len)) != NULL);
	ATF_REQUIRE((order = calloc(4096, sizeof(*order))) != NULL);
	for (int it = 0; it < 3000; it++) {
		memcpy(copy, buf, len);
		int nflip = 1 + (int)(rnd(&seed) % 8);
		for (int k = 0; k < nflip; k++) {
			size_t at = (size_t)(rnd(&seed) % len);
			if (it % 2 == 0)
				at %= sizeof(struct nbstat_hdr);
			copy[at] = (unsigned char)rnd(&seed);
		}
		/* Parse a heap copy of exactly len bytes: ASan sees past. */
		if (!nbstat_parse(copy, len, 0, &ss, err, sizeof(err)))
			continue;
		accepted++;
		if (nbstat_npool(&ss) + nbstat_nvmem(&ss) > 4096)
			continue;
		struct nbstat_opts op = { .so_all = true, .so_json = it % 3 == 0,
		    .so_prev = it % 5 == 0 ? &ss : NULL };
		nbstat_out_init(&out, devnull);
		nbstat_emit_views(&out, &ss, "mCvk", &op);
		if (nbstat_sort(&ss, 'm', "util", order)) {
			op.so_order = order;
			nbstat_emit(&out, &ss, 'm', &op);
		}
		if (nbstat_sort(&ss, 'v', "free", order)) {
			op.so_order = order;
			nbstat_emit(&out, &ss, 'v', &op);
		}
		nbstat_flush(&out);
		for (size_t i = 0; i < nbstat_npool(&ss); i++) {
			nbstat_pool_get(&ss, i, &sp);
			ATF_REQUIRE(strlen(sp.sp_name) < NBSTAT_NAMELEN);
		}
	}
	ATF_CHECK(accepted > 0);	/* damage to counters is not detectable */
	free(order);
	free(copy);
	close(devnull);
	pool_destroy(&p1);
}

ATF_TC_WITHOUT_HEAD(print_api);
ATF_TC_BODY(print_api, tc)
{
	struct pool pp;
	char path[] = "/tmp/t_stats.XXXXXX", text[65536];
	int fd = mkstemp(path);
	ssize_t n;

	ATF_REQUIRE(fd >= 0);
	unlink(path);
	pool_init(&pp, 96, 0, 0, 0, "ts-print", NULL, IPL_NONE);
	pool_put(&pp, pool_get(&pp, PR_WAITOK));
	ATF_REQUIRE_EQ(nbmem_stats_print(fd, "mv"), 0);
	ATF_REQUIRE(lseek(fd, 0, SEEK_SET) == 0);
	n = read(fd, text, sizeof(text) - 1);
	ATF_REQUIRE(n > 0);
	text[n] = '\0';
	ATF_CHECK(strstr(text, "Memory resource pool statistics") != NULL);
	ATF_CHECK(strstr(text, "\nts-print ") != NULL);
	ATF_CHECK(strstr(text, "Vmem arena statistics") != NULL);
	ATF_CHECK(strstr(text, "Pool cache statistics") == NULL);
	ATF_CHECK_EQ(nbmem_stats_print(fd, "x"), -1);
	ATF_CHECK_EQ(nbmem_stats_print(fd, ""), -1);
	ATF_CHECK_EQ(nbmem_stats_print(-1, NULL), -1);
	close(fd);
	pool_destroy(&pp);
}

/* ---- arenas destroyed while their statistics are read */

static bool stop_reader;

static void *
stats_reader(void *arg)
{
	struct nbstat_vmem sv[64];

	(void)arg;
	while (!__atomic_load_n(&stop_reader, __ATOMIC_ACQUIRE))
		(void)nbmem_vmem_stats(sv, 64);
	return NULL;
}

ATF_TC_WITHOUT_HEAD(vmem_stats_vs_destroy);
ATF_TC_BODY(vmem_stats_vs_destroy, tc)
{
	pthread_t t;

	ATF_REQUIRE(pthread_create(&t, NULL, stats_reader, NULL) == 0);
	for (int i = 0; i < 300; i++) {
		vmem_addr_t a;
		vmem_t *vm = vmem_create("ts-churn", 0x1000, 0x10000, 8, NULL,
		    NULL, NULL, 64, VM_SLEEP, IPL_NONE);
		ATF_REQUIRE(vm != NULL);
		ATF_REQUIRE(vmem_alloc(vm, 16, VM_SLEEP | VM_INSTANTFIT,
		    &a) == 0);
		vmem_free(vm, a, 16);
		vmem_destroy(vm);
	}
	__atomic_store_n(&stop_reader, true, __ATOMIC_RELEASE);
	ATF_REQUIRE(pthread_join(t, NULL) == 0);
}

/* ---- fork */

/* The pid recorded in this process's own segment, 0 when none; n: how
 * many segments it has open; *fdp (if not NULL): the last one's number. */
static unsigned int
own_segment_fd(int *n, int *fdp)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	unsigned int pid = 0;
	char path[512], link[512];

	*n = 0;
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		ssize_t l = readlink(path, link, sizeof(link) - 1);
		if (l <= 0)
			continue;
		link[l] = '\0';
		if (strstr(link, "memfd:" NBSTAT_MEMFD_NAME) == NULL)
			continue;
		(*n)++;
		if (fdp != NULL)
			*fdp = atoi(de->d_name);
		int fd = open(path, O_RDONLY);
		struct nbstat_hdr h;
		struct stat st;
		if (fd >= 0 && fstat(fd, &st) == 0 && (st.st_mode & 0777) ==
		    0600 && pread(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h)
		    && h.sh_magic == NBSTAT_MAGIC)
			pid = h.sh_pid;
		if (fd >= 0)
			close(fd);
	}
	closedir(d);
	return pid;
}

static unsigned int
own_segment(int *n)
{
	return own_segment_fd(n, NULL);
}

/*
 * The segment's descriptor keeps out of the program's way, so open()
 * still returns the lowest number, and below 64, so the kernel's
 * descriptor table does not grow for it.
 */
ATF_TC_WITHOUT_HEAD(segment_fd_high);
ATF_TC_BODY(segment_fd_high, tc)
{
	struct rlimit rl;
	int n, fd = -1;

	if (getenv("NBMEM_STATS") != NULL || NBMEM_TSAN)
		atf_tc_skip("no segment: NBMEM_STATS set, or a TSan build");
	ATF_REQUIRE_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < 64)
		atf_tc_skip("a soft limit of %lu descriptors",
		    (unsigned long)rl.rlim_cur);
	ATF_REQUIRE_EQ(own_segment_fd(&n, &fd), (unsigned int)getpid());
	ATF_CHECK_EQ(n, 1);
	/* 48 and up (the first free one: below 64 unless those are open). */
	ATF_CHECK_MSG(fd >= 48, "the segment is descriptor %d (soft limit "
	    "%lu)", fd, (unsigned long)rl.rlim_cur);
}

ATF_TC_WITHOUT_HEAD(fork_own_segment);
ATF_TC_BODY(fork_own_segment, tc)
{
	int n, status;

	if (getenv("NBMEM_STATS") != NULL || NBMEM_TSAN)
		atf_tc_skip("no segment: NBMEM_STATS set, or a TSan build");
	ATF_REQUIRE_EQ(own_segment(&n), (unsigned int)getpid());
	ATF_REQUIRE_EQ(n, 1);
	pid_t pid = fork();
	ATF_REQUIRE(pid >= 0);
	if (pid == 0) {
		unsigned int owner = own_segment(&n);
		_exit(owner == (unsigned int)getpid() && n == 1 ? 0 : 1);
	}
	ATF_REQUIRE_EQ(waitpid(pid, &status, 0), pid);
	ATF_CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "the child does not have exactly one segment of its own");
	ATF_CHECK_EQ(own_segment(&n), (unsigned int)getpid());
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, snapshot_counts);
	ATF_TP_ADD_TC(tp, damaged_headers);
	ATF_TP_ADD_TC(tp, random_damage);
	ATF_TP_ADD_TC(tp, print_api);
	ATF_TP_ADD_TC(tp, vmem_stats_vs_destroy);
	ATF_TP_ADD_TC(tp, fork_own_segment);
	ATF_TP_ADD_TC(tp, segment_fd_high);
	return 0;
}

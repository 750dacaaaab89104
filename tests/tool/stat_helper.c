/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * stat_helper: a process whose nbmem operations are known, for the
 * nbmemstat tests (t_nbmemstat.sh).
 *
 *	stat_helper run FILE	do phase 1, write what it did to FILE (as
 *				shell assignments), then wait: SIGUSR1 runs
 *				phase 2 and writes FILE.2; SIGTERM exits 0
 *	stat_helper exit	phase 1, then exit (NBMEM_STATS=exit tests)
 *	stat_helper abort	phase 1, then abort()
 *	stat_helper fake KIND FILE  as run, with a memfd named like the
 *				segment holding KIND: "garbage" (4 KiB of
 *				'A') or "empty" (0 bytes); run with
 *				NBMEM_STATS=off, it is the only one
 *	stat_helper closefd FILE  as run, but first closes the statistics
 *				segment's descriptor, as a daemon closing
 *				every descriptor does, and puts a file of
 *				its own (FILE.victim, "precious") at that
 *				number
 *
 * Phase 1: pool "th-pool" (512-byte items): 300 pool_get; the pool
 * cache "th-cache" (200 bytes, a constructor and a destructor that
 * count): 50 gets, 20 puts; arena "th-ids" (quantum 1, [1, 1000]): ten
 * 7-unit allocations, three of them freed; arena "th-qc" (quantum 16,
 * quantum caches up to 64): 64 allocations of 32, all freed; kmem: ten
 * 64-byte objects and one of 256 KiB (the large path).
 * Phase 2: 100 pool_put on th-pool, 25 more gets from th-cache.
 * The figures written are counted here, independently of the library:
 * the distinct pages holding live items are found from the addresses.
 */
#define	_GNU_SOURCE
#include <sys/mman.h>
#include <sys/prctl.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nbmem/kmem.h>
#include <nbmem/nbmem.h>
#include <nbmem/pool.h>
#include <nbmem/vmem.h>

#define	NPOOL	300
#define	NPUT	100
#define	PAGE	4096

static struct pool th_pool;
static void *items[NPOOL];
static unsigned int nlive;
static pool_cache_t th_cache;
static void *objs[100];
static unsigned int nctor, ndtor;
static void *kobjs[10], *klarge;

static int
ctor(void *arg, void *obj, int flags)
{
	(void)arg;
	(void)flags;
	memset(obj, 0x5a, 200);
	nctor++;
	return 0;
}

static void
dtor(void *arg, void *obj)
{
	(void)arg;
	(void)obj;
	ndtor++;
}

static int
cmp(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;

	return x < y ? -1 : x > y;
}

/* Pages holding at least one live item of th_pool. */
static unsigned int
live_pages(void)
{
	uintptr_t pg[NPOOL];
	unsigned int n = 0, d = 0;

	for (unsigned int i = 0; i < NPOOL; i++)
		if (items[i] != NULL)
			pg[n++] = (uintptr_t)items[i] & ~(uintptr_t)(PAGE - 1);
	qsort(pg, n, sizeof(pg[0]), cmp);
	for (unsigned int i = 0; i < n; i++)
		d += i == 0 || pg[i] != pg[i - 1];
	return d;
}

static void
report(const char *path)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL) {
		perror(tmp);
		exit(1);
	}
	fprintf(f, "PID=%d\nPOOL_LIVE=%u\nPOOL_LIVE_PAGES=%u\n"
	    "CACHE_CTOR=%u\nCACHE_DTOR=%u\n", (int)getpid(), nlive,
	    live_pages(), nctor, ndtor);
	fclose(f);
	if (rename(tmp, path) != 0) {
		perror(path);
		exit(1);
	}
}

/* A memfd with the segment's name and the wrong contents. */
static void
fake_segment(const char *kind)
{
	static char junk[4096];
	int fd = memfd_create("nbmem.stats", MFD_CLOEXEC);

	if (fd < 0) {
		perror("memfd_create");
		exit(1);
	}
	if (strcmp(kind, "garbage") == 0) {
		memset(junk, 'A', sizeof(junk));
		if (write(fd, junk, sizeof(junk)) != (ssize_t)sizeof(junk))
			exit(1);
	} else if (strcmp(kind, "empty") != 0) {
		fprintf(stderr, "stat_helper: fake %s?\n", kind);
		exit(2);
	}
}

/* Close the segment's descriptor and reuse its number for a file. */
static void
steal_fd(const char *path)
{
	char victim[4096], link[256], lpath[300];
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");
	int n = -1;

	while (d != NULL && (de = readdir(d)) != NULL) {
		snprintf(lpath, sizeof(lpath), "/proc/self/fd/%s", de->d_name);
		ssize_t l = readlink(lpath, link, sizeof(link) - 1);
		if (l > 0) {
			link[l] = '\0';
			if (strstr(link, "nbmem.stats") != NULL)
				n = atoi(de->d_name);
		}
	}
	if (d != NULL)
		closedir(d);
	if (n < 0) {
		fprintf(stderr, "stat_helper: no segment descriptor\n");
		exit(1);
	}
	close(n);
	snprintf(victim, sizeof(victim), "%s.victim", path);
	int fd = open(victim, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || (fd != n && dup2(fd, n) != n)) {
		perror(victim);
		exit(1);
	}
	if (fd != n)
		close(fd);
	if (write(n, "precious\n", 9) != 9)
		exit(1);
}

static void
phase1(void)
{
	vmem_addr_t a[10];

	pool_init(&th_pool, 512, 0, 0, 0, "th-pool", NULL, IPL_NONE);
	for (unsigned int i = 0; i < NPOOL; i++)
		items[i] = pool_get(&th_pool, PR_WAITOK);
	nlive = NPOOL;

	th_cache = pool_cache_init(200, 0, 0, 0, "th-cache", NULL, IPL_NONE,
	    ctor, dtor, NULL);
	for (unsigned int i = 0; i < 50; i++)
		objs[i] = pool_cache_get(th_cache, PR_WAITOK);
	for (unsigned int i = 30; i < 50; i++)
		pool_cache_put(th_cache, objs[i]);

	vmem_t *ids = vmem_create("th-ids", 1, 1000, 1, NULL, NULL, NULL, 0,
	    VM_SLEEP, IPL_NONE);
	for (unsigned int i = 0; i < 10; i++)
		if (vmem_alloc(ids, 7, VM_SLEEP | VM_INSTANTFIT, &a[i]) != 0)
			abort();
	for (unsigned int i = 0; i < 6; i += 2)
		vmem_free(ids, a[i], 7);

	vmem_t *qc = vmem_create("th-qc", 0x10000, 0x100000, 16, NULL, NULL,
	    NULL, 64, VM_SLEEP, IPL_NONE);
	vmem_addr_t q[64];
	for (unsigned int i = 0; i < 64; i++)
		if (vmem_alloc(qc, 32, VM_SLEEP | VM_INSTANTFIT, &q[i]) != 0)
			abort();
	for (unsigned int i = 0; i < 64; i++)
		vmem_free(qc, q[i], 32);

	for (unsigned int i = 0; i < 10; i++)
		kobjs[i] = kmem_alloc(64, KM_SLEEP);
	klarge = kmem_alloc(256 * 1024, KM_SLEEP);
}

static void
phase2(void)
{
	for (unsigned int i = 0; i < NPUT; i++) {
		pool_put(&th_pool, items[i * 3]);
		items[i * 3] = NULL;
	}
	nlive -= NPUT;
	for (unsigned int i = 50; i < 75; i++)
		objs[i] = pool_cache_get(th_cache, PR_WAITOK);
}

int
main(int argc, char **argv)
{
	sigset_t set;
	char path2[4096];
	int sig;

	/* Never outlive the test: SIGTERM when the parent goes. */
	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (argc < 2) {
		fprintf(stderr, "usage: stat_helper run FILE | exit | abort\n");
		return 2;
	}
	phase1();
	if (strcmp(argv[1], "exit") == 0)
		return 0;
	if (strcmp(argv[1], "abort") == 0)
		abort();
	if (strcmp(argv[1], "closefd") == 0 && argc == 3)
		steal_fd(argv[2]);
	else if (strcmp(argv[1], "fake") == 0 && argc == 4) {
		fake_segment(argv[2]);
		argv[2] = argv[3];
	} else if (strcmp(argv[1], "run") != 0 || argc != 3)
		return 2;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	report(argv[2]);
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			return 1;
		if (sig == SIGTERM)
			return 0;
		phase2();
		snprintf(path2, sizeof(path2), "%s.2", argv[2]);
		report(path2);
	}
}

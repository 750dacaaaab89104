/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * stats.c: the statistics segment, read live by nbmemstat(1).
 *
 * 1 Overview
 *   NetBSD's vmstat -m and -C read the kernel's pool records through a
 *   sysctl.  A process has no sysctl, so each process using nbmem
 *   publishes its records in a small shared-memory segment that
 *   nbmemstat opens from outside: the pools (nbmem_pool_sysctl's records,
 *   pools behind caches included), the vmem arenas (nbmem_vmem_stats)
 *   and process-wide figures (the memory budget).
 *   Counters and names only: never an address or an object's contents.
 *
 * 2 Data structures
 *   The segment (stats_seg.h) is a memfd named "nbmem.stats", mode 0600,
 *   that other processes of the user open through /proc/PID/fd: it has
 *   no name in a file system, so nothing is left behind however the
 *   process ends (abort included), and no clean-up of stale segments is
 *   needed.  Its descriptor is 48 or above (os/shm_linux.c), so the
 *   program's first open() still returns 3.
 *   Its header holds two futex words, sh_request (readers) and
 *   sh_reply (the publisher), and a sequence counter.  The publisher
 *   builds each snapshot in a private buffer (stats_buf) and copies it
 *   into the segment, which grows (never shrinks) as pools are added.
 *
 * 3 Publication on demand
 *   Nothing is written to shared memory on any allocation path: the counters
 *   stay per CPU, per thread or under each object's lock, and are merged only
 *   when someone asks.  A reader adds 1 to sh_request and wakes it (a shared
 *   futex); the publisher thread, which sleeps on sh_request, builds a
 *   snapshot, copies it in with sh_seq odd (a seqlock: a reader that sees
 *   sh_seq odd or changed reads again), stores the request it served in
 *   sh_reply and wakes the readers.  It also publishes every `period' seconds
 *   (NBMEM_STATS=period=N, 60 by default), so a reader that gets no answer (a
 *   stopped process) still finds a recent snapshot; and since a program may
 *   close descriptors it did not open (daemons close them all), each
 *   publication first checks that the descriptor still names the segment (its
 *   inode), and makes a new segment if not: never is a file of the program
 *   resized.  The publisher never reads anything from the segment but
 *   sh_request, and only compares it: a hostile writer can make it publish,
 *   nothing more.
 *
 * 4 Locking and fork
 *   stats_lock (IPL_NONE) covers the publisher's buffer and the segment
 *   while a snapshot is copied; it ranks before every other lock of the
 *   library, since a snapshot takes the pools' and arenas' locks.  The
 *   fork hook takes it, so a fork never catches a half-written buffer.
 *   The child must not write its parent's segment: it unmaps it, closes
 *   the descriptor and makes a segment and a publisher of its own (not
 *   in ThreadSanitizer builds, where a forked child may not start
 *   threads).  The thread blocks every signal, so it never runs a
 *   handler of the program.
 *
 * 5 Cost
 *   At start: one memfd, one page, one thread with a 128 KiB stack
 *   (README gives the measured figures).  On the fast paths: nothing.
 *   NBMEM_STATS=off removes all of it.
 *
 * 6 Differences from NetBSD
 *   vmstat reads the running kernel's pools with sysctl, or a dump with
 *   kvm(3); nbmemstat reads a running process through its segment, and
 *   NBMEM_STATS=exit prints the tables when the process exits.
 *
 * 7 References
 *   NetBSD usr.bin/vmstat/vmstat.c (dopool, dopoolcache); spec section 8;
 *   futex(2), memfd_create(2); seqlocks as in Linux's seqcount_t.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <nbmem/pool.h>

#include "internal.h"
#include "lock.h"
#include "os/os.h"
#include "os/shm.h"
#include "reclaim.h"
#include "stats_seg.h"

CTASSERT(sizeof(struct nbstat_pool) == sizeof(struct pool_sysctl));
CTASSERT(__builtin_offsetof(struct nbstat_pool, sp_cache_nhit_pcpu) ==
    __builtin_offsetof(struct pool_sysctl, pr_cache_nhit_pcpu));
CTASSERT(__builtin_offsetof(struct nbstat_pool, sp_nidle) ==
    __builtin_offsetof(struct pool_sysctl, pr_nidle));
CTASSERT(sizeof(struct nbstat_hdr) % 8 == 0);

/* Tables start after the header, each 8-aligned. */
#define	STATS_ALIGN(x)		(((x) + 7) & ~(size_t)7)
/* Room for this many more records than counted, against races. */
#define	STATS_SLACK		16
/* Default periodic publication: a stale snapshot is at most this old. */
#define	STATS_PERIOD_NS		(60ull * 1000 * 1000 * 1000)

/* A snapshot image, built in private memory (never malloc). */
struct stats_buf {
	unsigned char	*sb_data;
	size_t		sb_cap;		/* bytes mapped */
	size_t		sb_len;		/* bytes of the image */
};

static struct {
	bool		on;		/* publish a segment */
	bool		atexit;		/* print tables at exit */
	char		views[8];	/* which, at exit */
	uint64_t	period_ns;	/* 0: on demand only */
} stats_opt = { .on = !NBMEM_TSAN, .views = "mCvk",
    .period_ns = STATS_PERIOD_NS };

static kmutex_t stats_lock = MUTEX_INITIALIZER(IPL_NONE);
static struct nbmem_shm stats_shm = { .shm_fd = -1 };
static struct nbstat_hdr *stats_seg;	/* stats_shm's mapping, or NULL */
static struct stats_buf stats_pub;	/* the publisher's buffer */
static char stats_comm[NBSTAT_NAMELEN];
static uint64_t stats_start_ns;
static bool stats_deferred;	/* nbmem_svc_start will start it */

/* ---- building a snapshot */

static bool
stats_reserve(struct stats_buf *sb, size_t len)
{
	size_t ps = nbmem_os_pagesize(), cap;
	unsigned char *p;

	if (len <= sb->sb_cap)
		return true;
	cap = (len + len / 2 + ps - 1) & ~(ps - 1);
	p = nbmem_os_map(cap, 0, NBMEM_OS_PROT_RW, false);
	if (p == NULL)
		return false;
	if (sb->sb_data != NULL)
		nbmem_os_unmap(sb->sb_data, sb->sb_cap);
	sb->sb_data = p;
	sb->sb_cap = cap;
	return true;
}

static void
stats_buf_free(struct stats_buf *sb)
{
	if (sb->sb_data != NULL)
		nbmem_os_unmap(sb->sb_data, sb->sb_cap);
	memset(sb, 0, sizeof(*sb));
}

/*
 * Fill the header and the global record that follows it (an image with
 * empty tables); returns the global record.
 */
static struct nbstat_glob *
stats_hdr_init(struct nbstat_hdr *h)
{
	struct nbstat_glob *g = (void *)((char *)h +
	    STATS_ALIGN(sizeof(*h)));

	h->sh_magic = NBSTAT_MAGIC;
	h->sh_version = NBSTAT_VERSION;
	h->sh_hdrsize = sizeof(*h);
	h->sh_pid = nbmem_os_getpid();
	h->sh_time_ns = nbmem_os_realtime_ns();
	memcpy(h->sh_comm, stats_comm, sizeof(h->sh_comm));
	h->sh_glob_off = (uint32_t)STATS_ALIGN(sizeof(*h));
	h->sh_glob_size = sizeof(*g);
	h->sh_segsize = (uint32_t)(h->sh_glob_off + sizeof(*g));
	g->sg_pagesize = nbmem_os_pagesize();
	g->sg_start_ns = stats_start_ns;
	nbmem_reclaim_stats(&g->sg_reclaim_npass, &g->sg_reclaim_bytes);
	nbmem_kmem_large_stats(&g->sg_kmem_large_nalloc,
	    &g->sg_kmem_large_nfree, &g->sg_kmem_large_bytes);
	return g;
}

/*
 * Build an image of the process's statistics in sb.  Takes the pools'
 * and arenas' locks one at a time; the caller holds none.  False when
 * no memory could be mapped for it.
 */
static bool
stats_build(struct stats_buf *sb)
{
	size_t npool = nbmem_pool_sysctl(NULL, 0) + STATS_SLACK;
	size_t nvm = nbmem_vmem_stats(NULL, 0) + STATS_SLACK;

	for (;;) {
		size_t hoff = 0, goff = STATS_ALIGN(sizeof(struct nbstat_hdr));
		size_t poff = STATS_ALIGN(goff + sizeof(struct nbstat_glob));
		size_t voff = STATS_ALIGN(poff + npool *
		    sizeof(struct nbstat_pool));
		size_t end = voff + nvm * sizeof(struct nbstat_vmem);
		if (!stats_reserve(sb, end))
			return false;
		memset(sb->sb_data, 0, end);
		size_t gotp = nbmem_pool_sysctl(
		    (struct pool_sysctl *)(void *)(sb->sb_data + poff), npool);
		size_t gotv = nbmem_vmem_stats(
		    (struct nbstat_vmem *)(void *)(sb->sb_data + voff), nvm);
		if (gotp > npool || gotv > nvm) {
			/* Grown meanwhile: make room and read again. */
			npool = gotp + STATS_SLACK;
			nvm = gotv + STATS_SLACK;
			continue;
		}
		struct nbstat_hdr *h = (void *)(sb->sb_data + hoff);
		struct nbstat_glob *g = stats_hdr_init(h);
		h->sh_pool_off = (uint32_t)poff;
		h->sh_pool_count = (uint32_t)gotp;
		h->sh_pool_recsize = sizeof(struct nbstat_pool);
		h->sh_vmem_off = (uint32_t)voff;
		h->sh_vmem_count = (uint32_t)gotv;
		h->sh_vmem_recsize = sizeof(struct nbstat_vmem);
		h->sh_segsize = (uint32_t)end;
		g->sg_physmem_limit = nbmem_physmem_get();
		g->sg_physmem_inuse = nbmem_physmem_inuse();
		g->sg_physmem_waiters = nbmem_physmem_waiters();
		g->sg_ncpu = nbmem_os_ncpu();
		sb->sb_len = end;
		return true;
	}
}

/* ---- the segment */

/* A segment holding an empty snapshot; the publisher fills it. */
static bool
stats_seg_create(void)
{
	if (!nbmem_os_shm_create(&stats_shm, NBSTAT_MEMFD_NAME,
	    nbmem_os_pagesize()))
		return false;
	(void)stats_hdr_init(stats_shm.shm_map);
	stats_seg = stats_shm.shm_map;
	return true;
}

/*
 * The program closed our descriptor (daemons close them all), so
 * nbmemstat cannot find the segment, and the number may name a file of
 * the program's now: let the old mapping go and make a new segment.
 */
static void
stats_seg_recover_locked(void)
{
	if (stats_seg != NULL && nbmem_os_shm_ours(&stats_shm))
		return;
	nbmem_os_shm_destroy(&stats_shm);
	stats_seg = NULL;
	(void)stats_seg_create();
}

/*
 * Copy the image into the segment under the seqlock.  Only sh_request,
 * written by readers, is left alone (and sh_reply, sh_seq: ours).
 */
static void
stats_publish_locked(const struct stats_buf *sb)
{
	struct nbstat_hdr *h = stats_seg;
	const size_t skip = __builtin_offsetof(struct nbstat_hdr, sh_segsize);
	uint32_t seq;

	if (sb->sb_len > stats_shm.shm_size) {
		size_t ps = nbmem_os_pagesize();
		size_t cap = (sb->sb_len + sb->sb_len / 2 + ps - 1) & ~(ps - 1);
		if (nbmem_os_shm_grow(&stats_shm, cap) != 0)
			return;
		stats_seg = h = stats_shm.shm_map;
	}
	seq = __atomic_load_n(&h->sh_seq, __ATOMIC_RELAXED);
	__atomic_store_n(&h->sh_seq, seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy(h, sb->sb_data, __builtin_offsetof(struct nbstat_hdr,
	    sh_request));
	memcpy((char *)h + skip, sb->sb_data + skip, sb->sb_len - skip);
	h->sh_npublish++;
	__atomic_store_n(&h->sh_seq, seq + 2, __ATOMIC_RELEASE);
}

/* Build a snapshot, publish it, answer request `req'. */
static void
stats_publish(uint32_t req)
{
	mutex_enter(&stats_lock);
	stats_seg_recover_locked();
	if (stats_seg != NULL && stats_build(&stats_pub))
		stats_publish_locked(&stats_pub);
	if (stats_seg != NULL) {
		__atomic_store_n(&stats_seg->sh_reply, req, __ATOMIC_RELEASE);
		nbmem_os_futex_wake_shared(&stats_seg->sh_reply, 0x7fffffff);
	}
	mutex_exit(&stats_lock);
}

/*
 * The publisher: sleeps on sh_request, answers each change, and
 * publishes every period_ns meanwhile (which also remakes a segment
 * whose descriptor the program closed).  The segment moves (it grows
 * or is remade) only under stats_lock, in this thread: reading
 * stats_seg here without the lock is safe.
 */
static void *
stats_thread(void *arg)
{
	uint32_t served = 0, zero = 0;

	(void)arg;
	nbmem_os_thread_setname("nbmem-stats");
	for (;;) {
		struct nbstat_hdr *h = stats_seg;
		if (h == NULL) {
			/* No segment (it could not be remade): retry. */
			nbmem_os_futex_wait(&zero, 0, stats_opt.period_ns != 0 ?
			    stats_opt.period_ns : STATS_PERIOD_NS);
			stats_publish(served);
			continue;
		}
		uint32_t req = __atomic_load_n(&h->sh_request,
		    __ATOMIC_ACQUIRE);
		if (req == served) {
			nbmem_os_futex_wait_shared(&h->sh_request, req,
			    stats_opt.period_ns);
			req = __atomic_load_n(&h->sh_request,
			    __ATOMIC_ACQUIRE);
			if (req == served && stats_opt.period_ns == 0)
				continue;
		}
		stats_publish(req);
		served = req;
	}
	return NULL;
}

/*
 * The process's name (stats_comm) is read before: where the malloc
 * library starts the publisher late, this may be a thread of the
 * program that named itself.  The segment is made under stats_lock, so
 * that a fork child sees it made or not (stats_fork).
 */
static void
stats_start(void)
{
	bool made;

	mutex_enter(&stats_lock);
	made = stats_seg_create();
	mutex_exit(&stats_lock);
	if (!made) {
		nbmem_warn("stats: no statistics segment (%s); nbmemstat "
		    "cannot see this process", strerror(errno));
		return;
	}
	(void)nbmem_track_lib(true);	/* its TLS is no leak of the program */
	if (!nbmem_os_thread_start(stats_thread))
		nbmem_warn("stats: no publisher thread; nbmemstat cannot "
		    "see this process");
	(void)nbmem_track_lib(false);
}

/* ---- NBMEM_STATS */

/*
 * Grammar: a comma-separated list of
 *	on		publish the segment (the default)
 *	off		no segment, no thread
 *	exit[=VIEWS]	print the tables on standard error at exit (VIEWS:
 *			letters of m C v k; all four by default)
 *	period=SECONDS	publish also every SECONDS (0: on demand only)
 * Unknown words are reported and ignored.
 */
static void
stats_options(void)
{
	const char *env = nbmem_os_getenv("NBMEM_STATS");
	char word[64];

	if (env == NULL)
		return;
	while (*env != '\0') {
		size_t n = strcspn(env, ",");
		if (n >= sizeof(word))
			n = sizeof(word) - 1;
		memcpy(word, env, n);
		word[n] = '\0';
		env += strcspn(env, ",");
		if (*env == ',')
			env++;
		if (strcmp(word, "on") == 0)
			stats_opt.on = true;
		else if (strcmp(word, "off") == 0)
			stats_opt.on = false;
		else if (strcmp(word, "exit") == 0)
			stats_opt.atexit = true;
		else if (strncmp(word, "exit=", 5) == 0 && word[5] != '\0' &&
		    strspn(word + 5, "mCvk") == strlen(word + 5) &&
		    strlen(word + 5) < sizeof(stats_opt.views)) {
			stats_opt.atexit = true;
			strcpy(stats_opt.views, word + 5);
		} else if (strncmp(word, "period=", 7) == 0) {
			char *end;
			double s = strtod(word + 7, &end);
			if (end == word + 7 || *end != '\0' || s < 0 ||
			    s > 1e6)
				nbmem_warn("stats: NBMEM_STATS: bad period "
				    "\"%s\" ignored", word + 7);
			else
				stats_opt.period_ns = (uint64_t)(s * 1e9);
		} else if (word[0] != '\0')
			nbmem_warn("stats: NBMEM_STATS: unknown word \"%s\" "
			    "ignored", word);
	}
}

/* ---- printing in the process */

NBMEM_EXPORT int
nbmem_stats_print(int fd, const char *views)
{
	struct stats_buf sb = { NULL, 0, 0 };
	struct nbstat_snap ss;
	struct nbstat_out out;
	char err[128];

	if (views == NULL)
		views = "mCvk";
	if (fd < 0 || views[0] == '\0' || strspn(views, "mCvk") !=
	    strlen(views)) {
		errno = EINVAL;
		return -1;
	}
	if (!stats_build(&sb)) {
		errno = ENOMEM;
		return -1;
	}
	VERIFY(nbstat_parse(sb.sb_data, sb.sb_len, 0, &ss, err, sizeof(err)),
	    "stats: nbmem_stats_print: own snapshot refused: %s", err);
	nbstat_out_init(&out, fd);
	nbstat_emit_views(&out, &ss, views, NULL);
	nbstat_flush(&out);
	stats_buf_free(&sb);
	if (out.so_error) {
		errno = EIO;
		return -1;
	}
	return 0;
}

static void
stats_atexit(void)
{
	(void)nbmem_stats_print(2, stats_opt.views);
}

/* Internal: an image of this process's statistics (tests). */
bool
nbmem_stats_snapshot(void **bufp, size_t *lenp)
{
	struct stats_buf sb = { NULL, 0, 0 };

	if (!stats_build(&sb))
		return false;
	*bufp = sb.sb_data;
	*lenp = sb.sb_len;
	return true;
}

/* ---- fork */

static void
stats_fork(int phase)
{
	if (phase == NBMEM_FORK_PREPARE) {
		mutex_enter(&stats_lock);
		return;
	}
	if (phase == NBMEM_FORK_CHILD) {
		bool had = stats_seg != NULL;

		if (had) {
			/* The parent's segment is the parent's: let it go. */
			nbmem_os_shm_destroy(&stats_shm);
			stats_seg = NULL;
			stats_buf_free(&stats_pub);
		}
		mutex_exit(&stats_lock);
		nbmem_os_comm(stats_comm);	/* the child's only thread */
		if (NBMEM_MALLOC_LIBRARY()) {
			/*
			 * Single-threaded again until poked (reclaim.h),
			 * also when the parent's start, under way in
			 * another thread, had not made its segment yet.
			 */
			if (stats_opt.on) {
				__atomic_store_n(&stats_deferred, true,
				    __ATOMIC_RELAXED);
				nbmem_svc_defer();
			}
		} else if (had && !NBMEM_TSAN)
			stats_start();
		return;
	}
	mutex_exit(&stats_lock);
}

__attribute__((__constructor__(120)))
static void
stats_init(void)
{
	stats_start_ns = nbmem_os_realtime_ns();
	stats_options();
	nbmem_os_comm(stats_comm);	/* the main thread's: the process's */
	nbmem_fork_hook_add(NBMEM_FORK_ORDER_STATS, stats_fork);
	if (stats_opt.atexit)
		(void)atexit(stats_atexit);
	if (stats_opt.on && NBMEM_MALLOC_LIBRARY()) {
		stats_deferred = true;
		nbmem_svc_defer();
	} else if (stats_opt.on)
		stats_start();
}

/* The malloc library's poke: the publisher it deferred (reclaim.h). */
void
nbmem_stats_start_deferred(void)
{
	if (__atomic_exchange_n(&stats_deferred, false, __ATOMIC_ACQ_REL))
		stats_start();
}

/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * nbmemstat: vmstat -m and vmstat -C for processes using nbmem.
 *
 * A process using nbmem keeps a statistics segment (src/stats.c): a
 * memfd named "nbmem.stats" that this program finds in /proc/PID/fd.
 * To read it, nbmemstat adds 1 to the segment's request word, wakes the
 * process's publisher thread with a futex, waits for the reply word,
 * then copies the segment with pread(2) until the sequence word is the
 * same, even, before and after.  Everything read is checked by
 * nbstat_parse() (src/stats_fmt.c) before use; a segment that shrinks
 * under us (SIGBUS on the header page) is reported, not fatal.
 *
 * See nbmemstat(1).
 */
#define	_GNU_SOURCE
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <linux/futex.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nbmem/pool.h>

#include "stats_seg.h"

#define	MEMFD_LINK	"/memfd:" NBSTAT_MEMFD_NAME " (deleted)"
#define	EXIT_FAIL	1
#define	EXIT_USAGE	2

static const char *progname = "nbmemstat";
static double opt_timeout = 2.0;	/* seconds to wait for an answer */

/* One copy of a segment. */
struct image {
	unsigned char	*buf;
	size_t		len;
	size_t		cap;
	struct nbstat_snap snap;
	bool		stale;		/* the process did not answer */
};

static void
errx_(int code, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: %s [-mCvk] [-p pid | -f file] [-aW] [-s key] "
	    "[-w seconds [-c count]] [-t timeout] [--json]\n", progname);
	exit(EXIT_USAGE);
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u),
	    (long)(ns % 1000000000u) };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		continue;
}

/* ---- SIGBUS: a segment truncated under our mapping */

static sigjmp_buf bus_jmp;
static volatile sig_atomic_t bus_armed;

static void
on_sigbus(int sig)
{
	(void)sig;
	if (bus_armed)
		siglongjmp(bus_jmp, 1);
	signal(SIGBUS, SIG_DFL);
	raise(SIGBUS);
}

/* ---- finding a process's segment */

static bool
pid_alive(unsigned int pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%u", pid);
	return access(path, F_OK) == 0;
}

static void
pid_comm(unsigned int pid, char *buf, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(buf, len, "?");
	snprintf(path, sizeof(path), "/proc/%u/comm", pid);
	if ((f = fopen(path, "re")) == NULL)
		return;
	if (fgets(buf, (int)len, f) != NULL)
		buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
}

/*
 * Open the segment of process pid: its descriptor, or -1 with errno
 * (ESRCH: no process, ENOENT: no segment, EACCES: not ours).
 */
static int
seg_open(unsigned int pid)
{
	char dir[64], path[PATH_MAX], link[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int fd = -1;

	snprintf(dir, sizeof(dir), "/proc/%u/fd", pid);
	if ((d = opendir(dir)) == NULL) {
		if (errno == ENOENT)
			errno = ESRCH;
		return -1;
	}
	errno = ENOENT;
	while ((de = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		ssize_t n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (strcmp(link, MEMFD_LINK) != 0)
			continue;
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd >= 0)
			break;
	}
	int saved = errno;
	closedir(d);
	errno = saved;
	return fd;
}

/* Ask the publisher for a fresh snapshot; returns the request number. */
static bool
seg_request(int fd, uint32_t *reqp)
{
	struct stat st;
	struct nbstat_hdr *h;
	long ps = sysconf(_SC_PAGESIZE);
	bool ok = false;

	if (fstat(fd, &st) != 0 || st.st_size < (off_t)sizeof(*h))
		return false;
	h = mmap(NULL, (size_t)ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED)
		return false;
	if (sigsetjmp(bus_jmp, 1) == 0) {
		bus_armed = 1;
		if (h->sh_magic == NBSTAT_MAGIC) {
			*reqp = __atomic_add_fetch(&h->sh_request, 1,
			    __ATOMIC_SEQ_CST);
			syscall(SYS_futex, &h->sh_request, FUTEX_WAKE, 1,
			    NULL, NULL, 0);
			ok = true;
		}
	}
	bus_armed = 0;
	munmap(h, (size_t)ps);
	return ok;
}

/* Wait until the reply word reaches req; false on timeout. */
static bool
seg_wait(int fd, uint32_t req, uint64_t deadline)
{
	long ps = sysconf(_SC_PAGESIZE);
	struct nbstat_hdr *h;
	bool ok = false;

	h = mmap(NULL, (size_t)ps, PROT_READ, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED)
		return false;
	if (sigsetjmp(bus_jmp, 1) == 0) {
		bus_armed = 1;
		for (;;) {
			uint32_t r = __atomic_load_n(&h->sh_reply,
			    __ATOMIC_ACQUIRE);
			if ((int32_t)(r - req) >= 0) {
				ok = true;
				break;
			}
			uint64_t t = now_ns();
			if (t >= deadline)
				break;
			uint64_t left = deadline - t;
			struct timespec ts = { (time_t)(left / 1000000000u),
			    (long)(left % 1000000000u) };
			syscall(SYS_futex, &h->sh_reply, FUTEX_WAIT, r, &ts,
			    NULL, 0);
		}
	}
	bus_armed = 0;
	munmap(h, (size_t)ps);
	return ok;
}

/*
 * Copy the segment: the sequence word even in the copy and the same
 * just after it.  A segment that is not ours (other magic) is copied
 * once, as it is, for the parser to refuse.
 */
static bool
seg_copy(int fd, struct image *im, char *err, size_t errlen)
{
	for (int tries = 0; tries < 200; tries++) {
		struct nbstat_hdr h;
		struct stat st;
		uint32_t s2;
		if (fstat(fd, &st) != 0) {
			snprintf(err, errlen, "fstat: %s", strerror(errno));
			return false;
		}
		size_t size = (size_t)st.st_size;
		if (size > NBSTAT_MAXSEG)
			size = NBSTAT_MAXSEG;
		if (size > im->cap || im->buf == NULL) {
			unsigned char *nb = realloc(im->buf, size + 1);
			if (nb == NULL) {
				snprintf(err, errlen, "out of memory");
				return false;
			}
			im->buf = nb;
			im->cap = size;
		}
		ssize_t n = pread(fd, im->buf, size, 0);
		if (n < 0) {
			snprintf(err, errlen, "read: %s", strerror(errno));
			return false;
		}
		im->len = (size_t)n;
		if (im->len < sizeof(h))
			return true;
		memcpy(&h, im->buf, sizeof(h));
		if (h.sh_magic != NBSTAT_MAGIC)
			return true;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (pread(fd, &s2, sizeof(s2), offsetof(struct nbstat_hdr,
		    sh_seq)) != (ssize_t)sizeof(s2))
			s2 = h.sh_seq + 1;
		if ((h.sh_seq & 1) == 0 && h.sh_seq == s2)
			return true;
		sleep_ns(1000000);
	}
	snprintf(err, errlen, "the segment kept changing while read");
	return false;
}

/* A live snapshot of pid into im; exits on any failure. */
static void
snap_pid(unsigned int pid, struct image *im)
{
	char err[256], comm[64];
	uint32_t req = 0;
	int fd = seg_open(pid);

	if (fd < 0) {
		if (errno == ESRCH || !pid_alive(pid))
			errx_(EXIT_FAIL, "no process with PID %u", pid);
		if (errno == EACCES || errno == EPERM)
			errx_(EXIT_FAIL, "process %u: cannot read its "
			    "statistics: %s", pid, strerror(errno));
		pid_comm(pid, comm, sizeof(comm));
		errx_(EXIT_FAIL, "process %u (%s) publishes no nbmem "
		    "statistics (not using nbmem, or NBMEM_STATS=off)", pid,
		    comm);
	}
	im->stale = true;
	if (seg_request(fd, &req))
		im->stale = !seg_wait(fd, req, now_ns() +
		    (uint64_t)(opt_timeout * 1e9));
	if (!seg_copy(fd, im, err, sizeof(err)))
		errx_(EXIT_FAIL, "process %u: %s", pid, err);
	close(fd);
	if (!nbstat_parse(im->buf, im->len, pid, &im->snap, err, sizeof(err)))
		errx_(EXIT_FAIL, "process %u: %s", pid, err);
	if (im->stale)
		fprintf(stderr, "%s: process %u did not answer within %.1f s; "
		    "showing its last snapshot\n", progname, pid, opt_timeout);
}

static void
snap_file(const char *path, struct image *im)
{
	char err[256];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0;
	ssize_t n;

	if (fd < 0)
		errx_(EXIT_FAIL, "%s: %s", path, strerror(errno));
	im->cap = NBSTAT_MAXSEG;
	if ((im->buf = malloc(im->cap)) == NULL)
		errx_(EXIT_FAIL, "out of memory");
	while (len < im->cap && (n = read(fd, im->buf + len, im->cap - len))
	    > 0)
		len += (size_t)n;
	close(fd);
	im->len = len;
	if (!nbstat_parse(im->buf, im->len, 0, &im->snap, err, sizeof(err)))
		errx_(EXIT_FAIL, "%s: %s", path, err);
}

/* ---- printing */

static void
emit(const struct image *cur, const struct image *prev, double interval,
    const char *views, const char *sortkey, bool json, bool all, bool wide)
{
	struct nbstat_out out;
	struct nbstat_opts op = { .so_json = json, .so_all = all,
	    .so_wide = wide, .so_prev = prev != NULL ? &prev->snap : NULL,
	    .so_interval = interval };
	size_t n = nbstat_npool(&cur->snap) + nbstat_nvmem(&cur->snap) + 1;
	uint32_t *order = NULL;
	bool first = true;

	nbstat_out_init(&out, STDOUT_FILENO);
	if (json)
		nbstat_printf(&out, "{\"pid\":%u,\"stale\":%s,\"time_ns\":%llu,",
		    cur->snap.ss_hdr.sh_pid, cur->stale ? "true" : "false",
		    (unsigned long long)cur->snap.ss_hdr.sh_time_ns);
	if (sortkey != NULL && (order = calloc(n, sizeof(*order))) == NULL)
		errx_(EXIT_FAIL, "out of memory");
	for (const char *v = views; *v != '\0'; v++) {
		op.so_order = NULL;
		if (order != NULL) {
			if (!nbstat_sort(&cur->snap, *v, sortkey, order))
				errx_(EXIT_USAGE, "-s %s: not a sort key of "
				    "view -%c", sortkey, *v);
			op.so_order = order;
		}
		if (!first)
			nbstat_printf(&out, json ? "," : "\n");
		first = false;
		nbstat_emit(&out, &cur->snap, *v, &op);
	}
	if (json)
		nbstat_printf(&out, ",\"interval\":%.3f}\n",
		    prev != NULL ? interval : 0.0);
	nbstat_flush(&out);
	free(order);
	if (out.so_error)
		errx_(EXIT_FAIL, "write: %s", strerror(errno));
}

/* ---- the list of processes using nbmem */

static void
list_processes(bool json)
{
	struct image im = { 0 };
	struct dirent *de;
	DIR *d = opendir("/proc");
	char err[256], comm[64];
	unsigned int count = 0;

	if (d == NULL)
		errx_(EXIT_FAIL, "/proc: %s", strerror(errno));
	if (json)
		printf("[");
	else
		printf("%7s %-16s %5s %6s %6s %12s %12s\n", "PID", "COMMAND",
		    "POOLS", "CACHES", "ARENAS", "INUSE", "PAGES");
	while ((de = readdir(d)) != NULL) {
		char *end;
		unsigned long pid = strtoul(de->d_name, &end, 10);
		uint32_t req;
		if (*end != '\0' || pid == 0 || pid == (unsigned long)getpid())
			continue;
		int fd = seg_open((unsigned int)pid);
		if (fd < 0)
			continue;
		im.stale = !(seg_request(fd, &req) && seg_wait(fd, req,
		    now_ns() + (uint64_t)(opt_timeout * 1e9)));
		bool ok = seg_copy(fd, &im, err, sizeof(err)) &&
		    nbstat_parse(im.buf, im.len, (unsigned int)pid, &im.snap,
		    err, sizeof(err));
		close(fd);
		pid_comm((unsigned int)pid, comm, sizeof(comm));
		if (!ok) {
			fprintf(stderr, "%s: process %lu (%s): %s\n", progname,
			    pid, comm, err);
			continue;
		}
		unsigned int ncache = 0;
		uint64_t inuse = 0;
		for (size_t i = 0; i < nbstat_npool(&im.snap); i++) {
			struct nbstat_pool sp;
			nbstat_pool_get(&im.snap, i, &sp);
			ncache += sp.sp_cache_meta_size != 0;
			if (!(sp.sp_flags & PR_RECURSIVE))
				inuse += sp.sp_nout * sp.sp_size;
		}
		for (char *c = comm; *c != '\0'; c++)
			if (!isprint((unsigned char)*c) || *c == '"' ||
			    *c == '\\')
				*c = '?';
		if (json)
			printf("%s{\"pid\":%lu,\"comm\":\"%s\",\"pools\":%zu,"
			    "\"caches\":%u,\"arenas\":%zu,\"inuse\":%llu,"
			    "\"pages\":%llu,\"stale\":%s}", count ? "," : "",
			    pid, comm, nbstat_npool(&im.snap), ncache,
			    nbstat_nvmem(&im.snap), (unsigned long long)inuse,
			    (unsigned long long)
			    im.snap.ss_glob.sg_physmem_inuse,
			    im.stale ? "true" : "false");
		else
			printf("%7lu %-16s %5zu %6u %6zu %12llu %12llu%s\n",
			    pid, comm, nbstat_npool(&im.snap), ncache,
			    nbstat_nvmem(&im.snap), (unsigned long long)inuse,
			    (unsigned long long)
			    im.snap.ss_glob.sg_physmem_inuse,
			    im.stale ? " (stale)" : "");
		count++;
	}
	closedir(d);
	if (json)
		printf("]\n");
	free(im.buf);
}

/* ---- main */

static double
parse_seconds(const char *s, const char *what)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end != '\0' || !(v > 0) || v > 86400)
		errx_(EXIT_USAGE, "%s: bad number of seconds \"%s\"", what, s);
	return v;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char views[8] = "";
	const char *file = NULL, *sortkey = NULL;
	unsigned long pid = 0, count = 0;
	double wait = 0;
	bool json = false, all = false, wide = false;
	struct sigaction sa;
	char *end;
	int ch;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigbus;
	sigaction(SIGBUS, &sa, NULL);
	while ((ch = getopt_long(argc, argv, "mCvkp:f:w:c:s:t:aWh", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'm': case 'C': case 'v': case 'k':
			if (strchr(views, ch) == NULL) {
				size_t l = strlen(views);
				views[l] = (char)ch;
				views[l + 1] = '\0';
			}
			break;
		case 'p':
			errno = 0;
			pid = strtoul(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || errno != 0 ||
			    pid == 0 || pid > INT_MAX)
				errx_(EXIT_USAGE, "-p: bad PID \"%s\"", optarg);
			break;
		case 'f':
			file = optarg;
			break;
		case 'w':
			wait = parse_seconds(optarg, "-w");
			break;
		case 'c':
			errno = 0;
			count = strtoul(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || errno != 0 ||
			    count == 0)
				errx_(EXIT_USAGE, "-c: bad count \"%s\"",
				    optarg);
			break;
		case 's':
			sortkey = optarg;
			break;
		case 't':
			opt_timeout = parse_seconds(optarg, "-t");
			break;
		case 'a':
			all = true;
			break;
		case 'W':
			wide = true;
			break;
		case 'J':
			json = true;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || (pid != 0 && file != NULL))
		usage();
	if (pid == 0 && file == NULL) {
		if (views[0] != '\0' || wait != 0 || sortkey != NULL)
			errx_(EXIT_USAGE, "a view needs -p PID or -f FILE");
		list_processes(json);
		return 0;
	}
	if (views[0] == '\0')
		(void)strcpy(views, "m");
	if (file != NULL) {
		struct image im = { 0 };
		if (wait != 0)
			errx_(EXIT_USAGE, "-w needs a live process (-p)");
		snap_file(file, &im);
		emit(&im, NULL, 0, views, sortkey, json, all, wide);
		free(im.buf);
		return 0;
	}

	struct image a = { 0 }, b = { 0 }, *cur = &a, *prev = NULL;
	uint64_t t0 = now_ns(), tprev = 0;
	for (unsigned long i = 0;; i++) {
		uint64_t t = now_ns();
		snap_pid((unsigned int)pid, cur);
		if (wait != 0 && !json)
			printf("%s--- process %lu (%s), %s\n", i ? "\n" : "",
			    pid, cur->snap.ss_comm, prev == NULL ?
			    "totals since start" : "over the interval");
		fflush(stdout);
		emit(cur, prev, (double)(t - tprev) / 1e9, views, sortkey,
		    json, all, wide);
		fflush(stdout);
		if (wait == 0 || (count != 0 && i + 1 >= count))
			break;
		prev = cur;
		cur = cur == &a ? &b : &a;
		tprev = t;
		uint64_t next = t0 + (uint64_t)((double)(i + 1) * wait * 1e9);
		uint64_t n = now_ns();
		if (next > n)
			sleep_ns(next - n);
	}
	free(a.buf);
	free(b.buf);
	return 0;
}

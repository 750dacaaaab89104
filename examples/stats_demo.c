/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * stats_demo: a small server-like workload on nbmem, watched from
 * outside by nbmemstat(1) while it runs, as vmstat -m and vmstat -C
 * watch a kernel.
 *
 * The workload:
 *   - a pool cache of 256-byte "session" objects with a constructor and
 *     a destructor: 3000 sessions opened, 2200 closed, then a worker
 *     thread keeps opening and closing sessions;
 *   - a vmem arena of connection IDs (1..65535, quantum 1, quantum
 *     caches for 1 to 8 IDs at a time) with 1000 IDs handed out;
 *   - a vmem arena of "device buffers" (quantum 4 KiB) carved in sizes
 *     from 4 KiB to 1 MiB;
 *   - kmem(3): strings, small records and a few large buffers.
 *
 * Then it runs `nbmemstat -m/-C/-v/-k -p <its own PID>' (the program
 * named by the first argument, else "nbmemstat" next to this one), and
 * `nbmemstat -C -w 1 -c 2', whose second display shows what the worker
 * did in that second.  Uses only the public headers.
 */
#include <sys/wait.h>

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nbmem/kmem.h>
#include <nbmem/nbmem.h>
#include <nbmem/pool.h>
#include <nbmem/vmem.h>

struct session {
	unsigned int	s_magic;
	unsigned int	s_id;
	char		s_peer[64];
	unsigned char	s_buf[184];
};

#define	SESSION_MAGIC	0x5e55u
#define	NSESSION	3000

static unsigned int nctor, ndtor;
static volatile int worker_stop;
static pool_cache_t sessions;

static int
session_ctor(void *arg, void *obj, int flags)
{
	struct session *s = obj;

	(void)arg;
	(void)flags;
	memset(s, 0, sizeof(*s));
	s->s_magic = SESSION_MAGIC;
	__atomic_fetch_add(&nctor, 1, __ATOMIC_RELAXED);
	return 0;
}

static void
session_dtor(void *arg, void *obj)
{
	(void)arg;
	(void)obj;
	__atomic_fetch_add(&ndtor, 1, __ATOMIC_RELAXED);
}

/* Open and close sessions until told to stop: the live traffic. */
static void *
worker(void *arg)
{
	struct session *batch[32];

	(void)arg;
	while (!worker_stop) {
		for (int i = 0; i < 32; i++)
			batch[i] = pool_cache_get(sessions, PR_WAITOK);
		for (int i = 0; i < 32; i++)
			pool_cache_put(sessions, batch[i]);
		usleep(100);
	}
	return NULL;
}

static void
die(const char *what)
{
	fprintf(stderr, "stats_demo: %s\n", what);
	exit(1);
}

/* Run nbmemstat with these arguments and -p <our PID>. */
static void
run_nbmemstat(const char *tool, const char *a1, const char *a2,
    const char *a3, const char *a4)
{
	char pid[32];
	const char *argv[8];
	int n = 0, status;

	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	argv[n++] = tool;
	argv[n++] = a1;
	if (a2 != NULL)
		argv[n++] = a2;
	if (a3 != NULL)
		argv[n++] = a3;
	if (a4 != NULL)
		argv[n++] = a4;
	argv[n++] = "-p";
	argv[n++] = pid;
	argv[n] = NULL;
	printf("\n$ nbmemstat");
	for (int i = 1; i < n; i++)
		printf(" %s", argv[i]);
	printf("\n");
	fflush(stdout);
	pid_t child = fork();
	if (child < 0)
		die("fork failed");
	if (child == 0) {
		execv(tool, (char *const *)argv);
		fprintf(stderr, "stats_demo: %s: %s\n", tool, strerror(errno));
		_exit(127);
	}
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		die("nbmemstat failed");
}

int
main(int argc, char **argv)
{
	static struct session *open_s[NSESSION];
	char tool[PATH_MAX], self[PATH_MAX];
	vmem_addr_t ids[1000], bufs[40];
	char *names[100];
	void *small[500], *large[4];
	pthread_t t;

	if (argc > 1)
		snprintf(tool, sizeof(tool), "%s", argv[1]);
	else {
		ssize_t l = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (l <= 0)
			die("cannot find myself");
		self[l] = '\0';
		snprintf(tool, sizeof(tool), "%s/nbmemstat", dirname(self));
	}
	if (access(tool, X_OK) != 0)
		die("nbmemstat not found; give its path as the argument");

	printf("stats_demo (pid %d): a workload on nbmem, read live by "
	    "nbmemstat\n", (int)getpid());

	/* Sessions: a pool cache with a constructor. */
	sessions = pool_cache_init(sizeof(struct session), 0, 0, 0, "session",
	    NULL, IPL_NONE, session_ctor, session_dtor, NULL);
	for (int i = 0; i < NSESSION; i++) {
		open_s[i] = pool_cache_get(sessions, PR_WAITOK);
		if (open_s[i]->s_magic != SESSION_MAGIC)
			die("a session was not constructed");
		open_s[i]->s_id = (unsigned int)i;
	}
	for (int i = 0; i < 2200; i++)
		pool_cache_put(sessions, open_s[i]);

	/* Connection IDs: quantum 1, quantum caches for 1..8 IDs. */
	vmem_t *idv = vmem_create("conn-ids", 1, 65535, 1, NULL, NULL, NULL,
	    8, VM_SLEEP, IPL_NONE);
	for (int i = 0; i < 1000; i++)
		if (vmem_alloc(idv, 1 + i % 4, VM_SLEEP | VM_INSTANTFIT,
		    &ids[i]) != 0)
			die("no connection ID");
	for (int i = 0; i < 1000; i += 3)
		vmem_free(idv, ids[i], 1 + i % 4);

	/* Device buffers: a 256 MiB window carved in 4 KiB .. 1 MiB. */
	vmem_t *bufv = vmem_create("dev-buffers", 0x40000000, 256u << 20,
	    4096, NULL, NULL, NULL, 0, VM_SLEEP, IPL_NONE);
	for (int i = 0; i < 40; i++)
		if (vmem_alloc(bufv, (vmem_size_t)4096 << (i % 9),
		    VM_SLEEP | VM_BESTFIT, &bufs[i]) != 0)
			die("no device buffer");
	for (int i = 0; i < 40; i += 4)
		vmem_free(bufv, bufs[i], (vmem_size_t)4096 << (i % 9));

	/* kmem: strings, small records, large buffers. */
	for (int i = 0; i < 100; i++)
		names[i] = kmem_asprintf("client-%d.example.org", i);
	for (int i = 0; i < 500; i++)
		small[i] = kmem_alloc((size_t)16 << (i % 6), KM_SLEEP);
	for (int i = 0; i < 4; i++)
		large[i] = kmem_alloc((size_t)256 << 10, KM_SLEEP);

	if (pthread_create(&t, NULL, worker, NULL) != 0)
		die("no worker thread");

	run_nbmemstat(tool, "-m", NULL, NULL, NULL);
	run_nbmemstat(tool, "-C", NULL, NULL, NULL);
	run_nbmemstat(tool, "-v", "-s", "inuse", NULL);
	run_nbmemstat(tool, "-k", NULL, NULL, NULL);
	run_nbmemstat(tool, "-C", "-w", "1", "-c2");

	worker_stop = 1;
	pthread_join(t, NULL);
	for (int i = 0; i < 4; i++)
		kmem_free(large[i], (size_t)256 << 10);
	for (int i = 0; i < 500; i++)
		kmem_free(small[i], (size_t)16 << (i % 6));
	for (int i = 0; i < 100; i++)
		kmem_strfree(names[i]);
	for (int i = 1; i < 40; i++)
		if (i % 4 != 0)
			vmem_free(bufv, bufs[i], (vmem_size_t)4096 << (i % 9));
	vmem_destroy(bufv);
	for (int i = 0; i < 1000; i++)
		if (i % 3 != 0)
			vmem_free(idv, ids[i], 1 + i % 4);
	vmem_destroy(idv);
	for (int i = 2200; i < NSESSION; i++)
		pool_cache_put(sessions, open_s[i]);
	pool_cache_destroy(sessions);
	printf("\nstats_demo: %u sessions constructed, %u destructed; the "
	    "same tables at exit: NBMEM_STATS=exit\n", nctor, ndtor);
	return 0;
}

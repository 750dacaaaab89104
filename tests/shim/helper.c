/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * A plain program (linked with nothing of nbmem) that the preload tests
 * run under LD_PRELOAD=libnbmem_malloc.so:
 *   helper churn        allocate, check and free a mix; print a checksum
 *   helper double-free  free a small object twice
 *   helper overrun      write one byte past a 10-byte object, free it
 *   helper leak         keep a 1234-byte object to the end (free a
 *                       3333-byte one before)
 *   helper clean        free all it allocates, print with write(2)
 *   helper clean-libc   the same, but print with printf and start and
 *                       join a thread (the C library keeps their memory)
 *   helper foreign      free a pointer into the stack
 *   helper stats        malloc_stats()
 *   helper huge         malloc more than all RAM and swap and a GiB:
 *                       print "ENOMEM" or "granted"
 *   helper storm HOW    a storm of SIGUSR1, whose handler (installed
 *                       with sigaction or signal, as HOW says) mallocs
 *                       and frees, while the program mallocs and frees
 */
/* The misuse and the huge sizes below are on purpose. */
#pragma GCC diagnostic ignored "-Wfree-nonheap-object"
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Walloc-size-larger-than="
#if __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wuse-after-free"
#endif
#endif

#include <malloc.h>
#include <pthread.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/sysinfo.h>

static int
churn(void)
{
	enum { N = 4096 };
	static unsigned char *p[N];
	static size_t n[N];
	unsigned int seed = 1;
	unsigned long sum = 0;

	for (int round = 0; round < 50; round++)
		for (int i = 0; i < N; i++) {
			if (p[i] != NULL) {
				for (size_t k = 0; k < n[i]; k += 31)
					if (p[i][k] != (unsigned char)(i + k)) {
						fprintf(stderr, "corrupt\n");
						return 1;
					}
				sum += p[i][n[i] - 1];
				free(p[i]);
			}
			n[i] = (size_t)(rand_r(&seed) % (i % 64 == 0 ?
			    200000 : 2000)) + 1;
			p[i] = malloc(n[i]);
			if (p[i] == NULL)
				return 1;
			for (size_t k = 0; k < n[i]; k++)
				p[i][k] = (unsigned char)(i + k);
		}
	for (int i = 0; i < N; i++)
		free(p[i]);
	printf("%lu\n", sum);
	return 0;
}

/*
 * What the library's sections guard against once a handler exists: a
 * handler that allocates while its thread is inside one (malloc is not
 * async-signal-safe by POSIX; programs do it anyway).  Without the
 * blocking the thread would wait for ever on a lock it holds itself;
 * alarm() ends such a run.
 */
static volatile sig_atomic_t storm_nhandled;
static pthread_t storm_target;
static volatile int storm_done;

static void
storm_handler(int sig)
{
	(void)sig;
	free(malloc(2048));
	free(malloc(100));
	storm_nhandled++;
}

static void *
storm_sender(void *arg)
{
	(void)arg;
	for (int i = 0; i < 20000 && !storm_done; i++) {
		pthread_kill(storm_target, SIGUSR1);
		if (i % 64 == 0)
			usleep(100);
	}
	return NULL;
}

static void *
clean_thread(void *arg)
{
	free(malloc(100));
	return arg;
}

/* Free everything; with `libc', leave the C library its own caches. */
static int
clean(bool libc)
{
	pthread_t t;
	char *p;

	for (size_t n = 1; n < ((size_t)1 << 21); n *= 3)
		free(malloc(n));
	p = calloc(10, 10);
	p = realloc(p, 300000);
	free(p);
	if (!libc)
		return write(STDOUT_FILENO, "clean\n", 6) == 6 ? 0 : 1;
	if (pthread_create(&t, NULL, clean_thread, NULL) != 0 ||
	    pthread_join(t, NULL) != 0)
		return 1;
	printf("clean\n");
	return 0;
}

static int
storm(const char *how)
{
	enum { N = 600 };
	static void *p[N];
	struct sigaction sa;
	pthread_t t;

	alarm(60);
	if (strcmp(how, "signal") == 0) {
		if (signal(SIGUSR1, storm_handler) == SIG_ERR)
			return 1;
	} else {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = storm_handler;
		sa.sa_flags = SA_RESTART;
		if (sigaction(SIGUSR1, &sa, NULL) != 0)
			return 1;
	}
	storm_target = pthread_self();
	if (pthread_create(&t, NULL, storm_sender, NULL) != 0)
		return 1;
	/*
	 * 400 rounds, and on until a signal has come: on a loaded machine
	 * the sender may not run before the rounds are over (alarm() above
	 * bounds the wait).
	 */
	for (int round = 0; round < 400 || storm_nhandled == 0; round++) {
		for (int i = 0; i < N; i++)
			if ((p[i] = malloc((size_t)(i % 3 + 1) * 1024)) ==
			    NULL)
				return 1;
		for (int i = 0; i < N; i++)
			free(p[i]);
	}
	storm_done = 1;
	pthread_join(t, NULL);
	printf("%d\n", storm_nhandled > 0);
	return 0;
}

int
main(int argc, char **argv)
{
	char buf[32];
	char *p;

	if (argc < 2)
		return 2;
	if (strcmp(argv[1], "churn") == 0)
		return churn();
	if (strcmp(argv[1], "double-free") == 0) {
		p = malloc(100);
		free(p);
		free(p);
		return 0;
	}
	if (strcmp(argv[1], "overrun") == 0) {
		p = malloc(10);
		memset(p, 1, 11);
		free(p);
		return 0;
	}
	if (strcmp(argv[1], "leak") == 0) {
		p = malloc(3333);
		memset(p, 1, 3333);
		free(p);		/* no leak, even kept in quarantine */
		p = malloc(1234);
		memset(p, 1, 1234);
		return p[0] == 1 ? 0 : 1;
	}
	/* An over-aligned block: one byte past it, or a leak of it. */
	if (strcmp(argv[1], "aligned-overrun") == 0 && argc > 2) {
		if (posix_memalign((void **)&p, strtoul(argv[2], NULL, 0),
		    100) != 0)
			return 1;
		printf("%zu\n", malloc_usable_size(p));
		fflush(stdout);
		p[100] = 1;
		free(p);
		return 0;
	}
	if (strcmp(argv[1], "aligned-leak") == 0) {
		p = aligned_alloc(256, 300);
		memset(p, 1, 300);
		printf("%p\n", (void *)p);
		return p[0] == 1 ? 0 : 1;
	}
	if (strcmp(argv[1], "foreign") == 0) {
		char *volatile q = buf;
		memset(buf, 0, sizeof(buf));
		free(q + 16);
		return 0;
	}
	if (strcmp(argv[1], "clean") == 0)
		return clean(false);
	if (strcmp(argv[1], "clean-libc") == 0)
		return clean(true);
	if (strcmp(argv[1], "storm") == 0 && argc > 2)
		return storm(argv[2]);
	if (strcmp(argv[1], "huge") == 0) {
		struct sysinfo si;
		void *v;

		if (sysinfo(&si) != 0)
			return 1;
		errno = 0;
		v = malloc((size_t)(si.totalram + si.totalswap) *
		    si.mem_unit + ((size_t)1 << 30));
		printf("%s\n", v == NULL && errno == ENOMEM ? "ENOMEM" :
		    "granted");
		free(v);
		return 0;
	}
	if (strcmp(argv[1], "stats") == 0) {
		free(malloc(50));	/* kmem-00064 */
		free(malloc(300));	/* kmem-00320 */
		malloc_stats();
		return 0;
	}
	return 2;
}

/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * Test helpers for pool(3) and pool_cache(3).
 *
 * nbt_stderr_lines(fn, arg, text): run fn(arg) in this process with
 * standard error sent to a temporary file; the number of lines it
 * wrote that contain `text'.
 *
 * nbt_pool_record(name, out): whether nbmem_pool_sysctl() lists a pool
 * whose wait channel is `name'; if so and out is not NULL, *out is its
 * record.  The records are gathered into a static array: call it from
 * one thread at a time.
 */
#ifndef NBPOOL_H
#define NBPOOL_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <atf-c.h>

#include <nbmem/pool.h>

static inline int
nbt_stderr_lines(void (*fn)(void *), void *arg, const char *text)
{
	char path[] = "/tmp/nbt_stderr.XXXXXX";
	int fd = mkstemp(path), saved = dup(STDERR_FILENO), n = 0;
	char line[512];
	FILE *f;

	ATF_REQUIRE(fd >= 0 && saved >= 0);
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	(*fn)(arg);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	f = fdopen(fd, "r");
	ATF_REQUIRE(f != NULL);
	rewind(f);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, text) != NULL)
			n++;
	fclose(f);
	unlink(path);
	return n;
}

#define	NBT_POOL_RECORDS	512

static inline bool
nbt_pool_record(const char *name, struct pool_sysctl *out)
{
	static struct pool_sysctl ps[NBT_POOL_RECORDS];
	size_t n = nbmem_pool_sysctl(ps, NBT_POOL_RECORDS);

	for (size_t i = 0; i < n && i < NBT_POOL_RECORDS; i++) {
		if (strcmp(ps[i].pr_wchan, name) == 0) {
			if (out != NULL)
				*out = ps[i];
			return true;
		}
	}
	return false;
}

#endif	/* NBPOOL_H */

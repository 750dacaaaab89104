/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * The printf-like function that the print routines under test take
 * (pool_printit, vmem_print, ...): pr() appends to prbuf, prlen bytes
 * so far, always NUL-terminated; a test sets prlen = 0 before a print.
 * Output past the buffer is dropped.
 */
#ifndef NBPRINT_H
#define NBPRINT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

static char prbuf[65536];
static size_t prlen;

static void __attribute__((__format__(__printf__, 1, 2), __unused__))
pr(const char *fmt, ...)
{
	va_list ap;
	int n;

	if (prlen >= sizeof(prbuf) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(prbuf + prlen, sizeof(prbuf) - prlen, fmt, ap);
	va_end(ap);
	if (n > 0)
		prlen += (size_t)n;
	if (prlen >= sizeof(prbuf))
		prlen = sizeof(prbuf) - 1;
}

#endif /* NBPRINT_H */

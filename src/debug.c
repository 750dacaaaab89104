/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * debug.c: the panic path.
 *
 * Every broken rule nbmem detects ends here: one line on standard error,
 * "nbmem: <subsystem>: <object>: <rule>", a backtrace, abort().  The path
 * formats into a stack buffer with its own small formatter, calls only
 * write(2) and the unwinder (loaded at start-up so that it does not
 * allocate later; in the malloc library only on request, else the
 * backtrace is a line saying how to get one), and takes no allocator
 * lock, so it works from inside any allocator state, including a signal
 * handler.
 */
#include <sys/types.h>

#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"
#include "os/os.h"

static nbmem_panic_handler_t *panic_handler;

/* ---- formatter */

struct fmtbuf {
	char	*fb_buf;
	size_t	fb_size;
	size_t	fb_len;
};

static void
fmt_putc(struct fmtbuf *fb, char c)
{
	if (fb->fb_len + 1 < fb->fb_size)
		fb->fb_buf[fb->fb_len] = c;
	fb->fb_len++;
}

static void
fmt_puts(struct fmtbuf *fb, const char *s)
{
	if (s == NULL)
		s = "(null)";
	while (*s != '\0')
		fmt_putc(fb, *s++);
}

static void
fmt_num(struct fmtbuf *fb, uintmax_t v, unsigned int base, bool neg,
    bool alt)
{
	char tmp[3 * sizeof(v) + 3];
	size_t n = 0;

	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v != 0);
	if (neg)
		fmt_putc(fb, '-');
	if (alt && base == 16) {
		fmt_putc(fb, '0');
		fmt_putc(fb, 'x');
	}
	while (n > 0)
		fmt_putc(fb, tmp[--n]);
}

size_t
nbmem_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct fmtbuf fb = { buf, size, 0 };

	for (; *fmt != '\0'; fmt++) {
		if (*fmt != '%') {
			fmt_putc(&fb, *fmt);
			continue;
		}
		fmt++;
		bool alt = false;
		if (*fmt == '#') {
			alt = true;
			fmt++;
		}
		int lng = 0;	/* 0 int, 1 long, 2 size_t, 3 intmax */
		if (*fmt == 'l') {
			lng = 1;
			fmt++;
			if (*fmt == 'l')
				fmt++;
		} else if (*fmt == 'z') {
			lng = 2;
			fmt++;
		} else if (*fmt == 'j') {
			lng = 3;
			fmt++;
		}
		switch (*fmt) {
		case 'd': {
			intmax_t v = lng == 0 ? va_arg(ap, int) :
			    lng == 1 ? va_arg(ap, long) :
			    lng == 2 ? (intmax_t)va_arg(ap, ssize_t) :
			    va_arg(ap, intmax_t);
			fmt_num(&fb, v < 0 ? -(uintmax_t)v : (uintmax_t)v, 10,
			    v < 0, false);
			break;
		}
		case 'u':
		case 'x': {
			uintmax_t v = lng == 0 ? va_arg(ap, unsigned int) :
			    lng == 1 ? va_arg(ap, unsigned long) :
			    lng == 2 ? va_arg(ap, size_t) :
			    va_arg(ap, uintmax_t);
			fmt_num(&fb, v, *fmt == 'x' ? 16 : 10, false, alt);
			break;
		}
		case 'p':
			fmt_num(&fb, (uintptr_t)va_arg(ap, void *), 16, false,
			    true);
			break;
		case 's':
			fmt_puts(&fb, va_arg(ap, const char *));
			break;
		case 'c':
			fmt_putc(&fb, (char)va_arg(ap, int));
			break;
		case '%':
			fmt_putc(&fb, '%');
			break;
		case '\0':
			fmt--;
			break;
		default:
			fmt_putc(&fb, '%');
			fmt_putc(&fb, *fmt);
			break;
		}
	}
	if (size > 0)
		buf[fb.fb_len < size ? fb.fb_len : size - 1] = '\0';
	return fb.fb_len < size ? fb.fb_len : (size > 0 ? size - 1 : 0);
}

size_t
nbmem_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = nbmem_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

/* ---- panic and warnings */

NBMEM_EXPORT nbmem_panic_handler_t *
nbmem_panic_handler_set(nbmem_panic_handler_t *fn)
{
	return __atomic_exchange_n(&panic_handler, fn, __ATOMIC_ACQ_REL);
}

/* "nbmem: " + the formatted text into line; returns the length. */
static size_t
diag_format(char *line, size_t size, const char *fmt, va_list ap)
{
	memcpy(line, "nbmem: ", 7);
	return 7 + nbmem_vsnprintf(line + 7, size - 8, fmt, ap);
}

void
nbmem_panic(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = diag_format(line, sizeof(line), fmt, ap);
	va_end(ap);
	nbmem_panic_handler_t *h =
	    __atomic_load_n(&panic_handler, __ATOMIC_ACQUIRE);
	if (h != NULL)
		(*h)(line);
	line[n++] = '\n';
	nbmem_os_write_err(line, n);
	nbmem_os_backtrace();
	nbmem_os_abort();
}

void
nbmem_warn(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = diag_format(line, sizeof(line), fmt, ap);
	va_end(ap);
	line[n++] = '\n';
	nbmem_os_write_err(line, n);
}

/*
 * The malloc library loads the unwinder itself, and only when asked: a
 * drop-in malloc should not add the unwinder's 330 KiB to every
 * program's resident memory.
 */
__attribute__((__constructor__(101)))
static void
debug_init(void)
{
	if (!NBMEM_MALLOC_LIBRARY())
		nbmem_os_backtrace_init();
}

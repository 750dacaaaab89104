/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * stats_fmt.c: reading a statistics segment and printing it the way
 * vmstat -m and vmstat -C print a kernel's pools.  Built twice: into the
 * library (nbmem_stats_print, NBMEM_STATS=exit) and into nbmemstat(1).
 *
 * The parser treats the image as hostile: the segment is shared memory
 * any process of the same user can write.  Every size, offset and count
 * is checked against the bytes actually read before anything is looked
 * at, records are copied out (no unaligned access), names are
 * terminated and non-printable bytes never reach the terminal.  Nothing
 * here allocates: the library prints from an atexit handler, and the
 * process may be short of memory.
 *
 * Column definitions: spec section 8 (NetBSD usr.bin/vmstat/vmstat.c,
 * dopool and dopoolcache).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <nbmem/pool.h>

#include "stats_seg.h"

#define	NBSTAT_MAXRECS		(1u << 20)
#define	NBSTAT_MAXRECSIZE	4096u

/* ---- parser */

static bool
parse_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (errlen != 0)
		(void)vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return false;
}

static bool
parse_table(const struct nbstat_hdr *h, const char *what, uint32_t off,
    uint32_t count, uint32_t recsize, size_t minrec, char *err,
    size_t errlen)
{
	if (count == 0)
		return true;
	if (recsize < minrec || recsize > NBSTAT_MAXRECSIZE)
		return parse_fail(err, errlen, "damaged segment: %s records "
		    "of %u bytes (%zu to %u expected)", what, recsize, minrec,
		    NBSTAT_MAXRECSIZE);
	if (count > NBSTAT_MAXRECS)
		return parse_fail(err, errlen, "damaged segment: %u %s "
		    "records", count, what);
	if (off < h->sh_hdrsize || (uint64_t)off + (uint64_t)count *
	    recsize > h->sh_segsize)
		return parse_fail(err, errlen, "damaged segment: %s table "
		    "(%u records of %u bytes at %u) lies outside the %u-byte "
		    "segment", what, count, recsize, off, h->sh_segsize);
	return true;
}

bool
nbstat_parse(const void *buf, size_t len, unsigned int pid,
    struct nbstat_snap *ss, char *err, size_t errlen)
{
	struct nbstat_hdr *h = &ss->ss_hdr;

	memset(ss, 0, sizeof(*ss));
	if (buf == NULL || len < sizeof(*h))
		return parse_fail(err, errlen, "not an nbmem statistics "
		    "segment (%zu bytes, too short)", buf == NULL ? 0 : len);
	memcpy(h, buf, sizeof(*h));
	if (h->sh_magic != NBSTAT_MAGIC)
		return parse_fail(err, errlen, "not an nbmem statistics "
		    "segment (magic %#x)", h->sh_magic);
	if (h->sh_version != NBSTAT_VERSION)
		return parse_fail(err, errlen, "statistics segment version %u "
		    "(this program reads version %u)", h->sh_version,
		    NBSTAT_VERSION);
	if (h->sh_hdrsize < sizeof(*h) || h->sh_segsize < h->sh_hdrsize ||
	    h->sh_segsize > NBSTAT_MAXSEG)
		return parse_fail(err, errlen, "damaged segment: header of %u "
		    "bytes, segment of %u", h->sh_hdrsize, h->sh_segsize);
	if (h->sh_segsize > len)
		return parse_fail(err, errlen, "damaged segment: %u bytes "
		    "claimed, %zu present", h->sh_segsize, len);
	if ((h->sh_seq & 1) != 0)
		return parse_fail(err, errlen, "segment caught mid-update "
		    "(sequence %u)", h->sh_seq);
	if (pid != 0 && h->sh_pid != pid)
		return parse_fail(err, errlen, "the segment belongs to "
		    "process %u, not %u (inherited without exec?)", h->sh_pid,
		    pid);
	if (h->sh_glob_size < sizeof(ss->ss_glob) || h->sh_glob_size >
	    NBSTAT_MAXRECSIZE || h->sh_glob_off < h->sh_hdrsize ||
	    (uint64_t)h->sh_glob_off + h->sh_glob_size > h->sh_segsize)
		return parse_fail(err, errlen, "damaged segment: global "
		    "record of %u bytes at %u", h->sh_glob_size,
		    h->sh_glob_off);
	if (!parse_table(h, "pool", h->sh_pool_off, h->sh_pool_count,
	    h->sh_pool_recsize, sizeof(struct nbstat_pool), err, errlen) ||
	    !parse_table(h, "arena", h->sh_vmem_off, h->sh_vmem_count,
	    h->sh_vmem_recsize, sizeof(struct nbstat_vmem), err, errlen))
		return false;
	memcpy(&ss->ss_glob, (const unsigned char *)buf + h->sh_glob_off,
	    sizeof(ss->ss_glob));
	memcpy(ss->ss_comm, h->sh_comm, NBSTAT_NAMELEN);
	ss->ss_comm[NBSTAT_NAMELEN] = '\0';
	ss->ss_buf = buf;
	ss->ss_len = h->sh_segsize;
	return true;
}

size_t
nbstat_npool(const struct nbstat_snap *ss)
{
	return ss->ss_buf == NULL ? 0 : ss->ss_hdr.sh_pool_count;
}

size_t
nbstat_nvmem(const struct nbstat_snap *ss)
{
	return ss->ss_buf == NULL ? 0 : ss->ss_hdr.sh_vmem_count;
}

/* Copy record i of a table into out (outsize bytes), or zeros. */
static void
rec_get(const struct nbstat_snap *ss, uint32_t off, size_t count,
    uint32_t recsize, size_t i, void *out, size_t outsize)
{
	memset(out, 0, outsize);
	if (i < count)
		memcpy(out, ss->ss_buf + off + i * recsize, outsize);
	/* Every record starts with its name. */
	((char *)out)[NBSTAT_NAMELEN - 1] = '\0';
}

void
nbstat_pool_get(const struct nbstat_snap *ss, size_t i, struct nbstat_pool *sp)
{
	rec_get(ss, ss->ss_hdr.sh_pool_off, nbstat_npool(ss),
	    ss->ss_hdr.sh_pool_recsize, i, sp, sizeof(*sp));
}

void
nbstat_vmem_get(const struct nbstat_snap *ss, size_t i, struct nbstat_vmem *sv)
{
	rec_get(ss, ss->ss_hdr.sh_vmem_off, nbstat_nvmem(ss),
	    ss->ss_hdr.sh_vmem_recsize, i, sv, sizeof(*sv));
}

/* ---- output buffer: write(2) only */

void
nbstat_out_init(struct nbstat_out *o, int fd)
{
	o->so_fd = fd;
	o->so_error = false;
	o->so_len = 0;
}

void
nbstat_flush(struct nbstat_out *o)
{
	size_t done = 0;

	while (done < o->so_len && !o->so_error) {
		ssize_t n = write(o->so_fd, o->so_buf + done, o->so_len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			o->so_error = true;
		else
			done += (size_t)n;
	}
	o->so_len = 0;
}

void
nbstat_printf(struct nbstat_out *o, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	if (o->so_len + (size_t)n > sizeof(o->so_buf))
		nbstat_flush(o);
	memcpy(o->so_buf + o->so_len, line, (size_t)n);
	o->so_len += (size_t)n;
}

/* ---- helpers */

/* A name fit for a terminal: printable ASCII, others as '?'. */
static const char *
safe_name(const char *in, char *out)
{
	size_t i;

	for (i = 0; i < NBSTAT_NAMELEN - 1 && in[i] != '\0'; i++)
		out[i] = in[i] > 0x20 && in[i] < 0x7f ? in[i] : '?';
	out[i] = '\0';
	if (i == 0)
		(void)strcpy(out, "?");
	return out;
}

/* A name as a JSON string body. */
static const char *
json_name(const char *in, char *out)
{
	char *p = out;

	for (size_t i = 0; i < NBSTAT_NAMELEN - 1 && in[i] != '\0'; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == '"' || c == '\\') {
			*p++ = '\\';
			*p++ = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			p += sprintf(p, "\\u%04x", c);
		} else {
			*p++ = (char)c;
		}
	}
	*p = '\0';
	return out;
}

/* Counter over the interval with -w; the counter itself otherwise. */
static uint64_t
delta(uint64_t now, uint64_t then, bool have)
{
	if (!have)
		return now;
	return now >= then ? now - then : 0;
}

/*
 * With -w: the record of the previous snapshot matching cur (a pool of
 * the same name and size, an arena of the same name) into out; zeros
 * for a record new since then, everything of which happened in the
 * interval.  False without a previous snapshot.
 */
static bool
prev_find(const struct nbstat_opts *op, bool arena, const void *cur,
    void *out, size_t outsize)
{
	const struct nbstat_snap *pv = op != NULL ? op->so_prev : NULL;
	const struct nbstat_pool *cp = cur, *op_ = out;

	if (pv == NULL)
		return false;
	size_t n = arena ? nbstat_nvmem(pv) : nbstat_npool(pv);
	for (size_t i = 0; i < n; i++) {
		if (arena)
			nbstat_vmem_get(pv, i, out);
		else
			nbstat_pool_get(pv, i, out);
		/* Every record starts with its name. */
		if (strcmp(out, cur) == 0 && (arena ||
		    op_->sp_size == cp->sp_size))
			return true;
	}
	memset(out, 0, outsize);
	return true;
}

static bool
prev_pool(const struct nbstat_opts *op, const struct nbstat_pool *sp,
    struct nbstat_pool *out)
{
	return prev_find(op, false, sp, out, sizeof(*out));
}

static bool
prev_vmem(const struct nbstat_opts *op, const struct nbstat_vmem *sv,
    struct nbstat_vmem *out)
{
	return prev_find(op, true, sv, out, sizeof(*out));
}

static size_t
row_index(const struct nbstat_opts *op, size_t i)
{
	return op != NULL && op->so_order != NULL ? op->so_order[i] : i;
}

/* Percentage a of b, as text; "---" when b is 0. */
static const char *
pct(uint64_t a, uint64_t b, char *buf)
{
	if (b == 0)
		return "---";
	(void)snprintf(buf, 16, "%.1f", 100.0 * (double)a / (double)b);
	return buf;
}

/* A byte or unit count in at most 12 columns: exact below 10^11. */
static const char *
num(uint64_t v, char *buf)
{
	static const char units[] = "KMGTPE";
	unsigned int u = 0;

	if (v < UINT64_C(100000000000)) {
		(void)snprintf(buf, 24, "%llu", (unsigned long long)v);
		return buf;
	}
	double d = (double)v / 1024;
	while (d >= 1024 * 1024 && u < sizeof(units) - 2) {
		d /= 1024;
		u++;
	}
	(void)snprintf(buf, 24, "%.0f%c", d, units[u]);
	return buf;
}

static bool
is_kmem(const struct nbstat_pool *sp)
{
	return strncmp(sp->sp_name, "kmem-", 5) == 0;
}

static uint64_t
cpu_ops(const struct nbstat_pool *sp)
{
	return sp->sp_cache_nhit_pcpu + sp->sp_cache_nmiss_pcpu;
}

/*
 * Start a view: the JSON array's key, or the title (marked when the
 * counters are over an interval).  Returns whether the output is JSON.
 */
static bool
view_begin(struct nbstat_out *o, const struct nbstat_opts *op,
    const char *key, const char *title)
{
	if (op != NULL && op->so_json) {
		nbstat_printf(o, "\"%s\":[", key);
		return true;
	}
	nbstat_printf(o, "%s%s\n", title, op != NULL && op->so_prev != NULL ?
	    " (counters over the interval)" : "");
	return false;
}

/* ---- vmstat -m */

static bool
pool_shown(const struct nbstat_pool *sp, const struct nbstat_opts *op)
{
	return (op != NULL && op->so_all) || sp->sp_nget != 0;
}

static void
emit_pools(struct nbstat_out *o, const struct nbstat_snap *ss,
    const struct nbstat_opts *op)
{
	struct nbstat_pool sp, pp;
	uint64_t t_get = 0, t_fail = 0, t_put = 0, t_out = 0, t_avail = 0;
	uint64_t t_pga = 0, t_pgf = 0, t_np = 0, inuse = 0, total = 0;
	bool wide = op != NULL && op->so_wide, json = op != NULL && op->so_json;
	char nb[64], pb[16];
	size_t n = nbstat_npool(ss), shown = 0;

	if (!view_begin(o, op, "pools", "Memory resource pool statistics"))
		nbstat_printf(o, "%-15s %6s %9s %4s %9s %8s %7s %6s %6s %5s "
		    "%5s %5s %5s %4s%s %5s\n", "Name", "Size", "Requests",
		    "Fail", "Releases", "InUse", "Avail", "Pgreq", "Pgrel",
		    "Npage", "Hiwat", "Minpg", "Maxpg", "Idle",
		    wide ? " PageSz      Flags" : "", "Util");
	for (size_t r = 0; r < n; r++) {
		nbstat_pool_get(ss, row_index(op, r), &sp);
		bool have = prev_pool(op, &sp, &pp);
		if (!(sp.sp_flags & PR_RECURSIVE))
			inuse += sp.sp_nout * sp.sp_size;
		total += sp.sp_npages * sp.sp_pagesize;
		if (sp.sp_flags & PR_RECURSIVE)
			total -= sp.sp_nout * sp.sp_size > sp.sp_npages *
			    sp.sp_pagesize ? sp.sp_npages * sp.sp_pagesize :
			    sp.sp_nout * sp.sp_size;
		if (!pool_shown(&sp, op))
			continue;
		uint64_t get = delta(sp.sp_nget, pp.sp_nget, have);
		uint64_t fail = delta(sp.sp_nfail, pp.sp_nfail, have);
		uint64_t put = delta(sp.sp_nput, pp.sp_nput, have);
		uint64_t pga = delta(sp.sp_npagealloc, pp.sp_npagealloc, have);
		uint64_t pgf = delta(sp.sp_npagefree, pp.sp_npagefree, have);
		t_get += get; t_fail += fail; t_put += put;
		t_out += sp.sp_nout; t_avail += sp.sp_nitems;
		t_pga += pga; t_pgf += pgf; t_np += sp.sp_npages;
		if (json) {
			nbstat_printf(o, "%s{\"name\":\"%s\",\"size\":%llu,"
			    "\"requests\":%llu,\"fail\":%llu,\"releases\":%llu,"
			    "\"inuse\":%llu,\"avail\":%llu,\"pgreq\":%llu,"
			    "\"pgrel\":%llu,\"npage\":%llu,\"pagesize\":%llu,"
			    "\"hiwat\":%llu,\"minpg\":%llu,\"maxpg\":%llu,"
			    "\"idle\":%llu,\"flags\":%llu,\"itemsperpage\":%llu,"
			    "\"hardlimit\":%llu}", shown++ ? "," : "",
			    json_name(sp.sp_name, nb),
			    (unsigned long long)sp.sp_size,
			    (unsigned long long)get, (unsigned long long)fail,
			    (unsigned long long)put,
			    (unsigned long long)sp.sp_nout,
			    (unsigned long long)sp.sp_nitems,
			    (unsigned long long)pga, (unsigned long long)pgf,
			    (unsigned long long)sp.sp_npages,
			    (unsigned long long)sp.sp_pagesize,
			    (unsigned long long)sp.sp_hiwat,
			    (unsigned long long)sp.sp_minpages,
			    (unsigned long long)sp.sp_maxpages,
			    (unsigned long long)sp.sp_nidle,
			    (unsigned long long)sp.sp_flags,
			    (unsigned long long)sp.sp_itemsperpage,
			    (unsigned long long)sp.sp_hardlimit);
			continue;
		}
		char maxpg[24], wbuf[48] = "";
		if (sp.sp_maxpages >= UINT32_MAX)
			(void)strcpy(maxpg, "inf");
		else
			(void)snprintf(maxpg, sizeof(maxpg), "%llu",
			    (unsigned long long)sp.sp_maxpages);
		if (wide)
			(void)snprintf(wbuf, sizeof(wbuf), " %6llu %10llx",
			    (unsigned long long)sp.sp_pagesize,
			    (unsigned long long)sp.sp_flags);
		nbstat_printf(o, "%-15s %6llu %9llu %4llu %9llu %8llu %7llu "
		    "%6llu %6llu %5llu %5llu %5llu %5s %4llu%s %5s\n",
		    safe_name(sp.sp_name, nb), (unsigned long long)sp.sp_size,
		    (unsigned long long)get, (unsigned long long)fail,
		    (unsigned long long)put, (unsigned long long)sp.sp_nout,
		    (unsigned long long)sp.sp_nitems, (unsigned long long)pga,
		    (unsigned long long)pgf, (unsigned long long)sp.sp_npages,
		    (unsigned long long)sp.sp_hiwat,
		    (unsigned long long)sp.sp_minpages, maxpg,
		    (unsigned long long)sp.sp_nidle, wbuf,
		    pct(sp.sp_nout * sp.sp_size, sp.sp_npages *
		    sp.sp_pagesize, pb));
	}
	if (json) {
		nbstat_printf(o, "],\"pool_totals\":{\"requests\":%llu,"
		    "\"fail\":%llu,\"releases\":%llu,\"inuse\":%llu,"
		    "\"avail\":%llu,\"pgreq\":%llu,\"pgrel\":%llu,"
		    "\"npage\":%llu,\"inuse_bytes\":%llu,\"total_bytes\":%llu}",
		    (unsigned long long)t_get, (unsigned long long)t_fail,
		    (unsigned long long)t_put, (unsigned long long)t_out,
		    (unsigned long long)t_avail, (unsigned long long)t_pga,
		    (unsigned long long)t_pgf, (unsigned long long)t_np,
		    (unsigned long long)inuse, (unsigned long long)total);
		return;
	}
	nbstat_printf(o, "%-15s %6s %9llu %4llu %9llu %8llu %7llu %6llu %6llu "
	    "%5llu\n", "Totals", "", (unsigned long long)t_get,
	    (unsigned long long)t_fail, (unsigned long long)t_put,
	    (unsigned long long)t_out, (unsigned long long)t_avail,
	    (unsigned long long)t_pga, (unsigned long long)t_pgf,
	    (unsigned long long)t_np);
	nbstat_printf(o, "\nIn use %lluK, total allocated %lluK; utilization "
	    "%s%%\n", (unsigned long long)(inuse / 1024),
	    (unsigned long long)(total / 1024), pct(inuse, total, pb));
}

/* ---- vmstat -C */

static bool
cache_shown(const struct nbstat_pool *sp, const struct nbstat_opts *op)
{
	if (sp->sp_cache_meta_size == 0)
		return false;
	return (op != NULL && op->so_all) || sp->sp_cache_nmiss_global != 0;
}

static void
emit_caches(struct nbstat_out *o, const struct nbstat_snap *ss,
    const struct nbstat_opts *op)
{
	struct nbstat_pool sp, pp;
	bool json = op != NULL && op->so_json;
	char nb[64], h1[16], h2[16];
	size_t n = nbstat_npool(ss), shown = 0;

	if (!view_begin(o, op, "caches", "Pool cache statistics."))
		nbstat_printf(o, "%-15s %6s %5s %5s %5s %10s %10s %5s %11s "
		    "%5s\n", "Name", "Spin", "GrpSz", "Full", "Emty",
		    "PoolLayer", "CacheLayer", "Hit%", "CpuLayer", "Hit%");
	for (size_t r = 0; r < n; r++) {
		nbstat_pool_get(ss, row_index(op, r), &sp);
		if (!cache_shown(&sp, op))
			continue;
		bool have = prev_pool(op, &sp, &pp);
		uint64_t spin = delta(sp.sp_cache_ncontended,
		    pp.sp_cache_ncontended, have);
		uint64_t gmiss = delta(sp.sp_cache_nmiss_global,
		    pp.sp_cache_nmiss_global, have);
		uint64_t ghit = delta(sp.sp_cache_nhit_global,
		    pp.sp_cache_nhit_global, have);
		uint64_t cmiss = delta(sp.sp_cache_nmiss_pcpu,
		    pp.sp_cache_nmiss_pcpu, have);
		uint64_t chit = delta(sp.sp_cache_nhit_pcpu,
		    pp.sp_cache_nhit_pcpu, have);
		if (json) {
			nbstat_printf(o, "%s{\"name\":\"%s\",\"size\":%llu,"
			    "\"spin\":%llu,\"grpsz\":%llu,\"full\":%llu,"
			    "\"partial\":%llu,\"empty\":%llu,\"pool_layer\":%llu,"
			    "\"cache_layer\":%llu,\"cache_hit\":%llu,"
			    "\"cpu_layer\":%llu,\"cpu_hit\":%llu}",
			    shown++ ? "," : "", json_name(sp.sp_name, nb),
			    (unsigned long long)sp.sp_size,
			    (unsigned long long)spin,
			    (unsigned long long)sp.sp_cache_meta_size,
			    (unsigned long long)sp.sp_cache_nfull,
			    (unsigned long long)sp.sp_cache_npartial,
			    (unsigned long long)sp.sp_cache_nempty,
			    (unsigned long long)gmiss,
			    (unsigned long long)(ghit + gmiss),
			    (unsigned long long)ghit,
			    (unsigned long long)(chit + cmiss),
			    (unsigned long long)chit);
			continue;
		}
		nbstat_printf(o, "%-15s %6llu %5llu %5llu %5llu %10llu %10llu "
		    "%5s %11llu %5s\n", safe_name(sp.sp_name, nb),
		    (unsigned long long)spin,
		    (unsigned long long)sp.sp_cache_meta_size,
		    (unsigned long long)sp.sp_cache_nfull,
		    (unsigned long long)sp.sp_cache_nempty,
		    (unsigned long long)gmiss,
		    (unsigned long long)(ghit + gmiss),
		    pct(ghit, ghit + gmiss, h1),
		    (unsigned long long)(chit + cmiss),
		    pct(chit, chit + cmiss, h2));
	}
	if (json)
		nbstat_printf(o, "]");
}

/* ---- arenas */

static void
emit_arena_row(struct nbstat_out *o, const struct nbstat_vmem *sv,
    const struct nbstat_opts *op, bool json, size_t *shown)
{
	struct nbstat_vmem pv;
	bool have = prev_vmem(op, sv, &pv);
	uint64_t nalloc = delta(sv->sv_nalloc, pv.sv_nalloc, have);
	uint64_t nfree = delta(sv->sv_nfree, pv.sv_nfree, have);
	uint64_t nimp = delta(sv->sv_nimport, pv.sv_nimport, have);
	uint64_t nrel = delta(sv->sv_nrelease, pv.sv_nrelease, have);
	uint64_t qhit = delta(sv->sv_qc_hit, pv.sv_qc_hit, have);
	uint64_t qmiss = delta(sv->sv_qc_miss, pv.sv_qc_miss, have);
	uint64_t freeb = sv->sv_size >= sv->sv_inuse ?
	    sv->sv_size - sv->sv_inuse : 0;
	char nb[64], b1[24], b2[24], b3[24], b4[24], hb[16];

	if (json) {
		nbstat_printf(o, "%s{\"name\":\"%s\",\"quantum\":%llu,"
		    "\"size\":%llu,\"inuse\":%llu,\"free\":%llu,"
		    "\"spans_imported\":%llu,\"spans_static\":%llu,"
		    "\"busy\":%llu,\"freeseg\":%llu,\"allocs\":%llu,"
		    "\"frees\":%llu,\"imports\":%llu,\"releases\":%llu,"
		    "\"sleeps\":%llu,\"qcache_max\":%llu,\"qc_hit\":%llu,"
		    "\"qc_miss\":%llu}", (*shown)++ ? "," : "",
		    json_name(sv->sv_name, nb),
		    (unsigned long long)sv->sv_quantum,
		    (unsigned long long)sv->sv_size,
		    (unsigned long long)sv->sv_inuse, (unsigned long long)freeb,
		    (unsigned long long)sv->sv_nspan_import,
		    (unsigned long long)sv->sv_nspan_static,
		    (unsigned long long)sv->sv_nbusy,
		    (unsigned long long)sv->sv_nfreeseg,
		    (unsigned long long)nalloc, (unsigned long long)nfree,
		    (unsigned long long)nimp, (unsigned long long)nrel,
		    (unsigned long long)sv->sv_nsleep,
		    (unsigned long long)sv->sv_qcache_max,
		    (unsigned long long)qhit, (unsigned long long)qmiss);
		return;
	}
	nbstat_printf(o, "%-15s %7s %12s %12s %12s %5llu %5llu %6llu %6llu "
	    "%9llu %9llu %7llu %7llu %9llu %7llu %5s\n",
	    safe_name(sv->sv_name, nb), num(sv->sv_quantum, b1),
	    num(sv->sv_size, b2), num(sv->sv_inuse, b3), num(freeb, b4),
	    (unsigned long long)sv->sv_nspan_import,
	    (unsigned long long)sv->sv_nspan_static,
	    (unsigned long long)sv->sv_nbusy,
	    (unsigned long long)sv->sv_nfreeseg,
	    (unsigned long long)nalloc, (unsigned long long)nfree,
	    (unsigned long long)nimp, (unsigned long long)nrel,
	    (unsigned long long)qhit, (unsigned long long)qmiss,
	    sv->sv_qcache_max == 0 ? "-" : pct(qhit, qhit + qmiss, hb));
}

static void
arena_header(struct nbstat_out *o)
{
	nbstat_printf(o, "%-15s %7s %12s %12s %12s %5s %5s %6s %6s %9s %9s "
	    "%7s %7s %9s %7s %5s\n", "Name", "Quantum", "Size", "InUse",
	    "Free", "Spans", "Added", "Busy", "FreeSg", "Allocs", "Frees",
	    "Imports", "Release", "QcHit", "QcMiss", "Hit%");
}

static void
emit_arenas(struct nbstat_out *o, const struct nbstat_snap *ss,
    const struct nbstat_opts *op)
{
	struct nbstat_vmem sv;
	bool json = op != NULL && op->so_json;
	size_t shown = 0;

	if (!view_begin(o, op, "arenas", "Vmem arena statistics"))
		arena_header(o);
	for (size_t r = 0; r < nbstat_nvmem(ss); r++) {
		nbstat_vmem_get(ss, row_index(op, r), &sv);
		emit_arena_row(o, &sv, op, json, &shown);
	}
	if (json)
		nbstat_printf(o, "]");
}

/* ---- kmem and the budget */

static void
emit_kmem(struct nbstat_out *o, const struct nbstat_snap *ss,
    const struct nbstat_opts *op)
{
	const struct nbstat_glob *g = &ss->ss_glob;
	struct nbstat_pool sp, pp;
	struct nbstat_vmem sv;
	bool json = op != NULL && op->so_json;
	uint64_t t_obj = 0, t_bytes = 0, t_pages = 0;
	char nb[64], hb[16], lim[24], rb[64];
	size_t shown = 0;

	if (!view_begin(o, op, "kmem_classes", "kmem size classes"))
		nbstat_printf(o, "%-15s %6s %9s %9s %12s %6s %12s %11s %5s\n",
		    "Name", "Size", "InUse", "Avail", "Bytes", "Npage",
		    "PageBytes", "Requests", "Hit%");
	for (size_t r = 0; r < nbstat_npool(ss); r++) {
		nbstat_pool_get(ss, row_index(op, r), &sp);
		if (!is_kmem(&sp) || (!(op != NULL && op->so_all) &&
		    cpu_ops(&sp) == 0 && sp.sp_npages == 0))
			continue;
		bool have = prev_pool(op, &sp, &pp);
		uint64_t ops = delta(cpu_ops(&sp), cpu_ops(&pp), have);
		uint64_t hit = delta(sp.sp_cache_nhit_pcpu,
		    pp.sp_cache_nhit_pcpu, have);
		t_obj += sp.sp_nout;
		t_bytes += sp.sp_nout * sp.sp_size;
		t_pages += sp.sp_npages * sp.sp_pagesize;
		if (json) {
			nbstat_printf(o, "%s{\"name\":\"%s\",\"size\":%llu,"
			    "\"inuse\":%llu,\"avail\":%llu,\"npage\":%llu,"
			    "\"page_bytes\":%llu,\"requests\":%llu,"
			    "\"cpu_hit\":%llu}", shown++ ? "," : "",
			    json_name(sp.sp_name, nb),
			    (unsigned long long)sp.sp_size,
			    (unsigned long long)sp.sp_nout,
			    (unsigned long long)sp.sp_nitems,
			    (unsigned long long)sp.sp_npages,
			    (unsigned long long)(sp.sp_npages *
			    sp.sp_pagesize), (unsigned long long)ops,
			    (unsigned long long)hit);
			continue;
		}
		nbstat_printf(o, "%-15s %6llu %9llu %9llu %12llu %6llu %12llu "
		    "%11llu %5s\n", safe_name(sp.sp_name, nb),
		    (unsigned long long)sp.sp_size,
		    (unsigned long long)sp.sp_nout,
		    (unsigned long long)sp.sp_nitems,
		    (unsigned long long)(sp.sp_nout * sp.sp_size),
		    (unsigned long long)sp.sp_npages,
		    (unsigned long long)(sp.sp_npages * sp.sp_pagesize),
		    (unsigned long long)ops, pct(hit, ops, hb));
		shown++;
	}
	if (!json && shown == 0)
		nbstat_printf(o, "(no kmem size classes in this process)\n");
	if (!json)
		nbstat_printf(o, "%-15s %6s %9llu %9s %12llu %6s %12llu\n",
		    "Totals", "", (unsigned long long)t_obj, "",
		    (unsigned long long)t_bytes, "",
		    (unsigned long long)t_pages);

	/* Large allocations: the arenas behind kmem's large path. */
	if (json)
		nbstat_printf(o, "],\"kmem_arenas\":[");
	else {
		nbstat_printf(o, "\nkmem arenas (large allocations and the "
		    "pages of the classes)\n");
		arena_header(o);
	}
	shown = 0;
	for (size_t r = 0; r < nbstat_nvmem(ss); r++) {
		nbstat_vmem_get(ss, r, &sv);
		if (strcmp(sv.sv_name, "kmem") != 0 &&
		    strcmp(sv.sv_name, "kva") != 0 &&
		    strcmp(sv.sv_name, "kmem_va_arena") != 0)
			continue;
		emit_arena_row(o, &sv, op, json, &shown);
	}

	if (g->sg_physmem_limit == 0)
		(void)strcpy(lim, "unlimited");
	else
		(void)snprintf(lim, sizeof(lim), "%lluK",
		    (unsigned long long)(g->sg_physmem_limit / 1024));
	if (g->sg_reclaim_npass == NBSTAT_UNKNOWN)
		(void)strcpy(rb, "not counted");
	else if (g->sg_reclaim_bytes == NBSTAT_UNKNOWN)
		(void)snprintf(rb, sizeof(rb), "%llu passes",
		    (unsigned long long)g->sg_reclaim_npass);
	else
		(void)snprintf(rb, sizeof(rb), "%llu passes, %lluK released",
		    (unsigned long long)g->sg_reclaim_npass,
		    (unsigned long long)(g->sg_reclaim_bytes / 1024));
	if (json) {
		nbstat_printf(o, "],\"kmem_large\":{\"allocs\":%lld,"
		    "\"frees\":%lld,\"bytes\":%lld},\"budget\":{\"limit\":%llu,"
		    "\"inuse\":%llu,\"waiters\":%llu,\"reclaim_passes\":%lld,"
		    "\"reclaim_bytes\":%lld}",
		    g->sg_kmem_large_nalloc == NBSTAT_UNKNOWN ? -1LL :
		    (long long)g->sg_kmem_large_nalloc,
		    g->sg_kmem_large_nfree == NBSTAT_UNKNOWN ? -1LL :
		    (long long)g->sg_kmem_large_nfree,
		    g->sg_kmem_large_bytes == NBSTAT_UNKNOWN ? -1LL :
		    (long long)g->sg_kmem_large_bytes,
		    (unsigned long long)g->sg_physmem_limit,
		    (unsigned long long)g->sg_physmem_inuse,
		    (unsigned long long)g->sg_physmem_waiters,
		    g->sg_reclaim_npass == NBSTAT_UNKNOWN ? -1LL :
		    (long long)g->sg_reclaim_npass,
		    g->sg_reclaim_bytes == NBSTAT_UNKNOWN ? -1LL :
		    (long long)g->sg_reclaim_bytes);
		return;
	}
	if (g->sg_kmem_large_nalloc != NBSTAT_UNKNOWN)
		nbstat_printf(o, "large allocations: %llu made, %llu freed, "
		    "%lluK in use\n",
		    (unsigned long long)g->sg_kmem_large_nalloc,
		    (unsigned long long)g->sg_kmem_large_nfree,
		    (unsigned long long)(g->sg_kmem_large_bytes / 1024));
	nbstat_printf(o, "\nMemory budget %s, in use %lluK, %llu waiting; "
	    "reclaim: %s\n", lim,
	    (unsigned long long)(g->sg_physmem_inuse / 1024),
	    (unsigned long long)g->sg_physmem_waiters, rb);
}

void
nbstat_emit(struct nbstat_out *o, const struct nbstat_snap *ss, int view,
    const struct nbstat_opts *op)
{
	switch (view) {
	case 'm':
		emit_pools(o, ss, op);
		break;
	case 'C':
		emit_caches(o, ss, op);
		break;
	case 'v':
		emit_arenas(o, ss, op);
		break;
	case 'k':
		emit_kmem(o, ss, op);
		break;
	}
}

void
nbstat_emit_views(struct nbstat_out *o, const struct nbstat_snap *ss,
    const char *views, const struct nbstat_opts *op)
{
	bool json = op != NULL && op->so_json;
	char cb[64];
	bool first = true;

	if (json)
		nbstat_printf(o, "{\"pid\":%u,\"comm\":\"%s\",\"time_ns\":%llu,",
		    ss->ss_hdr.sh_pid, json_name(ss->ss_comm, cb),
		    (unsigned long long)ss->ss_hdr.sh_time_ns);
	for (const char *v = views; *v != '\0'; v++) {
		if (strchr("mCvk", *v) == NULL)
			continue;
		if (!first)
			nbstat_printf(o, json ? "," : "\n");
		first = false;
		nbstat_emit(o, ss, *v, op);
	}
	if (json)
		nbstat_printf(o, "%s\"interval\":%.3f}\n", first ? "" : ",",
		    op->so_prev != NULL ? op->so_interval : 0.0);
}

/* ---- sorting */

struct sortkey {
	int		sk_view;	/* 0: every pool view */
	const char	*sk_name;
	int		sk_field;
};

enum { K_NAME, K_SIZE, K_REQ, K_FAIL, K_REL, K_INUSE, K_AVAIL, K_PGREQ,
	K_PGREL, K_NPAGE, K_HIWAT, K_IDLE, K_UTIL, K_BYTES, K_SPIN, K_POOL,
	K_CACHE, K_CPU, K_HIT, K_FREE, K_ALLOCS, K_FREES, K_IMPORTS, K_SPANS,
	K_BUSY, K_QCHIT };

static const struct sortkey sortkeys[] = {
	{ 0, "name", K_NAME }, { 0, "size", K_SIZE },
	{ 'm', "requests", K_REQ }, { 'm', "fail", K_FAIL },
	{ 'm', "releases", K_REL }, { 'm', "inuse", K_INUSE },
	{ 'm', "avail", K_AVAIL }, { 'm', "pgreq", K_PGREQ },
	{ 'm', "pgrel", K_PGREL }, { 'm', "npage", K_NPAGE },
	{ 'm', "hiwat", K_HIWAT }, { 'm', "idle", K_IDLE },
	{ 'm', "util", K_UTIL }, { 'm', "bytes", K_BYTES },
	{ 'C', "spin", K_SPIN }, { 'C', "pool", K_POOL },
	{ 'C', "cache", K_CACHE }, { 'C', "cpu", K_CPU }, { 'C', "hit", K_HIT },
	{ 'k', "inuse", K_INUSE }, { 'k', "bytes", K_BYTES },
	{ 'k', "npage", K_NPAGE }, { 'k', "requests", K_CPU },
	{ 'k', "hit", K_HIT },
	{ 'v', "inuse", K_INUSE }, { 'v', "free", K_FREE },
	{ 'v', "allocs", K_ALLOCS }, { 'v', "frees", K_FREES },
	{ 'v', "imports", K_IMPORTS }, { 'v', "spans", K_SPANS },
	{ 'v', "busy", K_BUSY }, { 'v', "qchit", K_QCHIT },
};

static double
pool_key(const struct nbstat_pool *sp, int k)
{
	switch (k) {
	case K_SIZE: return (double)sp->sp_size;
	case K_REQ: return (double)sp->sp_nget;
	case K_FAIL: return (double)sp->sp_nfail;
	case K_REL: return (double)sp->sp_nput;
	case K_INUSE: return (double)sp->sp_nout;
	case K_AVAIL: return (double)sp->sp_nitems;
	case K_PGREQ: return (double)sp->sp_npagealloc;
	case K_PGREL: return (double)sp->sp_npagefree;
	case K_NPAGE: return (double)sp->sp_npages;
	case K_HIWAT: return (double)sp->sp_hiwat;
	case K_IDLE: return (double)sp->sp_nidle;
	case K_UTIL: return sp->sp_npages == 0 ? -1 : (double)sp->sp_nout *
	    (double)sp->sp_size / ((double)sp->sp_npages * sp->sp_pagesize);
	case K_BYTES: return (double)sp->sp_nout * (double)sp->sp_size;
	case K_SPIN: return (double)sp->sp_cache_ncontended;
	case K_POOL: return (double)sp->sp_cache_nmiss_global;
	case K_CACHE: return (double)(sp->sp_cache_nmiss_global +
	    sp->sp_cache_nhit_global);
	case K_CPU: return (double)cpu_ops(sp);
	case K_HIT: return cpu_ops(sp) == 0 ? -1 :
	    (double)sp->sp_cache_nhit_pcpu / (double)cpu_ops(sp);
	}
	return 0;
}

static double
vmem_key(const struct nbstat_vmem *sv, int k)
{
	switch (k) {
	case K_SIZE: return (double)sv->sv_size;
	case K_INUSE: return (double)sv->sv_inuse;
	case K_FREE: return (double)sv->sv_size - (double)sv->sv_inuse;
	case K_ALLOCS: return (double)sv->sv_nalloc;
	case K_FREES: return (double)sv->sv_nfree;
	case K_IMPORTS: return (double)sv->sv_nimport;
	case K_SPANS: return (double)sv->sv_nspan_import;
	case K_BUSY: return (double)sv->sv_nbusy;
	case K_QCHIT: return (double)sv->sv_qc_hit;
	}
	return 0;
}

/* Is row a before row b?  Names ascending, numbers descending. */
static bool
sort_before(const struct nbstat_snap *ss, bool arenas, int k, uint32_t a,
    uint32_t b)
{
	if (arenas) {
		struct nbstat_vmem va, vb;
		nbstat_vmem_get(ss, a, &va);
		nbstat_vmem_get(ss, b, &vb);
		if (k == K_NAME)
			return strcmp(va.sv_name, vb.sv_name) < 0;
		return vmem_key(&va, k) > vmem_key(&vb, k);
	}
	struct nbstat_pool pa, pb;
	nbstat_pool_get(ss, a, &pa);
	nbstat_pool_get(ss, b, &pb);
	if (k == K_NAME)
		return strcmp(pa.sp_name, pb.sp_name) < 0;
	return pool_key(&pa, k) > pool_key(&pb, k);
}

bool
nbstat_sort(const struct nbstat_snap *ss, int view, const char *key,
    uint32_t *order)
{
	bool arenas = view == 'v';
	size_t n = arenas ? nbstat_nvmem(ss) : nbstat_npool(ss);
	int k = -1;

	for (size_t i = 0; i < sizeof(sortkeys) / sizeof(sortkeys[0]); i++)
		if ((sortkeys[i].sk_view == 0 || sortkeys[i].sk_view == view) &&
		    strcmp(sortkeys[i].sk_name, key) == 0)
			k = sortkeys[i].sk_field;
	if (k < 0)
		return false;
	for (size_t i = 0; i < n; i++)
		order[i] = (uint32_t)i;
	/* Insertion sort: stable, no allocation; tables are small. */
	for (size_t i = 1; i < n; i++) {
		uint32_t v = order[i];
		size_t j = i;
		while (j > 0 && sort_before(ss, arenas, k, v, order[j - 1])) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = v;
	}
	return true;
}

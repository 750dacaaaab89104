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

/* kmem's size classes, and the malloc library's between them. */
static bool
is_kmem(const struct nbstat_pool *sp)
{
	return strncmp(sp->sp_name, "kmem-", 5) == 0 ||
	    strncmp(sp->sp_name, "malloc-", 7) == 0;
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

/* ---- rows: one description per view, for the table and for JSON */

enum {
	K_NUM,		/* a number, right-aligned */
	K_BIG,		/* a number; large ones scaled in the table (num) */
	K_INF,		/* a limit: "inf" in the table from UINT32_MAX */
	K_HEX,		/* flags, in hexadecimal in the table */
	K_PCT,		/* v of w as a percentage, in the table only; w
			 * NO_PCT prints "-" */
};

#define	NO_PCT		UINT64_MAX
#define	COL_WIDE	0x1	/* in the table only with -W */
#define	COL_PCTSIGN	0x2	/* K_PCT: a '%' after the figure */

struct col {
	const char	*c_hdr;		/* table heading; NULL: JSON only */
	int		c_width;
	const char	*c_key;		/* JSON key */
	int		c_kind;
	int		c_flags;
};

/* One value per column; K_PCT columns take their base in w. */
struct cell {
	uint64_t	v, w;
};

#define	NCELL	24

static bool
col_shown(const struct col *k, const struct nbstat_opts *op)
{
	return k->c_hdr != NULL && ((op != NULL && op->so_wide) ||
	    !(k->c_flags & COL_WIDE));
}

static void
row_header(struct nbstat_out *o, const struct nbstat_opts *op,
    const struct col *cols, size_t ncol)
{
	nbstat_printf(o, "%-15s", "Name");
	for (size_t i = 0; i < ncol; i++)
		if (col_shown(&cols[i], op))
			nbstat_printf(o, " %*s", cols[i].c_width,
			    cols[i].c_hdr);
	nbstat_printf(o, "\n");
}

/* A row of the table, or an object of the JSON array. */
static void
row_emit(struct nbstat_out *o, const struct nbstat_opts *op,
    const struct col *cols, size_t ncol, const char *name,
    const struct cell *c, size_t *shown)
{
	bool json = op != NULL && op->so_json;
	char nb[128], vb[32];

	if (json)
		nbstat_printf(o, "%s{\"name\":\"%s\"", (*shown)++ ? "," : "",
		    json_name(name, nb));
	else
		nbstat_printf(o, "%-15s", safe_name(name, nb));
	for (size_t i = 0; i < ncol; i++) {
		const struct col *k = &cols[i];
		unsigned long long v = (unsigned long long)c[i].v;
		if (json) {
			if (k->c_kind != K_PCT)
				nbstat_printf(o, ",\"%s\":%llu", k->c_key, v);
			continue;
		}
		if (!col_shown(k, op))
			continue;
		if (k->c_kind == K_BIG)
			(void)num(c[i].v, vb);
		else if (k->c_kind == K_INF && c[i].v >= UINT32_MAX)
			(void)strcpy(vb, "inf");
		else if (k->c_kind == K_HEX)
			(void)snprintf(vb, sizeof(vb), "0x%04llx", v);
		else if (k->c_kind == K_PCT)
			(void)snprintf(vb, sizeof(vb), "%s%s", c[i].w ==
			    NO_PCT ? "-" : pct(c[i].v, c[i].w, nb),
			    (k->c_flags & COL_PCTSIGN) && c[i].w != NO_PCT &&
			    c[i].w != 0 ? "%" : "");
		else
			(void)snprintf(vb, sizeof(vb), "%llu", v);
		nbstat_printf(o, " %*s", k->c_width, vb);
	}
	nbstat_printf(o, json ? "}" : "\n");
}

/*
 * ---- vmstat -m: its columns in its order; -W adds InUse, Avail, PageSz,
 * Flags and Util, as there.
 */

static const struct col pool_cols[] = {
	{ "Size", 6, "size", K_NUM, 0 },
	{ "Requests", 9, "requests", K_NUM, 0 },
	{ "Fail", 4, "fail", K_NUM, 0 },
	{ "Releases", 9, "releases", K_NUM, 0 },
	{ "InUse", 8, "inuse", K_NUM, COL_WIDE },
	{ "Avail", 7, "avail", K_NUM, COL_WIDE },
	{ "Pgreq", 6, "pgreq", K_NUM, 0 },
	{ "Pgrel", 6, "pgrel", K_NUM, 0 },
	{ "Npage", 5, "npage", K_NUM, 0 },
	{ "PageSz", 6, "pagesize", K_NUM, COL_WIDE },
	{ "Hiwat", 5, "hiwat", K_NUM, 0 },
	{ "Minpg", 5, "minpg", K_NUM, 0 },
	{ "Maxpg", 5, "maxpg", K_INF, 0 },
	{ "Idle", 4, "idle", K_NUM, 0 },
	{ "Flags", 10, "flags", K_HEX, COL_WIDE },
	{ "Util", 6, NULL, K_PCT, COL_WIDE | COL_PCTSIGN },
	{ NULL, 0, "itemsperpage", K_NUM, 0 },
	{ NULL, 0, "hardlimit", K_NUM, 0 },
};
#define	NPOOLCOL	(sizeof(pool_cols) / sizeof(pool_cols[0]))

static bool
pool_shown(const struct nbstat_pool *sp, const struct nbstat_opts *op)
{
	return (op != NULL && op->so_all) || sp->sp_nget != 0;
}

/* The counters of a pool row, over the interval with -w. */
struct pool_counts {
	uint64_t	get, fail, put, pga, pgf;
};

static void
pool_counts(const struct nbstat_opts *op, const struct nbstat_pool *sp,
    struct pool_counts *pc)
{
	struct nbstat_pool pp;
	bool have = prev_pool(op, sp, &pp);

	pc->get = delta(sp->sp_nget, pp.sp_nget, have);
	pc->fail = delta(sp->sp_nfail, pp.sp_nfail, have);
	pc->put = delta(sp->sp_nput, pp.sp_nput, have);
	pc->pga = delta(sp->sp_npagealloc, pp.sp_npagealloc, have);
	pc->pgf = delta(sp->sp_npagefree, pp.sp_npagefree, have);
}

static void
emit_pools(struct nbstat_out *o, const struct nbstat_snap *ss,
    const struct nbstat_opts *op)
{
	struct nbstat_pool sp;
	struct pool_counts pc, t = { 0, 0, 0, 0, 0 };
	uint64_t t_out = 0, t_avail = 0, t_np = 0, inuse = 0, total = 0;
	struct cell c[NPOOLCOL];
	bool json;
	char pb[16];
	size_t shown = 0;

	if (!(json = view_begin(o, op, "pools",
	    "Memory resource pool statistics")))
		row_header(o, op, pool_cols, NPOOLCOL);
	for (size_t r = 0; r < nbstat_npool(ss); r++) {
		nbstat_pool_get(ss, row_index(op, r), &sp);
		uint64_t bytes = sp.sp_nout * sp.sp_size;
		uint64_t pages = sp.sp_npages * sp.sp_pagesize;
		/* A PR_RECURSIVE pool's items are other pools' pages. */
		if (!(sp.sp_flags & PR_RECURSIVE))
			inuse += bytes;
		total += !(sp.sp_flags & PR_RECURSIVE) ? pages :
		    bytes > pages ? 0 : pages - bytes;
		if (!pool_shown(&sp, op))
			continue;
		pool_counts(op, &sp, &pc);
		t.get += pc.get; t.fail += pc.fail; t.put += pc.put;
		t.pga += pc.pga; t.pgf += pc.pgf;
		t_out += sp.sp_nout; t_avail += sp.sp_nitems;
		t_np += sp.sp_npages;
		const struct cell row[NPOOLCOL] = {
			{ sp.sp_size, 0 }, { pc.get, 0 }, { pc.fail, 0 },
			{ pc.put, 0 }, { sp.sp_nout, 0 }, { sp.sp_nitems, 0 },
			{ pc.pga, 0 }, { pc.pgf, 0 }, { sp.sp_npages, 0 },
			{ sp.sp_pagesize, 0 }, { sp.sp_hiwat, 0 },
			{ sp.sp_minpages, 0 }, { sp.sp_maxpages, 0 },
			{ sp.sp_nidle, 0 }, { sp.sp_flags, 0 },
			{ bytes, pages }, { sp.sp_itemsperpage, 0 },
			{ sp.sp_hardlimit, 0 },
		};
		memcpy(c, row, sizeof(c));
		row_emit(o, op, pool_cols, NPOOLCOL, sp.sp_name, c, &shown);
	}
	if (json) {
		nbstat_printf(o, "],\"pool_totals\":{\"requests\":%llu,"
		    "\"fail\":%llu,\"releases\":%llu,\"inuse\":%llu,"
		    "\"avail\":%llu,\"pgreq\":%llu,\"pgrel\":%llu,"
		    "\"npage\":%llu,\"inuse_bytes\":%llu,\"total_bytes\":%llu}",
		    (unsigned long long)t.get, (unsigned long long)t.fail,
		    (unsigned long long)t.put, (unsigned long long)t_out,
		    (unsigned long long)t_avail, (unsigned long long)t.pga,
		    (unsigned long long)t.pgf, (unsigned long long)t_np,
		    (unsigned long long)inuse, (unsigned long long)total);
		return;
	}
	nbstat_printf(o, "%-15s %6s %9llu %4llu %9llu", "Totals", "",
	    (unsigned long long)t.get, (unsigned long long)t.fail,
	    (unsigned long long)t.put);
	if (op != NULL && op->so_wide)
		nbstat_printf(o, " %8llu %7llu", (unsigned long long)t_out,
		    (unsigned long long)t_avail);
	nbstat_printf(o, " %6llu %6llu %5llu\n", (unsigned long long)t.pga,
	    (unsigned long long)t.pgf, (unsigned long long)t_np);
	/* As vmstat: the percentage is that of the kilobytes shown. */
	nbstat_printf(o, "\nIn use %lluK, total allocated %lluK; utilization "
	    "%s%%\n", (unsigned long long)(inuse / 1024),
	    (unsigned long long)(total / 1024),
	    pct(inuse / 1024, total / 1024, pb));
}

/* ---- vmstat -C */

static const struct col cache_cols[] = {
	{ NULL, 0, "size", K_NUM, 0 },
	{ "Spin", 6, "spin", K_NUM, 0 },
	{ "GrpSz", 5, "grpsz", K_NUM, 0 },
	{ "Full", 5, "full", K_NUM, 0 },
	{ NULL, 0, "partial", K_NUM, 0 },
	{ "Emty", 5, "empty", K_NUM, 0 },
	{ "PoolLayer", 10, "pool_layer", K_NUM, 0 },
	{ "CacheLayer", 10, "cache_layer", K_NUM, 0 },
	{ NULL, 0, "cache_hit", K_NUM, 0 },
	{ "Hit%", 5, NULL, K_PCT, 0 },
	{ "CpuLayer", 11, "cpu_layer", K_NUM, 0 },
	{ NULL, 0, "cpu_hit", K_NUM, 0 },
	{ "Hit%", 5, NULL, K_PCT, 0 },
};
#define	NCACHECOL	(sizeof(cache_cols) / sizeof(cache_cols[0]))

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
	struct cell c[NCACHECOL];
	size_t shown = 0;
	bool json;

	if (!(json = view_begin(o, op, "caches", "Pool cache statistics.")))
		row_header(o, op, cache_cols, NCACHECOL);
	for (size_t r = 0; r < nbstat_npool(ss); r++) {
		nbstat_pool_get(ss, row_index(op, r), &sp);
		if (!cache_shown(&sp, op))
			continue;
		bool have = prev_pool(op, &sp, &pp);
		uint64_t gmiss = delta(sp.sp_cache_nmiss_global,
		    pp.sp_cache_nmiss_global, have);
		uint64_t ghit = delta(sp.sp_cache_nhit_global,
		    pp.sp_cache_nhit_global, have);
		uint64_t cpu = delta(cpu_ops(&sp), cpu_ops(&pp), have);
		uint64_t chit = delta(sp.sp_cache_nhit_pcpu,
		    pp.sp_cache_nhit_pcpu, have);
		const struct cell row[NCACHECOL] = {
			{ sp.sp_size, 0 },
			{ delta(sp.sp_cache_ncontended,
			    pp.sp_cache_ncontended, have), 0 },
			{ sp.sp_cache_meta_size, 0 }, { sp.sp_cache_nfull, 0 },
			{ sp.sp_cache_npartial, 0 }, { sp.sp_cache_nempty, 0 },
			{ gmiss, 0 }, { ghit + gmiss, 0 }, { ghit, 0 },
			{ ghit, ghit + gmiss }, { cpu, 0 }, { chit, 0 },
			{ chit, cpu },
		};
		memcpy(c, row, sizeof(c));
		row_emit(o, op, cache_cols, NCACHECOL, sp.sp_name, c, &shown);
	}
	if (json)
		nbstat_printf(o, "]");
}

/* ---- arenas */

static const struct col arena_cols[] = {
	{ "Quantum", 7, "quantum", K_BIG, 0 },
	{ "Size", 12, "size", K_BIG, 0 },
	{ "InUse", 12, "inuse", K_BIG, 0 },
	{ "Free", 12, "free", K_BIG, 0 },
	{ "Spans", 5, "spans_imported", K_NUM, 0 },
	{ "Added", 5, "spans_static", K_NUM, 0 },
	{ "Busy", 6, "busy", K_NUM, 0 },
	{ "FreeSg", 6, "freeseg", K_NUM, 0 },
	{ "Allocs", 9, "allocs", K_NUM, 0 },
	{ "Frees", 9, "frees", K_NUM, 0 },
	{ "Imports", 7, "imports", K_NUM, 0 },
	{ "Release", 7, "releases", K_NUM, 0 },
	{ NULL, 0, "sleeps", K_NUM, 0 },
	{ NULL, 0, "qcache_max", K_NUM, 0 },
	{ "QcHit", 9, "qc_hit", K_NUM, 0 },
	{ "QcMiss", 7, "qc_miss", K_NUM, 0 },
	{ "Hit%", 5, NULL, K_PCT, 0 },
};
#define	NARENACOL	(sizeof(arena_cols) / sizeof(arena_cols[0]))

static void
emit_arena_row(struct nbstat_out *o, const struct nbstat_vmem *sv,
    const struct nbstat_opts *op, size_t *shown)
{
	struct nbstat_vmem pv;
	struct cell c[NARENACOL];
	bool have = prev_vmem(op, sv, &pv);
	uint64_t qhit = delta(sv->sv_qc_hit, pv.sv_qc_hit, have);
	uint64_t qmiss = delta(sv->sv_qc_miss, pv.sv_qc_miss, have);
	const struct cell row[NARENACOL] = {
		{ sv->sv_quantum, 0 }, { sv->sv_size, 0 },
		{ sv->sv_inuse, 0 },
		{ sv->sv_size >= sv->sv_inuse ? sv->sv_size - sv->sv_inuse :
		    0, 0 },
		{ sv->sv_nspan_import, 0 }, { sv->sv_nspan_static, 0 },
		{ sv->sv_nbusy, 0 }, { sv->sv_nfreeseg, 0 },
		{ delta(sv->sv_nalloc, pv.sv_nalloc, have), 0 },
		{ delta(sv->sv_nfree, pv.sv_nfree, have), 0 },
		{ delta(sv->sv_nimport, pv.sv_nimport, have), 0 },
		{ delta(sv->sv_nrelease, pv.sv_nrelease, have), 0 },
		{ sv->sv_nsleep, 0 }, { sv->sv_qcache_max, 0 },
		{ qhit, 0 }, { qmiss, 0 },
		{ qhit, sv->sv_qcache_max == 0 ? NO_PCT : qhit + qmiss },
	};

	memcpy(c, row, sizeof(c));
	row_emit(o, op, arena_cols, NARENACOL, sv->sv_name, c, shown);
}

static void
emit_arenas(struct nbstat_out *o, const struct nbstat_snap *ss,
    const struct nbstat_opts *op)
{
	struct nbstat_vmem sv;
	size_t shown = 0;
	bool json;

	if (!(json = view_begin(o, op, "arenas", "Vmem arena statistics")))
		row_header(o, op, arena_cols, NARENACOL);
	for (size_t r = 0; r < nbstat_nvmem(ss); r++) {
		nbstat_vmem_get(ss, row_index(op, r), &sv);
		emit_arena_row(o, &sv, op, &shown);
	}
	if (json)
		nbstat_printf(o, "]");
}

/* ---- kmem and the budget */

static const struct col kmem_cols[] = {
	{ "Size", 6, "size", K_NUM, 0 },
	{ "InUse", 9, "inuse", K_NUM, 0 },
	{ "Avail", 9, "avail", K_NUM, 0 },
	{ "Bytes", 12, "bytes", K_NUM, 0 },
	{ "Npage", 6, "npage", K_NUM, 0 },
	{ "PageBytes", 12, "page_bytes", K_NUM, 0 },
	{ "Requests", 11, "requests", K_NUM, 0 },
	{ NULL, 0, "cpu_hit", K_NUM, 0 },
	{ "Hit%", 5, NULL, K_PCT, 0 },
};
#define	NKMEMCOL	(sizeof(kmem_cols) / sizeof(kmem_cols[0]))

/* An unknown counter as JSON: -1. */
static long long
json_known(uint64_t v)
{
	return v == NBSTAT_UNKNOWN ? -1LL : (long long)v;
}

static void
emit_budget(struct nbstat_out *o, const struct nbstat_glob *g, bool json)
{
	char lim[24], rb[64];

	if (json) {
		nbstat_printf(o, ",\"kmem_large\":{\"allocs\":%lld,"
		    "\"frees\":%lld,\"bytes\":%lld},\"budget\":{\"limit\":%llu,"
		    "\"inuse\":%llu,\"waiters\":%llu,\"reclaim_passes\":%lld,"
		    "\"reclaim_bytes\":%lld}",
		    json_known(g->sg_kmem_large_nalloc),
		    json_known(g->sg_kmem_large_nfree),
		    json_known(g->sg_kmem_large_bytes),
		    (unsigned long long)g->sg_physmem_limit,
		    (unsigned long long)g->sg_physmem_inuse,
		    (unsigned long long)g->sg_physmem_waiters,
		    json_known(g->sg_reclaim_npass),
		    json_known(g->sg_reclaim_bytes));
		return;
	}
	if (g->sg_kmem_large_nalloc != NBSTAT_UNKNOWN)
		nbstat_printf(o, "large allocations: %llu made, %llu freed, "
		    "%lluK in use\n",
		    (unsigned long long)g->sg_kmem_large_nalloc,
		    (unsigned long long)g->sg_kmem_large_nfree,
		    (unsigned long long)(g->sg_kmem_large_bytes / 1024));
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
	nbstat_printf(o, "\nMemory budget %s, in use %lluK, %llu waiting; "
	    "reclaim: %s\n", lim,
	    (unsigned long long)(g->sg_physmem_inuse / 1024),
	    (unsigned long long)g->sg_physmem_waiters, rb);
}

static void
emit_kmem(struct nbstat_out *o, const struct nbstat_snap *ss,
    const struct nbstat_opts *op)
{
	struct nbstat_pool sp, pp;
	struct nbstat_vmem sv;
	struct cell c[NKMEMCOL];
	uint64_t t_obj = 0, t_bytes = 0, t_pages = 0;
	size_t shown = 0;
	bool json;

	if (!(json = view_begin(o, op, "kmem_classes", "kmem size classes")))
		row_header(o, op, kmem_cols, NKMEMCOL);
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
		const struct cell row[NKMEMCOL] = {
			{ sp.sp_size, 0 }, { sp.sp_nout, 0 },
			{ sp.sp_nitems, 0 }, { sp.sp_nout * sp.sp_size, 0 },
			{ sp.sp_npages, 0 },
			{ sp.sp_npages * sp.sp_pagesize, 0 }, { ops, 0 },
			{ hit, 0 }, { hit, ops },
		};
		memcpy(c, row, sizeof(c));
		row_emit(o, op, kmem_cols, NKMEMCOL, sp.sp_name, c, &shown);
	}
	if (!json) {
		if (shown == 0)
			nbstat_printf(o, "(no kmem size classes in use)\n");
		nbstat_printf(o, "%-15s %6s %9llu %9s %12llu %6s %12llu\n",
		    "Totals", "", (unsigned long long)t_obj, "",
		    (unsigned long long)t_bytes, "",
		    (unsigned long long)t_pages);
	}

	/* Large allocations: the arenas behind kmem's large path. */
	if (json)
		nbstat_printf(o, "],\"kmem_arenas\":[");
	else {
		nbstat_printf(o, "\nkmem arenas (large allocations and the "
		    "pages of the classes)\n");
		row_header(o, op, arena_cols, NARENACOL);
	}
	shown = 0;
	for (size_t r = 0; r < nbstat_nvmem(ss); r++) {
		nbstat_vmem_get(ss, r, &sv);
		if (strcmp(sv.sv_name, "kmem") == 0 ||
		    strcmp(sv.sv_name, "kva") == 0)
			emit_arena_row(o, &sv, op, &shown);
	}
	if (json)
		nbstat_printf(o, "]");
	emit_budget(o, &ss->ss_glob, json);
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

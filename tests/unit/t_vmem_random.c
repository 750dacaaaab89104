/*	SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_vmem_random: vmem against a reference model, with random operations.
 *
 * The model of an arena is the list of its spans and the sorted list of
 * its live segments: free space is whatever the spans hold outside the
 * segments.  Four arenas run side by side: "rnd-plain" (static spans,
 * one of them ending at VMEM_ADDR_MAX, another starting at 0),
 * "rnd-child" importing from "rnd-parent" exactly what it needs, and
 * "rnd-xchild" (vmem_xcreate) importing from it spans 1 to 8 times larger
 * than asked, so that spans hold many segments; the callbacks keep the
 * models of child and parent up to date.  Each step picks an arena and
 * one of vmem_alloc, vmem_xalloc (align, phase, nocross, minaddr, maxaddr
 * in every mix), vmem_xalloc_addr, vmem_free/vmem_xfree (the matching
 * one), vmem_add of a disjoint span and, rarely, vmem_xfreeall, with one
 * of the three fit strategies.  After each step:
 *   - a result must satisfy every constraint and lie in model free space;
 *   - ENOMEM is accepted only if the model has no fitting place at all
 *     (found by an exhaustive search of the gaps), for every strategy:
 *     instant fit falls back to best fit, next fit walks every segment;
 *   - constrained requests (align, phase, nocross) never import, and
 *     with VM_SLEEP they fail at once instead of blocking;
 *   - an imported span is released exactly when its last segment goes;
 *   - vmem_size() equals the model's totals.
 * Every CHECK_EVERY steps nbmem_vmem_check() walks each arena.
 *
 * Seed and length: NBMEM_TEST_SEED (default fixed), NBMEM_TEST_OPS
 * (default 1000000).  The seed is printed; a failure names the step.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <atf-c.h>

#include "internal.h"
#include "lock.h"
#include "vmem_impl.h"

#define	DEFAULT_SEED	UINT64_C(0x6e626d656d766d31)
#define	DEFAULT_OPS	1000000
#define	CHECK_EVERY	1000
#define	MAXSPANS	32
/*
 * The live-segment target per arena cycles through 50, 550, 1050, 1550
 * every 50000 steps: from nearly empty arenas to full ones (the plain
 * arena holds about 70000 quanta, a segment takes about 90 on average).
 */
#define	LIVE_TARGET	(50 + (step / 50000 % 4) * 500)

enum { K_ALLOC, K_XALLOC, K_ADDR, K_IMPORT };

struct mseg {
	vmem_addr_t	start;
	vmem_addr_t	end;		/* inclusive */
	vmem_size_t	asked;		/* size passed at allocation */
	int		kind;
};

struct mspan {
	vmem_addr_t	start;
	vmem_addr_t	end;		/* inclusive */
	bool		imported;
};

struct model {
	const char	*name;
	vmem_t		*vm;
	vmem_size_t	q;
	struct mspan	*spans;		/* sorted by start */
	int		nspans, spancap;
	struct mseg	*segs;		/* sorted by start */
	size_t		nsegs, cap;
	vmem_size_t	inuse, total;
	struct model	*parent;	/* a child's source */
	bool		source;		/* a parent: no vmem_xfreeall */
	vmem_addr_t	addlo, addhi;	/* where vmem_add spans go */
	int		nadded;
};

struct req {
	vmem_size_t	size, rs;
	vmem_size_t	align, phase, nocross;
	vmem_size_t	ealign;		/* align, 0 replaced by the quantum */
	vmem_addr_t	lo, hi;
	vm_flag_t	flags;
	int		kind;
};

static uint64_t rng;
static unsigned long step;
static uint64_t seed;

/* Statistics: [kind][fit][ok, ENOMEM] and a few totals. */
static unsigned long st_alloc[3][3][2];
static unsigned long st_sleep, st_import, st_release, st_free, st_add;
static unsigned long st_freeall;

/* What the import/release callbacks see during one step. */
static int op_nimport, op_nrelease;
static vmem_size_t op_import_size;
static vm_flag_t op_sleep;
static vmem_addr_t op_released;

/* ---- helpers */

#define	FAIL(...) do {							\
	char fail_msg_[512];						\
	snprintf(fail_msg_, sizeof(fail_msg_), __VA_ARGS__);		\
	atf_tc_fail("seed %#" PRIx64 " step %lu: %s", seed, step,	\
	    fail_msg_);							\
} while (0)

static uint64_t
rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint64_t
rndn(uint64_t n)		/* uniform enough in [0, n), n > 0 */
{
	return rnd() % n;
}

static int
fitindex(vm_flag_t fl)
{
	return (fl & VM_INSTANTFIT) ? 1 : (fl & VM_NEXTFIT) ? 2 : 0;
}

static const char *
fitname(vm_flag_t fl)
{
	if (fl & VM_INSTANTFIT)
		return "instantfit";
	if (fl & VM_NEXTFIT)
		return "nextfit";
	return "bestfit";
}

static void
arena_check(vmem_t *vm)
{
	mutex_enter(&vm->vm_lock);
	nbmem_vmem_check(vm);
	mutex_exit(&vm->vm_lock);
}

/* ---- the model */

/* Index of the first segment whose start is >= a. */
static size_t
seg_lower(const struct model *m, vmem_addr_t a)
{
	size_t lo = 0, hi = m->nsegs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->segs[mid].start < a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Index of the first span whose start is > a. */
static int
span_upper(const struct model *m, vmem_addr_t a)
{
	int lo = 0, hi = m->nspans;

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		if (m->spans[mid].start <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The span holding all of [a, e], or -1. */
static int
span_of(const struct model *m, vmem_addr_t a, vmem_addr_t e)
{
	int i = span_upper(m, a) - 1;

	if (i >= 0 && e >= a && e <= m->spans[i].end)
		return i;
	return -1;
}

/* Is [a, e] free in the model (inside one span, touching no segment)? */
static bool
model_free_p(const struct model *m, vmem_addr_t a, vmem_addr_t e)
{
	size_t i;

	if (span_of(m, a, e) < 0)
		return false;
	i = seg_lower(m, a);
	if (i < m->nsegs && m->segs[i].start <= e)
		return false;
	if (i > 0 && m->segs[i - 1].end >= a)
		return false;
	return true;
}

static void
seg_insert(struct model *m, vmem_addr_t a, vmem_size_t rs, vmem_size_t asked,
    int kind)
{
	size_t i = seg_lower(m, a);

	if (m->nsegs == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 1024;
		m->segs = realloc(m->segs, m->cap * sizeof(*m->segs));
		ATF_REQUIRE(m->segs != NULL);
	}
	memmove(&m->segs[i + 1], &m->segs[i],
	    (m->nsegs - i) * sizeof(*m->segs));
	m->segs[i] = (struct mseg){ a, a + rs - 1, asked, kind };
	m->nsegs++;
	m->inuse += rs;
}

static void
seg_delete(struct model *m, size_t i)
{
	m->inuse -= m->segs[i].end - m->segs[i].start + 1;
	memmove(&m->segs[i], &m->segs[i + 1],
	    (m->nsegs - i - 1) * sizeof(*m->segs));
	m->nsegs--;
}

/* Number of live segments inside span k. */
static size_t
span_nsegs(const struct model *m, int k)
{
	size_t i = seg_lower(m, m->spans[k].start), n = 0;

	while (i < m->nsegs && m->segs[i].start <= m->spans[k].end) {
		n++;
		i++;
	}
	return n;
}

static void
span_insert(struct model *m, vmem_addr_t a, vmem_size_t size, bool imported)
{
	int i = span_upper(m, a);

	if (m->nspans == m->spancap) {
		m->spancap = m->spancap ? 2 * m->spancap : 64;
		m->spans = realloc(m->spans, (size_t)m->spancap *
		    sizeof(*m->spans));
		ATF_REQUIRE(m->spans != NULL);
	}
	memmove(&m->spans[i + 1], &m->spans[i],
	    (size_t)(m->nspans - i) * sizeof(*m->spans));
	m->spans[i] = (struct mspan){ a, a + size - 1, imported };
	m->nspans++;
	m->total += size;
}

static void
span_delete(struct model *m, int k)
{
	m->total -= m->spans[k].end - m->spans[k].start + 1;
	memmove(&m->spans[k], &m->spans[k + 1],
	    (size_t)(m->nspans - k - 1) * sizeof(*m->spans));
	m->nspans--;
}

/* The lowest x >= v with x % align == phase; false if none below 2^64. */
static bool
first_at(vmem_addr_t v, vmem_size_t align, vmem_size_t phase,
    vmem_addr_t *xp)
{
	vmem_addr_t x = v + ((phase - v) & (align - 1));

	*xp = x;
	return x >= v;
}

/*
 * Does the gap [gs, ge] hold a placement for r?  Candidates are the
 * addresses congruent to phase modulo align, lowest first.  If the lowest
 * in a nocross window crosses the window's end, every later one in that
 * window does too, so the next candidate worth trying is the first in the
 * next window.
 */
static bool
gap_fit(vmem_addr_t gs, vmem_addr_t ge, const struct req *r, vmem_addr_t *xp)
{
	vmem_addr_t a = gs > r->lo ? gs : r->lo;
	vmem_addr_t b = ge < r->hi ? ge : r->hi;
	vmem_addr_t x;
	bool ok;

	if (a > b)
		return false;
	ok = first_at(a, r->ealign, r->phase, &x);
	for (;;) {
		if (!ok || x > b || b - x < r->rs - 1)
			return false;
		if (r->nocross == 0 ||
		    x / r->nocross == (x + r->rs - 1) / r->nocross) {
			*xp = x;
			return true;
		}
		vmem_addr_t next = (x & ~(r->nocross - 1)) + r->nocross;
		if (next == 0)
			return false;
		ok = first_at(next, r->ealign, r->phase, &x);
	}
}

/* Exhaustive: any placement for r anywhere in the model's free space? */
static bool
model_fit(const struct model *m, const struct req *r, vmem_addr_t *xp)
{
	for (int k = 0; k < m->nspans; k++) {
		const struct mspan *sp = &m->spans[k];
		vmem_addr_t cur = sp->start;
		size_t i = seg_lower(m, sp->start);
		bool more = true;

		for (; i < m->nsegs && m->segs[i].start <= sp->end; i++) {
			if (m->segs[i].start > cur &&
			    gap_fit(cur, m->segs[i].start - 1, r, xp))
				return true;
			if (m->segs[i].end == VMEM_ADDR_MAX) {
				more = false;
				break;
			}
			cur = m->segs[i].end + 1;
		}
		if (more && cur <= sp->end && gap_fit(cur, sp->end, r, xp))
			return true;
	}
	return false;
}

static void
model_sizes(const struct model *m)
{
	vmem_size_t a = vmem_size(m->vm, VMEM_ALLOC);
	vmem_size_t t = vmem_size(m->vm, VMEM_ALLOC | VMEM_FREE);
	vmem_size_t f = vmem_size(m->vm, VMEM_FREE);

	if (a != m->inuse || t != m->total || f != m->total - m->inuse)
		FAIL("%s: vmem_size alloc %#zx total %#zx free %#zx, model "
		    "%#zx %#zx %#zx", m->name, a, t, f, m->inuse, m->total,
		    m->total - m->inuse);
}

/* ---- import and release, keeping both models */

/* Import `span' bytes for child c, which asked for `size'. */
static int
import1(struct model *c, vmem_size_t size, vmem_size_t span, vm_flag_t fl,
    vmem_addr_t *ap)
{
	struct model *p = c->parent;
	struct req r = { .size = span, .rs = span, .align = p->q,
	    .ealign = p->q, .hi = VMEM_ADDR_MAX };
	vmem_addr_t a, x;
	int rc;

	op_nimport++;
	if ((fl & (VM_SLEEP | VM_NOSLEEP)) != op_sleep)
		FAIL("%s: import with flags %#x in a request with %#x",
		    c->name, fl, op_sleep);
	if ((fl & (VM_BESTFIT | VM_INSTANTFIT | VM_NEXTFIT)) == 0)
		FAIL("%s: import with flags %#x: no fit flag", c->name, fl);
	if (size != op_import_size)
		FAIL("%s: import of %#zx for a request of %#zx", c->name,
		    size, op_import_size);
	/* One import per step: a range-only request cannot drain the parent. */
	if (op_nimport > 1)
		return ENOMEM;
	size = span;
	rc = vmem_alloc(p->vm, size, VM_NOSLEEP | VM_BESTFIT, &a);
	if (rc != 0) {
		if (model_fit(p, &r, &x))
			FAIL("%s: import of %#zx failed, the model fits it at "
			    "%#zx", p->name, size, x);
		return rc;
	}
	if (!model_free_p(p, a, a + size - 1))
		FAIL("%s: import got [%#zx, +%#zx), not free in the model",
		    p->name, a, size);
	seg_insert(p, a, size, size, K_IMPORT);
	span_insert(c, a, size, true);
	*ap = a;
	return 0;
}

static int
rnd_import(void *arg, vmem_size_t size, vm_flag_t fl, vmem_addr_t *ap)
{
	return import1(arg, size, size, fl, ap);
}

static int
rnd_ximport(void *arg, vmem_size_t size, vmem_size_t *actual, vm_flag_t fl,
    vmem_addr_t *ap)
{
	vmem_size_t span = size * (rndn(8) + 1);
	int rc;

	rc = import1(arg, size, span, fl, ap);
	if (rc == 0)
		*actual = span;
	return rc;
}

static void
rnd_release(void *arg, vmem_addr_t a, vmem_size_t size)
{
	struct model *c = arg, *p = c->parent;
	size_t i;
	int k;

	op_nrelease++;
	op_released = a;
	k = span_upper(c, a) - 1;
	if (k < 0 || c->spans[k].start != a ||
	    c->spans[k].end != a + size - 1 ||
	    !c->spans[k].imported)
		FAIL("release of [%#zx, +%#zx): no such imported span", a,
		    size);
	if (span_nsegs(c, k) != 0)
		FAIL("release of span %#zx while %zu segments live in it", a,
		    span_nsegs(c, k));
	span_delete(c, k);
	i = seg_lower(p, a);
	if (i == p->nsegs || p->segs[i].start != a ||
	    p->segs[i].kind != K_IMPORT ||
	    p->segs[i].end != a + size - 1)
		FAIL("release of [%#zx, +%#zx): not what was imported", a,
		    size);
	seg_delete(p, i);
	vmem_free(p->vm, a, size);
}

/* ---- request generation */

static vmem_size_t
pow2_at_least(vmem_size_t v)
{
	vmem_size_t p = 1;

	while (p < v && p != 0)
		p <<= 1;
	return p;
}

/* A random address near some span of the model (or anywhere). */
static vmem_addr_t
near_span(const struct model *m)
{
	const struct mspan *sp;
	vmem_size_t len;

	if (m->nspans == 0 || rndn(8) == 0)
		return rnd();
	sp = &m->spans[rndn((uint64_t)m->nspans)];
	len = sp->end - sp->start + 1;
	if (rndn(4) == 0 && sp->start >= len / 4)
		return sp->start - rndn(len / 4 + 1);
	return sp->start + rndn(len);
}

static void
gen_size(const struct model *m, struct req *r)
{
	uint64_t c = rndn(100), n;

	if (c < 70)
		n = rndn(16) + 1;
	else if (c < 95)
		n = rndn(256) + 1;
	else
		n = rndn(2048) + 1;
	r->rs = n * m->q;
	r->size = r->rs - (m->q > 1 ? rndn(m->q) : 0);
}

static void
gen_constraints(const struct model *m, struct req *r)
{
	vmem_size_t q = m->q;

	r->align = rndn(3) == 0 ? 0 : q << rndn(9);
	r->phase = 0;
	if (r->align > q && rndn(2) == 0)
		r->phase = rndn(r->align / q) * q;
	r->nocross = 0;
	if (rndn(3) == 0) {
		vmem_size_t nc = pow2_at_least(r->rs) << rndn(3);
		if (nc != 0 && (r->phase & (nc - 1)) + r->rs <= nc)
			r->nocross = nc;
	}
	r->lo = VMEM_ADDR_MIN;
	r->hi = VMEM_ADDR_MAX;
	switch (rndn(4)) {
	case 0:
		break;
	case 1:		/* a window around a span */
		r->lo = near_span(m);
		r->hi = r->lo + r->rs - 1 + rndn(4 * r->rs + 64 * q);
		if (r->hi < r->lo)
			r->hi = VMEM_ADDR_MAX;
		break;
	case 2:		/* a floor */
		r->lo = near_span(m);
		break;
	case 3:		/* a ceiling */
		r->hi = near_span(m);
		break;
	}
	if (rndn(16) == 0 && r->lo <= VMEM_ADDR_MAX - (r->rs - 1)) {
		/* the exact window minaddr == maxaddr - size + 1 */
		r->hi = r->lo + r->rs - 1;
	}
}

static bool
constrained_p(const struct model *m, const struct req *r)
{
	return (r->align != 0 && r->align != m->q) || r->phase != 0 ||
	    r->nocross != 0;
}

/* ---- steps */

static void
check_result(const struct model *m, const struct req *r, vmem_addr_t a)
{
	vmem_size_t align = r->align != 0 ? r->align : m->q;
	vmem_addr_t e = a + r->rs - 1;

	if (a % m->q != 0 || a % align != r->phase || e < a || a < r->lo ||
	    e > r->hi || (r->nocross != 0 &&
	    a / r->nocross != e / r->nocross))
		FAIL("%s: %s %s size %#zx align %#zx phase %#zx nocross %#zx "
		    "[%#zx, %#zx] returned %#zx, breaking a constraint",
		    m->name, r->kind == K_ALLOC ? "vmem_alloc" : "vmem_xalloc",
		    fitname(r->flags), r->size, r->align, r->phase,
		    r->nocross, r->lo, r->hi, a);
	if (!model_free_p(m, a, e))
		FAIL("%s: %s returned [%#zx, %#zx], not free in the model",
		    m->name, fitname(r->flags), a, e);
}

static void
step_alloc(struct model *m, int kind)
{
	struct req r = { .kind = kind };
	vmem_addr_t a = 0, x;
	bool cons;
	int rc;

	gen_size(m, &r);
	r.flags = (vm_flag_t[]){ VM_BESTFIT, VM_INSTANTFIT,
	    VM_NEXTFIT }[rndn(3)];
	r.align = m->q;
	r.hi = VMEM_ADDR_MAX;
	if (kind == K_XALLOC)
		gen_constraints(m, &r);
	else if (kind == K_ADDR) {
		/* A free gap's start, a live segment's start, or anywhere. */
		uint64_t c = rndn(4);
		if (c == 0 && m->nsegs > 0)
			r.lo = m->segs[rndn(m->nsegs)].start;
		else if (c == 1 && m->nsegs > 0)
			r.lo = m->segs[rndn(m->nsegs)].end + 1;
		else
			r.lo = near_span(m) & ~(m->q - 1);
		if (r.lo > VMEM_ADDR_MAX - (r.rs - 1))
			r.lo = VMEM_ADDR_MAX - (r.rs - 1);
		r.hi = r.lo + r.rs - 1;
		r.flags = VM_BESTFIT;
	}
	r.ealign = r.align != 0 ? r.align : m->q;
	cons = constrained_p(m, &r);
	/*
	 * VM_SLEEP where it cannot block: constrained requests (they fail
	 * at once), or requests the model says fit, in an arena without
	 * import.
	 */
	op_sleep = VM_NOSLEEP;
	if (rndn(4) == 0 && (cons || (m->parent == NULL &&
	    model_fit(m, &r, &x))))
		op_sleep = VM_SLEEP;
	r.flags |= op_sleep;
	op_nimport = op_nrelease = 0;
	op_import_size = r.rs;

	if (kind == K_ALLOC)
		rc = vmem_alloc(m->vm, r.size, r.flags, &a);
	else if (kind == K_XALLOC)
		rc = vmem_xalloc(m->vm, r.size, r.align, r.phase, r.nocross,
		    r.lo, r.hi, r.flags, &a);
	else {
		rc = vmem_xalloc_addr(m->vm, r.lo, r.size, op_sleep);
		a = r.lo;
	}

	st_alloc[kind][fitindex(r.flags)][rc != 0]++;
	st_sleep += op_sleep == VM_SLEEP;
	st_import += (unsigned long)op_nimport;
	if (op_nrelease != 0)
		FAIL("%s: a span was released during an allocation", m->name);
	if (cons && op_nimport != 0)
		FAIL("%s: constrained request (align %#zx phase %#zx nocross "
		    "%#zx) imported", m->name, r.align, r.phase, r.nocross);
	if (rc == 0) {
		check_result(m, &r, a);
		seg_insert(m, a, r.rs, r.size, kind);
		return;
	}
	if (rc != ENOMEM)
		FAIL("%s: returned %d", m->name, rc);
	if (op_sleep == VM_SLEEP && !cons)
		FAIL("%s: VM_SLEEP request failed", m->name);
	if (model_fit(m, &r, &x))
		FAIL("%s: %s %s size %#zx align %#zx phase %#zx nocross %#zx "
		    "[%#zx, %#zx] failed, the model fits it at %#zx",
		    m->name, kind == K_ALLOC ? "vmem_alloc" : kind == K_XALLOC ?
		    "vmem_xalloc" : "vmem_xalloc_addr", fitname(r.flags),
		    r.size, r.align, r.phase, r.nocross, r.lo, r.hi, x);
	if (m->parent != NULL && !cons && op_nimport == 0 &&
	    r.hi - r.lo >= r.rs - 1)
		FAIL("%s: unconstrained request failed without importing",
		    m->name);
}

static void
step_free(struct model *m)
{
	struct mseg s;
	size_t i;
	int k, tries;
	bool expect;

	for (tries = 0; tries < 8; tries++) {
		i = rndn(m->nsegs);
		if (m->segs[i].kind != K_IMPORT)
			break;
	}
	if (tries == 8)
		return;
	s = m->segs[i];
	k = span_of(m, s.start, s.end);
	ATF_REQUIRE(k >= 0);
	expect = m->spans[k].imported && span_nsegs(m, k) == 1;
	vmem_addr_t spanstart = m->spans[k].start;
	seg_delete(m, i);
	op_nimport = op_nrelease = 0;

	vmem_size_t sz = rndn(2) ? s.asked : s.end - s.start + 1;
	if (s.kind == K_ALLOC)
		vmem_free(m->vm, s.start, sz);
	else
		vmem_xfree(m->vm, s.start, sz);

	st_free++;
	st_release += (unsigned long)op_nrelease;
	if (op_nimport != 0)
		FAIL("%s: a free imported", m->name);
	if (expect && (op_nrelease != 1 || op_released != spanstart))
		FAIL("%s: freeing the last segment %#zx of span %#zx released "
		    "%d spans", m->name, s.start, spanstart, op_nrelease);
	if (!expect && op_nrelease != 0)
		FAIL("%s: freeing %#zx released a span that is still in use "
		    "or static", m->name, s.start);
}

static void
step_add(struct model *m)
{
	vmem_size_t size = (rndn(4032) + 64) * m->q;
	vmem_addr_t a = 0;
	int tries;

	if (m->nadded >= MAXSPANS)
		return;
	for (tries = 0; tries < 16; tries++) {
		a = m->addlo + rndn((m->addhi - m->addlo) / m->q) * m->q;
		bool clash = a + size - 1 > m->addhi;
		for (int k = 0; k < m->nspans && !clash; k++)
			if (a <= m->spans[k].end &&
			    m->spans[k].start <= a + size - 1)
				clash = true;
		if (!clash)
			break;
	}
	if (tries == 16)
		return;
	ATF_REQUIRE_EQ(vmem_add(m->vm, a, size,
	    rndn(2) ? VM_SLEEP : VM_NOSLEEP), 0);
	span_insert(m, a, size, false);
	m->nadded++;
	st_add++;
}

static void
step_freeall(struct model *m)
{
	int expect = 0;

	for (int k = 0; k < m->nspans; k++)
		if (m->spans[k].imported && span_nsegs(m, k) != 0)
			expect++;
	/* The model goes first: the release callback checks against it. */
	while (m->nsegs > 0)
		seg_delete(m, m->nsegs - 1);
	op_nimport = op_nrelease = 0;
	vmem_xfreeall(m->vm);
	st_freeall++;
	st_release += (unsigned long)op_nrelease;
	if (op_nrelease != expect)
		FAIL("%s: vmem_xfreeall released %d spans, expected %d",
		    m->name, op_nrelease, expect);
}

static void
do_step(struct model *m)
{
	uint64_t c = rndn(1000);
	unsigned int pfree = m->nsegs < LIVE_TARGET ? 350 : 650;

	if (c < 1 && m->addhi != 0)
		step_add(m);
	else if (c < 2 && rndn(64) == 0 && !m->source)
		step_freeall(m);
	else if (c < 2 + pfree && m->nsegs > 0)
		step_free(m);
	else {
		c = rndn(16);
		step_alloc(m, c < 6 ? K_ALLOC : c < 15 ? K_XALLOC : K_ADDR);
	}
}

/* ---- setup */

static uint64_t
env_u64(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);
	char *end;
	uint64_t v;

	if (s == NULL || *s == '\0')
		return dflt;
	v = strtoull(s, &end, 0);
	ATF_REQUIRE_MSG(*end == '\0', "%s=%s is not a number", name, s);
	return v;
}

static void
model_init(struct model *m, const char *name, vmem_size_t q)
{
	memset(m, 0, sizeof(*m));
	m->name = name;
	m->q = q;
}

/* A child of p whose own static spans go to [2^k, 2^(k+1)). */
static void
child_init(struct model *c, const char *name, struct model *p, int k)
{
	model_init(c, name, p->q);
	c->parent = p;
	c->addlo = (vmem_addr_t)1 << k;
	c->addhi = (vmem_addr_t)1 << (k + 1);
}

static void
model_fini(struct model *m)
{
	free(m->segs);
	free(m->spans);
	m->segs = NULL;
	m->spans = NULL;
}

ATF_TC(random_ops);
ATF_TC_HEAD(random_ops, tc)
{
	atf_tc_set_md_var(tc, "descr", "vmem against a reference model "
	    "(NBMEM_TEST_SEED, NBMEM_TEST_OPS)");
	atf_tc_set_md_var(tc, "timeout", "600");
}
ATF_TC_BODY(random_ops, tc)
{
	static struct model plain, parent, child, xchild;
	struct model *children[2] = { &child, &xchild };
	static const vmem_size_t quanta[] = { 1, 8, 16, 4096 };
	unsigned long nops;
	struct timespec t0, t1;

	seed = env_u64("NBMEM_TEST_SEED", DEFAULT_SEED);
	nops = (unsigned long)env_u64("NBMEM_TEST_OPS", DEFAULT_OPS);
	rng = seed;
	printf("NBMEM_TEST_SEED=%#" PRIx64 " NBMEM_TEST_OPS=%lu\n", seed,
	    nops);
	clock_gettime(CLOCK_MONOTONIC, &t0);

	/*
	 * The plain arena: a span at 0, one ending at VMEM_ADDR_MAX, one
	 * in between; vmem_add spans anywhere in [2^32, 2^62).
	 */
	model_init(&plain, "rnd-plain", quanta[rndn(4)]);
	plain.vm = vmem_create(plain.name, 0, 1024 * plain.q, plain.q, NULL,
	    NULL, NULL, 0, VM_SLEEP, IPL_NONE);
	ATF_REQUIRE(plain.vm != NULL);
	span_insert(&plain, 0, 1024 * plain.q, false);
	ATF_REQUIRE_EQ(vmem_add(plain.vm, VMEM_ADDR_MAX - 2048 * plain.q + 1,
	    2048 * plain.q, VM_SLEEP), 0);
	span_insert(&plain, VMEM_ADDR_MAX - 2048 * plain.q + 1,
	    2048 * plain.q, false);
	plain.addlo = (vmem_addr_t)1 << 32;
	plain.addhi = (vmem_addr_t)1 << 62;
	step_add(&plain);

	/* The parent: static spans in [2^20, 2^40); the children import. */
	model_init(&parent, "rnd-parent", quanta[rndn(4)]);
	parent.vm = vmem_create(parent.name, 0, 0, parent.q, NULL, NULL,
	    NULL, 0, VM_SLEEP, IPL_VM);
	ATF_REQUIRE(parent.vm != NULL);
	parent.source = true;
	parent.addlo = (vmem_addr_t)1 << 20;
	parent.addhi = (vmem_addr_t)1 << 40;
	for (int i = 0; i < 4; i++)
		step_add(&parent);

	child_init(&child, "rnd-child", &parent, 60);
	child.vm = vmem_create(child.name, 0, 0, child.q, rnd_import,
	    rnd_release, &child, 0, VM_SLEEP, IPL_NONE);
	ATF_REQUIRE(child.vm != NULL);
	child_init(&xchild, "rnd-xchild", &parent, 61);
	xchild.vm = vmem_xcreate(xchild.name, 0, 0, xchild.q, rnd_ximport,
	    rnd_release, &xchild, 0, VM_SLEEP, IPL_VM);
	ATF_REQUIRE(xchild.vm != NULL);
	printf("quanta: plain %#zx, parent and children %#zx\n", plain.q,
	    parent.q);

	for (step = 0; step < nops; step++) {
		uint64_t c = rndn(10);
		struct model *m = c < 3 ? &plain : c < 5 ? &parent :
		    c < 7 ? &child : &xchild;

		do_step(m);
		model_sizes(m);
		if (m->parent != NULL)
			model_sizes(m->parent);
		if (step % CHECK_EVERY == 0) {
			arena_check(plain.vm);
			arena_check(parent.vm);
			arena_check(child.vm);
			arena_check(xchild.vm);
		}
	}
	arena_check(plain.vm);
	arena_check(parent.vm);
	arena_check(child.vm);
	arena_check(xchild.vm);

	/* Tear down: the children's segments (spans go back), the rest. */
	for (int i = 0; i < 2; i++) {
		step_freeall(children[i]);
		model_sizes(children[i]);
		vmem_destroy(children[i]->vm);
	}
	for (size_t i = parent.nsegs; i-- > 0;)
		if (parent.segs[i].kind == K_IMPORT) {
			/* spans imported but never used stay imported */
			vmem_free(parent.vm, parent.segs[i].start,
			    parent.segs[i].end - parent.segs[i].start + 1);
			seg_delete(&parent, i);
		}
	while (parent.nsegs > 0) {
		struct mseg *s = &parent.segs[parent.nsegs - 1];
		if (s->kind == K_ALLOC)
			vmem_free(parent.vm, s->start, s->asked);
		else
			vmem_xfree(parent.vm, s->start, s->asked);
		seg_delete(&parent, parent.nsegs - 1);
	}
	model_sizes(&parent);
	vmem_destroy(parent.vm);
	step_freeall(&plain);
	model_sizes(&plain);
	vmem_destroy(plain.vm);
	model_fini(&plain);
	model_fini(&parent);
	model_fini(&child);
	model_fini(&xchild);

	static const char *const calls[] = { "vmem_alloc", "vmem_xalloc",
	    "vmem_xalloc_addr" };
	static const vm_flag_t fitflags[] = { VM_BESTFIT, VM_INSTANTFIT,
	    VM_NEXTFIT };
	for (int k = 0; k < 3; k++) {
		for (int f = 0; f < 3; f++) {
			unsigned long *st = st_alloc[k][f];
			if (st[0] + st[1] != 0)
				printf("%-16s %-10s %8lu ok %8lu ENOMEM\n",
				    calls[k], fitname(fitflags[f]), st[0],
				    st[1]);
		}
	}
	printf("%lu VM_SLEEP, %lu imports, %lu releases, %lu frees, "
	    "%lu adds, %lu freealls\n", st_sleep, st_import, st_release,
	    st_free, st_add, st_freeall);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%lu steps in %.1f s\n", nops, (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, random_ops);
	return atf_no_error();
}

#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# pool_cache against the malloc/free of the C library, jemalloc, tcmalloc
# and mimalloc, in one run: print markdown tables and keep the raw lines
# under bench/results/.
#
# Usage: bench/scripts/cache.sh [BUILD]      (default build-release)
# Environment: ROUNDS=3 REPEATS=3   every program runs ROUNDS times, in
#                                   turn, REPEATS samples each; figures
#                                   are medians of all ROUNDS*REPEATS
#              CALLGRIND=0          skip instruction counts
#              ALLOCS="nbmem glibc jemalloc tcmalloc mimalloc"
#
# BUILD/bench/cache_bench_<alloc> are one source built once per
# allocator (bench/micro/cache_bench.c); a missing peer is left out.
set -eu

build=${1:-build-release}
me=cache.sh
prog=cache_bench
. "$(dirname "$0")/peers.sh"
peers_find
peers_raw cache
peers_time

cg_one() {	# alloc, then cache_bench arguments
	peers_cg cache_instr "$@"
}

if [ "${CALLGRIND:-1}" != 0 ] && command -v valgrind >/dev/null; then
	for a in $allocs; do
		echo "cache_bench_$a: callgrind ..." >&2
		for t in pair batch; do
			for s in 16 64 256 1024 4096; do
				cg_one "$a" test=$t size=$s n=100000 >>"$raw"
			done
		done
		cg_one "$a" test=ctor n=100000 use=0 >>"$raw"
		cg_one "$a" test=ctor n=100000 use=1 >>"$raw"
		cg_one "$a" test=ctor n=100000 use=2 >>"$raw"
	done
else
	echo "cache.sh: valgrind missing or CALLGRIND=0: no instruction" \
	    "counts" >&2
fi

awk -v ALLOCS="$allocs" "$awk_lib"'
function rowkey(t, s, th, u) { return t SUBSEP s SUBSEP th SUBSEP u }
$1 == "cache" {
	k = kv("alloc") SUBSEP rowkey(kv("test"), kv("size"), kv("threads"),
	    kv("use"))
	if (k in smp)
		smp[k] = smp[k] "," kv("samples")
	else
		smp[k] = kv("samples")
}
$1 == "cache_instr" {
	ins[kv("alloc"), kv("test"), kv("size"), kv("use")] = \
	    kv("instr_per_pair")
}
/^# callgrind rseq:/ { cgrseq = substr($0, 19) }
function fmt(x) { return x >= 100 ? sprintf("%.0f", x) : sprintf("%.1f", x) }
# The median of one cell, "" if missing.
function cell(a, rk) {
	return ((a SUBSEP rk) in smp) ? med(smp[a SUBSEP rk]) : ""
}
function best_peer(rk,   i, x, b) {
	b = ""
	for (i = 2; i <= na; i++) {
		x = cell(A[i], rk)
		if (x != "" && (b == "" || x + 0 < b + 0)) b = x
	}
	return b
}
function ibest_peer(t, s, u,   i, x, b) {
	b = ""
	for (i = 2; i <= na; i++) {
		x = ins[A[i], t, s, u]
		if (x != "" && (b == "" || x + 0 < b + 0)) b = x
	}
	return b
}
function trow(label, rk,   i, x, b, line) {
	b = best_peer(rk)
	line = "| " label " |"
	for (i = 1; i <= na; i++) {
		x = cell(A[i], rk)
		if (x == "") line = line " - |"
		else if (b > 0) line = line sprintf(" %s (%.2fx) |", fmt(x), x / b)
		else line = line " " fmt(x) " |"
	}
	print line
}
function irow(label, t, s, u,   i, x, b, line) {
	b = ibest_peer(t, s, u)
	line = "| " label " |"
	for (i = 1; i <= na; i++) {
		x = ins[A[i], t, s, u]
		if (x == "") line = line " - |"
		else if (b > 0) line = line sprintf(" %.0f (%.2fx) |", x, x / b)
		else line = line sprintf(" %.0f |", x)
	}
	print line
}
function header(first,   i, line, sep) {
	line = "| " first " |"; sep = "|---|"
	for (i = 1; i <= na; i++) {
		line = line " " A[i] " |"; sep = sep "---:|"
	}
	print line; print sep
}
END {
	na = split(ALLOCS, A, " ")
	ns = split("16 64 256 1024 4096", S, " ")
	nsamp = split(smp[A[1] SUBSEP rowkey("pair", 16, 1, "")], junk, ",")
	print "pool_cache (nbmem: no constructor, IPL_NONE, PR_WAITOK) " \
	    "against malloc/free; ns per get/put pair, median of " nsamp \
	    " samples; in brackets the ratio to the fastest peer (the " \
	    "malloc columns)"
	print ""
	header("test, size")
	for (i = 1; i <= ns; i++) trow("pair " S[i], rowkey("pair", S[i], 1, ""))
	for (i = 1; i <= ns; i++) trow("batch " S[i], rowkey("batch", S[i], 1, ""))
	for (i = 1; i <= ns; i++)
		trow("pair " S[i] ", 2 threads", rowkey("pair", S[i], 2, ""))
	for (i = 1; i <= ns; i++)
		trow("batch " S[i] ", 2 threads", rowkey("batch", S[i], 2, ""))
	for (i = 1; i <= ns; i++)
		trow("xthread " S[i], rowkey("xthread", S[i], 2, ""))
	trow("ctor 256, bare", rowkey("ctor", 256, 1, 0))
	trow("ctor 256, use", rowkey("ctor", 256, 1, 1))
	trow("ctor 256, cleared", rowkey("ctor", 256, 1, 2))
	print ""
	print "Two threads against one: throughput ratio (goal for " \
	    "pool_cache >= 1.9)"
	print ""
	header("test, size")
	line = "| spin, no allocation |"
	for (j = 1; j <= na; j++) {
		x1 = cell(A[j], rowkey("spin", 0, 1, ""))
		x2 = cell(A[j], rowkey("spin", 0, 2, ""))
		if (x1 == "" || x2 == "" || x2 == 0) line = line " - |"
		else {
			line = line sprintf(" %.2f |", x1 / x2)
			spinsum += x1 / x2; nspin++
		}
	}
	print line
	for (t = 1; t <= 2; t++) {
		tn = t == 1 ? "pair" : "batch"
		for (i = 1; i <= ns; i++) {
			line = "| " tn " " S[i] " |"
			for (j = 1; j <= na; j++) {
				x1 = cell(A[j], rowkey(tn, S[i], 1, ""))
				x2 = cell(A[j], rowkey(tn, S[i], 2, ""))
				if (x1 == "" || x2 == "" || x2 == 0) line = line " - |"
				else {
					sc[A[j], tn, S[i]] = x1 / x2
					line = line sprintf(" %.2f |", x1 / x2)
				}
			}
			print line
		}
	}
	ni = 0
	for (k in ins) ni++
	if (ni > 0) {
		print ""
		print "Instructions per pair (callgrind, 100,000 pairs; " \
		    "under valgrind " cgrseq ")"
		print ""
		header("test, size")
		for (i = 1; i <= ns; i++) irow("pair " S[i], "pair", S[i], "")
		for (i = 1; i <= ns; i++) irow("batch " S[i], "batch", S[i], "")
		irow("ctor 256, bare", "ctor", 256, 0)
		irow("ctor 256, use", "ctor", 256, 1)
		irow("ctor 256, cleared", "ctor", 256, 2)
	}

	print ""
	print "Goals:"
	if (ni > 0) {
		line = ""; ok = 1
		for (i = 1; i <= ns; i++) {
			x = ins["nbmem", "pair", S[i], ""]; b = ibest_peer("pair", S[i], "")
			if (x == "" || b == "") continue
			line = line sprintf(" %s: %.0f vs %.0f;", S[i], x, b)
			if (x + 0 >= b + 0) ok = 0
		}
		printf "- pair instructions below the cheapest peer (nbmem vs " \
		    "best peer):%s %s\n", line, ok ? "met" : "NOT met"
	}
	line = ""; ok = 1
	for (i = 1; i <= ns; i++) {
		rk = rowkey("pair", S[i], 1, "")
		x = cell("nbmem", rk); b = best_peer(rk)
		if (x == "" || b == "") continue
		line = line sprintf(" %s: %.1f vs %.1f ns;", S[i], x, b)
		if (x + 0 > b + 0) ok = 0
	}
	printf "- pair wall time no more than the fastest peer:%s %s\n",
	    line, ok ? "met" : "NOT met"
	for (t = 1; t <= 2; t++) {
		tn = t == 1 ? "pair" : "batch"
		lo = ""; hi = ""
		for (i = 1; i <= ns; i++) {
			if (!(("nbmem", tn, S[i]) in sc)) continue
			x = sc["nbmem", tn, S[i]]
			if (lo == "" || x < lo) lo = x
			if (hi == "" || x > hi) hi = x
		}
		if (lo != "")
			printf "- two threads >= 1.9x one, %s: %.2f to %.2fx: %s\n",
			    tn, lo, hi, (lo >= 1.9 ? "met" : "NOT met")
	}
	if (nspin > 0)
		printf "  (a loop that allocates nothing gains %.2fx from two " \
		    "threads on this machine)\n", spinsum / nspin
	for (u = 0; u <= 2; u++) {
		rk = rowkey("ctor", 256, 1, u)
		x = cell("nbmem", rk); b = best_peer(rk)
		if (x > 0 && b != "")
			printf "- constructor workload (%s) >= 2x faster than " \
			    "the fastest malloc+init: %.2fx: %s\n",
			    u == 0 ? "bare" : u == 1 ? "with use" : "cleared",
			    b / x,
			    (b / x >= 2 ? "met" : "NOT met")
	}
}' "$raw"
echo ""
echo "raw results: $raw"

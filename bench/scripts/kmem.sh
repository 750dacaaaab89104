#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# kmem_alloc/kmem_free against the malloc/free of the C library,
# jemalloc, tcmalloc and mimalloc: print markdown tables and keep the raw
# lines under bench/results/.
#
# Usage: bench/scripts/kmem.sh [BUILD]       (default build-release)
# Environment: ROUNDS=3 REPEATS=3   every program runs ROUNDS times, in
#                                   turn, REPEATS samples each; figures
#                                   are medians of all ROUNDS*REPEATS
#              CALLGRIND=0          skip instruction counts
#              ALLOCS="nbmem nbmalloc glibc jemalloc tcmalloc mimalloc"
#
# BUILD/bench/kmem_bench_<alloc> are one source built once per allocator
# (bench/micro/kmem_bench.c); a missing peer is left out.  nbmalloc is
# nbmem's malloc library (libnbmem_malloc.so): malloc and free, the free
# finding the size from the address; it is not a peer (the ratios are to
# the fastest of glibc, jemalloc, tcmalloc and mimalloc).
set -eu

build=${1:-build-release}
me=kmem.sh
prog=kmem_bench
ALLOCS=${ALLOCS:-nbmem nbmalloc glibc jemalloc tcmalloc mimalloc}
sizes="8 16 32 64 128 256 512 1024 2048 4096 8192 16384 65536"
. "$(dirname "$0")/peers.sh"
peers_find
peers_raw kmem
peers_time

cg_one() {	# alloc, then kmem_bench arguments
	peers_cg kmem_instr "$@"
}

if [ "${CALLGRIND:-1}" != 0 ] && command -v valgrind >/dev/null; then
	for a in $allocs; do
		echo "kmem_bench_$a: callgrind ..." >&2
		for s in $sizes; do
			cg_one "$a" test=pair size="$s" n=100000 >>"$raw"
		done
		cg_one "$a" test=mix n=100000 >>"$raw"
		cg_one "$a" test=rand n=100000 >>"$raw"
	done
else
	echo "kmem.sh: valgrind missing or CALLGRIND=0: no instruction" \
	    "counts" >&2
fi

awk -v ALLOCS="$allocs" -v SIZES="$sizes" "$awk_lib"'
$1 == "kmem" {
	k = kv("alloc") SUBSEP kv("test") SUBSEP kv("size") SUBSEP kv("threads")
	# Not a conditional expression: mawk creates smp[k] before the test.
	if (k in smp)
		smp[k] = smp[k] "," kv("samples")
	else
		smp[k] = kv("samples")
}
$1 == "kmem_instr" {
	ins[kv("alloc"), kv("test"), kv("size")] = kv("instr_per_pair")
}
function cell(a, t, s, th,   k) {
	k = a SUBSEP t SUBSEP s SUBSEP th
	return (k in smp) ? med(smp[k]) : ""
}
function fmt(x) { return x >= 100 ? sprintf("%.0f", x) : sprintf("%.1f", x) }
function best(t, s, th,   i, x, b) {
	b = ""
	for (i = 2; i <= na; i++) {
		if (A[i] == "nbmalloc") continue
		x = cell(A[i], t, s, th)
		if (x != "" && (b == "" || x + 0 < b + 0)) b = x
	}
	return b
}
function ibest(t, s,   i, x, b) {
	b = ""
	for (i = 2; i <= na; i++) {
		if (A[i] == "nbmalloc") continue
		x = ins[A[i], t, s]
		if (x != "" && (b == "" || x + 0 < b + 0)) b = x
	}
	return b
}
function header(first,   i, line, sep) {
	line = "| " first " |"; sep = "|---|"
	for (i = 1; i <= na; i++) {
		line = line " " A[i] " |"; sep = sep "---:|"
	}
	print line; print sep
}
function trow(label, t, s, th,   i, x, b, line) {
	b = best(t, s, th)
	line = "| " label " |"
	for (i = 1; i <= na; i++) {
		x = cell(A[i], t, s, th)
		if (x == "") line = line " - |"
		else if (b > 0) line = line sprintf(" %s (%.2fx) |", fmt(x), x / b)
		else line = line " " fmt(x) " |"
	}
	print line
}
function irow(label, t, s,   i, x, b, line) {
	b = ibest(t, s)
	line = "| " label " |"
	for (i = 1; i <= na; i++) {
		x = ins[A[i], t, s]
		if (x == "") line = line " - |"
		else if (b > 0) line = line sprintf(" %.0f (%.2fx) |", x, x / b)
		else line = line sprintf(" %.0f |", x)
	}
	print line
}
END {
	na = split(ALLOCS, A, " ")
	ns = split(SIZES, S, " ")
	for (th = 1; th <= 2; th++) {
		print "kmem_alloc/kmem_free (nbmem) against malloc/free, " th \
		    " thread" (th > 1 ? "s" : "") "; ns per pair (wall time " \
		    "over all pairs), median; in brackets the ratio to the " \
		    "fastest peer; nbmalloc: the malloc library of nbmem"
		print ""
		header("test, size")
		for (i = 1; i <= ns; i++)
			trow("pair " S[i], "pair", S[i], th)
		trow("mix", "mix", 0, th)
		trow("rand", "rand", 0, th)
		print ""
	}
	ni = 0
	for (k in ins) ni++
	if (ni > 0) {
		print "Instructions per pair (callgrind, 100,000 pairs; no " \
		    "rseq under valgrind: nbmem uses per-thread caches there)"
		print ""
		header("test, size")
		for (i = 1; i <= ns; i++) irow("pair " S[i], "pair", S[i])
		irow("mix", "mix", 0)
		irow("rand", "rand", 0)
		print ""
	}
	print "Goal: below the fastest peer under 4 KiB, no slower above:"
	for (i = 1; i <= ns; i++) {
		x = cell("nbmem", "pair", S[i], 1); b = best("pair", S[i], 1)
		if (x == "" || b == "") continue
		lim = S[i] + 0 < 4096 ? 1.0 : 1.05
		printf "- %s: %.2fx %s\n", S[i], x / b,
		    (x / b < lim ? "met" : "NOT met")
	}
}' "$raw"
echo ""
echo "raw results: $raw"

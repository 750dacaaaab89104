#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# Run the vmem benchmarks of a Release build tree; print a markdown table
# and keep the raw lines under bench/results/.
#
# Usage: bench/scripts/run.sh [BUILD]     (default build-release)
# Environment: LIVES="10 1000 100000 1000000"  populations to measure
#              CALLGRIND=0                     skip instruction counts
set -eu

build=${1:-build-release}
here=$(cd "$(dirname "$0")" && pwd)
results=$(cd "$here/.." && pwd)/results
bin=$build/bench/vmem_bench
lives=${LIVES:-10 1000 100000 1000000}
[ -x "$bin" ] || { echo "run.sh: no $bin (make bench builds it)" >&2; exit 1; }

mkdir -p "$results"
raw=$results/vmem-$(date +%Y%m%d-%H%M%S)-$(hostname -s 2>/dev/null ||
    echo host).txt
livelist=$(echo $lives | tr ' ' ',')

echo "vmem_bench: timing (live = $lives) ..." >&2
"$bin" live="$livelist" >"$raw"

if [ "${CALLGRIND:-1}" != 0 ] && command -v valgrind >/dev/null; then
	for l in $lives; do
		echo "vmem_bench: callgrind, live = $l ..." >&2
		sh "$here/callgrind.sh" "$build" op=pair fit=instant live="$l" \
		    >>"$raw"
		sh "$here/callgrind.sh" "$build" op=pair fit=best live="$l" \
		    >>"$raw"
		sh "$here/callgrind.sh" "$build" op=free live="$l" >>"$raw"
	done
	# Where an instant-fit pair spends its instructions.
	sh "$here/callgrind.sh" -a "$build" op=pair fit=instant live=1000 |
	    sed -n 's/^# //p' >"$raw.hot"
	sed 's/^/# /' "$raw.hot" >>"$raw"
	rm -f "$raw.hot"
else
	echo "vmem_bench: valgrind missing or CALLGRIND=0: no instruction" \
	    "counts" >&2
fi

awk '
function kv(key,   i) {
	for (i = 2; i <= NF; i++)
		if (index($i, key "=") == 1)
			return substr($i, length(key) + 2)
	return ""
}
$1 == "vmem_pair" && kv("size") == 64 {
	ns[kv("live"), kv("fit")] = kv("ns_per_pair"); seen[kv("live")] = 1
}
$1 == "vmem_pair" && kv("size") != 64 {
	ns2[kv("live"), kv("fit")] = kv("ns_per_pair"); size2 = kv("size")
}
$1 == "vmem_free" { fr[kv("live"), kv("kind")] = kv("ns_per_free") }
$1 == "vmem_instr" && kv("op") == "pair" {
	ins[kv("live"), kv("fit")] = kv("instr_per_op")
}
$1 == "vmem_instr" && kv("op") == "free" {
	insf[kv("live")] = kv("instr_per_op")
}
$1 == "malloc_pair" && kv("size") == 64 { mal = kv("ns_per_pair") }
/^# top functions/ { hot = 1 }
hot && /^#/ { hotl[++nhot] = substr($0, 3) }
function v(x) { return x == "" ? "-" : x }
END {
	n = split(LIVES, L, " ")
	print "vmem, 64-byte requests, quantum 16, thread-safe IPL_NONE " \
	    "arena, no quantum caches (ns: median of 11; instr: callgrind)"
	print ""
	print "| live segments | instant ns | best ns | instant instr | " \
	    "best instr | free ns (fresh) | free ns (random live) | " \
	    "free instr |"
	print "|---:|---:|---:|---:|---:|---:|---:|---:|"
	for (i = 1; i <= n; i++) {
		l = L[i]
		printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", l,
		    v(ns[l, "instant"]), v(ns[l, "best"]),
		    v(ins[l, "instant"]), v(ins[l, "best"]),
		    v(fr[l, "fresh"]), v(fr[l, "random"]), v(insf[l])
	}
	if (size2 != "") {
		print ""
		printf "| live segments | instant ns (%s B) | best ns (%s B) |\n",
		    size2, size2
		print "|---:|---:|---:|"
		for (i = 1; i <= n; i++)
			printf "| %s | %s | %s |\n", L[i],
			    v(ns2[L[i], "instant"]), v(ns2[L[i], "best"])
	}
	print ""
	if (mal != "")
		printf "system malloc(64)/free pair: %s ns\n\n", mal
	lo = L[1]; hi = L[n]
	if (ns[lo, "instant"] > 0 && ns[hi, "instant"] != "") {
		r = ns[hi, "instant"] / ns[lo, "instant"]
		printf "- instant fit at %s live / at %s live: %.2fx " \
		    "(goal <= 1.3x): %s\n", hi, lo, r,
		    r <= 1.3 ? "met" : "NOT met"
	}
	if (ins[1000, "instant"] != "") {
		printf "- instant-fit pair at 1000 live: %s instructions " \
		    "(goal < 340): %s\n", ins[1000, "instant"],
		    ins[1000, "instant"] < 340 ? "met" : "NOT met"
	}
	fmin = ""; fmax = ""
	for (i = 1; i <= n; i++) {
		x = insf[L[i]]
		if (x == "") continue
		if (fmin == "" || x + 0 < fmin) fmin = x + 0
		if (fmax == "" || x + 0 > fmax) fmax = x + 0
	}
	if (fmin > 0)
		printf "- free instructions, largest / smallest population: " \
		    "%.2fx (O(1) frees: %s)\n", fmax / fmin,
		    fmax / fmin <= 1.3 ? "yes" : "NO"
	if (nhot > 0) {
		print ""
		for (i = 1; i <= nhot; i++)
			print "    " hotl[i]
	}
}' LIVES="$lives" "$raw"
echo ""
echo "raw results: $raw"
echo "" && sh "$here/cache.sh" "$build"
echo "" && sh "$here/kmem.sh" "$build"
if [ -x "$build/bench/debug_bench" ]; then
	echo "" && echo "debug_bench: the cost of each NBMEM_DEBUG mode ..." >&2
	"$build/bench/debug_bench" | tee "$results/debug-$(date \
	    +%Y%m%d-%H%M%S)-$(hostname -s 2>/dev/null || echo host).txt" |
	    sed -n '/^|/p'
fi
# Whole programs under each allocator's malloc (LD_PRELOAD): nbmem's drop-in
# library when the build has it, reported as missing otherwise.
echo "" && sh "$here/macro.sh" "$build"

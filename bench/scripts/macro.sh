#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# The macro benchmarks (bench/macro) under nbmem's malloc, the C
# library's, jemalloc, tcmalloc and mimalloc: median wall time and peak
# resident memory of every workload, as ratios to the C library's malloc,
# with their geometric means; raw lines and a PNG plot under
# bench/results/.
#
# Usage: bench/scripts/macro.sh [BUILD]     (default build-release)
# Environment: ROUNDS=3      every workload runs ROUNDS times under every
#                            allocator, rounds interleaved; medians
#              QUICK=1       one round at a fifth of the work (a smoke
#                            run; the figures are rough)
#              SCALE=X       multiply the work of every workload
#              ALLOCS="nbmem glibc jemalloc tcmalloc mimalloc"
#              WORKLOADS="larson-2t churn ..."   a subset (labels below)
#              PLOT=0        no plot
#              TIMEOUT=60    seconds before a run is killed (and
#                            recorded as failed)
#              RESULTS=DIR   where the raw lines, the tables and the plot
#                            go (bench/results by default)
#              NBMEM_MALLOC=PATH   nbmem's library, if not
#                            BUILD/libnbmem_malloc.so
#
# The workloads link nothing but libc; each allocator comes in with
# LD_PRELOAD: BUILD/libnbmem_malloc.so for nbmem, Debian's libraries for
# the peers (scripts/deps.sh bench installs them).  An allocator whose
# library is missing is reported as missing, and the others still run.
set -eu

build=${1:-build-release}
here=$(cd "$(dirname "$0")" && pwd)
awk_lib=$(cat "$here/lib.awk")		# kv(), med()
top=$(cd "$here/../.." && pwd)
results=${RESULTS:-$top/bench/results}
bin=$build/bench/macro
rounds=${ROUNDS:-3}
scale=${SCALE:-1}
timeout=${TIMEOUT:-60}
if [ "${QUICK:-0}" != 0 ]; then
	rounds=${ROUNDS:-1}
	scale=${SCALE:-0.2}
	timeout=${TIMEOUT:-20}
fi
[ -x "$bin/macro_run" ] || {
	echo "macro.sh: no $bin/macro_run (make bench builds it)" >&2
	exit 1
}
build=$(cd "$build" && pwd)
bin=$build/bench/macro

# label program arguments: one line per workload run.
all_workloads='larson-1t larson threads=1
larson-2t larson threads=2
xmalloc-2t xmalloc threads=2
cache-scratch-1t cache_scratch threads=1
cache-scratch-2t cache_scratch threads=2
cache-thrash-1t cache_thrash threads=1
cache-thrash-2t cache_thrash threads=2
churn churn
mstress-1t mstress threads=1
mstress-2t mstress threads=2
realloc realloc
large-1t large threads=1
large-2t large threads=2
growshrink growshrink'
if [ -n "${WORKLOADS:-}" ]; then
	workloads=$(echo "$all_workloads" | awk -v W=" $WORKLOADS " \
	    'index(W, " " $1 " ") > 0')
else
	workloads=$all_workloads
fi
[ -n "$workloads" ] || { echo "macro.sh: no workload selected" >&2; exit 1; }

# The peers' libraries: Debian's multiarch directory first.
arch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
findlib() {
	for n in "$@"; do
		for d in /usr/lib/$arch /usr/lib64 /usr/lib /usr/local/lib; do
			if [ -f "$d/$n" ]; then
				echo "$d/$n"
				return 0
			fi
		done
	done
	return 1
}
# Install what is missing of the peers asked for, and gnuplot.
want_alloc() {
	case " ${ALLOCS:-nbmem glibc jemalloc tcmalloc mimalloc} " in
	*" $1 "*) return 0 ;;
	esac
	return 1
}
need=0
want_alloc jemalloc && ! findlib libjemalloc.so.2 >/dev/null && need=1
want_alloc tcmalloc && ! findlib libtcmalloc_minimal.so.4 \
    libtcmalloc.so.4 >/dev/null && need=1
want_alloc mimalloc && ! findlib libmimalloc.so.2 >/dev/null && need=1
[ "${PLOT:-1}" != 0 ] && ! command -v gnuplot >/dev/null && need=1
if [ "$need" = 1 ]; then
	sh "$top/scripts/deps.sh" bench ||
	    echo "macro.sh: could not install every peer: running those" \
	    "there are" >&2
fi

libof() {
	case $1 in
	nbmem) lib=${NBMEM_MALLOC:-$build/libnbmem_malloc.so}
	    [ -f "$lib" ] && echo "$lib" ;;
	glibc) echo "-" ;;
	jemalloc) findlib libjemalloc.so.2 ;;
	tcmalloc) findlib libtcmalloc_minimal.so.4 libtcmalloc.so.4 ;;
	mimalloc) findlib libmimalloc.so.2 ;;
	*) return 1 ;;
	esac
}

allocs=""
missing=""
for a in ${ALLOCS:-nbmem glibc jemalloc tcmalloc mimalloc}; do
	if lib=$(libof "$a") && [ -n "$lib" ]; then
		allocs="$allocs $a"
	else
		missing="$missing $a"
		echo "macro.sh: $a: no library: reported as missing" >&2
	fi
done
case " $allocs " in
*" glibc "*) ;;
*) echo "macro.sh: glibc must be among ALLOCS (the ratios are to it)" >&2
   exit 1 ;;
esac

mkdir -p "$results"
stamp=$(date +%Y%m%d-%H%M%S)-$(hostname -s 2>/dev/null || echo host)
raw=$results/macro-$stamp.txt
md=$results/macro-$stamp.md
png=$results/macro-$stamp.png
{
	echo "# macro.sh: rounds $rounds, scale $scale, $(nproc) CPUs," \
	    "load average $(cut -d' ' -f1-3 /proc/loadavg)"
	for a in $allocs; do
		echo "# alloc $a $(libof "$a")"
	done
	for a in $missing; do
		echo "# alloc $a missing"
	done
} >"$raw"

# One run: the workload's closing line and macro_run's, joined into one
# raw line; the growshrink samples of the first round are kept for the
# plot.  A run that fails is recorded with its status and left out.
out=$(mktemp)
trap 'rm -f "$out"' EXIT
run_one() {	# alloc round label program arguments...
	a=$1 r=$2 label=$3 prog=$4
	shift 4
	lib=$(libof "$a")
	if [ "$lib" = "-" ]; then
		set -- "$bin/macro_run" -t "$timeout" -- "$bin/macro_$prog" \
		    scale="$scale" "$@"
	else
		set -- "$bin/macro_run" -t "$timeout" -p "$lib" -- \
		    "$bin/macro_$prog" scale="$scale" "$@"
	fi
	if "$@" >"$out" 2>&1 && grep -q '^macro_result ' "$out"; then
		res=$(sed -n 's/^macro_result //p' "$out" | tail -1)
		run=$(sed -n 's/^macro_run //p' "$out" | tail -1)
		echo "macro label=$label alloc=$a round=$r $run $res" >>"$raw"
		if [ "$r" = 1 ]; then
			sed -n "s/^macro_rss /&label=$label alloc=$a /p" \
			    "$out" >>"$raw"
		fi
	else
		echo "macro.sh: $label under $a failed:" >&2
		tail -5 "$out" >&2
		echo "macro_fail label=$label alloc=$a round=$r" >>"$raw"
	fi
}

r=1
while [ "$r" -le "$rounds" ]; do
	echo "$workloads" | while read -r label prog args; do
		echo "macro: $label, round $r of $rounds:$allocs" >&2
		for a in $allocs; do
			# shellcheck disable=SC2086
			run_one "$a" "$r" "$label" "$prog" $args </dev/null
		done
	done
	r=$((r + 1))
done
echo "# load average after $(cut -d' ' -f1-3 /proc/loadavg)" >>"$raw"

labels=$(echo "$workloads" | awk '{ printf "%s ", $1 }')
dat=$(mktemp)
trap 'rm -f "$out" "$dat" "$dat.rss"' EXIT
load0=$(sed -n 's/.*load average \([0-9.]*\).*/\1/p' "$raw" | head -1)
awk -v ALLOCS="$allocs" -v MISSING="$missing" -v LABELS="$labels" \
    -v DAT="$dat" -v LOAD="$load0" -v NCPU="$(nproc)" "$awk_lib"'
# (Not arr[k] = (k in arr) ? ...: mawk creates arr[k] before the test.)
function add(arr, k, x) {
	if (k in arr)
		arr[k] = arr[k] "," x
	else
		arr[k] = x
}
$1 == "macro" {
	k = kv("label") SUBSEP kv("alloc")
	add(wall, k, kv("wall_s")); add(rss, k, kv("maxrss_kb"))
	if (kv("rss_low_kb") != "") add(low, k, kv("rss_low_kb"))
	nrun[k]++
}
$1 == "macro_fail" { fail[kv("label"), kv("alloc")]++ }
$1 == "macro_rss" {
	printf "%s %s %s %s\n", kv("alloc"), kv("step") / 1e6,
	    kv("rss_kb") / 1024, kv("live_kb") / 1024 >(DAT ".rss")
}
function cell(arr, l, a,   k) {
	k = l SUBSEP a
	return (k in arr) ? med(arr[k]) : ""
}
function header(first,   i, line, sep) {
	line = "| " first " |"; sep = "|---|"
	for (i = 1; i <= na; i++) {
		line = line " " A[i] " |"; sep = sep "---:|"
	}
	for (i = 1; i <= nm; i++) {
		line = line " " M[i] " |"; sep = sep "---:|"
	}
	print line; print sep
}
# One table: the C library in its unit, every other allocator as a ratio
# to it; geometric means of the ratios at the bottom.
function table(arr, what, unit, div,   i, j, l, x, g, line) {
	header("workload")
	for (j = 1; j <= na; j++) { lsum[j] = 0; lcnt[j] = 0 }
	for (i = 1; i <= nl; i++) {
		l = L[i]
		g = cell(arr, l, "glibc")
		line = "| " l " |"
		for (j = 1; j <= na; j++) {
			x = cell(arr, l, A[j])
			if (x == "" && ((l, A[j]) in fail))
				line = line " failed |"
			else if (x == "")
				line = line " - |"
			else if (A[j] == "glibc")
				line = line sprintf(" %.3g %s |", x / div, unit)
			else if (g > 0) {
				line = line sprintf(" %.2f |", x / g)
				lsum[j] += log(x / g); lcnt[j]++
				R[what, l, A[j]] = x / g
			}
		}
		for (j = 1; j <= nm; j++) line = line " missing |"
		print line
	}
	line = "| **geometric mean** |"
	for (j = 1; j <= na; j++) {
		if (A[j] == "glibc") { line = line " 1 |"; continue }
		if (lcnt[j] == 0) { line = line " - |"; continue }
		G[what, A[j]] = exp(lsum[j] / lcnt[j])
		N[what, A[j]] = lcnt[j]
		line = line sprintf(" **%.3f** |", G[what, A[j]])
	}
	for (j = 1; j <= nm; j++) line = line " missing |"
	print line
}
END {
	na = split(ALLOCS, A, " ")
	nm = split(MISSING, M, " ")
	nl = split(LABELS, L, " ")
	nr = 0
	for (k in nrun) if (nrun[k] > nr) nr = nrun[k]
	print "Macro benchmarks: wall time, median of " nr " run" \
	    (nr > 1 ? "s" : "") "; glibc in seconds, the others as a " \
	    "ratio to glibc (below 1 is faster); " NCPU " CPUs, load " \
	    "average " LOAD " at the start"
	print ""
	table(wall, "time", "s", 1)
	print ""
	print "Peak resident memory (ru_maxrss), median; glibc in MiB, the " \
	    "others as a ratio to glibc (below 1 is smaller)"
	print ""
	table(rss, "rss", "MiB", 1024)
	has_low = 0
	for (j = 1; j <= na; j++)
		if (cell(low, "growshrink", A[j]) != "") has_low = 1
	if (has_low) {
		print ""
		print "growshrink: resident memory at the low points of the " \
		    "live set (a tenth of the peak), MiB, median"
		print ""
		line = "|"; sep = "|"
		for (j = 1; j <= na; j++) {
			line = line " " A[j] " |"; sep = sep "---:|"
		}
		print line; print sep
		line = "|"
		for (j = 1; j <= na; j++) {
			x = cell(low, "growshrink", A[j])
			line = line (x == "" ? " - |" : \
			    sprintf(" %.1f |", x / 1024))
		}
		print line
	}
	# Scaling: every thread does the same work in the 1t and 2t runs, so
	# on two idle cores a perfect allocator takes as long with two.
	line = ""
	for (i = 1; i <= nl; i++) {
		if (L[i] !~ /-1t$/) continue
		l2 = substr(L[i], 1, length(L[i]) - 3) "-2t"
		row = "| " substr(L[i], 1, length(L[i]) - 3) " |"; any = 0
		for (j = 1; j <= na; j++) {
			x1 = cell(wall, L[i], A[j]); x2 = cell(wall, l2, A[j])
			if (x1 > 0 && x2 != "") {
				row = row sprintf(" %.2f |", x2 / x1); any = 1
			} else
				row = row " - |"
		}
		if (any) line = line row "\n"
	}
	if (line != "") {
		print ""
		print "Two threads against one, each thread doing the same " \
		    "work: wall time with two / with one (1.00 is perfect " \
		    "scaling on two idle cores)"
		print ""
		row = "| workload |"; sep = "|---|"
		for (j = 1; j <= na; j++) {
			row = row " " A[j] " |"; sep = sep "---:|"
		}
		print row; print sep
		printf "%s", line
	}
	print ""
	print "Goals (geometric means over the workloads):"
	if (("time", "nbmem") in G) {
		ok = 1; line = ""
		for (j = 1; j <= na; j++) {
			if (A[j] == "nbmem" || A[j] == "glibc") continue
			if (!(("time", A[j]) in G)) continue
			line = line sprintf(" %s %.3f;", A[j], G["time", A[j]])
			if (G["time", "nbmem"] >= G["time", A[j]]) ok = 0
		}
		if (G["time", "nbmem"] >= 1) ok = 0
		printf "- time below every peer: nbmem %.3f vs glibc 1;%s " \
		    "%s\n", G["time", "nbmem"], line, ok ? "met" : "NOT met"
		printf "- peak RSS no higher than glibc: nbmem %.3f: %s\n",
		    G["rss", "nbmem"], G["rss", "nbmem"] <= 1 ? "met" : \
		    "NOT met"
		if (N["time", "nbmem"] < nl)
			printf "  (nbmem ran %d of %d workloads)\n",
			    N["time", "nbmem"], nl
	} else {
		print "- nbmem: missing (no libnbmem_malloc.so in the build " \
		    "tree, or every run failed): not measured"
	}
	# Data for the plot: one row per workload, one column per allocator.
	for (w = 1; w <= 2; w++) {
		what = w == 1 ? "time" : "rss"
		printf "workload" >DAT
		for (j = 1; j <= na; j++)
			if (A[j] != "glibc") printf " %s", A[j] >DAT
		printf "\n" >DAT
		for (i = 1; i <= nl; i++) {
			printf "%s", L[i] >DAT
			for (j = 1; j <= na; j++) {
				if (A[j] == "glibc") continue
				x = "NaN"
				if ((what, L[i], A[j]) in R)
					x = R[what, L[i], A[j]]
				printf " %s", x >DAT
			}
			printf "\n" >DAT
		}
		printf "geomean" >DAT
		for (j = 1; j <= na; j++) {
			if (A[j] == "glibc") continue
			x = "NaN"
			if ((what, A[j]) in G) x = G[what, A[j]]
			printf " %s", x >DAT
		}
		printf "\n\n\n" >DAT
	}
}' "$raw" | tee "$md"

if [ "${PLOT:-1}" != 0 ] && command -v gnuplot >/dev/null; then
	ncol=$(head -1 "$dat" | awk '{ print NF }')
	rssplot=""
	if [ -s "$dat.rss" ]; then
		rssplot="set title 'growshrink: resident set and live bytes'
set xlabel 'million steps'; set ylabel 'MiB'; set style data lines
set key top right
plot"
		sep=""
		for a in $allocs; do
			rssplot="$rssplot$sep '< grep \"^$a \" $dat.rss'"
			rssplot="$rssplot using 2:3 title '$a'"
			sep=","
		done
		# The live bytes are the same under every allocator.
		rssplot="$rssplot, '< grep \"^glibc \" $dat.rss' using 2:4"
		rssplot="$rssplot title 'live (requested)' lc 'black' dt 2"
	fi
	gnuplot 2>&1 <<EOF || echo "macro.sh: gnuplot failed: no plot" >&2
set terminal pngcairo size 1400,1500 font ',10'
set output '$png'
set multiplot layout 3,1 \\
    title 'nbmem macro benchmarks: ratios to glibc malloc (below 1 is better)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key top left horizontal
set yrange [0:*]
set offsets 0, 0, graph 0.12, 0
set grid ytics
set xtics rotate by -30 nomirror
set title 'wall time / glibc (median)'
plot for [c=2:$ncol] '$dat' index 0 using c:xtic(1) title columnheader(c), \\
    1 with lines lc 'black' dt 2 notitle
set title 'peak RSS / glibc (median)'
plot for [c=2:$ncol] '$dat' index 1 using c:xtic(1) title columnheader(c), \\
    1 with lines lc 'black' dt 2 notitle
set xtics norotate
set offsets 0, 0, graph 0.15, 0
$rssplot
unset multiplot
EOF
	[ -f "$png" ] && echo "" && echo "plot: $png"
fi
echo ""
echo "raw results: $raw (tables: $md)"

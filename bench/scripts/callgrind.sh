#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# Instructions per vmem operation, counted by callgrind.
#
# Usage: bench/scripts/callgrind.sh [-a] BUILD [op=pair|free]
#            [fit=instant|best] live=N [n=N] [size=N]
#   BUILD  a Release build tree (holds bench/vmem_bench)
#   op     pair: n alloc/free pairs (default); free: n frees of random
#          live segments (at most half of them)
#   -a     also print the top functions (callgrind_annotate, exclusive)
# Prints one line, e.g.
#   vmem_instr op=pair fit=instant size=64 live=1000 n=100000 instr_per_op=N
#
# vmem_bench --callgrind builds the population and then runs the
# operations inside one marker function; only that function and its
# callees are counted (--toggle-collect).  The loop's own few
# instructions per operation are included.
set -eu

annotate=0
if [ "${1:-}" = "-a" ]; then
	annotate=1
	shift
fi
[ $# -ge 2 ] || { sed -n '3,13p' "$0" >&2; exit 2; }
build=$1
shift
op=pair n=100000
for a in "$@"; do
	case $a in
	op=*) op=${a#op=} ;;
	n=*) n=${a#n=} ;;
	esac
done
case $op in
pair) marker=bench_marked_pairs ;;
free) marker=bench_marked_frees ;;
*) echo "callgrind.sh: op must be pair or free" >&2; exit 2 ;;
esac
bin=$build/bench/vmem_bench
[ -x "$bin" ] || { echo "callgrind.sh: no $bin" >&2; exit 1; }
command -v valgrind >/dev/null ||
    { echo "callgrind.sh: valgrind is not installed" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# Built with the client requests, the program switches instrumentation on
# only around the marked region, which spares the slow setup.
atstart=""
if "$bin" --callgrind live=1 n=0 | grep -q 'client_requests=1'; then
	atstart="--instr-atstart=no"
fi
# shellcheck disable=SC2086
valgrind --tool=callgrind $atstart --toggle-collect="$marker" \
    --callgrind-out-file="$tmp/cg.out" "$bin" --callgrind "$@" n="$n" \
    >"$tmp/stdout" 2>"$tmp/stderr" || {
	cat "$tmp/stderr" >&2
	exit 1
}
region=$(sed -n 's/^callgrind_region //p' "$tmp/stdout")
[ -n "$region" ] || { cat "$tmp/stdout" "$tmp/stderr" >&2; exit 1; }
# "totals:" is what was collected ("summary:" may be 0 when
# instrumentation starts late).
ir=$(awk '/^totals:/ { t = $2 } /^summary:/ { s = $2 }
    END { print (t != "" ? t : s) }' "$tmp/cg.out")
[ -n "$ir" ] || { echo "callgrind.sh: no totals in output" >&2; exit 1; }
# The program may have lowered n (op=free); take its word.
echo "$region" | awk -v ir="$ir" '{
	n = 0
	for (i = 1; i <= NF; i++)
		if ($i ~ /^n=/)
			n = substr($i, 3)
	printf "vmem_instr %s instr_per_op=%.1f\n", $0, (n > 0 ? ir / n : 0)
}'
if [ "$annotate" = 1 ]; then
	echo "# top functions by own instructions ($region):"
	callgrind_annotate --inclusive=no "$tmp/cg.out" 2>/dev/null |
	    awk '/file:function/ { f = 1; next } f && NF == 0 { exit }
		f && !/^-+$/ { print "#   " $0 }' | head -12
fi

#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# Regenerate src/malloc/hot.ld: the functions a running program enters,
# which the libraries place together at the start of their text (see
# the comment at the top of hot.ld for why).
#
# Usage: sh scripts/hot-text.sh BENCHBUILD [BUILD...]
#   BENCHBUILD  a build with the benchmarks (make bench's build-release):
#               its bench/macro programs are the workloads, and its
#               libnbmem_malloc.so is profiled
#   BUILD       more builds whose library is profiled too, so that the
#               functions their options add are listed (make check's
#               build, with NBMEM_SANITY)
#
# Two sources, because valgrind does not run restartable sequences:
# callgrind on each build's library sees the per-thread mode with the
# build's own function names; a copy built with -finstrument-functions
# (and scripts/hot-text-hooks.c) records what the per-CPU mode enters.
# Each workload runs at a small scale in both modes, and so does the
# preload tests' helper; python3 and perl, when present, add what real
# programs do beyond them (fork, realloc, memalign).  A function is
# listed once, without the suffix of a compiler clone (.constprop.0,
# .part.0), and the list is sorted by the number of runs that entered
# it, the most common first.
set -eu
[ $# -ge 1 ] || { sed -n 7,13p "$0" >&2; exit 2; }
src=$(cd "$(dirname "$0")/.." && pwd)
bench=$(cd "$1" && pwd)
shift
macro=$bench/bench/macro
[ -x "$macro/macro_larson" ] || {
	echo "hot-text.sh: no benchmarks in $bench" >&2
	exit 1
}
command -v valgrind >/dev/null || {
	echo "hot-text.sh: needs valgrind" >&2
	exit 1
}
# The preload tests' plain program (tests/shim/helper), from the
# first build that has it: tests/shim/t_hot_text runs it.
helper=""
for b in "$bench" "$@"; do
	if [ -x "$b/tests/shim/helper" ]; then
		helper=$(cd "$b" && pwd)/tests/shim/helper
		break
	fi
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/names"

workloads='larson threads=1 scale=0.05
larson threads=2 scale=0.05
xmalloc threads=2 scale=0.05
cache_scratch threads=2 scale=0.05
cache_thrash threads=1 scale=0.05
churn scale=0.05
mstress threads=2 scale=0.05
realloc scale=0.05
large threads=2 scale=0.05
growshrink scale=0.05'

# run LIB [WRAPPER...]: every workload and program once with the
# library preloaded, under the wrapper (valgrind) when one is given.
run()
{
	lib=$1
	shift
	echo "$workloads" | while read -r w args; do
		LD_PRELOAD=$lib timeout 900 "$@" "$macro/macro_$w" $args \
		    >/dev/null 2>&1 </dev/null ||
		    echo "hot-text.sh: $w failed" >&2
	done
	if [ -n "$helper" ]; then
		LD_PRELOAD=$lib timeout 900 "$@" "$helper" churn \
		    >/dev/null 2>&1 </dev/null ||
		    echo "hot-text.sh: helper churn failed" >&2
	fi
	if command -v python3 >/dev/null; then
		LD_PRELOAD=$lib timeout 900 "$@" python3 -c '
import json, re, subprocess
d = {str(i): [i] * (i % 50) for i in range(20000)}
s = json.dumps(d)
assert json.loads(s) == d
re.findall(r"\d+", s)
subprocess.run(["true"])' >/dev/null 2>&1 </dev/null ||
		    echo "hot-text.sh: python3 failed" >&2
	fi
	if command -v perl >/dev/null; then
		LD_PRELOAD=$lib timeout 900 "$@" perl -e '
my %h; $h{$_} = "x" x ($_ % 300) for 1..50000;
my $s = join ",", %h; system("true");' >/dev/null 2>&1 </dev/null ||
		    echo "hot-text.sh: perl failed" >&2
	fi
}

# One file of names per process.
k=0
for b in "$bench" "$@"; do
	k=$((k + 1))
	lib=$(cd "$b" && pwd)/libnbmem_malloc.so
	[ -f "$lib" ] || { echo "hot-text.sh: no $lib" >&2; exit 1; }
	echo "hot-text.sh: callgrind on $lib"
	mkdir "$tmp/cg$k"
	run "$lib" valgrind --tool=callgrind \
	    --callgrind-out-file="$tmp/cg$k/%p.out"
	for f in "$tmp/cg$k"/*.out; do
		# "N (x%)  file:function [object]", this library's only;
		# "function'2" is a recursion level of the same function.
		callgrind_annotate --threshold=100 "$f" 2>/dev/null |
		    grep -F "[$lib]" | sed "s/ \\[.*//; s/.*[: ]//; s/'[0-9]*\$//" \
		    >"$tmp/names/cg$k-$(basename "$f" .out)"
	done
done

# The per-CPU mode: an instrumented copy of the library.
echo "hot-text.sh: the per-CPU mode, instrumented"
cc=${CC:-cc}
$cc -O2 -fPIC -c "$src/scripts/hot-text-hooks.c" -o "$tmp/hooks.o"
cmake -S "$src" -B "$tmp/inst" -DCMAKE_BUILD_TYPE=Release \
    -DNBMEM_TESTS=OFF -DNBMEM_BENCH=OFF \
    -DCMAKE_C_FLAGS=-finstrument-functions \
    -DCMAKE_SHARED_LINKER_FLAGS="$tmp/hooks.o -ldl" >/dev/null
cmake --build "$tmp/inst" --target nbmem_malloc >/dev/null
mkdir "$tmp/inst-out"
for percpu in 1 0; do
	NBMEM_PERCPU=$percpu NBMEM_HOT_DIR=$tmp/inst-out \
	    run "$tmp/inst/libnbmem_malloc.so"
done
nm "$tmp/inst/libnbmem_malloc.so" | awk '$2 ~ /^[tT]$/ {print $1, $3}' \
    >"$tmp/inst-syms"
for f in "$tmp/inst-out"/*.txt; do
	awk 'NR == FNR { name[$1] = $2; next }
	    $1 in name { print name[$1] }' "$tmp/inst-syms" "$f" \
	    >"$tmp/names/inst-$(basename "$f" .txt)"
done

# Names without clone suffixes, counted over the runs.
for f in "$tmp/names"/*; do
	sed 's/\..*//' "$f" | sort -u
done | grep -v -e '^$' -e '^0x' | sort | uniq -c | sort -k1,1nr -k2,2 |
    awk '{print $2}' >"$tmp/list"
[ -s "$tmp/list" ] || { echo "hot-text.sh: nothing recorded" >&2; exit 1; }
for f in cg inst; do
	echo "hot-text.sh: $(cat "$tmp/names/$f"* | sort -u | wc -l)" \
	    "functions from $f"
done

out=$src/src/malloc/hot.ld
{
	sed -n '/^\/\*/,/^ \*\//p' "$out" 2>/dev/null
	# Constructors and destructors (.text.startup.*, .text.exit.*)
	# all run, and so do the C runtime's (crtbegin); the helpers of
	# static archives (libgcc's __popcountdi2, pthread_atfork) have
	# one .text each; the abort handlers of restartable sequences run
	# at any preemption.  Then a function and its clones, on one line
	# when that fits.
	echo "	*(.text.startup .text.startup.*)"
	echo "	*(.text.exit .text.exit.*)"
	echo "	*crtbegin*.o(.text .text.*)"
	echo "	*libgcc.a:(.text .text.*)"
	echo "	*libc_nonshared.a:(.text .text.*)"
	echo "	*(__rseq_failure)"
	awk '{ if (2 * length($1) + 20 <= 72)
		printf "\t*(.text.%s .text.%s.*)\n", $1, $1
	    else
		printf "\t*(.text.%s)\n\t*(.text.%s.*)\n", $1, $1 }' \
	    "$tmp/list"
	# Where the list ends (tests/shim/t_hot_text), a local symbol.
	echo "	HIDDEN(__nbmem_hot_end = .);"
} >"$out.new"
mv "$out.new" "$out"
echo "hot-text.sh: $(wc -l <"$tmp/list") functions in $out"

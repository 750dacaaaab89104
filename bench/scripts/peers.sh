# SPDX-License-Identifier: BSD-2-Clause
# Shared by cache.sh and kmem.sh (sourced, not run): one benchmark source
# built once per allocator as BUILD/bench/<prog>_<alloc>, timed in
# interleaved rounds, then counted under callgrind.  The caller sets
#   me      its own name, for messages (cache.sh)
#   prog    the program's prefix (cache_bench)
#   build   the Release build tree
# and calls, in order: peers_find, peers_raw KIND, peers_time, then
# peers_cg TAG ALLOC ARGS... for each instruction count it wants.

here=$(cd "$(dirname "$0")" && pwd)
# The awk functions the callers' table programs start with.
awk_lib=$(cat "$here/lib.awk")
results=$(cd "$here/.." && pwd)/results
rounds=${ROUNDS:-3}
repeats=${REPEATS:-3}

# allocs: the allocators whose program was built; nbmem's is required.
peers_find() {
	allocs=""
	for a in ${ALLOCS:-nbmem glibc jemalloc tcmalloc mimalloc}; do
		if [ -x "$build/bench/${prog}_$a" ]; then
			allocs="$allocs $a"
		else
			echo "$me: no $build/bench/${prog}_$a: left out" >&2
		fi
	done
	case " $allocs " in
	*" nbmem "*) ;;
	*) echo "$me: no $build/bench/${prog}_nbmem (make bench builds" \
	    "it)" >&2; exit 1 ;;
	esac
}

# raw: a new file of raw lines under bench/results/, KIND-date-host.txt.
peers_raw() {
	mkdir -p "$results"
	raw=$results/$1-$(date +%Y%m%d-%H%M%S)-$(hostname -s 2>/dev/null ||
	    echo host).txt
	echo "# $me: rounds $rounds, repeats $repeats, $(nproc) CPUs," \
	    "load average $(cut -d' ' -f1-3 /proc/loadavg)" >"$raw"
}

# Rounds go over all programs in turn, so that a slow spell of the
# machine spreads over all allocators.
peers_time() {
	r=1
	while [ "$r" -le "$rounds" ]; do
		for a in $allocs; do
			echo "${prog}_$a: round $r of $rounds ..." >&2
			"$build/bench/${prog}_$a" repeats="$repeats" >"$raw.part"
			if [ "$r" = 1 ]; then
				cat "$raw.part" >>"$raw"
			else
				grep -v '^#' "$raw.part" >>"$raw"
			fi
		done
		r=$((r + 1))
	done
	rm -f "$raw.part"
	echo "# load average after timing $(cut -d' ' -f1-3 /proc/loadavg)" \
	    >>"$raw"
}

# Instructions per pair: n operations inside bench_marked() only.  Prints
# the program's region line as "TAG ... instr_per_pair=N".
peers_cg() {	# tag, alloc, then the program's arguments
	tag=$1
	a=$2
	shift 2
	tmp=$(mktemp -d)
	valgrind --tool=callgrind --instr-atstart=no \
	    --toggle-collect=bench_marked --callgrind-out-file="$tmp/cg.out" \
	    "$build/bench/${prog}_$a" --callgrind "$@" \
	    >"$tmp/stdout" 2>"$tmp/stderr" || {
		cat "$tmp/stderr" >&2
		rm -rf "$tmp"
		return 1
	}
	ir=$(awk '/^totals:/ { t = $2 } /^summary:/ { s = $2 }
	    END { print (t != "" ? t : s) }' "$tmp/cg.out")
	sed -n 's/^# rseq: /# callgrind rseq: /p' "$tmp/stdout" | head -1
	sed -n 's/^callgrind_region //p' "$tmp/stdout" |
	    awk -v ir="$ir" -v tag="$tag" '{
		n = 0
		for (i = 1; i <= NF; i++)
			if ($i ~ /^n=/)
				n = substr($i, 3)
		printf "%s %s instr_per_pair=%.1f\n", tag, $0,
		    (n > 0 ? ir / n : 0)
	}'
	rm -rf "$tmp"
}

#! /usr/bin/atf-sh
# SPDX-License-Identifier: BSD-2-Clause
#
# t_macro: the macro benchmark workloads (bench/macro) still run: each
# one, with a tiny amount of work under the C library's malloc, exits 0
# and prints its closing line; macro_run measures a child and passes its
# failure on; bench/scripts/macro.sh turns runs into its tables.  No
# figure is checked.  Skipped in a build without the benchmarks
# (NBMEM_BENCH=OFF, as the sanitizer builds are).

NBMEM_SOURCE_DIR='@NBMEM_SOURCE_DIR@'
NBMEM_BINARY_DIR='@NBMEM_BINARY_DIR@'

LC_ALL=C
export LC_ALL
unset LD_PRELOAD

BIN=$NBMEM_BINARY_DIR/bench/macro

need_bench()
{
	[ -x "$BIN/macro_run" ] ||
	    atf_skip "no $BIN/macro_run: benchmarks not built"
}

# run_workload NAME ARGS...: one small run, checked.
run_workload()
{
	local name=$1

	shift
	[ -x "$BIN/macro_$name" ] || atf_fail "no $BIN/macro_$name"
	"$BIN/macro_$name" "$@" >out 2>err ||
	    atf_fail "macro_$name $*: exit $?: $(cat err)"
	grep -q "^macro_result workload=$name " out ||
	    atf_fail "macro_$name $*: no closing line: $(cat out err)"
}

# One test case per workload, each run with one and two threads where
# threads matter.
workload_case()
{
	local tc=$1

	atf_test_case "$tc"
	eval "${tc}_head() { atf_set descr 'macro_$2 runs: $3'; }"
	eval "${tc}_body() { need_bench; ${tc}_run; }"
	atf_add_test_case "$tc"
}

larson_run()
{
	run_workload larson scale=0.01 threads=1
	run_workload larson scale=0.01 threads=2
}
xmalloc_run()
{
	run_workload xmalloc scale=0.01 threads=1
	run_workload xmalloc scale=0.01 threads=2
}
cache_scratch_run()
{
	run_workload cache_scratch scale=0.01 threads=2 writes=1000
}
cache_thrash_run()
{
	run_workload cache_thrash scale=0.01 threads=2 writes=1000
}
churn_run()
{
	run_workload churn scale=0.01
}
mstress_run()
{
	run_workload mstress scale=0.01 threads=1
	run_workload mstress scale=0.01 threads=2
}
realloc_run()
{
	run_workload realloc scale=0.01
}
large_run()
{
	run_workload large scale=0.01 threads=2 max=1048576
}
growshrink_run()
{
	run_workload growshrink scale=0.01 sample=1000
	grep -q '^macro_rss step=1000 t_ms=[0-9.]* live_kb=[0-9]* ' out ||
	    atf_fail "growshrink printed no resident set sample"
	grep -q '^macro_rss step=2000 .* rss_kb=[1-9][0-9]*$' out ||
	    atf_fail "growshrink printed no resident set sample"
}

atf_test_case bad_argument
bad_argument_head()
{
	atf_set descr "a workload refuses an unknown or malformed argument"
}
bad_argument_body()
{
	need_bench
	atf_check -s exit:1 -e match:'unknown argument "bogus=1"' \
	    "$BIN/macro_churn" bogus=1
	atf_check -s exit:1 -e match:'want a positive number' \
	    "$BIN/macro_churn" scale=-1
	atf_check -s exit:1 -e match:'want 1 to' \
	    "$BIN/macro_larson" threads=0
}

atf_test_case runner
runner_head()
{
	atf_set descr "macro_run measures its child, passes its failure on" \
	    "and sets LD_PRELOAD for the child only"
}
runner_body()
{
	need_bench
	atf_check -s exit:0 -o match:'^macro_result workload=churn ' \
	    -o match:'^macro_run wall_s=[0-9.]+ maxrss_kb=[1-9][0-9]* ' \
	    -o match:' user_s=[0-9.]+ sys_s=[0-9.]+ status=0$' \
	    "$BIN/macro_run" -- "$BIN/macro_churn" scale=0.01
	atf_check -s exit:1 -e ignore -o match:'status=1$' \
	    "$BIN/macro_run" -- "$BIN/macro_churn" bogus=1
	atf_check -s exit:2 -e match:'macro_run: /nonexistent.so' \
	    "$BIN/macro_run" -p /nonexistent.so -- "$BIN/macro_churn"
	# The child sees the library asked for (the C library's own, which
	# changes nothing); the runner does not.
	libc=$(ldd "$BIN/macro_churn" | awk '$1 ~ /^libc\.so/ { print $3 }')
	[ -f "$libc" ] || atf_skip "no libc path from ldd"
	cat >env.sh <<'EOF'
echo "child LD_PRELOAD=$LD_PRELOAD"
EOF
	atf_check -s exit:0 -o match:"^child LD_PRELOAD=$libc\$" \
	    "$BIN/macro_run" -p "$libc" -- /bin/sh env.sh
	atf_check -s exit:0 -o match:'^child LD_PRELOAD=$' \
	    "$BIN/macro_run" -- /bin/sh env.sh
}

atf_test_case script
script_head()
{
	atf_set descr "bench/scripts/macro.sh runs a workload under glibc" \
	    "and prints the tables, reporting absent allocators as missing"
}
script_body()
{
	need_bench
	atf_check -s exit:0 -e ignore -o save:table \
	    env QUICK=1 SCALE=0.01 PLOT=0 RESULTS="$PWD/results" \
	    ALLOCS="glibc nosuch" WORKLOADS="churn larson-2t" \
	    sh "$NBMEM_SOURCE_DIR/bench/scripts/macro.sh" "$NBMEM_BINARY_DIR"
	grep -q '^| churn | [0-9.e+-]* s | missing |$' table ||
	    atf_fail "no churn row: $(cat table)"
	grep -q '^| larson-2t | [0-9.e+-]* MiB | missing |$' table ||
	    atf_fail "no larson-2t row: $(cat table)"
	grep -q '^| \*\*geometric mean\*\* | 1 | missing |$' table ||
	    atf_fail "no geometric mean row: $(cat table)"
	grep -q '^macro label=churn alloc=glibc round=1 wall_s=' \
	    results/macro-*.txt || atf_fail "no raw line"
}

atf_init_test_cases()
{
	workload_case larson larson "a server with cross-thread frees"
	workload_case xmalloc xmalloc "producers and consumers"
	workload_case cache_scratch cache_scratch "passive false sharing"
	workload_case cache_thrash cache_thrash "active false sharing"
	workload_case churn churn "small objects of mixed lifetimes"
	workload_case mstress mstress "random multi-threaded stress"
	workload_case realloc realloc "growing strings and vectors"
	workload_case large large "64 KiB to 8 MiB buffers"
	workload_case growshrink growshrink "a live set that rises and falls"
	atf_add_test_case bad_argument
	atf_add_test_case runner
	atf_add_test_case script
}

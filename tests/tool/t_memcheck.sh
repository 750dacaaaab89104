#! /usr/bin/atf-sh
# SPDX-License-Identifier: BSD-2-Clause
#
# t_memcheck: under Valgrind's memcheck the allocators describe their
# objects (nbvalgrind.h), so a use after free of a pool_cache object or
# of a kmem object is reported against the block the cache or kmem
# freed, and a leaked cache object is "definitely lost".  Under
# callgrind, which counts instructions for the benchmarks, the caches
# keep their normal per-CPU or per-thread fast path.  The planted bugs
# are the case c_memcheck of tests/api/t_debug_tools.

NBMEM_SOURCE_DIR='@NBMEM_SOURCE_DIR@'
NBMEM_BINARY_DIR='@NBMEM_BINARY_DIR@'

LC_ALL=C
export LC_ALL
unset NBMEM_DEBUG

PROG=$NBMEM_BINARY_DIR/tests/api/t_debug_tools

# Valgrind cannot run a sanitizer build; say so and skip.
skip_unusable()
{
	if grep -q '^NBMEM_SANITIZE:[A-Z]*=..*' \
	    "$NBMEM_BINARY_DIR/CMakeCache.txt" 2>/dev/null; then
		atf_skip "a sanitizer build: valgrind cannot run it"
	fi
	[ -x "$PROG" ] || atf_fail "$PROG not found: build the tests first"
}

# run_child TOOL-ARGS...: run c_memcheck under valgrind, its report
# without the ==PID== prefixes in vg.txt, one error per paragraph.
run_child()
{
	NBT_CHILD=1 valgrind "$@" --log-file=vg.raw "$PROG" -r child.res \
	    c_memcheck >child.out 2>child.err ||
	    { cat vg.raw child.err >&2; atf_fail "valgrind $*: exit status $?"; }
	sed 's/^==[0-9]*== \{0,1\}//' vg.raw >vg.txt
}

# report_has TEXT...: some paragraph of vg.txt holds every TEXT, in
# order (fixed strings).
report_has()
{
	awk -v want="$(printf '%s\n' "$@")" '
	BEGIN { n = split(want, w, "\n"); RS = "" }
	{
		at = 1
		for (i = 1; i <= n; i++) {
			k = index(substr($0, at), w[i])
			if (k == 0)
				next
			at += k + length(w[i]) - 1
		}
		found = 1
		exit
	}
	END { exit !found }' vg.txt ||
	    { cat vg.txt >&2; atf_fail "memcheck did not report: $*"; }
}

atf_test_case memcheck_reports
memcheck_reports_head()
{
	atf_set "descr" "memcheck reports a use after free of a pool_cache" \
	    "and of a kmem object against the freeing call, and a leaked" \
	    "cache object as definitely lost"
	atf_set "require.progs" "valgrind"
}
memcheck_reports_body()
{
	skip_unusable
	run_child --tool=memcheck --leak-check=full --num-callers=16
	# The freeing stack: the cache's put hook, then the caller (the
	# public entry points may be tail calls, absent from stacks; an
	# unoptimised build keeps every frame, hence room for 16).
	report_has "Invalid read of size 1" "uaf_cache" \
	    "is 8 bytes inside a block of size 40 free'd" "nbmem_pc_debug_put" \
	    "uaf_cache" "Block was alloc'd at" "nbmem_pc_debug_get"
	report_has "Invalid write of size 1" "uaf_kmem" \
	    "is 16 bytes inside a block of size 64 free'd" "kmem_debug_free" \
	    "uaf_kmem" "Block was alloc'd at" "kmem_debug_alloc" "uaf_kmem"
	report_has "40 bytes in 1 blocks are definitely lost" \
	    "nbmem_pc_debug_get" "leak_one"
	# The classes below 64 bytes and the large path too (a freed
	# object is its class's block again).
	report_has "Invalid write of size 1" "uaf_kmem" \
	    "is 4 bytes inside a block of size 16 free'd" "kmem_debug_free" \
	    "uaf_kmem" "Block was alloc'd at" "kmem_debug_alloc"
	report_has "Invalid read of size 1" "uaf_kmem" \
	    "is 40,000 bytes inside a block of size 100,000 free'd" \
	    "kmem_debug_free" "uaf_kmem" "Block was alloc'd at" \
	    "kmem_debug_alloc"
	report_has "12 bytes in 1 blocks are definitely lost" \
	    "kmem_debug_alloc" "leak_small"
	# nbmem's own requests are consistent: no block it never made.
	if grep -q 'Invalid free()' vg.txt; then
		cat vg.txt >&2
		atf_fail "memcheck reports an invalid free inside nbmem"
	fi
}

atf_test_case callgrind_fast_path
callgrind_fast_path_head()
{
	atf_set "descr" "Under callgrind the library does not take memcheck's" \
	    "slow paths: no debug hook runs and the caches make their" \
	    "per-thread slots"
	atf_set "require.progs" "valgrind callgrind_annotate"
}
callgrind_fast_path_body()
{
	skip_unusable
	run_child --tool=callgrind --callgrind-out-file=cg.out
	callgrind_annotate --auto=no --threshold=100 cg.out >cg.txt 2>&1 ||
	    { cat cg.txt >&2; atf_fail "callgrind_annotate failed"; }
	if grep -E ':nbmem_(pc|pool|kmem)_debug_[a-z_]+ ' cg.txt >&2; then
		atf_fail "debug hooks ran under callgrind (listed on stderr)"
	fi
	grep -q ':nbmem_pcc_slot_create ' cg.txt ||
	    { cat cg.txt >&2; atf_fail "no per-thread slot was made"; }
}

atf_init_test_cases()
{
	atf_add_test_case memcheck_reports
	atf_add_test_case callgrind_fast_path
}

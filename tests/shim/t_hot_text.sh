#! /usr/bin/atf-sh
# SPDX-License-Identifier: BSD-2-Clause
#
# t_hot_text: the functions listed in src/malloc/hot.ld come first in
# the text of libnbmem_malloc.so, before every other function, and a
# plain program running under the library enters no function outside
# them.  A function that starts to run in every program without being
# listed fails the second case: run scripts/hot-text.sh.

NBMEM_SOURCE_DIR='@NBMEM_SOURCE_DIR@'
NBMEM_BINARY_DIR='@NBMEM_BINARY_DIR@'

LC_ALL=C
export LC_ALL
unset NBMEM_DEBUG
LIB=$NBMEM_BINARY_DIR/libnbmem_malloc.so
HELPER=$NBMEM_BINARY_DIR/tests/shim/helper
HOT=$NBMEM_SOURCE_DIR/src/malloc/hot.ld

# need_layout: skip where the library is not built (sanitizer builds)
# or was linked without the list (a linker without a default script).
need_layout()
{
	[ -f "$LIB" ] || atf_skip "no libnbmem_malloc.so in this build"
	grep -q '^NBMEM_HOT_TEXT_USED:INTERNAL=ON' \
	    "$NBMEM_BINARY_DIR/CMakeCache.txt" ||
	    atf_skip "the library was linked without src/malloc/hot.ld"
}

# layout: hot.txt, the names the list gives; funcs.txt, the functions
# of the text as "address name listed" in address order (listed: 1 for
# a function the list names, not the cold part of one); hot_end, where
# the list's sections end (the symbol hot.ld defines there).
layout()
{
	sed -n 's/^[ 	]*\*(\.text\.\([A-Za-z0-9_]*\)[ )].*/\1/p' "$HOT" |
	    sort -u >hot.txt
	[ -s hot.txt ] || atf_fail "no function names in $HOT"
	nm -n --defined-only "$LIB" | awk '
	    function hex(s,   i, v) {
		v = 0
		s = tolower(s)
		for (i = 1; i <= length(s); i++)
			v = v * 16 + index("0123456789abcdef",
			    substr(s, i, 1)) - 1
		return v
	    }
	    NR == FNR { hot[$1] = 1; next }
	    $3 == "__nbmem_hot_end" { print hex($1) >"end.txt"; next }
	    $2 ~ /^[tT]$/ {
		base = $3
		sub(/\..*/, "", base)
		print hex($1), $3, ($3 !~ /\.cold/ && (base in hot)) ? 1 : 0
	    }' hot.txt - >funcs.txt
	hot_end=$(cat end.txt 2>/dev/null)
	[ -n "$hot_end" ] || atf_fail "no __nbmem_hot_end in $LIB"
}

atf_test_case listed_first
listed_first_head()
{
	atf_set descr "the listed functions come first in the text"
}
listed_first_body()
{
	need_layout
	layout
	for f in malloc free calloc realloc; do
		grep -q "^$f\$" hot.txt || atf_fail "$f is not in $HOT"
	done
	awk -v end="$hot_end" '$3 == 1 && $1 + 0 >= end + 0 { print $2 }' \
	    funcs.txt >late.txt
	if [ -s late.txt ]; then
		head -20 late.txt >&2
		atf_fail "$(wc -l <late.txt) listed functions after the first" \
		    "unlisted one"
	fi
	# The list is at least the hot paths, and far from all the text.
	nhot=$(awk -v end="$hot_end" '$1 + 0 < end + 0' funcs.txt | wc -l)
	nall=$(wc -l <funcs.txt)
	[ "$nhot" -ge 50 ] && [ "$nhot" -lt "$nall" ] ||
	    atf_fail "$nhot of $nall functions before the end of the list"
}

atf_test_case entered_listed
entered_listed_head()
{
	atf_set descr "a program under the library enters only listed" \
	    "functions (callgrind)"
	atf_set timeout 300
}
entered_listed_body()
{
	need_layout
	command -v valgrind >/dev/null 2>&1 || atf_skip "valgrind is missing"
	layout
	# The library's threads do no work in the run: the decay thread
	# passes no earlier than half the decay time (callgrind's run may
	# take 10 s on a slow machine), and with no statistics segment no
	# nbmemstat run elsewhere (tests running at the same time list every
	# process) asks this one to publish.  That work belongs to programs
	# that live long or are watched.
	env NBMEM_DECAY=3600 NBMEM_STATS=off LD_PRELOAD="$LIB" valgrind --tool=callgrind \
	    --callgrind-out-file=cg.out "$HELPER" churn >out.txt 2>vg.txt ||
	    { cat vg.txt >&2; atf_fail "helper churn failed under valgrind"; }
	callgrind_annotate --threshold=100 cg.out |
	    grep -F "[$LIB]" | sed 's/ \[.*//; s/.*[: ]//; s/'"'"'.*//' |
	    sort -u >entered.txt
	grep -q '^malloc$' entered.txt ||
	    atf_fail "callgrind saw no malloc of the library (not preloaded?)"
	# Each entered function by its address: outside the listed ones?
	awk -v end="$hot_end" '
	    NR == FNR { at[$2] = $1; next }
	    $1 ~ /^0x/ { next }
	    !($1 in at) { print $1 ": not in the symbol table"; next }
	    at[$1] + 0 >= end + 0 { print $1 }' funcs.txt entered.txt \
	    >outside.txt
	if [ -s outside.txt ]; then
		cat outside.txt >&2
		atf_fail "entered outside the list: $(tr '\n' ' ' <outside.txt)" \
		    "(run scripts/hot-text.sh)"
	fi
}

atf_init_test_cases()
{
	atf_add_test_case listed_first
	atf_add_test_case entered_listed
}

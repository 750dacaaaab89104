#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# Run the ATF suite of a build tree with kyua and print a summary line
# "N passed, N failed, N skipped".  Exits non-zero on any failure.
#
# Usage: run-tests.sh BUILD [PATTERN...]
#   PATTERN   test programs to run, as shell globs relative to BUILD/tests
#             (e.g. 'api/t_*_mt'); all of them when none is given.
set -u
build=${1:-build}
shift 2>/dev/null || true
cd "$build/tests" || exit 1
progs=""
for pat in "$@"; do
	for p in $pat; do
		[ -x "$p" ] && progs="$progs $p"
	done
done
if [ $# -gt 0 ] && [ -z "$progs" ]; then
	echo "run-tests.sh: no test program matches: $*" >&2
	exit 1
fi
rm -f results.db
kyua test --results-file=results.db $progs >kyua.out 2>&1
rc=$?
cat kyua.out
kyua report --results-file=results.db --verbose \
    --results-filter=broken,failed >kyua-failures.txt 2>&1 || true
if grep -q -E '(broken|failed)' kyua.out; then
	cat kyua-failures.txt
fi
passed=$(grep -c -E -e '->  (passed|expected_failure)' kyua.out)
failed=$(grep -c -E -e '->  (failed|broken)' kyua.out)
skipped=$(grep -c -E -e '->  skipped' kyua.out)
echo "$passed passed, $failed failed, $skipped skipped"
[ "$rc" = 0 ] && [ "$failed" = 0 ]

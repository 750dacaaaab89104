#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# Run the ATF suite of a build tree with kyua and print a summary line
# "N passed, N failed".  Exits non-zero on any failure.
set -u
build=${1:-build}
cd "$build/tests" || exit 1
rm -f results.db
kyua test --results-file=results.db >kyua.out 2>&1
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

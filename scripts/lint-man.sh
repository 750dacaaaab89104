#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# mandoc -Tlint every man page; any warning fails.
set -eu
cd "$(dirname "$0")/.."
status=0
for page in man/man*/*.[0-9]; do
	[ -e "$page" ] || continue
	out=$(mandoc -Tlint -W warning "$page" 2>&1) || true
	if [ -n "$out" ]; then
		echo "$out"
		status=1
	fi
done
[ $status = 0 ] && echo "lint-man: $(ls man/man*/*.[0-9] 2>/dev/null | wc -l) pages clean"
exit $status

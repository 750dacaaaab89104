#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# Install the Debian packages a make target needs, only those missing.
# Usage: scripts/deps.sh build|check|bench
set -eu
pkgs="cmake ninja-build gcc make pkg-config"
case "${1:-build}" in
check) pkgs="$pkgs libatf-dev atf-sh kyua mandoc clang libclang-rt-14-dev
	valgrind" ;;
bench) pkgs="$pkgs valgrind libjemalloc-dev libgoogle-perftools-dev libmimalloc-dev
	gnuplot-nox" ;;
esac
# The programs the malloc library's preload tests run (tests/shim), and
# strace, which counts its signal-mask calls.
case "${1:-build}" in
check) pkgs="$pkgs python3 perl git sqlite3 redis-server redis-tools strace" ;;
esac
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
	    missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps.sh: missing packages:$missing (run as root to install)" >&2
	exit 1
fi
echo "deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq $missing >/dev/null

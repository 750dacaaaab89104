#! /usr/bin/atf-sh
# SPDX-License-Identifier: BSD-2-Clause
#
# t_install: install the build tree the way a packager does (DESTDIR, or
# cmake --install --prefix) and use the result the way a user does:
# the file layout, the SONAME, the exported symbols, pkg-config, the
# CMake package, the compatibility headers.  Every case installs into
# its own work directory; nothing outside it is touched.

NBMEM_SOURCE_DIR='@NBMEM_SOURCE_DIR@'
NBMEM_BINARY_DIR='@NBMEM_BINARY_DIR@'

LC_ALL=C
export LC_ALL

# cache_get VAR: the value of VAR in the build tree's CMake cache.
cache_get()
{
	sed -n "s/^$1:[A-Z]*=//p" "$NBMEM_BINARY_DIR/CMakeCache.txt" | head -n 1
}

# install_destdir: "DESTDIR=./dest cmake --install" of the build tree.
# Sets ROOT (the prefix inside dest), LIB, INC, MAN, CC and CFLAGS (the
# build tree's compiler, with its sanitizers so that an instrumented
# library links) and VERSION.
install_destdir()
{
	local prefix

	[ -f "$NBMEM_BINARY_DIR/CMakeCache.txt" ] ||
	    atf_fail "no CMake cache in $NBMEM_BINARY_DIR"
	prefix=$(cache_get CMAKE_INSTALL_PREFIX)
	DESTDIR=$PWD/dest cmake --install "$NBMEM_BINARY_DIR" \
	    >install.log 2>&1 ||
	    atf_fail "cmake --install failed: $(tail -n 5 install.log)"
	set_dirs "$PWD/dest$prefix" "$PWD/dest"
}

# install_prefix DIR: "cmake --install --prefix DIR" of the build tree.
install_prefix()
{
	cmake --install "$NBMEM_BINARY_DIR" --prefix "$1" \
	    >install.log 2>&1 ||
	    atf_fail "cmake --install failed: $(tail -n 5 install.log)"
	set_dirs "$1" ""
}

# set_dirs ROOT DESTDIR: where the GNUInstallDirs paths landed.
set_dirs()
{
	ROOT=$1
	LIB=$(gnudir "$1" "$2" CMAKE_INSTALL_LIBDIR)
	INC=$(gnudir "$1" "$2" CMAKE_INSTALL_INCLUDEDIR)
	MAN=$(gnudir "$1" "$2" CMAKE_INSTALL_MANDIR)
	CC=$(cache_get CMAKE_C_COMPILER)
	[ -n "$CC" ] || CC=cc
	CFLAGS="-std=gnu11 -Wall -Wextra -Werror"
	san=$(cache_get NBMEM_SANITIZE)
	[ -z "$san" ] || CFLAGS="$CFLAGS -fsanitize=$san -fno-omit-frame-pointer"
	VERSION=$(cache_get CMAKE_PROJECT_VERSION)
	[ -n "$VERSION" ] || atf_fail "no project version in the cache"
}

# gnudir ROOT DESTDIR VAR: a GNUInstallDirs directory, relative to ROOT
# unless the cache holds an absolute path (then under DESTDIR).
gnudir()
{
	local d

	d=$(cache_get "$3")
	# GNUInstallDirs leaves some empty in the cache and derives them.
	if [ -z "$d" ] && [ "$3" = CMAKE_INSTALL_MANDIR ]; then
		d=$(cache_get CMAKE_INSTALL_DATAROOTDIR)
		d=${d:-share}/man
	fi
	[ -n "$d" ] || atf_fail "$3 is empty in the CMake cache"
	case $d in
	/*) echo "$2$d" ;;
	*) echo "$1/$d" ;;
	esac
}

# write_consumer: a small program that uses vmem through the public
# headers and prints "ok VERSION".
write_consumer()
{
	cat >consumer.c <<'EOF'
#include <stdio.h>

#include <nbmem/nbmem.h>
#include <nbmem/vmem.h>

int
main(void)
{
	vmem_t *vm;
	vmem_addr_t a, b;

	vm = vmem_create("consumer", 0x10000, 0x10000, 0x10, NULL, NULL,
	    NULL, 0, VM_SLEEP, IPL_NONE);
	if (vm == NULL)
		return 1;
	if (vmem_alloc(vm, 0x100, VM_SLEEP | VM_INSTANTFIT, &a) != 0)
		return 2;
	if (vmem_xalloc(vm, 0x100, 0x1000, 0, 0, VMEM_ADDR_MIN,
	    VMEM_ADDR_MAX, VM_SLEEP | VM_BESTFIT, &b) != 0 || b % 0x1000 != 0)
		return 3;
	if (vmem_size(vm, VMEM_ALLOC) != 0x200)
		return 4;
	vmem_xfree(vm, b, 0x100);
	vmem_free(vm, a, 0x100);
	vmem_destroy(vm);
	printf("ok %s\n", nbmem_version());
	return 0;
}
EOF
}

# check_needs PROG yes|no: PROG does (not) need libnbmem.so.0.
check_needs()
{
	readelf -d "$1" >needed.txt || atf_fail "readelf -d $1 failed"
	if grep -q 'NEEDED.*\[libnbmem\.so\.0\]' needed.txt; then
		[ "$2" = yes ] || atf_fail "$1 needs libnbmem.so.0, but" \
		    "was linked statically"
	else
		[ "$2" = no ] || atf_fail "$1 does not need libnbmem.so.0"
	fi
}

atf_test_case layout
layout_head()
{
	atf_set "descr" "DESTDIR install: shared library with a versioned" \
	    "SONAME, static library, every public header, nbmem.pc, the" \
	    "CMake package and every manual page of the tree"
	atf_set "require.progs" "cmake readelf"
}
layout_body()
{
	local f rel n

	install_destdir
	atf_check -s exit:0 test -f "$LIB/libnbmem.so.$VERSION"
	atf_check -s exit:0 test -L "$LIB/libnbmem.so.0"
	atf_check -s exit:0 test -L "$LIB/libnbmem.so"
	atf_check -o "inline:libnbmem.so.$VERSION\n" \
	    readlink "$LIB/libnbmem.so.0"
	atf_check -o match:'SONAME.*\[libnbmem\.so\.0\]' \
	    readelf -d "$LIB/libnbmem.so.$VERSION"
	atf_check -s exit:0 test -f "$LIB/libnbmem.a"
	atf_check -s exit:0 test -f "$LIB/pkgconfig/nbmem.pc"
	for f in nbmemConfig.cmake nbmemConfigVersion.cmake \
	    nbmemTargets.cmake; do
		atf_check -s exit:0 test -f "$LIB/cmake/nbmem/$f"
	done

	# Every header under include/ in the tree, at the same place.
	n=0
	for f in $(cd "$NBMEM_SOURCE_DIR/include" && find . -name '*.h'); do
		rel=${f#./}
		[ -f "$INC/$rel" ] || atf_fail "header $rel not installed"
		cmp -s "$NBMEM_SOURCE_DIR/include/$rel" "$INC/$rel" ||
		    atf_fail "installed $rel differs from the tree's"
		n=$((n + 1))
	done
	[ "$n" -gt 0 ] || atf_fail "no header found in the tree"

	# Every manual page in the tree.
	for f in $(cd "$NBMEM_SOURCE_DIR/man" 2>/dev/null &&
	    find . -name '*.[1-9]'); do
		rel=${f#./}
		[ -f "$MAN/$rel" ] || atf_fail "manual page $rel not installed"
	done

	# Nothing private: no source headers, no internal.h.
	if find "$ROOT" -name internal.h -o -name '*_impl.h' |
	    grep -v '/include/nbmem/' | grep -q .; then
		atf_fail "a private header was installed"
	fi
}

atf_test_case internal_hidden
internal_hidden_head()
{
	atf_set "descr" "The installed libnbmem.so exports the interface and" \
	    "none of the internal functions declared in src/internal.h"
	atf_set "require.progs" "cmake nm"
}
internal_hidden_body()
{
	local s

	install_destdir
	nm -D --defined-only "$LIB/libnbmem.so" | awk '{ print $NF }' |
	    sed 's/@.*//' | sort -u >exported.txt
	for s in vmem_create vmem_alloc vmem_xalloc vmem_free \
	    nbmem_version nbmem_panic_handler_set; do
		grep -qx "$s" exported.txt || atf_fail "$s is not exported"
	done
	grep -qx nbmem_panic exported.txt &&
	    atf_fail "the internal nbmem_panic is exported"
	# Every nbmem_ name that src/internal.h mentions and no public
	# header does is internal, and stays inside.
	grep -rho 'nbmem_[a-z0-9_]*' "$NBMEM_SOURCE_DIR/include" |
	    sort -u >public.txt
	grep -o 'nbmem_[a-z0-9_]*' "$NBMEM_SOURCE_DIR/src/internal.h" |
	    sort -u | comm -23 - public.txt >internal.txt
	grep -qx nbmem_panic internal.txt ||
	    atf_fail "reading internal.h lost nbmem_panic"
	comm -12 exported.txt internal.txt >leaked.txt
	[ -s leaked.txt ] && atf_fail "internal functions exported:" \
	    $(cat leaked.txt)
	return 0
}

atf_test_case pkgconfig
pkgconfig_head()
{
	atf_set "descr" "A program built with pkg-config --cflags --libs" \
	    "nbmem against a DESTDIR install links the installed" \
	    "libnbmem.so.0 and runs"
	atf_set "require.progs" "cmake pkg-config readelf"
}
pkgconfig_body()
{
	local flags

	install_destdir
	export PKG_CONFIG_PATH="$LIB/pkgconfig"
	export PKG_CONFIG_SYSROOT_DIR="$PWD/dest"
	atf_check -o "inline:$VERSION\n" pkg-config --modversion nbmem
	flags=$(pkg-config --cflags --libs nbmem) ||
	    atf_fail "pkg-config --cflags --libs nbmem failed"
	echo "pkg-config: $flags"
	write_consumer
	atf_check -o ignore -e ignore \
	    $CC $CFLAGS -o consumer consumer.c $flags
	check_needs consumer yes
	atf_check -o "inline:ok $VERSION\n" env LD_LIBRARY_PATH="$LIB" ./consumer

	# The static library on its own is enough too.
	atf_check -o ignore -e ignore $CC $CFLAGS \
	    $(pkg-config --cflags nbmem) -o consumer_static consumer.c \
	    "$LIB/libnbmem.a" -pthread
	check_needs consumer_static no
	atf_check -o "inline:ok $VERSION\n" ./consumer_static
}

atf_test_case pkgconfig_prefix
pkgconfig_prefix_head()
{
	atf_set "descr" "After cmake --install --prefix DIR, nbmem.pc points" \
	    "into DIR"
	atf_set "require.progs" "cmake pkg-config"
}
pkgconfig_prefix_body()
{
	local flags

	install_prefix "$PWD/prefix"
	flags=$(PKG_CONFIG_PATH="$LIB/pkgconfig" \
	    pkg-config --cflags --libs nbmem) ||
	    atf_fail "pkg-config --cflags --libs nbmem failed"
	echo "pkg-config: $flags"
	# The paths may be spelled relative to the .pc file: resolve them.
	local canon="" f
	for f in $flags; do
		case "$f" in
		-I*) canon="$canon -I$(realpath -m "${f#-I}")" ;;
		-L*) canon="$canon -L$(realpath -m "${f#-L}")" ;;
		*) canon="$canon $f" ;;
		esac
	done
	case "$canon " in
	*" -I$INC "*) ;;
	*) atf_fail "cflags do not name $INC: $flags" ;;
	esac
	case "$canon " in
	*" -L$LIB "*) ;;
	*) atf_fail "libs do not name $LIB: $flags" ;;
	esac
}

atf_test_case cmake_package
cmake_package_head()
{
	atf_set "descr" "find_package(nbmem) in a CMake project: nbmem::nbmem" \
	    "links the shared library, nbmem::nbmem_static the static one"
	atf_set "require.progs" "cmake readelf"
}
cmake_package_body()
{
	local gen=""

	install_destdir
	mkdir proj
	write_consumer
	mv consumer.c proj/
	cat >proj/CMakeLists.txt <<EOF
cmake_minimum_required(VERSION 3.18)
project(consumer LANGUAGES C)
find_package(nbmem $VERSION REQUIRED CONFIG)
add_executable(consumer consumer.c)
target_link_libraries(consumer PRIVATE nbmem::nbmem)
add_executable(consumer_static consumer.c)
target_link_libraries(consumer_static PRIVATE nbmem::nbmem_static)
EOF
	command -v ninja >/dev/null && gen="-G Ninja"
	atf_check -o ignore -e ignore cmake -S proj -B proj/build $gen \
	    -DCMAKE_C_COMPILER="$CC" -DCMAKE_C_FLAGS="$CFLAGS" \
	    -DCMAKE_PREFIX_PATH="$ROOT"
	atf_check -o ignore -e ignore cmake --build proj/build
	check_needs proj/build/consumer yes
	check_needs proj/build/consumer_static no
	atf_check -o "inline:ok $VERSION\n" \
	    env LD_LIBRARY_PATH="$LIB" proj/build/consumer
	atf_check -o "inline:ok $VERSION\n" proj/build/consumer_static

	# A version the package does not provide is refused.
	sed "s/find_package(nbmem $VERSION /find_package(nbmem 999.0 /" \
	    proj/CMakeLists.txt >proj/CMakeLists.new
	mv proj/CMakeLists.new proj/CMakeLists.txt
	atf_check -s not-exit:0 -o ignore -e match:nbmem \
	    cmake -S proj -B proj/build999 $gen -DCMAKE_PREFIX_PATH="$ROOT"
}

atf_test_case compat_headers
compat_headers_head()
{
	atf_set "descr" "Ported code keeps <sys/vmem.h>, <sys/vmem_impl.h>," \
	    "<uvm/uvm_extern.h> and the other compatibility headers: they" \
	    "compile together from the installed compat folder and link"
	atf_set "require.progs" "cmake"
}
compat_headers_body()
{
	local f

	install_destdir
	[ -d "$INC/nbmem/compat" ] || atf_fail "no include/nbmem/compat"
	for f in sys/vmem.h sys/vmem_impl.h uvm/uvm_extern.h; do
		[ -f "$INC/nbmem/compat/$f" ] || atf_fail "no compat $f"
	done
	{
		for f in $(cd "$INC/nbmem/compat" && find . -name '*.h' |
		    sort); do
			echo "#include <${f#./}>"
		done
		cat <<'EOF'

/* NetBSD-style code: static arena storage and the kernel names. */
static struct vmem arena_store;

int
main(void)
{
	vmem_t *vm;
	vmem_addr_t a;
	int s;

	vm = vmem_init(&arena_store, "compat", 0x1000, 0x1000, 1, NULL,
	    NULL, NULL, 0, VM_SLEEP, IPL_VM);
	if (vm == NULL)
		return 1;
	s = splvm();
	if (vmem_alloc(vm, 1, VM_NOSLEEP | VM_INSTANTFIT, &a) != 0)
		return 2;
	vmem_free(vm, a, 1);
	splx(s);
	vmem_destroy(vm);
	/* The page layer's names resolve too. */
	(void)&uvm_km_alloc;
	(void)&kernel_map;
	return 0;
}
EOF
	} >compat.c
	cat compat.c
	atf_check -o ignore -e ignore $CC $CFLAGS \
	    -I"$INC/nbmem/compat" -I"$INC" -o compat compat.c \
	    -L"$LIB" -lnbmem
	atf_check env LD_LIBRARY_PATH="$LIB" ./compat
}

atf_test_case headers_alone
headers_alone_head()
{
	atf_set "descr" "Every installed public header compiles on its own," \
	    "in C11 and, when a C++ compiler is present, in C++"
	atf_set "require.progs" "cmake"
}
headers_alone_body()
{
	local f cxx=""

	install_destdir
	command -v c++ >/dev/null && cxx=c++
	for f in $(cd "$INC" && find nbmem -name '*.h' | sort); do
		printf '#include <%s>\nint nbmem_header_test;\n' "$f" >h.c
		$CC -std=c11 -Wall -Wextra -Werror -pedantic -I"$INC" \
		    -c -o h.o h.c 2>err.txt ||
		    atf_fail "$f does not compile alone: $(head -n 3 err.txt)"
		[ -z "$cxx" ] && continue
		cp h.c h.cc
		$cxx -Wall -Wextra -Werror -I"$INC" -c -o h.o h.cc \
		    2>err.txt ||
		    atf_fail "$f does not compile as C++: $(head -n 3 err.txt)"
	done
}

atf_init_test_cases()
{
	atf_add_test_case layout
	atf_add_test_case internal_hidden
	atf_add_test_case pkgconfig
	atf_add_test_case pkgconfig_prefix
	atf_add_test_case cmake_package
	atf_add_test_case compat_headers
	atf_add_test_case headers_alone
}

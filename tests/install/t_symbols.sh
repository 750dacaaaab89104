#! /usr/bin/atf-sh
# SPDX-License-Identifier: BSD-2-Clause
#
# t_symbols: every symbol libnbmem.so exports is documented in a manual
# page under man/, as the argument of .Fn, .Fo, .Nm, .Va or .Dv.  An
# internal function that leaks from the library, or a public one that
# nobody documented, fails the test and is named.

NBMEM_SOURCE_DIR='@NBMEM_SOURCE_DIR@'
NBMEM_BINARY_DIR='@NBMEM_BINARY_DIR@'

LC_ALL=C
export LC_ALL

# documented_names MANDIR: every name given to .Fn/.Fo (the first
# argument) or to .Nm/.Va/.Dv (all arguments up to the next macro), on
# any macro line of any page under MANDIR, one per line, sorted.
documented_names()
{
	find "$1" -type f -name '*.[1-9]' -exec cat {} + | awk '
	/^[.\047]/ {
		n = split(substr($0, 2), w, /[ \t]+/)
		mode = 0
		for (i = 1; i <= n; i++) {
			t = w[i]
			if (t ~ /^(Fn|Fo)$/) { mode = 1; continue }
			if (t ~ /^(Nm|Va|Dv)$/) { mode = 2; continue }
			if (t ~ /^[A-Z][a-z][a-z]?$/ || t ~ /^%[A-Z]$/) {
				mode = 0
				continue
			}
			if (mode == 0)
				continue
			gsub(/\\&/, "", t)
			gsub(/^[("]+/, "", t)
			gsub(/[)",;:.]+$/, "", t)
			if (t != "")
				print t
			if (mode == 1)
				mode = 0
		}
	}' | sort -u
}

# exported_names LIB: the defined dynamic symbols of LIB without their
# version suffix, leaving out the version nodes (absolute symbols named
# like NBMEM_0), sorted.  Fails if nm fails.
exported_names()
{
	nm -D --defined-only "$1" >nm.out || return 1
	awk '
	NF >= 3 {
		name = $3
		if ($2 == "A" && name ~ /^[A-Z][A-Z0-9_]*$/)
			next
		sub(/@.*/, "", name)
		print name
	}' nm.out | sort -u
}

# undocumented LIB MANDIR: the exported symbols of LIB that no page
# under MANDIR documents.
undocumented()
{
	exported_names "$1" >exported.txt || return 1
	documented_names "$2" >documented.txt
	comm -23 exported.txt documented.txt
}

# check_documented LIB MANDIR: succeed if every symbol LIB exports is
# documented under MANDIR; otherwise list the others on standard error,
# leave the reason in reason.txt and fail.
check_documented()
{
	if [ ! -f "$1" ]; then
		echo "$1 not found: build the library first" >reason.txt
		return 1
	fi
	if ! undocumented "$1" "$2" >undocumented.txt; then
		echo "nm -D --defined-only $1 failed" >reason.txt
		return 1
	fi
	if [ ! -s exported.txt ]; then
		echo "$1 exports no symbol at all" >reason.txt
		return 1
	fi
	if [ -s undocumented.txt ]; then
		echo "exported by $1 but documented in no page under $2:" >&2
		sed 's/^/	/' undocumented.txt >&2
		echo "undocumented exported symbols:" \
		    $(cat undocumented.txt) >reason.txt
		return 1
	fi
	return 0
}

atf_test_case exported_symbols_documented
exported_symbols_documented_head()
{
	atf_set "descr" "Every symbol exported by libnbmem.so is" \
	    "documented in a manual page (.Fn, .Nm, .Va or .Dv)"
	atf_set "require.progs" "nm awk comm"
}
exported_symbols_documented_body()
{
	check_documented "$NBMEM_BINARY_DIR/libnbmem.so" \
	    "$NBMEM_SOURCE_DIR/man" || atf_fail "$(cat reason.txt)"
	echo "$(wc -l <exported.txt) exported symbols, all documented"
}

atf_test_case leak_is_caught
leak_is_caught_head()
{
	atf_set "descr" "The check names a symbol that is exported but" \
	    "documented in no page, and accepts every way of documenting one"
	atf_set "require.progs" "cc nm awk comm"
}
leak_is_caught_body()
{
	cat >fixture.c <<'EOF'
int fx_variable = 1;
int fx_constant = 2;
int fx_fo(void) { return 0; }
int fx_inline(void) { return 0; }
int fx_named(void) { return 0; }
int fx_leaked(void) { return 0; }
int fx_in_prose(void) { return 0; }
EOF
	atf_check -o ignore -e ignore \
	    cc -shared -fPIC -o libfixture.so fixture.c
	mkdir -p man/man3
	cat >man/man3/fixture.3 <<'EOF'
.Dd July 1, 2025
.Dt FIXTURE 3
.Os
.Sh NAME
.Nm fixture ,
.Nm fx_named
.Nd a fixture
.Sh SYNOPSIS
.Ft int
.Fo fx_fo
.Fa void
.Fc
.Sh DESCRIPTION
.Va fx_variable
is set once;
.Pq Fn fx_inline , No or Dv fx_constant .
The function fx_in_prose is only named in prose, and
.Ar fx_leaked
only as an argument.
EOF
	undocumented libfixture.so man >out.txt ||
	    atf_fail "the check could not read the fixture library"
	printf 'fx_in_prose\nfx_leaked\n' >expected.txt
	atf_check -o file:expected.txt cat out.txt

	# And check_documented itself fails on it, naming the leaks.
	if check_documented libfixture.so man 2>err.txt; then
		atf_fail "check_documented passed a library that leaks"
	fi
	atf_check -o match:"fx_in_prose fx_leaked" cat reason.txt
	atf_check -o match:"fx_leaked" cat err.txt
}

atf_init_test_cases()
{
	atf_add_test_case exported_symbols_documented
	atf_add_test_case leak_is_caught
}

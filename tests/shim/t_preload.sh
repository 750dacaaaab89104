#! /usr/bin/atf-sh
# SPDX-License-Identifier: BSD-2-Clause
#
# t_preload: libnbmem_malloc.so under LD_PRELOAD.  Real programs from
# Debian run a short workload on it and on the system allocator, and
# their results must be the same; the diagnostics of the malloc family
# and the NBMEM_DEBUG modes reach a plain program (helper.c).

NBMEM_SOURCE_DIR='@NBMEM_SOURCE_DIR@'
NBMEM_BINARY_DIR='@NBMEM_BINARY_DIR@'

LC_ALL=C
export LC_ALL
LIB=$NBMEM_BINARY_DIR/libnbmem_malloc.so
HELPER=$NBMEM_BINARY_DIR/tests/shim/helper

# need_lib: skip where the library is not built (sanitizer builds).
need_lib()
{
	[ -f "$LIB" ] || atf_skip "no libnbmem_malloc.so in this build"
}

# need PROG: skip without it (scripts/deps.sh check installs them).
need()
{
	command -v "$1" >/dev/null 2>&1 || atf_skip "$1 is not installed"
}

# both OUT CMD...: run CMD on the system allocator into OUT.sys and
# under the library into OUT.nb; both must succeed, with one output.
both()
{
	local out=$1
	shift
	"$@" >"$out.sys" 2>&1 || atf_fail "$* failed on the system allocator"
	env LD_PRELOAD="$LIB" "$@" >"$out.nb" 2>&1 || {
		cat "$out.nb" >&2
		atf_fail "$* failed under libnbmem_malloc.so"
	}
	cmp -s "$out.sys" "$out.nb" || {
		diff "$out.sys" "$out.nb" | head -20 >&2
		atf_fail "$*: output differs under libnbmem_malloc.so"
	}
}

atf_test_case helper
helper_head()
{
	atf_set descr "a plain program: a churn of sizes, malloc_stats"
}
helper_body()
{
	need_lib
	both churn "$HELPER" churn
	env LD_PRELOAD="$LIB" "$HELPER" stats 2>stats.txt ||
	    atf_fail "helper stats failed"
	grep -q "kmem-00064" stats.txt ||
	    atf_fail "malloc_stats did not print nbmem's tables (not loaded?)"
	# The kmem view counts the library's own classes with kmem's.
	env LD_PRELOAD="$LIB" NBMEM_STATS=exit=k "$HELPER" churn 2>k.txt ||
	    atf_fail "helper churn failed"
	grep -q "^kmem-00064 " k.txt && grep -q "^malloc-00080 " k.txt || {
		cat k.txt >&2
		atf_fail "the kmem view lacks kmem-00064 or malloc-00080"
	}
}

atf_test_case thread_groups
thread_groups_head()
{
	atf_set descr "without per-CPU slots, the classes up to 1 KiB" \
	    "trade 63-object groups"
}
thread_groups_body()
{
	need_lib
	# The GrpSz column of a class's row in malloc_stats' pool cache
	# table.
	grpsz()
	{
		awk -v c="$1" '/^Pool cache statistics/ { t = 1 }
		    t && $1 == c { print $3; exit }' stats.txt
	}
	env LD_PRELOAD="$LIB" NBMEM_PERCPU=0 "$HELPER" stats 2>stats.txt ||
	    atf_fail "helper stats failed"
	[ "$(grpsz kmem-00064)" = 63 ] || {
		cat stats.txt >&2
		atf_fail "kmem-00064: groups of $(grpsz kmem-00064), not 63"
	}
	[ "$(grpsz kmem-00320)" = 63 ] ||
	    atf_fail "kmem-00320: groups of $(grpsz kmem-00320), not 63"
	# The churn gives every class back and forth: same result.
	both churn env NBMEM_PERCPU=0 "$HELPER" churn
}

atf_test_case sig_open
sig_open_head()
{
	atf_set descr "no signal-mask calls while the program has no" \
	    "handler; a handler installed with sigaction or signal brings" \
	    "them back; NBMEM_SIGBLOCK=1 keeps them"
}
sig_open_body()
{
	need_lib
	need strace
	strace -o /dev/null true 2>/dev/null ||
	    atf_skip "strace cannot trace here (ptrace denied)"
	# nsig ENV...: rt_sigprocmask calls of the churn under the library.
	nsig()
	{
		strace -f -c -e trace=rt_sigprocmask -o trace.txt \
		    env LD_PRELOAD="$LIB" "$@" "$HELPER" churn >/dev/null ||
		    atf_fail "helper churn failed under strace"
		awk '$NF == "rt_sigprocmask" { print $4 }' trace.txt
	}
	open=$(nsig)
	blocked=$(nsig NBMEM_SIGBLOCK=1)
	echo "rt_sigprocmask: $open without a handler, $blocked with" \
	    "NBMEM_SIGBLOCK=1" >&2
	[ "${blocked:-0}" -ge 1000 ] ||
	    atf_fail "NBMEM_SIGBLOCK=1: ${blocked:-0} signal-mask calls"
	[ "${open:-0}" -lt 100 ] ||
	    atf_fail "no handler: ${open:-0} signal-mask calls"
	# Handlers that allocate, under a storm of their signal: the
	# sections block signals again, or the run hangs (alarm: 60 s).
	for how in sigaction signal; do
		env LD_PRELOAD="$LIB" "$HELPER" storm $how >storm.out \
		    2>&1 || {
			cat storm.out >&2
			atf_fail "storm with a handler from $how failed"
		}
		[ "$(cat storm.out)" = 1 ] ||
		    atf_fail "storm ($how): no signal handled"
	done
}

atf_test_case diagnostics
diagnostics_head()
{
	atf_set descr "foreign pointer always; double free, overrun and" \
	    "leaks with NBMEM_DEBUG"
}
# dies MODE TEXT [NBMEM_DEBUG]: helper MODE aborts, saying TEXT.
dies()
{
	if env LD_PRELOAD="$LIB" NBMEM_DEBUG="$3" "$HELPER" "$1" \
	    >out.txt 2>&1; then
		atf_fail "helper $1 (NBMEM_DEBUG=$3) did not abort"
	fi
	grep -q "$2" out.txt || {
		cat out.txt >&2
		atf_fail "helper $1 (NBMEM_DEBUG=$3): no \"$2\""
	}
}
diagnostics_body()
{
	need_lib
	dies foreign "malloc: free(0x[0-9a-f]*): foreign pointer"
	dies foreign "foreign pointer" size
	dies double-free "double free" size
	dies double-free "double free" poison
	# In kmem's quarantine: the cache and the size are named too.
	dies double-free \
	    'malloc: "kmem-[0-9]*": free: 0x[0-9a-f]*: double free.* 100 bytes' \
	    poison
	dies overrun "overrun" redzone
	# Named by the program's call, not kmem's.
	dies overrun "\": free: 0x" redzone
	env LD_PRELOAD="$LIB" NBMEM_DEBUG=leaks "$HELPER" leak 2>leak.txt ||
	    atf_fail "helper leak failed"
	grep -q "1234 bytes, still allocated" leak.txt ||
	    atf_fail "no leak report for the 1234-byte object"
	# Under poison, freed blocks wait in kmem's quarantine: not leaks.
	env LD_PRELOAD="$LIB" NBMEM_DEBUG=poison,leaks "$HELPER" leak \
	    2>leak.txt || atf_fail "helper leak failed (poison)"
	grep -q "1234 bytes, still allocated" leak.txt ||
	    atf_fail "poison: no leak report for the 1234-byte object"
	if grep -q "kmem-04096" leak.txt; then
		cat leak.txt >&2
		atf_fail "poison: the freed 3333-byte block reported as a leak"
	fi
}

atf_test_case aligned
aligned_head()
{
	atf_set descr "NBMEM_DEBUG: an over-aligned block (posix_memalign," \
	    "aligned_alloc) is as big as asked: an overrun past it is" \
	    "caught, malloc_usable_size gives its size, a leak of it is" \
	    "reported at the program's address with its size"
}
aligned_body()
{
	need_lib
	for debug in size redzone guard all; do
		for al in 64 256 4096; do
			if env LD_PRELOAD="$LIB" NBMEM_DEBUG=$debug \
			    "$HELPER" aligned-overrun $al >out.txt 2>&1; then
				atf_fail "NBMEM_DEBUG=$debug: an overrun of" \
				    "posix_memalign($al, 100) not caught"
			fi
			grep -q '": free: 0x[0-9a-f]*: overrun' out.txt || {
				cat out.txt >&2
				atf_fail "NBMEM_DEBUG=$debug: no overrun of" \
				    "posix_memalign($al, 100) diagnosed"
			}
			grep -q '^100$' out.txt || {
				cat out.txt >&2
				atf_fail "NBMEM_DEBUG=$debug: usable size of" \
				    "posix_memalign($al, 100) is not 100"
			}
		done
	done
	env LD_PRELOAD="$LIB" NBMEM_DEBUG=leaks "$HELPER" aligned-leak \
	    >out.txt 2>leak.txt || atf_fail "helper aligned-leak failed"
	grep -q "$(cat out.txt), 300 bytes, still allocated" leak.txt || {
		cat out.txt leak.txt >&2
		atf_fail "no leak report of the 300-byte block at its address"
	}
	[ "$(grep -c "nbmem: leak:" leak.txt)" = 1 ] || {
		cat leak.txt >&2
		atf_fail "aligned-leak: not exactly its one leak reported"
	}
}

atf_test_case leaks_clean
leaks_clean_head()
{
	atf_set descr "NBMEM_DEBUG=leaks: a program that frees what it" \
	    "allocates gets no report (not the library's own threads, nor" \
	    "the C library's caches: stdio buffers, stacks of joined threads)"
}
leaks_clean_body()
{
	need_lib
	for mode in clean clean-libc; do
		for debug in leaks all; do
			env LD_PRELOAD="$LIB" NBMEM_DEBUG=$debug "$HELPER" \
			    $mode >out.txt 2>err.txt ||
			    atf_fail "helper $mode failed"
			[ "$(cat out.txt)" = clean ] ||
			    atf_fail "helper $mode: output"
			if grep -q "nbmem: leak" err.txt; then
				cat err.txt >&2
				atf_fail "$mode, NBMEM_DEBUG=$debug: leaks" \
				    "reported"
			fi
		done
	done
	# A leak is still a leak.
	env LD_PRELOAD="$LIB" NBMEM_DEBUG=leaks "$HELPER" leak 2>leak.txt ||
	    atf_fail "helper leak failed"
	[ "$(grep -c "nbmem: leak:" leak.txt)" = 1 ] || {
		cat leak.txt >&2
		atf_fail "helper leak: not exactly its one leak reported"
	}
}

atf_test_case backtrace
backtrace_head()
{
	atf_set descr "the unwinder is loaded only on request: a panic says" \
	    "how to get a backtrace, and prints one with NBMEM_BACKTRACE=1"
}
backtrace_body()
{
	need_lib
	# cat(1) links nothing but the C library.
	n=$(env LD_PRELOAD="$LIB" cat /proc/self/maps | grep -c libgcc_s)
	[ "$n" = 0 ] || atf_fail "libgcc_s loaded without a request"
	n=$(env LD_PRELOAD="$LIB" NBMEM_BACKTRACE=1 cat /proc/self/maps |
	    grep -c libgcc_s)
	[ "$n" != 0 ] || atf_fail "NBMEM_BACKTRACE=1 did not load libgcc_s"
	dies foreign "no backtrace: the unwinder is loaded at start-up with"
	if grep -q "libnbmem_malloc.so(+0x" out.txt; then
		atf_fail "a backtrace without the unwinder"
	fi
	if env LD_PRELOAD="$LIB" NBMEM_BACKTRACE=1 "$HELPER" foreign \
	    >out.txt 2>&1; then
		atf_fail "helper foreign did not abort"
	fi
	grep -q "libnbmem_malloc.so(+0x" out.txt || {
		cat out.txt >&2
		atf_fail "no backtrace with NBMEM_BACKTRACE=1"
	}
}

atf_test_case huge
huge_head()
{
	atf_set descr "more than all RAM and swap: ENOMEM, as the C" \
	    "library's malloc, in a debugging mode too"
}
huge_body()
{
	need_lib
	mode=$(cat /proc/sys/vm/overcommit_memory 2>/dev/null)
	[ "$mode" = 0 ] ||
	    atf_skip "vm.overcommit_memory is $mode, not the heuristic"
	for debug in "" size; do
		out=$(env LD_PRELOAD="$LIB" NBMEM_DEBUG="$debug" "$HELPER" \
		    huge) || atf_fail "helper huge (NBMEM_DEBUG=$debug) failed"
		[ "$out" = ENOMEM ] ||
		    atf_fail "helper huge (NBMEM_DEBUG=$debug): $out"
	done
}

atf_test_case python3
python3_head()
{
	atf_set descr "python3: json, re, collections, sorting, big ints;" \
	    "Debian's, every object from malloc (PYTHONMALLOC=malloc)"
}
python3_body()
{
	need_lib
	# Debian's python3, not one a PATH puts first (pyenv's shims are
	# shell scripts); its small objects would come from pymalloc's
	# arenas, mapped apart from malloc: PYTHONMALLOC=malloc sends them
	# to malloc.
	py=/usr/bin/python3
	[ -x $py ] || py=python3
	need $py
	PYTHONMALLOC=malloc
	export PYTHONMALLOC
	cat >w.py <<'PY'
import collections, json, random, re, zlib
random.seed(7)
d = [{"k": str(i), "v": [random.random() for _ in range(10)],
      "s": "x" * (i % 300)} for i in range(6000)]
s = json.dumps(d, sort_keys=True)
assert json.loads(s) == d
c = collections.Counter(re.findall(r"\d\d", s))
print(len(s), c.most_common(3))
print(zlib.crc32(s.encode()))
print(sorted(d, key=lambda e: e["v"][3])[0]["k"])
print(sum(3 ** i for i in range(2000)) % 1000003)
PY
	both py $py w.py
	env LD_PRELOAD="$LIB" $py -c \
	    'print(open("/proc/self/maps").read())' | grep -q libnbmem_malloc ||
	    atf_fail "$py: the library is not loaded"
}

atf_test_case sqlite3
sqlite3_head()
{
	atf_set descr "sqlite3: a generated script of inserts, an index," \
	    "joins and aggregates"
}
sqlite3_body()
{
	need_lib
	need sqlite3
	awk 'BEGIN {
		print "CREATE TABLE t(id INTEGER PRIMARY KEY, g INT, s TEXT);";
		print "BEGIN;";
		for (i = 0; i < 40000; i++)
			printf "INSERT INTO t VALUES(%d, %d, \"%s%d\");\n",
			    i, i % 97, substr("abcdefghijklmnop", 1 + i % 16), i;
		print "COMMIT;";
		print "CREATE INDEX tg ON t(g, s);";
		print "SELECT g, count(*), max(s), sum(length(s)) FROM t GROUP BY g ORDER BY g;";
		print "SELECT count(*) FROM t a JOIN t b ON a.g = b.g AND a.id < b.id WHERE a.id < 2000;";
		print "UPDATE t SET s = s || s WHERE id % 3 = 0;";
		print "DELETE FROM t WHERE id % 5 = 0;";
		print "VACUUM;";
		print "SELECT count(*), sum(length(s)) FROM t;";
	}' >script.sql
	both sq sh -c 'rm -f db.sqlite; sqlite3 db.sqlite <script.sql'
}

atf_test_case git
git_head()
{
	atf_set descr "git: init, commits, log, gc, fsck in a temporary" \
	    "repository"
}
git_body()
{
	need_lib
	need git
	cat >g.sh <<'SH'
set -e
rm -rf repo
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.org
export GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.org
export GIT_AUTHOR_DATE='2024-01-01T00:00:00Z'
export GIT_COMMITTER_DATE='2024-01-01T00:00:00Z'
export HOME=$PWD GIT_CONFIG_NOSYSTEM=1
git init -q -b main repo
cd repo
for i in 1 2 3 4 5 6 7 8; do
	seq 1 $((i * 2000)) | sed "s/^/line $i /" >f$i.txt
	git add f$i.txt
	git commit -q -m "commit $i"
done
git log --format='%H %s' | cat
git gc -q --aggressive
git fsck --no-progress 2>&1 | sort
git count-objects -v | grep -v size
SH
	both git sh g.sh
}

atf_test_case cc
cc_head()
{
	atf_set descr "the C compiler: one of nbmem's sources to assembly"
}
cc_body()
{
	need_lib
	need cc
	both cc sh -c "cc -O2 -S -I$NBMEM_SOURCE_DIR/include \
	    -I$NBMEM_SOURCE_DIR/src -o - $NBMEM_SOURCE_DIR/src/vmem.c"
}

atf_test_case cxx
cxx_head()
{
	atf_set descr "C++: new and delete, arrays, over-aligned types," \
	    "nothrow and bad_alloc, threads, all through malloc"
}
cxx_body()
{
	need_lib
	need c++
	cat >n.cc <<'CC'
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <string>
#include <thread>
#include <vector>

struct alignas(256) A { char c[300]; };
struct alignas(8192) B { char c[10]; };

int
main(int argc, char **argv)
{
	if (argc > 1) {		/* operator new's block, freed from inside */
		char *volatile p = new char[100];
		std::free(p + 16);
		return 0;
	}
	std::vector<std::string> v;
	std::map<int, std::string> m;
	for (int i = 0; i < 20000; i++) {
		v.push_back(std::string(i % 300, 'a' + i % 26));
		m[i * 7 % 10007] = std::to_string(i);
	}
	A *a = new A[3];
	B *b = new B;
	std::printf("%d %d\n", (int)((uintptr_t)a % alignof(A)),
	    (int)((uintptr_t)b % alignof(B)));
	delete[] a;
	delete b;
	volatile std::size_t big = SIZE_MAX / 4;
	std::printf("%p\n", (void *)new (std::nothrow) char[big]);
	try {
		std::vector<char> huge(big);
	} catch (const std::bad_alloc &) {
		std::printf("bad_alloc\n");
	}
	std::vector<std::thread> t;
	for (int k = 0; k < 4; k++)
		t.emplace_back([k] {
			std::vector<std::vector<int> > q;
			for (int i = 0; i < 5000; i++)
				q.emplace_back(i % 200 + k, i);
		});
	for (auto &th : t)
		th.join();
	std::size_t n = 0;
	for (auto &s : v)
		n += s.size();
	std::printf("%zu %zu %s\n", n, m.size(), m[7].c_str());
	return 0;
}
CC
	c++ -O2 -std=c++17 -pthread -w -o n n.cc ||
	    atf_fail "the C++ program does not compile"
	both cxx ./n
	# operator new's block is malloc's: the library names it.
	if env LD_PRELOAD="$LIB" ./n misuse >out.txt 2>&1; then
		atf_fail "free inside operator new's block did not abort"
	fi
	grep -q "foreign pointer (16 bytes inside the block" out.txt || {
		cat out.txt >&2
		atf_fail "operator new's block is not the library's"
	}
	# It frees all it allocates: no leak, not even libstdc++'s
	# emergency pool for exceptions, kept to the end.
	env LD_PRELOAD="$LIB" NBMEM_DEBUG=leaks ./n >/dev/null 2>err.txt ||
	    atf_fail "the C++ program failed under NBMEM_DEBUG=leaks"
	if grep -q "nbmem: leak" err.txt; then
		cat err.txt >&2
		atf_fail "NBMEM_DEBUG=leaks reports a leak of the C++ program"
	fi
}

atf_test_case single_threaded
single_threaded_head()
{
	atf_set descr "the library starts no thread of its own in a" \
	    "single-threaded program's first second, so that" \
	    "unshare(CLONE_NEWUSER) works under it as under glibc; once" \
	    "the program has a thread, the decay thread follows"
}
single_threaded_body()
{
	need_lib
	both thr sh -c 'grep "^Threads:" /proc/$$/status'
	if unshare -U true 2>/dev/null; then
		env LD_PRELOAD="$LIB" unshare -U true ||
		    atf_fail "unshare -U fails under libnbmem_malloc.so"
	fi
	need cc
	cat >t.c <<'CC'
#include <sys/wait.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *
idle(void *arg)
{
	return arg;
}

/* How many of this process's threads are named nbmem-decay. */
static int
decay_threads(void)
{
	char path[300], comm[64];
	struct dirent *de;
	DIR *d;
	FILE *f;
	int n = 0;

	if ((d = opendir("/proc/self/task")) == NULL)
		exit(2);
	while ((de = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm",
		    de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(comm, sizeof(comm), f) != NULL &&
		    strcmp(comm, "nbmem-decay\n") == 0)
			n++;
		fclose(f);
	}
	closedir(d);
	return n;
}

/* How many threads this process has. */
static int
tasks(void)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	if ((d = opendir("/proc/self/task")) == NULL)
		exit(2);
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/*
 * thread: a thread of its own, then 1,000 callocs; pokes: 5,000
 * callocs and no thread; fork: as thread, then a child counts its
 * threads.  Prints the decay threads (fork: the child's threads).
 */
int
main(int argc, char **argv)
{
	int pokes = argc > 1 && strcmp(argv[1], "pokes") == 0;
	pthread_t t;
	int i, n;
	pid_t pid;

	if (!pokes) {
		pthread_create(&t, NULL, idle, NULL);
		pthread_join(t, NULL);
	}
	for (i = 0; i < (pokes ? 5000 : 1000); i++) {	/* a slow path */
		char *volatile p = calloc(1, 8192 + (size_t)i * 64);
		free(p);
	}
	/* The thread names itself once it runs: give it 5 seconds. */
	for (i = 0; (n = decay_threads()) == 0 && i < 500; i++)
		usleep(10000);
	if (argc > 1 && strcmp(argv[1], "fork") == 0) {
		if ((pid = fork()) == 0) {
			printf("%d\n", tasks());
			fflush(stdout);
			_exit(0);
		}
		waitpid(pid, NULL, 0);
		return n == 1 ? 0 : 3;
	}
	printf("%d\n", n);
	return 0;
}
CC
	cc -pthread -o t t.c || atf_fail "cannot build the test program"
	n=$(env LD_PRELOAD="$LIB" ./t thread)
	[ "$n" = 1 ] || atf_fail "$n decay threads after the program's own"
	# A single-threaded program gets them after a few thousand pokes.
	n=$(env LD_PRELOAD="$LIB" ./t pokes)
	[ "$n" = 1 ] || atf_fail "$n decay threads after 5,000 callocs"
	# A fork child is single-threaded again, whatever its parent ran.
	n=$(env LD_PRELOAD="$LIB" ./t fork) ||
	    atf_fail "the parent had no decay thread before its fork"
	[ "$n" = 1 ] || atf_fail "a fork child has $n threads, not 1"
}

atf_test_case deferred_comm
deferred_comm_head()
{
	atf_set descr "the publisher started late, from a thread of the" \
	    "program that named itself, still names the process in the" \
	    "segment, not that thread"
}
deferred_comm_body()
{
	need_lib
	need cc
	cat >t.c <<'CC'
#include <sys/prctl.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *
worker(void *arg)
{
	prctl(PR_SET_NAME, "nbw-worker", 0, 0, 0);
	for (int i = 0; i < 1000; i++)	/* calloc: a slow path */
		free(calloc(1, 8192 + (size_t)i * 64));
	return arg;
}

/* Has the segment been made (the publisher is starting)? */
static int
has_segment(void)
{
	char path[300], link[300];
	struct dirent *de;
	DIR *d;
	int n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		ssize_t l = readlink(path, link, sizeof(link) - 1);
		if (l > 0) {
			link[l] = '\0';
			n += strstr(link, "memfd:nbmem.stats") != NULL;
		}
	}
	closedir(d);
	return n;
}

int
main(int argc, char **argv)
{
	char cmd[600];
	pthread_t t;

	pthread_create(&t, NULL, worker, NULL);
	pthread_join(t, NULL);
	for (int tries = 0; !has_segment() && tries < 500; tries++)
		usleep(10000);
	snprintf(cmd, sizeof(cmd), "%s -p %d -w 1 -c 1 | head -1", argv[1],
	    (int)getpid());
	return system(cmd) == 0 ? 0 : 1;
}
CC
	cc -pthread -o nbw-main t.c || atf_fail "cannot build the program"
	env LD_PRELOAD="$LIB" ./nbw-main "$NBMEM_BINARY_DIR/nbmemstat" \
	    >out.txt || atf_fail "the test program failed"
	grep -q "(nbw-main)" out.txt || {
		cat out.txt >&2
		atf_fail "the segment does not name the process nbw-main"
	}
}

atf_test_case libc_names_wrapped
libc_names_wrapped_head()
{
	atf_set descr "a program that wraps calloc, memalign, valloc," \
	    "pvalloc, mallopt and mallinfo around glibc's __libc_ names," \
	    "as tracers do: no recursion, and aligned_alloc, mallinfo and" \
	    "malloc_info do not go through its wrappers (glibc 2.36)"
}
libc_names_wrapped_body()
{
	need_lib
	need cc
	cat >w.c <<'CC'
#define	_GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void	*__libc_calloc(size_t, size_t);
void	*__libc_memalign(size_t, size_t);
void	*__libc_valloc(size_t);
void	*__libc_pvalloc(size_t);
int	__libc_mallopt(int, int);
struct mallinfo __libc_mallinfo(void);

static int n_calloc, n_memalign, n_valloc, n_pvalloc, n_mallopt;
static int n_mallinfo, n_mallinfo2;

void *
calloc(size_t n, size_t m)
{
	n_calloc++;
	return __libc_calloc(n, m);
}

void *
memalign(size_t a, size_t n)
{
	n_memalign++;
	return __libc_memalign(a, n);
}

void *
valloc(size_t n)
{
	n_valloc++;
	return __libc_valloc(n);
}

void *
pvalloc(size_t n)
{
	n_pvalloc++;
	return __libc_pvalloc(n);
}

int
mallopt(int param, int value)
{
	n_mallopt++;
	return __libc_mallopt(param, value);
}

struct mallinfo
mallinfo(void)
{
	n_mallinfo++;
	return __libc_mallinfo();
}

struct mallinfo2
mallinfo2(void)
{
	struct mallinfo2 (*next)(void) = (struct mallinfo2 (*)(void))
	    dlsym(RTLD_NEXT, "mallinfo2");

	n_mallinfo2++;
	return next();
}

int
main(void)
{
	unsigned char *p;
	FILE *f = fopen("/dev/null", "w");

	n_calloc = n_memalign = n_valloc = n_pvalloc = n_mallopt = 0;
	n_mallinfo = n_mallinfo2 = 0;
	p = calloc(10, 10);
	printf("calloc %d %d\n", n_calloc, p != NULL && p[99] == 0);
	free(p);
	p = memalign(256, 100);
	printf("memalign %d %d\n", n_memalign, ((uintptr_t)p & 255) == 0);
	free(p);
	p = aligned_alloc(256, 100);
	printf("aligned_alloc %d %d\n", n_memalign,
	    ((uintptr_t)p & 255) == 0);
	free(p);
	p = valloc(100);
	printf("valloc %d %d\n", n_valloc, p != NULL);
	free(p);
	p = pvalloc(100);
	printf("pvalloc %d %d\n", n_pvalloc, p != NULL);
	free(p);
	printf("mallopt %d %d\n", n_mallopt, mallopt(M_MXFAST, 64));
	(void)mallinfo();
	printf("mallinfo %d %d\n", n_mallinfo, n_mallinfo2);
	(void)malloc_info(0, f);
	printf("malloc_info %d\n", n_mallinfo2);
	fclose(f);
	return 0;
}
CC
	cc -O2 -w -o w w.c -ldl || atf_fail "the C program does not compile"
	# A loop between a wrapper and its __libc_ name runs with signals
	# blocked (the program's start starts a thread): KILL ends it.
	both libc timeout -s KILL 60 ./w
}

atf_test_case memcheck_names
memcheck_names_head()
{
	atf_set descr "under valgrind's memcheck, which replaces the" \
	    "library's malloc, free, realloc and valloc with its own," \
	    "reallocarray, pvalloc and the __libc_ names take and give" \
	    "memcheck's blocks: no foreign pointer, no mismatched free"
}
memcheck_names_body()
{
	need_lib
	need cc
	need valgrind
	cat >m.c <<'CC'
#define	_GNU_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void	*__libc_malloc(size_t);
void	__libc_free(void *);
void	*__libc_realloc(void *, size_t);

int
main(void)
{
	char *p = malloc(100);

	memset(p, 1, 100);
	p = reallocarray(p, 50, 4);
	printf("reallocarray %d\n", p != NULL && p[99] == 1);
	free(p);
	p = reallocarray(NULL, 10, 10);
	p = realloc(p, 1000);
	free(p);
	p = pvalloc(100);
	free(p);
	p = __libc_malloc(100);
	free(p);
	p = malloc(100);
	p = __libc_realloc(p, 300);
	__libc_free(p);
	p = __libc_realloc(NULL, 300);
	free(p);
	return 0;
}
CC
	cc -O0 -w -o m m.c || atf_fail "the C program does not compile"
	env LD_PRELOAD="$LIB" timeout 300 valgrind -q --error-exitcode=9 \
	    --leak-check=full ./m >out.txt 2>vg.txt || {
		cat vg.txt >&2
		atf_fail "memcheck reports an error, or the program failed"
	}
	grep -q "^reallocarray 1$" out.txt || atf_fail "reallocarray lost data"
}

atf_test_case setuid_env
setuid_env_head()
{
	atf_set descr "a set-user-ID program linked with the library" \
	    "ignores the NBMEM_ variables (secure_getenv), as glibc" \
	    "its malloc tunables: no budget, no debug report from them"
	atf_set "require.user" "root"
}
setuid_env_body()
{
	need_lib
	need cc
	cat >s.c <<'CC'
#include <sys/auxv.h>
#include <stdio.h>
#include <stdlib.h>

int
main(void)
{
	char *p = malloc(8 << 20);

	printf("secure %lu malloc %s\n", getauxval(AT_SECURE),
	    p != NULL ? "ok" : "ENOMEM");
	return 0;
}
CC
	cc -o s s.c -L"$NBMEM_BINARY_DIR" -lnbmem_malloc \
	    -Wl,-rpath,"$NBMEM_BINARY_DIR" ||
	    atf_fail "the C program does not compile"
	# The variables work in the plain program.
	env NBMEM_PHYSMEM=1M ./s >plain.txt 2>&1
	grep -q "^secure 0 malloc ENOMEM$" plain.txt || {
		cat plain.txt >&2
		atf_fail "NBMEM_PHYSMEM=1M did not limit the plain program"
	}
	cp s su && chown nobody su && chmod 4755 su ||
	    atf_skip "cannot make a set-user-ID program"
	env NBMEM_PHYSMEM=1M NBMEM_DEBUG=leaks ./su >su.txt 2>su.err
	grep -q "^secure 1 " su.txt ||
	    atf_skip "the set-user-ID bit does not apply here (nosuid?)"
	grep -q "^secure 1 malloc ok$" su.txt || {
		cat su.txt >&2
		atf_fail "NBMEM_PHYSMEM limits a set-user-ID program"
	}
	if grep -q "nbmem:" su.err; then
		cat su.err >&2
		atf_fail "NBMEM_DEBUG=leaks reports in a set-user-ID program"
	fi
}

atf_test_case perl
perl_head()
{
	atf_set descr "perl: hashes, sorting, regular expressions, strings"
}
perl_body()
{
	need_lib
	need perl
	both pl perl -e '
		my %h; my $s = "";
		for my $i (1 .. 100000) { $h{"k$i"} = $i * 3; }
		for my $k (sort keys %h) { $s .= $k if $h{$k} % 7 == 0; }
		my @m = ($s =~ /k(\d*77)/g);
		print scalar(@m), " ", length($s), "\n";
		my @a = map { [$_, reverse $_] } 1 .. 50000;
		print join(",", map { $_->[1] } (sort { $b->[0] <=> $a->[0] } @a)[0 .. 4]), "\n";
		delete @h{grep { /5/ } keys %h};
		print scalar(keys %h), "\n";'
}

atf_test_case redis
redis_head()
{
	atf_set descr "redis-server driven by redis-benchmark on loopback"
}
# redis_run OUT: a server (preloaded when LD_PRELOAD is set), a short
# benchmark, then commands whose replies must be the same.
# A server that exits at once (its port taken by another program's
# connection) is started again on the next port, five times at most.
redis_run()
{
	local port=$((20000 + $$ % 20000)) i tries=0 pid
	local pre=${LD_PRELOAD-}
	unset LD_PRELOAD
	while :; do
		env ${pre:+LD_PRELOAD=$pre} redis-server --port $port \
		    --bind 127.0.0.1 --save '' --appendonly no \
		    --daemonize no >server.log 2>&1 &
		pid=$!
		i=0
		until redis-cli -p $port ping >/dev/null 2>&1; do
			kill -0 $pid 2>/dev/null || break
			i=$((i + 1))
			[ $i -lt 100 ] || { kill $pid; cat server.log >&2;
			    atf_fail "redis did not start"; }
			sleep 0.1
		done
		kill -0 $pid 2>/dev/null && break
		tries=$((tries + 1))
		[ $tries -lt 5 ] || { cat server.log >&2;
		    atf_fail "redis exited at start"; }
		port=$((port + 1))
	done
	redis-benchmark -p $port -q -n 20000 -P 8 -d 200 \
	    -t set,get,incr,lpush,lpop,sadd,hset >bench.txt 2>&1 ||
	    { kill $pid; atf_fail "redis-benchmark failed"; }
	{
		for k in 1 2 3 4 5; do
			redis-cli -p $port set key$k "$(seq -s, 1 $((k * 500)))"
			redis-cli -p $port strlen key$k
		done
		redis-cli -p $port rpush l a b c d e f
		redis-cli -p $port lrange l 1 3
		redis-cli -p $port flushall
		redis-cli -p $port dbsize
	} >"$1"
	redis-cli -p $port shutdown nosave >/dev/null 2>&1
	wait $pid
	grep -q "requests per second" bench.txt ||
	    atf_fail "redis-benchmark printed no result"
}
redis_body()
{
	need_lib
	need redis-server
	need redis-benchmark
	redis_run rd.sys
	LD_PRELOAD=$LIB redis_run rd.nb
	cmp -s rd.sys rd.nb || atf_fail "redis replies differ"
}

atf_init_test_cases()
{
	atf_add_test_case helper
	atf_add_test_case thread_groups
	atf_add_test_case sig_open
	atf_add_test_case diagnostics
	atf_add_test_case aligned
	atf_add_test_case leaks_clean
	atf_add_test_case backtrace
	atf_add_test_case huge
	atf_add_test_case python3
	atf_add_test_case sqlite3
	atf_add_test_case git
	atf_add_test_case cc
	atf_add_test_case cxx
	atf_add_test_case libc_names_wrapped
	atf_add_test_case memcheck_names
	atf_add_test_case setuid_env
	atf_add_test_case single_threaded
	atf_add_test_case deferred_comm
	atf_add_test_case perl
	atf_add_test_case redis
}

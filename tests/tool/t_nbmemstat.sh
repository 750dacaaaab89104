#! /usr/bin/atf-sh
# SPDX-License-Identifier: BSD-2-Clause
#
# t_nbmemstat: nbmemstat(1) against a live process whose operations are
# known (stat_helper.c): the counts, in-use figures and page counts it
# shows are what the process did; watching shows the interval's
# changes; a process leaves no segment behind; bad input is refused with
# a message and a non-zero exit, never a crash.

NBMEM_SOURCE_DIR='@NBMEM_SOURCE_DIR@'
NBMEM_BINARY_DIR='@NBMEM_BINARY_DIR@'

LC_ALL=C
export LC_ALL
# The segment is on by default except in ThreadSanitizer builds: ask.
NBMEM_STATS=on
export NBMEM_STATS

STAT=$NBMEM_BINARY_DIR/nbmemstat
HELPER=$NBMEM_BINARY_DIR/tests/tool/stat_helper

# wait_file FILE: until FILE exists (the helper's ready signal).
wait_file()
{
	local i=0

	while [ ! -f "$1" ]; do
		i=$((i + 1))
		[ $i -lt 600 ] || atf_fail "$1 never appeared"
		sleep 0.1
	done
}

# start_helper: run stat_helper in the background, wait until it has
# done phase 1, and read what it did (PID, POOL_LIVE, ...).
start_helper()
{
	"$HELPER" run "$PWD/exp" &
	HPID=$!
	wait_file exp
	. ./exp
	[ "$PID" = "$HPID" ] || atf_fail "helper PID $PID, expected $HPID"
}

# phase2: let the helper do phase 2 and read the new figures.
phase2()
{
	kill -USR1 "$HPID"
	wait_file exp.2
	. ./exp.2
}

stop_helper()
{
	kill -TERM "$HPID" 2>/dev/null
	wait "$HPID" 2>/dev/null
	return 0
}

# field FILE NAME N: column N of the first row named NAME.
field()
{
	awk -v n="$2" -v c="$3" '$1 == n { print $c; exit }' "$1"
}

# expect_eq WHAT GOT WANT
expect_eq()
{
	[ "$2" = "$3" ] || atf_fail "$1: got '$2', expected '$3'"
}

atf_test_case pools
pools_head()
{
	atf_set descr "-m: the pool's counts and pages are what it did"
}
pools_body()
{
	start_helper
	atf_check -o save:m1 "$STAT" -m -p "$PID"
	atf_check -o match:'^Memory resource pool statistics' cat m1
	atf_check -o match:'^Totals' -o match:'^In use [0-9]+K, total allocated' \
	    cat m1
	# Name Size Requests Fail Releases Pgreq Pgrel Npage Hiwat Minpg
	# Maxpg Idle (-W adds InUse, Avail, PageSz, Flags and Util)
	expect_eq size "$(field m1 th-pool 2)" 512
	expect_eq requests "$(field m1 th-pool 3)" 300
	expect_eq fail "$(field m1 th-pool 4)" 0
	expect_eq releases "$(field m1 th-pool 5)" 0
	expect_eq pgreq "$(field m1 th-pool 6)" "$POOL_LIVE_PAGES"
	expect_eq pgrel "$(field m1 th-pool 7)" 0
	expect_eq npage "$(field m1 th-pool 8)" "$POOL_LIVE_PAGES"
	expect_eq hiwat "$(field m1 th-pool 9)" "$POOL_LIVE_PAGES"
	expect_eq idle "$(field m1 th-pool 12)" 0
	# The cache's pool: one pool-layer get per constructed object.
	expect_eq "cache requests" "$(field m1 th-cache 3)" "$CACHE_CTOR"
	atf_check -o save:w1 "$STAT" -m -W -p "$PID"
	expect_eq inuse "$(field w1 th-pool 6)" "$POOL_LIVE"
	expect_eq "cache inuse" "$(field w1 th-cache 6)" \
	    "$((CACHE_CTOR - CACHE_DTOR))"

	phase2
	atf_check -o save:m2 "$STAT" -m -W -p "$PID"
	expect_eq requests "$(field m2 th-pool 3)" 300
	expect_eq releases "$(field m2 th-pool 5)" 100
	expect_eq inuse "$(field m2 th-pool 6)" "$POOL_LIVE"
	npage=$(field m2 th-pool 10)
	pgreq=$(field m2 th-pool 8)
	pgrel=$(field m2 th-pool 9)
	idle=$(field m2 th-pool 15)
	expect_eq "pgreq - pgrel" "$((pgreq - pgrel))" "$npage"
	expect_eq "npage - idle" "$((npage - idle))" "$POOL_LIVE_PAGES"
	stop_helper
}

atf_test_case wide
wide_head()
{
	atf_set descr "-m: vmstat -m's columns; -W adds those of vmstat -m -W"
}
wide_body()
{
	start_helper
	atf_check -o save:m "$STAT" -m -p "$PID"
	c1="Name Size Requests Fail Releases"
	c2="Hiwat Minpg Maxpg Idle"
	expect_eq header "$(sed -n 2p m | tr -s ' ')" \
	    "$c1 Pgreq Pgrel Npage $c2"
	expect_eq "row fields" "$(awk '$1 == "th-pool" { print NF }' m)" 12
	# Totals: Requests Fail Releases Pgreq Pgrel Npage
	expect_eq "totals fields" "$(awk '$1 == "Totals" { print NF }' m)" 7
	atf_check -o save:w "$STAT" -m -W -p "$PID"
	expect_eq "wide header" "$(sed -n 2p w | tr -s ' ')" \
	    "$c1 InUse Avail Pgreq Pgrel Npage PageSz $c2 Flags Util"
	expect_eq "wide totals fields" \
	    "$(awk '$1 == "Totals" { print NF }' w)" 9
	expect_eq pagesz "$(field w th-pool 11)" 4096
	# Flags in hexadecimal with 0x, at least four digits; Util in %.
	field w th-pool 16 | grep -Eq '^0x[0-9a-f]{4,}$' ||
	    atf_fail "flags '$(field w th-pool 16)'"
	util=$(field w th-pool 17)
	inuse=$(field w th-pool 6)
	npage=$(field w th-pool 10)
	expect_eq util "$util" "$(awk -v i="$inuse" -v n="$npage" \
	    'BEGIN { printf "%.1f%%", 100 * i * 512 / (n * 4096) }')"
	# The summary's percentage is that of the kilobyte figures shown.
	line=$(grep '^In use' w)
	k_in=$(echo "$line" | sed 's/^In use \([0-9]*\)K.*/\1/')
	k_tot=$(echo "$line" | sed 's/.*total allocated \([0-9]*\)K.*/\1/')
	pct=$(echo "$line" | sed 's/.*utilization \([0-9.]*\)%$/\1/')
	expect_eq utilization "$pct" "$(awk -v i="$k_in" -v t="$k_tot" \
	    'BEGIN { printf "%.1f", 100 * i / t }')"
	stop_helper
}

atf_test_case caches
caches_head()
{
	atf_set descr "-C: the CPU layer saw every get and put"
}
caches_body()
{
	start_helper
	atf_check -o save:c1 "$STAT" -C -p "$PID"
	atf_check -o match:'^Pool cache statistics\.' \
	    -o match:'Name +Spin +GrpSz +Full +Emty +PoolLayer +CacheLayer +Hit% +CpuLayer +Hit%' \
	    cat c1
	# Name Spin GrpSz Full Emty PoolLayer CacheLayer Hit% CpuLayer Hit%
	expect_eq cpulayer "$(field c1 th-cache 9)" 70
	grpsz=$(field c1 th-cache 3)
	[ "$grpsz" -gt 0 ] || atf_fail "group size $grpsz"
	phase2
	atf_check -o save:c2 "$STAT" -C -p "$PID"
	expect_eq cpulayer "$(field c2 th-cache 9)" 95
	atf_check -o match:'"name":"th-cache","size":200,' \
	    -o match:'"cpu_layer":95,' "$STAT" -C -p "$PID" --json
	stop_helper
}

atf_test_case arenas
arenas_head()
{
	atf_set descr "-v: an arena's size, use, segments and quantum caches"
}
arenas_body()
{
	start_helper
	atf_check -o save:v "$STAT" -v -p "$PID"
	atf_check -o match:'^Vmem arena statistics' cat v
	# Name Quantum Size InUse Free Spans Added Busy FreeSg Allocs Frees
	# Imports Release QcHit QcMiss Hit%
	expect_eq quantum "$(field v th-ids 2)" 1
	expect_eq size "$(field v th-ids 3)" 1000
	expect_eq inuse "$(field v th-ids 4)" 49
	expect_eq free "$(field v th-ids 5)" 951
	expect_eq "imported spans" "$(field v th-ids 6)" 0
	expect_eq "added spans" "$(field v th-ids 7)" 1
	expect_eq busy "$(field v th-ids 8)" 7
	expect_eq allocs "$(field v th-ids 10)" 10
	expect_eq frees "$(field v th-ids 11)" 3
	expect_eq "no quantum cache" "$(field v th-ids 16)" -
	qchit=$(field v th-qc 14)
	[ "$qchit" -gt 0 ] || atf_fail "th-qc: quantum cache hits $qchit"
	atf_check -o match:'"name":"th-ids","quantum":1,"size":1000,"inuse":49,"free":951,' \
	    "$STAT" -v -p "$PID" --json
	stop_helper
}

atf_test_case kmem
kmem_head()
{
	atf_set descr "-k: size classes, kmem arenas and the memory budget"
}
kmem_body()
{
	NBMEM_PHYSMEM=64M
	export NBMEM_PHYSMEM
	start_helper
	unset NBMEM_PHYSMEM
	atf_check -o save:k "$STAT" -k -p "$PID"
	atf_check -o match:'^kmem size classes' -o match:'^kmem arenas' \
	    -o match:'^kva ' -o match:'^Memory budget 65536K, in use [0-9]+K' \
	    cat k
	# Name Size InUse Avail Bytes Npage PageBytes Requests Hit%
	expect_eq "kmem-00064 in use" "$(field k kmem-00064 3)" 10
	expect_eq "kmem-00064 bytes" "$(field k kmem-00064 5)" 640
	expect_eq "kmem-00064 requests" "$(field k kmem-00064 8)" 10
	# Idle classes only with -a.
	atf_check -s exit:1 grep '^kmem-00008 ' k
	atf_check -o match:'^kmem-00008 +8 +0 ' "$STAT" -k -a -p "$PID"
	# The large object is a busy segment of kva, 256 KiB or more.
	kva=$(field k kva 4)
	[ "$kva" -ge 262144 ] || atf_fail "kva in use $kva"
	# ... and counted by kmem's large path: one made, none freed.
	atf_check -o match:'^large allocations: 1 made, 0 freed, 256K in use$' \
	    -o match:'reclaim: [0-9]+ passes, [0-9]+K released$' cat k
	atf_check -o match:'"budget":\{"limit":67108864,' \
	    "$STAT" -k -p "$PID" --json
	stop_helper
}

atf_test_case stopped
stopped_head()
{
	atf_set descr "a process that does not answer is shown from its last snapshot"
}
stopped_body()
{
	start_helper
	atf_check -o match:'^th-pool ' "$STAT" -m -p "$PID"
	kill -STOP "$PID"
	atf_check -o match:'^th-pool +512 +300 ' \
	    -e match:"process $PID did not answer within 0.3 s; showing its last snapshot" \
	    "$STAT" -m -t 0.3 -p "$PID"
	kill -CONT "$PID"
	atf_check -o match:'^th-pool ' -e empty "$STAT" -m -p "$PID"
	stop_helper
}

atf_test_case closed_fd
closed_fd_head()
{
	atf_set descr "a program that closes the segment's descriptor gets a new segment; its own file at that number is never touched"
}
closed_fd_body()
{
	# ThreadSanitizer reports the program's close of a descriptor the
	# publisher uses: the very misuse the test plays.
	grep -q '^NBMEM_SANITIZE:.*thread' "$NBMEM_BINARY_DIR/CMakeCache.txt" &&
	    atf_skip "a ThreadSanitizer build reports the stolen descriptor"
	NBMEM_STATS=on,period=0.2
	export NBMEM_STATS
	"$HELPER" closefd "$PWD/exp" &
	HPID=$!
	NBMEM_STATS=on
	wait_file exp
	. ./exp
	# Within a few periods the segment is made again.
	i=0
	while ! "$STAT" -m -p "$PID" >m 2>err; do
		i=$((i + 1))
		[ $i -lt 100 ] || atf_fail "no new segment: $(cat err)"
		sleep 0.1
	done
	atf_check -o match:'^th-pool +512 +300 ' cat m
	# Publish a few more times; the file is as the program left it.
	atf_check -o ignore "$STAT" -m -C -v -k -a -p "$PID"
	atf_check -o inline:'precious\n' cat exp.victim
	stop_helper
}

atf_test_case sort
sort_head()
{
	atf_set descr "-s KEY orders the rows; a bad key is refused"
}
sort_body()
{
	start_helper
	atf_check -o save:s "$STAT" -m -a -s requests -p "$PID"
	expect_eq "first row" "$(awk 'NR == 3 { print $1 }' s)" th-pool
	atf_check -o save:n "$STAT" -m -a -s name -p "$PID"
	awk 'NR > 2 && $1 != "Totals" && NF > 10 { print $1 }' n >names
	sort names >sorted
	atf_check cmp names sorted
	atf_check -s exit:2 -e match:'not a sort key' \
	    "$STAT" -m -s bogus -p "$PID"
	stop_helper
}

atf_test_case list
list_head()
{
	atf_set descr "without -p: the processes using nbmem"
}
list_body()
{
	start_helper
	atf_check -o save:l "$STAT"
	atf_check -o match:'PID +COMMAND +POOLS +CACHES +ARENAS +INUSE' cat l
	row=$(awk -v p="$PID" '$1 == p' l)
	echo "$row" | grep -q ' stat_helper ' || atf_fail "no row: $row"
	atf_check -o match:"\\{\"pid\":$PID,\"comm\":\"stat_helper\"" \
	    "$STAT" --json
	stop_helper
}

atf_test_case watch
watch_head()
{
	atf_set descr "-w 1 -c N: the first display counts since start, the next the interval"
}
watch_body()
{
	start_helper
	"$STAT" -m -a -p "$PID" -w 1 -c 4 >w 2>werr &
	spid=$!
	wait_file w
	i=0
	while ! grep -q '^In use' w; do
		i=$((i + 1))
		[ $i -lt 600 ] || atf_fail "no first display: $(cat werr)"
		sleep 0.05
	done
	phase2
	wait $spid || atf_fail "nbmemstat -w failed: $(cat werr)"
	expect_eq displays "$(grep -c '^--- process' w)" 4
	expect_eq intervals "$(grep -c 'over the interval$' w)" 3
	# Releases over the three intervals add up to phase 2's puts.
	sum=$(awk '$1 == "th-pool" { n++; if (n > 1) s += $5 } END { print s }' w)
	expect_eq "releases over the intervals" "$sum" 100
	first=$(field w th-pool 3)
	expect_eq "requests since start" "$first" 300
	atf_check -o save:j "$STAT" -m -p "$PID" -w 1 -c 2 --json
	expect_eq "json lines" "$(grep -c '^{"pid"' j)" 2
	atf_check -o match:'"interval":1\.' sed -n 2p j
	stop_helper
}

atf_test_case gone
gone_head()
{
	atf_set descr "a process that exits, even by abort, leaves no segment"
}
gone_body()
{
	ls /dev/shm >before 2>/dev/null || true
	atf_check -s exit:0 "$HELPER" exit
	atf_check -s signal:abrt -e ignore "$HELPER" abort
	"$HELPER" exit &
	pid=$!
	wait $pid
	atf_check -s exit:1 -e match:"no process with PID $pid" \
	    "$STAT" -m -p "$pid"
	ls /dev/shm >after 2>/dev/null || true
	atf_check cmp before after
	# The memfd goes with the process: nothing of nbmem in /dev/shm.
	atf_check -s exit:1 grep nbmem after
}

atf_test_case refused
refused_head()
{
	atf_set descr "no such process, a process without nbmem, NBMEM_STATS=off, bad options"
}
refused_body()
{
	atf_check -s exit:1 -e match:'no process with PID 2000000000' \
	    "$STAT" -m -p 2000000000
	sleep 60 &
	spid=$!
	# Until the child has exec'd sleep, /proc shows the shell's name.
	i=0
	while [ "$(cat /proc/$spid/comm 2>/dev/null)" != sleep ]; do
		i=$((i + 1))
		[ $i -lt 600 ] || atf_fail "sleep $spid never started"
		sleep 0.01
	done
	atf_check -s exit:1 -e match:"process $spid \\(sleep\\) publishes no nbmem statistics" \
	    "$STAT" -m -p "$spid"
	kill $spid
	NBMEM_STATS=off
	export NBMEM_STATS
	start_helper
	NBMEM_STATS=on
	atf_check -s exit:1 -e match:'publishes no nbmem statistics' \
	    "$STAT" -C -p "$PID"
	stop_helper
	atf_check -s exit:2 -e match:'bad PID' "$STAT" -m -p 12x
	atf_check -s exit:2 -e match:'bad number of seconds' \
	    "$STAT" -m -p 1 -w 0
	atf_check -s exit:2 -e match:'needs -p' "$STAT" -m
	atf_check -s exit:2 -e match:'usage' "$STAT" -Q
}

atf_test_case foreign_live
foreign_live_head()
{
	atf_set descr "a live process whose segment is foreign or empty is refused"
}
foreign_live_body()
{
	for kind in garbage empty; do
		rm -f exp
		NBMEM_STATS=off "$HELPER" fake $kind "$PWD/exp" &
		HPID=$!
		wait_file exp
		. ./exp
		case $kind in
		garbage) want='not an nbmem statistics segment \(magic 0x41414141\)' ;;
		empty) want='not an nbmem statistics segment \(0 bytes, too short\)' ;;
		esac
		atf_check -s exit:1 -o empty -e match:"process $PID: $want" \
		    "$STAT" -m -t 0.2 -p "$PID"
		stop_helper
	done
}

# poke FILE OFFSET BYTES...: overwrite bytes (octal escapes) in place.
poke()
{
	local f=$1 off=$2

	shift 2
	printf "$*" | dd of="$f" bs=1 seek="$off" conv=notrunc 2>/dev/null
}

atf_test_case damaged
damaged_head()
{
	atf_set descr "a damaged or foreign segment is refused, never a crash"
}
damaged_body()
{
	NBMEM_STATS=on,period=0
	export NBMEM_STATS
	start_helper
	NBMEM_STATS=on
	fd=$(ls -l /proc/"$PID"/fd | awk '/memfd:nbmem.stats/ { print $9 }')
	[ -n "$fd" ] || atf_fail "no nbmem.stats memfd in /proc/$PID/fd"
	# Ask for a snapshot, then copy the idle process's segment.
	atf_check -o ignore "$STAT" -m -p "$PID"
	cat /proc/"$PID"/fd/"$fd" >good
	stop_helper
	atf_check -o match:'^th-pool ' "$STAT" -f good -m
	atf_check -o match:'^th-ids ' "$STAT" -f good -v

	# Header offsets (src/stats_seg.h): magic 0, version 4, seq 16,
	# segsize 20, pid 24, glob 64/68, pools 72/76/80, arenas 84/88/92.
	check_bad()
	{
		atf_check -s exit:1 -o empty -e match:"$2" "$STAT" -f "$1" -m -v -k
	}
	cp good b1; poke b1 0 '\0\0\0\0'
	check_bad b1 'not an nbmem statistics segment \(magic 0\)'
	cp good b2; poke b2 4 '\11\0'
	check_bad b2 'version 9'
	cp good b3; poke b3 76 '\377\377\377\177'
	check_bad b3 'damaged segment: [0-9]+ pool records'
	cp good b4; poke b4 72 '\0\0\0\1'
	check_bad b4 'pool table .* outside'
	cp good b5; poke b5 80 '\10\0\0\0'
	check_bad b5 'pool records of 8 bytes'
	cp good b6; poke b6 20 '\0\0\0\3'
	check_bad b6 'damaged segment'
	cp good b7; poke b7 16 '\1\0\0\0'
	check_bad b7 'mid-update'
	cp good b8; poke b8 92 '\377\377\0\0'
	check_bad b8 'arena records of 65535 bytes'
	cp good b9; poke b9 64 '\377\377\377\377'
	check_bad b9 'global record'
	head -c 100 good >short
	check_bad short 'too short'
	: >empty
	check_bad empty 'too short'
	check_bad /bin/sh 'not an nbmem statistics segment'
	atf_check -s exit:1 -e match:'No such file' "$STAT" -f nonexistent -m
	# A segment whose names are not terminated and not printable.
	cp good b10
	off=$(od -An -t u4 -j 72 -N 4 good | tr -d ' ')
	poke b10 "$off" '\1\2\033[2J\377abcdefghi'
	atf_check -o match:'^\?\?\?\[2J\?abcdefgh ' "$STAT" -f b10 -m -a
	# Garbage over every part: refused or printed, never a crash.
	size=$(wc -c <good)
	i=0
	while [ $i -lt 60 ]; do
		cp good r
		off=$(( (i * 7919) % size ))
		case $((i % 4)) in
		0) poke r "$off" '\377\377\377\377\377\377\377\377' ;;
		1) poke r "$off" '\0\0\0\200\0\0\0\200' ;;
		2) poke r "$off" '\1\0\0\0\377\377\377\177' ;;
		3) poke r "$off" '\033\n\t%s%n\0' ;;
		esac
		"$STAT" -f r -m -C -v -k -a >/dev/null 2>err
		rc=$?
		[ $rc -le 1 ] || atf_fail "exit $rc at offset $off: $(cat err)"
		i=$((i + 1))
	done
}

atf_test_case exit_tables
exit_tables_head()
{
	atf_set descr "NBMEM_STATS=exit prints the tables on stderr at exit"
}
exit_tables_body()
{
	atf_check -s exit:0 -e save:e env NBMEM_STATS=exit "$HELPER" exit
	atf_check -o match:'^Memory resource pool statistics' \
	    -o match:'^th-pool +512 +300 ' -o match:'^Pool cache statistics' \
	    -o match:'^th-cache ' -o match:'^Vmem arena statistics' \
	    -o match:'^th-ids ' -o match:'^Memory budget' cat e
	atf_check -s exit:0 -e save:c env NBMEM_STATS=off,exit=C "$HELPER" exit
	atf_check -o match:'^Pool cache statistics' \
	    -o not-match:'Memory resource pool' cat c
	atf_check -s exit:0 \
	    -e match:'NBMEM_STATS: unknown word "bogus" ignored' \
	    env NBMEM_STATS=bogus "$HELPER" exit
}

atf_test_case installed
installed_head()
{
	atf_set descr "make install puts nbmemstat in bin/ and its page in man1/"
}
installed_body()
{
	DESTDIR=$PWD/dest cmake --install "$NBMEM_BINARY_DIR" >install.log 2>&1 ||
	    atf_fail "cmake --install failed: $(tail -n 5 install.log)"
	bin=$(find dest -path '*/bin/nbmemstat' -type f)
	[ -n "$bin" ] && [ -x "$bin" ] || atf_fail "no bin/nbmemstat installed"
	find dest -path '*/man1/nbmemstat.1' | grep -q . ||
	    atf_fail "no man1/nbmemstat.1 installed"
	find dest -path '*/man3/nbmem_stats_print.3' | grep -q . ||
	    atf_fail "no man3/nbmem_stats_print.3 installed"
	atf_check -s exit:2 -e match:'^usage: nbmemstat' "$bin" -h
}

atf_init_test_cases()
{
	atf_add_test_case pools
	atf_add_test_case wide
	atf_add_test_case caches
	atf_add_test_case arenas
	atf_add_test_case kmem
	atf_add_test_case stopped
	atf_add_test_case closed_fd
	atf_add_test_case sort
	atf_add_test_case list
	atf_add_test_case watch
	atf_add_test_case gone
	atf_add_test_case refused
	atf_add_test_case damaged
	atf_add_test_case foreign_live
	atf_add_test_case exit_tables
	atf_add_test_case installed
}

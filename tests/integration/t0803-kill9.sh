#!/bin/bash
# The launcher killed with -9 at many points of a run, from before the
# start record to after the final one: every record on disk parses and
# validates, no program is left running, the store verifies clean. Then
# gc, with the default grace period, removes at once what the dead
# launchers left (run directories without a record, temp files, views,
# cgroups) and disturbs nothing a live run uses. As root and as an
# ordinary user.
. "$top_srcdir/tests/integration/lib.sh"

# kill9_loop N WHO: N runs, each launcher killed after a random delay.
kill9_loop() {
	local n=$1 who=$2 pids=
	# root's --pids makes a cgroup xrun-<id>: one more thing to leave
	[ "$who" = root ] && pids="--pids 200"
	for i in $(seq 1 "$n"); do
		if [ "$who" = root ]; then
			"$XRUN" -q run $pids -i input.txt -o out sh -c "echo $marker >/dev/null; echo x >out/f; sleep 0.0$((i % 5))" \
				>/dev/null 2>&1 &
		else
			# setpriv and env exec: $! is the launcher itself
			setpriv --reuid="$TEST_USER" --regid="$TEST_USER" --init-groups \
				env HOME="$uhome" "$XRUN" -q run -i input.txt -o out sh -c "echo $marker >/dev/null; echo x >out/f; sleep 0.0$((i % 5))" \
				>/dev/null 2>&1 &
		fi
		pid=$!
		# 0 to 149 ms: before, during and after the program, and
		# while the final record is written
		sleep "$(printf '0.%03d' $((RANDOM % 150)))"
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
}

# scenario WHO N: the loop, the checks, gc beside a live run.
scenario() {
	local who=$1 n=$2 as=
	local w=$T/$who
	mkdir -p "$w" && cd "$w" || exit 1
	[ "$who" = user ] && as=as_user && chown "$TEST_USER:" "$w"
	$as sh -c 'echo data >input.txt'
	$as "$XRUN" -q run true
	kill9_loop "$n" "$who"
	sleep 0.5
	left=$(pgrep -f "$marker" | wc -l)
	is "$left" 0 "$who: no program outlives its killed launcher ($n kills)"
	bad=0
	nrec=0
	for rec in .xrun/runs/*/record.json; do
		nrec=$((nrec + 1))
		"$PYTHON3" -c 'import json,sys; json.load(open(sys.argv[1]))' "$rec" 2>/dev/null || bad=$((bad + 1))
	done
	is "$bad" 0 "$who: every record on disk parses ($nrec records)"
	check "$who: ... and validates" -- validate .xrun/runs/*/record.json
	$as "$XRUN" ls >ls.out 2>&1
	is "$?" 0 "$who: xrun ls reads the store"
	like "$(cat ls.out)" "abandoned|succeeded" "$who: ... and shows the runs"
	# A record left "running" by a launcher killed during its run reads
	# as abandoned.
	running=$(grep -l '"status": "running"' .xrun/runs/*/record.json | wc -l)
	abandoned=$($as "$XRUN" ls --json | "$PYTHON3" -c 'import json,sys; print(sum(r["status"] == "abandoned" for r in json.load(sys.stdin)))')
	is "$abandoned" "$running" "$who: every run whose launcher died reads as abandoned ($running)"
	$as "$XRUN" -q verify --all
	is "$?" 0 "$who: every object in the store matches its digest"
	is "$(find .xrun/objects -name '*.tmp' -o -name 'obj-*' | wc -l)" 0 "$who: no half-written object is named as one"
	echo "# $who: left by the dead launchers: $(find .xrun/runs -mindepth 1 -maxdepth 1 -type d '!' -exec test -e '{}/record.json' ';' -print | wc -l) run directories without a record, $(find .xrun/tmp -mindepth 1 -maxdepth 1 | wc -l) entries in tmp/"

	# A live run, waiting for a signal, that gc must not disturb. Its
	# -o path is its own (the host's writes there do not reach it): the
	# go-ahead is a SIGUSR1, which xrun forwards.
	$as sh -c 'echo live >live.txt; mkdir -p sig'
	$as "$XRUN" -q run $([ "$who" = root ] && echo --pids 200) --timeout 120 -i live.txt -o sig -- \
		sh -c 'trap "cat live.txt; exit 0" USR1; echo ready; while :; do sleep 0.1; done' >live.out 2>&1 &
	live=$!
	live_id=
	for _ in $(seq 100); do
		live_id=$(grep -l 'trap ' .xrun/runs/*/record.json 2>/dev/null | head -n 1)
		[ -n "$live_id" ] && break
		sleep 0.1
	done
	live_id=$(basename "$(dirname "$live_id")")
	[ -n "$live_id" ]
	ok $? "$who: the live run has started"

	cgdir=
	if [ "$(stat -f -c %T /sys/fs/cgroup/pids 2>/dev/null)" = cgroupfs ]; then
		cgdir=/sys/fs/cgroup/pids$(sed -n 's/^[0-9]*:pids:\(.*\)/\1/p' /proc/self/cgroup)
	elif [ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then
		cgdir=/sys/fs/cgroup$(sed -n 's/^0::\(.*\)/\1/p' /proc/self/cgroup)
	fi
	cgdir=${cgdir%/}
	[ -n "$cgdir" ] && [ "$who" = root ] &&
		echo "# root: $(ls -d "$cgdir"/xrun-* 2>/dev/null | wc -l) xrun cgroups before gc"
	out=$($as "$XRUN" gc 2>&1)
	is "$?" 0 "$who: gc succeeds at once, without --grace"
	unrec=$(for d in .xrun/runs/*/; do [ -e "$d/record.json" ] || echo "$d"; done | wc -l)
	is "$unrec" 0 "$who: ... no run directory without a record is left"
	is "$(find .xrun/tmp -mindepth 1 -maxdepth 1 ! -name views ! -name locks ! -name "view-$live_id" | wc -l)" 0 \
		"$who: ... nothing is left in tmp/ but the views"
	is "$(find .xrun/tmp/views -mindepth 1 -maxdepth 1 -name '.*' 2>/dev/null | wc -l)" 0 \
		"$who: ... no half-made view is left"
	is "$(find .xrun/cache -name '.*.tmp' | wc -l)" 0 "$who: ... no half-written cache file is left"
	if [ "$who" = root ] && [ -n "$cgdir" ]; then
		dead=0
		for cg in "$cgdir"/xrun-*; do
			[ -d "$cg" ] || continue
			id=${cg##*/xrun-}
			[ "$id" = "$live_id" ] && continue
			[ -d ".xrun/runs/$id" ] || [ -n "$(ls .xrun/tmp | grep -- "$id")" ] && dead=$((dead + 1))
		done
		is "$dead" 0 "$who: ... no cgroup of a dead run is left"
		[ -d "$cgdir/xrun-$live_id" ]
		ok $? "$who: ... the live run's cgroup is kept"
	fi
	check "$who: ... every remaining record validates" -- validate .xrun/runs/*/record.json
	wait_for live.out ready
	# The launcher itself (as the user, $live is the shell around it).
	kill -USR1 "$(jget ".xrun/runs/$live_id/record.json" 'd["launcher"]["pid"]')"
	wait $live
	is "$?" 0 "$who: the live run goes on and succeeds after gc"
	grep -qx live live.out
	ok $? "$who: ... reading its pinned input"
	is "$(jget ".xrun/runs/$live_id/record.json" 'd["status"]')" succeeded "$who: ... and is recorded so"
	$as "$XRUN" -q verify --all
	is "$?" 0 "$who: the store verifies clean after gc"
	cd "$T" || exit 1
}

# token PID: a launcher's identity as xrun names it in tmp/
# (PID-STARTTIME-BOOT-HOST).
token() {
	local start boot host
	start=$(sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f20)
	boot=$(cut -c1-8 /proc/sys/kernel/random/boot_id)
	host=$(printf '%s' "$(uname -n)" | sha256sum | cut -c1-8)
	echo "$1-$start-$boot-$host"
}

# Liveness is the launcher's pid and start time in this boot, not age:
# a run directory without a record whose launcher lives holds gc's
# deletions back; once it is gone, gc removes the directory at once.
liveness() {
	mkdir -p "$T/alive" && cd "$T/alive" || exit 1
	"$XRUN" -q run true
	sleep 60 &
	holder=$!
	id=0a0a0a0a-0000-4000-8000-000000000001
	mkdir ".xrun/runs/$id"
	: >".xrun/tmp/run-$id-$(token $holder)"
	: >".xrun/tmp/obj-$(token $holder)-00.tmp"
	: >".xrun/tmp/obj-$(token $$ | sed 's/-[0-9]*-/-1-/')-01.tmp"
	: >".xrun/cache/.pin-v2.bin.999999999.00aa.tmp"
	: >".xrun/cache/.pin-v2.bin.$holder.00bb.tmp"
	out=$("$XRUN" gc 2>&1)
	is "$?" 1 "a run set up by a live launcher holds back gc's deletions"
	like "$out" "a run is being set up in '.*$id' by a live launcher .*run gc again once it has started" "... and gc says so"
	[ -d ".xrun/runs/$id" ] && [ -e ".xrun/tmp/obj-$(token $holder)-00.tmp" ]
	ok $? "... and keeps what that launcher uses"
	[ ! -e ".xrun/tmp/obj-$(token $$ | sed 's/-[0-9]*-/-1-/')-01.tmp" ]
	ok $? "... a process of the same pid but another start time is another launcher: its temp file goes"
	[ ! -e .xrun/cache/.pin-v2.bin.999999999.00aa.tmp ] && [ -e ".xrun/cache/.pin-v2.bin.$holder.00bb.tmp" ]
	ok $? "... a cache file half replaced by a process that is gone goes, a live one's stays"
	kill "$holder"
	wait "$holder" 2>/dev/null
	out=$("$XRUN" gc 2>&1)
	is "$?" 0 "once the launcher is gone, gc succeeds at once"
	[ ! -e ".xrun/runs/$id" ] && [ -z "$(ls .xrun/tmp | grep -v views)" ]
	ok $? "... removing its run directory and temp files"
	cd "$T" || exit 1
}
liveness

marker="xrun-kill9-$$"
scenario root 60
if have_test_user; then
	uhome=$(getent passwd "$TEST_USER" | cut -d: -f6)
	scenario user 30
fi
done_testing

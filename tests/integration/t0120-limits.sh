#!/bin/bash
# --memory, --timeout and --pids: each limit holds and is recorded.
. "$top_srcdir/tests/integration/lib.sh"
cd "$T" || exit 1

# --memory: a cgroup of the run's own; the OOM killer's work is "oom".
if [ "$(id -u)" = 0 ] && [ -w /sys/fs/cgroup/memory ]; then
	"$XRUN" -q run --memory 64M /usr/bin/python3 -c \
		'x = bytearray(256 * 1024 * 1024); print("survived")' >out 2>&1
	is "$?" 137 "over --memory: killed (128+9)"
	rec=$(latest_record)
	is "$(jget "$rec" 'd["status"]')" oom "recorded as oom"
	like "$(jget "$rec" 'd["result"]["cause"]')" "out of memory at the --memory limit of 67108864 bytes" "the cause names the limit"
	is "$(jget "$rec" 'd["sandbox"]["limits"]["memory_bytes"]')" 67108864 "the limit is recorded"
	check "the record validates" -- validate "$rec"
	"$XRUN" -q run --memory 64M /usr/bin/python3 -c \
		'x = bytearray(16 * 1024 * 1024); print("fits")' >out 2>&1
	is "$?" 0 "under --memory: runs"
	is "$(jget "$(latest_record)" 'd["status"]')" succeeded "... and succeeds"
	"$XRUN" -q run --no-sandbox --memory 64M /usr/bin/python3 -c \
		'x = bytearray(256 * 1024 * 1024)' >out 2>&1
	is "$(jget "$(latest_record)" 'd["status"]')" oom "--memory holds without the sandbox too"
	left=$(find /sys/fs/cgroup/memory -maxdepth 4 -name 'xrun-*' -type d 2>/dev/null | wc -l)
	is "$left" 0 "no cgroup is left behind"
else
	for i in 1 2 3 4 5 6 7 8 9; do echo "ok $i # SKIP no writable cgroup v1 memory hierarchy"; done
	_tap_n=$((_tap_n + 9))
fi

if have_test_user && ! as_user test -w /sys/fs/cgroup/unified/cgroup.procs; then
	mkdir "$T/u" && chmod 777 "$T/u"
	err=$(cd "$T/u" && as_user "$XRUN" --store "$T/u/.xrun" run --memory 64M true 2>&1)
	is "$?" 125 "--memory where no cgroup can be made: 125"
	like "$err" "--memory needs a memory cgroup.*drop --memory" "... with a message that says what to do"
	is "$(printf '%s\n' "$err" | grep -v 'created store' | wc -l)" 1 "... in one line"
else
	for i in 1 2 3; do echo "ok $((_tap_n + i)) # SKIP no unprivileged user, or a writable cgroup v2"; done
	_tap_n=$((_tap_n + 3))
fi

# --timeout: TERM, then KILL after the grace period.
start=$(date +%s)
"$XRUN" -q run --timeout 1 sh -c 'trap "" TERM; sleep 30' >out 2>&1
st=$?
is "$st" 137 "a program that ignores SIGTERM is killed at --timeout"
rec=$(latest_record)
is "$(jget "$rec" 'd["status"]')" timeout "recorded as timeout"
like "$(jget "$rec" 'd["result"]["cause"]')" "^timed out after 1s" "the cause says so"
ok $(($(date +%s) - start > 10)) "... within the grace period, not after the sleep"
"$XRUN" -q run --timeout 1 sh -c 'sleep 30' >out 2>&1
is "$?" 143 "a program that takes SIGTERM ends with it"
is "$(jget "$(latest_record)" 'd["status"]')" timeout "... recorded as timeout"
"$XRUN" -q run --no-sandbox --timeout 500ms sh -c 'sleep 30' >out 2>&1
is "$(jget "$(latest_record)" 'd["status"]')" timeout "--timeout holds without the sandbox"
"$XRUN" -q run --timeout 5 true
is "$(jget "$(latest_record)" 'd["status"]')" succeeded "a run within its timeout succeeds"
is "$(jget "$(latest_record)" 'd["sandbox"]["limits"]["timeout_s"]')" 5.0 "the timeout is recorded"

# bad limits: one line, 125, nothing run
for bad in "--timeout 0" "--timeout -1" "--timeout 5x" "--memory 10" "--memory lots" "--pids 0" "--pids many"; do
	# shellcheck disable=SC2086
	err=$("$XRUN" run $bad sh -c 'touch ran' 2>&1)
	is "$?" 125 "$bad: 125"
	like "$err" "takes" "$bad: the message says what it takes"
done
err=$("$XRUN" run --no-sandbox --pids 10 true 2>&1)
is "$?" 125 "--pids with --no-sandbox is refused"
[ ! -e ran ]
ok $? "no refused run started"
check "every record validates" -- validate .xrun/runs/*/record.json

done_testing

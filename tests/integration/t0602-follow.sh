#!/bin/bash
# xrun metrics --follow and xrun log -f on a run that is still running:
# they print what the run has written so far, wait for more (also for a
# capture file the program has not created yet), and end when the
# record is final. The run goes on at a signal from the test (xrun
# forwards SIGUSR1), so nothing here depends on timing. In the sandbox,
# as root and as an unprivileged user.
. "$top_srcdir/tests/integration/lib.sh"

# The program: waits for a signal before its first byte, writes a line
# of output and a metric, waits for another, writes the second, ends.
prog='go=0; trap "go=\$((go+1))" USR1
while [ $go -lt 1 ]; do sleep 0.05; done
echo first; echo "{\"step\": 1, \"loss\": 0.5}" >>"$XRUN_METRICS"
while [ $go -lt 2 ]; do sleep 0.05; done
echo second; printf "{\"step\": 2, \"loss\": 0.25}" >>"$XRUN_METRICS"'

# wait_record: the id of the run the launcher started (its record is
# written before the program starts).
wait_record() {
	for _ in $(seq 100); do
		ls -d .xrun/runs/*/record.json >/dev/null 2>&1 && break
		sleep 0.1
	done
	basename "$(dirname .xrun/runs/*/record.json)"
}

follow_test() { # follow_test WHO RUNNER...
	local who=$1
	shift
	"$@" "$XRUN" -q run -- sh -c "$prog" >run.out 2>&1 &
	local run_pid=$!
	local id
	id=$(wait_record)
	"$@" timeout 60 "$XRUN" metrics --follow "$id" >metrics.out 2>metrics.err &
	local m_pid=$!
	"$@" timeout 60 "$XRUN" log -f "$id" >log.out 2>log.err &
	local l_pid=$!
	sleep 0.3
	kill -0 $l_pid 2>/dev/null
	ok $? "$who: log -f waits while the program has written nothing (no stdout file yet)"
	kill -USR1 $run_pid
	wait_for metrics.out 'step=1 loss=0.5'
	ok $? "$who: metrics --follow prints the first metric while the run runs"
	wait_for log.out first
	ok $? "$who: log -f prints the first line while the run runs"
	kill -0 $m_pid 2>/dev/null && kill -0 $l_pid 2>/dev/null
	ok $? "$who: both keep following"
	is "$(jget ".xrun/runs/$id/record.json" 'd["status"]')" running "$who: the run is still running"
	kill -USR1 $run_pid
	wait $run_pid
	is "$?" 0 "$who: the run ends"
	wait $m_pid
	is "$?" 0 "$who: metrics --follow ends with the run"
	wait $l_pid
	is "$?" 0 "$who: log -f ends with the run"
	is "$(cat metrics.out)" "$(printf 'step=1 loss=0.5\nstep=2 loss=0.25')" \
		"$who: every metric, also a last line without its newline"
	is "$(cat log.out)" "$(printf 'first\nsecond')" "$who: the whole output"
	is "$(cat metrics.err log.err)" "" "$who: nothing on stderr"
}

mkdir -p "$T/root" && cd "$T/root" || exit 1
follow_test root env

# Without --follow: what is there, at once.
is "$("$XRUN" metrics --json latest)" \
	"$(printf '{"step":1,"loss":0.5}\n{"step":2,"loss":0.25}')" "metrics --json: the lines as JSON"
printf 'not json\n{"acc": 1}\n' >>.xrun/runs/*/metrics.jsonl
out=$("$XRUN" metrics latest 2>"$T/err")
is "$?" 0 "a malformed line is not fatal"
like "$out" 'acc=1' "... the lines after it are printed"
like "$(cat "$T/err")" '1 line of .* is not a JSON object; skipped' "... and it is counted"

# A run whose launcher died: the record stays "running", the launcher is
# gone, and following stops.
mkdir -p "$T/dead" && cd "$T/dead" || exit 1
"$XRUN" -q run --no-sandbox -- sh -c 'echo x; sleep 60' >/dev/null 2>&1 &
pid=$!
id=$(wait_record)
wait_for ".xrun/runs/$id/stdout" x
timeout 60 "$XRUN" log -f "$id" >log.out 2>&1 &
l_pid=$!
kill -9 $pid
wait $pid 2>/dev/null
wait $l_pid
is "$?" 0 "log -f ends when the run's launcher is gone (the run is abandoned)"
err=$("$XRUN" metrics 2>&1)
is "$?" 2 "metrics without RUN: 2"

if have_test_user; then
	mkdir -p "$T/user" && chown "$TEST_USER" "$T/user" && cd "$T/user" || exit 1
	# setpriv and env exec: $! is then the launcher's own pid.
	home=$(getent passwd "$TEST_USER" | cut -d: -f6)
	follow_test "$TEST_USER" setpriv --reuid="$TEST_USER" --regid="$TEST_USER" \
		--init-groups env HOME="$home" USER="$TEST_USER" LOGNAME="$TEST_USER"
else
	ok 0 "# skip no unprivileged test user (needs root)"
fi

done_testing

#!/bin/bash
# Signals: ^C and TERM are forwarded and recorded as interrupted; a program
# killed from outside is recorded as killed; a launcher killed with -9
# leaves a record that reads as abandoned.
. "$top_srcdir/tests/integration/lib.sh"
cd "$T" || exit 1

prog='trap "echo got-$0; exit 130" INT TERM; echo $$ >pid; echo ready; while :; do sleep 0.05; done'
for sig in INT TERM; do
	rm -f out pid
	"$XRUN" -q run sh -c "$prog" "$sig" >out 2>&1 &
	xpid=$!
	wait_for out ready
	ok $? "the program started ($sig)"
	kill -s "$sig" $xpid
	wait $xpid
	is "$?" 130 "SIG$sig: xrun exits with the program's status"
	like "$(cat out)" "got-$sig" "the program received SIG$sig"
	rec=$(latest_record)
	is "$(jget "$rec" 'd["status"]')" interrupted "recorded as interrupted"
	is "$(jget "$rec" 'd["result"]["forwarded_signal"]')" "SIG$sig" "the forwarded signal is recorded"
	check "the record validates" -- validate "$rec"
done

# A program that does not catch ^C dies of it: still interrupted, 128+2.
rm -f out
"$XRUN" -q run sh -c 'echo ready; exec sleep 30' >out 2>&1 &
xpid=$!
wait_for out ready
sleep 0.2
kill -INT $xpid
wait $xpid
is "$?" 130 "an uncaught SIGINT: 128+2"
is "$(jget "$(latest_record)" 'd["status"]')" interrupted "recorded as interrupted"

# Killed from outside (not through xrun): killed, with the signal. The
# program runs in its own pid namespace: find it by its unique command.
rm -f out
"$XRUN" -q run sh -c 'echo ready; exec sleep 31' >out 2>&1 &
xpid=$!
wait_for out ready
kill -KILL "$(pgrep -n -f '^sleep 31$')"
wait $xpid
is "$?" 137 "SIGKILL from outside: 128+9"
rec=$(latest_record)
is "$(jget "$rec" 'd["status"]')" killed "recorded as killed"
like "$(jget "$rec" 'd["result"]["cause"]')" "signal 9 \(SIGKILL\)" "the cause names the signal"

# The launcher killed with -9: the record stays parseable and reads as
# abandoned, and the sandboxed program dies with its launcher.
rm -f out
"$XRUN" -q run sh -c 'sleep 32 & echo ready; exec sleep 33' >out 2>&1 &
xpid=$!
wait_for out ready
kill -KILL $xpid
wait $xpid 2>/dev/null
for i in $(seq 50); do
	pgrep -f '^sleep 3[23]$' >/dev/null || break
	sleep 0.1
done
pgrep -f '^sleep 3[23]$' >/dev/null
ok $((! $?)) "the program and its fork die with the launcher"
pkill -KILL -f '^sleep 3[23]$' 2>/dev/null
rec=$(latest_record)
is "$(jget "$rec" 'd["status"]')" running "the record on disk still says running"
check "it still validates" -- validate "$rec"
like "$("$XRUN" show latest)" "^status +abandoned" "show says abandoned"
like "$("$XRUN" ls | sed -n 2p)" "abandoned" "ls says abandoned"

# Output keeps flowing when the terminal goes away (SIGPIPE ignored).
"$XRUN" -q run sh -c 'for i in $(seq 2000); do echo line $i; done' | head -n 1 >/dev/null
rec=$(latest_record)
is "$(jget "$rec" 'd["status"]')" succeeded "a closed stdout pipe does not kill the run"
is "$(wc -l <"$(dirname "$rec")/stdout")" 2000 "... and capture is complete"

done_testing

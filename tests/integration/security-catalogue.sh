# Hostile probes of issue 16 (escapes through the home directory, host
# unix sockets, secrets in records and job scripts, stopped and
# SIGINT-ignoring programs, escape sequences in show/ls, param names),
# sourced by t0112-security.sh (as root) and t0113-security-user.sh (as
# the test user) after lib.sh, with RUN_AS set to "" or "as_user". Each
# probe failed on the code before its fix.
# shellcheck shell=bash

H=${XRUN_HELPERS:-$(dirname "$XRUN")/tests/helpers}
[ -x "$H/hostile" ] ||
	skip_all "the helpers in '$H' are not built (make check builds them)"

W=$T/work
mkdir "$W" "$W/bin"
cp "$H/hostile" "$W/bin/" || exit 1
chmod 755 "$W/bin" "$W/bin/hostile"
HOST=$W/bin/hostile
[ -n "$RUN_AS" ] && chown -R "$TEST_USER:" "$W"
chown -R 0:0 "$W/bin"
cd "$W" || exit 1
skip() {
	_tap_n=$((_tap_n + 1))
	echo "ok $_tap_n # SKIP $*"
}
# xr ARGS...: xrun -q run ARGS as the user of this file.
xr() {
	$RUN_AS "$XRUN" -q run "$@"
}
# unlike TEXT REGEX DESCRIPTION: TEXT must not match.
unlike() {
	local text=$1 re=$2
	shift 2
	if printf '%s' "$text" | grep -q -E -e "$re"; then
		ok 1 "$*"
		printf '%s\n' "$text" | grep -E -e "$re" | head -n 5 | cat -v | sed 's/^/#   leaked: /'
	else
		ok 0 "$*"
	fi
}
latest() {
	$RUN_AS "$XRUN" ls --json --limit 1 |
		"$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["record"])'
}

out=$(xr true 2>&1)
[ $? -eq 0 ] || skip_all "the sandbox cannot start here: $out"

# ---- params (16.13) ----
err=$(xr -p a-b=1 -p a_b=2 true 2>&1)
is "$?" 125 "-p a-b=1 -p a_b=2: refused (both would be XRUN_PARAM_a_b)"
like "$err" "params 'a-b' and 'a_b' would both be XRUN_PARAM_a_b" "... the message names both keys and the variable"
echo '{"a.b": 1}' >"$T/p.json"
chmod 644 "$T/p.json"
err=$(xr --params "$T/p.json" -p a-b=2 true 2>&1)
is "$?" 125 "--params {a.b} with -p a-b: refused"
"$PYTHON3" -c 'import json,sys; json.dump({"big": "x" * 1048576, "lr": 0.5}, open(sys.argv[1], "w"))' "$T/big.json"
chmod 644 "$T/big.json"
out=$(xr --params "$T/big.json" sh -c 'echo "${#XRUN_PARAM_big} $XRUN_PARAM_lr"; wc -c <"$XRUN_PARAMS"' 2>"$T/err")
is "$?" 0 "a 1 MiB param: the program runs (not 'Argument list too long')"
is "$(printf '%s\n' "$out" | sed -n 1p)" "0 0.5" "... without XRUN_PARAM_big, the other params set"
ok $((!($(printf '%s\n' "$out" | sed -n 2p) > 1048576))) "... and \$XRUN_PARAMS holds it"
like "$(cat "$T/err")" "param 'big' is 1048576 bytes, too big for the environment.*XRUN_PARAM_big is not set.*\\\$XRUN_PARAMS" \
	"... with a warning that says so"

# ---- escape sequences in show and ls (16.8) ----
# OSC 52 (writes the clipboard), ESC c (resets the terminal), CR.
osc=$(printf '\033]52;c;SGk=\007')
xr -n "n${osc}x" --tag "$(printf 'k=\033[2J')" -- sh -c true "$(printf '\033c\r')" 2>/dev/null
out=$($RUN_AS "$XRUN" show latest)
unlike "$out" "$(printf '\033')" "xrun show: no raw ESC from a name, a tag or argv"
unlike "$out" "$(printf '\r')" "... no raw CR"
like "$out" 'n\\x1b\]52;c;SGk=\\x07x' "... the name shows escaped (\\x1b)"
like "$out" "sh -c true '\\\\x1bc\\\\x0d'" "... and argv"
out=$($RUN_AS "$XRUN" ls --limit 1)
unlike "$out" "$(printf '\033')" "xrun ls: no raw ESC"
like "$out" 'n\\x1b\]52' "... the name shows escaped"

# ---- signals to a stopped or deaf program (16.7, issue 23) ----
# bg OUT ARGS...: xrun -q run ARGS in the background as the user of this
# file; the launcher's pid (from the shell that becomes it) in $W/xrun.pid.
bg() {
	local out=$1
	shift
	rm -f "$W/xrun.pid"
	$RUN_AS sh -c 'echo $$ >"$0"; exec "$@"' "$W/xrun.pid" "$XRUN" -q run "$@" >"$out" 2>&1 &
	job=$!
	wait_for "$W/xrun.pid" '[0-9]'
	xpid=$(cat "$W/xrun.pid")
}
# finish SECS: wait for the background xrun at most SECS seconds; $st is
# its exit status, or "hung" (and it is killed).
finish() {
	for _ in $(seq $((${1} * 10))); do
		kill -0 "$job" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$job" 2>/dev/null; then
		pkill -KILL -P "$xpid" 2>/dev/null
		kill -KILL "$xpid" 2>/dev/null
		wait "$job" 2>/dev/null
		st=hung
	else
		wait "$job"
		st=$?
	fi
}
for mode in sandbox no-sandbox; do
	opt=
	[ $mode = no-sandbox ] && opt=--no-sandbox
	# shellcheck disable=SC2016
	bg "$T/stop.out" $opt -- sh -c 'echo stopping; kill -STOP $$; echo continued'
	wait_for "$T/stop.out" stopping
	sleep 0.3
	kill -TERM "$xpid"
	finish 10
	is "$st" 143 "($mode) SIGTERM to xrun while the program is stopped (kill -STOP \$\$): it takes effect, 128+15"
	is "$(jget "$(latest)" 'd["status"]')" interrupted "($mode) ... recorded as interrupted"

	# shellcheck disable=SC2016
	bg "$T/deaf.out" $opt -- sh -c 'trap "" INT TERM; echo ready; kill -STOP $$; sleep 60'
	wait_for "$T/deaf.out" ready
	sleep 0.3
	kill -TERM "$xpid"
	sleep 0.3
	kill -TERM "$xpid"
	finish 10
	is "$st" 137 "($mode) a stopped program that ignores SIGTERM: the second SIGTERM kills it, 128+9"
	is "$(jget "$(latest)" 'd["status"]')" interrupted "($mode) ... recorded as interrupted"

	# shellcheck disable=SC2016
	bg "$T/int.out" $opt -- sh -c 'trap "" INT; echo ready; sleep 60'
	wait_for "$T/int.out" ready
	sleep 0.3
	kill -INT "$xpid"
	sleep 0.3
	kill -INT "$xpid"
	wait_for "$T/int.out" "a third kills it"
	ok $? "($mode) a program that ignores SIGINT: after the second ^C xrun says that a third kills it"
	finish 1
	is "$st" hung "($mode) ... two do not kill it"
	bg "$T/int.out" $opt -- sh -c 'trap "" INT; echo ready; sleep 60'
	wait_for "$T/int.out" ready
	sleep 0.3
	for _ in 1 2 3; do
		kill -INT "$xpid"
		sleep 0.3
	done
	finish 10
	is "$st" 137 "($mode) ... the third does: 128+9"
	rec=$(latest)
	is "$(jget "$rec" 'd["status"]')" interrupted "($mode) ... recorded as interrupted"
	like "$(jget "$rec" 'd["result"]["cause"]')" "killed by xrun after 3 SIGINT" "($mode) ... with the cause"
	check "($mode) ... the record validates" -- validate "$rec"
done

#!/bin/bash
# Hostile outputs (issue 16, items 1, 2, 5 and 12), as root and as an
# ordinary user: no setuid, setgid or file capability leaves a run; -o
# never goes through a symlink; names that are not UTF-8 are compared
# byte for byte; a FIFO, a socket or an unreadable directory in an
# output is left out by name and the rest is kept.
. "$top_srcdir/tests/integration/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "runs as root (and as $TEST_USER through setpriv)"

newest() {
	run_as "$1" "$XRUN" ls --json --limit 1 |
		"$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["record"])'
}

probes() {
	local who=$1 W rec err
	W="$T/$who"
	mkdir -p "$W"
	[ "$who" = root ] || chown "$TEST_USER:" "$W"
	cd "$W" || exit 1

	# 16.1: a setuid plant.
	run_as "$who" "$XRUN" -q run -o out -- sh -c 'cp /usr/bin/id out/esc; chmod 4755 out/esc; cp /usr/bin/id out/g; chmod 2755 out/g' >/dev/null 2>"$W/err"
	is "$?" 0 "as $who: a run that makes setuid and setgid files succeeds"
	is "$(stat -c %a out/esc) $(stat -c %a out/g)" "755 755" "as $who: ... they reach out/ without the setuid and setgid bits"
	rec=$(newest "$who")
	is "$(jget "$rec" 'sorted((s["path"], s["what"]) for s in d["outputs"][0]["stripped"])')" \
		'[["esc", "setuid"], ["g", "setgid"]]' "as $who: ... the record names what was stripped"
	like "$(cat "$W/err")" "'esc' had setuid" "as $who: ... and the run says so"
	if [ "$who" = root ] && command -v setcap >/dev/null 2>&1; then
		# A file with capabilities left in out/ before the run.
		cp /usr/bin/id out/capped
		setcap cap_net_raw+ep out/capped
		"$XRUN" -q run -o out -- sh -c 'echo x >out/x' >/dev/null 2>&1
		is "$(getcap out/capped)" "" "as root: a file capability in out/ does not survive the run"
		rec=$(newest root)
		like "$(jget "$rec" 'd["outputs"][0]["stripped"]')" "capped.*capabilities" "as root: ... recorded as stripped"
	fi

	# 16.2: -o through a symlink.
	mkdir -p "$W/elsewhere" "$W/res"
	[ "$who" = root ] || chown "$TEST_USER:" "$W/elsewhere" "$W/res"
	ln -s "$W/elsewhere" link
	err=$(run_as "$who" "$XRUN" run -o link -- sh -c 'echo x >link/f' 2>&1)
	is "$?" 125 "as $who: -o a symlink is refused"
	like "$err" "is a symbolic link to '$W/elsewhere'" "as $who: ... naming where it points"
	like "$err" "pass -o '$W/elsewhere' instead" "as $who: ... and what to pass instead"
	is "$(ls "$W/elsewhere")" "" "as $who: ... nothing written through it"
	ln -s "$W/res" results
	err=$(run_as "$who" "$XRUN" run -o results/run1 -- true 2>&1)
	is "$?" 125 "as $who: -o results/run1 with results a symlink is refused"
	like "$err" "'$W/results' in output '$W/results/run1' is a symbolic link" "as $who: ... naming the link"
	like "$err" "pass -o '$W/res/run1' instead" "as $who: ... and the real path"
	ok "$([ ! -e "$W/res/run1" ]; echo $?)" "as $who: ... no directory created through it"

	# 16.5: a name that is not UTF-8.
	run_as "$who" "$XRUN" -q run -o bytes -- sh -c 'head -c16 /dev/urandom >"bytes/$(printf "r\377nd")"' >/dev/null 2>&1
	err=$(run_as "$who" "$XRUN" replay latest 2>&1)
	is "$?" 3 "as $who: a random file under a name that is not UTF-8: replay exits 3"
	like "$err" 'differs: .*bytes/r\\xffnd' "as $who: ... naming the file"

	# 16.12: a FIFO, a socket, an unreadable directory.
	run_as "$who" "$XRUN" -q run -o odd -- /usr/bin/python3 -c '
import os, socket
os.mkfifo("odd/fifo")
s = socket.socket(socket.AF_UNIX); s.bind("odd/sock")
os.mkdir("odd/locked"); open("odd/locked/secret", "w").write("s")
os.chmod("odd/locked", 0)
open("odd/kept.txt", "w").write("kept\n")
' >/dev/null 2>"$W/err"
	is "$?" 0 "as $who: a run leaving a FIFO, a socket and an unreadable directory"
	rec=$(newest "$who")
	like "$(jget "$rec" 'd["outputs"][0]["changes"]["added"]')" "kept.txt" "as $who: ... the rest is kept"
	is "$(cat odd/kept.txt)" kept "as $who: ... and published"
	like "$(jget "$rec" 'sorted((s["path"], s["why"]) for s in d["outputs"][0]["skipped"])')" \
		"\[\"fifo\", \"a FIFO\"\].*\[\"sock\", \"a socket\"\]" "as $who: ... the FIFO and the socket are named as skipped"
	if [ "$who" != root ]; then
		like "$(jget "$rec" 'd["outputs"][0]["skipped"]')" "locked.*unreadable directory" "as $who: ... and the unreadable directory"
	fi
	like "$(cat "$W/err")" "'fifo' \(a FIFO\) is not kept" "as $who: ... and the run says so"
	check "as $who: the records validate" -- validate .xrun/runs/*/record.json
	chmod 755 "$W/odd/locked" 2>/dev/null
	cd "$T" || exit 1
}

probes root
if have_test_user; then
	probes user
fi
done_testing

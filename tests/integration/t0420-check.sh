#!/bin/bash
# xrun check (DESIGN.md §9), as root: real programs whose cause is known,
# each named correctly; the full factor set once; bad input; ^C.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/check-scenarios.sh"
[ "$(id -u)" = 0 ] || skip_all "runs as root (t0421 checks as an ordinary user)"
/usr/bin/python3 -c 'import numpy, sklearn' 2>/dev/null ||
	skip_all "Debian's python3-numpy and python3-sklearn are not installed"

AS=
W=$T/w
mkdir -p "$W"
check_scenarios
scenario_sklearn all

# xrun and its helper in a /tmp, which the sandbox replaces with its
# own (a build tree there, as CI's sanitizer pass has): the helper is
# still seen by the program, and file-order still named.
helper=$(dirname "${XRUN_REAL:-$XRUN}")/xrun-disorder.so
if [ -r "$helper" ] && [ -z "${XRUN_REAL:-}" ]; then
	mkdir -p "$T/bin"
	cp "$XRUN" "$helper" "$T/bin/"
	fo=$(cd "$W" && "$XRUN" ls --json | "$PYTHON3" -c '
import json, sys
print([r["id"] for r in json.load(sys.stdin) if r["argv"][-1:] == ["ls.py"] and not r.get("verdict")][0])')
	(cd "$W" && "$T/bin/xrun" check --json --factors file-order "$fo") >"$T/fo2.json" 2>/dev/null
	is "$(factor_result "$T/fo2.json" file-order)" differs \
		"file-order: named also when xrun and its helper lie in a /tmp"
else
	ok 0 "# SKIP xrun-disorder.so is not beside xrun (or under valgrind)"
fi

# Bad input: one line, exit 2.
cd "$W" || exit 1
out=$("$XRUN" check --factors threads,nosuch latest 2>&1)
is "$?" 2 "an unknown factor: exit 2"
like "$out" "^xrun: unknown factor 'nosuch'; the factors are threads, " "... naming the factors"
out=$("$XRUN" check -j 0 latest 2>&1)
is "$?" 2 "-j 0: exit 2"
out=$("$XRUN" check 0000ffff 2>&1)
is "$?" 2 "a run that is not there: exit 2"
out=$("$XRUN" check 2>&1)
is "$?" 2 "no RUN: exit 2"
like "$out" "check takes one RUN; see xrun check --help" "... saying so"

# ^C: the running replays get the signal, no more start, exit 130.
cat >"$W/slow.py" <<'PY'
import os, time
os.makedirs("out", exist_ok=True)
open("out/x", "w").write("x\n")
if os.environ.get("XRUN_REPLAY_ID"):
    time.sleep(60)
PY
"$XRUN" -q run -o out /usr/bin/python3 slow.py >/dev/null 2>&1
slow=$("$XRUN" ls --json --limit 1 | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
"$XRUN" check -j 2 --factors hashseed,umask,user "$slow" >"$T/int.out" 2>&1 &
pid=$!
running=0
for _ in $(seq 100); do
	running=$("$XRUN" ls --json --status running | "$PYTHON3" -c 'import json,sys; print(len(json.load(sys.stdin)))')
	[ "$running" -ge 2 ] && break
	sleep 0.1
done
is "$running" 2 "^C: two replays run at once with -j 2"
sleep 0.5
kill -INT "$pid"
wait "$pid"
is "$?" 130 "^C: the check exits 130"
like "$(cat "$T/int.out")" "interrupted: Interrupt stopped the check" "^C: ... saying so"
is "$("$XRUN" ls --json --status running)" "[]" "^C: no replay is left running"
is "$("$XRUN" ls --json | "$PYTHON3" -c '
import json, sys
print(sorted(r["status"] for r in json.load(sys.stdin) if r["id"] != sys.argv[1] and "slow.py" in " ".join(r["argv"])))' "$slow")" \
	"['interrupted', 'interrupted']" "^C: the two replays are recorded as interrupted, no more started"
summary=$(ls -t "$W/.xrun/checks/"*.json | head -n 1)
is "$(jget "$summary" 'd["status"]')" interrupted "^C: the summary says interrupted"
check "^C: ... and validates" -- \
	"$PYTHON3" "$top_srcdir/tests/validate-record.py" "$CHECK_SCHEMA" "$summary"
check "^C: no program of the check is left" -- \
	sh -c "! pgrep -f 'slow[.]py' >/dev/null"

done_testing

#!/bin/bash
# Bad input: a clear one-line error, the right status, nothing lost.
. "$top_srcdir/tests/integration/lib.sh"
cd "$T" || exit 1
"$XRUN" -q run true

nruns() { ls "$T/.xrun/runs" | wc -l; }
before=$(nruns)
err=$("$XRUN" run no-such-program-xyz 2>&1)
is "$?" 127 "a program that does not exist: 127"
is "$err" "xrun: 'no-such-program-xyz': command not found" "... with one line saying so"
is "$(nruns)" "$before" "... and no run is recorded"
printf 'echo hi\n' >"$T/noexec.sh"
err=$("$XRUN" run "$T/noexec.sh" 2>&1)
is "$?" 126 "a file that is not executable: 126"
like "$err" "cannot run '$T/noexec.sh': Permission denied" "... says why"

printf '[1, 2]' >"$T/list.json"
err=$("$XRUN" run --params "$T/list.json" true 2>&1)
is "$?" 125 "a params file that is not an object: 125"
like "$err" "params file '$T/list.json' is not usable: the top level is not a JSON object" "... says so"
printf '{"a": 1,' >"$T/broken.json"
err=$("$XRUN" run --params "$T/broken.json" true 2>&1)
is "$?" 125 "a params file that is not JSON: 125"
like "$err" "is not usable: line 1" "... with the line"
err=$("$XRUN" run --params "$T/missing.json" true 2>&1)
like "$err" "cannot read params file '$T/missing.json': No such file" "a missing params file"
err=$("$XRUN" run -p a=1 -p a=2 true 2>&1)
is "$?" 125 "a duplicate -p key: 125"
like "$err" "param given twice: 'a=2'" "... names it"
err=$("$XRUN" run -p novalue true 2>&1)
is "$?" 125 "-p without =: 125"
err=$("$XRUN" run --seed -3 true 2>&1)
is "$?" 125 "a negative seed: 125"
err=$("$XRUN" run --seed 18446744073709551616 true 2>&1)
is "$?" 125 "a seed past 2^64-1: 125"
"$XRUN" -q run --seed 18446744073709551615 true
is "$?" 0 "the largest seed is fine"
is "$(jget "$(latest_record)" 'd["seed"]["value"]')" 18446744073709551615 "... and recorded exactly"
err=$("$XRUN" run -i data true 2>&1)
is "$?" 125 "a missing input: 125"
like "$err" "cannot pin input '$T/data': No such file or directory; check the path" "... says so"
is "$(nruns)" "$((before + 1))" "no run was recorded for any of them"

# Non-UTF-8 arguments and environment values are kept losslessly.
arg=$(printf 'caf\xe9')
val=$(printf '\xff\xfe')
XRUN_TEST_BYTES=$val "$XRUN" -q run /bin/echo "$arg" >/dev/null
rec=$(latest_record)
check "a record with non-UTF-8 bytes validates" -- validate "$rec"
is "$("$PYTHON3" -c '
import json, sys, base64
d = json.load(open(sys.argv[1]))
a = d["command"]["argv"][1]
v = d["environment"]["variables"]["XRUN_TEST_BYTES"]
print(base64.b64decode(a["base64"]).hex(), base64.b64decode(v["base64"]).hex())' "$rec")" "636166e9 fffe" \
	"the bytes come back exactly from the record"

# Store problems
touch "$T/afile"
err=$("$XRUN" --store "$T/afile" run true 2>&1)
is "$?" 125 "a store that is a file: 125"
like "$err" "cannot create the store '$T/afile': Not a directory" "... says so"
err=$("$XRUN" --store /proc/xrun-store run true 2>&1)
is "$?" 125 "a store that cannot be created: 125"
like "$err" "^xrun: cannot create the store '/proc/xrun-store'" "... says so"

# Corrupt records never crash show, ls or log.
mkdir -p "$T/bad"
printf '{"schema": "xrun/run-record/1", "id": ' >"$T/bad/trunc.json"
err=$("$XRUN" show "$T/bad/trunc.json" 2>&1)
is "$?" 1 "a truncated record: status 1"
like "$err" "cannot read record '$T/bad/trunc.json': not valid JSON \(line 1" "... with where it broke"
printf '{"schema": "xrun/run-record/9", "id": "x"}' >"$T/bad/new.json"
err=$("$XRUN" show "$T/bad/new.json" 2>&1)
like "$err" "newer than this xrun understands.*upgrade xrun" "a record from a newer schema says so"
printf '{"schema": "xrun/run-record/1", "id": "x"}' >"$T/bad/badid.json"
err=$("$XRUN" show "$T/bad/badid.json" 2>&1)
like "$err" "malformed \"id\"" "a record with a bad id"
printf '\x00\x01binary' >"$T/bad/bin.json"
"$XRUN" show "$T/bad/bin.json" >/dev/null 2>&1
is "$?" 1 "binary junk: status 1"
# Well-formed header, every section of the wrong type.
printf '{"schema": "xrun/run-record/1", "id": "12345678-1234-4234-8234-123456789abc", "status": "failed", "command": 5, "host": [], "result": "x", "times": 3, "params": [1], "source": {"git": 7}, "software": {"python": 1}, "tags": 9, "environment": null}' >"$T/bad/types.json"
"$XRUN" show "$T/bad/types.json" >/dev/null 2>"$T/bad/err"
is "$?" 0 "a record with mistyped sections: show does not crash"
"$XRUN" show --json "$T/bad/types.json" >/dev/null
ok $? "... nor show --json"
mkdir "$T/.xrun/runs/12345678-1234-4234-8234-123456789abc"
cp "$T/bad/types.json" "$T/.xrun/runs/12345678-1234-4234-8234-123456789abc/record.json"
mkdir "$T/.xrun/runs/12345678-1234-4234-8234-123456789abd"
cp "$T/bad/trunc.json" "$T/.xrun/runs/12345678-1234-4234-8234-123456789abd/record.json"
err=$("$XRUN" ls 2>&1 >/dev/null)
is "$?" 0 "ls with corrupt records in the store still lists"
like "$err" "1 run in '$T/.xrun/runs' could not be read" "... and warns about the unreadable one"

# In a chroot the kernel refuses new user namespaces: the error says
# that, not "a container without them". A root of xrun, its libraries
# and /proc, as root in a mount namespace of its own.
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && command -v ldd >/dev/null; then
	R=$T/chroot
	mkdir -p "$R/proc" "$R/w"
	cp "$XRUN" "$R/xrun"
	for l in $(ldd "$XRUN" | grep -o '/[^ ]*'); do cp --parents -L "$l" "$R"; done
	err=$(unshare -m sh -c "mount -t proc proc '$R/proc' && chroot '$R' /xrun --store /w/.xrun run -- /xrun --version" 2>&1)
	is "$?" 125 "a run in a chroot: 125"
	like "$err" "xrun runs in a chroot, where the kernel refuses new user namespaces.*or with --no-sandbox" \
		"... and the error names the chroot and what to do"
	is "$(ls "$R/w/.xrun/runs" | wc -l)" 1 "... the run is still recorded (failed)"
	err=$(unshare -m sh -c "mount -t proc proc '$R/proc' && chroot '$R' /xrun --store /w/.xrun run --no-sandbox -- /xrun --version" 2>&1)
	is "$?" 0 "... and runs there with --no-sandbox"
else
	ok 0 "# SKIP a chroot needs root, unshare and ldd"
fi

done_testing

#!/bin/bash
# show, ls and log: readable, JSON, and every way to name a run.
. "$top_srcdir/tests/integration/lib.sh"
cd "$T" || exit 1

"$XRUN" -q run -n one sh -c 'echo out-one; echo err-one >&2' >/dev/null 2>&1
"$XRUN" -q run -n two sh -c 'exit 4' >/dev/null 2>&1
"$XRUN" -q run -n three -p lr=0.1 sh -c 'echo out-three' >/dev/null 2>&1
ids=$("$XRUN" ls --json | "$PYTHON3" -c 'import json,sys; print(" ".join(r["id"] for r in json.load(sys.stdin)))')
set -- $ids
is "$#" 3 "ls --json lists the three runs"
third=$1 second=$2 first=$3

out=$("$XRUN" ls)
ok $? "ls exits 0"
like "$(echo "$out" | sed -n 1p)" '^ID +STATUS +CREATED +DURATION' "ls prints a header"
like "$(echo "$out" | sed -n 2p)" "^${third:0:8}  succeeded .*three  sh -c 'echo out-three'" "newest first, one line each"
like "$(echo "$out" | sed -n 3p)" "^${second:0:8}  failed " "the failed run shows failed"
is "$("$XRUN" ls --status failed | tail -n +2 | cut -c1-8)" "${second:0:8}" "ls --status filters"
is "$("$XRUN" ls --limit 1 | tail -n +2 | wc -l)" 1 "ls --limit"

is "$("$XRUN" log latest)" out-three "log latest"
is "$("$XRUN" log latest~2)" out-one "log latest~2"
is "$("$XRUN" log --stderr "$first")" err-one "log --stderr with a full id"
is "$("$XRUN" log "${first:0:6}")" out-one "log with an id prefix"
is "$("$XRUN" log "$T/.xrun/runs/$first/record.json")" out-one "log with a record path"

# A capture file is created with the first byte of output: a run that
# prints nothing has none, and log prints nothing for it.
d2=$T/.xrun/runs/$second
test ! -e "$d2/stdout" && test ! -e "$d2/stderr"
ok $? "a run without output has no stdout or stderr file"
out=$("$XRUN" log "$second" 2>&1)
ok $? "log of a run without output exits 0"
is "$out" "" "... and prints nothing"
out=$("$XRUN" log --stderr "$second" 2>&1)
ok $? "log --stderr of a run without output exits 0"
is "$out" "" "... and prints nothing"
empty=sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
is "$(jget "$d2/record.json" 'd["result"]["stdout"]["sha256"]') $(jget "$d2/record.json" 'd["result"]["stdout"]["bytes"]')" \
	"$empty 0" "the record still gives the digest and size of empty stdout"
is "$(jget "$d2/record.json" 'd["result"]["stderr"]["sha256"]') $(jget "$d2/record.json" 'd["result"]["stderr"]["bytes"]')" \
	"$empty 0" "... and of empty stderr"
mv "$T/.xrun/runs/$first/stderr" "$T/stderr.away"
"$XRUN" log --stderr "$first" >/dev/null 2>"$T/log.err"
is "$?" 1 "log fails when the record counts bytes but the file is gone"
like "$(cat "$T/log.err")" "cannot open the captured stderr" "... and says so"
mv "$T/stderr.away" "$T/.xrun/runs/$first/stderr"

out=$("$XRUN" show latest)
ok $? "show latest exits 0"
like "$out" "^run +$third" "show names the run"
like "$out" "^status +succeeded" "show gives the status"
like "$out" "^params +lr=0.1" "show gives params"
like "$out" "^command +sh -c 'echo out-three'" "show gives the command, shell-quoted"
like "$out" "^host +" "show gives the host"
like "$out" "^software +[0-9]+ shared libraries" "show gives the software"
is "$("$XRUN" show --json latest~1 | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)["result"]["exit_code"])')" 4 "show --json prints the record"
"$XRUN" show --json "$T/.xrun/runs/$second" >/dev/null
ok $? "show accepts a run directory"
cp "$T/.xrun/runs/$second/record.json" "$T/elsewhere.json"
is "$(cd / && "$XRUN" show --json "$T/elsewhere.json" | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)["name"])')" two \
	"show reads a record file from elsewhere, without a store"

err=$("$XRUN" show latest~3 2>&1)
is "$?" 1 "latest~3 of three runs: status 1"
like "$err" "does not exist: the store has 3 runs" "... and says why"
err=$("$XRUN" show 0000 2>&1)
is "$?" 1 "a prefix matching nothing: status 1"
like "$err" "no run matches '0000'" "... and says so"
err=$("$XRUN" show abc 2>&1)
like "$err" "at least 4 characters" "a short prefix is refused"

# Two runs sharing a prefix: an ambiguous prefix lists the candidates.
for id in abcd0000-0000-4000-8000-000000000001 abcd0000-0000-4000-8000-000000000002; do
	mkdir "$T/.xrun/runs/$id"
	sed "s/$second/$id/" "$T/.xrun/runs/$second/record.json" >"$T/.xrun/runs/$id/record.json"
done
err=$("$XRUN" show abcd 2>&1)
is "$?" 1 "an ambiguous prefix: status 1"
like "$err" "ambiguous.*abcd0000-0000-4000-8000-000000000001.*abcd0000-0000-4000-8000-000000000002" \
	"an ambiguous prefix lists the candidates"
"$XRUN" show abcd0000-0000-4000-8000-000000000002 >/dev/null
ok $? "the full id still works"

# A record whose launcher is gone reads as abandoned.
sh -c 'exit 0' &
deadpid=$!
wait $deadpid
id=abcd0000-0000-4000-8000-000000000003
mkdir "$T/.xrun/runs/$id"
"$PYTHON3" - "$T/.xrun/runs/$second/record.json" "$T/.xrun/runs/$id/record.json" "$id" "$deadpid" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["id"] = sys.argv[3]
d["status"] = "running"
d["result"] = None
d["times"]["finished"] = d["times"]["duration"] = None
d["launcher"]["pid"] = int(sys.argv[4])
json.dump(d, open(sys.argv[2], "w"), indent=2)
PY
like "$("$XRUN" show $id)" "^status +abandoned" "a running record with a dead launcher shows abandoned"
is "$("$XRUN" show --json $id | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)["status"])')" abandoned "also in show --json"
like "$("$XRUN" ls --status abandoned)" "${id:0:8} +abandoned" "ls --status abandoned finds it"
like "$(jget "$T/.xrun/runs/$id/record.json" 'd["status"]')" running "the file itself is left alone"

# A run directory without a record (a launcher killed before the program
# started) is not a run: ls neither lists nor warns about it.
mkdir "$T/.xrun/runs/abcd0000-0000-4000-8000-00000000000f"
err=$("$XRUN" ls 2>&1 >/dev/null)
is "$err" "" "a run directory without a record is skipped silently"

# No store at all.
nostore=$(mktemp -d)
cd "$nostore" || exit 1
err=$("$XRUN" ls 2>&1)
is "$?" 1 "ls without a store: status 1"
like "$err" "no xrun store in '$nostore' or any parent directory" "... with a message that says what to do"
[ ! -e .xrun ]
ok $? "... and creates nothing"
is "$("$XRUN" --store "$T/.xrun" log "$first")" out-one "--store DIR"
is "$(XRUN_STORE=$T/.xrun "$XRUN" log "$first")" out-one "XRUN_STORE"
cd "$T" && rmdir "$nostore"

done_testing

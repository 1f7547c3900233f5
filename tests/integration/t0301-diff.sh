#!/bin/bash
# xrun diff on real runs of examples/train.sh: what differs, exit
# statuses, every way to name a run, missing manifests, bad records.
. "$top_srcdir/tests/integration/lib.sh"
cd "$T" || exit 1
mkdir proj && cd proj || exit 1
cp "$top_srcdir/examples/train.sh" .

sections() {
	# The sections that differ, in order, from diff --json on stdin.
	"$PYTHON3" -c 'import json,sys; d=json.load(sys.stdin); print(" ".join(k for k,v in d["sections"].items() if v["differ"]))'
}

"$XRUN" -q run --seed 1 -p lr=0.1 -o out ./train.sh >/dev/null 2>&1
ok $? "first run"
"$XRUN" -q run --seed 2 -p lr=0.2 -o out ./train.sh >/dev/null 2>&1
ok $? "second run, another seed and lr"

out=$("$XRUN" diff latest~1 latest)
is "$?" 1 "two runs that differ: status 1"
is "$(echo "$out" | grep -v '^ ' | head -n -1 | tr '\n' ' ')" "params metrics seed outputs " \
	"the text names exactly params, metrics, seed and outputs"
like "$out" '^  ~ lr +0\.1 → 0\.2 +\+0\.1 \(\+100\.0%\)' "params: old → new, delta and percent"
like "$out" '^  ~ loss ' "metrics: loss changed"
like "$out" '^  ~ seed +1 → 2$' "seed: old → new"
like "$out" "^  ~ $T/proj/out " "outputs: the output directory changed"
like "$out" '^      ~ model\.txt +0644 [0-9]+ B sha256:' "... down to the file"
like "$out" '^  ~ stdout ' "... and stdout"
is "$(echo "$out" | tail -n 1)" "1 param, 1 metric, seed, 2 output files differ" "the summary line"
is "$("$XRUN" diff --json latest~1 latest | sections)" "params metrics seed outputs" \
	"--json: the same sections differ"
"$XRUN" diff --json latest~1 latest >"$T/d.json"
check "--json validates against run-diff.schema.json" -- \
	"$PYTHON3" "$top_srcdir/tests/validate-record.py" "$top_srcdir/schemas/run-diff.schema.json" "$T/d.json"
is "$(jget "$T/d.json" '[i for i in d["sections"]["outputs"]["items"] if i["key"].endswith("/out")][0]["file_details"]')" \
	compared "the output trees were compared file by file"

"$XRUN" -q run --seed 1 -p lr=0.1 -o out ./train.sh >/dev/null 2>&1
out=$("$XRUN" diff latest~2 latest)
is "$?" 0 "the same seed and params again: status 0"
is "$out" "no differences" "... and it says so"
out=$("$XRUN" diff --all latest~2 latest)
is "$?" 0 "--all: still status 0"
like "$out" '^    id +[0-9a-f-]+ → [0-9a-f-]+$' "--all shows the ids"
like "$out" '^    duration ' "... and the durations, which never make runs differ"
like "$out" '^sandbox$' "... and every section"

ids=$("$XRUN" ls --json | "$PYTHON3" -c 'import json,sys; print(" ".join(r["id"] for r in json.load(sys.stdin)))')
set -- $ids
third=$1 second=$2 first=$3
"$XRUN" diff "${first:0:6}" "$second" >/dev/null
is "$?" 1 "a prefix and a full id"
"$XRUN" diff "$T/proj/.xrun/runs/$first/record.json" "$T/proj/.xrun/runs/$third" >/dev/null
is "$?" 0 "a record path and a run directory"

# A record from elsewhere: no store, so no manifests; never a failure.
mkdir "$T/elsewhere"
cp ".xrun/runs/$first/record.json" "$T/elsewhere/a.json"
cp ".xrun/runs/$second/record.json" "$T/elsewhere/b.json"
out=$(cd / && "$XRUN" diff "$T/elsewhere/a.json" "$T/elsewhere/b.json")
is "$?" 1 "two record files outside any store: status 1"
like "$out" "file details unavailable" "... the file details are unavailable, and it says so"
out=$(cd / && "$XRUN" --store "$T/proj/.xrun" diff "$T/elsewhere/a.json" "$second")
is "$?" 1 "a record file against a run of --store"
like "$out" '^      ~ model\.txt ' "... the manifests come from --store"

# Manifests gone (gc, or a damaged store): the roots' digests only.
m=$(jget ".xrun/runs/$second/record.json" 'd["outputs"][0]["manifest"]')
h=${m#sha256:}
mv ".xrun/objects/sha256/${h:0:2}/${h:2}" "$T/manifest.away"
out=$("$XRUN" diff "$first" "$second" 2>&1)
is "$?" 1 "a manifest missing from the store: still status 1"
like "$out" "file details unavailable" "... and the diff says the details are unavailable"
mv "$T/manifest.away" ".xrun/objects/sha256/${h:0:2}/${h:2}"

# Inputs down to each file.
mkdir data && echo 1 >data/a.txt && echo 2 >data/b.txt && echo 3 >data/gone.txt
"$XRUN" -q run --seed 1 -p lr=0.1 -i data -o out ./train.sh >/dev/null 2>&1
echo 22 >data/b.txt && rm data/gone.txt && echo 4 >data/new.txt
"$XRUN" -q run --seed 1 -p lr=0.1 -i data -o out ./train.sh >/dev/null 2>&1
out=$("$XRUN" diff latest~1 latest)
is "$?" 1 "a changed input: status 1"
is "$("$XRUN" diff --json latest~1 latest | sections)" "inputs" "... only the inputs differ"
like "$out" '^      ~ b\.txt +0644 2 B sha256:[0-9a-f]+ → 0644 3 B sha256:' "... b.txt changed, with sizes"
like "$out" '^      \+ new\.txt +0644 2 B ' "... new.txt added"
like "$out" '^      - gone\.txt +0644 2 B ' "... gone.txt removed"
like "$out" '\(1 unchanged\)' "... a.txt counted as unchanged"
is "$(echo "$out" | tail -n 1)" "3 input files differ" "... the summary counts the files"

# The unprivileged user reads a store it does not own.
if have_test_user; then
	out=$(as_user "$XRUN" diff latest~1 latest 2>&1)
	is "$?" 1 "as an unprivileged user: status 1"
	like "$out" '^      ~ b\.txt ' "... with the file details"
else
	ok 0 "# SKIP no unprivileged test user (needs root and setpriv)"
	ok 0 "# SKIP no unprivileged test user"
fi

# Errors: status 2 with a message.
err=$("$XRUN" diff latest 2>&1)
is "$?" 2 "one RUN: status 2"
like "$err" "diff takes two RUNs" "... and says so"
err=$("$XRUN" diff latest 0000 2>&1)
is "$?" 2 "an unknown run: status 2"
like "$err" "no run matches '0000'" "... and says which"
err=$("$XRUN" diff --bogus a b 2>&1)
is "$?" 2 "an unknown option: status 2"
echo '{"schema": "xrun/run-record/1", "id": ' >"$T/corrupt.json"
err=$("$XRUN" diff "$T/corrupt.json" latest 2>&1)
is "$?" 2 "a corrupt record: status 2"
like "$err" "cannot read record '$T/corrupt.json'" "... and names it"
sed 's|"xrun/run-record/1"|"xrun/run-record/9"|' ".xrun/runs/$first/record.json" >"$T/newer.json"
err=$("$XRUN" diff latest "$T/newer.json" 2>&1)
is "$?" 2 "a record of a newer schema: status 2"
like "$err" "newer" "... and says it is newer"
echo '[1, 2]' >"$T/array.json"
err=$("$XRUN" diff "$T/array.json" latest 2>&1)
is "$?" 2 "a JSON document that is not a record: status 2"
err=$(cd / && "$XRUN" diff "$T/elsewhere/a.json" latest 2>&1)
is "$?" 2 "latest without a store: status 2"
like "$err" "no store found" "... and says what to pass"
"$XRUN" diff latest~1 latest >/dev/full 2>"$T/full.err"
is "$?" 2 "a full stdout: status 2"
like "$(cat "$T/full.err")" "cannot write to standard output" "... and says so"

done_testing

#!/bin/bash
# xrun compare: the runs × params × metrics table, against golden files
# (tests/data/compare/: three fixed records, their expected text, --all,
# --csv and --json), then on a store's real runs. After a deliberate
# change to the output, regenerate the golden files with
#     XRUN_UPDATE_GOLDEN=1 make check TESTS=tests/integration/t0601-compare.sh
# and review the diff.
. "$top_srcdir/tests/integration/lib.sh"

G=$top_srcdir/tests/data/compare
cd "$G" || exit 1
for v in text all csv json; do
	case $v in
	text) opt= ;;
	*) opt=--$v ;;
	esac
	# shellcheck disable=SC2086
	"$XRUN" --color=never compare $opt r1.json r2.json r3.json \
		>"$T/$v.out" 2>"$T/$v.err"
	is "$?" 0 "compare ${opt:-(text)} exits 0"
	[ -n "${XRUN_UPDATE_GOLDEN:-}" ] && cp "$T/$v.out" "expected-$v"
	check "compare ${opt:-(text)}: as expected" -- diff -u "expected-$v" "$T/$v.out"
	is "$(cat "$T/$v.err")" "" "compare ${opt:-(text)}: nothing on stderr"
done
like "$(head -1 expected-text)" '^run +name +status +lr +optimizer +warmup +\| +acc +loss$' \
	"only the columns that differ: dropout and epochs are the same in every run"
like "$(head -1 expected-all)" 'dropout +epochs' "--all shows them too"
ok "$(grep -c $'\e' "$T/text.out" "$T/csv.out" | grep -vc ':0$')" \
	"a control character in a param reaches neither the terminal nor the csv"
"$PYTHON3" -c '
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
assert rows[0][0] == "run_id" and rows[2][4] == "adam, \u03b2=0.9", rows
assert len({len(r) for r in rows}) == 1
' "$G/expected-csv"
ok $? "--csv reads back with Python's csv module (a comma inside a value is quoted)"
"$PYTHON3" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["params"] == ["lr", "optimizer", "warmup"], d["params"]
assert d["runs"][2]["metrics"]["acc"] is None
assert d["runs"][1]["metrics"]["loss"] == 0.2512345678
' "$G/expected-json"
ok $? "--json: the columns shown, null where a run has no value, full precision"

# Errors
err=$("$XRUN" compare --csv --json r1.json 2>&1)
is "$?" 2 "--csv and --json together: 2"
like "$err" 'choose one' "... says so"
err=$("$XRUN" compare --sweep abc r1.json 2>&1)
is "$?" 2 "RUNs and --sweep together: 2"
err=$("$XRUN" compare nothing.json 2>&1)
is "$?" 1 "a run that is not there: 1"

# Real runs in a store: a sweep, in the sweep's order.
mkdir -p "$T/w" && cd "$T/w" || exit 1
"$XRUN" -q sweep --no-sandbox -p lr=0.3,0.2 -p bs=8 sh -c \
	'echo "{\"loss\": $XRUN_PARAM_lr}" >>"$XRUN_METRICS"'
sweep=$("$XRUN" ls --json | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["record"])')
sweep=$(jget "$sweep" 'd["tags"]["sweep"]')
out=$("$XRUN" compare --sweep "${sweep:0:8}")
is "$?" 0 "compare --sweep exits 0"
is "$(echo "$out" | awk '{print $2, $4}' | tr '\n' ';')" "lr loss;0.3 0.3;0.2 0.2;" \
	"compare --sweep: the grid's order, lr and loss differ, bs does not"
out=$("$XRUN" compare)
is "$(echo "$out" | wc -l)" 3 "compare without RUN: every run of the store"
mkdir -p "$T/empty" && cd "$T/empty" && "$XRUN" -q run --no-sandbox true &&
	"$XRUN" -q rm latest
err=$("$XRUN" compare 2>&1)
is "$?" 1 "compare in a store without runs: 1"
like "$err" 'no runs to compare' "... says so"

done_testing

#!/bin/bash
# Metrics: $XRUN_METRICS summarized in the record (malformed lines a
# warning, never fatal), and xrun ls --metric / --sort / --asc.
. "$top_srcdir/tests/integration/lib.sh"
cd "$T" || exit 1

metrics_run() {
	# metrics_run NAME LINE...: a run that appends LINEs to $XRUN_METRICS.
	local name=$1
	shift
	"$XRUN" run -n "$name" sh -c 'for l in "$@"; do printf "%s\n" "$l" >>"$XRUN_METRICS"; done' sh "$@"
}
metrics_run a '{"step": 1, "acc": 0.5, "loss": 2}' '{"step": 2, "acc": 0.7, "loss": 1}' >/dev/null 2>"$T/a.err"
ok $? "a run with metrics"
metrics_run b '{"step": 1, "acc": 0.9}' 'not json' '[1]' '{"step": 2, "acc": 0.8, "loss": 0.5}' >/dev/null 2>"$T/b.err"
is "$?" 0 "malformed metric lines are not fatal"
is "$(grep -c 'not a JSON object' "$T/b.err")" 1 "... one warning for all of them"
like "$(cat "$T/b.err")" "2 lines of '.*metrics.jsonl' are not a JSON object and were skipped" "... that counts them"
rec=$(latest_record)
is "$(jget "$rec" 'd["result"]["metrics_malformed_lines"]')" 2 "the record counts them"
is "$(jget "$rec" '[d["result"]["metrics"]["acc"][k] for k in ("last","min","max","count")]')" "[0.8, 0.8, 0.9, 2]" \
	"last, min, max and count of a metric"
"$XRUN" run -n c true >/dev/null 2>&1

out=$("$XRUN" ls --metric acc)
ok $? "ls --metric exits 0"
like "$(echo "$out" | sed -n 1p)" '^ID +STATUS +CREATED +DURATION +acc  NAME / COMMAND' "a column named after the metric"
like "$(echo "$out" | sed -n 2p)" ' +-  c  true$' "a run without it shows -"
is "$(echo "$out" | tail -n +2 | cut -c56-67 | tr -d ' ' | tr '\n' ' ')" "- 0.8 0.7 " "... the last values, newest first"
is "$("$XRUN" ls --sort acc | tail -n +2 | cut -c56-67 | tr -d ' ' | tr '\n' ' ')" "0.8 0.7 - " \
	"--sort acc: highest first, runs without it last"
is "$("$XRUN" ls --sort loss --asc | tail -n +2 | cut -c56-67 | tr -d ' ' | tr '\n' ' ')" "0.5 1 - " \
	"--sort loss --asc: lowest first, runs without it last"
is "$("$XRUN" ls --sort acc --limit 1 | tail -n +2 | cut -c56-67 | tr -d ' ')" "0.8" "--limit after --sort: the best run"
is "$("$XRUN" ls --json --sort acc | "$PYTHON3" -c 'import json,sys; print([r["metric"] for r in json.load(sys.stdin)])')" \
	"[0.8, 0.7, None]" "--json gives the metric"
err=$("$XRUN" ls --asc 2>&1)
is "$?" 2 "--asc without --sort: status 2"
like "$err" "use it with --sort" "... and says what to do"

done_testing

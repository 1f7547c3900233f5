#!/bin/bash
# The launcher killed with -9 at many points of a run, from before the
# start record to after the final one: every record on disk parses and
# validates, no program is left running, the store verifies clean.
. "$top_srcdir/tests/integration/lib.sh"
cd "$T" || exit 1
echo data >input.txt
"$XRUN" -q run true

marker="xrun-kill9-$$"
for i in $(seq 0 39); do
	"$XRUN" -q run -i input.txt -o out sh -c "echo $marker >/dev/null; echo x >out/f; sleep 0.0$((i % 5))" \
		>/dev/null 2>&1 &
	pid=$!
	# 0 to 39 ms: before, during and after the program, and while the
	# final record is written
	sleep "0.0$((i / 4))$((i % 10))"
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
done
sleep 0.5
left=$(pgrep -f "$marker" | wc -l)
is "$left" 0 "no program outlives its killed launcher"
bad=0
n=0
for rec in .xrun/runs/*/record.json; do
	n=$((n + 1))
	"$PYTHON3" -c 'import json,sys; json.load(open(sys.argv[1]))' "$rec" 2>/dev/null || bad=$((bad + 1))
done
is "$bad" 0 "every record on disk parses ($n records)"
check "... and validates" -- validate .xrun/runs/*/record.json
"$XRUN" ls >ls.out 2>&1
is "$?" 0 "xrun ls reads the store"
like "$(cat ls.out)" "abandoned|succeeded" "... and shows the runs"
"$XRUN" -q verify --all
is "$?" 0 "every object in the store matches its digest"
is "$(find .xrun/objects -name '*.tmp' -o -name 'obj-*' | wc -l)" 0 "no half-written object is named as one"

done_testing

#!/bin/bash
# xrun sweep without Slurm: the grid, its order, the tags, ls --sweep,
# -j, and the errors.
. "$top_srcdir/tests/integration/lib.sh"
mkdir -p "$T/w" && cd "$T/w" || exit 1
printf 'data\n' >in.txt

out=$("$XRUN" -q sweep --no-sandbox -i in.txt -p lr=0.1,0.01 -p 'tag=a\,b,c' \
	sh -c 'echo "$XRUN_PARAM_lr $XRUN_PARAM_tag" >>"$0"; echo "{\"loss\": 1}" >>"$XRUN_METRICS"' "$T/log" 2>&1)
is "$?" 0 "a 2x2 sweep succeeds"
is "$(find .xrun/runs -name record.json | wc -l)" 4 "4 records"
check "every record validates" -- validate .xrun/runs/*/record.json
is "$(sort "$T/log" | tr '\n' ' ')" "0.01 a,b 0.01 c 0.1 a,b 0.1 c " \
	"each combination ran once; '\\,' is a comma in a value"
sweeps=$(for r in .xrun/runs/*/record.json; do jget "$r" 'd["tags"]["sweep"]'; done | sort -u)
is "$(echo "$sweeps" | wc -l)" 1 "one sweep id in every run"
ls_out=$("$XRUN" ls --sweep "${sweeps:0:8}" --metric loss)
is "$(echo "$ls_out" | sed 1d | awk '{print $(NF-2), $(NF-1), $NF}' | tr '\n' ';')" \
	"0 lr=0.1 tag=\"a,b\";1 lr=0.1 tag=\"c\";2 lr=0.01 tag=\"a,b\";3 lr=0.01 tag=\"c\";" \
	"ls --sweep lists the runs in the grid's order, the first key slowest"
like "$ls_out" 'loss' "ls --sweep shows the chosen metric"
json=$("$XRUN" ls --sweep "$sweeps" --json)
is "$(printf '%s' "$json" | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[2]["params"]["lr"])')" \
	"0.01" "ls --sweep --json gives the params, typed"
digests=$(for r in .xrun/runs/*/record.json; do jget "$r" 'd["inputs"][0]["digest"]'; done | sort -u | wc -l)
is "$digests" 1 "every run saw the same input"
a=$(echo "$ls_out" | sed -n 2p | cut -c1-8)
b=$(echo "$ls_out" | sed -n 5p | cut -c1-8)
"$XRUN" diff "$a" "$b" >"$T/diff" 2>&1
is "$?" 1 "diff between two runs of the sweep says they differ"
like "$(cat "$T/diff")" 'lr' "... in the params"
test -f ".xrun/sweeps/$sweeps/grid.json"
ok $? "the grid is kept in the store"

echo '{"x": [1, 2, 3]}' >grid.json
"$XRUN" -q sweep --no-sandbox -j 3 --params-grid grid.json -p y=true true
is "$?" 0 "--params-grid with -j 3"
is "$(find .xrun/runs -name record.json | wc -l)" 7 "3 more records"

err=$("$XRUN" sweep -p lr=1 -p lr=2 true 2>&1)
is "$?" 125 "a param listed twice: 125"
like "$err" "param 'lr' listed twice" "... naming it"
err=$("$XRUN" sweep --params-grid grid.json -p x=5 true 2>&1)
is "$?" 125 "a param in the grid file and -p: 125"
like "$err" "param 'x' listed twice" "... naming it"
err=$("$XRUN" sweep true 2>&1)
is "$?" 125 "an empty grid: 125"
like "$err" "grid is empty" "... says so"
err=$(PATH=/nonexistent "$XRUN" sweep --slurm -p a=1 true 2>&1)
is "$?" 125 "--slurm without sbatch: 125"
like "$err" "needs sbatch" "... says what is missing"
err=$("$XRUN" sweep -p 'a=1,2,3,4,5,6,7,8,9,10' -p 'b=1,2,3,4,5,6,7,8,9,10' \
	-p 'c=1,2,3,4,5,6,7,8,9,10' -p 'd=1,2' --slurm --sbatch-arg=--test-only true 2>&1)
st=$?
if command -v sbatch >/dev/null; then
	is "$st" 125 "2000 tasks under --slurm: 125"
	like "$err" "MaxArraySize" "... names the limit"
else
	is "$st" 125 "2000 tasks under --slurm (no sbatch): 125"
	ok 0 "# skip no sbatch"
fi

# The runs of a sweep see the files as the sweep pinned them, also when
# they are edited while it runs.
printf '#!/bin/sh\necho "v1 $XRUN_PARAM_k"\nsleep 0.5\n' >v.sh
chmod +x v.sh
"$XRUN" -q sweep -p k=1,2,3 -- ./v.sh >vout 2>&1 &
vpid=$!
sleep 0.7
printf '#!/bin/sh\necho "v2 $XRUN_PARAM_k"\n' >v.sh
wait $vpid
is "$(grep -c '^v1 ' vout)" 3 "a script edited during a sweep: every run ran it as pinned"

done_testing

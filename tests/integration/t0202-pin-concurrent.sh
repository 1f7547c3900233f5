#!/bin/bash
# 16 runs at once pin the same data into one store: every record valid,
# one copy of each object, verify clean.
. "$top_srcdir/tests/integration/lib.sh"
mkdir -p "$T/w" "$T/logs" && cd "$T/w" || exit 1
mkdir -p data
for i in $(seq 40); do printf 'file %s\n' "$i" >"data/f$i"; done
head -c 3000000 /dev/urandom >data/big
pids=
for i in $(seq 16); do
	"$XRUN" -q run -i data --no-sandbox true >"$T/logs/out.$i" 2>&1 &
	pids="$pids $!"
done
fails=0
for p in $pids; do wait "$p" || fails=$((fails + 1)); done
is "$fails" 0 "16 concurrent runs succeed"
recs=$(find .xrun/runs -name record.json | wc -l)
is "$recs" 16 "16 records"
check "every record validates" -- validate .xrun/runs/*/record.json
is "$(jget "$(latest_record)" 'd["inputs"][0]["files"]')" 41 "the input's files are recorded"
digests=$(for r in .xrun/runs/*/record.json; do jget "$r" 'd["inputs"][0]["digest"]'; done | sort -u | wc -l)
is "$digests" 1 "every run recorded the same digest"
# 41 files with 41 distinct contents, the input's manifest, and the
# workspace's manifest (the workspace holds nothing else).
is "$(find .xrun/objects -type f | wc -l)" 43 "one copy of each object"
is "$(find .xrun/tmp -name 'obj-*' | wc -l)" 0 "no temp object left"
"$XRUN" -q verify --all
is "$?" 0 "verify --all is clean"

done_testing

#!/bin/bash
# 16 runs at once pin the same data into one store: every record valid,
# one copy of each object (after gc, for packed ones), verify clean.
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
# workspace's manifest (the workspace holds nothing else): the large
# file and the manifests loose, the 40 small ones packed. Each writer
# wrote its own pack (no lock between them); gc folds them into one.
packed() { # packed: "ENTRIES DISTINCT" over every pack index
	"$PYTHON3" -c '
import glob, struct
mds = []
for p in glob.glob(".xrun/objects/packs/*.idx"):
    d = open(p, "rb").read()
    n, = struct.unpack_from("<Q", d, 8)
    mds += [d[1056 + i * 48:1056 + i * 48 + 32] for i in range(n)]
print(len(mds), len(set(mds)))'
}
is "$(find .xrun/objects/sha256 -type f | wc -l)" 3 "one copy of each loose object"
is "$(packed | cut -d' ' -f2)" 40 "every small file is packed"
"$XRUN" -q gc >/dev/null
is "$?" 0 "gc"
is "$(packed)" "40 40" "after gc, one copy of each packed object"
is "$(find .xrun/objects/packs -name '*.idx' | wc -l)" 1 "... in one pack"
is "$(find .xrun/tmp -name 'obj-*' | wc -l)" 0 "no temp object left"
"$XRUN" -q verify --all
is "$?" 0 "verify --all is clean"

done_testing

#!/bin/sh
# xrun diff of two runs whose input has 100,000 files each, 10 of them
# different (5 changed, 2 removed, 3 added): the target is under 0.5 s
# (README). The records and their manifests are generated in a temp
# store (bench/gen-diff-large.py); hyperfine times `xrun diff` (which
# exits 1: the runs differ) and `xrun diff --json`.
#
#   bench/diff-large.sh [XRUN] [FILES] [DIFFERING]
set -eu
XRUN=${1:-./xrun}
case $XRUN in /*) ;; *) XRUN=$(pwd)/$XRUN ;; esac
N=${2:-100000}
K=${3:-10}
here=$(cd "$(dirname "$0")" && pwd)
command -v hyperfine >/dev/null || {
	echo "bench: hyperfine is not installed (apt-get install hyperfine)" >&2
	exit 1
}
dir=$(mktemp -d "${TMPDIR:-/tmp}/xrun-diff-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT
/usr/bin/python3 "$here/gen-diff-large.py" \
	"$here/../tests/data/diff/many/a.json" "$dir/.xrun" "$N" "$K" >"$dir/records"
a=$(sed -n 1p "$dir/records")
b=$(sed -n 2p "$dir/records")
cd "$dir"
"$XRUN" diff "$a" "$b" | tail -n 4 || true
hyperfine --warmup 3 --min-runs 20 -i --export-json "$dir/diff.json" \
	-n "xrun diff ($N files, $K differ)" "'$XRUN' diff '$a' '$b'" \
	-n "xrun diff --json" "'$XRUN' diff --json '$a' '$b'" >&2
/usr/bin/python3 - "$dir/diff.json" <<'PY'
import json, os, statistics, sys
for r in json.load(open(sys.argv[1]))["results"]:
    m = statistics.median(r["times"]) * 1000
    print(f"{r['command']:40} median {m:8.1f} ms (target < 500 ms: "
          f"{'met' if m < 500 else 'NOT met'})")
    out = os.environ.get("BENCH_ROWS")
    if out:
        with open(out, "a") as f:
            f.write(json.dumps({"bench": "diff", "what": r["command"],
                                "median_ms": m, "vs": "", "vs_ms": None,
                                "result": f"{m:.0f} ms", "target": "< 500 ms",
                                "met": m < 500}) + "\n")
PY

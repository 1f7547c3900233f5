#!/bin/sh
# Record capture time: what writing down a run costs before and after
# the program, for a Python interpreter (the largest capture: shared
# libraries, Python distributions, BLAS), side by side in one hyperfine
# run: python3 alone, under `xrun run --no-sandbox` with warm caches, and
# with the capture cache (.xrun/cache) removed before each run.
#
#   bench/capture-time.sh [XRUN] [RUNS]
set -eu
XRUN=${1:-./xrun}
RUNS=${2:-30}
case $XRUN in /*) ;; *) XRUN=$(pwd)/$XRUN ;; esac
command -v hyperfine >/dev/null || {
	echo "bench: hyperfine is not installed (apt-get install hyperfine)" >&2
	exit 1
}
PY=/usr/bin/python3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/work"
cd "$dir/work"
"$XRUN" -q run --no-sandbox -- $PY -c pass
echo "== machine: $(uname -srm), $(nproc) CPUs, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)"
echo "== xrun: $("$XRUN" --version)"
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$dir/warm.json" \
	-n "python3 -c pass" "$PY -c pass" \
	-n "xrun run --no-sandbox -- python3 -c pass" "$XRUN -q run --no-sandbox -- $PY -c pass" >&2
hyperfine --warmup 1 --runs "$RUNS" --export-json "$dir/cold.json" \
	--prepare "rm -rf $dir/work/.xrun/cache" \
	-n "... with the capture cache removed" "$XRUN -q run --no-sandbox -- $PY -c pass" >&2
$PY - "$dir/warm.json" "$dir/cold.json" <<'PY'
import json, os, statistics, sys
rows = []
for p in sys.argv[1:]:
    for r in json.load(open(p))["results"]:
        rows.append((r["command"], statistics.median(r["times"]) * 1000))
base = rows[0][1]
for name, m in rows:
    print(f"{name:44} {m:8.2f}ms {m - base:+8.2f}ms")
out = os.environ.get("BENCH_ROWS")
if out:
    with open(out, "a") as f:
        for name, m in rows[1:]:
            f.write(json.dumps({"bench": "record capture", "what": name,
                                "median_ms": m, "vs": "python3 -c pass",
                                "vs_ms": base, "result": f"{m - base:+.2f} ms",
                                "target": "", "met": None}) + "\n")
PY

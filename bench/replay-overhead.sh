#!/bin/sh
# Replay's overhead over the original run (DESIGN.md §5): `xrun run` of a
# program against `xrun replay` of that run, side by side in one
# hyperfine run: a CPU-bound program of about 10 s that writes an output
# (target: replay <= 5% over run), and /bin/true (target: <= 10 ms).
#
#   bench/replay-overhead.sh [XRUN] [RUNS_LONG] [RUNS_SHORT]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
XRUN=${1:-./xrun}
RUNS_LONG=${2:-3}
RUNS_SHORT=${3:-100}
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
sh "$here/settle.sh" "$dir" # see there
# About 10 s of hashing on one core (calibrated here once); the digest is
# the output, so a replay verifies it.
cat >work.py <<'EOF'
import hashlib, os, sys
h = hashlib.sha256(b"seed")
for _ in range(int(sys.argv[1])):
    h = hashlib.sha256(h.digest())
open(os.path.join(os.environ["XRUN_OUTPUT"], "digest"), "w").write(h.hexdigest())
EOF
n=$($PY -c '
import hashlib, time
h = hashlib.sha256(b"seed"); t = time.perf_counter()
for _ in range(1000000): h = hashlib.sha256(h.digest())
print(int(10 / (time.perf_counter() - t) * 1000000))')
"$XRUN" -q run -o out $PY work.py "$n"
long=$("$XRUN" ls --json --limit 1 | $PY -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
"$XRUN" -q run -- /bin/true
short=$("$XRUN" ls --json --limit 1 | $PY -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')

echo "== machine: $(uname -srm), $(nproc) CPUs, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)"
echo "== xrun: $("$XRUN" --version)"
hyperfine -N --warmup 10 --runs "$RUNS_SHORT" --export-json "$dir/short.json" \
	-n 'xrun run -- /bin/true' "$XRUN -q run -- /bin/true" \
	-n 'xrun replay (of /bin/true)' "$XRUN -q replay $short" >&2
hyperfine -N --warmup 1 --runs "$RUNS_LONG" --export-json "$dir/long.json" \
	-n "xrun run -o out python3 work.py $n" "$XRUN -q run -o out $PY work.py $n" \
	-n 'xrun replay (of it)' "$XRUN -q replay $long" >&2
$PY - "$dir/short.json" "$dir/long.json" <<'EOF'
import json, sys
def row(**kw):
    """One line for bench/run's table, when it asked for them."""
    import json, os
    out = os.environ.get("BENCH_ROWS")
    if out:
        with open(out, "a") as f:
            f.write(json.dumps(kw) + "\n")
for f, unit, target in ((sys.argv[1], "ms", "<= 10 ms"), (sys.argv[2], "%", "<= 5%")):
    r = json.load(open(f))["results"]
    run, rep = r[0]["median"], r[1]["median"]
    over = (rep - run) * 1000 if unit == "ms" else (rep / run - 1) * 100
    print("%-40s median %9.2f ms" % (r[0]["command"], run * 1000))
    print("%-40s median %9.2f ms   overhead %+.2f %s (target %s)" % (r[1]["command"], rep * 1000, over, unit, target))
    row(bench="replay", what=r[1]["command"], median_ms=rep * 1000,
        vs=r[0]["command"], vs_ms=run * 1000,
        result="%+.2f %s" % (over, unit), target=target,
        met=over <= (10 if unit == "ms" else 5))
EOF

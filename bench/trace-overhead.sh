#!/bin/sh
# What tracing costs (DESIGN.md §8): real training start-up under
# `xrun run` with tracing (the default) and with --no-trace, side by side
# in one hyperfine run: `import torch`, and a scikit-learn fit on the
# digits data (the issue's two cases), with Debian's /usr/bin/python3.
#
#   bench/trace-overhead.sh [XRUN] [RUNS] [ROUNDS]
#
# RUNS of each per round (default 3), ROUNDS rounds (default 8), the
# order of the pair alternating; the medians over all runs. Target
# (issue 18): traced / --no-trace <= 1.03 for each.
set -eu
XRUN=${1:-./xrun}
RUNS=${2:-3}
ROUNDS=${3:-8}
case $XRUN in /*) ;; *) XRUN=$(pwd)/$XRUN ;; esac
command -v hyperfine >/dev/null || {
	echo "bench: hyperfine is not installed (apt-get install hyperfine)" >&2
	exit 1
}
/usr/bin/python3 -c 'import torch, sklearn' 2>/dev/null || {
	echo "bench: needs python3-torch and python3-sklearn (Debian's)" >&2
	exit 1
}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat >"$dir/fit.py" <<'EOF'
import warnings
warnings.simplefilter("ignore")
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
X, y = load_digits(return_X_y=True)
LogisticRegression(max_iter=100).fit(X, y)
EOF
cd "$dir"
"$XRUN" -q run -- /usr/bin/python3 -c 'import torch' >/dev/null # store, caches

echo "== machine: $(uname -srm), $(nproc) CPUs, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)"
echo "== xrun: $("$XRUN" --version)"
# In rounds, each pair side by side and in alternating order: on a
# shared machine the load drifts within a minute, and one long block per
# command would time the drift.
round=0
while [ $round -lt "$ROUNDS" ]; do
	for case in torch fit; do
		if [ $case = torch ]; then
			prog="/usr/bin/python3 -c 'import torch'"
			name="import torch"
		else
			prog="/usr/bin/python3 fit.py"
			name="digits fit"
		fi
		on="$XRUN -q run -- $prog"
		off="$XRUN -q run --no-trace -- $prog"
		if [ $((round % 2)) = 0 ]; then
			set -- -n "$name, traced" "$on" -n "$name, --no-trace" "$off"
		else
			set -- -n "$name, --no-trace" "$off" -n "$name, traced" "$on"
		fi
		hyperfine -N --warmup 1 --runs "$RUNS" --style basic \
			--export-json "$dir/$case-$round.json" "$@" >&2
	done
	round=$((round + 1))
done

/usr/bin/python3 - "$dir" <<'PY'
import glob, json, os, statistics, sys
def row(**kw):
    out = os.environ.get("BENCH_ROWS")
    if out:
        with open(out, "a") as f:
            f.write(json.dumps(kw) + "\n")
times, cpu = {}, {}
for path in glob.glob(os.path.join(sys.argv[1], "*-*.json")):
    for r in json.load(open(path))["results"]:
        times.setdefault(r["command"], []).extend(r["times"])
        cpu.setdefault(r["command"], []).append(r["user"] + r["system"])
med = {k: statistics.median(v) * 1000 for k, v in times.items()}
for case in ("import torch", "digits fit"):
    on, off = med[f"{case}, traced"], med[f"{case}, --no-trace"]
    ratio = on / off
    con = statistics.mean(cpu[f"{case}, traced"]) * 1000
    coff = statistics.mean(cpu[f"{case}, --no-trace"]) * 1000
    print(f"{case}: traced {on:.1f} ms, --no-trace {off:.1f} ms "
          f"({len(times[f'{case}, traced'])} runs each): "
          f"{ratio:.3f} (target <= 1.03: {'met' if ratio <= 1.03 else 'NOT met'}); "
          f"CPU (user+sys) {con:.0f} ms vs {coff:.0f} ms: {con / coff:.3f}")
    row(bench="tracing", what=f"{case}, traced", median_ms=on,
        vs="--no-trace", vs_ms=off, result=f"{ratio:.3f}x",
        target="<= 1.03x", met=ratio <= 1.03)
PY

#!/bin/sh
# Launch overhead of the record: `xrun run --no-sandbox -- /bin/true`
# against `/bin/true` alone, with warm caches, median of many runs
# (hyperfine), side by side in one run. (The sandbox's own cost is
# bench/sandbox-overhead.sh.)
#
#   bench/launch-overhead.sh [XRUN] [RUNS]
#
# The store lives in a fresh directory outside any git work tree, so the
# figure is xrun's own cost; a second pair shows the cost inside a git
# repository (git status and git diff are run for the record).
set -eu
XRUN=${1:-./xrun}
RUNS=${2:-300}
here=$(cd "$(dirname "$0")" && pwd)
case $XRUN in /*) ;; *) XRUN=$(pwd)/$XRUN ;; esac
command -v hyperfine >/dev/null || {
	echo "bench: hyperfine is not installed (apt-get install hyperfine)" >&2
	exit 1
}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# xrun runs in a directory of its own: its workspace (pinned on every
# run) holds nothing but the store, not the floor's files.
mkdir "$dir/work"
cd "$dir/work"
sh "$here/settle.sh" "$dir" # see there
"$XRUN" -q run --no-sandbox -- /bin/true # create the store, warm the caches
# The floor: spawn + two durable record writes and nothing else.
cc -O2 -o "$dir/floor" "$here/floor.c"
mkdir "$dir/floor.d"

echo "== machine: $(uname -srm), $(nproc) CPUs, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)"
echo "== xrun: $("$XRUN" --version)"
hyperfine -N --warmup 20 --runs "$RUNS" --export-json "$dir/plain.json" \
	-n '/bin/true' '/bin/true' \
	-n 'xrun run --no-sandbox -- /bin/true' "$XRUN -q run --no-sandbox -- /bin/true" \
	-n 'floor: spawn + 2 durable writes' "$dir/floor $dir/floor.d /bin/true" >&2

mkdir "$dir/repo" && cd "$dir/repo"
git init -q . && echo x >f && git add f &&
	git -c user.name=b -c user.email=b@example.invalid commit -q -m x
"$XRUN" -q run --no-sandbox -- /bin/true
hyperfine -N --warmup 20 --runs "$RUNS" --export-json "$dir/git.json" \
	-n 'xrun run --no-sandbox -- /bin/true (in a git repo)' "$XRUN -q run --no-sandbox -- /bin/true" >&2

/usr/bin/python3 - "$dir/plain.json" "$dir/git.json" <<'PY'
import json, statistics, sys
def row(**kw):
    """One line for bench/run's table, when it asked for them."""
    import json, os
    out = os.environ.get("BENCH_ROWS")
    if out:
        with open(out, "a") as f:
            f.write(json.dumps(kw) + "\n")
rows = []
for path in sys.argv[1:]:
    for r in json.load(open(path))["results"]:
        rows.append((r["command"], statistics.median(r["times"]) * 1000))
base = rows[0][1]
print(f"{'command':42} {'median':>10} {'overhead':>10}")
for name, med in rows:
    over = med - base
    print(f"{name:42} {med:8.2f}ms {over:+8.2f}ms")
print(f"target: xrun run --no-sandbox -- /bin/true within 3 ms of /bin/true: "
      f"{'met' if rows[1][1] - base < 3 else 'NOT met'}")
print(f"xrun above the floor: {rows[1][1] - rows[2][1]:+.2f}ms")
row(bench="launch (record only)", what="xrun run --no-sandbox -- /bin/true",
    median_ms=rows[1][1], vs="/bin/true", vs_ms=base,
    result=f"{rows[1][1] - base:+.2f} ms", target="< +3 ms",
    met=rows[1][1] - base < 3)
row(bench="launch (record only)", what="floor: spawn + 2 durable writes",
    median_ms=rows[2][1], vs="/bin/true", vs_ms=base,
    result=f"{rows[2][1] - base:+.2f} ms", target="", met=None)
row(bench="launch (record only)", what="... in a git repository",
    median_ms=rows[3][1], vs="/bin/true", vs_ms=base,
    result=f"{rows[3][1] - base:+.2f} ms", target="", met=None)
PY

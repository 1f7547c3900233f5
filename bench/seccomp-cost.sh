#!/bin/sh
# The seccomp policy's cost per system call: a tight loop of a cheap
# allowed call with and without the filter, side by side in one hyperfine
# run, warm caches, medians. Each loop is also run with 0 iterations, so
# that start-up (and building the filter) is taken off.
#
#   bench/seccomp-cost.sh [SECCOMP_EXEC] [N] [RUNS] [ROUNDS]
#
# hyperfine runs one command's runs back to back; on a noisy machine (a
# VM) a slow spell then lands on one command. So it is run ROUNDS times
# with RUNS runs each, and the medians are over all rounds.
#
# SECCOMP_EXEC is tests/helpers/seccomp-exec (make bench-seccomp builds it
# and passes it). Two calls: getppid, which the policy allows whatever its
# arguments, so Linux 5.11+ answers it from its seccomp cache without
# running the filter; and ioctl(-1, FIONREAD), which the filter must look
# at (TIOCSTI is refused), so it runs all of it every time. A third
# column, a filter that allows everything, is the floor: what entering
# seccomp at all costs on this kernel, whatever the policy.
set -eu
SECCOMP_EXEC=${1:-tests/helpers/seccomp-exec}
N=${2:-1000000}
RUNS=${3:-10}
ROUNDS=${4:-5}
here=$(cd "$(dirname "$0")" && pwd)
case $SECCOMP_EXEC in /*) ;; *) SECCOMP_EXEC=$(pwd)/$SECCOMP_EXEC ;; esac
[ -x "$SECCOMP_EXEC" ] || {
	echo "bench: '$SECCOMP_EXEC' is not built (make tests/helpers/seccomp-exec)" >&2
	exit 1
}
command -v hyperfine >/dev/null || {
	echo "bench: hyperfine is not installed (apt-get install hyperfine)" >&2
	exit 1
}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
loop=$dir/syscall-loop
cc -O2 -o "$loop" "$here/syscall-loop.c"

echo "== machine: $(uname -srm), $(nproc) CPUs, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)"
echo "== policy: $("$SECCOMP_EXEC" --digest)"
round=0
while [ "$round" -lt "$ROUNDS" ]; do
	round=$((round + 1))
	for call in getppid ioctl; do
		hyperfine -N --warmup 2 --runs "$RUNS" --export-json "$dir/$call.$round.json" \
			-n "$call x0" "$loop 0 $call" \
			-n "$call x0 filtered" "$SECCOMP_EXEC $loop 0 $call" \
			-n "$call x0 allow-all" "$SECCOMP_EXEC --allow-all $loop 0 $call" \
			-n "$call" "$loop $N $call" \
			-n "$call filtered" "$SECCOMP_EXEC $loop $N $call" \
			-n "$call allow-all" "$SECCOMP_EXEC --allow-all $loop $N $call" >&2
	done
done

/usr/bin/python3 - "$N" "$dir" <<'PY'
import glob, json, os, statistics, sys
def row(**kw):
    """One line for bench/run's table, when it asked for them."""
    import json, os
    out = os.environ.get("BENCH_ROWS")
    if out:
        with open(out, "a") as f:
            f.write(json.dumps(kw) + "\n")
n = int(sys.argv[1])
print(f"{'ns/call':8} {'unfiltered':>10} {'policy':>8} {'ratio':>6}"
      f" {'allow-all':>10} {'ratio':>6} {'policy/allow-all':>17}")
worst = floor_worst = 0
for call in ("getppid", "ioctl"):
    times = {}
    for path in glob.glob(os.path.join(sys.argv[2], call + ".*.json")):
        for r in json.load(open(path))["results"]:
            times.setdefault(r["command"], []).extend(r["times"])
    med = {c: statistics.median(t) for c, t in times.items()}
    def per_call(suffix):
        return (med[call + suffix] - med[call + " x0" + suffix]) / n * 1e9
    plain, policy, floor = per_call(""), per_call(" filtered"), per_call(" allow-all")
    worst = max(worst, policy / plain)
    floor_worst = max(floor_worst, floor / plain)
    print(f"{call:8} {plain:10.1f} {policy:8.1f} {policy / plain:6.3f}"
          f" {floor:10.1f} {floor / plain:6.3f} {policy / floor:17.3f}")
    row(bench="seccomp per call", what=f"{call} under the policy",
        median_ms=policy / 1e6, vs="unfiltered", vs_ms=plain / 1e6,
        result=f"{policy / plain:.3f}x", target="<= 1.15x",
        met=policy / plain <= 1.15)
    row(bench="seccomp per call", what=f"{call} under an allow-all filter",
        median_ms=floor / 1e6, vs="unfiltered", vs_ms=plain / 1e6,
        result=f"{floor / plain:.3f}x", target="", met=None)
print(f"target: policy/unfiltered <= 1.15: {'met' if worst <= 1.15 else 'NOT met'}")
if worst > 1.15 and floor_worst > 1.15:
    print(f"(an allow-all filter alone costs up to {floor_worst:.3f}x here: "
          f"that much is entering seccomp at all, not this policy)")
PY

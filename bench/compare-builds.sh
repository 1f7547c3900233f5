#!/bin/sh
# Two builds of xrun side by side: is the new one slower? For changes
# that must not cost anything (a refactoring such as issue 17's).
#
#   bench/compare-builds.sh OLD_XRUN NEW_XRUN [RUNS] [ROUNDS]
#
# Times `xrun run --no-sandbox -- /bin/true` (the record's cost) and
# `xrun run -- /bin/true` (record and sandbox) for each build, each in a
# store of its own, in ROUNDS hyperfine rounds (default 6) of RUNS runs
# (default 100) in alternating order, so that the load's drift falls on
# both; prints the medians over all runs and NEW / OLD.
set -eu
[ $# -ge 2 ] || {
	echo "usage: bench/compare-builds.sh OLD_XRUN NEW_XRUN [RUNS] [ROUNDS]" >&2
	exit 2
}
abs() { case $1 in /*) echo "$1" ;; *) echo "$(pwd)/$1" ;; esac }
OLD=$(abs "$1")
NEW=$(abs "$2")
RUNS=${3:-100}
ROUNDS=${4:-6}
command -v hyperfine >/dev/null || {
	echo "bench: hyperfine is not installed (apt-get install hyperfine)" >&2
	exit 1
}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/old" "$dir/new"
for b in old new; do
	x=$OLD
	[ $b = new ] && x=$NEW
	(cd "$dir/$b" && "$x" -q run --no-sandbox -- /bin/true &&
		"$x" -q run -- /bin/true) >/dev/null
done
echo "== machine: $(uname -srm), $(nproc) CPUs, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)"
echo "== old: $OLD ($("$OLD" --version))"
echo "== new: $NEW ($("$NEW" --version))"
echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg)"
round=0
while [ $round -lt "$ROUNDS" ]; do
	for mode in record sandbox; do
		flag=
		[ $mode = record ] && flag=--no-sandbox
		o="cd $dir/old && $OLD -q run $flag -- /bin/true"
		n="cd $dir/new && $NEW -q run $flag -- /bin/true"
		if [ $((round % 2)) = 0 ]; then
			set -- -n "$mode old" "$o" -n "$mode new" "$n"
		else
			set -- -n "$mode new" "$n" -n "$mode old" "$o"
		fi
		# sh -c for the cd: the shell's start is in both.
		hyperfine --shell=sh --warmup 5 --runs "$RUNS" --style basic \
			--export-json "$dir/$mode-$round.json" "$@" >/dev/null 2>&1
	done
	round=$((round + 1))
done
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "$dir" <<'PY'
import glob, json, os, statistics, sys
times = {}
for path in glob.glob(os.path.join(sys.argv[1], "*-*.json")):
    for r in json.load(open(path))["results"]:
        times.setdefault(r["command"], []).extend(r["times"])
for mode, what in (("record", "xrun run --no-sandbox -- /bin/true"),
                   ("sandbox", "xrun run -- /bin/true")):
    o = statistics.median(times[f"{mode} old"]) * 1000
    n = statistics.median(times[f"{mode} new"]) * 1000
    print(f"{what}: old {o:.2f} ms, new {n:.2f} ms "
          f"({len(times[f'{mode} new'])} runs each): new / old {n / o:.3f}")
PY

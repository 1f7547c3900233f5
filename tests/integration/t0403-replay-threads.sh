#!/bin/bash
# Threads and CPUs as the original had them (DESIGN.md §5): the record
# keeps the CPU affinity, the cgroup CPU quota and the thread variables
# (unset stays unset); a replay gives the program the same variables and
# as many CPUs, so that PyTorch and numpy start as many threads as in the
# original. Real PyTorch and numpy, as root and as an ordinary user.
. "$top_srcdir/tests/integration/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "runs as root and as the test user"
"$PYTHON3" -c 'import torch, numpy, threadpoolctl' 2>/dev/null ||
	skip_all "needs Debian's python3-torch, python3-numpy and python3-threadpoolctl"
command -v taskset >/dev/null || skip_all "needs taskset (util-linux)"
[ "$(nproc)" -ge 2 ] || skip_all "needs at least 2 CPUs"

mkdir -p "$T/w"
chmod 777 "$T/w"
cd "$T/w" || exit 1
cat >threads.py <<'EOF'
import os
import numpy
import torch
from threadpoolctl import threadpool_info
print("cpus", len(os.sched_getaffinity(0)))
print("torch", torch.get_num_threads(), torch.get_num_interop_threads())
print("pools", sorted((p["internal_api"], p["num_threads"]) for p in threadpool_info()))
for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    print(v, os.environ.get(v, "unset"))
print(float(numpy.linalg.norm(numpy.arange(9.0).reshape(3, 3) @ numpy.eye(3))))
EOF
chmod 644 threads.py

# as: "" (root) or as_user
for who in root user; do
	if [ $who = user ]; then
		have_test_user || { ok 0 "# SKIP no test user"; continue; }
		AS=as_user
	else
		AS=
	fi
	S="$T/w/.store-$who"
	$AS "$XRUN" -q --store "$S" run "$PYTHON3" threads.py >"$T/o1" 2>"$T/e1"
	is "$?" 0 "$who: a PyTorch + numpy run with the thread variables unset"
	rec=$($AS "$XRUN" --store "$S" ls --json --limit 1 | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["record"])')
	is "$(jget "$rec" 'd["threads"]["variables"]["OMP_NUM_THREADS"]')" null "$who: the record says OMP_NUM_THREADS was unset"
	is "$(jget "$rec" 'd["threads"]["affinity"]["count"]')" "$(nproc)" "$who: ... and the CPUs it could use"
	like "$(jget "$rec" 'd["threads"]["cpu_quota"]')" '"version": (1|2)|^null$' "$who: ... and the cgroup's CPU quota"
	check "$who: the record validates" -- validate "$rec"
	$AS "$XRUN" -q --store "$S" replay latest >"$T/o2" 2>"$T/e2"
	is "$?" 0 "$who: its replay: reproduced"
	like "$(cat "$T/o1")" "^torch [0-9]+ [0-9]+$" "$who: ... it prints its thread counts"
	is "$(cat "$T/o2")" "$(cat "$T/o1")" "$who: ... the same thread counts printed (no OMP_NUM_THREADS invented)"
	rep=$($AS "$XRUN" --store "$S" ls --json --limit 1 | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["record"])')
	is "$(jget "$rep" 'd["threads"]["variables"]')" "$(jget "$rec" 'd["threads"]["variables"]')" "$who: ... the replay's record has the same thread variables"

	# A run limited to one CPU by taskset, replayed without it.
	$AS taskset -c 0 "$XRUN" -q --store "$S" run "$PYTHON3" threads.py >"$T/o3" 2>"$T/e3"
	is "$?" 0 "$who: a run under taskset -c 0"
	like "$(head -1 "$T/o3")" "^cpus 1$" "$who: ... sees one CPU"
	rec=$($AS "$XRUN" --store "$S" ls --json --limit 1 | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["record"])')
	is "$(jget "$rec" '[d["threads"]["affinity"]["count"], d["threads"]["affinity"]["list"]]')" '[1, "0"]' "$who: ... recorded as affinity 1 (0)"
	$AS "$XRUN" -q --store "$S" replay latest >"$T/o4" 2>"$T/e4"
	is "$?" 0 "$who: its replay without taskset: reproduced"
	is "$(cat "$T/o4")" "$(cat "$T/o3")" "$who: ... the same output: one CPU, the same thread counts"

	# The thread variables as they were, whatever the caller's.
	$AS env OMP_NUM_THREADS=1 "$XRUN" -q --store "$S" run "$PYTHON3" threads.py >"$T/o5" 2>/dev/null
	$AS env OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 "$XRUN" -q --store "$S" replay latest >"$T/o6" 2>/dev/null
	is "$?" 0 "$who: OMP_NUM_THREADS=1 replayed from a shell with 2: reproduced"
	is "$(cat "$T/o6")" "$(cat "$T/o5")" "$who: ... the original's 1, MKL_NUM_THREADS unset"

	# Fewer CPUs than the original had: a warning, and --strict refuses.
	$AS "$XRUN" -q --store "$S" run "$PYTHON3" -c 'import os; print(len(os.sched_getaffinity(0)))' >/dev/null 2>&1
	$AS taskset -c 0 "$XRUN" --store "$S" replay --strict latest >/dev/null 2>"$T/e7"
	is "$?" 125 "$who: a replay with fewer CPUs than the original's under --strict: 125"
	like "$(cat "$T/e7")" "CPUs the run may use: the original had $(nproc) \(0-$(($(nproc) - 1))\), this machine gives 1" "$who: ... naming the CPUs"
	$AS taskset -c 0 "$XRUN" --store "$S" replay latest >"$T/o8" 2>"$T/e8"
	is "$?" 3 "$who: ... without --strict it runs on what it has (and its output differs: exit 3)"
	like "$(cat "$T/e8")" "warning: .*CPUs the run may use" "$who: ... with a warning"
done

# The cgroup CPU quota: recorded (v1 cfs quota here, v2 cpu.max where
# the cpu controller is on a v2 hierarchy); a replay without it says so.
cd "$T/w" || exit 1
CG=/sys/fs/cgroup/cpu/xrun-t0403-$$
if [ -w /sys/fs/cgroup/cpu ] && mkdir "$CG" 2>/dev/null &&
	echo 50000 >"$CG/cpu.cfs_quota_us" 2>/dev/null; then
	sh -c 'echo $$ >"$1/cgroup.procs" && exec "$2" -q run true' sh "$CG" "$XRUN" >/dev/null 2>&1
	is "$?" 0 "a run in a cgroup with a CPU quota of half a CPU"
	rec=$(latest_record)
	is "$(jget "$rec" '[d["threads"]["cpu_quota"][k] for k in ("version", "cgroup", "quota_us", "period_us", "cpus")]')" \
		"[1, \"/xrun-t0403-$$\", 50000, $(cat "$CG/cpu.cfs_period_us"), 0.5]" "... recorded: version 1, its cgroup, quota, period, 0.5 CPUs"
	check "... the record validates" -- validate "$rec"
	out=$("$XRUN" replay --dry-run latest 2>/dev/null)
	like "$out" "differs: cgroup CPU quota \(CPUs\): was 0.5, now none" "... a replay outside it says so"
	rmdir "$CG"
else
	rmdir "$CG" 2>/dev/null
	ok 0 "# SKIP cannot make a v1 cpu cgroup with a quota here"
fi
done_testing

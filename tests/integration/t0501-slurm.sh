#!/bin/bash
# xrun under a real single-node Slurm cluster: srun xrun run records the
# job context, a sweep becomes a job array, and eight tasks writing one
# store at once leave it clean.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/slurm-lib.sh"
trap 'slurm_stop; rm -rf "$T"' EXIT
mkdir -p "$T/slurm" "$T/w" && cd "$T/w" || exit 1
# Not in $(…): the daemons' pids and SLURM_CONF must reach this shell.
slurm_start "$T/slurm" >"$T/why" || skip_all "no Slurm cluster: $(cat "$T/why")"

# 1. A step: srun xrun run, sandbox included.
srun -N1 -n1 --chdir="$T/w" "$XRUN" -q run -p lr=0.1 sh -c 'echo "in $SLURM_JOB_ID"' >"$T/srun.out" 2>&1
is "$?" 0 "srun xrun run succeeds"
rec=$(latest_record)
check "its record validates" -- validate "$rec"
is "$(jget "$rec" 'd["sandbox"]["enabled"]')" true "... ran in the sandbox"
is "$(jget "$rec" 'd["host"]["slurm"]["cluster"]')" xruntest "the record names the cluster"
like "$(jget "$rec" 'd["host"]["slurm"]["job_id"]')" '^[0-9]+$' "... the job id"
is "$(jget "$rec" 'd["host"]["slurm"]["step_id"]')" 0 "... the step"
is "$(jget "$rec" 'd["host"]["slurm"]["node_list"]')" "$(hostname -s)" "... the node list"
is "$(jget "$rec" 'd["host"]["slurm"]["partition"]')" debug "... the partition"
like "$(jget "$rec" 'd["host"]["slurm"]["cpus_on_node"]')" '^[0-9]+$' "... the CPUs on the node"
is "$(jget "$rec" 'd["host"]["slurm"]["submit_dir"]')" "$T/w" "... the submit dir"

# 2. A 2x2 sweep as a job array.
out=$("$XRUN" -q sweep -p lr=0.1,0.01 -p bs=32,64 --slurm \
	--sbatch-arg=--chdir="$T/w" sh -c 'echo "{\"acc\": $XRUN_PARAM_bs}" >>"$XRUN_METRICS"' 2>&1)
is "$?" 0 "sweep --slurm submits"
job=$(echo "$out" | awk '/^Submitted job/ {print $3}')
sweep=$(echo "$out" | awk '/^Submitted job/ {print $6}')
like "$job" '^[0-9]+$' "... and prints the job id"
slurm_wait_job "$job" 40
ok $? "the array job finishes"
recs=$(grep -l "\"$sweep\"" .xrun/runs/*/record.json)
is "$(echo "$recs" | wc -l)" 4 "4 runs carry the sweep id"
# shellcheck disable=SC2086
check "every record validates" -- validate $recs
is "$(for r in $recs; do jget "$r" 'd["status"]'; done | sort -u)" succeeded "every run succeeded"
got=$(for r in $recs; do jget "$r" 'd["tags"]["sweep_index"]+" "+str(d["params"]["lr"])+" "+str(d["params"]["bs"])+" "+d["host"]["slurm"]["array_task_id"]+" "+d["host"]["slurm"]["array_job_id"]'; done | sort | tr '\n' ';')
is "$got" "0 0.1 32 0 $job;1 0.1 64 1 $job;2 0.01 32 2 $job;3 0.01 64 3 $job;" \
	"combination i ran as task i, with the right params"
ls_out=$("$XRUN" ls --sweep "${sweep:0:8}" --metric acc)
is "$(echo "$ls_out" | sed 1d | wc -l)" 4 "ls --sweep lists the 4 runs"
like "$ls_out" 'acc' "... with the metric"

# 3. Eight tasks writing one store at once.
mkdir -p data && head -c 200000 /dev/urandom >data/blob
out=$("$XRUN" -q sweep -i data -p i=0,1,2,3,4,5,6,7 --slurm \
	--sbatch-arg=--chdir="$T/w" sh -c 'echo "{\"i\": $XRUN_PARAM_i}" >>"$XRUN_METRICS"' 2>&1)
is "$?" 0 "an 8-task sweep submits"
# Changed while the job waits: the tasks still see what was submitted.
head -c 1000 /dev/urandom >data/blob
job=$(echo "$out" | awk '/^Submitted job/ {print $3}')
slurm_wait_job "$job" 40
ok $? "the 8 tasks finish"
sweep=$(echo "$out" | awk '/^Submitted job/ {print $6}')
recs=$(grep -l "\"$sweep\"" .xrun/runs/*/record.json)
is "$(for r in $recs; do jget "$r" 'd["status"]'; done | sort | uniq -c | tr -s ' ')" " 8 succeeded" "all 8 succeeded"
# shellcheck disable=SC2086
check "their records validate" -- validate $recs
is "$(for r in $recs; do jget "$r" 'd["inputs"][0]["digest"]'; done | sort -u | wc -l)" 1 "every task saw the same input"
is "$(for r in $recs; do jget "$r" 'd["inputs"][0]["digest"]'; done | sort -u)" \
	"$(jget ".xrun/sweeps/$sweep/grid.json" 'd["pinned"]["inputs"][0]["digest"]')" \
	"... the one pinned at submission, though the file changed after"
is "$(grep -l '"sweep_index"' .xrun/runs/*/record.json | wc -l)" 12 "12 sweep runs in all"
"$XRUN" -q verify --all
is "$?" 0 "verify --all is clean"
is "$(find .xrun/tmp -name 'obj-*' | wc -l)" 0 "no temp object left"

# 4. A secret given with -e reaches the tasks through sbatch's
# environment, never through job.sh (issue 16.6).
secret=sweep-secret-$$-value
out=$("$XRUN" -q sweep -e SWEEP_TOKEN="$secret" -p k=1 --slurm \
	--sbatch-arg=--chdir="$T/w" sh -c 'echo "{\"len\": ${#SWEEP_TOKEN}}" >>"$XRUN_METRICS"' 2>&1)
is "$?" 0 "a sweep with -e SWEEP_TOKEN=... submits"
job=$(echo "$out" | awk '/^Submitted job/ {print $3}')
sweep=$(echo "$out" | awk '/^Submitted job/ {print $6}')
grep -q -F -e "$secret" ".xrun/sweeps/$sweep/job.sh"
ok $((!$?)) "... job.sh does not hold the value"
is "$(stat -c %a ".xrun/sweeps/$sweep/job.sh")" 700 "... and is not world-readable (0700)"
slurm_wait_job "$job" 40
ok $? "... the task finishes"
rec=$(grep -l "\"$sweep\"" .xrun/runs/*/record.json)
is "$(jget "$rec" 'int(d["result"]["metrics"]["len"]["last"])')" "${#secret}" "... and its program saw the value"
grep -q -F -e "$secret" "$rec"
ok $((!$?)) "... which its record does not hold"

done_testing

#!/bin/bash
# Outputs belong to their run (DESIGN.md §1, §5; issue 15 §1): an -o path
# that already holds something starts each run from it (the before tree,
# pinned), a run's writes are its own (a parallel sweep does not mix
# them), the record says what changed, and a replay starts from the same
# before tree and sees the original's XRUN_RUN_ID. Real programs, as root
# and as an ordinary user, with overlayfs and with the copy it falls back
# to.
. "$top_srcdir/tests/integration/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "runs as root (and as $TEST_USER through setpriv)"
"$PYTHON3" -c 'import sklearn' 2>/dev/null || skip_all "Debian's python3-sklearn is not installed"

# run_as WHO CMD...: CMD as root or as the test user.
# newest WHO: the newest record of the store in the working directory.
newest() {
	run_as "$1" "$XRUN" ls --json --limit 1 |
		"$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["record"])'
}

# A scikit-learn training that resumes from the checkpoint a run before
# it left in its -o directory, and overwrites it (copied into each
# working directory: the sandbox has a /tmp of its own).
cat >"$T/train.py" <<'EOF'
import os, pickle, sys
import numpy as np
from sklearn.datasets import make_classification
from sklearn.linear_model import SGDClassifier

out = os.environ["XRUN_OUTPUT"]
ckpt = os.path.join(out, "model.pkl")
seed = int(os.environ["XRUN_SEED"]) % 2**32
X, y = make_classification(n_samples=400, n_features=8, random_state=0)
if os.path.exists(ckpt):
    with open(ckpt, "rb") as f:
        state = pickle.load(f)
    model, epochs = state["model"], state["epochs"]
else:
    model, epochs = SGDClassifier(random_state=seed), 0
rng = np.random.default_rng(seed)
for _ in range(3):
    idx = rng.permutation(len(X))
    model.partial_fit(X[idx], y[idx], classes=np.unique(y))
    epochs += 1
with open(ckpt, "wb") as f:
    pickle.dump({"model": model, "epochs": epochs}, f)
with open(os.path.join(out, "epochs.txt"), "w") as f:
    f.write("%d\n" % epochs)
print("epochs", epochs, "score %.6f" % model.score(X, y))
EOF
chmod 644 "$T/train.py"

scenarios() {
	local who=$1 how=$2 W rec rep out err st
	W="$T/$who-$how"
	mkdir -p "$W"
	cp "$T/train.py" "$W/train.py"
	[ "$who" = root ] || chown -R "$TEST_USER:" "$W"
	cd "$W" || exit 1
	local tag="as $who, $how"
	if [ "$how" = copy ]; then
		export XRUN_OUTPUT_ISOLATION=copy
	else
		unset XRUN_OUTPUT_ISOLATION
	fi

	# 1. An output directory used again: the second run starts from
	# what the first left, and its replay starts from the same.
	run_as "$who" "$XRUN" -q run -o out -- sh -c 'echo first >out/a.txt' >/dev/null 2>&1
	run_as "$who" "$XRUN" -q run -o out -- sh -c 'echo hi >out/only.txt' >/dev/null 2>&1
	rec=$(newest "$who")
	is "$(jget "$rec" 'd["outputs"][0]["before"]["files"]')" 1 "$tag: the reused out/ is pinned as the run's before tree"
	is "$(jget "$rec" 'd["outputs"][0]["changes"]')" \
		'{"added": ["only.txt"], "modified": [], "deleted": [], "complete": true}' \
		"$tag: ... changes: only.txt added"
	is "$(jget "$rec" 'd["outputs"][0]["files"]')" 2 "$tag: ... the final tree holds both files"
	is "$(jget "$rec" 'd["outputs"][0]["isolation"]')" "$how" "$tag: ... isolation $how"
	err=$(run_as "$who" "$XRUN" replay latest 2>&1 >/dev/null)
	is "$?" 0 "$tag: replay latest after reusing out/: exit 0"
	like "$err" "reproduced: 2 output files and stdout match" "$tag: ... reproduced"
	is "$(cat out/a.txt out/only.txt)" "first
hi" "$tag: ... out/ still holds the run's result"
	check "$tag: the records validate" -- validate "$rec" "$(newest "$who")"
	# The user edits out/ in place between runs (same size): the next
	# run's before tree has the edit, though the runs taught the stat
	# cache the file as it was.
	run_as "$who" sh -c 'printf "FIRST\n" >out/a.txt'
	run_as "$who" "$XRUN" -q run -o out -- sh -c 'cat out/a.txt >out/copy.txt' >/dev/null 2>&1
	is "$(cat out/copy.txt)" FIRST "$tag: an edit of out/ between runs is what the next run sees"
	err=$(run_as "$who" "$XRUN" replay latest 2>&1 >/dev/null)
	is "$?" 0 "$tag: ... and its before tree has it: the replay reproduces"

	# 2. A training that resumes from its checkpoint in out/.
	run_as "$who" "$XRUN" -q run -o ckpt -- /usr/bin/python3 train.py >"$W/o1" 2>&1
	is "$?" 0 "$tag: sklearn training, first run"
	run_as "$who" "$XRUN" -q run -o ckpt -- /usr/bin/python3 train.py >"$W/o2" 2>&1
	is "$?" 0 "$tag: ... second run, from the checkpoint"
	like "$(cat "$W/o2")" "epochs 6 " "$tag: ... it resumed (6 epochs)"
	rec=$(newest "$who")
	is "$(jget "$rec" 'sorted(d["outputs"][0]["changes"]["modified"])')" '["epochs.txt", "model.pkl"]' \
		"$tag: ... the checkpoint is recorded as modified"
	out=$(run_as "$who" "$XRUN" replay latest 2>"$W/err")
	st=$?
	is "$st" 0 "$tag: replay of the resumed training: exit 0"
	like "$(cat "$W/err")" "reproduced: 2 output files and stdout match" "$tag: ... reproduced"
	like "$out" "epochs 6 " "$tag: ... the replay resumed from the same checkpoint"
	is "$(cat ckpt/epochs.txt)" 6 "$tag: ... the user's checkpoint is the second run's, untouched by the replay"

	# 3. A parallel sweep, every member writing its model into one out/.
	run_as "$who" "$XRUN" -q sweep -j 2 -p k=1,2 -o shared -- \
		sh -c 'sleep 1; echo "model $XRUN_PARAM_k" >"shared/model_$XRUN_PARAM_k.txt"' >/dev/null 2>&1
	is "$?" 0 "$tag: sweep -j 2 into one shared out/"
	local ids
	ids=$(run_as "$who" "$XRUN" ls --json --limit 2 |
		"$PYTHON3" -c 'import json,sys; print(" ".join(r["id"] for r in json.load(sys.stdin)))')
	is "$(ls shared | wc -l)" 1 "$tag: ... shared/ holds the last member's tree alone"
	local id k n=0
	for id in $ids; do
		rec=$(run_as "$who" "$XRUN" show --json "$id" | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)["id"])')
		k=$(run_as "$who" "$XRUN" show --json "$id" | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)["params"]["k"])')
		is "$(run_as "$who" "$XRUN" show --json "$id" |
			"$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)["outputs"][0]["changes"]["added"])')" \
			"['model_$k.txt']" "$tag: ... member k=$k recorded its own model alone"
		run_as "$who" "$XRUN" -q replay "$id" >/dev/null 2>&1
		is "$?" 0 "$tag: ... member k=$k replayed: reproduced"
		run_as "$who" mkdir "co-$k"
		run_as "$who" "$XRUN" -q checkout "$id" "co-$k" >/dev/null 2>&1
		is "$(cd "co-$k/shared" && ls)" "model_$k.txt" "$tag: ... checkout of k=$k gives its own files"
		is "$(cat "co-$k/shared/model_$k.txt")" "model $k" "$tag: ... with its content"
		n=$((n + 1))
	done
	is "$n" 2 "$tag: ... both members seen"

	# 4. A program that writes under out/$XRUN_RUN_ID/.
	run_as "$who" "$XRUN" -q run -o runs -- sh -c 'mkdir -p "runs/$XRUN_RUN_ID"; echo "$XRUN_RUN_ID" >"runs/$XRUN_RUN_ID/id"' >/dev/null 2>&1
	local orig
	orig=$(jget "$(newest "$who")" 'd["id"]')
	err=$(run_as "$who" "$XRUN" replay latest 2>&1 >/dev/null)
	is "$?" 0 "$tag: out/\$XRUN_RUN_ID/ replays: exit 0"
	like "$err" "reproduced: 1 output file and stdout match" "$tag: ... reproduced"
	rep=$(newest "$who")
	is "$(jget "$rep" 'd["environment"]["set_by_xrun"]["XRUN_RUN_ID"]')" "$orig" "$tag: ... the replay's program saw the original's XRUN_RUN_ID"
	is "$(jget "$rep" 'd["environment"]["set_by_xrun"]["XRUN_REPLAY_ID"]')" "$(jget "$rep" 'd["id"]')" "$tag: ... and its own id in XRUN_REPLAY_ID"
	check "$tag: every record validates" -- validate .xrun/runs/*/record.json
	cd "$T" || exit 1
}

for how in overlay copy; do
	scenarios root "$how"
	if have_test_user; then
		scenarios user "$how"
	fi
done

done_testing

# Replays of real training programs, sourced by t0401 (root) and t0402
# (an ordinary user) with RUN_AS set to "" or "as_user": a seeded
# scikit-learn training on the bundled digits data writing a model file,
# and libsvm's svm-train on a data file given with -i. For each: run,
# edit the input and the script, replay -> reproduced with identical
# output digests.
# shellcheck shell=bash

# run_xrun ARGS...: xrun as the user under test, in the current directory.
run_xrun() { $RUN_AS "$XRUN" "$@"; }

mkdir -p "$T/train/data"
cd "$T/train" || exit 1
[ -n "$RUN_AS" ] && chown -R "$TEST_USER:" "$T/train"

if "$PYTHON3" -c 'import sklearn' 2>/dev/null; then
	cat >train.py <<'EOF'
import os, pickle, sys
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier

seed = int(os.environ["XRUN_SEED"]) % 2**32
epochs = int(os.environ.get("XRUN_PARAM_epochs", "10"))
X, y = load_digits(return_X_y=True)
clf = SGDClassifier(max_iter=epochs, tol=None, random_state=seed)
clf.fit(X[:1200], y[:1200])
print("accuracy %.4f" % clf.score(X[1200:], y[1200:]))
with open(os.path.join(os.environ["XRUN_OUTPUT"], "model.pkl"), "wb") as f:
    pickle.dump((clf.coef_, clf.intercept_), f, protocol=4)
EOF
	[ -n "$RUN_AS" ] && chown "$TEST_USER:" train.py
	out=$(run_xrun -q run -p epochs=8 -o model "$PYTHON3" train.py 2>&1)
	is "$?" 0 "digits: the training run succeeds"
	like "$out" "^accuracy 0\.[0-9]+" "... and prints its accuracy"
	orig=$(run_xrun ls --json --limit 1 | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["record"])')
	echo 'print("edited")' >>train.py
	err=$(run_xrun replay latest 2>&1 >/dev/null)
	is "$?" 0 "digits: replay after editing the script: 0"
	like "$err" "reproduced: 1 output file and stdout match" "... reproduced"
	rep=$(run_xrun ls --json --limit 1 | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["record"])')
	is "$(jget "$rep" 'd["outputs"][0]["digest"]')" "$(jget "$orig" 'd["outputs"][0]["digest"]')" "... identical model digests"
	is "$(jget "$rep" 'd["command"]["script"]["sha256"]')" "$(jget "$orig" 'd["command"]["script"]["sha256"]')" "... the record names the original script"
	check "... the records validate" -- validate "$orig" "$rep"
	out=$(OMP_NUM_THREADS=1 run_xrun -q run --seed 7 -o model2 env XRUN_OUTPUT=model2 "$PYTHON3" -c 'import os; print(os.environ.get("OMP_NUM_THREADS"))' 2>&1)
	is "$out" 1 "a run with OMP_NUM_THREADS=1"
	out=$(OMP_NUM_THREADS=2 run_xrun -q replay latest 2>/dev/null)
	is "$out" 1 "... its replay with OMP_NUM_THREADS=2 in the caller's environment gets 1"
else
	for i in $(seq 9); do echo "ok $((_tap_n + 1)) # SKIP python3-sklearn is not installed (build-aux/install-deps --test)"; _tap_n=$((_tap_n + 1)); done
fi

if command -v svm-train >/dev/null 2>&1; then
	"$PYTHON3" - >data/train.svm <<'EOF'
import random
r = random.Random(1)
for i in range(300):
    label = 1 if i % 2 else -1
    feats = " ".join("%d:%.4f" % (k + 1, r.gauss(label * 0.5, 1)) for k in range(6))
    print(label, feats)
EOF
	cat >svm.sh <<'EOF'
#!/bin/sh
svm-train -q -s 0 -t 2 -c 2 data/train.svm "$XRUN_OUTPUT/svm.model"
wc -l <"$XRUN_OUTPUT/svm.model"
EOF
	chmod 755 svm.sh
	[ -n "$RUN_AS" ] && chown -R "$TEST_USER:" data svm.sh
	run_xrun -q run -i data/train.svm -o svm ./svm.sh >/dev/null 2>&1
	is "$?" 0 "svm-train: the training run succeeds"
	orig=$(run_xrun ls --json --limit 1 | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["record"])')
	sum=$(sha256sum svm/svm.model | cut -d' ' -f1)
	printf '1 1:0.5\n-1 1:-0.5\n' >data/train.svm
	echo 'echo edited' >>svm.sh
	err=$(run_xrun replay latest 2>&1 >/dev/null)
	is "$?" 0 "svm-train: replay after editing the data file and the script: 0"
	like "$err" "reproduced: 1 output file and stdout match" "... reproduced"
	rep=$(run_xrun ls --json --limit 1 | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["record"])')
	is "$(jget "$rep" 'd["outputs"][0]["digest"]')" "$(jget "$orig" 'd["outputs"][0]["digest"]')" "... identical model digests"
	is "$(sha256sum svm/svm.model | cut -d' ' -f1)" "$sum" "... the original's model untouched"
else
	for i in $(seq 5); do echo "ok $((_tap_n + 1)) # SKIP libsvm-tools is not installed (build-aux/install-deps --test)"; _tap_n=$((_tap_n + 1)); done
fi

#!/bin/bash
# Lineage: a chain prepare -> train -> evaluate of real scikit-learn
# programs, each reading the one before's output with -i, shown both
# ways by xrun lineage (text, --json, --dot), and named by show and
# diff; only digests link runs, and only a run that had finished.
. "$top_srcdir/tests/integration/lib.sh"
"$PYTHON3" -c 'import sklearn' 2>/dev/null ||
	skip_all "python3-sklearn is not installed (build-aux/install-deps --test)"

mkdir -p "$T/chain" && cd "$T/chain" || exit 1
cat >prepare.py <<'EOF'
import os
from sklearn.datasets import load_digits
X, y = load_digits(return_X_y=True)
with open(os.path.join(os.environ["XRUN_OUTPUT"], "digits.csv"), "w") as f:
    for row, label in zip(X, y):
        f.write(",".join("%d" % v for v in row) + ",%d\n" % label)
EOF
cat >train.py <<'EOF'
import os, pickle, numpy as np
from sklearn.linear_model import SGDClassifier
d = np.loadtxt("prep/digits.csv", delimiter=",")
clf = SGDClassifier(max_iter=5, tol=None, random_state=1).fit(d[:1200, :-1], d[:1200, -1])
with open(os.path.join(os.environ["XRUN_OUTPUT"], "model.pkl"), "wb") as f:
    pickle.dump((clf.coef_, clf.intercept_, clf.classes_), f, protocol=4)
EOF
cat >evaluate.py <<'EOF'
import os, pickle, numpy as np
d = np.loadtxt("prep/digits.csv", delimiter=",")
coef, icpt, classes = pickle.load(open("model/model.pkl", "rb"))
pred = classes[np.argmax(d[1200:, :-1] @ coef.T + icpt, axis=1)]
with open(os.path.join(os.environ["XRUN_OUTPUT"], "score.txt"), "w") as f:
    f.write("%.4f\n" % (pred == d[1200:, -1]).mean())
open(os.path.join(os.environ["XRUN_OUTPUT"], "empty"), "w").close()
EOF
id_of() { "$XRUN" ls --json --limit 1 | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])'; }
"$XRUN" -q run -n prepare -o prep "$PYTHON3" prepare.py >/dev/null 2>&1
is "$?" 0 "prepare writes prep/digits.csv"
P=$(id_of)
"$XRUN" -q run -n train -i prep/digits.csv -o model "$PYTHON3" train.py >/dev/null 2>&1
is "$?" 0 "train reads it with -i, writes model/model.pkl"
TR=$(id_of)
"$XRUN" -q run -n evaluate -i model/model.pkl -i prep/digits.csv -o eval "$PYTHON3" evaluate.py >/dev/null 2>&1
is "$?" 0 "evaluate reads both"
E=$(id_of)

out=$("$XRUN" lineage "$E")
is "$?" 0 "lineage of evaluate: exit 0"
like "$out" "^upstream \(the runs whose outputs it read\):" "... an upstream section"
like "$out" "^  ${TR:0:8}  train " "... train, its parent"
like "$out" "^      read '$T/chain/model/model.pkl'" "... with the file it read"
like "$out" "^      ${P:0:8}  prepare " "... prepare, train's parent, below it"
like "$out" "^downstream \(the runs that read its outputs\): none" "... nothing downstream"
out=$("$XRUN" lineage "${P:0:8}")
like "$out" "^upstream \(the runs whose outputs it read\): none" "lineage of prepare: nothing upstream"
like "$out" "^  ${TR:0:8}  train " "... train downstream"
like "$out" "^      ${E:0:8}  evaluate " "... and evaluate, through train"

"$XRUN" lineage --json "$TR" >"$T/g.json"
is "$?" 0 "lineage --json"
check "... the edges, the files and the runs" -- "$PYTHON3" - "$T/g.json" "$P" "$TR" "$E" "$T/chain" <<'EOF'
import json, sys
g = json.load(open(sys.argv[1]))
p, t, e, top = sys.argv[2:]
assert g["run"] == t
assert set(g["runs"]) == {p, t, e}, g["runs"].keys()
assert g["runs"][p]["name"] == "prepare" and g["runs"][e]["status"] == "succeeded"
up = [(x["from"], x["to"]) for x in g["upstream"]]
down = [(x["from"], x["to"]) for x in g["downstream"]]
assert up == [(p, t)], up
assert down == [(t, e)], down
f = g["upstream"][0]["files"]
assert f == [{"digest": f[0]["digest"], "output": top + "/prep/digits.csv", "input": top + "/prep/digits.csv"}], f
assert g["downstream"][0]["files"][0]["input"] == top + "/model/model.pkl"
EOF
dot=$("$XRUN" lineage --dot "$E")
like "$dot" "^digraph lineage \{" "lineage --dot: a digraph"
like "$dot" "\"${TR:0:8}\" -> \"${E:0:8}\" \[label=\"model.pkl\"\];" "... train -> evaluate"
like "$dot" "\"${P:0:8}\" -> \"${TR:0:8}\" \[label=\"digits.csv\"\];" "... prepare -> train"
if command -v dot >/dev/null 2>&1; then
	printf '%s\n' "$dot" | dot -Tsvg >/dev/null
	ok $? "... that Graphviz reads"
fi

# show and diff name the parents.
out=$("$XRUN" show "$E")
like "$out" "^parent    '$T/chain/model/model.pkl' is an output of run ${TR:0:8}" "show names the run an input came from"
like "$out" "^parent    '$T/chain/prep/digits.csv' is an output of run ${P:0:8}" "... each"
out=$("$XRUN" show "$P")
! printf '%s\n' "$out" | grep -q '^parent'
ok $? "... and none for prepare"
# What show and diff use is cached (cache/lineage.json): a cache
# another user spoiled is read past, and a run removed is gone from it.
[ -s .xrun/cache/lineage.json ]
ok $? "show keeps what ended runs wrote in cache/lineage.json"
"$PYTHON3" - .xrun/cache/lineage.json "$P" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["runs"][sys.argv[2]]["info"]["writes"] = [{"digest": "nonsense", "path": 1}]
json.dump(c, open(sys.argv[1], "w"))
EOF
out=$("$XRUN" show "$E")
like "$out" "^parent    '$T/chain/prep/digits.csv' is an output of run ${P:0:8}" "... a spoiled cache is read past"
echo 'not json' >.xrun/cache/lineage.json
out=$("$XRUN" show "$E")
like "$out" "^parent    '$T/chain/model/model.pkl' is an output of run ${TR:0:8}" "... and so is one that is no JSON"
out=$("$XRUN" diff "$TR" "$E")
like "$out" "^parents" "diff: a parents section"
like "$out" "^  a +'$T/chain/prep/digits.csv' is an output of run ${P:0:8}" "... for a"
like "$out" "^  b +'$T/chain/model/model.pkl' is an output of run ${TR:0:8}" "... for b"

# A replay of train reads what train read: prepare is upstream of it,
# train (whose output it wrote again, not read) is not.
"$XRUN" -q replay "$TR" >/dev/null 2>&1
is "$?" 0 "a replay of train: reproduced"
RP=$(id_of)
out=$("$XRUN" lineage "$RP")
like "$out" "^  ${P:0:8}  prepare " "... prepare upstream of it, as of train"
! printf '%s\n' "$out" | grep -q "^  ${TR:0:8}"
ok $? "... not train itself"
like "$out" "^downstream \(the runs that read its outputs\): none" "... evaluate, which ran before it, not downstream"

# Only a run that had finished: a file read first and written later by
# another run links nothing; nor do empty files (evaluate wrote one).
# (In a directory of its own: the chain's files would be in the
# workspace, which a run reads too.)
mkdir "$T/other" && cd "$T/other" || exit 1
echo "1,2,3" >late.csv
: >empty.in
"$XRUN" -q run -i late.csv -i empty.in -o none sh -c 'cat late.csv >/dev/null' >/dev/null 2>&1
R=$(id_of)
"$XRUN" -q run -o copy sh -c 'echo 1,2,3 >copy/late.csv' >/dev/null 2>&1
W=$(id_of)
out=$("$XRUN" lineage "$R")
like "$out" "^upstream \(the runs whose outputs it read\): none" "a file written after the run read it: no parent"
out=$("$XRUN" lineage "$W")
like "$out" "^downstream \(the runs that read its outputs\): none" "... and no child"
: >empty.out
"$XRUN" --store "$T/chain/.xrun" -q run -i empty.out -o none2 true >/dev/null 2>&1
cd "$T/chain" || exit 1
out=$("$XRUN" lineage "$E")
like "$out" "^downstream \(the runs that read its outputs\): none" "an empty output links nothing"

"$XRUN" -q rm "$RP" >/dev/null 2>&1
"$XRUN" -q rm "$TR" >/dev/null 2>&1
out=$("$XRUN" show "$E")
! printf '%s\n' "$out" | grep -q "is an output of run ${TR:0:8}"
ok $? "a run removed (xrun rm) is no parent any more"
like "$out" "^parent    '$T/chain/prep/digits.csv' is an output of run ${P:0:8}" "... the others still are"
err=$("$XRUN" lineage 2>&1)
is "$?" 2 "lineage without RUN: exit 2"
err=$("$XRUN" lineage --json --dot "$E" 2>&1)
is "$?" 2 "--json and --dot together: exit 2"
done_testing

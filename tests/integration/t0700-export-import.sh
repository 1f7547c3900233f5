#!/bin/bash
# Bundles: a scikit-learn training and libsvm's svm-train on -i data,
# exported into one file (the same bytes every time), its RO-Crate
# checked against the Process Run Crate profile, imported into a fresh
# store by another user and replayed there: reproduced. A damaged
# bundle is refused and changes nothing.
. "$top_srcdir/tests/integration/lib.sh"
"$PYTHON3" -c 'import sklearn' 2>/dev/null ||
	skip_all "python3-sklearn is not installed (build-aux/install-deps --test)"
command -v svm-train >/dev/null 2>&1 ||
	skip_all "libsvm-tools is not installed (build-aux/install-deps --test)"

mkdir -p "$T/train/data"
cd "$T/train" || exit 1
cat >train.py <<'EOF'
import os, pickle
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier

seed = int(os.environ["XRUN_SEED"]) % 2**32
X, y = load_digits(return_X_y=True)
clf = SGDClassifier(max_iter=8, tol=None, random_state=seed)
clf.fit(X[:1200], y[:1200])
print("accuracy %.4f" % clf.score(X[1200:], y[1200:]))
with open(os.path.join(os.environ["XRUN_OUTPUT"], "model.pkl"), "wb") as f:
    pickle.dump((clf.coef_, clf.intercept_), f, protocol=4)
EOF
"$PYTHON3" - >data/train.svm <<'EOF'
import random
r = random.Random(1)
for i in range(300):
    label = 1 if i % 2 else -1
    print(label, " ".join("%d:%.4f" % (k + 1, r.gauss(label * 0.5, 1)) for k in range(6)))
EOF
cat >svm.sh <<'EOF'
#!/bin/sh
svm-train -q -s 0 -t 2 -c 2 data/train.svm "$XRUN_OUTPUT/svm.model"
wc -l <"$XRUN_OUTPUT/svm.model"
EOF
chmod 755 svm.sh

"$XRUN" -q run -o model "$PYTHON3" train.py >/dev/null 2>&1
is "$?" 0 "a scikit-learn training run"
A=$("$XRUN" ls --json --limit 1 | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
"$XRUN" -q run -i data/train.svm -o svm ./svm.sh >/dev/null 2>&1
is "$?" 0 "an svm-train run on -i data"
B=$("$XRUN" ls --json --limit 1 | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')

# The same runs, the same bytes.
"$XRUN" export "$A" "$B" -o "$T/b1.tar.gz" 2>"$T/err"
is "$?" 0 "export two runs"
like "$(cat "$T/err")" "exported 2 runs and [0-9]+ objects" "... says what it wrote"
sleep 1.1
"$XRUN" export "${B:0:8}" "$A" -o "$T/b2.tar.gz" 2>/dev/null
cmp -s "$T/b1.tar.gz" "$T/b2.tar.gz"
ok $? "... again, later and in another order: identical bytes"
"$XRUN" export "$A" "$B" 2>/dev/null | cat >"$T/b3.tar.gz"
cmp -s "$T/b1.tar.gz" "$T/b3.tar.gz"
ok $? "... into a pipe: identical bytes"
"$XRUN" export --zstd "$A" "$B" -o "$T/z1.tar.zst" 2>/dev/null &&
	sleep 1.1 && "$XRUN" export --zstd "$A" "$B" 2>/dev/null | cat >"$T/z2.tar.zst"
cmp -s "$T/z1.tar.zst" "$T/z2.tar.zst"
ok $? "--zstd (to -o and to standard output): identical bytes"
is "$(head -c 4 "$T/z1.tar.zst" | od -An -tx1 | tr -d ' ')" 28b52ffd "... a zstd frame"
is "$(od -An -tu4 -j4 -N4 "$T/b1.tar.gz" | tr -d ' ')" 0 "gzip's header holds no time"
listing=$(tar -tvzf "$T/b1.tar.gz")
like "$listing" "^-rw-r--r-- 0/0 .* 1970-01-01 00:00 xrun-bundle.json" "entries: owner 0, mode 0644, mtime 0, the index first"
! printf '%s\n' "$listing" | grep -v -q -E '^-rw-r--r-- 0/0 .*1970-01-01 00:00 (xrun-bundle.json|ro-crate-metadata.json|runs/[0-9a-f-]{36}/(record.json|params.json|metrics.jsonl|stdout|stderr)|objects/sha256/[0-9a-f]{2}/[0-9a-f]{62})$'
ok $? "... nothing else in it"
err=$("$XRUN" export 2>&1)
is "$?" 2 "export without RUN: exit 2"

# libarchive is loaded by export and import only, not at each launch.
if command -v ldd >/dev/null 2>&1; then
	! ldd "${XRUN_REAL:-$XRUN}" | grep -q libarchive
	ok $? "xrun itself does not link libarchive (it costs every launch)"
fi

# The RO-Crate: RO-Crate 1.1 and the Process Run Crate profile's
# required fields, checked against the records and the archive.
mkdir "$T/x" && tar -xzf "$T/b1.tar.gz" -C "$T/x"
check "ro-crate-metadata.json: Process Run Crate 0.5 for both runs" -- "$PYTHON3" - "$T/x" "$A" "$B" <<'EOF'
import json, os, sys
top, ids = sys.argv[1], sys.argv[2:]
crate = json.load(open(os.path.join(top, "ro-crate-metadata.json")))
assert crate["@context"][0] == "https://w3id.org/ro/crate/1.1/context", crate["@context"]
g = {e["@id"]: e for e in crate["@graph"]}
assert len(g) == len(crate["@graph"]), "duplicate @id"
def refs(v):
    return [r["@id"] for r in (v if isinstance(v, list) else [v])]
desc = g["ro-crate-metadata.json"]
assert desc["@type"] == "CreativeWork" and desc["about"] == {"@id": "./"}
assert desc["conformsTo"] == {"@id": "https://w3id.org/ro/crate/1.1"}
root = g["./"]
assert root["@type"] == "Dataset"
for k in ("name", "description", "datePublished"):
    assert root.get(k), k
profile = root["conformsTo"]["@id"]
assert profile.startswith("https://w3id.org/ro/wfrun/process/"), profile
assert g[profile]["@type"] == "CreativeWork"
for part in refs(root["hasPart"]):
    assert part in g, part
    assert os.path.isfile(os.path.join(top, part)), "hasPart %s not in the bundle" % part
for rid in ids:
    rec = json.load(open(os.path.join(top, "runs", rid, "record.json")))
    act = g["urn:uuid:" + rid]
    assert act["@type"] == "CreateAction"
    assert {"@id": act["@id"]} in root["mentions"]
    tool = g[act["instrument"]["@id"]]
    assert tool["@type"] in ("SoftwareApplication", "SoftwareSourceCode")
    assert act["startTime"] == rec["times"]["started"]
    assert act["endTime"] == rec["times"]["finished"]
    assert act["actionStatus"] == "http://schema.org/CompletedActionStatus"
    for k in ("name", "description"):
        assert act.get(k), k
    # result: the outputs, each file with its digest and its place in
    # the bundle; object: workspace and inputs.
    out = rec["outputs"][0]
    coll = g[refs(act["result"])[0]]
    assert coll["@type"] == "Collection" and coll["name"] == out["path"]
    for f in refs(coll["hasPart"]):
        e = g[f]
        assert e["@type"] == "File" and e["alternateName"].startswith(out["path"] + "/")
        data = open(os.path.join(top, f), "rb").read()
        import hashlib
        assert hashlib.sha256(data).hexdigest() == e["sha256"] and len(data) == e["contentSize"]
    obj = refs(act["object"])
    assert len(obj) == 1 + len(rec["inputs"]), obj
    for inp in rec["inputs"]:
        assert any(g[o].get("alternateName") == inp["path"] and
                   "sha256:" + g[o]["sha256"] == inp["digest"] for o in obj), inp["path"]
EOF

# Another user imports it into a fresh store and replays: reproduced,
# from the bundle's objects alone (the originals edited meanwhile).
if have_test_user; then
	echo 'print("edited")' >>train.py
	printf '1 1:0.5\n-1 1:-0.5\n' >data/train.svm
	U=$(as_user mktemp -d "${TMPDIR:-/tmp}/xrun-import.XXXXXX")
	cp "$T/b1.tar.gz" "$U/" && chmod 644 "$U/b1.tar.gz"
	out=$(cd "$U" && as_user "$XRUN" --store "$U/store" import "$U/b1.tar.gz" 2>"$T/err")
	is "$?" 0 "as $TEST_USER: import into a fresh store"
	is "$(printf '%s\n' "$out" | sort | tr '\n' ' ')" "$(printf '%s\n' "$A" "$B" | sort | tr '\n' ' ')" "... prints the ids it imported"
	like "$(cat "$T/err")" "imported 2 runs .* into '$U/store'" "... and says so"
	check "... the store verifies" -- as_user "$XRUN" --store "$U/store" verify "$A"
	cmp -s "$U/store/runs/$A/record.json" "$T/train/.xrun/runs/$A/record.json"
	ok $? "... the record byte for byte"
	for r in "$A" "$B"; do
		err=$(cd "$U" && as_user "$XRUN" --store "$U/store" replay "$r" 2>&1 >/dev/null)
		is "$?" 0 "... replay of ${r:0:8} there: exit 0"
		like "$err" "reproduced" "... reproduced"
	done
	err=$(cd "$U" && as_user "$XRUN" --store "$U/store" import "$U/b1.tar.gz" 2>&1)
	is "$?" 0 "... importing it again: exit 0"
	like "$err" "run ${A:0:8} is here already" "... the runs are there already"
	rm -rf "$U"
else
	for i in $(seq 9); do echo "ok $((_tap_n + 1)) # SKIP needs root to create the unprivileged user $TEST_USER"; _tap_n=$((_tap_n + 1)); done
fi

# Inputs bound by reference (--input-ref): listed, not carried; the
# import says what the replay needs in place.
if "$XRUN" run --help 2>&1 | grep -q -e '--input-ref'; then
	mkdir -p "$T/ref/big" && cd "$T/ref" || exit 1
	head -c 100000 /dev/urandom >big/data.bin
	"$XRUN" -q run --input-ref big -o out sh -c 'sha256sum big/data.bin >out/h' >/dev/null 2>&1
	R=$("$XRUN" ls --json --limit 1 | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
	"$XRUN" export "$R" -o "$T/ref.tar.gz" 2>"$T/err"
	like "$(cat "$T/err")" "1 input bound by reference \(--input-ref\) listed, not carried" "--input-ref: export says the input is not carried"
	sum=$(sha256sum big/data.bin | cut -d' ' -f1)
	! tar -tzf "$T/ref.tar.gz" | grep -q "${sum:2}"
	ok $? "... its file is not in the bundle"
	is "$(tar -xOzf "$T/ref.tar.gz" xrun-bundle.json | "$PYTHON3" -c 'import json,sys; print([r["path"] for r in json.load(sys.stdin)["referenced"]])')" "['$T/ref/big']" "... the index lists it"
	err=$("$XRUN" --store "$T/ref-store" import "$T/ref.tar.gz" 2>&1 >/dev/null)
	like "$err" "run ${R:0:8} reads '$T/ref/big' by reference \(sha256:[0-9a-f]{64}\): it is not in the bundle" "... import names it"
	err=$("$XRUN" --store "$T/ref-store" replay "$R" 2>&1 >/dev/null)
	like "$err" "reproduced" "... and the replay there, with the input in place, reproduces"
	cd "$T/train" || exit 1
else
	for i in $(seq 5); do echo "ok $((_tap_n + 1)) # SKIP this xrun has no --input-ref"; _tap_n=$((_tap_n + 1)); done
fi

# As root too, into a store of its own.
mkdir "$T/root" && cd "$T/root" || exit 1
"$XRUN" --store "$T/root/store" import "$T/b1.tar.gz" >/dev/null 2>&1
is "$?" 0 "as root: import into a fresh store"
err=$("$XRUN" --store "$T/root/store" replay "$B" 2>&1 >/dev/null)
like "$err" "reproduced" "... svm-train replays: reproduced"

# Damaged bundles: refused, named, nothing lands.
count() { find "$1" -type f | wc -l; }
before=$(count "$T/root/store")
flip() { # flip FILE OFFSET
	printf "$(printf '\\%03o' $(( $(od -An -tu1 -j"$2" -N1 "$1") ^ 1 )))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
size=$(stat -c %s "$T/b1.tar.gz")
for off in 40 $((size / 2)) $((size - 30)); do
	cp "$T/b1.tar.gz" "$T/bad.tar.gz"
	flip "$T/bad.tar.gz" "$off"
	err=$("$XRUN" --store "$T/root/store" import "$T/bad.tar.gz" 2>&1)
	is "$?" 1 "one flipped byte at $off of $size: refused"
	like "$err" "cannot import '$T/bad.tar.gz': .*; nothing was imported" "... says so"
	is "$(count "$T/root/store")" "$before" "... the store unchanged"
done
"$XRUN" --store "$T/fresh" import "$T/bad.tar.gz" >/dev/null 2>&1
[ ! -e "$T/fresh" ]
ok $? "a store made for a refused import is removed again"

# Inside a valid archive: an object's bytes, a record edited with the
# index made to agree, an entry that no bundle holds.
rebuild() { # rebuild WHAT OUT: the bundle with one thing changed
	"$PYTHON3" - "$T/b1.tar.gz" "$2" "$1" "$B" <<'EOF'
import hashlib, io, json, sys, tarfile
src, dst, what, run = sys.argv[1:]
members = []
with tarfile.open(src) as t:
    for m in t.getmembers():
        members.append((m, t.extractfile(m).read()))
index = json.loads(members[0][1])
out = []
for m, data in members:
    if what == "object" and m.name.startswith("objects/") and data.startswith(b"svm_type"):
        data = data.replace(b"svm_type", b"svm_typf", 1)
    if what == "record" and m.name == "runs/%s/record.json" % run:
        data = data.replace(b'"epochs"', b'"epochz"') if b'"epochs"' in data else data.replace(b'"succeeded"', b'"failed"', 1)
        for r in index["runs"]:
            if r["id"] == run:
                r["files"]["record.json"] = {"sha256": "sha256:" + hashlib.sha256(data).hexdigest(), "size": len(data)}
    out.append((m, data))
if what == "record":
    out[0] = (out[0][0], json.dumps(index, indent=1, sort_keys=True).encode())
if what == "extra":
    m = tarfile.TarInfo("runs/../../etc/evil")
    out.append((m, b"x"))
with tarfile.open(dst, "w:gz") as t:
    for m, data in out:
        m.size = len(data)
        t.addfile(m, io.BytesIO(data))
EOF
}
rebuild object "$T/obj.tar.gz"
err=$("$XRUN" --store "$T/root/store" import "$T/obj.tar.gz" 2>&1)
is "$?" 1 "an object's bytes changed: refused"
like "$err" "object sha256:[0-9a-f]{12} does not match its content" "... the object named"
rebuild record "$T/rec.tar.gz"
err=$("$XRUN" --store "$T/root/store" import "$T/rec.tar.gz" 2>&1)
is "$?" 1 "a record edited, the index made to agree: refused"
like "$err" "the record of run ${B:0:8} does not match its record_sha256" "... the run named"
rebuild extra "$T/extra.tar.gz"
err=$("$XRUN" --store "$T/root/store" import "$T/extra.tar.gz" 2>&1)
is "$?" 1 "an entry no bundle holds (runs/../../etc/evil): refused"
like "$err" "holds 'runs/\.\./\.\./etc/evil', which is no part of an xrun bundle" "... named"
is "$(count "$T/root/store")" "$before" "the store unchanged by all of them"
err=$("$XRUN" --store "$T/root/store" import "$T/train/train.py" 2>&1)
is "$?" 1 "a file that is not a bundle: refused"

# A run in the store with another record is a conflict, not a merge.
cd "$T/train" || exit 1
sed -i 's/"name": null/"name": "renamed"/' "$T/root/store/runs/$B/record.json"
err=$("$XRUN" --store "$T/root/store" import "$T/b1.tar.gz" 2>&1)
is "$?" 1 "a run already there with another record: refused"
like "$err" "run ${B:0:8} is in the store already, with another record; xrun rm it first" "... says what to do"
done_testing

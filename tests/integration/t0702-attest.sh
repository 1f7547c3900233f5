#!/bin/bash
# Signed provenance: a key, records signed as they are written, an
# in-toto Statement v1 / SLSA Provenance v1 attestation of a real
# svm-train run in a DSSE envelope (its field names and its signature
# checked independently), verify --attestation, and one flipped byte in
# the record, an output object or the envelope, each named. As root and
# as the unprivileged user.
. "$top_srcdir/tests/integration/lib.sh"
# Damage is done to objects by their path: every object a loose file.
export XRUN_PACK_THRESHOLD=0
command -v svm-train >/dev/null 2>&1 ||
	skip_all "libsvm-tools is not installed (build-aux/install-deps --test)"

mkdir -p "$T/p/data" && cd "$T/p" || exit 1
"$PYTHON3" - >data/train.svm <<'EOF'
import random
r = random.Random(2)
for i in range(200):
    label = 1 if i % 2 else -1
    print(label, " ".join("%d:%.4f" % (k + 1, r.gauss(label * 0.5, 1)) for k in range(4)))
EOF
cat >svm.sh <<'EOF'
#!/bin/sh
svm-train -q -s 0 -t 2 -c 2 data/train.svm "$XRUN_OUTPUT/svm.model"
EOF
chmod 755 svm.sh
"$XRUN" -q run -o pre sh -c 'echo before >pre/x' >/dev/null 2>&1
PRE=$(latest_record)

err=$("$XRUN" attest latest 2>&1 >/dev/null)
is "$?" 2 "attest without a key: exit 2"
like "$err" "no signing key: make one with xrun key generate" "... says how to get one"

out=$("$XRUN" key generate 2>"$T/err")
is "$?" 0 "key generate: the store's key"
is "$(stat -c %a .xrun/keys/signing.pem)" 600 "... private, mode 0600"
like "$out" "^# key sha256:[0-9a-f]{64}$" "... prints its id"
like "$out" "^-----BEGIN PUBLIC KEY-----" "... and its public key"
cmp -s <(printf '%s\n' "$out" | sed 1d) .xrun/keys/signing.pem.pub
ok $? "... the same as signing.pem.pub"
"$XRUN" key generate >/dev/null 2>"$T/err"
is "$?" 2 "... never over an existing key"
keyid=$(printf '%s\n' "$out" | sed -n 's/^# key //p')

"$XRUN" -q run -i data/train.svm -o model ./svm.sh >/dev/null 2>&1
is "$?" 0 "svm-train on -i data, with a key configured"
REC=$(latest_record)
RUN=$(jget "$REC" 'd["id"]')
[ -s "$(dirname "$REC")/record.sig" ]
ok $? "... its record is signed (record.sig)"
out=$("$XRUN" verify --all 2>&1)
is "$?" 0 "verify --all: exit 0"
like "$out" "signatures: 1 verified with key ${keyid:0:19} \(records older than the key are unsigned\)" "... the signature checked, the older record not counted against it"

"$XRUN" attest latest -o "$T/att.json" 2>"$T/err"
is "$?" 0 "attest: exit 0"
like "$(cat "$T/err")" "attested run ${RUN:0:8}: 1 output file, signed by ${keyid:0:19}" "... says what it signed"
check "the envelope: DSSE, in-toto Statement v1, SLSA Provenance v1 field names, the digests of the run" -- "$PYTHON3" - "$T/att.json" "$REC" "$T/p" <<'EOF'
import base64, hashlib, json, sys
env = json.load(open(sys.argv[1]))
rec = json.load(open(sys.argv[2]))
top = sys.argv[3]
def sha(p): return hashlib.sha256(open(p, "rb").read()).hexdigest()
# DSSE envelope
assert set(env) == {"payloadType", "payload", "signatures"}, env.keys()
assert env["payloadType"] == "application/vnd.in-toto+json"
for s in env["signatures"]:
    assert set(s) <= {"keyid", "sig"} and s["sig"]
st = json.loads(base64.b64decode(env["payload"]))
# in-toto Statement v1
assert set(st) == {"_type", "subject", "predicateType", "predicate"}, st.keys()
assert st["_type"] == "https://in-toto.io/Statement/v1"
assert st["predicateType"] == "https://slsa.dev/provenance/v1"
rd_keys = {"uri", "digest", "name", "downloadLocation", "mediaType", "content", "annotations"}
def rd(d):
    assert set(d) <= rd_keys, d.keys()
    assert "uri" in d or "digest" in d or "content" in d, d
    for alg, v in d.get("digest", {}).items():
        assert isinstance(v, str) and v, d
assert st["subject"] == [{"name": top + "/model/svm.model", "digest": {"sha256": sha(top + "/model/svm.model")}}], st["subject"]
# SLSA Provenance v1
p = st["predicate"]
assert set(p) == {"buildDefinition", "runDetails"}, p.keys()
bd, rdt = p["buildDefinition"], p["runDetails"]
assert set(bd) <= {"buildType", "externalParameters", "internalParameters", "resolvedDependencies"}, bd.keys()
assert bd["buildType"] == "urn:xrun:slsa:buildtype:run:v1", bd["buildType"]  # a URI (RFC 3986), in no domain xrun does not own
ext = bd["externalParameters"]
assert ext["argv"] == rec["command"]["argv"] and ext["params"] == rec["params"]
assert ext["seed"] == rec["seed"]["value"]
internal = bd["internalParameters"]
assert internal["sandbox"] == rec["sandbox"] and "determinism" in internal
for d in bd["resolvedDependencies"]:
    rd(d)
deps = {d["name"]: d for d in bd["resolvedDependencies"]}
assert deps["input"]["uri"] == "file://" + top + "/data/train.svm"
assert deps["input"]["digest"]["sha256"] == sha(top + "/data/train.svm")
assert deps["workspace"]["digest"]["sha256"] == rec["source"]["workspace"]["digest"][7:]
assert deps["script"]["digest"]["sha256"] == sha(top + "/svm.sh")
assert deps["executable"]["uri"] == "file://" + rec["command"]["executable"]["path"]
assert any(d["name"] == "libc.so.6" for d in bd["resolvedDependencies"])
assert set(rdt) <= {"builder", "metadata", "byproducts"}, rdt.keys()
assert set(rdt["builder"]) <= {"id", "version", "builderDependencies"}
assert rdt["builder"]["id"] == "urn:xrun:slsa:builder:launcher@" + rec["xrun"]["version"], rdt["builder"]["id"]
assert set(rdt["metadata"]) == {"invocationId", "startedOn", "finishedOn"}
assert rdt["metadata"]["invocationId"] == rec["id"]
assert rdt["metadata"]["startedOn"] == rec["times"]["started"]
assert rdt["metadata"]["finishedOn"] == rec["times"]["finished"]
for d in rdt["byproducts"]:
    rd(d)
byp = {d["name"]: d for d in rdt["byproducts"]}
assert byp["record.json"]["digest"]["sha256"] == sha(sys.argv[2])
EOF
if "$PYTHON3" -c 'import cryptography' 2>/dev/null; then
	check "... its signature verifies with the public key, by DSSE's PAE, outside xrun" -- "$PYTHON3" - "$T/att.json" .xrun/keys/signing.pem.pub <<'EOF'
import base64, json, sys
from cryptography.hazmat.primitives.serialization import load_pem_public_key
env = json.load(open(sys.argv[1]))
key = load_pem_public_key(open(sys.argv[2], "rb").read())
body = base64.b64decode(env["payload"])
t = env["payloadType"].encode()
pae = b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)
key.verify(base64.b64decode(env["signatures"][0]["sig"]), pae)
EOF
fi

out=$("$XRUN" verify --attestation "$T/att.json" 2>&1)
is "$?" 0 "verify --attestation: exit 0"
like "$out" "attestation '$T/att.json' of run ${RUN:0:8}: signed by ${keyid:0:19}; the record, every output, manifest and input file intact" "... says what it checked"
out=$(cd / && "$XRUN" --store "$T/p/.xrun" verify --attestation "$T/att.json" --key "$T/p/.xrun/keys/signing.pem.pub" 2>&1)
is "$?" 0 "... with --key PUBLIC.pem from elsewhere"

# flip FILE OFFSET: one byte changed in place
flip() {
	printf "$(printf '\\%03o' $(( $(od -An -tu1 -j"$2" -N1 "$1") ^ 1 )))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
# A byte of the record.
cp "$REC" "$T/rec.bak"
off=$(grep -b -o '"hostname": "' "$REC" | head -n 1 | cut -d: -f1)
flip "$REC" $((off + 13))
out=$("$XRUN" verify --attestation "$T/att.json" 2>&1)
is "$?" 1 "a byte of the record flipped: verify --attestation exit 1"
like "$out" "the record of run ${RUN:0:8} \('$REC'\) was changed after it was attested" "... the record named"
out=$("$XRUN" verify "$RUN" 2>&1)
is "$?" 1 "... and verify RUN: exit 1"
like "$out" "record '$REC': its signature does not verify with key ${keyid:0:19}: the record was changed after it was signed" "... its signature named"
cp "$REC" "$T/rec.edited"
cat "$T/rec.bak" >"$REC"

# A byte of the output's object.
sum=$(sha256sum model/svm.model | cut -d' ' -f1)
obj=.xrun/objects/sha256/${sum:0:2}/${sum:2}
chmod u+w "$obj" && cp "$obj" "$T/obj.bak"
flip "$obj" 10
out=$("$XRUN" verify --attestation "$T/att.json" 2>&1)
is "$?" 1 "a byte of the output object flipped: exit 1"
like "$out" "^output '$T/p/model/svm.model': object sha256:${sum:0:12} is corrupt in the store" "... the output and its object named"
cat "$T/obj.bak" >"$obj" && chmod 444 "$obj"

# The input's manifest.
m=$(jget "$REC" 'd["inputs"][0]["manifest"]' | cut -d: -f2)
mobj=.xrun/objects/sha256/${m:0:2}/${m:2}
chmod u+w "$mobj" && cp "$mobj" "$T/m.bak"
flip "$mobj" 3
out=$("$XRUN" verify --attestation "$T/att.json" 2>&1)
is "$?" 1 "a byte of the input's manifest flipped: exit 1"
like "$out" "the manifest of input '$T/p/data/train.svm': object sha256:${m:0:12} is corrupt" "... the manifest named"
cat "$T/m.bak" >"$mobj" && chmod 444 "$mobj"

# Bytes of the envelope: the payload, the signature.
cp "$T/att.json" "$T/bad.json"
off=$(grep -b -o '"payload": "' "$T/bad.json" | cut -d: -f1)
flip "$T/bad.json" $((off + 40))
out=$("$XRUN" verify --attestation "$T/bad.json" 2>&1)
is "$?" 1 "a byte of the envelope's payload flipped: exit 1"
like "$out" "the envelope '$T/bad.json' does not verify with key ${keyid:0:19}: it was changed after it was signed" "... the envelope named"
cp "$T/att.json" "$T/bad.json"
off=$(grep -b -o '"sig": "' "$T/bad.json" | cut -d: -f1)
flip "$T/bad.json" $((off + 12))
out=$("$XRUN" verify --attestation "$T/bad.json" 2>&1)
is "$?" 1 "a byte of the signature flipped: exit 1"
sed 's|"payloadType": "application/vnd.in-toto+json"|"payloadType": "application/vnd.in-toto+jsoN"|' "$T/att.json" >"$T/bad.json"
out=$("$XRUN" verify --attestation "$T/bad.json" 2>&1)
is "$?" 1 "the envelope's payloadType changed (signed with the payload, by PAE): exit 1"
like "$out" "does not verify with key" "... does not verify"
"$PYTHON3" -c 'import json,sys; e=json.load(open(sys.argv[1])); e["signatures"]=[]; json.dump(e, open(sys.argv[2], "w"))' "$T/att.json" "$T/bad.json"
out=$("$XRUN" verify --attestation "$T/bad.json" 2>&1)
is "$?" 1 "an envelope without signatures: exit 1"
like "$out" "the envelope '$T/bad.json' is malformed" "... malformed"
"$XRUN" key generate -o "$T/other.pem" >/dev/null 2>&1
out=$("$XRUN" verify --attestation "$T/att.json" --key "$T/other.pem.pub" 2>&1)
is "$?" 1 "another key: exit 1"
like "$out" "does not verify with key sha256" "... does not verify"
out=$("$XRUN" verify --attestation "$T/att.json" 2>&1)
is "$?" 0 "everything restored: verifies again"

# Not a key; a public key cannot sign.
err=$("$XRUN" attest latest --key "$T/p/svm.sh" 2>&1)
is "$?" 2 "attest --key on a file that is no key: exit 2"
like "$err" "cannot use the key '$T/p/svm.sh': not an Ed25519 key in PEM form" "... says so"
err=$("$XRUN" attest latest --key "$T/other.pem.pub" 2>&1)
like "$err" "is a public key: signing needs the private key" "attest with a public key: refused"
"$XRUN" -q run true >/dev/null 2>&1
err=$("$XRUN" attest latest 2>&1 >/dev/null)
is "$?" 1 "attest of a run without output files: exit 1"
like "$err" "has no output files to attest; name what a run writes with -o PATH" "... says why"
# A record edited by hand is not attested.
cat "$T/rec.edited" >"$REC"
err=$("$XRUN" attest "$RUN" 2>&1 >/dev/null)
is "$?" 1 "attest of an edited record: exit 1"
cat "$T/rec.bak" >"$REC"

# As the unprivileged user, with XRUN_SIGNING_KEY.
if have_test_user; then
	U=$(as_user mktemp -d "${TMPDIR:-/tmp}/xrun-attest.XXXXXX")
	cp -r "$T/p/data" "$T/p/svm.sh" "$U/" && chown -R "$TEST_USER:" "$U"
	cd "$U" || exit 1
	as_user "$XRUN" key generate -o "$U/k.pem" >/dev/null 2>&1
	is "$?" 0 "as $TEST_USER: key generate -o FILE"
	XRUN_SIGNING_KEY=$U/k.pem as_user "$XRUN" -q run -i data/train.svm -o model ./svm.sh >/dev/null 2>&1
	is "$?" 0 "... a signed svm-train run"
	[ -s "$(dirname "$(as_user "$XRUN" ls --json --limit 1 | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["record"])')")/record.sig" ]
	ok $? "... its record.sig"
	XRUN_SIGNING_KEY=$U/k.pem as_user "$XRUN" attest latest -o "$U/a.json" 2>/dev/null
	is "$?" 0 "... attest"
	out=$(XRUN_SIGNING_KEY=$U/k.pem.pub as_user "$XRUN" verify --attestation "$U/a.json" 2>&1)
	is "$?" 0 "... verify --attestation with the public key"
	out=$(XRUN_SIGNING_KEY=$U/k.pem as_user "$XRUN" verify --all 2>&1)
	is "$?" 0 "... verify --all"
	cd "$T" && rm -rf "$U"
else
	for i in $(seq 6); do echo "ok $((_tap_n + 1)) # SKIP needs root to create the unprivileged user $TEST_USER"; _tap_n=$((_tap_n + 1)); done
fi
done_testing

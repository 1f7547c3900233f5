#!/bin/bash
# xrun replay (DESIGN.md §5) with small shell programs: pinned files back
# from the store after edits, outputs apart from the original's, the
# environment and thread counts, verification, and the ways a replay
# must refuse.
. "$top_srcdir/tests/integration/lib.sh"
# Loose objects, which this test damages by path (t0900-packs.sh damages
# packed ones).
export XRUN_PACK_THRESHOLD=0
[ "$(id -u)" = 0 ] || skip_all "runs as root (t0402 replays as an ordinary user)"

mkdir -p "$T/work/data" "$T/elsewhere"
cd "$T/work" || exit 1
printf 'one\n' >data/a
printf 'cfg\n' >config.txt
cat >step.sh <<'EOF'
#!/bin/sh
# reads its inputs, writes a result and a log line
cat config.txt data/a >"$XRUN_OUTPUT/result"
echo "seed $XRUN_SEED p=$XRUN_PARAM_lr"
echo "threads $OMP_NUM_THREADS/$OPENBLAS_NUM_THREADS/$MKL_NUM_THREADS" >&2
EOF
chmod 755 step.sh

OMP_NUM_THREADS=3 "$XRUN" -q run -p lr=0.5 -i data -o out ./step.sh >/dev/null 2>&1
is "$?" 0 "the original run succeeds"
orig=$(latest_record)
orig_id=$(jget "$orig" 'd["id"]')
orig_sum=$(sha256sum out/result | cut -d' ' -f1)
orig_mtime=$(stat -c %Y.%y out/result)
sleep 1

# Edit everything the run read: the replay must not see it.
printf 'two\n' >data/a
printf 'edited\n' >config.txt
echo 'echo edited script' >>step.sh
cd "$T/elsewhere" || exit 1
out=$(OMP_NUM_THREADS=9 OPENBLAS_NUM_THREADS=9 "$XRUN" --store "$T/work/.xrun" replay "$orig_id" 2>"$T/err")
st=$?
err=$(cat "$T/err")
is "$st" 0 "replay after editing input, config and script, from another directory: 0"
like "$err" "xrun: reproduced: 1 output file and stdout match run ${orig_id:0:8}" "... says reproduced"
like "$err" "threads 3//" "... the original's OMP_NUM_THREADS over the caller's; the unset ones stay unset"
like "$out" "p=0.5" "... the params again"
rep=$(cd "$T/work" && latest_record)
is "$(jget "$rep" 'd["replay_of"]')" "$orig_id" "the replay's record has replay_of"
is "$(jget "$rep" 'd["seed"]["source"]')" replay "... seed.source replay"
is "$(jget "$rep" 'd["seed"]["value"]')" "$(jget "$orig" 'd["seed"]["value"]')" "... the original's seed"
is "$(jget "$rep" 'd["verification"]["reproduced"]')" true "... verification.reproduced"
is "$(jget "$rep" '[f["match"] for f in d["verification"]["files"]]')" "[true]" "... per-file match"
is "$(jget "$rep" 'd["outputs"][0]["digest"]')" "$(jget "$orig" 'd["outputs"][0]["digest"]')" "identical output digests"
is "$(jget "$rep" 'd["outputs"][0]["path"]')" "$T/work/out" "the replay's output is recorded at the original path"
repdir=$(dirname "$rep")
is "$(sha256sum "$repdir/outputs/0/result" | cut -d' ' -f1)" "$orig_sum" "... and kept in the replay's run directory"
is "$(sha256sum "$T/work/out/result" | cut -d' ' -f1)" "$orig_sum" "the original's output is untouched"
is "$(stat -c %Y.%y "$T/work/out/result")" "$orig_mtime" "... also its mtime"
is "$(jget "$rep" 'd["determinism"]["variables"]')" "{}" "xrun set no thread count of its own"
is "$(jget "$rep" '[d["threads"]["variables"][v] for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")]')" '["3", null]' "... the record's threads section says what the program had"
check "both records validate" -- validate "$orig" "$rep"

# A replay of the replay.
cd "$T/work" || exit 1
rep_id=$(jget "$rep" 'd["id"]')
"$XRUN" -q replay "$rep_id" >/dev/null 2>"$T/err"
is "$?" 0 "replaying a replay: 0"
rep2=$(latest_record)
is "$(jget "$rep2" 'd["replay_of"]')" "$rep_id" "... replay_of names the replay"
is "$(jget "$rep2" 'd["verification"]["reproduced"]')" true "... reproduced"

# Outputs that cannot reproduce: exit 3, the file named.
"$XRUN" -q run -o noise sh -c 'head -c 16 /dev/urandom >noise/random.bin; echo same >noise/same.txt' >/dev/null
noise_id=$(jget "$(latest_record)" 'd["id"]')
err=$("$XRUN" replay "$noise_id" 2>&1 >/dev/null)
is "$?" 3 "a program writing os.urandom: replay exits 3"
like "$err" "differs: '$T/work/noise/random.bin'" "... and names the file"
if printf '%s' "$err" | grep -q "same.txt"; then ok 1 "... only that file"; else ok 0 "... only that file"; fi
"$XRUN" -q run -o clock sh -c 'date +%s.%N >clock/now' >/dev/null
err=$("$XRUN" replay latest 2>&1 >/dev/null)
is "$?" 3 "a program writing the time: 3"
like "$err" "differs: '$T/work/clock/now'" "... names the file"
"$XRUN" -q run sh -c 'date +%s.%N' >/dev/null
err=$("$XRUN" replay latest 2>&1 >/dev/null)
is "$?" 3 "stdout that differs: 3"
like "$err" "differs: stdout" "... says stdout"
"$XRUN" -q run sh -c 'exit 4' >/dev/null
"$XRUN" -q replay latest >/dev/null 2>&1
is "$?" 4 "the program's own status is the replay's"

# The environment: recorded values, redacted ones unset unless given.
MY_TOKEN=s3cret PLAIN=yes "$XRUN" -q run sh -c 'echo "token=${MY_TOKEN-unset} plain=$PLAIN"' >/dev/null
tok_id=$(jget "$(latest_record)" 'd["id"]')
out=$(PLAIN=no "$XRUN" replay "$tok_id" 2>"$T/err")
like "$out" "token=unset plain=yes" "a redacted variable stays unset, the others are the recorded ones"
like "$(cat "$T/err")" "MY_TOKEN was redacted in the record and is unset" "... with a warning naming it"
out=$("$XRUN" replay -e MY_TOKEN=s3cret "$tok_id" 2>"$T/err")
is "$?" 0 "-e gives the redacted value back: reproduced"
like "$out" "token=s3cret" "... the program sees it"

# --deterministic
"$XRUN" -q run --deterministic sh -c 'echo "$CUBLAS_WORKSPACE_CONFIG $TF_DETERMINISTIC_OPS $NVIDIA_TF32_OVERRIDE $TZ $OMP_NUM_THREADS $PYTHONHASHSEED"' >"$T/det"
det=$(latest_record)
like "$(cat "$T/det")" "^:4096:8 1 0 UTC $(nproc) [0-9]+$" "--deterministic sets the switches"
is "$(jget "$det" 'd["determinism"]["deterministic"]')" true "... the record says so"
is "$(jget "$det" 'sorted(d["determinism"]["variables"])')" '["CUBLAS_WORKSPACE_CONFIG", "MKL_NUM_THREADS", "NVIDIA_TF32_OVERRIDE", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "PYTHONHASHSEED", "TF_DETERMINISTIC_OPS", "TZ"]' "... and which variables it set"
check "... and validates" -- validate "$det"
out=$(TZ=Europe/Paris "$XRUN" replay latest 2>/dev/null)
is "$?" 0 "a replay of it sets them again: reproduced"
is "$(jget "$(latest_record)" 'd["determinism"]["deterministic"]')" true "... and its record says deterministic"

# --dry-run and --strict
n=$(ls .xrun/runs | wc -l)
out=$("$XRUN" replay --dry-run "$orig_id" 2>/dev/null)
is "$?" 0 "--dry-run: 0"
like "$out" "mount: '$T/work/data' read-only from the store" "... prints the mounts"
like "$out" "argv: './step.sh'" "... and the argv"
like "$out" "env: \+ OMP_NUM_THREADS=3|env: ~ OMP_NUM_THREADS=3" "... and the environment it changes"
is "$(ls .xrun/runs | wc -l)" "$n" "... and runs nothing"
"$XRUN" replay --strict "$orig_id" >/dev/null 2>&1
is "$?" 0 "--strict on the same machine runs"
"$XRUN" replay --no-sandbox "$orig_id" >/dev/null 2>"$T/err"
is "$?" 125 "--no-sandbox: 125"
like "$(cat "$T/err")" "only .*inside the sandbox" "... says why"

# A record edited by hand.
"$XRUN" -q run -o o2 sh -c 'uname -r >o2/k' >/dev/null
edited=$(latest_record)
"$PYTHON3" - "$edited" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
d["host"]["kernel"]["release"] = "0.0-other"
json.dump(d, open(sys.argv[1], "w"), indent=1)
EOF
err=$("$XRUN" replay "$(jget "$edited" 'd["id"]')" 2>&1)
is "$?" 125 "a record edited by hand: 125"
like "$err" "was changed after xrun wrote it.*--force" "... says so and names --force"
err=$("$XRUN" replay --force --strict "$(jget "$edited" 'd["id"]')" 2>&1)
is "$?" 125 "--force --strict with a kernel that differs: 125"
like "$err" "kernel release: was 0.0-other, now $(uname -r)" "... the difference is printed"
"$XRUN" replay --force "$(jget "$edited" 'd["id"]')" >/dev/null 2>&1
is "$?" 0 "--force replays it"

# Objects garbage-collected or corrupted.
"$XRUN" -q run -i data sh -c 'cat data/a' >/dev/null
gone=$(latest_record)
obj=$("$PYTHON3" -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' data/a)
objpath=.xrun/objects/sha256/${obj:0:2}/${obj:2}
cp "$objpath" "$T/saved"
chmod 644 "$objpath"
printf 'zzz\n' >"$objpath"
err=$("$XRUN" replay "$(jget "$gone" 'd["id"]')" 2>&1)
is "$?" 125 "a corrupt object: 125"
like "$err" "object sha256:$obj for '$T/work/data/a' is corrupt" "... named, with its path"
rm -f "$objpath"
err=$("$XRUN" replay "$(jget "$gone" 'd["id"]')" 2>&1)
is "$?" 125 "a missing object: 125"
like "$err" "object sha256:$obj for '$T/work/data/a' is missing" "... named"
cp "$T/saved" "$objpath"

# A record from another store, by path: its objects come along.
mkdir "$T/other" && cd "$T/other" || exit 1
"$XRUN" -q replay "$orig" >/dev/null 2>"$T/err"
is "$?" 0 "a record of another store given by path: reproduced"
check "... its objects are now in this store" -- "$XRUN" -q verify --all

# The original's directory moved away, outside /tmp (the host root is
# read-only in the sandbox: replay makes room for the mount point).
V=$(mktemp -d /var/tmp/xrun-replay.XXXXXX)
mkdir "$V/proj" && cd "$V/proj" || exit 1
printf 'data\n' >in.txt
"$XRUN" -q --store "$V/store" run -o out sh -c 'cat in.txt >out/copy; ls >out/ls' >/dev/null
mv "$V/proj" "$V/moved"
cd / || exit 1
"$XRUN" -q --store "$V/store" replay latest >/dev/null 2>"$T/err"
is "$?" 0 "the original directory is gone: reproduced"
[ ! -e "$V/proj" ]
ok $? "... and nothing was created at its path on the host"
rm -rf "$V"

done_testing

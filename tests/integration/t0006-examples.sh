#!/bin/bash
# The example training scripts run under xrun and give complete records.
. "$top_srcdir/tests/integration/lib.sh"
cd "$T" || exit 1
cp -r "$top_srcdir/examples" "$T/examples"
chmod -R u+w "$T/examples"

out=$("$XRUN" -q run -p lr=0.05 -p epochs=8 --seed 7 -o out examples/train.sh)
is "$?" 0 "examples/train.sh succeeds under xrun"
rec=$(latest_record)
check "its record validates" -- validate "$rec"
is "$(jget "$rec" 'd["result"]["metrics"]["loss"]["count"]')" 8 "one loss value per epoch"
first=$(cat out/model.txt)
"$XRUN" -q run -p lr=0.05 -p epochs=8 --seed 7 -o out examples/train.sh >/dev/null
is "$(cat out/model.txt)" "$first" "the same seed and params give the same model"
rec2=$(latest_record)
is "$(jget "$rec2" 'd["result"]["stdout"]["sha256"]')" "$(jget "$rec" 'd["result"]["stdout"]["sha256"]')" \
	"... and the same stdout digest"
"$XRUN" -q run -p lr=0.05 -p epochs=8 --seed 8 -o out examples/train.sh >/dev/null
[ "$(cat out/model.txt)" != "$first" ]
ok $? "another seed gives another model"

# Every section of a record from examples/train.sh is filled.
for section in command seed params environment host software source result xrun times launcher; do
	v=$(jget "$rec" "bool(d['$section'])")
	is "$v" true "section '$section' is filled"
done

# Debian's interpreter, whatever else is on the caller's PATH (pyenv
# shims are shell scripts, for one).
export PATH=/usr/bin:/bin
py=$(command -v python3)
if [ -z "$py" ]; then
	ok 0 "# SKIP python3 not installed"
else
	out=$("$XRUN" -q run -p lr=0.5 -p epochs=3 --seed 3 -o out examples/train.py)
	is "$?" 0 "examples/train.py succeeds under xrun"
	like "$out" "epoch 3: loss" "its output passes through"
	rec=$(latest_record)
	check "its record validates" -- validate "$rec"
	is "$(jget "$rec" 'd["result"]["metrics"]["acc"]["count"]')" 3 "acc metric summarized"
	is "$(jget "$rec" 'd["command"]["interpreter"]')" '{"path": "/usr/bin/env", "args": ["python3"]}' \
		"the shebang goes through env"
	is "$(jget "$rec" 'd["command"]["executable"]["path"]')" "$py" \
		"the interpreter is resolved through PATH"
	like "$(jget "$rec" 'd["software"]["python"]["version"]')" '^3\.' "the Python version is recorded"
	like "$(jget "$rec" 'len(d["software"]["python"]["distributions"])')" '^[0-9]+$' "Python distributions are listed"
	like "$(jget "$rec" '[l["soname"] for l in d["software"]["libraries"]]')" 'libc\.so\.6' \
		"the interpreter's shared libraries are listed"
	like "$(jget "$rec" 'd["host"]["cpu"]["model"]')" '.' "the CPU model is recorded"
fi
if [ -x /usr/bin/python3 ]; then
	"$XRUN" -q run /usr/bin/python3 -c 'import json; print(json.dumps(1))' >/dev/null
	rec=$(latest_record)
	like "$(jget "$rec" '[x["name"] for x in d["software"]["python"]["distributions"]]')" 'jsonschema' \
		"Debian's python3 sees Debian's python3-* distributions"
	check "that record validates" -- validate "$rec"
fi

done_testing

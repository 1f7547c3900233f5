#!/bin/bash
# xrun run writes a complete record that validates against the schema.
. "$top_srcdir/tests/integration/lib.sh"
command -v git >/dev/null || skip_all "git is not installed"

proj=$T/proj
mkdir -p "$proj/examples"
cp "$top_srcdir/examples/train.sh" "$top_srcdir/examples/train.py" "$proj/examples/"
cd "$proj" || exit 1
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.invalid \
	GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.invalid
git init -q -b main . && git add examples && git commit -q -m init &&
	git remote add origin https://example.invalid/proj.git
ok $? "a git project to run in"

out=$(MY_API_TOKEN=hunter2-secret "$XRUN" run -p lr=0.05 -p epochs=5 \
	--seed 1234 -n first --tag team=vision -o out examples/train.sh 2>"$T/err")
is "$?" 0 "xrun run examples/train.sh succeeds"
like "$out" "epoch 5: loss" "the program's stdout passes through"
[ -d .xrun/runs ] && [ -f .xrun/.gitignore ]
ok $? "the store is created at the top of the work tree, git-ignored"
like "$(cat "$T/err")" "created store '$proj/.xrun'" "xrun says it created the store"
rec=$(latest_record)
check "the record validates against the schema" -- validate "$rec"

is "$(jget "$rec" 'd["status"]')" succeeded "status succeeded"
is "$(jget "$rec" 'd["name"]')" first "name"
is "$(jget "$rec" 'd["tags"]["team"]')" vision "tags"
is "$(jget "$rec" 'd["seed"]')" '{"value": "1234", "source": "option"}' "seed and its source"
is "$(jget "$rec" 'd["params"]')" '{"lr": 0.05, "epochs": 5}' "params, typed"
is "$(jget "$rec" 'd["command"]["argv"]')" '["examples/train.sh"]' "argv"
is "$(jget "$rec" 'd["command"]["cwd"]')" "$proj" "cwd"
is "$(jget "$rec" 'd["command"]["script"]["path"]')" "$proj/examples/train.sh" "the script"
is "$(jget "$rec" 'd["command"]["script"]["sha256"]')" \
	"sha256:$(sha256sum examples/train.sh | cut -d' ' -f1)" "the script's sha256"
is "$(jget "$rec" 'd["command"]["interpreter"]["path"]')" /bin/sh "the shebang interpreter"
exe=$(jget "$rec" 'd["command"]["executable"]["path"]')
is "$(jget "$rec" 'd["command"]["executable"]["sha256"]')" \
	"sha256:$(sha256sum "$exe" | cut -d' ' -f1)" "the executable's sha256"

# environment
env_dump=$(jget "$rec" 'd["environment"]')
if printf '%s' "$env_dump" | grep -q hunter2-secret; then ok 1 "a secret's value is not recorded"; else ok 0 "a secret's value is not recorded"; fi
is "$(jget "$rec" 'd["environment"]["variables"]["MY_API_TOKEN"]["redacted"]')" \
	"sha256:$(printf %s hunter2-secret | sha256sum | cut -d' ' -f1)" "it is replaced by its sha256"
is "$(jget "$rec" 'd["environment"]["variables"]["HOME"]')" "$HOME" "ordinary variables are kept"
like "$(jget "$rec" 'd["environment"]["sha256"]')" '^sha256:[0-9a-f]{64}$' "the environment has a digest"
is "$(jget "$rec" '"XRUN_SEED" in d["environment"]["variables"]')" false \
	"variables xrun sets are not part of the recorded environment"
is "$(jget "$rec" 'd["environment"]["set_by_xrun"]["XRUN_PARAM_lr"]')" 0.05 "... but listed as set by xrun"

# host
is "$(jget "$rec" 'd["host"]["kernel"]["release"]')" "$(uname -r)" "host kernel release"
is "$(jget "$rec" 'd["host"]["cpu"]["count"]')" "$(getconf _NPROCESSORS_ONLN)" "host CPU count"
like "$(jget "$rec" 'd["host"]["cpu"]["flags_sha256"]')" '^sha256:' "CPU flags digest"
like "$(jget "$rec" 'd["host"]["memory"]["total_bytes"]')" '^[1-9][0-9]+$' "host memory"
is "$(jget "$rec" 'd["host"]["libc"]["version"]')" "$(getconf GNU_LIBC_VERSION | cut -d' ' -f2)" "libc version"
. /etc/os-release
is "$(jget "$rec" 'd["host"]["os"]["id"]')" "$ID" "os-release id"

# software: /bin/sh's libraries, resolved, hashed, with their package
libc=$(jget "$rec" '[l for l in d["software"]["libraries"] if l["soname"] == "libc.so.6"][0]')
like "$libc" '"package": "libc6"' "libc.so.6 is found and owned by libc6"
libc_path=$(printf '%s' "$libc" | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)["path"])')
like "$libc" "\"sha256\": \"sha256:$(sha256sum "$libc_path" | cut -d' ' -f1)\"" "libc's sha256 is right"
is "$(printf '%s' "$libc" | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)["package_version"])')" \
	"$(dpkg-query -W -f='${Version}' libc6 2>/dev/null)" "libc6's version"

# source
is "$(jget "$rec" 'd["source"]["git"]["commit"]')" "$(git rev-parse HEAD)" "git commit"
is "$(jget "$rec" 'd["source"]["git"]["branch"]')" main "git branch"
is "$(jget "$rec" 'd["source"]["git"]["remote"]')" https://example.invalid/proj.git "git remote"
is "$(jget "$rec" 'd["source"]["git"]["dirty"]')" false "clean work tree"

# result
is "$(jget "$rec" 'd["result"]["exit_code"]')" 0 "exit code"
is "$(jget "$rec" 'd["result"]["stdout"]["sha256"]')" \
	"sha256:$(printf '%s\n' "$out" | sha256sum | cut -d' ' -f1)" "stdout digest matches what passed through"
dir=$(dirname "$rec")
is "$(cat "$dir/stdout")" "$out" "stdout captured to the run directory"
is "$(jget "$rec" 'd["result"]["stdout"]["bytes"]')" "$(wc -c <"$dir/stdout")" "stdout size"
is "$(jget "$rec" 'd["result"]["metrics"]["loss"]["count"]')" 5 "metrics summarized"
is "$(jget "$rec" 'd["xrun"]["version"]')" "$("$XRUN" --version | cut -d' ' -f2)" "xrun version"
like "$(jget "$rec" 'd["times"]["finished"]')" 'Z$' "finish time"

# dirty work tree: flag and diff digest
echo "# local change" >>examples/train.sh
"$XRUN" -q run -o out examples/train.sh >/dev/null
rec2=$(latest_record)
is "$(jget "$rec2" 'd["source"]["git"]["dirty"]')" true "an edit makes the tree dirty"
is "$(jget "$rec2" 'd["source"]["git"]["diff_sha256"]')" \
	"sha256:$(git diff HEAD --binary | sha256sum | cut -d' ' -f1)" "sha256 of git diff HEAD"
git checkout -q examples/train.sh

# what the program sees
"$XRUN" -q run --seed 99 -p lr=0.1 -p n=3 -p flag=true -p s=abc -p q='"3"' \
	sh -c 'echo "$XRUN_SEED $PYTHONHASHSEED $XRUN_PARAM_lr $XRUN_PARAM_n $XRUN_PARAM_flag $XRUN_PARAM_s $XRUN_PARAM_q"
	       cat "$XRUN_PARAMS"; echo "id=$XRUN_RUN_ID"; test "$(dirname "$XRUN_METRICS")" = "$(dirname "$XRUN_PARAMS")" && echo metrics-ok
	       test -e "$(dirname "$XRUN_PARAMS")/record.json" && echo visible || echo hidden' >"$T/seen"
rec=$(latest_record)
is "$(sed -n 1p "$T/seen")" "99 99 0.1 3 true abc 3" "seed, hash seed and params in the environment"
is "$("$PYTHON3" -c 'import json,sys; d=json.load(open(sys.argv[1])); print([type(d[k]).__name__ for k in sorted(d)])' "$(dirname "$rec")/params.json")" \
	"['bool', 'float', 'int', 'str', 'str']" "XRUN_PARAMS holds the typed params"
is "$(grep -c "id=$(jget "$rec" 'd["id"]')" "$T/seen")" 1 "XRUN_RUN_ID"
grep -q metrics-ok "$T/seen"
ok $? "XRUN_METRICS names a file in the run directory"
is "$(tail -n 1 "$T/seen")" hidden "in the sandbox the program cannot see its own record"
"$XRUN" -q run --no-sandbox \
	sh -c 'sed -n "s/.*\"status\": \"\(.*\)\".*/\1/p" "$(dirname "$XRUN_PARAMS")/record.json"' >"$T/seen"
is "$(tail -n 1 "$T/seen")" running "the record says running while the program runs"
is "$(jget "$(latest_record)" 'd["sandbox"]')" '{"enabled": false, "reason": "--no-sandbox"}' "--no-sandbox is recorded"
PYTHONHASHSEED=7 "$XRUN" -q run --seed 99 sh -c 'echo $PYTHONHASHSEED' >"$T/seen"
is "$(cat "$T/seen")" 7 "a user's PYTHONHASHSEED wins"
"$XRUN" -q run -e FOO=bar -e PATH="/bin:/usr/bin" sh -c 'echo $FOO' >"$T/seen"
is "$(cat "$T/seen")" bar "-e sets a variable"
rec=$(latest_record)
is "$(jget "$rec" 'd["environment"]["variables"]["FOO"]')" bar "-e variables are recorded"

# --params FILE, -p overrides; generated seed
printf '{"lr": 0.3, "layers": [64, 32], "opt": {"name": "sgd"}}' >"$T/p.json"
"$XRUN" -q run --params "$T/p.json" -p lr=0.01 true
rec=$(latest_record)
is "$(jget "$rec" 'd["params"]')" '{"lr": 0.01, "layers": [64, 32], "opt": {"name": "sgd"}}' "--params merged, -p wins"
is "$(jget "$rec" 'd["command"]["params_file"]["sha256"]')" "sha256:$(sha256sum "$T/p.json" | cut -d' ' -f1)" "params file digest"
is "$(jget "$rec" 'd["seed"]["source"]')" generated "a seed is generated when none is given"
check "that record validates too" -- validate "$rec"

# failures are recorded
"$XRUN" -q run sh -c 'echo oops >&2; exit 3' 2>/dev/null
is "$?" 3 "failing program: its status"
rec=$(latest_record)
is "$(jget "$rec" 'd["status"]')" failed "status failed"
is "$(jget "$rec" 'd["result"]["stderr"]["bytes"]')" 5 "stderr captured"
"$XRUN" -q run sh -c 'kill -KILL $$'
is "$?" 137 "killed program: 128+9"
rec=$(latest_record)
is "$(jget "$rec" 'd["status"]')" killed "status killed"
is "$(jget "$rec" 'd["result"]["signal"]')" 9 "the signal is recorded"
check "every record in the store validates" -- validate .xrun/runs/*/record.json

# A program that writes into the read-only working directory: xrun
# says how to let it write, once, after the run.
err=$("$XRUN" -q run sh -c 'echo x >model.pt' 2>&1)
like "$err" "read-only file system: in the sandbox only the -o paths" "writing the working directory: a hint to use -o"
is "$(printf '%s\n' "$err" | grep -c 'name what it writes with -o')" 1 "... given once"
err=$("$XRUN" -q run -o outdir sh -c 'echo x >outdir/model.pt' 2>&1)
is "$err" "" "with -o there is nothing to say"

# outside git: "git": null; store in the cwd
mkdir "$T/plain" && cd "$T/plain" || exit 1
"$XRUN" -q run true
rec=$(latest_record)
is "$(jget "$rec" 'd["source"]["git"]')" null "outside a git work tree git is null"
is "$(dirname "$(dirname "$(dirname "$rec")")")" "$T/plain/.xrun" "the store goes in the current directory"

done_testing

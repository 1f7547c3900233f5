#!/bin/bash
# The command line the README promises (DESIGN.md §1): xrun train.sh and
# xrun -o out train.sh --epochs 3 from the working directory, global
# options after the command name, xrun rm, "did you mean" for a near
# miss of a command, show's listing of the pinned files, a replay's
# verdict in ls and show, and a replay whose record describes the
# workspace it ran (diff shows only the replay). As root and as an
# ordinary user.
. "$top_srcdir/tests/integration/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "runs as root and as the test user"

for who in root user; do
	if [ $who = user ]; then
		have_test_user || { ok 0 "# SKIP no test user"; continue; }
		AS=as_user
	else
		AS=
	fi
	W="$T/$who"
	mkdir -p "$W"
	[ $who = user ] && chown "$TEST_USER:" "$W"
	cd "$W" || exit 1
	$AS sh -c 'cat >train.sh' <<'EOF'
#!/bin/sh
echo "epochs=$2" >out/model
echo "args: $*"
EOF
	$AS chmod 755 train.sh
	# train.sh is not on PATH: it runs from here, as ./train.sh
	out=$($AS "$XRUN" -o out train.sh --epochs 3 2>"$T/err")
	is "$?" 0 "$who: xrun -o out train.sh --epochs 3 runs from the working directory"
	is "$out" "args: --epochs 3" "$who: ... the program gets its own options"
	is "$(cat out/model)" "epochs=3" "$who: ... and writes its -o"
	like "$(cat "$T/err")" "'train.sh' is not in PATH; running './train.sh'" "$who: ... saying how it resolved the name"
	rec=$($AS "$XRUN" ls --json --limit 1 | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["record"])')
	is "$(jget "$rec" 'd["command"]["argv"]')" '["./train.sh", "--epochs", "3"]' "$who: ... recorded as resolved"
	is "$(jget "$rec" 'd["outputs"][0]["path"]')" "$W/out" "$who: ... with its output"
	check "$who: ... the record validates" -- validate "$rec"
	out=$($AS "$XRUN" -q -o out train.sh)
	is "$?" 0 "$who: xrun -q -o out train.sh"
	out=$($AS "$XRUN" -q train.sh a b 2>/dev/null)
	is "$out" "args: a b" "$who: xrun train.sh a b"

	# Global options after the command name
	$AS "$XRUN" -q run -p x=1 -- sh -c 'echo one' >/dev/null
	$AS "$XRUN" -q run -p x=2 -- sh -c 'echo one' >/dev/null
	out=$($AS "$XRUN" diff --color=never latest~1 latest)
	is "$?" 1 "$who: xrun diff --color=never A B works (the runs differ)"
	like "$out" "x +1 +→ +2" "$who: ... and shows the param"
	[[ "$out" != *$'\033'* ]]
	ok $? "$who: ... without colour"
	out=$($AS "$XRUN" diff latest~1 latest --color=always)
	like "$out" $'\033' "$who: --color=always after the RUNs too"
	cd / || exit 1
	out=$($AS "$XRUN" ls --store "$W/.xrun" --limit 1 -q)
	like "$out" "sh -c 'echo one'" "$who: xrun ls --store DIR -q from elsewhere"
	out=$($AS "$XRUN" show latest --store="$W/.xrun")
	like "$out" "^run +[0-9a-f-]{36}" "$who: xrun show RUN --store=DIR"
	cd "$W" || exit 1
	out=$($AS "$XRUN" run -v --store "$W/.xrun" -- sh -c 'echo v' 2>&1)
	like "$out" "recording took" "$who: xrun run -v --store DIR: verbose"

	# Did you mean
	n=$(ls .xrun/runs | wc -l)
	err=$($AS "$XRUN" lss 2>&1)
	is "$?" 125 "$who: xrun lss: 125"
	is "$err" "xrun: 'lss' is not an xrun command; did you mean 'ls'? (to run a program of that name: xrun run -- lss)" "$who: ... did you mean 'ls'?"
	err=$($AS "$XRUN" shwo latest 2>&1)
	is "$?" 125 "$who: xrun shwo latest: 125"
	like "$err" "did you mean 'show'\?" "$who: ... did you mean 'show'?"
	is "$(ls .xrun/runs | wc -l)" "$n" "$who: ... and no run was made"
	out=$($AS "$XRUN" -q sh -c 'echo sh runs')
	is "$out" "sh runs" "$who: xrun sh (a program in PATH, near 'show') still runs"
	$AS sh -c 'printf "#!/bin/sh\necho mine\n" >lss; chmod 755 lss'
	out=$($AS "$XRUN" -q lss 2>/dev/null)
	is "$out" "mine" "$who: a file named lss here runs as ./lss"
	$AS rm -f lss

	# show lists the workspace, inputs and outputs; a replay's verdict
	$AS sh -c 'mkdir -p data; echo abc >data/a; echo de >data/b'
	$AS "$XRUN" -q run -i data -o res -- sh -c 'cat data/a data/b >res/c' >/dev/null
	orig=$($AS "$XRUN" ls --json --limit 1 | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
	out=$($AS "$XRUN" --color=never show latest)
	like "$out" "^workspace $W +[0-9]+ files?, [0-9.]+ [KMG]?i?B +sha256:[0-9a-f]{12}$" "$who: show lists the workspace (path, files, bytes, digest)"
	like "$out" "^input +$W/data +2 files, 7 B +sha256:[0-9a-f]{12}$" "$who: ... the input"
	like "$out" "^output +$W/res +1 file, 7 B +sha256:[0-9a-f]{12}$" "$who: ... and the output"
	$AS "$XRUN" -q replay latest >/dev/null 2>&1
	is "$?" 0 "$who: its replay: reproduced"
	out=$($AS "$XRUN" --color=never show latest)
	like "$out" "^verdict +reproduced: 1 output file and stdout match ${orig:0:8}" "$who: show prints the verdict"
	out=$($AS "$XRUN" --color=never ls --limit 2)
	like "$out" "succeeded reproduced " "$who: ls shows the verdict beside the status"
	is "$($AS "$XRUN" ls --json --limit 2 | "$PYTHON3" -c 'import json,sys; print([r["verdict"] for r in json.load(sys.stdin)])')" "['reproduced', None]" "$who: ... and ls --json"
	$AS "$XRUN" -q run -o noise -- sh -c 'head -c 8 /dev/urandom >noise/r' >/dev/null
	$AS "$XRUN" -q replay latest >/dev/null 2>&1
	is "$?" 3 "$who: a replay of random output: 3"
	out=$($AS "$XRUN" --color=never show latest)
	like "$out" "^verdict +differs from " "$who: show: differs"
	like "$out" "^ +differs: $W/noise/r \(sha256:" "$who: ... naming the file"
	out=$($AS "$XRUN" --color=never ls --limit 1)
	like "$out" "succeeded differs " "$who: ls: differs"

	# xrun rm
	id=$($AS "$XRUN" ls --json --limit 1 | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
	n=$(ls .xrun/runs | wc -l)
	out=$($AS "$XRUN" rm latest latest~1 2>"$T/err")
	is "$?" 0 "$who: xrun rm latest latest~1: 0"
	like "$out" "deleted run $id" "$who: ... names what it deleted"
	is "$(ls .xrun/runs | wc -l)" "$((n - 2))" "$who: ... two run directories fewer"
	[ ! -e ".xrun/runs/$id" ]
	ok $? "$who: ... the run's directory is gone"
	like "$(cat "$T/err")" "xrun gc" "$who: ... and says gc frees the objects"
	before=$(find .xrun/objects -type f | wc -l)
	$AS "$XRUN" -q gc --grace 0 >/dev/null 2>&1
	after=$(find .xrun/objects -type f | wc -l)
	[ "$after" -lt "$before" ]
	ok $? "$who: gc then frees the objects only they held ($before -> $after)"
	check "$who: verify is clean after rm and gc" -- $AS "$XRUN" verify --all
	$AS "$XRUN" rm nosuchrun >/dev/null 2>&1
	is "$?" 2 "$who: rm of an unknown run: 2"
	n=$(ls .xrun/runs | wc -l)
	$AS "$XRUN" rm latest nosuchrun >/dev/null 2>&1
	is "$(ls .xrun/runs | wc -l)" "$n" "$who: ... with a good one beside it, nothing is deleted"
	$AS "$XRUN" -q run -- sh -c 'echo started; sleep 30' >"$T/live" 2>&1 &
	live=$!
	wait_for "$T/live" started
	# the running run, not the newest of those that ended
	id=$($AS "$XRUN" ls --json --status running | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
	err=$($AS "$XRUN" rm "$id" 2>&1)
	is "$?" 2 "$who: rm of a run that is still running: refused"
	like "$err" "run ${id:0:8} is still running" "$who: ... saying so"
	[ -e ".xrun/runs/$id/record.json" ]
	ok $? "$who: ... and its directory is kept"
	# the launcher itself (as_user's shell stands between $! and it)
	kill -TERM "$(jget ".xrun/runs/$id/record.json" 'd["launcher"]["pid"]')"
	wait "$live"
	$AS "$XRUN" rm "$id" >/dev/null 2>&1
	is "$?" 0 "$who: once it ended, rm takes it"
	cd "$T" || exit 1
done

# sweep -j N: each line of a run's output prefixed with its index; the
# program resolved once.
mkdir -p "$T/sw" && cd "$T/sw" || exit 1
out=$("$XRUN" sweep -j 2 -p a=1,2,3 -- sh -c 'echo "a=$XRUN_PARAM_a"; echo "e=$XRUN_PARAM_a" >&2' 2>"$T/err")
is "$?" 0 "sweep -j 2: 0"
is "$(printf '%s\n' "$out" | sort)" "$(printf '[0] a=1\n[1] a=2\n[2] a=3')" "... each run's stdout lines prefixed with its index"
like "$(cat "$T/err")" "^\[1\] e=2$" "... and its stderr"
err=$("$XRUN" sweep -j 2 -p a=1,2,3 -- no-such-program-here 2>&1)
is "$?" 127 "sweep of a program that is not there: 127"
is "$(printf '%s\n' "$err" | grep -c "not found")" 1 "... one error, not one per combination"
is "$("$XRUN" ls --json | "$PYTHON3" -c 'import json,sys; print(len(json.load(sys.stdin)))')" 3 "... and no run started"

# A replay's record describes the pinned workspace: change the work tree
# between run and replay; diff shows only the replay.
mkdir -p "$T/g" && cd "$T/g" || exit 1
git init -q . && printf 'v1\n' >data.txt && git add data.txt &&
	git -c user.email=t@x -c user.name=t commit -qm one
"$XRUN" -q run -o out -- sh -c 'cat data.txt >out/d' >/dev/null
orig=$(latest_record)
printf 'v2\n' >data.txt
echo new >untracked.txt
"$XRUN" -q replay latest >/dev/null 2>&1
is "$?" 0 "a replay after the work tree changed: reproduced"
rep=$(latest_record)
is "$(jget "$rep" 'd["source"]')" "$(jget "$orig" 'd["source"]')" "... its source section is the original's (the pinned workspace)"
out=$("$XRUN" diff --color=never "$orig" "$rep")
is "$?" 0 "xrun diff ORIGINAL REPLAY: no difference"
is "$out" "$(printf 'replay\n  %s replays %s: reproduced\nno differences' "$(jget "$rep" 'd["id"][:8]')" "$(jget "$orig" 'd["id"][:8]')")" "... it shows the replay relation and its verdict, nothing else"
check "the records validate" -- validate "$orig" "$rep"

# Options after RUN, in the order people type them (as git takes
# "git show HEAD --stat"): replay, check and attest.
mkdir -p "$T/after" && cd "$T/after" || exit 1
"$XRUN" -q run -o out -- sh -c 'echo same >out/f' >/dev/null
out=$("$XRUN" replay latest~0 --strict 2>&1)
is "$?" 0 "xrun replay RUN --strict: the option after RUN is taken"
like "$out" "reproduced" "... and the replay runs"
n=$(ls .xrun/runs | wc -l)
out=$("$XRUN" replay latest --dry-run 2>&1)
is "$?" 0 "xrun replay RUN --dry-run"
like "$out" "^replay of run " "... prints the plan"
is "$(ls .xrun/runs | wc -l)" "$n" "... and runs nothing: the option after RUN is in force"
"$XRUN" -q run -o out -- sh -c 'echo same >out/f' >/dev/null
out=$("$XRUN" check latest --factors hashseed --json 2>/dev/null)
is "$?" 0 "xrun check RUN --factors hashseed --json: options after RUN"
like "$out" '"hashseed"' "... only the factor asked for, as JSON"
[[ "$out" != *'"umask"'* ]]
ok $? "... and not the others"
"$XRUN" key generate -o "$T/after/k.pem" >/dev/null 2>&1
"$XRUN" attest latest -o "$T/after/a.json" --key "$T/after/k.pem" >/dev/null 2>&1
is "$?" 0 "xrun attest RUN -o FILE --key KEY: options after RUN"
[ -s "$T/after/a.json" ]
ok $? "... the statement is written to FILE"
"$XRUN" replay latest -- extra >/dev/null 2>&1
is "$?" 125 "xrun replay RUN -- extra: one RUN only (125)"
done_testing

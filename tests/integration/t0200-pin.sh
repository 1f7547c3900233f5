#!/bin/bash
# Pinned inputs, the workspace and outputs: what the run sees, what the
# record says, checkout, verify and gc.
. "$top_srcdir/tests/integration/lib.sh"
cd "$T" || exit 1
mkdir -p work/data/sub && cd work || exit 1
printf 'old bytes\n' >data/a.txt
printf 'beta\n' >data/sub/b.txt
ln -s a.txt data/link
printf 'ws\n' >notes.txt

# The host and a running program talk by stdout and signals: the
# sandbox shows the program no live host directory it could poll (its
# /tmp and /var/tmp are its own, and so are its -o paths until it ends).
# It says it started on stdout; xrun forwards the SIGUSR1 that says go.

# A run that sees the input; the original changes while it runs.
"$XRUN" -q run -i data -o out sh -c '
	cat data/a.txt >out/first
	go=; trap "go=1" USR1
	echo started; echo started >out/started
	while [ -z "$go" ]; do sleep 0.05; done
	cat data/a.txt >out/second
	readlink data/link >out/link
	echo new >data/a.txt 2>/dev/null && echo writable >out/w || echo read-only >out/w
' >"$T/started" &
pid=$!
wait_for "$T/started" started
ok $? "the run started"
printf 'new bytes\n' >data/a.txt
kill -USR1 $pid
wait $pid
is "$?" 0 "the run succeeds"
is "$(cat out/first)" "old bytes" "the run sees the pinned bytes"
is "$(cat out/second)" "old bytes" "an edit of the original during the run changes nothing it sees"
is "$(cat out/w)" "read-only" "a pinned input is read-only"
is "$(cat out/link)" "a.txt" "a symlink is a symlink"
rec=$(latest_record)
check "the record validates" -- validate "$rec"
is "$(jget "$rec" 'd["inputs"][0]["path"]')" "$PWD/data" "inputs: the path"
is "$(jget "$rec" 'd["inputs"][0]["kind"]')" directory "inputs: the kind"
is "$(jget "$rec" 'd["inputs"][0]["files"]')" 3 "inputs: files (and links)"
is "$(jget "$rec" 'd["inputs"][0]["bytes"]')" 15 "inputs: bytes"
is "$(jget "$rec" 'd["inputs"][0]["digest"] == d["inputs"][0]["manifest"]')" true "a directory's digest is its manifest's"
is "$(jget "$rec" 'd["source"]["workspace"]["listed_by"]')" directory "the workspace outside git is the directory"
is "$(jget "$rec" 'd["source"]["workspace"]["files"]')" 1 "... without the input, the output and the store"
is "$(jget "$rec" '[o["path"] for o in d["outputs"]]')" "[\"$PWD/out\"]" "outputs: listed"
is "$(jget "$rec" 'd["outputs"][0]["files"]')" 5 "outputs: every file"
obj=$(find .xrun/objects -type f | head -n 1)
is "$(stat -c %a "$obj")" 444 "objects are read-only"
ls .xrun/tmp | grep -q view-
ok $((!$?)) "the run's view is removed after it"

# The original deleted: checkout and verify still work.
rm -rf data out
"$XRUN" -q checkout latest
is "$?" 0 "checkout restores the outputs"
is "$(cat out/first)" "old bytes" "... with their bytes"
err=$("$XRUN" checkout latest 2>&1)
is "$?" 1 "checkout refuses to overwrite"
like "$err" "exists; pass --force" "... and says how"
"$XRUN" -q checkout --force latest
is "$?" 0 "checkout --force overwrites"
"$XRUN" -q checkout latest "$T/elsewhere"
is "$(cat "$T/elsewhere/out/second")" "old bytes" "checkout into PATH"
"$XRUN" verify --all >"$T/v" 2>&1
is "$?" 0 "verify --all: clean after the original is gone"
"$XRUN" verify latest >/dev/null 2>&1
is "$?" 0 "verify RUN: clean"

# Re-pinning unchanged data stores nothing new.
mkdir data && printf 'same\n' >data/x
"$XRUN" -q run -i data true
n1=$(find .xrun/objects -type f | wc -l)
"$XRUN" -q run -i data true
n2=$(find .xrun/objects -type f | wc -l)
is "$n2" "$n1" "a re-pin of unchanged data adds no object"

# A file input, and an input given through a symlink.
printf 'single\n' >one.txt
ln -s data datalink
"$XRUN" -q run -i one.txt -i datalink sh -c 'cat one.txt; cat datalink/x' >"$T/o"
is "$(cat "$T/o" | tr '\n' ' ')" "single same " "a file input and a linked directory"
rec=$(latest_record)
is "$(jget "$rec" 'sorted(i["kind"] for i in d["inputs"])')" '["directory", "file"]' "... recorded by kind"

# A symlink out of the tree: recorded as a link, with a warning.
ln -s /etc/passwd data/escape
err=$("$XRUN" run -i data sh -c 'test -L data/escape' 2>&1)
is "$?" 0 "a link out of the tree stays a link"
like "$err" "data/escape' is a symlink to '/etc/passwd', outside the pinned tree" "... and xrun says so"
rm data/escape

# A FIFO: an error naming it, recorded as failed.
mkfifo data/pipe
err=$("$XRUN" run -i data true 2>&1)
is "$?" 125 "a FIFO in an input: 125"
like "$err" "'$PWD/data/pipe' is a FIFO" "... naming the file"
rec=$(latest_record)
is "$(jget "$rec" 'd["status"]')" failed "... recorded as failed"
like "$(jget "$rec" 'd["result"]["cause"]')" "data/pipe' is a FIFO" "... with the cause"
check "... and the record validates" -- validate "$rec"
rm data/pipe

# The workspace limit.
head -c 300000 /dev/zero >big.bin
err=$("$XRUN" run --workspace-limit 100K true 2>&1)
is "$?" 125 "a workspace over the limit: 125"
like "$err" "holds more than 100.0 KiB.*--input PATH.*--workspace-limit SIZE" "... says what to do"
XRUN_WORKSPACE_LIMIT=1M "$XRUN" -q run true
is "$?" 0 "XRUN_WORKSPACE_LIMIT raises it"
"$XRUN" -q run --workspace-limit 100K -i big.bin true
is "$?" 0 "big data declared with --input leaves the workspace"
rm big.bin

# A git work tree: tracked and untracked-not-ignored files only.
mkdir "$T/repo" && cd "$T/repo" || exit 1
git init -q . && printf 'ignored.bin\n' >.gitignore && printf 't\n' >tracked &&
	git add . && git -c user.name=t -c user.email=t@e commit -q -m x
printf 'u\n' >untracked && printf 'i\n' >ignored.bin
out=$("$XRUN" -q run -o out sh -c 'ls -A; echo x >out/y')
is "$(echo $out)" ".gitignore .xrun out tracked untracked" "the run sees tracked and untracked files, not ignored ones"
rec=$(latest_record)
is "$(jget "$rec" 'd["source"]["workspace"]["listed_by"]')" git "... listed by git"
is "$(cat out/y)" x "an output inside the work tree is writable"
git status --porcelain >"$T/st"
is "$(cat "$T/st" | tr '\n' ' ')" "?? out/ ?? untracked " "nothing in the user's tree was changed but the output"

# gc keeps every referenced object; removes what no record references.
cd "$T/work" || exit 1
before=$(find .xrun/objects -type f | wc -l)
out=$("$XRUN" gc --grace 0)
is "$?" 0 "gc succeeds"
like "$out" "^deleted 0 objects" "gc deletes nothing that is referenced"
"$XRUN" verify --all >/dev/null 2>&1
is "$?" 0 "verify after gc: clean"
printf 'orphan\n' | (cd .xrun/objects/sha256 && mkdir -p 11 && cat >11/$(printf '%062d' 0))
out=$("$XRUN" gc --dry-run --grace 0)
like "$out" "^would delete 1 object" "gc --dry-run says what it would delete"
out=$("$XRUN" gc)
like "$out" "younger than the grace period" "a fresh object survives the grace period"
out=$("$XRUN" gc --grace 0)
like "$out" "^deleted 1 object \(7 B\)" "gc deletes an unreferenced object and says how much it freed"
is "$(find .xrun/objects -type f | wc -l)" "$before" "... and only that one"

# gc during a run (--grace 0: everything in tmp/ is old enough) leaves
# the run's view alone: the program still reads its pinned files.
mkdir "$T/live" && cd "$T/live" || exit 1
printf 'still here\n' >data.txt
"$XRUN" -q run --timeout 60 -o sig -- sh -c 'go=; trap "go=1" USR1; echo started >&2; while [ -z "$go" ]; do sleep 0.1; done; cat data.txt' >out.txt 2>err.txt &
runner=$!
# The program starts once its start record is written.
for _ in $(seq 100); do
	ls .xrun/runs/*/record.json >/dev/null 2>&1 && break
	sleep 0.1
done
views() { find .xrun/tmp -mindepth 1 -maxdepth 2 \( -name 'view-*' -o -regex '.*/views/[0-9a-f]*' \) | wc -l; }
is "$(views)" 1 "a running run has a view"
"$XRUN" gc --grace 0 >gc.txt 2>&1
is "$?" 0 "gc while a run is live succeeds"
is "$(views)" 1 "... and keeps the live run's view"
wait_for err.txt started
kill -USR1 $runner
wait $runner
is "$?" 0 "... the run succeeds"
is "$(cat out.txt)" "still here" "... and read its pinned file after gc"
# Views are shared: the same tree again takes the same one.
"$XRUN" gc --grace 0 >gc.txt 2>&1
is "$(views)" 0 "gc --grace 0 with no run live removes the views"
"$XRUN" -q run -- cat data.txt >/dev/null 2>&1
"$XRUN" -q run -- cat data.txt >/dev/null 2>&1
is "$(views)" 1 "runs of the same tree share one view"
printf 'changed\n' >data.txt
is "$("$XRUN" -q run -- cat data.txt 2>&1)" changed "a changed tree gets a view of its own"
is "$(views)" 2 "... beside the other"
"$XRUN" gc --grace 0 >gc.txt 2>&1
is "$(views)" 0 "... gc removes both"
# A view that is not what xrun makes (a link to elsewhere) is not taken.
mkdir "$T/elsewhere" && printf 'not pinned\n' >"$T/elsewhere/data.txt"
"$XRUN" -q run -- cat data.txt >/dev/null 2>&1
v=$(find .xrun/tmp/views -mindepth 1 -maxdepth 1 -regex '.*/[0-9a-f]*')
rm -rf "$v" && mkdir "$v" && ln -s "$T/elsewhere" "$v/v"
is "$("$XRUN" -q run -- cat data.txt 2>&1)" changed "a view whose content is a symlink is not taken"
rm -rf "$v"
"$XRUN" gc --grace 0 >gc.txt 2>&1
# What a dead launcher or an interrupted gc left in views/ goes once old.
mkdir -p .xrun/tmp/views/.new-dead-0/v .xrun/tmp/views/.del-$(printf '%064d' 0)-1/v
touch -d '2 hours ago' .xrun/tmp/views/.new-dead-0 .xrun/tmp/views/.del-*
mkdir .xrun/tmp/views/.new-young-0
"$XRUN" gc >gc.txt 2>&1
is "$(ls -A .xrun/tmp/views | tr '\n' ' ')" ".new-young-0 " "gc removes old leftovers in views/, not a young one"
rmdir .xrun/tmp/views/.new-young-0
is "$("$XRUN" -q run -- cat data.txt 2>&1)" changed "... and the next run makes its view again"
cd "$T/work" || exit 1

# The pin cache takes an object it saw under the store's gc token as
# present without a stat; gc renews the token before it deletes, so an
# object gc deleted is stored again by the next pin of the same file.
mkdir -p "$T/tok" && cd "$T/tok" || exit 1
echo "kept across gc" >tok.txt
sleep 3 # the pin cache trusts no file changed in the last two seconds
"$XRUN" -q run --no-sandbox -- true && "$XRUN" -q run --no-sandbox -- true
[ -s .xrun/cache/gc-token ]
ok $? "a pin makes the store's gc token"
tok=$(cat .xrun/cache/gc-token)
"$XRUN" gc --dry-run --grace 0 >gc.txt 2>&1
is "$(cat .xrun/cache/gc-token)" "$tok" "gc --dry-run keeps the token"
rm -rf .xrun/runs/*
"$XRUN" gc --grace 0 >gc.txt 2>&1
like "$(cat gc.txt)" "^deleted [1-9][0-9]* object" "gc deletes the unreferenced workspace objects"
[ "$(cat .xrun/cache/gc-token)" != "$tok" ]
ok $? "... after renewing the token"
"$XRUN" -q run --no-sandbox -- cat tok.txt >/dev/null
is "$?" 0 "the next run pins the unchanged workspace"
out=$("$XRUN" verify latest 2>&1)
is "$?" 0 "... and stored its objects again: verify is clean ($out)"
cd "$T/work" || exit 1

# A corrupt object: verify finds it.
obj=$(jget "$(latest_record)" 'd["inputs"][0]["digest"]' | sed 's/sha256://')
f=.xrun/objects/sha256/${obj:0:2}/${obj:2}
chmod u+w "$f" && echo garbage >>"$f"
out=$("$XRUN" verify --all 2>&1)
is "$?" 1 "verify: a corrupt object is exit 1"
like "$out" "corrupt object sha256:$obj" "... naming it"
rm -f "$f"
out=$("$XRUN" verify latest 2>&1)
is "$?" 1 "verify: a missing object is exit 1"
like "$out" "missing object sha256:$obj .*referenced by run" "... naming it and the run"

done_testing

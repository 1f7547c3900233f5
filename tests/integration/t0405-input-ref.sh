#!/bin/bash
# --input-ref PATH (DESIGN.md §1, §5): data too big to copy, hashed and
# recorded like -i (stat cache first) but bound read-only from its place
# and never copied into the store; a replay hashes it again and refuses,
# naming each changed file, when it is not what the run saw; verify and
# gc expect no object for its files. As root and as an ordinary user.
. "$top_srcdir/tests/integration/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "runs as root and as the test user"

obj() { # obj STORE FILE: is FILE's content an object of STORE?
	local d
	d=$(sha256sum "$2" | cut -c1-64)
	[ -e "$1/objects/sha256/${d:0:2}/${d:2}" ]
}

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
	$AS sh -c 'mkdir -p share/set proj/local; head -c 300000 /dev/urandom >share/set/big.bin; echo labels >share/set/labels.txt; echo in-tree >proj/local/x.txt'
	cd proj || exit 1
	out=$($AS "$XRUN" -q run --input-ref ../share/set --input-ref local -o out -- sh -c 'sha256sum ../share/set/big.bin | cut -c1-16; cat ../share/set/labels.txt local/x.txt; cp ../share/set/labels.txt out/; touch ../share/set/new 2>/dev/null || echo read-only' 2>/dev/null)
	is "$?" 0 "$who: a run with --input-ref (outside and inside the workspace)"
	is "$out" "$(sha256sum ../share/set/big.bin | cut -c1-16)
labels
in-tree
read-only" "$who: ... the program reads the data where it lies, read-only"
	rec=$($AS "$XRUN" ls --json --limit 1 | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["record"])')
	orig=$(jget "$rec" 'd["id"]')
	is "$(jget "$rec" 'sorted((i["path"], i["storage"], i["files"]) for i in d["inputs"])')" "[[\"$W/proj/local\", \"referenced\", 1], [\"$W/share/set\", \"referenced\", 2]]" "$who: the record says which inputs are referenced"
	is "$(jget "$rec" '[i["bytes"] for i in d["inputs"] if i["path"].endswith("/set")][0]')" 300007 "$who: ... hashed like -i (files, bytes)"
	check "$who: ... the record validates" -- validate "$rec"
	! obj .xrun ../share/set/big.bin
	ok $? "$who: ... and the data is not copied into the store"
	check "$who: verify expects no object for a referenced input" -- $AS "$XRUN" verify --all
	$AS "$XRUN" -q gc --grace 0 >/dev/null 2>&1
	check "$who: ... and after gc (which keeps its manifest) verify is still clean" -- $AS "$XRUN" verify --all
	$AS "$XRUN" -q replay "$orig" >/dev/null 2>"$T/err"
	is "$?" 0 "$who: its replay, the data unchanged: reproduced"
	out=$($AS "$XRUN" show "$orig")
	like "$out" "^input +$W/share/set +2 files, .* +sha256:[0-9a-f]{12}  \(referenced\)$" "$who: show marks the input referenced"

	# Changed behind the run's back: refused, naming each file.
	$AS sh -c 'echo other >../share/set/labels.txt; echo more >../share/set/extra'
	n=$(ls .xrun/runs | wc -l)
	err=$($AS "$XRUN" replay "$orig" 2>&1 >/dev/null)
	is "$?" 125 "$who: a replay after the data changed: 125"
	like "$err" "the referenced input '$W/share/set' is not what the run saw: '$W/share/set/extra' \(new\), '$W/share/set/labels.txt' \(changed\)|the referenced input '$W/share/set' is not what the run saw: '$W/share/set/labels.txt' \(changed\), '$W/share/set/extra' \(new\)" "$who: ... naming each changed file"
	like "$err" "the program was not started" "$who: ... and nothing ran"
	$AS sh -c 'echo labels >../share/set/labels.txt; rm ../share/set/extra'
	$AS "$XRUN" -q replay "$orig" >/dev/null 2>&1
	is "$?" 0 "$who: the data put back (new mtimes, same bytes): reproduced"
	$AS sh -c 'rm ../share/set/big.bin'
	err=$($AS "$XRUN" replay "$orig" 2>&1 >/dev/null)
	is "$?" 125 "$who: a file of it deleted: 125"
	like "$err" "'$W/share/set/big.bin' \(gone\)" "$who: ... naming it"
	$AS "$XRUN" run --input-ref nosuch true >/dev/null 2>"$T/err"
	is "$?" 125 "$who: --input-ref of a missing path: 125"
	like "$(cat "$T/err")" "cannot hash input '.*nosuch'.*--input-ref" "$who: ... says which"
	$AS "$XRUN" run --input-ref local -i local true >/dev/null 2>&1
	is "$?" 125 "$who: the same path as -i and --input-ref: 125"
	cd "$T" || exit 1
done
done_testing

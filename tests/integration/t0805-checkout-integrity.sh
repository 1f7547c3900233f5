#!/bin/bash
# What checkout restores is what the run produced, or nothing: a corrupt
# object is refused and named, a missing one leaves no directory behind,
# setuid/setgid bits never come back, --clean makes the target exactly
# the run's. A record edited by hand is reported by show, diff, checkout
# and verify; verify names every run that needs a corrupt object. As
# root, and as an ordinary user.
. "$top_srcdir/tests/integration/lib.sh"
# Loose objects, which this test damages by path (t0900-packs.sh damages
# packed ones).
export XRUN_PACK_THRESHOLD=0

obj_of() { # obj_of FILE: the store path of FILE's object
	local h
	h=$(sha256sum "$1" | cut -c1-64)
	echo ".xrun/objects/sha256/${h:0:2}/${h:2}"
}

scenario() { # scenario WHO: AS (empty or as_user) runs xrun as WHO
	local who=$1 w=$T/$1
	mkdir -p "$w"
	[ -n "$AS" ] && chown "$TEST_USER:" "$w"
	cd "$w" || exit 1
	$AS "$XRUN" -q run -o out -- sh -c 'echo hello >out/a; mkdir out/d; echo deep >out/d/b; cp /usr/bin/id out/esc; chmod 4755 out/esc; chmod 2755 out/d' ||
		echo "# the run failed"
	local run
	run=$($AS "$XRUN" ls --json --limit 1 | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
	$AS "$XRUN" -q run -o out -- sh -c 'echo hello >out/a; mkdir -p out/d; echo deep >out/d/b; cp /usr/bin/id out/esc; chmod 4755 out/esc; chmod 2755 out/d'
	local run2
	run2=$($AS "$XRUN" ls --json --limit 1 | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')

	# A corrupt object: refused, named, nothing left.
	local a b
	a=$(obj_of out/a)
	b=$(obj_of out/d/b)
	chmod u+w "$a" && printf 'HELLO\n' >"$a"
	err=$($AS "$XRUN" checkout "$run" "$w/c1" 2>&1)
	ok $(($? == 0)) "$who: checkout of a corrupt object fails"
	like "$err" "object sha256:$(sha256sum out/a | cut -c1-64) .* is corrupt" "$who: ... naming the object"
	[ ! -e "$w/c1" ]
	ok $? "$who: ... and leaves nothing behind"

	# verify names both runs that need it.
	out=$($AS "$XRUN" verify --all 2>&1)
	is "$?" 1 "$who: verify finds the corrupt object"
	like "$out" "corrupt object .*referenced by runs .*${run:0:8}" "$who: ... naming the first run"
	like "$out" "corrupt object .*referenced by runs .*${run2:0:8}" "$who: ... and the second"
	printf 'hello\n' >"$a" && chmod 444 "$a"

	# A missing object: no empty directory.
	mv "$b" "$w/b.saved"
	err=$($AS "$XRUN" checkout "$run" "$w/c2" 2>&1)
	ok $(($? == 0)) "$who: checkout with a missing object fails"
	like "$err" "object sha256:$(sha256sum out/d/b | cut -c1-64) of '.*out/d/b' is missing" "$who: ... naming it"
	[ ! -e "$w/c2" ]
	ok $? "$who: ... and leaves no directory behind"
	mv "$w/b.saved" "$b"

	# setuid: never restored, and said.
	err=$($AS "$XRUN" checkout "$run" "$w/c3" 2>&1)
	is "$?" 0 "$who: checkout of a run with a setuid file"
	is "$(stat -c %a "$w/c3/out/esc")" 755 "$who: ... restores it without the setuid bit"
	is "$(find "$w/c3" -perm /6000 | wc -l)" 0 "$who: ... nor any setuid or setgid bit (a setgid directory too)"
	is "$(cat "$w/c3/out/a")" hello "$who: ... and the right bytes"
	local m
	m=$(jget ".xrun/runs/$run/record.json" 'd["outputs"][0]["manifest"]')
	m=.xrun/objects/sha256/${m:7:2}/${m:9}
	if grep -q "^f	4755	.*	esc$" "$m"; then
		# The run kept the bit in its manifest: the checkout says it
		# stripped it.
		like "$err" "stripped the setuid/setgid bits of 2 paths \(such as '$w/c3/out/(d|esc)'\)" "$who: ... and says so"
	fi

	# --force leaves what the run did not produce, and says so; --clean
	# removes it, without following links out of the target.
	mkdir -p "$w/outside"
	echo keep >"$w/outside/precious"
	[ -n "$AS" ] && chown -R "$TEST_USER:" "$w/outside"
	$AS sh -c "echo stale >'$w/c3/out/stale'; echo stale >'$w/c3/out/d/stale2'; ln -s '$w/outside' '$w/c3/out/link'; mkdir '$w/c3/out/dd'; echo x >'$w/c3/out/dd/x'"
	err=$($AS "$XRUN" checkout --force "$run" "$w/c3" 2>&1)
	is "$?" 0 "$who: checkout --force over an older checkout"
	like "$err" "still holds 4 paths that run ${run:0:8} did not produce .*pass --clean" "$who: ... says how many extra paths it left"
	err=$($AS "$XRUN" checkout --clean "$run" "$w/c3" 2>&1)
	is "$?" 0 "$who: checkout --clean"
	like "$err" "removed 4 paths" "$who: ... says what it removed"
	check "$who: ... and the target is exactly the run's" -- diff -r "$w/c3/out" out
	is "$(cat "$w/outside/precious")" keep "$who: ... a link out of the target was removed, not followed"

	# A record edited by hand.
	rec=.xrun/runs/$run/record.json
	"$PYTHON3" - "$rec" <<'EOF'
import json, sys
p = sys.argv[1]
d = json.load(open(p))
d["seed"]["value"] = 12345
json.dump(d, open(p, "w"), indent=2)
EOF
	want="record '.*$run/record.json' no longer matches its digest: it was edited after it was sealed"
	err=$($AS "$XRUN" show "$run" 2>&1 >/dev/null)
	like "$err" "$want" "$who: show warns of an edited record"
	is "$(printf '%s\n' "$err" | grep -c 'no longer matches')" 1 "$who: ... in one line"
	err=$($AS "$XRUN" diff "$run" "$run2" 2>&1 >/dev/null)
	like "$err" "$want" "$who: diff warns of it"
	err=$($AS "$XRUN" checkout "$run" "$w/c4" 2>&1)
	like "$err" "$want" "$who: checkout warns of it"
	out=$($AS "$XRUN" verify "$run" 2>&1)
	is "$?" 1 "$who: verify fails on it"
	like "$out" "$want" "$who: ... saying why"
	out=$($AS "$XRUN" verify --all 2>&1)
	is "$?" 1 "$who: verify --all fails on it"
	err=$($AS "$XRUN" show "$run2" 2>&1 >/dev/null)
	is "$err" "" "$who: a sealed record draws no warning"
	cd "$T" || exit 1
}

AS=
scenario root
if have_test_user; then
	AS=as_user
	scenario user
fi
done_testing

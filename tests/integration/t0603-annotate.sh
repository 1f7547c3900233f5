#!/bin/bash
# xrun tag and xrun note: annotations beside the sealed record. The
# record's bytes never change (its digest stays valid, verify passes);
# show, ls and report show them; ls --tag finds them; concurrent writers
# lose nothing. As root and as an unprivileged user.
. "$top_srcdir/tests/integration/lib.sh"

annotate_test() { # annotate_test WHO RUNNER...
	local who=$1
	shift
	"$@" "$XRUN" -q run --tag stage=raw -- sh -c 'echo "{\"loss\": 1}" >>"$XRUN_METRICS"'
	"$@" "$XRUN" -q run -- true
	local rec id
	rec=$(latest_record)
	id=$(jget "$rec" 'd["id"]')
	local before
	before=$(sha256sum <"$rec")
	"$@" "$XRUN" tag latest best=yes 'owner=a b'
	is "$?" 0 "$who: tag RUN K=V K=V"
	"$@" "$XRUN" note latest "looks good; lr too high?"
	is "$?" 0 "$who: note RUN TEXT"
	"$@" "$XRUN" note latest second note
	is "$(sha256sum <"$rec")" "$before" "$who: the record's bytes never change"
	"$@" "$XRUN" verify >"$T/verify.out" 2>&1
	is "$?" 0 "$who: verify passes with annotations present"
	check "$who: the record still validates" -- validate "$rec"
	local show
	show=$("$@" "$XRUN" show latest)
	like "$show" 'tag +best=yes \(added\)' "$who: show lists an added tag"
	like "$show" 'note +[0-9-]+ [0-9:]+  looks good; lr too high\?' "$who: show lists the note"
	like "$show" 'note .*second note' "$who: ... every note, the words of TEXT joined"
	"$@" "$XRUN" show --json latest >"$T/show.json"
	check "$who: show --json is still the record (it validates)" -- validate "$T/show.json"
	is "$("$@" "$XRUN" note --json latest | "$PYTHON3" -c '
import json, sys
d = json.load(sys.stdin)
print(len(d), d[0]["text"], d[0]["time"][-1])')" "2 looks good; lr too high? Z" \
		"$who: note --json gives the notes with their times"
	is "$("$@" "$XRUN" ls --tag best=yes | sed 1d | cut -c1-8)" "${id:0:8}" \
		"$who: ls --tag KEY=VALUE finds the tagged run"
	like "$("$@" "$XRUN" ls --tag best=yes)" '\[best=yes owner=a b\] true' "$who: ls shows the added tags"
	is "$("$@" "$XRUN" ls --tag stage=raw | sed 1d | wc -l)" 1 "$who: ls --tag finds a record's own tag too"
	is "$("$@" "$XRUN" ls --tag best | sed 1d | wc -l)" 1 "$who: ls --tag KEY: any value"
	is "$("$@" "$XRUN" ls --tag best=no | sed 1d | wc -l)" 0 "$who: ls --tag with another value: none"
	is "$("$@" "$XRUN" ls --tag best=yes --tag owner='a b' | sed 1d | wc -l)" 1 "$who: two --tag: both must match"
	is "$("$@" "$XRUN" tag latest)" "$(printf 'best=yes\nowner=a b')" "$who: tag RUN lists the tags"
	"$@" "$XRUN" tag latest~1 stage=clean
	is "$("$@" "$XRUN" tag --json latest~1 | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)["stage"])')" \
		clean "$who: an added tag shows over the record's own"
	is "$("$@" "$XRUN" ls --tag stage=raw | sed 1d | wc -l)" 0 "$who: ... also for ls --tag"
	"$@" "$XRUN" tag latest -d owner
	is "$("$@" "$XRUN" tag latest)" "best=yes" "$who: tag -d KEY removes it"
	is "$("$@" "$XRUN" note latest | wc -l)" 2 "$who: note RUN lists the notes"
	"$@" "$XRUN" -q report -o "$T/r.html"
	like "$(cat "$T/r.html")" '<span class="tag">best=yes</span>' "$who: the report shows the tags"
	like "$(cat "$T/r.html")" 'looks good; lr too high\?' "$who: ... and the notes"
	# Twenty writers at once: every tag is kept.
	local i pids=
	for i in $(seq 20); do
		"$@" "$XRUN" tag latest "k$i=$i" &
		pids="$pids $!"
	done
	# shellcheck disable=SC2086
	wait $pids
	is "$("$@" "$XRUN" tag latest | grep -c '^k[0-9]*=')" 20 "$who: 20 concurrent tag commands: 20 tags"
	is "$(sha256sum <"$rec")" "$before" "$who: ... and the record is still the same"
	"$@" "$XRUN" verify >/dev/null 2>&1
	is "$?" 0 "$who: ... and verify passes"
}

mkdir -p "$T/root" && cd "$T/root" || exit 1
annotate_test root env

# Bad input
err=$("$XRUN" tag latest novalue 2>&1)
is "$?" 2 "tag without '=': 2"
like "$err" "tag takes KEY=VALUE, not 'novalue'" "... says what it takes"
err=$("$XRUN" tag latest "=v" 2>&1)
is "$?" 2 "an empty key: 2"
err=$("$XRUN" tag latest "$(printf 'a\tb=1')" 2>&1)
is "$?" 2 "a key with a control character: 2"
err=$("$XRUN" note latest "" 2>&1)
is "$?" 2 "an empty note: 2"
err=$("$XRUN" tag 2>&1)
is "$?" 2 "tag without RUN: 2"
err=$("$XRUN" tag nosuch k=v 2>&1)
is "$?" 1 "tag of a run that is not there: 1"
cp "$(latest_record)" "$T/elsewhere.json"
err=$("$XRUN" tag "$T/elsewhere.json" k=v 2>&1)
is "$?" 1 "tag of a record file outside the store: 1"
like "$err" 'not a run of the store' "... says so"
test ! -e "$T/annotations.json"
ok $? "... and writes nothing beside it"
dir=$(dirname "$(latest_record)")
printf 'garbage' >"$dir/annotations.json"
err=$("$XRUN" tag latest k=v 2>&1)
is "$?" 1 "a damaged annotations file: tag refuses"
like "$err" "is not an annotations file xrun wrote; move it away" "... and says what to do"
is "$(cat "$dir/annotations.json")" garbage "... and leaves it as it is"
err=$("$XRUN" show latest 2>&1)
is "$?" 0 "show still works"
like "$err" "cannot read the annotations" "... and warns"
"$XRUN" verify >/dev/null 2>&1
is "$?" 0 "verify still passes (the record is intact)"

if have_test_user; then
	mkdir -p "$T/user" && chown "$TEST_USER" "$T/user" && cd "$T/user" || exit 1
	annotate_test "$TEST_USER" as_user
	# Another user's run: refused, with what to do.
	cd "$T/root" || exit 1
	err=$(as_user "$XRUN" tag latest~1 k=v 2>&1)
	is "$?" 1 "$TEST_USER tagging root's run: 1"
	like "$err" 'belongs to another user' "... says why"
else
	ok 0 "# skip no unprivileged test user (needs root)"
fi

done_testing

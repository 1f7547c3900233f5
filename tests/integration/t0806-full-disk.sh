#!/bin/bash
# Captured output and a full store: --max-output keeps at most SIZE of
# each stream (the rest passes through to the terminal) and the record
# says so. On a store that fills up (a 4 MiB tmpfs, as root) the final
# record can always be written (its room is reserved before the program
# starts), what could not be kept is said and xrun exits 125, and gc
# runs and frees space.
. "$top_srcdir/tests/integration/lib.sh"

# --max-output, as root and as the test user.
max_output() { # max_output WHO AS
	local who=$1 as=$2 w=$T/$1
	mkdir -p "$w" && cd "$w" || exit 1
	[ -n "$as" ] && chown "$TEST_USER:" "$w"
	$as "$XRUN" -q run --max-output 1K -- sh -c 'head -c 102400 /dev/zero | tr "\0" x; echo err >&2' >seen.out 2>seen.err
	is "$?" 0 "$who: a run past --max-output succeeds"
	is "$(wc -c <seen.out)" 102400 "$who: ... the terminal sees all of stdout"
	rec=$(ls .xrun/runs/*/record.json)
	is "$(wc -c <"$(dirname "$rec")/stdout")" 1024 "$who: ... the store keeps 1K of it"
	is "$(jget "$rec" 'd["result"]["stdout"]["truncated"]')" true "$who: ... recorded as truncated"
	is "$(jget "$rec" 'd["result"]["stdout"]["captured_bytes"]')" 1024 "$who: ... with the captured size"
	is "$(jget "$rec" 'd["result"]["stdout"]["bytes"]')" 102400 "$who: ... and the whole stream's"
	is "$(jget "$rec" 'd["result"]["stdout"]["sha256"]')" "sha256:$(sha256sum <seen.out | cut -c1-64)" "$who: ... whose digest is the whole stream's"
	is "$(jget "$rec" '"truncated" in d["result"]["stderr"]')" false "$who: ... stderr, under the limit, is whole"
	check "$who: ... the record validates" -- validate "$rec"
	err=$($as "$XRUN" run --max-output 0 true 2>&1)
	is "$?" 125 "$who: --max-output 0 is refused"
	like "$err" "--max-output takes a size of at least 1 byte" "$who: ... saying what it takes"
	cd "$T" || exit 1
}
max_output root ""
have_test_user && max_output user as_user

if [ "$(id -u)" != 0 ]; then
	echo "# the full-store part needs root to mount a small tmpfs"
	done_testing
	exit
fi
mkdir -p "$T/small" "$T/work" "$T/data"
if ! mount -t tmpfs -o size=4m tmpfs "$T/small" 2>/dev/null; then
	echo "# cannot mount a tmpfs here: the full-store part is skipped"
	done_testing
	exit
fi
trap 'umount "$T/small" 2>/dev/null; rm -rf "$T"' EXIT
cd "$T/work" || exit 1
S=$T/small/.xrun
head -c 1500000 /dev/urandom >"$T/data/big"

# A pinned file, then a run whose stdout fills the store.
"$XRUN" -q --store "$S" run --no-sandbox -i "$T/data/big" true
is "$?" 0 "a run pins 1.5 MB into the 4 MiB store"
first=$(ls "$S/runs")
err=$("$XRUN" --store "$S" run --no-sandbox -- sh -c 'head -c 8000000 /dev/zero' 2>&1 >/dev/null)
is "$?" 125 "stdout that fills the store: 125"
like "$err" "the program's stdout could not be kept: No space left on device" "... saying what could not be kept"
if printf '%s' "$err" | grep -q "recorded as failed"; then ok 1 "... and never that it was recorded as failed"; else ok 0 "... and never that it was recorded as failed"; fi
rec=$(ls -t "$S"/runs/*/record.json | head -n 1)
is "$(jget "$rec" 'd["status"]')" succeeded "the final record was written: the program's status"
is "$(jget "$rec" 'd["result"]["stdout"]["truncated"]')" true "... stdout recorded as truncated"
is "$(jget "$rec" 'd["result"]["stdout"]["bytes"]')" 8000000 "... with the size the program wrote"
check "... the record validates" -- validate "$rec"

# gc on the full store: it runs, and frees what no record needs.
rm -rf "$S/runs/$first"
cat /dev/zero >"$T/small/fill0" 2>/dev/null
is "$(stat -f -c %a "$T/small")" 0 "the store's file system is full to the last block"
out=$("$XRUN" --store "$S" gc --grace 0 2>&1)
is "$?" 0 "gc runs on a full store"
like "$out" "^deleted 2 objects \(1\.4 MiB\)" "... and frees the unreferenced objects (the file and its manifest)"
h=$(sha256sum "$T/data/big" | cut -c1-64)
[ ! -e "$S/objects/sha256/${h:0:2}/${h:2}" ]
ok $? "... the 1.5 MB object is gone"
rm -f "$T/small/fill0"

# Almost full: the start record fits, the final record's room does
# not. The program is not started, and xrun says why.
fill=$(($(stat -f -c '%a*%S' "$T/small") - 40960))
fallocate -l "$fill" "$T/small/filler" 2>/dev/null || head -c "$fill" /dev/zero >"$T/small/filler"
echo "# free in the store: $(($(stat -f -c '%a*%S' "$T/small"))) bytes"
err=$("$XRUN" --store "$S" run --no-sandbox -- touch "$T/work/started" 2>&1)
st=$?
echo "$err" | sed 's/^/# /'
is "$st" 125 "no room for the final record: 125"
like "$err" "no room in '.*' for the run's final record|cannot write the start record" "... saying why"
[ ! -e "$T/work/started" ]
ok $? "... and the program was not started"
for r in "$S"/runs/*/record.json; do
	"$PYTHON3" -c 'import json,sys; json.load(open(sys.argv[1]))' "$r" || echo "# does not parse: $r"
done
check "every record on the full store validates" -- validate "$S"/runs/*/record.json
rm -f "$T/small/filler"

cd "$T" && umount "$T/small"
done_testing

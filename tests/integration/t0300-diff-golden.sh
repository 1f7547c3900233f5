#!/bin/bash
# xrun diff on fixed record pairs (tests/data/diff/NAME/a.json, b.json):
# the text, --all and --json outputs and the exit status against the
# expected files beside them. After a deliberate change to the output,
# regenerate them with
#     XRUN_UPDATE_GOLDEN=1 make check TESTS=tests/integration/t0300-diff-golden.sh
# review the diff and commit it (tests/data/README).
. "$top_srcdir/tests/integration/lib.sh"

DIFF_SCHEMA=$top_srcdir/schemas/run-diff.schema.json
for dir in "$top_srcdir"/tests/data/diff/*/; do
	name=$(basename "$dir")
	# Relative record paths, so that the outputs do not name the tree.
	cd "$dir" || exit 1
	"$XRUN" diff a.json b.json >"$T/$name.txt" 2>"$T/$name.err"
	echo $? >"$T/$name.status"
	"$XRUN" diff --all a.json b.json >"$T/$name-all.txt" 2>>"$T/$name.err"
	"$XRUN" diff --json a.json b.json >"$T/$name.json" 2>>"$T/$name.err"
	if [ -n "${XRUN_UPDATE_GOLDEN:-}" ]; then
		cp "$T/$name.txt" expected.txt
		cp "$T/$name-all.txt" expected-all.txt
		cp "$T/$name.json" expected.json
		cp "$T/$name.status" expected-status
	fi
	check "$name: text as expected" -- diff -u expected.txt "$T/$name.txt"
	check "$name: --all as expected" -- diff -u expected-all.txt "$T/$name-all.txt"
	check "$name: --json as expected" -- diff -u expected.json "$T/$name.json"
	is "$(cat "$T/$name.status")" "$(cat expected-status)" "$name: exit status"
	is "$(cat "$T/$name.err")" "" "$name: nothing on stderr"
	check "$name: --json validates against run-diff.schema.json" -- \
		"$PYTHON3" "$top_srcdir/tests/validate-record.py" "$DIFF_SCHEMA" "$T/$name.json"
done

# Swapping the sides swaps old and new: added becomes removed.
cd "$top_srcdir/tests/data/diff/many" || exit 1
out=$("$XRUN" diff b.json a.json)
is "$?" 1 "b against a: status 1"
like "$out" '^  \+ dropout +0\.5' "... the param a has and b lacks shows as added"
like "$out" '^  ~ lr +0\.2 +→ 0\.1 +-0\.1 \(-50\.0%\)' "... with the delta the other way"

# A secret is compared by its hash and never printed.
cd "$top_srcdir/tests/data/diff/secret" || exit 1
out=$("$XRUN" diff --all --json a.json b.json)
is "$?" 1 "a pair differing only in a redacted secret differs"
for f in a.json b.json; do
	h=$(jget "$f" 'd["environment"]["variables"]["API_TOKEN"]["redacted"]')
	case $out in *"${h#sha256:}"*) leaked=1 ;; *) leaked=0 ;; esac
	is "$leaked" 0 "... the hash in $f is not in the output"
done

# Colour only when asked for (stdout here is not a terminal).
cd "$top_srcdir/tests/data/diff/many" || exit 1
out=$("$XRUN" diff a.json b.json)
case $out in *$'\033['*) esc=1 ;; *) esc=0 ;; esac
is "$esc" 0 "no colour when stdout is not a terminal"
out=$("$XRUN" --color=always diff a.json b.json)
like "$out" $'^\033\\[1mparams\033\\[0m$' "--color=always: section names bold"
like "$out" $'^  \033\\[33m~\033\\[0m lr' "--color=always: a changed item's marker yellow"
like "$out" $'^  \033\\[32m\\+\033\\[0m momentum' "--color=always: an added one green"
like "$out" $'^  \033\\[31m-\033\\[0m dropout' "--color=always: a removed one red"
out=$("$XRUN" --color=always diff --all a.json b.json)
like "$out" $'^    id +[0-9a-f-]+ → [0-9a-f-]+$' "--color=always --all: an item that counts for nothing is not coloured"

done_testing

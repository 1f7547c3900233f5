#!/bin/bash
# An ordinary user: run, show, ls, log; a store they cannot write.
. "$top_srcdir/tests/integration/lib.sh"
have_test_user || skip_all "needs root to create the unprivileged user $TEST_USER"
cd "$T" || exit 1
mkdir "$T/work"
cp -r "$top_srcdir/examples" "$T/work/examples"
chown -R "$TEST_USER:" "$T/work"
chmod -R u+w "$T/work"
cd "$T/work" || exit 1

out=$(as_user "$XRUN" -q run -p lr=0.05 -p epochs=4 -o out examples/train.sh)
is "$?" 0 "an ordinary user runs examples/train.sh"
like "$out" "epoch 4" "its output passes through"
rec=$(as_user "$XRUN" ls --json --limit 1 | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["record"])')
check "the record validates" -- validate "$rec"
is "$(stat -c %U "$rec")" "$TEST_USER" "the record belongs to the user"
is "$(jget "$rec" 'd["environment"]["variables"]["USER"]')" "$TEST_USER" "the user's environment is recorded"
like "$(as_user "$XRUN" show latest)" "^status +succeeded" "show works for the user"
like "$(as_user "$XRUN" ls)" "succeeded" "ls works for the user"
is "$(as_user "$XRUN" log latest | tail -n 1)" "model written to $PWD/out/model.txt" "log works for the user"
as_user "$XRUN" -q run sh -c 'exit 5'
is "$?" 5 "exit statuses pass through for the user"
out=$(as_user "$XRUN" -q run python3 -c 'print(2 + 2)' 2>&1)
is "$out" 4 "python3 runs for the user"

# A store the user cannot write: a clear error, nothing started.
mkdir -p "$T/rootstore"
"$XRUN" -q --store "$T/rootstore/.xrun" run true
chmod 755 "$T/rootstore/.xrun" "$T/rootstore/.xrun/runs"
err=$(as_user "$XRUN" --store "$T/rootstore/.xrun" run sh -c 'echo started >&2' 2>&1)
is "$?" 125 "an unwritable store: 125"
like "$err" "cannot create a run directory in '$T/rootstore/.xrun/runs': Permission denied; check its permissions" \
	"... says so and what to do"
if printf '%s' "$err" | grep -q started; then ok 1 "the program did not start"; else ok 0 "the program did not start"; fi
like "$(as_user "$XRUN" --store "$T/rootstore/.xrun" ls)" "succeeded" "the user can still read that store"

done_testing

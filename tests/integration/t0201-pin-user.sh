#!/bin/bash
# Pinning as an ordinary user: the user's data, an unreadable file,
# checkout.
. "$top_srcdir/tests/integration/lib.sh"
have_test_user || skip_all "needs root to create the unprivileged user $TEST_USER"
mkdir -p "$T/work/data"
cd "$T/work" || exit 1
printf 'one\n' >data/one
printf '#!/bin/sh\necho script ran\n' >data/run.sh
chmod 755 data/run.sh
chown -R "$TEST_USER:" "$T/work"

out=$(as_user "$XRUN" -q run -i data -o out sh -c 'cat data/one; data/run.sh; cp data/one out/copy')
is "$?" 0 "a user pins their data"
is "$(echo $out)" "one script ran" "... and the run reads it, executables included"
rec=$(as_user "$XRUN" ls --json --limit 1 | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["record"])')
check "the record validates" -- validate "$rec"
is "$(stat -c %U "$(find .xrun/objects -type f | head -n 1)")" "$TEST_USER" "the objects belong to the user"
rm -rf out
as_user "$XRUN" -q checkout latest
is "$(cat out/copy)" one "the user checks out the outputs"
is "$(stat -c %U out/copy)" "$TEST_USER" "... as their own files"
as_user "$XRUN" -q verify --all
is "$?" 0 "verify --all as the user"

# An unreadable file: an error that names it.
printf 'secret\n' >data/locked
chown root: data/locked && chmod 600 data/locked
err=$(as_user "$XRUN" run -i data true 2>&1)
is "$?" 125 "an unreadable file in an input: 125"
like "$err" "cannot read '$PWD/data/locked': Permission denied" "... naming the file"
ls .xrun/tmp | grep -q obj-
ok $((!$?)) "no temp object left behind"
rm -f data/locked

done_testing

#!/bin/bash
# Replay as an ordinary user: real training programs, edits, a program
# whose output cannot reproduce, the home directory's secrets still
# hidden when the original directory is gone.
. "$top_srcdir/tests/integration/lib.sh"
have_test_user || skip_all "needs root to create the unprivileged user $TEST_USER"
RUN_AS=as_user
. "$top_srcdir/tests/integration/replay-training.sh"

cd "$T/train" || exit 1
as_user "$XRUN" -q run -o noise sh -c 'head -c 8 /dev/urandom >noise/r' >/dev/null 2>&1
err=$(as_user "$XRUN" replay latest 2>&1)
is "$?" 3 "as a user: random output, exit 3"
like "$err" "differs: '$T/train/noise/r'" "... the file named"

# A project in the user's home, moved away: replay makes room in the
# home directory and hides its secrets again.
home=$(getent passwd "$TEST_USER" | cut -d: -f6)
P=$(as_user mktemp -d "$home/replay.XXXXXX")
as_user mkdir -p "$home/.ssh" "$P/proj"
as_user sh -c "echo key >'$home/.ssh/id'; echo in >'$P/proj/in.txt'"
cd "$P/proj" || exit 1
as_user "$XRUN" -q --store "$P/store" run -o out sh -c "cat in.txt >out/c; ls '$home/.ssh' >out/ssh 2>&1 || true" >/dev/null 2>&1
is "$?" 0 "a run in the user's home"
as_user mv "$P/proj" "$P/moved"
cd / || exit 1
as_user "$XRUN" -q --store "$P/store" replay latest >/dev/null 2>"$T/err"
is "$?" 0 "its replay after the project moved: reproduced"
rep=$(as_user "$XRUN" --store "$P/store" ls --json --limit 1 | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["record"])')
grep -q '^id$' "$(dirname "$rep")/outputs/0/ssh"
ok $((!$?)) "... the home's secrets stay hidden in the room made for it"
[ ! -e "$P/proj" ]
ok $? "... nothing made at the old path"
rm -rf "$P" "$home/.ssh"
done_testing

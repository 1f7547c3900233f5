#!/bin/bash
# A store on a full file system: a clear error, no partial object, and
# the run recorded as failed with the cause.
. "$top_srcdir/tests/integration/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root to mount a small tmpfs"
mkdir -p "$T/small" "$T/work/data"
mount -t tmpfs -o size=4m tmpfs "$T/small" 2>/dev/null ||
	skip_all "cannot mount a tmpfs here"
trap 'umount "$T/small" 2>/dev/null; rm -rf "$T"' EXIT
cd "$T/work" || exit 1
head -c 6000000 /dev/urandom >data/big
printf 'small\n' >data/small
err=$("$XRUN" --store "$T/small/.xrun" run -i data true 2>&1)
is "$?" 125 "a full store: 125"
like "$err" "cannot store '$PWD/data/big' in '$T/small/.xrun': No space left on device; free space there" "... a clear error naming the file"
like "$err" "the program was not started" "... the program did not start"
is "$(find "$T/small/.xrun/tmp" -type f | wc -l)" 0 "no temp file left"
big=$(sha256sum data/big | cut -c1-64)
[ ! -e "$T/small/.xrun/objects/sha256/${big:0:2}/${big:2}" ]
ok $? "no partial object"
rec=$(ls "$T"/small/.xrun/runs/*/record.json)
is "$(jget "$rec" 'd["status"]')" failed "the run is recorded as failed"
like "$(jget "$rec" 'd["result"]["cause"]')" "No space left on device" "... with the cause"
check "the record validates" -- validate "$rec"

# A file of many chunks, whose copy a writer thread of its own writes:
# its error reaches the run just the same.
umount "$T/small" && mount -t tmpfs -o size=4m tmpfs "$T/small" || exit 1
head -c 20000000 /dev/urandom >data/big
err=$("$XRUN" --store "$T/small/.xrun" run -i data true 2>&1)
is "$?" 125 "a full store, a file copied by a writer thread: 125"
like "$err" "cannot store '$PWD/data/big' in '$T/small/.xrun': No space left on device; free space there" "... the same clear error"
is "$(find "$T/small/.xrun/tmp" -type f | wc -l)" 0 "... no temp file left"

cd "$T" && umount "$T/small"
done_testing

#!/bin/bash
# write, fsync and rename failing (EIO, ENOSPC) at every point of a run,
# in the launcher: whatever fails, every record on disk is whole (the old
# version or the new one), and every object in the store matches its name.
. "$top_srcdir/tests/integration/lib.sh"
cd "$T" || exit 1
command -v cc >/dev/null || skip_all "no C compiler to build the fault shim"
case $("$XRUN" --version) in
*asan* | *ubsan*) skip_all "the fault shim and the sanitizers both wrap libc" ;;
esac
cc -shared -fPIC -o "$T/libfaultfs.so" "$top_srcdir/tests/helpers/faultfs.c" -ldl ||
	skip_all "the fault shim does not build here"

echo data >input.txt
"$XRUN" -q run -i input.txt true

runs=0
for call in write fsync rename; do
	for err in EIO ENOSPC; do
		for n in $(seq 1 12); do
			echo "v$n" >input.txt
			FAULT_CALL=$call FAULT_N=$n FAULT_ERRNO=$err LD_PRELOAD="$T/libfaultfs.so" \
				"$XRUN" -q run -i input.txt -o out sh -c 'cat input.txt >out/copy' \
				>/dev/null 2>&1
			runs=$((runs + 1))
		done
	done
done
echo "# $runs runs with a failing $call"
bad=0
n=0
for rec in .xrun/runs/*/record.json; do
	n=$((n + 1))
	"$PYTHON3" -c 'import json,sys; json.load(open(sys.argv[1]))' "$rec" 2>/dev/null || {
		bad=$((bad + 1))
		echo "# does not parse: $rec"
	}
done
is "$bad" 0 "every record on disk parses ($n records)"
check "... and validates" -- validate .xrun/runs/*/record.json
"$XRUN" -q verify --all
is "$?" 0 "every object in the store matches its digest"
"$XRUN" ls >/dev/null 2>&1
is "$?" 0 "the store still lists"
is "$(find .xrun/objects -type f ! -perm -0444 | wc -l)" 0 "nothing half-written sits among the objects"

done_testing

#!/bin/bash
# Hostile records given to show, diff, replay, report, compare and
# metrics: the fuzz corpus's
# records (deep nesting, huge strings, invalid UTF-8, duplicate keys,
# '..' and absolute paths, wrong types) and one whose environment makes
# the loader load code. Each is rejected with a message or shown, never
# a crash, and nothing outside the store is touched.
. "$top_srcdir/tests/integration/lib.sh"
cd "$T" || exit 1

"$XRUN" -q run --no-sandbox -- /bin/true >/dev/null 2>&1
ok $? "a store with one run"
mkdir outside
echo keep >outside/file
snapshot() {
	find "$T" -mindepth 1 -path "$T/.xrun" -prune -o -path "$T/state*" -prune -o \
		-path "$T/.check.out" -prune -o -name hostile.json -prune -o -name out -prune -o -name err -prune -o -printf '%p %s %T@\n' | sort
}
snapshot >state.before

for f in "$top_srcdir"/tests/fuzz/corpus/record/*; do
	name=${f##*/}
	cp "$f" "hostile.json"
	for cmd in "show" "show --json" "diff latest" "diff --all" "replay --dry-run" \
		"report latest" "compare --all latest" "metrics"; do
		args=(hostile.json)
		[ "$cmd" = "diff --all" ] && args=(hostile.json hostile.json)
		# shellcheck disable=SC2086
		"$XRUN" $cmd "${args[@]}" >out 2>err </dev/null
		st=$?
		if [ $st -ge 126 ]; then
			ok 1 "$name: xrun $cmd: no crash (exit $st)"
			sed 's/^/#   /' err | head -n 5
		elif [ $st -ne 0 ] && [ $st -ne 1 ] && [ ! -s err ]; then
			ok 1 "$name: xrun $cmd: exit $st without a message"
		else
			ok 0 "$name: xrun $cmd: exit $st"
		fi
	done
done
rm -f hostile.json out err
snapshot >state.after
check "nothing outside the store was touched" -- diff state.before state.after

# A record that sets LD_PRELOAD / LD_LIBRARY_PATH for its program.
for var in LD_PRELOAD LD_LIBRARY_PATH; do
	"$XRUN" -q run -e "$var=/nonexistent/lib$var.so" -- /bin/true >/dev/null 2>&1
	"$XRUN" replay latest >out 2>err
	is "$?" 125 "replay of a record with $var: refused"
	like "$(cat err)" "sets $var .*--force" "... saying why and what to do"
	"$XRUN" replay --force latest >out 2>err
	st=$?
	ok $((st == 125)) "replay --force of a record with $var: runs (exit $st)"
	like "$(cat err)" "sets $var .*anyway" "... with a warning"
done

# The same LD_LIBRARY_PATH as the replaying shell's (GPU machines set
# one for the driver's libraries) loads nothing new: no --force needed.
LD_LIBRARY_PATH=/nonexistent/gpu-libs "$XRUN" -q run -- /bin/true >/dev/null 2>&1
LD_LIBRARY_PATH=/nonexistent/gpu-libs "$XRUN" replay latest >out 2>err
is "$?" 0 "replay of a record whose LD_LIBRARY_PATH is the shell's own: runs"
LD_LIBRARY_PATH=/nonexistent/other "$XRUN" replay latest >out 2>err
is "$?" 125 "... and is refused where the shell's differs"

# A record whose program is a device or a FIFO: replay says so at once,
# it does not read forever or wait for a writer.
"$XRUN" -q run -- /bin/true >/dev/null 2>&1
rec=$(latest_record)
mkfifo "$T/fifo"
for exe in /dev/zero "$T/fifo"; do
	"$PYTHON3" - "$rec" "$exe" >"$T/evil.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["command"]["executable"]["path"] = sys.argv[2]
d.pop("record_sha256", None)
print(json.dumps(d))
PY
	timeout 10 "$XRUN" replay --force "$T/evil.json" >out 2>err
	st=$?
	ok $((st == 124 || st == 0)) "replay of a record whose program is $exe: refused, not hung (exit $st)"
done

# A record whose id could name a path outside the store is not a record.
"$PYTHON3" - "$rec" >"$T/badid.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["id"] = "../../../../../../../../../tmp/xx"
print(json.dumps(d))
PY
"$XRUN" show "$T/badid.json" >out 2>err
is "$?" 1 "a record whose id is a path: show refuses it"
like "$(cat err)" "malformed \"id\"" "... saying the id is malformed"

done_testing

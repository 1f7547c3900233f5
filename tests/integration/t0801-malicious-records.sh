#!/bin/bash
# Hostile records given to show, diff and replay: the fuzz corpus's
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
	for cmd in "show" "show --json" "diff latest" "diff --all" "replay --dry-run"; do
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

done_testing

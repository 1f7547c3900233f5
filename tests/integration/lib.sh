# Shared by the integration tests: TAP output, a scratch directory, the
# binary under test, record validation and an unprivileged user.
# shellcheck shell=bash

set -u
: "${XRUN:?XRUN must point to the xrun binary (make check sets it)}"
: "${top_srcdir:?top_srcdir must be set (make check sets it)}"
PYTHON3=${PYTHON3:-/usr/bin/python3}
XRUN_SCHEMA=${XRUN_SCHEMA:-$top_srcdir/schemas/run-record.schema.json}
unset XRUN_STORE

# VALGRIND=1: xrun under valgrind (tests/valgrind-wrap.sh says which
# commands), through a wrapper that the tests run as "$XRUN".
if [ "${VALGRIND:-0}" != 0 ] && [ -n "${VALGRIND:-}" ]; then
	command -v valgrind >/dev/null 2>&1 ||
		{ echo "1..0 # SKIP VALGRIND=1 but valgrind is not installed"; exit 0; }
	_vg_dir=$(mktemp -d "${TMPDIR:-/tmp}/xrun-vg.XXXXXX")
	chmod 755 "$_vg_dir"
	printf '#!/bin/sh\nexec /bin/sh %s %s "$@"\n' \
		"$top_srcdir/tests/valgrind-wrap.sh" "$XRUN" >"$_vg_dir/xrun"
	chmod 755 "$_vg_dir/xrun"
	XRUN_REAL=$XRUN
	XRUN=$_vg_dir/xrun
	export XRUN_REAL
fi

_tap_n=0
_tap_failed=0

plan() { echo "1..$1"; }
skip_all() {
	echo "1..0 # SKIP $*"
	exit 0
}
ok() {
	# ok CONDITION-STATUS DESCRIPTION: pass when the status is 0.
	local st=$1
	shift
	_tap_n=$((_tap_n + 1))
	if [ "$st" -eq 0 ]; then
		echo "ok $_tap_n - $*"
	else
		echo "not ok $_tap_n - $*"
		_tap_failed=$((_tap_failed + 1))
	fi
}
check() {
	# check DESCRIPTION -- COMMAND...: pass when COMMAND succeeds.
	local desc=$1
	shift
	[ "$1" = -- ] && shift
	"$@" >"$T/.check.out" 2>&1
	local st=$?
	ok $st "$desc"
	[ $st -eq 0 ] || sed 's/^/#   /' "$T/.check.out" | head -n 20
}
is() {
	# is GOT EXPECTED DESCRIPTION
	local got=$1 want=$2
	shift 2
	if [ "$got" = "$want" ]; then
		ok 0 "$*"
	else
		ok 1 "$*"
		echo "#   got:      '$got'"
		echo "#   expected: '$want'"
	fi
}
like() {
	# like TEXT REGEX DESCRIPTION
	local text=$1 re=$2
	shift 2
	if printf '%s' "$text" | grep -q -E -e "$re"; then
		ok 0 "$*"
	else
		ok 1 "$*"
		printf '%s\n' "$text" | head -n 10 | sed 's/^/#   got: /'
		echo "#   expected to match: $re"
	fi
}
done_testing() {
	echo "1..$_tap_n"
	rm -rf "$T"
	[ "$_tap_failed" -eq 0 ]
}

# A scratch directory that an unprivileged user can enter as well.
T=$(mktemp -d "${TMPDIR:-/tmp}/xrun-test.XXXXXX")
chmod 755 "$T"
trap 'rm -rf "$T" ${_vg_dir:+"$_vg_dir"}' EXIT

# jget FILE EXPR: a value from a JSON file, through Python (Debian's).
jget() {
	"$PYTHON3" -c '
import json, sys
d = json.load(open(sys.argv[1]))
v = eval(sys.argv[2], {"d": d})
print(json.dumps(v) if not isinstance(v, str) else v)
' "$1" "$2"
}

# validate RECORD...: the records validate against the schema.
validate() {
	"$PYTHON3" "$top_srcdir/tests/validate-record.py" "$XRUN_SCHEMA" "$@"
}

# latest_record: the record path of the newest run (in the cwd's store).
latest_record() {
	"$XRUN" ls --json --limit 1 |
		"$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["record"])'
}

# wait_for FILE TEXT: until FILE holds TEXT (at most 10 s).
wait_for() {
	# wait_for FILE PATTERN: until FILE has PATTERN, at most 60 s (a
	# loaded machine, make -j, can take seconds to start a sandbox)
	for _ in $(seq 600); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# An unprivileged user for the tests that matter to ordinary users.
TEST_USER=xrun-test
have_test_user() {
	[ "$(id -u)" = 0 ] || return 1
	if ! id "$TEST_USER" >/dev/null 2>&1; then
		useradd --system --create-home --shell /bin/sh "$TEST_USER" >/dev/null 2>&1 ||
			return 1
	fi
	command -v setpriv >/dev/null 2>&1
}
# as_user CMD...: run CMD as the test user with a clean HOME.
as_user() {
	local home
	home=$(getent passwd "$TEST_USER" | cut -d: -f6)
	setpriv --reuid="$TEST_USER" --regid="$TEST_USER" --init-groups \
		env HOME="$home" USER="$TEST_USER" LOGNAME="$TEST_USER" "$@"
}
# run_as root|user COMMAND...: as root, or as the test user.
run_as() {
	local who=$1
	shift
	if [ "$who" = root ]; then "$@"; else as_user "$@"; fi
}

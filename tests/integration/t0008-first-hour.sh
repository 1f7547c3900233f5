#!/bin/bash
# What a new user meets in the first hour on a fresh clone (issue 23):
# the build's own set-up, the example run in a git work tree, the
# messages for the first mistakes.
. "$top_srcdir/tests/integration/lib.sh"
cd "$T" || exit 1

# autoreconf warns "couldn't open directory 'm4'" when configure.ac names
# a macro directory that the tree does not have.
m4dir=$(sed -n 's/^AC_CONFIG_MACRO_DIRS\{0,1\}(\[\{0,1\}\([^])]*\).*/\1/p' "$top_srcdir/configure.ac")
if [ -z "$m4dir" ] || [ -d "$top_srcdir/$m4dir" ]; then
	ok 0 "configure.ac names no macro directory that the tree lacks"
else
	ok 1 "configure.ac names no macro directory that the tree lacks ('$m4dir')"
fi
grep -q -- '-I m4' "$top_srcdir/Makefile.am" && [ ! -d "$top_srcdir/m4" ]
ok $((!$?)) "Makefile.am's ACLOCAL_AMFLAGS names no missing directory"

# The README's first command, in a clone: the example run leaves the
# work tree clean (out/ and .xrun/ are ignored).
if [ ! -f "$top_srcdir/.gitignore" ] || ! command -v git >/dev/null; then
	ok 0 "# SKIP no .gitignore here (a release tarball) or no git"
else
	mkdir clone && cd clone || exit 1
	cp "$top_srcdir/.gitignore" .gitignore
	mkdir examples && cp "$top_srcdir/examples/train.py" examples/
	git init -q . && git add -A &&
		git -c user.name=t -c user.email=t@t commit -q -m init
	PATH=/usr/bin:/bin "$XRUN" -q run -p lr=0.05 -p epochs=2 -o out examples/train.py >/dev/null 2>&1
	is "$?" 0 "the README's example run succeeds in a clone"
	is "$(git status --porcelain)" "" "... and leaves 'git status' clean"
	cd "$T" || exit 1
fi

# XRUN_PARAM_<KEY> keeps the key's case; the help, the README and the
# man page say so, and the program sees it that way.
help=$("$XRUN" run --help)
like "$help" 'XRUN_PARAM_<KEY> with KEY.s case' "run --help says XRUN_PARAM_<KEY> keeps the key's case"
like "$help" 'XRUN_PARAM_lr' "... with an example"
grep -q 'XRUN_PARAM_lr' "$top_srcdir/doc/xrun.1"
ok $? "xrun(1) says so"
grep -q 'XRUN_PARAM_lr' "$top_srcdir/README"
ok $? "the README says so"
out=$("$XRUN" -q run -p lr=0.1 -- /bin/sh -c 'echo "lr=${XRUN_PARAM_lr-unset} LR=${XRUN_PARAM_LR-unset}"')
is "$out" "lr=0.1 LR=unset" "the program sees XRUN_PARAM_lr, not XRUN_PARAM_LR"

# -p without '=VALUE' says that the value is missing, not that the key
# is bad.
err=$("$XRUN" run -p lr -- true 2>&1)
is "$?" 125 "run -p lr (no '='): 125"
like "$err" "-p takes KEY=VALUE: 'lr' has no '=VALUE'" "... says the '=VALUE' is missing"
err=$("$XRUN" sweep -p lr -- true 2>&1)
is "$?" 125 "sweep -p lr (no '='): 125"
like "$err" "-p takes KEY=V1,V2,…: 'lr' has no '=VALUES'" "... says the '=VALUES' are missing"
err=$("$XRUN" run -p 'l r=1' -- true 2>&1)
like "$err" "with a key of letters, digits" "a bad key still says what a key is"

# Reals in their shortest form (what Python's repr gives): -p lr=0.05 is
# 0.05 everywhere, not 0.050000000000000003, also beside a real that needs
# all 17 digits.
mkdir reals && cd reals || exit 1
out=$("$XRUN" -q run --seed 1 -p lr=0.05 -p sum=0.30000000000000004 -p one=1.0 \
	-- /bin/sh -c 'cat "$XRUN_PARAMS"; echo "env=$XRUN_PARAM_lr"')
like "$out" '"lr": 0.05,?$' "params.json says 0.05"
like "$out" '"sum": 0.30000000000000004' "... and 0.30000000000000004 in full"
like "$out" '"one": 1.0' "... and 1.0 stays a real"
like "$out" 'env=0.05' "XRUN_PARAM_lr is 0.05"
rec=$(latest_record)
check "the record validates" -- validate "$rec"
grep -qE '"lr": 0\.05,?$' "$rec" && ! grep -q 0.050000000000000003 "$rec"
ok $? "the record says 0.05"
"$XRUN" -q run --seed 1 -p lr=0.1 -p sum=0.30000000000000004 -p one=1.0 -- true
# Every real in a --json output as Python's repr writes it (within the
# range where repr and %.15g..%.17g agree on the notation).
shortest() {
	"$PYTHON3" -c '
import re, sys
text = sys.stdin.read()
bad = []
for m in re.finditer(r"\"(?:[^\"\\]|\\.)*\"|(-?[0-9][-+0-9.eE]*)", text):
    t = m.group(1)
    if t and re.search("[.eE]", t) and 1e-4 <= abs(float(t)) < 1e15:
        if repr(float(t)) != t:
            bad.append(t)
print(" ".join(bad))
sys.exit(1 if bad else 0)'
}
for cmd in "show --json latest~1" "ls --json" "diff --json latest~1 latest"; do
	# shellcheck disable=SC2086
	out=$("$XRUN" $cmd)
	bad=$(printf '%s' "$out" | shortest)
	is "$bad" "" "xrun $cmd prints every real as Python's repr would"
done
out=$("$XRUN" diff --json latest~1 latest)
like "$out" '": 0\.05,?$' "xrun diff --json says 0.05"
out=$("$XRUN" diff latest~1 latest)
like "$out" 'lr +0\.05 → 0\.1' "xrun diff says lr 0.05 → 0.1"
# A record from before: 17 digits, and a digest over them. It still
# replays without "was changed".
"$PYTHON3" "$top_srcdir/tests/integration/old-reals.py" "$rec"
grep -qE '"lr": 0\.050000000000000003,?$' "$rec"
ok $? "(the record now reads as an older xrun wrote it)"
err=$("$XRUN" replay "$rec" 2>&1)
is "$?" 0 "a record with 17-digit reals replays"
if printf '%s' "$err" | grep -q 'was changed'; then
	ok 1 "... and its digest still matches"
else
	ok 0 "... and its digest still matches"
fi
cd "$T" || exit 1

# The sandbox's /sys/class/net is the run's network namespace's (only
# lo), not the host's; its /run holds what the README says. As root and as
# the test user; and where the kernel refuses a new sysfs (the host's /sys
# has a masked path, as in a container), the entries are empty.
mkdir -p sys && chmod 777 sys && cd sys || exit 1
host_net=$(ls /sys/class/net | tr '\n' ' ')
probe='ls /sys/class/net | tr "\n" " "; echo "|"; ls /sys/devices/virtual/net | tr "\n" " "; echo "|"; ls -A /run | tr "\n" " "'
sys_cases() {
	local who=$1
	shift
	local out
	out=$("$@" "$XRUN" -q --store "$PWD/store" run -- /bin/sh -c "$probe" 2>&1)
	is "$out" "lo |
lo |
lock shm " "$who: /sys/class/net and /sys/devices/virtual/net show only lo; /run holds lock and shm"
	out=$("$@" "$XRUN" -q --store "$PWD/store" run --net -- /bin/sh -c 'ls /sys/class/net | tr "\n" " "' 2>&1)
	is "$out" "$host_net" "$who: with --net, the host's interfaces"
	out=$("$@" "$XRUN" -q --store "$PWD/store" run -- /bin/sh -c 'touch /sys/class/net/x 2>/dev/null && echo writable; cat /sys/class/net/lo/address' 2>&1)
	is "$out" "00:00:00:00:00:00" "$who: lo's entries are there, read-only"
}
if [ ! -d /sys/class/net ]; then
	ok 0 "# SKIP no /sys/class/net on the host"
else
	sys_cases root
	rec=$("$XRUN" --store "$PWD/store" ls --json --limit 1 |
		"$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["record"])')
	check "the record validates" -- validate "$rec"
	is "$(jget "$rec" '[m["dest"] for m in d["sandbox"]["mounts"] if m["type"] == "net-sysfs"]')" \
		'["/sys/class/net", "/sys/devices/virtual/net"]' "the record's mount plan names both"
	if have_test_user && as_user "$XRUN" -q --store "$PWD/store-probe" run -- true >/dev/null 2>&1; then
		rm -rf store
		sys_cases "test user" as_user
	else
		for _ in 1 2 3; do
			ok 0 "# SKIP no test user, or it cannot make a sandbox here (user namespaces)"
		done
	fi
	# A masked path in the host's /sys (a tmpfs over /sys/firmware, as a
	# container has): the kernel refuses a sysfs in a user namespace.
	masked() {
		"$@" unshare -m --propagation private /bin/sh -c \
			'mount -t tmpfs tmpfs /sys/firmware && exec "$0" "$@"' \
			"$XRUN" -q --store "$PWD/store" run -- /bin/sh -c "$probe" 2>&1
	}
	if [ "$(id -u)" = 0 ] && [ -d /sys/firmware ] && command -v unshare >/dev/null; then
		rm -rf store
		is "$(masked)" "|
|
lock shm " "root, /sys masked: the host's interfaces are hidden all the same"
		if have_test_user && as_user unshare -Ur true 2>/dev/null; then
			# The test user in a user namespace of its own (a rootless
			# container).
			rm -rf store
			is "$(masked as_user unshare -Ur)" "|
|
lock shm " "test user, /sys masked: the host's interfaces are hidden all the same"
		else
			ok 0 "# SKIP no test user, or no user namespaces for it"
		fi
	else
		ok 0 "# SKIP needs root, /sys/firmware and unshare"
		ok 0 "# SKIP needs root, /sys/firmware and unshare"
	fi
fi
cd "$T" || exit 1

# A workspace over the limit: the message names what made it big (as du
# would, followed down into the directory that holds most of it) and says
# what to do: --input, .gitignore in a git work tree. As root and as the
# test user.
big_cases() {
	local who=$1
	shift
	rm -rf big && mkdir -p big/data/train big/data/val big/src && cd big || return
	head -c 3000000 /dev/zero >data/train/shard0.bin
	head -c 100000 /dev/zero >data/val/shard0.bin
	head -c 900000 /dev/zero >model.pt
	echo 'print(1)' >src/train.py
	[ -n "$*" ] && chown -R "$TEST_USER:" .
	local err
	err=$("$@" "$XRUN" --store "$T/bigws/store-${who% *}" run --workspace-limit 1M -- true 2>&1)
	is "$?" 125 "$who: a workspace over the limit: 125"
	like "$err" "holds more than 1.0 MiB.*the largest: 'data/train/shard0.bin' 2.9 MiB, 'model.pt' 878.9 KiB;" \
		"$who: ... names the largest entries, data/ followed down to its big file"
	if printf '%s' "$err" | grep -q "src/train.py"; then
		ok 1 "$who: ... and not the small ones"
	else
		ok 0 "$who: ... and not the small ones"
	fi
	like "$err" "declare big data with --input PATH" "$who: ... suggests --input"
	"$@" git init -q . && echo model.pt >.gitignore && [ -z "$*" ] || chown -R "$TEST_USER:" .
	err=$("$@" "$XRUN" --store "$T/bigws/store-${who% *}" run --workspace-limit 1M -- true 2>&1)
	like "$err" "the largest: 'data/train/shard0.bin' 2.9 MiB;" \
		"$who: in a git work tree, an ignored file is not named"
	like "$err" "list what the run does not read in .gitignore" "$who: ... and .gitignore is suggested"
	cd .. || return
}
mkdir -p bigws && chmod 777 bigws && cd bigws || exit 1
big_cases root
if have_test_user && command -v git >/dev/null; then
	big_cases "test user" as_user
else
	ok 0 "# SKIP no test user or no git"
fi
cd "$T" || exit 1

# A repository that another user owns: git refuses it (safe.directory),
# and the warning says so and how to trust it, not "Input/output error".
# The test user on root's repository, and root on the test user's; the
# fix the message gives then works.
safe_case() {
	local who=$1 owner=$2 home=$3
	shift 3
	rm -rf "$T/safe/repo" && mkdir -p "$T/safe/repo" && cd "$T/safe/repo" || return
	git init -q . && echo x >a && git add a &&
		git -c user.name=t -c user.email=t@t commit -q -m init
	chown -R "$owner" . && chmod -R a+rX .
	local err
	err=$("$@" env HOME="$home" "$XRUN" -q --store "$T/safe/store-${who% *}" run -- true 2>&1)
	is "$?" 0 "$who, another user's repository: the run goes on"
	like "$err" "git refuses the work tree '$T/safe/repo': it belongs to another user \(git's safe.directory check\)" \
		"$who: ... the warning names git's safe.directory check"
	like "$err" "git config --global --add safe.directory '$T/safe/repo'" "$who: ... and gives the fix"
	if printf '%s' "$err" | grep -q "Input/output error"; then
		ok 1 "$who: ... not 'Input/output error'"
	else
		ok 0 "$who: ... not 'Input/output error'"
	fi
	"$@" env HOME="$home" git config --global --add safe.directory "$T/safe/repo"
	err=$("$@" env HOME="$home" "$XRUN" -q --store "$T/safe/store-${who% *}" run -- true 2>&1)
	is "$err" "" "$who: after the fix, no warning"
	cd "$T" || return
}
if have_test_user && command -v git >/dev/null; then
	mkdir -p "$T/safe/home-root" "$T/safe/home-user" "$T/safe/store-test" &&
		chmod 755 "$T/safe" && chown "$TEST_USER:" "$T/safe/home-user" "$T/safe/store-test"
	safe_case "test user" 0:0 "$T/safe/home-user" as_user
	safe_case root "$TEST_USER:" "$T/safe/home-root"
else
	ok 0 "# SKIP needs root, the test user and git"
fi

# build-aux/install-deps: the first README command installs what building
# and running need, not the test tool chain; --test adds it, and the
# README's test command and .ci/run use --test.
deps=$top_srcdir/build-aux/install-deps
base=$(sh "$deps" --list | tr '\n' ' ')
all=$(sh "$deps" --test --list | tr '\n' ' ')
like "$base" "libseccomp-dev .*git python3" "install-deps: what building and running need"
for p in slurm-wlm munge clang valgrind cppcheck python3-sklearn python3-torch faketime python3-jsonschema; do
	case " $base " in *" $p "*) ok 1 "install-deps leaves out $p" ;; *) ok 0 "install-deps leaves out $p" ;; esac
	case " $all " in *" $p "*) ok 0 "install-deps --test adds $p" ;; *) ok 1 "install-deps --test adds $p" ;; esac
done
for p in $base; do
	case " $all " in *" $p "*) ;; *) ok 1 "install-deps --test has $p too" ;; esac
done
readme=$(grep -E '^    \./build-aux/install-deps' "$top_srcdir/README")
like "$(printf '%s\n' "$readme" | sed -n 1p)" '^    \./build-aux/install-deps && .*xrun run' "the README's first command: install-deps without --test"
like "$(printf '%s\n' "$readme" | sed -n 2p)" '^    \./build-aux/install-deps --test && .*make -j2 check' "the README's test command: --test"
if [ -f "$top_srcdir/.ci/run" ]; then
	grep -q '^\./build-aux/install-deps --test' "$top_srcdir/.ci/run"
	ok $? ".ci/run uses --test"
fi
sh "$deps" --bogus 2>/dev/null
is "$?" 2 "install-deps refuses an unknown option"

done_testing

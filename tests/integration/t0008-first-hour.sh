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

done_testing

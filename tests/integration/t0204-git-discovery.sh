#!/bin/bash
# One git work tree for the store's place, the pinned workspace and the
# record's source section (src/git.c), where the three used to find it
# by three rules and run git in three environments.
. "$top_srcdir/tests/integration/lib.sh"
command -v git >/dev/null || skip_all "git is not installed"
cd "$T" || exit 1
g() { git -c user.name=t -c user.email=t@t "$@"; }

mkdir a b
(cd a && git init -q . && echo in-a >a.txt && git add a.txt && g commit -q -m a)
(cd b && git init -q . && echo in-b >b.txt && git add b.txt && g commit -q -m b)

# GIT_DIR and GIT_WORK_TREE in the caller's environment name another
# repository: git ls-files used to list b's files for a's workspace, so
# the run did not see a.txt, while the source section recorded a.
cd a || exit 1
out=$(GIT_DIR=$T/b/.git GIT_WORK_TREE=$T/b "$XRUN" -q run -- cat a.txt 2>&1)
is "$?" 0 "GIT_DIR/GIT_WORK_TREE set to another repository: the run sees its own workspace"
is "$out" "in-a" "... with a.txt in it"
rec=$(latest_record)
is "$(jget "$rec" 'd["source"]["git"]["toplevel"]')" "$T/a" "the source section names the same work tree"
is "$(jget "$rec" 'd["source"]["workspace"]["path"]')" "$T/a" "... as the workspace"
is "$(jget "$rec" 'd["source"]["workspace"]["listed_by"]')" "git" "... listed by git"
is "$(jget "$rec" 'd["source"]["workspace"]["files"]')" "1" "... a's one file, not b's"
[ -d "$T/a/.xrun" ] && [ ! -e "$T/b/.xrun" ]
ok $? "the store went beside a's .git, not b's"
cd "$T" || exit 1

# A directory of another file system below a work tree (a mount): git
# stops at the boundary, and so do the store, the workspace and the
# source section now (the store and the workspace used to cross it).
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
	mkdir m && (cd m && git init -q . && echo m >m.txt && git add m.txt && g commit -q -m m)
	mkdir m/mnt
	out=$(unshare -m --propagation private /bin/sh -c '
		mount -t tmpfs tmpfs "$1/m/mnt" || exit 99
		cd "$1/m/mnt" && echo x >f.txt &&
		"$2" -q run -- /bin/true &&
		"$2" show --json latest >"$1/mnt-record.json" &&
		ls -A "$1/m/mnt" | tr "\n" " "' sh "$T" "$XRUN" 2>&1)
	rec=$T/mnt-record.json
	like "$out" '^\.xrun f\.txt $' "cwd on another file system in a work tree: the store is made in cwd"
	is "$(jget "$rec" 'd["source"]["git"]')" "null" "... the source section has no git"
	is "$(jget "$rec" 'd["source"]["workspace"]["path"]')" "$T/m/mnt" "... and the workspace is cwd"
	[ ! -e "$T/m/.xrun" ]
	ok $? "... and no store beside m's .git"
else
	ok 0 "# SKIP needs root and unshare"
	ok 0 "# SKIP needs root and unshare"
	ok 0 "# SKIP needs root and unshare"
	ok 0 "# SKIP needs root and unshare"
fi

# A dangling .git link is no work tree for git; the store and the
# workspace used to take it for one.
mkdir c && cd c || exit 1
ln -s /nonexistent/.git .git
echo x >c.txt
err=$("$XRUN" -q run -- /bin/true 2>&1)
is "$err" "" "a dangling .git link: no warning (git ls-files is not asked)"
rec=$(latest_record)
is "$(jget "$rec" 'd["source"]["git"]')" "null" "... no git in the source section"
is "$(jget "$rec" 'd["source"]["workspace"]["path"]')" "$T/c" "... the workspace is cwd"
[ -d "$T/c/.xrun" ]
ok $? "... and the store is made there"
cd "$T" || exit 1

done_testing

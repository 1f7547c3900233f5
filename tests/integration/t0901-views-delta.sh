#!/bin/bash
# Delta views (issue 22, doc/store-format.md "Views"): after a few
# entries of a pinned tree change (a file changed, added, deleted, its
# mode changed; a directory added, removed, its mode changed), the
# run's view is a delta: only what changed and a whiteout for what went,
# laid by a read-only overlayfs over the previous view. The run sees
# exactly the new tree; a chain of deltas past four is made whole again;
# gc keeps the views a kept one is layered on and removes them after;
# replays of the earlier runs see their own trees; XRUN_VIEW_DELTA=off
# and a kernel that refuses the overlay get whole views (by links). As
# root and as an ordinary user.
. "$top_srcdir/tests/integration/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "runs as root (and as $TEST_USER through setpriv)"

# make_tree DIR N: N small files of distinct bytes in a few directories.
make_tree() {
	"$PYTHON3" - "$@" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    sub = os.path.join(d, "d%02d" % (i % 9))
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, "f%05d" % i), "w") as f:
        f.write("file %d\n" % i)
os.makedirs(os.path.join(d, "gone", "deep"))
for name in ("gone/a", "gone/deep/b"):
    with open(os.path.join(d, name), "w") as f:
        f.write(name + "\n")
PY
}

# The listing a run compares (from the working directory, which the
# sandbox shows): every entry's type, mode and path, and every file's
# sha256.
write_list() {
	cat >"$1/list.sh" <<'EOF'
cd "$1" || exit 1
find . -printf '%y %m %p\n' | LC_ALL=C sort
find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
EOF
}

# view_of RECORD PATH: the mount type and source of PATH's view.
view_of() {
	"$PYTHON3" - "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for m in d["sandbox"]["mounts"]:
    if m["dest"] == sys.argv[2]:
        print(m["type"], m.get("source", ""))
PY
}

# sees WHO W TAG: a run lists the tree; it must be the host's listing.
sees() {
	local who=$1 w=$2 tag=$3
	shift 3
	sh "$w/work/list.sh" "$w/data" >"$w/host-$tag.txt"
	run_as "$who" "$@" "$XRUN" run -i "$w/data" -o "$w/out" -- \
		sh -c "sh list.sh $w/data >$w/out/list.txt" 2>"$w/err-$tag.txt"
	cmp -s "$w/host-$tag.txt" "$w/out/list.txt"
}

scenario() {
	local who=$1 w=$T/$1
	mkdir -p "$w/work" "$w/out" && cd "$w/work" || exit 1
	make_tree "$w/data" 3000
	write_list "$w/work"
	[ "$who" = user ] && chown -R "$TEST_USER:" "$w"
	local views=.xrun/tmp/views

	sees "$who" "$w" 0
	ok $? "$who: the first run sees the tree"
	id0=$(latest_record)
	read -r type src < <(view_of "$id0" "$w/data")
	is "$type" ro-bind "$who: ... through a plain view (a bind)"

	# 1. a file changed, one added, one deleted, a directory (and what
	#    it holds) removed, a file's and a directory's mode changed, a
	#    directory added
	run_as "$who" sh -c "cd $w/data && echo changed >d01/f00001 && echo added >d02/added && rm d03/f00003 && rm -r gone && chmod 755 d04/f00004 && chmod 700 d05 && mkdir -p new/sub && echo n >new/sub/n"
	sees "$who" "$w" 1
	ok $? "$who: after a change the run sees exactly the new tree"
	id1=$(latest_record)
	validate "$id1" >/dev/null 2>&1
	ok $? "$who: ... its record validates"
	read -r type src < <(view_of "$id1" "$w/data")
	is "$type" ro-overlay "$who: ... through a delta view (an overlay)"
	n=$(find "$src" | wc -l)
	[ "$n" -lt 20 ]
	ok $? "$who: ... which holds few entries ($n)"
	is "$(find "$src" -type c | wc -l)" 2 "$who: ... whiteouts for the deleted file and directory"
	base=$(cat "$(dirname "$src")/base")
	[ -d "$views/$base/v" ]
	ok $? "$who: ... and names its base view"
	sees "$who" "$w" 1b
	ok $? "$who: a second run of the same tree takes the same delta"
	[ "$(view_of "$(latest_record)" "$w/data")" = "ro-overlay $src" ]
	ok $? "$who: ... (the same view)"

	# 2. a chain: deltas on deltas (each adds a file), the fifth change
	#    made whole
	for k in 2 3 4 5; do
		run_as "$who" sh -c "echo chain $k >$w/data/d06/f0000$k"
		sees "$who" "$w" "$k"
		ok $? "$who: change $k: the run sees the new tree"
		read -r type src < <(view_of "$(latest_record)" "$w/data")
		if [ "$k" -lt 5 ]; then
			is "$type" ro-overlay "$who: change $k: a delta view"
		else
			is "$type" ro-bind "$who: change $k: past four deltas, a whole view"
			[ ! -e "$(dirname "$src")/base" ] && [ "$(find "$src" -type f | wc -l)" -eq 3005 ]
			ok $? "$who: ... holding every file ($(find "$src" -type f | wc -l))"
		fi
	done

	# 3. replays of the earlier runs see their own trees
	run_as "$who" "$XRUN" -q replay "$(jget "$id0" 'd["id"]')" >/dev/null 2>"$w/err-r0.txt"
	ok $? "$who: the replay of the first run matches (its plain view)"
	run_as "$who" "$XRUN" -q replay "$(jget "$id1" 'd["id"]')" >/dev/null 2>"$w/err-r1.txt"
	ok $? "$who: the replay of the delta run matches (its delta view)"
	[ $? = 0 ] || sed 's/^/#   /' "$w/err-r1.txt"

	# 4. XRUN_VIEW_DELTA=off: a delta view already made is not mounted
	#    (the run makes a whole view of its own), a new change is made
	#    whole
	run_as "$who" sh -c "echo back >$w/data/d06/f00002"
	sees "$who" "$w" 6
	read -r type src6 < <(view_of "$(latest_record)" "$w/data")
	is "$type" ro-overlay "$who: change 6: a delta view again"
	sees "$who" "$w" 6b env XRUN_VIEW_DELTA=off
	ok $? "$who: XRUN_VIEW_DELTA=off: the run of that tree sees it"
	read -r type src < <(view_of "$(latest_record)" "$w/data")
	[ "$type" = ro-bind ] && [ "$src" != "$src6" ]
	ok $? "$who: ... through a whole view of its own"
	run_as "$who" sh -c "echo off >$w/data/d06/f00003"
	sees "$who" "$w" 7 env XRUN_VIEW_DELTA=off
	ok $? "$who: XRUN_VIEW_DELTA=off: after a change the run sees the tree"
	read -r type src < <(view_of "$(latest_record)" "$w/data")
	[ "$type" = ro-bind ] && [ ! -e "$(dirname "$src")/base" ]
	ok $? "$who: ... through a whole view"

	# 5. a kernel that refuses the overlay (as the cached probe says):
	#    a whole view and a warning
	uid=$(run_as "$who" id -u)
	boot=$(cat /proc/sys/kernel/random/boot_id)
	run_as "$who" sh -c "echo '$boot 95' >.xrun/cache/layers-$uid-v1"
	run_as "$who" sh -c "echo refused >$w/data/d06/f00004"
	sees "$who" "$w" 8
	ok $? "$who: overlayfs refused: the run sees the new tree"
	read -r type src < <(view_of "$(latest_record)" "$w/data")
	[ "$type" = ro-bind ] && [ ! -e "$(dirname "$src")/base" ]
	ok $? "$who: ... through a whole view"
	like "$(cat "$w/err-8.txt")" "overlayfs cannot layer a view" "$who: ... and says so"
	run_as "$who" rm .xrun/cache/layers-$uid-v1

	# 6. gc keeps the views a kept delta is layered on, then removes them
	run_as "$who" sh -c "echo gc >$w/data/d06/f00005"
	sees "$who" "$w" 9
	read -r type top < <(view_of "$(latest_record)" "$w/data")
	is "$type" ro-overlay "$who: change 9: a delta view"
	top=$(basename "$(dirname "$top")")
	base=$(cat "$views/$top/base")
	run_as "$who" find "$views" -mindepth 1 -maxdepth 1 -exec touch -h -d '2 days ago' {} +
	run_as "$who" touch "$views/$top"
	run_as "$who" "$XRUN" gc --grace 1h >/dev/null 2>&1
	[ -d "$views/$top/v" ] && [ -d "$views/$base/v" ]
	ok $? "$who: gc keeps a delta taken within the grace and its base"
	is "$(find "$views" -mindepth 1 -maxdepth 1 | wc -l)" 2 "$who: ... and removes the other views"
	run_as "$who" "$XRUN" gc --grace 0 >/dev/null 2>&1
	[ ! -e "$views/$top" ] && [ ! -e "$views/$base" ]
	ok $? "$who: gc --grace 0 removes both after"
	sees "$who" "$w" 10
	ok $? "$who: a run after gc sees the tree (its view made anew)"
	run_as "$who" "$XRUN" -q verify >/dev/null 2>&1
	ok $? "$who: verify: the store is intact"
}

# In a home directory (which the sandbox makes private, showing what is
# pinned in it): the delta view is shown there too.
home_case() {
	local home h
	home=$(getent passwd "$TEST_USER" | cut -d: -f6)
	h=$home/t0901-$$
	as_user mkdir -p "$h/data/a" "$h/work"
	as_user sh -c "for i in \$(seq 40); do echo \$i >$h/data/a/f\$i; done"
	write_list "$h/work"
	chown "$TEST_USER:" "$h/work/list.sh"
	sleep 2
	(cd "$h/work" && as_user "$XRUN" -q run -i "$h/data" -- true)
	as_user sh -c "echo changed >$h/data/a/f1; rm $h/data/a/f2"
	sh "$h/work/list.sh" "$h/data" >"$T/home-host.txt"
	(cd "$h/work" && as_user "$XRUN" -q run -i "$h/data" -- sh list.sh "$h/data") >"$T/home-run.txt" 2>&1
	cmp -s "$T/home-host.txt" "$T/home-run.txt"
	ok $? "user: a tree in the home directory: after a change the run sees it"
	read -r type _ < <(cd "$h/work" && view_of "$(latest_record)" "$h/data")
	is "$type" ro-overlay "user: ... through a delta view"
	rm -rf "$h"
}

# A view with a mount point left in it (an output inside the tree) is
# no base for a delta: the next run would see the mount point.
holes_case() {
	local h=$T/holes
	mkdir -p "$h/data/a" "$h/work" && cd "$h/work" || exit 1
	for i in $(seq 40); do echo "$i" >"$h/data/a/f$i"; done
	write_list "$h/work"
	sleep 2
	"$XRUN" -q run -i "$h/data" -o "$h/data/out" -- sh -c "echo o >$h/data/out/o" >/dev/null 2>&1
	rm -rf "$h/data/out"
	echo changed >"$h/data/a/f1"
	sh list.sh "$h/data" >"$T/holes-host.txt"
	"$XRUN" -q run -i "$h/data" -- sh list.sh "$h/data" >"$T/holes-run.txt" 2>&1
	cmp -s "$T/holes-host.txt" "$T/holes-run.txt"
	ok $? "root: after a run with an output inside the tree, a change: the run sees the tree, without the output's mount point"
	read -r type _ < <(view_of "$(latest_record)" "$h/data")
	is "$type" ro-bind "root: ... through a whole view"
}

scenario root
holes_case
if have_test_user; then
	scenario user
	home_case
else
	ok 0 "# SKIP no test user"
fi
done_testing

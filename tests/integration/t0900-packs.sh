#!/bin/bash
# Packed small objects (issue 22, doc/store-format.md): a pin's small
# files go into one pack and its index, not a file each; the sandbox
# sees them read-only at their path; outputs checked out of packs are
# the run's bytes; 16 runs pinning overlapping trees at once leave every
# object readable; a launcher killed with -9 while it writes a pack
# leaves a store that verifies; gc rewrites packs without what no run
# references and keeps what one does; a store made before packs (loose
# objects only) still replays. As root and as an ordinary user.
. "$top_srcdir/tests/integration/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "runs as root (and as $TEST_USER through setpriv)"

# make_tree DIR N TAG: N small files of distinct bytes (TAG in each),
# in a few subdirectories.
make_tree() {
	"$PYTHON3" - "$@" <<'PY'
import os, sys
d, n, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for i in range(n):
    sub = os.path.join(d, "d%02d" % (i % 7))
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, "f%05d" % i), "w") as f:
        f.write("%s file %d\n" % (tag, i) * (1 + i % 50))
PY
}

n_loose() { find "$1/.xrun/objects/sha256" -type f | wc -l; }
n_idx() { find "$1/.xrun/objects/packs" -name '*.idx' 2>/dev/null | wc -l; }

scenario() {
	local who=$1 w=$T/$1
	mkdir -p "$w/work" && cd "$w/work" || exit 1
	[ "$who" = user ] && chown -R "$TEST_USER:" "$w"
	run_as "$who" mkdir "$w/data"
	run_as "$who" bash -c "$(declare -f make_tree); PYTHON3=$PYTHON3 make_tree $w/data 300 $who"
	run_as "$who" sh -c "head -c 400000 /dev/urandom >$w/data/big.bin"
	want=$(cd "$w/data" && find . -type f | sort | xargs sha256sum | sha256sum)
	sleep 3 # the pin table trusts no file changed in the last two seconds

	# 1. small files packed, the large one loose; the sandbox sees all
	#    of them, read-only, at their path
	run_as "$who" "$XRUN" -q run -i "$w/data" -- sh -c "cd $w/data && find . -type f | sort | xargs sha256sum | sha256sum; echo x >>d00/f00000" >out.txt 2>err.txt
	st=$?
	isnt_zero=$([ "$st" != 0 ] && echo yes)
	is "$isnt_zero" yes "$who: the run cannot write its packed input (status $st)"
	is "$(head -n 1 out.txt)" "$want" "$who: the sandbox sees every packed file's bytes at its path"
	is "$(n_idx "$w/work")" 1 "$who: one pin writes one pack (and its index)"
	loose=$(n_loose "$w/work")
	ok $([ "$loose" -le 4 ] && echo 0 || echo 1) "$who: the small files are not loose objects ($loose loose: the large file and manifests)"
	run_as "$who" "$XRUN" -q verify --all
	is "$?" 0 "$who: verify re-hashes the packed objects: intact"

	# 1b. one file changed, one removed, one added: the new view links
	#     the unchanged files of the previous one (views never change;
	#     XRUN_VIEW_DELTA=off: a whole view, not a delta, t0901)
	run_as "$who" sh -c "echo changed >$w/data/d01/f00001; rm $w/data/d02/f00002; echo added >$w/data/d02/added"
	run_as "$who" env XRUN_VIEW_DELTA=off "$XRUN" -q run -i "$w/data" -- sh -c "cat $w/data/d01/f00001 $w/data/d02/added; test -e $w/data/d02/f00002 || echo removed; cd $w/data && find . -type f | wc -l" >out2.txt 2>&1
	is "$(tr '\n' ' ' <out2.txt)" "changed added removed 301 " "$who: a run after a change sees the new tree exactly"
	ino=$(stat -c %i .xrun/tmp/views/*/v/d03/f00003 | sort -u | wc -l)
	n_views=$(ls .xrun/tmp/views/*/v/d03/f00003 | wc -l)
	is "$n_views $ino" "2 1" "$who: ... through a new view whose unchanged files are links to the previous view's"
	is "$(stat -c %i .xrun/tmp/views/*/v/d01/f00001 | sort -u | wc -l)" 2 "$who: ... and whose changed file is its own"
	sleep 3 # (the pin table, below)

	# 2. a re-pin writes nothing new
	#    (from an empty working directory: the workspace is pinned too)
	run_as "$who" mkdir "$w/empty"
	(cd "$w/empty" && run_as "$who" "$XRUN" -q --store "$w/work/.xrun" run -i "$w/data" --no-sandbox true)
	before=$(du -sb .xrun/objects | cut -f1)
	(cd "$w/empty" && run_as "$who" "$XRUN" -q --store "$w/work/.xrun" run -i "$w/data" --no-sandbox true)
	is "$(du -sb .xrun/objects | cut -f1)" "$before" "$who: a re-pin of the same tree adds no byte to the store"
	#    one stat a file: no file of the tree opened, the pin table
	#    (mapped, not read) and its log not written
	tbl=$(cd .xrun/cache && stat -c '%s %Y' pin-v3.bin pin-v3.log 2>/dev/null | tr '\n' ' ')
	if command -v strace >/dev/null; then
		(cd "$w/empty" && run_as "$who" strace -f -o "$w/trace.txt" -e trace=openat,openat2,open "$XRUN" -q --store "$w/work/.xrun" run -i "$w/data" --no-sandbox true)
		is "$(grep -cE 'f[0-9]{5}"' "$w/trace.txt")" 0 "$who: a re-pin of an unchanged tree opens none of its files"
	else
		(cd "$w/empty" && run_as "$who" "$XRUN" -q --store "$w/work/.xrun" run -i "$w/data" --no-sandbox true)
		ok 0 "# SKIP strace is not installed"
	fi
	is "$(cd .xrun/cache && stat -c '%s %Y' pin-v3.bin pin-v3.log 2>/dev/null | tr '\n' ' ')" "$tbl" "$who: ... nor writes the pin table"
	run_as "$who" sh -c "echo changed >>$w/data/d03/f00010"
	sleep 3
	(cd "$w/empty" && run_as "$who" "$XRUN" -q --store "$w/work/.xrun" run -i "$w/data" --no-sandbox true)
	(cd "$w/empty" && run_as "$who" strace -f -o "$w/trace.txt" -e trace=openat,openat2,open "$XRUN" -q --store "$w/work/.xrun" run -i "$w/data" --no-sandbox -- cat "$w/data/d03/f00010") >changed.out
	is "$(tail -n 1 changed.out)" changed "$who: a changed file is pinned anew"
	is "$(grep -E 'f[0-9]{5}"' "$w/trace.txt" | grep -vc 'f00010"')" 0 "$who: ... and the next re-pin opens no file of the tree but what the program reads"

	#    a first pin of small files alone makes its pack durable with
	#    fsyncs of its own, never a syncfs (which waits for every other
	#    writer on the file system)
	if command -v strace >/dev/null; then
		run_as "$who" bash -c "$(declare -f make_tree); PYTHON3=$PYTHON3 make_tree $w/smalls 60 $who"
		sleep 3
		(cd "$w/empty" && run_as "$who" strace -f -o "$w/sync.txt" -e trace=syncfs,fsync "$XRUN" -q --store "$w/fresh" run -i "$w/smalls" --no-sandbox true)
		is "$(grep -c 'syncfs(' "$w/sync.txt") $(find "$w/fresh/objects/packs" -name '*.idx' | wc -l)" "0 1" "$who: a first pin of small files alone syncs its pack, not the file system"
		grep -q 'fsync(' "$w/sync.txt"
		ok $? "$who: ... with fsync"
		run_as "$who" "$XRUN" -q --store "$w/fresh" verify --all
		is "$?" 0 "$who: ... and the store verifies"
	else
		ok 0 "# SKIP strace is not installed"
		ok 0 "# SKIP strace is not installed"
		ok 0 "# SKIP strace is not installed"
	fi

	# 3. checkout of outputs that were packed
	run_as "$who" "$XRUN" -q run -o out -- sh -c 'for i in $(seq 1 40); do echo "out $i" >out/o$i; done'
	is "$?" 0 "$who: a run writes 40 small outputs"
	owant=$(cd out && cat $(ls | sort))
	run_as "$who" rm -rf out
	run_as "$who" "$XRUN" -q checkout latest
	is "$?" 0 "$who: checkout of a run whose outputs are packed succeeds"
	is "$(cd out && cat $(ls | sort))" "$owant" "$who: ... with the run's bytes"

	# 4. 16 runs at once pin overlapping trees (a shared part and one of
	#    their own each): every object readable after
	run_as "$who" mkdir "$w/shared"
	run_as "$who" bash -c "$(declare -f make_tree); PYTHON3=$PYTHON3 make_tree $w/shared 200 shared"
	pids=
	for i in $(seq 1 16); do
		run_as "$who" mkdir -p "$w/c$i"
		run_as "$who" bash -c "$(declare -f make_tree); PYTHON3=$PYTHON3 make_tree $w/c$i 50 own$i"
		run_as "$who" cp -r "$w/shared" "$w/c$i/shared"
	done
	for i in $(seq 1 16); do
		run_as "$who" "$XRUN" -q run -i "$w/shared" -i "$w/c$i" -- sh -c "cat $w/c$i/d00/f00000 $w/shared/d01/f00001 >/dev/null" >/dev/null 2>"conc$i.err" &
		pids="$pids $!"
	done
	fails=0
	for p in $pids; do wait "$p" || fails=$((fails + 1)); done
	is "$fails" 0 "$who: 16 runs pinning overlapping trees at once all succeed"
	run_as "$who" "$XRUN" -q verify --all >verify.out 2>&1
	is "$?" 0 "$who: ... and every object in the store reads back intact"
	[ -s verify.out ] && sed 's/^/#   /' verify.out | head -n 5
	is "$(run_as "$who" "$XRUN" -q replay latest >/dev/null 2>&1; echo $?)" 0 "$who: ... a run of them replays from the packs"

	# 5. kill -9 while a pin writes its pack: the store still verifies
	run_as "$who" mkdir "$w/many"
	run_as "$who" bash -c "$(declare -f make_tree); PYTHON3=$PYTHON3 make_tree $w/many 3000 many"
	for d in 5 20 60 120 250; do
		run_as "$who" sh -c "echo $d >>$w/many/d00/f00000"
		if [ "$who" = root ]; then
			"$XRUN" -q run -i "$w/many" --no-sandbox true >/dev/null 2>&1 &
		else
			setpriv --reuid="$TEST_USER" --regid="$TEST_USER" --init-groups \
				env HOME="$(getent passwd "$TEST_USER" | cut -d: -f6)" \
				"$XRUN" -q run -i "$w/many" --no-sandbox true >/dev/null 2>&1 &
		fi
		pid=$!
		sleep "$(printf '0.%03d' "$d")"
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	run_as "$who" "$XRUN" -q verify --all
	is "$?" 0 "$who: after launchers killed with -9 while they pinned, every object a record references is intact"
	no_pack=0
	for i in .xrun/objects/packs/*.idx; do [ -e "${i%.idx}.pack" ] || no_pack=$((no_pack + 1)); done
	is "$no_pack" 0 "$who: no index names a pack that is not there"
	run_as "$who" "$XRUN" -q run -i "$w/many" -- sh -c "cat $w/many/d03/f00003" >many.out
	is "$(cat many.out)" "$(cat "$w/many/d03/f00003")" "$who: the tree pins and reads whole after the kills"
	# a pack whose writer died before its index: gc takes it
	orphan=.xrun/objects/packs/0123456789abcdef0123456789abcdef.pack
	run_as "$who" sh -c "printf XRUNPAK1junk >$orphan && touch -d '2 hours ago' $orphan"
	run_as "$who" "$XRUN" -q gc >/dev/null 2>&1
	ok $([ -e "$orphan" ] && echo 1 || echo 0) "$who: gc removes a pack left without an index"
	run_as "$who" "$XRUN" -q verify --all
	is "$?" 0 "$who: ... and the store verifies after gc"

	# 6. gc with packs: an object only a deleted run referenced goes, one
	#    that a kept run references survives the repack
	run_as "$who" mkdir "$w/ga" "$w/gb"
	run_as "$who" sh -c "echo only-in-a-$who-unique >$w/ga/a; echo in-both-$who-unique >$w/ga/both; echo in-both-$who-unique >$w/gb/both; echo only-in-b-$who-unique >$w/gb/b"
	run_as "$who" "$XRUN" -q run -i "$w/ga" --no-sandbox true
	ida=$(run_as "$who" "$XRUN" ls --json --limit 1 | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
	run_as "$who" "$XRUN" -q run -i "$w/gb" -- cat "$w/gb/both" "$w/gb/b" >/dev/null
	is "$(cat .xrun/objects/packs/*.pack | grep -c "only-in-a-$who-unique")" 1 "$who: the object of run A alone is packed"
	run_as "$who" "$XRUN" -q rm "$ida"
	run_as "$who" "$XRUN" -q gc --grace 0 >/dev/null
	is "$?" 0 "$who: gc --grace 0 succeeds with packs"
	is "$(cat .xrun/objects/packs/*.pack | grep -c "only-in-a-$who-unique")" 0 "$who: gc dropped the packed object no run references"
	is "$(cat .xrun/objects/packs/*.pack | grep -c "in-both-$who-unique")" 1 "$who: ... and kept the one run B references (once)"
	run_as "$who" "$XRUN" -q verify --all
	is "$?" 0 "$who: the store verifies after the repack"
	is "$(run_as "$who" "$XRUN" -q replay latest >/dev/null 2>&1; echo $?)" 0 "$who: run B replays from the repacked store"

	# 7. a packed object damaged in its pack: verify and replay say so
	run_as "$who" "$PYTHON3" - "only-in-b-$who-unique" <<'PY'
import glob, os, sys
for p in glob.glob(".xrun/objects/packs/*.pack"):
    d = open(p, "rb").read()
    if sys.argv[1].encode() in d:
        os.chmod(p, 0o644)
        open(p, "wb").write(d.replace(sys.argv[1].encode(), sys.argv[1].upper().encode()))
PY
	out=$(run_as "$who" "$XRUN" verify --all 2>&1)
	is "$?" 1 "$who: verify finds a packed object damaged in its pack"
	like "$out" "corrupt object sha256:$(sha256sum "$w/gb/b" | cut -c1-64) \('.*objects/packs/[0-9a-f]{32}\.pack at [0-9]+'\), referenced by run" "$who: ... naming the object, its pack and the run"
	run_as "$who" "$XRUN" -q replay latest >/dev/null 2>&1
	is "$?" 125 "$who: a replay that needs it refuses to run"
	cd "$T" || exit 1
}

# A store made before packs: every object a loose file (the packs of a
# store unpacked by hand, from the format doc/store-format.md gives).
unpack_store() {
	"$PYTHON3" - "$1" <<'PY'
import glob, hashlib, os, struct, sys
store = sys.argv[1]
for idx in glob.glob(os.path.join(store, "objects/packs/*.idx")):
    data = open(idx, "rb").read()
    assert data[:8] == b"XRUNIDX1"
    n, = struct.unpack_from("<Q", data, 8)
    assert hashlib.sha256(data[:-32]).digest() == data[-32:]
    pack = open(idx[:-4] + ".pack", "rb").read()
    assert pack[:8] == b"XRUNPAK1"
    for i in range(n):
        e = 32 + 256 * 4 + i * 48
        md = data[e:e + 32]
        off, size = struct.unpack_from("<QQ", data, e + 32)
        body = pack[off:off + size]
        assert hashlib.sha256(body).digest() == md
        h = md.hex()
        d = os.path.join(store, "objects/sha256", h[:2])
        os.makedirs(d, exist_ok=True)
        p = os.path.join(d, h[2:])
        if not os.path.exists(p):
            with open(p, "wb") as f:
                f.write(body)
            os.chmod(p, 0o444)
    os.unlink(idx)
    os.unlink(idx[:-4] + ".pack")
os.rmdir(os.path.join(store, "objects/packs"))
PY
}

old_store() {
	local w=$T/old
	mkdir -p "$w/data" && cd "$w" || exit 1
	make_tree "$w/data" 60 old
	"$XRUN" -q run -i data -- sh -c 'cat data/d02/f00002' >first.out
	unpack_store "$w/.xrun"
	is "$(find .xrun/objects -name '*.idx' | wc -l)" 0 "old store: no pack is left (loose objects only)"
	"$XRUN" -q verify --all
	is "$?" 0 "old store: verifies"
	"$XRUN" -q replay latest >replay.out 2>/dev/null
	is "$?" 0 "old store: a run replays from loose objects"
	is "$(cat replay.out)" "$(cat first.out)" "old store: ... and sees the same bytes"
	echo new >data/new
	"$XRUN" -q run -i data --no-sandbox true
	is "$(find .xrun/objects -name '*.idx' | wc -l)" 1 "old store: a new pin adds a pack beside the loose objects"
	"$XRUN" -q gc --grace 0 >/dev/null
	"$XRUN" -q verify --all
	is "$?" 0 "old store: loose and packed objects verify together after gc"
	cd "$T" || exit 1
}

# The launcher's memory for a first pin of many small files, per file
# (issue 22: at most 256 MiB for a million): 40,000 files of 100 bytes,
# the peak RSS of the launcher less that of a pin of one file. Nothing
# of a file is held twice (the manifest's entry and path, the pin
# table's key; the pin job, the pack's entry and its index text not all
# alive with them): about 145 bytes a file here, 210 before.
# peak CMD...: the peak RSS (KiB) of CMD, whatever its status
peak() {
	"$PYTHON3" -c 'import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' "$@"
}

# within LIMIT DESC: a bound on per_file, unless the build has a
# sanitizer (its shadow memory is not the launcher's)
within() {
	case $("$XRUN" --version) in
	*asan* | *ubsan*) ok 0 "# SKIP peak memory: a sanitizer build's shadow memory is not the launcher's ($2)" ;;
	*) ok $([ "$per_file" -le "$1" ] && echo 0 || echo 1) "$2" ;;
	esac
}

memory() {
	mkdir -p "$T/mem/work" "$T/mem/one" && cd "$T/mem/work" || exit 1
	"$PYTHON3" - "$T/mem/many" <<'PY'
import os, sys
d = sys.argv[1]
for i in range(40000):
    sub = os.path.join(d, "d%03d" % (i // 1000))
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, "f%05d" % i), "w") as f:
        f.write("%099d\n" % i)
PY
	echo one >"$T/mem/one/f"
	sleep 3
	base=$(peak "$XRUN" -q --store "$T/mem/s1" run -i "$T/mem/one" --no-sandbox true)
	many=$(peak "$XRUN" -q --store "$T/mem/s2" run -i "$T/mem/many" --no-sandbox true)
	per_file=$(((many - base) * 1024 / 40000))
	within 180 "a first pin of 40,000 small files: the launcher's peak memory grows by $per_file bytes a file (at most 180)"
	# xrun diff of two runs over them, one file changed: the manifests
	# compared, not each input file made a JSON object for the lineage
	# (no run wrote any of them): about 130 bytes a file, 540 before
	echo changed >"$T/mem/one/f"
	echo changed >"$T/mem/many/d017/f17000"
	sleep 3
	"$XRUN" -q --store "$T/mem/s1" run -i "$T/mem/one" --no-sandbox true
	"$XRUN" -q --store "$T/mem/s2" run -i "$T/mem/many" --no-sandbox true
	base=$(peak "$XRUN" --store "$T/mem/s1" diff latest~1 latest)
	many=$(peak "$XRUN" --store "$T/mem/s2" diff latest~1 latest)
	per_file=$(((many - base) * 1024 / 40000))
	"$XRUN" --store "$T/mem/s2" diff latest~1 latest >diff.out
	grep -q 'd017/f17000' diff.out
	ok $? "xrun diff over 40,000 files names the one that changed"
	within 350 "... and its peak memory grows by $per_file bytes a file (at most 350)"
	cd "$T" || exit 1
}

memory
scenario root
if have_test_user; then
	scenario user
else
	ok 0 "# SKIP no unprivileged test user"
fi
old_store
done_testing

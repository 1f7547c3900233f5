#!/bin/sh
# Pinning throughput, side by side in one run, on three generated data
# sets: 1 GiB in 8 large files, the same 1 GiB as one file, and 20,000
# small files (about 200 MiB).
#
#   sha256sum      coreutils over the same files (one core)
#   first pin      xrun run -i DATA --no-sandbox true, a fresh store each
#                  time: hash, copy into the store, sync
#   re-pin         the same with the store (and its stat cache) kept
#
#   floor: hash    bench/pin-floor.c hash: a bare C program that walks
#                  the tree and reads and SHA-256s (libcrypto) every file
#                  on all cores (beside sha256sum)
#   floor: pack    bench/pin-floor.c pack: the same, appending every file
#                  to one file and one fsync of it (beside the first pin)
#   floor: stat    bench/stat-floor.c: process start and the walk's stat
#                  calls on all cores (beside the re-pin)
#
# and the store's size before and after a re-pin (du). Each xrun row says
# how far it is from its floor ("xrun / floor"). Targets (README):
# first pin >= 5x faster than sha256sum, re-pin >= 50x faster than the
# first pin, zero extra bytes for a re-pin.
#
#   [SETS="large one small"] bench/pin-throughput.sh [XRUN] [DIR]
#
# DIR (default: the current directory) must be on the disk to measure:
# the data and the stores are made in a temp directory there.
#
# Each first pin gets a fresh store; a store of small files is moved aside
# rather than deleted until the end: ext4 without a journal (as on some
# cloud VMs) will not reuse an inode freed in the last minute, and
# scans past each such inode on every create, so 20,000 objects deleted
# just before a pin make its creates ten times slower. That is the
# benchmark's own doing, not the pin's.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
XRUN=${1:-./xrun}
case $XRUN in /*) ;; *) XRUN=$(pwd)/$XRUN ;; esac
BASE=${2:-$(pwd)}
command -v hyperfine >/dev/null || {
	echo "bench: hyperfine is not installed (apt-get install hyperfine)" >&2
	exit 1
}
dir=$(mktemp -d "$BASE/xrun-pin-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT
cd "$dir"
mkdir large one small work
cc -O2 -pthread -o "$dir/pin-floor" "$here/pin-floor.c" -lcrypto
cc -O2 -pthread -o "$dir/stat-floor" "$here/stat-floor.c"

echo "== machine: $(uname -srm), $(nproc) CPUs, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)"
echo "== file system: $(df -T "$dir" | awk 'NR == 2 {print $2}')"
echo "== xrun: $("$XRUN" --version)"
echo "== generating the data sets" >&2
sets=${SETS:-large one small}
case " $sets " in *" large "* | *" one "*)
	for i in 1 2 3 4 5 6 7 8; do
		head -c $((128 << 20)) /dev/urandom >large/f$i
	done
	;;
esac
/usr/bin/python3 - small <<'PY'
import os, sys
d = sys.argv[1]
rnd = os.urandom(1 << 20)
for i in range(20000):
    sub = os.path.join(d, "d%03d" % (i // 200))
    os.makedirs(sub, exist_ok=True)
    off = (i * 7919) % ((1 << 20) - 10240)
    with open(os.path.join(sub, "f%05d" % i), "wb") as f:
        f.write(rnd[off:off + 10240 - (i % 64)] + i.to_bytes(4, "little"))
PY
sync
# The stat cache trusts no file changed in the last two seconds (racy
# timestamps); and the disk settles after the writes.
sleep 5
sh "$here/settle.sh" "$dir" # see there

case " $sets " in *" one "*)
	cat large/f1 large/f2 large/f3 large/f4 large/f5 large/f6 large/f7 large/f8 >one/all
	;;
esac
for set in $sets; do
	data=$dir/$set
	store=$dir/store-$set
	n=$(find "$data" -type f | wc -l)
	size=$(du -sb "$data" | cut -f1)
	echo "== $set: $n files, $size bytes"
	cd "$dir/work"
	runs=5
	[ "$set" = small ] || runs=3
	# A store of a few large objects is deleted between first pins; one
	# of 20,000 is moved aside (see the top).
	aside="rm -rf $store"
	[ "$set" = small ] &&
		aside="mkdir -p $dir/old && if [ -e $store ]; then mv $store \$(mktemp -d $dir/old/s.XXXXXX); fi"
	echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg)"
	hyperfine -N --runs "$runs" --warmup 1 --export-json "$dir/$set-sha.json" \
		-n "sha256sum" "sh -c 'find $data -type f -print0 | xargs -0 sha256sum >/dev/null'" \
		-n "floor: hash" "$dir/pin-floor hash $data" >&2
	hyperfine --runs "$runs" --export-json "$dir/$set-first.json" \
		--prepare "$aside; sync; sleep 2" \
		--prepare "rm -f $dir/floor.pack; sync; sleep 2" \
		-n "first pin" "$XRUN -q --store $store run -i $data --no-sandbox true" \
		-n "floor: pack" "$dir/pin-floor pack $data $dir/floor.pack" >&2
	rm -f "$dir/floor.pack"
	"$XRUN" -q --store "$store" run -i "$data" --no-sandbox true
	before=$(du -sb "$store/objects" | cut -f1)
	hyperfine -N --runs 20 --warmup 2 --export-json "$dir/$set-re.json" \
		-n "re-pin" "$XRUN -q --store $store run -i $data --no-sandbox true" \
		-n "floor: stat" "$dir/stat-floor $data" >&2
	after=$(du -sb "$store/objects" | cut -f1)
	echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
	/usr/bin/python3 - "$dir/$set-sha.json" "$dir/$set-first.json" "$dir/$set-re.json" "$before" "$after" "$size" "$set ($n file$([ "$n" = 1 ] || echo s), $((size >> 20)) MiB)" <<'PY'
import json, statistics, sys
def row(**kw):
    """One line for bench/run's table, when it asked for them."""
    import json, os
    out = os.environ.get("BENCH_ROWS")
    if out:
        with open(out, "a") as f:
            f.write(json.dumps(kw) + "\n")
med = lambda p, i=0: statistics.median(json.load(open(p))["results"][i]["times"])
sha, first, re_ = (med(p) for p in sys.argv[1:4])
fhash, fpack, fstat = (med(p, 1) for p in sys.argv[1:4])
before, after, size = (int(x) for x in sys.argv[4:7])
mb = size / 1e6
print(f"  sha256sum        {sha:8.3f} s  {mb / sha:8.0f} MB/s")
print(f"  first pin        {first:8.3f} s  {mb / first:8.0f} MB/s   {sha / first:6.2f}x faster than sha256sum (target 5x: {'met' if sha / first >= 5 else 'not met'})")
print(f"  re-pin           {re_ * 1000:8.1f} ms {mb / re_:8.0f} MB/s   {first / re_:6.1f}x faster than the first pin (target 50x: {'met' if first / re_ >= 50 else 'not met'})")
print(f"  floor: hash      {fhash:8.3f} s  {mb / fhash:8.0f} MB/s   read + SHA-256 on all cores (bench/pin-floor.c); sha256sum / floor {sha / fhash:.2f}")
print(f"  floor: pack      {fpack:8.3f} s  {mb / fpack:8.0f} MB/s   the same + one file appended and fsynced; first pin / floor {first / fpack:.2f}" + ("" if sys.argv[7].startswith("small") else " (small files only are packed: no floor here)"))
print(f"  floor: stat      {fstat * 1000:8.1f} ms {mb / fstat:8.0f} MB/s   process start + the walk's stat calls (bench/stat-floor.c); re-pin / floor {re_ / fstat:.2f}")
print(f"  store objects    {before} bytes before the re-pins, {after} after: {after - before} extra (target 0: {'met' if after == before else 'not met'})")
name = sys.argv[7]
# The issue's targets are for the 8 large files and the small ones; the
# single file is shown for what it is.
targeted = not name.startswith("one")
row(bench=f"pin {name}", what="first pin", median_ms=first * 1000,
    vs="sha256sum", vs_ms=sha * 1000, result=f"{sha / first:.2f}x faster",
    target=">= 5x" if targeted else "",
    met=sha / first >= 5 if targeted else None)
row(bench=f"pin {name}", what="re-pin", median_ms=re_ * 1000,
    vs="first pin", vs_ms=first * 1000, result=f"{first / re_:.0f}x faster",
    target=">= 50x" if targeted else "",
    met=first / re_ >= 50 if targeted else None)
row(bench=f"pin {name}", what="floor: read + sha256, all cores",
    median_ms=fhash * 1000, vs="sha256sum", vs_ms=sha * 1000,
    result=f"{sha / fhash:.2f}x faster", target="", met=None)
# Only small files go into a pack: for large ones (copied with O_DIRECT
# or reflinked) the pack floor is no floor, and is not shown.
if name.startswith("small"):
    row(bench=f"pin {name}", what="floor: + one pack file, fsync",
        median_ms=fpack * 1000, vs="first pin", vs_ms=first * 1000,
        result=f"xrun {first / fpack:.2f}x the floor", target="", met=None)
row(bench=f"pin {name}", what="floor: process + stat walk",
    median_ms=fstat * 1000, vs="re-pin", vs_ms=re_ * 1000,
    result=f"xrun {re_ / fstat:.2f}x the floor", target="", met=None)
row(bench=f"pin {name}", what="store growth on re-pin", median_ms=None,
    vs="", vs_ms=None, result=f"{after - before} bytes", target="0",
    met=after == before)
PY
	rm -rf "$store"
	sleep 2
done

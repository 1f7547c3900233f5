#!/bin/sh
# Wait until creating a file in DIR is quick again, at most LIMIT
# seconds (default 420), then say how long it took.
#
#   bench/settle.sh DIR [LIMIT]
#
# ext4 without a journal (this project's VM, some cloud images) does not
# reuse an inode freed in the last minute (six, while its inode-table
# block is unwritten): every create scans past each such inode, so after
# a test suite or a benchmark deleted many thousands of files, creating
# one costs up to a millisecond for minutes. xrun creates four files a
# run (its directory, params.json, two records); bwrap and /bin/true
# create none. The launch benchmarks call this first, so that they time
# xrun and not the deletions that came before them.
#
# Settled means nothing is left to write back, and creating a file and
# making a directory each take at most SETTLE_US microseconds (default
# 40; 10-25 on a quiet disk here, Python's own cost included). The probe
# files stay (in DIR/.settle, which goes with DIR): deleting them would
# itself slow the next creates.
set -eu
DIR=$1
LIMIT=${2:-420}
/usr/bin/python3 - "$DIR" "$LIMIT" "${SETTLE_US:-40}" <<'PY'
import os, statistics, sys, time
d, limit, want = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
probe_dir = os.path.join(d, ".settle")
os.makedirs(probe_dir, exist_ok=True)
probes = 0
def create_us():
    """The slower of the median times to create a file and to make a
    directory in d (where its subdirectories' files go too, mostly;
    ext4 places directories by other rules than files), in
    microseconds, over 20 of each."""
    global probes
    probes += 1
    files, dirs = [], [[], [], []]
    for i in range(20):
        p = os.path.join(probe_dir, "%d.%d" % (probes, i))
        a = time.perf_counter()
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        files.append(time.perf_counter() - a)
        os.close(fd)
        # Directories nested like a store's runs/<id>: ext4 may place
        # each level in another block group.
        for depth in range(3):
            p = p + ".d"
            a = time.perf_counter()
            os.mkdir(p)
            dirs[depth].append(time.perf_counter() - a)
    return max([statistics.median(files)] +
               [statistics.median(d) for d in dirs]) * 1e6
# What earlier work left dirty is written out first, or its writeback
# competes with the fsyncs being timed. An inode freed in the current
# second is not yet skipped (ext4 compares whole seconds): what was
# deleted just before shows a second later.
os.sync()
time.sleep(1.5)
start = time.monotonic()
us = create_us()
first = us
while us > want and time.monotonic() - start < limit:
    time.sleep(10)
    os.sync()
    us = create_us()
waited = time.monotonic() - start
if first > want:
    print(f"== settle: creating a file or directory took {first:.0f} us; waited {waited:.0f} s"
          f" for {us:.0f} us" + ("" if us <= want else " (gave up: the figures"
          " below include the file system's slowness)"), file=sys.stderr)
PY

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
set -eu
DIR=$1
LIMIT=${2:-420}
/usr/bin/python3 - "$DIR" "$LIMIT" <<'PY'
import os, statistics, sys, time
d, limit = sys.argv[1], float(sys.argv[2])
def create_us():
    """Median time to create a file in d (where its subdirectories'
    files go too, mostly), in microseconds, over 20 files."""
    times = []
    names = [os.path.join(d, ".settle.%d.%d" % (os.getpid(), i))
             for i in range(20)]
    for p in names:
        a = time.perf_counter()
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        times.append(time.perf_counter() - a)
        os.close(fd)
    for p in names:
        os.unlink(p)
    return statistics.median(times) * 1e6
start = time.monotonic()
us = create_us()
first = us
while us > 100 and time.monotonic() - start < limit:
    time.sleep(10)
    us = create_us()
waited = time.monotonic() - start
if first > 100:
    print(f"== settle: creating a file took {first:.0f} us; waited {waited:.0f} s"
          f" for {us:.0f} us" + ("" if us <= 100 else " (gave up: the figures"
          " below include the file system's slowness)"), file=sys.stderr)
PY

#!/usr/bin/python3
"""Generate N small files of SIZE bytes under DIR, 1,000 to a directory
(DIR/d0000/f0000000 ...), each different (a counter in its first bytes),
fast: one random megabyte sliced, no hashing.

    bench/gen-small-files.py DIR N SIZE
"""
import os
import sys

d, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = os.urandom(1 << 20)
per_dir = 1000
for i in range(n):
    if i % per_dir == 0:
        sub = os.path.join(d, "d%04d" % (i // per_dir))
        os.makedirs(sub, exist_ok=True)
    off = (i * 7919) % ((1 << 20) - size)
    body = i.to_bytes(8, "little") + rnd[off:off + size - 8]
    fd = os.open(os.path.join(sub, "f%07d" % i), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, body)
    os.close(fd)

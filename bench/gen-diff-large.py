#!/usr/bin/python3
"""Make a store with two runs whose input has N files each, K of them
different (changed, added, removed), for bench/diff-large.sh.

usage: gen-diff-large.py TEMPLATE_RECORD STORE [N] [K]
Writes STORE/runs/<id>/record.json for two ids and the two manifests as
store objects; prints the two record paths.
"""
import copy
import hashlib
import json
import os
import sys


def digest(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def put(store, data):
    h = hashlib.sha256(data).hexdigest()
    d = os.path.join(store, "objects", "sha256", h[:2])
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, h[2:])
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o444)
    return "sha256:" + h


def manifest(n, k, side):
    # 100 directories of n/100 files; side B changes k/2 files, removes
    # k/4 and adds the rest.
    per = max(n // 100, 1)
    files = {}
    for i in range(n):
        path = "d%03d/f%06d.bin" % (i // per, i)
        files[path] = (1000 + i % 4096, digest(b"%d" % i))
    if side:
        keys = sorted(files)
        step = max(len(keys) // max(k, 1), 1)
        picks = keys[::step][:k]
        changed = picks[: k // 2]
        removed = picks[k // 2 : k // 2 + k // 4]
        for p in changed:
            files[p] = (files[p][0] + 1, digest(p.encode() + b"changed"))
        for p in removed:
            del files[p]
        for j in range(k - len(changed) - len(removed)):
            files["d%03d/new%03d.bin" % (j, j)] = (10, digest(b"new%d" % j))
    dirs = {p.split("/")[0] for p in files}
    lines = [("d", "0755", 0, "-", d) for d in dirs]
    lines += [("f", "0644", s, h, p) for p, (s, h) in files.items()]
    lines.sort(key=lambda e: e[4].encode())
    text = "xrun-manifest 1\n" + "".join(
        "%s\t%s\t%d\t%s\t%s\n" % e for e in lines)
    return text.encode(), len(files), sum(s for s, _ in files.values())


def main():
    if len(sys.argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    template, store = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 100000
    k = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    for sub in ("runs", "objects/sha256", "cache", "tmp"):
        os.makedirs(os.path.join(store, sub), exist_ok=True)
    with open(template) as f:
        base = json.load(f)
    ids = ["aaaaaaaa-0000-4000-8000-000000000001",
           "bbbbbbbb-0000-4000-8000-000000000002"]
    for side, rid in enumerate(ids):
        text, files, size = manifest(n, k, side)
        m = put(store, text)
        rec = copy.deepcopy(base)
        rec["id"] = rid
        rec["inputs"] = [{"path": "/data/big", "kind": "directory",
                          "digest": m, "files": files, "bytes": size,
                          "manifest": m}]
        d = os.path.join(store, "runs", rid)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "record.json"), "w") as f:
            json.dump(rec, f, indent=2)
        print(os.path.join(d, "record.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

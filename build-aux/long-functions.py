#!/usr/bin/env python3
"""List the functions in C files longer than a limit (default 120 lines).

A function is taken as the text from a line that opens a body at column 0
("{") to the next line that closes one ("}"), named by the nearest line
above with a "(": the house style (clang-format, Linux-like braces) puts
both braces of a function body at column 0 and nothing else there, except
tables ("= {" on the declaration line), which are not counted.

Usage: build-aux/long-functions.py [--max N] FILE...
Exit status 1 when a function is longer than N lines and not listed in
the exceptions of doc/STYLE-notes.md (list items "- `name` (file.c):
why" under "Long functions kept").
"""
import re
import sys


def functions(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    start = None
    name = None
    for i, line in enumerate(lines):
        if line == "{" and start is None:
            start = i
            j = i - 1
            while j >= 0 and "(" not in lines[j]:
                j -= 1
            m = re.search(r"([A-Za-z_][A-Za-z_0-9]*)\s*\(", lines[j]) if j >= 0 else None
            name = m.group(1) if m else "?"
        elif line.startswith("}") and start is not None:
            yield name, start + 1, i - start - 1
            start = None


def main(argv):
    limit = 120
    if argv[:1] == ["--max"]:
        limit = int(argv[1])
        argv = argv[2:]
    kept = set()
    try:
        notes = open("doc/STYLE-notes.md", encoding="utf-8").read()
        sect = notes.split("## Long functions kept", 1)[1].split("\n## ", 1)[0]
        # a list item "- `name` (file.c): why" keeps a function
        kept = set(re.findall(r"^- `([A-Za-z_0-9]+)`", sect, re.M))
    except (OSError, IndexError):
        pass
    bad = 0
    for path in argv:
        for name, line, n in functions(path):
            if n > limit:
                tag = "kept" if name in kept else "TOO LONG"
                print(f"{path}:{line}: {name}: {n} lines ({tag})")
                bad += name not in kept
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

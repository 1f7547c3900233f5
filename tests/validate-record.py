#!/usr/bin/python3
"""Validate xrun run records against schemas/run-record.schema.json.

usage: validate-record.py SCHEMA RECORD...
Prints one line per invalid record (path: where: what) and exits 1 if any
record is invalid, 0 if all are valid. Uses Debian's python3-jsonschema.
"""
import json
import sys

import jsonschema


def main():
    if len(sys.argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    with open(sys.argv[1]) as f:
        schema = json.load(f)
    cls = jsonschema.Draft202012Validator
    cls.check_schema(schema)
    validator = cls(schema, format_checker=jsonschema.FormatChecker())
    bad = 0
    for path in sys.argv[2:]:
        with open(path) as f:
            record = json.load(f)
        errors = sorted(validator.iter_errors(record), key=lambda e: list(e.path))
        for e in errors[:10]:
            where = "/".join(str(p) for p in e.path) or "(top)"
            print(f"{path}: {where}: {e.message[:300]}")
        if errors:
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

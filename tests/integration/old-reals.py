"""Rewrite a record as xrun wrote it before reals were printed in their
shortest form: every real in jansson's 17 digits (0.05 as
0.050000000000000003), and record_sha256 over that compact text, as those
builds computed it.

The compact text is the file's own text without the indentation, so that
strings stay byte for byte what xrun wrote."""
import hashlib
import re
import sys


def jansson_real(m):
    """A real as jansson's default "%.17g" writes it, ".0" added."""
    t = "%.17g" % float(m.group(0))
    return t if re.search("[.eEn]", t) else t + ".0"


def tokens(text):
    """(is_string, chunk) pieces of JSON text."""
    i, n = 0, len(text)
    while i < n:
        if text[i] == '"':
            j = i + 1
            while text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            yield True, text[i:j + 1]
            i = j + 1
        else:
            j = i
            while j < n and text[j] != '"':
                j += 1
            yield False, text[i:j]
            i = j


def rewrite(text, compact):
    out = []
    for is_str, chunk in tokens(text):
        if not is_str:
            if compact:
                chunk = re.sub(r"\s+", "", chunk)
            chunk = re.sub(r"-?[0-9][-+0-9]*[.eE][-+0-9.eE]*", jansson_real,
                           chunk)
        out.append(chunk)
    return "".join(out)


path = sys.argv[1]
text = open(path, encoding="utf-8").read()
compact = rewrite(text, True)
m = re.search(r',"record_sha256":"sha256:([0-9a-f]{64})"}$', compact)
body = compact[:m.start()] + "}"
digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
text = rewrite(text, False).replace(m.group(1), digest)
open(path, "w", encoding="utf-8").write(text)

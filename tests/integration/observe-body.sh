# shellcheck shell=bash
# What a traced run really used (DESIGN.md §8), with real programs: a
# pyenv-style shim, an sh wrapper around a scikit-learn training, PyTorch,
# a C program (svm-train), a CSV read outside the workspace and changed
# before the replay, a library dlopen'ed by hand; --cache, --no-trace;
# and hostile programs that race, flood and pass bad pointers.
# Sourced by t0140 (root) and t0141 (the unprivileged user) with RUN set
# to "" or as_user, and WHO to a label.

[ -x /usr/bin/python3 ] || skip_all "needs Debian's /usr/bin/python3"
/usr/bin/python3 -c 'import numpy, sklearn' 2>/dev/null ||
	skip_all "needs python3-numpy and python3-sklearn"

# The workspace and a data directory outside it (not under /tmp,
# /var/tmp or a home: the sandbox has its own of each).
W=$T/w
mkdir -p "$W/shims" "$W/out"
mkdir -p /srv
D=$(mktemp -d /srv/xrun-observe.XXXXXX)
chmod 755 "$D"
trap 'rm -rf "$T" "$D"' EXIT
printf 'x,y\n1,2\n' >"$D/x.csv"
printf 'A\n' >"$D/a"
printf 'B\n' >"$D/b"
cat >"$W/shims/python3" <<'EOF'
#!/usr/bin/env bash
# a pyenv-style shim: find the interpreter, exec it
exec /usr/bin/python3 "$@"
EOF
chmod 755 "$W/shims/python3"
cat >"$W/train.sh" <<'EOF'
#!/bin/sh
exec /usr/bin/python3 train.py "$@"
EOF
chmod 755 "$W/train.sh"
cat >"$W/train.py" <<'EOF'
import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
X, y = load_digits(return_X_y=True)
m = LogisticRegression(max_iter=50).fit(X[:300], y[:300])
print("score", round(float(m.score(X[300:400], y[300:400])), 2))
EOF
printf '1 1:0.5 2:0.1\n-1 1:-0.5 2:-0.2\n1 1:0.7 2:0.3\n-1 1:-0.9 2:0.0\n' >"$W/svm.txt"
[ -n "$RUN" ] && chown -R "$TEST_USER:" "$W" "$D"
cd "$W" || exit 1

# obs EXPR: a value of the latest record's observed section.
obs() { jget "$(latest_record)" "$1"; }

# 1. The shim: env (its shebang), bash, then Debian's python.
$RUN "$XRUN" -q run shims/python3 -c 'import numpy' >/dev/null 2>"$T/err"
is "$?" 0 "$WHO: a run through a pyenv-style shim"
progs=$(obs '" ".join(p["path"] for p in d["observed"]["programs"])')
like "$progs" "shims/python3 /usr/bin/env .*bash /usr/bin/python3" \
	"$WHO: ... shim, env, bash and python executed, in order"
stack=$(obs '" → ".join(d["observed"]["stack"])')
like "$stack" "^python3 \(bash script; bash [^)]+\) → python3\.[0-9]+ \(python3[^)]*\) → .*numpy 1\.[0-9]+" \
	"$WHO: ... the stack through the shim: $stack"

# 1b. A shim that runs helpers on the side (pyenv's readlink, basename
# and friends): executed, recorded, but not on the way to python.
cat >"$W/shims/python3-side" <<'EOF'
#!/usr/bin/env bash
name=$(basename "$0")
dir=$(dirname "$0")
exec /usr/bin/python3 "$@"
EOF
chmod 755 "$W/shims/python3-side"
[ -n "$RUN" ] && chown "$TEST_USER:" "$W/shims/python3-side"
$RUN "$XRUN" -q run shims/python3-side -c 'import numpy' >/dev/null 2>"$T/err"
is "$?" 0 "$WHO: a shim that runs helpers on the side"
progs=$(obs '" ".join(p["path"] for p in d["observed"]["programs"])')
like "$progs" "/basename .*/dirname .*/usr/bin/python3" \
	"$WHO: ... its helpers are among the programs executed"
stack=$(obs '" → ".join(d["observed"]["stack"])')
like "$stack" "^python3-side \(bash script; bash [^)]+\) → python3\.[0-9]+ \(python3[^)]*\) → .*numpy" \
	"$WHO: ... the stack is the way to python, without them: $stack"

# 2. sh wrapping a scikit-learn training: numpy, scikit-learn, their
# Debian packages, and the BLAS really loaded.
out=$($RUN "$XRUN" -q run ./train.sh 2>"$T/err")
like "$out" "^score 0\.[0-9]+$" "$WHO: sh → python training on the digits"
is "$(obs '[(p["name"], p["package"]) for p in d["observed"]["python"] if p["name"] in ("numpy", "scikit-learn")]')" \
	'[["numpy", "python3-numpy"], ["scikit-learn", "python3-sklearn"]]' \
	"$WHO: ... numpy and scikit-learn imported, with their Debian packages"
np_ver=$(/usr/bin/python3 -c 'import numpy; print(numpy.__version__)')
is "$(obs '[p["version"] for p in d["observed"]["python"] if p["name"] == "numpy"][0]')" \
	"$np_ver" "$WHO: ... numpy's version is the one imported"
like "$(obs '[p["package_version"] for p in d["observed"]["python"] if p["name"] == "numpy"][0]')" \
	"^[0-9]+:?[0-9.]+-" "$WHO: ... with its Debian version"
blas_real=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)
blas_pkg=$(dpkg -S "$blas_real" 2>/dev/null | head -1 | cut -d: -f1)
is "$(obs 'd["observed"]["blas"]["package"]')" "$blas_pkg" \
	"$WHO: ... the BLAS loaded, by its package ($blas_pkg)"
like "$(obs 'd["observed"]["blas"]["package_version"]')" "^[0-9]" \
	"$WHO: ... and its version"
like "$(obs '" ".join(d["observed"]["stack"])')" "dash.*python3.*scikit-learn.*BLAS" \
	"$WHO: ... the stack: sh → python → scikit-learn → BLAS"

# 3. PyTorch.
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
	$RUN "$XRUN" -q run /usr/bin/python3 -c 'import torch' >/dev/null 2>&1
	is "$(obs '[p["package"] for p in d["observed"]["python"] if p["name"] == "torch"]')" \
		'["python3-torch"]' "$WHO: import torch: torch, from python3-torch"
	like "$(obs '" ".join(s["path"] for s in d["observed"]["shared_objects"])')" \
		"libtorch[^ ]*\.so" "$WHO: ... its shared objects loaded"
else
	ok 0 "# SKIP python3-torch is not installed"
	ok 0 "# SKIP python3-torch is not installed"
fi

# 4. A C program.
if command -v svm-train >/dev/null 2>&1; then
	$RUN "$XRUN" -q run -o out svm-train svm.txt out/model >/dev/null 2>&1
	is "$(obs '[d["observed"]["programs"][0]["package"], [s["package"] for s in d["observed"]["shared_objects"] if "libsvm" in s["path"]][0]]')" \
		'["libsvm-tools", "libsvm3"]' "$WHO: svm-train: libsvm-tools, and libsvm3 loaded"
else
	ok 0 "# SKIP libsvm-tools is not installed"
fi

# 5. A library dlopen'ed by hand.
$RUN "$XRUN" -q run /usr/bin/python3 -S -c 'import ctypes; ctypes.CDLL("libsvm.so.3")' >/dev/null 2>&1
is "$(obs '[s["package"] for s in d["observed"]["shared_objects"] if "libsvm.so" in s["path"]]')" \
	'["libsvm3"]' "$WHO: a library loaded with ctypes.CDLL is observed, with its package"

# 6. A CSV outside the workspace: named at the end, by show, by replay.
$RUN "$XRUN" run sh -c "cat '$D/x.csv'" >/dev/null 2>"$T/err"
like "$(cat "$T/err")" "the run read 1 file outside its pins \($D/x.csv\): pin it with -i to replay it exactly" \
	"$WHO: a file read outside the pins: one line names it"
is "$(obs '[(f["path"], f["size"], f["changed"]) for f in d["observed"]["files_read"]]')" \
	"[[\"$D/x.csv\", 8, false]]" "$WHO: ... recorded with its size"
is "$(obs 'd["observed"]["files_read"][0]["sha256"]')" \
	"sha256:$(sha256sum "$D/x.csv" | cut -d' ' -f1)" "$WHO: ... and its digest"
like "$($RUN "$XRUN" show latest)" "unpinned +$D/x.csv +8 B" "$WHO: ... show lists it"
id=$($RUN "$XRUN" ls --json --limit 1 | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["id"][:8])')
$RUN "$XRUN" -q replay latest >/dev/null 2>"$T/err"
is "$?" 0 "$WHO: its replay, the file unchanged: reproduced"
! grep -q 'changed since' "$T/err"
ok $? "$WHO: ... and no file named as changed"
$RUN sh -c "printf 'x,y\n9,9\n' >'$D/x.csv'"
$RUN "$XRUN" replay "$id" >/dev/null 2>"$T/err"
like "$(cat "$T/err")" "'$D/x.csv' changed since run $id read it" \
	"$WHO: changed before the replay: replay names it"
$RUN "$XRUN" replay --strict "$id" >/dev/null 2>"$T/err"
is "$?" 125 "$WHO: ... --strict refuses"
like "$(cat "$T/err")" "changed since run $id read it" "$WHO: ... naming it"
diffout=$($RUN "$XRUN" diff "$id" latest)
like "$diffout" "unpinned $D/x.csv +sha256:[0-9a-f]+ → sha256:" \
	"$WHO: diff compares the unpinned reads by digest"

# 7. Pinned, the same file is not "outside the pins".
$RUN "$XRUN" run -i "$D/x.csv" sh -c "cat '$D/x.csv'" >/dev/null 2>"$T/err"
! grep -q 'outside its pins' "$T/err"
ok $? "$WHO: pinned with -i, it is not named"

# 7b. What a pyenv-style root under a home holds is software: its
# shim's plugin scripts are not "outside the pins".
PH=$D/phome # not under /tmp, whose reads are the sandbox's own
mkdir -p "$PH/.pyenv/bin" "$PH/.pyenv/plugins/p"
echo 'hooked=1' >"$PH/.pyenv/plugins/p/hook.bash"
printf '#!/bin/bash\n. "%s/.pyenv/plugins/p/hook.bash"\nexec /usr/bin/python3 "$@"\n' "$PH" >"$PH/.pyenv/bin/python3"
chmod 755 "$PH/.pyenv/bin/python3"
[ -n "$RUN" ] && chown -R "$TEST_USER:" "$PH"
$RUN env HOME="$PH" PYENV_ROOT="$PH/.pyenv" PATH="$PH/.pyenv/bin:$PATH" \
	"$XRUN" run python3 -c 'print(1)' >/dev/null 2>"$T/err"
is "$?" 0 "$WHO: a pyenv-style root in the home runs"
is "$(obs '[f["path"] for f in d["observed"]["files_read"] if "/.pyenv/" in f["path"]]')" "[]" \
	"$WHO: ... and its plugin scripts are software, not unpinned reads"

# 7c. A ".pth" file in a site directory that no distribution owns (one
# an administrator or a tool dropped there) is the Python environment's
# configuration, read by site.py at every start: recorded with the
# system's files, not called out as a read outside the pins.
# The site directory is the host's: t0140 and t0141 take turns (make -j).
site=$(/usr/bin/python3 -c 'import site; print(site.getsitepackages()[0])')
{
	flock 9
	made_site=false
	[ -d "$site" ] || { mkdir -p "$site" && made_site=true; }
	echo '# xrun test' >"$site/xrun-test-probe.pth"
	$RUN "$XRUN" run /usr/bin/python3 -c 'print(1)' >/dev/null 2>"$T/err"
	rm -f "$site/xrun-test-probe.pth"
	$made_site && rmdir "$site"
} 9>/run/xrun-test-site.lock
is "$(obs '[f["path"] for f in d["observed"]["files_read"] if f["path"].endswith(".pth")]')" "[]" \
	"$WHO: a stray .pth file in $site is not an unpinned read"
is "$(obs '[f["path"] for f in d["observed"]["system_files_read"] if f["path"].endswith("xrun-test-probe.pth")]')" \
	"[\"$site/xrun-test-probe.pth\"]" "$WHO: ... it is recorded with the system's files"
! grep -q 'xrun-test-probe' "$T/err"
ok $? "$WHO: ... and not named at the end of the run"

# 8. --cache: writable, kept, not pinned, reads observed.
$RUN "$XRUN" -q run --cache "$D/cache" sh -c "echo model >'$D/cache/m.bin'" >/dev/null 2>&1
is "$?" 0 "$WHO: --cache: the run writes its cache"
is "$(cat "$D/cache/m.bin" 2>/dev/null)" model "$WHO: ... kept on the host"
$RUN "$XRUN" run --cache "$D/cache" sh -c "cat '$D/cache/m.bin'" >/dev/null 2>"$T/err"
is "$(obs '[(f["path"], f["cache"]) for f in d["observed"]["files_read"]]')" \
	"[[\"$D/cache/m.bin\", true]]" "$WHO: ... a later run's read of it is recorded"
! grep -q 'outside its pins' "$T/err"
ok $? "$WHO: ... and not called an unpinned read"
is "$(obs '[d["observed"]["caches"], d["inputs"], d["outputs"]]')" \
	"[[\"$D/cache\"], [], []]" "$WHO: ... neither an input nor an output"

# 9. --no-trace and --no-sandbox say so.
$RUN "$XRUN" -q run --no-trace sh -c "cat '$D/x.csv'" >/dev/null 2>"$T/err"
is "$(obs '[d["observed"]["traced"], d["observed"]["reason"]]')" \
	'[false, "--no-trace"]' "$WHO: --no-trace: the record says it was off"
! grep -q 'outside its pins' "$T/err"
ok $? "$WHO: ... and nothing is named"
$RUN "$XRUN" -q run --no-sandbox true >/dev/null 2>&1
is "$(obs '[d["observed"]["traced"], d["observed"]["reason"]]')" \
	'[false, "--no-sandbox"]' "$WHO: --no-sandbox: not traced, and the record says why"

# 10. Hostile programs.
# A thread flips the path between two files while another opens it: the
# kernel may open the other one, but no digest is ever another file's.
cat >"$W/race.py" <<EOF
import ctypes, threading
libc = ctypes.CDLL(None, use_errno=True)
a, b = b"$D/a", b"$D/b"
buf = ctypes.create_string_buffer(a, 256)
stop = False
def flip():
    while not stop:
        ctypes.memmove(buf, b, len(b) + 1)
        ctypes.memmove(buf, a, len(a) + 1)
t = threading.Thread(target=flip)
t.start()
for _ in range(3000):
    fd = libc.open(buf, 0)
    if fd >= 0:
        libc.close(fd)
stop = True
t.join()
EOF
$RUN timeout 300 "$XRUN" -q run /usr/bin/python3 -S race.py >/dev/null 2>&1
is "$?" 0 "$WHO: a path flipped under the tracer: the run ends"
is "$(obs '",".join(sorted(set((f["path"], f["sha256"]) == (f["path"], "sha256:" + __import__("hashlib").sha256(open(f["path"], "rb").read()).hexdigest()) and "true" or f["path"] for f in d["observed"]["files_read"])))')" \
	true "$WHO: ... every digest recorded is that of the file at its path"
# A flood of opens from threads: the launcher keeps up and the run ends.
cat >"$W/flood.py" <<'EOF'
import os, threading
def flood(k):
    for i in range(5000):
        try:
            os.open("/nonexistent/%d/%d" % (k, i), os.O_RDONLY)
        except OSError:
            pass
ts = [threading.Thread(target=flood, args=(k,)) for k in range(4)]
for t in ts: t.start()
for t in ts: t.join()
EOF
$RUN timeout 300 "$XRUN" -q run /usr/bin/python3 -S flood.py >/dev/null 2>&1
is "$?" 0 "$WHO: 20,000 opens from 4 threads: the run ends"
like "$(obs 'd["observed"]["calls"]')" "^[0-9]{5,}$" "$WHO: ... each answered"
# Paths the launcher cannot read: a bad pointer, and a process killed
# while its call waits.
cat >"$W/bad.py" <<'EOF'
import ctypes, os, signal
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
r = libc.syscall(257, -100, ctypes.c_void_p(1), 0, 0)
print("openat(bad pointer)", r, ctypes.get_errno())
for _ in range(50):
    pid = os.fork()
    if pid == 0:
        while True:
            os.open("/etc/hostname", os.O_RDONLY)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
EOF
out=$($RUN timeout 300 "$XRUN" -q run /usr/bin/python3 -S bad.py 2>/dev/null)
is "$out" "openat(bad pointer) -1 14" "$WHO: a bad path pointer: EFAULT, as without tracing"
like "$(obs 'd["observed"]["unreadable"]')" "^[1-9]" "$WHO: ... counted as unreadable"

# A record of another kind's numpy: diff says numpy a → b.
train=$($RUN "$XRUN" ls --json --limit 50 | "$PYTHON3" -c '
import json, sys
for r in json.load(sys.stdin):
    rec = json.load(open(r["record"]))
    if rec["command"]["argv"][0] == "./train.sh":
        print(r["record"]); break')
"$PYTHON3" - "$train" "$T/edited.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
for p in r["observed"]["python"]:
    if p["name"] == "numpy":
        p["version"] = "1.26.4"
json.dump(r, open(sys.argv[2], "w"))
EOF
chmod 644 "$T/edited.json"
like "$($RUN "$XRUN" diff "$train" "$T/edited.json" 2>&1)" "imported numpy +$np_ver → 1\.26\.4" \
	"$WHO: diff compares the observed software by package"

# Every record validates.
check "$WHO: every record validates" -- validate .xrun/runs/*/record.json

# xrun check (DESIGN.md §9) on real programs whose cause is known, each
# of which the check must name: shared by t0420 (as root) and t0421 (as
# the unprivileged test user). The caller sets AS (empty, or as_user)
# and W (a directory that user owns), and calls check_scenarios.
# shellcheck shell=bash

CHECK_SCHEMA=$top_srcdir/schemas/check-report.schema.json
OPENBLAS_DIR=/usr/lib/x86_64-linux-gnu/openblas-pthread
REFBLAS_PATH=/usr/lib/x86_64-linux-gnu/blas:/usr/lib/x86_64-linux-gnu/lapack

x() { $AS "$XRUN" "$@"; }
skip() { ok 0 "# SKIP $*"; }
# factor_result FILE NAME: that factor's result in a check report.
factor_result() {
	jget "$1" "[f['result'] for f in d['factors'] if f['name'] == '$2'][0]"
}

# A Python program iterating a set of strings: PYTHONHASHSEED decides
# the order. Checked with -j 2 and factors that must not matter.
scenario_hashseed() {
	cat >"$W/hs.py" <<'PY'
import os
names = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta"}
os.makedirs("out", exist_ok=True)
with open("out/order.txt", "w") as f:
    f.write(" ".join(names) + "\n")
PY
	(cd "$W" && x -q run -o out /usr/bin/python3 hs.py) >/dev/null 2>&1
	ok $? "hashseed: the original run succeeds"
	local id
	id=$(cd "$W" && x ls --json --limit 1 | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
	(cd "$W" && x check -j 2 --json --factors hashseed,env-order,umask,hostname,user,aslr "$id") \
		>"$T/hs.json" 2>"$T/hs.err"
	is "$?" 1 "hashseed: check exits 1 (something differs)"
	check "hashseed: the report validates against check-report.schema.json" -- \
		"$PYTHON3" "$top_srcdir/tests/validate-record.py" "$CHECK_SCHEMA" "$T/hs.json"
	is "$(jget "$T/hs.json" 'd["baseline"]["same"]')" true "hashseed: the two unchanged replays match"
	is "$(factor_result "$T/hs.json" hashseed)" differs "hashseed: PYTHONHASHSEED named"
	local f res=""
	for f in env-order umask hostname user aslr; do
		res="$res $f=$(factor_result "$T/hs.json" "$f")"
	done
	is "$res" " env-order=same umask=same hostname=same user=same aslr=same" \
		"hashseed: env-order, umask, hostname, user, aslr do not matter"
	like "$(jget "$T/hs.json" 'd["verdict"]')" "^depends on hashseed: sort sets" \
		"hashseed: the verdict names it and the fix"
	like "$(jget "$T/hs.json" '[f["path"] for f in [x for x in d["factors"] if x["name"] == "hashseed"][0]["comparison"]["files"]]')" \
		"out/order.txt" "hashseed: the output that differs is named"
	local cid
	cid=$(jget "$T/hs.json" 'd["id"]')
	check "hashseed: the summary is kept in the store and validates" -- \
		"$PYTHON3" "$top_srcdir/tests/validate-record.py" "$CHECK_SCHEMA" "$W/.xrun/checks/$cid.json"
	local tagged
	tagged=$(cd "$W" && x ls --json | "$PYTHON3" -c '
import json, sys
runs = json.load(sys.stdin)
recs = [json.load(open(r["record"])) for r in runs]
tags = sorted(r["tags"].get("check_factor", "") for r in recs if r["tags"].get("check") == sys.argv[1])
print(len(tags), " ".join(tags), all(r["replay_of"] == sys.argv[2] for r in recs if r["tags"].get("check") == sys.argv[1]))
' "$cid" "$id")
	is "$tagged" "8 aslr baseline-1 baseline-2 env-order hashseed hostname umask user True" \
		"hashseed: the replays are runs tagged check=ID and check_factor=F, replays of the run"
	local knobs
	knobs=$(cd "$W" && x ls --json | "$PYTHON3" -c '
import json, sys
for r in json.load(sys.stdin):
    d = json.load(open(r["record"]))
    f = d["tags"].get("check_factor") if d["tags"].get("check") == sys.argv[1] else None
    if f == "hostname":
        print("hostname", d["sandbox"]["hostname"])
    if f == "user":
        print("uid", d["sandbox"]["ids"]["uid"])
' "$cid" | sort | tr '\n' ' ')
	like "$knobs" "^hostname xrun-check uid 100[01] $" \
		"hashseed: the replays' records say the host name and uid their program had"
	local recs
	recs=$(cd "$W" && x ls --json | "$PYTHON3" -c 'import json,sys; print("\n".join(r["record"] for r in json.load(sys.stdin)))')
	# shellcheck disable=SC2086
	check "hashseed: the run's and the replays' records validate" -- validate $recs
	like "$(cd "$W" && x show "$id")" "^check +depends on hashseed \(check ${cid:0:8}" \
		"hashseed: xrun show RUN names the latest check"
	like "$(cd "$W" && x ls)" "^${id:0:8} .*\[check: depends on hashseed\]" \
		"hashseed: xrun ls shows it beside the run"
	is "$(cd "$W" && x ls --json | "$PYTHON3" -c '
import json, sys
print([r["check"]["result"] for r in json.load(sys.stdin) if r["id"] == sys.argv[1]][0])' "$id")" \
		"depends on hashseed" "hashseed: ... and ls --json"
}

# A numpy reduction with multi-threaded OpenBLAS: threads.
scenario_threads() {
	if [ ! -e "$OPENBLAS_DIR/libblas.so.3" ]; then
		skip "threads: libopenblas0-pthread is not installed (build-aux/install-deps --test)"
		return
	fi
	if [ "$(nproc)" -lt 2 ]; then
		skip "threads: one CPU here: no other thread count to try"
		return
	fi
	cat >"$W/blas.py" <<'PY'
import json, os
import numpy as np
rng = np.random.default_rng(7)
x = rng.standard_normal(1_200_000)
os.makedirs("out", exist_ok=True)
with open(os.environ["XRUN_METRICS"], "a") as m:
    for step in range(40):
        n = 1000 * (step + 1) ** 2
        m.write(json.dumps({"step": step, "loss": float(x[:n] @ x[:n])}) + "\n")
r = np.array([x @ x, float(np.dot(x[::2], x[1::2]))])
np.save("out/r.npy", r)
np.savez("out/r.npz", r=r, ones=np.ones(3))
np.savez_compressed("out/z.npz", r=r)
np.savetxt("out/r.csv", r.reshape(1, 2), delimiter=",")
print(repr(r[0]))
PY
	(cd "$W" && LD_LIBRARY_PATH=$OPENBLAS_DIR x -q run -o out /usr/bin/python3 blas.py) >/dev/null 2>&1
	ok $? "threads: the OpenBLAS run succeeds"
	local id
	id=$(cd "$W" && x ls --json --limit 1 | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
	(cd "$W" && x check --factors threads "$id") >"$T/th.out" 2>&1
	is "$?" 2 "threads: a record that sets LD_LIBRARY_PATH is refused like replay refuses it"
	like "$(cat "$T/th.out")" "sets LD_LIBRARY_PATH for the program.*--force" "... saying what to do"
	(cd "$W" && LD_LIBRARY_PATH=$OPENBLAS_DIR x check --factors threads,hashseed "$id") >"$T/th.out" 2>&1
	is "$?" 1 "threads: check exits 1"
	local out
	out=$(cat "$T/th.out")
	like "$out" "^  threads +differs +1 CPU" "threads: named"
	like "$out" "^  hashseed +same" "threads: hashseed does not matter"
	like "$out" "r\.npy': [0-9]+ of 2 values differ, largest absolute difference [0-9.e-]+ \(at \[[01]\]\), largest relative [0-9.e-]+$" \
		"threads: the .npy's largest absolute and relative difference"
	like "$out" "r\.npz': [0-9]+ of 5 values differ, largest absolute difference [0-9.e-]+ \(at r\[[01]\]\)" \
		"threads: the .npz's members read (np.savez stores them)"
	like "$out" "z\.npz': r\.npy: not compared \(a compressed member" \
		"threads: a compressed .npz member is named as not compared"
	like "$out" "r\.csv': [0-9]+ of 2 values differ, largest absolute difference [0-9.e-]+ \(at row 1, column [12]\)" \
		"threads: the CSV's numbers compared"
	like "$out" "^  loss differs from step [0-9]+: [0-9.]+ vs [0-9.]+" \
		"threads: the first metric step where the streams part"
	like "$out" "^verdict: depends on threads: run with --deterministic, or set OMP_NUM_THREADS" \
		"threads: the verdict and its fix"
}

# A program seeding its generator from the clock: nondeterministic by itself.
scenario_clock() {
	cat >"$W/clock.py" <<'PY'
import os, random, time
random.seed(time.time_ns())
os.makedirs("out", exist_ok=True)
open("out/draw.txt", "w").write("%r\n" % random.random())
PY
	(cd "$W" && x -q run -o out /usr/bin/python3 clock.py) >/dev/null 2>&1
	local id
	id=$(cd "$W" && x ls --json --limit 1 | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
	(cd "$W" && x check --factors hashseed,timezone "$id") >"$T/cl.out" 2>&1
	is "$?" 1 "clock: check exits 1"
	local out
	out=$(cat "$T/cl.out")
	like "$out" "^  baseline +differs" "clock: the unchanged replays differ"
	like "$out" "^baseline: the two unchanged replays differ:" "clock: ... and where:"
	like "$out" "^  '.*out/draw.txt' differs" "clock: ... the output named"
	like "$out" "^  hashseed +not tested +not run: the two unchanged replays already differ" \
		"clock: no factor is judged against a baseline that differs"
	like "$out" "^verdict: nondeterministic by itself" "clock: the verdict"
}

# A program listing a directory unsorted: file-order.
scenario_file_order() {
	mkdir -p "$W/data"
	local f
	for f in a b c d e f; do echo "$f" >"$W/data/$f"; done
	cat >"$W/ls.py" <<'PY'
import os
os.makedirs("out", exist_ok=True)
open("out/list.txt", "w").write("\n".join(os.listdir("data")) + "\n")
PY
	(cd "$W" && x -q run -o out /usr/bin/python3 ls.py) >/dev/null 2>&1
	local id before
	id=$(cd "$W" && x ls --json --limit 1 | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
	before=$(stat -c '%Y %s' "$W/out/list.txt"; sha256sum <"$W/out/list.txt")
	(cd "$W" && x check --json --factors file-order,hashseed "$id") >"$T/fo.json" 2>/dev/null
	is "$?" 1 "file-order: check exits 1"
	is "$(stat -c '%Y %s' "$W/out/list.txt"; sha256sum <"$W/out/list.txt")" "$before" \
		"file-order: the user's output is untouched by the check's replays"
	is "$(factor_result "$T/fo.json" file-order)" differs "file-order: named"
	is "$(factor_result "$T/fo.json" hashseed)" same "file-order: hashseed does not matter"
	like "$(jget "$T/fo.json" 'd["verdict"]')" "^depends on file-order: sort directory listings" \
		"file-order: the verdict"
}

# A program formatting numbers with the user's locale: locale.
scenario_locale() {
	cat >"$W/loc.py" <<'PY'
import locale, os
locale.setlocale(locale.LC_ALL, "")
os.makedirs("out", exist_ok=True)
open("out/report.txt", "w").write(locale.format_string("%.2f", 1234567.5, grouping=True) + "\n")
PY
	(cd "$W" && LC_ALL=C.UTF-8 x -q run -o out /usr/bin/python3 loc.py) >/dev/null 2>&1
	local id
	id=$(cd "$W" && x ls --json --limit 1 | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
	(cd "$W" && x check --json --factors locale,timezone "$id") >"$T/lc.json" 2>/dev/null
	local st=$?
	if locale -a 2>/dev/null | grep -qi '^de_DE\.utf-\?8$'; then
		is "$st" 1 "locale: check exits 1"
		is "$(factor_result "$T/lc.json" locale)" differs "locale: named"
		is "$(factor_result "$T/lc.json" timezone)" same "locale: the time zone does not matter"
		like "$(jget "$T/lc.json" 'd["verdict"]')" "^depends on locale: set the locale: -e LC_ALL=C.UTF-8" \
			"locale: the verdict"
	else
		is "$st" 0 "locale: check exits 0 (nothing tested differs)"
		is "$(factor_result "$T/lc.json" locale)" "not tested" \
			"locale: not tested where no other locale is installed"
		like "$(jget "$T/lc.json" '[f["why"] for f in d["factors"] if f["name"] == "locale"][0]')" \
			"locales-all" "locale: ... saying what to install"
		ok 0 "# SKIP locale: no de_DE.UTF-8 here to name it (install locales-all)"
	fi
}

# A seeded scikit-learn training on the reference BLAS: the same under
# every factor. FACTORS: the list to check (all by default).
scenario_sklearn() {
	local factors=${1:-all}
	cat >"$W/sk.py" <<'PY'
import json, os
import numpy as np
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
X, y = make_classification(n_samples=200, n_features=8, random_state=int(os.environ["XRUN_SEED"]) % 1000)
m = LogisticRegression(max_iter=200).fit(X, y)
os.makedirs("out", exist_ok=True)
np.save("out/coef.npy", m.coef_)
with open(os.environ["XRUN_METRICS"], "a") as f:
    for step in range(5):
        f.write(json.dumps({"step": step, "acc": m.score(X[: 40 * (step + 1)], y[: 40 * (step + 1)])}) + "\n")
print("accuracy %.6f" % m.score(X, y))
PY
	(cd "$W" && LD_LIBRARY_PATH=$REFBLAS_PATH x -q run --seed 5 -o out /usr/bin/python3 sk.py) >/dev/null 2>&1
	ok $? "sklearn: the seeded training succeeds"
	local id
	id=$(cd "$W" && x ls --json --limit 1 | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
	(cd "$W" && LD_LIBRARY_PATH=$REFBLAS_PATH x check -j 2 --json --factors "$factors" "$id") \
		>"$T/sk.json" 2>"$T/sk.err"
	is "$?" 0 "sklearn: check exits 0 (factors $factors)"
	check "sklearn: the report validates" -- \
		"$PYTHON3" "$top_srcdir/tests/validate-record.py" "$CHECK_SCHEMA" "$T/sk.json"
	is "$(jget "$T/sk.json" 'sorted(set(f["result"] for f in d["factors"]) - {"not tested"})')" '["same"]' \
		"sklearn: every tested factor gives the same outputs"
	like "$(jget "$T/sk.json" 'd["verdict"]')" "^deterministic under every tested factor" \
		"sklearn: the verdict says deterministic"
	if [ "$factors" = all ]; then
		is "$(jget "$T/sk.json" 'len(d["factors"])')" 13 "sklearn: all 13 factors reported"
		is "$(factor_result "$T/sk.json" cwd-path)" "not tested" "sklearn: cwd-path not tested"
		like "$(jget "$T/sk.json" '[f["why"] for f in d["factors"] if f["name"] == "cwd-path"][0]')" \
			"recorded paths" "... with the reason"
		is "$(jget "$T/sk.json" '[f for f in d["factors"] if f["result"] == "not tested" and not f.get("why")]')" \
			"[]" "sklearn: every factor not tested says why"
	fi
}

check_scenarios() {
	scenario_hashseed
	scenario_threads
	scenario_clock
	scenario_file_order
	scenario_locale
}

#!/bin/sh
# The sandbox's cost: `/bin/true`, `xrun run -- /bin/true` (sandbox and
# full record) and bubblewrap's bare sandbox around /bin/true, side by
# side in one hyperfine run, as root and as an unprivileged user.
#
#   bench/sandbox-overhead.sh [XRUN] [RUNS]
#
# Target (the sandbox issue): xrun/bwrap <= 1.0. The unprivileged pass
# runs as the user xrun-test (created when missing, as the tests do) and
# is skipped when this script is not run as root.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
XRUN=${1:-./xrun}
RUNS=${2:-200}
case $XRUN in /*) ;; *) XRUN=$(pwd)/$XRUN ;; esac
for tool in hyperfine bwrap; do
	command -v $tool >/dev/null || {
		echo "bench: $tool is not installed (apt-get install hyperfine bubblewrap)" >&2
		exit 1
	}
done
dir=$(mktemp -d)
chmod 755 "$dir"
trap 'rm -rf "$dir"' EXIT
sh "$here/settle.sh" "$dir" # see there
BWRAP="bwrap --unshare-all --die-with-parent --ro-bind / / --proc /proc --dev /dev --tmpfs /tmp /bin/true"

echo "== machine: $(uname -srm), $(nproc) CPUs, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)"
echo "== xrun: $("$XRUN" --version); $(bwrap --version)"

pass() { # pass NAME PREFIX...: one side-by-side run, as the prefix says
	name=$1
	shift
	mkdir -p "$dir/$name"
	chmod 777 "$dir/$name"
	(cd "$dir/$name" && "$@" "$XRUN" -q run -- /bin/true) # store, caches
	(cd "$dir/$name" && "$@" hyperfine -N --warmup 20 --runs "$RUNS" \
		--export-json "$dir/$name/times.json" \
		-n "/bin/true" "/bin/true" \
		-n "xrun run -- /bin/true" "$XRUN -q run -- /bin/true" \
		-n "xrun run --no-sandbox -- /bin/true" "$XRUN -q run --no-sandbox -- /bin/true" \
		-n "bwrap (bare sandbox)" "$BWRAP" >&2)
}

pass root env
if [ "$(id -u)" = 0 ]; then
	id xrun-test >/dev/null 2>&1 ||
		useradd --system --create-home --shell /bin/sh xrun-test
	pass user setpriv --reuid=xrun-test --regid=xrun-test --init-groups \
		env HOME="$(getent passwd xrun-test | cut -d: -f6)"
fi

/usr/bin/python3 - "$dir" <<'PY'
import json, os, statistics, sys
def row(**kw):
    """One line for bench/run's table, when it asked for them."""
    import json, os
    out = os.environ.get("BENCH_ROWS")
    if out:
        with open(out, "a") as f:
            f.write(json.dumps(kw) + "\n")
d = sys.argv[1]
for who in ("root", "user"):
    path = os.path.join(d, who, "times.json")
    if not os.path.exists(path):
        continue
    rows = [(r["command"], statistics.median(r["times"]) * 1000)
            for r in json.load(open(path))["results"]]
    med = dict(rows)
    print(f"-- as {who}")
    print(f"{'command':38} {'median':>9}")
    for name, m in rows:
        print(f"{name:38} {m:7.2f}ms")
    ratio = med["xrun run -- /bin/true"] / med["bwrap (bare sandbox)"]
    print(f"xrun/bwrap: {ratio:.2f} (target <= 1.0: {'met' if ratio <= 1.0 else 'NOT met'}); "
          f"sandbox alone: {med['xrun run -- /bin/true'] - med['xrun run --no-sandbox -- /bin/true']:+.2f}ms")
    bw = med["bwrap (bare sandbox)"]
    row(bench=f"sandbox ({who})", what="bwrap (bare sandbox)",
        median_ms=bw, vs="/bin/true", vs_ms=med["/bin/true"],
        result=f"{bw - med['/bin/true']:+.2f} ms", target="", met=None)
    row(bench=f"sandbox ({who})", what="xrun run -- /bin/true",
        median_ms=med["xrun run -- /bin/true"], vs="bwrap", vs_ms=bw,
        result=f"{ratio:.2f}x", target="<= 1.0x", met=ratio <= 1.0)
PY

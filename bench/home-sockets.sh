#!/bin/sh
# The cost of the private home and of covering the host's unix sockets
# (issue 16.3, 16.4), side by side in one hyperfine run:
#   xrun run -- /bin/true               private home, sockets covered
#   xrun run --host-home -- /bin/true   the host's home, sockets covered
#   OLD run -- /bin/true                a build without either (optional)
# first with the host as it is, then with N more sockets listening in a
# directory the view shows (/var/cache), each of which the sandbox
# covers with one more mount.
#
#   bench/home-sockets.sh [XRUN] [RUNS] [N] [OLD_XRUN]
#
# Run as root (the sockets go in /var/cache).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
XRUN=${1:-./xrun}
RUNS=${2:-100}
N=${3:-200}
OLD=${4:-}
case $XRUN in /*) ;; *) XRUN=$(pwd)/$XRUN ;; esac
case $OLD in /* | "") ;; *) OLD=$(pwd)/$OLD ;; esac
command -v hyperfine >/dev/null || {
	echo "bench: hyperfine is not installed (apt-get install hyperfine)" >&2
	exit 1
}
[ "$(id -u)" = 0 ] || {
	echo "bench: run as root (the sockets go in /var/cache)" >&2
	exit 1
}
dir=$(mktemp -d)
socks=/var/cache/xrun-bench-sockets-$$
pids=
cleanup() {
	# shellcheck disable=SC2086
	[ -n "$pids" ] && kill $pids 2>/dev/null
	rm -rf "$dir" "$socks"
}
trap cleanup EXIT
[ "${SETTLE:-1}" = 0 ] || sh "$here/settle.sh" "$dir" # SETTLE=0 skips it
echo "== machine: $(uname -srm), $(nproc) CPUs, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)"
echo "== xrun: $("$XRUN" --version)${OLD:+; old: $OLD}"

pass() { # pass NAME: one side-by-side run
	name=$1
	cd "$dir"
	"$XRUN" -q run -- /bin/true
	set -- -n "private home" "$XRUN -q run -- /bin/true" \
		-n "host home (--host-home)" "$XRUN -q run --host-home -- /bin/true"
	[ -n "$OLD" ] && set -- "$@" -n "old build" "$OLD -q run -- /bin/true"
	echo "== $name: $(wc -l </proc/net/unix) lines in /proc/net/unix" >&2
	hyperfine -N --warmup 10 --runs "$RUNS" "$@" >&2
}
pass "host as it is"
mkdir -p "$socks"
python3 - "$socks" "$N" <<'PY' &
import os, socket, sys, time
d, n = sys.argv[1], int(sys.argv[2])
keep = []
for i in range(n):
    s = socket.socket(socket.AF_UNIX)
    s.bind(os.path.join(d, "s%d.sock" % i))
    s.listen(1)
    keep.append(s)
open(os.path.join(d, "ready"), "w").close()
time.sleep(3600)
PY
pids=$!
while [ ! -e "$socks/ready" ]; do sleep 0.1; done
pass "$N more sockets in /var/cache"

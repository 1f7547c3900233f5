# The catalogue of hostile programs (DESIGN.md §4), sourced by
# t0110-sandbox.sh (as root) and t0111-sandbox-user.sh (as the test user)
# after lib.sh, with RUN_AS set to "" or "as_user". Each case runs a real
# xrun on a program that tries to get out, and says what must happen.
# shellcheck shell=bash

H=${XRUN_HELPERS:-$(dirname "$XRUN")/tests/helpers}
[ -x "$H/hostile" ] && [ -x "$H/try-syscall" ] ||
	skip_all "the helpers in '$H' are not built (make check builds them)"

# The working directory is the sandbox's view of $T (its /tmp is its
# own): the helpers are copied there, where the test user can run them
# too, and so is a home with secrets, so that the home is visible
# (read-only) and only the hiding keeps them out.
W=$T/work
mkdir "$W" "$W/bin" "$T/scratch"
cp "$H/hostile" "$H/try-syscall" "$W/bin/" || exit 1
chmod 755 "$W/bin" "$W/bin/hostile" "$W/bin/try-syscall"
HOST=$W/bin/hostile
TRY=$W/bin/try-syscall
HOMEDIR=$W/home
mkdir -p "$HOMEDIR/.ssh" "$HOMEDIR/.aws"
echo "SECRET-SSH-KEY-$$" >"$HOMEDIR/.ssh/id_rsa"
echo "SECRET-AWS-$$" >"$HOMEDIR/.aws/credentials"
echo "machine example.com password SECRET-NETRC-$$" >"$HOMEDIR/.netrc"
echo "visible-$$" >"$HOMEDIR/notes.txt"
chmod 600 "$HOMEDIR/.ssh/id_rsa" "$HOMEDIR/.netrc"
# Only on the host: the sandbox's /tmp is its own, with $W bound in.
echo host-only >"$T/hostonly"
# Each case's files get a tag of their own, so that leftovers on the host
# from an escape are unmistakable.
TAG=xrun-t011x-$$
[ -n "$RUN_AS" ] && chown -R "$TEST_USER:" "$W" "$T/scratch"
chown -R 0:0 "$W/bin"
cd "$W" || exit 1
if [ -n "$RUN_AS" ]; then
	RUN_UID=$(id -u "$TEST_USER")
else
	RUN_UID=$(id -u)
fi

skip() {
	_tap_n=$((_tap_n + 1))
	echo "ok $_tap_n # SKIP $*"
}
# xr ARGS...: xrun -q run ARGS as the user of this file, with the test home.
xr() {
	$RUN_AS env HOME="$HOMEDIR" "$XRUN" -q run "$@"
}
# latest: the newest record of the store in $W.
latest() {
	$RUN_AS "$XRUN" ls --json --limit 1 |
		"$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["record"])'
}
# A case whose output must not contain TEXT.
unlike() {
	local text=$1 re=$2
	shift 2
	if printf '%s' "$text" | grep -q -E -e "$re"; then
		ok 1 "$*"
		printf '%s\n' "$text" | grep -E -e "$re" | head -n 5 | sed 's/^/#   leaked: /'
	else
		ok 0 "$*"
	fi
}

out=$(xr true 2>&1)
[ $? -eq 0 ] || skip_all "the sandbox cannot start here: $out"

# ---- the file system ----
is "$(xr "$HOST" write "$W/$TAG")" "write EROFS" "the working directory is read-only (EROFS)"
is "$(xr "$HOST" write "/usr/$TAG")" "write EROFS" "/usr is read-only (EROFS)"
is "$(xr "$HOST" write "/etc/$TAG")" "write EROFS" "/etc is read-only (EROFS)"
rm -f "$W/$TAG" "/usr/$TAG" "/etc/$TAG" 2>/dev/null
is "$(xr -o out "$HOST" write "$W/out/$TAG")" "write OK" "an --output directory is writable"
is "$(cat "$W/out/$TAG" 2>&1)" hostile "... and what was written there is on the host afterwards"
is "$(xr "$HOST" remount)" "remount EPERM" "mount(MS_REMOUNT) of / read-write: EPERM"
out=$(xr sh -c 'mount -o remount,rw / >/dev/null 2>&1; echo "mount $?"; "$0" write "$1"' "$HOST" "/etc/$TAG")
like "$out" "^mount [1-9]" "mount -o remount,rw / fails"
like "$out" "write EROFS" "... and / stays read-only"
rm -f "/etc/$TAG" 2>/dev/null

# ---- secrets in the home directory ----
out=$(xr sh -c 'cat "$HOME/.ssh/id_rsa" "$HOME/.aws/credentials" "$HOME/.netrc" "$HOME/notes.txt"; ls -a "$HOME/.ssh"' 2>&1)
unlike "$out" "SECRET-" "~/.ssh/id_rsa, ~/.aws/credentials and ~/.netrc are not readable"
like "$out" "visible-$$" "... while the rest of the home is (the home is in the view)"
is "$(xr "$HOST" read "$HOMEDIR/.ssh/id_rsa" | head -n 1)" "read EACCES" "~/.ssh is an empty directory the run cannot enter"
# Dotfile managers (stow, chezmoi, home-manager) make these symlinks; the
# run must start, and the secret behind the link stay hidden.
mkdir -p "$W/home2" "$W/dotfiles/aws"
echo "SECRET-AWS2-$$" >"$W/dotfiles/aws/credentials"
echo "machine example.com password SECRET-NETRC2-$$" >"$W/dotfiles/netrc"
ln -s ../dotfiles/aws "$W/home2/.aws"
ln -s "$W/dotfiles/netrc" "$W/home2/.netrc"
[ -n "$RUN_AS" ] && chown -R -h "$TEST_USER:" "$W/home2" "$W/dotfiles"
out=$($RUN_AS env HOME="$W/home2" "$XRUN" -q run sh -c 'cat "$HOME/.aws/credentials" "$HOME/.netrc" 2>&1 | tr -d "\n"; echo; echo started' 2>&1)
like "$out" "^started" "secrets that are symlinks (~/.aws -> dir, ~/.netrc -> absolute path): the run starts"
unlike "$out" "SECRET-" "... and what they point to is not readable"

# ---- the store ----
xr sh -c "echo SECRET-OTHER-RUN-$$" >/dev/null
other=$(basename "$(dirname "$(latest)")")
out=$(xr -p lr=0.25 sh -c 'find .xrun | sort; cat "$XRUN_PARAMS"; echo "{\"loss\": 0.5}" >>"$XRUN_METRICS"; "$0" write .xrun/evil' "$HOST" 2>&1)
rec=$(latest)
id=$(basename "$(dirname "$rec")")
is "$(printf '%s\n' "$out" | grep '^\.xrun' | tr '\n' ' ')" \
	".xrun .xrun/runs .xrun/runs/$id .xrun/runs/$id/metrics.jsonl .xrun/runs/$id/params.json " \
	"the store shows only this run's params.json and metrics.jsonl"
unlike "$out" "$other" "... no other run's directory"
like "$out" '"lr": 0.25' "... params.json is readable"
is "$(jget "$rec" 'd["result"]["metrics"]["loss"]["last"]')" 0.5 "... metrics.jsonl is writable"
like "$out" "write EROFS" "... and nothing else in the store is (EROFS)"
unlike "$(xr cat ".xrun/runs/$other/stdout" ".xrun/runs/$other/record.json" 2>&1)" "SECRET-OTHER-RUN" \
	"another run's output and record are not readable"

# ---- the network ----
"$HOST" serve "$T/port" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$T"' EXIT
if wait_for "$T/port" '[0-9]' && port=$(cat "$T/port") && [ "$("$HOST" connect "$port")" = "connect OK hello" ]; then
	like "$(xr "$HOST" connect "$port")" "^connect (ECONNREFUSED|ENETUNREACH|ETIMEDOUT)$" \
		"a server on the host's 127.0.0.1 is unreachable"
	is "$(xr --net "$HOST" connect "$port")" "connect OK hello" "... and reachable with --net"
	net_id=$(basename "$(dirname "$(latest)")")
else
	skip "cannot start a TCP server on 127.0.0.1 here"
	skip "cannot start a TCP server on 127.0.0.1 here"
	net_id=
fi
kill $server 2>/dev/null
# Unix sockets: a socket file under /run (where docker.sock, dbus's system
# bus and containerd's live; made world-writable like dbus's) is the
# host's network too; an abstract one belongs to the network namespace.
sock=/run/$TAG.sock
"$HOST" userve "$sock" "$T/sock.ready" &
userver=$!
"$HOST" userve "@$TAG" "$T/abstract.ready" &
aserver=$!
trap 'kill $userver $aserver 2>/dev/null; rm -f "$sock"; rm -rf "$T"' EXIT
if wait_for "$T/sock.ready" ready && chmod 666 "$sock" &&
	[ "$("$HOST" uconnect "$sock")" = "connect OK hello" ]; then
	like "$(xr "$HOST" uconnect "$sock")" "^connect E(NOENT|CONNREFUSED|ACCES|PERM)$" \
		"a unix socket on the host (/run/NAME.sock, like docker.sock) is unreachable"
else
	skip "cannot listen on a unix socket in /run here"
fi
if wait_for "$T/abstract.ready" ready && [ "$("$HOST" uconnect "@$TAG")" = "connect OK hello" ]; then
	is "$(xr "$HOST" uconnect "@$TAG")" "connect ECONNREFUSED" "an abstract unix socket on the host is unreachable"
	# With --net, a Landlock scope (ABI 6) keeps the run to abstract
	# sockets of its own; a kernel without it leaves the host's open.
	out=$(xr --net "$HOST" uconnect "@$TAG")
	if [ "$(jget "$(latest)" 'd["sandbox"]["abstract_unix_sockets"]')" = "scoped (landlock)" ]; then
		is "$out" "connect EPERM" "... and with --net too (Landlock scope): EPERM"
	else
		is "$out" "connect OK hello" "... and reachable with --net (no Landlock ABI 6 here)"
	fi
	net_ids="$net_id $(basename "$(dirname "$(latest)")")"
else
	skip "cannot listen on an abstract unix socket here"
	skip "cannot listen on an abstract unix socket here"
	net_ids=$net_id
fi
kill $userver $aserver 2>/dev/null
rm -f "$sock"
is "$(xr "$HOST" loopback)" "connect OK hello" "loopback is up inside: a server and a client on 127.0.0.1"

# ---- other processes ----
# The launcher's pid, from the shell that becomes it (exec).
out=$($RUN_AS env HOME="$HOMEDIR" sh -c 'exec "$1" -q run -e XPID=$$ sh -c "\"\$0\" ptrace \"\$XPID\"" "$2"' sh "$XRUN" "$HOST")
xpid=$(jget "$(latest)" 'd["launcher"]["pid"]')
is "$(jget "$(latest)" 'd["environment"]["variables"]["XPID"]')" "$xpid" "(the program was given the launcher's pid)"
like "$out" "^ptrace EPERM" "PTRACE_ATTACH to the launcher: EPERM"
like "$out" "process_vm_readv EPERM" "process_vm_readv of the launcher: EPERM"
is "$(xr "$HOST" pids)" "1 2" "/proc shows only the sandbox: the reaper (1) and the program (2)"
is "$(xr cat /proc/1/comm)" xrun "pid 1 is the reaper"
re='(^| )'"$$"'( |$)'
unlike "$(xr "$HOST" pids)" "$re" "the test's own pid ($$) is not in /proc"
is "$(xr "$HOST" stat "$T/hostonly")" "stat ENOENT" "a host file outside the view is not there"
like "$(xr "$HOST" stat "/proc/1/root$T/hostonly")" "^stat E(NOENT|ACCES)$" "... nor through /proc/1/root (the reaper's root is the sandbox's)"

# ---- the seccomp policy, live inside the sandbox ----
out=$(xr "$TRY" tiocsti </dev/null)
is "$(printf '%s\n' "$out" | tr '\n' ' ')" "tiocsti EPERM tiocsti-high EPERM " "TIOCSTI, with and without the high bits: EPERM"
out=$(xr "$TRY" list)
for c in unshare clone:NEWUSER mount bpf io_uring_setup keyctl perf_event_open init_module; do
	is "$(printf '%s\n' "$out" | sed -n "s/^$c //p")" EPERM "$c: EPERM"
done
is "$(printf '%s\n' "$out" | sed -n 's/^clone3 //p')" ENOSYS "clone3: ENOSYS"
is "$(xr "$TRY" thread)" "thread OK" "pthread_create still works (glibc falls back to clone)"
is "$(xr "$PYTHON3" -c 'import threading; t=threading.Thread(target=print,args=("ok",)); t.start(); t.join()')" ok \
	"a Python thread starts"
if [ "$("$TRY" int80 2>&1)" = "int80 OK" ]; then
	{ out=$(xr "$TRY" int80 2>&1); } 2>/dev/null
	is "$?" $((128 + 31)) "an i386 int \$0x80 call is killed: 128+SIGSYS"
	is "$out" "" "... before it returns"
	rec=$(latest)
	is "$(jget "$rec" 'd["status"]')" killed "... recorded as killed"
	is "$(jget "$rec" 'd["result"]["signal"]')" 31 "... by signal 31"
else
	for _ in 1 2 3 4; do skip "int \$0x80 does not work here without the filter either"; done
fi

# ---- privileges ----
out=$(xr grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs):' /proc/self/status | tr -s '\t ' ' ' | tr '\n' ' ')
is "$out" "CapInh: 0000000000000000 CapPrm: 0000000000000000 CapEff: 0000000000000000 CapBnd: 0000000000000000 CapAmb: 0000000000000000 NoNewPrivs: 1 " \
	"no capabilities at all, no_new_privs set"
is "$(xr id -u)" "$RUN_UID" "the uid inside is the caller's ($RUN_UID)"
# A setuid-root copy of the helper: it works on the host, it gives
# nothing inside.
cp "$HOST" "$W/bin/suid"
chown 0:0 "$W/bin/suid" && chmod 4755 "$W/bin/suid"
if have_test_user && [ "$(as_user "$W/bin/suid" ids)" = "uid $(id -u "$TEST_USER") euid 0" ]; then
	is "$(xr "$W/bin/suid" ids)" "uid $RUN_UID euid $RUN_UID" "a setuid-root program gains nothing"
else
	skip "setuid programs do not work on $W here, or there is no test user"
fi
if [ -n "$RUN_AS" ]; then
	unlike "$(xr su -c id root </dev/null 2>&1)" "uid=0" "su (setuid root) gains nothing"
else
	skip "su: already uid 0, and without capabilities (above)"
fi
is "$(xr "$HOST" fds 7<"$HOMEDIR/notes.txt" 9>"$T/fd9")" "0 1 2" "inherited descriptors (7, 9) are closed in the program"

# ---- limits, ends, signals ----
out=$(xr --pids 64 --timeout 20 "$HOST" bomb 2 1000)
st=$?
is "$st" 0 "a fork bomb under --pids 64: xrun returns"
max=$(printf '%s\n' "$out" | sed -n 's/.*max_alive \([0-9]*\).*/\1/p')
ok $((!(${max:-9999} + 1 <= 64))) "... at most 64 processes at once, the reaper counted (saw $((${max:-9998} + 1)))"
like "$out" "failures [1-9]" "... forks beyond the limit failed"
rec=$(latest)
is "$(jget "$rec" 'd["status"]')" succeeded "... the record is finalized"
check "... and validates" -- validate "$rec"

start=$(date +%s%N)
xr --timeout 1 "$HOST" ignore-term >/dev/null
st=$?
ms=$((($(date +%s%N) - start) / 1000000))
is "$st" 137 "a program that ignores SIGTERM under --timeout 1: killed, 128+9"
ok $((!(ms >= 2500 && ms < 8000))) "... after the 2 s grace (${ms} ms)"
rec=$(latest)
is "$(jget "$rec" 'd["status"]')" timeout "... recorded as timeout"
like "$(jget "$rec" 'd["result"]["cause"]')" "timed out after 1s" "... with the cause"

xr "$HOST" daemon "$TAG" >/dev/null
is "$?" 0 "a double-forked daemon: the program exits"
for _ in $(seq 20); do
	pgrep -f "^xrun-hostile-daemon-$TAG" >/dev/null || break
	sleep 0.1
done
pgrep -f "^xrun-hostile-daemon-$TAG" >/dev/null
ok $((!$?)) "... and the daemon is gone after the run"
pkill -KILL -f "^xrun-hostile-daemon-$TAG" 2>/dev/null

# The launcher's pid from the shell that becomes it: with as_user, $! is
# a subshell that ignores ^C.
$RUN_AS env HOME="$HOMEDIR" sh -c 'echo $$ >"$0"; exec "$@"' "$T/scratch/int.pid" \
	"$XRUN" -q run "$HOST" wait-int >"$T/int.out" 2>&1 &
job=$!
wait_for "$T/int.out" ready
kill -INT "$(cat "$T/scratch/int.pid")"
wait $job
is "$?" 130 "^C to the launcher: forwarded, the program exits 130"
like "$(cat "$T/int.out")" "got SIGINT" "... the program saw SIGINT"
rec=$(latest)
is "$(jget "$rec" 'd["status"]')" interrupted "... recorded as interrupted"

# ---- what the program sees ----
out=$(xr sh -c 'hostname; ls /dev | tr "\n" " "; echo; stat -c "%a" /dev/shm /tmp; echo x >"/dev/shm/$0" && echo x >"/tmp/$0" && echo wrote' "$TAG" 2>&1)
is "$(printf '%s\n' "$out" | sed -n 1p)" xrun "the host name is xrun"
is "$(printf '%s\n' "$out" | sed -n 2p)" "fd full null ptmx pts random shm stderr stdin stdout tty urandom zero " \
	"/dev holds only the basic nodes"
is "$(printf '%s\n' "$out" | sed -n '3,4p' | tr '\n' ' ')" "1777 1777 " "/dev/shm and /tmp are 1777"
like "$out" "wrote" "... and writable"
ok $(
	[ ! -e "/dev/shm/$TAG" ] && [ ! -e "/tmp/$TAG" ]
	echo $?
) "... and private: nothing appears on the host"
rm -f "/dev/shm/$TAG" "/tmp/$TAG"
is "$(xr "$HOST" write /proc/sys/kernel/hostname)" "write EROFS" "/proc/sys is read-only (EROFS)"
like "$(xr "$HOST" write /proc/sysrq-trigger)" "^write E(ROFS|NOENT)$" "/proc/sysrq-trigger cannot be written (EROFS, or absent)"

# ---- real workloads ----
if "$PYTHON3" -c 'import numpy' 2>/dev/null; then
	out=$(xr "$PYTHON3" -c '
import threading, numpy as np
r = []
ts = [threading.Thread(target=lambda i=i: r.append(float((np.eye(64) * i).sum()))) for i in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]
print(sorted(r))' 2>&1)
	is "$out" "[0.0, 64.0, 128.0, 192.0]" "numpy in four Python threads"
else
	skip "python3-numpy is not installed (build-aux/install-deps --test installs it)"
fi
is "$(xr "$PYTHON3" -c 'import multiprocessing as m; print(m.Pool(2).map(abs, [-1,-2]))' 2>&1)" "[1, 2]" \
	"a multiprocessing Pool (semaphores in /dev/shm)"

# ---- user namespaces unavailable ----
# user.max_user_namespaces is per user namespace: set to 0 in a namespace
# of the test's own, it forbids xrun's without touching the host's.
mkdir "$T/nouserns"
[ -n "$RUN_AS" ] && chown "$TEST_USER:" "$T/nouserns"
nouserns() {
	$RUN_AS unshare --user --map-root-user sh -c '
		echo 0 >/proc/sys/user/max_user_namespaces || exit 99
		cd "$1" && shift && exec "$@"' sh "$T/nouserns" "$@"
}
nouserns true 2>"$T/err"
if [ $? -eq 0 ]; then
	err=$(nouserns "$XRUN" -q run sh -c 'touch marker' 2>&1)
	is "$?" 125 "user namespaces unavailable: exit 125"
	is "$(printf '%s\n' "$err" | wc -l)" 1 "... one line of error"
	like "$err" "user\.max_user_namespaces.*--no-sandbox" "... naming user.max_user_namespaces and --no-sandbox"
	ok $([ ! -e "$T/nouserns/marker" ]; echo $?) "... the program was not started"
	nouserns "$XRUN" -q run --no-sandbox sh -c 'touch marker'
	is "$?" 0 "... --no-sandbox still runs"
	ok $([ -e "$T/nouserns/marker" ]; echo $?) "... the program ran"
else
	for _ in 1 2 3 4 5 6; do skip "cannot set user.max_user_namespaces in a user namespace of our own: $(head -n 1 "$T/err")"; done
fi

# ---- every record ----
shopt -s nullglob
check "every record of the catalogue validates" -- validate "$W"/.xrun/runs/*/record.json "$T"/nouserns/.xrun/runs/*/record.json
shopt -u nullglob
out=$("$PYTHON3" -c '
import json, sys
for p in sys.argv[1:]:
    s = json.load(open(p))["sandbox"]
    print(p.split("/")[-2], s["enabled"], s.get("network"))' "$W"/.xrun/runs/*/record.json)
want=
for i in $net_ids; do want="$want$i True host "; done
is "$(printf '%s\n' "$out" | awk '$2 != "True" || $3 != "loopback"' | sort | tr '\n' ' ')" \
	"$(printf '%s' "$want" | xargs -n 3 | sort | tr '\n' ' ')" \
	"every sandboxed record: enabled, network loopback (host for the --net runs)"

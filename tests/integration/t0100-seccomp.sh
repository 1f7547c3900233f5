#!/bin/bash
# The seccomp policy, live: each denied call is answered by the filter
# (EPERM, or ENOSYS where glibc falls back) and reaches the kernel without
# it; allowed calls (NUMA among them) reach the kernel either way; another
# architecture's entry is killed; threads, fork and Python still work; and
# an ordinary user can load the filter under no_new_privs.
. "$top_srcdir/tests/integration/lib.sh"
H=${XRUN_HELPERS:-$(dirname "$XRUN")/tests/helpers}
[ -x "$H/try-syscall" ] && [ -x "$H/seccomp-exec" ] ||
	skip_all "the helpers in '$H' are not built (make check builds them)"
# Copies in the scratch directory, where the test user can run them too.
cp "$H/try-syscall" "$H/seccomp-exec" "$T/" || exit 1
TRY=$T/try-syscall
SECCOMP=$T/seccomp-exec
"$SECCOMP" true 2>"$T/err" ||
	skip_all "cannot load a seccomp filter here: $(cat "$T/err")"
SIGSYS_STATUS=$((128 + $(kill -l SYS)))

skip() {
	_tap_n=$((_tap_n + 1))
	echo "ok $_tap_n # SKIP $*"
}
# answer OUTPUT NAME: what a probe got, from try-syscall's output.
answer() {
	printf '%s\n' "$1" | sed -n "s/^$2 //p"
}

# The calls the policy refuses with EPERM, with ENOSYS, and some it allows.
# Probes for calls this architecture lacks are not compiled in.
denied_eperm=" mount umount2 pivot_root chroot unshare setns
	clone:NEWUSER clone:NEWNS clone:NEWPID clone:NEWNET clone:NEWUTS
	clone:NEWIPC clone:NEWCGROUP
	init_module finit_module delete_module create_module query_module
	get_kernel_syms kexec_load kexec_file_load reboot bpf perf_event_open
	lookup_dcookie syslog iopl ioperm uselib nfsservctl
	ptrace process_vm_readv process_vm_writev keyctl add_key request_key
	userfaultfd io_uring_setup io_uring_enter io_uring_register
	clock_settime clock_adjtime settimeofday adjtimex stime swapon swapoff
	acct quotactl quotactl_fd vhangup open_by_handle_at
	ioctl:TIOCSTI ioctl:TIOCSTI-high ioctl:TIOCLINUX ioctl:TIOCLINUX-high "
denied_enosys=" clone3 fsopen fsconfig fsmount fspick open_tree move_mount
	mount_setattr "
allowed=" clone:plain ioctl:FIONREAD name_to_handle_at mbind set_mempolicy
	get_mempolicy migrate_pages move_pages getppid "
in_list() {
	case $2 in *[[:space:]]$1[[:space:]]*) return 0 ;; esac
	return 1
}

plain=$("$TRY" list)
ok $? "try-syscall runs without the filter"
filtered=$("$SECCOMP" "$TRY" list)
ok $? "try-syscall runs under the filter"
is "$(printf '%s\n' "$filtered" | wc -l)" "$(printf '%s\n' "$plain" | wc -l)" \
	"... and reports every probe"
root=false
[ "$(id -u)" = 0 ] && root=true

while read -r name _; do
	got=$(answer "$filtered" "$name")
	without=$(answer "$plain" "$name")
	if in_list "$name" "$denied_eperm" || in_list "$name" "$denied_enosys"; then
		want=EPERM
		in_list "$name" "$denied_enosys" && want=ENOSYS
		is "$got" "$want" "$name: $want under the filter"
		if ! $root; then
			skip "$name without the filter: only asserted as root"
		elif [ "$without" = "$want" ]; then
			# Kernel configuration (modules_disabled, lockdown,
			# io_uring_disabled, a kernel without the call) can
			# refuse a call the same way; the filtered side stands.
			skip "$name without the filter: the kernel itself says $without"
		else
			ok 0 "$name without the filter: reaches the kernel ($without)"
		fi
	elif in_list "$name" "$allowed"; then
		is "$got" "$without" "$name: reaches the kernel under the filter ($without)"
	else
		ok 1 "$name: a probe this test does not classify"
	fi
done <<EOF
$plain
EOF

# TIOCSTI on a real descriptor, with and without the high bits.
out=$("$SECCOMP" "$TRY" tiocsti </dev/null)
is "$(answer "$out" tiocsti)" EPERM "ioctl(0, TIOCSTI) under the filter: EPERM"
is "$(answer "$out" tiocsti-high)" EPERM "ioctl(0, 1<<32 | TIOCSTI) under the filter: EPERM"
out=$("$TRY" tiocsti </dev/null)
is "$(answer "$out" tiocsti)" ENOTTY "... without it the kernel answers (ENOTTY)"

# Another architecture's entry point: killed, not filtered by number.
out=$("$TRY" int80 2>&1)
case $out in
"int80 OK")
	# The braces keep bash's "Bad system call" out of the TAP stream.
	{ "$SECCOMP" "$TRY" int80 >"$T/out" 2>&1; } 2>/dev/null
	is "$?" "$SIGSYS_STATUS" "i386 getpid through int \$0x80 is killed by SIGSYS"
	is "$(cat "$T/out")" "" "... before it returns"
	;;
*) skip "int \$0x80 does not work here without the filter either: $out" ;;
esac
out=$("$TRY" x32 2>&1)
case $out in
x32\ *)
	{ "$SECCOMP" "$TRY" x32 >/dev/null 2>&1; } 2>/dev/null
	is "$?" "$SIGSYS_STATUS" "an x32 call (nr | 0x40000000) is killed by SIGSYS (without the filter: ${out#x32 })"
	;;
*) skip "x32 is an x86_64 matter: $out" ;;
esac

# What training code needs still works.
is "$("$SECCOMP" "$TRY" fork)" "fork OK" "fork works under the filter"
is "$("$SECCOMP" "$TRY" thread)" "thread OK" "pthread_create works (glibc falls back from clone3 to clone)"
is "$("$SECCOMP" "$PYTHON3" -c 'import threading; t=threading.Thread(target=print,args=("ok",)); t.start(); t.join()')" \
	ok "a Python thread starts under the filter"
like "$("$SECCOMP" --digest)" '^xrun-default-1 sha256:[0-9a-f]{64}$' "the policy's name and digest"

# An ordinary user: no_new_privs is enough to load the filter.
if have_test_user; then
	user_filtered=$(as_user "$SECCOMP" "$TRY" list 2>&1)
	ok $? "an ordinary user loads the filter (no_new_privs, no CAP_SYS_ADMIN)"
	user_plain=$(as_user "$TRY" list 2>&1)
	bad=
	while read -r name _; do
		got=$(answer "$user_filtered" "$name")
		if in_list "$name" "$allowed"; then
			want=$(answer "$user_plain" "$name")
		else
			want=$(answer "$filtered" "$name")
		fi
		[ "$got" = "$want" ] || bad="$bad $name=$got(want $want)"
	done <<EOF
$plain
EOF
	is "${bad# }" "" "as that user every denied call gets the filter's answer, every allowed one the kernel's"
	{ as_user "$SECCOMP" "$TRY" int80 >/dev/null 2>&1; } 2>/dev/null
	st=$?
	if [ "$(answer "$("$TRY" int80 2>&1)" int80)" = OK ]; then
		is "$st" "$SIGSYS_STATUS" "... int \$0x80 is killed for that user too"
	else
		skip "int \$0x80 does not work here"
	fi
	is "$(as_user "$SECCOMP" "$PYTHON3" -c 'import threading; t=threading.Thread(target=print,args=("ok",)); t.start(); t.join()')" \
		ok "... and a Python thread starts"
else
	skip "needs root to create the unprivileged user $TEST_USER"
fi

done_testing

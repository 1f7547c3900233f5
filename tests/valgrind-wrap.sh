#!/bin/sh
# Runs a test program (LOG_COMPILER) or xrun (lib.sh) under valgrind when
# VALGRIND=1 (make check VALGRIND=1), else as it is. Errors and definite
# leaks make the program exit 99.
#
# valgrind does not know the seccomp(2) system call (it fails it with
# EINVAL), so a sandboxed `xrun run` or `replay` cannot run under it:
# those run without valgrind; `run --no-sandbox` and every other command
# run under it.
case ${VALGRIND:-0} in
0 | "" | no) exec "$@" ;;
esac
prog=$1
case $prog in
*/test-seccomp | */test-record)
	# test-seccomp loads the filter itself (seccomp(2) again); under
	# valgrind test-record's output repeats its buffered TAP lines
	# (from a forked child, not yet understood): both run natively.
	exec "$@"
	;;
*/xrun)
	# The command is the first word that is not an option: one of
	# these runs under valgrind; run, replay and `xrun PROGRAM` only
	# with --no-sandbox.
	cmd=
	for a in "$@"; do
		[ "$a" = "$prog" ] && continue
		case $a in
		-*) continue ;;
		esac
		cmd=$a
		break
	done
	case $cmd in
	show | ls | diff | log | checkout | verify | gc | report | compare | \
		metrics | tag | note | "") ;;
	*)
		nosb=no
		for a in "$@"; do
			[ "$a" = -- ] && break
			[ "$a" = --no-sandbox ] && nosb=yes
		done
		[ $nosb = yes ] || exec "$@"
		;;
	esac
	;;
esac
exec valgrind -q --error-exitcode=99 --leak-check=full \
	--errors-for-leak-kinds=definite --show-leak-kinds=definite \
	--trace-children=no "$@"

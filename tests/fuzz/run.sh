#!/bin/sh
# Build the fuzz targets with libFuzzer (clang -fsanitize=fuzzer,address,
# undefined) and run each for FUZZ_SECONDS (default 60), starting from its
# seed corpus. New inputs go to tests/fuzz/build/corpus-<target> (not the
# checked-in corpus); crashes to tests/fuzz/artifacts/. Add a crashing input
# to tests/fuzz/corpus/<target>/ once it is fixed, so that make check runs
# it from then on.
#
#   tests/fuzz/run.sh [BUILDDIR [TARGET...]]    (make fuzz)
#
# BUILDDIR is a configured build tree (for config.h; default: .).
set -eu
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
builddir=$(cd "${1:-.}" && pwd)
[ $# -gt 0 ] && shift
targets=${*:-record params manifest metrics bundle}
CLANG=${CLANG:-clang}
seconds=${FUZZ_SECONDS:-60}
command -v "$CLANG" >/dev/null || {
	echo "run.sh: $CLANG not found (Debian: apt-get install clang)" >&2
	exit 1
}
[ -f "$builddir/config.h" ] || {
	echo "run.sh: no config.h in '$builddir': run ./configure first" >&2
	exit 1
}
out=$srcdir/tests/fuzz/build
mkdir -p "$out" "$srcdir/tests/fuzz/artifacts"
deps="libseccomp libcap jansson uuid libcrypto libarchive"
# The internal library's sources: everything but main and the commands.
lib=$(ls "$srcdir"/src/*.c | grep -v -e '/xrun\.c$' -e '/cmd-[^/]*\.c$')
flags="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"
for t in $targets; do
	echo "== building fuzz-$t"
	# shellcheck disable=SC2086
	"$CLANG" $flags -I"$builddir" -I"$srcdir/src" \
		-DXRUN_LIBEXECDIR='"/nonexistent"' \
		$(pkg-config --cflags $deps) -o "$out/fuzz-$t" \
		"$srcdir/tests/fuzz/fuzz-$t.c" $lib \
		$(pkg-config --libs $deps) -ldl -pthread
done
status=0
for t in $targets; do
	echo "== fuzz-$t for ${seconds}s"
	mkdir -p "$out/corpus-$t"
	"$out/fuzz-$t" -max_total_time="$seconds" -print_final_stats=1 \
		-max_len=1048576 -timeout=10 -rss_limit_mb=4096 \
		-artifact_prefix="$srcdir/tests/fuzz/artifacts/$t-" \
		"$out/corpus-$t" "$srcdir/tests/fuzz/corpus/$t" 2>&1 |
		grep -E '^(stat::|==|#[0-9]+ *DONE|SUMMARY|.*ERROR)' || true
	# libFuzzer's status is lost in the pipe; a crash leaves an artifact.
	if ls "$srcdir/tests/fuzz/artifacts/$t-"* >/dev/null 2>&1; then
		echo "fuzz-$t: crashes in tests/fuzz/artifacts/"
		status=1
	fi
done
exit $status

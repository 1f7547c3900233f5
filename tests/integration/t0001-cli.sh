#!/bin/bash
# The command line: help, version, the command table, exit statuses.
. "$top_srcdir/tests/integration/lib.sh"
cd "$T" || exit 1

out=$("$XRUN" --help)
ok $? "xrun --help exits 0"
for c in run replay diff show ls log checkout verify gc; do
	like "$out" "^  $c " "--help lists '$c'"
done
like "$("$XRUN" --version)" '^xrun [0-9]+\.[0-9]+' "--version prints the version"

for c in run replay diff show ls log checkout verify gc; do
	out=$("$XRUN" "$c" --help)
	ok $? "xrun $c --help exits 0"
	like "$out" "^usage: xrun $c" "xrun $c --help prints its usage"
done
[ ! -e .xrun ]
ok $? "--help creates no store"

"$XRUN" >/dev/null 2>&1
is "$?" 125 "xrun without a command: 125"
err=$("$XRUN" --bogus true 2>&1)
is "$?" 125 "unknown global option: 125"
like "$err" "^xrun: unknown .*'--bogus'" "unknown global option is named"
err=$("$XRUN" run --bogus true 2>&1)
is "$?" 125 "unknown run option: 125"
like "$err" "'--bogus'.*xrun run --help" "the message says where to look"
err=$("$XRUN" run -Z true 2>&1)
is "$?" 125 "unknown short run option: 125"
like "$err" "unknown or incomplete option '-Z'; see xrun run --help" "... named as typed"
err=$("$XRUN" replay -Z latest 2>&1)
like "$err" "unknown or incomplete option '-Z'; see xrun replay --help" "an unknown short replay option is named as typed"
err=$("$XRUN" run -q true 2>&1)
is "$?" 0 "a global option after the command: taken (xrun run -q)"
is "$err" "" "... -q keeps it quiet"
err=$("$XRUN" --color=sometimes true 2>&1)
is "$?" 125 "bad --color value: 125"
err=$("$XRUN" run 2>&1)
is "$?" 125 "run without a program: 125"
like "$err" "no program to run" "run without a program says so"
"$XRUN" show >/dev/null 2>&1
is "$?" 2 "show without RUN: usage error 2"
"$XRUN" ls extra >/dev/null 2>&1
is "$?" 2 "ls with an argument: usage error 2"
err=$("$XRUN" ls --status nope 2>&1)
is "$?" 2 "ls --status with an unknown status: 2"

# One policy for usage errors (options.h, README): one line naming what
# is wrong and where to look, exit 125 for the commands whose status is
# a program's, 2 for the others; the whole usage is never dumped.
for c in run replay sweep show ls log diff checkout verify gc rm report compare metrics tag note export import lineage attest key check; do
	case $c in run|replay|sweep) want=125 ;; *) want=2 ;; esac
	err=$("$XRUN" "$c" --no-such-option x 2>&1)
	is "$?" "$want" "xrun $c --no-such-option: usage error $want"
	is "$err" "xrun: unknown or incomplete option '--no-such-option'; see xrun $c --help" \
		"... one line saying which option and where to look"
	out=$("$XRUN" "$c" --help)
	like "$out" "^usage: xrun $c" "xrun $c --help prints its usage from its table"
	like "$out" "-h, --help +this help" "... with every option's help"
done
err=$("$XRUN" ls --limit x 2>&1)
is "$?" 2 "a bad option value is a usage error: 2"
is "$err" "xrun: --limit takes a number, not 'x'; see xrun ls --help" "... said in one line"
err=$("$XRUN" replay 2>&1)
is "$?" 125 "replay without RUN: 125"
is "$err" "xrun: replay takes one RUN; see xrun replay --help" "... said in one line"

# The shorthand: xrun PROGRAM ARGS, program options untouched.
out=$("$XRUN" -q /bin/echo --seed 5 -p x 2>&1)
is "$out" "--seed 5 -p x" "xrun PROGRAM passes the program's options through"
out=$("$XRUN" -q run -- /bin/echo -n hi)
is "$out" "hi" "xrun run -- PROGRAM"
"$XRUN" -q sh -c 'exit 7'
is "$?" 7 "the program's exit status is xrun's"
"$XRUN" -q sh -c 'kill -TERM $$'
is "$?" 143 "death by signal N gives 128+N"
err=$("$XRUN" -q true 2>&1)
is "$err" "" "-q keeps xrun quiet"
err=$("$XRUN" true 2>&1)
like "$err" "^xrun: run [0-9a-f]{8} succeeded \(exit 0\) in [0-9.]+s; record \.xrun/runs/[0-9a-f-]{36}/record\.json$" \
	"one summary line: id, status, duration, record"

done_testing

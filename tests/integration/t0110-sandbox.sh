#!/bin/bash
# The catalogue of hostile programs, run as root: being root outside
# gives a run nothing more inside (DESIGN.md §4).
. "$top_srcdir/tests/integration/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "runs as root (t0111 runs the catalogue as an ordinary user)"
RUN_AS=
. "$top_srcdir/tests/integration/sandbox-catalogue.sh"
done_testing

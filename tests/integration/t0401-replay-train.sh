#!/bin/bash
# Replays of real training programs (scikit-learn, svm-train) as root.
. "$top_srcdir/tests/integration/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "runs as root (t0402 runs it as an ordinary user)"
RUN_AS=
. "$top_srcdir/tests/integration/replay-training.sh"
done_testing

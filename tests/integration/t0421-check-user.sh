#!/bin/bash
# xrun check (DESIGN.md §9) as an ordinary user: the same programs,
# each cause named, in an unprivileged sandbox.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/check-scenarios.sh"
have_test_user || skip_all "needs root to create the test user $TEST_USER"
/usr/bin/python3 -c 'import numpy, sklearn' 2>/dev/null ||
	skip_all "Debian's python3-numpy and python3-sklearn are not installed"

AS=as_user
W=$T/u
mkdir -p "$W"
chown "$TEST_USER:" "$W"
(cd "$W" && as_user "$XRUN" --store "$W/probe" run true) >/dev/null 2>&1 ||
	skip_all "the test user cannot make a sandbox here (user namespaces)"
check_scenarios
scenario_sklearn threads,cpu-features,user,time,hostname
done_testing

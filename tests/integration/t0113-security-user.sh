#!/bin/bash
# The security probes (issue 16: home, sockets, secrets, signals, escapes,
# params), run as an ordinary user.
. "$top_srcdir/tests/integration/lib.sh"
have_test_user || skip_all "needs root to create the unprivileged user $TEST_USER"
RUN_AS=as_user
. "$top_srcdir/tests/integration/security-catalogue.sh"
done_testing

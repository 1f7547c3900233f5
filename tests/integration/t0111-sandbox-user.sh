#!/bin/bash
# The catalogue of hostile programs, run as an ordinary user.
. "$top_srcdir/tests/integration/lib.sh"
have_test_user || skip_all "needs root to create the unprivileged user $TEST_USER"
RUN_AS=as_user
. "$top_srcdir/tests/integration/sandbox-catalogue.sh"
done_testing

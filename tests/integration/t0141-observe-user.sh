#!/bin/bash
# What a traced run really used (DESIGN.md §8), as an ordinary user.
. "$top_srcdir/tests/integration/lib.sh"
have_test_user || skip_all "needs root to create the unprivileged user $TEST_USER"
RUN=as_user
WHO=user
. "$top_srcdir/tests/integration/observe-body.sh"
done_testing

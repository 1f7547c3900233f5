#!/bin/bash
# The security probes (issue 16: home, sockets, secrets, signals, escapes,
# params), run as root.
. "$top_srcdir/tests/integration/lib.sh"
RUN_AS=
. "$top_srcdir/tests/integration/security-catalogue.sh"
done_testing

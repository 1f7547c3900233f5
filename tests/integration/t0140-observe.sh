#!/bin/bash
# What a traced run really used (DESIGN.md §8), as root.
. "$top_srcdir/tests/integration/lib.sh"
RUN=
WHO=root
. "$top_srcdir/tests/integration/observe-body.sh"
done_testing

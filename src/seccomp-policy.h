/* The seccomp policy of xrun's sandbox (DESIGN.md §4): one table of
 * denied system calls turned into a libseccomp filter, its digest for the
 * run record, and a loader that is safe to call in a forked child. */
#pragma once

#include <seccomp.h>
#include <stdbool.h>

/* Recorded beside the digest; bump it when the table changes meaning. */
#define SECCOMP_POLICY_NAME "xrun-default-1"

/* Build the filter for the native architecture. The BPF program is also
 * compiled here, before any fork, so that seccomp_policy_load() need not
 * allocate: rules added to *ret afterwards are not seen by it. */
int seccomp_policy_build(scmp_filter_ctx *ret);
/* The same with trace: execve, execveat and the open family (but for
 * directories) also wait on a user-notification listener (DESIGN.md §8),
 * whose descriptor seccomp_policy_load() returns. */
int seccomp_policy_build_traced(bool trace, scmp_filter_ctx *ret);

/* "sha256:<hex>" of the compiled BPF program, exactly the bytes that
 * seccomp_policy_load() installs, computed without loading anything. */
int seccomp_policy_digest(char **ret);

/* Install a filter built by seccomp_policy_build(): called last before
 * execve, in the child. It sets no_new_privs (as libseccomp does) and
 * makes no allocation when ctx is the filter built last; any other ctx
 * goes through seccomp_load(), which does allocate. */
int seccomp_policy_load(scmp_filter_ctx ctx);
/* It returns 0, or the listener's descriptor (> 0) for a traced filter,
 * or -errno. */

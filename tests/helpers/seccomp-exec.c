/* Run a program under xrun's seccomp policy and nothing else of the
 * sandbox: set no_new_privs, build and load the filter, exec argv. For
 * the integration tests and bench/seccomp-cost.sh.
 *
 *   seccomp-exec PROGRAM [ARG...]
 *   seccomp-exec --digest          print the policy's name and digest
 *   seccomp-exec --allow-all PROGRAM [ARG...]
 *                                  a filter that allows every call, the
 *                                  floor any filter costs (benchmarks) */
#include "config.h"

#include <sys/prctl.h>

#include "seccomp-policy.h"
#include "util.h"

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs("usage: seccomp-exec PROGRAM [ARG...] | --digest\n",
		      stderr);
		return 125;
	}
	if (streq(argv[1], "--digest")) {
		_cleanup_free_ char *digest = NULL;
		int r = seccomp_policy_digest(&digest);
		if (r < 0) {
			fprintf(stderr, "seccomp-exec: digest: %s\n",
			        strerror(-r));
			return 125;
		}
		printf("%s %s\n", SECCOMP_POLICY_NAME, digest);
		return fflush(stdout) == 0 ? 0 : 1;
	}

	/* As the sandbox does: no_new_privs first, so that an unprivileged
	 * caller may load a filter at all. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		perror("seccomp-exec: PR_SET_NO_NEW_PRIVS");
		return 125;
	}
	scmp_filter_ctx ctx;
	int r;
	if (streq(argv[1], "--allow-all") && argc > 2) {
		argv++;
		ctx = seccomp_init(SCMP_ACT_ALLOW);
		r = ctx ? seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
		                           SCMP_ACT_KILL_PROCESS)
		        : -ENOMEM;
	} else
		r = seccomp_policy_build(&ctx);
	if (r < 0) {
		fprintf(stderr, "seccomp-exec: build: %s\n", strerror(-r));
		return 125;
	}
	r = seccomp_policy_load(ctx);
	if (r < 0) {
		fprintf(stderr, "seccomp-exec: load: %s\n", strerror(-r));
		return 125;
	}
	execvp(argv[1], argv + 1);
	fprintf(stderr, "seccomp-exec: cannot run '%s': %s\n", argv[1],
	        strerror(errno));
	return 127;
}

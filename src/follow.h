/* Following a file that a live run appends to (xrun log -f, xrun
 * metrics --follow), like tail -f: what is there, then what comes, until
 * the run is over. The capture files are created with the program's
 * first byte, so a file that is not there yet is waited for. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef struct FollowOps {
	/* Whether the writer is done (the run's record is final): then the
	 * rest of the file is read and follow_file returns. Negative errno
	 * to stop with that error. */
	int (*done)(void *userdata);
	/* The next bytes of the file, as they come; a negative errno stops
	 * the follow with that error. */
	int (*data)(void *userdata, const char *p, size_t n);
	void *userdata;
	unsigned poll_ms; /* how often to look again (0: 100 ms) */
} FollowOps;

/* Follow path (opened O_NOFOLLOW) until ops->done says the writer is
 * done and everything it wrote has been passed on. 0, or -errno. */
int follow_file(const char *path, const FollowOps *ops);

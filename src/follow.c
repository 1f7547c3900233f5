/* Following a growing file: see follow.h. */
#include "config.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>

#include "follow.h"
#include "util.h"

/* Pass on everything readable now: 0 at the end of the file. */
static int drain(int fd, const FollowOps *ops)
{
	char buf[65536];
	for (;;) {
		ssize_t k = read(fd, buf, sizeof buf);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return negative_errno();
		if (k == 0)
			return 0;
		int r = ops->data(ops->userdata, buf, (size_t)k);
		if (r < 0)
			return r;
	}
}

/* Wait for the file to change, or for poll_ms at most: an inotify
 * watch wakes at once on a write; without one, a plain sleep. */
static void wait_change(int ino, unsigned ms)
{
	if (ino < 0) {
		poll(NULL, 0, (int)ms);
		return;
	}
	struct pollfd p = {.fd = ino, .events = POLLIN};
	if (poll(&p, 1, (int)ms) > 0) {
		char buf[4096];
		while (read(ino, buf, sizeof buf) > 0)
			;
	}
}

int follow_file(const char *path, const FollowOps *ops)
{
	unsigned ms = ops->poll_ms ? ops->poll_ms : 100;
	_cleanup_close_ int fd = -1;
	_cleanup_close_ int ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	for (;;) {
		/* Asked before reading: when the writer is done, one more
		 * drain reads everything it wrote. */
		int done = ops->done(ops->userdata);
		if (done < 0)
			return done;
		if (fd < 0) {
			fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
			if (fd < 0 && errno != ENOENT)
				return negative_errno();
			if (fd >= 0 && ino >= 0 &&
			    inotify_add_watch(ino, path, IN_MODIFY) < 0) {
				close(ino);
				ino = -1;
			}
		}
		if (fd >= 0) {
			int r = drain(fd, ops);
			if (r < 0)
				return r;
		}
		if (done)
			return 0;
		wait_change(fd >= 0 ? ino : -1, ms);
	}
}

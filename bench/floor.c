/* The least any launcher that keeps DESIGN.md's promises can do: write a
 * small record durably (temp file, fsync, rename, fsync of the
 * directory), spawn the program, wait, write the record again. No
 * capture, no JSON, no hashing. bench/launch-overhead.sh times it beside
 * xrun to show how much of xrun's overhead is the durability itself. */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void record(const char *dir, const char *text)
{
	char tmp[4096], dst[4096];
	snprintf(tmp, sizeof tmp, "%s/.record.tmp", dir);
	snprintf(dst, sizeof dst, "%s/record.json", dir);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, text, 64) != 64 || fsync(fd) < 0 ||
	    close(fd) < 0 || rename(tmp, dst) < 0)
		perror("floor");
	int d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d < 0 || fsync(d) < 0)
		perror("floor");
	close(d);
}

int main(int argc, char **argv)
{
	static const char text[65] =
		"{\"status\": \"running\", \"padding\": \"........................\"}";
	if (argc < 3) {
		fputs("usage: floor DIR PROGRAM [ARGS]\n", stderr);
		return 2;
	}
	record(argv[1], text);
	pid_t pid;
	int status;
	if (posix_spawn(&pid, argv[2], NULL, NULL, argv + 2, environ) != 0)
		return 127;
	waitpid(pid, &status, 0);
	record(argv[1], text);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

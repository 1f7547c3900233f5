#include "config.h"

#include "git.h"

#include <fcntl.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "process.h"
#include "util.h"

extern char **environ;

#define GIT_LIST_MAX ((size_t)512 << 20)
#define GIT_STDERR_MAX 4096

static bool env_true(const char *v)
{
	return v && (streq(v, "1") || !strcasecmp(v, "true") ||
	             !strcasecmp(v, "yes") || !strcasecmp(v, "on"));
}

int git_find_top(const char *dir, char *const *envp, char **ret)
{
	if (!envp)
		envp = environ;
	_cleanup_free_ char *d = realpath(dir, NULL);
	if (!d)
		return negative_errno();
	struct stat st;
	if (stat(d, &st) < 0)
		return negative_errno();
	dev_t dev = st.st_dev;
	bool across =
	        env_true(strv_env_get(envp, "GIT_DISCOVERY_ACROSS_FILESYSTEM"));
	for (;;) {
		_cleanup_free_ char *dotgit = path_join(d, ".git");
		if (stat(dotgit, &st) == 0 &&
		    (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode))) {
			*ret = TAKE_PTR(d);
			return 1;
		}
		if (streq(d, "/"))
			return 0;
		char *slash = strrchr(d, '/');
		if (slash == d)
			slash[1] = 0;
		else
			*slash = 0;
		if (!across && (stat(d, &st) < 0 || st.st_dev != dev))
			return 0;
	}
}

char **git_environment(char *const *envp)
{
	static const char *const drop[] = {
	        "LC_ALL",
	        "GIT_OPTIONAL_LOCKS",
	        "GIT_DIR",
	        "GIT_WORK_TREE",
	        "GIT_INDEX_FILE",
	        "GIT_COMMON_DIR",
	        "GIT_OBJECT_DIRECTORY",
	        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
	        "GIT_CEILING_DIRECTORIES",
	};
	if (!envp)
		envp = environ;
	char **env = NULL;
	for (; *envp; envp++) {
		bool keep = true;
		for (size_t i = 0; i < ELEMENTSOF(drop) && keep; i++) {
			size_t n = strlen(drop[i]);
			if (strneq(*envp, drop[i], n) && (*envp)[n] == '=')
				keep = false;
		}
		if (keep)
			env = strv_push(env, *envp);
	}
	env = strv_push(env, "LC_ALL=C");
	env = strv_push(env, "GIT_OPTIONAL_LOCKS=0");
	return env;
}

char *git_find(char *const *envp)
{
	return find_in_path("git", strv_env_get(envp ? envp : environ, "PATH"));
}

int git_workspace_files(const char *top, char ***ret)
{
	static const char *const argv[] = {
	        "git",      "-c",       "core.quotepath=off", "ls-files", "-z",
	        "--cached", "--others", "--exclude-standard", NULL};
	int out[2];
	if (pipe2(out, O_CLOEXEC) < 0)
		return negative_errno();
	_cleanup_strv_free_ char **env = git_environment(NULL);
	_cleanup_free_ char *git = git_find(NULL);
	/* git's complaint, read once it has exited: a file, not a pipe,
	 * so that neither side waits for the other. */
	_cleanup_close_ int err = memfd_create("git-stderr", MFD_CLOEXEC);
	SpawnSpec s = {.path = git,
	               .argv = (char *const *)argv,
	               .envp = env,
	               .cwd = top,
	               .stdin_fd = SPAWN_NULL,
	               .stdout_fd = out[1],
	               .stderr_fd = err >= 0 ? err : SPAWN_NULL};
	pid_t pid;
	int e = git ? -spawn_process(&s, &pid) : ENOENT;
	close(out[1]);
	if (e != 0) {
		close(out[0]);
		return -e;
	}
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int r = read_full_fd(out[0], GIT_LIST_MAX, &text, &len);
	close(out[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (r < 0)
		return r;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		char msg[GIT_STDERR_MAX + 1];
		ssize_t n = err >= 0 ? pread(err, msg, GIT_STDERR_MAX, 0) : -1;
		msg[n > 0 ? n : 0] = 0;
		/* safe.directory: git refuses a repository that another
		 * user owns ("detected dubious ownership"). */
		if (strstr(msg, "dubious ownership"))
			return -EPERM;
		return -EIO;
	}
	char **v = xcalloc(1, sizeof(char *));
	for (size_t off = 0; off < len;) {
		size_t n = strnlen(text + off, len - off);
		if (n > 0)
			v = strv_push(v, text + off);
		off += n + 1;
	}
	*ret = v;
	return 0;
}

/* The source section of the run record: the git state of the working
 * directory, measured by running git.
 *
 * Cost is what matters: each git process costs 1-2 ms of CPU, and the
 * launch budget is a few. So whether cwd is in a work tree at all is
 * decided in C by looking for .git upwards (no process outside a
 * repository; git_find_top() in git.h, the rule the store and the
 * workspace use too, and git runs in git_environment()), the remote
 * URLs are read from the repository's config file in C, and git runs at
 * most twice:
 *
 *   status   git status --porcelain=v2 --branch -z   commit, branch,
 *            upstream, dirty, untracked; parsed as it streams
 *   diff     git diff-index -p --binary HEAD          hashed as it streams,
 *            never held in memory; only meaningful when dirty
 *
 * Both start at once with 4 or more CPUs to run on, so that the diff
 * costs no time when it is needed. With fewer, git processes running
 * side by side slow each other and xrun's own capture down (about 1 ms
 * per process on 2 CPUs), so the diff runs only once status has said the
 * work tree is dirty: a clean tree then costs one process.
 *
 * xrun must never modify the user's repository. GIT_OPTIONAL_LOCKS=0 keeps
 * status from writing a refreshed index, but porcelain `git diff HEAD`
 * writes the index whatever that variable says (refresh_index_quietly in
 * builtin/diff.c), so the diff comes from the plumbing diff-index. With
 * the default configuration its output is byte for byte that of
 * `git diff --no-renames HEAD --binary`; it ignores the user's diff.*
 * settings (renames, noprefix, relative, textconv, external diff), so the
 * recorded patch does not depend on them and always applies with
 * `git apply` at the top level.
 *
 * Remote URLs come from the repository's own config file (the common
 * directory's for a linked worktree), as `git config --get-regexp
 * 'remote\..*\.url'` would give them, except that include.path and
 * includeIf files and the user's global config are not read: a remote
 * defined only there is recorded as null. http(s) credentials in a URL
 * are dropped.
 *
 * Result, as documented in capture.h:
 *   {"git": null}  no .git above cwd, or no git on PATH
 *   {"git": {"toplevel", "commit", "branch", "remote", "dirty",
 *            "untracked", "diff_sha256"}}
 * and when git status itself fails (most often "detected dubious
 * ownership" when xrun runs as another user than the repository's owner,
 * or a corrupt repository), the facts git could not give are left out:
 *   {"git": {"toplevel": str, "error": "<git's fatal/error line>"}}
 * commit is null before the first commit, branch null on a detached
 * HEAD, remote null without a matching remote, diff_sha256 null when the
 * work tree is clean and before the first commit (there is no HEAD to
 * diff against).
 *
 * git gets GIT_PROBE_TIMEOUT_MS in all; past that it is killed and the
 * record says so in "error", so a hung git (a stale NFS mount, a
 * fsmonitor hook) delays a launch by at most that but never blocks it. */
#include "config.h"

#include "capture.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "git.h"
#include "hash.h"
#include "process.h"
#include "util.h"

extern char **environ;

#define GIT_PROBE_TIMEOUT_MS (60 * 1000)
#define STDERR_MAX 4096 /* kept of each git's stderr */
#define FIELD_MAX 8192  /* kept of one status record */
#define CONFIG_MAX (4 * 1024 * 1024)
#define PARALLEL_DIFF_MIN_CPUS 4

enum { GIT_STATUS, GIT_DIFF, N_GIT };

typedef struct GitChild {
	bool spawned;
	pid_t pid; /* 0 once reaped */
	int out, err;
	int wstatus;
	char errbuf[STDERR_MAX];
	size_t errlen;
} GitChild;

/* git status --porcelain=v2 -z, parsed record by record. */
typedef struct StatusParse {
	char field[FIELD_MAX];
	size_t len;
	bool skip_next; /* the original path that follows a "2" record */
	char *oid, *head, *upstream;
	bool dirty;
	int64_t untracked;
} StatusParse;

struct GitProbe {
	char *toplevel; /* NULL: the result is "git": null */
	char *git, *cwd;
	char **env;
	int64_t deadline;
	GitChild child[N_GIT];
	StatusParse *st;
	Hasher *diff;
	/* "remote.<name>.url\n<url>\0"…, as git config -z --get-regexp */
	char *remotes;
	size_t remotes_len;
};

static void status_record(StatusParse *s)
{
	char *f = s->field;
	if (s->skip_next) {
		s->skip_next = false;
		return;
	}
	if (startswith(f, "# branch.oid ")) {
		free(s->oid);
		s->oid = xstrdup(f + 13);
	} else if (startswith(f, "# branch.head ")) {
		free(s->head);
		s->head = xstrdup(f + 14);
	} else if (startswith(f, "# branch.upstream ")) {
		free(s->upstream);
		s->upstream = xstrdup(f + 18);
	} else if (f[0] == '1' || f[0] == 'u') {
		s->dirty = true;
	} else if (f[0] == '2') {
		s->dirty = true;
		s->skip_next = true;
	} else if (f[0] == '?') {
		s->untracked++;
	}
}

static void status_feed(StatusParse *s, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == 0) {
			s->field[s->len] = 0;
			status_record(s);
			s->len = 0;
		} else if (s->len < FIELD_MAX - 1) {
			s->field[s->len++] = p[i];
		}
	}
}

static StatusParse *status_parse_free(StatusParse *s)
{
	if (!s)
		return NULL;
	free(s->oid);
	free(s->head);
	free(s->upstream);
	free(s);
	return NULL;
}

static int spawn_git(const char *git, const char *cwd, char *const *env,
                     const char *const *argv, GitChild *c)
{
	int out[2], err[2];
	if (pipe2(out, O_CLOEXEC) < 0)
		return negative_errno();
	if (pipe2(err, O_CLOEXEC) < 0) {
		int r = negative_errno();
		close(out[0]);
		close(out[1]);
		return r;
	}
	SpawnSpec s = {.path = git,
	               .argv = (char *const *)argv,
	               .envp = env,
	               .cwd = cwd,
	               .stdin_fd = SPAWN_NULL,
	               .stdout_fd = out[1],
	               .stderr_fd = err[1]};
	pid_t pid;
	int e = -spawn_process(&s, &pid);
	close(out[1]);
	close(err[1]);
	if (e != 0) {
		close(out[0]);
		close(err[0]);
		return -e;
	}
	c->spawned = true;
	c->pid = pid;
	c->out = out[0];
	c->err = err[0];
	return 0;
}

static GitProbe *git_probe_new(void)
{
	GitProbe *p = xcalloc(1, sizeof *p);
	for (size_t i = 0; i < N_GIT; i++)
		p->child[i] = (GitChild){.out = -1, .err = -1};
	return p;
}

static void git_probe_freep(GitProbe **p)
{
	git_probe_free(*p);
}

static void remote_url_add(GitProbe *p, const char *name, const char *url)
{
	_cleanup_free_ char *rec = xasprintf("remote.%s.url\n%s", name, url);
	size_t n = strlen(rec) + 1;
	p->remotes = xrealloc(p->remotes, p->remotes_len + n);
	memcpy(p->remotes + p->remotes_len, rec, n);
	p->remotes_len += n;
}

/* A config value from *pp (after '='), as git's parse_value() reads it:
 * quotes, escapes, continuation lines, comments; unquoted blanks become
 * spaces, leading and trailing ones dropped. *pp is left at the end of
 * the line. */
static char *config_value(char **pp)
{
	char *p = *pp;
	size_t cap = 64, len = 0, spaces = 0;
	char *v = xmalloc(cap);
	bool quote = false;
	for (;;) {
		char c = *p;
		if (!c || c == '\n')
			break;
		p++;
		if (c == '\r' && *p == '\n')
			continue;
		if (!quote && strchr(" \t\r\v\f", c)) {
			if (len)
				spaces++;
			continue;
		}
		if (!quote && (c == ';' || c == '#')) {
			p += strcspn(p, "\n");
			break;
		}
		if (len + spaces + 2 > cap) {
			cap = 2 * (len + spaces + 2);
			v = xrealloc(v, cap);
		}
		for (; spaces; spaces--)
			v[len++] = ' ';
		if (c == '"') {
			quote = !quote;
			continue;
		}
		if (c == '\\') {
			char e = *p;
			if (!e)
				break;
			p++;
			if (e == '\r' && *p == '\n')
				e = *p++;
			if (e == '\n')
				continue; /* continuation line */
			c = e == 'n'   ? '\n'
			    : e == 't' ? '\t'
			    : e == 'b' ? '\b'
			               : e;
		}
		v[len++] = c;
	}
	v[len] = 0;
	*pp = p;
	return v;
}

/* remote.<name>.url from one config file in git's syntax: [remote "x"]
 * and the old [remote.x] headers, keys case-insensitive. */
static void read_remote_urls(GitProbe *p, const char *path)
{
	_cleanup_free_ char *buf = NULL;
	if (read_full_file(path, CONFIG_MAX, &buf, NULL) < 0)
		return;
	_cleanup_free_ char *remote = NULL; /* the current [remote "…"] */
	for (char *s = buf; *s;) {
		s += strspn(s, " \t\r\n");
		if (*s == '#' || *s == ';') {
			s += strcspn(s, "\n");
			continue;
		}
		if (*s == '[') {
			s++;
			free(remote);
			remote = NULL;
			size_t n = strcspn(s, " \t].\"\n");
			bool is_remote = n == 6 && !strncasecmp(s, "remote", 6);
			s += n;
			if (*s ==
			    '.') { /* [remote.name]: the name is lowercased */
				n = strcspn(++s, "]\n");
				if (is_remote) {
					remote = xstrndup(s, n);
					for (char *c = remote; *c; c++)
						if (*c >= 'A' && *c <= 'Z')
							*c += 'a' - 'A';
				}
				s += n;
			} else if (*(s += strspn(s, " \t")) == '"') {
				size_t len = 0;
				_cleanup_free_ char *name =
				        xmalloc(strlen(s) + 1);
				for (s++; *s && *s != '"' && *s != '\n'; s++) {
					if (*s == '\\' && s[1] && s[1] != '\n')
						s++;
					name[len++] = *s;
				}
				name[len] = 0;
				if (is_remote)
					remote = TAKE_PTR(name);
			}
			s += strcspn(s, "]\n");
			if (*s == ']')
				s++;
			continue; /* a key may follow on the same line */
		}
		size_t n = strcspn(s, " \t=\r\n#;");
		bool is_url = remote && n == 3 && !strncasecmp(s, "url", 3);
		s += n;
		s += strspn(s, " \t");
		if (*s != '=') { /* a boolean key, or not a key */
			s += strcspn(s, "\n");
			continue;
		}
		s++;
		_cleanup_free_ char *v = config_value(&s);
		if (is_url)
			remote_url_add(p, remote, v);
	}
}

/* The directory holding the repository's config: .git, or for a linked
 * worktree or a submodule the directory .git points to, or its commondir. */
static char *git_common_dir(const char *toplevel)
{
	_cleanup_free_ char *dotgit = path_join(toplevel, ".git");
	_cleanup_free_ char *gitdir = NULL, *line = NULL, *common = NULL;
	struct stat st;
	if (stat(dotgit, &st) < 0)
		return NULL;
	if (S_ISDIR(st.st_mode)) {
		gitdir = TAKE_PTR(dotgit);
	} else {
		if (read_one_line(dotgit, &line) < 0 ||
		    !startswith(line, "gitdir: "))
			return NULL;
		const char *g = line + 8;
		gitdir = g[0] == '/' ? xstrdup(g) : path_join(toplevel, g);
	}
	_cleanup_free_ char *f = path_join(gitdir, "commondir");
	if (read_one_line(f, &common) == 0 && *common)
		return common[0] == '/' ? TAKE_PTR(common)
		                        : path_join(gitdir, common);
	return TAKE_PTR(gitdir);
}

static unsigned cpus_available(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) < 0)
		return 1;
	return (unsigned)CPU_COUNT(&set);
}

static const char *const status_argv[] = {
        "git",
        "-c",
        "core.quotepath=off",
        "status",
        "--porcelain=v2",
        "--branch",
        "-z",
        "--untracked-files=normal",
        NULL,
};
static const char *const diff_argv[] = {
        "git",        "-c", "core.quotepath=off",
        "diff-index", "-p", "--binary",
        "HEAD",       "--", NULL,
};

int git_probe_start(const char *cwd, char *const *envp, GitProbe **ret)
{
	if (!envp)
		envp = environ;
	_cleanup_(git_probe_freep) GitProbe *p = git_probe_new();
	_cleanup_free_ char *toplevel = NULL;
	int r = git_find_top(cwd, envp, &toplevel);
	if (r < 0)
		return r;
	p->git = r > 0 ? git_find(envp) : NULL;
	if (!p->git) { /* not in a work tree, or no git: "git": null */
		*ret = TAKE_PTR(p);
		return 0;
	}
	p->cwd = xstrdup(cwd);
	p->env = git_environment(envp);
	r = spawn_git(p->git, p->cwd, p->env, status_argv,
	              &p->child[GIT_STATUS]);
	if (r < 0)
		return r;
	if (cpus_available() >= PARALLEL_DIFF_MIN_CPUS) {
		r = spawn_git(p->git, p->cwd, p->env, diff_argv,
		              &p->child[GIT_DIFF]);
		if (r < 0)
			return r; /* the cleanup reaps status */
	}
	p->st = xcalloc(1, sizeof *p->st);
	p->diff = hasher_new();
	p->deadline = monotonic_ns() + (int64_t)GIT_PROBE_TIMEOUT_MS * 1000000;
	/* While git runs. */
	_cleanup_free_ char *common = git_common_dir(toplevel);
	if (common) {
		_cleanup_free_ char *config = path_join(common, "config");
		read_remote_urls(p, config);
	}
	p->toplevel = TAKE_PTR(toplevel);
	*ret = TAKE_PTR(p);
	return 0;
}

static void consume(GitProbe *p, size_t i, bool is_err, const char *buf,
                    size_t n)
{
	GitChild *c = &p->child[i];
	if (is_err) {
		size_t k = n < STDERR_MAX - 1 - c->errlen
		                   ? n
		                   : STDERR_MAX - 1 - c->errlen;
		memcpy(c->errbuf + c->errlen, buf, k);
		c->errlen += k;
		c->errbuf[c->errlen] = 0;
	} else if (i == GIT_STATUS) {
		status_feed(p->st, buf, n);
	} else {
		hasher_update(p->diff, buf, n);
	}
}

/* Read every pipe until end of file, all at once with poll so that no
 * git blocks on a full pipe while another is being read. */
static int collect(GitProbe *p)
{
	char buf[65536];
	for (;;) {
		struct pollfd fds[2 * N_GIT];
		size_t who[2 * N_GIT], nfds = 0;
		for (size_t i = 0; i < N_GIT; i++) {
			if (p->child[i].out >= 0) {
				who[nfds] = 2 * i;
				fds[nfds++] = (struct pollfd){p->child[i].out,
				                              POLLIN, 0};
			}
			if (p->child[i].err >= 0) {
				who[nfds] = 2 * i + 1;
				fds[nfds++] = (struct pollfd){p->child[i].err,
				                              POLLIN, 0};
			}
		}
		if (nfds == 0)
			return 0;
		int64_t left = (p->deadline - monotonic_ns()) / 1000000;
		if (left <= 0)
			return -ETIMEDOUT;
		int n = poll(fds, nfds, left > INT_MAX ? INT_MAX : (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return negative_errno();
		for (size_t j = 0; j < nfds; j++) {
			if (!fds[j].revents)
				continue;
			size_t i = who[j] / 2;
			bool is_err = who[j] % 2;
			int *fd = is_err ? &p->child[i].err : &p->child[i].out;
			ssize_t k = read(*fd, buf, sizeof buf);
			if (k < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (k <= 0) {
				close(*fd);
				*fd = -1;
				continue;
			}
			consume(p, i, is_err, buf, (size_t)k);
		}
	}
}

static void reap(GitChild *c, bool kill_first)
{
	if (c->pid <= 0)
		return;
	if (kill_first)
		kill(c->pid, SIGKILL);
	int st;
	pid_t r;
	do
		r = waitpid(c->pid, &st, 0);
	while (r < 0 && errno == EINTR);
	/* ECHILD: someone else reaped it (SIGCHLD ignored); then judge
	 * by the output alone. */
	c->wstatus = r == c->pid ? st : 0;
	c->pid = 0;
}

static bool succeeded(const GitChild *c)
{
	return c->spawned && WIFEXITED(c->wstatus) &&
	       WEXITSTATUS(c->wstatus) == 0;
}

/* git's own diagnosis: its first fatal/error line, else its first line. */
static json_t *error_line(const GitChild *c, const char *what)
{
	const char *s = c->errbuf, *pick = NULL;
	for (const char *l = s; *l; l += strcspn(l, "\n"), l += *l == '\n')
		if (startswith(l, "fatal: ") || startswith(l, "error: ")) {
			pick = l;
			break;
		}
	if (!pick)
		pick = s + strspn(s, "\n");
	size_t n = strcspn(pick, "\n");
	if (n)
		return json_bytes(pick, n);
	if (WIFSIGNALED(c->wstatus))
		return json_sprintf("git %s killed by signal %d", what,
		                    WTERMSIG(c->wstatus));
	return json_sprintf("git %s failed with exit status %d", what,
	                    WEXITSTATUS(c->wstatus));
}

/* https://user:token@host/x -> https://host/x: credentials stay out of
 * the record. Other URL forms carry at most a user name (git@host:x). */
static char *url_without_credentials(const char *url)
{
	const char *scheme_end = strstr(url, "://");
	if (!scheme_end)
		return xstrdup(url);
	const char *host = scheme_end + 3;
	const char *at = strchr(host, '@');
	const char *slash = strchr(host, '/');
	if (!at || (slash && slash < at))
		return xstrdup(url);
	size_t scheme = (size_t)(scheme_end - url);
	if (!(scheme == 4 && strneq(url, "http", 4)) &&
	    !(scheme == 5 && strneq(url, "https", 5)))
		return xstrdup(url);
	return xasprintf("%.*s%s", (int)(scheme + 3), url, at + 1);
}

/* The URL of the upstream's remote (the longest remote name that
 * prefixes the upstream "name/branch"), else of origin. */
static json_t *pick_remote(GitProbe *p)
{
	const char *upstream = p->st->upstream;
	const char *best = NULL, *origin = NULL;
	size_t best_len = 0;
	/* -z: "remote.<name>.url\n<value>\0" */
	for (size_t i = 0; i < p->remotes_len;) {
		const char *key = p->remotes + i;
		size_t rec = strnlen(key, p->remotes_len - i);
		i += rec + 1;
		const char *nl = memchr(key, '\n', rec);
		if (!nl || !startswith(key, "remote.") || nl - key < 12 ||
		    !strneq(nl - 4, ".url", 4))
			continue;
		const char *name = key + 7;
		size_t name_len = (size_t)(nl - 4 - name);
		const char *url = nl + 1;
		if (!origin && name_len == 6 && strneq(name, "origin", 6))
			origin = url;
		if (upstream && name_len > best_len &&
		    strneq(upstream, name, name_len) &&
		    upstream[name_len] == '/') {
			best = url;
			best_len = name_len;
		}
	}
	const char *url = best ? best : origin;
	if (!url)
		return json_null();
	_cleanup_free_ char *clean = url_without_credentials(url);
	return json_bstr(clean);
}

int git_probe_finish(GitProbe *probe, json_t **ret)
{
	_cleanup_(git_probe_freep) GitProbe *p = probe;
	if (!p->toplevel) {
		*ret = json_pack("{s:n}", "git");
		return 0;
	}
	GitChild *status = &p->child[GIT_STATUS];
	StatusParse *st = p->st;
	int r = collect(p);
	if (r == 0 && !p->child[GIT_DIFF].spawned) {
		/* Few CPUs: the diff only now, and only when it is needed. */
		reap(status, false);
		if (succeeded(status) && st->dirty && st->oid &&
		    !streq(st->oid, "(initial)") &&
		    spawn_git(p->git, p->cwd, p->env, diff_argv,
		              &p->child[GIT_DIFF]) == 0)
			r = collect(p);
	}
	if (r < 0 && r != -ETIMEDOUT)
		return r;
	for (size_t i = 0; i < N_GIT; i++)
		reap(&p->child[i], r == -ETIMEDOUT);
	json_t *toplevel = json_bstr(p->toplevel);
	if (r == -ETIMEDOUT) {
		*ret = json_pack("{s:{s:o,s:s}}", "git", "toplevel", toplevel,
		                 "error", "git did not finish in time");
		return 0;
	}

	if (!succeeded(status) || !st->oid) {
		*ret = json_pack("{s:{s:o,s:o}}", "git", "toplevel", toplevel,
		                 "error", error_line(status, "status"));
		return 0;
	}
	bool initial = streq(st->oid, "(initial)");
	bool detached = !st->head || streq(st->head, "(detached)");
	json_t *diff = json_null();
	Hasher *h = TAKE_PTR(p->diff);
	if (st->dirty && !initial && succeeded(&p->child[GIT_DIFF])) {
		_cleanup_free_ char *d = hasher_finish(h);
		diff = json_string(d);
	} else {
		hasher_free(h);
	}
	*ret = json_pack("{s:{s:o,s:o,s:o,s:o,s:b,s:I,s:o}}", "git", "toplevel",
	                 toplevel, "commit",
	                 initial ? json_null() : json_string(st->oid), "branch",
	                 detached ? json_null() : json_bstr(st->head), "remote",
	                 pick_remote(p), "dirty", st->dirty, "untracked",
	                 (json_int_t)st->untracked, "diff_sha256", diff);
	return *ret ? 0 : -ENOMEM;
}

GitProbe *git_probe_free(GitProbe *p)
{
	if (!p)
		return NULL;
	for (size_t i = 0; i < N_GIT; i++) {
		GitChild *c = &p->child[i];
		/* Close first so a git still writing dies of SIGPIPE. */
		if (c->out >= 0)
			close(c->out);
		if (c->err >= 0)
			close(c->err);
		reap(c, true);
	}
	status_parse_free(p->st);
	hasher_free(p->diff);
	free(p->remotes);
	free(p->toplevel);
	free(p->git);
	free(p->cwd);
	strv_free(p->env);
	free(p);
	return NULL;
}

#include "config.h"

#include "replay.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <sys/stat.h>

#include "capture.h"
#include "hash.h"
#include "manifest.h"
#include "pin.h"
#include "refs.h"
#include "runner.h"
#include "statcache.h"
#include "util.h"

static json_t *get(const json_t *j, const char *dotted)
{
	return json_get_path(j, dotted);
}

static const char *get_str(const json_t *j, const char *dotted)
{
	json_t *v = get(j, dotted);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool path_below(const char *path, const char *top)
{
	size_t n = strlen(top);
	if (streq(top, "/"))
		return path[0] == '/';
	return strneq(path, top, n) && (path[n] == '/' || path[n] == 0);
}

/* Is path inside the record's workspace or one of its inputs (whose
 * bytes the store keeps)? */
static bool pinned_path(const json_t *rec, const char *path)
{
	const char *ws = get_str(rec, "source.workspace.path");
	if (ws && path_below(path, ws))
		return true;
	size_t i;
	json_t *in;
	json_array_foreach (json_object_get(rec, "inputs"), i, in) {
		const char *p = json_get_string(in, "path");
		if (p && path_below(path, p))
			return true;
	}
	return false;
}

static char **strv_from_json(const json_t *a)
{
	char **v = xcalloc(1, sizeof(char *));
	size_t i;
	json_t *e;
	json_array_foreach (a, i, e) {
		_cleanup_free_ char *s = json_bytes_decode(e, NULL);
		if (s)
			v = strv_push(v, s);
	}
	return v;
}

/* Set NAME=VALUE in env, replacing an existing NAME. */
static char **env_set_entry(char **env, const char *name, const char *value)
{
	_cleanup_free_ char *entry = xasprintf("%s=%s", name, value);
	size_t n = strlen(name);
	for (char **e = env; e && *e; e++)
		if (strneq(*e, name, n) && (*e)[n] == '=') {
			free(*e);
			*e = xstrdup(entry);
			return env;
		}
	return strv_push(env, entry);
}

#define warn(w, ...) (*(w) = strv_pushf(*(w), __VA_ARGS__))

/* The recorded environment: plain and base64 values as they were, the
 * redacted ones only where -e gives them. */
static char **recorded_environment(const json_t *env, char *const *env_set,
                                   char ***warnings)
{
	char **v = xcalloc(1, sizeof(char *));
	const char *name;
	json_t *val;
	_cleanup_strv_free_ char **unset = NULL;
	json_object_foreach (get(env, "variables"), name, val) {
		json_t *red = json_object_get(val, "redacted");
		if (!red) {
			_cleanup_free_ char *s = json_bytes_decode(val, NULL);
			if (s)
				v = env_set_entry(v, name, s);
			continue;
		}
		const char *given = strv_env_get(env_set, name);
		if (!given) {
			unset = strv_push(unset, name);
			continue;
		}
		_cleanup_free_ char *d = sha256_mem(given, strlen(given));
		if (json_is_string(red) && !streq(d, json_string_value(red)))
			warn(warnings,
			     "the value given for %s with -e is not the "
			     "original's (its sha256 differs)",
			     name);
	}
	size_t i;
	json_t *u;
	json_array_foreach (get(env, "undecodable"), i, u) {
		json_auto_t *b = json_pack("{s:O}", "base64", u);
		_cleanup_free_ char *entry = json_bytes_decode(b, NULL);
		if (entry && strchr(entry, '='))
			v = strv_push(v, entry);
	}
	if (unset) {
		size_t n = 0;
		for (char **p = unset; *p; p++)
			n += strlen(*p) + 2;
		_cleanup_free_ char *list = xcalloc(1, n + 1);
		for (char **p = unset; *p; p++) {
			if (p != unset)
				strcat(list, ", ");
			strcat(list, *p);
		}
		warn(warnings,
		     "%s %s redacted in the record and %s unset for the "
		     "replay; give %s with -e KEY=VALUE",
		     list, strv_length(unset) == 1 ? "was" : "were",
		     strv_length(unset) == 1 ? "is" : "are",
		     strv_length(unset) == 1 ? "its value" : "their values");
	}
	return v;
}

/* The program as the record resolved it; the executable is hashed
 * again (the host's copy is what runs), and so is a script outside the
 * pinned files. */
static int recorded_command(const json_t *rec, Command **ret_cmd,
                            json_t **ret_json, char **ret_error)
{
	const json_t *command = json_object_get(rec, "command");
	const char *exe = get_str(command, "executable.path");
	const char *script = get_str(command, "script.path");
	const json_t *interp = json_object_get(command, "interpreter");
	if (!exe) {
		*ret_error = xstrdup("the record names no executable");
		return -EBADMSG;
	}
	Command *c = xcalloc(1, sizeof *c);
	_cleanup_command_ Command *owned = c;
	c->executable = xstrdup(exe);
	c->script = script ? xstrdup(script) : NULL;
	if (json_is_object(interp)) {
		c->interpreter = xstrdup(
		        get_str(interp, "path") ? get_str(interp, "path") : "");
		c->interpreter_args =
		        strv_from_json(json_object_get(interp, "args"));
	}
	/* A shebang script is what argv[0] named; else the ELF itself. */
	c->path = xstrdup(c->interpreter && script ? script : exe);
	c->python = command_is_python(exe);

	json_auto_t *j = json_deep_copy(command);
	_cleanup_free_ char *d = NULL;
	int r = sha256_file(exe, &d, NULL);
	if (r < 0) {
		*ret_error = xasprintf("cannot read the program's executable "
		                       "'%s' on this machine: %s",
		                       exe, strerror(-r));
		return r;
	}
	json_object_set_new(json_object_get(j, "executable"), "sha256",
	                    json_string(d));
	if (script && !pinned_path(rec, script)) {
		free(d);
		d = NULL;
		r = sha256_file(script, &d, NULL);
		if (r < 0) {
			*ret_error =
			        xasprintf("cannot read the program's "
			                  "script '%s' on this machine: %s",
			                  script, strerror(-r));
			return r;
		}
		json_object_set_new(json_object_get(j, "script"), "sha256",
		                    json_string(d));
	}
	*ret_cmd = TAKE_PTR(owned);
	*ret_json = json_incref(j);
	return 0;
}

json_t *replay_expectation(const Record *rec)
{
	json_t *stdout_j = get(rec->root, "result.stdout");
	return json_pack("{s:s?,s:O?,s:O?}", "id", record_id(rec), "outputs",
	                 json_object_get(rec->root, "outputs"), "stdout",
	                 stdout_j);
}

/* The command, its seed, params, name and tags: 0, or -EBADMSG when the
 * record lacks what a replay cannot do without. */
static int spec_command(const Record *rec, RunSpec *spec, char **ret_error)
{
	const json_t *root = rec->root;
	json_t *argv = get(root, "command.argv");
	const char *cwd = get_str(root, "command.cwd");
	const char *seed = get_str(root, "seed.value");
	if (!json_is_array(argv) || json_array_size(argv) == 0 || !cwd ||
	    !seed || parse_u64(seed, &spec->seed) < 0) {
		*ret_error = xstrdup("the record lacks the command's argv, "
		                     "its working directory or the seed");
		return -EBADMSG;
	}
	spec->argv = strv_from_json(argv);
	spec->cwd = xstrdup(cwd);
	/* --cache directories are bound again: kept, not pinned. */
	spec->caches = strv_from_json(get(root, "observed.caches"));
	spec->has_seed = true;
	spec->seed_source = SEED_REPLAY;
	json_t *params = json_object_get(root, "params");
	if (json_is_object(params)) {
		json_decref(spec->params);
		spec->params = json_deep_copy(params);
	}
	json_t *pf = get(root, "command.params_file");
	if (json_is_object(pf)) {
		spec->params_file =
		        json_bytes_decode(json_object_get(pf, "path"), NULL);
		const char *d = json_get_string(pf, "sha256");
		spec->params_sha256 = d ? xstrdup(d) : NULL;
		if (!spec->params_file || !spec->params_sha256) {
			free(spec->params_file);
			free(spec->params_sha256);
			spec->params_file = spec->params_sha256 = NULL;
		}
	}
	const char *name = get_str(root, "name");
	spec->name = name ? xstrdup(name) : NULL;
	json_t *tags = json_object_get(root, "tags");
	if (json_is_object(tags)) {
		json_decref(spec->tags);
		spec->tags = json_deep_copy(tags);
	}
	spec->replay_of = xstrdup(record_id(rec));
	return 0;
}

/* The environment: the recorded one, not the caller's (env_set on
 * top), and the CPUs the original could use. */
static void spec_environment(const json_t *root, char *const *env_set,
                             RunSpec *spec, char ***warnings)
{
	json_t *env = json_object_get(root, "environment");
	spec->env_base = recorded_environment(env, env_set, warnings);
	spec->env_set = env_set ? strv_copy(env_set) : NULL;
	json_t *det = json_object_get(root, "determinism");
	spec->deterministic =
	        json_is_true(json_object_get(det, "deterministic"));
	const char *var;
	json_t *val;
	/* What xrun set for the original, again (the determinism
	 * switches; a replay by an older xrun: its thread counts), with the
	 * original's values. */
	json_object_foreach (get(det, "variables"), var, val) {
		_cleanup_free_ char *v = json_bytes_decode(val, NULL);
		if (v && !streq(var, "PYTHONHASHSEED"))
			spec->env_xrun = env_set_entry(spec->env_xrun, var, v);
	}
	/* The thread variables replay with the rest of the recorded
	 * environment: unset stays unset (PyTorch's default is the
	 * physical cores, OpenBLAS's the CPUs it may use: xrun does not
	 * guess for them). What decides those defaults, the CPUs the run
	 * could use, is given again: as many as the original had. */
	json_t *aff = get(root, "threads.affinity");
	json_t *count = json_object_get(aff, "count");
	const char *list = json_get_string(aff, "list");
	cpu_set_t probe;
	if (json_is_integer(count) && json_integer_value(count) > 0 &&
	    json_integer_value(count) <= CPU_SETSIZE && list &&
	    cpu_list_parse(list, &probe) == 0) {
		spec->affinity_count = (int)json_integer_value(count);
		spec->affinity_list = xstrdup(list);
	}
}

/* Outputs at their original paths, kept in the replay's run
 * directory. XRUN_OUTPUT names the first -o, which an output holding it
 * may have pinned. */
static void spec_outputs(const Record *rec, RunSpec *spec)
{
	const json_t *root = rec->root;
	json_t *xvars =
	        get(json_object_get(root, "environment"), "set_by_xrun");
	spec->outputs_redirected = true;
	json_t *outputs = json_object_get(root, "outputs");
	size_t n = json_array_size(outputs);
	spec->output_is_file = xcalloc(n + 2, sizeof(bool));
	spec->outputs = xcalloc(1, sizeof(char *));
	/* Each output starts from the original's before tree (none in a
	 * record older than before trees: empty). */
	spec->output_before = json_array();
	const char *seen_id = get_str(xvars, "XRUN_RUN_ID");
	spec->program_run_id = xstrdup(seen_id ? seen_id : record_id(rec));
	const char *first = get_str(xvars, "XRUN_OUTPUT");
	bool first_listed = !first;
	size_t i;
	json_t *o;
	json_array_foreach (outputs, i, o)
		if (first &&
		    streq(first, get_str(o, "path") ? get_str(o, "path") : ""))
			first_listed = true;
	size_t k = 0;
	if (!first_listed) {
		spec->outputs = strv_push(spec->outputs, first), k++;
		json_array_append_new(spec->output_before, json_null());
	}
	json_array_foreach (outputs, i, o) {
		_cleanup_free_ char *p =
		        json_bytes_decode(json_object_get(o, "path"), NULL);
		if (!p || p[0] != '/')
			continue;
		spec->output_is_file[k++] = streq(
		        get_str(o, "kind") ? get_str(o, "kind") : "", "file");
		spec->outputs = strv_push(spec->outputs, p);
		json_t *b = json_object_get(o, "before");
		json_array_append(spec->output_before,
		                  json_is_object(b) ? b : json_null());
	}
}

/* The sandbox as the original had it. */
static void spec_sandbox(const json_t *root, RunSpec *spec, char ***warnings)
{
	json_t *sb = json_object_get(root, "sandbox");
	if (!json_is_true(json_object_get(sb, "enabled")))
		warn(warnings,
		     "the original ran without the sandbox (--no-sandbox); "
		     "the replay runs in it, so that it sees the pinned "
		     "files and keeps its outputs apart");
	const char *net = get_str(sb, "network");
	spec->net = net && streq(net, "host");
	spec->gpu = json_is_true(json_object_get(sb, "gpu"));
	/* The home as the original saw it: a record older than private
	 * homes (or of a run without the sandbox) saw the host's. */
	json_t *home = json_object_get(sb, "home");
	spec->host_home = !json_is_true(json_object_get(home, "private"));
	size_t ri;
	json_t *rj;
	json_array_foreach (json_object_get(home, "ro"), ri, rj) {
		_cleanup_free_ char *ro = json_bytes_decode(rj, NULL);
		struct stat rst;
		if (ro && stat(ro, &rst) == 0)
			spec->ro = strv_push(spec->ro, ro);
		else if (ro)
			warn(warnings,
			     "'%s', shown read-only to the original (--ro), "
			     "is gone from this host",
			     ro);
	}
	json_t *lim = json_object_get(sb, "limits");
	json_t *mem = json_object_get(lim, "memory_bytes");
	json_t *pids = json_object_get(lim, "pids");
	json_t *tmo = json_object_get(lim, "timeout_s");
	if (json_is_integer(mem))
		spec->memory = (uint64_t)json_integer_value(mem);
	if (json_is_integer(pids))
		spec->pids = (uint64_t)json_integer_value(pids);
	if (json_is_number(tmo))
		spec->timeout_s = json_number_value(tmo);
}

int replay_spec(const Record *rec, char *const *env_set, RunSpec **ret,
                char ***ret_warnings, char **ret_error)
{
	const json_t *root = rec->root;
	_cleanup_strv_free_ char **warnings = NULL;
	_cleanup_run_spec_ RunSpec *spec = run_spec_new();
	int r = spec_command(rec, spec, ret_error);
	if (r < 0)
		return r;
	spec_environment(root, env_set, spec, &warnings);
	r = recorded_command(root, &spec->command, &spec->command_json,
	                     ret_error);
	if (r < 0)
		return r;

	/* The pinned files, from the store; the git state they were
	 * pinned in. */
	json_t *ws = get(root, "source.workspace");
	json_t *git = get(root, "source.git");
	spec->source_git = git ? json_deep_copy(git) : json_null();
	json_t *inputs = json_object_get(root, "inputs");
	/* "o" takes the reference: a new empty array must not leak. */
	spec->pinned = json_pack(
	        "{s:O,s:o}", "workspace", ws ? ws : json_null(), "inputs",
	        json_is_array(inputs) ? json_incref(inputs) : json_array());

	spec_outputs(rec, spec);
	spec_sandbox(root, spec, &warnings);
	spec->verify_against = replay_expectation(rec);
	spec->stages = &replay_stages;
	*ret = TAKE_PTR(spec);
	*ret_warnings = TAKE_PTR(warnings);
	return 0;
}

/* ---- the objects a replay needs ---- */

typedef struct Need {
	unsigned char md[SHA256_LEN];
	char *what; /* the path it stands for */
} Need;

static int import_object(Store *s, const Store *origin,
                         const unsigned char md[SHA256_LEN])
{
	_cleanup_close_ int fd = -1;
	int r = store_object_open(origin, md, &fd);
	if (r < 0)
		return r;
	unsigned char got[SHA256_LEN];
	r = store_put_fd(s, fd, got, NULL);
	if (r < 0)
		return r;
	/* What came in is stored under its own name: a corrupt copy does
	 * not pass for the object. */
	return memcmp(got, md, SHA256_LEN) == 0 ? 0 : -EBADMSG;
}

/* Make sure md is in s (importing it from origin); -ENOENT, -EBADMSG. */
static int need_object(Store *s, const Store *origin,
                       const unsigned char md[SHA256_LEN])
{
	int r = store_object_exists(s, md);
	if (r > 0)
		return 0;
	if (r < 0)
		return r;
	if (!origin)
		return -ENOENT;
	return import_object(s, origin, md);
}

static char *object_error(const Store *s, const unsigned char md[SHA256_LEN],
                          const char *what, int r)
{
	char d[DIGEST_STR_LEN + 1];
	digest_format(md, d);
	_cleanup_free_ char *path = store_object_where(s, md);
	const char *how = r == -ENOENT    ? "missing"
	                  : r == -EBADMSG ? "corrupt"
	                                  : strerror(-r);
	return xasprintf("the object %s for '%s' is %s ('%s'); the run "
	                 "cannot be replayed exactly: pin the same files "
	                 "again (xrun run -i PATH) to store them anew, or "
	                 "see xrun verify",
	                 d, what, how, path);
}

int replay_check_objects(Store *s, const Store *origin, const Record *rec,
                         char **ret_error)
{
	json_auto_t *roots = json_array();
	json_t *ws = get(rec->root, "source.workspace");
	if (json_is_object(ws))
		json_array_append(roots, ws);
	size_t i;
	json_t *in;
	json_array_foreach (json_object_get(rec->root, "inputs"), i, in)
		json_array_append(roots, in);
	/* Each output starts from its before tree. */
	json_array_foreach (json_object_get(rec->root, "outputs"), i, in) {
		json_t *b = json_object_get(in, "before");
		if (!json_is_object(b))
			continue;
		json_t *root = json_deep_copy(b);
		json_object_set(root, "path", json_object_get(in, "path"));
		json_array_append_new(roots, root);
	}

	Need *needs = NULL;
	size_t n = 0;
	int r = 0;
	json_array_foreach (roots, i, in) {
		const char *path = json_get_string(in, "path");
		const char *mtext = json_get_string(in, "manifest");
		unsigned char md[SHA256_LEN];
		if (!path || !mtext || digest_parse(mtext, md) < 0) {
			*ret_error = xstrdup("the record's pinned files are "
			                     "malformed (no path or manifest)");
			r = -EBADMSG;
			break;
		}
		r = need_object(s, origin, md);
		Manifest *m = NULL;
		if (r == 0)
			r = manifest_load(s, md, &m);
		if (r < 0) {
			_cleanup_free_ char *what =
			        xasprintf("the manifest of %s", path);
			*ret_error = object_error(s, md, what, r);
			break;
		}
		/* A referenced input's files stay where they are (the
		 * replay hashes them there): only its manifest is kept. */
		const char *storage = json_get_string(in, "storage");
		bool referenced = storage && streq(storage, "referenced");
		for (size_t k = 0; k < m->n && !referenced; k++) {
			if (m->entries[k].kind != ENTRY_FILE)
				continue;
			needs = xrealloc(needs, (n + 1) * sizeof *needs);
			memcpy(needs[n].md, m->entries[k].digest, SHA256_LEN);
			needs[n].what =
			        json_is_string(json_object_get(in, "kind")) &&
			                        streq(json_get_string(in,
			                                              "kind"),
			                              "file")
			                ? xstrdup(path)
			                : path_join(path, m->entries[k].path);
			n++;
		}
		manifest_free(m);
	}
	for (size_t k = 0; r == 0 && k < n; k++) {
		r = need_object(s, origin, needs[k].md);
		if (r < 0)
			*ret_error =
			        object_error(s, needs[k].md, needs[k].what, r);
	}
	if (r == 0 && n) {
		/* Re-hash what the views will link: a corrupt object would
		 * feed the program other bytes than the original's. */
		unsigned char(*mds)[SHA256_LEN] = xcalloc(n, SHA256_LEN);
		int *states = xcalloc(n, sizeof(int));
		for (size_t k = 0; k < n; k++)
			memcpy(mds[k], needs[k].md, SHA256_LEN);
		uint64_t bytes = 0;
		objects_verify(s, (const unsigned char(*)[SHA256_LEN])mds, n,
		               states, &bytes);
		for (size_t k = 0; k < n && r == 0; k++)
			if (states[k]) {
				r = states[k];
				*ret_error = object_error(s, needs[k].md,
				                          needs[k].what, r);
			}
		free(mds);
		free(states);
	}
	for (size_t k = 0; k < n; k++)
		free(needs[k].what);
	free(needs);
	return r;
}

/* ---- this machine against the record ---- */

static char *text_of(const json_t *v)
{
	if (!v || json_is_null(v))
		return xstrdup("none");
	if (json_is_string(v))
		return xstrdup(json_string_value(v));
	char *s = json_dumps_shortest(v, JSON_COMPACT | JSON_ENCODE_ANY);
	return s ? s : xstrdup("?");
}

static void compare(char ***out, const char *what, const json_t *was,
                    const json_t *now)
{
	bool none_was = !was || json_is_null(was);
	bool none_now = !now || json_is_null(now);
	if ((none_was && none_now) || json_equal((json_t *)was, (json_t *)now))
		return;
	_cleanup_free_ char *a = text_of(was), *b = text_of(now);
	warn(out, "%s: was %s, now %s", what, a, b);
}

static void compare_host(char ***out, const json_t *was, const json_t *now)
{
	static const struct {
		const char *path, *what;
	} fields[] = {
	        {"kernel.release", "kernel release"},
	        {"kernel.version", "kernel version"},
	        {"kernel.machine", "machine"},
	        {"os.pretty_name", "operating system"},
	        {"libc.version", "libc version"},
	        {"cpu.model", "CPU model"},
	        {"cpu.count", "CPU count"},
	        {"cpu.flags_sha256", "CPU flags (digest)"},
	        {"nvidia.driver", "NVIDIA driver"},
	        {"nvidia.cuda", "CUDA version"},
	};
	for (size_t i = 0; i < ELEMENTSOF(fields); i++)
		compare(out, fields[i].what, get(was, fields[i].path),
		        get(now, fields[i].path));
	json_auto_t *gw = json_array(), *gn = json_array();
	size_t i;
	json_t *g;
	json_array_foreach (json_object_get(was, "gpus"), i, g)
		json_array_append(gw, json_object_get(g, "model"));
	json_array_foreach (json_object_get(now, "gpus"), i, g)
		json_array_append(gn, json_object_get(g, "model"));
	compare(out, "GPUs", gw, gn);
}

/* Two arrays of objects keyed by key: each added, removed or changed
 * entry (in the fields named). */
static void compare_set(char ***out, const char *what, const json_t *was,
                        const json_t *now, const char *key,
                        const char *const *fields)
{
	json_auto_t *idx = json_object();
	size_t i;
	json_t *e;
	json_array_foreach (now, i, e) {
		const char *k = json_get_string(e, key);
		if (k)
			json_object_set(idx, k, e);
	}
	json_array_foreach (was, i, e) {
		const char *k = json_get_string(e, key);
		if (!k)
			continue;
		json_t *m = json_object_get(idx, k);
		if (!m) {
			warn(out, "%s '%s': was there, now missing", what, k);
			continue;
		}
		for (const char *const *f = fields; *f; f++)
			if (!json_equal(json_object_get(e, *f),
			                json_object_get(m, *f))) {
				_cleanup_free_ char *a =
				        text_of(json_object_get(e, *f));
				_cleanup_free_ char *b =
				        text_of(json_object_get(m, *f));
				warn(out, "%s '%s' %s: was %s, now %s", what, k,
				     *f, a, b);
			}
		json_object_del(idx, k);
	}
	const char *k;
	json_t *v;
	json_object_foreach (idx, k, v)
		warn(out, "%s '%s': new here", what, k);
}

static void compare_software(char ***out, const json_t *was, const json_t *now)
{
	static const char *const lib_fields[] = {"package_version", "sha256",
	                                         NULL};
	compare_set(out, "library", json_object_get(was, "libraries"),
	            json_object_get(now, "libraries"), "path", lib_fields);
	compare(out, "Python version", get(was, "python.version"),
	        get(now, "python.version"));
	static const char *const dist_fields[] = {"version", NULL};
	compare_set(out, "Python distribution",
	            get(was, "python.distributions"),
	            get(now, "python.distributions"), "name", dist_fields);
	static const char *const blas[] = {"blas", "lapack"};
	for (size_t i = 0; i < ELEMENTSOF(blas); i++) {
		_cleanup_free_ char *impl =
		        xasprintf("%s.implementation", blas[i]);
		_cleanup_free_ char *path = xasprintf("%s.path", blas[i]);
		_cleanup_free_ char *ver =
		        xasprintf("%s.package_version", blas[i]);
		_cleanup_free_ char *w1 =
		        xasprintf("%s implementation",
		                  streq(blas[i], "blas") ? "BLAS" : "LAPACK");
		_cleanup_free_ char *w2 =
		        xasprintf("%s library",
		                  streq(blas[i], "blas") ? "BLAS" : "LAPACK");
		_cleanup_free_ char *w3 =
		        xasprintf("%s package version",
		                  streq(blas[i], "blas") ? "BLAS" : "LAPACK");
		compare(out, w1, get(was, impl), get(now, impl));
		compare(out, w2, get(was, path), get(now, path));
		compare(out, w3, get(was, ver), get(now, ver));
	}
}

int replay_affinity(const RunSpec *spec, cpu_set_t *ret)
{
	cpu_set_t have, was, pick;
	if (spec->affinity_count <= 0 || !spec->affinity_list ||
	    cpu_list_parse(spec->affinity_list, &was) < 0)
		return 0;
	if (sched_getaffinity(0, sizeof have, &have) < 0)
		return negative_errno();
	int n = CPU_COUNT(&have);
	if (n < spec->affinity_count) {
		*ret = have;
		return n;
	}
	/* The original's own CPUs where this machine lets us have them,
	 * else the first ones it does. */
	CPU_AND(&pick, &have, &was);
	if (CPU_COUNT(&pick) != spec->affinity_count) {
		CPU_ZERO(&pick);
		for (int c = 0, k = 0;
		     c < CPU_SETSIZE && k < spec->affinity_count; c++)
			if (CPU_ISSET(c, &have)) {
				CPU_SET(c, &pick);
				k++;
			}
	}
	*ret = pick;
	return spec->affinity_count;
}

char **replay_unpinned_changes(const Record *rec, const char *cache_dir)
{
	char **out = NULL;
	_cleanup_stat_cache_ StatCache *cache = stat_cache_new(cache_dir);
	const char *id = get_str(rec->root, "id");
	size_t i;
	json_t *e;
	json_array_foreach (get(rec->root, "observed.files_read"), i, e) {
		const char *path = json_get_string(e, "path");
		const char *was = json_get_string(e, "sha256");
		if (!path || !was || json_is_true(json_object_get(e, "cache")))
			continue;
		_cleanup_free_ char *now = NULL;
		int r = stat_cache_hash(cache, path, &now, NULL);
		if (r < 0)
			out = strv_pushf(
			        out,
			        "'%s' cannot be read now (%s); run %.8s "
			        "read it",
			        path, strerror(-r), id ? id : "?");
		else if (!streq(now, was))
			out = strv_pushf(out,
			                 "'%s' changed since run %.8s read it",
			                 path, id ? id : "?");
	}
	(void)stat_cache_save(cache);
	return out;
}

int replay_differences(const Record *rec, const RunSpec *spec,
                       const char *cache_dir, char ***ret)
{
	char **out = xcalloc(1, sizeof(char *));
	json_t *host = NULL;
	int r = capture_host(cache_dir, &host);
	if (r < 0) {
		strv_free(out);
		return r;
	}
	json_auto_t *h = host;
	compare_host(&out, json_object_get(rec->root, "host"), h);
	cpu_set_t set;
	int have = replay_affinity(spec, &set);
	if (have >= 0 && have < spec->affinity_count)
		warn(&out,
		     "CPUs the run may use: the original had %d (%s), this "
		     "machine gives %d; libraries that start a thread per CPU "
		     "start fewer",
		     spec->affinity_count, spec->affinity_list, have);
	/* The CPU time the cgroup allows decides how fast, not how many
	 * threads: said, not enforced. */
	json_t *quota = get(rec->root, "threads.cpu_quota");
	if (json_is_object(quota)) {
		json_t *now = NULL;
		if (capture_threads((char *[]){NULL}, &now) == 0) {
			compare(&out, "cgroup CPU quota (CPUs)",
			        json_object_get(quota, "cpus"),
			        get(now, "cpu_quota.cpus"));
			json_decref(now);
		}
	}

	const Command *c = spec->command;
	/* The environment the program gets, for the library search. */
	_cleanup_strv_free_ char **env = strv_copy(spec->env_base);
	for (char *const *e = spec->env_set; e && *e; e++) {
		_cleanup_free_ char *name = xstrndup(*e, strcspn(*e, "="));
		if (strchr(*e, '='))
			env = env_set_entry(env, name, strchr(*e, '=') + 1);
	}
	struct stat st;
	SoftwareQuery q = {
	        .executable =
	                c->script && !c->interpreter ? c->executable : c->path,
	        .interpreter = c->interpreter ? c->executable : NULL,
	        .python = c->python,
	        .envp = env,
	        .cwd = stat(spec->cwd, &st) == 0 ? spec->cwd : "/",
	        .cache_dir = cache_dir,
	};
	/* The script itself may be gone from the host: the interpreter's
	 * libraries are the same either way. */
	if (stat(q.executable, &st) < 0)
		q.executable = c->executable;
	json_t *sw = NULL;
	r = capture_software(&q, &sw);
	if (r < 0) {
		strv_free(out);
		return r;
	}
	json_auto_t *swj = sw;
	const char *exe = get_str(rec->root, "command.executable.path");
	compare(&out, exe ? exe : "executable",
	        get(rec->root, "command.executable.sha256"),
	        get(spec->command_json, "executable.sha256"));
	const char *script = get_str(rec->root, "command.script.path");
	if (script)
		compare(&out, script, get(rec->root, "command.script.sha256"),
		        get(spec->command_json, "script.sha256"));
	compare_software(&out, json_object_get(rec->root, "software"), swj);
	*ret = out;
	return 0;
}

/* ---- after the run ---- */

/* A path as a key of a JSON object, one key per byte string: itself
 * when it is UTF-8 without a backslash, else with each backslash and
 * each byte that is not UTF-8 written \xHH (a name that is not UTF-8
 * is compared as surely as any other). */
static char *path_key(const char *p)
{
	size_t n = strlen(p);
	if (utf8_valid(p, n) && !strchr(p, '\\'))
		return xstrdup(p);
	char *k = xmalloc(4 * n + 1), *w = k;
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)p[i];
		/* A valid multi-byte sequence stays whole. */
		size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
		if (c >= 0x80 && len > 1 && i + len <= n &&
		    utf8_valid(p + i, len)) {
			memcpy(w, p + i, len);
			w += len;
			i += len;
		} else if (c >= 0x80 || c == '\\') {
			snprintf(w, 5, "\\x%02x", c);
			w += 4;
			i++;
		} else {
			*w++ = (char)c;
			i++;
		}
	}
	*w = 0;
	return k;
}

/* path -> digest of every file of an output root (a file root: itself). */
static void output_files(Store *s, const json_t *roots, json_t *into,
                         bool *ret_complete)
{
	size_t i;
	json_t *o;
	json_array_foreach (roots, i, o) {
		_cleanup_free_ char *root_path =
		        json_bytes_decode(json_object_get(o, "path"), NULL);
		_cleanup_free_ char *rkey =
		        root_path ? path_key(root_path) : NULL;
		const char *path = rkey;
		const char *kind = json_get_string(o, "kind");
		const char *digest = json_get_string(o, "digest");
		const char *mtext = json_get_string(o, "manifest");
		if (!path)
			continue;
		if (kind && streq(kind, "file")) {
			json_object_set_new(into, path,
			                    digest ? json_string(digest)
			                           : json_null());
			continue;
		}
		unsigned char md[SHA256_LEN];
		Manifest *m = NULL;
		if (!mtext || digest_parse(mtext, md) < 0 ||
		    manifest_load(s, md, &m) < 0) {
			/* The manifest is gone: the root's digest stands for
			 * all of it. */
			json_object_set_new(into, path,
			                    digest ? json_string(digest)
			                           : json_null());
			*ret_complete = false;
			continue;
		}
		for (size_t k = 0; k < m->n; k++) {
			const ManifestEntry *e = &m->entries[k];
			if (e->kind == ENTRY_DIR)
				continue;
			_cleanup_free_ char *raw =
			        path_join(root_path, e->path);
			_cleanup_free_ char *p = path_key(raw);
			char d[DIGEST_STR_LEN + 1];
			if (e->kind == ENTRY_FILE)
				digest_format(e->digest, d);
			_cleanup_free_ char *link =
			        e->kind == ENTRY_LINK
			                ? xasprintf("symlink:%s", e->target)
			                : NULL;
			json_object_set_new(into, p,
			                    json_string(link ? link : d));
		}
		manifest_free(m);
	}
}

json_t *replay_verification(Store *s, const json_t *expect, const json_t *rec)
{
	json_auto_t *want = json_object(), *got = json_object();
	bool complete = true;
	output_files(s, json_object_get(expect, "outputs"), want, &complete);
	output_files(s, json_object_get(rec, "outputs"), got, &complete);
	/* A root whose manifest is gone compares as a whole. */
	if (!complete) {
		json_object_clear(want);
		json_object_clear(got);
		size_t i;
		json_t *o;
		json_array_foreach (json_object_get(expect, "outputs"), i, o)
			json_object_set(want, json_get_string(o, "path"),
			                json_object_get(o, "digest"));
		json_array_foreach (json_object_get(rec, "outputs"), i, o)
			json_object_set(got, json_get_string(o, "path"),
			                json_object_get(o, "digest"));
	}
	json_t *files = json_array();
	bool all = true;
	const char *path;
	json_t *w;
	json_object_foreach (want, path, w) {
		json_t *g = json_object_get(got, path);
		bool match = g && json_equal(w, g);
		all = all && match;
		json_array_append_new(
		        files, json_pack("{s:s,s:O,s:O,s:b}", "path", path,
		                         "expected", w, "actual",
		                         g ? g : json_null(), "match", match));
	}
	json_object_foreach (got, path, w)
		if (!json_object_get(want, path)) {
			all = false;
			json_array_append_new(
			        files,
			        json_pack("{s:s,s:n,s:O,s:b}", "path", path,
			                  "expected", "actual", w, "match", 0));
		}
	json_t *ws = get(expect, "stdout.sha256");
	json_t *gs = get(rec, "result.stdout.sha256");
	bool smatch = ws && gs && json_equal(ws, gs);
	const char *id = json_get_string(expect, "id");
	return json_pack("{s:s?,s:b,s:b,s:o,s:{s:O,s:O,s:b}}", "original", id,
	                 "reproduced", all && smatch, "by_file", complete,
	                 "files", files, "stdout", "expected",
	                 ws ? ws : json_null(), "actual", gs ? gs : json_null(),
	                 "match", smatch);
}

/* ---- a replay's stages of the runner ---- */

/* The original's -o paths, as the record has them: the replay never
 * touches them on the host; they are seen there only in the sandbox. */
static int replay_outputs(const RunSpec *spec, char ***ret, char **ret_why)
{
	if (spec->no_sandbox) {
		*ret_why = xstrdup("a replay needs the sandbox: its outputs "
		                   "and pinned files are seen at their "
		                   "original paths only there");
		return -EINVAL;
	}
	*ret = strv_copy(spec->outputs ? spec->outputs : (char *[]){NULL});
	return 0;
}

static json_t *replay_verify(Store *s, const RunSpec *spec, const json_t *rec)
{
	return replay_verification(s, spec->verify_against, rec);
}

const RunStages replay_stages = {
        .outputs = replay_outputs,
        .host_cwd = false,
        .probe_git = false,
        .pin = runner_pin_restored,
        .plan_last = sandbox_plan_make_room,
        .verify = replay_verify,
};

/* ---- the replay policy ---- */

int replay_check_record(const Record *rec, bool force, char ***warnings,
                        char **ret_error)
{
	int r = record_check_digest(rec);
	if (r == -EBADMSG && !force) {
		*ret_error = xasprintf(
		        "record '%s' was changed after xrun wrote it (its "
		        "record_sha256 no longer matches its content); a "
		        "replay of it would not be the run that happened; "
		        "pass --force to replay it anyway",
		        rec->path);
		return r;
	}
	if (r == -EBADMSG)
		*warnings =
		        strv_pushf(*warnings,
		                   "record '%s' was changed after xrun "
		                   "wrote it; replaying it anyway (--force)",
		                   rec->path);
	else if (r == 0)
		*warnings = strv_pushf(*warnings,
		                       "record '%s' has no record_sha256 (an "
		                       "older xrun wrote it): it cannot be "
		                       "checked for changes",
		                       rec->path);
	else if (r < 0) {
		*ret_error = xasprintf("cannot check record '%s': %s",
		                       rec->path, strerror(-r));
		return r;
	}
	return 0;
}

const char *replay_loader_variable(const RunSpec *spec, size_t *pos)
{
	static const char *const loader_vars[] = {
	        "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT"};
	while (*pos < ELEMENTSOF(loader_vars)) {
		const char *name = loader_vars[(*pos)++];
		const char *v = strv_env_get(spec->env_base, name);
		if (!v)
			v = strv_env_get(spec->env_xrun, name);
		if (!v)
			continue;
		const char *here = getenv(name);
		if (here && streq(here, v))
			continue;
		return name;
	}
	return NULL;
}

int replay_check_loader(const Record *rec, const RunSpec *spec, bool force,
                        char ***warnings, char **ret_error)
{
	/* The recorded environment is the record's word: variables that
	 * make the loader run code the record names are not replayed
	 * without being asked for, unless this environment has the same
	 * value (GPU machines often set LD_LIBRARY_PATH for the driver's
	 * libraries: replaying it loads nothing this shell would not). */
	size_t pos = 0;
	const char *var;
	while ((var = replay_loader_variable(spec, &pos))) {
		if (!force) {
			*ret_error = xasprintf(
			        "record '%s' sets %s for the program: a "
			        "replay would load code the record names; "
			        "check it and pass --force to replay it anyway",
			        rec->path, var);
			return -EPERM;
		}
		*warnings = strv_pushf(*warnings,
		                       "record '%s' sets %s for the program; "
		                       "replaying it anyway (--force)",
		                       rec->path, var);
	}
	return 0;
}

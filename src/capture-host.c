/* The host section of the run record: what machine, kernel, OS, CPU,
 * memory, libc, GPUs, container and Slurm job the run starts on.
 *
 * Everything here is read from /proc, /etc and the environment with a
 * few small reads; the whole section takes well under a millisecond
 * (about 60 µs on a small VM) because it runs before every launch. */
#include "config.h"

#include "capture.h"

#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#ifdef __GLIBC__
#include <gnu/libc-version.h>
#endif

#include "cgroup.h"
#include "hash.h"
#include "util.h"

extern char **environ;

static inline void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

static json_t *json_string_or_null(const char *s)
{
	return s ? json_bstr(s) : json_null();
}

/* os-release values are shell-style: unquoted, "double quoted" with
 * backslash escapes, or 'single quoted'. Unquotes v in place. */
static char *unquote_shell(char *v)
{
	char *out = v, *p = v;
	while (*p) {
		if (*p == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1] &&
				    strchr("\"\\`$", p[1]))
					p++;
				*out++ = *p;
			}
			if (*p)
				p++;
		} else if (*p == '\'') {
			for (p++; *p && *p != '\''; p++)
				*out++ = *p;
			if (*p)
				p++;
		} else if (*p == '\\' && p[1]) {
			*out++ = p[1];
			p += 2;
		} else if (*p == ' ' || *p == '\t' || *p == '#') {
			break;
		} else {
			*out++ = *p++;
		}
	}
	*out = 0;
	return v;
}

static json_t *capture_os(void)
{
	_cleanup_free_ char *buf = NULL;
	if (read_full_file("/etc/os-release", 65536, &buf, NULL) < 0 &&
	    read_full_file("/usr/lib/os-release", 65536, &buf, NULL) < 0)
		return json_null();

	const char *id = NULL, *version_id = NULL, *pretty = NULL;
	for (char *line = buf, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		line += strspn(line, " \t");
		char *eq = strchr(line, '=');
		if (!eq || *line == '#')
			continue;
		*eq = 0;
		char *v = unquote_shell(eq + 1);
		if (streq(line, "ID"))
			id = v;
		else if (streq(line, "VERSION_ID"))
			version_id = v;
		else if (streq(line, "PRETTY_NAME"))
			pretty = v;
	}
	return json_pack("{s:o,s:o,s:o}", "id", json_string_or_null(id),
	                 "version_id", json_string_or_null(version_id),
	                 "pretty_name", json_string_or_null(pretty));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The value of "key : value" if line has that key, else NULL. */
static char *cpuinfo_value(char *line, const char *key)
{
	size_t n = strlen(key);
	if (!strneq(line, key, n) ||
	    (line[n] != ' ' && line[n] != '\t' && line[n] != ':'))
		return NULL;
	char *colon = strchr(line + n, ':');
	if (!colon)
		return NULL;
	return colon + 1 + strspn(colon + 1, " \t");
}

/* Each read of /proc/cpuinfo makes the kernel format as many whole
 * processor entries as the read asks for bytes (on x86 with a frequency
 * query per CPU): on a 128-core machine the whole file costs
 * milliseconds. Small reads until the first processor's flags line make
 * the kernel format that one entry only. */
static int read_first_cpu(char **ret)
{
	_cleanup_close_ int fd = open("/proc/cpuinfo", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	size_t cap = 8192, len = 0;
	_cleanup_free_ char *buf = xmalloc(cap);
	for (;;) {
		if (cap - len < 2) {
			if (cap >= 1024 * 1024)
				break;
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		size_t want = cap - len - 1 < 1024 ? cap - len - 1 : 1024;
		ssize_t k = read(fd, buf + len, want);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return negative_errno();
		if (k == 0)
			break;
		len += (size_t)k;
		buf[len] = 0;
		/* Done once a flags line is complete. */
		char *f = strstr(buf, "\nflags");
		if (!f)
			f = strstr(buf, "\nFeatures");
		if (f && strchr(f + 1, '\n'))
			break;
	}
	buf[len] = 0;
	*ret = TAKE_PTR(buf);
	return 0;
}

static json_t *capture_cpu(void)
{
	_cleanup_free_ char *buf = NULL;
	const char *model = NULL;
	char *flags = NULL;
	if (read_first_cpu(&buf) >= 0) {
		for (char *line = buf, *next; line && *line; line = next) {
			next = strchr(line, '\n');
			if (next)
				*next++ = 0;
			char *v;
			if (!model && (v = cpuinfo_value(line, "model name")))
				model = v;
			else if ((v = cpuinfo_value(line, "flags")) ||
			         (v = cpuinfo_value(line, "Features"))) {
				flags = v;
				break;
			}
		}
	}

	json_t *flags_sha = json_null();
	size_t nflags = 0;
	if (flags) {
		size_t cap = 16;
		_cleanup_free_ char **v = xmalloc(cap * sizeof *v);
		for (char *p = flags;;) {
			p += strspn(p, " \t");
			if (!*p)
				break;
			size_t n = strcspn(p, " \t");
			if (nflags == cap)
				v = xrealloc(v, (cap *= 2) * sizeof *v);
			v[nflags++] = p;
			p += n;
			if (*p)
				*p++ = 0;
		}
		sort_v(v, nflags, sizeof *v, cmp_str);
		Hasher *h = hasher_new();
		for (size_t i = 0; i < nflags; i++) {
			if (i)
				hasher_update(h, " ", 1);
			hasher_update(h, v[i], strlen(v[i]));
		}
		_cleanup_free_ char *d = hasher_finish(h);
		flags_sha = json_string(d);
	}
	long count = sysconf(_SC_NPROCESSORS_ONLN);
	return json_pack("{s:o,s:I,s:o,s:I}", "model",
	                 json_string_or_null(model), "count",
	                 (json_int_t)(count > 0 ? count : 0), "flags_sha256",
	                 flags_sha, "flags_count", (json_int_t)nflags);
}

/* The CPU description is read from /proc/cpuinfo once per boot (and
 * microcode update, which may change the flags) and kept in the store's
 * cache: the kernel formats even one processor's entry slowly (about
 * 0.1 ms on a small VM, on every launch). The processor count is read
 * every time: CPUs come and go online. One file per host name, so that
 * the nodes of a cluster sharing a store do not take turns rewriting
 * one. */
static char *cpu_cache_file(const char *host)
{
	char name[96] = "cpu-v1-";
	size_t n = strlen(name);
	for (const char *p = host; *p && n < sizeof name - 6; p++)
		name[n++] = isalnum((unsigned char)*p) || *p == '-' ||
		                            *p == '_' || *p == '.'
		                    ? *p
		                    : '_';
	strcpy(name + n, ".json");
	return xstrdup(name);
}

static json_t *capture_cpu_cached(const char *cache_dir, const char *host)
{
	_cleanup_free_ char *boot = NULL, *ucode = NULL;
	if (!cache_dir || read_boot_id(&boot) < 0)
		return capture_cpu();
	_cleanup_free_ char *file = cpu_cache_file(host);
	(void)read_one_line("/sys/devices/system/cpu/cpu0/microcode/version",
	                    &ucode);
	_cleanup_free_ char *key =
	        xasprintf("boot %s microcode %s", boot, ucode ? ucode : "-");
	_cleanup_free_ char *path = path_join(cache_dir, file);
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	json_auto_t *cached = NULL;
	if (read_full_file(path, 65536, &text, &len) == 0)
		cached = json_loadb(text, len, 0, NULL);
	json_t *cpu = json_object_get(cached, "cpu");
	const char *have = json_string_value(json_object_get(cached, "key"));
	long count = sysconf(_SC_NPROCESSORS_ONLN);
	if (have && streq(have, key) && json_is_object(cpu) &&
	    json_object_get(cpu, "model") &&
	    json_is_integer(json_object_get(cpu, "flags_count")) &&
	    json_object_get(cpu, "flags_sha256")) {
		json_t *c = json_deep_copy(cpu);
		json_object_set_new(c, "count",
		                    json_integer(count > 0 ? count : 0));
		return c;
	}
	cpu = capture_cpu();
	json_auto_t *entry = json_pack("{s:s,s:O}", "key", key, "cpu", cpu);
	_cleanup_free_ char *out = entry ? json_dumps(entry, 0) : NULL;
	/* A cache: a store we cannot write just means reading again. */
	if (out)
		(void)write_file_replace(cache_dir, file, out, strlen(out),
		                         0644);
	return cpu;
}

static json_t *capture_memory(void)
{
	/* sysinfo's totalram is /proc/meminfo's MemTotal, without the
	 * kernel formatting all of meminfo for it. */
	struct sysinfo si;
	json_t *total = json_null();
	if (sysinfo(&si) == 0)
		total = json_integer(
		        (json_int_t)((unsigned long long)si.totalram *
		                     (si.mem_unit ? si.mem_unit : 1)));
	return json_pack("{s:o}", "total_bytes", total);
}

static json_t *capture_libc(void)
{
#ifdef __GLIBC__
	return json_pack("{s:s,s:s}", "name", "glibc", "version",
	                 gnu_get_libc_version());
#else
	return json_pack("{s:n,s:n}", "name", "version");
#endif
}

/* "Model:   NVIDIA H100" -> "NVIDIA H100" for the given key. */
static char *info_value(char *buf, const char *key)
{
	size_t n = strlen(key);
	for (char *line = buf; line && *line;) {
		char *next = strchr(line, '\n');
		if (strneq(line, key, n) && line[n] == ':') {
			char *v = line + n + 1;
			v += strspn(v, " \t");
			size_t len = next ? (size_t)(next - v) : strlen(v);
			while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
				len--;
			return xstrndup(v, len);
		}
		line = next ? next + 1 : NULL;
	}
	return NULL;
}

typedef struct Gpu {
	char *bus, *model, *uuid;
} Gpu;

static int cmp_gpu(const void *a, const void *b)
{
	return strcmp(((const Gpu *)a)->bus, ((const Gpu *)b)->bus);
}

static json_t *capture_gpus(void)
{
	json_t *gpus = json_array();
	_cleanup_(closedirp) DIR *d = opendir("/proc/driver/nvidia/gpus");
	if (!d)
		return gpus;
	Gpu *v = NULL;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		_cleanup_free_ char *path = xasprintf(
		        "/proc/driver/nvidia/gpus/%s/information", de->d_name);
		_cleanup_free_ char *buf = NULL;
		if (read_full_file(path, 65536, &buf, NULL) < 0)
			continue;
		char *bus = info_value(buf, "Bus Location");
		v = xrealloc(v, (n + 1) * sizeof *v);
		v[n++] = (Gpu){
		        .bus = bus ? bus : xstrdup(de->d_name),
		        .model = info_value(buf, "Model"),
		        .uuid = info_value(buf, "GPU UUID"),
		};
	}
	if (n)
		sort_v(v, n, sizeof *v, cmp_gpu);
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(
		        gpus,
		        json_pack("{s:I,s:o,s:s,s:o}", "index", (json_int_t)i,
		                  "model", json_string_or_null(v[i].model),
		                  "bus", v[i].bus, "uuid",
		                  json_string_or_null(v[i].uuid)));
		free(v[i].bus);
		free(v[i].model);
		free(v[i].uuid);
	}
	free(v);
	return gpus;
}

/* The CUDA version the driver supports. libcuda is loaded but not
 * initialized (no cuInit): cuDriverGetVersion needs neither a device
 * nor a context. */
static json_t *cuda_driver_version(void)
{
	void *h = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
	if (!h)
		return json_null();
	json_t *r = json_null();
	int (*get)(int *) = (int (*)(int *))dlsym(h, "cuDriverGetVersion");
	int v = 0;
	if (get && get(&v) == 0 && v > 0)
		r = json_sprintf("%d.%d", v / 1000, v % 1000 / 10);
	dlclose(h);
	return r;
}

static bool is_version(const char *s, size_t n)
{
	bool dot = false;
	if (!n || s[0] < '0' || s[0] > '9')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.')
			dot = true;
		else if (s[i] < '0' || s[i] > '9')
			return false;
	}
	return dot;
}

static json_t *capture_nvidia(void)
{
	if (access("/proc/driver/nvidia", F_OK) < 0)
		return json_null();
	/* "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue…"
	 * or "… Open Kernel Module for x86_64  550.54.15  Release Build…":
	 * the first version-shaped word. */
	_cleanup_free_ char *line = NULL;
	json_t *driver = json_null();
	if (read_one_line("/proc/driver/nvidia/version", &line) >= 0) {
		for (const char *p = line; *p;) {
			p += strspn(p, " \t");
			size_t n = strcspn(p, " \t");
			if (is_version(p, n)) {
				driver = json_stringn(p, n);
				break;
			}
			p += n;
		}
	}
	return json_pack("{s:o,s:o}", "driver", driver, "cuda",
	                 cuda_driver_version());
}

static char *environ_value(const char *buf, size_t len, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < len; i += strlen(buf + i) + 1)
		if (strneq(buf + i, name, n) && buf[i + n] == '=')
			return xstrdup(buf + i + n + 1);
	return NULL;
}

static json_t *capture_container(void)
{
	if (access("/.dockerenv", F_OK) == 0)
		return json_string("docker");
	if (access("/run/.containerenv", F_OK) == 0)
		return json_string("podman");
	/* systemd's convention, written by nspawn, lxc, podman…, and
	 * readable by everyone, unlike /proc/1/environ. */
	_cleanup_free_ char *s = NULL;
	if (read_one_line("/run/systemd/container", &s) >= 0 && *s)
		return json_bstr(s);
	const char *e = getenv("container");
	if (e && *e)
		return json_bstr(e);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	/* Not readable unless we are root or own pid 1: then unknown. */
	if (read_full_file("/proc/1/environ", 1 << 20, &buf, &len) >= 0) {
		_cleanup_free_ char *v = environ_value(buf, len, "container");
		if (v && *v)
			return json_bstr(v);
	}
	return json_null();
}

static json_t *capture_slurm(void)
{
	if (!getenv("SLURM_JOB_ID"))
		return json_null();
	const char *nodes = getenv("SLURM_JOB_NODELIST");
	if (!nodes)
		nodes = getenv("SLURM_NODELIST");
	json_t *vars = json_object();
	for (char **e = environ; e && *e; e++) {
		if (!startswith(*e, "SLURM_"))
			continue;
		const char *eq = strchr(*e, '=');
		if (!eq)
			continue;
		_cleanup_free_ char *name = xstrndup(*e, (size_t)(eq - *e));
		json_object_set_new(vars, name, json_bstr(eq + 1));
	}
	return json_pack(
	        "{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "cluster",
	        json_string_or_null(getenv("SLURM_CLUSTER_NAME")), "job_id",
	        json_string_or_null(getenv("SLURM_JOB_ID")), "array_job_id",
	        json_string_or_null(getenv("SLURM_ARRAY_JOB_ID")),
	        "array_task_id",
	        json_string_or_null(getenv("SLURM_ARRAY_TASK_ID")), "step_id",
	        json_string_or_null(getenv("SLURM_STEP_ID")), "node_list",
	        json_string_or_null(nodes), "partition",
	        json_string_or_null(getenv("SLURM_JOB_PARTITION")),
	        "cpus_on_node",
	        json_string_or_null(getenv("SLURM_CPUS_ON_NODE")), "submit_dir",
	        json_string_or_null(getenv("SLURM_SUBMIT_DIR")), "variables",
	        vars);
}

int capture_host(const char *cache_dir, json_t **ret)
{
	struct utsname u;
	if (uname(&u) < 0)
		return negative_errno();
	_cleanup_free_ char *boot_id = NULL;
	int r = read_boot_id(&boot_id);
	if (r < 0)
		boot_id = NULL;

	json_t *host = json_pack(
	        "{s:o,s:o,s:{s:o,s:o,s:o,s:o},s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}",
	        "hostname", json_bstr(u.nodename), "boot_id",
	        json_string_or_null(boot_id), "kernel", "sysname",
	        json_bstr(u.sysname), "release", json_bstr(u.release),
	        "version", json_bstr(u.version), "machine",
	        json_bstr(u.machine), "os", capture_os(), "cpu",
	        capture_cpu_cached(cache_dir, u.nodename), "memory",
	        capture_memory(), "libc", capture_libc(), "gpus",
	        capture_gpus(), "nvidia", capture_nvidia(), "container",
	        capture_container(), "slurm", capture_slurm());
	if (!host)
		return -ENOMEM;
	*ret = host;
	return 0;
}

/* ---- the CPUs and threads the run gets ---- */

const char *const thread_variables[] = {
        "OMP_NUM_THREADS",
        "OMP_THREAD_LIMIT",
        "OMP_DYNAMIC",
        "OMP_PROC_BIND",
        "OMP_PLACES",
        "OPENBLAS_NUM_THREADS",
        "GOTO_NUM_THREADS",
        "MKL_NUM_THREADS",
        "MKL_DYNAMIC",
        "BLIS_NUM_THREADS",
        "VECLIB_MAXIMUM_THREADS",
        "NUMEXPR_NUM_THREADS",
        "NUMEXPR_MAX_THREADS",
        "TORCHINDUCTOR_COMPILE_THREADS",
        "TF_NUM_INTRAOP_THREADS",
        "TF_NUM_INTEROP_THREADS",
        "RAYON_NUM_THREADS",
        NULL,
};

char *cpu_list_format(const cpu_set_t *set)
{
	char *s = xstrdup("");
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, set))
			continue;
		int end = c;
		while (end + 1 < CPU_SETSIZE && CPU_ISSET(end + 1, set))
			end++;
		char *n = end == c ? xasprintf("%s%s%d", s, *s ? "," : "", c)
		                   : xasprintf("%s%s%d-%d", s, *s ? "," : "", c,
		                               end);
		free(s);
		s = n;
		c = end;
	}
	return s;
}

int cpu_list_parse(const char *s, cpu_set_t *ret)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	const char *p = s;
	while (*p) {
		char *end;
		errno = 0;
		unsigned long a = strtoul(p, &end, 10), b = a;
		if (end == p || errno || !isdigit((unsigned char)*p))
			return -EINVAL;
		p = end;
		if (*p == '-') {
			b = strtoul(p + 1, &end, 10);
			if (end == p + 1 || errno ||
			    !isdigit((unsigned char)p[1]))
				return -EINVAL;
			p = end;
		}
		if (a > b || b >= CPU_SETSIZE)
			return -EINVAL;
		for (unsigned long c = a; c <= b; c++)
			CPU_SET(c, &set);
		if (*p == ',')
			p++;
		else if (*p)
			return -EINVAL;
	}
	if (CPU_COUNT(&set) == 0)
		return -EINVAL;
	*ret = set;
	return 0;
}

int capture_threads(char *const *envp, json_t **ret)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	json_t *affinity = json_null();
	if (sched_getaffinity(0, sizeof set, &set) == 0) {
		_cleanup_free_ char *list = cpu_list_format(&set);
		affinity = json_pack("{s:i,s:s}", "count", CPU_COUNT(&set),
		                     "list", list);
	}
	json_t *quota = json_null();
	CpuQuota q;
	if (cgroup_cpu_quota(&q) == 0) {
		quota = json_pack(
		        "{s:i,s:o,s:o,s:I,s:o}", "version", q.version, "cgroup",
		        json_bstr(q.cgroup), "quota_us",
		        q.quota_us > 0 ? json_integer(q.quota_us) : json_null(),
		        "period_us", (json_int_t)q.period_us, "cpus",
		        q.quota_us > 0 ? json_real((double)q.quota_us /
		                                   (double)q.period_us)
		                       : json_null());
		free(q.cgroup);
	}
	json_t *vars = json_object();
	for (size_t i = 0; thread_variables[i]; i++) {
		const char *v = strv_env_get(envp, thread_variables[i]);
		json_object_set_new(vars, thread_variables[i],
		                    v ? json_bstr(v) : json_null());
	}
	json_t *t = json_pack("{s:o,s:o,s:o}", "affinity", affinity,
	                      "cpu_quota", quota, "variables", vars);
	if (!t)
		return -ENOMEM;
	*ret = t;
	return 0;
}

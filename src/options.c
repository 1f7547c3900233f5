#include "config.h"

#include "options.h"

#include <ctype.h>
#include <getopt.h>
#include <stdarg.h>

int cmd_usage_status(const CmdSpec *cmd)
{
	return cmd->runs_program ? 125 : 2;
}

int cmd_usage_error(const CmdSpec *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	log_error("%s; see xrun %s --help", msg, cmd->name);
	return cmd_usage_status(cmd);
}

/* The columns s takes on a terminal: its UTF-8 characters. */
static size_t columns(const char *s, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i < n && s[i]; i++)
		c += ((unsigned char)s[i] & 0xc0) != 0x80;
	return c;
}

static bool has_short(int id)
{
	return id > 0 && id < 128 && isalnum(id);
}

/* "  -e, --env KEY=VALUE" */
static char *option_label(const CmdOption *o)
{
	char sh[8] = "";
	if (has_short(o->id))
		snprintf(sh, sizeof sh, "-%c%s", o->id, o->name ? ", " : "");
	return xasprintf("  %s%s%s%s%s", sh, o->name ? "--" : "",
	                 o->name ? o->name : "", o->arg ? " " : "",
	                 o->arg ? o->arg : "");
}

/* text from column col, wrapped at 79 columns; "\n" breaks a line. */
static void print_wrapped(FILE *f, const char *text, size_t col, size_t at)
{
	size_t x = at;
	for (const char *p = text; *p;) {
		if (*p == '\n') {
			fprintf(f, "\n%*s", (int)col, "");
			x = col;
			p++;
			continue;
		}
		size_t n = strcspn(p, " \n");
		if (x > col && x + 1 + columns(p, n) > 79) {
			fprintf(f, "\n%*s", (int)col, "");
			x = col;
		} else if (x > col) {
			fputc(' ', f);
			x++;
		}
		fwrite(p, 1, n, f);
		x += columns(p, n);
		p += n;
		while (*p == ' ')
			p++;
	}
	fputc('\n', f);
}

void cmd_usage_print(const CmdSpec *cmd, FILE *f)
{
	fprintf(f, "usage: xrun %s%s%s\n", cmd->name, cmd->synopsis ? " " : "",
	        cmd->synopsis ? cmd->synopsis : "");
	if (cmd->about)
		fprintf(f, "\n%s", cmd->about);
	size_t width = 0;
	for (const CmdOption *o = cmd->options; o->id; o++) {
		_cleanup_free_ char *l = option_label(o);
		size_t w = columns(l, SIZE_MAX);
		if (o->help && w > width && w <= 28)
			width = w;
	}
	if (cmd->options[0].id)
		fputs("\nOptions:\n", f);
	for (const CmdOption *o = cmd->options; o->id; o++) {
		if (!o->help)
			continue;
		_cleanup_free_ char *l = option_label(o);
		fputs(l, f);
		size_t col = width + 2;
		size_t at = columns(l, SIZE_MAX);
		if (at + 2 > col) {
			fprintf(f, "\n%*s", (int)col, "");
			at = col;
		} else {
			fprintf(f, "%*s", (int)(col - at), "");
			at = col;
		}
		print_wrapped(f, o->help, col, at);
	}
	if (cmd->after)
		fprintf(f, "\n%s", cmd->after);
}

static bool taken(const CmdOption *opts, const CmdOption *o)
{
	for (; opts && opts->id; opts++)
		if ((has_short(o->id) && opts->id == o->id) ||
		    (o->name && opts->name && streq(o->name, opts->name)))
			return true;
	return false;
}

static void build_tables(CmdParser *p, const CmdSpec *cmd)
{
	p->cmd = cmd;
	size_t n = 0;
	for (const CmdOption *o = cmd->options; o->id; o++)
		n++;
	for (const CmdOption *o = cmd->shared; o && o->id; o++)
		n++;
	p->longopts = xcalloc(n + 1, sizeof *p->longopts);
	p->shortopts = xcalloc(3 * n + 2, 1);
	char *s = p->shortopts;
	if (cmd->stop_at_operand)
		*s++ = '+';
	size_t k = 0;
	for (int pass = 0; pass < 2; pass++)
		for (const CmdOption *o = pass ? cmd->shared : cmd->options;
		     o && o->id; o++) {
			if (pass && taken(cmd->options, o))
				continue;
			if (has_short(o->id)) {
				*s++ = (char)o->id;
				if (o->arg)
					*s++ = ':';
			}
			if (o->name)
				p->longopts[k++] = (struct option){
				        o->name,
				        o->arg ? required_argument
				               : no_argument,
				        NULL, o->id};
		}
}

void cmd_parser_init(CmdParser *p, const CmdSpec *cmd, int argc, char **argv)
{
	*p = (CmdParser){.argc = argc, .argv = argv};
	build_tables(p, cmd);
	optind = 1;
	opterr = 0;
}

void cmd_parser_resume(CmdParser *p, const CmdSpec *cmd)
{
	cmd_parser_done(p);
	build_tables(p, cmd);
}

void cmd_parser_done(CmdParser *p)
{
	free(p->longopts);
	free(p->shortopts);
	p->longopts = NULL;
	p->shortopts = NULL;
}

int cmd_option_next(CmdParser *p)
{
	int c = getopt_long(p->argc, p->argv, p->shortopts, p->longopts, NULL);
	p->arg = optarg;
	if (c == -1)
		return 0;
	if (c == 'h') {
		cmd_usage_print(p->cmd, stdout);
		p->status = finish_stdout(0);
		return -1;
	}
	if (c == '?' || c == ':') {
		_cleanup_free_ char *msg = unknown_option_message(
		        p->cmd->name, optopt, p->argv[optind - 1]);
		p->status = cmd_usage_error(p->cmd, "%s", msg);
		return -1;
	}
	return c;
}

/* The command line of each command, declared once as a table (as git's
 * parse-options does): the options with their help, from which both the
 * getopt_long(3) tables and the usage text are made.
 *
 * Exit status of a usage error (an unknown option, a bad or missing
 * value, a wrong number of operands), one policy for every command:
 * one line on stderr, "xrun: WHAT; see xrun CMD --help", and the
 * status the command uses for its own failures: 125 for the commands
 * whose exit status is the program's (run, replay, sweep: 0-124 and
 * 126-255 may be the program's), 2 for every other command. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "cmd.h"
#include "util.h"

/* One option. id is what cmd_option_next() returns for it: a printable
 * letter is also the short option -<letter>; a long-only option takes
 * an id of 256 or more. */
typedef struct CmdOption {
	int id;
	const char *name; /* the long name, or NULL for a short one only */
	const char *arg;  /* its value's name in the help, NULL for a flag */
	/* One line or more, wrapped at 79 columns where printed; NULL
	 * leaves the option out of the help. */
	const char *help;
} CmdOption;

#define CMD_OPTION_HELP                        \
	{                                      \
		'h', "help", NULL, "this help" \
	}

typedef struct CmdSpec {
	const char *name;         /* "gc", or "key generate" */
	const char *synopsis;     /* after "usage: xrun NAME " */
	const char *about;        /* the text before the options, as printed */
	const CmdOption *options; /* ended by {0} */
	/* Options taken too but not in the help (another command's, as
	 * sweep takes run's); one of options of the same letter or name
	 * wins. NULL for none. */
	const CmdOption *shared;
	const char *after; /* the text after the options, or NULL */
	/* Stop at the first operand (the program's arguments follow). */
	bool stop_at_operand;
	/* The command's exit status is a program's: usage errors exit
	 * 125, not 2. */
	bool runs_program;
} CmdSpec;

/* The run options (cmd-run.c): run's, and sweep's shared table. */
extern const CmdOption run_options[];

/* The status of a usage error of cmd (see above). */
int cmd_usage_status(const CmdSpec *cmd);
/* Print "xrun: MSG; see xrun CMD --help" and return the usage status. */
int cmd_usage_error(const CmdSpec *cmd, const char *fmt, ...) _printf_(2, 3);
/* The whole help, as --help prints it. */
void cmd_usage_print(const CmdSpec *cmd, FILE *f);

typedef struct CmdParser {
	const CmdSpec *cmd;
	int argc;
	char **argv;
	const char *arg; /* the current option's value, or NULL */
	int status;      /* when cmd_option_next() returned -1 */
	struct option *longopts;
	char *shortopts;
} CmdParser;

void cmd_parser_init(CmdParser *p, const CmdSpec *cmd, int argc, char **argv);
void cmd_parser_done(CmdParser *p);
/* Go on parsing where p stopped with cmd's table (a verb's options). */
void cmd_parser_resume(CmdParser *p, const CmdSpec *cmd);
#define _cleanup_cmd_parser_ __attribute__((cleanup(cmd_parser_done)))
/* The next option's id (its value in p->arg); 0 at the end of the
 * options (the operands from optind); -1 when the command must exit with
 * p->status: --help was printed (0), or an unknown option or a missing
 * value was said (the usage status). -h/--help is handled here. */
int cmd_option_next(CmdParser *p);

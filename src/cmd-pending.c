/* Commands whose issues have not landed yet: they say so plainly. */
#include "config.h"

#include "cmd.h"
#include "util.h"

static int pending(const char *name, int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (streq(argv[i], "--help") || streq(argv[i], "-h")) {
			printf("usage: xrun %s ...\n\n"
			       "'xrun %s' is not implemented yet in this "
			       "version of xrun.\n",
			       name, name);
			return finish_stdout(0);
		}
	log_error("'xrun %s' is not implemented yet in this version of xrun",
	          name);
	return 2;
}

int cmd_replay(int argc, char **argv, Context *ctx)
{
	return pending("replay", argc, argv);
}

/*
 * main.c - the standby binary: dispatch to a subcommand.
 */
#include <stdio.h>
#include <string.h>
#include "cmd/commands.h"

#define STANDBY_VERSION "0.1"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "inspect", cmd_inspect, "check and describe a migration stream (xl save file, Remus/COLO recording)" },
	{ "receive", cmd_receive, "receive one stream on stdin (the place of xl migrate-receive)" },
	{ "serve",   cmd_serve,   "receive many streams on a unix or TCP socket" },
	{ "replay",  cmd_replay,  "feed a recorded stream through the receiving engine" },
	{ "status",  cmd_status,  "print the JSON status of a running receive or serve" },
	{ "primary", cmd_primary, "simulated Xen primary: stream plain/Remus/COLO checkpoints, with faults" },
	{ "verify", cmd_verify, "check an image replica: committed epoch, digests, the primary's expectations" },
	{ "netbuf",  cmd_netbuf,  "network output buffering: IFB redirect setup/teardown, drive plug qdiscs" },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: standby COMMAND [OPTIONS]\n\n"
		   "standby is the secondary-host half of Xen high availability (Remus, COLO):\n"
		   "it receives checkpoint streams, keeps the newest complete checkpoint, and\n"
		   "brings the VM up from it when the primary is lost.\n\ncommands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'standby COMMAND --help' describes each command.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("standby %s\n", STANDBY_VERSION);
		return 0;
	}
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "standby: unknown command '%s' (see 'standby --help')\n", argv[1]);
	return 2;
}

/*
 * netbuf.c - `standby netbuf`: set up the IFB redirect for output buffering,
 * and drive plug qdiscs by hand (a test and operations tool).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd/commands.h"
#include "standby/netbuf.h"

static void usage(FILE *f)
{
	fprintf(f,
"usage: standby netbuf setup VIF IFB [--limit BYTES]\n"
"       standby netbuf teardown VIF IFB\n"
"       standby netbuf drive [--limit BYTES] IFACE...\n"
"\n"
"Network output buffering with Linux plug qdiscs (sch_plug), through libnl.\n"
"\n"
"setup     redirect everything VIF receives from its guest (every protocol: IPv4,\n"
"          IPv6, ARP, ...) to IFB, whose new root plug qdisc holds it:\n"
"          ingress qdisc on VIF, matchall filter with a mirred redirect to IFB,\n"
"          IFB up, root plug on IFB (plugged: nothing passes until released).\n"
"          Then run 'standby receive|serve --netbuf IFB'.\n"
"teardown  remove VIF's ingress qdisc and IFB's root plug (safe to repeat).\n"
"drive     take charge of each IFACE's root plug (adopt it, or create one) as\n"
"          'receive --netbuf' does, then obey commands from stdin, one a line,\n"
"          answering 'ok ...' or 'error: ...' on stdout:\n"
"            begin N     epoch N starts: seal the output so far\n"
"            commit N    epoch N is committed: release the sealed epoch\n"
"            seal        begin the next epoch (0, 1, ...)\n"
"            release     commit the last epoch begun\n"
"            failover    release everything held and pass traffic through\n"
"            failover drop   drop everything held, then pass traffic through\n"
"            status      print the status JSON\n"
"            quit        (or end of input) remove what was created, and exit\n"
"\n"
"--limit BYTES   bytes each plug holds before it drops packets (default %llu)\n"
"\n"
"Exit status: 0 ok, 1 failure (or a drive command failed), 2 usage error.\n",
		SB_NETBUF_DEFAULT_LIMIT);
}

static int parse_limit(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > 0x7fffffffULL || s[0] == '-') {
		fprintf(stderr, "standby netbuf: --limit wants bytes from 1 to 2147483647, not '%s'\n", s);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_epoch(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || end == s || *end || s[0] == '-' ? -1 : 0;
}

/* One command line of `drive`; returns 1 to stop, 0 to go on, -1 on failure. */
static int drive_line(struct sb_netbuf *nb, char *line, uint64_t *next)
{
	char err[1024], arg[64] = "", cmd[32] = "", extra[8];
	static char status[16384];
	uint64_t n;
	int k = sscanf(line, "%31s %63s %7s", cmd, arg, extra), rc = 0;

	if (k <= 0)
		return 0;
	if (k == 3)
		goto bad;
	if (!strcmp(cmd, "quit")) {
		printf("ok quit\n");
		return 1;
	} else if (!strcmp(cmd, "status") && k == 1) {
		sb_netbuf_status_json(nb, status, sizeof(status));
		printf("%s\n", status);
		return 0;
	} else if ((!strcmp(cmd, "begin") || !strcmp(cmd, "commit")) && k == 2) {
		if (parse_epoch(arg, &n) < 0)
			goto bad;
		if (cmd[0] == 'b') {
			rc = sb_netbuf_epoch_begin(nb, n, err, sizeof(err));
			*next = n + 1;
		} else {
			rc = sb_netbuf_epoch_commit(nb, n, err, sizeof(err));
		}
	} else if (!strcmp(cmd, "seal") && k == 1) {
		n = (*next)++;
		rc = sb_netbuf_epoch_begin(nb, n, err, sizeof(err));
	} else if (!strcmp(cmd, "release") && k == 1) {
		n = *next ? *next - 1 : 0;
		rc = sb_netbuf_epoch_commit(nb, n, err, sizeof(err));
	} else if (!strcmp(cmd, "failover") && (k == 1 || !strcmp(arg, "drop"))) {
		n = 0;
		rc = sb_netbuf_failover(nb, k == 2 ? SB_NETBUF_DROP_HELD : SB_NETBUF_RELEASE_HELD,
					err, sizeof(err));
	} else {
		goto bad;
	}
	if (rc < 0) {
		printf("error: %s %" PRIu64 ": %s\n", cmd, n, err);
		return -1;
	}
	if (!strcmp(cmd, "failover"))
		printf("ok %s\n", cmd);
	else
		printf("ok %s %" PRIu64 "\n", cmd, n);
	return 0;
bad:
	printf("error: unknown command '%s' (begin N, commit N, seal, release, failover [drop], "
	       "status, quit)\n", line);
	return -1;
}

static int drive(int argc, char **argv)
{
	const char *ifaces[SB_NETBUF_MAX_IFACES];
	size_t n = 0;
	uint64_t limit = 0, next = 0;
	char err[1024], line[256];
	struct sb_netbuf *nb;
	int failed = 0, r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--limit") && i + 1 < argc) {
			if (parse_limit(argv[++i], &limit) < 0)
				return 2;
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "standby netbuf drive: unknown option %s\n", argv[i]);
			return 2;
		} else if (n == SB_NETBUF_MAX_IFACES) {
			fprintf(stderr, "standby netbuf drive: at most %d interfaces\n", SB_NETBUF_MAX_IFACES);
			return 2;
		} else {
			ifaces[n++] = argv[i];
		}
	}
	if (!n) {
		usage(stderr);
		return 2;
	}
	nb = sb_netbuf_open(ifaces, n, limit, NULL, NULL, err, sizeof(err));
	if (!nb) {
		fprintf(stderr, "standby netbuf: %s\n", err);
		return 1;
	}
	printf("ok open\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\r\n")] = 0;
		r = drive_line(nb, line, &next);
		fflush(stdout);
		if (r < 0)
			failed = 1;
		if (r > 0)
			break;
	}
	sb_netbuf_close(nb);
	return failed;
}

int cmd_netbuf(int argc, char **argv)
{
	char err[1024];
	uint64_t limit = 0;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "drive"))
		return drive(argc - 1, argv + 1);
	if (!strcmp(argv[1], "setup") || !strcmp(argv[1], "teardown")) {
		int setup = argv[1][0] == 's';
		if (setup && argc == 6 && !strcmp(argv[4], "--limit")) {
			if (parse_limit(argv[5], &limit) < 0)
				return 2;
		} else if (argc != 4) {
			usage(stderr);
			return 2;
		}
		if ((setup ? sb_netbuf_redirect_setup(argv[2], argv[3], limit, err, sizeof(err))
			   : sb_netbuf_redirect_teardown(argv[2], argv[3], err, sizeof(err))) < 0) {
			fprintf(stderr, "standby netbuf %s: %s\n", argv[1], err);
			return 1;
		}
		return 0;
	}
	fprintf(stderr, "standby netbuf: unknown action '%s' (setup, teardown, drive)\n", argv[1]);
	return 2;
}

/*
 * replay.c - `standby replay FILE`: a recorded stream through the same engine
 * as `receive` (the same stream object, fed in chunks from the file).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <ev.h>
#include "cmd/commands.h"
#include "recv/options.h"

#define REPLAY_CHUNK (256 * 1024)

static void usage(FILE *f)
{
	fprintf(f,
		"usage: standby replay FILE --target T [--until-epoch N] [OPTIONS]\n\n"
		"Feed a recorded stream (receive/serve --record, an xl save file, a Remus\n"
		"recording) through the receiving engine, exactly as if it arrived live.  At\n"
		"the end of the file the last committed epoch is activated, as a failover\n"
		"would; a plain stream is a completed migration.\n\n"
		"  --until-epoch N        stop right after committing epoch N, and activate it\n"
		SB_RECV_COMMON_HELP
		"\nExit status: 0 when the replica was activated, 1 otherwise, 2 on usage errors.\n");
}

static int reaped;

static void on_done(struct sb_rstream *s, void *opaque)
{
	(void)s;
	(void)opaque;
	reaped = 1;
	ev_break(EV_DEFAULT, EVBREAK_ALL);
}

int cmd_replay(int argc, char **argv)
{
	static const struct option longopts[] = {
		SB_RECV_COMMON_LONGOPTS,
		{ "until-epoch", required_argument, NULL, OPT_UNTIL },
		{ NULL, 0, NULL, 0 },
	};
	struct sb_recv_config cfg;
	struct sb_rstream_owner owner = { on_done, NULL, NULL };
	struct sb_rstream *s;
	uint8_t *buf;
	int c, fd, rc;

	sb_recv_config_defaults(&cfg);
	cfg.back = SB_BACK_NONE;
	cfg.heartbeat_ms = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		int r = sb_recv_common_opt("replay", c, optarg, &cfg);

		if (r < 0)
			return 2;
		if (r > 0)
			continue;
		switch (c) {
		case OPT_UNTIL: {
			uint64_t v;
			if (sb_parse_size(optarg, &v)) {
				fprintf(stderr, "standby replay: bad --until-epoch '%s'\n", optarg);
				return 2;
			}
			cfg.until_epoch = v;
			cfg.has_until = 1;
			break;
		}
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind + 1 != argc || !cfg.target) {
		usage(stderr);
		return 2;
	}
	fd = open(argv[optind], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "standby replay: %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	buf = malloc(REPLAY_CHUNK);
	s = buf ? sb_rstream_new(&cfg, argv[optind], "replay", -1, -1, &owner) : NULL;
	if (!s) {
		fprintf(stderr, "standby replay: out of memory\n");
		free(buf);
		close(fd);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	sb_rstream_start(s);
	while (!sb_rstream_finished(s)) {
		ssize_t n = read(fd, buf, REPLAY_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			sb_rstream_read_error(s, errno);
		else if (n == 0)
			sb_rstream_eof(s);
		else
			sb_rstream_feed(s, buf, (size_t)n);
		if (n <= 0)
			break;
	}
	sb_rstream_reap(s);
	if (!reaped)            /* the fence hook runs: let the loop wait for it */
		ev_run(EV_DEFAULT, 0);
	rc = sb_rstream_exit_status(s);
	sb_rstream_free(s);
	free(buf);
	close(fd);
	return rc;
}

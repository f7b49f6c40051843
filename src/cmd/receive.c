/*
 * receive.c - `standby receive`: one stream on stdin, the back channel on
 * stdout.  The place of `xl migrate-receive`:
 *
 *   xl remus -s "" dom "ssh secondary standby receive --xl --remus --target image:/srv/r/dom"
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ev.h>
#include "cmd/commands.h"
#include "recv/options.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: standby receive [--xl] [--remus|--colo] [--target T] [OPTIONS] <STREAM >BACKCHANNEL\n\n"
		"Receive one migration / Remus / COLO stream on stdin, keep the newest complete\n"
		"checkpoint in the target, and activate it when the primary is lost (EOF, read\n"
		"error, malformed input, heartbeat silence).  stdout is the back channel.\n\n"
		"  --xl                   speak exactly as `xl migrate-receive`: 54-byte banner first;\n"
		"                         Remus: nothing more on stdout; plain: ready/GO/report\n"
		"  --remus, --colo        the stream is checkpointed (Remus / COLO); without either\n"
		"                         any kind is accepted (with --xl: a plain migration, as xl)\n"
		"  --colo-dirty-pfns LIST pfns reported in each COLO dirty pfn list (tests; e.g. 1,5-9)\n"
		"  --heartbeat-ms N       failover after N ms without data once an epoch is committed\n"
		"                         (default 1000, as the legacy Xen receiver; with --colo\n"
		"                         10000, as COLO checkpoints come at least every 5 s; 0 = off)\n"
		"  --initial-timeout-ms N give up (restore failed) after N ms without data before\n"
		"                         the first commit (default 0: wait, as xl does)\n"
		"  --record FILE          keep a copy of the raw incoming stream (for `standby replay`)\n"
		"  --status-socket PATH   answer JSON status on this unix socket\n"
		"  --activate-on-signal   on SIGTERM/SIGINT fail over to the last committed epoch\n"
		"                         (default: stop, replica kept at that epoch, not activated)\n"
		"  --netbuf IFACE         hold the VM's output on IFACE in a plug qdisc, epoch by\n"
		"                         epoch, until the checkpoint is committed (repeatable;\n"
		"                         needs sch_plug and CAP_NET_ADMIN; docs/netbuf.md)\n"
		SB_RECV_NETBUF_HELP
		SB_RECV_COMMON_HELP
		"\nThe default target is image:/var/lib/standby/<domain> (the domain name from\n"
		"the stream's xl config, else 'stdin').  Exit status: 0 when the replica was\n"
		"activated (failover or completed migration) or the receiver was stopped by a\n"
		"signal, 1 when the restore failed or activation was refused, 2 on usage errors.\n");
}

static struct ev_loop *loop;

static void on_done(struct sb_rstream *s, void *opaque)
{
	(void)s;
	(void)opaque;
	ev_break(loop, EVBREAK_ALL);
}

static int stopped_by_signal;

static void on_signal(struct ev_loop *l, ev_signal *w, int revents)
{
	(void)l;
	(void)revents;
	stopped_by_signal = 1;
	for (struct sb_rstream *s = sb_rstream_first(), *n; s; s = n) {
		n = sb_rstream_next(s);
		sb_rstream_stop(s, w->signum == SIGINT ? "SIGINT" : "SIGTERM");
		sb_rstream_reap(s);
	}
}

int cmd_receive(int argc, char **argv)
{
	static const struct option longopts[] = {
		SB_RECV_COMMON_LONGOPTS,
		SB_RECV_LIVE_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct sb_recv_config cfg;
	struct sb_rstream_owner owner = { on_done, NULL, NULL };
	const char *record = NULL, *status = NULL;
	int xl = 0, remus = 0, colo = 0, c, rc;
	struct sb_rstream *s;
	ev_signal sigint, sigterm;
	char err[256];

	sb_recv_config_defaults(&cfg);
	optind = 1;
	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		int r = sb_recv_common_opt("receive", c, optarg, &cfg);

		if (r < 0)
			return 2;
		if (r > 0)
			continue;
		switch (c) {
		case OPT_XL: xl = 1; break;
		case OPT_REMUS: remus = 1; break;
		case OPT_COLO: colo = 1; break;
		case OPT_RECORD: record = optarg; break;
		case OPT_STATUS: status = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc || (remus && colo)) {
		usage(stderr);
		return 2;
	}
	if (sb_recv_netbuf_check("receive", &cfg))
		return 2;
	if (!cfg.target) {
		cfg.target = "image:/var/lib/standby";
		cfg.target_per_domain = 1;
	}
	cfg.mode = remus ? SB_MODE_REMUS : colo ? SB_MODE_COLO : xl ? SB_MODE_PLAIN : SB_MODE_ANY;
	cfg.kind = xl ? SB_STREAM_XL : SB_STREAM_AUTO;
	cfg.xl_banner = xl;
	sb_recv_config_finish(&cfg);
	cfg.back = colo ? SB_BACK_COLO : !xl ? SB_BACK_NATIVE
		 : remus ? SB_BACK_XL_REMUS : SB_BACK_XL_PLAIN;

	signal(SIGPIPE, SIG_IGN);
	loop = EV_DEFAULT;
	s = sb_rstream_new(&cfg, "stdin", "stdin", 0, 1, &owner);
	if (!s) {
		fprintf(stderr, "standby receive: out of memory\n");
		return 1;
	}
	if (record && sb_rstream_record_to(s, record)) {
		perror(record);
		sb_rstream_free(s);
		return 1;
	}
	if (status && sb_status_listen(loop, status, err, sizeof(err))) {
		fprintf(stderr, "standby receive: %s\n", err);
		sb_rstream_free(s);
		return 1;
	}
	ev_signal_init(&sigint, on_signal, SIGINT);
	ev_signal_init(&sigterm, on_signal, SIGTERM);
	ev_signal_start(loop, &sigint);
	ev_signal_start(loop, &sigterm);
	if (xl)
		fprintf(stderr, "migration target: Ready to receive domain.\n");
	sb_rstream_start(s);
	if (!sb_rstream_finished(s))    /* e.g. --netbuf could not take its plugs */
		ev_run(loop, 0);
	rc = stopped_by_signal && sb_rstream_phase(s) == SB_RP_STOPPED ? 0 : sb_rstream_exit_status(s);
	ev_signal_stop(loop, &sigint);
	ev_signal_stop(loop, &sigterm);
	sb_status_close();
	sb_rstream_free(s);
	free((void *)cfg.colo_dirty_pfns);
	return rc;
}

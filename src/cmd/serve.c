/*
 * serve.c - `standby serve`: many streams at once in one libev loop, each
 * with its own parser, epoch buffer and replica (ROOT/<domain>).  Native acks
 * go back on the same connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <ev.h>
#include "cmd/commands.h"
#include "recv/listen.h"
#include "recv/options.h"

#define MAX_ALLOW 64

struct conn {
	int fd;
	unsigned long id;
	struct sb_rstream *s;
	char claimed[128];
	struct conn *next;
};

static struct {
	struct sb_recv_config cfg;
	struct sb_allow allow[MAX_ALLOW];
	size_t nallow;
	int is_unix;
	int listen_fd;
	char unix_path[256];
	ev_io accept_w;
	struct conn *conns;
	unsigned nconns, max_streams;
	unsigned long next_id;
	const char *record;
	int stopping;
} srv;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: standby serve --listen unix:PATH|tcp:ADDR:PORT --target image:ROOT [OPTIONS]\n\n"
		"Receive many streams at once (bare libxl streams or xl-framed, detected per\n"
		"stream).  Each stream's replica lives apart in ROOT/<domain name from the xl\n"
		"config> (else ROOT/conn-<id>); a second live stream for the same domain is\n"
		"refused.  Native acks go back on the same connection.\n\n"
		"  --listen unix:PATH     unix socket, created 0600\n"
		"  --listen tcp:ADDR:PORT TCP on an explicit numeric address (127.0.0.1, ::1,\n"
		"                         [::1]:7000); wildcard addresses need --allow\n"
		"  --allow CIDR           accept TCP peers in CIDR only (repeatable; IPv4, IPv6)\n"
		"  --max-streams N        concurrent streams (default 256)\n"
		"  --xl                   speak as `xl migrate-receive` on each connection: the 54-byte\n"
		"                         banner first, no acks; plain streams get ready/GO/report\n"
		"  --remus, --colo        streams must be Remus / COLO (default: any, as they show);\n"
		"                         --colo answers on Xen's COLO back channel instead of acks\n"
		"                         (COLO streams need --colo: the back channel differs from\n"
		"                         the first commit on, before a stream shows it is COLO)\n"
		"  --heartbeat-ms N       failover after N ms of silence once an epoch is committed\n"
		"                         (default 1000; with --colo 10000; 0 = off)\n"
		"  --initial-timeout-ms N drop a stream silent for N ms before its first commit\n"
		"                         (frees its slot and domain; default 0: wait)\n"
		"  --record DIR|PATTERN   keep each raw stream: DIR/stream-<id>.raw, or PATTERN with\n"
		"                         %%i replaced by the connection id\n"
		"  --status-socket PATH   answer JSON status on this unix socket\n"
		"  --activate-on-signal   on SIGTERM/SIGINT fail every stream over (default: stop,\n"
		"                         replicas kept at their last committed epoch, not activated)\n"
		"  --netbuf-map NAME=IFACE  hold the output of domain NAME's VM on IFACE in a plug\n"
		"                         qdisc until each checkpoint is committed (repeatable; a\n"
		"                         stream with no mapping is not buffered; docs/netbuf.md)\n"
		SB_RECV_NETBUF_HELP
		SB_RECV_COMMON_HELP
		"\nRuns until SIGTERM or SIGINT.\n");
}

static struct conn *conn_of(struct sb_rstream *s)
{
	for (struct conn *c = srv.conns; c; c = c->next)
		if (c->s == s)
			return c;
	return NULL;
}

static int claim_domain(struct sb_rstream *s, const char *domain, void *opaque)
{
	struct conn *me = conn_of(s);

	(void)opaque;
	for (struct conn *c = srv.conns; c; c = c->next)
		if (c != me && !strcmp(c->claimed, domain))
			return -1;
	if (me)
		snprintf(me->claimed, sizeof(me->claimed), "%s", domain);
	return 0;
}

static void maybe_exit(void)
{
	if (srv.stopping && !srv.conns)
		ev_break(EV_DEFAULT, EVBREAK_ALL);
}

static void on_done(struct sb_rstream *s, void *opaque)
{
	struct conn **pp, *c = NULL;

	(void)opaque;
	for (pp = &srv.conns; *pp; pp = &(*pp)->next)
		if ((*pp)->s == s) {
			c = *pp;
			*pp = c->next;
			break;
		}
	sb_rstream_free(s);
	if (c) {
		close(c->fd);
		free(c);
		srv.nconns--;
	}
	maybe_exit();
}

static void record_path(unsigned long id, char *out, size_t len)
{
	struct stat st;
	const char *p = srv.record;
	size_t o = 0;

	if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(out, len, "%s/stream-%lu.raw", p, id);
		return;
	}
	for (; *p && o + 24 < len; p++) {
		if (p[0] == '%' && p[1] == 'i') {
			o += (size_t)snprintf(out + o, len - o, "%lu", id);
			p++;
		} else {
			out[o++] = *p;
		}
	}
	out[o] = '\0';
}

static void start_stream(int fd, const char *peer)
{
	struct sb_rstream_owner owner = { on_done, claim_domain, NULL };
	char name[64], conn_id[64];
	struct conn *c = calloc(1, sizeof(*c));

	if (!c) {
		close(fd);
		return;
	}
	c->fd = fd;
	c->id = ++srv.next_id;
	snprintf(name, sizeof(name), "%s:%lu", srv.is_unix ? "unix" : "tcp", c->id);
	snprintf(conn_id, sizeof(conn_id), "conn-%lu", c->id);
	c->s = sb_rstream_new(&srv.cfg, name, conn_id, fd, fd, &owner);
	if (!c->s) {
		fprintf(stderr, "standby serve: out of memory for stream %s\n", name);
		close(fd);
		free(c);
		return;
	}
	c->next = srv.conns;
	srv.conns = c;
	srv.nconns++;
	if (srv.cfg.verbose)
		fprintf(stderr, "standby: stream %s: connection from %s\n", name, peer);
	if (srv.record) {
		char path[512];

		record_path(c->id, path, sizeof(path));
		if (sb_rstream_record_to(c->s, path))
			fprintf(stderr, "standby: stream %s: --record %s: %s (not recording)\n",
				name, path, strerror(errno));
	}
	sb_rstream_start(c->s);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char peer[80];
		int fd = accept4(w->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				fprintf(stderr, "standby serve: accept: %s\n", strerror(errno));
			return;
		}
		sb_peer_string((struct sockaddr *)&ss, peer, sizeof(peer));
		if (!srv.is_unix && srv.nallow &&
		    !sb_allow_match(srv.allow, srv.nallow, (struct sockaddr *)&ss)) {
			fprintf(stderr, "standby serve: connection from %s refused: not in --allow\n", peer);
			close(fd);
			continue;
		}
		if (srv.nconns >= srv.max_streams) {
			fprintf(stderr, "standby serve: connection from %s refused: %u streams already (--max-streams)\n",
				peer, srv.nconns);
			close(fd);
			continue;
		}
		start_stream(fd, peer);
	}
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)revents;
	if (!srv.stopping) {
		fprintf(stderr, "standby serve: %s: stopping %u stream(s)\n",
			w->signum == SIGINT ? "SIGINT" : "SIGTERM", srv.nconns);
		srv.stopping = 1;
		ev_io_stop(loop, &srv.accept_w);
	}
	for (struct sb_rstream *s = sb_rstream_first(), *n; s; s = n) {
		n = sb_rstream_next(s);
		sb_rstream_stop(s, w->signum == SIGINT ? "SIGINT" : "SIGTERM");
		sb_rstream_reap(s);
	}
	maybe_exit();
}

int cmd_serve(int argc, char **argv)
{
	static const struct option longopts[] = {
		SB_RECV_COMMON_LONGOPTS,
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "allow", required_argument, NULL, OPT_ALLOW },
		{ "max-streams", required_argument, NULL, OPT_MAX_STREAMS },
		SB_RECV_LIVE_LONGOPTS,
		{ "netbuf-map", required_argument, NULL, OPT_NETBUF_MAP },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen_spec = NULL, *status = NULL;
	struct ev_loop *loop = EV_DEFAULT;
	ev_signal sigint, sigterm;
	char err[512];
	int c, xl = 0;

	memset(&srv, 0, sizeof(srv));
	sb_recv_config_defaults(&srv.cfg);
	srv.max_streams = 256;
	srv.listen_fd = -1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		int r = sb_recv_common_opt("serve", c, optarg, &srv.cfg);
		uint64_t v;

		if (r < 0)
			return 2;
		if (r > 0)
			continue;
		switch (c) {
		case OPT_LISTEN: listen_spec = optarg; break;
		case OPT_ALLOW:
			if (srv.nallow >= MAX_ALLOW || sb_allow_parse(optarg, &srv.allow[srv.nallow])) {
				fprintf(stderr, "standby serve: bad --allow '%s' (CIDR, e.g. 10.0.0.0/8, fd00::/8)\n", optarg);
				return 2;
			}
			srv.nallow++;
			break;
		case OPT_MAX_STREAMS:
			if (sb_parse_size(optarg, &v) || !v || v > 65536) {
				fprintf(stderr, "standby serve: bad --max-streams '%s'\n", optarg);
				return 2;
			}
			srv.max_streams = (unsigned)v;
			break;
		case OPT_XL: xl = 1; break;
		case OPT_REMUS: srv.cfg.mode = SB_MODE_REMUS; break;
		case OPT_COLO: srv.cfg.mode = SB_MODE_COLO; srv.cfg.back = SB_BACK_COLO; break;
		case OPT_RECORD: srv.record = optarg; break;
		case OPT_STATUS: status = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc || !listen_spec) {
		usage(stderr);
		return 2;
	}
	if (srv.cfg.netbuf_n) {
		fprintf(stderr, "standby serve: --netbuf %s: serve receives many streams and one plug "
			"cannot hold the output of many VMs; use --netbuf-map NAME=IFACE (the stream "
			"of domain NAME gets IFACE)\n", srv.cfg.netbuf_ifaces[0]);
		return 2;
	}
	if (sb_recv_netbuf_check("serve", &srv.cfg))
		return 2;
	if (!srv.cfg.target)
		srv.cfg.target = "image:/var/lib/standby";
	srv.cfg.target_per_domain = 1;
	sb_recv_config_finish(&srv.cfg);
	if (xl) {               /* banner on each connection, then xl's own protocol */
		srv.cfg.xl_banner = 1;
		if (srv.cfg.back == SB_BACK_NATIVE)
			srv.cfg.back = SB_BACK_XL_PLAIN;
	}

	srv.listen_fd = sb_listen_open(listen_spec, srv.nallow > 0, &srv.is_unix, err, sizeof(err));
	if (srv.listen_fd < 0) {
		fprintf(stderr, "standby serve: %s\n", err);
		return 1;
	}
	if (srv.is_unix)
		snprintf(srv.unix_path, sizeof(srv.unix_path), "%s", listen_spec + 5);
	if (status && sb_status_listen(loop, status, err, sizeof(err))) {
		fprintf(stderr, "standby serve: %s\n", err);
		close(srv.listen_fd);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	ev_io_init(&srv.accept_w, accept_cb, srv.listen_fd, EV_READ);
	ev_io_start(loop, &srv.accept_w);
	ev_signal_init(&sigint, on_signal, SIGINT);
	ev_signal_init(&sigterm, on_signal, SIGTERM);
	ev_signal_start(loop, &sigint);
	ev_signal_start(loop, &sigterm);
	fprintf(stderr, "standby serve: listening on %s, replicas in %s\n", listen_spec, srv.cfg.target);
	ev_run(loop, 0);

	ev_signal_stop(loop, &sigint);
	ev_signal_stop(loop, &sigterm);
	ev_io_stop(loop, &srv.accept_w);
	close(srv.listen_fd);
	if (srv.is_unix)
		unlink(srv.unix_path);
	sb_status_close();
	free((void *)srv.cfg.colo_dirty_pfns);
	return 0;
}

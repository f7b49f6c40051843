/*
 * options.h - the options that receive, serve and replay share.
 */
#ifndef STANDBY_RECV_OPTIONS_H
#define STANDBY_RECV_OPTIONS_H

#include <getopt.h>
#include "standby/recv.h"

enum {
	OPT_TARGET = 1000, OPT_MAX_EPOCH, OPT_HEARTBEAT, OPT_FENCE, OPT_ACT_SIGNAL, OPT_SYNC,
	OPT_REMUS, OPT_COLO, OPT_XL, OPT_DIRTY, OPT_RECORD, OPT_STATUS, OPT_UNTIL,
	OPT_LISTEN, OPT_ALLOW, OPT_MAX_STREAMS, OPT_SOCKET, OPT_INITIAL_TIMEOUT,
	OPT_NETBUF, OPT_NETBUF_LIMIT, OPT_NETBUF_FAILOVER, OPT_NETBUF_MAP,
};

/* --netbuf-limit and --netbuf-failover (receive and serve) */
#define SB_RECV_NETBUF_LONGOPTS \
	{ "netbuf-limit", required_argument, NULL, OPT_NETBUF_LIMIT }, \
	{ "netbuf-failover", required_argument, NULL, OPT_NETBUF_FAILOVER }

/* what the live receivers share (receive and serve; replay reads a file) */
#define SB_RECV_LIVE_LONGOPTS \
	{ "xl", no_argument, NULL, OPT_XL }, \
	{ "remus", no_argument, NULL, OPT_REMUS }, \
	{ "colo", no_argument, NULL, OPT_COLO }, \
	{ "colo-dirty-pfns", required_argument, NULL, OPT_DIRTY }, \
	{ "heartbeat-ms", required_argument, NULL, OPT_HEARTBEAT }, \
	{ "initial-timeout-ms", required_argument, NULL, OPT_INITIAL_TIMEOUT }, \
	{ "record", required_argument, NULL, OPT_RECORD }, \
	{ "status-socket", required_argument, NULL, OPT_STATUS }, \
	{ "activate-on-signal", no_argument, NULL, OPT_ACT_SIGNAL }, \
	{ "netbuf", required_argument, NULL, OPT_NETBUF }, \
	SB_RECV_NETBUF_LONGOPTS

#define SB_RECV_NETBUF_HELP \
	"  --netbuf-limit BYTES   bytes each plug holds (K/M suffixes; default 10M); more is dropped\n" \
	"  --netbuf-failover release|drop  at failover, what happens to the output still held\n" \
	"                         (all uncommitted): release it (default) or drop it (safer for\n" \
	"                         TCP services, see docs/netbuf.md); then traffic passes through\n"

#define SB_RECV_COMMON_LONGOPTS \
	{ "target", required_argument, NULL, OPT_TARGET }, \
	{ "max-epoch-bytes", required_argument, NULL, OPT_MAX_EPOCH }, \
	{ "fence", required_argument, NULL, OPT_FENCE }, \
	{ "sync", no_argument, NULL, OPT_SYNC }, \
	{ "verbose", no_argument, NULL, 'v' }, \
	{ "help", no_argument, NULL, 'h' }

#define SB_RECV_COMMON_HELP \
	"  --target T             where replicas go: image:DIR, null, xen[:OPTIONS]\n" \
	"                         (xen options: docs/xen-target.md)\n" \
	"  --max-epoch-bytes N    bound on one buffered epoch (K/M/G suffixes; default 1G);\n" \
	"                         going past it is a stream error\n" \
	"  --fence CMD            run `sh -c CMD` before a failover activates the replica;\n" \
	"                         activation only if it exits 0.  Environment: STANDBY_DOMAIN,\n" \
	"                         STANDBY_EPOCH, STANDBY_REASON, STANDBY_STREAM\n" \
	"  --sync                 fsync the replica at each commit\n" \
	"  -v, --verbose          one line per committed epoch on stderr\n" \
	"  -h, --help             this help\n"

/* --colo without --heartbeat-ms: SB_RECV_HEARTBEAT_COLO */
void sb_recv_config_finish(struct sb_recv_config *cfg);

/* 1 = handled, 0 = not a common option, -1 = bad value (message printed) */
int sb_recv_common_opt(const char *cmd, int c, const char *arg, struct sb_recv_config *cfg);
void sb_recv_config_defaults(struct sb_recv_config *cfg);

/* After parsing: --netbuf-limit / --netbuf-failover without any interface.
 * 0 = fine, -1 = message printed (usage error). */
int sb_recv_netbuf_check(const char *cmd, const struct sb_recv_config *cfg);

#endif

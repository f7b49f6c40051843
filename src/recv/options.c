/*
 * options.c - parsing of the options shared by receive, serve and replay.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "recv/options.h"
#include "standby/netbuf.h"

#define NETBUF_MAP_MAX 256

static int heartbeat_given;
static int netbuf_opts_given;
static const char *netbuf_ifaces[SB_NETBUF_MAX_IFACES];
static const char *netbuf_map[NETBUF_MAP_MAX];

void sb_recv_config_defaults(struct sb_recv_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_epoch_bytes = SB_RECV_MAX_EPOCH_DEFAULT;
	cfg->heartbeat_ms = SB_RECV_HEARTBEAT_DEFAULT;
	cfg->kind = SB_STREAM_AUTO;
	cfg->mode = SB_MODE_ANY;
	cfg->back = SB_BACK_NATIVE;
	cfg->netbuf_ifaces = netbuf_ifaces;
	cfg->netbuf_map = netbuf_map;
	heartbeat_given = 0;
	netbuf_opts_given = 0;
}

int sb_recv_netbuf_check(const char *cmd, const struct sb_recv_config *cfg)
{
	if (netbuf_opts_given && !cfg->netbuf_n && !cfg->netbuf_nmap) {
		fprintf(stderr, "standby %s: --netbuf-limit and --netbuf-failover need %s\n", cmd,
			strcmp(cmd, "serve") ? "--netbuf IFACE" : "--netbuf-map NAME=IFACE");
		return -1;
	}
	return 0;
}

/* An interface name as the kernel takes it (IFNAMSIZ 16, no '/', ':' or space). */
static int bad_ifname(const char *n)
{
	return !*n || strlen(n) >= 16 || strpbrk(n, "/: \t\n=") != NULL;
}

static int netbuf_iface_taken(const struct sb_recv_config *cfg, const char *iface)
{
	for (size_t i = 0; i < cfg->netbuf_n; i++)
		if (!strcmp(cfg->netbuf_ifaces[i], iface))
			return 1;
	for (size_t i = 0; i < cfg->netbuf_nmap; i++)
		if (!strcmp(strchr(cfg->netbuf_map[i], '=') + 1, iface))
			return 1;
	return 0;
}

static int netbuf_opt(const char *cmd, int c, const char *arg, struct sb_recv_config *cfg)
{
	const char *eq;
	uint64_t v;

	switch (c) {
	case OPT_NETBUF:
		if (bad_ifname(arg) || netbuf_iface_taken(cfg, arg) ||
		    cfg->netbuf_n >= SB_NETBUF_MAX_IFACES) {
			fprintf(stderr, "standby %s: bad --netbuf '%s' (an interface name, each once, at most %d)\n",
				cmd, arg, SB_NETBUF_MAX_IFACES);
			return -1;
		}
		netbuf_ifaces[cfg->netbuf_n++] = arg;
		return 1;
	case OPT_NETBUF_MAP:
		eq = strchr(arg, '=');
		if (!eq || eq == arg || bad_ifname(eq + 1) || cfg->netbuf_nmap >= NETBUF_MAP_MAX) {
			fprintf(stderr, "standby %s: bad --netbuf-map '%s' (NAME=IFACE: the stream of domain NAME gets IFACE)\n",
				cmd, arg);
			return -1;
		}
		if (netbuf_iface_taken(cfg, eq + 1)) {
			fprintf(stderr, "standby %s: --netbuf-map '%s': interface %s is mapped already "
				"(one plug cannot hold the output of two streams)\n", cmd, arg, eq + 1);
			return -1;
		}
		netbuf_map[cfg->netbuf_nmap++] = arg;
		return 1;
	case OPT_NETBUF_LIMIT:
		if (sb_parse_size(arg, &v) || v == 0 || v > 2147483647) {
			fprintf(stderr, "standby %s: bad --netbuf-limit '%s' (bytes from 1 to 2147483647)\n",
				cmd, arg);
			return -1;
		}
		cfg->netbuf_limit = v;
		netbuf_opts_given = 1;
		return 1;
	case OPT_NETBUF_FAILOVER:
		if (strcmp(arg, "release") && strcmp(arg, "drop")) {
			fprintf(stderr, "standby %s: bad --netbuf-failover '%s' (release or drop)\n", cmd, arg);
			return -1;
		}
		cfg->netbuf_drop = !strcmp(arg, "drop");
		netbuf_opts_given = 1;
		return 1;
	}
	return 0;
}

void sb_recv_config_finish(struct sb_recv_config *cfg)
{
	if (cfg->mode == SB_MODE_COLO && !heartbeat_given)
		cfg->heartbeat_ms = SB_RECV_HEARTBEAT_COLO;
}

int sb_recv_common_opt(const char *cmd, int c, const char *arg, struct sb_recv_config *cfg)
{
	uint64_t v;
	int r = netbuf_opt(cmd, c, arg, cfg);

	if (r)
		return r;
	switch (c) {
	case OPT_TARGET:
		cfg->target = arg;
		return 1;
	case OPT_MAX_EPOCH:
		if (sb_parse_size(arg, &v) || v == 0) {
			fprintf(stderr, "standby %s: bad --max-epoch-bytes '%s'\n", cmd, arg);
			return -1;
		}
		cfg->max_epoch_bytes = v;
		return 1;
	case OPT_HEARTBEAT:
		if (sb_parse_size(arg, &v) || v > 86400000) {
			fprintf(stderr, "standby %s: bad --heartbeat-ms '%s'\n", cmd, arg);
			return -1;
		}
		cfg->heartbeat_ms = (unsigned)v;
		heartbeat_given = 1;
		return 1;
	case OPT_INITIAL_TIMEOUT:
		if (sb_parse_size(arg, &v) || v > 86400000) {
			fprintf(stderr, "standby %s: bad --initial-timeout-ms '%s'\n", cmd, arg);
			return -1;
		}
		cfg->initial_timeout_ms = (unsigned)v;
		return 1;
	case OPT_FENCE:
		cfg->fence_cmd = arg;
		return 1;
	case OPT_ACT_SIGNAL:
		cfg->activate_on_signal = 1;
		return 1;
	case OPT_SYNC:
		cfg->sync = 1;
		return 1;
	case 'v':
		cfg->verbose = 1;
		return 1;
	case OPT_DIRTY: {
		uint64_t *pfns;
		uint32_t n;

		if (sb_parse_pfn_list(arg, &pfns, &n)) {
			fprintf(stderr, "standby %s: bad --colo-dirty-pfns '%s' (e.g. 1,2,0x100-0x1ff)\n", cmd, arg);
			return -1;
		}
		free((void *)cfg->colo_dirty_pfns);
		cfg->colo_dirty_pfns = pfns;
		cfg->colo_dirty_count = n;
		return 1;
	}
	}
	return 0;
}

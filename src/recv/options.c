/*
 * options.c - parsing of the options shared by receive, serve and replay.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "recv/options.h"

static int heartbeat_given;

void sb_recv_config_defaults(struct sb_recv_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_epoch_bytes = SB_RECV_MAX_EPOCH_DEFAULT;
	cfg->heartbeat_ms = SB_RECV_HEARTBEAT_DEFAULT;
	cfg->kind = SB_STREAM_AUTO;
	cfg->mode = SB_MODE_ANY;
	cfg->back = SB_BACK_NATIVE;
	heartbeat_given = 0;
}

void sb_recv_config_finish(struct sb_recv_config *cfg)
{
	if (cfg->mode == SB_MODE_COLO && !heartbeat_given)
		cfg->heartbeat_ms = SB_RECV_HEARTBEAT_COLO;
}

int sb_recv_common_opt(const char *cmd, int c, const char *arg, struct sb_recv_config *cfg)
{
	uint64_t v;

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

/*
 * null.c - the null target: accepts everything, keeps nothing, counts.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include "standby/backend.h"

struct null_target {
	uint64_t records, pages, bytes, commits;
	uint64_t last_epoch;
	int activated;
};

static int null_open(struct sb_target *t, const char *arg, const struct sb_stream_info *info,
		     char *err, size_t errlen)
{
	(void)arg;
	(void)info;
	t->priv = calloc(1, sizeof(struct null_target));
	if (!t->priv) {
		snprintf(err, errlen, "null: out of memory");
		return -1;
	}
	return 0;
}

static int null_initial_record(struct sb_target *t, const struct sb_record *rec,
			       char *err, size_t errlen)
{
	struct null_target *n = t->priv;

	(void)err;
	(void)errlen;
	n->records++;
	n->bytes += SB_REC_HDR_LEN + sb_pad8(rec->length);
	if (rec->layer == SB_LAYER_LIBXC && rec->type == SB_LIBXC_PAGE_DATA)
		n->pages += rec->page_count;
	return 0;
}

static int null_commit(struct sb_target *t, const struct sb_epoch *ep,
		       const struct sb_commit_info *ci, char *err, size_t errlen)
{
	struct null_target *n = t->priv;

	(void)err;
	(void)errlen;
	if (ep) {
		n->records += sb_epoch_nrecs(ep);
		n->pages += sb_epoch_npages(ep);
		n->bytes += sb_epoch_wire_bytes(ep);
	}
	n->commits++;
	n->last_epoch = ci->epoch;
	return 0;
}

static int null_activate(struct sb_target *t, const struct sb_failover_info *fi,
			 char *err, size_t errlen)
{
	(void)fi;
	(void)err;
	(void)errlen;
	((struct null_target *)t->priv)->activated = 1;
	return 0;
}

static void null_abort(struct sb_target *t)
{
	(void)t;
}

static int null_status_json(struct sb_target *t, char *buf, size_t len)
{
	struct null_target *n = t->priv;
	char epoch[32] = "null";
	int k;

	if (n->commits)
		snprintf(epoch, sizeof(epoch), "%" PRIu64, n->last_epoch);
	k = snprintf(buf, len,
		     "{\"target\":\"null\",\"records\":%" PRIu64 ",\"pages\":%" PRIu64
		     ",\"bytes\":%" PRIu64 ",\"commits\":%" PRIu64 ",\"committed_epoch\":%s"
		     ",\"activated\":%s}",
		     n->records, n->pages, n->bytes, n->commits, epoch,
		     n->activated ? "true" : "false");
	return k < 0 || (size_t)k >= len ? -1 : k;
}

static void null_close(struct sb_target *t)
{
	free(t->priv);
	t->priv = NULL;
}

const struct sb_target_ops sb_target_null = {
	.name = "null",
	.open = null_open,
	.initial_record = null_initial_record,
	.commit = null_commit,
	.activate = null_activate,
	.abort = null_abort,
	.status_json = null_status_json,
	.close = null_close,
};

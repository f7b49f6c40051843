/*
 * drive.c - test tool for the Xen harness: drive a target through backend.h
 * from an xl stream on stdin, the way the receiver engine does (open,
 * initial_record for each record before the first CHECKPOINT_END, commit per
 * complete epoch, activate at EOF/END, abort when no epoch was committed),
 * with standby's parser and epoch buffer but without the engine, its
 * sockets and its event loop.  It lets the harness tell a fault of the
 * target from a fault above it.
 *
 *   drive [--xl] TARGET_SPEC < stream        (--xl: write the xl banner first)
 *   TARGET_SPEC is "xen[:OPTIONS]".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "standby/backend.h"
#include "standby/epoch.h"
#include "standby/parser.h"

struct drive {
	struct sb_target t;
	const char *arg;
	int opened, failed;
	uint64_t commits;
	struct sb_epoch *ep;
	char err[512];
	char name[256], type[16], *json;
	uint64_t memkb;
	uint32_t vcpus;
};

static int open_target(struct drive *d)
{
	d->t.ops = &sb_target_xen;
	d->t.info.stream = "stdin";
	d->t.info.domain = d->name[0] ? d->name : NULL;
	d->t.info.config_json = d->json;
	d->t.info.guest_type = d->type[0] ? d->type : NULL;
	d->t.info.max_memkb = d->memkb;
	d->t.info.max_vcpus = d->vcpus;
	d->t.info.mode = SB_MODE_ANY;
	if (d->t.ops->open(&d->t, d->arg, &d->t.info, d->err, sizeof(d->err)))
		return -1;
	d->opened = 1;
	return 0;
}

static int commit(struct drive *d, uint64_t number, const struct sb_epoch *ep)
{
	struct sb_commit_info ci = { .epoch = number, .pages = ep ? sb_epoch_npages(ep) : 0 };

	if (d->t.ops->commit(&d->t, ep, &ci, d->err, sizeof(d->err)))
		return -1;
	d->commits++;
	fprintf(stderr, "drive: epoch %llu committed\n", (unsigned long long)number);
	return 0;
}

static int on_event(const struct sb_event *ev, void *opaque)
{
	struct drive *d = opaque;

	switch (ev->kind) {
	case SB_EV_PREAMBLE:
		if (ev->u.preamble.name)
			snprintf(d->name, sizeof(d->name), "%s", ev->u.preamble.name);
		if (ev->u.preamble.guest_type)
			snprintf(d->type, sizeof(d->type), "%s", ev->u.preamble.guest_type);
		d->memkb = ev->u.preamble.max_memkb;
		d->vcpus = ev->u.preamble.max_vcpus;
		if (ev->u.preamble.json)
			d->json = strdup(ev->u.preamble.json);
		break;
	case SB_EV_RECORD:
		if (!d->opened && open_target(d))
			return SB_CB_ABORT;
		if (!d->commits) {
			if (d->t.ops->initial_record(&d->t, &ev->u.rec, d->err, sizeof(d->err)))
				return SB_CB_ABORT;
		} else if (sb_epoch_add(d->ep, ev->u.rec.layer, ev->u.rec.type, ev->u.rec.body,
					ev->u.rec.length)) {
			snprintf(d->err, sizeof(d->err), "epoch buffer: %s", strerror(errno));
			return SB_CB_ABORT;
		}
		break;
	case SB_EV_EPOCH_END:
		if (commit(d, ev->u.epoch.number, ev->u.epoch.number == 0 ? NULL : d->ep))
			return SB_CB_ABORT;
		sb_epoch_reset(d->ep, ev->u.epoch.number + 1);
		break;
	case SB_EV_END:
		if (!d->commits && d->opened && commit(d, 0, NULL))
			return SB_CB_ABORT;
		break;
	default:
		break;
	}
	return SB_CB_CONTINUE;
}

int main(int argc, char **argv)
{
	static uint8_t buf[1 << 16];
	struct drive d;
	struct sb_parser *p;
	int xl = 0, a = 1, rc;
	const char *reason = "eof";

	memset(&d, 0, sizeof(d));
	if (a < argc && !strcmp(argv[a], "--xl")) {
		xl = 1;
		a++;
	}
	if (a >= argc || strncmp(argv[a], "xen", 3)) {
		fprintf(stderr, "usage: drive [--xl] xen[:OPTIONS] < stream\n");
		return 2;
	}
	d.arg = argv[a][3] == ':' ? argv[a] + 4 : "";
	if (xl && write(1, SB_XL_BANNER, SB_XL_BANNER_LEN) != SB_XL_BANNER_LEN)
		return 1;
	d.ep = sb_epoch_new(1ull << 30);
	p = sb_parser_new(&(struct sb_parser_config){ .name = "stdin", .cb = on_event, .opaque = &d });
	if (!d.ep || !p)
		return 1;
	for (;;) {
		ssize_t n = read(0, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (sb_parser_feed(p, buf, (size_t)n) < 0) {
			fprintf(stderr, "drive: %s%s%s\n", sb_parser_error(p)->msg, d.err[0] ? ": " : "", d.err);
			reason = "parse error";
			break;
		}
		if (sb_parser_done(p)) {
			reason = "end";
			break;
		}
	}
	if (!sb_parser_done(p) && sb_parser_finish(p) < 0)
		fprintf(stderr, "drive: %s\n", sb_parser_error(p)->msg);
	if (!d.opened) {
		fprintf(stderr, "drive: no record: nothing to do\n");
		return 1;
	}
	if (!d.commits) {
		d.t.ops->abort(&d.t);
		d.t.ops->close(&d.t);
		fprintf(stderr, "drive: stream died before its first commit: aborted\n");
		return 1;
	}
	struct sb_failover_info fi = { .reason = reason, .epoch = d.commits - 1 };
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(stderr, "drive: input ended (%s) at realtime %lld.%03ld: activating\n", reason,
		(long long)ts.tv_sec, ts.tv_nsec / 1000000);
	rc = d.t.ops->activate(&d.t, &fi, d.err, sizeof(d.err));
	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(stderr, "drive: activate returned %d at realtime %lld.%03ld\n", rc,
		(long long)ts.tv_sec, ts.tv_nsec / 1000000);
	if (rc)
		fprintf(stderr, "drive: activate: %s\n", d.err);
	d.t.ops->close(&d.t);
	sb_parser_free(p);
	sb_epoch_free(d.ep);
	free(d.json);
	return rc ? 1 : 0;
}

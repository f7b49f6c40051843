/*
 * backend.h - targets: where committed checkpoints go.
 *
 * A target knows its own medium (a replica on disk, a Xen domain, nothing)
 * and nothing about the wire: it gets records the parser has checked, and
 * decodes bodies with records.h.  The receiver drives it:
 *
 *   open -> initial_record* -> commit(epoch 0) -> commit(1) ... -> activate -> close
 *                          \-> abort (stream died before the first commit)
 *
 * Before the first commit each record goes straight to the target as it
 * arrives (the initial copy is never held in RAM twice); the commit of epoch
 * 0 then carries only what the receiver held back for it (nothing, today:
 * see recv/).  After that every epoch arrives whole in one commit call, which
 * must be atomic: after a crash at any instant the target opens as exactly
 * one committed epoch.
 */
#ifndef STANDBY_BACKEND_H
#define STANDBY_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include "standby/format.h"
#include "standby/parser.h"
#include "standby/epoch.h"

struct sb_stream_info {
	const char *stream;             /* stream name for messages */
	const char *domain;             /* domain name from the preamble, or a connection id */
	const char *config_json;        /* xl JSON config, or NULL */
	uint32_t domain_type;           /* SB_DOM_PV / SB_DOM_HVM (0 until the libxc header) */
	const char *guest_type;         /* "pv", "pvh", "hvm" from the config, or NULL */
	uint64_t max_memkb;             /* from the config, 0 if unknown */
	uint32_t max_vcpus;
	enum sb_mode mode;              /* PLAIN, REMUS, COLO */
	int sync;                       /* --sync: fsync at commit */
};

struct sb_commit_info {
	uint64_t epoch;
	uint64_t pages, bytes;          /* of this epoch */
	uint64_t wire_bytes;
	double t_first_record;          /* CLOCK_REALTIME seconds, for the manifest */
	double t_commit;
};

struct sb_failover_info {
	const char *reason;             /* "eof", "read error", "parse error", "heartbeat", "signal" */
	uint64_t epoch;                 /* last committed epoch */
};

struct sb_target;

struct sb_target_ops {
	const char *name;               /* "image", "null", "xen" */
	/* arg: the text after "name:" (may be ""); err: a message on failure */
	int  (*open)(struct sb_target *t, const char *arg, const struct sb_stream_info *info,
		     char *err, size_t errlen);
	int  (*initial_record)(struct sb_target *t, const struct sb_record *rec,
			       char *err, size_t errlen);
	/* ep is NULL for the commit of epoch 0 when nothing was held back */
	int  (*commit)(struct sb_target *t, const struct sb_epoch *ep,
		       const struct sb_commit_info *ci, char *err, size_t errlen);
	int  (*activate)(struct sb_target *t, const struct sb_failover_info *fi,
			 char *err, size_t errlen);
	void (*abort)(struct sb_target *t);            /* failed before the first commit */
	/* append a JSON object describing the target's state (may be NULL) */
	int  (*status_json)(struct sb_target *t, char *buf, size_t len);
	void (*close)(struct sb_target *t);
};

struct sb_target {
	const struct sb_target_ops *ops;
	void *priv;
	struct sb_stream_info info;
};

/* "image:DIR", "null", "xen[:...]" -> ops; NULL when unknown. *arg points after the colon. */
const struct sb_target_ops *sb_target_lookup(const char *spec, const char **arg);

extern const struct sb_target_ops sb_target_image;
extern const struct sb_target_ops sb_target_null;
extern const struct sb_target_ops sb_target_xen;   /* src/backend/xen.c */

#endif

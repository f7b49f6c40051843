/*
 * target.c - the stream's target: chosen and opened once the stream has shown
 * its domain (xl preamble) and, when it can, its domain type (libxc header);
 * the few libxl records that arrive before that (LIBXC_CONTEXT) are held
 * until then.  Errors fail the stream through the parser (sb_parser_fail) with
 * s->own_reason saying what kind of failure it was.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "recv/internal.h"

void sb_rt_close(struct sb_rstream *s)
{
	if (s->target_open) {
		s->target.ops->close(&s->target);
		s->target_open = 0;
	}
}


void sb_rt_pick_domain(struct sb_rstream *s, const char *name)
{
	char clean[128];

	if (name && *name) {
		sb_sanitize_name(name, clean, sizeof(clean));
		if (clean[0]) {
			snprintf(s->domain, sizeof(s->domain), "%s", clean);
			return;
		}
	}
	sb_sanitize_name(s->conn_id, clean, sizeof(clean));
	snprintf(s->domain, sizeof(s->domain), "%s", clean[0] ? clean : "stream");
}

static int open_target(struct sb_rstream *s, uint32_t domain_type)
{
	const struct sb_target_ops *ops;
	const char *arg = "";
	char err[512] = "";

	if (s->target_open)
		return 0;
	if (!s->domain[0])
		sb_rt_pick_domain(s, NULL);
	if (s->owner.claim_domain && s->owner.claim_domain(s, s->domain, s->owner.opaque)) {
		s->own_reason = "refused";
		sb_parser_fail(s->parser, SB_ERR_ABORTED,
			       "domain '%s' already has a live stream", s->domain);
		return -1;
	}
	ops = sb_target_lookup(s->cfg.target, &arg);
	if (!ops) {
		s->own_reason = "target error";
		sb_parser_fail(s->parser, SB_ERR_ABORTED, "unknown target '%s'",
			       s->cfg.target);
		return -1;
	}
	free(s->target_arg);
	/* a root of per-domain replicas: only the image target keeps one directory per domain */
	if (s->cfg.target_per_domain && ops == &sb_target_image && arg && *arg) {
		size_t n = strlen(arg) + strlen(s->domain) + 2;

		if (mkdir(arg, 0700) && errno != EEXIST)        /* the root of per-domain replicas */
			sb_rlog(s, "cannot create %s: %s", arg, strerror(errno));
		s->target_arg = malloc(n);
		if (s->target_arg)
			snprintf(s->target_arg, n, "%s%s%s", arg,
				 arg[strlen(arg) - 1] == '/' ? "" : "/", s->domain);
	} else {
		s->target_arg = strdup(arg ? arg : "");
	}
	if (!s->target_arg)
		return -1;
	memset(&s->target, 0, sizeof(s->target));
	s->target.ops = ops;
	s->target.info.stream = s->name;
	s->target.info.domain = s->domain;
	s->target.info.config_json = s->config_json;
	s->target.info.domain_type = domain_type;
	s->target.info.guest_type = s->guest_type;
	s->target.info.max_memkb = s->max_memkb;
	s->target.info.max_vcpus = s->max_vcpus;
	s->target.info.mode = s->cfg.mode;
	s->target.info.sync = s->cfg.sync;
	if (ops->open(&s->target, s->target_arg, &s->target.info, err, sizeof(err))) {
		s->own_reason = "target error";
		sb_parser_fail(s->parser, SB_ERR_ABORTED, "target %s:%s: %s",
			       ops->name, s->target_arg, err);
		return -1;
	}
	s->target_open = 1;
	return 0;
}

int sb_rt_record(struct sb_rstream *s, const struct sb_record *rec)
{
	char err[512] = "";

	if (s->target.ops->initial_record(&s->target, rec, err, sizeof(err))) {
		s->own_reason = "target error";
		sb_parser_fail(s->parser, SB_ERR_ABORTED,
			       "target refused the record at offset %llu: %s",
			       (unsigned long long)rec->offset, err);
		return -1;
	}
	return 0;
}

/* Records seen before the target could be opened (LIBXC_CONTEXT): kept small. */
int sb_rt_hold(struct sb_rstream *s, const struct sb_record *rec)
{
	struct sb_pending_rec *p;

	if (s->npend >= sizeof(s->pend) / sizeof(s->pend[0]) ||
	    s->pend_bytes.len + rec->length > SB_PENDING_MAX)
		return sb_rt_ensure(s, 0) ? -1 : sb_rt_record(s, rec);
	p = &s->pend[s->npend++];
	p->layer = rec->layer;
	p->type = rec->type;
	p->length = rec->length;
	p->offset = rec->offset;
	p->index = rec->index;
	p->at = s->pend_bytes.len;
	if (rec->length && sb_buf_append(&s->pend_bytes, rec->body, rec->length))
		return -1;
	return 0;
}

static int flush_pending(struct sb_rstream *s)
{
	for (unsigned i = 0; i < s->npend; i++) {
		struct sb_record r = { 0 };

		r.layer = s->pend[i].layer;
		r.type = s->pend[i].type;
		r.length = s->pend[i].length;
		r.body = r.length ? s->pend_bytes.data + s->pend[i].at : NULL;
		r.offset = s->pend[i].offset;
		r.index = s->pend[i].index;
		if (sb_rt_record(s, &r))
			return -1;
	}
	s->npend = 0;
	sb_buf_reset(&s->pend_bytes);
	return 0;
}

int sb_rt_ensure(struct sb_rstream *s, uint32_t domain_type)
{
	if (s->target_open) {
		if (domain_type)
			s->target.info.domain_type = domain_type;
		return 0;
	}
	if (open_target(s, domain_type ? domain_type : sb_parser_domain_type(s->parser)))
		return -1;
	return flush_pending(s);
}


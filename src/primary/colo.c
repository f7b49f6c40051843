/*
 * colo.c - the primary's end of the COLO back channel (xen-streams.md §1.7).
 *
 * The secondary writes bare records, no header:
 *   after each CHECKPOINT_END:  CHECKPOINT_STATE(SVM_READY)  CHECKPOINT_STATE(SVM_RESUMED)
 *   after our CHECKPOINT_STATE(NEW):  CHECKPOINT_STATE(SVM_SUSPENDED)
 *                                     libxc CHECKPOINT_DIRTY_PFN_LIST
 * Records are read exactly (header, then the padded body), never past the one
 * expected, with a timeout.  The stream parser (SB_STREAM_COLO_BACK) checks
 * framing, lengths, padding, state ids, the dirty list's place and its pfns
 * against the guest's size; this file checks that each record is the one the
 * protocol expects at that point.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "primary/primary.h"
#include "standby/parser.h"

struct pr_colo {
	struct pr_sink *sink;
	struct sb_parser *parser;       /* SB_STREAM_COLO_BACK: framing and field checks */
	struct pr_guest *guest;         /* where the dirty pfns go, during a feed */
	uint64_t max_pfn;
	uint32_t timeout_ms;
	struct sb_buf body;
	char name[300];
	/* the record the parser just handed out */
	int got;
	enum sb_layer layer;
	uint32_t type, length, id;
	uint64_t pfns;
};

static int on_event(const struct sb_event *ev, void *opaque)
{
	struct pr_colo *c = opaque;
	const struct sb_record *r = &ev->u.rec;

	if (ev->kind != SB_EV_RECORD)
		return SB_CB_CONTINUE;
	c->got = 1;
	c->layer = r->layer;
	c->type = r->type;
	c->length = r->length;
	if (r->layer == SB_LAYER_LIBXL && r->type == SB_LIBXL_CHECKPOINT_STATE)
		c->id = sb_get_le32(r->body);
	if (r->layer == SB_LAYER_LIBXC && r->type == SB_LIBXC_CHECKPOINT_DIRTY_PFN_LIST) {
		c->pfns = r->length / 8;
		for (uint64_t i = 0; i < c->pfns; i++)
			pr_guest_mark_resend(c->guest, sb_get_le64(r->body + 8 * i));
	}
	return SB_CB_CONTINUE;
}

struct pr_colo *pr_colo_new(struct pr_sink *s, uint64_t max_pfn, uint32_t timeout_ms)
{
	struct pr_colo *c = calloc(1, sizeof(*c));
	struct sb_parser_config pc;

	if (!c)
		return NULL;
	c->sink = s;
	c->max_pfn = max_pfn;
	c->timeout_ms = timeout_ms;
	sb_buf_init(&c->body);
	snprintf(c->name, sizeof(c->name), "COLO back channel of %s", s->name);
	memset(&pc, 0, sizeof(pc));
	pc.name = c->name;
	pc.kind = SB_STREAM_COLO_BACK;
	pc.mode = SB_MODE_COLO;
	pc.max_pfn = max_pfn;
	pc.cb = on_event;
	pc.opaque = c;
	c->parser = sb_parser_new(&pc);
	if (!c->parser) {
		free(c);
		return NULL;
	}
	return c;
}

void pr_colo_free(struct pr_colo *c)
{
	if (!c)
		return;
	sb_parser_free(c->parser);
	sb_buf_free(&c->body);
	free(c);
}

static int feed(struct pr_colo *c, const uint8_t *p, size_t n)
{
	if (n && sb_parser_feed(c->parser, p, n) < 0) {
		fprintf(stderr, "primary: %s\n", sb_parser_error(c->parser)->msg);
		return -1;
	}
	return 0;
}

/* Read exactly one record (header, then the padded body) and pass it through
 * the parser; the record is then in c->layer/type/length/id/pfns. */
static int read_record(struct pr_colo *c, const char *what)
{
	uint8_t hdr[SB_REC_HDR_LEN];
	char err[256];
	uint64_t at = sb_parser_offset(c->parser), padded;
	uint32_t len;

	c->got = 0;
	if (pr_sink_read_back(c->sink, hdr, sizeof(hdr), c->timeout_ms, err, sizeof(err))) {
		fprintf(stderr, "primary: %s, offset %llu, waiting for %s: %s\n", c->name,
			(unsigned long long)at, what, err);
		return -1;
	}
	if (feed(c, hdr, sizeof(hdr)))
		return -1;
	len = sb_get_le32(hdr + 4);
	padded = sb_pad8(len);
	if (padded > 8ull * (c->max_pfn + 1)) {     /* more than a list of every pfn */
		fprintf(stderr, "primary: %s, offset %llu: record length %u while waiting for %s\n",
			c->name, (unsigned long long)at, len, what);
		return -1;
	}
	sb_buf_reset(&c->body);
	if (!sb_buf_reserve(&c->body, (size_t)padded)) {
		fprintf(stderr, "primary: out of memory\n");
		return -1;
	}
	if (padded && pr_sink_read_back(c->sink, c->body.data, (size_t)padded, c->timeout_ms,
					err, sizeof(err))) {
		fprintf(stderr, "primary: %s, offset %llu, body of %s: %s\n", c->name,
			(unsigned long long)at, what, err);
		return -1;
	}
	if (feed(c, c->body.data, (size_t)padded))
		return -1;
	if (!c->got) {
		fprintf(stderr, "primary: %s, offset %llu: no record where %s was expected\n",
			c->name, (unsigned long long)at, what);
		return -1;
	}
	return 0;
}

int pr_colo_expect_state(struct pr_colo *c, uint32_t id)
{
	char what[64];

	snprintf(what, sizeof(what), "CHECKPOINT_STATE(%s)", sb_checkpoint_state_name(id));
	if (read_record(c, what))
		return -1;
	if (c->layer != SB_LAYER_LIBXL || c->type != SB_LIBXL_CHECKPOINT_STATE) {
		fprintf(stderr, "primary: %s: expected %s, found %s %s\n", c->name, what,
			sb_layer_name(c->layer), sb_record_name(c->layer, c->type));
		return -1;
	}
	if (c->id != id) {
		fprintf(stderr, "primary: %s: expected %s, found CHECKPOINT_STATE(%s)\n", c->name,
			what, sb_checkpoint_state_name(c->id));
		return -1;
	}
	return 0;
}

int pr_colo_read_dirty(struct pr_colo *c, struct pr_guest *g, uint64_t *count)
{
	c->guest = g;
	c->pfns = 0;
	if (read_record(c, "CHECKPOINT_DIRTY_PFN_LIST"))
		return -1;
	/* the parser only hands out this record right after SVM_SUSPENDED */
	*count = c->pfns;
	return 0;
}

/*
 * colo.c - the primary's end of the COLO back channel (xen-streams.md §1.7).
 *
 * The secondary writes bare records, no header:
 *   after each CHECKPOINT_END:  CHECKPOINT_STATE(SVM_READY)  CHECKPOINT_STATE(SVM_RESUMED)
 *   after our CHECKPOINT_STATE(NEW):  CHECKPOINT_STATE(SVM_SUSPENDED)
 *                                     libxc CHECKPOINT_DIRTY_PFN_LIST
 * Records are read exactly (header, then the padded body), never past the one
 * expected, with a timeout, and checked: type, length, the state id, pfns
 * below the guest's size.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "primary/primary.h"

struct pr_colo {
	struct pr_sink *sink;
	uint64_t max_pfn;
	uint32_t timeout_ms;
	uint64_t offset;                /* bytes of back channel read so far */
	struct sb_buf body;
};

struct pr_colo *pr_colo_new(struct pr_sink *s, uint64_t max_pfn, uint32_t timeout_ms)
{
	struct pr_colo *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->sink = s;
	c->max_pfn = max_pfn;
	c->timeout_ms = timeout_ms;
	sb_buf_init(&c->body);
	return c;
}

void pr_colo_free(struct pr_colo *c)
{
	if (!c)
		return;
	sb_buf_free(&c->body);
	free(c);
}

/* Read one record whose type must be `type`; body into c->body. */
static int read_record(struct pr_colo *c, uint32_t type, const char *what, uint32_t *len)
{
	uint8_t hdr[SB_REC_HDR_LEN];
	char err[256];
	uint64_t at = c->offset;
	uint32_t t;
	uint64_t padded;

	if (pr_sink_read_back(c->sink, hdr, sizeof(hdr), c->timeout_ms, err, sizeof(err))) {
		fprintf(stderr, "primary: COLO back channel, offset %llu, waiting for %s: %s\n",
			(unsigned long long)at, what, err);
		return -1;
	}
	t = sb_get_le32(hdr);
	*len = sb_get_le32(hdr + 4);
	if (t != type) {
		fprintf(stderr, "primary: COLO back channel, offset %llu: expected %s (type %#x), found type %#x length %u\n",
			(unsigned long long)at, what, type, t, *len);
		return -1;
	}
	padded = sb_pad8(*len);
	if (padded > 8ull * (c->max_pfn + 1) + 8) {
		fprintf(stderr, "primary: COLO back channel, offset %llu: %s length %u is more than the guest has pages for\n",
			(unsigned long long)at, what, *len);
		return -1;
	}
	sb_buf_reset(&c->body);
	if (!sb_buf_reserve(&c->body, (size_t)padded)) {
		fprintf(stderr, "primary: out of memory\n");
		return -1;
	}
	if (padded && pr_sink_read_back(c->sink, c->body.data, (size_t)padded, c->timeout_ms,
					err, sizeof(err))) {
		fprintf(stderr, "primary: COLO back channel, offset %llu, body of %s: %s\n",
			(unsigned long long)at, what, err);
		return -1;
	}
	c->body.len = (size_t)padded;
	c->offset += SB_REC_HDR_LEN + padded;
	for (uint64_t i = *len; i < padded; i++) {
		if (c->body.data[i]) {
			fprintf(stderr, "primary: COLO back channel, offset %llu: non-zero padding in %s\n",
				(unsigned long long)at, what);
			return -1;
		}
	}
	return 0;
}

int pr_colo_expect_state(struct pr_colo *c, uint32_t id)
{
	char what[64];
	uint32_t len, got;

	snprintf(what, sizeof(what), "CHECKPOINT_STATE(%s)", sb_checkpoint_state_name(id));
	if (read_record(c, SB_LIBXL_CHECKPOINT_STATE, what, &len))
		return -1;
	if (len != SB_CHECKPOINT_STATE_LEN) {
		fprintf(stderr, "primary: COLO back channel: %s with length %u, expected 4\n", what, len);
		return -1;
	}
	got = sb_get_le32(c->body.data);
	if (got != id) {
		const char *n = sb_checkpoint_state_name(got);
		fprintf(stderr, "primary: COLO back channel: expected %s, found CHECKPOINT_STATE(%s)\n",
			what, n ? n : "unknown id");
		return -1;
	}
	return 0;
}

int pr_colo_read_dirty(struct pr_colo *c, struct pr_guest *g, uint64_t *count)
{
	uint32_t len;

	if (read_record(c, SB_LIBXC_CHECKPOINT_DIRTY_PFN_LIST, "CHECKPOINT_DIRTY_PFN_LIST", &len))
		return -1;
	if (len % 8) {
		fprintf(stderr, "primary: COLO back channel: dirty pfn list length %u is not a multiple of 8\n",
			len);
		return -1;
	}
	for (uint32_t i = 0; i < len / 8; i++) {
		uint64_t pfn = sb_get_le64(c->body.data + 8ull * i);

		if (pfn > c->max_pfn) {
			fprintf(stderr, "primary: COLO back channel: dirty pfn %#llx is beyond the guest (max %#llx)\n",
				(unsigned long long)pfn, (unsigned long long)c->max_pfn);
			return -1;
		}
		pr_guest_mark_resend(g, pfn);
	}
	*count = len / 8;
	return 0;
}

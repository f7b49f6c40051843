/*
 * xlproto.c - what standby writes back to the primary.
 *
 *   native:    the 16-byte ack of docs/protocol.md after each commit, droppable.
 *   xl:        the 54-byte banner first (as `xl migrate-receive`); then for
 *              Remus nothing at all; for a plain migration the ready / GO /
 *              report handshake (xl-protocol.md §2.4).
 *   COLO:      the back channel of xen-streams.md §1.7: SVM_READY + SVM_RESUMED
 *              after each commit; SVM_SUSPENDED + CHECKPOINT_DIRTY_PFN_LIST
 *              when the primary sends CHECKPOINT_STATE NEW.
 */
#include <string.h>
#include "recv/internal.h"

#define SB_ACK_MAGIC "STBYACK1"
#define SB_ACK_LEN 16

static void must_write(struct sb_rstream *s, const void *p, size_t n, const char *what)
{
	if (sb_out_write(s, p, n, 0))
		sb_rlog(s, "back channel: could not send %s", what);
}

void sb_native_ack(struct sb_rstream *s, uint64_t epoch)
{
	uint8_t ack[SB_ACK_LEN];

	memcpy(ack, SB_ACK_MAGIC, 8);
	sb_put_le64(ack + 8, epoch);
	if (s->out.fd < 0)
		return;
	if (sb_out_write(s, ack, sizeof(ack), 1)) {
		s->acks_dropped++;
		if (s->acks_dropped == 1 || s->cfg.verbose)
			sb_rlog(s, "ack of epoch %llu dropped (back channel full or closed; %llu dropped so far)",
				(unsigned long long)epoch, (unsigned long long)s->acks_dropped);
	} else {
		s->acks_sent++;
	}
}

void sb_xl_banner(struct sb_rstream *s)
{
	must_write(s, SB_XL_BANNER, SB_XL_BANNER_LEN, "the xl banner");
}

void sb_xl_ready(struct sb_rstream *s)
{
	must_write(s, SB_XL_READY, SB_XL_READY_LEN, "the ready message");
}

int sb_xl_go_bytes(struct sb_rstream *s, const uint8_t *buf, size_t len)
{
	size_t take = SB_XL_GO_LEN - s->go_len;

	if (take > len)
		take = len;
	memcpy(s->go + s->go_len, buf, take);
	if (memcmp(s->go + s->go_len, (const uint8_t *)SB_XL_GO + s->go_len, take))
		return -1;
	s->go_len += take;
	if (s->go_len < SB_XL_GO_LEN)
		return 0;
	if (len > take)
		sb_rlog(s, "%zu bytes after the GO message ignored", len - take);
	return 1;
}

void sb_xl_report(struct sb_rstream *s, int status)
{
	uint8_t st = (uint8_t)status;

	must_write(s, SB_XL_REPORT, SB_XL_REPORT_LEN, "the report");
	must_write(s, &st, 1, "the report status");
	if (status)     /* we destroyed our copy: the sender may resume its own */
		must_write(s, SB_XL_GO, SB_XL_GO_LEN, "the permission to resume");
}

static void colo_state(struct sb_rstream *s, uint32_t id)
{
	struct sb_buf b;

	sb_buf_init(&b);
	if (sb_write_checkpoint_state(&b, id) == 0)
		must_write(s, b.data, b.len, sb_checkpoint_state_name(id));
	sb_buf_free(&b);
}

void sb_colo_after_commit(struct sb_rstream *s)
{
	colo_state(s, SB_CKPT_SVM_READY);
	colo_state(s, SB_CKPT_SVM_RESUMED);
}

void sb_colo_on_new(struct sb_rstream *s)
{
	struct sb_buf b;

	colo_state(s, SB_CKPT_SVM_SUSPENDED);
	sb_buf_init(&b);
	if (sb_write_dirty_pfn_list(&b, s->cfg.colo_dirty_pfns, s->cfg.colo_dirty_count) == 0)
		must_write(s, b.data, b.len, "the dirty pfn list");
	sb_buf_free(&b);
}

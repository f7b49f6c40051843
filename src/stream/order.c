/*
 * order.c - where each record may appear (spec §1.7, §2.6, §2.7): the
 * placement rules of the push parser's record positions (enum sb_where, see
 * the table in parser.c), the state they change, and the mode rules (plain,
 * Remus, COLO).  Body contents are checked by check.c.
 */
#include "stream/parser_int.h"

static int colo_required(const struct sb_parser *p)
{
	return p->cfg.mode == SB_MODE_COLO || p->seen_mode == SB_MODE_COLO;
}

static const char *rname(const struct sb_record *r)
{
	const char *n = sb_record_name(r->layer, r->type);
	return n ? n : "unknown";
}

static int need_static_end(struct sb_parser *p, const struct sb_record *r)
{
	if (p->static_end)
		return 0;
	if (p->xc_version >= 3)
		return RFAIL(p, SB_ERR_ORDER, "%s before STATIC_DATA_END (required in a v3 stream)", rname(r));
	return 0;
}

static int pv_only(struct sb_parser *p, const struct sb_record *r)
{
	if (p->dom_type != SB_DOM_PV)
		return RFAIL(p, SB_ERR_ORDER, "%s is a PV record, not valid in an HVM stream", rname(r));
	return 0;
}

static int hvm_only(struct sb_parser *p, const struct sb_record *r)
{
	if (p->dom_type != SB_DOM_HVM)
		return RFAIL(p, SB_ERR_ORDER, "%s is an HVM record, not valid in a PV stream", rname(r));
	return 0;
}

static int need_pv_info(struct sb_parser *p, const struct sb_record *r)
{
	if (!p->pv_info_seen)
		return RFAIL(p, SB_ERR_ORDER, "%s before X86_PV_INFO", rname(r));
	return 0;
}

/* Placement of a libxc record in the main stream; 0 or STEP_ERR. */
static int place_libxc(struct sb_parser *p, struct sb_record *r)
{
	switch (r->type) {
	case SB_LIBXC_END:
		if (p->xc_version >= 3 && !p->static_end)
			return RFAIL(p, SB_ERR_ORDER, "libxc END without STATIC_DATA_END (required in a v3 stream)");
		p->where = W_LIBXL_TAIL;
		return 0;
	case SB_LIBXC_PAGE_DATA:
		if (need_static_end(p, r))
			return STEP_ERR;
		if (p->dom_type == SB_DOM_PV && !p->p2m_seen)
			return RFAIL(p, SB_ERR_ORDER, "PAGE_DATA before X86_PV_P2M_FRAMES in a PV stream");
		p->static_end = 1;      /* v2: inferred here */
		return 0;
	case SB_LIBXC_X86_PV_INFO:
		if (pv_only(p, r))
			return STEP_ERR;
		if (p->pv_info_seen)
			return RFAIL(p, SB_ERR_ORDER, "second X86_PV_INFO");
		return 0;
	case SB_LIBXC_X86_PV_P2M_FRAMES:
		if (pv_only(p, r) || need_pv_info(p, r) || need_static_end(p, r))
			return STEP_ERR;
		return 0;
	case SB_LIBXC_X86_PV_VCPU_BASIC:
	case SB_LIBXC_X86_PV_VCPU_EXTENDED:
	case SB_LIBXC_X86_PV_VCPU_XSAVE:
	case SB_LIBXC_X86_PV_VCPU_MSRS:
		if (pv_only(p, r) || need_pv_info(p, r) || need_static_end(p, r))
			return STEP_ERR;
		return 0;
	case SB_LIBXC_SHARED_INFO:
		if (pv_only(p, r) || need_static_end(p, r))
			return STEP_ERR;
		return 0;
	case SB_LIBXC_X86_TSC_INFO:
		return need_static_end(p, r) ? STEP_ERR : 0;
	case SB_LIBXC_HVM_CONTEXT:
	case SB_LIBXC_HVM_PARAMS:
		if (hvm_only(p, r) || need_static_end(p, r))
			return STEP_ERR;
		return 0;
	case SB_LIBXC_TOOLSTACK:
		return RFAIL(p, SB_ERR_UNKNOWN_RECORD,
			     "TOOLSTACK (0x0b) is not handled (deprecated; Xen 4.17 rejects it)");
	case SB_LIBXC_VERIFY:
		return 0;
	case SB_LIBXC_CHECKPOINT:
		if (p->bare_libxc)
			return RFAIL(p, SB_ERR_ORDER, "CHECKPOINT in a bare libxc stream (no libxl layer to take over)");
		if (p->cfg.mode == SB_MODE_PLAIN)
			return RFAIL(p, SB_ERR_ORDER, "CHECKPOINT in a stream expected to be plain (not checkpointed)");
		if (p->xc_version >= 3 && !p->static_end)
			return RFAIL(p, SB_ERR_ORDER, "CHECKPOINT without STATIC_DATA_END (required in a v3 stream)");
		if (p->seen_mode == SB_MODE_PLAIN)
			p->seen_mode = SB_MODE_REMUS;
		p->where = W_LIBXL_CKPT;
		return 0;
	case SB_LIBXC_CHECKPOINT_DIRTY_PFN_LIST:
		return RFAIL(p, SB_ERR_ORDER, "CHECKPOINT_DIRTY_PFN_LIST belongs on the COLO back channel only");
	case SB_LIBXC_STATIC_DATA_END:
		if (p->xc_version < 3)
			return RFAIL(p, SB_ERR_ORDER, "STATIC_DATA_END in a v2 stream (v3 only)");
		if (p->static_end)
			return RFAIL(p, SB_ERR_ORDER, "second STATIC_DATA_END");
		return 0;
	case SB_LIBXC_X86_CPUID_POLICY:
	case SB_LIBXC_X86_MSR_POLICY:
		if (p->xc_version < 3)
			return RFAIL(p, SB_ERR_ORDER, "%s in a v2 stream (v3 only)", rname(r));
		if (p->static_end)
			return RFAIL(p, SB_ERR_ORDER, "%s after STATIC_DATA_END", rname(r));
		return 0;
	default:
		return RFAIL(p, SB_ERR_UNKNOWN_RECORD, "unknown mandatory libxc record type 0x%08x", r->type);
	}
}

/* State changes after a libxc record passed its checks. */
static void apply_libxc(struct sb_parser *p, const struct sb_record *r)
{
	switch (r->type) {
	case SB_LIBXC_X86_PV_INFO:
		p->pv_info_seen = 1;
		p->width = r->body[0];
		break;
	case SB_LIBXC_X86_PV_P2M_FRAMES: {
		uint64_t end = sb_get_le32(r->body + 4);
		if (!p->p2m_seen || end > p->p2m_end)
			p->p2m_end = end;
		p->p2m_seen = 1;
		p->static_end = 1;      /* v2: inferred here */
		break;
	}
	case SB_LIBXC_STATIC_DATA_END:
		p->static_end = 1;
		break;
	case SB_LIBXC_END:
		if (p->bare_libxc) {
			p->done = 1;
			p->state = PS_DONE;
		}
		break;
	}
}

int sb__libxc_record(struct sb_parser *p, struct sb_record *r)
{
	char name[64];

	if (p->where == W_EPOCH_START) {
		if (colo_required(p))
			return RFAIL(p, SB_ERR_ORDER,
				     "expected CHECKPOINT_STATE(NEW) at the start of COLO epoch %llu, found %s",
				     (unsigned long long)p->epochs, sb__rec_name(r, name, sizeof(name)));
		p->where = W_LIBXC;
	}
	if (r->type & SB_REC_OPTIONAL) {
		r->skipped = 1;
		return 0;
	}
	if (place_libxc(p, r) || sb__check_libxc(p, r))
		return STEP_ERR;
	apply_libxc(p, r);
	return 0;
}

int sb__libxl_record(struct sb_parser *p, struct sb_record *r)
{
	switch (r->type) {
	case SB_LIBXL_LIBXC_CONTEXT:
		if (p->libxc_ctx_seen)
			return RFAIL(p, SB_ERR_ORDER, "second LIBXC_CONTEXT");
		if (sb__check_libxl(p, r))
			return STEP_ERR;
		p->libxc_ctx_seen = 1;
		p->state = PS_LIBXC_HDR;
		return 0;
	case SB_LIBXL_EMULATOR_XENSTORE_DATA:
	case SB_LIBXL_EMULATOR_CONTEXT:
		if (p->where != W_LIBXL_TAIL && p->where != W_LIBXL_CKPT)
			return RFAIL(p, SB_ERR_ORDER, "%s before the libxc stream ended (END or CHECKPOINT)",
				     rname(r));
		if (p->dom_type != SB_DOM_HVM)
			return RFAIL(p, SB_ERR_ORDER, "%s in a PV stream (HVM only)", rname(r));
		return sb__check_libxl(p, r) ? STEP_ERR : 0;
	case SB_LIBXL_CHECKPOINT_END:
		if (p->where != W_LIBXL_CKPT)
			return RFAIL(p, SB_ERR_ORDER, "CHECKPOINT_END without a preceding libxc CHECKPOINT");
		if (sb__check_libxl(p, r))
			return STEP_ERR;
		p->where = W_EPOCH_START;
		return 0;
	case SB_LIBXL_CHECKPOINT_STATE:
		if (p->where != W_EPOCH_START)
			return RFAIL(p, SB_ERR_ORDER,
				     "CHECKPOINT_STATE outside the start of an epoch (only right after CHECKPOINT_END)");
		if (p->cfg.mode == SB_MODE_REMUS)
			return RFAIL(p, SB_ERR_ORDER, "CHECKPOINT_STATE in a stream expected to be Remus (COLO only)");
		if (sb__check_libxl(p, r))
			return STEP_ERR;
		if (sb_get_le32(r->body) != SB_CKPT_NEW)
			return RFAIL(p, SB_ERR_BAD_RECORD,
				     "CHECKPOINT_STATE %u on the main stream, expected 0 (NEW)",
				     sb_get_le32(r->body));
		p->seen_mode = SB_MODE_COLO;
		p->where = W_LIBXC;
		return 0;
	case SB_LIBXL_END:
		if (p->where != W_LIBXL_TAIL)
			return RFAIL(p, SB_ERR_ORDER, "libxl END before the libxc stream's END");
		if (sb__check_libxl(p, r))
			return STEP_ERR;
		p->done = 1;
		p->state = PS_DONE;
		return 0;
	default:
		return RFAIL(p, SB_ERR_UNKNOWN_RECORD,
			     "unknown libxl record type 0x%08x (libxl has no optional records)", r->type);
	}
}

int sb__back_record(struct sb_parser *p, struct sb_record *r)
{
	uint32_t id;

	if (r->layer == SB_LAYER_LIBXC) {
		if (!p->back_expect_dirty)
			return RFAIL(p, SB_ERR_ORDER,
				     "CHECKPOINT_DIRTY_PFN_LIST not right after CHECKPOINT_STATE(SVM_SUSPENDED)");
		if (sb__check_libxc(p, r))
			return STEP_ERR;
		p->back_expect_dirty = 0;
		return 0;
	}
	if (p->back_expect_dirty)
		return RFAIL(p, SB_ERR_ORDER,
			     "expected libxc CHECKPOINT_DIRTY_PFN_LIST after CHECKPOINT_STATE(SVM_SUSPENDED)");
	if (r->type != SB_LIBXL_CHECKPOINT_STATE)
		return RFAIL(p, sb_record_name(r->layer, r->type) ? SB_ERR_ORDER : SB_ERR_UNKNOWN_RECORD,
			     "only CHECKPOINT_STATE and CHECKPOINT_DIRTY_PFN_LIST belong on the COLO back channel");
	if (sb__check_libxl(p, r))
		return STEP_ERR;
	id = sb_get_le32(r->body);
	if (id < SB_CKPT_SVM_SUSPENDED || id > SB_CKPT_SVM_RESUMED)
		return RFAIL(p, SB_ERR_BAD_RECORD,
			     "CHECKPOINT_STATE %u on the back channel, expected 1-3 (SVM_SUSPENDED/READY/RESUMED)", id);
	p->back_expect_dirty = id == SB_CKPT_SVM_SUSPENDED;
	return 0;
}

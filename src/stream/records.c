/*
 * records.c - decoders for checked record bodies.  See records.h.
 */
#include "standby/records.h"

int sb_page_data_foreach(const uint8_t *body, uint32_t len, sb_page_cb cb, void *opaque)
{
	uint32_t count;
	const uint8_t *page;

	if (len < SB_PAGE_DATA_HDR_LEN)
		return 0;
	count = sb_get_le32(body);
	if ((uint64_t)SB_PAGE_DATA_HDR_LEN + 8ull * count > len)
		return 0;
	page = body + SB_PAGE_DATA_HDR_LEN + 8ull * count;
	for (uint32_t i = 0; i < count; i++) {
		uint64_t e = sb_get_le64(body + SB_PAGE_DATA_HDR_LEN + 8ull * i);
		int has_data = 0;
		int rc;

		sb_ptype_valid(sb_ptype_of(e), &has_data);
		if (has_data && page + SB_PAGE_SIZE > body + len)
			return 0;
		rc = cb(sb_pfn_of(e), sb_ptype_of(e), has_data ? page : NULL, opaque);
		if (rc)
			return rc;
		if (has_data)
			page += SB_PAGE_SIZE;
	}
	return 0;
}

void sb_decode_tsc_info(const uint8_t *body, struct sb_tsc_info *out)
{
	out->mode = sb_get_le32(body);
	out->khz = sb_get_le32(body + 4);
	out->nsec = sb_get_le64(body + 8);
	out->incarnation = sb_get_le32(body + 16);
}

void sb_decode_emulator(const uint8_t *body, uint32_t len, struct sb_emulator_rec *out)
{
	out->emulator_id = sb_get_le32(body);
	out->index = sb_get_le32(body + 4);
	out->blob = body + SB_EMULATOR_HDR_LEN;
	out->blob_len = len - SB_EMULATOR_HDR_LEN;
}

void sb_decode_vcpu(const uint8_t *body, uint32_t len, struct sb_vcpu_rec *out)
{
	out->vcpu_id = sb_get_le32(body);
	out->blob = body + SB_VCPU_HDR_LEN;
	out->blob_len = len - SB_VCPU_HDR_LEN;
}

uint32_t sb_decode_checkpoint_state(const uint8_t *body)
{
	return sb_get_le32(body);
}

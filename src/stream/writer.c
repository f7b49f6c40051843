/*
 * writer.c - encoder for Xen migration v2 streams.  See writer.h.
 */
#include <stdlib.h>
#include <string.h>
#include "standby/writer.h"

void sb_buf_init(struct sb_buf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
}

void sb_buf_free(struct sb_buf *b)
{
	free(b->data);
	sb_buf_init(b);
}

void sb_buf_reset(struct sb_buf *b)
{
	b->len = 0;
}

uint8_t *sb_buf_reserve(struct sb_buf *b, size_t n)
{
	if (n > SIZE_MAX - b->len)
		return NULL;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n) {
			if (cap > SIZE_MAX / 2)
				return NULL;
			cap *= 2;
		}
		uint8_t *d = realloc(b->data, cap);
		if (!d)
			return NULL;
		b->data = d;
		b->cap = cap;
	}
	return b->data + b->len;
}

int sb_buf_append(struct sb_buf *b, const void *p, size_t n)
{
	uint8_t *d = sb_buf_reserve(b, n);
	if (!d)
		return -1;
	if (n)
		memcpy(d, p, n);
	b->len += n;
	return 0;
}

int sb_buf_zero(struct sb_buf *b, size_t n)
{
	uint8_t *d = sb_buf_reserve(b, n);
	if (!d)
		return -1;
	memset(d, 0, n);
	b->len += n;
	return 0;
}

int sb_write_xl_header_raw(struct sb_buf *b, const struct sb_xl_header *h)
{
	uint8_t *d = sb_buf_reserve(b, SB_XL_HDR_LEN);
	if (!d)
		return -1;
	memcpy(d, h->magic, SB_XL_MAGIC_LEN);
	sb_put_le32(d + 32, h->byteorder);
	sb_put_le32(d + 36, h->mandatory_flags);
	sb_put_le32(d + 40, h->optional_flags);
	sb_put_le32(d + 44, h->optional_data_len);
	b->len += SB_XL_HDR_LEN;
	return 0;
}

int sb_write_xl_header(struct sb_buf *b, const char *json)
{
	struct sb_xl_header h;
	uint32_t config_len = json ? (uint32_t)strlen(json) + 1 : 0;
	uint8_t len[4];

	memcpy(h.magic, SB_XL_MAGIC, SB_XL_MAGIC_LEN);
	h.byteorder = SB_XL_BYTEORDER;
	h.mandatory_flags = SB_XL_MFLAG_V2 | (json ? SB_XL_MFLAG_JSON : 0);
	h.optional_flags = 0;
	h.optional_data_len = 4 + config_len;
	sb_put_le32(len, config_len);
	if (sb_write_xl_header_raw(b, &h) || sb_buf_append(b, len, 4))
		return -1;
	return json ? sb_buf_append(b, json, config_len) : 0;
}

int sb_write_libxl_header(struct sb_buf *b, uint32_t options)
{
	uint8_t *d = sb_buf_reserve(b, SB_LIBXL_HDR_LEN);
	if (!d)
		return -1;
	sb_put_be64(d, SB_LIBXL_IDENT);
	sb_put_be32(d + 8, SB_LIBXL_VERSION);
	sb_put_be32(d + 12, options);
	b->len += SB_LIBXL_HDR_LEN;
	return 0;
}

int sb_write_libxc_image_header(struct sb_buf *b, uint32_t version, uint16_t options)
{
	uint8_t *d = sb_buf_reserve(b, SB_LIBXC_IHDR_LEN);
	if (!d)
		return -1;
	memset(d, 0, SB_LIBXC_IHDR_LEN);
	sb_put_be64(d, SB_LIBXC_MARKER);
	sb_put_be32(d + 8, SB_LIBXC_IDENT);
	sb_put_be32(d + 12, version);
	sb_put_be16(d + 16, options);
	b->len += SB_LIBXC_IHDR_LEN;
	return 0;
}

int sb_write_libxc_domain_header(struct sb_buf *b, uint32_t type, uint32_t xen_major,
				 uint32_t xen_minor)
{
	uint8_t *d = sb_buf_reserve(b, SB_LIBXC_DHDR_LEN);
	if (!d)
		return -1;
	sb_put_le32(d, type);
	sb_put_le16(d + 4, SB_PAGE_SHIFT);
	sb_put_le16(d + 6, 0);
	sb_put_le32(d + 8, xen_major);
	sb_put_le32(d + 12, xen_minor);
	b->len += SB_LIBXC_DHDR_LEN;
	return 0;
}

int sb_write_record_header(struct sb_buf *b, uint32_t type, uint32_t len)
{
	uint8_t *d = sb_buf_reserve(b, SB_REC_HDR_LEN);
	if (!d)
		return -1;
	sb_put_le32(d, type);
	sb_put_le32(d + 4, len);
	b->len += SB_REC_HDR_LEN;
	return 0;
}

int sb_write_padding(struct sb_buf *b, uint32_t body_len)
{
	return sb_buf_zero(b, (size_t)(sb_pad8(body_len) - body_len));
}

int sb_write_record(struct sb_buf *b, uint32_t type, const void *body, uint32_t len)
{
	if (!sb_buf_reserve(b, SB_REC_HDR_LEN + (size_t)sb_pad8(len)))
		return -1;
	sb_write_record_header(b, type, len);
	sb_buf_append(b, body, len);
	return sb_write_padding(b, len);
}

int sb_write_page_data(struct sb_buf *b, const uint64_t *entries, uint32_t count,
		       const uint8_t *pages, size_t pages_len)
{
	uint64_t len = SB_PAGE_DATA_HDR_LEN + 8ull * count + pages_len;
	uint8_t *d;

	if (len > UINT32_MAX)
		return -1;
	if (!sb_buf_reserve(b, SB_REC_HDR_LEN + (size_t)sb_pad8(len)))
		return -1;
	sb_write_record_header(b, SB_LIBXC_PAGE_DATA, (uint32_t)len);
	d = sb_buf_reserve(b, SB_PAGE_DATA_HDR_LEN + 8ull * count);
	sb_put_le32(d, count);
	sb_put_le32(d + 4, 0);
	for (uint32_t i = 0; i < count; i++)
		sb_put_le64(d + 8 + 8ull * i, entries[i]);
	b->len += SB_PAGE_DATA_HDR_LEN + 8ull * count;
	sb_buf_append(b, pages, pages_len);
	return sb_write_padding(b, (uint32_t)len);
}

int sb_write_x86_pv_info(struct sb_buf *b, uint8_t guest_width, uint8_t pt_levels)
{
	uint8_t body[SB_PV_INFO_LEN] = { guest_width, pt_levels };
	return sb_write_record(b, SB_LIBXC_X86_PV_INFO, body, sizeof(body));
}

int sb_write_x86_pv_p2m_frames(struct sb_buf *b, uint32_t start_pfn, uint32_t end_pfn,
			       const uint64_t *frames, uint32_t nframes)
{
	uint32_t len = SB_P2M_FRAMES_HDR_LEN + 8 * nframes;
	uint8_t *d;

	if (!sb_buf_reserve(b, SB_REC_HDR_LEN + len))
		return -1;
	sb_write_record_header(b, SB_LIBXC_X86_PV_P2M_FRAMES, len);
	d = b->data + b->len;
	sb_put_le32(d, start_pfn);
	sb_put_le32(d + 4, end_pfn);
	for (uint32_t i = 0; i < nframes; i++)
		sb_put_le64(d + 8 + 8 * i, frames[i]);
	b->len += len;
	return 0;
}

int sb_write_x86_pv_vcpu(struct sb_buf *b, uint32_t type, uint32_t vcpu_id,
			 const void *blob, uint32_t blob_len)
{
	uint8_t hdr[SB_VCPU_HDR_LEN] = { 0 };
	uint32_t len = SB_VCPU_HDR_LEN + blob_len;

	sb_put_le32(hdr, vcpu_id);
	if (sb_write_record_header(b, type, len) || sb_buf_append(b, hdr, sizeof(hdr)) ||
	    sb_buf_append(b, blob, blob_len))
		return -1;
	return sb_write_padding(b, len);
}

int sb_write_tsc_info(struct sb_buf *b, uint32_t mode, uint32_t khz, uint64_t nsec,
		      uint32_t incarnation)
{
	uint8_t body[SB_TSC_INFO_LEN] = { 0 };
	sb_put_le32(body, mode);
	sb_put_le32(body + 4, khz);
	sb_put_le64(body + 8, nsec);
	sb_put_le32(body + 16, incarnation);
	return sb_write_record(b, SB_LIBXC_X86_TSC_INFO, body, sizeof(body));
}

int sb_write_hvm_params(struct sb_buf *b, const uint64_t *pairs, uint32_t count)
{
	uint32_t len = SB_HVM_PARAMS_HDR_LEN + SB_HVM_PARAM_ENTRY_LEN * count;
	uint8_t *d;

	if (!sb_buf_reserve(b, SB_REC_HDR_LEN + len))
		return -1;
	sb_write_record_header(b, SB_LIBXC_HVM_PARAMS, len);
	d = b->data + b->len;
	sb_put_le32(d, count);
	sb_put_le32(d + 4, 0);
	for (uint32_t i = 0; i < 2 * count; i++)
		sb_put_le64(d + 8 + 8 * i, pairs[i]);
	b->len += len;
	return 0;
}

int sb_write_emulator_record(struct sb_buf *b, uint32_t type, uint32_t emulator_id,
			     uint32_t index, const void *blob, uint32_t blob_len)
{
	uint8_t hdr[SB_EMULATOR_HDR_LEN];
	uint32_t len = SB_EMULATOR_HDR_LEN + blob_len;

	sb_put_le32(hdr, emulator_id);
	sb_put_le32(hdr + 4, index);
	if (sb_write_record_header(b, type, len) || sb_buf_append(b, hdr, sizeof(hdr)) ||
	    sb_buf_append(b, blob, blob_len))
		return -1;
	return sb_write_padding(b, len);
}

int sb_write_checkpoint_state(struct sb_buf *b, uint32_t id)
{
	uint8_t body[SB_CHECKPOINT_STATE_LEN];
	sb_put_le32(body, id);
	return sb_write_record(b, SB_LIBXL_CHECKPOINT_STATE, body, sizeof(body));
}

int sb_write_dirty_pfn_list(struct sb_buf *b, const uint64_t *pfns, uint32_t count)
{
	uint64_t len = 8ull * count;
	uint8_t *d;

	if (len > UINT32_MAX || !sb_buf_reserve(b, SB_REC_HDR_LEN + (size_t)len))
		return -1;
	sb_write_record_header(b, SB_LIBXC_CHECKPOINT_DIRTY_PFN_LIST, (uint32_t)len);
	d = b->data + b->len;
	for (uint32_t i = 0; i < count; i++)
		sb_put_le64(d + 8ull * i, pfns[i]);
	b->len += (size_t)len;
	return 0;
}

/*
 * check.c - per-record body checks of the push parser.
 *
 * Each check sees one complete record (body and padding in memory) and
 * rejects lengths and field values the Xen 4.17 receiver would reject (spec
 * §1.3-§1.5, §2.4, §2.5), plus the stricter rules standby adds: zero padding,
 * bounded pfns, well-formed xenstore pairs.  Placement rules live in parser.c.
 */
#include <string.h>
#include "stream/parser_int.h"

#define CFAIL(p, code, ...) (sb__fail((p), (code), (p)->rec.offset, __VA_ARGS__), -1)

int sb__check_padding(struct sb_parser *p, const struct sb_record *r)
{
	uint32_t pad = (uint32_t)(sb_pad8(r->length) - r->length);
	const uint8_t *b = r->body;

	for (uint32_t i = 0; i < pad; i++)
		if (b[r->length + i])
			return CFAIL(p, SB_ERR_BAD_PADDING, "padding byte %u of %u is 0x%02x, expected 0",
				    i + 1, pad, b[r->length + i]);
	return 0;
}

static int want_len(struct sb_parser *p, const struct sb_record *r, uint32_t len)
{
	if (r->length != len)
		return CFAIL(p, SB_ERR_BAD_LENGTH, "%s length %u, expected %u",
			    sb_record_name(r->layer, r->type), r->length, len);
	return 0;
}

static int want_multiple(struct sb_parser *p, const struct sb_record *r, uint32_t len,
			 uint32_t unit, int nonzero)
{
	if ((nonzero && len == 0) || len % unit)
		return CFAIL(p, SB_ERR_BAD_LENGTH, "%s length %u is not a %smultiple of %u",
			    sb_record_name(r->layer, r->type), len, nonzero ? "non-zero " : "", unit);
	return 0;
}

static int check_pfn(struct sb_parser *p, uint64_t entry, uint32_t i, int pv_bound)
{
	uint64_t pfn = sb_pfn_of(entry);

	if (entry & SB_PFN_RESERVED_MASK)
		return CFAIL(p, SB_ERR_BAD_PFN, "pfn entry %u (0x%016llx) has reserved bits 52-59 set",
			    i, (unsigned long long)entry);
	if (pfn > p->cfg.max_pfn)
		return CFAIL(p, SB_ERR_BAD_PFN, "pfn entry %u: pfn 0x%llx exceeds the maximum 0x%llx",
			    i, (unsigned long long)pfn, (unsigned long long)p->cfg.max_pfn);
	if (pv_bound && pfn > p->p2m_end)
		return CFAIL(p, SB_ERR_BAD_PFN,
			    "pfn entry %u: pfn 0x%llx beyond the p2m end pfn 0x%llx (X86_PV_P2M_FRAMES)",
			    i, (unsigned long long)pfn, (unsigned long long)p->p2m_end);
	return 0;
}

static int check_page_data(struct sb_parser *p, struct sb_record *r)
{
	const uint8_t *b = r->body;
	uint32_t count, data = 0;
	uint64_t min = UINT64_MAX, max = 0, want;
	int pv_bound = p->dom_type == SB_DOM_PV && p->p2m_seen;

	if (r->length < SB_PAGE_DATA_HDR_LEN)
		return CFAIL(p, SB_ERR_BAD_LENGTH, "PAGE_DATA length %u, expected at least 8", r->length);
	count = sb_get_le32(b);
	if (count == 0)
		return CFAIL(p, SB_ERR_BAD_RECORD, "PAGE_DATA count 0, expected at least 1 pfn");
	if ((uint64_t)SB_PAGE_DATA_HDR_LEN + 8ull * count > r->length)
		return CFAIL(p, SB_ERR_BAD_LENGTH, "PAGE_DATA length %u too short for %u pfns (expected at least %llu)",
			    r->length, count, (unsigned long long)(SB_PAGE_DATA_HDR_LEN + 8ull * count));
	for (uint32_t i = 0; i < count; i++) {
		uint64_t e = sb_get_le64(b + SB_PAGE_DATA_HDR_LEN + 8ull * i);
		unsigned t = sb_ptype_of(e);
		int has_data;

		if (!sb_ptype_valid(t, &has_data))
			return CFAIL(p, SB_ERR_BAD_PFN_TYPE, "pfn entry %u (0x%016llx) has invalid type 0x%x",
				    i, (unsigned long long)e, t);
		if (check_pfn(p, e, i, pv_bound))
			return -1;
		data += (uint32_t)has_data;
		if (sb_pfn_of(e) < min)
			min = sb_pfn_of(e);
		if (sb_pfn_of(e) > max)
			max = sb_pfn_of(e);
	}
	want = SB_PAGE_DATA_HDR_LEN + 8ull * count + (uint64_t)SB_PAGE_SIZE * data;
	if (want != r->length)
		return CFAIL(p, SB_ERR_BAD_LENGTH,
			    "PAGE_DATA length %u does not match %u data page%s (expected %llu)",
			    r->length, data, data == 1 ? "" : "s", (unsigned long long)want);
	r->page_count = count;
	r->data_pages = data;
	r->pfn_min = min;
	r->pfn_max = max;
	return 0;
}

static int check_pv_info(struct sb_parser *p, struct sb_record *r)
{
	unsigned w, l;

	if (want_len(p, r, SB_PV_INFO_LEN))
		return -1;
	w = r->body[0];
	l = r->body[1];
	if (!((w == 8 && l == 4) || (w == 4 && l == 3)))
		return CFAIL(p, SB_ERR_BAD_RECORD,
			    "X86_PV_INFO guest width %u / %u page-table levels, expected 8/4 or 4/3", w, l);
	return 0;
}

static int check_p2m_frames(struct sb_parser *p, struct sb_record *r)
{
	uint32_t start, end, fpp;
	uint64_t count;

	if (r->length < SB_P2M_FRAMES_HDR_LEN)
		return CFAIL(p, SB_ERR_BAD_LENGTH, "X86_PV_P2M_FRAMES length %u, expected at least 8", r->length);
	start = sb_get_le32(r->body);
	end = sb_get_le32(r->body + 4);
	if (end < start)
		return CFAIL(p, SB_ERR_BAD_RECORD, "X86_PV_P2M_FRAMES end pfn 0x%x below start pfn 0x%x",
			    end, start);
	if (end > p->cfg.max_pfn)
		return CFAIL(p, SB_ERR_BAD_PFN, "X86_PV_P2M_FRAMES end pfn 0x%x exceeds the maximum 0x%llx",
			    end, (unsigned long long)p->cfg.max_pfn);
	fpp = SB_PAGE_SIZE / p->width;
	count = end / fpp - start / fpp + 1;
	if ((uint64_t)r->length != SB_P2M_FRAMES_HDR_LEN + 8 * count)
		return CFAIL(p, SB_ERR_BAD_LENGTH,
			    "X86_PV_P2M_FRAMES length %u for pfns 0x%x-0x%x, expected %llu (%llu frames)",
			    r->length, start, end, (unsigned long long)(SB_P2M_FRAMES_HDR_LEN + 8 * count),
			    (unsigned long long)count);
	return 0;
}

static int check_vcpu(struct sb_parser *p, struct sb_record *r)
{
	const char *n = sb_record_name(r->layer, r->type);
	uint32_t blob;

	if (r->length < SB_VCPU_HDR_LEN)
		return CFAIL(p, SB_ERR_BAD_LENGTH, "%s length %u, expected at least 8", n, r->length);
	blob = r->length - SB_VCPU_HDR_LEN;
	switch (r->type) {
	case SB_LIBXC_X86_PV_VCPU_BASIC: {
		uint32_t want = p->width == 8 ? SB_VCPU_BASIC_LEN_64 : SB_VCPU_BASIC_LEN_32;
		if (blob != want)
			return CFAIL(p, SB_ERR_BAD_LENGTH, "%s context %u bytes, expected %u for a %u-bit guest",
				    n, blob, want, p->width * 8);
		break;
	}
	case SB_LIBXC_X86_PV_VCPU_EXTENDED:
		if (blob > SB_VCPU_EXTENDED_MAX)
			return CFAIL(p, SB_ERR_BAD_LENGTH, "%s context %u bytes, expected at most %u",
				    n, blob, SB_VCPU_EXTENDED_MAX);
		break;
	case SB_LIBXC_X86_PV_VCPU_XSAVE:
		if (blob && blob < SB_VCPU_XSAVE_MIN)
			return CFAIL(p, SB_ERR_BAD_LENGTH, "%s context %u bytes, expected 0 or at least %u",
				    n, blob, SB_VCPU_XSAVE_MIN);
		break;
	case SB_LIBXC_X86_PV_VCPU_MSRS:
		if (blob % SB_MSR_ENTRY_LEN)
			return CFAIL(p, SB_ERR_BAD_LENGTH, "%s context %u bytes, expected a multiple of %u",
				    n, blob, SB_MSR_ENTRY_LEN);
		break;
	}
	return 0;
}

static int check_hvm_params(struct sb_parser *p, struct sb_record *r)
{
	uint64_t want;

	if (r->length < SB_HVM_PARAMS_HDR_LEN)
		return CFAIL(p, SB_ERR_BAD_LENGTH, "HVM_PARAMS length %u, expected at least 8", r->length);
	want = SB_HVM_PARAMS_HDR_LEN + (uint64_t)SB_HVM_PARAM_ENTRY_LEN * sb_get_le32(r->body);
	if (want != r->length)
		return CFAIL(p, SB_ERR_BAD_LENGTH, "HVM_PARAMS length %u for %u params, expected %llu",
			    r->length, sb_get_le32(r->body), (unsigned long long)want);
	return 0;
}

static int check_dirty_list(struct sb_parser *p, struct sb_record *r)
{
	if (r->length % 8)
		return CFAIL(p, SB_ERR_BAD_LENGTH,
			    "CHECKPOINT_DIRTY_PFN_LIST length %u is not a multiple of 8", r->length);
	for (uint32_t i = 0; i < r->length / 8; i++) {
		uint64_t pfn = sb_get_le64(r->body + 8ull * i);
		if (pfn > p->cfg.max_pfn)
			return CFAIL(p, SB_ERR_BAD_PFN, "dirty pfn %u: 0x%llx exceeds the maximum 0x%llx", i,
				    (unsigned long long)pfn, (unsigned long long)p->cfg.max_pfn);
	}
	r->page_count = r->length / 8;
	return 0;
}

int sb__check_libxc(struct sb_parser *p, struct sb_record *r)
{
	switch (r->type) {
	case SB_LIBXC_END:
	case SB_LIBXC_VERIFY:
	case SB_LIBXC_CHECKPOINT:
	case SB_LIBXC_STATIC_DATA_END:
		return want_len(p, r, 0);
	case SB_LIBXC_PAGE_DATA:
		return check_page_data(p, r);
	case SB_LIBXC_X86_PV_INFO:
		return check_pv_info(p, r);
	case SB_LIBXC_X86_PV_P2M_FRAMES:
		return check_p2m_frames(p, r);
	case SB_LIBXC_X86_PV_VCPU_BASIC:
	case SB_LIBXC_X86_PV_VCPU_EXTENDED:
	case SB_LIBXC_X86_PV_VCPU_XSAVE:
	case SB_LIBXC_X86_PV_VCPU_MSRS:
		return check_vcpu(p, r);
	case SB_LIBXC_SHARED_INFO:
		return want_len(p, r, SB_SHARED_INFO_LEN);
	case SB_LIBXC_X86_TSC_INFO:
		return want_len(p, r, SB_TSC_INFO_LEN);
	case SB_LIBXC_HVM_CONTEXT:
		return 0;
	case SB_LIBXC_HVM_PARAMS:
		return check_hvm_params(p, r);
	case SB_LIBXC_X86_CPUID_POLICY:
		return want_multiple(p, r, r->length, SB_CPUID_LEAF_LEN, 1);
	case SB_LIBXC_X86_MSR_POLICY:
		return want_multiple(p, r, r->length, SB_MSR_ENTRY_LEN, 1);
	case SB_LIBXC_CHECKPOINT_DIRTY_PFN_LIST:
		return check_dirty_list(p, r);
	default:
		return 0;   /* placement code rejects or skips the rest */
	}
}

static int check_emulator(struct sb_parser *p, struct sb_record *r)
{
	const char *n = sb_record_name(r->layer, r->type);
	uint32_t id;

	if (r->length < SB_EMULATOR_HDR_LEN)
		return CFAIL(p, SB_ERR_BAD_LENGTH, "%s length %u, expected at least 8", n, r->length);
	id = sb_get_le32(r->body);
	if (id > SB_EMULATOR_QEMU_UPSTREAM)
		return CFAIL(p, SB_ERR_BAD_RECORD, "%s emulator id %u, expected 0, 1 or 2", n, id);
	return 0;
}

static int check_xenstore_data(struct sb_parser *p, struct sb_record *r)
{
	const char *s = (const char *)r->body + SB_EMULATOR_HDR_LEN;
	const char *end = (const char *)r->body + r->length;
	unsigned pair = 0;

	while (s < end) {
		const char *k = s, *v, *z;

		z = memchr(k, 0, (size_t)(end - k));
		if (!z)
			return CFAIL(p, SB_ERR_BAD_RECORD, "xenstore pair %u: key not NUL-terminated", pair);
		if (z == k)
			return CFAIL(p, SB_ERR_BAD_RECORD, "xenstore pair %u: empty key", pair);
		if (*k == '/')
			return CFAIL(p, SB_ERR_BAD_RECORD, "xenstore pair %u: key \"%.64s\" is absolute",
				    pair, k);
		v = z + 1;
		z = v < end ? memchr(v, 0, (size_t)(end - v)) : NULL;
		if (!z)
			return CFAIL(p, SB_ERR_BAD_RECORD, "xenstore pair %u (key \"%.64s\"): value not NUL-terminated",
				    pair, k);
		s = z + 1;
		pair++;
	}
	return 0;
}

int sb__check_libxl(struct sb_parser *p, struct sb_record *r)
{
	switch (r->type) {
	case SB_LIBXL_END:
	case SB_LIBXL_LIBXC_CONTEXT:
	case SB_LIBXL_CHECKPOINT_END:
		return want_len(p, r, 0);
	case SB_LIBXL_EMULATOR_XENSTORE_DATA:
		return check_emulator(p, r) ? -1 : check_xenstore_data(p, r);
	case SB_LIBXL_EMULATOR_CONTEXT:
		return check_emulator(p, r);
	case SB_LIBXL_CHECKPOINT_STATE:
		return want_len(p, r, SB_CHECKPOINT_STATE_LEN);
	default:
		return 0;
	}
}

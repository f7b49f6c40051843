/*
 * test_parser_errors.c - malformed input: each case asserts the error code
 * and a piece of the message; truncation at every offset of sample streams;
 * finish() semantics; errors stick; bytes after END; callback abort.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "streamgen.h"

/* ---- builders ---- */

/* a complete plain HVM stream after an xl header written by the caller */
static int plain_tail(struct sb_buf *b)
{
	struct sg_opts o = { .dom = SB_DOM_HVM };
	return sg_stream(b, &o);
}

static const struct sg_opts HVM = { .dom = SB_DOM_HVM };
static const struct sg_opts PV = { .dom = SB_DOM_PV };

static void rec(struct sb_buf *b, uint32_t type, const void *body, uint32_t len)
{
	assert_int_equal(sb_write_record(b, type, body, len), 0);
}

static void empty(struct sb_buf *b, uint32_t type)
{
	rec(b, type, NULL, 0);
}

static void hvm(struct sb_buf *b)
{
	assert_int_equal(sg_prefix(b, &HVM), 0);
}

static void pv(struct sb_buf *b)
{
	assert_int_equal(sg_prefix(b, &PV), 0);
}

/* HVM stream after its first CHECKPOINT_END */
static void hvm_ckpt(struct sb_buf *b)
{
	hvm(b);
	assert_int_equal(sg_pages(b, 0, 1), 0);
	assert_int_equal(sg_end_of_checkpoint(b, &HVM, 0), 0);
	empty(b, SB_LIBXC_CHECKPOINT);
	assert_int_equal(sg_emulators(b, 0), 0);
	empty(b, SB_LIBXL_CHECKPOINT_END);
}

/* HVM stream after its libxc END */
static void hvm_tail(struct sb_buf *b)
{
	hvm(b);
	assert_int_equal(sg_pages(b, 0, 1), 0);
	assert_int_equal(sg_end_of_checkpoint(b, &HVM, 0), 0);
	empty(b, SB_LIBXC_END);
}

static void xl_raw(struct sb_buf *b, const char *magic, uint32_t bo, uint32_t mflags, uint32_t odl)
{
	struct sb_xl_header h;

	memcpy(h.magic, magic, SB_XL_MAGIC_LEN);
	h.byteorder = bo;
	h.mandatory_flags = mflags;
	h.optional_flags = 0;
	h.optional_data_len = odl;
	assert_int_equal(sb_write_xl_header_raw(b, &h), 0);
}

static void u32le(struct sb_buf *b, uint32_t v)
{
	uint8_t d[4];
	sb_put_le32(d, v);
	sb_buf_append(b, d, 4);
}

static void page_rec(struct sb_buf *b, uint64_t entry, int with_page)
{
	uint8_t page[SB_PAGE_SIZE];
	memset(page, 0x5a, sizeof(page));
	assert_int_equal(sb_write_page_data(b, &entry, 1, page, with_page ? sizeof(page) : 0), 0);
}

static void libxc_ihdr_raw(struct sb_buf *b, uint64_t marker, uint32_t id, uint32_t version,
			   uint16_t options, uint16_t r1, uint32_t r2)
{
	uint8_t d[24];
	sb_put_be64(d, marker);
	sb_put_be32(d + 8, id);
	sb_put_be32(d + 12, version);
	sb_put_be16(d + 16, options);
	sb_put_be16(d + 18, r1);
	sb_put_be32(d + 20, r2);
	sb_buf_append(b, d, sizeof(d));
}

static void libxl_ctx(struct sb_buf *b)
{
	sb_write_libxl_header(b, 0);
	empty(b, SB_LIBXL_LIBXC_CONTEXT);
}

#define B(name) static void name(struct sb_buf *b)

B(b_garbage) { sb_buf_append(b, "GARBAGE!GARBAGE!GARBAGE!", 24); }
B(b_xl_magic) { xl_raw(b, "Xen saved domain, xl formaT\n \0 \r", SB_XL_BYTEORDER, 3, 4); u32le(b, 0); }
B(b_xl_big) { xl_raw(b, SB_XL_MAGIC, 0x04030201, 3, 4); u32le(b, 0); }
B(b_xl_bo) { xl_raw(b, SB_XL_MAGIC, 0x01020305, 3, 4); u32le(b, 0); }
B(b_xl_flags) { xl_raw(b, SB_XL_MAGIC, SB_XL_BYTEORDER, 7, 4); u32le(b, 0); }
B(b_xl_v1) { xl_raw(b, SB_XL_MAGIC, SB_XL_BYTEORDER, 1, 4); u32le(b, 0); }
B(b_xl_odl) { xl_raw(b, SB_XL_MAGIC, SB_XL_BYTEORDER, 3, 2); u32le(b, 0); }
B(b_xl_cfglen) { xl_raw(b, SB_XL_MAGIC, SB_XL_BYTEORDER, 3, 14); u32le(b, 11); sb_buf_zero(b, 10); }
B(b_xl_cap) { sb_write_xl_header(b, sg_json); }
B(b_xl_nul) { xl_raw(b, SB_XL_MAGIC, SB_XL_BYTEORDER, 3, 9); u32le(b, 5); sb_buf_append(b, "{}{}x", 5); }
B(b_xl_json) { sb_write_xl_header(b, "{\"c_info\": {\"name\": \"x\""); }
B(b_xl_notobj) { sb_write_xl_header(b, "[1, 2]"); }
B(b_xl_deep) { char j[203]; memset(j, '[', 100); memset(j + 100, ']', 100); strcpy(j + 200, "x]"); sb_write_xl_header(b, j); }
B(b_xl_want_xl) { hvm(b); }
B(b_libxl_ident) { sb_buf_append(b, "LibxlFmX\0\0\0\2\0\0\0\0", 16); }
B(b_libxl_version) { sb_buf_append(b, "LibxlFmt\0\0\0\3\0\0\0\0", 16); }
B(b_libxl_big) { sb_write_libxl_header(b, SB_LIBXL_OPT_BIG_ENDIAN); }
B(b_libxl_reserved) { sb_write_libxl_header(b, 0x4); }
B(b_libxc_marker) { libxl_ctx(b); libxc_ihdr_raw(b, 0xFFFFFFFFFFFFFFFEull, SB_LIBXC_IDENT, 3, 0, 0, 0); sb_write_libxc_domain_header(b, 2, 4, 17); }
B(b_libxc_ident) { libxl_ctx(b); libxc_ihdr_raw(b, SB_LIBXC_MARKER, 0x58454E47, 3, 0, 0, 0); sb_write_libxc_domain_header(b, 2, 4, 17); }
B(b_libxc_version) { libxl_ctx(b); libxc_ihdr_raw(b, SB_LIBXC_MARKER, SB_LIBXC_IDENT, 4, 0, 0, 0); sb_write_libxc_domain_header(b, 2, 4, 17); }
B(b_libxc_big) { libxl_ctx(b); libxc_ihdr_raw(b, SB_LIBXC_MARKER, SB_LIBXC_IDENT, 3, 1, 0, 0); sb_write_libxc_domain_header(b, 2, 4, 17); }
B(b_libxc_opts) { libxl_ctx(b); libxc_ihdr_raw(b, SB_LIBXC_MARKER, SB_LIBXC_IDENT, 3, 2, 0, 0); sb_write_libxc_domain_header(b, 2, 4, 17); }
B(b_libxc_resv) { libxl_ctx(b); libxc_ihdr_raw(b, SB_LIBXC_MARKER, SB_LIBXC_IDENT, 3, 0, 0, 9); sb_write_libxc_domain_header(b, 2, 4, 17); }
B(b_dom_type) { libxl_ctx(b); sg_libxc_headers(b, 3, 3); }
B(b_page_shift) { libxl_ctx(b); sg_libxc_headers(b, 2, 3); b->data[b->len - 12] = 13; }
B(b_dom_resv) { libxl_ctx(b); sg_libxc_headers(b, 2, 3); b->data[b->len - 10] = 1; }
B(b_colo_pv) { pv(b); }
B(b_libxc_cap) { hvm(b); sb_write_record_header(b, SB_LIBXC_HVM_CONTEXT, SB_LIBXC_REC_LENGTH_MAX + 1); }
B(b_libxl_cap) { hvm_tail(b); sb_write_emulator_record(b, SB_LIBXL_EMULATOR_CONTEXT, 2, 0, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 64); }
B(b_libxl_huge) { hvm_tail(b); sb_write_record_header(b, SB_LIBXL_EMULATOR_CONTEXT, 0xFFFFFFF0u); }
B(b_pd_count0) { hvm(b); uint8_t d[8] = { 0 }; rec(b, SB_LIBXC_PAGE_DATA, d, 8); }
B(b_pd_short) { hvm(b); uint8_t d[16] = { 2 }; rec(b, SB_LIBXC_PAGE_DATA, d, 16); }
B(b_pd_len) { hvm(b); page_rec(b, sb_pfn_entry(3, 0), 0); }
B(b_pd_len2) { hvm(b); page_rec(b, sb_pfn_entry(3, SB_PT_XTAB), 1); }
B(b_pd_type5) { hvm(b); page_rec(b, sb_pfn_entry(3, 5), 1); }
B(b_pd_type6) { hvm(b); page_rec(b, sb_pfn_entry(3, 6), 1); }
B(b_pd_type7) { hvm(b); page_rec(b, sb_pfn_entry(3, 7), 1); }
B(b_pd_type8) { hvm(b); page_rec(b, sb_pfn_entry(3, 8), 0); }
B(b_pd_resv) { hvm(b); page_rec(b, sb_pfn_entry(3, 0) | (1ull << 55), 1); }
B(b_pd_maxpfn) { hvm(b); page_rec(b, sb_pfn_entry(101, 0), 1); }
B(b_pd_p2m) { pv(b); page_rec(b, sb_pfn_entry(SG_P2M_END + 1, 0), 1); }
B(b_pd_before_p2m) { libxl_ctx(b); sg_libxc_headers(b, SB_DOM_PV, 3); sb_write_x86_pv_info(b, 8, 4); empty(b, SB_LIBXC_STATIC_DATA_END); page_rec(b, sb_pfn_entry(1, 0), 1); }
B(b_pd_before_sde) { libxl_ctx(b); sg_libxc_headers(b, SB_DOM_HVM, 3); page_rec(b, sb_pfn_entry(1, 0), 1); }
B(b_unknown_libxl) { hvm_tail(b); empty(b, 6); }
B(b_unknown_libxl_opt) { hvm_tail(b); empty(b, 0x80000006u); }
B(b_unknown_libxc) { hvm(b); empty(b, 0x13); }
B(b_toolstack) { hvm(b); rec(b, SB_LIBXC_TOOLSTACK, "abcd", 4); }
B(b_dirty_main) { hvm(b); uint64_t z = 0; rec(b, SB_LIBXC_CHECKPOINT_DIRTY_PFN_LIST, &z, 8); }
B(b_ckpt_end_tail) { hvm_tail(b); empty(b, SB_LIBXL_CHECKPOINT_END); }
B(b_ckpt_end_start) { sb_write_libxl_header(b, 0); empty(b, SB_LIBXL_CHECKPOINT_END); }
B(b_ckpt_plain) { hvm(b); sg_pages(b, 0, 1); empty(b, SB_LIBXC_CHECKPOINT); }
B(b_state_short) { hvm_ckpt(b); rec(b, SB_LIBXL_CHECKPOINT_STATE, "\0\0", 2); }
B(b_state_value) { hvm_ckpt(b); sb_write_checkpoint_state(b, SB_CKPT_SVM_READY); }
B(b_state_misplaced) { hvm(b); sg_pages(b, 0, 1); empty(b, SB_LIBXC_CHECKPOINT); sb_write_checkpoint_state(b, 0); }
B(b_colo_missing) { hvm_ckpt(b); sg_pages(b, 1, 1); }
B(b_colo_opt) { hvm_ckpt(b); rec(b, 0x80000200u, "opt", 3); }
B(b_colo_seen) { hvm_ckpt(b); sb_write_checkpoint_state(b, 0); sg_pages(b, 1, 1); empty(b, SB_LIBXC_CHECKPOINT); empty(b, SB_LIBXL_CHECKPOINT_END); sg_pages(b, 2, 1); }
B(b_sde_twice) { hvm(b); empty(b, SB_LIBXC_STATIC_DATA_END); }
B(b_sde_v2) { libxl_ctx(b); sg_libxc_headers(b, SB_DOM_HVM, 2); empty(b, SB_LIBXC_STATIC_DATA_END); }
B(b_cpuid_v2) { libxl_ctx(b); sg_libxc_headers(b, SB_DOM_HVM, 2); uint8_t d[24] = { 0 }; rec(b, SB_LIBXC_X86_CPUID_POLICY, d, 24); }
B(b_cpuid_late) { hvm(b); uint8_t d[24] = { 0 }; rec(b, SB_LIBXC_X86_CPUID_POLICY, d, 24); }
B(b_cpuid_len) { libxl_ctx(b); sg_libxc_headers(b, SB_DOM_HVM, 3); uint8_t d[25] = { 0 }; rec(b, SB_LIBXC_X86_CPUID_POLICY, d, 25); }
B(b_msr_empty) { libxl_ctx(b); sg_libxc_headers(b, SB_DOM_HVM, 3); empty(b, SB_LIBXC_X86_MSR_POLICY); }
B(b_padding) { hvm(b); rec(b, SB_LIBXC_HVM_CONTEXT, "abc", 3); b->data[b->len - 2] = 1; }
B(b_emu_id) { hvm_tail(b); sb_write_emulator_record(b, SB_LIBXL_EMULATOR_CONTEXT, 3, 0, "x", 1); }
B(b_emu_short) { hvm_tail(b); rec(b, SB_LIBXL_EMULATOR_CONTEXT, "\2\0\0", 3); }
B(b_emu_pv) { pv(b); sg_pages(b, 0, 1); empty(b, SB_LIBXC_END); sb_write_emulator_record(b, SB_LIBXL_EMULATOR_CONTEXT, 2, 0, "x", 1); }
B(b_emu_early) { sb_write_libxl_header(b, 0); sb_write_emulator_record(b, SB_LIBXL_EMULATOR_CONTEXT, 2, 0, "x", 1); }
B(b_xs_abs) { hvm_tail(b); sb_write_emulator_record(b, SB_LIBXL_EMULATOR_XENSTORE_DATA, 2, 0, "/abs\0v", 7); }
B(b_xs_empty) { hvm_tail(b); sb_write_emulator_record(b, SB_LIBXL_EMULATOR_XENSTORE_DATA, 2, 0, "\0v", 3); }
B(b_xs_value) { hvm_tail(b); sb_write_emulator_record(b, SB_LIBXL_EMULATOR_XENSTORE_DATA, 2, 0, "k\0v", 3); }
B(b_pv_in_hvm) { hvm(b); uint8_t d[SB_SHARED_INFO_LEN] = { 0 }; rec(b, SB_LIBXC_SHARED_INFO, d, sizeof(d)); }
B(b_pvinfo_in_hvm) { hvm(b); sb_write_x86_pv_info(b, 8, 4); }
B(b_hvm_in_pv) { pv(b); uint64_t p[2] = { 1, 2 }; sb_write_hvm_params(b, p, 1); }
B(b_pvinfo_twice) { pv(b); sb_write_x86_pv_info(b, 8, 4); }
B(b_pvinfo_combo) { libxl_ctx(b); sg_libxc_headers(b, SB_DOM_PV, 3); sb_write_x86_pv_info(b, 8, 3); }
B(b_p2m_count) { libxl_ctx(b); sg_libxc_headers(b, SB_DOM_PV, 3); sb_write_x86_pv_info(b, 8, 4); empty(b, SB_LIBXC_STATIC_DATA_END); uint64_t f[3] = { 1, 2, 3 }; sb_write_x86_pv_p2m_frames(b, 0, 1023, f, 3); }
B(b_p2m_order) { libxl_ctx(b); sg_libxc_headers(b, SB_DOM_PV, 3); sb_write_x86_pv_info(b, 8, 4); empty(b, SB_LIBXC_STATIC_DATA_END); sb_write_x86_pv_p2m_frames(b, 10, 5, NULL, 0); }
B(b_vcpu_basic) { pv(b); sg_pages(b, 0, 1); uint8_t d[2800] = { 0 }; sb_write_x86_pv_vcpu(b, SB_LIBXC_X86_PV_VCPU_BASIC, 0, d, sizeof(d)); }
B(b_vcpu_ext) { pv(b); uint8_t d[129] = { 0 }; sb_write_x86_pv_vcpu(b, SB_LIBXC_X86_PV_VCPU_EXTENDED, 0, d, sizeof(d)); }
B(b_vcpu_xsave) { pv(b); uint8_t d[8] = { 0 }; sb_write_x86_pv_vcpu(b, SB_LIBXC_X86_PV_VCPU_XSAVE, 0, d, sizeof(d)); }
B(b_vcpu_msrs) { pv(b); uint8_t d[24] = { 0 }; sb_write_x86_pv_vcpu(b, SB_LIBXC_X86_PV_VCPU_MSRS, 0, d, sizeof(d)); }
B(b_tsc_len) { hvm(b); uint8_t d[16] = { 0 }; rec(b, SB_LIBXC_X86_TSC_INFO, d, 16); }
B(b_tsc_early) { libxl_ctx(b); sg_libxc_headers(b, SB_DOM_HVM, 3); sb_write_tsc_info(b, 0, 1, 2, 3); }
B(b_params_len) { hvm(b); uint8_t d[24] = { 2 }; rec(b, SB_LIBXC_HVM_PARAMS, d, 24); }
B(b_shinfo_len) { pv(b); uint8_t d[100] = { 0 }; rec(b, SB_LIBXC_SHARED_INFO, d, 100); }
B(b_ctx_twice) { hvm_tail(b); empty(b, SB_LIBXL_LIBXC_CONTEXT); }
B(b_end_early) { hvm(b); sg_pages(b, 0, 1); empty(b, SB_LIBXC_CHECKPOINT); empty(b, SB_LIBXL_END); }
B(b_end_before_ctx) { sb_write_libxl_header(b, 0); empty(b, SB_LIBXL_END); }
B(b_libxc_end_len) { hvm(b); rec(b, SB_LIBXC_END, "12345678", 8); }
B(b_verify_len) { hvm(b); rec(b, SB_LIBXC_VERIFY, "1", 1); }
B(b_ctx_len) { sb_write_libxl_header(b, 0); rec(b, SB_LIBXL_LIBXC_CONTEXT, "1234", 4); }
B(b_no_sde_end) { libxl_ctx(b); sg_libxc_headers(b, SB_DOM_HVM, 3); empty(b, SB_LIBXC_END); }
B(b_bare_ckpt) { sg_libxc_headers(b, SB_DOM_HVM, 3); empty(b, SB_LIBXC_STATIC_DATA_END); empty(b, SB_LIBXC_CHECKPOINT); }
B(b_back_dirty) { uint64_t p = 1; sb_write_dirty_pfn_list(b, &p, 1); }
B(b_back_nodirty) { sb_write_checkpoint_state(b, 1); sb_write_checkpoint_state(b, 2); }
B(b_back_new) { sb_write_checkpoint_state(b, 0); }
B(b_back_dirty_len) { sb_write_checkpoint_state(b, 1); rec(b, SB_LIBXC_CHECKPOINT_DIRTY_PFN_LIST, "123456789012", 12); }
B(b_back_dirty_pfn) { sb_write_checkpoint_state(b, 1); uint64_t p[2] = { 5, 1000 }; sb_write_dirty_pfn_list(b, p, 2); }
B(b_back_other) { empty(b, SB_LIBXL_CHECKPOINT_END); }
B(b_back_unknown) { empty(b, 0x77); }
B(b_back_state_len) { empty(b, SB_LIBXL_CHECKPOINT_STATE); }

struct ecase {
	const char *name;
	void (*build)(struct sb_buf *b);
	enum sb_err code;
	const char *substr;
	enum sb_stream_kind kind;
	enum sb_mode mode;
	uint32_t libxl_max, config_max;
	uint64_t max_pfn;
};

#define BACK .kind = SB_STREAM_COLO_BACK

/* unnamed trailing fields are zero: AUTO, MODE_ANY, default caps */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const struct ecase cases[] = {
	{ "garbage", b_garbage, SB_ERR_BAD_MAGIC, "unrecognised stream start: expected the xl magic" },
	{ "garbage found", b_garbage, SB_ERR_BAD_MAGIC, "found 0x4741524241474521 (\"GARBAGE!\")" },
	{ "xl magic", b_xl_magic, SB_ERR_BAD_MAGIC, "xl header: expected magic" },
	{ "xl big-endian", b_xl_big, SB_ERR_BIG_ENDIAN, "big-endian save file" },
	{ "xl byteorder", b_xl_bo, SB_ERR_BAD_HEADER, "expected byteorder 0x01020304, found 0x01020305" },
	{ "xl flags", b_xl_flags, SB_ERR_BAD_HEADER, "unknown mandatory flag(s) 0x4" },
	{ "xl v1", b_xl_v1, SB_ERR_BAD_VERSION, "legacy (v1, pre-Xen 4.6) stream" },
	{ "xl odl", b_xl_odl, SB_ERR_BAD_CONFIG, "optional_data_len 2, expected at least 4" },
	{ "xl config_len", b_xl_cfglen, SB_ERR_BAD_CONFIG, "config_len 11 does not fit in optional_data_len 14" },
	{ "xl config cap", b_xl_cap, SB_ERR_TOO_LONG, "exceeds the cap 64", .config_max = 64 },
	{ "xl config NUL", b_xl_nul, SB_ERR_BAD_CONFIG, "not NUL-terminated" },
	{ "xl config JSON", b_xl_json, SB_ERR_BAD_CONFIG, "xl config is not a JSON object" },
	{ "xl config array", b_xl_notobj, SB_ERR_BAD_CONFIG, "top level is not an object" },
	{ "xl config depth", b_xl_deep, SB_ERR_BAD_CONFIG, "xl config nests deeper than 64 levels" },
	{ "xl expected", b_xl_want_xl, SB_ERR_BAD_MAGIC, "xl header: expected magic", .kind = SB_STREAM_XL },
	{ "libxl ident", b_libxl_ident, SB_ERR_BAD_IDENT,
	  "offset 0, libxl header: expected ident 0x4c6962786c466d74 (\"LibxlFmt\"), found 0x4c6962786c466d58",
	  .kind = SB_STREAM_LIBXL },
	{ "libxl version", b_libxl_version, SB_ERR_BAD_VERSION, "expected version 2, found 3" },
	{ "libxl big-endian", b_libxl_big, SB_ERR_BIG_ENDIAN, "libxl header: options 0x1: big-endian" },
	{ "libxl reserved", b_libxl_reserved, SB_ERR_BAD_HEADER, "reserved option bits 0x4" },
	{ "libxc marker", b_libxc_marker, SB_ERR_BAD_MARKER, "offset 24, libxc image header: expected marker" },
	{ "libxc ident", b_libxc_ident, SB_ERR_BAD_IDENT, "expected id 0x58454e46 (\"XENF\"), found 0x58454e47" },
	{ "libxc version", b_libxc_version, SB_ERR_BAD_VERSION, "expected version 2 or 3, found 4" },
	{ "libxc big-endian", b_libxc_big, SB_ERR_BIG_ENDIAN, "libxc image header: options 0x1: big-endian" },
	{ "libxc options", b_libxc_opts, SB_ERR_BAD_HEADER, "reserved option bits 0x2" },
	{ "libxc reserved", b_libxc_resv, SB_ERR_BAD_HEADER, "reserved fields 0x0000/0x00000009" },
	{ "domain type", b_dom_type, SB_ERR_BAD_HEADER, "expected type 1 (PV) or 2 (HVM), found 3" },
	{ "page shift", b_page_shift, SB_ERR_BAD_HEADER, "expected page_shift 12, found 13" },
	{ "domain reserved", b_dom_resv, SB_ERR_BAD_HEADER, "domain header: reserved field 0x0001" },
	{ "COLO PV", b_colo_pv, SB_ERR_BAD_HEADER, "COLO supports HVM only", .mode = SB_MODE_COLO },
	{ "libxc cap", b_libxc_cap, SB_ERR_TOO_LONG, "record length 134217729 exceeds the libxc cap of 134217728" },
	{ "libxl cap", b_libxl_cap, SB_ERR_TOO_LONG, "record length 72 exceeds the libxl cap of 64", .libxl_max = 64 },
	{ "libxl huge", b_libxl_huge, SB_ERR_TOO_LONG, "exceeds the libxl cap of 134217728" },
	{ "PAGE_DATA count 0", b_pd_count0, SB_ERR_BAD_RECORD, "PAGE_DATA count 0" },
	{ "PAGE_DATA short", b_pd_short, SB_ERR_BAD_LENGTH, "PAGE_DATA length 16 too short for 2 pfns" },
	{ "PAGE_DATA length", b_pd_len, SB_ERR_BAD_LENGTH, "PAGE_DATA length 16 does not match 1 data page (expected 4112)" },
	{ "PAGE_DATA length XTAB", b_pd_len2, SB_ERR_BAD_LENGTH, "does not match 0 data pages (expected 16)" },
	{ "pfn type 5", b_pd_type5, SB_ERR_BAD_PFN_TYPE, "has invalid type 0x5" },
	{ "pfn type 6", b_pd_type6, SB_ERR_BAD_PFN_TYPE, "has invalid type 0x6" },
	{ "pfn type 7", b_pd_type7, SB_ERR_BAD_PFN_TYPE, "has invalid type 0x7" },
	{ "pfn type 8", b_pd_type8, SB_ERR_BAD_PFN_TYPE, "has invalid type 0x8" },
	{ "pfn reserved bits", b_pd_resv, SB_ERR_BAD_PFN, "reserved bits 52-59 set" },
	{ "pfn max", b_pd_maxpfn, SB_ERR_BAD_PFN, "pfn 0x65 exceeds the maximum 0x64", .max_pfn = 100 },
	{ "pfn p2m", b_pd_p2m, SB_ERR_BAD_PFN, "pfn 0x400 beyond the p2m end pfn 0x3ff" },
	{ "PAGE_DATA before P2M", b_pd_before_p2m, SB_ERR_ORDER, "PAGE_DATA before X86_PV_P2M_FRAMES" },
	{ "PAGE_DATA before SDE", b_pd_before_sde, SB_ERR_ORDER, "PAGE_DATA before STATIC_DATA_END" },
	{ "unknown libxl", b_unknown_libxl, SB_ERR_UNKNOWN_RECORD, "(libxl type 0x00000006): unknown libxl record type" },
	{ "unknown libxl optional", b_unknown_libxl_opt, SB_ERR_UNKNOWN_RECORD, "libxl has no optional records" },
	{ "unknown libxc", b_unknown_libxc, SB_ERR_UNKNOWN_RECORD, "unknown mandatory libxc record type 0x00000013" },
	{ "TOOLSTACK", b_toolstack, SB_ERR_UNKNOWN_RECORD, "TOOLSTACK (0x0b) is not handled" },
	{ "dirty list in main", b_dirty_main, SB_ERR_ORDER, "COLO back channel only" },
	{ "CHECKPOINT_END after END", b_ckpt_end_tail, SB_ERR_ORDER, "CHECKPOINT_END without a preceding libxc CHECKPOINT" },
	{ "CHECKPOINT_END first", b_ckpt_end_start, SB_ERR_ORDER, "CHECKPOINT_END without a preceding libxc CHECKPOINT" },
	{ "CHECKPOINT in PLAIN", b_ckpt_plain, SB_ERR_ORDER, "CHECKPOINT in a stream expected to be plain", .mode = SB_MODE_PLAIN },
	{ "short CHECKPOINT_STATE", b_state_short, SB_ERR_BAD_LENGTH, "CHECKPOINT_STATE length 2, expected 4" },
	{ "CHECKPOINT_STATE value", b_state_value, SB_ERR_BAD_RECORD, "CHECKPOINT_STATE 2 on the main stream" },
	{ "CHECKPOINT_STATE place", b_state_misplaced, SB_ERR_ORDER, "only right after CHECKPOINT_END" },
	{ "CHECKPOINT_STATE in REMUS", b_state_value, SB_ERR_ORDER, "expected to be Remus", .mode = SB_MODE_REMUS },
	{ "COLO missing NEW", b_colo_missing, SB_ERR_ORDER, "expected CHECKPOINT_STATE(NEW) at the start of COLO epoch 1", .mode = SB_MODE_COLO },
	{ "COLO optional first", b_colo_opt, SB_ERR_ORDER, "found libxc type 0x80000200", .mode = SB_MODE_COLO },
	{ "COLO seen, NEW missing", b_colo_seen, SB_ERR_ORDER, "record #16 (libxc PAGE_DATA): expected CHECKPOINT_STATE(NEW) at the start of COLO epoch 2, found libxc PAGE_DATA" },
	{ "STATIC_DATA_END twice", b_sde_twice, SB_ERR_ORDER, "second STATIC_DATA_END" },
	{ "STATIC_DATA_END v2", b_sde_v2, SB_ERR_ORDER, "STATIC_DATA_END in a v2 stream" },
	{ "CPUID v2", b_cpuid_v2, SB_ERR_ORDER, "X86_CPUID_POLICY in a v2 stream" },
	{ "CPUID late", b_cpuid_late, SB_ERR_ORDER, "X86_CPUID_POLICY after STATIC_DATA_END" },
	{ "CPUID length", b_cpuid_len, SB_ERR_BAD_LENGTH, "X86_CPUID_POLICY length 25 is not a non-zero multiple of 24" },
	{ "MSR empty", b_msr_empty, SB_ERR_BAD_LENGTH, "X86_MSR_POLICY length 0 is not a non-zero multiple of 16" },
	{ "padding", b_padding, SB_ERR_BAD_PADDING, "padding byte 4 of 5 is 0x01" },
	{ "emulator id", b_emu_id, SB_ERR_BAD_RECORD, "emulator id 3, expected 0, 1 or 2" },
	{ "emulator short", b_emu_short, SB_ERR_BAD_LENGTH, "EMULATOR_CONTEXT length 3, expected at least 8" },
	{ "emulator in PV", b_emu_pv, SB_ERR_ORDER, "EMULATOR_CONTEXT in a PV stream" },
	{ "emulator early", b_emu_early, SB_ERR_ORDER, "before the libxc stream ended" },
	{ "xenstore absolute", b_xs_abs, SB_ERR_BAD_RECORD, "key \"/abs\" is absolute" },
	{ "xenstore empty key", b_xs_empty, SB_ERR_BAD_RECORD, "xenstore pair 0: empty key" },
	{ "xenstore value", b_xs_value, SB_ERR_BAD_RECORD, "value not NUL-terminated" },
	{ "PV record in HVM", b_pv_in_hvm, SB_ERR_ORDER, "SHARED_INFO is a PV record, not valid in an HVM stream" },
	{ "PV_INFO in HVM", b_pvinfo_in_hvm, SB_ERR_ORDER, "X86_PV_INFO is a PV record" },
	{ "HVM record in PV", b_hvm_in_pv, SB_ERR_ORDER, "HVM_PARAMS is an HVM record, not valid in a PV stream" },
	{ "PV_INFO twice", b_pvinfo_twice, SB_ERR_ORDER, "second X86_PV_INFO" },
	{ "PV_INFO combination", b_pvinfo_combo, SB_ERR_BAD_RECORD, "guest width 8 / 3 page-table levels" },
	{ "P2M count", b_p2m_count, SB_ERR_BAD_LENGTH, "expected 24 (2 frames)" },
	{ "P2M order", b_p2m_order, SB_ERR_BAD_RECORD, "end pfn 0x5 below start pfn 0xa" },
	{ "VCPU_BASIC size", b_vcpu_basic, SB_ERR_BAD_LENGTH, "context 2800 bytes, expected 5168 for a 64-bit guest" },
	{ "VCPU_EXTENDED size", b_vcpu_ext, SB_ERR_BAD_LENGTH, "context 129 bytes, expected at most 128" },
	{ "VCPU_XSAVE size", b_vcpu_xsave, SB_ERR_BAD_LENGTH, "context 8 bytes, expected 0 or at least 16" },
	{ "VCPU_MSRS size", b_vcpu_msrs, SB_ERR_BAD_LENGTH, "context 24 bytes, expected a multiple of 16" },
	{ "TSC_INFO length", b_tsc_len, SB_ERR_BAD_LENGTH, "X86_TSC_INFO length 16, expected 24" },
	{ "TSC_INFO early", b_tsc_early, SB_ERR_ORDER, "X86_TSC_INFO before STATIC_DATA_END" },
	{ "HVM_PARAMS length", b_params_len, SB_ERR_BAD_LENGTH, "HVM_PARAMS length 24 for 2 params, expected 40" },
	{ "SHARED_INFO length", b_shinfo_len, SB_ERR_BAD_LENGTH, "SHARED_INFO length 100, expected 4096" },
	{ "second LIBXC_CONTEXT", b_ctx_twice, SB_ERR_ORDER, "second LIBXC_CONTEXT" },
	{ "END in checkpoint", b_end_early, SB_ERR_ORDER, "libxl END before the libxc stream's END" },
	{ "END before LIBXC_CONTEXT", b_end_before_ctx, SB_ERR_ORDER, "libxl END before the libxc stream's END" },
	{ "libxc END length", b_libxc_end_len, SB_ERR_BAD_LENGTH, "END length 8, expected 0" },
	{ "VERIFY length", b_verify_len, SB_ERR_BAD_LENGTH, "VERIFY length 1, expected 0" },
	{ "LIBXC_CONTEXT length", b_ctx_len, SB_ERR_BAD_LENGTH, "LIBXC_CONTEXT length 4, expected 0" },
	{ "END without SDE", b_no_sde_end, SB_ERR_ORDER, "libxc END without STATIC_DATA_END" },
	{ "bare CHECKPOINT", b_bare_ckpt, SB_ERR_ORDER, "CHECKPOINT in a bare libxc stream" },
	{ "back: dirty first", b_back_dirty, SB_ERR_ORDER, "not right after CHECKPOINT_STATE(SVM_SUSPENDED)", BACK },
	{ "back: no dirty", b_back_nodirty, SB_ERR_ORDER, "expected libxc CHECKPOINT_DIRTY_PFN_LIST after", BACK },
	{ "back: NEW", b_back_new, SB_ERR_BAD_RECORD, "CHECKPOINT_STATE 0 on the back channel", BACK },
	{ "back: dirty length", b_back_dirty_len, SB_ERR_BAD_LENGTH, "length 12 is not a multiple of 8", BACK },
	{ "back: dirty pfn", b_back_dirty_pfn, SB_ERR_BAD_PFN, "dirty pfn 1: 0x3e8 exceeds the maximum 0x3e7", BACK, .max_pfn = 999 },
	{ "back: other record", b_back_other, SB_ERR_ORDER, "only CHECKPOINT_STATE and CHECKPOINT_DIRTY_PFN_LIST", BACK },
	{ "back: unknown", b_back_unknown, SB_ERR_UNKNOWN_RECORD, "(libxl type 0x00000077)", BACK },
	{ "back: short state", b_back_state_len, SB_ERR_BAD_LENGTH, "CHECKPOINT_STATE length 0, expected 4", BACK },
};
#pragma GCC diagnostic pop

static void run_case(const struct ecase *c, size_t split)
{
	struct sb_buf b;
	struct sb_parser_config cfg;
	struct sg_trace t;
	struct sb_error err;
	int rc;

	sb_buf_init(&b);
	c->build(&b);
	memset(&cfg, 0, sizeof(cfg));
	cfg.kind = c->kind;
	cfg.mode = c->mode;
	cfg.libxl_max_record = c->libxl_max;
	cfg.config_max = c->config_max;
	cfg.max_pfn = c->max_pfn;
	sg_trace_init(&t);
	rc = sg_parse(b.data, b.len, &split, split ? 1 : 0, &cfg, &t, &err, NULL);
	if (rc != -1)
		fail_msg("case \"%s\": parse returned %d, expected -1", c->name, rc);
	if (err.code != c->code)
		fail_msg("case \"%s\": error %s, expected %s (%s)", c->name, sb_err_name(err.code),
			 sb_err_name(c->code), err.msg);
	if (!strstr(err.msg, c->substr))
		fail_msg("case \"%s\": message \"%s\" lacks \"%s\"", c->name, err.msg, c->substr);
	if (strncmp(err.msg, "test: offset ", 13))
		fail_msg("case \"%s\": message \"%s\" does not start with the stream and offset", c->name, err.msg);
	sg_trace_free(&t);
	sb_buf_free(&b);
}

static void test_table(void **state)
{
	(void)state;
	assert_true(sizeof(cases) / sizeof(cases[0]) >= 40);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		run_case(&cases[i], 0);
		run_case(&cases[i], 13);        /* same outcome when split */
	}
}

/* A config nested 400000 deep (800 KB, under the 1 MiB cap) is refused
 * before yajl, whose recursion would overflow the stack. */
static void test_deep_json(void **state)
{
	size_t d = 400000;
	char *j = malloc(2 * d + 1);
	struct sb_buf b;
	struct sg_trace t;
	struct sb_error err;

	(void)state;
	assert_non_null(j);
	memset(j, '{', 1);
	memset(j + 1, '[', d - 1);
	memset(j + d, ']', d);
	j[2 * d] = 0;
	sb_buf_init(&b);
	assert_int_equal(sb_write_xl_header(&b, j), 0);
	sg_trace_init(&t);
	assert_int_equal(sg_parse(b.data, b.len, NULL, 0, NULL, &t, &err, NULL), -1);
	assert_int_equal(err.code, SB_ERR_BAD_CONFIG);
	assert_non_null(strstr(err.msg, "test: offset 48, xl config nests deeper than 64 levels"));
	/* brackets inside strings do not count */
	sb_buf_reset(&b);
	memset(j, 0, 2 * d + 1);
	strcpy(j, "{\"c_info\": {\"name\": \"");
	memset(j + strlen(j), '[', 1000);
	strcat(j, "\\\"\"}}");
	assert_int_equal(sb_write_xl_header(&b, j), 0);
	assert_int_equal(plain_tail(&b), 0);
	sg_trace_free(&t);
	sg_trace_init(&t);
	if (sg_parse(b.data, b.len, NULL, 0, NULL, &t, &err, NULL) != 0)
		fail_msg("%s", err.msg);
	sg_trace_free(&t);
	sb_buf_free(&b);
	free(j);
}

/* The message format of a record error, and the error fields. */
static void test_message_format(void **state)
{
	struct sb_buf b;
	struct sg_trace t;
	struct sb_error err;
	char want[256];
	size_t off;

	(void)state;
	sb_buf_init(&b);
	hvm(&b);
	off = b.len;
	page_rec(&b, sb_pfn_entry(3, 0), 0);
	b.data[off + 4] = 0x08; /* length 16 -> 4104: 8 + 8 + 4088 trailing bytes */
	b.data[off + 5] = 0x10;
	sb_buf_zero(&b, 4088);
	sg_trace_init(&t);
	assert_int_equal(sg_parse(b.data, b.len, NULL, 0, NULL, &t, &err, NULL), -1);
	/* records: LIBXC_CONTEXT #0, CPUID #1, MSR #2, STATIC_DATA_END #3, PAGE_DATA #4 */
	snprintf(want, sizeof(want),
		 "test: offset %zu, record #4 (libxc PAGE_DATA): PAGE_DATA length 4104 does not match "
		 "1 data page (expected 4112)", off);
	assert_string_equal(err.msg, want);
	assert_int_equal(err.code, SB_ERR_BAD_LENGTH);
	assert_int_equal(err.offset, off);
	assert_int_equal(err.record_index, 4);
	assert_int_equal(err.has_record, 1);
	assert_int_equal(err.layer, SB_LAYER_LIBXC);
	assert_int_equal(err.type, SB_LIBXC_PAGE_DATA);
	sg_trace_free(&t);
	sb_buf_free(&b);
}

/* Cut a sample stream at every offset: truncated everywhere, except
 * exactly after a CHECKPOINT_END (1) and at the final END (0). */
static void truncate_everywhere(const struct sg_opts *o, enum sb_stream_kind kind)
{
	struct sb_buf b;
	struct sg_trace ref;
	size_t nboundary = 0;

	sb_buf_init(&b);
	if (kind == SB_STREAM_COLO_BACK)
		assert_int_equal(sg_back_channel(&b, 3), 0);
	else
		assert_int_equal(sg_stream(&b, o), 0);
	sg_trace_init(&ref);
	{
		struct sb_parser_config cfg = { .kind = kind };
		assert_true(sg_parse(b.data, b.len, NULL, 0, &cfg, &ref, NULL, NULL) >= 0);
	}
	for (size_t cut = 0; cut <= b.len; cut++) {
		struct sb_parser_config cfg = { .kind = kind };
		struct sg_trace t;
		struct sb_error err;
		int expect = -1, rc;

		/* record boundaries */
		for (size_t i = 0; i < ref.n; i++) {
			const struct sg_tev *e = &ref.ev[i];
			size_t end = e->kind == SB_EV_RECORD ? e->f[5] + 8 + sb_pad8(e->length) : 0;
			if (e->kind != SB_EV_RECORD || end != cut)
				continue;
			if (kind == SB_STREAM_COLO_BACK)
				expect = 0;
			else if (e->layer == SB_LAYER_LIBXL && e->type == SB_LIBXL_CHECKPOINT_END)
				expect = 1;
			else if (e->type == SB_LIBXL_END && cut == b.len && !o->checkpoints)
				expect = 0;
		}
		if (kind == SB_STREAM_COLO_BACK && cut == 0)
			expect = 0;
		sg_trace_init(&t);
		rc = sg_parse(b.data, cut, NULL, 0, &cfg, &t, &err, NULL);
		if (rc != expect)
			fail_msg("cut at %zu of %zu: finish %d, expected %d (%s)", cut, b.len, rc, expect,
				 rc < 0 ? err.msg : "");
		if (rc < 0) {
			assert_int_equal(err.code, SB_ERR_TRUNCATED);
			assert_int_equal(err.offset, cut);
			if (!strstr(err.msg, "missing") && !strstr(err.msg, "ended before END") &&
			    !strstr(err.msg, "empty stream"))
				fail_msg("cut at %zu: message \"%s\"", cut, err.msg);
		} else {
			nboundary++;
		}
		sg_trace_free(&t);
	}
	if (kind != SB_STREAM_COLO_BACK)
		assert_int_equal(nboundary, o->checkpoints ? o->checkpoints : 1);
	sg_trace_free(&ref);
	sb_buf_free(&b);
}

static void test_truncation(void **state)
{
	struct sg_opts plain_pv = { .dom = SB_DOM_PV, .xl = 1, .pages = 1 };
	struct sg_opts remus = { .dom = SB_DOM_HVM, .xl = 1, .checkpoints = 2, .pages = 1 };
	struct sg_opts colo = { .dom = SB_DOM_HVM, .checkpoints = 2, .colo = 1, .pages = 1 };
	struct sg_opts bare = { .dom = SB_DOM_HVM, .bare = 1, .pages = 1 };

	(void)state;
	truncate_everywhere(&plain_pv, SB_STREAM_AUTO);
	truncate_everywhere(&remus, SB_STREAM_AUTO);
	truncate_everywhere(&colo, SB_STREAM_AUTO);
	truncate_everywhere(&bare, SB_STREAM_AUTO);
	truncate_everywhere(NULL, SB_STREAM_COLO_BACK);
}

/* Specific truncation messages name what was expected and how much is missing. */
static void expect_trunc(const uint8_t *d, size_t len, const char *substr)
{
	struct sg_trace t;
	struct sb_error err;

	sg_trace_init(&t);
	assert_int_equal(sg_parse(d, len, NULL, 0, NULL, &t, &err, NULL), -1);
	assert_int_equal(err.code, SB_ERR_TRUNCATED);
	if (!strstr(err.msg, substr))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, substr);
	sg_trace_free(&t);
}

static void test_truncation_messages(void **state)
{
	struct sg_opts o = { .dom = SB_DOM_HVM, .xl = 1, .checkpoints = 1, .pages = 1 };
	struct sb_buf b;
	size_t x = SB_XL_HDR_LEN + 4 + strlen(sg_json) + 1, l = x + 16, c = l + 8, r = c + 40;

	(void)state;
	sb_buf_init(&b);
	assert_int_equal(sg_stream(&b, &o), 0);
	expect_trunc(b.data, 0, "empty stream");
	expect_trunc(b.data, 5, "expected 8 bytes to identify it, 3 missing");
	expect_trunc(b.data, 20, "truncated xl header: expected 48 bytes, 28 missing");
	expect_trunc(b.data, 50, "expected the 4-byte config_len, 2 missing");
	expect_trunc(b.data, 60, "truncated xl config: expected");
	expect_trunc(b.data, x + 3, "truncated libxl header: expected 16 bytes, 13 missing");
	expect_trunc(b.data, l, "stream ended before END: expected a libxl LIBXC_CONTEXT record (epoch 0 incomplete)");
	expect_trunc(b.data, l + 4, "truncated record header (next libxl LIBXC_CONTEXT record): expected 8 bytes, 4 missing");
	expect_trunc(b.data, c + 10, "truncated libxc image header: expected 24 bytes, 14 missing");
	expect_trunc(b.data, c + 30, "truncated libxc domain header: expected 16 bytes, 10 missing");
	expect_trunc(b.data, r, "stream ended before END: expected a libxc record");
	/* CPUID is 48 bytes: cut 8 + 20 in */
	expect_trunc(b.data, r + 28, "record #1 (libxc X86_CPUID_POLICY): truncated record body: expected 48 bytes (48 + 0 padding), 28 missing");
	/* inside HVM_CONTEXT (203 bytes + 5 padding), in the padding */
	{
		size_t at = 0;
		for (size_t i = r; i + 8 <= b.len; i += 8 + sb_pad8(sb_get_le32(b.data + i + 4)))
			if (sb_get_le32(b.data + i) == SB_LIBXC_HVM_CONTEXT) {
				at = i;
				break;
			}
		assert_true(at > 0);
		expect_trunc(b.data, at + 8 + 205, "(libxc HVM_CONTEXT): truncated record body: expected 208 bytes (203 + 5 padding), 3 missing");
	}
	/* after CHECKPOINT, inside the libxl part */
	expect_trunc(b.data, b.len - 8, "expected a libxl record (CHECKPOINT_END)");
	sb_buf_free(&b);
}

/* finish(): 1 after CHECKPOINT_END, -1 mid-epoch, 0 after END */
static void test_finish(void **state)
{
	struct sg_opts remus = { .dom = SB_DOM_HVM, .checkpoints = 2 };
	struct sg_opts plain = { .dom = SB_DOM_HVM };
	struct sb_buf b;
	struct sb_parser_config c = { .name = "f" };
	struct sb_parser *p;

	(void)state;
	sb_buf_init(&b);
	assert_int_equal(sg_stream(&b, &remus), 0);
	p = sb_parser_new(&c);
	assert_int_equal(sb_parser_feed(p, b.data, b.len), (ssize_t)b.len);
	assert_int_equal(sb_parser_finish(p), 1);
	assert_int_equal(sb_parser_epochs_complete(p), 2);
	assert_int_equal(sb_parser_epoch_start(p), b.len);
	sb_parser_free(p);

	/* mid-epoch: the next epoch's first PAGE_DATA arrived */
	assert_int_equal(sg_pages(&b, 2, 1), 0);
	p = sb_parser_new(&c);
	assert_int_equal(sb_parser_feed(p, b.data, b.len), (ssize_t)b.len);
	assert_int_equal(sb_parser_finish(p), -1);
	assert_int_equal(sb_parser_error(p)->code, SB_ERR_TRUNCATED);
	assert_non_null(strstr(sb_parser_error(p)->msg, "(epoch 2 incomplete)"));
	/* errors stick */
	assert_int_equal(sb_parser_feed(p, b.data, 8), -1);
	assert_int_equal(sb_parser_finish(p), -1);
	sb_parser_free(p);

	sb_buf_reset(&b);
	assert_int_equal(sg_stream(&b, &plain), 0);
	p = sb_parser_new(&c);
	assert_int_equal(sb_parser_feed(p, b.data, b.len), (ssize_t)b.len);
	assert_int_equal(sb_parser_done(p), 1);
	assert_int_equal(sb_parser_finish(p), 0);
	assert_int_equal(sb_parser_seen_mode(p), SB_MODE_PLAIN);
	sb_parser_free(p);
	sb_buf_free(&b);
}

/* Bytes after END are left alone; offering them again is an error. */
static void test_after_end(void **state)
{
	struct sg_opts plain = { .dom = SB_DOM_PV };
	struct sb_buf b;
	struct sb_parser_config c = { .name = "s" };
	struct sb_parser *p;
	size_t len;

	(void)state;
	sb_buf_init(&b);
	assert_int_equal(sg_stream(&b, &plain), 0);
	len = b.len;
	empty(&b, SB_LIBXL_END);
	p = sb_parser_new(&c);
	assert_int_equal(sb_parser_feed(p, b.data, b.len), (ssize_t)len);
	assert_int_equal(sb_parser_feed(p, b.data + len, 0), 0);
	assert_int_equal(sb_parser_feed(p, b.data + len, 8), -1);
	assert_int_equal(sb_parser_error(p)->code, SB_ERR_AFTER_END);
	assert_non_null(strstr(sb_parser_error(p)->msg, "8 bytes after the final END"));
	assert_int_equal(sb_parser_finish(p), -1);
	sb_parser_free(p);
	sb_buf_free(&b);
}

/* The callback can abort, with its own message or the default one. */
static int fail_on_page(const struct sb_event *ev, void *opaque)
{
	struct sb_parser **pp = opaque;

	if (ev->kind == SB_EV_RECORD && ev->u.rec.layer == SB_LAYER_LIBXC &&
	    ev->u.rec.type == SB_LIBXC_PAGE_DATA) {
		if (*pp)
			sb_parser_fail(*pp, SB_ERR_BAD_PFN, "target refuses pfn 0x%llx",
				       (unsigned long long)ev->u.rec.pfn_min);
		return SB_CB_ABORT;
	}
	return SB_CB_CONTINUE;
}

static void test_abort(void **state)
{
	struct sg_opts o = { .dom = SB_DOM_HVM };
	struct sb_buf b;
	struct sb_parser *p = NULL, *none = NULL;
	struct sb_parser_config c = { .name = "cb", .cb = fail_on_page };

	(void)state;
	sb_buf_init(&b);
	assert_int_equal(sg_stream(&b, &o), 0);
	c.opaque = &p;
	p = sb_parser_new(&c);
	assert_int_equal(sb_parser_feed(p, b.data, b.len), -1);
	assert_int_equal(sb_parser_error(p)->code, SB_ERR_BAD_PFN);
	if (!strstr(sb_parser_error(p)->msg, "record #4 (libxc PAGE_DATA): target refuses pfn 0x0"))
		fail_msg("%s", sb_parser_error(p)->msg);
	sb_parser_free(p);

	c.opaque = &none;
	p = sb_parser_new(&c);
	assert_int_equal(sb_parser_feed(p, b.data, b.len), -1);
	assert_int_equal(sb_parser_error(p)->code, SB_ERR_ABORTED);
	assert_non_null(strstr(sb_parser_error(p)->msg, "stopped by the consumer"));
	sb_parser_free(p);
	sb_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_message_format),
		cmocka_unit_test(test_deep_json),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_truncation_messages),
		cmocka_unit_test(test_finish),
		cmocka_unit_test(test_after_end),
		cmocka_unit_test(test_abort),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

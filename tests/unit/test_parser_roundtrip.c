/*
 * test_parser_roundtrip.c - every record type of both layers, the xl header
 * and JSON preamble, and the COLO back-channel records, encoded with the
 * writer and parsed back: each event's kind, offset, layer, type, length,
 * body bytes (against bodies the test lays out by hand from the spec), epoch,
 * PAGE_DATA summary, and the values the records.h decoders give back.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "standby/records.h"
#include "streamgen.h"

#define MAX_EV 64

struct xev {
	int kind;
	uint64_t offset;
	enum sb_layer layer;
	uint32_t type, len;
	uint8_t *body;          /* expected body, laid out by the test */
	uint64_t epoch;
	int skipped;
	uint32_t page_count, data_pages;
	uint64_t pfn_min, pfn_max;
	uint64_t f[6];          /* decoded values / header fields */
	const uint64_t *entries;/* PAGE_DATA entries (pages: page_byte()) */
};

struct ctx {
	struct sb_buf b;
	struct xev x[MAX_EV];
	size_t n, seen;
	uint64_t epoch;
};

static uint8_t page_byte(uint64_t pfn, size_t k)
{
	return (uint8_t)(pfn * 7 + k * 13 + (k >> 8));
}

static struct xev *expect(struct ctx *c, int kind)
{
	struct xev *x;

	assert_true(c->n < MAX_EV);
	x = &c->x[c->n++];
	memset(x, 0, sizeof(*x));
	x->kind = kind;
	x->offset = c->b.len;
	x->epoch = c->epoch;
	return x;
}

/* A record whose writer call follows; body is the test's own layout. */
static struct xev *xrec(struct ctx *c, enum sb_layer layer, uint32_t type, const void *body,
			uint32_t len)
{
	struct xev *x = expect(c, SB_EV_RECORD);

	x->layer = layer;
	x->type = type;
	x->len = len;
	if (len) {
		x->body = malloc(len);
		assert_non_null(x->body);
		memcpy(x->body, body, len);
	}
	return x;
}

static void empty_rec(struct ctx *c, enum sb_layer layer, uint32_t type)
{
	xrec(c, layer, type, NULL, 0);
	assert_int_equal(sb_write_record(&c->b, type, NULL, 0), 0);
}

static int page_cb(uint64_t pfn, unsigned type, const uint8_t *page, void *opaque)
{
	const struct xev *x = ((const struct xev **)opaque)[0];
	size_t *i = ((size_t **)opaque)[1];
	int has_data = 0;

	assert_int_equal(pfn, sb_pfn_of(x->entries[*i]));
	assert_int_equal(type, sb_ptype_of(x->entries[*i]));
	assert_true(sb_ptype_valid(type, &has_data));
	if (has_data) {
		assert_non_null(page);
		for (size_t k = 0; k < SB_PAGE_SIZE; k++)
			if (page[k] != page_byte(pfn, k))
				fail_msg("pfn %llu byte %zu", (unsigned long long)pfn, k);
	} else {
		assert_null(page);
	}
	(*i)++;
	return 0;
}

static void check_decoded(const struct sb_record *r, const struct xev *x)
{
	if (r->layer == SB_LAYER_LIBXC) {
		switch (r->type) {
		case SB_LIBXC_X86_TSC_INFO: {
			struct sb_tsc_info t;
			sb_decode_tsc_info(r->body, &t);
			assert_int_equal(t.mode, x->f[0]);
			assert_int_equal(t.khz, x->f[1]);
			assert_int_equal(t.nsec, x->f[2]);
			assert_int_equal(t.incarnation, x->f[3]);
			break;
		}
		case SB_LIBXC_X86_PV_VCPU_BASIC:
		case SB_LIBXC_X86_PV_VCPU_EXTENDED:
		case SB_LIBXC_X86_PV_VCPU_XSAVE:
		case SB_LIBXC_X86_PV_VCPU_MSRS: {
			struct sb_vcpu_rec v;
			sb_decode_vcpu(r->body, r->length, &v);
			assert_int_equal(v.vcpu_id, x->f[0]);
			assert_int_equal(v.blob_len, r->length - 8);
			assert_ptr_equal(v.blob, r->body + 8);
			break;
		}
		case SB_LIBXC_PAGE_DATA: {
			size_t i = 0;
			const void *arg[2] = { x, &i };
			assert_int_equal(sb_page_data_foreach(r->body, r->length, page_cb, arg), 0);
			assert_int_equal(i, r->page_count);
			break;
		}
		}
	} else {
		switch (r->type) {
		case SB_LIBXL_EMULATOR_XENSTORE_DATA:
		case SB_LIBXL_EMULATOR_CONTEXT: {
			struct sb_emulator_rec e;
			sb_decode_emulator(r->body, r->length, &e);
			assert_int_equal(e.emulator_id, x->f[0]);
			assert_int_equal(e.index, x->f[1]);
			assert_int_equal(e.blob_len, r->length - 8);
			break;
		}
		case SB_LIBXL_CHECKPOINT_STATE:
			assert_int_equal(sb_decode_checkpoint_state(r->body), x->f[0]);
			break;
		}
	}
}

static int check_cb(const struct sb_event *ev, void *opaque)
{
	struct ctx *c = opaque;
	const struct xev *x;

	if (c->seen >= c->n)
		fail_msg("unexpected event %d at offset %llu", ev->kind, (unsigned long long)ev->offset);
	x = &c->x[c->seen++];
	if ((int)ev->kind != x->kind)
		fail_msg("event %zu: kind %d, expected %d", c->seen - 1, ev->kind, x->kind);
	assert_int_equal(ev->offset, x->offset);
	switch (ev->kind) {
	case SB_EV_XL_HEADER:
		assert_int_equal(ev->u.xl.mandatory_flags, x->f[0]);
		assert_int_equal(ev->u.xl.optional_flags, x->f[1]);
		assert_int_equal(ev->u.xl.optional_data_len, x->f[2]);
		break;
	case SB_EV_PREAMBLE:
		assert_int_equal(ev->u.preamble.config_len, x->len);
		assert_string_equal(ev->u.preamble.json, (const char *)x->body);
		assert_string_equal(ev->u.preamble.name, "guest1");
		assert_string_equal(ev->u.preamble.guest_type, "hvm");
		assert_int_equal(ev->u.preamble.max_memkb, 131072);
		assert_int_equal(ev->u.preamble.max_vcpus, 2);
		break;
	case SB_EV_LIBXL_HEADER:
		assert_int_equal(ev->u.libxl_hdr.version, 2);
		assert_int_equal(ev->u.libxl_hdr.options, x->f[0]);
		break;
	case SB_EV_LIBXC_HEADER:
		assert_int_equal(ev->u.libxc_hdr.version, x->f[0]);
		assert_int_equal(ev->u.libxc_hdr.options, 0);
		assert_int_equal(ev->u.libxc_hdr.domain_type, x->f[1]);
		assert_int_equal(ev->u.libxc_hdr.page_shift, 12);
		assert_int_equal(ev->u.libxc_hdr.xen_major, 4);
		assert_int_equal(ev->u.libxc_hdr.xen_minor, 17);
		break;
	case SB_EV_RECORD: {
		const struct sb_record *r = &ev->u.rec;
		assert_int_equal(r->layer, x->layer);
		assert_int_equal(r->type, x->type);
		assert_int_equal(r->length, x->len);
		assert_int_equal(r->offset, x->offset);
		assert_int_equal(r->epoch, x->epoch);
		assert_int_equal(r->skipped, x->skipped);
		if (x->len) {
			assert_non_null(r->body);
			assert_memory_equal(r->body, x->body, x->len);
		} else {
			assert_null(r->body);
		}
		if (r->layer == SB_LAYER_LIBXC && r->type == SB_LIBXC_PAGE_DATA) {
			assert_int_equal(r->page_count, x->page_count);
			assert_int_equal(r->data_pages, x->data_pages);
			assert_int_equal(r->pfn_min, x->pfn_min);
			assert_int_equal(r->pfn_max, x->pfn_max);
		}
		check_decoded(r, x);
		break;
	}
	case SB_EV_EPOCH_END:
		assert_int_equal(ev->u.epoch.number, x->epoch);
		assert_int_equal(ev->u.epoch.pages, x->f[0]);
		assert_int_equal(ev->u.epoch.data_pages, x->f[1]);
		assert_int_equal(ev->u.epoch.bytes, x->f[2]);
		assert_int_equal(ev->u.epoch.records, x->f[3]);
		break;
	case SB_EV_END:
		break;
	}
	return SB_CB_CONTINUE;
}

/* Parse c->b whole and in 7-byte pieces: all expected events, in order. */
static int run(struct ctx *c, enum sb_stream_kind kind)
{
	struct sb_parser_config cfg = { .name = "rt", .kind = kind, .cb = check_cb, .opaque = c };
	int rc = -1;

	for (int pass = 0; pass < 2; pass++) {
		struct sb_parser *p = sb_parser_new(&cfg);
		size_t step = pass ? 7 : c->b.len;
		c->seen = 0;
		for (size_t at = 0; at < c->b.len; at += step) {
			size_t n = c->b.len - at < step ? c->b.len - at : step;
			if (sb_parser_feed(p, c->b.data + at, n) != (ssize_t)n)
				fail_msg("feed: %s", sb_parser_error(p)->msg);
		}
		rc = sb_parser_finish(p);
		if (rc < 0)
			fail_msg("finish: %s", sb_parser_error(p)->msg);
		assert_int_equal(c->seen, c->n);
		sb_parser_free(p);
	}
	return rc;
}

static void ctx_init(struct ctx *c)
{
	memset(c, 0, sizeof(*c));
	sb_buf_init(&c->b);
}

static void ctx_free(struct ctx *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->x[i].body);
	sb_buf_free(&c->b);
}

/* ---- record builders: body by hand, record by the writer ---- */

static void libxc_headers(struct ctx *c, uint32_t version, uint32_t dom)
{
	struct xev *x = expect(c, SB_EV_LIBXC_HEADER);
	x->f[0] = version;
	x->f[1] = dom;
	assert_int_equal(sg_libxc_headers(&c->b, dom, version), 0);
}

static void page_data(struct ctx *c, const uint64_t *entries, uint32_t count)
{
	uint32_t len = 8 + 8 * count, data = 0;
	uint8_t *body, *pages;
	uint64_t min = UINT64_MAX, max = 0;
	struct xev *x;

	for (uint32_t i = 0; i < count; i++) {
		int has_data;
		assert_true(sb_ptype_valid(sb_ptype_of(entries[i]), &has_data));
		data += (uint32_t)has_data;
	}
	len += SB_PAGE_SIZE * data;
	body = calloc(1, len);
	assert_non_null(body);
	sb_put_le32(body, count);
	pages = body + 8 + 8 * count;
	for (uint32_t i = 0, d = 0; i < count; i++) {
		uint64_t pfn = sb_pfn_of(entries[i]);
		int has_data;
		sb_put_le64(body + 8 + 8 * i, entries[i]);
		sb_ptype_valid(sb_ptype_of(entries[i]), &has_data);
		if (has_data) {
			for (size_t k = 0; k < SB_PAGE_SIZE; k++)
				pages[(size_t)d * SB_PAGE_SIZE + k] = page_byte(pfn, k);
			d++;
		}
		min = pfn < min ? pfn : min;
		max = pfn > max ? pfn : max;
	}
	x = xrec(c, SB_LAYER_LIBXC, SB_LIBXC_PAGE_DATA, body, len);
	x->page_count = count;
	x->data_pages = data;
	x->pfn_min = min;
	x->pfn_max = max;
	x->entries = entries;
	assert_int_equal(sb_write_page_data(&c->b, entries, count, pages, (size_t)data * SB_PAGE_SIZE), 0);
	free(body);
}

static void tsc(struct ctx *c, uint32_t mode, uint32_t khz, uint64_t nsec, uint32_t inc)
{
	uint8_t body[24] = { 0 };
	struct xev *x;

	sb_put_le32(body, mode);
	sb_put_le32(body + 4, khz);
	sb_put_le64(body + 8, nsec);
	sb_put_le32(body + 16, inc);
	x = xrec(c, SB_LAYER_LIBXC, SB_LIBXC_X86_TSC_INFO, body, 24);
	x->f[0] = mode;
	x->f[1] = khz;
	x->f[2] = nsec;
	x->f[3] = inc;
	assert_int_equal(sb_write_tsc_info(&c->b, mode, khz, nsec, inc), 0);
}

static void vcpu(struct ctx *c, uint32_t type, uint32_t id, uint32_t blob_len)
{
	uint8_t *body = calloc(1, 8 + blob_len + 1);
	struct xev *x;

	assert_non_null(body);
	sb_put_le32(body, id);
	for (uint32_t i = 0; i < blob_len; i++)
		body[8 + i] = (uint8_t)(i * 3 + type);
	x = xrec(c, SB_LAYER_LIBXC, type, body, 8 + blob_len);
	x->f[0] = id;
	assert_int_equal(sb_write_x86_pv_vcpu(&c->b, type, id, body + 8, blob_len), 0);
	free(body);
}

static void blob_rec(struct ctx *c, enum sb_layer layer, uint32_t type, uint32_t len, unsigned seed)
{
	uint8_t *body = malloc(len + 1);

	assert_non_null(body);
	for (uint32_t i = 0; i < len; i++)
		body[i] = (uint8_t)(i ^ seed);
	xrec(c, layer, type, body, len);
	assert_int_equal(sb_write_record(&c->b, type, body, len), 0);
	free(body);
}

static void hvm_params(struct ctx *c, const uint64_t *pairs, uint32_t count)
{
	uint8_t body[8 + 16 * 4] = { 0 };

	assert_true(count <= 4);
	sb_put_le32(body, count);
	for (uint32_t i = 0; i < 2 * count; i++)
		sb_put_le64(body + 8 + 8 * i, pairs[i]);
	xrec(c, SB_LAYER_LIBXC, SB_LIBXC_HVM_PARAMS, body, 8 + 16 * count);
	assert_int_equal(sb_write_hvm_params(&c->b, pairs, count), 0);
}

static void emulator(struct ctx *c, uint32_t type, uint32_t id, uint32_t index, const void *blob,
		     uint32_t blob_len)
{
	uint8_t body[512];
	struct xev *x;

	assert_true(blob_len + 8 <= sizeof(body));
	sb_put_le32(body, id);
	sb_put_le32(body + 4, index);
	if (blob_len)
		memcpy(body + 8, blob, blob_len);
	x = xrec(c, SB_LAYER_LIBXL, type, body, 8 + blob_len);
	x->f[0] = id;
	x->f[1] = index;
	assert_int_equal(sb_write_emulator_record(&c->b, type, id, index, blob, blob_len), 0);
}

static void ckpt_state(struct ctx *c, uint32_t id)
{
	uint8_t body[4];
	struct xev *x;

	sb_put_le32(body, id);
	x = xrec(c, SB_LAYER_LIBXL, SB_LIBXL_CHECKPOINT_STATE, body, 4);
	x->f[0] = id;
	assert_int_equal(sb_write_checkpoint_state(&c->b, id), 0);
}

static void policies(struct ctx *c)
{
	blob_rec(c, SB_LAYER_LIBXC, SB_LIBXC_X86_CPUID_POLICY, 3 * 24, 0x11);
	blob_rec(c, SB_LAYER_LIBXC, SB_LIBXC_X86_MSR_POLICY, 2 * 16, 0x12);
	empty_rec(c, SB_LAYER_LIBXC, SB_LIBXC_STATIC_DATA_END);
}

/* ---- tests ---- */

static void test_pv_every_record(void **state)
{
	static const uint64_t e1[] = {
		0x1, 0x2 | 1ull << 60, 0x3 | 0xCull << 60, 0x4 | 0xFull << 60,
		0x5 | 0xDull << 60, 0x6 | 0xEull << 60, 0x3ff | 0x9ull << 60,
	};
	static const uint64_t e2[] = { 0x100, 0x101 | 4ull << 60 };
	struct ctx c;
	struct xev *x;
	uint32_t cfglen = (uint32_t)strlen(sg_json) + 1;

	(void)state;
	ctx_init(&c);
	x = expect(&c, SB_EV_XL_HEADER);
	x->f[0] = 3;
	x->f[2] = 4 + cfglen;
	x = expect(&c, SB_EV_PREAMBLE);
	x->offset = SB_XL_HDR_LEN;
	x->len = cfglen;
	x->body = (uint8_t *)strdup(sg_json);
	assert_int_equal(sb_write_xl_header(&c.b, sg_json), 0);
	x = expect(&c, SB_EV_LIBXL_HEADER);
	x->f[0] = SB_LIBXL_OPT_LEGACY;
	assert_int_equal(sb_write_libxl_header(&c.b, SB_LIBXL_OPT_LEGACY), 0);
	empty_rec(&c, SB_LAYER_LIBXL, SB_LIBXL_LIBXC_CONTEXT);
	libxc_headers(&c, 3, SB_DOM_PV);
	{
		uint8_t info[8] = { 8, 4 };
		xrec(&c, SB_LAYER_LIBXC, SB_LIBXC_X86_PV_INFO, info, 8);
		assert_int_equal(sb_write_x86_pv_info(&c.b, 8, 4), 0);
	}
	policies(&c);
	{
		uint64_t frames[2] = { 0xabcdef, 0x123456 };
		uint8_t body[24];
		sb_put_le32(body, 0);
		sb_put_le32(body + 4, SG_P2M_END);
		sb_put_le64(body + 8, frames[0]);
		sb_put_le64(body + 16, frames[1]);
		xrec(&c, SB_LAYER_LIBXC, SB_LIBXC_X86_PV_P2M_FRAMES, body, 24);
		assert_int_equal(sb_write_x86_pv_p2m_frames(&c.b, 0, SG_P2M_END, frames, 2), 0);
	}
	page_data(&c, e1, 7);
	/* an unknown optional record is reported, skipped, not an error */
	x = xrec(&c, SB_LAYER_LIBXC, 0x80000123u, "opt!x", 5);
	x->skipped = 1;
	assert_int_equal(sb_write_record(&c.b, 0x80000123u, "opt!x", 5), 0);
	empty_rec(&c, SB_LAYER_LIBXC, SB_LIBXC_VERIFY);
	page_data(&c, e2, 2);
	tsc(&c, 1, 2400000, 123456789012ull, 7);
	blob_rec(&c, SB_LAYER_LIBXC, SB_LIBXC_SHARED_INFO, SB_SHARED_INFO_LEN, 0x77);
	vcpu(&c, SB_LIBXC_X86_PV_VCPU_BASIC, 0, SB_VCPU_BASIC_LEN_64);
	vcpu(&c, SB_LIBXC_X86_PV_VCPU_EXTENDED, 0, 72);
	vcpu(&c, SB_LIBXC_X86_PV_VCPU_XSAVE, 0, 0);     /* errata: empty content */
	vcpu(&c, SB_LIBXC_X86_PV_VCPU_MSRS, 0, 0);
	vcpu(&c, SB_LIBXC_X86_PV_VCPU_BASIC, 1, SB_VCPU_BASIC_LEN_64);
	vcpu(&c, SB_LIBXC_X86_PV_VCPU_EXTENDED, 1, 0);
	vcpu(&c, SB_LIBXC_X86_PV_VCPU_XSAVE, 1, 836);
	vcpu(&c, SB_LIBXC_X86_PV_VCPU_MSRS, 1, 48);
	empty_rec(&c, SB_LAYER_LIBXC, SB_LIBXC_END);
	empty_rec(&c, SB_LAYER_LIBXL, SB_LIBXL_END);
	x = expect(&c, SB_EV_END);
	x->offset = c.b.len - 8;
	assert_int_equal(run(&c, SB_STREAM_AUTO), 0);
	ctx_free(&c);
}

static void test_pv32(void **state)
{
	static const uint64_t e[] = { 0x10 };
	struct ctx c;
	struct xev *x;

	(void)state;
	ctx_init(&c);
	x = expect(&c, SB_EV_LIBXL_HEADER);
	assert_int_equal(sb_write_libxl_header(&c.b, 0), 0);
	empty_rec(&c, SB_LAYER_LIBXL, SB_LIBXL_LIBXC_CONTEXT);
	libxc_headers(&c, 2, SB_DOM_PV);    /* v2: no STATIC_DATA_END, no policies */
	{
		uint8_t info[8] = { 4, 3 };
		xrec(&c, SB_LAYER_LIBXC, SB_LIBXC_X86_PV_INFO, info, 8);
		assert_int_equal(sb_write_x86_pv_info(&c.b, 4, 3), 0);
	}
	{
		/* 32-bit: 1024 pfns per frame; pfns 1000..2100 -> frames 0..2 */
		uint64_t frames[3] = { 7, 8, 9 };
		uint8_t body[32];
		sb_put_le32(body, 1000);
		sb_put_le32(body + 4, 2100);
		for (int i = 0; i < 3; i++)
			sb_put_le64(body + 8 + 8 * i, frames[i]);
		xrec(&c, SB_LAYER_LIBXC, SB_LIBXC_X86_PV_P2M_FRAMES, body, 32);
		assert_int_equal(sb_write_x86_pv_p2m_frames(&c.b, 1000, 2100, frames, 3), 0);
	}
	page_data(&c, e, 1);
	vcpu(&c, SB_LIBXC_X86_PV_VCPU_BASIC, 0, SB_VCPU_BASIC_LEN_32);
	empty_rec(&c, SB_LAYER_LIBXC, SB_LIBXC_END);
	empty_rec(&c, SB_LAYER_LIBXL, SB_LIBXL_END);
	x = expect(&c, SB_EV_END);
	x->offset = c.b.len - 8;
	assert_int_equal(run(&c, SB_STREAM_LIBXL), 0);
	ctx_free(&c);
}

static void epoch_end(struct ctx *c, uint64_t start, uint64_t pages, uint64_t data, uint64_t recs)
{
	struct xev *x = expect(c, SB_EV_EPOCH_END);

	x->offset = start;
	x->f[0] = pages;
	x->f[1] = data;
	x->f[2] = c->b.len - start;
	x->f[3] = recs;
	c->epoch++;
}

static void test_hvm_colo_every_record(void **state)
{
	static const uint64_t e0[] = { 0x0, 0x1, 0xfffff, 0x50 | 0xFull << 60 };
	static const uint64_t e1[] = { 0x7 };
	static const uint64_t p[4] = { 1, 0xfeffe000, 2, 0xfefff000 };
	static const char xs[] = "physmap/f0000000/start_addr\0f0000000\0physmap/f0000000/size\0800000";
	struct ctx c;
	uint64_t start;

	(void)state;
	ctx_init(&c);
	expect(&c, SB_EV_LIBXL_HEADER);
	assert_int_equal(sb_write_libxl_header(&c.b, 0), 0);
	start = c.b.len;
	empty_rec(&c, SB_LAYER_LIBXL, SB_LIBXL_LIBXC_CONTEXT);
	libxc_headers(&c, 3, SB_DOM_HVM);
	policies(&c);
	page_data(&c, e0, 4);
	tsc(&c, 0, 3000000, 5, 1);
	blob_rec(&c, SB_LAYER_LIBXC, SB_LIBXC_HVM_CONTEXT, 5233, 0x33);   /* before PARAMS, as 4.17 */
	hvm_params(&c, p, 2);
	hvm_params(&c, NULL, 0);                                          /* errata: count 0 */
	empty_rec(&c, SB_LAYER_LIBXC, SB_LIBXC_CHECKPOINT);
	emulator(&c, SB_LIBXL_EMULATOR_XENSTORE_DATA, 2, 0, xs, sizeof(xs));
	emulator(&c, SB_LIBXL_EMULATOR_CONTEXT, 2, 0, "QEVM\0\0\0\3qemu", 12);
	empty_rec(&c, SB_LAYER_LIBXL, SB_LIBXL_CHECKPOINT_END);
	epoch_end(&c, start, 4, 3, 13);
	/* epoch 1, COLO: CHECKPOINT_STATE(NEW) first */
	start = c.b.len;
	ckpt_state(&c, SB_CKPT_NEW);
	page_data(&c, e1, 1);
	tsc(&c, 0, 3000000, 6, 1);
	blob_rec(&c, SB_LAYER_LIBXC, SB_LIBXC_HVM_CONTEXT, 5233, 0x34);
	hvm_params(&c, p, 2);
	empty_rec(&c, SB_LAYER_LIBXC, SB_LIBXC_CHECKPOINT);
	emulator(&c, SB_LIBXL_EMULATOR_CONTEXT, 2, 0, "QEVM\0\0\0\3qem2", 12);
	empty_rec(&c, SB_LAYER_LIBXL, SB_LIBXL_CHECKPOINT_END);
	epoch_end(&c, start, 1, 1, 8);
	/* epoch 2: the stream stops after CHECKPOINT_END -> finish() 1 */
	start = c.b.len;
	ckpt_state(&c, SB_CKPT_NEW);
	empty_rec(&c, SB_LAYER_LIBXC, SB_LIBXC_CHECKPOINT);
	empty_rec(&c, SB_LAYER_LIBXL, SB_LIBXL_CHECKPOINT_END);
	epoch_end(&c, start, 0, 0, 3);
	assert_int_equal(run(&c, SB_STREAM_AUTO), 1);

	ctx_free(&c);
}

static void test_hvm_v2_plain(void **state)
{
	static const uint64_t e[] = { 0x10, 0x11 | 0xEull << 60 };
	struct ctx c;
	struct xev *x;

	(void)state;
	ctx_init(&c);
	expect(&c, SB_EV_LIBXL_HEADER);
	assert_int_equal(sb_write_libxl_header(&c.b, 0), 0);
	empty_rec(&c, SB_LAYER_LIBXL, SB_LIBXL_LIBXC_CONTEXT);
	libxc_headers(&c, 2, SB_DOM_HVM);
	page_data(&c, e, 2);                                /* v2: STATIC_DATA_END inferred */
	tsc(&c, 2, 1, 2, 3);
	hvm_params(&c, (const uint64_t[]){ 5, 6 }, 1);
	blob_rec(&c, SB_LAYER_LIBXC, SB_LIBXC_HVM_CONTEXT, 64, 0x44);
	empty_rec(&c, SB_LAYER_LIBXC, SB_LIBXC_END);
	emulator(&c, SB_LIBXL_EMULATOR_XENSTORE_DATA, 1, 0, NULL, 0);
	emulator(&c, SB_LIBXL_EMULATOR_CONTEXT, 0, 3, "blob", 4);
	empty_rec(&c, SB_LAYER_LIBXL, SB_LIBXL_END);
	x = expect(&c, SB_EV_END);
	x->offset = c.b.len - 8;
	assert_int_equal(run(&c, SB_STREAM_AUTO), 0);
	ctx_free(&c);
}

static void test_back_channel(void **state)
{
	static const uint64_t pfns[] = { 3, 0x12345, 0xffffffff };
	uint8_t body[24];
	struct ctx c;

	(void)state;
	ctx_init(&c);
	ckpt_state(&c, SB_CKPT_SVM_READY);
	ckpt_state(&c, SB_CKPT_SVM_RESUMED);
	ckpt_state(&c, SB_CKPT_SVM_SUSPENDED);
	for (int i = 0; i < 3; i++)
		sb_put_le64(body + 8 * i, pfns[i]);
	xrec(&c, SB_LAYER_LIBXC, SB_LIBXC_CHECKPOINT_DIRTY_PFN_LIST, body, 24);
	assert_int_equal(sb_write_dirty_pfn_list(&c.b, pfns, 3), 0);
	ckpt_state(&c, SB_CKPT_SVM_READY);
	ckpt_state(&c, SB_CKPT_SVM_RESUMED);
	ckpt_state(&c, SB_CKPT_SVM_SUSPENDED);
	xrec(&c, SB_LAYER_LIBXC, SB_LIBXC_CHECKPOINT_DIRTY_PFN_LIST, NULL, 0);  /* nothing dirty */
	assert_int_equal(sb_write_dirty_pfn_list(&c.b, NULL, 0), 0);
	assert_int_equal(run(&c, SB_STREAM_COLO_BACK), 0);
	ctx_free(&c);
}

/* Seen mode: PLAIN, then REMUS at the first CHECKPOINT, COLO at CHECKPOINT_STATE. */
static void test_seen_mode(void **state)
{
	struct sg_opts remus = { .dom = SB_DOM_HVM, .checkpoints = 2 };
	struct sg_opts colo = { .dom = SB_DOM_HVM, .checkpoints = 2, .colo = 1 };
	struct sb_buf b;
	struct sb_parser_config cfg = { 0 };
	struct sb_parser *p;

	(void)state;
	sb_buf_init(&b);
	assert_int_equal(sg_stream(&b, &remus), 0);
	p = sb_parser_new(&cfg);
	assert_int_equal(sb_parser_seen_mode(p), SB_MODE_PLAIN);
	assert_int_equal(sb_parser_feed(p, b.data, b.len), (ssize_t)b.len);
	assert_int_equal(sb_parser_seen_mode(p), SB_MODE_REMUS);
	/* a Remus stream may still finish: libxc END, emulator records, libxl END */
	sb_buf_reset(&b);
	assert_int_equal(sb_write_record(&b, SB_LIBXC_END, NULL, 0), 0);
	assert_int_equal(sg_emulators(&b, 9), 0);
	assert_int_equal(sb_write_record(&b, SB_LIBXL_END, NULL, 0), 0);
	assert_int_equal(sb_parser_feed(p, b.data, b.len), (ssize_t)b.len);
	assert_int_equal(sb_parser_done(p), 1);
	assert_int_equal(sb_parser_finish(p), 0);
	sb_parser_free(p);
	sb_buf_reset(&b);
	assert_int_equal(sg_stream(&b, &colo), 0);
	p = sb_parser_new(&cfg);
	assert_int_equal(sb_parser_feed(p, b.data, b.len), (ssize_t)b.len);
	assert_int_equal(sb_parser_seen_mode(p), SB_MODE_COLO);
	assert_int_equal(sb_parser_epochs_complete(p), 2);
	assert_int_equal(sb_parser_finish(p), 1);
	sb_parser_free(p);
	sb_buf_free(&b);
}

/* xl preamble variants: trailing optional data is skipped, a config without
 * the JSON flag is passed on unparsed, no config at all; kind XL. */
static int xl_cb(const struct sb_event *ev, void *opaque)
{
	struct sb_event *last = opaque;

	if (ev->kind == SB_EV_PREAMBLE)
		*last = *ev;
	if (ev->kind == SB_EV_LIBXL_HEADER)
		last[1] = *ev;
	return SB_CB_CONTINUE;
}

static void xl_variant(const char *cfgtext, uint32_t mflags, uint32_t trailing, int want_json)
{
	struct sg_opts o = { .dom = SB_DOM_HVM };
	struct sb_xl_header h;
	struct sb_buf b;
	struct sb_event got[2];
	struct sb_parser_config cfg = { .kind = SB_STREAM_XL, .cb = xl_cb, .opaque = got };
	struct sb_parser *p;
	uint32_t clen = cfgtext ? (uint32_t)strlen(cfgtext) + 1 : 0;
	uint8_t len4[4];
	size_t libxl_at;

	memset(got, 0, sizeof(got));
	sb_buf_init(&b);
	memcpy(h.magic, SB_XL_MAGIC, SB_XL_MAGIC_LEN);
	h.byteorder = SB_XL_BYTEORDER;
	h.mandatory_flags = mflags;
	h.optional_flags = 0x5a;                /* not checked, as xl */
	h.optional_data_len = 4 + clen + trailing;
	assert_int_equal(sb_write_xl_header_raw(&b, &h), 0);
	sb_put_le32(len4, clen);
	sb_buf_append(&b, len4, 4);
	if (clen)
		sb_buf_append(&b, cfgtext, clen);
	for (uint32_t i = 0; i < trailing; i++)
		sb_buf_append(&b, "\xff", 1);
	libxl_at = b.len;
	assert_int_equal(sg_stream(&b, &o), 0);
	p = sb_parser_new(&cfg);
	for (size_t at = 0; at < b.len; at += 5)         /* 5-byte pieces */
		if (sb_parser_feed(p, b.data + at, b.len - at < 5 ? b.len - at : 5) < 0)
			fail_msg("%s", sb_parser_error(p)->msg);
	assert_int_equal(sb_parser_finish(p), 0);
	assert_int_equal(got[0].kind, SB_EV_PREAMBLE);
	assert_int_equal(got[0].offset, SB_XL_HDR_LEN);
	assert_int_equal(got[0].u.preamble.config_len, clen);
	assert_int_equal(got[1].kind, SB_EV_LIBXL_HEADER);
	assert_int_equal(got[1].offset, libxl_at);
	if (want_json) {
		assert_int_equal(got[0].u.preamble.max_memkb, 131072);
	} else {
		assert_null(got[0].u.preamble.name);
		assert_null(got[0].u.preamble.guest_type);
		assert_int_equal(got[0].u.preamble.max_memkb, 0);
		assert_int_equal(got[0].u.preamble.max_vcpus, 0);
	}
	sb_parser_free(p);
	sb_buf_free(&b);
}

static void test_xl_variants(void **state)
{
	(void)state;
	xl_variant(sg_json, 3, 0, 1);
	xl_variant(sg_json, 3, 21, 1);                  /* trailing optional data */
	xl_variant("name = \"guest\"\nmemory = 128\n", 2, 3, 0);   /* xl syntax, no JSON flag */
	xl_variant(NULL, 2, 0, 0);                      /* no config */
	xl_variant(NULL, 2, 100, 0);
}

/* In a PV stream, type 5 right after CHECKPOINT_END is libxc
 * X86_PV_VCPU_EXTENDED (CHECKPOINT_STATE is COLO, HVM only). */
static void test_type5_pv(void **state)
{
	struct sg_opts o = { .dom = SB_DOM_PV, .checkpoints = 1, .pages = 1 };
	struct ctx c;

	(void)state;
	ctx_init(&c);
	assert_int_equal(sg_stream(&c.b, &o), 0);
	c.epoch = 1;
	vcpu(&c, SB_LIBXC_X86_PV_VCPU_EXTENDED, 0, 4);   /* 8 + 4: length 12 */
	empty_rec(&c, SB_LAYER_LIBXC, SB_LIBXC_CHECKPOINT);
	empty_rec(&c, SB_LAYER_LIBXL, SB_LIBXL_CHECKPOINT_END);
	{
		/* only the records after the first checkpoint are compared */
		struct sg_trace t;
		struct sb_error err;
		size_t first = 0;
		sg_trace_init(&t);
		assert_int_equal(sg_parse(c.b.data, c.b.len, NULL, 0, NULL, &t, &err, NULL), 1);
		for (size_t i = 0; i < t.n; i++)
			if (t.ev[i].kind == SB_EV_EPOCH_END) {
				first = i + 1;
				break;
			}
		assert_int_equal(t.ev[first].kind, SB_EV_RECORD);
		assert_int_equal(t.ev[first].layer, SB_LAYER_LIBXC);
		assert_int_equal(t.ev[first].type, SB_LIBXC_X86_PV_VCPU_EXTENDED);
		assert_int_equal(t.ev[first].length, 12);
		assert_int_equal(t.ev[first].epoch, 1);
		assert_int_equal(t.ev[first].offset, c.x[0].offset);
		assert_int_equal(t.ev[first].hash, sg_hash(c.x[0].body, 12));
		assert_int_equal(t.ev[t.n - 1].kind, SB_EV_EPOCH_END);
		assert_int_equal(t.ev[t.n - 1].epoch, 1);
		assert_int_equal(t.ev[t.n - 1].f[3], 3);
		sg_trace_free(&t);
	}
	ctx_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pv_every_record),
		cmocka_unit_test(test_pv32),
		cmocka_unit_test(test_hvm_colo_every_record),
		cmocka_unit_test(test_hvm_v2_plain),
		cmocka_unit_test(test_back_channel),
		cmocka_unit_test(test_seen_mode),
		cmocka_unit_test(test_xl_variants),
		cmocka_unit_test(test_type5_pv),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

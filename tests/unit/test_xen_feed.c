/*
 * test_xen_feed.c - the xen target's re-encoding of what it receives into the
 * libxc stream xc_domain_restore reads (src/backend/xen_feed.c).
 *
 * Each test feeds records and epochs as the receiver would, wraps the output
 * in a libxl Remus stream (libxl header, LIBXC_CONTEXT, then a libxl
 * CHECKPOINT_END after every commit's bytes, which end with libxc CHECKPOINT)
 * and checks it with standby's own parser: headers, record order, page
 * batches of at most 1024, page contents (later copy wins), no libxl records
 * fed to libxc, the live copy's CHECKPOINT held back until the commit.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "standby/epoch.h"
#include "standby/parser.h"
#include "standby/records.h"
#include "standby/writer.h"
#include "backend/xen_feed.h"

#define MAXREC 256
#define MAXPFN 4096

struct seen {
	uint32_t version, dom_type;
	int have_hdr;
	size_t nrec;
	struct { enum sb_layer layer; uint32_t type; uint64_t epoch; uint32_t pages; } rec[MAXREC];
	uint8_t page_fill[MAXPFN];   /* first byte of the newest copy of each pfn, 0 = none */
	unsigned page_type[MAXPFN];
	uint64_t epochs_ended;
	uint32_t max_batch;
};

static int page_cb(uint64_t pfn, unsigned type, const uint8_t *page, void *opaque)
{
	struct seen *s = opaque;
	assert_true(pfn < MAXPFN);
	s->page_fill[pfn] = page ? page[0] : 0xEE;
	s->page_type[pfn] = type;
	/* every byte of a page carries the same value in these tests */
	if (page)
		for (int i = 0; i < 4096; i++)
			assert_int_equal(page[i], page[0]);
	return 0;
}

static int on_event(const struct sb_event *ev, void *opaque)
{
	struct seen *s = opaque;

	switch (ev->kind) {
	case SB_EV_LIBXC_HEADER:
		s->have_hdr = 1;
		s->version = ev->u.libxc_hdr.version;
		s->dom_type = ev->u.libxc_hdr.domain_type;
		break;
	case SB_EV_RECORD:
		assert_true(s->nrec < MAXREC);
		s->rec[s->nrec].layer = ev->u.rec.layer;
		s->rec[s->nrec].type = ev->u.rec.type;
		s->rec[s->nrec].epoch = ev->u.rec.epoch;
		s->rec[s->nrec].pages = ev->u.rec.page_count;
		s->nrec++;
		if (ev->u.rec.layer == SB_LAYER_LIBXC && ev->u.rec.type == SB_LIBXC_PAGE_DATA) {
			if (ev->u.rec.page_count > s->max_batch)
				s->max_batch = ev->u.rec.page_count;
			sb_page_data_foreach(ev->u.rec.body, ev->u.rec.length, page_cb, s);
		}
		break;
	case SB_EV_EPOCH_END:
		s->epochs_ended++;
		break;
	default:
		break;
	}
	return SB_CB_CONTINUE;
}

/* Parse a libxl Remus stream around the libxc bytes of each commit. */
static void check_stream(struct sb_buf *libxc_parts, size_t nparts, struct seen *s)
{
	struct sb_buf all;
	struct sb_parser *p;

	memset(s, 0, sizeof(*s));
	sb_buf_init(&all);
	assert_int_equal(sb_write_libxl_header(&all, 0), 0);
	assert_int_equal(sb_write_record(&all, SB_LIBXL_LIBXC_CONTEXT, NULL, 0), 0);
	for (size_t i = 0; i < nparts; i++) {
		assert_int_equal(sb_buf_append(&all, libxc_parts[i].data, libxc_parts[i].len), 0);
		assert_int_equal(sb_write_record(&all, SB_LIBXL_CHECKPOINT_END, NULL, 0), 0);
	}
	p = sb_parser_new(&(struct sb_parser_config){ .name = "feed", .kind = SB_STREAM_LIBXL,
						       .mode = SB_MODE_REMUS, .cb = on_event, .opaque = s });
	assert_non_null(p);
	if (sb_parser_feed(p, all.data, all.len) != (ssize_t)all.len)
		fail_msg("parser: %s", sb_parser_error(p)->msg);
	if (sb_parser_finish(p) != 1)
		fail_msg("parser finish: %s", sb_parser_error(p)->msg);
	sb_parser_free(p);
	sb_buf_free(&all);
}

static struct sb_record rec_of(enum sb_layer layer, uint32_t type, const void *body, uint32_t len)
{
	struct sb_record r;
	memset(&r, 0, sizeof(r));
	r.layer = layer;
	r.type = type;
	r.body = body;
	r.length = len;
	return r;
}

static void feed(struct sb_xen_feed *f, struct sb_buf *out, enum sb_layer layer, uint32_t type,
		 const void *body, uint32_t len)
{
	char err[256];
	struct sb_record r = rec_of(layer, type, body, len);
	if (sb_xen_feed_initial(f, &r, out, err, sizeof(err)))
		fail_msg("%s", err);
}

static void page_data(struct sb_buf *b, uint64_t first, uint32_t n, uint8_t fill)
{
	uint64_t *e = calloc(n, 8);
	uint8_t *pg = malloc((size_t)n * 4096);
	for (uint32_t i = 0; i < n; i++)
		e[i] = sb_pfn_entry(first + i, SB_PT_NOTAB);
	memset(pg, fill, (size_t)n * 4096);
	assert_int_equal(sb_write_page_data(b, e, n, pg, (size_t)n * 4096), 0);
	free(e);
	free(pg);
}

/* body of the one record in b */
static const uint8_t *body_of(struct sb_buf *b) { return b->data + 8; }
static uint32_t len_of(struct sb_buf *b) { return sb_get_le32(b->data + 4); }

static const uint8_t cpuid[24] = { 1 }, msr[16] = { 2 }, tsc[24] = { 3 }, hvmctx[64] = { 4 };
static uint8_t params[8 + 16];

/* live copy of a v3 HVM (PVH) stream as xl remus sends it */
static void live_copy(struct sb_xen_feed *f, struct sb_buf *out)
{
	struct sb_buf pd;

	sb_put_le32(params, 1);
	feed(f, out, SB_LAYER_LIBXL, SB_LIBXL_LIBXC_CONTEXT, NULL, 0);
	feed(f, out, SB_LAYER_LIBXC, SB_LIBXC_X86_CPUID_POLICY, cpuid, sizeof(cpuid));
	assert_false(f->ready);
	assert_int_equal(out->len, 0);         /* nothing before the headers are known */
	feed(f, out, SB_LAYER_LIBXC, SB_LIBXC_X86_MSR_POLICY, msr, sizeof(msr));
	feed(f, out, SB_LAYER_LIBXC, SB_LIBXC_STATIC_DATA_END, NULL, 0);
	assert_true(f->ready);
	sb_buf_init(&pd);
	page_data(&pd, 0, 8, 0x10);
	feed(f, out, SB_LAYER_LIBXC, SB_LIBXC_PAGE_DATA, body_of(&pd), len_of(&pd));
	sb_buf_free(&pd);
	feed(f, out, SB_LAYER_LIBXC, SB_LIBXC_X86_TSC_INFO, tsc, sizeof(tsc));
	feed(f, out, SB_LAYER_LIBXC, SB_LIBXC_HVM_CONTEXT, hvmctx, sizeof(hvmctx));
	feed(f, out, SB_LAYER_LIBXC, SB_LIBXC_HVM_PARAMS, params, sizeof(params));
	size_t before = out->len;
	feed(f, out, SB_LAYER_LIBXC, SB_LIBXC_CHECKPOINT, NULL, 0);
	assert_int_equal(out->len, before);    /* held back until commit(0) */
	uint8_t emu[16] = { 2, 0, 0, 0, 0, 0, 0, 0, 'x' };
	feed(f, out, SB_LAYER_LIBXL, SB_LIBXL_EMULATOR_CONTEXT, emu, sizeof(emu));
	feed(f, out, SB_LAYER_LIBXL, SB_LIBXL_CHECKPOINT_END, NULL, 0);
	assert_int_equal(out->len, before);    /* libxl records never reach libxc */
}

static void test_live_copy_then_commit0(void **state)
{
	struct sb_xen_feed f;
	struct sb_buf out;
	struct seen s;
	char err[256];
	static const uint32_t want[] = {
		SB_LIBXC_X86_CPUID_POLICY, SB_LIBXC_X86_MSR_POLICY, SB_LIBXC_STATIC_DATA_END,
		SB_LIBXC_PAGE_DATA, SB_LIBXC_X86_TSC_INFO, SB_LIBXC_HVM_CONTEXT, SB_LIBXC_HVM_PARAMS,
		SB_LIBXC_CHECKPOINT };
	(void)state;

	sb_xen_feed_init(&f, SB_DOM_HVM, 4, 17);
	sb_buf_init(&out);
	live_copy(&f, &out);
	assert_int_equal(sb_xen_feed_commit(&f, NULL, &out, err, sizeof(err)), 0);
	assert_int_equal(f.checkpoints, 1);
	check_stream(&out, 1, &s);
	assert_int_equal(s.version, 3);
	assert_int_equal(s.dom_type, SB_DOM_HVM);
	/* records: LIBXC_CONTEXT, the libxc ones in order, CHECKPOINT_END */
	assert_int_equal(s.nrec, 2 + sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_int_equal(s.rec[1 + i].layer, SB_LAYER_LIBXC);
		assert_int_equal(s.rec[1 + i].type, want[i]);
	}
	assert_int_equal(s.epochs_ended, 1);
	for (int pfn = 0; pfn < 8; pfn++)
		assert_int_equal(s.page_fill[pfn], 0x10);
	sb_buf_free(&out);
	sb_xen_feed_free(&f);
}

static void test_epoch_rebatched(void **state)
{
	struct sb_xen_feed f;
	struct sb_buf parts[2], pd;
	struct sb_epoch *ep;
	struct seen s;
	char err[256];
	(void)state;

	sb_xen_feed_init(&f, SB_DOM_HVM, 4, 17);
	sb_buf_init(&parts[0]);
	sb_buf_init(&parts[1]);
	live_copy(&f, &parts[0]);
	assert_int_equal(sb_xen_feed_commit(&f, NULL, &parts[0], err, sizeof(err)), 0);

	/* epoch 1: 2500 distinct pages in three PAGE_DATA records, pfns 100-599
	 * sent twice (the second copy must win), then the register records */
	ep = sb_epoch_new(64ull << 20);
	assert_non_null(ep);
	sb_epoch_reset(ep, 1);
	sb_buf_init(&pd);
	page_data(&pd, 0, 1000, 0x21);
	assert_int_equal(sb_epoch_add(ep, SB_LAYER_LIBXC, SB_LIBXC_PAGE_DATA, body_of(&pd), len_of(&pd)), 0);
	sb_buf_reset(&pd);
	page_data(&pd, 100, 500, 0x22);
	assert_int_equal(sb_epoch_add(ep, SB_LAYER_LIBXC, SB_LIBXC_PAGE_DATA, body_of(&pd), len_of(&pd)), 0);
	sb_buf_reset(&pd);
	page_data(&pd, 1000, 1000, 0x23);
	assert_int_equal(sb_epoch_add(ep, SB_LAYER_LIBXC, SB_LIBXC_PAGE_DATA, body_of(&pd), len_of(&pd)), 0);
	sb_buf_reset(&pd);
	page_data(&pd, 2000, 500, 0x24);
	assert_int_equal(sb_epoch_add(ep, SB_LAYER_LIBXC, SB_LIBXC_PAGE_DATA, body_of(&pd), len_of(&pd)), 0);
	sb_buf_free(&pd);
	assert_int_equal(sb_epoch_add(ep, SB_LAYER_LIBXC, SB_LIBXC_X86_TSC_INFO, tsc, sizeof(tsc)), 0);
	assert_int_equal(sb_epoch_add(ep, SB_LAYER_LIBXC, SB_LIBXC_HVM_CONTEXT, hvmctx, sizeof(hvmctx)), 0);
	assert_int_equal(sb_epoch_add(ep, SB_LAYER_LIBXC, SB_LIBXC_HVM_PARAMS, params, sizeof(params)), 0);
	assert_int_equal(sb_epoch_add(ep, SB_LAYER_LIBXC, SB_LIBXC_CHECKPOINT, NULL, 0), 0);
	uint8_t emu[16] = { 2 };
	assert_int_equal(sb_epoch_add(ep, SB_LAYER_LIBXL, SB_LIBXL_EMULATOR_CONTEXT, emu, sizeof(emu)), 0);
	assert_int_equal(sb_epoch_add(ep, SB_LAYER_LIBXL, SB_LIBXL_CHECKPOINT_END, NULL, 0), 0);
	assert_int_equal(sb_epoch_npages(ep), 2500);

	assert_int_equal(sb_xen_feed_commit(&f, ep, &parts[1], err, sizeof(err)), 0);
	assert_int_equal(f.checkpoints, 2);
	check_stream(parts, 2, &s);
	assert_int_equal(s.epochs_ended, 2);
	assert_true(s.max_batch <= 1024);

	/* epoch 1's records: 3 PAGE_DATA (1024+1024+452), TSC, HVM_CONTEXT, HVM_PARAMS, CHECKPOINT, CHECKPOINT_END */
	size_t i = 0;
	while (i < s.nrec && s.rec[i].epoch < 1)
		i++;
	static const uint32_t want[] = { SB_LIBXC_PAGE_DATA, SB_LIBXC_PAGE_DATA, SB_LIBXC_PAGE_DATA,
		SB_LIBXC_X86_TSC_INFO, SB_LIBXC_HVM_CONTEXT, SB_LIBXC_HVM_PARAMS, SB_LIBXC_CHECKPOINT };
	assert_int_equal(s.nrec - i, sizeof(want) / sizeof(want[0]) + 1);
	for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
		assert_int_equal(s.rec[i + k].layer, SB_LAYER_LIBXC);
		assert_int_equal(s.rec[i + k].type, want[k]);
	}
	assert_int_equal(s.rec[i].pages + s.rec[i + 1].pages + s.rec[i + 2].pages, 2500);
	assert_int_equal(s.rec[s.nrec - 1].layer, SB_LAYER_LIBXL);
	assert_int_equal(s.rec[s.nrec - 1].type, SB_LIBXL_CHECKPOINT_END);
	for (int pfn = 0; pfn < 2500; pfn++) {
		uint8_t want_fill = pfn < 100 ? 0x21 : pfn < 600 ? 0x22 : pfn < 1000 ? 0x21 :
				    pfn < 2000 ? 0x23 : 0x24;
		assert_int_equal(s.page_fill[pfn], want_fill);
	}
	sb_epoch_free(ep);
	sb_buf_free(&parts[0]);
	sb_buf_free(&parts[1]);
	sb_xen_feed_free(&f);
}

static void test_pages_without_data(void **state)
{
	struct sb_xen_feed f;
	struct sb_buf parts[2], pd;
	struct sb_epoch *ep;
	struct seen s;
	char err[256];
	uint64_t e[3] = { sb_pfn_entry(7, SB_PT_NOTAB), sb_pfn_entry(8, SB_PT_XTAB), sb_pfn_entry(9, SB_PT_NOTAB) };
	uint8_t *pg = malloc(2 * 4096);
	(void)state;

	sb_xen_feed_init(&f, SB_DOM_HVM, 4, 17);
	sb_buf_init(&parts[0]);
	sb_buf_init(&parts[1]);
	live_copy(&f, &parts[0]);
	assert_int_equal(sb_xen_feed_commit(&f, NULL, &parts[0], err, sizeof(err)), 0);
	memset(pg, 0x31, 2 * 4096);
	sb_buf_init(&pd);
	assert_int_equal(sb_write_page_data(&pd, e, 3, pg, 2 * 4096), 0);
	ep = sb_epoch_new(16ull << 20);
	sb_epoch_reset(ep, 1);
	assert_int_equal(sb_epoch_add(ep, SB_LAYER_LIBXC, SB_LIBXC_PAGE_DATA, body_of(&pd), len_of(&pd)), 0);
	assert_int_equal(sb_epoch_add(ep, SB_LAYER_LIBXC, SB_LIBXC_CHECKPOINT, NULL, 0), 0);
	assert_int_equal(sb_xen_feed_commit(&f, ep, &parts[1], err, sizeof(err)), 0);
	check_stream(parts, 2, &s);
	assert_int_equal(s.page_fill[7], 0x31);
	assert_int_equal(s.page_fill[8], 0xEE);      /* XTAB: entry without data */
	assert_int_equal(s.page_type[8], SB_PT_XTAB);
	assert_int_equal(s.page_fill[9], 0x31);
	free(pg);
	sb_buf_free(&pd);
	sb_epoch_free(ep);
	sb_buf_free(&parts[0]);
	sb_buf_free(&parts[1]);
	sb_xen_feed_free(&f);
}

static void test_v2_and_pv(void **state)
{
	struct sb_xen_feed f;
	struct sb_buf out, pd;
	char err[256];
	uint8_t pvinfo[8] = { 8, 4 };
	uint8_t p2m[16] = { 0 };
	(void)state;

	/* PV stream without STATIC_DATA_END: v2 header, type PV from X86_PV_INFO */
	sb_xen_feed_init(&f, 0, 4, 17);
	sb_buf_init(&out);
	feed(&f, &out, SB_LAYER_LIBXC, SB_LIBXC_X86_PV_INFO, pvinfo, sizeof(pvinfo));
	assert_false(f.ready);
	feed(&f, &out, SB_LAYER_LIBXC, SB_LIBXC_X86_PV_P2M_FRAMES, p2m, sizeof(p2m));
	assert_true(f.ready);
	assert_int_equal(f.version, 2);
	assert_int_equal(f.dom_type, SB_DOM_PV);
	assert_int_equal(sb_get_be32(out.data + 12), 2);        /* image header version */
	assert_int_equal(sb_get_le32(out.data + 24), SB_DOM_PV); /* domain header type */
	/* X86_PV_INFO is the first record after the headers */
	assert_int_equal(sb_get_le32(out.data + 40), SB_LIBXC_X86_PV_INFO);
	sb_buf_init(&pd);
	page_data(&pd, 0, 1, 0x41);
	feed(&f, &out, SB_LAYER_LIBXC, SB_LIBXC_PAGE_DATA, body_of(&pd), len_of(&pd));
	feed(&f, &out, SB_LAYER_LIBXC, SB_LIBXC_END, NULL, 0);
	/* a plain stream: its commit adds no CHECKPOINT after END */
	size_t before = out.len;
	assert_int_equal(sb_xen_feed_commit(&f, NULL, &out, err, sizeof(err)), 0);
	assert_int_equal(out.len, before);
	sb_buf_free(&pd);
	sb_buf_free(&out);
	sb_xen_feed_free(&f);

	/* X86_PV_INFO while the config says HVM/PVH: refused */
	sb_xen_feed_init(&f, SB_DOM_HVM, 4, 17);
	sb_buf_init(&out);
	struct sb_record r = rec_of(SB_LAYER_LIBXC, SB_LIBXC_X86_PV_INFO, pvinfo, sizeof(pvinfo));
	assert_int_equal(sb_xen_feed_initial(&f, &r, &out, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "X86_PV_INFO"));
	sb_buf_free(&out);
	sb_xen_feed_free(&f);
}

static void test_commit_before_data(void **state)
{
	struct sb_xen_feed f;
	struct sb_buf out;
	char err[256];
	(void)state;

	sb_xen_feed_init(&f, SB_DOM_HVM, 4, 17);
	sb_buf_init(&out);
	assert_int_equal(sb_xen_feed_commit(&f, NULL, &out, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "before any libxc data"));
	assert_int_equal(out.len, 0);
	sb_xen_feed_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_live_copy_then_commit0),
		cmocka_unit_test(test_epoch_rebatched),
		cmocka_unit_test(test_pages_without_data),
		cmocka_unit_test(test_v2_and_pv),
		cmocka_unit_test(test_commit_before_data),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

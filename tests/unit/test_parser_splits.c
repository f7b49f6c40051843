/*
 * test_parser_splits.c - the parser gives the same events however the input
 * is split: Remus PV and HVM streams of 5 epochs, a COLO stream of 3 epochs
 * and a COLO back channel, fed whole, 1 byte at a time, split in two at every
 * offset, in 200 random splits, and with the callback pausing after every
 * event.  Fed whole, every body points into the caller's buffer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "streamgen.h"

struct sample {
	struct sb_buf buf;
	struct sg_trace ref;
	int ref_rc;
	struct sb_parser_config cfg;
};

static void build(struct sample *s, const struct sg_opts *o, int back)
{
	struct sb_error err;
	size_t consumed;

	memset(s, 0, sizeof(*s));
	sb_buf_init(&s->buf);
	if (back) {
		assert_int_equal(sg_back_channel(&s->buf, 4), 0);
		s->cfg.kind = SB_STREAM_COLO_BACK;
	} else {
		assert_int_equal(sg_stream(&s->buf, o), 0);
	}
	sg_trace_init(&s->ref);
	s->ref.base = s->buf.data;
	s->ref.base_len = s->buf.len;
	s->ref_rc = sg_parse(s->buf.data, s->buf.len, NULL, 0, &s->cfg, &s->ref, &err, &consumed);
	if (s->ref_rc < 0)
		fail_msg("reference parse failed: %s", err.msg);
	assert_int_equal(consumed, s->buf.len);
	/* zero copy: fed whole, no body was assembled */
	assert_int_equal(s->ref.copied, 0);
	assert_true(s->ref.in_place > 0);
}

static void done(struct sample *s)
{
	sg_trace_free(&s->ref);
	sb_buf_free(&s->buf);
}

static void same_as_ref(struct sample *s, const size_t *cuts, size_t ncuts, int pause)
{
	struct sg_trace t;
	struct sb_error err;
	size_t consumed;
	long d;
	int rc;

	sg_trace_init(&t);
	t.pause_every = pause;
	t.base = s->buf.data;
	t.base_len = s->buf.len;
	rc = sg_parse(s->buf.data, s->buf.len, cuts, ncuts, &s->cfg, &t, &err, &consumed);
	if (rc != s->ref_rc)
		fail_msg("rc %d, expected %d (%s) with %zu cuts, first at %zu", rc, s->ref_rc, err.msg,
			 ncuts, ncuts ? cuts[0] : 0);
	d = sg_trace_diff(&s->ref, &t);
	if (d >= 0)
		fail_msg("event %ld differs (%zu cuts, first at %zu; %zu vs %zu events)", d, ncuts,
			 ncuts ? cuts[0] : 0, s->ref.n, t.n);
	assert_int_equal(consumed, s->buf.len);
	/* zero copy: only a record straddling a cut is assembled */
	if (ncuts == 1 && t.copied > 1)
		fail_msg("%zu bodies copied with one cut at %zu", t.copied, cuts[0]);
	sg_trace_free(&t);
}

static void all_splits(struct sample *s)
{
	size_t n = s->buf.len, *cuts = malloc(n * sizeof(*cuts));
	uint64_t seed = 42;

	assert_non_null(cuts);
	/* one byte at a time */
	for (size_t i = 0; i < n; i++)
		cuts[i] = i + 1;
	same_as_ref(s, cuts, n, 0);
	/* two feeds, split at every offset */
	for (size_t k = 1; k < n; k++)
		same_as_ref(s, &k, 1, 0);
	/* 200 random splits into 2..33 pieces */
	for (int r = 0; r < 200; r++) {
		size_t m = 1 + sg_rand(&seed) % 32;
		for (size_t i = 0; i < m; i++)
			cuts[i] = 1 + sg_rand(&seed) % (n - 1);
		for (size_t i = 1; i < m; i++)          /* insertion sort */
			for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
				size_t x = cuts[j];
				cuts[j] = cuts[j - 1];
				cuts[j - 1] = x;
			}
		same_as_ref(s, cuts, m, r & 1);
	}
	/* whole, pausing after every event */
	same_as_ref(s, NULL, 0, 1);
	free(cuts);
}

/* Epoch events: numbers 0..n-1, byte counts tile the stream from start0. */
static void check_epochs(const struct sample *s, unsigned n, uint64_t start0, uint64_t pages,
			 uint64_t data_pages)
{
	uint64_t at = start0, e = 0;

	for (size_t i = 0; i < s->ref.n; i++) {
		const struct sg_tev *ev = &s->ref.ev[i];
		if (ev->kind == SB_EV_RECORD)
			assert_int_equal(ev->epoch, e);
		if (ev->kind != SB_EV_EPOCH_END)
			continue;
		assert_int_equal(ev->epoch, e);
		assert_int_equal(ev->offset, at);
		assert_int_equal(ev->f[0], pages);
		assert_int_equal(ev->f[1], data_pages);
		/* the event follows the CHECKPOINT_END record, which ends the epoch */
		assert_int_equal(s->ref.ev[i - 1].kind, SB_EV_RECORD);
		assert_int_equal(s->ref.ev[i - 1].type, SB_LIBXL_CHECKPOINT_END);
		assert_int_equal(s->ref.ev[i - 1].epoch, e);
		assert_int_equal(ev->offset + ev->f[2], s->ref.ev[i - 1].f[5] + 8);
		at += ev->f[2];
		e++;
	}
	assert_int_equal(e, n);
	assert_int_equal(at, s->buf.len);
}

static uint64_t xl_prefix_len(void)
{
	return SB_XL_HDR_LEN + 4 + strlen(sg_json) + 1;
}

static void test_remus_pv(void **state)
{
	struct sg_opts o = { .dom = SB_DOM_PV, .checkpoints = 5, .xl = 1, .pages = 1, .width = 4 };
	struct sample s;

	(void)state;
	build(&s, &o, 0);
	assert_int_equal(s.ref_rc, 1);
	assert_int_equal(sg_trace_count(&s.ref, SB_EV_EPOCH_END), 5);
	assert_int_equal(sg_trace_count(&s.ref, SB_EV_END), 0);
	check_epochs(&s, 5, xl_prefix_len() + SB_LIBXL_HDR_LEN, 2, 1);
	/* epoch 0: LIBXC_CONTEXT, 5 static, PAGE_DATA, 6 end-of-checkpoint, CHECKPOINT, CHECKPOINT_END */
	for (size_t i = 0, e = 0; i < s.ref.n; i++)
		if (s.ref.ev[i].kind == SB_EV_EPOCH_END)
			assert_int_equal(s.ref.ev[i].f[3], e++ ? 1 + 6 + 2 : 1 + 5 + 1 + 6 + 2);
	all_splits(&s);
	done(&s);
}

static void test_remus_hvm(void **state)
{
	struct sg_opts o = { .dom = SB_DOM_HVM, .checkpoints = 5, .xl = 1, .pages = 1 };
	struct sample s;

	(void)state;
	build(&s, &o, 0);
	assert_int_equal(s.ref_rc, 1);
	assert_int_equal(sg_trace_count(&s.ref, SB_EV_EPOCH_END), 5);
	check_epochs(&s, 5, xl_prefix_len() + SB_LIBXL_HDR_LEN, 2, 1);
	for (size_t i = 0, e = 0; i < s.ref.n; i++)
		if (s.ref.ev[i].kind == SB_EV_EPOCH_END)   /* PAGE_DATA, 3 eoc, CKPT, 2 emu, CKPT_END */
			assert_int_equal(s.ref.ev[i].f[3], e++ ? 8 : 1 + 3 + 8);
	all_splits(&s);
	done(&s);
}

static void test_colo(void **state)
{
	struct sg_opts o = { .dom = SB_DOM_HVM, .checkpoints = 3, .colo = 1, .pages = 1 };
	struct sample s;
	size_t states = 0;

	(void)state;
	build(&s, &o, 0);
	assert_int_equal(s.ref_rc, 1);
	check_epochs(&s, 3, SB_LIBXL_HDR_LEN, 2, 1);
	for (size_t i = 0; i < s.ref.n; i++) {
		const struct sg_tev *ev = &s.ref.ev[i];
		if (ev->kind == SB_EV_RECORD && ev->type == SB_LIBXL_CHECKPOINT_STATE &&
		    ev->layer == SB_LAYER_LIBXL) {
			/* the first record of epochs 1 and 2, right after an EPOCH_END */
			assert_int_equal(s.ref.ev[i - 1].kind, SB_EV_EPOCH_END);
			assert_int_equal(ev->epoch, s.ref.ev[i - 1].epoch + 1);
			states++;
		}
	}
	assert_int_equal(states, 2);
	all_splits(&s);
	/* the same stream in COLO mode is fine, in REMUS mode it is not */
	s.cfg.mode = SB_MODE_COLO;
	same_as_ref(&s, NULL, 0, 0);
	{
		struct sg_trace t;
		struct sb_error err;
		sg_trace_init(&t);
		s.cfg.mode = SB_MODE_REMUS;
		assert_int_equal(sg_parse(s.buf.data, s.buf.len, NULL, 0, &s.cfg, &t, &err, NULL), -1);
		assert_int_equal(err.code, SB_ERR_ORDER);
		assert_non_null(strstr(err.msg, "CHECKPOINT_STATE in a stream expected to be Remus"));
		sg_trace_free(&t);
	}
	done(&s);
}

static void test_back_channel(void **state)
{
	struct sample s;
	size_t dirty = 0;

	(void)state;
	build(&s, NULL, 1);
	assert_int_equal(s.ref_rc, 0);
	assert_int_equal(s.ref.n, 2 + 4 * 4);
	for (size_t i = 0; i < s.ref.n; i++) {
		const struct sg_tev *ev = &s.ref.ev[i];
		assert_int_equal(ev->kind, SB_EV_RECORD);
		if (ev->layer == SB_LAYER_LIBXC) {
			assert_int_equal(ev->type, SB_LIBXC_CHECKPOINT_DIRTY_PFN_LIST);
			assert_int_equal(ev->f[1], ev->length / 8);
			dirty++;
		} else {
			assert_int_equal(ev->type, SB_LIBXL_CHECKPOINT_STATE);
		}
	}
	assert_int_equal(dirty, 4);
	all_splits(&s);
	done(&s);
}

static void test_plain_xl_stops_at_end(void **state)
{
	struct sg_opts o = { .dom = SB_DOM_HVM, .xl = 1 };
	struct sample s;
	size_t len, consumed;
	struct sg_trace t;
	struct sb_error err;

	(void)state;
	build(&s, &o, 0);
	assert_int_equal(s.ref_rc, 0);
	assert_int_equal(sg_trace_count(&s.ref, SB_EV_END), 1);
	assert_int_equal(s.ref.ev[s.ref.n - 1].kind, SB_EV_END);
	assert_int_equal(sg_trace_count(&s.ref, SB_EV_EPOCH_END), 0);
	all_splits(&s);
	/* xl's GO message follows END: not consumed */
	len = s.buf.len;
	sb_buf_append(&s.buf, SB_XL_GO, SB_XL_GO_LEN);
	sg_trace_init(&t);
	assert_int_equal(sg_parse(s.buf.data, s.buf.len, NULL, 0, NULL, &t, &err, &consumed), 0);
	assert_int_equal(consumed, len);
	assert_int_equal(sg_trace_diff(&s.ref, &t), -1);
	sg_trace_free(&t);
	done(&s);
}

static void test_bare_libxc(void **state)
{
	struct sg_opts o = { .dom = SB_DOM_PV, .bare = 1 };
	struct sample s;

	(void)state;
	build(&s, &o, 0);
	assert_int_equal(s.ref_rc, 0);
	assert_int_equal(s.ref.ev[0].kind, SB_EV_LIBXC_HEADER);
	assert_int_equal(s.ref.ev[s.ref.n - 2].type, SB_LIBXC_END);
	assert_int_equal(s.ref.ev[s.ref.n - 1].kind, SB_EV_END);
	all_splits(&s);
	done(&s);
}

/* Feed returns right after the paused event; the pending EPOCH_END comes first next time. */
static int pause_on_ckpt_end(const struct sb_event *ev, void *opaque)
{
	int *n = opaque;
	(*n)++;
	return ev->kind == SB_EV_RECORD && ev->u.rec.type == SB_LIBXL_CHECKPOINT_END &&
	       ev->u.rec.layer == SB_LAYER_LIBXL ? SB_CB_PAUSE : SB_CB_CONTINUE;
}

static void test_pause_position(void **state)
{
	struct sg_opts o = { .dom = SB_DOM_HVM, .checkpoints = 2 };
	struct sb_buf b;
	struct sb_parser_config c = { .cb = pause_on_ckpt_end };
	struct sb_parser *p;
	int n = 0;
	ssize_t r;
	size_t first_end;

	(void)state;
	sb_buf_init(&b);
	assert_int_equal(sg_stream(&b, &o), 0);
	c.opaque = &n;
	p = sb_parser_new(&c);
	r = sb_parser_feed(p, b.data, b.len);
	assert_true(r > 0 && (size_t)r < b.len);
	first_end = (size_t)r;
	/* stopped exactly after the first CHECKPOINT_END record */
	assert_int_equal(sb_get_le32(b.data + first_end - 8), SB_LIBXL_CHECKPOINT_END);
	assert_int_equal(sb_parser_offset(p), first_end);
	assert_int_equal(sb_parser_epochs_complete(p), 1);
	n = 0;
	r = sb_parser_feed(p, b.data + first_end, b.len - first_end);
	assert_int_equal((size_t)r, b.len - first_end);
	assert_int_equal(sb_parser_finish(p), 1);
	assert_int_equal(sb_parser_seen_mode(p), SB_MODE_REMUS);
	assert_int_equal(sb_parser_domain_type(p), SB_DOM_HVM);
	sb_parser_free(p);
	sb_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_remus_pv),
		cmocka_unit_test(test_remus_hvm),
		cmocka_unit_test(test_colo),
		cmocka_unit_test(test_back_channel),
		cmocka_unit_test(test_plain_xl_stops_at_end),
		cmocka_unit_test(test_bare_libxc),
		cmocka_unit_test(test_pause_position),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

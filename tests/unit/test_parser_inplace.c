/*
 * test_parser_inplace.c - input read in place (sb_parser_body_room /
 * sb_parser_feed_in_place) gives the same events as sb_parser_feed: Remus HVM
 * and PV streams with large PAGE_DATA records, read the way the receiver
 * reads a socket (random chunk sizes; in place whenever a body is being
 * assembled), with and without the callback pausing after every event; a
 * stream cut inside a body read in place is truncated there; feeding in
 * place where no body is being assembled is an error.  With a body_cb the
 * split bodies are assembled (and read in place) in the caller's memory: the
 * same events, each RECORD of an assembled body points into that memory, the
 * callback is asked at most once per record, and NULL falls back to the
 * parser's own buffer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "streamgen.h"

struct run {
	int rc;                 /* finish(), or -1 when a feed failed */
	size_t in_place;        /* bytes handed over with feed_in_place */
	struct sb_error err;
};

/* Read data[0..len) as a receiver would: chunks of 1..max bytes, in place
 * whenever the parser assembles a body. */
/* Caller memory for split bodies (body_cb); the trace comes first so that
 * sg_trace_cb can take the same opaque. */
static struct sb_parser *cur_parser;   /* the parser read_like_socket_cfg runs */

struct ext {
	struct sg_trace t;
	int trim;               /* sb_parser_trim() at every event */
	int refuse_odd;         /* return NULL for every other record asked */
	uint8_t *mem;           /* the memory given for the record being read */
	uint32_t need;
	uint64_t rec_index;     /* the record it was given for */
	size_t asked, given, used;
};

static uint8_t *ext_body(const struct sb_record *rec, uint32_t need, void *opaque)
{
	struct ext *x = opaque;

	assert_null(rec->body);
	assert_int_equal(need, (rec->length + 7) & ~7u);
	if (x->asked && rec->index == x->rec_index)
		fail_msg("body_cb asked twice for record %llu", (unsigned long long)rec->index);
	x->asked++;
	x->rec_index = rec->index;
	free(x->mem);
	x->mem = NULL;
	if (x->refuse_odd && (x->asked & 1))
		return NULL;
	x->mem = malloc(need);
	assert_non_null(x->mem);
	memset(x->mem, 0xA5, need);
	x->need = need;
	x->given++;
	return x->mem;
}

static int ext_event(const struct sb_event *ev, void *opaque)
{
	struct ext *x = opaque;

	if (ev->kind == SB_EV_RECORD && x->mem && ev->u.rec.index == x->rec_index) {
		if (ev->u.rec.body != x->mem)
			fail_msg("record %llu: body not in the memory given for it",
				 (unsigned long long)ev->u.rec.index);
		x->used++;
	}
	if (x->trim)
		sb_parser_trim(cur_parser);
	return sg_trace_cb(ev, &x->t);
}

static struct run read_like_socket_cfg(const uint8_t *data, size_t len, size_t max,
				       uint64_t seed, struct sg_trace *t,
				       const struct sb_parser_config *cfg);

static struct run read_like_socket(const uint8_t *data, size_t len, size_t max, uint64_t seed,
				   struct sg_trace *t)
{
	struct sb_parser_config cfg = { .name = "t", .cb = sg_trace_cb, .opaque = t };

	return read_like_socket_cfg(data, len, max, seed, t, &cfg);
}

static struct run read_like_socket_cfg(const uint8_t *data, size_t len, size_t max,
				       uint64_t seed, struct sg_trace *t,
				       const struct sb_parser_config *cfg)
{
	struct sb_parser *p = sb_parser_new(cfg);

	cur_parser = p;
	struct run r = { 0 };
	size_t pos = 0;

	assert_non_null(p);
	while (pos < len && !t->got_end) {
		size_t want = 1 + sg_rand(&seed) % max;
		uint8_t *where = NULL;
		size_t room = sb_parser_body_room(p, &where);
		ssize_t n;

		if (want > len - pos)
			want = len - pos;
		if (room) {
			if (want > room)
				want = room;
			memcpy(where, data + pos, want);       /* the read() */
			n = sb_parser_feed_in_place(p, want);
			if (n >= 0) {
				assert_int_equal(n, want);
				r.in_place += want;
			}
		} else {
			n = sb_parser_feed(p, data + pos, want);
		}
		if (n < 0) {
			r.rc = -1;
			r.err = *sb_parser_error(p);
			sb_parser_free(p);
			return r;
		}
		pos += (size_t)n;
	}
	r.rc = sb_parser_finish(p);
	if (r.rc < 0)
		r.err = *sb_parser_error(p);
	sb_parser_free(p);
	return r;
}

/* Generate the stream of o into b and its reference trace (fed whole);
 * returns finish()'s result. */
static int reference(const struct sg_opts *o, struct sb_buf *b, struct sg_trace *ref)
{
	struct sb_error err;
	size_t consumed;
	int rc;

	sb_buf_init(b);
	assert_int_equal(sg_stream(b, o), 0);
	sg_trace_init(ref);
	rc = sg_parse(b->data, b->len, NULL, 0, NULL, ref, &err, &consumed);
	assert_true(rc >= 0);
	return rc;
}

static void same_events(const struct sg_opts *o)
{
	struct sb_buf b;
	struct sg_trace ref;
	int ref_rc = reference(o, &b, &ref);
	for (int k = 0; k < 40; k++) {
		struct sg_trace t;
		struct run r;
		long d;

		sg_trace_init(&t);
		t.pause_every = k & 1;
		r = read_like_socket(b.data, b.len, k < 20 ? 65536 : 4096, 1000 + k, &t);
		if (r.rc != ref_rc)
			fail_msg("run %d: rc %d, expected %d (%s)", k, r.rc, ref_rc, r.err.msg);
		d = sg_trace_diff(&ref, &t);
		if (d >= 0)
			fail_msg("run %d: event %ld differs (%zu vs %zu events)", k, d, ref.n, t.n);
		/* most page bytes went in place */
		if (r.in_place < b.len / 2)
			fail_msg("run %d: only %zu of %zu bytes in place", k, r.in_place, b.len);
		sg_trace_free(&t);
	}
	sg_trace_free(&ref);
	sb_buf_free(&b);
}

static void test_hvm_remus(void **state)
{
	struct sg_opts o = { .dom = SB_DOM_HVM, .checkpoints = 4, .pages = 63 };

	(void)state;
	same_events(&o);
}

static void test_pv_remus(void **state)
{
	struct sg_opts o = { .dom = SB_DOM_PV, .checkpoints = 3, .pages = 63 };

	(void)state;
	same_events(&o);
}

/* The stream ends inside a body being read in place: truncated, at that offset. */
static void test_cut_in_place(void **state)
{
	struct sg_opts o = { .dom = SB_DOM_HVM, .checkpoints = 2, .pages = 63 };
	struct sb_buf b;
	struct sg_trace ref, t;
	struct sb_error err;
	struct run r;
	size_t cut = 0, consumed;

	(void)state;
	sb_buf_init(&b);
	assert_int_equal(sg_stream(&b, &o), 0);
	sg_trace_init(&ref);
	assert_true(sg_parse(b.data, b.len, NULL, 0, NULL, &ref, &err, &consumed) >= 0);
	for (size_t i = 0; i < ref.n && !cut; i++)      /* half-way through epoch 0's pages */
		if (ref.ev[i].kind == SB_EV_RECORD && ref.ev[i].layer == SB_LAYER_LIBXC &&
		    ref.ev[i].type == SB_LIBXC_PAGE_DATA)
			cut = ref.ev[i].offset + 8 + ref.ev[i].length / 2;
	sg_trace_free(&ref);
	assert_true(cut > 0);
	sg_trace_init(&t);
	r = read_like_socket(b.data, cut, 8192, 7, &t);
	assert_int_equal(r.rc, -1);
	assert_int_equal(r.err.code, SB_ERR_TRUNCATED);
	if (!strstr(r.err.msg, "PAGE_DATA"))
		fail_msg("truncation message does not name the record: [%s]", r.err.msg);
	assert_true(r.in_place > 0);
	assert_int_equal(sg_trace_count(&t, SB_EV_EPOCH_END), 0);
	sg_trace_free(&t);
	sb_buf_free(&b);
}

/* body_cb: same events; assembled bodies live in the caller's memory. */
static void caller_memory(const struct sg_opts *o, int refuse_odd)
{
	struct sb_buf b;
	struct sg_trace ref;
	int ref_rc = reference(o, &b, &ref);
	for (int k = 0; k < 30; k++) {
		struct ext x = { .refuse_odd = refuse_odd, .trim = k % 3 == 2 };
		struct sb_parser_config cfg = { .name = "t", .cb = ext_event,
						.body_cb = ext_body, .opaque = &x };
		struct run r;
		long d;

		sg_trace_init(&x.t);
		x.t.pause_every = k & 1;
		r = read_like_socket_cfg(b.data, b.len, k < 10 ? 65536 : k < 20 ? 4096 : 7,
					 500 + k, &x.t, &cfg);
		if (r.rc != ref_rc)
			fail_msg("run %d: rc %d, expected %d (%s)", k, r.rc, ref_rc, r.err.msg);
		d = sg_trace_diff(&ref, &x.t);
		if (d >= 0)
			fail_msg("run %d: event %ld differs (%zu vs %zu events)", k, d, ref.n, x.t.n);
		if (!x.given || x.used != x.given)
			fail_msg("run %d: %zu bodies given, %zu used", k, x.given, x.used);
		if (refuse_odd && x.asked < 2 * x.given - 1)
			fail_msg("run %d: asked %zu, given %zu", k, x.asked, x.given);
		free(x.mem);
		sg_trace_free(&x.t);
	}
	sg_trace_free(&ref);
	sb_buf_free(&b);
}

static void test_caller_memory_hvm(void **state)
{
	struct sg_opts o = { .dom = SB_DOM_HVM, .checkpoints = 3, .pages = 63 };

	(void)state;
	caller_memory(&o, 0);
}

static void test_caller_memory_pv_refusing(void **state)
{
	struct sg_opts o = { .dom = SB_DOM_PV, .checkpoints = 3, .pages = 63 };

	(void)state;
	caller_memory(&o, 1);
}

static void test_in_place_without_body(void **state)
{
	struct sg_trace t;
	struct sb_parser_config cfg = { .name = "t", .cb = sg_trace_cb, .opaque = &t };
	struct sb_parser *p;
	uint8_t *where = NULL;

	(void)state;
	sg_trace_init(&t);
	p = sb_parser_new(&cfg);
	assert_non_null(p);
	assert_int_equal(sb_parser_body_room(p, &where), 0);
	assert_int_equal(sb_parser_feed_in_place(p, 8), -1);
	assert_int_equal(sb_parser_error(p)->code, SB_ERR_ABORTED);
	assert_int_equal(sb_parser_feed(p, (const uint8_t *)"x", 1), -1);
	sb_parser_free(p);
	sg_trace_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hvm_remus),
		cmocka_unit_test(test_pv_remus),
		cmocka_unit_test(test_cut_in_place),
		cmocka_unit_test(test_in_place_without_body),
		cmocka_unit_test(test_caller_memory_hvm),
		cmocka_unit_test(test_caller_memory_pv_refusing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

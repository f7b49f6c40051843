/*
 * test_recv_engine.c - the receiver's state machine (src/recv/stream.c)
 * driven directly, as `standby replay` drives it: sample streams from
 * streamgen fed in random splits through sb_rstream_feed/eof, the null
 * target; native acks and the COLO back channel read from a pipe.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include "standby/recv.h"
#include "recv/listen.h"
#include "standby/writer.h"
#include "streamgen.h"

static void cfg_init(struct sb_recv_config *c)
{
	memset(c, 0, sizeof(*c));
	c->target = "null";
	c->max_epoch_bytes = 64 << 20;
	c->back = SB_BACK_NONE;
}

static int done_calls;
static void on_done(struct sb_rstream *s, void *o) { (void)s; (void)o; done_calls++; }

/* Feed data in random pieces (1 byte .. 3 KiB), then EOF unless finished. */
static struct sb_rstream *run(const struct sb_recv_config *cfg, const uint8_t *d, size_t len,
			      uint64_t seed, int out_fd, int eof)
{
	struct sb_rstream_owner owner = { on_done, NULL, NULL };
	struct sb_rstream *s = sb_rstream_new(cfg, "test", "test", -1, out_fd, &owner);
	size_t off = 0;

	assert_non_null(s);
	sb_rstream_start(s);
	while (off < len && !sb_rstream_finished(s)) {
		size_t n = (size_t)(sg_rand(&seed) % 3072) + 1;
		if (n > len - off)
			n = len - off;
		sb_rstream_feed(s, d + off, n);
		off += n;
	}
	if (eof)
		sb_rstream_eof(s);
	sb_rstream_reap(s);
	return s;
}

static void test_remus_splits(void **state)
{
	struct sg_opts o = { .checkpoints = 4 };
	struct sb_recv_config cfg;
	struct sb_buf b;
	(void)state;

	cfg_init(&cfg);
	sb_buf_init(&b);
	assert_int_equal(sg_stream(&b, &o), 0);
	for (uint64_t seed = 1; seed <= 20; seed++) {
		struct sb_rstream *s;

		done_calls = 0;
		s = run(&cfg, b.data, b.len, seed, -1, 1);
		assert_int_equal(sb_rstream_phase(s), SB_RP_ACTIVATED);
		assert_true(sb_rstream_has_committed(s));
		assert_int_equal(sb_rstream_committed(s), 3);
		assert_int_equal(sb_rstream_exit_status(s), 0);
		assert_int_equal(done_calls, 1);
		sb_rstream_free(s);
	}
	sb_buf_free(&b);
}

static void test_truncations(void **state)
{
	struct sg_opts o = { .checkpoints = 3 };
	struct sb_recv_config cfg;
	struct sb_buf b;
	size_t ends[3] = { 0 };
	unsigned found = 0;
	(void)state;

	cfg_init(&cfg);
	sb_buf_init(&b);
	assert_int_equal(sg_stream(&b, &o), 0);
	/* where each CHECKPOINT_END record ends: header {4, 0} at an 8-aligned offset */
	for (size_t i = 0; i + 8 <= b.len && found < 3; i += 8)
		if (sb_get_le32(b.data + i) == SB_LIBXL_CHECKPOINT_END && sb_get_le32(b.data + i + 4) == 0 &&
		    i >= 8 && sb_get_le32(b.data + i - 8) != SB_LIBXL_CHECKPOINT_END)
			ends[found++] = i + 8;
	assert_int_equal(found, 3);
	for (size_t cut = 1; cut < b.len; cut += 7) {
		struct sb_rstream *s = run(&cfg, b.data, cut, cut, -1, 1);
		int complete = (cut >= ends[0]) + (cut >= ends[1]) + (cut >= ends[2]);

		if (!complete) {
			assert_int_equal(sb_rstream_phase(s), SB_RP_FAILED);
			assert_false(sb_rstream_has_committed(s));
		} else {
			assert_int_equal(sb_rstream_phase(s), SB_RP_ACTIVATED);
			assert_int_equal(sb_rstream_committed(s), complete - 1);
		}
		sb_rstream_free(s);
	}
	sb_buf_free(&b);
}

static void test_until_and_bound(void **state)
{
	struct sg_opts o = { .checkpoints = 5, .pages = 8 };
	struct sb_recv_config cfg;
	struct sb_rstream *s;
	struct sb_buf b;
	char js[8192];
	(void)state;

	sb_buf_init(&b);
	assert_int_equal(sg_stream(&b, &o), 0);
	cfg_init(&cfg);
	cfg.has_until = 1;
	cfg.until_epoch = 2;
	s = run(&cfg, b.data, b.len, 9, -1, 0);
	assert_true(sb_rstream_finished(s));
	assert_int_equal(sb_rstream_phase(s), SB_RP_ACTIVATED);
	assert_int_equal(sb_rstream_committed(s), 2);
	sb_rstream_free(s);

	/* an epoch buffer bound smaller than one epoch: failover to epoch 0 */
	cfg_init(&cfg);
	cfg.max_epoch_bytes = 4096;
	s = run(&cfg, b.data, b.len, 5, -1, 1);
	assert_int_equal(sb_rstream_phase(s), SB_RP_ACTIVATED);
	assert_int_equal(sb_rstream_committed(s), 0);
	sb_rstream_status_json(s, js, sizeof(js));
	assert_non_null(strstr(js, "\"last_error\":\"epoch buffer full: "));
	sb_rstream_free(s);
	sb_buf_free(&b);
}

static void test_plain_and_garbage(void **state)
{
	struct sg_opts o = { .checkpoints = 0, .xl = 1 };
	struct sb_recv_config cfg;
	struct sb_rstream *s;
	struct sb_buf b;
	uint8_t junk[512];
	(void)state;

	sb_buf_init(&b);
	assert_int_equal(sg_stream(&b, &o), 0);
	cfg_init(&cfg);
	s = run(&cfg, b.data, b.len, 3, -1, 0);
	assert_int_equal(sb_rstream_phase(s), SB_RP_ACTIVATED);   /* END alone completes it */
	assert_int_equal(sb_rstream_committed(s), 0);
	assert_string_equal(sb_rstream_domain(s), "guest1");     /* c_info.name of sg_json */
	sb_rstream_free(s);

	memset(junk, 0x5a, sizeof(junk));
	s = run(&cfg, junk, sizeof(junk), 3, -1, 1);
	assert_int_equal(sb_rstream_phase(s), SB_RP_FAILED);
	assert_int_equal(sb_rstream_exit_status(s), 1);
	sb_rstream_free(s);
	sb_buf_free(&b);
}

static uint64_t hooked[16];
static unsigned nhooked;
static void hook(struct sb_rstream *s, uint64_t epoch, void *o)
{
	(void)s;
	(void)o;
	if (nhooked < 16)
		hooked[nhooked++] = epoch;
}

static void test_acks_and_hooks(void **state)
{
	struct sg_opts o = { .checkpoints = 4 };
	struct sb_recv_config cfg;
	struct sb_rstream_owner owner = { on_done, NULL, NULL };
	struct sb_rstream *s;
	struct sb_buf b;
	uint8_t acks[128];
	int p[2];
	(void)state;

	sb_buf_init(&b);
	assert_int_equal(sg_stream(&b, &o), 0);
	cfg_init(&cfg);
	cfg.back = SB_BACK_NATIVE;
	assert_int_equal(pipe(p), 0);
	s = sb_rstream_new(&cfg, "acks", "acks", -1, p[1], &owner);
	nhooked = 0;
	assert_int_equal(sb_rstream_on_commit(s, hook, NULL), 0);
	sb_rstream_feed(s, b.data, b.len);
	assert_int_equal(read(p[0], acks, sizeof(acks)), 64);
	for (unsigned i = 0; i < 4; i++) {
		assert_memory_equal(acks + 16 * i, "STBYACK1", 8);
		assert_int_equal(sb_get_le64(acks + 16 * i + 8), i);
		assert_int_equal(hooked[i], i);
	}
	assert_int_equal(nhooked, 4);
	sb_rstream_free(s);

	/* a back channel nobody reads: acks are dropped and counted, never block */
	{
		uint8_t fill[4096];
		int fl = fcntl(p[1], F_GETFL);

		fcntl(p[1], F_SETFL, fl | O_NONBLOCK);
		memset(fill, 0, sizeof(fill));
		while (write(p[1], fill, sizeof(fill)) > 0)
			;
		cfg.ack_queue_max = 32;
		s = sb_rstream_new(&cfg, "full", "full", -1, p[1], &owner);
		sb_rstream_feed(s, b.data, b.len);
		assert_int_equal(sb_rstream_committed(s), 3);
		assert_int_equal(sb_rstream_acks_dropped(s), 2);  /* 2 queued (32 bytes), 2 dropped */
		sb_rstream_free(s);
	}
	close(p[0]);
	close(p[1]);
	sb_buf_free(&b);
}

static void test_colo_back_channel(void **state)
{
	struct sg_opts o = { .checkpoints = 3, .colo = 1 };
	struct sb_recv_config cfg;
	struct sb_rstream_owner owner = { on_done, NULL, NULL };
	struct sb_rstream *s;
	struct sb_buf b, want;
	uint8_t got[4096];
	int p[2];
	(void)state;

	sb_buf_init(&b);
	sb_buf_init(&want);
	assert_int_equal(sg_stream(&b, &o), 0);
	assert_int_equal(sg_back_channel(&want, 2), 0);
	cfg_init(&cfg);
	cfg.back = SB_BACK_COLO;
	cfg.mode = SB_MODE_COLO;
	assert_int_equal(pipe(p), 0);
	s = sb_rstream_new(&cfg, "colo", "colo", -1, p[1], &owner);
	sb_rstream_feed(s, b.data, b.len);
	assert_int_equal(sb_rstream_committed(s), 2);
	/* sg_back_channel's dirty lists may carry pfns; compare the record sequence */
	{
		ssize_t n = read(p[0], got, sizeof(got));
		struct sb_buf mine;
		uint32_t seq[] = { SB_CKPT_SVM_READY, SB_CKPT_SVM_RESUMED };

		assert_true(n > 0);
		sb_buf_init(&mine);
		for (unsigned i = 0; i < 2; i++)
			sb_write_checkpoint_state(&mine, seq[i]);
		for (unsigned c = 0; c < 2; c++) {
			sb_write_checkpoint_state(&mine, SB_CKPT_SVM_SUSPENDED);
			sb_write_dirty_pfn_list(&mine, NULL, 0);
			for (unsigned i = 0; i < 2; i++)
				sb_write_checkpoint_state(&mine, seq[i]);
		}
		assert_int_equal((size_t)n, mine.len);
		assert_memory_equal(got, mine.data, mine.len);
		sb_buf_free(&mine);
	}
	sb_rstream_free(s);
	close(p[0]);
	close(p[1]);
	sb_buf_free(&b);
	sb_buf_free(&want);
}

static void test_helpers(void **state)
{
	uint64_t v, *pfns;
	uint32_t n;
	char out[80];
	(void)state;

	assert_int_equal(sb_parse_size("64M", &v), 0);
	assert_int_equal(v, 64ull << 20);
	assert_int_equal(sb_parse_size("1GiB", &v), 0);
	assert_int_equal(v, 1ull << 30);
	assert_int_equal(sb_parse_size("4096", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(sb_parse_size("12Q", &v), -1);
	assert_int_equal(sb_parse_size("-1", &v), -1);
	assert_int_equal(sb_parse_size("", &v), -1);
	assert_int_equal(sb_parse_pfn_list("1,5-7,0x10", &pfns, &n), 0);
	assert_int_equal(n, 5);
	assert_int_equal(pfns[0], 1);
	assert_int_equal(pfns[3], 7);
	assert_int_equal(pfns[4], 16);
	free(pfns);
	assert_int_equal(sb_parse_pfn_list("7-5", &pfns, &n), -1);
	assert_int_equal(sb_parse_pfn_list("1,,x", &pfns, &n), -1);
	sb_sanitize_name("../etc/passwd", out, sizeof(out));
	assert_string_equal(out, "_._etc_passwd");
	sb_sanitize_name(".hidden", out, sizeof(out));
	assert_string_equal(out, "_hidden");
	sb_sanitize_name("web-1.example_2", out, sizeof(out));
	assert_string_equal(out, "web-1.example_2");
}

static void test_allow(void **state)
{
	struct sb_allow a[3];
	struct sockaddr_in v4 = { .sin_family = AF_INET };
	struct sockaddr_in6 v6 = { .sin6_family = AF_INET6 };
	(void)state;

	assert_int_equal(sb_allow_parse("10.1.0.0/16", &a[0]), 0);
	assert_int_equal(sb_allow_parse("fd00::/8", &a[1]), 0);
	assert_int_equal(sb_allow_parse("192.168.7.9", &a[2]), 0);
	assert_int_equal(a[2].prefix, 32);
	assert_int_equal(sb_allow_parse("10.0.0.0/33", &a[0]) , -1);
	assert_int_equal(sb_allow_parse("10.0.0.0/", &a[0]), -1);
	assert_int_equal(sb_allow_parse("host.example", &a[0]), -1);
	assert_int_equal(sb_allow_parse("10.1.0.0/16", &a[0]), 0);

	inet_pton(AF_INET, "10.1.200.3", &v4.sin_addr);
	assert_true(sb_allow_match(a, 3, (struct sockaddr *)&v4));
	inet_pton(AF_INET, "10.2.0.1", &v4.sin_addr);
	assert_false(sb_allow_match(a, 3, (struct sockaddr *)&v4));
	inet_pton(AF_INET, "192.168.7.9", &v4.sin_addr);
	assert_true(sb_allow_match(a, 3, (struct sockaddr *)&v4));
	inet_pton(AF_INET, "192.168.7.8", &v4.sin_addr);
	assert_false(sb_allow_match(a, 3, (struct sockaddr *)&v4));
	inet_pton(AF_INET6, "fd12:3456::1", &v6.sin6_addr);
	assert_true(sb_allow_match(a, 3, (struct sockaddr *)&v6));
	inet_pton(AF_INET6, "fe80::1", &v6.sin6_addr);
	assert_false(sb_allow_match(a, 3, (struct sockaddr *)&v6));
	inet_pton(AF_INET6, "::ffff:10.1.2.3", &v6.sin6_addr);      /* IPv4-mapped */
	assert_true(sb_allow_match(a, 3, (struct sockaddr *)&v6));
	inet_pton(AF_INET6, "::ffff:10.9.2.3", &v6.sin6_addr);
	assert_false(sb_allow_match(a, 3, (struct sockaddr *)&v6));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_remus_splits),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_until_and_bound),
		cmocka_unit_test(test_plain_and_garbage),
		cmocka_unit_test(test_acks_and_hooks),
		cmocka_unit_test(test_colo_back_channel),
		cmocka_unit_test(test_helpers),
		cmocka_unit_test(test_allow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

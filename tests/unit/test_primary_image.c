/*
 * test_primary_image.c - the simulated primary's expectations agree with the
 * image target: a stream written by `standby primary` (crashed at a chosen
 * point), fed through the parser and the epoch buffer into image:DIR and
 * activated, must pass `standby verify DIR --expect FILE` at exactly the last
 * complete epoch.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "cmd/commands.h"
#include "primary/primary.h"
#include "standby/backend.h"
#include "standby/epoch.h"
#include "standby/parser.h"

struct drive {
	struct sb_target t;
	struct sb_epoch *ep;
	int committed;
	uint64_t last;
};

static int on_event(const struct sb_event *ev, void *opaque)
{
	struct drive *d = opaque;
	char err[512];

	if (ev->kind == SB_EV_RECORD) {
		const struct sb_record *r = &ev->u.rec;
		if (!d->committed)
			return d->t.ops->initial_record(&d->t, r, err, sizeof(err)) ? SB_CB_ABORT : 0;
		return sb_epoch_add(d->ep, r->layer, r->type, r->body, r->length) ? SB_CB_ABORT : 0;
	}
	if (ev->kind == SB_EV_EPOCH_END || ev->kind == SB_EV_END) {
		struct sb_commit_info ci = { .epoch = ev->kind == SB_EV_END ? 0 : ev->u.epoch.number };

		if (d->t.ops->commit(&d->t, d->committed ? d->ep : NULL, &ci, err, sizeof(err)))
			return SB_CB_ABORT;
		d->committed = 1;
		d->last = ci.epoch;
		sb_epoch_reset(d->ep, ci.epoch + 1);
	}
	return 0;
}

/* Replay the stream file into image:dir and activate; returns the last committed epoch. */
static uint64_t replay(const char *stream, const char *dir)
{
	struct drive d;
	struct sb_parser_config pc;
	struct sb_failover_info fi = { "eof", 0 };
	struct sb_parser *p;
	const char *arg;
	static uint8_t buf[1 << 20];
	char err[512], spec[512];
	FILE *f;
	size_t n;

	memset(&d, 0, sizeof(d));
	snprintf(spec, sizeof(spec), "image:%s", dir);
	d.t.ops = sb_target_lookup(spec, &arg);
	assert_non_null(d.t.ops);
	d.ep = sb_epoch_new(1ull << 30);
	d.t.info.stream = stream;
	d.t.info.domain = "test";
	d.t.info.mode = SB_MODE_ANY;
	assert_int_equal(d.t.ops->open(&d.t, arg, &d.t.info, err, sizeof(err)), 0);
	memset(&pc, 0, sizeof(pc));
	pc.name = stream;
	pc.cb = on_event;
	pc.opaque = &d;
	p = sb_parser_new(&pc);
	f = fopen(stream, "rb");
	assert_non_null(f);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		if (sb_parser_feed(p, buf, n) < 0)
			break;
	sb_parser_finish(p);
	fclose(f);
	assert_true(d.committed);
	fi.epoch = d.last;
	assert_int_equal(d.t.ops->activate(&d.t, &fi, err, sizeof(err)), 0);
	d.t.ops->close(&d.t);
	sb_parser_free(p);
	sb_epoch_free(d.ep);
	return d.last;
}

static int verify(const char *dir, const char *expect)
{
	char *argv[] = { "verify", (char *)dir, "--expect", (char *)expect, NULL };
	return cmd_verify(4, argv);
}

static void run_case(uint32_t type, enum pr_point at, uint64_t crash_epoch, int xl)
{
	char tmpl[] = "/tmp/test_primary_image.XXXXXX";
	char *base = mkdtemp(tmpl);
	char stream[256], expect[256], dir[256], bad[256], cmd[600];
	struct pr_config c;
	FILE *in, *out;
	char line[512];

	assert_non_null(base);
	snprintf(stream, sizeof(stream), "%s/stream", base);
	snprintf(expect, sizeof(expect), "%s/expect", base);
	snprintf(bad, sizeof(bad), "%s/expect-bad", base);
	snprintf(dir, sizeof(dir), "%s/replica", base);
	memset(&c, 0, sizeof(c));
	c.memory = 2ull << 20;
	c.dom_type = type;
	c.seed = 11;
	c.vcpus = 2;
	c.dirty_pages = 40;
	c.pattern = PR_HOT;
	c.mode = PR_REMUS;
	c.epochs = 6;
	c.xl = xl;
	c.name = "t";
	c.to = stream;
	c.crash_after_bytes = UINT64_MAX;
	c.crash_epoch = crash_epoch;
	c.crash_at = at;
	c.expect_path = expect;
	c.ack_timeout_ms = 100;
	c.wait_ms = 1000;
	c.quiet = 1;
	assert_int_equal(pr_run(&c), 0);

	assert_int_equal(replay(stream, dir), crash_epoch - 1);
	assert_int_equal(verify(dir, expect), 0);

	/* the same file with the last complete epoch's memory digest altered must fail */
	in = fopen(expect, "r");
	out = fopen(bad, "w");
	while (fgets(line, sizeof(line), in)) {
		char *m = strstr(line, " memory ");
		if (m && strtoull(line + 6, NULL, 10) == crash_epoch - 1)
			m[8] = m[8] == '0' ? '1' : '0';
		fputs(line, out);
	}
	fclose(in);
	fclose(out);
	assert_int_not_equal(verify(dir, bad), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	assert_int_equal(system(cmd), 0);
}

static void test_hvm_mid_pages(void **state) { (void)state; run_case(SB_DOM_HVM, PR_PT_MID_PAGES, 4, 0); }
static void test_hvm_mid_emulator_xl(void **state) { (void)state; run_case(SB_DOM_HVM, PR_PT_MID_EMULATOR, 3, 1); }
static void test_pv_before_checkpoint_end(void **state) { (void)state; run_case(SB_DOM_PV, PR_PT_BEFORE_CHECKPOINT_END, 5, 0); }
static void test_pv_after_checkpoint(void **state) { (void)state; run_case(SB_DOM_PV, PR_PT_AFTER_CHECKPOINT, 1, 0); }

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hvm_mid_pages),
		cmocka_unit_test(test_hvm_mid_emulator_xl),
		cmocka_unit_test(test_pv_before_checkpoint_end),
		cmocka_unit_test(test_pv_after_checkpoint),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

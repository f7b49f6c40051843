/*
 * test_targets.c - target lookup and the null target's counters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "standby/backend.h"
#include "standby/writer.h"

static void test_lookup(void **state)
{
	const char *arg = NULL;
	(void)state;

	assert_ptr_equal(sb_target_lookup("image:/srv/replica", &arg), &sb_target_image);
	assert_string_equal(arg, "/srv/replica");
	assert_ptr_equal(sb_target_lookup("image:a:b", &arg), &sb_target_image);
	assert_string_equal(arg, "a:b");
	assert_ptr_equal(sb_target_lookup("null", &arg), &sb_target_null);
	assert_string_equal(arg, "");
	assert_null(sb_target_lookup("xen", &arg));
	assert_null(sb_target_lookup("xen:domid=3", &arg));
	assert_null(sb_target_lookup("imagex:/d", &arg));
	assert_null(sb_target_lookup("nul", &arg));
	assert_null(sb_target_lookup("", &arg));
	assert_null(sb_target_lookup(NULL, &arg));
}

static void test_null_counts(void **state)
{
	struct sb_target t = { .ops = &sb_target_null };
	struct sb_buf b;
	struct sb_epoch *ep = sb_epoch_new(1 << 20);
	uint64_t e[2] = { sb_pfn_entry(1, SB_PT_NOTAB), sb_pfn_entry(2, SB_PT_XTAB) };
	uint8_t page[SB_PAGE_SIZE] = { 1 };
	struct sb_record rec = { .layer = SB_LAYER_LIBXC, .type = SB_LIBXC_PAGE_DATA };
	struct sb_commit_info ci = { .epoch = 0 };
	char err[128], status[512];
	(void)state;

	sb_buf_init(&b);
	assert_int_equal(sb_write_page_data(&b, e, 2, page, sizeof(page)), 0);
	rec.body = b.data + 8;
	rec.length = sb_get_le32(b.data + 4);
	rec.page_count = 2;
	assert_int_equal(t.ops->open(&t, "", &t.info, err, sizeof(err)), 0);
	assert_int_equal(t.ops->initial_record(&t, &rec, err, sizeof(err)), 0);
	assert_int_equal(t.ops->commit(&t, NULL, &ci, err, sizeof(err)), 0);
	sb_epoch_reset(ep, 1);
	assert_int_equal(sb_epoch_add(ep, SB_LAYER_LIBXC, SB_LIBXC_PAGE_DATA, rec.body, rec.length), 0);
	assert_int_equal(sb_epoch_add(ep, SB_LAYER_LIBXC, SB_LIBXC_CHECKPOINT, NULL, 0), 0);
	ci.epoch = 1;
	assert_int_equal(t.ops->commit(&t, ep, &ci, err, sizeof(err)), 0);
	assert_true(t.ops->status_json(&t, status, sizeof(status)) > 0);
	/* records: 1 initial + 1 raw in the epoch; pages 2 + 2; bytes (8+4120) * 2 + 8 */
	assert_string_equal(status, "{\"target\":\"null\",\"records\":2,\"pages\":4,\"bytes\":8264,"
			    "\"commits\":2,\"committed_epoch\":1,\"activated\":false}");
	assert_int_equal(t.ops->status_json(&t, status, 10), -1);
	t.ops->close(&t);
	sb_epoch_free(ep);
	sb_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_null_counts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

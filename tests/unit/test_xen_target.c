/*
 * test_xen_target.c - the xen target's open on any host: option errors and
 * refused stream kinds are reported before Xen is touched, and without Xen
 * the failing call is named with its errno.  A failed open leaves nothing to
 * free (run under ASan's leak check by tests/run-all.sh).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "standby/backend.h"

static int open_with(const char *spec, enum sb_mode mode, char *err, size_t errlen)
{
	const char *arg = NULL;
	struct sb_target t = { .ops = sb_target_lookup(spec, &arg) };

	assert_ptr_equal(t.ops, &sb_target_xen);
	t.info.stream = "test";
	t.info.domain = "guest";
	t.info.guest_type = "pvh";
	t.info.max_memkb = 131072;
	t.info.mode = mode;
	err[0] = 0;
	int rc = t.ops->open(&t, arg, &t.info, err, errlen);
	if (rc == 0)
		t.ops->close(&t);
	else
		assert_null(t.priv);
	return rc;
}

static void test_bad_options(void **state)
{
	char err[512];
	(void)state;

	assert_int_equal(open_with("xen:bogus", SB_MODE_REMUS, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bad option 'bogus'"));
	assert_int_equal(open_with("xen:memory=lots", SB_MODE_REMUS, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bad option 'memory=lots'"));
	assert_int_equal(open_with("xen:type=arm", SB_MODE_REMUS, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bad option 'type=arm'"));
	assert_int_equal(open_with("xen:vcpus=0", SB_MODE_REMUS, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "vcpus=0"));
}

static void test_colo_refused(void **state)
{
	char err[512];
	(void)state;

	assert_int_equal(open_with("xen:name=web", SB_MODE_COLO, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "COLO"));
}

static void test_without_xen(void **state)
{
	char err[512];
	(void)state;

	if (access("/dev/xen/privcmd", F_OK) == 0 || access("/proc/xen/privcmd", F_OK) == 0)
		skip();            /* a dom0: open would really work */
	assert_int_equal(open_with("xen:name=web,memory=256", SB_MODE_REMUS, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "xc_interface_open failed"));
	assert_non_null(strstr(err, "errno"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_colo_refused),
		cmocka_unit_test(test_without_xen),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

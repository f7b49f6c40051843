/*
 * test_xen_helper.c - the xen target's restore helper process on any host
 * (src/backend/xen_restore.c): fork + exec of a fresh image, the report
 * socket, the result of xc_domain_restore coming back as an error value with
 * the call and errno, the queue bound, and cleanup.  Without Xen the helper's
 * xc_interface_open fails, which is exactly the "libxc failed" path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include "standby/writer.h"
#include "backend/xen_restore.h"

static struct sb_xen_restore_args args(void)
{
	struct sb_xen_restore_args a = { .stream = "unit", .domid = 32000, .store_port = 1,
					 .console_port = 2, .stream_type = 1 };
	return a;
}

static void test_result_is_an_error_value(void **state)
{
	struct sb_xen_helper h;
	struct sb_xen_restore_args a = args();
	struct sb_xen_result res;
	char err[512];
	(void)state;

	assert_int_equal(sb_xen_helper_start(&h, &a, 1 << 20, err, sizeof(err)), 0);
	assert_true(h.pid > 0);
	assert_int_equal(sb_xen_helper_finish(&h, 20000, &res, err, sizeof(err)), -1);
	/* no Xen here: xc_interface_open fails in the helper; with Xen, the
	 * restore into a domain that does not exist fails */
	assert_non_null(strstr(err, "xc_domain_restore failed: rc -1, errno"));
	sb_xen_helper_stop(&h);
	assert_int_equal(h.pid, 0);
	assert_int_equal(h.data_fd, -1);
}

static void test_queue_bound_and_after_result(void **state)
{
	struct sb_xen_helper h;
	struct sb_xen_restore_args a = args();
	struct sb_buf b;
	char err[512];
	(void)state;

	assert_int_equal(sb_xen_helper_start(&h, &a, 4096, err, sizeof(err)), 0);
	sb_buf_init(&b);
	assert_int_equal(sb_buf_zero(&b, 8192), 0);
	/* over the bound: refused without blocking, the buffer stays the caller's */
	int rc = sb_xen_helper_queue(&h, &b, err, sizeof(err));
	assert_int_equal(rc, -1);
	assert_true(strstr(err, "behind") || strstr(err, "already returned") || strstr(err, "helper"));
	assert_int_equal(b.len, 8192);
	/* once the helper has given its result, queueing is an error of the stream */
	struct sb_xen_result res;
	assert_int_equal(sb_xen_helper_finish(&h, 20000, &res, err, sizeof(err)), -1);
	sb_buf_reset(&b);
	assert_int_equal(sb_buf_zero(&b, 16), 0);
	assert_int_equal(sb_xen_helper_queue(&h, &b, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "restore helper"));
	sb_buf_free(&b);
	sb_xen_helper_stop(&h);
}

static void test_stop_kills_and_reaps(void **state)
{
	struct sb_xen_helper h;
	struct sb_xen_restore_args a = args();
	char err[512];
	pid_t pid;
	(void)state;

	assert_int_equal(sb_xen_helper_start(&h, &a, 1 << 20, err, sizeof(err)), 0);
	pid = h.pid;
	sb_xen_helper_stop(&h);
	/* reaped: no such child any more */
	assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_result_is_an_error_value),
		cmocka_unit_test(test_queue_bound_and_after_result),
		cmocka_unit_test(test_stop_kills_and_reaps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_xen_log.c - libxc's own messages carry the stream name
 * (src/backend/xen_log.c): levels below progress dropped, errno text
 * appended, and a real libxc call that fails on this host (no Xen) logs
 * through it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "backend/xen_sys.h"
#include "backend/xen_log.h"

/* Run fn with stderr going to a temporary file; return what it wrote. */
static char *capture_stderr(void (*fn)(void *), void *arg)
{
	char path[] = "/tmp/standby-xenlog-XXXXXX";
	int fd = mkstemp(path), saved = dup(2);
	static char out[8192];
	ssize_t n;

	assert_true(fd >= 0 && saved >= 0);
	unlink(path);
	fflush(stderr);
	dup2(fd, 2);
	fn(arg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, out, sizeof(out) - 1, 0);
	close(fd);
	out[n > 0 ? n : 0] = 0;
	return out;
}

static void log_some(void *arg)
{
	xentoollog_logger *l = arg;

	xtl_log(l, XTL_DEBUG, -1, "xc", "debug %d", 1);
	xtl_log(l, XTL_ERROR, EINVAL, "xc", "bad record %s", "X");
	xtl_log(l, XTL_INFO, -1, NULL, "restored");
}

static void test_named_lines(void **state)
{
	xentoollog_logger *l = sb_xen_logger_new("unix:7");
	const char *out;
	(void)state;

	assert_non_null(l);
	out = capture_stderr(log_some, l);
	assert_string_equal(out, "standby: unix:7: xc: error: bad record X: Invalid argument\n"
			    "standby: unix:7: xen: info: restored\n");
	sb_xen_logger_free(l);
}

static void open_xc(void *arg)
{
	xentoollog_logger *l = arg;
	xc_interface *xch = xc_interface_open(l, l, 0);

	if (xch)
		xc_interface_close(xch);
}

/* With Xen this open succeeds silently; without it libxc explains why, named. */
static void test_libxc_uses_it(void **state)
{
	xentoollog_logger *l = sb_xen_logger_new("tcp:10.0.0.1:5000");
	const char *out;
	(void)state;

	assert_non_null(l);
	out = capture_stderr(open_xc, l);
	if (access("/proc/xen/privcmd", F_OK) == 0 || access("/dev/xen/privcmd", F_OK) == 0) {
		sb_xen_logger_free(l);
		skip();
	}
	if (!strstr(out, "standby: tcp:10.0.0.1:5000: ") || !strstr(out, "error"))
		fail_msg("libxc's message is not named by the stream: [%s]", out);
	sb_xen_logger_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_named_lines),
		cmocka_unit_test(test_libxc_uses_it),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

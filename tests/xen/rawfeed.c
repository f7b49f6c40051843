/*
 * rawfeed.c - diagnostic for the VM harness: drive the xen target's shell
 * and restore helper (xen_domain.c, xen_restore.c) straight from an xl
 * stream on stdin, without the parser, epoch buffer or receiver engine.
 * It walks record headers only, hands libxc the live copy as it arrives and
 * each later epoch at its CHECKPOINT_END, and fails over at EOF.  When it
 * works and `standby receive --target xen` does not, the fault is above the
 * target.
 *
 *   rawfeed NAME MEMORY_MIB [pvh|pv] < stream      (writes the xl banner first)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "backend/xen_sys.h"
#include "standby/format.h"
#include "standby/writer.h"
#include "backend/xen_domain.h"
#include "backend/xen_restore.h"

static int read_all(uint8_t *p, size_t n)
{
	while (n) {
		ssize_t r = read(0, p, n);
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Read a record (header + padded body) into b (appended).  -1 at EOF. */
static int read_record(struct sb_buf *b, uint32_t *type, uint32_t *len)
{
	uint8_t h[8];
	uint8_t *d;

	if (read_all(h, 8))
		return -1;
	*type = sb_get_le32(h);
	*len = sb_get_le32(h + 4);
	if (*len > (200u << 20))
		return -1;
	if (sb_buf_append(b, h, 8) || !(d = sb_buf_reserve(b, sb_pad8(*len))))
		return -1;
	if (read_all(d, sb_pad8(*len)))
		return -1;
	b->len += sb_pad8(*len);
	return 0;
}

int main(int argc, char **argv)
{
	struct sb_xen_domain dom;
	struct sb_xen_helper h;
	struct sb_xen_domain_params p = { 0 };
	struct sb_xen_restore_args a = { 0 };
	struct sb_xen_result res;
	struct sb_buf cur, skip;
	uint8_t xh[48], lh[16];
	char err[512];
	uint64_t epochs = 0;
	int started = 0, committed = 0;

	if (argc < 3)
		return 2;
	if (write(1, SB_XL_BANNER, SB_XL_BANNER_LEN) != SB_XL_BANNER_LEN)
		return 1;
	if (read_all(xh, 48))
		return 1;
	uint32_t optlen = sb_get_le32(xh + 44);
	uint8_t *opt = malloc(optlen);
	if (!opt || read_all(opt, optlen) || read_all(lh, 16))
		return 1;
	p.name = argv[1];
	p.max_memkb = strtoull(argv[2], NULL, 10) * 1024;
	p.vcpus = 1;
	p.kind = argc > 3 && !strcmp(argv[3], "pv") ? SB_XEN_PV : SB_XEN_PVH;
	if (sb_xen_domain_open(&dom, "rawfeed", err, sizeof(err))) {
		fprintf(stderr, "rawfeed: %s\n", err);
		return 1;
	}
	sb_buf_init(&cur);
	sb_buf_init(&skip);
	/* layer: 0 libxl before LIBXC_CONTEXT, 1 libxc, 2 libxl after CHECKPOINT,
	 * 3 libxl after libxc END */
	for (int layer = 0;;) {
		uint32_t type, len;

		if (layer == 1 && !started) {
			uint8_t *d = sb_buf_reserve(&cur, 40);
			if (!d || read_all(d, 40))
				break;
			cur.len += 40;
			started = 1;
			if (sb_xen_domain_create(&dom, &p, err, sizeof(err)))
				goto fail;
			a.stream = "stdin";
			a.domid = dom.domid;
			a.store_port = dom.store_port;
			a.console_port = dom.console_port;
			a.stream_type = XC_STREAM_REMUS;
					if (sb_xen_helper_start(&h, &a, 1ull << 30, err, sizeof(err)))
				goto fail;
			fprintf(stderr, "rawfeed: domain %u created, helper %d\n", dom.domid, (int)h.pid);
			continue;
		}
		if (layer == 1) {
			if (read_record(&cur, &type, &len))
				break;
			if (type == SB_LIBXC_CHECKPOINT)
				layer = 2;
			else if (type == SB_LIBXC_END)
				layer = 3;
			if (!committed && type != SB_LIBXC_CHECKPOINT &&
			    sb_xen_helper_queue(&h, &cur, err, sizeof(err)))
				goto fail;
			continue;
		}
		skip.len = 0;
		if (read_record(&skip, &type, &len))
			break;
		if (layer == 0 && type == SB_LIBXL_LIBXC_CONTEXT)
			layer = 1;
		else if (layer == 2 && type == SB_LIBXL_CHECKPOINT_END) {
			if (sb_xen_helper_queue(&h, &cur, err, sizeof(err)))
				goto fail;
			committed = 1;
			epochs++;
			fprintf(stderr, "rawfeed: epoch %llu committed\n", (unsigned long long)epochs - 1);
			layer = 1;
		} else if (type == SB_LIBXL_END) {
			committed = 1;
			break;
		}
	}
	if (!started || !committed) {
		fprintf(stderr, "rawfeed: stream ended before the first checkpoint\n");
		if (started)
			sb_xen_helper_stop(&h);
		sb_xen_domain_destroy(&dom);
		return 1;
	}
	fprintf(stderr, "rawfeed: EOF after %llu epochs: failing over\n", (unsigned long long)epochs);
	if (sb_xen_helper_finish(&h, 120000, &res, err, sizeof(err)) ||
	    sb_xen_domain_introduce(&dom, res.store_gfn, res.console_gfn, err, sizeof(err)) ||
	    sb_xen_domain_rename(&dom, err, sizeof(err)) ||
	    sb_xen_domain_unpause(&dom, err, sizeof(err)))
		goto fail;
	fprintf(stderr, "rawfeed: domain %u running as %s\n", dom.domid, dom.name);
	sb_xen_helper_stop(&h);
	return 0;
fail:
	fprintf(stderr, "rawfeed: %s\n", err);
	if (started)
		sb_xen_helper_stop(&h);
	sb_xen_domain_destroy(&dom);
	return 1;
}

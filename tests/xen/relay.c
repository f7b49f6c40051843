/*
 * relay.c - test tool for the Xen harness: copy an xl stream from stdin to
 * stdout and cut it inside a chosen epoch.
 *
 *   relay --cut-in-epoch N --status FILE --release FILE
 *
 * The stream is parsed as it passes (standby's own parser).  When the first
 * libxc PAGE_DATA record of epoch N is complete in the input, the relay
 * forwards bytes only up to the middle of that record, writes where it cut
 * to the status file, stops reading, waits until the release file exists
 * (so the test can first destroy the primary), then exits, closing its
 * output: the receiver sees EOF in the middle of epoch N (epoch 0 = the live
 * copy before the first checkpoint).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "standby/parser.h"

struct relay {
	uint64_t cut_epoch;
	uint64_t cut_at;            /* absolute offset; 0 = not decided */
	uint64_t rec_offset, rec_index;
	uint32_t rec_len, rec_pages;
	char where[256];
};

static int on_event(const struct sb_event *ev, void *opaque)
{
	struct relay *r = opaque;

	if (r->cut_at || ev->kind != SB_EV_RECORD)
		return SB_CB_CONTINUE;
	if (ev->u.rec.layer == SB_LAYER_LIBXC && ev->u.rec.type == SB_LIBXC_PAGE_DATA &&
	    ev->u.rec.epoch == r->cut_epoch) {
		r->cut_at = ev->u.rec.offset + SB_REC_HDR_LEN + ev->u.rec.length / 2;
		r->rec_offset = ev->u.rec.offset;
		r->rec_index = ev->u.rec.index;
		r->rec_len = ev->u.rec.length;
		r->rec_pages = ev->u.rec.page_count;
		return SB_CB_PAUSE;
	}
	return SB_CB_CONTINUE;
}

static int write_all(const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(1, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static uint8_t buf[1 << 16];
	struct relay r = { 0 };
	const char *status = NULL, *release = NULL;
	uint64_t fwd = 0;           /* bytes forwarded = bytes read and fed */
	struct sb_parser *p;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--cut-in-epoch"))
			r.cut_epoch = strtoull(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--status"))
			status = argv[i + 1];
		else if (!strcmp(argv[i], "--release"))
			release = argv[i + 1];
	}
	if (!status || !release) {
		fprintf(stderr, "usage: relay --cut-in-epoch N --status FILE --release FILE\n");
		return 2;
	}
	p = sb_parser_new(&(struct sb_parser_config){ .name = "relay", .kind = SB_STREAM_AUTO,
						       .mode = SB_MODE_ANY, .cb = on_event, .opaque = &r });
	if (!p)
		return 1;
	for (;;) {
		ssize_t n = read(0, buf, sizeof(buf));
		size_t off = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "relay: input ended at %llu before the cut\n", (unsigned long long)fwd);
			return 1;
		}
		while (off < (size_t)n && !r.cut_at) {
			ssize_t used = sb_parser_feed(p, buf + off, (size_t)n - off);
			if (used < 0) {
				fprintf(stderr, "relay: %s\n", sb_parser_error(p)->msg);
				return 1;
			}
			if (used == 0 && !r.cut_at)
				break;
			off += (size_t)used;
		}
		if (r.cut_at) {
			/* The record ends in this buffer; its middle may lie in bytes
			 * already forwarded: then cut right here, still inside it. */
			if (r.cut_at < fwd)
				r.cut_at = fwd;
			if (r.cut_at >= fwd + (uint64_t)n)
				r.cut_at = fwd + (uint64_t)n - 1;
			if (write_all(buf, (size_t)(r.cut_at - fwd)))
				return 1;
			break;
		}
		if (write_all(buf, (size_t)n))
			return 1;
		fwd += (uint64_t)n;
	}
	snprintf(r.where, sizeof(r.where),
		 "cut at offset %llu, inside record #%llu (libxc PAGE_DATA at %llu, %u bytes, %u pages) of epoch %llu\n",
		 (unsigned long long)r.cut_at, (unsigned long long)r.rec_index,
		 (unsigned long long)r.rec_offset, r.rec_len, r.rec_pages, (unsigned long long)r.cut_epoch);
	FILE *f = fopen(status, "w");
	if (f) {
		fputs(r.where, f);
		fclose(f);
	}
	fputs(r.where, stderr);
	while (access(release, F_OK) != 0)
		usleep(100000);
	sb_parser_free(p);
	return 0;
}

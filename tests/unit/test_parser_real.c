/*
 * test_parser_real.c - the parser against streams written by Xen 4.17
 * (the .xz files in $SHARED/streams): every record other than PAGE_DATA, with its
 * offset, layer, type, length and epoch, and every checkpoint's page count,
 * byte count and end offset must match the summary beside the stream.
 * Skipped when the streams or xz are not available.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "standby/parser.h"

struct line {
	char text[128];
};

struct lines {
	struct line *v;
	size_t n, cap;
};

static void add(struct lines *l, const char *s)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 256;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		assert_non_null(l->v);
	}
	snprintf(l->v[l->n++].text, sizeof(l->v[0].text), "%s", s);
}

struct seen {
	struct lines recs, ckpts;
	uint64_t libxl_hdr, libxc_hdr;
	int ended;
};

static int cb(const struct sb_event *ev, void *opaque)
{
	struct seen *s = opaque;
	char buf[128];

	switch (ev->kind) {
	case SB_EV_LIBXL_HEADER:
		s->libxl_hdr = ev->offset;
		break;
	case SB_EV_LIBXC_HEADER:
		s->libxc_hdr = ev->offset;
		break;
	case SB_EV_RECORD: {
		const struct sb_record *r = &ev->u.rec;
		if (r->layer == SB_LAYER_LIBXC && r->type == SB_LIBXC_PAGE_DATA)
			break;
		snprintf(buf, sizeof(buf), "%llu %llu %s %s %u", (unsigned long long)r->epoch,
			 (unsigned long long)r->offset, sb_layer_name(r->layer),
			 sb_record_name(r->layer, r->type), r->length);
		add(&s->recs, buf);
		break;
	}
	case SB_EV_EPOCH_END:
		snprintf(buf, sizeof(buf), "%llu %llu %llu %llu", (unsigned long long)ev->u.epoch.number,
			 (unsigned long long)ev->u.epoch.pages, (unsigned long long)ev->u.epoch.bytes,
			 (unsigned long long)(ev->offset + ev->u.epoch.bytes));
		add(&s->ckpts, buf);
		break;
	case SB_EV_END:
		s->ended = 1;
		break;
	default:
		break;
	}
	return SB_CB_CONTINUE;
}

/* Summary lines, normalised like cb() does. */
static void read_summary(const char *path, struct seen *want, uint64_t *total)
{
	FILE *f = fopen(path, "r");
	char line[512], layer[16], name[64];
	unsigned long long e, off, a, b, c, d;
	unsigned len;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char buf[128];
		if (sscanf(line, " [ %llu] @ %llu %15s %63s len=%u", &e, &off, layer, name, &len) == 5) {
			snprintf(buf, sizeof(buf), "%llu %llu %s %s %u", e, off, layer, name, len);
			add(&want->recs, buf);
		} else if (sscanf(line, " checkpoint %llu: %llu PAGE_DATA recs, %llu pages, %llu bytes, ends @%llu",
				  &a, &b, &c, &d, &off) == 5) {
			snprintf(buf, sizeof(buf), "%llu %llu %llu %llu", a, c, d, off);
			add(&want->ckpts, buf);
		} else if (sscanf(line, "libxl header @%llu", &off) == 1) {
			want->libxl_hdr = off;
		} else if (sscanf(line, "libxc image header @%llu", &off) == 1) {
			want->libxc_hdr = off;
		} else if (strstr(line, "stream ") && sscanf(strstr(line, "stream "), "stream %llu bytes", &off) == 1) {
			*total = off;
		} else if (sscanf(line, "libxl END @%llu", &off) == 1) {
			*total = off;
		}
	}
	fclose(f);
}

static int contains(const struct lines *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].text, s))
			return 1;
	return 0;
}

static void check_stream(const char *base, int want_finish)
{
	const char *shared = getenv("SHARED");
	char xz[512], summary[512], cmd[1100];
	struct seen got = { 0 }, want = { 0 };
	struct sb_parser_config cfg = { .name = base, .cb = cb, .opaque = &got };
	struct sb_parser *p;
	uint64_t total = 0;
	uint8_t *buf;
	size_t n;
	FILE *in;

	snprintf(xz, sizeof(xz), "%s/streams/%s.xz", shared ? shared : "/work/shared", base);
	/* summary names drop the stream's extension */
	{
		char stem[256];
		snprintf(stem, sizeof(stem), "%s", base);
		*strrchr(stem, '.') = 0;
		snprintf(summary, sizeof(summary), "%s/streams/%s.summary.txt",
			 shared ? shared : "/work/shared", stem);
	}
	if (access(xz, R_OK) || access(summary, R_OK) || system("command -v xz >/dev/null 2>&1")) {
		printf("skipping %s: stream, summary or xz not available\n", base);
		skip();
	}
	read_summary(summary, &want, &total);
	assert_true(want.recs.n > 0);
	snprintf(cmd, sizeof(cmd), "xz -dc '%s'", xz);
	in = popen(cmd, "r");
	assert_non_null(in);
	buf = malloc(1 << 20);
	assert_non_null(buf);
	p = sb_parser_new(&cfg);
	while ((n = fread(buf, 1, 1 << 20, in)) > 0) {
		ssize_t r = sb_parser_feed(p, buf, n);
		if (r < 0)
			fail_msg("%s", sb_parser_error(p)->msg);
		assert_int_equal((size_t)r, n);        /* nothing follows END in these files */
	}
	assert_int_equal(pclose(in), 0);
	assert_int_equal(sb_parser_finish(p), want_finish);
	assert_int_equal(sb_parser_offset(p), total);
	assert_int_equal(got.libxl_hdr, want.libxl_hdr);
	assert_int_equal(got.libxc_hdr, want.libxc_hdr);
	/* every record the summary lists, in order, and no other */
	assert_int_equal(got.recs.n, want.recs.n);
	for (size_t i = 0; i < got.recs.n; i++)
		assert_string_equal(got.recs.v[i].text, want.recs.v[i].text);
	/* the summary lists some checkpoints ("..."): each must match ours */
	assert_true(want_finish == 0 || want.ckpts.n > 0);
	for (size_t i = 0; i < want.ckpts.n; i++)
		if (!contains(&got.ckpts, want.ckpts.v[i].text))
			fail_msg("checkpoint \"%s\" not found", want.ckpts.v[i].text);
	sb_parser_free(p);
	free(buf);
	free(got.recs.v);
	free(got.ckpts.v);
	free(want.recs.v);
	free(want.ckpts.v);
}

static void test_xl_save_pv(void **state)
{
	(void)state;
	check_stream("xl-save-pv-128M.xlsave", 0);
}

static void test_xl_remus_hvm(void **state)
{
	(void)state;
	check_stream("xl-remus-pvh-128M.fwd", 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xl_save_pv),
		cmocka_unit_test(test_xl_remus_hvm),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

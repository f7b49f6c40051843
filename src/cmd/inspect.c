/*
 * inspect.c - `standby inspect [FILE|-]`: check a migration stream and
 * describe it: preamble, headers, one line per record, one per epoch, and a
 * verdict.  Exit 0 when valid, 1 when invalid, 2 on usage errors.
 *
 * A checkpointed (Remus/COLO) stream never ends with END: it stops where the
 * primary stopped.  It is valid when at least one epoch is complete; the bytes
 * of an incomplete last epoch are reported, never hidden.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cmd/commands.h"
#include "util/json.h"
#include "standby/parser.h"

enum out_style { OUT_TEXT, OUT_JSON, OUT_QUIET };

struct inspect {
	enum out_style style;
	FILE *out;
	uint64_t records, skipped;
	uint64_t last_epoch_end;        /* offset after the last CHECKPOINT_END */
	int checkpointed;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: standby inspect [OPTIONS] [FILE|-]\n\n"
		"Check a Xen migration v2 stream and describe it: an xl save file, a bare\n"
		"libxl v2 stream, a bare libxc stream, or a recorded Remus or COLO stream\n"
		"(standby receive/serve --record). Reads stdin when FILE is - or absent.\n\n"
		"  --json                one JSON object per line\n"
		"  --quiet               print the verdict only\n"
		"  --mode MODE           require plain, remus or colo (default: any)\n"
		"  --max-libxl-record N  cap on libxl record bodies in bytes (default 128 MiB)\n"
		"  --max-pfn N           highest acceptable pfn (default 0xffffffff)\n"
		"  -h, --help            this text\n\n"
		"Exit status: 0 valid, 1 invalid (the error on stderr), 2 usage error.\n"
		"A checkpointed stream is valid when at least one epoch is complete; the\n"
		"bytes of an incomplete last epoch are reported in the verdict.\n");
}

static void text_record(struct inspect *in, const struct sb_record *r)
{
	const char *name = sb_record_name(r->layer, r->type);
	char tname[32];

	if (!name || r->skipped) {
		snprintf(tname, sizeof(tname), "%s0x%08" PRIx32, r->skipped ? "optional " : "", r->type);
		name = tname;
	}
	fprintf(in->out, "@%12" PRIu64 " %-5s %-26s len %-9" PRIu32 " epoch %" PRIu64,
		r->offset, sb_layer_name(r->layer), name, r->length, r->epoch);
	if (r->layer == SB_LAYER_LIBXC && r->type == SB_LIBXC_PAGE_DATA)
		fprintf(in->out, "  pages %" PRIu32 " (%" PRIu32 " with data) pfn %#" PRIx64 "-%#" PRIx64,
			r->page_count, r->data_pages, r->pfn_min, r->pfn_max);
	if (r->layer == SB_LAYER_LIBXL && r->type == SB_LIBXL_CHECKPOINT_STATE && r->length >= 4) {
		uint32_t id = sb_get_le32(r->body);
		const char *s = sb_checkpoint_state_name(id);
		fprintf(in->out, "  %s", s ? s : "?");
	}
	if (r->skipped)
		fprintf(in->out, "  (skipped: unknown optional record)");
	fputc('\n', in->out);
}

static void json_record(struct inspect *in, const struct sb_record *r)
{
	const char *name = sb_record_name(r->layer, r->type);

	fprintf(in->out, "{\"event\":\"record\",\"offset\":%" PRIu64 ",\"index\":%" PRIu64
		",\"layer\":\"%s\",\"type\":%" PRIu32 ",\"name\":",
		r->offset, r->index, sb_layer_name(r->layer), r->type);
	sb_json_string(in->out, name && !r->skipped ? name : "unknown");
	fprintf(in->out, ",\"length\":%" PRIu32 ",\"epoch\":%" PRIu64 ",\"skipped\":%s",
		r->length, r->epoch, r->skipped ? "true" : "false");
	if (r->layer == SB_LAYER_LIBXC && r->type == SB_LIBXC_PAGE_DATA)
		fprintf(in->out, ",\"pages\":%" PRIu32 ",\"data_pages\":%" PRIu32
			",\"pfn_min\":%" PRIu64 ",\"pfn_max\":%" PRIu64,
			r->page_count, r->data_pages, r->pfn_min, r->pfn_max);
	fprintf(in->out, "}\n");
}

static void print_preamble(struct inspect *in, const struct sb_event *ev)
{
	const char *name = ev->u.preamble.name;
	const char *type = ev->u.preamble.guest_type;

	if (in->style == OUT_JSON) {
		fprintf(in->out, "{\"event\":\"preamble\",\"offset\":%" PRIu64 ",\"config_len\":%" PRIu32
			",\"domain\":", ev->offset, ev->u.preamble.config_len);
		sb_json_string(in->out, name);
		fprintf(in->out, ",\"guest_type\":");
		sb_json_string(in->out, type);
		fprintf(in->out, ",\"max_memkb\":%" PRIu64 ",\"max_vcpus\":%" PRIu32 "}\n",
			ev->u.preamble.max_memkb, ev->u.preamble.max_vcpus);
		return;
	}
	fprintf(in->out, "preamble: JSON config, %" PRIu32 " bytes; domain \"%s\", type %s, "
		"%" PRIu64 " KiB, %" PRIu32 " vCPUs\n", ev->u.preamble.config_len,
		name ? name : "(none)", type ? type : "(unknown)", ev->u.preamble.max_memkb,
		ev->u.preamble.max_vcpus);
}

static void print_header(struct inspect *in, const struct sb_event *ev)
{
	int json = in->style == OUT_JSON;

	switch (ev->kind) {
	case SB_EV_XL_HEADER:
		if (json)
			fprintf(in->out, "{\"event\":\"xl_header\",\"offset\":%" PRIu64
				",\"mandatory_flags\":%" PRIu32 ",\"optional_flags\":%" PRIu32
				",\"optional_data_len\":%" PRIu32 "}\n", ev->offset,
				ev->u.xl.mandatory_flags, ev->u.xl.optional_flags,
				ev->u.xl.optional_data_len);
		else
			fprintf(in->out, "xl header @%" PRIu64 ": mandatory flags %#" PRIx32
				" (%s%s), optional flags %#" PRIx32 ", optional data %" PRIu32 " bytes\n",
				ev->offset, ev->u.xl.mandatory_flags,
				ev->u.xl.mandatory_flags & SB_XL_MFLAG_JSON ? "JSON config, " : "",
				ev->u.xl.mandatory_flags & SB_XL_MFLAG_V2 ? "stream v2" : "legacy",
				ev->u.xl.optional_flags, ev->u.xl.optional_data_len);
		break;
	case SB_EV_LIBXL_HEADER:
		if (json)
			fprintf(in->out, "{\"event\":\"libxl_header\",\"offset\":%" PRIu64
				",\"version\":%" PRIu32 ",\"options\":%" PRIu32 "}\n",
				ev->offset, ev->u.libxl_hdr.version, ev->u.libxl_hdr.options);
		else
			fprintf(in->out, "libxl header @%" PRIu64 ": version %" PRIu32 ", options %#" PRIx32 "\n",
				ev->offset, ev->u.libxl_hdr.version, ev->u.libxl_hdr.options);
		break;
	case SB_EV_LIBXC_HEADER: {
		const char *t = sb_domain_type_name(ev->u.libxc_hdr.domain_type);
		if (json)
			fprintf(in->out, "{\"event\":\"libxc_header\",\"offset\":%" PRIu64
				",\"version\":%" PRIu32 ",\"domain_type\":\"%s\",\"page_shift\":%u"
				",\"xen_major\":%" PRIu32 ",\"xen_minor\":%" PRIu32 "}\n",
				ev->offset, ev->u.libxc_hdr.version, t ? t : "?",
				ev->u.libxc_hdr.page_shift, ev->u.libxc_hdr.xen_major,
				ev->u.libxc_hdr.xen_minor);
		else
			fprintf(in->out, "libxc header @%" PRIu64 ": version %" PRIu32 ", %s guest, "
				"page shift %u, written by Xen %" PRIu32 ".%" PRIu32 "\n",
				ev->offset, ev->u.libxc_hdr.version, t ? t : "?",
				ev->u.libxc_hdr.page_shift, ev->u.libxc_hdr.xen_major,
				ev->u.libxc_hdr.xen_minor);
		break;
	}
	default:
		break;
	}
}

static void print_epoch(struct inspect *in, const struct sb_event *ev)
{
	if (in->style == OUT_JSON)
		fprintf(in->out, "{\"event\":\"epoch\",\"epoch\":%" PRIu64 ",\"pages\":%" PRIu64
			",\"data_pages\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"records\":%" PRIu64
			",\"end_offset\":%" PRIu64 "}\n", ev->u.epoch.number, ev->u.epoch.pages,
			ev->u.epoch.data_pages, ev->u.epoch.bytes, ev->u.epoch.records, in->last_epoch_end);
	else
		fprintf(in->out, "epoch %" PRIu64 " complete: %" PRIu64 " pages (%" PRIu64
			" with data), %" PRIu64 " bytes, %" PRIu64 " records, ends @%" PRIu64 "\n",
			ev->u.epoch.number, ev->u.epoch.pages, ev->u.epoch.data_pages,
			ev->u.epoch.bytes, ev->u.epoch.records, in->last_epoch_end);
}

static int on_event(const struct sb_event *ev, void *opaque)
{
	struct inspect *in = opaque;

	switch (ev->kind) {
	case SB_EV_RECORD:
		in->records++;
		in->skipped += ev->u.rec.skipped != 0;
		if (ev->u.rec.layer == SB_LAYER_LIBXC && ev->u.rec.type == SB_LIBXC_CHECKPOINT)
			in->checkpointed = 1;
		if (in->style == OUT_TEXT)
			text_record(in, &ev->u.rec);
		else if (in->style == OUT_JSON)
			json_record(in, &ev->u.rec);
		break;
	case SB_EV_EPOCH_END:
		in->last_epoch_end = ev->offset + ev->u.epoch.bytes;
		if (in->style != OUT_QUIET)
			print_epoch(in, ev);
		break;
	case SB_EV_PREAMBLE:
		if (in->style != OUT_QUIET)
			print_preamble(in, ev);
		break;
	case SB_EV_END:
		break;
	default:
		if (in->style != OUT_QUIET)
			print_header(in, ev);
		break;
	}
	return SB_CB_CONTINUE;
}

static int parse_mode(const char *s, enum sb_mode *mode)
{
	if (!strcmp(s, "plain"))
		*mode = SB_MODE_PLAIN;
	else if (!strcmp(s, "remus"))
		*mode = SB_MODE_REMUS;
	else if (!strcmp(s, "colo"))
		*mode = SB_MODE_COLO;
	else if (!strcmp(s, "any"))
		*mode = SB_MODE_ANY;
	else
		return -1;
	return 0;
}

static const char *mode_word(const struct sb_parser *p)
{
	switch (sb_parser_seen_mode(p)) {
	case SB_MODE_COLO: return "COLO";
	case SB_MODE_REMUS: return "Remus";
	default: return "plain";
	}
}

/* The verdict line, and the exit status. */
static int verdict(struct inspect *in, struct sb_parser *p, int finish_rc, uint64_t total)
{
	const struct sb_error *e = sb_parser_error(p);
	uint64_t epochs = sb_parser_epochs_complete(p);
	uint64_t partial = total - (epochs ? in->last_epoch_end : 0);
	int valid;
	char line[1024];

	if (finish_rc == 0) {
		valid = 1;
		snprintf(line, sizeof(line), "valid %s stream: complete (END), %" PRIu64 " records, %" PRIu64
			 " bytes", mode_word(p), in->records, total);
	} else if (finish_rc == 1) {
		valid = 1;
		snprintf(line, sizeof(line), "valid %s stream: %" PRIu64 " complete epochs, 0 bytes of an "
			 "incomplete epoch; %" PRIu64 " records, %" PRIu64 " bytes",
			 mode_word(p), epochs, in->records, total);
	} else if (e->code == SB_ERR_TRUNCATED && epochs > 0) {
		valid = 1;
		snprintf(line, sizeof(line), "valid %s stream: %" PRIu64 " complete epochs, %" PRIu64
			 " bytes of an incomplete epoch (%s); %" PRIu64 " bytes", mode_word(p),
			 epochs, partial, e->msg, total);
	} else {
		valid = 0;
		snprintf(line, sizeof(line), "invalid stream: %s [%s]; %" PRIu64
			 " complete epochs before it", e->msg, sb_err_name(e->code), epochs);
	}
	if (in->style == OUT_JSON) {
		fprintf(in->out, "{\"event\":\"verdict\",\"valid\":%s,\"mode\":\"%s\",\"epochs\":%" PRIu64
			",\"incomplete_bytes\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"records\":%" PRIu64
			",\"skipped\":%" PRIu64 ",\"complete\":%s,\"message\":",
			valid ? "true" : "false", mode_word(p), epochs,
			finish_rc >= 0 ? 0 : partial, total, in->records, in->skipped,
			finish_rc == 0 ? "true" : "false");
		sb_json_string(in->out, line);
		if (!valid) {
			fprintf(in->out, ",\"error\":{\"code\":\"%s\",\"offset\":%" PRIu64, sb_err_name(e->code), e->offset);
			if (e->has_record)
				fprintf(in->out, ",\"record\":%" PRIu64 ",\"layer\":\"%s\",\"type\":%" PRIu32,
					e->record_index, sb_layer_name(e->layer), e->type);
			fprintf(in->out, "}");
		}
		fprintf(in->out, "}\n");
	} else {
		fprintf(in->out, "verdict: %s\n", line);
	}
	if (!valid)
		fprintf(stderr, "standby inspect: %s\n", e->msg);
	return valid ? 0 : 1;
}

/* Feed the whole input; returns finish()'s result, or -1 on a parse error. */
static int run(struct sb_parser *p, int fd, const char *name, uint64_t *total)
{
	enum { CHUNK = 1 << 20 };
	uint8_t *buf = malloc(CHUNK);
	int rc = -1;

	*total = 0;
	if (!buf) {
		sb_parser_fail(p, SB_ERR_NOMEM, "%s: out of memory", name);
		return -1;
	}
	for (;;) {
		ssize_t n = read(fd, buf, CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			sb_parser_fail(p, SB_ERR_TRUNCATED, "%s: read error at offset %" PRIu64 ": %s",
				       name, *total, strerror(errno));
			break;
		}
		if (n == 0) {
			rc = sb_parser_finish(p);
			break;
		}
		*total += (uint64_t)n;
		ssize_t used = sb_parser_feed(p, buf, (size_t)n);
		if (used < 0)
			break;
		if ((size_t)used < (size_t)n) {
			/* the stream ended (END) before the input: bytes after END are an error */
			sb_parser_feed(p, buf + used, (size_t)n - (size_t)used);
			break;
		}
	}
	free(buf);
	return rc;
}

int cmd_inspect(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "mode", required_argument, NULL, 'm' },
		{ "max-libxl-record", required_argument, NULL, 'L' },
		{ "max-pfn", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct inspect in = { .style = OUT_TEXT, .out = stdout };
	struct sb_parser_config cfg = { .kind = SB_STREAM_AUTO, .mode = SB_MODE_ANY };
	const char *path = "-";
	uint64_t total;
	int c, fd, rc;
	char *end;

	optind = 1;
	while ((c = getopt_long(argc, argv, "jqm:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': in.style = OUT_JSON; break;
		case 'q': in.style = OUT_QUIET; break;
		case 'm':
			if (parse_mode(optarg, &cfg.mode)) {
				fprintf(stderr, "standby inspect: --mode: expected plain, remus, colo or any, got '%s'\n", optarg);
				return 2;
			}
			break;
		case 'L':
			errno = 0;
			cfg.libxl_max_record = (uint32_t)strtoul(optarg, &end, 0);
			if (errno || *end || !cfg.libxl_max_record) {
				fprintf(stderr, "standby inspect: --max-libxl-record: bad size '%s'\n", optarg);
				return 2;
			}
			break;
		case 'P':
			errno = 0;
			cfg.max_pfn = strtoull(optarg, &end, 0);
			if (errno || *end || !cfg.max_pfn) {
				fprintf(stderr, "standby inspect: --max-pfn: bad number '%s'\n", optarg);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (argc - optind > 1) {
		fprintf(stderr, "standby inspect: one input at most\n");
		usage(stderr);
		return 2;
	}
	if (optind < argc)
		path = argv[optind];
	if (!strcmp(path, "-")) {
		fd = STDIN_FILENO;
		cfg.name = "stdin";
	} else {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "standby inspect: %s: %s\n", path, strerror(errno));
			return 1;
		}
		cfg.name = path;
	}
	cfg.cb = on_event;
	cfg.opaque = &in;
	struct sb_parser *p = sb_parser_new(&cfg);
	if (!p) {
		fprintf(stderr, "standby inspect: out of memory\n");
		return 1;
	}
	rc = run(p, fd, cfg.name, &total);
	rc = verdict(&in, p, rc, total);
	sb_parser_free(p);
	if (fd != STDIN_FILENO)
		close(fd);
	fflush(stdout);
	return rc;
}

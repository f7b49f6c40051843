/*
 * fuzz_parser.c - libFuzzer target for the stream parser.
 *
 * Input: one control byte, then the stream.
 *   control bits 0-1: kind (AUTO, COLO_BACK, XL, LIBXL)
 *           bits 2-3: mode (ANY, PLAIN, REMUS, COLO)
 *           bits 4-7: seed for the feed splits and for pausing callbacks
 * The stream is fed in pieces derived from the seed and the data, the
 * callback touches every body byte and walks what the decoders walk, and
 * finish() is called.  For half of the seeds split bodies may go to caller
 * memory (body_cb, exactly the size asked, so any overrun is caught) and
 * pieces are read in place (body_room / feed_in_place).  Nothing may crash, leak or read out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "standby/parser.h"
#include "standby/records.h"

static volatile uint64_t sink;

struct fstate {
	uint32_t rng;
	int pause_mask;
	uint64_t sum;
	int paused;
	int ended;
	int use_ext;
	uint8_t *ext;
};

static uint32_t next(struct fstate *s)
{
	s->rng = s->rng * 1103515245u + 12345u;
	return s->rng >> 8;
}

static int page_cb(uint64_t pfn, unsigned type, const uint8_t *page, void *opaque)
{
	uint64_t *sum = opaque;

	*sum += pfn + type + (page ? page[0] + page[SB_PAGE_SIZE - 1] : 0);
	return 0;
}

static int cb(const struct sb_event *ev, void *opaque)
{
	struct fstate *s = opaque;

	if (ev->kind == SB_EV_RECORD) {
		const struct sb_record *r = &ev->u.rec;
		if ((r->length == 0) != (r->body == NULL))
			abort();
		for (uint32_t i = 0; i < r->length; i++)
			s->sum += r->body[i];
		if (r->layer == SB_LAYER_LIBXC && r->type == SB_LIBXC_PAGE_DATA)
			sb_page_data_foreach(r->body, r->length, page_cb, &s->sum);
		if (r->layer == SB_LAYER_LIBXC && r->type == SB_LIBXC_X86_TSC_INFO) {
			struct sb_tsc_info t;
			sb_decode_tsc_info(r->body, &t);
			s->sum += t.khz;
		}
	} else if (ev->kind == SB_EV_PREAMBLE && ev->u.preamble.json) {
		s->sum += strlen(ev->u.preamble.json);
		if (ev->u.preamble.name)
			s->sum += strlen(ev->u.preamble.name);
	} else if (ev->kind == SB_EV_END) {
		s->ended = 1;
	}
	s->paused = s->pause_mask && (next(s) & 7) == 0;
	return s->paused ? SB_CB_PAUSE : SB_CB_CONTINUE;
}

static uint8_t *body_cb(const struct sb_record *r, uint32_t need, void *opaque)
{
	struct fstate *s = opaque;

	if (r->body || !s->use_ext || (next(s) & 1))
		return NULL;
	free(s->ext);
	s->ext = malloc(need);
	return s->ext;
}

/* One piece, fed or (sometimes) read in place into the body being
 * assembled; *n is cut to the room there. */
static ssize_t feed_piece(struct sb_parser *p, struct fstate *s, const uint8_t *d, size_t *n)
{
	uint8_t *where;
	size_t room;

	if (!s->use_ext || (next(s) & 1) || !(room = sb_parser_body_room(p, &where)))
		return sb_parser_feed(p, d, *n);
	if (*n > room)
		*n = room;
	memcpy(where, d, *n);
	return sb_parser_feed_in_place(p, *n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum sb_stream_kind kinds[4] = {
		SB_STREAM_AUTO, SB_STREAM_COLO_BACK, SB_STREAM_XL, SB_STREAM_LIBXL,
	};
	struct sb_parser_config cfg;
	struct sb_parser *p;
	struct fstate s;
	size_t pos = 0;

	if (size < 1)
		return 0;
	memset(&s, 0, sizeof(s));
	s.rng = (uint32_t)(data[0] >> 4) * 2654435761u + (uint32_t)size;
	s.pause_mask = data[0] & 0x80;
	memset(&cfg, 0, sizeof(cfg));
	cfg.name = "fuzz";
	cfg.kind = kinds[data[0] & 3];
	cfg.mode = (enum sb_mode)((data[0] >> 2) & 3);
	cfg.libxl_max_record = 1u << 20;
	cfg.config_max = 1u << 16;
	cfg.max_pfn = (data[0] & 0x40) ? 0xfffff : 0;
	cfg.cb = cb;
	cfg.body_cb = body_cb;
	cfg.opaque = &s;
	s.use_ext = next(&s) & 1;
	data++;
	size--;

	p = sb_parser_new(&cfg);
	if (!p)
		return 0;
	while (pos < size && !s.ended) {
		size_t piece = 1 + next(&s) % (size - pos < 9000 ? size - pos : 9000);
		ssize_t r;

		if ((next(&s) & 3) == 0)
			piece = size - pos;
		s.paused = 0;
		r = feed_piece(p, &s, data + pos, &piece);
		if (r < 0) {
			if (sb_parser_feed(p, data, size) != -1)       /* errors stick */
				abort();
			break;
		}
		if ((size_t)r > piece)
			abort();
		pos += (size_t)r;
		if ((size_t)r < piece && !s.paused && !s.ended && !sb_parser_done(p))
			abort();        /* stopped for no reason */
	}
	if (sb_parser_finish(p) == 0 && !sb_parser_done(p) && cfg.kind != SB_STREAM_COLO_BACK)
		abort();
	if (sb_parser_offset(p) > size)
		abort();
	sb_parser_free(p);
	free(s.ext);
	sink = s.sum;
	return 0;
}

/*
 * parser.c - push parser for Xen migration v2 streams (see parser.h).
 *
 * Two state variables drive it.  The byte state (enum sb_pstate) says which
 * item the next bytes belong to; the record position (enum sb_where) says how
 * the next record header is read and which records may come next.
 *
 * Event chains (arrows are byte-state transitions; [] optional):
 *
 *  AUTO:   DETECT --"Xen save"--> XL_HDR
 *                 --"LibxlFmt"--> LIBXL_HDR
 *                 --0xff x 8----> LIBXC_HDR (bare libxc stream)
 *  xl:     XL_HDR -> XL_CFGLEN -> [XL_CONFIG] -> [XL_SKIP] -> LIBXL_HDR
 *          events: XL_HEADER, PREAMBLE (after the config, before the skip)
 *  libxl:  LIBXL_HDR -> REC_HDR (where = LIBXL_START); event LIBXL_HEADER
 *  record: REC_HDR -> [REC_BODY] -> REC_HDR; event RECORD per record
 *
 * Record positions (one RECORD event for each record named):
 *
 *  LIBXL_START  --LIBXC_CONTEXT--> byte state LIBXC_HDR, then where = LIBXC
 *               (event LIBXC_HEADER after the 24+16 header bytes)
 *  LIBXC        --libxc record--> LIBXC
 *               --libxc END-----> LIBXL_TAIL       (bare libxc: END event, DONE)
 *               --CHECKPOINT----> LIBXL_CKPT
 *  LIBXL_TAIL   --EMULATOR_* (HVM)--> LIBXL_TAIL
 *               --END-------------> DONE; event END after the record
 *  LIBXL_CKPT   --EMULATOR_* (HVM)--> LIBXL_CKPT
 *               --CHECKPOINT_END--> EPOCH_START; event EPOCH_END after the record
 *  EPOCH_START  --type 5, HVM: libxl CHECKPOINT_STATE(NEW)--> LIBXC   (COLO)
 *               --any libxc record--> as from LIBXC                 (Remus)
 *  BACK (COLO back channel, no header, no END):
 *               --CHECKPOINT_STATE(SVM_READY|SVM_RESUMED)--> BACK
 *               --CHECKPOINT_STATE(SVM_SUSPENDED)--> BACK, expecting exactly
 *                 one libxc CHECKPOINT_DIRTY_PFN_LIST next
 *
 * Everything else is an error; after an error every call returns -1.  When
 * a callback pauses on a RECORD event that is followed by an EPOCH_END or END
 * event, that event is kept pending and delivered first by the next call.
 *
 * Records that lie whole in the caller's buffer are handed out in place;
 * split ones are assembled in memory the caller gives for them (body_cb) or
 * else in p->rbuf (fixed items in p->hbuf).  Lengths are checked against the
 * caps before anything is allocated or asked for.
 *
 * This file holds the byte-state machine, input assembly, events and errors.
 * The steps of the header states are in headers.c (DETECT, LIBXL_HDR,
 * LIBXC_HDR) and preamble.c (XL_*); the rules of each record position in
 * order.c; the checks of record bodies in check.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "stream/parser_int.h"

static const char *const err_names[SB_ERR__COUNT] = {
	"OK", "TRUNCATED", "BAD_MAGIC", "BAD_IDENT", "BAD_MARKER", "BAD_VERSION", "BIG_ENDIAN",
	"BAD_HEADER", "BAD_CONFIG", "TOO_LONG", "BAD_LENGTH", "BAD_PFN_TYPE", "BAD_PFN",
	"BAD_RECORD", "UNKNOWN_RECORD", "ORDER", "AFTER_END", "BAD_PADDING", "NOMEM", "ABORTED",
};

const char *sb_err_name(enum sb_err code)
{
	return (unsigned)code < SB_ERR__COUNT ? err_names[code] : "UNKNOWN_ERROR";
}

/* ---- creation ---- */

struct sb_parser *sb_parser_new(const struct sb_parser_config *cfg)
{
	struct sb_parser *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->cfg = *cfg;
	if (!p->cfg.name)
		p->cfg.name = "stream";
	if (!p->cfg.libxl_max_record)
		p->cfg.libxl_max_record = SB_LIBXL_REC_LENGTH_DEFAULT_MAX;
	if (!p->cfg.config_max)
		p->cfg.config_max = 1u << 20;
	if (!p->cfg.max_pfn)
		p->cfg.max_pfn = 0xFFFFFFFFull;
	p->seen_mode = SB_MODE_PLAIN;
	switch (cfg->kind) {
	case SB_STREAM_XL: p->state = PS_XL_HDR; break;
	case SB_STREAM_LIBXL: p->state = PS_LIBXL_HDR; break;
	case SB_STREAM_COLO_BACK: p->state = PS_REC_HDR; p->where = W_BACK; break;
	default: p->state = PS_DETECT; break;
	}
	return p;
}

void sb_parser_free(struct sb_parser *p)
{
	if (!p)
		return;
	free(p->rbuf);
	free(p);
}

/* ---- errors ---- */

const char *sb__rec_name(const struct sb_record *r, char *buf, size_t n)
{
	const char *name = sb_record_name(r->layer, r->type);

	if (name && !(r->layer == SB_LAYER_LIBXL && (r->type & SB_REC_OPTIONAL)))
		snprintf(buf, n, "%s %s%s", sb_layer_name(r->layer), name,
			 (r->type & SB_REC_OPTIONAL) ? " (optional)" : "");
	else
		snprintf(buf, n, "%s type 0x%08x", sb_layer_name(r->layer), r->type);
	return buf;
}

void sb__vfail(struct sb_parser *p, enum sb_err code, uint64_t offset, const char *fmt,
	       va_list ap)
{
	struct sb_error *e = &p->err;
	char name[64];
	int n;

	if (p->state == PS_ERROR)
		return;
	p->state = PS_ERROR;
	memset(e, 0, sizeof(*e));
	e->code = code;
	e->offset = offset;
	if (p->in_record) {
		e->has_record = 1;
		e->record_index = p->rec.index;
		e->layer = p->rec.layer;
		e->type = p->rec.type;
		n = snprintf(e->msg, sizeof(e->msg), "%s: offset %llu, record #%llu (%s): ",
			     p->cfg.name, (unsigned long long)offset,
			     (unsigned long long)p->rec.index, sb__rec_name(&p->rec, name, sizeof(name)));
	} else {
		n = snprintf(e->msg, sizeof(e->msg), "%s: offset %llu, ", p->cfg.name,
			     (unsigned long long)offset);
	}
	if (n > 0 && (size_t)n < sizeof(e->msg))
		vsnprintf(e->msg + n, sizeof(e->msg) - (size_t)n, fmt, ap);
}

void sb__fail(struct sb_parser *p, enum sb_err code, uint64_t offset, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sb__vfail(p, code, offset, fmt, ap);
	va_end(ap);
}

void sb_parser_fail(struct sb_parser *p, enum sb_err code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sb__vfail(p, code, p->in_record ? p->rec.offset : p->offset, fmt, ap);
	va_end(ap);
	if (p->in_cb)
		p->cb_failed = 1;
}


/* ---- events ---- */

int sb__emit(struct sb_parser *p, const struct sb_event *ev)
{
	int rc;

	if (!p->cfg.cb)
		return 0;
	p->in_cb = 1;
	p->cb_failed = 0;
	rc = p->cfg.cb(ev, p->cfg.opaque);
	p->in_cb = 0;
	if (p->cb_failed)
		return -1;
	if (rc == SB_CB_ABORT) {
		sb__fail(p, SB_ERR_ABORTED, p->in_record ? p->rec.offset : p->offset,
			 "stopped by the consumer");
		return -1;
	}
	return rc == SB_CB_PAUSE ? 1 : 0;
}

int sb__step_rc(int emit_rc)
{
	return emit_rc < 0 ? STEP_ERR : emit_rc ? STEP_PAUSE : STEP_OK;
}

static int flush_pending(struct sb_parser *p)
{
	int rc;

	while (p->pending) {
		if (p->pending & PEND_EPOCH) {
			p->pending &= ~PEND_EPOCH;
			rc = sb__emit(p, &p->pend_epoch);
		} else {
			p->pending &= ~PEND_END;
			rc = sb__emit(p, &p->pend_end);
		}
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- input assembly ---- */

/* need bytes of a fixed item: in place, or assembled in hbuf. */
const uint8_t *sb__take_fixed(struct sb_parser *p, const uint8_t *buf, size_t len,
				 size_t *pos, size_t need)
{
	size_t avail = len - *pos, n;
	const uint8_t *r;

	if (p->hfill == 0 && avail >= need) {
		r = buf + *pos;
		*pos += need;
		p->offset += need;
		return r;
	}
	n = need - p->hfill < avail ? need - p->hfill : avail;
	memcpy(p->hbuf + p->hfill, buf + *pos, n);
	p->hfill += n;
	*pos += n;
	p->offset += n;
	if (p->hfill < need)
		return NULL;
	p->hfill = 0;
	return p->hbuf;
}

/* The buffer a split body of need bytes is assembled in: the caller's
 * (p->ext) or rbuf, grown to need; NULL on ENOMEM. */
static uint8_t *assembly_buf(struct sb_parser *p, size_t need)
{
	if (p->ext)
		return p->ext;
	if (p->rfill == 0 && p->rcap < need) {
		free(p->rbuf);
		p->rcap = 0;
		p->rbuf = malloc(need);
		if (!p->rbuf)
			return NULL;
		p->rcap = need;
	}
	return p->rbuf;
}

/* need bytes of a body: in place, or assembled.  *err on ENOMEM. */
const uint8_t *sb__take_body(struct sb_parser *p, const uint8_t *buf, size_t len,
				size_t *pos, size_t need, int *err)
{
	size_t avail = len - *pos, n;
	uint8_t *dst;

	if (p->rfill == 0 && avail >= need) {
		*pos += need;
		p->offset += need;
		return buf + *pos - need;
	}
	dst = assembly_buf(p, need);
	if (!dst) {
		*err = 1;
		return NULL;
	}
	n = need - p->rfill < avail ? need - p->rfill : avail;
	memcpy(dst + p->rfill, buf + *pos, n);
	p->rfill += n;
	*pos += n;
	p->offset += n;
	if (p->rfill < need)
		return NULL;
	p->rfill = 0;
	return dst;
}

/* A record body is about to be assembled: ask the caller for memory once. */
static void ask_body_memory(struct sb_parser *p)
{
	if (p->ext_asked || p->rfill || !p->cfg.body_cb)
		return;
	p->ext_asked = 1;
	p->ext = p->cfg.body_cb(&p->rec, p->body_need, p->cfg.opaque);
}

/* Epoch bookkeeping for a record that passed; queues EPOCH_END and END. */
static void count_record(struct sb_parser *p, const struct sb_record *r)
{
	struct sb_event *e = &p->pend_epoch;

	p->e_records++;
	if (r->layer == SB_LAYER_LIBXC && r->type == SB_LIBXC_PAGE_DATA) {
		p->e_pages += r->page_count;
		p->e_data_pages += r->data_pages;
	}
	if (r->layer == SB_LAYER_LIBXL && r->type == SB_LIBXL_CHECKPOINT_END && p->where != W_BACK) {
		memset(e, 0, sizeof(*e));
		e->kind = SB_EV_EPOCH_END;
		e->offset = p->epoch_start;
		e->u.epoch.number = p->epochs;
		e->u.epoch.pages = p->e_pages;
		e->u.epoch.data_pages = p->e_data_pages;
		e->u.epoch.bytes = p->offset - p->epoch_start;
		e->u.epoch.records = p->e_records;
		p->epochs++;
		p->epoch_start = p->offset;
		p->e_pages = p->e_data_pages = p->e_records = 0;
		p->pending |= PEND_EPOCH;
	}
	if (p->done) {
		memset(&p->pend_end, 0, sizeof(p->pend_end));
		p->pend_end.kind = SB_EV_END;
		p->pend_end.offset = r->offset;
		p->pending |= PEND_END;
	}
}

/* A complete record: checks, state change, events. */
static int process_record(struct sb_parser *p)
{
	struct sb_record *r = &p->rec;
	struct sb_event ev;
	int rc;

	if (sb__check_padding(p, r))
		return STEP_ERR;
	p->state = PS_REC_HDR;
	if (p->where == W_BACK)
		rc = sb__back_record(p, r);
	else if (r->layer == SB_LAYER_LIBXC)
		rc = sb__libxc_record(p, r);
	else
		rc = sb__libxl_record(p, r);
	if (rc)
		return STEP_ERR;

	count_record(p, r);
	memset(&ev, 0, sizeof(ev));
	ev.kind = SB_EV_RECORD;
	ev.offset = r->offset;
	ev.u.rec = *r;
	rc = sb__emit(p, &ev);
	p->in_record = 0;
	if (rc)
		return sb__step_rc(rc);
	return sb__step_rc(flush_pending(p));
}

static enum sb_layer layer_of(const struct sb_parser *p, uint32_t type)
{
	switch (p->where) {
	case W_LIBXC:
		return SB_LAYER_LIBXC;
	case W_EPOCH_START:
		return p->dom_type == SB_DOM_HVM && type == SB_LIBXL_CHECKPOINT_STATE ?
		       SB_LAYER_LIBXL : SB_LAYER_LIBXC;
	case W_BACK:
		return type == SB_LIBXC_CHECKPOINT_DIRTY_PFN_LIST ? SB_LAYER_LIBXC : SB_LAYER_LIBXL;
	default:
		return SB_LAYER_LIBXL;
	}
}

static int step_rec_hdr(struct sb_parser *p, const uint8_t *buf, size_t len, size_t *pos)
{
	const uint8_t *h = sb__take_fixed(p, buf, len, pos, SB_REC_HDR_LEN);
	struct sb_record *r = &p->rec;
	uint32_t cap;

	if (!h)
		return STEP_MORE;
	memset(r, 0, sizeof(*r));
	r->type = sb_get_le32(h);
	r->length = sb_get_le32(h + 4);
	r->layer = layer_of(p, r->type);
	r->offset = p->offset - SB_REC_HDR_LEN;
	r->index = p->nrec++;
	r->epoch = p->epochs;
	p->in_record = 1;
	p->ext = NULL;
	p->ext_asked = 0;
	cap = r->layer == SB_LAYER_LIBXC ? SB_LIBXC_REC_LENGTH_MAX : p->cfg.libxl_max_record;
	if (r->length > cap)
		return RFAIL(p, SB_ERR_TOO_LONG, "record length %u exceeds the %s cap of %u bytes",
			     r->length, sb_layer_name(r->layer), cap);
	p->body_need = (uint32_t)sb_pad8(r->length);
	if (p->body_need == 0)
		return process_record(p);
	p->state = PS_REC_BODY;
	return STEP_OK;
}

static int step_rec_body(struct sb_parser *p, const uint8_t *buf, size_t len, size_t *pos)
{
	int err = 0;
	const uint8_t *b;

	if (len - *pos < p->body_need)
		ask_body_memory(p);
	b = sb__take_body(p, buf, len, pos, p->body_need, &err);
	if (err)
		return RFAIL(p, SB_ERR_NOMEM, "no memory to assemble a %u-byte record", p->body_need);
	if (!b)
		return STEP_MORE;
	p->rec.body = b;
	p->ext = NULL;
	return process_record(p);
}

static int step(struct sb_parser *p, const uint8_t *buf, size_t len, size_t *pos)
{
	switch (p->state) {
	case PS_DETECT: return sb__step_detect(p, buf, len, pos);
	case PS_XL_HDR: return sb__step_xl_hdr(p, buf, len, pos);
	case PS_XL_CFGLEN: return sb__step_xl_cfglen(p, buf, len, pos);
	case PS_XL_CONFIG: return sb__step_xl_config(p, buf, len, pos);
	case PS_XL_SKIP: return sb__step_xl_skip(p, len, pos);
	case PS_LIBXL_HDR: return sb__step_libxl_hdr(p, buf, len, pos);
	case PS_LIBXC_HDR: return sb__step_libxc_hdr(p, buf, len, pos);
	case PS_REC_HDR: return step_rec_hdr(p, buf, len, pos);
	case PS_REC_BODY: return step_rec_body(p, buf, len, pos);
	default: return STEP_ERR;
	}
}

/* ---- public entry points ---- */

ssize_t sb_parser_feed(struct sb_parser *p, const uint8_t *buf, size_t len)
{
	size_t pos = 0;
	int had_pending = p->pending != 0, rc;

	if (p->state == PS_ERROR)
		return -1;
	rc = flush_pending(p);
	if (rc)
		return rc < 0 ? -1 : 0;
	if (p->state == PS_DONE) {
		if (len && !had_pending) {
			sb__fail(p, SB_ERR_AFTER_END, p->offset, "%zu bytes after the final END", len);
			return -1;
		}
		return 0;
	}
	while (pos < len && p->state != PS_DONE) {
		rc = step(p, buf, len, &pos);
		if (rc == STEP_ERR)
			return -1;
		if (rc == STEP_PAUSE)
			break;
	}
	return (ssize_t)pos;
}

/* ---- in-place input: the caller reads into the assembly buffer (see parser.h) ---- */

size_t sb_parser_body_room(struct sb_parser *p, uint8_t **where)
{
	uint8_t *dst;

	if (p->state != PS_REC_BODY || p->pending)
		return 0;
	ask_body_memory(p);
	dst = assembly_buf(p, p->body_need);
	if (!dst)
		return 0;
	*where = dst + p->rfill;
	return p->body_need - p->rfill;
}

ssize_t sb_parser_feed_in_place(struct sb_parser *p, size_t n)
{
	uint8_t *dst = p->ext ? p->ext : p->rbuf;

	if (p->state == PS_ERROR)
		return -1;
	if (p->state != PS_REC_BODY || p->pending || !dst ||
	    (!p->ext && p->rcap < p->body_need) || n > p->body_need - p->rfill) {
		sb__fail(p, SB_ERR_ABORTED, p->offset,
			 "%zu bytes fed in place where no record body was being assembled", n);
		return -1;
	}
	p->rfill += n;
	p->offset += n;
	if (p->rfill < p->body_need)
		return (ssize_t)n;
	p->rfill = 0;
	p->rec.body = dst;
	p->ext = NULL;
	return process_record(p) == STEP_ERR ? -1 : (ssize_t)n;
}

void sb_parser_trim(struct sb_parser *p)
{
	if (p->rfill || p->in_record)
		return;         /* in use: a body (or the xl config) half assembled in it,
				 * or the body of the RECORD event being delivered */
	free(p->rbuf);
	p->rbuf = NULL;
	p->rcap = 0;
}

static const char *expected_record(const struct sb_parser *p)
{
	switch (p->where) {
	case W_LIBXL_START: return "libxl LIBXC_CONTEXT record";
	case W_LIBXC: return "libxc record";
	case W_LIBXL_TAIL: return "libxl record (END)";
	case W_LIBXL_CKPT: return "libxl record (CHECKPOINT_END)";
	case W_EPOCH_START: return "CHECKPOINT_STATE or libxc record";
	default: return "record";
	}
}

static void truncated(struct sb_parser *p)
{
	const enum sb_err T = SB_ERR_TRUNCATED;
	uint64_t o = p->offset;

	switch (p->state) {
	case PS_DETECT:
		if (!p->hfill)
			sb__fail(p, T, o, "empty stream: expected an xl header, a libxl header or a libxc image header");
		else
			sb__fail(p, T, o, "stream start truncated: expected 8 bytes to identify it, %zu missing",
				 8 - p->hfill);
		break;
	case PS_XL_HDR:
		sb__fail(p, T, o, "truncated xl header: expected 48 bytes, %zu missing", 48 - p->hfill);
		break;
	case PS_XL_CFGLEN:
		sb__fail(p, T, o, "truncated xl optional data: expected the 4-byte config_len, %zu missing",
			 4 - p->hfill);
		break;
	case PS_XL_CONFIG:
		sb__fail(p, T, o, "truncated xl config: expected %u bytes, %zu missing", p->config_len,
			 (size_t)p->config_len - p->rfill);
		break;
	case PS_XL_SKIP:
		sb__fail(p, T, o, "truncated xl optional data: %llu trailing bytes missing",
			 (unsigned long long)p->skip_left);
		break;
	case PS_LIBXL_HDR:
		sb__fail(p, T, o, "truncated libxl header: expected 16 bytes, %zu missing", 16 - p->hfill);
		break;
	case PS_LIBXC_HDR:
		if (p->hfill < SB_LIBXC_IHDR_LEN)
			sb__fail(p, T, o, "truncated libxc image header: expected 24 bytes, %zu missing",
				 SB_LIBXC_IHDR_LEN - p->hfill);
		else
			sb__fail(p, T, o, "truncated libxc domain header: expected 16 bytes, %zu missing",
				 SB_LIBXC_IHDR_LEN + SB_LIBXC_DHDR_LEN - p->hfill);
		break;
	case PS_REC_HDR:
		if (p->hfill)
			sb__fail(p, T, o, "truncated record header (next %s): expected 8 bytes, %zu missing",
				 expected_record(p), 8 - p->hfill);
		else
			sb__fail(p, T, o, "stream ended before END: expected a %s (epoch %llu incomplete)",
				 expected_record(p), (unsigned long long)p->epochs);
		break;
	case PS_REC_BODY:
		sb__fail(p, T, o, "truncated record body: expected %u bytes (%u + %u padding), %zu missing",
			 p->body_need, p->rec.length, p->body_need - p->rec.length,
			 (size_t)p->body_need - p->rfill);
		break;
	default:
		break;
	}
}

int sb_parser_finish(struct sb_parser *p)
{
	while (p->state != PS_ERROR && p->pending)
		if (flush_pending(p) < 0)
			break;
	if (p->state == PS_ERROR)
		return -1;
	if (p->done)
		return 0;
	if (p->state == PS_REC_HDR && p->hfill == 0) {
		if (p->where == W_BACK)
			return 0;
		if (p->where == W_EPOCH_START)
			return 1;
	}
	truncated(p);
	return -1;
}

const struct sb_error *sb_parser_error(const struct sb_parser *p) { return &p->err; }
uint64_t sb_parser_offset(const struct sb_parser *p) { return p->offset; }
uint64_t sb_parser_epochs_complete(const struct sb_parser *p) { return p->epochs; }
uint64_t sb_parser_epoch_start(const struct sb_parser *p) { return p->epoch_start; }
int sb_parser_done(const struct sb_parser *p) { return p->done; }
uint32_t sb_parser_domain_type(const struct sb_parser *p) { return p->dom_type; }
enum sb_mode sb_parser_seen_mode(const struct sb_parser *p) { return p->seen_mode; }

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
 * split ones are assembled in p->rbuf (fixed items in p->hbuf).  Lengths are
 * checked against the caps before anything is allocated.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "stream/parser_int.h"

enum { STEP_MORE, STEP_OK, STEP_PAUSE, STEP_ERR };

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

static const char *rec_name(const struct sb_record *r, char *buf, size_t n)
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
			     (unsigned long long)p->rec.index, rec_name(&p->rec, name, sizeof(name)));
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

#define FAIL(p, code, off, ...) (sb__fail((p), (code), (off), __VA_ARGS__), STEP_ERR)
#define RFAIL(p, code, ...) (sb__fail((p), (code), (p)->rec.offset, __VA_ARGS__), STEP_ERR)

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

static int step_rc(int emit_rc)
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
static const uint8_t *take_fixed(struct sb_parser *p, const uint8_t *buf, size_t len,
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

/* need bytes of a body: in place, or assembled in rbuf.  *err on ENOMEM. */
static const uint8_t *take_body(struct sb_parser *p, const uint8_t *buf, size_t len,
				size_t *pos, size_t need, int *err)
{
	size_t avail = len - *pos, n;

	if (p->rfill == 0 && avail >= need) {
		*pos += need;
		p->offset += need;
		return buf + *pos - need;
	}
	if (p->rfill == 0 && p->rcap < need) {
		free(p->rbuf);
		p->rcap = 0;
		p->rbuf = malloc(need);
		if (!p->rbuf) {
			*err = 1;
			return NULL;
		}
		p->rcap = need;
	}
	n = need - p->rfill < avail ? need - p->rfill : avail;
	memcpy(p->rbuf + p->rfill, buf + *pos, n);
	p->rfill += n;
	*pos += n;
	p->offset += n;
	if (p->rfill < need)
		return NULL;
	p->rfill = 0;
	return p->rbuf;
}

static void printable(char *out, const uint8_t *in, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		if (in[i] >= 0x20 && in[i] < 0x7f && in[i] != '"' && in[i] != '\\') {
			*out++ = (char)in[i];
		} else {
			*out++ = '\\';
			*out++ = 'x';
			*out++ = hex[in[i] >> 4];
			*out++ = hex[in[i] & 15];
		}
	}
	*out = 0;
}

/* ---- headers ---- */

static int step_detect(struct sb_parser *p, const uint8_t *buf, size_t len, size_t *pos)
{
	const uint8_t *h;
	char found[8 * 4 + 1];

	if (p->hfill == 0 && len - *pos >= 8) {
		h = buf + *pos;         /* peek: the header step takes these bytes */
	} else {
		size_t n = 8 - p->hfill < len - *pos ? 8 - p->hfill : len - *pos;
		memcpy(p->hbuf + p->hfill, buf + *pos, n);
		p->hfill += n;
		*pos += n;
		p->offset += n;
		if (p->hfill < 8)
			return STEP_MORE;
		h = p->hbuf;
	}
	if (!memcmp(h, SB_XL_MAGIC, 8)) {
		p->state = PS_XL_HDR;
	} else if (sb_get_be64(h) == SB_LIBXL_IDENT) {
		p->state = PS_LIBXL_HDR;
	} else if (sb_get_be64(h) == SB_LIBXC_MARKER) {
		p->state = PS_LIBXC_HDR;
		p->bare_libxc = 1;
	} else {
		printable(found, h, 8);
		return FAIL(p, SB_ERR_BAD_MAGIC, 0,
			    "unrecognised stream start: expected the xl magic \"Xen saved domain...\", "
			    "libxl ident 0x4c6962786c466d74 (\"LibxlFmt\") or libxc marker 0xffffffffffffffff, "
			    "found 0x%016llx (\"%s\")", (unsigned long long)sb_get_be64(h), found);
	}
	return STEP_OK;
}

static int step_xl_hdr(struct sb_parser *p, const uint8_t *buf, size_t len, size_t *pos)
{
	const uint8_t *h = take_fixed(p, buf, len, pos, SB_XL_HDR_LEN);
	struct sb_event ev;
	char found[SB_XL_MAGIC_LEN * 4 + 1];
	uint32_t bo;

	if (!h)
		return STEP_MORE;
	if (memcmp(h, SB_XL_MAGIC, SB_XL_MAGIC_LEN)) {
		printable(found, h, SB_XL_MAGIC_LEN);
		return FAIL(p, SB_ERR_BAD_MAGIC, 0,
			    "xl header: expected magic \"Xen saved domain, xl format\\n \\0 \\r\", found \"%s\"",
			    found);
	}
	bo = sb_get_le32(h + 32);
	if (bo == 0x04030201u)
		return FAIL(p, SB_ERR_BIG_ENDIAN, 32,
			    "xl header: byteorder reads 0x04030201: a big-endian save file, not supported");
	if (bo != SB_XL_BYTEORDER)
		return FAIL(p, SB_ERR_BAD_HEADER, 32, "xl header: expected byteorder 0x01020304, found 0x%08x", bo);
	p->xl_mflags = sb_get_le32(h + 36);
	p->xl_oflags = sb_get_le32(h + 40);
	p->xl_odl = sb_get_le32(h + 44);
	if (p->xl_mflags & ~SB_XL_MFLAG_ALL)
		return FAIL(p, SB_ERR_BAD_HEADER, 36,
			    "xl header: unknown mandatory flag(s) 0x%x (flags 0x%08x; known: 0x3)",
			    p->xl_mflags & ~SB_XL_MFLAG_ALL, p->xl_mflags);
	if (!(p->xl_mflags & SB_XL_MFLAG_V2))
		return FAIL(p, SB_ERR_BAD_VERSION, 36,
			    "xl header: mandatory flags 0x%x lack STREAMv2 (0x2): a legacy (v1, pre-Xen 4.6) stream, "
			    "not supported (convert it with convert-legacy-stream)", p->xl_mflags);
	if (p->xl_odl < 4)
		return FAIL(p, SB_ERR_BAD_CONFIG, 44,
			    "xl header: optional_data_len %u, expected at least 4 (config_len)", p->xl_odl);
	memset(&ev, 0, sizeof(ev));
	ev.kind = SB_EV_XL_HEADER;
	ev.offset = p->offset - SB_XL_HDR_LEN;
	ev.u.xl.mandatory_flags = p->xl_mflags;
	ev.u.xl.optional_flags = p->xl_oflags;
	ev.u.xl.optional_data_len = p->xl_odl;
	p->state = PS_XL_CFGLEN;
	return step_rc(sb__emit(p, &ev));
}

static int step_xl_cfglen(struct sb_parser *p, const uint8_t *buf, size_t len, size_t *pos)
{
	const uint8_t *h = take_fixed(p, buf, len, pos, 4);
	uint64_t off;

	if (!h)
		return STEP_MORE;
	off = p->offset - 4;
	p->config_len = sb_get_le32(h);
	if (p->config_len > p->xl_odl - 4)
		return FAIL(p, SB_ERR_BAD_CONFIG, off,
			    "xl optional data: config_len %u does not fit in optional_data_len %u",
			    p->config_len, p->xl_odl);
	if (p->config_len > p->cfg.config_max)
		return FAIL(p, SB_ERR_TOO_LONG, off, "xl optional data: config_len %u exceeds the cap %u",
			    p->config_len, p->cfg.config_max);
	if (p->config_len == 0) {
		p->skip_left = (uint64_t)p->xl_odl - 4;
		p->state = p->skip_left ? PS_XL_SKIP : PS_LIBXL_HDR;
		return step_rc(sb__preamble(p, NULL, off));
	}
	p->state = PS_XL_CONFIG;
	return STEP_OK;
}

static int step_xl_config(struct sb_parser *p, const uint8_t *buf, size_t len, size_t *pos)
{
	int err = 0;
	const uint8_t *c = take_body(p, buf, len, pos, p->config_len, &err);
	uint64_t off;

	if (err)
		return FAIL(p, SB_ERR_NOMEM, p->offset, "no memory for a %u-byte xl config", p->config_len);
	if (!c)
		return STEP_MORE;
	off = p->offset - p->config_len - 4;
	p->skip_left = (uint64_t)p->xl_odl - 4 - p->config_len;
	p->state = p->skip_left ? PS_XL_SKIP : PS_LIBXL_HDR;
	return step_rc(sb__preamble(p, c, off));
}

static int step_xl_skip(struct sb_parser *p, size_t len, size_t *pos)
{
	uint64_t n = len - *pos < p->skip_left ? len - *pos : p->skip_left;

	*pos += (size_t)n;
	p->offset += n;
	p->skip_left -= n;
	if (p->skip_left)
		return STEP_MORE;
	p->state = PS_LIBXL_HDR;
	return STEP_OK;
}

static int step_libxl_hdr(struct sb_parser *p, const uint8_t *buf, size_t len, size_t *pos)
{
	const uint8_t *h = take_fixed(p, buf, len, pos, SB_LIBXL_HDR_LEN);
	uint64_t off, ident;
	uint32_t version, options;
	struct sb_event ev;
	char found[8 * 4 + 1];

	if (!h)
		return STEP_MORE;
	off = p->offset - SB_LIBXL_HDR_LEN;
	ident = sb_get_be64(h);
	version = sb_get_be32(h + 8);
	options = sb_get_be32(h + 12);
	if (ident != SB_LIBXL_IDENT) {
		printable(found, h, 8);
		return FAIL(p, SB_ERR_BAD_IDENT, off,
			    "libxl header: expected ident 0x4c6962786c466d74 (\"LibxlFmt\"), found 0x%016llx (\"%s\")",
			    (unsigned long long)ident, found);
	}
	if (version != SB_LIBXL_VERSION)
		return FAIL(p, SB_ERR_BAD_VERSION, off + 8, "libxl header: expected version 2, found %u", version);
	if (options & SB_LIBXL_OPT_BIG_ENDIAN)
		return FAIL(p, SB_ERR_BIG_ENDIAN, off + 12,
			    "libxl header: options 0x%x: big-endian stream, not supported", options);
	if (options & ~(SB_LIBXL_OPT_BIG_ENDIAN | SB_LIBXL_OPT_LEGACY))
		return FAIL(p, SB_ERR_BAD_HEADER, off + 12,
			    "libxl header: reserved option bits 0x%x set (options 0x%08x)",
			    options & ~3u, options);
	memset(&ev, 0, sizeof(ev));
	ev.kind = SB_EV_LIBXL_HEADER;
	ev.offset = off;
	ev.u.libxl_hdr.version = version;
	ev.u.libxl_hdr.options = options;
	p->state = PS_REC_HDR;
	p->where = W_LIBXL_START;
	p->epoch_start = p->offset;
	return step_rc(sb__emit(p, &ev));
}

static int check_image_header(struct sb_parser *p, const uint8_t *h, uint64_t off)
{
	uint64_t marker = sb_get_be64(h);
	uint32_t id = sb_get_be32(h + 8), version = sb_get_be32(h + 12);
	uint16_t options = sb_get_be16(h + 16);

	if (marker != SB_LIBXC_MARKER)
		return FAIL(p, SB_ERR_BAD_MARKER, off,
			    "libxc image header: expected marker 0xffffffffffffffff, found 0x%016llx",
			    (unsigned long long)marker);
	if (id != SB_LIBXC_IDENT)
		return FAIL(p, SB_ERR_BAD_IDENT, off + 8,
			    "libxc image header: expected id 0x58454e46 (\"XENF\"), found 0x%08x", id);
	if (version < SB_LIBXC_VERSION_MIN || version > SB_LIBXC_VERSION_MAX)
		return FAIL(p, SB_ERR_BAD_VERSION, off + 12,
			    "libxc image header: expected version 2 or 3, found %u", version);
	if (options & SB_LIBXC_OPT_BIG_ENDIAN)
		return FAIL(p, SB_ERR_BIG_ENDIAN, off + 16,
			    "libxc image header: options 0x%x: big-endian stream, not supported", options);
	if (options & ~SB_LIBXC_OPT_BIG_ENDIAN)
		return FAIL(p, SB_ERR_BAD_HEADER, off + 16,
			    "libxc image header: reserved option bits 0x%x set", options & ~1u);
	if (sb_get_be16(h + 18) || sb_get_be32(h + 20))
		return FAIL(p, SB_ERR_BAD_HEADER, off + 18,
			    "libxc image header: reserved fields 0x%04x/0x%08x, expected zero",
			    sb_get_be16(h + 18), sb_get_be32(h + 20));
	p->xc_version = version;
	return STEP_OK;
}

static int check_domain_header(struct sb_parser *p, const uint8_t *d, uint64_t off)
{
	uint32_t type = sb_get_le32(d);
	uint16_t shift = sb_get_le16(d + 4);

	if (type != SB_DOM_PV && type != SB_DOM_HVM)
		return FAIL(p, SB_ERR_BAD_HEADER, off,
			    "libxc domain header: expected type 1 (PV) or 2 (HVM), found %u", type);
	if (shift != SB_PAGE_SHIFT)
		return FAIL(p, SB_ERR_BAD_HEADER, off + 4,
			    "libxc domain header: expected page_shift 12, found %u", shift);
	if (sb_get_le16(d + 6))
		return FAIL(p, SB_ERR_BAD_HEADER, off + 6,
			    "libxc domain header: reserved field 0x%04x, expected zero", sb_get_le16(d + 6));
	if (type == SB_DOM_PV && p->cfg.mode == SB_MODE_COLO)
		return FAIL(p, SB_ERR_BAD_HEADER, off, "libxc domain header: PV domain, but COLO supports HVM only");
	p->dom_type = type;
	return STEP_OK;
}

static int step_libxc_hdr(struct sb_parser *p, const uint8_t *buf, size_t len, size_t *pos)
{
	const uint8_t *h = take_fixed(p, buf, len, pos, SB_LIBXC_IHDR_LEN + SB_LIBXC_DHDR_LEN);
	const uint8_t *d = h + SB_LIBXC_IHDR_LEN;
	struct sb_event ev;
	uint64_t off;

	if (!h)
		return STEP_MORE;
	off = p->offset - SB_LIBXC_IHDR_LEN - SB_LIBXC_DHDR_LEN;
	if (check_image_header(p, h, off) != STEP_OK ||
	    check_domain_header(p, d, off + SB_LIBXC_IHDR_LEN) != STEP_OK)
		return STEP_ERR;
	memset(&ev, 0, sizeof(ev));
	ev.kind = SB_EV_LIBXC_HEADER;
	ev.offset = off;
	ev.u.libxc_hdr.version = p->xc_version;
	ev.u.libxc_hdr.options = sb_get_be16(h + 16);
	ev.u.libxc_hdr.domain_type = p->dom_type;
	ev.u.libxc_hdr.page_shift = sb_get_le16(d + 4);
	ev.u.libxc_hdr.xen_major = sb_get_le32(d + 8);
	ev.u.libxc_hdr.xen_minor = sb_get_le32(d + 12);
	p->state = PS_REC_HDR;
	p->where = W_LIBXC;
	return step_rc(sb__emit(p, &ev));
}

/* ---- record placement ---- */

static int colo_required(const struct sb_parser *p)
{
	return p->cfg.mode == SB_MODE_COLO || p->seen_mode == SB_MODE_COLO;
}

static const char *rname(const struct sb_record *r)
{
	const char *n = sb_record_name(r->layer, r->type);
	return n ? n : "unknown";
}

static int need_static_end(struct sb_parser *p, const struct sb_record *r)
{
	if (p->static_end)
		return 0;
	if (p->xc_version >= 3)
		return RFAIL(p, SB_ERR_ORDER, "%s before STATIC_DATA_END (required in a v3 stream)", rname(r));
	return 0;
}

static int pv_only(struct sb_parser *p, const struct sb_record *r)
{
	if (p->dom_type != SB_DOM_PV)
		return RFAIL(p, SB_ERR_ORDER, "%s is a PV record, not valid in an HVM stream", rname(r));
	return 0;
}

static int hvm_only(struct sb_parser *p, const struct sb_record *r)
{
	if (p->dom_type != SB_DOM_HVM)
		return RFAIL(p, SB_ERR_ORDER, "%s is an HVM record, not valid in a PV stream", rname(r));
	return 0;
}

static int need_pv_info(struct sb_parser *p, const struct sb_record *r)
{
	if (!p->pv_info_seen)
		return RFAIL(p, SB_ERR_ORDER, "%s before X86_PV_INFO", rname(r));
	return 0;
}

/* Placement of a libxc record in the main stream; 0 or STEP_ERR. */
static int place_libxc(struct sb_parser *p, struct sb_record *r)
{
	switch (r->type) {
	case SB_LIBXC_END:
		if (p->xc_version >= 3 && !p->static_end)
			return RFAIL(p, SB_ERR_ORDER, "libxc END without STATIC_DATA_END (required in a v3 stream)");
		p->where = W_LIBXL_TAIL;
		return 0;
	case SB_LIBXC_PAGE_DATA:
		if (need_static_end(p, r))
			return STEP_ERR;
		if (p->dom_type == SB_DOM_PV && !p->p2m_seen)
			return RFAIL(p, SB_ERR_ORDER, "PAGE_DATA before X86_PV_P2M_FRAMES in a PV stream");
		p->static_end = 1;      /* v2: inferred here */
		return 0;
	case SB_LIBXC_X86_PV_INFO:
		if (pv_only(p, r))
			return STEP_ERR;
		if (p->pv_info_seen)
			return RFAIL(p, SB_ERR_ORDER, "second X86_PV_INFO");
		return 0;
	case SB_LIBXC_X86_PV_P2M_FRAMES:
		if (pv_only(p, r) || need_pv_info(p, r) || need_static_end(p, r))
			return STEP_ERR;
		return 0;
	case SB_LIBXC_X86_PV_VCPU_BASIC:
	case SB_LIBXC_X86_PV_VCPU_EXTENDED:
	case SB_LIBXC_X86_PV_VCPU_XSAVE:
	case SB_LIBXC_X86_PV_VCPU_MSRS:
		if (pv_only(p, r) || need_pv_info(p, r) || need_static_end(p, r))
			return STEP_ERR;
		return 0;
	case SB_LIBXC_SHARED_INFO:
		if (pv_only(p, r) || need_static_end(p, r))
			return STEP_ERR;
		return 0;
	case SB_LIBXC_X86_TSC_INFO:
		return need_static_end(p, r) ? STEP_ERR : 0;
	case SB_LIBXC_HVM_CONTEXT:
	case SB_LIBXC_HVM_PARAMS:
		if (hvm_only(p, r) || need_static_end(p, r))
			return STEP_ERR;
		return 0;
	case SB_LIBXC_TOOLSTACK:
		return RFAIL(p, SB_ERR_UNKNOWN_RECORD,
			     "TOOLSTACK (0x0b) is not handled (deprecated; Xen 4.17 rejects it)");
	case SB_LIBXC_VERIFY:
		return 0;
	case SB_LIBXC_CHECKPOINT:
		if (p->bare_libxc)
			return RFAIL(p, SB_ERR_ORDER, "CHECKPOINT in a bare libxc stream (no libxl layer to take over)");
		if (p->cfg.mode == SB_MODE_PLAIN)
			return RFAIL(p, SB_ERR_ORDER, "CHECKPOINT in a stream expected to be plain (not checkpointed)");
		if (p->xc_version >= 3 && !p->static_end)
			return RFAIL(p, SB_ERR_ORDER, "CHECKPOINT without STATIC_DATA_END (required in a v3 stream)");
		if (p->seen_mode == SB_MODE_PLAIN)
			p->seen_mode = SB_MODE_REMUS;
		p->where = W_LIBXL_CKPT;
		return 0;
	case SB_LIBXC_CHECKPOINT_DIRTY_PFN_LIST:
		return RFAIL(p, SB_ERR_ORDER, "CHECKPOINT_DIRTY_PFN_LIST belongs on the COLO back channel only");
	case SB_LIBXC_STATIC_DATA_END:
		if (p->xc_version < 3)
			return RFAIL(p, SB_ERR_ORDER, "STATIC_DATA_END in a v2 stream (v3 only)");
		if (p->static_end)
			return RFAIL(p, SB_ERR_ORDER, "second STATIC_DATA_END");
		return 0;
	case SB_LIBXC_X86_CPUID_POLICY:
	case SB_LIBXC_X86_MSR_POLICY:
		if (p->xc_version < 3)
			return RFAIL(p, SB_ERR_ORDER, "%s in a v2 stream (v3 only)", rname(r));
		if (p->static_end)
			return RFAIL(p, SB_ERR_ORDER, "%s after STATIC_DATA_END", rname(r));
		return 0;
	default:
		return RFAIL(p, SB_ERR_UNKNOWN_RECORD, "unknown mandatory libxc record type 0x%08x", r->type);
	}
}

/* State changes after a libxc record passed its checks. */
static void apply_libxc(struct sb_parser *p, const struct sb_record *r)
{
	switch (r->type) {
	case SB_LIBXC_X86_PV_INFO:
		p->pv_info_seen = 1;
		p->width = r->body[0];
		break;
	case SB_LIBXC_X86_PV_P2M_FRAMES: {
		uint64_t end = sb_get_le32(r->body + 4);
		if (!p->p2m_seen || end > p->p2m_end)
			p->p2m_end = end;
		p->p2m_seen = 1;
		p->static_end = 1;      /* v2: inferred here */
		break;
	}
	case SB_LIBXC_STATIC_DATA_END:
		p->static_end = 1;
		break;
	case SB_LIBXC_END:
		if (p->bare_libxc) {
			p->done = 1;
			p->state = PS_DONE;
		}
		break;
	}
}

static int libxc_record(struct sb_parser *p, struct sb_record *r)
{
	if (r->type & SB_REC_OPTIONAL) {
		r->skipped = 1;
		return 0;
	}
	if (p->where == W_EPOCH_START) {
		if (colo_required(p))
			return RFAIL(p, SB_ERR_ORDER,
				     "expected CHECKPOINT_STATE(NEW) at the start of COLO epoch %llu, found libxc %s",
				     (unsigned long long)p->epochs, rname(r));
		p->where = W_LIBXC;
	}
	if (place_libxc(p, r) || sb__check_libxc(p, r))
		return STEP_ERR;
	apply_libxc(p, r);
	return 0;
}

static int libxl_record(struct sb_parser *p, struct sb_record *r)
{
	switch (r->type) {
	case SB_LIBXL_LIBXC_CONTEXT:
		if (p->libxc_ctx_seen)
			return RFAIL(p, SB_ERR_ORDER, "second LIBXC_CONTEXT");
		if (sb__check_libxl(p, r))
			return STEP_ERR;
		p->libxc_ctx_seen = 1;
		p->state = PS_LIBXC_HDR;
		return 0;
	case SB_LIBXL_EMULATOR_XENSTORE_DATA:
	case SB_LIBXL_EMULATOR_CONTEXT:
		if (p->where != W_LIBXL_TAIL && p->where != W_LIBXL_CKPT)
			return RFAIL(p, SB_ERR_ORDER, "%s before the libxc stream ended (END or CHECKPOINT)",
				     rname(r));
		if (p->dom_type != SB_DOM_HVM)
			return RFAIL(p, SB_ERR_ORDER, "%s in a PV stream (HVM only)", rname(r));
		return sb__check_libxl(p, r) ? STEP_ERR : 0;
	case SB_LIBXL_CHECKPOINT_END:
		if (p->where != W_LIBXL_CKPT)
			return RFAIL(p, SB_ERR_ORDER, "CHECKPOINT_END without a preceding libxc CHECKPOINT");
		if (sb__check_libxl(p, r))
			return STEP_ERR;
		p->where = W_EPOCH_START;
		return 0;
	case SB_LIBXL_CHECKPOINT_STATE:
		if (p->where != W_EPOCH_START)
			return RFAIL(p, SB_ERR_ORDER,
				     "CHECKPOINT_STATE outside the start of an epoch (only right after CHECKPOINT_END)");
		if (p->cfg.mode == SB_MODE_REMUS)
			return RFAIL(p, SB_ERR_ORDER, "CHECKPOINT_STATE in a stream expected to be Remus (COLO only)");
		if (sb__check_libxl(p, r))
			return STEP_ERR;
		if (sb_get_le32(r->body) != SB_CKPT_NEW)
			return RFAIL(p, SB_ERR_BAD_RECORD,
				     "CHECKPOINT_STATE %u on the main stream, expected 0 (NEW)",
				     sb_get_le32(r->body));
		p->seen_mode = SB_MODE_COLO;
		p->where = W_LIBXC;
		return 0;
	case SB_LIBXL_END:
		if (p->where != W_LIBXL_TAIL)
			return RFAIL(p, SB_ERR_ORDER, "libxl END before the libxc stream's END");
		if (sb__check_libxl(p, r))
			return STEP_ERR;
		p->done = 1;
		p->state = PS_DONE;
		return 0;
	default:
		return RFAIL(p, SB_ERR_UNKNOWN_RECORD,
			     "unknown libxl record type 0x%08x (libxl has no optional records)", r->type);
	}
}

static int back_record(struct sb_parser *p, struct sb_record *r)
{
	uint32_t id;

	if (r->layer == SB_LAYER_LIBXC) {
		if (!p->back_expect_dirty)
			return RFAIL(p, SB_ERR_ORDER,
				     "CHECKPOINT_DIRTY_PFN_LIST not right after CHECKPOINT_STATE(SVM_SUSPENDED)");
		if (sb__check_libxc(p, r))
			return STEP_ERR;
		p->back_expect_dirty = 0;
		return 0;
	}
	if (p->back_expect_dirty)
		return RFAIL(p, SB_ERR_ORDER,
			     "expected libxc CHECKPOINT_DIRTY_PFN_LIST after CHECKPOINT_STATE(SVM_SUSPENDED)");
	if (r->type != SB_LIBXL_CHECKPOINT_STATE)
		return RFAIL(p, sb_record_name(r->layer, r->type) ? SB_ERR_ORDER : SB_ERR_UNKNOWN_RECORD,
			     "only CHECKPOINT_STATE and CHECKPOINT_DIRTY_PFN_LIST belong on the COLO back channel");
	if (sb__check_libxl(p, r))
		return STEP_ERR;
	id = sb_get_le32(r->body);
	if (id < SB_CKPT_SVM_SUSPENDED || id > SB_CKPT_SVM_RESUMED)
		return RFAIL(p, SB_ERR_BAD_RECORD,
			     "CHECKPOINT_STATE %u on the back channel, expected 1-3 (SVM_SUSPENDED/READY/RESUMED)", id);
	p->back_expect_dirty = id == SB_CKPT_SVM_SUSPENDED;
	return 0;
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
		rc = back_record(p, r);
	else if (r->layer == SB_LAYER_LIBXC)
		rc = libxc_record(p, r);
	else
		rc = libxl_record(p, r);
	if (rc)
		return STEP_ERR;

	p->e_records++;
	if (r->layer == SB_LAYER_LIBXC && r->type == SB_LIBXC_PAGE_DATA) {
		p->e_pages += r->page_count;
		p->e_data_pages += r->data_pages;
	}
	if (r->layer == SB_LAYER_LIBXL && r->type == SB_LIBXL_CHECKPOINT_END) {
		struct sb_event *e = &p->pend_epoch;
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
	memset(&ev, 0, sizeof(ev));
	ev.kind = SB_EV_RECORD;
	ev.offset = r->offset;
	ev.u.rec = *r;
	rc = sb__emit(p, &ev);
	p->in_record = 0;
	if (rc)
		return step_rc(rc);
	return step_rc(flush_pending(p));
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
	const uint8_t *h = take_fixed(p, buf, len, pos, SB_REC_HDR_LEN);
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
	const uint8_t *b = take_body(p, buf, len, pos, p->body_need, &err);

	if (err)
		return RFAIL(p, SB_ERR_NOMEM, "no memory to assemble a %u-byte record", p->body_need);
	if (!b)
		return STEP_MORE;
	p->rec.body = b;
	return process_record(p);
}

static int step(struct sb_parser *p, const uint8_t *buf, size_t len, size_t *pos)
{
	switch (p->state) {
	case PS_DETECT: return step_detect(p, buf, len, pos);
	case PS_XL_HDR: return step_xl_hdr(p, buf, len, pos);
	case PS_XL_CFGLEN: return step_xl_cfglen(p, buf, len, pos);
	case PS_XL_CONFIG: return step_xl_config(p, buf, len, pos);
	case PS_XL_SKIP: return step_xl_skip(p, len, pos);
	case PS_LIBXL_HDR: return step_libxl_hdr(p, buf, len, pos);
	case PS_LIBXC_HDR: return step_libxc_hdr(p, buf, len, pos);
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

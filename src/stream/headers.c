/*
 * headers.c - the fixed headers of the push parser: stream detection (AUTO),
 * the libxl stream header (16 bytes, big-endian) and the libxc image header
 * (24 bytes, big-endian) with its domain header (16 bytes, little-endian).
 * Spec §1.1, §2.1, §2.2; each step takes its bytes in place or assembled.
 */
#include <string.h>
#include "stream/parser_int.h"

void sb__printable(char *out, const uint8_t *in, size_t n)
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

int sb__step_detect(struct sb_parser *p, const uint8_t *buf, size_t len, size_t *pos)
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
		sb__printable(found, h, 8);
		return FAIL(p, SB_ERR_BAD_MAGIC, 0,
			    "unrecognised stream start: expected the xl magic \"Xen saved domain...\", "
			    "libxl ident 0x4c6962786c466d74 (\"LibxlFmt\") or libxc marker 0xffffffffffffffff, "
			    "found 0x%016llx (\"%s\")", (unsigned long long)sb_get_be64(h), found);
	}
	return STEP_OK;
}


int sb__step_libxl_hdr(struct sb_parser *p, const uint8_t *buf, size_t len, size_t *pos)
{
	const uint8_t *h = sb__take_fixed(p, buf, len, pos, SB_LIBXL_HDR_LEN);
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
		sb__printable(found, h, 8);
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
	return sb__step_rc(sb__emit(p, &ev));
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

int sb__step_libxc_hdr(struct sb_parser *p, const uint8_t *buf, size_t len, size_t *pos)
{
	const uint8_t *h = sb__take_fixed(p, buf, len, pos, SB_LIBXC_IHDR_LEN + SB_LIBXC_DHDR_LEN);
	const uint8_t *d;
	struct sb_event ev;
	uint64_t off;

	if (!h)
		return STEP_MORE;
	d = h + SB_LIBXC_IHDR_LEN;
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
	return sb__step_rc(sb__emit(p, &ev));
}

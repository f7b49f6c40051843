/*
 * preamble.c - the xl save header and the domain config that follows it.
 *
 * Header: 48 bytes, host (little-endian) order (xl-protocol.md §1.1-§1.4).
 * Optional data: u32 config_len, then config_len bytes holding a
 * NUL-terminated JSON libxl_domain_config (§1.3), then anything else, which
 * is skipped.  We parse the JSON with yajl and pick out the few fields
 * reports need; the JSON itself is handed on unchanged.
 */
#include <string.h>
#include <yajl/yajl_tree.h>
#include "stream/parser_int.h"

static const char *get_string(yajl_val root, const char *a, const char *b)
{
	const char *path[] = { a, b, NULL };
	yajl_val v = yajl_tree_get(root, path, yajl_t_string);
	return v ? YAJL_GET_STRING(v) : NULL;
}

static uint64_t get_uint(yajl_val root, const char *a, const char *b)
{
	const char *path[] = { a, b, NULL };
	yajl_val v = yajl_tree_get(root, path, yajl_t_number);
	if (!v || !YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 0)
		return 0;
	return (uint64_t)YAJL_GET_INTEGER(v);
}

/* yajl builds and frees its tree recursively: a deeply nested config would
 * overflow the stack.  libxl configs nest about 6 levels. */
#define JSON_MAX_DEPTH 64

static int json_too_deep(const char *s)
{
	int depth = 0, in_str = 0;

	for (; *s; s++) {
		if (in_str) {
			if (*s == '\\' && s[1])
				s++;
			else if (*s == '"')
				in_str = 0;
		} else if (*s == '"') {
			in_str = 1;
		} else if (*s == '{' || *s == '[') {
			if (++depth > JSON_MAX_DEPTH)
				return 1;
		} else if (*s == '}' || *s == ']') {
			depth--;
		}
	}
	return 0;
}

int sb__preamble(struct sb_parser *p, const uint8_t *config, uint64_t offset)
{
	struct sb_event ev;
	yajl_val root = NULL;
	char errbuf[256] = "";
	int rc;

	memset(&ev, 0, sizeof(ev));
	ev.kind = SB_EV_PREAMBLE;
	ev.offset = offset;
	ev.u.preamble.config_len = p->config_len;
	if (p->config_len) {
		if (!memchr(config, 0, p->config_len)) {
			sb__fail(p, SB_ERR_BAD_CONFIG, offset,
				 "xl config of %u bytes is not NUL-terminated", p->config_len);
			return -1;
		}
		ev.u.preamble.json = (const char *)config;
	}
	if (p->config_len && (p->xl_mflags & SB_XL_MFLAG_JSON)) {
		if (json_too_deep((const char *)config)) {
			sb__fail(p, SB_ERR_BAD_CONFIG, offset, "xl config nests deeper than %d levels",
				 JSON_MAX_DEPTH);
			return -1;
		}
		root = yajl_tree_parse((const char *)config, errbuf, sizeof(errbuf));
		if (!root || !YAJL_IS_OBJECT(root)) {
			char *nl = strchr(errbuf, '\n');
			if (nl)
				*nl = 0;
			sb__fail(p, SB_ERR_BAD_CONFIG, offset, "xl config is not a JSON object: %s",
				 root ? "top level is not an object" : errbuf);
			yajl_tree_free(root);
			return -1;
		}
		ev.u.preamble.name = get_string(root, "c_info", "name");
		ev.u.preamble.guest_type = get_string(root, "c_info", "type");
		ev.u.preamble.max_memkb = get_uint(root, "b_info", "max_memkb");
		ev.u.preamble.max_vcpus = (uint32_t)get_uint(root, "b_info", "max_vcpus");
	}
	rc = sb__emit(p, &ev);
	yajl_tree_free(root);
	return rc;
}


int sb__step_xl_hdr(struct sb_parser *p, const uint8_t *buf, size_t len, size_t *pos)
{
	const uint8_t *h = sb__take_fixed(p, buf, len, pos, SB_XL_HDR_LEN);
	struct sb_event ev;
	char found[SB_XL_MAGIC_LEN * 4 + 1];
	uint32_t bo;

	if (!h)
		return STEP_MORE;
	if (memcmp(h, SB_XL_MAGIC, SB_XL_MAGIC_LEN)) {
		sb__printable(found, h, SB_XL_MAGIC_LEN);
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
	return sb__step_rc(sb__emit(p, &ev));
}

int sb__step_xl_cfglen(struct sb_parser *p, const uint8_t *buf, size_t len, size_t *pos)
{
	const uint8_t *h = sb__take_fixed(p, buf, len, pos, 4);
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
		return sb__step_rc(sb__preamble(p, NULL, off));
	}
	p->state = PS_XL_CONFIG;
	return STEP_OK;
}

int sb__step_xl_config(struct sb_parser *p, const uint8_t *buf, size_t len, size_t *pos)
{
	int err = 0;
	const uint8_t *c = sb__take_body(p, buf, len, pos, p->config_len, &err);
	uint64_t off;

	if (err)
		return FAIL(p, SB_ERR_NOMEM, p->offset, "no memory for a %u-byte xl config", p->config_len);
	if (!c)
		return STEP_MORE;
	off = p->offset - p->config_len - 4;
	p->skip_left = (uint64_t)p->xl_odl - 4 - p->config_len;
	p->state = p->skip_left ? PS_XL_SKIP : PS_LIBXL_HDR;
	return sb__step_rc(sb__preamble(p, c, off));
}

int sb__step_xl_skip(struct sb_parser *p, size_t len, size_t *pos)
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

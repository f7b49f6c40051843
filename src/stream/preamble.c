/*
 * preamble.c - the xl domain config that follows the xl save header.
 *
 * The config is config_len bytes holding a NUL-terminated JSON
 * libxl_domain_config (xl-protocol.md §1.3).  We parse it with yajl and pick
 * out the few fields reports need; the JSON itself is handed on unchanged.
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

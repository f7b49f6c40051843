/*
 * image_manifest.c - DIR/manifest.json (docs/image-format.md): the record of
 * which epoch the replica holds.  Written whole via tmp + rename.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>
#include "backend/image.h"

/* Length of the valid UTF-8 sequence at p (1-4), or 0. */
static size_t utf8_len(const unsigned char *p)
{
	size_t n = *p >= 0xC2 && *p <= 0xDF ? 2 : *p >= 0xE0 && *p <= 0xEF ? 3 :
		   *p >= 0xF0 && *p <= 0xF4 ? 4 : 0;

	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xC0) != 0x80)
			return 0;
	return n;
}

/* Append s as a JSON string (quotes included); bytes that are not UTF-8 become '?'. */
static size_t json_str(char *out, size_t cap, size_t off, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	if (off < cap)
		out[off] = '"';
	off++;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[7];
		size_t n = 0;

		if (*p == '"' || *p == '\\') {
			esc[n++] = '\\';
			esc[n++] = (char)*p;
		} else if (*p < 0x20) {
			memcpy(esc, "\\u00", 4);
			n = 4;
			esc[n++] = hex[*p >> 4];
			esc[n++] = hex[*p & 15];
		} else if (*p >= 0x80) {
			size_t k = utf8_len(p);

			if (!k) {
				esc[n++] = '?';
			} else {
				for (size_t i = 0; i < k; i++)
					esc[n++] = (char)p[i];
				p += k - 1;
			}
		} else {
			esc[n++] = (char)*p;
		}
		for (size_t i = 0; i < n; i++, off++)
			if (off < cap)
				out[off] = esc[i];
	}
	if (off < cap)
		out[off] = '"';
	return off + 1;
}

#define ADD(...) do { \
	int n_ = snprintf(t + (off < cap ? off : cap), off < cap ? cap - off : 0, __VA_ARGS__); \
	off += (size_t)n_; \
} while (0)

static size_t format_into(const struct img_manifest *m, char *t, size_t cap)
{
	size_t off = 0;

	ADD("{\n  \"format\": \"%s\",\n  \"domain\": ", IMG_FORMAT);
	if (m->domain[0])
		off = json_str(t, cap, off, m->domain);
	else
		ADD("null");
	ADD(",\n  \"domain_type\": ");
	if (m->domain_type == SB_DOM_HVM || m->domain_type == SB_DOM_PV)
		ADD("\"%s\"", m->domain_type == SB_DOM_HVM ? "HVM" : "PV");
	else
		ADD("null");
	ADD(",\n  \"page_size\": %u,\n  \"committed_epoch\": ", SB_PAGE_SIZE);
	if (m->committed)
		ADD("%" PRIu64, m->epoch);
	else
		ADD("null");
	ADD(",\n  \"memory_bytes\": %" PRIu64 ",\n  \"pages_present\": %" PRIu64
	    ",\n  \"epoch_pages\": %" PRIu64 ",\n  \"epoch_bytes\": %" PRIu64
	    ",\n  \"total_bytes\": %" PRIu64 ",\n  \"first_record_time\": %.6f"
	    ",\n  \"commit_time\": %.6f",
	    m->memory_bytes, m->pages_present, m->epoch_pages, m->epoch_bytes,
	    m->total_bytes, m->first_record_time, m->commit_time);
	if (m->memory_digest[0])
		ADD(",\n  \"memory_digest\": \"%s\"", m->memory_digest);
	ADD(",\n  \"state_digest\": \"%s\",\n  \"activated\": %s", m->state_digest,
	    m->activated ? "true" : "false");
	if (m->activated) {
		ADD(",\n  \"activation_reason\": ");
		off = json_str(t, cap, off, m->activation_reason);
		ADD(",\n  \"activation_epoch\": %" PRIu64 ",\n  \"activation_time\": %.6f",
		    m->activation_epoch, m->activation_time);
	} else {
		ADD(",\n  \"activation_reason\": null");
	}
	ADD("\n}\n");
	return off;
}

char *img_manifest_format(const struct img_manifest *m, size_t *len)
{
	size_t need = format_into(m, NULL, 0);
	char *t = malloc(need + 1);

	if (!t)
		return NULL;
	format_into(m, t, need + 1);
	t[need] = '\0';
	*len = need;
	return t;
}

static yajl_val field(yajl_val root, const char *name)
{
	const char *path[] = { name, NULL };

	return yajl_tree_get(root, path, yajl_t_any);
}

static int get_u64(yajl_val root, const char *name, uint64_t *out)
{
	yajl_val v = field(root, name);

	if (!YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 0)
		return -1;
	*out = (uint64_t)YAJL_GET_INTEGER(v);
	return 0;
}

static int get_double(yajl_val root, const char *name, double *out)
{
	yajl_val v = field(root, name);

	if (!YAJL_IS_NUMBER(v))
		return -1;
	*out = YAJL_IS_DOUBLE(v) ? YAJL_GET_DOUBLE(v) : (double)YAJL_GET_INTEGER(v);
	return 0;
}

static int get_str(yajl_val root, const char *name, char *out, size_t len, int nullable)
{
	yajl_val v = field(root, name);

	if (nullable && (!v || YAJL_IS_NULL(v))) {
		out[0] = '\0';
		return 0;
	}
	if (!YAJL_IS_STRING(v) || !v->u.string || strlen(v->u.string) >= len)
		return -1;
	snprintf(out, len, "%s", v->u.string);
	return 0;
}

static int is_hex_digest(const char *s)
{
	if (strlen(s) != SB_DIGEST_HEX_LEN - 1)
		return 0;
	return strspn(s, "0123456789abcdef") == SB_DIGEST_HEX_LEN - 1;
}

int img_manifest_parse(const char *text, size_t len, struct img_manifest *m, char *err, size_t errlen)
{
	char ebuf[256], fmt[32], dtype[8];
	char *copy = malloc(len + 1);
	yajl_val root, v;
	const char *bad = NULL;

	memset(m, 0, sizeof(*m));
	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	root = yajl_tree_parse(copy, ebuf, sizeof(ebuf));
	free(copy);
	if (!YAJL_IS_OBJECT(root)) {
		snprintf(err, errlen, "not a JSON object%s%s", root ? "" : ": ", root ? "" : ebuf);
		yajl_tree_free(root);
		return -1;
	}
	v = field(root, "committed_epoch");
	if (get_str(root, "format", fmt, sizeof(fmt), 0) || strcmp(fmt, IMG_FORMAT))
		bad = "format";
	else if (get_str(root, "domain", m->domain, sizeof(m->domain), 1))
		bad = "domain";
	else if (get_str(root, "domain_type", dtype, sizeof(dtype), 1))
		bad = "domain_type";
	else if (!YAJL_IS_NULL(v) && get_u64(root, "committed_epoch", &m->epoch))
		bad = "committed_epoch";
	else if (get_u64(root, "memory_bytes", &m->memory_bytes))
		bad = "memory_bytes";
	else if (get_u64(root, "pages_present", &m->pages_present))
		bad = "pages_present";
	else if (get_u64(root, "epoch_pages", &m->epoch_pages))
		bad = "epoch_pages";
	else if (get_u64(root, "epoch_bytes", &m->epoch_bytes))
		bad = "epoch_bytes";
	else if (get_u64(root, "total_bytes", &m->total_bytes))
		bad = "total_bytes";
	else if (get_double(root, "first_record_time", &m->first_record_time))
		bad = "first_record_time";
	else if (get_double(root, "commit_time", &m->commit_time))
		bad = "commit_time";
	else if (get_str(root, "memory_digest", m->memory_digest, sizeof(m->memory_digest), 1) ||
		 (m->memory_digest[0] && !is_hex_digest(m->memory_digest)))
		bad = "memory_digest";
	else if (get_str(root, "state_digest", m->state_digest, sizeof(m->state_digest), 0) ||
		 !is_hex_digest(m->state_digest))
		bad = "state_digest";
	if (!bad) {
		m->committed = !YAJL_IS_NULL(v);
		m->domain_type = !strcmp(dtype, "HVM") ? SB_DOM_HVM : !strcmp(dtype, "PV") ? SB_DOM_PV : 0;
		v = field(root, "activated");
		m->activated = YAJL_IS_TRUE(v);
		if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
			bad = "activated";
		else if (m->activated &&
			 (get_str(root, "activation_reason", m->activation_reason,
				  sizeof(m->activation_reason), 0) ||
			  get_u64(root, "activation_epoch", &m->activation_epoch) ||
			  get_double(root, "activation_time", &m->activation_time)))
			bad = "activation_*";
	}
	yajl_tree_free(root);
	if (bad) {
		snprintf(err, errlen, "field \"%s\" missing or invalid", bad);
		return -1;
	}
	return 0;
}

int img_manifest_read(int dirfd, struct img_manifest *m, char *err, size_t errlen)
{
	char buf[8192];
	size_t got = 0;
	int fd = openat(dirfd, IMG_MANIFEST, O_RDONLY | O_CLOEXEC);
	char perr[256];

	memset(m, 0, sizeof(*m));
	if (fd < 0) {
		if (errno == ENOENT)
			return 1;
		snprintf(err, errlen, "open %s: %s", IMG_MANIFEST, strerror(errno));
		return -1;
	}
	for (;;) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "read %s: %s", IMG_MANIFEST, strerror(errno));
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got == sizeof(buf)) {
			snprintf(err, errlen, "%s: larger than %zu bytes", IMG_MANIFEST, sizeof(buf));
			close(fd);
			return -1;
		}
	}
	close(fd);
	if (img_manifest_parse(buf, got, m, perr, sizeof(perr))) {
		snprintf(err, errlen, "%s: %s", IMG_MANIFEST, perr);
		return -1;
	}
	return 0;
}

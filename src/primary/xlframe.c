/*
 * xlframe.c - xl's framing around the libxl stream (xl-protocol.md §1, §2.4):
 * the receiver's 54-byte banner, the 48-byte save header with the JSON
 * config, and after a plain migration the ready / GO / report handshake.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include "primary/primary.h"
#include "util/json.h"

/* Printable rendering of unexpected bytes, for messages. */
static void show(const uint8_t *p, size_t n, char *out, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 5 < len; i++) {
		if (isprint(p[i]) && p[i] != '\\')
			out[o++] = (char)p[i];
		else
			o += (size_t)snprintf(out + o, len - o, "\\x%02x", p[i]);
	}
	out[o] = '\0';
}

/* Read n bytes that must equal want; stop at the first byte that differs. */
static int expect_bytes(struct pr_sink *s, const char *want, size_t n, const char *what,
			uint32_t timeout_ms)
{
	uint8_t got[64];
	char err[256], shown[300];

	for (size_t i = 0; i < n; i++) {
		if (pr_sink_read_back(s, got + i, 1, timeout_ms, err, sizeof(err))) {
			show(got, i, shown, sizeof(shown));
			fprintf(stderr, "primary: waiting for xl's %s: %s (got \"%s\")\n", what, err, shown);
			return -1;
		}
		if (got[i] != (uint8_t)want[i]) {
			show(got, i + 1, shown, sizeof(shown));
			fprintf(stderr, "primary: %s contained unexpected data instead of xl's %s: \"%s\"\n",
				s->name, what, shown);
			return -1;
		}
	}
	return 0;
}

int pr_xl_wait_banner(struct pr_sink *s, uint32_t timeout_ms)
{
	return expect_bytes(s, SB_XL_BANNER, SB_XL_BANNER_LEN, "migration receiver banner", timeout_ms);
}

int pr_xl_send_header(struct pr_sink *s, const struct pr_config *cfg)
{
	char name[512], json[1024];
	struct sb_buf b;
	int rc;

	sb_json_escape(name, sizeof(name), cfg->name);
	snprintf(json, sizeof(json),
		 "{\n    \"c_info\": {\n        \"type\": \"%s\",\n        \"name\": %s\n    },\n"
		 "    \"b_info\": {\n        \"max_vcpus\": %u,\n        \"max_memkb\": %llu,\n"
		 "        \"target_memkb\": %llu\n    }\n}\n",
		 cfg->dom_type == SB_DOM_HVM ? "hvm" : "pv", name, cfg->vcpus,
		 (unsigned long long)(cfg->memory / 1024), (unsigned long long)(cfg->memory / 1024));
	sb_buf_init(&b);
	if (sb_write_xl_header(&b, json)) {
		fprintf(stderr, "primary: out of memory\n");
		return -1;
	}
	rc = pr_sink_write(s, b.data, b.len);
	sb_buf_free(&b);
	return rc;
}

int pr_xl_handshake(struct pr_sink *s, uint32_t timeout_ms, char *result, size_t len)
{
	uint8_t status;
	char err[256];
	int rc;

	if (expect_bytes(s, SB_XL_READY, SB_XL_READY_LEN, "ready message", timeout_ms))
		return -1;
	if ((rc = pr_sink_write(s, SB_XL_GO, SB_XL_GO_LEN)))
		return rc;
	if (expect_bytes(s, SB_XL_REPORT, SB_XL_REPORT_LEN, "report", timeout_ms))
		return -1;
	if (pr_sink_read_back(s, &status, 1, timeout_ms, err, sizeof(err))) {
		fprintf(stderr, "primary: reading xl's report status: %s\n", err);
		return -1;
	}
	if (status == 0) {
		snprintf(result, len, "target reports successful startup");
		return 0;
	}
	snprintf(result, len, "target reports startup failure (status code %u)", status);
	if (expect_bytes(s, SB_XL_GO, SB_XL_GO_LEN, "permission to resume", timeout_ms))
		return -1;
	return -1;
}

/*
 * json.c - JSON string escaping.
 */
#include <stdio.h>
#include <string.h>
#include "util/json.h"

size_t sb_json_escape(char *buf, size_t len, const char *s)
{
	size_t o = 0;

	if (len == 0)
		return 0;
#define PUT(c) do { if (o + 1 < len) buf[o++] = (c); } while (0)
	if (!s) {
		snprintf(buf, len, "null");
		return strlen(buf);
	}
	PUT('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\') {
			PUT('\\');
			PUT((char)*p);
		} else if (*p < 0x20) {
			char esc[8];
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			for (char *e = esc; *e; e++)
				PUT(*e);
		} else {
			PUT((char)*p);
		}
	}
	PUT('"');
#undef PUT
	buf[o] = '\0';
	return o;
}

void sb_json_string(FILE *f, const char *s)
{
	if (!s) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

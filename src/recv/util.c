/*
 * util.c - option parsing helpers of the receiving commands.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "standby/recv.h"

int sb_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *s == '-')
		return -1;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	case '\0': break;
	default: return -1;
	}
	if (*end == 'i' || *end == 'B')
		end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

#define PFN_LIST_MAX (1u << 24)     /* what one libxc record can carry */

int sb_parse_pfn_list(const char *s, uint64_t **pfns, uint32_t *count)
{
	uint64_t *v = NULL;
	uint32_t n = 0, cap = 0;
	const char *p = s;

	while (*p) {
		char *end;
		unsigned long long a, b;

		errno = 0;
		a = strtoull(p, &end, 0);
		if (errno || end == p)
			goto bad;
		b = a;
		if (*end == '-') {
			p = end + 1;
			b = strtoull(p, &end, 0);
			if (errno || end == p || b < a)
				goto bad;
		}
		for (unsigned long long x = a; x <= b; x++) {
			if (n >= PFN_LIST_MAX)
				goto bad;
			if (n == cap) {
				uint64_t *nv;
				cap = cap ? cap * 2 : 16;
				nv = realloc(v, cap * sizeof(*v));
				if (!nv)
					goto bad;
				v = nv;
			}
			v[n++] = x;
		}
		p = end;
		if (*p == ',')
			p++;
		else if (*p)
			goto bad;
	}
	*pfns = v;
	*count = n;
	return 0;
bad:
	free(v);
	return -1;
}

/* Keep [A-Za-z0-9._-], map the rest to '_', no leading dot, at most outlen-1. */
void sb_sanitize_name(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	if (!outlen)
		return;
	for (; in && *in && o + 1 < outlen && o < 64; in++) {
		unsigned char c = (unsigned char)*in;

		if (isalnum(c) || c == '-' || c == '_' || (c == '.' && o > 0))
			out[o++] = (char)c;
		else
			out[o++] = '_';
	}
	out[o] = '\0';
}

/*
 * image_present.c - the set of pfns whose page in the memory file holds data
 * sent by the stream.  Two levels: a directory of pointers, each to a chunk
 * of 2^18 bits (32 KiB, 1 GiB of guest memory), allocated on first use.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "backend/image.h"

#define CHUNK_SHIFT 18
#define CHUNK_BITS (1ull << CHUNK_SHIFT)
#define CHUNK_WORDS (CHUNK_BITS / 64)

struct img_present {
	uint64_t **chunks;
	size_t nchunks;
	uint64_t count;
	uint64_t end;                   /* highest set pfn + 1, or 0 */
};

struct img_present *img_present_new(void)
{
	return calloc(1, sizeof(struct img_present));
}

void img_present_free(struct img_present *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nchunks; i++)
		free(p->chunks[i]);
	free(p->chunks);
	free(p);
}

int img_present_get(const struct img_present *p, uint64_t pfn)
{
	uint64_t c = pfn >> CHUNK_SHIFT, bit = pfn & (CHUNK_BITS - 1);

	if (c >= p->nchunks || !p->chunks[c])
		return 0;
	return (int)(p->chunks[c][bit / 64] >> (bit % 64) & 1);
}

static uint64_t *chunk_for(struct img_present *p, uint64_t c)
{
	if (c >= p->nchunks) {
		size_t n = (size_t)c + 1;
		uint64_t **v;

		if (n < p->nchunks * 2)
			n = p->nchunks * 2;
		v = realloc(p->chunks, n * sizeof(*v));
		if (!v)
			return NULL;
		memset(v + p->nchunks, 0, (n - p->nchunks) * sizeof(*v));
		p->chunks = v;
		p->nchunks = n;
	}
	if (!p->chunks[c])
		p->chunks[c] = calloc(CHUNK_WORDS, sizeof(uint64_t));
	return p->chunks[c];
}

/* Highest set pfn + 1 at or below limit (exclusive), scanning down. */
static uint64_t scan_end(const struct img_present *p, uint64_t limit)
{
	while (limit) {
		uint64_t pfn = limit - 1, c = pfn >> CHUNK_SHIFT;

		if (c >= p->nchunks || !p->chunks[c]) {
			limit = c << CHUNK_SHIFT;
			continue;
		}
		uint64_t bit = pfn & (CHUNK_BITS - 1);
		uint64_t word = p->chunks[c][bit / 64] & (~0ull >> (63 - bit % 64));

		if (word)
			return (pfn & ~63ull) + (uint64_t)(63 - __builtin_clzll(word)) + 1;
		limit = pfn & ~63ull;
	}
	return 0;
}

int img_present_set(struct img_present *p, uint64_t pfn, int on)
{
	uint64_t c = pfn >> CHUNK_SHIFT, bit = pfn & (CHUNK_BITS - 1);
	uint64_t *w;
	int old;

	if (pfn > IMG_MAX_PFN) {
		errno = EFBIG;
		return -1;
	}
	if (!on && !img_present_get(p, pfn))
		return 0;
	w = chunk_for(p, c);
	if (!w) {
		errno = ENOMEM;
		return -1;
	}
	w += bit / 64;
	old = (int)(*w >> (bit % 64) & 1);
	if (on && !old) {
		*w |= 1ull << (bit % 64);
		p->count++;
		if (pfn + 1 > p->end)
			p->end = pfn + 1;
	} else if (!on && old) {
		*w &= ~(1ull << (bit % 64));
		p->count--;
		if (pfn + 1 == p->end)
			p->end = scan_end(p, pfn);
	}
	return old;
}

uint64_t img_present_count(const struct img_present *p) { return p->count; }
uint64_t img_present_end(struct img_present *p) { return p->end; }

/*
 * epoch.c - the epoch buffer (see epoch.h).
 *
 * Memory:
 *   arena   one byte array, grown by doubling and never shrunk: raw bodies
 *           of non-page records and 4096-byte page copies, appended in
 *           arrival order.  Everything refers to it by offset.
 *   recs    the non-page records, in stream order (public struct + offset).
 *   pages   the distinct pfns, in first-seen order (public struct + offset).
 *   index   open-addressing hash table (linear probing, power-of-two size,
 *           load <= 1/2): pfn -> 1 + position in pages; 0 marks a free slot.
 *
 * The public structs carry pointers into the arena; when the arena moves
 * (realloc) they are recomputed from the offsets, so what sb_epoch_rec() and
 * sb_epoch_page() hand out stays valid until the next add or reset.
 *
 * Reservation (sb_epoch_reserve): room past arena_len handed to the parser
 * to assemble one record body in (resv).  When that body comes back to
 * sb_epoch_add(), it is claimed where it lies: its pages are indexed in
 * place (a page's offset then points into the PAGE_DATA body, pfn array and
 * all), a raw body is kept where it is; nothing is copied.  A pfn sent again
 * in the same epoch then points to its newest copy; the older one stays in
 * the arena unused until the reset (it was counted against the bound when
 * it arrived, like every byte of the epoch).
 *
 * The bound (max_bytes) covers the arena bytes in use plus the bookkeeping:
 * one slot per record and per page, and the index table.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "standby/epoch.h"
#include "standby/records.h"

#define NO_DATA UINT64_MAX

struct rec_slot {
	struct sb_epoch_rec pub;
	uint64_t off;
};

struct page_slot {
	struct sb_epoch_page pub;
	uint64_t off;                   /* NO_DATA until the pfn has carried data */
};

struct sb_epoch {
	uint64_t max_bytes;
	uint64_t number;
	uint8_t *arena;
	uint64_t arena_len, arena_cap;
	struct rec_slot *recs;
	size_t nrecs, recs_cap;
	struct page_slot *pages;
	size_t npages, pages_cap;
	uint32_t *index;
	size_t index_cap;               /* 0 or a power of two */
	uint64_t wire_bytes;
	uint64_t resv_len;              /* bytes reserved at arena_len, 0 = none */
	uint64_t claim;                 /* NO_DATA, or offset of the body being claimed */
};

struct sb_epoch *sb_epoch_new(uint64_t max_bytes)
{
	struct sb_epoch *ep = calloc(1, sizeof(*ep));

	if (!ep)
		return NULL;
	ep->max_bytes = max_bytes;
	ep->claim = NO_DATA;
	return ep;
}

void sb_epoch_free(struct sb_epoch *ep)
{
	if (!ep)
		return;
	free(ep->arena);
	free(ep->recs);
	free(ep->pages);
	free(ep->index);
	free(ep);
}

void sb_epoch_reset(struct sb_epoch *ep, uint64_t number)
{
	ep->number = number;
	ep->arena_len = 0;
	ep->nrecs = 0;
	ep->npages = 0;
	ep->wire_bytes = 0;
	ep->resv_len = 0;
	if (ep->index)
		memset(ep->index, 0, ep->index_cap * sizeof(*ep->index));
}

/* Bytes counted against the bound if the epoch held these amounts. */
static uint64_t cost(uint64_t arena_len, size_t nrecs, size_t npages, size_t index_cap)
{
	return arena_len + nrecs * sizeof(struct rec_slot) +
	       npages * sizeof(struct page_slot) + index_cap * sizeof(uint32_t);
}

static int over_bound(const struct sb_epoch *ep, uint64_t arena_len, size_t nrecs,
		      size_t npages, size_t index_cap)
{
	if (cost(arena_len, nrecs, npages, index_cap) > ep->max_bytes) {
		errno = ENOBUFS;
		return 1;
	}
	return 0;
}

static void rebase(struct sb_epoch *ep)
{
	for (size_t i = 0; i < ep->nrecs; i++)
		if (ep->recs[i].pub.length)
			ep->recs[i].pub.body = ep->arena + ep->recs[i].off;
	for (size_t i = 0; i < ep->npages; i++)
		if (ep->pages[i].pub.data)
			ep->pages[i].pub.data = ep->arena + ep->pages[i].off;
}

/* Capacity for need arena bytes in all (0, or -1 with errno). */
static int arena_fit(struct sb_epoch *ep, uint64_t need)
{
	uint64_t cap = ep->arena_cap ? ep->arena_cap : 65536;
	uint8_t *p;

	if (need <= ep->arena_cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if (cap > SIZE_MAX) {
		errno = ENOMEM;
		return -1;
	}
	p = realloc(ep->arena, (size_t)cap);
	if (!p) {
		errno = ENOMEM;
		return -1;
	}
	ep->arena = p;
	ep->arena_cap = cap;
	rebase(ep);
	return 0;
}

/* Take n arena bytes; returns their offset, or NO_DATA (errno set).  Any
 * reservation lapses: the arena may move. */
static uint64_t arena_take(struct sb_epoch *ep, uint64_t n)
{
	uint64_t off = ep->arena_len;

	ep->resv_len = 0;
	if (arena_fit(ep, ep->arena_len + n))
		return NO_DATA;
	ep->arena_len += n;
	return off;
}

uint8_t *sb_epoch_reserve(struct sb_epoch *ep, size_t n)
{
	ep->resv_len = 0;
	if (over_bound(ep, ep->arena_len + n, ep->nrecs, ep->npages, ep->index_cap) ||
	    arena_fit(ep, ep->arena_len + n))
		return NULL;
	ep->resv_len = n;
	return ep->arena + ep->arena_len;
}

/* Is body the reserved room (then it is claimed: kept where it lies)? */
static int take_reserved(struct sb_epoch *ep, const uint8_t *body, uint32_t length)
{
	if (!ep->resv_len || body != ep->arena + ep->arena_len || length > ep->resv_len)
		return 0;
	ep->claim = ep->arena_len;
	ep->arena_len += sb_pad8(length);       /* within the reservation: no move */
	ep->resv_len = 0;
	return 1;
}

/* Make room for one more element in a slot array. */
static int grow_slots(void **arr, size_t *cap, size_t used, size_t size)
{
	size_t ncap;
	void *p;

	if (used < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 64;
	p = realloc(*arr, ncap * size);
	if (!p) {
		errno = ENOMEM;
		return -1;
	}
	*arr = p;
	*cap = ncap;
	return 0;
}

static size_t hash_pfn(uint64_t pfn, size_t cap)
{
	return (size_t)((pfn * 0x9E3779B97F4A7C15ull) >> 32) & (cap - 1);
}

/* Slot of pfn in the index: the one holding it, or the free one where it goes. */
static size_t index_find(const struct sb_epoch *ep, uint64_t pfn)
{
	size_t i = hash_pfn(pfn, ep->index_cap);

	while (ep->index[i] && ep->pages[ep->index[i] - 1].pub.pfn != pfn)
		i = (i + 1) & (ep->index_cap - 1);
	return i;
}

static int index_grow(struct sb_epoch *ep)
{
	size_t ncap = ep->index_cap ? ep->index_cap * 2 : 1024;
	uint32_t *n;

	if (over_bound(ep, ep->arena_len, ep->nrecs, ep->npages, ncap))
		return -1;
	n = calloc(ncap, sizeof(*n));
	if (!n) {
		errno = ENOMEM;
		return -1;
	}
	free(ep->index);
	ep->index = n;
	ep->index_cap = ncap;
	for (size_t p = 0; p < ep->npages; p++)
		ep->index[index_find(ep, ep->pages[p].pub.pfn)] = (uint32_t)(p + 1);
	return 0;
}

static int add_page(uint64_t pfn, unsigned type, const uint8_t *data, void *opaque)
{
	struct sb_epoch *ep = opaque;
	struct page_slot *ps;
	size_t slot;

	if (!ep->index_cap && index_grow(ep))
		return -1;
	slot = index_find(ep, pfn);
	if (!ep->index[slot] && (ep->npages + 1) * 2 > ep->index_cap) {
		if (index_grow(ep))
			return -1;
		slot = index_find(ep, pfn);
	}
	if (ep->index[slot]) {
		ps = &ep->pages[ep->index[slot] - 1];
	} else {
		if (ep->npages >= UINT32_MAX - 1) {
			errno = ENOBUFS;
			return -1;
		}
		if (over_bound(ep, ep->arena_len, ep->nrecs, ep->npages + 1, ep->index_cap) ||
		    grow_slots((void **)&ep->pages, &ep->pages_cap, ep->npages, sizeof(*ep->pages)))
			return -1;
		ps = &ep->pages[ep->npages];
		ps->pub.pfn = pfn;
		ps->pub.data = NULL;
		ps->off = NO_DATA;
		ep->index[slot] = (uint32_t)++ep->npages;
	}
	ps->pub.type = type;
	if (!data) {
		ps->pub.data = NULL;        /* keeps its arena copy for a later resend */
		return 0;
	}
	if (ep->claim != NO_DATA) {     /* the page lies in the claimed body: point at it */
		ps->off = (uint64_t)(data - ep->arena);
		ps->pub.data = data;
		return 0;
	}
	if (ps->off == NO_DATA) {
		uint64_t off;

		if (over_bound(ep, ep->arena_len + SB_PAGE_SIZE, ep->nrecs, ep->npages, ep->index_cap))
			return -1;
		off = arena_take(ep, SB_PAGE_SIZE);
		if (off == NO_DATA)
			return -1;
		ps = &ep->pages[ep->index[slot] - 1];
		ps->off = off;
	}
	memcpy(ep->arena + ps->off, data, SB_PAGE_SIZE);
	ps->pub.data = ep->arena + ps->off;
	return 0;
}

static int add_raw(struct sb_epoch *ep, enum sb_layer layer, uint32_t type,
		   const uint8_t *body, uint32_t length)
{
	struct rec_slot *rs;
	uint64_t off = 0;
	uint64_t extra = ep->claim != NO_DATA ? 0 : length;

	if (over_bound(ep, ep->arena_len + extra, ep->nrecs + 1, ep->npages, ep->index_cap) ||
	    grow_slots((void **)&ep->recs, &ep->recs_cap, ep->nrecs, sizeof(*ep->recs)))
		return -1;
	if (ep->claim != NO_DATA) {
		off = ep->claim;
	} else if (length) {
		off = arena_take(ep, length);
		if (off == NO_DATA)
			return -1;
		memcpy(ep->arena + off, body, length);
	}
	rs = &ep->recs[ep->nrecs++];
	rs->off = off;
	rs->pub.layer = layer;
	rs->pub.type = type;
	rs->pub.length = length;
	rs->pub.body = length ? ep->arena + off : NULL;
	return 0;
}

int sb_epoch_add(struct sb_epoch *ep, enum sb_layer layer, uint32_t type,
		 const uint8_t *body, uint32_t length)
{
	int rc;

	if (length && take_reserved(ep, body, length) &&
	    over_bound(ep, ep->arena_len, ep->nrecs, ep->npages, ep->index_cap)) {
		ep->claim = NO_DATA;
		return -1;
	}
	if (layer == SB_LAYER_LIBXC && type == SB_LIBXC_PAGE_DATA)
		rc = sb_page_data_foreach(body, length, add_page, ep) ? -1 : 0;
	else
		rc = add_raw(ep, layer, type, body, length);
	ep->claim = NO_DATA;
	ep->resv_len = 0;
	if (rc == 0)
		ep->wire_bytes += SB_REC_HDR_LEN + sb_pad8(length);
	return rc;
}

uint64_t sb_epoch_number(const struct sb_epoch *ep) { return ep->number; }
size_t sb_epoch_nrecs(const struct sb_epoch *ep) { return ep->nrecs; }
size_t sb_epoch_npages(const struct sb_epoch *ep) { return ep->npages; }
uint64_t sb_epoch_bytes(const struct sb_epoch *ep) { return ep->arena_len; }
uint64_t sb_epoch_wire_bytes(const struct sb_epoch *ep) { return ep->wire_bytes; }

const struct sb_epoch_rec *sb_epoch_rec(const struct sb_epoch *ep, size_t i)
{
	return i < ep->nrecs ? &ep->recs[i].pub : NULL;
}

const struct sb_epoch_page *sb_epoch_page(const struct sb_epoch *ep, size_t i)
{
	return i < ep->npages ? &ep->pages[i].pub : NULL;
}

uint64_t sb_epoch_peak_bytes(const struct sb_epoch *ep)
{
	return ep->arena_cap + ep->recs_cap * sizeof(struct rec_slot) +
	       ep->pages_cap * sizeof(struct page_slot) + ep->index_cap * sizeof(uint32_t);
}

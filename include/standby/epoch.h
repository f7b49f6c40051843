/*
 * epoch.h - the epoch buffer: the records of one checkpoint, held until its
 * CHECKPOINT_END arrives.
 *
 * One reusable arena of raw record bodies (no malloc per record) plus a pfn
 * index: PAGE_DATA records are split into pages, and a page sent twice in
 * one epoch is kept once (the later copy wins).  Every other record
 * is kept raw, in stream order.  The total is bounded (max_bytes); going past
 * it is an error the caller treats as a stream error.
 */
#ifndef STANDBY_EPOCH_H
#define STANDBY_EPOCH_H

#include <stddef.h>
#include <stdint.h>
#include "standby/format.h"

struct sb_epoch_rec {               /* a non-page record, in stream order */
	enum sb_layer layer;
	uint32_t type;
	uint32_t length;
	const uint8_t *body;            /* into the arena; valid until the next add or reset
					 * (the arena may move when it grows); NULL when length is 0 */
};

struct sb_epoch_page {              /* one distinct pfn of this epoch */
	uint64_t pfn;
	unsigned type;                  /* page type nibble (SB_PT_*) */
	const uint8_t *data;            /* 4096 bytes, or NULL for types without data */
};

struct sb_epoch;

struct sb_epoch *sb_epoch_new(uint64_t max_bytes);
void sb_epoch_free(struct sb_epoch *ep);
/* Empty it for the next epoch, keeping its memory. */
void sb_epoch_reset(struct sb_epoch *ep, uint64_t number);

/* Add a record as the parser delivered it.  PAGE_DATA goes to the pfn index,
 * everything else is kept raw.  Returns 0, or -1 when the bound would be
 * exceeded or memory is short (errno ENOBUFS / ENOMEM). */
int sb_epoch_add(struct sb_epoch *ep, enum sb_layer layer, uint32_t type,
		 const uint8_t *body, uint32_t length);

/* Room for the next record body, n bytes at the end of the arena, for the
 * parser to assemble it in (sb_parser_config.body_cb); NULL when the bound
 * or memory says no.  Valid until the next add or reset.  When that body
 * then comes to sb_epoch_add() it is kept where it lies, not copied. */
uint8_t *sb_epoch_reserve(struct sb_epoch *ep, size_t n);
uint64_t sb_epoch_number(const struct sb_epoch *ep);
size_t sb_epoch_nrecs(const struct sb_epoch *ep);
/* Pointers from sb_epoch_rec()/sb_epoch_page() (and the body/data in them) stay
 * valid until the next sb_epoch_add() or sb_epoch_reset(); NULL past the end. */
const struct sb_epoch_rec *sb_epoch_rec(const struct sb_epoch *ep, size_t i);
size_t sb_epoch_npages(const struct sb_epoch *ep);               /* distinct pfns */
const struct sb_epoch_page *sb_epoch_page(const struct sb_epoch *ep, size_t i); /* in first-seen order */
uint64_t sb_epoch_bytes(const struct sb_epoch *ep);              /* bytes held (bodies + pages) */
uint64_t sb_epoch_wire_bytes(const struct sb_epoch *ep);         /* wire bytes of the records added */
uint64_t sb_epoch_peak_bytes(const struct sb_epoch *ep);         /* memory the arena holds now */

#endif

/*
 * streamgen.h - test helper: small, valid sample streams built with the
 * writer (writer.h), and a recorder that turns parser events into a trace
 * that can be compared between runs (different splits, pauses).
 *
 * Linked into every unit test binary; everything is prefixed sg_.
 */
#ifndef STANDBY_TEST_STREAMGEN_H
#define STANDBY_TEST_STREAMGEN_H

#include <stddef.h>
#include <stdint.h>
#include "standby/parser.h"
#include "standby/writer.h"

/* ---- sample streams ---- */

struct sg_opts {
	uint32_t dom;           /* SB_DOM_PV or SB_DOM_HVM (0 = HVM) */
	unsigned checkpoints;   /* CHECKPOINT_END count; 0 = plain stream ending in END */
	int colo;               /* CHECKPOINT_STATE(NEW) at each epoch start after the first */
	int xl;                 /* xl header and JSON config first */
	int bare;               /* bare libxc stream: image header ... libxc END (plain only) */
	uint32_t version;       /* libxc stream version (0 = 3) */
	unsigned pages;         /* data pages per epoch (0 = 2) */
	unsigned width;         /* PV guest width in bytes, 8 or 4 (0 = 8) */
};

extern const char sg_json[];            /* a small xl JSON domain config */
#define SG_P2M_END 1023u                /* PV p2m covers pfns 0..1023 */

/* Whole stream; 0 or -1. */
int sg_stream(struct sb_buf *b, const struct sg_opts *o);

/* Pieces, for building malformed streams. */
int sg_libxc_headers(struct sb_buf *b, uint32_t dom, uint32_t version);
int sg_static(struct sb_buf *b, const struct sg_opts *o);       /* PV_INFO, policies, STATIC_DATA_END, P2M */
int sg_pages(struct sb_buf *b, unsigned epoch, unsigned npages);/* one PAGE_DATA (+1 XTAB entry) */
int sg_end_of_checkpoint(struct sb_buf *b, const struct sg_opts *o, unsigned epoch);
int sg_emulators(struct sb_buf *b, unsigned epoch);             /* XENSTORE_DATA + CONTEXT */
/* libxl header, LIBXC_CONTEXT, libxc headers, static records: ready for PAGE_DATA */
int sg_prefix(struct sb_buf *b, const struct sg_opts *o);

/* COLO back channel: READY RESUMED, then cycles x (SUSPENDED DIRTY READY RESUMED) */
int sg_back_channel(struct sb_buf *b, unsigned cycles);

/* ---- event traces ---- */

struct sg_tev {
	int kind;
	uint64_t offset;
	int layer;
	uint32_t type, length;
	uint64_t hash;          /* body bytes (records), JSON (preamble) */
	uint64_t epoch;
	uint64_t f[6];          /* kind-specific fields */
	int skipped;
};

struct sg_trace {
	struct sg_tev *ev;
	size_t n, cap;
	/* zero-copy accounting: bodies inside [base, base+base_len) */
	const uint8_t *base;
	size_t base_len;
	size_t in_place, copied;
	int pause_every;        /* return SB_CB_PAUSE on every event */
	int paused;             /* set when the last callback paused */
	int got_end;
	long abort_at;          /* abort at this event index (-1 = never) */
};

void sg_trace_init(struct sg_trace *t);
void sg_trace_free(struct sg_trace *t);
int sg_trace_cb(const struct sb_event *ev, void *opaque);
/* index of the first difference, or -1 when equal */
long sg_trace_diff(const struct sg_trace *a, const struct sg_trace *b);
size_t sg_trace_count(const struct sg_trace *t, int kind);

uint64_t sg_hash(const void *p, size_t n);

/* Parse data fed in pieces ending at cuts[0..ncuts) (then the rest), resuming
 * after pauses and stopping at the final END.  cfg may be NULL (defaults);
 * its cb/opaque are replaced by the trace.  Returns finish()'s result, or -1
 * when feed failed; *err gets the parser's error. */
int sg_parse(const uint8_t *data, size_t len, const size_t *cuts, size_t ncuts,
	     const struct sb_parser_config *cfg, struct sg_trace *t, struct sb_error *err,
	     size_t *consumed);

/* Deterministic PRNG for tests. */
uint64_t sg_rand(uint64_t *state);

#endif

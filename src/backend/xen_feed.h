/*
 * xen_feed.h - re-encode what the xen target receives into the libxc stream
 * that xc_domain_restore() reads in the helper process.
 *
 * The target gets checked records from the receiver; libxc wants a libxc
 * stream on an fd: image header, domain header, records.  The feed writes
 *
 *   image header (v2 or v3) + domain header            (once the type is known)
 *   the initial libxc records, as they arrive           (the live copy)
 *   CHECKPOINT                                          (at the commit of epoch 0)
 *   for each later committed epoch:
 *     its pages re-batched as PAGE_DATA (<= 1024 pages a record),
 *     its other libxc records in stream order, then CHECKPOINT
 *
 * The headers are held back until the stream shows what they must say: the
 * version is 3 when STATIC_DATA_END comes before any memory record (else 2,
 * so that libxc infers it as Xen does for old senders), and the domain type
 * is PV when X86_PV_INFO came, else the hint (the config's type), else HVM.
 * libxl records are never fed (the target keeps EMULATOR_* itself); libxc
 * CHECKPOINT of the live copy is held back until the commit, so a stream that
 * dies between CHECKPOINT and CHECKPOINT_END leaves libxc without a
 * checkpoint, exactly as standby has none.
 */
#ifndef STANDBY_XEN_FEED_H
#define STANDBY_XEN_FEED_H

#include <stddef.h>
#include <stdint.h>
#include "standby/epoch.h"
#include "standby/parser.h"
#include "standby/writer.h"

struct sb_xen_feed {
	int ready;                  /* headers written: dom_type/version are final */
	uint32_t dom_type_hint;     /* SB_DOM_PV / SB_DOM_HVM / 0 */
	uint32_t dom_type;          /* decided type, once ready */
	uint32_t version;           /* libxc version written, once ready */
	uint32_t xen_major, xen_minor;
	int seen_pv_info;
	int held_checkpoint;        /* the live copy's CHECKPOINT waits for commit(0) */
	int plain_end;              /* a libxc END was fed (plain stream complete) */
	uint64_t checkpoints;       /* CHECKPOINT records fed */
	uint64_t records;           /* libxc records fed */
	struct sb_buf pending;      /* static records before the headers */
};

void sb_xen_feed_init(struct sb_xen_feed *f, uint32_t dom_type_hint,
		      uint32_t xen_major, uint32_t xen_minor);
void sb_xen_feed_free(struct sb_xen_feed *f);

/* A record of the live copy (before the first commit).  Appends to out what
 * libxc may read now (possibly nothing).  Returns 0, or -1 with err filled. */
int sb_xen_feed_initial(struct sb_xen_feed *f, const struct sb_record *rec,
			struct sb_buf *out, char *err, size_t errlen);

/* A committed epoch (ep may be NULL: the commit of epoch 0 with nothing held
 * back).  Appends the epoch and its CHECKPOINT.  Returns 0 or -1. */
int sb_xen_feed_commit(struct sb_xen_feed *f, const struct sb_epoch *ep,
		       struct sb_buf *out, char *err, size_t errlen);

/* Force the headers out (e.g. a stream of static records only); 0 or -1. */
int sb_xen_feed_start(struct sb_xen_feed *f, struct sb_buf *out, uint32_t version);

#endif

/*
 * parser.h - push parser for Xen migration v2 streams.
 *
 * The caller feeds bytes in any split; the parser calls back with events in
 * stream order.  A record body that lies whole in the fed buffer is handed
 * out in place (no copy); only a record split across feeds is assembled, in
 * one buffer the parser reuses.  Pointers in an event are valid only during
 * the callback.  The parser never reads past what it was given and never
 * consumes bytes after the final libxl END (xl's GO message follows there).
 *
 * Errors are values: sb_parser_feed()/sb_parser_finish() return -1 and fill
 * sb_parser_error(); the parser then refuses further input.
 */
#ifndef STANDBY_PARSER_H
#define STANDBY_PARSER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "standby/format.h"

enum sb_err {
	SB_OK = 0,
	SB_ERR_TRUNCATED,       /* EOF inside a header or body, or before END */
	SB_ERR_BAD_MAGIC,       /* xl magic, or unrecognised first bytes */
	SB_ERR_BAD_IDENT,       /* libxl ident / libxc id */
	SB_ERR_BAD_MARKER,      /* libxc image marker */
	SB_ERR_BAD_VERSION,
	SB_ERR_BIG_ENDIAN,
	SB_ERR_BAD_HEADER,      /* reserved bits/fields, byteorder, flags, domain type, page shift */
	SB_ERR_BAD_CONFIG,      /* xl preamble: config length, JSON, NUL */
	SB_ERR_TOO_LONG,        /* a length over its cap */
	SB_ERR_BAD_LENGTH,      /* a length that disagrees with the record's content */
	SB_ERR_BAD_PFN_TYPE,
	SB_ERR_BAD_PFN,         /* out of bounds, or reserved bits set */
	SB_ERR_BAD_RECORD,      /* a field value that is invalid for the record */
	SB_ERR_UNKNOWN_RECORD,  /* unknown mandatory record */
	SB_ERR_ORDER,           /* a record out of its place */
	SB_ERR_AFTER_END,       /* bytes after the final END */
	SB_ERR_BAD_PADDING,     /* non-zero padding */
	SB_ERR_NOMEM,
	SB_ERR_ABORTED,         /* the callback asked to stop with an error */
	SB_ERR__COUNT
};
const char *sb_err_name(enum sb_err code);

struct sb_error {
	enum sb_err code;
	uint64_t offset;        /* absolute stream offset where the fault lies */
	uint64_t record_index;  /* index of the record concerned (records counted from 0) */
	enum sb_layer layer;
	uint32_t type;          /* record type, when layer is LIBXL/LIBXC and a record is concerned */
	int has_record;
	char msg[512];          /* "<stream>: offset N, record #I (libxc PAGE_DATA): expected ..., found ..." */
};

enum sb_event_kind {
	SB_EV_XL_HEADER,        /* xl save header (ev.xl) */
	SB_EV_PREAMBLE,         /* xl JSON config complete (ev.preamble) */
	SB_EV_LIBXL_HEADER,     /* ev.libxl_hdr */
	SB_EV_LIBXC_HEADER,     /* image + domain header (ev.libxc_hdr) */
	SB_EV_RECORD,           /* one complete record (ev.rec) */
	SB_EV_EPOCH_END,        /* CHECKPOINT_END completed epoch ev.epoch.number */
	SB_EV_END,              /* final END of the outermost layer: stream complete */
};
/* Event offsets: XL_HEADER 0; PREAMBLE the start of the optional data (48);
 * LIBXC_HEADER the image header; RECORD and END the record header; EPOCH_END
 * where the epoch began (its first record).  EPOCH_END and END follow the
 * RECORD event of the CHECKPOINT_END / END record. */

/* What kind of input the parser expects. */
enum sb_stream_kind {
	SB_STREAM_AUTO = 0,     /* detect: xl header, libxl header, or bare libxc image header */
	SB_STREAM_XL,           /* must start with the xl save header */
	SB_STREAM_LIBXL,        /* must start with the libxl header */
	SB_STREAM_COLO_BACK,    /* COLO back channel: bare records, no header (§1.7) */
};

/* Which checkpointing the stream may use. */
enum sb_mode {
	SB_MODE_ANY = 0,        /* plain, Remus or COLO, as the stream shows */
	SB_MODE_PLAIN,          /* CHECKPOINT is an error */
	SB_MODE_REMUS,          /* CHECKPOINT_STATE is an error */
	SB_MODE_COLO,
};

struct sb_record {
	enum sb_layer layer;
	uint32_t type;          /* as on the wire (optional bit kept) */
	uint32_t length;        /* body length, without padding */
	const uint8_t *body;    /* length bytes; NULL when length is 0 */
	uint64_t offset;        /* absolute offset of the record header */
	uint64_t index;         /* record index in the stream, from 0 */
	uint64_t epoch;         /* 0 = initial copy (up to the first CHECKPOINT_END); 0 on the back channel */
	int skipped;            /* unknown optional libxc record: reported, not interpreted */
	/* PAGE_DATA summary (valid when layer==LIBXC and type==PAGE_DATA) */
	uint32_t page_count;    /* pfn entries (CHECKPOINT_DIRTY_PFN_LIST: pfns) */
	uint32_t data_pages;    /* entries carrying 4096 bytes */
	uint64_t pfn_min, pfn_max;
};

struct sb_event {
	enum sb_event_kind kind;
	uint64_t offset;        /* absolute offset where the item starts */
	union {
		struct {
			uint32_t mandatory_flags, optional_flags, optional_data_len;
		} xl;
		struct {
			const char *json;       /* NUL-terminated config (may be NULL when config_len==0) */
			uint32_t config_len;    /* as on the wire (counts the NUL) */
			const char *name;       /* c_info.name from the JSON, or NULL */
			const char *guest_type; /* c_info.type ("pv", "pvh", "hvm"), or NULL */
			uint64_t max_memkb;     /* b_info.max_memkb, 0 when absent */
			uint32_t max_vcpus;     /* b_info.max_vcpus, 0 when absent */
		} preamble;
		struct {
			uint32_t version, options;
		} libxl_hdr;
		struct {
			uint32_t version;       /* 2 or 3 */
			uint16_t options;
			uint32_t domain_type;   /* SB_DOM_PV / SB_DOM_HVM */
			uint16_t page_shift;
			uint32_t xen_major, xen_minor;
		} libxc_hdr;
		struct sb_record rec;
		struct {
			uint64_t number;        /* the epoch just completed */
			uint64_t pages;         /* PAGE_DATA pfn entries in it */
			uint64_t data_pages;    /* of which carry data */
			uint64_t bytes;         /* wire bytes from its first record through CHECKPOINT_END */
			uint64_t records;
		} epoch;
	} u;
};

/* Return 0 to go on, SB_CB_PAUSE to make feed return right after this event
 * (the remaining bytes are left unconsumed), SB_CB_ABORT to fail the stream
 * with SB_ERR_ABORTED (the callback may fill the message first through
 * sb_parser_fail()). */
#define SB_CB_CONTINUE 0
#define SB_CB_PAUSE    1
#define SB_CB_ABORT    2
typedef int (*sb_event_cb)(const struct sb_event *ev, void *opaque);

/* Optional: caller memory for a record body that does not lie whole in one
 * feed, so that it is assembled (and read in place) where the caller keeps
 * it instead of in the parser's buffer and copied again.  Asked at most once
 * per such record, when its header has passed the length caps; rec has the
 * header fields (layer, type, length, offset, index, epoch), no body yet.
 * Return at least need (the padded body length) bytes that stay valid and
 * are not touched by the caller until that record's RECORD event, whose
 * rec.body then points to them; or NULL to let the parser use its own
 * buffer.  If the stream fails first, the memory is simply not used. */
typedef uint8_t *(*sb_body_cb)(const struct sb_record *rec, uint32_t need, void *opaque);

struct sb_parser_config {
	const char *name;           /* stream name used in messages ("stdin", "unix:3", a path) */
	enum sb_stream_kind kind;
	enum sb_mode mode;
	uint32_t libxl_max_record;  /* cap on libxl record bodies; 0 = SB_LIBXL_REC_LENGTH_DEFAULT_MAX */
	uint32_t config_max;        /* cap on the xl JSON config; 0 = 1 MiB */
	uint64_t max_pfn;           /* highest acceptable pfn; 0 = (1<<32)-1 */
	sb_event_cb cb;
	sb_body_cb body_cb;         /* optional, see above; gets opaque too */
	void *opaque;
};

struct sb_parser;

struct sb_parser *sb_parser_new(const struct sb_parser_config *cfg);
void sb_parser_free(struct sb_parser *p);

/* Feed len bytes.  Returns the number of bytes consumed (== len unless the
 * callback paused or the stream reached its final END), or -1 on error. */
ssize_t sb_parser_feed(struct sb_parser *p, const uint8_t *buf, size_t len);

/* Input read in place, to skip one copy of large records.  While a record
 * body is being assembled (it did not lie whole in one feed), the caller may
 * read up to sb_parser_body_room() bytes straight to *where, then hand them
 * over with sb_parser_feed_in_place(), which acts as sb_parser_feed() of
 * those bytes (same events, errors and return value).  body_room returns 0
 * when no body is being assembled (or on ENOMEM, which the next feed reports):
 * then use sb_parser_feed(). */
size_t sb_parser_body_room(struct sb_parser *p, uint8_t **where);
ssize_t sb_parser_feed_in_place(struct sb_parser *p, size_t n);

/* Give back the parser's own assembly buffer when nothing lies in it: no
 * body half assembled, no RECORD event being delivered (for a caller that
 * now gives body memory itself, or goes quiet); allocated again when needed. */
void sb_parser_trim(struct sb_parser *p);

/* The input ended.  Returns 0 when the stream is complete (final END), 1 when
 * a checkpointed stream stopped exactly after a CHECKPOINT_END, -1 otherwise
 * (error filled: SB_ERR_TRUNCATED with what was expected). */
int sb_parser_finish(struct sb_parser *p);

const struct sb_error *sb_parser_error(const struct sb_parser *p);
/* Fail the stream from inside a callback or from the caller. */
void sb_parser_fail(struct sb_parser *p, enum sb_err code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Progress, for reports. */
uint64_t sb_parser_offset(const struct sb_parser *p);          /* bytes consumed so far */
uint64_t sb_parser_epochs_complete(const struct sb_parser *p); /* CHECKPOINT_END seen */
uint64_t sb_parser_epoch_start(const struct sb_parser *p);     /* offset where the current epoch began */
int sb_parser_done(const struct sb_parser *p);                 /* final END seen */
uint32_t sb_parser_domain_type(const struct sb_parser *p);     /* 0 until the libxc domain header */
enum sb_mode sb_parser_seen_mode(const struct sb_parser *p);   /* PLAIN until a CHECKPOINT; REMUS/COLO after */

#endif

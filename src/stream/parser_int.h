/*
 * parser_int.h - state of the push parser, shared by parser.c (the state
 * machine, input assembly, events), headers.c (libxl/libxc headers),
 * preamble.c (xl header and config), order.c (record placement) and
 * check.c (record bodies).
 * Not a public interface.
 */
#ifndef STANDBY_PARSER_INT_H
#define STANDBY_PARSER_INT_H

#include <stdarg.h>
#include "standby/parser.h"

/* Byte-level state: which item the next bytes belong to. */
enum sb_pstate {
	PS_DETECT,      /* AUTO: first 8 bytes decide */
	PS_XL_HDR,      /* 48 bytes */
	PS_XL_CFGLEN,   /* u32 config_len */
	PS_XL_CONFIG,   /* config_len bytes */
	PS_XL_SKIP,     /* trailing optional data */
	PS_LIBXL_HDR,   /* 16 bytes */
	PS_LIBXC_HDR,   /* 24 + 16 bytes */
	PS_REC_HDR,     /* 8 bytes */
	PS_REC_BODY,    /* pad8(length) bytes */
	PS_DONE,
	PS_ERROR,
};

/* Record-level position: how the next record header is read. */
enum sb_where {
	W_LIBXL_START,  /* after the libxl header: LIBXC_CONTEXT expected */
	W_LIBXC,        /* libxc records */
	W_LIBXL_TAIL,   /* after libxc END: EMULATOR_* (HVM), END */
	W_LIBXL_CKPT,   /* after libxc CHECKPOINT: EMULATOR_*, CHECKPOINT_END */
	W_EPOCH_START,  /* right after CHECKPOINT_END: CHECKPOINT_STATE or libxc */
	W_BACK,         /* COLO back channel */
};

#define SB_HBUF_LEN 48
#define PEND_EPOCH 1u
#define PEND_END   2u

struct sb_parser {
	struct sb_parser_config cfg;
	enum sb_pstate state;
	enum sb_where where;
	uint64_t offset;            /* bytes consumed */

	uint8_t hbuf[SB_HBUF_LEN];  /* fixed items split across feeds */
	size_t hfill;

	struct sb_record rec;       /* record being read */
	uint32_t body_need;         /* pad8(rec.length) */
	uint8_t *rbuf;              /* split records and the xl config */
	size_t rcap, rfill;
	uint8_t *ext;               /* caller memory for this record's body (body_cb), or NULL */
	int ext_asked;              /* body_cb asked for the record being read */

	/* xl preamble */
	uint32_t xl_mflags, xl_oflags, xl_odl, config_len;
	uint64_t skip_left;

	/* libxc */
	int bare_libxc;
	int libxc_ctx_seen;
	uint32_t xc_version, dom_type;
	int pv_info_seen;
	unsigned width;             /* PV guest width, bytes */
	int static_end;             /* STATIC_DATA_END seen or inferred */
	int p2m_seen;
	uint64_t p2m_end;           /* highest p2m end pfn */
	int back_expect_dirty;

	/* checkpoints */
	enum sb_mode seen_mode;
	uint64_t nrec;
	uint64_t epochs;
	uint64_t epoch_start;
	uint64_t e_pages, e_data_pages, e_records;
	int done;

	unsigned pending;
	struct sb_event pend_epoch, pend_end;

	int in_record;              /* rec is the context of messages */
	int cb_failed;              /* sb_parser_fail() called inside a callback */
	int in_cb;
	struct sb_error err;
};

/* Results of the byte-state steps. */
enum { STEP_MORE, STEP_OK, STEP_PAUSE, STEP_ERR };

/* Fail with the current record as context when in_record. */
void sb__fail(struct sb_parser *p, enum sb_err code, uint64_t offset, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void sb__vfail(struct sb_parser *p, enum sb_err code, uint64_t offset, const char *fmt,
	       va_list ap);

#define FAIL(p, code, off, ...) (sb__fail((p), (code), (off), __VA_ARGS__), STEP_ERR)
#define RFAIL(p, code, ...) (sb__fail((p), (code), (p)->rec.offset, __VA_ARGS__), STEP_ERR)

/* parser.c: input assembly (NULL until need bytes are there; *err on ENOMEM) */
const uint8_t *sb__take_fixed(struct sb_parser *p, const uint8_t *buf, size_t len,
			      size_t *pos, size_t need);
const uint8_t *sb__take_body(struct sb_parser *p, const uint8_t *buf, size_t len,
			     size_t *pos, size_t need, int *err);
int sb__step_rc(int emit_rc);   /* emit result -> STEP_OK / STEP_PAUSE / STEP_ERR */
const char *sb__rec_name(const struct sb_record *r, char *buf, size_t n);  /* "libxc PAGE_DATA" */

/* headers.c and preamble.c: one step of a byte state; STEP_* */
int sb__step_detect(struct sb_parser *p, const uint8_t *buf, size_t len, size_t *pos);
int sb__step_xl_hdr(struct sb_parser *p, const uint8_t *buf, size_t len, size_t *pos);
int sb__step_xl_cfglen(struct sb_parser *p, const uint8_t *buf, size_t len, size_t *pos);
int sb__step_xl_config(struct sb_parser *p, const uint8_t *buf, size_t len, size_t *pos);
int sb__step_xl_skip(struct sb_parser *p, size_t len, size_t *pos);
int sb__step_libxl_hdr(struct sb_parser *p, const uint8_t *buf, size_t len, size_t *pos);
int sb__step_libxc_hdr(struct sb_parser *p, const uint8_t *buf, size_t len, size_t *pos);
void sb__printable(char *out, const uint8_t *in, size_t n);   /* out: 4*n+1 bytes */

/* order.c: placement of one complete record, state changes; 0 or STEP_ERR */
int sb__libxc_record(struct sb_parser *p, struct sb_record *r);
int sb__libxl_record(struct sb_parser *p, struct sb_record *r);
int sb__back_record(struct sb_parser *p, struct sb_record *r);

/* check.c: body checks of one complete record; 0 or -1 (error set). */
int sb__check_libxc(struct sb_parser *p, struct sb_record *r);
int sb__check_libxl(struct sb_parser *p, struct sb_record *r);
int sb__check_padding(struct sb_parser *p, const struct sb_record *r);

/* preamble.c: parse the xl config and emit SB_EV_PREAMBLE; 0, 1 (pause) or -1. */
int sb__preamble(struct sb_parser *p, const uint8_t *config, uint64_t offset);

/* parser.c: deliver an event; 0, 1 (pause) or -1 (aborted, error set). */
int sb__emit(struct sb_parser *p, const struct sb_event *ev);

#endif

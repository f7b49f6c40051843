/*
 * writer.h - encoder for Xen migration v2 streams (the inverse of parser.h).
 *
 * Everything is appended to a growable byte buffer (struct sb_buf) that the
 * caller reuses and flushes wherever it likes.  Records are padded with zeros
 * to 8 bytes.  The writer writes what it is told: it does not enforce order
 * (tests use it to build malformed streams too).
 */
#ifndef STANDBY_WRITER_H
#define STANDBY_WRITER_H

#include <stddef.h>
#include <stdint.h>
#include "standby/format.h"

struct sb_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

void sb_buf_init(struct sb_buf *b);
void sb_buf_free(struct sb_buf *b);
void sb_buf_reset(struct sb_buf *b);                     /* len = 0, keeps memory */
/* Make room for n more bytes; returns a pointer to them (len not advanced), NULL on ENOMEM. */
uint8_t *sb_buf_reserve(struct sb_buf *b, size_t n);
int sb_buf_append(struct sb_buf *b, const void *p, size_t n);  /* 0 or -1 (ENOMEM) */
int sb_buf_zero(struct sb_buf *b, size_t n);

/* All return 0, or -1 on ENOMEM. */

/* xl save header + u32 config_len + config (json may be NULL: config_len 0). The NUL is written. */
int sb_write_xl_header(struct sb_buf *b, const char *json);
/* Raw xl header fields, for tests of malformed input. */
int sb_write_xl_header_raw(struct sb_buf *b, const struct sb_xl_header *h);

int sb_write_libxl_header(struct sb_buf *b, uint32_t options);
int sb_write_libxc_image_header(struct sb_buf *b, uint32_t version, uint16_t options);
int sb_write_libxc_domain_header(struct sb_buf *b, uint32_t type, uint32_t xen_major, uint32_t xen_minor);

/* Generic record: header, body, zero padding.  Works for either layer. */
int sb_write_record(struct sb_buf *b, uint32_t type, const void *body, uint32_t len);
/* Record header only, with the caller appending body and padding itself
 * (e.g. a streaming writer); pad with sb_write_padding(len). */
int sb_write_record_header(struct sb_buf *b, uint32_t type, uint32_t len);
int sb_write_padding(struct sb_buf *b, uint32_t body_len);

/* PAGE_DATA: entries are pfn|type<<60 (sb_pfn_entry()); pages holds 4096 bytes
 * for each entry whose type carries data, in entry order. */
int sb_write_page_data(struct sb_buf *b, const uint64_t *entries, uint32_t count,
		       const uint8_t *pages, size_t pages_len);

int sb_write_x86_pv_info(struct sb_buf *b, uint8_t guest_width, uint8_t pt_levels);
int sb_write_x86_pv_p2m_frames(struct sb_buf *b, uint32_t start_pfn, uint32_t end_pfn,
			       const uint64_t *frames, uint32_t nframes);
int sb_write_x86_pv_vcpu(struct sb_buf *b, uint32_t type, uint32_t vcpu_id,
			 const void *blob, uint32_t blob_len);
int sb_write_tsc_info(struct sb_buf *b, uint32_t mode, uint32_t khz, uint64_t nsec,
		      uint32_t incarnation);
/* params: count pairs {index, value} */
int sb_write_hvm_params(struct sb_buf *b, const uint64_t *pairs, uint32_t count);
int sb_write_emulator_record(struct sb_buf *b, uint32_t type, uint32_t emulator_id,
			     uint32_t index, const void *blob, uint32_t blob_len);
int sb_write_checkpoint_state(struct sb_buf *b, uint32_t id);
int sb_write_dirty_pfn_list(struct sb_buf *b, const uint64_t *pfns, uint32_t count);

#endif

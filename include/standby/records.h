/*
 * records.h - decoders for record bodies the parser has already checked.
 *
 * The parser validates every length and field before it hands a record out,
 * so these helpers only walk bodies of records it produced.  Backends use
 * them instead of reading wire bytes themselves.
 */
#ifndef STANDBY_RECORDS_H
#define STANDBY_RECORDS_H

#include <stdint.h>
#include "standby/format.h"

/* Walk a PAGE_DATA body: for each entry, pfn, type and the page (NULL when the
 * type carries no data).  Stops early and returns the callback's value when it
 * is non-zero. */
typedef int (*sb_page_cb)(uint64_t pfn, unsigned type, const uint8_t *page, void *opaque);
int sb_page_data_foreach(const uint8_t *body, uint32_t len, sb_page_cb cb, void *opaque);

struct sb_tsc_info { uint32_t mode, khz; uint64_t nsec; uint32_t incarnation; };
void sb_decode_tsc_info(const uint8_t *body, struct sb_tsc_info *out);

/* Emulator records: sub-header then blob */
struct sb_emulator_rec { uint32_t emulator_id, index; const uint8_t *blob; uint32_t blob_len; };
void sb_decode_emulator(const uint8_t *body, uint32_t len, struct sb_emulator_rec *out);

/* X86_PV_VCPU_*: vcpu id then blob */
struct sb_vcpu_rec { uint32_t vcpu_id; const uint8_t *blob; uint32_t blob_len; };
void sb_decode_vcpu(const uint8_t *body, uint32_t len, struct sb_vcpu_rec *out);

uint32_t sb_decode_checkpoint_state(const uint8_t *body);

#endif

/*
 * digest.h - SHA-256 digests that the primary's expectations file and the
 * replica agree on (docs/image-format.md says what goes in each).
 *
 *   memory digest: SHA-256 of the flat guest memory image, page pfn at offset
 *     pfn * 4096, unpopulated pages as zeros, image length = the guest's memory
 *     size (rounded up to cover the highest pfn present).
 *   state digest: SHA-256 over the state records of the committed epoch in
 *     stream order (sb_is_state_record), each fed as u8 layer, u32le type,
 *     u32le length, body.
 */
#ifndef STANDBY_DIGEST_H
#define STANDBY_DIGEST_H

#include <stddef.h>
#include <stdint.h>
#include "standby/format.h"

#define SB_DIGEST_LEN 32
#define SB_DIGEST_HEX_LEN 65        /* 64 hex digits + NUL */

struct sb_hash;
struct sb_hash *sb_hash_new(void);  /* NULL on ENOMEM */
void sb_hash_update(struct sb_hash *h, const void *p, size_t n);
void sb_hash_final(struct sb_hash *h, uint8_t out[SB_DIGEST_LEN]);  /* and resets it for reuse */
void sb_hash_free(struct sb_hash *h);

void sb_digest_hex(const uint8_t d[SB_DIGEST_LEN], char out[SB_DIGEST_HEX_LEN]);

/* 1 for the records that make up the device/vCPU state of an epoch:
 * libxc X86_TSC_INFO, SHARED_INFO, X86_PV_VCPU_*, HVM_CONTEXT, HVM_PARAMS and
 * libxl EMULATOR_XENSTORE_DATA, EMULATOR_CONTEXT. */
int sb_is_state_record(enum sb_layer layer, uint32_t type);
void sb_state_hash_add(struct sb_hash *h, enum sb_layer layer, uint32_t type,
		       const uint8_t *body, uint32_t len);

/* SHA-256 of the first len bytes of an open file (zeros past its end). 0 or -1 (errno). */
int sb_digest_fd(int fd, uint64_t len, uint8_t out[SB_DIGEST_LEN]);

#endif

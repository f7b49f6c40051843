/*
 * digest.c - SHA-256 (OpenSSL libcrypto) and the digests of docs/image-format.md.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>
#include "standby/digest.h"

struct sb_hash {
	EVP_MD_CTX *ctx;
};

struct sb_hash *sb_hash_new(void)
{
	struct sb_hash *h = malloc(sizeof(*h));

	if (!h)
		return NULL;
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || !EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(h->ctx);
		free(h);
		return NULL;
	}
	return h;
}

void sb_hash_update(struct sb_hash *h, const void *p, size_t n)
{
	EVP_DigestUpdate(h->ctx, p, n);
}

void sb_hash_final(struct sb_hash *h, uint8_t out[SB_DIGEST_LEN])
{
	unsigned int n = SB_DIGEST_LEN;

	EVP_DigestFinal_ex(h->ctx, out, &n);
	EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL);
}

void sb_hash_free(struct sb_hash *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

void sb_digest_hex(const uint8_t d[SB_DIGEST_LEN], char out[SB_DIGEST_HEX_LEN])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < SB_DIGEST_LEN; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[2 * SB_DIGEST_LEN] = '\0';
}

int sb_is_state_record(enum sb_layer layer, uint32_t type)
{
	if (layer == SB_LAYER_LIBXL)
		return type == SB_LIBXL_EMULATOR_XENSTORE_DATA || type == SB_LIBXL_EMULATOR_CONTEXT;
	if (layer != SB_LAYER_LIBXC)
		return 0;
	switch (type) {
	case SB_LIBXC_X86_TSC_INFO:
	case SB_LIBXC_SHARED_INFO:
	case SB_LIBXC_X86_PV_VCPU_BASIC:
	case SB_LIBXC_X86_PV_VCPU_EXTENDED:
	case SB_LIBXC_X86_PV_VCPU_XSAVE:
	case SB_LIBXC_X86_PV_VCPU_MSRS:
	case SB_LIBXC_HVM_CONTEXT:
	case SB_LIBXC_HVM_PARAMS:
		return 1;
	default:
		return 0;
	}
}

void sb_state_hash_add(struct sb_hash *h, enum sb_layer layer, uint32_t type,
		       const uint8_t *body, uint32_t len)
{
	uint8_t hdr[9];

	hdr[0] = (uint8_t)layer;
	sb_put_le32(hdr + 1, type);
	sb_put_le32(hdr + 5, len);
	sb_hash_update(h, hdr, sizeof(hdr));
	if (len)
		sb_hash_update(h, body, len);
}

int sb_digest_fd(int fd, uint64_t len, uint8_t out[SB_DIGEST_LEN])
{
	enum { CHUNK = 1 << 20 };
	struct sb_hash *h = sb_hash_new();
	uint8_t *buf = malloc(CHUNK);
	uint64_t off = 0;
	int rc = -1;

	if (!h || !buf) {
		errno = ENOMEM;
		goto out;
	}
	while (off < len) {
		size_t want = len - off < CHUNK ? (size_t)(len - off) : CHUNK;
		ssize_t n = pread(fd, buf, want, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			goto out;
		}
		if (n == 0) {   /* past the end of the file: zeros */
			memset(buf, 0, want);
			n = (ssize_t)want;
		}
		sb_hash_update(h, buf, (size_t)n);
		off += (uint64_t)n;
	}
	sb_hash_final(h, out);
	rc = 0;
out:
	free(buf);
	sb_hash_free(h);
	return rc;
}

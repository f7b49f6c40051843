/*
 * expect.c - the expectations file of `standby primary --expect FILE`.
 *
 * One line per epoch whose CHECKPOINT_END (plain: END) was written whole:
 *
 *   epoch N memory <sha256 hex> state <sha256 hex>
 *
 * memory: SHA-256 of the flat guest image, page pfn at pfn * 4096, length =
 * memory size (every pfn is populated here, so there are no holes).
 * state: SHA-256 over the epoch's state records in stream order (digest.h).
 * Lines starting with '#' are comments; the last one names the last complete
 * epoch, the one a correct replica must match after failover.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "primary/primary.h"

static const char *mode_name(enum pr_mode m)
{
	return m == PR_PLAIN ? "plain" : m == PR_REMUS ? "remus" : "colo";
}

int pr_expect_open(struct pr_expect *x, const char *path, const struct pr_config *cfg)
{
	memset(x, 0, sizeof(*x));
	x->f = fopen(path, "w");
	if (!x->f) {
		fprintf(stderr, "primary: cannot create %s: %s\n", path, strerror(errno));
		return -1;
	}
	x->mem = sb_hash_new();
	x->page = malloc(SB_PAGE_SIZE);
	if (!x->mem || !x->page) {
		fprintf(stderr, "primary: out of memory\n");
		return -1;
	}
	fprintf(x->f, "# standby primary expectations: type %s, memory %llu bytes, seed %llu, mode %s\n",
		cfg->dom_type == SB_DOM_HVM ? "hvm" : "pv", (unsigned long long)cfg->memory,
		(unsigned long long)cfg->seed, mode_name(cfg->mode));
	fprintf(x->f, "# epoch N memory <sha256 of the flat image> state <sha256 of the state records>\n");
	fflush(x->f);
	return 0;
}

int pr_expect_epoch(struct pr_expect *x, const struct pr_guest *g, uint64_t epoch,
		    const uint8_t state[SB_DIGEST_LEN], void (*idle)(void *), void *opaque)
{
	uint8_t mem[SB_DIGEST_LEN];
	char mh[SB_DIGEST_HEX_LEN], sh[SB_DIGEST_HEX_LEN];

	for (uint64_t pfn = 0; pfn < g->pages; pfn++) {
		pr_guest_page(g, pfn, x->page);
		sb_hash_update(x->mem, x->page, SB_PAGE_SIZE);
		if (idle && (pfn & 255) == 255)
			idle(opaque);
	}
	sb_hash_final(x->mem, mem);
	sb_digest_hex(mem, mh);
	sb_digest_hex(state, sh);
	fprintf(x->f, "epoch %llu memory %s state %s\n", (unsigned long long)epoch, mh, sh);
	if (fflush(x->f)) {
		fprintf(stderr, "primary: writing the expectations file: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

int pr_expect_close(struct pr_expect *x, int have_complete, uint64_t last_complete)
{
	int rc = 0;

	if (x->f) {
		if (have_complete)
			fprintf(x->f, "# last complete epoch: %llu\n", (unsigned long long)last_complete);
		else
			fprintf(x->f, "# last complete epoch: none\n");
		if (fclose(x->f)) {
			fprintf(stderr, "primary: writing the expectations file: %s\n", strerror(errno));
			rc = -1;
		}
	}
	sb_hash_free(x->mem);
	free(x->page);
	memset(x, 0, sizeof(*x));
	return rc;
}

/*
 * guest.c - the simulated guest.
 *
 * Memory: pfns 0 .. pages-1, all populated.  A page's content is a function
 * of (seed, pfn, epoch that last wrote it): bytes 0-7 hold the pfn, 8-15 that
 * epoch, 16-23 the seed (all little-endian), the rest a splitmix64 stream
 * seeded from the three.  So every page is distinct across pfns and epochs,
 * and nothing but one u32 per pfn is kept.
 *
 * Dirty sets: the initial pass writes every page (epoch 0).  Each later epoch
 * writes dirty_n pages chosen by the pattern:
 *   random      dirty_n distinct pfns drawn uniformly;
 *   hot         dirty_n distinct pfns drawn from a window of 4 * dirty_n pages
 *               (at least 1024) at a seed-dependent place;
 *   sequential  the next dirty_n pfns after the previous epoch's, wrapping.
 * The draws use a generator seeded by (seed, epoch), so a run is reproducible.
 */
#include <stdlib.h>
#include <string.h>
#include "primary/primary.h"

static uint64_t splitmix(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

uint64_t pr_mix(uint64_t a, uint64_t b)
{
	uint64_t s = a ^ (b * 0xd6e8feb86659fd93ULL);

	return splitmix(&s);
}

int pr_guest_init(struct pr_guest *g, const struct pr_config *cfg)
{
	memset(g, 0, sizeof(*g));
	g->seed = cfg->seed;
	g->type = cfg->dom_type;
	g->vcpus = cfg->vcpus;
	g->pages = cfg->memory / SB_PAGE_SIZE;
	g->dirty_n = cfg->dirty_pages < g->pages ? cfg->dirty_pages : g->pages;
	g->pattern = cfg->pattern;
	g->written = calloc(g->pages, sizeof(*g->written));
	g->mark = calloc(g->pages, 1);
	if (!g->written || !g->mark) {
		pr_guest_free(g);
		return -1;
	}
	return 0;
}

void pr_guest_free(struct pr_guest *g)
{
	free(g->written);
	free(g->mark);
	g->written = NULL;
	g->mark = NULL;
}

void pr_guest_page(const struct pr_guest *g, uint64_t pfn, uint8_t *out)
{
	uint32_t epoch = g->written[pfn];
	uint64_t s = pr_mix(pr_mix(g->seed, pfn), epoch);

	sb_put_le64(out, pfn);
	sb_put_le64(out + 8, epoch);
	sb_put_le64(out + 16, g->seed);
	for (size_t o = 24; o < SB_PAGE_SIZE; o += 8)
		sb_put_le64(out + o, splitmix(&s));
}

/* PV: a small page-table tree at the bottom of memory (types carry data). */
unsigned pr_guest_ptype(const struct pr_guest *g, uint64_t pfn)
{
	if (g->type != SB_DOM_PV)
		return SB_PT_NOTAB;
	switch (pfn) {
	case 1: return SB_PT_LPINTAB | SB_PT_L4TAB;
	case 2: return SB_PT_L3TAB;
	case 3: return SB_PT_L2TAB;
	case 4: case 5: case 6: case 7: return SB_PT_L1TAB;
	default: return SB_PT_NOTAB;
	}
}

void pr_guest_dirty_all(struct pr_guest *g)
{
	for (uint64_t pfn = 0; pfn < g->pages; pfn++) {
		g->written[pfn] = 0;
		g->mark[pfn] |= 1;
	}
}

/* Mark n distinct pfns of [base, base + window) (wrapping) written in epoch. */
static void draw(struct pr_guest *g, uint64_t *rng, uint64_t base, uint64_t window,
		 uint64_t n, uint32_t epoch)
{
	if (n >= window) {
		for (uint64_t i = 0; i < window; i++) {
			uint64_t pfn = (base + i) % g->pages;
			g->mark[pfn] |= 1;
			g->written[pfn] = epoch;
		}
		return;
	}
	for (uint64_t got = 0; got < n;) {
		uint64_t pfn = (base + splitmix(rng) % window) % g->pages;

		if (g->mark[pfn] & 1)
			continue;
		g->mark[pfn] |= 1;
		g->written[pfn] = epoch;
		got++;
	}
}

void pr_guest_dirty_epoch(struct pr_guest *g, uint64_t epoch)
{
	uint64_t rng = pr_mix(g->seed ^ 0x5eed, epoch);
	uint64_t n = g->dirty_n, window, base;

	switch (g->pattern) {
	case PR_RANDOM:
		draw(g, &rng, 0, g->pages, n, (uint32_t)epoch);
		break;
	case PR_HOT:
		window = n * 4 < 1024 ? 1024 : n * 4;
		if (window > g->pages)
			window = g->pages;
		base = pr_mix(g->seed, 0x407) % g->pages;
		draw(g, &rng, base, window, n, (uint32_t)epoch);
		break;
	case PR_SEQUENTIAL:
		base = (epoch - 1) * n % g->pages;
		for (uint64_t i = 0; i < n; i++) {
			uint64_t pfn = (base + i) % g->pages;
			g->mark[pfn] |= 1;
			g->written[pfn] = (uint32_t)epoch;
		}
		break;
	}
}

void pr_guest_mark_resend(struct pr_guest *g, uint64_t pfn)
{
	if (pfn < g->pages)
		g->mark[pfn] |= 2;
}

uint64_t pr_guest_take_dirty(struct pr_guest *g, uint64_t *out)
{
	uint64_t n = 0;

	for (uint64_t pfn = 0; pfn < g->pages; pfn++) {
		if (g->mark[pfn]) {
			out[n++] = pfn;
			g->mark[pfn] = 0;
		}
	}
	return n;
}

void pr_guest_fill(const struct pr_guest *g, uint32_t kind, uint64_t epoch, uint8_t *out, size_t len)
{
	uint64_t s = pr_mix(pr_mix(g->seed, 0xb10b0000u | kind), epoch);
	size_t o = 0;

	for (; o + 8 <= len; o += 8)
		sb_put_le64(out + o, splitmix(&s));
	if (o < len) {
		uint8_t last[8];
		sb_put_le64(last, splitmix(&s));
		memcpy(out + o, last, len - o);
	}
}

/*
 * test_epoch.c - the epoch buffer: dedup, order, bound, reuse, index growth,
 * bodies assembled in reserved room and kept where they lie.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "standby/epoch.h"
#include "standby/writer.h"

static void fill_page(uint8_t *p, uint64_t pfn, unsigned gen)
{
	for (unsigned i = 0; i < SB_PAGE_SIZE; i += 8)
		sb_put_le64(p + i, pfn * 1000003u + gen * 7919u + i);
}

/* Add a PAGE_DATA built by the writer (body at offset 8 of the record). */
static int add_pages(struct sb_epoch *ep, const uint64_t *entries, uint32_t n,
		     const uint8_t *pages, size_t pages_len)
{
	struct sb_buf b;
	int rc;

	sb_buf_init(&b);
	assert_int_equal(sb_write_page_data(&b, entries, n, pages, pages_len), 0);
	rc = sb_epoch_add(ep, SB_LAYER_LIBXC, SB_LIBXC_PAGE_DATA, b.data + 8,
			  sb_get_le32(b.data + 4));
	sb_buf_free(&b);
	return rc;
}

static const struct sb_epoch_page *find_page(struct sb_epoch *ep, uint64_t pfn)
{
	for (size_t i = 0; i < sb_epoch_npages(ep); i++)
		if (sb_epoch_page(ep, i)->pfn == pfn)
			return sb_epoch_page(ep, i);
	return NULL;
}

static void test_dedup_later_copy_wins(void **state)
{
	struct sb_epoch *ep = sb_epoch_new(64 << 20);
	uint8_t pg[3 * SB_PAGE_SIZE], want[SB_PAGE_SIZE];
	uint64_t e1[3] = { sb_pfn_entry(5, SB_PT_NOTAB), sb_pfn_entry(9, SB_PT_NOTAB),
			   sb_pfn_entry(7, SB_PT_NOTAB) };
	uint64_t e2[2] = { sb_pfn_entry(9, SB_PT_L1TAB), sb_pfn_entry(5, SB_PT_XTAB) };
	(void)state;

	assert_non_null(ep);
	sb_epoch_reset(ep, 3);
	for (int i = 0; i < 3; i++)
		fill_page(pg + i * SB_PAGE_SIZE, sb_pfn_of(e1[i]), 1);
	assert_int_equal(add_pages(ep, e1, 3, pg, sizeof(pg)), 0);
	fill_page(pg, 9, 2);
	assert_int_equal(add_pages(ep, e2, 2, pg, SB_PAGE_SIZE), 0);

	assert_int_equal(sb_epoch_number(ep), 3);
	assert_int_equal(sb_epoch_npages(ep), 3);
	/* first-seen order */
	assert_int_equal(sb_epoch_page(ep, 0)->pfn, 5);
	assert_int_equal(sb_epoch_page(ep, 1)->pfn, 9);
	assert_int_equal(sb_epoch_page(ep, 2)->pfn, 7);
	/* 9: second copy, new type */
	fill_page(want, 9, 2);
	assert_int_equal(find_page(ep, 9)->type, SB_PT_L1TAB);
	assert_memory_equal(find_page(ep, 9)->data, want, SB_PAGE_SIZE);
	/* 5: now XTAB, no data */
	assert_int_equal(find_page(ep, 5)->type, SB_PT_XTAB);
	assert_null(find_page(ep, 5)->data);
	fill_page(want, 7, 1);
	assert_memory_equal(find_page(ep, 7)->data, want, SB_PAGE_SIZE);
	/* three distinct data pages were held, the overwrite took no new room */
	assert_int_equal(sb_epoch_bytes(ep), 3 * SB_PAGE_SIZE);
	assert_int_equal(sb_epoch_wire_bytes(ep),
			 8 + (8 + 24 + 3 * 4096) + 8 + (8 + 16 + 4096));
	assert_int_equal(sb_epoch_nrecs(ep), 0);
	sb_epoch_free(ep);
}

static void test_records_in_order(void **state)
{
	struct sb_epoch *ep = sb_epoch_new(1 << 20);
	uint8_t a[5] = { 1, 2, 3, 4, 5 }, c[24];
	uint64_t e = sb_pfn_entry(1, SB_PT_NOTAB);
	uint8_t pg[SB_PAGE_SIZE] = { 0 };
	(void)state;

	memset(c, 0xAB, sizeof(c));
	assert_int_equal(sb_epoch_add(ep, SB_LAYER_LIBXC, SB_LIBXC_X86_TSC_INFO, c, 24), 0);
	assert_int_equal(add_pages(ep, &e, 1, pg, sizeof(pg)), 0);
	assert_int_equal(sb_epoch_add(ep, SB_LAYER_LIBXC, SB_LIBXC_CHECKPOINT, NULL, 0), 0);
	assert_int_equal(sb_epoch_add(ep, SB_LAYER_LIBXL, SB_LIBXL_EMULATOR_CONTEXT, a, 5), 0);

	assert_int_equal(sb_epoch_nrecs(ep), 3);
	assert_int_equal(sb_epoch_rec(ep, 0)->type, SB_LIBXC_X86_TSC_INFO);
	assert_int_equal(sb_epoch_rec(ep, 0)->layer, SB_LAYER_LIBXC);
	assert_memory_equal(sb_epoch_rec(ep, 0)->body, c, 24);
	assert_int_equal(sb_epoch_rec(ep, 1)->type, SB_LIBXC_CHECKPOINT);
	assert_int_equal(sb_epoch_rec(ep, 1)->length, 0);
	assert_null(sb_epoch_rec(ep, 1)->body);
	assert_int_equal(sb_epoch_rec(ep, 2)->layer, SB_LAYER_LIBXL);
	assert_int_equal(sb_epoch_rec(ep, 2)->length, 5);
	assert_memory_equal(sb_epoch_rec(ep, 2)->body, a, 5);
	assert_null(sb_epoch_rec(ep, 3));
	assert_int_equal(sb_epoch_npages(ep), 1);
	/* wire: 8+24, 8+8+8+4096, 8, 8+8 */
	assert_int_equal(sb_epoch_wire_bytes(ep), 32 + 4120 + 8 + 16);
	sb_epoch_free(ep);
}

static void test_bound(void **state)
{
	struct sb_epoch *ep = sb_epoch_new(64 * 1024);
	uint8_t pg[SB_PAGE_SIZE] = { 0 };
	uint8_t small[100] = { 0 };
	int rc = 0;
	uint64_t pfn;
	(void)state;

	for (pfn = 0; pfn < 100 && rc == 0; pfn++) {
		uint64_t e = sb_pfn_entry(pfn, SB_PT_NOTAB);

		rc = add_pages(ep, &e, 1, pg, sizeof(pg));
	}
	assert_int_equal(rc, -1);
	assert_int_equal(errno, ENOBUFS);
	assert_true(pfn < 16);          /* 16 pages alone fill 64 KiB */
	assert_true(sb_epoch_bytes(ep) <= 64 * 1024);
	/* the same page again costs nothing new */
	{
		uint64_t e = sb_pfn_entry(0, SB_PT_NOTAB);

		assert_int_equal(add_pages(ep, &e, 1, pg, sizeof(pg)), 0);
	}
	/* usable after reset */
	sb_epoch_reset(ep, 1);
	assert_int_equal(sb_epoch_npages(ep), 0);
	assert_int_equal(sb_epoch_bytes(ep), 0);
	assert_int_equal(sb_epoch_add(ep, SB_LAYER_LIBXC, SB_LIBXC_HVM_CONTEXT, small, 100), 0);
	assert_int_equal(sb_epoch_nrecs(ep), 1);
	/* a body over the bound alone */
	{
		uint8_t *big = calloc(1, 70000);

		assert_int_equal(sb_epoch_add(ep, SB_LAYER_LIBXC, SB_LIBXC_HVM_CONTEXT, big, 70000), -1);
		assert_int_equal(errno, ENOBUFS);
		free(big);
	}
	sb_epoch_free(ep);
}

static void one_epoch(struct sb_epoch *ep, uint64_t n, unsigned gen)
{
	uint64_t entries[64];
	uint8_t *pg = malloc(64 * SB_PAGE_SIZE);
	uint8_t body[3000];

	sb_epoch_reset(ep, n);
	for (unsigned batch = 0; batch < 8; batch++) {
		for (unsigned i = 0; i < 64; i++) {
			entries[i] = sb_pfn_entry(batch * 64 + i, SB_PT_NOTAB);
			fill_page(pg + i * SB_PAGE_SIZE, batch * 64 + i, gen);
		}
		assert_int_equal(add_pages(ep, entries, 64, pg, 64 * SB_PAGE_SIZE), 0);
	}
	memset(body, (int)gen, sizeof(body));
	for (int r = 0; r < 10; r++)
		assert_int_equal(sb_epoch_add(ep, SB_LAYER_LIBXC, SB_LIBXC_HVM_CONTEXT, body, sizeof(body)), 0);
	free(pg);
}

static void test_reset_reuses_memory(void **state)
{
	struct sb_epoch *ep = sb_epoch_new(256 << 20);
	uint64_t peak;
	uint8_t want[SB_PAGE_SIZE];
	(void)state;

	one_epoch(ep, 1, 1);
	peak = sb_epoch_peak_bytes(ep);
	assert_true(peak >= 512 * SB_PAGE_SIZE + 30000);
	one_epoch(ep, 2, 2);
	assert_int_equal(sb_epoch_peak_bytes(ep), peak);
	assert_int_equal(sb_epoch_number(ep), 2);
	assert_int_equal(sb_epoch_npages(ep), 512);
	assert_int_equal(sb_epoch_nrecs(ep), 10);
	assert_int_equal(sb_epoch_bytes(ep), 512 * SB_PAGE_SIZE + 30000);
	fill_page(want, 300, 2);
	assert_memory_equal(sb_epoch_page(ep, 300)->data, want, SB_PAGE_SIZE);
	assert_int_equal(sb_epoch_rec(ep, 9)->body[0], 2);
	sb_epoch_free(ep);
}

static void test_many_pages(void **state)
{
	enum { N = 100000, BATCH = 1024 };
	struct sb_epoch *ep = sb_epoch_new(1ull << 30);
	uint64_t entries[BATCH];
	uint8_t *pg = malloc((size_t)BATCH * SB_PAGE_SIZE);
	uint8_t want[SB_PAGE_SIZE];
	(void)state;

	/* scattered pfns: stride of a large prime, twice over (second pass dedups) */
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t base = 0; base < N; base += BATCH) {
			uint32_t n = N - base < BATCH ? N - base : BATCH;

			for (uint32_t i = 0; i < n; i++) {
				uint64_t pfn = (uint64_t)(base + i) * 7919u;

				entries[i] = sb_pfn_entry(pfn, SB_PT_NOTAB);
				fill_page(pg + (size_t)i * SB_PAGE_SIZE, pfn, (unsigned)pass);
			}
			assert_int_equal(add_pages(ep, entries, n, pg, (size_t)n * SB_PAGE_SIZE), 0);
		}
	}
	assert_int_equal(sb_epoch_npages(ep), N);
	assert_int_equal(sb_epoch_bytes(ep), (uint64_t)N * SB_PAGE_SIZE);
	for (uint32_t i = 0; i < N; i += 997) {
		const struct sb_epoch_page *p = sb_epoch_page(ep, i);

		assert_int_equal(p->pfn, (uint64_t)i * 7919u);
		fill_page(want, p->pfn, 1);
		assert_memory_equal(p->data, want, SB_PAGE_SIZE);
	}
	free(pg);
	sb_epoch_free(ep);
}

/* Build a PAGE_DATA body into memory reserved in the epoch, as the parser
 * does when it assembles a split record there, and add it. */
static uint8_t *add_reserved(struct sb_epoch *ep, const uint64_t *entries, uint32_t n,
			     const uint8_t *pages, size_t pages_len, uint32_t *len)
{
	struct sb_buf b;
	uint8_t *room;

	sb_buf_init(&b);
	assert_int_equal(sb_write_page_data(&b, entries, n, pages, pages_len), 0);
	*len = sb_get_le32(b.data + 4);
	room = sb_epoch_reserve(ep, (*len + 7) & ~7u);
	assert_non_null(room);
	memcpy(room, b.data + 8, (*len + 7) & ~7u);
	assert_int_equal(sb_epoch_add(ep, SB_LAYER_LIBXC, SB_LIBXC_PAGE_DATA, room, *len), 0);
	sb_buf_free(&b);
	return room;
}

static int inside(const uint8_t *p, const uint8_t *base, size_t n)
{
	return p >= base && p + SB_PAGE_SIZE <= base + n;
}

static void test_reserved_body_kept_in_place(void **state)
{
	struct sb_epoch *ep = sb_epoch_new(64 << 20);
	uint8_t pg[3 * SB_PAGE_SIZE], want[SB_PAGE_SIZE], state_rec[24] = { 1, 2, 3 };
	uint64_t e1[3] = { sb_pfn_entry(5, SB_PT_NOTAB), sb_pfn_entry(9, SB_PT_NOTAB),
			   sb_pfn_entry(7, SB_PT_NOTAB) };
	uint64_t e2[1] = { sb_pfn_entry(9, SB_PT_NOTAB) };
	uint64_t e3[1] = { sb_pfn_entry(5, SB_PT_NOTAB) };
	uint64_t before;
	uint32_t len;
	uint8_t *room;
	(void)state;

	assert_non_null(ep);
	sb_epoch_reset(ep, 1);
	assert_int_equal(sb_epoch_add(ep, SB_LAYER_LIBXC, SB_LIBXC_HVM_CONTEXT, state_rec,
				      sizeof(state_rec)), 0);
	before = sb_epoch_bytes(ep);
	for (int i = 0; i < 3; i++)
		fill_page(pg + i * SB_PAGE_SIZE, sb_pfn_of(e1[i]), 1);
	room = add_reserved(ep, e1, 3, pg, sizeof(pg), &len);
	/* no copy: the pages are where the body was assembled, and it was counted once */
	assert_int_equal(sb_epoch_bytes(ep), before + ((len + 7) & ~7u));
	for (int i = 0; i < 3; i++) {
		const struct sb_epoch_page *p = find_page(ep, sb_pfn_of(e1[i]));

		assert_non_null(p);
		assert_true(inside(p->data, room, len));
		assert_memory_equal(p->data, pg + i * SB_PAGE_SIZE, SB_PAGE_SIZE);
	}
	assert_memory_equal(sb_epoch_rec(ep, 0)->body, state_rec, sizeof(state_rec));

	/* pfn 9 again, copied (not reserved): the later copy wins */
	fill_page(pg, 9, 2);
	assert_int_equal(add_pages(ep, e2, 1, pg, SB_PAGE_SIZE), 0);
	fill_page(want, 9, 2);
	assert_memory_equal(find_page(ep, 9)->data, want, SB_PAGE_SIZE);
	/* pfn 5 again, in reserved room (the arena grows and moves meanwhile) */
	assert_non_null(sb_epoch_reserve(ep, 8u << 20));       /* lapses unused */
	fill_page(pg, 5, 3);
	room = add_reserved(ep, e3, 1, pg, SB_PAGE_SIZE, &len);
	assert_true(inside(find_page(ep, 5)->data, room, len));
	fill_page(want, 5, 3);
	assert_memory_equal(find_page(ep, 5)->data, want, SB_PAGE_SIZE);
	fill_page(want, 7, 1);
	assert_memory_equal(find_page(ep, 7)->data, want, SB_PAGE_SIZE);
	fill_page(want, 9, 2);
	assert_memory_equal(find_page(ep, 9)->data, want, SB_PAGE_SIZE);
	assert_memory_equal(sb_epoch_rec(ep, 0)->body, state_rec, sizeof(state_rec));
	assert_int_equal(sb_epoch_npages(ep), 3);
	sb_epoch_free(ep);
}

static void test_reserve_bound(void **state)
{
	struct sb_epoch *ep = sb_epoch_new(1 << 20);
	uint8_t body[64] = { 0 };
	uint8_t *room;
	(void)state;

	assert_non_null(ep);
	sb_epoch_reset(ep, 1);
	errno = 0;
	assert_null(sb_epoch_reserve(ep, (1 << 20) + 1));
	assert_int_equal(errno, ENOBUFS);
	/* a body that is not the reserved room is copied as before */
	room = sb_epoch_reserve(ep, 4096);
	assert_non_null(room);
	assert_int_equal(sb_epoch_add(ep, SB_LAYER_LIBXC, SB_LIBXC_HVM_CONTEXT, body,
				      sizeof(body)), 0);
	assert_ptr_not_equal(sb_epoch_rec(ep, 0)->body, body);
	assert_int_equal(sb_epoch_bytes(ep), sizeof(body));
	/* the room lapsed with that add: the same pointer is no longer claimed */
	assert_int_equal(sb_epoch_add(ep, SB_LAYER_LIBXC, SB_LIBXC_HVM_CONTEXT, room, 16), 0);
	assert_int_equal(sb_epoch_bytes(ep), sizeof(body) + 16);
	sb_epoch_free(ep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dedup_later_copy_wins),
		cmocka_unit_test(test_records_in_order),
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_reset_reuses_memory),
		cmocka_unit_test(test_many_pages),
		cmocka_unit_test(test_reserved_body_kept_in_place),
		cmocka_unit_test(test_reserve_bound),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

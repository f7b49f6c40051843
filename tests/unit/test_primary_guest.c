/*
 * test_primary_guest.c - the simulated guest of `standby primary`: page
 * content is deterministic and distinct, dirty sets follow their pattern.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "primary/primary.h"

static void make(struct pr_guest *g, uint64_t seed, uint64_t pages, uint64_t dirty,
		 enum pr_pattern pat)
{
	struct pr_config c;

	memset(&c, 0, sizeof(c));
	c.memory = pages * SB_PAGE_SIZE;
	c.dom_type = SB_DOM_HVM;
	c.seed = seed;
	c.vcpus = 1;
	c.dirty_pages = dirty;
	c.pattern = pat;
	assert_int_equal(pr_guest_init(g, &c), 0);
}

static void test_content_deterministic_and_distinct(void **state)
{
	struct pr_guest a, b;
	uint8_t p1[SB_PAGE_SIZE], p2[SB_PAGE_SIZE];

	(void)state;
	make(&a, 42, 64, 4, PR_RANDOM);
	make(&b, 42, 64, 4, PR_RANDOM);
	pr_guest_page(&a, 5, p1);
	pr_guest_page(&b, 5, p2);
	assert_memory_equal(p1, p2, SB_PAGE_SIZE);
	assert_int_equal(sb_get_le64(p1), 5);          /* pfn */
	assert_int_equal(sb_get_le64(p1 + 8), 0);      /* epoch last written */
	assert_int_equal(sb_get_le64(p1 + 16), 42);    /* seed */

	pr_guest_page(&a, 6, p2);                        /* another pfn */
	assert_memory_not_equal(p1 + 24, p2 + 24, SB_PAGE_SIZE - 24);
	b.written[5] = 3;                                /* same pfn, later epoch */
	pr_guest_page(&b, 5, p2);
	assert_int_equal(sb_get_le64(p2 + 8), 3);
	assert_memory_not_equal(p1 + 24, p2 + 24, SB_PAGE_SIZE - 24);
	pr_guest_free(&b);
	make(&b, 43, 64, 4, PR_RANDOM);                  /* another seed */
	pr_guest_page(&b, 5, p2);
	assert_memory_not_equal(p1 + 24, p2 + 24, SB_PAGE_SIZE - 24);
	pr_guest_free(&a);
	pr_guest_free(&b);
}

static uint64_t dirty(struct pr_guest *g, uint64_t epoch, uint64_t *out)
{
	pr_guest_dirty_epoch(g, epoch);
	return pr_guest_take_dirty(g, out);
}

static void test_random_pattern(void **state)
{
	struct pr_guest a, b;
	uint64_t x[1000], y[1000];
	uint64_t n;

	(void)state;
	make(&a, 9, 1000, 37, PR_RANDOM);
	make(&b, 9, 1000, 37, PR_RANDOM);
	n = dirty(&a, 1, x);
	assert_int_equal(n, 37);
	assert_int_equal(dirty(&b, 1, y), 37);
	assert_memory_equal(x, y, n * sizeof(x[0]));     /* same seed, same set */
	for (uint64_t i = 1; i < n; i++)
		assert_true(x[i - 1] < x[i]);            /* ascending, distinct */
	for (uint64_t i = 0; i < n; i++)
		assert_int_equal(a.written[x[i]], 1);
	assert_int_equal(dirty(&a, 2, y), 37);
	assert_memory_not_equal(x, y, n * sizeof(x[0])); /* another epoch, another set */
	assert_int_equal(pr_guest_take_dirty(&a, y), 0); /* marks cleared */
	pr_guest_free(&a);
	pr_guest_free(&b);
}

static void test_sequential_pattern(void **state)
{
	struct pr_guest g;
	uint64_t x[100];

	(void)state;
	make(&g, 1, 100, 30, PR_SEQUENTIAL);
	assert_int_equal(dirty(&g, 1, x), 30);
	assert_int_equal(x[0], 0);
	assert_int_equal(x[29], 29);
	assert_int_equal(dirty(&g, 4, x), 30);           /* 90..99 then 0..19: wraps */
	assert_int_equal(x[0], 0);
	assert_int_equal(x[19], 19);
	assert_int_equal(x[20], 90);
	assert_int_equal(x[29], 99);
	pr_guest_free(&g);
}

static void test_hot_pattern(void **state)
{
	struct pr_guest g;
	uint64_t *x = malloc(100000 * sizeof(*x));
	uint64_t lo = UINT64_MAX, hi = 0, n, span;
	uint8_t *seen = calloc(100000, 1);

	(void)state;
	make(&g, 5, 100000, 300, PR_HOT);
	for (uint64_t e = 1; e <= 20; e++) {
		n = dirty(&g, e, x);
		assert_int_equal(n, 300);
		for (uint64_t i = 0; i < n; i++)
			seen[x[i]] = 1;
	}
	/* all pages of 20 epochs fall in one window of 4 * 300 pages, which may
	 * wrap around the end of memory: the largest circular gap between two
	 * dirtied pfns is at least the rest of memory */
	n = 0;
	span = 0;
	for (uint64_t p = 0; p < 100000; p++) {
		if (!seen[p])
			continue;
		if (n && p - hi > span)
			span = p - hi;
		if (!n)
			lo = p;
		hi = p;
		n++;
	}
	if (lo + 100000 - hi > span)
		span = lo + 100000 - hi;
	assert_true(span >= 100000 - 1200 + 1);
	assert_true(n <= 1200);
	assert_true(n > 300);                            /* but not the same pages each time */
	free(x);
	free(seen);
	pr_guest_free(&g);
}

static void test_resend_marks_without_writing(void **state)
{
	struct pr_guest g;
	uint64_t x[64];

	(void)state;
	make(&g, 1, 64, 0, PR_RANDOM);
	pr_guest_mark_resend(&g, 10);
	pr_guest_mark_resend(&g, 3);
	pr_guest_mark_resend(&g, 64);                    /* beyond the guest: ignored */
	pr_guest_dirty_epoch(&g, 1);                     /* dirty 0 */
	assert_int_equal(pr_guest_take_dirty(&g, x), 2);
	assert_int_equal(x[0], 3);
	assert_int_equal(x[1], 10);
	assert_int_equal(g.written[10], 0);
	pr_guest_free(&g);
}

static void test_all_pages_when_dirty_exceeds_memory(void **state)
{
	struct pr_guest g;
	uint64_t x[50];

	(void)state;
	make(&g, 1, 50, 500, PR_RANDOM);
	assert_int_equal(dirty(&g, 1, x), 50);
	pr_guest_free(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_content_deterministic_and_distinct),
		cmocka_unit_test(test_random_pattern),
		cmocka_unit_test(test_sequential_pattern),
		cmocka_unit_test(test_hot_pattern),
		cmocka_unit_test(test_resend_marks_without_writing),
		cmocka_unit_test(test_all_pages_when_dirty_exceeds_memory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

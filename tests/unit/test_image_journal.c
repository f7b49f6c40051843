/*
 * test_image_journal.c - the image target's journal (SBJRNL02) on its own:
 * what is written reads back as written; a journal overwritten in place and
 * cut short or torn at any seam, with the previous epoch's bytes (and
 * trailer) still behind it, is never taken for complete; a shorter journal
 * over a longer file; an old-format journal is discarded by recovery; the
 * live target keeps one journal file across commits and removes it at close.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "backend/image.h"
#include "standby/backend.h"
#include "standby/epoch.h"
#include "standby/writer.h"

#define NP 4                            /* pages per test commit */

static char dir[256];
static int dirfd_ = -1;

struct fixture {
	uint8_t pages[NP][SB_PAGE_SIZE];
	uint8_t body[2][100];
	char *manifest;
	size_t manifest_len;
	struct img_commit c;
};

/* Commit of epoch with NP pages (the third one zeros), two state files; the
 * bytes depend on epoch, the layout does not (single-digit epochs). */
static void make_commit(struct fixture *f, uint64_t epoch, size_t npages)
{
	struct img_manifest m = { 0 };
	char name[IMG_NAME_MAX];

	memset(&f->c, 0, sizeof(f->c));
	f->c.epoch = epoch;
	for (size_t i = 0; i < npages; i++) {
		memset(f->pages[i % NP], (int)(epoch * 16 + i), SB_PAGE_SIZE);
		assert_int_equal(img_commit_add_page(&f->c, 100 + 3 * i, i == 2 ? NULL : f->pages[i % NP]), 0);
	}
	for (int i = 0; i < 2; i++) {
		memset(f->body[i], (int)(epoch + i), sizeof(f->body[i]));
		snprintf(name, sizeof(name), "hvm_context%s", i ? ".2" : "");
		assert_int_equal(img_commit_add_state(&f->c, (uint64_t)SB_LAYER_LIBXC << 32 | 0x0f, name,
						      f->body[i], (uint32_t)(90 + i)), 0);
	}
	f->c.order = "3 15 90 hvm_context\n3 15 91 hvm_context.2\n";
	f->c.order_len = strlen(f->c.order);
	m.committed = 1;
	m.epoch = epoch;
	m.memory_bytes = 1 << 20;
	memset(m.state_digest, 'a', 64);
	f->manifest = img_manifest_format(&m, &f->manifest_len);
	assert_non_null(f->manifest);
	f->c.manifest = f->manifest;
	f->c.manifest_len = f->manifest_len;
	f->c.memory_bytes = m.memory_bytes;
}

static void free_commit(struct fixture *f)
{
	img_commit_free(&f->c);
	free(f->manifest);
	f->manifest = NULL;
}

static uint8_t *slurp(size_t *len)
{
	char path[512];
	struct stat st;
	uint8_t *b;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, IMG_JOURNAL);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	b = malloc((size_t)st.st_size + 1);
	assert_int_equal(read(fd, b, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return b;
}

static void put(const uint8_t *b, size_t len)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, IMG_JOURNAL);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, len), (ssize_t)len);
	close(fd);
}

static enum img_jstatus status_of(uint64_t *epoch)
{
	struct img_jread r;
	enum img_jstatus s;

	assert_int_equal(img_journal_read(dirfd_, 1, &r), 0);
	s = r.status;
	*epoch = r.have_epoch ? r.epoch : UINT64_MAX;
	img_journal_release(&r);
	return s;
}

static void write_journal(struct fixture *f)
{
	struct img_journal *j = img_journal_open(dirfd_, 0);

	assert_non_null(j);
	assert_int_equal(img_journal_write(j, &f->c), 0);
	img_journal_close(j);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "%s/standby-ijournal-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(dir));
	dirfd_ = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(dirfd_ >= 0);
	return 0;
}

static int teardown(void **state)
{
	char cmd[600];

	(void)state;
	close(dirfd_);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- tests ---- */

static void test_reads_back_as_written(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct img_jread r;
	(void)state;

	make_commit(f, 5, NP);
	f->c.sync = 1;
	write_journal(f);
	assert_int_equal(img_journal_read(dirfd_, 1, &r), 0);
	assert_int_equal(r.status, IMG_JS_COMPLETE);
	assert_int_equal(r.epoch, 5);
	assert_int_equal(r.c.epoch, 5);
	assert_int_equal(r.c.sync, 1);
	assert_int_equal(r.c.npages, NP);
	for (size_t i = 0; i < NP; i++) {
		assert_int_equal(r.c.pages[i].pfn, 100 + 3 * i);
		if (i == 2)
			assert_null(r.c.pages[i].data);
		else
			assert_memory_equal(r.c.pages[i].data, f->pages[i], SB_PAGE_SIZE);
	}
	/* page data is page-aligned in the file (one tmpfs page per page written) */
	assert_int_equal(((const uint8_t *)r.c.pages[0].data - (const uint8_t *)r.map) % SB_PAGE_SIZE, 0);
	assert_int_equal(r.c.nstates, 2);
	assert_string_equal(r.c.states[1].name, "hvm_context.2");
	assert_int_equal(r.c.states[1].length, 91);
	assert_int_equal(r.c.states[1].arg, (uint64_t)SB_LAYER_LIBXC << 32 | 0x0f);
	assert_memory_equal(r.c.states[1].body, f->body[1], 91);
	assert_int_equal(r.c.order_len, f->c.order_len);
	assert_memory_equal(r.c.order, f->c.order, f->c.order_len);
	assert_int_equal(r.c.manifest_len, f->manifest_len);
	assert_memory_equal(r.c.manifest, f->manifest, f->manifest_len);
	assert_int_equal(r.c.memory_bytes, 1 << 20);
	img_journal_release(&r);
	free_commit(f);
	free(f);
}

/* Epoch 6 written over epoch 5 with the very same layout: every way of being
 * cut short or torn leaves bytes or the trailer of 5 where 6's belong. */
static void test_in_place_cut_or_torn_is_incomplete(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	uint8_t *a, *b, *x;
	size_t alen, blen, end;
	uint64_t e;
	(void)state;

	make_commit(f, 5, NP);
	write_journal(f);
	a = slurp(&alen);
	free_commit(f);
	make_commit(f, 6, NP);
	write_journal(f);
	b = slurp(&blen);
	free_commit(f);
	assert_int_equal(alen, blen);                   /* same layout, overwritten in place */
	assert_int_equal(status_of(&e), IMG_JS_COMPLETE);
	assert_int_equal(e, 6);
	end = blen - 40;
	x = malloc(blen);

	/* all of 6 but its trailer: 5's trailer sits right where 6's belongs */
	memcpy(x, b, end);
	memcpy(x + end, a + end, blen - end);
	put(x, blen);
	assert_int_equal(status_of(&e), IMG_JS_INCOMPLETE);
	assert_int_equal(e, 6);
	/* 6's trailer only, or 6's header only, over 5 */
	memcpy(x, a, alen);
	memcpy(x + end, b + end, blen - end);
	put(x, blen);
	assert_int_equal(status_of(&e), IMG_JS_INCOMPLETE);
	memcpy(x, a, alen);
	memcpy(x, b, 64);
	put(x, blen);
	assert_int_equal(status_of(&e), IMG_JS_INCOMPLETE);
	/* torn: one page (or one byte of one) of 5 inside 6 */
	memcpy(x, b, blen);
	memcpy(x + SB_PAGE_SIZE, a + SB_PAGE_SIZE, SB_PAGE_SIZE);
	put(x, blen);
	assert_int_equal(status_of(&e), IMG_JS_INCOMPLETE);
	memcpy(x, b, blen);
	x[end - 3] ^= 1;
	put(x, blen);
	assert_int_equal(status_of(&e), IMG_JS_INCOMPLETE);
	/* cut short (a file that ends early) */
	put(b, blen - 1);
	assert_int_equal(status_of(&e), IMG_JS_INCOMPLETE);
	put(b, 30);
	assert_int_equal(status_of(&e), IMG_JS_INCOMPLETE);
	assert_int_equal(e, UINT64_MAX);                /* not even a header */
	/* and untouched, 6 is complete again */
	put(b, blen);
	assert_int_equal(status_of(&e), IMG_JS_COMPLETE);
	free(a);
	free(b);
	free(x);
	free(f);
}

/* A short journal over a longer file: the bytes past its trailer mean nothing. */
static void test_shorter_over_longer(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct img_journal *j = img_journal_open(dirfd_, 0);
	struct img_jread r;
	uint8_t *b;
	size_t len1, len2;
	(void)state;

	assert_non_null(j);
	make_commit(f, 7, 40);                  /* 40 pages */
	assert_int_equal(img_journal_write(j, &f->c), 0);
	free(slurp(&len1));
	free_commit(f);
	make_commit(f, 8, 3);
	assert_int_equal(img_journal_write(j, &f->c), 0);
	b = slurp(&len2);
	assert_int_equal(len1, len2);           /* kept: not worth cutting */
	assert_int_equal(img_journal_read(dirfd_, 1, &r), 0);
	assert_int_equal(r.status, IMG_JS_COMPLETE);
	assert_int_equal(r.epoch, 8);
	assert_int_equal(r.c.npages, 3);
	img_journal_release(&r);
	free(b);
	free_commit(f);
	img_journal_close(j);
	free(f);
}

static void test_errors(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct img_journal *j = img_journal_open(dirfd_, 0);
	struct img_jread r;
	(void)state;

	assert_int_equal(img_journal_read(dirfd_, 1, &r), 0);
	assert_int_equal(r.status, IMG_JS_INCOMPLETE);  /* created empty */
	make_commit(f, 1, NP);
	f->c.pages[1].pfn = IMG_MAX_PFN + 1;
	assert_int_equal(img_journal_write(j, &f->c), -1);
	assert_int_equal(errno, EINVAL);
	free_commit(f);
	img_journal_close(j);
	assert_int_equal(unlinkat(dirfd_, IMG_JOURNAL, 0), 0);
	assert_int_equal(img_journal_read(dirfd_, 1, &r), 0);
	assert_int_equal(r.status, IMG_JS_ABSENT);
	free(f);
}

/* ---- through the target ---- */

static void run_epoch(struct sb_target *t, uint64_t n)
{
	struct sb_commit_info ci = { .epoch = n, .t_first_record = 1.0, .t_commit = 2.0 };
	struct sb_epoch *ep = n ? sb_epoch_new(1 << 20) : NULL;
	struct sb_buf rec;
	uint64_t entry = sb_pfn_entry(n % 4, SB_PT_NOTAB);
	uint8_t page[SB_PAGE_SIZE];
	char err[512];

	sb_buf_init(&rec);
	memset(page, (int)n, sizeof(page));
	assert_int_equal(sb_write_page_data(&rec, &entry, 1, page, sizeof(page)), 0);
	if (n) {
		sb_epoch_reset(ep, n);
		assert_int_equal(sb_epoch_add(ep, SB_LAYER_LIBXC, SB_LIBXC_PAGE_DATA, rec.data + 8,
					      sb_get_le32(rec.data + 4)), 0);
	} else {
		struct sb_record r = { .layer = SB_LAYER_LIBXC, .type = SB_LIBXC_PAGE_DATA,
				       .length = sb_get_le32(rec.data + 4), .body = rec.data + 8 };

		assert_int_equal(t->ops->initial_record(t, &r, err, sizeof(err)), 0);
	}
	if (t->ops->commit(t, ep, &ci, err, sizeof(err)))
		fail_msg("commit %llu: %s", (unsigned long long)n, err);
	sb_epoch_free(ep);
	sb_buf_free(&rec);
}

static void test_target_keeps_one_journal(void **state)
{
	struct sb_target t = { .ops = &sb_target_image };
	struct stat st1, st2;
	char err[512], did[256];
	(void)state;

	t.info.stream = "test";
	t.info.max_memkb = 16;
	assert_int_equal(t.ops->open(&t, dir, &t.info, err, sizeof(err)), 0);
	run_epoch(&t, 0);
	assert_int_equal(fstatat(dirfd_, IMG_JOURNAL, &st1, 0), -1);   /* epoch 0 needs none */
	run_epoch(&t, 1);
	assert_int_equal(fstatat(dirfd_, IMG_JOURNAL, &st1, 0), 0);
	run_epoch(&t, 2);
	run_epoch(&t, 3);
	assert_int_equal(fstatat(dirfd_, IMG_JOURNAL, &st2, 0), 0);
	assert_int_equal(st1.st_ino, st2.st_ino);       /* the same file, overwritten */
	t.ops->close(&t);
	assert_int_equal(fstatat(dirfd_, IMG_JOURNAL, &st2, 0), -1);   /* applied: removed at close */

	/* a journal of journal version 1 (never written now) is not replayed */
	{
		uint8_t old[80] = "SBJRNL01";

		sb_put_le64(old + 8, 4);
		put(old, sizeof(old));
	}
	assert_int_equal(img_recover(dirfd_, dir, did, sizeof(did), err, sizeof(err)), 0);
	assert_string_equal(did, "discarded an incomplete journal");
	assert_int_equal(fstatat(dirfd_, IMG_JOURNAL, &st2, 0), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reads_back_as_written, setup, teardown),
		cmocka_unit_test_setup_teardown(test_in_place_cut_or_torn_is_incomplete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shorter_over_longer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_target_keeps_one_journal, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_image.c - the image target: initial copy then commits, crash
 * recovery at every step of a commit and of the first commit's switch,
 * digests against an independent model, abort and a new stream over an
 * earlier replica, and `standby verify` on the result.
 *
 * A model of the guest (memory bytes + the epoch's state records) is updated
 * alongside the target; digests of the model are computed here with
 * libcrypto directly, not with the project's digest code.
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
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include "backend/image.h"
#include "cmd/commands.h"
#include "standby/backend.h"
#include "standby/epoch.h"
#include "standby/records.h"
#include "standby/writer.h"

#define NPFN 64
#define MAX_MEMKB 40                    /* 10 pages */

struct model {
	uint8_t mem[NPFN * SB_PAGE_SIZE];
	uint8_t has[NPFN];
	struct sb_buf state;            /* this epoch's state records, digest-ready */
};

static char dir[256];

/* ---- helpers ---- */

static void fill_page(uint8_t *p, uint64_t pfn, unsigned gen)
{
	for (unsigned i = 0; i < SB_PAGE_SIZE; i += 8)
		sb_put_le64(p + i, (pfn + 1) * 0x9E3779B97F4A7C15ull ^ (uint64_t)(gen + 1) * 1000003u ^ i);
}

static void sha256_hex(const void *p, size_t n, char out[65])
{
	uint8_t d[32];
	unsigned int len = 32;

	assert_true(EVP_Digest(p, n, d, &len, EVP_sha256(), NULL));
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static uint64_t model_memory_bytes(const struct model *m)
{
	uint64_t end = 0;

	for (uint64_t p = 0; p < NPFN; p++)
		if (m->has[p])
			end = p + 1;
	return end * SB_PAGE_SIZE > MAX_MEMKB * 1024 ? end * SB_PAGE_SIZE : MAX_MEMKB * 1024;
}

static void model_digests(const struct model *m, char mem[65], char st[65])
{
	sha256_hex(m->mem, (size_t)model_memory_bytes(m), mem);
	sha256_hex(m->state.data ? m->state.data : (const uint8_t *)"", m->state.len, st);
}

/* One record as a stream would carry it. */
struct rec {
	enum sb_layer layer;
	uint32_t type;
	struct sb_buf b;                /* a whole record: header, body, padding */
};

struct recs {
	struct rec v[16];
	int n;
};

static struct sb_buf *new_rec(struct recs *r, enum sb_layer layer)
{
	struct rec *x = &r->v[r->n++];

	x->layer = layer;
	sb_buf_init(&x->b);
	return &x->b;
}

static const uint8_t *rec_body(const struct rec *x) { return x->b.data + 8; }
static uint32_t rec_len(const struct rec *x) { return sb_get_le32(x->b.data + 4); }

static void recs_free(struct recs *r)
{
	for (int i = 0; i < r->n; i++)
		sb_buf_free(&r->v[i].b);
	r->n = 0;
}

static void pages(struct recs *r, const uint64_t *entries, uint32_t n, unsigned gen)
{
	uint8_t buf[8 * SB_PAGE_SIZE];
	size_t len = 0;

	for (uint32_t i = 0; i < n; i++) {
		int has_data;

		sb_ptype_valid(sb_ptype_of(entries[i]), &has_data);
		if (has_data) {
			fill_page(buf + len, sb_pfn_of(entries[i]), gen + i);
			len += SB_PAGE_SIZE;
		}
	}
	assert_int_equal(sb_write_page_data(new_rec(r, SB_LAYER_LIBXC), entries, n, buf, len), 0);
}

static void blob_rec(struct recs *r, enum sb_layer layer, uint32_t type, size_t len, unsigned seed)
{
	uint8_t body[512];

	for (size_t i = 0; i < len; i++)
		body[i] = (uint8_t)(seed * 31 + i);
	assert_int_equal(sb_write_record(new_rec(r, layer), type, body, (uint32_t)len), 0);
}

/* The records of epoch n of the test stream (variant v changes every page and blob). */
static void epoch_records(struct recs *r, unsigned n, unsigned v)
{
	uint64_t params[4] = { 2, 0x1000 + n, 5, 7 };

	r->n = 0;
	if (n == 0) {
		uint64_t e[10];

		blob_rec(r, SB_LAYER_LIBXC, SB_LIBXC_X86_CPUID_POLICY, 48, 1 + v);
		for (int i = 0; i < 10; i++)
			e[i] = sb_pfn_entry((uint64_t)i, SB_PT_NOTAB);
		pages(r, e, 8, 100 * v);
		pages(r, e + 8, 2, 100 * v + 8);
		e[0] = sb_pfn_entry(20, SB_PT_NOTAB);
		pages(r, e, 1, 100 * v + 20);
	} else {
		uint64_t e[3] = { sb_pfn_entry(n % 10, SB_PT_NOTAB), sb_pfn_entry((n + 3) % 10, SB_PT_XTAB),
				  sb_pfn_entry(40 + n, SB_PT_XTAB) };
		uint64_t again = sb_pfn_entry(n % 10, SB_PT_L1TAB);

		pages(r, e, 3, 100 * v + 10 * n);
		pages(r, &again, 1, 100 * v + 10 * n + 5);   /* the same pfn again: this copy wins */
		if (n == 4) {                                /* the highest pfn goes: memory shrinks */
			e[0] = sb_pfn_entry(20, SB_PT_XTAB);
			pages(r, e, 1, 0);
		}
	}
	assert_int_equal(sb_write_tsc_info(new_rec(r, SB_LAYER_LIBXC), 1, 2000000, n * 1000ull, n), 0);
	r->v[r->n - 1].type = SB_LIBXC_X86_TSC_INFO;
	blob_rec(r, SB_LAYER_LIBXC, SB_LIBXC_HVM_CONTEXT, 100 + n, n + 7 * v);
	assert_int_equal(sb_write_hvm_params(new_rec(r, SB_LAYER_LIBXC), params, 2), 0);
	if (n % 2 == 0)
		assert_int_equal(sb_write_emulator_record(new_rec(r, SB_LAYER_LIBXL), SB_LIBXL_EMULATOR_CONTEXT,
							  SB_EMULATOR_QEMU_UPSTREAM, 0, "qemu-state", 10), 0);
	for (int i = 0; i < r->n; i++)
		r->v[i].type = sb_get_le32(r->v[i].b.data);
}

static int model_page(uint64_t pfn, unsigned type, const uint8_t *page, void *opaque)
{
	struct model *m = opaque;

	(void)type;
	if (page) {
		memcpy(m->mem + pfn * SB_PAGE_SIZE, page, SB_PAGE_SIZE);
		m->has[pfn] = 1;
	} else if (m->has[pfn]) {
		memset(m->mem + pfn * SB_PAGE_SIZE, 0, SB_PAGE_SIZE);
		m->has[pfn] = 0;
	}
	return 0;
}

static void model_apply(struct model *m, const struct recs *r)
{
	sb_buf_reset(&m->state);
	for (int i = 0; i < r->n; i++) {
		const struct rec *x = &r->v[i];

		if (x->layer == SB_LAYER_LIBXC && x->type == SB_LIBXC_PAGE_DATA) {
			sb_page_data_foreach(rec_body(x), rec_len(x), model_page, m);
		} else if (sb_is_state_record(x->layer, x->type)) {
			uint8_t hdr[9];

			hdr[0] = (uint8_t)x->layer;
			sb_put_le32(hdr + 1, x->type);
			sb_put_le32(hdr + 5, rec_len(x));
			sb_buf_append(&m->state, hdr, 9);
			sb_buf_append(&m->state, rec_body(x), rec_len(x));
		}
	}
}

static void model_run(struct model *m, unsigned upto, unsigned v)
{
	struct recs r;

	memset(m->mem, 0, sizeof(m->mem));
	memset(m->has, 0, sizeof(m->has));
	for (unsigned n = 0; n <= upto; n++) {
		epoch_records(&r, n, v);
		model_apply(m, &r);
		recs_free(&r);
	}
}

static void target_init(struct sb_target *t)
{
	memset(t, 0, sizeof(*t));
	t->ops = &sb_target_image;
	t->info.stream = "test";
	t->info.domain = "vm-\"one\"";
	t->info.domain_type = SB_DOM_HVM;
	t->info.max_memkb = MAX_MEMKB;
	t->info.mode = SB_MODE_REMUS;
}

/* Feed epoch n to the target: initial records for 0, an epoch buffer after. 0 or -1. */
static int feed_epoch(struct sb_target *t, unsigned n, unsigned v, int do_commit, char *err, size_t errlen)
{
	struct sb_commit_info ci = { .epoch = n, .t_first_record = 1000.5 + n, .t_commit = 1001.25 + n };
	struct sb_epoch *ep = NULL;
	struct recs r;
	int rc = 0;

	epoch_records(&r, n, v);
	if (n == 0) {
		for (int i = 0; i < r.n && !rc; i++) {
			struct sb_record rec = { .layer = r.v[i].layer, .type = r.v[i].type,
						 .length = rec_len(&r.v[i]), .body = rec_body(&r.v[i]),
						 .index = (uint64_t)i };

			rc = t->ops->initial_record(t, &rec, err, errlen);
		}
	} else {
		ep = sb_epoch_new(16 << 20);
		sb_epoch_reset(ep, n);
		for (int i = 0; i < r.n && !rc; i++)
			rc = sb_epoch_add(ep, r.v[i].layer, r.v[i].type, rec_body(&r.v[i]), rec_len(&r.v[i]));
		ci.pages = sb_epoch_npages(ep);
		ci.bytes = sb_epoch_bytes(ep);
		ci.wire_bytes = sb_epoch_wire_bytes(ep);
	}
	if (!rc && do_commit)
		rc = t->ops->commit(t, ep, &ci, err, errlen);
	sb_epoch_free(ep);
	recs_free(&r);
	return rc;
}

/* A stream of epochs 0..upto into dir, committed. */
static void run_stream(struct sb_target *t, unsigned upto, unsigned v)
{
	char err[512] = "";

	target_init(t);
	assert_int_equal(t->ops->open(t, "", &t->info, err, sizeof(err)), -1);
	assert_int_equal(t->ops->open(t, dir, &t->info, err, sizeof(err)), 0);
	for (unsigned n = 0; n <= upto; n++) {
		int rc = feed_epoch(t, n, v, 1, err, sizeof(err));

		if (rc)
			fail_msg("epoch %u: %s", n, err);
	}
}

static void read_manifest(struct img_manifest *m)
{
	char err[256];
	int fd = open(dir, O_RDONLY | O_DIRECTORY);

	assert_true(fd >= 0);
	assert_int_equal(img_manifest_read(fd, m, err, sizeof(err)), 0);
	close(fd);
}

static void file_digest(const char *name, uint64_t len, char out[65])
{
	char path[512];
	uint8_t *buf = calloc(1, (size_t)len + 1);
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, (size_t)len);
	assert_true(n >= 0);            /* past the end: zeros (calloc) */
	close(fd);
	sha256_hex(buf, (size_t)len, out);
	free(buf);
}

static int exists(const char *name)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0;
}

static void read_file(const char *name, uint8_t *buf, size_t len)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, len), (ssize_t)len);
	close(fd);
}

/* No journal, or (while a target runs) the applied journal of the committed epoch n. */
static void no_pending_journal(unsigned n)
{
	struct img_jread r;
	int fd = open(dir, O_RDONLY | O_DIRECTORY);

	assert_true(fd >= 0);
	assert_int_equal(img_journal_read(fd, 1, &r), 0);
	if (r.status != IMG_JS_ABSENT) {
		assert_int_equal(r.status, IMG_JS_COMPLETE);
		assert_int_equal(r.epoch, n);
	}
	img_journal_release(&r);
	close(fd);
}

/* The replica holds exactly the model's epoch n of variant v. */
static void check_replica(unsigned n, unsigned v)
{
	struct model *m = calloc(1, sizeof(*m));
	struct img_manifest man;
	char mem[65], st[65], fmem[65];

	sb_buf_init(&m->state);
	model_run(m, n, v);
	model_digests(m, mem, st);
	read_manifest(&man);
	assert_true(man.committed);
	assert_int_equal(man.epoch, n);
	assert_int_equal(man.memory_bytes, model_memory_bytes(m));
	assert_string_equal(man.state_digest, st);
	file_digest(IMG_MEMORY, man.memory_bytes, fmem);
	assert_string_equal(fmem, mem);
	{       /* the file is exactly memory_bytes long: sha256sum of it is the digest */
		char path[512];
		struct stat sbuf;

		snprintf(path, sizeof(path), "%s/%s", dir, IMG_MEMORY);
		assert_int_equal(stat(path, &sbuf), 0);
		assert_int_equal((uint64_t)sbuf.st_size, man.memory_bytes);
	}
	no_pending_journal(n);
	sb_buf_free(&m->state);
	free(m);
}

static int verify_against(unsigned n, unsigned v, int corrupt)
{
	struct model *m = calloc(1, sizeof(*m));
	char mem[65], st[65], path[512];
	char *argv[] = { "verify", dir, "--expect", path, NULL };
	FILE *f;

	sb_buf_init(&m->state);
	model_run(m, n, v);
	model_digests(m, mem, st);
	if (corrupt)
		mem[5] = mem[5] == '0' ? '1' : '0';
	snprintf(path, sizeof(path), "%s.expect", dir);
	f = fopen(path, "w");
	fprintf(f, "# expectations\nepoch %u memory %s state %s\n", n, mem, st);
	fclose(f);
	sb_buf_free(&m->state);
	free(m);
	return cmd_verify(4, argv);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "%s/standby-image-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[600];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s.expect'", dir, dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- tests ---- */

static void test_initial_then_commits(void **state)
{
	struct sb_target t;
	char err[512] = "", status[512], mem[65], st[65];
	struct img_manifest man;
	struct model *m = calloc(1, sizeof(*m));
	uint8_t body[200];
	struct stat sbuf;
	(void)state;

	target_init(&t);
	assert_int_equal(t.ops->open(&t, dir, &t.info, err, sizeof(err)), 0);
	assert_int_equal(feed_epoch(&t, 0, 0, 0, err, sizeof(err)), 0);
	/* nothing claimed before the first commit */
	assert_false(exists(IMG_MANIFEST));
	assert_false(exists(IMG_MEMORY));
	assert_true(exists(".incoming/memory"));
	{
		struct sb_commit_info ci = { .epoch = 0, .t_first_record = 5.5, .t_commit = 6.0 };

		assert_int_equal(t.ops->commit(&t, NULL, &ci, err, sizeof(err)), 0);
	}
	check_replica(0, 0);
	read_manifest(&man);
	assert_string_equal(man.domain, "vm-\"one\"");
	assert_int_equal(man.domain_type, SB_DOM_HVM);
	assert_int_equal(man.pages_present, 11);
	assert_int_equal(man.memory_bytes, 21 * SB_PAGE_SIZE);       /* pfn 20 is past max_memkb */
	assert_false(man.activated);
	assert_int_equal(man.memory_digest[0], 0);                   /* not maintained per commit */
	assert_true(exists("state/cpuid_policy"));
	assert_true(exists("state/emulator_context"));
	assert_true(exists("state/hvm_context"));
	read_file("state/hvm_context", body, 100);
	for (int i = 0; i < 100; i++)
		assert_int_equal(body[i], (uint8_t)(0 * 31 + i));

	for (unsigned n = 1; n <= 3; n++) {
		assert_int_equal(feed_epoch(&t, n, 0, 1, err, sizeof(err)), 0);
		check_replica(n, 0);
	}
	/* epoch 3 has no emulator record: its file went with epoch 2; the static one stays */
	assert_false(exists("state/emulator_context"));
	assert_true(exists("state/cpuid_policy"));
	read_file("state/hvm_context", body, 103);
	assert_int_equal(body[0], 3 * 31 % 256);
	/* pfn 43 was XTAB without ever holding data: a hole, the file stops at pfn 20 */
	assert_int_equal(stat(strcat(strcpy((char *)body, dir), "/memory"), &sbuf), 0);
	assert_int_equal(sbuf.st_size, 21 * SB_PAGE_SIZE);
	assert_int_equal(feed_epoch(&t, 4, 0, 1, err, sizeof(err)), 0);
	check_replica(4, 0);
	read_manifest(&man);
	assert_int_equal(man.memory_bytes, MAX_MEMKB * 1024);   /* pfn 20 is gone */
	assert_int_equal(man.pages_present, 7);          /* 11, then -1 -1 -1 +1-1 (epochs 1-4) -1 (pfn 20) */
	assert_int_equal(feed_epoch(&t, 5, 0, 1, err, sizeof(err)), 0);
	check_replica(5, 0);
	assert_true(t.ops->status_json(&t, status, sizeof(status)) > 0);
	assert_non_null(strstr(status, "\"committed_epoch\":5"));

	/* a commit out of sequence is refused */
	{
		struct sb_commit_info ci = { .epoch = 9 };
		struct sb_epoch *ep = sb_epoch_new(1 << 20);

		assert_int_equal(t.ops->commit(&t, ep, &ci, err, sizeof(err)), -1);
		assert_non_null(strstr(err, dir));
		sb_epoch_free(ep);
	}
	struct sb_failover_info fi = { .reason = "eof", .epoch = 5 };

	assert_int_equal(t.ops->activate(&t, &fi, err, sizeof(err)), 0);
	t.ops->close(&t);
	check_replica(5, 0);
	read_manifest(&man);
	sb_buf_init(&m->state);
	model_run(m, 5, 0);
	model_digests(m, mem, st);
	assert_true(man.activated);
	assert_string_equal(man.activation_reason, "eof");
	assert_int_equal(man.activation_epoch, 5);
	assert_int_equal(man.memory_digest[0], 0);   /* not computed at activation: verify does it */
	sb_buf_free(&m->state);
	free(m);

	assert_int_equal(verify_against(5, 0, 0), 0);
	assert_int_equal(verify_against(5, 0, 1), 1);       /* a wrong expectation */
	assert_int_equal(verify_against(4, 0, 0), 1);       /* epoch 5 not in the file */
}

/* Run a stream to epoch 2 in a child, crash it at point during the commit of epoch 3. */
static void crash_child(const char *point, unsigned upto, unsigned v, int crash_epoch)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct sb_target t;
		char err[512];

		target_init(&t);
		if (t.ops->open(&t, dir, &t.info, err, sizeof(err)))
			_exit(1);
		for (unsigned n = 0; n <= upto; n++) {
			if ((int)n == crash_epoch)
				setenv("STANDBY_IMAGE_CRASH_AT", point, 1);
			if (feed_epoch(&t, n, v, 1, err, sizeof(err))) {
				fprintf(stderr, "child: %s\n", err);
				_exit(1);
			}
		}
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 137);
}

static void recover_dir(char *did, size_t len)
{
	char err[512];
	int fd = open(dir, O_RDONLY | O_DIRECTORY);

	assert_true(fd >= 0);
	if (img_recover(fd, dir, did, len, err, sizeof(err)))
		fail_msg("recover: %s", err);
	close(fd);
}

static void crash_case(const char *point, unsigned want_epoch, const char *want_did)
{
	char did[256];
	struct img_manifest man;

	teardown(NULL);
	setup(NULL);
	crash_child(point, 3, 0, 3);
	/* before recovery: the manifest still names epoch 2 unless the crash came after it */
	read_manifest(&man);
	assert_int_equal(man.epoch, strcmp(point, "after-manifest") ? 2 : 3);
	assert_true(exists(IMG_JOURNAL));
	recover_dir(did, sizeof(did));
	if (want_did)
		assert_non_null(strstr(did, want_did));
	else
		assert_string_equal(did, "");
	/* no journal left, or the committed epoch's own (check_replica) */
	assert_int_equal(exists(IMG_JOURNAL), want_epoch == 3);
	assert_false(exists(IMG_INCOMING));
	check_replica(want_epoch, 0);
	assert_int_equal(verify_against(want_epoch, 0, 0), 0);
}

static void test_crash_during_commit(void **state)
{
	(void)state;
	/* epoch 3's journal overwrites epoch 2's in place: cut short, it must not pass for complete */
	crash_case("mid-journal", 2, "discarded an incomplete journal");
	crash_case("before-trailer", 2, "discarded an incomplete journal");
	crash_case("after-journal", 3, "replayed the journal of epoch 3");
	crash_case("mid-apply", 3, "replayed the journal of epoch 3");
	crash_case("mid-state", 3, "replayed the journal of epoch 3");    /* a state file torn */
	crash_case("before-manifest", 3, "replayed the journal of epoch 3");
	/* the journal of the committed epoch: nothing to redo, left as it is */
	crash_case("after-manifest", 3, NULL);
}

static void test_crash_then_reopen_replays(void **state)
{
	struct sb_target t;
	char err[512];
	(void)state;

	crash_child("mid-apply", 2, 0, 2);
	/* a new stream's open recovers the old replica first, and keeps it */
	target_init(&t);
	assert_int_equal(t.ops->open(&t, dir, &t.info, err, sizeof(err)), 0);
	check_replica(2, 0);
	t.ops->abort(&t);
	t.ops->close(&t);
	check_replica(2, 0);
	assert_false(exists(IMG_INCOMING));
}

static void test_abort_keeps_earlier_replica(void **state)
{
	struct sb_target t;
	char err[512];
	(void)state;

	run_stream(&t, 2, 0);
	t.ops->close(&t);
	check_replica(2, 0);

	/* stream B: its initial copy goes to .incoming, the replica stays epoch 2 of A */
	target_init(&t);
	assert_int_equal(t.ops->open(&t, dir, &t.info, err, sizeof(err)), 0);
	assert_int_equal(feed_epoch(&t, 0, 1, 0, err, sizeof(err)), 0);
	assert_true(exists(".incoming/memory"));
	check_replica(2, 0);
	t.ops->abort(&t);
	assert_false(exists(IMG_INCOMING));
	t.ops->close(&t);
	check_replica(2, 0);
	assert_int_equal(verify_against(2, 0, 0), 0);
}

static void test_new_stream_replaces_at_first_commit(void **state)
{
	struct sb_target t;
	char err[512];
	struct sb_commit_info ci = { .epoch = 0 };
	(void)state;

	run_stream(&t, 3, 0);           /* epoch 3: no emulator_context */
	t.ops->close(&t);
	assert_false(exists("state/emulator_context"));

	target_init(&t);
	t.info.sync = 1;                /* the --sync path: fsync at each step */
	assert_int_equal(t.ops->open(&t, dir, &t.info, err, sizeof(err)), 0);
	assert_int_equal(feed_epoch(&t, 0, 1, 0, err, sizeof(err)), 0);
	check_replica(3, 0);
	assert_int_equal(t.ops->commit(&t, NULL, &ci, err, sizeof(err)), 0);
	check_replica(0, 1);
	assert_true(exists("state/emulator_context"));
	assert_false(exists(IMG_SWITCH));
	assert_false(exists(IMG_INCOMING));
	assert_int_equal(feed_epoch(&t, 1, 1, 1, err, sizeof(err)), 0);
	check_replica(1, 1);
	t.ops->close(&t);
}

static void switch_case(const char *point, int b_wins)
{
	struct sb_target t;
	char did[256];

	teardown(NULL);
	setup(NULL);
	run_stream(&t, 2, 0);
	t.ops->close(&t);
	crash_child(point, 0, 1, 0);
	recover_dir(did, sizeof(did));
	assert_false(exists(IMG_INCOMING));
	assert_false(exists(IMG_SWITCH));
	assert_false(exists(IMG_OLD_STATE));
	if (b_wins) {
		check_replica(0, 1);
		assert_non_null(strstr(did, "finished switching"));
	} else {
		check_replica(2, 0);
		assert_non_null(strstr(did, "dropped an unfinished new stream"));
	}
}

static void test_switch_crashes(void **state)
{
	(void)state;
	switch_case("before-switch", 0);
	switch_case("mid-switch", 1);
}

/* In a child with a file size limit: the error names the call, offset and errno. */
static void limited_child(unsigned upto, rlim_t limit, char *msg, size_t msglen)
{
	int fds[2];
	pid_t pid;
	ssize_t n;
	int status;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sb_target t;
		struct rlimit rl = { limit, limit };
		struct sb_failover_info fi = { .reason = "parse error" };
		char err[512] = "";

		signal(SIGXFSZ, SIG_IGN);
		target_init(&t);
		if (t.ops->open(&t, dir, &t.info, err, sizeof(err)))
			_exit(1);
		for (unsigned e = 0; e <= upto; e++) {
			if (e == upto)
				setrlimit(RLIMIT_FSIZE, &rl);
			if (feed_epoch(&t, e, 0, 1, err, sizeof(err)))
				break;
		}
		if (write(fds[1], err, strlen(err)) < 0)
			_exit(1);
		/* refused after a failure; activation (still under the limit) works on what was committed */
		if (upto > 0 && feed_epoch(&t, upto + 1, 0, 1, err, sizeof(err)) == 0)
			_exit(2);
		if (upto > 0 && t.ops->activate(&t, &fi, err, sizeof(err)))
			_exit(3);
		t.ops->close(&t);
		_exit(0);
	}
	close(fds[1]);
	n = read(fds[0], msg, msglen - 1);
	msg[n > 0 ? n : 0] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_errors_name_call_and_errno(void **state)
{
	char msg[512], want[512];
	struct img_manifest man;
	(void)state;

	/* initial copy: pfn 8 lies past a 32 KiB limit */
	limited_child(0, 32768, msg, sizeof(msg));
	snprintf(want, sizeof(want), "image:%s: pwrite memory at offset 32768: File too large", dir);
	assert_string_equal(msg, want);
	assert_false(exists(IMG_MANIFEST));
	assert_false(exists(IMG_INCOMING));     /* close dropped the unfinished stream */

	/* epoch 2: its journal cannot be written; the replica stays epoch 1 */
	teardown(NULL);
	setup(NULL);
	limited_child(2, 4096, msg, sizeof(msg));
	snprintf(want, sizeof(want), "image:%s: write journal: File too large", dir);
	assert_string_equal(msg, want);
	check_replica(1, 0);
	read_manifest(&man);
	assert_true(man.activated);
	assert_string_equal(man.activation_reason, "parse error");
}

static void test_manifest_roundtrip(void **state)
{
	struct img_manifest m = { 0 }, back;
	char err[256], *text;
	size_t len;
	(void)state;

	m.committed = 1;
	m.epoch = 12345678901ull;
	snprintf(m.domain, sizeof(m.domain), "a\"b\\c\n\xc3\xa9\xff-end");
	m.domain_type = SB_DOM_PV;
	m.memory_bytes = 1ull << 40;
	m.pages_present = 7;
	m.epoch_pages = 3;
	m.epoch_bytes = 4096 * 3;
	m.total_bytes = 99;
	m.first_record_time = 1796400000.125;
	m.commit_time = 1796400001.5;
	memset(m.state_digest, 'a', 64);
	text = img_manifest_format(&m, &len);
	assert_non_null(text);
	assert_null(strstr(text, "\"memory_digest\""));       /* absent until activation */
	assert_int_equal(img_manifest_parse(text, len, &back, err, sizeof(err)), 0);
	assert_string_equal(back.domain, "a\"b\\c\n\xc3\xa9?-end");
	assert_int_equal(back.epoch, m.epoch);
	assert_int_equal(back.memory_bytes, m.memory_bytes);
	assert_int_equal(back.domain_type, SB_DOM_PV);
	assert_true(back.committed);
	assert_false(back.activated);
	assert_true(back.commit_time == 1796400001.5);
	free(text);

	m.activated = 1;
	snprintf(m.activation_reason, sizeof(m.activation_reason), "heartbeat");
	m.activation_epoch = 4;
	m.activation_time = 1.5;
	memset(m.memory_digest, 'f', 64);
	text = img_manifest_format(&m, &len);
	assert_int_equal(img_manifest_parse(text, len, &back, err, sizeof(err)), 0);
	assert_string_equal(back.memory_digest, m.memory_digest);
	assert_string_equal(back.activation_reason, "heartbeat");
	assert_int_equal(back.activation_epoch, 4);
	/* damage is reported, not trusted */
	text[strstr(text, "state_digest") - text + 20] = 'X';
	assert_int_equal(img_manifest_parse(text, len, &back, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "state_digest"));
	assert_int_equal(img_manifest_parse("{\"format\":\"other/1\"}", 20, &back, err, sizeof(err)), -1);
	free(text);
}

static void test_state_names(void **state)
{
	struct sb_buf b;
	char name[IMG_NAME_MAX];
	int st;
	struct img_state_list l = { 0 };
	uint8_t blob[16] = { 0 };
	(void)state;

	sb_buf_init(&b);
	assert_int_equal(sb_write_x86_pv_vcpu(&b, SB_LIBXC_X86_PV_VCPU_XSAVE, 17, blob, 16), 0);
	assert_int_equal(img_state_name(SB_LAYER_LIBXC, SB_LIBXC_X86_PV_VCPU_XSAVE, b.data + 8, 24, name, &st), 1);
	assert_string_equal(name, "vcpu17_xsave");
	assert_false(st);
	sb_buf_reset(&b);
	assert_int_equal(sb_write_emulator_record(&b, SB_LIBXL_EMULATOR_XENSTORE_DATA, 2, 3, "x", 1), 0);
	assert_int_equal(img_state_name(SB_LAYER_LIBXL, SB_LIBXL_EMULATOR_XENSTORE_DATA, b.data + 8, 9, name, &st), 1);
	assert_string_equal(name, "emulator_xenstore_data_3");
	assert_int_equal(img_state_name(SB_LAYER_LIBXC, SB_LIBXC_X86_PV_P2M_FRAMES, blob, 16, name, &st), 1);
	assert_string_equal(name, "p2m_frames");
	assert_true(st);
	assert_int_equal(img_state_name(SB_LAYER_LIBXC, SB_LIBXC_SHARED_INFO, blob, 16, name, &st), 1);
	assert_string_equal(name, "shared_info");
	assert_int_equal(img_state_name(SB_LAYER_LIBXC, SB_LIBXC_CHECKPOINT, NULL, 0, name, &st), 0);
	assert_int_equal(img_state_name(SB_LAYER_LIBXL, SB_LIBXL_CHECKPOINT_END, NULL, 0, name, &st), 0);
	/* the same name twice in one epoch: .2, .3 */
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "hvm_context");
		assert_int_equal(img_state_list_add(&l, SB_LAYER_LIBXC, SB_LIBXC_HVM_CONTEXT, 10, name), 0);
	}
	assert_string_equal(l.v[1].name, "hvm_context.2");
	assert_string_equal(l.v[2].name, "hvm_context.3");
	{
		size_t len;
		char *text = img_state_order_text(&l, &len);
		struct img_state_list back = { 0 };

		assert_string_equal(text, "3 9 10 hvm_context\n3 9 10 hvm_context.2\n3 9 10 hvm_context.3\n");
		assert_int_equal(img_state_order_parse(text, len, &back), 0);
		assert_int_equal(back.n, 3);
		assert_int_equal(img_state_order_parse("3 9 10 ../x\n", 12, &back), -1);
		assert_int_equal(img_state_order_parse("3 9 10 cpuid_policy\n", 20, &back), -1);
		img_state_list_free(&back);
		free(text);
	}
	img_state_list_free(&l);
	sb_buf_free(&b);
}

static void test_verify_no_replica(void **state)
{
	char *argv[] = { "verify", dir, NULL };
	char *bad[] = { "verify", "--bogus", dir, NULL };
	char *none[] = { "verify", NULL };
	(void)state;

	assert_int_equal(cmd_verify(2, argv), 1);
	assert_int_equal(cmd_verify(3, bad), 2);
	assert_int_equal(cmd_verify(1, none), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_initial_then_commits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_during_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_then_reopen_replays, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_keeps_earlier_replica, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_stream_replaces_at_first_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_switch_crashes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors_name_call_and_errno, setup, teardown),
		cmocka_unit_test(test_manifest_roundtrip),
		cmocka_unit_test(test_state_names),
		cmocka_unit_test_setup_teardown(test_verify_no_replica, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

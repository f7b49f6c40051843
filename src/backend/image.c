/*
 * image.c - the image target: the replica on disk (docs/image-format.md).
 *
 * Event chains (backend.h drives them):
 *   open:            lock DIR -> recover DIR (an earlier replica stays as it
 *                    is) -> fresh DIR/.incoming with memory and state.new/
 *   initial_record:  PAGE_DATA -> pwrite into .incoming/memory;
 *                    state record -> file in .incoming/state.new/
 *   commit(0):       [records of ep as initial records] -> order file ->
 *                    state.new/ becomes state/ -> .incoming/manifest.json ->
 *                    DIR/switch (the commit point) -> img_switch() moves
 *                    .incoming into DIR -> unlink switch
 *   commit(N >= 1):  ep as a struct img_commit (page and body pointers into
 *                    ep, the new order and manifest) -> DIR/journal
 *                    overwritten with it (trailer last) -> img_commit_apply()
 *                    from ep (the journal is not read back)
 *   activate:        recover -> manifest with activation (no memory digest:
 *                    hashing all of memory would delay the failover; verify does it)
 *   abort:           recover: drops .incoming unless the switch had begun
 *   close:           as abort when nothing was committed; else remove the
 *                    (applied) journal unless a commit failed and nothing
 *                    was activated (recovery must see it); unlock
 * A failed commit leaves the target refusing further commits; activate and
 * recovery at the next open finish or drop whatever the failure left.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include "backend/image.h"
#include "standby/backend.h"
#include "standby/records.h"

struct image {
	char *dir;
	int dirfd, lockfd, infd, stagefd, memfd;
	int committed;                  /* this stream committed epoch 0 */
	int failed;
	int activated;
	uint64_t epoch;
	struct img_present *present;
	struct img_state_list order;
	struct sb_hash *state_hash;
	char domain[256];
	uint32_t seen_type;             /* domain type inferred from records */
	uint64_t total_bytes, commits;
	struct img_manifest last;
	struct img_journal *journal;    /* open from the first commit after epoch 0 */
	struct img_commit commit;       /* the commit being made (arrays kept) */
	char *err;
	size_t errlen;
};

static int ierr(struct image *im, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int ierr(struct image *im, const char *fmt, ...)
{
	char what[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(im->err, im->errlen, "image:%s: %s", im->dir, what);
	return -1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void image_free(struct image *im)
{
	if (!im)
		return;
	img_journal_close(im->journal);
	img_commit_free(&im->commit);
	close_fd(&im->stagefd);
	close_fd(&im->infd);
	close_fd(&im->memfd);
	close_fd(&im->dirfd);
	close_fd(&im->lockfd);          /* releases the lock */
	img_present_free(im->present);
	img_state_list_free(&im->order);
	sb_hash_free(im->state_hash);
	free(im->dir);
	free(im);
}

static void note_type(struct image *im, enum sb_layer layer, uint32_t type)
{
	if (layer != SB_LAYER_LIBXC)
		return;
	if (type == SB_LIBXC_HVM_CONTEXT || type == SB_LIBXC_HVM_PARAMS)
		im->seen_type = SB_DOM_HVM;
	else if (type == SB_LIBXC_X86_PV_INFO || type == SB_LIBXC_X86_PV_P2M_FRAMES ||
		 type == SB_LIBXC_X86_PV_VCPU_BASIC)
		im->seen_type = SB_DOM_PV;
}

static int image_open(struct sb_target *t, const char *arg, const struct sb_stream_info *info,
		      char *err, size_t errlen)
{
	struct image *im = calloc(1, sizeof(*im));
	char did[256];

	t->priv = NULL;
	if (!im) {
		snprintf(err, errlen, "image: out of memory");
		return -1;
	}
	im->dirfd = im->lockfd = im->infd = im->stagefd = im->memfd = -1;
	im->err = err;
	im->errlen = errlen;
	im->dir = strdup(arg ? arg : "");
	im->present = img_present_new();
	im->state_hash = sb_hash_new();
	if (!im->dir || !im->present || !im->state_hash) {
		snprintf(err, errlen, "image: out of memory");
		goto fail;
	}
	if (!im->dir[0]) {
		snprintf(err, errlen, "image: a directory is required (image:DIR)");
		goto fail;
	}
	if (info && info != &t->info)
		t->info = *info;        /* commits read t->info (the receiver may update it) */
	if (t->info.domain)
		snprintf(im->domain, sizeof(im->domain), "%s", t->info.domain);
	if (mkdir(im->dir, 0755) && errno != EEXIST) {
		ierr(im, "mkdir: %s", strerror(errno));
		goto fail;
	}
	im->dirfd = open(im->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (im->dirfd < 0) {
		ierr(im, "open: %s", strerror(errno));
		goto fail;
	}
	im->lockfd = openat(im->dirfd, IMG_LOCK, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (im->lockfd < 0 || flock(im->lockfd, LOCK_EX | LOCK_NB)) {
		ierr(im, "lock %s: %s (another standby uses this replica?)", IMG_LOCK, strerror(errno));
		goto fail;
	}
	if (img_recover(im->dirfd, im->dir, did, sizeof(did), err, errlen))
		goto fail;
	if (did[0])
		fprintf(stderr, "standby: image:%s: recovery: %s\n", im->dir, did);
	if (mkdirat(im->dirfd, IMG_INCOMING, 0755) ||
	    (im->infd = openat(im->dirfd, IMG_INCOMING, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		ierr(im, "create %s: %s", IMG_INCOMING, strerror(errno));
		goto fail;
	}
	im->memfd = openat(im->infd, IMG_MEMORY, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (im->memfd < 0) {
		ierr(im, "create %s/%s: %s", IMG_INCOMING, IMG_MEMORY, strerror(errno));
		goto fail;
	}
	if (mkdirat(im->infd, IMG_STATE_NEW, 0755) ||
	    (im->stagefd = openat(im->infd, IMG_STATE_NEW, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		ierr(im, "create %s/%s: %s", IMG_INCOMING, IMG_STATE_NEW, strerror(errno));
		goto fail;
	}
	t->priv = im;
	return 0;
fail:
	if (im && im->dirfd >= 0 && im->lockfd >= 0 && im->infd >= 0)
		img_rm_rf(im->dirfd, IMG_INCOMING);
	image_free(im);
	return -1;
}

/* ---- pages ---- */

/* Pages of consecutive pfns go to the memory file in one pwritev (a PAGE_DATA
 * record is mostly one run): one syscall per run instead of one per page. */
#define RUN_MAX 1024

struct page_ctx {
	struct image *im;
	uint64_t pages;
	uint64_t run_pfn;               /* first pfn of the run */
	int run_n;                      /* pages in the run; their data stays valid until flushed */
	struct iovec iov[RUN_MAX];
};

static int check_pfn(struct image *im, uint64_t pfn)
{
	if (pfn > IMG_MAX_PFN) {
		errno = EFBIG;
		return ierr(im, "pfn %#" PRIx64 " beyond the image limit %#llx", pfn, IMG_MAX_PFN);
	}
	return 0;
}

static int flush_run(struct page_ctx *pc)
{
	uint64_t at;
	int n = pc->run_n;

	pc->run_n = 0;
	if (n && img_pwritev_all(pc->im->memfd, pc->iov, (size_t)n, pc->run_pfn * SB_PAGE_SIZE, &at))
		return ierr(pc->im, "pwrite memory at offset %" PRIu64 ": %s", at, strerror(errno));
	return 0;
}

/* Before the first commit: straight into the memory file. */
static int initial_page(uint64_t pfn, unsigned type, const uint8_t *data, void *opaque)
{
	static const uint8_t zero_page[SB_PAGE_SIZE];
	struct page_ctx *pc = opaque;
	struct image *im = pc->im;
	int had;

	(void)type;
	if (check_pfn(im, pfn))
		return -1;
	had = img_present_get(im->present, pfn);
	if (data || had) {
		if (pc->run_n && (pfn != pc->run_pfn + (uint64_t)pc->run_n || pc->run_n == RUN_MAX) &&
		    flush_run(pc))
			return -1;
		if (!pc->run_n)
			pc->run_pfn = pfn;
		pc->iov[pc->run_n].iov_base = (void *)(data ? data : zero_page);
		pc->iov[pc->run_n++].iov_len = SB_PAGE_SIZE;
	}
	if (img_present_set(im->present, pfn, data != NULL) < 0)
		return ierr(im, "page map: %s", strerror(errno));
	pc->pages++;
	return 0;
}

/* ---- initial records ---- */

static int stage_state(struct image *im, enum sb_layer layer, uint32_t type,
		       const uint8_t *body, uint32_t len, int sync)
{
	char name[IMG_NAME_MAX];
	int is_static, fd;

	if (!img_state_name(layer, type, body, len, name, &is_static))
		return 0;
	if (!is_static) {
		if (img_state_list_add(&im->order, layer, type, len, name))
			return ierr(im, "state list: %s", strerror(errno));
		sb_state_hash_add(im->state_hash, layer, type, body, len);
	}
	fd = openat(im->stagefd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return ierr(im, "create %s/%s/%s: %s", IMG_INCOMING, IMG_STATE_NEW, name, strerror(errno));
	if (img_write_all(fd, body, len) || (sync && fsync(fd))) {
		int e = errno;

		close(fd);
		return ierr(im, "write %s/%s/%s: %s", IMG_INCOMING, IMG_STATE_NEW, name, strerror(e));
	}
	if (close(fd))
		return ierr(im, "close %s/%s/%s: %s", IMG_INCOMING, IMG_STATE_NEW, name, strerror(errno));
	return 0;
}

static int add_initial(struct image *im, enum sb_layer layer, uint32_t type,
		       const uint8_t *body, uint32_t len, int sync)
{
	note_type(im, layer, type);
	if (layer == SB_LAYER_LIBXC && type == SB_LIBXC_PAGE_DATA) {
		struct page_ctx *pc = calloc(1, sizeof(*pc));
		int rc;

		if (!pc)
			return ierr(im, "page runs: %s", strerror(ENOMEM));
		pc->im = im;
		rc = sb_page_data_foreach(body, len, initial_page, pc) || flush_run(pc) ? -1 : 0;
		free(pc);
		return rc;
	}
	return stage_state(im, layer, type, body, len, sync);
}

static int image_initial_record(struct sb_target *t, const struct sb_record *rec,
				char *err, size_t errlen)
{
	struct image *im = t->priv;

	im->err = err;
	im->errlen = errlen;
	if (im->committed || im->failed)
		return ierr(im, "initial record #%" PRIu64 " after the first commit or a failure", rec->index);
	if (rec->skipped)
		return 0;
	return add_initial(im, rec->layer, rec->type, rec->body, rec->length, t->info.sync);
}

/* ---- commits ---- */

static uint64_t memory_bytes(struct sb_target *t, struct image *im)
{
	uint64_t cfg = t->info.max_memkb * 1024;
	uint64_t end = img_present_end(im->present) * SB_PAGE_SIZE;

	return cfg > end ? cfg : end;
}

static void fill_manifest(struct sb_target *t, struct image *im, const struct sb_commit_info *ci,
			  struct img_manifest *m)
{
	uint8_t d[SB_DIGEST_LEN];

	memset(m, 0, sizeof(*m));
	m->committed = 1;
	m->epoch = ci->epoch;
	snprintf(m->domain, sizeof(m->domain), "%s", im->domain);
	m->domain_type = t->info.domain_type ? t->info.domain_type : im->seen_type;
	m->memory_bytes = memory_bytes(t, im);
	m->pages_present = img_present_count(im->present);
	m->epoch_pages = ci->pages;
	m->epoch_bytes = ci->bytes;
	m->total_bytes = im->total_bytes;
	m->first_record_time = ci->t_first_record;
	m->commit_time = ci->t_commit;
	sb_hash_final(im->state_hash, d);
	sb_digest_hex(d, m->state_digest);
}

static int commit_first(struct sb_target *t, struct image *im, const struct sb_epoch *ep,
			const struct sb_commit_info *ci)
{
	struct img_manifest m;
	struct stat st;
	char *text;
	size_t len;
	int sync = t->info.sync;

	if (ep) {
		struct page_ctx *pc = calloc(1, sizeof(*pc));
		int rc = 0;

		if (!pc)
			return ierr(im, "page runs: %s", strerror(ENOMEM));
		pc->im = im;
		for (size_t i = 0; i < sb_epoch_npages(ep) && !rc; i++) {
			const struct sb_epoch_page *p = sb_epoch_page(ep, i);

			rc = initial_page(p->pfn, p->type, p->data, pc);
		}
		rc = rc || flush_run(pc);
		free(pc);
		if (rc)
			return -1;
		for (size_t i = 0; i < sb_epoch_nrecs(ep); i++) {
			const struct sb_epoch_rec *r = sb_epoch_rec(ep, i);

			note_type(im, r->layer, r->type);
			if (stage_state(im, r->layer, r->type, r->body, r->length, sync))
				return -1;
		}
	}
	im->total_bytes += ci->wire_bytes;
	fill_manifest(t, im, ci, &m);
	if (fstat(im->memfd, &st))
		return ierr(im, "stat memory: %s", strerror(errno));
	if ((uint64_t)st.st_size != m.memory_bytes && ftruncate(im->memfd, (off_t)m.memory_bytes))
		return ierr(im, "set the length of memory to %" PRIu64 " bytes: %s", m.memory_bytes,
			    strerror(errno));
	if (sync && fsync(im->memfd))
		return ierr(im, "fsync memory: %s", strerror(errno));
	text = img_state_order_text(&im->order, &len);
	if (!text)
		return ierr(im, "order file: %s", strerror(ENOMEM));
	if (img_write_atomic(im->stagefd, IMG_ORDER, text, len, sync)) {
		free(text);
		return ierr(im, "write %s/%s/%s: %s", IMG_INCOMING, IMG_STATE_NEW, IMG_ORDER, strerror(errno));
	}
	free(text);
	if (sync && fsync(im->stagefd))
		return ierr(im, "fsync %s/%s: %s", IMG_INCOMING, IMG_STATE_NEW, strerror(errno));
	if (renameat(im->infd, IMG_STATE_NEW, im->infd, IMG_STATE))
		return ierr(im, "rename %s/%s to %s: %s", IMG_INCOMING, IMG_STATE_NEW, IMG_STATE,
			    strerror(errno));
	text = img_manifest_format(&m, &len);
	if (!text)
		return ierr(im, "manifest: %s", strerror(ENOMEM));
	if (img_write_atomic(im->infd, IMG_MANIFEST, text, len, sync)) {
		free(text);
		return ierr(im, "write %s/%s: %s", IMG_INCOMING, IMG_MANIFEST, strerror(errno));
	}
	free(text);
	if (sync && img_fsync_dir(im->infd))
		return ierr(im, "fsync %s: %s", IMG_INCOMING, strerror(errno));
	img_crash_point("before-switch");
	if (img_write_atomic(im->dirfd, IMG_SWITCH, "switch\n", 7, 1))
		return ierr(im, "write %s: %s", IMG_SWITCH, strerror(errno));
	if (img_switch(im->dirfd, im->dir, im->err, im->errlen))
		return -1;
	close_fd(&im->stagefd);
	close_fd(&im->infd);
	im->committed = 1;
	im->epoch = ci->epoch;
	im->last = m;
	return 0;
}

/* The pages of ep into im->commit, and the present map updated. */
static int collect_pages(struct image *im, const struct sb_epoch *ep)
{
	for (size_t i = 0; i < sb_epoch_npages(ep); i++) {
		const struct sb_epoch_page *p = sb_epoch_page(ep, i);
		int had;

		if (check_pfn(im, p->pfn))
			return -1;
		had = img_present_set(im->present, p->pfn, p->data != NULL);
		if (had < 0)
			return ierr(im, "page map: %s", strerror(errno));
		if ((p->data || had) && img_commit_add_page(&im->commit, p->pfn, p->data))
			return ierr(im, "page list: %s", strerror(errno));
	}
	return 0;
}

/* The state and static records of ep into im->commit, the order list and the state digest. */
static int collect_state(struct image *im, const struct sb_epoch *ep)
{
	img_state_list_reset(&im->order);
	for (size_t i = 0; i < sb_epoch_nrecs(ep); i++) {
		const struct sb_epoch_rec *r = sb_epoch_rec(ep, i);
		char name[IMG_NAME_MAX] = { 0 };
		int is_static;

		note_type(im, r->layer, r->type);
		if (!img_state_name(r->layer, r->type, r->body, r->length, name, &is_static))
			continue;
		if (!is_static) {
			if (img_state_list_add(&im->order, r->layer, r->type, r->length, name))
				return ierr(im, "state list: %s", strerror(errno));
			sb_state_hash_add(im->state_hash, r->layer, r->type, r->body, r->length);
		}
		if (img_commit_add_state(&im->commit, (uint64_t)r->layer << 32 | r->type, name,
					 r->body, r->length))
			return ierr(im, "state list: %s", strerror(errno));
	}
	return 0;
}

static int commit_next(struct sb_target *t, struct image *im, const struct sb_epoch *ep,
		       const struct sb_commit_info *ci)
{
	struct img_commit *c = &im->commit;
	struct img_manifest m;
	uint8_t scratch[SB_DIGEST_LEN];
	char *order = NULL, *manifest = NULL;
	size_t order_len, manifest_len;
	int rc = -1;

	if (!ep)
		return ierr(im, "commit of epoch %" PRIu64 " without its records", ci->epoch);
	if (ci->epoch != im->epoch + 1)
		return ierr(im, "commit of epoch %" PRIu64 " after epoch %" PRIu64, ci->epoch, im->epoch);
	img_commit_reset(c);
	c->epoch = ci->epoch;
	c->sync = t->info.sync;
	sb_hash_final(im->state_hash, scratch);     /* resets it: this epoch's state only */
	if (collect_pages(im, ep) || collect_state(im, ep))
		return -1;
	im->total_bytes += ci->wire_bytes;
	fill_manifest(t, im, ci, &m);
	order = img_state_order_text(&im->order, &order_len);
	manifest = img_manifest_format(&m, &manifest_len);
	if (!order || !manifest) {
		ierr(im, "order file and manifest: %s", strerror(ENOMEM));
		goto out;
	}
	c->order = order;
	c->order_len = order_len;
	c->manifest = manifest;
	c->manifest_len = manifest_len;
	c->memory_bytes = m.memory_bytes;
	if (!im->journal && !(im->journal = img_journal_open(im->dirfd, c->sync))) {
		ierr(im, "create %s: %s", IMG_JOURNAL, strerror(errno));
		goto out;
	}
	if (img_journal_write(im->journal, c)) {
		ierr(im, "write %s: %s", IMG_JOURNAL, strerror(errno));
		goto out;
	}
	img_crash_point("after-journal");
	if (img_commit_apply(im->dirfd, im->dir, im->memfd, c, im->err, im->errlen))
		goto out;
	im->epoch = ci->epoch;
	im->last = m;
	rc = 0;
out:
	img_commit_reset(c);            /* its pointers into ep and the texts go now */
	free(order);
	free(manifest);
	return rc;
}

static int image_commit(struct sb_target *t, const struct sb_epoch *ep,
			const struct sb_commit_info *ci, char *err, size_t errlen)
{
	struct image *im = t->priv;
	int rc;

	im->err = err;
	im->errlen = errlen;
	if (im->failed)
		return ierr(im, "commit of epoch %" PRIu64 " after a failed commit", ci->epoch);
	rc = im->committed ? commit_next(t, im, ep, ci) : commit_first(t, im, ep, ci);
	if (rc) {
		im->failed = 1;         /* whatever the journal holds, recovery deals with it */
		return -1;
	}
	im->commits++;
	return 0;
}

/* ---- activation, abort, status ---- */

static int image_activate(struct sb_target *t, const struct sb_failover_info *fi,
			  char *err, size_t errlen)
{
	struct image *im = t->priv;
	struct img_manifest m;
	char did[256], merr[256], *text;
	size_t len;
	int rc;

	im->err = err;
	im->errlen = errlen;
	close_fd(&im->stagefd);
	close_fd(&im->infd);
	img_journal_close(im->journal); /* recovery may remove the file; a later commit opens it anew */
	im->journal = NULL;
	if (img_recover(im->dirfd, im->dir, did, sizeof(did), err, errlen))
		return -1;
	rc = img_manifest_read(im->dirfd, &m, merr, sizeof(merr));
	if (rc < 0)
		return ierr(im, "%s", merr);
	if (rc > 0 || !m.committed)
		return ierr(im, "no committed epoch to activate");
	m.activated = 1;
	snprintf(m.activation_reason, sizeof(m.activation_reason), "%s",
		 fi && fi->reason ? fi->reason : "unknown");
	m.activation_epoch = m.epoch;
	m.activation_time = now();
	text = img_manifest_format(&m, &len);
	if (!text)
		return ierr(im, "manifest: %s", strerror(ENOMEM));
	rc = img_write_atomic(im->dirfd, IMG_MANIFEST, text, len, 1);
	free(text);
	if (rc || img_fsync_dir(im->dirfd))
		return ierr(im, "write %s: %s", IMG_MANIFEST, strerror(errno));
	im->activated = 1;
	im->last = m;
	return 0;
}

static void image_abort(struct sb_target *t)
{
	struct image *im = t->priv;
	char did[256], err[512];

	if (!im || im->committed)
		return;
	close_fd(&im->stagefd);
	close_fd(&im->infd);
	close_fd(&im->memfd);
	if (img_recover(im->dirfd, im->dir, did, sizeof(did), err, sizeof(err)))
		fprintf(stderr, "standby: %s\n", err);
}

static int image_status_json(struct sb_target *t, char *buf, size_t len)
{
	struct image *im = t->priv;
	char epoch[32] = "null";
	int n;

	if (im->committed)
		snprintf(epoch, sizeof(epoch), "%" PRIu64, im->epoch);
	n = snprintf(buf, len,
		     "{\"target\":\"image\",\"committed_epoch\":%s,\"commits\":%" PRIu64
		     ",\"pages_present\":%" PRIu64 ",\"memory_bytes\":%" PRIu64
		     ",\"total_bytes\":%" PRIu64 ",\"epoch_pages\":%" PRIu64
		     ",\"failed\":%s,\"activated\":%s}",
		     epoch, im->commits, img_present_count(im->present), memory_bytes(t, im),
		     im->total_bytes, im->last.epoch_pages, im->failed ? "true" : "false",
		     im->activated ? "true" : "false");
	return n < 0 || (size_t)n >= len ? -1 : n;
}

static void image_close(struct sb_target *t)
{
	struct image *im = t->priv;

	if (!im)
		return;
	image_abort(t);
	/* the committed epoch's journal (after activation recovery left no other) */
	if (im->committed && (!im->failed || im->activated))
		unlinkat(im->dirfd, IMG_JOURNAL, 0);
	image_free(im);
	t->priv = NULL;
}

const struct sb_target_ops sb_target_image = {
	.name = "image",
	.open = image_open,
	.initial_record = image_initial_record,
	.commit = image_commit,
	.activate = image_activate,
	.abort = image_abort,
	.status_json = image_status_json,
	.close = image_close,
};

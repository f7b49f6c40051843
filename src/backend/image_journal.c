/*
 * image_journal.c - the redo journal that makes a commit atomic, and the
 * recovery that runs before a replica is used.
 *
 * DIR/journal (little-endian):
 *   header   "SBJRNL01" | u64 epoch | u64 flags (bit 0: sync) | u64 0 (reserved)
 *   entries  u32 kind | u32 len | u64 arg | len bytes | zeros to a multiple of 8
 *   trailer  u32 IMG_J_END | u32 32 | u64 bytes before the trailer | SHA-256 of those bytes
 * A journal is complete when its size is exactly that count + 48 and the
 * hash matches.  Commit: write it whole (fsync with --sync), then apply it
 * (pages, state files via tmp + rename, stale state files removed, memory
 * cut or extended to the manifest's memory_bytes), then the manifest via tmp + rename, then unlink
 * it.  Applying twice is harmless, so recovery replays a complete journal of
 * the epoch after the manifest's and drops any other.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "backend/image.h"

#define J_MAGIC "SBJRNL01"
#define J_HDR_LEN 32
#define J_ENT_LEN 16
#define J_TRAILER_LEN (J_ENT_LEN + SB_DIGEST_LEN)
#define J_BUF (1u << 20)
#define J_MANIFEST_MAX 8192
#define J_ORDER_MAX (1u << 20)

struct img_jwriter {
	int dirfd, fd, sync;
	struct sb_hash *h;
	uint8_t *buf;
	size_t len;
	uint64_t total;
};

static int jw_flush(struct img_jwriter *w)
{
	if (w->len && img_write_all(w->fd, w->buf, w->len))
		return -1;
	w->len = 0;
	return 0;
}

static int jw_put(struct img_jwriter *w, const void *p, size_t n, int hashed)
{
	const uint8_t *c = p;

	if (hashed) {
		sb_hash_update(w->h, p, n);
		w->total += n;
	}
	while (n) {
		size_t k = J_BUF - w->len < n ? J_BUF - w->len : n;

		memcpy(w->buf + w->len, c, k);
		w->len += k;
		c += k;
		n -= k;
		if (w->len == J_BUF && jw_flush(w))
			return -1;
	}
	return 0;
}

void img_journal_discard(struct img_jwriter *w)
{
	if (!w)
		return;
	if (w->fd >= 0) {
		close(w->fd);
		unlinkat(w->dirfd, IMG_JOURNAL, 0);
	}
	sb_hash_free(w->h);
	free(w->buf);
	free(w);
}

struct img_jwriter *img_journal_begin(int dirfd, uint64_t epoch, int sync)
{
	struct img_jwriter *w = calloc(1, sizeof(*w));
	uint8_t hdr[J_HDR_LEN];

	if (!w)
		return NULL;
	w->dirfd = dirfd;
	w->sync = sync;
	w->fd = -1;
	w->h = sb_hash_new();
	w->buf = malloc(J_BUF);
	if (!w->h || !w->buf) {
		img_journal_discard(w);
		errno = ENOMEM;
		return NULL;
	}
	w->fd = openat(dirfd, IMG_JOURNAL, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		int e = errno;

		img_journal_discard(w);
		errno = e;
		return NULL;
	}
	memcpy(hdr, J_MAGIC, 8);
	sb_put_le64(hdr + 8, epoch);
	sb_put_le64(hdr + 16, sync ? 1 : 0);
	sb_put_le64(hdr + 24, 0);
	if (jw_put(w, hdr, sizeof(hdr), 1)) {
		int e = errno;

		img_journal_discard(w);
		errno = e;
		return NULL;
	}
	return w;
}

int img_journal_add(struct img_jwriter *w, enum img_jkind kind, uint64_t arg,
		    const void *a, size_t alen, const void *b, size_t blen)
{
	static const uint8_t zeros[8];
	uint8_t ent[J_ENT_LEN];
	uint64_t len = (uint64_t)alen + blen;

	if (len > UINT32_MAX) {
		errno = EFBIG;
		return -1;
	}
	sb_put_le32(ent, (uint32_t)kind);
	sb_put_le32(ent + 4, (uint32_t)len);
	sb_put_le64(ent + 8, arg);
	if (jw_put(w, ent, sizeof(ent), 1) || (alen && jw_put(w, a, alen, 1)) ||
	    (blen && jw_put(w, b, blen, 1)) ||
	    jw_put(w, zeros, (size_t)(sb_pad8(len) - len), 1))
		return -1;
	if (kind == IMG_J_MANIFEST && img_crash_armed("mid-journal")) {
		jw_flush(w);        /* a journal cut short, as by a kill */
		img_crash_point("mid-journal");
	}
	return 0;
}

int img_journal_finish(struct img_jwriter *w)
{
	uint8_t tr[J_TRAILER_LEN];
	int rc = -1, e;

	sb_put_le32(tr, IMG_J_END);
	sb_put_le32(tr + 4, SB_DIGEST_LEN);
	sb_put_le64(tr + 8, w->total);
	sb_hash_final(w->h, tr + J_ENT_LEN);
	if (jw_put(w, tr, sizeof(tr), 0) || jw_flush(w) || (w->sync && fsync(w->fd)))
		goto out;
	rc = 0;
out:
	e = errno;
	if (rc == 0) {
		rc = close(w->fd);
		e = errno;
		w->fd = -1;
	}
	img_journal_discard(w);     /* unlinks only when fd is still open (failure) */
	errno = e;
	return rc;
}

/* ---- reading ---- */

struct jhdr {
	uint64_t epoch, flags;
};

static int read_exact(FILE *f, void *p, size_t n)
{
	if (n && fread(p, 1, n, f) != n) {
		if (!ferror(f))
			errno = EIO;    /* short: the journal ends early */
		return -1;
	}
	return 0;
}

static int read_header(FILE *f, struct jhdr *h)
{
	uint8_t b[J_HDR_LEN];

	if (read_exact(f, b, sizeof(b)) || memcmp(b, J_MAGIC, 8))
		return -1;
	h->epoch = sb_get_le64(b + 8);
	h->flags = sb_get_le64(b + 16);
	return 0;
}

/* 1 complete, 0 incomplete or damaged. */
static int journal_complete(FILE *f)
{
	struct stat st;
	struct sb_hash *h;
	uint8_t *buf, tr[J_TRAILER_LEN], d[SB_DIGEST_LEN];
	uint64_t body, off = 0;
	int ok = 0;

	if (fstat(fileno(f), &st) || st.st_size < J_HDR_LEN + J_TRAILER_LEN)
		return 0;
	body = (uint64_t)st.st_size - J_TRAILER_LEN;
	h = sb_hash_new();
	buf = malloc(J_BUF);
	if (!h || !buf || fseeko(f, 0, SEEK_SET))
		goto out;
	while (off < body) {
		size_t n = body - off < J_BUF ? (size_t)(body - off) : J_BUF;

		if (read_exact(f, buf, n))
			goto out;
		sb_hash_update(h, buf, n);
		off += n;
	}
	if (read_exact(f, tr, sizeof(tr)))
		goto out;
	sb_hash_final(h, d);
	ok = sb_get_le32(tr) == IMG_J_END && sb_get_le32(tr + 4) == SB_DIGEST_LEN &&
	     sb_get_le64(tr + 8) == body && !memcmp(tr + J_ENT_LEN, d, SB_DIGEST_LEN);
out:
	free(buf);
	sb_hash_free(h);
	return ok;
}

struct apply {
	FILE *f;
	int dirfd, statefd, memfd;
	int sync;                       /* fsync each state file before its rename */
	const char *dirname;
	char *err;
	size_t errlen;
	struct img_state_list written;
	char *manifest, *order;
	size_t manifest_len, order_len;
	uint8_t *buf;
};

static int fail(struct apply *a, const char *what, const char *name)
{
	snprintf(a->err, a->errlen, "image:%s: %s%s%s: %s", a->dirname, what, name ? " " : "",
		 name ? name : "", strerror(errno));
	return -1;
}

static int copy_to_state(struct apply *a, const char *name, uint64_t n)
{
	char tmp[IMG_NAME_MAX + 8];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	fd = openat(a->statefd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return fail(a, "create state/", tmp);
	while (n) {
		size_t k = n < J_BUF ? (size_t)n : J_BUF;

		if (read_exact(a->f, a->buf, k)) {
			close(fd);
			return fail(a, "read", IMG_JOURNAL);
		}
		if (img_write_all(fd, a->buf, k)) {
			close(fd);
			return fail(a, "write state/", tmp);
		}
		n -= k;
	}
	if ((a->sync && fsync(fd)) | close(fd))
		return fail(a, "fsync and close state/", tmp);
	if (renameat(a->statefd, tmp, a->statefd, name))
		return fail(a, "rename to state/", name);
	return 0;
}

static int apply_state(struct apply *a, uint64_t arg, uint32_t len)
{
	char name[IMG_NAME_MAX + 1] = { 0 };

	if (len < IMG_NAME_MAX || read_exact(a->f, name, IMG_NAME_MAX)) {
		errno = EINVAL;
		return fail(a, "bad state entry in", IMG_JOURNAL);
	}
	if (!name[0] || name[0] == '.' || strchr(name, '/') || name[IMG_NAME_MAX - 1]) {
		errno = EINVAL;
		return fail(a, "bad state name in", IMG_JOURNAL);
	}
	{
		char listed[IMG_NAME_MAX];       /* the list may rename a repeat; the file keeps name */

		memcpy(listed, name, IMG_NAME_MAX);      /* NUL-terminated: checked above */
		if (img_state_list_add(&a->written, (enum sb_layer)(arg >> 32), (uint32_t)arg,
				       len - IMG_NAME_MAX, listed))
			return fail(a, "record", "state");
	}
	return copy_to_state(a, name, len - IMG_NAME_MAX);
}

static int apply_blob(struct apply *a, uint32_t len, size_t max, char **out, size_t *outlen)
{
	if (len > max) {
		errno = EFBIG;
		return fail(a, "entry too large in", IMG_JOURNAL);
	}
	free(*out);
	*out = malloc((size_t)len + 1);
	if (!*out)
		return fail(a, "read", IMG_JOURNAL);
	if (read_exact(a->f, *out, len))
		return fail(a, "read", IMG_JOURNAL);
	(*out)[len] = '\0';
	*outlen = len;
	return 0;
}

/* Remove state files this epoch did not write (static ones stay). */
static int remove_stale(struct apply *a)
{
	int fd = dup(a->statefd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	int rc = 0;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return fail(a, "list", "state/");
	}
	rewinddir(d);
	while ((de = readdir(d))) {
		int keep = de->d_name[0] == '.' || img_is_static_name(de->d_name);

		for (size_t i = 0; !keep && i < a->written.n; i++)
			keep = !strcmp(de->d_name, a->written.v[i].name);
		if (!keep && unlinkat(a->statefd, de->d_name, 0) && errno != ENOENT)
			rc = fail(a, "unlink state/", de->d_name);
	}
	closedir(d);
	return rc;
}

static int apply_entries(struct apply *a)
{
	static const uint8_t zero_page[SB_PAGE_SIZE];
	uint8_t ent[J_ENT_LEN];
	int first = 1;

	for (;;) {
		uint32_t kind, len;
		uint64_t arg;
		char pad[8];

		if (read_exact(a->f, ent, sizeof(ent)))
			return fail(a, "read", IMG_JOURNAL);
		kind = sb_get_le32(ent);
		len = sb_get_le32(ent + 4);
		arg = sb_get_le64(ent + 8);
		if (kind == IMG_J_END)
			break;
		switch (kind) {
		case IMG_J_PAGE:
		case IMG_J_ZERO:
			if (arg > IMG_MAX_PFN || len != (kind == IMG_J_PAGE ? SB_PAGE_SIZE : 0u)) {
				errno = EINVAL;
				return fail(a, "bad page entry in", IMG_JOURNAL);
			}
			if (kind == IMG_J_PAGE && read_exact(a->f, a->buf, SB_PAGE_SIZE))
				return fail(a, "read", IMG_JOURNAL);
			if (img_pwrite_all(a->memfd, kind == IMG_J_PAGE ? a->buf : zero_page,
					   SB_PAGE_SIZE, arg * SB_PAGE_SIZE)) {
				char at[64];

				snprintf(at, sizeof(at), "at offset %" PRIu64, arg * SB_PAGE_SIZE);
				return fail(a, "pwrite memory", at);
			}
			break;
		case IMG_J_STATE:
			if (apply_state(a, arg, len))
				return -1;
			break;
		case IMG_J_ORDER:
			if (apply_blob(a, len, J_ORDER_MAX, &a->order, &a->order_len))
				return -1;
			if (img_write_atomic(a->statefd, IMG_ORDER, a->order, a->order_len, a->sync))
				return fail(a, "write state/", IMG_ORDER);
			break;
		case IMG_J_MANIFEST:
			if (apply_blob(a, len, J_MANIFEST_MAX, &a->manifest, &a->manifest_len))
				return -1;
			break;
		default:
			errno = EINVAL;
			return fail(a, "unknown entry in", IMG_JOURNAL);
		}
		if (read_exact(a->f, pad, (size_t)(sb_pad8(len) - len)))
			return fail(a, "read", IMG_JOURNAL);
		if (first)
			img_crash_point("mid-apply");
		first = 0;
	}
	if (!a->manifest || !a->order) {
		errno = EINVAL;
		return fail(a, "no manifest or order in", IMG_JOURNAL);
	}
	return 0;
}

static int apply_finish(struct apply *a, const struct jhdr *h)
{
	struct stat st;
	struct img_manifest m;
	char perr[256];
	int sync = (int)(h->flags & 1);

	if (img_manifest_parse(a->manifest, a->manifest_len, &m, perr, sizeof(perr))) {
		snprintf(a->err, a->errlen, "image:%s: %s: manifest: %s", a->dirname, IMG_JOURNAL, perr);
		return -1;
	}
	if (fstat(a->memfd, &st))
		return fail(a, "stat", IMG_MEMORY);
	if ((uint64_t)st.st_size != m.memory_bytes && ftruncate(a->memfd, (off_t)m.memory_bytes))
		return fail(a, "set the length of", IMG_MEMORY);
	if (remove_stale(a))
		return -1;
	if (sync && (fsync(a->memfd) || fsync(a->statefd)))
		return fail(a, "fsync", "memory and state/");
	img_crash_point("before-manifest");
	if (img_write_atomic(a->dirfd, IMG_MANIFEST, a->manifest, a->manifest_len, sync))
		return fail(a, "write", IMG_MANIFEST);
	if (sync && img_fsync_dir(a->dirfd))
		return fail(a, "fsync", a->dirname);
	img_crash_point("before-unlink");
	if (unlinkat(a->dirfd, IMG_JOURNAL, 0))
		return fail(a, "unlink", IMG_JOURNAL);
	return 0;
}

int img_journal_apply(int dirfd, const char *dirname, int memfd, int trusted,
		      char *err, size_t errlen)
{
	struct apply a = { .dirfd = dirfd, .statefd = -1, .memfd = -1, .dirname = dirname,
			   .err = err, .errlen = errlen };
	struct jhdr h;
	int fd, rc = -1;

	fd = openat(dirfd, IMG_JOURNAL, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || !(a.f = fdopen(fd, "r"))) {
		if (fd >= 0)
			close(fd);
		return fail(&a, "open", IMG_JOURNAL);
	}
	a.buf = malloc(J_BUF);
	if (!a.buf) {
		errno = ENOMEM;
		fail(&a, "read", IMG_JOURNAL);
		goto out;
	}
	if (!trusted && !journal_complete(a.f)) {
		errno = EINVAL;
		fail(&a, "incomplete", IMG_JOURNAL);
		goto out;
	}
	if (fseeko(a.f, 0, SEEK_SET) || read_header(a.f, &h)) {
		fail(&a, "read header of", IMG_JOURNAL);
		goto out;
	}
	a.sync = (int)(h.flags & 1);
	a.memfd = memfd >= 0 ? memfd : openat(dirfd, IMG_MEMORY, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (a.memfd < 0) {
		fail(&a, "open", IMG_MEMORY);
		goto out;
	}
	if (mkdirat(dirfd, IMG_STATE, 0755) && errno != EEXIST) {
		fail(&a, "mkdir", IMG_STATE);
		goto out;
	}
	a.statefd = openat(dirfd, IMG_STATE, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (a.statefd < 0) {
		fail(&a, "open", IMG_STATE);
		goto out;
	}
	if (apply_entries(&a) || apply_finish(&a, &h))
		goto out;
	rc = 0;
out:
	if (a.statefd >= 0)
		close(a.statefd);
	if (a.memfd >= 0 && a.memfd != memfd)
		close(a.memfd);
	fclose(a.f);
	free(a.buf);
	free(a.manifest);
	free(a.order);
	img_state_list_free(&a.written);
	return rc;
}

/* ---- recovery ---- */

int img_switch(int dirfd, const char *dirname, char *err, size_t errlen)
{
	int in = openat(dirfd, IMG_INCOMING, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	const char *what = NULL, *name = NULL;

	if (in < 0) {
		what = "open";
		name = IMG_INCOMING;
		goto fail;
	}
	if (unlinkat(dirfd, IMG_JOURNAL, 0) && errno != ENOENT) {
		what = "unlink";
		name = IMG_JOURNAL;
		goto fail;
	}
	if (img_exists(in, IMG_MEMORY) && renameat(in, IMG_MEMORY, dirfd, IMG_MEMORY)) {
		what = "rename .incoming/memory to";
		name = IMG_MEMORY;
		goto fail;
	}
	if (img_exists(in, IMG_STATE)) {
		if (img_rm_rf(dirfd, IMG_OLD_STATE) ||
		    (img_exists(dirfd, IMG_STATE) && renameat(dirfd, IMG_STATE, dirfd, IMG_OLD_STATE))) {
			what = "move aside";
			name = IMG_STATE;
			goto fail;
		}
		img_crash_point("mid-switch");
		if (renameat(in, IMG_STATE, dirfd, IMG_STATE)) {
			what = "rename .incoming/state to";
			name = IMG_STATE;
			goto fail;
		}
	}
	if (img_exists(in, IMG_MANIFEST) && renameat(in, IMG_MANIFEST, dirfd, IMG_MANIFEST)) {
		what = "rename .incoming/manifest.json to";
		name = IMG_MANIFEST;
		goto fail;
	}
	if (img_fsync_dir(dirfd) || unlinkat(dirfd, IMG_SWITCH, 0) ||
	    img_rm_rf(dirfd, IMG_OLD_STATE) || img_rm_rf(dirfd, IMG_INCOMING)) {
		what = "finish switch:";
		name = "remove switch, .old-state, .incoming";
		goto fail;
	}
	close(in);
	return 0;
fail:
	snprintf(err, errlen, "image:%s: %s %s: %s", dirname, what, name, strerror(errno));
	if (in >= 0)
		close(in);
	return -1;
}

int img_recover(int dirfd, const char *dirname, char *did, size_t didlen, char *err, size_t errlen)
{
	struct img_manifest m;
	char merr[256];
	int mrc;

	did[0] = '\0';
	unlinkat(dirfd, IMG_SWITCH ".tmp", 0);          /* leftovers of tmp + rename */
	unlinkat(dirfd, IMG_MANIFEST ".tmp", 0);
	if (img_exists(dirfd, IMG_SWITCH)) {
		if (img_switch(dirfd, dirname, err, errlen))
			return -1;
		snprintf(did, didlen, "finished switching to a new stream's epoch 0");
	} else if (img_exists(dirfd, IMG_INCOMING)) {
		if (img_rm_rf(dirfd, IMG_INCOMING)) {
			snprintf(err, errlen, "image:%s: remove %s: %s", dirname, IMG_INCOMING,
				 strerror(errno));
			return -1;
		}
		snprintf(did, didlen, "dropped an unfinished new stream (.incoming)");
	}
	if (!img_exists(dirfd, IMG_JOURNAL))
		return 0;
	mrc = img_manifest_read(dirfd, &m, merr, sizeof(merr));
	if (mrc < 0) {
		snprintf(err, errlen, "image:%s: %s", dirname, merr);
		return -1;
	}
	{
		int fd = openat(dirfd, IMG_JOURNAL, O_RDONLY | O_CLOEXEC);
		FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
		struct jhdr h = { 0 };
		int complete = 0;

		if (!f) {
			if (fd >= 0)
				close(fd);
			snprintf(err, errlen, "image:%s: open %s: %s", dirname, IMG_JOURNAL, strerror(errno));
			return -1;
		}
		complete = journal_complete(f) && !fseeko(f, 0, SEEK_SET) && !read_header(f, &h);
		fclose(f);
		if (complete && mrc == 0 && m.committed && h.epoch == m.epoch + 1) {
			if (img_journal_apply(dirfd, dirname, -1, 0, err, errlen))
				return -1;
			snprintf(did + strlen(did), didlen - strlen(did), "%sreplayed the journal of epoch %" PRIu64,
				 did[0] ? "; " : "", h.epoch);
			return 0;
		}
		if (unlinkat(dirfd, IMG_JOURNAL, 0)) {
			snprintf(err, errlen, "image:%s: unlink %s: %s", dirname, IMG_JOURNAL, strerror(errno));
			return -1;
		}
		snprintf(did + strlen(did), didlen - strlen(did), "%sdiscarded %s journal", did[0] ? "; " : "",
			 complete ? "a stale" : "an incomplete");
	}
	return 0;
}

/*
 * image_apply.c - apply a commit of epoch N >= 1 to DIR, once its journal is
 * complete: on the live path straight from the epoch buffer, in recovery from
 * the mapped journal (the same struct img_commit either way).
 *
 * Order: pages (runs of consecutive pfns in one pwritev), state files and
 * state/order (rewritten in place), state files the commit does not have
 * removed (static ones stay), memory cut or extended to memory_bytes,
 * (fsync memory and state/), manifest.json via tmp + rename, (fsync DIR).
 * Every step can be redone, so a commit cut short anywhere is finished by
 * applying its journal again; the manifest, written last, makes it the
 * committed epoch.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "backend/image.h"

struct apply {
	const struct img_commit *c;
	int dirfd, statefd, memfd;
	const char *dirname;
	char *err;
	size_t errlen;
	int wrote_pages, wrote_state;   /* for the crash points: once per apply, not per call */
};

static int fail(struct apply *a, const char *what, const char *name)
{
	snprintf(a->err, a->errlen, "image:%s: %s%s%s: %s", a->dirname, what, name ? " " : "",
		 name ? name : "", strerror(errno));
	return -1;
}

static int write_run(struct apply *a, struct iovec *iov, size_t n, uint64_t pfn)
{
	uint64_t at;

	if (img_pwritev_all(a->memfd, iov, n, pfn * SB_PAGE_SIZE, &at)) {
		char where[64];

		snprintf(where, sizeof(where), "at offset %" PRIu64, at);
		return fail(a, "pwrite memory", where);
	}
	if (!a->wrote_pages++)
		img_crash_point("mid-apply");
	return 0;
}

/* Runs of consecutive pfns go out in one pwritev each. */
static int apply_pages(struct apply *a)
{
	static const uint8_t zero_page[SB_PAGE_SIZE];
	struct iovec iov[IMG_IOV_MAX];
	const struct img_commit *c = a->c;
	uint64_t run_pfn = 0;
	size_t n = 0;

	for (size_t i = 0; i < c->npages; i++) {
		const struct img_cpage *p = &c->pages[i];

		if (n && (p->pfn != run_pfn + n || n == IMG_IOV_MAX)) {
			if (write_run(a, iov, n, run_pfn))
				return -1;
			n = 0;
		}
		if (!n)
			run_pfn = p->pfn;
		iov[n].iov_base = (void *)(p->data ? p->data : zero_page);
		iov[n++].iov_len = SB_PAGE_SIZE;
	}
	return n ? write_run(a, iov, n, run_pfn) : 0;
}

/* A state file rewritten in place (no NAME.tmp + rename: no inode made and
 * freed per file and epoch).  A crash half way leaves it torn, but only after
 * the journal is complete: recovery writes it whole again. */
static int write_state(struct apply *a, const char *name, const void *p, size_t n)
{
	int fd = openat(a->statefd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	uint64_t at;
	struct iovec iov = { .iov_base = (void *)p, .iov_len = n };

	if (fd < 0)
		return fail(a, "open state/", name);
	if (!a->wrote_state++ && img_crash_armed("mid-state")) {  /* the first state file torn (emptied) */
		if (ftruncate(fd, 0) == 0)
			img_crash_point("mid-state");
	}
	if ((n && img_pwritev_all(fd, &iov, 1, 0, &at)) || ftruncate(fd, (off_t)n) ||
	    (a->c->sync && fdatasync(fd))) {
		int e = errno;

		close(fd);
		errno = e;
		return fail(a, "write state/", name);
	}
	if (close(fd))
		return fail(a, "close state/", name);
	return 0;
}

static int apply_states(struct apply *a)
{
	const struct img_commit *c = a->c;

	for (size_t i = 0; i < c->nstates; i++) {
		const struct img_cstate *s = &c->states[i];

		if (!s->name[0] || s->name[0] == '.' || strchr(s->name, '/')) {
			errno = EINVAL;
			return fail(a, "bad state file name", s->name);
		}
		if (write_state(a, s->name, s->body, s->length))
			return -1;
	}
	return write_state(a, IMG_ORDER, c->order, c->order_len);
}

/* Remove state files this commit did not write (static ones stay). */
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

		for (size_t i = 0; !keep && i < a->c->nstates; i++)
			keep = !strcmp(de->d_name, a->c->states[i].name);
		if (!keep && unlinkat(a->statefd, de->d_name, 0) && errno != ENOENT)
			rc = fail(a, "unlink state/", de->d_name);
	}
	closedir(d);
	return rc;
}

static int apply_finish(struct apply *a)
{
	const struct img_commit *c = a->c;
	struct stat st;

	if (fstat(a->memfd, &st))
		return fail(a, "stat", IMG_MEMORY);
	if ((uint64_t)st.st_size != c->memory_bytes && ftruncate(a->memfd, (off_t)c->memory_bytes))
		return fail(a, "set the length of", IMG_MEMORY);
	if (remove_stale(a))
		return -1;
	if (c->sync && (fsync(a->memfd) || fsync(a->statefd)))
		return fail(a, "fsync", "memory and state/");
	img_crash_point("before-manifest");
	if (img_write_atomic(a->dirfd, IMG_MANIFEST, c->manifest, c->manifest_len, c->sync))
		return fail(a, "write", IMG_MANIFEST);
	if (c->sync && img_fsync_dir(a->dirfd))
		return fail(a, "fsync", a->dirname);
	img_crash_point("after-manifest");
	return 0;
}

int img_commit_apply(int dirfd, const char *dirname, int memfd, const struct img_commit *c,
		     char *err, size_t errlen)
{
	struct apply a = { .c = c, .dirfd = dirfd, .statefd = -1, .memfd = memfd, .dirname = dirname,
			   .err = err, .errlen = errlen };
	int rc = -1;

	if (!c->order || !c->manifest) {
		errno = EINVAL;
		return fail(&a, "commit without state order or manifest", NULL);
	}
	if (a.memfd < 0)
		a.memfd = openat(dirfd, IMG_MEMORY, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (a.memfd < 0)
		return fail(&a, "open", IMG_MEMORY);
	a.statefd = openat(dirfd, IMG_STATE, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (a.statefd < 0 && errno == ENOENT && !(mkdirat(dirfd, IMG_STATE, 0755) && errno != EEXIST))
		a.statefd = openat(dirfd, IMG_STATE, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (a.statefd < 0) {
		fail(&a, "open", IMG_STATE);
		goto out;
	}
	if (apply_pages(&a) || apply_states(&a) || apply_finish(&a))
		goto out;
	rc = 0;
out:
	if (a.statefd >= 0)
		close(a.statefd);
	if (a.memfd != memfd)
		close(a.memfd);
	return rc;
}

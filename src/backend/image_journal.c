/*
 * image_journal.c - DIR/journal, the redo journal that makes a commit of
 * epoch N >= 1 atomic: written whole (trailer last) before anything in DIR
 * changes, so recovery can redo a commit that was cut short.
 *
 * Layout (little-endian; docs/image-format.md):
 *   header   "SBJRNL02" | u64 epoch | u64 flags (bit 0: sync) | u64 npages |
 *            u64 pages_off | u64 meta_off | u64 end | u64 0           (64 bytes)
 *   table    npages x u64: pfn, bit 63 set when the page becomes zeros (no data)
 *   zeros    to pages_off, the next multiple of 4096
 *   pages    4096 bytes for each table entry without bit 63, in table order
 *   entries  at meta_off: u32 kind | u32 len | u64 arg | len bytes | zeros to a multiple of 8
 *   trailer  at end: "SBJEND02" | u64 epoch | u64 end | XXH3-128 of bytes [0, end)
 *            (canonical, big-endian)                                  (40 bytes)
 *
 * The file is kept open and overwritten in place by each commit (no tmpfs
 * pages freed and allocated again per epoch); bytes past end + 40 are left
 * from longer journals before and mean nothing.  It is complete when the
 * trailer at the header's end names the header's epoch and end and its hash
 * matches: a journal cut short anywhere keeps the previous epoch's trailer
 * (another epoch) or none where the header says, and a torn one (blocks of
 * two journals, after a power loss) fails the hash.
 *
 * Writing: one iovec per page, straight from the epoch buffer (no copy in
 * user space), IOV_MAX per pwritev, hashed on the way.  Reading (recovery
 * only): the file is mapped and checked, and the commit points into the
 * mapping.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define XXH_INLINE_ALL                  /* no link-time dependency: every link line of the tree works */
#include <xxhash.h>
#include "backend/image.h"

#define J_MAGIC "SBJRNL02"
#define J_END_MAGIC "SBJEND02"
#define J_HDR_LEN 64
#define J_ENT_LEN 16
#define J_TRAILER_LEN 40
#define J_ZERO_BIT (1ull << 63)
enum {                                  /* entry kinds (1 and 2, pages, were journal version 1's) */
	J_STATE = 3,                    /* arg layer << 32 | type; a NUL-padded name[48], then the body */
	J_ORDER = 4,                    /* the new state/order */
	J_MANIFEST = 5,                 /* the new manifest.json */
};
#define J_SHRINK_SLACK (8ull << 20)     /* cut the file when this much longer than needed, and 2x */

struct img_journal {
	int dirfd, fd;
	uint64_t size;                  /* of the file */
	XXH3_state_t *xs;
	uint8_t *head, *meta;           /* header + table + padding; entry headers */
	size_t head_cap, meta_cap;
	struct iovec *iov;
	size_t iov_cap;
};

static const uint8_t zeros[SB_PAGE_SIZE];

static uint64_t round_up(uint64_t v, uint64_t to)
{
	return (v + to - 1) / to * to;
}

static int reserve(void **p, size_t *cap, size_t need)
{
	void *n;

	if (need <= *cap)
		return 0;
	n = realloc(*p, need);
	if (!n) {
		errno = ENOMEM;
		return -1;
	}
	*p = n;
	*cap = need;
	return 0;
}

void img_journal_close(struct img_journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	XXH3_freeState(j->xs);
	free(j->head);
	free(j->meta);
	free(j->iov);
	free(j);
}

struct img_journal *img_journal_open(int dirfd, int sync)
{
	struct img_journal *j = calloc(1, sizeof(*j));
	struct stat st;
	int created = 1, e;

	if (!j || !(j->xs = XXH3_createState())) {
		img_journal_close(j);
		errno = ENOMEM;
		return NULL;
	}
	j->dirfd = dirfd;
	j->fd = openat(dirfd, IMG_JOURNAL, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (j->fd < 0 && errno == EEXIST) {
		created = 0;
		j->fd = openat(dirfd, IMG_JOURNAL, O_WRONLY | O_CLOEXEC);
	}
	if (j->fd < 0 || fstat(j->fd, &st) || (created && sync && img_fsync_dir(dirfd)))
		goto fail;
	j->size = (uint64_t)st.st_size;
	return j;
fail:
	e = errno;
	img_journal_close(j);
	errno = e;
	return NULL;
}

/* The iovecs of c's journal, all but the trailer; *npage_iov: how many of them
 * are the header and the pages.  Sizes in *end. */
static int build(struct img_journal *j, const struct img_commit *c, size_t *niov,
		 size_t *npage_iov, uint64_t *end)
{
	uint64_t pages_off = round_up(J_HDR_LEN + 8 * (uint64_t)c->npages, SB_PAGE_SIZE);
	uint64_t off, ndata = 0;
	size_t n = 0, m = 0;
	uint8_t *h;

	for (size_t i = 0; i < c->npages; i++) {
		if (c->pages[i].pfn > IMG_MAX_PFN) {
			errno = EINVAL;
			return -1;
		}
		ndata += c->pages[i].data != NULL;
	}
	if (reserve((void **)&j->head, &j->head_cap, (size_t)pages_off) ||
	    reserve((void **)&j->meta, &j->meta_cap, (c->nstates + 2) * (J_ENT_LEN + IMG_NAME_MAX)) ||
	    reserve((void **)&j->iov, &j->iov_cap,
		    (2 + ndata + 3 * (c->nstates + 2)) * sizeof(struct iovec)))
		return -1;
	h = j->head;
	for (size_t i = 0; i < c->npages; i++)
		sb_put_le64(h + J_HDR_LEN + 8 * i, c->pages[i].pfn | (c->pages[i].data ? 0 : J_ZERO_BIT));
	memset(h + J_HDR_LEN + 8 * c->npages, 0, (size_t)pages_off - J_HDR_LEN - 8 * c->npages);
	j->iov[n].iov_base = h;
	j->iov[n++].iov_len = (size_t)pages_off;
	for (size_t i = 0; i < c->npages; i++) {
		if (c->pages[i].data) {
			j->iov[n].iov_base = (void *)c->pages[i].data;
			j->iov[n++].iov_len = SB_PAGE_SIZE;
		}
	}
	*npage_iov = n;
	off = pages_off + ndata * SB_PAGE_SIZE;
	for (size_t i = 0; i < c->nstates + 2; i++) {
		const struct img_cstate *s = i < c->nstates ? &c->states[i] : NULL;
		uint32_t kind = s ? J_STATE : i == c->nstates ? J_ORDER : J_MANIFEST;
		size_t hl = s ? J_ENT_LEN + IMG_NAME_MAX : J_ENT_LEN;
		const void *body = s ? (const void *)s->body : i == c->nstates ? c->order : c->manifest;
		uint64_t blen = s ? s->length : i == c->nstates ? c->order_len : c->manifest_len;
		uint64_t len = hl - J_ENT_LEN + blen;

		if (len > UINT32_MAX) {
			errno = EFBIG;
			return -1;
		}
		sb_put_le32(j->meta + m, kind);
		sb_put_le32(j->meta + m + 4, (uint32_t)len);
		sb_put_le64(j->meta + m + 8, s ? s->arg : 0);
		if (s) {
			memset(j->meta + m + J_ENT_LEN, 0, IMG_NAME_MAX);
			memcpy(j->meta + m + J_ENT_LEN, s->name, strnlen(s->name, IMG_NAME_MAX - 1));
		}
		j->iov[n].iov_base = j->meta + m;
		j->iov[n++].iov_len = hl;
		m += hl;
		if (blen) {
			j->iov[n].iov_base = (void *)body;
			j->iov[n++].iov_len = (size_t)blen;
		}
		if (sb_pad8(len) != len) {
			j->iov[n].iov_base = (void *)zeros;
			j->iov[n++].iov_len = (size_t)(sb_pad8(len) - len);
		}
		off += J_ENT_LEN + sb_pad8(len);
	}
	memcpy(h, J_MAGIC, 8);
	sb_put_le64(h + 8, c->epoch);
	sb_put_le64(h + 16, c->sync ? 1 : 0);
	sb_put_le64(h + 24, c->npages);
	sb_put_le64(h + 32, pages_off);
	sb_put_le64(h + 40, pages_off + ndata * SB_PAGE_SIZE);
	sb_put_le64(h + 48, off);
	sb_put_le64(h + 56, 0);
	*niov = n;
	*end = off;
	return 0;
}

int img_journal_write(struct img_journal *j, const struct img_commit *c)
{
	uint8_t tr[J_TRAILER_LEN];
	XXH128_canonical_t sum;
	size_t niov, npage_iov;
	uint64_t end, at;

	if (build(j, c, &niov, &npage_iov, &end))
		return -1;
	XXH3_128bits_reset(j->xs);
	for (size_t i = 0; i < niov; i++)
		XXH3_128bits_update(j->xs, j->iov[i].iov_base, j->iov[i].iov_len);
	XXH128_canonicalFromHash(&sum, XXH3_128bits_digest(j->xs));
	memcpy(tr, J_END_MAGIC, 8);
	sb_put_le64(tr + 8, c->epoch);
	sb_put_le64(tr + 16, end);
	memcpy(tr + 24, sum.digest, 16);
	j->iov[niov].iov_base = tr;
	j->iov[niov++].iov_len = sizeof(tr);

	/* a file left much longer by a big epoch is cut back (the old journal is applied) */
	if (j->size > 2 * (end + J_TRAILER_LEN) && j->size - (end + J_TRAILER_LEN) > J_SHRINK_SLACK) {
		if (ftruncate(j->fd, (off_t)(end + J_TRAILER_LEN)))
			return -1;
		j->size = end + J_TRAILER_LEN;
	}
	if (img_crash_armed("mid-journal")) {   /* the pages, nothing after them: as by a kill */
		img_pwritev_all(j->fd, j->iov, npage_iov, 0, &at);
		img_crash_point("mid-journal");
	}
	if (img_crash_armed("before-trailer")) {
		img_pwritev_all(j->fd, j->iov, niov - 1, 0, &at);
		img_crash_point("before-trailer");
	}
	if (img_pwritev_all(j->fd, j->iov, niov, 0, &at) || (c->sync && fdatasync(j->fd)))
		return -1;
	if (end + J_TRAILER_LEN > j->size)
		j->size = end + J_TRAILER_LEN;
	return 0;
}

/* ---- reading (recovery) ---- */

void img_journal_release(struct img_jread *r)
{
	if (r->map)
		munmap(r->map, r->maplen);
	r->map = NULL;
	img_commit_free(&r->c);
}

/* Parse a journal whose hash matched.  0, or -1 when its structure is wrong. */
static int parse(struct img_jread *r, const uint8_t *p, uint64_t npages, uint64_t pages_off,
		 uint64_t meta_off, uint64_t end)
{
	uint64_t data = pages_off, off = meta_off;
	struct img_manifest m;
	char perr[256];

	if (npages > (pages_off - J_HDR_LEN) / 8)
		return -1;
	for (uint64_t i = 0; i < npages; i++) {
		uint64_t e = sb_get_le64(p + J_HDR_LEN + 8 * i), pfn = e & ~J_ZERO_BIT;

		if (pfn > IMG_MAX_PFN || (!(e & J_ZERO_BIT) && data + SB_PAGE_SIZE > meta_off))
			return -1;
		if (img_commit_add_page(&r->c, pfn, e & J_ZERO_BIT ? NULL : p + data))
			return -1;
		if (!(e & J_ZERO_BIT))
			data += SB_PAGE_SIZE;
	}
	if (data != meta_off)
		return -1;
	while (off < end) {
		uint32_t kind, len;
		uint64_t arg;
		const uint8_t *b;

		if (end - off < J_ENT_LEN)
			return -1;
		kind = sb_get_le32(p + off);
		len = sb_get_le32(p + off + 4);
		arg = sb_get_le64(p + off + 8);
		b = p + off + J_ENT_LEN;
		if (end - off - J_ENT_LEN < sb_pad8(len))
			return -1;
		switch (kind) {
		case J_STATE: {
			char name[IMG_NAME_MAX];

			if (len < IMG_NAME_MAX)
				return -1;
			memcpy(name, b, IMG_NAME_MAX);
			if (!name[0] || name[0] == '.' || memchr(name, '/', IMG_NAME_MAX) ||
			    name[IMG_NAME_MAX - 1] ||
			    img_commit_add_state(&r->c, arg, name, len > IMG_NAME_MAX ? b + IMG_NAME_MAX : NULL,
						 len - IMG_NAME_MAX))
				return -1;
			break;
		}
		case J_ORDER:
			r->c.order = (const char *)b;
			r->c.order_len = len;
			break;
		case J_MANIFEST:
			r->c.manifest = (const char *)b;
			r->c.manifest_len = len;
			break;
		default:
			return -1;
		}
		off += J_ENT_LEN + sb_pad8(len);
	}
	if (off != end || !r->c.order || !r->c.manifest ||
	    img_manifest_parse(r->c.manifest, r->c.manifest_len, &m, perr, sizeof(perr)) || !m.committed ||
	    m.epoch != r->epoch)
		return -1;
	r->c.memory_bytes = m.memory_bytes;
	return 0;
}

static int check(struct img_jread *r, int fd, const uint8_t *h, uint64_t size)
{
	uint64_t npages = sb_get_le64(h + 24), pages_off = sb_get_le64(h + 32);
	uint64_t meta_off = sb_get_le64(h + 40), end = sb_get_le64(h + 48);
	XXH128_canonical_t sum;
	const uint8_t *p, *tr;

	r->c.sync = (int)(sb_get_le64(h + 16) & 1);
	r->c.epoch = r->epoch;
	if (pages_off % SB_PAGE_SIZE || pages_off < J_HDR_LEN || meta_off < pages_off ||
	    end < meta_off || end > size || size - end < J_TRAILER_LEN)
		return 0;
	r->maplen = (size_t)(end + J_TRAILER_LEN);
	r->map = mmap(NULL, r->maplen, PROT_READ, MAP_SHARED, fd, 0);
	if (r->map == MAP_FAILED) {
		r->map = NULL;
		return -1;
	}
	p = r->map;
	tr = p + end;
	XXH128_canonicalFromHash(&sum, XXH3_128bits(p, (size_t)end));
	if (memcmp(tr, J_END_MAGIC, 8) || sb_get_le64(tr + 8) != r->epoch || sb_get_le64(tr + 16) != end ||
	    memcmp(tr + 24, sum.digest, 16))
		return 0;
	if (parse(r, p, npages, pages_off, meta_off, end)) {
		img_commit_reset(&r->c);
		return 0;
	}
	r->status = IMG_JS_COMPLETE;
	return 0;
}

int img_journal_read(int dirfd, int full, struct img_jread *r)
{
	uint8_t h[J_HDR_LEN];
	struct stat st;
	ssize_t n;
	int fd, rc = 0, e;

	memset(r, 0, sizeof(*r));
	r->status = IMG_JS_ABSENT;
	fd = openat(dirfd, IMG_JOURNAL, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	r->status = IMG_JS_INCOMPLETE;
	if (fstat(fd, &st)) {
		rc = -1;
		goto out;
	}
	n = pread(fd, h, sizeof(h), 0);
	if (n < 0) {
		rc = -1;
		goto out;
	}
	if (n < (ssize_t)sizeof(h) || memcmp(h, J_MAGIC, 8))
		goto out;
	r->have_epoch = 1;
	r->epoch = sb_get_le64(h + 8);
	if (full)
		rc = check(r, fd, h, (uint64_t)st.st_size);
out:
	e = errno;
	close(fd);
	errno = e;
	return rc;
}

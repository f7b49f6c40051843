/*
 * image.h - internals of the image target (docs/image-format.md).
 *
 *   image.c           the target ops: open, initial records, commits, activation
 *   image_commit.c    struct img_commit: one epoch's pages and state files
 *   image_journal.c   the redo journal of a commit: write, check, parse
 *   image_apply.c     apply a commit to DIR (from memory, or from the journal)
 *   image_recover.c   recovery before a replica is used; the switch to a new stream
 *   image_manifest.c  manifest.json: format, parse, atomic write
 *   image_state.c     state record names and the state order file
 *   image_present.c   which pfns hold data (two-level bitmap)
 *   image_fs.c        small *at() file helpers
 */
#ifndef STANDBY_BACKEND_IMAGE_H
#define STANDBY_BACKEND_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include "standby/digest.h"
#include "standby/format.h"

#define IMG_MEMORY      "memory"
#define IMG_STATE       "state"
#define IMG_STATE_NEW   "state.new"
#define IMG_OLD_STATE   ".old-state"
#define IMG_MANIFEST    "manifest.json"
#define IMG_JOURNAL     "journal"
#define IMG_INCOMING    ".incoming"
#define IMG_SWITCH      "switch"
#define IMG_LOCK        ".lock"
#define IMG_ORDER       "order"         /* in state/: the digest order */
#define IMG_FORMAT      "standby-image/1"
#define IMG_MAX_PFN     ((1ull << 40) - 1)
#define IMG_IOV_MAX     1024            /* iovecs per pwritev (Linux UIO_MAXIOV) */

/* ---- image_fs.c ---- */
/* Write a whole file as name.tmp, (fsync), rename over name. 0 or -1 (errno). */
int img_write_atomic(int dirfd, const char *name, const void *data, size_t len, int sync);
int img_write_all(int fd, const void *p, size_t n);
int img_pwrite_all(int fd, const void *p, size_t n, uint64_t off);
/* pwritev() all of iov[0..n) at off, IOV_MAX at a time, resuming short writes
 * (iov is modified).  0, or -1 with errno and *at = the offset that failed. */
int img_pwritev_all(int fd, struct iovec *iov, size_t n, uint64_t off, uint64_t *at);
/* Remove name under dirfd, recursively; absent is fine.  0 or -1 (errno). */
int img_rm_rf(int dirfd, const char *name);
int img_exists(int dirfd, const char *name);
int img_fsync_dir(int dirfd);
/* Test hook: _exit(137) when STANDBY_IMAGE_CRASH_AT names this point. */
void img_crash_point(const char *point);
int img_crash_armed(const char *point);

/* ---- image_present.c ---- */
struct img_present;
struct img_present *img_present_new(void);
void img_present_free(struct img_present *p);
/* Set or clear pfn (<= IMG_MAX_PFN); returns the previous bit, or -1 (ENOMEM). */
int img_present_set(struct img_present *p, uint64_t pfn, int on);
int img_present_get(const struct img_present *p, uint64_t pfn);
uint64_t img_present_count(const struct img_present *p);
uint64_t img_present_end(struct img_present *p);   /* highest pfn set + 1; 0 when none */

/* ---- image_state.c ---- */
#define IMG_NAME_MAX 48
/* Name of the state file for a record, or 0 when the image does not keep
 * the record.  *is_static: one of the static records (kept from epoch 0). */
int img_state_name(enum sb_layer layer, uint32_t type, const uint8_t *body, uint32_t len,
		   char name[IMG_NAME_MAX], int *is_static);
int img_is_static_name(const char *name);

struct img_state_rec {
	enum sb_layer layer;
	uint32_t type, length;
	char name[IMG_NAME_MAX];
};
struct img_state_list {
	struct img_state_rec *v;
	size_t n, cap;
};
void img_state_list_reset(struct img_state_list *l);
void img_state_list_free(struct img_state_list *l);
/* Append; makes the name unique within the list (name.2, name.3, ...), updating name. */
int img_state_list_add(struct img_state_list *l, enum sb_layer layer, uint32_t type,
		       uint32_t length, char name[IMG_NAME_MAX]);
/* The order file text (one "layer type length name" line per record). malloc'd. */
char *img_state_order_text(const struct img_state_list *l, size_t *len);
int img_state_order_parse(const char *text, size_t len, struct img_state_list *l);
/* Recompute the state digest of a state directory from its order file. */
int img_state_digest(int statefd, uint8_t out[SB_DIGEST_LEN], char *err, size_t errlen);

/* ---- image_manifest.c ---- */
struct img_manifest {
	int committed;                  /* committed_epoch is a number */
	uint64_t epoch;
	char domain[256];               /* "" = null */
	uint32_t domain_type;           /* 0 = null */
	uint64_t memory_bytes, pages_present, epoch_pages, epoch_bytes, total_bytes;
	double first_record_time, commit_time;
	char memory_digest[SB_DIGEST_HEX_LEN];  /* "" = absent */
	char state_digest[SB_DIGEST_HEX_LEN];
	int activated;
	char activation_reason[64];
	uint64_t activation_epoch;
	double activation_time;
};
/* JSON text, malloc'd, NUL-terminated. */
char *img_manifest_format(const struct img_manifest *m, size_t *len);
/* 0 ok, 1 absent, -1 unreadable/invalid (err filled). */
int img_manifest_read(int dirfd, struct img_manifest *m, char *err, size_t errlen);
int img_manifest_parse(const char *text, size_t len, struct img_manifest *m, char *err, size_t errlen);

/* ---- a commit of epoch N >= 1: what its journal holds, what applying it does ---- */
struct img_cpage {
	uint64_t pfn;
	const uint8_t *data;            /* 4096 bytes, or NULL: the page becomes zeros */
};
struct img_cstate {                     /* a record kept as a file in state/ */
	uint64_t arg;                   /* layer << 32 | type */
	uint32_t length;
	char name[IMG_NAME_MAX];        /* NUL-terminated, unique within the commit */
	const uint8_t *body;
};
struct img_commit {
	uint64_t epoch;
	int sync;                       /* fsync as it goes (--sync) */
	struct img_cpage *pages;        /* in the order they are written */
	size_t npages, pages_cap;
	struct img_cstate *states;
	size_t nstates, states_cap;
	const char *order, *manifest;   /* the new state/order and manifest.json */
	size_t order_len, manifest_len;
	uint64_t memory_bytes;          /* the manifest's: the length memory gets */
};
/* Append (growing the arrays). 0 or -1 (ENOMEM). */
int img_commit_add_page(struct img_commit *c, uint64_t pfn, const uint8_t *data);
int img_commit_add_state(struct img_commit *c, uint64_t arg, const char name[IMG_NAME_MAX],
			 const uint8_t *body, uint32_t length);
void img_commit_reset(struct img_commit *c);   /* empty, keeping the arrays */
void img_commit_free(struct img_commit *c);

/* ---- image_journal.c: DIR/journal (format in docs/image-format.md) ---- */
/* The journal file, kept open and overwritten in place by each commit. */
struct img_journal;
/* Open (create) DIR/journal for writing.  NULL on error (errno). */
struct img_journal *img_journal_open(int dirfd, int sync);
/* Write c as the complete journal (header, pages, state, order, manifest,
 * trailer last), fdatasync when c->sync.  0 or -1 (errno). */
int img_journal_write(struct img_journal *j, const struct img_commit *c);
void img_journal_close(struct img_journal *j);

/* What DIR/journal holds. */
enum img_jstatus {
	IMG_JS_ABSENT,
	IMG_JS_INCOMPLETE,              /* torn, cut short, damaged or not this format */
	IMG_JS_COMPLETE,
};
struct img_jread {
	enum img_jstatus status;
	int have_epoch;                 /* the header could be read: epoch is its epoch */
	uint64_t epoch;
	struct img_commit c;            /* when complete: points into the mapping */
	void *map;
	size_t maplen;
};
/* Read DIR/journal's header; with full, check and parse all of it (c filled
 * when complete).  0 (see r->status) or -1 on an I/O error (errno). */
int img_journal_read(int dirfd, int full, struct img_jread *r);
void img_journal_release(struct img_jread *r);

/* ---- image_apply.c ---- */
/* Apply a commit to DIR: pages into memfd (DIR/memory open read-write, or -1
 * to open it), state files (NAME.tmp + rename), state/order, state files the
 * commit does not have removed (static ones stay), memory cut or extended to
 * memory_bytes, (fsync), then manifest.json (tmp + rename): the last step.
 * Redoable: applying twice gives the same DIR.  0 or -1 (err filled). */
int img_commit_apply(int dirfd, const char *dirname, int memfd, const struct img_commit *c,
		     char *err, size_t errlen);

/* ---- image_recover.c ---- */
/* Bring DIR to exactly one committed epoch (or none): finish an interrupted
 * switch from .incoming, drop an unfinished .incoming, replay a complete
 * journal of the next epoch, drop any other journal.  *did says what was done
 * (a short text, "" when nothing).  0 or -1 (err filled). */
int img_recover(int dirfd, const char *dirname, char *did, size_t didlen, char *err, size_t errlen);
/* Move .incoming into place (the first commit of a stream); idempotent. */
int img_switch(int dirfd, const char *dirname, char *err, size_t errlen);

#endif

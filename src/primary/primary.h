/*
 * primary.h - the simulated primary (`standby primary`): shared definitions.
 *
 * The pieces, one file each:
 *   guest.c   the simulated guest: page content, page types, dirty sets, state blobs
 *   sink.c    the transport (file, stdout, unix, tcp, exec) with byte counting
 *             and the abrupt close used by crashes
 *   acks.c    standby's per-epoch acks on the back channel, round-trip times
 *   emit.c    the stream: records in the order Xen 4.17 senders write them
 *   faults.c  names of fault points and corruptions; when a fault fires
 *   expect.c  the expectations file (memory and state digests per epoch)
 *   xlframe.c xl's banner, save header, JSON config and ready/GO/report
 *   colo.c    the COLO back channel (SVM_READY/RESUMED/SUSPENDED, dirty pfns)
 *   run.c     the epoch loop tying them together, and the summary
 */
#ifndef STANDBY_PRIMARY_H
#define STANDBY_PRIMARY_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>
#include "standby/digest.h"
#include "standby/format.h"
#include "standby/writer.h"

enum pr_mode { PR_PLAIN, PR_REMUS, PR_COLO };
enum pr_pattern { PR_RANDOM, PR_HOT, PR_SEQUENTIAL };

/* Points of an epoch where a crash or a stall may be placed, in stream order. */
enum pr_point {
	PR_PT_NONE = 0,
	PR_PT_START,                    /* before the epoch's first byte (stall only) */
	PR_PT_MID_PAGES,                /* half-way through the epoch's first PAGE_DATA */
	PR_PT_BEFORE_CHECKPOINT,        /* all libxc records but CHECKPOINT (plain: libxc END) */
	PR_PT_AFTER_CHECKPOINT,         /* right after CHECKPOINT (plain: libxc END) */
	PR_PT_MID_EMULATOR,             /* half-way through EMULATOR_CONTEXT (HVM) */
	PR_PT_BEFORE_CHECKPOINT_END,    /* everything but CHECKPOINT_END (plain: libxl END) */
};

enum pr_corrupt {
	PR_CORRUPT_NONE = 0,
	PR_CORRUPT_BAD_LENGTH,          /* PAGE_DATA length 8 more than its content (8 extra bytes sent) */
	PR_CORRUPT_BAD_PFN_TYPE,        /* first PAGE_DATA entry gets type 5 */
	PR_CORRUPT_BAD_PFN,             /* first PAGE_DATA entry gets a reserved pfn bit (52) */
	PR_CORRUPT_ZERO_COUNT,          /* an extra PAGE_DATA with count 0 */
	PR_CORRUPT_UNKNOWN_RECORD,      /* libxc mandatory type 0x7f before the end-of-checkpoint records */
	PR_CORRUPT_UNKNOWN_LIBXL,       /* libxl type 0x7f before CHECKPOINT_END (plain: END) */
	PR_CORRUPT_BAD_PADDING,         /* non-zero padding after EMULATOR_XENSTORE_DATA (HVM) */
	PR_CORRUPT_BIG_ENDIAN_HEADER,   /* libxl header with the big-endian option bit (epoch 0) */
	PR_CORRUPT_SHORT_CKPT_STATE,    /* CHECKPOINT_STATE(NEW) with length 0 (COLO, epoch >= 1) */
};

struct pr_config {
	/* guest */
	uint64_t memory;                /* bytes, multiple of 4096 */
	uint32_t dom_type;              /* SB_DOM_PV / SB_DOM_HVM */
	uint64_t seed;
	uint32_t vcpus;
	uint64_t dirty_pages;           /* pages per epoch (resolved from a percentage) */
	enum pr_pattern pattern;
	/* stream */
	enum pr_mode mode;
	uint64_t epochs;                /* checkpoints to write (epochs 0..N-1); 0 = forever */
	int xl;
	const char *name;
	const char *to;                 /* FILE, "-", unix:PATH, tcp:HOST:PORT; NULL with exec */
	const char *exec_cmd;
	uint32_t interval_ms;
	/* faults */
	uint64_t crash_after_bytes;     /* UINT64_MAX: none */
	uint64_t crash_epoch;
	enum pr_point crash_at;
	uint32_t stall_ms;
	uint64_t stall_epoch;
	enum pr_point stall_at;
	enum pr_corrupt corrupt;
	uint64_t corrupt_epoch;
	int crash_exit_code;            /* exit status after an intended crash (default 0) */
	/* reports */
	const char *expect_path;
	int no_acks;
	uint32_t ack_timeout_ms;
	uint32_t wait_ms;               /* xl banner/handshake and COLO back channel waits */
	int json;
	int quiet;
};

/* Return values shared by the writing functions: 0 = go on, PR_CRASHED = an
 * intended crash happened (stop, not an error), -1 = failure (message printed). */
#define PR_CRASHED 1

double pr_now(void);                    /* monotonic seconds */
extern volatile int pr_interrupted;     /* SIGINT/SIGTERM seen */

/* ---- guest.c ---- */
struct pr_guest {
	uint64_t seed;
	uint32_t type;
	uint32_t vcpus;
	uint64_t pages;
	uint64_t dirty_n;
	enum pr_pattern pattern;
	uint32_t *written;              /* per pfn: the epoch that last wrote it */
	uint8_t *mark;                  /* per pfn: 1 = dirtied by the guest, 2 = asked by the SVM */
};

int pr_guest_init(struct pr_guest *g, const struct pr_config *cfg);
void pr_guest_free(struct pr_guest *g);
void pr_guest_page(const struct pr_guest *g, uint64_t pfn, uint8_t *out);   /* 4096 bytes */
unsigned pr_guest_ptype(const struct pr_guest *g, uint64_t pfn);
void pr_guest_dirty_all(struct pr_guest *g);                 /* the initial pass */
void pr_guest_dirty_epoch(struct pr_guest *g, uint64_t epoch); /* the pattern's pages, written in epoch */
void pr_guest_mark_resend(struct pr_guest *g, uint64_t pfn);   /* COLO: resend, content unchanged */
/* Collect the marked pfns in ascending order into out (room for g->pages), clear the marks. */
uint64_t pr_guest_take_dirty(struct pr_guest *g, uint64_t *out);
/* Deterministic bytes for state blobs: a function of (seed, kind, epoch). */
void pr_guest_fill(const struct pr_guest *g, uint32_t kind, uint64_t epoch, uint8_t *out, size_t len);
uint64_t pr_mix(uint64_t a, uint64_t b);

/* ---- acks.c ---- */
struct pr_acks {
	int fd;                         /* back channel, -1 when none */
	int active;
	int eof;
	int bad;                        /* unexpected bytes: stopped reading */
	uint8_t part[16];
	size_t partlen;
	double *sent_at;                /* per epoch: when CHECKPOINT_END (plain: END) was written */
	double *rtt;                    /* per epoch, seconds; < 0 = no ack yet */
	uint64_t nsent, cap;
	uint64_t nacked, unexpected;
};
void pr_acks_init(struct pr_acks *a, int fd, int active);
void pr_acks_free(struct pr_acks *a);
int pr_acks_sent(struct pr_acks *a, uint64_t epoch, double t);
void pr_acks_read(struct pr_acks *a);                   /* whatever is available now */
void pr_acks_wait(struct pr_acks *a, double until);     /* read until `until` or all acked */
void pr_acks_sleep(struct pr_acks *a, double until);    /* sleep until `until`, reading acks */
struct pr_ack_stats { uint64_t count; double p50, p90, p99, max; };
void pr_acks_stats(const struct pr_acks *a, struct pr_ack_stats *st);

/* ---- sink.c ---- */
enum pr_sink_kind { PR_SINK_FILE, PR_SINK_STDOUT, PR_SINK_SOCKET, PR_SINK_EXEC };
struct pr_sink {
	enum pr_sink_kind kind;
	char name[256];
	int fd;                         /* stream out */
	int back_fd;                    /* back channel in, -1 when none */
	pid_t child;
	uint64_t written;               /* bytes of the stream written */
	uint64_t crash_after;           /* UINT64_MAX: none */
	int crashed;
	struct pr_acks *acks;           /* read during writes when active */
};
int pr_sink_open(struct pr_sink *s, const struct pr_config *cfg);
int pr_sink_write(struct pr_sink *s, const void *p, size_t n);  /* 0, PR_CRASHED, -1 */
void pr_sink_crash(struct pr_sink *s);          /* abrupt close (RST for sockets) */
int pr_sink_close(struct pr_sink *s, uint32_t wait_ms);  /* orderly; waits for an exec child */
/* Read exactly n bytes from the back channel within timeout_ms: 0, or -1 (message in err). */
int pr_sink_read_back(struct pr_sink *s, void *p, size_t n, uint32_t timeout_ms,
		      char *err, size_t errlen);

/* ---- faults.c ---- */
const char *pr_point_name(enum pr_point p);
enum pr_point pr_point_parse(const char *s);    /* PR_PT_NONE when unknown */
const char *pr_corrupt_name(enum pr_corrupt c);
enum pr_corrupt pr_corrupt_parse(const char *s);
const char *pr_corrupt_list(void);

/* ---- expect.c ---- */
struct pr_expect {
	FILE *f;
	struct sb_hash *mem;
	uint8_t *page;
};
int pr_expect_open(struct pr_expect *x, const char *path, const struct pr_config *cfg);
/* Write the line of a complete epoch; idle() is called between chunks of hashing. */
int pr_expect_epoch(struct pr_expect *x, const struct pr_guest *g, uint64_t epoch,
		    const uint8_t state[SB_DIGEST_LEN], void (*idle)(void *), void *opaque);
int pr_expect_close(struct pr_expect *x, int have_complete, uint64_t last_complete);

/* ---- emit.c ---- */
struct pr_emit {
	const struct pr_config *cfg;
	struct pr_guest *g;
	struct pr_sink *sink;
	struct sb_buf buf;
	struct sb_hash *state;
	uint64_t epoch;
	uint64_t *pfns;                 /* room for g->pages */
	uint64_t pages_total;
	uint64_t page_recs_in_epoch;
	uint64_t epoch_pages;
	int crash_fired, stall_fired, corrupt_fired;
	char crash_desc[160];           /* what the crash cut */
};
int pr_emit_init(struct pr_emit *e, const struct pr_config *cfg, struct pr_guest *g,
		 struct pr_sink *s);
void pr_emit_free(struct pr_emit *e);
int pr_emit_start(struct pr_emit *e);           /* libxl header .. STATIC_DATA_END [.. P2M] */
int pr_emit_epoch_start(struct pr_emit *e, uint64_t epoch);
int pr_emit_checkpoint_state(struct pr_emit *e, uint32_t id);
int pr_emit_pages(struct pr_emit *e);           /* the marked pfns of the guest */
int pr_emit_end_of_checkpoint(struct pr_emit *e);  /* TSC.., then CHECKPOINT or libxc END */
int pr_emit_libxl_tail(struct pr_emit *e);      /* emulator records, CHECKPOINT_END or END */
void pr_emit_state_digest(struct pr_emit *e, uint8_t out[SB_DIGEST_LEN]);

/* ---- xlframe.c ---- */
int pr_xl_wait_banner(struct pr_sink *s, uint32_t timeout_ms);
int pr_xl_send_header(struct pr_sink *s, const struct pr_config *cfg);
/* Plain migration: ready / GO / report.  Fills result (printed by the caller). */
int pr_xl_handshake(struct pr_sink *s, uint32_t timeout_ms, char *result, size_t len);

/* ---- colo.c ---- */
struct pr_colo;
struct pr_colo *pr_colo_new(struct pr_sink *s, uint64_t max_pfn, uint32_t timeout_ms);
void pr_colo_free(struct pr_colo *c);
int pr_colo_expect_state(struct pr_colo *c, uint32_t id);
/* Read the CHECKPOINT_DIRTY_PFN_LIST; marks its pfns for resending; *count gets its length. */
int pr_colo_read_dirty(struct pr_colo *c, struct pr_guest *g, uint64_t *count);

/* ---- run.c ---- */
int pr_run(const struct pr_config *cfg);

#endif

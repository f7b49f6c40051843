/*
 * internal.h - the stream object shared by the files of src/recv/.
 */
#ifndef STANDBY_RECV_INTERNAL_H
#define STANDBY_RECV_INTERNAL_H

#include <stdio.h>
#include <ev.h>
#include "standby/recv.h"
#include "standby/backend.h"
#include "standby/epoch.h"
#include "standby/parser.h"
#include "standby/writer.h"

#define SB_HOOKS_MAX 4
#define SB_PENDING_MAX (1u << 20)   /* libxl records held until the target opens */

/* Non-blocking write queue of the back channel (io.c). */
struct sb_outq {
	int fd;                 /* -1: no back channel, everything is discarded */
	struct sb_buf buf;      /* bytes not yet written, from off */
	size_t off;
	int broken;             /* write error: peer gone; later output is discarded */
	ev_io w;
	struct sb_rstream *s;
};

struct sb_pending_rec {     /* a record that arrived before the target was opened */
	enum sb_layer layer;
	uint32_t type, length;
	uint64_t offset, index;
	size_t at;              /* body offset in pending_bytes */
};

struct sb_rstream {
	struct sb_recv_config cfg;
	struct sb_rstream_owner owner;
	char name[96];
	char conn_id[64];
	char domain[128];       /* sanitized domain name, or conn id */
	char *config_json;      /* preamble, kept for the target */
	char *guest_type;
	uint64_t max_memkb;
	uint32_t max_vcpus;

	struct sb_parser *parser;
	struct sb_epoch *epoch;
	struct sb_target target;
	int target_open;
	char *target_arg;

	enum sb_rphase phase;
	int has_committed;
	uint64_t committed;     /* last committed epoch */
	uint64_t epoch_no;      /* epoch being received */
	double t_epoch_first;
	double t_fed;           /* CLOCK_MONOTONIC when the bytes being parsed arrived (read returned) */
	double t_end_parsed;    /* CLOCK_MONOTONIC when the parser handed out CHECKPOINT_END (plain: END) */
	uint64_t epoch_pages;   /* PAGE_DATA entries of the epoch being received */   /* CLOCK_REALTIME of the first record of the epoch */
	uint64_t bytes_in, records;
	uint64_t acks_sent, acks_dropped;
	char last_error[640];
	const char *end_reason; /* set when the stream has ended */
	int finished, reaped, drained;

	/* set by parser callbacks, acted on once feed returns */
	const char *own_reason; /* our own failure inside a callback ("target error", ...) */
	int stop_until;         /* --until-epoch reached */
	int saw_end;            /* final END */

	/* records before the target opens (LIBXC_CONTEXT) */
	struct sb_pending_rec pend[8];
	unsigned npend;
	struct sb_buf pend_bytes;

	/* xl plain handshake */
	uint8_t go[SB_XL_GO_LEN];
	size_t go_len;

	/* I/O (io.c) */
	int in_fd;
	int in_flags_saved, out_flags_saved;
	ev_io rw;
	ev_timer hb;
	ev_timer linger;        /* bounded wait for the out queue to drain at the end */
	struct sb_outq out;
	int record_fd;

	/* fence (fence.c) */
	ev_child fence_w;
	pid_t fence_pid;
	const char *fence_reason;

	/* network output buffering (netout.c) */
	struct sb_netbuf *nb;
	int nb_tried;           /* sb_netout_open ran (once per stream) */
	int nb_begun;           /* sb_netbuf_epoch_begin called for nb_epoch */
	uint64_t nb_epoch;

	sb_commit_hook hooks[SB_HOOKS_MAX];
	void *hook_opaque[SB_HOOKS_MAX];
	unsigned nhooks;

	struct sb_rstream *next, *prev;
};

/* logging */
void sb_rlog(struct sb_rstream *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
double sb_now_real(void);
double sb_now_mono(void);

/* io.c */
void sb_io_init(struct sb_rstream *s, int in_fd, int out_fd);
void sb_io_start(struct sb_rstream *s);
void sb_io_heartbeat_arm(struct sb_rstream *s);     /* (re)start if enabled and committed */
void sb_io_heartbeat_stop(struct sb_rstream *s);
void sb_io_stop_reading(struct sb_rstream *s);
int sb_out_write(struct sb_rstream *s, const void *p, size_t n, int droppable);
void sb_io_finish(struct sb_rstream *s);            /* drain the out queue (bounded), then reap */
void sb_io_release(struct sb_rstream *s);

/* xlproto.c */
void sb_xl_banner(struct sb_rstream *s);
void sb_xl_ready(struct sb_rstream *s);
/* bytes after END in plain xl mode; returns 1 when GO is complete and matched, -1 on mismatch, 0 need more */
int sb_xl_go_bytes(struct sb_rstream *s, const uint8_t *buf, size_t len);
void sb_xl_report(struct sb_rstream *s, int status);
void sb_colo_after_commit(struct sb_rstream *s);
void sb_colo_on_new(struct sb_rstream *s);
void sb_native_ack(struct sb_rstream *s, uint64_t epoch);

/* fence.c: 0 = started (verdict later via sb_rstream_fence_done), 1 = no fence, -1 = could not run */
int sb_fence_start(struct sb_rstream *s, const char *reason);
void sb_fence_cancel(struct sb_rstream *s);

/* target.c: 0, or -1 after failing the parser (s->own_reason set) */
void sb_rt_pick_domain(struct sb_rstream *s, const char *name);
int sb_rt_ensure(struct sb_rstream *s, uint32_t domain_type);  /* open once, replay held records */
int sb_rt_record(struct sb_rstream *s, const struct sb_record *rec);
int sb_rt_hold(struct sb_rstream *s, const struct sb_record *rec);
void sb_rt_close(struct sb_rstream *s);

/* netout.c: network output buffering of the stream (docs/netbuf.md) */
int sb_netout_open(struct sb_rstream *s, char *err, size_t errlen); /* 0, or -1 with err */
void sb_netout_record(struct sb_rstream *s);        /* a record of epoch s->epoch_no */
void sb_netout_activated(struct sb_rstream *s);     /* the VM now runs here */
void sb_netout_close(struct sb_rstream *s);         /* every end path; idempotent */
size_t sb_netout_status_json(struct sb_rstream *s, char *buf, size_t len); /* "null" if none */

/* stream.c */
size_t sb_rstream_direct_room(struct sb_rstream *s, uint8_t **where);
void sb_rstream_fed_in_place(struct sb_rstream *s, const uint8_t *where, size_t n);
void sb_rstream_fence_done(struct sb_rstream *s, int ok, const char *what);
void sb_rstream_heartbeat_expired(struct sb_rstream *s);

#endif

/*
 * recv.h - the receiving engine: one state machine per incoming stream.
 *
 * A stream object owns a push parser, an epoch buffer and a target.  Bytes
 * are pushed in with sb_rstream_feed() (by the libev read watcher of
 * io.c, or synchronously by `standby replay`), the end of input with
 * sb_rstream_eof().  The engine commits epochs to the target, writes the back
 * channel (native acks, xl handshake or COLO records) through a non-blocking
 * write queue, and on primary loss runs the fence hook and activates the last
 * committed epoch.  See src/recv/stream.c for the event chains.
 *
 * Everything runs on libev's default loop (ev_child needs it).
 */
#ifndef STANDBY_RECV_H
#define STANDBY_RECV_H

#include <stddef.h>
#include <stdint.h>
#include "standby/parser.h"

struct ev_loop;

#define SB_RECV_MAX_EPOCH_DEFAULT (1ULL << 30)  /* --max-epoch-bytes */
#define SB_RECV_HEARTBEAT_DEFAULT 1000u         /* --heartbeat-ms, as the legacy Xen receiver */
#define SB_RECV_HEARTBEAT_COLO 10000u           /* COLO checkpoints on demand, at least every 5 s */

/* How the back channel speaks. */
enum sb_backchan {
	SB_BACK_NATIVE = 0,     /* 16-byte acks of docs/protocol.md */
	SB_BACK_XL_REMUS,       /* banner, then nothing (xl migrate-receive -r) */
	SB_BACK_XL_PLAIN,       /* banner, ready / GO / report (xl migrate-receive) */
	SB_BACK_COLO,           /* COLO back channel (SVM_* + dirty pfn list); banner too with --xl */
	SB_BACK_NONE,           /* nothing at all (replay) */
};

struct sb_recv_config {
	const char *target;             /* "image:DIR", "null", ... */
	int target_per_domain;          /* target arg is a root: a subdirectory per domain */
	enum sb_stream_kind kind;
	enum sb_mode mode;
	enum sb_backchan back;
	int xl_banner;                  /* write the 54-byte banner first (--xl) */
	uint64_t max_epoch_bytes;
	unsigned heartbeat_ms;          /* 0 = off */
	unsigned initial_timeout_ms;    /* silence before the first commit ends the stream; 0 = off */
	const char *fence_cmd;          /* NULL = none */
	int activate_on_signal;
	int verbose;
	int sync;
	uint64_t until_epoch;           /* with has_until: stop after committing it */
	int has_until;
	const uint64_t *colo_dirty_pfns; /* --colo-dirty-pfns */
	uint32_t colo_dirty_count;
	size_t ack_queue_max;           /* bytes of unsent acks kept before dropping; 0 = 4096 */
	/* network output buffering (docs/netbuf.md, src/recv/netout.c) */
	const char *const *netbuf_ifaces; /* receive --netbuf: plugs of the one stream */
	size_t netbuf_n;
	const char *const *netbuf_map;  /* serve --netbuf-map: "NAME=IFACE" entries */
	size_t netbuf_nmap;
	uint64_t netbuf_limit;          /* --netbuf-limit bytes; 0 = SB_NETBUF_DEFAULT_LIMIT */
	int netbuf_drop;                /* --netbuf-failover drop (default release) */
};

enum sb_rphase {
	SB_RP_INITIAL = 0,      /* before the first CHECKPOINT_END: records go to the target */
	SB_RP_BUFFERING,        /* epoch N held in the epoch buffer until its CHECKPOINT_END */
	SB_RP_WAIT_GO,          /* plain xl migration: ready sent, waiting for GO */
	SB_RP_FENCING,          /* the fence hook runs; activation waits for its verdict */
	SB_RP_ACTIVATED,        /* the target was activated */
	SB_RP_STOPPED,          /* ended without activation (signal, fence refusal, GO missing) */
	SB_RP_FAILED,           /* died before its first commit: restore failed, target aborted */
};
const char *sb_rphase_name(enum sb_rphase ph);

struct sb_rstream;

/* The owner (receive, serve, replay) is told when a stream has finished and
 * may be freed, and may refuse a domain name (serve: one live stream per domain). */
struct sb_rstream_owner {
	void (*done)(struct sb_rstream *s, void *opaque);
	int (*claim_domain)(struct sb_rstream *s, const char *domain, void *opaque); /* 0 = ok */
	void *opaque;
};

/* in_fd / out_fd: -1 when there is none (replay feeds by hand, has no back channel).
 * Both are made non-blocking.  name: "stdin", "unix:3", a file path. */
struct sb_rstream *sb_rstream_new(const struct sb_recv_config *cfg, const char *name,
				  const char *conn_id, int in_fd, int out_fd,
				  const struct sb_rstream_owner *owner);
void sb_rstream_free(struct sb_rstream *s);

/* Start the watchers (read, heartbeat) and write the banner if asked. */
void sb_rstream_start(struct sb_rstream *s);

/* Engine inputs (the read watcher uses these; replay calls them directly). */
void sb_rstream_feed(struct sb_rstream *s, const uint8_t *buf, size_t len);
void sb_rstream_eof(struct sb_rstream *s);
void sb_rstream_read_error(struct sb_rstream *s, int err);
/* Stop on a signal: discard the partial epoch, close the target, no
 * activation unless cfg->activate_on_signal. */
void sb_rstream_stop(struct sb_rstream *s, const char *why);
/* Tell the owner (owner.done) when the stream has finished and its back
 * channel is drained.  Call only from top-level callbacks: the owner may free s. */
void sb_rstream_reap(struct sb_rstream *s);
/* Keep a copy of every byte received in this file (--record). */
int sb_rstream_record_to(struct sb_rstream *s, const char *path);

/* Network output release point: called after each commit, before the ack. */
typedef void (*sb_commit_hook)(struct sb_rstream *s, uint64_t epoch, void *opaque);
int sb_rstream_on_commit(struct sb_rstream *s, sb_commit_hook fn, void *opaque);

/* State. */
int sb_rstream_finished(const struct sb_rstream *s);   /* nothing more will happen */
enum sb_rphase sb_rstream_phase(const struct sb_rstream *s);
const char *sb_rstream_name(const struct sb_rstream *s);
const char *sb_rstream_domain(const struct sb_rstream *s);
int sb_rstream_has_committed(const struct sb_rstream *s);
uint64_t sb_rstream_committed(const struct sb_rstream *s);
uint64_t sb_rstream_acks_dropped(const struct sb_rstream *s);
/* 0 = activated (failover or completed migration), 1 = otherwise */
int sb_rstream_exit_status(const struct sb_rstream *s);
/* Append this stream's status as one JSON object; returns bytes written (truncates safely). */
size_t sb_rstream_status_json(struct sb_rstream *s, char *buf, size_t len);

/* Every live stream of the process, for the status server and signals. */
struct sb_rstream *sb_rstream_first(void);
struct sb_rstream *sb_rstream_next(struct sb_rstream *s);

/* Status server (--status-socket PATH): one JSON document per connection. */
int sb_status_listen(struct ev_loop *loop, const char *path, char *err, size_t errlen);
void sb_status_close(void);

/* Helpers for the commands. */
int sb_parse_size(const char *s, uint64_t *out);        /* "64M", "1G", "4096" */
int sb_parse_pfn_list(const char *s, uint64_t **pfns, uint32_t *count); /* "1,2,0x10-0x1f" */
void sb_sanitize_name(const char *in, char *out, size_t outlen);

#endif

/*
 * stream.c - the per-stream state machine of the receiver.
 *
 * Phases (enum sb_rphase):
 *   INITIAL    before the first CHECKPOINT_END; every record goes straight to
 *              the target (ops->initial_record): guest memory is never held twice.
 *   BUFFERING  epoch N's records are held in the epoch buffer until its
 *              CHECKPOINT_END, then applied as one unit (ops->commit).
 *   WAIT_GO    plain xl migration complete: "ready" sent, waiting for GO.
 *   FENCING    primary lost; the fence hook runs, activation waits for it.
 *   ACTIVATED / STOPPED / FAILED   terminal.
 *
 * Event chains (-> = then, in this order):
 *
 *   start:       sb_rstream_start -> [--netbuf: plugs taken (netout.c); cannot -> FAILED]
 *                  -> [xl banner] -> read watcher on (io.c)
 *   bytes:       read_cb (io.c) -> heartbeat restarted -> sb_rstream_feed
 *                  -> [--record copy] -> sb_parser_feed -> on_event* -> after the feed:
 *                     error? -> stream_fail; END? -> on_final_end; --until? -> failover
 *   preamble:    on_event(PREAMBLE) -> keep the domain name and config
 *                  -> [--netbuf-map: the domain's plugs taken; cannot -> stream error]
 *   target:      on_event(LIBXC_HEADER, or any first record/epoch) -> sb_rt_ensure
 *                  (target.c) -> owner claims the domain -> ops->open -> held records
 *   any record:  on_event(RECORD) -> [--netbuf-map, no preamble: plugs taken]
 *                  -> first record of epoch n? seal the output so far (netout.c)
 *   initial:     on_event(RECORD) in INITIAL -> ops->initial_record
 *   first ckpt:  on_event(EPOCH_END 0) -> commit_epoch(NULL) -> on_commit hooks
 *                  (release network output) -> ack -> BUFFERING, heartbeat armed
 *   epoch N:     on_event(RECORD) in BUFFERING -> sb_epoch_add (bounded by
 *                  --max-epoch-bytes; over it -> stream error)
 *   checkpoint:  on_event(EPOCH_END N) -> commit_epoch(ep) -> on_commit hooks
 *                  -> ack (native: 16-byte ack; COLO: SVM_READY, SVM_RESUMED)
 *                  -> epoch buffer reset -> [--until-epoch N: pause -> failover]
 *   colo new:    on_event(RECORD CHECKPOINT_STATE NEW) -> SVM_SUSPENDED + dirty pfn list
 *   plain end:   on_event(END) in INITIAL -> on_final_end -> commit epoch 0 ->
 *                  native: ack 0 -> activate -> finish
 *                  xl:     ready -> WAIT_GO -> GO bytes (leftovers of the feed first)
 *                          -> activate -> report + status -> finish
 *                          (GO missing or wrong -> report 0xFF + GO back -> STOPPED)
 *   failure:     eof | read error | parse error | heartbeat | target error |
 *                initial timeout (silence before the first commit) |
 *                epoch buffer full | END after checkpoints -> stream_fail:
 *                  committed?  -> failover: partial epoch discarded -> fence_start
 *                                 -> (no fence, or fence exit 0) activate -> [held
 *                                    output released or dropped (--netbuf-failover),
 *                                    then passed through] -> finish
 *                                 -> (fence exit != 0, or fence cannot run) STOPPED -> finish
 *                  no commit   -> FAILED: ops->abort (restore failed, as Xen) -> finish
 *   signal:      sb_rstream_stop -> fence killed -> partial epoch discarded ->
 *                  target closed without activation (or failover with --activate-on-signal)
 *   finish:      reading stops -> plugs closed (what they hold is not released)
 *                  -> target closed -> back channel drained (bounded)
 *                  -> owner told (sb_rstream_reap, only from top-level callbacks)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "recv/internal.h"
#include "standby/records.h"

static struct sb_rstream *all_streams;

static void stream_fail(struct sb_rstream *s, const char *reason, const char *detail);
static void finish(struct sb_rstream *s);
static int on_event(const struct sb_event *ev, void *opaque);
static uint8_t *body_memory(const struct sb_record *rec, uint32_t need, void *opaque);

/* ---- small helpers ---- */

double sb_now_real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

double sb_now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void sb_rlog(struct sb_rstream *s, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "standby: stream %s (%s): %s\n", s->name,
		s->domain[0] ? s->domain : "?", msg);
}

const char *sb_rphase_name(enum sb_rphase ph)
{
	static const char *const names[] = {
		[SB_RP_INITIAL] = "initial", [SB_RP_BUFFERING] = "buffering",
		[SB_RP_WAIT_GO] = "wait-go", [SB_RP_FENCING] = "fencing",
		[SB_RP_ACTIVATED] = "activated", [SB_RP_STOPPED] = "stopped",
		[SB_RP_FAILED] = "failed",
	};
	return (unsigned)ph < sizeof(names) / sizeof(names[0]) ? names[ph] : "?";
}

static int terminal(const struct sb_rstream *s)
{
	return s->phase >= SB_RP_ACTIVATED;
}

/* Parser messages start with the stream name; the log line names it already. */
static const char *strip_name(const struct sb_rstream *s, const char *msg)
{
	size_t n = strlen(s->name);

	if (!strncmp(msg, s->name, n) && msg[n] == ':' && msg[n + 1] == ' ')
		return msg + n + 2;
	return msg;
}

static void set_error(struct sb_rstream *s, const char *reason, const char *detail)
{
	snprintf(s->last_error, sizeof(s->last_error), "%s: %s", reason, detail);
}

/* ---- lifecycle ---- */

struct sb_rstream *sb_rstream_new(const struct sb_recv_config *cfg, const char *name,
				  const char *conn_id, int in_fd, int out_fd,
				  const struct sb_rstream_owner *owner)
{
	struct sb_rstream *s = calloc(1, sizeof(*s));
	struct sb_parser_config pc = { 0 };

	if (!s)
		return NULL;
	s->cfg = *cfg;
	if (owner)
		s->owner = *owner;
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->conn_id, sizeof(s->conn_id), "%s", conn_id ? conn_id : name);
	s->record_fd = -1;
	s->fence_pid = -1;
	sb_buf_init(&s->pend_bytes);

	pc.name = s->name;
	pc.kind = cfg->kind;
	pc.mode = cfg->mode;
	pc.cb = on_event;
	pc.body_cb = body_memory;
	pc.opaque = s;
	s->parser = sb_parser_new(&pc);
	s->epoch = sb_epoch_new(cfg->max_epoch_bytes ? cfg->max_epoch_bytes
				: SB_RECV_MAX_EPOCH_DEFAULT);
	if (!s->parser || !s->epoch) {
		sb_parser_free(s->parser);
		sb_epoch_free(s->epoch);
		free(s);
		return NULL;
	}
	sb_epoch_reset(s->epoch, 0);
	sb_io_init(s, in_fd, out_fd);

	s->next = all_streams;
	if (all_streams)
		all_streams->prev = s;
	all_streams = s;
	return s;
}

void sb_rstream_free(struct sb_rstream *s)
{
	if (!s)
		return;
	sb_fence_cancel(s);
	sb_netout_close(s);
	sb_rt_close(s);
	sb_io_release(s);
	if (s->record_fd >= 0)
		close(s->record_fd);
	sb_parser_free(s->parser);
	sb_epoch_free(s->epoch);
	sb_buf_free(&s->pend_bytes);
	free(s->config_json);
	free(s->guest_type);
	free(s->target_arg);
	if (s->prev)
		s->prev->next = s->next;
	else if (all_streams == s)
		all_streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	free(s);
}

struct sb_rstream *sb_rstream_first(void) { return all_streams; }
struct sb_rstream *sb_rstream_next(struct sb_rstream *s) { return s->next; }

void sb_rstream_start(struct sb_rstream *s)
{
	char err[512] = "";

	if (s->cfg.netbuf_n && sb_netout_open(s, err, sizeof(err))) {
		stream_fail(s, "netbuf", err);
		return;
	}
	if (s->cfg.xl_banner)
		sb_xl_banner(s);
	sb_io_start(s);
}

int sb_rstream_record_to(struct sb_rstream *s, const char *path)
{
	s->record_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	return s->record_fd < 0 ? -1 : 0;
}

int sb_rstream_on_commit(struct sb_rstream *s, sb_commit_hook fn, void *opaque)
{
	if (s->nhooks >= SB_HOOKS_MAX)
		return -1;
	s->hooks[s->nhooks] = fn;
	s->hook_opaque[s->nhooks++] = opaque;
	return 0;
}

/* ---- commits ---- */

static int commit_epoch(struct sb_rstream *s, const struct sb_epoch *ep, uint64_t number,
			uint64_t pages, uint64_t wire_bytes)
{
	struct sb_commit_info ci = { 0 };
	char err[512] = "";
	double t0, t1;

	ci.epoch = number;
	ci.pages = pages;
	ci.bytes = ep ? sb_epoch_bytes(ep) : 0;
	ci.wire_bytes = wire_bytes;
	ci.t_first_record = s->t_epoch_first ? s->t_epoch_first : sb_now_real();
	ci.t_commit = sb_now_real();
	t0 = sb_now_mono();
	if (s->target.ops->commit(&s->target, ep, &ci, err, sizeof(err))) {
		s->own_reason = "target error";
		sb_parser_fail(s->parser, SB_ERR_ABORTED, "commit of epoch %llu failed: %s",
			       (unsigned long long)number, err);
		return -1;
	}
	t1 = sb_now_mono();
	s->has_committed = 1;
	s->committed = number;
	/* Output buffered for this epoch may leave now (network hook point). */
	for (unsigned i = 0; i < s->nhooks; i++)
		s->hooks[i](s, number, s->hook_opaque[i]);
	if (s->cfg.back == SB_BACK_NATIVE)
		sb_native_ack(s, number);
	else if (s->cfg.back == SB_BACK_COLO)
		sb_colo_after_commit(s);
	/* latencies to the ack written: from the read that brought CHECKPOINT_END's
	 * last byte, and from the parser handing CHECKPOINT_END out */
	if (s->cfg.verbose) {
		double t2 = sb_now_mono();

		sb_rlog(s, "epoch %llu committed: %llu pages, %llu bytes, buffered %.3f s, commit %.3f s, "
			"read_to_ack_us %.1f, end_to_ack_us %.1f",
			(unsigned long long)number, (unsigned long long)pages,
			(unsigned long long)wire_bytes, ci.t_commit - ci.t_first_record, t1 - t0,
			(t2 - s->t_fed) * 1e6, (t2 - s->t_end_parsed) * 1e6);
	}
	s->t_epoch_first = 0;
	s->epoch_pages = 0;
	sb_io_heartbeat_arm(s);
	return 0;
}

/* ---- parser events ---- */

static void keep_preamble(struct sb_rstream *s, const struct sb_event *ev)
{
	free(s->config_json);
	free(s->guest_type);
	s->config_json = ev->u.preamble.json ? strdup(ev->u.preamble.json) : NULL;
	s->guest_type = ev->u.preamble.guest_type ? strdup(ev->u.preamble.guest_type) : NULL;
	s->max_memkb = ev->u.preamble.max_memkb;
	s->max_vcpus = ev->u.preamble.max_vcpus;
	sb_rt_pick_domain(s, ev->u.preamble.name);
}

/* serve --netbuf-map: the stream's plugs, once its domain is known. */
static int netout_open(struct sb_rstream *s)
{
	char err[512] = "";

	if (s->nb_tried || !sb_netout_open(s, err, sizeof(err)))
		return 0;
	s->own_reason = "netbuf";
	sb_parser_fail(s->parser, SB_ERR_ABORTED, "%s", err);
	return -1;
}

/* Control records carry no state of their own: they are not held. */
static int is_control(const struct sb_record *r)
{
	uint32_t t = r->type & ~SB_REC_OPTIONAL;

	if (r->layer == SB_LAYER_LIBXC)
		return t == SB_LIBXC_CHECKPOINT || t == SB_LIBXC_END;
	return t == SB_LIBXL_CHECKPOINT_END || t == SB_LIBXL_CHECKPOINT_STATE ||
	       t == SB_LIBXL_END || t == SB_LIBXL_LIBXC_CONTEXT;
}

static int on_record(struct sb_rstream *s, const struct sb_record *rec)
{
	s->records++;
	if (netout_open(s))
		return SB_CB_ABORT;
	sb_netout_record(s);            /* the first record of an epoch seals its output */
	if (rec->layer == SB_LAYER_LIBXC && rec->type == SB_LIBXC_PAGE_DATA)
		s->epoch_pages += rec->page_count;
	if (!s->t_epoch_first)
		s->t_epoch_first = sb_now_real();
	if (s->phase == SB_RP_INITIAL) {
		if (!s->target_open) {
			if (rec->layer != SB_LAYER_LIBXC)
				return sb_rt_hold(s, rec) ? SB_CB_ABORT : SB_CB_CONTINUE;
			if (sb_rt_ensure(s, 0))
				return SB_CB_ABORT;
		}
		return sb_rt_record(s, rec) ? SB_CB_ABORT : SB_CB_CONTINUE;
	}
	if (rec->layer == SB_LAYER_LIBXL && rec->type == SB_LIBXL_CHECKPOINT_STATE &&
	    rec->length >= SB_CHECKPOINT_STATE_LEN &&
	    sb_decode_checkpoint_state(rec->body) == SB_CKPT_NEW) {
		if (s->cfg.back == SB_BACK_COLO)
			sb_colo_on_new(s);
		return SB_CB_CONTINUE;
	}
	if (is_control(rec))
		return SB_CB_CONTINUE;
	if (sb_epoch_add(s->epoch, rec->layer, rec->type, rec->body, rec->length)) {
		s->own_reason = errno == ENOBUFS ? "epoch buffer full" : "out of memory";
		sb_parser_fail(s->parser, errno == ENOBUFS ? SB_ERR_TOO_LONG : SB_ERR_NOMEM,
			       "epoch %llu exceeds --max-epoch-bytes %llu (held %llu bytes)",
			       (unsigned long long)s->epoch_no,
			       (unsigned long long)s->cfg.max_epoch_bytes,
			       (unsigned long long)sb_epoch_bytes(s->epoch));
		return SB_CB_ABORT;
	}
	return SB_CB_CONTINUE;
}

static int on_epoch_end(struct sb_rstream *s, const struct sb_event *ev)
{
	uint64_t n = ev->u.epoch.number;

	s->t_end_parsed = sb_now_mono();
	if (sb_rt_ensure(s, 0))
		return SB_CB_ABORT;
	if (commit_epoch(s, s->phase == SB_RP_INITIAL ? NULL : s->epoch, n,
			 ev->u.epoch.pages, ev->u.epoch.bytes))
		return SB_CB_ABORT;
	if (s->phase == SB_RP_INITIAL)
		sb_parser_trim(s->parser);      /* held page bodies go to the epoch buffer now */
	s->phase = SB_RP_BUFFERING;
	s->epoch_no = n + 1;
	sb_epoch_reset(s->epoch, n + 1);
	if (s->cfg.has_until && n >= s->cfg.until_epoch) {
		s->stop_until = 1;
		return SB_CB_PAUSE;
	}
	return SB_CB_CONTINUE;
}

/* Parser asks where to assemble a split record body: a page record of a
 * held epoch goes straight into the epoch buffer (read there in place by
 * io.c), so its pages are copied once in user space, not twice.  So do the
 * page records of the initial copy: they only pass through to the target,
 * and the epoch buffer is empty until the first commit, so the parser's own
 * buffer need never grow to a page batch (4 MiB) for them, and the memory
 * first touched for the initial copy is the memory the epochs then use
 * (64 streams at once: a third fewer page faults). */
static uint8_t *body_memory(const struct sb_record *rec, uint32_t need, void *opaque)
{
	struct sb_rstream *s = opaque;

	if ((s->phase != SB_RP_BUFFERING && s->phase != SB_RP_INITIAL) ||
	    rec->layer != SB_LAYER_LIBXC || rec->type != SB_LIBXC_PAGE_DATA)
		return NULL;
	return sb_epoch_reserve(s->epoch, need);
}

static int on_event(const struct sb_event *ev, void *opaque)
{
	struct sb_rstream *s = opaque;

	switch (ev->kind) {
	case SB_EV_XL_HEADER:
	case SB_EV_LIBXL_HEADER:
		return SB_CB_CONTINUE;
	case SB_EV_PREAMBLE:
		keep_preamble(s, ev);
		return netout_open(s) ? SB_CB_ABORT : SB_CB_CONTINUE;
	case SB_EV_LIBXC_HEADER:
		return sb_rt_ensure(s, ev->u.libxc_hdr.domain_type) ? SB_CB_ABORT : SB_CB_CONTINUE;
	case SB_EV_RECORD:
		return on_record(s, &ev->u.rec);
	case SB_EV_EPOCH_END:
		return on_epoch_end(s, ev);
	case SB_EV_END:
		s->saw_end = 1;
		return SB_CB_PAUSE;
	}
	return SB_CB_CONTINUE;
}

/* ---- ends ---- */

static void activate(struct sb_rstream *s, const char *reason)
{
	struct sb_failover_info fi = { reason, s->committed };
	char err[512] = "";
	int rc;

	rc = s->target.ops->activate(&s->target, &fi, err, sizeof(err));
	if (rc) {
		set_error(s, "activation failed", err);
		sb_rlog(s, "activation of epoch %llu failed: %s", (unsigned long long)s->committed, err);
		s->phase = SB_RP_STOPPED;
	} else {
		sb_rlog(s, "activated epoch %llu (%s)", (unsigned long long)s->committed, reason);
		s->phase = SB_RP_ACTIVATED;
		sb_netout_activated(s);
	}
	if (s->cfg.back == SB_BACK_XL_PLAIN && s->go_len == SB_XL_GO_LEN)
		sb_xl_report(s, rc ? 3 : 0);    /* ERROR_FAIL as xl reports it */
	s->end_reason = reason;
	finish(s);
}

static void failover(struct sb_rstream *s, const char *reason, const char *detail)
{
	int r;

	sb_epoch_reset(s->epoch, s->committed + 1);     /* the partial epoch is gone */
	set_error(s, reason, detail);
	s->end_reason = reason;
	if (s->cfg.fence_cmd) {
		sb_rlog(s, "failover: %s: %s; fencing before activating epoch %llu", reason,
			detail, (unsigned long long)s->committed);
		r = sb_fence_start(s, reason);
		if (r == 0) {
			s->phase = SB_RP_FENCING;
			return;
		}
		sb_rlog(s, "failover refused: fence '%s' could not run; not activating epoch %llu",
			s->cfg.fence_cmd, (unsigned long long)s->committed);
		s->phase = SB_RP_STOPPED;
		finish(s);
		return;
	}
	sb_rlog(s, "failover: %s: %s; activating epoch %llu", reason, detail,
		(unsigned long long)s->committed);
	activate(s, reason);
}

void sb_rstream_fence_done(struct sb_rstream *s, int ok, const char *what)
{
	if (s->phase != SB_RP_FENCING)
		return;
	if (ok) {
		sb_rlog(s, "failover: fence '%s' %s: activating epoch %llu", s->cfg.fence_cmd,
			what, (unsigned long long)s->committed);
		activate(s, s->end_reason ? s->end_reason : "failover");
		return;
	}
	sb_rlog(s, "failover refused: fence '%s' %s: not activating epoch %llu",
		s->cfg.fence_cmd, what, (unsigned long long)s->committed);
	snprintf(s->last_error, sizeof(s->last_error), "fence %s: not activated", what);
	s->phase = SB_RP_STOPPED;
	finish(s);
}

static void stream_fail(struct sb_rstream *s, const char *reason, const char *detail)
{
	if (terminal(s) || s->phase == SB_RP_FENCING)
		return;
	sb_io_stop_reading(s);
	sb_io_heartbeat_stop(s);
	detail = strip_name(s, detail);
	if (s->phase == SB_RP_WAIT_GO) {
		set_error(s, reason, detail);
		sb_rlog(s, "migration handshake failed: %s: %s; not activating, copy discarded",
			reason, detail);
		sb_xl_report(s, 0xFF);
		s->phase = SB_RP_STOPPED;
		s->end_reason = reason;
		finish(s);
		return;
	}
	if (!s->has_committed) {
		set_error(s, reason, detail);
		sb_rlog(s, "restore failed: %s: %s; no committed epoch, nothing activated",
			reason, detail);
		if (s->target_open)
			s->target.ops->abort(&s->target);
		s->phase = SB_RP_FAILED;
		s->end_reason = reason;
		finish(s);
		return;
	}
	failover(s, reason, detail);
}

static void finish(struct sb_rstream *s)
{
	sb_io_stop_reading(s);
	sb_io_heartbeat_stop(s);
	sb_netout_close(s);
	sb_rt_close(s);
	s->finished = 1;
	sb_io_finish(s);
}

static void go_input(struct sb_rstream *s, const uint8_t *buf, size_t len)
{
	int r = sb_xl_go_bytes(s, buf, len);

	if (r == 0)
		return;
	if (r < 0) {
		stream_fail(s, "handshake", "expected the 44-byte GO message, found other bytes");
		return;
	}
	sb_rlog(s, "got permission (GO), activating");
	activate(s, "migration complete");
}

static void on_final_end(struct sb_rstream *s, const uint8_t *rest, size_t restlen)
{
	if (s->phase != SB_RP_INITIAL) {
		char d[128];

		snprintf(d, sizeof(d), "END record after epoch %llu (a checkpointed stream ends by failover, as in Xen)",
			 (unsigned long long)s->committed);
		stream_fail(s, "end of stream", d);
		return;
	}
	/* A plain stream: complete migration. Commit epoch 0. */
	s->t_end_parsed = sb_now_mono();
	if (sb_rt_ensure(s, 0) ||
	    commit_epoch(s, NULL, 0, s->epoch_pages, sb_parser_offset(s->parser))) {
		stream_fail(s, s->own_reason ? s->own_reason : "target error",
			    sb_parser_error(s->parser)->msg);
		return;
	}
	sb_io_heartbeat_stop(s);
	if (s->cfg.back == SB_BACK_XL_PLAIN) {
		sb_rlog(s, "transfer complete, requesting permission to start domain");
		sb_xl_ready(s);
		s->phase = SB_RP_WAIT_GO;
		if (restlen)
			go_input(s, rest, restlen);
		return;
	}
	if (restlen)
		sb_rlog(s, "%zu bytes after the final END ignored", restlen);
	sb_io_stop_reading(s);
	s->end_reason = "complete";
	activate(s, "migration complete");
}

/* ---- engine inputs ---- */

static void record_bytes(struct sb_rstream *s, const uint8_t *p, size_t left)
{
	while (s->record_fd >= 0 && left) {
		ssize_t w = write(s->record_fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			sb_rlog(s, "--record: write failed (%s); recording stopped", strerror(errno));
			close(s->record_fd);
			s->record_fd = -1;
			break;
		}
		p += w;
		left -= (size_t)w;
	}
}

/* Reading in place (io.c): while the parser assembles a large record body,
 * the read goes straight into its buffer, one copy less. */
size_t sb_rstream_direct_room(struct sb_rstream *s, uint8_t **where)
{
	if (s->finished || terminal(s) || s->phase == SB_RP_FENCING || s->phase == SB_RP_WAIT_GO)
		return 0;
	return sb_parser_body_room(s->parser, where);
}

/* The parser refused the input: fail the stream with its message. */
static void fail_parse(struct sb_rstream *s)
{
	stream_fail(s, s->own_reason ? s->own_reason : "parse error",
		    sb_parser_error(s->parser)->msg);
}

/* After the parser took input: stop if --until-epoch was reached, or hand the
 * bytes after the final END (rest, len) to what follows it.  1 when the
 * stream ended here. */
static int after_feed(struct sb_rstream *s, const uint8_t *rest, size_t len)
{
	if (s->stop_until) {
		char d[96];

		snprintf(d, sizeof(d), "stopped after epoch %llu as asked",
			 (unsigned long long)s->committed);
		stream_fail(s, "until-epoch", d);
		return 1;
	}
	if (s->saw_end) {
		on_final_end(s, rest, len);
		return 1;
	}
	return 0;
}

/* n bytes were read to where sb_rstream_direct_room() said: as sb_rstream_feed(). */
void sb_rstream_fed_in_place(struct sb_rstream *s, const uint8_t *where, size_t n)
{
	if (s->finished || terminal(s) || s->phase == SB_RP_FENCING || !n)
		return;
	s->bytes_in += n;
	s->t_fed = sb_now_mono();
	record_bytes(s, where, n);
	if (sb_parser_feed_in_place(s->parser, n) < 0) {
		fail_parse(s);
		return;
	}
	after_feed(s, NULL, 0);
}

void sb_rstream_feed(struct sb_rstream *s, const uint8_t *buf, size_t len)
{
	if (s->finished || terminal(s) || s->phase == SB_RP_FENCING || !len)
		return;
	s->bytes_in += len;
	s->t_fed = sb_now_mono();
	record_bytes(s, buf, len);
	if (s->phase == SB_RP_WAIT_GO) {
		go_input(s, buf, len);
		return;
	}
	while (len) {
		ssize_t n = sb_parser_feed(s->parser, buf, len);

		if (n < 0) {
			fail_parse(s);
			return;
		}
		buf += n;
		len -= (size_t)n;
		if (after_feed(s, buf, len))
			return;
		if (n == 0) {
			stream_fail(s, "parse error", "the parser made no progress");
			return;
		}
	}
}

void sb_rstream_eof(struct sb_rstream *s)
{
	char d[160];
	int r;

	if (s->finished || terminal(s) || s->phase == SB_RP_FENCING)
		return;
	if (s->phase == SB_RP_WAIT_GO) {
		stream_fail(s, "eof", "the input ended before the GO message");
		return;
	}
	r = sb_parser_finish(s->parser);
	if (r == 1) {
		snprintf(d, sizeof(d), "input ended at offset %llu, right after epoch %llu",
			 (unsigned long long)sb_parser_offset(s->parser),
			 (unsigned long long)s->committed);
		stream_fail(s, "eof", d);
	} else if (r < 0) {
		stream_fail(s, "eof", sb_parser_error(s->parser)->msg);
	} else if (!s->saw_end) {
		stream_fail(s, "eof", "input ended");
	}
}

void sb_rstream_read_error(struct sb_rstream *s, int err)
{
	char d[160];

	snprintf(d, sizeof(d), "at offset %llu: %s", (unsigned long long)s->bytes_in, strerror(err));
	stream_fail(s, "read error", d);
}

void sb_rstream_heartbeat_expired(struct sb_rstream *s)
{
	char d[160];

	if (!s->has_committed) {
		snprintf(d, sizeof(d), "no data for %u ms before the first commit (offset %llu)",
			 s->cfg.initial_timeout_ms, (unsigned long long)s->bytes_in);
		stream_fail(s, "initial timeout", d);
		return;
	}
	snprintf(d, sizeof(d), "no data for %u ms (offset %llu, epoch %llu in progress)",
		 s->cfg.heartbeat_ms, (unsigned long long)s->bytes_in,
		 (unsigned long long)s->epoch_no);
	stream_fail(s, "heartbeat", d);
}

void sb_rstream_stop(struct sb_rstream *s, const char *why)
{
	if (s->finished)
		return;
	if (s->phase == SB_RP_FENCING) {
		sb_fence_cancel(s);
		sb_rlog(s, "%s: fence cancelled, not activating epoch %llu", why,
			(unsigned long long)s->committed);
		s->phase = SB_RP_STOPPED;
		finish(s);
		return;
	}
	if (terminal(s))
		return;
	if (s->cfg.activate_on_signal && s->has_committed && s->phase != SB_RP_WAIT_GO) {
		stream_fail(s, why, "stopped by signal (--activate-on-signal)");
		return;
	}
	sb_io_stop_reading(s);
	sb_epoch_reset(s->epoch, s->committed + 1);
	if (s->has_committed) {
		sb_rlog(s, "%s: stopping; partial epoch discarded, replica stays at epoch %llu, not activated",
			why, (unsigned long long)s->committed);
	} else {
		sb_rlog(s, "%s: stopping before the first commit; nothing activated", why);
		if (s->target_open)
			s->target.ops->abort(&s->target);
	}
	set_error(s, why, "stopped");
	s->end_reason = why;
	s->phase = SB_RP_STOPPED;
	finish(s);
}

/* ---- state ---- */

int sb_rstream_finished(const struct sb_rstream *s) { return s->finished; }
enum sb_rphase sb_rstream_phase(const struct sb_rstream *s) { return s->phase; }
const char *sb_rstream_name(const struct sb_rstream *s) { return s->name; }
const char *sb_rstream_domain(const struct sb_rstream *s) { return s->domain; }
int sb_rstream_has_committed(const struct sb_rstream *s) { return s->has_committed; }
uint64_t sb_rstream_committed(const struct sb_rstream *s) { return s->committed; }
uint64_t sb_rstream_acks_dropped(const struct sb_rstream *s) { return s->acks_dropped; }

int sb_rstream_exit_status(const struct sb_rstream *s)
{
	return s->phase == SB_RP_ACTIVATED ? 0 : 1;
}

/*
 * run.c - the simulated primary's epoch loop and its summary.
 *
 * Order of one run:
 *   open the sink; [--xl: wait for the banner if there is a back channel, send
 *   the xl header + JSON config]; epoch 0 = stream header, static records and
 *   a full pass over memory, then the end-of-checkpoint records;
 *   plain: libxc END, libxl tail, END [--xl: ready / GO / report];
 *   remus/colo: CHECKPOINT .. CHECKPOINT_END, then for each further epoch:
 *     [colo: read SVM_READY, SVM_RESUMED]  sleep --interval (reading acks)
 *     [colo: send CHECKPOINT_STATE(NEW), read SVM_SUSPENDED and the dirty pfn list]
 *     dirty pages, end-of-checkpoint records, CHECKPOINT, libxl tail, CHECKPOINT_END;
 *   after the last epoch: wait up to --ack-timeout for missing acks, close,
 *   report.
 * Each epoch whose CHECKPOINT_END (plain: END) was written whole is
 * "complete": its ack clock starts and its --expect line is written.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include "primary/primary.h"
#include "util/json.h"

volatile int pr_interrupted;

struct run {
	const struct pr_config *cfg;
	struct pr_guest g;
	struct pr_sink sink;
	struct pr_acks acks;
	struct pr_emit e;
	struct pr_expect x;
	struct pr_colo *colo;
	int have_expect;
	int have_back;                  /* the sink had a back channel */
	uint64_t complete;              /* epochs complete */
	int have_complete;
	uint64_t last_complete;
	uint64_t svm_pages;
	double t0, t_last_end, t_stream_end;
	char xl_result[128];
	const char *ack_note;
};

static void on_signal(int sig)
{
	(void)sig;
	pr_interrupted = 1;
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_signal;     /* no SA_RESTART: waits return early */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static void idle_acks(void *opaque)
{
	pr_acks_read(opaque);
}

static int epoch_done(struct run *r, uint64_t epoch)
{
	uint8_t state[SB_DIGEST_LEN];

	r->t_last_end = pr_now();
	pr_emit_state_digest(&r->e, state);
	r->have_complete = 1;
	r->last_complete = epoch;
	r->complete++;
	if (pr_acks_sent(&r->acks, epoch, r->t_last_end))
		return -1;
	pr_acks_read(&r->acks);
	if (r->have_expect &&
	    pr_expect_epoch(&r->x, &r->g, epoch, state, idle_acks, &r->acks))
		return -1;
	return 0;
}

static int one_epoch(struct run *r, uint64_t epoch)
{
	struct pr_emit *e = &r->e;
	uint64_t n;
	int rc;

	if ((rc = pr_emit_epoch_start(e, epoch)))
		return rc;
	if (epoch == 0) {
		if ((rc = pr_emit_start(e)))
			return rc;
		pr_guest_dirty_all(&r->g);
	} else {
		if (r->colo) {
			if ((rc = pr_emit_checkpoint_state(e, SB_CKPT_NEW)))
				return rc;
			if (pr_colo_expect_state(r->colo, SB_CKPT_SVM_SUSPENDED) ||
			    pr_colo_read_dirty(r->colo, &r->g, &n))
				return -1;
			r->svm_pages += n;
		}
		pr_guest_dirty_epoch(&r->g, epoch);
	}
	if ((rc = pr_emit_pages(e)) || (rc = pr_emit_end_of_checkpoint(e)) ||
	    (rc = pr_emit_libxl_tail(e)))
		return rc;
	return epoch_done(r, epoch);
}

static int colo_resumed(struct run *r)
{
	if (!r->colo)
		return 0;
	return pr_colo_expect_state(r->colo, SB_CKPT_SVM_READY) ||
	       pr_colo_expect_state(r->colo, SB_CKPT_SVM_RESUMED) ? -1 : 0;
}

static int stream(struct run *r)
{
	const struct pr_config *cfg = r->cfg;
	int rc;

	if (cfg->xl) {
		if (r->sink.back_fd >= 0 && pr_xl_wait_banner(&r->sink, cfg->wait_ms))
			return -1;
		if ((rc = pr_xl_send_header(&r->sink, cfg)))
			return rc;
	}
	if ((rc = one_epoch(r, 0)))
		return rc;
	if (cfg->mode == PR_PLAIN) {
		r->t_stream_end = pr_now();
		if (cfg->xl && r->sink.back_fd >= 0)
			return pr_xl_handshake(&r->sink, cfg->wait_ms, r->xl_result, sizeof(r->xl_result));
		return 0;
	}
	for (uint64_t k = 1; cfg->epochs == 0 || k < cfg->epochs; k++) {
		if ((rc = colo_resumed(r)))
			return rc;
		pr_acks_sleep(&r->acks, r->t_last_end + cfg->interval_ms / 1000.0);
		if (pr_interrupted)
			break;
		if ((rc = one_epoch(r, k)))
			return rc;
	}
	r->t_stream_end = pr_now();
	return colo_resumed(r);
}

static const char *mode_name(enum pr_mode m)
{
	return m == PR_PLAIN ? "plain" : m == PR_REMUS ? "remus" : "colo";
}

static void report_text(struct run *r, const struct pr_ack_stats *st, double secs, int crashed)
{
	const struct pr_config *cfg = r->cfg;
	double mib = (double)r->sink.written / (1024.0 * 1024.0);
	double mbs = secs > 0 ? (double)r->sink.written / 1e6 / secs : 0;

	fprintf(stderr, "primary: mode %s, %llu epochs, %llu pages, %.1f MiB, %.1f MB/s",
		mode_name(cfg->mode), (unsigned long long)r->complete,
		(unsigned long long)r->e.pages_total, mib, mbs);
	if (st->count)
		fprintf(stderr, ", acks p50 %.3f ms p90 %.3f ms p99 %.3f ms max %.3f ms (%llu of %llu)",
			st->p50 * 1e3, st->p90 * 1e3, st->p99 * 1e3, st->max * 1e3,
			(unsigned long long)st->count, (unsigned long long)r->acks.nsent);
	else
		fprintf(stderr, ", no acks (%s)", r->ack_note);
	if (r->colo)
		fprintf(stderr, ", %llu pages resent for the SVM", (unsigned long long)r->svm_pages);
	if (crashed || r->have_expect) {
		if (r->have_complete)
			fprintf(stderr, ", last complete epoch: %llu", (unsigned long long)r->last_complete);
		else
			fprintf(stderr, ", last complete epoch: none");
	}
	fprintf(stderr, "\n");
	if (r->xl_result[0])
		fprintf(stderr, "primary: xl handshake: %s\n", r->xl_result);
}

static void report_json(struct run *r, const struct pr_ack_stats *st, double secs, int crashed,
			int status)
{
	FILE *f = r->sink.kind == PR_SINK_STDOUT ? stderr : stdout;
	const struct pr_config *cfg = r->cfg;

	fprintf(f, "{\"mode\":\"%s\",\"type\":\"%s\",\"memory\":%llu,\"seed\":%llu,"
		"\"epochs\":%llu,\"pages\":%llu,\"bytes\":%llu,\"seconds\":%.6f,\"mb_per_s\":%.3f,",
		mode_name(cfg->mode), cfg->dom_type == SB_DOM_HVM ? "hvm" : "pv",
		(unsigned long long)cfg->memory, (unsigned long long)cfg->seed,
		(unsigned long long)r->complete, (unsigned long long)r->e.pages_total,
		(unsigned long long)r->sink.written, secs,
		secs > 0 ? (double)r->sink.written / 1e6 / secs : 0.0);
	if (r->have_complete)
		fprintf(f, "\"last_complete_epoch\":%llu,", (unsigned long long)r->last_complete);
	else
		fprintf(f, "\"last_complete_epoch\":null,");
	fprintf(f, "\"crashed\":%s,\"crash\":", crashed ? "true" : "false");
	sb_json_string(f, crashed ? r->e.crash_desc : NULL);
	if (st->count)
		fprintf(f, ",\"acks\":{\"received\":%llu,\"expected\":%llu,\"p50_ms\":%.4f,"
			"\"p90_ms\":%.4f,\"p99_ms\":%.4f,\"max_ms\":%.4f}",
			(unsigned long long)st->count, (unsigned long long)r->acks.nsent,
			st->p50 * 1e3, st->p90 * 1e3, st->p99 * 1e3, st->max * 1e3);
	else
		fprintf(f, ",\"acks\":null,\"acks_note\":\"%s\"", r->ack_note);
	if (r->colo)
		fprintf(f, ",\"svm_pages\":%llu", (unsigned long long)r->svm_pages);
	fprintf(f, ",\"xl_result\":");
	sb_json_string(f, r->xl_result[0] ? r->xl_result : NULL);
	fprintf(f, ",\"exit\":%d}\n", status);
	fflush(f);
}

/* A fault asked for but never reached is an error: the test would be void. */
static int faults_unfired(struct run *r, int crashed)
{
	const struct pr_config *cfg = r->cfg;
	int bad = 0;

	if (cfg->crash_at != PR_PT_NONE && !r->e.crash_fired && !crashed) {
		fprintf(stderr, "primary: the crash point %s of epoch %llu was never reached\n",
			pr_point_name(cfg->crash_at), (unsigned long long)cfg->crash_epoch);
		bad = 1;
	}
	if (cfg->crash_after_bytes != UINT64_MAX && !crashed) {
		fprintf(stderr, "primary: the stream ended after %llu bytes, before --crash-after-bytes %llu\n",
			(unsigned long long)r->sink.written, (unsigned long long)cfg->crash_after_bytes);
		bad = 1;
	}
	if (cfg->stall_at != PR_PT_NONE && !r->e.stall_fired && !crashed) {
		fprintf(stderr, "primary: the stall point %s of epoch %llu was never reached\n",
			pr_point_name(cfg->stall_at), (unsigned long long)cfg->stall_epoch);
		bad = 1;
	}
	if (cfg->corrupt != PR_CORRUPT_NONE && !r->e.corrupt_fired && !crashed) {
		fprintf(stderr, "primary: the corruption %s found no place in epoch %llu\n",
			pr_corrupt_name(cfg->corrupt), (unsigned long long)cfg->corrupt_epoch);
		bad = 1;
	}
	return bad;
}

static void set_ack_note(struct run *r)
{
	const struct pr_config *cfg = r->cfg;

	if (cfg->no_acks)
		r->ack_note = "--no-acks";
	else if (cfg->xl)
		r->ack_note = "xl framing";
	else if (cfg->mode == PR_COLO)
		r->ack_note = "COLO";
	else if (!r->have_back)
		r->ack_note = "no back channel";
	else if (r->acks.bad)
		r->ack_note = "unexpected bytes on the back channel";
	else
		r->ack_note = "none received";
}

static int setup(struct run *r)
{
	const struct pr_config *cfg = r->cfg;
	int acks_on;

	if (pr_guest_init(&r->g, cfg)) {
		fprintf(stderr, "primary: out of memory for a guest of %llu bytes\n",
			(unsigned long long)cfg->memory);
		return -1;
	}
	if (pr_sink_open(&r->sink, cfg))
		return -1;
	r->have_back = r->sink.back_fd >= 0;
	acks_on = !cfg->no_acks && !cfg->xl && cfg->mode != PR_COLO;
	pr_acks_init(&r->acks, r->sink.back_fd, acks_on);
	r->sink.acks = &r->acks;
	if (cfg->expect_path) {
		if (pr_expect_open(&r->x, cfg->expect_path, cfg))
			return -1;
		r->have_expect = 1;
	}
	if (pr_emit_init(&r->e, cfg, &r->g, &r->sink)) {
		fprintf(stderr, "primary: out of memory\n");
		return -1;
	}
	if (cfg->mode == PR_COLO &&
	    !(r->colo = pr_colo_new(&r->sink, r->g.pages - 1, cfg->wait_ms))) {
		fprintf(stderr, "primary: out of memory\n");
		return -1;
	}
	return 0;
}

int pr_run(const struct pr_config *cfg)
{
	struct run r;
	struct pr_ack_stats st;
	int rc, crashed, status;
	double secs;

	memset(&r, 0, sizeof(r));
	r.cfg = cfg;
	r.sink.fd = r.sink.back_fd = -1;
	install_signals();
	r.t0 = pr_now();
	rc = setup(&r);
	if (rc == 0)
		rc = stream(&r);
	crashed = rc == PR_CRASHED;
	if (!r.t_stream_end)
		r.t_stream_end = pr_now();
	if (crashed && !r.e.crash_desc[0])
		snprintf(r.e.crash_desc, sizeof(r.e.crash_desc),
			 "--crash-after-bytes: stream cut at byte %llu", (unsigned long long)r.sink.written);
	if (crashed && !cfg->quiet)
		fprintf(stderr, "primary: crashed as asked: %s\n", r.e.crash_desc);
	if (rc == 0)
		pr_acks_wait(&r.acks, pr_now() + cfg->ack_timeout_ms / 1000.0);
	if (r.sink.fd >= 0 || r.sink.child > 0) {
		if (pr_sink_close(&r.sink, cfg->wait_ms) && rc == 0)
			rc = -1;
	}
	if (rc != -1 && faults_unfired(&r, crashed))
		rc = -1;
	if (r.have_expect && pr_expect_close(&r.x, r.have_complete, r.last_complete) && rc != -1)
		rc = -1;
	status = rc == -1 ? 1 : crashed ? cfg->crash_exit_code : 0;
	set_ack_note(&r);
	pr_acks_stats(&r.acks, &st);
	secs = r.t_stream_end - r.t0;
	if (cfg->json)
		report_json(&r, &st, secs, crashed, status);
	else if (!cfg->quiet || rc == -1)
		report_text(&r, &st, secs, crashed);
	pr_colo_free(r.colo);
	pr_emit_free(&r.e);
	pr_acks_free(&r.acks);
	pr_guest_free(&r.g);
	return status;
}

/*
 * io.c - libev watchers of one stream: the read watcher (bounded reads, one
 * per callback, so a busy stream cannot starve the others), the heartbeat
 * timer (restarted on every read, armed once an epoch is committed) and the
 * non-blocking write queue of the back channel.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>
#include "recv/internal.h"

#define READ_CHUNK (64 * 1024)
#define DIRECT_MIN (16 * 1024)         /* read in place only for this much body or more */
#define DIRECT_CHUNK (1024 * 1024)      /* bound on one read in place */
#define LINGER_SECONDS 2.0
#define ACK_QUEUE_DEFAULT 4096
#define OUT_QUEUE_MAX (16u << 20)      /* protocol messages a peer leaves unread */

static uint8_t read_buf[READ_CHUNK];

static int set_nonblock(int fd, int *saved)
{
	int fl = fcntl(fd, F_GETFL);

	*saved = fl;
	if (fl < 0)
		return -1;
	return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

void sb_rstream_reap(struct sb_rstream *s)
{
	if (s->finished && s->drained && !s->reaped) {
		s->reaped = 1;
		if (s->owner.done)
			s->owner.done(s, s->owner.opaque);
	}
}

static void read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct sb_rstream *s = w->data;
	uint8_t *direct = NULL;
	size_t room = sb_rstream_direct_room(s, &direct);
	ssize_t n;

	(void)revents;
	/* In the middle of a large record body: read straight into the parser's
	 * buffer, never past that body (one copy less per byte). */
	if (room < DIRECT_MIN)
		direct = NULL;
	if (direct)
		n = read(s->in_fd, direct, room < DIRECT_CHUNK ? room : DIRECT_CHUNK);
	else
		n = read(s->in_fd, read_buf, sizeof(read_buf));
	if (n > 0) {
		if (ev_is_active(&s->hb))
			ev_timer_again(loop, &s->hb);
		if (direct)
			sb_rstream_fed_in_place(s, direct, (size_t)n);
		else
			sb_rstream_feed(s, read_buf, (size_t)n);
		if (ev_is_active(&s->hb)) {     /* time spent committing is not silence */
			ev_now_update(loop);
			ev_timer_again(loop, &s->hb);
		}
	} else if (n == 0) {
		sb_rstream_eof(s);
	} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		sb_rstream_read_error(s, errno);
	}
	sb_rstream_reap(s);
}

static void hb_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sb_rstream *s = w->data;

	(void)revents;
	/* Bytes already waiting mean the loop was busy (another stream's
	 * commit), not that the primary went silent: read them first. */
	if (s->in_fd >= 0) {
		struct pollfd p = { .fd = s->in_fd, .events = POLLIN };

		if (poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP))) {
			ev_timer_again(loop, w);
			return;
		}
	}
	ev_timer_stop(loop, w);
	sb_rstream_heartbeat_expired(s);
	sb_rstream_reap(s);
}

static void out_done(struct sb_rstream *s)
{
	struct sb_outq *q = &s->out;

	ev_io_stop(EV_DEFAULT, &q->w);
	sb_buf_reset(&q->buf);
	q->off = 0;
	if (s->finished && !s->drained) {
		ev_timer_stop(EV_DEFAULT, &s->linger);
		s->drained = 1;
	}
}

static void out_broken(struct sb_rstream *s, int err)
{
	if (!s->out.broken)
		sb_rlog(s, "back channel write failed: %s; further output discarded", strerror(err));
	s->out.broken = 1;
	out_done(s);
}

/* Write what the queue holds; 0 when empty afterwards. */
static int out_flush(struct sb_rstream *s)
{
	struct sb_outq *q = &s->out;

	while (q->off < q->buf.len) {
		ssize_t w = write(q->fd, q->buf.data + q->off, q->buf.len - q->off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 1;
		if (w <= 0) {
			out_broken(s, w < 0 ? errno : EPIPE);
			return 0;
		}
		q->off += (size_t)w;
	}
	out_done(s);
	return 0;
}

static void write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct sb_rstream *s = w->data;

	(void)loop;
	(void)revents;
	out_flush(s);
	sb_rstream_reap(s);
}

int sb_out_write(struct sb_rstream *s, const void *p, size_t n, int droppable)
{
	struct sb_outq *q = &s->out;
	size_t max = s->cfg.ack_queue_max ? s->cfg.ack_queue_max : ACK_QUEUE_DEFAULT;
	size_t pending = q->buf.len - q->off;

	if (q->fd < 0 || q->broken)
		return -1;
	if (droppable && pending + n > max)
		return -1;
	if (pending + n > OUT_QUEUE_MAX) {      /* a peer that never reads: stop writing to it */
		out_broken(s, ENOBUFS);
		return -1;
	}
	if (q->off && q->off == q->buf.len) {
		sb_buf_reset(&q->buf);
		q->off = 0;
	}
	if (sb_buf_append(&q->buf, p, n))
		return -1;
	if (out_flush(s) == 1 && !ev_is_active(&q->w))
		ev_io_start(EV_DEFAULT, &q->w);
	return q->broken ? -1 : 0;
}

static void linger_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sb_rstream *s = w->data;

	(void)loop;
	(void)revents;
	sb_rlog(s, "back channel: %zu bytes not taken by the peer in %.0f s, dropped",
		s->out.buf.len - s->out.off, LINGER_SECONDS);
	out_done(s);
	s->drained = 1;
	sb_rstream_reap(s);
}

void sb_io_init(struct sb_rstream *s, int in_fd, int out_fd)
{
	s->in_fd = in_fd;
	s->in_flags_saved = -1;
	s->out_flags_saved = -1;
	if (in_fd >= 0)
		set_nonblock(in_fd, &s->in_flags_saved);
	if (out_fd >= 0 && out_fd != in_fd)
		set_nonblock(out_fd, &s->out_flags_saved);
	ev_io_init(&s->rw, read_cb, in_fd, EV_READ);
	s->rw.data = s;
	ev_init(&s->hb, hb_cb);
	s->hb.repeat = s->cfg.heartbeat_ms / 1000.0;
	s->hb.data = s;
	ev_init(&s->linger, linger_cb);
	s->linger.data = s;
	s->out.fd = out_fd;
	s->out.s = s;
	sb_buf_init(&s->out.buf);
	ev_io_init(&s->out.w, write_cb, out_fd, EV_WRITE);
	s->out.w.data = s;
}

void sb_io_start(struct sb_rstream *s)
{
	if (s->in_fd < 0 || s->finished)
		return;
	ev_io_start(EV_DEFAULT, &s->rw);
	if (s->cfg.initial_timeout_ms) {        /* silence before the first commit */
		s->hb.repeat = s->cfg.initial_timeout_ms / 1000.0;
		ev_timer_again(EV_DEFAULT, &s->hb);
	}
}

void sb_io_heartbeat_arm(struct sb_rstream *s)
{
	if (!s->has_committed || s->finished || s->in_fd < 0)
		return;
	if (!s->cfg.heartbeat_ms) {
		ev_timer_stop(EV_DEFAULT, &s->hb);      /* the initial timeout, if any, is over */
		return;
	}
	s->hb.repeat = s->cfg.heartbeat_ms / 1000.0;
	ev_now_update(EV_DEFAULT);
	ev_timer_again(EV_DEFAULT, &s->hb);
}

void sb_io_heartbeat_stop(struct sb_rstream *s)
{
	ev_timer_stop(EV_DEFAULT, &s->hb);
}

void sb_io_stop_reading(struct sb_rstream *s)
{
	ev_io_stop(EV_DEFAULT, &s->rw);
}

void sb_io_finish(struct sb_rstream *s)
{
	struct sb_outq *q = &s->out;

	if (q->fd < 0 || q->broken || q->off == q->buf.len) {
		s->drained = 1;
		return;
	}
	ev_timer_set(&s->linger, LINGER_SECONDS, 0.);
	ev_timer_start(EV_DEFAULT, &s->linger);
}

void sb_io_release(struct sb_rstream *s)
{
	ev_io_stop(EV_DEFAULT, &s->rw);
	ev_io_stop(EV_DEFAULT, &s->out.w);
	ev_timer_stop(EV_DEFAULT, &s->hb);
	ev_timer_stop(EV_DEFAULT, &s->linger);
	if (s->in_fd >= 0 && s->in_flags_saved >= 0)
		fcntl(s->in_fd, F_SETFL, s->in_flags_saved);
	if (s->out.fd >= 0 && s->out_flags_saved >= 0)
		fcntl(s->out.fd, F_SETFL, s->out_flags_saved);
	sb_buf_free(&s->out.buf);
}

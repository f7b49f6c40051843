/*
 * status.c - the status server (--status-socket PATH): a unix socket that
 * answers every connection with one JSON document describing each live
 * stream, then closes it.  Replies are written without blocking the loop.
 *
 *   {"pid":N,"streams":[{"name":..,"domain":..,"phase":..,"committed_epoch":..,
 *     "bytes":..,"records":..,"last_error":..,"target":{...},
 *     "netbuf":null|{...sb_netbuf_status_json}}, ...]}
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "recv/internal.h"
#include "util/json.h"

#define STATUS_MAX_CLIENTS 16
#define STATUS_TIMEOUT 5.0

struct status_client {
	int fd;
	struct sb_buf doc;
	size_t off;
	ev_io w;
	ev_timer t;
	struct status_client *next;
};

static int listen_fd = -1;
static ev_io accept_w;
static char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static struct status_client *clients;
static int nclients;

static void client_free(struct status_client *c)
{
	struct status_client **pp;

	for (pp = &clients; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	ev_io_stop(EV_DEFAULT, &c->w);
	ev_timer_stop(EV_DEFAULT, &c->t);
	close(c->fd);
	sb_buf_free(&c->doc);
	free(c);
	nclients--;
}

static void client_write(struct ev_loop *loop, ev_io *w, int revents)
{
	struct status_client *c = w->data;

	(void)loop;
	(void)revents;
	while (c->off < c->doc.len) {
		ssize_t n = write(c->fd, c->doc.data + c->off, c->doc.len - c->off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0)
			break;
		c->off += (size_t)n;
	}
	client_free(c);
}

static void client_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	client_free(w->data);
}

size_t sb_rstream_status_json(struct sb_rstream *s, char *buf, size_t len)
{
	char name[256], dom[300], err[1400], phase[32];
	char tgt[2048] = "null", committed[32] = "null", nb[6144];
	size_t n;

	sb_json_escape(name, sizeof(name), s->name);
	sb_json_escape(dom, sizeof(dom), s->domain[0] ? s->domain : NULL);
	sb_json_escape(err, sizeof(err), s->last_error[0] ? s->last_error : NULL);
	sb_json_escape(phase, sizeof(phase), sb_rphase_name(s->phase));
	if (s->target_open && s->target.ops->status_json &&
	    s->target.ops->status_json(&s->target, tgt, sizeof(tgt)) < 0)
		snprintf(tgt, sizeof(tgt), "null");
	if (!tgt[0])
		snprintf(tgt, sizeof(tgt), "null");
	sb_netout_status_json(s, nb, sizeof(nb));
	if (s->has_committed)
		snprintf(committed, sizeof(committed), "%llu", (unsigned long long)s->committed);
	n = (size_t)snprintf(buf, len,
		"{\"name\":%s,\"domain\":%s,\"phase\":%s,\"committed_epoch\":%s,"
		"\"receiving_epoch\":%llu,\"bytes\":%llu,\"records\":%llu,\"acks_sent\":%llu,"
		"\"acks_dropped\":%llu,\"last_error\":%s,\"target\":%s,\"netbuf\":%s}",
		name, dom, phase, committed, (unsigned long long)s->epoch_no,
		(unsigned long long)s->bytes_in, (unsigned long long)s->records,
		(unsigned long long)s->acks_sent, (unsigned long long)s->acks_dropped, err, tgt, nb);
	return n < len ? n : (len ? len - 1 : 0);
}

static int build_doc(struct sb_buf *b)
{
	char head[64];
	int first = 1;

	snprintf(head, sizeof(head), "{\"pid\":%ld,\"streams\":[", (long)getpid());
	if (sb_buf_append(b, head, strlen(head)))
		return -1;
	for (struct sb_rstream *s = sb_rstream_first(); s; s = sb_rstream_next(s)) {
		char one[16384];
		size_t n = sb_rstream_status_json(s, one, sizeof(one));

		if ((!first && sb_buf_append(b, ",", 1)) || sb_buf_append(b, one, n))
			return -1;
		first = 0;
	}
	return sb_buf_append(b, "]}\n", 3);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)revents;
	for (;;) {
		struct status_client *c;
		int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		if (nclients >= STATUS_MAX_CLIENTS || !(c = calloc(1, sizeof(*c)))) {
			close(fd);
			continue;
		}
		c->fd = fd;
		sb_buf_init(&c->doc);
		c->next = clients;
		clients = c;
		nclients++;
		ev_io_init(&c->w, client_write, fd, EV_WRITE);
		c->w.data = c;
		ev_timer_init(&c->t, client_timeout, STATUS_TIMEOUT, 0.);
		c->t.data = c;
		if (build_doc(&c->doc)) {
			client_free(c);
			continue;
		}
		ev_io_start(loop, &c->w);
		ev_timer_start(loop, &c->t);
	}
}

int sb_status_listen(struct ev_loop *loop, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "status socket path too long: %s", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	unlink(path);
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 16)) {
		umask(old);
		snprintf(err, errlen, "status socket %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	listen_fd = fd;
	strcpy(sock_path, path);
	ev_io_init(&accept_w, accept_cb, fd, EV_READ);
	ev_io_start(loop, &accept_w);
	return 0;
}

void sb_status_close(void)
{
	while (clients)
		client_free(clients);
	if (listen_fd >= 0) {
		ev_io_stop(EV_DEFAULT, &accept_w);
		close(listen_fd);
		unlink(sock_path);
		listen_fd = -1;
	}
}

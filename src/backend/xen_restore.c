/*
 * xen_restore.c - the restore helper process and the writer thread that
 * feeds it.  See xen_restore.h for the picture.
 *
 * Writer thread, events (all under poll on wake, report socket, data socket):
 *   queue non-empty + data socket writable -> write, drop written chunks
 *   queue empty + closing                  -> shutdown(data, WR): libxc sees EOF
 *   report message                         -> count checkpoint / keep result
 *   report EOF                             -> reap the helper; no result = failed
 *   data socket error (EPIPE)              -> helper stopped reading: drop queue
 *   stop                                   -> exit
 * The thread exits when stop is set, or when the helper is reaped.
 *
 * Helper process: xc_domain_restore() on the data socket, a checkpoint
 * callback that reports and answers XGR_CHECKPOINT_SUCCESS at once (standby
 * feeds only complete checkpoints), static_data_done that reports and
 * answers 0, then one result message and exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "backend/xen_sys.h"
#include "backend/xen_restore.h"
#include "backend/xen_log.h"

struct sb_xen_chunk {
	struct sb_xen_chunk *next;
	uint8_t *data;
	size_t len;
};

enum { MSG_CHECKPOINT = 1, MSG_SDD = 2, MSG_RESULT = 3 };

struct report_msg {
	uint32_t kind;
	int32_t rc, err;
	uint32_t missing;
	uint64_t a, b;
};

/* ---------------------------------------------------------------- helper */

struct helper_ctx {
	int report_fd;
	uint64_t checkpoints;
};

static void send_report(int fd, const struct report_msg *m)
{
	ssize_t n;
	do
		n = send(fd, m, sizeof(*m), MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
}

static int cb_checkpoint(void *data)
{
	struct helper_ctx *c = data;
	struct report_msg m = { .kind = MSG_CHECKPOINT, .a = c->checkpoints++ };

	send_report(c->report_fd, &m);
	return XGR_CHECKPOINT_SUCCESS;
}

static int cb_static_data_done(unsigned int missing, void *data)
{
	struct helper_ctx *c = data;
	struct report_msg m = { .kind = MSG_SDD, .missing = missing };

	send_report(c->report_fd, &m);
	return 0;
}

static void helper_main(const struct sb_xen_restore_args *a, int data_fd, int report_fd)
{
	struct helper_ctx c = { .report_fd = report_fd };
	struct restore_callbacks cb;
	struct report_msg m = { .kind = MSG_RESULT, .rc = -1 };
	unsigned long store_mfn = 0, console_mfn = 0;
	xentoollog_logger *log = sb_xen_logger_new(a->stream);
	xc_interface *xch;

	/* libxc's messages on stderr, named by the stream */
	xch = xc_interface_open(log, log, 0);
	if (!xch) {
		m.err = errno;
		fprintf(stderr, "standby: %s: restore helper: xc_interface_open failed: %s\n",
			a->stream, strerror(errno));
		send_report(report_fd, &m);
		_exit(1);
	}
	memset(&cb, 0, sizeof(cb));
	cb.checkpoint = cb_checkpoint;
	cb.static_data_done = cb_static_data_done;
	cb.data = &c;
	errno = 0;
	m.rc = xc_domain_restore(xch, data_fd, a->domid, a->store_port, &store_mfn, 0,
				 a->console_port, &console_mfn, 0,
				 (xc_stream_type_t)a->stream_type, &cb, -1);
	m.err = errno;
	m.a = store_mfn;
	m.b = console_mfn;
	send_report(report_fd, &m);
	xc_interface_close(xch);
	sb_xen_logger_free(log);
	_exit(m.rc ? 1 : 0);
}

/* ---------------------------------------------------------------- writer thread */

static void set_failed(struct sb_xen_helper *h, const char *fmt, const char *what, int e)
{
	if (!h->failed) {
		h->failed = 1;
		snprintf(h->error, sizeof(h->error), fmt, what, e);
	}
}

static void drop_queue(struct sb_xen_helper *h)
{
	while (h->head) {
		struct sb_xen_chunk *c = h->head;
		h->head = c->next;
		free(c->data);
		free(c);
	}
	h->tail = NULL;
	h->head_off = 0;
	h->queued = 0;
}

static void reap(struct sb_xen_helper *h)
{
	int status = 0;
	pid_t r;

	do
		r = waitpid(h->pid, &status, 0);
	while (r < 0 && errno == EINTR);
	if (r == h->pid)
		h->pid = 0;
	if (h->have_result)
		return;
	if (r > 0 && WIFSIGNALED(status))
		set_failed(h, "restore helper died (%s %d) before reporting a result",
			   "signal", WTERMSIG(status));
	else if (r > 0)
		set_failed(h, "restore helper exited (%s %d) before reporting a result",
			   "status", WEXITSTATUS(status));
	else
		set_failed(h, "restore helper vanished (%s %d) before reporting a result", "errno", errno);
}

static void handle_report(struct sb_xen_helper *h)
{
	struct report_msg m;
	ssize_t n = recv(h->report_fd, &m, sizeof(m), MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	pthread_mutex_lock(&h->mu);
	if (n <= 0) {
		h->reports_closed = 1;
		reap(h);
	} else if (n == sizeof(m)) {
		if (m.kind == MSG_CHECKPOINT)
			h->checkpoints = m.a + 1;
		else if (m.kind == MSG_SDD)
			h->sdd_missing = m.missing;
		else if (m.kind == MSG_RESULT) {
			h->have_result = 1;
			h->result.rc = m.rc;
			h->result.err = m.err;
			h->result.store_gfn = (unsigned long)m.a;
			h->result.console_gfn = (unsigned long)m.b;
		}
	}
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->mu);
}

/* Write what the socket takes now.  Called with mu held. */
static void write_some(struct sb_xen_helper *h)
{
	while (h->head) {
		struct sb_xen_chunk *c = h->head;
		ssize_t n = send(h->data_fd, c->data + h->head_off, c->len - h->head_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			/* libxc stopped reading: its result says why */
			set_failed(h, "writing the libxc stream to the restore helper: %s (errno %d)",
				   "send", errno);
			drop_queue(h);
			shutdown(h->data_fd, SHUT_WR);
			h->data_closed = 1;
			return;
		}
		h->head_off += (size_t)n;
		h->fed += (uint64_t)n;
		h->queued -= (uint64_t)n;
		if (h->head_off == c->len) {
			h->head = c->next;
			if (!h->head)
				h->tail = NULL;
			h->head_off = 0;
			free(c->data);
			free(c);
		}
	}
	pthread_cond_broadcast(&h->cond);
}

static void *writer_main(void *arg)
{
	struct sb_xen_helper *h = arg;

	for (;;) {
		struct pollfd p[3];
		int np = 0, want_out;

		pthread_mutex_lock(&h->mu);
		if (h->stop || h->reports_closed) {
			pthread_mutex_unlock(&h->mu);
			break;
		}
		if (!h->head && h->closing && !h->data_closed) {
			shutdown(h->data_fd, SHUT_WR);
			h->data_closed = 1;
			pthread_cond_broadcast(&h->cond);
		}
		want_out = h->head && !h->data_closed;
		pthread_mutex_unlock(&h->mu);

		p[np++] = (struct pollfd){ .fd = h->wake[0], .events = POLLIN };
		p[np++] = (struct pollfd){ .fd = h->report_fd, .events = POLLIN };
		if (want_out)
			p[np++] = (struct pollfd){ .fd = h->data_fd, .events = POLLOUT };
		if (poll(p, (nfds_t)np, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents) {
			char buf[64];
			while (read(h->wake[0], buf, sizeof(buf)) > 0)
				;
		}
		if (p[1].revents)
			handle_report(h);
		if (np > 2 && p[2].revents) {
			pthread_mutex_lock(&h->mu);
			write_some(h);
			pthread_mutex_unlock(&h->mu);
		}
	}
	return NULL;
}

static void wake(struct sb_xen_helper *h)
{
	char c = 1;
	ssize_t n = write(h->wake[1], &c, 1);
	(void)n;
}

/* ---------------------------------------------------------------- helper start */

#define HELPER_ENV "STANDBY_XEN_RESTORE_HELPER"

extern char **environ;

/* The helper is this same program, started afresh with posix_spawn (vfork
 * semantics: the receiver's memory is never marked copy-on-write, and no
 * memory is shared with the process that maps and fills guest memory; libxl
 * execs libxl-save-helper for the same reason).  fd 3 = data socket, fd 4 =
 * report socket, stdout = stderr (libxc must never write into xl's channel),
 * nothing else open.  The constructor below recognises it by its
 * environment: domid:store_port:console_port:stream_type:parent_pid:stream. */
static pid_t spawn_helper(const struct sb_xen_restore_args *a, int data_fd, int rep_fd,
			  char *err, size_t errlen)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none;
	char var[700], **envp;
	char *argv[] = { "standby-xen-restore-helper", NULL };
	size_t n = 0;
	pid_t pid = -1;
	int d = fcntl(data_fd, F_DUPFD_CLOEXEC, 10), r = fcntl(rep_fd, F_DUPFD_CLOEXEC, 10), rc;

	if (d < 0 || r < 0) {
		snprintf(err, errlen, "fcntl(F_DUPFD) failed: %s (errno %d)", strerror(errno), errno);
		goto out;
	}
	snprintf(var, sizeof(var), HELPER_ENV "=%u:%u:%u:%d:%ld:%s", a->domid, a->store_port,
		 a->console_port, a->stream_type, (long)getpid(), a->stream ? a->stream : "stream");
	while (environ && environ[n])
		n++;
	envp = calloc(n + 2, sizeof(*envp));
	if (!envp) {
		snprintf(err, errlen, "out of memory starting the restore helper");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		envp[i] = environ[i];
	envp[n] = var;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, d, 3);
	posix_spawn_file_actions_adddup2(&fa, r, 4);
	posix_spawn_file_actions_adddup2(&fa, 2, 1);
	posix_spawn_file_actions_addclosefrom_np(&fa, 5);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK);
	rc = posix_spawn(&pid, "/proc/self/exe", &fa, &at, argv, envp);
	if (rc) {
		snprintf(err, errlen, "posix_spawn of the restore helper failed: %s (errno %d)",
			 strerror(rc), rc);
		pid = -1;
	}
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	free(envp);
out:
	if (d >= 0)
		close(d);
	if (r >= 0)
		close(r);
	return pid;
}

__attribute__((constructor)) static void helper_entry(void)
{
	const char *e = getenv(HELPER_ENV);
	struct sb_xen_restore_args a;
	static char stream[512];
	long parent = 0;
	int n = 0;

	if (!e)
		return;
	memset(&a, 0, sizeof(a));
	if (sscanf(e, "%u:%u:%u:%d:%ld:%n", &a.domid, &a.store_port, &a.console_port,
		   &a.stream_type, &parent, &n) != 5 || !n)
		_exit(126);
	snprintf(stream, sizeof(stream), "%s", e + n);
	a.stream = stream;
	unsetenv(HELPER_ENV);
	/* The receiver decides the helper's fate (it may fail over on a signal
	 * sent to the whole group); if the receiver dies, so does the helper. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != (pid_t)parent)
		_exit(125);
	helper_main(&a, 3, 4);
}

/* ---------------------------------------------------------------- parent API */

int sb_xen_helper_start(struct sb_xen_helper *h, const struct sb_xen_restore_args *a,
			uint64_t queue_max, char *err, size_t errlen)
{
	int data[2], rep[2];
	int sndbuf = 4 << 20;

	memset(h, 0, sizeof(*h));
	h->args = *a;
	h->queue_max = queue_max;
	h->data_fd = h->report_fd = h->wake[0] = h->wake[1] = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, data) < 0) {
		snprintf(err, errlen, "socketpair (libxc data) failed: %s (errno %d)", strerror(errno), errno);
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, rep) < 0) {
		snprintf(err, errlen, "socketpair (reports) failed: %s (errno %d)", strerror(errno), errno);
		close(data[0]);
		close(data[1]);
		return -1;
	}
	setsockopt(data[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	h->pid = spawn_helper(a, data[1], rep[1], err, errlen);
	if (h->pid < 0) {
		h->pid = 0;
		close(data[0]); close(data[1]); close(rep[0]); close(rep[1]);
		return -1;
	}
	close(data[1]);
	close(rep[1]);
	h->data_fd = data[0];
	h->report_fd = rep[0];
	if (pipe2(h->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		snprintf(err, errlen, "pipe failed: %s (errno %d)", strerror(errno), errno);
		goto fail;
	}
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cond, NULL);
	if (pthread_create(&h->writer, NULL, writer_main, h) != 0) {
		snprintf(err, errlen, "pthread_create (writer) failed");
		goto fail;
	}
	h->thread_started = 1;
	return 0;
fail:
	sb_xen_helper_stop(h);
	return -1;
}

int sb_xen_helper_queue(struct sb_xen_helper *h, struct sb_buf *b, char *err, size_t errlen)
{
	struct sb_xen_chunk *c;
	int rc = 0;

	if (!b->len)
		return 0;
	pthread_mutex_lock(&h->mu);
	if (h->failed || h->have_result) {
		snprintf(err, errlen, "restore helper: %s",
			 h->failed ? h->error : "xc_domain_restore already returned");
		rc = -1;
	} else if (h->queued + b->len > h->queue_max) {
		snprintf(err, errlen, "restore helper is %llu bytes behind (bound %llu): libxc cannot keep up",
			 (unsigned long long)(h->queued + b->len), (unsigned long long)h->queue_max);
		rc = -1;
	} else if (!(c = malloc(sizeof(*c)))) {
		snprintf(err, errlen, "out of memory queueing for the restore helper");
		rc = -1;
	} else {
		c->next = NULL;
		c->data = b->data;
		c->len = b->len;
		sb_buf_init(b);
		if (h->tail)
			h->tail->next = c;
		else
			h->head = c;
		h->tail = c;
		h->queued += c->len;
	}
	pthread_mutex_unlock(&h->mu);
	if (!rc)
		wake(h);
	return rc;
}

uint64_t sb_xen_helper_checkpoints(struct sb_xen_helper *h)
{
	uint64_t n;
	pthread_mutex_lock(&h->mu);
	n = h->checkpoints;
	pthread_mutex_unlock(&h->mu);
	return n;
}

static void deadline_in(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

int sb_xen_helper_wait_checkpoints(struct sb_xen_helper *h, uint64_t n, int timeout_ms,
				   char *err, size_t errlen)
{
	struct timespec ts;
	int rc = 0;

	deadline_in(&ts, timeout_ms);
	pthread_mutex_lock(&h->mu);
	while (h->checkpoints < n && !h->failed && !h->have_result && !h->reports_closed)
		if (pthread_cond_timedwait(&h->cond, &h->mu, &ts) == ETIMEDOUT)
			break;
	if (h->checkpoints < n) {
		snprintf(err, errlen, "restore helper reached %llu of %llu checkpoints%s%s",
			 (unsigned long long)h->checkpoints, (unsigned long long)n,
			 h->failed ? ": " : " in time", h->failed ? h->error : "");
		rc = -1;
	}
	pthread_mutex_unlock(&h->mu);
	return rc;
}

int sb_xen_helper_finish(struct sb_xen_helper *h, int timeout_ms, struct sb_xen_result *res,
			 char *err, size_t errlen)
{
	struct timespec ts;
	int rc = -1;

	deadline_in(&ts, timeout_ms);
	pthread_mutex_lock(&h->mu);
	h->closing = 1;
	pthread_mutex_unlock(&h->mu);
	wake(h);
	pthread_mutex_lock(&h->mu);
	while (!h->have_result && !h->reports_closed)
		if (pthread_cond_timedwait(&h->cond, &h->mu, &ts) == ETIMEDOUT)
			break;
	if (!h->have_result)
		snprintf(err, errlen, "restore helper gave no result%s%s",
			 h->failed ? ": " : " in time", h->failed ? h->error : "");
	else if (h->result.rc != 0)
		snprintf(err, errlen, "xc_domain_restore failed: rc %d, errno %d (%s)",
			 h->result.rc, h->result.err, strerror(h->result.err));
	else {
		*res = h->result;
		rc = 0;
	}
	pthread_mutex_unlock(&h->mu);
	return rc;
}

void sb_xen_helper_stop(struct sb_xen_helper *h)
{
	if (h->thread_started) {
		pthread_mutex_lock(&h->mu);
		h->stop = 1;
		pthread_mutex_unlock(&h->mu);
		wake(h);
		pthread_join(h->writer, NULL);
		h->thread_started = 0;
		pthread_mutex_destroy(&h->mu);
		pthread_cond_destroy(&h->cond);
	}
	if (h->pid > 0) {
		int status;
		kill(h->pid, SIGKILL);
		while (waitpid(h->pid, &status, 0) < 0 && errno == EINTR)
			;
		h->pid = 0;
	}
	drop_queue(h);
	if (h->data_fd >= 0)
		close(h->data_fd);
	if (h->report_fd >= 0)
		close(h->report_fd);
	if (h->wake[0] >= 0)
		close(h->wake[0]);
	if (h->wake[1] >= 0)
		close(h->wake[1]);
	h->data_fd = h->report_fd = h->wake[0] = h->wake[1] = -1;
}

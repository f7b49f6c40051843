/*
 * sink.c - where the simulated primary's stream goes, and its back channel.
 *
 *   FILE        a regular file (no back channel)
 *   -           stdout (no back channel)
 *   unix:PATH   a connected unix stream socket (the back channel is the socket)
 *   tcp:H:P     a connected TCP socket (likewise)
 *   --exec CMD  `sh -c CMD` with its stdin reading the stream and its stdout
 *               as the back channel, as `xl -s ""` runs a receiver
 *
 * Every byte of the stream goes through pr_sink_write(), which counts them and
 * implements --crash-after-bytes.  Sockets and pipes are non-blocking: while a
 * write waits for room, acks arriving on the back channel are read at once so
 * their round-trip times are not inflated by our own writing.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include "primary/primary.h"

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int open_unix(struct pr_sink *s, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "primary: unix socket path too long: %s\n", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "primary: cannot connect to unix:%s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	s->fd = s->back_fd = fd;
	s->kind = PR_SINK_SOCKET;
	return 0;
}

static int open_tcp(struct pr_sink *s, const char *spec)
{
	char host[256];
	const char *colon = strrchr(spec, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	size_t hl;
	int fd = -1, rc;

	if (!colon || colon == spec || !colon[1]) {
		fprintf(stderr, "primary: --to tcp:HOST:PORT expected, got tcp:%s\n", spec);
		return -1;
	}
	hl = (size_t)(colon - spec);
	if (spec[0] == '[' && hl >= 2 && spec[hl - 1] == ']') {
		spec++;
		hl -= 2;
	}
	if (hl >= sizeof(host)) {
		fprintf(stderr, "primary: host name too long\n");
		return -1;
	}
	memcpy(host, spec, hl);
	host[hl] = '\0';
	rc = getaddrinfo(host, colon + 1, &hints, &res);
	if (rc) {
		fprintf(stderr, "primary: cannot resolve %s port %s: %s\n", host, colon + 1,
			gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		rc = errno;
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		fprintf(stderr, "primary: cannot connect to tcp:%s:%s: %s\n", host, colon + 1,
			strerror(rc));
		return -1;
	}
	s->fd = s->back_fd = fd;
	s->kind = PR_SINK_SOCKET;
	return 0;
}

static int open_exec(struct pr_sink *s, const char *cmd)
{
	int to_child[2], from_child[2];
	pid_t pid;

	if (pipe2(to_child, O_CLOEXEC) < 0)
		goto fail;
	if (pipe2(from_child, O_CLOEXEC) < 0) {
		close(to_child[0]);
		close(to_child[1]);
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		close(to_child[0]);
		close(to_child[1]);
		close(from_child[0]);
		close(from_child[1]);
		goto fail;
	}
	if (pid == 0) {
		signal(SIGPIPE, SIG_DFL);
		if (dup2(to_child[0], 0) < 0 || dup2(from_child[1], 1) < 0)
			_exit(127);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(to_child[0]);
	close(from_child[1]);
	s->fd = to_child[1];
	s->back_fd = from_child[0];
	s->child = pid;
	s->kind = PR_SINK_EXEC;
	return 0;
fail:
	fprintf(stderr, "primary: cannot start receiver '%s': %s\n", cmd, strerror(errno));
	return -1;
}

int pr_sink_open(struct pr_sink *s, const struct pr_config *cfg)
{
	const char *to = cfg->to;
	int rc;

	memset(s, 0, sizeof(*s));
	s->fd = s->back_fd = -1;
	s->crash_after = cfg->crash_after_bytes;
	if (cfg->exec_cmd) {
		snprintf(s->name, sizeof(s->name), "exec:%s", cfg->exec_cmd);
		rc = open_exec(s, cfg->exec_cmd);
	} else if (!strcmp(to, "-")) {
		snprintf(s->name, sizeof(s->name), "stdout");
		s->kind = PR_SINK_STDOUT;
		s->fd = 1;
		rc = 0;
	} else if (!strncmp(to, "unix:", 5)) {
		snprintf(s->name, sizeof(s->name), "%s", to);
		rc = open_unix(s, to + 5);
	} else if (!strncmp(to, "tcp:", 4)) {
		snprintf(s->name, sizeof(s->name), "%s", to);
		rc = open_tcp(s, to + 4);
	} else {
		snprintf(s->name, sizeof(s->name), "%s", to);
		s->kind = PR_SINK_FILE;
		s->fd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		rc = s->fd < 0 ? -1 : 0;
		if (rc)
			fprintf(stderr, "primary: cannot open %s: %s\n", to, strerror(errno));
	}
	if (rc)
		return -1;
	if (s->kind == PR_SINK_SOCKET || s->kind == PR_SINK_EXEC) {
		set_nonblock(s->fd);
		set_nonblock(s->back_fd);
	}
	return 0;
}

static int write_error(struct pr_sink *s, int err)
{
	if (err == EPIPE || err == ECONNRESET)
		fprintf(stderr, "primary: receiver gone: writing to %s after %llu bytes: %s\n",
			s->name, (unsigned long long)s->written, strerror(err));
	else
		fprintf(stderr, "primary: writing to %s after %llu bytes: %s\n", s->name,
			(unsigned long long)s->written, strerror(err));
	return -1;
}

/* Wait until the stream fd is writable, reading acks meanwhile. */
static void wait_writable(struct pr_sink *s)
{
	int acks = s->acks && s->acks->active && !s->acks->eof && !s->acks->bad;
	struct pollfd pf[2];
	nfds_t n = 1;

	pf[0].fd = s->fd;
	pf[0].events = POLLOUT;
	if (acks) {
		if (s->back_fd == s->fd) {
			pf[0].events |= POLLIN;
		} else {
			pf[1].fd = s->back_fd;
			pf[1].events = POLLIN;
			n = 2;
		}
	}
	if (poll(pf, n, 1000) <= 0)
		return;
	if (acks && ((n == 1 && (pf[0].revents & POLLIN)) ||
		     (n == 2 && (pf[1].revents & (POLLIN | POLLHUP)))))
		pr_acks_read(s->acks);
}

static int write_all(struct pr_sink *s, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(s->fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				wait_writable(s);
				continue;
			}
			return write_error(s, errno);
		}
		p += w;
		n -= (size_t)w;
		s->written += (uint64_t)w;
	}
	return 0;
}

int pr_sink_write(struct pr_sink *s, const void *p, size_t n)
{
	if (s->crashed)
		return PR_CRASHED;
	if (s->crash_after != UINT64_MAX && s->written + n >= s->crash_after) {
		int rc = write_all(s, p, (size_t)(s->crash_after - s->written));

		if (rc)
			return rc;
		pr_sink_crash(s);
		return PR_CRASHED;
	}
	return write_all(s, p, n);
}

void pr_sink_crash(struct pr_sink *s)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	if (s->crashed)
		return;
	s->crashed = 1;
	switch (s->kind) {
	case PR_SINK_SOCKET:
		setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(s->fd);
		s->fd = s->back_fd = -1;
		break;
	case PR_SINK_EXEC:
		close(s->fd);
		close(s->back_fd);
		s->fd = s->back_fd = -1;
		break;
	case PR_SINK_FILE:
		close(s->fd);
		s->fd = -1;
		break;
	case PR_SINK_STDOUT:
		close(1);
		s->fd = -1;
		break;
	}
	if (s->acks)
		s->acks->fd = -1;
}

static void wait_child(struct pr_sink *s, uint32_t wait_ms)
{
	double until = pr_now() + wait_ms / 1000.0;
	int status;

	for (;;) {
		pid_t r = waitpid(s->child, &status, WNOHANG);

		if (r == s->child)
			break;
		if (r < 0 || pr_now() >= until) {
			if (r == 0)
				fprintf(stderr, "primary: receiver (pid %d) still running; not waiting for it\n",
					(int)s->child);
			return;
		}
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status))
		fprintf(stderr, "primary: receiver exited with status %d\n", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		fprintf(stderr, "primary: receiver killed by signal %d\n", WTERMSIG(status));
}

int pr_sink_close(struct pr_sink *s, uint32_t wait_ms)
{
	int rc = 0;

	if (s->fd >= 0 && s->kind != PR_SINK_STDOUT) {
		if (close(s->fd) < 0) {
			fprintf(stderr, "primary: closing %s: %s\n", s->name, strerror(errno));
			rc = -1;
		}
	}
	if (s->back_fd >= 0 && s->back_fd != s->fd)
		close(s->back_fd);
	s->fd = s->back_fd = -1;
	if (s->acks)
		s->acks->fd = -1;
	if (s->child > 0)
		wait_child(s, wait_ms);
	s->child = 0;
	return rc;
}

int pr_sink_read_back(struct pr_sink *s, void *p, size_t n, uint32_t timeout_ms,
		      char *err, size_t errlen)
{
	double until = pr_now() + timeout_ms / 1000.0;
	uint8_t *d = p;
	size_t got = 0;

	if (s->back_fd < 0) {
		snprintf(err, errlen, "%s has no back channel", s->name);
		return -1;
	}
	while (got < n) {
		ssize_t r = read(s->back_fd, d + got, n - got);

		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		if (r == 0) {
			snprintf(err, errlen, "back channel of %s closed after %zu of %zu bytes",
				 s->name, got, n);
			return -1;
		}
		if (errno == EINTR && !pr_interrupted)
			continue;
		if (pr_interrupted) {
			snprintf(err, errlen, "interrupted");
			return -1;
		}
		if (errno != EAGAIN) {
			snprintf(err, errlen, "reading the back channel of %s: %s", s->name,
				 strerror(errno));
			return -1;
		}
		double left = until - pr_now();
		if (left <= 0) {
			snprintf(err, errlen, "timed out after %u ms on the back channel of %s (%zu of %zu bytes)",
				 timeout_ms, s->name, got, n);
			return -1;
		}
		struct pollfd pf = { .fd = s->back_fd, .events = POLLIN };
		poll(&pf, 1, (int)(left * 1000) + 1);
	}
	return 0;
}

/*
 * send.c - benchmark sender: replays a recorded stream file through sockets
 * as fast as the receiver takes it, and times it.  Not part of standby.
 *
 *   send -c unix:PATH|tcp:HOST:PORT -f FILE [options]
 *     -m acks      done when the ack of epoch -e LAST arrives (standby)
 *     -m drain     after the last byte shutdown(SHUT_WR); done when the peer
 *                  answers with a byte or closes (tests/bench/drain.c)
 *     -e LAST      last epoch of the file (acks mode)
 *     -n N -t T    T connections in all, at most N at a time (a new one starts
 *                  as soon as one is done); default 1 and 1
 *     -b FILE      lockstep: FILE holds the end offset of every epoch (one a
 *                  line, from `standby inspect`); epoch k+1 is sent only once
 *                  the ack of epoch k has arrived; prints every ack round trip
 *                  (last byte of the epoch written -> its ack read) to -r FILE
 *     -s BYTES     SO_SNDBUF of each connection (default: the system's)
 *     -x OFFSET    crash: write OFFSET bytes, close with RST (SO_LINGER 0) and
 *                  print the CLOCK_REALTIME of the close
 *
 * Output (stdout, one line): bytes B seconds S first_ack_s F cpu_s C
 *   S: from the first byte written to the last connection done;
 *   F: from the first byte written to the ack of epoch 0 (acks mode, T == 1);
 *   C: CPU time (user + system) of send itself, so that a figure can show
 *      whether the sender rather than the receiver was the limit.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#define WRITE_MAX (1u << 20)
#define MAX_CONN 1024

struct conn {
	int fd;
	size_t off;             /* bytes written */
	size_t limit;           /* may write up to here (lockstep) */
	size_t next_epoch;      /* lockstep: index of the epoch being sent */
	uint8_t ack[16];
	size_t ackn;
	int64_t last_ack;       /* -1 none */
	int shut, done;
	double t_epoch_end;     /* lockstep: when the epoch's last byte was written */
};

static const char *target;
static const uint8_t *data;
static size_t size;
static long long last_epoch = -1;
static int drain_mode;
static uint64_t *bounds;
static size_t nbounds;
static FILE *rtt_out;
static double t_start, t_first_ack;
static int sndbuf;

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0.0;
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void die(const char *what)
{
	fprintf(stderr, "send: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int dial(void)
{
	int fd;

	if (!strncmp(target, "unix:", 5)) {
		struct sockaddr_un a = { .sun_family = AF_UNIX };

		snprintf(a.sun_path, sizeof(a.sun_path), "%s", target + 5);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)))
			die(target);
	} else if (!strncmp(target, "tcp:", 4)) {
		char host[256], *port;
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
		int one = 1;

		snprintf(host, sizeof(host), "%s", target + 4);
		port = strrchr(host, ':');
		if (!port)
			die("tcp:HOST:PORT");
		*port++ = 0;
		if (getaddrinfo(host, port, &hints, &res))
			die("getaddrinfo");
		fd = socket(res->ai_family, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen))
			die(target);
		freeaddrinfo(res);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	} else {
		fprintf(stderr, "send: bad target %s\n", target);
		exit(2);
	}
	if (sndbuf && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)))
		die("SO_SNDBUF");
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

static void conn_start(struct conn *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = dial();
	c->last_ack = -1;
	c->limit = nbounds ? (size_t)bounds[0] : size;
}

static void conn_end(struct conn *c)
{
	close(c->fd);
	c->fd = -1;
	c->done = 1;
}

/* Acks in, or the drain's answer. */
static void conn_read(struct conn *c)
{
	uint8_t buf[4096];
	ssize_t n = read(c->fd, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (drain_mode && c->shut) {
			conn_end(c);
			return;
		}
		fprintf(stderr, "send: receiver closed the connection at byte %zu (last ack %lld)\n",
			c->off, (long long)c->last_ack);
		exit(1);
	}
	if (drain_mode) {
		conn_end(c);
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		c->ack[c->ackn++] = buf[i];
		if (c->ackn < 16)
			continue;
		c->ackn = 0;
		if (memcmp(c->ack, "STBYACK1", 8)) {
			fprintf(stderr, "send: not an ack on the back channel\n");
			exit(1);
		}
		memcpy(&c->last_ack, c->ack + 8, 8);   /* little-endian host */
		if (c->last_ack == 0 && !t_first_ack)
			t_first_ack = mono();
		if (nbounds && (size_t)c->last_ack == c->next_epoch) {
			if (rtt_out)
				fprintf(rtt_out, "%.1f\n", (mono() - c->t_epoch_end) * 1e6);
			c->next_epoch++;
			c->limit = c->next_epoch < nbounds ? (size_t)bounds[c->next_epoch] : size;
		}
		if (c->last_ack == last_epoch) {
			conn_end(c);
			return;
		}
	}
}

static void conn_write(struct conn *c)
{
	size_t want = c->limit - c->off;
	ssize_t n;

	if (want > WRITE_MAX)
		want = WRITE_MAX;
	n = write(c->fd, data + c->off, want);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		fprintf(stderr, "send: write at byte %zu: %s\n", c->off, strerror(errno));
		exit(1);
	}
	c->off += (size_t)n;
	if (nbounds && c->off == c->limit)
		c->t_epoch_end = mono();
	if (c->off == size && drain_mode && !c->shut) {
		shutdown(c->fd, SHUT_WR);
		c->shut = 1;
	}
}

static void crash(size_t at)
{
	struct conn c;
	struct linger l = { 1, 0 };
	struct timespec ts;

	conn_start(&c);
	c.limit = at;
	while (c.off < at) {
		struct pollfd p = { c.fd, POLLOUT | POLLIN, 0 };

		poll(&p, 1, -1);
		if (p.revents & POLLIN) {
			uint8_t junk[4096];
			if (read(c.fd, junk, sizeof(junk)) <= 0)
				die("receiver closed before the crash point");
		}
		if (p.revents & POLLOUT)
			conn_write(&c);
	}
	setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	clock_gettime(CLOCK_REALTIME, &ts);
	close(c.fd);
	printf("crash_realtime %lld.%09ld\n", (long long)ts.tv_sec, ts.tv_nsec);
}

static void load_bounds(const char *path)
{
	FILE *f = fopen(path, "r");
	unsigned long long v;
	size_t cap = 0;

	if (!f)
		die(path);
	while (fscanf(f, "%llu", &v) == 1) {
		if (nbounds == cap) {
			cap = cap ? cap * 2 : 1024;
			bounds = realloc(bounds, cap * sizeof(*bounds));
			if (!bounds)
				die("realloc");
		}
		bounds[nbounds++] = v;
	}
	fclose(f);
}

int main(int argc, char **argv)
{
	const char *file = NULL, *mode = "acks";
	int opt, par = 1, total = 1, started = 0, finished = 0;
	long long crash_at = -1;
	static struct conn conns[MAX_CONN];
	struct stat st;
	int fd;

	while ((opt = getopt(argc, argv, "c:f:m:e:n:t:b:r:s:x:")) != -1) {
		switch (opt) {
		case 'c': target = optarg; break;
		case 'f': file = optarg; break;
		case 'm': mode = optarg; break;
		case 'e': last_epoch = atoll(optarg); break;
		case 'n': par = atoi(optarg); break;
		case 't': total = atoi(optarg); break;
		case 'b': load_bounds(optarg); break;
		case 'r': rtt_out = fopen(optarg, "w"); if (!rtt_out) die(optarg); break;
		case 's': sndbuf = atoi(optarg); break;
		case 'x': crash_at = atoll(optarg); break;
		default:
			fprintf(stderr, "usage: send -c TARGET -f FILE [-m acks|drain] [-e LAST] [-n N -t T] [-b BOUNDS -r RTT] [-s SNDBUF] [-x OFFSET]\n");
			return 2;
		}
	}
	if (!target || !file || par < 1 || par > MAX_CONN || total < par) {
		fprintf(stderr, "send: need -c and -f; 1 <= -n <= %d, -t >= -n\n", MAX_CONN);
		return 2;
	}
	drain_mode = !strcmp(mode, "drain");
	if (!drain_mode && last_epoch < 0 && crash_at < 0) {
		fprintf(stderr, "send: acks mode needs -e LAST\n");
		return 2;
	}
	fd = open(file, O_RDONLY);
	if (fd < 0 || fstat(fd, &st))
		die(file);
	size = (size_t)st.st_size;
	data = mmap(NULL, size, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (data == MAP_FAILED)
		die("mmap");
	if (crash_at >= 0) {
		crash((size_t)crash_at);
		return 0;
	}

	t_start = mono();
	for (; started < par; started++)
		conn_start(&conns[started]);
	while (finished < total) {
		struct pollfd p[MAX_CONN];
		int idx[MAX_CONN], np = 0;

		for (int i = 0; i < par; i++) {
			struct conn *c = &conns[i];

			if (c->done)
				continue;
			p[np].fd = c->fd;
			p[np].events = POLLIN | (c->off < c->limit ? POLLOUT : 0);
			idx[np++] = i;
		}
		if (poll(p, (nfds_t)np, -1) < 0 && errno != EINTR)
			die("poll");
		for (int k = 0; k < np; k++) {
			struct conn *c = &conns[idx[k]];

			if (p[k].revents & (POLLIN | POLLHUP | POLLERR))
				conn_read(c);
			if (!c->done && (p[k].revents & POLLOUT))
				conn_write(c);
			if (c->done) {
				finished++;
				if (started < total) {
					conn_start(c);
					started++;
				}
			}
		}
	}
	printf("bytes %llu seconds %.6f first_ack_s %.6f cpu_s %.3f\n",
	       (unsigned long long)size * (unsigned long long)total, mono() - t_start,
	       t_first_ack ? t_first_ack - t_start : 0.0, cpu_seconds());
	if (rtt_out)
		fclose(rtt_out);
	return 0;
}

/*
 * drain.c - benchmark reader that only discards: the raw drain rate of a
 * socket, against which standby's ingest is measured.  Not part of standby.
 *
 *   drain unix:PATH|tcp:ADDR:PORT READYFILE
 *
 * Listens, creates READYFILE, then serves connections one after another in a
 * plain blocking read loop (1 MiB reads: the largest read standby makes,
 * straight into a record body), and answers each with one byte once it has
 * read the sender's EOF.  Runs until killed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>

#define CHUNK (1024 * 1024)

static int listen_on(const char *where)
{
	int fd, one = 1;

	if (!strncmp(where, "unix:", 5)) {
		struct sockaddr_un a = { .sun_family = AF_UNIX };

		snprintf(a.sun_path, sizeof(a.sun_path), "%s", where + 5);
		unlink(a.sun_path);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)))
			return -1;
	} else if (!strncmp(where, "tcp:", 4)) {
		struct sockaddr_in a = { .sin_family = AF_INET };
		char host[64], *port;

		snprintf(host, sizeof(host), "%s", where + 4);
		port = strrchr(host, ':');
		if (!port)
			return -1;
		*port++ = 0;
		a.sin_port = htons((unsigned short)atoi(port));
		if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
			return -1;
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			return -1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)))
			return -1;
	} else {
		errno = EINVAL;
		return -1;
	}
	return listen(fd, 64) ? -1 : fd;
}

int main(int argc, char **argv)
{
	static char buf[CHUNK];
	int lfd, rfd;

	if (argc != 3) {
		fprintf(stderr, "usage: drain unix:PATH|tcp:ADDR:PORT READYFILE\n");
		return 2;
	}
	lfd = listen_on(argv[1]);
	if (lfd < 0) {
		fprintf(stderr, "drain: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	rfd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (rfd < 0)
		return 1;
	close(rfd);
	for (;;) {
		int c = accept(lfd, NULL, NULL);
		ssize_t n;

		if (c < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		while ((n = read(c, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
			;
		if (write(c, "", 1) != 1)
			perror("drain: answer");
		close(c);
	}
}

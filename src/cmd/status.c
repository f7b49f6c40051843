/*
 * status.c - `standby status --socket PATH`: print the JSON status of a
 * running receive or serve (their --status-socket).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include "cmd/commands.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: standby status --socket PATH\n\n"
		"Print, as one JSON document, the state of every stream of a running\n"
		"`standby receive` or `standby serve` started with --status-socket PATH:\n"
		"name, domain, phase, committed epoch, bytes, records, last error, target.\n");
}

int cmd_status(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { 5, 0 };
	const char *path = NULL;
	char buf[65536];
	int c, fd, got = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "s:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's': path = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!path || optind < argc || strlen(path) >= sizeof(sa.sun_path)) {
		usage(stderr);
		return 2;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		fprintf(stderr, "standby status: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "standby status: %s: %s\n", path, strerror(errno));
			close(fd);
			return 1;
		}
		if (n == 0)
			break;
		fwrite(buf, 1, (size_t)n, stdout);
		got = 1;
	}
	close(fd);
	return got ? 0 : 1;
}

/*
 * listen.c - serve's sockets: unix (0600) or TCP on an explicit address, and
 * the --allow CIDR list checked on every accepted TCP peer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "recv/listen.h"

int sb_allow_parse(const char *cidr, struct sb_allow *out)
{
	char buf[128];
	char *slash;
	unsigned max;

	if (strlen(cidr) >= sizeof(buf))
		return -1;
	strcpy(buf, cidr);
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else {
		return -1;
	}
	out->prefix = max;
	if (slash) {
		char *end;
		unsigned long p = strtoul(slash, &end, 10);

		if (!*slash || *end || p > max)
			return -1;
		out->prefix = (unsigned)p;
	}
	return 0;
}

static int prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;

	if (memcmp(a, b, full))
		return 0;
	if (rest) {
		uint8_t m = (uint8_t)(0xFF << (8 - rest));
		if ((a[full] & m) != (b[full] & m))
			return 0;
	}
	return 1;
}

int sb_allow_match(const struct sb_allow *list, size_t n, const struct sockaddr *peer)
{
	uint8_t a4[4], a6[16];
	int has4 = 0, has6 = 0;

	if (peer->sa_family == AF_INET) {
		memcpy(a4, &((const struct sockaddr_in *)peer)->sin_addr, 4);
		has4 = 1;
	} else if (peer->sa_family == AF_INET6) {
		const struct in6_addr *in6 = &((const struct sockaddr_in6 *)peer)->sin6_addr;

		memcpy(a6, in6, 16);
		has6 = 1;
		if (IN6_IS_ADDR_V4MAPPED(in6)) {
			memcpy(a4, a6 + 12, 4);
			has4 = 1;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (list[i].family == AF_INET && has4 && prefix_eq(a4, list[i].addr, list[i].prefix))
			return 1;
		if (list[i].family == AF_INET6 && has6 && prefix_eq(a6, list[i].addr, list[i].prefix))
			return 1;
	}
	return 0;
}

void sb_peer_string(const struct sockaddr *sa, char *out, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(out, len, "%s:%u", a, ntohs(s4->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(out, len, "[%s]:%u", a, ntohs(s6->sin6_port));
	} else {
		snprintf(out, len, "local");
	}
}

static int open_unix(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int fd;

	if (!*path || strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "bad unix socket path '%s'", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	if (lstat(path, &st) == 0) {
		int probe;

		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a socket", path);
			return -1;
		}
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(probe);
			snprintf(err, errlen, "%s: another server is listening there", path);
			return -1;
		}
		if (probe >= 0)
			close(probe);
		unlink(path);   /* stale socket of a dead server */
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		umask(old);
		snprintf(err, errlen, "bind %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	if (listen(fd, 64)) {
		snprintf(err, errlen, "listen %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int open_tcp(const char *spec, int allow_given, char *err, size_t errlen)
{
	char host[128];
	const char *colon = strrchr(spec, ':');
	struct sockaddr_storage ss;
	socklen_t sl;
	unsigned long port;
	char *end;
	size_t hl;
	int fd, one = 1;

	if (!colon || colon == spec) {
		snprintf(err, errlen, "tcp:%s: an explicit address is required (tcp:ADDR:PORT, e.g. tcp:127.0.0.1:7000)", spec);
		return -1;
	}
	hl = (size_t)(colon - spec);
	if (hl >= sizeof(host)) {
		snprintf(err, errlen, "tcp:%s: address too long", spec);
		return -1;
	}
	memcpy(host, spec, hl);
	host[hl] = '\0';
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	port = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || port == 0 || port > 65535) {
		snprintf(err, errlen, "tcp:%s: bad port", spec);
		return -1;
	}
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		sl = sizeof(*s4);
		if (s4->sin_addr.s_addr == htonl(INADDR_ANY) && !allow_given) {
			snprintf(err, errlen, "tcp:%s: refusing the wildcard address without --allow", spec);
			return -1;
		}
	} else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		sl = sizeof(*s6);
		if (IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr) && !allow_given) {
			snprintf(err, errlen, "tcp:%s: refusing the wildcard address without --allow", spec);
			return -1;
		}
	} else {
		snprintf(err, errlen, "tcp:%s: '%s' is not a numeric IPv4 or IPv6 address", spec, host);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) || listen(fd, 64)) {
		snprintf(err, errlen, "tcp:%s: %s", spec, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int sb_listen_open(const char *spec, int allow_given, int *is_unix, char *err, size_t errlen)
{
	if (!strncmp(spec, "unix:", 5)) {
		*is_unix = 1;
		return open_unix(spec + 5, err, errlen);
	}
	if (!strncmp(spec, "tcp:", 4)) {
		*is_unix = 0;
		return open_tcp(spec + 4, allow_given, err, errlen);
	}
	snprintf(err, errlen, "--listen %s: expected unix:PATH or tcp:ADDR:PORT", spec);
	return -1;
}

/*
 * listen.h - serve's listening sockets and its --allow list.
 */
#ifndef STANDBY_RECV_LISTEN_H
#define STANDBY_RECV_LISTEN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct sb_allow {
	int family;             /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned prefix;
};

/* "10.0.0.0/8", "192.168.1.7", "fd00::/8", "::1" -> 0, or -1 */
int sb_allow_parse(const char *cidr, struct sb_allow *out);
/* 1 when the peer is in the list (IPv4-mapped IPv6 peers match IPv4 entries) */
int sb_allow_match(const struct sb_allow *list, size_t n, const struct sockaddr *peer);

/* "unix:PATH" (created 0600) or "tcp:ADDR:PORT" (ADDR required; "[v6]" allowed).
 * A wildcard address is refused unless allow_given.  Returns a non-blocking
 * listening fd, or -1 with err filled.  *is_unix tells which. */
int sb_listen_open(const char *spec, int allow_given, int *is_unix, char *err, size_t errlen);
void sb_peer_string(const struct sockaddr *sa, char *out, size_t len);

#endif

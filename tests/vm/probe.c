/*
 * probe.c - numbered test packets for the netbuf VM tests (built by
 * tests/vm/build.sh; not part of standby).
 *
 *   probe send IFACE FIRST COUNT SIZE KIND=DST...
 *       For each KIND=DST in turn: KIND udp4 / udp6 sends COUNT UDP datagrams
 *       to DST port 7777; KIND arp sends COUNT broadcast ARP requests for DST,
 *       raw on IFACE.  Each carries "SBPROBE KIND SEQ" (SEQ = FIRST,
 *       FIRST+1, ...), padded to SIZE payload bytes (0: 64).
 *   probe recv IFACE
 *       Prints "ready", then "KIND SEQ" for every probe received on UDP port
 *       7777 (IPv4 and IPv6) and every probe ARP frame arriving on IFACE, one
 *       line each as they arrive, until killed.  The ARP socket is bound to
 *       ETH_P_ARP, so it sees frames after the ingress hook (a redirected
 *       frame is seen once, when it comes back from the IFB), not before.
 *   probe pace DST INTERVAL_MS LOG
 *       Sends UDPv4 probes 1, 2, ... to DST, one every INTERVAL_MS, until killed,
 *       and prints "sent SEQ C A C2 A2" for each: the state of the receiver's log
 *       LOG read just before (C, A) and just after (C2, A2) the sendto():
 *       C = lines with "committed, releasing" (the receiver's -v line written
 *       just before it releases epoch C-1's output), A = 1 once a
 *       line has "activated epoch", 2 once one has "traffic passes through"
 *       (the receiver's netbuf failover is done).
 *
 * With PROBE_LOG=LOG in its environment, `recv` appends " C A" (the log's
 * state when the probe was received) to each line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define PORT 7777
#define MAGIC "SBPROBE "

static _Noreturn void die(const char *what)
{
	perror(what);
	exit(1);
}

static int raw_socket(const char *iface, int proto, struct sockaddr_ll *sll, unsigned char mac[6])
{
	struct ifreq ifr;
	int s = socket(AF_PACKET, SOCK_RAW, htons(proto));

	if (s < 0)
		die("socket(AF_PACKET)");
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", iface);
	if (ioctl(s, SIOCGIFINDEX, &ifr) < 0)
		die(iface);
	memset(sll, 0, sizeof(*sll));
	sll->sll_family = AF_PACKET;
	sll->sll_protocol = htons(proto);
	sll->sll_ifindex = ifr.ifr_ifindex;
	if (mac) {
		if (ioctl(s, SIOCGIFHWADDR, &ifr) < 0)
			die("SIOCGIFHWADDR");
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	}
	return s;
}

static int send_kind(const char *iface, const char *kind, const char *dst, unsigned first,
		     unsigned count, size_t size)
{
	unsigned char buf[9000], mac[6];
	struct sockaddr_ll sll;
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(PORT) };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(PORT) };
	int s, arp = !strcmp(kind, "arp"), v6 = !strcmp(kind, "udp6");
	size_t hdr = arp ? 42 : 0;

	if (size < 32 || size > 8000)
		size = 64;
	if (arp) {
		s = raw_socket(iface, ETH_P_ARP, &sll, mac);
	} else if (v6) {
		s = socket(AF_INET6, SOCK_DGRAM, 0);
		if (inet_pton(AF_INET6, dst, &a6.sin6_addr) != 1)
			die("bad IPv6 address");
	} else if (!strcmp(kind, "udp4")) {
		s = socket(AF_INET, SOCK_DGRAM, 0);
		if (inet_pton(AF_INET, dst, &a4.sin_addr) != 1)
			die("bad IPv4 address");
	} else {
		fprintf(stderr, "probe: unknown kind %s\n", kind);
		return 2;
	}
	if (s < 0)
		die("socket");
	for (unsigned i = 0; i < count; i++) {
		memset(buf, 0, sizeof(buf));
		if (arp) {
			struct in_addr tpa;
			if (inet_pton(AF_INET, dst, &tpa) != 1)
				die("bad IPv4 address");
			memset(buf, 0xff, 6);                          /* broadcast */
			memcpy(buf + 6, mac, 6);
			buf[12] = 0x08; buf[13] = 0x06;                /* ARP */
			buf[14] = 0; buf[15] = 1;                      /* Ethernet */
			buf[16] = 0x08; buf[17] = 0;                   /* IPv4 */
			buf[18] = 6; buf[19] = 4; buf[20] = 0; buf[21] = 1;  /* request */
			memcpy(buf + 22, mac, 6);                      /* sender: 0.0.0.0 (a probe) */
			memcpy(buf + 38, &tpa, 4);
		}
		snprintf((char *)buf + hdr, sizeof(buf) - hdr, MAGIC "%s %u", kind, first + i);
		ssize_t w = arp ? sendto(s, buf, hdr + size, 0, (struct sockaddr *)&sll, sizeof(sll))
			  : v6 ? sendto(s, buf, size, 0, (struct sockaddr *)&a6, sizeof(a6))
			  : sendto(s, buf, size, 0, (struct sockaddr *)&a4, sizeof(a4));
		if (w < 0)
			die("sendto");
	}
	close(s);
	return 0;
}

static int send_probes(char **argv, int argc)
{
	unsigned first = (unsigned)atoi(argv[3]), count = (unsigned)atoi(argv[4]);
	size_t size = (size_t)atoi(argv[5]);

	for (int i = 6; i < argc; i++) {
		char kind[16], *eq = strchr(argv[i], '=');
		if (!eq || eq - argv[i] >= (int)sizeof(kind)) {
			fprintf(stderr, "probe: want KIND=DST, not %s\n", argv[i]);
			return 2;
		}
		snprintf(kind, sizeof(kind), "%.*s", (int)(eq - argv[i]), argv[i]);
		if (send_kind(argv[2], kind, eq + 1, first, count, size))
			return 1;
	}
	return 0;
}

/* The receiver's -v log: commits so far, and whether it activated. */
static void log_state(const char *path, unsigned *commits, int *activated)
{
	char line[2048];
	FILE *f = fopen(path, "r");

	*commits = 0;
	*activated = 0;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "committed, releasing"))
			(*commits)++;
		if (strstr(line, "activated epoch") && !*activated)
			*activated = 1;
		if (strstr(line, "traffic passes through"))
			*activated = 2;
	}
	fclose(f);
}

static _Noreturn void pace(const char *dst, unsigned interval_ms, const char *log)
{
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(PORT) };
	char buf[64];
	int s = socket(AF_INET, SOCK_DGRAM, 0);

	if (s < 0)
		die("socket");
	if (inet_pton(AF_INET, dst, &a4.sin_addr) != 1)
		die("bad IPv4 address");
	for (unsigned seq = 1;; seq++) {
		unsigned c, c2;
		int a, a2;

		memset(buf, 0, sizeof(buf));
		snprintf(buf, sizeof(buf), MAGIC "udp4 %u", seq);
		log_state(log, &c, &a);
		if (sendto(s, buf, sizeof(buf), 0, (struct sockaddr *)&a4, sizeof(a4)) < 0)
			die("sendto");
		log_state(log, &c2, &a2);
		printf("sent %u %u %d %u %d\n", seq, c, a, c2, a2);
		fflush(stdout);
		usleep(interval_ms * 1000u);
	}
}

static void report(const unsigned char *p, size_t n)
{
	char kind[8];
	unsigned seq;
	char text[64];

	if (n > sizeof(text) - 1)
		n = sizeof(text) - 1;
	memcpy(text, p, n);
	text[n] = 0;
	if (strncmp(text, MAGIC, strlen(MAGIC)) || sscanf(text + strlen(MAGIC), "%7s %u", kind, &seq) != 2)
		return;
	if (getenv("PROBE_LOG")) {
		unsigned c;
		int a;

		log_state(getenv("PROBE_LOG"), &c, &a);
		printf("%s %u %u %d\n", kind, seq, c, a);
	} else {
		printf("%s %u\n", kind, seq);
	}
	fflush(stdout);
}

static _Noreturn void recv_probes(const char *iface)
{
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(PORT) };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(PORT), .sin6_addr = IN6ADDR_ANY_INIT };
	struct sockaddr_ll sll;
	struct pollfd fds[3];
	unsigned char buf[9100];
	int one = 1;

	fds[0].fd = socket(AF_INET, SOCK_DGRAM, 0);
	fds[1].fd = socket(AF_INET6, SOCK_DGRAM, 0);
	if (fds[0].fd < 0 || fds[1].fd < 0)
		die("socket");
	setsockopt(fds[1].fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fds[0].fd, (struct sockaddr *)&a4, sizeof(a4)) < 0)
		die("bind udp4");
	if (bind(fds[1].fd, (struct sockaddr *)&a6, sizeof(a6)) < 0)
		die("bind udp6");
	fds[2].fd = raw_socket(iface, ETH_P_ARP, &sll, NULL);
	if (bind(fds[2].fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		die("bind arp");
	for (int i = 0; i < 3; i++)
		fds[i].events = POLLIN;
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		if (poll(fds, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		for (int i = 0; i < 3; i++) {
			if (!(fds[i].revents & POLLIN))
				continue;
			ssize_t n = recv(fds[i].fd, buf, sizeof(buf), 0);
			if (n < 0)
				continue;
			if (i == 2) {
				if (n > 42)
					report(buf + 42, (size_t)n - 42);
			} else {
				report(buf, (size_t)n);
			}
		}
	}
}

int main(int argc, char **argv)
{
	if (argc >= 7 && !strcmp(argv[1], "send"))
		return send_probes(argv, argc);
	if (argc == 3 && !strcmp(argv[1], "recv"))
		recv_probes(argv[2]);
	if (argc == 5 && !strcmp(argv[1], "pace"))
		pace(argv[2], (unsigned)atoi(argv[3]), argv[4]);
	fprintf(stderr, "usage: probe send IFACE FIRST COUNT SIZE udp4|udp6|arp=DST... | probe recv IFACE | probe pace DST MS LOG\n");
	return 2;
}

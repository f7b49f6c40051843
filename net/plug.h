/*
 * plug.h - one root `plug` qdisc, through libnl-route-3 (internal to net/).
 *
 * Every kernel command follows libxl_netbuffer.c: a qdisc object naming the
 * interface, the root parent, the plug's handle and kind "plug", one plug
 * action set on it, then rtnl_qdisc_add(NLM_F_REQUEST), which the kernel
 * treats as a change of the existing plug.  libnl's error codes are turned
 * into sentences naming the interface and what to do about it.
 */
#ifndef STANDBY_NET_PLUG_H
#define STANDBY_NET_PLUG_H

#include <stddef.h>
#include <stdint.h>
#include <net/if.h>

struct nl_sock;

struct sb_plug {
	char iface[IF_NAMESIZE];
	int ifindex;
	uint32_t handle;        /* of the root plug */
	int created;            /* standby created it (and removes it) */
};

enum sb_plug_action { SB_PLUG_BUFFER, SB_PLUG_RELEASE_ONE, SB_PLUG_RELEASE_INDEFINITE, SB_PLUG_LIMIT };

struct sb_plug_stats {
	uint64_t qlen;          /* packets held */
	uint64_t backlog;       /* bytes held */
	uint64_t drops;         /* over the limit, since creation */
};

/* A connected NETLINK_ROUTE socket. */
struct nl_sock *sb_nl_open(char *err, size_t errlen);
void sb_nl_close(struct nl_sock *sk);

/* ifindex of iface, or -1 with "no network interface named ..." */
int sb_link_index(struct nl_sock *sk, const char *iface, char *err, size_t errlen);
/* Bring iface up. */
int sb_link_up(struct nl_sock *sk, const char *iface, char *err, size_t errlen);

/* The root qdisc of ifindex: *kind ("" when the device has none) and *handle
 * (0 for a kernel default qdisc). */
int sb_root_qdisc(struct nl_sock *sk, int ifindex, char *kind, size_t kindlen,
		  uint32_t *handle, char *err, size_t errlen);

/* Adopt the root plug of iface, or create one holding `limit` bytes when the
 * root is a kernel default.  Fills p. */
int sb_plug_attach(struct nl_sock *sk, struct sb_plug *p, const char *iface, uint64_t limit,
		   char *err, size_t errlen);
/* Send one plug command (limit is used by SB_PLUG_LIMIT only). */
int sb_plug_cmd(struct nl_sock *sk, const struct sb_plug *p, enum sb_plug_action a,
		uint64_t limit, char *err, size_t errlen);
int sb_plug_stats(struct nl_sock *sk, const struct sb_plug *p, struct sb_plug_stats *st,
		  char *err, size_t errlen);
/* Create a root plug with `limit` bytes on ifindex (handle 0: the kernel picks). */
int sb_plug_create(struct nl_sock *sk, int ifindex, uint32_t handle, uint64_t limit,
		   const char *iface, char *err, size_t errlen);
/* Delete the root plug (only if it is still this plug). Its packets are dropped. */
int sb_plug_delete(struct nl_sock *sk, const struct sb_plug *p, char *err, size_t errlen);

/* "why" text for a libnl error in context: names the missing module,
 * permission, etc.  op is e.g. "create the plug qdisc". */
void sb_nl_error(char *err, size_t errlen, const char *iface, const char *op, int nlerr);

const char *sb_plug_action_name(enum sb_plug_action a);

#endif

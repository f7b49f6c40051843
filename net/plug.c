/*
 * plug.c - one root `plug` qdisc through libnl-route-3: find, create,
 * command, read statistics, delete.  See plug.h.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <linux/pkt_sched.h>
#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/plug.h>
#include "plug.h"

const char *sb_plug_action_name(enum sb_plug_action a)
{
	switch (a) {
	case SB_PLUG_BUFFER: return "buffer (seal the epoch)";
	case SB_PLUG_RELEASE_ONE: return "release_one (release the sealed epoch)";
	case SB_PLUG_RELEASE_INDEFINITE: return "release_indefinite (pass everything)";
	case SB_PLUG_LIMIT: return "set the limit";
	}
	return "?";
}

void sb_nl_error(char *err, size_t errlen, const char *iface, const char *op, int nlerr)
{
	const char *hint = "";

	if (nlerr < 0)
		nlerr = -nlerr;
	switch (nlerr) {
	case NLE_PERM:
	case NLE_NOACCESS:
		hint = " (needs root or CAP_NET_ADMIN)";
		break;
	case NLE_NODEV:
		hint = " (the interface is gone)";
		break;
	}
	snprintf(err, errlen, "%s: cannot %s: %s%s", iface, op, nl_geterror(nlerr), hint);
}

struct nl_sock *sb_nl_open(char *err, size_t errlen)
{
	struct nl_sock *sk = nl_socket_alloc();
	int e;

	if (!sk) {
		snprintf(err, errlen, "cannot allocate a netlink socket (out of memory)");
		return NULL;
	}
	e = nl_connect(sk, NETLINK_ROUTE);
	if (e < 0) {
		snprintf(err, errlen, "cannot open a NETLINK_ROUTE socket: %s", nl_geterror(e));
		nl_socket_free(sk);
		return NULL;
	}
	return sk;
}

void sb_nl_close(struct nl_sock *sk)
{
	if (sk) {
		nl_close(sk);
		nl_socket_free(sk);
	}
}

int sb_link_index(struct nl_sock *sk, const char *iface, char *err, size_t errlen)
{
	struct rtnl_link *link = NULL;
	int e, idx;

	if (!iface[0] || strlen(iface) >= IF_NAMESIZE) {
		snprintf(err, errlen, "'%s' is not a valid interface name (1 to %d characters)",
			 iface, IF_NAMESIZE - 1);
		return -1;
	}
	e = rtnl_link_get_kernel(sk, 0, iface, &link);
	if (e == -NLE_OBJ_NOTFOUND || e == -NLE_NODEV) {
		snprintf(err, errlen, "%s: no such network interface", iface);
		return -1;
	}
	if (e < 0) {
		sb_nl_error(err, errlen, iface, "look up the interface", e);
		return -1;
	}
	idx = rtnl_link_get_ifindex(link);
	rtnl_link_put(link);
	return idx;
}

int sb_link_up(struct nl_sock *sk, const char *iface, char *err, size_t errlen)
{
	struct rtnl_link *link = NULL, *change;
	int e;

	e = rtnl_link_get_kernel(sk, 0, iface, &link);
	if (e < 0) {
		sb_nl_error(err, errlen, iface, "look up the interface", e);
		return -1;
	}
	change = rtnl_link_alloc();
	if (!change) {
		rtnl_link_put(link);
		snprintf(err, errlen, "%s: out of memory", iface);
		return -1;
	}
	rtnl_link_set_flags(change, IFF_UP);
	e = rtnl_link_change(sk, link, change, 0);
	rtnl_link_put(change);
	rtnl_link_put(link);
	if (e < 0) {
		sb_nl_error(err, errlen, iface, "bring the interface up", e);
		return -1;
	}
	return 0;
}

/* The root qdisc object of ifindex from a fresh dump, or NULL (*e < 0 on error). */
static struct rtnl_qdisc *root_qdisc(struct nl_sock *sk, int ifindex, int *e)
{
	struct nl_cache *cache = NULL;
	struct rtnl_qdisc *q;

	*e = rtnl_qdisc_alloc_cache(sk, &cache);
	if (*e < 0)
		return NULL;
	q = rtnl_qdisc_get_by_parent(cache, ifindex, TC_H_ROOT);
	nl_cache_free(cache);        /* q keeps its own reference */
	return q;
}

int sb_root_qdisc(struct nl_sock *sk, int ifindex, char *kind, size_t kindlen,
		  uint32_t *handle, char *err, size_t errlen)
{
	struct rtnl_qdisc *q;
	const char *k;
	int e;

	q = root_qdisc(sk, ifindex, &e);
	if (e < 0) {
		sb_nl_error(err, errlen, "qdiscs", "list them", e);
		return -1;
	}
	kind[0] = 0;
	*handle = 0;
	if (q) {
		k = rtnl_tc_get_kind(TC_CAST(q));
		snprintf(kind, kindlen, "%s", k ? k : "");
		*handle = rtnl_tc_get_handle(TC_CAST(q));
		rtnl_qdisc_put(q);
	}
	return 0;
}

/* A root qdisc object of ifindex (with handle, when not 0) to fill in and send. */
static struct rtnl_qdisc *new_root_qdisc(int ifindex, uint32_t handle, const char *iface,
					 char *err, size_t errlen)
{
	struct rtnl_qdisc *q = rtnl_qdisc_alloc();

	if (!q) {
		snprintf(err, errlen, "%s: out of memory", iface);
		return NULL;
	}
	rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
	rtnl_tc_set_parent(TC_CAST(q), TC_H_ROOT);
	if (handle)
		rtnl_tc_set_handle(TC_CAST(q), handle);
	return q;
}

int sb_plug_create(struct nl_sock *sk, int ifindex, uint32_t handle, uint64_t limit,
		   const char *iface, char *err, size_t errlen)
{
	struct rtnl_qdisc *q = new_root_qdisc(ifindex, handle, iface, err, errlen);
	int e;

	if (!q)
		return -1;
	e = rtnl_tc_set_kind(TC_CAST(q), "plug");
	/* A plug created without a limit holds 0 bytes: it drops every packet. */
	if (e >= 0)
		e = rtnl_qdisc_plug_set_limit(q, (int)limit);
	if (e >= 0)
		e = rtnl_qdisc_add(sk, q, NLM_F_CREATE | NLM_F_EXCL);
	rtnl_qdisc_put(q);
	if (e == -NLE_OBJ_NOTFOUND) {
		snprintf(err, errlen, "%s: cannot create a plug qdisc: the kernel has no 'plug' qdisc "
			 "(libnl: %s; needs sch_plug: CONFIG_NET_SCH_PLUG, 'modprobe sch_plug')",
			 iface, nl_geterror(e));
		return -1;
	}
	if (e < 0) {
		sb_nl_error(err, errlen, iface, "create a plug qdisc", e);
		return -1;
	}
	return 0;
}

int sb_plug_attach(struct nl_sock *sk, struct sb_plug *p, const char *iface, uint64_t limit,
		   char *err, size_t errlen)
{
	char kind[32];
	uint32_t handle;

	memset(p, 0, sizeof(*p));
	p->ifindex = sb_link_index(sk, iface, err, errlen);
	if (p->ifindex < 0)
		return -1;
	snprintf(p->iface, sizeof(p->iface), "%s", iface);
	if (sb_root_qdisc(sk, p->ifindex, kind, sizeof(kind), &handle, err, errlen) < 0)
		return -1;
	if (handle && strcmp(kind, "plug")) {
		snprintf(err, errlen, "%s: the root qdisc is '%s' (handle %x:), not a plug; "
			 "standby does not replace a qdisc it did not create (remove it, or give "
			 "standby an interface whose root is a plug or the kernel default)",
			 iface, kind, handle >> 16);
		return -1;
	}
	if (!handle) {
		if (sb_plug_create(sk, p->ifindex, 0, limit, iface, err, errlen) < 0)
			return -1;
		if (sb_root_qdisc(sk, p->ifindex, kind, sizeof(kind), &handle, err, errlen) < 0)
			return -1;
		if (strcmp(kind, "plug") || !handle) {
			snprintf(err, errlen, "%s: created a plug qdisc but the root is now '%s'",
				 iface, kind);
			return -1;
		}
		p->created = 1;
	}
	p->handle = handle;
	return 0;
}

int sb_plug_cmd(struct nl_sock *sk, const struct sb_plug *p, enum sb_plug_action a,
		uint64_t limit, char *err, size_t errlen)
{
	struct rtnl_qdisc *q = new_root_qdisc(p->ifindex, p->handle, p->iface, err, errlen);
	struct nl_msg *msg = NULL;
	int e;

	if (!q)
		return -1;
	e = rtnl_tc_set_kind(TC_CAST(q), "plug");
	if (e >= 0) {
		switch (a) {
		case SB_PLUG_BUFFER: e = rtnl_qdisc_plug_buffer(q); break;
		case SB_PLUG_RELEASE_ONE: e = rtnl_qdisc_plug_release_one(q); break;
		case SB_PLUG_RELEASE_INDEFINITE: e = rtnl_qdisc_plug_release_indefinite(q); break;
		case SB_PLUG_LIMIT: e = rtnl_qdisc_plug_set_limit(q, (int)limit); break;
		}
	}
	/* libnl always asks for NLM_F_CREATE on an add.  Clear it: if our plug
	 * is gone, the kernel must refuse the command (ENOENT), not create a
	 * fresh plug with limit 0 that would drop every packet. */
	if (e >= 0)
		e = rtnl_qdisc_build_add_request(q, NLM_F_REQUEST, &msg);
	if (e >= 0) {
		nlmsg_hdr(msg)->nlmsg_flags &= ~NLM_F_CREATE;
		e = nl_send_auto_complete(sk, msg);
		nlmsg_free(msg);
		if (e >= 0)
			e = nl_wait_for_ack(sk);
	}
	rtnl_qdisc_put(q);
	if (e == -NLE_OBJ_NOTFOUND || e == -NLE_INVAL) {
		snprintf(err, errlen, "%s: cannot %s: the root plug qdisc (handle %x:) is gone or was "
			 "replaced (libnl: %s)", p->iface, sb_plug_action_name(a), p->handle >> 16,
			 nl_geterror(e));
		return -1;
	}
	if (e < 0) {
		char op[96];
		snprintf(op, sizeof(op), "send plug command %s", sb_plug_action_name(a));
		sb_nl_error(err, errlen, p->iface, op, e);
		return -1;
	}
	return 0;
}

int sb_plug_stats(struct nl_sock *sk, const struct sb_plug *p, struct sb_plug_stats *st,
		  char *err, size_t errlen)
{
	struct rtnl_qdisc *q;
	const char *k;
	int e;

	memset(st, 0, sizeof(*st));
	q = root_qdisc(sk, p->ifindex, &e);
	if (e < 0) {
		sb_nl_error(err, errlen, p->iface, "read the qdisc statistics", e);
		return -1;
	}
	k = q ? rtnl_tc_get_kind(TC_CAST(q)) : NULL;
	if (!q || !k || strcmp(k, "plug") || rtnl_tc_get_handle(TC_CAST(q)) != p->handle) {
		snprintf(err, errlen, "%s: the root plug qdisc (handle %x:) is gone", p->iface,
			 p->handle >> 16);
		if (q)
			rtnl_qdisc_put(q);
		return -1;
	}
	st->qlen = rtnl_tc_get_stat(TC_CAST(q), RTNL_TC_QLEN);
	st->backlog = rtnl_tc_get_stat(TC_CAST(q), RTNL_TC_BACKLOG);
	st->drops = rtnl_tc_get_stat(TC_CAST(q), RTNL_TC_DROPS);
	rtnl_qdisc_put(q);
	return 0;
}

int sb_plug_delete(struct nl_sock *sk, const struct sb_plug *p, char *err, size_t errlen)
{
	/* the handle: the kernel checks it is still ours */
	struct rtnl_qdisc *q = new_root_qdisc(p->ifindex, p->handle, p->iface, err, errlen);
	int e;

	if (!q)
		return -1;
	e = rtnl_qdisc_delete(sk, q);
	rtnl_qdisc_put(q);
	if (e < 0) {
		sb_nl_error(err, errlen, p->iface, "delete the plug qdisc", e);
		return -1;
	}
	return 0;
}

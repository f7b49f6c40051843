/*
 * redirect.c - `standby netbuf setup|teardown VIF IFB`: steer everything a
 * guest sends (VIF's receive path) through a plug on an IFB device, with
 * libnl only.  Xen's remus-netbuf-setup does the same with tc and a
 * `proto ip` u32 filter, so ARP and IPv6 bypass its buffer; here the filter
 * matches every protocol (matchall, protocol ETH_P_ALL).
 *
 *   setup:    check VIF and IFB, root plug on IFB (plugged), IFB up,
 *             ingress qdisc on VIF, matchall filter -> mirred egress redirect IFB
 *   teardown: delete VIF's ingress qdisc (its filter goes with it), then the
 *             root plug of IFB
 *
 * The plug exists before the filter, so no packet is redirected past an
 * IFB without its buffer.  The filter goes before the teardown's plug
 * removal for the same reason.
 */
#include <stdio.h>
#include <string.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/tc_act/tc_mirred.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/classifier.h>
#include <netlink/route/action.h>
#include <netlink/route/cls/matchall.h>
#include <netlink/route/act/mirred.h>
#include "standby/netbuf.h"
#include "plug.h"

#define INGRESS_HANDLE TC_H_MAKE(TC_H_INGRESS, 0)      /* ffff: */

/* Does ifindex have an ingress qdisc? */
static int has_ingress(struct nl_sock *sk, int ifindex, int *yes, char *err, size_t errlen)
{
	struct nl_cache *cache = NULL;
	struct rtnl_qdisc *q;
	int e = rtnl_qdisc_alloc_cache(sk, &cache);

	if (e < 0) {
		sb_nl_error(err, errlen, "qdiscs", "list them", e);
		return -1;
	}
	q = rtnl_qdisc_get_by_parent(cache, ifindex, TC_H_INGRESS);
	*yes = q != NULL;
	if (q)
		rtnl_qdisc_put(q);
	nl_cache_free(cache);
	return 0;
}

static int is_ifb(struct nl_sock *sk, const char *name, char *err, size_t errlen)
{
	struct rtnl_link *link = NULL;
	const char *type;
	int e = rtnl_link_get_kernel(sk, 0, name, &link), ok;

	if (e < 0) {
		sb_nl_error(err, errlen, name, "look up the interface", e);
		return -1;
	}
	type = rtnl_link_get_type(link);
	ok = type && !strcmp(type, "ifb");
	if (!ok)
		snprintf(err, errlen, "%s is not an ifb device (type %s); create one with the ifb "
			 "module ('modprobe ifb' makes ifb0 and ifb1)", name, type ? type : "unknown");
	rtnl_link_put(link);
	return ok ? 0 : -1;
}

static int ingress_qdisc(struct nl_sock *sk, int ifindex, int add, const char *vif,
			 char *err, size_t errlen)
{
	struct rtnl_qdisc *q = rtnl_qdisc_alloc();
	int e;

	if (!q) {
		snprintf(err, errlen, "%s: out of memory", vif);
		return -1;
	}
	rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
	rtnl_tc_set_parent(TC_CAST(q), TC_H_INGRESS);
	rtnl_tc_set_handle(TC_CAST(q), INGRESS_HANDLE);
	e = rtnl_tc_set_kind(TC_CAST(q), "ingress");
	if (e >= 0)
		e = add ? rtnl_qdisc_add(sk, q, NLM_F_CREATE | NLM_F_EXCL) : rtnl_qdisc_delete(sk, q);
	rtnl_qdisc_put(q);
	if (e == -NLE_OBJ_NOTFOUND && add) {
		snprintf(err, errlen, "%s: cannot add an ingress qdisc: the kernel has no 'ingress' "
			 "qdisc (needs sch_ingress: CONFIG_NET_SCH_INGRESS)", vif);
		return -1;
	}
	if (e < 0) {
		sb_nl_error(err, errlen, vif, add ? "add an ingress qdisc" : "delete the ingress qdisc", e);
		return -1;
	}
	return 0;
}

static int redirect_filter(struct nl_sock *sk, int vif_index, int ifb_index, const char *vif,
			   const char *ifb, char *err, size_t errlen)
{
	struct rtnl_cls *cls = rtnl_cls_alloc();
	struct rtnl_act *act = rtnl_act_alloc();
	int e = -NLE_NOMEM;

	if (cls && act) {
		rtnl_tc_set_ifindex(TC_CAST(cls), vif_index);
		rtnl_tc_set_parent(TC_CAST(cls), INGRESS_HANDLE);
		rtnl_cls_set_protocol(cls, ETH_P_ALL);
		rtnl_cls_set_prio(cls, 1);
		e = rtnl_tc_set_kind(TC_CAST(cls), "matchall");
	}
	if (e >= 0)
		e = rtnl_tc_set_kind(TC_CAST(act), "mirred");
	if (e >= 0) {
		rtnl_mirred_set_action(act, TCA_EGRESS_REDIR);
		rtnl_mirred_set_policy(act, TC_ACT_STOLEN);
		rtnl_mirred_set_ifindex(act, (uint32_t)ifb_index);
		e = rtnl_mall_append_action(cls, act);
	}
	if (e >= 0)
		e = rtnl_cls_add(sk, cls, NLM_F_CREATE | NLM_F_EXCL);
	if (act)
		rtnl_act_put(act);
	if (cls)
		rtnl_cls_put(cls);
	if (e == -NLE_OBJ_NOTFOUND) {
		snprintf(err, errlen, "%s: cannot add the redirect to %s: the kernel lacks the "
			 "matchall classifier or the mirred action (cls_matchall, act_mirred)", vif, ifb);
		return -1;
	}
	if (e < 0) {
		char op[64];
		snprintf(op, sizeof(op), "add the matchall redirect to %s", ifb);
		sb_nl_error(err, errlen, vif, op, e);
		return -1;
	}
	return 0;
}

int sb_netbuf_redirect_setup(const char *vif, const char *ifb, uint64_t limit,
			     char *err, size_t errlen)
{
	struct nl_sock *sk;
	struct sb_plug plug = { 0 };
	char kind[32], e2[512];
	uint32_t handle;
	int vi, yes, rc = -1;

	if (!limit)
		limit = SB_NETBUF_DEFAULT_LIMIT;
	if (limit > 0x7fffffff) {
		snprintf(err, errlen, "limit %llu bytes is over the plug qdisc's maximum",
			 (unsigned long long)limit);
		return -1;
	}
	sk = sb_nl_open(err, errlen);
	if (!sk)
		return -1;
	if ((vi = sb_link_index(sk, vif, err, errlen)) < 0 ||
	    (plug.ifindex = sb_link_index(sk, ifb, err, errlen)) < 0 ||
	    is_ifb(sk, ifb, err, errlen) < 0 ||
	    has_ingress(sk, vi, &yes, err, errlen) < 0)
		goto out;
	if (vi == plug.ifindex) {
		snprintf(err, errlen, "VIF and IFB are the same interface (%s)", vif);
		goto out;
	}
	if (yes) {
		snprintf(err, errlen, "%s already has an ingress qdisc; standby does not share it "
			 "(run 'standby netbuf teardown %s %s' if it is a leftover of ours)", vif, vif, ifb);
		goto out;
	}
	if (sb_root_qdisc(sk, plug.ifindex, kind, sizeof(kind), &handle, err, errlen) < 0)
		goto out;
	if (handle) {
		snprintf(err, errlen, "%s already has a root qdisc (%s, handle %x:): it is in use; "
			 "pick a free ifb device", ifb, kind, handle >> 16);
		goto out;
	}
	snprintf(plug.iface, sizeof(plug.iface), "%s", ifb);
	if (sb_plug_create(sk, plug.ifindex, 0, limit, ifb, err, errlen) < 0)
		goto out;
	if (sb_root_qdisc(sk, plug.ifindex, kind, sizeof(kind), &plug.handle, err, errlen) < 0 ||
	    sb_link_up(sk, ifb, err, errlen) < 0)
		goto undo_plug;
	if (ingress_qdisc(sk, vi, 1, vif, err, errlen) < 0)
		goto undo_plug;
	if (redirect_filter(sk, vi, plug.ifindex, vif, ifb, err, errlen) < 0)
		goto undo_ingress;
	rc = 0;
	goto out;
undo_ingress:
	if (ingress_qdisc(sk, vi, 0, vif, e2, sizeof(e2)) < 0)
		fprintf(stderr, "standby: netbuf: undo: %s\n", e2);
undo_plug:
	if (sb_plug_delete(sk, &plug, e2, sizeof(e2)) < 0)
		fprintf(stderr, "standby: netbuf: undo: %s\n", e2);
out:
	sb_nl_close(sk);
	return rc;
}

int sb_netbuf_redirect_teardown(const char *vif, const char *ifb, char *err, size_t errlen)
{
	struct nl_sock *sk;
	struct sb_plug plug = { 0 };
	char kind[32];
	int vi, yes, rc = -1;

	sk = sb_nl_open(err, errlen);
	if (!sk)
		return -1;
	vi = sb_link_index(sk, vif, err, errlen);
	if (vi >= 0) {              /* a vanished vif took its ingress qdisc with it */
		if (has_ingress(sk, vi, &yes, err, errlen) < 0 ||
		    (yes && ingress_qdisc(sk, vi, 0, vif, err, errlen) < 0))
			goto out;
	}
	plug.ifindex = sb_link_index(sk, ifb, err, errlen);
	if (plug.ifindex >= 0) {
		snprintf(plug.iface, sizeof(plug.iface), "%s", ifb);
		if (sb_root_qdisc(sk, plug.ifindex, kind, sizeof(kind), &plug.handle, err, errlen) < 0)
			goto out;
		if (plug.handle && !strcmp(kind, "plug") &&
		    sb_plug_delete(sk, &plug, err, errlen) < 0)
			goto out;
		if (plug.handle && strcmp(kind, "plug"))
			fprintf(stderr, "standby: netbuf: %s: root qdisc is '%s', not a plug: left alone\n",
				ifb, kind);
	}
	rc = 0;
out:
	sb_nl_close(sk);
	return rc;
}

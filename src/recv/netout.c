/*
 * netout.c - network output buffering of one stream: adapts the engine's
 * events to net/ (include/standby/netbuf.h; docs/netbuf.md says why each
 * call is where it is).
 *
 *   stream start (receive), or the preamble / first record (serve)
 *                      -> sb_netout_open -> sb_netbuf_open (NULL: the stream fails)
 *   a record           -> sb_netout_record -> first of epoch n? sb_netbuf_epoch_begin(n)
 *   commit of n        -> on_commit hook -> sb_netbuf_epoch_commit(n)  (before the ack)
 *   target activated   -> sb_netout_activated -> sb_netbuf_failover(release|drop)
 *   every end          -> sb_netout_close -> sb_netbuf_close (a plug standby created
 *                         is deleted with what it held: uncommitted output is dropped)
 *
 * A -1 from begin, commit or failover was logged and counted by the module;
 * the stream goes on (the buffer errs only on the side of holding).
 */
#include <stdio.h>
#include <string.h>
#include "recv/internal.h"
#include "standby/netbuf.h"

static void nb_log(void *ctx, const char *msg)
{
	sb_rlog(ctx, "netbuf: %s", msg);
}

static void on_commit(struct sb_rstream *s, uint64_t epoch, void *opaque)
{
	char err[512];

	(void)opaque;
	if (!s->nb)
		return;
	/* Written before the release (the engine's "epoch N committed" line
	 * comes after the ack): tests order packet arrivals against it. */
	if (s->cfg.verbose)
		sb_rlog(s, "netbuf: epoch %llu committed, releasing its output",
			(unsigned long long)epoch);
	sb_netbuf_epoch_commit(s->nb, epoch, err, sizeof(err));
}

/* serve: the interfaces --netbuf-map gives this stream's domain. */
static size_t mapped(const struct sb_rstream *s, const char **out, size_t max)
{
	size_t n = 0, dl = strlen(s->domain);

	for (size_t i = 0; i < s->cfg.netbuf_nmap && n < max; i++) {
		const char *e = s->cfg.netbuf_map[i], *eq = strchr(e, '=');

		if (eq && (size_t)(eq - e) == dl && !strncmp(e, s->domain, dl))
			out[n++] = eq + 1;
	}
	return n;
}

int sb_netout_open(struct sb_rstream *s, char *err, size_t errlen)
{
	const char *ifaces[SB_NETBUF_MAX_IFACES];
	const char *const *list = ifaces;
	size_t n;

	if (s->nb_tried)
		return 0;
	s->nb_tried = 1;
	if (s->cfg.netbuf_n) {
		list = s->cfg.netbuf_ifaces;
		n = s->cfg.netbuf_n;
	} else {
		if (!s->cfg.netbuf_nmap)
			return 0;
		if (!s->domain[0])
			sb_rt_pick_domain(s, NULL);
		n = mapped(s, ifaces, SB_NETBUF_MAX_IFACES);
		if (!n)
			return 0;
	}
	s->nb = sb_netbuf_open(list, n, s->cfg.netbuf_limit, nb_log, s, err, errlen);
	if (!s->nb)
		return -1;
	if (sb_rstream_on_commit(s, on_commit, NULL)) {
		snprintf(err, errlen, "no room for the netbuf commit hook");
		sb_netbuf_close(s->nb);
		s->nb = NULL;
		return -1;
	}
	sb_rlog(s, "netbuf: holding the output of %zu interface(s) until each epoch commits", n);
	return 0;
}

void sb_netout_record(struct sb_rstream *s)
{
	char err[512];

	if (!s->nb || (s->nb_begun && s->nb_epoch == s->epoch_no))
		return;
	s->nb_begun = 1;
	s->nb_epoch = s->epoch_no;
	sb_netbuf_epoch_begin(s->nb, s->epoch_no, err, sizeof(err));
}

void sb_netout_activated(struct sb_rstream *s)
{
	char err[512];

	if (!s->nb)
		return;
	sb_rlog(s, "netbuf: failover: %s what is held (uncommitted), then pass traffic through",
		s->cfg.netbuf_drop ? "dropping" : "releasing");
	if (!sb_netbuf_failover(s->nb, s->cfg.netbuf_drop ? SB_NETBUF_DROP_HELD : SB_NETBUF_RELEASE_HELD,
				err, sizeof(err)))
		sb_rlog(s, "netbuf: failover done: traffic passes through");
}

void sb_netout_close(struct sb_rstream *s)
{
	if (!s->nb)
		return;
	if (!s->has_committed)
		sb_rlog(s, "netbuf: the stream ended before its first commit; its held output is not released");
	sb_netbuf_close(s->nb);
	s->nb = NULL;
}

size_t sb_netout_status_json(struct sb_rstream *s, char *buf, size_t len)
{
	int n;

	if (s->nb)
		return sb_netbuf_status_json(s->nb, buf, len);
	n = snprintf(buf, len, "null");
	return n < 0 ? 0 : (size_t)n < len ? (size_t)n : (len ? len - 1 : 0);
}

/*
 * netbuf.c - Remus output commit on the secondary: epoch barriers over a
 * set of root plug qdiscs.  See include/standby/netbuf.h and docs/netbuf.md.
 *
 * Per interface the state is: buffering with nothing sealed (OPEN), one
 * sealed epoch in flight (SEALED, remembering which), or pass-through after
 * failover (PASS).  The events and what they do:
 *
 *   open          adopt/create plug (adopted: set limit, release_indefinite
 *                 then buffer, so old packets go out and the plug is plugged
 *                 with nothing counted)                          -> OPEN
 *   begin(n)      OPEN:   buffer                                 -> SEALED(n)
 *                 SEALED: no buffer (a second one would overwrite the
 *                         kernel's count of the sealed epoch): the packets
 *                         stay unsealed and join the next seal; count
 *                         deferred_seals                         -> SEALED
 *                 buffer fails: log, count seal_failures         -> OPEN
 *   commit(n)     SEALED(m), m <= n: release_one                 -> OPEN
 *                 release fails: log, count release_failures; stay SEALED
 *                         (retried at the next commit, which releases the
 *                         same committed epoch at most once: a release_one
 *                         the kernel did apply left a count of zero)
 *                 OPEN or SEALED(m > n): nothing to release
 *   failover      release_indefinite (or delete+recreate to drop) -> PASS
 *   close         created: log what is held, delete the qdisc
 *                 adopted: log what is held, leave it
 *
 * Every failure leaves packets held longer, never released early.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "standby/netbuf.h"
#include "util/json.h"
#include "plug.h"

enum iface_state { IF_OPEN, IF_SEALED, IF_PASS };

struct iface {
	struct sb_plug plug;
	enum iface_state state;
	uint64_t sealed_epoch;
	uint64_t sealed, released, deferred, seal_failures, release_failures;
	int removed;                    /* the created plug is gone (dropped at failover) */
};

struct sb_netbuf {
	struct nl_sock *sk;
	uint64_t limit;
	sb_netbuf_log_fn log;
	void *log_ctx;
	int failed_over;
	size_t n;
	struct iface ifs[SB_NETBUF_MAX_IFACES];
};

static void nlog(struct sb_netbuf *nb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void nlog(struct sb_netbuf *nb, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (nb->log)
		nb->log(nb->log_ctx, msg);
	else
		fprintf(stderr, "standby: netbuf: %s\n", msg);
}

/* Log what a plug holds, with why. */
static void log_held(struct sb_netbuf *nb, struct iface *f, const char *what)
{
	struct sb_plug_stats st;
	char err[512];

	if (sb_plug_stats(nb->sk, &f->plug, &st, err, sizeof(err)) < 0) {
		nlog(nb, "%s (cannot read what it holds: %s)", what, err);
		return;
	}
	nlog(nb, "%s: %llu packets (%llu bytes) held%s", what, (unsigned long long)st.qlen,
	     (unsigned long long)st.backlog,
	     f->state == IF_SEALED ? " (a sealed, uncommitted epoch and what followed it)" : "");
}

static void undo(struct sb_netbuf *nb, size_t upto)
{
	char err[512];

	for (size_t i = 0; i < upto; i++) {
		struct iface *f = &nb->ifs[i];
		if (f->plug.created && sb_plug_delete(nb->sk, &f->plug, err, sizeof(err)) < 0)
			nlog(nb, "undo: %s", err);
	}
}

/* An adopted plug is in an unknown state: it may pass everything, or hold
 * packets of an earlier owner whose count would make every later release
 * lag.  Those packets predate this stream: let them out, then plug again. */
static int adopt(struct sb_netbuf *nb, struct iface *f, char *err, size_t errlen)
{
	struct sb_plug_stats st;
	char e2[512];

	if (sb_plug_cmd(nb->sk, &f->plug, SB_PLUG_LIMIT, nb->limit, err, errlen) < 0)
		return -1;
	if (sb_plug_stats(nb->sk, &f->plug, &st, e2, sizeof(e2)) == 0 && st.qlen)
		nlog(nb, "%s: adopted plug held %llu packets (%llu bytes) from before this stream; "
		     "releasing them", f->plug.iface, (unsigned long long)st.qlen,
		     (unsigned long long)st.backlog);
	if (sb_plug_cmd(nb->sk, &f->plug, SB_PLUG_RELEASE_INDEFINITE, 0, err, errlen) < 0)
		return -1;
	return sb_plug_cmd(nb->sk, &f->plug, SB_PLUG_BUFFER, 0, err, errlen);
}

struct sb_netbuf *sb_netbuf_open(const char *const *ifaces, size_t n, uint64_t limit,
				 sb_netbuf_log_fn log, void *log_ctx, char *err, size_t errlen)
{
	struct sb_netbuf *nb;

	if (!limit)
		limit = SB_NETBUF_DEFAULT_LIMIT;
	if (n == 0 || n > SB_NETBUF_MAX_IFACES) {
		snprintf(err, errlen, "netbuf: between 1 and %d interfaces, not %zu",
			 SB_NETBUF_MAX_IFACES, n);
		return NULL;
	}
	if (limit > INT_MAX) {
		snprintf(err, errlen, "netbuf: limit %llu bytes is over the plug qdisc's maximum %d",
			 (unsigned long long)limit, INT_MAX);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++)
			if (!strcmp(ifaces[i], ifaces[j])) {
				snprintf(err, errlen, "netbuf: interface %s given twice", ifaces[i]);
				return NULL;
			}
	nb = calloc(1, sizeof(*nb));
	if (!nb) {
		snprintf(err, errlen, "netbuf: out of memory");
		return NULL;
	}
	nb->limit = limit;
	nb->log = log;
	nb->log_ctx = log_ctx;
	nb->sk = sb_nl_open(err, errlen);
	if (!nb->sk) {
		free(nb);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		struct iface *f = &nb->ifs[i];
		if (sb_plug_attach(nb->sk, &f->plug, ifaces[i], limit, err, errlen) < 0 ||
		    (!f->plug.created && adopt(nb, f, err, errlen) < 0)) {
			undo(nb, i + (f->plug.created ? 1 : 0));
			sb_nl_close(nb->sk);
			free(nb);
			return NULL;
		}
		nb->n = i + 1;
		nlog(nb, "%s: %s root plug qdisc %x: (limit %llu bytes); output held from now on",
		     f->plug.iface, f->plug.created ? "created" : "adopted", f->plug.handle >> 16,
		     (unsigned long long)limit);
	}
	return nb;
}

/* Keep the first error message; later ones are only logged. */
static void first_error(char *err, size_t errlen, int *rc, const char *msg)
{
	if (*rc == 0)
		snprintf(err, errlen, "%s", msg);
	*rc = -1;
}

int sb_netbuf_epoch_begin(struct sb_netbuf *nb, uint64_t n, char *err, size_t errlen)
{
	char e[512];
	int rc = 0;

	for (size_t i = 0; i < nb->n; i++) {
		struct iface *f = &nb->ifs[i];
		if (f->state == IF_PASS)
			continue;
		if (f->state == IF_SEALED) {
			f->deferred++;
			nlog(nb, "%s: epoch %llu begins while epoch %llu is still sealed and unreleased; "
			     "not sealing again (the kernel keeps one count): these packets join the next seal",
			     f->plug.iface, (unsigned long long)n, (unsigned long long)f->sealed_epoch);
			continue;
		}
		if (sb_plug_cmd(nb->sk, &f->plug, SB_PLUG_BUFFER, 0, e, sizeof(e)) < 0) {
			f->seal_failures++;
			nlog(nb, "epoch %llu: seal failed (packets stay held until a later seal is released): %s",
			     (unsigned long long)n, e);
			first_error(err, errlen, &rc, e);
			continue;
		}
		f->state = IF_SEALED;
		f->sealed_epoch = n;
		f->sealed++;
	}
	return rc;
}

int sb_netbuf_epoch_commit(struct sb_netbuf *nb, uint64_t n, char *err, size_t errlen)
{
	char e[512];
	int rc = 0;

	for (size_t i = 0; i < nb->n; i++) {
		struct iface *f = &nb->ifs[i];
		if (f->state != IF_SEALED || f->sealed_epoch > n)
			continue;
		if (sb_plug_cmd(nb->sk, &f->plug, SB_PLUG_RELEASE_ONE, 0, e, sizeof(e)) < 0) {
			f->release_failures++;
			nlog(nb, "SERIOUS: epoch %llu committed but its output was NOT released "
			     "(release failure #%llu; retried at the next commit, nothing "
			     "uncommitted is released instead): %s", (unsigned long long)f->sealed_epoch,
			     (unsigned long long)f->release_failures, e);
			first_error(err, errlen, &rc, e);
			continue;
		}
		f->state = IF_OPEN;
		f->released++;
	}
	return rc;
}

static int drop_held(struct sb_netbuf *nb, struct iface *f, char *err, size_t errlen)
{
	log_held(nb, f, f->plug.created ? "failover: dropping the uncommitted output of the plug "
		 "standby created" : "failover: dropping the uncommitted output of the adopted plug");
	if (sb_plug_delete(nb->sk, &f->plug, err, errlen) < 0)
		return -1;
	if (f->plug.created) {              /* the kernel default qdisc passes everything */
		f->removed = 1;
		return 0;
	}
	/* Put the adopted plug back, passing everything. */
	if (sb_plug_create(nb->sk, f->plug.ifindex, f->plug.handle, nb->limit, f->plug.iface,
			   err, errlen) < 0)
		return -1;
	return sb_plug_cmd(nb->sk, &f->plug, SB_PLUG_RELEASE_INDEFINITE, 0, err, errlen);
}

int sb_netbuf_failover(struct sb_netbuf *nb, enum sb_netbuf_held held, char *err, size_t errlen)
{
	char e[512];
	int rc = 0;

	nb->failed_over = 1;
	for (size_t i = 0; i < nb->n; i++) {
		struct iface *f = &nb->ifs[i];
		if (f->state == IF_PASS)
			continue;
		if (held == SB_NETBUF_DROP_HELD) {
			if (drop_held(nb, f, e, sizeof(e)) < 0) {
				nlog(nb, "failover: %s", e);
				first_error(err, errlen, &rc, e);
				continue;
			}
		} else {
			log_held(nb, f, "failover: releasing");
			if (sb_plug_cmd(nb->sk, &f->plug, SB_PLUG_RELEASE_INDEFINITE, 0, e, sizeof(e)) < 0) {
				nlog(nb, "failover: %s", e);
				first_error(err, errlen, &rc, e);
				continue;
			}
		}
		f->state = IF_PASS;
	}
	return rc;
}

void sb_netbuf_close(struct sb_netbuf *nb)
{
	char e[512];

	if (!nb)
		return;
	for (size_t i = 0; i < nb->n; i++) {
		struct iface *f = &nb->ifs[i];
		char what[128];
		if (f->removed)
			continue;
		if (f->plug.created) {
			snprintf(what, sizeof(what), "%s: removing the plug qdisc standby created%s",
				 f->plug.iface, f->state == IF_PASS ? "" : "; dropping");
			log_held(nb, f, what);
			if (sb_plug_delete(nb->sk, &f->plug, e, sizeof(e)) < 0)
				nlog(nb, "%s", e);
		} else if (f->state != IF_PASS) {
			snprintf(what, sizeof(what), "%s: leaving the adopted plug qdisc plugged, still",
				 f->plug.iface);
			log_held(nb, f, what);
		}
	}
	sb_nl_close(nb->sk);
	free(nb);
}

void sb_netbuf_counts(const struct sb_netbuf *nb, struct sb_netbuf_counts *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < nb->n; i++) {
		const struct iface *f = &nb->ifs[i];
		c->epochs_sealed += f->sealed;
		c->epochs_released += f->released;
		c->deferred_seals += f->deferred;
		c->seal_failures += f->seal_failures;
		c->release_failures += f->release_failures;
	}
}

static const char *state_name(enum iface_state s)
{
	return s == IF_PASS ? "pass-through" : s == IF_SEALED ? "sealed" : "buffering";
}

/* Append to buf at *off, keeping it NUL-terminated and never past len. */
static void put(char *buf, size_t len, size_t *off, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void put(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (*off + 1 >= len)
		return;
	va_start(ap, fmt);
	w = vsnprintf(buf + *off, len - *off, fmt, ap);
	va_end(ap);
	if (w < 0)
		return;
	*off = *off + (size_t)w < len ? *off + (size_t)w : len - 1;
}

size_t sb_netbuf_status_json(struct sb_netbuf *nb, char *buf, size_t len)
{
	size_t off = 0;

	if (!len)
		return 0;
	buf[0] = 0;
	put(buf, len, &off, "{\"limit\":%llu,\"failed_over\":%s,\"interfaces\":[",
	    (unsigned long long)nb->limit, nb->failed_over ? "true" : "false");
	for (size_t i = 0; i < nb->n; i++) {
		struct iface *f = &nb->ifs[i];
		struct sb_plug_stats st = { 0 };
		char e[512] = "", ejs[600], name[64], sealed[32] = "null";
		int have = !f->removed && sb_plug_stats(nb->sk, &f->plug, &st, e, sizeof(e)) == 0;

		sb_json_escape(name, sizeof(name), f->plug.iface);
		sb_json_escape(ejs, sizeof(ejs), have || f->removed ? NULL : e);
		if (f->state == IF_SEALED)
			snprintf(sealed, sizeof(sealed), "%llu", (unsigned long long)f->sealed_epoch);
		put(buf, len, &off, "%s{\"iface\":%s,\"qdisc\":\"%s\",\"state\":\"%s\","
		    "\"held_packets\":%llu,\"held_bytes\":%llu,\"drops\":%llu,\"sealed_epoch\":%s,"
		    "\"epochs_sealed\":%llu,\"epochs_released\":%llu,\"deferred_seals\":%llu,"
		    "\"seal_failures\":%llu,\"release_failures\":%llu,\"stats_error\":%s}",
		    i ? "," : "", name, f->removed ? "removed" : f->plug.created ? "created" : "adopted",
		    state_name(f->state), (unsigned long long)st.qlen, (unsigned long long)st.backlog,
		    (unsigned long long)st.drops, sealed, (unsigned long long)f->sealed,
		    (unsigned long long)f->released, (unsigned long long)f->deferred,
		    (unsigned long long)f->seal_failures, (unsigned long long)f->release_failures, ejs);
	}
	put(buf, len, &off, "]}");
	return off;
}

/*
 * netbuf.h - network output buffering (Remus output commit on the secondary).
 *
 * standby holds a VM's outgoing packets in Linux `plug` qdiscs (sch_plug),
 * one per interface, and lets the packets of an epoch out only once that
 * epoch is committed.  All netlink goes through libnl-route-3.
 *
 * The receiver drives it (see docs/netbuf.md for why the barrier is where it
 * is, and what the network topology must guarantee):
 *
 *   sb_netbuf_open(ifaces, limit)       at stream start: adopt each
 *                                       interface's root plug, or create one
 *   sb_netbuf_epoch_begin(nb, n)        on the first record of epoch n: seal
 *                                       the output so far (plug "buffer")
 *   sb_netbuf_epoch_commit(nb, n)       after the target committed epoch n:
 *                                       release the sealed epoch ("release_one")
 *   sb_netbuf_failover(nb, ...)         the VM now runs here: stop buffering
 *   sb_netbuf_close(nb)                 at the end: remove only the qdiscs
 *                                       standby created; log what was held
 *
 * The kernel keeps only the packet count of the last sealed epoch, so seals
 * and releases strictly alternate per interface: a begin that finds the
 * previous seal not yet released does not seal (those packets join the next
 * seal: held longer, never released early), and a release is only ever sent
 * for a sealed, committed epoch.  A failed seal or release is logged and
 * counted; nothing uncommitted is released to make up for it.
 *
 * Functions returning int give 0, or -1 with a message in err (which names
 * the interface and the operation).  begin/commit apply to every interface
 * even when one fails; the message then names the first failure.
 * Not thread-safe: one caller thread per sb_netbuf.
 */
#ifndef STANDBY_NETBUF_H
#define STANDBY_NETBUF_H

#include <stddef.h>
#include <stdint.h>

#define SB_NETBUF_DEFAULT_LIMIT 10000000ull   /* bytes per plug, as Xen's remus-netbuf-setup */
#define SB_NETBUF_MAX_IFACES 16

struct sb_netbuf;

/* Where messages go (one line each, no trailing newline).  NULL: stderr,
 * prefixed "standby: netbuf: ". */
typedef void (*sb_netbuf_log_fn)(void *ctx, const char *msg);

/* Take charge of the root plug qdisc of each interface.  An existing root
 * plug is adopted (its limit is set to `limit`, and packets it held from
 * before are let out, with a log line: they predate this stream); a kernel
 * default root qdisc is replaced by a new plug with `limit` bytes (0 means
 * SB_NETBUF_DEFAULT_LIMIT); any other root qdisc is an error.  On error
 * the plugs it created are removed again (an adopted plug keeps the new
 * limit and is left plugged).  Output is held from here on. */
struct sb_netbuf *sb_netbuf_open(const char *const *ifaces, size_t n, uint64_t limit,
				 sb_netbuf_log_fn log, void *log_ctx, char *err, size_t errlen);

/* The first record of epoch n has arrived: seal everything queued so far. */
int sb_netbuf_epoch_begin(struct sb_netbuf *nb, uint64_t n, char *err, size_t errlen);

/* Epoch n is committed: release the sealed epoch (its number is <= n). */
int sb_netbuf_epoch_commit(struct sb_netbuf *nb, uint64_t n, char *err, size_t errlen);

/* What failover does with packets still held (all of them uncommitted). */
enum sb_netbuf_held {
	SB_NETBUF_RELEASE_HELD = 0,  /* let them out, then pass traffic through */
	SB_NETBUF_DROP_HELD,         /* drop them (logged), then pass traffic through */
};
int sb_netbuf_failover(struct sb_netbuf *nb, enum sb_netbuf_held held, char *err, size_t errlen);

/* Remove the qdiscs standby created (held packets are dropped and logged);
 * adopted ones stay as they are, still holding what they hold (logged). */
void sb_netbuf_close(struct sb_netbuf *nb);

/* Write a JSON object describing every interface into buf:
 *   {"limit":N,"failed_over":false,"interfaces":[{"iface":"ifb0","qdisc":"created",
 *    "state":"buffering","held_packets":N,"held_bytes":N,"drops":N,"sealed_epoch":N|null,
 *    "epochs_sealed":N,"epochs_released":N,"deferred_seals":N,"seal_failures":N,
 *    "release_failures":N,"stats_error":null|"..."}, ...]}
 * Returns the length written (truncated safely at len - 1). */
size_t sb_netbuf_status_json(struct sb_netbuf *nb, char *buf, size_t len);

/* Totals over all interfaces, for callers and tests. */
struct sb_netbuf_counts {
	uint64_t epochs_sealed, epochs_released, deferred_seals;
	uint64_t seal_failures, release_failures;
};
void sb_netbuf_counts(const struct sb_netbuf *nb, struct sb_netbuf_counts *c);

/* `standby netbuf setup VIF IFB`: what Xen's remus-netbuf-setup does with tc,
 * for every protocol: an ingress qdisc on VIF, a match-all filter redirecting
 * everything VIF receives (from the guest) to IFB, IFB brought up, and a root
 * plug on IFB holding `limit` bytes (plugged: nothing passes until a release).
 * Refuses to touch a VIF that already has an ingress qdisc, or an IFB with a
 * root qdisc of its own.  Undone on failure. */
int sb_netbuf_redirect_setup(const char *vif, const char *ifb, uint64_t limit,
			     char *err, size_t errlen);
/* Remove the ingress qdisc of VIF (with its filter) and the root plug of IFB.
 * Missing pieces are not an error (teardown may run twice). */
int sb_netbuf_redirect_teardown(const char *vif, const char *ifb, char *err, size_t errlen);

#endif

/*
 * acks.c - standby's per-epoch acknowledgements (docs/protocol.md).
 *
 * Each ack is 16 bytes: "STBYACK1" then the committed epoch as u64le.  The
 * round-trip time of epoch N runs from the moment the last byte of its
 * CHECKPOINT_END (plain: END) was written to the moment its ack was read.
 * Reads never block the stream: the fd is non-blocking and is read whenever
 * the sink waits for room, between epochs, and at the end.  Bytes that are
 * not an ack stop the reading (counted, reported) rather than being guessed at.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "primary/primary.h"

#define ACK_MAGIC "STBYACK1"
#define ACK_LEN 16

double pr_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void pr_acks_init(struct pr_acks *a, int fd, int active)
{
	memset(a, 0, sizeof(*a));
	a->fd = fd;
	a->active = active && fd >= 0;
}

void pr_acks_free(struct pr_acks *a)
{
	free(a->sent_at);
	free(a->rtt);
	a->sent_at = a->rtt = NULL;
}

int pr_acks_sent(struct pr_acks *a, uint64_t epoch, double t)
{
	if (!a->active)
		return 0;
	if (epoch >= a->cap) {
		uint64_t cap = a->cap ? a->cap * 2 : 64;
		while (cap <= epoch)
			cap *= 2;
		double *s = realloc(a->sent_at, cap * sizeof(*s));
		if (!s)
			return -1;
		a->sent_at = s;
		double *r = realloc(a->rtt, cap * sizeof(*r));
		if (!r)
			return -1;
		a->rtt = r;
		for (uint64_t i = a->cap; i < cap; i++)
			a->rtt[i] = -1;
		a->cap = cap;
	}
	a->sent_at[epoch] = t;
	if (epoch + 1 > a->nsent)
		a->nsent = epoch + 1;
	return 0;
}

static void take_ack(struct pr_acks *a, double t)
{
	uint64_t epoch;

	if (memcmp(a->part, ACK_MAGIC, 8)) {
		a->bad = 1;
		return;
	}
	epoch = sb_get_le64(a->part + 8);
	if (epoch >= a->nsent || a->rtt[epoch] >= 0) {
		a->unexpected++;
		return;
	}
	a->rtt[epoch] = t - a->sent_at[epoch];
	a->nacked++;
}

void pr_acks_read(struct pr_acks *a)
{
	uint8_t buf[4096];

	while (a->active && a->fd >= 0 && !a->eof && !a->bad) {
		ssize_t n = read(a->fd, buf, sizeof(buf));
		double t = pr_now();

		if (n == 0) {
			a->eof = 1;
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				a->eof = 1;
			return;
		}
		for (ssize_t i = 0; i < n && !a->bad; i++) {
			a->part[a->partlen++] = buf[i];
			if (a->partlen == ACK_LEN) {
				take_ack(a, t);
				a->partlen = 0;
			}
		}
	}
}

static int usable(const struct pr_acks *a)
{
	return a->active && a->fd >= 0 && !a->eof && !a->bad;
}

void pr_acks_sleep(struct pr_acks *a, double until)
{
	for (;;) {
		double left = until - pr_now();

		if (left <= 0 || pr_interrupted)
			return;
		if (usable(a)) {
			struct pollfd pf = { .fd = a->fd, .events = POLLIN };
			if (poll(&pf, 1, (int)(left * 1000) + 1) > 0)
				pr_acks_read(a);
		} else {
			struct timespec ts = { (time_t)left, (long)((left - (time_t)left) * 1e9) };
			nanosleep(&ts, NULL);
		}
	}
}

void pr_acks_wait(struct pr_acks *a, double until)
{
	while (usable(a) && a->nacked < a->nsent && !pr_interrupted) {
		double left = until - pr_now();
		struct pollfd pf = { .fd = a->fd, .events = POLLIN };

		if (left <= 0)
			return;
		if (poll(&pf, 1, (int)(left * 1000) + 1) > 0)
			pr_acks_read(a);
	}
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return a < b ? -1 : a > b;
}

static double pct(const double *v, uint64_t n, double p)
{
	uint64_t rank = (uint64_t)(p * (double)n + 0.999999);   /* nearest rank */

	if (rank < 1)
		rank = 1;
	return v[rank - 1];
}

void pr_acks_stats(const struct pr_acks *a, struct pr_ack_stats *st)
{
	double *v;
	uint64_t n = 0;

	memset(st, 0, sizeof(*st));
	if (!a->nacked || !(v = malloc(a->nacked * sizeof(*v))))
		return;
	for (uint64_t i = 0; i < a->nsent; i++)
		if (a->rtt[i] >= 0)
			v[n++] = a->rtt[i];
	qsort(v, n, sizeof(*v), cmp_double);
	st->count = n;
	st->p50 = pct(v, n, 0.50);
	st->p90 = pct(v, n, 0.90);
	st->p99 = pct(v, n, 0.99);
	st->max = v[n - 1];
	free(v);
}

/*
 * xen_restore.h - the restore helper of the xen target.
 *
 * libxenguest restores a domain only through xc_domain_restore(), which reads
 * a whole libxc stream from an fd and blocks until END, an error or (Remus)
 * the fd's EOF after a checkpoint.  So each protected domain gets a helper
 * process that runs exactly that call, and the target feeds it bytes:
 *
 *   target (engine thread) --queue--> writer thread --data socket--> helper
 *                                          ^                          |
 *                                          +------ report socket -----+
 *
 * The engine thread never blocks on the helper: sb_xen_helper_queue() only
 * appends to a bounded in-memory queue (over the bound is an error of this
 * stream), and a writer thread of the target moves the queue into the data
 * socket at libxc's pace and reads the helper's reports (one per CHECKPOINT
 * libxc reached, then the final result).  Failover is sb_xen_helper_finish():
 * let the queue drain (it only ever holds complete checkpoints), shut the
 * data socket (EOF at an epoch boundary: libxc fails over to the last
 * checkpoint it read), and wait for the result.  A helper that dies is an
 * error of this stream only: queue() and finish() return it.
 */
#ifndef STANDBY_XEN_RESTORE_H
#define STANDBY_XEN_RESTORE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "standby/writer.h"

struct sb_xen_restore_args {
	const char *stream;          /* for messages */
	uint32_t domid;
	uint32_t store_port, console_port;
	int stream_type;             /* XC_STREAM_PLAIN / XC_STREAM_REMUS */
};

struct sb_xen_result {
	int rc;                      /* xc_domain_restore's return */
	int err;                     /* its errno */
	unsigned long store_gfn, console_gfn;
};

struct sb_xen_chunk;

struct sb_xen_helper {
	struct sb_xen_restore_args args;
	pid_t pid;
	int data_fd;                 /* parent end of the data socket */
	int report_fd;               /* parent end of the report socket */
	int wake[2];                 /* wakes the writer thread */
	pthread_t writer;
	int thread_started;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	/* under mu */
	struct sb_xen_chunk *head, *tail;
	size_t head_off;
	uint64_t queued, queue_max, fed;
	int closing;                 /* finish(): shut data_fd once the queue is empty */
	int data_closed;
	int stop;                    /* abort: the thread exits at once */
	int reports_closed;
	uint64_t checkpoints;        /* checkpoint callbacks the helper reported */
	unsigned sdd_missing;        /* static_data_done's mask */
	int have_result;
	struct sb_xen_result result;
	int failed;                  /* helper died / socket error */
	char error[256];
};

/* Fork the helper and start the writer thread.  0 or -1 with err. */
int sb_xen_helper_start(struct sb_xen_helper *h, const struct sb_xen_restore_args *a,
			uint64_t queue_max, char *err, size_t errlen);
/* Hand bytes to the writer (takes the buffer's memory; b is left empty).
 * Never blocks on the helper.  0, or -1 with err (queue over its bound,
 * helper dead). */
int sb_xen_helper_queue(struct sb_xen_helper *h, struct sb_buf *b, char *err, size_t errlen);
/* Checkpoints libxc reached so far (non-blocking). */
uint64_t sb_xen_helper_checkpoints(struct sb_xen_helper *h);
/* Wait until the helper has read at least n checkpoints (timeout_ms); 0, or -1 with err. */
int sb_xen_helper_wait_checkpoints(struct sb_xen_helper *h, uint64_t n, int timeout_ms,
				   char *err, size_t errlen);
/* Drain, shut the data socket, wait for the result (timeout_ms).  0 when
 * xc_domain_restore returned 0 (res filled), else -1 with err. */
int sb_xen_helper_finish(struct sb_xen_helper *h, int timeout_ms, struct sb_xen_result *res,
			 char *err, size_t errlen);
/* Kill the helper and free everything (also after finish). */
void sb_xen_helper_stop(struct sb_xen_helper *h);

#endif

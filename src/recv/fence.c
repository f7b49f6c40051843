/*
 * fence.c - the --fence hook: the guard against split brain.
 *
 * Before a failover activates the replica, `sh -c CMD` runs with
 * STANDBY_DOMAIN, STANDBY_EPOCH, STANDBY_REASON and STANDBY_STREAM in its
 * environment (stdin /dev/null, stdout sent to stderr so it can never corrupt
 * the back channel).  It runs beside the loop (fork + ev_child): other
 * streams go on meanwhile.  Activation happens only if it exits 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "recv/internal.h"

static void child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	struct sb_rstream *s = w->data;
	char what[64];
	int st = w->rstatus;

	(void)revents;
	ev_child_stop(loop, w);
	s->fence_pid = -1;
	if (WIFEXITED(st))
		snprintf(what, sizeof(what), "exited %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(what, sizeof(what), "killed by signal %d", WTERMSIG(st));
	else
		snprintf(what, sizeof(what), "ended (status 0x%x)", st);
	sb_rstream_fence_done(s, WIFEXITED(st) && WEXITSTATUS(st) == 0, what);
	sb_rstream_reap(s);
}

int sb_fence_start(struct sb_rstream *s, const char *reason)
{
	struct ev_loop *loop;
	char epoch[32];
	pid_t pid;

	if (!s->cfg.fence_cmd)
		return 1;
	snprintf(epoch, sizeof(epoch), "%llu", (unsigned long long)s->committed);
	/* The default loop installs libev's SIGCHLD handler: it must exist before
	 * the child can exit, or its exit would go unnoticed (replay may get here
	 * without having touched the loop yet). */
	loop = EV_DEFAULT;
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		sb_rlog(s, "fence: fork failed: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		sigset_t none;

		if (null >= 0) {
			dup2(null, 0);
			if (null > 2)
				close(null);
		}
		dup2(2, 1);
		/* libev may block signals it watches (signalfd): the hook gets a clean slate */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* and default dispositions for every standard signal, whatever
		 * standby inherited (nohup's SIGHUP, a shell's SIGINT) or set (SIGPIPE) */
		for (int sig = 1; sig < 32; sig++)
			if (sig != SIGKILL && sig != SIGSTOP)
				signal(sig, SIG_DFL);
		setenv("STANDBY_DOMAIN", s->domain, 1);
		setenv("STANDBY_EPOCH", epoch, 1);
		setenv("STANDBY_REASON", reason, 1);
		setenv("STANDBY_STREAM", s->name, 1);
		execl("/bin/sh", "sh", "-c", s->cfg.fence_cmd, (char *)NULL);
		_exit(127);
	}
	s->fence_pid = pid;
	ev_child_init(&s->fence_w, child_cb, pid, 0);
	s->fence_w.data = s;
	ev_child_start(loop, &s->fence_w);
	return 0;
}

void sb_fence_cancel(struct sb_rstream *s)
{
	if (s->fence_pid <= 0)
		return;
	ev_child_stop(EV_DEFAULT, &s->fence_w);
	kill(s->fence_pid, SIGKILL);
	waitpid(s->fence_pid, NULL, 0);
	s->fence_pid = -1;
}

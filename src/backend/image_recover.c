/*
 * image_recover.c - recovery, run before a replica is used (open, activation,
 * abort, `standby verify`), and the switch that moves a new stream's first
 * commit from .incoming into DIR.
 *
 *   switch exists      -> finish the switch (the new stream's epoch 0 wins)
 *   else .incoming     -> remove it (the earlier replica stays)
 *   journal of epoch manifest + 1, complete -> apply it again (epoch N)
 *   journal of the manifest's epoch -> leave it (applied; whole or not, it is
 *                         never replayed, and the next commit overwrites it)
 *   any other journal  -> remove it: cut short or torn (epoch N - 1, whose
 *                         files were not touched), or another epoch's
 * Afterwards DIR holds exactly one committed epoch, or none, and no journal
 * but the committed epoch's own.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "backend/image.h"

int img_switch(int dirfd, const char *dirname, char *err, size_t errlen)
{
	int in = openat(dirfd, IMG_INCOMING, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	const char *what = NULL, *name = NULL;

	if (in < 0) {
		what = "open";
		name = IMG_INCOMING;
		goto fail;
	}
	if (unlinkat(dirfd, IMG_JOURNAL, 0) && errno != ENOENT) {
		what = "unlink";
		name = IMG_JOURNAL;
		goto fail;
	}
	if (img_exists(in, IMG_MEMORY) && renameat(in, IMG_MEMORY, dirfd, IMG_MEMORY)) {
		what = "rename .incoming/memory to";
		name = IMG_MEMORY;
		goto fail;
	}
	if (img_exists(in, IMG_STATE)) {
		if (img_rm_rf(dirfd, IMG_OLD_STATE) ||
		    (img_exists(dirfd, IMG_STATE) && renameat(dirfd, IMG_STATE, dirfd, IMG_OLD_STATE))) {
			what = "move aside";
			name = IMG_STATE;
			goto fail;
		}
		img_crash_point("mid-switch");
		if (renameat(in, IMG_STATE, dirfd, IMG_STATE)) {
			what = "rename .incoming/state to";
			name = IMG_STATE;
			goto fail;
		}
	}
	if (img_exists(in, IMG_MANIFEST) && renameat(in, IMG_MANIFEST, dirfd, IMG_MANIFEST)) {
		what = "rename .incoming/manifest.json to";
		name = IMG_MANIFEST;
		goto fail;
	}
	if (img_fsync_dir(dirfd) || unlinkat(dirfd, IMG_SWITCH, 0) ||
	    img_rm_rf(dirfd, IMG_OLD_STATE) || img_rm_rf(dirfd, IMG_INCOMING)) {
		what = "finish switch:";
		name = "remove switch, .old-state, .incoming";
		goto fail;
	}
	close(in);
	return 0;
fail:
	snprintf(err, errlen, "image:%s: %s %s: %s", dirname, what, name, strerror(errno));
	if (in >= 0)
		close(in);
	return -1;
}

/* The journal after the switch or .incoming was dealt with: replay it when it
 * is the complete journal of the epoch after the manifest's; leave it when it
 * is the committed epoch's (removing it is not worth a millisecond of a
 * failover: freeing an 8 MiB tmpfs file takes about 1 ms); else remove it. */
static int recover_journal(int dirfd, const char *dirname, char *did, size_t didlen,
			   char *err, size_t errlen)
{
	struct img_manifest m;
	struct img_jread r;
	char merr[256];
	const char *what = NULL;
	int mrc, next;

	if (!img_exists(dirfd, IMG_JOURNAL))
		return 0;
	mrc = img_manifest_read(dirfd, &m, merr, sizeof(merr));
	if (mrc < 0) {
		snprintf(err, errlen, "image:%s: %s", dirname, merr);
		return -1;
	}
	if (img_journal_read(dirfd, 0, &r)) {
		snprintf(err, errlen, "image:%s: read %s: %s", dirname, IMG_JOURNAL, strerror(errno));
		return -1;
	}
	if (r.status == IMG_JS_ABSENT)
		return 0;
	next = r.have_epoch && mrc == 0 && m.committed && r.epoch == m.epoch + 1;
	if (next && img_journal_read(dirfd, 1, &r)) {
		snprintf(err, errlen, "image:%s: read %s: %s", dirname, IMG_JOURNAL, strerror(errno));
		img_journal_release(&r);
		return -1;
	}
	if (next && r.status == IMG_JS_COMPLETE) {
		int rc = img_commit_apply(dirfd, dirname, -1, &r.c, err, errlen);

		img_journal_release(&r);
		if (rc)
			return -1;
		snprintf(did + strlen(did), didlen - strlen(did), "%sreplayed the journal of epoch %" PRIu64,
			 did[0] ? "; " : "", r.epoch);
		return 0;               /* now the committed epoch's own journal */
	}
	img_journal_release(&r);
	if (!next && r.have_epoch && mrc == 0 && m.committed && r.epoch == m.epoch)
		return 0;               /* the committed epoch's own: left for the next commit to overwrite */
	what = next || !r.have_epoch ? "an incomplete" : "a stale";
	if (unlinkat(dirfd, IMG_JOURNAL, 0) && errno != ENOENT) {
		snprintf(err, errlen, "image:%s: unlink %s: %s", dirname, IMG_JOURNAL, strerror(errno));
		return -1;
	}
	snprintf(did + strlen(did), didlen - strlen(did), "%sdiscarded %s journal", did[0] ? "; " : "", what);
	return 0;
}

int img_recover(int dirfd, const char *dirname, char *did, size_t didlen, char *err, size_t errlen)
{
	did[0] = '\0';
	unlinkat(dirfd, IMG_SWITCH ".tmp", 0);          /* leftovers of tmp + rename */
	unlinkat(dirfd, IMG_MANIFEST ".tmp", 0);
	if (img_exists(dirfd, IMG_SWITCH)) {
		if (img_switch(dirfd, dirname, err, errlen))
			return -1;
		snprintf(did, didlen, "finished switching to a new stream's epoch 0");
	} else if (img_exists(dirfd, IMG_INCOMING)) {
		if (img_rm_rf(dirfd, IMG_INCOMING)) {
			snprintf(err, errlen, "image:%s: remove %s: %s", dirname, IMG_INCOMING,
				 strerror(errno));
			return -1;
		}
		snprintf(did, didlen, "dropped an unfinished new stream (.incoming)");
	}
	return recover_journal(dirfd, dirname, did, didlen, err, errlen);
}

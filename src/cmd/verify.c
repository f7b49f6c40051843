/*
 * verify.c - `standby verify DIR [--expect FILE] [--json]`: recover an image
 * replica if a run was cut short, recompute its digests, and compare them
 * with the manifest and, optionally, with the primary's expectations file.
 *
 * Exit: 0 consistent (and matching FILE), 1 no committed replica, damage,
 * a mismatch or an epoch missing from FILE, 2 usage errors.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>
#include "backend/image.h"
#include "cmd/commands.h"

struct verify {
	const char *dir;
	const char *expect_file;
	int json;
	struct img_manifest m;
	char memory[SB_DIGEST_HEX_LEN], state[SB_DIGEST_HEX_LEN];
	char recovered[256];
	const char *expect;             /* NULL, "match", "mismatch", "missing" */
	char problem[1024];
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: standby verify DIR [--expect FILE] [--json]\n\n"
		"Check the replica that the image target keeps in DIR: finish or drop what an\n"
		"interrupted run left (the same recovery a new stream does), then print the\n"
		"committed epoch, the domain, and the memory and state digests recomputed from\n"
		"the files (docs/image-format.md), and check them against the manifest.\n\n"
		"  --expect FILE  the simulated primary's expectations: one line per epoch,\n"
		"                 'epoch N memory SHA256HEX state SHA256HEX' ('#' starts a\n"
		"                 comment line); the replica's epoch must be listed and match\n"
		"  --json         one JSON object instead of text\n\n"
		"exit status: 0 consistent (and matching FILE), 1 no committed replica, a\n"
		"damaged replica, a mismatch, or the epoch missing from FILE; 2 usage errors.\n");
}

/* 0 found, 1 epoch not listed, -1 bad file (message printed). */
static int find_expectation(const char *file, uint64_t epoch, char mem[SB_DIGEST_HEX_LEN],
			    char st[SB_DIGEST_HEX_LEN])
{
	FILE *f = fopen(file, "r");
	char line[512];
	unsigned lineno = 0;
	int found = 1;

	if (!f) {
		fprintf(stderr, "standby verify: %s: %s\n", file, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char m[80], s[80];
		uint64_t n;
		int used = 0;
		char *p = line;

		lineno++;
		while (isspace((unsigned char)*p))
			p++;
		if (!*p || *p == '#')
			continue;
		if (sscanf(p, "epoch %" SCNu64 " memory %79s state %79s %n", &n, m, s, &used) != 3 ||
		    p[used] || strlen(m) != 64 || strlen(s) != 64 ||
		    strspn(m, "0123456789abcdefABCDEF") != 64 || strspn(s, "0123456789abcdefABCDEF") != 64) {
			fprintf(stderr, "standby verify: %s:%u: expected 'epoch N memory SHA256HEX state SHA256HEX'\n",
				file, lineno);
			fclose(f);
			return -1;
		}
		if (n == epoch && found) {
			for (int i = 0; i < 65; i++) {
				mem[i] = (char)tolower((unsigned char)m[i]);
				st[i] = (char)tolower((unsigned char)s[i]);
			}
			found = 0;
		}
	}
	fclose(f);
	return found;
}

static int take_lock(struct verify *v, int dirfd)
{
	int fd = openat(dirfd, IMG_LOCK, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0) {
		snprintf(v->problem, sizeof(v->problem), "%s/%s: %s", v->dir, IMG_LOCK, strerror(errno));
		return -1;
	}
	for (int i = 0; i < 50; i++) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };

		if (!flock(fd, LOCK_EX | LOCK_NB))
			return fd;
		if (errno != EWOULDBLOCK)
			break;
		nanosleep(&ts, NULL);
	}
	snprintf(v->problem, sizeof(v->problem), "%s: in use by a running standby (lock %s: %s)",
		 v->dir, IMG_LOCK, strerror(errno));
	close(fd);
	return -1;
}

/* Recover, read and recompute.  0 consistent, 1 problem (v->problem). */
static int check_replica(struct verify *v)
{
	char err[512];
	uint8_t d[SB_DIGEST_LEN];
	int dirfd, lockfd = -1, fd, rc = 1;

	dirfd = open(v->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		snprintf(v->problem, sizeof(v->problem), "%s: %s (no replica)", v->dir, strerror(errno));
		return 1;
	}
	lockfd = take_lock(v, dirfd);
	if (lockfd < 0)
		goto out;
	if (img_recover(dirfd, v->dir, v->recovered, sizeof(v->recovered), err, sizeof(err))) {
		snprintf(v->problem, sizeof(v->problem), "recovery failed: %s", err);
		goto out;
	}
	rc = img_manifest_read(dirfd, &v->m, err, sizeof(err));
	if (rc != 0 || !v->m.committed) {
		if (rc < 0)
			snprintf(v->problem, sizeof(v->problem), "%s: %s", v->dir, err);
		else
			snprintf(v->problem, sizeof(v->problem), "%s: no committed replica", v->dir);
		rc = 1;
		goto out;
	}
	rc = 1;
	fd = openat(dirfd, IMG_MEMORY, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || sb_digest_fd(fd, v->m.memory_bytes, d)) {
		snprintf(v->problem, sizeof(v->problem), "%s/%s: %s", v->dir, IMG_MEMORY, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	close(fd);
	sb_digest_hex(d, v->memory);
	fd = openat(dirfd, IMG_STATE, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || img_state_digest(fd, d, err, sizeof(err))) {
		snprintf(v->problem, sizeof(v->problem), "%s: %s", v->dir,
			 fd < 0 ? strerror(errno) : err);
		if (fd >= 0)
			close(fd);
		goto out;
	}
	close(fd);
	sb_digest_hex(d, v->state);
	if (strcmp(v->state, v->m.state_digest))
		snprintf(v->problem, sizeof(v->problem),
			 "state files digest to %s, the manifest says %s", v->state, v->m.state_digest);
	else if (v->m.memory_digest[0] && strcmp(v->memory, v->m.memory_digest))
		snprintf(v->problem, sizeof(v->problem),
			 "memory digests to %s, the manifest says %s", v->memory, v->m.memory_digest);
	else
		rc = 0;
out:
	if (lockfd >= 0)
		close(lockfd);
	close(dirfd);
	return rc;
}

static void json_string(const char *s)
{
	putchar('"');
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void print_json(const struct verify *v, int ok)
{
	const struct img_manifest *m = &v->m;

	printf("{\"dir\":");
	json_string(v->dir);
	printf(",\"ok\":%s,\"committed_epoch\":", ok ? "true" : "false");
	if (m->committed)
		printf("%" PRIu64, m->epoch);
	else
		printf("null");
	printf(",\"domain\":");
	if (m->domain[0])
		json_string(m->domain);
	else
		printf("null");
	printf(",\"domain_type\":%s", m->domain_type == SB_DOM_HVM ? "\"HVM\"" :
	       m->domain_type == SB_DOM_PV ? "\"PV\"" : "null");
	printf(",\"memory_bytes\":%" PRIu64 ",\"pages_present\":%" PRIu64,
	       m->memory_bytes, m->pages_present);
	printf(",\"memory_digest\":");
	v->memory[0] ? json_string(v->memory) : (void)printf("null");
	printf(",\"state_digest\":");
	v->state[0] ? json_string(v->state) : (void)printf("null");
	printf(",\"activated\":%s,\"recovered\":", m->activated ? "true" : "false");
	v->recovered[0] ? json_string(v->recovered) : (void)printf("null");
	printf(",\"expect\":");
	v->expect ? json_string(v->expect) : (void)printf("null");
	printf(",\"problem\":");
	v->problem[0] ? json_string(v->problem) : (void)printf("null");
	printf("}\n");
}

static void print_text(const struct verify *v)
{
	const struct img_manifest *m = &v->m;

	if (v->recovered[0])
		printf("recovered  %s\n", v->recovered);
	if (!m->committed)
		return;
	printf("replica    %s\n", v->dir);
	printf("domain     %s (%s)\n", m->domain[0] ? m->domain : "-",
	       m->domain_type == SB_DOM_HVM ? "HVM" : m->domain_type == SB_DOM_PV ? "PV" : "type unknown");
	printf("epoch      %" PRIu64 "\n", m->epoch);
	if (v->memory[0])
		printf("memory     %s (%" PRIu64 " bytes, %" PRIu64 " pages present)\n",
		       v->memory, m->memory_bytes, m->pages_present);
	if (v->state[0])
		printf("state      %s\n", v->state);
	if (m->activated)
		printf("activated  yes (%s, epoch %" PRIu64 ")\n", m->activation_reason, m->activation_epoch);
	else
		printf("activated  no\n");
	if (v->expect)
		printf("expect     %s\n", v->expect);
}

int cmd_verify(int argc, char **argv)
{
	struct verify v = { 0 };
	char emem[SB_DIGEST_HEX_LEN], est[SB_DIGEST_HEX_LEN];
	int rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--json")) {
			v.json = 1;
		} else if (!strcmp(argv[i], "--expect")) {
			if (++i >= argc) {
				fprintf(stderr, "standby verify: --expect needs a FILE\n");
				usage(stderr);
				return 2;
			}
			v.expect_file = argv[i];
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "standby verify: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		} else if (!v.dir) {
			v.dir = argv[i];
		} else {
			fprintf(stderr, "standby verify: one DIR only ('%s')\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (!v.dir) {
		usage(stderr);
		return 2;
	}
	if (v.expect_file && find_expectation(v.expect_file, UINT64_MAX, emem, est) < 0)
		return 2;       /* unreadable or malformed: checked before the replica */
	rc = check_replica(&v);
	if (rc == 0 && v.expect_file) {
		int f = find_expectation(v.expect_file, v.m.epoch, emem, est);

		if (f < 0)
			return 2;
		if (f > 0) {
			v.expect = "missing";
			snprintf(v.problem, sizeof(v.problem), "epoch %" PRIu64 " is not in %s",
				 v.m.epoch, v.expect_file);
			rc = 1;
		} else if (strcmp(emem, v.memory) || strcmp(est, v.state)) {
			v.expect = "mismatch";
			snprintf(v.problem, sizeof(v.problem),
				 "epoch %" PRIu64 " differs from %s: memory %s (expected %s), state %s (expected %s)",
				 v.m.epoch, v.expect_file, v.memory, emem, v.state, est);
			rc = 1;
		} else {
			v.expect = "match";
		}
	}
	if (v.json)
		print_json(&v, rc == 0);
	else
		print_text(&v);
	if (rc)
		fprintf(stderr, "standby verify: %s\n", v.problem);
	return rc;
}

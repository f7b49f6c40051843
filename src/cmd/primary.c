/*
 * primary.c - `standby primary`: a simulated Xen 4.17 primary that streams
 * plain, Remus or COLO checkpoints of a synthetic guest, with faults on demand.
 * Options only; the work is in src/primary/.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd/commands.h"
#include "primary/primary.h"

static void usage(FILE *f)
{
	fprintf(f,
"usage: standby primary (--to DEST | --exec CMD) [OPTIONS]\n"
"\n"
"Act as a Xen 4.17 primary host without a hypervisor: stream the records a real\n"
"sender writes (xl save / xl migrate, xl remus, xl remus -c) for a simulated guest\n"
"whose memory content is a deterministic function of the seed.  Use it to check a\n"
"secondary host before trusting it, and in tests.\n"
"\n"
"Where to:\n"
"  --to FILE|-|unix:PATH|tcp:HOST:PORT   write the stream there ('-' = stdout)\n"
"  --exec CMD            run 'sh -c CMD' with the stream on its stdin and its stdout\n"
"                        as the back channel (as xl does with -s \"\")\n"
"\n"
"The guest:\n"
"  --type hvm|pv         guest type (default hvm)\n"
"  --memory SIZE         guest memory, K/M/G suffixes (default 64M; 64K .. 64G)\n"
"  --seed N              content seed (default 1): same seed, same bytes\n"
"  --vcpus N             vCPUs (default 1)\n"
"  --dirty N|P%%          pages written per epoch (default 1%%)\n"
"  --pattern random|hot|sequential   which pages (default random)\n"
"\n"
"The stream:\n"
"  --mode plain|remus|colo   plain: one pass ending with END; remus: checkpoints;\n"
"                        colo: checkpoints speaking the COLO back channel (HVM only,\n"
"                        needs unix:, tcp: or --exec)\n"
"  --epochs N            checkpoints to send, epochs 0..N-1 (default: until SIGINT)\n"
"  --interval MS         pause between checkpoints (default 200, as xl remus; 0 = none)\n"
"  --xl                  xl framing: wait for the receiver's banner (when there is a\n"
"                        back channel), send xl's header and JSON config; plain mode\n"
"                        then completes xl's ready / GO / report handshake\n"
"  --name NAME           domain name in the xl config (default standby-guest)\n"
"\n"
"Faults (for tests; a crash closes the connection abruptly, RST on sockets):\n"
"  --crash-after-bytes N write exactly N bytes of the stream (xl header included), crash\n"
"  --crash-in-epoch K --crash-at POINT   crash in epoch K (default 0) at POINT:\n"
"        mid-pages              half of the epoch's first PAGE_DATA record written\n"
"        before-checkpoint      every libxc record of the epoch but CHECKPOINT\n"
"        after-checkpoint       right after libxc CHECKPOINT\n"
"        mid-emulator           half of EMULATOR_CONTEXT written (HVM)\n"
"        before-checkpoint-end  everything but CHECKPOINT_END\n"
"        start                  before the epoch's first record\n"
"     (plain mode: CHECKPOINT means libxc END, CHECKPOINT_END means libxl END)\n"
"  --crash-exit-code N   exit status after an intended crash (default 0)\n"
"  --stall-ms T --stall-in-epoch K --stall-at POINT   sleep T ms at POINT of epoch K\n"
"                        (default 0), connection kept open\n"
"  --corrupt KIND [--corrupt-in-epoch K]   one malformation in epoch K (default 0),\n"
"                        then the stream goes on (details: docs/primary.md):\n"
"        %s\n"
"\n"
"Reports:\n"
"  --expect FILE         per complete epoch: 'epoch N memory <sha256> state <sha256>'\n"
"                        (flat memory image, state records; docs/image-format.md)\n"
"  --no-acks             do not read standby's acks (docs/protocol.md)\n"
"  --ack-timeout MS      at the end, wait this long for missing acks (default 2000)\n"
"  --wait-timeout MS     wait for xl handshake and COLO back-channel messages\n"
"                        (default 30000)\n"
"  --json                print the summary as one JSON object (stdout, or stderr\n"
"                        when the stream goes to stdout)\n"
"  --quiet               no summary unless something failed\n"
"\n"
"The summary line goes to stderr: epochs, pages, bytes, MB/s, ack round trips\n"
"(p50/p90/p99/max, from the last byte of CHECKPOINT_END to the ack).\n"
"Exit status: 0 ok (also after an intended crash), 1 failure (including the\n"
"receiver going away, or a fault that was never reached), 2 usage.\n",
		pr_corrupt_list());
}

enum {
	O_MEMORY = 256, O_TYPE, O_SEED, O_VCPUS, O_DIRTY, O_PATTERN, O_MODE, O_EPOCHS, O_XL,
	O_NAME, O_TO, O_EXEC, O_INTERVAL, O_CRASH_BYTES, O_CRASH_EPOCH, O_CRASH_AT,
	O_CRASH_EXIT, O_STALL_MS, O_STALL_EPOCH, O_STALL_AT, O_CORRUPT, O_CORRUPT_EPOCH,
	O_EXPECT, O_NO_ACKS, O_ACK_TIMEOUT, O_WAIT_TIMEOUT, O_JSON, O_QUIET, O_HELP,
};

static const struct option options[] = {
	{ "memory", required_argument, NULL, O_MEMORY },
	{ "type", required_argument, NULL, O_TYPE },
	{ "seed", required_argument, NULL, O_SEED },
	{ "vcpus", required_argument, NULL, O_VCPUS },
	{ "dirty", required_argument, NULL, O_DIRTY },
	{ "pattern", required_argument, NULL, O_PATTERN },
	{ "mode", required_argument, NULL, O_MODE },
	{ "epochs", required_argument, NULL, O_EPOCHS },
	{ "xl", no_argument, NULL, O_XL },
	{ "name", required_argument, NULL, O_NAME },
	{ "to", required_argument, NULL, O_TO },
	{ "exec", required_argument, NULL, O_EXEC },
	{ "interval", required_argument, NULL, O_INTERVAL },
	{ "crash-after-bytes", required_argument, NULL, O_CRASH_BYTES },
	{ "crash-in-epoch", required_argument, NULL, O_CRASH_EPOCH },
	{ "crash-at", required_argument, NULL, O_CRASH_AT },
	{ "crash-exit-code", required_argument, NULL, O_CRASH_EXIT },
	{ "stall-ms", required_argument, NULL, O_STALL_MS },
	{ "stall-in-epoch", required_argument, NULL, O_STALL_EPOCH },
	{ "stall-at", required_argument, NULL, O_STALL_AT },
	{ "corrupt", required_argument, NULL, O_CORRUPT },
	{ "corrupt-in-epoch", required_argument, NULL, O_CORRUPT_EPOCH },
	{ "expect", required_argument, NULL, O_EXPECT },
	{ "no-acks", no_argument, NULL, O_NO_ACKS },
	{ "ack-timeout", required_argument, NULL, O_ACK_TIMEOUT },
	{ "wait-timeout", required_argument, NULL, O_WAIT_TIMEOUT },
	{ "json", no_argument, NULL, O_JSON },
	{ "quiet", no_argument, NULL, O_QUIET },
	{ "help", no_argument, NULL, O_HELP },
	{ NULL, 0, NULL, 0 },
};

static int bad(const char *fmt, const char *arg)
{
	fprintf(stderr, "standby primary: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see 'standby primary --help')\n");
	return 2;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

static int parse_u32(const char *s, uint32_t *out)
{
	uint64_t v;

	if (parse_u64(s, &v) || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	if (!*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	if (*end == 'K' || *end == 'k')
		mul = 1ull << 10;
	else if (*end == 'M' || *end == 'm')
		mul = 1ull << 20;
	else if (*end == 'G' || *end == 'g')
		mul = 1ull << 30;
	else if (*end)
		return -1;
	if (*end && end[1] && strcmp(end + 1, "iB") && strcmp(end + 1, "B"))
		return -1;
	if (v > UINT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

struct dirty_arg { int set, pct; double value; };

static int parse_dirty(const char *s, struct dirty_arg *d)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0)
		return -1;
	d->set = 1;
	d->pct = *end == '%';
	if (d->pct ? end[1] != '\0' || v > 100 : *end != '\0' || v != (double)(uint64_t)v)
		return -1;
	d->value = v;
	return 0;
}

static int want_back_channel(const struct pr_config *c)
{
	return c->exec_cmd || (c->to && (!strncmp(c->to, "unix:", 5) || !strncmp(c->to, "tcp:", 4)));
}

/* Combinations that cannot work, refused before anything is sent. */
static int check(struct pr_config *c, int epochs_set)
{
	int hvm = c->dom_type == SB_DOM_HVM;

	if (!c->to == !c->exec_cmd)
		return bad("%s", "give exactly one of --to and --exec");
	if (c->memory < 64 * 1024 || c->memory > (64ull << 30) || c->memory % SB_PAGE_SIZE)
		return bad("%s", "--memory must be a multiple of 4K between 64K and 64G");
	if (c->vcpus < 1 || c->vcpus > 128)
		return bad("%s", "--vcpus must be 1..128");
	if (c->mode == PR_COLO && !hvm)
		return bad("%s", "COLO only supports HVM guests (--type hvm)");
	if (c->mode == PR_COLO && !want_back_channel(c))
		return bad("%s", "--mode colo needs a back channel: --to unix:PATH, tcp:HOST:PORT or --exec");
	if (c->mode == PR_PLAIN) {
		if (epochs_set && c->epochs != 1)
			return bad("%s", "--mode plain has exactly one epoch (0)");
		c->epochs = 1;
	}
	if (c->crash_at == PR_PT_MID_EMULATOR && !hvm)
		return bad("%s", "mid-emulator needs --type hvm (PV streams have no emulator records)");
	if (c->stall_at == PR_PT_MID_EMULATOR && !hvm)
		return bad("%s", "mid-emulator needs --type hvm (PV streams have no emulator records)");
	if (c->stall_ms && c->stall_at == PR_PT_NONE)
		return bad("%s", "--stall-ms needs --stall-at");
	if (c->corrupt == PR_CORRUPT_BAD_PADDING && !hvm)
		return bad("%s", "bad-padding needs --type hvm (it corrupts EMULATOR_XENSTORE_DATA)");
	if (c->corrupt == PR_CORRUPT_BIG_ENDIAN_HEADER && c->corrupt_epoch != 0)
		return bad("%s", "big-endian-header only exists in epoch 0");
	if (c->corrupt == PR_CORRUPT_SHORT_CKPT_STATE && (c->mode != PR_COLO || c->corrupt_epoch == 0))
		return bad("%s", "short-checkpoint-state needs --mode colo and --corrupt-in-epoch >= 1");
	if (c->epochs) {
		if (c->crash_at != PR_PT_NONE && c->crash_epoch >= c->epochs)
			return bad("%s", "--crash-in-epoch is beyond --epochs");
		if (c->stall_at != PR_PT_NONE && c->stall_epoch >= c->epochs)
			return bad("%s", "--stall-in-epoch is beyond --epochs");
		if (c->corrupt != PR_CORRUPT_NONE && c->corrupt_epoch >= c->epochs)
			return bad("%s", "--corrupt-in-epoch is beyond --epochs");
	}
	return 0;
}

static void defaults(struct pr_config *c)
{
	memset(c, 0, sizeof(*c));
	c->memory = 64ull << 20;
	c->dom_type = SB_DOM_HVM;
	c->seed = 1;
	c->vcpus = 1;
	c->pattern = PR_RANDOM;
	c->mode = PR_REMUS;
	c->name = "standby-guest";
	c->interval_ms = 200;
	c->crash_after_bytes = UINT64_MAX;
	c->ack_timeout_ms = 2000;
	c->wait_ms = 30000;
}

static int parse_one(struct pr_config *c, int opt, const char *a, struct dirty_arg *d,
		     int *epochs_set)
{
	switch (opt) {
	case O_MEMORY: if (parse_size(a, &c->memory)) return bad("bad --memory '%s'", a); break;
	case O_TYPE:
		if (!strcmp(a, "hvm")) c->dom_type = SB_DOM_HVM;
		else if (!strcmp(a, "pv")) c->dom_type = SB_DOM_PV;
		else return bad("--type is hvm or pv, not '%s'", a);
		break;
	case O_SEED: if (parse_u64(a, &c->seed)) return bad("bad --seed '%s'", a); break;
	case O_VCPUS: if (parse_u32(a, &c->vcpus)) return bad("bad --vcpus '%s'", a); break;
	case O_DIRTY: if (parse_dirty(a, d)) return bad("--dirty is a page count or a percentage, not '%s'", a); break;
	case O_PATTERN:
		if (!strcmp(a, "random")) c->pattern = PR_RANDOM;
		else if (!strcmp(a, "hot")) c->pattern = PR_HOT;
		else if (!strcmp(a, "sequential")) c->pattern = PR_SEQUENTIAL;
		else return bad("--pattern is random, hot or sequential, not '%s'", a);
		break;
	case O_MODE:
		if (!strcmp(a, "plain")) c->mode = PR_PLAIN;
		else if (!strcmp(a, "remus")) c->mode = PR_REMUS;
		else if (!strcmp(a, "colo")) c->mode = PR_COLO;
		else return bad("--mode is plain, remus or colo, not '%s'", a);
		break;
	case O_EPOCHS:
		if (parse_u64(a, &c->epochs) || c->epochs == 0) return bad("bad --epochs '%s' (at least 1)", a);
		*epochs_set = 1;
		break;
	case O_XL: c->xl = 1; break;
	case O_NAME: c->name = a; break;
	case O_TO: c->to = a; break;
	case O_EXEC: c->exec_cmd = a; break;
	case O_INTERVAL: if (parse_u32(a, &c->interval_ms)) return bad("bad --interval '%s'", a); break;
	case O_CRASH_BYTES: if (parse_u64(a, &c->crash_after_bytes) || c->crash_after_bytes == UINT64_MAX) return bad("bad --crash-after-bytes '%s'", a); break;
	case O_CRASH_EPOCH: if (parse_u64(a, &c->crash_epoch)) return bad("bad --crash-in-epoch '%s'", a); break;
	case O_CRASH_AT: if ((c->crash_at = pr_point_parse(a)) == PR_PT_NONE) return bad("unknown --crash-at point '%s'", a); break;
	case O_CRASH_EXIT: {
		uint32_t v;
		if (parse_u32(a, &v) || v > 255) return bad("bad --crash-exit-code '%s'", a);
		c->crash_exit_code = (int)v;
		break;
	}
	case O_STALL_MS: if (parse_u32(a, &c->stall_ms)) return bad("bad --stall-ms '%s'", a); break;
	case O_STALL_EPOCH: if (parse_u64(a, &c->stall_epoch)) return bad("bad --stall-in-epoch '%s'", a); break;
	case O_STALL_AT: if ((c->stall_at = pr_point_parse(a)) == PR_PT_NONE) return bad("unknown --stall-at point '%s'", a); break;
	case O_CORRUPT: if ((c->corrupt = pr_corrupt_parse(a)) == PR_CORRUPT_NONE) return bad("unknown --corrupt kind '%s'", a); break;
	case O_CORRUPT_EPOCH: if (parse_u64(a, &c->corrupt_epoch)) return bad("bad --corrupt-in-epoch '%s'", a); break;
	case O_EXPECT: c->expect_path = a; break;
	case O_NO_ACKS: c->no_acks = 1; break;
	case O_ACK_TIMEOUT: if (parse_u32(a, &c->ack_timeout_ms)) return bad("bad --ack-timeout '%s'", a); break;
	case O_WAIT_TIMEOUT: if (parse_u32(a, &c->wait_ms)) return bad("bad --wait-timeout '%s'", a); break;
	case O_JSON: c->json = 1; break;
	case O_QUIET: c->quiet = 1; break;
	default: return 2;
	}
	return 0;
}

int cmd_primary(int argc, char **argv)
{
	struct pr_config c;
	struct dirty_arg d = { 0, 1, 1.0 };
	int opt, rc, epochs_set = 0;

	defaults(&c);
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		if (opt == 'h' || opt == O_HELP) {
			usage(stdout);
			return 0;
		}
		if (opt == '?')
			return bad("%s", "unknown option");
		if ((rc = parse_one(&c, opt, optarg, &d, &epochs_set)))
			return rc;
	}
	if (optind < argc)
		return bad("unexpected argument '%s'", argv[optind]);
	if ((rc = check(&c, epochs_set)))
		return rc;
	if (d.pct)
		c.dirty_pages = (uint64_t)((double)(c.memory / SB_PAGE_SIZE) * d.value / 100.0 + 0.5);
	else
		c.dirty_pages = (uint64_t)d.value;
	return pr_run(&c);
}

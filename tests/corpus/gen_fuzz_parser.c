/*
 * gen_fuzz_parser.c - writes the seed corpus of tests/fuzz/fuzz_parser.c:
 * small valid streams from tests/unit/streamgen.c, each behind the fuzzer's
 * control byte (see fuzz_parser.c).  Run by tests/corpus/gen-fuzz-corpus.sh.
 */
#include <stdio.h>
#include <string.h>
#include "streamgen.h"

static int put(const char *dir, const char *name, uint8_t control, const struct sg_opts *o)
{
	struct sb_buf b;
	char path[512];
	FILE *f;
	int rc;

	sb_buf_init(&b);
	sb_buf_append(&b, &control, 1);
	rc = o ? sg_stream(&b, o) : sg_back_channel(&b, 3);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (rc || !f || fwrite(b.data, 1, b.len, f) != b.len || fclose(f)) {
		fprintf(stderr, "gen_fuzz_parser: cannot write %s\n", path);
		return 1;
	}
	printf("%s: %zu bytes\n", path, b.len);
	sb_buf_free(&b);
	return 0;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "tests/corpus/fuzz_parser";
	struct sg_opts xl_pv = { .dom = SB_DOM_PV, .xl = 1, .pages = 3 };
	struct sg_opts remus = { .dom = SB_DOM_HVM, .checkpoints = 2, .pages = 1 };
	struct sg_opts colo = { .dom = SB_DOM_HVM, .checkpoints = 3, .colo = 1, .pages = 1 };
	struct sg_opts pv32 = { .dom = SB_DOM_PV, .xl = 1, .checkpoints = 2, .pages = 1, .width = 4 };
	struct sg_opts bare = { .dom = SB_DOM_HVM, .bare = 1, .pages = 1 };
	struct sg_opts v2 = { .dom = SB_DOM_HVM, .version = 2, .pages = 2 };

	return put(dir, "xl-pv-plain", 0x00, &xl_pv) |
	       put(dir, "hvm-remus-2", 0x10, &remus) |
	       put(dir, "hvm-colo-3", 0x2C, &colo) |          /* mode COLO */
	       put(dir, "colo-back", 0x01, NULL) |
	       put(dir, "xl-pv32-remus-paused", 0x88, &pv32) | /* mode REMUS, pausing */
	       put(dir, "bare-libxc-hvm", 0x00, &bare) |
	       put(dir, "hvm-v2-plain", 0x40, &v2);           /* small max_pfn */
}

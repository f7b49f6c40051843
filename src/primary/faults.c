/*
 * faults.c - names of the fault points and corruptions of `standby primary`.
 */
#include <string.h>
#include "primary/primary.h"

static const char *const point_names[] = {
	[PR_PT_NONE] = "none",
	[PR_PT_START] = "start",
	[PR_PT_MID_PAGES] = "mid-pages",
	[PR_PT_BEFORE_CHECKPOINT] = "before-checkpoint",
	[PR_PT_AFTER_CHECKPOINT] = "after-checkpoint",
	[PR_PT_MID_EMULATOR] = "mid-emulator",
	[PR_PT_BEFORE_CHECKPOINT_END] = "before-checkpoint-end",
};
#define NPOINTS (sizeof(point_names) / sizeof(point_names[0]))

static const char *const corrupt_names[] = {
	[PR_CORRUPT_NONE] = "none",
	[PR_CORRUPT_BAD_LENGTH] = "bad-length",
	[PR_CORRUPT_BAD_PFN_TYPE] = "bad-pfn-type",
	[PR_CORRUPT_BAD_PFN] = "bad-pfn",
	[PR_CORRUPT_ZERO_COUNT] = "zero-count",
	[PR_CORRUPT_UNKNOWN_RECORD] = "unknown-record",
	[PR_CORRUPT_UNKNOWN_LIBXL] = "unknown-libxl-record",
	[PR_CORRUPT_BAD_PADDING] = "bad-padding",
	[PR_CORRUPT_BIG_ENDIAN_HEADER] = "big-endian-header",
	[PR_CORRUPT_SHORT_CKPT_STATE] = "short-checkpoint-state",
};
#define NCORRUPT (sizeof(corrupt_names) / sizeof(corrupt_names[0]))

const char *pr_point_name(enum pr_point p)
{
	return (size_t)p < NPOINTS ? point_names[p] : "?";
}

enum pr_point pr_point_parse(const char *s)
{
	for (size_t i = 1; i < NPOINTS; i++)
		if (!strcmp(s, point_names[i]))
			return (enum pr_point)i;
	return PR_PT_NONE;
}

const char *pr_corrupt_name(enum pr_corrupt c)
{
	return (size_t)c < NCORRUPT ? corrupt_names[c] : "?";
}

enum pr_corrupt pr_corrupt_parse(const char *s)
{
	for (size_t i = 1; i < NCORRUPT; i++)
		if (!strcmp(s, corrupt_names[i]))
			return (enum pr_corrupt)i;
	return PR_CORRUPT_NONE;
}

const char *pr_corrupt_list(void)
{
	return "bad-length, bad-pfn-type, bad-pfn, zero-count, unknown-record,\n"
	       "        unknown-libxl-record, bad-padding, big-endian-header,\n"
	       "        short-checkpoint-state (COLO)";
}

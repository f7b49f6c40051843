/*
 * target.c - target names to their ops.
 */
#include <string.h>
#include "standby/backend.h"

static const struct sb_target_ops *const targets[] = {
	&sb_target_image,
	&sb_target_null,
};

const struct sb_target_ops *sb_target_lookup(const char *spec, const char **arg)
{
	size_t n;

	if (!spec)
		return NULL;
	n = strcspn(spec, ":");
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		if (strlen(targets[i]->name) != n || strncmp(spec, targets[i]->name, n))
			continue;
		if (arg)
			*arg = spec[n] == ':' ? spec + n + 1 : spec + n;
		return targets[i];
	}
	return NULL;       /* "xen..." too, until the xen target exists */
}

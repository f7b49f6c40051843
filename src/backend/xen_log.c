/*
 * xen_log.c - a xentoollog logger that prefixes every libxc message with
 * the stream it belongs to, so that several streams of one `standby serve`
 * can be told apart.  Messages below XTL_PROGRESS are dropped and progress
 * bars are not drawn, as libxc's default stderr logger does for a non-tty.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend/xen_log.h"

struct stream_logger {
	xentoollog_logger vtable;       /* first: libxc sees only this */
	char stream[256];
};

static void stream_vmessage(xentoollog_logger *l, xentoollog_level level, int errnoval,
			    const char *context, const char *format, va_list al)
{
	struct stream_logger *sl = (struct stream_logger *)l;
	char msg[1024];

	if (level < XTL_PROGRESS)
		return;
	vsnprintf(msg, sizeof(msg), format, al);
	if (errnoval >= 0)
		fprintf(stderr, "standby: %s: %s: %s: %s: %s\n", sl->stream,
			context ? context : "xen", xtl_level_to_string(level), msg,
			strerror(errnoval));
	else
		fprintf(stderr, "standby: %s: %s: %s: %s\n", sl->stream,
			context ? context : "xen", xtl_level_to_string(level), msg);
}

static void stream_destroy(xentoollog_logger *l)
{
	free(l);
}

xentoollog_logger *sb_xen_logger_new(const char *stream)
{
	struct stream_logger *sl = calloc(1, sizeof(*sl));

	if (!sl)
		return NULL;
	sl->vtable.vmessage = stream_vmessage;
	sl->vtable.progress = NULL;
	sl->vtable.destroy = stream_destroy;
	snprintf(sl->stream, sizeof(sl->stream), "%s", stream ? stream : "stream");
	return &sl->vtable;
}

void sb_xen_logger_free(xentoollog_logger *l)
{
	xtl_logger_destroy(l);
}

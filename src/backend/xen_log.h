/*
 * xen_log.h - libxc's and libxenguest's own messages, on stderr, named by
 * the stream they belong to ("standby: unix:3: xc: error: ...").
 */
#ifndef STANDBY_XEN_LOG_H
#define STANDBY_XEN_LOG_H
#include <xentoollog.h>

/* A logger for xc_interface_open(); stream is copied.  NULL when memory is
 * short (then pass NULL to xc_interface_open: libxc logs without the name). */
xentoollog_logger *sb_xen_logger_new(const char *stream);
/* Destroy it (NULL is fine); only after xc_interface_close(). */
void sb_xen_logger_free(xentoollog_logger *l);

#endif

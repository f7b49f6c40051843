/*
 * xen_sys.h - include the Xen tool headers from a -std=c11 build.
 *
 * <xen/hvm/save.h> refuses strict ISO C ("Anonymous structs/unions are a GNU
 * extension") and the <xen/foreign/> headers need GCC's aligned attribute; both test
 * __STRICT_ANSI__, which -std=c11 defines.  GCC and clang accept the GNU
 * constructs in C11 mode, so the flag is dropped here, for these headers only.
 */
#ifndef STANDBY_XEN_SYS_H
#define STANDBY_XEN_SYS_H

#ifdef __STRICT_ANSI__
#undef __STRICT_ANSI__
#endif
#include <xenctrl.h>
#include <xenguest.h>
#include <xenstore.h>

#endif

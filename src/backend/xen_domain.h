/*
 * xen_domain.h - the domain shell of the xen target: created with libxenctrl
 * the way the toolstack does for the guest type, named "<name>--incoming" in
 * xenstore until failover, then introduced to xenstored with the entries a
 * PV/PVH guest needs (so `xl list` and `xl console` work), renamed and
 * unpaused; destroyed when the restore fails before the first commit.
 *
 * Every failure message names the libxenctrl/libxenstore call and errno.
 */
#ifndef STANDBY_XEN_DOMAIN_H
#define STANDBY_XEN_DOMAIN_H

#include <stddef.h>
#include <stdint.h>

enum sb_xen_kind { SB_XEN_PV = 1, SB_XEN_PVH, SB_XEN_HVM };

struct sb_xen_domain_params {
	const char *name;            /* final name (the guest's) */
	enum sb_xen_kind kind;
	uint64_t max_memkb;          /* guest memory */
	uint64_t target_memkb;       /* balloon target (0: max_memkb) */
	uint32_t vcpus;
	uint8_t uuid[16];
	int have_uuid;
};

struct xs_handle;
typedef struct xc_interface_core xc_interface;

struct sb_xen_domain {
	xc_interface *xch;
	xentoollog_logger *log;          /* libxc's messages, named by the stream */
	struct xs_handle *xsh;
	struct sb_xen_domain_params p;
	char name[256];
	uint32_t domid;
	uint32_t store_port, console_port;
	unsigned long store_gfn, console_gfn;
	char uuid_str[40];
	char dom_path[64], vm_path[64];
	int created, introduced, unpaused;
};

/* Open libxenctrl (its messages named by stream) and libxenstore.  0 or -1 with err. */
int sb_xen_domain_open(struct sb_xen_domain *d, const char *stream, char *err, size_t errlen);
/* Create the paused shell, allocate its store and console event channels and
 * write its xenstore skeleton under "<name>--incoming". */
int sb_xen_domain_create(struct sb_xen_domain *d, const struct sb_xen_domain_params *p,
			 char *err, size_t errlen);
/* After a successful restore: store/console entries, xs_introduce_domain. */
int sb_xen_domain_introduce(struct sb_xen_domain *d, unsigned long store_gfn,
			    unsigned long console_gfn, char *err, size_t errlen);
/* Rename to the guest's name (refused when a live domain has it already). */
int sb_xen_domain_rename(struct sb_xen_domain *d, char *err, size_t errlen);
int sb_xen_domain_unpause(struct sb_xen_domain *d, char *err, size_t errlen);
/* Destroy the shell and its xenstore entries (no-op when none). */
void sb_xen_domain_destroy(struct sb_xen_domain *d);
void sb_xen_domain_close(struct sb_xen_domain *d);
/* Xen's version, for the libxc domain header. */
void sb_xen_domain_version(struct sb_xen_domain *d, uint32_t *major, uint32_t *minor);

#endif

/*
 * xen_domain.c - the domain shell: libxenctrl creation, xenstore entries,
 * introduction, rename, unpause, destroy.  See xen_domain.h.
 *
 * What the toolstack does and we do the same way (libxl 4.17 behaviour, from
 * its documented xenstore layout and domctl interface):
 *   create:   XEN_DOMCTL_createdomain (PVH: hvm+hap, LAPIC emulated only;
 *             HVM: hvm+hap, all emulation but vPCI; PV: none), max memory
 *             (+1 MiB slack, +4 MiB for HVM/PVH special pages), the paging
 *             pool for HAP, unbound event channels for xenstore and console
 *             (remote dom0), the xenstore skeleton named "<name>--incoming".
 *   restore:  (the helper) xc_domain_restore fills memory and vCPUs.
 *   failover: store/ and console/ entries, xs_introduce_domain, rename,
 *             xc_domain_unpause.
 */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "backend/xen_sys.h"
#include "backend/xen_domain.h"
#include "backend/xen_log.h"

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), -1)
#define XCERR(call) ERR("%s failed for domain %u: %s (errno %d)", call, d->domid, strerror(errno), errno)

int sb_xen_domain_open(struct sb_xen_domain *d, const char *stream, char *err, size_t errlen)
{
	memset(d, 0, sizeof(*d));
	d->log = sb_xen_logger_new(stream);
	d->xch = xc_interface_open(d->log, d->log, 0);
	if (!d->xch) {
		int e = errno;

		sb_xen_logger_free(d->log);
		d->log = NULL;
		return ERR("xc_interface_open failed: %s (errno %d)", strerror(e), e);
	}
	d->xsh = xs_open(0);
	if (!d->xsh) {
		int e = errno;
		xc_interface_close(d->xch);
		d->xch = NULL;
		sb_xen_logger_free(d->log);
		d->log = NULL;
		return ERR("xs_open failed (is xenstored running?): %s (errno %d)", strerror(e), e);
	}
	return 0;
}

void sb_xen_domain_version(struct sb_xen_domain *d, uint32_t *major, uint32_t *minor)
{
	int v = xc_version(d->xch, XENVER_version, NULL);

	*major = v > 0 ? (uint32_t)v >> 16 : 4;
	*minor = v > 0 ? (uint32_t)v & 0xffff : 17;
}

/* ---------------------------------------------------------------- xenstore */

struct xs_job {
	struct sb_xen_domain *d;
	xs_transaction_t t;
	const char *failed;          /* path of the first failing call */
	const char *call;
	int err;
};

static void xs_note(struct xs_job *j, const char *call, const char *path)
{
	if (!j->failed) {
		j->failed = path;
		j->call = call;
		j->err = errno;
	}
}

static void put(struct xs_job *j, const char *path, const char *value)
{
	if (!j->failed && !xs_write(j->d->xsh, j->t, path, value, (unsigned)strlen(value)))
		xs_note(j, "xs_write", path);
}

static void putf(struct xs_job *j, const char *value, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void putf(struct xs_job *j, const char *value, const char *fmt, ...)
{
	char path[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	put(j, path, value);
}

/* mode: 0 = owned by dom0, readable by the guest; 1 = owned by the guest */
static void dir(struct xs_job *j, const char *path, int guest_owned)
{
	struct xs_permissions perm[2];
	unsigned n;

	if (guest_owned) {
		perm[0] = (struct xs_permissions){ .id = j->d->domid, .perms = XS_PERM_NONE };
		n = 1;
	} else {
		perm[0] = (struct xs_permissions){ .id = 0, .perms = XS_PERM_NONE };
		perm[1] = (struct xs_permissions){ .id = j->d->domid, .perms = XS_PERM_READ };
		n = 2;
	}
	if (j->failed)
		return;
	if (!xs_mkdir(j->d->xsh, j->t, path))
		xs_note(j, "xs_mkdir", path);
	else if (!xs_set_permissions(j->d->xsh, j->t, path, perm, n))
		xs_note(j, "xs_set_permissions", path);
}

static void dirf(struct xs_job *j, int guest_owned, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void dirf(struct xs_job *j, int guest_owned, const char *fmt, ...)
{
	char path[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	dir(j, path, guest_owned);
}

/* Run fill() in a transaction, retrying when xenstored says EAGAIN. */
static int xs_txn(struct sb_xen_domain *d, void (*fill)(struct xs_job *), const char *what,
		  char *err, size_t errlen)
{
	for (int tries = 0; tries < 10; tries++) {
		struct xs_job j = { .d = d };

		j.t = xs_transaction_start(d->xsh);
		if (j.t == XBT_NULL)
			return ERR("%s: xs_transaction_start failed: %s (errno %d)", what, strerror(errno), errno);
		fill(&j);
		if (j.failed) {
			xs_transaction_end(d->xsh, j.t, true);
			return ERR("%s: %s %s failed for domain %u: %s (errno %d)", what, j.call, j.failed,
				   d->domid, strerror(j.err), j.err);
		}
		if (xs_transaction_end(d->xsh, j.t, false))
			return 0;
		if (errno != EAGAIN)
			return ERR("%s: xs_transaction_end failed: %s (errno %d)", what, strerror(errno), errno);
	}
	return ERR("%s: xenstore transaction kept conflicting (EAGAIN 10 times)", what);
}

static const char *kind_name(enum sb_xen_kind k)
{
	return k == SB_XEN_PV ? "pv" : k == SB_XEN_PVH ? "pvh" : "hvm";
}

static void fill_skeleton(struct xs_job *j)
{
	struct sb_xen_domain *d = j->d;
	const char *dp = d->dom_path;
	char v[64], incoming[300];

	snprintf(incoming, sizeof(incoming), "%s--incoming", d->name);
	dir(j, dp, 0);
	dir(j, d->vm_path, 0);
	putf(j, d->uuid_str, "%s/uuid", d->vm_path);
	putf(j, incoming, "%s/name", d->vm_path);
	putf(j, incoming, "%s/name", dp);
	snprintf(v, sizeof(v), "%u", d->domid);
	putf(j, v, "%s/domid", dp);
	putf(j, d->vm_path, "%s/vm", dp);
	dirf(j, 0, "%s/control", dp);
	dirf(j, 1, "%s/control/shutdown", dp);
	dirf(j, 1, "%s/control/sysrq", dp);
	putf(j, "1", "%s/control/platform-feature-multiprocessor-suspend", dp);
	putf(j, "1", "%s/control/platform-feature-xs_reset_watches", dp);
	dirf(j, 0, "%s/device", dp);
	dirf(j, 1, "%s/device/suspend/event-channel", dp);
	dirf(j, 1, "%s/data", dp);
	dirf(j, 1, "%s/drivers", dp);
	dirf(j, 1, "%s/feature", dp);
	dirf(j, 1, "%s/attr", dp);
	dirf(j, 1, "%s/error", dp);
	dirf(j, 0, "%s/memory", dp);
	snprintf(v, sizeof(v), "%" PRIu64, d->p.max_memkb);
	putf(j, v, "%s/memory/static-max", dp);
	snprintf(v, sizeof(v), "%" PRIu64, d->p.target_memkb ? d->p.target_memkb : d->p.max_memkb);
	putf(j, v, "%s/memory/target", dp);
	for (uint32_t i = 0; i < d->p.vcpus; i++) {
		char p[128];
		snprintf(p, sizeof(p), "%s/cpu/%u/availability", dp, i);
		put(j, p, "online");
	}
	/* libxl's own record of the type, so `xl` treats a PVH domain as PVH */
	putf(j, kind_name(d->p.kind), "/libxl/%u/type", d->domid);
}

static void fill_devices(struct xs_job *j)
{
	struct sb_xen_domain *d = j->d;
	const char *dp = d->dom_path;
	char v[64];

	dirf(j, 0, "%s/store", dp);
	snprintf(v, sizeof(v), "%u", d->store_port);
	putf(j, v, "%s/store/port", dp);
	snprintf(v, sizeof(v), "%lu", d->store_gfn);
	putf(j, v, "%s/store/ring-ref", dp);
	dirf(j, 0, "%s/console", dp);
	snprintf(v, sizeof(v), "%u", d->console_port);
	putf(j, v, "%s/console/port", dp);
	snprintf(v, sizeof(v), "%lu", d->console_gfn);
	putf(j, v, "%s/console/ring-ref", dp);
	putf(j, "xenconsoled", "%s/console/type", dp);
	putf(j, "pty", "%s/console/output", dp);
	putf(j, "1048576", "%s/console/limit", dp);
}

static void fill_rename(struct xs_job *j)
{
	struct sb_xen_domain *d = j->d;

	putf(j, d->name, "%s/name", d->dom_path);
	putf(j, d->name, "%s/name", d->vm_path);
}

/* ---------------------------------------------------------------- lifecycle */

static void make_uuid(struct sb_xen_domain *d)
{
	const uint8_t *u = d->p.uuid;

	if (!d->p.have_uuid) {
		FILE *f = fopen("/dev/urandom", "rb");
		if (!f || fread(d->p.uuid, 1, 16, f) != 16)
			for (int i = 0; i < 16; i++)
				d->p.uuid[i] = (uint8_t)(rand() ^ (getpid() >> (i % 8)));
		if (f)
			fclose(f);
		d->p.uuid[6] = (uint8_t)((d->p.uuid[6] & 0x0f) | 0x40);
		d->p.uuid[8] = (uint8_t)((d->p.uuid[8] & 0x3f) | 0x80);
	}
	snprintf(d->uuid_str, sizeof(d->uuid_str),
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11],
		 u[12], u[13], u[14], u[15]);
}

int sb_xen_domain_create(struct sb_xen_domain *d, const struct sb_xen_domain_params *p,
			 char *err, size_t errlen)
{
	struct xen_domctl_createdomain cfg;
	uint32_t domid = 0;
	uint64_t slack_kb;
	int port;

	d->p = *p;
	snprintf(d->name, sizeof(d->name), "%s", p->name);
	if (!d->p.vcpus)
		d->p.vcpus = 1;
	make_uuid(d);
	memset(&cfg, 0, sizeof(cfg));
	memcpy(cfg.handle, d->p.uuid, 16);
	cfg.max_vcpus = d->p.vcpus;
	cfg.max_evtchn_port = 1023;
	cfg.max_grant_frames = 64;
	cfg.max_maptrack_frames = 1024;
	cfg.grant_opts = XEN_DOMCTL_GRANT_version(2);
	if (p->kind == SB_XEN_PVH) {
		cfg.flags = XEN_DOMCTL_CDF_hvm | XEN_DOMCTL_CDF_hap;
		cfg.arch.emulation_flags = XEN_X86_EMU_LAPIC;
	} else if (p->kind == SB_XEN_HVM) {
		cfg.flags = XEN_DOMCTL_CDF_hvm | XEN_DOMCTL_CDF_hap;
		cfg.arch.emulation_flags = XEN_X86_EMU_ALL & ~XEN_X86_EMU_VPCI;
	}
	if (xc_domain_create(d->xch, &domid, &cfg) < 0)
		return ERR("xc_domain_create (%s, %u vcpus) failed: %s (errno %d)",
			   kind_name(p->kind), d->p.vcpus, strerror(errno), errno);
	d->domid = domid;
	d->created = 1;
	snprintf(d->dom_path, sizeof(d->dom_path), "/local/domain/%u", domid);
	snprintf(d->vm_path, sizeof(d->vm_path), "/vm/%s", d->uuid_str);

	/* still needed in 4.17 to allocate the vCPUs themselves (domctl.h) */
	if (xc_domain_max_vcpus(d->xch, domid, d->p.vcpus) < 0)
		return XCERR("xc_domain_max_vcpus");
	slack_kb = p->kind == SB_XEN_PV ? 1024 : 1024 + 4096;
	if (xc_domain_setmaxmem(d->xch, domid, d->p.max_memkb + slack_kb) < 0)
		return XCERR("xc_domain_setmaxmem");
	if (p->kind == SB_XEN_PV) {
		if (xc_domain_set_memmap_limit(d->xch, domid, d->p.max_memkb) < 0)
			return XCERR("xc_domain_set_memmap_limit");
	} else {
		/* the toolstack's HAP pool: 4 KiB x (256 per vCPU + 2 per MiB) */
		uint64_t pool_kb = 4 * (256ull * d->p.vcpus + 2 * (d->p.max_memkb / 1024));
		if (xc_set_paging_mempool_size(d->xch, domid, pool_kb * 1024) < 0)
			return XCERR("xc_set_paging_mempool_size");
	}
	port = xc_evtchn_alloc_unbound(d->xch, domid, 0);
	if (port < 0)
		return XCERR("xc_evtchn_alloc_unbound (xenstore)");
	d->store_port = (uint32_t)port;
	port = xc_evtchn_alloc_unbound(d->xch, domid, 0);
	if (port < 0)
		return XCERR("xc_evtchn_alloc_unbound (console)");
	d->console_port = (uint32_t)port;
	return xs_txn(d, fill_skeleton, "xenstore skeleton", err, errlen);
}

int sb_xen_domain_introduce(struct sb_xen_domain *d, unsigned long store_gfn,
			    unsigned long console_gfn, char *err, size_t errlen)
{
	d->store_gfn = store_gfn;
	d->console_gfn = console_gfn;
	if (xs_txn(d, fill_devices, "xenstore store/console entries", err, errlen))
		return -1;
	if (!xs_introduce_domain(d->xsh, d->domid, store_gfn, d->store_port))
		return ERR("xs_introduce_domain failed for domain %u (store gfn %#lx, port %u): %s (errno %d)",
			   d->domid, store_gfn, d->store_port, strerror(errno), errno);
	d->introduced = 1;
	return 0;
}

/* Is the name taken by another domain that Xen still runs? */
static int name_taken(struct sb_xen_domain *d, uint32_t *other)
{
	char **ents;
	unsigned n = 0;
	int taken = 0;

	ents = xs_directory(d->xsh, XBT_NULL, "/local/domain", &n);
	for (unsigned i = 0; ents && i < n && !taken; i++) {
		char path[128];
		unsigned len;
		char *name;
		uint32_t id = (uint32_t)strtoul(ents[i], NULL, 10);
		xc_dominfo_t info;

		if (id == d->domid)
			continue;
		snprintf(path, sizeof(path), "/local/domain/%s/name", ents[i]);
		name = xs_read(d->xsh, XBT_NULL, path, &len);
		if (name && !strcmp(name, d->name) &&
		    xc_domain_getinfo(d->xch, id, 1, &info) == 1 && info.domid == id && !info.dying) {
			taken = 1;
			*other = id;
		}
		free(name);
	}
	free(ents);
	return taken;
}

int sb_xen_domain_rename(struct sb_xen_domain *d, char *err, size_t errlen)
{
	uint32_t other = 0;

	if (name_taken(d, &other))
		return ERR("cannot rename domain %u to \"%s\": domain %u has that name "
			   "(is the primary still running on this host?)", d->domid, d->name, other);
	return xs_txn(d, fill_rename, "rename", err, errlen);
}

int sb_xen_domain_unpause(struct sb_xen_domain *d, char *err, size_t errlen)
{
	if (xc_domain_unpause(d->xch, d->domid) < 0)
		return XCERR("xc_domain_unpause");
	d->unpaused = 1;
	return 0;
}

void sb_xen_domain_destroy(struct sb_xen_domain *d)
{
	char path[64];

	if (!d->created)
		return;
	if (xc_domain_destroy(d->xch, d->domid) < 0)
		fprintf(stderr, "standby: xc_domain_destroy failed for domain %u: %s (errno %d)\n",
			d->domid, strerror(errno), errno);
	if (d->introduced)
		xs_release_domain(d->xsh, d->domid);
	xs_rm(d->xsh, XBT_NULL, d->dom_path);
	xs_rm(d->xsh, XBT_NULL, d->vm_path);
	snprintf(path, sizeof(path), "/libxl/%u", d->domid);
	xs_rm(d->xsh, XBT_NULL, path);
	d->created = d->introduced = 0;
}

void sb_xen_domain_close(struct sb_xen_domain *d)
{
	if (d->xsh)
		xs_close(d->xsh);
	if (d->xch)
		xc_interface_close(d->xch);
	sb_xen_logger_free(d->log);
	d->xsh = NULL;
	d->xch = NULL;
	d->log = NULL;
}

/*
 * xen.c - the "xen" target: apply committed checkpoints to a real Xen domain
 * through libxenguest (docs/xen-target.md).
 *
 * Events, as the receiver drives a target (backend.h), and what follows:
 *   open             -> options, libxenctrl + libxenstore handles
 *   initial_record   -> feed (xen_feed.c); when the feed knows the libxc
 *                       headers: create the shell (xen_domain.c) and fork the
 *                       restore helper (xen_restore.c); queue the bytes.
 *                       EMULATOR_* records are kept for the commit.
 *   commit(ep)       -> feed the epoch + CHECKPOINT; keep the epoch's emulator
 *                       records as the committed ones (files in the state dir)
 *   activate         -> drain and shut the feed (EOF at an epoch boundary);
 *                       libxc fails over to the last checkpoint; introduce,
 *                       rename, unpause
 *   abort            -> kill the helper, destroy the shell
 *   close            -> stop the helper; a shell never activated is destroyed
 *
 * Options ("xen:OPT,OPT..."): name=NAME type=pv|pvh|hvm memory=MiB vcpus=N
 * queue=MiB (bound of bytes waiting for libxc, default 1024)
 * timeout=SECONDS (failover wait for libxc, default 120) statedir=DIR
 * (default /var/lib/standby) verbose (a line per commit on stderr).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>
#include "backend/xen_sys.h"
#include "standby/backend.h"
#include "backend/xen_domain.h"
#include "backend/xen_feed.h"
#include "backend/xen_restore.h"

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), -1)

struct emu_keep {                   /* EMULATOR_* records of one epoch */
	struct sb_buf xenstore_data;    /* concatenated bodies */
	struct sb_buf context;
	int have_xsd, have_ctx;
};

struct xen_target {
	const char *stream;
	char name[256];
	enum sb_xen_kind kind;          /* 0 until known */
	uint64_t memkb, target_kb;
	uint32_t vcpus;
	uint8_t uuid[16];
	int have_uuid;
	uint64_t queue_max;
	int timeout_s;
	int verbose;
	enum sb_mode mode;
	char statedir[512];

	struct sb_xen_domain dom;
	int dom_open;
	struct sb_xen_feed feed;
	struct sb_xen_helper helper;
	int helper_running;
	struct sb_buf out;
	struct emu_keep pending;        /* the live copy's, until commit(0) */
	uint64_t commits, last_epoch;
	int activated;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- options */

static int parse_kind(const char *s, enum sb_xen_kind *k)
{
	if (!s)
		return -1;
	if (!strcmp(s, "pv"))
		*k = SB_XEN_PV;
	else if (!strcmp(s, "pvh"))
		*k = SB_XEN_PVH;
	else if (!strcmp(s, "hvm"))
		*k = SB_XEN_HVM;
	else
		return -1;
	return 0;
}

static int parse_options(struct xen_target *x, const char *arg, char *err, size_t errlen)
{
	char *copy = strdup(arg ? arg : ""), *save = NULL;
	int rc = 0;

	if (!copy)
		return ERR("xen target: out of memory");
	for (char *o = strtok_r(copy, ",", &save); o && !rc; o = strtok_r(NULL, ",", &save)) {
		char *v = strchr(o, '=');
		char *end = NULL;
		unsigned long long n = 0;

		if (v) {
			*v++ = 0;
			n = strtoull(v, &end, 10);
		}
#define NUM_OK (v && *v && end && !*end)
		if (!strcmp(o, "name") && v && *v && strlen(v) < sizeof(x->name))
			snprintf(x->name, sizeof(x->name), "%s", v);
		else if (!strcmp(o, "type") && v && !parse_kind(v, &x->kind))
			;
		else if (!strcmp(o, "memory") && NUM_OK && n > 0 && n < (1ull << 30))
			x->memkb = n * 1024;
		else if (!strcmp(o, "vcpus") && NUM_OK && n > 0 && n <= 4096)
			x->vcpus = (uint32_t)n;
		else if (!strcmp(o, "queue") && NUM_OK && n > 0 && n < (1ull << 24))
			x->queue_max = n << 20;
		else if (!strcmp(o, "timeout") && NUM_OK && n > 0 && n < 86400)
			x->timeout_s = (int)n;
		else if (!strcmp(o, "statedir") && v && *v && strlen(v) < sizeof(x->statedir) - 64)
			snprintf(x->statedir, sizeof(x->statedir), "%s", v);
		else if (!strcmp(o, "verbose") && !v)
			x->verbose = 1;
		else
			rc = ERR("xen target: bad option '%s%s%s' (name=NAME type=pv|pvh|hvm memory=MiB "
				 "vcpus=N queue=MiB timeout=SECONDS statedir=DIR verbose)",
				 o, v ? "=" : "", v ? v : "");
#undef NUM_OK
	}
	free(copy);
	return rc;
}

/* uuid and balloon target from the xl JSON config, when there is one */
static void parse_config(struct xen_target *x, const char *json)
{
	static const char *uuid_path[] = { "c_info", "uuid", NULL };
	static const char *target_path[] = { "b_info", "target_memkb", NULL };
	yajl_val root, v;
	char ebuf[128];

	if (!json)
		return;
	root = yajl_tree_parse(json, ebuf, sizeof(ebuf));
	if (!root)
		return;
	v = yajl_tree_get(root, uuid_path, yajl_t_string);
	if (v) {
		const char *s = YAJL_GET_STRING(v);
		int k = 0;
		for (; *s && k < 32; s++) {
			int h = *s >= '0' && *s <= '9' ? *s - '0' : *s >= 'a' && *s <= 'f' ? *s - 'a' + 10 :
				*s >= 'A' && *s <= 'F' ? *s - 'A' + 10 : -1;
			if (*s == '-')
				continue;
			if (h < 0)
				break;
			x->uuid[k / 2] = (uint8_t)(x->uuid[k / 2] << 4 | h);
			k++;
		}
		x->have_uuid = k == 32 && !*s;
	}
	v = yajl_tree_get(root, target_path, yajl_t_number);
	if (v && YAJL_IS_INTEGER(v) && YAJL_GET_INTEGER(v) > 0)
		x->target_kb = (uint64_t)YAJL_GET_INTEGER(v);
	yajl_tree_free(root);
}

/* ---------------------------------------------------------------- emulator records */

static void emu_reset(struct emu_keep *e)
{
	sb_buf_reset(&e->xenstore_data);
	sb_buf_reset(&e->context);
	e->have_xsd = e->have_ctx = 0;
}

static void emu_free(struct emu_keep *e)
{
	sb_buf_free(&e->xenstore_data);
	sb_buf_free(&e->context);
}

static int emu_add(struct emu_keep *e, uint32_t type, const uint8_t *body, uint32_t len)
{
	if (type == SB_LIBXL_EMULATOR_XENSTORE_DATA) {
		e->have_xsd = 1;
		return sb_buf_append(&e->xenstore_data, body, len);
	}
	if (type == SB_LIBXL_EMULATOR_CONTEXT) {
		e->have_ctx = 1;
		return sb_buf_append(&e->context, body, len);
	}
	return 0;
}

static int write_file_atomic(const char *path, const struct sb_buf *b, char *err, size_t errlen)
{
	char tmp[1000];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return ERR("xen target: open %s: %s (errno %d)", tmp, strerror(errno), errno);
	for (size_t off = 0; off < b->len;) {
		ssize_t n = write(fd, b->data + off, b->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(fd);
			return ERR("xen target: write %s: %s (errno %d)", tmp, strerror(e), e);
		}
		off += (size_t)n;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0)
		return ERR("xen target: writing %s: %s (errno %d)", path, strerror(errno), errno);
	return 0;
}

/* The committed epoch's emulator records: <statedir>/<name>/{xenstore-data,emulator-context}.
 * An epoch without them leaves the previous ones (the sender sends them when
 * they exist; Xen's receiver also keeps the last). */
static int emu_commit(struct xen_target *x, const struct emu_keep *e, char *err, size_t errlen)
{
	char dir[800], path[900];

	if (!e->have_xsd && !e->have_ctx)
		return 0;
	snprintf(dir, sizeof(dir), "%s/%s", x->statedir, x->name);
	mkdir(x->statedir, 0700);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return ERR("xen target: mkdir %s: %s (errno %d)", dir, strerror(errno), errno);
	if (e->have_xsd) {
		snprintf(path, sizeof(path), "%s/xenstore-data", dir);
		if (write_file_atomic(path, &e->xenstore_data, err, errlen))
			return -1;
	}
	if (e->have_ctx) {
		snprintf(path, sizeof(path), "%s/emulator-context", dir);
		if (write_file_atomic(path, &e->context, err, errlen))
			return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- ops */

static void xen_close(struct sb_target *t);

static int open_target(struct sb_target *t, const char *arg, const struct sb_stream_info *info,
		       char *err, size_t errlen)
{
	struct xen_target *x = calloc(1, sizeof(*x));
	uint32_t major, minor, hint = 0;

	if (!x)
		return ERR("xen target: out of memory");
	t->priv = x;
	x->stream = info->stream ? info->stream : "stream";
	x->queue_max = 1024ull << 20;
	x->timeout_s = 120;
	x->mode = info->mode;
	snprintf(x->statedir, sizeof(x->statedir), "/var/lib/standby");
	sb_buf_init(&x->out);
	if (parse_options(x, arg, err, errlen))
		return -1;
	if (info->mode == SB_MODE_COLO)
		return ERR("xen target: COLO streams are not supported (Remus and plain streams are)");
	if (!x->name[0])
		snprintf(x->name, sizeof(x->name), "%s", info->domain && *info->domain ? info->domain : "standby-guest");
	if (!x->kind && info->guest_type && parse_kind(info->guest_type, &x->kind))
		return ERR("xen target: unknown guest type \"%s\" in the config", info->guest_type);
	if (!x->memkb)
		x->memkb = info->max_memkb;
	if (!x->vcpus)
		x->vcpus = info->max_vcpus ? info->max_vcpus : 1;
	parse_config(x, info->config_json);
	if (sb_xen_domain_open(&x->dom, x->stream, err, errlen))
		return -1;
	x->dom_open = 1;
	if (x->kind == SB_XEN_PV)
		hint = SB_DOM_PV;
	else if (x->kind)
		hint = SB_DOM_HVM;
	else
		hint = info->domain_type;
	sb_xen_domain_version(&x->dom, &major, &minor);
	sb_xen_feed_init(&x->feed, hint, major, minor);
	return 0;
}

/* A failed open leaves nothing behind (close is then a no-op). */
static int xen_open(struct sb_target *t, const char *arg, const struct sb_stream_info *info,
		    char *err, size_t errlen)
{
	if (open_target(t, arg, info, err, errlen) == 0)
		return 0;
	xen_close(t);
	return -1;
}

/* The feed knows the libxc headers: make the shell and start the helper. */
static int start_restore(struct sb_target *t, struct xen_target *x, char *err, size_t errlen)
{
	struct sb_xen_domain_params p;
	struct sb_xen_restore_args a;
	char why[512];

	if (!x->kind)
		x->kind = x->feed.dom_type == SB_DOM_PV ? SB_XEN_PV : SB_XEN_PVH;
	if ((x->kind == SB_XEN_PV) != (x->feed.dom_type == SB_DOM_PV))
		return ERR("xen target: the config says %s but the libxc stream is %s",
			   x->kind == SB_XEN_PV ? "pv" : "hvm/pvh", sb_domain_type_name(x->feed.dom_type));
	if (!x->memkb)
		return ERR("xen target: memory size unknown (no xl config in the stream): give xen:memory=MiB");
	memset(&p, 0, sizeof(p));
	p.name = x->name;
	p.kind = x->kind;
	p.max_memkb = x->memkb;
	p.target_memkb = x->target_kb;
	p.vcpus = x->vcpus;
	memcpy(p.uuid, x->uuid, 16);
	p.have_uuid = x->have_uuid;
	if (sb_xen_domain_create(&x->dom, &p, why, sizeof(why))) {
		sb_xen_domain_destroy(&x->dom);
		return ERR("xen target: %s", why);
	}
	memset(&a, 0, sizeof(a));
	a.stream = x->stream;
	a.domid = x->dom.domid;
	a.store_port = x->dom.store_port;
	a.console_port = x->dom.console_port;
	a.stream_type = x->mode == SB_MODE_PLAIN ? XC_STREAM_PLAIN : XC_STREAM_REMUS;
	if (sb_xen_helper_start(&x->helper, &a, x->queue_max, why, sizeof(why))) {
		sb_xen_domain_destroy(&x->dom);
		return ERR("xen target: %s", why);
	}
	x->helper_running = 1;
	fprintf(stderr, "standby: %s: xen: domain %u \"%s--incoming\" (%s, %" PRIu64 " MiB, %u vcpus), "
		"restore helper pid %d, libxc stream v%u\n", x->stream, x->dom.domid, x->name,
		x->kind == SB_XEN_PV ? "pv" : x->kind == SB_XEN_PVH ? "pvh" : "hvm",
		x->memkb / 1024, x->vcpus, (int)x->helper.pid, x->feed.version);
	(void)t;
	return 0;
}

static int queue_out(struct xen_target *x, char *err, size_t errlen)
{
	char why[512];

	if (!x->out.len)
		return 0;
	if (sb_xen_helper_queue(&x->helper, &x->out, why, sizeof(why)))
		return ERR("xen target: domain %u: %s", x->dom.domid, why);
	return 0;
}

static int xen_initial_record(struct sb_target *t, const struct sb_record *rec,
			      char *err, size_t errlen)
{
	struct xen_target *x = t->priv;
	int was_ready = x->feed.ready;

	if (rec->layer == SB_LAYER_LIBXL) {
		if (emu_add(&x->pending, rec->type, rec->body, rec->length))
			return ERR("xen target: out of memory keeping emulator records");
		return 0;
	}
	if (sb_xen_feed_initial(&x->feed, rec, &x->out, err, errlen))
		return -1;
	if (!was_ready && x->feed.ready && start_restore(t, x, err, errlen))
		return -1;
	if (!x->feed.ready)
		return 0;
	return queue_out(x, err, errlen);
}

static int xen_commit(struct sb_target *t, const struct sb_epoch *ep,
		      const struct sb_commit_info *ci, char *err, size_t errlen)
{
	struct xen_target *x = t->priv;
	struct emu_keep e = { 0 };
	int rc;

	if (!x->helper_running)
		return ERR("xen target: commit of epoch %" PRIu64 " but no libxc data arrived before it",
			   ci->epoch);
	if (sb_xen_feed_commit(&x->feed, ep, &x->out, err, errlen) || queue_out(x, err, errlen))
		return -1;
	if (ep) {
		for (size_t i = 0; i < sb_epoch_nrecs(ep); i++) {
			const struct sb_epoch_rec *r = sb_epoch_rec(ep, i);
			if (r->layer == SB_LAYER_LIBXL && emu_add(&e, r->type, r->body, r->length)) {
				emu_free(&e);
				return ERR("xen target: out of memory keeping emulator records");
			}
		}
	}
	if (ci->epoch == 0 || !ep) {
		emu_add(&e, SB_LIBXL_EMULATOR_XENSTORE_DATA, x->pending.xenstore_data.data,
			(uint32_t)x->pending.xenstore_data.len);
		e.have_xsd = x->pending.have_xsd || e.have_xsd;
		emu_add(&e, SB_LIBXL_EMULATOR_CONTEXT, x->pending.context.data,
			(uint32_t)x->pending.context.len);
		e.have_ctx = x->pending.have_ctx || e.have_ctx;
		emu_reset(&x->pending);
	}
	rc = emu_commit(x, &e, err, errlen);
	emu_free(&e);
	if (rc)
		return -1;
	x->commits++;
	x->last_epoch = ci->epoch;
	if (x->verbose)
		fprintf(stderr, "standby: %s: xen: epoch %" PRIu64 " committed (%" PRIu64 " pages, %" PRIu64
			" bytes fed to libxc so far)\n", x->stream, ci->epoch, ci->pages, x->helper.fed);
	return 0;
}

/* Give libxl the guest's config as its own record of the domain, so that
 * `xl save`, `xl migrate`, `xl remus` of the restored guest work (libxl
 * keeps it as XEN_LIB_DIR/userdata-d.<domid>.<uuid>.libxl-json; xl's
 * preamble config is that same libxl_domain_config JSON).  Best effort. */
static void save_libxl_config(struct sb_target *t, struct xen_target *x)
{
	struct sb_buf b;
	char path[256], why[512];

	if (!t->info.config_json || !x->have_uuid)
		return;
	snprintf(path, sizeof(path), "/var/lib/xen/userdata-d.%u.%s.libxl-json", x->dom.domid,
		 x->dom.uuid_str);
	b.data = (uint8_t *)t->info.config_json;
	b.len = strlen(t->info.config_json);
	b.cap = b.len;
	if (write_file_atomic(path, &b, why, sizeof(why)))
		fprintf(stderr, "standby: %s: xen: warning: %s (xl will not know the guest's config)\n",
			x->stream, why);
}

static int xen_activate(struct sb_target *t, const struct sb_failover_info *fi,
			char *err, size_t errlen)
{
	struct xen_target *x = t->priv;
	struct sb_xen_result res;
	char why[512];
	int64_t t0 = now_ms(), t_restored;

	if (!x->helper_running)
		return ERR("xen target: failover (%s) with no domain being restored", fi->reason);
	if (sb_xen_helper_finish(&x->helper, x->timeout_s * 1000, &res, why, sizeof(why))) {
		snprintf(err, errlen, "xen target: domain %u: %s; domain destroyed", x->dom.domid, why);
		goto fail;
	}
	t_restored = now_ms();
	if (x->feed.checkpoints && sb_xen_helper_checkpoints(&x->helper) != x->feed.checkpoints) {
		snprintf(err, errlen, "xen target: domain %u: libxc read %" PRIu64 " checkpoints, %" PRIu64
			 " were fed; domain destroyed", x->dom.domid, sb_xen_helper_checkpoints(&x->helper),
			 x->feed.checkpoints);
		goto fail;
	}
	if (x->helper.sdd_missing)
		fprintf(stderr, "standby: %s: xen: warning: stream lacked static data (mask %#x: "
			"1 = CPUID policy, 2 = MSR policy); Xen's defaults apply\n", x->stream,
			x->helper.sdd_missing);
	if (sb_xen_domain_introduce(&x->dom, res.store_gfn, res.console_gfn, why, sizeof(why)) ||
	    sb_xen_domain_rename(&x->dom, why, sizeof(why)) ||
	    sb_xen_domain_unpause(&x->dom, why, sizeof(why))) {
		snprintf(err, errlen, "xen target: %s; domain %u destroyed", why, x->dom.domid);
		goto fail;
	}
	x->activated = 1;
	save_libxl_config(t, x);
	sb_xen_helper_stop(&x->helper);
	x->helper_running = 0;
	fprintf(stderr, "standby: %s: xen: failover (%s): domain %u \"%s\" running from epoch %" PRIu64
		" (%" PRIu64 " checkpoints applied); libxc finished in %" PRId64 " ms, running %" PRId64
		" ms after activate\n",
		x->stream, fi->reason, x->dom.domid, x->name, fi->epoch, x->feed.checkpoints,
		t_restored - t0, now_ms() - t0);
	return 0;
fail:
	sb_xen_helper_stop(&x->helper);
	x->helper_running = 0;
	sb_xen_domain_destroy(&x->dom);
	return -1;
}

static void xen_abort(struct sb_target *t)
{
	struct xen_target *x = t->priv;

	if (!x)
		return;
	if (x->helper_running) {
		sb_xen_helper_stop(&x->helper);
		x->helper_running = 0;
	}
	if (x->dom.created) {
		fprintf(stderr, "standby: %s: xen: no checkpoint was committed: domain %u destroyed\n",
			x->stream, x->dom.domid);
		sb_xen_domain_destroy(&x->dom);
	}
}

static int xen_status_json(struct sb_target *t, char *buf, size_t len)
{
	struct xen_target *x = t->priv;
	uint64_t applied = x->helper_running ? sb_xen_helper_checkpoints(&x->helper) : x->feed.checkpoints;
	int n = snprintf(buf, len, "{\"target\":\"xen\",\"domid\":%u,\"name\":\"%s\",\"created\":%s,"
			 "\"activated\":%s,\"commits\":%" PRIu64 ",\"checkpoints_fed\":%" PRIu64
			 ",\"checkpoints_read_by_libxc\":%" PRIu64 "}",
			 x->dom.created ? x->dom.domid : 0, x->name, x->dom.created ? "true" : "false",
			 x->activated ? "true" : "false", x->commits, x->feed.checkpoints, applied);
	return n < 0 || (size_t)n >= len ? -1 : n;
}

static void xen_close(struct sb_target *t)
{
	struct xen_target *x = t->priv;

	if (!x)
		return;
	if (x->helper_running)
		sb_xen_helper_stop(&x->helper);
	if (!x->activated && x->dom.created) {
		fprintf(stderr, "standby: %s: xen: closing without failover: domain %u destroyed\n",
			x->stream, x->dom.domid);
		sb_xen_domain_destroy(&x->dom);
	}
	if (x->dom_open)
		sb_xen_domain_close(&x->dom);
	sb_xen_feed_free(&x->feed);
	sb_buf_free(&x->out);
	emu_free(&x->pending);
	free(x);
	t->priv = NULL;
}

const struct sb_target_ops sb_target_xen = {
	.name = "xen",
	.open = xen_open,
	.initial_record = xen_initial_record,
	.commit = xen_commit,
	.activate = xen_activate,
	.abort = xen_abort,
	.status_json = xen_status_json,
	.close = xen_close,
};

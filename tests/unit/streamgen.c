/*
 * streamgen.c - sample streams and event traces for the unit tests.
 * See streamgen.h.
 */
#include <stdlib.h>
#include <string.h>
#include "streamgen.h"

const char sg_json[] =
	"{\n"
	"    \"c_info\": {\n"
	"        \"type\": \"hvm\",\n"
	"        \"name\": \"guest1\",\n"
	"        \"uuid\": \"3b2a9c4e-1111-2222-3333-444455556666\"\n"
	"    },\n"
	"    \"b_info\": {\n"
	"        \"max_vcpus\": 2,\n"
	"        \"max_memkb\": 131072,\n"
	"        \"target_memkb\": 131072\n"
	"    }\n"
	"}\n";

uint64_t sg_rand(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9E3779B97F4A7C15ull;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	uint64_t s = 0x1234567ull + seed * 0x9E3779B9ull;

	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = sg_rand(&s);
		size_t k = n - i < 8 ? n - i : 8;
		memcpy(p + i, &v, k);
	}
}

static unsigned width_of(const struct sg_opts *o)
{
	return o->width ? o->width : 8;
}

static uint32_t version_of(const struct sg_opts *o)
{
	return o->version ? o->version : 3;
}

static uint32_t dom_of(const struct sg_opts *o)
{
	return o->dom ? o->dom : SB_DOM_HVM;
}

int sg_libxc_headers(struct sb_buf *b, uint32_t dom, uint32_t version)
{
	return sb_write_libxc_image_header(b, version, 0) ||
	       sb_write_libxc_domain_header(b, dom, 4, 17) ? -1 : 0;
}

int sg_static(struct sb_buf *b, const struct sg_opts *o)
{
	uint8_t cpuid[2 * SB_CPUID_LEAF_LEN], msr[SB_MSR_ENTRY_LEN];
	unsigned w = width_of(o);
	int pv = dom_of(o) == SB_DOM_PV;

	fill(cpuid, sizeof(cpuid), 1);
	memset(msr, 0, sizeof(msr));
	sb_put_le32(msr, 0xce);
	sb_put_le64(msr + 8, 0x80000000ull);
	if (pv && sb_write_x86_pv_info(b, (uint8_t)w, w == 8 ? 4 : 3))
		return -1;
	if (version_of(o) >= 3) {
		if (sb_write_record(b, SB_LIBXC_X86_CPUID_POLICY, cpuid, sizeof(cpuid)) ||
		    sb_write_record(b, SB_LIBXC_X86_MSR_POLICY, msr, sizeof(msr)) ||
		    sb_write_record(b, SB_LIBXC_STATIC_DATA_END, NULL, 0))
			return -1;
	}
	if (pv) {
		uint32_t fpp = SB_PAGE_SIZE / w, n = SG_P2M_END / fpp + 1;
		uint64_t frames[8];
		for (uint32_t i = 0; i < n; i++)
			frames[i] = 0x10000 + i;
		if (sb_write_x86_pv_p2m_frames(b, 0, SG_P2M_END, frames, n))
			return -1;
	}
	return 0;
}

int sg_pages(struct sb_buf *b, unsigned epoch, unsigned npages)
{
	uint64_t entries[64];
	uint8_t *pages;
	int rc;

	if (npages > 63)
		return -1;
	pages = malloc((size_t)npages * SB_PAGE_SIZE + 1);
	if (!pages)
		return -1;
	for (unsigned i = 0; i < npages; i++) {
		unsigned type = i == 1 ? 0x9 : SB_PT_NOTAB;
		entries[i] = sb_pfn_entry((epoch * 5 + i * 3) % 1000, type);
		fill(pages + (size_t)i * SB_PAGE_SIZE, SB_PAGE_SIZE, epoch * 100 + i);
	}
	entries[npages] = sb_pfn_entry(1000 + epoch % 20, SB_PT_XTAB);
	rc = sb_write_page_data(b, entries, npages + 1, pages, (size_t)npages * SB_PAGE_SIZE);
	free(pages);
	return rc;
}

int sg_end_of_checkpoint(struct sb_buf *b, const struct sg_opts *o, unsigned epoch)
{
	uint8_t blob[SB_VCPU_BASIC_LEN_64];
	unsigned w = width_of(o);

	if (sb_write_tsc_info(b, 0, 2000000 + epoch, 1000ull * epoch, epoch))
		return -1;
	if (dom_of(o) == SB_DOM_PV) {
		uint8_t shinfo[SB_SHARED_INFO_LEN];
		fill(shinfo, sizeof(shinfo), 7000 + epoch);
		fill(blob, sizeof(blob), 8000 + epoch);
		if (sb_write_record(b, SB_LIBXC_SHARED_INFO, shinfo, sizeof(shinfo)) ||
		    sb_write_x86_pv_vcpu(b, SB_LIBXC_X86_PV_VCPU_BASIC, 0, blob,
					 w == 8 ? SB_VCPU_BASIC_LEN_64 : SB_VCPU_BASIC_LEN_32) ||
		    sb_write_x86_pv_vcpu(b, SB_LIBXC_X86_PV_VCPU_EXTENDED, 0, blob, 72) ||
		    sb_write_x86_pv_vcpu(b, SB_LIBXC_X86_PV_VCPU_XSAVE, 0, blob + 100, 68) ||
		    sb_write_x86_pv_vcpu(b, SB_LIBXC_X86_PV_VCPU_MSRS, 0, blob + 200, 32))
			return -1;
	} else {
		uint64_t params[6] = { 1, 0xfeff0 + epoch, 2, 0xfeff1, 17, epoch };
		fill(blob, 203, 9000 + epoch);
		if (sb_write_record(b, SB_LIBXC_HVM_CONTEXT, blob, 203) ||
		    sb_write_hvm_params(b, params, 3))
			return -1;
	}
	return 0;
}

int sg_emulators(struct sb_buf *b, unsigned epoch)
{
	static const char xs[] = "physmap/1/start_addr\0f0000000\0physmap/1/size\0800000\0"
				 "physmap/1/name\0vga";   /* + the literal's NUL */
	uint8_t ctx[400];

	fill(ctx, sizeof(ctx), 10000 + epoch);
	return sb_write_emulator_record(b, SB_LIBXL_EMULATOR_XENSTORE_DATA, SB_EMULATOR_QEMU_UPSTREAM,
					0, xs, sizeof(xs)) ||
	       sb_write_emulator_record(b, SB_LIBXL_EMULATOR_CONTEXT, SB_EMULATOR_QEMU_UPSTREAM, 0,
					ctx, 300 + epoch % 8) ? -1 : 0;
}

int sg_prefix(struct sb_buf *b, const struct sg_opts *o)
{
	if (o->xl && sb_write_xl_header(b, sg_json))
		return -1;
	return sb_write_libxl_header(b, 0) ||
	       sb_write_record(b, SB_LIBXL_LIBXC_CONTEXT, NULL, 0) ||
	       sg_libxc_headers(b, dom_of(o), version_of(o)) ||
	       sg_static(b, o) ? -1 : 0;
}

int sg_stream(struct sb_buf *b, const struct sg_opts *o)
{
	unsigned np = o->pages ? o->pages : 2;
	int hvm = dom_of(o) == SB_DOM_HVM;

	if (o->bare)
		return sg_libxc_headers(b, dom_of(o), version_of(o)) || sg_static(b, o) ||
		       sg_pages(b, 0, np) || sg_end_of_checkpoint(b, o, 0) ||
		       sb_write_record(b, SB_LIBXC_END, NULL, 0) ? -1 : 0;
	if (sg_prefix(b, o))
		return -1;
	if (o->checkpoints == 0)
		return sg_pages(b, 0, np) || sg_end_of_checkpoint(b, o, 0) ||
		       sb_write_record(b, SB_LIBXC_END, NULL, 0) ||
		       (hvm && sg_emulators(b, 0)) ||
		       sb_write_record(b, SB_LIBXL_END, NULL, 0) ? -1 : 0;
	for (unsigned e = 0; e < o->checkpoints; e++) {
		if (e && o->colo && sb_write_checkpoint_state(b, SB_CKPT_NEW))
			return -1;
		if (sg_pages(b, e, np) || sg_end_of_checkpoint(b, o, e) ||
		    sb_write_record(b, SB_LIBXC_CHECKPOINT, NULL, 0) ||
		    (hvm && sg_emulators(b, e)) ||
		    sb_write_record(b, SB_LIBXL_CHECKPOINT_END, NULL, 0))
			return -1;
	}
	return 0;
}

int sg_back_channel(struct sb_buf *b, unsigned cycles)
{
	if (sb_write_checkpoint_state(b, SB_CKPT_SVM_READY) ||
	    sb_write_checkpoint_state(b, SB_CKPT_SVM_RESUMED))
		return -1;
	for (unsigned c = 0; c < cycles; c++) {
		uint64_t pfns[16];
		unsigned n = 3 + c % 10;
		for (unsigned i = 0; i < n; i++)
			pfns[i] = 17 * c + 5 * i;
		if (sb_write_checkpoint_state(b, SB_CKPT_SVM_SUSPENDED) ||
		    sb_write_dirty_pfn_list(b, pfns, n) ||
		    sb_write_checkpoint_state(b, SB_CKPT_SVM_READY) ||
		    sb_write_checkpoint_state(b, SB_CKPT_SVM_RESUMED))
			return -1;
	}
	return 0;
}

/* ---- traces ---- */

uint64_t sg_hash(const void *p, size_t n)
{
	const uint8_t *s = p;
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i = 0;

	if (!p)
		return 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, s + i, 8);
		h = (h ^ w) * 0x100000001b3ull;
		h ^= h >> 29;
	}
	for (; i < n; i++)
		h = (h ^ s[i]) * 0x100000001b3ull;
	return h ^ n;
}

void sg_trace_init(struct sg_trace *t)
{
	memset(t, 0, sizeof(*t));
	t->abort_at = -1;
}

void sg_trace_free(struct sg_trace *t)
{
	free(t->ev);
	sg_trace_init(t);
}

static struct sg_tev *trace_add(struct sg_trace *t)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct sg_tev *e = realloc(t->ev, cap * sizeof(*e));
		if (!e)
			abort();
		t->ev = e;
		t->cap = cap;
	}
	memset(&t->ev[t->n], 0, sizeof(t->ev[0]));
	return &t->ev[t->n++];
}

int sg_trace_cb(const struct sb_event *ev, void *opaque)
{
	struct sg_trace *t = opaque;
	struct sg_tev *e;

	if (t->abort_at >= 0 && (long)t->n == t->abort_at)
		return SB_CB_ABORT;
	e = trace_add(t);
	e->kind = ev->kind;
	e->offset = ev->offset;
	switch (ev->kind) {
	case SB_EV_XL_HEADER:
		e->f[0] = ev->u.xl.mandatory_flags;
		e->f[1] = ev->u.xl.optional_flags;
		e->f[2] = ev->u.xl.optional_data_len;
		break;
	case SB_EV_PREAMBLE:
		e->hash = sg_hash(ev->u.preamble.json, ev->u.preamble.json ? ev->u.preamble.config_len : 0);
		e->f[0] = ev->u.preamble.config_len;
		e->f[1] = ev->u.preamble.max_memkb;
		e->f[2] = ev->u.preamble.max_vcpus;
		e->f[3] = ev->u.preamble.name ? sg_hash(ev->u.preamble.name, strlen(ev->u.preamble.name)) : 0;
		e->f[4] = ev->u.preamble.guest_type ?
			  sg_hash(ev->u.preamble.guest_type, strlen(ev->u.preamble.guest_type)) : 0;
		break;
	case SB_EV_LIBXL_HEADER:
		e->f[0] = ev->u.libxl_hdr.version;
		e->f[1] = ev->u.libxl_hdr.options;
		break;
	case SB_EV_LIBXC_HEADER:
		e->f[0] = ev->u.libxc_hdr.version;
		e->f[1] = ev->u.libxc_hdr.options;
		e->f[2] = ev->u.libxc_hdr.domain_type;
		e->f[3] = ev->u.libxc_hdr.page_shift;
		e->f[4] = ev->u.libxc_hdr.xen_major;
		e->f[5] = ev->u.libxc_hdr.xen_minor;
		break;
	case SB_EV_RECORD: {
		const struct sb_record *r = &ev->u.rec;
		e->layer = r->layer;
		e->type = r->type;
		e->length = r->length;
		e->hash = sg_hash(r->body, r->length);
		e->epoch = r->epoch;
		e->skipped = r->skipped;
		e->f[0] = r->index;
		e->f[1] = r->page_count;
		e->f[2] = r->data_pages;
		e->f[3] = r->pfn_min;
		e->f[4] = r->pfn_max;
		e->f[5] = r->offset;
		if (r->body && t->base) {
			if (r->body >= t->base && r->body + r->length <= t->base + t->base_len)
				t->in_place++;
			else
				t->copied++;
		}
		break;
	}
	case SB_EV_EPOCH_END:
		e->epoch = ev->u.epoch.number;
		e->f[0] = ev->u.epoch.pages;
		e->f[1] = ev->u.epoch.data_pages;
		e->f[2] = ev->u.epoch.bytes;
		e->f[3] = ev->u.epoch.records;
		break;
	case SB_EV_END:
		t->got_end = 1;
		break;
	}
	t->paused = t->pause_every;
	return t->pause_every ? SB_CB_PAUSE : SB_CB_CONTINUE;
}

static int tev_equal(const struct sg_tev *a, const struct sg_tev *b)
{
	if (a->kind != b->kind || a->offset != b->offset || a->layer != b->layer ||
	    a->type != b->type || a->length != b->length || a->hash != b->hash ||
	    a->epoch != b->epoch || a->skipped != b->skipped)
		return 0;
	for (int i = 0; i < 6; i++)
		if (a->f[i] != b->f[i])
			return 0;
	return 1;
}

long sg_trace_diff(const struct sg_trace *a, const struct sg_trace *b)
{
	size_t n = a->n < b->n ? a->n : b->n;

	for (size_t i = 0; i < n; i++)
		if (!tev_equal(&a->ev[i], &b->ev[i]))
			return (long)i;
	return a->n == b->n ? -1 : (long)n;
}

size_t sg_trace_count(const struct sg_trace *t, int kind)
{
	size_t c = 0;

	for (size_t i = 0; i < t->n; i++)
		c += t->ev[i].kind == kind;
	return c;
}

int sg_parse(const uint8_t *data, size_t len, const size_t *cuts, size_t ncuts,
	     const struct sb_parser_config *cfg, struct sg_trace *t, struct sb_error *err,
	     size_t *consumed)
{
	struct sb_parser_config c;
	struct sb_parser *p;
	size_t start = 0;
	int rc = 0;

	if (cfg)
		c = *cfg;
	else
		memset(&c, 0, sizeof(c));
	c.cb = sg_trace_cb;
	c.opaque = t;
	if (!c.name)
		c.name = "test";
	p = sb_parser_new(&c);
	if (!p)
		abort();
	for (size_t i = 0; i <= ncuts && !t->got_end; i++) {
		size_t end = i < ncuts && cuts[i] < len ? cuts[i] : len;
		while (start < end && !t->got_end) {
			ssize_t r;
			t->paused = 0;
			r = sb_parser_feed(p, data + start, end - start);
			if (r < 0) {
				rc = -1;
				goto out;
			}
			start += (size_t)r;
			if (start < end && !t->paused && !t->got_end) {
				rc = -2;        /* the parser stopped for no reason */
				goto out;
			}
		}
	}
	rc = sb_parser_finish(p);
out:
	if (err)
		*err = *sb_parser_error(p);
	if (consumed)
		*consumed = start;
	sb_parser_free(p);
	return rc;
}

/*
 * xen_feed.c - re-encode target input into the libxc stream the restore
 * helper reads.  See xen_feed.h for the shape of the output.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend/xen_feed.h"

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), -1)
#define NOMEM() ERR("xen feed: out of memory re-encoding the libxc stream")

void sb_xen_feed_init(struct sb_xen_feed *f, uint32_t dom_type_hint,
		      uint32_t xen_major, uint32_t xen_minor)
{
	memset(f, 0, sizeof(*f));
	f->dom_type_hint = dom_type_hint;
	f->xen_major = xen_major;
	f->xen_minor = xen_minor;
	sb_buf_init(&f->pending);
}

void sb_xen_feed_free(struct sb_xen_feed *f)
{
	sb_buf_free(&f->pending);
}

int sb_xen_feed_start(struct sb_xen_feed *f, struct sb_buf *out, uint32_t version)
{
	if (f->ready)
		return 0;
	f->dom_type = f->seen_pv_info ? SB_DOM_PV : f->dom_type_hint ? f->dom_type_hint : SB_DOM_HVM;
	f->version = version;
	if (sb_write_libxc_image_header(out, version, 0) ||
	    sb_write_libxc_domain_header(out, f->dom_type, f->xen_major, f->xen_minor) ||
	    sb_buf_append(out, f->pending.data, f->pending.len))
		return -1;
	sb_buf_free(&f->pending);
	f->ready = 1;
	return 0;
}

/* Records that may precede STATIC_DATA_END (the static data of v3). */
static int is_static(uint32_t type)
{
	return type == SB_LIBXC_X86_PV_INFO || type == SB_LIBXC_X86_CPUID_POLICY ||
	       type == SB_LIBXC_X86_MSR_POLICY;
}

int sb_xen_feed_initial(struct sb_xen_feed *f, const struct sb_record *rec,
			struct sb_buf *out, char *err, size_t errlen)
{
	uint32_t type = rec->type & ~SB_REC_OPTIONAL;

	if (rec->layer != SB_LAYER_LIBXC)
		return 0;                       /* libxl records are the target's */
	if (type == SB_LIBXC_CHECKPOINT) {
		f->held_checkpoint = 1;         /* fed at commit(0) */
		return 0;
	}
	if (type == SB_LIBXC_X86_PV_INFO) {
		if (f->dom_type_hint == SB_DOM_HVM)
			return ERR("xen feed: record #%llu: X86_PV_INFO in a stream whose config says HVM/PVH",
				   (unsigned long long)rec->index);
		f->seen_pv_info = 1;
	}
	if (!f->ready) {
		if (type == SB_LIBXC_STATIC_DATA_END) {
			if (sb_xen_feed_start(f, out, 3) ||
			    sb_write_record(out, rec->type, rec->body, rec->length))
				return NOMEM();
			f->records++;
			return 0;
		}
		if (is_static(type)) {
			if (sb_write_record(&f->pending, rec->type, rec->body, rec->length))
				return NOMEM();
			f->records++;
			return 0;
		}
		/* memory or register data with no STATIC_DATA_END before it: a v2
		 * stream, for which libxc infers STATIC_DATA_END itself */
		if (sb_xen_feed_start(f, out, 2))
			return NOMEM();
	}
	if (type == SB_LIBXC_END)
		f->plain_end = 1;
	if (sb_write_record(out, rec->type, rec->body, rec->length))
		return NOMEM();
	f->records++;
	return 0;
}

/* PAGE_DATA records of at most SB_MAX_BATCH_PAGES entries from the epoch's pages. */
static int feed_pages(const struct sb_epoch *ep, struct sb_buf *out)
{
	size_t n = sb_epoch_npages(ep);

	for (size_t first = 0; first < n; first += SB_MAX_BATCH_PAGES) {
		size_t count = n - first < SB_MAX_BATCH_PAGES ? n - first : SB_MAX_BATCH_PAGES;
		size_t data = 0;
		uint8_t *hdr;

		for (size_t i = 0; i < count; i++)
			if (sb_epoch_page(ep, first + i)->data)
				data++;
		uint64_t len = SB_PAGE_DATA_HDR_LEN + 8ull * count + (uint64_t)SB_PAGE_SIZE * data;
		if (sb_write_record_header(out, SB_LIBXC_PAGE_DATA, (uint32_t)len))
			return -1;
		hdr = sb_buf_reserve(out, SB_PAGE_DATA_HDR_LEN + 8 * count);
		if (!hdr)
			return -1;
		sb_put_le32(hdr, (uint32_t)count);
		sb_put_le32(hdr + 4, 0);
		for (size_t i = 0; i < count; i++) {
			const struct sb_epoch_page *pg = sb_epoch_page(ep, first + i);
			sb_put_le64(hdr + 8 + 8 * i, sb_pfn_entry(pg->pfn, pg->type));
		}
		out->len += SB_PAGE_DATA_HDR_LEN + 8 * count;
		for (size_t i = 0; i < count; i++) {
			const struct sb_epoch_page *pg = sb_epoch_page(ep, first + i);
			if (pg->data && sb_buf_append(out, pg->data, SB_PAGE_SIZE))
				return -1;
		}
		/* body length is a multiple of 8: no padding */
	}
	return 0;
}

int sb_xen_feed_commit(struct sb_xen_feed *f, const struct sb_epoch *ep,
		       struct sb_buf *out, char *err, size_t errlen)
{
	int checkpoint = f->held_checkpoint;

	if (!f->ready)
		return ERR("xen feed: commit of epoch %llu before any libxc data",
			   ep ? (unsigned long long)sb_epoch_number(ep) : 0ull);
	if (ep) {
		if (feed_pages(ep, out))
			return NOMEM();
		for (size_t i = 0; i < sb_epoch_nrecs(ep); i++) {
			const struct sb_epoch_rec *r = sb_epoch_rec(ep, i);
			uint32_t type = r->type & ~SB_REC_OPTIONAL;

			if (r->layer != SB_LAYER_LIBXC)
				continue;
			if (type == SB_LIBXC_CHECKPOINT) {
				checkpoint = 1;
				continue;
			}
			if (type == SB_LIBXC_END)
				continue;       /* failover is the pipe's EOF, not END */
			if (type == SB_LIBXC_PAGE_DATA)
				continue;       /* never kept raw by the epoch buffer; pages above */
			if (sb_write_record(out, r->type, r->body, r->length))
				return NOMEM();
			f->records++;
		}
		checkpoint = 1;         /* a committed epoch ended with CHECKPOINT_END */
	}
	if (checkpoint && !f->plain_end) {
		if (sb_write_record(out, SB_LIBXC_CHECKPOINT, NULL, 0))
			return NOMEM();
		f->checkpoints++;
		f->records++;
	}
	f->held_checkpoint = 0;
	return 0;
}

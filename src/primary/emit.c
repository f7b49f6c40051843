/*
 * emit.c - the records of the simulated primary, in the order Xen 4.17
 * senders write them (../shared/spec/xen-streams.md §1.7, §2.6, §2.7):
 *
 *   libxl header, LIBXC_CONTEXT, libxc image + domain header (v3, Xen 4.17),
 *   [PV: X86_PV_INFO] X86_CPUID_POLICY X86_MSR_POLICY STATIC_DATA_END
 *   [PV: X86_PV_P2M_FRAMES]
 *   epoch:  [COLO, epoch >= 1: libxl CHECKPOINT_STATE(NEW)]
 *           PAGE_DATA* (at most 1024 pages each, ascending pfns)
 *           HVM: X86_TSC_INFO HVM_CONTEXT HVM_PARAMS
 *           PV:  X86_TSC_INFO SHARED_INFO, per vCPU X86_PV_VCPU_BASIC/_EXTENDED/_XSAVE
 *           libxc CHECKPOINT (plain: libxc END)
 *           HVM: libxl EMULATOR_XENSTORE_DATA EMULATOR_CONTEXT
 *           libxl CHECKPOINT_END (plain: libxl END)
 *
 * Each record is built in one reusable buffer and written whole, except at a
 * "mid" fault point where half of it is written first.  State records are fed
 * to the epoch's state hash as they are written (digest.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "primary/primary.h"

#define XEN_MAJOR 4
#define XEN_MINOR 17
#define CPUID_LEAVES_HVM 59
#define CPUID_LEAVES_PV 52
#define HVM_CONTEXT_LEN 5232
#define VCPU_EXTENDED_LEN 64
#define VCPU_XSAVE_LEN 848
#define UNKNOWN_TYPE 0x7f

/* kinds for pr_guest_fill */
enum { BLOB_CPUID = 1, BLOB_HVM_CONTEXT, BLOB_SHARED_INFO, BLOB_EMULATOR, BLOB_MSR,
       BLOB_VCPU = 0x100 };

int pr_emit_init(struct pr_emit *e, const struct pr_config *cfg, struct pr_guest *g,
		 struct pr_sink *s)
{
	memset(e, 0, sizeof(*e));
	e->cfg = cfg;
	e->g = g;
	e->sink = s;
	sb_buf_init(&e->buf);
	e->state = sb_hash_new();
	e->pfns = malloc(g->pages * sizeof(*e->pfns));
	if (!e->state || !e->pfns || !sb_buf_reserve(&e->buf, 4u << 20)) {
		pr_emit_free(e);
		return -1;
	}
	return 0;
}

void pr_emit_free(struct pr_emit *e)
{
	sb_buf_free(&e->buf);
	sb_hash_free(e->state);
	free(e->pfns);
	e->state = NULL;
	e->pfns = NULL;
}

static int corrupt_here(struct pr_emit *e, enum pr_corrupt c)
{
	if (e->cfg->corrupt != c || e->cfg->corrupt_epoch != e->epoch || e->corrupt_fired)
		return 0;
	e->corrupt_fired = 1;
	return 1;
}

static int crash_here(struct pr_emit *e, enum pr_point p)
{
	if (e->cfg->crash_at != p || e->cfg->crash_epoch != e->epoch || e->crash_fired)
		return 0;
	e->crash_fired = 1;
	return 1;
}

static int stall_here(struct pr_emit *e, enum pr_point p)
{
	if (e->cfg->stall_at != p || e->cfg->stall_epoch != e->epoch || e->stall_fired)
		return 0;
	e->stall_fired = 1;
	return 1;
}

static void stall(struct pr_emit *e)
{
	double until = pr_now() + e->cfg->stall_ms / 1000.0;

	if (!e->cfg->quiet)
		fprintf(stderr, "primary: stalling %u ms at %s of epoch %llu (byte %llu)\n",
			e->cfg->stall_ms, pr_point_name(e->cfg->stall_at),
			(unsigned long long)e->epoch, (unsigned long long)e->sink->written);
	if (e->sink->acks) {
		pr_acks_sleep(e->sink->acks, until);
		return;
	}
	while (pr_now() < until && !pr_interrupted) {
		double left = until - pr_now();
		struct timespec ts = { (time_t)left, (long)((left - (time_t)left) * 1e9) };
		nanosleep(&ts, NULL);
	}
}

static int crash(struct pr_emit *e, const char *what)
{
	snprintf(e->crash_desc, sizeof(e->crash_desc), "%s of epoch %llu: stream cut at byte %llu%s",
		 pr_point_name(e->cfg->crash_at), (unsigned long long)e->epoch,
		 (unsigned long long)e->sink->written, what);
	pr_sink_crash(e->sink);
	return PR_CRASHED;
}

/* A fault point between records. */
static int at_point(struct pr_emit *e, enum pr_point p, const char *what)
{
	if (crash_here(e, p))
		return crash(e, what);
	if (stall_here(e, p))
		stall(e);
	return 0;
}

/* Write the one record in e->buf (its header at offset 0). */
static int send_record(struct pr_emit *e, enum sb_layer layer, enum pr_point mid)
{
	uint32_t type = sb_get_le32(e->buf.data), len = sb_get_le32(e->buf.data + 4);
	int rc;

	if (sb_is_state_record(layer, type))
		sb_state_hash_add(e->state, layer, type, e->buf.data + SB_REC_HDR_LEN, len);
	if (mid != PR_PT_NONE) {
		int c = crash_here(e, mid), s = !c && stall_here(e, mid);

		if (c || s) {
			size_t half = e->buf.len / 2;
			uint64_t at = e->sink->written;
			char what[120];

			rc = pr_sink_write(e->sink, e->buf.data, half);
			if (rc)
				return rc;
			if (c) {
				snprintf(what, sizeof(what), ", %zu of the %zu bytes of %s %s at offset %llu",
					 half, e->buf.len, sb_layer_name(layer),
					 sb_record_name(layer, type), (unsigned long long)at);
				return crash(e, what);
			}
			stall(e);
			rc = pr_sink_write(e->sink, e->buf.data + half, e->buf.len - half);
			sb_buf_reset(&e->buf);
			return rc;
		}
	}
	rc = pr_sink_write(e->sink, e->buf.data, e->buf.len);
	sb_buf_reset(&e->buf);
	return rc;
}

static int send_bytes(struct pr_emit *e)
{
	int rc = pr_sink_write(e->sink, e->buf.data, e->buf.len);

	sb_buf_reset(&e->buf);
	return rc;
}

static int oom(void)
{
	fprintf(stderr, "primary: out of memory\n");
	return -1;
}

static int emit_static(struct pr_emit *e)
{
	const struct pr_guest *g = e->g;
	uint32_t nleaves = g->type == SB_DOM_HVM ? CPUID_LEAVES_HVM : CPUID_LEAVES_PV;
	uint8_t cpuid[CPUID_LEAVES_HVM * SB_CPUID_LEAF_LEN], msr[2 * SB_MSR_ENTRY_LEN];
	int rc;

	if (g->type == SB_DOM_PV) {
		if (sb_write_x86_pv_info(&e->buf, 8, 4))
			return oom();
		if ((rc = send_record(e, SB_LAYER_LIBXC, PR_PT_NONE)))
			return rc;
	}
	pr_guest_fill(g, BLOB_CPUID, 0, cpuid, sizeof(cpuid));
	for (uint32_t i = 0; i < nleaves; i++) {      /* leaf, subleaf (XEN_CPUID_NO_SUBLEAF) */
		sb_put_le32(cpuid + i * SB_CPUID_LEAF_LEN, i < 32 ? i : 0x80000000u + (i - 32));
		sb_put_le32(cpuid + i * SB_CPUID_LEAF_LEN + 4, 0xffffffffu);
	}
	pr_guest_fill(g, BLOB_MSR, 0, msr, sizeof(msr));
	sb_put_le32(msr, 0xce);                  /* MSR_INTEL_PLATFORM_INFO */
	sb_put_le32(msr + 4, 0);                 /* flags: MBZ */
	sb_put_le32(msr + 16, 0x10a);            /* MSR_ARCH_CAPABILITIES */
	sb_put_le32(msr + 20, 0);
	if (sb_write_record(&e->buf, SB_LIBXC_X86_CPUID_POLICY, cpuid, nleaves * SB_CPUID_LEAF_LEN))
		return oom();
	if ((rc = send_record(e, SB_LAYER_LIBXC, PR_PT_NONE)))
		return rc;
	if (sb_write_record(&e->buf, SB_LIBXC_X86_MSR_POLICY, msr, sizeof(msr)))
		return oom();
	if ((rc = send_record(e, SB_LAYER_LIBXC, PR_PT_NONE)))
		return rc;
	if (sb_write_record(&e->buf, SB_LIBXC_STATIC_DATA_END, NULL, 0))
		return oom();
	return send_record(e, SB_LAYER_LIBXC, PR_PT_NONE);
}

/* PV: the p2m frames covering pfns 0 .. pages-1 (512 entries per frame). */
static int emit_p2m(struct pr_emit *e)
{
	uint64_t end = e->g->pages - 1;
	uint32_t n = (uint32_t)(end / 512 + 1);
	uint64_t *frames = malloc(n * sizeof(*frames));
	int rc;

	if (!frames)
		return oom();
	for (uint32_t i = 0; i < n; i++)
		frames[i] = e->g->pages / 2 + i;
	rc = sb_write_x86_pv_p2m_frames(&e->buf, 0, (uint32_t)end, frames, n);
	free(frames);
	if (rc)
		return oom();
	return send_record(e, SB_LAYER_LIBXC, PR_PT_NONE);
}

int pr_emit_start(struct pr_emit *e)
{
	uint32_t opts = corrupt_here(e, PR_CORRUPT_BIG_ENDIAN_HEADER) ? SB_LIBXL_OPT_BIG_ENDIAN : 0;
	int rc;

	if (sb_write_libxl_header(&e->buf, opts) ||
	    sb_write_record(&e->buf, SB_LIBXL_LIBXC_CONTEXT, NULL, 0) ||
	    sb_write_libxc_image_header(&e->buf, 3, 0) ||
	    sb_write_libxc_domain_header(&e->buf, e->g->type, XEN_MAJOR, XEN_MINOR))
		return oom();
	if ((rc = send_bytes(e)) || (rc = emit_static(e)))
		return rc;
	return e->g->type == SB_DOM_PV ? emit_p2m(e) : 0;
}

int pr_emit_epoch_start(struct pr_emit *e, uint64_t epoch)
{
	e->epoch = epoch;
	e->page_recs_in_epoch = 0;
	e->epoch_pages = 0;
	return at_point(e, PR_PT_START, ", before the epoch's first record");
}

int pr_emit_checkpoint_state(struct pr_emit *e, uint32_t id)
{
	int bad = id == SB_CKPT_NEW && corrupt_here(e, PR_CORRUPT_SHORT_CKPT_STATE);

	if (bad ? sb_write_record_header(&e->buf, SB_LIBXL_CHECKPOINT_STATE, 0)
		: sb_write_checkpoint_state(&e->buf, id))
		return oom();
	return send_record(e, SB_LAYER_LIBXL, PR_PT_NONE);
}

static int emit_zero_count(struct pr_emit *e)
{
	uint8_t body[SB_PAGE_DATA_HDR_LEN] = { 0 };

	if (sb_write_record(&e->buf, SB_LIBXC_PAGE_DATA, body, sizeof(body)))
		return oom();
	return send_record(e, SB_LAYER_LIBXC, PR_PT_NONE);
}

/* One PAGE_DATA of pfns[0..n-1], pages generated in place. */
static int emit_batch(struct pr_emit *e, const uint64_t *pfns, uint32_t n)
{
	int bad_len = corrupt_here(e, PR_CORRUPT_BAD_LENGTH);
	uint64_t len = SB_PAGE_DATA_HDR_LEN + 8ull * n + (uint64_t)SB_PAGE_SIZE * n;
	uint8_t *d;
	int rc;

	if (!sb_buf_reserve(&e->buf, SB_REC_HDR_LEN + len + 8))
		return oom();
	sb_write_record_header(&e->buf, SB_LIBXC_PAGE_DATA, (uint32_t)(len + (bad_len ? 8 : 0)));
	d = e->buf.data + e->buf.len;
	sb_put_le32(d, n);
	sb_put_le32(d + 4, 0);
	for (uint32_t i = 0; i < n; i++)
		sb_put_le64(d + 8 + 8ull * i, sb_pfn_entry(pfns[i], pr_guest_ptype(e->g, pfns[i])));
	if (corrupt_here(e, PR_CORRUPT_BAD_PFN_TYPE))
		sb_put_le64(d + 8, sb_pfn_entry(pfns[0], 5));
	if (corrupt_here(e, PR_CORRUPT_BAD_PFN))
		sb_put_le64(d + 8, sb_pfn_entry(pfns[0], pr_guest_ptype(e->g, pfns[0])) | 1ull << 52);
	d += 8 + 8ull * n;
	for (uint32_t i = 0; i < n; i++)
		pr_guest_page(e->g, pfns[i], d + (size_t)SB_PAGE_SIZE * i);
	e->buf.len += len;
	if (bad_len)
		sb_buf_zero(&e->buf, 8);
	e->page_recs_in_epoch++;
	rc = send_record(e, SB_LAYER_LIBXC, e->page_recs_in_epoch == 1 ? PR_PT_MID_PAGES : PR_PT_NONE);
	if (rc == 0) {
		e->pages_total += n;
		e->epoch_pages += n;
	}
	return rc;
}

int pr_emit_pages(struct pr_emit *e)
{
	uint64_t n = pr_guest_take_dirty(e->g, e->pfns);
	int rc;

	if (corrupt_here(e, PR_CORRUPT_ZERO_COUNT) && (rc = emit_zero_count(e)))
		return rc;
	for (uint64_t i = 0; i < n; i += SB_MAX_BATCH_PAGES) {
		uint32_t cnt = n - i < SB_MAX_BATCH_PAGES ? (uint32_t)(n - i) : SB_MAX_BATCH_PAGES;

		if ((rc = emit_batch(e, e->pfns + i, cnt)))
			return rc;
	}
	return 0;
}

static int emit_hvm_state(struct pr_emit *e)
{
	uint32_t clen = HVM_CONTEXT_LEN + (e->g->vcpus - 1) * 1024;
	uint8_t *ctx = malloc(clen);
	/* index, value: STORE_PFN, CONSOLE_PFN, IOREQ_PFN, BUFIOREQ_PFN, IDENT_PT,
	 * ACPI_IOPORTS_LOCATION, NR_IOREQ_SERVER_PAGES, IOREQ_SERVER_PFN.  The
	 * special pages sit above guest RAM, as in real HVM guests. */
	uint64_t params[] = { 1, 0xfeffc, 17, 0xfefff, 5, 0xfeff0, 6, 0xfeff1,
			      12, 0xfeffd000, 19, 1, 33, 8, 32, 0xfeff2 };
	int rc;

	if (!ctx)
		return oom();
	pr_guest_fill(e->g, BLOB_HVM_CONTEXT, e->epoch, ctx, clen);
	rc = sb_write_record(&e->buf, SB_LIBXC_HVM_CONTEXT, ctx, clen);
	free(ctx);
	if (rc)
		return oom();
	if ((rc = send_record(e, SB_LAYER_LIBXC, PR_PT_NONE)))
		return rc;
	if (sb_write_hvm_params(&e->buf, params, sizeof(params) / sizeof(params[0]) / 2))
		return oom();
	return send_record(e, SB_LAYER_LIBXC, PR_PT_NONE);
}

static int emit_pv_state(struct pr_emit *e)
{
	static const struct { uint32_t type, len; } vrec[] = {
		{ SB_LIBXC_X86_PV_VCPU_BASIC, SB_VCPU_BASIC_LEN_64 },
		{ SB_LIBXC_X86_PV_VCPU_EXTENDED, VCPU_EXTENDED_LEN },
		{ SB_LIBXC_X86_PV_VCPU_XSAVE, VCPU_XSAVE_LEN },
	};
	uint8_t blob[SB_VCPU_BASIC_LEN_64];
	int rc;

	pr_guest_fill(e->g, BLOB_SHARED_INFO, e->epoch, blob, SB_SHARED_INFO_LEN);
	if (sb_write_record(&e->buf, SB_LIBXC_SHARED_INFO, blob, SB_SHARED_INFO_LEN))
		return oom();
	if ((rc = send_record(e, SB_LAYER_LIBXC, PR_PT_NONE)))
		return rc;
	for (uint32_t v = 0; v < e->g->vcpus; v++) {
		for (size_t i = 0; i < sizeof(vrec) / sizeof(vrec[0]); i++) {
			pr_guest_fill(e->g, BLOB_VCPU + v * 16 + vrec[i].type, e->epoch, blob, vrec[i].len);
			if (sb_write_x86_pv_vcpu(&e->buf, vrec[i].type, v, blob, vrec[i].len))
				return oom();
			if ((rc = send_record(e, SB_LAYER_LIBXC, PR_PT_NONE)))
				return rc;
		}
	}
	return 0;
}

int pr_emit_end_of_checkpoint(struct pr_emit *e)
{
	uint8_t zero[8] = { 0 };
	int plain = e->cfg->mode == PR_PLAIN;
	int rc;

	if (corrupt_here(e, PR_CORRUPT_UNKNOWN_RECORD)) {
		if (sb_write_record(&e->buf, UNKNOWN_TYPE, zero, sizeof(zero)))
			return oom();
		if ((rc = send_record(e, SB_LAYER_LIBXC, PR_PT_NONE)))
			return rc;
	}
	if (sb_write_tsc_info(&e->buf, 0, 2400000 + (uint32_t)(e->g->seed % 1000),
			      60000000000ull + e->epoch * 200000000ull, 0))
		return oom();
	if ((rc = send_record(e, SB_LAYER_LIBXC, PR_PT_NONE)))
		return rc;
	rc = e->g->type == SB_DOM_HVM ? emit_hvm_state(e) : emit_pv_state(e);
	if (rc)
		return rc;
	if ((rc = at_point(e, PR_PT_BEFORE_CHECKPOINT,
			   plain ? ", before libxc END" : ", before libxc CHECKPOINT")))
		return rc;
	if (sb_write_record(&e->buf, plain ? SB_LIBXC_END : SB_LIBXC_CHECKPOINT, NULL, 0))
		return oom();
	if ((rc = send_record(e, SB_LAYER_LIBXC, PR_PT_NONE)))
		return rc;
	return at_point(e, PR_PT_AFTER_CHECKPOINT,
			plain ? ", after libxc END" : ", after libxc CHECKPOINT");
}

/* qemu-xen's physmap keys for the VGA RAM (libxl__save_emulator_xenstore_data) */
static const char xenstore_blob[] =
	"physmap/f0000000/start_addr\0f0000000\0"
	"physmap/f0000000/size\0" "800000\0"
	"physmap/f0000000/name\0vga.vram";      /* + the literal's NUL */

static int emit_emulator(struct pr_emit *e)
{
	uint32_t len = 6000 + (uint32_t)(pr_mix(e->g->seed, 7) % 1024);
	uint8_t *blob;
	int rc;

	if (sb_write_emulator_record(&e->buf, SB_LIBXL_EMULATOR_XENSTORE_DATA,
				     SB_EMULATOR_QEMU_UPSTREAM, 0, xenstore_blob, sizeof(xenstore_blob)))
		return oom();
	if (corrupt_here(e, PR_CORRUPT_BAD_PADDING)) {
		size_t body = SB_REC_HDR_LEN + SB_EMULATOR_HDR_LEN + sizeof(xenstore_blob);
		memset(e->buf.data + body, 0xa5, e->buf.len - body);   /* 7 bytes */
	}
	if ((rc = send_record(e, SB_LAYER_LIBXL, PR_PT_NONE)))
		return rc;
	if (!(blob = malloc(len)))
		return oom();
	pr_guest_fill(e->g, BLOB_EMULATOR, e->epoch, blob, len);
	memcpy(blob, "QEVM", 4);                /* QEMU_VM_FILE_MAGIC, version 3 */
	sb_put_be32(blob + 4, 3);
	rc = sb_write_emulator_record(&e->buf, SB_LIBXL_EMULATOR_CONTEXT,
				      SB_EMULATOR_QEMU_UPSTREAM, 0, blob, len);
	free(blob);
	if (rc)
		return oom();
	return send_record(e, SB_LAYER_LIBXL, PR_PT_MID_EMULATOR);
}

int pr_emit_libxl_tail(struct pr_emit *e)
{
	uint8_t zero[8] = { 0 };
	int plain = e->cfg->mode == PR_PLAIN;
	int rc;

	if (e->g->type == SB_DOM_HVM && (rc = emit_emulator(e)))
		return rc;
	if (corrupt_here(e, PR_CORRUPT_UNKNOWN_LIBXL)) {
		if (sb_write_record(&e->buf, UNKNOWN_TYPE, zero, sizeof(zero)))
			return oom();
		if ((rc = send_record(e, SB_LAYER_LIBXL, PR_PT_NONE)))
			return rc;
	}
	if ((rc = at_point(e, PR_PT_BEFORE_CHECKPOINT_END,
			   plain ? ", before libxl END" : ", before libxl CHECKPOINT_END")))
		return rc;
	if (sb_write_record(&e->buf, plain ? SB_LIBXL_END : SB_LIBXL_CHECKPOINT_END, NULL, 0))
		return oom();
	return send_record(e, SB_LAYER_LIBXL, PR_PT_NONE);
}

void pr_emit_state_digest(struct pr_emit *e, uint8_t out[SB_DIGEST_LEN])
{
	sb_hash_final(e->state, out);
}

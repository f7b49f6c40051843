/*
 * format.h - wire definitions of the Xen migration v2 streams (Xen 4.17).
 *
 * Byte-exact facts: ../shared/spec/xen-streams.md and xl-protocol.md.
 * Layers, outermost first:
 *   xl save header (48 bytes, host order) + u32 config_len + JSON config (NUL-terminated)
 *   libxl stream header (16 bytes, big-endian), then libxl records
 *   LIBXC_CONTEXT -> libxc image header (24 bytes, big-endian), domain header
 *   (16 bytes, little-endian), then libxc records.
 * Every record header is {u32 type, u32 length} little-endian; the body is
 * zero-padded to a multiple of 8 bytes.  The structs below describe layout
 * only; code reads fields with the sb_get_* helpers, never by casting.
 */
#ifndef STANDBY_FORMAT_H
#define STANDBY_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* ---- xl save / migration header (tools/xl/xl.h) ---- */
#define SB_XL_MAGIC         "Xen saved domain, xl format\n \0 \r"
#define SB_XL_MAGIC_LEN     32
#define SB_XL_HDR_LEN       48
#define SB_XL_BYTEORDER     0x01020304u
#define SB_XL_MFLAG_JSON    0x1u
#define SB_XL_MFLAG_V2      0x2u
#define SB_XL_MFLAG_ALL     0x3u

struct sb_xl_header {               /* wire layout, host (LE) order */
	char     magic[SB_XL_MAGIC_LEN];
	uint32_t byteorder;
	uint32_t mandatory_flags;
	uint32_t optional_flags;
	uint32_t optional_data_len;     /* = 4 + config_len */
};

/* xl migrate handshake strings (xl.h); lengths are bytes on the wire. */
#define SB_XL_BANNER        "xl migration receiver ready, send binary domain data.\n"
#define SB_XL_BANNER_LEN    54      /* no NUL */
#define SB_XL_READY         "domain received, ready to unpause"
#define SB_XL_READY_LEN     34      /* with NUL */
#define SB_XL_GO            "domain is yours, you are cleared to unpause"
#define SB_XL_GO_LEN        44      /* with NUL */
#define SB_XL_REPORT        "my copy unpause results are as follows"
#define SB_XL_REPORT_LEN    39      /* with NUL, then 1 status byte */

/* ---- libxl stream (libxl_sr_stream_format.h) ---- */
#define SB_LIBXL_IDENT      0x4c6962786c466d74ULL   /* "LibxlFmt" */
#define SB_LIBXL_VERSION    2u
#define SB_LIBXL_OPT_BIG_ENDIAN 0x1u
#define SB_LIBXL_OPT_LEGACY     0x2u
#define SB_LIBXL_HDR_LEN    16

struct sb_libxl_header {            /* big-endian on the wire */
	uint64_t ident;
	uint32_t version;
	uint32_t options;
};

enum sb_libxl_rec {
	SB_LIBXL_END                    = 0,
	SB_LIBXL_LIBXC_CONTEXT          = 1,
	SB_LIBXL_EMULATOR_XENSTORE_DATA = 2,
	SB_LIBXL_EMULATOR_CONTEXT       = 3,
	SB_LIBXL_CHECKPOINT_END         = 4,
	SB_LIBXL_CHECKPOINT_STATE       = 5,
};

struct sb_emulator_hdr {            /* first 8 bytes of EMULATOR_* bodies */
	uint32_t emulator_id;           /* 0 unknown, 1 qemu-trad, 2 qemu-upstream */
	uint32_t index;
};
#define SB_EMULATOR_HDR_LEN 8
#define SB_EMULATOR_UNKNOWN 0u
#define SB_EMULATOR_QEMU_TRAD 1u
#define SB_EMULATOR_QEMU_UPSTREAM 2u

/* CHECKPOINT_STATE control ids (body: u32, padded to 8) */
enum sb_checkpoint_state {
	SB_CKPT_NEW           = 0,      /* primary -> secondary */
	SB_CKPT_SVM_SUSPENDED = 1,      /* secondary -> primary */
	SB_CKPT_SVM_READY     = 2,
	SB_CKPT_SVM_RESUMED   = 3,
};

/* ---- libxc stream (xg_sr_stream_format.h) ---- */
#define SB_LIBXC_MARKER     0xFFFFFFFFFFFFFFFFULL
#define SB_LIBXC_IDENT      0x58454E46u             /* "XENF" */
#define SB_LIBXC_VERSION_MIN 2u
#define SB_LIBXC_VERSION_MAX 3u
#define SB_LIBXC_OPT_BIG_ENDIAN 0x1u
#define SB_LIBXC_IHDR_LEN   24
#define SB_LIBXC_DHDR_LEN   16

struct sb_libxc_image_header {      /* big-endian on the wire */
	uint64_t marker;
	uint32_t id;
	uint32_t version;
	uint16_t options;
	uint16_t reserved1;
	uint32_t reserved2;
};

struct sb_libxc_domain_header {     /* little-endian on the wire */
	uint32_t type;                  /* SB_DOM_PV or SB_DOM_HVM */
	uint16_t page_shift;            /* 12 */
	uint16_t reserved;
	uint32_t xen_major;
	uint32_t xen_minor;
};
#define SB_DOM_PV   1u
#define SB_DOM_HVM  2u
#define SB_PAGE_SHIFT 12
#define SB_PAGE_SIZE  4096u

enum sb_libxc_rec {
	SB_LIBXC_END                       = 0x00,
	SB_LIBXC_PAGE_DATA                 = 0x01,
	SB_LIBXC_X86_PV_INFO               = 0x02,
	SB_LIBXC_X86_PV_P2M_FRAMES         = 0x03,
	SB_LIBXC_X86_PV_VCPU_BASIC         = 0x04,
	SB_LIBXC_X86_PV_VCPU_EXTENDED      = 0x05,
	SB_LIBXC_X86_PV_VCPU_XSAVE         = 0x06,
	SB_LIBXC_SHARED_INFO               = 0x07,
	SB_LIBXC_X86_TSC_INFO              = 0x08,
	SB_LIBXC_HVM_CONTEXT               = 0x09,
	SB_LIBXC_HVM_PARAMS                = 0x0A,
	SB_LIBXC_TOOLSTACK                 = 0x0B,  /* deprecated, fatal in 4.17 */
	SB_LIBXC_X86_PV_VCPU_MSRS          = 0x0C,
	SB_LIBXC_VERIFY                    = 0x0D,
	SB_LIBXC_CHECKPOINT                = 0x0E,
	SB_LIBXC_CHECKPOINT_DIRTY_PFN_LIST = 0x0F,  /* COLO back channel only */
	SB_LIBXC_STATIC_DATA_END           = 0x10,
	SB_LIBXC_X86_CPUID_POLICY          = 0x11,
	SB_LIBXC_X86_MSR_POLICY            = 0x12,
};
#define SB_LIBXC_TYPE_COUNT    0x13
#define SB_REC_OPTIONAL        0x80000000u          /* libxc: bit 31 = optional */
#define SB_REC_HDR_LEN         8
#define SB_LIBXC_REC_LENGTH_MAX (128u << 20)       /* REC_LENGTH_MAX, as Xen */
#define SB_LIBXL_REC_LENGTH_DEFAULT_MAX (128u << 20)

/* PAGE_DATA: u32 count, u32 reserved, u64 pfn[count], then 4096 bytes per data page */
#define SB_PAGE_DATA_HDR_LEN   8
#define SB_PFN_MASK            0x000FFFFFFFFFFFFFULL  /* bits 0-51 */
#define SB_PFN_RESERVED_MASK   0x0FF0000000000000ULL  /* bits 52-59 */
#define SB_PFN_TYPE_SHIFT      60                     /* type nibble: bits 60-63 */
#define SB_MAX_BATCH_PAGES     1024                   /* MAX_BATCH_SIZE of the sender */

enum sb_page_type {                 /* XEN_DOMCTL_PFINFO_* >> 28 */
	SB_PT_NOTAB   = 0x0,
	SB_PT_L1TAB   = 0x1,
	SB_PT_L2TAB   = 0x2,
	SB_PT_L3TAB   = 0x3,
	SB_PT_L4TAB   = 0x4,
	SB_PT_LPINTAB = 0x8,            /* pinned bit: 0x9-0xC are pinned L1-L4 */
	SB_PT_BROKEN  = 0xD,
	SB_PT_XALLOC  = 0xE,
	SB_PT_XTAB    = 0xF,
};
static inline uint64_t sb_pfn_of(uint64_t entry) { return entry & SB_PFN_MASK; }
static inline unsigned sb_ptype_of(uint64_t entry) { return (unsigned)(entry >> SB_PFN_TYPE_SHIFT); }
static inline uint64_t sb_pfn_entry(uint64_t pfn, unsigned type)
{
	return (pfn & SB_PFN_MASK) | ((uint64_t)type << SB_PFN_TYPE_SHIFT);
}
/* 1 = valid type, and *has_data says whether 4096 bytes follow for it */
int sb_ptype_valid(unsigned type, int *has_data);

/* X86_PV_INFO: u8 guest_width, u8 pt_levels, 6 reserved */
#define SB_PV_INFO_LEN 8
/* X86_PV_P2M_FRAMES: u32 start_pfn, u32 end_pfn, u64 p2m_pfn[] */
#define SB_P2M_FRAMES_HDR_LEN 8
/* X86_PV_VCPU_*: u32 vcpu_id, u32 reserved, blob */
#define SB_VCPU_HDR_LEN 8
#define SB_VCPU_EXTENDED_MAX 128
#define SB_VCPU_XSAVE_MIN 16
#define SB_VCPU_BASIC_LEN_64 5168       /* sizeof(vcpu_guest_context_x86_64_t) */
#define SB_VCPU_BASIC_LEN_32 2800       /* sizeof(vcpu_guest_context_x86_32_t) */
#define SB_SHARED_INFO_LEN 4096
/* X86_TSC_INFO: u32 mode, u32 khz, u64 nsec, u32 incarnation, u32 reserved */
#define SB_TSC_INFO_LEN 24
/* HVM_PARAMS: u32 count, u32 reserved, count x {u64 index, u64 value} */
#define SB_HVM_PARAMS_HDR_LEN 8
#define SB_HVM_PARAM_ENTRY_LEN 16
#define SB_CPUID_LEAF_LEN 24
#define SB_MSR_ENTRY_LEN 16
#define SB_CHECKPOINT_STATE_LEN 4

/* ---- byte access: explicit endianness, no casts of wire bytes ---- */
static inline uint16_t sb_get_le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t sb_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t sb_get_le64(const uint8_t *p)
{
	return (uint64_t)sb_get_le32(p) | (uint64_t)sb_get_le32(p + 4) << 32;
}
static inline uint16_t sb_get_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t sb_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}
static inline uint64_t sb_get_be64(const uint8_t *p)
{
	return (uint64_t)sb_get_be32(p) << 32 | (uint64_t)sb_get_be32(p + 4);
}
static inline void sb_put_le16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void sb_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline void sb_put_le64(uint8_t *p, uint64_t v) { sb_put_le32(p, (uint32_t)v); sb_put_le32(p + 4, (uint32_t)(v >> 32)); }
static inline void sb_put_be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void sb_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline void sb_put_be64(uint8_t *p, uint64_t v) { sb_put_be32(p, (uint32_t)(v >> 32)); sb_put_be32(p + 4, (uint32_t)v); }

static inline uint64_t sb_pad8(uint64_t n) { return (n + 7) & ~(uint64_t)7; }

/* ---- names ---- */
enum sb_layer { SB_LAYER_NONE = 0, SB_LAYER_XL, SB_LAYER_LIBXL, SB_LAYER_LIBXC };
const char *sb_layer_name(enum sb_layer layer);
/* "PAGE_DATA", "CHECKPOINT_END", ...; NULL when the type is unknown (optional bit ignored) */
const char *sb_record_name(enum sb_layer layer, uint32_t type);
const char *sb_checkpoint_state_name(uint32_t id);
const char *sb_domain_type_name(uint32_t type);

#endif

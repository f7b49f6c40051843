/*
 * names.c - names of layers, record types and constants, for messages.
 */
#include <stddef.h>
#include "standby/format.h"

static const char *const libxl_names[] = {
	"END", "LIBXC_CONTEXT", "EMULATOR_XENSTORE_DATA", "EMULATOR_CONTEXT",
	"CHECKPOINT_END", "CHECKPOINT_STATE",
};

static const char *const libxc_names[SB_LIBXC_TYPE_COUNT] = {
	"END", "PAGE_DATA", "X86_PV_INFO", "X86_PV_P2M_FRAMES", "X86_PV_VCPU_BASIC",
	"X86_PV_VCPU_EXTENDED", "X86_PV_VCPU_XSAVE", "SHARED_INFO", "X86_TSC_INFO",
	"HVM_CONTEXT", "HVM_PARAMS", "TOOLSTACK", "X86_PV_VCPU_MSRS", "VERIFY",
	"CHECKPOINT", "CHECKPOINT_DIRTY_PFN_LIST", "STATIC_DATA_END",
	"X86_CPUID_POLICY", "X86_MSR_POLICY",
};

const char *sb_layer_name(enum sb_layer layer)
{
	switch (layer) {
	case SB_LAYER_XL: return "xl";
	case SB_LAYER_LIBXL: return "libxl";
	case SB_LAYER_LIBXC: return "libxc";
	default: return "none";
	}
}

const char *sb_record_name(enum sb_layer layer, uint32_t type)
{
	if (layer == SB_LAYER_LIBXL && type < sizeof(libxl_names) / sizeof(libxl_names[0]))
		return libxl_names[type];
	if (layer == SB_LAYER_LIBXC && (type & ~SB_REC_OPTIONAL) < SB_LIBXC_TYPE_COUNT)
		return libxc_names[type & ~SB_REC_OPTIONAL];
	return NULL;
}

const char *sb_checkpoint_state_name(uint32_t id)
{
	static const char *const n[] = { "NEW", "SVM_SUSPENDED", "SVM_READY", "SVM_RESUMED" };
	return id < 4 ? n[id] : NULL;
}

const char *sb_domain_type_name(uint32_t type)
{
	return type == SB_DOM_PV ? "PV" : type == SB_DOM_HVM ? "HVM" : NULL;
}

int sb_ptype_valid(unsigned type, int *has_data)
{
	int data;

	switch (type) {
	case SB_PT_NOTAB: case 0x1: case 0x2: case 0x3: case 0x4:
	case 0x9: case 0xA: case 0xB: case 0xC:
		data = 1;
		break;
	case SB_PT_BROKEN: case SB_PT_XALLOC: case SB_PT_XTAB:
		data = 0;
		break;
	default:
		return 0;
	}
	if (has_data)
		*has_data = data;
	return 1;
}

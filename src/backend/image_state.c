/*
 * image_state.c - which records the image keeps as state files, their names,
 * and the order file that fixes the state digest's record order.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "backend/image.h"
#include "standby/records.h"

static const char *const static_names[] = {
	"cpuid_policy", "msr_policy", "pv_info", "p2m_frames", IMG_ORDER,
};

int img_is_static_name(const char *name)
{
	for (size_t i = 0; i < sizeof(static_names) / sizeof(static_names[0]); i++)
		if (!strcmp(name, static_names[i]))
			return 1;
	return 0;
}

static const char *vcpu_kind(uint32_t type)
{
	switch (type) {
	case SB_LIBXC_X86_PV_VCPU_BASIC: return "basic";
	case SB_LIBXC_X86_PV_VCPU_EXTENDED: return "extended";
	case SB_LIBXC_X86_PV_VCPU_XSAVE: return "xsave";
	case SB_LIBXC_X86_PV_VCPU_MSRS: return "msrs";
	default: return NULL;
	}
}

int img_state_name(enum sb_layer layer, uint32_t type, const uint8_t *body, uint32_t len,
		   char name[IMG_NAME_MAX], int *is_static)
{
	const char *fixed = NULL;

	*is_static = 0;
	if (layer == SB_LAYER_LIBXL) {
		struct sb_emulator_rec er;

		if (type != SB_LIBXL_EMULATOR_CONTEXT && type != SB_LIBXL_EMULATOR_XENSTORE_DATA)
			return 0;
		fixed = type == SB_LIBXL_EMULATOR_CONTEXT ? "emulator_context" : "emulator_xenstore_data";
		if (len < SB_EMULATOR_HDR_LEN)
			return 0;
		sb_decode_emulator(body, len, &er);
		if (er.index)
			snprintf(name, IMG_NAME_MAX, "%s_%" PRIu32, fixed, er.index);
		else
			snprintf(name, IMG_NAME_MAX, "%s", fixed);
		return 1;
	}
	if (layer != SB_LAYER_LIBXC)
		return 0;
	switch (type) {
	case SB_LIBXC_X86_TSC_INFO: fixed = "tsc_info"; break;
	case SB_LIBXC_HVM_CONTEXT: fixed = "hvm_context"; break;
	case SB_LIBXC_HVM_PARAMS: fixed = "hvm_params"; break;
	case SB_LIBXC_SHARED_INFO: fixed = "shared_info"; break;
	case SB_LIBXC_X86_CPUID_POLICY: fixed = "cpuid_policy"; *is_static = 1; break;
	case SB_LIBXC_X86_MSR_POLICY: fixed = "msr_policy"; *is_static = 1; break;
	case SB_LIBXC_X86_PV_INFO: fixed = "pv_info"; *is_static = 1; break;
	case SB_LIBXC_X86_PV_P2M_FRAMES: fixed = "p2m_frames"; *is_static = 1; break;
	default:
		if (vcpu_kind(type) && len >= SB_VCPU_HDR_LEN) {
			struct sb_vcpu_rec vr;

			sb_decode_vcpu(body, len, &vr);
			snprintf(name, IMG_NAME_MAX, "vcpu%" PRIu32 "_%s", vr.vcpu_id, vcpu_kind(type));
			return 1;
		}
		return 0;
	}
	snprintf(name, IMG_NAME_MAX, "%s", fixed);
	return 1;
}

void img_state_list_reset(struct img_state_list *l) { l->n = 0; }

void img_state_list_free(struct img_state_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

static int name_taken(const struct img_state_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].name, name))
			return 1;
	return 0;
}

int img_state_list_add(struct img_state_list *l, enum sb_layer layer, uint32_t type,
		       uint32_t length, char name[IMG_NAME_MAX])
{
	struct img_state_rec *r;

	if (name_taken(l, name)) {
		char base[IMG_NAME_MAX];

		snprintf(base, sizeof(base), "%s", name);
		for (unsigned k = 2; name_taken(l, name); k++)
			snprintf(name, IMG_NAME_MAX, "%.32s.%u", base, k);
	}
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 16;
		struct img_state_rec *v = realloc(l->v, ncap * sizeof(*v));

		if (!v) {
			errno = ENOMEM;
			return -1;
		}
		l->v = v;
		l->cap = ncap;
	}
	r = &l->v[l->n++];
	r->layer = layer;
	r->type = type;
	r->length = length;
	snprintf(r->name, sizeof(r->name), "%s", name);
	return 0;
}

char *img_state_order_text(const struct img_state_list *l, size_t *len)
{
	size_t cap = 64 + l->n * (IMG_NAME_MAX + 40), off = 0;
	char *t = malloc(cap);

	if (!t)
		return NULL;
	for (size_t i = 0; i < l->n; i++)
		off += (size_t)snprintf(t + off, cap - off, "%u %" PRIu32 " %" PRIu32 " %s\n",
					(unsigned)l->v[i].layer, l->v[i].type, l->v[i].length,
					l->v[i].name);
	t[off] = '\0';
	*len = off;
	return t;
}

int img_state_order_parse(const char *text, size_t len, struct img_state_list *l)
{
	const char *p = text, *end = text + len;

	img_state_list_reset(l);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		char line[IMG_NAME_MAX + 64], name[IMG_NAME_MAX];
		unsigned layer;
		uint32_t type, length;
		int used = 0;

		if (!nl || (size_t)(nl - p) >= sizeof(line)) {
			errno = EINVAL;
			return -1;
		}
		memcpy(line, p, (size_t)(nl - p));
		line[nl - p] = '\0';
		if (sscanf(line, "%u %" SCNu32 " %" SCNu32 " %47[A-Za-z0-9_.]%n",
			   &layer, &type, &length, name, &used) != 4 || line[used] ||
		    strchr(name, '/') || name[0] == '.' || img_is_static_name(name) ||
		    img_state_list_add(l, (enum sb_layer)layer, type, length, name)) {
			errno = EINVAL;
			return -1;
		}
		p = nl + 1;
	}
	return 0;
}

static int read_whole(int dirfd, const char *name, uint8_t **out, size_t *len, size_t max)
{
	struct stat st;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	uint8_t *buf;
	size_t got = 0;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st)) {
		close(fd);
		return -1;
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		errno = EFBIG;
		return -1;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		errno = ENOMEM;
		return -1;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n == 0)
				errno = EIO;
			free(buf);
			close(fd);
			return -1;
		}
		got += (size_t)n;
	}
	close(fd);
	buf[got] = 0;
	*out = buf;
	*len = got;
	return 0;
}

int img_state_digest(int statefd, uint8_t out[SB_DIGEST_LEN], char *err, size_t errlen)
{
	struct img_state_list l = { 0 };
	struct sb_hash *h = sb_hash_new();
	uint8_t *text = NULL, *body = NULL;
	size_t len, blen;
	int rc = -1;

	if (!h) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (read_whole(statefd, IMG_ORDER, &text, &len, 1 << 20)) {
		snprintf(err, errlen, "read state/%s: %s", IMG_ORDER, strerror(errno));
		goto out;
	}
	if (img_state_order_parse((char *)text, len, &l)) {
		snprintf(err, errlen, "state/%s: malformed", IMG_ORDER);
		goto out;
	}
	for (size_t i = 0; i < l.n; i++) {
		if (read_whole(statefd, l.v[i].name, &body, &blen, SB_LIBXC_REC_LENGTH_MAX)) {
			snprintf(err, errlen, "read state/%s: %s", l.v[i].name, strerror(errno));
			goto out;
		}
		if (blen != l.v[i].length) {
			snprintf(err, errlen, "state/%s: %zu bytes, the order file says %" PRIu32,
				 l.v[i].name, blen, l.v[i].length);
			goto out;
		}
		sb_state_hash_add(h, l.v[i].layer, l.v[i].type, body, (uint32_t)blen);
		free(body);
		body = NULL;
	}
	sb_hash_final(h, out);
	rc = 0;
out:
	free(body);
	free(text);
	img_state_list_free(&l);
	sb_hash_free(h);
	return rc;
}

/*
 * image_commit.c - struct img_commit: the pages and state files of one epoch
 * (N >= 1), as the journal holds them and img_commit_apply() writes them.
 * The arrays grow and are kept from one commit to the next; page data and
 * bodies are not copied (they point into the epoch buffer, or into the
 * mapped journal during recovery).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "backend/image.h"

static int grow(void **v, size_t *cap, size_t n, size_t size)
{
	size_t c = *cap ? *cap : 64;
	void *p;

	if (n < *cap)
		return 0;
	while (c <= n)
		c *= 2;
	p = realloc(*v, c * size);
	if (!p) {
		errno = ENOMEM;
		return -1;
	}
	*v = p;
	*cap = c;
	return 0;
}

int img_commit_add_page(struct img_commit *c, uint64_t pfn, const uint8_t *data)
{
	if (grow((void **)&c->pages, &c->pages_cap, c->npages, sizeof(*c->pages)))
		return -1;
	c->pages[c->npages].pfn = pfn;
	c->pages[c->npages++].data = data;
	return 0;
}

int img_commit_add_state(struct img_commit *c, uint64_t arg, const char name[IMG_NAME_MAX],
			 const uint8_t *body, uint32_t length)
{
	struct img_cstate *s;

	if (grow((void **)&c->states, &c->states_cap, c->nstates, sizeof(*c->states)))
		return -1;
	s = &c->states[c->nstates++];
	s->arg = arg;
	s->length = length;
	memcpy(s->name, name, IMG_NAME_MAX);
	s->name[IMG_NAME_MAX - 1] = '\0';
	s->body = body;
	return 0;
}

void img_commit_reset(struct img_commit *c)
{
	c->epoch = 0;
	c->sync = 0;
	c->npages = c->nstates = 0;
	c->order = c->manifest = NULL;
	c->order_len = c->manifest_len = 0;
	c->memory_bytes = 0;
}

void img_commit_free(struct img_commit *c)
{
	free(c->pages);
	free(c->states);
	memset(c, 0, sizeof(*c));
}

/* registry.c: the tag registry behind registry.h: 64 hash shards for names, a paged array for ids.
 * Concurrency: each shard has a rwlock (lookups share it); the id pages are published with release stores and read
 * lock-free, since an id's entry is written once, before its name becomes findable, and never changes. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "storage/registry.h"

#define SHARD_BITS 6
#define SHARDS (1u << SHARD_BITS)
#define PAGE_BITS 16
#define PAGE_SIZE (1u << PAGE_BITS)
#define PAGES (1u << (32 - PAGE_BITS))

struct slot {
	uint64_t hash; /* 0 marks an empty slot */
	char *name;
	uint32_t name_len;
	uint32_t id;
	uint8_t type;
};

struct shard {
	pthread_rwlock_t lock;
	struct slot *slots;
	size_t cap; /* power of two */
	size_t used;
};

struct id_entry {
	_Atomic(const char *) name;
	_Atomic uint8_t type;
};

struct registry {
	struct shard shards[SHARDS];
	_Atomic(struct id_entry *) pages[PAGES];
	_Atomic size_t count;
	_Atomic uint32_t id_limit;
	pthread_mutex_t page_lock;
};

/* 64-bit hash of a byte string (a multiply-xorshift over 8-byte words);
 * never 0, which marks empty slots. */
static uint64_t hash_bytes(const char *p, size_t len)
{
	uint64_t h = 0x9E3779B97F4A7C15ull ^ (len * 0xC2B2AE3D27D4EB4Full);

	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		h = (h ^ (w * 0xFF51AFD7ED558CCDull)) * 0xC4CEB9FE1A85EC53ull;
		h ^= h >> 29;
		p += 8;
		len -= 8;
	}
	if (len) {
		uint64_t w = 0;
		memcpy(&w, p, len);
		h = (h ^ (w * 0xFF51AFD7ED558CCDull)) * 0xC4CEB9FE1A85EC53ull;
	}
	h ^= h >> 32;
	h *= 0xD6E8FEB86659FD93ull;
	h ^= h >> 32;
	return h ? h : 1;
}

int registry_new(struct registry **out)
{
	struct registry *reg = calloc(1, sizeof *reg);

	*out = NULL;
	if (!reg)
		return -ENOMEM;
	for (unsigned i = 0; i < SHARDS; i++)
		pthread_rwlock_init(&reg->shards[i].lock, NULL);
	pthread_mutex_init(&reg->page_lock, NULL);
	*out = reg;
	return 0;
}

void registry_free(struct registry *reg)
{
	if (!reg)
		return;
	for (unsigned i = 0; i < SHARDS; i++) {
		struct shard *sh = &reg->shards[i];
		for (size_t j = 0; j < sh->cap; j++)
			free(sh->slots[j].name);
		free(sh->slots);
		pthread_rwlock_destroy(&sh->lock);
	}
	for (unsigned i = 0; i < PAGES; i++)
		free(atomic_load(&reg->pages[i]));
	pthread_mutex_destroy(&reg->page_lock);
	free(reg);
}

static struct shard *shard_of(struct registry *reg, uint64_t hash)
{
	return &reg->shards[hash >> (64 - SHARD_BITS)];
}

/* Slot holding name, or the empty slot where it would go. */
static struct slot *probe(const struct shard *sh, uint64_t hash, const char *name, size_t len)
{
	size_t mask = sh->cap - 1;

	for (size_t i = hash & mask;; i = (i + 1) & mask) {
		struct slot *s = &sh->slots[i];
		if (s->hash == 0)
			return s;
		if (s->hash == hash && s->name_len == len && memcmp(s->name, name, len) == 0)
			return s;
	}
}

static int grow(struct shard *sh)
{
	size_t cap = sh->cap ? sh->cap * 2 : 64;
	struct shard bigger = {.cap = cap, .slots = calloc(cap, sizeof(struct slot))};

	if (!bigger.slots)
		return -ENOMEM;
	for (size_t i = 0; i < sh->cap; i++) {
		struct slot *s = &sh->slots[i];
		if (s->hash)
			*probe(&bigger, s->hash, s->name, s->name_len) = *s;
	}
	free(sh->slots);
	sh->slots = bigger.slots;
	sh->cap = cap;
	return 0;
}

static struct id_entry *id_slot(struct registry *reg, uint32_t id, bool create)
{
	unsigned page = id >> PAGE_BITS;
	struct id_entry *entries = atomic_load_explicit(&reg->pages[page], memory_order_acquire);

	if (entries || !create)
		return entries ? &entries[id & (PAGE_SIZE - 1)] : NULL;
	pthread_mutex_lock(&reg->page_lock);
	entries = atomic_load(&reg->pages[page]);
	if (!entries) {
		entries = calloc(PAGE_SIZE, sizeof *entries);
		if (entries)
			atomic_store_explicit(&reg->pages[page], entries, memory_order_release);
	}
	pthread_mutex_unlock(&reg->page_lock);
	return entries ? &entries[id & (PAGE_SIZE - 1)] : NULL;
}

int registry_add(struct registry *reg, uint32_t id, const char *name, size_t name_len,
		 enum value_type type)
{
	uint64_t hash = hash_bytes(name, name_len);
	struct shard *sh = shard_of(reg, hash);
	struct id_entry *entry;
	struct slot *s;
	char *copy;
	int rc = 0;

	if (name_len > UINT32_MAX)
		return -EINVAL;
	entry = id_slot(reg, id, true);
	if (!entry)
		return -ENOMEM;
	pthread_rwlock_wrlock(&sh->lock);
	if ((sh->used + 1) * 4 > sh->cap * 3 && (rc = grow(sh)) != 0)
		goto out;
	s = probe(sh, hash, name, name_len);
	if (s->hash) {
		rc = (s->id == id && s->type == type) ? 0 : -EEXIST;
		goto out;
	}
	copy = malloc(name_len + 1);
	if (!copy) {
		rc = -ENOMEM;
		goto out;
	}
	memcpy(copy, name, name_len);
	copy[name_len] = '\0';
	/* Publish the id entry before the name is findable, so whoever finds
	 * the name can read the id's type and name without a lock. */
	atomic_store_explicit(&entry->type, (uint8_t)type, memory_order_relaxed);
	atomic_store_explicit(&entry->name, copy, memory_order_release);
	*s = (struct slot){hash, copy, (uint32_t)name_len, id, (uint8_t)type};
	sh->used++;
	atomic_fetch_add(&reg->count, 1);
	uint32_t limit = atomic_load(&reg->id_limit);
	while (id >= limit && !atomic_compare_exchange_weak(&reg->id_limit, &limit, id + 1))
		;
out:
	pthread_rwlock_unlock(&sh->lock);
	return rc;
}

bool registry_find(struct registry *reg, const char *name, size_t name_len, uint32_t *id,
		   enum value_type *type)
{
	uint64_t hash = hash_bytes(name, name_len);
	struct shard *sh = shard_of(reg, hash);
	bool found = false;

	pthread_rwlock_rdlock(&sh->lock);
	if (sh->cap) {
		const struct slot *s = probe(sh, hash, name, name_len);
		if (s->hash) {
			*id = s->id;
			*type = (enum value_type)s->type;
			found = true;
		}
	}
	pthread_rwlock_unlock(&sh->lock);
	return found;
}

enum value_type registry_type(const struct registry *reg, uint32_t id)
{
	struct id_entry *entry = id_slot((struct registry *)reg, id, false);
	if (!entry || !atomic_load_explicit(&entry->name, memory_order_acquire))
		return 0;
	return (enum value_type)atomic_load_explicit(&entry->type, memory_order_relaxed);
}

const char *registry_name(const struct registry *reg, uint32_t id)
{
	struct id_entry *entry = id_slot((struct registry *)reg, id, false);
	return entry ? atomic_load_explicit(&entry->name, memory_order_acquire) : NULL;
}

size_t registry_count(const struct registry *reg)
{
	return atomic_load(&((struct registry *)reg)->count);
}

uint32_t registry_id_limit(const struct registry *reg)
{
	return atomic_load(&((struct registry *)reg)->id_limit);
}

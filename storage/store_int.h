/* store_int.h: the store's insides, shared by storage/store*.c and nothing else.
 * Lock order: seal_lock, then append_lock, then heads_lock; the catalog and WAL take their own locks inside. */
#ifndef HS_STORE_INT_H
#define HS_STORE_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "storage/catalog.h"
#include "storage/chunkfile.h"
#include "storage/head.h"
#include "storage/registry.h"
#include "storage/store.h"
#include "storage/wal.h"

#define STORE_CHECKPOINT_KEY "wal_checkpoint"
#define STORE_SEAL_SEQ_KEY "seal_seq"

struct store {
	struct store_options opts;
	char *data_dir;
	struct catalog *cat;
	struct registry *reg;
	struct wal *wal;
	struct chunkfiles *files;

	/* Appends: one at a time, so the head holds samples in WAL order and a
	 * seal can cut both at the same point. */
	pthread_mutex_t append_lock;
	/* The live head and the one being sealed (NULL when none); readers
	 * take references under the read lock. */
	pthread_rwlock_t heads_lock;
	struct head *head;
	struct head *frozen;
	uint64_t frozen_pos;   /* WAL position where the live head begins */

	/* One seal (or compaction) at a time. */
	pthread_mutex_t seal_lock;
	uint64_t seal_seq;     /* last seal sequence committed */

	/* The compactor thread and what wakes it. */
	pthread_t compactor;
	bool compactor_running;
	pthread_mutex_t wake_lock;
	pthread_cond_t wake;
	bool stopping;
	bool seal_requested;
	/* Appends wait here while the head holds twice head_memory and a seal
	 * is under way: memory stays bounded even when sealing is slower than
	 * ingest. Signalled (under wake_lock) at the end of every seal. */
	pthread_cond_t sealed;
	uint64_t last_seal_mono_ns;

	_Atomic uint64_t samples_appended;
	_Atomic uint64_t seals;
	_Atomic uint64_t seal_failures;
	_Atomic uint64_t chunks_written;
	_Atomic uint64_t max_seal_pause_ns; /* longest time a seal held appends */
	_Atomic uint64_t compactions;
	_Atomic uint64_t compaction_failures;
	/* Per-tag facts every query needs, indexed by tag id (store_tags.c). */
	pthread_mutex_t tag_cache_lock;
	struct store_tag_cache *tag_cache;
	size_t tag_cache_len;
	uint64_t tag_cache_gen;  /* bumped by every sealed chunk */
};

/* What the store remembers of a tag to answer queries without SQLite. */
struct store_tag_cache {
	bool interp_known;
	bool linear;
	int64_t stale_ns;
	bool sealed_known;   /* sealed_max_ns holds the largest chunk t_max */
	int64_t sealed_max_ns;
	bool last_known;     /* last is the latest sealed sample (numeric tags) */
	struct store_point last;
};

/* storage/store_tags.c: a seal committed chunk row c: keep the cached
 * largest time and latest sealed sample in step. */
void store__tag_sealed(struct store *st, enum value_type type, const struct catalog_chunk *c);

/* storage/store_tags.c: retention deleted chunks: forget what the cache
 * knew of sealed data. */
void store__tag_cache_forget(struct store *st);

/* storage/store_seal.c: seal the head (everything appended so far) into
 * chunks; 0 when done or nothing to seal. Takes seal_lock. */
int store__seal(struct store *st) __attribute__((warn_unused_result));

/* storage/store_seal.c: rewrite partitions written by several seals into
 * one file each: the cold ones, or (hot_too) every one. Takes seal_lock.
 * *done counts partitions rewritten. */
int store__compact(struct store *st, bool hot_too, size_t *done)
	__attribute__((warn_unused_result));

/* Every partition, oldest first (the caller frees v). */
struct store_partitions {
	struct catalog_partition *v;
	size_t count, cap;
};

int store__partitions(struct store *st, struct store_partitions *out)
	__attribute__((warn_unused_result));

/* storage/store_seal.c: rewrite one partition into one file. Caller holds
 * seal_lock. */
int store__compact_partition(struct store *st, const struct catalog_partition *part)
	__attribute__((warn_unused_result));

/* storage/store_retention.c: apply the retention rules as of now (wall
 * clock, ns). Takes seal_lock. *rewritten counts partitions compacted
 * because some of their tags expired. */
int store__retention(struct store *st, int64_t now, size_t *rewritten)
	__attribute__((warn_unused_result));

/* storage/store_seal.c: the compactor thread's body. */
void *store__compactor_main(void *arg);

#endif

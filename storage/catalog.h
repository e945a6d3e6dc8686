/* catalog.h: the catalog (DATA_DIR/catalog.db): tags, labels, metadata, chunk files, partitions, the chunk index, state.
 * Its one user is the storage engine (storage/store.c); the schema is drawn in storage/catalog_format.h. */
#ifndef HS_CATALOG_H
#define HS_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/sample.h"

/*
 * THREADS. One struct catalog serves every thread of the process; every
 * function below may be called from any thread, concurrently, between
 * catalog_open() and catalog_close().
 *
 *   Writer functions run on the one read-write SQLite connection, under a
 *   mutex: concurrent writes queue behind each other. Each is one
 *   transaction, durable (synchronous=FULL) when it returns 0, and wholly
 *   undone when it returns an error.
 *
 *   Reader functions run on a pool of at most CATALOG_READERS_MAX read-only
 *   connections, opened on demand, each with its own prepared statements;
 *   a reader waits only while every pooled connection is busy. In WAL mode
 *   readers and the writer never block each other: a reader sees the
 *   database as of its first row, unaffected by commits during its walk.
 *
 * CALLBACKS. A function that streams rows calls fn on the calling thread,
 * once per row, while it holds a connection. fn must not call any catalog_*
 * function (with every pooled connection held that would deadlock); copy
 * what it needs. Pointers passed to fn are valid until fn returns. fn
 * returns 0 to go on; any other value stops the walk and becomes the
 * function's return value (return a positive value to tell it from errors).
 *
 * ERRORS. Functions return 0 or a negative code: -EINVAL (bad argument or a
 * constraint the input broke), -ENOENT, -ENOSPC (disk full), -EIO,
 * -ENOMEM, -EBUSY, HS_ECORRUPT (lib/hs_error.h) when catalog.db fails a
 * check. catalog_errmsg() then says what went wrong.
 */

#define CATALOG_ERROR_MAX 1024   /* bytes of catalog_open()'s err, with room for a path */
#define CATALOG_NAME_MAX 1024    /* bytes of a tag name, label key or value, glob, relpath */
#define CATALOG_STATE_KEY_MAX 255
#define CATALOG_LABELS_MAX 256   /* labels on one tag */
#define CATALOG_FIND_LABELS_MAX 8 /* label filters in one catalog_tags_find() */
#define CATALOG_READERS_MAX 8    /* pooled read-only connections */
#define CATALOG_UNIT_MAX 64      /* sizeof catalog_meta.unit (63 bytes + NUL) */
#define CATALOG_DESCRIPTION_MAX 512

struct catalog;

/* --- lifecycle --------------------------------------------------------- */

/* Open (creating it if missing) the catalog at path, usually
 * DATA_DIR/catalog.db; the caller holds the data directory lock, so this
 * process is the only one that writes it. Creates or checks the schema: a
 * catalog of a newer schema version is refused with -EPROTONOSUPPORT, a file
 * that is not a historian catalog or that SQLite finds corrupt with
 * HS_ECORRUPT. On failure err (CATALOG_ERROR_MAX bytes, may be NULL) names
 * the file and the problem. On success *out is the caller's, to pass to
 * catalog_close(). Call from one thread; nothing else may use *out before
 * this returns. */
int catalog_open(const char *path, struct catalog **out, char *err)
	__attribute__((warn_unused_result));

/* Close every connection and free cat. No other call may be in flight or
 * follow. NULL is fine. */
void catalog_close(struct catalog *cat);

/* Text of the last error any catalog function returned to the calling
 * thread. Thread-local storage: valid until this thread's next catalog
 * call; never NULL ("" when nothing failed yet). */
const char *catalog_errmsg(void);

/* Reader. Run SQLite's quick_check and foreign_key_check over the whole
 * file (slow: for `historiand verify`, not for open). Returns 0, or
 * HS_ECORRUPT with catalog_errmsg() giving the first problem. */
int catalog_verify(struct catalog *cat) __attribute__((warn_unused_result));

struct catalog_stats {
	uint64_t tags, chunks, files, partitions;
	uint64_t db_bytes;  /* catalog.db plus its -wal file */
};

/* Reader. Counts are kept in a counters row, so this is cheap for /metrics. */
int catalog_stats(struct catalog *cat, struct catalog_stats *out)
	__attribute__((warn_unused_result));

/* --- tags -------------------------------------------------------------- */

/* Strings are NUL-terminated UTF-8, 1..CATALOG_NAME_MAX bytes. */
struct catalog_label {
	const char *key;
	const char *value;
};

/* Streams tags: name (name_len bytes, also NUL-terminated) is valid until
 * fn returns. */
typedef int (*catalog_tag_fn)(void *arg, uint32_t id, const char *name, size_t name_len,
			      enum value_type type);

/* Writer. Create the tag name (name_len bytes of UTF-8, 1..CATALOG_NAME_MAX,
 * no NUL) with type and labels (at most CATALOG_LABELS_MAX, distinct keys)
 * in one transaction. When the name exists already nothing changes (labels
 * are not compared) and its id and stored type are returned: two threads
 * creating one name both get the same id. The caller compares *type_out
 * (may be NULL) with type. Ids are 1..UINT32_MAX and never reused. Returns
 * 0, -EINVAL for an invalid name, type or label, -EOVERFLOW when ids are
 * exhausted. */
int catalog_tag_create(struct catalog *cat, const char *name, size_t name_len,
		       enum value_type type, const struct catalog_label *labels, size_t nlabels,
		       uint32_t *id_out, enum value_type *type_out) __attribute__((warn_unused_result));

struct catalog_tag_spec {
	const char *name;
	size_t name_len;
	enum value_type type;
	const struct catalog_label *labels;
	size_t nlabels;
};

/* Writer. catalog_tag_create() for n tags in one transaction (one fsync):
 * ids_out[i] and types_out[i] (types_out may be NULL) answer specs[i]. The
 * same name twice in specs gets one id. One invalid spec refuses the whole
 * batch (-EINVAL; catalog_errmsg() names its index) and creates nothing. */
int catalog_tags_create(struct catalog *cat, const struct catalog_tag_spec *specs, size_t n,
			uint32_t *ids_out, enum value_type *types_out)
	__attribute__((warn_unused_result));

/* Writer. Copy the SQLite WAL (catalog.db-wal) into catalog.db and cut
 * it to nothing, so that the directory holds only what the catalog needs
 * (after a compaction, before a backup or a size measurement). Pages that
 * readers in flight still use stay in the WAL: that is not an error.
 * Returns 0 or a negative error. */
int catalog_checkpoint(struct catalog *cat) __attribute__((warn_unused_result));

/* Writer. Rebuild catalog.db with full pages (SQLite VACUUM): rows that
 * compaction replaced leave b-tree pages part empty, 6-10 % of the file
 * after an import (measured on the plant and shared data sets). Takes time
 * and temporary disk in proportion to the catalog and holds writers back
 * meanwhile, so only the explicit compaction calls it. Readers go on.
 * Returns 0 or a negative error. */
int catalog_vacuum(struct catalog *cat) __attribute__((warn_unused_result));

/* Reader. Call fn for every tag in id order: builds the store's in-memory
 * registry at open (10^6 tags take well under a second). */
int catalog_tags_load(struct catalog *cat, catalog_tag_fn fn, void *arg)
	__attribute__((warn_unused_result));

typedef int (*catalog_label_fn)(void *arg, const char *key, const char *value);

/* Reader. Call fn for each label of tag id, in key order. An unknown id has
 * no labels (returns 0 without calling fn). */
int catalog_tag_labels(struct catalog *cat, uint32_t id, catalog_label_fn fn, void *arg)
	__attribute__((warn_unused_result));

/* Tag search. Every given condition must hold. */
struct catalog_find {
	const char *glob;                    /* SQLite GLOB over the name (* ? [..], case-sensitive); NULL: any */
	const struct catalog_label *labels;  /* key=value pairs the tag must all have */
	size_t nlabels;                      /* 0..CATALOG_FIND_LABELS_MAX */
	uint32_t after_id;                   /* page: only ids > after_id (0 from the start) */
	size_t limit;                        /* at most this many tags; 0: no limit */
};

/* Reader. Call fn for the matching tags in id order. Page by passing the
 * last id seen as after_id. With labels, the scan starts from the first
 * label's index entries: put the most selective pair first. */
int catalog_tags_find(struct catalog *cat, const struct catalog_find *q, catalog_tag_fn fn,
		      void *arg) __attribute__((warn_unused_result));

/* --- tag metadata ------------------------------------------------------ */

enum catalog_interp {
	CATALOG_INTERP_STEP = 1,
	CATALOG_INTERP_LINEAR = 2,
};

struct catalog_meta {
	char unit[CATALOG_UNIT_MAX];               /* NUL-terminated UTF-8; "" unset */
	char description[CATALOG_DESCRIPTION_MAX]; /* NUL-terminated UTF-8; "" unset */
	double eng_low, eng_high;                  /* engineering range; NaN unset */
	enum catalog_interp interpolation;
	int display_digits;                        /* 0..17 digits after the point; -1 unset */
	int64_t stale_timeout_ns;                  /* 0: never stale */
};

/* The metadata of a tag that never had any set: empty strings, NaN range,
 * linear interpolation for float64 and step for the other types, -1, 0. */
void catalog_meta_defaults(struct catalog_meta *m, enum value_type type);

/* Reader. Fill *out for tag id (defaults for fields never set). Returns 0
 * or -ENOENT for an unknown id. */
int catalog_meta_get(struct catalog *cat, uint32_t id, struct catalog_meta *out)
	__attribute__((warn_unused_result));

/* Writer. Replace tag id's metadata with *m. Returns 0, -ENOENT for an
 * unknown id, -EINVAL for a field out of range (strings not NUL-terminated
 * or not UTF-8, eng_low >= eng_high, linear interpolation of a bool or
 * string tag, digits outside -1..17, negative timeout). */
int catalog_meta_set(struct catalog *cat, uint32_t id, const struct catalog_meta *m)
	__attribute__((warn_unused_result));

/* --- chunk files and partitions --------------------------------------- */

struct catalog_file {
	uint64_t id;
	int64_t partition_start_ns;
	const char *relpath;  /* relative to DATA_DIR; valid until fn returns */
	uint64_t bytes;       /* at least the end of every chunk committed into it */
};

typedef int (*catalog_file_fn)(void *arg, const struct catalog_file *file);

struct catalog_partition {
	int64_t start_ns, end_ns;  /* [start_ns, end_ns) */
	uint64_t files;
	uint64_t bytes;            /* sum of the files' bytes */
	uint64_t compacted_files;  /* of files, those a compaction wrote */
};

typedef int (*catalog_partition_fn)(void *arg, const struct catalog_partition *part);

/* Writer. Record a new chunk file relpath (1..CATALOG_NAME_MAX bytes,
 * unique) in partition [partition_start_ns, partition_end_ns), creating the
 * partition on first use. Call before the file's first chunk row commits;
 * the file may be created before or after. Returns 0 with *file_id (never
 * reused), -EEXIST for a known relpath, -EINVAL for an empty or reversed
 * interval or one that overlaps a different partition. */
int catalog_file_add(struct catalog *cat, int64_t partition_start_ns, int64_t partition_end_ns,
		     const char *relpath, uint64_t *file_id) __attribute__((warn_unused_result));

/* Writer. Set the recorded size of a file (e.g. after writing its footer).
 * commit_seal already raises it to the end of every chunk it commits. */
int catalog_file_set_bytes(struct catalog *cat, uint64_t file_id, uint64_t bytes)
	__attribute__((warn_unused_result));

/* Writer. Record that a compaction wrote file_id (files.compacted), once
 * its chunk rows are committed. 0 or -ENOENT. */
int catalog_file_set_compacted(struct catalog *cat, uint64_t file_id) __attribute__((warn_unused_result));

/* Writer. Forget file_id (after compaction moved its chunks away); its
 * partition goes with its last file. Returns 0, -ENOENT, or -ENOTEMPTY
 * while chunk rows still point into it. Delete the file itself after. */
int catalog_file_remove(struct catalog *cat, uint64_t file_id) __attribute__((warn_unused_result));

/* Reader. The files of one partition, in id (creation) order. */
int catalog_files_list(struct catalog *cat, int64_t partition_start_ns, catalog_file_fn fn,
		       void *arg) __attribute__((warn_unused_result));

/* Reader. Every partition, oldest first, with its file count and bytes. */
int catalog_partitions_list(struct catalog *cat, catalog_partition_fn fn, void *arg)
	__attribute__((warn_unused_result));

/* Writer. Retention: delete the partition starting at partition_start_ns
 * with every file and chunk row in it, in one transaction. Then (after the
 * commit, without holding any connection, so fn may call the catalog) call
 * fn for each removed file so the caller deletes it from disk; fn's nonzero
 * return stops the calls, not the drop. Returns 0, -ENOENT for an unknown
 * partition. *chunks_out (may be NULL) gets the number of chunk rows
 * deleted. */
int catalog_partition_drop(struct catalog *cat, int64_t partition_start_ns, catalog_file_fn fn,
			   void *arg, uint64_t *chunks_out) __attribute__((warn_unused_result));

/* --- chunk index ------------------------------------------------------- */

struct catalog_chunk {
	uint64_t id;       /* assigned by the catalog at commit */
	uint32_t tag_id;
	uint64_t file_id;
	uint64_t offset;   /* bytes into the file, < 2^63 */
	uint32_t length;   /* bytes, > 0 */
	uint32_t crc;
	int64_t t_min, t_max;  /* first and last sample time, t_min <= t_max */
	uint32_t count;        /* samples, > 0 */
	uint64_t seq;          /* seal sequence, < 2^63: larger = newer, last write wins */
	uint32_t flags;
	/* pre-aggregates over the samples (float and int tags; zeros for bool and
	 * string). NaN survives the round trip. */
	double min, max, sum;
	int64_t first_ts, last_ts;  /* t_min <= first_ts <= last_ts <= t_max */
	double first_v, last_v;
	double integral;            /* time-weighted integral, value x seconds */
	uint32_t good_count;        /* <= count */
	/* Schema v2 (catalog_format.h); has_ext false in rows of older catalogs
	 * (and in rows committed with has_ext false), and then the fields below
	 * are zero. */
	bool has_ext;
	int64_t min_ts, max_ts;     /* first sample holding min, max */
	quality_t first_q, last_q;
	double m2;                  /* sum of squared deviations from the mean */
	double integral_step;       /* step integral, value x seconds */
	int64_t max_gap_ns;         /* longest time between consecutive samples */
};

typedef int (*catalog_chunk_fn)(void *arg, const struct catalog_chunk *chunk);

/* One state row to set along with chunk rows. */
struct catalog_state_kv {
	const char *key;  /* 1..CATALOG_STATE_KEY_MAX bytes */
	uint64_t value;
};

/* Writer. Seal: insert the n chunk rows and set the nstate state rows (the
 * WAL checkpoint) in ONE transaction, so chunk rows and checkpoint move
 * together. The chunk files must be fsync'd already. On success each
 * chunks[i].id is set; on failure nothing is committed and every id is 0.
 * Returns 0, -EINVAL for an invalid chunk (unknown tag or file, a second
 * chunk at one file offset, fields out of range: catalog_errmsg() says
 * which), -ENOSPC, -EIO. */
int catalog_commit_seal(struct catalog *cat, struct catalog_chunk *chunks, size_t n,
			const struct catalog_state_kv *state, size_t nstate)
	__attribute__((warn_unused_result));

/* Writer. Compaction: delete the n_old chunk rows old_ids and insert the
 * n_new chunks (ids set as in commit_seal) in ONE transaction. Returns 0,
 * -ENOENT when an old id is unknown, or as commit_seal; on failure nothing
 * changes. */
int catalog_replace_chunks(struct catalog *cat, const uint64_t *old_ids, size_t n_old,
			   struct catalog_chunk *new_chunks, size_t n_new)
	__attribute__((warn_unused_result));

/* Writer. Retention for one tag: delete its chunk rows with t_max < before_ns
 * (their bytes stay in the files until compaction or the partition drop).
 * *deleted (may be NULL) gets the number of rows. */
int catalog_chunks_expire(struct catalog *cat, uint32_t tag_id, int64_t before_ns,
			  uint64_t *deleted) __attribute__((warn_unused_result));

/* Reader. Call fn for every chunk of tag_id whose [t_min, t_max] meets
 * [t0, t1), ordered by t_min, then seq, then id. t0 >= t1 is empty. Reads
 * one index range bounded by the tag's widest chunk: 8,760 chunks in a few
 * milliseconds. */
int catalog_chunks_range(struct catalog *cat, uint32_t tag_id, int64_t t0, int64_t t1,
			 catalog_chunk_fn fn, void *arg) __attribute__((warn_unused_result));

/* Reader. The chunk of tag_id with the largest t_min < t (ties: largest seq,
 * then id). It holds a sample at t_min < t, so the last sample before t
 * lies in [out->t_min, t): scan catalog_chunks_range(out->t_min, t).
 * *found is false when no chunk starts before t. */
int catalog_chunk_before(struct catalog *cat, uint32_t tag_id, int64_t t,
			 struct catalog_chunk *out, bool *found) __attribute__((warn_unused_result));

/* Reader. Among the chunks of tag_id with t_max >= t, the one with the
 * smallest t_min (ties: smallest seq, then id). *found is false iff the
 * tag has no sample at or after t; otherwise the first such sample lies in
 * [t, out->t_max]: scan catalog_chunks_range(t, out->t_max + 1). */
int catalog_chunk_after(struct catalog *cat, uint32_t tag_id, int64_t t,
			struct catalog_chunk *out, bool *found) __attribute__((warn_unused_result));

/* Reader. The smallest t_min and largest t_max over tag_id's chunks;
 * *found is false when the tag has none. */
int catalog_tag_extent(struct catalog *cat, uint32_t tag_id, int64_t *first_ns,
		       int64_t *last_ns, bool *found) __attribute__((warn_unused_result));

/* Reader. One chunk row by id. Returns 0 or -ENOENT. */
int catalog_chunk_get(struct catalog *cat, uint64_t id, struct catalog_chunk *out)
	__attribute__((warn_unused_result));

/* Reader. Every chunk stored in file_id, in offset order (compaction,
 * verify). */
int catalog_chunks_of_file(struct catalog *cat, uint64_t file_id, catalog_chunk_fn fn,
			   void *arg) __attribute__((warn_unused_result));

/* --- state ------------------------------------------------------------- */

/* Reader. *found tells whether key is set; *value is 0 when not. */
int catalog_state_get(struct catalog *cat, const char *key, uint64_t *value, bool *found)
	__attribute__((warn_unused_result));

/* Writer. Set key (1..CATALOG_STATE_KEY_MAX bytes) to value. */
int catalog_state_set(struct catalog *cat, const char *key, uint64_t value)
	__attribute__((warn_unused_result));

/* --- retention policies ------------------------------------------------ */

typedef int (*catalog_retention_fn)(void *arg, const char *pattern, int64_t keep_ns);

/* Writer. Keep samples of tags whose name matches the glob pattern
 * (1..CATALOG_NAME_MAX bytes) for keep_ns > 0; replaces the pattern's
 * previous policy. Which policy wins when several match is the caller's
 * rule. */
int catalog_retention_set(struct catalog *cat, const char *pattern, int64_t keep_ns)
	__attribute__((warn_unused_result));

/* Writer. Returns 0 or -ENOENT. */
int catalog_retention_delete(struct catalog *cat, const char *pattern)
	__attribute__((warn_unused_result));

/* Reader. Every policy, in pattern order. */
int catalog_retention_list(struct catalog *cat, catalog_retention_fn fn, void *arg)
	__attribute__((warn_unused_result));

#endif

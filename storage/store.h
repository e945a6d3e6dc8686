/* store.h: the one public interface of storage/: open a data directory, resolve tags, append samples durably, scan.
 * Everything above storage (query/, server/, web/) uses only this header and storage/sample.h. */
#ifndef HS_STORE_H
#define HS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/sample.h"

#define STORE_ERROR_MAX 1024

struct store;
struct io_ops;
struct store_chunk_stats;

/* A retention rule: tags whose name matches pattern (fnmatch(3) glob) keep
 * keep_ns of data, counted back from now (wall clock) to the end of the
 * partition a sample lies in. The first matching rule wins; a tag no rule
 * matches is kept forever. */
struct store_retention {
	const char *pattern;
	int64_t keep_ns;
};

enum store_wal_sync {
	STORE_WAL_SYNC_COMMIT,   /* acknowledge after fdatasync (default) */
	STORE_WAL_SYNC_INTERVAL, /* acknowledge after write; fdatasync every wal_sync_interval_ms */
	STORE_WAL_SYNC_OFF,      /* never fdatasync: tests only */
};

struct store_options {
	const char *data_dir;            /* must exist and be locked by the caller (datadir.h) */
	enum store_wal_sync wal_sync;
	uint64_t wal_sync_interval_ms;
	uint64_t wal_segment_bytes;      /* 0: default 64 MiB */
	int64_t seal_interval_ns;        /* seal the head at least this often (default 1 h) */
	int64_t partition_ns;            /* chunk files cover this much time (default 7 d) */
	size_t head_memory_bytes;        /* seal early when the head holds more (default 256 MiB) */
	bool salvage;                    /* replay past WAL corruption, keeping every valid record */
	/* For tests: the system calls of the WAL and chunk files (NULL: the
	 * real ones), and how often a WAL refusing writes probes the disk. */
	const struct io_ops *io;
	uint64_t wal_probe_interval_ms;
	/* Retention rules, copied at open (the default: none, keep forever). */
	const struct store_retention *retention;
	size_t nretention;
};

/* Defaults for every option; data_dir left NULL. */
void store_options_init(struct store_options *opts);

/* Open the store in opts->data_dir: open the catalog, load the tag registry,
 * replay the WAL into the head, start the WAL writer and compactor threads.
 * On failure returns a negative code with err (STORE_ERROR_MAX bytes) saying
 * what and where; HS_ECORRUPT for mid-log WAL corruption without salvage. */
int store_open(const struct store_options *opts, struct store **out, char *err)
	__attribute__((warn_unused_result));

/* Finish every append queued (durably), stop the threads, close files.
 * Samples in the head stay in the WAL and are replayed at the next open. */
void store_close(struct store *st);

/* --- tags -------------------------------------------------------------- */

struct store_label {
	const char *key;
	const char *value;
};

/* Resolve name to a tag id, creating the tag with type and labels on first
 * sight (labels are ignored for an existing tag). Returns 0, or
 * HS_ETYPE when the tag exists with another type (*existing_type tells
 * which), -EINVAL for an empty or invalid-UTF-8 name longer than 1024 bytes.
 * Thread-safe; a known tag costs a hash lookup under a shard read lock: no
 * global lock and no SQLite call. */
int store_tag_resolve(struct store *st, const char *name, size_t name_len, enum value_type type,
		      const struct store_label *labels, size_t nlabels, uint32_t *id,
		      enum value_type *existing_type) __attribute__((warn_unused_result));

struct store_tag_spec {
	const char *name;
	size_t name_len;
	enum value_type type;
	const struct store_label *labels;
	size_t nlabels;
};

/* store_tag_resolve for n tags at once: the new ones are created in one
 * catalog transaction (one fsync), which is what ingest wants when a
 * gateway brings a thousand new tags in its first batch. status[i] gets
 * 0, HS_ETYPE (existing tag of another type; ids[i] is still set) or
 * -EINVAL. Returns 0, or a negative error when the catalog failed (then
 * no new tag was created). Thread-safe. */
int store_tags_resolve(struct store *st, const struct store_tag_spec *specs, size_t n,
		       uint32_t *ids, int *status) __attribute__((warn_unused_result));

/* Look a tag up without creating it. Returns 0 or -ENOENT. Thread-safe. */
int store_tag_find(struct store *st, const char *name, size_t name_len, uint32_t *id,
		   enum value_type *type) __attribute__((warn_unused_result));

/* The name of tag id (NUL-terminated), valid until store_close(); NULL for
 * an unknown id. Thread-safe, lock-free. */
const char *store_tag_name(struct store *st, uint32_t id);

/* Tag search: every given condition must hold. Calls fn for matches in id
 * order; name (NUL-terminated) is valid until fn returns, and fn must not
 * call back into the store's tag search, labels or metadata functions.
 * glob is SQLite GLOB syntax (* ? [..], case-sensitive). Page with
 * after_id = the last id seen. limit 0: no limit. At most
 * STORE_FIND_LABELS_MAX labels. fn's non-zero return stops the walk and is
 * returned. */
#define STORE_FIND_LABELS_MAX 8
int store_tags_find(struct store *st, const char *glob, const struct store_label *labels,
		    size_t nlabels, uint32_t after_id, size_t limit,
		    int (*fn)(void *arg, uint32_t id, const char *name, enum value_type type),
		    void *arg) __attribute__((warn_unused_result));

/* Call fn for every label of tag id, in key order (same rules as above). */
int store_tag_labels(struct store *st, uint32_t id,
		     int (*fn)(void *arg, const char *key, const char *value), void *arg)
	__attribute__((warn_unused_result));

/* A tag's descriptive metadata. */
enum store_interp {
	STORE_INTERP_STEP = 1,
	STORE_INTERP_LINEAR = 2,
};

#define STORE_UNIT_MAX 64           /* sizeof unit: 63 bytes + NUL */
#define STORE_DESCRIPTION_MAX 512   /* sizeof description: 511 bytes + NUL */

struct store_tag_meta {
	char unit[STORE_UNIT_MAX];               /* UTF-8; "" unset */
	char description[STORE_DESCRIPTION_MAX]; /* UTF-8; "" unset */
	double eng_low, eng_high;                /* NaN unset; low < high when both set */
	enum store_interp interpolation;         /* default: linear for float64, else step */
	int display_digits;                      /* 0..17, -1 unset */
	int64_t stale_timeout_ns;                /* 0: never stale */
};

/* Read tag id's metadata (defaults for what was never set). 0 or -ENOENT.
 * Thread-safe. */
int store_tag_meta_get(struct store *st, uint32_t id, struct store_tag_meta *out)
	__attribute__((warn_unused_result));

/* Replace tag id's metadata, durably. 0, -ENOENT, or -EINVAL with the
 * reason in reason (STORE_ERROR_MAX bytes, may be NULL): a string too long
 * or not UTF-8, eng_low >= eng_high, linear interpolation of a boolean or
 * string tag, digits outside -1..17, a negative timeout. Thread-safe. */
int store_tag_meta_set(struct store *st, uint32_t id, const struct store_tag_meta *m,
		       char *reason) __attribute__((warn_unused_result));

/* What the query engine needs of a tag's metadata on every query, from a
 * cache kept in step by store_tag_meta_set(): no SQLite call once warm. */
int store_tag_interp(struct store *st, uint32_t id, bool *linear, int64_t *stale_timeout_ns)
	__attribute__((warn_unused_result));

/* Times of a tag's first and last sample (chunks and head). 1 found, 0 the
 * tag has no sample, or a negative error. */
int store_tag_extent(struct store *st, uint32_t id, int64_t *first_ns, int64_t *last_ns)
	__attribute__((warn_unused_result));

/* --- appending --------------------------------------------------------- */

/* One sample of one tag. For VALUE_STRING, v.s points at bytes that must
 * stay valid until store_append() returns (the store copies them). */
struct store_sample {
	uint32_t tag_id;
	quality_t quality;
	int64_t ts_ns;
	union {
		double f64;
		int64_t i64;
		bool b;
		struct {
			const char *ptr;
			uint32_t len;
		} s;
	} v;
};

/* Called once per store_append, on the WAL writer thread, when the batch
 * is durable (status 0, per the wal_sync setting) or failed (status < 0:
 * -ENOSPC disk full, -EIO, -EROFS after a failed fsync). Must not block. */
typedef void (*store_durable_fn)(void *arg, int status);

/* Append a batch (any tags, any order). The samples are in the WAL queue
 * and queryable in the head when this returns; durability is reported to
 * done. The types must match the tags' (checked: -EINVAL). Returns 0, or a
 * negative code without calling done when the store refuses writes
 * (-ENOSPC, -EIO, -EROFS) or the batch is invalid. May block briefly when
 * the WAL queue is full (backpressure). Thread-safe. */
int store_append(struct store *st, const struct store_sample *samples, size_t count,
		 store_durable_fn done, void *arg) __attribute__((warn_unused_result));

/* store_append and wait for durability. Returns the durability status. */
int store_append_wait(struct store *st, const struct store_sample *samples, size_t count)
	__attribute__((warn_unused_result));

/* --- reading ----------------------------------------------------------- */

/* A block of samples of one tag, in strictly increasing time. Booleans are
 * i64 0 or 1. The arrays stay valid until the next store_scan_next() or
 * store_scan_close(). */
struct store_block {
	size_t count;
	enum value_type type;
	const int64_t *ts_ns;
	const double *f64;            /* VALUE_FLOAT64 */
	const int64_t *i64;           /* VALUE_INT64 and VALUE_BOOL */
	const char *const *str;       /* VALUE_STRING, with str_len */
	const uint32_t *str_len;
	const quality_t *quality;
	/* Set (with count 0) instead of samples when the scan's stats filter
	 * accepted a whole chunk: see store_scan_use_stats(). */
	const struct store_chunk_stats *stats;
};

/* One sample, for the neighbours of a range. String bytes are valid until
 * store_scan_close(). */
struct store_point {
	int64_t ts_ns;
	quality_t quality;
	double f64;
	int64_t i64;
	const char *str;
	uint32_t str_len;
};

struct store_scan;

/* Open a scan of tag_id over [t0, t1): chunks, the head being sealed and
 * the live head merged in time order, equal times resolved last write wins
 * (a later seal over an earlier one, the head over chunks). What is in the
 * head when the scan opens is what it sees of the head. Thread-safe. */
int store_scan_open(struct store *st, uint32_t tag_id, int64_t t0, int64_t t1,
		    struct store_scan **out) __attribute__((warn_unused_result));

/* Next block: 1 with a block, 0 at the end, or a negative error
 * (HS_ECORRUPT names a chunk in the log). */
int store_scan_next(struct store_scan *scan, struct store_block *blk)
	__attribute__((warn_unused_result));

/* The last sample before t0 and the first at or after t1 (what time-weighted
 * averages and interpolation need). 1 found, 0 none, or a negative error. */
int store_scan_before(struct store_scan *scan, struct store_point *out)
	__attribute__((warn_unused_result));
int store_scan_after(struct store_scan *scan, struct store_point *out)
	__attribute__((warn_unused_result));

void store_scan_close(struct store_scan *scan);

/* The latest sample of tag_id (largest time; the newest write on a tie).
 * 1 found, 0 none, or a negative error. A string value is copied into
 * buf (buf_len bytes, cut there) and out->str points at it. Fast when the
 * head holds the tag's latest sample: no SQLite call and no decoding.
 * Thread-safe. */
int store_last(struct store *st, uint32_t tag_id, struct store_point *out, char *buf,
	       size_t buf_len) __attribute__((warn_unused_result));

/* Pre-aggregates of one chunk, over every sample in it whatever its
 * quality. The integral is value x seconds, linear between samples, from
 * first_ts to last_ts. */
#define STORE_CHUNK_NOT_ALL_GOOD 1u /* some sample's quality is not good */
#define STORE_CHUNK_HAS_NAN 2u      /* some value is NaN: min/max/sum unusable */
#define STORE_CHUNK_OVERLAPS 4u     /* another chunk or the head has samples in its span */

struct store_chunk_stats {
	int64_t t_min, t_max;
	uint32_t count, good_count;
	uint32_t flags;
	double min, max, sum, integral;
	int64_t first_ts, last_ts;
	double first_v, last_v;
	/* Known only when has_ext (chunks sealed by a catalog of schema 2 or
	 * later): the times of the first min and max, the first and last
	 * qualities, the sum of squared deviations from the mean, the step
	 * integral (value x seconds, each value held to the next sample) and
	 * the longest time between consecutive samples. */
	bool has_ext;
	int64_t min_ts, max_ts;
	quality_t first_q, last_q;
	double m2, integral_step;
	int64_t max_gap_ns;
};

/* Call fn for every chunk of tag_id that lies wholly in [t0, t1), in time
 * order, with STORE_CHUNK_OVERLAPS set where its stats cannot stand for its
 * span alone. fn returning non-zero stops the walk and is returned.
 * Thread-safe; no chunk is decoded. */
int store_chunk_stats(struct store *st, uint32_t tag_id, int64_t t0, int64_t t1,
		      int (*fn)(void *arg, const struct store_chunk_stats *stats), void *arg)
	__attribute__((warn_unused_result));

/* Let a scan answer whole chunks by their pre-aggregates. Before
 * decoding a chunk that lies wholly in the scan's range and overlaps no
 * other chunk nor the head, the scan asks accept(arg, stats); when it
 * returns true, store_scan_next() hands out a block with count 0 and
 * stats set instead of the chunk's samples, still in time order. Call
 * before the first store_scan_next(). Numeric tags only. */
void store_scan_use_stats(struct store_scan *scan,
			  bool (*accept)(void *arg, const struct store_chunk_stats *stats), void *arg);

/* Seal the head into chunks now (for tests and the hourly rhythm's
 * impatient users). 0 or a negative error. */
int store_seal_now(struct store *st) __attribute__((warn_unused_result));

/* Seal the head, then rewrite every partition written by more than one
 * seal (or by one seal, not yet by a compaction) into one file with merged
 * chunks, rebuild the catalog with full pages (catalog_vacuum) and
 * checkpoint its SQLite WAL into catalog.db: what `historiand compact` and
 * POST /api/v1/admin/compact do so that a backup or a size measurement
 * sees the final layout. *partitions counts partitions rewritten. */
int store_compact_now(struct store *st, size_t *partitions) __attribute__((warn_unused_result));

/* Apply the retention rules as of now_ns (the compactor does this after
 * every seal with the wall clock; tests pass their own). */
int store_retention_now(struct store *st, int64_t now_ns) __attribute__((warn_unused_result));

/* Counters for /metrics. */
struct store_stats {
	uint64_t tags;
	uint64_t samples_appended;
	uint64_t head_samples, head_bytes;
	uint64_t seals, seal_failures, chunks_written;
	uint64_t compactions, compaction_failures;
	uint64_t max_seal_pause_ns;     /* longest time a seal held appends up */
	uint64_t chunk_file_bytes;
	uint64_t wal_records, wal_commits, wal_fsyncs, wal_bytes;
	int wal_state; /* 0 ok, 1 disk full, 2 I/O error, 3 read-only */
};

void store_stats(struct store *st, struct store_stats *out);

#endif

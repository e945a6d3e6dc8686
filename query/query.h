/* query.h: the query engine: raw samples, latest values, aggregates, trends, interpolated values and fill, over storage.
 * No sockets, no HTTP, no JSON: web/ parses requests and renders what these functions compute. */
#ifndef HS_QUERY_H
#define HS_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "query/agg.h"
#include "query/bucket.h"
#include "storage/store.h"

/* A tag as a query sees it: identity, type and the metadata that shapes
 * its signal (agg.h draws the signal). */
struct query_tag {
	uint32_t id;
	enum value_type type;
	const char *name;          /* the store's copy, valid until store_close() */
	bool linear;               /* the tag's interpolation setting */
	int64_t stale_ns;          /* the tag's stale timeout; 0 never */
};

/* Look a tag up by name. 0, or -ENOENT. Any thread. */
int query_tag_get(struct store *st, const char *name, size_t len, struct query_tag *out)
	__attribute__((warn_unused_result));
/* The same by id (for tags found by a search). */
int query_tag_by_id(struct store *st, uint32_t id, struct query_tag *out)
	__attribute__((warn_unused_result));

/* --- aggregates and trends ---------------------------------------------- */

/* What an empty bucket (no usable sample in it and no twa: no usable time,
 * or no time-weighted function asked) becomes. Fill touches
 * every function but count and percent_good, which are never filled
 * (count is always a number; percent_good is null only in the future).
 *   NULL      it stays, with null values (the default);
 *   NONE      it is left out;
 *   PREVIOUS  each null takes the function's last non-null value of an
 *             earlier bucket; before the first such bucket, the value of
 *             the last usable sample before the range (for twa, mean,
 *             min, max, first and last only: a sum, delta, range, stddev
 *             or integral is not a sample value);
 *   LINEAR    each null is interpolated in time (at the bucket's lo)
 *             between the nearest non-null buckets around it, using (for
 *             the same functions) the last usable sample before the range
 *             and the first after it where no bucket is on that side; it
 *             stays null where either side has nothing;
 *   VALUE     each null becomes the given constant.
 * Buckets that start at or after now are never filled: the future is not
 * known. A filled bucket is marked filled, and its quality is uncertain. */
enum query_fill {
	QUERY_FILL_NULL,
	QUERY_FILL_NONE,
	QUERY_FILL_PREVIOUS,
	QUERY_FILL_LINEAR,
	QUERY_FILL_VALUE,
};

struct query_agg_spec {
	struct bucket_plan plan;
	struct agg_params prm;     /* the caller copies linear/stale from the tag or the request */
	uint32_t fns;              /* 1u << enum agg_fn for each function wanted */
	bool need_minmax_ts;       /* the times of min and max are wanted (trends) */
	enum query_fill fill;
	double fill_value;         /* QUERY_FILL_VALUE */
	size_t max_buckets;        /* more buckets than this: -E2BIG before any work */
	uint64_t deadline_ns;      /* CLOCK_MONOTONIC; 0 none; past it: -ETIMEDOUT */
};

/* The buckets of one tag's answer; `filled` marks what fill produced. */
struct query_buckets {
	struct agg_bucket *b;
	bool *filled;
	size_t count, cap;
	uint64_t chunks_from_stats;  /* whole chunks answered without decoding */
	uint64_t samples_decoded;
};

/* Compute spec over tag's samples into out (which the caller zeroes first
 * and frees with query_buckets_free). Whole chunks inside one bucket are
 * answered from their pre-aggregates where agg_chunk_usable() allows. The
 * tag must be numeric or boolean (-EINVAL for strings). Returns 0, -E2BIG
 * (too many buckets), -ETIMEDOUT, -ENOMEM, or a storage error. Any thread. */
int query_aggregate(struct store *st, const struct query_tag *tag, const struct query_agg_spec *spec,
		    struct query_buckets *out) __attribute__((warn_unused_result));

void query_buckets_free(struct query_buckets *b);

/* --- interpolated values ------------------------------------------------ */

/* The signal's value at time t (agg.h's definition): null (NaN) with
 * quality bad where no usable sample governs t (none at or before it, the
 * governing one unusable, t at or past its time plus the stale timeout,
 * or t after now; t == now has the latest value). Quality is
 * good when every sample used was good, uncertain otherwise. Linear only
 * between two usable samples no further apart than the stale timeout;
 * otherwise the governing sample's value holds (step). */
struct query_interp {
	int64_t t;
	double v;                  /* NaN: null */
	enum agg_result_quality quality;
};

/* Values at n times (ascending, n >= 1) into out[n]. prm gives linear,
 * stale, quality mode and now. Numeric or boolean tags (booleans are
 * always step). 0, -ETIMEDOUT, or a storage error. */
int query_interpolated(struct store *st, const struct query_tag *tag, const struct agg_params *prm,
		       const int64_t *times, size_t n, uint64_t deadline_ns,
		       struct query_interp *out) __attribute__((warn_unused_result));

/* --- raw samples and the latest value ------------------------------------- */

/* One sample. For strings, str points at len bytes valid until the next
 * call on the same iterator (or, from the functions below, as they say). */
struct query_sample {
	int64_t ts;
	quality_t quality;
	double f64;                /* VALUE_FLOAT64 */
	int64_t i64;               /* VALUE_INT64, VALUE_BOOL (0 or 1) */
	const char *str;           /* VALUE_STRING */
	uint32_t str_len;
};

struct query_raw;

/* Iterate tag's samples in [t0, t1), ascending or (desc) descending, in
 * constant memory whatever the range. 0 or a negative error. */
int query_raw_open(struct store *st, const struct query_tag *tag, int64_t t0, int64_t t1, bool desc,
		   struct query_raw **out) __attribute__((warn_unused_result));
/* 1 with the next sample, 0 at the end, or a negative error. */
int query_raw_next(struct query_raw *r, struct query_sample *s) __attribute__((warn_unused_result));
void query_raw_close(struct query_raw *r);

/* The last sample before t0 and the first at or after t1. Strings are
 * copied into buf[0] and buf[1] (each QUERY_STR_MAX bytes, cut there).
 * 0 or an error; *have_* say which were found. */
#define QUERY_STR_MAX 4096
int query_raw_bounds(struct store *st, const struct query_tag *tag, int64_t t0, int64_t t1,
		     struct query_sample *before, bool *have_before, struct query_sample *after,
		     bool *have_after, char buf[2][QUERY_STR_MAX]) __attribute__((warn_unused_result));

/* The tag's latest sample; a string is copied into buf (QUERY_STR_MAX
 * bytes). 1 found, 0 none, or an error. */
int query_current(struct store *st, const struct query_tag *tag, struct query_sample *out,
		  char buf[QUERY_STR_MAX]) __attribute__((warn_unused_result));

#endif

/* agg.h: the bucket accumulator of the query engine: samples in time order in, one result per bucket out.
 * Pure: no I/O; it defines what twa, integral, percent_good, step and linear interpolation and stale timeouts mean. */
#ifndef HS_AGG_H
#define HS_AGG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "query/bucket.h"
#include "storage/sample.h"

/*
 * THE SIGNAL
 *
 * A tag's samples define a signal over time. Sample i (time t_i, value v_i)
 * governs [t_i, t_{i+1}); after the last sample it governs up to now (no
 * signal exists in the future) and, when the tag has a stale timeout S > 0,
 * only up to t_i + S. Inside that span the signal is
 *   - linear: v_i + (v_{i+1} - v_i) (t - t_i) / (t_{i+1} - t_i) when the tag
 *     interpolates linearly, sample i+1 exists, is usable, and (S == 0 or
 *     t_{i+1} - t_i <= S);
 *   - step: v_i otherwise.
 * A sample is usable when its value is not NaN and its quality passes the
 * request's quality mode (default: not bad). A span governed by an unusable
 * sample is a gap: it adds nothing to twa or integral, nor to the time twa
 * divides by. Time before the first sample is a gap too.
 *
 * PER BUCKET [lo, hi) (the bucket's part inside the query range)
 *   count, sum, mean, min, max, stddev (sample, n-1), first, last: over the
 *     usable samples with lo <= t < hi. delta = last - first, range =
 *     max - min. Null when there is no such sample (stddev: fewer than 2).
 *   integral: the integral of the signal over [lo, hi), value x seconds.
 *   twa: integral / (usable time in [lo, hi)); null when that time is 0.
 *   percent_good: 100 x (time in [lo, min(hi, now)) governed by a sample of
 *     good quality, within its stale timeout) / (min(hi, now) - lo); null
 *     when the bucket lies wholly in the future.
 *   quality: AGG_Q_BAD when no value could be computed (count == 0 and no
 *     usable time), AGG_Q_GOOD when every sample in the bucket and every
 *     sample governing part of it was of good quality and usable,
 *     AGG_Q_UNCERTAIN otherwise. With skip_signal (no time-weighted
 *     function asked) only the bucket's own samples count.
 */

enum agg_fn {
	AGG_TWA,
	AGG_MEAN,
	AGG_MIN,
	AGG_MAX,
	AGG_COUNT,
	AGG_SUM,
	AGG_STDDEV,
	AGG_FIRST,
	AGG_LAST,
	AGG_DELTA,
	AGG_RANGE,
	AGG_INTEGRAL,
	AGG_PERCENT_GOOD,
	AGG_FN_COUNT
};

/* Which samples are usable for values. */
enum agg_quality_mode {
	AGG_QMODE_NOT_BAD, /* good and uncertain (the default) */
	AGG_QMODE_GOOD,    /* good only */
	AGG_QMODE_ALL,     /* every sample, bad ones too */
};

enum agg_result_quality {
	AGG_Q_GOOD,
	AGG_Q_UNCERTAIN,
	AGG_Q_BAD,
};

/* Usable under the quality mode: not NaN, and of a quality it admits. */
bool agg_usable(enum agg_quality_mode mode, double v, quality_t q);

/* "fn" names for the API: "twa", "mean", ... "percent_good". */
const char *agg_fn_name(enum agg_fn fn);
/* Parse a name; -1 when unknown. */
int agg_fn_parse(const char *name, size_t len);

struct agg_params {
	bool linear;               /* interpolation of the tag */
	int64_t stale_ns;          /* 0: never stale */
	enum agg_quality_mode qmode;
	int64_t now_ns;            /* no signal at or after now */
	/* Work the caller may spare (zero: everything is computed).
	 * skip_signal: twa, integral and percent_good stay null and the signal
	 * between samples is not walked, so a bucket's quality speaks of its
	 * samples alone (bad when it has none); skip_integral: twa and
	 * integral stay null; skip_stddev: stddev stays null. */
	bool skip_signal;
	bool skip_integral;
	bool skip_stddev;
};

/* One bucket's result. Fields without a value hold NaN (doubles); the
 * times of first/last/min/max are set only when count > 0. */
struct agg_bucket {
	int64_t t;                 /* aligned start, the bucket's name */
	int64_t lo, hi;            /* the part inside the query range */
	uint64_t count;
	double v[AGG_FN_COUNT];    /* indexed by enum agg_fn; NaN = null */
	int64_t first_ts, last_ts, min_ts, max_ts;
	enum agg_result_quality quality;
};

/* Receives each bucket in time order. Non-zero stops the query and is
 * returned by the call that emitted. */
typedef int (*agg_emit_fn)(void *arg, const struct agg_bucket *b);

/* A whole chunk's pre-aggregates (storage/store.h's store_chunk_stats). */
struct store_chunk_stats;

struct agg {
	struct agg_params prm;
	struct bucket_plan plan;
	agg_emit_fn emit;
	void *emit_arg;
	int err;                   /* the emit's non-zero return, sticky */
	bool finished;
	/* the sample governing the signal now */
	bool have_prev;
	int64_t prev_ts;
	double prev_v;
	quality_t prev_q;
	bool prev_usable;
	/* the current bucket */
	struct agg_bucket cur;
	bool in_bucket;
	int64_t pos;                /* the current bucket's signal is accounted up to here */
	double sum, mean_acc, m2;  /* Welford's running mean and squares */
	/* value x nanoseconds: a value held over a span of d ns adds v*d, and
	 * twa divides by the usable ns, so a constant signal averages to
	 * itself exactly (per-second steps rounded 10 to 9.999999999999998) */
	double integral_ns;
	int64_t usable_ns, good_ns;
	bool uncertain;            /* some input was not good or not usable */
	bool have_next;            /* a sample after the range is known (agg_after) */
	int64_t next_ts;
	double next_v;
	bool next_usable;
};

/* Start accumulating over plan's buckets. emit gets every bucket of the
 * plan, in order, including empty ones (count 0). */
void agg_begin(struct agg *a, const struct agg_params *prm, const struct bucket_plan *plan,
	       agg_emit_fn emit, void *arg);

/* The last sample before the range (what governs the signal at start). */
void agg_before(struct agg *a, int64_t ts, double v, quality_t q);

/* The next sample in time order: start <= ts < end, strictly increasing.
 * Returns 0, or the emit's non-zero return. */
int agg_sample(struct agg *a, int64_t ts, double v, quality_t q);

/* Can a chunk with these pre-aggregates stand for its samples, given the
 * functions the caller needs? True when it lies wholly inside one bucket
 * (and after every sample given so far), has no flags (all good, no NaN,
 * no overlap), and its statistics hold what the functions need: stddev
 * and the times of min and max need the v2 statistics (has_ext); twa,
 * integral and percent_good need them too for step interpolation (the
 * step integral) and, with a stale timeout, to know that no gap inside
 * the chunk exceeds it. */
bool agg_chunk_usable(const struct agg *a, const struct store_chunk_stats *c, bool need_stddev,
		      bool need_minmax_ts, bool need_time_weighted);

/* Feed a whole chunk that agg_chunk_usable() accepted. 0 or the emit's
 * non-zero return. */
int agg_chunk(struct agg *a, const struct store_chunk_stats *c);

/* The first sample at or after the range's end (linear interpolation of
 * the last span needs it). Call before agg_end, after every sample. */
void agg_after(struct agg *a, int64_t ts, double v, quality_t q);

/* Close the open bucket and emit every bucket left. 0 or the emit's
 * non-zero return. */
int agg_end(struct agg *a);

#endif

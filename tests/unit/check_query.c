/* check_query.c: the query engine (query/query.h) against an oracle written from the headers' text alone.
 * The oracle (tests/unit/query_ref.h) draws agg.h's signal sample by sample from the full, deduplicated list of a
 * tag's samples and computes every function, fill, interpolated value, raw range, bound and latest value from its
 * definition. Randomized property tests build a real store (sealed, out-of-order, compacted and head data, plus
 * dense regular data for the pre-aggregate path) and compare; hand-computed cases pin the definitions down.
 * The seed is printed at start: HS_SEED=<seed> replays a run, HS_QUERY_ITERS=<n> scales the random queries. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/timefmt.h"
#include "query/agg.h"
#include "query/bucket.h"
#include "query/query.h"
#include "query/tz.h"
#include "storage/datadir.h"
#include "storage/store.h"
#include "tests/unit/query_ref.h"

#define SEC 1000000000LL
#define MINUTE (60 * SEC)
#define HOUR (3600 * SEC)
#define DAY (86400 * SEC)
#define NOW_FAR (1735689600LL * SEC) /* 2025-01-01T00:00:00Z: after every sample */
#define ALL_FNS ((1u << AGG_FN_COUNT) - 1)

/* --- random numbers -------------------------------------------------------- */

static uint64_t seed; /* set once in main, before the runner forks */
static uint64_t rng;

static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static int64_t rnd_range(int64_t lo, int64_t hi)
{
	return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
}

static double rnd_unit(void)
{
	return (double)(rnd() >> 11) * 0x1.0p-53;
}

static bool chance(double p)
{
	return rnd_unit() < p;
}

/* Every test draws from its own stream of the run's seed, so one test replays alone. */
static void reseed(uint64_t salt)
{
	rng = seed ^ (salt * 0xD1B54A32D192ED03ull);
}

static int iters(void)
{
	const char *e = getenv("HS_QUERY_ITERS");
	long n = e ? strtol(e, NULL, 10) : 0;

	return n > 0 ? (int)n : 400;
}

static int64_t at(const char *rfc3339)
{
	int64_t ns = 0;

	ck_assert_int_eq(timefmt_parse_rfc3339(rfc3339, strlen(rfc3339), &ns), 0);
	return ns;
}

/* --- the store ------------------------------------------------------------- */

static char root[256]; /* a TCase's directory, made and removed by the runner (survives a crashing test) */
static char dir[320];  /* a test's data directory inside it */
static struct datadir *dd;

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void setup_root(void)
{
	snprintf(root, sizeof root, "/tmp/hs-query-XXXXXX");
	if (mkdtemp(root) == NULL)
		abort();
}

static void teardown_root(void)
{
	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup(void)
{
	char err[DATADIR_ERROR_MAX];

	snprintf(dir, sizeof dir, "%s/XXXXXX", root);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_msg(datadir_open(dir, &dd, err) == 0, "datadir_open: %s", err);
	log_set_level(HS_LOG_WARN);
}

static void teardown(void)
{
	datadir_close(dd);
	dd = NULL;
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static struct store *open_store(void)
{
	struct store_options o;
	struct store *st;
	char err[STORE_ERROR_MAX];

	store_options_init(&o);
	o.data_dir = dir;
	o.wal_sync = STORE_WAL_SYNC_OFF;
	o.seal_interval_ns = 24 * HOUR; /* the tests seal by hand */
	int rc = store_open(&o, &st, err);
	ck_assert_msg(rc == 0, "store_open: %s", err);
	return st;
}

/* Create tag name with its interpolation and stale timeout, and check query_tag_get() reports them. */
static void make_tag(struct store *st, const char *name, enum value_type type, enum store_interp interp,
		     int64_t stale_ns, struct query_tag *qt)
{
	struct store_tag_meta m;
	char reason[STORE_ERROR_MAX] = "";
	uint32_t id;

	ck_assert_int_eq(store_tag_resolve(st, name, strlen(name), type, NULL, 0, &id, NULL), 0);
	ck_assert_int_eq(store_tag_meta_get(st, id, &m), 0);
	m.interpolation = interp;
	m.stale_timeout_ns = stale_ns;
	int rc = store_tag_meta_set(st, id, &m, reason);
	ck_assert_msg(rc == 0, "store_tag_meta_set(%s): %d %s", name, rc, reason);
	ck_assert_int_eq(query_tag_get(st, name, strlen(name), qt), 0);
	ck_assert_uint_eq(qt->id, id);
	ck_assert_int_eq(qt->type, type);
	ck_assert_str_eq(qt->name, name);
	ck_assert_int_eq(qt->linear, interp == STORE_INTERP_LINEAR);
	ck_assert_int_eq(qt->stale_ns, stale_ns);
}

static struct store_sample mk_sample(uint32_t id, enum value_type type, int64_t ts, double v, quality_t q)
{
	struct store_sample s = {.tag_id = id, .ts_ns = ts, .quality = q};

	if (type == VALUE_FLOAT64)
		s.v.f64 = v;
	else if (type == VALUE_INT64)
		s.v.i64 = (int64_t)v;
	else
		s.v.b = v != 0;
	return s;
}

/* --- hand-computed cases --------------------------------------------------- */

#define T_JUN10 (1717977600LL * SEC) /* 2024-06-10T00:00:00Z, a Monday */

struct det {
	struct store *st;
	struct query_tag qt;
};

static void det_open(struct det *d, enum value_type type, enum store_interp interp, int64_t stale_ns)
{
	d->st = open_store();
	make_tag(d->st, "t", type, interp, stale_ns, &d->qt);
}

static void det_put(struct det *d, int64_t ts, double v, quality_t q)
{
	struct store_sample s = mk_sample(d->qt.id, d->qt.type, ts, v, q);

	ck_assert_int_eq(store_append_wait(d->st, &s, 1), 0);
}

static struct agg_params det_prm(const struct det *d, enum agg_quality_mode qmode, int64_t now)
{
	return (struct agg_params){.linear = d->qt.linear, .stale_ns = d->qt.stale_ns, .qmode = qmode, .now_ns = now};
}

/* Every function of a fixed-interval aggregate of [start, end) into out (freed by the caller). */
static void det_agg(struct det *d, int64_t start, int64_t end, int64_t interval, const struct agg_params *prm,
		    enum query_fill fill, double fill_value, struct query_buckets *out)
{
	struct query_agg_spec spec = {.prm = *prm, .fns = ALL_FNS, .need_minmax_ts = true, .fill = fill,
				      .fill_value = fill_value, .max_buckets = 100000};

	ck_assert_int_eq(bucket_plan_fixed(&spec.plan, start, end, interval), 0);
	memset(out, 0, sizeof *out);
	int rc = query_aggregate(d->st, &d->qt, &spec, out);
	ck_assert_msg(rc == 0, "query_aggregate: %d", rc);
}

#define ASSERT_FN(b, fn, want)                                                                               \
	ck_assert_msg(fabs((b)->v[fn] - (want)) <= 1e-9 * fmax(1.0, fabs(want)), "%s: want %.17g, got %.17g", \
		      fn_names[fn], (double)(want), (b)->v[fn])
#define ASSERT_NULL(b, fn) ck_assert_msg(isnan((b)->v[fn]), "%s: want null, got %.17g", fn_names[fn], (b)->v[fn])
#define ASSERT_QUALITY(b, want)                                                                      \
	ck_assert_msg((b)->quality == (want), "quality: want %s, got %d", quality_names[want], \
		      (int)(b)->quality)

/* Step: 0 for the first half hour, 10 for the second. */
START_TEST(test_twa_of_a_step)
{
	struct det d;
	struct query_buckets out;

	det_open(&d, VALUE_FLOAT64, STORE_INTERP_STEP, 0);
	det_put(&d, T_JUN10, 0, QUALITY_GOOD);
	det_put(&d, T_JUN10 + 30 * MINUTE, 10, QUALITY_GOOD);
	struct agg_params prm = det_prm(&d, AGG_QMODE_NOT_BAD, NOW_FAR);
	det_agg(&d, T_JUN10, T_JUN10 + HOUR, HOUR, &prm, QUERY_FILL_NULL, 0, &out);
	ck_assert_uint_eq(out.count, 1);
	const struct agg_bucket *b = &out.b[0];
	ck_assert_int_eq(b->t, T_JUN10);
	ck_assert_int_eq(b->lo, T_JUN10);
	ck_assert_int_eq(b->hi, T_JUN10 + HOUR);
	ck_assert_uint_eq(b->count, 2);
	ASSERT_FN(b, AGG_TWA, 5.0);
	ASSERT_FN(b, AGG_INTEGRAL, 18000.0);
	ASSERT_FN(b, AGG_MEAN, 5.0);
	ASSERT_FN(b, AGG_SUM, 10.0);
	ASSERT_FN(b, AGG_COUNT, 2.0);
	ASSERT_FN(b, AGG_MIN, 0.0);
	ASSERT_FN(b, AGG_MAX, 10.0);
	ASSERT_FN(b, AGG_FIRST, 0.0);
	ASSERT_FN(b, AGG_LAST, 10.0);
	ASSERT_FN(b, AGG_DELTA, 10.0);
	ASSERT_FN(b, AGG_RANGE, 10.0);
	ASSERT_FN(b, AGG_STDDEV, sqrt(50.0));
	ASSERT_FN(b, AGG_PERCENT_GOOD, 100.0);
	ASSERT_QUALITY(b, AGG_Q_GOOD);
	ck_assert_int_eq(b->first_ts, T_JUN10);
	ck_assert_int_eq(b->last_ts, T_JUN10 + 30 * MINUTE);
	ck_assert_int_eq(b->min_ts, T_JUN10);
	ck_assert_int_eq(b->max_ts, T_JUN10 + 30 * MINUTE);
	ck_assert(!out.filled[0]);
	query_buckets_free(&out);
	store_close(d.st);
}
END_TEST

/* Linear 0 -> 3600 over an hour, then back to 0: the line needs the sample after the bucket. */
START_TEST(test_linear_ramp)
{
	struct det d;
	struct query_buckets out;

	det_open(&d, VALUE_FLOAT64, STORE_INTERP_LINEAR, 0);
	det_put(&d, T_JUN10, 0, QUALITY_GOOD);
	det_put(&d, T_JUN10 + HOUR, 3600, QUALITY_GOOD);
	det_put(&d, T_JUN10 + 2 * HOUR, 0, QUALITY_GOOD);
	struct agg_params prm = det_prm(&d, AGG_QMODE_NOT_BAD, NOW_FAR);
	det_agg(&d, T_JUN10, T_JUN10 + HOUR, HOUR, &prm, QUERY_FILL_NULL, 0, &out);
	ck_assert_uint_eq(out.count, 1);
	ASSERT_FN(&out.b[0], AGG_TWA, 1800.0);
	ASSERT_FN(&out.b[0], AGG_INTEGRAL, 3600.0 * 3600 / 2);
	ASSERT_FN(&out.b[0], AGG_MEAN, 0.0);
	ck_assert_uint_eq(out.b[0].count, 1);
	query_buckets_free(&out);
	/* A range inside the ramp: the bucket keeps its aligned name, computes over its part. */
	det_agg(&d, T_JUN10 + 15 * MINUTE, T_JUN10 + 45 * MINUTE, HOUR, &prm, QUERY_FILL_NULL, 0, &out);
	ck_assert_uint_eq(out.count, 1);
	ck_assert_int_eq(out.b[0].t, T_JUN10);
	ck_assert_int_eq(out.b[0].lo, T_JUN10 + 15 * MINUTE);
	ck_assert_int_eq(out.b[0].hi, T_JUN10 + 45 * MINUTE);
	ck_assert_uint_eq(out.b[0].count, 0);
	ASSERT_FN(&out.b[0], AGG_TWA, 1800.0);
	ASSERT_FN(&out.b[0], AGG_INTEGRAL, 1800.0 * 1800);
	ASSERT_NULL(&out.b[0], AGG_MEAN);
	ASSERT_QUALITY(&out.b[0], AGG_Q_GOOD);
	query_buckets_free(&out);
	/* Two buckets: up and down. */
	det_agg(&d, T_JUN10, T_JUN10 + 2 * HOUR, HOUR, &prm, QUERY_FILL_NULL, 0, &out);
	ck_assert_uint_eq(out.count, 2);
	ASSERT_FN(&out.b[1], AGG_TWA, 1800.0);
	ASSERT_FN(&out.b[1], AGG_FIRST, 3600.0);
	query_buckets_free(&out);
	store_close(d.st);
}
END_TEST

/* The sample before the bucket governs its start. */
START_TEST(test_twa_uses_the_value_before)
{
	struct det d;
	struct query_buckets out;

	det_open(&d, VALUE_FLOAT64, STORE_INTERP_STEP, 0);
	det_put(&d, T_JUN10 - 10 * MINUTE, 4, QUALITY_GOOD);
	det_put(&d, T_JUN10 + 30 * MINUTE, 8, QUALITY_GOOD);
	struct agg_params prm = det_prm(&d, AGG_QMODE_NOT_BAD, NOW_FAR);
	det_agg(&d, T_JUN10, T_JUN10 + HOUR, HOUR, &prm, QUERY_FILL_NULL, 0, &out);
	ck_assert_uint_eq(out.count, 1);
	ASSERT_FN(&out.b[0], AGG_TWA, 6.0);
	ASSERT_FN(&out.b[0], AGG_MEAN, 8.0);
	ASSERT_FN(&out.b[0], AGG_FIRST, 8.0);
	ck_assert_uint_eq(out.b[0].count, 1);
	query_buckets_free(&out);
	store_close(d.st);
}
END_TEST

/* A sample exactly on an edge belongs to the later bucket. */
START_TEST(test_edge_sample_belongs_to_later_bucket)
{
	struct det d;
	struct query_buckets out;

	det_open(&d, VALUE_INT64, STORE_INTERP_STEP, 0);
	det_put(&d, T_JUN10, 1, QUALITY_GOOD);
	det_put(&d, T_JUN10 + HOUR, 2, QUALITY_GOOD);
	det_put(&d, T_JUN10 + 2 * HOUR, 3, QUALITY_GOOD);
	struct agg_params prm = det_prm(&d, AGG_QMODE_NOT_BAD, NOW_FAR);
	det_agg(&d, T_JUN10, T_JUN10 + 2 * HOUR, HOUR, &prm, QUERY_FILL_NULL, 0, &out);
	ck_assert_uint_eq(out.count, 2);
	ck_assert_uint_eq(out.b[0].count, 1);
	ASSERT_FN(&out.b[0], AGG_LAST, 1.0);
	ck_assert_int_eq(out.b[0].last_ts, T_JUN10);
	ck_assert_uint_eq(out.b[1].count, 1);
	ASSERT_FN(&out.b[1], AGG_FIRST, 2.0);
	ck_assert_int_eq(out.b[1].first_ts, T_JUN10 + HOUR);
	ASSERT_FN(&out.b[1], AGG_TWA, 2.0);
	query_buckets_free(&out);
	store_close(d.st);
}
END_TEST

/* Fill previous: before any bucket has a value, the last usable sample before the range (past a bad one). */
START_TEST(test_fill_previous_at_range_start)
{
	struct det d;
	struct query_buckets out;

	det_open(&d, VALUE_FLOAT64, STORE_INTERP_STEP, 20 * MINUTE);
	det_put(&d, T_JUN10 - 5 * HOUR, 7, QUALITY_GOOD);
	det_put(&d, T_JUN10 - HOUR, 99, QUALITY_BAD);
	det_put(&d, T_JUN10 + HOUR + 30 * MINUTE, 20, QUALITY_GOOD); /* governs 20 min of the middle bucket */
	struct agg_params prm = det_prm(&d, AGG_QMODE_NOT_BAD, NOW_FAR);
	det_agg(&d, T_JUN10, T_JUN10 + 3 * HOUR, HOUR, &prm, QUERY_FILL_PREVIOUS, 0, &out);
	ck_assert_uint_eq(out.count, 3);
	ck_assert(out.filled[0]);
	ck_assert_uint_eq(out.b[0].count, 0);
	ASSERT_FN(&out.b[0], AGG_MEAN, 7.0);
	ASSERT_FN(&out.b[0], AGG_TWA, 7.0);
	ASSERT_FN(&out.b[0], AGG_LAST, 7.0);
	ASSERT_FN(&out.b[0], AGG_PERCENT_GOOD, 0.0);
	ASSERT_QUALITY(&out.b[0], AGG_Q_UNCERTAIN);
	ck_assert(!out.filled[1]);
	ASSERT_FN(&out.b[1], AGG_MEAN, 20.0);
	ASSERT_FN(&out.b[1], AGG_TWA, 20.0);
	ASSERT_FN(&out.b[1], AGG_PERCENT_GOOD, 100.0 / 3);
	ck_assert(out.filled[2]);
	ASSERT_FN(&out.b[2], AGG_MEAN, 20.0);
	ASSERT_FN(&out.b[2], AGG_TWA, 20.0);
	ASSERT_FN(&out.b[2], AGG_COUNT, 0.0);
	ASSERT_QUALITY(&out.b[2], AGG_Q_UNCERTAIN);
	query_buckets_free(&out);
	/* Without fill the same buckets are null and bad. */
	det_agg(&d, T_JUN10, T_JUN10 + 3 * HOUR, HOUR, &prm, QUERY_FILL_NULL, 0, &out);
	ck_assert_uint_eq(out.count, 3);
	ck_assert(!out.filled[0]);
	ASSERT_NULL(&out.b[0], AGG_MEAN);
	ASSERT_NULL(&out.b[0], AGG_TWA);
	ASSERT_QUALITY(&out.b[0], AGG_Q_BAD);
	query_buckets_free(&out);
	store_close(d.st);
}
END_TEST

/* Fill linear, value and none around one empty bucket. */
START_TEST(test_fill_linear_value_none)
{
	struct det d;
	struct query_buckets out;

	det_open(&d, VALUE_FLOAT64, STORE_INTERP_STEP, 5 * MINUTE);
	det_put(&d, T_JUN10 + 10 * MINUTE, 10, QUALITY_GOOD);
	det_put(&d, T_JUN10 + 2 * HOUR + 10 * MINUTE, 30, QUALITY_GOOD);
	struct agg_params prm = det_prm(&d, AGG_QMODE_NOT_BAD, NOW_FAR);
	det_agg(&d, T_JUN10, T_JUN10 + 3 * HOUR, HOUR, &prm, QUERY_FILL_LINEAR, 0, &out);
	ck_assert_uint_eq(out.count, 3);
	ck_assert(out.filled[1]);
	ASSERT_FN(&out.b[1], AGG_MEAN, 20.0);
	ASSERT_FN(&out.b[1], AGG_TWA, 20.0);
	ASSERT_QUALITY(&out.b[1], AGG_Q_UNCERTAIN);
	ck_assert(!out.filled[0] && !out.filled[2]);
	query_buckets_free(&out);
	det_agg(&d, T_JUN10, T_JUN10 + 3 * HOUR, HOUR, &prm, QUERY_FILL_VALUE, -1.5, &out);
	ck_assert_uint_eq(out.count, 3);
	ck_assert(out.filled[1]);
	ASSERT_FN(&out.b[1], AGG_MEAN, -1.5);
	ASSERT_FN(&out.b[1], AGG_MAX, -1.5);
	ASSERT_FN(&out.b[1], AGG_COUNT, 0.0);
	query_buckets_free(&out);
	det_agg(&d, T_JUN10, T_JUN10 + 3 * HOUR, HOUR, &prm, QUERY_FILL_NONE, 0, &out);
	ck_assert_uint_eq(out.count, 2);
	ck_assert_int_eq(out.b[0].t, T_JUN10);
	ck_assert_int_eq(out.b[1].t, T_JUN10 + 2 * HOUR);
	query_buckets_free(&out);
	store_close(d.st);
}
END_TEST

/* Fill linear reaches past unusable samples to the last usable one before the range and the first after it. */
START_TEST(test_fill_linear_uses_usable_samples)
{
	struct det d;
	struct query_buckets out;

	det_open(&d, VALUE_FLOAT64, STORE_INTERP_STEP, 10 * MINUTE);
	det_put(&d, T_JUN10 - HOUR, 0, QUALITY_GOOD);
	det_put(&d, T_JUN10 - 30 * MINUTE, 50, QUALITY_BAD);
	det_put(&d, T_JUN10 + 4 * HOUR, 500, QUALITY_BAD);
	det_put(&d, T_JUN10 + 5 * HOUR, 600, QUALITY_GOOD);
	struct agg_params prm = det_prm(&d, AGG_QMODE_NOT_BAD, NOW_FAR);
	det_agg(&d, T_JUN10, T_JUN10 + 3 * HOUR, HOUR, &prm, QUERY_FILL_LINEAR, 0, &out);
	ck_assert_uint_eq(out.count, 3);
	for (int k = 0; k < 3; k++) {
		ck_assert_msg(out.filled[k], "bucket %d not filled", k);
		ASSERT_FN(&out.b[k], AGG_MEAN, 100.0 * (k + 1)); /* 0 at T-1h to 600 at T+5h */
		ASSERT_FN(&out.b[k], AGG_TWA, 100.0 * (k + 1));
	}
	query_buckets_free(&out);
	store_close(d.st);
}
END_TEST

/* Fill is for empty buckets: a bucket with a value keeps its other nulls (stddev of one sample, mean without a
 * sample) and is neither marked filled nor made uncertain. */
START_TEST(test_fill_leaves_buckets_with_values)
{
	static const enum query_fill fills[3] = {QUERY_FILL_PREVIOUS, QUERY_FILL_LINEAR, QUERY_FILL_VALUE};
	struct det d;
	struct query_buckets out;

	det_open(&d, VALUE_FLOAT64, STORE_INTERP_STEP, 0);
	det_put(&d, T_JUN10 + 10 * MINUTE, 4, QUALITY_GOOD);
	det_put(&d, T_JUN10 + HOUR + 10 * MINUTE, 6, QUALITY_GOOD);
	det_put(&d, T_JUN10 + 5 * HOUR, 8, QUALITY_GOOD);
	struct agg_params prm = det_prm(&d, AGG_QMODE_NOT_BAD, NOW_FAR);
	for (int i = 0; i < 3; i++) {
		det_agg(&d, T_JUN10, T_JUN10 + 3 * HOUR, HOUR, &prm, fills[i], -1, &out);
		ck_assert_uint_eq(out.count, 3);
		for (int k = 0; k < 3; k++) {
			ck_assert_msg(!out.filled[k], "fill %s: bucket %d marked filled", fill_names[fills[i]], k);
			ASSERT_QUALITY(&out.b[k], AGG_Q_GOOD);
			ASSERT_NULL(&out.b[k], AGG_STDDEV);
		}
		ASSERT_FN(&out.b[1], AGG_MEAN, 6.0);
		ASSERT_NULL(&out.b[2], AGG_MEAN); /* no sample, but 6 governs it: twa 6 */
		ASSERT_FN(&out.b[2], AGG_TWA, 6.0);
		query_buckets_free(&out);
	}
	store_close(d.st);
}
END_TEST

/* agg.h: the signal decides quality only when a time-weighted function is asked; without one (skip_signal) a
 * bucket's quality speaks of its own samples alone, bad when it has none. */
START_TEST(test_quality_with_and_without_the_signal)
{
	static const uint32_t masks[3] = {ALL_FNS, 1u << AGG_MEAN, 1u << AGG_COUNT | 1u << AGG_MAX};
	static const enum agg_result_quality want[3][2] = {
		{AGG_Q_UNCERTAIN, AGG_Q_GOOD}, /* the first half hour is governed by the uncertain sample */
		{AGG_Q_GOOD, AGG_Q_BAD},       /* own samples only: one good sample, none */
		{AGG_Q_GOOD, AGG_Q_BAD},
	};
	struct det d;
	struct query_agg_spec spec = {.max_buckets = 10};
	struct query_buckets out;

	det_open(&d, VALUE_FLOAT64, STORE_INTERP_STEP, 0);
	det_put(&d, T_JUN10 - HOUR, 5, QUALITY_UNCERTAIN);
	det_put(&d, T_JUN10 + 30 * MINUTE, 7, QUALITY_GOOD);
	spec.prm = det_prm(&d, AGG_QMODE_NOT_BAD, NOW_FAR);
	for (int m = 0; m < 3; m++) {
		spec.fns = masks[m];
		ck_assert_int_eq(bucket_plan_fixed(&spec.plan, T_JUN10, T_JUN10 + 2 * HOUR, HOUR), 0);
		memset(&out, 0, sizeof out);
		ck_assert_int_eq(query_aggregate(d.st, &d.qt, &spec, &out), 0);
		ck_assert_uint_eq(out.count, 2);
		for (int k = 0; k < 2; k++)
			ck_assert_msg(out.b[k].quality == want[m][k], "fns 0x%x: bucket %d quality %s, want %s",
				      masks[m], k, quality_names[out.b[k].quality], quality_names[want[m][k]]);
		query_buckets_free(&out);
	}
	store_close(d.st);
}
END_TEST

/* Bad samples are gaps by default and values with AGG_QMODE_ALL. */
START_TEST(test_bad_samples_and_quality_modes)
{
	struct det d;
	struct query_buckets out;

	det_open(&d, VALUE_FLOAT64, STORE_INTERP_STEP, 0);
	det_put(&d, T_JUN10, 10, QUALITY_GOOD);
	det_put(&d, T_JUN10 + 20 * MINUTE, 1000, QUALITY_BAD | 0x12);
	det_put(&d, T_JUN10 + 40 * MINUTE, 20, QUALITY_GOOD);
	struct agg_params prm = det_prm(&d, AGG_QMODE_NOT_BAD, NOW_FAR);
	det_agg(&d, T_JUN10, T_JUN10 + HOUR, HOUR, &prm, QUERY_FILL_NULL, 0, &out);
	ck_assert_uint_eq(out.b[0].count, 2);
	ASSERT_FN(&out.b[0], AGG_MEAN, 15.0);
	ASSERT_FN(&out.b[0], AGG_TWA, 15.0);
	ASSERT_FN(&out.b[0], AGG_INTEGRAL, 10.0 * 1200 + 20.0 * 1200);
	ASSERT_FN(&out.b[0], AGG_MAX, 20.0);
	ASSERT_FN(&out.b[0], AGG_PERCENT_GOOD, 200.0 / 3);
	ASSERT_QUALITY(&out.b[0], AGG_Q_UNCERTAIN);
	query_buckets_free(&out);
	prm.qmode = AGG_QMODE_ALL;
	det_agg(&d, T_JUN10, T_JUN10 + HOUR, HOUR, &prm, QUERY_FILL_NULL, 0, &out);
	ck_assert_uint_eq(out.b[0].count, 3);
	ASSERT_FN(&out.b[0], AGG_MEAN, 1030.0 / 3);
	ASSERT_FN(&out.b[0], AGG_TWA, 1030.0 / 3);
	ASSERT_FN(&out.b[0], AGG_MAX, 1000.0);
	ck_assert_int_eq(out.b[0].max_ts, T_JUN10 + 20 * MINUTE);
	ASSERT_FN(&out.b[0], AGG_PERCENT_GOOD, 200.0 / 3);
	ASSERT_QUALITY(&out.b[0], AGG_Q_UNCERTAIN);
	query_buckets_free(&out);
	store_close(d.st);
}
END_TEST

/* Half the time governed by a bad sample: percent_good 50; good sub-codes are good. */
START_TEST(test_percent_good)
{
	struct det d;
	struct query_buckets out;

	det_open(&d, VALUE_FLOAT64, STORE_INTERP_STEP, 0);
	det_put(&d, T_JUN10, 1, QUALITY_GOOD);
	det_put(&d, T_JUN10 + 30 * MINUTE, 2, QUALITY_BAD | 0x5);
	det_put(&d, T_JUN10 + HOUR, 3, QUALITY_GOOD | 0x42);
	det_put(&d, T_JUN10 + 2 * HOUR, 4, QUALITY_UNCERTAIN);
	struct agg_params prm = det_prm(&d, AGG_QMODE_NOT_BAD, NOW_FAR);
	det_agg(&d, T_JUN10, T_JUN10 + 3 * HOUR, HOUR, &prm, QUERY_FILL_NULL, 0, &out);
	ck_assert_uint_eq(out.count, 3);
	ASSERT_FN(&out.b[0], AGG_PERCENT_GOOD, 50.0);
	ASSERT_FN(&out.b[0], AGG_TWA, 1.0);
	ASSERT_QUALITY(&out.b[0], AGG_Q_UNCERTAIN);
	ASSERT_FN(&out.b[1], AGG_PERCENT_GOOD, 100.0);
	ASSERT_QUALITY(&out.b[1], AGG_Q_GOOD);
	ASSERT_FN(&out.b[2], AGG_PERCENT_GOOD, 0.0);
	ASSERT_FN(&out.b[2], AGG_TWA, 4.0);
	ASSERT_QUALITY(&out.b[2], AGG_Q_UNCERTAIN);
	query_buckets_free(&out);
	/* Good only: the uncertain sample is a gap, its bucket has no value. */
	prm.qmode = AGG_QMODE_GOOD;
	det_agg(&d, T_JUN10 + 2 * HOUR, T_JUN10 + 3 * HOUR, HOUR, &prm, QUERY_FILL_NULL, 0, &out);
	ck_assert_uint_eq(out.b[0].count, 0);
	ASSERT_NULL(&out.b[0], AGG_TWA);
	ASSERT_QUALITY(&out.b[0], AGG_Q_BAD);
	query_buckets_free(&out);
	store_close(d.st);
}
END_TEST

/* A stale timeout of 10 minutes cuts each sample's span: two 10-minute islands in the hour. */
START_TEST(test_stale_timeout_makes_a_gap)
{
	struct det d;
	struct query_buckets out;
	struct query_interp iv[4];

	det_open(&d, VALUE_FLOAT64, STORE_INTERP_STEP, 10 * MINUTE);
	det_put(&d, T_JUN10, 5, QUALITY_GOOD);
	det_put(&d, T_JUN10 + 30 * MINUTE, 15, QUALITY_GOOD);
	struct agg_params prm = det_prm(&d, AGG_QMODE_NOT_BAD, NOW_FAR);
	det_agg(&d, T_JUN10, T_JUN10 + HOUR, HOUR, &prm, QUERY_FILL_NULL, 0, &out);
	ASSERT_FN(&out.b[0], AGG_TWA, 10.0);
	ASSERT_FN(&out.b[0], AGG_INTEGRAL, 5.0 * 600 + 15.0 * 600);
	ASSERT_FN(&out.b[0], AGG_PERCENT_GOOD, 100.0 / 3);
	query_buckets_free(&out);
	const int64_t times[4] = {T_JUN10 + 5 * MINUTE, T_JUN10 + 20 * MINUTE, T_JUN10 + 35 * MINUTE,
				  T_JUN10 + 50 * MINUTE};
	ck_assert_int_eq(query_interpolated(d.st, &d.qt, &prm, times, 4, 0, iv), 0);
	ck_assert_double_eq(iv[0].v, 5.0);
	ck_assert_int_eq(iv[0].quality, AGG_Q_GOOD);
	ck_assert(isnan(iv[1].v));
	ck_assert_int_eq(iv[1].quality, AGG_Q_BAD);
	ck_assert_double_eq(iv[2].v, 15.0);
	ck_assert(isnan(iv[3].v));
	ck_assert_int_eq(iv[3].quality, AGG_Q_BAD);
	store_close(d.st);
}
END_TEST

/* No signal at or after now. */
START_TEST(test_now_inside_the_range)
{
	struct det d;
	struct query_buckets out;
	struct query_interp iv[3];

	det_open(&d, VALUE_FLOAT64, STORE_INTERP_STEP, 0);
	det_put(&d, T_JUN10, 10, QUALITY_GOOD);
	struct agg_params prm = det_prm(&d, AGG_QMODE_NOT_BAD, T_JUN10 + 30 * MINUTE);
	det_agg(&d, T_JUN10, T_JUN10 + 2 * HOUR, HOUR, &prm, QUERY_FILL_NULL, 0, &out);
	ck_assert_uint_eq(out.count, 2);
	ASSERT_FN(&out.b[0], AGG_TWA, 10.0);
	ASSERT_FN(&out.b[0], AGG_INTEGRAL, 18000.0);
	ASSERT_FN(&out.b[0], AGG_PERCENT_GOOD, 100.0);
	ASSERT_NULL(&out.b[1], AGG_PERCENT_GOOD);
	ASSERT_NULL(&out.b[1], AGG_TWA);
	ASSERT_QUALITY(&out.b[1], AGG_Q_BAD);
	query_buckets_free(&out);
	/* query.h: null after now; t == now has the latest value. */
	const int64_t times[3] = {T_JUN10 + 29 * MINUTE, T_JUN10 + 30 * MINUTE, T_JUN10 + 30 * MINUTE + 1};
	ck_assert_int_eq(query_interpolated(d.st, &d.qt, &prm, times, 3, 0, iv), 0);
	ck_assert_double_eq(iv[0].v, 10.0);
	ck_assert_double_eq(iv[1].v, 10.0);
	ck_assert_int_eq(iv[1].quality, AGG_Q_GOOD);
	ck_assert(isnan(iv[2].v));
	ck_assert_int_eq(iv[2].quality, AGG_Q_BAD);
	store_close(d.st);
}
END_TEST

/* A value held constant averages to itself exactly, whatever the span:
 * summing value-seconds per span turned 10 into 9.999999999999998 for
 * spans such as 56,757,594,619 ns (one span in 25 did, and a third of the
 * buckets with two spans). */
START_TEST(test_constant_twa_is_exact)
{
	struct det d;
	struct query_buckets out;

	det_open(&d, VALUE_FLOAT64, STORE_INTERP_STEP, 0);
	det_put(&d, T_JUN10, 10, QUALITY_GOOD);
	det_put(&d, T_JUN10 + HOUR + 905354145836, 10, QUALITY_GOOD);
	det_put(&d, T_JUN10 + 2 * HOUR + 6781360648, 10, QUALITY_GOOD);
	struct agg_params prm = det_prm(&d, AGG_QMODE_NOT_BAD, T_JUN10 + 10 * HOUR);
	det_agg(&d, T_JUN10 + HOUR - 56757594619, T_JUN10 + 3 * HOUR, HOUR, &prm, QUERY_FILL_NULL, 0,
		&out);
	ck_assert_uint_eq(out.count, 3);
	for (size_t i = 0; i < out.count; i++)
		ck_assert_msg(out.b[i].v[AGG_TWA] == 10.0, "bucket %zu: twa %.17g", i,
			      out.b[i].v[AGG_TWA]);
	query_buckets_free(&out);
	store_close(d.st);
}
END_TEST

/* Interpolated values: linear between usable samples, quality from every sample used, stale, booleans step. */
START_TEST(test_interpolated_values)
{
	struct det d;
	struct query_interp iv[5];

	det_open(&d, VALUE_FLOAT64, STORE_INTERP_LINEAR, 0);
	det_put(&d, T_JUN10, 0, QUALITY_GOOD);
	det_put(&d, T_JUN10 + 100 * SEC, 100, QUALITY_UNCERTAIN);
	det_put(&d, T_JUN10 + 200 * SEC, 50, QUALITY_GOOD);
	struct agg_params prm = det_prm(&d, AGG_QMODE_NOT_BAD, NOW_FAR);
	const int64_t times[5] = {T_JUN10 - 1, T_JUN10 + 25 * SEC, T_JUN10 + 150 * SEC, T_JUN10 + 300 * SEC,
				  T_JUN10 + 400 * SEC};
	ck_assert_int_eq(query_interpolated(d.st, &d.qt, &prm, times, 5, 0, iv), 0);
	ck_assert_int_eq(iv[0].t, times[0]);
	ck_assert(isnan(iv[0].v));
	ck_assert_int_eq(iv[0].quality, AGG_Q_BAD);
	ck_assert_double_eq_tol(iv[1].v, 25.0, 1e-9);
	ck_assert_int_eq(iv[1].quality, AGG_Q_UNCERTAIN);
	ck_assert_double_eq_tol(iv[2].v, 75.0, 1e-9);
	ck_assert_int_eq(iv[2].quality, AGG_Q_UNCERTAIN);
	ck_assert_double_eq(iv[3].v, 50.0);
	ck_assert_int_eq(iv[3].quality, AGG_Q_GOOD);
	/* Step. */
	prm.linear = false;
	ck_assert_int_eq(query_interpolated(d.st, &d.qt, &prm, times, 5, 0, iv), 0);
	ck_assert_double_eq(iv[1].v, 0.0);
	ck_assert_int_eq(iv[1].quality, AGG_Q_GOOD);
	/* Stale 60 s: samples 100 s apart are not joined, and the value dies after 60 s. */
	prm.linear = true;
	prm.stale_ns = 60 * SEC;
	ck_assert_int_eq(query_interpolated(d.st, &d.qt, &prm, times, 5, 0, iv), 0);
	ck_assert_double_eq(iv[1].v, 0.0);
	ck_assert_int_eq(iv[1].quality, AGG_Q_GOOD);
	ck_assert(isnan(iv[2].v) == false);
	ck_assert_double_eq(iv[2].v, 100.0);
	ck_assert(isnan(iv[3].v));
	/* Good only: the uncertain sample is unusable, t = 150 s falls in its span. */
	prm.stale_ns = 0;
	prm.qmode = AGG_QMODE_GOOD;
	ck_assert_int_eq(query_interpolated(d.st, &d.qt, &prm, times, 5, 0, iv), 0);
	ck_assert_double_eq(iv[1].v, 0.0); /* the next sample is unusable: step */
	ck_assert_int_eq(iv[1].quality, AGG_Q_GOOD);
	ck_assert(isnan(iv[2].v));
	ck_assert_int_eq(iv[2].quality, AGG_Q_BAD);
	store_close(d.st);
}
END_TEST

/* Booleans are always step, whatever prm says. */
START_TEST(test_interpolated_boolean_is_step)
{
	struct det d;
	struct query_interp iv[1];

	det_open(&d, VALUE_BOOL, STORE_INTERP_STEP, 0);
	det_put(&d, T_JUN10, 0, QUALITY_GOOD);
	det_put(&d, T_JUN10 + 100 * SEC, 1, QUALITY_GOOD);
	struct agg_params prm = det_prm(&d, AGG_QMODE_NOT_BAD, NOW_FAR);
	prm.linear = true;
	const int64_t times[1] = {T_JUN10 + 50 * SEC};
	ck_assert_int_eq(query_interpolated(d.st, &d.qt, &prm, times, 1, 0, iv), 0);
	ck_assert_double_eq(iv[0].v, 0.0);
	store_close(d.st);
}
END_TEST

/* A Berlin day of 23 hours and a New York day of 25 hours. */
START_TEST(test_calendar_days_across_dst)
{
	struct det d;
	struct query_buckets out;
	struct query_agg_spec spec = {.fns = ALL_FNS, .max_buckets = 1000};
	char err[TZ_ERR_LEN];
	const struct tz *berlin = tz_get("Europe/Berlin", err), *ny = tz_get("America/New_York", err);

	ck_assert_msg(berlin && ny, "tz_get: %s", err);
	det_open(&d, VALUE_FLOAT64, STORE_INTERP_STEP, 0);
	det_put(&d, at("2024-03-01T00:00:00Z"), 1, QUALITY_GOOD);
	spec.prm = det_prm(&d, AGG_QMODE_NOT_BAD, NOW_FAR);
	ck_assert_int_eq(bucket_plan_calendar(&spec.plan, at("2024-03-30T12:00:00Z"), at("2024-04-01T12:00:00Z"),
					      berlin, TZ_DAY),
			 0);
	memset(&out, 0, sizeof out);
	ck_assert_int_eq(query_aggregate(d.st, &d.qt, &spec, &out), 0);
	ck_assert_uint_eq(out.count, 3);
	ck_assert_int_eq(out.b[0].t, at("2024-03-29T23:00:00Z"));
	ck_assert_int_eq(out.b[0].lo, at("2024-03-30T12:00:00Z"));
	ck_assert_int_eq(out.b[1].t, at("2024-03-30T23:00:00Z"));
	ck_assert_int_eq(out.b[1].hi, at("2024-03-31T22:00:00Z"));
	ASSERT_FN(&out.b[1], AGG_INTEGRAL, 23.0 * 3600);
	ck_assert_int_eq(out.b[2].hi, at("2024-04-01T12:00:00Z"));
	query_buckets_free(&out);
	ck_assert_int_eq(bucket_plan_calendar(&spec.plan, at("2024-11-03T00:00:00Z"), at("2024-11-05T00:00:00Z"), ny,
					      TZ_DAY),
			 0);
	memset(&out, 0, sizeof out);
	ck_assert_int_eq(query_aggregate(d.st, &d.qt, &spec, &out), 0);
	ck_assert_uint_eq(out.count, 3);
	ck_assert_int_eq(out.b[1].t, at("2024-11-03T04:00:00Z"));
	ck_assert_int_eq(out.b[1].hi, at("2024-11-04T05:00:00Z"));
	ASSERT_FN(&out.b[1], AGG_INTEGRAL, 25.0 * 3600);
	ASSERT_FN(&out.b[1], AGG_TWA, 1.0);
	query_buckets_free(&out);
	store_close(d.st);
}
END_TEST

/* Strings are refused, too many buckets are refused before any work. */
START_TEST(test_errors)
{
	struct det d;
	struct query_buckets out = {0};
	struct query_tag qs, qx;
	struct query_agg_spec spec = {.fns = ALL_FNS, .max_buckets = 2};

	det_open(&d, VALUE_FLOAT64, STORE_INTERP_LINEAR, 0);
	det_put(&d, T_JUN10, 1, QUALITY_GOOD);
	spec.prm = det_prm(&d, AGG_QMODE_NOT_BAD, NOW_FAR);
	ck_assert_int_eq(bucket_plan_fixed(&spec.plan, T_JUN10, T_JUN10 + 3 * HOUR, HOUR), 0);
	ck_assert_int_eq(query_aggregate(d.st, &d.qt, &spec, &out), -E2BIG);
	query_buckets_free(&out);
	memset(&out, 0, sizeof out);
	spec.max_buckets = 3;
	ck_assert_int_eq(query_aggregate(d.st, &d.qt, &spec, &out), 0);
	ck_assert_uint_eq(out.count, 3);
	query_buckets_free(&out);
	make_tag(d.st, "s", VALUE_STRING, STORE_INTERP_STEP, 0, &qs);
	memset(&out, 0, sizeof out);
	ck_assert_int_eq(query_aggregate(d.st, &qs, &spec, &out), -EINVAL);
	query_buckets_free(&out);
	ck_assert_int_eq(query_tag_get(d.st, "nope", 4, &qx), -ENOENT);
	ck_assert_int_eq(query_tag_by_id(d.st, d.qt.id, &qx), 0);
	ck_assert_str_eq(qx.name, "t");
	store_close(d.st);
}
END_TEST

/* Raw order, bounds and the latest sample, with a later write winning in the head over a chunk. */
START_TEST(test_raw_bounds_current)
{
	struct det d;
	struct query_raw *r;
	struct query_sample s, before, after;
	bool hb, ha;
	static char buf[2][QUERY_STR_MAX], cur[QUERY_STR_MAX];
	const double want[3] = {1, 5, 3};

	det_open(&d, VALUE_FLOAT64, STORE_INTERP_LINEAR, 0);
	det_put(&d, T_JUN10, 1, QUALITY_GOOD);
	det_put(&d, T_JUN10 + SEC, 2, QUALITY_GOOD);
	ck_assert_int_eq(store_seal_now(d.st), 0);
	det_put(&d, T_JUN10 + SEC, 5, QUALITY_UNCERTAIN);
	det_put(&d, T_JUN10 + 2 * SEC, 3, QUALITY_GOOD);
	for (int desc = 0; desc < 2; desc++) {
		ck_assert_int_eq(query_raw_open(d.st, &d.qt, T_JUN10, T_JUN10 + 3 * SEC, desc, &r), 0);
		for (int k = 0; k < 3; k++) {
			int j = desc ? 2 - k : k;
			ck_assert_int_eq(query_raw_next(r, &s), 1);
			ck_assert_int_eq(s.ts, T_JUN10 + j * SEC);
			ck_assert_double_eq(s.f64, want[j]);
			ck_assert_uint_eq(s.quality, j == 1 ? QUALITY_UNCERTAIN : QUALITY_GOOD);
		}
		ck_assert_int_eq(query_raw_next(r, &s), 0);
		query_raw_close(r);
	}
	ck_assert_int_eq(query_raw_bounds(d.st, &d.qt, T_JUN10 + SEC, T_JUN10 + 2 * SEC, &before, &hb, &after, &ha,
					  buf),
			 0);
	ck_assert(hb && ha);
	ck_assert_int_eq(before.ts, T_JUN10);
	ck_assert_int_eq(after.ts, T_JUN10 + 2 * SEC);
	ck_assert_double_eq(after.f64, 3);
	ck_assert_int_eq(query_current(d.st, &d.qt, &s, cur), 1);
	ck_assert_int_eq(s.ts, T_JUN10 + 2 * SEC);
	ck_assert_double_eq(s.f64, 3);
	det_put(&d, T_JUN10 + 2 * SEC, 9, QUALITY_BAD);
	ck_assert_int_eq(query_current(d.st, &d.qt, &s, cur), 1);
	ck_assert_double_eq(s.f64, 9);
	ck_assert_uint_eq(s.quality, QUALITY_BAD);
	store_close(d.st);
}
END_TEST

/* The widest range there is, both ways: "in constant memory whatever the range". */
START_TEST(test_raw_whole_int64_range)
{
	struct det d;
	struct query_raw *r;
	struct query_sample s;
	const int64_t want[3] = {-5, 1, 2};

	det_open(&d, VALUE_INT64, STORE_INTERP_STEP, 0);
	det_put(&d, -5 * SEC, -5, QUALITY_GOOD);
	det_put(&d, T_JUN10, 1, QUALITY_GOOD);
	ck_assert_int_eq(store_seal_now(d.st), 0);
	det_put(&d, T_JUN10 + SEC, 2, QUALITY_GOOD);
	for (int desc = 0; desc < 2; desc++) {
		ck_assert_int_eq(query_raw_open(d.st, &d.qt, INT64_MIN, INT64_MAX, desc, &r), 0);
		for (int k = 0; k < 3; k++) {
			ck_assert_int_eq(query_raw_next(r, &s), 1);
			ck_assert_int_eq(s.i64, want[desc ? 2 - k : k]);
		}
		ck_assert_int_eq(query_raw_next(r, &s), 0);
		query_raw_close(r);
	}
	store_close(d.st);
}
END_TEST

/* --- the random store ------------------------------------------------------ */

enum { TAG_F, TAG_I, TAG_B, TAG_D, TAG_E, NTAGS };

static const char *const tag_names[NTAGS] = {"f", "i", "b", "d", "e"};
static const enum value_type tag_types[NTAGS] = {VALUE_FLOAT64, VALUE_INT64, VALUE_BOOL, VALUE_FLOAT64,
						 VALUE_FLOAT64};
static const char *const type_names[] = {"?", "float64", "int64", "bool", "string"};
static const char *const kind_names[] = {"fixed", "points", "calendar", "trend"};
static const char *const unit_names[] = {"day", "week", "month"};

/* Two sparse episodes around the DST changes of 2024, and three hours of one sample a second. */
#define E1_LO (1709856000LL * SEC) /* 2024-03-08: New York changes on the 10th, Berlin on the 31st */
#define E1_HI (1712102400LL * SEC) /* 2024-04-03 */
#define E2_LO (1729728000LL * SEC) /* 2024-10-24: Berlin changes on the 27th, New York on 3 November */
#define E2_HI (1730851200LL * SEC) /* 2024-11-06 */
#define D_LO (1717372800LL * SEC)  /* 2024-06-03T00:00:00Z */
#define D_SAMPLES 10800
#define D_CHUNK 600                /* samples a seal: ten minutes, six chunks an hour */

struct write {
	int tag, phase;
	size_t seq; /* generation order in the plan, write order in the log */
	int64_t ts;
	double v;
	quality_t q;
};

struct dataset {
	struct store *st;
	struct query_tag qt[NTAGS];
	struct ref_series ref[NTAGS];
	struct write *plan, *log;
	size_t nplan, capplan, nlog, caplog;
	struct store_sample batch[512];
	size_t nbatch;
	double walk; /* the random walk of tag e */
};

/* What the random aggregates covered, printed at the end of each test. */
static struct {
	uint64_t queries, buckets, with_samples, filled, from_stats;
} compared;

static void push_write(struct write **v, size_t *n, size_t *cap, const struct write *w)
{
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 1024;
		*v = realloc(*v, *cap * sizeof **v);
		ck_assert_ptr_nonnull(*v);
	}
	(*v)[*n] = *w;
	(*v)[*n].seq = *n;
	(*n)++;
}

static void ds_flush(struct dataset *ds)
{
	if (ds->nbatch > 0)
		ck_assert_int_eq(store_append_wait(ds->st, ds->batch, ds->nbatch), 0);
	ds->nbatch = 0;
}

/* Append w (batched) and log it: the log's order is the store's write order. */
static void ds_write(struct dataset *ds, const struct write *w)
{
	ds->batch[ds->nbatch++] = mk_sample(ds->qt[w->tag].id, tag_types[w->tag], w->ts, w->v, w->q);
	push_write(&ds->log, &ds->nlog, &ds->caplog, w);
	if (ds->nbatch == sizeof ds->batch / sizeof ds->batch[0])
		ds_flush(ds);
}

static void ds_seal(struct dataset *ds)
{
	ds_flush(ds);
	ck_assert_int_eq(store_seal_now(ds->st), 0);
}

/* Good (plain and with sub-codes), uncertain and bad with random sub-codes. */
static quality_t rnd_quality(void)
{
	double r = rnd_unit();

	if (r < 0.6)
		return QUALITY_GOOD;
	if (r < 0.72)
		return (quality_t)rnd_range(1, 0x3FFF);
	if (r < 0.86)
		return (quality_t)(QUALITY_UNCERTAIN | rnd_range(0, 0x3FFF));
	return (quality_t)(QUALITY_BAD | rnd_range(0, 0x3FFF));
}

static double rnd_value(int tag)
{
	if (tag_types[tag] == VALUE_BOOL)
		return (double)rnd_range(0, 1);
	if (tag_types[tag] == VALUE_INT64)
		return (double)rnd_range(-1000, 1000);
	if (chance(0.03))
		return NAN;
	return (double)rnd_range(-500000, 500000) / 1000;
}

/* Nanoseconds to seconds mostly, hours sometimes, a day and a half at most. */
static int64_t rnd_gap(void)
{
	double r = rnd_unit();

	if (r < 0.03)
		return rnd_range(1, 1000);
	if (r < 0.55)
		return rnd_range(1, 300 * SEC);
	if (r < 0.85)
		return rnd_range(60, 3600) * SEC;
	if (r < 0.97)
		return rnd_range(3600, 4 * 3600) * SEC + rnd_range(0, SEC - 1);
	return rnd_range(6 * 3600, 36 * 3600) * SEC;
}

/* Phases 0-4 write the first 70% of an episode in order, sealed after each; 5 and 6 the samples held back from
 * them (out of order) and rewrites, sealed, with a compaction after 5; 7 the next 20%, sealed; 8 the rest, left
 * in the head. */
static int phase_of(int64_t t, int64_t lo, int64_t hi)
{
	double f = (double)(t - lo) / (double)(hi - lo);

	if (f < 0.7) {
		if (chance(0.12))
			return (int)rnd_range(5, 6);
		return f / 0.14 >= 4 ? 4 : (int)(f / 0.14);
	}
	return f < 0.9 ? 7 : 8;
}

static void gen_sparse(struct dataset *ds, int tag, int64_t lo, int64_t hi)
{
	int64_t t = lo + rnd_range(0, HOUR);
	int burst = 0;

	while (t < hi) {
		struct write w = {.tag = tag, .ts = t, .v = rnd_value(tag), .q = rnd_quality()};
		w.phase = phase_of(t, lo, hi);
		push_write(&ds->plan, &ds->nplan, &ds->capplan, &w);
		if (chance(0.01)) { /* rewritten in the same batch */
			w.v = rnd_value(tag);
			w.q = rnd_quality();
			push_write(&ds->plan, &ds->nplan, &ds->capplan, &w);
		}
		if (chance(0.05)) { /* rewritten later: by a later seal, or in the head */
			w.phase = w.phase == 8 ? 8 : (int)rnd_range(w.phase < 5 ? 5 : w.phase + 1, 8);
			w.v = rnd_value(tag);
			w.q = rnd_quality();
			push_write(&ds->plan, &ds->nplan, &ds->capplan, &w);
		}
		if (burst == 0 && chance(0.02))
			burst = (int)rnd_range(20, 300);
		int64_t next = t + (burst > 0 ? rnd_range(1, 10) * SEC + rnd_range(0, SEC - 1) : rnd_gap());
		if (burst > 0)
			burst--;
		int64_t snapped = chance(0.12) ? next - next % MINUTE : chance(0.06) ? next - next % HOUR : next;
		t = snapped > t ? snapped : next;
	}
}

static int cmp_phase(const void *a, const void *b)
{
	const struct write *x = a, *y = b;

	if (x->phase != y->phase)
		return x->phase < y->phase ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void run_phase(struct dataset *ds, int phase)
{
	for (size_t i = 0; i < ds->nplan; i++)
		if (ds->plan[i].phase == phase)
			ds_write(ds, &ds->plan[i]);
}

/* Chunks [from, to) of the two dense tags. d: one a second, all good but one uncertain sample (chunk 6) and one
 * NaN (chunk 12); after chunk 10 a late sample and a rewrite land in chunks 3 and 8. e: one a second with jitter, a
 * random walk, one bad sample (chunk 7), never overlapped, so every other chunk has clean pre-aggregates. */
static void write_dense(struct dataset *ds, int from, int to, bool seal_each)
{
	for (int c = from; c < to; c++) {
		for (int k = c * D_CHUNK; k < (c + 1) * D_CHUNK; k++) {
			struct write w = {.tag = TAG_D, .ts = D_LO + k * SEC, .q = QUALITY_GOOD};
			w.v = 50 + 20 * sin(k / 500.0) + rnd_unit() - 0.5;
			if (k == 6 * D_CHUNK + 17)
				w.q = QUALITY_UNCERTAIN;
			if (k == 12 * D_CHUNK + 300)
				w.v = NAN;
			ds_write(ds, &w);
			ds->walk += rnd_unit() - 0.5;
			w = (struct write){.tag = TAG_E, .ts = D_LO + k * SEC + rnd_range(0, SEC / 2), .v = ds->walk};
			w.q = k == 7 * D_CHUNK + 99 ? QUALITY_BAD : QUALITY_GOOD;
			ds_write(ds, &w);
		}
		if (seal_each)
			ds_seal(ds);
		if (c == 10) {
			struct write late = {.tag = TAG_D, .ts = D_LO + (3 * D_CHUNK + 100) * SEC + SEC / 2, .v = -7};
			ds_write(ds, &late);
			late.ts = D_LO + (8 * D_CHUNK + 5) * SEC;
			late.v = 1000;
			ds_write(ds, &late);
			ds_seal(ds);
		}
	}
}

static int cmp_log(const void *a, const void *b)
{
	const struct write *x = a, *y = b;

	if (x->tag != y->tag)
		return x->tag < y->tag ? -1 : 1;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Every tag's samples as a reader must see them: by time, the last write of a time winning. */
static void build_refs(struct dataset *ds)
{
	struct write *w = malloc(ds->nlog * sizeof *w);

	ck_assert_ptr_nonnull(w);
	memcpy(w, ds->log, ds->nlog * sizeof *w);
	qsort(w, ds->nlog, sizeof *w, cmp_log);
	for (int tag = 0; tag < NTAGS; tag++) {
		ds->ref[tag].s = malloc((ds->nlog + 1) * sizeof *ds->ref[tag].s);
		ck_assert_ptr_nonnull(ds->ref[tag].s);
		ds->ref[tag].n = 0;
	}
	for (size_t i = 0; i < ds->nlog; i++) {
		if (i + 1 < ds->nlog && w[i + 1].tag == w[i].tag && w[i + 1].ts == w[i].ts)
			continue;
		struct ref_series *r = &ds->ref[w[i].tag];
		r->s[r->n++] = (struct ref_sample){.ts = w[i].ts, .v = w[i].v, .q = w[i].q};
	}
	free(w);
}

/* The same data in every test of the run: sealed, out-of-order, compacted, dense and head. */
static void ds_build(struct dataset *ds)
{
	size_t parts = 0;

	memset(ds, 0, sizeof *ds);
	memset(&compared, 0, sizeof compared);
	tally_reset();
	reseed(1);
	ds->st = open_store();
	make_tag(ds->st, "f", VALUE_FLOAT64, STORE_INTERP_LINEAR, 0, &ds->qt[TAG_F]);
	make_tag(ds->st, "i", VALUE_INT64, STORE_INTERP_LINEAR, 2 * HOUR, &ds->qt[TAG_I]);
	make_tag(ds->st, "b", VALUE_BOOL, STORE_INTERP_STEP, DAY, &ds->qt[TAG_B]);
	make_tag(ds->st, "d", VALUE_FLOAT64, STORE_INTERP_LINEAR, 0, &ds->qt[TAG_D]);
	make_tag(ds->st, "e", VALUE_FLOAT64, STORE_INTERP_LINEAR, 0, &ds->qt[TAG_E]);
	for (int tag = TAG_F; tag <= TAG_B; tag++) {
		gen_sparse(ds, tag, E1_LO, E1_HI);
		gen_sparse(ds, tag, E2_LO, E2_HI);
	}
	qsort(ds->plan, ds->nplan, sizeof *ds->plan, cmp_phase);
	for (int p = 0; p <= 8; p++) {
		if (p == 7)
			write_dense(ds, 0, D_SAMPLES / D_CHUNK - 2, true);
		if (p == 8)
			write_dense(ds, D_SAMPLES / D_CHUNK - 2, D_SAMPLES / D_CHUNK, false);
		run_phase(ds, p);
		if (p < 8)
			ds_seal(ds);
		if (p == 5) {
			ck_assert_int_eq(store_compact_now(ds->st, &parts), 0);
			ck_assert_uint_gt(parts, 0);
		}
	}
	ds_flush(ds);
	build_refs(ds);
}

static void ds_free(struct dataset *ds)
{
	store_close(ds->st);
	for (int tag = 0; tag < NTAGS; tag++)
		free(ds->ref[tag].s);
	free(ds->plan);
	free(ds->log);
}

/* --- diagnostics ------------------------------------------------------------ */

static void describe(const struct qcase *q, char *buf, size_t len)
{
	bprintf(buf, len, "tag %s (%s) %s [%" PRId64 ", %" PRId64 ")", tag_names[q->tag],
		type_names[tag_types[q->tag]], kind_names[q->kind], q->start, q->end);
	if (q->kind == REF_FIXED)
		bprintf(buf, len, " interval %" PRId64, q->interval_ns);
	else if (q->kind == REF_POINTS || q->kind == REF_TREND)
		bprintf(buf, len, " n %" PRIu64, q->npoints);
	else
		bprintf(buf, len, " %s %s", tz_name(q->tz), unit_names[q->unit]);
	bprintf(buf, len, "; qmode %s linear %d stale %" PRId64 " now %" PRId64 "; fns 0x%x minmax_ts %d fill %s",
		qmode_names[q->prm.qmode], q->prm.linear, q->prm.stale_ns, q->prm.now_ns, q->fns, q->need_minmax_ts,
		fill_names[q->fill]);
	if (q->fill == QUERY_FILL_VALUE)
		bprintf(buf, len, " %g", q->fill_value);
	bprintf(buf, len, " max_buckets %zu", q->max_buckets);
}

/* What the store itself says is around [lo, hi): tells a storage fault from an engine fault. */
static void dump_bounds(const struct dataset *ds, int tag, int64_t lo, int64_t hi)
{
	struct query_sample b, a;
	bool hb = false, ha = false;
	static char buf[2][QUERY_STR_MAX];

	if (query_raw_bounds(ds->st, &ds->qt[tag], lo, hi, &b, &hb, &a, &ha, buf) != 0)
		return;
	fprintf(stderr, "  query_raw_bounds: before %s ts %" PRId64 " f64 %.17g i64 %" PRId64 " q 0x%04x; after %s ts %"
		PRId64 " f64 %.17g i64 %" PRId64 " q 0x%04x\n", hb ? "yes" : "no", hb ? b.ts : 0, hb ? b.f64 : 0,
		hb ? b.i64 : 0, hb ? b.quality : 0, ha ? "yes" : "no", ha ? a.ts : 0, ha ? a.f64 : 0, ha ? a.i64 : 0,
		ha ? a.quality : 0);
}

__attribute__((format(printf, 5, 6))) static bool mismatch(const char *kind, const struct ref_series *r, int64_t lo,
							    int64_t hi, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (!tally_add(kind, msg))
		return false;
	dump_samples(r, lo, hi);
	return true;
}

/* --- comparing aggregates ---------------------------------------------------- */

static int plan_for(const struct qcase *q, struct bucket_plan *p)
{
	if (q->kind == REF_FIXED)
		return bucket_plan_fixed(p, q->start, q->end, q->interval_ns);
	if (q->kind == REF_POINTS)
		return bucket_plan_points(p, q->start, q->end, q->npoints);
	if (q->kind == REF_TREND)
		return bucket_plan_trend(p, q->start, q->end, q->npoints);
	return bucket_plan_calendar(p, q->start, q->end, q->tz, q->unit);
}

/* Which of the bucket's results differ, one kind each, e.g. "quality" or "fn twa (filled)". */
static void bucket_diffs(const struct dataset *ds, const struct qcase *q, const struct ref_bucket *w,
			 const struct agg_bucket *g, bool filled, char kinds[][64], size_t *nk, char *why, size_t len)
{
	const struct ref_series *r = &ds->ref[q->tag];
	bool timed = q->fns & (1u << AGG_TWA | 1u << AGG_INTEGRAL | 1u << AGG_PERCENT_GOOD);

	*nk = 0;
	if (g->t != w->t || g->lo != w->lo || g->hi != w->hi) {
		snprintf(kinds[(*nk)++], 64, "edges");
		bprintf(why, len, " edges: want t %" PRId64 " [%" PRId64 ", %" PRId64 "), got t %" PRId64 " [%" PRId64
			", %" PRId64 ");", w->t, w->lo, w->hi, g->t, g->lo, g->hi);
	}
	if (g->count != w->count) {
		snprintf(kinds[(*nk)++], 64, "count");
		bprintf(why, len, " count: want %" PRIu64 ", got %" PRIu64 ";", w->count, g->count);
	}
	if (filled != w->filled) {
		snprintf(kinds[(*nk)++], 64, "filled: engine %d, reference %d (bucket count %s)", filled, w->filled,
			 w->count ? ">0" : "0");
		bprintf(why, len, " filled: want %d, got %d;", w->filled, filled);
	}
	if (g->quality != w->quality) {
		snprintf(kinds[(*nk)++], 64, "quality%s", timed ? "" : " (no twa/integral/percent_good asked)");
		bprintf(why, len, " quality: want %s, got %s;", quality_names[w->quality],
			(unsigned)g->quality < 3 ? quality_names[g->quality] : "?");
	}
	if (w->count > 0 && (g->first_ts != w->first_ts || g->last_ts != w->last_ts)) {
		snprintf(kinds[(*nk)++], 64, "first_ts/last_ts");
		bprintf(why, len, " first_ts/last_ts: want %" PRId64 "/%" PRId64 ", got %" PRId64 "/%" PRId64 ";",
			w->first_ts, w->last_ts, g->first_ts, g->last_ts);
	}
	for (int f = 0; f < AGG_FN_COUNT && *nk < 8; f++)
		if ((q->fns & (1u << f)) && !fn_matches(f, w, g->v[f])) {
			snprintf(kinds[(*nk)++], 64, "fn %s%s", fn_names[f],
				 w->filled && filled ? " (both filled)"
				 : w->filled	     ? " (filled by the reference only)"
				 : filled	     ? " (filled by the engine only)"
						     : "");
			bprintf(why, len, " %s: want %.17g, got %.17g;", fn_names[f], w->v[f], g->v[f]);
		}
	if (q->need_minmax_ts && w->count > 0 && *nk < 8 &&
	    (!sample_at(r, &q->prm, w, g->min_ts, w->v[AGG_MIN]) ||
	     !sample_at(r, &q->prm, w, g->max_ts, w->v[AGG_MAX]))) {
		snprintf(kinds[(*nk)++], 64, "min_ts/max_ts");
		bprintf(why, len, " min_ts %" PRId64 " / max_ts %" PRId64 " hold no usable sample of %.17g / %.17g;",
			g->min_ts, g->max_ts, w->v[AGG_MIN], w->v[AGG_MAX]);
	}
}

static void compare_bucket(const struct dataset *ds, const struct qcase *q, const char *what, size_t k,
			   const struct ref_bucket *w, const struct agg_bucket *g, bool filled)
{
	char kinds[10][64], why[1024] = "", kind[96];
	size_t nk;
	bool detail = false;

	bucket_diffs(ds, q, w, g, filled, kinds, &nk, why, sizeof why);
	for (size_t i = 0; i < nk; i++) {
		snprintf(kind, sizeof kind, "aggregate %s", kinds[i]);
		detail |= mismatch(kind, &ds->ref[q->tag], w->lo, w->hi, "%s: bucket %zu t %" PRId64 " [%" PRId64
				   ", %" PRId64 "):%s", what, k, w->t, w->lo, w->hi, why);
	}
	if (!detail)
		return;
	fprintf(stderr, "  bucket %zu: want count %" PRIu64 " usable %.9f s quality %s filled %d; got count %" PRIu64
		" quality %d filled %d\n", k, w->count, (double)w->usable_ns / 1e9, quality_names[w->quality],
		w->filled, g->count, (int)g->quality, filled);
	for (int f = 0; f < AGG_FN_COUNT; f++)
		fprintf(stderr, "    %-12s want %-24.17g got %-24.17g%s\n", fn_names[f], w->v[f], g->v[f],
			q->fns & (1u << f) ? "" : " (not asked)");
	dump_bounds(ds, q->tag, w->lo, w->hi);
}


static void print_coverage(const char *test)
{
	fprintf(stderr, "%s: %" PRIu64 " queries, %" PRIu64 " buckets compared (%" PRIu64 " with samples, %" PRIu64
		" filled), %" PRIu64 " chunks answered from pre-aggregates\n", test, compared.queries, compared.buckets,
		compared.with_samples, compared.filled, compared.from_stats);
}

/* Run q through query_aggregate and the reference; fail with what it takes to replay on any difference.
 * Adds the chunks answered from pre-aggregates to *from_stats when given. */
static void check_aggregate(struct dataset *ds, const struct qcase *q, int iter, uint64_t *from_stats)
{
	struct query_agg_spec spec = {.prm = q->prm, .fns = q->fns, .need_minmax_ts = q->need_minmax_ts,
				      .fill = q->fill, .fill_value = q->fill_value, .max_buckets = q->max_buckets};
	struct query_buckets got = {0};
	struct ref_bucket *want = NULL;
	char what[1024] = "";
	size_t nplan, n = ref_aggregate(&ds->ref[q->tag], q, &want, &nplan);

	bprintf(what, sizeof what, "seed %" PRIu64 " iteration %d: ", seed, iter);
	describe(q, what, sizeof what);
	ck_assert_msg(plan_for(q, &spec.plan) == 0, "%s: the plan was refused", what);
	if (q->kind == REF_TREND && spec.plan.interval_ns != ref_trend_width(q->start, q->end, q->npoints))
		mismatch("trend width", &ds->ref[q->tag], q->start, q->start, "%s: width want %" PRId64 ", got %" PRId64,
			 what, ref_trend_width(q->start, q->end, q->npoints), spec.plan.interval_ns);
	int rc = query_aggregate(ds->st, &ds->qt[q->tag], &spec, &got);
	if (nplan > q->max_buckets) {
		if (rc != -E2BIG)
			mismatch("aggregate -E2BIG", &ds->ref[q->tag], q->start, q->start,
				 "%s: %zu buckets: want -E2BIG, got %d", what, nplan, rc);
		goto out;
	}
	if (rc != 0) {
		mismatch("aggregate error", &ds->ref[q->tag], q->start, q->start, "%s: query_aggregate returned %d",
			 what, rc);
		goto out;
	}
	if (got.count != n) {
		for (size_t k = 0; k < n || k < got.count; k++)
			if (k < 30 || k + 5 > n)
				fprintf(stderr, "  bucket %zu want %" PRId64 " [%" PRId64 ", %" PRId64 ") got %" PRId64
					"\n", k, k < n ? want[k].t : -1, k < n ? want[k].lo : -1,
					k < n ? want[k].hi : -1, k < got.count ? got.b[k].t : -1);
		mismatch("aggregate bucket count", &ds->ref[q->tag], q->start, q->start,
			 "%s: want %zu buckets, got %zu", what, n, got.count);
		goto out;
	}
	for (size_t k = 0; k < n; k++) {
		compare_bucket(ds, q, what, k, &want[k], &got.b[k], got.filled[k]);
		compared.buckets++;
		compared.with_samples += want[k].count > 0;
		compared.filled += want[k].filled;
	}
	compared.queries++;
	compared.from_stats += got.chunks_from_stats;
	if (from_stats)
		*from_stats += got.chunks_from_stats;
out:
	query_buckets_free(&got);
	free(want);
}

/* --- random requests --------------------------------------------------------- */

static void rnd_prm(struct qcase *q)
{
	static const int64_t stales[] = {5 * MINUTE, HOUR, 3 * HOUR, DAY};

	q->prm.qmode = (enum agg_quality_mode)rnd_range(0, 2);
	q->prm.linear = tag_types[q->tag] != VALUE_BOOL && chance(0.5);
	q->prm.stale_ns = chance(0.5) ? 0 : chance(0.8) ? stales[rnd_range(0, 3)] : rnd_range(1, 7200) * SEC;
	if (chance(0.25))
		q->prm.now_ns = rnd_range(q->start, q->end);
	else if (chance(0.05))
		q->prm.now_ns = q->start - rnd_range(0, DAY);
	else
		q->prm.now_ns = NOW_FAR;
}

/* Functions, times of min and max, and (with fill) a fill mode other than null. */
static void rnd_output(struct qcase *q, bool fill)
{
	q->fns = chance(0.5) ? ALL_FNS : (uint32_t)rnd_range(1, ALL_FNS);
	q->need_minmax_ts = chance(0.3);
	q->fill = fill ? (enum query_fill)rnd_range(1, 4) : QUERY_FILL_NULL;
	/* percent_good without twa or integral: whether a bucket with usable time but no sample is empty depends on
	 * whether the engine spares the integral, which query.h leaves to it. */
	if (q->fill != QUERY_FILL_NULL && (q->fns & (1u << AGG_PERCENT_GOOD)) &&
	    !(q->fns & (1u << AGG_TWA | 1u << AGG_INTEGRAL)))
		q->fns |= 1u << AGG_TWA;
	q->fill_value = (double)rnd_range(-4000, 4000) / 4;
	q->max_buckets = chance(0.04) ? (size_t)rnd_range(1, 3) : 1000000;
}

static void rnd_episode(int tag, int64_t *lo, int64_t *hi)
{
	if (tag == TAG_D || tag == TAG_E) {
		*lo = D_LO - HOUR;
		*hi = D_LO + D_SAMPLES * SEC + HOUR;
	} else if (chance(0.5)) {
		*lo = E1_LO - 2 * DAY;
		*hi = E1_HI + DAY;
	} else {
		*lo = E2_LO - 2 * DAY;
		*hi = E2_HI + DAY;
	}
}

static void rnd_fixed_or_points(struct qcase *q, int tag, bool fill)
{
	static const int64_t intervals[] = {SEC, 7 * SEC, MINUTE, 7 * MINUTE, 15 * MINUTE, HOUR, 90 * MINUTE,
					    6 * HOUR, DAY, 7 * DAY, 2 * DAY + 13 * SEC, 1234567891LL};
	static const int64_t dense_intervals[] = {10 * MINUTE, 20 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR, DAY};
	int64_t lo, hi;

	memset(q, 0, sizeof *q);
	q->tag = tag;
	rnd_episode(tag, &lo, &hi);
	q->start = rnd_range(lo, hi);
	double kind = rnd_unit();
	if (kind < 0.5) {
		q->kind = REF_FIXED;
		q->interval_ns =
			tag >= TAG_D && chance(0.5) ? dense_intervals[rnd_range(0, 5)] : intervals[rnd_range(0, 11)];
		if (chance(0.3))
			q->start -= q->start % q->interval_ns;
		int64_t len = q->interval_ns * rnd_range(1, 300);
		if (len > 40 * DAY)
			len = rnd_range(1, 40 * DAY);
		if (chance(0.5))
			len += rnd_range(-q->interval_ns / 2, q->interval_ns / 2);
		q->end = q->start + (len > 0 ? len : 1);
	} else {
		q->kind = kind < 0.75 ? REF_POINTS : REF_TREND;
		q->npoints = (uint64_t)rnd_range(1, 300);
		q->end = q->start + (chance(0.1) ? rnd_range(1, 1000) : rnd_range(SEC, 20 * DAY));
	}
	rnd_prm(q);
	rnd_output(q, fill);
}

static void rnd_calendar(struct qcase *q, const struct tz *const zones[3], bool fill)
{
	static const char *const changes[] = {"2024-03-10T00:00:00Z", "2024-03-31T00:00:00Z", "2024-10-27T00:00:00Z",
					      "2024-11-03T00:00:00Z"};
	int64_t lo, hi;

	memset(q, 0, sizeof *q);
	q->kind = REF_CALENDAR;
	q->tag = (int)rnd_range(TAG_F, TAG_B);
	q->tz = zones[rnd_range(0, 2)];
	q->unit = (enum tz_unit)rnd_range(0, 2);
	if (q->unit == TZ_DAY) {
		q->start = at(changes[rnd_range(0, 3)]) - rnd_range(0, 3 * DAY);
		q->end = q->start + rnd_range(HOUR, 6 * DAY);
	} else if (q->unit == TZ_WEEK) {
		rnd_episode(q->tag, &lo, &hi);
		q->start = rnd_range(lo - 7 * DAY, hi);
		q->end = q->start + rnd_range(DAY, 30 * DAY);
	} else {
		q->start = rnd_range(at("2024-01-15T00:00:00Z"), at("2024-04-15T00:00:00Z"));
		q->end = rnd_range(q->start + DAY, at("2024-12-20T00:00:00Z"));
	}
	rnd_prm(q);
	rnd_output(q, fill);
}

/* --- comparing samples --------------------------------------------------------- */

/* Tally a wrong sample (w NULL: none was due) under kind. */
static void bad_sample(const struct dataset *ds, int tag, const char *kind, const char *what,
		       const struct ref_sample *w, const struct query_sample *g)
{
	int64_t at_ns = w ? w->ts : g->ts;

	mismatch(kind, &ds->ref[tag], at_ns - 1, at_ns + 1,
		 "%s: want %s ts %" PRId64 " v %.17g q 0x%04x, got ts %" PRId64 " f64 %.17g i64 %" PRId64 " q 0x%04x",
		 what, w ? "" : "nothing,", w ? w->ts : 0, w ? w->v : NAN, w ? w->q : 0, g->ts, g->f64, g->i64,
		 g->quality);
}

/* query_raw over [t0, t1) one way, and query_raw_bounds, against the reference. */
static void check_raw(struct dataset *ds, int tag, int64_t t0, int64_t t1, bool desc, const char *ctx)
{
	const struct ref_series *r = &ds->ref[tag];
	size_t a = ref_lower(r, t0), z = ref_lower(r, t1), k = 0;
	struct query_raw *raw;
	struct query_sample s, before, after;
	static char buf[2][QUERY_STR_MAX];
	bool hb = false, ha = false;
	char what[512] = "";
	int rc;

	bprintf(what, sizeof what, "%s: raw tag %s (%s) [%" PRId64 ", %" PRId64 ") %s", ctx, tag_names[tag],
		type_names[tag_types[tag]], t0, t1, desc ? "desc" : "asc");
	ck_assert_msg(query_raw_open(ds->st, &ds->qt[tag], t0, t1, desc, &raw) == 0, "%s: open failed", what);
	while ((rc = query_raw_next(raw, &s)) == 1) {
		const struct ref_sample *w = k < z - a ? &r->s[desc ? z - 1 - k : a + k] : NULL;
		if (!w || !sample_matches(tag_types[tag], w, &s)) {
			bad_sample(ds, tag, "raw sample", what, w, &s);
			break;
		}
		k++;
	}
	if (rc == 0 && k != z - a)
		mismatch("raw sample count", r, t0, t0, "%s: want %zu samples, got %zu", what, z - a, k);
	ck_assert_msg(rc >= 0, "%s: query_raw_next returned %d", what, rc);
	query_raw_close(raw);
	ck_assert_int_eq(query_raw_bounds(ds->st, &ds->qt[tag], t0, t1, &before, &hb, &after, &ha, buf), 0);
	if (hb != (a > 0) || ha != (z < r->n))
		mismatch("raw bounds found", r, t0, t1, "%s: bounds: want before %d after %d, got %d %d", what, a > 0,
			 z < r->n, hb, ha);
	else if (hb && !sample_matches(tag_types[tag], &r->s[a - 1], &before))
		bad_sample(ds, tag, "raw bounds before", what, &r->s[a - 1], &before);
	else if (ha && !sample_matches(tag_types[tag], &r->s[z], &after))
		bad_sample(ds, tag, "raw bounds after", what, &r->s[z], &after);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* query_interpolated at up to 200 sorted times, some on samples or a nanosecond off them. */
static void check_interpolated(struct dataset *ds, int iter)
{
	struct qcase q = {.tag = (int)rnd_range(TAG_F, TAG_E)};
	const struct ref_series *r = &ds->ref[q.tag];
	size_t n = (size_t)rnd_range(1, 200), m = 0;
	int64_t *times = malloc(n * sizeof *times);
	struct query_interp *out = malloc(n * sizeof *out);
	char what[1024] = "";

	ck_assert(times && out);
	rnd_episode(q.tag, &q.start, &q.end);
	rnd_prm(&q);
	q.prm.linear = chance(0.5); /* booleans too: they must stay step */
	for (size_t k = 0; k < n; k++)
		times[k] = chance(0.25) ? r->s[rnd_range(0, (int64_t)r->n - 1)].ts + rnd_range(-1, 1)
					: rnd_range(q.start, q.end);
	if (q.prm.now_ns != NOW_FAR && n >= 2) { /* the edge of the future */
		times[0] = q.prm.now_ns;
		times[1] = q.prm.now_ns - 1;
	}
	qsort(times, n, sizeof *times, cmp_i64);
	for (size_t k = 0; k < n; k++)
		if (m == 0 || times[k] != times[m - 1])
			times[m++] = times[k];
	bprintf(what, sizeof what, "seed %" PRIu64 " iteration %d: interpolated tag %s (%s) qmode %s linear %d stale %"
		PRId64 " now %" PRId64, seed, iter, tag_names[q.tag], type_names[tag_types[q.tag]],
		qmode_names[q.prm.qmode], q.prm.linear, q.prm.stale_ns, q.prm.now_ns);
	int rc = query_interpolated(ds->st, &ds->qt[q.tag], &q.prm, times, m, 0, out);
	ck_assert_msg(rc == 0, "%s: query_interpolated returned %d", what, rc);
	for (size_t k = 0; k < m; k++) {
		double v;
		enum agg_result_quality quality;
		ref_interp(r, &q.prm, tag_types[q.tag] == VALUE_BOOL, times[k], &v, &quality);
		const char *kind = out[k].t != times[k] ? "interpolated time"
				   : !(isnan(v) ? isnan(out[k].v) : fabs(out[k].v - v) <= 1e-9 * fabs(v) + 1e-9)
					   ? "interpolated value"
				   : out[k].quality != quality ? "interpolated quality"
							       : NULL;
		if (kind)
			mismatch(kind, r, times[k] - 1, times[k] + 1,
				 "%s: at %" PRId64 ": want %.17g (%s), got t %" PRId64 " %.17g (%s)", what, times[k], v,
				 quality_names[quality], out[k].t, out[k].v,
				 (unsigned)out[k].quality < 3 ? quality_names[out[k].quality] : "?");
	}
	free(times);
	free(out);
}

/* --- the random tests ------------------------------------------------------------ */

START_TEST(test_random_aggregates)
{
	struct dataset ds;
	struct qcase q;

	ds_build(&ds);
	reseed(2);
	for (int i = 0; i < iters(); i++) {
		int tag = chance(0.15) ? (int)rnd_range(TAG_D, TAG_E) : (int)rnd_range(TAG_F, TAG_B);
		rnd_fixed_or_points(&q, tag, false);
		check_aggregate(&ds, &q, i, NULL);
	}
	ds_free(&ds);
	print_coverage("random_aggregates");
	tally_check("random_aggregates", seed);
}
END_TEST

/* Fill modes none, previous, linear and value over fixed, points and calendar plans. */
START_TEST(test_random_fill)
{
	struct dataset ds;
	struct qcase q;
	char err[TZ_ERR_LEN];
	const struct tz *zones[3] = {tz_get("UTC", err), tz_get("Europe/Berlin", err), tz_get("America/New_York", err)};

	ck_assert_msg(zones[0] && zones[1] && zones[2], "tz_get: %s", err);
	ds_build(&ds);
	reseed(7);
	for (int i = 0; i < (iters() + 1) / 2; i++) {
		if (chance(0.3))
			rnd_calendar(&q, zones, true);
		else
			rnd_fixed_or_points(&q, (int)rnd_range(TAG_F, TAG_B), true);
		check_aggregate(&ds, &q, i, NULL);
	}
	ds_free(&ds);
	print_coverage("random_fill");
	tally_check("random_fill", seed);
}
END_TEST

START_TEST(test_random_calendar)
{
	struct dataset ds;
	struct qcase q;
	char err[TZ_ERR_LEN];
	const struct tz *zones[3] = {tz_get("UTC", err), tz_get("Europe/Berlin", err), tz_get("America/New_York", err)};

	ck_assert_msg(zones[0] && zones[1] && zones[2], "tz_get: %s", err);
	ds_build(&ds);
	reseed(3);
	for (int i = 0; i < (iters() + 1) / 2; i++) {
		rnd_calendar(&q, zones, false);
		check_aggregate(&ds, &q, i, NULL);
	}
	ds_free(&ds);
	print_coverage("random_calendar");
	tally_check("random_calendar", seed);
}
END_TEST

/* Hours of one sample a second, sealed every ten minutes: whole chunks inside 1 h buckets come from their
 * pre-aggregates (query.h) and must agree with the samples. */
START_TEST(test_dense_pre_aggregates)
{
	struct dataset ds;
	struct qcase q = {.tag = TAG_D, .kind = REF_FIXED, .interval_ns = HOUR, .fns = ALL_FNS & ~(1u << AGG_STDDEV),
			  .prm = {.linear = true, .qmode = AGG_QMODE_NOT_BAD, .now_ns = NOW_FAR},
			  .max_buckets = 1000};
	uint64_t from_stats = 0, random_from_stats = 0;

	ds_build(&ds);
	/* d, the third hour: chunks 12 (a NaN) to 15 sealed, 16 and 17 in the head. */
	q.start = D_LO + 2 * HOUR;
	q.end = D_LO + D_SAMPLES * SEC;
	check_aggregate(&ds, &q, -1, &from_stats);
	if (from_stats < 3)
		mismatch("pre-aggregates unused", &ds.ref[TAG_D], q.start, q.start, "d, third hour: %" PRIu64 " chunks "
			 "from pre-aggregates, want chunks 13-15", from_stats);
	/* e, everything: 15 clean sealed chunks (chunk 7 holds a bad sample, 16 and 17 are in the head). */
	from_stats = 0;
	q.tag = TAG_E;
	q.start = D_LO - 30 * MINUTE;
	q.end = D_LO + D_SAMPLES * SEC + 30 * MINUTE;
	check_aggregate(&ds, &q, -3, &from_stats);
	if (from_stats < 15)
		mismatch("pre-aggregates unused", &ds.ref[TAG_E], q.start, q.start,
			 "e, three hours: %" PRIu64 " chunks from pre-aggregates, want 15", from_stats);
	reseed(4);
	for (int i = 0; i < (iters() + 1) / 2; i++) {
		int tag = chance(0.7) ? TAG_E : TAG_D;
		rnd_fixed_or_points(&q, tag, false);
		if (chance(0.3))
			q.prm.stale_ns = chance(0.5) ? 0 : rnd_range(SEC / 2, 3 * SEC); /* about the spacing of e */
		check_aggregate(&ds, &q, i, tag == TAG_E ? &random_from_stats : NULL);
	}
	fprintf(stderr, "dense_pre_aggregates: random queries of e took %" PRIu64 " chunks from pre-aggregates\n",
		random_from_stats);
	if (random_from_stats == 0)
		mismatch("pre-aggregates unused", &ds.ref[TAG_E], D_LO, D_LO, "e: no random query used pre-aggregates");
	ds_free(&ds);
	print_coverage("dense_pre_aggregates");
	tally_check("dense_pre_aggregates", seed);
}
END_TEST

/* One late chunk overlapping chunks 3-8 of d must not cost the other chunks their pre-aggregates (query.h: whole
 * chunks inside one bucket are answered from them where agg_chunk_usable() allows; chunks 0-2 and 9-15 have no
 * flags). A promise of speed, kept apart from the correctness tests. */
START_TEST(test_pre_aggregates_beside_an_overlap)
{
	struct dataset ds;
	struct qcase q = {.tag = TAG_D, .kind = REF_FIXED, .interval_ns = HOUR, .fns = ALL_FNS,
			  .prm = {.linear = true, .qmode = AGG_QMODE_NOT_BAD, .now_ns = NOW_FAR},
			  .max_buckets = 1000, .start = D_LO - 30 * MINUTE, .end = D_LO + D_SAMPLES * SEC + 30 * MINUTE};
	uint64_t from_stats = 0;

	ds_build(&ds);
	check_aggregate(&ds, &q, -1, &from_stats);
	if (from_stats == 0)
		mismatch("pre-aggregates unused beside an overlapping chunk", &ds.ref[TAG_D], q.start, q.start,
			 "d, three hours: no chunk was answered from its pre-aggregates");
	ds_free(&ds);
	tally_check("pre_aggregates_beside_an_overlap", seed);
}
END_TEST

START_TEST(test_random_interpolated)
{
	struct dataset ds;

	ds_build(&ds);
	reseed(5);
	for (int i = 0; i < (iters() + 2) / 3; i++)
		check_interpolated(&ds, i);
	ds_free(&ds);
	tally_check("random_interpolated", seed);
}
END_TEST

START_TEST(test_random_raw_bounds_current)
{
	struct dataset ds;
	struct query_sample s;
	static char cur[QUERY_STR_MAX];
	char ctx[128];

	ds_build(&ds);
	reseed(6);
	for (int tag = 0; tag < NTAGS; tag++) {
		const struct ref_series *r = &ds.ref[tag];
		snprintf(ctx, sizeof ctx, "seed %" PRIu64 " whole tag", seed);
		check_raw(&ds, tag, 0, INT64_MAX, false, ctx);
		check_raw(&ds, tag, 0, INT64_MAX, true, ctx);
		ck_assert_int_eq(query_current(ds.st, &ds.qt[tag], &s, cur), 1);
		if (!sample_matches(tag_types[tag], &r->s[r->n - 1], &s))
			bad_sample(&ds, tag, "query_current", "query_current", &r->s[r->n - 1], &s);
	}
	for (int i = 0; i < (iters() + 1) / 2; i++) {
		int tag = (int)rnd_range(0, NTAGS - 1);
		const struct ref_series *r = &ds.ref[tag];
		int64_t lo, hi, t0, t1;
		rnd_episode(tag, &lo, &hi);
		t0 = chance(0.2) ? r->s[rnd_range(0, (int64_t)r->n - 1)].ts : rnd_range(lo, hi);
		t1 = t0 + (chance(0.1) ? rnd_range(1, SEC) : rnd_range(1, 3 * DAY));
		if (chance(0.2)) {
			size_t j = ref_lower(r, t1);
			t1 = j < r->n ? r->s[j].ts : t1; /* an end exactly on a sample */
		}
		snprintf(ctx, sizeof ctx, "seed %" PRIu64 " iteration %d", seed, i);
		check_raw(&ds, tag, t0, t1, chance(0.5), ctx);
	}
	ds_free(&ds);
	tally_check("random_raw_bounds_current", seed);
}
END_TEST

static void add_random_tcases(Suite *s)
{
	TCase *tc = tcase_create("random");

	tcase_add_unchecked_fixture(tc, setup_root, teardown_root);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_random_aggregates);
	tcase_add_test(tc, test_random_calendar);
	tcase_add_test(tc, test_random_fill);
	tcase_add_test(tc, test_dense_pre_aggregates);
	tcase_add_test(tc, test_pre_aggregates_beside_an_overlap);
	tcase_add_test(tc, test_random_interpolated);
	tcase_add_test(tc, test_random_raw_bounds_current);
	suite_add_tcase(s, tc);
}

static Suite *query_suite(void)
{
	Suite *s = suite_create("query");
	TCase *tc;

	tc = tcase_create("definitions");
	tcase_add_unchecked_fixture(tc, setup_root, teardown_root);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_twa_of_a_step);
	tcase_add_test(tc, test_linear_ramp);
	tcase_add_test(tc, test_twa_uses_the_value_before);
	tcase_add_test(tc, test_edge_sample_belongs_to_later_bucket);
	tcase_add_test(tc, test_fill_previous_at_range_start);
	tcase_add_test(tc, test_fill_linear_value_none);
	tcase_add_test(tc, test_fill_linear_uses_usable_samples);
	tcase_add_test(tc, test_fill_leaves_buckets_with_values);
	tcase_add_test(tc, test_quality_with_and_without_the_signal);
	tcase_add_test(tc, test_bad_samples_and_quality_modes);
	tcase_add_test(tc, test_percent_good);
	tcase_add_test(tc, test_stale_timeout_makes_a_gap);
	tcase_add_test(tc, test_now_inside_the_range);
	tcase_add_test(tc, test_constant_twa_is_exact);
	tcase_add_test(tc, test_interpolated_values);
	tcase_add_test(tc, test_interpolated_boolean_is_step);
	tcase_add_test(tc, test_calendar_days_across_dst);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_raw_bounds_current);
	tcase_add_test(tc, test_raw_whole_int64_range);
	suite_add_tcase(s, tc);
	add_random_tcases(s);
	return s;
}

int main(void)
{
	const char *e = getenv("HS_SEED");
	int failed;

	seed = e ? strtoull(e, NULL, 10) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	fprintf(stderr, "check_query: seed %" PRIu64 " (replay with HS_SEED=%" PRIu64 "), %d random queries\n", seed,
		seed, iters());
	SRunner *sr = srunner_create(query_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	tz_cache_free();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* bench_query.c: query engine benchmarks on a year of 1-second data for one tag, through query/query.h.
 * `build DIR` writes the data set (sealed daily, then compacted, as the daemon leaves a cold year); `run DIR` times
 * the queries of issue D's goals and prints "RESULT name value unit" lines (median of repeated runs). */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/clock.h"
#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/strbuf.h"
#include "lib/timefmt.h"
#include "query/query.h"
#include "storage/store.h"

#define SEC 1000000000LL
#define T0 (1704067200LL * SEC) /* 2024-01-01T00:00:00Z */
#define DAY_S 86400LL
/* The data set's length: 366 days (2024 is a leap year) unless the
 * command line says fewer (the smoke test uses 3). */
static int64_t days = 366;
#define YEAR_S (days * DAY_S)
#define CURRENT_TAGS 1000
#define REPEAT 15

static struct store *open_at(const char *dir)
{
	struct store_options o;
	struct store *st;
	char err[STORE_ERROR_MAX];

	store_options_init(&o);
	o.data_dir = dir;
	o.wal_sync = STORE_WAL_SYNC_OFF;
	o.head_memory_bytes = 1024u << 20;
	o.seal_interval_ns = 365 * 24 * 3600 * SEC; /* the benchmark seals itself */
	if (store_open(&o, &st, err) != 0) {
		fprintf(stderr, "bench_query: %s\n", err);
		exit(1);
	}
	return st;
}

static void check(int rc, const char *what)
{
	if (rc != 0) {
		fprintf(stderr, "bench_query: %s: error %d\n", what, rc);
		exit(1);
	}
}

static uint32_t tag(struct store *st, const char *name)
{
	uint32_t id;
	enum value_type et;
	check(store_tag_resolve(st, name, strlen(name), VALUE_FLOAT64, NULL, 0, &id, &et), name);
	return id;
}

/* A boiler drum pressure: daily cycle, slow drift, noise at 2 decimals. */
static double signal(int64_t s)
{
	double day = sin((double)(s % 86400) / 86400.0 * 2 * M_PI);
	double noise = (double)((s * 2654435761u) % 1000) / 1000.0 - 0.5;
	return round((120.0 + 8.0 * day + 0.00001 * (double)(s % 1000000) + 0.3 * noise) * 100) / 100;
}

static int build(const char *dir)
{
	enum { BATCH = 86400 };
	struct store *st = (mkdir(dir, 0750) == 0 || errno == EEXIST) ? open_at(dir) : NULL;
	struct store_sample *batch = malloc(BATCH * sizeof *batch);
	uint32_t id = tag(st, "boiler.drum.pressure");
	size_t parts;
	uint64_t t = clock_mono_ns();

	if (!batch)
		return 1;
	for (int64_t day = 0; day < days; day++) {
		for (int64_t k = 0; k < BATCH; k++) {
			int64_t s = day * 86400 + k;
			batch[k] = (struct store_sample){.tag_id = id, .ts_ns = T0 + s * SEC};
			batch[k].v.f64 = signal(s);
		}
		check(store_append_wait(st, batch, BATCH), "append");
		check(store_seal_now(st), "seal");
	}
	/* 1,000 more tags, each with a value every minute of the last day. */
	for (int i = 0; i < CURRENT_TAGS; i++) {
		char name[64];
		snprintf(name, sizeof name, "plant.unit%03d.temp", i);
		uint32_t tid = tag(st, name);
		for (int k = 0; k < 1440; k++) {
			batch[k] = (struct store_sample){.tag_id = tid,
							 .ts_ns = T0 + (YEAR_S - 86400 + k * 60) * SEC};
			batch[k].v.f64 = 20 + i % 50 + k % 7;
		}
		check(store_append_wait(st, batch, 1440), "append");
	}
	check(store_compact_now(st, &parts), "compact");
	store_close(st);
	free(batch);
	printf("built %s: %lld samples of one tag, %d tags x 1440, in %.1f s\n", dir,
	       (long long)YEAR_S, CURRENT_TAGS, (double)(clock_mono_ns() - t) / 1e9);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

typedef void (*bench_fn)(struct store *st, void *arg);

static void timed(const char *name, struct store *st, bench_fn fn, void *arg, double goal_ms)
{
	double ms[REPEAT];

	for (int i = 0; i < REPEAT; i++) {
		uint64_t t = clock_mono_ns();
		fn(st, arg);
		ms[i] = (double)(clock_mono_ns() - t) / 1e6;
	}
	qsort(ms, REPEAT, sizeof ms[0], cmp_double);
	printf("RESULT %s %.3f ms (median of %d; min %.3f, max %.3f; goal < %g ms)\n", name,
	       ms[REPEAT / 2], REPEAT, ms[0], ms[REPEAT - 1], goal_ms);
}

struct year_q {
	struct query_tag tag;
	struct query_agg_spec spec;
	uint64_t stats_used, decoded;
	uint64_t count;            /* totals of the last run, for check_totals */
	double sum, min, max;
};

static void run_agg(struct store *st, void *arg)
{
	struct year_q *q = arg;
	struct query_buckets out = {0};

	check(query_aggregate(st, &q->tag, &q->spec, &out), "aggregate");
	q->stats_used = out.chunks_from_stats;
	q->decoded = out.samples_decoded;
	q->count = q->sum = 0;
	q->min = INFINITY;
	q->max = -INFINITY;
	for (size_t i = 0; i < out.count; i++) {
		q->count += out.b[i].count;
		if (out.b[i].count) {
			q->sum += out.b[i].v[AGG_MEAN] * (double)out.b[i].count;
			q->min = fmin(q->min, out.b[i].v[AGG_MIN]);
			q->max = fmax(q->max, out.b[i].v[AGG_MAX]);
		}
	}
	query_buckets_free(&out);
}

/* The answers checked against the signal itself: a benchmark of wrong
 * answers proves nothing. */
static void check_totals(const struct year_q *q)
{
	double sum = 0, min = INFINITY, max = -INFINITY;

	for (int64_t s = 0; s < YEAR_S; s++) {
		double v = signal(s);
		sum += v;
		min = fmin(min, v);
		max = fmax(max, v);
	}
	if (q->count != (uint64_t)YEAR_S || fabs(q->sum - sum) > 1e-6 * fabs(sum) || q->min != min ||
	    q->max != max) {
		fprintf(stderr, "bench_query: WRONG ANSWER: count %llu (want %lld), sum %.17g (want "
				"%.17g), min %g (%g), max %g (%g)\n",
			(unsigned long long)q->count, (long long)YEAR_S, q->sum, sum, q->min, min,
			q->max, max);
		exit(1);
	}
	printf("  (checked: %llu samples, sum, min and max agree with the signal)\n",
	       (unsigned long long)q->count);
}

static void run_raw_hour(struct store *st, void *arg)
{
	struct year_q *q = arg;
	struct query_raw *r;
	struct query_sample s;
	int64_t start = T0 + (days > 200 ? 200 : days / 2) * 86400 * SEC + 3 * 3600 * SEC;
	size_t n = 0;

	check(query_raw_open(st, &q->tag, start, start + 3600 * SEC, false, &r), "raw");
	while (query_raw_next(r, &s) == 1)
		n++;
	query_raw_close(r);
	if (n != 3600) {
		fprintf(stderr, "bench_query: raw hour read %zu samples\n", n);
		exit(1);
	}
}

static struct query_tag current_tags[CURRENT_TAGS];

static void run_current(struct store *st, void *arg)
{
	char buf[QUERY_STR_MAX];
	struct query_sample s;

	(void)arg;
	for (int i = 0; i < CURRENT_TAGS; i++)
		if (query_current(st, &current_tags[i], &s, buf) != 1)
			exit(1);
}

/* CSV of the whole year the way /api/v1/export writes it (long form):
 * samples per second of text produced, without the socket. */
static void run_export(struct store *st, struct year_q *q)
{
	struct strbuf sb = STRBUF_INIT;
	struct query_raw *r;
	struct query_sample s;
	uint64_t t = clock_mono_ns(), n = 0, bytes = 0;

	check(query_raw_open(st, &q->tag, T0, T0 + YEAR_S * SEC, false, &r), "export");
	while (query_raw_next(r, &s) == 1) {
		char tb[TIMEFMT_RFC3339_MAX], vb[JSONW_DOUBLE_BUF];
		size_t tl = timefmt_format_rfc3339(s.ts, tb), vl = jsonw_format_double(s.f64, vb);
		strbuf_puts(&sb, "boiler.drum.pressure,");
		strbuf_append(&sb, tb, tl);
		strbuf_append(&sb, ",", 1);
		strbuf_append(&sb, vb, vl);
		strbuf_puts(&sb, ",0\r\n");
		if (sb.len > 60000) {
			bytes += sb.len;
			sb.len = 0;
		}
		n++;
	}
	query_raw_close(r);
	bytes += sb.len;
	strbuf_free(&sb);
	double secs = (double)(clock_mono_ns() - t) / 1e9;
	printf("RESULT export_csv_year %.2f Msamples/s (%llu samples, %.0f MB of CSV in %.2f s; goal >= 5)\n",
	       (double)n / secs / 1e6, (unsigned long long)n, (double)bytes / 1e6, secs);
}

static int run(const char *dir)
{
	struct store *st = open_at(dir);
	struct year_q q = {0};
	int64_t start = T0, end = T0 + YEAR_S * SEC;

	check(query_tag_get(st, "boiler.drum.pressure", 20, &q.tag), "tag");
	q.spec.prm = (struct agg_params){.linear = q.tag.linear, .stale_ns = q.tag.stale_ns,
					  .qmode = AGG_QMODE_NOT_BAD, .now_ns = INT64_MAX};
	q.spec.max_buckets = 1000000;

	check(bucket_plan_trend(&q.spec.plan, start, end, 1000), "plan");
	q.spec.fns = (1u << AGG_FIRST) | (1u << AGG_LAST) | (1u << AGG_MIN) | (1u << AGG_MAX) |
		     (1u << AGG_COUNT);
	q.spec.need_minmax_ts = true;
	timed("trend_1000_year", st, run_agg, &q, 50);
	printf("  (chunks from stats %llu, samples decoded %llu)\n",
	       (unsigned long long)q.stats_used, (unsigned long long)q.decoded);

	check(bucket_plan_fixed(&q.spec.plan, start, end, 3600 * SEC), "plan");
	q.spec.fns = 1u << AGG_TWA;
	q.spec.need_minmax_ts = false;
	timed("twa_1h_year", st, run_agg, &q, 20);
	printf("  (chunks from stats %llu, samples decoded %llu)\n",
	       (unsigned long long)q.stats_used, (unsigned long long)q.decoded);

	check(bucket_plan_calendar(&q.spec.plan, start, end, tz_get("Europe/Berlin", (char[TZ_ERR_LEN]){0}),
				   TZ_DAY), "plan");
	q.spec.fns = (1u << AGG_MEAN) | (1u << AGG_MIN) | (1u << AGG_MAX);
	timed("daily_mean_min_max_year_berlin", st, run_agg, &q, 20);
	printf("  (chunks from stats %llu, samples decoded %llu)\n",
	       (unsigned long long)q.stats_used, (unsigned long long)q.decoded);
	check_totals(&q);

	timed("raw_1h", st, run_raw_hour, &q, 2);
	for (int i = 0; i < CURRENT_TAGS; i++) {
		char name[64];
		snprintf(name, sizeof name, "plant.unit%03d.temp", i);
		check(query_tag_get(st, name, strlen(name), &current_tags[i]), name);
	}
	timed("current_1000_tags", st, run_current, NULL, 5);
	run_export(st, &q);
	store_close(st);
	tz_cache_free();
	return 0;
}

int main(int argc, char **argv)
{
	log_set_level(HS_LOG_WARN);
	if (argc == 4)
		days = atoll(argv[3]);
	if ((argc == 3 || argc == 4) && days >= 1 && days <= 366) {
		if (strcmp(argv[1], "build") == 0)
			return build(argv[2]);
		if (strcmp(argv[1], "run") == 0)
			return run(argv[2]);
	}
	fprintf(stderr, "usage: bench_query build DIR [DAYS] | run DIR [DAYS]\n"
			"  build: DAYS (default 366) of 1 s samples of one tag plus 1000 tags of\n"
			"         one day, in DIR\n"
			"  run:   time the issue D queries on DIR (RESULT lines); DAYS as built\n");
	return 2;
}

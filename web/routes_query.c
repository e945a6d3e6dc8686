/* routes_query.c: the read endpoints of the query API: current, raw, aggregate, trend, interpolated.
 * Each parses its parameters (web/query_params.h), asks query/ per tag and streams JSON into one buffer (jsonw). */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>

#include "lib/clock.h"
#include "lib/jsonw.h"
#include "lib/strbuf.h"
#include "lib/vec.h"
#include "query/query.h"
#include "web/query_params.h"
#include "web/routes.h"

#define RAW_LIMIT_DEFAULT 10000

/* The parameters each endpoint takes (qp_known refuses others). */
#define COMMON_PARAMS "tag", "match", "label", "tz", "time_format"
static const char *const current_params[] = {COMMON_PARAMS, NULL};
static const char *const raw_params[] = {COMMON_PARAMS, "start", "end", "limit", "order",
					 "bounds", "cursor", "shape", NULL};
static const char *const aggregate_params[] = {COMMON_PARAMS, "start", "end", "interval", "fn",
					       "fill", "quality", "interpolation", "integral_unit",
					       "shape", NULL};
static const char *const trend_params[] = {COMMON_PARAMS, "start", "end", "points", "quality",
					   "shape", NULL};
static const char *const interpolated_params[] = {COMMON_PARAMS, "start", "end", "interval", "at",
						  "quality", "interpolation", NULL};
#define TREND_POINTS_DEFAULT 1000
#define HOUR_NS 3600000000000LL
#define DAY_NS (24 * HOUR_NS)

static enum agg_result_quality quality_class(quality_t q)
{
	return quality_is_good(q) ? AGG_Q_GOOD : quality_is_bad(q) ? AGG_Q_BAD : AGG_Q_UNCERTAIN;
}

static void put_time(const struct qparams *qp, struct jsonw *w, const char *key, int64_t ns)
{
	char buf[QP_TIME_TEXT_MAX];
	size_t n = qp_time_json(qp, ns, buf);

	jsonw_key(w, key);
	jsonw_raw(w, buf, n);
}

static void put_value(struct jsonw *w, enum value_type type, const struct query_sample *s)
{
	switch (type) {
	case VALUE_FLOAT64: jsonw_f64(w, s->f64); break;
	case VALUE_INT64: jsonw_int(w, s->i64); break;
	case VALUE_BOOL: jsonw_bool(w, s->i64 != 0); break;
	case VALUE_STRING: jsonw_strn(w, s->str, s->str_len); break;
	}
}

/* {"t": ..., "v": ..., "q": 0, "quality": "good"}. Numbers are formatted
 * into one buffer and spliced whole: a raw page is thousands of these. */
static void put_sample(const struct qparams *qp, struct jsonw *w, enum value_type type,
		       const struct query_sample *s)
{
	char buf[160];
	size_t n;

	if (type == VALUE_STRING) {
		jsonw_obj_begin(w);
		put_time(qp, w, "t", s->ts);
		jsonw_key(w, "v");
		put_value(w, type, s);
		jsonw_key(w, "q");
		jsonw_int(w, s->quality);
		jsonw_key(w, "quality");
		jsonw_str(w, qp_quality_name(quality_class(s->quality)));
		jsonw_obj_end(w);
		return;
	}
	memcpy(buf, "{\"t\":", 5);
	n = 5 + qp_time_json(qp, s->ts, buf + 5);
	memcpy(buf + n, ",\"v\":", 5);
	n += 5;
	if (type == VALUE_FLOAT64 && isfinite(s->f64))
		n += jsonw_format_double(s->f64, buf + n);
	else if (type == VALUE_FLOAT64)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "null");
	else if (type == VALUE_INT64)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%" PRId64, s->i64);
	else
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%s", s->i64 ? "true" : "false");
	memcpy(buf + n, ",\"q\":", 5);
	n += 5;
	n += qp_u64_text(s->quality, buf + n);
	n += (size_t)snprintf(buf + n, sizeof buf - n, ",\"quality\":\"%s\"}",
			      qp_quality_name(quality_class(s->quality)));
	jsonw_raw(w, buf, n);
}

/* Queue the finished document, or the right error when it is not. */
static enum MHD_Result reply_doc(struct qparams *qp, struct jsonw *w, struct strbuf *sb)
{
	enum MHD_Result rc;

	if (sb->len > qp->req->app->limits.max_response_bytes) {
		qp_too_large(qp, sb);
		strbuf_free(sb);
		return qp->result;
	}
	if (jsonw_failed(w)) {
		strbuf_free(sb);
		return http_reply_error(qp->req, 500, "out_of_memory", "the answer could not be built");
	}
	rc = http_reply_strbuf(qp->req, 200, "application/json", sb);
	return rc;
}

static bool over_size(const struct qparams *qp, const struct strbuf *sb)
{
	return sb->len > qp->req->app->limits.max_response_bytes;
}

/* --- current ------------------------------------------------------------ */

enum MHD_Result route_current(struct http_request *req)
{
	struct qparams qp;
	struct strbuf sb = STRBUF_INIT;
	struct jsonw w;
	enum MHD_Result res;
	char *buf = malloc(QUERY_STR_MAX);

	if (!buf)
		return http_reply_error(req, 500, "out_of_memory", "out of memory");
	if (!qp_init(&qp, req, current_params) || !qp_tags(&qp)) {
		res = qp.result;
		goto out;
	}
	jsonw_init(&w, &sb);
	jsonw_obj_begin(&w);
	jsonw_key(&w, "values");
	jsonw_arr_begin(&w);
	for (size_t i = 0; i < qp.ntags; i++) {
		const struct query_tag *t = &qp.tags[i];
		struct query_sample s;
		int rc = query_current(qp.store, t, &s, buf);
		if (rc >= 0 && (i & 255) == 255 && clock_mono_ns() > qp.deadline_ns)
			rc = -ETIMEDOUT;
		if (rc < 0) {
			strbuf_free(&sb);
			res = qp_reply_engine_error(&qp, rc, t->name);
			goto out;
		}
		jsonw_obj_begin(&w);
		jsonw_key(&w, "tag");
		jsonw_str(&w, t->name);
		jsonw_key(&w, "type");
		jsonw_str(&w, value_type_name(t->type));
		if (rc == 1) {
			put_time(&qp, &w, "t", s.ts);
			jsonw_key(&w, "v");
			put_value(&w, t->type, &s);
			jsonw_key(&w, "q");
			jsonw_int(&w, s.quality);
			jsonw_key(&w, "quality");
			jsonw_str(&w, qp_quality_name(quality_class(s.quality)));
		} else {
			jsonw_key(&w, "t");
			jsonw_null(&w);
			jsonw_key(&w, "v");
			jsonw_null(&w);
		}
		jsonw_obj_end(&w);
	}
	jsonw_arr_end(&w);
	jsonw_obj_end(&w);
	res = reply_doc(&qp, &w, &sb);
out:
	free(buf);
	qp_free(&qp);
	return res;
}

/* --- raw ---------------------------------------------------------------- */

/* A cursor: 'a' or 'd' and the nanosecond time the next page starts at
 * (asc: first time included) or ends at (desc: first time excluded). */
static bool parse_cursor(struct qparams *qp, bool desc, int64_t *start, int64_t *end)
{
	const char *c = qp_arg(qp, "cursor");
	long long t;
	char *e;

	if (!c)
		return true;
	if (qp->ntags != 1)
		return qp_fail(qp, 400, "bad_parameter", "cursor: works with exactly one tag");
	errno = 0;
	t = (c[0] == 'a' || c[0] == 'd') ? strtoll(c + 1, &e, 10) : 0;
	if ((c[0] != 'a' && c[0] != 'd') || !c[1] || *e || errno || (c[0] == 'd') != desc)
		return qp_fail(qp, 400, "bad_parameter",
			       "cursor: \"%.64s\" is not a cursor of this order (use the \"next\" of "
			       "the previous page with the same order)", c);
	if (desc && t < *end)
		*end = t;
	if (!desc && t > *start)
		*start = t;
	return true;
}

static void put_bound(const struct qparams *qp, struct jsonw *w, const char *key,
		      const struct query_tag *t, bool have, const struct query_sample *s)
{
	jsonw_key(w, key);
	if (have)
		put_sample(qp, w, t->type, s);
	else
		jsonw_null(w);
}

/* shape=columns: the samples as three arrays, "t", "v" and "q", about a
 * third of the bytes of one object per sample (what bulk readers want). */
struct raw_columns {
	struct strbuf t, v, q;
};

static void column_sample(const struct qparams *qp, struct raw_columns *c, enum value_type type,
			  const struct query_sample *s, bool first)
{
	char buf[QP_TIME_TEXT_MAX + JSONW_DOUBLE_BUF];
	size_t n;

	if (!first) {
		strbuf_append(&c->t, ",", 1);
		strbuf_append(&c->v, ",", 1);
		strbuf_append(&c->q, ",", 1);
	}
	n = qp_time_json(qp, s->ts, buf);
	strbuf_append(&c->t, buf, n);
	if (type == VALUE_FLOAT64 && isfinite(s->f64)) {
		n = jsonw_format_double(s->f64, buf);
		strbuf_append(&c->v, buf, n);
	} else if (type == VALUE_FLOAT64) {
		strbuf_append(&c->v, "null", 4);
	} else if (type == VALUE_STRING) {
		struct jsonw sw;
		jsonw_init(&sw, &c->v);
		jsonw_strn(&sw, s->str, s->str_len);
	} else {
		if (type == VALUE_BOOL)
			n = (size_t)snprintf(buf, sizeof buf, "%s", s->i64 ? "true" : "false");
		else
			n = (size_t)snprintf(buf, sizeof buf, "%" PRId64, s->i64);
		strbuf_append(&c->v, buf, n);
	}
	n = qp_u64_text(s->quality, buf);
	strbuf_append(&c->q, buf, n);
}

static void put_column(struct jsonw *w, const char *key, struct strbuf *col)
{
	jsonw_key(w, key);
	strbuf_append(col, "]", 1);
	jsonw_raw(w, col->data, col->len);
}

/* One tag's series of a raw answer. 0, 1 when the answer grew too large,
 * or an engine error. */
static int raw_series(struct qparams *qp, struct jsonw *w, struct strbuf *sb,
		      const struct query_tag *t, int64_t start, int64_t end, bool desc,
		      uint64_t limit, bool bounds, bool columns)
{
	struct raw_columns cols = {STRBUF_INIT, STRBUF_INIT, STRBUF_INIT};
	struct query_raw *r;
	struct query_sample s;
	uint64_t n = 0;
	int rc;

	jsonw_obj_begin(w);
	jsonw_key(w, "tag");
	jsonw_str(w, t->name);
	jsonw_key(w, "type");
	jsonw_str(w, value_type_name(t->type));
	if (columns) {
		strbuf_append(&cols.t, "[", 1);
		strbuf_append(&cols.v, "[", 1);
		strbuf_append(&cols.q, "[", 1);
	} else {
		jsonw_key(w, "samples");
		jsonw_arr_begin(w);
	}
	if ((rc = query_raw_open(qp->store, t, start, end, desc, &r)) != 0)
		goto out;
	while ((rc = query_raw_next(r, &s)) == 1) {
		if (n == limit)
			break;
		if (columns)
			column_sample(qp, &cols, t->type, &s, n == 0);
		else
			put_sample(qp, w, t->type, &s);
		n++;
		if ((n & 1023) == 0 && over_size(qp, columns ? &cols.t : sb)) {
			query_raw_close(r);
			rc = 1;
			goto out;
		}
		if ((n & 1023) == 0 && clock_mono_ns() > qp->deadline_ns) {
			query_raw_close(r);
			rc = -ETIMEDOUT;
			goto out;
		}
	}
	query_raw_close(r);
	if (rc < 0)
		goto out;
	if (columns) {
		put_column(w, "t", &cols.t);
		put_column(w, "v", &cols.v);
		put_column(w, "q", &cols.q);
		if (strbuf_failed(&cols.t) || strbuf_failed(&cols.v) || strbuf_failed(&cols.q)) {
			rc = -ENOMEM;
			goto out;
		}
	} else {
		jsonw_arr_end(w);
	}
	jsonw_key(w, "next");
	if (rc == 1) {
		/* More remain: the page ends at s, which was not written. */
		char cur[32];
		snprintf(cur, sizeof cur, "%c%" PRId64, desc ? 'd' : 'a', desc ? s.ts + 1 : s.ts);
		jsonw_str(w, cur);
	} else {
		jsonw_null(w);
	}
	rc = 0;
	if (bounds) {
		struct query_sample b, a;
		bool hb, ha;
		char (*buf)[QUERY_STR_MAX] = malloc(2 * QUERY_STR_MAX);
		if (!buf) {
			rc = -ENOMEM;
			goto out;
		}
		rc = query_raw_bounds(qp->store, t, start, end, &b, &hb, &a, &ha, buf);
		if (rc == 0) {
			put_bound(qp, w, "before", t, hb, &b);
			put_bound(qp, w, "after", t, ha, &a);
		}
		free(buf);
	}
	if (rc == 0)
		jsonw_obj_end(w);
out:
	strbuf_free(&cols.t);
	strbuf_free(&cols.v);
	strbuf_free(&cols.q);
	return rc;
}

enum MHD_Result route_raw(struct http_request *req)
{
	static const char *const orders[] = {"asc", "desc", NULL};
	static const char *const yesno[] = {"false", "true", NULL};
	static const char *const shapes[] = {"rows", "columns", NULL};
	struct qparams qp;
	struct strbuf sb = STRBUF_INIT;
	struct jsonw w;
	int64_t start, end;
	uint64_t limit = RAW_LIMIT_DEFAULT;
	int order = 0, bounds = 0, shape = 0;
	enum MHD_Result res;

	/* The parameters' syntax first, then the tags they name. */
	if (!qp_init(&qp, req, raw_params) ||
	    !qp_range(&qp, HOUR_NS, &start, &end) ||
	    !qp_uint(&qp, "limit", 1, req->app->limits.max_points, &limit) ||
	    !qp_choice(&qp, "order", orders, &order) || !qp_choice(&qp, "bounds", yesno, &bounds) ||
	    !qp_choice(&qp, "shape", shapes, &shape) || !qp_tags(&qp) ||
	    !parse_cursor(&qp, order == 1, &start, &end)) {
		res = qp.result;
		goto out;
	}
	if (!qp_arg(&qp, "limit") && limit * qp.ntags > req->app->limits.max_points)
		limit = req->app->limits.max_points / qp.ntags ? req->app->limits.max_points / qp.ntags : 1;
	if (limit * qp.ntags > req->app->limits.max_points) {
		res = http_reply_error(req, 422, "too_many_points",
				       "limit: %" PRIu64 " samples x %zu tags is more than max_points (%" PRIu64
				       "): lower limit, ask for fewer tags, or page with cursor",
				       limit, qp.ntags, req->app->limits.max_points);
		goto out;
	}
	jsonw_init(&w, &sb);
	jsonw_obj_begin(&w);
	jsonw_key(&w, "series");
	jsonw_arr_begin(&w);
	for (size_t i = 0; i < qp.ntags; i++) {
		/* A cursor may have moved start to end: the series is then empty. */
		int rc = raw_series(&qp, &w, &sb, &qp.tags[i], start, end > start ? end : start,
				    order == 1, limit, bounds, shape == 1);
		if (rc == 1 || over_size(&qp, &sb)) {
			qp_too_large(&qp, &sb);
			strbuf_free(&sb);
			res = qp.result;
			goto out;
		}
		if (rc != 0) {
			strbuf_free(&sb);
			res = qp_reply_engine_error(&qp, rc, qp.tags[i].name);
			goto out;
		}
	}
	jsonw_arr_end(&w);
	jsonw_obj_end(&w);
	res = reply_doc(&qp, &w, &sb);
out:
	qp_free(&qp);
	return res;
}

/* --- aggregate and trend ------------------------------------------------ */

/* shape=rows (one object per bucket, the default) or columns. */
static bool parse_shape(struct qparams *qp, bool *columns)
{
	static const char *const shapes[] = {"rows", "columns", NULL};
	int shape = 0;

	if (!qp_choice(qp, "shape", shapes, &shape))
		return false;
	*columns = shape == 1;
	return true;
}

/* fn=twa,min,max (comma-separated, or repeated). */
struct fn_walk {
	struct qparams *qp;
	uint32_t fns;
	bool failed, seen;
};

static enum MHD_Result each_fn(void *cls, enum MHD_ValueKind kind, const char *key,
			       const char *value)
{
	struct fn_walk *fw = cls;
	const char *v = value ? value : "";

	(void)kind;
	if (strcasecmp(key, "fn") != 0)
		return MHD_YES;
	fw->seen = true;
	do {
		size_t len = strcspn(v, ",");
		int f = agg_fn_parse(v, len);
		if (f < 0) {
			fw->failed = !qp_fail(fw->qp, 400, "bad_parameter",
					      "fn: \"%.*s\" is not a function (twa, mean, min, max, "
					      "count, sum, stddev, first, last, delta, range, integral, "
					      "percent_good)", (int)(len > 64 ? 64 : len), v);
			return MHD_NO;
		}
		fw->fns |= 1u << f;
		v += len + (v[len] == ',');
	} while (*v);
	return MHD_YES;
}

static bool parse_fns(struct qparams *qp, uint32_t *fns)
{
	struct fn_walk fw = {.qp = qp};

	MHD_get_connection_values(qp->req->conn, MHD_GET_ARGUMENT_KIND, each_fn, &fw);
	if (fw.failed)
		return false;
	*fns = fw.seen ? fw.fns : 1u << AGG_TWA;
	return true;
}

static bool parse_fill(struct qparams *qp, enum query_fill *fill, double *value)
{
	static const char *const names[] = {"null", "none", "previous", "linear"};
	const char *v = qp_arg(qp, "fill");
	char *end;

	*fill = QUERY_FILL_NULL;
	if (!v)
		return true;
	for (int i = 0; i < 4; i++)
		if (strcmp(v, names[i]) == 0) {
			*fill = (enum query_fill)i;
			return true;
		}
	*value = strtod(v, &end);
	if (!*v || isspace((unsigned char)*v) || *end || !isfinite(*value))
		return qp_fail(qp, 400, "bad_parameter",
			       "fill: \"%.64s\" is not none, null, previous, linear or a number", v);
	*fill = QUERY_FILL_VALUE;
	return true;
}

/* interval=: 1d, 1w and 1mo are calendar days, ISO weeks and months in tz=
 * (UTC by default); any other duration (24h too) is fixed and aligned to
 * the epoch. */
static bool parse_plan(struct qparams *qp, int64_t start, int64_t end, struct bucket_plan *plan,
		       const char **interval_text)
{
	const char *v = qp_arg(qp, "interval");
	int64_t ns = 0;
	int rc;

	*interval_text = v;
	if (!v)
		return qp_fail(qp, 400, "bad_parameter", "interval: missing (e.g. 1m, 1h, 1d, 1w, 1mo)");
	/* Only these spellings are calendar units: 24h is 24 hours, even
	 * across a change to daylight-saving time. */
	if (strcmp(v, "1mo") == 0)
		rc = bucket_plan_calendar(plan, start, end, qp->tz, TZ_MONTH);
	else if (strcmp(v, "1d") == 0)
		rc = bucket_plan_calendar(plan, start, end, qp->tz, TZ_DAY);
	else if (strcmp(v, "1w") == 0)
		rc = bucket_plan_calendar(plan, start, end, qp->tz, TZ_WEEK);
	else if (!qp_duration(qp, "interval", true, &ns))
		return false;
	else if (ns == 0)
		return qp_fail(qp, 400, "bad_parameter", "interval: must be more than 0");
	else
		rc = bucket_plan_fixed(plan, start, end, ns);
	if (rc != 0)
		return qp_fail(qp, 400, "bad_parameter", "interval: buckets of %.32s over this range "
			       "fall outside the representable times", v);
	return true;
}

/* The tag's signal settings, overridden by interpolation= when given. */
static bool tag_params(struct qparams *qp, const struct query_tag *t, enum agg_quality_mode qm,
		       struct agg_params *prm)
{
	static const char *const interps[] = {"step", "linear", NULL};
	int interp = -1;

	if (!qp_choice(qp, "interpolation", interps, &interp))
		return false;
	*prm = (struct agg_params){.linear = t->linear, .stale_ns = t->stale_ns, .qmode = qm,
				   .now_ns = qp->now_ns};
	if (interp >= 0)
		prm->linear = interp == 1;
	if (t->type == VALUE_BOOL)
		prm->linear = false;
	return true;
}

static void put_fn_value(struct jsonw *w, enum agg_fn f, const struct agg_bucket *b, double scale)
{
	double v = b->v[f];

	jsonw_key(w, agg_fn_name(f));
	if (f == AGG_COUNT)
		jsonw_uint(w, b->count);
	else if (f == AGG_INTEGRAL)
		jsonw_f64(w, v / scale);
	else
		jsonw_f64(w, v);
}

struct agg_request {
	struct query_agg_spec spec;
	double integral_scale;       /* 1 (per second) or 3600 (per hour) */
	bool trend;
	bool columns;                /* shape=columns: one array per field */
};

static void put_agg_bucket(const struct qparams *qp, struct jsonw *w, const struct agg_request *ar,
			   const struct agg_bucket *b, bool filled)
{
	jsonw_obj_begin(w);
	put_time(qp, w, "t", b->t);
	if (ar->trend) {
		static const struct { const char *v, *t; enum agg_fn f; } parts[] = {
			{"first", "first_t", AGG_FIRST}, {"last", "last_t", AGG_LAST},
			{"min", "min_t", AGG_MIN},       {"max", "max_t", AGG_MAX},
		};
		jsonw_key(w, "count");
		jsonw_uint(w, b->count);
		for (size_t i = 0; i < 4; i++) {
			const int64_t ts[] = {b->first_ts, b->last_ts, b->min_ts, b->max_ts};
			jsonw_key(w, parts[i].v);
			jsonw_f64(w, b->count ? b->v[parts[i].f] : NAN);
			if (b->count)
				put_time(qp, w, parts[i].t, ts[i]);
			else {
				jsonw_key(w, parts[i].t);
				jsonw_null(w);
			}
		}
	} else {
		for (int f = 0; f < AGG_FN_COUNT; f++)
			if (ar->spec.fns & (1u << f))
				put_fn_value(w, f, b, ar->integral_scale);
		if (filled) {
			jsonw_key(w, "filled");
			jsonw_bool(w, true);
		}
	}
	jsonw_key(w, "quality");
	jsonw_str(w, qp_quality_name(b->quality));
	jsonw_obj_end(w);
}

/* One array of times, or of a function's values, across the buckets. */
enum col_kind { COL_T, COL_VALUE, COL_TIME_OF, COL_COUNT, COL_QUALITY, COL_FILLED };

static void put_agg_column(const struct qparams *qp, struct jsonw *w, const char *key,
			   enum col_kind kind, enum agg_fn f, double scale,
			   const struct query_buckets *out)
{
	jsonw_key(w, key);
	jsonw_arr_begin(w);
	for (size_t k = 0; k < out->count; k++) {
		const struct agg_bucket *b = &out->b[k];
		const int64_t times[] = {[AGG_FIRST] = b->first_ts, [AGG_LAST] = b->last_ts,
					 [AGG_MIN] = b->min_ts, [AGG_MAX] = b->max_ts};
		char buf[QP_TIME_TEXT_MAX];
		switch (kind) {
		case COL_T: jsonw_raw(w, buf, qp_time_json(qp, b->t, buf)); break;
		case COL_VALUE:
			jsonw_f64(w, f == AGG_INTEGRAL ? b->v[f] / scale : b->v[f]);
			break;
		case COL_TIME_OF:
			if (b->count)
				jsonw_raw(w, buf, qp_time_json(qp, times[f], buf));
			else
				jsonw_null(w);
			break;
		case COL_COUNT: jsonw_uint(w, b->count); break;
		case COL_QUALITY: jsonw_str(w, qp_quality_name(b->quality)); break;
		case COL_FILLED: jsonw_bool(w, out->filled[k]); break;
		}
	}
	jsonw_arr_end(w);
}

static void put_agg_columns(const struct qparams *qp, struct jsonw *w,
			    const struct agg_request *ar, const struct query_buckets *out)
{
	put_agg_column(qp, w, "t", COL_T, 0, 1, out);
	if (ar->trend) {
		static const struct { const char *v, *t; enum agg_fn f; } parts[] = {
			{"first", "first_t", AGG_FIRST}, {"last", "last_t", AGG_LAST},
			{"min", "min_t", AGG_MIN},       {"max", "max_t", AGG_MAX},
		};
		put_agg_column(qp, w, "count", COL_COUNT, 0, 1, out);
		for (size_t i = 0; i < 4; i++) {
			put_agg_column(qp, w, parts[i].v, COL_VALUE, parts[i].f, 1, out);
			put_agg_column(qp, w, parts[i].t, COL_TIME_OF, parts[i].f, 1, out);
		}
	} else {
		for (int f = 0; f < AGG_FN_COUNT; f++)
			if (ar->spec.fns & (1u << f))
				put_agg_column(qp, w, agg_fn_name(f), f == AGG_COUNT ? COL_COUNT : COL_VALUE,
					       f, ar->integral_scale, out);
		if (ar->spec.fill != QUERY_FILL_NULL && ar->spec.fill != QUERY_FILL_NONE)
			put_agg_column(qp, w, "filled", COL_FILLED, 0, 1, out);
	}
	put_agg_column(qp, w, "quality", COL_QUALITY, 0, 1, out);
}

/* Compute and write every tag's buckets. */
static enum MHD_Result agg_answer(struct qparams *qp, struct agg_request *ar,
				  enum agg_quality_mode qm, const char *interval_text)
{
	struct strbuf sb = STRBUF_INIT;
	struct jsonw w;
	uint64_t n_buckets;

	ar->spec.max_buckets = qp->req->app->limits.max_points / qp->ntags;
	ar->spec.deadline_ns = qp->deadline_ns;
	n_buckets = bucket_plan_count(&ar->spec.plan, ar->spec.max_buckets + 1);
	if (n_buckets > ar->spec.max_buckets)
		return http_reply_error(qp->req, 422, "too_many_points",
					"%s: more than %" PRIu64 " buckets x %zu tags would pass "
					"max_points (%" PRIu64 "): narrow the range or %s",
					ar->trend ? "points" : "interval", ar->spec.max_buckets,
					qp->ntags, qp->req->app->limits.max_points,
					ar->trend ? "ask for fewer points" : "widen the interval");
	/* Room for the whole answer up front: growing by doubling copied a
	 * trend's 85 KB answer a few times over (10 % of its time). A field
	 * takes about 16 bytes in columns, 28 with its key in objects. */
	uint64_t fields = ar->trend ? 10 : 2 + (uint64_t)__builtin_popcount(ar->spec.fns);
	uint64_t guess = n_buckets * qp->ntags * fields * (ar->columns ? 16 : 28) + 4096;
	uint64_t cap = qp->req->app->limits.max_response_bytes;
	if (!strbuf_reserve(&sb, (size_t)(guess < cap ? guess : cap)))
		return http_reply_error(qp->req, 503, "out_of_memory", "no memory for the answer");
	jsonw_init(&w, &sb);
	jsonw_obj_begin(&w);
	put_time(qp, &w, "start", ar->spec.plan.start);
	put_time(qp, &w, "end", ar->spec.plan.end);
	if (interval_text) {
		jsonw_key(&w, "interval");
		jsonw_str(&w, interval_text);
	} else {
		/* A trend's buckets are the range split in equal parts. */
		jsonw_key(&w, "bucket_ns");
		jsonw_int(&w, ar->spec.plan.interval_ns);
	}
	jsonw_key(&w, "tz");
	jsonw_str(&w, tz_name(qp->tz));
	qp_put_skipped(qp, &w);
	jsonw_key(&w, "series");
	jsonw_arr_begin(&w);
	for (size_t i = 0; i < qp->ntags; i++) {
		const struct query_tag *t = &qp->tags[i];
		struct query_buckets out = {0};
		int rc;
		if (!tag_params(qp, t, qm, &ar->spec.prm)) {
			strbuf_free(&sb);
			return qp->result;
		}
		rc = query_aggregate(qp->store, t, &ar->spec, &out);
		if (rc != 0) {
			query_buckets_free(&out);
			strbuf_free(&sb);
			return qp_reply_engine_error(qp, rc, t->name);
		}
		jsonw_obj_begin(&w);
		jsonw_key(&w, "tag");
		jsonw_str(&w, t->name);
		if (ar->columns) {
			put_agg_columns(qp, &w, ar, &out);
		} else {
			jsonw_key(&w, "buckets");
			jsonw_arr_begin(&w);
			for (size_t k = 0; k < out.count; k++)
				put_agg_bucket(qp, &w, ar, &out.b[k], out.filled[k]);
			jsonw_arr_end(&w);
		}
		jsonw_obj_end(&w);
		query_buckets_free(&out);
		if (over_size(qp, &sb))
			break;
	}
	jsonw_arr_end(&w);
	jsonw_obj_end(&w);
	return reply_doc(qp, &w, &sb);
}

enum MHD_Result route_aggregate(struct http_request *req)
{
	static const char *const units[] = {"s", "h", NULL};
	struct qparams qp;
	struct agg_request ar = {.integral_scale = 1};
	enum agg_quality_mode qm;
	const char *interval_text;
	int64_t start, end;
	int unit = 0;
	enum MHD_Result res;

	if (!qp_init(&qp, req, aggregate_params) ||
	    !qp_range(&qp, DAY_NS, &start, &end) ||
	    !parse_plan(&qp, start, end, &ar.spec.plan, &interval_text) ||
	    !parse_fns(&qp, &ar.spec.fns) ||
	    !parse_fill(&qp, &ar.spec.fill, &ar.spec.fill_value) || !qp_quality(&qp, &qm) ||
	    !qp_choice(&qp, "integral_unit", units, &unit) ||
	    !parse_shape(&qp, &ar.columns) || !qp_tags(&qp) || !qp_numeric_tags(&qp, "aggregate")) {
		res = qp.result;
		goto out;
	}
	ar.integral_scale = unit == 1 ? 3600.0 : 1.0;
	res = agg_answer(&qp, &ar, qm, interval_text);
out:
	qp_free(&qp);
	return res;
}

enum MHD_Result route_trend(struct http_request *req)
{
	struct qparams qp;
	struct agg_request ar = {.integral_scale = 1, .trend = true};
	enum agg_quality_mode qm;
	uint64_t points = TREND_POINTS_DEFAULT;
	int64_t start, end;
	enum MHD_Result res;

	if (!qp_init(&qp, req, trend_params) ||
	    !qp_range(&qp, DAY_NS, &start, &end) ||
	    !qp_uint(&qp, "points", 1, req->app->limits.max_points, &points) ||
	    !qp_quality(&qp, &qm) || !parse_shape(&qp, &ar.columns) || !qp_tags(&qp) ||
	    !qp_numeric_tags(&qp, "trend")) {
		res = qp.result;
		goto out;
	}
	if (bucket_plan_trend(&ar.spec.plan, start, end, points) != 0) {
		res = http_reply_error(req, 400, "bad_parameter", "points: invalid");
		goto out;
	}
	ar.spec.fns = (1u << AGG_FIRST) | (1u << AGG_LAST) | (1u << AGG_MIN) | (1u << AGG_MAX) |
		      (1u << AGG_COUNT);
	ar.spec.need_minmax_ts = true;
	res = agg_answer(&qp, &ar, qm, NULL);
out:
	qp_free(&qp);
	return res;
}

/* --- interpolated --------------------------------------------------------- */

struct time_list {
	int64_t *t;
	size_t count, cap;
	struct qparams *qp;
	bool failed;
};

static enum MHD_Result each_at(void *cls, enum MHD_ValueKind kind, const char *key,
			       const char *value)
{
	struct time_list *l = cls;
	int64_t t;

	(void)kind;
	if (strcasecmp(key, "at") != 0)
		return MHD_YES;
	if (!qp_time(l->qp, "at", value ? value : "", &t)) {
		l->failed = true;
		return MHD_NO;
	}
	if (vec_grow(&l->t, &l->cap, l->count, sizeof *l->t) != 0) {
		l->failed = !qp_fail(l->qp, 500, "out_of_memory", "out of memory");
		return MHD_NO;
	}
	l->t[l->count++] = t;
	return MHD_YES;
}

static int cmp_time(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* The times asked: at=T (repeated), or start + k * interval < end. */
static bool interp_times(struct qparams *qp, struct time_list *l)
{
	int64_t start, end, step = 0;
	uint64_t n;

	l->qp = qp;
	MHD_get_connection_values(qp->req->conn, MHD_GET_ARGUMENT_KIND, each_at, l);
	if (l->failed)
		return false;
	if (l->count) {
		qsort(l->t, l->count, sizeof *l->t, cmp_time);
		return true;
	}
	if (!qp_arg(qp, "interval"))
		return qp_fail(qp, 400, "bad_parameter",
			       "interval: missing (give interval= with start= and end=, or at=TIME)");
	if (!qp_range(qp, HOUR_NS, &start, &end) || !qp_duration(qp, "interval", true, &step))
		return false;
	if (step <= 0)
		return qp_fail(qp, 400, "bad_parameter", "interval: must be more than 0");
	n = ((uint64_t)end - (uint64_t)start - 1) / (uint64_t)step + 1;
	if (n > qp->req->app->limits.max_points)
		return qp_fail(qp, 422, "too_many_points",
			       "interval: %" PRIu64 " times is more than max_points (%" PRIu64
			       "): narrow the range or widen the interval", n,
			       qp->req->app->limits.max_points);
	l->t = malloc(n * sizeof *l->t);
	if (!l->t)
		return qp_fail(qp, 500, "out_of_memory", "out of memory");
	for (uint64_t k = 0; k < n; k++)
		l->t[k] = start + (int64_t)k * step;
	l->count = n;
	return true;
}

enum MHD_Result route_interpolated(struct http_request *req)
{
	struct qparams qp;
	struct time_list times = {0};
	struct query_interp *vals = NULL;
	struct strbuf sb = STRBUF_INIT;
	struct jsonw w;
	enum agg_quality_mode qm;
	enum MHD_Result res;

	if (!qp_init(&qp, req, interpolated_params) || !qp_quality(&qp, &qm) ||
	    !interp_times(&qp, &times) || !qp_tags(&qp) || !qp_numeric_tags(&qp, "interpolated")) {
		res = qp.result;
		goto out;
	}
	if (times.count * qp.ntags > req->app->limits.max_points) {
		res = http_reply_error(req, 422, "too_many_points",
				       "%s: %zu times x %zu tags is more than max_points (%" PRIu64 ")",
				       qp_arg(&qp, "at") ? "at" : "interval",
				       times.count, qp.ntags, req->app->limits.max_points);
		goto out;
	}
	vals = malloc(times.count * sizeof *vals);
	if (!vals) {
		res = http_reply_error(req, 500, "out_of_memory", "out of memory");
		goto out;
	}
	jsonw_init(&w, &sb);
	jsonw_obj_begin(&w);
	qp_put_skipped(&qp, &w);
	jsonw_key(&w, "series");
	jsonw_arr_begin(&w);
	for (size_t i = 0; i < qp.ntags; i++) {
		struct agg_params prm;
		int rc;
		if (!tag_params(&qp, &qp.tags[i], qm, &prm)) {
			strbuf_free(&sb);
			res = qp.result;
			goto out;
		}
		rc = query_interpolated(qp.store, &qp.tags[i], &prm, times.t, times.count,
					qp.deadline_ns, vals);
		if (rc != 0) {
			strbuf_free(&sb);
			res = qp_reply_engine_error(&qp, rc, qp.tags[i].name);
			goto out;
		}
		jsonw_obj_begin(&w);
		jsonw_key(&w, "tag");
		jsonw_str(&w, qp.tags[i].name);
		jsonw_key(&w, "interpolation");
		jsonw_str(&w, prm.linear ? "linear" : "step");
		jsonw_key(&w, "values");
		jsonw_arr_begin(&w);
		for (size_t k = 0; k < times.count; k++) {
			jsonw_obj_begin(&w);
			put_time(&qp, &w, "t", vals[k].t);
			jsonw_key(&w, "v");
			if (qp.tags[i].type == VALUE_BOOL && !isnan(vals[k].v))
				jsonw_bool(&w, vals[k].v != 0);
			else
				jsonw_f64(&w, vals[k].v);
			jsonw_key(&w, "quality");
			jsonw_str(&w, qp_quality_name(vals[k].quality));
			jsonw_obj_end(&w);
		}
		jsonw_arr_end(&w);
		jsonw_obj_end(&w);
		if (over_size(&qp, &sb))
			break;
	}
	jsonw_arr_end(&w);
	jsonw_obj_end(&w);
	res = reply_doc(&qp, &w, &sb);
out:
	free(vals);
	free(times.t);
	qp_free(&qp);
	return res;
}

/* query.c: the query engine behind query.h: tag lookup, aggregates with fill, interpolated values.
 * Each function opens its own scan and closes it before returning; nothing outlives a call but the caller's output. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/vec.h"
#include "query/query.h"

int query_tag_by_id(struct store *st, uint32_t id, struct query_tag *out)
{
	const char *name = store_tag_name(st, id);
	enum value_type type;
	uint32_t found;
	int rc;

	if (!name || store_tag_find(st, name, strlen(name), &found, &type) != 0)
		return -ENOENT;
	*out = (struct query_tag){.id = id, .type = type, .name = name};
	rc = store_tag_interp(st, id, &out->linear, &out->stale_ns);
	return rc;
}

int query_tag_get(struct store *st, const char *name, size_t len, struct query_tag *out)
{
	enum value_type type;
	uint32_t id;

	if (store_tag_find(st, name, len, &id, &type) != 0)
		return -ENOENT;
	return query_tag_by_id(st, id, out);
}

static double block_value(const struct store_block *b, size_t i)
{
	return b->type == VALUE_FLOAT64 ? b->f64[i] : (double)b->i64[i];
}

static double point_value(enum value_type type, const struct store_point *p)
{
	return type == VALUE_FLOAT64 ? p->f64 : (double)p->i64;
}

static bool past_deadline(uint64_t deadline_ns)
{
	return deadline_ns && clock_mono_ns() > deadline_ns;
}

/* --- aggregates --------------------------------------------------------- */

struct agg_run {
	struct agg agg;
	struct query_buckets *out;
	bool need_stddev, need_minmax_ts, need_tw;
};

static int collect_bucket(void *arg, const struct agg_bucket *b)
{
	struct query_buckets *out = ((struct agg_run *)arg)->out;
	size_t cap = out->cap;

	if (vec_grow(&out->b, &out->cap, out->count, sizeof *out->b) != 0)
		return -ENOMEM;
	if (out->cap != cap || !out->filled) {
		bool *f = realloc(out->filled, out->cap * sizeof *f);
		if (!f)
			return -ENOMEM;
		out->filled = f;
	}
	out->filled[out->count] = false;
	out->b[out->count++] = *b;
	return 0;
}

static bool accept_stats(void *arg, const struct store_chunk_stats *c)
{
	struct agg_run *r = arg;
	bool ok = agg_chunk_usable(&r->agg, c, r->need_stddev, r->need_minmax_ts, r->need_tw);
	return ok;
}

/* Feed every sample (and accepted chunk) of the scan to the accumulator. */
static int feed_scan(struct agg_run *r, struct store_scan *sc, uint64_t deadline_ns)
{
	struct store_block blk;
	int rc;

	while ((rc = store_scan_next(sc, &blk)) == 1) {
		if (blk.stats) {
			r->out->chunks_from_stats++;
			rc = agg_chunk(&r->agg, blk.stats);
		} else {
			r->out->samples_decoded += blk.count;
			for (size_t i = 0; i < blk.count && rc == 1; i++)
				if (agg_sample(&r->agg, blk.ts_ns[i], block_value(&blk, i),
					       blk.quality[i]) != 0)
					rc = r->agg.err;
		}
		if (rc != 1 && rc != 0)
			return rc;
		if (past_deadline(deadline_ns))
			return -ETIMEDOUT;
	}
	return rc;
}

/* A neighbour used by fill: present and usable. */
struct anchor {
	bool have;
	int64_t t;
	double v;
	bool seen;  /* a sample is there, usable or not (then t is its time) */
};

/* Fills run per function over the bucket array, after the accumulator. */
static bool fillable(enum agg_fn f)
{
	return f != AGG_COUNT && f != AGG_PERCENT_GOOD;
}

/* Functions whose value is a value of the signal, so that the sample
 * before the range may stand for them; a sum, delta, range, stddev or
 * integral is not a sample value. */
static bool sample_valued(enum agg_fn f)
{
	return f == AGG_TWA || f == AGG_MEAN || f == AGG_MIN || f == AGG_MAX || f == AGG_FIRST ||
	       f == AGG_LAST;
}

static void mark_filled(struct query_buckets *out, size_t i)
{
	out->filled[i] = true;
	out->b[i].quality = AGG_Q_UNCERTAIN;
}

/* Empty: no usable sample in the bucket and no twa (no usable time, or the
 * signal not walked). Only empty buckets are filled or, with fill=none,
 * left out: a bucket whose twa holds keeps its null mean, and a bucket of
 * one sample keeps its null stddev. */
static bool bucket_empty(const struct agg_bucket *b)
{
	return b->count == 0 && isnan(b->v[AGG_TWA]);
}

static void fill_previous(struct query_buckets *out, enum agg_fn f, const bool *empty,
			  const struct anchor *before, int64_t now)
{
	bool have = before->have && sample_valued(f);
	double carry = before->v;

	for (size_t i = 0; i < out->count && out->b[i].lo < now; i++) {
		if (!isnan(out->b[i].v[f])) {
			have = true;
			carry = out->b[i].v[f];
		} else if (have && empty[i]) {
			out->b[i].v[f] = carry;
			mark_filled(out, i);
		}
	}
}

static void fill_linear(struct query_buckets *out, enum agg_fn f, const bool *empty,
			const struct anchor *before, const struct anchor *after, int64_t now)
{
	struct anchor left = sample_valued(f) ? *before : (struct anchor){0};

	for (size_t i = 0; i < out->count && out->b[i].lo < now;) {
		struct anchor right = sample_valued(f) ? *after : (struct anchor){0};
		size_t j = i;
		if (!isnan(out->b[i].v[f])) {
			left = (struct anchor){.have = true, .t = out->b[i].lo, .v = out->b[i].v[f]};
			i++;
			continue;
		}
		while (j < out->count && isnan(out->b[j].v[f]))
			j++;
		if (j < out->count)
			right = (struct anchor){.have = true, .t = out->b[j].lo, .v = out->b[j].v[f]};
		for (size_t k = i; k < j && out->b[k].lo < now && left.have && right.have &&
				   right.t > left.t; k++) {
			double x = (double)(out->b[k].lo - left.t) / (double)(right.t - left.t);
			if (!empty[k])
				continue;
			out->b[k].v[f] = left.v + (right.v - left.v) * x;
			mark_filled(out, k);
		}
		i = j;
	}
}

static void fill_none(struct query_buckets *out)
{
	size_t kept = 0;

	for (size_t i = 0; i < out->count; i++) {
		if (bucket_empty(&out->b[i]))
			continue;
		out->filled[kept] = out->filled[i];
		out->b[kept++] = out->b[i];
	}
	out->count = kept;
}

static int apply_fill(struct query_buckets *out, const struct query_agg_spec *spec,
		      const struct anchor *before, const struct anchor *after)
{
	int64_t now = spec->prm.now_ns;
	bool *empty;

	if (spec->fill == QUERY_FILL_NONE)
		fill_none(out);
	if (spec->fill == QUERY_FILL_NONE || spec->fill == QUERY_FILL_NULL || out->count == 0)
		return 0;
	/* Decided before any fill: filling one function must not make a
	 * bucket look non-empty to the next. */
	if (!(empty = malloc(out->count * sizeof *empty)))
		return -ENOMEM;
	for (size_t i = 0; i < out->count; i++)
		empty[i] = bucket_empty(&out->b[i]);
	for (int f = 0; f < AGG_FN_COUNT; f++) {
		if (!(spec->fns & (1u << f)) || !fillable(f))
			continue;
		switch (spec->fill) {
		case QUERY_FILL_PREVIOUS: fill_previous(out, f, empty, before, now); break;
		case QUERY_FILL_LINEAR: fill_linear(out, f, empty, before, after, now); break;
		case QUERY_FILL_VALUE:
			for (size_t i = 0; i < out->count && out->b[i].lo < now; i++)
				if (empty[i] && isnan(out->b[i].v[f])) {
					out->b[i].v[f] = spec->fill_value;
					mark_filled(out, i);
				}
			break;
		case QUERY_FILL_NULL:
		case QUERY_FILL_NONE: break;
		}
	}
	free(empty);
	return 0;
}

/* The nearest usable sample before t (or at or after it) when the very
 * next one is not usable: fill stands on usable samples only. Walks raw
 * samples away from the range until one is usable or the deadline. */
static int usable_anchor(struct store *st, const struct query_tag *tag,
			 const struct agg_params *prm, bool before, int64_t t, uint64_t deadline_ns,
			 struct anchor *a)
{
	struct query_raw *r;
	struct query_sample s;
	uint64_t n = 0;
	int rc;

	rc = before ? query_raw_open(st, tag, INT64_MIN, t, true, &r)
		    : query_raw_open(st, tag, t, INT64_MAX, false, &r);
	if (rc != 0)
		return rc;
	while ((rc = query_raw_next(r, &s)) == 1) {
		double v = tag->type == VALUE_FLOAT64 ? s.f64 : (double)s.i64;
		if (agg_usable(prm->qmode, v, s.quality)) {
			*a = (struct anchor){.have = true, .t = s.ts, .v = v};
			break;
		}
		if ((++n & 1023) == 0 && past_deadline(deadline_ns)) {
			rc = -ETIMEDOUT;
			break;
		}
	}
	query_raw_close(r);
	return rc < 0 ? rc : 0;
}

/* Read the neighbour on one side into the accumulator and the fill anchor. */
static int neighbour(struct store_scan *sc, const struct query_tag *tag,
		     const struct agg_params *prm, bool before, struct agg *agg, struct anchor *a)
{
	struct store_point p;
	int rc = before ? store_scan_before(sc, &p) : store_scan_after(sc, &p);
	double v;

	if (rc != 1)
		return rc;
	v = point_value(tag->type, &p);
	if (before)
		agg_before(agg, p.ts_ns, v, p.quality);
	else
		agg_after(agg, p.ts_ns, v, p.quality);
	if (agg_usable(prm->qmode, v, p.quality))
		*a = (struct anchor){.have = true, .t = p.ts_ns, .v = v};
	else
		a->t = p.ts_ns; /* where a search for a usable one goes on from */
	a->seen = true;
	return 0;
}

int query_aggregate(struct store *st, const struct query_tag *tag, const struct query_agg_spec *spec,
		    struct query_buckets *out)
{
	struct agg_run r = {.out = out};
	struct agg_params prm;
	struct store_scan *sc = NULL;
	struct anchor before = {0}, after = {0};
	const uint32_t tw = (1u << AGG_TWA) | (1u << AGG_INTEGRAL) | (1u << AGG_PERCENT_GOOD);
	bool fill_looks = spec->fill == QUERY_FILL_PREVIOUS || spec->fill == QUERY_FILL_LINEAR;
	int rc;

	if (tag->type == VALUE_STRING)
		return -EINVAL;
	if (bucket_plan_count(&spec->plan, (uint64_t)spec->max_buckets + 1) > spec->max_buckets)
		return -E2BIG;
	r.need_stddev = spec->fns & (1u << AGG_STDDEV);
	r.need_minmax_ts = spec->need_minmax_ts;
	r.need_tw = spec->fns & tw;
	prm = spec->prm;
	prm.skip_signal = !r.need_tw;
	prm.skip_integral = !(spec->fns & ((1u << AGG_TWA) | (1u << AGG_INTEGRAL)));
	prm.skip_stddev = !r.need_stddev;
	agg_begin(&r.agg, &prm, &spec->plan, collect_bucket, &r);
	rc = store_scan_open(st, tag->id, spec->plan.start, spec->plan.end, &sc);
	if (rc == 0 && (r.need_tw || fill_looks))
		rc = neighbour(sc, tag, &spec->prm, true, &r.agg, &before);
	if (rc == 0) {
		store_scan_use_stats(sc, accept_stats, &r);
		rc = feed_scan(&r, sc, spec->deadline_ns);
	}
	if (rc == 0 && ((r.need_tw && spec->prm.linear) || spec->fill == QUERY_FILL_LINEAR))
		rc = neighbour(sc, tag, &spec->prm, false, &r.agg, &after);
	if (rc == 0)
		rc = agg_end(&r.agg);
	store_scan_close(sc);
	if (rc == 0 && fill_looks && before.seen && !before.have)
		rc = usable_anchor(st, tag, &spec->prm, true, before.t, spec->deadline_ns, &before);
	if (rc == 0 && spec->fill == QUERY_FILL_LINEAR && after.seen && !after.have &&
	    after.t < INT64_MAX)
		rc = usable_anchor(st, tag, &spec->prm, false, after.t + 1, spec->deadline_ns, &after);
	if (rc == 0)
		rc = apply_fill(out, spec, &before, &after);
	return rc;
}

void query_buckets_free(struct query_buckets *b)
{
	free(b->b);
	free(b->filled);
	memset(b, 0, sizeof *b);
}

/* --- interpolated values ------------------------------------------------ */

/* Samples one at a time across a scan's blocks. */
struct sample_cursor {
	struct store_scan *sc;
	struct store_block blk;
	size_t i;
	bool ended;
	uint64_t deadline_ns;
};

/* 1 with the next sample's time, value and quality; 0 at the end. */
static int cursor_next(struct sample_cursor *c, int64_t *ts, double *v, quality_t *q)
{
	int rc;

	while (!c->ended && c->i >= c->blk.count) {
		rc = store_scan_next(c->sc, &c->blk);
		if (rc < 0)
			return rc;
		if (rc == 0)
			c->ended = true;
		c->i = 0;
		if (past_deadline(c->deadline_ns))
			return -ETIMEDOUT;
	}
	if (c->ended)
		return 0;
	*ts = c->blk.ts_ns[c->i];
	*v = block_value(&c->blk, c->i);
	*q = c->blk.quality[c->i];
	c->i++;
	return 1;
}

struct signal_point {
	bool have;
	int64_t ts;
	double v;
	quality_t q;
};

static void interp_one(const struct agg_params *prm, bool linear, int64_t t,
		       const struct signal_point *prev, const struct signal_point *next,
		       struct query_interp *out)
{
	bool next_ok;

	*out = (struct query_interp){t, NAN, AGG_Q_BAD};
	if (!prev->have || t > prm->now_ns || !agg_usable(prm->qmode, prev->v, prev->q))
		return;
	/* Sample i governs [t_i, t_i + stale), as in aggregates. */
	if (prm->stale_ns > 0 && t - prev->ts >= prm->stale_ns)
		return;
	out->v = prev->v;
	out->quality = quality_is_good(prev->q) ? AGG_Q_GOOD : AGG_Q_UNCERTAIN;
	next_ok = linear && next->have && next->ts > t && next->ts > prev->ts &&
		  agg_usable(prm->qmode, next->v, next->q) &&
		  (prm->stale_ns == 0 || next->ts - prev->ts <= prm->stale_ns);
	if (!next_ok || t == prev->ts)
		return;
	out->v = prev->v + (next->v - prev->v) * ((double)(t - prev->ts) / (double)(next->ts - prev->ts));
	if (!quality_is_good(next->q))
		out->quality = AGG_Q_UNCERTAIN;
}

int query_interpolated(struct store *st, const struct query_tag *tag, const struct agg_params *prm,
		       const int64_t *times, size_t n, uint64_t deadline_ns,
		       struct query_interp *out)
{
	struct sample_cursor cur = {.deadline_ns = deadline_ns};
	struct signal_point prev = {0}, peek = {0};
	bool linear = prm->linear && tag->type != VALUE_BOOL, after_read = false;
	int64_t end = times[n - 1] == INT64_MAX ? INT64_MAX : times[n - 1] + 1;
	struct store_point p;
	int rc;

	if (tag->type == VALUE_STRING)
		return -EINVAL;
	if ((rc = store_scan_open(st, tag->id, times[0], end, &cur.sc)) != 0)
		return rc;
	if ((rc = store_scan_before(cur.sc, &p)) == 1)
		prev = (struct signal_point){true, p.ts_ns, point_value(tag->type, &p), p.quality};
	if (rc >= 0)
		rc = cursor_next(&cur, &peek.ts, &peek.v, &peek.q);
	peek.have = rc == 1;
	for (size_t k = 0; k < n && rc >= 0; k++) {
		while (peek.have && peek.ts <= times[k] && rc >= 0) {
			prev = peek;
			rc = cursor_next(&cur, &peek.ts, &peek.v, &peek.q);
			peek.have = rc == 1;
		}
		if (rc < 0)
			break;
		if (!peek.have && !after_read && linear) {
			/* The first sample after the last time asked, once. */
			after_read = true;
			if ((rc = store_scan_after(cur.sc, &p)) == 1)
				peek = (struct signal_point){true, p.ts_ns, point_value(tag->type, &p),
							     p.quality};
			if (rc < 0)
				break;
			rc = 0;
		}
		interp_one(prm, linear, times[k], &prev, &peek, &out[k]);
	}
	store_scan_close(cur.sc);
	return rc < 0 ? rc : 0;
}

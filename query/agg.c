/* agg.c: the bucket accumulator behind agg.h: a walk along the signal that closes each bucket as time passes it.
 * Invariant: a->pos is how far the signal of the current bucket has been accounted; spans never overlap or skip. */
#include <math.h>
#include <string.h>

#include "query/agg.h"
#include "storage/store.h"

static const char *const fn_names[AGG_FN_COUNT] = {
	[AGG_TWA] = "twa",         [AGG_MEAN] = "mean",         [AGG_MIN] = "min",
	[AGG_MAX] = "max",         [AGG_COUNT] = "count",       [AGG_SUM] = "sum",
	[AGG_STDDEV] = "stddev",   [AGG_FIRST] = "first",       [AGG_LAST] = "last",
	[AGG_DELTA] = "delta",     [AGG_RANGE] = "range",       [AGG_INTEGRAL] = "integral",
	[AGG_PERCENT_GOOD] = "percent_good",
};

const char *agg_fn_name(enum agg_fn fn)
{
	return (unsigned)fn < AGG_FN_COUNT ? fn_names[fn] : "?";
}

int agg_fn_parse(const char *name, size_t len)
{
	for (int i = 0; i < AGG_FN_COUNT; i++)
		if (strlen(fn_names[i]) == len && memcmp(fn_names[i], name, len) == 0)
			return i;
	return -1;
}

bool agg_usable(enum agg_quality_mode mode, double v, quality_t q)
{
	if (isnan(v))
		return false;
	switch (mode) {
	case AGG_QMODE_NOT_BAD: return !quality_is_bad(q);
	case AGG_QMODE_GOOD: return quality_is_good(q);
	case AGG_QMODE_ALL: return true;
	}
	return false;
}

/* The sample after prev, as far as the current span knows it. */
struct next_sample {
	bool known;
	int64_t ts;
	double v;
	bool usable;
};

static void open_bucket(struct agg *a)
{
	int64_t t, lo, hi;

	a->in_bucket = bucket_plan_next(&a->plan, &t, &lo, &hi) == 1;
	if (!a->in_bucket) {
		a->finished = true;
		return;
	}
	memset(&a->cur, 0, sizeof a->cur);
	a->cur.t = t;
	a->cur.lo = lo;
	a->cur.hi = hi;
	for (int i = 0; i < AGG_FN_COUNT; i++)
		a->cur.v[i] = NAN;
	a->pos = lo;
	a->sum = a->m2 = a->mean_acc = a->integral_ns = 0;
	a->usable_ns = a->good_ns = 0;
	a->uncertain = false;
}

static double value_at(const struct agg *a, int64_t t, const struct next_sample *n)
{
	if (a->prm.linear && n->known && n->usable && n->ts > a->prev_ts &&
	    (a->prm.stale_ns == 0 || n->ts - a->prev_ts <= a->prm.stale_ns))
		return a->prev_v + (n->v - a->prev_v) * ((double)(t - a->prev_ts) /
							 (double)(n->ts - a->prev_ts));
	return a->prev_v;
}

/* Account the signal over [a->pos, to) of the current bucket. */
static void span_to(struct agg *a, int64_t to, const struct next_sample *n)
{
	int64_t from = a->pos, lim = to, d;
	double va, vb;

	a->pos = to;
	if (!a->have_prev || a->prm.skip_signal)
		return;
	if (from < a->prev_ts)
		from = a->prev_ts;
	if (a->prm.stale_ns > 0 && a->prev_ts <= INT64_MAX - a->prm.stale_ns &&
	    a->prev_ts + a->prm.stale_ns < lim)
		lim = a->prev_ts + a->prm.stale_ns;
	if (a->prm.now_ns < lim)
		lim = a->prm.now_ns;
	if (lim <= from)
		return;
	d = lim - from;
	if (quality_is_good(a->prev_q))
		a->good_ns += d;
	if (!a->prev_usable || !quality_is_good(a->prev_q))
		a->uncertain = true;
	if (!a->prev_usable)
		return;
	a->usable_ns += d;
	if (a->prm.skip_integral)
		return;
	va = value_at(a, from, n);
	vb = value_at(a, lim, n);
	a->integral_ns += (va + vb) * 0.5 * (double)d;
}

static int close_bucket(struct agg *a, const struct next_sample *n)
{
	struct agg_bucket *b = &a->cur;
	int64_t lim = b->hi < a->prm.now_ns ? b->hi : a->prm.now_ns;
	int rc;

	span_to(a, b->hi, n);
	if (a->usable_ns > 0 && !a->prm.skip_integral) {
		b->v[AGG_INTEGRAL] = a->integral_ns / 1e9;
		b->v[AGG_TWA] = a->integral_ns / (double)a->usable_ns;
	}
	if (lim > b->lo && !a->prm.skip_signal)
		b->v[AGG_PERCENT_GOOD] = 100.0 * (double)a->good_ns / (double)(lim - b->lo);
	b->v[AGG_COUNT] = (double)b->count;
	if (b->count > 0) {
		b->v[AGG_SUM] = a->sum;
		b->v[AGG_MEAN] = a->sum / (double)b->count;
		b->v[AGG_DELTA] = b->v[AGG_LAST] - b->v[AGG_FIRST];
		b->v[AGG_RANGE] = b->v[AGG_MAX] - b->v[AGG_MIN];
		if (b->count > 1 && !a->prm.skip_stddev)
			b->v[AGG_STDDEV] = sqrt(a->m2 / (double)(b->count - 1));
	}
	if (b->count == 0 && a->usable_ns == 0)
		b->quality = AGG_Q_BAD;
	else
		b->quality = a->uncertain ? AGG_Q_UNCERTAIN : AGG_Q_GOOD;
	rc = a->emit(a->emit_arg, b);
	if (rc != 0)
		a->err = rc;
	return rc;
}

/* Close every bucket that ends at or before t. */
static int advance_to(struct agg *a, int64_t t, const struct next_sample *n)
{
	while (a->in_bucket && t >= a->cur.hi) {
		if (close_bucket(a, n) != 0)
			return a->err;
		open_bucket(a);
	}
	return 0;
}

void agg_begin(struct agg *a, const struct agg_params *prm, const struct bucket_plan *plan,
	       agg_emit_fn emit, void *arg)
{
	memset(a, 0, sizeof *a);
	a->prm = *prm;
	a->plan = *plan;
	a->emit = emit;
	a->emit_arg = arg;
	open_bucket(a);
}

static void set_prev(struct agg *a, int64_t ts, double v, quality_t q, bool usable)
{
	a->have_prev = true;
	a->prev_ts = ts;
	a->prev_v = v;
	a->prev_q = q;
	a->prev_usable = usable;
}

void agg_before(struct agg *a, int64_t ts, double v, quality_t q)
{
	set_prev(a, ts, v, q, agg_usable(a->prm.qmode, v, q));
}

static void count_sample(struct agg *a, int64_t ts, double v)
{
	struct agg_bucket *b = &a->cur;
	double delta;

	b->count++;
	a->sum += v;
	if (!a->prm.skip_stddev) {
		delta = v - a->mean_acc;
		a->mean_acc += delta / (double)b->count;
		a->m2 += delta * (v - a->mean_acc);
	}
	if (b->count == 1) {
		b->v[AGG_FIRST] = v;
		b->first_ts = ts;
		b->v[AGG_MIN] = b->v[AGG_MAX] = v;
		b->min_ts = b->max_ts = ts;
	} else {
		if (v < b->v[AGG_MIN]) {
			b->v[AGG_MIN] = v;
			b->min_ts = ts;
		}
		if (v > b->v[AGG_MAX]) {
			b->v[AGG_MAX] = v;
			b->max_ts = ts;
		}
	}
	b->v[AGG_LAST] = v;
	b->last_ts = ts;
}

int agg_sample(struct agg *a, int64_t ts, double v, quality_t q)
{
	struct next_sample n = {true, ts, v, agg_usable(a->prm.qmode, v, q)};

	if (a->err || a->finished)
		return a->err;
	if (advance_to(a, ts, &n) != 0)
		return a->err;
	if (!a->in_bucket || ts < a->cur.lo)
		return 0;
	span_to(a, ts, &n);
	if (!n.usable || !quality_is_good(q))
		a->uncertain = true;
	if (n.usable)
		count_sample(a, ts, v);
	set_prev(a, ts, v, q, n.usable);
	return 0;
}

bool agg_chunk_usable(const struct agg *a, const struct store_chunk_stats *c, bool need_stddev,
		      bool need_minmax_ts, bool need_time_weighted)
{
	int64_t t, lo, hi;

	if (c->flags != 0 || c->count == 0 || a->err || a->finished)
		return false;
	if ((need_stddev || need_minmax_ts) && !c->has_ext)
		return false;
	/* The chunk's own integrals are gap-blind: with a stale timeout every
	 * gap must be within it, which only the v2 statistics tell. */
	if (need_time_weighted &&
	    ((!a->prm.linear && !c->has_ext) ||
	     (a->prm.stale_ns != 0 && (!c->has_ext || c->max_gap_ns > a->prm.stale_ns))))
		return false;
	if (c->t_max >= a->prm.now_ns || c->t_min < a->plan.start || c->t_max >= a->plan.end)
		return false;
	if (a->have_prev && c->t_min <= a->prev_ts)
		return false;
	bucket_plan_find(&a->plan, c->t_min, &t, &lo, &hi);
	return c->t_max < hi;
}

/* Merge a chunk's statistics into the open bucket (Chan et al.'s pairwise
 * update for the squared deviations). */
static void merge_chunk(struct agg *a, const struct store_chunk_stats *c)
{
	struct agg_bucket *b = &a->cur;
	double n_c = (double)c->count, mean_c = c->sum / n_c;

	if (b->count == 0) {
		a->mean_acc = mean_c;
		a->m2 = c->m2;
		b->v[AGG_FIRST] = c->first_v;
		b->first_ts = c->first_ts;
		b->v[AGG_MIN] = c->min;
		b->v[AGG_MAX] = c->max;
		b->min_ts = c->has_ext ? c->min_ts : c->first_ts;
		b->max_ts = c->has_ext ? c->max_ts : c->first_ts;
	} else {
		double n_a = (double)b->count, delta = mean_c - a->mean_acc;
		a->mean_acc += delta * n_c / (n_a + n_c);
		a->m2 += c->m2 + delta * delta * n_a * n_c / (n_a + n_c);
		if (c->min < b->v[AGG_MIN]) {
			b->v[AGG_MIN] = c->min;
			b->min_ts = c->min_ts;
		}
		if (c->max > b->v[AGG_MAX]) {
			b->v[AGG_MAX] = c->max;
			b->max_ts = c->max_ts;
		}
	}
	b->count += c->count;
	a->sum += c->sum;
	b->v[AGG_LAST] = c->last_v;
	b->last_ts = c->last_ts;
}

int agg_chunk(struct agg *a, const struct store_chunk_stats *c)
{
	quality_t lq = c->has_ext ? c->last_q : QUALITY_GOOD;
	struct next_sample n = {true, c->first_ts, c->first_v, true};
	int64_t d = c->last_ts - c->first_ts;

	if (a->err || a->finished)
		return a->err;
	if (advance_to(a, c->first_ts, &n) != 0)
		return a->err;
	if (!a->in_bucket)
		return 0;
	/* The signal up to the chunk's first sample, then the chunk's own span
	 * from its integral: every sample in it is good and usable (no flags). */
	span_to(a, c->first_ts, &n);
	merge_chunk(a, c);
	a->integral_ns += (a->prm.linear ? c->integral : c->integral_step) * 1e9;
	a->usable_ns += d;
	a->good_ns += d;
	a->pos = c->last_ts;
	set_prev(a, c->last_ts, c->last_v, lq, true);
	return 0;
}

void agg_after(struct agg *a, int64_t ts, double v, quality_t q)
{
	a->have_next = true;
	a->next_ts = ts;
	a->next_v = v;
	a->next_usable = agg_usable(a->prm.qmode, v, q);
}

int agg_end(struct agg *a)
{
	struct next_sample n = {a->have_next, a->next_ts, a->next_v, a->next_usable};

	if (a->err)
		return a->err;
	while (a->in_bucket) {
		if (close_bucket(a, &n) != 0)
			return a->err;
		open_bucket(a);
	}
	return 0;
}

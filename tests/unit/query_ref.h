/* query_ref.h: a naive reference of the query engine, written from the text of query/agg.h, query/bucket.h and
 * query/query.h alone, for check_query.c. It shares no code with query/: given every sample of a tag (sorted,
 * one per time, last write already won) it walks the signal span by span for each bucket.
 *
 * What query_aggregate spares (agg.h's skip_*) is read off the functions asked: no twa, integral or percent_good
 * skips the signal (quality then speaks of the bucket's own samples, bad when it has none), no twa or integral
 * skips the integral (both null), no stddev skips it.
 *
 * Readings taken where the headers leave room (each is a choice a plant engineer would expect; the report of the
 * test run lists them):
 *   - a stale timeout S cuts every sample's span at t_i + S, not only the last one's ("within its stale timeout");
 *   - a sample at or after now still counts for count/sum/mean/... (those are "over the usable samples with
 *     lo <= t < hi"), it just governs no time;
 *   - integral is null, not 0, when the bucket has no usable time ("an empty bucket (every value function null)");
 *   - a bucket is empty when every value function it computes is null: count == 0 and no twa (none asked, or no
 *     usable time). A bucket with a twa but no sample is not empty and is not filled;
 *   - "buckets that start at or after now are never filled" reads the start as lo, the bucket's part inside the
 *     range: a first bucket whose aligned start is before now but whose range part is wholly after it is future;
 *   - percent_good looks at the governing sample's quality only (a good NaN is good time);
 *   - time no sample governs (before the first sample, after a stale timeout) does not make a bucket uncertain:
 *     only samples in the bucket and samples governing part of it decide its quality;
 *   - fill LINEAR's "nearest non-null buckets" and "where no bucket is on that side" are per function: the nearest
 *     bucket whose value of that function is not null, else the sample beyond the range;
 *   - an interpolated value at exactly a sample's time is that sample's, with its quality: the next sample is not
 *     "used" (query.h: "quality is good when every sample used was good");
 *   - a trend width below a second is not rounded (bucket_plan_trend names no unit under a second).
 * The second half judges the engine's answers against the reference: what counts as equal (counts, times and sample
 * values exactly, sums and integrals to 1e-9 of the size of their terms), and a tally of mismatches by kind that
 * prints the first two of each kind with the samples around them.
 * Header-only and static: one translation unit (check_query.c) includes it. */
#ifndef HS_QUERY_REF_H
#define HS_QUERY_REF_H

#include <check.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/agg.h"
#include "query/query.h"
#include "query/tz.h"
#include "storage/sample.h"

struct ref_sample {
	int64_t ts;
	double v;
	quality_t q;
};

/* A tag's samples in strictly increasing time. */
struct ref_series {
	struct ref_sample *s;
	size_t n;
};

enum ref_kind { REF_FIXED, REF_POINTS, REF_CALENDAR, REF_TREND };

#define REF_SEC 1000000000LL

/* One aggregate request, in the terms of the headers. */
struct qcase {
	int tag;
	enum ref_kind kind;
	int64_t start, end;
	int64_t interval_ns;       /* REF_FIXED */
	uint64_t npoints;          /* REF_POINTS, REF_TREND */
	const struct tz *tz;       /* REF_CALENDAR */
	enum tz_unit unit;
	struct agg_params prm;
	uint32_t fns;
	bool need_minmax_ts;
	enum query_fill fill;
	double fill_value;
	size_t max_buckets;
};

struct ref_bucket {
	int64_t t, lo, hi;
	uint64_t count;
	double v[AGG_FN_COUNT];    /* NaN: null */
	double mag[AGG_FN_COUNT];  /* the size of the terms behind v, for tolerances */
	int64_t first_ts, last_ts;
	int64_t usable_ns;
	enum agg_result_quality quality;
	bool empty;                /* every value function null, before fill */
	bool filled;
};

/* Severity: bits 15-14 of the quality, 00 good, 01 uncertain, 10 (and 11) bad. */
static bool ref_good(quality_t q)
{
	return (q >> 14) == 0;
}

static bool ref_bad(quality_t q)
{
	return (q >> 14) >= 2;
}

/* agg.h: "usable when its value is not NaN and its quality passes the request's quality mode". */
static bool ref_usable(const struct agg_params *p, const struct ref_sample *s)
{
	if (isnan(s->v))
		return false;
	switch (p->qmode) {
	case AGG_QMODE_GOOD:
		return ref_good(s->q);
	case AGG_QMODE_ALL:
		return true;
	default:
		return !ref_bad(s->q);
	}
}

/* The first index whose time is >= t (n when none). */
static size_t ref_lower(const struct ref_series *r, int64_t t)
{
	size_t lo = 0, hi = r->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r->s[mid].ts < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Sample i governs [t_i, this): up to the next sample, its stale timeout and now. */
static int64_t ref_gov_end(const struct ref_series *r, const struct agg_params *p, size_t i)
{
	int64_t end = i + 1 < r->n ? r->s[i + 1].ts : INT64_MAX;

	if (p->stale_ns > 0 && r->s[i].ts + p->stale_ns < end)
		end = r->s[i].ts + p->stale_ns;
	return end < p->now_ns ? end : p->now_ns;
}

/* Is sample i's span a line to sample i+1? */
static bool ref_span_linear(const struct ref_series *r, const struct agg_params *p, size_t i)
{
	if (!p->linear || i + 1 >= r->n || !ref_usable(p, &r->s[i + 1]))
		return false;
	return p->stale_ns == 0 || r->s[i + 1].ts - r->s[i].ts <= p->stale_ns;
}

/* The signal at t inside sample i's span. */
static double ref_at(const struct ref_series *r, const struct agg_params *p, size_t i, int64_t t)
{
	const struct ref_sample *a = &r->s[i];

	if (!ref_span_linear(r, p, i))
		return a->v;
	return a->v + (a[1].v - a->v) * ((double)(t - a->ts) / (double)(a[1].ts - a->ts));
}

static int64_t ref_min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

static int64_t ref_max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

/* count, sum, mean, min, max, stddev, first, last, delta, range over the usable samples in [lo, hi). */
static void ref_bucket_samples(const struct ref_series *r, const struct agg_params *p, struct ref_bucket *b,
			       bool *uncertain)
{
	size_t a = ref_lower(r, b->lo), z = ref_lower(r, b->hi);
	double sum = 0, sumabs = 0, maxabs = 0, mn = INFINITY, mx = -INFINITY;
	uint64_t n = 0;

	for (size_t i = a; i < z; i++) {
		const struct ref_sample *s = &r->s[i];
		bool ok = ref_usable(p, s);
		if (!ok || !ref_good(s->q))
			*uncertain = true;
		if (!ok)
			continue;
		if (n++ == 0) {
			b->v[AGG_FIRST] = s->v;
			b->first_ts = s->ts;
		}
		b->v[AGG_LAST] = s->v;
		b->last_ts = s->ts;
		sum += s->v;
		sumabs += fabs(s->v);
		maxabs = fmax(maxabs, fabs(s->v));
		mn = fmin(mn, s->v);
		mx = fmax(mx, s->v);
	}
	b->count = n;
	b->v[AGG_COUNT] = (double)n;
	if (n == 0)
		return;
	b->v[AGG_SUM] = sum;
	b->mag[AGG_SUM] = sumabs;
	b->v[AGG_MEAN] = sum / (double)n;
	b->mag[AGG_MEAN] = maxabs;
	b->v[AGG_MIN] = mn;
	b->v[AGG_MAX] = mx;
	b->v[AGG_DELTA] = b->v[AGG_LAST] - b->v[AGG_FIRST];
	b->v[AGG_RANGE] = mx - mn;
	b->mag[AGG_STDDEV] = maxabs;
	if (n >= 2) {
		double mean = b->v[AGG_MEAN], ss = 0;
		for (size_t i = a; i < z; i++)
			if (ref_usable(p, &r->s[i]))
				ss += (r->s[i].v - mean) * (r->s[i].v - mean);
		b->v[AGG_STDDEV] = sqrt(ss / (double)(n - 1));
	}
}

/* integral, twa, percent_good: every span that reaches into [lo, hi), clipped to it. */
static void ref_bucket_spans(const struct ref_series *r, const struct agg_params *p, struct ref_bucket *b,
			     bool *uncertain)
{
	size_t a = ref_lower(r, b->lo), z = ref_lower(r, b->hi);
	double integral = 0, mag = 0;
	int64_t usable = 0, good = 0;

	for (size_t i = a > 0 ? a - 1 : 0; i < z; i++) {
		int64_t s0 = ref_max64(r->s[i].ts, b->lo), s1 = ref_min64(ref_gov_end(r, p, i), b->hi);
		if (s0 >= s1)
			continue;
		bool ok = ref_usable(p, &r->s[i]);
		if (!ok || !ref_good(r->s[i].q))
			*uncertain = true;
		if (ref_good(r->s[i].q))
			good += s1 - s0;
		if (!ok)
			continue;
		double va = ref_at(r, p, i, s0), vb = ref_at(r, p, i, s1), secs = (double)(s1 - s0) / 1e9;
		usable += s1 - s0;
		integral += secs * (va + vb) / 2;
		mag += secs * (fabs(va) + fabs(vb)) / 2;
	}
	b->usable_ns = usable;
	if (usable > 0) {
		b->v[AGG_INTEGRAL] = integral;
		b->mag[AGG_INTEGRAL] = mag;
		b->v[AGG_TWA] = integral / ((double)usable / 1e9);
		b->mag[AGG_TWA] = mag / ((double)usable / 1e9);
	}
	int64_t end = ref_min64(b->hi, p->now_ns);
	if (end > b->lo)
		b->v[AGG_PERCENT_GOOD] = 100.0 * (double)good / (double)(end - b->lo);
}

/* One bucket. fns decides what is spared: without twa, integral and percent_good the signal is not walked. */
static void ref_bucket_compute(const struct ref_series *r, const struct agg_params *p, uint32_t fns,
			       struct ref_bucket *b)
{
	bool uncertain = false;
	bool signal = fns & (1u << AGG_TWA | 1u << AGG_INTEGRAL | 1u << AGG_PERCENT_GOOD);

	for (int f = 0; f < AGG_FN_COUNT; f++) {
		b->v[f] = NAN;
		b->mag[f] = 0;
	}
	b->first_ts = b->last_ts = 0;
	b->usable_ns = 0;
	b->filled = false;
	ref_bucket_samples(r, p, b, &uncertain);
	if (signal)
		ref_bucket_spans(r, p, b, &uncertain);
	if (!(fns & (1u << AGG_TWA | 1u << AGG_INTEGRAL)))
		b->v[AGG_TWA] = b->v[AGG_INTEGRAL] = NAN;
	if (!(fns & (1u << AGG_STDDEV)))
		b->v[AGG_STDDEV] = NAN;
	if (b->count == 0 && b->usable_ns == 0)
		b->quality = AGG_Q_BAD;
	else
		b->quality = uncertain ? AGG_Q_UNCERTAIN : AGG_Q_GOOD;
	b->empty = b->count == 0 && isnan(b->v[AGG_TWA]); /* no sample, and no twa (spared, or no usable time) */
}

/* How many epoch-aligned buckets of width w cover [start, end). */
static int64_t ref_fixed_count(int64_t start, int64_t end, int64_t w)
{
	int64_t a = start / w - (start % w < 0), z = (end - 1) / w - ((end - 1) % w < 0);

	return z - a + 1;
}

/* bucket_plan_trend's width: (end - start) / n rounded up to the unit it reaches, widened by that unit until at
 * most n buckets cover the range; 1 ns for spans below n ns. */
static int64_t ref_trend_width(int64_t start, int64_t end, uint64_t n)
{
	int64_t span = end - start, w, unit;

	if (span < (int64_t)n)
		return 1;
	w = (span + (int64_t)n - 1) / (int64_t)n;
	unit = w >= 3600 * REF_SEC ? 3600 * REF_SEC : w >= 60 * REF_SEC ? 60 * REF_SEC : w >= REF_SEC ? REF_SEC : 1;
	w = (w + unit - 1) / unit * unit;
	while (ref_fixed_count(start, end, w) > (int64_t)n)
		w += unit;
	return w;
}

static void ref_push(struct ref_bucket **v, size_t *n, size_t *cap, int64_t t, int64_t lo, int64_t hi)
{
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 64;
		*v = realloc(*v, *cap * sizeof **v);
		ck_assert_ptr_nonnull(*v);
	}
	(*v)[(*n)++] = (struct ref_bucket){.t = t, .lo = lo, .hi = hi};
}

/* bucket.h's buckets of [start, end), each with its aligned start and its part inside the range. */
static size_t ref_plan(const struct qcase *q, struct ref_bucket **out)
{
	size_t n = 0, cap = 0;
	*out = NULL;

	if (q->kind == REF_FIXED || q->kind == REF_TREND) {
		int64_t w = q->kind == REF_FIXED ? q->interval_ns : ref_trend_width(q->start, q->end, q->npoints);
		int64_t k = q->start / w;
		if (q->start % w < 0)
			k--;
		for (int64_t t = k * w; t < q->end; t += w)
			ref_push(out, &n, &cap, t, ref_max64(t, q->start), ref_min64(t + w, q->end));
	} else if (q->kind == REF_POINTS) {
		int64_t w = (q->end - q->start + (int64_t)q->npoints - 1) / (int64_t)q->npoints;
		for (int64_t t = q->start; t < q->end; t += w)
			ref_push(out, &n, &cap, t, t, ref_min64(t + w, q->end));
	} else {
		int64_t t = q->start, s, next;
		while (t < q->end) {
			ck_assert_int_eq(tz_floor(q->tz, t, q->unit, &s, &next), 0);
			ck_assert_int_gt(next, t);
			ref_push(out, &n, &cap, s, ref_max64(s, q->start), ref_min64(next, q->end));
			t = next;
		}
	}
	return n;
}

/* The last usable sample before t, or (after) the first usable one at or after t. */
static const struct ref_sample *ref_usable_near(const struct ref_series *r, const struct agg_params *p, int64_t t,
						bool after)
{
	size_t i = ref_lower(r, t);

	if (after) {
		for (; i < r->n; i++)
			if (ref_usable(p, &r->s[i]))
				return &r->s[i];
		return NULL;
	}
	while (i-- > 0)
		if (ref_usable(p, &r->s[i]))
			return &r->s[i];
	return NULL;
}

static bool ref_empty(const struct ref_bucket *b)
{
	return b->empty;
}

/* An empty bucket that fill touches: not one wholly in the future, where nothing is known yet. */
static bool ref_to_fill(const struct ref_bucket *b, const struct agg_params *p)
{
	return ref_empty(b) && b->lo < p->now_ns;
}

/* Fill touches every function asked but count and percent_good (a function
 * not asked is not in the answer: filling it would mark a bucket filled for
 * nothing the client sees). */
static bool ref_fillable_of(const struct qcase *q, int f)
{
	return f != AGG_COUNT && f != AGG_PERCENT_GOOD && (q->fns & (1u << f));
}

/* Can a sample's value stand in for function f when filling? query.h: for twa, mean, min, max, first and last
 * only ("a sum, delta, range, stddev or integral is not a sample value"). */
static bool ref_value_like(int f)
{
	return f == AGG_TWA || f == AGG_MEAN || f == AGG_MIN || f == AGG_MAX || f == AGG_FIRST || f == AGG_LAST;
}

static void ref_fill_previous(const struct ref_series *r, const struct qcase *q, struct ref_bucket *b, size_t n)
{
	const struct ref_sample *before = ref_usable_near(r, &q->prm, q->start, false);
	double last[AGG_FN_COUNT];

	for (int f = 0; f < AGG_FN_COUNT; f++)
		last[f] = NAN;
	for (size_t k = 0; k < n; k++) {
		if (!ref_empty(&b[k])) {
			for (int f = 0; f < AGG_FN_COUNT; f++)
				if (!isnan(b[k].v[f]))
					last[f] = b[k].v[f];
		}
		if (!ref_to_fill(&b[k], &q->prm))
			continue;
		for (int f = 0; f < AGG_FN_COUNT; f++) {
			double v = !isnan(last[f]) ? last[f] : before && ref_value_like(f) ? before->v : NAN;
			if (!ref_fillable_of(q, f) || isnan(v))
				continue;
			b[k].v[f] = v;
			b[k].mag[f] = fabs(v);
			b[k].filled = true;
		}
	}
}

/* Interpolate function f of the empty bucket k between its non-null neighbours (or the samples around the range). */
static void ref_fill_linear_one(const struct ref_series *r, const struct qcase *q, struct ref_bucket *b, size_t n,
				size_t k, int f)
{
	const struct ref_sample *s;
	int64_t xa = 0, xb = 0; /* ns: as doubles they keep only 256 ns near 2024 */
	double ya = NAN, yb = NAN;

	for (size_t j = k; j-- > 0;)
		if (!ref_empty(&b[j]) && !isnan(b[j].v[f])) {
			xa = b[j].lo;
			ya = b[j].v[f];
			break;
		}
	if (isnan(ya) && ref_value_like(f) && (s = ref_usable_near(r, &q->prm, q->start, false)) != NULL) {
		xa = s->ts;
		ya = s->v;
	}
	for (size_t j = k + 1; j < n; j++)
		if (!ref_empty(&b[j]) && !isnan(b[j].v[f])) {
			xb = b[j].lo;
			yb = b[j].v[f];
			break;
		}
	if (isnan(yb) && ref_value_like(f) && (s = ref_usable_near(r, &q->prm, q->end, true)) != NULL) {
		xb = s->ts;
		yb = s->v;
	}
	if (isnan(ya) || isnan(yb))
		return;
	b[k].v[f] = ya + (yb - ya) * ((double)(b[k].lo - xa) / (double)(xb - xa));
	b[k].mag[f] = fmax(fabs(ya), fabs(yb));
	b[k].filled = true;
}

/* Apply q->fill; returns how many buckets are left (NONE drops the empty ones). */
static size_t ref_fill(const struct ref_series *r, const struct qcase *q, struct ref_bucket *b, size_t n)
{
	size_t m = 0;

	switch (q->fill) {
	case QUERY_FILL_PREVIOUS:
		ref_fill_previous(r, q, b, n);
		break;
	case QUERY_FILL_LINEAR:
		for (size_t k = 0; k < n; k++)
			for (int f = 0; f < AGG_FN_COUNT && ref_to_fill(&b[k], &q->prm); f++)
				if (ref_fillable_of(q, f))
					ref_fill_linear_one(r, q, b, n, k, f);
		break;
	case QUERY_FILL_VALUE:
		for (size_t k = 0; k < n; k++) {
			if (!ref_to_fill(&b[k], &q->prm))
				continue;
			for (int f = 0; f < AGG_FN_COUNT; f++)
				if (ref_fillable_of(q, f)) {
					b[k].v[f] = q->fill_value;
					b[k].filled = true;
				}
		}
		break;
	case QUERY_FILL_NONE:
		for (size_t k = 0; k < n; k++)
			if (!ref_empty(&b[k]))
				b[m++] = b[k];
		return m;
	default:
		break;
	}
	for (size_t k = 0; k < n; k++)
		if (b[k].filled)
			b[k].quality = AGG_Q_UNCERTAIN;
	return n;
}

/* The whole answer of q over r: *out (caller frees) holds the buckets left after fill; *nplan is the plan's
 * bucket count before fill (what max_buckets limits). */
static size_t ref_aggregate(const struct ref_series *r, const struct qcase *q, struct ref_bucket **out,
			    size_t *nplan)
{
	size_t n = ref_plan(q, out);

	*nplan = n;
	for (size_t k = 0; k < n; k++)
		ref_bucket_compute(r, &q->prm, q->fns, &(*out)[k]);
	return ref_fill(r, q, *out, n);
}

/* query.h's interpolated value at t. Booleans are always step. */
static void ref_interp(const struct ref_series *r, const struct agg_params *prm, bool is_bool, int64_t t, double *v,
		       enum agg_result_quality *quality)
{
	struct agg_params p = *prm;
	size_t i = ref_lower(r, t + 1); /* the first sample after t */
	bool good;

	*v = NAN;
	*quality = AGG_Q_BAD;
	if (i == 0 || t > p.now_ns) /* t == now has the latest value */
		return;
	i--;
	if (!ref_usable(&p, &r->s[i]) || (p.stale_ns > 0 && t >= r->s[i].ts + p.stale_ns))
		return;
	p.linear = p.linear && !is_bool;
	*v = ref_at(r, &p, i, t);
	good = ref_good(r->s[i].q);
	/* On a sample's own time the value is the sample's: the next one is not used (query.h leaves it open). */
	if (t > r->s[i].ts && ref_span_linear(r, &p, i))
		good = good && ref_good(r->s[i + 1].q);
	*quality = good ? AGG_Q_GOOD : AGG_Q_UNCERTAIN;
}

/* --- judging the engine's answers ------------------------------------------------ */

static const char *const fn_names[AGG_FN_COUNT] = {
	"twa", "mean", "min", "max", "count", "sum", "stddev", "first", "last", "delta", "range", "integral",
	"percent_good",
};
static const char *const fill_names[] = {"null", "none", "previous", "linear", "value"};
static const char *const qmode_names[] = {"not_bad", "good", "all"};
static const char *const quality_names[] = {"good", "uncertain", "bad"};

__attribute__((format(printf, 3, 4))) static void bprintf(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;

	if (used + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

/* The samples around [lo, hi): two before, those inside (elided past 40), two after. */
static void dump_samples(const struct ref_series *r, int64_t lo, int64_t hi)
{
	size_t a = ref_lower(r, lo), z = ref_lower(r, hi);
	size_t from = a >= 2 ? a - 2 : 0, to = z + 2 < r->n ? z + 2 : r->n;

	fprintf(stderr, "  samples around [%" PRId64 ", %" PRId64 "): %zu inside\n", lo, hi, z - a);
	for (size_t i = from; i < to; i++) {
		if (to - from > 44 && i == from + 22) {
			fprintf(stderr, "  ...\n");
			i = to - 22;
		}
		fprintf(stderr, "  %s ts %" PRId64 " (lo %+.9f s) v %.17g q 0x%04x\n", i >= a && i < z ? "in " : "out",
			r->s[i].ts, (double)(r->s[i].ts - lo) / 1e9, r->s[i].v, r->s[i].q);
	}
}

/* Mismatches, tallied by kind: a random test runs all its queries, prints the first two of each kind in full
 * and fails at the end naming every kind, so one fault does not hide another. */
struct tally {
	char kind[96];
	unsigned count;
	char first[1024];
};

static struct tally tallies[48];
static size_t ntallies;

static void tally_reset(void)
{
	ntallies = 0;
	memset(tallies, 0, sizeof tallies);
}

/* Count a mismatch of this kind; true when it is among the first two (print it). */
static bool tally_add(const char *kind, const char *msg)
{
	size_t i;

	for (i = 0; i < ntallies && strcmp(tallies[i].kind, kind) != 0; i++)
		;
	if (i == ntallies) {
		ck_assert_uint_lt(ntallies, sizeof tallies / sizeof tallies[0]);
		snprintf(tallies[i].kind, sizeof tallies[i].kind, "%s", kind);
		snprintf(tallies[i].first, sizeof tallies[i].first, "%s", msg);
		ntallies++;
	}
	fprintf(stderr, "%sMISMATCH (%s) %s\n", tallies[i].count < 2 ? "\n" : "", kind, msg);
	return ++tallies[i].count <= 2;
}

/* Fail when anything was tallied, with one line per kind (the first of each in full on stderr). */
static void tally_check(const char *test, uint64_t run_seed)
{
	char sum[2048] = "";

	for (size_t i = 0; i < ntallies; i++) {
		fprintf(stderr, "%s: %u x %s; first: %s\n", test, tallies[i].count, tallies[i].kind, tallies[i].first);
		bprintf(sum, sizeof sum, "\n  %u x %s", tallies[i].count, tallies[i].kind);
	}
	ck_assert_msg(ntallies == 0, "%s (seed %" PRIu64 "): %zu kinds of mismatch (details on stderr):%s", test,
		      run_seed, ntallies, sum);
}

static bool exact_fn(int f)
{
	return f == AGG_COUNT || f == AGG_MIN || f == AGG_MAX || f == AGG_FIRST || f == AGG_LAST || f == AGG_DELTA ||
	       f == AGG_RANGE;
}

/* Counts, sample values and their differences exactly; sums and integrals to 1e-9 of their terms' size;
 * stddev through its variance (Welford and two passes round differently). */
static bool fn_matches(int f, const struct ref_bucket *w, double got)
{
	double a = w->v[f];

	if (isnan(a) || isnan(got))
		return isnan(a) && isnan(got);
	if (!w->filled && exact_fn(f))
		return a == got;
	if (!w->filled && f == AGG_STDDEV)
		return fabs(a * a - got * got) <=
		       1e-9 * (a * a + got * got) + 1e-12 * (double)w->count * w->mag[f] * w->mag[f];
	return fabs(a - got) <= 1e-9 * (fmax(fabs(a), fabs(got)) + w->mag[f]) + 1e-9;
}

/* Is there a usable sample of value v at ts inside [lo, hi)? (min_ts/max_ts; ties may name any.) */
static bool sample_at(const struct ref_series *r, const struct agg_params *p, const struct ref_bucket *w, int64_t ts,
		      double v)
{
	size_t i = ref_lower(r, ts);

	return ts >= w->lo && ts < w->hi && i < r->n && r->s[i].ts == ts && ref_usable(p, &r->s[i]) &&
	       r->s[i].v == v;
}

static bool sample_matches(enum value_type type, const struct ref_sample *w, const struct query_sample *g)
{
	if (g->ts != w->ts || g->quality != w->q)
		return false;
	if (type == VALUE_FLOAT64)
		return isnan(w->v) ? isnan(g->f64) : g->f64 == w->v;
	return g->i64 == (int64_t)w->v;
}

#endif

/* bucket.c: bucket edges for aggregates and trends, behind bucket.h.
 * Fixed buckets floor toward minus infinity (so negative times align too); calendar buckets ask tz_floor. */
#include <errno.h>
#include <stddef.h>

#include "query/bucket.h"

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

int bucket_plan_fixed(struct bucket_plan *p, int64_t start, int64_t end, int64_t interval_ns)
{
	int64_t k;

	if (start >= end || interval_ns <= 0)
		return -EINVAL;
	k = floor_div(start, interval_ns);
	if (__builtin_mul_overflow(k, interval_ns, &p->cursor))
		return -ERANGE;
	p->kind = BUCKET_FIXED;
	p->start = start;
	p->end = end;
	p->interval_ns = interval_ns;
	p->tz = NULL;
	p->done = false;
	return 0;
}

int bucket_plan_calendar(struct bucket_plan *p, int64_t start, int64_t end, const struct tz *tz,
			 enum tz_unit unit)
{
	int64_t s, n;

	if (start >= end || !tz)
		return -EINVAL;
	if (tz_floor(tz, end - 1, unit, &s, &n) != 0 || tz_floor(tz, start, unit, &s, &n) != 0)
		return -ERANGE;
	p->kind = BUCKET_CALENDAR;
	p->start = start;
	p->end = end;
	p->interval_ns = 0;
	p->tz = tz;
	p->unit = unit;
	p->cursor = s;
	p->done = false;
	return 0;
}

int bucket_plan_points(struct bucket_plan *p, int64_t start, int64_t end, uint64_t n)
{
	uint64_t span;

	if (start >= end || n == 0)
		return -EINVAL;
	span = (uint64_t)end - (uint64_t)start;
	p->kind = BUCKET_POINTS;
	p->start = start;
	p->end = end;
	p->interval_ns = (int64_t)(span / n + (span % n != 0));
	p->tz = NULL;
	p->cursor = start;
	p->done = false;
	return 0;
}

/* Aligned [t, next) of the bucket holding t; next saturates at INT64_MAX. */
static void aligned(const struct bucket_plan *p, int64_t t, int64_t *b0, int64_t *b1)
{
	switch (p->kind) {
	case BUCKET_FIXED:
		*b0 = floor_div(t, p->interval_ns) * p->interval_ns;
		break;
	case BUCKET_POINTS:
		*b0 = p->start + (int64_t)(((uint64_t)t - (uint64_t)p->start) /
					   (uint64_t)p->interval_ns * (uint64_t)p->interval_ns);
		break;
	case BUCKET_CALENDAR:
		/* The plan's range was checked at setup: no edge overflows. */
		if (tz_floor(p->tz, t, p->unit, b0, b1) != 0)
			*b0 = t, *b1 = INT64_MAX;
		return;
	}
	if (__builtin_add_overflow(*b0, p->interval_ns, b1))
		*b1 = INT64_MAX;
}

void bucket_plan_find(const struct bucket_plan *p, int64_t t, int64_t *t_out, int64_t *lo,
		      int64_t *hi)
{
	int64_t b0, b1;

	aligned(p, t, &b0, &b1);
	*t_out = b0;
	*lo = b0 < p->start ? p->start : b0;
	*hi = b1 > p->end ? p->end : b1;
}

int bucket_plan_next(struct bucket_plan *p, int64_t *t, int64_t *lo, int64_t *hi)
{
	int64_t probe;

	if (p->done)
		return 0;
	probe = p->cursor < p->start ? p->start : p->cursor;
	if (probe >= p->end) {
		p->done = true;
		return 0;
	}
	bucket_plan_find(p, probe, t, lo, hi);
	if (*hi >= p->end)
		p->done = true;
	else
		p->cursor = *hi;
	return 1;
}

uint64_t bucket_plan_count(const struct bucket_plan *p, uint64_t cap)
{
	struct bucket_plan walk = *p;
	int64_t t, lo, hi;
	uint64_t n = 0;

	if (p->kind != BUCKET_CALENDAR) {
		int64_t first, last, dummy;
		aligned(p, p->start, &first, &dummy);
		aligned(p, p->end - 1, &last, &dummy);
		n = ((uint64_t)last - (uint64_t)first) / (uint64_t)p->interval_ns + 1;
		return n > cap ? cap : n;
	}
	while (n < cap && bucket_plan_next(&walk, &t, &lo, &hi) == 1)
		n++;
	return n;
}

int bucket_plan_trend(struct bucket_plan *p, int64_t start, int64_t end, uint64_t n)
{
	static const int64_t units[] = {3600000000000LL, 60000000000LL, 1000000000LL, 1};
	uint64_t span, width;
	int64_t unit = 1;
	int rc;

	if (start >= end || n == 0)
		return -EINVAL;
	span = (uint64_t)end - (uint64_t)start;
	width = span / n + (span % n != 0);
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
		if (width >= (uint64_t)units[i]) {
			unit = units[i];
			break;
		}
	width = (width + (uint64_t)unit - 1) / (uint64_t)unit * (uint64_t)unit;
	for (;;) {
		if (width > (uint64_t)INT64_MAX)
			return -ERANGE;
		if ((rc = bucket_plan_fixed(p, start, end, (int64_t)width)) != 0)
			return rc;
		if (bucket_plan_count(p, n + 1) <= n)
			return 0;
		width += (uint64_t)unit;
	}
}

/* bucket.h: the bucket edges of an aggregate or trend query: fixed intervals aligned to the epoch, calendar days,
 * weeks and months in a time zone, or N equal pixel buckets. Pure: no I/O, no clock; the zone comes in loaded. */
#ifndef HS_BUCKET_H
#define HS_BUCKET_H

#include <stdbool.h>
#include <stdint.h>

#include "query/tz.h"

enum bucket_kind {
	BUCKET_FIXED,    /* [k*interval, (k+1)*interval) for every integer k */
	BUCKET_CALENDAR, /* days, ISO weeks or months of a zone (tz_floor) */
	BUCKET_POINTS,   /* n equal buckets: [start + k*w, start + (k+1)*w), w = ceil((end-start)/n) */
};

/* Which buckets cover [start, end). The first and last bucket may reach
 * outside the range: their aligned edges are what a bucket is named by
 * (bucket_next's *t), but every computation uses the part inside. */
struct bucket_plan {
	enum bucket_kind kind;
	int64_t start, end;      /* the query range, start < end */
	int64_t interval_ns;     /* FIXED, and the width of POINTS */
	const struct tz *tz;     /* CALENDAR */
	enum tz_unit unit;       /* CALENDAR */
	int64_t cursor;          /* the next bucket's aligned start (iteration) */
	bool done;
};

/* Set the plan up. Return 0, or -EINVAL (start >= end, interval <= 0,
 * n == 0) or -ERANGE (an edge outside int64 nanoseconds). */
int bucket_plan_fixed(struct bucket_plan *p, int64_t start, int64_t end, int64_t interval_ns)
	__attribute__((warn_unused_result));
int bucket_plan_calendar(struct bucket_plan *p, int64_t start, int64_t end, const struct tz *tz,
			 enum tz_unit unit) __attribute__((warn_unused_result));
int bucket_plan_points(struct bucket_plan *p, int64_t start, int64_t end, uint64_t n)
	__attribute__((warn_unused_result));

/* The buckets of a trend of at most n points: fixed buckets aligned to the
 * epoch whose width is (end - start) / n rounded up to a whole second,
 * minute or hour (whichever unit the width reaches) and widened by that
 * unit until at most n buckets cover the range. Whole-hour widths let
 * long trends be answered from chunk statistics; a pixel does not care
 * that its bucket is 9 h instead of 8.78 h. Spans below n ns get 1 ns. */
int bucket_plan_trend(struct bucket_plan *p, int64_t start, int64_t end, uint64_t n)
	__attribute__((warn_unused_result));

/* The aligned bucket that contains t (start <= t < end required): its
 * aligned start in *t_out, and its part inside the range as [*lo, *hi). */
void bucket_plan_find(const struct bucket_plan *p, int64_t t, int64_t *t_out, int64_t *lo,
		      int64_t *hi);

/* Iterate the buckets in time order. 1 with the next bucket (aligned start
 * *t, part inside the range [*lo, *hi), lo < hi), 0 after the last. */
int bucket_plan_next(struct bucket_plan *p, int64_t *t, int64_t *lo, int64_t *hi);

/* How many buckets the plan has, counted without iterating when the kind
 * allows (FIXED, POINTS) and by walking otherwise; stops counting at cap. */
uint64_t bucket_plan_count(const struct bucket_plan *p, uint64_t cap);

#endif

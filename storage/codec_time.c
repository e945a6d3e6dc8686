/* codec_time.c: the time column (chunk_format.h "TIME COLUMN"): steps divided by their common divisor, then an int stream.
 * Regular sampling becomes a constant stream, jitter a narrow PFOR stream; the decoder proves the times strictly increase to t_max. */
#include <errno.h>
#include <stdlib.h>

#include "storage/chunk_format.h"
#include "storage/codec.h"

static uint64_t gcd64(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

/* Steps as quotients of their greatest common divisor, *g. */
static uint64_t *time_quotients(const int64_t *ts, size_t n, uint64_t *g_out)
{
	uint64_t *q = malloc((n - 1) * sizeof *q), g = 0, prev = 0, prev_q = 0;

	if (!q)
		return NULL;
	/* Steps as unsigned: any two int64 times differ by < 2^64. Most
	 * steps repeat the one before, which skips the division. */
	for (size_t i = 1; i < n; i++) {
		uint64_t d = (uint64_t)ts[i] - (uint64_t)ts[i - 1];
		q[i - 1] = d;
		if (d != prev && g != 1 && (g == 0 || d % g))
			g = gcd64(g, d);
		prev = d;
	}
	prev = 0;
	if (g > 1) {
		for (size_t i = 0; i < n - 1; i++) {
			if (q[i] != prev) {
				prev = q[i];
				prev_q = q[i] / g;
			}
			q[i] = prev_q;
		}
	}
	*g_out = g;
	return q;
}

/* TIME_GRID: offsets from t_min + i * s * g, s the mean step (rounded).
 * Times polled on a grid with independent jitter cost the jitter's
 * range, where steps would cost twice that. Reuses q for the offsets. */
static int time_grid_write(struct codec_buf *b, const int64_t *ts, size_t n, uint64_t g, uint64_t *q)
{
	uint64_t span = ((uint64_t)ts[n - 1] - (uint64_t)ts[0]) / g, m = n - 1, r = span % m;
	uint64_t s = span / m + (r >= m - r); /* rounded; >= 1 as span >= m */

	for (size_t i = 1; i < n; i++)
		q[i - 1] = ((uint64_t)ts[i] - (uint64_t)ts[0]) / g - (uint64_t)i * s;
	codec_put_varint(b, g);
	codec_put_varint(b, s);
	return codec_int_encode(b, q, n - 1);
}

int codec_time_encode(struct codec_buf *b, const int64_t *ts, size_t n)
{
	struct codec_buf grid = CODEC_BUF_INIT;
	uint64_t *q, g;
	size_t at = b->len;
	int rc;

	if (n <= 1)
		return CHUNK_ENC_TIME_DELTA;
	q = time_quotients(ts, n, &g);
	if (!q)
		return -ENOMEM;
	codec_put_varint(b, g);
	if ((rc = codec_int_encode(b, q, n - 1)))
		goto out;
	rc = CHUNK_ENC_TIME_DELTA;
	/* Regular steps (a constant stream) cannot be beaten. */
	if (n < 3 || b->data[at + codec_varint_len(g)] == CHUNK_INT_CONST)
		goto out;
	if ((rc = time_grid_write(&grid, ts, n, g, q)))
		goto out;
	rc = CHUNK_ENC_TIME_DELTA;
	if (grid.len < b->len - at) {
		b->len = at;
		codec_put_bytes(b, grid.data, grid.len);
		rc = CHUNK_ENC_TIME_GRID;
	}
out:
	free(q);
	codec_buf_free(&grid);
	if (rc > 0 && b->failed)
		rc = -ENOMEM;
	return rc;
}

static int time_delta_read(struct codec_cur *c, int64_t t_min, int64_t t_max, int64_t *out, size_t n)
{
	/* out[1..] first holds the quotients: uint64_t may alias int64_t. */
	uint64_t *q = (uint64_t *)out, g, qmax, span, acc = 0;
	int rc;

	if ((rc = codec_get_varint(c, &g)) || (rc = codec_int_decode(c, q + 1, n - 1)))
		return rc;
	if (g == 0)
		return CODEC_CORRUPT();
	qmax = UINT64_MAX / g;
	span = (uint64_t)t_max - (uint64_t)t_min;
	for (size_t i = 1; i < n; i++) {
		uint64_t step;
		if (q[i] == 0 || q[i] > qmax)
			return CODEC_CORRUPT();
		step = q[i] * g;
		/* Never past t_max, so never wrapping either. */
		if (step > span - acc)
			return CODEC_CORRUPT();
		acc += step;
		out[i] = (int64_t)((uint64_t)t_min + acc);
	}
	return acc == span ? 0 : CODEC_CORRUPT();
}

static int time_grid_read(struct codec_cur *c, int64_t t_min, int64_t t_max, int64_t *out, size_t n)
{
	uint64_t *o = (uint64_t *)out, g, s;
	int rc;

	if ((rc = codec_get_varint(c, &g)) || (rc = codec_get_varint(c, &s)) ||
	    (rc = codec_int_decode(c, o + 1, n - 1)))
		return rc;
	if (g == 0 || s == 0)
		return CODEC_CORRUPT();
	/* Modulo 2^64 throughout: whatever the bytes, the result is checked
	 * to increase strictly and to end at t_max. */
	for (size_t i = 1; i < n; i++) {
		out[i] = (int64_t)((uint64_t)t_min + ((uint64_t)i * s + o[i]) * g);
		if (out[i] <= out[i - 1])
			return CODEC_CORRUPT();
	}
	return out[n - 1] == t_max ? 0 : CODEC_CORRUPT();
}

int codec_time_decode(uint8_t enc, struct codec_cur *c, int64_t t_min, int64_t t_max, int64_t *out,
		      size_t n)
{
	if (n == 0)
		return CODEC_CORRUPT();
	out[0] = t_min;
	if (n == 1)
		return enc == CHUNK_ENC_TIME_DELTA && t_min == t_max ? 0 : CODEC_CORRUPT();
	switch (enc) {
	case CHUNK_ENC_TIME_DELTA: return time_delta_read(c, t_min, t_max, out, n);
	case CHUNK_ENC_TIME_GRID: return time_grid_read(c, t_min, t_max, out, n);
	default: return CODEC_CORRUPT();
	}
}

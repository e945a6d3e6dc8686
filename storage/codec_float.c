/* codec_float.c: float64 value columns (chunk_format.h "VALUE COLUMN, float64"): raw, constant, Gorilla XOR on 64 or 32 bits,
 * decimal scaling with residuals, and a sorted dictionary. The encoder writes each candidate and keeps the smallest; all are exact. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "storage/chunk_format.h"
#include "storage/codec.h"

/* 10^e is exact in binary64 up to 10^22; the format stops at 10^18. */
static const double p10[CHUNK_DEC_MAX_EXP + 1] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
	1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
};

/* Digits beyond 2^53 are not exact doubles; such values go to residuals. */
#define DEC_DIGITS_MAX 9007199254740992.0

/* How many values the decimal exponent is chosen on, and the estimated
 * cost of one decimal digit (log2(10) bits). */
#define DEC_SAMPLE 64
#define DEC_DIGIT_BITS 3.33

/* Values XOR is first counted on. */
#define XOR_PROBE 512

/* A dictionary only pays when values repeat; past this many distinct
 * values (or n / 2) it is not tried. */
#define DICT_MAX_DISTINCT 65536

/* (float)v, with magnitudes past FLT_MAX made infinite explicitly rather
 * than left to the conversion (undefined outside IEEE-754 Annex F). */
static float to_f32(double v)
{
	if (v > FLT_MAX)
		return INFINITY;
	if (v < -FLT_MAX)
		return -INFINITY;
	return (float)v;
}

static uint32_t f32_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	return u;
}

static float bits_f32(uint32_t u)
{
	float f;

	memcpy(&f, &u, 4);
	return f;
}

bool codec_f64_all_f32(const double *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (codec_f64_bits((double)to_f32(v[i])) != codec_f64_bits(v[i]))
			return false;
	return true;
}

static bool all_same_bits(const double *v, size_t n)
{
	uint64_t first = codec_f64_bits(v[0]);

	for (size_t i = 1; i < n; i++)
		if (codec_f64_bits(v[i]) != first)
			return false;
	return true;
}

/* ---- raw and constant ------------------------------------------------------- */

static void raw_write(struct codec_buf *b, const double *v, size_t n)
{
	codec_put_bytes(b, v, n * 8); /* little-endian host: the LE patterns */
}

static int raw_read(struct codec_cur *c, double *out, size_t n)
{
	const uint8_t *p;
	int rc = codec_get_bytes(c, n * 8, &p);

	if (rc == 0)
		memcpy(out, p, n * 8);
	return rc;
}

static int const_read(struct codec_cur *c, double *out, size_t n)
{
	const uint8_t *p;
	double d;
	int rc = codec_get_bytes(c, 8, &p);

	if (rc)
		return rc;
	memcpy(&d, p, 8);
	for (size_t i = 0; i < n; i++)
		out[i] = d;
	return 0;
}

/* ---- Gorilla XOR, on 64-bit or on float32 patterns ----------------------------- */

struct xor_fmt {
	unsigned width;  /* 64 or 32 */
	unsigned mbits;  /* bits of the meaningful length: 6 or 5 */
};

static const struct xor_fmt xor64 = {64, 6}, xor32 = {32, 5};

static uint64_t xor_pattern(double v, const struct xor_fmt *f)
{
	return f->width == 64 ? codec_f64_bits(v) : f32_bits(to_f32(v));
}

static unsigned xor_clz(uint64_t x, const struct xor_fmt *f)
{
	return (unsigned)__builtin_clzll(x) - (64 - f->width);
}

/* Write the Gorilla string of v, or with b NULL only count it; returns
 * its size in bytes. */
static size_t xor_write(struct codec_buf *b, const double *v, size_t n, const struct xor_fmt *f)
{
	struct codec_bitw w;
	uint64_t prev = xor_pattern(v[0], f), bits = f->width;
	unsigned lead = 0, trail = 0;
	bool window = false;

	if (b) {
		codec_bitw_init(&w, b);
		codec_bitw_put(&w, prev, f->width);
	}
	for (size_t i = 1; i < n; i++) {
		uint64_t cur = xor_pattern(v[i], f), x = cur ^ prev;
		unsigned lz, tz, m;
		prev = cur;
		if (x == 0) {
			bits += 1;
			if (b)
				codec_bitw_put(&w, 0, 1);
			continue;
		}
		lz = xor_clz(x, f);
		tz = (unsigned)__builtin_ctzll(x);
		if (window && lz >= lead && tz >= trail) {
			bits += 2 + f->width - lead - trail;
			if (b) {
				codec_bitw_put(&w, 1, 2); /* '1' then '0' */
				codec_bitw_put(&w, x >> trail, f->width - lead - trail);
			}
			continue;
		}
		lead = lz > 31 ? 31 : lz;
		m = f->width - lead - tz;
		trail = tz;
		window = true;
		bits += 2 + 5 + f->mbits + m;
		if (b) {
			codec_bitw_put(&w, 3, 2); /* '1' then '1' */
			codec_bitw_put(&w, lead, 5);
			codec_bitw_put(&w, m == f->width ? 0 : m, f->mbits);
			codec_bitw_put(&w, x >> tz, m);
		}
	}
	if (b)
		codec_bitw_flush(&w);
	return (size_t)((bits + 7) / 8);
}

static int xor_read(struct codec_cur *c, double *out, size_t n, const struct xor_fmt *f)
{
	struct codec_bitr r;
	uint64_t prev;
	unsigned lead = 0, trail = 0;
	bool window = false;
	size_t used;

	codec_bitr_init(&r, c->p, codec_cur_left(c));
	prev = codec_bitr_get(&r, f->width);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && codec_bitr_get(&r, 1)) {
			unsigned m;
			if (codec_bitr_get(&r, 1)) {
				lead = (unsigned)codec_bitr_get(&r, 5);
				m = (unsigned)codec_bitr_get(&r, f->mbits);
				m = m ? m : f->width;
				if (lead + m > f->width)
					return CODEC_CORRUPT();
				trail = f->width - lead - m;
				window = true;
			} else if (!window) {
				return CODEC_CORRUPT();
			}
			prev ^= codec_bitr_get(&r, f->width - lead - trail) << trail;
		}
		out[i] = f->width == 64 ? codec_bits_f64(prev) : (double)bits_f32((uint32_t)prev);
	}
	if (r.overrun)
		return CODEC_CORRUPT();
	/* The padding bits of the last byte are 0. */
	if (r.acc & ((1u << (r.nacc % 8)) - 1))
		return CODEC_CORRUPT();
	used = codec_bitr_used(&r, c->p);
	c->p += used;
	return 0;
}

/* ---- decimal scaling ------------------------------------------------------------- */

static inline double dec_recon(int64_t d, unsigned e, bool f32)
{
	double x = (double)d / p10[e];

	return f32 ? (double)(float)x : x;
}

/* The digits of v at exponent e, if v is in range. Any rounding will do:
 * the residual makes the result exact. */
static inline bool dec_digits(double v, unsigned e, bool f32, int64_t *d)
{
	double s = (f32 ? (double)to_f32(v) : v) * p10[e];

	if (!(s > -DEC_DIGITS_MAX && s < DEC_DIGITS_MAX))
		return false;
	*d = (int64_t)(s < 0 ? s - 0.5 : s + 0.5);
	return true;
}

/* Estimated bits of the sample at (e, f32): each decimal digit costs
 * log2(10) bits for every value, a residual a few bits, a value that does
 * not fit at all about 10 bytes. */
static double dec_estimate(const double *s, size_t m, unsigned e, bool f32)
{
	size_t exc = 0, small = 0;
	unsigned maxlen = 0;

	for (size_t i = 0; i < m; i++) {
		int64_t d;
		uint64_t r;
		unsigned len;
		if (!dec_digits(s[i], e, f32, &d)) {
			exc++;
			continue;
		}
		r = codec_f64_bits(s[i]) - codec_f64_bits(dec_recon(d, e, f32));
		if (r == 0)
			continue;
		len = codec_bitlen(codec_zz(r));
		if (len > 16) {
			exc++;
		} else {
			small++;
			maxlen = len > maxlen ? len : maxlen;
		}
	}
	return DEC_DIGIT_BITS * (double)m * e + (double)exc * 80 +
	       (small * 16.0 < (double)m * maxlen ? small * 16.0 : (double)m * maxlen);
}

/* Choose the exponent and the float32 flag on an evenly spread sample.
 * Exponents go up while their digits alone cost less than the best so
 * far: the first exact one ends the search. */
static void dec_choose(const double *v, size_t n, unsigned *e_out, bool *f32_out)
{
	double s[DEC_SAMPLE], best = INFINITY;
	size_t m = n < DEC_SAMPLE ? n : DEC_SAMPLE, near32 = 0;
	int try32;

	for (size_t i = 0; i < m; i++) {
		s[i] = v[i * n / m];
		uint64_t r = codec_f64_bits(s[i]) - codec_f64_bits((double)to_f32(s[i]));
		near32 += codec_bitlen(codec_zz(r)) <= 16;
	}
	try32 = near32 * 2 >= m;
	*e_out = 0;
	*f32_out = false;
	for (unsigned e = 0; e <= CHUNK_DEC_MAX_EXP && DEC_DIGIT_BITS * (double)m * e < best; e++) {
		for (int f32 = 0; f32 <= try32; f32++) {
			double cost = dec_estimate(s, m, e, f32);
			if (cost < best) {
				best = cost;
				*e_out = e;
				*f32_out = f32;
			}
		}
	}
}

static int dec_write(struct codec_buf *b, const double *v, size_t n, unsigned e, bool f32)
{
	uint64_t *d = malloc(2 * n * sizeof *d), *r = d + n;
	int64_t prev = 0;
	int rc;

	if (!d)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int64_t di;
		/* A value out of range keeps the digits before it (a zero
		 * delta) and is carried whole by its residual. */
		if (!dec_digits(v[i], e, f32, &di))
			di = prev;
		d[i] = (uint64_t)di;
		r[i] = codec_f64_bits(v[i]) - codec_f64_bits(dec_recon(di, e, f32));
		prev = di;
	}
	codec_put_u8(b, (uint8_t)e);
	codec_put_u8(b, f32 ? CHUNK_DEC_F32 : 0);
	if ((rc = codec_int_encode(b, d, n)) == 0)
		rc = codec_int_encode(b, r, n);
	free(d);
	return rc;
}

static int dec_read(struct codec_cur *c, double *out, size_t n)
{
	uint8_t e, flags;
	uint64_t *d = NULL, *r;
	double scale;
	int rc;

	if ((rc = codec_get_u8(c, &e)) || (rc = codec_get_u8(c, &flags)))
		return rc;
	if (e > CHUNK_DEC_MAX_EXP || (flags & ~CHUNK_DEC_F32))
		return CODEC_CORRUPT();
	d = malloc(2 * n * sizeof *d);
	if (!d)
		return -ENOMEM;
	r = d + n;
	if ((rc = codec_int_decode(c, d, n)) || (rc = codec_int_decode(c, r, n)))
		goto out;
	scale = p10[e];
	/* |d| < 2^63, so the quotient is within float range. */
	if (flags & CHUNK_DEC_F32) {
		for (size_t i = 0; i < n; i++) {
			double x = (double)(float)((double)(int64_t)d[i] / scale);
			out[i] = codec_bits_f64(codec_f64_bits(x) + r[i]);
		}
	} else {
		for (size_t i = 0; i < n; i++) {
			double x = (double)(int64_t)d[i] / scale;
			out[i] = codec_bits_f64(codec_f64_bits(x) + r[i]);
		}
	}
out:
	free(d);
	return rc;
}

/* ---- dictionary ------------------------------------------------------------------ */

/* A key whose unsigned order is the IEEE total order of the patterns:
 * -NaN < -Inf < ... < -0.0 < +0.0 < ... < +Inf < +NaN. */
static uint64_t total_order_key(uint64_t u)
{
	return (u >> 63) ? ~u : u | ((uint64_t)1 << 63);
}

struct dict_pair {
	uint64_t key;
	uint64_t entry;
};

static int cmp_pair(const void *a, const void *b)
{
	uint64_t x = ((const struct dict_pair *)a)->key, y = ((const struct dict_pair *)b)->key;

	return (x > y) - (x < y);
}

static inline size_t hash64(uint64_t x, size_t mask)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (size_t)x & mask;
}

struct dict {
	uint64_t *keys; /* k distinct total-order keys, ascending */
	size_t k;
	uint64_t *idx;  /* n indices into keys */
};

static void dict_free(struct dict *dc)
{
	free(dc->keys);
	free(dc->idx);
	dc->keys = dc->idx = NULL;
}

/* Give every value its index in the insertion-ordered keys; 1 if there
 * are more than max_k distinct values. *lo and *hi get the smallest and
 * largest distinct value (NaN aside). */
static int dict_collect(const double *v, size_t n, size_t max_k, struct dict *dc, double *lo, double *hi)
{
	size_t cap = 16, mask;
	uint32_t *slot; /* entry + 1, 0 = empty */

	while (cap < 2 * max_k)
		cap *= 2;
	mask = cap - 1;
	slot = calloc(cap, sizeof *slot);
	if (!slot)
		return -ENOMEM;
	dc->k = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t key = total_order_key(codec_f64_bits(v[i]));
		size_t h = hash64(key, mask);
		while (slot[h] && dc->keys[slot[h] - 1] != key)
			h = (h + 1) & mask;
		if (!slot[h]) {
			if (dc->k == max_k) {
				free(slot);
				return 1;
			}
			dc->keys[dc->k++] = key;
			slot[h] = (uint32_t)dc->k;
			*lo = v[i] < *lo ? v[i] : *lo;
			*hi = v[i] > *hi ? v[i] : *hi;
		}
		dc->idx[i] = slot[h] - 1;
	}
	free(slot);
	return 0;
}

/* Build the sorted dictionary of v. Returns 0; 1 if v has more than max_k
 * or fewer than 2 distinct values, or when grid_exp >= 0 and the values
 * neither repeat much (more than n / 4 distinct) nor sit sparsely on the
 * grid of 10^-grid_exp steps (they fill over half of what they span):
 * then indices cost what the decimal digits cost and the dictionary comes
 * on top (dc is then empty); or -ENOMEM. */
static int dict_build(const double *v, size_t n, size_t max_k, int grid_exp, struct dict *dc)
{
	struct dict_pair *pairs = NULL;
	uint64_t *rank = NULL;
	double lo = INFINITY, hi = -INFINITY;
	int rc = -ENOMEM;

	dc->keys = malloc(max_k * sizeof *dc->keys);
	dc->idx = malloc(n * sizeof *dc->idx);
	if (!dc->keys || !dc->idx)
		goto out;
	if ((rc = dict_collect(v, n, max_k, dc, &lo, &hi)) != 0)
		goto out;
	rc = 1;
	if (dc->k < 2 || (grid_exp >= 0 && dc->k > n / 4 && (double)dc->k * 2 >= (hi - lo) * p10[grid_exp]))
		goto out;
	rc = -ENOMEM;
	pairs = malloc(dc->k * sizeof *pairs);
	rank = malloc(dc->k * sizeof *rank);
	if (!pairs || !rank)
		goto out;
	for (size_t j = 0; j < dc->k; j++)
		pairs[j] = (struct dict_pair){dc->keys[j], j};
	qsort(pairs, dc->k, sizeof *pairs, cmp_pair);
	for (size_t j = 0; j < dc->k; j++) {
		dc->keys[j] = pairs[j].key;
		rank[pairs[j].entry] = j;
	}
	for (size_t i = 0; i < n; i++)
		dc->idx[i] = rank[dc->idx[i]];
	rc = 0;
out:
	if (rc)
		dict_free(dc);
	free(pairs);
	free(rank);
	return rc;
}

static int f64_encode_best(struct codec_buf *b, const double *v, size_t n, bool allow_dict);
static int f64_decode(uint8_t enc, struct codec_cur *c, double *out, size_t n, bool allow_dict);

static int dict_write(struct codec_buf *b, const struct dict *dc, size_t n)
{
	double *vals = malloc(dc->k * sizeof *vals);
	size_t at;
	int rc;

	if (!vals)
		return -ENOMEM;
	for (size_t j = 0; j < dc->k; j++) {
		uint64_t key = dc->keys[j];
		vals[j] = codec_bits_f64((key >> 63) ? key ^ ((uint64_t)1 << 63) : ~key);
	}
	codec_put_varint(b, dc->k);
	at = b->len;
	codec_put_u8(b, 0); /* the dictionary's encoding, patched below */
	rc = f64_encode_best(b, vals, dc->k, false);
	if (rc > 0 && !b->failed) {
		b->data[at] = (uint8_t)rc;
		rc = codec_int_encode(b, dc->idx, n);
	}
	free(vals);
	return rc < 0 ? rc : 0;
}

static int dict_read(struct codec_cur *c, double *out, size_t n)
{
	uint64_t k, *idx = NULL;
	double *vals = NULL;
	uint8_t enc;
	int rc;

	if ((rc = codec_get_varint(c, &k)) || (rc = codec_get_u8(c, &enc)))
		return rc;
	if (k < 2 || k > n || enc == CHUNK_ENC_F64_DICT || enc == CHUNK_ENC_F64_CONST)
		return CODEC_CORRUPT();
	vals = malloc(k * sizeof *vals);
	idx = malloc(n * sizeof *idx);
	rc = -ENOMEM;
	if (!vals || !idx)
		goto out;
	if ((rc = f64_decode(enc, c, vals, k, false)) || (rc = codec_int_decode(c, idx, n)))
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (idx[i] >= k) {
			rc = CODEC_CORRUPT();
			goto out;
		}
		out[i] = vals[idx[i]];
	}
out:
	free(vals);
	free(idx);
	return rc;
}

/* ---- choosing ------------------------------------------------------------------- */

static int f64_decode(uint8_t enc, struct codec_cur *c, double *out, size_t n, bool allow_dict)
{
	switch (enc) {
	case CHUNK_ENC_F64_RAW: return raw_read(c, out, n);
	case CHUNK_ENC_F64_CONST: return const_read(c, out, n);
	case CHUNK_ENC_F64_XOR: return xor_read(c, out, n, &xor64);
	case CHUNK_ENC_F32_XOR: return xor_read(c, out, n, &xor32);
	case CHUNK_ENC_F64_DEC: return dec_read(c, out, n);
	case CHUNK_ENC_F64_DICT: return allow_dict ? dict_read(c, out, n) : CODEC_CORRUPT();
	default: return CODEC_CORRUPT();
	}
}

int codec_f64_decode(uint8_t enc, struct codec_cur *c, double *out, size_t n)
{
	return f64_decode(enc, c, out, n, true);
}

/* Write the candidates into cand[] and return the index of the smallest.
 * Decimal is always written, the dictionary when values repeat (see
 * dict_build), XOR only when its size, counted first, beats both. */
static int f64_candidates(const double *v, size_t n, bool allow_dict, struct codec_buf *cand,
			  uint8_t *enc)
{
	const struct xor_fmt *xf = codec_f64_all_f32(v, n) ? &xor32 : &xor64;
	struct dict dc = {NULL, 0, NULL};
	size_t smallest;
	unsigned e;
	bool f32;
	int rc, best = 0;

	dec_choose(v, n, &e, &f32);
	enc[0] = CHUNK_ENC_F64_DEC;
	if ((rc = dec_write(&cand[0], v, n, e, f32)))
		return rc;
	smallest = cand[0].len;
	enc[2] = CHUNK_ENC_F64_DICT;
	if (allow_dict && n >= 4) {
		size_t max_k = n / 2 < DICT_MAX_DISTINCT ? n / 2 : DICT_MAX_DISTINCT;
		rc = dict_build(v, n, max_k, (int)e, &dc);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			rc = dict_write(&cand[2], &dc, n);
			dict_free(&dc);
			if (rc)
				return rc;
			smallest = cand[2].len < smallest ? cand[2].len : smallest;
		}
	}
	enc[1] = xf == &xor32 ? CHUNK_ENC_F32_XOR : CHUNK_ENC_F64_XOR;
	/* Count XOR on a prefix first: far off (a third more than the best
	 * per value) means it will not win. */
	if (n <= XOR_PROBE || xor_write(NULL, v, XOR_PROBE, xf) * 3 * n < smallest * 4 * XOR_PROBE) {
		if (xor_write(NULL, v, n, xf) < smallest)
			xor_write(&cand[1], v, n, xf);
	}
	for (int i = 0; i < 3; i++) {
		if (cand[i].failed)
			return -ENOMEM;
		if (cand[i].len && cand[i].len < cand[best].len)
			best = i;
	}
	return best;
}

static int f64_encode_best(struct codec_buf *b, const double *v, size_t n, bool allow_dict)
{
	struct codec_buf cand[3] = {CODEC_BUF_INIT, CODEC_BUF_INIT, CODEC_BUF_INIT};
	uint8_t enc[3];
	int rc, best;

	if (all_same_bits(v, n)) {
		codec_put_bytes(b, v, 8);
		return b->failed ? -ENOMEM : CHUNK_ENC_F64_CONST;
	}
	if (b->int_planes) {
		/* The zstd variant chunk.c weighs against the smallest: decimal
		 * digits as byte planes. Sizes before compression say nothing
		 * about it, so no other candidate is tried. */
		unsigned e;
		bool f32;
		dec_choose(v, n, &e, &f32);
		if ((rc = dec_write(b, v, n, e, f32)))
			return rc;
		return b->failed ? -ENOMEM : CHUNK_ENC_F64_DEC;
	}
	best = f64_candidates(v, n, allow_dict, cand, enc);
	if (best < 0) {
		rc = best;
	} else if (cand[best].len >= n * 8) {
		raw_write(b, v, n);
		rc = CHUNK_ENC_F64_RAW;
	} else {
		codec_put_bytes(b, cand[best].data, cand[best].len);
		rc = enc[best];
	}
	for (int i = 0; i < 3; i++)
		codec_buf_free(&cand[i]);
	return b->failed ? -ENOMEM : rc;
}

static int f64_encode_forced(struct codec_buf *b, const double *v, size_t n, const struct codec_f64_opts *o)
{
	struct dict dc;
	unsigned e;
	bool f32;
	int rc;

	switch (o->force_enc) {
	case CHUNK_ENC_F64_RAW: raw_write(b, v, n); break;
	case CHUNK_ENC_F64_CONST:
		if (!all_same_bits(v, n))
			return -EINVAL;
		codec_put_bytes(b, v, 8);
		break;
	case CHUNK_ENC_F64_XOR: xor_write(b, v, n, &xor64); break;
	case CHUNK_ENC_F32_XOR:
		if (!codec_f64_all_f32(v, n))
			return -EINVAL;
		xor_write(b, v, n, &xor32);
		break;
	case CHUNK_ENC_F64_DEC:
		dec_choose(v, n, &e, &f32);
		if (o->dec_exp >= 0)
			e = (unsigned)o->dec_exp;
		if (o->dec_f32 >= 0)
			f32 = o->dec_f32;
		if (e > CHUNK_DEC_MAX_EXP)
			return -EINVAL;
		if ((rc = dec_write(b, v, n, e, f32)))
			return rc;
		break;
	case CHUNK_ENC_F64_DICT:
		if ((rc = dict_build(v, n, n, -1, &dc)))
			return rc < 0 ? rc : -EINVAL;
		rc = dict_write(b, &dc, n);
		dict_free(&dc);
		if (rc)
			return rc;
		break;
	default: return -EINVAL;
	}
	return b->failed ? -ENOMEM : o->force_enc;
}

int codec_f64_encode(struct codec_buf *b, const double *v, size_t n, const struct codec_f64_opts *opts)
{
	if (n == 0)
		return -EINVAL;
	if (opts && opts->force_enc)
		return f64_encode_forced(b, v, n, opts);
	return f64_encode_best(b, v, n, true);
}

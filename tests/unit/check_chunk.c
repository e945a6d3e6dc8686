/* check_chunk.c: unit tests for storage/chunk.h and the column codecs: round trips of every type and encoding, special floats,
 * the shared data sets, and corrupt input (every bit flipped, every truncation, mutations with a fixed CRC). Seed: env HS_SEED. */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/crc32c.h"
#include "lib/endian.h"
#include "lib/hs_error.h"
#include "storage/chunk.h"
#include "storage/chunk_format.h"
#include "storage/codec.h"

#define SEC 1000000000LL
#define T0 (1700000000LL * SEC)

static uint64_t seed = 20240611;
static uint64_t rng;

/* xorshift64*; each test starts from the seed mixed with its own salt, so
 * a failure repeats with the same HS_SEED whatever ran before it. */
static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1DULL;
}

static void rng_reset(uint64_t salt)
{
	/* splitmix64 of seed and salt: never 0, different for every pair */
	uint64_t z = seed + salt * 0x9E3779B97F4A7C15ULL + 0x9E3779B97F4A7C15ULL;

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	rng = (z ^ (z >> 31)) | 1;
}

static double rnd_unit(void)
{
	return (double)(rnd() >> 11) / 9007199254740992.0;
}

static double from_bits(uint64_t u)
{
	double d;

	memcpy(&d, &u, 8);
	return d;
}

static uint64_t to_bits(double d)
{
	uint64_t u;

	memcpy(&u, &d, 8);
	return u;
}

/* A value with at most `decimals` decimals, as parsing its text gives. */
static double decimal(double x, int decimals)
{
	char text[64];

	snprintf(text, sizeof text, "%.*f", decimals, x);
	return strtod(text, NULL);
}

static int64_t *regular_ts(size_t n, int64_t start, int64_t step)
{
	int64_t *ts = malloc(n * sizeof *ts);

	ck_assert_ptr_nonnull(ts);
	for (size_t i = 0; i < n; i++)
		ts[i] = start + (int64_t)i * step;
	return ts;
}

static struct chunk_opts opts_auto(int zstd_level)
{
	struct chunk_opts o;

	memset(&o, 0, sizeof o);
	o.zstd_level = zstd_level;
	o.f64.dec_exp = -1;
	o.f64.dec_f32 = -1;
	return o;
}

static struct chunk_opts opts_f64(uint8_t enc, int e, int f32)
{
	struct chunk_opts o = opts_auto(0);

	o.f64.force_enc = enc;
	o.f64.dec_exp = e;
	o.f64.dec_f32 = f32;
	return o;
}

/* Directory entry col of an encoded chunk: encoding byte (zstd bit kept),
 * raw and stored lengths. */
static unsigned dir_entry(const char *chunk, int col, size_t *raw, size_t *stored)
{
	struct codec_cur c = {(const uint8_t *)chunk + CHUNK_OFF_DIR, (const uint8_t *)chunk + CHUNK_HDR_SIZE + 64,
			      false};
	uint64_t r = 0, s = 0;
	uint8_t e = 0;

	for (int i = 0; i <= col; i++) {
		ck_assert_int_eq(codec_get_u8(&c, &e), 0);
		ck_assert_int_eq(codec_get_varint(&c, &r), 0);
		s = r;
		if (e & CHUNK_COL_ZSTD)
			ck_assert_int_eq(codec_get_varint(&c, &s), 0);
	}
	if (raw)
		*raw = (size_t)r;
	if (stored)
		*stored = (size_t)s;
	return e;
}

/* Assert got == want for i_ = 0 .. n-1 (expressions of i_), reporting the
 * first difference. Asserting only on failure keeps Check's per-assertion
 * bookkeeping (a pipe write in fork mode) out of loops over a million items. */
#define assert_each_eq(n, got, want)                                                             \
	do {                                                                                     \
		size_t i_ = 0, n_ = (n);                                                         \
		while (i_ < n_ && (uint64_t)(got) == (uint64_t)(want))                           \
			i_++;                                                                    \
		if (i_ < n_)                                                                     \
			ck_assert_msg(0, "item %zu of %zu: got %#" PRIx64 ", want %#" PRIx64, i_, \
				      n_, (uint64_t)(got), (uint64_t)(want));                    \
	} while (0)

#define assert_bits_eq(got, want, n) assert_each_eq(n, to_bits((got)[i_]), to_bits((want)[i_]))

static void check_values(const struct chunk_columns *in, const struct chunk_decoded *d)
{
	size_t n = in->count;

	ck_assert_uint_eq(d->count, n);
	ck_assert_int_eq(d->type, in->type);
	ck_assert_mem_eq(d->ts_ns, in->ts_ns, n * sizeof *in->ts_ns);
	assert_each_eq(n, d->quality[i_], in->quality ? in->quality[i_] : QUALITY_GOOD);
	switch (in->type) {
	case VALUE_FLOAT64: assert_bits_eq(d->f64, in->f64, n); break;
	case VALUE_INT64: ck_assert_mem_eq(d->i64, in->i64, n * sizeof *in->i64); break;
	case VALUE_BOOL:
		assert_each_eq(n, d->b[i_], in->b[i_] ? 1 : 0);
		break;
	case VALUE_STRING:
		assert_each_eq(n, d->str_len[i_], in->str_len[i_]);
		for (size_t i = 0; i < n; i++)
			if ((in->str_len[i] && memcmp(d->str[i], in->str[i], in->str_len[i])) ||
			    d->str[i][in->str_len[i]] != '\0')
				ck_assert_msg(0, "string %zu differs", i);
		break;
	}
}

/* Decode buf every way there is and compare with in. */
static void check_decodes(const struct chunk_columns *in, const char *buf, size_t len)
{
	struct chunk_decoded d;
	struct chunk_header h;
	size_t n = in->count;

	ck_assert_int_eq(chunk_peek(buf, len, &h), 0);
	ck_assert_uint_eq(h.len, len);
	ck_assert_uint_eq(h.count, n);
	ck_assert_int_eq(h.type, in->type);
	ck_assert_int_eq(h.t_min, in->ts_ns[0]);
	ck_assert_int_eq(h.t_max, in->ts_ns[n - 1]);
	ck_assert_uint_eq(h.crc, get_le32((const unsigned char *)buf + len - 4));
	ck_assert_int_eq(chunk_verify(buf, len, &h), 0);
	ck_assert_int_eq(chunk_decode(buf, len, &d), 0);
	check_values(in, &d);
	chunk_decoded_free(&d);
	if (in->type != VALUE_STRING) {
		struct chunk_dest dst = {n, malloc(n * 8), NULL, NULL, NULL, malloc(n * 2)};
		struct chunk_decoded view = {n, in->type, dst.ts_ns, NULL, NULL, NULL, NULL, NULL, dst.quality, NULL};
		void *values = malloc(n * 8);
		if (in->type == VALUE_FLOAT64)
			dst.f64 = view.f64 = values;
		else if (in->type == VALUE_INT64)
			dst.i64 = view.i64 = values;
		else
			dst.b = view.b = values;
		ck_assert_int_eq(chunk_decode_into(buf, len, &dst, &h), 0);
		ck_assert_uint_eq(h.count, n);
		check_values(in, &view);
		free(dst.ts_ns);
		free(dst.quality);
		free(values);
	}
}

/* Encode with o, check every decode, return the value column's encoding
 * (without the zstd bit); *len_out gets the chunk size. */
static unsigned roundtrip_opts(const struct chunk_columns *in, const struct chunk_opts *o, size_t *len_out)
{
	struct strbuf out = STRBUF_INIT;
	unsigned enc;

	strbuf_puts(&out, "xyz"); /* chunk_encode appends */
	ck_assert_int_eq(chunk__encode(in, o, &out), 0);
	ck_assert_mem_eq(out.data, "xyz", 3);
	check_decodes(in, out.data + 3, out.len - 3);
	enc = dir_entry(out.data + 3, 1, NULL, NULL) & CHUNK_COL_ENC_MASK;
	if (len_out)
		*len_out = out.len - 3;
	strbuf_free(&out);
	return enc;
}

static unsigned roundtrip(const struct chunk_columns *in, size_t *len_out)
{
	struct chunk_opts o = opts_auto(CHUNK_ZSTD_LEVEL_DEFAULT);

	return roundtrip_opts(in, &o, len_out);
}

static struct chunk_columns f64_cols(size_t n, const int64_t *ts, const double *v)
{
	struct chunk_columns in = {n, VALUE_FLOAT64, ts, v, NULL, NULL, NULL, NULL, NULL};

	return in;
}

/* Round trip v (n values, regular times) forced into enc; returns the size. */
static size_t f64_forced(const double *v, size_t n, uint8_t enc, int e, int f32)
{
	int64_t *ts = regular_ts(n, T0, SEC);
	struct chunk_columns in = f64_cols(n, ts, v);
	struct chunk_opts o = opts_f64(enc, e, f32);
	size_t len;

	ck_assert_uint_eq(roundtrip_opts(&in, &o, &len), enc);
	free(ts);
	return len;
}

/* ---- bits and varints ---------------------------------------------------------------- */

/* A cursor over the first len bytes of b (which may have no data at all). */
static struct codec_cur cur_of(const struct codec_buf *b, size_t len)
{
	struct codec_cur c = {b->data, b->data, true};

	if (b->data)
		c.end = b->data + len;
	return c;
}

START_TEST(test_pack_widths)
{
	uint64_t v[300], out[300];

	rng_reset(1);
	for (unsigned w = 0; w <= 64; w++) {
		for (size_t n = 0; n <= 300; n += (n < 10 ? 1 : 37)) {
			struct codec_buf b = CODEC_BUF_INIT;
			struct codec_cur c;
			uint64_t mask = w == 64 ? ~0ULL : (1ULL << w) - 1;
			for (size_t i = 0; i < n; i++)
				v[i] = rnd() & mask;
			codec_pack(&b, v, n, w);
			ck_assert_uint_eq(b.len, (n * w + 7) / 8);
			/* Exactly sized buffer: exercises the near-the-end path. */
			c = cur_of(&b, b.len);
			ck_assert_int_eq(codec_unpack(&c, out, n, w, 5), 0);
			ck_assert_ptr_eq(c.p, c.end);
			assert_each_eq(n, out[i_], v[i_] + 5);
			if (b.len) {
				c = cur_of(&b, b.len - 1);
				ck_assert_int_eq(codec_unpack(&c, out, n, w, 0), HS_ECORRUPT);
			}
			codec_buf_free(&b);
		}
	}
}
END_TEST

START_TEST(test_bit_stream)
{
	struct codec_buf b = CODEC_BUF_INIT;
	struct codec_bitw w;
	struct codec_bitr r;
	uint64_t vals[2000];
	unsigned widths[2000];

	rng_reset(2);
	codec_bitw_init(&w, &b);
	for (int i = 0; i < 2000; i++) {
		widths[i] = 1 + (unsigned)(rnd() % 64);
		vals[i] = widths[i] == 64 ? rnd() : rnd() & ((1ULL << widths[i]) - 1);
		codec_bitw_put(&w, vals[i], widths[i]);
	}
	codec_bitw_flush(&w);
	codec_bitr_init(&r, b.data, b.len);
	for (int i = 0; i < 2000; i++)
		if (codec_bitr_get(&r, widths[i]) != vals[i])
			ck_assert_msg(0, "bit field %d differs", i);
	ck_assert(!r.overrun);
	ck_assert_uint_eq(codec_bitr_used(&r, b.data), b.len);
	codec_bitr_get(&r, 64);
	ck_assert(r.overrun);
	codec_buf_free(&b);
}
END_TEST

START_TEST(test_varint_bounds)
{
	static const uint8_t max[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
	static const uint8_t too_big[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
	static const uint8_t too_long[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
	struct codec_cur c = {max, max + sizeof max, false};
	uint64_t v;

	ck_assert_int_eq(codec_get_varint(&c, &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
	c = (struct codec_cur){too_big, too_big + sizeof too_big, false};
	ck_assert_int_eq(codec_get_varint(&c, &v), HS_ECORRUPT);
	c = (struct codec_cur){too_long, too_long + sizeof too_long, false};
	ck_assert_int_eq(codec_get_varint(&c, &v), HS_ECORRUPT);
	c = (struct codec_cur){max, max + 9, false};
	ck_assert_int_eq(codec_get_varint(&c, &v), HS_ECORRUPT);
}
END_TEST

/* ---- int streams ------------------------------------------------------------------------ */

static void int_roundtrip(const uint64_t *v, size_t n, int mode)
{
	struct codec_buf b = CODEC_BUF_INIT;
	struct codec_cur c;
	uint64_t *out = malloc((n + 1) * sizeof *out);

	if (mode < 0)
		ck_assert_int_eq(codec_int_encode(&b, v, n), 0);
	else
		ck_assert_int_eq(codec_int_encode_mode(&b, v, n, (unsigned)mode), 0);
	if (n && mode >= 0)
		ck_assert_uint_eq(b.data[0], (unsigned)mode);
	c = cur_of(&b, b.len);
	ck_assert_int_eq(codec_int_decode(&c, out, n), 0);
	ck_assert_ptr_eq(c.p, c.end);
	assert_each_eq(n, out[i_], v[i_]);
	/* Any truncation is caught. */
	for (size_t cut = 0; cut < b.len; cut++) {
		c = cur_of(&b, cut);
		ck_assert_int_eq(codec_int_decode(&c, out, n), HS_ECORRUPT);
	}
	free(out);
	codec_buf_free(&b);
}

START_TEST(test_int_modes)
{
	static const size_t sizes[] = {0, 1, 2, 127, 128, 129, 255, 256, 1000};
	uint64_t v[1000];

	rng_reset(3);
	for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
		size_t n = sizes[s];
		for (int shape = 0; shape < 7; shape++) {
			for (size_t i = 0; i < n; i++) {
				switch (shape) {
				case 0: v[i] = rnd(); break;                                  /* any bits */
				case 1: v[i] = rnd() % 1000; break;                           /* narrow */
				case 2: v[i] = (uint64_t)(int64_t)(rnd() % 41) - 20; break;   /* small signed */
				case 3: v[i] = rnd() % 50 ? 7 : rnd(); break;                 /* exceptions */
				case 4: v[i] = (i / 17) * 1000003; break;                     /* runs */
				case 5: v[i] = i % 2 ? (uint64_t)INT64_MIN : (uint64_t)INT64_MAX; break;
				default: v[i] = 1000 * i + rnd() % 3; break;                  /* ramp */
				}
			}
			int_roundtrip(v, n, -1);
			int_roundtrip(v, n, CHUNK_INT_PFOR);
			int_roundtrip(v, n, CHUNK_INT_PFOR_DELTA);
			int_roundtrip(v, n, CHUNK_INT_RLE);
			int_roundtrip(v, n, CHUNK_INT_DELTA_PLANES);
		}
		for (size_t i = 0; i < n; i++)
			v[i] = UINT64_MAX;
		int_roundtrip(v, n, CHUNK_INT_CONST);
	}
}
END_TEST

START_TEST(test_int_choice)
{
	uint64_t v[4096];
	struct codec_buf b = CODEC_BUF_INIT;

	for (size_t i = 0; i < 4096; i++)
		v[i] = 42;
	ck_assert_int_eq(codec_int_encode(&b, v, 4096), 0);
	ck_assert_uint_eq(b.data[0], CHUNK_INT_CONST);
	ck_assert_uint_le(b.len, 3);
	b.len = 0;
	/* A ramp is cheapest as differences. */
	for (size_t i = 0; i < 4096; i++)
		v[i] = 5000000 + 1000 * i;
	ck_assert_int_eq(codec_int_encode(&b, v, 4096), 0);
	ck_assert_uint_eq(b.data[0], CHUNK_INT_PFOR_DELTA);
	ck_assert_uint_lt(b.len, 200);
	b.len = 0;
	/* Mostly zero with rare outliers: width 0 plus exceptions. */
	for (size_t i = 0; i < 4096; i++)
		v[i] = i % 500 == 3 ? 1ULL << 40 : 0;
	ck_assert_int_eq(codec_int_encode(&b, v, 4096), 0);
	ck_assert_uint_lt(b.len, 150);
	ck_assert_int_eq(codec_int_encode_mode(&b, v, 4096, CHUNK_INT_CONST), -EINVAL);
	codec_buf_free(&b);
	int_roundtrip(v, 4096, -1);
}
END_TEST

/* ---- time column ------------------------------------------------------------------------- */

static unsigned last_time_enc;

/* Round trip the times (zero values); returns the stored time column
 * size and leaves its encoding in last_time_enc. */
static size_t time_col_len(const int64_t *ts, size_t n)
{
	double *v = calloc(n, sizeof *v);
	struct chunk_columns in = f64_cols(n, ts, v);
	struct strbuf out = STRBUF_INIT;
	size_t stored;

	ck_assert_int_eq(chunk_encode(&in, CHUNK_ZSTD_LEVEL_DEFAULT, &out), 0);
	check_decodes(&in, out.data, out.len);
	last_time_enc = dir_entry(out.data, 0, NULL, &stored) & CHUNK_COL_ENC_MASK;
	strbuf_free(&out);
	free(v);
	return stored;
}

START_TEST(test_time_regular)
{
	int64_t *ts = regular_ts(3600, T0, SEC);

	/* 3,600 regular 1-s timestamps: a handful of bytes. */
	ck_assert_uint_le(time_col_len(ts, 3600), 8);
	ck_assert_uint_eq(last_time_enc, CHUNK_ENC_TIME_DELTA);
	free(ts);
	ts = regular_ts(CHUNK_MAX_COUNT, -T0, 250 * 1000000LL);
	ck_assert_uint_le(time_col_len(ts, CHUNK_MAX_COUNT), 8);
	free(ts);
}
END_TEST

START_TEST(test_time_jitter)
{
	int64_t *ts = malloc(3600 * sizeof *ts);

	rng_reset(4);
	/* Polled every second +/- 5 ms, stamped in whole milliseconds: the
	 * grid offsets take 4 bits (11 values), steps would take 5. */
	for (size_t i = 0; i < 3600; i++)
		ts[i] = T0 + (int64_t)i * SEC + ((int64_t)(rnd() % 11) - 5) * 1000000;
	ck_assert_uint_lt(time_col_len(ts, 3600), 3600 * 4 / 8 + 150);
	ck_assert_uint_eq(last_time_enc, CHUNK_ENC_TIME_GRID);
	/* Each interval 1 s +/- 5 ms (the error accumulates): steps win. */
	ts[0] = T0;
	for (size_t i = 1; i < 3600; i++)
		ts[i] = ts[i - 1] + SEC + ((int64_t)(rnd() % 11) - 5) * 1000000;
	ck_assert_uint_lt(time_col_len(ts, 3600), 3600 * 4 / 8 + 150);
	ck_assert_uint_eq(last_time_enc, CHUNK_ENC_TIME_DELTA);
	/* Mostly 1 s with some 2-s steps (SKAB-like), whole seconds. */
	ts[0] = T0;
	for (size_t i = 1; i < 3600; i++)
		ts[i] = ts[i - 1] + (rnd() % 20 ? SEC : 2 * SEC);
	ck_assert_uint_lt(time_col_len(ts, 3600), 3600 / 6);
	/* Jitter at full nanosecond resolution still round-trips. */
	for (size_t i = 0; i < 3600; i++)
		ts[i] = T0 + (int64_t)i * SEC + (int64_t)(rnd() % 1000000);
	time_col_len(ts, 3600);
	free(ts);
}
END_TEST

START_TEST(test_time_edges)
{
	int64_t e1[] = {INT64_MIN, INT64_MAX};
	int64_t e2[] = {INT64_MIN, INT64_MIN + 1, -1, 0, 1, INT64_MAX - 1, INT64_MAX};
	int64_t e3[] = {INT64_MIN, 0, INT64_MAX};
	int64_t e4[] = {-5, -3, 1000000000000000000LL, 1000000000000000001LL};
	int64_t *ts = malloc(1000 * sizeof *ts);

	time_col_len(e1, 2);
	time_col_len(e2, 7);
	time_col_len(e3, 3);
	time_col_len(e4, 4);
	time_col_len(e1 + 1, 1);
	rng_reset(5);
	/* Huge, irregular gaps. */
	ts[0] = INT64_MIN / 2;
	for (size_t i = 1; i < 1000; i++)
		ts[i] = ts[i - 1] + 1 + (int64_t)(rnd() % (1ULL << (rnd() % 52)));
	time_col_len(ts, 1000);
	free(ts);
}
END_TEST

START_TEST(test_time_rejects_unsorted)
{
	int64_t dup[] = {1, 2, 2, 3}, back[] = {5, 4}, ok[] = {1, 2, 3, 4};
	double v[4] = {0};
	struct chunk_columns in = f64_cols(4, dup, v);
	struct strbuf out = STRBUF_INIT;

	ck_assert_int_eq(chunk_encode(&in, 0, &out), -EINVAL);
	in = f64_cols(2, back, v);
	ck_assert_int_eq(chunk_encode(&in, 0, &out), -EINVAL);
	ck_assert_uint_eq(out.len, 0);
	in = f64_cols(0, ok, v);
	ck_assert_int_eq(chunk_encode(&in, 0, &out), -EINVAL);
	in = f64_cols(CHUNK_MAX_COUNT + 1, ok, v);
	ck_assert_int_eq(chunk_encode(&in, 0, &out), -EINVAL);
	in = f64_cols(4, ok, NULL);
	ck_assert_int_eq(chunk_encode(&in, 0, &out), -EINVAL);
	in = f64_cols(4, NULL, v);
	ck_assert_int_eq(chunk_encode(&in, 0, &out), -EINVAL);
	in = f64_cols(4, ok, v);
	in.type = (enum value_type)99;
	ck_assert_int_eq(chunk_encode(&in, 0, &out), -EINVAL);
	ck_assert_int_eq(chunk_encode(NULL, 0, &out), -EINVAL);
	ck_assert_uint_eq(out.len, 0);
	strbuf_free(&out);
}
END_TEST

/* ---- float64 --------------------------------------------------------------------------- */

static const uint64_t special_bits[] = {
	0x0000000000000000ULL, 0x8000000000000000ULL, /* +0.0, -0.0 */
	0x7FF0000000000000ULL, 0xFFF0000000000000ULL, /* +Inf, -Inf */
	0x7FF8000000000000ULL, 0xFFF8000000000000ULL, /* quiet NaN, negative quiet NaN */
	0x7FF8DEADBEEF1234ULL, 0x7FFFFFFFFFFFFFFFULL, /* quiet NaNs with payloads */
	0x7FF0000000000001ULL, 0x7FF4000000000000ULL, /* signalling NaNs */
	0xFFF7FFFFFFFFFFFFULL,                        /* negative signalling NaN, largest payload */
	0x0000000000000001ULL, 0x000FFFFFFFFFFFFFULL, /* smallest and largest subnormal */
	0x8000000000000001ULL, 0x0010000000000000ULL, /* negative subnormal, DBL_MIN */
	0x7FEFFFFFFFFFFFFFULL, 0xFFEFFFFFFFFFFFFFULL, /* DBL_MAX, -DBL_MAX */
	0x3CB0000000000000ULL, 0x3FF0000000000000ULL, /* DBL_EPSILON, 1.0 */
	0x3FB999999999999AULL, 0x3FB999999999999BULL, /* 0.1, 0.1 plus one ulp */
	0x3FD5555555555555ULL, 0x4340000000000001ULL, /* 1/3, 2^53 + 2 */
	0x43E0000000000000ULL, 0xC3E0000000000000ULL, /* 2^63, -2^63 */
	0x7E37E43C8800759CULL, 0x01A56E1FC2F8F359ULL, /* 1e300, 1e-300 */
};
#define NSPECIAL (sizeof special_bits / sizeof *special_bits)

/* The specials, then n - NSPECIAL of random bits or short decimals. */
static double *special_mix(size_t n, int with_random_bits)
{
	double *v = malloc(n * sizeof *v);

	for (size_t i = 0; i < n; i++) {
		if (i < NSPECIAL)
			v[i] = from_bits(special_bits[i]);
		else if (with_random_bits && i % 3 == 0)
			v[i] = from_bits(rnd());
		else
			v[i] = decimal(rnd_unit() * 200 - 100, 2);
	}
	return v;
}

START_TEST(test_f64_specials_every_encoding)
{
	static const uint8_t encs[] = {CHUNK_ENC_F64_RAW, CHUNK_ENC_F64_XOR, CHUNK_ENC_F64_DEC, CHUNK_ENC_F64_DICT};
	double *v;

	rng_reset(6);
	v = special_mix(300, 1);
	for (size_t k = 0; k < sizeof encs; k++)
		f64_forced(v, 300, encs[k], -1, -1);
	/* Decimal scaling at every exponent, with and without the float32
	 * rounding, must carry every pattern through its residuals. */
	for (int e = 0; e <= CHUNK_DEC_MAX_EXP; e++) {
		f64_forced(v, 300, CHUNK_ENC_F64_DEC, e, 0);
		f64_forced(v, 300, CHUNK_ENC_F64_DEC, e, 1);
	}
	/* Only the specials, shuffled into a dictionary of themselves. */
	for (size_t k = 0; k < sizeof encs; k++)
		f64_forced(v, NSPECIAL, encs[k], -1, -1);
	free(v);
	/* Constant columns of every special. */
	v = malloc(50 * sizeof *v);
	for (size_t s = 0; s < NSPECIAL; s++) {
		for (size_t i = 0; i < 50; i++)
			v[i] = from_bits(special_bits[s]);
		ck_assert_uint_le(f64_forced(v, 50, CHUNK_ENC_F64_CONST, -1, -1), 60);
	}
	free(v);
}
END_TEST

START_TEST(test_f64_specials_auto)
{
	double *v;
	int64_t *ts = regular_ts(4096, T0, SEC);

	rng_reset(7);
	for (size_t n = 1; n <= 4096; n *= 4) {
		struct chunk_columns in;
		v = special_mix(n, 1);
		in = f64_cols(n, ts, v);
		roundtrip(&in, NULL);
		free(v);
		v = special_mix(n, 0);
		in = f64_cols(n, ts, v);
		roundtrip(&in, NULL);
		free(v);
	}
	/* One special among thousands of decimals: an exception, not a
	 * fallback of the whole column. */
	v = special_mix(4096, 0);
	for (size_t i = 0; i < NSPECIAL; i++)
		v[i + 1000] = v[i], v[i] = decimal(rnd_unit() * 10, 1);
	{
		struct chunk_columns in = f64_cols(4096, ts, v);
		size_t len;
		ck_assert_uint_eq(roundtrip(&in, &len), CHUNK_ENC_F64_DEC);
		ck_assert_uint_lt(len, 4096 * 2);
	}
	free(v);
	free(ts);
}
END_TEST

START_TEST(test_f64_float32_widened)
{
	size_t n = 2000;
	double *v = malloc(n * sizeof *v);
	static const uint32_t f32_specials[] = {0x7FC12345u, 0xFF800000u, 0x00000001u, 0x7F7FFFFFu, 0x80000000u};
	int64_t *ts = regular_ts(n, T0, SEC);
	struct chunk_columns in = f64_cols(n, ts, v);
	size_t len;

	rng_reset(8);
	/* Sensor floats with 3 decimals, widened. */
	for (size_t i = 0; i < n; i++)
		v[i] = (double)(float)decimal(20 + 5 * sin((double)i / 100) + rnd_unit(), 3);
	ck_assert(codec_f64_all_f32(v, n));
	ck_assert_uint_lt(f64_forced(v, n, CHUNK_ENC_F32_XOR, -1, -1), n * 4);
	ck_assert_uint_lt(f64_forced(v, n, CHUNK_ENC_F64_DEC, 3, 1), n * 3);
	roundtrip(&in, &len);
	ck_assert_uint_lt(len, n * 3);
	/* Widened float32 specials (NaN payload, -Inf, subnormal, FLT_MAX). */
	for (size_t i = 0; i < 5; i++) {
		float f;
		uint32_t u = f32_specials[i];
		memcpy(&f, &u, 4);
		v[10 * i] = (double)f;
	}
	ck_assert(codec_f64_all_f32(v, n));
	f64_forced(v, n, CHUNK_ENC_F32_XOR, -1, -1);
	f64_forced(v, n, CHUNK_ENC_F64_DEC, 3, 1);
	roundtrip(&in, NULL);
	/* ETT-like: float32 values printed with 17 digits, some off by an ulp. */
	for (size_t i = 0; i < n; i++) {
		char text[64];
		snprintf(text, sizeof text, "%.17g", (double)(float)decimal(rnd_unit() * 40, 3));
		if (rnd() % 4 == 0)
			text[strlen(text) - 1] = text[strlen(text) - 1] == '9' ? '8' : text[strlen(text) - 1] + 1;
		v[i] = strtod(text, NULL);
	}
	roundtrip(&in, &len);
	ck_assert_uint_lt(len, n * 4);
	/* Not float32: the forced encoding is refused. */
	v[7] = 0.1;
	{
		struct strbuf out = STRBUF_INIT;
		struct chunk_opts o = opts_f64(CHUNK_ENC_F32_XOR, -1, -1);
		ck_assert_int_eq(chunk__encode(&in, &o, &out), -EINVAL);
		strbuf_free(&out);
	}
	free(v);
	free(ts);
}
END_TEST

START_TEST(test_f64_random_bits)
{
	size_t n = 5000;
	double *v = malloc(n * sizeof *v);
	int64_t *ts = regular_ts(n, T0, SEC);
	struct chunk_columns in = f64_cols(n, ts, v);
	size_t len;

	rng_reset(9);
	printf("check_chunk: random float bits with seed %" PRIu64 "\n", seed);
	for (int round = 0; round < 4; round++) {
		for (size_t i = 0; i < n; i++)
			v[i] = from_bits(rnd());
		roundtrip(&in, &len);
		/* Incompressible: raw plus a small overhead. */
		ck_assert_uint_le(len, n * 8 + 64);
		f64_forced(v, n, CHUNK_ENC_F64_XOR, -1, -1);
		f64_forced(v, n, CHUNK_ENC_F64_DEC, (int)(rnd() % 19), (int)(rnd() % 2));
	}
	free(v);
	free(ts);
}
END_TEST

START_TEST(test_f64_shapes)
{
	size_t n = 8192, len;
	double *v = malloc(n * sizeof *v);
	int64_t *ts = regular_ts(n, T0, SEC);
	struct chunk_columns in = f64_cols(n, ts, v);
	unsigned enc;

	rng_reset(10);
	/* Constant: a few bytes. */
	for (size_t i = 0; i < n; i++)
		v[i] = 21.5;
	ck_assert_uint_eq(roundtrip(&in, &len), CHUNK_ENC_F64_CONST);
	ck_assert_uint_le(len, 60);
	/* Three significant decimals with noise: decimal scaling. */
	for (size_t i = 0; i < n; i++)
		v[i] = decimal(50 + 10 * sin((double)i / 500) + rnd_unit(), 1);
	enc = roundtrip(&in, &len);
	ck_assert(enc == CHUNK_ENC_F64_DEC || enc == CHUNK_ENC_F64_DICT);
	ck_assert_uint_lt(len, n * 2);
	/* A few quantised levels that are not short decimals: dictionary. */
	for (size_t i = 0; i < n; i++)
		v[i] = 0.327927 * (double)(i / 300 % 5) + 1.0 / 3;
	ck_assert_uint_eq(roundtrip(&in, &len), CHUNK_ENC_F64_DICT);
	ck_assert_uint_lt(len, n / 2);
	/* A random walk of arbitrary doubles: XOR or raw, still exact. */
	v[0] = M_PI;
	for (size_t i = 1; i < n; i++)
		v[i] = v[i - 1] * (1 + (rnd_unit() - 0.5) * 1e-9);
	roundtrip(&in, NULL);
	/* Integers, counters and huge magnitudes. */
	for (size_t i = 0; i < n; i++)
		v[i] = (double)(rnd() % 1000);
	ck_assert_uint_eq(roundtrip(&in, &len), CHUNK_ENC_F64_DEC);
	ck_assert_uint_lt(len, n * 2);
	for (size_t i = 0; i < n; i++)
		v[i] = (double)(rnd() >> 1) * 1e10;
	roundtrip(&in, NULL);
	/* Arithmetic results one ulp off a short decimal (NAB-like). */
	for (size_t i = 0; i < n; i++) {
		v[i] = decimal(rnd_unit() * 100, 3);
		if (i % 3 == 0)
			v[i] = from_bits(to_bits(v[i]) + (i % 2 ? 1 : -1));
	}
	ck_assert_uint_eq(roundtrip(&in, &len), CHUNK_ENC_F64_DEC);
	ck_assert_uint_lt(len, n * 3);
	free(v);
	free(ts);
}
END_TEST

START_TEST(test_f64_forced_each)
{
	size_t n = 1000;
	double *v = malloc(n * sizeof *v);

	rng_reset(11);
	for (size_t i = 0; i < n; i++)
		v[i] = decimal(rnd_unit() * 30, (int)(rnd() % 4));
	f64_forced(v, n, CHUNK_ENC_F64_RAW, -1, -1);
	f64_forced(v, n, CHUNK_ENC_F64_XOR, -1, -1);
	f64_forced(v, n, CHUNK_ENC_F64_DEC, -1, -1);
	f64_forced(v, n, CHUNK_ENC_F64_DEC, 0, -1);
	f64_forced(v, n, CHUNK_ENC_F64_DEC, 18, 0);
	f64_forced(v, n, CHUNK_ENC_F64_DICT, -1, -1);
	for (size_t i = 0; i < n; i++)
		v[i] = (double)(float)v[i];
	f64_forced(v, n, CHUNK_ENC_F32_XOR, -1, -1);
	/* A one-value chunk in each encoding. */
	f64_forced(v, 1, CHUNK_ENC_F64_RAW, -1, -1);
	f64_forced(v, 1, CHUNK_ENC_F64_CONST, -1, -1);
	f64_forced(v, 1, CHUNK_ENC_F64_XOR, -1, -1);
	f64_forced(v, 1, CHUNK_ENC_F32_XOR, -1, -1);
	f64_forced(v, 1, CHUNK_ENC_F64_DEC, -1, -1);
	free(v);
}
END_TEST

/* ---- other types ------------------------------------------------------------------------ */

START_TEST(test_i64)
{
	size_t n = 3000;
	int64_t *v = malloc(n * sizeof *v), *ts = regular_ts(n, T0, SEC);
	struct chunk_columns in = {n, VALUE_INT64, ts, NULL, v, NULL, NULL, NULL, NULL};
	size_t len;

	rng_reset(12);
	for (int shape = 0; shape < 5; shape++) {
		for (size_t i = 0; i < n; i++) {
			switch (shape) {
			case 0: v[i] = (int64_t)rnd(); break;
			case 1: v[i] = -7; break;
			case 2: v[i] = 1000000 + (int64_t)i * 3 + (int64_t)(rnd() % 2); break; /* counter */
			case 3: v[i] = i % 2 ? INT64_MIN : INT64_MAX; break;
			default: v[i] = (int64_t)(rnd() % 5) - 2; break;
			}
		}
		ck_assert_uint_eq(roundtrip(&in, &len), CHUNK_ENC_I64);
		if (shape == 1) /* header, 7 bytes of times, 2 of quality: a constant is ~2 more */
			ck_assert_uint_le(len, 55);
		if (shape == 2)
			ck_assert_uint_lt(len, n / 2);
	}
	free(v);
	free(ts);
}
END_TEST

START_TEST(test_bool)
{
	size_t n = 3001;
	uint8_t *v = malloc(n);
	int64_t *ts = regular_ts(n, T0, SEC);
	struct chunk_columns in = {n, VALUE_BOOL, ts, NULL, NULL, v, NULL, NULL, NULL};
	struct chunk_opts o = opts_auto(0);
	size_t len;

	rng_reset(13);
	memset(v, 1, n);
	ck_assert_uint_eq(roundtrip(&in, &len), CHUNK_ENC_BOOL_RLE);
	ck_assert_uint_le(len, 55);
	for (size_t i = 0; i < n; i++)
		v[i] = (uint8_t)(rnd() % 3); /* 2 is true too */
	ck_assert_uint_eq(roundtrip(&in, NULL), CHUNK_ENC_BOOL_BITMAP);
	o.bool_enc = CHUNK_ENC_BOOL_RLE;
	ck_assert_uint_eq(roundtrip_opts(&in, &o, NULL), CHUNK_ENC_BOOL_RLE);
	for (size_t i = 0; i < n; i++)
		v[i] = (i / 100) % 2;
	ck_assert_uint_eq(roundtrip(&in, NULL), CHUNK_ENC_BOOL_RLE);
	o.bool_enc = CHUNK_ENC_BOOL_BITMAP;
	ck_assert_uint_eq(roundtrip_opts(&in, &o, NULL), CHUNK_ENC_BOOL_BITMAP);
	in.count = 1;
	roundtrip(&in, NULL);
	ck_assert_uint_eq(roundtrip_opts(&in, &o, NULL), CHUNK_ENC_BOOL_BITMAP);
	free(v);
	free(ts);
}
END_TEST

START_TEST(test_string)
{
	size_t n = 2000;
	const char **s = malloc(n * sizeof *s);
	uint32_t *len = malloc(n * sizeof *len);
	int64_t *ts = regular_ts(n, T0, SEC);
	static const char *words[] = {"", "open", "closed", "fault\0code", "a much longer state description"};
	static const uint32_t wlen[] = {0, 4, 6, 10, 31};
	char *big = malloc(100000);
	struct chunk_columns in = {n, VALUE_STRING, ts, NULL, NULL, NULL, s, len, NULL};
	size_t clen;

	rng_reset(14);
	for (size_t i = 0; i < n; i++) {
		size_t k = rnd() % 5;
		s[i] = words[k];
		len[i] = wlen[k];
	}
	s[5] = NULL; /* allowed with length 0 */
	len[5] = 0;
	ck_assert_uint_eq(roundtrip(&in, &clen), CHUNK_ENC_STR_DICT);
	ck_assert_uint_lt(clen, n);
	/* Every value distinct, and one big repetitive string (zstd). */
	for (size_t i = 0; i < 100000; i++)
		big[i] = (char)('a' + i % 7);
	for (size_t i = 0; i < n; i++) {
		s[i] = big + (i % 50);
		len[i] = (uint32_t)(i % 1000);
	}
	s[n - 1] = big;
	len[n - 1] = 100000;
	roundtrip(&in, &clen);
	ck_assert_uint_lt(clen, 100000);
	in.count = 1;
	roundtrip(&in, NULL);
	/* Strings cannot be decoded into caller arrays. */
	{
		struct strbuf out = STRBUF_INIT;
		struct chunk_dest dst = {1, NULL, NULL, NULL, NULL, NULL};
		struct chunk_header h;
		ck_assert_int_eq(chunk_encode(&in, 0, &out), 0);
		ck_assert_int_eq(chunk_decode_into(out.data, out.len, &dst, &h), -EINVAL);
		strbuf_free(&out);
	}
	len[0] = 3;
	s[0] = NULL;
	{
		struct strbuf out = STRBUF_INIT;
		ck_assert_int_eq(chunk_encode(&in, 0, &out), -EINVAL);
		strbuf_free(&out);
	}
	free(big);
	free(s);
	free(len);
	free(ts);
}
END_TEST

START_TEST(test_quality)
{
	size_t n = 5000, col;
	quality_t *q = malloc(n * sizeof *q);
	double *v = calloc(n, sizeof *v);
	int64_t *ts = regular_ts(n, T0, SEC);
	struct chunk_columns in = f64_cols(n, ts, v);
	struct strbuf out = STRBUF_INIT;

	rng_reset(15);
	/* No qualities: all good, in a two-byte constant column. */
	ck_assert_int_eq(chunk_encode(&in, 3, &out), 0);
	check_decodes(&in, out.data, out.len);
	ck_assert_uint_eq(dir_entry(out.data, 2, NULL, &col), CHUNK_ENC_QUAL_CONST);
	ck_assert_uint_eq(col, 2);
	in.quality = q;
	for (int shape = 0; shape < 3; shape++) {
		for (size_t i = 0; i < n; i++)
			q[i] = shape == 0 ? QUALITY_BAD | 0x12 : shape == 1 ? (i / 700 % 2 ? QUALITY_UNCERTAIN : 0)
									: (quality_t)rnd();
		out.len = 0;
		ck_assert_int_eq(chunk_encode(&in, 3, &out), 0);
		check_decodes(&in, out.data, out.len);
		ck_assert_uint_eq(dir_entry(out.data, 2, NULL, &col) & CHUNK_COL_ENC_MASK,
				  shape == 0 ? CHUNK_ENC_QUAL_CONST : CHUNK_ENC_QUAL_RLE);
		if (shape < 2)
			ck_assert_uint_le(col, 40);
	}
	strbuf_free(&out);
	free(q);
	free(v);
	free(ts);
}
END_TEST

/* ---- sizes --------------------------------------------------------------------------------- */

START_TEST(test_one_sample)
{
	int64_t ts[1] = {-42};
	double f = -0.0;
	int64_t i = INT64_MIN;
	uint8_t b = 1;
	const char *s = "x";
	uint32_t sl = 1;
	quality_t q = QUALITY_BAD;
	struct chunk_columns in[] = {
		{1, VALUE_FLOAT64, ts, &f, NULL, NULL, NULL, NULL, &q},
		{1, VALUE_INT64, ts, NULL, &i, NULL, NULL, NULL, NULL},
		{1, VALUE_BOOL, ts, NULL, NULL, &b, NULL, NULL, &q},
		{1, VALUE_STRING, ts, NULL, NULL, NULL, &s, &sl, NULL},
	};

	for (size_t k = 0; k < 4; k++) {
		size_t len;
		roundtrip(&in[k], &len);
		ck_assert_uint_le(len, 60);
	}
}
END_TEST

START_TEST(test_max_count)
{
	size_t n = CHUNK_MAX_COUNT;
	int64_t *ts = regular_ts(n, T0, 100 * 1000000LL);
	double *v = malloc(n * sizeof *v);
	struct chunk_columns in = f64_cols(n, ts, v);
	size_t len;

	rng_reset(16);
	for (size_t i = 0; i < n; i++)
		v[i] = decimal(100 + 10 * sin((double)i / 3000) + rnd_unit() * 0.1, 2);
	roundtrip(&in, &len);
	ck_assert_uint_lt(len, n * 2);
	free(v);
	free(ts);
}
END_TEST

/* ---- headers, decode_into, zstd ------------------------------------------------------------ */

START_TEST(test_peek_and_into)
{
	size_t n = 100;
	int64_t *ts = regular_ts(n, T0, SEC);
	double v[100];
	struct chunk_columns in = f64_cols(n, ts, v);
	struct strbuf out = STRBUF_INIT;
	struct chunk_header h;
	double vals[100];
	int64_t small_ts[99];
	struct chunk_dest dst = {100, NULL, vals, NULL, NULL, NULL};

	for (size_t i = 0; i < n; i++)
		v[i] = (double)i / 4;
	ck_assert_int_eq(chunk_encode(&in, 3, &out), 0);
	/* Trailing bytes are not part of the chunk. */
	strbuf_append(&out, "trailing", 8);
	ck_assert_int_eq(chunk_peek(out.data, out.len, &h), 0);
	ck_assert_uint_eq(h.len, out.len - 8);
	ck_assert_int_eq(chunk_verify(out.data, out.len, &h), 0);
	/* Only the value column. */
	ck_assert_int_eq(chunk_decode_into(out.data, out.len, &dst, &h), 0);
	assert_bits_eq(vals, v, n);
	dst.ts_ns = small_ts;
	dst.cap = 99;
	ck_assert_int_eq(chunk_decode_into(out.data, out.len, &dst, &h), -ENOSPC);
	dst = (struct chunk_dest){100, NULL, NULL, (int64_t *)vals, NULL, NULL};
	ck_assert_int_eq(chunk_decode_into(out.data, out.len, &dst, &h), -EINVAL);
	ck_assert_int_eq(chunk_peek(out.data, CHUNK_MIN_LEN - 1, &h), HS_ECORRUPT);
	ck_assert_int_eq(chunk_peek(NULL, 0, &h), HS_ECORRUPT);
	strbuf_free(&out);
	free(ts);
}
END_TEST

START_TEST(test_zstd_columns)
{
	size_t n = 4000, len0, len3, raw, stored;
	int64_t *ts = regular_ts(n, T0, SEC);
	double *v = malloc(n * sizeof *v);
	struct chunk_columns in = f64_cols(n, ts, v);
	struct chunk_opts o = opts_f64(CHUNK_ENC_F64_RAW, -1, -1);
	struct strbuf out = STRBUF_INIT;

	/* A repeating pattern stored raw: zstd shrinks it. */
	for (size_t i = 0; i < n; i++)
		v[i] = (double)(i % 10) * 1.1;
	roundtrip_opts(&in, &o, &len0);
	o.zstd_level = 3;
	roundtrip_opts(&in, &o, &len3);
	ck_assert_uint_lt(len3, len0 / 10);
	ck_assert_int_eq(chunk__encode(&in, &o, &out), 0);
	ck_assert_uint_eq(dir_entry(out.data, 1, &raw, &stored), CHUNK_COL_ZSTD | CHUNK_ENC_F64_RAW);
	ck_assert_uint_eq(raw, n * 8);
	ck_assert_uint_lt(stored, raw);
	/* zstd level 0 never compresses. */
	out.len = 0;
	ck_assert_int_eq(chunk_encode(&in, 0, &out), 0);
	for (int col = 0; col < 3; col++)
		ck_assert_uint_eq(dir_entry(out.data, col, NULL, NULL) & CHUNK_COL_ZSTD, 0);
	strbuf_free(&out);
	free(v);
	free(ts);
}
END_TEST

/* Version 1 fixture: 8 samples, 1-s steps, values with one decimal, one
 * bad quality. The decoder must read these bytes, and the encoder keep
 * producing them: a change here is a format change (bump the version and
 * keep this fixture for the old one). Annotated per chunk_format.h. */
static const unsigned char fixture_v1[] = {
	0x48, 0x43, 0x01, 0x01, 0x00, 0x00,             /* magic, version 1, F64, reserved */
	0x42, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, /* length 66, count 8 */
	0x00, 0x00, 0x2a, 0x36, 0xfe, 0x9c, 0x97, 0x17, /* t_min 1700000000 s */
	0x00, 0x86, 0x65, 0xd7, 0xff, 0x9c, 0x97, 0x17, /* t_max 1700000007 s */
	0x01, 0x07, 0x14, 0x0a, 0x51, 0x09,             /* TIME_DELTA 7, F64_DEC 10, QUAL_RLE 9 */
	0x80, 0x94, 0xeb, 0xdc, 0x03, 0x00, 0x02,       /* g = 10^9; CONST zz 1 */
	0x01, 0x00,                                     /* e = 1, flags 0 */
	0x01, 0x98, 0x03, 0x02, 0xe9, 0x41,             /* PFOR: base 204, width 2, 1 2 2 3 1 0 0 1 */
	0x00, 0x00,                                     /* residuals: CONST 0 */
	0x03, 0x00, 0x02, 0x80, 0x80, 0x02, 0x00, 0x00, 0x03, /* runs: 0 x3, 0x8000 x1, 0 x4 */
	0xfa, 0xda, 0xf7, 0xc4,                         /* CRC-32C */
};

START_TEST(test_fixture_v1)
{
	int64_t *ts = regular_ts(8, T0, SEC);
	double v[8] = {20.5, 20.6, 20.6, 20.7, 20.5, 20.4, 20.4, 20.5};
	quality_t q[8] = {0, 0, 0, QUALITY_BAD, 0, 0, 0, 0};
	struct chunk_columns in = {8, VALUE_FLOAT64, ts, v, NULL, NULL, NULL, NULL, q};
	struct strbuf out = STRBUF_INIT;

	check_decodes(&in, (const char *)fixture_v1, sizeof fixture_v1);
	ck_assert_int_eq(chunk_encode(&in, CHUNK_ZSTD_LEVEL_DEFAULT, &out), 0);
	if (out.len != sizeof fixture_v1 || memcmp(out.data, fixture_v1, out.len)) {
		for (size_t i = 0; i < out.len; i++)
			printf("0x%02x,%s", (unsigned char)out.data[i], i % 12 == 11 ? "\n" : " ");
		printf("\n");
	}
	ck_assert_uint_eq(out.len, sizeof fixture_v1);
	ck_assert_mem_eq(out.data, fixture_v1, sizeof fixture_v1);
	strbuf_free(&out);
	free(ts);
}
END_TEST

static int decode_any(const void *buf, size_t len);
static void fix_crc(unsigned char *p, size_t len);

/* A plant signal with two decimals that moves by a bell-shaped step each
 * second: PFOR packs each block of differences as wide as its widest one,
 * while most steps are a few counts. */
static void noisy_decimals(double *v, int64_t *iv, size_t n)
{
	int64_t walk = 500000;

	for (size_t i = 0; i < n; i++) {
		for (int k = 0; k < 4; k++)
			walk += (int64_t)(rnd() % 13) - 6;
		iv[i] = walk;
		v[i] = (double)iv[i] / 100.0;
	}
}

/* Version 2: byte planes of digit differences in a zstd column win on noisy
 * decimals; the chunk says version 2, reads back bit for bit, is smaller
 * than the PFOR encoding, and the same bytes marked version 1 are refused. */
START_TEST(test_byte_planes_v2)
{
	enum { N = 3600 };
	int64_t *ts = regular_ts(N, T0, SEC), iv[N];
	double v[N];
	struct chunk_columns in = {N, VALUE_FLOAT64, ts, v, NULL, NULL, NULL, NULL, NULL};
	struct chunk_columns in_i = {N, VALUE_INT64, ts, NULL, iv, NULL, NULL, NULL, NULL};
	struct chunk_opts pfor = opts_f64(CHUNK_ENC_F64_DEC, -1, -1);
	struct strbuf out = STRBUF_INIT, base = STRBUF_INIT, out_i = STRBUF_INIT;
	struct chunk_header h;

	rng_reset(77);
	noisy_decimals(v, iv, N);
	pfor.zstd_level = CHUNK_ZSTD_LEVEL_DEFAULT;
	ck_assert_int_eq(chunk_encode(&in, CHUNK_ZSTD_LEVEL_DEFAULT, &out), 0);
	ck_assert_int_eq(chunk__encode(&in, &pfor, &base), 0); /* forced: no second try */
	ck_assert_uint_eq((unsigned char)out.data[CHUNK_OFF_VERSION], 2);
	ck_assert_uint_eq((unsigned char)base.data[CHUNK_OFF_VERSION], 1);
	check_decodes(&in, out.data, out.len);
	ck_assert_int_eq(chunk_peek(out.data, out.len, &h), 0);
	ck_assert_uint_eq(h.version, 2);
	ck_assert_msg(out.len * 100 < base.len * 95, "byte planes %zu bytes, PFOR %zu", out.len, base.len);
	/* Integers take the same path. */
	ck_assert_int_eq(chunk_encode(&in_i, CHUNK_ZSTD_LEVEL_DEFAULT, &out_i), 0);
	ck_assert_uint_eq((unsigned char)out_i.data[CHUNK_OFF_VERSION], 2);
	check_decodes(&in_i, out_i.data, out_i.len);
	/* Without zstd the planes would only be larger: never chosen. */
	out_i.len = 0;
	ck_assert_int_eq(chunk_encode(&in_i, 0, &out_i), 0);
	ck_assert_uint_eq((unsigned char)out_i.data[CHUNK_OFF_VERSION], 1);
	check_decodes(&in_i, out_i.data, out_i.len);
	/* A version 1 chunk may not use the version 2 mode. */
	out.data[CHUNK_OFF_VERSION] = 1;
	fix_crc((unsigned char *)out.data, out.len);
	ck_assert_int_eq(decode_any(out.data, out.len), HS_ECORRUPT);
	strbuf_free(&out);
	strbuf_free(&base);
	strbuf_free(&out_i);
	free(ts);
}
END_TEST

/* The mode is refused outside a version 2 chunk's columns. */
START_TEST(test_byte_planes_need_v2)
{
	uint64_t v[5] = {1, 5, 3, 1000000, 2}, out[5];
	struct codec_buf b = CODEC_BUF_INIT;
	struct codec_cur c;

	ck_assert_int_eq(codec_int_encode_mode(&b, v, 5, CHUNK_INT_DELTA_PLANES), 0);
	ck_assert(b.planes_used);
	c = cur_of(&b, b.len);
	c.planes_ok = false;
	ck_assert_int_eq(codec_int_decode(&c, out, 5), HS_ECORRUPT);
	c = cur_of(&b, b.len);
	ck_assert_int_eq(codec_int_decode(&c, out, 5), 0);
	assert_each_eq(5, out[i_], v[i_]);
	codec_buf_free(&b);
}
END_TEST

/* ---- corrupt input ------------------------------------------------------------------------ */

/* Small chunks that together use every decoder. */
static size_t make_corpus(struct strbuf *bufs, size_t max)
{
	static const uint8_t encs[] = {CHUNK_ENC_F64_RAW, CHUNK_ENC_F64_CONST, CHUNK_ENC_F64_XOR,
				       CHUNK_ENC_F32_XOR, CHUNK_ENC_F64_DEC, CHUNK_ENC_F64_DICT};
	static int64_t ts[40], steps[40], iv[40];
	static double v[40];
	static uint8_t b[40];
	static quality_t q[40];
	static const char *s[40];
	static uint32_t sl[40];
	size_t k = 0;

	for (size_t i = 0; i < 40; i++) {
		/* times on a 1-s grid with jitter (TIME_GRID), and steps of
		 * 1 or 2 s (TIME_DELTA) */
		ts[i] = T0 + (int64_t)i * SEC + (int64_t)(((i * 0x9E3779B97F4A7C15ULL) >> 40) % 11) * 1000000;
		steps[i] = i ? steps[i - 1] + (i % 5 ? SEC : 2 * SEC) : T0;
		v[i] = (double)(float)decimal(10 + (double)(i % 7) / 4, 2);
		iv[i] = (int64_t)(i / 8) * 1000 - 300; /* runs: an RLE stream */
		b[i] = (i / 5) % 2;
		q[i] = i < 30 ? 0 : QUALITY_UNCERTAIN;
		s[i] = i % 3 ? "alpha" : "be";
		sl[i] = i % 3 ? 5 : 2;
	}
	v[17] = NAN; /* a PFOR exception among the decimal residuals */
	for (size_t e = 0; e < sizeof encs && k < max; e++) {
		struct chunk_columns in = f64_cols(40, ts, v);
		struct chunk_opts o = opts_f64(encs[e], -1, -1);
		double c[40];
		if (encs[e] == CHUNK_ENC_F64_CONST) {
			for (size_t i = 0; i < 40; i++)
				c[i] = 1.5;
			in.f64 = c;
		}
		in.quality = q;
		bufs[k] = (struct strbuf)STRBUF_INIT;
		ck_assert_int_eq(chunk__encode(&in, &o, &bufs[k++]), 0);
	}
	{
		struct chunk_columns in[] = {
			{40, VALUE_INT64, steps, NULL, iv, NULL, NULL, NULL, q},
			{40, VALUE_BOOL, steps, NULL, NULL, b, NULL, NULL, NULL},
			{40, VALUE_STRING, ts, NULL, NULL, NULL, s, sl, q},
			{40, VALUE_FLOAT64, steps, v, NULL, NULL, NULL, NULL, NULL},
		};
		for (size_t j = 0; j < 4 && k < max; j++) {
			struct chunk_opts o = opts_auto(j == 3 ? 19 : 0);
			bufs[k] = (struct strbuf)STRBUF_INIT;
			ck_assert_int_eq(chunk__encode(&in[j], &o, &bufs[k++]), 0);
		}
		/* a bitmap bool column too */
		struct chunk_opts o = opts_auto(0);
		o.bool_enc = CHUNK_ENC_BOOL_BITMAP;
		bufs[k] = (struct strbuf)STRBUF_INIT;
		ck_assert_int_eq(chunk__encode(&in[1], &o, &bufs[k++]), 0);
	}
	return k;
}

static void free_corpus(struct strbuf *bufs, size_t k)
{
	for (size_t i = 0; i < k; i++)
		strbuf_free(&bufs[i]);
}

/* Decoding must succeed or say HS_ECORRUPT; ASan checks the rest. */
static int decode_any(const void *buf, size_t len)
{
	struct chunk_decoded d;
	int rc = chunk_decode(buf, len, &d);

	ck_assert_msg(rc == 0 || rc == HS_ECORRUPT, "decode returned %d", rc);
	if (rc == 0)
		chunk_decoded_free(&d);
	else
		ck_assert_ptr_null(d.ts_ns);
	return rc;
}

START_TEST(test_corrupt_bit_flips)
{
	struct strbuf bufs[16];
	size_t k = make_corpus(bufs, 16);

	for (size_t c = 0; c < k; c++) {
		unsigned char *p = (unsigned char *)bufs[c].data;
		size_t len = bufs[c].len;
		ck_assert_int_eq(decode_any(p, len), 0);
		for (size_t bit = 0; bit < len * 8; bit++) {
			p[bit / 8] ^= (unsigned char)(1u << (bit % 8));
			ck_assert_int_eq(decode_any(p, len), HS_ECORRUPT);
			p[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		}
	}
	free_corpus(bufs, k);
}
END_TEST

START_TEST(test_corrupt_truncated)
{
	struct strbuf bufs[16];
	size_t k = make_corpus(bufs, 16);

	for (size_t c = 0; c < k; c++) {
		for (size_t cut = 0; cut < bufs[c].len; cut++) {
			/* A copy of exactly cut bytes, so ASan sees any overread. */
			void *p = malloc(cut ? cut : 1);
			memcpy(p, bufs[c].data, cut);
			ck_assert_int_eq(decode_any(p, cut), HS_ECORRUPT);
			free(p);
		}
	}
	free_corpus(bufs, k);
}
END_TEST

static void fix_crc(unsigned char *p, size_t len)
{
	put_le32(p + len - 4, crc32c(0, p, len - 4));
}

/* Mutations that keep the CRC valid reach the column decoders. */
START_TEST(test_corrupt_valid_crc)
{
	struct strbuf bufs[16];
	size_t k = make_corpus(bufs, 16), ok = 0, bad = 0;

	rng_reset(17);
	for (size_t c = 0; c < k; c++) {
		size_t len = bufs[c].len;
		unsigned char *p = malloc(len);
		for (int iter = 0; iter < 3000; iter++) {
			memcpy(p, bufs[c].data, len);
			for (int m = 0, nm = 1 + (int)(rnd() % 4); m < nm; m++) {
				size_t at = CHUNK_OFF_DIR + rnd() % (len - 4 - CHUNK_OFF_DIR);
				if (rnd() % 2)
					p[at] ^= (unsigned char)(1u << (rnd() % 8));
				else
					p[at] = (unsigned char)rnd();
			}
			fix_crc(p, len);
			if (decode_any(p, len) == 0)
				ok++;
			else
				bad++;
		}
		/* Every single byte set to every value, CRC fixed. */
		for (size_t at = CHUNK_OFF_DIR; at < len - 4; at++) {
			for (unsigned val = 0; val < 256; val += (len > 200 ? 17 : 1)) {
				memcpy(p, bufs[c].data, len);
				p[at] = (unsigned char)val;
				fix_crc(p, len);
				decode_any(p, len);
			}
		}
		free(p);
	}
	ck_assert_uint_gt(bad, 0);
	printf("check_chunk: crc-fixed mutations: %zu decoded, %zu corrupt\n", ok, bad);
	free_corpus(bufs, k);
}
END_TEST

START_TEST(test_corrupt_header_fields)
{
	struct strbuf bufs[16];
	size_t k = make_corpus(bufs, 16);
	unsigned char *p = (unsigned char *)bufs[4].data;
	size_t len = bufs[4].len;
	struct chunk_header h;

	const char *file;
	int line;

	/* Each header field broken, CRC fixed: still refused, and the place
	 * that noticed is recorded for the log. */
	unsigned char version = p[CHUNK_OFF_VERSION];
	p[CHUNK_OFF_VERSION] = 0;
	fix_crc(p, len);
	ck_assert_int_eq(decode_any(p, len), HS_ECORRUPT);
	p[CHUNK_OFF_VERSION] = CHUNK_VERSION + 1;
	fix_crc(p, len);
	ck_assert_int_eq(decode_any(p, len), HS_ECORRUPT);
	chunk_last_corruption(&file, &line);
	ck_assert_ptr_nonnull(file);
	ck_assert_int_gt(line, 0);
	p[CHUNK_OFF_VERSION] = version;
	p[CHUNK_OFF_RESERVED] = 1;
	fix_crc(p, len);
	ck_assert_int_eq(decode_any(p, len), HS_ECORRUPT);
	p[CHUNK_OFF_RESERVED] = 0;
	p[CHUNK_OFF_TYPE] = CHUNK_TYPE_I64; /* a float encoding under int64 */
	fix_crc(p, len);
	ck_assert_int_eq(decode_any(p, len), HS_ECORRUPT);
	p[CHUNK_OFF_TYPE] = CHUNK_TYPE_F64;
	put_le32(p + CHUNK_OFF_COUNT, 41);
	fix_crc(p, len);
	ck_assert_int_eq(decode_any(p, len), HS_ECORRUPT);
	put_le32(p + CHUNK_OFF_COUNT, CHUNK_MAX_COUNT + 1);
	fix_crc(p, len);
	ck_assert_int_eq(chunk_peek(p, len, &h), HS_ECORRUPT);
	put_le32(p + CHUNK_OFF_COUNT, 40);
	put_le64(p + CHUNK_OFF_T_MAX, get_le64(p + CHUNK_OFF_T_MAX) + 1);
	fix_crc(p, len);
	ck_assert_int_eq(decode_any(p, len), HS_ECORRUPT);
	put_le64(p + CHUNK_OFF_T_MAX, get_le64(p + CHUNK_OFF_T_MIN) - 1);
	fix_crc(p, len);
	ck_assert_int_eq(chunk_peek(p, len, &h), HS_ECORRUPT);
	free_corpus(bufs, k);
}
END_TEST

/* ---- the shared data sets ---------------------------------------------------------------- */

struct csv_series {
	int64_t *ts;
	double *v;
	size_t n;
};

static int64_t days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400, yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

static int cmp_pair_ts(const void *a, const void *b)
{
	const int64_t *x = a, *y = b;

	/* by time, then by row so the last row of a time wins */
	if (x[0] != y[0])
		return x[0] < y[0] ? -1 : 1;
	return (x[1] > y[1]) - (x[1] < y[1]);
}

/* The caller's job before chunk_encode: sort by time, keep the last
 * sample of each time. */
static void sort_dedup(struct csv_series *s)
{
	int64_t (*rows)[3] = malloc(s->n * sizeof *rows);
	size_t k = 0;

	for (size_t i = 0; i < s->n; i++) {
		rows[i][0] = s->ts[i];
		rows[i][1] = (int64_t)i;
		rows[i][2] = (int64_t)to_bits(s->v[i]);
	}
	qsort(rows, s->n, sizeof *rows, cmp_pair_ts);
	for (size_t i = 0; i < s->n; i++) {
		if (k && s->ts[k - 1] == rows[i][0])
			k--;
		s->ts[k] = rows[i][0];
		s->v[k++] = from_bits((uint64_t)rows[i][2]);
	}
	s->n = k;
	free(rows);
}

/* Every numeric column of one CSV file, each a tag, encoded in chunks of
 * at most 8192 and decoded bit for bit. Returns the samples checked. */
static size_t check_csv_file(const char *path, char sep)
{
	FILE *f = fopen(path, "r");
	char line[8192];
	struct csv_series s[64];
	size_t ncol = 0, cap = 1024, total = 0;
	int skip[64] = {0};

	ck_assert_msg(f != NULL, "cannot open %s", path);
	ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
	for (char *p = line; p; p = strchr(p, sep), p = p ? p + 1 : p) {
		ck_assert_uint_lt(ncol, 64);
		skip[ncol] = !strncmp(p, "anomaly", 7) || !strncmp(p, "changepoint", 11);
		s[ncol++] = (struct csv_series){malloc(cap * 8), malloc(cap * 8), 0};
	}
	while (fgets(line, sizeof line, f)) {
		int y, mo, d, h, mi, sec;
		int64_t ts;
		char *p = line;
		if (sscanf(line, "%4d-%2d-%2d %2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec) != 6)
			continue;
		ts = (days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) * SEC;
		if (s[0].n == cap) {
			cap *= 2;
			for (size_t c = 0; c < ncol; c++) {
				s[c].ts = realloc(s[c].ts, cap * 8);
				s[c].v = realloc(s[c].v, cap * 8);
			}
		}
		for (size_t c = 1; c < ncol; c++) {
			p = strchr(p, sep);
			ck_assert_msg(p != NULL, "%s: short row", path);
			p++;
			s[c].ts[s[c].n] = ts;
			s[c].v[s[c].n++] = strtod(p, NULL);
		}
		s[0].n++;
	}
	fclose(f);
	for (size_t c = 1; c < ncol; c++) {
		if (!skip[c]) {
			sort_dedup(&s[c]);
			for (size_t off = 0; off < s[c].n; off += 8192) {
				size_t n = s[c].n - off < 8192 ? s[c].n - off : 8192;
				struct chunk_columns in = f64_cols(n, s[c].ts + off, s[c].v + off);
				roundtrip(&in, NULL);
				total += n;
			}
		}
	}
	for (size_t c = 0; c < ncol; c++) {
		free(s[c].ts);
		free(s[c].v);
	}
	return total;
}

static const char *data_dir(void)
{
	static char buf[4096];
	const char *env = getenv("HS_SHARED_DATA"), *src = getenv("HS_SRCDIR");

	if (env && *env)
		return env;
	if (src && *src) {
		int w = snprintf(buf, sizeof buf, "%s/../shared/data", src);
		ck_assert(w > 0 && (size_t)w < sizeof buf);
		return buf;
	}
	return "/work/shared/data";
}

/* Check every *.csv under dir/sub (recursively); returns the file count. */
static size_t check_csv_tree(const char *dir, char sep, size_t *samples)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t files = 0;

	ck_assert_msg(d != NULL, "cannot open %s (set HS_SHARED_DATA)", dir);
	while ((e = readdir(d))) {
		char path[4096];
		struct stat st;
		size_t nl = strlen(e->d_name);
		int w;
		if (e->d_name[0] == '.')
			continue;
		w = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		ck_assert(w > 0 && (size_t)w < sizeof path);
		ck_assert_int_eq(stat(path, &st), 0);
		if (S_ISDIR(st.st_mode))
			files += check_csv_tree(path, sep, samples);
		else if (nl > 4 && !strcmp(e->d_name + nl - 4, ".csv")) {
			*samples += check_csv_file(path, sep);
			files++;
		}
	}
	closedir(d);
	return files;
}

static void check_data_set(const char *sub, char sep, size_t want_files, size_t want_samples)
{
	char dir[4096];
	size_t samples = 0, files;
	int w = snprintf(dir, sizeof dir, "%s/%s", data_dir(), sub);

	ck_assert(w > 0 && (size_t)w < sizeof dir);
	files = check_csv_tree(dir, sep, &samples);
	printf("check_chunk: %s: %zu files, %zu samples bit-exact\n", sub, files, samples);
	ck_assert_uint_eq(files, want_files);
	ck_assert_uint_ge(samples, want_samples);
}

START_TEST(test_data_skab)
{
	check_data_set("skab", ';', 35, 374448);
}
END_TEST

START_TEST(test_data_nab)
{
	/* 321,206 points, a few dozen of them duplicate times. */
	check_data_set("nab-real", ',', 47, 321100);
}
END_TEST

START_TEST(test_data_ett)
{
	check_data_set("ett-small", ',', 2, 243880);
}
END_TEST

/* ---- suite ------------------------------------------------------------------------------------ */

static void add(Suite *s, const char *name, const TTest *t, int timeout)
{
	TCase *tc = tcase_create(name);

	tcase_add_test(tc, t);
	if (timeout)
		tcase_set_timeout(tc, timeout);
	suite_add_tcase(s, tc);
}

static Suite *chunk_suite(void)
{
	Suite *s = suite_create("chunk");

	add(s, "pack_widths", test_pack_widths, 0);
	add(s, "bit_stream", test_bit_stream, 0);
	add(s, "varint_bounds", test_varint_bounds, 0);
	add(s, "int_modes", test_int_modes, 0);
	add(s, "int_choice", test_int_choice, 0);
	add(s, "byte_planes_v2", test_byte_planes_v2, 0);
	add(s, "byte_planes_need_v2", test_byte_planes_need_v2, 0);
	add(s, "time_regular", test_time_regular, 0);
	add(s, "time_jitter", test_time_jitter, 0);
	add(s, "time_edges", test_time_edges, 0);
	add(s, "time_rejects_unsorted", test_time_rejects_unsorted, 0);
	add(s, "f64_specials_every_encoding", test_f64_specials_every_encoding, 0);
	add(s, "f64_specials_auto", test_f64_specials_auto, 0);
	add(s, "f64_float32_widened", test_f64_float32_widened, 0);
	add(s, "f64_random_bits", test_f64_random_bits, 0);
	add(s, "f64_shapes", test_f64_shapes, 0);
	add(s, "f64_forced_each", test_f64_forced_each, 0);
	add(s, "i64", test_i64, 0);
	add(s, "bool", test_bool, 0);
	add(s, "string", test_string, 0);
	add(s, "quality", test_quality, 0);
	add(s, "one_sample", test_one_sample, 0);
	add(s, "max_count", test_max_count, 300);
	add(s, "peek_and_into", test_peek_and_into, 0);
	add(s, "zstd_columns", test_zstd_columns, 0);
	add(s, "fixture_v1", test_fixture_v1, 0);
	add(s, "corrupt_bit_flips", test_corrupt_bit_flips, 300);
	add(s, "corrupt_truncated", test_corrupt_truncated, 300);
	add(s, "corrupt_valid_crc", test_corrupt_valid_crc, 600);
	add(s, "corrupt_header_fields", test_corrupt_header_fields, 0);
	add(s, "data_skab", test_data_skab, 600);
	add(s, "data_nab", test_data_nab, 600);
	add(s, "data_ett", test_data_ett, 600);
	return s;
}

int main(void)
{
	const char *env = getenv("HS_SEED");
	SRunner *sr;
	int failed;

	if (env && *env)
		seed = strtoull(env, NULL, 0);
	printf("check_chunk: seed %" PRIu64 " (set HS_SEED to repeat)\n", seed);
	fflush(stdout);
	sr = srunner_create(chunk_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* codec.h: the chunk codec's internal interface: output buffer, bounds-checked cursor, bit packing and the column codecs.
 * Private to storage/chunk.c, storage/codec_*.c and their unit tests; the bytes they write are specified in storage/chunk_format.h. */
#ifndef HS_CODEC_H
#define HS_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lib/hs_error.h"
#include "lib/strbuf.h"
#include "storage/chunk.h"
#include "storage/sample.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the chunk codec loads packed words as little-endian"
#endif
/* F64_DEC decodes with one binary64 division whose result must be the
 * same everywhere: no excess precision (x87), no fast-math. */
#if !defined(__FLT_EVAL_METHOD__) || __FLT_EVAL_METHOD__ != 0 || defined(__FAST_MATH__)
#error "the chunk codec needs IEEE-754 binary64 arithmetic (SSE2 on x86, no -ffast-math)"
#endif

/*
 * Conventions shared by every codec_* function:
 *
 * - Encoders append to a struct codec_buf. Allocation failure is sticky
 *   (buf->failed); encoders return -ENOMEM when they see it, and callers
 *   may also check once at the end. Encoders never fail on values: every
 *   bit pattern of every type has an encoding.
 * - Decoders read through a struct codec_cur that never moves past its end.
 *   Bytes that do not follow the format give HS_ECORRUPT (the place is kept
 *   for codec_corrupt_where()); decoders never read or write out of bounds
 *   and write at most n items to their output.
 * - Values that are bit patterns (times, residuals, deltas) are handled as
 *   uint64_t so wrapping arithmetic is defined; int64 <-> uint64 casts rely
 *   on two's complement (gcc and clang define the conversion modulo 2^64).
 * - Nothing here allocates memory that outlives the call, does I/O or keeps
 *   global state except the per-thread corruption location; all functions
 *   may run concurrently on different data.
 * - Floating point runs in the default rounding mode (to nearest even):
 *   F64_DEC decoding depends on it, and historiand never changes it.
 */

/* ---- output buffer ------------------------------------------------------ */

/* Writers may store up to CODEC_PAD bytes past len (then fix len), so
 * codec_buf_reserve always keeps that much slack. */
#define CODEC_PAD 8
#define CODEC_MAX_MARKS 16

struct codec_buf {
	uint8_t *data; /* owned; cap + CODEC_PAD bytes allocated */
	size_t len;
	size_t cap;
	bool failed; /* an allocation failed: contents are incomplete */
	/* Set by the caller: int streams that are neither constant nor
	 * cheaper as runs are written as CHUNK_INT_DELTA_PLANES, for a zstd
	 * frame to entropy-code (chunk.c tries a column both ways). */
	bool int_planes;
	bool planes_used;  /* a CHUNK_INT_DELTA_PLANES stream was written */
	/* Where planes start (the first CODEC_MAX_MARKS of them): chunk.c
	 * ends a zstd block there so each plane gets its own literal table. */
	unsigned nmarks;
	size_t marks[CODEC_MAX_MARKS];
};

#define CODEC_BUF_INIT {NULL, 0, 0, false, false, false, 0, {0}}

/* Make room for extra more bytes (plus the pad). False once failed. */
bool codec_buf_reserve(struct codec_buf *b, size_t extra);
void codec_buf_free(struct codec_buf *b);

static inline void codec_put_u8(struct codec_buf *b, uint8_t v)
{
	if (codec_buf_reserve(b, 1))
		b->data[b->len++] = v;
}

static inline void codec_put_bytes(struct codec_buf *b, const void *p, size_t n)
{
	if (n && codec_buf_reserve(b, n)) {
		memcpy(b->data + b->len, p, n);
		b->len += n;
	}
}

/* LEB128: 7 bits a byte, low group first; at most 10 bytes. */
static inline void codec_put_varint(struct codec_buf *b, uint64_t v)
{
	if (!codec_buf_reserve(b, 10))
		return;
	while (v >= 0x80) {
		b->data[b->len++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	b->data[b->len++] = (uint8_t)v;
}

static inline unsigned codec_varint_len(uint64_t v)
{
	unsigned n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* Zigzag: small magnitudes of either sign become small unsigned numbers. */
static inline uint64_t codec_zz(uint64_t v)
{
	return (v << 1) ^ (0 - (v >> 63));
}

static inline uint64_t codec_unzz(uint64_t u)
{
	return (u >> 1) ^ (0 - (u & 1));
}

/* Bits needed for u: 0 for 0, else 1 + floor(log2(u)). */
static inline unsigned codec_bitlen(uint64_t u)
{
	return u ? 64u - (unsigned)__builtin_clzll(u) : 0u;
}

static inline uint64_t codec_load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8); /* little-endian hosts only: chunk.c checks */
	return v;
}

static inline uint64_t codec_f64_bits(double d)
{
	uint64_t u;

	memcpy(&u, &d, 8);
	return u;
}

static inline double codec_bits_f64(uint64_t u)
{
	double d;

	memcpy(&d, &u, 8);
	return d;
}

/* ---- input cursor -------------------------------------------------------- */

struct codec_cur {
	const uint8_t *p;   /* next byte */
	const uint8_t *end; /* one past the last readable byte */
	bool planes_ok;     /* CHUNK_INT_DELTA_PLANES may occur (a version 2 chunk) */
};

/* Record where corruption was found; CODEC_CORRUPT() does that and is
 * HS_ECORRUPT (a constant the compiler can see, for flow analysis). */
void codec_corrupt(const char *file, int line);
#define CODEC_CORRUPT() (codec_corrupt(__FILE__, __LINE__), HS_ECORRUPT)

/* The file and line of this thread's last HS_ECORRUPT from the codec, for
 * logging; file is NULL if there was none. */
void codec_corrupt_where(const char **file, int *line);

static inline size_t codec_cur_left(const struct codec_cur *c)
{
	return (size_t)(c->end - c->p);
}

static inline int codec_get_u8(struct codec_cur *c, uint8_t *v)
{
	if (c->p >= c->end)
		return CODEC_CORRUPT();
	*v = *c->p++;
	return 0;
}

/* A LEB128 varint of at most 10 bytes whose value fits in 64 bits. */
int codec_get_varint(struct codec_cur *c, uint64_t *v) __attribute__((warn_unused_result));

/* A varint that must be <= max. */
int codec_get_varint_max(struct codec_cur *c, uint64_t max, uint64_t *v)
	__attribute__((warn_unused_result));

/* Point *p at the next n bytes and step over them. */
int codec_get_bytes(struct codec_cur *c, size_t n, const uint8_t **p)
	__attribute__((warn_unused_result));

/* ---- bit streams (LSB first) ------------------------------------------- */

/* Append n values of width bits each (0..64), bit-packed LSB first, in
 * ceil(n * width / 8) bytes; values must fit in width bits. */
void codec_pack(struct codec_buf *b, const uint64_t *v, size_t n, unsigned width);

/* Read what codec_pack wrote: out[i] = base + value i (mod 2^64). */
int codec_unpack(struct codec_cur *c, uint64_t *out, size_t n, unsigned width, uint64_t base)
	__attribute__((warn_unused_result));

struct codec_bitw {
	struct codec_buf *b;
	uint64_t acc;   /* pending bits, LSB first */
	unsigned nacc;  /* how many, < 64 */
};

void codec_bitw_init(struct codec_bitw *w, struct codec_buf *b);
/* Append the low n bits of v (1 <= n <= 64; higher bits of v must be 0). */
void codec_bitw_put(struct codec_bitw *w, uint64_t v, unsigned n);
/* Write the pending bits, zero-padded to a whole byte. */
void codec_bitw_flush(struct codec_bitw *w);

struct codec_bitr {
	const uint8_t *p, *end;
	uint64_t acc;  /* unread bits, LSB first */
	unsigned nacc; /* how many, <= 64 */
	bool overrun;  /* a read went past end: the value read is garbage */
};

void codec_bitr_init(struct codec_bitr *r, const uint8_t *p, size_t len);
/* The next n bits (1 <= n <= 64); sets overrun and returns 0 past the end. */
uint64_t codec_bitr_get(struct codec_bitr *r, unsigned n);
/* Bytes consumed so far (a partly read byte counts). */
size_t codec_bitr_used(const struct codec_bitr *r, const uint8_t *start);

/* ---- integer streams (codec_int.c) --------------------------------------
 * An int stream holds n 64-bit values in one of five modes (chunk_format.h
 * "INT STREAM"); the encoder picks the smallest, or with b->int_planes the
 * byte planes of the differences unless constant or runs are smaller. n = 0 writes
 * nothing. */

int codec_int_encode(struct codec_buf *b, const uint64_t *v, size_t n)
	__attribute__((warn_unused_result));
int codec_int_decode(struct codec_cur *c, uint64_t *out, size_t n) __attribute__((warn_unused_result));

/* Force a mode (CHUNK_INT_*), for tests; -EINVAL if it cannot hold v. */
int codec_int_encode_mode(struct codec_buf *b, const uint64_t *v, size_t n, unsigned mode)
	__attribute__((warn_unused_result));

/* ---- columns --------------------------------------------------------------
 * Column encoders write a column body and return its CHUNK_ENC_* id (> 0)
 * or a negative error; decoders take that id and must consume the whole
 * body (the caller checks the cursor ends exactly at the body's end). */

/* Strictly increasing times; t_min = ts[0] and t_max = ts[n-1] are in the
 * chunk header, so the body holds only what follows t_min. */
int codec_time_encode(struct codec_buf *b, const int64_t *ts, size_t n) __attribute__((warn_unused_result));
int codec_time_decode(uint8_t enc, struct codec_cur *c, int64_t t_min, int64_t t_max, int64_t *out,
		      size_t n) __attribute__((warn_unused_result));

/* Encodings a float column may be forced to (tests); 0 = choose the smallest. */
struct codec_f64_opts {
	uint8_t force_enc; /* CHUNK_ENC_F64_* or 0 */
	int dec_exp;       /* with F64_DEC: exponent 0..18, or -1 to choose */
	int dec_f32;       /* with F64_DEC: 0 or 1, or -1 to choose */
};

int codec_f64_encode(struct codec_buf *b, const double *v, size_t n, const struct codec_f64_opts *opts)
	__attribute__((warn_unused_result));
int codec_f64_decode(uint8_t enc, struct codec_cur *c, double *out, size_t n)
	__attribute__((warn_unused_result));

/* Every value is a float32 widened to double, bit for bit. */
bool codec_f64_all_f32(const double *v, size_t n);

int codec_i64_encode(struct codec_buf *b, const int64_t *v, size_t n) __attribute__((warn_unused_result));
int codec_i64_decode(uint8_t enc, struct codec_cur *c, int64_t *out, size_t n)
	__attribute__((warn_unused_result));

/* Booleans: any non-zero input byte is true; decoding gives 0 or 1. */
int codec_bool_encode(struct codec_buf *b, const uint8_t *v, size_t n, uint8_t force_enc)
	__attribute__((warn_unused_result));
int codec_bool_decode(uint8_t enc, struct codec_cur *c, uint8_t *out, size_t n)
	__attribute__((warn_unused_result));

int codec_quality_encode(struct codec_buf *b, const quality_t *q, size_t n) __attribute__((warn_unused_result));
int codec_quality_decode(uint8_t enc, struct codec_cur *c, quality_t *out, size_t n)
	__attribute__((warn_unused_result));

int codec_str_encode(struct codec_buf *b, const char *const *s, const uint32_t *len, size_t n)
	__attribute__((warn_unused_result));
/* Decoded strings point into one allocation, *blob_out (caller frees):
 * each distinct string once, each followed by a NUL. */
int codec_str_decode(uint8_t enc, struct codec_cur *c, const char **out, uint32_t *len_out, size_t n,
		     char **blob_out) __attribute__((warn_unused_result));

/* ---- chunk encoding with forced choices (tests) ---------------------------- */

struct chunk_opts {
	int zstd_level;             /* as for chunk_encode */
	struct codec_f64_opts f64;  /* force a float encoding */
	uint8_t bool_enc;           /* CHUNK_ENC_BOOL_* or 0 */
};

/* chunk_encode with options; chunk_encode(in, level, out) is this with
 * {level} and nothing forced. -EINVAL also when a forced encoding cannot
 * hold the values. */
int chunk__encode(const struct chunk_columns *in, const struct chunk_opts *o, struct strbuf *out)
	__attribute__((warn_unused_result));

#endif

/* codec_rle.c: the run-length columns: bool values (run lengths or a bitmap) and quality (constant or runs).
 * Quality is almost always one constant, which costs two bytes. */
#include <errno.h>

#include "lib/endian.h"
#include "storage/chunk_format.h"
#include "storage/codec.h"

/* ---- bool --------------------------------------------------------------------- */

static size_t bool_rle_cost(const uint8_t *v, size_t n, size_t *runs)
{
	size_t cost = 0, r = 0;

	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		while (j < n && !v[j] == !v[i])
			j++;
		cost += codec_varint_len(j - i - 1);
		r++;
		i = j;
	}
	*runs = r;
	return 1 + codec_varint_len(r) + cost;
}

static void bool_rle_write(struct codec_buf *b, const uint8_t *v, size_t n, size_t runs)
{
	codec_put_u8(b, v[0] ? 1 : 0);
	codec_put_varint(b, runs);
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		while (j < n && !v[j] == !v[i])
			j++;
		codec_put_varint(b, j - i - 1);
		i = j;
	}
}

static void bool_bitmap_write(struct codec_buf *b, const uint8_t *v, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint8_t byte = 0;
		for (size_t k = 0; k < 8 && i + k < n; k++)
			byte |= (uint8_t)((v[i + k] ? 1u : 0u) << k);
		codec_put_u8(b, byte);
	}
}

int codec_bool_encode(struct codec_buf *b, const uint8_t *v, size_t n, uint8_t force_enc)
{
	size_t runs, rle = bool_rle_cost(v, n, &runs);
	uint8_t enc = force_enc;

	if (n == 0 || (enc && enc != CHUNK_ENC_BOOL_RLE && enc != CHUNK_ENC_BOOL_BITMAP))
		return -EINVAL;
	if (!enc)
		enc = rle <= (n + 7) / 8 ? CHUNK_ENC_BOOL_RLE : CHUNK_ENC_BOOL_BITMAP;
	if (enc == CHUNK_ENC_BOOL_RLE)
		bool_rle_write(b, v, n, runs);
	else
		bool_bitmap_write(b, v, n);
	return b->failed ? -ENOMEM : enc;
}

static int bool_rle_read(struct codec_cur *c, uint8_t *out, size_t n)
{
	uint8_t value;
	uint64_t runs, len_m1;
	size_t at = 0;
	int rc;

	if ((rc = codec_get_u8(c, &value)) || (rc = codec_get_varint(c, &runs)))
		return rc;
	if (value > 1 || runs == 0 || runs > n)
		return CODEC_CORRUPT();
	for (uint64_t r = 0; r < runs; r++, value ^= 1) {
		if ((rc = codec_get_varint(c, &len_m1)))
			return rc;
		if (len_m1 >= n - at)
			return CODEC_CORRUPT();
		memset(out + at, value, (size_t)len_m1 + 1);
		at += (size_t)len_m1 + 1;
	}
	return at == n ? 0 : CODEC_CORRUPT();
}

static int bool_bitmap_read(struct codec_cur *c, uint8_t *out, size_t n)
{
	const uint8_t *p;
	int rc = codec_get_bytes(c, (n + 7) / 8, &p);

	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++)
		out[i] = (p[i / 8] >> (i % 8)) & 1;
	/* Bits after the last value are 0. */
	if (n % 8 && (p[n / 8] >> (n % 8)))
		return CODEC_CORRUPT();
	return 0;
}

int codec_bool_decode(uint8_t enc, struct codec_cur *c, uint8_t *out, size_t n)
{
	switch (enc) {
	case CHUNK_ENC_BOOL_RLE: return bool_rle_read(c, out, n);
	case CHUNK_ENC_BOOL_BITMAP: return bool_bitmap_read(c, out, n);
	default: return CODEC_CORRUPT();
	}
}

/* ---- quality ------------------------------------------------------------------ */

int codec_quality_encode(struct codec_buf *b, const quality_t *q, size_t n)
{
	size_t runs = 0;
	uint8_t le[2];

	for (size_t i = 1; i <= n; i++)
		if (i == n || q[i] != q[i - 1])
			runs++;
	if (runs == 1) {
		put_le16(le, q[0]);
		codec_put_bytes(b, le, 2);
		return b->failed ? -ENOMEM : CHUNK_ENC_QUAL_CONST;
	}
	codec_put_varint(b, runs);
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		while (j < n && q[j] == q[i])
			j++;
		codec_put_varint(b, q[i]);
		codec_put_varint(b, j - i - 1);
		i = j;
	}
	return b->failed ? -ENOMEM : CHUNK_ENC_QUAL_RLE;
}

static int quality_rle_read(struct codec_cur *c, quality_t *out, size_t n)
{
	uint64_t runs, value, len_m1;
	size_t at = 0;
	int rc;

	if ((rc = codec_get_varint(c, &runs)))
		return rc;
	if (runs == 0 || runs > n)
		return CODEC_CORRUPT();
	for (uint64_t r = 0; r < runs; r++) {
		if ((rc = codec_get_varint_max(c, 0xFFFF, &value)) || (rc = codec_get_varint(c, &len_m1)))
			return rc;
		if (len_m1 >= n - at)
			return CODEC_CORRUPT();
		for (uint64_t k = 0; k <= len_m1; k++)
			out[at++] = (quality_t)value;
	}
	return at == n ? 0 : CODEC_CORRUPT();
}

int codec_quality_decode(uint8_t enc, struct codec_cur *c, quality_t *out, size_t n)
{
	const uint8_t *p;
	quality_t q;
	int rc;

	if (enc == CHUNK_ENC_QUAL_RLE)
		return quality_rle_read(c, out, n);
	if (enc != CHUNK_ENC_QUAL_CONST)
		return CODEC_CORRUPT();
	if ((rc = codec_get_bytes(c, 2, &p)))
		return rc;
	q = get_le16(p);
	for (size_t i = 0; i < n; i++)
		out[i] = q;
	return 0;
}

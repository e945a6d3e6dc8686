/* chunk.c: chunk_encode / chunk_decode behind chunk.h: the header, the column directory, zstd and the CRC around the column codecs.
 * Decoding checks the header and the CRC before it looks at a column; each thread caches one zstd context pair (freed at thread exit). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <zstd.h>

#include "lib/crc32c.h"
#include "lib/endian.h"
#include "storage/chunk.h"
#include "storage/chunk_format.h"
#include "storage/codec.h"

enum { COL_TIME, COL_VALUE, COL_QUALITY };

/* Columns shorter than this are never worth a zstd frame (its header
 * alone is about 6 bytes). */
#define ZSTD_MIN_RAW 32

/* ---- per-thread zstd contexts ------------------------------------------------ */

struct zstd_ctx {
	ZSTD_CCtx *c;
	ZSTD_DCtx *d;
};

static pthread_key_t zstd_key;
static pthread_once_t zstd_once = PTHREAD_ONCE_INIT;
static bool zstd_key_ok;

static void zstd_ctx_free(void *p)
{
	struct zstd_ctx *z = p;

	ZSTD_freeCCtx(z->c);
	ZSTD_freeDCtx(z->d);
	free(z);
}

static void zstd_key_init(void)
{
	zstd_key_ok = pthread_key_create(&zstd_key, zstd_ctx_free) == 0;
}

/* This thread's contexts, created on first use; NULL without memory. */
static struct zstd_ctx *zstd_ctx_get(void)
{
	struct zstd_ctx *z;

	pthread_once(&zstd_once, zstd_key_init);
	if (!zstd_key_ok)
		return NULL;
	z = pthread_getspecific(zstd_key);
	if (z)
		return z;
	z = calloc(1, sizeof *z);
	if (!z)
		return NULL;
	z->c = ZSTD_createCCtx();
	z->d = ZSTD_createDCtx();
	if (!z->c || !z->d || pthread_setspecific(zstd_key, z) != 0) {
		zstd_ctx_free(z);
		return NULL;
	}
	return z;
}

/* ---- types -------------------------------------------------------------------- */

static int type_to_disk(enum value_type t)
{
	switch (t) {
	case VALUE_FLOAT64: return CHUNK_TYPE_F64;
	case VALUE_INT64: return CHUNK_TYPE_I64;
	case VALUE_BOOL: return CHUNK_TYPE_BOOL;
	case VALUE_STRING: return CHUNK_TYPE_STRING;
	}
	return -1;
}

static int type_from_disk(unsigned t, enum value_type *out)
{
	switch (t) {
	case CHUNK_TYPE_F64: *out = VALUE_FLOAT64; return 0;
	case CHUNK_TYPE_I64: *out = VALUE_INT64; return 0;
	case CHUNK_TYPE_BOOL: *out = VALUE_BOOL; return 0;
	case CHUNK_TYPE_STRING: *out = VALUE_STRING; return 0;
	default: return CODEC_CORRUPT();
	}
}

/* ---- encoding ------------------------------------------------------------------- */

static int check_input(const struct chunk_columns *in)
{
	if (!in->ts_ns || in->count == 0 || in->count > CHUNK_MAX_COUNT || type_to_disk(in->type) < 0)
		return -EINVAL;
	for (size_t i = 1; i < in->count; i++)
		if (in->ts_ns[i] <= in->ts_ns[i - 1])
			return -EINVAL;
	switch (in->type) {
	case VALUE_FLOAT64: return in->f64 ? 0 : -EINVAL;
	case VALUE_INT64: return in->i64 ? 0 : -EINVAL;
	case VALUE_BOOL: return in->b ? 0 : -EINVAL;
	case VALUE_STRING:
		if (!in->str || !in->str_len)
			return -EINVAL;
		for (size_t i = 0; i < in->count; i++)
			if (!in->str[i] && in->str_len[i])
				return -EINVAL;
		return 0;
	}
	return -EINVAL;
}

static int encode_value(const struct chunk_columns *in, const struct chunk_opts *o, struct codec_buf *b)
{
	switch (in->type) {
	case VALUE_FLOAT64: return codec_f64_encode(b, in->f64, in->count, &o->f64);
	case VALUE_INT64: return codec_i64_encode(b, in->i64, in->count);
	case VALUE_BOOL: return codec_bool_encode(b, in->b, in->count, o->bool_enc);
	case VALUE_STRING: return codec_str_encode(b, in->str, in->str_len, in->count);
	}
	return -EINVAL;
}

static int encode_quality(const struct chunk_columns *in, struct codec_buf *b)
{
	static const quality_t good = QUALITY_GOOD;

	/* No qualities: one good one stands for all (a constant column). */
	if (!in->quality)
		return codec_quality_encode(b, &good, 1);
	return codec_quality_encode(b, in->quality, in->count);
}

/* One encoded column, maybe zstd'd: stored points at raw or z. */
struct col_out {
	struct codec_buf raw, z;
	uint8_t enc;
	const uint8_t *stored;
	size_t stored_len;
};

/* One zstd frame whose blocks end at the column's marks (byte planes), so
 * that each plane's bytes get their own literal table. */
static size_t compress_at_marks(ZSTD_CCtx *cctx, const struct codec_buf *raw, uint8_t *dst, size_t cap,
				int level)
{
	ZSTD_outBuffer out = {dst, cap, 0};
	ZSTD_inBuffer in = {raw->data, 0, 0};
	size_t rc;

	ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
	rc = ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
	if (!ZSTD_isError(rc))
		rc = ZSTD_CCtx_setPledgedSrcSize(cctx, raw->len);
	for (unsigned i = 0; i <= raw->nmarks && !ZSTD_isError(rc); i++) {
		bool last = i == raw->nmarks;
		in.size = last ? raw->len : raw->marks[i];
		do
			rc = ZSTD_compressStream2(cctx, &out, &in, last ? ZSTD_e_end : ZSTD_e_flush);
		while (!ZSTD_isError(rc) && rc != 0 && out.pos < out.size);
		if (!ZSTD_isError(rc) && rc != 0)
			rc = (size_t)-1; /* out of room: not worth storing compressed */
	}
	ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
	return ZSTD_isError(rc) ? rc : out.pos;
}

static void maybe_compress(struct col_out *col, int level, ZSTD_CCtx *cctx)
{
	size_t bound, zlen;

	col->stored = col->raw.data;
	col->stored_len = col->raw.len;
	if (level <= 0 || col->raw.len < ZSTD_MIN_RAW || !cctx)
		return;
	bound = ZSTD_compressBound(col->raw.len) + 16 * (size_t)col->raw.nmarks;
	if (!codec_buf_reserve(&col->z, bound))
		return; /* stored raw: still a valid chunk */
	if (col->raw.nmarks)
		zlen = compress_at_marks(cctx, &col->raw, col->z.data, bound, level);
	else
		zlen = ZSTD_compressCCtx(cctx, col->z.data, bound, col->raw.data, col->raw.len, level);
	if (ZSTD_isError(zlen) || zlen + codec_varint_len(zlen) >= col->raw.len)
		return;
	col->z.len = zlen;
	col->enc |= CHUNK_COL_ZSTD;
	col->stored = col->z.data;
	col->stored_len = zlen;
}

/* The value column once more with its int streams as byte planes,
 * compressed; it replaces the first encoding when its zstd frame is
 * smaller. Decimal floats and integers only: their digits are what a noisy
 * signal spends its bytes on (chunk_format.h, CHUNK_INT_DELTA_PLANES). */
static int try_byte_planes(const struct chunk_columns *in, const struct chunk_opts *o, struct col_out *col,
			   ZSTD_CCtx *cctx)
{
	struct col_out alt = {CODEC_BUF_INIT, CODEC_BUF_INIT, 0, NULL, 0};
	int rc;

	if ((in->type != VALUE_FLOAT64 && in->type != VALUE_INT64) || o->f64.force_enc ||
	    o->zstd_level <= 0 || col->raw.len < ZSTD_MIN_RAW)
		return 0;
	alt.raw.int_planes = true;
	rc = encode_value(in, o, &alt.raw);
	if (rc < 0)
		goto out;
	alt.enc = (uint8_t)rc;
	rc = 0;
	maybe_compress(&alt, o->zstd_level, cctx);
	if (alt.raw.planes_used && (alt.enc & CHUNK_COL_ZSTD) && alt.stored_len < col->stored_len) {
		struct col_out keep = *col;
		*col = alt;
		alt = keep;
	}
out:
	codec_buf_free(&alt.raw);
	codec_buf_free(&alt.z);
	return rc;
}

/* Header, directory, columns and CRC, appended to out. */
static int assemble(const struct chunk_columns *in, struct col_out *cols, struct strbuf *out)
{
	struct codec_buf b = CODEC_BUF_INIT;
	uint8_t hdr[CHUNK_HDR_SIZE] = {CHUNK_MAGIC0, CHUNK_MAGIC1, CHUNK_VERSION_MIN};
	size_t total = CHUNK_HDR_SIZE + CHUNK_CRC_SIZE;
	int rc = -EINVAL;

	for (int i = 0; i < CHUNK_COLUMNS; i++) {
		if (cols[i].raw.len > CHUNK_MAX_RAW)
			goto out;
		if (cols[i].raw.planes_used)
			hdr[CHUNK_OFF_VERSION] = 2; /* CHUNK_INT_DELTA_PLANES */
		total += 1 + codec_varint_len(cols[i].raw.len) + cols[i].stored_len +
			 ((cols[i].enc & CHUNK_COL_ZSTD) ? codec_varint_len(cols[i].stored_len) : 0);
	}
	if (total > CHUNK_MAX_LEN)
		goto out;
	hdr[CHUNK_OFF_TYPE] = (uint8_t)type_to_disk(in->type);
	put_le32(hdr + CHUNK_OFF_LENGTH, (uint32_t)total);
	put_le32(hdr + CHUNK_OFF_COUNT, (uint32_t)in->count);
	put_le64(hdr + CHUNK_OFF_T_MIN, (uint64_t)in->ts_ns[0]);
	put_le64(hdr + CHUNK_OFF_T_MAX, (uint64_t)in->ts_ns[in->count - 1]);
	rc = -ENOMEM;
	if (!codec_buf_reserve(&b, total))
		goto out;
	codec_put_bytes(&b, hdr, sizeof hdr);
	for (int i = 0; i < CHUNK_COLUMNS; i++) {
		codec_put_u8(&b, cols[i].enc);
		codec_put_varint(&b, cols[i].raw.len);
		if (cols[i].enc & CHUNK_COL_ZSTD)
			codec_put_varint(&b, cols[i].stored_len);
	}
	for (int i = 0; i < CHUNK_COLUMNS; i++)
		codec_put_bytes(&b, cols[i].stored, cols[i].stored_len);
	put_le32(b.data + b.len, crc32c(0, b.data, b.len));
	b.len += CHUNK_CRC_SIZE;
	strbuf_append(out, (const char *)b.data, b.len);
	rc = strbuf_failed(out) ? -ENOMEM : 0;
out:
	codec_buf_free(&b);
	return rc;
}

int chunk__encode(const struct chunk_columns *in, const struct chunk_opts *o, struct strbuf *out)
{
	struct col_out cols[CHUNK_COLUMNS];
	struct zstd_ctx *z = NULL;
	int rc;

	if (!in || !o || !out)
		return -EINVAL;
	if ((rc = check_input(in)))
		return rc;
	for (int i = 0; i < CHUNK_COLUMNS; i++)
		cols[i] = (struct col_out){CODEC_BUF_INIT, CODEC_BUF_INIT, 0, NULL, 0};
	if ((rc = codec_time_encode(&cols[COL_TIME].raw, in->ts_ns, in->count)) < 0)
		goto out;
	cols[COL_TIME].enc = (uint8_t)rc;
	if ((rc = encode_value(in, o, &cols[COL_VALUE].raw)) < 0)
		goto out;
	cols[COL_VALUE].enc = (uint8_t)rc;
	if ((rc = encode_quality(in, &cols[COL_QUALITY].raw)) < 0)
		goto out;
	cols[COL_QUALITY].enc = (uint8_t)rc;
	if (o->zstd_level > 0)
		z = zstd_ctx_get();
	for (int i = 0; i < CHUNK_COLUMNS; i++)
		maybe_compress(&cols[i], o->zstd_level, z ? z->c : NULL);
	if (z && (rc = try_byte_planes(in, o, &cols[COL_VALUE], z->c)))
		goto out;
	rc = assemble(in, cols, out);
out:
	for (int i = 0; i < CHUNK_COLUMNS; i++) {
		codec_buf_free(&cols[i].raw);
		codec_buf_free(&cols[i].z);
	}
	return rc;
}

int chunk_encode(const struct chunk_columns *in, int zstd_level, struct strbuf *out)
{
	struct chunk_opts o;

	memset(&o, 0, sizeof o);
	o.zstd_level = zstd_level < 0 ? 0 : zstd_level > ZSTD_maxCLevel() ? ZSTD_maxCLevel() : zstd_level;
	o.f64.dec_exp = -1;
	o.f64.dec_f32 = -1;
	return chunk__encode(in, &o, out);
}

/* ---- header ----------------------------------------------------------------------- */

int chunk_peek(const void *buf, size_t len, struct chunk_header *hdr)
{
	const uint8_t *p = buf;
	uint32_t total, count;

	if (!buf || len < CHUNK_MIN_LEN)
		return CODEC_CORRUPT();
	if (p[CHUNK_OFF_MAGIC] != CHUNK_MAGIC0 || p[CHUNK_OFF_MAGIC + 1] != CHUNK_MAGIC1 ||
	    p[CHUNK_OFF_VERSION] < CHUNK_VERSION_MIN || p[CHUNK_OFF_VERSION] > CHUNK_VERSION ||
	    get_le16(p + CHUNK_OFF_RESERVED) != 0)
		return CODEC_CORRUPT();
	hdr->version = p[CHUNK_OFF_VERSION];
	if (type_from_disk(p[CHUNK_OFF_TYPE], &hdr->type))
		return HS_ECORRUPT;
	total = get_le32(p + CHUNK_OFF_LENGTH);
	count = get_le32(p + CHUNK_OFF_COUNT);
	hdr->t_min = (int64_t)get_le64(p + CHUNK_OFF_T_MIN);
	hdr->t_max = (int64_t)get_le64(p + CHUNK_OFF_T_MAX);
	if (total < CHUNK_MIN_LEN || total > len || count == 0 || count > CHUNK_MAX_COUNT)
		return CODEC_CORRUPT();
	if (hdr->t_min > hdr->t_max || (count == 1) != (hdr->t_min == hdr->t_max))
		return CODEC_CORRUPT();
	hdr->count = count;
	hdr->len = total;
	hdr->crc = get_le32(p + total - CHUNK_CRC_SIZE);
	return 0;
}

int chunk_verify(const void *buf, size_t len, struct chunk_header *hdr)
{
	int rc = chunk_peek(buf, len, hdr);

	if (rc == 0 && crc32c(0, buf, hdr->len - CHUNK_CRC_SIZE) != hdr->crc)
		rc = CODEC_CORRUPT();
	return rc;
}

/* ---- decoding ---------------------------------------------------------------------- */

struct col_in {
	uint8_t enc;          /* CHUNK_ENC_*, without the zstd bit */
	bool zstd;
	size_t raw_len;
	size_t stored_len;
	const uint8_t *stored;
};

/* Where decoded columns go; NULL arrays are skipped. */
struct dec_target {
	int64_t *ts;
	double *f64;
	int64_t *i64;
	uint8_t *b;
	const char **str;
	uint32_t *str_len;
	char **str_blob;
	quality_t *quality;
};

static bool enc_allowed(int col, unsigned enc, enum value_type type)
{
	if (col == COL_TIME)
		return enc == CHUNK_ENC_TIME_DELTA || enc == CHUNK_ENC_TIME_GRID;
	if (col == COL_QUALITY)
		return enc == CHUNK_ENC_QUAL_CONST || enc == CHUNK_ENC_QUAL_RLE;
	switch (type) {
	case VALUE_FLOAT64: return enc >= CHUNK_ENC_F64_RAW && enc <= CHUNK_ENC_F64_DICT;
	case VALUE_INT64: return enc == CHUNK_ENC_I64;
	case VALUE_BOOL: return enc == CHUNK_ENC_BOOL_RLE || enc == CHUNK_ENC_BOOL_BITMAP;
	case VALUE_STRING: return enc == CHUNK_ENC_STR_DICT;
	}
	return false;
}

/* Read the directory and locate the stored columns, which must exactly
 * fill the chunk up to the CRC. */
static int parse_dir(const uint8_t *p, const struct chunk_header *h, struct col_in *cols)
{
	struct codec_cur c = {p + CHUNK_OFF_DIR, p + h->len - CHUNK_CRC_SIZE, false};
	uint64_t raw, stored;
	uint8_t e = 0;
	int rc;

	for (int i = 0; i < CHUNK_COLUMNS; i++) {
		if ((rc = codec_get_u8(&c, &e)) || (rc = codec_get_varint_max(&c, CHUNK_MAX_RAW, &raw)))
			return rc;
		cols[i].enc = e & CHUNK_COL_ENC_MASK;
		cols[i].zstd = (e & CHUNK_COL_ZSTD) != 0;
		if (!enc_allowed(i, cols[i].enc, h->type))
			return CODEC_CORRUPT();
		stored = raw;
		if (cols[i].zstd && (rc = codec_get_varint(&c, &stored)))
			return rc;
		if (cols[i].zstd && (stored == 0 || stored >= raw))
			return CODEC_CORRUPT();
		cols[i].raw_len = (size_t)raw;
		cols[i].stored_len = (size_t)stored;
	}
	for (int i = 0; i < CHUNK_COLUMNS; i++)
		if ((rc = codec_get_bytes(&c, cols[i].stored_len, &cols[i].stored)))
			return rc;
	return c.p == c.end ? 0 : CODEC_CORRUPT();
}

/* The column's encoded bytes: in place, or decompressed into *tmp. */
static int col_bytes(const struct col_in *col, bool v2, uint8_t **tmp, struct codec_cur *c)
{
	struct zstd_ctx *z;
	size_t got;

	if (!col->zstd) {
		*c = (struct codec_cur){col->stored, col->stored + col->raw_len, v2};
		return 0;
	}
	if (ZSTD_findFrameCompressedSize(col->stored, col->stored_len) != col->stored_len)
		return CODEC_CORRUPT();
	z = zstd_ctx_get();
	*tmp = malloc(col->raw_len + CODEC_PAD);
	if (!z || !*tmp)
		return -ENOMEM;
	got = ZSTD_decompressDCtx(z->d, *tmp, col->raw_len, col->stored, col->stored_len);
	if (ZSTD_isError(got) || got != col->raw_len)
		return CODEC_CORRUPT();
	*c = (struct codec_cur){*tmp, *tmp + col->raw_len, v2};
	return 0;
}

static int decode_value(const struct col_in *col, struct codec_cur *c, const struct chunk_header *h,
			const struct dec_target *t)
{
	switch (h->type) {
	case VALUE_FLOAT64: return codec_f64_decode(col->enc, c, t->f64, h->count);
	case VALUE_INT64: return codec_i64_decode(col->enc, c, t->i64, h->count);
	case VALUE_BOOL: return codec_bool_decode(col->enc, c, t->b, h->count);
	case VALUE_STRING: return codec_str_decode(col->enc, c, t->str, t->str_len, h->count, t->str_blob);
	}
	return CODEC_CORRUPT();
}

static bool col_wanted(int col, const struct chunk_header *h, const struct dec_target *t)
{
	if (col == COL_TIME)
		return t->ts != NULL;
	if (col == COL_QUALITY)
		return t->quality != NULL;
	switch (h->type) {
	case VALUE_FLOAT64: return t->f64 != NULL;
	case VALUE_INT64: return t->i64 != NULL;
	case VALUE_BOOL: return t->b != NULL;
	case VALUE_STRING: return t->str != NULL;
	}
	return false;
}

static int decode_column(int col, const struct col_in *ci, const struct chunk_header *h,
			 const struct dec_target *t)
{
	uint8_t *tmp = NULL;
	struct codec_cur c;
	int rc;

	if (!col_wanted(col, h, t))
		return 0;
	if ((rc = col_bytes(ci, h->version >= 2, &tmp, &c)))
		goto out;
	if (col == COL_TIME)
		rc = codec_time_decode(ci->enc, &c, h->t_min, h->t_max, t->ts, h->count);
	else if (col == COL_VALUE)
		rc = decode_value(ci, &c, h, t);
	else
		rc = codec_quality_decode(ci->enc, &c, t->quality, h->count);
	if (rc == 0 && c.p != c.end)
		rc = CODEC_CORRUPT();
	if (rc && col == COL_VALUE && t->str_blob) {
		free(*t->str_blob);
		*t->str_blob = NULL;
	}
out:
	free(tmp);
	return rc;
}

/* Decode the chunk at buf, whose header h chunk_verify has checked. */
static int decode_all(const void *buf, const struct chunk_header *h, const struct dec_target *t)
{
	struct col_in cols[CHUNK_COLUMNS];
	int rc;

	if ((rc = parse_dir(buf, h, cols)))
		return rc;
	for (int i = 0; i < CHUNK_COLUMNS && rc == 0; i++)
		rc = decode_column(i, &cols[i], h, t);
	return rc;
}

static int decoded_alloc(struct chunk_decoded *d, const struct chunk_header *h, struct dec_target *t)
{
	size_t n = h->count;

	d->count = n;
	d->type = h->type;
	d->ts_ns = malloc(n * sizeof *d->ts_ns);
	d->quality = malloc(n * sizeof *d->quality);
	if (!d->ts_ns || !d->quality)
		return -ENOMEM;
	switch (h->type) {
	case VALUE_FLOAT64: d->f64 = malloc(n * sizeof *d->f64); break;
	case VALUE_INT64: d->i64 = malloc(n * sizeof *d->i64); break;
	case VALUE_BOOL: d->b = malloc(n); break;
	case VALUE_STRING:
		d->str = malloc(n * sizeof *d->str);
		d->str_len = malloc(n * sizeof *d->str_len);
		break;
	}
	if (!d->f64 && !d->i64 && !d->b && !(d->str && d->str_len))
		return -ENOMEM;
	*t = (struct dec_target){d->ts_ns, d->f64, d->i64, d->b, d->str, d->str_len, &d->str_blob, d->quality};
	return 0;
}

int chunk_decode(const void *buf, size_t len, struct chunk_decoded *out)
{
	struct chunk_header h;
	struct dec_target t;
	int rc;

	memset(out, 0, sizeof *out);
	/* Check before allocating: a corrupt count must not size anything. */
	if ((rc = chunk_verify(buf, len, &h)) || (rc = decoded_alloc(out, &h, &t)) ||
	    (rc = decode_all(buf, &h, &t)))
		chunk_decoded_free(out);
	return rc;
}

void chunk_decoded_free(struct chunk_decoded *d)
{
	free(d->ts_ns);
	free(d->f64);
	free(d->i64);
	free(d->b);
	free(d->str);
	free(d->str_len);
	free(d->quality);
	free(d->str_blob);
	memset(d, 0, sizeof *d);
}

int chunk_decode_into(const void *buf, size_t len, const struct chunk_dest *dst, struct chunk_header *hdr)
{
	struct dec_target t = {dst->ts_ns, dst->f64, dst->i64, dst->b, NULL, NULL, NULL, dst->quality};
	struct chunk_header h;
	int rc = chunk_verify(buf, len, &h);

	if (rc)
		return rc;
	if (h.type == VALUE_STRING || (dst->f64 && h.type != VALUE_FLOAT64) ||
	    (dst->i64 && h.type != VALUE_INT64) || (dst->b && h.type != VALUE_BOOL))
		return -EINVAL;
	if (h.count > dst->cap)
		return -ENOSPC;
	rc = decode_all(buf, &h, &t);
	if (rc == 0 && hdr)
		*hdr = h;
	return rc;
}

void chunk_last_corruption(const char **file, int *line)
{
	codec_corrupt_where(file, line);
}

/* codec_int.c: int streams (chunk_format.h "INT STREAM"): constant, patched frame-of-reference blocks, delta, run-length, byte planes of differences.
 * The encoder computes the exact size of each mode and writes the smallest; every digit, index, residual and step goes through here. */
#include <errno.h>
#include <stdlib.h>

#include "storage/chunk_format.h"
#include "storage/codec.h"

/* How one PFOR block is written. */
struct block_plan {
	uint64_t base;  /* smallest value, as int64 */
	unsigned width; /* bits per packed value */
	unsigned nexc;  /* values whose (value - base) needs more than width bits */
	size_t cost;    /* bytes of the block, base varint included */
};

/* The packed and exception bytes of a block of cnt values whose bit
 * lengths have histogram hist, at width w. */
static size_t width_cost(const unsigned *hist, const unsigned *lens, unsigned nlens, size_t cnt,
			 unsigned w, unsigned *nexc)
{
	size_t cost = (cnt * w + 7) / 8;
	unsigned exc = 0;

	for (unsigned k = 0; k < nlens && lens[k] > w; k++) {
		/* position byte + varint of the high part (lens[k] - w bits) */
		exc += hist[lens[k]];
		cost += hist[lens[k]] * (size_t)(1 + (lens[k] - w + 6) / 7);
	}
	*nexc = exc;
	return cost + (exc ? 1 : 0);
}

static void block_plan(const uint64_t *v, size_t cnt, uint64_t prev_base, struct block_plan *pl)
{
	int64_t mn = (int64_t)v[0];
	unsigned hist[65] = {0}, lens[65], nlens = 0, exc;
	size_t best;

	for (size_t i = 1; i < cnt; i++)
		if ((int64_t)v[i] < mn)
			mn = (int64_t)v[i];
	pl->base = (uint64_t)mn;
	for (size_t i = 0; i < cnt; i++)
		hist[codec_bitlen(v[i] - pl->base)]++;
	for (unsigned L = 64; L > 0; L--)
		if (hist[L])
			lens[nlens++] = L; /* descending */
	pl->width = nlens ? lens[0] : 0;
	pl->nexc = 0;
	best = (cnt * pl->width + 7) / 8;
	/* Narrower widths turn the widest values into exceptions; stop once
	 * every value is one. */
	for (unsigned w = pl->width; w-- > 0;) {
		size_t c = width_cost(hist, lens, nlens, cnt, w, &exc);
		if (c < best) {
			best = c;
			pl->width = w;
			pl->nexc = exc;
		}
		if (exc == cnt)
			break;
	}
	pl->cost = codec_varint_len(codec_zz(pl->base - prev_base)) + 1 + best;
}

/* Plan every block of v; returns the total bytes. */
static size_t pfor_plan(const uint64_t *v, size_t n, struct block_plan *plans)
{
	uint64_t prev = 0;
	size_t total = 0;

	for (size_t i = 0, k = 0; i < n; i += CHUNK_INT_BLOCK, k++) {
		size_t cnt = n - i < CHUNK_INT_BLOCK ? n - i : CHUNK_INT_BLOCK;
		block_plan(v + i, cnt, prev, &plans[k]);
		prev = plans[k].base;
		total += plans[k].cost;
	}
	return total;
}

static void block_write(struct codec_buf *b, const uint64_t *v, size_t cnt, uint64_t prev_base,
			const struct block_plan *pl)
{
	uint64_t low[CHUNK_INT_BLOCK], mask;
	uint8_t pos[CHUNK_INT_BLOCK];
	unsigned w = pl->width, k = 0;

	mask = w == 64 ? ~(uint64_t)0 : ((uint64_t)1 << w) - 1;
	codec_put_varint(b, codec_zz(pl->base - prev_base));
	codec_put_u8(b, (uint8_t)(w | (pl->nexc ? CHUNK_PFOR_EXC : 0)));
	if (pl->nexc)
		codec_put_u8(b, (uint8_t)(pl->nexc - 1));
	for (size_t i = 0; i < cnt; i++) {
		uint64_t u = v[i] - pl->base;
		low[i] = u & mask;
		if (w < 64 && u >> w)
			pos[k++] = (uint8_t)i;
	}
	codec_pack(b, low, cnt, w);
	codec_put_bytes(b, pos, k);
	for (unsigned j = 0; j < k; j++)
		codec_put_varint(b, (v[pos[j]] - pl->base) >> w);
}

static void pfor_write(struct codec_buf *b, const uint64_t *v, size_t n, const struct block_plan *plans)
{
	uint64_t prev = 0;

	for (size_t i = 0, k = 0; i < n; i += CHUNK_INT_BLOCK, k++) {
		size_t cnt = n - i < CHUNK_INT_BLOCK ? n - i : CHUNK_INT_BLOCK;
		block_write(b, v + i, cnt, prev, &plans[k]);
		prev = plans[k].base;
	}
}

static int block_read(struct codec_cur *c, uint64_t *out, size_t cnt, uint64_t *prev_base)
{
	uint64_t zz, high;
	uint8_t wb, nexc_m1 = 0;
	unsigned w, nexc = 0;
	const uint8_t *pos;
	int rc;

	if ((rc = codec_get_varint(c, &zz)) || (rc = codec_get_u8(c, &wb)))
		return rc;
	*prev_base += codec_unzz(zz);
	w = wb & CHUNK_PFOR_WIDTH_MASK;
	if (w > 64)
		return CODEC_CORRUPT();
	if (wb & CHUNK_PFOR_EXC) {
		if (w == 64)
			return CODEC_CORRUPT();
		if ((rc = codec_get_u8(c, &nexc_m1)))
			return rc;
		nexc = nexc_m1 + 1u;
		if (nexc > cnt)
			return CODEC_CORRUPT();
	}
	if ((rc = codec_unpack(c, out, cnt, w, *prev_base)) || (rc = codec_get_bytes(c, nexc, &pos)))
		return rc;
	for (unsigned j = 0; j < nexc; j++) {
		if (pos[j] >= cnt || (j && pos[j] <= pos[j - 1]))
			return CODEC_CORRUPT();
		if ((rc = codec_get_varint(c, &high)))
			return rc;
		if (high == 0 || (w && high >> (64 - w)))
			return CODEC_CORRUPT();
		out[pos[j]] += high << w;
	}
	return 0;
}

static int pfor_read(struct codec_cur *c, uint64_t *out, size_t n)
{
	uint64_t base = 0;
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i += CHUNK_INT_BLOCK) {
		size_t cnt = n - i < CHUNK_INT_BLOCK ? n - i : CHUNK_INT_BLOCK;
		rc = block_read(c, out + i, cnt, &base);
	}
	return rc;
}

/* ---- run-length ------------------------------------------------------------ */

/* Bytes of the RLE mode, or SIZE_MAX once over limit. */
static size_t rle_cost(const uint64_t *v, size_t n, size_t limit)
{
	size_t cost = 0, runs = 0;
	uint64_t prev = 0;

	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		while (j < n && v[j] == v[i])
			j++;
		cost += codec_varint_len(codec_zz(v[i] - prev)) + codec_varint_len(j - i - 1);
		if (cost > limit)
			return SIZE_MAX;
		prev = v[i];
		runs++;
		i = j;
	}
	return cost + codec_varint_len(runs);
}

static void rle_write(struct codec_buf *b, const uint64_t *v, size_t n)
{
	size_t runs = 0;
	uint64_t prev = 0;

	for (size_t i = 1; i <= n; i++)
		if (i == n || v[i] != v[i - 1])
			runs++;
	codec_put_varint(b, runs);
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		while (j < n && v[j] == v[i])
			j++;
		codec_put_varint(b, codec_zz(v[i] - prev));
		codec_put_varint(b, j - i - 1);
		prev = v[i];
		i = j;
	}
}

static int rle_read(struct codec_cur *c, uint64_t *out, size_t n)
{
	uint64_t runs, zz, len_m1, value = 0;
	size_t at = 0;
	int rc;

	if ((rc = codec_get_varint(c, &runs)))
		return rc;
	if (runs == 0 || runs > n)
		return CODEC_CORRUPT();
	for (uint64_t r = 0; r < runs; r++) {
		if ((rc = codec_get_varint(c, &zz)) || (rc = codec_get_varint(c, &len_m1)))
			return rc;
		if (len_m1 >= n - at)
			return CODEC_CORRUPT();
		value += codec_unzz(zz);
		for (uint64_t k = 0; k <= len_m1; k++)
			out[at++] = value;
	}
	return at == n ? 0 : CODEC_CORRUPT();
}

/* ---- byte planes of differences ---------------------------------------------- */

static unsigned delta_planes_count(const uint64_t *v, size_t n)
{
	uint64_t any = 0;
	unsigned k;

	for (size_t i = 1; i < n; i++)
		any |= codec_zz(v[i] - v[i - 1]);
	k = (codec_bitlen(any) + 7) / 8;
	return k ? k : 1;
}

static size_t delta_planes_cost(const uint64_t *v, size_t n)
{
	size_t head = codec_varint_len(codec_zz(v[0]));

	return n == 1 ? head : head + 1 + delta_planes_count(v, n) * (n - 1);
}

static void delta_planes_write(struct codec_buf *b, const uint64_t *v, size_t n)
{
	size_t m = n - 1;
	unsigned k;

	codec_put_varint(b, codec_zz(v[0]));
	b->planes_used = true;
	if (n == 1)
		return;
	k = delta_planes_count(v, n);
	codec_put_u8(b, (uint8_t)k);
	if (!codec_buf_reserve(b, (size_t)k * m))
		return;
	for (unsigned j = 0; j < k; j++) {
		uint8_t *p = b->data + b->len;
		if (b->nmarks < CODEC_MAX_MARKS)
			b->marks[b->nmarks++] = b->len;
		for (size_t i = 0; i < m; i++)
			p[i] = (uint8_t)(codec_zz(v[i + 1] - v[i]) >> (8 * j));
		b->len += m;
	}
}

static int delta_planes_read(struct codec_cur *c, uint64_t *out, size_t n)
{
	uint64_t first, prev;
	const uint8_t *p;
	size_t m = n - 1;
	uint8_t k;
	int rc;

	if ((rc = codec_get_varint(c, &first)))
		return rc;
	prev = out[0] = codec_unzz(first);
	if (n == 1)
		return 0;
	if ((rc = codec_get_u8(c, &k)))
		return rc;
	if (k < 1 || k > 8 || m > SIZE_MAX / k)
		return CODEC_CORRUPT();
	if ((rc = codec_get_bytes(c, (size_t)k * m, &p)))
		return rc;
	for (size_t i = 0; i < m; i++) {
		uint64_t u = p[i];
		for (unsigned j = 1; j < k; j++)
			u |= (uint64_t)p[j * m + i] << (8 * j);
		prev += codec_unzz(u);
		out[i + 1] = prev;
	}
	return 0;
}

/* ---- choosing and writing ------------------------------------------------- */

static bool all_equal(const uint64_t *v, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (v[i] != v[0])
			return false;
	return true;
}

struct int_choice {
	unsigned mode;
	struct block_plan *plans;  /* PFOR plans of v */
	struct block_plan *dplans; /* PFOR plans of the deltas */
	uint64_t *deltas;          /* v[i+1] - v[i], n - 1 of them */
};

/* Compute the size of every mode and keep the smallest in ch->mode. */
static int int_choose(const uint64_t *v, size_t n, int only_mode, struct int_choice *ch)
{
	size_t nblocks = (n + CHUNK_INT_BLOCK - 1) / CHUNK_INT_BLOCK, best = SIZE_MAX, cost;

	ch->plans = malloc(2 * (nblocks + 1) * sizeof *ch->plans);
	ch->deltas = malloc(n * sizeof *ch->deltas);
	if (!ch->plans || !ch->deltas)
		return -ENOMEM;
	ch->dplans = ch->plans + nblocks + 1;
	if (only_mode < 0 && all_equal(v, n)) {
		ch->mode = CHUNK_INT_CONST;
		return 0;
	}
	if (only_mode == CHUNK_INT_DELTA_PLANES) {
		ch->mode = CHUNK_INT_DELTA_PLANES;
		return 0;
	}
	if (only_mode < 0 || only_mode == CHUNK_INT_PFOR) {
		best = pfor_plan(v, n, ch->plans);
		ch->mode = CHUNK_INT_PFOR;
	}
	if (only_mode < 0 || only_mode == CHUNK_INT_PFOR_DELTA) {
		for (size_t i = 1; i < n; i++)
			ch->deltas[i - 1] = v[i] - v[i - 1];
		cost = codec_varint_len(codec_zz(v[0])) + pfor_plan(ch->deltas, n - 1, ch->dplans);
		if (cost < best) {
			best = cost;
			ch->mode = CHUNK_INT_PFOR_DELTA;
		}
	}
	if (only_mode < 0 || only_mode == CHUNK_INT_RLE) {
		cost = rle_cost(v, n, only_mode < 0 ? best : SIZE_MAX - 1);
		if (cost < best)
			ch->mode = CHUNK_INT_RLE;
	}
	return 0;
}

static int int_encode(struct codec_buf *b, const uint64_t *v, size_t n, int only_mode)
{
	struct int_choice ch = {0, NULL, NULL, NULL};
	int rc;

	if (n == 0)
		return 0;
	if (only_mode == CHUNK_INT_CONST) {
		ch.mode = CHUNK_INT_CONST;
	} else if (only_mode < 0 && b->int_planes) {
		/* For a zstd frame: byte planes, unless one value or runs are
		 * smaller already before compression. */
		size_t cost = delta_planes_cost(v, n);
		ch.mode = all_equal(v, n) ? CHUNK_INT_CONST
			: rle_cost(v, n, cost) < cost ? CHUNK_INT_RLE : CHUNK_INT_DELTA_PLANES;
	} else if ((rc = int_choose(v, n, only_mode, &ch))) {
		goto out;
	}
	codec_put_u8(b, (uint8_t)ch.mode);
	switch (ch.mode) {
	case CHUNK_INT_CONST: codec_put_varint(b, codec_zz(v[0])); break;
	case CHUNK_INT_PFOR: pfor_write(b, v, n, ch.plans); break;
	case CHUNK_INT_PFOR_DELTA:
		codec_put_varint(b, codec_zz(v[0]));
		pfor_write(b, ch.deltas, n - 1, ch.dplans);
		break;
	case CHUNK_INT_DELTA_PLANES: delta_planes_write(b, v, n); break;
	default: rle_write(b, v, n); break;
	}
	rc = b->failed ? -ENOMEM : 0;
out:
	free(ch.plans);
	free(ch.deltas);
	return rc;
}

int codec_int_encode(struct codec_buf *b, const uint64_t *v, size_t n)
{
	return int_encode(b, v, n, -1);
}

int codec_int_encode_mode(struct codec_buf *b, const uint64_t *v, size_t n, unsigned mode)
{
	if (mode > CHUNK_INT_DELTA_PLANES || (mode == CHUNK_INT_CONST && n && !all_equal(v, n)))
		return -EINVAL;
	return int_encode(b, v, n, (int)mode);
}

int codec_int_decode(struct codec_cur *c, uint64_t *out, size_t n)
{
	uint8_t mode;
	uint64_t first;
	int rc;

	if (n == 0)
		return 0;
	if ((rc = codec_get_u8(c, &mode)))
		return rc;
	switch (mode) {
	case CHUNK_INT_CONST:
		if ((rc = codec_get_varint(c, &first)))
			return rc;
		first = codec_unzz(first);
		for (size_t i = 0; i < n; i++)
			out[i] = first;
		return 0;
	case CHUNK_INT_PFOR: return pfor_read(c, out, n);
	case CHUNK_INT_PFOR_DELTA:
		if ((rc = codec_get_varint(c, &first)) || (rc = pfor_read(c, out + 1, n - 1)))
			return rc;
		out[0] = codec_unzz(first);
		for (size_t i = 1; i < n; i++)
			out[i] += out[i - 1];
		return 0;
	case CHUNK_INT_RLE: return rle_read(c, out, n);
	case CHUNK_INT_DELTA_PLANES:
		if (!c->planes_ok)
			return CODEC_CORRUPT(); /* not in a version 1 chunk */
		return delta_planes_read(c, out, n);
	default: return CODEC_CORRUPT();
	}
}

/* ---- the int64 value column ------------------------------------------------ */

int codec_i64_encode(struct codec_buf *b, const int64_t *v, size_t n)
{
	/* uint64_t may alias int64_t: the stream sees the same bits. */
	int rc = codec_int_encode(b, (const uint64_t *)v, n);

	return rc ? rc : CHUNK_ENC_I64;
}

int codec_i64_decode(uint8_t enc, struct codec_cur *c, int64_t *out, size_t n)
{
	if (enc != CHUNK_ENC_I64)
		return CODEC_CORRUPT();
	return codec_int_decode(c, (uint64_t *)out, n);
}

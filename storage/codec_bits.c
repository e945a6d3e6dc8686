/* codec_bits.c: the chunk codec's byte and bit plumbing: output buffer, bounds-checked cursor, varints, bit packing, bit streams.
 * Pure and thread-safe; the only state is the per-thread place of the last corruption found, for logs. */
#include <errno.h>
#include <stdlib.h>

#include "storage/codec.h"

static _Thread_local const char *corrupt_file;
static _Thread_local int corrupt_line;

void codec_corrupt(const char *file, int line)
{
	corrupt_file = file;
	corrupt_line = line;
}

void codec_corrupt_where(const char **file, int *line)
{
	*file = corrupt_file;
	*line = corrupt_line;
}

bool codec_buf_reserve(struct codec_buf *b, size_t extra)
{
	size_t need, cap;
	uint8_t *grown;

	if (b->failed)
		return false;
	if (extra > SIZE_MAX / 2 - b->len)
		goto fail;
	need = b->len + extra;
	if (need <= b->cap)
		return true;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	grown = realloc(b->data, cap + CODEC_PAD);
	if (!grown)
		goto fail;
	b->data = grown;
	b->cap = cap;
	return true;
fail:
	b->failed = true;
	return false;
}

void codec_buf_free(struct codec_buf *b)
{
	free(b->data);
	*b = (struct codec_buf)CODEC_BUF_INIT;
}

int codec_get_varint(struct codec_cur *c, uint64_t *v)
{
	uint64_t x = 0;

	for (unsigned shift = 0; shift < 70; shift += 7) {
		uint8_t byte;
		if (c->p >= c->end)
			return CODEC_CORRUPT();
		byte = *c->p++;
		/* The tenth byte may only carry the top bit of 64. */
		if (shift == 63 && byte > 1)
			return CODEC_CORRUPT();
		x |= (uint64_t)(byte & 0x7f) << shift;
		if (!(byte & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return CODEC_CORRUPT();
}

int codec_get_varint_max(struct codec_cur *c, uint64_t max, uint64_t *v)
{
	int rc = codec_get_varint(c, v);

	if (rc == 0 && *v > max)
		rc = CODEC_CORRUPT();
	return rc;
}

int codec_get_bytes(struct codec_cur *c, size_t n, const uint8_t **p)
{
	if (n > codec_cur_left(c))
		return CODEC_CORRUPT();
	*p = c->p;
	if (n) /* a cursor over no bytes may hold NULL */
		c->p += n;
	return 0;
}

/* ---- bit packing ---------------------------------------------------------- */

void codec_pack(struct codec_buf *b, const uint64_t *v, size_t n, unsigned width)
{
	size_t nbytes = (n * width + 7) / 8;
	uint64_t acc = 0;
	unsigned nacc = 0;
	uint8_t *o;

	if (width == 0 || n == 0 || !codec_buf_reserve(b, nbytes))
		return;
	o = b->data + b->len;
	for (size_t i = 0; i < n; i++) {
		acc |= v[i] << nacc;
		if (nacc + width >= 64) {
			memcpy(o, &acc, 8);
			o += 8;
			/* The bits of v[i] that did not fit in acc. */
			acc = nacc ? v[i] >> (64 - nacc) : 0;
			nacc = nacc + width - 64;
		} else {
			nacc += width;
		}
	}
	/* The pad after cap makes this 8-byte store safe; len counts only
	 * the bytes that hold bits. */
	memcpy(o, &acc, 8);
	b->len += nbytes;
}

/* Unpack n values of 1..64 bits from p, which must have 8 readable bytes
 * past the packed ones. */
static void unpack_padded(const uint8_t *p, uint64_t *out, size_t n, unsigned width, uint64_t base)
{
	uint64_t mask = width == 64 ? ~(uint64_t)0 : ((uint64_t)1 << width) - 1;

	if (width <= 56) {
		for (size_t i = 0; i < n; i++) {
			size_t bit = i * width;
			out[i] = base + ((codec_load64(p + bit / 8) >> (bit % 8)) & mask);
		}
		return;
	}
	for (size_t i = 0; i < n; i++) {
		size_t bit = i * width;
		unsigned sh = (unsigned)(bit % 8);
		uint64_t lo = codec_load64(p + bit / 8) >> sh;
		if (sh)
			lo |= (uint64_t)p[bit / 8 + 8] << (64 - sh);
		out[i] = base + (lo & mask);
	}
}

int codec_unpack(struct codec_cur *c, uint64_t *out, size_t n, unsigned width, uint64_t base)
{
	size_t nbytes;
	const uint8_t *p;
	uint8_t tmp[64 * 8 + 16];

	if (width > 64)
		return CODEC_CORRUPT();
	if (n == 0)
		return 0;
	if (width == 0) {
		for (size_t i = 0; i < n; i++)
			out[i] = base;
		return 0;
	}
	if (n > SIZE_MAX / 64)
		return CODEC_CORRUPT();
	nbytes = (n * width + 7) / 8;
	if (nbytes > codec_cur_left(c))
		return CODEC_CORRUPT();
	p = c->p;
	c->p += nbytes;
	if (codec_cur_left(c) >= 8) {
		unpack_padded(p, out, n, width, base);
		return 0;
	}
	/* Too close to the end for word loads: go through a padded copy, a
	 * block at a time (whole bytes: 8 values of any width end on one). */
	for (size_t done = 0; done < n;) {
		size_t m = n - done < 64 ? n - done : 64;
		size_t off = done * width / 8, len = (m * width + 7) / 8;
		memset(tmp, 0, sizeof tmp);
		memcpy(tmp, p + off, len);
		unpack_padded(tmp, out + done, m, width, base);
		done += m;
	}
	return 0;
}

/* ---- bit streams ------------------------------------------------------- */

void codec_bitw_init(struct codec_bitw *w, struct codec_buf *b)
{
	w->b = b;
	w->acc = 0;
	w->nacc = 0;
}

void codec_bitw_put(struct codec_bitw *w, uint64_t v, unsigned n)
{
	w->acc |= v << w->nacc;
	if (w->nacc + n < 64) {
		w->nacc += n;
		return;
	}
	if (codec_buf_reserve(w->b, 8)) {
		memcpy(w->b->data + w->b->len, &w->acc, 8);
		w->b->len += 8;
	}
	w->acc = w->nacc ? v >> (64 - w->nacc) : 0;
	w->nacc = w->nacc + n - 64;
}

void codec_bitw_flush(struct codec_bitw *w)
{
	unsigned nbytes = (w->nacc + 7) / 8;

	if (nbytes && codec_buf_reserve(w->b, 8)) {
		memcpy(w->b->data + w->b->len, &w->acc, 8);
		w->b->len += nbytes;
	}
	w->acc = 0;
	w->nacc = 0;
}

void codec_bitr_init(struct codec_bitr *r, const uint8_t *p, size_t len)
{
	r->p = p;
	r->end = p + len;
	r->acc = 0;
	r->nacc = 0;
	r->overrun = false;
}

/* Top up acc with whole bytes while they fit below bit 63 (so at least 56
 * bits are held), or with whatever is left near the end. */
static void bitr_refill(struct codec_bitr *r)
{
	if (r->end - r->p >= 8) {
		unsigned take = (63 - r->nacc) / 8;
		uint64_t keep = ((uint64_t)1 << (r->nacc + take * 8)) - 1;
		/* Bits of the word past the bytes taken are dropped, to be
		 * loaded again by the next refill. */
		r->acc |= (codec_load64(r->p) << r->nacc) & keep;
		r->p += take;
		r->nacc += take * 8;
		return;
	}
	while (r->nacc <= 56 && r->p < r->end) {
		r->acc |= (uint64_t)*r->p++ << r->nacc;
		r->nacc += 8;
	}
}

uint64_t codec_bitr_get(struct codec_bitr *r, unsigned n)
{
	uint64_t v;

	if (r->nacc < n) {
		bitr_refill(r);
		if (r->nacc < n) {
			if (n <= 56 || r->p >= r->end) {
				r->overrun = true;
				r->acc = 0;
				r->nacc = 0;
				return 0;
			}
			/* n > 56 and bytes remain: split the read. */
			v = codec_bitr_get(r, 32);
			return v | codec_bitr_get(r, n - 32) << 32;
		}
	}
	if (n == 64) {
		v = r->acc;
		r->acc = 0;
	} else {
		v = r->acc & (((uint64_t)1 << n) - 1);
		r->acc >>= n;
	}
	r->nacc -= n;
	return v;
}

size_t codec_bitr_used(const struct codec_bitr *r, const uint8_t *start)
{
	/* Whole unread bytes still in acc go back; a partly read one counts. */
	return (size_t)(r->p - start) - r->nacc / 8;
}

/* walrec.c: the WAL sample-record codec behind walrec.h.
 * Decoding validates the whole payload before handing anything out, so a bad record is all-or-nothing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/endian.h"
#include "lib/hs_error.h"
#include "storage/walrec.h"
#include "storage/walrec_format.h"

static void put_uvarint(struct strbuf *out, uint64_t v)
{
	unsigned char tmp[10];
	size_t n = 0;

	while (v >= 0x80) {
		tmp[n++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	tmp[n++] = (unsigned char)v;
	strbuf_append(out, (const char *)tmp, n);
}

static void put_svarint(struct strbuf *out, int64_t v)
{
	put_uvarint(out, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static int type_code(enum value_type t)
{
	switch (t) {
	case VALUE_FLOAT64: return WALREC_TYPE_F64;
	case VALUE_INT64: return WALREC_TYPE_I64;
	case VALUE_BOOL: return WALREC_TYPE_BOOL;
	case VALUE_STRING: return WALREC_TYPE_STRING;
	}
	return -1;
}

int walrec_encode(const struct head_input *in, size_t count, struct strbuf *out)
{
	int64_t prev = 0;
	unsigned char b8[8];

	out->len = 0;
	if (count == 0)
		return -EINVAL;
	strbuf_append(out, (const char[]){WALREC_KIND_SAMPLES, WALREC_VERSION}, 2);
	put_uvarint(out, count);
	for (size_t i = 0; i < count; i++) {
		const struct head_input *s = &in[i];
		int code = type_code(s->type);
		if (code < 0 || (s->type == VALUE_STRING && s->str_len > WALREC_MAX_STRING))
			return -EINVAL;
		put_uvarint(out, s->tag_id);
		strbuf_append(out, (const char[]){(char)code}, 1);
		put_uvarint(out, s->quality);
		/* Wrapping difference: any two int64 times encode exactly. */
		put_svarint(out, (int64_t)((uint64_t)s->ts_ns - (uint64_t)prev));
		prev = s->ts_ns;
		switch (s->type) {
		case VALUE_FLOAT64:
			put_le64(b8, s->v.u64);
			strbuf_append(out, (const char *)b8, 8);
			break;
		case VALUE_INT64: put_svarint(out, s->v.i64); break;
		case VALUE_BOOL: strbuf_append(out, (const char[]){s->v.i64 ? 1 : 0}, 1); break;
		case VALUE_STRING:
			put_uvarint(out, s->str_len);
			strbuf_append(out, s->str, s->str_len);
			break;
		}
	}
	return strbuf_failed(out) ? -ENOMEM : 0;
}

struct cursor {
	const unsigned char *p, *end;
};

static int get_uvarint(struct cursor *c, uint64_t *v)
{
	uint64_t r = 0;

	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (c->p >= c->end)
			return -1;
		unsigned char b = *c->p++;
		if (shift == 63 && b > 1)
			return -1; /* more than 64 bits */
		r |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = r;
			return 0;
		}
	}
	return -1;
}

static int get_svarint(struct cursor *c, int64_t *v)
{
	uint64_t u;
	if (get_uvarint(c, &u) != 0)
		return -1;
	*v = (int64_t)((u >> 1) ^ (0 - (u & 1)));
	return 0;
}

/* One sample at c into out; -1 when the bytes are not a valid sample. */
static int decode_sample(struct cursor *c, int64_t *prev, struct head_input *out)
{
	uint64_t id, q, len;
	int64_t delta;
	unsigned char code;

	if (get_uvarint(c, &id) != 0 || id > UINT32_MAX || c->p >= c->end)
		return -1;
	code = *c->p++;
	if (get_uvarint(c, &q) != 0 || q > 0xffff || get_svarint(c, &delta) != 0)
		return -1;
	*out = (struct head_input){.tag_id = (uint32_t)id, .quality = (quality_t)q};
	out->ts_ns = *prev = (int64_t)((uint64_t)*prev + (uint64_t)delta);
	switch (code) {
	case WALREC_TYPE_F64:
		if (c->end - c->p < 8)
			return -1;
		out->type = VALUE_FLOAT64;
		out->v.u64 = get_le64(c->p);
		c->p += 8;
		return 0;
	case WALREC_TYPE_I64:
		out->type = VALUE_INT64;
		return get_svarint(c, &out->v.i64);
	case WALREC_TYPE_BOOL:
		if (c->p >= c->end || *c->p > 1)
			return -1;
		out->type = VALUE_BOOL;
		out->v.i64 = *c->p++;
		return 0;
	case WALREC_TYPE_STRING:
		if (get_uvarint(c, &len) != 0 || len > WALREC_MAX_STRING ||
		    len > (uint64_t)(c->end - c->p))
			return -1;
		out->type = VALUE_STRING;
		out->str = (const char *)c->p;
		out->str_len = (uint32_t)len;
		c->p += len;
		return 0;
	}
	return -1;
}

int walrec_decode(const void *payload, size_t len,
		  int (*fn)(void *arg, const struct head_input *in, size_t count), void *arg)
{
	struct cursor c = {payload, (const unsigned char *)payload + len};
	struct head_input *all = NULL;
	uint64_t count;
	int64_t prev = 0;
	int rc = HS_ECORRUPT;

	if (len < 3 || c.p[0] != WALREC_KIND_SAMPLES || c.p[1] != WALREC_VERSION)
		return HS_ECORRUPT;
	c.p += 2;
	/* Each sample takes at least 5 bytes, which bounds a lying count. */
	if (get_uvarint(&c, &count) != 0 || count == 0 || count > (uint64_t)(c.end - c.p) / 5 + 1)
		return HS_ECORRUPT;
	all = malloc((size_t)count * sizeof *all);
	if (!all)
		return -ENOMEM;
	for (uint64_t i = 0; i < count; i++)
		if (decode_sample(&c, &prev, &all[i]) != 0)
			goto out;
	if (c.p != c.end)
		goto out;
	rc = fn(arg, all, (size_t)count);
out:
	free(all);
	return rc;
}

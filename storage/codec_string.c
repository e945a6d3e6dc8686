/* codec_string.c: the string value column (chunk_format.h CHUNK_ENC_STR_DICT): each distinct string once, then indices.
 * Strings are byte strings (NUL allowed); decoded strings share one allocation that the caller frees. */
#include <errno.h>
#include <stdlib.h>

#include "storage/chunk_format.h"
#include "storage/codec.h"

struct str_entry {
	const char *s;
	uint32_t len;
};

static uint64_t str_hash(const char *s, uint32_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */

	for (uint32_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return h ^ (h >> 29);
}

/* Distinct strings in first-seen order, and each value's index. */
static int str_collect(const char *const *s, const uint32_t *len, size_t n, struct str_entry *ent,
		       size_t *k, uint64_t *idx)
{
	size_t cap = 16, mask;
	uint32_t *slot;

	while (cap < 2 * n)
		cap *= 2;
	mask = cap - 1;
	slot = calloc(cap, sizeof *slot);
	if (!slot)
		return -ENOMEM;
	*k = 0;
	for (size_t i = 0; i < n; i++) {
		size_t h = (size_t)str_hash(s[i], len[i]) & mask;
		while (slot[h]) {
			const struct str_entry *e = &ent[slot[h] - 1];
			if (e->len == len[i] && (len[i] == 0 || memcmp(e->s, s[i], len[i]) == 0))
				break;
			h = (h + 1) & mask;
		}
		if (!slot[h]) {
			ent[*k] = (struct str_entry){s[i], len[i]};
			slot[h] = (uint32_t)++*k;
		}
		idx[i] = slot[h] - 1;
	}
	free(slot);
	return 0;
}

int codec_str_encode(struct codec_buf *b, const char *const *s, const uint32_t *len, size_t n)
{
	struct str_entry *ent = malloc(n * sizeof *ent);
	uint64_t *idx = malloc(n * sizeof *idx);
	size_t k;
	int rc = -ENOMEM;

	if (!ent || !idx)
		goto out;
	if ((rc = str_collect(s, len, n, ent, &k, idx)))
		goto out;
	codec_put_varint(b, k);
	for (size_t j = 0; j < k; j++) {
		codec_put_varint(b, ent[j].len);
		codec_put_bytes(b, ent[j].s, ent[j].len);
	}
	rc = codec_int_encode(b, idx, n);
out:
	free(ent);
	free(idx);
	if (rc == 0)
		rc = b->failed ? -ENOMEM : CHUNK_ENC_STR_DICT;
	return rc;
}

/* Read the k dictionary entries (pointing into the cursor's bytes). */
static int str_read_dict(struct codec_cur *c, struct str_entry *ent, size_t k, size_t *total)
{
	uint64_t len;
	const uint8_t *p;
	int rc;

	*total = 0;
	for (size_t j = 0; j < k; j++) {
		if ((rc = codec_get_varint_max(c, UINT32_MAX, &len)) ||
		    (rc = codec_get_bytes(c, (size_t)len, &p)))
			return rc;
		ent[j] = (struct str_entry){(const char *)p, (uint32_t)len};
		*total += (size_t)len + 1;
	}
	return 0;
}

int codec_str_decode(uint8_t enc, struct codec_cur *c, const char **out, uint32_t *len_out, size_t n,
		     char **blob_out)
{
	struct str_entry *ent = NULL;
	uint64_t k, *idx = NULL;
	char *blob = NULL, **start = NULL;
	size_t total, at = 0;
	int rc;

	*blob_out = NULL;
	if (enc != CHUNK_ENC_STR_DICT)
		return CODEC_CORRUPT();
	if ((rc = codec_get_varint(c, &k)))
		return rc;
	if (k == 0 || k > n)
		return CODEC_CORRUPT();
	rc = -ENOMEM;
	ent = malloc(k * sizeof *ent);
	start = malloc(k * sizeof *start);
	idx = malloc(n * sizeof *idx);
	if (!ent || !start || !idx)
		goto out;
	if ((rc = str_read_dict(c, ent, k, &total)) || (rc = codec_int_decode(c, idx, n)))
		goto out;
	rc = -ENOMEM;
	blob = malloc(total);
	if (!blob)
		goto out;
	for (size_t j = 0; j < k; j++) {
		start[j] = blob + at;
		if (ent[j].len)
			memcpy(blob + at, ent[j].s, ent[j].len);
		blob[at + ent[j].len] = '\0';
		at += ent[j].len + 1;
	}
	rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (idx[i] >= k) {
			rc = CODEC_CORRUPT();
			break;
		}
		out[i] = start[idx[i]];
		len_out[i] = ent[idx[i]].len;
	}
out:
	if (rc == 0)
		*blob_out = blob;
	else
		free(blob);
	free(ent);
	free(start);
	free(idx);
	return rc;
}

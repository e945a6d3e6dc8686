/* head.c: the in-memory head behind head.h: one sample buffer per tag id, under one rwlock.
 * Appends are serialised by the store and take the write lock per batch; readers take the read lock only while
 * copying one tag's samples out. A series remembers whether its times arrived strictly increasing so the common
 * case needs no sort. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "storage/head.h"

#define SAMPLE_BYTES (sizeof(int64_t) + sizeof(union value64) + sizeof(quality_t))

struct series {
	struct sample_buf buf;
	enum value_type type;
	bool sorted; /* times strictly increase in arrival order */
};

struct head {
	_Atomic int refs;
	pthread_rwlock_t lock;
	struct series **series; /* by tag id; NULL where a tag has no samples */
	uint32_t series_cap;
	_Atomic size_t bytes;
	_Atomic size_t samples;
};

int head_new(struct head **out)
{
	struct head *h = calloc(1, sizeof *h);

	*out = NULL;
	if (!h)
		return -ENOMEM;
	atomic_init(&h->refs, 1);
	pthread_rwlock_init(&h->lock, NULL);
	*out = h;
	return 0;
}

void head_acquire(struct head *h)
{
	atomic_fetch_add(&h->refs, 1);
}

static void series_free(struct series *s)
{
	if (!s)
		return;
	if (s->type == VALUE_STRING)
		for (size_t i = 0; i < s->buf.count; i++)
			free((void *)s->buf.val[i].str);
	sample_buf_free(&s->buf);
	free(s);
}

void head_release(struct head *h)
{
	if (!h || atomic_fetch_sub(&h->refs, 1) != 1)
		return;
	for (uint32_t i = 0; i < h->series_cap; i++)
		series_free(h->series[i]);
	free(h->series);
	pthread_rwlock_destroy(&h->lock);
	free(h);
}

static struct series *series_for(struct head *h, uint32_t id, enum value_type type)
{
	if (id >= h->series_cap) {
		uint32_t cap = h->series_cap ? h->series_cap : 1024;
		struct series **grown;
		while (cap <= id)
			cap = cap > UINT32_MAX / 2 ? UINT32_MAX : cap * 2;
		grown = realloc(h->series, (size_t)cap * sizeof *grown);
		if (!grown)
			return NULL;
		memset(grown + h->series_cap, 0, (size_t)(cap - h->series_cap) * sizeof *grown);
		h->series = grown;
		h->series_cap = cap;
	}
	if (!h->series[id]) {
		struct series *s = calloc(1, sizeof *s);
		if (!s)
			return NULL;
		s->type = type;
		s->sorted = true;
		h->series[id] = s;
	}
	return h->series[id];
}

/* Append one sample; *bytes grows by the memory it takes. */
static int append_one(struct head *h, const struct head_input *in, size_t *bytes)
{
	struct series *s = series_for(h, in->tag_id, in->type);
	union value64 v = in->v;
	size_t extra = 0;

	if (!s || sample_buf_reserve(&s->buf, 1) != 0)
		return -ENOMEM;
	if (in->type == VALUE_STRING) {
		struct hs_string *copy = malloc(sizeof *copy + in->str_len);
		if (!copy)
			return -ENOMEM;
		copy->len = in->str_len;
		memcpy(copy->data, in->str, in->str_len);
		v.str = copy;
		extra = sizeof *copy + in->str_len;
	}
	if (s->buf.count && in->ts_ns <= s->buf.ts_ns[s->buf.count - 1])
		s->sorted = false;
	sample_buf_put(&s->buf, in->ts_ns, v, in->quality);
	*bytes += SAMPLE_BYTES + extra;
	return 0;
}

int head_append(struct head *h, const struct head_input *in, size_t count)
{
	size_t done = 0, bytes = 0;
	int rc = 0;

	pthread_rwlock_wrlock(&h->lock);
	for (; done < count; done++) {
		rc = append_one(h, &in[done], &bytes);
		if (rc != 0)
			break;
	}
	pthread_rwlock_unlock(&h->lock);
	/* One atomic add a batch, not a sample: this is the replay hot path. */
	atomic_fetch_add_explicit(&h->bytes, bytes, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->samples, done, memory_order_relaxed);
	return rc;
}

size_t head_bytes(const struct head *h)
{
	return atomic_load_explicit(&((struct head *)h)->bytes, memory_order_relaxed);
}

size_t head_samples(const struct head *h)
{
	return atomic_load_explicit(&((struct head *)h)->samples, memory_order_relaxed);
}

static const struct series *series_get(const struct head *h, uint32_t id)
{
	return id < h->series_cap ? h->series[id] : NULL;
}

int head_collect(struct head *h, uint32_t tag_id, int64_t t0, int64_t t1, struct sample_buf *out)
{
	const struct series *s;
	size_t first = out->count, lo, hi;
	bool sorted;
	int rc = 0;

	pthread_rwlock_rdlock(&h->lock);
	s = series_get(h, tag_id);
	if (!s || s->buf.count == 0)
		goto out;
	sorted = s->sorted;
	if (sorted) {
		lo = sample_buf_lower_bound(&s->buf, t0);
		hi = sample_buf_lower_bound(&s->buf, t1);
	} else {
		lo = 0;
		hi = s->buf.count;
	}
	rc = sample_buf_reserve(out, hi > lo ? hi - lo : 0);
	if (rc != 0)
		goto out;
	for (size_t i = lo; i < hi; i++) {
		int64_t ts = s->buf.ts_ns[i];
		if (sorted || (ts >= t0 && ts < t1))
			sample_buf_put(out, ts, s->buf.val[i], s->buf.quality[i]);
	}
	pthread_rwlock_unlock(&h->lock);
	if (!sorted && out->count > first) {
		/* Sort just the part we added; earlier contents are the caller's. */
		struct sample_buf part = {out->count - first, out->count - first, out->ts_ns + first,
					  out->val + first, out->quality + first};
		struct sample_buf copy = SAMPLE_BUF_INIT;
		if ((rc = sample_buf_reserve(&copy, part.count)) != 0)
			return rc;
		memcpy(copy.ts_ns, part.ts_ns, part.count * sizeof *copy.ts_ns);
		memcpy(copy.val, part.val, part.count * sizeof *copy.val);
		memcpy(copy.quality, part.quality, part.count * sizeof *copy.quality);
		copy.count = part.count;
		rc = sample_buf_sort_dedup(&copy, NULL); /* strings stay the head's */
		if (rc == 0) {
			out->count = first;
			memcpy(out->ts_ns + first, copy.ts_ns, copy.count * sizeof *copy.ts_ns);
			memcpy(out->val + first, copy.val, copy.count * sizeof *copy.val);
			memcpy(out->quality + first, copy.quality, copy.count * sizeof *copy.quality);
			out->count += copy.count;
		}
		sample_buf_free(&copy);
	}
	return rc;
out:
	pthread_rwlock_unlock(&h->lock);
	return rc;
}

int head_neighbours(struct head *h, uint32_t tag_id, int64_t t, int64_t *before_ts,
		    union value64 *before_v, quality_t *before_q, int64_t *after_ts,
		    union value64 *after_v, quality_t *after_q)
{
	const struct series *s;
	int found = 0;

	pthread_rwlock_rdlock(&h->lock);
	s = series_get(h, tag_id);
	for (size_t i = 0; s && i < s->buf.count; i++) {
		int64_t ts = s->buf.ts_ns[i];
		/* ">=" and "<": among equal times the later arrival wins. */
		if (ts < t && (!(found & 1) || ts >= *before_ts)) {
			*before_ts = ts;
			*before_v = s->buf.val[i];
			*before_q = s->buf.quality[i];
			found |= 1;
		} else if (ts >= t && (!(found & 2) || ts <= *after_ts)) {
			*after_ts = ts;
			*after_v = s->buf.val[i];
			*after_q = s->buf.quality[i];
			found |= 2;
		}
	}
	pthread_rwlock_unlock(&h->lock);
	return found;
}

static void free_string(union value64 v)
{
	free((void *)v.str);
}

uint32_t head_id_limit(const struct head *h)
{
	return h->series_cap;
}

struct sample_buf *head_series_sorted(struct head *h, uint32_t tag_id, enum value_type *type,
				      int *err)
{
	struct series *s = tag_id < h->series_cap ? h->series[tag_id] : NULL;

	*err = 0;
	if (!s || s->buf.count == 0)
		return NULL;
	if (!s->sorted) {
		/* The head owns its strings: free those that dedup drops. */
		*err = sample_buf_sort_dedup(&s->buf, s->type == VALUE_STRING ? free_string : NULL);
		if (*err)
			return NULL;
		s->sorted = true;
	}
	*type = s->type;
	return &s->buf;
}

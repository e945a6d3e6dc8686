/* sample_buf.c: growth, sorting and searching of sample column buffers.
 * Not thread-safe: a buffer belongs to one thread at a time. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "storage/sample_buf.h"

int sample_buf_reserve(struct sample_buf *buf, size_t extra)
{
	size_t need = buf->count + extra, cap;
	void *ts, *val, *q;

	if (need <= buf->cap)
		return 0;
	if (need < buf->count || need > SIZE_MAX / 16)
		return -ENOMEM;
	/* By half again, not double: the head's columns are these buffers,
	 * and a 100 ms tag's hour (36,000 samples) would otherwise sit in
	 * room for 65,536. */
	cap = buf->cap ? buf->cap : 64;
	while (cap < need)
		cap += cap / 2;
	ts = realloc(buf->ts_ns, cap * sizeof *buf->ts_ns);
	if (!ts)
		return -ENOMEM;
	buf->ts_ns = ts;
	val = realloc(buf->val, cap * sizeof *buf->val);
	if (!val)
		return -ENOMEM;
	buf->val = val;
	q = realloc(buf->quality, cap * sizeof *buf->quality);
	if (!q)
		return -ENOMEM;
	buf->quality = q;
	buf->cap = cap;
	return 0;
}

int sample_buf_is_strictly_sorted(const struct sample_buf *buf)
{
	for (size_t i = 1; i < buf->count; i++)
		if (buf->ts_ns[i] <= buf->ts_ns[i - 1])
			return 0;
	return 1;
}

struct order {
	int64_t ts;
	size_t index; /* arrival position: ties sort by it, so the sort is stable */
};

static int order_cmp(const void *a, const void *b)
{
	const struct order *x = a, *y = b;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

int sample_buf_sort_dedup(struct sample_buf *buf, void (*drop)(union value64 v))
{
	struct sample_buf out = SAMPLE_BUF_INIT;
	struct order *ord;
	size_t n = buf->count;
	int rc;

	if (sample_buf_is_strictly_sorted(buf))
		return 0;
	ord = malloc((n ? n : 1) * sizeof *ord);
	if (!ord)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		ord[i] = (struct order){buf->ts_ns[i], i};
	qsort(ord, n, sizeof *ord, order_cmp);
	rc = sample_buf_reserve(&out, n);
	if (rc != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		/* Of a run of equal times only the last arrival survives. */
		if (i + 1 < n && ord[i + 1].ts == ord[i].ts) {
			if (drop)
				drop(buf->val[ord[i].index]);
			continue;
		}
		size_t k = ord[i].index;
		sample_buf_put(&out, buf->ts_ns[k], buf->val[k], buf->quality[k]);
	}
	sample_buf_free(buf);
	*buf = out;
out:
	free(ord);
	if (rc != 0)
		sample_buf_free(&out);
	return rc;
}

size_t sample_buf_lower_bound(const struct sample_buf *buf, int64_t t)
{
	size_t lo = 0, hi = buf->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (buf->ts_ns[mid] < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void sample_buf_clear(struct sample_buf *buf)
{
	buf->count = 0;
}

void sample_buf_free(struct sample_buf *buf)
{
	free(buf->ts_ns);
	free(buf->val);
	free(buf->quality);
	*buf = (struct sample_buf)SAMPLE_BUF_INIT;
}

/* sample_buf.h: a growable column buffer of samples (times, 64-bit values, qualities) used by the head and scans.
 * Owns its three arrays; string values are borrowed pointers whose owner is named by whoever fills the buffer. */
#ifndef HS_SAMPLE_BUF_H
#define HS_SAMPLE_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "storage/sample.h"

/* A string value: length-prefixed bytes, not NUL-terminated. */
struct hs_string {
	uint32_t len;
	char data[];
};

/* One value of any type in 8 bytes; which member is live follows the tag's
 * type (bool is i64 0 or 1). */
union value64 {
	double f64;
	int64_t i64;
	uint64_t u64;
	const struct hs_string *str;
};

struct sample_buf {
	size_t count;
	size_t cap;
	int64_t *ts_ns;
	union value64 *val;
	quality_t *quality;
};

#define SAMPLE_BUF_INIT {0, 0, NULL, NULL, NULL}

/* Make room for at least extra more samples. 0 or -ENOMEM. */
int sample_buf_reserve(struct sample_buf *buf, size_t extra) __attribute__((warn_unused_result));

/* Append one sample (room must have been reserved). */
static inline void sample_buf_put(struct sample_buf *buf, int64_t ts_ns, union value64 v,
				  quality_t q)
{
	buf->ts_ns[buf->count] = ts_ns;
	buf->val[buf->count] = v;
	buf->quality[buf->count] = q;
	buf->count++;
}

/* Sort by time, keeping arrival order among equal times, then keep only
 * the last sample of each time (last write wins). drop, when not NULL, is
 * called with each value thrown away (to free owned strings). 0 or -ENOMEM
 * (buf unchanged). */
int sample_buf_sort_dedup(struct sample_buf *buf, void (*drop)(union value64 v))
	__attribute__((warn_unused_result));

/* True when times strictly increase. */
int sample_buf_is_strictly_sorted(const struct sample_buf *buf);

/* Index of the first sample with ts >= t in a sorted buffer. */
size_t sample_buf_lower_bound(const struct sample_buf *buf, int64_t t);

void sample_buf_clear(struct sample_buf *buf);
void sample_buf_free(struct sample_buf *buf);

#endif

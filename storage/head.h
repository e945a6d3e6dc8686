/* head.h: the head: samples appended since the last seal, per tag, in memory and queryable at once.
 * A head is reference-counted: the store swaps in a fresh one at each seal while readers may still hold the old one. */
#ifndef HS_HEAD_H
#define HS_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/sample.h"
#include "storage/sample_buf.h"

struct head;

/* One appended sample: value already in its 8-byte form; for strings,
 * str points at bytes the head copies. */
struct head_input {
	uint32_t tag_id;
	enum value_type type;
	quality_t quality;
	int64_t ts_ns;
	union value64 v;
	const char *str;
	uint32_t str_len;
};

/* A new empty head with one reference. 0 or -ENOMEM. */
int head_new(struct head **out) __attribute__((warn_unused_result));
void head_acquire(struct head *h);
/* Drop a reference; the last one frees the head and its strings. */
void head_release(struct head *h);

/* Append count samples. One appender at a time (the store serialises
 * appends); readers may run concurrently. On -ENOMEM the samples before
 * the failing one are in the head. */
int head_append(struct head *h, const struct head_input *in, size_t count)
	__attribute__((warn_unused_result));

/* Bytes of memory the samples hold (for the memory bound) and their count. */
size_t head_bytes(const struct head *h);
size_t head_samples(const struct head *h);

/* Copy tag's samples with t0 <= ts < t1 into out (appended), sorted by time,
 * last write wins among equal times. String values point into the head and
 * stay valid while the caller holds a reference. 0 or -ENOMEM. Thread-safe. */
int head_collect(struct head *h, uint32_t tag_id, int64_t t0, int64_t t1, struct sample_buf *out)
	__attribute__((warn_unused_result));

/* The last sample with ts < t (before) and the first with ts >= t (after),
 * by time then arrival. Returns flags: 1 = before found, 2 = after found. */
int head_neighbours(struct head *h, uint32_t tag_id, int64_t t, int64_t *before_ts,
		    union value64 *before_v, quality_t *before_q, int64_t *after_ts,
		    union value64 *after_v, quality_t *after_q);

/* For sealing a head nobody appends to any more: one past the largest tag
 * id present, and each tag's samples sorted and deduplicated in place
 * (NULL when the tag has none). The buffer stays owned by the head. */
uint32_t head_id_limit(const struct head *h);
struct sample_buf *head_series_sorted(struct head *h, uint32_t tag_id, enum value_type *type,
				      int *err);

#endif

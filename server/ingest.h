/* ingest.h: the ingest pipeline every source shares (HTTP, UDP, MQTT): payload -> samples -> tags -> store, with acks.
 * Owns batches until they are handed to the store; backpressure bounds the bytes waiting for durability. */
#ifndef HS_INGEST_H
#define HS_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "server/lineproto.h"
#include "server/tagname.h"
#include "storage/store.h"

#define INGEST_ERRORS_MAX 100
#define INGEST_ERROR_TEXT 200

struct ingest;
struct ingest_batch;

struct ingest_options {
	size_t max_pending_bytes;   /* samples handed to the store, not yet durable (default 256 MiB) */
	uint64_t wait_timeout_ms;   /* how long a source waits for room before it is refused (default 10 s) */
};

/* What became of a payload: lines (or JSON samples) seen and refused, and
 * the first INGEST_ERRORS_MAX refusals with their place and reason. */
struct ingest_report {
	size_t lines;
	size_t samples;      /* in the batch, i.e. to be written */
	size_t bad_lines;
	size_t nerrors;
	struct ingest_error {
		uint32_t line;    /* 1-based line, or sample index + 1 for JSON */
		uint32_t column;  /* 0 when not known */
		char message[INGEST_ERROR_TEXT];
	} errors[INGEST_ERRORS_MAX];
};

int ingest_new(struct store *st, const struct ingest_options *opts, struct ingest **out)
	__attribute__((warn_unused_result));
void ingest_free(struct ingest *ing);

/* Parse line protocol into a batch: every field of every good line becomes
 * a sample of the tag the canonical name rule (server/tagname.h) gives; a
 * field named "quality" sets the quality of the line's other fields (an
 * OPC UA status code) and is no tag; lines without a timestamp take now_ns.
 * Tags are resolved (created on first sight) in bulk. A line is refused as
 * a whole when it does not parse, names an invalid tag, or carries a value
 * of another type than its tag's. *out is NULL when nothing is to be
 * written. Returns 0 or a negative error (-ENOMEM, catalog failure). Any
 * thread. */
int ingest_parse_lp(struct ingest *ing, const char *body, size_t len, enum lp_precision precision,
		    int64_t now_ns, struct ingest_batch **out, struct ingest_report *rep)
	__attribute__((warn_unused_result));

/* Parse a JSON write: {"samples": [{"tag", "t", "v", "q"}, ...]} or
 * {"tag": "...", "samples": [[t, v], [t, v, q], ...]}; t as RFC 3339 text
 * or an epoch number in precision; v a number, boolean or string. As
 * ingest_parse_lp otherwise (errors name the sample's index + 1). */
int ingest_parse_json(struct ingest *ing, const char *body, size_t len,
		      enum lp_precision precision, int64_t now_ns, struct ingest_batch **out,
		      struct ingest_report *rep) __attribute__((warn_unused_result));

/* --- one batch from many small payloads (MQTT: the messages of one read) ---
 *
 * Each payload is numbered as one "line" (its message), so that a refusal
 * (a type conflict, a bad name) drops that message's samples and names it
 * in the report, like a bad line of a write. The report is the batch's;
 * ingest_batch_finish() resolves the tags as ingest_parse_lp() does. */

struct ingest_value {
	enum value_type type;
	double f64;          /* VALUE_FLOAT64 */
	int64_t i64;         /* VALUE_INT64, VALUE_BOOL (0 or 1) */
	const char *str;     /* VALUE_STRING: copied into the batch */
	size_t str_len;
};

/* A new empty batch; rep is reset. 0 or -ENOMEM. */
int ingest_batch_new(struct ingest *ing, struct ingest_batch **out, struct ingest_report *rep)
	__attribute__((warn_unused_result));

/* Line protocol as message number line (every line of text counts as it). */
int ingest_batch_add_lp(struct ingest_batch *b, const char *text, size_t len,
			enum lp_precision precision, int64_t now_ns, uint32_t line,
			struct ingest_report *rep) __attribute__((warn_unused_result));

/* One sample of the tag the canonical rule names from measurement, field
 * (field_len 0, or "value", leaves it out) and labels (any order). A name
 * over 1,024 bytes is refused into rep. 0 or -ENOMEM. */
int ingest_batch_add(struct ingest_batch *b, const char *measurement, size_t measurement_len,
		     const char *field, size_t field_len, const struct tagname_label *labels,
		     size_t nlabels, const struct ingest_value *v, int64_t ts_ns, quality_t quality,
		     uint32_t line, struct ingest_report *rep) __attribute__((warn_unused_result));

/* Resolve the tags and refuse the messages that cannot be written, as
 * ingest_parse_lp() does; *out is NULL when nothing is left, and b is
 * consumed either way. 0 or a negative error. */
int ingest_batch_finish(struct ingest_batch *b, struct ingest_batch **out,
			struct ingest_report *rep) __attribute__((warn_unused_result));

/* Hand a batch to the store (the batch is consumed either way). Waits up
 * to wait_timeout_ms while more than max_pending_bytes are waiting to be
 * durable; then -EBUSY (answer 503 with Retry-After). Otherwise returns
 * the store's refusal (-ENOSPC disk full, -EIO, -EROFS) or 0, and done is
 * called once, on the WAL writer thread, when the batch is durable or
 * failed. */
int ingest_submit(struct ingest *ing, struct ingest_batch *batch, store_durable_fn done, void *arg)
	__attribute__((warn_unused_result));

/* ingest_submit without waiting: -EBUSY at once when the pending bound is
 * reached (for sources that must not block, like the UDP listener). */
int ingest_submit_nowait(struct ingest *ing, struct ingest_batch *batch, store_durable_fn done,
			 void *arg) __attribute__((warn_unused_result));

size_t ingest_batch_samples(const struct ingest_batch *batch);
void ingest_batch_free(struct ingest_batch *batch);

/* Counters for /metrics. */
struct ingest_stats {
	uint64_t batches, samples, bad_lines, refused_busy;
	uint64_t pending_bytes;
	uint64_t split_parses;  /* bodies parsed in two halves on two threads */
};

void ingest_stats(struct ingest *ing, struct ingest_stats *out);

#endif

/* ingest_int.h: the insides of an ingest batch, shared by server/ingest*.c and nothing else.
 * A batch keeps offsets into its arena (which may move while it grows) and turns them into pointers only at the end. */
#ifndef HS_INGEST_INT_H
#define HS_INGEST_INT_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>

#include "lib/strbuf.h"
#include "server/ingest.h"
#include "server/tagname.h"

struct ingest {
	struct store *st;
	size_t max_pending;
	uint64_t wait_ms;
	pthread_mutex_t lock;
	pthread_cond_t room;
	size_t pending;       /* bytes submitted, not yet durable */
	_Atomic uint64_t batches, samples, bad_lines, refused_busy;
	long cores;           /* online CPUs, for the two-thread parse */
	_Atomic long parsing; /* line-protocol bodies being parsed now */
	_Atomic uint64_t split_parses;
};

/* One distinct tag name of the batch. */
struct batch_name {
	uint64_t hash;        /* first: the slot tables rehash by it */
	size_t off;           /* name bytes in the arena */
	uint32_t len;
	enum value_type type; /* the type its first sample in the batch asks for */
	uint32_t first_label, nlabels;
	uint32_t id;          /* after resolution */
	int status;           /* 0, HS_ETYPE or -EINVAL after resolution */
	enum value_type existing; /* the tag's type when status is HS_ETYPE */
};

/* A (series, field) as the line protocol spelled it, mapped to its name:
 * lines repeat their series every second, so the raw bytes find the name
 * without unescaping, sorting and rendering it again. */
struct batch_raw_key {
	uint64_t hash;        /* first: the slot tables rehash by it */
	size_t off;           /* series bytes, then field bytes, in the arena */
	uint32_t series_len, field_len;
	uint32_t name;        /* index into names */
};

struct batch_label {
	size_t key_off, value_off;
	uint32_t key_len, value_len;
};

/* A sample before its tag is resolved. */
struct pending_sample {
	uint32_t name;        /* index into names */
	uint32_t line;        /* 1-based line (or JSON sample index + 1) */
	enum value_type type;
	quality_t quality;
	int64_t ts_ns;
	union {
		double f64;
		int64_t i64;
		struct {
			size_t off; /* string bytes in the arena */
			uint32_t len;
		} s;
	} v;
};

struct ingest_batch {
	struct ingest *ing;
	struct strbuf arena;
	struct batch_name *names;
	size_t nnames, names_cap;
	uint32_t *slots;      /* open addressing over names; UINT32_MAX = empty */
	size_t slot_cap;
	struct batch_label *labels;
	size_t nlabels, labels_cap;
	struct batch_raw_key *raw;
	size_t nraw, raw_cap;
	uint32_t *raw_slots;  /* open addressing over raw; UINT32_MAX = empty */
	size_t raw_slot_cap;
	struct pending_sample *pending;
	size_t npending, pending_cap;
	struct store_sample *samples; /* final, after ingest__finish */
	size_t count;
	size_t bytes;         /* the backpressure account of this batch */
};

int ingest__batch_new(struct ingest *ing, struct ingest_batch **out);
size_t ingest__keep(struct ingest_batch *b, const char *bytes, size_t len);
/* Index of name in the batch, adding it (with labels, for creation). */
int ingest__name(struct ingest_batch *b, const char *name, size_t len, enum value_type type,
		 const struct tagname_label *labels, size_t nlabels, uint32_t *index);
int ingest__add(struct ingest_batch *b, const struct pending_sample *p);
void ingest__error(struct ingest_report *rep, uint32_t line, uint32_t column, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Resolve names, refuse lines with bad tags, build the store samples.
 * Frees the batch and sets *out NULL when nothing is left to write. */
int ingest__finish(struct ingest_batch *b, struct ingest_batch **out, struct ingest_report *rep);

#endif

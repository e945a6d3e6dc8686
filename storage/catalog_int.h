/* catalog_int.h: what the catalog's own files share: connections, prepared statements, errors, transactions.
 * Private to storage/catalog*.c; the rest of storage/ uses storage/catalog.h only. */
#ifndef HS_CATALOG_INT_H
#define HS_CATALOG_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/catalog.h"

/* Prepared statements, prepared once per connection (catalog.c holds the
 * SQL). The writer connection prepares [0, CS_WRITER_END); every reader
 * connection prepares [CS_WRITER_END, CS_COUNT). */
enum catalog__stmt_id {
	CS_BEGIN,
	CS_COMMIT,
	CS_ROLLBACK,
	CS_COUNTER_GET,
	CS_COUNTER_ADD,
	CS_TAG_BY_NAME,
	CS_TAG_INSERT,
	CS_TAG_TYPE,
	CS_LABEL_INSERT,
	CS_META_SET,
	CS_PART_GET,
	CS_PART_OVERLAP,
	CS_PART_INSERT,
	CS_PART_FILES,
	CS_PART_DELETE_IF_EMPTY,
	CS_PART_DELETE_CHUNKS,
	CS_PART_DELETE_FILES,
	CS_PART_DELETE,
	CS_FILE_INSERT,
	CS_FILE_SET_BYTES,
	CS_FILE_SET_COMPACTED,
	CS_FILE_EXTEND,
	CS_FILE_DELETE,
	CS_CHUNK_INSERT,
	CS_CHUNK_DELETE,
	CS_CHUNKS_EXPIRE,
	CS_TAG_SPAN,
	CS_STATE_SET,
	CS_RET_SET,
	CS_RET_DELETE,
	CS_WRITER_END,
	CS_TAGS_ALL = CS_WRITER_END,
	CS_LABELS_OF,
	CS_META_GET,
	CS_FILES_OF_PART,
	CS_PARTS,
	CS_CHUNKS_RANGE,
	CS_CHUNK_BEFORE,
	CS_CHUNK_AFTER,
	CS_TAG_EXTENT,
	CS_CHUNK_GET,
	CS_CHUNKS_OF_FILE,
	CS_STATE_GET,
	CS_RET_LIST,
	CS_STATS,
	CS_QUICK_CHECK,
	CS_FK_CHECK,
	CS_COUNTERS_CHECK,
	CS_COUNT,
};

#define CATALOG__STR_(x) #x
#define CATALOG__STR(x) CATALOG__STR_(x) /* a macro's value as a string literal */

/* The columns every chunk SELECT returns, in the order catalog__chunk_row()
 * reads them. */
#define CATALOG__CHUNK_COLS \
	"id, tag_id, file_id, file_offset, length, crc, t_min, t_max, sample_count, seq, flags," \
	" v_min, v_max, v_sum, first_ts, last_ts, first_v, last_v, integral, good_count," \
	" min_ts, max_ts, first_q, last_q, v_m2, integral_step, max_gap_ns"

/* One SQLite connection with its statements. Used by one thread at a time:
 * the writer under catalog.write_lock, a reader between acquire and release. */
struct catalog_conn {
	struct catalog *cat;
	sqlite3 *db;
	sqlite3_stmt *stmt[CS_COUNT];
	/* catalog_tags_find with k label filters, prepared on first use */
	sqlite3_stmt *find[CATALOG_FIND_LABELS_MAX + 1];
	struct catalog_conn *next_idle;
};

struct catalog {
	char *path;
	pthread_mutex_t write_lock;  /* held for the whole of every writer call */
	struct catalog_conn *writer;
	pthread_mutex_t pool_lock;   /* guards the fields below */
	pthread_cond_t pool_cond;    /* signalled when a reader is released */
	struct catalog_conn *idle;   /* stack of idle readers */
	size_t nreaders;             /* opened (idle or in use) */
	struct catalog_conn *readers[CATALOG_READERS_MAX];
};

/* --- errors (catalog.c) ------------------------------------------------ */

/* Set the calling thread's message (catalog_errmsg) and return code. */
int catalog__fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Map an SQLite result code to ours, with a message naming the file, what
 * was being done, SQLite's text and (for corruption) where it was noticed. */
int catalog__sqlfail(struct catalog_conn *c, int src, const char *what, const char *file,
		     int line);
#define CATALOG__SQLFAIL(c, src, what) catalog__sqlfail((c), (src), (what), __FILE__, __LINE__)

/* HS_ECORRUPT for a value SQLite stored fine but we cannot accept. */
int catalog__corrupt(struct catalog *cat, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
#define CATALOG__CORRUPT(cat, ...) catalog__corrupt((cat), __FILE__, __LINE__, __VA_ARGS__)

/* --- statements ---------------------------------------------------------- */

/* Step s: 1 for a row, 0 when done, < 0 (mapped, message set) on error. */
int catalog__step(struct catalog_conn *c, sqlite3_stmt *s, const char *what);

/* Step s to completion (it must return no row), then reset it. */
int catalog__run(struct catalog_conn *c, sqlite3_stmt *s, const char *what);

/* Reset s after use. The return code repeats the last step's, which the
 * caller has already handled, so it is deliberately dropped. */
static inline void catalog__reset(sqlite3_stmt *s)
{
	(void)sqlite3_reset(s);
}

/* Binds parameters 1, 2, ... in order and remembers the first failure, so
 * a statement's binds are checked once: if (b.src != SQLITE_OK) fail. */
struct catalog__bind {
	sqlite3_stmt *stmt;
	int idx;
	int src;
};

static inline struct catalog__bind catalog__bind_start(sqlite3_stmt *s)
{
	struct catalog__bind b = {s, 0, SQLITE_OK};
	return b;
}

static inline void catalog__bind_i64(struct catalog__bind *b, int64_t v)
{
	b->idx++;
	if (b->src == SQLITE_OK)
		b->src = sqlite3_bind_int64(b->stmt, b->idx, v);
}

/* NaN binds as NULL (SQLite's rule, relied on by the format). */
static inline void catalog__bind_f64(struct catalog__bind *b, double v)
{
	b->idx++;
	if (b->src == SQLITE_OK)
		b->src = sqlite3_bind_double(b->stmt, b->idx, v);
}

/* s (len bytes) must outlive the statement's use: bound without a copy. */
static inline void catalog__bind_text(struct catalog__bind *b, const char *s, size_t len)
{
	b->idx++;
	if (b->src == SQLITE_OK)
		b->src = sqlite3_bind_text(b->stmt, b->idx, s, (int)len, SQLITE_STATIC);
}

static inline void catalog__bind_null(struct catalog__bind *b)
{
	b->idx++;
	if (b->src == SQLITE_OK)
		b->src = sqlite3_bind_null(b->stmt, b->idx);
}

/* Column as double, NULL read back as NaN. */
double catalog__column_f64(sqlite3_stmt *s, int col);

/* --- connections and transactions (catalog.c) ---------------------------- */

/* Take the writer mutex and BEGIN IMMEDIATE. On success *c is the writer;
 * every path then ends in catalog__write_end(). On failure the mutex is
 * released again. */
int catalog__write_begin(struct catalog *cat, struct catalog_conn **c);

/* COMMIT when rc == 0, else ROLLBACK; release the mutex. Returns rc, or the
 * COMMIT's error. */
int catalog__write_end(struct catalog *cat, int rc);

/* Hand out an idle reader (opening one, or waiting for one) / give it back. */
int catalog__reader_acquire(struct catalog *cat, struct catalog_conn **out);
void catalog__reader_release(struct catalog *cat, struct catalog_conn *c);

/* Add delta to counters.name inside the writer's transaction. */
int catalog__counter_add(struct catalog_conn *c, const char *name, int64_t delta);
int catalog__counter_get(struct catalog_conn *c, const char *name, int64_t *value);

/* --- values -------------------------------------------------------------- */

/* 0, or -EINVAL with a message when s (len bytes) is empty, longer than max,
 * holds a NUL or is not UTF-8. what names the argument for the message. */
int catalog__check_text(const char *s, size_t len, size_t max, const char *what);

int catalog__type_to_db(enum value_type type);
/* 0 with *out, or < 0 for a number no version wrote. */
int catalog__type_from_db(int64_t v, enum value_type *out);

/* Set a state row inside the writer's transaction (key already checked). */
int catalog__state_put(struct catalog_conn *w, const char *key, uint64_t value);

/* catalog_chunks.c: read the CATALOG__CHUNK_COLS of the current row. */
int catalog__chunk_row(struct catalog_conn *c, sqlite3_stmt *s, struct catalog_chunk *out);

#endif

/* catalog.c: the catalog's core: connections, prepared statements, schema creation and checks, errors, state, retention.
 * Tags live in catalog_tags.c, files and chunks in catalog_chunks.c; catalog_format.h draws the schema.
 *
 * Connections. One read-write connection (the writer) does every write,
 * each call one BEGIN IMMEDIATE ... COMMIT, under write_lock; it runs with
 * synchronous=FULL so a commit that returned is on disk (the store trims its
 * WAL only after that). Reads go to a pool of read-only connections opened
 * on demand up to CATALOG_READERS_MAX and handed out under pool_lock. Each
 * connection prepares its statements once when it opens and resets them
 * after every use; a connection is used by one thread at a time, so they
 * are opened SQLITE_OPEN_NOMUTEX. WAL mode lets readers and the writer run
 * side by side; busy_timeout covers the short locks a checkpoint or WAL
 * recovery takes.
 *
 * Errors. Every SQLite result is checked and mapped once, in
 * catalog__sqlfail(); the text goes to a thread-local buffer read by
 * catalog_errmsg(), so concurrent callers never see each other's messages.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/hs_error.h"
#include "lib/log.h"
#include "lib/utf8.h"
#include "storage/catalog_format.h"
#include "storage/catalog_int.h"

#define CATALOG_BUSY_TIMEOUT_MS 10000
#define CATALOG_WRITER_CACHE_KIB 16384   /* a seal touches one leaf page per tag */
#define CATALOG_WAL_LIMIT_BYTES 67108864 /* truncate catalog.db-wal to this after a checkpoint */

static _Thread_local char catalog_errbuf[CATALOG_ERROR_MAX];

/* SQL of every prepared statement, by enum catalog__stmt_id. */
static const char *const catalog_sql[CS_COUNT] = {
	[CS_BEGIN] = "BEGIN IMMEDIATE",
	[CS_COMMIT] = "COMMIT",
	[CS_ROLLBACK] = "ROLLBACK",
	[CS_COUNTER_GET] = "SELECT value FROM counters WHERE name = ?1",
	[CS_COUNTER_ADD] = "UPDATE counters SET value = value + ?2 WHERE name = ?1",
	[CS_TAG_BY_NAME] = "SELECT id, type FROM tags WHERE name = ?1",
	[CS_TAG_INSERT] = "INSERT INTO tags (name, type) VALUES (?1, ?2)",
	[CS_TAG_TYPE] = "SELECT type FROM tags WHERE id = ?1",
	[CS_LABEL_INSERT] = "INSERT INTO tag_labels (tag_id, key, value) VALUES (?1, ?2, ?3)",
	[CS_META_SET] = "INSERT OR REPLACE INTO tag_meta (tag_id, unit, description, eng_low,"
			" eng_high, interpolation, display_digits, stale_timeout_ns)"
			" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[CS_PART_GET] = "SELECT end_ns FROM partitions WHERE start_ns = ?1",
	[CS_PART_OVERLAP] = "SELECT start_ns, end_ns FROM partitions"
			    " WHERE start_ns < ?2 AND end_ns > ?1 LIMIT 1",
	[CS_PART_INSERT] = "INSERT INTO partitions (start_ns, end_ns) VALUES (?1, ?2)",
	[CS_PART_FILES] = "SELECT id, relpath, bytes FROM files WHERE partition_start_ns = ?1"
			  " ORDER BY id",
	[CS_PART_DELETE_IF_EMPTY] = "DELETE FROM partitions WHERE start_ns = ?1 AND NOT EXISTS"
				    " (SELECT 1 FROM files WHERE partition_start_ns = ?1)",
	[CS_PART_DELETE_CHUNKS] = "DELETE FROM chunks WHERE file_id IN"
				  " (SELECT id FROM files WHERE partition_start_ns = ?1)",
	[CS_PART_DELETE_FILES] = "DELETE FROM files WHERE partition_start_ns = ?1",
	[CS_PART_DELETE] = "DELETE FROM partitions WHERE start_ns = ?1",
	[CS_FILE_INSERT] = "INSERT INTO files (partition_start_ns, relpath) VALUES (?1, ?2)",
	[CS_FILE_SET_BYTES] = "UPDATE files SET bytes = ?2 WHERE id = ?1",
	[CS_FILE_SET_COMPACTED] = "UPDATE files SET compacted = 1 WHERE id = ?1",
	[CS_FILE_EXTEND] = "UPDATE files SET bytes = ?2 WHERE id = ?1 AND bytes < ?2",
	[CS_FILE_DELETE] = "DELETE FROM files WHERE id = ?1 RETURNING partition_start_ns",
	[CS_CHUNK_INSERT] = "INSERT INTO chunks (tag_id, t_min, seq, id, t_max, file_id,"
			    " file_offset, length, crc, sample_count, flags, v_min, v_max, v_sum,"
			    " first_ts, last_ts, first_v, last_v, integral, good_count, min_ts,"
			    " max_ts, first_q, last_q, v_m2, integral_step, max_gap_ns) VALUES"
			    " (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,"
			    " ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27)",
	[CS_CHUNK_DELETE] = "DELETE FROM chunks WHERE id = ?1",
	[CS_CHUNKS_EXPIRE] = "DELETE FROM chunks WHERE tag_id = ?1 AND t_min < ?2 AND t_max < ?2",
	[CS_TAG_SPAN] = "UPDATE tags SET max_span_ns = ?2 WHERE id = ?1 AND max_span_ns < ?2",
	[CS_STATE_SET] = "INSERT INTO state (key, value) VALUES (?1, ?2)"
			 " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
	[CS_RET_SET] = "INSERT INTO retention (pattern, keep_ns) VALUES (?1, ?2)"
		       " ON CONFLICT (pattern) DO UPDATE SET keep_ns = excluded.keep_ns",
	[CS_RET_DELETE] = "DELETE FROM retention WHERE pattern = ?1",

	[CS_TAGS_ALL] = "SELECT id, name, type FROM tags ORDER BY id",
	[CS_LABELS_OF] = "SELECT key, value FROM tag_labels WHERE tag_id = ?1 ORDER BY key",
	[CS_META_GET] = "SELECT t.type, m.tag_id IS NOT NULL, m.unit, m.description, m.eng_low,"
			" m.eng_high, m.interpolation, m.display_digits, m.stale_timeout_ns"
			" FROM tags t LEFT JOIN tag_meta m ON m.tag_id = t.id WHERE t.id = ?1",
	[CS_FILES_OF_PART] = "SELECT id, relpath, bytes FROM files WHERE partition_start_ns = ?1"
			     " ORDER BY id",
	[CS_PARTS] = "SELECT p.start_ns, p.end_ns, count(f.id), coalesce(sum(f.bytes), 0),"
		     " coalesce(sum(f.compacted), 0)"
		     " FROM partitions p LEFT JOIN files f ON f.partition_start_ns = p.start_ns"
		     " GROUP BY p.start_ns ORDER BY p.start_ns",
	/* The lower bound on t_min (t0 minus the tag's widest chunk) keeps the
	 * index range short however long the tag's history; it is in the same
	 * statement, so one snapshot answers both (a compaction that widens the
	 * span commits the span and the chunk together). Below INT64_MIN the
	 * subtraction turns REAL, still a valid lower bound. */
	[CS_CHUNKS_RANGE] = "SELECT " CATALOG__CHUNK_COLS " FROM chunks WHERE tag_id = ?1"
			    " AND t_min < ?3"
			    " AND t_min >= ?2 - (SELECT max_span_ns FROM tags WHERE id = ?1)"
			    " AND t_max >= ?2 ORDER BY t_min, seq, id",
	[CS_CHUNK_BEFORE] = "SELECT " CATALOG__CHUNK_COLS " FROM chunks WHERE tag_id = ?1"
			    " AND t_min < ?2 ORDER BY t_min DESC, seq DESC, id DESC LIMIT 1",
	[CS_CHUNK_AFTER] = "SELECT " CATALOG__CHUNK_COLS " FROM chunks WHERE tag_id = ?1"
			   " AND t_min >= ?2 - (SELECT max_span_ns FROM tags WHERE id = ?1)"
			   " AND t_max >= ?2 ORDER BY t_min, seq, id LIMIT 1",
	[CS_TAG_EXTENT] = "SELECT (SELECT min(t_min) FROM chunks WHERE tag_id = ?1),"
			  " (SELECT max(t_max) FROM chunks WHERE tag_id = ?1 AND t_min >="
			  " (SELECT max(t_min) FROM chunks WHERE tag_id = ?1)"
			  " - (SELECT max_span_ns FROM tags WHERE id = ?1))",
	[CS_CHUNK_GET] = "SELECT " CATALOG__CHUNK_COLS " FROM chunks WHERE id = ?1",
	[CS_CHUNKS_OF_FILE] = "SELECT " CATALOG__CHUNK_COLS " FROM chunks WHERE file_id = ?1"
			      " ORDER BY file_offset",
	[CS_STATE_GET] = "SELECT value FROM state WHERE key = ?1",
	[CS_RET_LIST] = "SELECT pattern, keep_ns FROM retention ORDER BY pattern",
	[CS_STATS] = "SELECT (SELECT value FROM counters WHERE name = '" CATALOG_DB_COUNTER_TAGS "'),"
		     " (SELECT value FROM counters WHERE name = '" CATALOG_DB_COUNTER_CHUNKS "'),"
		     " (SELECT value FROM counters WHERE name = '" CATALOG_DB_COUNTER_FILES "'),"
		     " (SELECT count(*) FROM partitions)",
	/* catalog_verify(): a one-off command, but prepared like the rest. */
	[CS_QUICK_CHECK] = "PRAGMA quick_check",
	[CS_FK_CHECK] = "PRAGMA foreign_key_check",
	[CS_COUNTERS_CHECK] = "SELECT name, value, CASE name"
			      " WHEN 'tags' THEN (SELECT count(*) FROM tags)"
			      " WHEN 'files' THEN (SELECT count(*) FROM files)"
			      " WHEN 'chunks' THEN (SELECT count(*) FROM chunks)"
			      " ELSE (SELECT coalesce(max(id), 0) + 1 FROM chunks) END"
			      " FROM counters",
};

/* ---- errors -------------------------------------------------------------- */

const char *catalog_errmsg(void)
{
	return catalog_errbuf;
}

int catalog__fail(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(catalog_errbuf, sizeof catalog_errbuf, fmt, ap);
	va_end(ap);
	return code;
}

static int catalog__map(int src, int sys_errno)
{
	switch (src & 0xff) {
	case SQLITE_FULL: return -ENOSPC;
	case SQLITE_IOERR: return src == SQLITE_IOERR_NOMEM ? -ENOMEM : -EIO;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB: return HS_ECORRUPT;
	case SQLITE_NOMEM: return -ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED: return -EBUSY;
	case SQLITE_READONLY: return -EROFS;
	case SQLITE_PERM:
	case SQLITE_AUTH: return -EACCES;
	case SQLITE_CANTOPEN: return sys_errno > 0 ? -sys_errno : -ENOENT;
	case SQLITE_TOOBIG: return -E2BIG;
	case SQLITE_INTERRUPT: return -EINTR;
	case SQLITE_PROTOCOL: return -EIO;
	default: return -EINVAL; /* ERROR, CONSTRAINT, MISMATCH, RANGE, MISUSE: the request */
	}
}

int catalog__sqlfail(struct catalog_conn *c, int src, const char *what, const char *file, int line)
{
	int code = catalog__map(src, sqlite3_system_errno(c->db));

	if (code == HS_ECORRUPT)
		return catalog__fail(code, "catalog %s: %s: %s (sqlite %d, noticed at %s:%d)",
				     c->cat->path, what, sqlite3_errmsg(c->db), src, file, line);
	return catalog__fail(code, "catalog %s: %s: %s (sqlite %d)", c->cat->path, what,
			     sqlite3_errmsg(c->db), src);
}

int catalog__corrupt(struct catalog *cat, const char *file, int line, const char *fmt, ...)
{
	char detail[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	return catalog__fail(HS_ECORRUPT, "catalog %s: corrupt: %s (at %s:%d)", cat->path, detail,
			     file, line);
}

/* ---- statements ------------------------------------------------------------ */

int catalog__step(struct catalog_conn *c, sqlite3_stmt *s, const char *what)
{
	int src = sqlite3_step(s);

	if (src == SQLITE_ROW)
		return 1;
	if (src == SQLITE_DONE)
		return 0;
	return CATALOG__SQLFAIL(c, src, what);
}

int catalog__run(struct catalog_conn *c, sqlite3_stmt *s, const char *what)
{
	int rc = catalog__step(c, s, what);

	if (rc == 1)
		rc = catalog__fail(-EINVAL, "catalog %s: %s: returned a row", c->cat->path, what);
	catalog__reset(s);
	return rc;
}

double catalog__column_f64(sqlite3_stmt *s, int col)
{
	if (sqlite3_column_type(s, col) == SQLITE_NULL)
		return NAN;
	return sqlite3_column_double(s, col);
}

int catalog__counter_get(struct catalog_conn *c, const char *name, int64_t *value)
{
	sqlite3_stmt *s = c->stmt[CS_COUNTER_GET];
	struct catalog__bind b = catalog__bind_start(s);
	int rc;

	catalog__bind_text(&b, name, strlen(name));
	if (b.src != SQLITE_OK) {
		rc = CATALOG__SQLFAIL(c, b.src, "bind counter");
		goto out;
	}
	rc = catalog__step(c, s, "read counter");
	if (rc == 0)
		rc = CATALOG__CORRUPT(c->cat, "counter '%s' missing", name);
	if (rc < 0)
		goto out;
	*value = sqlite3_column_int64(s, 0);
	rc = 0;
out:
	catalog__reset(s);
	return rc;
}

int catalog__counter_add(struct catalog_conn *c, const char *name, int64_t delta)
{
	sqlite3_stmt *s = c->stmt[CS_COUNTER_ADD];
	struct catalog__bind b = catalog__bind_start(s);
	int rc;

	if (delta == 0)
		return 0;
	catalog__bind_text(&b, name, strlen(name));
	catalog__bind_i64(&b, delta);
	if (b.src != SQLITE_OK)
		return CATALOG__SQLFAIL(c, b.src, "bind counter");
	rc = catalog__run(c, s, "update counter");
	if (rc == 0 && sqlite3_changes(c->db) != 1)
		rc = CATALOG__CORRUPT(c->cat, "counter '%s' missing", name);
	return rc;
}

/* ---- values ------------------------------------------------------------------ */

int catalog__check_text(const char *s, size_t len, size_t max, const char *what)
{
	if (s == NULL || len == 0)
		return catalog__fail(-EINVAL, "%s is empty", what);
	if (len > max)
		return catalog__fail(-EINVAL, "%s is %zu bytes, more than %zu", what, len, max);
	if (memchr(s, '\0', len) != NULL)
		return catalog__fail(-EINVAL, "%s holds a NUL byte", what);
	if (!utf8_valid(s, len))
		return catalog__fail(-EINVAL, "%s is not valid UTF-8", what);
	return 0;
}

int catalog__type_to_db(enum value_type type)
{
	switch (type) {
	case VALUE_FLOAT64: return CATALOG_DB_TYPE_FLOAT64;
	case VALUE_INT64: return CATALOG_DB_TYPE_INT64;
	case VALUE_BOOL: return CATALOG_DB_TYPE_BOOL;
	case VALUE_STRING: return CATALOG_DB_TYPE_STRING;
	}
	return -EINVAL;
}

int catalog__type_from_db(int64_t v, enum value_type *out)
{
	switch (v) {
	case CATALOG_DB_TYPE_FLOAT64: *out = VALUE_FLOAT64; return 0;
	case CATALOG_DB_TYPE_INT64: *out = VALUE_INT64; return 0;
	case CATALOG_DB_TYPE_BOOL: *out = VALUE_BOOL; return 0;
	case CATALOG_DB_TYPE_STRING: *out = VALUE_STRING; return 0;
	default: return -EINVAL;
	}
}

/* ---- connections ------------------------------------------------------------ */

static void catalog__conn_close(struct catalog_conn *c)
{
	int src;

	if (c == NULL)
		return;
	for (size_t i = 0; i < CS_COUNT; i++)
		sqlite3_finalize(c->stmt[i]); /* NULL is a no-op; errors were reported by steps */
	for (size_t i = 0; i <= CATALOG_FIND_LABELS_MAX; i++)
		sqlite3_finalize(c->find[i]);
	src = sqlite3_close(c->db);
	if (src != SQLITE_OK)
		log_error("catalog", "closing %s: %s (sqlite %d)", c->cat->path,
			  sqlite3_errstr(src), src);
	free(c);
}

/* Run one setup statement (PRAGMA) and read its first column as an
 * integer, or as text into buf when buf is given. */
static int catalog__pragma(struct catalog_conn *c, const char *sql, int64_t *ival, char *buf,
			   size_t cap)
{
	sqlite3_stmt *s = NULL;
	int src, rc;

	src = sqlite3_prepare_v2(c->db, sql, -1, &s, NULL);
	if (src != SQLITE_OK) {
		rc = CATALOG__SQLFAIL(c, src, sql);
		goto out;
	}
	rc = catalog__step(c, s, sql);
	if (rc <= 0)
		goto out; /* a setting PRAGMA returns no row */
	if (ival)
		*ival = sqlite3_column_int64(s, 0);
	if (buf) {
		const unsigned char *t = sqlite3_column_text(s, 0);
		snprintf(buf, cap, "%s", t ? (const char *)t : "");
	}
	rc = 0;
out:
	sqlite3_finalize(s);
	return rc;
}

static int catalog__prepare_all(struct catalog_conn *c, size_t first, size_t end)
{
	for (size_t i = first; i < end; i++) {
		int src = sqlite3_prepare_v3(c->db, catalog_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
					     &c->stmt[i], NULL);
		if (src != SQLITE_OK) {
			int rc = CATALOG__SQLFAIL(c, src, "prepare");
			/* A table or column missing under our application_id and version. */
			if (rc == -EINVAL)
				rc = CATALOG__CORRUPT(c->cat, "schema does not match version %d: %s",
						      CATALOG_SCHEMA_VERSION, sqlite3_errmsg(c->db));
			return rc;
		}
	}
	return 0;
}

/* Open one connection: the writer (read-write, may create the file) or a
 * reader. Statements are prepared by the caller once the schema is known. */
static int catalog__conn_new(struct catalog *cat, bool writer, struct catalog_conn **out)
{
	int flags = SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
						    : SQLITE_OPEN_READONLY);
	struct catalog_conn *c = calloc(1, sizeof *c);
	int src, rc = 0;

	if (c == NULL)
		return catalog__fail(-ENOMEM, "catalog %s: out of memory", cat->path);
	c->cat = cat;
	src = sqlite3_open_v2(cat->path, &c->db, flags, NULL);
	if (c->db == NULL) {
		rc = catalog__fail(-ENOMEM, "catalog %s: out of memory", cat->path);
		goto out;
	}
	if (src != SQLITE_OK) {
		rc = CATALOG__SQLFAIL(c, src, "open");
		goto out;
	}
	src = sqlite3_extended_result_codes(c->db, 1);
	if (src == SQLITE_OK)
		src = sqlite3_busy_timeout(c->db, CATALOG_BUSY_TIMEOUT_MS);
	if (src != SQLITE_OK)
		rc = CATALOG__SQLFAIL(c, src, "configure connection");
out:
	if (rc < 0) {
		catalog__conn_close(c);
		c = NULL;
	}
	*out = c;
	return rc;
}

/* ---- readers ------------------------------------------------------------------ */

static int catalog__reader_open(struct catalog *cat, struct catalog_conn **out)
{
	struct catalog_conn *c = NULL;
	int rc;

	rc = catalog__conn_new(cat, false, &c);
	if (rc < 0)
		goto out;
	rc = catalog__prepare_all(c, CS_WRITER_END, CS_COUNT);
out:
	if (rc < 0) {
		catalog__conn_close(c);
		c = NULL;
	}
	*out = c;
	return rc;
}

int catalog__reader_acquire(struct catalog *cat, struct catalog_conn **out)
{
	struct catalog_conn *c = NULL;
	int rc = 0;

	pthread_mutex_lock(&cat->pool_lock);
	while (cat->idle == NULL && cat->nreaders == CATALOG_READERS_MAX)
		pthread_cond_wait(&cat->pool_cond, &cat->pool_lock);
	if (cat->idle) {
		c = cat->idle;
		cat->idle = c->next_idle;
		pthread_mutex_unlock(&cat->pool_lock);
		goto out;
	}
	cat->nreaders++; /* reserve the slot; open outside the lock */
	pthread_mutex_unlock(&cat->pool_lock);

	rc = catalog__reader_open(cat, &c);
	pthread_mutex_lock(&cat->pool_lock);
	if (rc < 0) {
		cat->nreaders--;
		pthread_cond_signal(&cat->pool_cond);
	} else {
		for (size_t i = 0; i < CATALOG_READERS_MAX; i++) {
			if (cat->readers[i] == NULL) {
				cat->readers[i] = c;
				break;
			}
		}
	}
	pthread_mutex_unlock(&cat->pool_lock);
out:
	*out = c;
	return rc;
}

void catalog__reader_release(struct catalog *cat, struct catalog_conn *c)
{
	pthread_mutex_lock(&cat->pool_lock);
	c->next_idle = cat->idle;
	cat->idle = c;
	pthread_cond_signal(&cat->pool_cond);
	pthread_mutex_unlock(&cat->pool_lock);
}

/* ---- writer transactions ------------------------------------------------------- */

/* ROLLBACK without touching the thread's message: the caller is already
 * reporting the error that made it roll back. If it fails, the next
 * catalog__write_begin() tries again. */
static void catalog__rollback(struct catalog_conn *w)
{
	int src;

	if (sqlite3_get_autocommit(w->db))
		return; /* SQLite rolled back by itself (e.g. after SQLITE_FULL) */
	src = sqlite3_step(w->stmt[CS_ROLLBACK]);
	if (src != SQLITE_DONE)
		log_error("catalog", "%s: rollback: %s (sqlite %d)", w->cat->path,
			  sqlite3_errmsg(w->db), src);
	catalog__reset(w->stmt[CS_ROLLBACK]);
}

int catalog_checkpoint(struct catalog *cat)
{
	int rc;

	pthread_mutex_lock(&cat->write_lock);
	/* Readers in flight may keep part of the WAL: best effort, no error. */
	rc = catalog__pragma(cat->writer, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, 0);
	pthread_mutex_unlock(&cat->write_lock);
	return rc == -EBUSY ? 0 : rc;
}

int catalog_vacuum(struct catalog *cat)
{
	int src, rc = 0;

	pthread_mutex_lock(&cat->write_lock);
	src = sqlite3_exec(cat->writer->db, "VACUUM", NULL, NULL, NULL);
	if (src != SQLITE_OK)
		rc = CATALOG__SQLFAIL(cat->writer, src, "vacuum");
	pthread_mutex_unlock(&cat->write_lock);
	return rc;
}

int catalog__write_begin(struct catalog *cat, struct catalog_conn **c)
{
	struct catalog_conn *w = cat->writer;
	int rc;

	pthread_mutex_lock(&cat->write_lock);
	catalog__rollback(w); /* only acts after an earlier ROLLBACK failed */
	rc = catalog__run(w, w->stmt[CS_BEGIN], "begin transaction");
	if (rc < 0)
		pthread_mutex_unlock(&cat->write_lock);
	*c = rc < 0 ? NULL : w;
	return rc;
}

int catalog__write_end(struct catalog *cat, int rc)
{
	struct catalog_conn *w = cat->writer;

	if (rc == 0)
		rc = catalog__run(w, w->stmt[CS_COMMIT], "commit");
	if (rc != 0)
		catalog__rollback(w);
	pthread_mutex_unlock(&cat->write_lock);
	return rc;
}

/* ---- open and schema ------------------------------------------------------------ */

/* Refuse files that are not ours before changing anything in them. A fresh
 * file (SQLite creates an empty one) has no objects and version 0. */
static int catalog__identify(struct catalog_conn *w, bool *fresh, int64_t *version_out)
{
	int64_t app_id = 0, version = 0, nobjects = 0;
	int rc;

	rc = catalog__pragma(w, "PRAGMA application_id", &app_id, NULL, 0);
	if (rc == 0)
		rc = catalog__pragma(w, "PRAGMA user_version", &version, NULL, 0);
	if (rc == 0)
		rc = catalog__pragma(w, "SELECT count(*) FROM sqlite_schema", &nobjects, NULL, 0);
	if (rc < 0)
		return rc;
	*fresh = version == 0 && nobjects == 0 && (app_id == 0 || app_id == CATALOG_APPLICATION_ID);
	if (*fresh)
		return 0;
	if (app_id != CATALOG_APPLICATION_ID)
		return catalog__fail(HS_ECORRUPT,
				     "catalog %s: not a historian catalog (SQLite application_id"
				     " 0x%08llx, expected 0x%08x)",
				     w->cat->path, (unsigned long long)(uint32_t)app_id,
				     CATALOG_APPLICATION_ID);
	if (version > CATALOG_SCHEMA_VERSION)
		return catalog__fail(-EPROTONOSUPPORT,
				     "catalog %s: schema version %lld was written by a newer historian;"
				     " this one reads versions up to %d: upgrade historian",
				     w->cat->path, (long long)version, CATALOG_SCHEMA_VERSION);
	if (version < 1)
		return CATALOG__CORRUPT(w->cat, "schema version %lld", (long long)version);
	*version_out = version;
	return 0;
}

/* Bring a catalog of an older version up to CATALOG_SCHEMA_VERSION, one
 * transaction per step (catalog_format.h, MIGRATION). */
static int catalog__migrate(struct catalog_conn *w, int64_t version)
{
	static const char *const steps[] = {
		[2] = "BEGIN IMMEDIATE;" CATALOG_SCHEMA_V2_SQL "PRAGMA user_version = 2; COMMIT;",
		[3] = "BEGIN IMMEDIATE;" CATALOG_SCHEMA_V3_SQL "PRAGMA user_version = 3; COMMIT;",
	};
	_Static_assert(sizeof steps / sizeof steps[0] == CATALOG_SCHEMA_VERSION + 1,
		       "a migration step for every schema version");

	for (int64_t to = version + 1; to <= CATALOG_SCHEMA_VERSION; to++) {
		int src = sqlite3_exec(w->db, steps[to], NULL, NULL, NULL);
		if (src != SQLITE_OK) {
			char what[48];
			int rc;
			snprintf(what, sizeof what, "migrate schema %lld -> %lld", (long long)(to - 1),
				 (long long)to);
			rc = CATALOG__SQLFAIL(w, src, what);
			catalog__rollback(w);
			return rc;
		}
		log_info("catalog", "%s: schema migrated from version %lld to %lld", w->cat->path,
			 (long long)(to - 1), (long long)to);
	}
	return 0;
}

static int catalog__writer_setup(struct catalog_conn *w)
{
	char mode[16];
	int64_t fk = 0;
	int rc;

	if (sqlite3_db_readonly(w->db, "main") != 0)
		return catalog__fail(-EROFS, "catalog %s: cannot be opened for writing", w->cat->path);
	rc = catalog__pragma(w, "PRAGMA journal_mode = WAL", NULL, mode, sizeof mode);
	if (rc == 0 && strcmp(mode, "wal") != 0)
		rc = catalog__fail(-EIO, "catalog %s: cannot switch to WAL mode (journal_mode %s)",
				   w->cat->path, mode);
	if (rc == 0)
		rc = catalog__pragma(w, "PRAGMA synchronous = FULL", NULL, NULL, 0);
	if (rc == 0)
		rc = catalog__pragma(w, "PRAGMA foreign_keys = ON", NULL, NULL, 0);
	if (rc == 0)
		rc = catalog__pragma(w, "PRAGMA foreign_keys", &fk, NULL, 0);
	if (rc == 0 && fk != 1)
		rc = catalog__fail(-ENOTSUP, "catalog %s: this SQLite has no foreign keys",
				   w->cat->path);
	if (rc == 0)
		rc = catalog__pragma(w, "PRAGMA cache_size = -" CATALOG__STR(CATALOG_WRITER_CACHE_KIB),
				     NULL, NULL, 0);
	if (rc == 0)
		rc = catalog__pragma(w, "PRAGMA journal_size_limit = " CATALOG__STR(CATALOG_WAL_LIMIT_BYTES),
				     NULL, NULL, 0);
	return rc;
}

/* fsync the directory holding path, so a new catalog.db's name survives a
 * power loss (SQLite syncs the directory for its -wal file itself). */
static int catalog__sync_dir(const char *path)
{
	char *copy = strdup(path);
	int fd = -1, rc = 0;

	if (copy == NULL)
		return catalog__fail(-ENOMEM, "catalog %s: out of memory", path);
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0)
		rc = catalog__fail(-errno, "catalog %s: fsync of its directory: %s", path,
				   strerror(errno));
	if (fd >= 0)
		close(fd);
	free(copy);
	return rc;
}

static int catalog__create(struct catalog_conn *w)
{
	static const char sql[] =
		"BEGIN IMMEDIATE;" CATALOG_SCHEMA_V1_SQL CATALOG_SCHEMA_V2_SQL CATALOG_SCHEMA_V3_SQL
		"PRAGMA application_id = " CATALOG__STR(CATALOG_APPLICATION_ID) ";"
		"PRAGMA user_version = " CATALOG__STR(CATALOG_SCHEMA_VERSION) ";"
		"COMMIT;";
	int src = sqlite3_exec(w->db, sql, NULL, NULL, NULL);
	int rc = 0;

	if (src != SQLITE_OK) {
		rc = CATALOG__SQLFAIL(w, src, "create schema");
		catalog__rollback(w);
		return rc;
	}
	rc = catalog__sync_dir(w->cat->path);
	if (rc == 0)
		log_info("catalog", "created %s (schema version %d)", w->cat->path,
			 CATALOG_SCHEMA_VERSION);
	return rc;
}

static int catalog__new(const char *path, struct catalog **out)
{
	struct catalog *cat = calloc(1, sizeof *cat);
	int rc = 0;

	if (cat == NULL || (cat->path = strdup(path)) == NULL) {
		rc = catalog__fail(-ENOMEM, "catalog %s: out of memory", path);
		goto out;
	}
	if ((rc = pthread_mutex_init(&cat->write_lock, NULL)) != 0 ||
	    (rc = pthread_mutex_init(&cat->pool_lock, NULL)) != 0 ||
	    (rc = pthread_cond_init(&cat->pool_cond, NULL)) != 0) {
		/* glibc never fails these without attributes; treat it as fatal to open */
		rc = catalog__fail(-rc, "catalog %s: mutex init: %s", path, strerror(rc));
		goto out;
	}
out:
	if (rc < 0 && cat) {
		free(cat->path);
		free(cat);
		cat = NULL;
	}
	*out = cat;
	return rc;
}

int catalog_open(const char *path, struct catalog **out, char *err)
{
	struct catalog *cat = NULL;
	struct catalog_conn *r = NULL;
	bool fresh = false;
	int64_t version = 0;
	int rc;

	catalog_errbuf[0] = '\0';
	if (path == NULL || path[0] == '\0') {
		rc = catalog__fail(-EINVAL, "catalog: empty path");
		goto out;
	}
	if (!sqlite3_threadsafe()) {
		rc = catalog__fail(-ENOTSUP, "catalog: SQLite was built without thread support");
		goto out;
	}
	rc = catalog__new(path, &cat);
	if (rc == 0)
		rc = catalog__conn_new(cat, true, &cat->writer);
	if (rc == 0)
		rc = catalog__identify(cat->writer, &fresh, &version);
	if (rc == 0)
		rc = catalog__writer_setup(cat->writer);
	if (rc == 0 && fresh)
		rc = catalog__create(cat->writer);
	else if (rc == 0)
		rc = catalog__migrate(cat->writer, version);
	if (rc == 0)
		rc = catalog__prepare_all(cat->writer, 0, CS_WRITER_END);
	/* Open one reader now, so a schema that does not match is refused at
	 * open rather than at the first query. */
	if (rc == 0)
		rc = catalog__reader_acquire(cat, &r);
	if (rc == 0)
		catalog__reader_release(cat, r);
out:
	if (rc < 0) {
		if (err)
			snprintf(err, CATALOG_ERROR_MAX, "%s", catalog_errbuf);
		catalog_close(cat);
		cat = NULL;
	}
	*out = cat;
	return rc;
}

void catalog_close(struct catalog *cat)
{
	if (cat == NULL)
		return;
	/* Readers first: the last connection to close checkpoints and removes
	 * the -wal file, which only the writer may do. */
	for (size_t i = 0; i < CATALOG_READERS_MAX; i++)
		catalog__conn_close(cat->readers[i]);
	catalog__conn_close(cat->writer);
	pthread_cond_destroy(&cat->pool_cond);
	pthread_mutex_destroy(&cat->pool_lock);
	pthread_mutex_destroy(&cat->write_lock);
	free(cat->path);
	free(cat);
}

/* ---- stats and verify ------------------------------------------------------------- */

static uint64_t catalog__file_bytes(const char *path, const char *suffix)
{
	char name[4096];
	struct stat st;

	if ((size_t)snprintf(name, sizeof name, "%s%s", path, suffix) >= sizeof name)
		return 0;
	return stat(name, &st) == 0 ? (uint64_t)st.st_size : 0;
}

int catalog_stats(struct catalog *cat, struct catalog_stats *out)
{
	struct catalog_conn *c = NULL;
	sqlite3_stmt *s;
	int rc;

	memset(out, 0, sizeof *out);
	rc = catalog__reader_acquire(cat, &c);
	if (rc < 0)
		return rc;
	s = c->stmt[CS_STATS];
	rc = catalog__step(c, s, "read stats");
	if (rc == 0)
		rc = CATALOG__CORRUPT(cat, "stats returned no row");
	if (rc < 0)
		goto out;
	out->tags = (uint64_t)sqlite3_column_int64(s, 0);
	out->chunks = (uint64_t)sqlite3_column_int64(s, 1);
	out->files = (uint64_t)sqlite3_column_int64(s, 2);
	out->partitions = (uint64_t)sqlite3_column_int64(s, 3);
	out->db_bytes = catalog__file_bytes(cat->path, "") + catalog__file_bytes(cat->path, "-wal");
	rc = 0;
out:
	catalog__reset(s);
	catalog__reader_release(cat, c);
	return rc;
}

/* Run one check statement; a row in which ok(row) is false is corruption. */
static int catalog__verify_step(struct catalog_conn *c, enum catalog__stmt_id id)
{
	sqlite3_stmt *s = c->stmt[id];
	int rc;

	while ((rc = catalog__step(c, s, "verify")) == 1) {
		const char *a = (const char *)sqlite3_column_text(s, 0);
		if (id == CS_QUICK_CHECK && a && strcmp(a, "ok") == 0)
			continue;
		if (id == CS_FK_CHECK) {
			rc = CATALOG__CORRUPT(c->cat, "table %s row %lld names a missing %s row",
					      a ? a : "?", (long long)sqlite3_column_int64(s, 1),
					      (const char *)sqlite3_column_text(s, 2));
			break;
		}
		if (id == CS_COUNTERS_CHECK) {
			int64_t have = sqlite3_column_int64(s, 1), want = sqlite3_column_int64(s, 2);
			bool next = a && strcmp(a, CATALOG_DB_COUNTER_NEXT_CHUNK_ID) == 0;
			if (next ? have >= want : have == want)
				continue;
			rc = CATALOG__CORRUPT(c->cat, "counter %s is %lld, tables say %lld",
					      a ? a : "?", (long long)have, (long long)want);
			break;
		}
		rc = CATALOG__CORRUPT(c->cat, "quick_check: %s", a ? a : "?");
		break;
	}
	catalog__reset(s);
	return rc;
}

int catalog_verify(struct catalog *cat)
{
	struct catalog_conn *c = NULL;
	int rc;

	rc = catalog__reader_acquire(cat, &c);
	if (rc < 0)
		return rc;
	rc = catalog__verify_step(c, CS_QUICK_CHECK);
	if (rc == 0)
		rc = catalog__verify_step(c, CS_FK_CHECK);
	if (rc == 0)
		rc = catalog__verify_step(c, CS_COUNTERS_CHECK);
	catalog__reader_release(cat, c);
	return rc;
}

/* ---- state ------------------------------------------------------------------------- */

int catalog__state_put(struct catalog_conn *w, const char *key, uint64_t value)
{
	sqlite3_stmt *s = w->stmt[CS_STATE_SET];
	struct catalog__bind b = catalog__bind_start(s);

	catalog__bind_text(&b, key, strlen(key));
	catalog__bind_i64(&b, (int64_t)value); /* bit pattern: see catalog_format.h */
	if (b.src != SQLITE_OK)
		return CATALOG__SQLFAIL(w, b.src, "bind state");
	return catalog__run(w, s, "set state");
}

int catalog_state_set(struct catalog *cat, const char *key, uint64_t value)
{
	struct catalog_conn *w = NULL;
	int rc;

	rc = catalog__check_text(key, key ? strlen(key) : 0, CATALOG_STATE_KEY_MAX, "state key");
	if (rc < 0)
		return rc;
	rc = catalog__write_begin(cat, &w);
	if (rc < 0)
		return rc;
	rc = catalog__state_put(w, key, value);
	return catalog__write_end(cat, rc);
}

int catalog_state_get(struct catalog *cat, const char *key, uint64_t *value, bool *found)
{
	struct catalog_conn *c = NULL;
	sqlite3_stmt *s = NULL;
	struct catalog__bind b;
	int rc;

	*value = 0;
	*found = false;
	rc = catalog__check_text(key, key ? strlen(key) : 0, CATALOG_STATE_KEY_MAX, "state key");
	if (rc < 0)
		return rc;
	rc = catalog__reader_acquire(cat, &c);
	if (rc < 0)
		return rc;
	s = c->stmt[CS_STATE_GET];
	b = catalog__bind_start(s);
	catalog__bind_text(&b, key, strlen(key));
	if (b.src != SQLITE_OK) {
		rc = CATALOG__SQLFAIL(c, b.src, "bind state");
		goto out;
	}
	rc = catalog__step(c, s, "read state");
	if (rc == 1) {
		*value = (uint64_t)sqlite3_column_int64(s, 0);
		*found = true;
		rc = 0;
	}
out:
	catalog__reset(s);
	catalog__reader_release(cat, c);
	return rc;
}

/* ---- retention policies ---------------------------------------------------------- */

int catalog_retention_set(struct catalog *cat, const char *pattern, int64_t keep_ns)
{
	struct catalog_conn *w = NULL;
	struct catalog__bind b;
	size_t len = pattern ? strlen(pattern) : 0;
	int rc;

	rc = catalog__check_text(pattern, len, CATALOG_NAME_MAX, "retention pattern");
	if (rc == 0 && keep_ns <= 0)
		rc = catalog__fail(-EINVAL, "retention keep_ns %lld is not positive",
				   (long long)keep_ns);
	if (rc < 0)
		return rc;
	rc = catalog__write_begin(cat, &w);
	if (rc < 0)
		return rc;
	b = catalog__bind_start(w->stmt[CS_RET_SET]);
	catalog__bind_text(&b, pattern, len);
	catalog__bind_i64(&b, keep_ns);
	rc = b.src != SQLITE_OK ? CATALOG__SQLFAIL(w, b.src, "bind retention")
				: catalog__run(w, w->stmt[CS_RET_SET], "set retention");
	return catalog__write_end(cat, rc);
}

int catalog_retention_delete(struct catalog *cat, const char *pattern)
{
	struct catalog_conn *w = NULL;
	struct catalog__bind b;
	size_t len = pattern ? strlen(pattern) : 0;
	int rc;

	rc = catalog__check_text(pattern, len, CATALOG_NAME_MAX, "retention pattern");
	if (rc < 0)
		return rc;
	rc = catalog__write_begin(cat, &w);
	if (rc < 0)
		return rc;
	b = catalog__bind_start(w->stmt[CS_RET_DELETE]);
	catalog__bind_text(&b, pattern, len);
	rc = b.src != SQLITE_OK ? CATALOG__SQLFAIL(w, b.src, "bind retention")
				: catalog__run(w, w->stmt[CS_RET_DELETE], "delete retention");
	if (rc == 0 && sqlite3_changes(w->db) == 0)
		rc = catalog__fail(-ENOENT, "no retention policy for pattern '%s'", pattern);
	return catalog__write_end(cat, rc);
}

int catalog_retention_list(struct catalog *cat, catalog_retention_fn fn, void *arg)
{
	struct catalog_conn *c = NULL;
	sqlite3_stmt *s;
	int rc;

	rc = catalog__reader_acquire(cat, &c);
	if (rc < 0)
		return rc;
	s = c->stmt[CS_RET_LIST];
	while ((rc = catalog__step(c, s, "list retention")) == 1) {
		const char *pattern = (const char *)sqlite3_column_text(s, 0);
		if (pattern == NULL) {
			rc = CATALOG__CORRUPT(cat, "retention pattern is NULL");
			break;
		}
		rc = fn(arg, pattern, sqlite3_column_int64(s, 1));
		if (rc != 0)
			break;
	}
	catalog__reset(s);
	catalog__reader_release(cat, c);
	return rc;
}

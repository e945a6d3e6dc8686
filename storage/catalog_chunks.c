/* catalog_chunks.c: chunk files, partitions and the chunk index in the catalog: seal commits, compaction, ranges, retention.
 * Writes run on the writer connection under its mutex, reads on pooled readers (see catalog.c).
 *
 * Invariants kept here: chunk rows and the seal's state rows commit in one
 * transaction; a chunk row names an existing tag and file (foreign keys) and
 * no two rows share a file offset; tags.max_span_ns is at least t_max - t_min
 * of every chunk the tag ever had, which is what lets a range read one short
 * index range; the counters row moves with every insert and delete.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hs_error.h"
#include "storage/catalog_format.h"
#include "storage/catalog_int.h"

/* ---- partitions and files -------------------------------------------------- */

/* Inside the writer's transaction: make sure [start, end) is a partition. */
static int catalog__partition_ensure(struct catalog_conn *w, int64_t start, int64_t end)
{
	sqlite3_stmt *s = w->stmt[CS_PART_GET];
	struct catalog__bind b = catalog__bind_start(s);
	int rc;

	catalog__bind_i64(&b, start);
	rc = b.src != SQLITE_OK ? CATALOG__SQLFAIL(w, b.src, "bind partition")
				: catalog__step(w, s, "read partition");
	if (rc == 1 && sqlite3_column_int64(s, 0) != end)
		rc = catalog__fail(-EINVAL, "partition %lld ends at %lld, not %lld", (long long)start,
				   (long long)sqlite3_column_int64(s, 0), (long long)end);
	catalog__reset(s);
	if (rc != 0)
		return rc < 0 ? rc : 0;

	s = w->stmt[CS_PART_OVERLAP];
	b = catalog__bind_start(s);
	catalog__bind_i64(&b, start);
	catalog__bind_i64(&b, end);
	rc = b.src != SQLITE_OK ? CATALOG__SQLFAIL(w, b.src, "bind partition")
				: catalog__step(w, s, "check partition overlap");
	if (rc == 1)
		rc = catalog__fail(-EINVAL, "partition [%lld, %lld) overlaps [%lld, %lld)",
				   (long long)start, (long long)end,
				   (long long)sqlite3_column_int64(s, 0),
				   (long long)sqlite3_column_int64(s, 1));
	catalog__reset(s);
	if (rc < 0)
		return rc;

	s = w->stmt[CS_PART_INSERT];
	b = catalog__bind_start(s);
	catalog__bind_i64(&b, start);
	catalog__bind_i64(&b, end);
	return b.src != SQLITE_OK ? CATALOG__SQLFAIL(w, b.src, "bind partition")
				  : catalog__run(w, s, "insert partition");
}

int catalog_file_add(struct catalog *cat, int64_t partition_start_ns, int64_t partition_end_ns,
		     const char *relpath, uint64_t *file_id)
{
	size_t len = relpath ? strlen(relpath) : 0;
	struct catalog_conn *w = NULL;
	struct catalog__bind b;
	int rc;

	*file_id = 0;
	rc = catalog__check_text(relpath, len, CATALOG_NAME_MAX, "file path");
	if (rc == 0 && partition_start_ns >= partition_end_ns)
		rc = catalog__fail(-EINVAL, "partition [%lld, %lld) is empty",
				   (long long)partition_start_ns, (long long)partition_end_ns);
	if (rc < 0)
		return rc;
	rc = catalog__write_begin(cat, &w);
	if (rc < 0)
		return rc;
	rc = catalog__partition_ensure(w, partition_start_ns, partition_end_ns);
	if (rc < 0)
		goto out;
	b = catalog__bind_start(w->stmt[CS_FILE_INSERT]);
	catalog__bind_i64(&b, partition_start_ns);
	catalog__bind_text(&b, relpath, len);
	rc = b.src != SQLITE_OK ? CATALOG__SQLFAIL(w, b.src, "bind file")
				: catalog__run(w, w->stmt[CS_FILE_INSERT], "insert file");
	if (rc == -EINVAL && sqlite3_extended_errcode(w->db) == SQLITE_CONSTRAINT_UNIQUE)
		rc = catalog__fail(-EEXIST, "chunk file %s is already in the catalog", relpath);
	if (rc < 0)
		goto out;
	*file_id = (uint64_t)sqlite3_last_insert_rowid(w->db);
	rc = catalog__counter_add(w, CATALOG_DB_COUNTER_FILES, 1);
out:
	rc = catalog__write_end(cat, rc);
	if (rc < 0)
		*file_id = 0;
	return rc;
}

/* One UPDATE of file id's row in its own transaction: statement stmt with
 * ?1 the id and, when value is given, ?2 that value. -ENOENT for no row. */
static int file_update(struct catalog *cat, int stmt, uint64_t file_id, const int64_t *value,
		       const char *what)
{
	struct catalog_conn *w = NULL;
	struct catalog__bind b;
	int rc = catalog__write_begin(cat, &w);

	if (rc < 0)
		return rc;
	b = catalog__bind_start(w->stmt[stmt]);
	catalog__bind_i64(&b, (int64_t)file_id);
	if (value)
		catalog__bind_i64(&b, *value);
	rc = b.src != SQLITE_OK ? CATALOG__SQLFAIL(w, b.src, "bind file")
				: catalog__run(w, w->stmt[stmt], what);
	if (rc == 0 && sqlite3_changes(w->db) == 0)
		rc = catalog__fail(-ENOENT, "no chunk file with id %llu", (unsigned long long)file_id);
	return catalog__write_end(cat, rc);
}

int catalog_file_set_bytes(struct catalog *cat, uint64_t file_id, uint64_t bytes)
{
	int64_t v = (int64_t)bytes;

	if (bytes > INT64_MAX)
		return catalog__fail(-EINVAL, "file size %llu too large", (unsigned long long)bytes);
	return file_update(cat, CS_FILE_SET_BYTES, file_id, &v, "set file size");
}

int catalog_file_set_compacted(struct catalog *cat, uint64_t file_id)
{
	return file_update(cat, CS_FILE_SET_COMPACTED, file_id, NULL, "mark file compacted");
}

/* Inside the writer's transaction: delete file id's row; *start gets its
 * partition. */
static int catalog__file_delete(struct catalog_conn *w, uint64_t id, int64_t *start)
{
	sqlite3_stmt *s = w->stmt[CS_FILE_DELETE];
	struct catalog__bind b = catalog__bind_start(s);
	int rc;

	catalog__bind_i64(&b, (int64_t)id);
	rc = b.src != SQLITE_OK ? CATALOG__SQLFAIL(w, b.src, "bind file")
				: catalog__step(w, s, "delete file");
	if (rc == -EINVAL && sqlite3_extended_errcode(w->db) == SQLITE_CONSTRAINT_FOREIGNKEY)
		rc = catalog__fail(-ENOTEMPTY, "chunk file %llu still holds chunks",
				   (unsigned long long)id);
	else if (rc == 0)
		rc = catalog__fail(-ENOENT, "no chunk file with id %llu", (unsigned long long)id);
	if (rc == 1) {
		*start = sqlite3_column_int64(s, 0);
		rc = catalog__step(w, s, "delete file"); /* to SQLITE_DONE */
		if (rc == 1)
			rc = CATALOG__CORRUPT(w->cat, "two files with id %llu", (unsigned long long)id);
	}
	catalog__reset(s);
	return rc;
}

int catalog_file_remove(struct catalog *cat, uint64_t file_id)
{
	struct catalog_conn *w = NULL;
	struct catalog__bind b;
	int64_t start = 0;
	int rc;

	rc = catalog__write_begin(cat, &w);
	if (rc < 0)
		return rc;
	rc = catalog__file_delete(w, file_id, &start);
	if (rc < 0)
		goto out;
	b = catalog__bind_start(w->stmt[CS_PART_DELETE_IF_EMPTY]);
	catalog__bind_i64(&b, start);
	rc = b.src != SQLITE_OK ? CATALOG__SQLFAIL(w, b.src, "bind partition")
				: catalog__run(w, w->stmt[CS_PART_DELETE_IF_EMPTY], "drop empty partition");
	if (rc == 0)
		rc = catalog__counter_add(w, CATALOG_DB_COUNTER_FILES, -1);
out:
	return catalog__write_end(cat, rc);
}

/* Fill *f from an (id, relpath, bytes) row. */
static int catalog__file_row(struct catalog_conn *c, sqlite3_stmt *s, int64_t start,
			     struct catalog_file *f)
{
	f->id = (uint64_t)sqlite3_column_int64(s, 0);
	f->partition_start_ns = start;
	f->relpath = (const char *)sqlite3_column_text(s, 1);
	f->bytes = (uint64_t)sqlite3_column_int64(s, 2);
	if (f->relpath == NULL)
		return CATALOG__CORRUPT(c->cat, "file %llu has no path", (unsigned long long)f->id);
	return 0;
}

int catalog_files_list(struct catalog *cat, int64_t partition_start_ns, catalog_file_fn fn,
		       void *arg)
{
	struct catalog_conn *c = NULL;
	struct catalog__bind b;
	struct catalog_file f;
	sqlite3_stmt *s;
	int rc;

	rc = catalog__reader_acquire(cat, &c);
	if (rc < 0)
		return rc;
	s = c->stmt[CS_FILES_OF_PART];
	b = catalog__bind_start(s);
	catalog__bind_i64(&b, partition_start_ns);
	if (b.src != SQLITE_OK) {
		rc = CATALOG__SQLFAIL(c, b.src, "bind partition");
		goto out;
	}
	while ((rc = catalog__step(c, s, "list files")) == 1) {
		rc = catalog__file_row(c, s, partition_start_ns, &f);
		if (rc == 0)
			rc = fn(arg, &f);
		if (rc != 0)
			break;
	}
out:
	catalog__reset(s);
	catalog__reader_release(cat, c);
	return rc;
}

int catalog_partitions_list(struct catalog *cat, catalog_partition_fn fn, void *arg)
{
	struct catalog_conn *c = NULL;
	struct catalog_partition p;
	sqlite3_stmt *s;
	int rc;

	rc = catalog__reader_acquire(cat, &c);
	if (rc < 0)
		return rc;
	s = c->stmt[CS_PARTS];
	while ((rc = catalog__step(c, s, "list partitions")) == 1) {
		p.start_ns = sqlite3_column_int64(s, 0);
		p.end_ns = sqlite3_column_int64(s, 1);
		p.files = (uint64_t)sqlite3_column_int64(s, 2);
		p.bytes = (uint64_t)sqlite3_column_int64(s, 3);
		p.compacted_files = (uint64_t)sqlite3_column_int64(s, 4);
		rc = fn(arg, &p);
		if (rc != 0)
			break;
	}
	catalog__reset(s);
	catalog__reader_release(cat, c);
	return rc;
}

/* ---- dropping a partition ----------------------------------------------------- */

/* The files a drop removes, copied out of SQLite so they outlive the
 * transaction and can be handed to the caller after the commit. */
struct catalog__file_list {
	struct catalog_file *v;
	size_t n, cap;
};

static void catalog__file_list_free(struct catalog__file_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free((char *)l->v[i].relpath);
	free(l->v);
}

static int catalog__file_list_add(struct catalog__file_list *l, const struct catalog_file *f)
{
	char *path;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		struct catalog_file *v = realloc(l->v, cap * sizeof *v);
		if (v == NULL)
			return catalog__fail(-ENOMEM, "catalog: out of memory");
		l->v = v;
		l->cap = cap;
	}
	path = strdup(f->relpath);
	if (path == NULL)
		return catalog__fail(-ENOMEM, "catalog: out of memory");
	l->v[l->n] = *f;
	l->v[l->n++].relpath = path;
	return 0;
}

static int catalog__collect_files(struct catalog_conn *w, int64_t start,
				  struct catalog__file_list *l)
{
	sqlite3_stmt *s = w->stmt[CS_PART_FILES];
	struct catalog__bind b = catalog__bind_start(s);
	struct catalog_file f;
	int rc;

	catalog__bind_i64(&b, start);
	if (b.src != SQLITE_OK) {
		rc = CATALOG__SQLFAIL(w, b.src, "bind partition");
		goto out;
	}
	while ((rc = catalog__step(w, s, "list files")) == 1) {
		rc = catalog__file_row(w, s, start, &f);
		if (rc == 0)
			rc = catalog__file_list_add(l, &f);
		if (rc < 0)
			break;
	}
out:
	catalog__reset(s);
	return rc;
}

/* Run one of the CS_PART_DELETE* statements; *changed gets the rows. */
static int catalog__part_delete(struct catalog_conn *w, enum catalog__stmt_id id, int64_t start,
				int64_t *changed)
{
	struct catalog__bind b = catalog__bind_start(w->stmt[id]);
	int rc;

	catalog__bind_i64(&b, start);
	rc = b.src != SQLITE_OK ? CATALOG__SQLFAIL(w, b.src, "bind partition")
				: catalog__run(w, w->stmt[id], "drop partition");
	*changed = rc == 0 ? sqlite3_changes64(w->db) : 0;
	return rc;
}

static int catalog__drop_rows(struct catalog_conn *w, int64_t start, int64_t *nchunks)
{
	int64_t nfiles = 0, nparts = 0;
	int rc;

	rc = catalog__part_delete(w, CS_PART_DELETE_CHUNKS, start, nchunks);
	if (rc == 0)
		rc = catalog__part_delete(w, CS_PART_DELETE_FILES, start, &nfiles);
	if (rc == 0)
		rc = catalog__part_delete(w, CS_PART_DELETE, start, &nparts);
	if (rc == 0 && nparts == 0)
		rc = catalog__fail(-ENOENT, "no partition starts at %lld", (long long)start);
	if (rc == 0)
		rc = catalog__counter_add(w, CATALOG_DB_COUNTER_CHUNKS, -*nchunks);
	if (rc == 0)
		rc = catalog__counter_add(w, CATALOG_DB_COUNTER_FILES, -nfiles);
	return rc;
}

int catalog_partition_drop(struct catalog *cat, int64_t partition_start_ns, catalog_file_fn fn,
			   void *arg, uint64_t *chunks_out)
{
	struct catalog__file_list files = {NULL, 0, 0};
	struct catalog_conn *w = NULL;
	int64_t nchunks = 0;
	int rc;

	rc = catalog__write_begin(cat, &w);
	if (rc < 0)
		goto out;
	rc = catalog__collect_files(w, partition_start_ns, &files);
	if (rc == 0)
		rc = catalog__drop_rows(w, partition_start_ns, &nchunks);
	rc = catalog__write_end(cat, rc);
	if (rc < 0)
		goto out;
	/* Committed: the rows are gone, now the files may go. */
	for (size_t i = 0; i < files.n && fn; i++) {
		if (fn(arg, &files.v[i]) != 0)
			break;
	}
out:
	if (chunks_out)
		*chunks_out = rc == 0 ? (uint64_t)nchunks : 0;
	catalog__file_list_free(&files);
	return rc;
}

/* ---- inserting and deleting chunk rows ---------------------------------------- */

static int catalog__check_chunk(const struct catalog_chunk *c, size_t i)
{
	const char *bad = NULL;

	if (c->tag_id == 0)
		bad = "tag_id is 0";
	else if (c->file_id == 0 || c->file_id > INT64_MAX)
		bad = "file_id out of range";
	else if (c->offset > (uint64_t)INT64_MAX - c->length)
		bad = "offset out of range";
	else if (c->length == 0)
		bad = "length is 0";
	else if (c->t_min > c->t_max)
		bad = "t_min > t_max";
	else if (c->count == 0)
		bad = "count is 0";
	else if (c->good_count > c->count)
		bad = "good_count > count";
	else if (c->seq > INT64_MAX)
		bad = "seq >= 2^63";
	else if (c->first_ts < c->t_min || c->last_ts > c->t_max || c->first_ts > c->last_ts)
		bad = "first_ts/last_ts outside [t_min, t_max]";
	if (bad)
		return catalog__fail(-EINVAL, "chunk %zu (tag %u): %s", i, c->tag_id, bad);
	return 0;
}

static int catalog__check_chunks(const struct catalog_chunk *chunks, size_t n)
{
	int rc = 0;

	if (n > 0 && chunks == NULL)
		return catalog__fail(-EINVAL, "chunks missing");
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = catalog__check_chunk(&chunks[i], i);
	return rc;
}

static void catalog__bind_chunk(struct catalog__bind *b, const struct catalog_chunk *c)
{
	catalog__bind_i64(b, c->tag_id);
	catalog__bind_i64(b, c->t_min);
	catalog__bind_i64(b, (int64_t)c->seq);
	catalog__bind_i64(b, (int64_t)c->id);
	catalog__bind_i64(b, c->t_max);
	catalog__bind_i64(b, (int64_t)c->file_id);
	catalog__bind_i64(b, (int64_t)c->offset);
	catalog__bind_i64(b, c->length);
	catalog__bind_i64(b, c->crc);
	catalog__bind_i64(b, c->count);
	catalog__bind_i64(b, c->flags);
	catalog__bind_f64(b, c->min);
	catalog__bind_f64(b, c->max);
	catalog__bind_f64(b, c->sum);
	catalog__bind_i64(b, c->first_ts);
	catalog__bind_i64(b, c->last_ts);
	catalog__bind_f64(b, c->first_v);
	catalog__bind_f64(b, c->last_v);
	catalog__bind_f64(b, c->integral);
	catalog__bind_i64(b, c->good_count);
	if (!c->has_ext) { /* a row without the v2 statistics reads back without them */
		for (int i = 0; i < 7; i++)
			catalog__bind_null(b);
		return;
	}
	catalog__bind_i64(b, c->min_ts);
	catalog__bind_i64(b, c->max_ts);
	catalog__bind_i64(b, c->first_q);
	catalog__bind_i64(b, c->last_q);
	catalog__bind_f64(b, c->m2);
	catalog__bind_f64(b, c->integral_step);
	catalog__bind_i64(b, c->max_gap_ns);
}

/* Widen the tag's max_span_ns and the file's bytes to cover chunk c. */
static int catalog__chunk_cover(struct catalog_conn *w, const struct catalog_chunk *c)
{
	uint64_t span = (uint64_t)c->t_max - (uint64_t)c->t_min; /* no signed overflow */
	struct catalog__bind b;
	int rc;

	b = catalog__bind_start(w->stmt[CS_TAG_SPAN]);
	catalog__bind_i64(&b, c->tag_id);
	catalog__bind_i64(&b, span > INT64_MAX ? INT64_MAX : (int64_t)span);
	rc = b.src != SQLITE_OK ? CATALOG__SQLFAIL(w, b.src, "bind span")
				: catalog__run(w, w->stmt[CS_TAG_SPAN], "widen tag span");
	if (rc < 0)
		return rc;
	b = catalog__bind_start(w->stmt[CS_FILE_EXTEND]);
	catalog__bind_i64(&b, (int64_t)c->file_id);
	catalog__bind_i64(&b, (int64_t)(c->offset + c->length)); /* checked <= INT64_MAX */
	return b.src != SQLITE_OK ? CATALOG__SQLFAIL(w, b.src, "bind file size")
				  : catalog__run(w, w->stmt[CS_FILE_EXTEND], "extend file size");
}

/* Inside the writer's transaction: give chunks[0..n) ids and insert them. */
static int catalog__chunks_insert(struct catalog_conn *w, struct catalog_chunk *chunks, size_t n)
{
	sqlite3_stmt *s = w->stmt[CS_CHUNK_INSERT];
	int64_t next = 0;
	int rc;

	rc = catalog__counter_get(w, CATALOG_DB_COUNTER_NEXT_CHUNK_ID, &next);
	if (rc == 0 && (next < 1 || next > INT64_MAX - (int64_t)n))
		rc = CATALOG__CORRUPT(w->cat, "next chunk id %lld", (long long)next);
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct catalog__bind b = catalog__bind_start(s);
		chunks[i].id = (uint64_t)(next + (int64_t)i);
		catalog__bind_chunk(&b, &chunks[i]);
		rc = b.src != SQLITE_OK ? CATALOG__SQLFAIL(w, b.src, "bind chunk")
					: catalog__run(w, s, "insert chunk");
		if (rc == 0)
			rc = catalog__chunk_cover(w, &chunks[i]);
		if (rc < 0) {
			char detail[CATALOG_ERROR_MAX];
			snprintf(detail, sizeof detail, "%s", catalog_errmsg());
			rc = catalog__fail(rc, "chunk %zu (tag %u, file %llu, offset %llu): %s", i,
					   chunks[i].tag_id, (unsigned long long)chunks[i].file_id,
					   (unsigned long long)chunks[i].offset, detail);
		}
	}
	if (rc == 0)
		rc = catalog__counter_add(w, CATALOG_DB_COUNTER_NEXT_CHUNK_ID, (int64_t)n);
	if (rc == 0)
		rc = catalog__counter_add(w, CATALOG_DB_COUNTER_CHUNKS, (int64_t)n);
	return rc;
}

static int catalog__check_state(const struct catalog_state_kv *state, size_t n)
{
	int rc = 0;

	if (n > 0 && state == NULL)
		return catalog__fail(-EINVAL, "state rows missing");
	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *k = state[i].key;
		rc = catalog__check_text(k, k ? strlen(k) : 0, CATALOG_STATE_KEY_MAX, "state key");
	}
	return rc;
}

int catalog_commit_seal(struct catalog *cat, struct catalog_chunk *chunks, size_t n,
			const struct catalog_state_kv *state, size_t nstate)
{
	struct catalog_conn *w = NULL;
	int rc;

	rc = catalog__check_chunks(chunks, n);
	if (rc == 0)
		rc = catalog__check_state(state, nstate);
	if (rc == 0)
		rc = catalog__write_begin(cat, &w);
	if (rc < 0)
		goto out;
	rc = catalog__chunks_insert(w, chunks, n);
	for (size_t i = 0; i < nstate && rc == 0; i++)
		rc = catalog__state_put(w, state[i].key, state[i].value);
	rc = catalog__write_end(cat, rc);
out:
	for (size_t i = 0; i < n && rc < 0; i++)
		chunks[i].id = 0;
	return rc;
}

static int catalog__chunks_delete(struct catalog_conn *w, const uint64_t *ids, size_t n)
{
	sqlite3_stmt *s = w->stmt[CS_CHUNK_DELETE];
	int rc = 0;

	if (n > 0 && ids == NULL)
		return catalog__fail(-EINVAL, "chunk ids missing");
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct catalog__bind b = catalog__bind_start(s);
		if (ids[i] == 0 || ids[i] > INT64_MAX)
			return catalog__fail(-ENOENT, "no chunk with id %llu",
					     (unsigned long long)ids[i]);
		catalog__bind_i64(&b, (int64_t)ids[i]);
		rc = b.src != SQLITE_OK ? CATALOG__SQLFAIL(w, b.src, "bind chunk id")
					: catalog__run(w, s, "delete chunk");
		if (rc == 0 && sqlite3_changes(w->db) != 1)
			rc = catalog__fail(-ENOENT, "no chunk with id %llu",
					   (unsigned long long)ids[i]);
	}
	if (rc == 0)
		rc = catalog__counter_add(w, CATALOG_DB_COUNTER_CHUNKS, -(int64_t)n);
	return rc;
}

int catalog_replace_chunks(struct catalog *cat, const uint64_t *old_ids, size_t n_old,
			   struct catalog_chunk *new_chunks, size_t n_new)
{
	struct catalog_conn *w = NULL;
	int rc;

	rc = catalog__check_chunks(new_chunks, n_new);
	if (rc == 0)
		rc = catalog__write_begin(cat, &w);
	if (rc < 0)
		goto out;
	rc = catalog__chunks_delete(w, old_ids, n_old);
	if (rc == 0)
		rc = catalog__chunks_insert(w, new_chunks, n_new);
	rc = catalog__write_end(cat, rc);
out:
	for (size_t i = 0; i < n_new && rc < 0; i++)
		new_chunks[i].id = 0;
	return rc;
}

int catalog_chunks_expire(struct catalog *cat, uint32_t tag_id, int64_t before_ns,
			  uint64_t *deleted)
{
	struct catalog_conn *w = NULL;
	struct catalog__bind b;
	int64_t n = 0;
	int rc;

	rc = catalog__write_begin(cat, &w);
	if (rc < 0)
		goto out;
	b = catalog__bind_start(w->stmt[CS_CHUNKS_EXPIRE]);
	catalog__bind_i64(&b, tag_id);
	catalog__bind_i64(&b, before_ns);
	rc = b.src != SQLITE_OK ? CATALOG__SQLFAIL(w, b.src, "bind expiry")
				: catalog__run(w, w->stmt[CS_CHUNKS_EXPIRE], "expire chunks");
	if (rc == 0) {
		n = sqlite3_changes64(w->db);
		rc = catalog__counter_add(w, CATALOG_DB_COUNTER_CHUNKS, -n);
	}
	rc = catalog__write_end(cat, rc);
out:
	if (deleted)
		*deleted = rc == 0 ? (uint64_t)n : 0;
	return rc;
}

/* ---- reading chunk rows ---------------------------------------------------------- */

int catalog__chunk_row(struct catalog_conn *c, sqlite3_stmt *s, struct catalog_chunk *o)
{
	int64_t id = sqlite3_column_int64(s, 0), tag = sqlite3_column_int64(s, 1);
	int64_t file = sqlite3_column_int64(s, 2), off = sqlite3_column_int64(s, 3);
	int64_t len = sqlite3_column_int64(s, 4), crc = sqlite3_column_int64(s, 5);
	int64_t count = sqlite3_column_int64(s, 8), seq = sqlite3_column_int64(s, 9);
	int64_t flags = sqlite3_column_int64(s, 10), good = sqlite3_column_int64(s, 19);

	if (id < 1 || tag < 1 || tag > UINT32_MAX || file < 1 || off < 0 || len < 1 ||
	    len > UINT32_MAX || crc < 0 || crc > UINT32_MAX || count < 1 || count > UINT32_MAX ||
	    seq < 0 || flags < 0 || flags > UINT32_MAX || good < 0 || good > count)
		return CATALOG__CORRUPT(c->cat, "chunk row %lld has a field out of range",
					(long long)id);
	o->id = (uint64_t)id;
	o->tag_id = (uint32_t)tag;
	o->file_id = (uint64_t)file;
	o->offset = (uint64_t)off;
	o->length = (uint32_t)len;
	o->crc = (uint32_t)crc;
	o->t_min = sqlite3_column_int64(s, 6);
	o->t_max = sqlite3_column_int64(s, 7);
	o->count = (uint32_t)count;
	o->seq = (uint64_t)seq;
	o->flags = (uint32_t)flags;
	o->min = catalog__column_f64(s, 11);
	o->max = catalog__column_f64(s, 12);
	o->sum = catalog__column_f64(s, 13);
	o->first_ts = sqlite3_column_int64(s, 14);
	o->last_ts = sqlite3_column_int64(s, 15);
	o->first_v = catalog__column_f64(s, 16);
	o->last_v = catalog__column_f64(s, 17);
	o->integral = catalog__column_f64(s, 18);
	o->good_count = (uint32_t)good;
	o->has_ext = sqlite3_column_type(s, 20) != SQLITE_NULL;
	if (o->has_ext) {
		int64_t fq = sqlite3_column_int64(s, 22), lq = sqlite3_column_int64(s, 23);
		if (fq < 0 || fq > 65535 || lq < 0 || lq > 65535)
			return CATALOG__CORRUPT(c->cat, "chunk row %lld has a quality out of range",
						(long long)id);
		o->min_ts = sqlite3_column_int64(s, 20);
		o->max_ts = sqlite3_column_int64(s, 21);
		o->first_q = (quality_t)fq;
		o->last_q = (quality_t)lq;
		o->m2 = catalog__column_f64(s, 24);
		o->integral_step = catalog__column_f64(s, 25);
		o->max_gap_ns = sqlite3_column_int64(s, 26);
	} else {
		o->min_ts = o->max_ts = o->max_gap_ns = 0;
		o->first_q = o->last_q = 0;
		o->m2 = o->integral_step = 0;
	}
	return 0;
}

/* Step bound statement s of reader c, calling fn per chunk row. */
static int catalog__chunks_walk(struct catalog_conn *c, sqlite3_stmt *s, catalog_chunk_fn fn,
				void *arg)
{
	struct catalog_chunk chunk;
	int rc;

	while ((rc = catalog__step(c, s, "read chunks")) == 1) {
		rc = catalog__chunk_row(c, s, &chunk);
		if (rc == 0)
			rc = fn(arg, &chunk);
		if (rc != 0)
			break;
	}
	return rc;
}

int catalog_chunks_range(struct catalog *cat, uint32_t tag_id, int64_t t0, int64_t t1,
			 catalog_chunk_fn fn, void *arg)
{
	struct catalog_conn *c = NULL;
	struct catalog__bind b;
	sqlite3_stmt *s;
	int rc;

	if (t0 >= t1)
		return 0;
	rc = catalog__reader_acquire(cat, &c);
	if (rc < 0)
		return rc;
	s = c->stmt[CS_CHUNKS_RANGE];
	b = catalog__bind_start(s);
	catalog__bind_i64(&b, tag_id);
	catalog__bind_i64(&b, t0);
	catalog__bind_i64(&b, t1);
	rc = b.src != SQLITE_OK ? CATALOG__SQLFAIL(c, b.src, "bind range")
				: catalog__chunks_walk(c, s, fn, arg);
	catalog__reset(s);
	catalog__reader_release(cat, c);
	return rc;
}

int catalog_chunks_of_file(struct catalog *cat, uint64_t file_id, catalog_chunk_fn fn, void *arg)
{
	struct catalog_conn *c = NULL;
	struct catalog__bind b;
	sqlite3_stmt *s;
	int rc;

	rc = catalog__reader_acquire(cat, &c);
	if (rc < 0)
		return rc;
	s = c->stmt[CS_CHUNKS_OF_FILE];
	b = catalog__bind_start(s);
	catalog__bind_i64(&b, (int64_t)file_id);
	rc = b.src != SQLITE_OK ? CATALOG__SQLFAIL(c, b.src, "bind file")
				: catalog__chunks_walk(c, s, fn, arg);
	catalog__reset(s);
	catalog__reader_release(cat, c);
	return rc;
}

/* Run single-row chunk statement id with parameters (a, b) (b unused when
 * the statement has one). */
static int catalog__chunk_one(struct catalog *cat, enum catalog__stmt_id id, int64_t a,
			      int64_t b_val, struct catalog_chunk *out, bool *found)
{
	struct catalog_conn *c = NULL;
	struct catalog__bind b;
	sqlite3_stmt *s;
	int rc;

	*found = false;
	rc = catalog__reader_acquire(cat, &c);
	if (rc < 0)
		return rc;
	s = c->stmt[id];
	b = catalog__bind_start(s);
	catalog__bind_i64(&b, a);
	if (sqlite3_bind_parameter_count(s) > 1)
		catalog__bind_i64(&b, b_val);
	rc = b.src != SQLITE_OK ? CATALOG__SQLFAIL(c, b.src, "bind chunk lookup")
				: catalog__step(c, s, "look up chunk");
	if (rc == 1) {
		rc = catalog__chunk_row(c, s, out);
		*found = rc == 0;
	}
	catalog__reset(s);
	catalog__reader_release(cat, c);
	return rc;
}

int catalog_chunk_before(struct catalog *cat, uint32_t tag_id, int64_t t,
			 struct catalog_chunk *out, bool *found)
{
	return catalog__chunk_one(cat, CS_CHUNK_BEFORE, tag_id, t, out, found);
}

int catalog_chunk_after(struct catalog *cat, uint32_t tag_id, int64_t t,
			struct catalog_chunk *out, bool *found)
{
	return catalog__chunk_one(cat, CS_CHUNK_AFTER, tag_id, t, out, found);
}

int catalog_chunk_get(struct catalog *cat, uint64_t id, struct catalog_chunk *out)
{
	bool found = false;
	int rc;

	if (id == 0 || id > INT64_MAX)
		return catalog__fail(-ENOENT, "no chunk with id %llu", (unsigned long long)id);
	rc = catalog__chunk_one(cat, CS_CHUNK_GET, (int64_t)id, 0, out, &found);
	if (rc == 0 && !found)
		rc = catalog__fail(-ENOENT, "no chunk with id %llu", (unsigned long long)id);
	return rc;
}

int catalog_tag_extent(struct catalog *cat, uint32_t tag_id, int64_t *first_ns,
		       int64_t *last_ns, bool *found)
{
	struct catalog_conn *c = NULL;
	struct catalog__bind b;
	sqlite3_stmt *s;
	int rc;

	*found = false;
	*first_ns = *last_ns = 0;
	rc = catalog__reader_acquire(cat, &c);
	if (rc < 0)
		return rc;
	s = c->stmt[CS_TAG_EXTENT];
	b = catalog__bind_start(s);
	catalog__bind_i64(&b, tag_id);
	rc = b.src != SQLITE_OK ? CATALOG__SQLFAIL(c, b.src, "bind tag id")
				: catalog__step(c, s, "read tag extent");
	if (rc == 0)
		rc = CATALOG__CORRUPT(cat, "extent query returned no row");
	if (rc == 1) {
		rc = 0;
		if (sqlite3_column_type(s, 0) != SQLITE_NULL) {
			if (sqlite3_column_type(s, 1) == SQLITE_NULL)
				rc = CATALOG__CORRUPT(cat, "tag %u: max_span_ns below a chunk's span",
						      tag_id);
			*first_ns = sqlite3_column_int64(s, 0);
			*last_ns = sqlite3_column_int64(s, 1);
			*found = rc == 0;
		}
	}
	catalog__reset(s);
	catalog__reader_release(cat, c);
	return rc;
}

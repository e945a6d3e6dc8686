/* catalog_tags.c: tags in the catalog: creation (idempotent by name), the registry load, labels, search, metadata.
 * Writes run on the writer connection under its mutex, reads on pooled readers (see catalog.c).
 *
 * Creating a tag looks the name up and inserts it inside one BEGIN
 * IMMEDIATE transaction of the single writer, so two threads creating the
 * same name are serialised and the second finds the first's row: both get
 * one id. Ids come from AUTOINCREMENT, so a number is never handed out
 * twice, and are checked to fit uint32_t.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lib/hs_error.h"
#include "lib/utf8.h"
#include "storage/catalog_format.h"
#include "storage/catalog_int.h"

/* ---- creating ---------------------------------------------------------- */

static int catalog__check_labels(const struct catalog_label *labels, size_t n)
{
	int rc = 0;

	if (n > CATALOG_LABELS_MAX)
		return catalog__fail(-EINVAL, "%zu labels, more than %d", n, CATALOG_LABELS_MAX);
	if (n > 0 && labels == NULL)
		return catalog__fail(-EINVAL, "labels missing");
	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *k = labels[i].key, *v = labels[i].value;
		rc = catalog__check_text(k, k ? strlen(k) : 0, CATALOG_NAME_MAX, "label key");
		if (rc == 0)
			rc = catalog__check_text(v, v ? strlen(v) : 0, CATALOG_NAME_MAX, "label value");
		for (size_t j = 0; j < i && rc == 0; j++) {
			if (strcmp(labels[j].key, k) == 0)
				rc = catalog__fail(-EINVAL, "label key '%s' given twice", k);
		}
	}
	return rc;
}

/* Check spec i of n; the message names the index when n > 1. */
static int catalog__check_spec(const struct catalog_tag_spec *t, size_t i, size_t n)
{
	int rc = catalog__check_text(t->name, t->name_len, CATALOG_NAME_MAX, "tag name");

	if (rc == 0 && catalog__type_to_db(t->type) < 0)
		rc = catalog__fail(-EINVAL, "tag type %d is not a value type", (int)t->type);
	if (rc == 0)
		rc = catalog__check_labels(t->labels, t->nlabels);
	if (rc < 0 && n > 1) {
		char detail[CATALOG_ERROR_MAX];
		snprintf(detail, sizeof detail, "%s", catalog_errmsg());
		rc = catalog__fail(rc, "tag %zu of %zu: %s", i, n, detail);
	}
	return rc;
}

/* The existing tag of that name: 1 found (*id, *type set), 0 not, < 0. */
static int catalog__tag_find_name(struct catalog_conn *w, const struct catalog_tag_spec *t,
				  uint32_t *id, enum value_type *type)
{
	sqlite3_stmt *s = w->stmt[CS_TAG_BY_NAME];
	struct catalog__bind b = catalog__bind_start(s);
	int64_t v;
	int rc;

	catalog__bind_text(&b, t->name, t->name_len);
	if (b.src != SQLITE_OK) {
		rc = CATALOG__SQLFAIL(w, b.src, "bind tag name");
		goto out;
	}
	rc = catalog__step(w, s, "look up tag");
	if (rc <= 0)
		goto out;
	v = sqlite3_column_int64(s, 0);
	if (v < 1 || v > UINT32_MAX) {
		rc = CATALOG__CORRUPT(w->cat, "tag id %lld out of range", (long long)v);
		goto out;
	}
	*id = (uint32_t)v;
	if (catalog__type_from_db(sqlite3_column_int64(s, 1), type) < 0)
		rc = CATALOG__CORRUPT(w->cat, "tag %u has type %lld", *id,
				      (long long)sqlite3_column_int64(s, 1));
out:
	catalog__reset(s);
	return rc;
}

static int catalog__labels_insert(struct catalog_conn *w, uint32_t id,
				  const struct catalog_label *labels, size_t n)
{
	sqlite3_stmt *s = w->stmt[CS_LABEL_INSERT];
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		struct catalog__bind b = catalog__bind_start(s);
		catalog__bind_i64(&b, id);
		catalog__bind_text(&b, labels[i].key, strlen(labels[i].key));
		catalog__bind_text(&b, labels[i].value, strlen(labels[i].value));
		rc = b.src != SQLITE_OK ? CATALOG__SQLFAIL(w, b.src, "bind label")
					: catalog__run(w, s, "insert label");
	}
	return rc;
}

/* Inside the writer's transaction: find or create one tag. */
static int catalog__tag_create_one(struct catalog_conn *w, const struct catalog_tag_spec *t,
				   uint32_t *id, enum value_type *type, bool *created)
{
	sqlite3_stmt *s = w->stmt[CS_TAG_INSERT];
	struct catalog__bind b;
	sqlite3_int64 rowid;
	int rc;

	*created = false;
	rc = catalog__tag_find_name(w, t, id, type);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	b = catalog__bind_start(s);
	catalog__bind_text(&b, t->name, t->name_len);
	catalog__bind_i64(&b, catalog__type_to_db(t->type));
	rc = b.src != SQLITE_OK ? CATALOG__SQLFAIL(w, b.src, "bind tag")
				: catalog__run(w, s, "insert tag");
	if (rc < 0)
		return rc;
	rowid = sqlite3_last_insert_rowid(w->db);
	if (rowid < 1 || rowid > UINT32_MAX)
		return catalog__fail(-EOVERFLOW, "catalog %s: tag ids exhausted (%lld)",
				     w->cat->path, (long long)rowid);
	*id = (uint32_t)rowid;
	*type = t->type;
	*created = true;
	return catalog__labels_insert(w, *id, t->labels, t->nlabels);
}

int catalog_tags_create(struct catalog *cat, const struct catalog_tag_spec *specs, size_t n,
			uint32_t *ids_out, enum value_type *types_out)
{
	struct catalog_conn *w = NULL;
	int64_t created = 0;
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++)
		rc = catalog__check_spec(&specs[i], i, n);
	if (rc < 0 || n == 0)
		goto out;
	rc = catalog__write_begin(cat, &w);
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < n && rc == 0; i++) {
		enum value_type type;
		bool made;
		rc = catalog__tag_create_one(w, &specs[i], &ids_out[i], &type, &made);
		if (rc == 0 && types_out)
			types_out[i] = type;
		created += made;
	}
	if (rc == 0)
		rc = catalog__counter_add(w, CATALOG_DB_COUNTER_TAGS, created);
	rc = catalog__write_end(cat, rc);
out:
	if (rc < 0) {
		for (size_t i = 0; i < n; i++)
			ids_out[i] = 0;
	}
	return rc;
}

int catalog_tag_create(struct catalog *cat, const char *name, size_t name_len,
		       enum value_type type, const struct catalog_label *labels, size_t nlabels,
		       uint32_t *id_out, enum value_type *type_out)
{
	struct catalog_tag_spec spec = {name, name_len, type, labels, nlabels};

	return catalog_tags_create(cat, &spec, 1, id_out, type_out);
}

/* ---- reading tags ------------------------------------------------------- */

/* Hand the current (id, name, type) row to fn. */
static int catalog__tag_row(struct catalog_conn *c, sqlite3_stmt *s, catalog_tag_fn fn,
			    void *arg)
{
	int64_t id = sqlite3_column_int64(s, 0);
	const char *name = (const char *)sqlite3_column_text(s, 1);
	size_t len = (size_t)sqlite3_column_bytes(s, 1);
	enum value_type type;

	if (id < 1 || id > UINT32_MAX || name == NULL || len == 0)
		return CATALOG__CORRUPT(c->cat, "tag row %lld has no valid id or name",
					(long long)id);
	if (catalog__type_from_db(sqlite3_column_int64(s, 2), &type) < 0)
		return CATALOG__CORRUPT(c->cat, "tag %lld has type %lld", (long long)id,
					(long long)sqlite3_column_int64(s, 2));
	return fn(arg, (uint32_t)id, name, len, type);
}

int catalog_tags_load(struct catalog *cat, catalog_tag_fn fn, void *arg)
{
	struct catalog_conn *c = NULL;
	sqlite3_stmt *s;
	int rc;

	rc = catalog__reader_acquire(cat, &c);
	if (rc < 0)
		return rc;
	s = c->stmt[CS_TAGS_ALL];
	while ((rc = catalog__step(c, s, "load tags")) == 1) {
		rc = catalog__tag_row(c, s, fn, arg);
		if (rc != 0)
			break;
	}
	catalog__reset(s);
	catalog__reader_release(cat, c);
	return rc;
}

int catalog_tag_labels(struct catalog *cat, uint32_t id, catalog_label_fn fn, void *arg)
{
	struct catalog_conn *c = NULL;
	struct catalog__bind b;
	sqlite3_stmt *s;
	int rc;

	rc = catalog__reader_acquire(cat, &c);
	if (rc < 0)
		return rc;
	s = c->stmt[CS_LABELS_OF];
	b = catalog__bind_start(s);
	catalog__bind_i64(&b, id);
	if (b.src != SQLITE_OK) {
		rc = CATALOG__SQLFAIL(c, b.src, "bind tag id");
		goto out;
	}
	while ((rc = catalog__step(c, s, "read labels")) == 1) {
		const char *k = (const char *)sqlite3_column_text(s, 0);
		const char *v = (const char *)sqlite3_column_text(s, 1);
		if (k == NULL || v == NULL) {
			rc = CATALOG__CORRUPT(cat, "label of tag %u is NULL", id);
			break;
		}
		rc = fn(arg, k, v);
		if (rc != 0)
			break;
	}
out:
	catalog__reset(s);
	catalog__reader_release(cat, c);
	return rc;
}

/* ---- search --------------------------------------------------------------- */

/* The search with k label filters, prepared on this connection's first
 * search with k filters and kept. Parameters: ?1 after_id, ?2 glob or NULL,
 * ?3 limit (-1 none), then key, value per filter. The first filter drives
 * the scan through tag_labels_by_pair (key, value, tag_id), already in id
 * order; CROSS JOIN keeps the planner from scanning all tags instead. */
static int catalog__find_stmt(struct catalog_conn *c, size_t k, sqlite3_stmt **out)
{
	char sql[2048];
	size_t len;
	int src;

	if (c->find[k]) {
		*out = c->find[k];
		return 0;
	}
	if (k == 0) {
		len = (size_t)snprintf(sql, sizeof sql,
				       "SELECT id, name, type FROM tags WHERE id > ?1"
				       " AND (?2 IS NULL OR name GLOB ?2) ORDER BY id LIMIT ?3");
	} else {
		len = (size_t)snprintf(sql, sizeof sql,
				       "SELECT t.id, t.name, t.type FROM tag_labels l0"
				       " CROSS JOIN tags t ON t.id = l0.tag_id"
				       " WHERE l0.key = ?4 AND l0.value = ?5 AND l0.tag_id > ?1"
				       " AND (?2 IS NULL OR t.name GLOB ?2)");
		for (size_t j = 1; j < k; j++)
			len += (size_t)snprintf(sql + len, sizeof sql - len,
						" AND EXISTS (SELECT 1 FROM tag_labels l"
						" WHERE l.tag_id = t.id AND l.key = ?%zu"
						" AND l.value = ?%zu)", 4 + 2 * j, 5 + 2 * j);
		len += (size_t)snprintf(sql + len, sizeof sql - len,
					" ORDER BY l0.tag_id LIMIT ?3");
	}
	/* sized for CATALOG_FIND_LABELS_MAX filters with room to spare */
	if (len >= sizeof sql)
		return catalog__fail(-EINVAL, "catalog: search statement too long");
	src = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->find[k], NULL);
	if (src != SQLITE_OK)
		return CATALOG__SQLFAIL(c, src, "prepare search");
	*out = c->find[k];
	return 0;
}

static int catalog__check_find(const struct catalog_find *q)
{
	int rc = 0;

	if (q->glob)
		rc = catalog__check_text(q->glob, strlen(q->glob), CATALOG_NAME_MAX, "search glob");
	if (rc == 0 && q->nlabels > CATALOG_FIND_LABELS_MAX)
		rc = catalog__fail(-EINVAL, "%zu label filters, more than %d", q->nlabels,
				   CATALOG_FIND_LABELS_MAX);
	if (rc == 0)
		rc = catalog__check_labels(q->labels, q->nlabels);
	if (rc == 0 && q->limit > INT64_MAX)
		rc = catalog__fail(-EINVAL, "search limit too large");
	return rc;
}

int catalog_tags_find(struct catalog *cat, const struct catalog_find *q, catalog_tag_fn fn,
		      void *arg)
{
	struct catalog_conn *c = NULL;
	sqlite3_stmt *s = NULL;
	struct catalog__bind b;
	int rc;

	rc = catalog__check_find(q);
	if (rc < 0)
		return rc;
	rc = catalog__reader_acquire(cat, &c);
	if (rc < 0)
		return rc;
	rc = catalog__find_stmt(c, q->nlabels, &s);
	if (rc < 0)
		goto out;
	b = catalog__bind_start(s);
	catalog__bind_i64(&b, q->after_id);
	if (q->glob)
		catalog__bind_text(&b, q->glob, strlen(q->glob));
	else
		catalog__bind_null(&b);
	catalog__bind_i64(&b, q->limit ? (int64_t)q->limit : -1);
	for (size_t j = 0; j < q->nlabels; j++) {
		catalog__bind_text(&b, q->labels[j].key, strlen(q->labels[j].key));
		catalog__bind_text(&b, q->labels[j].value, strlen(q->labels[j].value));
	}
	if (b.src != SQLITE_OK) {
		rc = CATALOG__SQLFAIL(c, b.src, "bind search");
		goto out;
	}
	while ((rc = catalog__step(c, s, "search tags")) == 1) {
		rc = catalog__tag_row(c, s, fn, arg);
		if (rc != 0)
			break;
	}
out:
	if (s)
		catalog__reset(s);
	catalog__reader_release(cat, c);
	return rc;
}

/* ---- metadata ---------------------------------------------------------------- */

void catalog_meta_defaults(struct catalog_meta *m, enum value_type type)
{
	memset(m, 0, sizeof *m);
	m->eng_low = NAN;
	m->eng_high = NAN;
	m->interpolation = type == VALUE_FLOAT64 ? CATALOG_INTERP_LINEAR : CATALOG_INTERP_STEP;
	m->display_digits = -1;
	m->stale_timeout_ns = 0;
}

/* Copy text column col into dst (cap bytes); longer than the format allows
 * is corruption. */
static int catalog__text_into(struct catalog_conn *c, sqlite3_stmt *s, int col, char *dst,
			      size_t cap)
{
	const unsigned char *t = sqlite3_column_text(s, col);
	size_t len = (size_t)sqlite3_column_bytes(s, col);

	if (t == NULL || len >= cap)
		return CATALOG__CORRUPT(c->cat, "metadata text column %d is NULL or too long", col);
	memcpy(dst, t, len + 1);
	return 0;
}

/* Fill *out from a CS_META_GET row whose tag_meta part exists. */
static int catalog__meta_row(struct catalog_conn *c, sqlite3_stmt *s, struct catalog_meta *out)
{
	int rc = catalog__text_into(c, s, 2, out->unit, sizeof out->unit);

	if (rc == 0)
		rc = catalog__text_into(c, s, 3, out->description, sizeof out->description);
	if (rc < 0)
		return rc;
	out->eng_low = catalog__column_f64(s, 4);
	out->eng_high = catalog__column_f64(s, 5);
	if (sqlite3_column_type(s, 6) != SQLITE_NULL) {
		int64_t v = sqlite3_column_int64(s, 6);
		if (v == CATALOG_DB_INTERP_STEP)
			out->interpolation = CATALOG_INTERP_STEP;
		else if (v == CATALOG_DB_INTERP_LINEAR)
			out->interpolation = CATALOG_INTERP_LINEAR;
		else
			return CATALOG__CORRUPT(c->cat, "interpolation %lld", (long long)v);
	}
	if (sqlite3_column_type(s, 7) != SQLITE_NULL) {
		int64_t v = sqlite3_column_int64(s, 7);
		if (v < 0 || v > 17)
			return CATALOG__CORRUPT(c->cat, "display_digits %lld", (long long)v);
		out->display_digits = (int)v;
	}
	out->stale_timeout_ns = sqlite3_column_int64(s, 8);
	return 0;
}

int catalog_meta_get(struct catalog *cat, uint32_t id, struct catalog_meta *out)
{
	struct catalog_conn *c = NULL;
	struct catalog__bind b;
	enum value_type type;
	sqlite3_stmt *s;
	int rc;

	rc = catalog__reader_acquire(cat, &c);
	if (rc < 0)
		return rc;
	s = c->stmt[CS_META_GET];
	b = catalog__bind_start(s);
	catalog__bind_i64(&b, id);
	rc = b.src != SQLITE_OK ? CATALOG__SQLFAIL(c, b.src, "bind tag id")
				: catalog__step(c, s, "read metadata");
	if (rc == 0)
		rc = catalog__fail(-ENOENT, "no tag with id %u", id);
	if (rc < 0)
		goto out;
	if (catalog__type_from_db(sqlite3_column_int64(s, 0), &type) < 0) {
		rc = CATALOG__CORRUPT(cat, "tag %u has type %lld", id,
				      (long long)sqlite3_column_int64(s, 0));
		goto out;
	}
	catalog_meta_defaults(out, type);
	rc = sqlite3_column_int(s, 1) ? catalog__meta_row(c, s, out) : 0;
out:
	catalog__reset(s);
	catalog__reader_release(cat, c);
	return rc;
}

static int catalog__check_meta_text(const char *s, size_t cap, const char *what)
{
	const char *end = memchr(s, '\0', cap);

	if (end == NULL)
		return catalog__fail(-EINVAL, "%s is not NUL-terminated within %zu bytes", what, cap);
	if (!utf8_valid(s, (size_t)(end - s)))
		return catalog__fail(-EINVAL, "%s is not valid UTF-8", what);
	return 0;
}

/* Checks that need no tag type; the interpolation's fit is checked later. */
static int catalog__check_meta(const struct catalog_meta *m)
{
	bool low = !isnan(m->eng_low), high = !isnan(m->eng_high);
	int rc;

	rc = catalog__check_meta_text(m->unit, sizeof m->unit, "unit");
	if (rc == 0)
		rc = catalog__check_meta_text(m->description, sizeof m->description, "description");
	if (rc < 0)
		return rc;
	if ((low && !isfinite(m->eng_low)) || (high && !isfinite(m->eng_high)) ||
	    (low && high && m->eng_low >= m->eng_high))
		return catalog__fail(-EINVAL, "engineering range [%g, %g] is not a finite interval",
				     m->eng_low, m->eng_high);
	if (m->interpolation != CATALOG_INTERP_STEP && m->interpolation != CATALOG_INTERP_LINEAR)
		return catalog__fail(-EINVAL, "interpolation %d unknown", (int)m->interpolation);
	if (m->display_digits < -1 || m->display_digits > 17)
		return catalog__fail(-EINVAL, "display_digits %d outside -1..17", m->display_digits);
	if (m->stale_timeout_ns < 0)
		return catalog__fail(-EINVAL, "stale_timeout_ns %lld is negative",
				     (long long)m->stale_timeout_ns);
	return 0;
}

/* Inside the writer's transaction: the type of tag id, -ENOENT if none. */
static int catalog__tag_type(struct catalog_conn *w, uint32_t id, enum value_type *type)
{
	sqlite3_stmt *s = w->stmt[CS_TAG_TYPE];
	struct catalog__bind b = catalog__bind_start(s);
	int rc;

	catalog__bind_i64(&b, id);
	rc = b.src != SQLITE_OK ? CATALOG__SQLFAIL(w, b.src, "bind tag id")
				: catalog__step(w, s, "read tag type");
	if (rc == 0)
		rc = catalog__fail(-ENOENT, "no tag with id %u", id);
	else if (rc == 1 && catalog__type_from_db(sqlite3_column_int64(s, 0), type) < 0)
		rc = CATALOG__CORRUPT(w->cat, "tag %u has type %lld", id,
				      (long long)sqlite3_column_int64(s, 0));
	else if (rc == 1)
		rc = 0;
	catalog__reset(s);
	return rc;
}

int catalog_meta_set(struct catalog *cat, uint32_t id, const struct catalog_meta *m)
{
	struct catalog_conn *w = NULL;
	struct catalog__bind b;
	enum value_type type;
	int rc;

	rc = catalog__check_meta(m);
	if (rc < 0)
		return rc;
	rc = catalog__write_begin(cat, &w);
	if (rc < 0)
		return rc;
	rc = catalog__tag_type(w, id, &type);
	if (rc == 0 && m->interpolation == CATALOG_INTERP_LINEAR && type != VALUE_FLOAT64 &&
	    type != VALUE_INT64)
		rc = catalog__fail(-EINVAL, "tag %u: linear interpolation needs a number type", id);
	if (rc < 0)
		goto out;
	b = catalog__bind_start(w->stmt[CS_META_SET]);
	catalog__bind_i64(&b, id);
	catalog__bind_text(&b, m->unit, strlen(m->unit));
	catalog__bind_text(&b, m->description, strlen(m->description));
	catalog__bind_f64(&b, m->eng_low); /* NaN stores NULL: unset */
	catalog__bind_f64(&b, m->eng_high);
	catalog__bind_i64(&b, m->interpolation == CATALOG_INTERP_LINEAR ? CATALOG_DB_INTERP_LINEAR
									 : CATALOG_DB_INTERP_STEP);
	if (m->display_digits < 0)
		catalog__bind_null(&b);
	else
		catalog__bind_i64(&b, m->display_digits);
	catalog__bind_i64(&b, m->stale_timeout_ns);
	rc = b.src != SQLITE_OK ? CATALOG__SQLFAIL(w, b.src, "bind metadata")
				: catalog__run(w, w->stmt[CS_META_SET], "set metadata");
out:
	return catalog__write_end(cat, rc);
}

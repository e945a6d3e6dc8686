/* store_tags.c: the tag side of store.h that queries use: names, search, labels, metadata, extent and last value.
 * A small per-tag cache (interpolation, stale timeout, largest sealed time) spares SQLite on every query. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/vec.h"
#include "storage/store_int.h"

const char *store_tag_name(struct store *st, uint32_t id)
{
	return registry_name(st->reg, id);
}

struct find_ctx {
	struct store *st;
	int (*fn)(void *arg, uint32_t id, const char *name, enum value_type type);
	void *arg;
};

static int find_one(void *arg, uint32_t id, const char *name, size_t name_len,
		    enum value_type type)
{
	struct find_ctx *f = arg;
	(void)name_len;
	return f->fn(f->arg, id, name, type);
}

int store_tags_find(struct store *st, const char *glob, const struct store_label *labels,
		    size_t nlabels, uint32_t after_id, size_t limit,
		    int (*fn)(void *arg, uint32_t id, const char *name, enum value_type type),
		    void *arg)
{
	struct catalog_label cl[STORE_FIND_LABELS_MAX];
	struct find_ctx f = {st, fn, arg};
	struct catalog_find q = {glob, cl, nlabels, after_id, limit};

	if (nlabels > STORE_FIND_LABELS_MAX)
		return -EINVAL;
	for (size_t i = 0; i < nlabels; i++)
		cl[i] = (struct catalog_label){labels[i].key, labels[i].value};
	return catalog_tags_find(st->cat, &q, find_one, &f);
}

int store_tag_labels(struct store *st, uint32_t id,
		     int (*fn)(void *arg, const char *key, const char *value), void *arg)
{
	return catalog_tag_labels(st->cat, id, fn, arg);
}

/* --- metadata ----------------------------------------------------------- */

/* The cache entry of id, grown on demand; NULL when out of memory. Caller
 * holds tag_cache_lock. */
static struct store_tag_cache *cache_entry(struct store *st, uint32_t id)
{
	if (id >= st->tag_cache_len) {
		size_t n = st->tag_cache_len ? st->tag_cache_len : 1024;
		struct store_tag_cache *grown;
		while (n <= id)
			n *= 2;
		grown = realloc(st->tag_cache, n * sizeof *grown);
		if (!grown)
			return NULL;
		memset(grown + st->tag_cache_len, 0, (n - st->tag_cache_len) * sizeof *grown);
		st->tag_cache = grown;
		st->tag_cache_len = n;
	}
	return &st->tag_cache[id];
}

int store_tag_meta_get(struct store *st, uint32_t id, struct store_tag_meta *out)
{
	struct catalog_meta m;
	int rc = catalog_meta_get(st->cat, id, &m);

	if (rc != 0)
		return rc;
	_Static_assert(sizeof out->unit == sizeof m.unit, "unit size");
	_Static_assert(sizeof out->description == sizeof m.description, "description size");
	memcpy(out->unit, m.unit, sizeof out->unit);
	memcpy(out->description, m.description, sizeof out->description);
	out->eng_low = m.eng_low;
	out->eng_high = m.eng_high;
	out->interpolation = m.interpolation == CATALOG_INTERP_LINEAR ? STORE_INTERP_LINEAR
								      : STORE_INTERP_STEP;
	out->display_digits = m.display_digits;
	out->stale_timeout_ns = m.stale_timeout_ns;
	return 0;
}

int store_tag_meta_set(struct store *st, uint32_t id, const struct store_tag_meta *in,
		       char *reason)
{
	struct catalog_meta m;
	struct store_tag_cache *c;
	int rc;

	if (reason)
		reason[0] = '\0';
	if (!memchr(in->unit, '\0', sizeof in->unit) ||
	    !memchr(in->description, '\0', sizeof in->description)) {
		if (reason)
			snprintf(reason, STORE_ERROR_MAX, "unit or description too long");
		return -EINVAL;
	}
	memcpy(m.unit, in->unit, sizeof m.unit);
	memcpy(m.description, in->description, sizeof m.description);
	m.eng_low = in->eng_low;
	m.eng_high = in->eng_high;
	m.interpolation = in->interpolation == STORE_INTERP_LINEAR ? CATALOG_INTERP_LINEAR
								  : CATALOG_INTERP_STEP;
	m.display_digits = in->display_digits;
	m.stale_timeout_ns = in->stale_timeout_ns;
	rc = catalog_meta_set(st->cat, id, &m);
	if (rc == -EINVAL && reason)
		snprintf(reason, STORE_ERROR_MAX, "%s", catalog_errmsg());
	if (rc != 0)
		return rc;
	pthread_mutex_lock(&st->tag_cache_lock);
	if ((c = cache_entry(st, id)) != NULL) {
		c->interp_known = true;
		c->linear = in->interpolation == STORE_INTERP_LINEAR;
		c->stale_ns = in->stale_timeout_ns;
	}
	pthread_mutex_unlock(&st->tag_cache_lock);
	return 0;
}

int store_tag_interp(struct store *st, uint32_t id, bool *linear, int64_t *stale_ns)
{
	struct store_tag_cache *c;
	struct store_tag_meta m;
	int rc;

	pthread_mutex_lock(&st->tag_cache_lock);
	c = cache_entry(st, id);
	if (c && c->interp_known) {
		*linear = c->linear;
		*stale_ns = c->stale_ns;
		pthread_mutex_unlock(&st->tag_cache_lock);
		return 0;
	}
	pthread_mutex_unlock(&st->tag_cache_lock);
	if ((rc = store_tag_meta_get(st, id, &m)) != 0)
		return rc;
	*linear = m.interpolation == STORE_INTERP_LINEAR;
	*stale_ns = m.stale_timeout_ns;
	pthread_mutex_lock(&st->tag_cache_lock);
	/* A concurrent store_tag_meta_set() may have filled it: it wins. */
	if ((c = cache_entry(st, id)) != NULL && !c->interp_known) {
		c->interp_known = true;
		c->linear = *linear;
		c->stale_ns = *stale_ns;
	}
	pthread_mutex_unlock(&st->tag_cache_lock);
	return 0;
}

/* The sample at one edge of a chunk row, when the row knows it exactly. */
static bool row_last(enum value_type type, const struct catalog_chunk *c, struct store_point *p)
{
	if (!c->has_ext || (type != VALUE_FLOAT64 && type != VALUE_INT64) ||
	    (type == VALUE_INT64 && !(fabs(c->last_v) <= 9007199254740992.0)))
		return false;
	*p = (struct store_point){.ts_ns = c->last_ts, .quality = c->last_q};
	if (type == VALUE_FLOAT64)
		p->f64 = c->last_v;
	else
		p->i64 = (int64_t)c->last_v;
	return true;
}

void store__tag_sealed(struct store *st, enum value_type type, const struct catalog_chunk *c)
{
	struct store_tag_cache *e;
	struct store_point p;

	pthread_mutex_lock(&st->tag_cache_lock);
	st->tag_cache_gen++;
	if (c->tag_id < st->tag_cache_len) {
		e = &st->tag_cache[c->tag_id];
		if (e->sealed_known && c->t_max > e->sealed_max_ns)
			e->sealed_max_ns = c->t_max;
		/* A later seal wins a tie in time: it holds the newer write. */
		if (e->last_known && c->last_ts >= e->last.ts_ns) {
			e->last_known = row_last(type, c, &p);
			e->last = p;
		}
	}
	pthread_mutex_unlock(&st->tag_cache_lock);
}

void store__tag_cache_forget(struct store *st)
{
	pthread_mutex_lock(&st->tag_cache_lock);
	st->tag_cache_gen++;
	for (size_t i = 0; i < st->tag_cache_len; i++)
		st->tag_cache[i].sealed_known = st->tag_cache[i].last_known = false;
	pthread_mutex_unlock(&st->tag_cache_lock);
}

/* The largest t_max over the tag's chunks, cached; *found false if none.
 * A seal committing while the catalog is read bumps tag_cache_gen, and the
 * read is then not cached: the cache never holds a value older than a
 * commit it did not see. */
static int sealed_max(struct store *st, uint32_t id, int64_t *max_ns, bool *found)
{
	struct store_tag_cache *c;
	uint64_t gen;
	int64_t first;
	int rc;

	pthread_mutex_lock(&st->tag_cache_lock);
	c = cache_entry(st, id);
	gen = st->tag_cache_gen;
	if (c && c->sealed_known) {
		*max_ns = c->sealed_max_ns;
		*found = c->sealed_max_ns != INT64_MIN;
		pthread_mutex_unlock(&st->tag_cache_lock);
		return 0;
	}
	pthread_mutex_unlock(&st->tag_cache_lock);
	rc = catalog_tag_extent(st->cat, id, &first, max_ns, found);
	if (rc != 0)
		return rc;
	pthread_mutex_lock(&st->tag_cache_lock);
	if (gen == st->tag_cache_gen && (c = cache_entry(st, id)) != NULL) {
		c->sealed_known = true;
		c->sealed_max_ns = *found ? *max_ns : INT64_MIN;
	}
	pthread_mutex_unlock(&st->tag_cache_lock);
	return 0;
}

/* --- extent and last value ---------------------------------------------- */

/* Take references on the frozen and live heads. */
static void heads_acquire(struct store *st, struct head *heads[2])
{
	pthread_rwlock_rdlock(&st->heads_lock);
	heads[0] = st->frozen;
	heads[1] = st->head;
	for (int i = 0; i < 2; i++)
		if (heads[i])
			head_acquire(heads[i]);
	pthread_rwlock_unlock(&st->heads_lock);
}

static void heads_release(struct head *heads[2])
{
	for (int i = 0; i < 2; i++)
		if (heads[i])
			head_release(heads[i]);
}

int store_tag_extent(struct store *st, uint32_t id, int64_t *first_ns, int64_t *last_ns)
{
	struct head *heads[2];
	bool found = false;
	int rc;

	if (registry_type(st->reg, id) == 0)
		return -ENOENT;
	heads_acquire(st, heads);
	rc = catalog_tag_extent(st->cat, id, first_ns, last_ns, &found);
	for (int i = 0; i < 2 && rc == 0; i++) {
		int64_t bts, ats;
		union value64 bv, av;
		quality_t bq, aq;
		int got;
		if (!heads[i])
			continue;
		got = head_neighbours(heads[i], id, INT64_MIN, &bts, &bv, &bq, &ats, &av, &aq);
		if (got & 2) {
			if (!found || ats < *first_ns)
				*first_ns = ats;
			got = head_neighbours(heads[i], id, INT64_MAX, &bts, &bv, &bq, &ats, &av, &aq);
			if ((got & 1) && (!found || bts > *last_ns))
				*last_ns = bts;
			found = true;
		}
	}
	heads_release(heads);
	return rc != 0 ? rc : found;
}

static void point_from(struct store_point *p, enum value_type type, int64_t ts, union value64 v,
		       quality_t q, char *buf, size_t buf_len)
{
	*p = (struct store_point){.ts_ns = ts, .quality = q};
	if (type == VALUE_FLOAT64) {
		p->f64 = v.f64;
	} else if (type == VALUE_STRING) {
		size_t n = v.str->len < buf_len ? v.str->len : buf_len;
		memcpy(buf, v.str->data, n);
		p->str = buf;
		p->str_len = (uint32_t)n;
	} else {
		p->i64 = v.i64;
	}
}

/* The cached latest sealed sample, if known. */
static bool cached_last(struct store *st, uint32_t id, struct store_point *p, uint64_t *gen)
{
	bool known = false;

	pthread_mutex_lock(&st->tag_cache_lock);
	*gen = st->tag_cache_gen;
	if (id < st->tag_cache_len && st->tag_cache[id].last_known) {
		*p = st->tag_cache[id].last;
		known = true;
	}
	pthread_mutex_unlock(&st->tag_cache_lock);
	return known;
}

static void cache_last(struct store *st, uint32_t id, const struct store_point *p, uint64_t gen)
{
	struct store_tag_cache *e;

	pthread_mutex_lock(&st->tag_cache_lock);
	if (gen == st->tag_cache_gen && (e = cache_entry(st, id)) != NULL) {
		e->last_known = true;
		e->last = *p;
	}
	pthread_mutex_unlock(&st->tag_cache_lock);
}

int store_last(struct store *st, uint32_t tag_id, struct store_point *out, char *buf,
	       size_t buf_len)
{
	enum value_type type = registry_type(st->reg, tag_id);
	struct head *heads[2];
	struct store_scan *sc = NULL;
	struct store_point sealed_last;
	int64_t sealed = INT64_MIN;
	bool have_sealed = false, in_head = false;
	uint64_t gen;
	int rc;

	if (type == 0)
		return -ENOENT;
	heads_acquire(st, heads);
	/* The live head is newer than the frozen one: on a tie in time it wins. */
	for (int i = 0; i < 2; i++) {
		int64_t bts, ats;
		union value64 bv, av;
		quality_t bq, aq;
		if (!heads[i] || !(head_neighbours(heads[i], tag_id, INT64_MAX, &bts, &bv, &bq, &ats,
						   &av, &aq) & 1))
			continue;
		if (!in_head || bts >= out->ts_ns)
			point_from(out, type, bts, bv, bq, buf, buf_len);
		in_head = true;
	}
	heads_release(heads);
	rc = sealed_max(st, tag_id, &sealed, &have_sealed);
	if (rc != 0)
		return rc;
	if (in_head && (!have_sealed || out->ts_ns >= sealed))
		return 1;
	if (!have_sealed)
		return in_head;
	/* The latest sample is sealed (or ties with a sealed one, which the
	 * head then wins as the newer write). */
	if (cached_last(st, tag_id, &sealed_last, &gen) && sealed_last.ts_ns == sealed) {
		if (!(in_head && out->ts_ns >= sealed_last.ts_ns))
			*out = sealed_last;
		return 1;
	}
	if ((rc = store_scan_open(st, tag_id, INT64_MAX, INT64_MAX, &sc)) != 0)
		return rc;
	rc = store_scan_before(sc, out);
	if (rc == 1 && type == VALUE_STRING) {
		size_t n = out->str_len < buf_len ? out->str_len : buf_len;
		memmove(buf, out->str, n);
		out->str = buf;
		out->str_len = (uint32_t)n;
	} else if (rc == 1 && type != VALUE_BOOL && (type != VALUE_INT64 ||
						      llabs(out->i64) <= (1LL << 53))) {
		cache_last(st, tag_id, out, gen);
	}
	store_scan_close(sc);
	return rc;
}

/* routes_tags.c: the tag endpoints: search by name glob and labels with paging, one tag's detail, PATCH metadata.
 * Tag names come URL-decoded from the path after /api/v1/tags/, so names with '/' or spaces work when escaped. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hs_error.h"
#include "lib/jsonw.h"
#include "lib/utf8.h"
#include "lib/vec.h"
#include "query/timeexpr.h"
#include "web/query_params.h"
#include "web/routes.h"

#define TAGS_PAGE_DEFAULT 100
#define TAGS_PAGE_MAX 10000
#define TAGS_PREFIX "/api/v1/tags/"

/* Labels are read after the search (its callback may not re-enter the
 * catalog): ids and names first, labels per tag afterwards. */
struct found {
	uint32_t *ids;
	size_t count, cap;
};

static int collect_id(void *arg, uint32_t id, const char *name, enum value_type type)
{
	struct found *f = arg;
	(void)name;
	(void)type;
	if (vec_grow(&f->ids, &f->cap, f->count, sizeof *f->ids) != 0)
		return -ENOMEM;
	f->ids[f->count++] = id;
	return 0;
}

static int put_label(void *arg, const char *key, const char *value)
{
	struct jsonw *w = arg;
	jsonw_key(w, key);
	jsonw_str(w, value);
	return 0;
}

static int put_labels(struct store *st, struct jsonw *w, uint32_t id)
{
	int rc;

	jsonw_key(w, "labels");
	jsonw_obj_begin(w);
	rc = store_tag_labels(st, id, put_label, w);
	jsonw_obj_end(w);
	return rc;
}

/* "after" cursor of the search: the last id of the previous page. */
enum MHD_Result route_tags(struct http_request *req)
{
	struct qparams qp;
	struct found f = {0};
	struct strbuf sb = STRBUF_INIT;
	struct qp_labels l = {0};
	const char *glob;
	uint64_t limit = TAGS_PAGE_DEFAULT, after = 0;
	struct jsonw w;
	enum MHD_Result res;
	int rc;

	static const char *const params[] = {"match", "label", "limit", "after", NULL};

	if (!qp_init(&qp, req, params) ||
	    !qp_uint(&qp, "limit", 1, TAGS_PAGE_MAX, &limit) ||
	    !qp_uint(&qp, "after", 0, UINT32_MAX, &after) || !qp_labels_parse(&qp, &l)) {
		res = qp.result;
		goto out;
	}
	glob = qp_arg(&qp, "match");
	/* One more than the page tells whether another page exists. */
	rc = store_tags_find(qp.store, glob && *glob ? glob : NULL, l.labels, l.n,
			     (uint32_t)after, (size_t)limit + 1, collect_id, &f);
	if (rc != 0) {
		res = qp_reply_engine_error(&qp, rc, "tags");
		goto out;
	}
	jsonw_init(&w, &sb);
	jsonw_obj_begin(&w);
	jsonw_key(&w, "tags");
	jsonw_arr_begin(&w);
	for (size_t i = 0; i < f.count && i < limit && rc == 0; i++) {
		struct query_tag t;
		if ((rc = query_tag_by_id(qp.store, f.ids[i], &t)) != 0)
			break;
		jsonw_obj_begin(&w);
		jsonw_key(&w, "name");
		jsonw_str(&w, t.name);
		jsonw_key(&w, "type");
		jsonw_str(&w, value_type_name(t.type));
		rc = put_labels(qp.store, &w, t.id);
		jsonw_obj_end(&w);
	}
	jsonw_arr_end(&w);
	jsonw_key(&w, "next");
	if (f.count > limit) {
		char cur[16];
		snprintf(cur, sizeof cur, "%" PRIu32, f.ids[limit - 1]);
		jsonw_str(&w, cur);
	} else {
		jsonw_null(&w);
	}
	jsonw_obj_end(&w);
	if (rc != 0) {
		strbuf_free(&sb);
		res = qp_reply_engine_error(&qp, rc, "tags");
		goto out;
	}
	res = jsonw_failed(&w) ? MHD_NO : http_reply_strbuf(req, 200, "application/json", &sb);
out:
	qp_labels_free(&l);
	free(f.ids);
	qp_free(&qp);
	return res;
}

/* --- one tag ------------------------------------------------------------- */

/* ns as a duration parameter reads it back: "1h30m", "250ms", "0s". */
static void duration_text(int64_t ns, char *buf)
{
	static const struct { const char *u; int64_t ns; } units[] = {
		{"w", 604800000000000LL}, {"d", 86400000000000LL}, {"h", 3600000000000LL},
		{"m", 60000000000LL},     {"s", 1000000000LL},     {"ms", 1000000LL},
		{"us", 1000LL},           {"ns", 1LL},
	};
	size_t n = 0;

	buf[0] = '\0';
	if (ns <= 0) {
		strcpy(buf, "0s");
		return;
	}
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
		if (ns >= units[i].ns) {
			n += (size_t)sprintf(buf + n, "%" PRId64 "%s", ns / units[i].ns, units[i].u);
			ns %= units[i].ns;
		}
}

static void put_meta(struct jsonw *w, const struct store_tag_meta *m)
{
	char buf[96];

	jsonw_key(w, "unit");
	jsonw_str(w, m->unit);
	jsonw_key(w, "description");
	jsonw_str(w, m->description);
	jsonw_key(w, "eng_low");
	jsonw_f64(w, m->eng_low);
	jsonw_key(w, "eng_high");
	jsonw_f64(w, m->eng_high);
	jsonw_key(w, "interpolation");
	jsonw_str(w, m->interpolation == STORE_INTERP_LINEAR ? "linear" : "step");
	jsonw_key(w, "display_digits");
	if (m->display_digits >= 0)
		jsonw_int(w, m->display_digits);
	else
		jsonw_null(w);
	jsonw_key(w, "stale_timeout");
	duration_text(m->stale_timeout_ns, buf);
	jsonw_str(w, buf);
	jsonw_key(w, "stale_timeout_ns");
	jsonw_int(w, m->stale_timeout_ns);
}

static enum MHD_Result tag_detail(struct qparams *qp, const struct query_tag *t)
{
	struct store_tag_meta m;
	struct strbuf sb = STRBUF_INIT;
	struct jsonw w;
	int64_t first = 0, last = 0;
	int rc, found;

	if ((rc = store_tag_meta_get(qp->store, t->id, &m)) != 0 ||
	    (found = store_tag_extent(qp->store, t->id, &first, &last)) < 0)
		return qp_reply_engine_error(qp, rc ? rc : found, t->name);
	jsonw_init(&w, &sb);
	jsonw_obj_begin(&w);
	jsonw_key(&w, "name");
	jsonw_str(&w, t->name);
	jsonw_key(&w, "type");
	jsonw_str(&w, value_type_name(t->type));
	if ((rc = put_labels(qp->store, &w, t->id)) != 0) {
		strbuf_free(&sb);
		return qp_reply_engine_error(qp, rc, t->name);
	}
	put_meta(&w, &m);
	if (found) {
		char buf[QP_TIME_TEXT_MAX];
		jsonw_key(&w, "first");
		jsonw_raw(&w, buf, qp_time_json(qp, first, buf));
		jsonw_key(&w, "last");
		jsonw_raw(&w, buf, qp_time_json(qp, last, buf));
	} else {
		jsonw_key(&w, "first");
		jsonw_null(&w);
		jsonw_key(&w, "last");
		jsonw_null(&w);
	}
	jsonw_obj_end(&w);
	return jsonw_failed(&w) ? MHD_NO : http_reply_strbuf(qp->req, 200, "application/json", &sb);
}

/* Apply one PATCH member to m; false with the reason in why. null resets
 * a field to its default. */
static bool patch_field(const char *key, json_t *v, const struct query_tag *t,
			struct store_tag_meta *m, char *why, size_t why_len)
{
	if (strcmp(key, "unit") == 0 || strcmp(key, "description") == 0) {
		char *dst = key[0] == 'u' ? m->unit : m->description;
		size_t cap = key[0] == 'u' ? sizeof m->unit : sizeof m->description;
		if (json_is_null(v)) {
			dst[0] = '\0';
			return true;
		}
		if (!json_is_string(v) || json_string_length(v) >= cap) {
			snprintf(why, why_len, "%s: a string of at most %zu bytes", key, cap - 1);
			return false;
		}
		memcpy(dst, json_string_value(v), json_string_length(v) + 1);
		return true;
	}
	if (strcmp(key, "eng_low") == 0 || strcmp(key, "eng_high") == 0) {
		double *dst = key[4] == 'l' ? &m->eng_low : &m->eng_high;
		if (!json_is_null(v) && !json_is_number(v)) {
			snprintf(why, why_len, "%s: a number or null", key);
			return false;
		}
		*dst = json_is_null(v) ? NAN : json_number_value(v);
		return true;
	}
	if (strcmp(key, "interpolation") == 0) {
		const char *s = json_string_value(v);
		if (json_is_null(v))
			m->interpolation = t->type == VALUE_FLOAT64 ? STORE_INTERP_LINEAR
								    : STORE_INTERP_STEP;
		else if (s && strcmp(s, "step") == 0)
			m->interpolation = STORE_INTERP_STEP;
		else if (s && strcmp(s, "linear") == 0 && t->type != VALUE_FLOAT64 &&
			 t->type != VALUE_INT64) {
			snprintf(why, why_len, "interpolation: linear needs a number tag; %.200s is %s",
				 t->name, value_type_name(t->type));
			return false;
		} else if (s && strcmp(s, "linear") == 0)
			m->interpolation = STORE_INTERP_LINEAR;
		else {
			snprintf(why, why_len, "interpolation: \"step\", \"linear\" or null");
			return false;
		}
		return true;
	}
	if (strcmp(key, "display_digits") == 0) {
		if (json_is_null(v)) {
			m->display_digits = -1;
			return true;
		}
		if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 17) {
			snprintf(why, why_len, "display_digits: a whole number from 0 to 17, or null");
			return false;
		}
		m->display_digits = (int)json_integer_value(v);
		return true;
	}
	if (strcmp(key, "stale_timeout_ns") == 0) {
		if (json_is_null(v)) {
			m->stale_timeout_ns = 0;
			return true;
		}
		if (!json_is_integer(v) || json_integer_value(v) < 0) {
			snprintf(why, why_len, "stale_timeout_ns: a whole number of nanoseconds >= 0");
			return false;
		}
		m->stale_timeout_ns = json_integer_value(v);
		return true;
	}
	if (strcmp(key, "stale_timeout") == 0) {
		const char *s = json_string_value(v);
		char err[256];
		int64_t ns = 0;
		if (!json_is_null(v) &&
		    (!s || timeexpr_parse_duration(s, strlen(s), &ns, err, sizeof err) != 0)) {
			snprintf(why, why_len, "stale_timeout: a duration such as \"5m\" (0s or null: "
				 "never stale)");
			return false;
		}
		m->stale_timeout_ns = ns;
		return true;
	}
	snprintf(why, why_len, "%.64s: not a metadata field (unit, description, eng_low, eng_high, "
		 "interpolation, display_digits, stale_timeout, stale_timeout_ns)", key);
	return false;
}

static enum MHD_Result tag_patch(struct qparams *qp, const struct query_tag *t)
{
	struct http_request *req = qp->req;
	struct store_tag_meta m;
	json_error_t jerr;
	json_t *doc, *v;
	const char *key;
	char why[STORE_ERROR_MAX];
	int rc;

	doc = json_loadb(req->body.data ? req->body.data : "", req->body.len, 0, &jerr);
	if (!doc || !json_is_object(doc)) {
		json_decref(doc);
		return http_reply_error(req, 400, "bad_json",
					"body: a JSON object of metadata fields expected (%s)",
					doc ? "not an object" : jerr.text);
	}
	if ((rc = store_tag_meta_get(qp->store, t->id, &m)) != 0) {
		json_decref(doc);
		return qp_reply_engine_error(qp, rc, t->name);
	}
	json_object_foreach(doc, key, v) {
		if (!patch_field(key, v, t, &m, why, sizeof why)) {
			json_decref(doc);
			return http_reply_error(req, 400, "bad_metadata", "%s", why);
		}
	}
	json_decref(doc);
	if (!isnan(m.eng_low) && !isnan(m.eng_high) && !(m.eng_low < m.eng_high))
		return http_reply_error(req, 400, "bad_metadata",
					"eng_low/eng_high: the range [%g, %g] is empty: eng_low must be "
					"below eng_high", m.eng_low, m.eng_high);
	if ((!isnan(m.eng_low) && !isfinite(m.eng_low)) || (!isnan(m.eng_high) && !isfinite(m.eng_high)))
		return http_reply_error(req, 400, "bad_metadata", "eng_low/eng_high: finite numbers");
	rc = store_tag_meta_set(qp->store, t->id, &m, why);
	if (rc == -EINVAL)
		return http_reply_error(req, 400, "bad_metadata", "%s", why);
	if (rc != 0)
		return http_reply_error(req, rc == -ENOSPC ? 507 : 500, "write_failed",
					"%s: metadata not saved: %s", t->name, hs_strerror(rc));
	return tag_detail(qp, t);
}

enum MHD_Result route_tag(struct http_request *req)
{
	const char *name = req->url + strlen(TAGS_PREFIX);
	struct qparams qp;
	struct query_tag t;
	enum MHD_Result res;
	int rc;

	static const char *const params[] = {"time_format", NULL};

	if (!qp_init(&qp, req, params))
		return qp.result;
	rc = query_tag_get(qp.store, name, strlen(name), &t);
	if (rc != 0)
		res = http_reply_error(req, rc == -ENOENT ? 404 : 500,
				       rc == -ENOENT ? "unknown_tag" : "read_failed",
				       "%.200s: %s", name, rc == -ENOENT ? "no such tag" : hs_strerror(rc));
	else if (req->method == HTTP_PATCH)
		res = tag_patch(&qp, &t);
	else
		res = tag_detail(&qp, &t);
	qp_free(&qp);
	return res;
}

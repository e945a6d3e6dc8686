/* query_params.c: shared parsing of the query endpoints' parameters, behind query_params.h.
 * Messages always start with the parameter's name, so a script author sees at once which one to fix. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/clock.h"
#include "lib/hs_error.h"
#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/timefmt.h"
#include "lib/vec.h"
#include "web/query_params.h"

#define ERR_MAX 512

const char *qp_arg(const struct qparams *qp, const char *name)
{
	return MHD_lookup_connection_value(qp->req->conn, MHD_GET_ARGUMENT_KIND, name);
}

bool qp_fail(struct qparams *qp, unsigned status, const char *code, const char *fmt, ...)
{
	char msg[ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	qp->result = http_reply_error(qp->req, status, code, "%s", msg);
	return false;
}

enum MHD_Result qp_reply_engine_error(struct qparams *qp, int rc, const char *what)
{
	switch (rc) {
	case -ENOENT:
		return http_reply_error(qp->req, 404, "unknown_tag", "%s: no such tag", what);
	case -E2BIG:
		return http_reply_error(qp->req, 422, "too_many_points",
					"%s: the answer would hold more than max_points (%" PRIu64
					") values: narrow the range, widen the interval or use export",
					what, qp->req->app->limits.max_points);
	case -ETIMEDOUT:
		return http_reply_error(qp->req, 503, "query_timeout",
					"%s: the query ran longer than the query timeout (%" PRIu64
					" ms): narrow the range or ask for fewer tags",
					what, qp->req->app->limits.timeout_ms);
	default:
		return http_reply_error(qp->req, 500, "read_failed", "%s: reading failed: %s", what,
					hs_strerror(rc));
	}
}

/* timeexpr's "today": the zone's local midnight. */
static int64_t zone_day_start(void *arg, int64_t utc_ns)
{
	int64_t s, n;

	if (tz_floor(arg, utc_ns, TZ_DAY, &s, &n) != 0)
		return utc_ns;
	return s;
}

static const char *const time_formats[] = {"rfc3339", "s", "ms", "us", "ns", NULL};

bool qp_init(struct qparams *qp, struct http_request *req, const char *const *known)
{
	const char *zone;
	char err[TZ_ERR_LEN];
	int fmt = QP_TIME_RFC3339;

	memset(qp, 0, sizeof *qp);
	qp->req = req;
	qp->store = req->app->store;
	qp->now_ns = clock_real_ns();
	qp->deadline_ns = clock_mono_ns() + req->app->limits.timeout_ms * 1000000ull;
	if (!qp_known(qp, known))
		return false;
	zone = qp_arg(qp, "tz");
	qp->tz = tz_get(zone && *zone ? zone : "UTC", err);
	if (!qp->tz) {
		/* err may name a server path: log it, do not send it. */
		log_debug("http", "tz=%.64s: %s", zone, err);
		return qp_fail(qp, 400, "bad_parameter",
			       "tz: \"%.64s\" is not a time zone this server knows (an IANA name "
			       "such as Europe/Berlin, or UTC)", zone);
	}
	qp->tctx = (struct timeexpr_ctx){qp->now_ns, zone_day_start, (void *)qp->tz};
	if (!qp_choice(qp, "time_format", time_formats, &fmt))
		return false;
	qp->time_format = (enum qp_time_format)fmt;
	return true;
}

void qp_free(struct qparams *qp)
{
	free(qp->skipped);
	qp->skipped = NULL;
	free(qp->tags);
	qp->tags = NULL;
	qp->ntags = 0;
}

/* --- tags --------------------------------------------------------------- */

struct tag_walk {
	struct qparams *qp;
	bool failed;
	int rc;
	size_t cap;
	size_t explicit_count; /* tags named by tag=; the selector's come after */
};

/* Record id (resolved later: the catalog's search callback may not call
 * back into the catalog). 1 when over the limit, -ENOMEM, 0. Only the
 * explicitly named tags need a repeat check: a search yields each id once. */
static int add_tag(struct tag_walk *w, uint32_t id)
{
	struct qparams *qp = w->qp;

	for (size_t i = 0; i < w->explicit_count; i++)
		if (qp->tags[i].id == id)
			return 0;
	if (qp->ntags >= qp->req->app->limits.max_tags)
		return 1;
	if (vec_grow(&qp->tags, &w->cap, qp->ntags, sizeof *qp->tags) != 0)
		return -ENOMEM;
	qp->tags[qp->ntags++].id = id;
	return 0;
}

/* Fill in every recorded tag; a tag that vanished cannot happen (tags are
 * never deleted), so any failure is an error. */
static int resolve_tags(struct qparams *qp)
{
	for (size_t i = 0; i < qp->ntags; i++) {
		int rc = query_tag_by_id(qp->store, qp->tags[i].id, &qp->tags[i]);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static enum MHD_Result each_tag_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				    const char *value)
{
	struct tag_walk *w = cls;
	enum value_type type;
	uint32_t id;

	(void)kind;
	if (strcasecmp(key, "tag") != 0)
		return MHD_YES;
	if (!value || !*value) {
		w->failed = !qp_fail(w->qp, 400, "bad_parameter", "tag: empty tag name");
		return MHD_NO;
	}
	if (store_tag_find(w->qp->store, value, strlen(value), &id, &type) != 0) {
		w->failed = !qp_fail(w->qp, 404, "unknown_tag", "tag: no tag named \"%.200s\"", value);
		return MHD_NO;
	}
	w->rc = add_tag(w, id);
	w->explicit_count = w->qp->ntags;
	return w->rc == 0 ? MHD_YES : MHD_NO;
}

static int select_one(void *arg, uint32_t id, const char *name, enum value_type type)
{
	(void)name;
	(void)type;
	return add_tag(arg, id);
}

static enum MHD_Result each_label_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				      const char *value)
{
	struct qp_labels *l = cls;
	char *eq;

	(void)kind;
	if (strcasecmp(key, "label") != 0)
		return MHD_YES;
	if (l->n == STORE_FIND_LABELS_MAX) {
		l->too_many = true;
		return MHD_NO;
	}
	if (!value || !(eq = strchr(value, '=')) || eq == value || !eq[1]) {
		l->bad = true;
		return MHD_NO;
	}
	l->text[l->n] = strdup(value);
	if (!l->text[l->n]) {
		l->oom = true;
		return MHD_NO;
	}
	l->text[l->n][eq - value] = '\0';
	l->labels[l->n] = (struct store_label){l->text[l->n], l->text[l->n] + (eq - value) + 1};
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->labels[i].key, l->labels[l->n].key) == 0) {
			l->duplicate = i + 1; /* reported by its key */
			free(l->text[l->n]);
			return MHD_NO;
		}
	l->n++;
	return MHD_YES;
}

bool qp_labels_parse(struct qparams *qp, struct qp_labels *l)
{
	memset(l, 0, sizeof *l);
	MHD_get_connection_values(qp->req->conn, MHD_GET_ARGUMENT_KIND, each_label_arg, l);
	if (l->bad || l->too_many)
		return qp_fail(qp, 400, "bad_parameter",
			       l->bad ? "label: expected KEY=VALUE" : "label: at most %d label selectors",
			       STORE_FIND_LABELS_MAX);
	if (l->duplicate)
		return qp_fail(qp, 400, "bad_parameter",
			       "label: key \"%.64s\" given twice (a tag has one value per key)",
			       l->labels[l->duplicate - 1].key);
	if (l->oom)
		return qp_fail(qp, 500, "out_of_memory", "out of memory");
	return true;
}

void qp_labels_free(struct qp_labels *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->text[i]);
	l->n = 0;
}

bool qp_tags(struct qparams *qp)
{
	struct tag_walk w = {.qp = qp};
	struct qp_labels l;
	const char *glob = qp_arg(qp, "match");
	bool ok = true;

	MHD_get_connection_values(qp->req->conn, MHD_GET_ARGUMENT_KIND, each_tag_arg, &w);
	if (w.failed)
		return false;
	if (!qp_labels_parse(qp, &l)) {
		qp_labels_free(&l);
		return false;
	}
	if (glob && !*glob) {
		ok = qp_fail(qp, 400, "bad_parameter", "match: empty pattern");
		goto out;
	}
	qp->explicit_tags = qp->ntags;
	if (w.rc == 0 && (glob || l.n))
		w.rc = store_tags_find(qp->store, glob, l.labels, l.n, 0, 0, select_one, &w);
	if (w.rc == 0)
		w.rc = resolve_tags(qp);
	if (w.rc == 1) {
		ok = qp_fail(qp, 422, "too_many_tags",
			     "tag: the request selects more than max_tags (%" PRIu64
			     ") tags: narrow match= or label=",
			     qp->req->app->limits.max_tags);
	} else if (w.rc != 0) {
		qp->result = qp_reply_engine_error(qp, w.rc, "tag");
		ok = false;
	} else if (qp->ntags == 0) {
		ok = qp_fail(qp, glob || l.n ? 404 : 400, glob || l.n ? "no_match" : "bad_parameter",
			     glob || l.n ? "match/label: no tag matches"
					 : "tag: give tag=NAME, match=GLOB or label=KEY=VALUE");
	}
out:
	qp_labels_free(&l);
	return ok;
}

/* --- scalars ------------------------------------------------------------ */

bool qp_time(struct qparams *qp, const char *name, const char *text, int64_t *out)
{
	char err[256];

	if (timeexpr_parse_time(text, strlen(text), &qp->tctx, out, err, sizeof err) != 0)
		return qp_fail(qp, 400, "bad_parameter", "%s: %s", name, err);
	return true;
}

bool qp_range(struct qparams *qp, int64_t default_span_ns, int64_t *start, int64_t *end)
{
	const char *s = qp_arg(qp, "start"), *e = qp_arg(qp, "end");

	*end = qp->now_ns;
	if (e && !qp_time(qp, "end", e, end))
		return false;
	if (s) {
		if (!qp_time(qp, "start", s, start))
			return false;
	} else {
		*start = *end > INT64_MIN + default_span_ns ? *end - default_span_ns : INT64_MIN;
	}
	if (*start >= *end)
		return qp_fail(qp, 400, "bad_parameter", "start: must be before end");
	return true;
}

bool qp_duration(struct qparams *qp, const char *name, bool required, int64_t *out)
{
	const char *v = qp_arg(qp, name);
	char err[256];

	if (!v) {
		if (required)
			return qp_fail(qp, 400, "bad_parameter", "%s: missing", name);
		return true;
	}
	if (timeexpr_parse_duration(v, strlen(v), out, err, sizeof err) != 0)
		return qp_fail(qp, 400, "bad_parameter", "%s: %s", name, err);
	return true;
}

bool qp_uint(struct qparams *qp, const char *name, uint64_t min, uint64_t max, uint64_t *out)
{
	const char *v = qp_arg(qp, name);
	unsigned long long n;
	char *end;

	if (!v)
		return true;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (!*v || *end || errno || v[0] == '-' || n < min || n > max)
		return qp_fail(qp, 400, "bad_parameter",
			       "%s: \"%.64s\" is not a whole number from %" PRIu64 " to %" PRIu64,
			       name, v, min, max);
	*out = n;
	return true;
}

bool qp_choice(struct qparams *qp, const char *name, const char *const *choices, int *out)
{
	const char *v = qp_arg(qp, name);
	char list[256] = "";

	if (!v)
		return true;
	for (int i = 0; choices[i]; i++) {
		if (strcmp(v, choices[i]) == 0) {
			*out = i;
			return true;
		}
		snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
			 choices[i]);
	}
	return qp_fail(qp, 400, "bad_parameter", "%s: \"%.64s\" is not one of %s", name, v, list);
}

bool qp_quality(struct qparams *qp, enum agg_quality_mode *out)
{
	static const char *const modes[] = {"not_bad", "good", "all", NULL};
	int m = AGG_QMODE_NOT_BAD;

	if (!qp_choice(qp, "quality", modes, &m))
		return false;
	*out = (enum agg_quality_mode)m;
	return true;
}

/* --- rendering ---------------------------------------------------------- */

size_t qp_u64_text(uint64_t v, char *buf)
{
	/* Two digits per division: times in answers are 13 to 19 digits. */
	static const char pairs[201] = "00010203040506070809101112131415161718192021222324"
				       "25262728293031323334353637383940414243444546474849"
				       "50515253545556575859606162636465666768697071727374"
				       "75767778798081828384858687888990919293949596979899";
	char tmp[20];
	size_t at = sizeof tmp, n;

	while (v >= 100) {
		unsigned r = (unsigned)(v % 100);
		v /= 100;
		at -= 2;
		memcpy(tmp + at, pairs + 2 * r, 2);
	}
	if (v >= 10) {
		at -= 2;
		memcpy(tmp + at, pairs + 2 * v, 2);
	} else {
		tmp[--at] = (char)('0' + v);
	}
	n = sizeof tmp - at;
	memcpy(buf, tmp + at, n);
	buf[n] = '\0';
	return n;
}

/* ns as a decimal of unit (10^digits ns), trailing zeros of the fraction
 * dropped; by hand, since exports write millions of them. */
static size_t epoch_text(int64_t ns, int digits, char *buf)
{
	uint64_t unit = 1, mag = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns, frac;
	size_t n = 0;

	for (int i = 0; i < digits; i++)
		unit *= 10;
	if (ns < 0)
		buf[n++] = '-';
	n += qp_u64_text(mag / unit, buf + n);
	frac = mag % unit;
	if (frac) {
		int d = digits;
		while (frac % 10 == 0) {
			frac /= 10;
			d--;
		}
		buf[n++] = '.';
		for (int i = d - 1; i >= 0; i--, frac /= 10)
			buf[n + (size_t)i] = (char)('0' + frac % 10);
		n += (size_t)d;
		buf[n] = '\0';
	}
	return n;
}

size_t qp_time_text(const struct qparams *qp, int64_t ns, char *buf)
{
	return qp_format_time(qp->time_format, ns, buf);
}

size_t qp_format_time(enum qp_time_format fmt, int64_t ns, char *buf)
{
	switch (fmt) {
	case QP_TIME_RFC3339: return timefmt_format_rfc3339(ns, buf);
	case QP_TIME_S: return epoch_text(ns, 9, buf);
	case QP_TIME_MS: return epoch_text(ns, 6, buf);
	case QP_TIME_US: return epoch_text(ns, 3, buf);
	case QP_TIME_NS: return epoch_text(ns, 0, buf);
	}
	return 0;
}

size_t qp_time_json(const struct qparams *qp, int64_t ns, char *buf)
{
	size_t n;

	if (qp->time_format != QP_TIME_RFC3339)
		return qp_time_text(qp, ns, buf);
	buf[0] = '"';
	n = timefmt_format_rfc3339(ns, buf + 1);
	buf[n + 1] = '"';
	buf[n + 2] = '\0';
	return n + 2;
}

const char *qp_quality_name(enum agg_result_quality q)
{
	return q == AGG_Q_GOOD ? "good" : q == AGG_Q_UNCERTAIN ? "uncertain" : "bad";
}

bool qp_too_large(struct qparams *qp, const struct strbuf *sb)
{
	return qp_fail(qp, 422, "response_too_large",
		       "the answer grew past max_response_size (%" PRIu64 " bytes, at %zu): narrow "
		       "the range or use /api/v1/export, which streams",
		       qp->req->app->limits.max_response_bytes, sb->len);
}

bool qp_numeric_tags(struct qparams *qp, const char *endpoint)
{
	size_t kept = 0, explicit_kept = 0;

	for (size_t i = 0; i < qp->ntags; i++) {
		if (qp->tags[i].type != VALUE_STRING) {
			explicit_kept += i < qp->explicit_tags;
			qp->tags[kept++] = qp->tags[i];
			continue;
		}
		if (i < qp->explicit_tags)
			return qp_fail(qp, 400, "bad_parameter",
				       "tag: %.200s is a string tag: %s needs numbers or booleans",
				       qp->tags[i].name, endpoint);
		if (!qp->skipped && !(qp->skipped = calloc(qp->ntags, sizeof *qp->skipped)))
			return qp_fail(qp, 500, "out_of_memory", "out of memory");
		qp->skipped[qp->nskipped++] = qp->tags[i].name;
	}
	qp->ntags = kept;
	qp->explicit_tags = explicit_kept;
	if (kept == 0)
		return qp_fail(qp, 400, "bad_parameter",
			       "match/label: every selected tag is a string tag: %s needs numbers or "
			       "booleans", endpoint);
	return true;
}

void qp_put_skipped(const struct qparams *qp, struct jsonw *w)
{
	if (!qp->nskipped)
		return;
	jsonw_key(w, "skipped");
	jsonw_arr_begin(w);
	for (size_t i = 0; i < qp->nskipped; i++)
		jsonw_str(w, qp->skipped[i]);
	jsonw_arr_end(w);
}

struct known_walk {
	const char *const *known;
	const char *unknown;
};

static enum MHD_Result each_arg_known(void *cls, enum MHD_ValueKind kind, const char *key,
				      const char *value)
{
	struct known_walk *k = cls;

	(void)kind;
	(void)value;
	for (size_t i = 0; k->known[i]; i++)
		if (strcasecmp(key, k->known[i]) == 0)
			return MHD_YES;
	k->unknown = key;
	return MHD_NO;
}

bool qp_known(struct qparams *qp, const char *const *known)
{
	struct known_walk k = {known, NULL};
	char list[512] = "";

	MHD_get_connection_values(qp->req->conn, MHD_GET_ARGUMENT_KIND, each_arg_known, &k);
	if (!k.unknown)
		return true;
	for (size_t i = 0; known[i]; i++)
		snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
			 known[i]);
	return qp_fail(qp, 400, "bad_parameter", "%.64s: not a parameter of this endpoint (it takes %s)",
		       k.unknown, list);
}

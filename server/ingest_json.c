/* ingest_json.c: JSON writes into ingest batches: {"samples": [{"tag","t","v","q"}]} and {"tag", "samples": [[t,v,q]]}.
 * jansson parses the body; each sample is checked on its own, so one bad sample refuses only itself. */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "lib/hs_error.h"
#include "lib/timefmt.h"
#include "server/ingest.h"
#include "server/ingest_int.h"

static const int64_t precision_ns[] = {1, 1000, 1000000, 1000000000, 60000000000LL,
				       3600000000000LL};

/* t: RFC 3339 text, an epoch number in the precision, or absent (now). */
static int json_time(const json_t *t, enum lp_precision prec, int64_t now_ns, int64_t *ns)
{
	if (!t) {
		*ns = now_ns;
		return 0;
	}
	if (json_is_string(t))
		return timefmt_parse_rfc3339(json_string_value(t), json_string_length(t), ns);
	if (json_is_integer(t)) {
		json_int_t v = json_integer_value(t);
		int64_t unit = precision_ns[prec];
		if (v > INT64_MAX / unit || v < INT64_MIN / unit)
			return -1;
		*ns = (int64_t)v * unit;
		return 0;
	}
	if (json_is_real(t)) {
		double v = json_real_value(t) * (double)precision_ns[prec];
		if (!(v > -9.2e18 && v < 9.2e18))
			return -1;
		*ns = (int64_t)v;
		return 0;
	}
	return -1;
}

/* v into p's type and value. An integer JSON number becomes an int64
 * sample only for a tag that already holds integers; otherwise numbers
 * are float64 (JSON does not say which the sender meant). */
static int json_value(struct ingest_batch *b, const json_t *v, const char *tag, size_t tag_len,
		      struct pending_sample *p)
{
	uint32_t id;
	enum value_type existing;

	if (json_is_integer(v)) {
		if (store_tag_find(b->ing->st, tag, tag_len, &id, &existing) == 0 &&
		    existing == VALUE_INT64) {
			p->type = VALUE_INT64;
			p->v.i64 = json_integer_value(v);
		} else {
			p->type = VALUE_FLOAT64;
			p->v.f64 = (double)json_integer_value(v);
		}
		return 0;
	}
	if (json_is_real(v)) {
		p->type = VALUE_FLOAT64;
		p->v.f64 = json_real_value(v);
		return 0;
	}
	if (json_is_boolean(v)) {
		p->type = VALUE_BOOL;
		p->v.i64 = json_is_true(v);
		return 0;
	}
	if (json_is_string(v)) {
		p->type = VALUE_STRING;
		p->v.s.len = (uint32_t)json_string_length(v);
		p->v.s.off = ingest__keep(b, json_string_value(v), p->v.s.len);
		return 0;
	}
	return -1;
}

static int json_quality(const json_t *q, quality_t *out)
{
	json_int_t v;

	*out = QUALITY_GOOD;
	if (!q)
		return 0;
	if (!json_is_integer(q) || (v = json_integer_value(q)) < 0 || v > 0xFFFFFFFFLL)
		return -1;
	*out = (quality_t)((uint64_t)v >> 16);
	return 0;
}

static int add_sample(struct ingest_batch *b, uint32_t index, const char *tag, size_t tag_len,
		      const json_t *t, const json_t *v, const json_t *q, enum lp_precision prec,
		      int64_t now_ns, struct ingest_report *rep)
{
	struct pending_sample p = {.line = index};

	rep->lines++;
	if (!tag || tag_len == 0)
		ingest__error(rep, index, 0, "sample without a \"tag\" string");
	else if (json_time(t, prec, now_ns, &p.ts_ns) != 0)
		ingest__error(rep, index, 0, "\"t\" is not an RFC 3339 time or an epoch number");
	else if (!v || json_value(b, v, tag, tag_len, &p) != 0)
		ingest__error(rep, index, 0, "\"v\" must be a number, a boolean or a string");
	else if (json_quality(q, &p.quality) != 0)
		ingest__error(rep, index, 0, "\"q\" must be an OPC UA status code (integer)");
	else if (tag_len > 1024)
		ingest__error(rep, index, 0, "tag name longer than 1024 bytes");
	else {
		int rc = ingest__name(b, tag, tag_len, p.type, NULL, 0, &p.name);
		return rc ? rc : ingest__add(b, &p);
	}
	return 0;
}

/* {"samples": [{"tag": ..., "t": ..., "v": ..., "q": ...}, ...]} */
static int many_tags(struct ingest_batch *b, const json_t *samples, enum lp_precision prec,
		     int64_t now_ns, struct ingest_report *rep)
{
	size_t i;
	json_t *s;
	int rc = 0;

	json_array_foreach(samples, i, s) {
		const json_t *tag = json_object_get(s, "tag");
		if (!json_is_object(s)) {
			rep->lines++;
			ingest__error(rep, (uint32_t)i + 1, 0, "a sample must be an object");
			continue;
		}
		rc = add_sample(b, (uint32_t)i + 1, json_is_string(tag) ? json_string_value(tag) : NULL,
				json_is_string(tag) ? json_string_length(tag) : 0,
				json_object_get(s, "t"), json_object_get(s, "v"),
				json_object_get(s, "q"), prec, now_ns, rep);
		if (rc != 0)
			break;
	}
	return rc;
}

/* {"tag": "...", "samples": [[t, v], [t, v, q], ...]} */
static int one_tag(struct ingest_batch *b, const json_t *tag, const json_t *samples,
		   enum lp_precision prec, int64_t now_ns, struct ingest_report *rep)
{
	size_t i;
	json_t *s;
	int rc = 0;

	json_array_foreach(samples, i, s) {
		size_t n = json_is_array(s) ? json_array_size(s) : 0;
		if (n < 2 || n > 3) {
			rep->lines++;
			ingest__error(rep, (uint32_t)i + 1, 0, "a sample must be [t, v] or [t, v, q]");
			continue;
		}
		rc = add_sample(b, (uint32_t)i + 1, json_string_value(tag), json_string_length(tag),
				json_array_get(s, 0), json_array_get(s, 1),
				n == 3 ? json_array_get(s, 2) : NULL, prec, now_ns, rep);
		if (rc != 0)
			break;
	}
	return rc;
}

int ingest_parse_json(struct ingest *ing, const char *body, size_t len,
		      enum lp_precision precision, int64_t now_ns, struct ingest_batch **out,
		      struct ingest_report *rep)
{
	struct ingest_batch *b;
	json_error_t jerr;
	json_t *doc, *samples, *tag;
	int rc;

	*out = NULL;
	memset(rep, 0, sizeof *rep);
	doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc) {
		rep->lines = 1;
		ingest__error(rep, (uint32_t)jerr.line, (uint32_t)jerr.column, "invalid JSON: %s",
			      jerr.text);
		return 0;
	}
	samples = json_object_get(doc, "samples");
	tag = json_object_get(doc, "tag");
	if (!json_is_array(samples) || (tag && !json_is_string(tag))) {
		rep->lines = 1;
		ingest__error(rep, 1, 0, "expected {\"samples\": [...]} or {\"tag\": \"...\", \"samples\": [...]}");
		json_decref(doc);
		return 0;
	}
	if ((rc = ingest__batch_new(ing, &b)) != 0) {
		json_decref(doc);
		return rc;
	}
	rc = tag ? one_tag(b, tag, samples, precision, now_ns, rep)
		 : many_tags(b, samples, precision, now_ns, rep);
	json_decref(doc);
	if (rc != 0) {
		ingest_batch_free(b);
		return rc;
	}
	return ingest__finish(b, out, rep);
}

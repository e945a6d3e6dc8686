/* routes_raw.c: GET /api/v1/raw: the samples of one tag in [start, end), as JSON, to prove writes can be read back.
 * Small on purpose (issue D builds the query API around it): one tag, a limit, times as RFC 3339 and epoch ns. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hs_error.h"
#include "lib/timefmt.h"
#include "lib/utf8.h"
#include "storage/store.h"
#include "web/routes.h"

#define RAW_LIMIT_DEFAULT 10000
#define RAW_LIMIT_MAX 1000000

/* A time parameter: RFC 3339, or an integer of epoch nanoseconds with an
 * optional unit suffix (ns, us, ms, s). 0 or -1. */
static int parse_time_param(const char *text, int64_t *ns)
{
	static const struct { const char *suffix; int64_t mult; } units[] = {
		{"ns", 1}, {"us", 1000}, {"ms", 1000000}, {"s", 1000000000}, {"", 1},
	};
	char *end;
	long long v;

	if (timefmt_parse_rfc3339(text, strlen(text), ns) == 0)
		return 0;
	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno || end == text)
		return -1;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(end, units[i].suffix) == 0) {
			if (v > INT64_MAX / units[i].mult || v < INT64_MIN / units[i].mult)
				return -1;
			*ns = v * units[i].mult;
			return 0;
		}
	}
	return -1;
}

static json_t *value_json(const struct store_block *b, size_t i)
{
	switch (b->type) {
	case VALUE_FLOAT64: /* JSON has no NaN or infinity: they read as null */
		return isfinite(b->f64[i]) ? json_real(b->f64[i]) : json_null();
	case VALUE_INT64: return json_integer(b->i64[i]);
	case VALUE_BOOL: return json_boolean(b->i64[i]);
	case VALUE_STRING: {
		char clean[4096];
		if (utf8_valid(b->str[i], b->str_len[i]))
			return json_stringn(b->str[i], b->str_len[i]);
		utf8_sanitize(clean, sizeof clean, b->str[i], b->str_len[i]);
		return json_string(clean);
	}
	}
	return json_null();
}

static const char *type_text(enum value_type t)
{
	static const char *const names[] = {"?", "float", "integer", "boolean", "string"};
	return (unsigned)t <= 4 ? names[t] : "?";
}

/* Read up to limit samples into an array; *more says some were left. */
static int collect(struct store *st, uint32_t id, int64_t t0, int64_t t1, size_t limit,
		   json_t *out, bool *more)
{
	struct store_scan *sc;
	struct store_block b;
	size_t n = 0;
	int rc;

	*more = false;
	if ((rc = store_scan_open(st, id, t0, t1, &sc)) != 0)
		return rc;
	while ((rc = store_scan_next(sc, &b)) == 1) {
		for (size_t i = 0; i < b.count; i++) {
			char text[TIMEFMT_RFC3339_MAX];
			if (n == limit) {
				*more = true;
				goto done;
			}
			timefmt_format_rfc3339(b.ts_ns[i], text);
			json_array_append_new(out, json_pack("{s:s,s:I,s:o,s:i}", "t", text, "t_ns",
							     (json_int_t)b.ts_ns[i], "v",
							     value_json(&b, i), "q", b.quality[i]));
			n++;
		}
	}
done:
	store_scan_close(sc);
	return rc < 0 ? rc : 0;
}

enum MHD_Result route_raw(struct http_request *req)
{
	const char *tag = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "tag");
	const char *start = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "start");
	const char *end = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "end");
	const char *lim = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "limit");
	int64_t t0 = INT64_MIN, t1 = INT64_MAX;
	long long limit = RAW_LIMIT_DEFAULT;
	enum value_type type;
	uint32_t id;
	json_t *samples;
	bool more;
	int rc;

	if (!tag || !*tag)
		return http_reply_error(req, 400, "bad_parameter", "tag: missing");
	if (start && parse_time_param(start, &t0) != 0)
		return http_reply_error(req, 400, "bad_parameter",
					"start: \"%s\" is not an RFC 3339 time or epoch nanoseconds", start);
	if (end && parse_time_param(end, &t1) != 0)
		return http_reply_error(req, 400, "bad_parameter",
					"end: \"%s\" is not an RFC 3339 time or epoch nanoseconds", end);
	if (lim) {
		char *e;
		limit = strtoll(lim, &e, 10);
		if (*e || limit < 1 || limit > RAW_LIMIT_MAX)
			return http_reply_error(req, 400, "bad_parameter",
						"limit: \"%s\" is not a number from 1 to %d", lim,
						RAW_LIMIT_MAX);
	}
	if (store_tag_find(req->app->store, tag, strlen(tag), &id, &type) != 0)
		return http_reply_error(req, 404, "unknown_tag", "no tag named %s", tag);
	samples = json_array();
	rc = collect(req->app->store, id, t0, t1, (size_t)limit, samples, &more);
	if (rc != 0) {
		json_decref(samples);
		return http_reply_error(req, 500, "read_failed", "reading %s failed: %s", tag,
					hs_strerror(rc));
	}
	return http_reply_json_new(req, 200,
				   json_pack("{s:s,s:s,s:o,s:b}", "tag", tag, "type", type_text(type),
					     "samples", samples, "truncated", more));
}

/* query_params.h: the parameters the query endpoints share (tags, times, zone, quality, time format), parsed once.
 * Every parser that fails has queued a 400/404/422 reply naming the parameter; the handler returns qp->result. */
#ifndef HS_QUERY_PARAMS_H
#define HS_QUERY_PARAMS_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/strbuf.h"
#include "query/query.h"
#include "query/timeexpr.h"
#include "query/tz.h"
#include "web/http_request.h"

/* How times are written in answers. */
enum qp_time_format {
	QP_TIME_RFC3339, /* "2025-01-01T00:00:00.5Z" */
	QP_TIME_S,       /* 1735689600.5 */
	QP_TIME_MS,
	QP_TIME_US,
	QP_TIME_NS,      /* 1735689600500000000 */
};

struct qparams {
	struct http_request *req;
	struct store *store;
	int64_t now_ns;                 /* the wall clock, read once per request */
	uint64_t deadline_ns;           /* CLOCK_MONOTONIC limit of the request */
	const struct tz *tz;            /* tz= or UTC */
	struct timeexpr_ctx tctx;       /* now and the zone's days, for times */
	enum qp_time_format time_format;
	enum MHD_Result result;         /* what a failed parser queued */
	struct query_tag *tags;         /* qp_tags(); freed by qp_free */
	size_t ntags;
	size_t explicit_tags;           /* tags[0..explicit_tags) were named by tag= */
	const char **skipped;           /* qp_numeric_tags(): string tags a selector matched */
	size_t nskipped;
};

/* Read the clock, set the deadline, refuse parameters not in known (see
 * qp_known), parse tz= and time_format=. false (reply queued) when one is
 * invalid. */
bool qp_init(struct qparams *qp, struct http_request *req, const char *const *known);
void qp_free(struct qparams *qp);

/* Refuse a parameter not in known (NULL-terminated; names compare
 * case-insensitively, as libmicrohttpd's lookups do): a misspelt
 * parameter is a 400, not silently ignored. */
bool qp_known(struct qparams *qp, const char *const *known);

/* The value of a query parameter or NULL. */
const char *qp_arg(const struct qparams *qp, const char *name);

/* Queue an error reply; returns false so parsers can `return qp_fail(...)`. */
bool qp_fail(struct qparams *qp, unsigned status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Queue the reply a query engine or storage error deserves (404 unknown
 * tag, 422 too many points, 503 timeout, 500 otherwise), naming what. */
enum MHD_Result qp_reply_engine_error(struct qparams *qp, int rc, const char *what);

/* The tags of the request: every tag=NAME (in order), then the tags that
 * match=GLOB and every label=KEY=VALUE select (id order), without repeats.
 * At least one is needed; more than the configured max_tags is 422. An
 * unknown tag=NAME is 404. */
bool qp_tags(struct qparams *qp);

/* Every label=KEY=VALUE of the request (at most STORE_FIND_LABELS_MAX). */
struct qp_labels {
	struct store_label labels[STORE_FIND_LABELS_MAX];
	char *text[STORE_FIND_LABELS_MAX];
	size_t n;
	bool bad, too_many, oom;
	size_t duplicate;              /* the index + 1 of a key given twice */
};

bool qp_labels_parse(struct qparams *qp, struct qp_labels *l);
void qp_labels_free(struct qp_labels *l);

/* For the endpoints that compute on numbers: a string tag named by tag= is
 * a 400; string tags that match= or label= selected are dropped from
 * tags and listed in skipped (the answer says so); none left is a 400. */
bool qp_numeric_tags(struct qparams *qp, const char *endpoint);

/* Write "skipped": [names] into an answer object when tags were skipped. */
struct jsonw;
void qp_put_skipped(const struct qparams *qp, struct jsonw *w);

/* start= and end= (time expressions): end defaults to now, start to end
 * minus default_span_ns; start < end required. */
bool qp_range(struct qparams *qp, int64_t default_span_ns, int64_t *start, int64_t *end);

/* A time expression parameter (required). */
bool qp_time(struct qparams *qp, const char *name, const char *text, int64_t *out);

/* A duration parameter: *out untouched when absent and not required. */
bool qp_duration(struct qparams *qp, const char *name, bool required, int64_t *out);

/* An unsigned parameter within [min, max]; *out untouched when absent. */
bool qp_uint(struct qparams *qp, const char *name, uint64_t min, uint64_t max, uint64_t *out);

/* A parameter that is one of choices (NULL-terminated); *out is its index,
 * untouched when absent. */
bool qp_choice(struct qparams *qp, const char *name, const char *const *choices, int *out);

/* quality=not_bad|good|all (default not_bad). */
bool qp_quality(struct qparams *qp, enum agg_quality_mode *out);

/* A time in the request's time format, as JSON text (a quoted string or a
 * number) into buf (48 bytes); returns the length. */
#define QP_TIME_TEXT_MAX 48
size_t qp_time_json(const struct qparams *qp, int64_t ns, char *buf);
/* The same without quotes (CSV). */
size_t qp_time_text(const struct qparams *qp, int64_t ns, char *buf);
size_t qp_format_time(enum qp_time_format fmt, int64_t ns, char *buf);

/* v in decimal into buf (21 bytes), NUL-terminated; returns the length. */
size_t qp_u64_text(uint64_t v, char *buf);

/* Quality as the API names it. */
const char *qp_quality_name(enum agg_result_quality q);

/* The response buffer grew past max_response_size: queue 422 and free it. */
bool qp_too_large(struct qparams *qp, const struct strbuf *sb);

#endif

/* routes_export.c: GET /api/v1/export: samples as CSV or JSON lines, long or wide, streamed as the client reads.
 * Memory stays constant whatever the range: one block per tag iterator and one output chunk, gzip'd when asked. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "lib/clock.h"
#include "lib/csvw.h"
#include "lib/hs_error.h"
#include "lib/jsonw.h"
#include "lib/log.h"
#include "lib/strbuf.h"
#include "web/query_params.h"
#include "web/routes.h"

#define EXPORT_CHUNK_BYTES (64 * 1024) /* text produced per refill */
#define EXPORT_BLOCK_BYTES (32 * 1024) /* what MHD asks for at most per call */

enum export_format { EXPORT_CSV, EXPORT_JSONL };
enum export_layout { EXPORT_LONG, EXPORT_WIDE };

struct export_state {
	struct store *store;
	struct query_tag *tags;      /* owned copy */
	size_t ntags;
	int64_t start, end;
	uint64_t deadline_ns;
	enum export_format format;
	enum export_layout layout;
	enum qp_time_format time_format;
	/* long: one tag after the other; wide: every tag at once */
	struct query_raw **it;
	struct query_sample *cur;    /* each iterator's next sample */
	bool *have;
	char **str_copy;             /* wide: a string value kept past its iterator's next call */
	size_t tag_index;            /* long: the tag being written */
	bool header_done, finished, failed;
	uint64_t rows;
	struct strbuf text;          /* rows produced, not yet compressed */
	struct strbuf out;           /* bytes ready for the client */
	size_t out_off;
	bool gzip;
	z_stream zs;
	bool zs_open;
};

static void export_free(void *cls)
{
	struct export_state *x = cls;

	if (!x)
		return;
	for (size_t i = 0; x->it && i < x->ntags; i++)
		query_raw_close(x->it[i]);
	for (size_t i = 0; x->str_copy && i < x->ntags; i++)
		free(x->str_copy[i]);
	if (x->zs_open)
		deflateEnd(&x->zs);
	log_debug("http", "export: %" PRIu64 " rows%s", x->rows, x->failed ? " (failed)" : "");
	free(x->it);
	free(x->cur);
	free(x->have);
	free(x->str_copy);
	free(x->tags);
	strbuf_free(&x->text);
	strbuf_free(&x->out);
	free(x);
}

static void put_time(struct export_state *x, int64_t ns)
{
	char buf[QP_TIME_TEXT_MAX];
	size_t n = qp_format_time(x->time_format, ns, buf);

	if (x->format == EXPORT_JSONL && x->time_format == QP_TIME_RFC3339) {
		strbuf_append(&x->text, "\"", 1);
		strbuf_append(&x->text, buf, n);
		strbuf_append(&x->text, "\"", 1);
	} else {
		strbuf_append(&x->text, buf, n);
	}
}

/* A value as CSV field text or as a JSON value. */
static void put_value(struct export_state *x, enum value_type type, const struct query_sample *s)
{
	char buf[JSONW_DOUBLE_BUF > 24 ? JSONW_DOUBLE_BUF : 24];
	size_t n;

	switch (type) {
	case VALUE_FLOAT64:
		if (!isfinite(s->f64)) {
			/* JSON has no NaN or infinity; CSV readers know these words. */
			strbuf_puts(&x->text, x->format == EXPORT_JSONL ? "null"
					      : isnan(s->f64)        ? "NaN"
					      : s->f64 > 0           ? "Infinity"
								     : "-Infinity");
			return;
		}
		n = jsonw_format_double(s->f64, buf);
		strbuf_append(&x->text, buf, n);
		return;
	case VALUE_INT64:
		n = (size_t)snprintf(buf, sizeof buf, "%" PRId64, s->i64);
		strbuf_append(&x->text, buf, n);
		return;
	case VALUE_BOOL:
		strbuf_puts(&x->text, s->i64 ? "true" : "false");
		return;
	case VALUE_STRING:
		if (x->format == EXPORT_CSV) {
			csvw_field(&x->text, s->str, s->str_len);
		} else {
			struct jsonw w;
			jsonw_init(&w, &x->text);
			jsonw_strn(&w, s->str, s->str_len);
		}
		return;
	}
}

static void put_name(struct export_state *x, const char *name)
{
	if (x->format == EXPORT_CSV) {
		csvw_field(&x->text, name, strlen(name));
	} else {
		struct jsonw w;
		jsonw_init(&w, &x->text);
		jsonw_str(&w, name);
	}
}

static void write_header(struct export_state *x)
{
	x->header_done = true;
	if (x->format != EXPORT_CSV)
		return;
	if (x->layout == EXPORT_LONG) {
		strbuf_puts(&x->text, "tag,time,value,quality\r\n");
		return;
	}
	strbuf_puts(&x->text, "time");
	for (size_t i = 0; i < x->ntags; i++) {
		strbuf_append(&x->text, ",", 1);
		put_name(x, x->tags[i].name);
	}
	strbuf_puts(&x->text, "\r\n");
}

static void long_row(struct export_state *x, const struct query_tag *t, const struct query_sample *s)
{
	char q[8];
	size_t n = (size_t)snprintf(q, sizeof q, "%u", (unsigned)s->quality);

	if (x->format == EXPORT_CSV) {
		put_name(x, t->name);
		strbuf_append(&x->text, ",", 1);
		put_time(x, s->ts);
		strbuf_append(&x->text, ",", 1);
		put_value(x, t->type, s);
		strbuf_append(&x->text, ",", 1);
		strbuf_append(&x->text, q, n);
		strbuf_append(&x->text, "\r\n", 2);
	} else {
		strbuf_puts(&x->text, "{\"tag\":");
		put_name(x, t->name);
		strbuf_puts(&x->text, ",\"t\":");
		put_time(x, s->ts);
		strbuf_puts(&x->text, ",\"v\":");
		put_value(x, t->type, s);
		strbuf_puts(&x->text, ",\"q\":");
		strbuf_append(&x->text, q, n);
		strbuf_puts(&x->text, "}\n");
	}
	x->rows++;
}

/* Long layout: until the chunk is full, the next samples of the tag at
 * hand, then the next tag. 0, or an engine error. */
static int produce_long(struct export_state *x)
{
	struct query_sample s;
	int rc;

	while (x->text.len < EXPORT_CHUNK_BYTES && x->tag_index < x->ntags) {
		const struct query_tag *t = &x->tags[x->tag_index];
		if (!x->it[x->tag_index] &&
		    (rc = query_raw_open(x->store, t, x->start, x->end, false,
					 &x->it[x->tag_index])) != 0)
			return rc;
		while (x->text.len < EXPORT_CHUNK_BYTES &&
		       (rc = query_raw_next(x->it[x->tag_index], &s)) == 1)
			long_row(x, t, &s);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			query_raw_close(x->it[x->tag_index]);
			x->it[x->tag_index] = NULL;
			x->tag_index++;
		}
	}
	x->finished = x->tag_index == x->ntags;
	return 0;
}

/* Wide: advance iterator i, keeping a string value in str_copy[i]. */
static int wide_advance(struct export_state *x, size_t i)
{
	int rc = query_raw_next(x->it[i], &x->cur[i]);

	x->have[i] = rc == 1;
	if (rc == 1 && x->tags[i].type == VALUE_STRING) {
		char *copy = realloc(x->str_copy[i], x->cur[i].str_len + 1);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, x->cur[i].str, x->cur[i].str_len);
		x->str_copy[i] = copy;
		x->cur[i].str = copy;
	}
	return rc < 0 ? rc : 0;
}

/* Wide layout: one row per distinct time across the tags (a k-way merge). */
static int produce_wide(struct export_state *x)
{
	int rc;

	if (!x->it[0]) {
		for (size_t i = 0; i < x->ntags; i++)
			if ((rc = query_raw_open(x->store, &x->tags[i], x->start, x->end, false,
						 &x->it[i])) != 0 ||
			    (rc = wide_advance(x, i)) != 0)
				return rc;
	}
	while (x->text.len < EXPORT_CHUNK_BYTES) {
		int64_t t = INT64_MAX;
		bool any = false;
		for (size_t i = 0; i < x->ntags; i++)
			if (x->have[i] && (!any || x->cur[i].ts < t)) {
				t = x->cur[i].ts;
				any = true;
			}
		if (!any) {
			x->finished = true;
			return 0;
		}
		if (x->format == EXPORT_JSONL)
			strbuf_puts(&x->text, "{\"t\":");
		put_time(x, t);
		for (size_t i = 0; i < x->ntags; i++) {
			bool here = x->have[i] && x->cur[i].ts == t;
			if (x->format == EXPORT_CSV) {
				strbuf_append(&x->text, ",", 1);
				if (here)
					put_value(x, x->tags[i].type, &x->cur[i]);
			} else if (here) {
				strbuf_append(&x->text, ",", 1);
				put_name(x, x->tags[i].name);
				strbuf_append(&x->text, ":", 1);
				put_value(x, x->tags[i].type, &x->cur[i]);
			}
			if (here && (rc = wide_advance(x, i)) != 0)
				return rc;
		}
		strbuf_puts(&x->text, x->format == EXPORT_CSV ? "\r\n" : "}\n");
		x->rows++;
	}
	return 0;
}

/* Move produced text to out, through deflate when gzip'd. */
static int flush_text(struct export_state *x)
{
	int zrc;

	if (!x->gzip) {
		strbuf_append(&x->out, x->text.data ? x->text.data : "", x->text.len);
		x->text.len = 0;
		return strbuf_failed(&x->out) ? -ENOMEM : 0;
	}
	x->zs.next_in = (unsigned char *)x->text.data;
	x->zs.avail_in = (unsigned)x->text.len;
	do {
		if (!strbuf_reserve(&x->out, EXPORT_CHUNK_BYTES))
			return -ENOMEM;
		x->zs.next_out = (unsigned char *)x->out.data + x->out.len;
		x->zs.avail_out = (unsigned)(x->out.cap - x->out.len - 1);
		zrc = deflate(&x->zs, x->finished ? Z_FINISH : Z_NO_FLUSH);
		x->out.len = (size_t)((char *)x->zs.next_out - x->out.data);
		if (zrc == Z_STREAM_ERROR)
			return -EIO;
	} while (x->zs.avail_out == 0 || (x->finished && zrc != Z_STREAM_END));
	x->text.len = 0;
	return 0;
}

static ssize_t export_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct export_state *x = cls;
	size_t n;
	int rc = 0;

	(void)pos;
	while (x->out.len - x->out_off == 0) {
		if (x->finished && x->text.len == 0 && (!x->gzip || !x->zs_open))
			return MHD_CONTENT_READER_END_OF_STREAM;
		x->out.len = x->out_off = 0;
		if (!x->header_done)
			write_header(x);
		if (!x->finished)
			rc = x->layout == EXPORT_LONG ? produce_long(x) : produce_wide(x);
		if (rc == 0 && strbuf_failed(&x->text))
			rc = -ENOMEM;
		if (rc == 0 && x->deadline_ns && clock_mono_ns() > x->deadline_ns)
			rc = -ETIMEDOUT;
		if (rc == 0)
			rc = flush_text(x);
		if (rc != 0) {
			/* Headers are gone: cutting the connection is the only way
			 * to tell the client the body is incomplete. */
			log_warn("http", "export stopped after %" PRIu64 " rows: %s", x->rows,
				 hs_strerror(rc));
			x->failed = true;
			return MHD_CONTENT_READER_END_WITH_ERROR;
		}
		if (x->finished && x->gzip) {
			deflateEnd(&x->zs);
			x->zs_open = false;
		}
	}
	n = x->out.len - x->out_off;
	if (n > max)
		n = max;
	memcpy(buf, x->out.data + x->out_off, n);
	x->out_off += n;
	return (ssize_t)n;
}

/* Does an Accept-Encoding value accept gzip (RFC 9110: "gzip", its alias
 * "x-gzip", or "*", without q=0)? */
static bool accepts_gzip(const char *ae)
{
	bool star = false, gzip = false, gzip_named = false;

	while (*ae) {
		size_t len = strcspn(ae, ","), name_len;
		const char *q, *p = ae;
		double weight = 1;
		while (*p == ' ' || *p == '\t')
			p++;
		name_len = strcspn(p, ";, \t");
		q = memchr(p, ';', len - (size_t)(p - ae));
		if (q) {
			q++;
			while (*q == ' ' || *q == '\t')
				q++;
			if ((q[0] == 'q' || q[0] == 'Q') && q[1] == '=')
				weight = strtod(q + 2, NULL);
		}
		if ((name_len == 4 && strncasecmp(p, "gzip", 4) == 0) ||
		    (name_len == 6 && strncasecmp(p, "x-gzip", 6) == 0)) {
			gzip_named = true;
			gzip = weight > 0;
		} else if (name_len == 1 && *p == '*') {
			star = weight > 0;
		}
		ae += len + (ae[len] == ',');
	}
	return gzip_named ? gzip : star;
}

static bool wants_gzip(struct qparams *qp)
{
	const char *c = qp_arg(qp, "compress");
	const char *ae = MHD_lookup_connection_value(qp->req->conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_ACCEPT_ENCODING);

	if (c)
		return strcmp(c, "gzip") == 0;
	return ae && accepts_gzip(ae);
}

enum MHD_Result route_export(struct http_request *req)
{
	static const char *const formats[] = {"csv", "jsonl", NULL};
	static const char *const layouts[] = {"long", "wide", NULL};
	static const char *const compress[] = {"gzip", "none", NULL};
	struct qparams qp;
	struct export_state *x = NULL;
	int format = EXPORT_CSV, layout = EXPORT_LONG, comp = 1;
	const char *ctype;
	enum MHD_Result res;

	static const char *const params[] = {"tag", "match", "label", "tz", "time_format", "start",
					     "end", "format", "layout", "compress", NULL};

	if (!qp_init(&qp, req, params) ||
	    !qp_choice(&qp, "format", formats, &format) ||
	    !qp_choice(&qp, "layout", layouts, &layout) ||
	    !qp_choice(&qp, "compress", compress, &comp)) {
		res = qp.result;
		goto out;
	}
	x = calloc(1, sizeof *x);
	if (!x || !qp_range(&qp, 24 * 3600000000000LL, &x->start, &x->end) || !qp_tags(&qp)) {
		res = x ? qp.result : http_reply_error(req, 500, "out_of_memory", "out of memory");
		free(x);
		goto out;
	}
	x->store = qp.store;
	x->format = (enum export_format)format;
	x->layout = (enum export_layout)layout;
	x->time_format = qp.time_format;
	/* No deadline: an export's pace is the client's, and the connection
	 * timeout ends one whose client stopped reading. */
	x->deadline_ns = 0;
	x->tags = qp.tags;
	x->ntags = qp.ntags;
	qp.tags = NULL;
	qp.ntags = 0;
	x->it = calloc(x->ntags, sizeof *x->it);
	x->cur = calloc(x->ntags, sizeof *x->cur);
	x->have = calloc(x->ntags, sizeof *x->have);
	x->str_copy = calloc(x->ntags, sizeof *x->str_copy);
	x->gzip = wants_gzip(&qp);
	if (!x->it || !x->cur || !x->have || !x->str_copy ||
	    (x->gzip && deflateInit2(&x->zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
				     Z_DEFAULT_STRATEGY) != Z_OK)) {
		export_free(x);
		res = http_reply_error(req, 500, "out_of_memory", "out of memory");
		goto out;
	}
	x->zs_open = x->gzip;
	ctype = x->format == EXPORT_CSV ? "text/csv; charset=utf-8" : "application/x-ndjson";
	res = http_reply_stream(req, 200, ctype, x->gzip ? "gzip" : NULL,
				x->format == EXPORT_CSV ? "attachment; filename=\"export.csv\""
							: "attachment; filename=\"export.jsonl\"",
				EXPORT_BLOCK_BYTES, export_read, x, export_free);
out:
	qp_free(&qp);
	return res;
}

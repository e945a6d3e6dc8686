/* routes_write.c: the write endpoints: POST /write (InfluxDB 1.x), /api/v2/write (2.x), /api/v1/write, GET/HEAD /ping.
 * A write is answered only once its samples are durable: the handler suspends the connection, and the WAL writer's
 * completion resumes it. Bodies may be gzip'd; the inflated size is bounded like the body. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "lib/clock.h"
#include "lib/hs_error.h"
#include "server/ingest.h"
#include "web/routes.h"

/* The InfluxDB version clients are told they speak to (the 1.x write and
 * ping protocol historian implements). */
#define INFLUX_COMPAT_VERSION "1.8.10"

struct write_state {
	size_t written;
	struct ingest_report rep;
};

static void free_state(void *p)
{
	free(p);
}

static const char *query_arg(struct http_request *req, const char *key)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

/* Inflate a gzip body into out, at most max bytes. 0, -EFBIG, -EINVAL. */
static int gunzip(const struct strbuf *in, size_t max, struct strbuf *out)
{
	z_stream zs = {0};
	char chunk[65536];
	int zrc, rc = 0;

	if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
		return -ENOMEM;
	zs.next_in = (Bytef *)in->data;
	zs.avail_in = (uInt)in->len;
	do {
		zs.next_out = (Bytef *)chunk;
		zs.avail_out = sizeof chunk;
		zrc = inflate(&zs, Z_NO_FLUSH);
		if (zrc != Z_OK && zrc != Z_STREAM_END) {
			rc = -EINVAL;
			break;
		}
		strbuf_append(out, chunk, sizeof chunk - zs.avail_out);
		if (out->len > max) {
			rc = -EFBIG;
			break;
		}
	} while (zrc != Z_STREAM_END && (zs.avail_in > 0 || zs.avail_out == 0));
	if (rc == 0 && zrc != Z_STREAM_END)
		rc = -EINVAL;
	inflateEnd(&zs);
	return rc == 0 && strbuf_failed(out) ? -ENOMEM : rc;
}

static void on_durable(void *arg, int status)
{
	http_complete(arg, status);
}

/* The answer once the samples are durable (or refused). */
static enum MHD_Result reply_written(struct http_request *req)
{
	struct write_state *ws = req->handler_state;
	const struct ingest_report *rep = &ws->rep;
	int status = req->wait_status;

	if (status == -ENOSPC)
		return http_reply_error(req, 507, "insufficient_storage",
					"disk full: nothing of this write was stored; retry later");
	if (status < 0) {
		req->retry_after_s = status == -EBUSY ? 1 : 10;
		return http_reply_error(req, 503, "unavailable",
					"storage cannot take writes now (%s); nothing of this write was "
					"stored",
					status == -EBUSY ? "too much waiting to be written"
							 : hs_strerror(status));
	}
	if (rep->bad_lines == 0)
		return http_reply(req, 204, NULL, "", 0);
	json_t *lines = json_array();
	for (size_t i = 0; i < rep->nerrors; i++)
		json_array_append_new(lines, json_pack("{s:i,s:i,s:s}", "line", rep->errors[i].line,
						       "column", rep->errors[i].column, "message",
						       rep->errors[i].message));
	return http_reply_json_new(
		req, 400,
		json_pack("{s:{s:s,s:s,s:I,s:I,s:I,s:o}}", "error", "code", "partial_write",
			  "message", ws->written ? "some lines were refused; the others are stored"
						 : "every line was refused; nothing is stored",
			  "written_samples", (json_int_t)ws->written, "refused_lines",
			  (json_int_t)rep->bad_lines, "lines", (json_int_t)rep->lines, "errors",
			  lines));
}

enum write_format { WRITE_LP, WRITE_JSON };

static int parse_body(struct http_request *req, enum write_format fmt, const char *body,
		      size_t len, enum lp_precision prec, struct ingest_batch **batch,
		      struct write_state *ws)
{
	int64_t now = clock_real_ns();

	if (fmt == WRITE_JSON)
		return ingest_parse_json(req->app->ingest, body, len, prec, now, batch, &ws->rep);
	return ingest_parse_lp(req->app->ingest, body, len, prec, now, batch, &ws->rep);
}

/* Decode, parse, submit, suspend. */
static enum MHD_Result start_write(struct http_request *req, enum write_format fmt)
{
	const char *enc = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
						      MHD_HTTP_HEADER_CONTENT_ENCODING);
	const char *ptext = query_arg(req, "precision");
	struct strbuf inflated = STRBUF_INIT;
	struct ingest_batch *batch = NULL;
	struct write_state *ws;
	enum lp_precision prec;
	const struct strbuf *body = &req->body;
	int rc;

	if (lp_precision_parse(ptext ? ptext : "", &prec) != 0)
		return http_reply_error(req, 400, "bad_parameter",
					"precision: \"%s\" is not one of n, ns, u, us, ms, s, m, h", ptext);
	if (enc && strcasecmp(enc, "gzip") == 0) {
		rc = gunzip(&req->body, req->max_body_bytes, &inflated);
		if (rc != 0) {
			strbuf_free(&inflated);
			return rc == -EFBIG ? http_reply_error(req, 413, "body_too_large",
							       "gzip body inflates past the limit")
					    : http_reply_error(req, 400, "bad_encoding",
							       "body is not valid gzip");
		}
		body = &inflated;
	} else if (enc && strcasecmp(enc, "identity") != 0) {
		return http_reply_error(req, 415, "unsupported_encoding",
					"Content-Encoding %s is not supported (use gzip or none)", enc);
	}
	ws = calloc(1, sizeof *ws);
	if (!ws) {
		strbuf_free(&inflated);
		return http_reply_error(req, 503, "out_of_memory", "cannot take the write now");
	}
	req->handler_state = ws;
	req->handler_state_free = free_state;
	rc = parse_body(req, fmt, body->data ? body->data : "", body->len, prec, &batch, ws);
	strbuf_free(&inflated);
	if (rc != 0)
		return http_reply_error(req, 503, "unavailable", "cannot take the write: %s",
					hs_strerror(rc));
	ws->written = ingest_batch_samples(batch);
	http_suspend(req);
	if (!batch) {
		http_complete(req, 0); /* nothing to wait for: bad lines only, or none */
		return MHD_YES;
	}
	rc = ingest_submit(req->app->ingest, batch, on_durable, req);
	if (rc != 0) {
		ws->written = 0;
		http_complete(req, rc);
	}
	return MHD_YES;
}

static enum MHD_Result handle_write(struct http_request *req, enum write_format fmt)
{
	if (atomic_load(&req->wait) == HTTP_WAIT_DONE)
		return reply_written(req);
	if (!req->app->ingest)
		return http_reply_error(req, 503, "unavailable", "ingest is not running");
	return start_write(req, fmt);
}

/* InfluxDB 1.x and 2.x writes: the body is line protocol whatever its
 * Content-Type (clients send text/plain, octet-stream or form types);
 * db, rp, org, bucket, u and p are accepted and ignored. */
enum MHD_Result route_write_influx(struct http_request *req)
{
	return handle_write(req, WRITE_LP);
}

/* historian's own write: line protocol (text/plain) or JSON. */
enum MHD_Result route_write_v1(struct http_request *req)
{
	const char *ct = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_TYPE);
	size_t n;

	if (atomic_load(&req->wait) == HTTP_WAIT_DONE)
		return reply_written(req);
	n = ct ? strcspn(ct, "; ") : 0;
	if (ct && n == 16 && strncasecmp(ct, "application/json", 16) == 0)
		return handle_write(req, WRITE_JSON);
	if (!ct || (n == 10 && strncasecmp(ct, "text/plain", 10) == 0))
		return handle_write(req, WRITE_LP);
	return http_reply_error(req, 415, "unsupported_media_type",
				"Content-Type %s is not taken here: use text/plain (line protocol) "
				"or application/json",
				ct);
}

enum MHD_Result route_ping(struct http_request *req)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	enum MHD_Result rc;

	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "X-Influxdb-Version", INFLUX_COMPAT_VERSION);
	MHD_add_response_header(resp, "X-Influxdb-Build", "OSS");
	MHD_add_response_header(resp, "X-Historian-Version", req->app->version);
	rc = MHD_queue_response(req->conn, 204, resp);
	MHD_destroy_response(resp);
	if (rc == MHD_YES)
		req->status = 204;
	return rc;
}

/* http.c: the libmicrohttpd server behind http.h: request lifecycle, routing, replies and request metrics.
 * Concurrency: handlers run on MHD's pool threads; counters are atomics; the server struct is read-only after start
 * except in_flight (atomic). Shutdown: quiesce (stop accepting), wait for in_flight to reach 0, then stop MHD. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/hs_error.h"
#include "lib/log.h"
#include "lib/utf8.h"
#include "web/http.h"
#include "web/http_request.h"

/* Status codes counted one by one; anything else lands in "other". */
static const unsigned tracked_status[] = {200, 201, 204, 206, 304, 400, 401, 403, 404, 405,
					  408, 409, 413, 415, 422, 429, 500, 501, 503, 507};
#define STATUS_SLOTS (sizeof tracked_status / sizeof tracked_status[0] + 1)

/* Upper bounds of the duration histogram, in nanoseconds. */
static const uint64_t bucket_ns[] = {
	100000,   250000,    500000,    1000000,   2500000,    5000000,    10000000,   25000000,
	50000000, 100000000, 250000000, 500000000, 1000000000, 2500000000, 5000000000, 10000000000,
};
#define BUCKETS (sizeof bucket_ns / sizeof bucket_ns[0])

struct route_stats {
	_Atomic uint64_t by_status[STATUS_SLOTS];
	_Atomic uint64_t in_bucket[BUCKETS + 1]; /* last one: above every bound */
	_Atomic uint64_t sum_ns;
	_Atomic uint64_t count;
};

struct http_server {
	struct MHD_Daemon *mhd;
	const struct http_app *app;
	size_t max_body_bytes;
	struct net_addr bound;
	_Atomic unsigned in_flight;
	struct route_stats *stats; /* http_route_count + 1: the last is "unmatched" */
};

static enum http_method method_bit(const char *method)
{
	static const struct { const char *name; enum http_method bit; } methods[] = {
		{"GET", HTTP_GET},     {"HEAD", HTTP_HEAD},   {"POST", HTTP_POST},
		{"PUT", HTTP_PUT},     {"PATCH", HTTP_PATCH}, {"DELETE", HTTP_DELETE},
	};
	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
		if (strcmp(method, methods[i].name) == 0)
			return methods[i].bit;
	return HTTP_OTHER;
}

static void allow_header(unsigned methods, char *buf, size_t len)
{
	static const char *const names[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"};
	size_t used = 0;

	buf[0] = '\0';
	if (methods & HTTP_GET)
		methods |= HTTP_HEAD;
	for (size_t i = 0; i < sizeof names / sizeof names[0] && used < len; i++)
		if (methods & (1u << i))
			used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
						 names[i]);
}

static int find_route(const char *url)
{
	for (unsigned i = 0; i < http_route_count; i++) {
		const char *path = http_routes[i].path;
		size_t len = strlen(path);
		if (path[len - 1] == '/' ? strncmp(url, path, len) == 0 && url[len] != '\0'
					 : strcmp(url, path) == 0)
			return (int)i;
	}
	return -1;
}

static enum MHD_Result queue(struct http_request *req, unsigned status, struct MHD_Response *resp)
{
	enum MHD_Result rc;

	if (!resp)
		return MHD_NO;
	if (req->retry_after_s && (status == 503 || status == 429)) {
		char secs[16];
		snprintf(secs, sizeof secs, "%u", req->retry_after_s);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, secs);
	}
	if (status == 405 && req->route_index >= 0) {
		char allow[64];
		allow_header(http_routes[req->route_index].methods, allow, sizeof allow);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	}
	rc = MHD_queue_response(req->conn, status, resp);
	MHD_destroy_response(resp);
	if (rc == MHD_YES)
		req->status = status;
	return rc;
}

enum MHD_Result http_reply(struct http_request *req, unsigned status, const char *content_type,
			   const char *body, size_t len)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);

	if (resp && content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	return queue(req, status, resp);
}

enum MHD_Result http_reply_json_new(struct http_request *req, unsigned status, json_t *doc)
{
	struct MHD_Response *resp;
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;

	json_decref(doc);
	if (!text)
		return MHD_NO; /* out of memory: dropping the connection is all that is left */
	resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	return queue(req, status, resp);
}

enum MHD_Result http_reply_strbuf(struct http_request *req, unsigned status,
				  const char *content_type, struct strbuf *body)
{
	struct MHD_Response *resp;
	size_t len;
	char *data;

	if (strbuf_failed(body)) {
		strbuf_free(body);
		return MHD_NO;
	}
	data = strbuf_take(body, &len);
	resp = MHD_create_response_from_buffer(len, data ? data : (char *)"",
					       data ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		free(data);
		return MHD_NO;
	}
	if (content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	return queue(req, status, resp);
}

enum MHD_Result http_reply_stream(struct http_request *req, unsigned status,
				  const char *content_type, const char *content_encoding,
				  const char *disposition, size_t block_size,
				  MHD_ContentReaderCallback read, void *cls,
				  MHD_ContentReaderFreeCallback free_cls)
{
	struct MHD_Response *resp =
		MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, block_size, read, cls, free_cls);

	if (!resp) {
		free_cls(cls);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	if (content_encoding)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, content_encoding);
	if (disposition)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, disposition);
	return queue(req, status, resp);
}

enum MHD_Result http_reply_error(struct http_request *req, unsigned status, const char *code,
				 const char *fmt, ...)
{
	char raw[1024], clean[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(raw, sizeof raw, fmt, ap);
	va_end(ap);
	if (n < 0)
		raw[0] = '\0';
	/* Messages quote client input (paths, tag names); jansson refuses
	 * invalid UTF-8, and an error must never fail to render. */
	utf8_sanitize(clean, sizeof clean, raw, strlen(raw));
	return http_reply_json_new(req, status,
				   json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", clean));
}

/* Route the request; returns false (with a reply queued) when the path
 * or method has no handler. */
static bool route_request(struct http_request *req, enum MHD_Result *rc)
{
	const struct http_route *route;

	req->route_index = find_route(req->url);
	if (req->route_index < 0) {
		*rc = http_reply_error(req, 404, "not_found", "no such endpoint: %s", req->url);
		return false;
	}
	route = &http_routes[req->route_index];
	if (!(route->methods & req->method) &&
	    !(req->method == HTTP_HEAD && (route->methods & HTTP_GET))) {
		*rc = http_reply_error(req, 405, "method_not_allowed", "%s does not take %s",
				       route->path, req->method_name);
		return false;
	}
	return true;
}

void http_suspend(struct http_request *req)
{
	atomic_store(&req->wait, HTTP_WAIT_PENDING);
	MHD_suspend_connection(req->conn);
}

void http_complete(struct http_request *req, int status)
{
	req->wait_status = status;
	atomic_store(&req->wait, HTTP_WAIT_DONE);
	MHD_resume_connection(req->conn);
}

/* A declared body over the limit is refused before it is read; one within
 * it gets its whole buffer now, not by doubling as it arrives. */
static bool body_announced_too_large(struct http_request *req, size_t max)
{
	const char *cl = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
	unsigned long long len = cl ? strtoull(cl, NULL, 10) : 0;

	if (len > max)
		return true;
	if (len)
		strbuf_reserve(&req->body, (size_t)len);
	return false;
}

static void take_upload(struct http_request *req, const char *data, size_t len, size_t max)
{
	if (req->body_too_large || req->body.len + len > max) {
		req->body_too_large = true;
		return;
	}
	strbuf_append(&req->body, data, len);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct http_server *server = cls;
	struct http_request *req = *con_cls;

	(void)version;
	if (!req) {
		req = calloc(1, sizeof *req);
		if (!req)
			return MHD_NO;
		req->conn = conn;
		req->app = server->app;
		req->server = server;
		req->url = url;
		req->method = method_bit(method);
		req->method_name = method;
		req->route_index = -1;
		req->start_ns = clock_mono_ns();
		req->max_body_bytes = server->max_body_bytes;
		atomic_fetch_add(&server->in_flight, 1);
		*con_cls = req;
		enum MHD_Result rc;
		if (!route_request(req, &rc))
			return rc; /* answered before any body is read */
		if (body_announced_too_large(req, server->max_body_bytes))
			return http_reply_error(req, 413, "body_too_large",
						"request body over the limit of %zu bytes",
						server->max_body_bytes);
		return MHD_YES;
	}
	if (*upload_data_size) {
		take_upload(req, upload_data, *upload_data_size, server->max_body_bytes);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (req->status || atomic_load(&req->wait) == HTTP_WAIT_PENDING)
		return MHD_YES;
	if (req->body_too_large)
		return http_reply_error(req, 413, "body_too_large",
					"request body over the limit of %zu bytes", server->max_body_bytes);
	if (strbuf_failed(&req->body))
		return http_reply_error(req, 503, "out_of_memory", "cannot hold the request body");
	return http_routes[req->route_index].handler(req);
}

static size_t status_slot(unsigned status)
{
	for (size_t i = 0; i < STATUS_SLOTS - 1; i++)
		if (tracked_status[i] == status)
			return i;
	return STATUS_SLOTS - 1;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_server *server = cls;
	struct http_request *req = *con_cls;

	(void)conn;
	if (!req)
		return;
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
		log_debug("http", "%s: request ended early (code %d)", req->url, (int)toe);
	if (req->status) {
		struct route_stats *st = &server->stats[req->route_index < 0 ? http_route_count
								      : (unsigned)req->route_index];
		uint64_t took = clock_mono_ns() - req->start_ns;
		size_t b = 0;
		while (b < BUCKETS && took > bucket_ns[b])
			b++;
		atomic_fetch_add(&st->by_status[status_slot(req->status)], 1);
		atomic_fetch_add(&st->in_bucket[b], 1);
		atomic_fetch_add(&st->sum_ns, took);
		atomic_fetch_add(&st->count, 1);
	}
	atomic_fetch_sub(&server->in_flight, 1);
	if (req->handler_state_free)
		req->handler_state_free(req->handler_state);
	strbuf_free(&req->body);
	free(req);
	*con_cls = NULL;
}

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	(void)cls;
	vsnprintf(msg, sizeof msg, fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_debug("http", "libmicrohttpd: %s", msg);
}

int http_server_start(const struct http_options *opts, const struct http_app *app,
		      struct http_server **out, char *err)
{
	struct http_server *server;
	int fd = -1, rc;

	*out = NULL;
	server = calloc(1, sizeof *server);
	if (!server)
		return -ENOMEM;
	server->app = app;
	server->max_body_bytes = opts->max_body_bytes ? opts->max_body_bytes : 64u << 20;
	server->stats = calloc(http_route_count + 1, sizeof *server->stats);
	if (!server->stats) {
		rc = -ENOMEM;
		snprintf(err, HTTP_ERROR_MAX, "http: out of memory");
		goto fail;
	}
	rc = net_listen(&opts->listen, SOCK_STREAM, 1024, &fd, &server->bound);
	if (rc != 0) {
		snprintf(err, HTTP_ERROR_MAX, "http: cannot listen on %s: %s", opts->listen.text,
			 hs_strerror(rc));
		goto fail;
	}
	server->mhd = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG |
			MHD_ALLOW_SUSPEND_RESUME,
		0, NULL, NULL, on_request, server,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)opts->threads,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)(opts->connection_timeout_ms / 1000),
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)opts->max_connections,
		/* The request line, headers and every query parameter live in
		 * this per-connection pool ([http] request_memory). Its 32 KiB
		 * default holds only about 400 parameters, and this version
		 * (0.9.75) never answers a request that overflows it (it logs a
		 * 431 but cannot send it). The pool is cleared with memset before
		 * each request on a connection, so its size is a cost every
		 * request pays: 4 MiB took 17 % of a trend query's time. */
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, opts->request_memory,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, server,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
		MHD_OPTION_END);
	if (!server->mhd) {
		rc = -EIO;
		snprintf(err, HTTP_ERROR_MAX, "http: libmicrohttpd failed to start on %s",
			 server->bound.text);
		goto fail;
	}
	*out = server;
	return 0;

fail:
	if (fd >= 0)
		close(fd);
	free(server->stats);
	free(server);
	return rc;
}

const char *http_server_address(const struct http_server *server)
{
	return server->bound.text;
}

void http_server_quiesce(struct http_server *server)
{
	MHD_socket fd = MHD_quiesce_daemon(server->mhd);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
}

unsigned http_server_wait_idle(struct http_server *server, uint64_t deadline_ns)
{
	unsigned busy;

	while ((busy = atomic_load(&server->in_flight)) > 0 && clock_mono_ns() < deadline_ns)
		usleep(5000);
	return busy;
}

void http_server_stop(struct http_server *server)
{
	if (!server)
		return;
	MHD_stop_daemon(server->mhd);
	free(server->stats);
	free(server);
}

static void render_route_label(unsigned index, char *buf, size_t len)
{
	snprintf(buf, len, "%s", index < http_route_count ? http_routes[index].path : "unmatched");
}

void http_metrics_render(const struct http_server *server, struct strbuf *out)
{
	char route[128];

	strbuf_puts(out, "# HELP historian_http_requests_total HTTP requests answered, by route and status.\n"
			 "# TYPE historian_http_requests_total counter\n");
	for (unsigned r = 0; r <= http_route_count; r++) {
		render_route_label(r, route, sizeof route);
		for (size_t s = 0; s < STATUS_SLOTS; s++) {
			uint64_t n = atomic_load(&server->stats[r].by_status[s]);
			if (n == 0)
				continue;
			if (s < STATUS_SLOTS - 1)
				strbuf_printf(out, "historian_http_requests_total{route=\"%s\",code=\"%u\"} %llu\n",
					      route, tracked_status[s], (unsigned long long)n);
			else
				strbuf_printf(out, "historian_http_requests_total{route=\"%s\",code=\"other\"} %llu\n",
					      route, (unsigned long long)n);
		}
	}
	strbuf_puts(out, "# HELP historian_http_request_duration_seconds Time from request arrival to the end of the response.\n"
			 "# TYPE historian_http_request_duration_seconds histogram\n");
	for (unsigned r = 0; r <= http_route_count; r++) {
		const struct route_stats *st = &server->stats[r];
		uint64_t cumulative = 0;
		render_route_label(r, route, sizeof route);
		for (size_t b = 0; b < BUCKETS; b++) {
			cumulative += atomic_load(&st->in_bucket[b]);
			strbuf_printf(out, "historian_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
				      route, (double)bucket_ns[b] / 1e9, (unsigned long long)cumulative);
		}
		cumulative += atomic_load(&st->in_bucket[BUCKETS]);
		strbuf_printf(out, "historian_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n"
				   "historian_http_request_duration_seconds_sum{route=\"%s\"} %.9f\n"
				   "historian_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
			      route, (unsigned long long)cumulative, route,
			      (double)atomic_load(&st->sum_ns) / 1e9, route,
			      (unsigned long long)atomic_load(&st->count));
	}
}

/* http.h: historian's HTTP server (libmicrohttpd, thread pool): lifecycle, routing, request metrics.
 * Owns the listening socket and the worker threads; the routes live in web/routes*.c. */
#ifndef HS_HTTP_H
#define HS_HTTP_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "lib/netaddr.h"
#include "lib/strbuf.h"

#define HTTP_ERROR_MAX 512

struct store;
struct ingest;

struct http_server;

struct http_options {
	struct net_addr listen;
	unsigned threads;
	uint64_t connection_timeout_ms;
	unsigned max_connections;
	size_t max_body_bytes;   /* request bodies above this get 413 */
	size_t request_memory;   /* libmicrohttpd's per-connection pool */
};

/* The query API's limits ([query] in the configuration). */
struct http_query_limits {
	uint64_t max_points;          /* values in one answer */
	uint64_t max_tags;            /* tags in one request */
	uint64_t timeout_ms;          /* computing time of one request */
	uint64_t max_response_bytes;  /* a JSON answer built in memory */
};

/* What every handler may read; must outlive the server. */
struct http_app {
	const char *version;
	const char *data_dir;      /* absolute */
	struct store *store;       /* the storage engine; outlives the server */
	struct ingest *ingest;     /* the ingest pipeline (server/ingest.h); outlives the server */
	/* More /metrics from the daemon's own listeners (UDP, ingest), in
	 * Prometheus text; called on a worker thread. May be NULL. */
	void (*render_metrics)(void *arg, struct strbuf *out);
	void *render_metrics_arg;
	/* More members for /health (a jansson object), e.g. the MQTT bridge's
	 * state; called on a worker thread with render_metrics_arg. May be NULL. */
	void (*health_extra)(void *arg, json_t *doc);
	struct http_query_limits limits;
	int64_t start_unix_ns;     /* wall clock at start, for /metrics */
	uint64_t start_mono_ns;    /* CLOCK_MONOTONIC at start, for uptime */
};

/* Bind opts->listen and start the worker threads. On success *out is owned
 * by the caller (free with http_server_stop). On failure returns -errno or
 * an HS_E* code with err (HTTP_ERROR_MAX bytes) saying what failed. */
int http_server_start(const struct http_options *opts, const struct http_app *app,
		      struct http_server **out, char *err) __attribute__((warn_unused_result));

/* The address actually bound ("127.0.0.1:41234" when port 0 was asked). */
const char *http_server_address(const struct http_server *server);

/* Stop accepting connections; requests in flight go on. Call once, from the
 * thread that owns the server. */
void http_server_quiesce(struct http_server *server);

/* Wait until no request is in flight or CLOCK_MONOTONIC passes deadline_ns.
 * Returns the number still in flight (0 when idle). */
unsigned http_server_wait_idle(struct http_server *server, uint64_t deadline_ns);

/* Close every connection, join the threads and free server. NULL is fine. */
void http_server_stop(struct http_server *server);

/* Append the HTTP request counters and duration histograms in Prometheus
 * text format. Any thread. */
void http_metrics_render(const struct http_server *server, struct strbuf *out);

#endif

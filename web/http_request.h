/* http_request.h: what a route handler sees of a request, and the reply helpers every handler uses.
 * Internal to web/: handlers run on libmicrohttpd's worker threads, one request per thread at a time. */
#ifndef HS_HTTP_REQUEST_H
#define HS_HTTP_REQUEST_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdint.h>

#include "web/http.h"

enum http_method {
	HTTP_GET = 1u << 0,
	HTTP_HEAD = 1u << 1,
	HTTP_POST = 1u << 2,
	HTTP_PUT = 1u << 3,
	HTTP_PATCH = 1u << 4,
	HTTP_DELETE = 1u << 5,
	HTTP_OTHER = 1u << 6,
};

struct http_request;

/* A handler queues exactly one reply through the helpers below and returns
 * what they return (MHD_NO only when the connection should be dropped). */
typedef enum MHD_Result (*http_handler_fn)(struct http_request *req);

struct http_route {
	const char *path;      /* exact path, or a prefix when it ends in '/' */
	unsigned methods;      /* HTTP_* bits; GET implies HEAD */
	http_handler_fn handler;
};

struct http_request {
	struct MHD_Connection *conn;
	const struct http_app *app;
	const struct http_server *server;
	const char *url;
	enum http_method method;
	const char *method_name; /* as the client sent it; valid for the request */
	int route_index;        /* index in http_routes, or -1 when no route */
	uint64_t start_ns;      /* CLOCK_MONOTONIC when the request arrived */
	unsigned status;        /* the status queued, 0 until then */
};

/* The route table, defined in web/routes.c. */
extern const struct http_route http_routes[];
extern const unsigned http_route_count;

/* Queue a reply whose body is copied. */
enum MHD_Result http_reply(struct http_request *req, unsigned status, const char *content_type,
			   const char *body, size_t len);

/* Queue doc as compact JSON and drop the reference (jansson's _new rule:
 * the helper takes it over). */
enum MHD_Result http_reply_json_new(struct http_request *req, unsigned status, json_t *doc);

/* Queue {"error": {"code": code, "message": ...}} with status. */
enum MHD_Result http_reply_error(struct http_request *req, unsigned status, const char *code,
				 const char *fmt, ...) __attribute__((format(printf, 4, 5)));


#endif

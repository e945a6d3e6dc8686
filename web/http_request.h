/* http_request.h: what a route handler sees of a request, and the reply helpers every handler uses.
 * Internal to web/: handlers run on libmicrohttpd's worker threads, one request per thread at a time. */
#ifndef HS_HTTP_REQUEST_H
#define HS_HTTP_REQUEST_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/strbuf.h"
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

/* A request's progress through a handler that waits for something
 * (a WAL commit) with the connection suspended. */
enum http_wait {
	HTTP_WAIT_NONE = 0, /* not waiting */
	HTTP_WAIT_PENDING,  /* suspended; the completion will resume it */
	HTTP_WAIT_DONE,     /* resumed with a result: the handler replies now */
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
	/* The request body, read whole before the handler runs (POST, PUT,
	 * PATCH), at most max_body_bytes; body_too_large when it was more. */
	struct strbuf body;
	bool body_too_large;
	size_t max_body_bytes;  /* the limit, also for inflated bodies */
	unsigned retry_after_s; /* when set, a 503 or 429 carries Retry-After */
	/* For handlers that suspend: see http_suspend()/http_complete(). */
	_Atomic int wait;
	int wait_status;
	void *handler_state;    /* the handler's own, freed by handler_state_free */
	void (*handler_state_free)(void *state);
};

/* The route table, defined in web/routes.c. */
extern const struct http_route http_routes[];
extern const unsigned http_route_count;

/* Suspend the connection until http_complete(); the handler then runs
 * again with req->wait == HTTP_WAIT_DONE and req->wait_status set, and
 * replies. Call from the handler, before starting the work that will
 * complete it (the completion may come before the handler returns). */
void http_suspend(struct http_request *req);

/* Finish a suspended request's wait with status and resume it. Any
 * thread, once per suspend; must not block. */
void http_complete(struct http_request *req, int status);

/* Queue a reply whose body is copied. */
enum MHD_Result http_reply(struct http_request *req, unsigned status, const char *content_type,
			   const char *body, size_t len);

/* Queue doc as compact JSON and drop the reference (jansson's _new rule:
 * the helper takes it over). */
enum MHD_Result http_reply_json_new(struct http_request *req, unsigned status, json_t *doc);

/* Queue the bytes of body (JSON already rendered) and take the buffer
 * over; body is reset. MHD_NO when body failed (out of memory). */
enum MHD_Result http_reply_strbuf(struct http_request *req, unsigned status,
				  const char *content_type, struct strbuf *body);

/* Queue a body produced as the client reads it (chunked transfer): MHD
 * calls read(cls, pos, buf, max) on its thread until it returns
 * MHD_CONTENT_READER_END_OF_STREAM (or _WITH_ERROR to cut the connection),
 * then free_cls(cls) once, also when queuing fails. content_encoding and
 * disposition may be NULL. */
enum MHD_Result http_reply_stream(struct http_request *req, unsigned status,
				  const char *content_type, const char *content_encoding,
				  const char *disposition, size_t block_size,
				  MHD_ContentReaderCallback read, void *cls,
				  MHD_ContentReaderFreeCallback free_cls);

/* Queue {"error": {"code": code, "message": ...}} with status. */
enum MHD_Result http_reply_error(struct http_request *req, unsigned status, const char *code,
				 const char *fmt, ...) __attribute__((format(printf, 4, 5)));


#endif

/* routes.h: the handlers named in web/routes.c's route table.
 * Each runs on a libmicrohttpd worker thread and queues exactly one reply. */
#ifndef HS_ROUTES_H
#define HS_ROUTES_H

#include "web/http_request.h"

/* web/routes_ops.c: operations endpoints */
enum MHD_Result route_health(struct http_request *req);
enum MHD_Result route_metrics(struct http_request *req);

/* web/routes_write.c: write endpoints */
enum MHD_Result route_write_influx(struct http_request *req);
enum MHD_Result route_write_v1(struct http_request *req);
enum MHD_Result route_ping(struct http_request *req);

/* web/routes_query.c: the query API */
enum MHD_Result route_current(struct http_request *req);
enum MHD_Result route_raw(struct http_request *req);
enum MHD_Result route_aggregate(struct http_request *req);
enum MHD_Result route_trend(struct http_request *req);
enum MHD_Result route_interpolated(struct http_request *req);

/* web/routes_tags.c: tag search, detail and metadata */
enum MHD_Result route_tags(struct http_request *req);
enum MHD_Result route_tag(struct http_request *req);

/* web/routes_export.c: streamed CSV and JSON lines */
enum MHD_Result route_export(struct http_request *req);

/* web/routes_admin.c: maintenance endpoints */
enum MHD_Result route_admin_compact(struct http_request *req);

#endif

/* routes.c: the route table of the HTTP API.
 * Every endpoint is one line here; handlers live in web/routes_*.c, grouped by job. */
#include "web/http_request.h"
#include "web/routes.h"

const struct http_route http_routes[] = {
	{"/health", HTTP_GET, route_health},
	{"/metrics", HTTP_GET, route_metrics},
	{"/api/v1/admin/compact", HTTP_POST, route_admin_compact},
	{"/write", HTTP_POST, route_write_influx},
	{"/api/v2/write", HTTP_POST, route_write_influx},
	{"/api/v1/write", HTTP_POST, route_write_v1},
	{"/ping", HTTP_GET, route_ping},
	{"/api/v1/tags", HTTP_GET, route_tags},
	{"/api/v1/tags/", HTTP_GET | HTTP_PATCH, route_tag},
	{"/api/v1/current", HTTP_GET, route_current},
	{"/api/v1/raw", HTTP_GET, route_raw},
	{"/api/v1/aggregate", HTTP_GET, route_aggregate},
	{"/api/v1/trend", HTTP_GET, route_trend},
	{"/api/v1/interpolated", HTTP_GET, route_interpolated},
	{"/api/v1/export", HTTP_GET, route_export},
};

const unsigned http_route_count = sizeof http_routes / sizeof http_routes[0];

/* routes.c: the route table of the HTTP API.
 * Every endpoint is one line here; handlers live in web/routes_*.c, grouped by job. */
#include "web/http_request.h"
#include "web/routes.h"

const struct http_route http_routes[] = {
	{"/health", HTTP_GET, route_health},
	{"/metrics", HTTP_GET, route_metrics},
	{"/api/v1/admin/compact", HTTP_POST, route_admin_compact},
};

const unsigned http_route_count = sizeof http_routes / sizeof http_routes[0];

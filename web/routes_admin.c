/* routes_admin.c: maintenance endpoints: POST /api/v1/admin/compact seals the head and compacts every partition now.
 * Runs on a worker thread and blocks it for the seal's duration; the seal itself never blocks ingest for long. */
#include <errno.h>

#include "lib/clock.h"
#include "lib/hs_error.h"
#include "storage/store.h"
#include "web/routes.h"

enum MHD_Result route_admin_compact(struct http_request *req)
{
	struct store *st = req->app->store;
	struct store_stats before, after;
	uint64_t t0 = clock_mono_ns();
	size_t partitions;
	int rc;

	if (!st)
		return http_reply_error(req, 503, "unavailable", "the store is not open");
	store_stats(st, &before);
	rc = store_compact_now(st, &partitions);
	store_stats(st, &after);
	if (rc != 0)
		return http_reply_error(req, rc == -ENOSPC ? 507 : 503, "compact_failed",
					"compaction failed: %s", hs_strerror(rc));
	return http_reply_json_new(
		req, 200,
		json_pack("{s:I,s:I,s:I,s:I,s:f}", "sealed_samples",
			  (json_int_t)(before.head_samples - after.head_samples), "chunks_written",
			  (json_int_t)(after.chunks_written - before.chunks_written),
			  "partitions_rewritten", (json_int_t)partitions, "chunk_file_bytes",
			  (json_int_t)after.chunk_file_bytes, "seconds",
			  (double)(clock_mono_ns() - t0) / 1e9));
}

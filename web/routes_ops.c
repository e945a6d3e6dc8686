/* routes_ops.c: operations endpoints: GET /health (JSON) and GET /metrics (Prometheus text format 0.0.4).
 * Read-only; safe on any worker thread. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/strbuf.h"
#include "storage/store.h"
#include "web/routes.h"

static const char *const storage_states[] = {"ok", "disk_full", "io_error", "read_only"};

enum MHD_Result route_health(struct http_request *req)
{
	const struct http_app *app = req->app;
	json_int_t uptime_s = (json_int_t)((clock_mono_ns() - app->start_mono_ns) / 1000000000u);
	struct store_stats ss = {0};
	const char *storage = "ok";

	if (app->store) {
		store_stats(app->store, &ss);
		if (ss.wal_state > 0 && ss.wal_state < 4)
			storage = storage_states[ss.wal_state];
	}
	/* "degraded" while writes are refused: reads still work. */
	json_t *doc = json_pack("{s:s,s:s,s:I,s:s,s:s,s:I,s:I}", "status",
				ss.wal_state ? "degraded" : "ok", "version", app->version, "uptime_s",
				uptime_s, "data_dir", app->data_dir, "storage", storage, "tags",
				(json_int_t)ss.tags, "head_samples", (json_int_t)ss.head_samples);
	if (doc && app->health_extra)
		app->health_extra(app->render_metrics_arg, doc);
	return http_reply_json_new(req, 200, doc);
}

static void render_store(struct store *st, struct strbuf *out)
{
	struct store_stats s;

	store_stats(st, &s);
	const struct { const char *name, *type, *help; double value; } rows[] = {
		{"historian_tags", "gauge", "Tags known.", (double)s.tags},
		{"historian_samples_appended_total", "counter", "Samples appended since start.",
		 (double)s.samples_appended},
		{"historian_head_samples", "gauge", "Samples in memory not yet sealed into chunks.",
		 (double)s.head_samples},
		{"historian_head_bytes", "gauge", "Memory held by the head.", (double)s.head_bytes},
		{"historian_seals_total", "counter", "Seals of the head into chunks.", (double)s.seals},
		{"historian_seal_failures_total", "counter", "Seals that failed and will be retried.",
		 (double)s.seal_failures},
		{"historian_seal_max_pause_seconds", "gauge",
		 "Longest time a seal held appends up (WAL roll and head swap), since start.",
		 (double)s.max_seal_pause_ns / 1e9},
		{"historian_chunks_written_total", "counter", "Chunks written by seals.",
		 (double)s.chunks_written},
		{"historian_chunk_file_bytes", "gauge", "Bytes in chunk files.", (double)s.chunk_file_bytes},
		{"historian_compactions_total", "counter", "Partitions rewritten by compaction.",
		 (double)s.compactions},
		{"historian_compaction_failures_total", "counter", "Compaction passes that failed.",
		 (double)s.compaction_failures},
		{"historian_wal_records_total", "counter", "WAL records made durable.", (double)s.wal_records},
		{"historian_wal_commits_total", "counter", "WAL group commits.", (double)s.wal_commits},
		{"historian_wal_fsyncs_total", "counter", "fdatasync and fsync calls of the WAL.",
		 (double)s.wal_fsyncs},
		{"historian_wal_write_bytes_total", "counter", "Bytes written to WAL segments.",
		 (double)s.wal_bytes},
		{"historian_storage_state", "gauge",
		 "0 ok, 1 disk full, 2 I/O error, 3 read-only after a failed fsync.", (double)s.wal_state},
	};

	/* %.15g prints every count below 10^15 as the integer it is. */
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		strbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %.15g\n", rows[i].name,
			      rows[i].help, rows[i].name, rows[i].type, rows[i].name, rows[i].value);
}

static long count_open_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *ent;
	long n = 0;

	if (!dir)
		return -1;
	while ((ent = readdir(dir)))
		if (ent->d_name[0] != '.')
			n++;
	closedir(dir);
	return n - 1; /* the directory stream's own descriptor */
}

/* Resident and virtual size and CPU time from /proc/self/stat. */
static void render_process(struct strbuf *out)
{
	unsigned long utime = 0, stime = 0, vsize = 0;
	long rss_pages = 0, ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE), fds;
	char buf[1024];
	FILE *f = fopen("/proc/self/stat", "re");
	const char *after_comm;
	size_t got = 0;

	if (f) {
		got = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
	}
	buf[got] = '\0';
	/* The command name may hold spaces and parentheses; fields resume after the last ')'. */
	after_comm = strrchr(buf, ')');
	if (after_comm &&
	    sscanf(after_comm + 2,
		   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d %*d %*u %lu %ld",
		   &utime, &stime, &vsize, &rss_pages) == 4) {
		strbuf_printf(out,
			      "# HELP process_cpu_seconds_total User and system CPU time spent.\n"
			      "# TYPE process_cpu_seconds_total counter\n"
			      "process_cpu_seconds_total %.2f\n"
			      "# HELP process_resident_memory_bytes Resident memory size.\n"
			      "# TYPE process_resident_memory_bytes gauge\n"
			      "process_resident_memory_bytes %ld\n"
			      "# HELP process_virtual_memory_bytes Virtual memory size.\n"
			      "# TYPE process_virtual_memory_bytes gauge\n"
			      "process_virtual_memory_bytes %lu\n",
			      (double)(utime + stime) / (double)(ticks > 0 ? ticks : 100),
			      rss_pages * page, vsize);
	}
	fds = count_open_fds();
	if (fds >= 0)
		strbuf_printf(out,
			      "# HELP process_open_fds Open file descriptors.\n"
			      "# TYPE process_open_fds gauge\n"
			      "process_open_fds %ld\n",
			      fds);
}

enum MHD_Result route_metrics(struct http_request *req)
{
	const struct http_app *app = req->app;
	struct strbuf out = STRBUF_INIT;
	enum MHD_Result rc;

	strbuf_printf(&out,
		      "# HELP historian_build_info Version of the running historiand.\n"
		      "# TYPE historian_build_info gauge\n"
		      "historian_build_info{version=\"%s\"} 1\n"
		      "# HELP historian_start_time_seconds Start time of historiand, seconds since the Unix epoch.\n"
		      "# TYPE historian_start_time_seconds gauge\n"
		      "historian_start_time_seconds %.3f\n"
		      "# HELP process_start_time_seconds Start time of the process, seconds since the Unix epoch.\n"
		      "# TYPE process_start_time_seconds gauge\n"
		      "process_start_time_seconds %.3f\n",
		      app->version, (double)app->start_unix_ns / 1e9, (double)app->start_unix_ns / 1e9);
	render_process(&out);
	if (app->store)
		render_store(app->store, &out);
	if (app->render_metrics)
		app->render_metrics(app->render_metrics_arg, &out);
	http_metrics_render(req->server, &out);
	if (strbuf_failed(&out)) {
		strbuf_free(&out);
		return http_reply_error(req, 500, "out_of_memory", "cannot render metrics");
	}
	rc = http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", out.data, out.len);
	strbuf_free(&out);
	return rc;
}

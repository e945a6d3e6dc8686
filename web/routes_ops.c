/* routes_ops.c: operations endpoints: GET /health (JSON) and GET /metrics (Prometheus text format 0.0.4).
 * Read-only; safe on any worker thread. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/strbuf.h"
#include "web/routes.h"

enum MHD_Result route_health(struct http_request *req)
{
	const struct http_app *app = req->app;
	json_int_t uptime_s = (json_int_t)((clock_mono_ns() - app->start_mono_ns) / 1000000000u);

	return http_reply_json_new(req, 200,
				   json_pack("{s:s,s:s,s:I,s:s}", "status", "ok", "version",
					     app->version, "uptime_s", uptime_s, "data_dir",
					     app->data_dir));
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
	http_metrics_render(req->server, &out);
	if (strbuf_failed(&out)) {
		strbuf_free(&out);
		return http_reply_error(req, 500, "out_of_memory", "cannot render metrics");
	}
	rc = http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", out.data, out.len);
	strbuf_free(&out);
	return rc;
}

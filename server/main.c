/* main.c: historiand's entry point: options, configuration, start-up, signals and orderly shutdown.
 * Signals are blocked in every thread and taken synchronously by the main thread with sigwaitinfo, so no handler runs
 * async-signal code. Exit status: 0 clean stop, 1 fatal runtime error, 2 usage or configuration error. */
#define _GNU_SOURCE
#include "hs_autoconf.h" /* PACKAGE_VERSION */

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/hs_error.h"
#include "lib/log.h"
#include "query/tz.h"
#include "lib/sdnotify.h"
#include "server/config.h"
#include "storage/datadir.h"
#include "server/evloop.h"
#include "server/ingest.h"
#include "server/mqtt.h"
#include "server/mqtt_map.h"
#include "server/udp.h"
#include "storage/store.h"
#include "web/http.h"

#define EXIT_FATAL 1
#define EXIT_USAGE 2

struct options {
	const char *config_path;
	bool print_config;
	bool salvage;
	bool compact; /* the "compact" subcommand */
	/* overrides, applied after the file; NULL when not given */
	const char *data_dir, *http, *mqtt, *udp, *log_level, *log_file;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: historiand [OPTION]...\n"
		"       historiand compact [OPTION]...\n"
		"Run the historian daemon in the foreground, or (compact) seal the head of a\n"
		"stopped daemon's data directory into chunks and exit.\n"
		"\n"
		"  -c, --config FILE        read configuration from FILE (INI; see historiand.conf(5))\n"
		"  -d, --data-dir DIR       data directory (default ./var)\n"
		"      --http ADDR:PORT|off HTTP API listener (default 127.0.0.1:8080)\n"
		"      --mqtt ADDR:PORT|off MQTT endpoint (default 127.0.0.1:1883)\n"
		"      --udp ADDR:PORT|off  UDP line-protocol listener (default 127.0.0.1:8089)\n"
		"  -l, --log-level LEVEL    error, warn, info or debug (default info)\n"
		"      --log-file FILE      log to FILE instead of stderr; SIGHUP reopens it\n"
		"      --salvage            replay a WAL with corruption in the middle, keeping\n"
		"                           every valid record and reporting what was skipped\n"
		"      --print-config       print the effective configuration and exit\n"
		"  -h, --help               show this help and exit\n"
		"  -V, --version            show the version and exit\n"
		"\n"
		"Options override the configuration file. Exit status: 0 after a clean stop,\n"
		"1 on a fatal error, 2 on a usage or configuration error.\n"
		"See historiand(8).\n");
}

/* Returns -1 to go on, or an exit status. */
static int parse_args(int argc, char **argv, struct options *opt)
{
	enum { OPT_HTTP = 256, OPT_MQTT, OPT_UDP, OPT_LOG_FILE, OPT_PRINT_CONFIG, OPT_SALVAGE };
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"data-dir", required_argument, NULL, 'd'},
		{"http", required_argument, NULL, OPT_HTTP},
		{"mqtt", required_argument, NULL, OPT_MQTT},
		{"udp", required_argument, NULL, OPT_UDP},
		{"log-level", required_argument, NULL, 'l'},
		{"log-file", required_argument, NULL, OPT_LOG_FILE},
		{"print-config", no_argument, NULL, OPT_PRINT_CONFIG},
		{"salvage", no_argument, NULL, OPT_SALVAGE},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	int c;

	if (argc > 1 && strcmp(argv[1], "compact") == 0) {
		opt->compact = true;
		argv[1] = argv[0];
		argc--;
		argv++;
	}
	while ((c = getopt_long(argc, argv, "c:d:l:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': opt->config_path = optarg; break;
		case 'd': opt->data_dir = optarg; break;
		case OPT_HTTP: opt->http = optarg; break;
		case OPT_MQTT: opt->mqtt = optarg; break;
		case OPT_UDP: opt->udp = optarg; break;
		case 'l': opt->log_level = optarg; break;
		case OPT_LOG_FILE: opt->log_file = optarg; break;
		case OPT_PRINT_CONFIG: opt->print_config = true; break;
		case OPT_SALVAGE: opt->salvage = true; break;
		case 'h': usage(stdout); return EXIT_SUCCESS;
		case 'V': printf("historiand %s\n", PACKAGE_VERSION); return EXIT_SUCCESS;
		default:
			fprintf(stderr, "Try 'historiand --help' for more information.\n");
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "historiand: unexpected argument '%s'\nTry 'historiand --help' for more information.\n",
			argv[optind]);
		return EXIT_USAGE;
	}
	return -1;
}

/* The file, then the overrides, then the cross-key rules. */
static int load_config(const struct options *opt, struct hs_config *cfg)
{
	const struct { const char *value, *section, *key, *option; } overrides[] = {
		{opt->data_dir, "general", "data_dir", "--data-dir"},
		{opt->log_level, "general", "log_level", "--log-level"},
		{opt->log_file, "general", "log_file", "--log-file"},
		{opt->http, "http", "listen", "--http"},
		{opt->mqtt, "mqtt", "listen", "--mqtt"},
		{opt->udp, "udp", "listen", "--udp"},
	};
	char err[CONFIG_ERROR_MAX];
	int rc;

	rc = config_init(cfg);
	if (rc != 0) {
		fprintf(stderr, "historiand: cannot set up configuration: %s\n", hs_strerror(rc));
		return EXIT_FATAL;
	}
	if (opt->config_path && (rc = config_load_file(cfg, opt->config_path, err)) != 0)
		goto bad;
	for (size_t i = 0; i < sizeof overrides / sizeof overrides[0]; i++) {
		if (!overrides[i].value)
			continue;
		rc = config_set(cfg, overrides[i].section, overrides[i].key, overrides[i].value,
				overrides[i].option, err);
		if (rc != 0)
			goto bad;
	}
	rc = config_validate(cfg, err);
	if (rc != 0)
		goto bad;
	return -1;
bad:
	if (rc == -ENOMEM)
		fprintf(stderr, "historiand: out of memory reading the configuration\n");
	else
		fprintf(stderr, "historiand: %s\n", err);
	return EXIT_USAGE;
}

struct watchdog {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	uint64_t timeout_ms;
};

/* Shutdown must end in bounded time even if a worker hangs in a syscall:
 * past the deadline this thread ends the process itself. */
static void *watchdog_main(void *arg)
{
	struct watchdog *w = arg;
	struct timespec until;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += (time_t)(w->timeout_ms / 1000);
	until.tv_nsec += (long)(w->timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&w->lock);
	while (!w->done && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&w->cond, &w->lock, &until);
	pthread_mutex_unlock(&w->lock);
	if (!w->done) {
		log_error("main", "shutdown did not finish within %llu ms; exiting now",
			  (unsigned long long)w->timeout_ms);
		_exit(EXIT_FATAL);
	}
	return NULL;
}

/* Wait for SIGTERM or SIGINT, reopening the log file on SIGHUP. */
static int wait_for_stop(const sigset_t *sigs)
{
	for (;;) {
		siginfo_t info;
		int sig = sigwaitinfo(sigs, &info);
		if (sig < 0) {
			if (errno == EINTR)
				continue;
			log_error("main", "sigwaitinfo: %s", hs_strerror(-errno));
			return SIGTERM;
		}
		if (sig == SIGHUP) {
			int rc = log_reopen();
			if (!log_to_file())
				log_info("main", "SIGHUP: logging to stderr, nothing to reopen");
			else if (rc != 0)
				log_error("main", "SIGHUP: cannot reopen log file: %s", hs_strerror(rc));
			else
				log_info("main", "SIGHUP: log file reopened");
			continue;
		}
		return sig;
	}
}

/* Stop accepting, let requests in flight finish, close. */
static int stop_services(struct http_server *http, uint64_t timeout_ms)
{
	struct watchdog w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false,
			     timeout_ms + 1000};
	uint64_t deadline = clock_mono_ns() + timeout_ms * 1000000u;
	pthread_condattr_t attr;
	pthread_t thread;
	bool have_watchdog;
	unsigned busy = 0;

	/* A wall-clock jump (NTP) must not move the deadline. */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&w.cond, &attr);
	pthread_condattr_destroy(&attr);
	have_watchdog = pthread_create(&thread, NULL, watchdog_main, &w) == 0;
	if (!have_watchdog)
		log_warn("main", "cannot start the shutdown watchdog; stopping without it");
	if (http) {
		http_server_quiesce(http);
		busy = http_server_wait_idle(http, deadline);
		if (busy)
			log_warn("http", "%u requests still in flight after %llu ms; closing them", busy,
				 (unsigned long long)timeout_ms);
		http_server_stop(http);
	}
	if (have_watchdog) {
		pthread_mutex_lock(&w.lock);
		w.done = true;
		pthread_cond_signal(&w.cond);
		pthread_mutex_unlock(&w.lock);
		pthread_join(thread, NULL);
	}
	pthread_cond_destroy(&w.cond);
	return busy ? EXIT_FATAL : EXIT_SUCCESS;
}

static void store_options_from(const struct hs_config *cfg, const char *data_dir, bool salvage,
			       struct store_options *so)
{
	static const enum store_wal_sync modes[] = {STORE_WAL_SYNC_COMMIT, STORE_WAL_SYNC_INTERVAL,
						    STORE_WAL_SYNC_OFF};
	store_options_init(so);
	so->data_dir = data_dir;
	so->wal_sync = modes[cfg->wal_sync];
	so->wal_sync_interval_ms = cfg->wal_sync_interval_ms;
	so->wal_segment_bytes = cfg->wal_segment_bytes;
	so->seal_interval_ns = (int64_t)cfg->seal_interval_ms * 1000000;
	so->partition_ns = (int64_t)cfg->partition_ms * 1000000;
	so->head_memory_bytes = (size_t)cfg->head_memory_bytes;
	so->salvage = salvage;
}

static int open_store(const struct hs_config *cfg, const char *data_dir, bool salvage,
		      struct store **st)
{
	struct config_retention_rule rules[CONFIG_RETENTION_RULES_MAX];
	struct store_retention keep[CONFIG_RETENTION_RULES_MAX];
	struct store_options so;
	char err[STORE_ERROR_MAX];
	int rc, n;

	store_options_from(cfg, data_dir, salvage, &so);
	/* Checked when the configuration was read; cannot fail here. */
	n = config_retention_parse(cfg->retention_keep, rules, CONFIG_RETENTION_RULES_MAX, err,
				   sizeof err);
	for (int i = 0; i < n; i++) {
		keep[i].pattern = rules[i].glob;
		keep[i].keep_ns = (int64_t)(rules[i].keep_ms * 1000000);
		log_info("main", "retention: tags matching %s keep %llu days", rules[i].glob,
			 (unsigned long long)(rules[i].keep_ms / 86400000));
	}
	so.retention = keep;
	so.nretention = n > 0 ? (size_t)n : 0;
	rc = store_open(&so, st, err);
	if (rc == 0)
		return 0;
	log_error("main", "%s", err);
	if (rc == HS_ECORRUPT && !salvage)
		log_error("main", "the WAL is damaged in the middle; historiand --salvage keeps every "
				  "valid record and reports what it skips (back up %s first)", data_dir);
	return rc;
}

/* historiand compact: seal everything now so backups and size
 * measurements see the final layout. */
static int run_compact(const struct hs_config *cfg, bool salvage)
{
	struct datadir *dir = NULL;
	struct store *st = NULL;
	struct store_stats before, after;
	char err[DATADIR_ERROR_MAX];
	int rc;

	rc = datadir_open(cfg->data_dir, &dir, err);
	if (rc != 0) {
		log_error("main", "%s", err);
		return EXIT_FATAL;
	}
	rc = open_store(cfg, datadir_path(dir), salvage, &st);
	if (rc == 0) {
		size_t partitions;
		store_stats(st, &before);
		rc = store_compact_now(st, &partitions);
		store_stats(st, &after);
		if (rc == 0)
			log_info("main", "compact: sealed %llu samples into %llu chunks, rewrote %zu "
					 "partitions; chunk files %llu bytes",
				 (unsigned long long)before.head_samples,
				 (unsigned long long)(after.chunks_written - before.chunks_written),
				 partitions, (unsigned long long)after.chunk_file_bytes);
		else
			log_error("main", "compact failed: %s", hs_strerror(rc));
	}
	store_close(st);
	datadir_close(dir);
	return rc == 0 ? EXIT_SUCCESS : EXIT_FATAL;
}

struct listeners {
	struct ingest *ing;
	struct evloop *loop;
	struct udp_listener *udp;
	struct mqtt_server *mqtt;
	struct mqtt_map *map;
	bool mqtt_off;          /* the server runs for the bridge alone */
};

/* /metrics for what lives in server/: the ingest pipeline and UDP. */
static void render_server_metrics(void *arg, struct strbuf *out)
{
	const struct listeners *l = arg;
	struct ingest_stats is;
	struct udp_stats us = {0};

	ingest_stats(l->ing, &is);
	if (l->udp)
		udp_listener_stats(l->udp, &us);
	const struct { const char *name, *type, *help; uint64_t v; } rows[] = {
		{"historian_ingest_batches_total", "counter", "Batches handed to storage.", is.batches},
		{"historian_ingest_samples_total", "counter", "Samples handed to storage.", is.samples},
		{"historian_ingest_bad_lines_total", "counter", "Lines or JSON samples refused.", is.bad_lines},
		{"historian_ingest_refused_busy_total", "counter",
		 "Writes refused because storage was behind (503).", is.refused_busy},
		{"historian_ingest_pending_bytes", "gauge", "Accepted, not yet durable.", is.pending_bytes},
		{"historian_ingest_split_parses_total", "counter",
		 "Line-protocol bodies parsed in two halves on two threads.", is.split_parses},
		{"historian_udp_datagrams_total", "counter", "UDP datagrams received.", us.datagrams},
		{"historian_udp_samples_total", "counter", "Samples taken from UDP.", us.samples},
		{"historian_udp_parse_errors_total", "counter", "UDP lines refused.", us.bad_lines},
		{"historian_udp_dropped_samples_total", "counter",
		 "UDP samples dropped because storage was behind.", us.dropped_busy},
		{"historian_udp_kernel_drops_total", "counter",
		 "UDP datagrams the kernel dropped (receive buffer full).", us.kernel_drops},
		{"historian_udp_rcvbuf_bytes", "gauge", "UDP receive buffer granted.", us.rcvbuf_bytes},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		strbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", rows[i].name, rows[i].help,
			      rows[i].name, rows[i].type, rows[i].name, (unsigned long long)rows[i].v);
	if (l->mqtt)
		mqtt_server_metrics(l->mqtt, out);
}

/* Every MQTT connection is a file descriptor: take the hard limit on open
 * files as ours, and say so when max_connections cannot fit in it. */
static void raise_file_limit(const struct hs_config *cfg)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0 && getrlimit(RLIMIT_NOFILE, &rl) != 0)
			return;
	}
	if (!cfg->mqtt_listen.off && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)cfg->mqtt_max_connections)
		log_warn("mqtt", "open-file limit %llu is below max_connections %u: "
				 "connections past it are refused (raise LimitNOFILE)",
			 (unsigned long long)rl.rlim_cur, cfg->mqtt_max_connections);
}

/* /health: the MQTT bridge, when there is one. */
static void health_extra(void *arg, json_t *doc)
{
	const struct listeners *l = arg;
	const char *state;
	char last[200];

	mqtt_server_bridge_state(l->mqtt, &state, last, sizeof last);
	if (strcmp(state, "off") != 0)
		json_object_set_new(doc, "mqtt_bridge",
				    json_pack("{s:s,s:s}", "state", state, "last_error", last));
}

/* The event loop and what runs on it: the UDP listener and the MQTT
 * endpoint (either may be off; no loop when both are). */
static int start_listeners(const struct hs_config *cfg, struct listeners *l)
{
	char err[MQTT_ERROR_MAX > 512 ? MQTT_ERROR_MAX : 512];
	struct udp_options uo = {cfg->udp_listen, (size_t)cfg->udp_rcvbuf_bytes};
	int rc;

	l->mqtt_off = cfg->mqtt_listen.off;
	if (cfg->udp_listen.off && cfg->mqtt_listen.off && cfg->bridge_broker.off)
		return 0;
	raise_file_limit(cfg);
	if ((rc = evloop_new(&l->loop)) != 0) {
		log_error("main", "cannot start the event loop: %s", hs_strerror(rc));
		return rc;
	}
	if (!cfg->udp_listen.off && (rc = udp_listener_new(&uo, l->ing, l->loop, &l->udp, err)) != 0) {
		log_error("main", "%s", err);
		return rc;
	}
	if (!cfg->mqtt_listen.off || !cfg->bridge_broker.off) {
		struct mqtt_bridge_options bo = {cfg->bridge_broker, cfg->bridge_protocol ? 5 : 4,
						 cfg->bridge_client_id, cfg->bridge_username,
						 cfg->bridge_password, cfg->bridge_subscribe,
						 (unsigned)(cfg->bridge_keepalive_ms / 1000),
						 (uint32_t)(cfg->bridge_session_expiry_ms / 1000)};
		struct mqtt_options mo = {cfg->mqtt_listen, cfg->mqtt_max_connections,
					  (size_t)cfg->mqtt_max_packet_bytes, cfg->mqtt_receive_max,
					  cfg->mqtt_topic_alias_max, cfg->mqtt_username,
					  cfg->mqtt_password, NULL, cfg->bridge_broker.off ? NULL : &bo};
		if ((rc = mqtt_map_parse(cfg->mqtt_map, &l->map, err, sizeof err)) != 0) {
			log_error("main", "[mqtt] map: %s", err);
			return rc;
		}
		mo.map = l->map;
		if ((rc = mqtt_server_new(&mo, l->ing, l->loop, &l->mqtt, err)) != 0) {
			log_error("main", "%s", err);
			return rc;
		}
	}
	if ((rc = evloop_start(l->loop)) != 0) {
		log_error("main", "cannot start the event loop: %s", hs_strerror(rc));
		return rc;
	}
	if (l->udp) {
		struct udp_stats us;
		udp_listener_stats(l->udp, &us);
		log_info("udp", "listening on %s (receive buffer %llu bytes)",
			 udp_listener_address(l->udp), (unsigned long long)us.rcvbuf_bytes);
	}
	if (l->mqtt && !cfg->mqtt_listen.off)
		log_info("mqtt", "listening on %s (MQTT 3.1.1 and 5.0)", mqtt_server_address(l->mqtt));
	if (!cfg->bridge_broker.off)
		log_info("mqtt", "bridge: subscribing at %s as %s (%s)", cfg->bridge_broker.text,
			 cfg->bridge_client_id, cfg->bridge_subscribe);
	return 0;
}

/* Stop the loop, then the MQTT endpoint (it waits for the store's last
 * answers) and UDP. Before store_close(). */
static void stop_listeners(struct listeners *l)
{
	evloop_stop(l->loop);
	mqtt_server_free(l->mqtt);
	udp_listener_free(l->udp);
	evloop_free(l->loop);
	mqtt_map_free(l->map);
	l->mqtt = NULL;
	l->udp = NULL;
	l->loop = NULL;
	l->map = NULL;
}

/* Tell systemd (Type=notify) we serve; STATUS lists each open listener as
 * "NAME ADDRESS", which also lets tests learn ports the kernel picked. */
static void notify_ready(const struct http_server *http, const struct listeners *l)
{
	char state[384];
	int rc;

	snprintf(state, sizeof state, "READY=1\nMAINPID=%ld\nSTATUS=ready; http %s; udp %s; mqtt %s",
		 (long)getpid(), http ? http_server_address(http) : "off",
		 l->udp ? udp_listener_address(l->udp) : "off",
		 l->mqtt && !l->mqtt_off ? mqtt_server_address(l->mqtt) : "off");
	rc = sd_notify_send(state);
	if (rc < 0)
		log_warn("main", "cannot notify systemd of readiness: %s", hs_strerror(rc));
}

static int run(const struct hs_config *cfg, bool salvage, const sigset_t *sigs)
{
	struct datadir *dir = NULL;
	struct store *st = NULL;
	struct ingest *ing = NULL;
	struct listeners lst = {0};
	struct http_server *http = NULL;
	struct http_app app = {.version = PACKAGE_VERSION};
	char err[DATADIR_ERROR_MAX > HTTP_ERROR_MAX ? DATADIR_ERROR_MAX : HTTP_ERROR_MAX];
	int rc, sig, status = EXIT_FATAL;

	app.start_unix_ns = clock_real_ns();
	app.start_mono_ns = clock_mono_ns();
	log_info("main", "historiand %s starting (pid %ld)", PACKAGE_VERSION, (long)getpid());
	rc = datadir_open(cfg->data_dir, &dir, err);
	if (rc != 0) {
		log_error("main", "%s", err);
		goto out;
	}
	app.data_dir = datadir_path(dir);
	log_info("main", "data directory %s", app.data_dir);
	if (open_store(cfg, app.data_dir, salvage, &st) != 0)
		goto out;
	app.store = st;
	app.limits = (struct http_query_limits){cfg->query_max_points, cfg->query_max_tags,
						cfg->query_timeout_ms, cfg->query_max_response_bytes};
	struct ingest_options iopts = {(size_t)cfg->ingest_max_pending_bytes,
				       cfg->ingest_write_timeout_ms};
	if (ingest_new(st, &iopts, &ing) != 0) {
		log_error("main", "cannot start the ingest pipeline: out of memory");
		goto out;
	}
	app.ingest = ing;
	lst.ing = ing;
	app.render_metrics = render_server_metrics;
	app.render_metrics_arg = &lst;
	app.health_extra = health_extra;
	if (start_listeners(cfg, &lst) != 0)
		goto out;
	if (!cfg->http_listen.off) {
		struct http_options hopts = {cfg->http_listen, cfg->http_threads,
					     cfg->http_connection_timeout_ms, cfg->http_max_connections,
					     (size_t)cfg->http_max_body_bytes,
					     (size_t)cfg->http_request_memory_bytes};
		rc = http_server_start(&hopts, &app, &http, err);
		if (rc != 0) {
			log_error("main", "%s", err);
			goto out;
		}
		log_info("http", "listening on %s (%u threads)", http_server_address(http),
			 cfg->http_threads);
	}
	log_info("main", "ready");
	notify_ready(http, &lst);

	sig = wait_for_stop(sigs);
	sd_notify_send("STOPPING=1\nSTATUS=shutting down");
	log_info("main", "%s received; shutting down (timeout %llu ms)",
		 sig == SIGINT ? "SIGINT" : "SIGTERM", (unsigned long long)cfg->shutdown_timeout_ms);
	/* HTTP first: its /health and /metrics read the listeners' state. */
	status = stop_services(http, cfg->shutdown_timeout_ms);
	http = NULL;
	stop_listeners(&lst); /* no new samples; those handed over finish below */
	store_close(st); /* completes queued appends durably; the head stays in the WAL */
	st = NULL;
	ingest_free(ing); /* every write's completion has run: the store is closed */
	ing = NULL;
	log_info("main", "stopped%s", status == EXIT_SUCCESS ? " cleanly" : " with requests cut off");
out:
	http_server_stop(http);
	stop_listeners(&lst);
	store_close(st); /* after HTTP and UDP: nothing may still use it */
	ingest_free(ing);
	datadir_close(dir);
	tz_cache_free(); /* the HTTP threads that used zones are gone */
	return status;
}

int main(int argc, char **argv)
{
	struct options opt = {0};
	struct hs_config cfg;
	sigset_t sigs;
	int status, rc;

	status = parse_args(argc, argv, &opt);
	if (status >= 0)
		return status;
	status = load_config(&opt, &cfg);
	if (status >= 0) {
		config_free(&cfg);
		return status;
	}
	if (opt.print_config) {
		config_print(&cfg, stdout);
		config_free(&cfg);
		return EXIT_SUCCESS;
	}
	log_set_level(cfg.log_level);
	rc = log_open(cfg.log_file);
	if (rc != 0) {
		fprintf(stderr, "historiand: log file %s: %s\n", cfg.log_file, hs_strerror(rc));
		config_free(&cfg);
		return EXIT_FATAL;
	}
	/* Block before any thread starts so every thread inherits the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	status = opt.compact ? run_compact(&cfg, opt.salvage) : run(&cfg, opt.salvage, &sigs);
	log_close();
	config_free(&cfg);
	return status;
}

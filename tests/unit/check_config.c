/* check_config.c: unit tests for server/config.h (key table, defaults, INI syntax, errors, overrides, validate, print).
 * Error tests pin the "FILE:LINE: key: " prefix operators rely on; print tests re-parse config_print output. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/hs_error.h"
#include "server/config.h"

#define ck_assert_str_prefix(s, prefix)                                                    \
	do {                                                                               \
		const char *s_ = (s), *p_ = (prefix);                                      \
		ck_assert_msg(strncmp(s_, p_, strlen(p_)) == 0,                            \
			      "Assertion '%s starts with %s' failed: \"%s\" does not start with \"%s\"", \
			      #s, #prefix, s_, p_);                                        \
	} while (0)

#define ck_assert_str_contains(s, sub)                                                     \
	do {                                                                               \
		const char *s_ = (s), *sub_ = (sub);                                       \
		ck_assert_msg(strstr(s_, sub_) != NULL,                                    \
			      "Assertion '%s contains %s' failed: \"%s\" does not contain \"%s\"", \
			      #s, #sub, s_, sub_);                                         \
	} while (0)

static struct hs_config cfg;
static char err[CONFIG_ERROR_MAX];
static char tmp_dir[PATH_MAX];

static void setup(void)
{
	ck_assert_int_eq(config_init(&cfg), 0);
	err[0] = '\0';
}

static void teardown(void)
{
	config_free(&cfg);
}

/* Parse text as file "t.conf" into a freshly initialised cfg. */
static int parse_fresh(const char *text)
{
	config_free(&cfg);
	ck_assert_int_eq(config_init(&cfg), 0);
	err[0] = '\0';
	return config_parse_text(&cfg, "t.conf", text, strlen(text), err);
}

/* The text must parse; on failure the message says why. */
#define parse_ok(text)                                                                     \
	do {                                                                               \
		const char *t_ = (text);                                                   \
		int rc_ = parse_fresh(t_);                                                 \
		ck_assert_msg(rc_ == 0, "parsing \"%s\" failed (%d): %s", t_, rc_, err);  \
	} while (0)

/* The text must be refused with err starting with prefix and holding reason. */
#define parse_err(text, prefix, reason)                                                    \
	do {                                                                               \
		const char *t_ = (text);                                                   \
		int rc_ = parse_fresh(t_);                                                 \
		ck_assert_msg(rc_ == HS_EINVAL_CONFIG,                                     \
			      "parsing \"%s\" returned %d, want HS_EINVAL_CONFIG (%d)", t_, rc_, \
			      HS_EINVAL_CONFIG);                                           \
		ck_assert_str_prefix(err, prefix);                                         \
		ck_assert_str_contains(err, reason);                                       \
	} while (0)

/* config_print into a string; the caller frees it. */
static char *print_config(const struct hs_config *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(out);
	config_print(c, out);
	ck_assert_int_eq(fclose(out), 0);
	ck_assert_ptr_nonnull(buf);
	return buf;
}

/* The value printed for [section] key, as written after "key = ". */
static bool printed_value(const char *printed, const char *section, const char *key, char *out,
			  size_t cap)
{
	char current[64] = "", prefix[96];
	const char *line = printed;

	snprintf(prefix, sizeof prefix, "%s = ", key);
	while (*line) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		if (line[0] == '[' && len >= 2 && len - 2 < sizeof current) {
			memcpy(current, line + 1, len - 2);
			current[len - 2] = '\0';
		} else if (strcmp(current, section) == 0 && strncmp(line, prefix, strlen(prefix)) == 0) {
			size_t vlen = len - strlen(prefix);
			ck_assert_uint_lt(vlen, cap);
			memcpy(out, line + strlen(prefix), vlen);
			out[vlen] = '\0';
			return true;
		}
		line += len + (eol != NULL);
	}
	return false;
}

static size_t key_index(const char *section, const char *key)
{
	const char *s, *k, *d;

	for (size_t i = 0; config_key_at(i, &s, &k, &d); i++)
		if (strcmp(s, section) == 0 && strcmp(k, key) == 0)
			return i;
	ck_abort_msg("no key [%s] %s", section, key);
	return 0;
}

/* ---- key table and defaults --------------------------------------------- */

/* Default texts of durations are compared by value (test_default_fields),
 * since "60s" and "1m" are the same default: NULL here. */
static const struct {
	const char *section, *key, *default_text;
} expected_keys[] = {
	{"general", "data_dir", "./var"},
	{"general", "log_level", "info"},
	{"general", "log_file", ""},
	{"general", "shutdown_timeout", NULL},
	{"general", "allow_unauthenticated_remote", "false"},
	{"http", "listen", "127.0.0.1:8080"},
	{"http", "threads", "4"},
	{"http", "connection_timeout", NULL},
	{"http", "max_connections", "1024"},
	{"http", "max_body_size", "64MiB"},
	{"http", "request_memory", "256KiB"},
	{"mqtt", "listen", "127.0.0.1:1883"},
	{"mqtt", "max_connections", "20000"},
	{"mqtt", "max_packet_size", "1MiB"},
	{"mqtt", "receive_maximum", "256"},
	{"mqtt", "topic_alias_maximum", "64"},
	{"mqtt", "username", ""},
	{"mqtt", "password", ""},
	{"mqtt", "map", ""},
	{"bridge", "broker", "off"},
	{"bridge", "protocol", "3.1.1"},
	{"bridge", "client_id", "historian"},
	{"bridge", "username", ""},
	{"bridge", "password", ""},
	{"bridge", "subscribe", "# 1"},
	{"bridge", "keepalive", NULL},
	{"bridge", "session_expiry", NULL},
	{"udp", "listen", "127.0.0.1:8089"},
	{"udp", "rcvbuf", "8MiB"},
	{"storage", "wal_sync", "commit"},
	{"storage", "wal_sync_interval", "1s"},
	{"storage", "wal_segment_size", "64MiB"},
	{"storage", "seal_interval", "1h"},
	{"storage", "partition", "7d"},
	{"storage", "head_memory", "256MiB"},
	{"ingest", "max_pending", "256MiB"},
	{"ingest", "write_timeout", "10s"},
	{"query", "max_points", "1000000"},
	{"query", "max_tags", "10000"},
	{"query", "timeout", "30s"},
	{"query", "max_response_size", "256MiB"},
	{"retention", "keep", ""},
};
#define EXPECTED_KEYS (sizeof expected_keys / sizeof expected_keys[0])

START_TEST(test_key_table)
{
	const char *s, *k, *d;
	size_t i;

	for (i = 0; config_key_at(i, &s, &k, &d); i++) {
		ck_assert_uint_lt(i, EXPECTED_KEYS);
		ck_assert_str_eq(s, expected_keys[i].section);
		ck_assert_str_eq(k, expected_keys[i].key);
		if (expected_keys[i].default_text)
			ck_assert_str_eq(d, expected_keys[i].default_text);
		else
			ck_assert_int_ne(d[0], '\0');
	}
	ck_assert_uint_eq(i, EXPECTED_KEYS);
	ck_assert(!config_key_at(EXPECTED_KEYS + 1000, &s, &k, &d));
}
END_TEST

START_TEST(test_storage_values)
{
#define PARSE(name, text) config_parse_text(&cfg, name, text, strlen(text), err)

	ck_assert_int_eq(PARSE("f.conf", "[storage]\nwal_sync = interval\nwal_segment_size = 1GiB\n"
					   "head_memory = 1000000000\npartition = 1d\n"), 0);
	ck_assert_uint_eq(cfg.wal_sync, 1);
	ck_assert_uint_eq(cfg.wal_segment_bytes, 1u << 30);
	ck_assert_uint_eq(cfg.head_memory_bytes, 1000000000u);
	ck_assert_uint_eq(cfg.partition_ms, 86400000u);
	ck_assert_int_eq(PARSE("g.conf", "[storage]\nwal_sync = sometimes\n"), HS_EINVAL_CONFIG);
	ck_assert_str_eq(err, "g.conf:2: wal_sync: \"sometimes\" is not one of: commit, interval, off");
	ck_assert_int_eq(PARSE("h.conf", "[storage]\nhead_memory = 12 MiB\n"), HS_EINVAL_CONFIG);
	ck_assert_str_eq(err, "h.conf:2: head_memory: \"12 MiB\" is not a size (a whole number of "
			      "bytes, or with KiB, MiB, GiB, TiB)");
	ck_assert_int_eq(PARSE("i.conf", "[storage]\nwal_segment_size = 2GiB\n"), HS_EINVAL_CONFIG);
	ck_assert_str_eq(err, "i.conf:2: wal_segment_size: 2GiB is outside 64KiB to 1GiB");
	ck_assert_int_eq(PARSE("j.conf", "[storage]\npartition = 59m\n"), HS_EINVAL_CONFIG);
	ck_assert_int_eq(PARSE("k.conf", "[retention]\nkeep = lab.* 30d, *.vib 2y\n"), 0);
	ck_assert_str_eq(cfg.retention_keep, "lab.* 30d, *.vib 2y");
	ck_assert_int_eq(PARSE("l.conf", "[retention]\nkeep = lab.* 30 days\n"), HS_EINVAL_CONFIG);
	ck_assert_str_eq(err, "l.conf:2: keep: rule 1: expected \"GLOB DURATION\", as in \"lab.* 30d\"");
	ck_assert_int_eq(PARSE("m.conf", "[retention]\nkeep = a 1d, b 0d\n"), HS_EINVAL_CONFIG);
	ck_assert_str_eq(err, "m.conf:2: keep: rule 2: \"0d\" is not a keep time (a whole number with "
			      "h, d, w or y)");
#undef PARSE
}
END_TEST

START_TEST(test_retention_rules)
{
	struct config_retention_rule r[4];
	char why[256];

	ck_assert_int_eq(config_retention_parse("", r, 4, why, sizeof why), 0);
	ck_assert_int_eq(config_retention_parse("  lab.*\t30d ,plant.*.vib 2y, x 12h, y 3w", r, 4, why,
						sizeof why), 4);
	ck_assert_str_eq(r[0].glob, "lab.*");
	ck_assert_uint_eq(r[0].keep_ms, 30ull * 86400000);
	ck_assert_str_eq(r[1].glob, "plant.*.vib");
	ck_assert_uint_eq(r[1].keep_ms, 2ull * 365 * 86400000);
	ck_assert_uint_eq(r[2].keep_ms, 12ull * 3600000);
	ck_assert_uint_eq(r[3].keep_ms, 21ull * 86400000);
	ck_assert_int_eq(config_retention_parse("a 1d, b 1d, c 1d", r, 2, why, sizeof why), -1);
	ck_assert_int_eq(config_retention_parse("a", r, 4, why, sizeof why), -1);
	ck_assert_int_eq(config_retention_parse("a 1d b", r, 4, why, sizeof why), -1);
	ck_assert_int_eq(config_retention_parse("a 1x", r, 4, why, sizeof why), -1);
	ck_assert_int_eq(config_retention_parse(", a 1d", r, 4, why, sizeof why), -1);
	ck_assert_int_eq(config_retention_parse("a 99999999999999999y", r, 4, why, sizeof why), -1);
}
END_TEST

START_TEST(test_default_fields)
{
	ck_assert_str_eq(cfg.data_dir, "./var");
	ck_assert_uint_eq(cfg.wal_sync, 0);
	ck_assert_uint_eq(cfg.wal_sync_interval_ms, 1000);
	ck_assert_uint_eq(cfg.wal_segment_bytes, 64u << 20);
	ck_assert_uint_eq(cfg.seal_interval_ms, 3600000);
	ck_assert_uint_eq(cfg.partition_ms, 7ull * 86400000);
	ck_assert_uint_eq(cfg.head_memory_bytes, 256u << 20);
	ck_assert_int_eq(cfg.log_level, HS_LOG_INFO);
	ck_assert_str_eq(cfg.log_file, "");
	ck_assert_uint_eq(cfg.shutdown_timeout_ms, 10000);
	ck_assert(!cfg.allow_unauthenticated_remote);
	ck_assert(!cfg.http_listen.off);
	ck_assert_str_eq(cfg.http_listen.text, "127.0.0.1:8080");
	ck_assert_uint_eq(cfg.http_threads, 4);
	ck_assert_uint_eq(cfg.http_connection_timeout_ms, 60000);
	ck_assert_uint_eq(cfg.http_max_connections, 1024);
	ck_assert_str_eq(cfg.mqtt_listen.text, "127.0.0.1:1883");
	ck_assert_str_eq(cfg.udp_listen.text, "127.0.0.1:8089");
	for (size_t i = 0; i < EXPECTED_KEYS; i++) {
		ck_assert_ptr_null(cfg.origins[i].source);
		ck_assert_uint_eq(cfg.origins[i].line, 0);
	}
	ck_assert_int_eq(config_validate(&cfg, err), 0);
}
END_TEST

/* Each printed default, and each default text read back from a file, gives
 * the same configuration as config_init. */
START_TEST(test_default_printed)
{
	char *defaults = print_config(&cfg), value[256], help[256];
	const char *s, *k, *d;

	for (size_t i = 0; config_key_at(i, &s, &k, &d); i++) {
		char text[512], *again;

		ck_assert_msg(printed_value(defaults, s, k, value, sizeof value),
			      "[%s] %s missing from config_print output", s, k);
		/* Strings print as the default text itself. */
		if (strcmp(k, "data_dir") == 0 || strcmp(k, "log_file") == 0 ||
		    strcmp(k, "listen") == 0 || strcmp(k, "log_level") == 0)
			ck_assert_str_eq(value, d);
		snprintf(help, sizeof help, "(default: %s)\n%s = ", d[0] ? d : "empty", k);
		ck_assert_str_contains(defaults, help);

		snprintf(text, sizeof text, "[%s]\n%s = %s\n", s, k, value);
		parse_ok(text);
		again = print_config(&cfg);
		ck_assert_str_eq(again, defaults);
		free(again);
		snprintf(text, sizeof text, "[%s]\n%s = \"%s\"\n", s, k, d);
		parse_ok(text);
		again = print_config(&cfg);
		ck_assert_str_eq(again, defaults);
		free(again);
	}
	ck_assert_str_prefix(defaults, "[general]\n# ");
	ck_assert_str_contains(defaults, "\n\n[http]\n# ");
	ck_assert_str_contains(defaults, "\n\n[mqtt]\n# ");
	ck_assert_str_contains(defaults, "\n\n[udp]\n# ");
	ck_assert_str_contains(defaults, "\nshutdown_timeout = 10s\n");
	ck_assert_str_contains(defaults, "\nallow_unauthenticated_remote = false\n");
	ck_assert_str_contains(defaults, "\nthreads = 4\n");
	ck_assert_str_contains(defaults, "\nmax_connections = 1024\n");
	free(defaults);
}
END_TEST

/* ---- a full file -------------------------------------------------------- */

static const char full_conf[] =
	"# full configuration\n"                           /* 1 */
	"[general]\n"                                      /* 2 */
	"data_dir = /srv/historian/data\n"                 /* 3 */
	"log_level = debug\n"                              /* 4 */
	"log_file = /var/log/historian/historiand.log\n"   /* 5 */
	"shutdown_timeout = 30s\n"                         /* 6 */
	"allow_unauthenticated_remote = true\n"            /* 7 */
	"\n"                                               /* 8 */
	"[http]\n"                                         /* 9 */
	"listen = 0.0.0.0:9080\n"                          /* 10 */
	"threads = 16\n"                                   /* 11 */
	"connection_timeout = 2m\n"                        /* 12 */
	"max_connections = 50\n"                           /* 13 */
	"\n"                                               /* 14 */
	"[mqtt]\n"                                         /* 15 */
	"listen = [::1]:11883\n"                           /* 16 */
	"\n"                                               /* 17 */
	"[udp]\n"                                          /* 18 */
	"listen = off\n"                                   /* 19 */
	"[storage]\n"                                      /* 20 */
	"wal_sync = interval\n"                            /* 21 */
	"wal_sync_interval = 250ms\n"                      /* 22 */
	"wal_segment_size = 8MiB\n"                        /* 23 */
	"seal_interval = 10m\n"                            /* 24 */
	"partition = 1d\n"                                 /* 25 */
	"head_memory = 1GiB\n"                             /* 26 */
	"[retention]\n"                                    /* 27 */
	"keep = lab.* 30d\n"                               /* 28 */
	"[http]\n"                                         /* 29 */
	"max_body_size = 8MiB\n"                           /* 30 */
	"[ingest]\n"                                       /* 31 */
	"max_pending = 64MiB\n"                            /* 32 */
	"write_timeout = 2s\n"                             /* 33 */
	"[udp]\n"                                          /* 34 */
	"rcvbuf = 16MiB\n"                                 /* 35 */
	"[query]\n"                                        /* 36 */
	"max_points = 50000\n"                             /* 37 */
	"max_tags = 500\n"                                 /* 38 */
	"timeout = 5s\n"                                   /* 39 */
	"max_response_size = 16MiB\n"                      /* 40 */
	"[mqtt]\n"                                         /* 41 */
	"max_connections = 500\n"                          /* 42 */
	"max_packet_size = 64KiB\n"                        /* 43 */
	"receive_maximum = 10\n"                           /* 44 */
	"topic_alias_maximum = 0\n"                        /* 45 */
	"username = gateway\n"                             /* 46 */
	"password = s3cret\n"                              /* 47 */
	"map = a/+x {x} json\n"                            /* 48 */
	"[bridge]\n"                                       /* 49 */
	"broker = 10.0.0.5:1883\n"                         /* 50 */
	"protocol = 5\n"                                   /* 51 */
	"client_id = site-a\n"                             /* 52 */
	"username = hs\n"                                  /* 53 */
	"password = pw\n"                                  /* 54 */
	"subscribe = plant/# 2\n"                          /* 55 */
	"keepalive = 30s\n"                                /* 56 */
	"session_expiry = 1d\n"                            /* 57 */
	"[http]\n"                                         /* 58 */
	"request_memory = 2MiB\n";                         /* 59 */
static const unsigned full_conf_lines[] = {3,  4,  5,  6,  7,  10, 11, 12, 13, 30, 59, 16, 42, 43,
					   44, 45, 46, 47, 48, 50, 51, 52, 53, 54, 55, 56, 57,
					   19, 35, 21, 22, 23, 24, 25, 26, 32, 33, 37, 38, 39, 40, 28};

static void dir_create(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmp_dir, sizeof tmp_dir, "%s/check_config.XXXXXX", base && base[0] ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

static void dir_remove(void)
{
	nftw(tmp_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void write_file(char *path, const char *name, const char *text)
{
	int fd;

	ck_assert_int_lt(snprintf(path, PATH_MAX, "%s/%s", tmp_dir, name), PATH_MAX);
	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

START_TEST(test_full_file)
{
	char path[PATH_MAX];

	write_file(path, "full.conf", full_conf);
	ck_assert_msg(config_load_file(&cfg, path, err) == 0, "load failed: %s", err);
	ck_assert_str_eq(cfg.data_dir, "/srv/historian/data");
	ck_assert_int_eq(cfg.log_level, HS_LOG_DEBUG);
	ck_assert_str_eq(cfg.log_file, "/var/log/historian/historiand.log");
	ck_assert_uint_eq(cfg.shutdown_timeout_ms, 30000);
	ck_assert(cfg.allow_unauthenticated_remote);
	ck_assert_str_eq(cfg.http_listen.text, "0.0.0.0:9080");
	ck_assert_uint_eq(cfg.http_threads, 16);
	ck_assert_uint_eq(cfg.http_connection_timeout_ms, 120000);
	ck_assert_uint_eq(cfg.http_max_connections, 50);
	ck_assert_str_eq(cfg.mqtt_listen.text, "[::1]:11883");
	ck_assert(cfg.udp_listen.off);
	ck_assert_str_eq(cfg.udp_listen.text, "off");
	ck_assert_uint_eq(cfg.wal_sync, 1);
	ck_assert_uint_eq(cfg.wal_sync_interval_ms, 250);
	ck_assert_uint_eq(cfg.wal_segment_bytes, 8u << 20);
	ck_assert_uint_eq(cfg.seal_interval_ms, 600000);
	ck_assert_uint_eq(cfg.partition_ms, 86400000);
	ck_assert_uint_eq(cfg.head_memory_bytes, 1u << 30);
	ck_assert_uint_eq(cfg.http_request_memory_bytes, 2u << 20);
	ck_assert_uint_eq(cfg.query_max_points, 50000);
	ck_assert_uint_eq(cfg.query_max_tags, 500);
	ck_assert_uint_eq(cfg.query_timeout_ms, 5000);
	ck_assert_uint_eq(cfg.query_max_response_bytes, 16u << 20);
	ck_assert_uint_eq(cfg.mqtt_max_connections, 500);
	ck_assert_uint_eq(cfg.mqtt_max_packet_bytes, 64u << 10);
	ck_assert_uint_eq(cfg.mqtt_receive_max, 10);
	ck_assert_uint_eq(cfg.mqtt_topic_alias_max, 0);
	ck_assert_str_eq(cfg.mqtt_username, "gateway");
	ck_assert_str_eq(cfg.mqtt_password, "s3cret");
	ck_assert_str_eq(cfg.mqtt_map, "a/+x {x} json");
	ck_assert_str_eq(cfg.bridge_broker.text, "10.0.0.5:1883");
	ck_assert_uint_eq(cfg.bridge_protocol, 1);
	ck_assert_str_eq(cfg.bridge_client_id, "site-a");
	ck_assert_str_eq(cfg.bridge_subscribe, "plant/# 2");
	ck_assert_uint_eq(cfg.bridge_keepalive_ms, 30000);
	ck_assert_uint_eq(cfg.bridge_session_expiry_ms, 86400000);
	for (size_t i = 0; i < EXPECTED_KEYS; i++) {
		ck_assert_ptr_nonnull(cfg.origins[i].source);
		ck_assert_str_eq(cfg.origins[i].source, path);
		ck_assert_uint_eq(cfg.origins[i].line, full_conf_lines[i]);
	}
	ck_assert_int_eq(config_validate(&cfg, err), 0);
}
END_TEST

/* A file names only some keys: the rest keep their defaults. */
START_TEST(test_partial_file)
{
	parse_ok("[http]\nthreads = 2\n");
	ck_assert_uint_eq(cfg.http_threads, 2);
	ck_assert_str_eq(cfg.data_dir, "./var");
	ck_assert_str_eq(cfg.http_listen.text, "127.0.0.1:8080");
	ck_assert_uint_eq(cfg.http_max_connections, 1024);
	ck_assert_ptr_null(cfg.origins[key_index("http", "listen")].source);
}
END_TEST

/* ---- command-line overrides --------------------------------------------- */

START_TEST(test_override_wins)
{
	size_t listen = key_index("http", "listen"), threads = key_index("http", "threads");

	parse_ok("[http]\nlisten = 127.0.0.1:9000\nthreads = 8\n");
	ck_assert_int_eq(config_set(&cfg, "http", "listen", "127.0.0.1:9100", "--http", err), 0);
	ck_assert_str_eq(cfg.http_listen.text, "127.0.0.1:9100");
	ck_assert_uint_eq(cfg.http_threads, 8);
	ck_assert_str_eq(cfg.origins[listen].source, "--http");
	ck_assert_uint_eq(cfg.origins[listen].line, 0);
	ck_assert_str_eq(cfg.origins[threads].source, "t.conf");
	ck_assert_uint_eq(cfg.origins[threads].line, 3);

	ck_assert_int_eq(config_set(&cfg, "general", "log_file", "  /tmp/x.log", "--log-file", err),
			 0);
	ck_assert_str_eq(cfg.log_file, "  /tmp/x.log"); /* taken as is, no trimming */
	ck_assert_int_eq(config_set(&cfg, "general", "data_dir", "/a", "-d", err), 0);
	ck_assert_int_eq(config_set(&cfg, "general", "data_dir", "/b", "-d", err), 0);
	ck_assert_str_eq(cfg.data_dir, "/b");
}
END_TEST

START_TEST(test_override_errors)
{
	parse_ok("[http]\nlisten = 127.0.0.1:9000\n");
	ck_assert_int_eq(config_set(&cfg, "http", "listen", "plc.local:80", "--http", err),
			 HS_EINVAL_CONFIG);
	ck_assert_str_prefix(err, "--http: \"plc.local:80\": ");

	ck_assert_int_eq(config_set(&cfg, "http", "threads", "0", "--threads", err),
			 HS_EINVAL_CONFIG);
	ck_assert_str_prefix(err, "--threads: \"0\" is not a whole number");

	ck_assert_int_eq(config_set(&cfg, "general", "data_dir", "", "--data-dir", err),
			 HS_EINVAL_CONFIG);
	ck_assert_str_eq(err, "--data-dir: must not be empty");

	ck_assert_int_eq(config_set(&cfg, "http", "bogus", "1", "--bogus", err), HS_EINVAL_CONFIG);
	ck_assert_str_prefix(err, "--bogus: ");
	ck_assert_str_contains(err, "bogus");
}
END_TEST

START_TEST(test_override_validate_origin)
{
	ck_assert_int_eq(config_set(&cfg, "http", "listen", "0.0.0.0:8080", "--http", err), 0);
	ck_assert_int_eq(config_validate(&cfg, err), HS_EINVAL_CONFIG);
	ck_assert_str_prefix(err, "--http: 0.0.0.0:8080 is not a loopback address");
	/* An option that brings a file's wildcard back to loopback fixes it. */
	parse_ok("[mqtt]\nlisten = 0.0.0.0:1883\n");
	ck_assert_int_eq(config_set(&cfg, "mqtt", "listen", "127.0.0.1:1883", "--mqtt", err), 0);
	ck_assert_int_eq(config_validate(&cfg, err), 0);
}
END_TEST

/* ---- syntax errors ------------------------------------------------------ */

START_TEST(test_err_unknown_section)
{
	parse_err("[general]\nlog_level = info\n[bogus]\n", "t.conf:3: [bogus]: unknown section",
		  "general, http, mqtt, bridge, udp, storage, ingest, query, retention");
	parse_err("[]\n", "t.conf:1: []: unknown section", "known");
}
END_TEST

START_TEST(test_err_unknown_key)
{
	parse_err("[http]\n\nbogus = 1\n", "t.conf:3: bogus: unknown key in [http]", "");
	parse_err("[http]\ndata_dir = /x\n", "t.conf:2: data_dir: unknown key in [http]", "");
}
END_TEST

START_TEST(test_err_key_outside_section)
{
	parse_err("# comment\nthreads = 4\n", "t.conf:2: threads: key outside a section", "");
}
END_TEST

START_TEST(test_err_missing_equals)
{
	parse_err("[http]\nthreads 4\n", "t.conf:2: expected \"key = value\"", "");
	parse_err("[http]\nthreads\n", "t.conf:2: expected \"key = value\"", "");
}
END_TEST

START_TEST(test_err_empty_key)
{
	parse_err("[http]\n = 4\n", "t.conf:2: missing key name before \"=\"", "");
	parse_err("[http]\n=\n", "t.conf:2: missing key name before \"=\"", "");
}
END_TEST

START_TEST(test_err_duplicate_key)
{
	parse_err("[http]\nthreads = 2\n\nthreads = 3\n", "t.conf:4: threads: already set at line 2",
		  "");
	/* Also across a repeated section, and with the same value. */
	parse_err("[general]\nlog_level = info\n[http]\nthreads = 2\n[general]\nlog_level = info\n",
		  "t.conf:6: log_level: already set at line 2", "");
	/* The same key name in two sections is two keys. */
	parse_ok("[http]\nlisten = 127.0.0.1:1\n[mqtt]\nlisten = 127.0.0.1:2\n[udp]\nlisten = off\n");
}
END_TEST

START_TEST(test_err_unterminated_quote)
{
	parse_err("[general]\nlog_file = \"abc\n", "t.conf:2: log_file: unterminated quoted value",
		  "");
	parse_err("[general]\nlog_file = \"\n", "t.conf:2: log_file: unterminated quoted value", "");
	parse_err("[general]\nlog_file = \"a\"b\"\n", "t.conf:2: log_file: ", "stray quote");
}
END_TEST

/* \" is an escaped quote wherever it stands; a value whose last quote is
 * escaped has no closing quote. */
START_TEST(test_err_escaped_closing_quote)
{
	parse_err("[general]\nlog_file = \"abc\\\"\n", "t.conf:2: log_file: unterminated quoted value",
		  "");
}
END_TEST

START_TEST(test_err_section_header)
{
	parse_err("[general] x\n", "t.conf:1: text after section header", "");
	parse_err("[general]\n[http]]\n", "t.conf:2: text after section header", "");
	parse_err("\n[general\n", "t.conf:2: section header without \"]\"", "");
}
END_TEST

START_TEST(test_err_nul_byte)
{
	static const char text[] = "[general]\nlog_level = info\0\n";
	int rc = config_parse_text(&cfg, "t.conf", text, sizeof text - 1, err);

	ck_assert_int_eq(rc, HS_EINVAL_CONFIG);
	ck_assert_str_prefix(err, "t.conf:");
	ck_assert_str_contains(err, "NUL byte");
	ck_assert_int_eq(cfg.log_level, HS_LOG_INFO);
}
END_TEST

/* Line numbers count comments, blank lines and CRLF lines. */
START_TEST(test_err_line_numbers)
{
	parse_err("# a\r\n; b\r\n\r\n[http]\r\nthreads = 0\r\n", "t.conf:5: threads: \"0\" is not",
		  "");
	ck_assert_ptr_null(strchr(err, '\r'));
	parse_err("[http]\nthreads = 2\nthreads = 3", "t.conf:3: threads: already set at line 2", "");
}
END_TEST

/* ---- value errors ------------------------------------------------------- */

START_TEST(test_err_bad_bool)
{
	static const char *const bad[] = {"maybe", "", "2", "tru", "y", "enabled", "true false"};
	char text[128], prefix[128];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(text, sizeof text, "[general]\nallow_unauthenticated_remote = %s\n", bad[i]);
		snprintf(prefix, sizeof prefix,
			 "t.conf:2: allow_unauthenticated_remote: \"%s\" is not a boolean", bad[i]);
		parse_err(text, prefix, "");
	}
}
END_TEST

START_TEST(test_err_bad_number)
{
	static const char *const bad[] = {"four", "-1", "4.0", "4x", "", "0x10", "+4", "4 4",
					  "99999999999999999999999"};
	char text[128], prefix[128];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(text, sizeof text, "[http]\nthreads = %s\n", bad[i]);
		snprintf(prefix, sizeof prefix, "t.conf:2: threads: \"%s\" is not a whole number",
			 bad[i]);
		parse_err(text, prefix, "from 1 to 256");
	}
}
END_TEST

START_TEST(test_err_number_range)
{
	parse_err("[http]\nthreads = 0\n", "t.conf:2: threads: \"0\" is not a whole number",
		  "from 1 to 256");
	parse_err("[http]\nthreads = 257\n", "t.conf:2: threads: \"257\" is not a whole number",
		  "from 1 to 256");
	parse_err("[http]\nmax_connections = 0\n", "t.conf:2: max_connections: \"0\"",
		  "from 1 to 100000");
	parse_err("[http]\nmax_connections = 100001\n", "t.conf:2: max_connections: \"100001\"",
		  "from 1 to 100000");
	/* 2^32 + 4 must not wrap to 4 on its way into an unsigned. */
	parse_err("[http]\nthreads = 4294967300\n", "t.conf:2: threads: \"4294967300\"", "");
	parse_ok("[http]\nthreads = 1\nmax_connections = 100000\n");
	ck_assert_uint_eq(cfg.http_threads, 1);
	ck_assert_uint_eq(cfg.http_max_connections, 100000);
	parse_ok("[http]\nthreads = 256\nmax_connections = 1\n");
	ck_assert_uint_eq(cfg.http_threads, 256);
	ck_assert_uint_eq(cfg.http_max_connections, 1);
}
END_TEST

START_TEST(test_err_bad_duration)
{
	static const char *const bad[] = {"10x", "s", "ms", "-5s", "1.5s", "10 s", "", "5sec",
					  "10ms5", "1h30m"};
	char text[128], prefix[128];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(text, sizeof text, "[general]\nshutdown_timeout = %s\n", bad[i]);
		snprintf(prefix, sizeof prefix,
			 "t.conf:2: shutdown_timeout: \"%s\" is not a duration", bad[i]);
		parse_err(text, prefix, "");
	}
}
END_TEST

START_TEST(test_err_duration_range)
{
	parse_err("[general]\nshutdown_timeout = 99ms\n", "t.conf:2: shutdown_timeout: 99ms",
		  "outside 100ms to 1h");
	parse_err("[general]\nshutdown_timeout = 0\n", "t.conf:2: shutdown_timeout: ", "outside");
	parse_err("[general]\nshutdown_timeout = 61m\n", "t.conf:2: shutdown_timeout: 61m",
		  "outside 100ms to 1h");
	parse_err("[http]\nconnection_timeout = 999ms\n", "t.conf:2: connection_timeout: 999ms",
		  "outside 1s to 1d");
	parse_err("[http]\nconnection_timeout = 25h\n", "t.conf:2: connection_timeout: 25h",
		  "outside 1s to 1d");
	/* Values whose milliseconds overflow 64 bits must not wrap into range:
	 * 18446744073709552 s wraps to 384 ms, 213503982335 d to about 9.6 h. */
	parse_err("[general]\nshutdown_timeout = 18446744073709552\n",
		  "t.conf:2: shutdown_timeout: ", "");
	parse_err("[http]\nconnection_timeout = 213503982335d\n", "t.conf:2: connection_timeout: ",
		  "");
	parse_err("[general]\nshutdown_timeout = 99999999999999999999999ms\n",
		  "t.conf:2: shutdown_timeout: ", "");
}
END_TEST

START_TEST(test_err_bad_listen)
{
	static const struct {
		const char *section, *value, *reason;
	} bad[] = {
		{"http", "example.com:80", "localhost"},
		{"http", "plc1:8080", "localhost"},
		{"mqtt", "127.0.0.1:65536", "port"},
		{"mqtt", "127.0.0.1:18x3", "port"},
		{"udp", "127.0.0.1", ""},
		{"udp", "[::1]", ""},
		{"http", "", ""},
		{"http", "8080", ""},
	};
	char text[128], prefix[128];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(text, sizeof text, "[%s]\nlisten = %s\n", bad[i].section, bad[i].value);
		snprintf(prefix, sizeof prefix, "t.conf:2: listen: \"%s\": ", bad[i].value);
		parse_err(text, prefix, bad[i].reason);
	}
}
END_TEST

START_TEST(test_err_empty_data_dir)
{
	parse_err("[general]\ndata_dir =\n", "t.conf:2: data_dir: must not be empty", "");
	parse_err("[general]\ndata_dir =   \t\n", "t.conf:2: data_dir: must not be empty", "");
	parse_err("[general]\ndata_dir = \"\"\n", "t.conf:2: data_dir: must not be empty", "");
}
END_TEST

/* Strings may not carry control characters: they end up in logs and paths. */
START_TEST(test_err_control_chars)
{
	parse_err("[general]\nlog_file = \"a\tb\"\n", "t.conf:2: log_file: ", "control character");
	parse_err("[general]\ndata_dir = a\tb\n", "t.conf:2: data_dir: ", "control character");
	parse_err("[general]\nlog_file = a\x1b[31m\n", "t.conf:2: log_file: ", "control character");
	parse_err("[general]\nlog_file = a\x7f\n", "t.conf:2: log_file: ", "control character");
	ck_assert_int_eq(config_set(&cfg, "general", "log_file", "x\n[http]", "--log-file", err),
			 HS_EINVAL_CONFIG);
	ck_assert_str_prefix(err, "--log-file: ");
	ck_assert_str_contains(err, "control character");
	ck_assert_int_eq(config_set(&cfg, "general", "log_file", "x.log\r", "--log-file", err),
			 HS_EINVAL_CONFIG);
	/* Bytes above 0x7f (UTF-8 paths) are fine. */
	parse_ok("[general]\nlog_file = /var/log/\xC3\xA9t\xC3\xA9.log\n");
	ck_assert_str_eq(cfg.log_file, "/var/log/\xC3\xA9t\xC3\xA9.log");
}
END_TEST

START_TEST(test_err_bad_log_level)
{
	parse_err("[general]\nlog_level = loud\n", "t.conf:2: log_level: \"loud\" is not a level",
		  "");
	parse_err("[general]\nlog_level =\n", "t.conf:2: log_level: \"\" is not a level", "");
}
END_TEST

/* ---- accepted syntax ---------------------------------------------------- */

START_TEST(test_comments_and_blank_lines)
{
	parse_ok("# leading comment\n"
		 "; semicolon comment\n"
		 "\n"
		 "   \n"
		 "\t\n"
		 "  # indented comment\n"
		 "[general]\n"
		 "\t; tab-indented comment\n"
		 "log_level = warn\n"
		 "# log_level = debug\n"
		 ";log_file = /nowhere\n"
		 "[http]\n"
		 "threads = 7\n");
	ck_assert_int_eq(cfg.log_level, HS_LOG_WARN);
	ck_assert_str_eq(cfg.log_file, "");
	ck_assert_uint_eq(cfg.http_threads, 7);
	ck_assert_uint_eq(cfg.origins[key_index("general", "log_level")].line, 9);
	ck_assert_uint_eq(cfg.origins[key_index("http", "threads")].line, 13);
	parse_ok("");
	parse_ok("\n\n# only comments\n");
}
END_TEST

START_TEST(test_crlf)
{
	parse_ok("[general]\r\n"
		 "log_level = debug\r\n"
		 "log_file = \"/var/log/a b.log\"\r\n"
		 "data_dir = /srv/x\r\n"
		 "\r\n"
		 "[http]\r\n"
		 "listen = 127.0.0.1:81\r\n"
		 "threads = 9\r\n");
	ck_assert_int_eq(cfg.log_level, HS_LOG_DEBUG);
	ck_assert_str_eq(cfg.log_file, "/var/log/a b.log");
	ck_assert_str_eq(cfg.data_dir, "/srv/x");
	ck_assert_str_eq(cfg.http_listen.text, "127.0.0.1:81");
	ck_assert_uint_eq(cfg.http_threads, 9);
}
END_TEST

START_TEST(test_no_final_newline)
{
	parse_ok("[http]\nthreads = 5");
	ck_assert_uint_eq(cfg.http_threads, 5);
}
END_TEST

START_TEST(test_quoted_values)
{
	parse_ok("[general]\n"
		 "log_file = \"  spaced path/with \\\"quotes\\\" and \\\\backslash  \"\n");
	ck_assert_str_eq(cfg.log_file, "  spaced path/with \"quotes\" and \\backslash  ");
	parse_ok("[general]\nlog_file = \"\"\n");
	ck_assert_str_eq(cfg.log_file, "");
	/* A backslash before anything else is kept. */
	parse_ok("[general]\nlog_file = \"C:\\temp\\n.log\"\n");
	ck_assert_str_eq(cfg.log_file, "C:\\temp\\n.log");
	/* Unquoted: inner spaces stay, outer ones go; the first "=" splits. */
	parse_ok("[general]\nlog_file =   /var/log/my file.log   \n");
	ck_assert_str_eq(cfg.log_file, "/var/log/my file.log");
	parse_ok("[general]\nlog_file = /tmp/a=b\n");
	ck_assert_str_eq(cfg.log_file, "/tmp/a=b");
	/* A '#' or ';' after a value is part of it. */
	parse_ok("[general]\nlog_file = /tmp/x # y\n");
	ck_assert_str_eq(cfg.log_file, "/tmp/x # y");
	/* A quote inside an unquoted value is just a character. */
	parse_ok("[general]\nlog_file = it's \"here\"\n");
	ck_assert_str_eq(cfg.log_file, "it's \"here\"");
}
END_TEST

START_TEST(test_tabs)
{
	parse_ok("[http]\n\tthreads\t=\t12\t\n\tmax_connections=\t300\nconnection_timeout=5s\n");
	ck_assert_uint_eq(cfg.http_threads, 12);
	ck_assert_uint_eq(cfg.http_max_connections, 300);
	ck_assert_uint_eq(cfg.http_connection_timeout_ms, 5000);
	parse_ok("\t[general]\t\n\tlog_file\t=\t\" spaced \"\t\n");
	ck_assert_str_eq(cfg.log_file, " spaced ");
}
END_TEST

START_TEST(test_durations)
{
	static const struct {
		const char *text;
		uint64_t ms;
	} conn[] = {
		{"1500ms", 1500},     {"90s", 90000},	    {"5m", 300000},   {"2h", 7200000},
		{"1d", 86400000},     {"45", 45000},	    {"1s", 1000},     {"86400", 86400000},
		{"1000ms", 1000},     {"1440m", 86400000},  {"24h", 86400000},
	}, shut[] = {
		{"250ms", 250}, {"100ms", 100}, {"1h", 3600000}, {"3600", 3600000}, {"60m", 3600000},
	};
	char text[128];

	for (size_t i = 0; i < sizeof conn / sizeof conn[0]; i++) {
		snprintf(text, sizeof text, "[http]\nconnection_timeout = %s\n", conn[i].text);
		parse_ok(text);
		ck_assert_uint_eq(cfg.http_connection_timeout_ms, conn[i].ms);
	}
	for (size_t i = 0; i < sizeof shut / sizeof shut[0]; i++) {
		snprintf(text, sizeof text, "[general]\nshutdown_timeout = %s\n", shut[i].text);
		parse_ok(text);
		ck_assert_uint_eq(cfg.shutdown_timeout_ms, shut[i].ms);
	}
}
END_TEST

START_TEST(test_bools)
{
	static const struct {
		const char *text;
		bool value;
	} cases[] = {
		{"true", true},	  {"false", false}, {"yes", true}, {"no", false}, {"on", true},
		{"off", false},	  {"1", true},	    {"0", false},  {"TRUE", true}, {"False", false},
		{"YeS", true},	  {"NO", false},    {"On", true},  {"oFF", false},
	};
	char text[128];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(text, sizeof text, "[general]\nallow_unauthenticated_remote = %s\n",
			 cases[i].text);
		parse_ok(text);
		ck_assert_msg(cfg.allow_unauthenticated_remote == cases[i].value,
			      "file value \"%s\" read as %d", cases[i].text, !cases[i].value);
		/* Start from the opposite, so a no-op cannot pass. */
		cfg.allow_unauthenticated_remote = !cases[i].value;
		ck_assert_int_eq(config_set(&cfg, "general", "allow_unauthenticated_remote",
					    cases[i].text, "--opt", err),
				 0);
		ck_assert_msg(cfg.allow_unauthenticated_remote == cases[i].value,
			      "option value \"%s\" read as %d", cases[i].text, !cases[i].value);
	}
}
END_TEST

START_TEST(test_log_levels)
{
	static const struct {
		const char *text;
		enum log_level level;
	} cases[] = {
		{"error", HS_LOG_ERROR}, {"warn", HS_LOG_WARN},	  {"warning", HS_LOG_WARN},
		{"info", HS_LOG_INFO},	 {"debug", HS_LOG_DEBUG}, {"INFO", HS_LOG_INFO},
		{"Warning", HS_LOG_WARN}, {"DeBuG", HS_LOG_DEBUG},
	};
	char text[128];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(text, sizeof text, "[general]\nlog_level = %s\n", cases[i].text);
		parse_ok(text);
		ck_assert_int_eq(cfg.log_level, cases[i].level);
	}
}
END_TEST

/* ---- config_validate ---------------------------------------------------- */

START_TEST(test_validate_refuses_remote)
{
	parse_ok("[http]\nlisten = 0.0.0.0:8080\n");
	ck_assert_int_eq(config_validate(&cfg, err), HS_EINVAL_CONFIG);
	ck_assert_str_prefix(err, "t.conf:2: listen: 0.0.0.0:8080 is not a loopback address");
	ck_assert_str_contains(err, "allow_unauthenticated_remote");

	parse_ok("# mqtt\n[mqtt]\nlisten = [::]:1883\n");
	ck_assert_int_eq(config_validate(&cfg, err), HS_EINVAL_CONFIG);
	ck_assert_str_prefix(err, "t.conf:3: listen: [::]:1883 is not a loopback address");

	parse_ok("[udp]\nlisten = 10.1.2.3:8089\n");
	ck_assert_int_eq(config_validate(&cfg, err), HS_EINVAL_CONFIG);
	ck_assert_str_prefix(err, "t.conf:2: listen: 10.1.2.3:8089 is not a loopback address");
}
END_TEST

START_TEST(test_validate_allows)
{
	static const char *const ok[] = {
		"[general]\nallow_unauthenticated_remote = true\n[http]\nlisten = 0.0.0.0:8080\n",
		"[mqtt]\nlisten = [::]:1883\n[general]\nallow_unauthenticated_remote = yes\n",
		"[http]\nlisten = 127.0.0.2:8080\n",
		"[mqtt]\nlisten = [::1]:1883\n",
		"[udp]\nlisten = [::ffff:127.0.0.1]:8089\n",
		"[http]\nlisten = off\n[mqtt]\nlisten = off\n[udp]\nlisten = off\n",
		"[http]\nlisten = localhost:0\n",
	};

	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		parse_ok(ok[i]);
		int rc = config_validate(&cfg, err);
		ck_assert_msg(rc == 0, "config_validate refused \"%s\": %s", ok[i], err);
	}
}
END_TEST

/* ---- config_print round trip -------------------------------------------- */

/* Print c, parse the text into a fresh configuration, print that: the two
 * printouts must be identical. */
static void assert_round_trip(const struct hs_config *c)
{
	struct hs_config back;
	char *first = print_config(c), *second;
	int rc;

	ck_assert_int_eq(config_init(&back), 0);
	rc = config_parse_text(&back, "printed", first, strlen(first), err);
	ck_assert_msg(rc == 0, "printed output refused (%d): %s\n%s", rc, err, first);
	second = print_config(&back);
	ck_assert_str_eq(second, first);
	ck_assert_str_eq(back.log_file, c->log_file);
	ck_assert_str_eq(back.data_dir, c->data_dir);
	config_free(&back);
	free(first);
	free(second);
}

START_TEST(test_print_round_trip_defaults)
{
	assert_round_trip(&cfg);
}
END_TEST

START_TEST(test_print_round_trip_full)
{
	char *printed;

	parse_ok(full_conf);
	assert_round_trip(&cfg);
	parse_ok("[general]\nlog_file = \"   leading spaces.log\"\nshutdown_timeout = 1500ms\n"
		 "[http]\nconnection_timeout = 1d\n");
	ck_assert_str_eq(cfg.log_file, "   leading spaces.log");
	printed = print_config(&cfg);
	ck_assert_str_contains(printed, "\nlog_file = \"   leading spaces.log\"\n");
	free(printed);
	assert_round_trip(&cfg);
}
END_TEST

START_TEST(test_print_round_trip_strings)
{
	static const char *const values[] = {
		"   leading spaces.log",
		"trailing spaces  ",
		"\"starts with a quote",
		"ends with a quote\"",
		"\"fully quoted\"",
		"back\\slash\\",
		" back\\slash\\ ",
		"mid \"quoted\" text",
		"a=b # not a comment",
		"; semicolon",
		"#hash",
		"[bracket]",
		"/var/log/historian.log",
	};

	for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
		ck_assert_int_eq(config_set(&cfg, "general", "log_file", values[i], "--log-file", err),
				 0);
		ck_assert_int_eq(config_set(&cfg, "general", "data_dir", values[i], "-d", err), 0);
		assert_round_trip(&cfg);
	}
}
END_TEST

START_TEST(test_print_round_trip_durations)
{
	static const char *const conn[] = {"1500ms", "90s", "5m", "2h", "1d", "61s", "3601s", "23h",
					   "1439m", "86399999ms"};
	char text[128];

	for (size_t i = 0; i < sizeof conn / sizeof conn[0]; i++) {
		snprintf(text, sizeof text, "[http]\nconnection_timeout = %s\n", conn[i]);
		parse_ok(text);
		uint64_t ms = cfg.http_connection_timeout_ms;
		assert_round_trip(&cfg);
		ck_assert_uint_eq(cfg.http_connection_timeout_ms, ms);
	}
}
END_TEST

/* ---- config_load_file --------------------------------------------------- */

START_TEST(test_load_missing)
{
	char path[PATH_MAX];

	ck_assert_int_lt(snprintf(path, sizeof path, "%s/missing.conf", tmp_dir), PATH_MAX);
	ck_assert_int_eq(config_load_file(&cfg, path, err), -ENOENT);
	ck_assert_str_prefix(err, path);
	ck_assert_str_contains(err, "No such file");
}
END_TEST

START_TEST(test_load_directory)
{
	int rc = config_load_file(&cfg, tmp_dir, err);

	ck_assert_int_eq(rc, -EISDIR);
	ck_assert_str_prefix(err, tmp_dir);
}
END_TEST

START_TEST(test_load_empty_and_errors)
{
	char path[PATH_MAX], prefix[PATH_MAX + 64];

	write_file(path, "empty.conf", "");
	ck_assert_int_eq(config_load_file(&cfg, path, err), 0);
	ck_assert_uint_eq(cfg.http_threads, 4);

	write_file(path, "bad.conf", "[http]\nthreads = many\n");
	ck_assert_int_eq(config_load_file(&cfg, path, err), HS_EINVAL_CONFIG);
	snprintf(prefix, sizeof prefix, "%s:2: threads: \"many\"", path);
	ck_assert_str_prefix(err, prefix);
}
END_TEST

/* Bigger than one read: the reader loops until EOF. */
START_TEST(test_load_large_file)
{
	char path[PATH_MAX];
	size_t cap = 200000, len = 0;
	char *text = malloc(cap);

	ck_assert_ptr_nonnull(text);
	len += (size_t)snprintf(text + len, cap - len, "[general]\n");
	while (len < cap - 100)
		len += (size_t)snprintf(text + len, cap - len, "# padding comment line\n");
	snprintf(text + len, cap - len, "[http]\nthreads = 33\n");
	write_file(path, "large.conf", text);
	free(text);
	ck_assert_msg(config_load_file(&cfg, path, err) == 0, "%s", err);
	ck_assert_uint_eq(cfg.http_threads, 33);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc;

#define TC(name)                                                                           \
	do {                                                                               \
		tc = tcase_create(name);                                                   \
		tcase_add_checked_fixture(tc, setup, teardown);                            \
		suite_add_tcase(s, tc);                                                    \
	} while (0)

	TC("defaults");
	tcase_add_test(tc, test_key_table);
	tcase_add_test(tc, test_default_fields);
	tcase_add_test(tc, test_storage_values);
	tcase_add_test(tc, test_retention_rules);
	tcase_add_test(tc, test_default_printed);

	TC("full_file");
	tcase_add_unchecked_fixture(tc, dir_create, dir_remove);
	tcase_add_test(tc, test_full_file);
	tcase_add_test(tc, test_partial_file);

	TC("overrides");
	tcase_add_test(tc, test_override_wins);
	tcase_add_test(tc, test_override_errors);
	tcase_add_test(tc, test_override_validate_origin);

	TC("syntax_errors");
	tcase_add_test(tc, test_err_unknown_section);
	tcase_add_test(tc, test_err_unknown_key);
	tcase_add_test(tc, test_err_key_outside_section);
	tcase_add_test(tc, test_err_missing_equals);
	tcase_add_test(tc, test_err_empty_key);
	tcase_add_test(tc, test_err_duplicate_key);
	tcase_add_test(tc, test_err_unterminated_quote);
	tcase_add_test(tc, test_err_escaped_closing_quote);
	tcase_add_test(tc, test_err_section_header);
	tcase_add_test(tc, test_err_nul_byte);
	tcase_add_test(tc, test_err_line_numbers);

	TC("value_errors");
	tcase_add_test(tc, test_err_bad_bool);
	tcase_add_test(tc, test_err_bad_number);
	tcase_add_test(tc, test_err_number_range);
	tcase_add_test(tc, test_err_bad_duration);
	tcase_add_test(tc, test_err_duration_range);
	tcase_add_test(tc, test_err_bad_listen);
	tcase_add_test(tc, test_err_empty_data_dir);
	tcase_add_test(tc, test_err_control_chars);
	tcase_add_test(tc, test_err_bad_log_level);

	TC("syntax");
	tcase_add_test(tc, test_comments_and_blank_lines);
	tcase_add_test(tc, test_crlf);
	tcase_add_test(tc, test_no_final_newline);
	tcase_add_test(tc, test_quoted_values);
	tcase_add_test(tc, test_tabs);

	TC("values");
	tcase_add_test(tc, test_durations);
	tcase_add_test(tc, test_bools);
	tcase_add_test(tc, test_log_levels);

	TC("validate");
	tcase_add_test(tc, test_validate_refuses_remote);
	tcase_add_test(tc, test_validate_allows);

	TC("print");
	tcase_add_test(tc, test_print_round_trip_defaults);
	tcase_add_test(tc, test_print_round_trip_full);
	tcase_add_test(tc, test_print_round_trip_strings);
	tcase_add_test(tc, test_print_round_trip_durations);

	TC("load_file");
	tcase_add_unchecked_fixture(tc, dir_create, dir_remove);
	tcase_add_test(tc, test_load_missing);
	tcase_add_test(tc, test_load_directory);
	tcase_add_test(tc, test_load_empty_and_errors);
	tcase_add_test(tc, test_load_large_file);
#undef TC
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* config.c: the configuration key table and the INI reader behind config.h.
 * Defaults are texts parsed by the same code as the file, so a default can never be a value the file would refuse. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/hs_error.h"
#include "server/config.h"

enum key_kind {
	KIND_STRING,   /* char *, may be empty */
	KIND_PATH,     /* char *, must not be empty */
	KIND_BOOL,     /* bool */
	KIND_UINT,     /* unsigned, within [min, max] */
	KIND_DURATION, /* uint64_t milliseconds, within [min, max] */
	KIND_LOGLEVEL, /* enum log_level */
	KIND_LISTEN,   /* struct net_addr */
	KIND_ENUM,     /* unsigned: index of the value in choices */
	KIND_SIZE,     /* uint64_t bytes, within [min, max] */
	KIND_RETENTION, /* char *, checked by config_retention_parse */
};

struct config_key {
	const char *section;
	const char *name;
	enum key_kind kind;
	size_t offset;
	const char *default_text;
	uint64_t min, max;
	const char *help;
	const char *const *choices; /* KIND_ENUM: NULL-terminated */
};

static const char *const wal_sync_choices[] = {"commit", "interval", "off", NULL};
static const char *const bridge_protocol_choices[] = {"3.1.1", "5", NULL};

#define OFF(field) offsetof(struct hs_config, field)

static const struct config_key keys[] = {
	{"general", "data_dir", KIND_PATH, OFF(data_dir), "./var", 0, 0,
	 "directory that holds the catalog, WAL and chunks; created (mode 0750) if missing", NULL},
	{"general", "log_level", KIND_LOGLEVEL, OFF(log_level), "info", 0, 0,
	 "error, warn, info or debug", NULL},
	{"general", "log_file", KIND_STRING, OFF(log_file), "", 0, 0,
	 "log to this file (reopened on SIGHUP) instead of stderr; empty means stderr", NULL},
	{"general", "shutdown_timeout", KIND_DURATION, OFF(shutdown_timeout_ms), "10s", 100,
	 3600000, "how long SIGTERM waits for requests in flight before the daemon gives up", NULL},
	{"general", "allow_unauthenticated_remote", KIND_BOOL, OFF(allow_unauthenticated_remote),
	 "false", 0, 0, "allow listeners on non-loopback addresses although no authentication exists", NULL},
	{"http", "listen", KIND_LISTEN, OFF(http_listen), "127.0.0.1:8080", 0, 0,
	 "HTTP API address as ADDRESS:PORT, [IPV6]:PORT, or off", NULL},
	{"http", "threads", KIND_UINT, OFF(http_threads), "4", 1, 256,
	 "HTTP worker threads", NULL},
	{"http", "connection_timeout", KIND_DURATION, OFF(http_connection_timeout_ms), "1m", 1000,
	 86400000, "idle HTTP connections are closed after this long", NULL},
	{"http", "max_connections", KIND_UINT, OFF(http_max_connections), "1024", 1, 100000,
	 "most HTTP connections open at once; more are refused", NULL},
	{"http", "max_body_size", KIND_SIZE, OFF(http_max_body_bytes), "64MiB", 1024, 1ull << 30,
	 "request bodies (writes) above this get 413; gzip bodies count inflated", NULL},
	{"http", "request_memory", KIND_SIZE, OFF(http_request_memory_bytes), "256KiB", 64 * 1024,
	 64ull << 20, "per-connection memory for a request's line, headers and URL parameters", NULL},
	{"mqtt", "listen", KIND_LISTEN, OFF(mqtt_listen), "127.0.0.1:1883", 0, 0,
	 "MQTT endpoint address as ADDRESS:PORT, [IPV6]:PORT, or off", NULL},
	{"mqtt", "max_connections", KIND_UINT, OFF(mqtt_max_connections), "20000", 1, 1000000,
	 "most MQTT connections open at once; more are closed when accepted", NULL},
	{"mqtt", "max_packet_size", KIND_SIZE, OFF(mqtt_max_packet_bytes), "1MiB", 64, 256ull << 20,
	 "larger MQTT packets close the connection (5.0: reason 0x95)", NULL},
	{"mqtt", "receive_maximum", KIND_UINT, OFF(mqtt_receive_max), "256", 1, 65535,
	 "QoS 1 and 2 messages a connection may have unacknowledged", NULL},
	{"mqtt", "topic_alias_maximum", KIND_UINT, OFF(mqtt_topic_alias_max), "64", 0, 65535,
	 "MQTT 5 topic aliases a client may set", NULL},
	{"mqtt", "username", KIND_STRING, OFF(mqtt_username), "", 0, 0,
	 "when set, CONNECT must give this user name and the password", NULL},
	{"mqtt", "password", KIND_STRING, OFF(mqtt_password), "", 0, 0,
	 "the password that goes with username", NULL},
	{"mqtt", "map", KIND_STRING, OFF(mqtt_map), "", 0, 0,
	 "topic rules \"FILTER TEMPLATE [FORMAT]; ...\" (see docs/MQTT.md); unmatched topics name their tag",
	 NULL},
	{"bridge", "broker", KIND_LISTEN, OFF(bridge_broker), "off", 0, 0,
	 "the plant's MQTT broker to subscribe to, as ADDRESS:PORT, [IPV6]:PORT, or off", NULL},
	{"bridge", "protocol", KIND_ENUM, OFF(bridge_protocol), "3.1.1", 0, 0,
	 "MQTT version the bridge speaks: 3.1.1 or 5", bridge_protocol_choices},
	{"bridge", "client_id", KIND_STRING, OFF(bridge_client_id), "historian", 0, 0,
	 "the bridge's client id: the name of its persistent session at the broker", NULL},
	{"bridge", "username", KIND_STRING, OFF(bridge_username), "", 0, 0,
	 "user name the bridge gives the broker (empty: none)", NULL},
	{"bridge", "password", KIND_STRING, OFF(bridge_password), "", 0, 0,
	 "password the bridge gives the broker", NULL},
	{"bridge", "subscribe", KIND_STRING, OFF(bridge_subscribe), "# 1", 0, 0,
	 "topic filters and QoS to subscribe to: \"FILTER QOS; FILTER QOS\"", NULL},
	{"bridge", "keepalive", KIND_DURATION, OFF(bridge_keepalive_ms), "60s", 1000, 3600000,
	 "MQTT keep alive of the bridge's connection", NULL},
	{"bridge", "session_expiry", KIND_DURATION, OFF(bridge_session_expiry_ms), "7d", 0,
	 4294967295000ull, "MQTT 5: how long the broker keeps the bridge's session (and its messages) offline",
	 NULL},
	{"udp", "listen", KIND_LISTEN, OFF(udp_listen), "127.0.0.1:8089", 0, 0,
	 "UDP line-protocol address as ADDRESS:PORT, [IPV6]:PORT, or off", NULL},
	{"udp", "rcvbuf", KIND_SIZE, OFF(udp_rcvbuf_bytes), "8MiB", 64 << 10, 1ull << 30,
	 "socket receive buffer asked for; a burst larger than it is dropped by the kernel", NULL},
	{"storage", "wal_sync", KIND_ENUM, OFF(wal_sync), "commit", 0, 0,
	 "commit: acknowledge after fdatasync; interval: fdatasync every wal_sync_interval; off: tests only",
	 wal_sync_choices},
	{"storage", "wal_sync_interval", KIND_DURATION, OFF(wal_sync_interval_ms), "1s", 1, 60000,
	 "how often wal_sync = interval calls fdatasync (the power-loss window)", NULL},
	{"storage", "wal_segment_size", KIND_SIZE, OFF(wal_segment_bytes), "64MiB", 1 << 16,
	 1ull << 30, "WAL segment files roll at this size", NULL},
	{"storage", "seal_interval", KIND_DURATION, OFF(seal_interval_ms), "1h", 1000, 86400000,
	 "seal the head into compressed chunks at least this often", NULL},
	{"storage", "partition", KIND_DURATION, OFF(partition_ms), "7d", 3600000, 3650ull * 86400000,
	 "time span of one chunk file; retention deletes whole partitions", NULL},
	{"storage", "head_memory", KIND_SIZE, OFF(head_memory_bytes), "256MiB", 1 << 20, 1ull << 40,
	 "seal early when the in-memory head holds more than this", NULL},
	{"ingest", "max_pending", KIND_SIZE, OFF(ingest_max_pending_bytes), "256MiB", 1 << 20,
	 1ull << 40, "samples accepted but not yet durable; writers wait beyond this", NULL},
	{"ingest", "write_timeout", KIND_DURATION, OFF(ingest_write_timeout_ms), "10s", 1, 600000,
	 "how long a write waits for room before it is answered 503 with Retry-After", NULL},
	{"query", "max_points", KIND_UINT, OFF(query_max_points), "1000000", 1000, 100000000,
	 "most values one query answer holds (samples, buckets x tags, times x tags); more get 422", NULL},
	{"query", "max_tags", KIND_UINT, OFF(query_max_tags), "10000", 1, 1000000,
	 "most tags one query may name or select; more get 422", NULL},
	{"query", "timeout", KIND_DURATION, OFF(query_timeout_ms), "30s", 100, 3600000,
	 "a query still computing after this long is answered 503; exports stream and are not bound by it", NULL},
	{"query", "max_response_size", KIND_SIZE, OFF(query_max_response_bytes), "256MiB", 64 << 10,
	 1ull << 40, "largest JSON answer built in memory; larger ones get 422 (export streams instead)",
	 NULL},
	{"retention", "keep", KIND_RETENTION, OFF(retention_keep), "", 0, 0,
	 "GLOB DURATION pairs, comma-separated, first match wins; tags no rule matches are kept forever",
	 NULL},
};

#define KEY_COUNT (sizeof keys / sizeof keys[0])

static void *field(struct hs_config *cfg, const struct config_key *k)
{
	return (char *)cfg + k->offset;
}

static const void *cfield(const struct hs_config *cfg, const struct config_key *k)
{
	return (const char *)cfg + k->offset;
}

static int parse_u64(const char *text, size_t len, uint64_t *out);

static int parse_keep(const char *text, size_t len, uint64_t *ms)
{
	static const struct { char unit; uint64_t ms; } units[] = {
		{'h', 3600000ull}, {'d', 86400000ull}, {'w', 7 * 86400000ull}, {'y', 365 * 86400000ull},
	};
	uint64_t v;

	if (len < 2 || parse_u64(text, len - 1, &v) != 0 || v == 0)
		return -1;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
		if (text[len - 1] == units[i].unit && v <= UINT64_MAX / units[i].ms / 1000000) {
			*ms = v * units[i].ms;
			return 0;
		}
	return -1;
}

int config_retention_parse(const char *text, struct config_retention_rule *rules, size_t max,
			   char *why, size_t why_len)
{
	size_t n = 0;
	const char *p = text;

	while (*p) {
		const char *end = strchr(p, ','), *glob, *dur;
		size_t glob_len, dur_len;
		if (!end)
			end = p + strlen(p);
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		glob = p;
		while (p < end && *p != ' ' && *p != '\t')
			p++;
		glob_len = (size_t)(p - glob);
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		dur = p;
		while (p < end && *p != ' ' && *p != '\t')
			p++;
		dur_len = (size_t)(p - dur);
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (glob_len == 0 && dur_len == 0 && *end == '\0' && n > 0)
			break; /* a trailing comma */
		if (glob_len == 0 || dur_len == 0 || p != end) {
			snprintf(why, why_len, "rule %zu: expected \"GLOB DURATION\", as in \"lab.* 30d\"",
				 n + 1);
			return -1;
		}
		if (n == max || glob_len >= sizeof rules[0].glob) {
			snprintf(why, why_len, "rule %zu: too many rules or glob too long", n + 1);
			return -1;
		}
		memcpy(rules[n].glob, glob, glob_len);
		rules[n].glob[glob_len] = '\0';
		if (parse_keep(dur, dur_len, &rules[n].keep_ms) != 0) {
			snprintf(why, why_len,
				 "rule %zu: \"%.*s\" is not a keep time (a whole number with h, d, w or y)",
				 n + 1, (int)dur_len, dur);
			return -1;
		}
		n++;
		p = *end ? end + 1 : end;
	}
	return (int)n;
}

bool config_key_at(size_t index, const char **section, const char **key, const char **default_text)
{
	if (index >= KEY_COUNT)
		return false;
	*section = keys[index].section;
	*key = keys[index].name;
	*default_text = keys[index].default_text;
	return true;
}

static const struct config_key *find_key(const char *section, const char *name)
{
	for (size_t i = 0; i < KEY_COUNT; i++)
		if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static bool section_known(const char *section)
{
	for (size_t i = 0; i < KEY_COUNT; i++)
		if (strcmp(keys[i].section, section) == 0)
			return true;
	return false;
}

static int parse_bool(const char *text, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(text, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(text, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

/* Plain decimal digits into a uint64; -1 on anything else or overflow. */
static int parse_u64(const char *text, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return -1;
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(text[i] - '0');
	}
	*out = v;
	return 0;
}

/* "250ms", "10s", "5m", "2h", "1d", or a bare number of seconds. */
static int parse_duration_ms(const char *text, uint64_t *out)
{
	static const struct { const char *suffix; uint64_t ms; } units[] = {
		{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000},
	};
	size_t digits = strspn(text, "0123456789");
	const char *suffix = text + digits;
	uint64_t v;

	if (parse_u64(text, digits, &v) != 0)
		return -1;
	if (*suffix == '\0') {
		*out = v * 1000;
		return v > UINT64_MAX / 1000 ? -1 : 0;
	}
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(suffix, units[i].suffix) == 0) {
			if (v > UINT64_MAX / units[i].ms)
				return -1;
			*out = v * units[i].ms;
			return 0;
		}
	}
	return -1;
}

/* "512", "64KiB", "256MiB", "2GiB", "1TiB" (also KB, MB, GB: powers of 1000). */
static int parse_size(const char *text, uint64_t *out)
{
	static const struct { const char *suffix; uint64_t mult; } units[] = {
		{"", 1}, {"B", 1}, {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30},
		{"TiB", 1ull << 40}, {"KB", 1000}, {"MB", 1000000}, {"GB", 1000000000},
	};
	size_t digits = strspn(text, "0123456789");
	uint64_t v;

	if (parse_u64(text, digits, &v) != 0)
		return -1;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(text + digits, units[i].suffix) == 0) {
			if (v > UINT64_MAX / units[i].mult)
				return -1;
			*out = v * units[i].mult;
			return 0;
		}
	}
	return -1;
}

static void format_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const names[] = {"TiB", "GiB", "MiB", "KiB"};
	for (int i = 0; i < 4; i++) {
		uint64_t unit = 1ull << (10 * (4 - i));
		if (bytes && bytes % unit == 0) {
			snprintf(buf, len, "%llu%s", (unsigned long long)(bytes / unit), names[i]);
			return;
		}
	}
	snprintf(buf, len, "%llu", (unsigned long long)bytes);
}

static void format_duration(uint64_t ms, char *buf, size_t len)
{
	if (ms % 86400000 == 0 && ms)
		snprintf(buf, len, "%llud", (unsigned long long)(ms / 86400000));
	else if (ms % 3600000 == 0 && ms)
		snprintf(buf, len, "%lluh", (unsigned long long)(ms / 3600000));
	else if (ms % 60000 == 0 && ms)
		snprintf(buf, len, "%llum", (unsigned long long)(ms / 60000));
	else if (ms % 1000 == 0)
		snprintf(buf, len, "%llus", (unsigned long long)(ms / 1000));
	else
		snprintf(buf, len, "%llums", (unsigned long long)ms);
}

/* Parse value for key k into cfg. On a bad value returns HS_EINVAL_CONFIG
 * with the reason (no location) in why; -ENOMEM on allocation failure. */
static int apply_value(struct hs_config *cfg, const struct config_key *k, const char *value,
		       char *why, size_t why_len)
{
	void *dst = field(cfg, k);
	uint64_t u;
	char range[64];

	switch (k->kind) {
	case KIND_PATH:
		if (value[0] == '\0') {
			snprintf(why, why_len, "must not be empty");
			return HS_EINVAL_CONFIG;
		}
		/* fall through */
	case KIND_STRING: {
		char *copy;
		for (const char *p = value; *p; p++) {
			if ((unsigned char)*p < 0x20 || *p == 0x7f) {
				snprintf(why, why_len, "control characters are not allowed");
				return HS_EINVAL_CONFIG;
			}
		}
		copy = strdup(value);
		if (!copy)
			return -ENOMEM;
		free(*(char **)dst);
		*(char **)dst = copy;
		return 0;
	}
	case KIND_BOOL:
		if (parse_bool(value, (bool *)dst) != 0) {
			snprintf(why, why_len, "\"%s\" is not a boolean (true/false, yes/no, on/off, 1/0)",
				 value);
			return HS_EINVAL_CONFIG;
		}
		return 0;
	case KIND_UINT:
		if (parse_u64(value, strlen(value), &u) != 0 || u < k->min || u > k->max) {
			snprintf(why, why_len, "\"%s\" is not a whole number from %llu to %llu", value,
				 (unsigned long long)k->min, (unsigned long long)k->max);
			return HS_EINVAL_CONFIG;
		}
		*(unsigned *)dst = (unsigned)u;
		return 0;
	case KIND_DURATION:
		if (parse_duration_ms(value, &u) != 0) {
			snprintf(why, why_len,
				 "\"%s\" is not a duration (a whole number with ms, s, m, h or d)", value);
			return HS_EINVAL_CONFIG;
		}
		if (u < k->min || u > k->max) {
			char lo[24], hi[24];
			format_duration(k->min, lo, sizeof lo);
			format_duration(k->max, hi, sizeof hi);
			snprintf(range, sizeof range, "%s to %s", lo, hi);
			snprintf(why, why_len, "%s is outside %s", value, range);
			return HS_EINVAL_CONFIG;
		}
		*(uint64_t *)dst = u;
		return 0;
	case KIND_LOGLEVEL:
		if (log_level_parse(value, (enum log_level *)dst) != 0) {
			snprintf(why, why_len, "\"%s\" is not a level (error, warn, info, debug)", value);
			return HS_EINVAL_CONFIG;
		}
		return 0;
	case KIND_RETENTION: {
		struct config_retention_rule rules[CONFIG_RETENTION_RULES_MAX];
		char *copy;
		if (config_retention_parse(value, rules, CONFIG_RETENTION_RULES_MAX, why, why_len) < 0)
			return HS_EINVAL_CONFIG;
		copy = strdup(value);
		if (!copy)
			return -ENOMEM;
		free(*(char **)dst);
		*(char **)dst = copy;
		return 0;
	}
	case KIND_ENUM:
		for (unsigned i = 0; k->choices[i]; i++) {
			if (strcmp(value, k->choices[i]) == 0) {
				*(unsigned *)dst = i;
				return 0;
			}
		}
		snprintf(why, why_len, "\"%s\" is not one of: %s%s%s%s%s", value, k->choices[0],
			 k->choices[1] ? ", " : "", k->choices[1] ? k->choices[1] : "",
			 k->choices[1] && k->choices[2] ? ", " : "",
			 k->choices[1] && k->choices[2] ? k->choices[2] : "");
		return HS_EINVAL_CONFIG;
	case KIND_SIZE: {
		char lo[32], hi[32];
		if (parse_size(value, &u) != 0) {
			snprintf(why, why_len,
				 "\"%s\" is not a size (a whole number of bytes, or with KiB, MiB, GiB, TiB)",
				 value);
			return HS_EINVAL_CONFIG;
		}
		if (u < k->min || u > k->max) {
			format_size(k->min, lo, sizeof lo);
			format_size(k->max, hi, sizeof hi);
			snprintf(why, why_len, "%s is outside %s to %s", value, lo, hi);
			return HS_EINVAL_CONFIG;
		}
		*(uint64_t *)dst = u;
		return 0;
	}
	case KIND_LISTEN: {
		char reason[128];
		if (net_addr_parse(value, (struct net_addr *)dst, reason, sizeof reason) != 0) {
			snprintf(why, why_len, "\"%s\": %s", value, reason);
			return HS_EINVAL_CONFIG;
		}
		return 0;
	}
	}
	snprintf(why, why_len, "internal: unknown key kind");
	return HS_EINVAL_CONFIG;
}

/* Remember a source name (file path or option) for the origins table. */
static const char *intern_source(struct hs_config *cfg, const char *name)
{
	char **grown, *copy;

	for (size_t i = 0; i < cfg->source_count; i++)
		if (strcmp(cfg->source_names[i], name) == 0)
			return cfg->source_names[i];
	copy = strdup(name);
	if (!copy)
		return NULL;
	grown = realloc(cfg->source_names, (cfg->source_count + 1) * sizeof *grown);
	if (!grown) {
		free(copy);
		return NULL;
	}
	cfg->source_names = grown;
	cfg->source_names[cfg->source_count++] = copy;
	return copy;
}

int config_init(struct hs_config *cfg)
{
	char why[256];
	int rc;

	memset(cfg, 0, sizeof *cfg);
	cfg->origins = calloc(KEY_COUNT, sizeof *cfg->origins);
	if (!cfg->origins)
		return -ENOMEM;
	for (size_t i = 0; i < KEY_COUNT; i++) {
		rc = apply_value(cfg, &keys[i], keys[i].default_text, why, sizeof why);
		if (rc != 0) {
			config_free(cfg);
			return rc == -ENOMEM ? rc : HS_EINVAL_CONFIG;
		}
	}
	return 0;
}

void config_free(struct hs_config *cfg)
{
	for (size_t i = 0; i < KEY_COUNT; i++) {
		if (keys[i].kind == KIND_STRING || keys[i].kind == KIND_PATH ||
		    keys[i].kind == KIND_RETENTION) {
			char **p = field(cfg, &keys[i]);
			free(*p);
			*p = NULL;
		}
	}
	for (size_t i = 0; i < cfg->source_count; i++)
		free(cfg->source_names[i]);
	free(cfg->source_names);
	free(cfg->origins);
	cfg->source_names = NULL;
	cfg->source_count = 0;
	cfg->origins = NULL;
}

static void trim(char **start, char **end)
{
	while (*start < *end && (**start == ' ' || **start == '\t'))
		(*start)++;
	while (*end > *start && ((*end)[-1] == ' ' || (*end)[-1] == '\t' || (*end)[-1] == '\r'))
		(*end)--;
}

/* A value in double quotes keeps its spaces; \" and \\ are its escapes. */
static int unquote(char *value, char *why, size_t why_len)
{
	size_t len = strlen(value), out = 0, i = 1;

	if (len == 0 || value[0] != '"')
		return 0;
	while (i < len) {
		char c = value[i];
		if (c == '\\' && i + 1 < len && (value[i + 1] == '"' || value[i + 1] == '\\')) {
			value[out++] = value[i + 1];
			i += 2;
			continue;
		}
		if (c == '"') {
			if (i != len - 1) {
				snprintf(why, why_len, "stray quote inside quoted value (escape it as \\\")");
				return -1;
			}
			value[out] = '\0';
			return 0;
		}
		value[out++] = c;
		i++;
	}
	snprintf(why, why_len, "unterminated quoted value");
	return -1;
}

/* One "key = value" line of section in file name at line. */
static int parse_assignment(struct hs_config *cfg, const char *name, unsigned line,
			    const char *section, char *start, char *end, char *err)
{
	char why[256];
	char *eq = memchr(start, '=', (size_t)(end - start));
	char *key_end, *value;
	const struct config_key *k;
	size_t index;
	int rc;

	if (!eq) {
		snprintf(err, CONFIG_ERROR_MAX, "%s:%u: expected \"key = value\", \"[section]\" or a # comment",
			 name, line);
		return HS_EINVAL_CONFIG;
	}
	key_end = eq;
	trim(&start, &key_end);
	*key_end = '\0';
	value = eq + 1;
	trim(&value, &end);
	*end = '\0';
	if (*start == '\0') {
		snprintf(err, CONFIG_ERROR_MAX, "%s:%u: missing key name before \"=\"", name, line);
		return HS_EINVAL_CONFIG;
	}
	if (!section) {
		snprintf(err, CONFIG_ERROR_MAX, "%s:%u: %s: key outside a section (start with [general])",
			 name, line, start);
		return HS_EINVAL_CONFIG;
	}
	k = find_key(section, start);
	if (!k) {
		snprintf(err, CONFIG_ERROR_MAX, "%s:%u: %s: unknown key in [%s]", name, line, start,
			 section);
		return HS_EINVAL_CONFIG;
	}
	index = (size_t)(k - keys);
	if (cfg->origins[index].source && cfg->origins[index].line &&
	    strcmp(cfg->origins[index].source, name) == 0) {
		snprintf(err, CONFIG_ERROR_MAX, "%s:%u: %s: already set at line %u", name, line, start,
			 cfg->origins[index].line);
		return HS_EINVAL_CONFIG;
	}
	if (unquote(value, why, sizeof why) != 0) {
		snprintf(err, CONFIG_ERROR_MAX, "%s:%u: %s: %s", name, line, start, why);
		return HS_EINVAL_CONFIG;
	}
	rc = apply_value(cfg, k, value, why, sizeof why);
	if (rc == HS_EINVAL_CONFIG)
		snprintf(err, CONFIG_ERROR_MAX, "%s:%u: %s: %s", name, line, start, why);
	if (rc != 0)
		return rc;
	cfg->origins[index].source = intern_source(cfg, name);
	cfg->origins[index].line = line;
	return cfg->origins[index].source ? 0 : -ENOMEM;
}

/* "[name]": returns the section name (in place) or NULL with err set. */
static const char *parse_section(const char *name, unsigned line, char *start, char *end, char *err)
{
	char *close = memchr(start, ']', (size_t)(end - start));
	char *after, *sect_start = start + 1;

	if (!close) {
		snprintf(err, CONFIG_ERROR_MAX, "%s:%u: section header without \"]\"", name, line);
		return NULL;
	}
	after = close + 1;
	trim(&after, &end);
	if (after != end) {
		snprintf(err, CONFIG_ERROR_MAX, "%s:%u: text after section header", name, line);
		return NULL;
	}
	trim(&sect_start, &close);
	*close = '\0';
	if (!section_known(sect_start)) {
		char known[256];
		size_t used = 0;
		for (size_t i = 0; i < KEY_COUNT && used < sizeof known; i++)
			if (i == 0 || strcmp(keys[i].section, keys[i - 1].section) != 0)
				used += (size_t)snprintf(known + used, sizeof known - used, "%s%s",
							 used ? ", " : "", keys[i].section);
		snprintf(err, CONFIG_ERROR_MAX, "%s:%u: [%s]: unknown section (known: %s)", name, line,
			 sect_start, known);
		return NULL;
	}
	return sect_start;
}

int config_parse_text(struct hs_config *cfg, const char *name, const char *text, size_t len,
		      char *err)
{
	char *copy, *pos, *limit;
	const char *section = NULL;
	unsigned line = 0;
	int rc = 0;

	if (memchr(text, '\0', len)) {
		snprintf(err, CONFIG_ERROR_MAX, "%s: contains a NUL byte; not a text file", name);
		return HS_EINVAL_CONFIG;
	}
	copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, text, len);
	copy[len] = '\0';
	pos = copy;
	limit = copy + len;
	while (pos < limit && rc == 0) {
		char *eol = memchr(pos, '\n', (size_t)(limit - pos));
		char *start = pos, *end = eol ? eol : limit;

		line++;
		pos = eol ? eol + 1 : limit;
		trim(&start, &end);
		if (start == end || *start == '#' || *start == ';')
			continue;
		if (*start == '[') {
			section = parse_section(name, line, start, end, err);
			if (!section)
				rc = HS_EINVAL_CONFIG;
			continue;
		}
		rc = parse_assignment(cfg, name, line, section, start, end, err);
	}
	free(copy);
	return rc;
}

int config_load_file(struct hs_config *cfg, const char *path, char *err)
{
	char *text = NULL;
	size_t len = 0, cap = 0;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, CONFIG_ERROR_MAX, "%s: cannot open: %s", path, hs_strerror(rc));
		return rc;
	}
	for (;;) {
		ssize_t got;
		if (len == cap) {
			char *grown;
			if (cap >= (1u << 24)) {
				snprintf(err, CONFIG_ERROR_MAX, "%s: larger than 16 MiB; not a configuration file",
					 path);
				rc = HS_EINVAL_CONFIG;
				goto out;
			}
			cap = cap ? cap * 2 : 4096;
			grown = realloc(text, cap);
			if (!grown) {
				rc = -ENOMEM;
				goto out;
			}
			text = grown;
		}
		got = read(fd, text + len, cap - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = -errno;
			snprintf(err, CONFIG_ERROR_MAX, "%s: cannot read: %s", path, hs_strerror(rc));
			goto out;
		}
		if (got == 0)
			break;
		len += (size_t)got;
	}
	rc = config_parse_text(cfg, path, text ? text : "", len, err);
out:
	free(text);
	close(fd);
	return rc;
}

int config_set(struct hs_config *cfg, const char *section, const char *key, const char *value,
	       const char *option, char *err)
{
	const struct config_key *k = find_key(section, key);
	char why[256];
	size_t index;
	int rc;

	if (!k) {
		snprintf(err, CONFIG_ERROR_MAX, "%s: internal: no key [%s] %s", option, section, key);
		return HS_EINVAL_CONFIG;
	}
	rc = apply_value(cfg, k, value, why, sizeof why);
	if (rc == HS_EINVAL_CONFIG)
		snprintf(err, CONFIG_ERROR_MAX, "%s: %s", option, why);
	if (rc != 0)
		return rc;
	index = (size_t)(k - keys);
	cfg->origins[index].source = intern_source(cfg, option);
	cfg->origins[index].line = 0;
	return cfg->origins[index].source ? 0 : -ENOMEM;
}

/* "FILE:LINE: key" or "--option" or "default [section] key" for errors. */
static void origin_text(const struct hs_config *cfg, size_t index, char *buf, size_t len)
{
	const struct config_origin *o = &cfg->origins[index];

	if (o->source && o->line)
		snprintf(buf, len, "%s:%u: %s", o->source, o->line, keys[index].name);
	else if (o->source)
		snprintf(buf, len, "%s", o->source);
	else
		snprintf(buf, len, "[%s] %s", keys[index].section, keys[index].name);
}

int config_validate(const struct hs_config *cfg, char *err)
{
	char where[256];

	if (cfg->allow_unauthenticated_remote)
		return 0;
	for (size_t i = 0; i < KEY_COUNT; i++) {
		const struct net_addr *addr;
		/* The bridge's broker is where historian connects to, not a listener. */
		if (keys[i].kind != KIND_LISTEN || strcmp(keys[i].section, "bridge") == 0)
			continue;
		addr = cfield(cfg, &keys[i]);
		if (net_addr_is_loopback(addr))
			continue;
		origin_text(cfg, i, where, sizeof where);
		snprintf(err, CONFIG_ERROR_MAX,
			 "%s: %s is not a loopback address and historian has no authentication yet; "
			 "set allow_unauthenticated_remote = true in [general] to listen there anyway",
			 where, addr->text);
		return HS_EINVAL_CONFIG;
	}
	return 0;
}

/* Quote a string value when reading it back would otherwise change it. */
static void print_string(FILE *out, const char *value)
{
	size_t len = strlen(value);
	bool plain = len == 0 || (value[0] != ' ' && value[0] != '\t' && value[0] != '"' &&
				  value[len - 1] != ' ' && value[len - 1] != '\t');

	if (plain) {
		fputs(value, out);
		return;
	}
	fputc('"', out);
	for (const char *p = value; *p; p++) {
		if (*p == '"' || *p == '\\')
			fputc('\\', out);
		fputc(*p, out);
	}
	fputc('"', out);
}

void config_print(const struct hs_config *cfg, FILE *out)
{
	const char *section = NULL;
	char buf[64];

	for (size_t i = 0; i < KEY_COUNT; i++) {
		const struct config_key *k = &keys[i];
		const void *v = cfield(cfg, k);

		if (!section || strcmp(section, k->section) != 0) {
			fprintf(out, "%s[%s]\n", section ? "\n" : "", k->section);
			section = k->section;
		}
		fprintf(out, "# %s (default: %s)\n%s = ", k->help,
			k->default_text[0] ? k->default_text : "empty", k->name);
		switch (k->kind) {
		case KIND_STRING:
		case KIND_RETENTION:
		case KIND_PATH: print_string(out, *(char *const *)v); break;
		case KIND_BOOL: fputs(*(const bool *)v ? "true" : "false", out); break;
		case KIND_UINT: fprintf(out, "%u", *(const unsigned *)v); break;
		case KIND_DURATION:
			format_duration(*(const uint64_t *)v, buf, sizeof buf);
			fputs(buf, out);
			break;
		case KIND_LOGLEVEL: fputs(log_level_name(*(const enum log_level *)v), out); break;
		case KIND_LISTEN: fputs(((const struct net_addr *)v)->text, out); break;
		case KIND_ENUM: fputs(k->choices[*(const unsigned *)v], out); break;
		case KIND_SIZE:
			format_size(*(const uint64_t *)v, buf, sizeof buf);
			fputs(buf, out);
			break;
		}
		fputc('\n', out);
	}
}

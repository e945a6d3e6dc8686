/* config.h: historiand's configuration: the key table, defaults, INI parsing and overrides.
 * Owns struct hs_config; every key has a default here, documented in man/historiand.conf.5. */
#ifndef HS_CONFIG_H
#define HS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lib/log.h"
#include "lib/netaddr.h"

#define CONFIG_ERROR_MAX 512

struct hs_config {
	/* [general] */
	char *data_dir;
	enum log_level log_level;
	char *log_file; /* "" means stderr */
	uint64_t shutdown_timeout_ms;
	bool allow_unauthenticated_remote;
	/* [http] */
	struct net_addr http_listen;
	unsigned http_threads;
	uint64_t http_connection_timeout_ms;
	unsigned http_max_connections;
	uint64_t http_max_body_bytes;
	uint64_t http_request_memory_bytes;
	/* [mqtt] */
	struct net_addr mqtt_listen;
	unsigned mqtt_max_connections;
	uint64_t mqtt_max_packet_bytes;
	unsigned mqtt_receive_max;
	unsigned mqtt_topic_alias_max;
	char *mqtt_username;
	char *mqtt_password;
	char *mqtt_map;
	/* [bridge] */
	struct net_addr bridge_broker;
	unsigned bridge_protocol;      /* index into "3.1.1", "5" */
	char *bridge_client_id;
	char *bridge_username;
	char *bridge_password;
	char *bridge_subscribe;
	uint64_t bridge_keepalive_ms;
	uint64_t bridge_session_expiry_ms;
	/* [udp] */
	struct net_addr udp_listen;
	uint64_t udp_rcvbuf_bytes;
	/* [storage] */
	unsigned wal_sync;             /* index into "commit", "interval", "off" */
	uint64_t wal_sync_interval_ms;
	uint64_t wal_segment_bytes;
	uint64_t seal_interval_ms;
	uint64_t partition_ms;
	uint64_t head_memory_bytes;
	/* [ingest] */
	uint64_t ingest_max_pending_bytes;
	uint64_t ingest_write_timeout_ms;
	/* [query] */
	unsigned query_max_points;
	unsigned query_max_tags;
	uint64_t query_timeout_ms;
	uint64_t query_max_response_bytes;
	/* [retention] */
	char *retention_keep;          /* "GLOB DURATION, ..." (see config_retention_parse) */

	/* Where each key got its value, for error messages: a source name
	 * (file path or command-line option) and a line (0 for options).
	 * Indexed like the key table; sources point into source_names. */
	struct config_origin {
		const char *source;
		unsigned line;
	} *origins;
	char **source_names;
	size_t source_count;
};

/* Fill cfg with every key's default. Returns 0 or -ENOMEM; on failure cfg
 * needs no config_free(). */
int config_init(struct hs_config *cfg) __attribute__((warn_unused_result));

/* Free what cfg owns. Safe on a zeroed or initialised struct. */
void config_free(struct hs_config *cfg);

/* Apply INI text. name labels errors ("FILE:LINE: key: reason" goes into
 * err, which has CONFIG_ERROR_MAX bytes). Keys outside the file keep their
 * values. Returns 0, HS_EINVAL_CONFIG or -ENOMEM; on error cfg may be partly
 * changed and should be freed. */
int config_parse_text(struct hs_config *cfg, const char *name, const char *text, size_t len,
		      char *err) __attribute__((warn_unused_result));

/* Read and apply the file at path. Returns as config_parse_text, or -errno
 * when the file cannot be read (err says why). */
int config_load_file(struct hs_config *cfg, const char *path, char *err)
	__attribute__((warn_unused_result));

/* Set one key from a command-line option; option names the option for
 * errors ("--http: reason"). Returns 0, HS_EINVAL_CONFIG or -ENOMEM. */
int config_set(struct hs_config *cfg, const char *section, const char *key, const char *value,
	       const char *option, char *err) __attribute__((warn_unused_result));

/* Cross-key rules, checked once everything is applied: a listener outside
 * loopback needs allow_unauthenticated_remote. Returns 0 or HS_EINVAL_CONFIG
 * with the origin of the offending key in err. */
int config_validate(const struct hs_config *cfg, char *err) __attribute__((warn_unused_result));

/* Write the effective configuration as INI text that config_parse_text
 * reads back to the same values, each key preceded by its one-line help. */
void config_print(const struct hs_config *cfg, FILE *out);

/* One parsed retention rule: tags matching glob keep keep_ms of data. */
struct config_retention_rule {
	char glob[256];
	uint64_t keep_ms;
};

#define CONFIG_RETENTION_RULES_MAX 64

/* Parse "GLOB DURATION[, GLOB DURATION]..." (DURATION a whole number with
 * h, d, w or y = 365 d) into rules; empty text gives 0 rules. Returns the
 * number of rules, or -1 with why set. */
int config_retention_parse(const char *text, struct config_retention_rule *rules, size_t max,
			   char *why, size_t why_len);

/* Iterate the key table: returns false past the end. For docs and tests. */
bool config_key_at(size_t index, const char **section, const char **key, const char **default_text);

#endif

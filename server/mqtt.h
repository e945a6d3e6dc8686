/* mqtt.h: historian's MQTT 3.1.1/5.0 endpoint: devices publish straight to the daemon; QoS 1/2 acked once durable.
 * Owns the listening socket, the connections and the sessions; runs on the event loop (server/evloop.h). */
#ifndef HS_MQTT_H
#define HS_MQTT_H

#include <stddef.h>
#include <stdint.h>

#include "lib/netaddr.h"
#include "lib/strbuf.h"

struct evloop;
struct ingest;
struct mqtt_map;
struct mqtt_server;

#define MQTT_ERROR_MAX 512

/* The bridge: historian subscribes to the plant's broker. */
struct mqtt_bridge_options {
	struct net_addr broker;        /* IPv4/IPv6 address and port (no DNS) */
	int version;                   /* 4 (3.1.1) or 5 */
	const char *client_id;         /* the persistent session's name at the broker */
	const char *username, *password; /* "" or NULL: none */
	const char *subscribe;         /* "FILTER QOS; FILTER QOS; ..." */
	unsigned keep_alive_s;
	uint32_t session_expiry_s;     /* 5.0: how long the broker keeps the session offline */
};

struct mqtt_options {
	struct net_addr listen;        /* off: no endpoint (a bridge alone) */
	unsigned max_connections;      /* more are accepted and closed at once (default 20,000) */
	size_t max_packet_bytes;       /* larger packets close the connection (default 1 MiB) */
	unsigned receive_max;          /* QoS 1/2 messages in flight per connection (default 256) */
	unsigned topic_alias_max;      /* 5.0 topic aliases a client may set (default 64) */
	const char *username;          /* "" or NULL: no login required */
	const char *password;
	const struct mqtt_map *map;    /* topic rules; NULL: the topic is the tag */
	const struct mqtt_bridge_options *bridge; /* NULL: no bridge */
};

/* Parse "FILTER QOS; ..." of the bridge. 0, or -EINVAL with the reason in
 * err (MQTT_ERROR_MAX bytes). */
int mqtt_bridge_check(const char *subscribe, char *err) __attribute__((warn_unused_result));

/* The bridge's state for /health: "off", "connecting", "connected" or
 * "disconnected", with the last error (may be ""). Any thread. */
void mqtt_server_bridge_state(struct mqtt_server *srv, const char **state, char *last_error,
			      size_t len);

/* Listen and register with loop (before evloop_start()). On failure a
 * negative code with the reason in err (MQTT_ERROR_MAX bytes). */
int mqtt_server_new(const struct mqtt_options *opts, struct ingest *ing, struct evloop *loop,
		    struct mqtt_server **out, char *err) __attribute__((warn_unused_result));

/* The address actually bound ("127.0.0.1:41234" for port 0). */
const char *mqtt_server_address(const struct mqtt_server *srv);

/* Close every connection and free the server. Call after evloop_stop();
 * waits until the store has answered every batch still in flight (so call
 * before store_close()). NULL is fine. */
void mqtt_server_free(struct mqtt_server *srv);

/* Counters for /metrics, in Prometheus text. Any thread. */
void mqtt_server_metrics(struct mqtt_server *srv, struct strbuf *out);

#endif

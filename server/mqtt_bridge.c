/* mqtt_bridge.c: historian as a subscriber of the plant's MQTT broker, with a persistent session and durable acks.
 * The connection is an ordinary mqtt_conn whose PUBLISHes take the endpoint's path, so the broker's PUBACK/PUBREC
 * leave only once the WAL commit covers them: libmosquitto acks before its callback runs, which would break that. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/hs_error.h"
#include "lib/log.h"
#include "server/mqtt_int.h"

#define BRIDGE_BACKOFF_MIN_MS 1000
#define BRIDGE_BACKOFF_MAX_MS 60000

static void set_error(struct mqtt_bridge *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_error(struct mqtt_bridge *b, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&b->error_lock);
	va_start(ap, fmt);
	vsnprintf(b->last_error, sizeof b->last_error, fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&b->error_lock);
}

/* "FILTER QOS; ..." into b (or only checked when b is NULL). */
static int parse_subs(const char *text, struct mqtt_bridge *b, char *err)
{
	char *copy = strdup(text ? text : ""), *save = NULL, *item;
	size_t n = 0;
	int rc = 0;

	if (!copy)
		return -ENOMEM;
	for (item = strtok_r(copy, ";", &save); item && rc == 0; item = strtok_r(NULL, ";", &save)) {
		char *s2 = NULL, *filter = strtok_r(item, " \t\n", &s2), *qos = strtok_r(NULL, " \t\n", &s2);
		if (!filter)
			continue;
		if (!mqtt_filter_valid(filter, strlen(filter)) || (qos && (strlen(qos) != 1 || qos[0] < '0' ||
									   qos[0] > '2')) ||
		    strtok_r(NULL, " \t\n", &s2) || n == MQTT_BRIDGE_SUBS_MAX) {
			snprintf(err, MQTT_ERROR_MAX, "bridge subscribe: \"%.100s%s%s\": expected FILTER "
				 "[QOS 0-2] (a valid topic filter; at most %d)", filter, qos ? " " : "",
				 qos ? qos : "", MQTT_BRIDGE_SUBS_MAX);
			rc = -EINVAL;
			break;
		}
		if (b) {
			if (!(b->filters[n] = strdup(filter))) {
				rc = -ENOMEM;
				break;
			}
			b->subs[n] = (struct mqtt_subscription){.filter = {b->filters[n], strlen(filter)},
								.qos = (uint8_t)(qos ? qos[0] - '0' : 1)};
			b->nsubs = n + 1;
		}
		n++;
	}
	if (rc == 0 && n == 0) {
		snprintf(err, MQTT_ERROR_MAX, "bridge subscribe: no topic filter given");
		rc = -EINVAL;
	}
	free(copy);
	return rc;
}

int mqtt_bridge_check(const char *subscribe, char *err)
{
	return parse_subs(subscribe, NULL, err);
}

int mqtt__bridge_new(struct mqtt_server *srv, const struct mqtt_bridge_options *opts,
		     struct mqtt_bridge **out, char *err)
{
	struct mqtt_bridge *b = calloc(1, sizeof *b);
	const char *id = opts->client_id && *opts->client_id ? opts->client_id : "historian";
	int rc;

	*out = NULL;
	if (!b)
		return -ENOMEM;
	pthread_mutex_init(&b->error_lock, NULL);
	b->srv = srv;
	b->opts = *opts;
	b->client_id = strdup(id);
	b->username = strdup(opts->username ? opts->username : "");
	b->password = strdup(opts->password ? opts->password : "");
	b->session = mqtt__session_new(srv, id, strlen(id), false);
	b->backoff_ms = BRIDGE_BACKOFF_MIN_MS;
	if (!b->client_id || !b->username || !b->password || !b->session) {
		snprintf(err, MQTT_ERROR_MAX, "bridge: out of memory");
		mqtt__bridge_free(b);
		return -ENOMEM;
	}
	if ((rc = parse_subs(opts->subscribe, b, err)) != 0) {
		mqtt__bridge_free(b);
		return rc;
	}
	atomic_store(&b->state, BRIDGE_DISCONNECTED);
	set_error(b, "not connected yet");
	*out = b; /* the first tick connects */
	return 0;
}

void mqtt__bridge_free(struct mqtt_bridge *b)
{
	if (!b)
		return;
	if (b->session)
		mqtt__session_drop(b->srv, b->session);
	for (size_t i = 0; i < b->nsubs; i++)
		free(b->filters[i]);
	free(b->client_id);
	free(b->username);
	free(b->password);
	pthread_mutex_destroy(&b->error_lock);
	free(b);
}

static void connect_broker(struct mqtt_bridge *b)
{
	const struct net_addr *a = &b->opts.broker;
	int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0 || (connect(fd, (const struct sockaddr *)&a->ss, a->len) != 0 &&
		       errno != EINPROGRESS)) {
		set_error(b, "connect to %s: %s", a->text, hs_strerror(-errno));
		if (fd >= 0)
			close(fd);
		b->next_attempt_ms = mqtt__now_ms() + b->backoff_ms;
		return;
	}
	b->conn = mqtt__conn_open(b->srv, fd, (const struct sockaddr *)&a->ss, EPOLLOUT);
	if (!b->conn) {
		b->next_attempt_ms = mqtt__now_ms() + b->backoff_ms;
		return;
	}
	b->conn->bridge = b;
	atomic_store(&b->state, BRIDGE_CONNECTING);
}

/* The TCP connect finished: send CONNECT (clean start off: the broker
 * keeps what was published while historian was away). */
static void send_connect(struct mqtt_bridge *b, struct mqtt_conn *c)
{
	struct mqtt_connect k = {.protocol_level = (uint8_t)b->opts.version, .clean_start = false,
				 .keep_alive_s = (uint16_t)b->opts.keep_alive_s};

	k.client_id = (struct mqtt_str){b->client_id, strlen(b->client_id)};
	if (*b->username) {
		k.has_username = true;
		k.username = (struct mqtt_str){b->username, strlen(b->username)};
		k.has_password = *b->password != '\0';
		k.password = (struct mqtt_bin){(const uint8_t *)b->password, strlen(b->password)};
	}
	if (b->opts.version == MQTT_V5) {
		/* Maximum Packet Size: the broker drops what we would refuse,
		 * instead of redelivering it to us for ever. */
		k.props.present = MQTT_PROP_BIT(MQTT_PROP_SESSION_EXPIRY) |
				  MQTT_PROP_BIT(MQTT_PROP_RECEIVE_MAXIMUM) |
				  MQTT_PROP_BIT(MQTT_PROP_MAXIMUM_PACKET_SIZE);
		k.props.max_packet_len = (uint32_t)b->srv->opts.max_packet_bytes;
		k.props.session_expiry_s = b->opts.session_expiry_s;
		k.props.receive_max = (uint16_t)b->srv->opts.receive_max;
	}
	c->version = b->opts.version;
	c->keep_alive_s = (uint16_t)b->opts.keep_alive_s;
	c->session = b->session;
	b->session->conn = c;
	if (mqtt_encode_connect(&c->out, &k) != 0) {
		mqtt__close(c, "cannot encode CONNECT");
		return;
	}
	atomic_store(&b->state, BRIDGE_WAIT_CONNACK);
	b->last_tx_ms = mqtt__now_ms();
	c->last_rx_ms = b->last_tx_ms;
	/* Registered for the connect's EPOLLOUT only: make flush see a change
	 * so it watches for input from now on. */
	c->reading = false;
	c->want_write = true;
	mqtt__flush(c);
}

int mqtt__bridge_event(struct mqtt_conn *c, uint32_t events)
{
	struct mqtt_bridge *b = c->bridge;
	int soerr = 0;
	socklen_t len = sizeof soerr;

	if (atomic_load(&b->state) != BRIDGE_CONNECTING)
		return 0;
	if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
		return 1;
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 || soerr != 0) {
		set_error(b, "connect to %s: %s", b->opts.broker.text, hs_strerror(-(soerr ? soerr : errno)));
		mqtt__close(c, "connect failed");
		return 1;
	}
	send_connect(b, c);
	return 1;
}

void mqtt__bridge_closed(struct mqtt_bridge *b, const char *why)
{
	int was = atomic_load(&b->state);

	b->conn = NULL;
	atomic_store(&b->state, BRIDGE_DISCONNECTED);
	if (was == BRIDGE_CONNECTED) {
		set_error(b, "connection lost: %s", why);
		log_warn("mqtt", "bridge to %s: connection lost (%s); reconnecting",
			 b->opts.broker.text, why);
	} else {
		pthread_mutex_lock(&b->error_lock);
		if (strcmp(b->last_error, "not connected yet") == 0)
			snprintf(b->last_error, sizeof b->last_error, "%s", why);
		pthread_mutex_unlock(&b->error_lock);
	}
	if (was == BRIDGE_CONNECTED && mqtt__now_ms() - b->connected_ms >= 10000)
		b->backoff_ms = BRIDGE_BACKOFF_MIN_MS; /* it had been working: try again soon */
	b->next_attempt_ms = mqtt__now_ms() + b->backoff_ms;
	/* Back off too when a connection dies soon after it was accepted (a
	 * message we refuse, redelivered first each time). */
	if ((was != BRIDGE_CONNECTED || mqtt__now_ms() - b->connected_ms < 10000) &&
	    b->backoff_ms < BRIDGE_BACKOFF_MAX_MS)
		b->backoff_ms *= 2;
}

void mqtt__bridge_tick(struct mqtt_bridge *b)
{
	uint64_t now = mqtt__now_ms();
	struct mqtt_conn *c = b->conn;

	if (b->stopping)
		return;
	if (!c && now >= b->next_attempt_ms) {
		connect_broker(b);
		return;
	}
	/* Keep alive: a PINGREQ when half the interval passed in silence. */
	if (c && atomic_load(&b->state) == BRIDGE_CONNECTED && b->opts.keep_alive_s &&
	    now - b->last_tx_ms >= (uint64_t)b->opts.keep_alive_s * 500) {
		if (mqtt_encode_pingreq(&c->out) == 0) {
			b->last_tx_ms = now;
			mqtt__flush(c);
		}
	}
}

static int on_connack(struct mqtt_bridge *b, struct mqtt_conn *c, const struct mqtt_connack *a)
{
	int rc;

	if (a->reason_code != 0) {
		set_error(b, "broker %s refused CONNECT: code 0x%02x", b->opts.broker.text,
			  a->reason_code);
		log_warn("mqtt", "bridge: %s refused the connection (code 0x%02x)",
			 b->opts.broker.text, a->reason_code);
		mqtt__close(c, "CONNECT refused");
		return -1;
	}
	rc = mqtt_encode_subscribe(&c->out, c->version, 1, NULL, b->subs, b->nsubs);
	if (rc != 0) {
		mqtt__close(c, "cannot encode SUBSCRIBE");
		return -1;
	}
	if (!a->session_present)
		b->session->nqos2 = 0; /* the broker starts afresh: so do its QoS 2 ids */
	atomic_store(&b->state, BRIDGE_CONNECTED);
	b->connected_ms = mqtt__now_ms();
	b->last_tx_ms = mqtt__now_ms();
	set_error(b, "%s", "");
	mqtt__count(b->srv, MC_BRIDGE_CONNECTS, 1);
	log_info("mqtt", "bridge: connected to %s as %s (MQTT %s, session %s)", b->opts.broker.text,
		 b->client_id, c->version == MQTT_V5 ? "5.0" : "3.1.1",
		 a->session_present ? "resumed" : "new");
	return 0;
}

int mqtt__bridge_packet(struct mqtt_conn *c, const struct mqtt_packet *pk)
{
	struct mqtt_bridge *b = c->bridge;

	switch (pk->type) {
	case MQTT_CONNACK:
		if (atomic_load(&b->state) != BRIDGE_WAIT_CONNACK)
			break;
		return on_connack(b, c, &pk->u.connack);
	case MQTT_SUBACK:
		for (size_t i = 0; i < pk->u.suback.count; i++)
			if (pk->u.suback.reason_codes[i] >= 0x80)
				log_warn("mqtt", "bridge: %s refused the subscription to %.*s (code 0x%02x)",
					 b->opts.broker.text, (int)(i < b->nsubs ? b->subs[i].filter.len : 0),
					 i < b->nsubs ? b->subs[i].filter.ptr : "", pk->u.suback.reason_codes[i]);
		return 0;
	case MQTT_UNSUBACK:
	case MQTT_PINGRESP:
		return 0;
	default:
		break;
	}
	mqtt__fail(c, MQTT_RC_PROTOCOL_ERROR, "%s from the broker", mqtt_type_name(pk->type));
	return -1;
}

void mqtt_server_bridge_state(struct mqtt_server *srv, const char **state, char *last_error,
			      size_t len)
{
	static const char *const names[] = {"disconnected", "connecting", "connecting", "connected"};
	struct mqtt_bridge *b = srv ? srv->bridge : NULL;

	if (!b) {
		*state = "off";
		if (len)
			last_error[0] = '\0';
		return;
	}
	*state = names[atomic_load(&b->state)];
	pthread_mutex_lock(&b->error_lock);
	snprintf(last_error, len, "%s", b->last_error);
	pthread_mutex_unlock(&b->error_lock);
}

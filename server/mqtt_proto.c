/* mqtt_proto.c: what the MQTT endpoint does with each packet: CONNECT, PUBLISH with durable acks, PUBREL, SUBSCRIBE...
 * A read's PUBLISHes become one ingest batch; their PUBACK/PUBREC wait in packet order until the WAL commit covers it. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/hs_error.h"
#include "lib/log.h"
#include "lib/strbuf.h"
#include "lib/utf8.h"
#include "lib/vec.h"
#include "server/mqtt_int.h"
#include "server/mqtt_map.h"

#define PAYLOAD_LOG_EVERY_MS 10000

static const char *client_name(const struct mqtt_conn *c)
{
	return c->session ? c->session->client_id : "-";
}

void mqtt__fail(struct mqtt_conn *c, uint8_t reason, const char *fmt, ...)
{
	char why[256], clean[256];
	va_list ap;

	c->refs++; /* the flush below may close (and would free) it */
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	utf8_sanitize(clean, sizeof clean, why, strlen(why));
	/* Keep alive timeout and session taken over are the server's to say:
	 * toward the broker, the bridge says "unspecified error". */
	if (c->bridge && (reason == MQTT_RC_KEEP_ALIVE_TIMEOUT || reason == MQTT_RC_SESSION_TAKEN_OVER))
		reason = MQTT_RC_UNSPECIFIED_ERROR;
	log_warn("mqtt", "connection %llu (%s, client %s): %s; closing", (unsigned long long)c->id,
		 c->peer, client_name(c), clean);
	if (reason != MQTT_RC_KEEP_ALIVE_TIMEOUT && reason != MQTT_RC_SESSION_TAKEN_OVER)
		mqtt__count(c->srv, MC_PROTOCOL_ERRORS, 1);
	if (c->version == MQTT_V5 && c->session) {
		/* 5.0 lets the server say why before it closes. */
		struct mqtt_reason d = {.reason_code = reason};
		d.props.present = MQTT_PROP_BIT(MQTT_PROP_REASON_STRING);
		d.props.reason_string = (struct mqtt_str){clean, strlen(clean)};
		if (mqtt_encode_disconnect(&c->out, MQTT_V5, &d) == 0)
			mqtt__flush(c);
	}
	mqtt__close(c, clean);
	mqtt__conn_release(c);
}

/* --- commits and acks -------------------------------------------------------- */

void mqtt__commit_release(struct mqtt_commit *cm)
{
	if (--cm->refs)
		return;
	mqtt__conn_release(cm->conn);
	free(cm);
}

static int queue_ack(struct mqtt_conn *c, enum ack_kind kind, uint16_t id, uint8_t reason,
		     bool qos2_store, struct mqtt_commit *cm, uint32_t message)
{
	if (c->ack_count == c->ack_cap) {
		size_t cap = c->ack_cap ? c->ack_cap * 2 : 16;
		struct mqtt_pending_ack *grown = malloc(cap * sizeof *grown);
		if (!grown)
			return -ENOMEM;
		for (size_t i = 0; i < c->ack_count; i++)
			grown[i] = c->acks[(c->ack_head + i) % c->ack_cap];
		free(c->acks);
		c->acks = grown;
		c->ack_cap = cap;
		c->ack_head = 0;
	}
	c->acks[(c->ack_head + c->ack_count++) % c->ack_cap] =
		(struct mqtt_pending_ack){kind, id, reason, qos2_store, cm, message};
	if (cm)
		cm->refs++;
	return 0;
}

static bool ids32_has(const uint32_t *v, size_t n, uint32_t x)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

static bool ids_has(const uint16_t *ids, size_t n, uint16_t id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

static void ids_remove(uint16_t *ids, size_t *n, uint16_t id)
{
	for (size_t i = 0; i < *n; i++)
		if (ids[i] == id) {
			ids[i] = ids[--*n];
			return;
		}
}

static int ids_add(uint16_t **ids, size_t *n, size_t *cap, uint16_t id)
{
	if (vec_grow(ids, cap, *n, sizeof **ids) != 0)
		return -ENOMEM;
	(*ids)[(*n)++] = id;
	return 0;
}

static int encode_ack(struct mqtt_conn *c, const struct mqtt_pending_ack *a)
{
	static const enum mqtt_type types[] = {MQTT_PUBACK, MQTT_PUBREC, MQTT_PUBCOMP};
	struct mqtt_ack ack = {.packet_id = a->packet_id,
			       .reason_code = c->version == MQTT_V5 ? a->reason : 0};

	return mqtt_encode_ack(&c->out, c->version, types[a->kind], &ack);
}

void mqtt__send_acks(struct mqtt_conn *c)
{
	while (c->ack_count && !c->closed) {
		struct mqtt_pending_ack *a = &c->acks[c->ack_head];
		struct mqtt_session *s = c->session;
		if (a->commit && !a->commit->done)
			break;
		if (encode_ack(c, a) != 0) {
			mqtt__close(c, "cannot encode an ack");
			return;
		}
		if (a->kind == ACK_PUBREC && a->commit)
			ids_remove(c->pending_qos2, &c->npending_qos2, a->packet_id);
		if (a->kind == ACK_PUBREC && a->qos2_store) {
			/* Durable now: a redelivery of this id is not stored again. */
			if (s && ids_add(&s->qos2_ids, &s->nqos2, &s->cap_qos2, a->packet_id) != 0) {
				mqtt__close(c, "out of memory");
				return;
			}
		}
		/* A PUBACK ends a QoS 1 flow; a failing 5.0 PUBREC ends a QoS 2
		 * one (no PUBREL follows it). */
		if ((a->kind == ACK_PUBACK || (a->kind == ACK_PUBREC && c->version == MQTT_V5 &&
					       a->reason >= 0x80)) && c->inflight)
			c->inflight--;
		if (a->message && c->unacked)
			c->unacked--;
		if (a->commit)
			mqtt__commit_release(a->commit);
		c->ack_head = (c->ack_head + 1) % c->ack_cap;
		c->ack_count--;
	}
	mqtt__flush(c);
}

/* On the loop thread: the store answered a commit. */
static void on_commit_task(void *arg)
{
	struct mqtt_commit *cm = arg;
	struct mqtt_conn *c = cm->conn;

	cm->done = true;
	if (!c->closed && cm->status != 0) {
		mqtt__count(c->srv, MC_STORE_FAILURES, 1);
		mqtt__fail(c, MQTT_RC_UNSPECIFIED_ERROR,
			   "storage failed to make messages durable (%s): not acknowledged",
			   hs_strerror(cm->status));
	} else if (!c->closed) {
		mqtt__send_acks(c);
	}
	mqtt__commit_release(cm);
}

/* On the WAL writer thread: must not block. */
static void on_durable(void *arg, int status)
{
	struct mqtt_commit *cm = arg;
	struct mqtt_server *srv = cm->conn->srv;

	cm->status = status;
	cm->task = (struct evloop_task){on_commit_task, cm, NULL};
	evloop_post(srv->loop, &cm->task);
	atomic_fetch_sub(&srv->commits_in_flight, 1);
}

static void log_payload_error(struct mqtt_conn *c, const char *topic, size_t topic_len,
			      const char *why)
{
	struct mqtt_server *srv = c->srv;
	uint64_t now = mqtt__now_ms();
	char clean[200];

	mqtt__count(srv, MC_PAYLOAD_ERRORS, 1);
	if (now - srv->last_log_ms < PAYLOAD_LOG_EVERY_MS && srv->last_log_ms) {
		srv->suppressed++;
		return;
	}
	utf8_sanitize(clean, sizeof clean, topic, topic_len);
	log_warn("mqtt", "client %s, topic %s: message dropped: %s%s", client_name(c), clean, why,
		 srv->suppressed ? " (and more since the last such line)" : "");
	srv->last_log_ms = now;
	srv->suppressed = 0;
}

/* Messages the batch refused as a whole when it resolved its tags (a value
 * of another type than its tag's): count them (once) and let their acks
 * say so (5.0: 0x99). Only the first INGEST_ERRORS_MAX are known. */
static void flag_refused(struct mqtt_conn *c, struct mqtt_commit *cm)
{
	for (size_t i = 0; i < c->rep->nerrors; i++) {
		uint32_t msg = c->rep->errors[i].line;
		if (ids32_has(c->counted, c->ncounted, msg))
			continue;
		log_payload_error(c, "(in a batch)", 12, c->rep->errors[i].message);
		for (size_t k = 0; k < c->ack_count; k++) {
			struct mqtt_pending_ack *a = &c->acks[(c->ack_head + k) % c->ack_cap];
			if (a->commit == cm && a->message == msg && a->reason == 0) {
				a->reason = MQTT_RC_PAYLOAD_FORMAT_INVALID;
				a->qos2_store = a->qos2_store && c->version == MQTT_V311;
			}
		}
	}
}

void mqtt__submit(struct mqtt_conn *c)
{
	struct mqtt_server *srv = c->srv;
	struct mqtt_commit *cm = c->commit;
	struct ingest_batch *out = NULL;
	int rc;

	if (!c->batch) {
		mqtt__send_acks(c); /* acks that waited on nothing (a QoS 2 redelivery's) */
		return;
	}
	rc = ingest_batch_finish(c->batch, &out, c->rep);
	c->batch = NULL;
	c->commit = NULL;
	c->batch_messages = 0;
	if (rc == 0)
		flag_refused(c, cm);
	c->ncounted = 0;
	free(c->rep); /* 20 KB: an idle connection keeps none */
	c->rep = NULL;
	if (rc == 0 && out) {
		mqtt__count(srv, MC_SAMPLES, ingest_batch_samples(out));
		atomic_fetch_add(&srv->commits_in_flight, 1);
		/* Blocks while storage is behind (bounded by [ingest]
		 * write_timeout): every publisher then waits, which is the
		 * backpressure MQTT has. */
		rc = ingest_submit(srv->ing, out, on_durable, cm);
		if (rc != 0)
			atomic_fetch_sub(&srv->commits_in_flight, 1);
		else
			return; /* on_durable owns cm's first reference now */
	}
	if (rc != 0) {
		cm->done = true;
		cm->status = rc;
		mqtt__count(srv, MC_STORE_FAILURES, 1);
		mqtt__fail(c, rc == -EBUSY ? MQTT_RC_QUOTA_EXCEEDED : MQTT_RC_UNSPECIFIED_ERROR,
			   "storage refused the messages (%s): not acknowledged", hs_strerror(rc));
		mqtt__commit_release(cm);
		return;
	}
	/* Nothing to write (every message unreadable): the acks may go. */
	cm->done = true;
	mqtt__commit_release(cm);
	mqtt__send_acks(c);
}

/* The open batch of this read, created on the first message. */
static int open_batch(struct mqtt_conn *c)
{
	if (c->batch)
		return 0;
	if (!c->rep && !(c->rep = malloc(sizeof *c->rep)))
		return -ENOMEM;
	if (!(c->commit = calloc(1, sizeof *c->commit)))
		return -ENOMEM;
	if (ingest_batch_new(c->srv->ing, &c->batch, c->rep) != 0) {
		free(c->commit);
		c->commit = NULL;
		return -ENOMEM;
	}
	c->commit->conn = c;
	c->commit->refs = 1; /* the store's answer to come */
	c->refs++;
	return 0;
}

/* --- PUBLISH ------------------------------------------------------------------- */

/* 5.0 topic aliases: set or look up; false (and the connection failed). */
static bool resolve_alias(struct mqtt_conn *c, struct mqtt_publish *p)
{
	unsigned max = c->srv->opts.topic_alias_max;
	uint16_t alias;

	if (!mqtt_props_has(&p->props, MQTT_PROP_TOPIC_ALIAS))
		return true;
	alias = p->props.topic_alias;
	if (alias == 0 || alias > max) {
		mqtt__fail(c, MQTT_RC_TOPIC_ALIAS_INVALID, "topic alias %u outside 1..%u", alias, max);
		return false;
	}
	if (!c->aliases && (!(c->aliases = calloc(max + 1, sizeof *c->aliases)) ||
			    !(c->alias_len = calloc(max + 1, sizeof *c->alias_len)))) {
		mqtt__close(c, "out of memory");
		return false;
	}
	if (p->topic.len) {
		char *copy = malloc(p->topic.len);
		if (!copy) {
			mqtt__close(c, "out of memory");
			return false;
		}
		memcpy(copy, p->topic.ptr, p->topic.len);
		free(c->aliases[alias]);
		c->aliases[alias] = copy;
		c->alias_len[alias] = p->topic.len;
		return true;
	}
	if (!c->aliases[alias]) {
		mqtt__fail(c, MQTT_RC_PROTOCOL_ERROR, "topic alias %u used before it was set", alias);
		return false;
	}
	p->topic = (struct mqtt_str){c->aliases[alias], c->alias_len[alias]};
	return true;
}

static int handle_publish(struct mqtt_conn *c, struct mqtt_publish *p)
{
	struct mqtt_session *s = c->session;
	char why[160];
	uint8_t reason = MQTT_RC_SUCCESS;
	bool store2;
	int rc;

	if (p->props.sub_id_count) {
		mqtt__fail(c, MQTT_RC_PROTOCOL_ERROR, "PUBLISH from a client with a subscription id");
		return -1;
	}
	if (!resolve_alias(c, p))
		return -1;
	/* The broker behind the bridge is not held to it: mosquitto 2.0
	 * resends a resumed session's backlog past it. Reading pauses anyway
	 * (mqtt__flush), which bounds what waits. */
	if (p->qos && c->version == MQTT_V5 && !c->bridge &&
	    c->inflight >= c->srv->opts.receive_max) {
		mqtt__fail(c, MQTT_RC_RECEIVE_MAXIMUM_EXCEEDED,
			   "more than receive maximum (%u) QoS 1/2 messages in flight",
			   c->srv->opts.receive_max);
		return -1;
	}
	if (p->qos == 2 && ((s && ids_has(s->qos2_ids, s->nqos2, p->packet_id)) ||
			    ids_has(c->pending_qos2, c->npending_qos2, p->packet_id))) {
		/* A redelivery of a message already stored: PUBREC again only. */
		mqtt__count(c->srv, MC_DUPLICATES, 1);
		return queue_ack(c, ACK_PUBREC, p->packet_id, 0, false, NULL, 0) == 0 ? 0 : -1;
	}
	mqtt__count(c->srv, MC_MESSAGES, 1);
	if ((rc = open_batch(c)) != 0) {
		mqtt__close(c, "out of memory");
		return -1;
	}
	rc = mqtt_map_message(c->srv->opts.map, p->topic.ptr, p->topic.len, p->payload,
			      p->payload_len, clock_real_ns(), c->batch, ++c->batch_messages, c->rep,
			      why, sizeof why);
	if (rc < 0) {
		mqtt__close(c, "out of memory");
		return -1;
	}
	if (rc == 1) {
		log_payload_error(c, p->topic.ptr, p->topic.len, why);
		reason = MQTT_RC_PAYLOAD_FORMAT_INVALID;
		if (vec_grow(&c->counted, &c->cap_counted, c->ncounted, sizeof *c->counted) != 0) {
			mqtt__close(c, "out of memory");
			return -1;
		}
		c->counted[c->ncounted++] = c->batch_messages;
	}
	if (p->qos == 0)
		return 0;
	c->inflight++;
	/* 3.1.1 has no failing PUBREC: its QoS 2 flow goes on to PUBREL,
	 * so the id is kept for it even when the payload was unreadable. */
	store2 = p->qos == 2 && (reason == 0 || c->version == MQTT_V311);
	if (store2 &&
	    ids_add(&c->pending_qos2, &c->npending_qos2, &c->cap_pending_qos2, p->packet_id) != 0) {
		mqtt__close(c, "out of memory");
		return -1;
	}
	rc = queue_ack(c, p->qos == 1 ? ACK_PUBACK : ACK_PUBREC, p->packet_id, reason, store2,
		       c->commit, c->batch_messages);
	c->unacked++;
	if (rc != 0)
		mqtt__close(c, "out of memory");
	return rc == 0 ? 0 : -1;
}

static int handle_pubrel(struct mqtt_conn *c, const struct mqtt_ack *a)
{
	struct mqtt_session *s = c->session;
	bool known = s && ids_has(s->qos2_ids, s->nqos2, a->packet_id);

	if (known)
		ids_remove(s->qos2_ids, &s->nqos2, a->packet_id);
	if (c->inflight && known)
		c->inflight--;
	if (queue_ack(c, ACK_PUBCOMP, a->packet_id, known ? 0 : MQTT_RC_PACKET_ID_NOT_FOUND, false,
		      NULL, 0) != 0) {
		mqtt__close(c, "out of memory");
		return -1;
	}
	mqtt__send_acks(c);
	return 0;
}

/* --- CONNECT ------------------------------------------------------------------- */

static bool login_ok(const struct mqtt_server *srv, const struct mqtt_connect *k)
{
	size_t ulen = strlen(srv->username), plen = strlen(srv->password);

	if (!ulen)
		return true;
	return k->has_username && k->username.len == ulen &&
	       memcmp(k->username.ptr, srv->username, ulen) == 0 && k->has_password &&
	       k->password.len == plen && memcmp(k->password.ptr, srv->password, plen) == 0;
}

static void refuse_connect(struct mqtt_conn *c, int version, uint8_t v311, uint8_t v5,
			   const char *why)
{
	struct mqtt_connack ack = {.reason_code = version == MQTT_V5 ? v5 : v311};

	if (mqtt_encode_connack(&c->out, version, &ack) == 0)
		mqtt__flush(c);
	log_warn("mqtt", "connection %llu (%s): CONNECT refused: %s", (unsigned long long)c->id,
		 c->peer, why);
	mqtt__close(c, why);
}

/* The session of this client id: a fresh one, or the one it left. */
static int attach_session(struct mqtt_conn *c, const struct mqtt_connect *k, const char *id,
			  size_t id_len, bool *present)
{
	struct mqtt_server *srv = c->srv;
	struct mqtt_session *old = mqtt__session_find(srv, id, id_len), *s;
	uint32_t expiry = k->props.session_expiry_s;
	bool keep = c->version == MQTT_V311 ? !k->clean_start : expiry > 0;

	*present = false;
	/* A client id is one connection: the new one wins, whether the old
	 * one's session is kept or ends with it. */
	for (struct mqtt_conn *o = srv->conns, *next; o; o = next) {
		next = o->next;
		if (o != c && !o->bridge && o->session && o->session->client_id_len == id_len &&
		    memcmp(o->session->client_id, id, id_len) == 0)
			mqtt__fail(o, MQTT_RC_SESSION_TAKEN_OVER, "session taken over by %s", c->peer);
	}
	old = mqtt__session_find(srv, id, id_len);
	if (old && k->clean_start) {
		mqtt__session_drop(srv, old);
		old = NULL;
	}
	s = old ? old : mqtt__session_new(srv, id, id_len, keep);
	if (!s)
		return -ENOMEM;
	*present = old != NULL;
	if (old && !keep) { /* resumed, but to end with this connection */
		s->never_expires = false;
		s->expiry_ms = 0;
	}
	if (keep) {
		s->never_expires = c->version == MQTT_V311 || expiry == 0xFFFFFFFF;
		s->expiry_ms = (uint64_t)expiry * 1000;
	}
	s->conn = c;
	c->session = s;
	c->session_expiry_s = expiry;
	return 0;
}

static int handle_connect(struct mqtt_conn *c, const struct mqtt_connect *k)
{
	struct mqtt_server *srv = c->srv;
	struct mqtt_connack ack = {0};
	char assigned[48];
	const char *id = k->client_id.ptr;
	size_t id_len = k->client_id.len;
	bool present;
	int version = k->protocol_level;

	if (version == MQTT_V5 && mqtt_props_has(&k->props, MQTT_PROP_AUTH_METHOD)) {
		refuse_connect(c, version, 0, MQTT_RC_BAD_AUTH_METHOD, "enhanced authentication asked");
		return -1;
	}
	if (!login_ok(srv, k)) {
		refuse_connect(c, version, MQTT_CONNACK_V311_BAD_USERNAME_OR_PASSWORD,
			       MQTT_RC_BAD_USERNAME_OR_PASSWORD, "bad user name or password");
		return -1;
	}
	if (id_len == 0 && !k->clean_start && version == MQTT_V311) {
		refuse_connect(c, version, MQTT_CONNACK_V311_IDENTIFIER_REJECTED,
			       MQTT_RC_CLIENT_ID_NOT_VALID, "empty client id without clean session");
		return -1;
	}
	if (id_len == 0) {
		id_len = (size_t)snprintf(assigned, sizeof assigned, "historian-%llu-%llx",
					  (unsigned long long)c->id,
					  (unsigned long long)(clock_real_ns() & 0xffffff));
		id = assigned;
	}
	c->version = version;
	c->keep_alive_s = k->keep_alive_s;
	if (attach_session(c, k, id, id_len, &present) != 0) {
		mqtt__close(c, "out of memory");
		return -1;
	}
	ack.session_present = present;
	if (version == MQTT_V5) {
		struct mqtt_props *p = &ack.props;
		p->present = MQTT_PROP_BIT(MQTT_PROP_RECEIVE_MAXIMUM) |
			     MQTT_PROP_BIT(MQTT_PROP_MAXIMUM_PACKET_SIZE) |
			     MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS_MAXIMUM) |
			     MQTT_PROP_BIT(MQTT_PROP_WILDCARD_SUB_AVAILABLE) |
			     MQTT_PROP_BIT(MQTT_PROP_SUB_ID_AVAILABLE) |
			     MQTT_PROP_BIT(MQTT_PROP_SHARED_SUB_AVAILABLE);
		p->receive_max = (uint16_t)srv->opts.receive_max;
		p->max_packet_len = (uint32_t)srv->opts.max_packet_bytes;
		p->topic_alias_max = (uint16_t)srv->opts.topic_alias_max;
		if (id != k->client_id.ptr) {
			p->present |= MQTT_PROP_BIT(MQTT_PROP_ASSIGNED_CLIENT_ID);
			p->assigned_client_id = (struct mqtt_str){id, id_len};
		}
	}
	if (mqtt_encode_connack(&c->out, version, &ack) != 0) {
		mqtt__close(c, "cannot encode CONNACK");
		return -1;
	}
	log_debug("mqtt", "connection %llu (%s): client %s connected (MQTT %s, keep alive %u s%s)",
		  (unsigned long long)c->id, c->peer, c->session->client_id,
		  version == MQTT_V5 ? "5.0" : "3.1.1", k->keep_alive_s,
		  present ? ", session resumed" : "");
	return 0;
}

/* --- the rest ------------------------------------------------------------------ */

/* historian stores what it receives and forwards nothing: a subscription
 * is refused, filter by filter, and the reason says why. */
static int handle_subscribe(struct mqtt_conn *c, const struct mqtt_packet *pk)
{
	static const char why[] = "historian stores messages and forwards none: no subscriptions";
	const struct mqtt_subscribe *s = &pk->u.subscribe;
	bool sub = pk->type == MQTT_SUBSCRIBE;
	uint8_t codes[256];
	struct mqtt_suback ack = {.packet_id = s->packet_id, .reason_codes = codes,
				  .count = s->count < sizeof codes ? s->count : sizeof codes};
	int rc;

	memset(codes, sub ? MQTT_RC_UNSPECIFIED_ERROR : MQTT_RC_NO_SUBSCRIPTION_EXISTED, ack.count);
	if (c->version == MQTT_V5) {
		ack.props.present = MQTT_PROP_BIT(MQTT_PROP_REASON_STRING);
		ack.props.reason_string = (struct mqtt_str){why, sizeof why - 1};
	}
	rc = sub ? mqtt_encode_suback(&c->out, c->version, &ack)
		 : mqtt_encode_unsuback(&c->out, c->version, &ack);
	if (rc != 0) {
		mqtt__close(c, "cannot encode SUBACK");
		return -1;
	}
	return 0;
}

static int handle_disconnect(struct mqtt_conn *c, const struct mqtt_reason *d)
{
	if (c->version == MQTT_V5 && mqtt_props_has(&d->props, MQTT_PROP_SESSION_EXPIRY)) {
		if (c->session_expiry_s == 0 && d->props.session_expiry_s != 0) {
			mqtt__fail(c, MQTT_RC_PROTOCOL_ERROR,
				   "DISCONNECT sets a session expiry after CONNECT's was 0");
			return -1;
		}
		if (c->session && c->session->listed) {
			c->session->expiry_ms = (uint64_t)d->props.session_expiry_s * 1000;
			c->session->never_expires = d->props.session_expiry_s == 0xFFFFFFFF;
		}
	}
	/* The will is dropped (never published); acks not sent yet are lost
	 * with the connection, as the client asked to leave. */
	mqtt__close(c, "DISCONNECT");
	return -1;
}

/* The bridge's connection: the broker publishes to us; the rest is the
 * client's side of the protocol (mqtt_bridge.c). */
static int handle_from_broker(struct mqtt_conn *c, struct mqtt_packet *pk)
{
	switch (pk->type) {
	case MQTT_PUBLISH:
		mqtt__count(c->srv, MC_BRIDGE_MESSAGES, 1);
		return handle_publish(c, &pk->u.publish);
	case MQTT_PUBREL: return handle_pubrel(c, &pk->u.ack);
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBCOMP: return 0;
	case MQTT_DISCONNECT:
		mqtt__close(c, "DISCONNECT from the broker");
		return -1;
	default: return mqtt__bridge_packet(c, pk);
	}
}

int mqtt__handle(struct mqtt_conn *c, const uint8_t *frame, size_t len)
{
	struct mqtt_packet pk;
	int rc = mqtt_decode(frame, len, c->version ? c->version : 0, &pk);

	if (pk.type > MQTT_NONE && pk.type <= MQTT_AUTH)
		mqtt__count(c->srv, MC_PACKETS_IN + pk.type, 1);
	if (rc == MQTT_EVERSION) {
		refuse_connect(c, MQTT_V311, MQTT_CONNACK_V311_BAD_PROTOCOL_LEVEL,
			       MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION, "unsupported protocol level");
		return -1;
	}
	if (rc != 0) {
		mqtt__fail(c, rc == MQTT_EPROTOCOL ? MQTT_RC_PROTOCOL_ERROR : MQTT_RC_MALFORMED_PACKET,
			   "%s %s: %s%s%s (byte %zu)", rc == MQTT_EPROTOCOL ? "protocol error in"
									 : "malformed",
			   mqtt_type_name(pk.type), pk.err ? pk.err : mqtt_strerror(rc),
			   pk.err_field ? " in " : "", pk.err_field ? pk.err_field : "", pk.err_offset);
		return -1;
	}
	if (c->bridge)
		return handle_from_broker(c, &pk);
	if (!c->version && pk.type != MQTT_CONNECT) {
		mqtt__fail(c, MQTT_RC_PROTOCOL_ERROR, "%s before CONNECT", mqtt_type_name(pk.type));
		return -1;
	}
	switch (pk.type) {
	case MQTT_CONNECT:
		if (c->version) {
			mqtt__fail(c, MQTT_RC_PROTOCOL_ERROR, "a second CONNECT");
			return -1;
		}
		return handle_connect(c, &pk.u.connect);
	case MQTT_PUBLISH: return handle_publish(c, &pk.u.publish);
	case MQTT_PUBREL: return handle_pubrel(c, &pk.u.ack);
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBCOMP:
		return 0; /* historian sends no PUBLISH: nothing of ours to acknowledge */
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE: return handle_subscribe(c, &pk);
	case MQTT_PINGREQ:
		if (mqtt_encode_pingresp(&c->out) != 0) {
			mqtt__close(c, "out of memory");
			return -1;
		}
		return 0;
	case MQTT_DISCONNECT: return handle_disconnect(c, &pk.u.disconnect);
	default:
		mqtt__fail(c, MQTT_RC_PROTOCOL_ERROR, "%s from a client", mqtt_type_name(pk.type));
		return -1;
	}
}

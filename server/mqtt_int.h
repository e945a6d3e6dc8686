/* mqtt_int.h: the MQTT endpoint's insides, shared by server/mqtt.c (sockets, I/O, sessions) and mqtt_proto.c (packets).
 * Everything here lives on the event-loop thread, except the counters and a commit's status, set by the WAL thread. */
#ifndef HS_MQTT_INT_H
#define HS_MQTT_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <stdbool.h>
#include <stdint.h>

#include "server/evloop.h"
#include "server/ingest.h"
#include "server/mqtt.h"
#include "server/mqtt_codec.h"

#define MQTT_READ_CHUNK (64 * 1024)       /* bytes read per readable event */
#define MQTT_WRITE_HIGH (1024 * 1024)     /* a slower reader stops being read */
#define MQTT_CONNECT_TIMEOUT_MS 10000     /* a connection must send CONNECT by then */
#define MQTT_QOS2_IDS_MAX 65535

enum mqtt_counter {
	MC_CONNECTIONS_TOTAL,
	MC_CONNECTIONS_REFUSED,
	MC_PACKETS_IN,       /* + type: MC_PACKETS_IN + enum mqtt_type */
	MC_PACKETS_IN_LAST = MC_PACKETS_IN + MQTT_AUTH,
	MC_MESSAGES,
	MC_SAMPLES,
	MC_PAYLOAD_ERRORS,
	MC_PROTOCOL_ERRORS,
	MC_DUPLICATES,       /* QoS 2 redeliveries not stored again */
	MC_STORE_FAILURES,
	MC_BRIDGE_CONNECTS,  /* CONNACK 0 from the broker */
	MC_BRIDGE_MESSAGES,  /* PUBLISH from the broker */
	MC_COUNT
};

/* A session survives its connection when the client asked (3.1.1 clean
 * session 0, 5.0 session expiry > 0): it holds the QoS 2 packet ids
 * received, durable and waiting for PUBREL, so a redelivery after a
 * reconnect is not stored twice. */
struct mqtt_session {
	char *client_id;
	size_t client_id_len;
	struct mqtt_conn *conn;         /* NULL while offline */
	bool listed;                    /* kept after the connection (else freed with it) */
	bool never_expires;             /* 3.1.1 clean session 0, or 5.0 expiry 0xFFFFFFFF */
	uint64_t expiry_ms;             /* lifetime offline; 0: ends with the connection */
	uint64_t offline_since_ms;
	uint16_t *qos2_ids;             /* received and durable, PUBREL awaited */
	size_t nqos2, cap_qos2;
	struct mqtt_session *next;      /* the server's list */
};

/* One read's messages, handed to the store as one batch; the acks of its
 * QoS 1/2 messages go out when it is durable. */
struct mqtt_commit {
	struct evloop_task task;        /* posted from the WAL thread */
	struct mqtt_conn *conn;         /* holds a reference */
	unsigned refs;                  /* the store's answer to come + each ack waiting on it */
	int status;                     /* the store's answer */
	bool done;
};

enum ack_kind { ACK_PUBACK, ACK_PUBREC, ACK_PUBCOMP };

/* Acks leave in the order their packets came. */
struct mqtt_pending_ack {
	enum ack_kind kind;
	uint16_t packet_id;
	uint8_t reason;
	bool qos2_store;                /* a PUBREC whose id joins the session once durable */
	struct mqtt_commit *commit;     /* NULL: nothing to wait for */
	uint32_t message;               /* its number in the commit's batch (0: none) */
};

struct mqtt_bridge;

struct mqtt_conn {
	struct evloop_watch watch;
	struct mqtt_server *srv;
	struct mqtt_bridge *bridge;     /* our connection to the plant's broker */
	int fd;
	unsigned refs;                  /* the connection itself + each commit in flight */
	bool closed;                    /* the socket is gone; freed when refs reach 0 */
	bool closing;                   /* mqtt__close is storing the last batch */
	char peer[64];
	uint64_t id;
	int version;                    /* 0 until CONNECT, then MQTT_V311 or MQTT_V5 */
	uint16_t keep_alive_s;
	uint64_t last_rx_ms, opened_ms;
	struct mqtt_session *session;   /* NULL: clean, nothing kept */
	uint32_t session_expiry_s;
	/* input: bytes of a packet cut by a read, kept until the rest comes */
	uint8_t *partial;
	size_t partial_len, partial_cap;
	/* output */
	struct strbuf out;
	size_t out_off;
	bool want_write, reading;
	/* this read's messages */
	struct ingest_batch *batch;
	struct ingest_report *rep;
	uint32_t batch_messages;
	struct mqtt_commit *commit;     /* the commit the open batch will complete */
	uint32_t *counted;              /* messages of the batch already counted as unreadable */
	size_t ncounted, cap_counted;
	/* acks in packet order */
	struct mqtt_pending_ack *acks;
	size_t ack_head, ack_count, ack_cap;
	unsigned inflight;              /* QoS 1/2 flows open (to PUBACK, or PUBCOMP): receive maximum */
	unsigned unacked;               /* messages whose PUBACK/PUBREC is not sent yet */
	uint16_t *pending_qos2;         /* QoS 2 ids stored, not yet durable */
	size_t npending_qos2, cap_pending_qos2;
	/* 5.0 topic aliases set by the client */
	char **aliases;
	size_t *alias_len;
	struct mqtt_conn *prev, *next;  /* the server's list */
};

#define MQTT_BRIDGE_SUBS_MAX 64

enum bridge_state { BRIDGE_DISCONNECTED, BRIDGE_CONNECTING, BRIDGE_WAIT_CONNACK, BRIDGE_CONNECTED };

/* The bridge: one client connection to the broker, made again with
 * backoff whenever it ends; its session (QoS 2 ids) outlives each one. */
struct mqtt_bridge {
	struct mqtt_server *srv;
	struct mqtt_bridge_options opts;
	char *client_id, *username, *password;
	struct mqtt_subscription subs[MQTT_BRIDGE_SUBS_MAX];
	char *filters[MQTT_BRIDGE_SUBS_MAX];
	size_t nsubs;
	struct mqtt_session *session;
	struct mqtt_conn *conn;         /* NULL while disconnected */
	_Atomic int state;              /* enum bridge_state */
	uint64_t next_attempt_ms, backoff_ms, last_tx_ms, connected_ms;
	pthread_mutex_t error_lock;
	char last_error[200];
	bool stopping;
};

struct mqtt_server {
	struct mqtt_options opts;
	struct mqtt_bridge *bridge;
	char *username, *password;
	struct ingest *ing;
	struct evloop *loop;
	struct evloop_watch listen_watch;
	int listen_fd;
	int spare_fd;                    /* spent to refuse a connection when out of descriptors */
	bool listen_paused;              /* out of descriptors with no spare: not watching */
	uint64_t last_fd_log_ms;
	struct net_addr bound;
	struct mqtt_conn *conns;
	unsigned nconns;
	struct mqtt_session *sessions;
	unsigned nsessions;
	uint64_t next_id;
	uint8_t *rbuf;                   /* MQTT_READ_CHUNK + max packet */
	_Atomic uint64_t commits_in_flight;
	_Atomic uint64_t counters[MC_COUNT];
	_Atomic unsigned open_conns;
	uint64_t last_log_ms;            /* rate limit of payload-error lines */
	unsigned suppressed;
};

uint64_t mqtt__now_ms(void);

/* server/mqtt.c */
void mqtt__count(struct mqtt_server *srv, enum mqtt_counter c, uint64_t n);
/* Queue bytes already in conn->out and try to send them. */
void mqtt__flush(struct mqtt_conn *c);
/* Close the socket (after sending what is queued when graceful). */
void mqtt__close(struct mqtt_conn *c, const char *why);
struct mqtt_session *mqtt__session_find(struct mqtt_server *srv, const char *id, size_t len);
/* A new session; listed ones join the server's list (kept offline). */
struct mqtt_session *mqtt__session_new(struct mqtt_server *srv, const char *id, size_t len,
				       bool listed);
void mqtt__session_drop(struct mqtt_server *srv, struct mqtt_session *s);
/* Release a commit reference (the task's or an ack's); the last frees it
 * and releases its connection. */
void mqtt__commit_release(struct mqtt_commit *cm);
/* Drop a connection reference; the last one frees it. */
void mqtt__conn_release(struct mqtt_conn *c);

struct mqtt_conn *mqtt__conn_open(struct mqtt_server *srv, int fd, const struct sockaddr *sa,
				  uint32_t events);

/* server/mqtt_bridge.c */
int mqtt__bridge_new(struct mqtt_server *srv, const struct mqtt_bridge_options *opts,
		     struct mqtt_bridge **out, char *err);
void mqtt__bridge_free(struct mqtt_bridge *b);
/* The connection's socket event while connecting: 1 when handled here. */
int mqtt__bridge_event(struct mqtt_conn *c, uint32_t events);
void mqtt__bridge_closed(struct mqtt_bridge *b, const char *why);
void mqtt__bridge_tick(struct mqtt_bridge *b);
/* CONNACK, SUBACK, UNSUBACK, PINGRESP from the broker. 0 or -1 (closed). */
int mqtt__bridge_packet(struct mqtt_conn *c, const struct mqtt_packet *pk);

/* server/mqtt_proto.c */
/* Handle one decoded packet. 0, or -1 when the connection was closed. */
int mqtt__handle(struct mqtt_conn *c, const uint8_t *frame, size_t len);
/* Hand the read's batch to the store (end of a read). */
void mqtt__submit(struct mqtt_conn *c);
/* Send every ack whose commit is done, in order. */
void mqtt__send_acks(struct mqtt_conn *c);
/* A protocol error: DISCONNECT with reason (5.0) and close, with a log. */
void mqtt__fail(struct mqtt_conn *c, uint8_t reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif

/* mqtt.c: the MQTT endpoint's sockets: listening, accepting, reading frames, writing, closing, keepalive, sessions.
 * Idle connections hold no buffers (a read uses the server's scratch buffer; only a cut packet is kept), so 10,000
 * idle clients cost a few hundred bytes each. Packets are handled in mqtt_proto.c. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/hs_error.h"
#include "lib/log.h"
#include "lib/vec.h"
#include "server/mqtt_int.h"

uint64_t mqtt__now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void mqtt__count(struct mqtt_server *srv, enum mqtt_counter c, uint64_t n)
{
	atomic_fetch_add_explicit(&srv->counters[c], n, memory_order_relaxed);
}

/* --- sessions ------------------------------------------------------------- */

struct mqtt_session *mqtt__session_find(struct mqtt_server *srv, const char *id, size_t len)
{
	for (struct mqtt_session *s = srv->sessions; s; s = s->next)
		if (s->client_id_len == len && memcmp(s->client_id, id, len) == 0)
			return s;
	return NULL;
}

/* Kept sessions are bounded by max_connections: past it the one offline
 * longest goes (a fleet of devices with random client ids and clean
 * session 0 would otherwise grow memory for ever). */
static void evict_offline_session(struct mqtt_server *srv)
{
	struct mqtt_session *oldest = NULL;

	if (srv->nsessions < srv->opts.max_connections)
		return;
	for (struct mqtt_session *s = srv->sessions; s; s = s->next)
		if (!s->conn && (!oldest || s->offline_since_ms < oldest->offline_since_ms))
			oldest = s;
	if (!oldest)
		return;
	log_warn("mqtt", "%u kept sessions (max_connections): dropping %s's, offline longest",
		 srv->nsessions, oldest->client_id);
	mqtt__session_drop(srv, oldest);
}

struct mqtt_session *mqtt__session_new(struct mqtt_server *srv, const char *id, size_t len,
				       bool listed)
{
	struct mqtt_session *s = calloc(1, sizeof *s);

	if (!s || !(s->client_id = malloc(len + 1))) {
		free(s);
		return NULL;
	}
	memcpy(s->client_id, id, len);
	s->client_id[len] = '\0';
	s->client_id_len = len;
	s->listed = listed;
	if (listed) {
		evict_offline_session(srv);
		s->next = srv->sessions;
		srv->sessions = s;
		srv->nsessions++;
	}
	return s;
}

void mqtt__session_drop(struct mqtt_server *srv, struct mqtt_session *s)
{
	for (struct mqtt_session **p = &srv->sessions; s->listed && *p; p = &(*p)->next)
		if (*p == s) {
			*p = s->next;
			srv->nsessions--;
			break;
		}
	if (s->conn)
		s->conn->session = NULL;
	free(s->qos2_ids);
	free(s->client_id);
	free(s);
}

/* --- connections ------------------------------------------------------------ */

static void conn_free(struct mqtt_conn *c)
{
	if (c->aliases)
		for (unsigned i = 0; i <= c->srv->opts.topic_alias_max; i++)
			free(c->aliases[i]);
	free(c->aliases);
	free(c->alias_len);
	free(c->partial);
	free(c->acks);
	free(c->pending_qos2);
	free(c->counted);
	strbuf_free(&c->out);
	free(c);
}

void mqtt__conn_release(struct mqtt_conn *c)
{
	if (--c->refs == 0)
		conn_free(c);
}

void mqtt__close(struct mqtt_conn *c, const char *why)
{
	struct mqtt_server *srv = c->srv;

	if (c->closed)
		return;
	/* Messages already taken in this read are stored even though the
	 * connection ends (a QoS 0 PUBLISH followed by DISCONNECT). */
	if (c->batch && !c->closing) {
		c->closing = true;
		mqtt__submit(c);
		if (c->closed)
			return;
	}
	c->closed = true;
	log_debug("mqtt", "connection %llu (%s) closed: %s", (unsigned long long)c->id, c->peer, why);
	evloop_watch_del(srv->loop, &c->watch);
	close(c->fd);
	if (c->batch) {
		ingest_batch_free(c->batch);
		c->batch = NULL;
	}
	if (c->commit) { /* never submitted: only the acks queued hold it */
		c->commit->done = true;
		c->commit->status = -ECONNRESET;
		mqtt__commit_release(c->commit);
		c->commit = NULL;
	}
	/* The queued acks will never be sent: let go of their commits. */
	for (; c->ack_count; c->ack_count--, c->ack_head = (c->ack_head + 1) % c->ack_cap)
		if (c->acks[c->ack_head].commit)
			mqtt__commit_release(c->acks[c->ack_head].commit);
	free(c->rep);
	c->rep = NULL;
	if (c->bridge) {
		if (c->session) /* the bridge's own (set at CONNECT), kept for the next connection */
			c->session->conn = NULL;
		c->session = NULL;
		mqtt__bridge_closed(c->bridge, why);
	}
	if (c->session) {
		struct mqtt_session *s = c->session;
		s->conn = NULL;
		s->offline_since_ms = mqtt__now_ms();
		if (!s->listed || (!s->never_expires && s->expiry_ms == 0))
			mqtt__session_drop(srv, s);
		c->session = NULL;
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->nconns--;
	atomic_fetch_sub(&srv->open_conns, 1);
	mqtt__conn_release(c);
}

static void set_events(struct mqtt_conn *c)
{
	uint32_t ev = (c->reading ? EPOLLIN : 0) | (c->want_write ? EPOLLOUT : 0);

	if (!c->closed && evloop_watch_mod(c->srv->loop, &c->watch, ev) != 0)
		mqtt__close(c, "epoll_ctl failed");
}

void mqtt__flush(struct mqtt_conn *c)
{
	bool was_writing = c->want_write, was_reading = c->reading;

	while (!c->closed && c->out_off < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			mqtt__close(c, "write failed");
			return;
		}
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out.len) {
		c->out.len = c->out_off = 0;
		if (strbuf_failed(&c->out)) {
			mqtt__close(c, "out of memory");
			return;
		}
	}
	c->want_write = c->out_off < c->out.len;
	/* A client that does not read its acks stops being read (and so
	 * stops being able to publish) until it catches up. */
	c->reading = c->out.len - c->out_off < MQTT_WRITE_HIGH &&
		     c->unacked < c->srv->opts.receive_max * 2u;
	if (was_writing != c->want_write || was_reading != c->reading)
		set_events(c);
}

/* Keep the bytes of a packet cut by the read, for the next one. */
static int keep_partial(struct mqtt_conn *c, const uint8_t *p, size_t n)
{
	if (n == 0) { /* an idle connection keeps nothing */
		free(c->partial);
		c->partial = NULL;
		c->partial_cap = c->partial_len = 0;
		return 0;
	}
	if (n > c->partial_cap) {
		uint8_t *grown = realloc(c->partial, n);
		if (!grown)
			return -ENOMEM;
		c->partial = grown;
		c->partial_cap = n;
	}
	memmove(c->partial, p, n);
	c->partial_len = n;
	return 0;
}

/* Handle every whole packet in buf; keep the rest. */
static void take_bytes(struct mqtt_conn *c, const uint8_t *buf, size_t len)
{
	size_t max = c->srv->opts.max_packet_bytes, off = 0, frame;
	int rc;

	while (!c->closed && off < len) {
		rc = mqtt_frame_len(buf + off, len - off, max, &frame);
		if (rc == 0)
			break;
		if (rc < 0) {
			mqtt__fail(c, rc == MQTT_ETOOLARGE ? MQTT_RC_PACKET_TOO_LARGE : MQTT_RC_MALFORMED_PACKET,
				   "%s", rc == MQTT_ETOOLARGE ? "packet larger than max_packet_size"
							   : "remaining length longer than 4 bytes");
			return;
		}
		if (mqtt__handle(c, buf + off, frame) != 0)
			return;
		off += frame;
	}
	if (!c->closed && keep_partial(c, buf + off, len - off) != 0)
		mqtt__close(c, "out of memory");
}

static void on_conn_event(void *arg, int fd, uint32_t events)
{
	struct mqtt_conn *c = arg;
	struct mqtt_server *srv = c->srv;
	size_t have = c->partial_len;
	ssize_t n;

	(void)fd;
	c->refs++; /* the handlers below may close it */
	if (c->bridge && mqtt__bridge_event(c, events))
		goto out; /* the bridge's connect finished (or failed) */
	if ((events & EPOLLOUT) && !c->closed)
		mqtt__flush(c);
	/* Not reading (a slow reader) and the peer is gone: epoll would
	 * report it again and again. */
	if ((events & (EPOLLHUP | EPOLLERR)) && !c->reading && !c->closed)
		mqtt__close(c, "connection lost");
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !c->closed && c->reading) {
		/* Scratch buffer: what was cut last time, then this read. */
		if (have)
			memcpy(srv->rbuf, c->partial, have);
		n = recv(c->fd, srv->rbuf + have, MQTT_READ_CHUNK, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			mqtt__close(c, n == 0 ? "closed by the client" : "read failed");
		} else if (n > 0) {
			c->last_rx_ms = mqtt__now_ms();
			take_bytes(c, srv->rbuf, have + (size_t)n);
			if (!c->closed)
				mqtt__submit(c);
		}
	}
	if (!c->closed)
		mqtt__flush(c);
out:
	mqtt__conn_release(c);
}

struct mqtt_conn *mqtt__conn_open(struct mqtt_server *srv, int fd, const struct sockaddr *sa,
				  uint32_t events)
{
	struct mqtt_conn *c = calloc(1, sizeof *c);

	if (!c) {
		close(fd);
		return NULL;
	}
	c->srv = srv;
	c->fd = fd;
	c->refs = 1;
	c->id = ++srv->next_id;
	c->reading = true;
	c->out = (struct strbuf)STRBUF_INIT;
	c->opened_ms = c->last_rx_ms = mqtt__now_ms();
	net_addr_format(sa, c->peer, sizeof c->peer);
	c->watch = (struct evloop_watch){fd, on_conn_event, c};
	if (evloop_watch_add(srv->loop, &c->watch, events) != 0) {
		close(fd);
		free(c);
		return NULL;
	}
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->nconns++;
	atomic_fetch_add(&srv->open_conns, 1);
	mqtt__count(srv, MC_CONNECTIONS_TOTAL, 1);
	return c;
}

static void on_accept(void *arg, int fd, uint32_t events)
{
	struct mqtt_server *srv = arg;
	struct sockaddr_storage ss;

	(void)events;
	for (int i = 0; i < 64; i++) {
		socklen_t len = sizeof ss;
		int cfd = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0 && (errno == EMFILE || errno == ENFILE) && srv->spare_fd >= 0) {
			/* Out of descriptors: the pending connection would keep the
			 * listener readable for ever. Spend the spare one to take it
			 * and close it at once. */
			close(srv->spare_fd);
			cfd = accept(fd, NULL, NULL);
			if (cfd >= 0)
				close(cfd);
			srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
			mqtt__count(srv, MC_CONNECTIONS_REFUSED, 1);
			if (mqtt__now_ms() - srv->last_fd_log_ms > 10000) {
				log_warn("mqtt", "out of file descriptors at %u connections: refusing "
						 "new ones (raise LimitNOFILE)", srv->nconns);
				srv->last_fd_log_ms = mqtt__now_ms();
			}
			continue;
		}
		if (cfd < 0 && (errno == EMFILE || errno == ENFILE)) {
			/* No spare descriptor either: stop listening until the tick
			 * gets one back, or the listener would fire for ever. */
			evloop_watch_del(srv->loop, &srv->listen_watch);
			srv->listen_paused = true;
			log_warn("mqtt", "out of file descriptors: not accepting for now");
			return;
		}
		if (cfd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("mqtt", "accept: %s", hs_strerror(-errno));
			return;
		}
		if (srv->nconns >= srv->opts.max_connections) {
			mqtt__count(srv, MC_CONNECTIONS_REFUSED, 1);
			close(cfd);
			continue;
		}
		mqtt__conn_open(srv, cfd, (struct sockaddr *)&ss, EPOLLIN);
	}
}

/* Once a second: keepalives (1.5 times the client's), CONNECT timeouts,
 * expired sessions. */
static void on_tick(void *arg)
{
	struct mqtt_server *srv = arg;
	uint64_t now = mqtt__now_ms();
	struct mqtt_conn *next;

	for (struct mqtt_conn *c = srv->conns; c; c = next) {
		next = c->next;
		if (!c->version && now - c->opened_ms > MQTT_CONNECT_TIMEOUT_MS)
			mqtt__close(c, "no CONNECT within 10 s");
		else if (!c->reading) /* our own backpressure: its PINGREQs wait unread */
			c->last_rx_ms = now;
		else if (c->version && c->keep_alive_s &&
			 now - c->last_rx_ms > (uint64_t)c->keep_alive_s * 1500)
			mqtt__fail(c, MQTT_RC_KEEP_ALIVE_TIMEOUT, "keep alive of %u s passed 1.5 times",
				   c->keep_alive_s);
	}
	if (srv->listen_paused && (srv->spare_fd >= 0 ||
				   (srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0) &&
	    evloop_watch_add(srv->loop, &srv->listen_watch, EPOLLIN) == 0)
		srv->listen_paused = false;
	if (srv->bridge)
		mqtt__bridge_tick(srv->bridge);
	for (struct mqtt_session *s = srv->sessions, *n; s; s = n) {
		n = s->next;
		if (!s->conn && s->expiry_ms && now - s->offline_since_ms > s->expiry_ms)
			mqtt__session_drop(srv, s);
	}
}

int mqtt_server_new(const struct mqtt_options *opts, struct ingest *ing, struct evloop *loop,
		    struct mqtt_server **out, char *err)
{
	struct mqtt_server *srv = calloc(1, sizeof *srv);
	int rc;

	*out = NULL;
	if (!srv)
		return -ENOMEM;
	srv->opts = *opts;
	if (!srv->opts.max_connections)
		srv->opts.max_connections = 20000;
	if (!srv->opts.max_packet_bytes)
		srv->opts.max_packet_bytes = 1 << 20;
	if (!srv->opts.receive_max)
		srv->opts.receive_max = 256;
	srv->username = strdup(opts->username ? opts->username : "");
	srv->password = strdup(opts->password ? opts->password : "");
	srv->opts.username = srv->username;
	srv->opts.password = srv->password;
	srv->ing = ing;
	srv->loop = loop;
	srv->listen_fd = -1;
	srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	srv->rbuf = malloc(MQTT_READ_CHUNK + srv->opts.max_packet_bytes + 8);
	if (!srv->username || !srv->password || !srv->rbuf) {
		rc = -ENOMEM;
		snprintf(err, MQTT_ERROR_MAX, "mqtt: out of memory");
		goto fail;
	}
	if (!opts->listen.off) {
		rc = net_listen(&opts->listen, SOCK_STREAM, 1024, &srv->listen_fd, &srv->bound);
		if (rc == 0 &&
		    fcntl(srv->listen_fd, F_SETFL, fcntl(srv->listen_fd, F_GETFL) | O_NONBLOCK) != 0)
			rc = -errno;
		if (rc != 0) {
			snprintf(err, MQTT_ERROR_MAX, "mqtt: cannot listen on %s: %s",
				 opts->listen.text, hs_strerror(rc));
			goto fail;
		}
		srv->listen_watch = (struct evloop_watch){srv->listen_fd, on_accept, srv};
		if ((rc = evloop_watch_add(loop, &srv->listen_watch, EPOLLIN)) != 0) {
			snprintf(err, MQTT_ERROR_MAX, "mqtt: cannot watch the socket: %s",
				 hs_strerror(rc));
			goto fail;
		}
	} else {
		srv->bound = opts->listen;
	}
	if (opts->bridge && (rc = mqtt__bridge_new(srv, opts->bridge, &srv->bridge, err)) != 0)
		goto fail;
	evloop_tick(loop, on_tick, srv, 1000);
	*out = srv;
	return 0;
fail:
	mqtt_server_free(srv);
	return rc;
}

const char *mqtt_server_address(const struct mqtt_server *srv)
{
	return srv->bound.text;
}

void mqtt_server_free(struct mqtt_server *srv)
{
	if (!srv)
		return;
	/* The loop has stopped: close what is open, then wait for the store
	 * to answer the batches in flight (their tasks hold references and
	 * run here, since no loop thread is left to run them). */
	if (srv->bridge)
		srv->bridge->stopping = true; /* no reconnect from the closes below */
	while (srv->conns)
		mqtt__close(srv->conns, "shutting down");
	/* Without a limit: the answers' tasks hold the connections, and a
	 * store that never answers is the shutdown watchdog's to end. */
	for (unsigned ms = 1; atomic_load(&srv->commits_in_flight); ms++) {
		if (ms % 10000 == 0)
			log_warn("mqtt", "shutdown: %llu batches still unanswered by the store",
				 (unsigned long long)atomic_load(&srv->commits_in_flight));
		usleep(1000);
	}
	evloop_run_posted(srv->loop); /* the answers' tasks free what they hold */
	while (srv->sessions)
		mqtt__session_drop(srv, srv->sessions);
	mqtt__bridge_free(srv->bridge);
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	if (srv->spare_fd >= 0)
		close(srv->spare_fd);
	free(srv->rbuf);
	free(srv->username);
	free(srv->password);
	free(srv);
}

void mqtt_server_metrics(struct mqtt_server *srv, struct strbuf *out)
{
	static const char *const simple[][3] = {
		[MC_CONNECTIONS_TOTAL] = {"historian_mqtt_connections_total", "counter",
					  "MQTT connections accepted."},
		[MC_CONNECTIONS_REFUSED] = {"historian_mqtt_connections_refused_total", "counter",
					    "MQTT connections closed at once: max_connections reached."},
		[MC_MESSAGES] = {"historian_mqtt_messages_total", "counter", "PUBLISH messages taken."},
		[MC_SAMPLES] = {"historian_mqtt_samples_total", "counter",
				"Samples from MQTT handed to storage."},
		[MC_PAYLOAD_ERRORS] = {"historian_mqtt_payload_errors_total", "counter",
				       "MQTT messages dropped: payload or tag not readable."},
		[MC_PROTOCOL_ERRORS] = {"historian_mqtt_protocol_errors_total", "counter",
					"MQTT connections closed for a malformed packet or a protocol error."},
		[MC_DUPLICATES] = {"historian_mqtt_duplicates_total", "counter",
				   "QoS 2 redeliveries recognised and not stored again."},
		[MC_STORE_FAILURES] = {"historian_mqtt_store_failures_total", "counter",
				       "MQTT batches storage refused or failed (their messages were not acknowledged)."},
		[MC_BRIDGE_CONNECTS] = {"historian_mqtt_bridge_connects_total", "counter",
					"Connections of the bridge to the broker accepted (CONNACK 0)."},
		[MC_BRIDGE_MESSAGES] = {"historian_mqtt_bridge_messages_total", "counter",
					"PUBLISH messages the broker sent through the bridge."},
	};
	const char *state;
	char last[8];

	_Static_assert(sizeof simple / sizeof simple[0] == MC_COUNT, "a name for every counter slot");
	mqtt_server_bridge_state(srv, &state, last, sizeof last);
	strbuf_printf(out, "# HELP historian_mqtt_bridge_connected 1 while the bridge is connected "
			   "to the broker (0 when off).\n# TYPE historian_mqtt_bridge_connected gauge\n"
			   "historian_mqtt_bridge_connected %d\n", strcmp(state, "connected") == 0);
	strbuf_printf(out, "# HELP historian_mqtt_connections Open MQTT connections.\n"
			   "# TYPE historian_mqtt_connections gauge\nhistorian_mqtt_connections %u\n",
		      atomic_load(&srv->open_conns));
	for (size_t i = 0; i < MC_COUNT; i++)
		if (simple[i][0])
			strbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", simple[i][0],
				      simple[i][2], simple[i][0], simple[i][1], simple[i][0],
				      (unsigned long long)atomic_load(&srv->counters[i]));
	strbuf_puts(out, "# HELP historian_mqtt_packets_total MQTT packets received, by type.\n"
			 "# TYPE historian_mqtt_packets_total counter\n");
	for (int t = MQTT_CONNECT; t <= MQTT_AUTH; t++)
		strbuf_printf(out, "historian_mqtt_packets_total{type=\"%s\"} %llu\n",
			      mqtt_type_name((enum mqtt_type)t),
			      (unsigned long long)atomic_load(&srv->counters[MC_PACKETS_IN + t]));
}

/* mqtt-load.c: MQTT publish load: N connections each publish M messages of one value (QoS 0 or 1) and count them.
 * Same client for historian and for a mosquitto broker, so the two are compared on equal terms. Not a test.
 *
 * Each connection is a thread with a blocking socket: CONNECT, then PUBLISHes written in batches of up to the
 * window (QoS 1: at most `window` unacknowledged, PUBACKs read as they come; QoS 0: written as fast as the socket
 * takes them, then a PINGREQ whose PINGRESP says the server has read everything before it), then DISCONNECT. The
 * clock runs from the first CONNECT to the last connection's final PUBACK (QoS 1) or PINGRESP (QoS 0).
 * Prints "RESULT mqtt_messages_per_s N messages/s". Exit 0, or 2 on a usage or connection error. */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/strbuf.h"
#include "server/mqtt_codec.h"

struct opts {
	const char *host, *port, *topic;
	unsigned conns, qos, version, window;
	unsigned long messages; /* per connection */
};

struct worker {
	pthread_t thread;
	const struct opts *o;
	unsigned index;
	int fd;
	unsigned long acked;
	const char *error;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int dial(const struct opts *o)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
	int fd = -1, one = 1;

	if (getaddrinfo(o->host, o->port, &hints, &res) != 0)
		return -1;
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
		close(fd);
		fd = -1;
	}
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	freeaddrinfo(res);
	return fd;
}

static int send_all(int fd, struct strbuf *sb)
{
	for (size_t off = 0; off < sb->len;) {
		ssize_t n = send(fd, sb->data + off, sb->len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	sb->len = 0;
	return 0;
}

/* Read packets until `want` of type `type` arrived (other packets are
 * skipped). buf/len hold bytes across calls. */
struct reader {
	uint8_t buf[65536];
	size_t len;
};

static int read_until(struct worker *w, struct reader *r, enum mqtt_type type, unsigned long want,
		      unsigned long *got)
{
	while (*got < want) {
		size_t frame;
		int rc = mqtt_frame_len(r->buf, r->len, 0, &frame);
		if (rc == 1) {
			struct mqtt_packet pk;
			if (mqtt_decode(r->buf, frame, (int)w->o->version, &pk) != 0)
				return w->error = "undecodable packet from the server", -1;
			if (pk.type == type)
				(*got)++;
			memmove(r->buf, r->buf + frame, r->len - frame);
			r->len -= frame;
			continue;
		}
		if (rc < 0)
			return w->error = "bad framing from the server", -1;
		ssize_t n = recv(w->fd, r->buf + r->len, sizeof r->buf - r->len, 0);
		if (n <= 0)
			return w->error = "connection closed by the server", -1;
		r->len += (size_t)n;
	}
	return 0;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	const struct opts *o = w->o;
	struct strbuf sb = STRBUF_INIT;
	struct reader *r = calloc(1, sizeof *r);
	char id[32], topic[256], value[32];
	struct mqtt_connect k = {.protocol_level = (uint8_t)o->version, .clean_start = true};
	unsigned long sent = 0, connacks = 0, pings = 0;

	snprintf(id, sizeof id, "mqtt-load-%u", w->index);
	snprintf(topic, sizeof topic, "%s/%u", o->topic, w->index);
	k.client_id = (struct mqtt_str){id, strlen(id)};
	if (!r || (w->fd = dial(o)) < 0 || mqtt_encode_connect(&sb, &k) != 0 || send_all(w->fd, &sb) ||
	    read_until(w, r, MQTT_CONNACK, 1, &connacks) != 0) {
		if (!w->error)
			w->error = "cannot connect";
		goto out;
	}
	while (sent < o->messages) {
		/* QoS 1: keep at most window unacknowledged. */
		unsigned long room = o->qos ? o->window - (sent - w->acked) : o->window;
		for (unsigned long i = 0; i < room && sent < o->messages; i++, sent++) {
			struct mqtt_publish p = {.qos = (uint8_t)o->qos,
						 .packet_id = o->qos ? (uint16_t)(sent % 65535 + 1) : 0};
			int n = snprintf(value, sizeof value, "%.2f", 20.0 + (double)(sent % 1000) / 100);
			p.topic = (struct mqtt_str){topic, strlen(topic)};
			p.payload = (const uint8_t *)value;
			p.payload_len = (size_t)n;
			if (mqtt_encode_publish(&sb, (int)o->version, &p) != 0)
				return w->error = "cannot encode PUBLISH", NULL;
		}
		if (send_all(w->fd, &sb) != 0) {
			w->error = "write failed";
			goto out;
		}
		if (o->qos && read_until(w, r, MQTT_PUBACK, sent - (o->window / 2 < sent ? o->window / 2 : 0),
					 &w->acked) != 0)
			goto out;
	}
	if (o->qos && read_until(w, r, MQTT_PUBACK, o->messages, &w->acked) != 0)
		goto out;
	if (!o->qos) {
		if (mqtt_encode_pingreq(&sb) != 0 || send_all(w->fd, &sb) != 0 ||
		    read_until(w, r, MQTT_PINGRESP, 1, &pings) != 0)
			goto out;
		w->acked = sent;
	}
	if (mqtt_encode_disconnect(&sb, (int)o->version, NULL) == 0)
		send_all(w->fd, &sb);
out:
	if (w->fd >= 0)
		close(w->fd);
	strbuf_free(&sb);
	free(r);
	return NULL;
}

static void usage(void)
{
	fputs("usage: mqtt-load [--host H] [--port P] [--connections N] [--messages M] [--qos 0|1]\n"
	      "                 [--version 4|5] [--window W] [--topic PREFIX]\n"
	      "  N connections (default 1) each publish M messages (default 100000) of one value\n"
	      "  to PREFIX/<n> (default load); QoS 1 keeps at most W (default 100) unacknowledged.\n"
	      "  Ends with: RESULT mqtt_messages_per_s N messages/s\n", stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	struct opts o = {"127.0.0.1", "1883", "load", 1, 0, 4, 100, 100000};
	struct worker *w;
	unsigned long total = 0;
	double t0, secs;
	int status = 0;

	for (int i = 1; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		if (!strcmp(k, "--host")) o.host = v;
		else if (!strcmp(k, "--port")) o.port = v;
		else if (!strcmp(k, "--connections")) o.conns = (unsigned)atoi(v);
		else if (!strcmp(k, "--messages")) o.messages = strtoul(v, NULL, 10);
		else if (!strcmp(k, "--qos")) o.qos = (unsigned)atoi(v);
		else if (!strcmp(k, "--version")) o.version = (unsigned)atoi(v);
		else if (!strcmp(k, "--window")) o.window = (unsigned)atoi(v);
		else if (!strcmp(k, "--topic")) o.topic = v;
		else usage();
	}
	if (argc % 2 == 0 || !o.conns || o.qos > 1 || (o.version != 4 && o.version != 5) || !o.window ||
	    o.window > 65000)
		usage();
	w = calloc(o.conns, sizeof *w);
	if (!w)
		return 2;
	t0 = now_s();
	for (unsigned i = 0; i < o.conns; i++) {
		w[i] = (struct worker){.o = &o, .index = i, .fd = -1};
		if (pthread_create(&w[i].thread, NULL, work, &w[i]) != 0)
			return 2;
	}
	for (unsigned i = 0; i < o.conns; i++) {
		pthread_join(w[i].thread, NULL);
		total += w[i].acked;
		if (w[i].error) {
			fprintf(stderr, "mqtt-load: connection %u: %s\n", i, w[i].error);
			status = 2;
		}
	}
	secs = now_s() - t0;
	printf("mqtt-load: %u connections x %lu messages, QoS %u, MQTT %s: %lu in %.3f s\n", o.conns,
	       o.messages, o.qos, o.version == 5 ? "5.0" : "3.1.1", total, secs);
	printf("RESULT mqtt_messages_per_s %.0f messages/s\n", (double)total / secs);
	free(w);
	return status;
}

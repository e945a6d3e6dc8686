/* udp.h: the UDP line-protocol listener: datagrams of whole lines, read with recvmmsg, into the ingest pipeline.
 * Owns its socket; runs its callback on the event-loop thread. UDP is best effort: nothing is acknowledged. */
#ifndef HS_UDP_H
#define HS_UDP_H

#include <stddef.h>
#include <stdint.h>

#include "lib/netaddr.h"
#include "server/evloop.h"
#include "server/ingest.h"

struct udp_listener;

struct udp_options {
	struct net_addr listen;
	size_t rcvbuf_bytes;   /* SO_RCVBUF asked for (default 8 MiB) */
};

/* Bind, size the receive buffer, register with loop. err gets 512 bytes.
 * 0 or -errno. */
int udp_listener_new(const struct udp_options *opts, struct ingest *ing, struct evloop *loop,
		     struct udp_listener **out, char *err) __attribute__((warn_unused_result));

/* The address bound ("127.0.0.1:8089"). */
const char *udp_listener_address(const struct udp_listener *u);

/* Close the socket; the loop must be stopped first. NULL is fine. */
void udp_listener_free(struct udp_listener *u);

struct udp_stats {
	uint64_t datagrams, bytes, samples, bad_lines;
	uint64_t dropped_busy;     /* samples dropped: storage could not take them */
	uint64_t kernel_drops;     /* datagrams the kernel dropped (SO_RXQ_OVFL) */
	uint64_t rcvbuf_bytes;     /* the receive buffer the kernel granted */
};

void udp_listener_stats(const struct udp_listener *u, struct udp_stats *out);

#endif

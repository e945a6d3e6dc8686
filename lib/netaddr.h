/* netaddr.h: listener addresses ("127.0.0.1:8080", "[::1]:1883", "off") and listening sockets.
 * Pure parsing plus two small socket helpers; shared by the HTTP, MQTT and UDP listeners. */
#ifndef HS_NETADDR_H
#define HS_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define NET_ADDR_TEXT_MAX 64

struct net_addr {
	bool off;                    /* the listener is switched off */
	struct sockaddr_storage ss;  /* valid unless off */
	socklen_t len;
	char text[NET_ADDR_TEXT_MAX]; /* canonical text: "127.0.0.1:8080", "[::1]:80", "off" */
};

/* Parse "off", "IPV4:PORT", "[IPV6]:PORT" or "localhost:PORT" (which means
 * 127.0.0.1). Port 0 asks the kernel for a free port (used by tests). Host
 * names other than localhost are refused: a daemon that must start at boot
 * should not depend on DNS. Returns 0 or HS_EADDR, with a reason in why. */
int net_addr_parse(const char *text, struct net_addr *out, char *why, size_t why_len)
	__attribute__((warn_unused_result));

/* True for 127.0.0.0/8, ::1 and IPv4-mapped 127.x; false for wildcards. */
bool net_addr_is_loopback(const struct net_addr *addr);

/* Render a socket address as "1.2.3.4:5" or "[::1]:5". */
void net_addr_format(const struct sockaddr *sa, char *buf, size_t len);

/* Create a socket of type (SOCK_STREAM or SOCK_DGRAM) bound to addr, with
 * SO_REUSEADDR, close-on-exec and non-blocking; listen()s if a stream.
 * On success *fd_out is owned by the caller and *bound (if not NULL) holds
 * the address the kernel chose (the real port when addr asked for 0).
 * Returns 0 or -errno. */
int net_listen(const struct net_addr *addr, int type, int backlog, int *fd_out,
	       struct net_addr *bound) __attribute__((warn_unused_result));

#endif

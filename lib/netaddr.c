/* netaddr.c: listener address parsing and socket binding behind netaddr.h.
 * No global state; safe from any thread. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/hs_error.h"
#include "lib/netaddr.h"

static int parse_port(const char *text, unsigned *port)
{
	char *end;
	unsigned long v;

	if (*text < '0' || *text > '9')
		return -1;
	errno = 0;
	v = strtoul(text, &end, 10);
	if (errno || *end || v > 65535)
		return -1;
	*port = (unsigned)v;
	return 0;
}

int net_addr_parse(const char *text, struct net_addr *result, char *why, size_t why_len)
{
	struct net_addr parsed, *out = &parsed; /* result is left alone on error */
	char host[NET_ADDR_TEXT_MAX];
	bool bracketed = text[0] == '[';
	const char *colon, *port_text;
	unsigned port;
	size_t host_len;

	memset(out, 0, sizeof *out);
	if (strcmp(text, "off") == 0) {
		out->off = true;
		snprintf(out->text, sizeof out->text, "off");
		*result = parsed;
		return 0;
	}
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close || close[1] != ':') {
			snprintf(why, why_len, "expected [IPV6]:PORT");
			return HS_EADDR;
		}
		host_len = (size_t)(close - text - 1);
		port_text = close + 2;
		if (host_len >= sizeof host)
			goto bad_host;
		memcpy(host, text + 1, host_len);
	} else {
		colon = strrchr(text, ':');
		if (!colon) {
			snprintf(why, why_len, "expected ADDRESS:PORT or off");
			return HS_EADDR;
		}
		host_len = (size_t)(colon - text);
		port_text = colon + 1;
		if (host_len >= sizeof host || memchr(text, ':', host_len))
			goto bad_host;
		memcpy(host, text, host_len);
	}
	host[host_len] = '\0';
	if (parse_port(port_text, &port) != 0) {
		snprintf(why, why_len, "port must be a number from 0 to 65535");
		return HS_EADDR;
	}
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof host, "127.0.0.1");

	struct sockaddr_in *in4 = (struct sockaddr_in *)&out->ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&out->ss;
	if (!bracketed && inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		out->len = sizeof *in4;
	} else if (bracketed && inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		out->len = sizeof *in6;
	} else {
		goto bad_host;
	}
	net_addr_format((struct sockaddr *)&out->ss, out->text, sizeof out->text);
	*result = parsed;
	return 0;

bad_host:
	snprintf(why, why_len, "address must be a numeric IPv4 address, [IPv6] address or localhost");
	return HS_EADDR;
}

bool net_addr_is_loopback(const struct net_addr *addr)
{
	if (addr->off)
		return true;
	if (addr->ss.ss_family == AF_INET) {
		const struct sockaddr_in *in4 = (const struct sockaddr_in *)&addr->ss;
		return (ntohl(in4->sin_addr.s_addr) >> 24) == 127;
	}
	if (addr->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&addr->ss;
		const uint8_t *b = in6->sin6_addr.s6_addr;
		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && b[12] == 127;
	}
	return false;
}

void net_addr_format(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in4->sin_addr, host, sizeof host);
		snprintf(buf, len, "%s:%u", host, ntohs(in4->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
		snprintf(buf, len, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, len, "?");
	}
}

int net_listen(const struct net_addr *addr, int type, int backlog, int *fd_out,
	       struct net_addr *bound)
{
	int fd, one = 1, rc;

	fd = socket(addr->ss.ss_family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* For TCP, SO_REUSEADDR only skips TIME_WAIT after a restart; for UDP it
	 * would let a second daemon share the port silently, so not there. */
	if (type == SOCK_STREAM && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
		goto fail;
	if (addr->ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0)
		goto fail;
	if (bind(fd, (const struct sockaddr *)&addr->ss, addr->len) != 0)
		goto fail;
	if (type == SOCK_STREAM && listen(fd, backlog) != 0)
		goto fail;
	if (bound) {
		memset(bound, 0, sizeof *bound);
		bound->len = sizeof bound->ss;
		if (getsockname(fd, (struct sockaddr *)&bound->ss, &bound->len) != 0)
			goto fail;
		net_addr_format((struct sockaddr *)&bound->ss, bound->text, sizeof bound->text);
	}
	*fd_out = fd;
	return 0;

fail:
	rc = -errno;
	close(fd);
	return rc;
}

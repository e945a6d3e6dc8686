/* check_netaddr.c: unit tests for lib/netaddr.h (listener address parsing, loopback test, net_listen).
 * Socket tests bind only 127.0.0.1 with port 0, so they run in parallel with anything else on the host. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/hs_error.h"
#include "lib/netaddr.h"

static unsigned addr_port(const struct net_addr *a)
{
	if (a->ss.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
	if (a->ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
	return 0;
}

/* Parse text that must be accepted; fails the test with the reason if not. */
static void parse_ok(const char *text, struct net_addr *out)
{
	char why[128] = "";
	int rc = net_addr_parse(text, out, why, sizeof why);

	ck_assert_msg(rc == 0, "\"%s\" refused (%d): %s", text, rc, why);
}

static struct net_addr loopback_port0(void)
{
	struct net_addr a;

	parse_ok("127.0.0.1:0", &a);
	return a;
}

/* ---- parsing ------------------------------------------------------------ */

START_TEST(test_parse_off)
{
	struct net_addr a;

	memset(&a, 0xAB, sizeof a);
	parse_ok("off", &a);
	ck_assert(a.off);
	ck_assert_str_eq(a.text, "off");
}
END_TEST

START_TEST(test_parse_ipv4)
{
	struct net_addr a;
	const struct sockaddr_in *in4 = (const struct sockaddr_in *)&a.ss;

	parse_ok("127.0.0.1:8080", &a);
	ck_assert(!a.off);
	ck_assert_int_eq(a.ss.ss_family, AF_INET);
	ck_assert_uint_eq(a.len, sizeof(struct sockaddr_in));
	ck_assert_uint_eq(addr_port(&a), 8080);
	ck_assert_uint_eq(ntohl(in4->sin_addr.s_addr), 0x7F000001u);
	ck_assert_str_eq(a.text, "127.0.0.1:8080");

	parse_ok("0.0.0.0:1", &a);
	ck_assert_uint_eq(ntohl(in4->sin_addr.s_addr), 0);
	ck_assert_uint_eq(addr_port(&a), 1);
	ck_assert_str_eq(a.text, "0.0.0.0:1");
}
END_TEST

START_TEST(test_parse_localhost)
{
	struct net_addr a;

	parse_ok("localhost:80", &a);
	ck_assert_int_eq(a.ss.ss_family, AF_INET);
	ck_assert_uint_eq(ntohl(((const struct sockaddr_in *)&a.ss)->sin_addr.s_addr), 0x7F000001u);
	ck_assert_uint_eq(addr_port(&a), 80);
	ck_assert_str_eq(a.text, "127.0.0.1:80");
}
END_TEST

START_TEST(test_parse_ipv6)
{
	struct net_addr a;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a.ss;

	parse_ok("[::1]:1883", &a);
	ck_assert(!a.off);
	ck_assert_int_eq(a.ss.ss_family, AF_INET6);
	ck_assert_uint_eq(a.len, sizeof(struct sockaddr_in6));
	ck_assert_uint_eq(addr_port(&a), 1883);
	ck_assert(IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr));
	ck_assert_str_eq(a.text, "[::1]:1883");

	parse_ok("[::]:1883", &a);
	ck_assert(IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr));
	ck_assert_str_eq(a.text, "[::]:1883");
}
END_TEST

START_TEST(test_parse_port_range)
{
	struct net_addr a;

	parse_ok("127.0.0.1:0", &a);
	ck_assert_uint_eq(addr_port(&a), 0);
	ck_assert_str_eq(a.text, "127.0.0.1:0");
	parse_ok("127.0.0.1:65535", &a);
	ck_assert_uint_eq(addr_port(&a), 65535);
	ck_assert_str_eq(a.text, "127.0.0.1:65535");
	parse_ok("[::1]:65535", &a);
	ck_assert_uint_eq(addr_port(&a), 65535);
}
END_TEST

/* text is the canonical spelling, whatever the input looked like. */
START_TEST(test_canonical_text)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{"127.0.0.1:0080", "127.0.0.1:80"},
		{"[0:0:0:0:0:0:0:1]:80", "[::1]:80"},
		{"[2001:DB8::0001]:443", "[2001:db8::1]:443"},
		{"[::ffff:127.0.0.1]:8089", "[::ffff:127.0.0.1]:8089"},
		{"localhost:0", "127.0.0.1:0"},
	};
	struct net_addr a;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		parse_ok(cases[i].in, &a);
		ck_assert_str_eq(a.text, cases[i].want);
	}
}
END_TEST

START_TEST(test_parse_errors)
{
	static const char *const bad[] = {
		"127.0.0.1:65536",
		"127.0.0.1:99999999999999999999",
		"127.0.0.1",          /* no port */
		"host:80",            /* a host name other than localhost */
		"example.com:80",
		":80",                /* no host */
		"1.2.3.4:",           /* empty port */
		"[::1]80",            /* no colon after ] */
		"[::1]:",
		"[::1",               /* no ] */
		"[]:80",
		"::1:80",             /* IPv6 needs brackets */
		"127.0.0.1:8o",       /* letter in port */
		"127.0.0.1:80a",
		"127.0.0.1:a80",
		"127.0.0.1:-1",
		"127.0.0.1:+80",
		"127.0.0.1: 80",
		"127.0.0.1:0x50",
		"256.0.0.1:80",
		"1.2.3:80",
		"",
		"of",
	};
	struct net_addr a;
	char why[128];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why[0] = '\0';
		int rc = net_addr_parse(bad[i], &a, why, sizeof why);
		ck_assert_msg(rc == HS_EADDR, "\"%s\": got %d (%s), want HS_EADDR %d", bad[i], rc,
			      a.text, HS_EADDR);
		ck_assert_msg(why[0] != '\0', "\"%s\": no reason given", bad[i]);
	}
}
END_TEST

START_TEST(test_parse_error_reasons)
{
	struct net_addr a;
	char why[128];

	ck_assert_int_eq(net_addr_parse("127.0.0.1:70000", &a, why, sizeof why), HS_EADDR);
	ck_assert_ptr_nonnull(strstr(why, "port"));
	ck_assert_int_eq(net_addr_parse("plc.example:502", &a, why, sizeof why), HS_EADDR);
	ck_assert_ptr_nonnull(strstr(why, "localhost"));
	/* A short buffer truncates the reason but stays a string. */
	memset(why, 'X', sizeof why);
	ck_assert_int_eq(net_addr_parse("127.0.0.1", &a, why, 8), HS_EADDR);
	ck_assert_uint_eq(strlen(why), 7);
}
END_TEST

/* ---- loopback ----------------------------------------------------------- */

START_TEST(test_is_loopback)
{
	static const struct {
		const char *text;
		bool loopback;
	} cases[] = {
		{"127.0.0.1:80", true},
		{"127.0.0.2:80", true},
		{"127.255.255.254:80", true},
		{"localhost:80", true},
		{"[::1]:80", true},
		{"[::ffff:127.0.0.1]:80", true},
		{"[::ffff:127.1.2.3]:80", true},
		{"off", true}, /* a listener that is off exposes nothing */
		{"0.0.0.0:80", false},
		{"[::]:80", false},
		{"10.0.0.1:80", false},
		{"126.255.255.255:80", false},
		{"128.0.0.1:80", false},
		{"192.168.1.10:80", false},
		{"[::ffff:10.0.0.1]:80", false},
		{"[::2]:80", false},
		{"[fe80::1]:80", false},
	};
	struct net_addr a;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		parse_ok(cases[i].text, &a);
		ck_assert_msg(net_addr_is_loopback(&a) == cases[i].loopback,
			      "net_addr_is_loopback(%s) is %d, want %d", cases[i].text,
			      !cases[i].loopback, cases[i].loopback);
	}
}
END_TEST

/* ---- format ------------------------------------------------------------- */

START_TEST(test_format)
{
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
	char buf[NET_ADDR_TEXT_MAX];

	memset(&in4, 0, sizeof in4);
	in4.sin_family = AF_INET;
	in4.sin_port = htons(5);
	in4.sin_addr.s_addr = htonl(0x01020304);
	net_addr_format((const struct sockaddr *)&in4, buf, sizeof buf);
	ck_assert_str_eq(buf, "1.2.3.4:5");

	memset(&in6, 0, sizeof in6);
	in6.sin6_family = AF_INET6;
	in6.sin6_port = htons(65535);
	in6.sin6_addr = in6addr_loopback;
	net_addr_format((const struct sockaddr *)&in6, buf, sizeof buf);
	ck_assert_str_eq(buf, "[::1]:65535");

	/* Truncates rather than overflows. */
	memset(buf, 'X', sizeof buf);
	net_addr_format((const struct sockaddr *)&in4, buf, 4);
	ck_assert_str_eq(buf, "1.2");
	ck_assert_int_eq(buf[4], 'X');
}
END_TEST

/* ---- net_listen --------------------------------------------------------- */

static void assert_socket_flags(int fd, int type)
{
	int one = 0, sotype = 0;
	socklen_t len = sizeof one;
	int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);

	ck_assert_int_ne(fl & O_NONBLOCK, 0);
	ck_assert_int_ne(fdfl & FD_CLOEXEC, 0);
	ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, &len), 0);
	/* TCP: reusable after TIME_WAIT; UDP: never shared with a second listener. */
	if (type == SOCK_STREAM)
		ck_assert_int_ne(one, 0);
	else
		ck_assert_int_eq(one, 0);
	len = sizeof sotype;
	ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_TYPE, &sotype, &len), 0);
	ck_assert_int_eq(sotype, type);
}

/* bound->text must name the real port, and agree with bound->ss. */
static unsigned assert_bound(const struct net_addr *bound)
{
	char want[NET_ADDR_TEXT_MAX];
	unsigned port = addr_port(bound);

	ck_assert_int_eq(bound->ss.ss_family, AF_INET);
	ck_assert_uint_ne(port, 0);
	snprintf(want, sizeof want, "127.0.0.1:%u", port);
	ck_assert_str_eq(bound->text, want);
	ck_assert(!bound->off);
	return port;
}

START_TEST(test_listen_tcp)
{
	struct net_addr a = loopback_port0(), bound;
	int fd = -1, client, conn;
	struct pollfd pfd;

	ck_assert_int_eq(net_listen(&a, SOCK_STREAM, 16, &fd, &bound), 0);
	ck_assert_int_ge(fd, 0);
	assert_bound(&bound);
	assert_socket_flags(fd, SOCK_STREAM);

	client = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(client, 0);
	ck_assert_int_eq(connect(client, (const struct sockaddr *)&bound.ss, bound.len), 0);
	pfd.fd = fd;
	pfd.events = POLLIN;
	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	conn = accept(fd, NULL, NULL);
	ck_assert_int_ge(conn, 0);
	ck_assert_int_eq(write(client, "ping", 4), 4);
	char buf[8];
	pfd.fd = conn;
	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	ck_assert_int_eq(read(conn, buf, sizeof buf), 4);
	ck_assert_mem_eq(buf, "ping", 4);
	close(conn);
	close(client);
	close(fd);
}
END_TEST

START_TEST(test_listen_udp)
{
	struct net_addr a = loopback_port0(), bound;
	int fd = -1, client;
	struct pollfd pfd;
	char buf[64];

	ck_assert_int_eq(net_listen(&a, SOCK_DGRAM, 0, &fd, &bound), 0);
	ck_assert_int_ge(fd, 0);
	assert_bound(&bound);
	assert_socket_flags(fd, SOCK_DGRAM);

	client = socket(AF_INET, SOCK_DGRAM, 0);
	ck_assert_int_ge(client, 0);
	ck_assert_int_eq(sendto(client, "temp v=1", 8, 0, (const struct sockaddr *)&bound.ss,
				bound.len), 8);
	pfd.fd = fd;
	pfd.events = POLLIN;
	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	ck_assert_int_eq(recv(fd, buf, sizeof buf, 0), 8);
	ck_assert_mem_eq(buf, "temp v=1", 8);
	close(client);
	close(fd);
}
END_TEST

START_TEST(test_listen_without_bound)
{
	struct net_addr a = loopback_port0();
	int fd = -1;

	ck_assert_int_eq(net_listen(&a, SOCK_STREAM, 4, &fd, NULL), 0);
	ck_assert_int_ge(fd, 0);
	close(fd);
}
END_TEST

/* Port of a socket bound to 127.0.0.1:0 by a plain socket (another program). */
static int occupy(int type, struct net_addr *taken)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;
	int fd = socket(AF_INET, type, 0);
	char text[NET_ADDR_TEXT_MAX];

	ck_assert_int_ge(fd, 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (const struct sockaddr *)&sin, sizeof sin), 0);
	if (type == SOCK_STREAM)
		ck_assert_int_eq(listen(fd, 1), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	snprintf(text, sizeof text, "127.0.0.1:%u", ntohs(sin.sin_port));
	parse_ok(text, taken);
	return fd;
}

START_TEST(test_listen_in_use_by_other)
{
	static const int types[] = {SOCK_STREAM, SOCK_DGRAM};

	for (size_t i = 0; i < 2; i++) {
		struct net_addr taken;
		int other = occupy(types[i], &taken), fd = -1;
		ck_assert_int_eq(net_listen(&taken, types[i], 4, &fd, NULL), -EADDRINUSE);
		close(other);
	}
}
END_TEST

/* Two listeners from net_listen on one port, as when a second daemon starts
 * with the same configuration: the second must be refused, or it would
 * silently take a share of the traffic. */
START_TEST(test_listen_in_use_by_us_tcp)
{
	struct net_addr a = loopback_port0(), bound;
	int first = -1, second = -1;

	ck_assert_int_eq(net_listen(&a, SOCK_STREAM, 4, &first, &bound), 0);
	ck_assert_int_eq(net_listen(&bound, SOCK_STREAM, 4, &second, NULL), -EADDRINUSE);
	close(first);
}
END_TEST

START_TEST(test_listen_in_use_by_us_udp)
{
	struct net_addr a = loopback_port0(), bound;
	int first = -1, second = -1;
	int rc;

	ck_assert_int_eq(net_listen(&a, SOCK_DGRAM, 0, &first, &bound), 0);
	rc = net_listen(&bound, SOCK_DGRAM, 0, &second, NULL);
	if (rc == 0)
		close(second);
	close(first);
	ck_assert_msg(rc == -EADDRINUSE,
		      "second UDP net_listen on %s returned %d, want -EADDRINUSE (%d): "
		      "SO_REUSEADDR lets two UDP sockets share a port",
		      bound.text, rc, -EADDRINUSE);
}
END_TEST

static Suite *netaddr_suite(void)
{
	Suite *s = suite_create("netaddr");
	TCase *tc;

	tc = tcase_create("parse");
	tcase_add_test(tc, test_parse_off);
	tcase_add_test(tc, test_parse_ipv4);
	tcase_add_test(tc, test_parse_localhost);
	tcase_add_test(tc, test_parse_ipv6);
	tcase_add_test(tc, test_parse_port_range);
	suite_add_tcase(s, tc);

	tc = tcase_create("canonical");
	tcase_add_test(tc, test_canonical_text);
	tcase_add_test(tc, test_format);
	suite_add_tcase(s, tc);

	tc = tcase_create("parse_errors");
	tcase_add_test(tc, test_parse_errors);
	tcase_add_test(tc, test_parse_error_reasons);
	suite_add_tcase(s, tc);

	tc = tcase_create("loopback");
	tcase_add_test(tc, test_is_loopback);
	suite_add_tcase(s, tc);

	tc = tcase_create("listen");
	tcase_add_test(tc, test_listen_tcp);
	tcase_add_test(tc, test_listen_udp);
	tcase_add_test(tc, test_listen_without_bound);
	suite_add_tcase(s, tc);

	tc = tcase_create("address_in_use");
	tcase_add_test(tc, test_listen_in_use_by_other);
	tcase_add_test(tc, test_listen_in_use_by_us_tcp);
	tcase_add_test(tc, test_listen_in_use_by_us_udp);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(netaddr_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

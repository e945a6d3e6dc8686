/* hs-load.c: load tool: replays a line-protocol file against historiand over HTTP (POST batches on N keep-alive
 * connections) or UDP (whole-line datagrams at a chosen rate) and prints throughput and latency. Not a test.
 *
 * The file is read into memory once and cut into batches (HTTP) or datagrams (UDP) of whole lines before the clock
 * starts; fields are counted while cutting, so "samples" means line-protocol fields, as the historian counts tags.
 * Blank and '#' comment lines travel with their neighbours but count as neither lines nor samples.
 *
 * HTTP: a minimal HTTP/1.1 client (Content-Length request bodies; Content-Length, chunked or close-delimited
 * answers; "Connection: close" honoured by reconnecting). Connection i sends batches i, i+N, i+2N... in order, so
 * the N connections move through the file's time range together, as N concurrent writers of live data would.
 * Nothing is retried. Threads: one per connection; they share only the read-only batches, an abort flag and the
 * first error (under a mutex). Each thread owns its connection and latency array; main merges them after join.
 *
 * Exit status: 0 every request answered 2xx; 1 some answer was not 2xx (the first error body is printed);
 * 2 bad usage, unreadable file, or the server could not be reached or spoke no HTTP. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define EXIT_NOT_2XX 1
#define EXIT_USAGE 2

#define RESP_BUF_BYTES 65536      /* per-connection read buffer */
#define HEADER_LINE_MAX 8192      /* longest status or header line accepted */
#define ERROR_BODY_MAX 4096       /* bytes of the first error body kept for the report */
#define UDP_MAX_PAYLOAD 65507

static void die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void errf(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void die(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("hs-load: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

static void errf(char *dst, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dst, cap, fmt, ap);
	va_end(ap);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_until_ns(uint64_t deadline)
{
	struct timespec ts = { .tv_sec = (time_t)(deadline / 1000000000u),
			       .tv_nsec = (long)(deadline % 1000000000u) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* --- input: the file and its cuts ------------------------------------------------------------------------------- */

struct cut {
	size_t off, len;          /* bytes of the file: whole lines */
	uint64_t lines, samples;  /* data lines and their fields */
};

struct input {
	char *data;
	size_t len;
	struct cut *cuts;
	size_t ncuts, cap;
	uint64_t lines, samples;
};

/* Read a whole regular file. 0 or -errno. */
static int input_read(struct input *in, const char *path)
{
	struct stat st;
	size_t got = 0;
	int fd = -1, rc = 0;

	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) != 0) {
		rc = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		goto out;
	}
	in->len = (size_t)st.st_size;
	in->data = malloc(in->len ? in->len : 1);
	if (!in->data) {
		rc = -ENOMEM;
		goto out;
	}
	while (got < in->len) {
		ssize_t n = read(fd, in->data + got, in->len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO; /* shrank under us */
			goto out;
		}
		got += (size_t)n;
	}
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Fields of one line (len excludes the '\n'); *data says whether it is a data line (not blank, not a comment).
 * Only the shape is read: escapes skip a byte, double quotes hide commas and spaces inside string fields. */
static uint64_t lp_line_fields(const char *s, size_t len, bool *data)
{
	size_t i = 0;
	uint64_t fields = 1;
	bool quoted = false;

	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
		i++;
	*data = i < len && s[i] != '#';
	if (!*data)
		return 0;
	for (; i < len; i++) { /* measurement and labels end at the first unescaped space */
		if (s[i] == '\\')
			i++;
		else if (s[i] == ' ')
			break;
	}
	if (i >= len)
		return 0; /* no field set: the server will say what it thinks of it */
	for (i++; i < len; i++) {
		char c = s[i];
		if (c == '\\')
			i++;
		else if (quoted)
			quoted = c != '"';
		else if (c == '"')
			quoted = true;
		else if (c == ',')
			fields++;
		else if (c == ' ')
			break;
	}
	return fields;
}

static void input_push(struct input *in, size_t off, size_t len, uint64_t lines, uint64_t samples)
{
	if (in->ncuts == in->cap) {
		in->cap = in->cap ? in->cap * 2 : 1024;
		in->cuts = realloc(in->cuts, in->cap * sizeof(*in->cuts));
		if (!in->cuts)
			die(EXIT_USAGE, "out of memory");
	}
	in->cuts[in->ncuts++] = (struct cut){ off, len, lines, samples };
}

/* Cut the file into runs of whole lines: at most max_lines data lines each (0: no limit) and at most max_bytes
 * (0: no limit). Trailing blank or comment lines join the last cut when they fit. 0, or -1 with err. */
static int input_split(struct input *in, uint64_t max_lines, size_t max_bytes, char *err, size_t errlen)
{
	size_t off = 0, start = 0;
	uint64_t lines = 0, samples = 0, line_no = 0;

	while (off < in->len) {
		const char *nl = memchr(in->data + off, '\n', in->len - off);
		size_t end = nl ? (size_t)(nl - in->data) + 1 : in->len;
		bool data;
		uint64_t f = lp_line_fields(in->data + off, end - off - (nl ? 1 : 0), &data);

		line_no++;
		if (max_bytes && end - off > max_bytes) {
			errf(err, errlen, "line %" PRIu64 " is %zu bytes, more than --datagram-bytes %zu",
			     line_no, end - off, max_bytes);
			return -1;
		}
		if (max_bytes && end - start > max_bytes) {
			input_push(in, start, off - start, lines, samples);
			start = off;
			lines = samples = 0;
		}
		off = end;
		lines += data;
		samples += f;
		in->lines += data;
		in->samples += f;
		if (max_lines && lines == max_lines) {
			input_push(in, start, off - start, lines, samples);
			start = off;
			lines = samples = 0;
		}
	}
	if (off > start) {
		struct cut *last = in->ncuts ? &in->cuts[in->ncuts - 1] : NULL;
		if (lines == 0 && last && (!max_bytes || last->len + off - start <= max_bytes))
			last->len += off - start;
		else
			input_push(in, start, off - start, lines, samples);
	}
	if (in->lines == 0) {
		errf(err, errlen, "no line-protocol lines in the file");
		return -1;
	}
	return 0;
}

/* --- options -------------------------------------------------------------------------------------------------- */

struct options {
	const char *mode;
	const char *url;
	const char *addr;
	const char *file;
	uint64_t connections;
	uint64_t batch;
	double timeout_s;
	double rate;
	uint64_t datagram_bytes;
};

static void usage(FILE *f)
{
	fputs("usage: hs-load http --url URL --file FILE [--connections N] [--batch LINES] [--timeout S]\n"
	      "       hs-load udp --addr HOST:PORT --file FILE [--rate LINES_PER_S] [--datagram-bytes N]\n"
	      "       hs-load --help\n"
	      "\n"
	      "Replays a line-protocol file (e.g. from scripts/plant-sim) against historiand and prints\n"
	      "throughput; ends with machine-readable 'RESULT name value unit' lines.\n"
	      "\n"
	      "http: POSTs the file in batches of whole lines over N keep-alive HTTP/1.1 connections, one\n"
	      "  thread each; connection i sends batches i, i+N, i+2N, ... in order. Nothing is retried.\n"
	      "  --url URL           http://HOST[:PORT]/PATH[?QUERY], e.g.\n"
	      "                      http://127.0.0.1:8080/write?precision=ns (https is not supported)\n"
	      "  --file FILE         the line-protocol file (read into memory before the clock starts)\n"
	      "  --connections N     connections and threads (default 4)\n"
	      "  --batch LINES       lines per request (default 5000)\n"
	      "  --timeout S         connect, send and answer timeout in seconds (default 60)\n"
	      "  Prints requests, lines/s, samples/s (fields), MB/s (request bodies, 10^6 bytes), answers\n"
	      "  by class (2xx, 4xx, 5xx) and per-request latency (send to end of answer) p50, p99, max.\n"
	      "  RESULT lines: http_lines_per_s, http_samples_per_s, http_mb_per_s, http_p50_ms, http_p99_ms,\n"
	      "  http_max_ms, http_requests, http_lines, http_samples (accepted with a 2xx answer),\n"
	      "  http_2xx, http_4xx, http_5xx, http_seconds.\n"
	      "\n"
	      "udp: sends the file as datagrams of whole lines.\n"
	      "  --addr HOST:PORT    destination, e.g. 127.0.0.1:8089 or [::1]:8089\n"
	      "  --file FILE         the line-protocol file\n"
	      "  --rate LINES_PER_S  pace to this many lines per second (default 0: as fast as possible)\n"
	      "  --datagram-bytes N  largest datagram (default 1400, at most 65507); a longer line is an error\n"
	      "  RESULT lines: udp_datagrams_per_s, udp_lines_per_s, udp_samples_sent_per_s, udp_mb_per_s,\n"
	      "  udp_datagrams, udp_lines, udp_samples, udp_seconds. UDP has no answers: 'sent' is all it knows.\n"
	      "\n"
	      "Blank and '#' comment lines are sent but count as neither lines nor samples.\n"
	      "Exit status: 0 done and every HTTP answer was 2xx; 1 an answer was not 2xx (the first error\n"
	      "body is printed); 2 bad usage, unreadable file, or the server could not be reached or did\n"
	      "not speak HTTP. See hs-load(1).\n",
	      f);
}

static uint64_t parse_u64(const char *opt, const char *v, uint64_t min, uint64_t max)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno || end == v || *end || v[0] == '-' || x < min || x > max)
		die(EXIT_USAGE, "%s %s: want an integer from %" PRIu64 " to %" PRIu64, opt, v, min, max);
	return x;
}

static double parse_double(const char *opt, const char *v)
{
	char *end;
	double x;

	errno = 0;
	x = strtod(v, &end);
	if (errno || end == v || *end || !(x >= 0) || x > 1e12)
		die(EXIT_USAGE, "%s %s: want a number >= 0", opt, v);
	return x;
}

static void parse_options(int argc, char **argv, struct options *o)
{
	*o = (struct options){ .connections = 4, .batch = 5000, .timeout_s = 60, .datagram_bytes = 1400 };
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = NULL, *eq;
		char name[64];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			exit(0);
		}
		if (strncmp(a, "--", 2) != 0) {
			if (o->mode)
				die(EXIT_USAGE, "unexpected argument '%s' (try --help)", a);
			o->mode = a;
			continue;
		}
		eq = strchr(a, '=');
		snprintf(name, sizeof(name), "%.*s", eq ? (int)(eq - a) : (int)strlen(a), a);
		if (eq)
			v = eq + 1;
		else if (i + 1 < argc)
			v = argv[++i];
		else
			die(EXIT_USAGE, "%s needs a value (try --help)", name);
		if (!strcmp(name, "--url"))
			o->url = v;
		else if (!strcmp(name, "--addr"))
			o->addr = v;
		else if (!strcmp(name, "--file"))
			o->file = v;
		else if (!strcmp(name, "--connections"))
			o->connections = parse_u64(name, v, 1, 4096);
		else if (!strcmp(name, "--batch"))
			o->batch = parse_u64(name, v, 1, UINT32_MAX);
		else if (!strcmp(name, "--timeout"))
			o->timeout_s = parse_double(name, v);
		else if (!strcmp(name, "--rate"))
			o->rate = parse_double(name, v);
		else if (!strcmp(name, "--datagram-bytes"))
			o->datagram_bytes = parse_u64(name, v, 16, UDP_MAX_PAYLOAD);
		else
			die(EXIT_USAGE, "unknown option %s (try --help)", name);
	}
	if (!o->mode)
		die(EXIT_USAGE, "missing mode: http or udp (try --help)");
	if (strcmp(o->mode, "http") && strcmp(o->mode, "udp"))
		die(EXIT_USAGE, "unknown mode '%s': http or udp (try --help)", o->mode);
	if (!o->file)
		die(EXIT_USAGE, "%s mode needs --file (try --help)", o->mode);
	if (!strcmp(o->mode, "http") && !o->url)
		die(EXIT_USAGE, "http mode needs --url (try --help)");
	if (!strcmp(o->mode, "udp") && !o->addr)
		die(EXIT_USAGE, "udp mode needs --addr (try --help)");
}

/* --- addresses ------------------------------------------------------------------------------------------------ */

struct target {
	char host[256];
	char port[8];
	char authority[300];      /* for the Host header */
	char path[2048];          /* path and query, from the URL */
	struct addrinfo *ai;
};

/* "HOST:PORT" or "[V6]:PORT" at s (n bytes) into t->host and t->port. 0 or -1. */
static int split_hostport(const char *s, size_t n, bool port_required, struct target *t)
{
	const char *colon = NULL, *host = s;
	size_t hlen;

	if (n && s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (!close)
			return -1;
		host = s + 1;
		hlen = (size_t)(close - s) - 1;
		if (close + 1 < s + n) {
			if (close[1] != ':')
				return -1;
			colon = close + 1;
		}
	} else {
		for (size_t i = 0; i < n; i++)
			if (s[i] == ':')
				colon = s + i;
		hlen = colon ? (size_t)(colon - s) : n;
		if (colon && memchr(s, ':', hlen))
			return -1; /* a bare IPv6 address: it needs brackets */
	}
	if (hlen == 0 || hlen >= sizeof(t->host))
		return -1;
	memcpy(t->host, host, hlen);
	t->host[hlen] = '\0';
	if (colon) {
		size_t plen = (size_t)(s + n - colon) - 1;
		unsigned long p = 0;
		if (plen == 0 || plen > 5)
			return -1;
		for (size_t i = 0; i < plen; i++) {
			if (colon[1 + i] < '0' || colon[1 + i] > '9')
				return -1;
			p = p * 10 + (unsigned long)(colon[1 + i] - '0');
		}
		if (p == 0 || p > 65535)
			return -1;
		snprintf(t->port, sizeof(t->port), "%lu", p);
	} else if (port_required) {
		return -1;
	} else {
		snprintf(t->port, sizeof(t->port), "80");
	}
	snprintf(t->authority, sizeof(t->authority), "%.*s", (int)n, s);
	return 0;
}

/* http://HOST[:PORT][/PATH][?QUERY]. 0, or -1 with err. */
static int url_parse(const char *url, struct target *t, char *err, size_t errlen)
{
	const char *p, *auth_end;

	if (strncasecmp(url, "https://", 8) == 0) {
		errf(err, errlen, "https is not supported: use http://");
		return -1;
	}
	if (strncasecmp(url, "http://", 7) != 0) {
		errf(err, errlen, "want http://HOST[:PORT]/PATH");
		return -1;
	}
	p = url + 7;
	auth_end = p + strcspn(p, "/?#");
	if (memchr(p, '@', (size_t)(auth_end - p))) {
		errf(err, errlen, "user names in URLs are not supported");
		return -1;
	}
	if (split_hostport(p, (size_t)(auth_end - p), false, t) != 0) {
		errf(err, errlen, "bad host or port");
		return -1;
	}
	if (strpbrk(auth_end, "# \t\r\n")) {
		errf(err, errlen, "fragments, spaces and line breaks have no place in the URL");
		return -1;
	}
	/* "http://host?q=1" asks for "/?q=1" */
	if ((size_t)snprintf(t->path, sizeof(t->path), "%s%s", *auth_end == '/' ? "" : "/", auth_end) >=
	    sizeof(t->path)) {
		errf(err, errlen, "the path is longer than %zu bytes", sizeof(t->path) - 1);
		return -1;
	}
	return 0;
}

static int resolve(struct target *t, int socktype, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = socktype };
	int rc = getaddrinfo(t->host, t->port, &hints, &t->ai);

	if (rc != 0) {
		errf(err, errlen, "%s: %s", t->host, gai_strerror(rc));
		return -1;
	}
	return 0;
}

static void set_timeouts(int fd, double timeout_s)
{
	struct timeval tv = { .tv_sec = (time_t)timeout_s,
			      .tv_usec = (long)((timeout_s - (double)(time_t)timeout_s) * 1e6) };

	/* 0 means no timeout to the kernel too. SO_SNDTIMEO also bounds connect() on Linux. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* --- HTTP/1.1 client ------------------------------------------------------------------------------------------ */

struct conn {
	int fd;
	char *buf; /* RESP_BUF_BYTES */
	size_t pos, len;
};

struct answer {
	int status;
	bool close;                  /* the server will close: reconnect before the next request */
	char body[ERROR_BODY_MAX];   /* the first bytes of the body */
	size_t body_len;
};

/* Connect to the first address that answers. 0, or -errno. */
static int conn_open(struct conn *c, const struct target *t, double timeout_s)
{
	int rc = -ECONNREFUSED, one = 1;

	c->pos = c->len = 0;
	for (const struct addrinfo *ai = t->ai; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd < 0) {
			rc = -errno;
			continue;
		}
		set_timeouts(fd, timeout_s);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			c->fd = fd;
			return 0;
		}
		rc = errno == EINPROGRESS || errno == EAGAIN ? -ETIMEDOUT : -errno;
		close(fd);
	}
	return rc;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->pos = c->len = 0;
}

/* Write both buffers whole: loops on short writes and EINTR. 0 or -errno. */
static int conn_send(struct conn *c, const char *head, size_t head_len, const char *body, size_t body_len)
{
	struct iovec iov[2] = { { (void *)head, head_len }, { (void *)body, body_len } };
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };

	while (msg.msg_iovlen) {
		ssize_t n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
		}
		while (msg.msg_iovlen && (size_t)n >= msg.msg_iov[0].iov_len) {
			n -= (ssize_t)msg.msg_iov[0].iov_len;
			msg.msg_iov++;
			msg.msg_iovlen--;
		}
		if (msg.msg_iovlen) {
			msg.msg_iov[0].iov_base = (char *)msg.msg_iov[0].iov_base + n;
			msg.msg_iov[0].iov_len -= (size_t)n;
		}
	}
	return 0;
}

/* Refill the buffer. >0 bytes, 0 at EOF, -errno. */
static ssize_t conn_fill(struct conn *c)
{
	ssize_t n;

	if (c->pos == c->len)
		c->pos = c->len = 0;
	if (c->len == RESP_BUF_BYTES) { /* only a line may sit in it: slide it down */
		memmove(c->buf, c->buf + c->pos, c->len - c->pos);
		c->len -= c->pos;
		c->pos = 0;
		if (c->len == RESP_BUF_BYTES)
			return -E2BIG;
	}
	do
		n = recv(c->fd, c->buf + c->len, RESP_BUF_BYTES - c->len, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
	c->len += (size_t)n;
	return n;
}

/* The next line without its "\r\n" or "\n", NUL-terminated in place. 0, -EPROTO for EOF or an overlong line,
 * -errno. */
static int conn_line(struct conn *c, char **line)
{
	for (;;) {
		char *nl = memchr(c->buf + c->pos, '\n', c->len - c->pos);
		if (nl) {
			*line = c->buf + c->pos;
			c->pos = (size_t)(nl - c->buf) + 1;
			if (nl > *line && nl[-1] == '\r')
				nl--;
			*nl = '\0';
			return 0;
		}
		if (c->len - c->pos >= HEADER_LINE_MAX)
			return -EPROTO;
		ssize_t n = conn_fill(c);
		if (n <= 0)
			return n == 0 ? -EPROTO : (int)n;
	}
}

/* Consume n body bytes (n == SIZE_MAX: until EOF), keeping the first ones in a. 0 or negative. */
static int conn_body(struct conn *c, size_t n, struct answer *a)
{
	while (n) {
		if (c->pos == c->len) {
			ssize_t r = conn_fill(c);
			if (r == 0 && n == SIZE_MAX)
				return 0;
			if (r <= 0)
				return r == 0 ? -EPROTO : (int)r;
		}
		size_t take = c->len - c->pos < n ? c->len - c->pos : n;
		size_t keep = sizeof(a->body) - a->body_len < take ? sizeof(a->body) - a->body_len : take;
		memcpy(a->body + a->body_len, c->buf + c->pos, keep);
		a->body_len += keep;
		c->pos += take;
		if (n != SIZE_MAX)
			n -= take;
	}
	return 0;
}

static int conn_chunked(struct conn *c, struct answer *a)
{
	char *line, *end;
	int rc;

	for (;;) {
		if ((rc = conn_line(c, &line)) != 0)
			return rc;
		errno = 0;
		unsigned long long size = strtoull(line, &end, 16);
		if (end == line || errno || (*end && *end != ';' && *end != ' ' && *end != '\t'))
			return -EPROTO;
		if (size == 0)
			break;
		if ((rc = conn_body(c, (size_t)size, a)) != 0)
			return rc;
		if ((rc = conn_line(c, &line)) != 0)
			return rc;
		if (*line)
			return -EPROTO;
	}
	do /* trailers, up to the empty line */
		if ((rc = conn_line(c, &line)) != 0)
			return rc;
	while (*line);
	return 0;
}

/* Whether the comma-separated header value v holds tok (case-insensitive). */
static bool header_has_token(const char *v, const char *tok)
{
	size_t n = strlen(tok);

	while (*v) {
		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		size_t len = strcspn(v, ",");
		while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
			len--;
		if (len == n && !strncasecmp(v, tok, n))
			return true;
		v += strcspn(v, ",");
	}
	return false;
}

/* Header lines up to the empty one: what framing and connection handling need. 0 or negative. */
static int conn_headers(struct conn *c, size_t *clen, bool *chunked, bool *closing, bool *keep_alive)
{
	char *line, *colon, *v, *end;
	int rc;

	for (;;) {
		if ((rc = conn_line(c, &line)) != 0)
			return rc;
		if (!*line)
			return 0;
		if (!(colon = strchr(line, ':')))
			return -EPROTO;
		*colon = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		if (!strcasecmp(line, "content-length")) {
			errno = 0;
			unsigned long long n = strtoull(v, &end, 10);
			if (end == v || errno || *v == '-' || (*end && *end != ' ' && *end != '\t') || n >= SIZE_MAX)
				return -EPROTO;
			*clen = (size_t)n;
		} else if (!strcasecmp(line, "transfer-encoding")) {
			*chunked = header_has_token(v, "chunked");
		} else if (!strcasecmp(line, "connection")) {
			*closing = *closing || header_has_token(v, "close");
			*keep_alive = *keep_alive || header_has_token(v, "keep-alive");
		}
	}
}

/* Read one answer (skipping 1xx interim ones). 0, or negative: -EPROTO for something that is not HTTP. */
static int conn_answer(struct conn *c, struct answer *a)
{
	char *line;
	int rc;

	for (;;) {
		size_t clen = SIZE_MAX;
		bool chunked = false, keep_alive = false;

		a->close = false;
		a->body_len = 0;
		if ((rc = conn_line(c, &line)) != 0)
			return rc;
		if (strncmp(line, "HTTP/1.", 7) != 0 || line[7] < '0' || line[7] > '9' || line[8] != ' ' ||
		    sscanf(line + 9, "%3d", &a->status) != 1 || a->status < 100 || a->status > 999)
			return -EPROTO;
		bool http10 = line[7] == '0';
		if ((rc = conn_headers(c, &clen, &chunked, &a->close, &keep_alive)) != 0)
			return rc;
		if (http10 && !keep_alive)
			a->close = true;
		if (a->status < 200)
			continue; /* 100 Continue and friends: the real answer follows */
		if (a->status == 204 || a->status == 304)
			return 0;
		if (chunked)
			return conn_chunked(c, a);
		if (clen == SIZE_MAX)
			a->close = true; /* the body ends when the server closes */
		return conn_body(c, clen, a);
	}
}

/* --- HTTP mode ------------------------------------------------------------------------------------------------ */

struct http_run {
	const struct input *in;
	const struct target *t;
	const struct options *o;
	size_t nworkers;
	_Atomic bool abort;              /* a transport error: everyone stops after the request in hand */
	pthread_mutex_t mu;              /* guards the first_* fields */
	int first_status;                /* 0 until a non-2xx answer arrived */
	size_t first_batch;
	struct answer first;
	char first_transport[512];       /* "" until a transport error */
};

struct worker {
	struct http_run *run;
	size_t index;
	struct conn conn;
	uint64_t *lat_ns;
	size_t nlat;
	uint64_t by_class[6];            /* answers by status / 100; [0] unused */
	uint64_t lines_ok, samples_ok, bytes;
	pthread_t tid;
};

static void http_transport_error(struct worker *w, size_t batch, const char *what, int rc)
{
	struct http_run *r = w->run;

	pthread_mutex_lock(&r->mu);
	if (!r->first_transport[0])
		errf(r->first_transport, sizeof(r->first_transport), "connection %zu, batch %zu: %s: %s",
		     w->index + 1, batch + 1, what, rc == -EPROTO ? "the answer is not HTTP/1.x" : strerror(-rc));
	pthread_mutex_unlock(&r->mu);
	atomic_store(&r->abort, true);
}

/* One request: send the batch, read the answer, record its latency and class. 0 or -1 (transport error). */
static int http_one(struct worker *w, size_t b, struct answer *a)
{
	struct http_run *r = w->run;
	const struct cut *cut = &r->in->cuts[b];
	char head[1024];
	uint64_t t0;
	int n, rc;

	if (w->conn.fd < 0 && (rc = conn_open(&w->conn, r->t, r->o->timeout_s)) != 0) {
		http_transport_error(w, b, "reconnect", rc);
		return -1;
	}
	n = snprintf(head, sizeof(head),
		     "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: hs-load\r\n"
		     "Content-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\n\r\n",
		     r->t->path, r->t->authority, cut->len);
	if (n < 0 || (size_t)n >= sizeof(head)) {
		http_transport_error(w, b, "request head", -ENAMETOOLONG);
		return -1;
	}
	t0 = mono_ns();
	if ((rc = conn_send(&w->conn, head, (size_t)n, r->in->data + cut->off, cut->len)) != 0) {
		http_transport_error(w, b, "send", rc);
		return -1;
	}
	if ((rc = conn_answer(&w->conn, a)) != 0) {
		http_transport_error(w, b, "answer", rc);
		return -1;
	}
	w->lat_ns[w->nlat++] = mono_ns() - t0;
	w->bytes += cut->len;
	w->by_class[a->status / 100 <= 5 ? a->status / 100 : 0]++;
	if (a->status / 100 == 2) {
		w->lines_ok += cut->lines;
		w->samples_ok += cut->samples;
	} else {
		pthread_mutex_lock(&r->mu);
		if (!r->first_status) {
			r->first_status = a->status;
			r->first_batch = b;
			r->first = *a;
		}
		pthread_mutex_unlock(&r->mu);
	}
	if (a->close)
		conn_close(&w->conn);
	return 0;
}

static void *http_worker(void *arg)
{
	struct worker *w = arg;
	struct http_run *r = w->run;
	struct answer *a = malloc(sizeof(*a));

	if (!a) {
		http_transport_error(w, w->index, "memory", -ENOMEM);
		return NULL;
	}
	for (size_t b = w->index; b < r->in->ncuts; b += r->nworkers) {
		if (atomic_load(&r->abort) || http_one(w, b, a) != 0)
			break;
	}
	free(a);
	return NULL;
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

/* Nearest-rank percentile of sorted v. */
static double pct_ms(const uint64_t *v, size_t n, double p)
{
	size_t rank;

	if (!n)
		return 0;
	rank = (size_t)(p / 100.0 * (double)n + 0.999999999);
	rank = rank < 1 ? 1 : (rank > n ? n : rank);
	return (double)v[rank - 1] / 1e6;
}

static void print_error_body(const struct http_run *r)
{
	const struct answer *a = &r->first;

	fprintf(stderr, "hs-load: batch %zu answered %d; the first error body%s:\n", r->first_batch + 1,
		r->first_status, a->body_len == sizeof(a->body) ? " (cut)" : "");
	fwrite(a->body, 1, a->body_len, stderr);
	if (!a->body_len || a->body[a->body_len - 1] != '\n')
		fputc('\n', stderr);
}

static int http_report(struct http_run *r, struct worker *ws, double secs)
{
	uint64_t cls[6] = { 0 }, lines = 0, samples = 0, bytes = 0, *lat;
	size_t nlat = 0, k = 0;

	for (size_t i = 0; i < r->nworkers; i++) {
		for (int c = 0; c < 6; c++)
			cls[c] += ws[i].by_class[c];
		lines += ws[i].lines_ok;
		samples += ws[i].samples_ok;
		bytes += ws[i].bytes;
		nlat += ws[i].nlat;
	}
	lat = malloc((nlat ? nlat : 1) * sizeof(*lat));
	if (!lat)
		die(EXIT_USAGE, "out of memory");
	for (size_t i = 0; i < r->nworkers; i++) {
		memcpy(lat + k, ws[i].lat_ns, ws[i].nlat * sizeof(*lat));
		k += ws[i].nlat;
	}
	qsort(lat, nlat, sizeof(*lat), cmp_u64);
	if (secs <= 0)
		secs = 1e-9;
	printf("hs-load http: %s, %zu connections, %zu requests of up to %" PRIu64 " lines\n", r->o->url,
	       r->nworkers, nlat, r->o->batch);
	printf("  accepted %" PRIu64 " of %" PRIu64 " lines, %" PRIu64 " samples, %.1f MB sent in %.3f s\n", lines,
	       r->in->lines, samples, (double)bytes / 1e6, secs);
	printf("  %.0f lines/s, %.0f samples/s, %.1f MB/s\n", (double)lines / secs, (double)samples / secs,
	       (double)bytes / 1e6 / secs);
	printf("  answers: %" PRIu64 " 2xx, %" PRIu64 " 4xx, %" PRIu64 " 5xx, %" PRIu64 " other\n", cls[2], cls[4],
	       cls[5], cls[0] + cls[1] + cls[3]);
	printf("  latency per request: p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", pct_ms(lat, nlat, 50),
	       pct_ms(lat, nlat, 99), nlat ? (double)lat[nlat - 1] / 1e6 : 0.0);
	printf("RESULT http_lines_per_s %.0f lines/s\n", (double)lines / secs);
	printf("RESULT http_samples_per_s %.0f samples/s\n", (double)samples / secs);
	printf("RESULT http_mb_per_s %.2f MB/s\n", (double)bytes / 1e6 / secs);
	printf("RESULT http_p50_ms %.3f ms\n", pct_ms(lat, nlat, 50));
	printf("RESULT http_p99_ms %.3f ms\n", pct_ms(lat, nlat, 99));
	printf("RESULT http_max_ms %.3f ms\n", nlat ? (double)lat[nlat - 1] / 1e6 : 0.0);
	printf("RESULT http_requests %zu requests\n", nlat);
	printf("RESULT http_lines %" PRIu64 " lines\n", lines);
	printf("RESULT http_samples %" PRIu64 " samples\n", samples);
	printf("RESULT http_2xx %" PRIu64 " answers\n", cls[2]);
	printf("RESULT http_4xx %" PRIu64 " answers\n", cls[4]);
	printf("RESULT http_5xx %" PRIu64 " answers\n", cls[5]);
	printf("RESULT http_seconds %.3f s\n", secs);
	fflush(stdout);
	free(lat);
	if (r->first_transport[0]) {
		fprintf(stderr, "hs-load: %s\n", r->first_transport);
		return EXIT_USAGE;
	}
	if (r->first_status) {
		print_error_body(r);
		return EXIT_NOT_2XX;
	}
	return 0;
}

static int http_main(const struct options *o, struct input *in)
{
	struct target t = { 0 };
	struct http_run r = { .in = in, .t = &t, .o = o };
	struct worker *ws;
	char err[512];
	uint64_t t0;
	double secs;
	int rc;

	if (url_parse(o->url, &t, err, sizeof(err)) != 0)
		die(EXIT_USAGE, "--url %s: %s", o->url, err);
	if (input_split(in, o->batch, 0, err, sizeof(err)) != 0)
		die(EXIT_USAGE, "%s: %s", o->file, err);
	if (resolve(&t, SOCK_STREAM, err, sizeof(err)) != 0)
		die(EXIT_USAGE, "--url %s: %s", o->url, err);
	r.nworkers = o->connections < in->ncuts ? (size_t)o->connections : in->ncuts;
	pthread_mutex_init(&r.mu, NULL);
	ws = calloc(r.nworkers, sizeof(*ws));
	if (!ws)
		die(EXIT_USAGE, "out of memory");
	/* Connect everything first, so a refused connection is an error before any data moves and connection
	 * setup is not in the figures. */
	for (size_t i = 0; i < r.nworkers; i++) {
		struct worker *w = &ws[i];
		*w = (struct worker){ .run = &r, .index = i, .conn = { .fd = -1 } };
		w->conn.buf = malloc(RESP_BUF_BYTES);
		w->lat_ns = malloc((in->ncuts / r.nworkers + 1) * sizeof(*w->lat_ns));
		if (!w->conn.buf || !w->lat_ns)
			die(EXIT_USAGE, "out of memory");
		if ((rc = conn_open(&w->conn, &t, o->timeout_s)) != 0)
			die(EXIT_USAGE, "connect to %s: %s", t.authority, strerror(-rc));
	}
	t0 = mono_ns();
	for (size_t i = 0; i < r.nworkers; i++) {
		if ((rc = pthread_create(&ws[i].tid, NULL, http_worker, &ws[i])) != 0)
			die(EXIT_USAGE, "pthread_create: %s", strerror(rc));
	}
	for (size_t i = 0; i < r.nworkers; i++)
		pthread_join(ws[i].tid, NULL);
	secs = (double)(mono_ns() - t0) / 1e9;
	rc = http_report(&r, ws, secs);
	for (size_t i = 0; i < r.nworkers; i++) {
		conn_close(&ws[i].conn);
		free(ws[i].conn.buf);
		free(ws[i].lat_ns);
	}
	free(ws);
	pthread_mutex_destroy(&r.mu);
	freeaddrinfo(t.ai);
	return rc;
}

/* --- UDP mode ------------------------------------------------------------------------------------------------- */

/* Send one datagram; waits out a full socket buffer. 0 or -errno. */
static int udp_send(int fd, const char *p, size_t len)
{
	for (;;) {
		ssize_t n = send(fd, p, len, 0);
		if (n >= 0)
			return (size_t)n == len ? 0 : -EMSGSIZE;
		if (errno == EINTR)
			continue;
		if (errno != ENOBUFS && errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		sleep_until_ns(mono_ns() + 100000); /* the kernel is short of buffers: let it drain */
	}
}

struct udp_totals {
	size_t datagrams;
	uint64_t lines, samples, bytes;
};

/* A UDP socket connected to the first address that takes it; exits on failure. The kernel reports ICMP port
 * unreachable on a connected socket as ECONNREFUSED on a later send, so "nothing listens" shows. */
static int udp_open(const struct target *t, const char *addr)
{
	int fd = -1, err = 0;

	for (const struct addrinfo *ai = t->ai; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd < 0) {
			err = errno;
		} else if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
			err = errno;
			close(fd);
			fd = -1;
		}
	}
	if (fd < 0)
		die(EXIT_USAGE, "--addr %s: %s", addr, strerror(err));
	return fd;
}

static void udp_report(const struct options *o, const struct udp_totals *u, double secs)
{
	if (secs <= 0)
		secs = 1e-9;
	printf("hs-load udp: %s, datagrams of up to %" PRIu64 " bytes, rate %s\n", o->addr, o->datagram_bytes,
	       o->rate > 0 ? "limited" : "unlimited");
	printf("  sent %zu datagrams, %" PRIu64 " lines, %" PRIu64 " samples, %.1f MB in %.3f s\n", u->datagrams,
	       u->lines, u->samples, (double)u->bytes / 1e6, secs);
	printf("  %.0f datagrams/s, %.0f lines/s, %.0f samples/s, %.1f MB/s\n", (double)u->datagrams / secs,
	       (double)u->lines / secs, (double)u->samples / secs, (double)u->bytes / 1e6 / secs);
	printf("RESULT udp_datagrams_per_s %.0f datagrams/s\n", (double)u->datagrams / secs);
	printf("RESULT udp_lines_per_s %.0f lines/s\n", (double)u->lines / secs);
	printf("RESULT udp_samples_sent_per_s %.0f samples/s\n", (double)u->samples / secs);
	printf("RESULT udp_mb_per_s %.2f MB/s\n", (double)u->bytes / 1e6 / secs);
	printf("RESULT udp_datagrams %zu datagrams\n", u->datagrams);
	printf("RESULT udp_lines %" PRIu64 " lines\n", u->lines);
	printf("RESULT udp_samples %" PRIu64 " samples\n", u->samples);
	printf("RESULT udp_seconds %.3f s\n", secs);
	fflush(stdout);
}

static int udp_main(const struct options *o, struct input *in)
{
	struct target t = { 0 };
	struct udp_totals u = { 0 };
	char err[512];
	uint64_t t0;
	int fd, rc = 0;

	if (split_hostport(o->addr, strlen(o->addr), true, &t) != 0)
		die(EXIT_USAGE, "--addr %s: want HOST:PORT or [IPV6]:PORT", o->addr);
	if (input_split(in, 0, (size_t)o->datagram_bytes, err, sizeof(err)) != 0)
		die(EXIT_USAGE, "%s: %s", o->file, err);
	if (resolve(&t, SOCK_DGRAM, err, sizeof(err)) != 0)
		die(EXIT_USAGE, "--addr %s: %s", o->addr, err);
	fd = udp_open(&t, o->addr);
	t0 = mono_ns();
	for (; u.datagrams < in->ncuts; u.datagrams++) {
		const struct cut *c = &in->cuts[u.datagrams];
		if (o->rate > 0) /* datagram k leaves once the lines before it have had their time */
			sleep_until_ns(t0 + (uint64_t)((double)u.lines / o->rate * 1e9));
		if ((rc = udp_send(fd, in->data + c->off, c->len)) != 0)
			break;
		u.lines += c->lines;
		u.samples += c->samples;
		u.bytes += c->len;
	}
	udp_report(o, &u, (double)(mono_ns() - t0) / 1e9);
	close(fd);
	freeaddrinfo(t.ai);
	if (rc != 0) {
		fprintf(stderr, "hs-load: send to %s, datagram %zu: %s%s\n", o->addr, u.datagrams + 1, strerror(-rc),
			rc == -ECONNREFUSED ? " (is anything listening?)" : "");
		return EXIT_USAGE;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct options o;
	struct input in = { 0 };
	int rc;

	parse_options(argc, argv, &o);
	if ((rc = input_read(&in, o.file)) != 0)
		die(EXIT_USAGE, "--file %s: %s", o.file, rc == -EINVAL ? "not a regular file" : strerror(-rc));
	rc = !strcmp(o.mode, "http") ? http_main(&o, &in) : udp_main(&o, &in);
	free(in.cuts);
	free(in.data);
	return rc;
}

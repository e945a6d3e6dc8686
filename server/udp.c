/* udp.c: the UDP listener behind udp.h: recvmmsg in batches, one ingest batch per receive burst, drop counters.
 * Runs on the event-loop thread only, so it never blocks: when storage is behind, the burst is dropped and counted
 * (UDP senders cannot be slowed down, and memory must not grow). Kernel drops come from SO_RXQ_OVFL. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/hs_error.h"
#include "lib/log.h"
#include "server/udp.h"

#define UDP_BATCH 64             /* datagrams per recvmmsg */
#define UDP_DATAGRAM_MAX 65536

struct udp_listener {
	int fd;
	struct net_addr bound;
	struct ingest *ing;
	char *bufs;                  /* UDP_BATCH x UDP_DATAGRAM_MAX */
	char *joined;                /* the burst's datagrams, newline-joined */
	struct mmsghdr msgs[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	char cmsg[UDP_BATCH][CMSG_SPACE(sizeof(uint32_t))];
	uint32_t last_ovfl;          /* SO_RXQ_OVFL counts up; we add the differences */
	uint64_t last_log_ns;        /* rate limit for error logs */
	_Atomic uint64_t datagrams, bytes, samples, bad_lines, dropped_busy, kernel_drops;
	uint64_t rcvbuf;
};

static void note_overflow(struct udp_listener *u, struct msghdr *mh)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
			uint32_t count;
			memcpy(&count, CMSG_DATA(c), sizeof count);
			if (count != u->last_ovfl)
				atomic_fetch_add(&u->kernel_drops, (uint32_t)(count - u->last_ovfl));
			u->last_ovfl = count;
		}
	}
}

static void on_done(void *arg, int status)
{
	(void)arg;
	(void)status; /* best effort: a failed commit is visible in the WAL counters */
}

/* Parse and submit one burst of n datagrams. */
static void take_burst(struct udp_listener *u, int n)
{
	struct ingest_report *rep = malloc(sizeof *rep);
	struct ingest_batch *batch = NULL;
	size_t len = 0;
	int rc;

	for (int i = 0; i < n; i++) {
		memcpy(u->joined + len, u->iov[i].iov_base, u->msgs[i].msg_len);
		len += u->msgs[i].msg_len;
		u->joined[len++] = '\n'; /* a datagram holds whole lines */
		atomic_fetch_add(&u->bytes, u->msgs[i].msg_len);
		note_overflow(u, &u->msgs[i].msg_hdr);
	}
	atomic_fetch_add(&u->datagrams, (uint64_t)n);
	if (!rep)
		return;
	rc = ingest_parse_lp(u->ing, u->joined, len, LP_PRECISION_NS, clock_real_ns(), &batch, rep);
	atomic_fetch_add(&u->bad_lines, rep->bad_lines);
	if (rep->nerrors && clock_mono_ns() - u->last_log_ns > 10000000000ull) {
		u->last_log_ns = clock_mono_ns();
		log_warn("udp", "refused %zu lines in a burst of %d datagrams; first: %s (logged at most "
				"every 10 s)", rep->bad_lines, n, rep->errors[0].message);
	}
	if (rc == 0 && batch) {
		size_t samples = ingest_batch_samples(batch);
		rc = ingest_submit_nowait(u->ing, batch, on_done, NULL);
		atomic_fetch_add(rc == 0 ? &u->samples : &u->dropped_busy, samples);
	}
	free(rep);
}

static void on_readable(void *arg, int fd, uint32_t events)
{
	struct udp_listener *u = arg;
	int n;

	(void)events;
	for (int rounds = 0; rounds < 16; rounds++) { /* bounded: let other sockets run */
		for (int i = 0; i < UDP_BATCH; i++) {
			u->msgs[i].msg_hdr.msg_control = u->cmsg[i];
			u->msgs[i].msg_hdr.msg_controllen = sizeof u->cmsg[i];
		}
		n = recvmmsg(fd, u->msgs, UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		take_burst(u, n);
	}
}

static size_t set_rcvbuf(int fd, size_t want)
{
	int v = want > INT32_MAX / 2 ? INT32_MAX / 2 : (int)want, got = 0;
	socklen_t len = sizeof got;

	/* SO_RCVBUFFORCE passes net.core.rmem_max when we may (root, or
	 * CAP_NET_ADMIN); otherwise the kernel caps SO_RCVBUF. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof v) != 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
	getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len);
	return (size_t)got / 2; /* the kernel doubles it for bookkeeping */
}

int udp_listener_new(const struct udp_options *opts, struct ingest *ing, struct evloop *loop,
		     struct udp_listener **out, char *err)
{
	struct udp_listener *u = calloc(1, sizeof *u);
	int one = 1, rc;

	*out = NULL;
	if (!u || !(u->bufs = malloc((size_t)UDP_BATCH * UDP_DATAGRAM_MAX)) ||
	    !(u->joined = malloc((size_t)UDP_BATCH * (UDP_DATAGRAM_MAX + 1)))) {
		rc = -ENOMEM;
		snprintf(err, 512, "udp: out of memory");
		goto fail;
	}
	u->fd = -1;
	u->ing = ing;
	rc = net_listen(&opts->listen, SOCK_DGRAM, 0, &u->fd, &u->bound);
	if (rc != 0) {
		snprintf(err, 512, "udp: cannot listen on %s: %s", opts->listen.text, hs_strerror(rc));
		goto fail;
	}
	u->rcvbuf = set_rcvbuf(u->fd, opts->rcvbuf_bytes ? opts->rcvbuf_bytes : 8u << 20);
	if (setsockopt(u->fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one) != 0)
		log_warn("udp", "SO_RXQ_OVFL unavailable: kernel drops will not be counted");
	for (int i = 0; i < UDP_BATCH; i++) {
		u->iov[i] = (struct iovec){u->bufs + (size_t)i * UDP_DATAGRAM_MAX, UDP_DATAGRAM_MAX};
		u->msgs[i].msg_hdr.msg_iov = &u->iov[i];
		u->msgs[i].msg_hdr.msg_iovlen = 1;
	}
	rc = evloop_add(loop, u->fd, on_readable, u);
	if (rc != 0) {
		snprintf(err, 512, "udp: cannot watch the socket: %s", hs_strerror(rc));
		goto fail;
	}
	*out = u;
	return 0;
fail:
	udp_listener_free(u);
	return rc;
}

const char *udp_listener_address(const struct udp_listener *u)
{
	return u->bound.text;
}

void udp_listener_free(struct udp_listener *u)
{
	if (!u)
		return;
	if (u->fd >= 0)
		close(u->fd);
	free(u->bufs);
	free(u->joined);
	free(u);
}

void udp_listener_stats(const struct udp_listener *u, struct udp_stats *out)
{
	struct udp_listener *m = (struct udp_listener *)u;
	out->datagrams = atomic_load(&m->datagrams);
	out->bytes = atomic_load(&m->bytes);
	out->samples = atomic_load(&m->samples);
	out->bad_lines = atomic_load(&m->bad_lines);
	out->dropped_busy = atomic_load(&m->dropped_busy);
	out->kernel_drops = atomic_load(&m->kernel_drops);
	out->rcvbuf_bytes = u->rcvbuf;
}

/* evloop.h: the event-loop thread for the daemon's own sockets (UDP today, MQTT next): epoll, callbacks, stop.
 * Owns the thread and the epoll instance; each registered socket stays owned by whoever registered it. */
#ifndef HS_EVLOOP_H
#define HS_EVLOOP_H

#include <stdint.h>

struct evloop;

/* Called on the loop thread when fd is readable (events: EPOLL* bits). */
typedef void (*evloop_fn)(void *arg, int fd, uint32_t events);

int evloop_new(struct evloop **out) __attribute__((warn_unused_result));

/* Watch fd for input. Call before evloop_start() or from the loop thread.
 * 0 or -errno. */
int evloop_add(struct evloop *loop, int fd, evloop_fn fn, void *arg)
	__attribute__((warn_unused_result));

/* A watch owned by the caller (one per connection, any number of them):
 * fill fd, fn and arg, then add it. fn gets the EPOLL* bits that fired. */
struct evloop_watch {
	int fd;
	evloop_fn fn;
	void *arg;
};

/* Watch w->fd for events (EPOLLIN, EPOLLOUT, ...; level-triggered), change
 * them, stop watching. From the loop thread (or before evloop_start()).
 * 0 or -errno. After evloop_watch_del() returns, fn is not called for w
 * again, even for events already collected in the same round. */
int evloop_watch_add(struct evloop *loop, struct evloop_watch *w, uint32_t events)
	__attribute__((warn_unused_result));
int evloop_watch_mod(struct evloop *loop, struct evloop_watch *w, uint32_t events)
	__attribute__((warn_unused_result));
void evloop_watch_del(struct evloop *loop, struct evloop_watch *w);

/* Work handed to the loop thread from another one (a WAL completion, say).
 * The caller owns the task; it must stay valid until fn runs. */
struct evloop_task {
	void (*fn)(void *arg);
	void *arg;
	struct evloop_task *next; /* the loop's */
};

/* Queue t to run on the loop thread, in posting order. Any thread; never
 * blocks beyond a short mutex. Tasks still queued at evloop_stop() run
 * before it returns. */
void evloop_post(struct evloop *loop, struct evloop_task *t);

/* After evloop_stop(): run the tasks posted since, on the calling thread
 * (an owner's last answers, so their memory is freed). */
void evloop_run_posted(struct evloop *loop);

/* Call fn(arg) on the loop thread about every interval_ms (keepalive
 * checks). One tick function per loop; before evloop_start(). */
void evloop_tick(struct evloop *loop, void (*fn)(void *arg), void *arg, unsigned interval_ms);

/* Run the loop on a thread of its own. 0 or -errno. */
int evloop_start(struct evloop *loop) __attribute__((warn_unused_result));

/* Stop the loop and join its thread (callbacks in progress finish). Any
 * thread but the loop's; then free with evloop_free(). */
void evloop_stop(struct evloop *loop);
void evloop_free(struct evloop *loop);

#endif

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

/* Run the loop on a thread of its own. 0 or -errno. */
int evloop_start(struct evloop *loop) __attribute__((warn_unused_result));

/* Stop the loop and join its thread (callbacks in progress finish). Any
 * thread but the loop's; then free with evloop_free(). */
void evloop_stop(struct evloop *loop);
void evloop_free(struct evloop *loop);

#endif

/* evloop.c: the epoll loop behind evloop.h; an eventfd wakes it to stop.
 * Concurrency: registrations happen before start (or on the loop thread); stop sets a flag and writes the eventfd. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "lib/hs_error.h"
#include "lib/log.h"
#include "server/evloop.h"

#define EVLOOP_MAX_WATCHES 64

struct watch {
	int fd;
	evloop_fn fn;
	void *arg;
};

struct evloop {
	int epfd;
	int wakefd;
	pthread_t thread;
	bool running;
	_Atomic bool stopping;
	struct watch watches[EVLOOP_MAX_WATCHES];
	unsigned nwatches;
};

int evloop_new(struct evloop **out)
{
	struct evloop *loop = calloc(1, sizeof *loop);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	int rc;

	*out = NULL;
	if (!loop)
		return -ENOMEM;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	loop->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->epfd < 0 || loop->wakefd < 0 ||
	    epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wakefd, &ev) != 0) {
		rc = -errno;
		evloop_free(loop);
		return rc;
	}
	*out = loop;
	return 0;
}

int evloop_add(struct evloop *loop, int fd, evloop_fn fn, void *arg)
{
	struct watch *w;
	struct epoll_event ev = {.events = EPOLLIN};

	if (loop->nwatches == EVLOOP_MAX_WATCHES)
		return -ENOSPC;
	w = &loop->watches[loop->nwatches];
	*w = (struct watch){fd, fn, arg};
	ev.data.ptr = w;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
		return -errno;
	loop->nwatches++;
	return 0;
}

static void *loop_main(void *arg)
{
	struct evloop *loop = arg;
	struct epoll_event events[32];

	while (!atomic_load(&loop->stopping)) {
		int n = epoll_wait(loop->epfd, events, 32, 1000);
		if (n < 0 && errno != EINTR) {
			log_error("evloop", "epoll_wait: %s", hs_strerror(-errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			struct watch *w = events[i].data.ptr;
			if (w)
				w->fn(w->arg, w->fd, events[i].events);
		}
	}
	return NULL;
}

int evloop_start(struct evloop *loop)
{
	int rc = pthread_create(&loop->thread, NULL, loop_main, loop);
	if (rc != 0)
		return -rc;
	loop->running = true;
	return 0;
}

void evloop_stop(struct evloop *loop)
{
	uint64_t one = 1;

	if (!loop || !loop->running)
		return;
	atomic_store(&loop->stopping, true);
	if (write(loop->wakefd, &one, sizeof one) < 0)
		log_warn("evloop", "cannot wake the loop; it stops within a second");
	pthread_join(loop->thread, NULL);
	loop->running = false;
}

void evloop_free(struct evloop *loop)
{
	if (!loop)
		return;
	evloop_stop(loop);
	if (loop->epfd >= 0)
		close(loop->epfd);
	if (loop->wakefd >= 0)
		close(loop->wakefd);
	free(loop);
}

/* evloop.c: the epoll loop behind evloop.h; an eventfd wakes it to stop or to run posted tasks.
 * Concurrency: registrations happen before start (or on the loop thread); posts take a mutex and write the eventfd. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "lib/hs_error.h"
#include "lib/log.h"
#include "lib/vec.h"
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
	/* posted tasks, oldest first */
	pthread_mutex_t post_lock;
	struct evloop_task *head, *tail;
	/* the tick */
	void (*tick_fn)(void *arg);
	void *tick_arg;
	unsigned tick_ms;
	uint64_t next_tick_ms;
	/* evloop_watch_del during a round: events collected for it are void */
	struct evloop_watch **deleted;
	size_t ndeleted, cap_deleted;
	bool in_round;
	bool overflow;  /* a deletion could not be recorded: the round stops */
};

/* Tags telling epoll_event.data.ptr apart: static watches live in the
 * array, dynamic ones are the caller's struct evloop_watch. */
static bool is_static(const struct evloop *loop, const void *p)
{
	return p >= (const void *)loop->watches &&
	       p < (const void *)(loop->watches + EVLOOP_MAX_WATCHES);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int evloop_new(struct evloop **out)
{
	struct evloop *loop = calloc(1, sizeof *loop);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	int rc;

	*out = NULL;
	if (!loop)
		return -ENOMEM;
	pthread_mutex_init(&loop->post_lock, NULL);
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

int evloop_watch_add(struct evloop *loop, struct evloop_watch *w, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = w};

	return epoll_ctl(loop->epfd, EPOLL_CTL_ADD, w->fd, &ev) == 0 ? 0 : -errno;
}

int evloop_watch_mod(struct evloop *loop, struct evloop_watch *w, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = w};

	return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, w->fd, &ev) == 0 ? 0 : -errno;
}

void evloop_watch_del(struct evloop *loop, struct evloop_watch *w)
{
	(void)epoll_ctl(loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	/* The caller may free w now; the rest of this round must skip it. */
	if (!loop->in_round)
		return;
	if (vec_grow(&loop->deleted, &loop->cap_deleted, loop->ndeleted, sizeof *loop->deleted) != 0)
		loop->overflow = true; /* unknown which: the rest of the round is dropped */
	else
		loop->deleted[loop->ndeleted++] = w;
}

void evloop_post(struct evloop *loop, struct evloop_task *t)
{
	uint64_t one = 1;

	t->next = NULL;
	pthread_mutex_lock(&loop->post_lock);
	if (loop->tail)
		loop->tail->next = t;
	else
		loop->head = t;
	loop->tail = t;
	pthread_mutex_unlock(&loop->post_lock);
	if (write(loop->wakefd, &one, sizeof one) < 0 && errno != EAGAIN)
		log_warn("evloop", "cannot wake the loop: %s", hs_strerror(-errno));
}

void evloop_tick(struct evloop *loop, void (*fn)(void *arg), void *arg, unsigned interval_ms)
{
	loop->tick_fn = fn;
	loop->tick_arg = arg;
	loop->tick_ms = interval_ms ? interval_ms : 1000;
}

/* Run every posted task (the eventfd fired or the loop stops). */
static void run_posted(struct evloop *loop)
{
	struct evloop_task *t;
	uint64_t count;

	if (read(loop->wakefd, &count, sizeof count) < 0 && errno != EAGAIN)
		log_warn("evloop", "eventfd read: %s", hs_strerror(-errno));
	pthread_mutex_lock(&loop->post_lock);
	t = loop->head;
	loop->head = loop->tail = NULL;
	pthread_mutex_unlock(&loop->post_lock);
	while (t) {
		struct evloop_task *next = t->next; /* fn may free or repost t */
		t->fn(t->arg);
		t = next;
	}
}

void evloop_run_posted(struct evloop *loop)
{
	run_posted(loop);
}

static bool was_deleted(const struct evloop *loop, const void *p)
{
	for (unsigned i = 0; i < loop->ndeleted; i++)
		if (loop->deleted[i] == p)
			return true;
	return false;
}

static void run_round(struct evloop *loop, const struct epoll_event *events, int n)
{
	bool posted = false;

	loop->in_round = true;
	loop->ndeleted = 0;
	loop->overflow = false;
	for (int i = 0; i < n && !loop->overflow; i++) {
		void *p = events[i].data.ptr;
		if (!p) {
			posted = true; /* after the round: tasks may free watches of this round */
		} else if (is_static(loop, p)) {
			struct watch *w = p;
			w->fn(w->arg, w->fd, events[i].events);
		} else if (!was_deleted(loop, p)) {
			struct evloop_watch *w = p;
			w->fn(w->arg, w->fd, events[i].events);
		}
	}
	loop->in_round = false;
	if (posted)
		run_posted(loop);
}

static void *loop_main(void *arg)
{
	struct evloop *loop = arg;
	struct epoll_event events[32];

	loop->next_tick_ms = now_ms() + loop->tick_ms;
	while (!atomic_load(&loop->stopping)) {
		int timeout = 1000, n;
		if (loop->tick_fn) {
			uint64_t now = now_ms();
			timeout = loop->next_tick_ms > now ? (int)(loop->next_tick_ms - now) : 0;
		}
		n = epoll_wait(loop->epfd, events, 32, timeout);
		if (n < 0 && errno != EINTR) {
			log_error("evloop", "epoll_wait: %s", hs_strerror(-errno));
			break;
		}
		if (n > 0)
			run_round(loop, events, n);
		if (loop->tick_fn && now_ms() >= loop->next_tick_ms) {
			loop->tick_fn(loop->tick_arg);
			loop->next_tick_ms = now_ms() + loop->tick_ms;
		}
	}
	run_posted(loop);
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
	pthread_mutex_destroy(&loop->post_lock);
	free(loop->deleted);
	free(loop);
}

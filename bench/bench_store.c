/* bench_store.c: storage engine benchmarks through storage/store.h: append, replay, scan, pre-aggregates, scale.
 * Each mode prints one "RESULT name value unit" line per figure so docs/PERFORMANCE.md can quote it; see --help. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "storage/store.h"

#define SEC 1000000000LL
#define T0 (1735689600LL * SEC) /* 2025-01-01T00:00:00Z */

static struct store *open_at(const char *dir, enum store_wal_sync sync, size_t head_mb,
			     double *open_s)
{
	struct store_options o;
	struct store *st;
	char err[STORE_ERROR_MAX];
	uint64_t t0 = clock_mono_ns();

	store_options_init(&o);
	o.data_dir = dir;
	o.wal_sync = sync;
	o.head_memory_bytes = head_mb << 20;
	o.seal_interval_ns = 24 * 3600 * SEC; /* benchmarks seal when they say so */
	if (store_open(&o, &st, err) != 0) {
		fprintf(stderr, "bench_store: %s\n", err);
		exit(1);
	}
	if (open_s)
		*open_s = (double)(clock_mono_ns() - t0) / 1e9;
	return st;
}

static long peak_rss_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

/* Create (or find) n tags in batches, as an ingest pipeline would. */
static void resolve_tags(struct store *st, uint32_t *ids, size_t n)
{
	enum { BATCH = 10000 };
	static char names[BATCH][40];
	static struct store_tag_spec specs[BATCH];
	static int status[BATCH];

	for (size_t at = 0; at < n; at += BATCH) {
		size_t k = n - at < BATCH ? n - at : BATCH;
		for (size_t i = 0; i < k; i++) {
			int len = snprintf(names[i], sizeof names[i], "plant.area%02zu.tag%07zu",
					   (at + i) % 50, at + i);
			specs[i] = (struct store_tag_spec){names[i], (size_t)len, VALUE_FLOAT64, NULL, 0};
		}
		if (store_tags_resolve(st, specs, k, ids + at, status) != 0) {
			fprintf(stderr, "bench_store: cannot create tags\n");
			exit(1);
		}
		for (size_t i = 0; i < k; i++)
			if (status[i] != 0)
				exit(1);
	}
}

/* A plant-like value: a slow wave with 0.01 resolution, so decimals compress. */
static double plant_value(size_t tag, int64_t second)
{
	long base = (long)(tag % 400) * 100 + (second / 60) % 50;
	return (double)(base + (long)((second * 7 + (int64_t)tag * 13) % 9)) / 100.0;
}

/* Batches in flight per writer: like concurrent HTTP requests, they let the
 * next batch be appended while the previous ones wait for their fsync. */
#define INFLIGHT 8

struct inflight {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int count;
	int failed;
};

static void batch_done(void *arg, int status)
{
	struct inflight *f = arg;

	pthread_mutex_lock(&f->lock);
	f->count--;
	if (status != 0)
		f->failed = status;
	pthread_cond_signal(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

struct writer {
	struct store *st;
	const uint32_t *ids;
	size_t tags, batch;
	int64_t first_second, seconds, stride; /* this writer's seconds: first, first+stride, ... */
	uint64_t samples;
};

static void submit(struct writer *w, struct inflight *f, const struct store_sample *b, size_t n)
{
	pthread_mutex_lock(&f->lock);
	while (f->count >= INFLIGHT)
		pthread_cond_wait(&f->cond, &f->lock);
	f->count++;
	pthread_mutex_unlock(&f->lock);
	if (store_append(w->st, b, n, batch_done, f) != 0)
		exit(2);
	w->samples += n;
}

static void *write_main(void *arg)
{
	struct writer *w = arg;
	struct store_sample *b = malloc(w->batch * sizeof *b);
	struct inflight f = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
	size_t n = 0;

	for (int64_t s = w->first_second; s < w->seconds; s += w->stride) {
		for (size_t t = 0; t < w->tags; t++) {
			b[n++] = (struct store_sample){.tag_id = w->ids[t], .ts_ns = T0 + s * SEC,
						       .v.f64 = plant_value(t, s)};
			if (n == w->batch) {
				submit(w, &f, b, n); /* the store copies the batch */
				n = 0;
			}
		}
	}
	if (n)
		submit(w, &f, b, n);
	pthread_mutex_lock(&f.lock); /* every acknowledgement back: durable */
	while (f.count > 0)
		pthread_cond_wait(&f.cond, &f.lock);
	pthread_mutex_unlock(&f.lock);
	if (f.failed)
		exit(2);
	free(b);
	return NULL;
}

/* append: tags x seconds of 1 s data, batches of batch samples, durable
 * acks (wal_sync=commit), from writers threads; then replay speed. */
static void bench_append(const char *dir, size_t tags, int64_t seconds, size_t batch,
			 int writers)
{
	uint32_t *ids = malloc(tags * sizeof *ids);
	struct writer w[16];
	pthread_t th[16];
	uint64_t total = 0, t0;
	double secs, open_s;
	struct store *st = open_at(dir, STORE_WAL_SYNC_COMMIT, 4096, NULL);
	struct store_stats ss;

	resolve_tags(st, ids, tags);
	t0 = clock_mono_ns();
	for (int i = 0; i < writers; i++) {
		w[i] = (struct writer){st, ids, tags, batch, i, seconds, writers, 0};
		pthread_create(&th[i], NULL, write_main, &w[i]);
	}
	for (int i = 0; i < writers; i++) {
		pthread_join(th[i], NULL);
		total += w[i].samples;
	}
	secs = (double)(clock_mono_ns() - t0) / 1e9;
	store_stats(st, &ss);
	printf("RESULT append_samples_per_s %.0f samples/s (%d writers, %d batches in flight each, %zu "
	       "tags, batches of %zu, wal_sync=commit, %llu fsyncs)\n",
	       (double)total / secs, writers, INFLIGHT, tags, batch, (unsigned long long)ss.wal_fsyncs);
	store_close(st);
	st = open_at(dir, STORE_WAL_SYNC_COMMIT, 4096, &open_s);
	store_stats(st, &ss);
	printf("RESULT replay_samples_per_s %.0f samples/s (%llu samples in %.3f s, open included)\n",
	       (double)ss.head_samples / open_s, (unsigned long long)ss.head_samples, open_s);
	printf("RESULT append_peak_rss %ld KiB\n", peak_rss_kib());
	store_close(st);
	free(ids);
}

static int sum_stats(void *arg, const struct store_chunk_stats *s)
{
	double *acc = arg;
	acc[0] += s->sum;
	acc[1] += s->count;
	return 0;
}

/* scan: one tag, days of 1 s data, sealed and compacted; whole scan and
 * a sum from pre-aggregates. */
static void bench_scan(const char *dir, int64_t days)
{
	int64_t seconds = days * 86400, chunk = 86400;
	struct store_sample *b = malloc((size_t)chunk * sizeof *b);
	struct store *st = open_at(dir, STORE_WAL_SYNC_OFF, 512, NULL);
	uint32_t id;
	double best = 1e9, best_sum = 1e9, acc[2], sum_scan = 0;
	size_t parts;
	uint64_t count = 0;

	resolve_tags(st, &id, 1);
	for (int64_t s = 0; s < seconds; s += chunk) {
		for (int64_t i = 0; i < chunk; i++)
			b[i] = (struct store_sample){.tag_id = id, .ts_ns = T0 + (s + i) * SEC,
						     .v.f64 = plant_value(7, s + i)};
		if (store_append_wait(st, b, (size_t)chunk) != 0)
			exit(2);
	}
	if (store_compact_now(st, &parts) != 0)
		exit(2);
	for (int rep = 0; rep < 5; rep++) {
		struct store_scan *sc;
		struct store_block blk;
		uint64_t t0 = clock_mono_ns();
		count = 0;
		sum_scan = 0;
		if (store_scan_open(st, id, T0, T0 + seconds * SEC, &sc) != 0)
			exit(2);
		while (store_scan_next(sc, &blk) == 1) {
			count += blk.count;
			for (size_t i = 0; i < blk.count; i++)
				sum_scan += blk.f64[i];
		}
		store_scan_close(sc);
		double secs = (double)(clock_mono_ns() - t0) / 1e9;
		best = secs < best ? secs : best;
		t0 = clock_mono_ns();
		acc[0] = acc[1] = 0;
		if (store_chunk_stats(st, id, T0, T0 + seconds * SEC, sum_stats, acc) != 0)
			exit(2);
		secs = (double)(clock_mono_ns() - t0) / 1e9;
		best_sum = secs < best_sum ? secs : best_sum;
	}
	printf("RESULT scan_whole %.3f s for %llu samples (%.1f M samples/s; best of 5)\n", best,
	       (unsigned long long)count, (double)count / best / 1e6);
	printf("RESULT preagg_sum %.2f ms over %.0f samples (scan sum %.6g, pre-aggregate sum %.6g)\n",
	       best_sum * 1e3, acc[1], sum_scan, acc[0]);
	store_close(st);
	free(b);
}

/* tags: create n tags, close, time the open that loads them. */
static void bench_tags(const char *dir, size_t n)
{
	uint32_t *ids = malloc(n * sizeof *ids);
	struct store *st = open_at(dir, STORE_WAL_SYNC_OFF, 256, NULL);
	uint64_t t0 = clock_mono_ns();
	double open_s;

	resolve_tags(st, ids, n);
	printf("RESULT tag_create %.0f tags/s\n", (double)n / ((double)(clock_mono_ns() - t0) / 1e9));
	store_close(st);
	st = open_at(dir, STORE_WAL_SYNC_OFF, 256, &open_s);
	printf("RESULT open_with_tags %.3f s for %zu tags\n", open_s, n);
	store_close(st);
	free(ids);
}

/* scale: many tags at 1 s, the head bounded by the default head_memory
 * (seals happen as it fills); peak RSS is the figure. */
static void bench_scale(const char *dir, size_t tags, int64_t seconds)
{
	uint32_t *ids = malloc(tags * sizeof *ids);
	struct store *st = open_at(dir, STORE_WAL_SYNC_COMMIT, 256, NULL);
	struct writer w;
	struct store_stats ss;
	uint64_t t0;
	double secs;

	resolve_tags(st, ids, tags);
	t0 = clock_mono_ns();
	w = (struct writer){st, ids, tags, 10000, 0, seconds, 1, 0};
	write_main(&w);
	secs = (double)(clock_mono_ns() - t0) / 1e9;
	store_stats(st, &ss);
	printf("RESULT scale_samples_per_s %.0f samples/s (%zu tags x %lld s = %llu samples; %llu seals)\n",
	       (double)w.samples / secs, tags, (long long)seconds, (unsigned long long)w.samples,
	       (unsigned long long)ss.seals);
	printf("RESULT scale_peak_rss %ld KiB\n", peak_rss_kib());
	printf("RESULT seal_max_pause %.3f ms (longest time a seal held appends up)\n",
	       (double)ss.max_seal_pause_ns / 1e6);
	store_close(st);
	free(ids);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "", *dir = argc > 2 ? argv[2] : NULL;
	long a = argc > 3 ? atol(argv[3]) : 0, b = argc > 4 ? atol(argv[4]) : 0;

	log_set_level(HS_LOG_WARN);
	if (!dir) {
		fprintf(stderr,
			"usage: bench_store append DIR [TAGS=1000] [SECONDS=600] [WRITERS=1]\n"
			"       bench_store scan DIR [DAYS=365]\n"
			"       bench_store tags DIR [TAGS=1000000]\n"
			"       bench_store scale DIR [TAGS=100000] [SECONDS=600]\n"
			"DIR must be an empty directory on the disk to measure.\n");
		return 2;
	}
	if (strcmp(mode, "append") == 0)
		bench_append(dir, a ? (size_t)a : 1000, b ? b : 600, 5000,
			     argc > 5 ? atoi(argv[5]) : 1);
	else if (strcmp(mode, "scan") == 0)
		bench_scan(dir, a ? a : 365);
	else if (strcmp(mode, "tags") == 0)
		bench_tags(dir, a ? (size_t)a : 1000000);
	else if (strcmp(mode, "scale") == 0)
		bench_scale(dir, a ? (size_t)a : 100000, b ? b : 600);
	else
		return 2;
	return 0;
}

/* bench_wal.c: WAL benchmark: append throughput with group commit (records/s, MB/s, fsyncs/s) and replay throughput (MB/s).
 * Runs on the real disk in a temp directory (-d to choose where); see usage() for the knobs. Not a test: prints figures. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/hs_error.h"
#include "lib/log.h"
#include "storage/wal.h"

#define SAMPLE_BYTES 16 /* what a sample costs in the store's WAL records, roughly */

struct config {
	char base[PATH_MAX];
	double seconds;         /* per append run */
	size_t record_bytes;
	uint64_t replay_mb;     /* size of the replay data set */
	size_t queue_bytes;     /* 0: the WAL's default */
	bool wait;              /* each producer waits for its record's done() */
	bool keep;
};

/* One append run's shared state. */
struct run {
	struct wal *w;
	const unsigned char *payload;
	size_t len;
	bool wait;
	_Atomic bool stop;
	_Atomic uint64_t done_ok, done_failed;
};

struct waiter {
	pthread_mutex_t m;
	pthread_cond_t c;
	bool fired;
};

static void on_done(void *arg, int status)
{
	struct run *r = arg;

	if (status == 0)
		atomic_fetch_add_explicit(&r->done_ok, 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&r->done_failed, 1, memory_order_relaxed);
}

static struct run *waiter_run; /* on_done_wait counts into it */

static void on_done_wait(void *arg, int status)
{
	struct waiter *wt = arg;

	on_done(waiter_run, status);
	pthread_mutex_lock(&wt->m);
	wt->fired = true;
	pthread_cond_signal(&wt->c);
	pthread_mutex_unlock(&wt->m);
}

static int append_waiting(struct run *r)
{
	struct waiter wt = {.fired = false};
	int rc;

	pthread_mutex_init(&wt.m, NULL);
	pthread_cond_init(&wt.c, NULL);
	rc = wal_append(r->w, r->payload, r->len, on_done_wait, &wt);
	pthread_mutex_lock(&wt.m);
	while (rc == 0 && !wt.fired)
		pthread_cond_wait(&wt.c, &wt.m);
	pthread_mutex_unlock(&wt.m);
	pthread_mutex_destroy(&wt.m);
	pthread_cond_destroy(&wt.c);
	return rc;
}

static void *producer(void *arg)
{
	struct run *r = arg;

	while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		int rc = r->wait ? append_waiting(r) : wal_append(r->w, r->payload, r->len, on_done, r);
		if (rc != 0) {
			fprintf(stderr, "bench_wal: append: %s\n", hs_strerror(rc));
			break;
		}
	}
	return NULL;
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

static void remove_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int open_wal(const struct config *cf, const char *dir, enum wal_sync_mode mode,
		    struct wal **w)
{
	struct wal_options o = {.dir = dir, .sync = mode, .queue_bytes = cf->queue_bytes};
	struct wal_replay_report rep;
	char err[WAL_ERROR_MAX];
	int rc = wal_open(&o, w, err);

	if (rc != 0) {
		fprintf(stderr, "bench_wal: %s\n", err);
		return rc;
	}
	rc = wal_replay(*w, 0, NULL, NULL, &rep);
	if (rc != 0)
		fprintf(stderr, "bench_wal: replay: %s\n", rep.error);
	return rc;
}

static const char *mode_name(enum wal_sync_mode m)
{
	return m == WAL_SYNC_COMMIT ? "commit" : m == WAL_SYNC_INTERVAL ? "interval" : "off";
}

/* Append from nthreads for cf->seconds, then close (which drains). */
static int bench_append(const struct config *cf, enum wal_sync_mode mode, int nthreads,
			const unsigned char *payload)
{
	char dir[PATH_MAX + 64];
	struct run r = {.payload = payload, .len = cf->record_bytes, .wait = cf->wait};
	pthread_t th[64];
	struct wal_stats st;
	uint64_t t0, t1, n;
	double secs, fsync_ms;
	int rc;

	snprintf(dir, sizeof dir, "%s/append-%s-%d", cf->base, mode_name(mode), nthreads);
	if ((rc = open_wal(cf, dir, mode, &r.w)) != 0)
		return rc;
	waiter_run = &r;
	t0 = clock_mono_ns();
	for (int i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, producer, &r);
	usleep((useconds_t)(cf->seconds * 1e6));
	atomic_store(&r.stop, true);
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	wal_stats(r.w, &st);
	wal_close(r.w);
	t1 = clock_mono_ns();
	secs = (double)(t1 - t0) / 1e9;
	n = atomic_load(&r.done_ok);
	fsync_ms = st.fsyncs ? (double)st.fsync_ns / (double)st.fsyncs / 1e6 : 0;
	printf("append  %-8s %3d %-5s %9zu %8.2f %9" PRIu64 " %9.0f %8.1f %9.1f %8.1f %8.2f %11.0f\n",
	       mode_name(mode), nthreads, cf->wait ? "wait" : "async", cf->record_bytes, secs, n,
	       (double)n / secs, (double)n * (double)cf->record_bytes / secs / 1e6,
	       (double)st.fsyncs / secs, st.fsyncs ? (double)n / (double)st.fsyncs : 0, fsync_ms,
	       (double)n * (double)cf->record_bytes / SAMPLE_BYTES / secs);
	if (atomic_load(&r.done_failed))
		fprintf(stderr, "bench_wal: %" PRIu64 " records failed\n", atomic_load(&r.done_failed));
	if (!cf->keep)
		remove_tree(dir);
	fflush(stdout);
	return 0;
}

/* Flush the segments and drop them from the page cache, so the next
 * replay reads the disk. */
static void drop_cache(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		int fd = openat(dirfd(d), de->d_name, O_RDONLY);
		if (fd < 0)
			continue;
		if (fdatasync(fd) != 0 || posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) != 0)
			fprintf(stderr, "bench_wal: %s: cannot drop from the cache\n", de->d_name);
		close(fd);
	}
	closedir(d);
}

static int count_record(void *arg, const void *payload, size_t len, uint64_t pos)
{
	uint64_t *bytes = arg;

	(void)payload;
	(void)pos;
	*bytes += len;
	return 0;
}

static int replay_once(const struct config *cf, const char *dir, const char *label)
{
	struct wal_options o = {.dir = dir, .sync = WAL_SYNC_OFF};
	struct wal_replay_report rep;
	char err[WAL_ERROR_MAX];
	uint64_t bytes = 0, t0 = clock_mono_ns();
	struct wal *w;
	double secs;
	int rc = wal_open(&o, &w, err);

	if (rc != 0) {
		fprintf(stderr, "bench_wal: %s\n", err);
		return rc;
	}
	rc = wal_replay(w, 0, count_record, &bytes, &rep);
	secs = (double)(clock_mono_ns() - t0) / 1e9;
	wal_close(w);
	if (rc != 0) {
		fprintf(stderr, "bench_wal: replay: %s\n", rep.error);
		return rc;
	}
	(void)cf;
	printf("replay  %-5s %10.1f %8.2f %9.1f %11.0f %13.0f\n", label, (double)bytes / 1e6, secs,
	       (double)bytes / secs / 1e6, (double)rep.records / secs,
	       (double)bytes / SAMPLE_BYTES / secs);
	fflush(stdout);
	return 0;
}

/* Write replay_mb of records (sync off: this is setup), then replay it
 * with a warm and with a cold page cache. */
static int bench_replay(const struct config *cf, const unsigned char *payload)
{
	char dir[PATH_MAX + 64];
	struct wal *w;
	uint64_t n = cf->replay_mb * 1000000 / cf->record_bytes;
	int rc;

	snprintf(dir, sizeof dir, "%s/replay", cf->base);
	if ((rc = open_wal(cf, dir, WAL_SYNC_OFF, &w)) != 0)
		return rc;
	for (uint64_t i = 0; i < n && rc == 0; i++)
		rc = wal_append(w, payload, cf->record_bytes, NULL, NULL);
	wal_close(w);
	if (rc != 0) {
		fprintf(stderr, "bench_wal: append: %s\n", hs_strerror(rc));
		return rc;
	}
	printf("\nreplay  cache         MB  seconds      MB/s   records/s  samples/s@16B\n");
	drop_cache(dir);
	rc = replay_once(cf, dir, "cold");
	if (rc == 0)
		rc = replay_once(cf, dir, "warm");
	if (rc == 0)
		rc = replay_once(cf, dir, "warm");
	if (!cf->keep)
		remove_tree(dir);
	return rc;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench_wal [-d DIR] [-s SECONDS] [-r RECORD_BYTES] [-t THREADS,...]\n"
		"                 [-m commit,interval,off] [-q QUEUE_BYTES] [-R REPLAY_MB] [-w] [-k]\n"
		"  -d  where to make the temp directory (default $TMPDIR or /tmp): the disk measured\n"
		"  -s  seconds per append run (default 3)\n"
		"  -r  payload bytes per record (default 80000: 5000 samples x 16 bytes)\n"
		"  -t  producer thread counts (default 1,4)\n"
		"  -m  sync modes (default commit,off)\n"
		"  -q  WAL queue_bytes (default: the WAL's, 32 MiB)\n"
		"  -R  replay data set in MB (default 1000; 0 skips replay)\n"
		"  -w  producers wait for each record's done() (default: pipelined)\n"
		"  -k  keep the data\n");
	exit(2);
}

static int parse_list(const char *text, const char *const *names, int *out, int max)
{
	char buf[256], *save = NULL, *tok;
	int n = 0;

	snprintf(buf, sizeof buf, "%s", text);
	for (tok = strtok_r(buf, ",", &save); tok && n < max; tok = strtok_r(NULL, ",", &save)) {
		if (!names) {
			out[n++] = atoi(tok);
			continue;
		}
		int i = 0;
		while (names[i] && strcmp(names[i], tok) != 0)
			i++;
		if (!names[i])
			usage();
		out[n++] = i;
	}
	return n;
}

int main(int argc, char **argv)
{
	static const char *const modes_names[] = {"commit", "interval", "off", NULL};
	struct config cf = {.seconds = 3, .record_bytes = 80000, .replay_mb = 1000};
	const char *where = getenv("TMPDIR");
	int threads[16] = {1, 4}, nthreads = 2, modes[3] = {WAL_SYNC_COMMIT, WAL_SYNC_OFF}, nmodes = 2;
	unsigned char *payload;
	int opt, rc = 0;

	while ((opt = getopt(argc, argv, "d:s:r:t:m:q:R:wk")) != -1) {
		switch (opt) {
		case 'd': where = optarg; break;
		case 's': cf.seconds = atof(optarg); break;
		case 'r': cf.record_bytes = (size_t)strtoull(optarg, NULL, 10); break;
		case 't': nthreads = parse_list(optarg, NULL, threads, 16); break;
		case 'm': nmodes = parse_list(optarg, modes_names, modes, 3); break;
		case 'q': cf.queue_bytes = (size_t)strtoull(optarg, NULL, 10); break;
		case 'R': cf.replay_mb = strtoull(optarg, NULL, 10); break;
		case 'w': cf.wait = true; break;
		case 'k': cf.keep = true; break;
		default: usage();
		}
	}
	if (cf.record_bytes == 0 || cf.seconds <= 0)
		usage();
	for (int i = 0; i < nthreads; i++)
		if (threads[i] < 1 || threads[i] > 64)
			usage();
	log_set_level(HS_LOG_WARN);
	snprintf(cf.base, sizeof cf.base, "%s/bench_wal.XXXXXX", where && where[0] ? where : "/tmp");
	if (!mkdtemp(cf.base)) {
		fprintf(stderr, "bench_wal: mkdtemp %s: %s\n", cf.base, strerror(errno));
		return 1;
	}
	payload = malloc(cf.record_bytes);
	if (!payload)
		return 1;
	for (size_t i = 0; i < cf.record_bytes; i++)
		payload[i] = (unsigned char)(i * 2654435761u >> 13);
	printf("bench_wal: dir %s, record %zu bytes (%zu samples at %d bytes)\n\n", cf.base,
	       cf.record_bytes, cf.record_bytes / SAMPLE_BYTES, SAMPLE_BYTES);
	printf("append  mode     thr mode   rec_bytes  seconds   records     rec/s     MB/s  "
	       "fsyncs/s rec/fsync fsync_ms samples/s@16B\n");
	for (int m = 0; m < nmodes && rc == 0; m++)
		for (int t = 0; t < nthreads && rc == 0; t++)
			rc = bench_append(&cf, (enum wal_sync_mode)modes[m], threads[t], payload);
	if (rc == 0 && cf.replay_mb > 0)
		rc = bench_replay(&cf, payload);
	if (!cf.keep)
		rmdir(cf.base);
	free(payload);
	return rc == 0 ? 0 : 1;
}

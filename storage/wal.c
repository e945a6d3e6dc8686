/* wal.c: the WAL's public calls (open, append, roll, trim, stats, close) and the segment-file helpers the module shares.
 * Replay is in wal_recover.c, the writer thread in wal_writer.c, the format in wal_format.h.
 *
 * Invariants:
 * - Appending threads only copy the payload, CRC it and queue it; every
 *   byte of every segment file is written by one thread: the replaying
 *   thread until wal_replay() starts the writer, the writer after that.
 * - Queued payload bytes stay within queue_bytes, except one oversized
 *   record admitted into an empty queue (else it could never get in).
 * - refuse only turns read-only once; nothing turns it back (a failed
 *   fsync leaves the page cache in an unknown state: only a reopen, which
 *   replays from disk, may trust the files again).
 *
 * Concurrency: lock guards the queue, refuse, running, closing and
 *   active_seq; three condition variables hang off it (work_cv for the
 *   writer, space_cv for appenders under backpressure, roll_cv for
 *   wal_roll()). trim_lock serializes wal_trim(). Statistics are atomics so
 *   wal_stats() takes no lock. Nothing holds lock across I/O or callbacks.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/crc32c.h"
#include "lib/endian.h"
#include "lib/hs_error.h"
#include "lib/log.h"
#include "storage/wal_int.h"

#define WAL_DEFAULT_SEGMENT_BYTES (64ull << 20)
#define WAL_MIN_SEGMENT_BYTES 64ull
/* Offsets are 32 bits in a position: a segment plus one maximal record must fit. */
#define WAL_MAX_SEGMENT_BYTES (1ull << 30)
#define WAL_DEFAULT_QUEUE_BYTES ((size_t)32 << 20)
#define WAL_DEFAULT_INTERVAL_MS 1000u
#define WAL_DEFAULT_PROBE_MS 1000u

/* Error text for callers' WAL_ERROR_MAX buffers; cut short when too long. */
void wal__errf(char *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, WAL_ERROR_MAX, fmt, ap);
	va_end(ap);
}

/* ---- segment files ------------------------------------------------------ */

/* Zero-padded to 20 digits so that names sort as the numbers do. */
int wal__segment_path(const struct wal *w, uint64_t seq, bool tmp, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/%0*" PRIu64 "%s", w->dir, WAL_SEGMENT_DIGITS, seq,
			 tmp ? WAL_SEGMENT_TMP_SUFFIX : WAL_SEGMENT_SUFFIX);
	return (n < 0 || (size_t)n >= cap) ? -ENAMETOOLONG : 0;
}

/* True when name is exactly a segment name; *seq is its number. Sequences
 * above 32 bits cannot be expressed in a position, so they are not ours. */
static bool segment_name_any(const char *name, const char *suffix, uint64_t *seq)
{
	uint64_t v = 0;

	for (int i = 0; i < WAL_SEGMENT_DIGITS; i++) {
		if (name[i] < '0' || name[i] > '9')
			return false;
		if (v > (UINT64_MAX - 9) / 10) /* 20 nines do not fit in 64 bits */
			return false;
		v = v * 10 + (uint64_t)(name[i] - '0');
	}
	if (strcmp(name + WAL_SEGMENT_DIGITS, suffix) != 0 || v == 0 || v > UINT32_MAX)
		return false;
	*seq = v;
	return true;
}

bool wal__segment_name(const char *name, uint64_t *seq)
{
	return segment_name_any(name, WAL_SEGMENT_SUFFIX, seq);
}

void wal__header_encode(unsigned char *hdr, uint64_t seq, uint64_t salt, int64_t ctime_ns)
{
	memset(hdr, 0, WAL_HDR_SIZE);
	memcpy(hdr + WAL_HDR_OFF_MAGIC, WAL_MAGIC, WAL_MAGIC_LEN);
	put_le32(hdr + WAL_HDR_OFF_VERSION, WAL_VERSION);
	put_le32(hdr + WAL_HDR_OFF_HDR_SIZE, WAL_HDR_SIZE);
	put_le64(hdr + WAL_HDR_OFF_SEQ, seq);
	put_le64(hdr + WAL_HDR_OFF_CTIME, (uint64_t)ctime_ns);
	put_le64(hdr + WAL_HDR_OFF_SALT, salt);
	put_le32(hdr + WAL_HDR_OFF_CRC, crc32c(0, hdr, WAL_HDR_OFF_CRC));
}

/* Check a header read from the file of sequence seq; on success ctx gets
 * the 16 bytes every record CRC of the segment mixes in. Returns 0 or
 * HS_ECORRUPT with *why saying what is wrong. */
int wal__header_decode(const unsigned char *hdr, uint64_t seq, unsigned char *ctx, const char **why)
{
	*why = NULL;
	/* Magic first: a foreign file should say so, not "bad CRC". */
	if (memcmp(hdr + WAL_HDR_OFF_MAGIC, WAL_MAGIC, WAL_MAGIC_LEN) != 0)
		*why = "bad magic: not a WAL segment";
	else if (get_le32(hdr + WAL_HDR_OFF_CRC) != crc32c(0, hdr, WAL_HDR_OFF_CRC))
		*why = "header CRC mismatch";
	else if (get_le32(hdr + WAL_HDR_OFF_VERSION) != WAL_VERSION)
		*why = "unsupported WAL format version";
	else if (get_le32(hdr + WAL_HDR_OFF_HDR_SIZE) != WAL_HDR_SIZE ||
		 get_le32(hdr + WAL_HDR_OFF_RESERVED) != 0)
		*why = "bad header size or reserved field";
	else if (get_le64(hdr + WAL_HDR_OFF_SEQ) != seq)
		*why = "sequence in the header does not match the file name (stale or renamed segment)";
	if (*why)
		return HS_ECORRUPT;
	memcpy(ctx, hdr + WAL_HDR_OFF_SEQ, 8);
	memcpy(ctx + 8, hdr + WAL_HDR_OFF_SALT, 8);
	return 0;
}

uint32_t wal__record_crc(uint32_t payload_crc, uint32_t word, const unsigned char *ctx)
{
	unsigned char w[4];

	put_le32(w, word);
	return crc32c(crc32c(payload_crc, w, sizeof w), ctx, WAL_CRC_CONTEXT_SIZE);
}

/* The salt only has to differ between segments and WAL incarnations; when
 * the kernel has no entropy ready, clocks and pid mixed well will do. */
static uint64_t random_salt(void)
{
	uint64_t v;

	if (getrandom(&v, sizeof v, GRND_NONBLOCK) == (ssize_t)sizeof v)
		return v;
	v = clock_mono_ns() ^ ((uint64_t)clock_real_ns() << 17) ^ ((uint64_t)getpid() << 40);
	v += 0x9E3779B97F4A7C15ull; /* splitmix64 finalizer */
	v = (v ^ (v >> 30)) * 0xBF58476D1CE4E5B9ull;
	v = (v ^ (v >> 27)) * 0x94D049BB133111EBull;
	return v ^ (v >> 31);
}

static void fsync_account(struct wal *w, uint64_t t0)
{
	atomic_fetch_add(&w->st_fsyncs, 1);
	atomic_fetch_add(&w->st_fsync_ns, clock_mono_ns() - t0);
}

/* A failed fsync of WAL data is never retried: the kernel may already have
 * dropped the dirty pages, so a later success would prove nothing. */
int wal__fdatasync(struct wal *w, int fd, uint64_t seq)
{
	uint64_t t0 = clock_mono_ns();
	int rc = w->io->fdatasync(fd);

	fsync_account(w, t0);
	if (rc != 0) {
		log_error("wal", "%s/%0*" PRIu64 "%s: fdatasync failed: %s; the WAL is read-only "
			  "until historiand restarts", w->dir, WAL_SEGMENT_DIGITS, seq,
			  WAL_SEGMENT_SUFFIX, hs_strerror(rc));
		wal__set_state(w, -EROFS);
	}
	return rc;
}

/* fatal: the entry must be durable before records in it are acknowledged
 * (a new segment), so failure is handled like a failed fdatasync. Trim
 * passes false: a lost deletion only brings back a segment nobody needs. */
int wal__fsync_dir(struct wal *w, bool fatal)
{
	uint64_t t0 = clock_mono_ns();
	int rc = io_fsync_dir(w->io, w->dir);

	fsync_account(w, t0);
	if (rc != 0 && fatal) {
		log_error("wal", "%s: directory fsync failed: %s; the WAL is read-only until "
			  "historiand restarts", w->dir, hs_strerror(rc));
		wal__set_state(w, -EROFS);
	}
	return rc;
}

static int segment_write_header(struct wal *w, int fd, uint64_t seq, unsigned char *ctx)
{
	unsigned char hdr[WAL_HDR_SIZE];
	const char *why;
	int rc;

	wal__header_encode(hdr, seq, random_salt(), clock_real_ns());
	rc = io_pwrite_all(w->io, fd, hdr, sizeof hdr, 0);
	/* The CRC context comes from the bytes as written, by the code replay
	 * uses, so writer and reader cannot disagree on it. */
	if (rc == 0)
		rc = wal__header_decode(hdr, seq, ctx, &why);
	if (rc == 0)
		atomic_fetch_add(&w->st_write_bytes, WAL_HDR_SIZE);
	return rc;
}

/* Create segment seq durably (invariant 1 of wal_format.h): header into
 * NNN.wal.tmp, fdatasync, rename, fsync the directory. A failed fsync has
 * turned the WAL read-only when this returns; other failures leave no file. */
int wal__segment_create(struct wal *w, uint64_t seq, struct wal__segment *out)
{
	char tmp[PATH_MAX], final[PATH_MAX];
	bool durable = w->sync != WAL_SYNC_OFF, renamed = false;
	int fd = -1, rc;

	if (seq > UINT32_MAX)
		return -EOVERFLOW;
	rc = wal__segment_path(w, seq, true, tmp, sizeof tmp);
	if (rc == 0)
		rc = wal__segment_path(w, seq, false, final, sizeof final);
	if (rc != 0)
		return rc;
	/* O_TRUNC: a .tmp of the same number can only be our own failed try. */
	fd = w->io->open(tmp, O_RDWR | O_CREAT | O_TRUNC, 0640);
	if (fd < 0)
		return fd;
	rc = segment_write_header(w, fd, seq, out->ctx);
	if (rc == 0 && durable)
		rc = wal__fdatasync(w, fd, seq);
	if (rc == 0)
		rc = w->io->rename(tmp, final);
	if (rc != 0)
		goto out;
	/* From here the file exists under its name. Should the directory
	 * fsync fail, it stays: it holds no record and replay accepts it. */
	renamed = true;
	atomic_fetch_add(&w->st_segments, 1);
	if (durable)
		rc = wal__fsync_dir(w, true);
	if (rc == 0) {
		out->fd = fd;
		out->seq = seq;
		out->end_off = WAL_HDR_SIZE;
		out->synced_off = durable ? WAL_HDR_SIZE : 0;
		out->dirty = false;
		fd = -1;
	}
out:
	if (fd >= 0) {
		w->io->close(fd);
		if (!renamed)
			w->io->unlink(tmp);
	}
	return rc;
}

/* readdir order is arbitrary; replay and trim need log order. */
static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Sorted sequence numbers of the segment files in the directory. *seqs is
 * the caller's to free (NULL when there are none). */
int wal__list_segments(const struct wal *w, uint64_t **seqs, size_t *count)
{
	DIR *d = opendir(w->dir);
	struct dirent *de;
	uint64_t *list = NULL, seq;
	size_t n = 0, cap = 0;
	int rc = 0;

	*seqs = NULL;
	*count = 0;
	if (!d)
		return -errno;
	while ((errno = 0, de = readdir(d)) != NULL) {
		/* Anything not named like a segment (.tmp files, an editor's
		 * backup, notes) is not part of the log. */
		if (!wal__segment_name(de->d_name, &seq))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			uint64_t *grown = realloc(list, ncap * sizeof *list);
			if (!grown) {
				rc = -ENOMEM;
				goto out;
			}
			list = grown;
			cap = ncap;
		}
		list[n++] = seq;
	}
	if (errno != 0)
		rc = -errno;
out:
	closedir(d);
	if (rc != 0) {
		free(list);
		return rc;
	}
	if (n > 1)
		qsort(list, n, sizeof *list, cmp_u64);
	*seqs = list;
	*count = n;
	return 0;
}

/* The refusal code as the state wal_stats() reports. */
static enum wal_state state_of(int refuse)
{
	switch (refuse) {
	case 0: return WAL_STATE_OK;
	case -ENOSPC: return WAL_STATE_DISK_FULL;
	case -EROFS: return WAL_STATE_READ_ONLY;
	default: return WAL_STATE_IO_ERROR;
	}
}

/* Publish what appends get from now on; the writer thread (or replay)
 * calls it, never with lock held. */
void wal__set_state(struct wal *w, int refuse)
{
	pthread_mutex_lock(&w->lock);
	if (w->refuse != -EROFS)
		w->refuse = refuse;
	w->wstate = w->refuse;
	/* Appenders blocked on a full queue must learn they are refused. */
	pthread_cond_broadcast(&w->space_cv);
	atomic_store(&w->st_state, (int)state_of(w->refuse));
	pthread_mutex_unlock(&w->lock);
}

/* ---- open and close ------------------------------------------------------ */

/* mkdir -p with mode 0750; *created says whether path did not exist. */
static int make_dirs(const char *path, bool *created)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);
	struct stat st;

	*created = stat(path, &st) != 0 && errno == ENOENT;
	if (len == 0 || len >= sizeof buf)
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char saved = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, 0750) != 0 && errno != EEXIST)
			return -errno;
		buf[i] = saved;
	}
	if (stat(path, &st) != 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* A new directory's entry lives in its parent: fsync that too. */
static int sync_parent(const struct wal *w)
{
	char buf[PATH_MAX];

	if (strlen(w->dir) >= sizeof buf)
		return -ENAMETOOLONG;
	strcpy(buf, w->dir); /* dirname() may write into its argument */
	return io_fsync_dir(w->io, dirname(buf));
}

/* .tmp files are segments whose creation never finished: no record is in
 * one (records are written only after the rename), so they can go. */
static int remove_tmp_files(const struct wal *w)
{
	DIR *d = opendir(w->dir);
	struct dirent *de;
	char path[PATH_MAX];
	uint64_t seq;
	int rc = 0;

	if (!d)
		return -errno;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (!segment_name_any(de->d_name, WAL_SEGMENT_TMP_SUFFIX, &seq))
			continue;
		rc = wal__segment_path(w, seq, true, path, sizeof path);
		if (rc == 0) {
			log_warn("wal", "%s: removing a segment whose creation did not finish", path);
			rc = w->io->unlink(path);
		}
	}
	closedir(d);
	return rc;
}

static int check_options(const struct wal_options *o, char *err)
{
	if (!o->dir || !o->dir[0]) {
		wal__errf(err, "wal: no directory given");
		return HS_EINVAL_CONFIG;
	}
	if ((unsigned)o->sync > WAL_SYNC_OFF) {
		wal__errf(err, "wal: unknown sync mode %d", (int)o->sync);
		return HS_EINVAL_CONFIG;
	}
	/* Tiny segments are for tests; the top keeps offsets in 32 bits. */
	if (o->segment_bytes != 0 && (o->segment_bytes < WAL_MIN_SEGMENT_BYTES ||
				      o->segment_bytes > WAL_MAX_SEGMENT_BYTES)) {
		wal__errf(err, "wal: segment size %" PRIu64 " is outside %llu..%llu",
			  o->segment_bytes, WAL_MIN_SEGMENT_BYTES, WAL_MAX_SEGMENT_BYTES);
		return HS_EINVAL_CONFIG;
	}
	/* Kept in ns inside: refuse what would overflow. */
	if (o->sync_interval_ms > UINT64_MAX / 1000000u || o->probe_interval_ms > UINT64_MAX / 1000000u) {
		wal__errf(err, "wal: interval too long");
		return HS_EINVAL_CONFIG;
	}
	return 0;
}

static int init_sync(struct wal *w)
{
	pthread_condattr_t attr;
	int rc;

	if ((rc = pthread_condattr_init(&attr)) != 0)
		return -rc;
	/* The writer's deadlines are monotonic: wall-clock steps must not
	 * stretch or skip an interval fsync. */
	rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(&w->work_cv, &attr);
	pthread_condattr_destroy(&attr);
	if (rc != 0)
		return -rc;
	pthread_mutex_init(&w->lock, NULL);
	pthread_mutex_init(&w->trim_lock, NULL);
	pthread_cond_init(&w->space_cv, NULL);
	pthread_cond_init(&w->roll_cv, NULL);
	return 0;
}

static struct wal *wal_new(const struct wal_options *o)
{
	struct wal *w = calloc(1, sizeof *w);

	if (!w)
		return NULL;
	w->dir = strdup(o->dir);
	if (!w->dir || init_sync(w) != 0) {
		free(w->dir);
		free(w);
		return NULL;
	}
	/* 0 in an option means its default. */
	w->io = o->io ? o->io : &io_default;
	w->sync = o->sync;
	w->sync_interval_ns =
		(o->sync_interval_ms ? o->sync_interval_ms : WAL_DEFAULT_INTERVAL_MS) * 1000000u;
	w->probe_interval_ns =
		(o->probe_interval_ms ? o->probe_interval_ms : WAL_DEFAULT_PROBE_MS) * 1000000u;
	w->segment_bytes = o->segment_bytes ? o->segment_bytes : WAL_DEFAULT_SEGMENT_BYTES;
	w->queue_bytes = o->queue_bytes ? o->queue_bytes : WAL_DEFAULT_QUEUE_BYTES;
	w->salvage = o->salvage;
	w->tailp = &w->head;
	w->unit_tailp = &w->unit_head;
	w->seg.fd = -1;
	return w;
}

int wal_open(const struct wal_options *opts, struct wal **out, char *err)
{
	struct wal *w = NULL;
	bool created;
	int rc;

	*out = NULL;
	err[0] = '\0';
	rc = check_options(opts, err);
	if (rc != 0)
		return rc;
	/* Nothing is read here: replay decides what the files mean. */
	w = wal_new(opts);
	if (!w) {
		wal__errf(err, "wal: out of memory");
		return -ENOMEM;
	}
	rc = make_dirs(w->dir, &created);
	if (rc != 0) {
		wal__errf(err, "wal: %s: cannot create: %s", w->dir, hs_strerror(rc));
		goto out;
	}
	if (created && w->sync != WAL_SYNC_OFF && (rc = sync_parent(w)) != 0) {
		wal__errf(err, "wal: %s: cannot fsync its parent: %s", w->dir, hs_strerror(rc));
		goto out;
	}
	rc = remove_tmp_files(w);
	if (rc != 0) {
		wal__errf(err, "wal: %s: cannot clean up: %s", w->dir, hs_strerror(rc));
		goto out;
	}
	*out = w;
	w = NULL;
out:
	wal_close(w);
	return rc;
}

void wal_close(struct wal *w)
{
	struct wal__node *n, *next;
	bool running;

	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->closing = true;
	running = w->running;
	pthread_cond_signal(&w->work_cv);
	pthread_cond_broadcast(&w->space_cv);
	pthread_mutex_unlock(&w->lock);
	/* The writer drains the queue before it exits (wal_writer.c), so
	 * every done() has run when the join returns; nodes are left only if
	 * the writer never started, and then appends were refused anyway. */
	if (running)
		pthread_join(w->writer, NULL);
	for (n = w->head; n; n = next) {
		next = n->next;
		free(n);
	}
	if (w->seg.fd >= 0)
		w->io->close(w->seg.fd);
	free(w->buf);
	pthread_mutex_destroy(&w->lock);
	pthread_mutex_destroy(&w->trim_lock);
	pthread_cond_destroy(&w->work_cv);
	pthread_cond_destroy(&w->space_cv);
	pthread_cond_destroy(&w->roll_cv);
	free(w->dir);
	free(w);
}

/* ---- append and roll ----------------------------------------------------- */

/* Queue n (a record or a roll marker), waiting for room. Returns 0 (n now
 * belongs to the writer) or the refusal. */
static int enqueue(struct wal *w, struct wal__node *n)
{
	int rc;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		if (w->closing)
			rc = -ESHUTDOWN;
		else if (!w->running) /* replay has not started the writer */
			rc = -EAGAIN;
		else
			rc = w->refuse;
		if (rc != 0)
			break;
		/* A roll marker carries no payload and must not wait behind
		 * the backpressure it may be about to relieve (the store rolls
		 * to seal its head); an oversized record goes into an empty
		 * queue, or it would wait for ever. */
		if (n->roll || w->queued_bytes == 0 ||
		    (w->queued_bytes < w->queue_bytes && n->len <= w->queue_bytes - w->queued_bytes))
			break;
		pthread_cond_wait(&w->space_cv, &w->lock);
	}
	if (rc == 0) {
		*w->tailp = n;
		w->tailp = &n->next;
		w->queued_bytes += n->len;
		w->queued_records += !n->roll;
		atomic_store(&w->st_queue_bytes, w->queued_bytes);
		atomic_store(&w->st_queue_records, w->queued_records);
		/* Costs no system call while the writer is busy (no waiter). */
		pthread_cond_signal(&w->work_cv);
	}
	pthread_mutex_unlock(&w->lock);
	return rc;
}

/* A refused producer should not pay for copying and CRCing 64 KiB first;
 * the authoritative check is the one in enqueue(). */
static int refused_fast(const struct wal *w)
{
	switch ((enum wal_state)atomic_load(&w->st_state)) {
	case WAL_STATE_DISK_FULL: return -ENOSPC;
	case WAL_STATE_IO_ERROR: return -EIO;
	case WAL_STATE_READ_ONLY: return -EROFS;
	default: return 0;
	}
}

int wal_append_vec(struct wal *w, const struct iovec *iov, int iovcnt, wal_done_fn done, void *arg)
{
	struct wal__node *n;
	size_t len = 0, at = 0;
	int rc;

	/* Lengths are checked before anything is allocated or read. */
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > WAL_RECORD_MAX - len)
			return -EMSGSIZE;
		len += iov[i].iov_len;
	}
	if (len == 0)
		return -EINVAL;
	rc = refused_fast(w);
	if (rc != 0)
		return rc;
	n = malloc(sizeof *n + len);
	if (!n)
		return -ENOMEM;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > 0)
			memcpy(n->payload + at, iov[i].iov_base, iov[i].iov_len);
		at += iov[i].iov_len;
	}
	n->next = NULL;
	n->done = done;
	n->arg = arg;
	n->roll = NULL;
	n->len = (uint32_t)len;
	/* CRC here, on the producer's core: the writer only adds 20 bytes. */
	n->crc = crc32c(0, n->payload, len);
	rc = enqueue(w, n);
	if (rc != 0)
		free(n);
	return rc;
}

int wal_append(struct wal *w, const void *payload, size_t len, wal_done_fn done, void *arg)
{
	struct iovec iov = {.iov_base = (void *)payload, .iov_len = len};

	return wal_append_vec(w, &iov, 1, done, arg);
}

int wal_roll(struct wal *w, uint64_t *pos)
{
	struct wal__roll req = {0};
	struct wal__node *n = calloc(1, sizeof *n);
	int rc;

	if (!n)
		return -ENOMEM;
	n->roll = &req;
	rc = enqueue(w, n);
	if (rc != 0) {
		free(n);
		return rc;
	}
	/* The writer handles the marker in queue order: everything before
	 * it is committed to the old segment when finished is set. */
	pthread_mutex_lock(&w->lock);
	while (!req.finished)
		pthread_cond_wait(&w->roll_cv, &w->lock);
	pthread_mutex_unlock(&w->lock);
	if (req.rc == 0 && pos)
		*pos = req.pos;
	return req.rc;
}

uint64_t wal_pos_after(uint64_t pos, size_t len)
{
	return pos + WAL_FRAME_SIZE + len;
}

/* ---- trim and stats ------------------------------------------------------ */

/* Whether segment seq lies wholly before before_pos. Only called for
 * segments older than the active one, which never change size again. */
static int segment_before(const struct wal *w, uint64_t seq, uint64_t before_pos, bool *yes)
{
	char path[PATH_MAX];
	struct stat st;
	int rc;

	*yes = seq < (before_pos >> 32);
	if (seq != (before_pos >> 32))
		return 0;
	rc = wal__segment_path(w, seq, false, path, sizeof path);
	if (rc != 0)
		return rc;
	if (stat(path, &st) != 0)
		return -errno;
	/* A before_pos at the segment's very end (wal_pos_after() of its
	 * last record) lets it go. */
	*yes = (uint64_t)st.st_size <= (uint32_t)before_pos;
	return 0;
}

static int trim_locked(struct wal *w, uint64_t active, uint64_t before_pos, size_t *deleted)
{
	char path[PATH_MAX];
	uint64_t *seqs = NULL;
	size_t n = 0;
	bool before;
	int rc = wal__list_segments(w, &seqs, &n);

	/* Oldest first (invariant 4): a crash part way leaves no hole that
	 * replay would take for a lost segment. */
	for (size_t i = 0; rc == 0 && i < n && seqs[i] < active; i++) {
		rc = segment_before(w, seqs[i], before_pos, &before);
		if (rc != 0 || !before)
			break;
		rc = wal__segment_path(w, seqs[i], false, path, sizeof path);
		if (rc == 0)
			rc = w->io->unlink(path);
		if (rc == 0)
			++*deleted;
	}
	free(seqs);
	return rc;
}

int wal_trim(struct wal *w, uint64_t before_pos)
{
	uint64_t active;
	size_t deleted = 0;
	int rc, src = 0;

	pthread_mutex_lock(&w->trim_lock);
	/* Segments older than the active one never change again, so what is
	 * decided below stays true while the writer goes on appending. */
	pthread_mutex_lock(&w->lock);
	active = w->running ? w->active_seq : 0;
	pthread_mutex_unlock(&w->lock);
	if (active == 0) {
		rc = -EAGAIN;
		goto out;
	}
	rc = trim_locked(w, active, before_pos, &deleted);
	if (deleted > 0) {
		atomic_fetch_sub(&w->st_segments, deleted);
		/* Losing a deletion to a crash only brings back segments the
		 * store no longer needs: report the failure, stay writable. */
		if (w->sync != WAL_SYNC_OFF)
			src = wal__fsync_dir(w, false);
		log_debug("wal", "trimmed %zu segment(s) before %" PRIu64 ":%" PRIu64, deleted,
			  before_pos >> 32, before_pos & 0xffffffffu);
	}
	if (rc == 0)
		rc = src;
	if (rc != 0)
		log_warn("wal", "%s: trim failed: %s", w->dir, hs_strerror(rc));
out:
	pthread_mutex_unlock(&w->trim_lock);
	return rc;
}

/* Each field is read on its own: a snapshot for /metrics, not a
 * transaction (records and commits may disagree by one group). */
void wal_stats(const struct wal *w, struct wal_stats *st)
{
	st->records = atomic_load(&w->st_records);
	st->payload_bytes = atomic_load(&w->st_payload_bytes);
	st->failed_records = atomic_load(&w->st_failed_records);
	st->write_bytes = atomic_load(&w->st_write_bytes);
	st->commits = atomic_load(&w->st_commits);
	st->fsyncs = atomic_load(&w->st_fsyncs);
	st->fsync_ns = atomic_load(&w->st_fsync_ns);
	st->queue_records = atomic_load(&w->st_queue_records);
	st->queue_bytes = atomic_load(&w->st_queue_bytes);
	st->segments = atomic_load(&w->st_segments);
	st->active_seq = atomic_load(&w->st_active_seq);
	st->state = (enum wal_state)atomic_load(&w->st_state);
}

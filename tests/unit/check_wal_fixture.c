/* check_wal_fixture.c: what the WAL tests share: a fault-injecting io table, temp directories, deterministic payloads, helpers.
 * Part of the check_wal program (one Suite); the declarations are in check_wal_fixture.h. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/crc32c.h"
#include "lib/endian.h"
#include "lib/hs_error.h"
#include "lib/log.h"
#include "tests/unit/check_wal_fixture.h"

char base_dir[PATH_MAX];
char wal_dir[PATH_MAX];
char log_path[PATH_MAX];
uint64_t seed = 20240601;

/* ---- fault-injecting io table -------------------------------------------- */

struct wal_faults fx = {.gate_lock = PTHREAD_MUTEX_INITIALIZER,
			.gate_cv = PTHREAD_COND_INITIALIZER};

static int t_open(const char *path, int flags, mode_t mode)
{
	size_t n = strlen(path);
	int err = atomic_load(&fx.tmp_open_err);

	if (err && n > 8 && strcmp(path + n - 8, ".wal.tmp") == 0)
		return err;
	return io_default.open(path, flags, mode);
}

static ssize_t t_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	size_t max = atomic_load(&fx.short_max);
	int err = atomic_load(&fx.pwrite_err);

	atomic_fetch_add(&fx.n_pwrite, 1);
	if (err) {
		if (atomic_load(&fx.pwrite_skip) <= 0)
			return err;
		atomic_fetch_sub(&fx.pwrite_skip, 1);
	}
	if (atomic_load(&fx.pwrite_zero))
		return 0;
	if (max && len > max)
		len = max;
	return io_default.pwrite(fd, buf, len, off);
}

static void gate_pass(void)
{
	pthread_mutex_lock(&fx.gate_lock);
	while (fx.gate_closed)
		pthread_cond_wait(&fx.gate_cv, &fx.gate_lock);
	pthread_mutex_unlock(&fx.gate_lock);
}

void gate_set(bool closed)
{
	pthread_mutex_lock(&fx.gate_lock);
	fx.gate_closed = closed;
	pthread_cond_broadcast(&fx.gate_cv);
	pthread_mutex_unlock(&fx.gate_lock);
}

static int t_fdatasync(int fd)
{
	int err = atomic_exchange(&fx.fdatasync_err, 0);
	unsigned delay = atomic_load(&fx.sync_delay_us);

	atomic_fetch_add(&fx.n_fdatasync, 1);
	gate_pass();
	if (delay)
		usleep(delay);
	if (err)
		return err;
	return atomic_load(&fx.real_sync) ? io_default.fdatasync(fd) : 0;
}

static int t_fsync(int fd)
{
	atomic_fetch_add(&fx.n_fsync, 1);
	return atomic_load(&fx.real_sync) ? io_default.fsync(fd) : 0;
}

struct io_ops test_io;

void fx_reset(void)
{
	atomic_store(&fx.pwrite_err, 0);
	atomic_store(&fx.pwrite_skip, 0);
	atomic_store(&fx.pwrite_zero, 0);
	atomic_store(&fx.short_max, 0);
	atomic_store(&fx.fdatasync_err, 0);
	atomic_store(&fx.tmp_open_err, 0);
	atomic_store(&fx.real_sync, false);
	atomic_store(&fx.sync_delay_us, 0);
	atomic_store(&fx.n_pwrite, 0);
	atomic_store(&fx.n_fdatasync, 0);
	atomic_store(&fx.n_fsync, 0);
	gate_set(false);
	test_io = io_default;
	test_io.open = t_open;
	test_io.pwrite = t_pwrite;
	test_io.fdatasync = t_fdatasync;
	test_io.fsync = t_fsync;
}

/* ---- directories and fixtures --------------------------------------------- */

/* snprintf into a PATH_MAX buffer, failing the test if it does not fit. */
void pathf(char *out, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, PATH_MAX, fmt, ap);
	va_end(ap);
	ck_assert_int_ge(n, 0);
	ck_assert_int_lt(n, PATH_MAX);
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	return ftw->level == 0 ? 0 : remove(path);
}

void empty_dir(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The directory lives for a whole TCase (unchecked fixture, so it goes
 * even when a forked test dies); each test starts with it empty. */
void dir_create(void)
{
	const char *base = getenv("TMPDIR");

	pathf(base_dir, "%s/check_wal.XXXXXX", base && base[0] ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(base_dir));
	pathf(wal_dir, "%s/wal", base_dir);
	pathf(log_path, "%s/wal.log", base_dir);
}

void dir_remove(void)
{
	empty_dir(base_dir);
	rmdir(base_dir);
}

void setup(void)
{
	empty_dir(base_dir);
	fx_reset();
	ck_assert_int_eq(log_open(log_path), 0);
	log_set_level(HS_LOG_INFO);
}

void teardown(void)
{
	log_close();
	gate_set(false);
}

/* An empty WAL directory (the log file next to it stays). */
void fresh_wal_dir(void)
{
	empty_dir(wal_dir);
	ck_assert_msg(mkdir(wal_dir, 0750) == 0 || errno == EEXIST, "mkdir %s: %s", wal_dir,
		      strerror(errno));
}

void seg_path(char *out, uint64_t seq)
{
	pathf(out, "%s/%020" PRIu64 ".wal", wal_dir, seq);
}

bool file_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

int64_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

unsigned char *read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	int64_t size = file_size(path);
	unsigned char *buf;

	ck_assert_msg(fd >= 0 && size >= 0, "open %s: %s", path, strerror(errno));
	buf = malloc((size_t)size + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(pread(fd, buf, (size_t)size, 0), size);
	close(fd);
	*len = (size_t)size;
	return buf;
}

void write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0640);

	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

int count_segments(void)
{
	int n = 0;
	for (uint64_t s = 1; s < 1000; s++) {
		char p[PATH_MAX];
		seg_path(p, s);
		n += file_exists(p);
	}
	return n;
}

void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* ---- deterministic payloads ----------------------------------------------- */

uint64_t mix(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

size_t rec_len(uint64_t id, size_t lo, size_t hi)
{
	return lo + (size_t)(mix(seed ^ (id * 7919)) % (hi - lo + 1));
}

void rec_fill(uint64_t id, unsigned char *buf, size_t len)
{
	uint64_t x = mix(seed + id);
	for (size_t i = 0; i < len; i++) {
		if (i % 8 == 0)
			x = mix(x);
		buf[i] = (unsigned char)(x >> (8 * (i % 8)));
	}
}

/* ---- opening, appending, replaying ---------------------------------------- */

struct wal_options opts(void)
{
	return (struct wal_options){.dir = wal_dir, .sync = WAL_SYNC_COMMIT, .io = &test_io,
				    .probe_interval_ms = 10, .sync_interval_ms = 20};
}

int collect(void *arg, const void *payload, size_t len, uint64_t pos)
{
	struct got *g = arg;

	if (g->n == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 64;
		g->v = realloc(g->v, g->cap * sizeof *g->v);
		ck_assert_ptr_nonnull(g->v);
	}
	g->v[g->n].pos = pos;
	g->v[g->n].len = len;
	g->v[g->n].data = malloc(len);
	ck_assert_ptr_nonnull(g->v[g->n].data);
	memcpy(g->v[g->n].data, payload, len);
	g->n++;
	return 0;
}

void got_free(struct got *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->v[i].data);
	free(g->v);
	memset(g, 0, sizeof *g);
}

/* Open and replay from pos; returns replay's result (the WAL is open
 * either way; *out may be closed by the caller). */
int open_replay(const struct wal_options *o, uint64_t from, struct got *g,
		       struct wal_replay_report *rep, struct wal **out)
{
	char err[WAL_ERROR_MAX];
	int rc = wal_open(o, out, err);

	ck_assert_msg(rc == 0, "wal_open: %s", err);
	return wal_replay(*out, from, g ? collect : NULL, g, rep);
}

struct wal *open_ok(const struct wal_options *o, struct got *g)
{
	struct wal_replay_report rep;
	struct wal *w;
	int rc = open_replay(o, 0, g, &rep, &w);

	ck_assert_msg(rc == 0, "wal_replay: %d %s", rc, rep.error);
	return w;
}

void waiter_done(void *arg, int status)
{
	struct waiter *wt = arg;

	pthread_mutex_lock(&wt->m);
	wt->syncs_at_done = atomic_load(&fx.n_fdatasync);
	wt->status = status;
	wt->fired = true;
	pthread_cond_signal(&wt->c);
	pthread_mutex_unlock(&wt->m);
}

void waiter_init(struct waiter *wt)
{
	memset(wt, 0, sizeof *wt);
	pthread_mutex_init(&wt->m, NULL);
	pthread_cond_init(&wt->c, NULL);
}

int waiter_wait(struct waiter *wt)
{
	pthread_mutex_lock(&wt->m);
	while (!wt->fired)
		pthread_cond_wait(&wt->c, &wt->m);
	pthread_mutex_unlock(&wt->m);
	pthread_mutex_destroy(&wt->m);
	pthread_cond_destroy(&wt->c);
	return wt->status;
}

/* Append and wait for done(); returns the append error or the status. */
int append_wait(struct wal *w, const void *p, size_t len)
{
	struct waiter wt;
	int rc;

	waiter_init(&wt);
	rc = wal_append(w, p, len, waiter_done, &wt);
	if (rc != 0) {
		pthread_mutex_destroy(&wt.m);
		pthread_cond_destroy(&wt.c);
		return rc;
	}
	return waiter_wait(&wt);
}

/* Append record id (deterministic content) and wait; asserts success. */
void append_id(struct wal *w, uint64_t id, size_t len)
{
	unsigned char *buf = malloc(len);
	int rc;

	ck_assert_ptr_nonnull(buf);
	rec_fill(id, buf, len);
	rc = append_wait(w, buf, len);
	ck_assert_msg(rc == 0, "append %" PRIu64 ": %s", id, hs_strerror(rc));
	free(buf);
}

void check_rec(const struct got *g, size_t i, uint64_t id, size_t len)
{
	unsigned char *buf = malloc(len);

	ck_assert_ptr_nonnull(buf);
	rec_fill(id, buf, len);
	ck_assert_uint_lt(i, g->n);
	ck_assert_uint_eq(g->v[i].len, len);
	ck_assert_msg(memcmp(g->v[i].data, buf, len) == 0, "record %zu (id %" PRIu64 ") differs", i, id);
	free(buf);
}

/* Records ids 0..n-1 with lengths rec_len(id, lo, hi), each its own commit. */
void write_ids(struct wal *w, uint64_t first, uint64_t n, size_t lo, size_t hi)
{
	for (uint64_t id = first; id < first + n; id++)
		append_id(w, id, rec_len(id, lo, hi));
}

void check_ids(const struct got *g, size_t at, uint64_t first, uint64_t n, size_t lo, size_t hi)
{
	for (uint64_t id = first; id < first + n; id++)
		check_rec(g, at + (id - first), id, rec_len(id, lo, hi));
}

/* Independent encoder of the v1 format (wal_format.h), for fixtures. */
size_t fx_header(unsigned char *p, uint64_t seq, uint64_t salt)
{
	memset(p, 0, HDR);
	memcpy(p, "HSWAL\r\n\x1a", 8);
	put_le32(p + 8, 1);
	put_le32(p + 12, 48);
	put_le64(p + 16, seq);
	put_le64(p + 24, 1700000000000000000ull);
	put_le64(p + 32, salt);
	put_le32(p + 44, crc32c(0, p, 44));
	return HDR;
}

uint32_t fx_crc(const unsigned char *payload, size_t len, uint32_t word, uint64_t seq,
		       uint64_t salt)
{
	unsigned char t[20];

	put_le32(t, word);
	put_le64(t + 4, seq);
	put_le64(t + 12, salt);
	return crc32c(crc32c(0, payload, len), t, sizeof t);
}

size_t fx_record(unsigned char *p, const void *payload, size_t len, uint32_t flags,
			uint64_t seq, uint64_t salt)
{
	uint32_t word = (uint32_t)len | flags;

	put_le32(p, word);
	memcpy(p + 8, payload, len);
	put_le32(p + 4, fx_crc(p + 8, len, word, seq, salt));
	return 8 + len;
}

/* ---- group commit and suite helpers ------------------------------------- */

void ctx_done(void *arg, int status)
{
	struct rec_ctx *c = arg;

	atomic_fetch_add(&c->calls, 1);
	if (status != 0)
		atomic_store(&c->status, status);
}

TCase *tcase(Suite *s, const char *name, int timeout)
{
	TCase *tc = tcase_create(name);

	tcase_add_unchecked_fixture(tc, dir_create, dir_remove);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, timeout);
	suite_add_tcase(s, tc);
	return tc;
}

/* check_store.c: unit tests for the storage engine through its public header (storage/store.h).
 * Appends, seals, reopen with WAL replay, out-of-order and overlapping chunks, neighbours, pre-aggregates, types. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <dirent.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include "lib/hs_error.h"
#include "lib/log.h"
#include "storage/io.h"
#include "storage/store.h"

#define SEC 1000000000LL
#define T0 (1764000000LL * SEC) /* 2025-11-24T16:00:00Z */

static char dir[256];

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/hs-store-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	log_set_level(HS_LOG_WARN);
}

static void teardown(void)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Fault injection: while disk_full is set every write fails with ENOSPC;
 * while fsync_fails is set every fdatasync fails with EIO. */
static volatile int disk_full, fsync_fails;

static ssize_t faulty_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	return disk_full ? -ENOSPC : io_default.pwrite(fd, buf, len, off);
}

static int faulty_fdatasync(int fd)
{
	return fsync_fails ? -EIO : io_default.fdatasync(fd);
}

static struct io_ops faulty;

static struct store *open_store_io(const struct io_ops *io)
{
	struct store_options o;
	struct store *st;
	char err[STORE_ERROR_MAX];

	store_options_init(&o);
	o.data_dir = dir;
	o.io = io;
	o.wal_probe_interval_ms = 20;
	o.wal_sync = STORE_WAL_SYNC_OFF;
	o.seal_interval_ns = 3600 * SEC; /* tests seal by hand */
	if (io)
		o.wal_sync = STORE_WAL_SYNC_COMMIT; /* so fdatasync faults matter */
	int rc = store_open(&o, &st, err);
	ck_assert_msg(rc == 0, "store_open: %s", err);
	return st;
}

static struct store *open_store(void)
{
	return open_store_io(NULL);
}

static uint32_t tag(struct store *st, const char *name, enum value_type type)
{
	uint32_t id;
	ck_assert_int_eq(store_tag_resolve(st, name, strlen(name), type, NULL, 0, &id, NULL), 0);
	return id;
}

static void put_f64(struct store *st, uint32_t id, int64_t ts, double v)
{
	struct store_sample s = {.tag_id = id, .ts_ns = ts, .v.f64 = v};
	ck_assert_int_eq(store_append_wait(st, &s, 1), 0);
}

/* Every sample of id in [t0, t1) into ts/v (at most cap). */
static size_t scan_f64(struct store *st, uint32_t id, int64_t t0, int64_t t1, int64_t *ts,
		       double *v, size_t cap)
{
	struct store_scan *sc;
	struct store_block b;
	size_t n = 0;
	int rc;

	ck_assert_int_eq(store_scan_open(st, id, t0, t1, &sc), 0);
	while ((rc = store_scan_next(sc, &b)) == 1) {
		for (size_t i = 0; i < b.count; i++) {
			if (n > 0)
				ck_assert_int_gt(b.ts_ns[i], ts[n - 1]);
			ck_assert_uint_lt(n, cap);
			ts[n] = b.ts_ns[i];
			v[n++] = b.f64[i];
		}
	}
	ck_assert_int_eq(rc, 0);
	store_scan_close(sc);
	return n;
}

START_TEST(test_tags)
{
	struct store *st = open_store();
	uint32_t a, b, id;
	enum value_type t;

	a = tag(st, "boiler.temp", VALUE_FLOAT64);
	b = tag(st, "pump.running", VALUE_BOOL);
	ck_assert_uint_ne(a, b);
	ck_assert_uint_eq(tag(st, "boiler.temp", VALUE_FLOAT64), a);
	ck_assert_int_eq(store_tag_resolve(st, "boiler.temp", 11, VALUE_INT64, NULL, 0, &id, &t),
			 HS_ETYPE);
	ck_assert_int_eq(t, VALUE_FLOAT64);
	ck_assert_int_eq(store_tag_resolve(st, "", 0, VALUE_INT64, NULL, 0, &id, &t), -EINVAL);
	ck_assert_int_eq(store_tag_resolve(st, "\xff", 1, VALUE_INT64, NULL, 0, &id, &t), -EINVAL);
	ck_assert_int_eq(store_tag_find(st, "nope", 4, &id, &t), -ENOENT);
	store_close(st);
	st = open_store();
	ck_assert_int_eq(store_tag_find(st, "pump.running", 12, &id, &t), 0);
	ck_assert_uint_eq(id, b);
	ck_assert_int_eq(t, VALUE_BOOL);
	store_close(st);
}
END_TEST

START_TEST(test_tags_in_bulk)
{
	struct store *st = open_store();
	const struct store_label site = {"site", "north"};
	uint32_t old = tag(st, "old.int", VALUE_INT64), ids[5];
	int status[5];
	const struct store_tag_spec specs[] = {
		{"new.a", 5, VALUE_FLOAT64, &site, 1},
		{"old.int", 7, VALUE_FLOAT64, NULL, 0}, /* exists as int64 */
		{"", 0, VALUE_FLOAT64, NULL, 0},        /* invalid */
		{"new.a", 5, VALUE_FLOAT64, NULL, 0},   /* twice in one batch */
		{"new.b", 5, VALUE_BOOL, NULL, 0},
	};
	uint32_t id;
	enum value_type t;

	ck_assert_int_eq(store_tags_resolve(st, specs, 5, ids, status), 0);
	ck_assert_int_eq(status[0], 0);
	ck_assert_int_eq(status[1], HS_ETYPE);
	ck_assert_uint_eq(ids[1], old);
	ck_assert_int_eq(status[2], -EINVAL);
	ck_assert_int_eq(status[3], 0);
	ck_assert_uint_eq(ids[3], ids[0]);
	ck_assert_int_eq(status[4], 0);
	ck_assert_uint_ne(ids[4], ids[0]);
	store_close(st);
	st = open_store();
	ck_assert_int_eq(store_tag_find(st, "new.b", 5, &id, &t), 0);
	ck_assert_uint_eq(id, ids[4]);
	ck_assert_int_eq(t, VALUE_BOOL);
	store_close(st);
}
END_TEST

START_TEST(test_append_seal_reopen)
{
	struct store *st = open_store();
	uint32_t id = tag(st, "t", VALUE_FLOAT64);
	struct store_sample batch[1000];
	static int64_t ts[5000];
	static double v[5000];

	for (int i = 0; i < 1000; i++)
		batch[i] = (struct store_sample){.tag_id = id, .ts_ns = T0 + i * SEC, .v.f64 = i * 0.5};
	ck_assert_int_eq(store_append_wait(st, batch, 1000), 0);
	ck_assert_uint_eq(scan_f64(st, id, T0, T0 + 1000 * SEC, ts, v, 5000), 1000);
	ck_assert_int_eq(store_seal_now(st), 0);
	ck_assert_uint_eq(scan_f64(st, id, T0, T0 + 1000 * SEC, ts, v, 5000), 1000);
	/* More after the seal stay in the head, and in the WAL only. */
	for (int i = 0; i < 1000; i++)
		batch[i] = (struct store_sample){.tag_id = id, .ts_ns = T0 + (1000 + i) * SEC,
						 .v.f64 = -i};
	ck_assert_int_eq(store_append_wait(st, batch, 1000), 0);
	store_close(st);
	st = open_store();
	ck_assert_uint_eq(scan_f64(st, id, INT64_MIN, INT64_MAX, ts, v, 5000), 2000);
	for (int i = 0; i < 2000; i++) {
		ck_assert_int_eq(ts[i], T0 + i * SEC);
		ck_assert_double_eq(v[i], i < 1000 ? i * 0.5 : -(i - 1000));
	}
	/* Range edges: start inclusive, end exclusive. */
	ck_assert_uint_eq(scan_f64(st, id, T0 + 10 * SEC, T0 + 20 * SEC, ts, v, 5000), 10);
	ck_assert_int_eq(ts[0], T0 + 10 * SEC);
	ck_assert_uint_eq(scan_f64(st, id, T0 + 990 * SEC, T0 + 1010 * SEC, ts, v, 5000), 20);
	store_close(st);
}
END_TEST

START_TEST(test_late_samples_overlap_last_write_wins)
{
	struct store *st = open_store();
	uint32_t id = tag(st, "late", VALUE_FLOAT64);
	int64_t ts[100];
	double v[100];

	for (int i = 0; i < 10; i++)
		put_f64(st, id, T0 + i * 10 * SEC, i);
	ck_assert_int_eq(store_seal_now(st), 0);
	/* A late sample between two sealed ones and a rewrite of a sealed time. */
	put_f64(st, id, T0 + 15 * SEC, 1.5);
	put_f64(st, id, T0 + 30 * SEC, 33);
	ck_assert_uint_eq(scan_f64(st, id, T0, T0 + 100 * SEC, ts, v, 100), 11);
	ck_assert_int_eq(ts[2], T0 + 15 * SEC);
	ck_assert_double_eq(v[2], 1.5);
	ck_assert_double_eq(v[4], 33);
	ck_assert_int_eq(store_seal_now(st), 0); /* now two overlapping chunks */
	ck_assert_uint_eq(scan_f64(st, id, T0, T0 + 100 * SEC, ts, v, 100), 11);
	ck_assert_double_eq(v[2], 1.5);
	ck_assert_double_eq(v[4], 33);
	store_close(st);
	st = open_store();
	ck_assert_uint_eq(scan_f64(st, id, T0, T0 + 100 * SEC, ts, v, 100), 11);
	ck_assert_double_eq(v[4], 33);
	store_close(st);
}
END_TEST

START_TEST(test_neighbours)
{
	struct store *st = open_store();
	uint32_t id = tag(st, "n", VALUE_FLOAT64);
	struct store_scan *sc;
	struct store_point p;

	put_f64(st, id, T0, 1);
	put_f64(st, id, T0 + 100 * SEC, 2);
	ck_assert_int_eq(store_seal_now(st), 0);
	put_f64(st, id, T0 + 200 * SEC, 3);
	ck_assert_int_eq(store_scan_open(st, id, T0 + 50 * SEC, T0 + 150 * SEC, &sc), 0);
	ck_assert_int_eq(store_scan_before(sc, &p), 1);
	ck_assert_int_eq(p.ts_ns, T0);
	ck_assert_double_eq(p.f64, 1);
	ck_assert_int_eq(store_scan_after(sc, &p), 1);
	ck_assert_int_eq(p.ts_ns, T0 + 200 * SEC);
	ck_assert_double_eq(p.f64, 3);
	store_scan_close(sc);
	/* After is "at or after t1"; before is strictly before t0. */
	ck_assert_int_eq(store_scan_open(st, id, T0 + 100 * SEC, T0 + 100 * SEC, &sc), 0);
	ck_assert_int_eq(store_scan_before(sc, &p), 1);
	ck_assert_int_eq(p.ts_ns, T0);
	ck_assert_int_eq(store_scan_after(sc, &p), 1);
	ck_assert_int_eq(p.ts_ns, T0 + 100 * SEC);
	store_scan_close(sc);
	ck_assert_int_eq(store_scan_open(st, id, T0 - 10, T0 + 300 * SEC, &sc), 0);
	ck_assert_int_eq(store_scan_before(sc, &p), 0);
	ck_assert_int_eq(store_scan_after(sc, &p), 0);
	store_scan_close(sc);
	store_close(st);
}
END_TEST

struct stats_sum {
	double sum;
	uint64_t count;
	unsigned chunks, overlapping;
};

static int add_stats(void *arg, const struct store_chunk_stats *s)
{
	struct stats_sum *acc = arg;
	acc->chunks++;
	if (s->flags & STORE_CHUNK_OVERLAPS) {
		acc->overlapping++;
		return 0;
	}
	acc->sum += s->sum;
	acc->count += s->count;
	return 0;
}

START_TEST(test_chunk_stats)
{
	struct store *st = open_store();
	uint32_t id = tag(st, "s", VALUE_FLOAT64);
	struct store_sample batch[3600];
	struct stats_sum acc = {0};

	for (int h = 0; h < 3; h++) {
		for (int i = 0; i < 3600; i++)
			batch[i] = (struct store_sample){.tag_id = id,
							 .ts_ns = T0 + (h * 3600 + i) * SEC,
							 .v.f64 = i % 7};
		ck_assert_int_eq(store_append_wait(st, batch, 3600), 0);
		ck_assert_int_eq(store_seal_now(st), 0);
	}
	ck_assert_int_eq(store_chunk_stats(st, id, T0, T0 + 3 * 3600 * SEC, add_stats, &acc), 0);
	ck_assert_uint_eq(acc.chunks, 3);
	ck_assert_uint_eq(acc.overlapping, 0);
	ck_assert_uint_eq(acc.count, 3 * 3600);
	double want = 0;
	for (int i = 0; i < 3600; i++)
		want += i % 7;
	ck_assert_double_eq_tol(acc.sum, 3 * want, 1e-9);
	/* A late sample inside the second hour marks that chunk. */
	put_f64(st, id, T0 + 3600 * SEC + SEC / 2, 100);
	memset(&acc, 0, sizeof acc);
	ck_assert_int_eq(store_chunk_stats(st, id, T0, T0 + 3 * 3600 * SEC, add_stats, &acc), 0);
	ck_assert_uint_eq(acc.overlapping, 1);
	store_close(st);
}
END_TEST

START_TEST(test_every_type_through_a_seal)
{
	struct store *st = open_store();
	uint32_t i64 = tag(st, "count", VALUE_INT64), b = tag(st, "on", VALUE_BOOL),
		 s = tag(st, "state", VALUE_STRING), f = tag(st, "nan", VALUE_FLOAT64);
	const char *words[] = {"open", "closed", "", "fault \xe2\x9a\xa0"};
	struct store_sample in[40];
	struct store_scan *sc;
	struct store_block blk;

	for (int k = 0; k < 10; k++) {
		in[k] = (struct store_sample){.tag_id = i64, .ts_ns = T0 + k * SEC, .v.i64 = INT64_MIN + k};
		in[10 + k] = (struct store_sample){.tag_id = b, .ts_ns = T0 + k * SEC, .v.b = k % 3 == 0,
						   .quality = QUALITY_BAD};
		in[20 + k] = (struct store_sample){.tag_id = s, .ts_ns = T0 + k * SEC};
		in[20 + k].v.s.ptr = words[k % 4];
		in[20 + k].v.s.len = (uint32_t)strlen(words[k % 4]);
		in[30 + k] = (struct store_sample){.tag_id = f, .ts_ns = T0 + k * SEC,
						   .v.f64 = k % 2 ? NAN : -0.0};
	}
	ck_assert_int_eq(store_append_wait(st, in, 40), 0);
	for (int pass = 0; pass < 2; pass++) {
		ck_assert_int_eq(store_scan_open(st, s, T0, T0 + 10 * SEC, &sc), 0);
		size_t n = 0;
		while (store_scan_next(sc, &blk) == 1)
			for (size_t k = 0; k < blk.count; k++, n++) {
				ck_assert_uint_eq(blk.str_len[k], strlen(words[n % 4]));
				ck_assert_int_eq(memcmp(blk.str[k], words[n % 4], blk.str_len[k]), 0);
			}
		ck_assert_uint_eq(n, 10);
		store_scan_close(sc);
		ck_assert_int_eq(store_scan_open(st, b, T0, T0 + 10 * SEC, &sc), 0);
		ck_assert_int_eq(store_scan_next(sc, &blk), 1);
		ck_assert_uint_eq(blk.count, 10);
		for (size_t k = 0; k < 10; k++) {
			ck_assert_int_eq(blk.i64[k], k % 3 == 0);
			ck_assert_uint_eq(blk.quality[k], QUALITY_BAD);
		}
		store_scan_close(sc);
		ck_assert_int_eq(store_scan_open(st, i64, T0, T0 + 10 * SEC, &sc), 0);
		ck_assert_int_eq(store_scan_next(sc, &blk), 1);
		ck_assert_int_eq(blk.i64[9], INT64_MIN + 9);
		store_scan_close(sc);
		ck_assert_int_eq(store_scan_open(st, f, T0, T0 + 10 * SEC, &sc), 0);
		ck_assert_int_eq(store_scan_next(sc, &blk), 1);
		ck_assert(signbit(blk.f64[0]) && blk.f64[0] == 0);
		ck_assert(isnan(blk.f64[1]));
		store_scan_close(sc);
		ck_assert_int_eq(store_seal_now(st), 0);
		store_close(st);
		st = open_store();
	}
	store_close(st);
}
END_TEST

START_TEST(test_partitions)
{
	struct store *st = open_store();
	uint32_t id = tag(st, "p", VALUE_FLOAT64);
	int64_t week = 7 * 86400 * SEC, ts[10];
	double v[10];

	/* Samples across three weekly partitions, appended newest first. */
	put_f64(st, id, 2 * week + 5, 3);
	put_f64(st, id, week + 5, 2);
	put_f64(st, id, 5, 1);
	ck_assert_int_eq(store_seal_now(st), 0);
	store_close(st);
	st = open_store();
	ck_assert_uint_eq(scan_f64(st, id, 0, 3 * week, ts, v, 10), 3);
	ck_assert_double_eq(v[0], 1);
	ck_assert_double_eq(v[2], 3);
	ck_assert_uint_eq(scan_f64(st, id, week, 2 * week, ts, v, 10), 1);
	store_close(st);
}
END_TEST

START_TEST(test_unknown_tag_and_empty_batch)
{
	struct store *st = open_store();
	struct store_sample s = {.tag_id = 12345, .ts_ns = 1};
	struct store_scan *sc;

	ck_assert_int_eq(store_append(st, &s, 1, NULL, NULL), -ENOENT);
	ck_assert_int_eq(store_append(st, &s, 0, NULL, NULL), -EINVAL);
	ck_assert_int_eq(store_scan_open(st, 12345, 0, 1, &sc), -ENOENT);
	ck_assert_int_eq(store_seal_now(st), 0); /* nothing to seal is fine */
	store_close(st);
}
END_TEST

START_TEST(test_disk_full_refuses_then_resumes)
{
	struct store *st;
	uint32_t id;
	struct store_sample smp = {.ts_ns = T0, .v.f64 = 1};
	int64_t ts[100];
	double v[100];
	int rc = -1;

	faulty = io_default;
	faulty.pwrite = faulty_pwrite;
	st = open_store_io(&faulty);
	id = tag(st, "f", VALUE_FLOAT64);
	smp.tag_id = id;
	ck_assert_int_eq(store_append_wait(st, &smp, 1), 0);
	disk_full = 1;
	smp.ts_ns = T0 + SEC;
	ck_assert_int_eq(store_append_wait(st, &smp, 1), -ENOSPC); /* the failed commit */
	smp.ts_ns = T0 + 2 * SEC;
	ck_assert_int_eq(store_append(st, &smp, 1, NULL, NULL), -ENOSPC); /* refused at once */
	/* Reads go on; a seal fails and keeps the samples visible. */
	ck_assert_uint_ge(scan_f64(st, id, T0, T0 + 10 * SEC, ts, v, 100), 1);
	ck_assert_int_ne(store_seal_now(st), 0);
	ck_assert_uint_ge(scan_f64(st, id, T0, T0 + 10 * SEC, ts, v, 100), 1);
	ck_assert_int_eq(ts[0], T0);
	/* Space returns: writes resume by themselves. */
	disk_full = 0;
	smp.ts_ns = T0 + 3 * SEC;
	for (int i = 0; i < 200 && rc != 0; i++) {
		rc = store_append_wait(st, &smp, 1);
		if (rc != 0)
			usleep(10000);
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(store_seal_now(st), 0);
	store_close(st);
	st = open_store();
	ck_assert_uint_ge(scan_f64(st, id, T0, T0 + 10 * SEC, ts, v, 100), 2);
	ck_assert_int_eq(ts[0], T0);
	ck_assert_int_eq(ts[scan_f64(st, id, T0, T0 + 10 * SEC, ts, v, 100) - 1], T0 + 3 * SEC);
	store_close(st);
}
END_TEST

START_TEST(test_fsync_failure_turns_read_only)
{
	struct store *st;
	uint32_t id;
	struct store_sample smp = {.ts_ns = T0, .v.f64 = 1};
	int64_t ts[100];
	double v[100];

	faulty = io_default;
	faulty.fdatasync = faulty_fdatasync;
	st = open_store_io(&faulty);
	id = tag(st, "r", VALUE_FLOAT64);
	smp.tag_id = id;
	ck_assert_int_eq(store_append_wait(st, &smp, 1), 0);
	fsync_fails = 1;
	smp.ts_ns = T0 + SEC;
	ck_assert_int_lt(store_append_wait(st, &smp, 1), 0); /* never acknowledged */
	fsync_fails = 0;
	smp.ts_ns = T0 + 2 * SEC;
	ck_assert_int_eq(store_append(st, &smp, 1, NULL, NULL), -EROFS); /* not retried */
	ck_assert_uint_ge(scan_f64(st, id, T0, T0 + 10 * SEC, ts, v, 100), 1);
	store_close(st);
	st = open_store(); /* a restart clears it; the acknowledged sample is there */
	ck_assert_uint_ge(scan_f64(st, id, T0, T0 + 10 * SEC, ts, v, 100), 1);
	ck_assert_int_eq(ts[0], T0);
	smp.ts_ns = T0 + 3 * SEC;
	ck_assert_int_eq(store_append_wait(st, &smp, 1), 0);
	store_close(st);
}
END_TEST

static size_t count_files(void)
{
	char pattern[300];
	size_t n = 0;
	DIR *d;
	struct dirent *e;

	snprintf(pattern, sizeof pattern, "%s/chunks", dir);
	d = opendir(pattern);
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

START_TEST(test_compaction_merges_overlaps)
{
	struct store *st = open_store();
	uint32_t id = tag(st, "c", VALUE_FLOAT64), s = tag(st, "cs", VALUE_STRING);
	static int64_t ts[2000];
	static double v[2000];
	struct stats_sum acc = {0};
	size_t parts;
	struct store_sample str = {.tag_id = s};

	/* Three seals into one partition, the last one rewriting earlier times. */
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 100; i++)
			put_f64(st, id, T0 + (round < 2 ? round * 100 + i : i * 2) * SEC,
				round < 2 ? i : 1000 + i);
		str.ts_ns = T0 + round * SEC;
		str.v.s.ptr = round == 1 ? "one" : "other";
		str.v.s.len = (uint32_t)strlen(str.v.s.ptr);
		ck_assert_int_eq(store_append_wait(st, &str, 1), 0);
		ck_assert_int_eq(store_seal_now(st), 0);
	}
	ck_assert_uint_eq(count_files(), 3);
	size_t n = scan_f64(st, id, T0, T0 + 1000 * SEC, ts, v, 2000);
	ck_assert_uint_eq(n, 200);
	ck_assert_double_eq(v[0], 1000);   /* rewritten by the third seal */
	ck_assert_double_eq(v[1], 1);      /* T0+1s only in the first */
	ck_assert_int_eq(store_compact_now(st, &parts), 0);
	ck_assert_uint_eq(parts, 1);
	ck_assert_uint_eq(count_files(), 1);
	ck_assert_uint_eq(scan_f64(st, id, T0, T0 + 1000 * SEC, ts, v, 2000), n);
	ck_assert_double_eq(v[0], 1000);
	ck_assert_double_eq(v[1], 1);
	ck_assert_double_eq(v[198], 1099); /* T0+198s from the third seal */
	ck_assert_double_eq(v[199], 99);   /* T0+199s only in the second */
	ck_assert_int_eq(store_chunk_stats(st, id, T0, T0 + 1000 * SEC, add_stats, &acc), 0);
	ck_assert_uint_eq(acc.chunks, 1);
	ck_assert_uint_eq(acc.overlapping, 0);
	ck_assert_uint_eq(acc.count, 200);
	store_close(st);
	st = open_store();
	ck_assert_uint_eq(scan_f64(st, id, T0, T0 + 1000 * SEC, ts, v, 2000), n);
	struct store_scan *sc;
	struct store_block b;
	ck_assert_int_eq(store_scan_open(st, s, T0, T0 + 10 * SEC, &sc), 0);
	ck_assert_int_eq(store_scan_next(sc, &b), 1);
	ck_assert_uint_eq(b.count, 3);
	ck_assert_int_eq(memcmp(b.str[1], "one", 3), 0);
	store_scan_close(sc);
	ck_assert_int_eq(store_compact_now(st, &parts), 0); /* nothing left to do */
	{
		/* ...and the catalog's SQLite WAL was checkpointed away. */
		char path[PATH_MAX];
		struct stat sb;
		snprintf(path, sizeof path, "%s/catalog.db-wal", dir);
		ck_assert(stat(path, &sb) != 0 || sb.st_size == 0);
	}
	ck_assert_uint_eq(parts, 0);
	store_close(st);
}
END_TEST

/* A partition one seal wrote (an import) is rewritten once at the
 * compaction's zstd level, then left alone; so is one after a restart. */
START_TEST(test_compaction_rewrites_single_seal_once)
{
	struct store *st = open_store();
	uint32_t id = tag(st, "one", VALUE_FLOAT64);
	static int64_t ts[3000];
	static double v[3000];
	size_t parts;

	for (int i = 0; i < 3000; i++)
		put_f64(st, id, T0 + i * SEC, (double)((i * 7919) % 1013) / 100.0);
	ck_assert_int_eq(store_seal_now(st), 0);
	ck_assert_uint_eq(count_files(), 1);
	ck_assert_int_eq(store_compact_now(st, &parts), 0);
	ck_assert_uint_eq(parts, 1);
	ck_assert_uint_eq(count_files(), 1);
	ck_assert_uint_eq(scan_f64(st, id, T0, T0 + 4000 * SEC, ts, v, 3000), 3000);
	ck_assert_double_eq(v[2999], (double)((2999 * 7919) % 1013) / 100.0);
	ck_assert_int_eq(store_compact_now(st, &parts), 0);
	ck_assert_uint_eq(parts, 0);
	store_close(st);
	st = open_store();
	ck_assert_int_eq(store_compact_now(st, &parts), 0);
	ck_assert_uint_eq(parts, 0);
	ck_assert_uint_eq(scan_f64(st, id, T0, T0 + 4000 * SEC, ts, v, 3000), 3000);
	store_close(st);
}
END_TEST

START_TEST(test_scan_survives_compaction)
{
	struct store *st = open_store();
	uint32_t id = tag(st, "k", VALUE_FLOAT64);
	struct store_scan *sc;
	struct store_block b;
	size_t parts, n = 0;

	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 50; i++)
			put_f64(st, id, T0 + (round * 50 + i) * SEC, i);
		ck_assert_int_eq(store_seal_now(st), 0);
	}
	ck_assert_int_eq(store_scan_open(st, id, T0, T0 + 100 * SEC, &sc), 0);
	/* The files the scan listed are pinned: compaction may not pull them away. */
	ck_assert_int_eq(store_compact_now(st, &parts), 0);
	ck_assert_uint_eq(parts, 1);
	while (store_scan_next(sc, &b) == 1)
		n += b.count;
	ck_assert_uint_eq(n, 100);
	store_scan_close(sc);
	ck_assert_uint_eq(count_files(), 1); /* the old ones went with the last pin */
	store_close(st);
}
END_TEST

START_TEST(test_retention)
{
	static const struct store_retention rules[] = {{"lab.*", 30 * 86400 * SEC},
						       {"*.vib", 90 * 86400 * SEC}};
	struct store_options o;
	struct store *st;
	char err[STORE_ERROR_MAX];
	int64_t week = 7 * 86400 * SEC, day = 86400 * SEC, ts[10];
	double v[10];
	uint32_t lab, vib, temp;

	store_options_init(&o);
	o.data_dir = dir;
	o.wal_sync = STORE_WAL_SYNC_OFF;
	o.retention = rules;
	o.nretention = 2;
	ck_assert_int_eq(store_open(&o, &st, err), 0);
	lab = tag(st, "lab.sample", VALUE_FLOAT64);
	vib = tag(st, "pump.vib", VALUE_FLOAT64);
	temp = tag(st, "pump.temp", VALUE_FLOAT64);
	/* Week 0: only lab and vib. Week 10: lab and temp. Week 20: all three. */
	put_f64(st, lab, 0 * week + day, 1);
	put_f64(st, vib, 0 * week + day, 2);
	put_f64(st, lab, 10 * week + day, 3);
	put_f64(st, temp, 10 * week + day, 4);
	put_f64(st, lab, 20 * week + day, 5);
	put_f64(st, vib, 20 * week + day, 6);
	put_f64(st, temp, 20 * week + day, 7);
	ck_assert_int_eq(store_seal_now(st), 0);
	ck_assert_uint_eq(count_files(), 3);
	/* Now = week 21 + 1 day: lab keeps 30 d (weeks >= 17), vib 90 d
	 * (weeks >= 8), temp forever. */
	ck_assert_int_eq(store_retention_now(st, 21 * week + day), 0);
	ck_assert_uint_eq(count_files(), 2); /* week 0 went whole */
	ck_assert_uint_eq(scan_f64(st, lab, 0, 30 * week, ts, v, 10), 1);
	ck_assert_double_eq(v[0], 5);
	ck_assert_uint_eq(scan_f64(st, vib, 0, 30 * week, ts, v, 10), 1);
	ck_assert_double_eq(v[0], 6);
	ck_assert_uint_eq(scan_f64(st, temp, 0, 30 * week, ts, v, 10), 2);
	store_close(st);
	/* A reopen sees the same: the catalog decided. */
	st = open_store();
	ck_assert_uint_eq(scan_f64(st, lab, 0, 30 * week, ts, v, 10), 1);
	ck_assert_uint_eq(scan_f64(st, temp, 0, 30 * week, ts, v, 10), 2);
	store_close(st);
}
END_TEST

START_TEST(test_string_neighbours_outlive_each_other)
{
	struct store *st = open_store();
	uint32_t id = tag(st, "sn", VALUE_STRING);
	const char *words[] = {"first", "middle", "last"};
	struct store_sample in[3];
	struct store_scan *sc;
	struct store_point before, after;

	for (int i = 0; i < 3; i++) {
		in[i] = (struct store_sample){.tag_id = id, .ts_ns = T0 + i * 100 * SEC};
		in[i].v.s.ptr = words[i];
		in[i].v.s.len = (uint32_t)strlen(words[i]);
		ck_assert_int_eq(store_append_wait(st, &in[i], 1), 0);
		ck_assert_int_eq(store_seal_now(st), 0); /* each in its own chunk */
	}
	ck_assert_int_eq(store_scan_open(st, id, T0 + 50 * SEC, T0 + 150 * SEC, &sc), 0);
	ck_assert_int_eq(store_scan_before(sc, &before), 1);
	ck_assert_int_eq(store_scan_after(sc, &after), 1); /* decodes another chunk */
	ck_assert_uint_eq(before.str_len, 5);
	ck_assert_int_eq(memcmp(before.str, "first", 5), 0);
	ck_assert_int_eq(memcmp(after.str, "last", 4), 0);
	store_scan_close(sc);
	store_close(st);
}
END_TEST


static int count_found(void *arg, uint32_t id, const char *name, enum value_type type)
{
	(void)id;
	(void)name;
	(void)type;
	(*(int *)arg)++;
	return 0;
}

/* store_last: from the head, then from a sealed chunk (cache filled on the
 * first call, kept in step by later seals), a late older sample never
 * wins, an equal time from a later write does, and retention that drops
 * the latest data makes the cache forget it. */
START_TEST(test_last_value)
{
	static const struct store_retention rules[] = {{"old.*", 30 * 86400 * SEC}};
	struct store_options o;
	struct store *st;
	struct store_point p;
	char err[STORE_ERROR_MAX], buf[64];
	int64_t day = 86400 * SEC;
	uint32_t a, b, s;

	store_options_init(&o);
	o.data_dir = dir;
	o.wal_sync = STORE_WAL_SYNC_OFF;
	o.seal_interval_ns = 3600 * SEC;
	o.retention = rules;
	o.nretention = 1;
	ck_assert_int_eq(store_open(&o, &st, err), 0);
	a = tag(st, "a.v", VALUE_FLOAT64);
	b = tag(st, "old.v", VALUE_FLOAT64);
	s = tag(st, "s.text", VALUE_STRING);
	ck_assert_int_eq(store_last(st, a, &p, buf, sizeof buf), 0);
	put_f64(st, a, 10 * SEC, 1.5);
	put_f64(st, a, 20 * SEC, 2.5);
	ck_assert_int_eq(store_last(st, a, &p, buf, sizeof buf), 1);
	ck_assert_int_eq(p.ts_ns, 20 * SEC);
	ck_assert_double_eq(p.f64, 2.5);
	ck_assert_int_eq(store_seal_now(st), 0);
	for (int i = 0; i < 2; i++) { /* the second answer comes from the cache */
		ck_assert_int_eq(store_last(st, a, &p, buf, sizeof buf), 1);
		ck_assert_int_eq(p.ts_ns, 20 * SEC);
		ck_assert_double_eq(p.f64, 2.5);
	}
	put_f64(st, a, 15 * SEC, 9); /* late and older: not the latest */
	ck_assert_int_eq(store_last(st, a, &p, buf, sizeof buf), 1);
	ck_assert_double_eq(p.f64, 2.5);
	ck_assert_int_eq(store_seal_now(st), 0);
	ck_assert_int_eq(store_last(st, a, &p, buf, sizeof buf), 1);
	ck_assert_double_eq(p.f64, 2.5);
	put_f64(st, a, 20 * SEC, 7.5); /* the same time rewritten: last write wins */
	ck_assert_int_eq(store_last(st, a, &p, buf, sizeof buf), 1);
	ck_assert_double_eq(p.f64, 7.5);
	ck_assert_int_eq(store_seal_now(st), 0);
	ck_assert_int_eq(store_last(st, a, &p, buf, sizeof buf), 1);
	ck_assert_int_eq(p.ts_ns, 20 * SEC);
	ck_assert_double_eq(p.f64, 7.5);
	put_f64(st, a, 30 * SEC, 3.5); /* a seal moves the cached value on */
	ck_assert_int_eq(store_seal_now(st), 0);
	ck_assert_int_eq(store_last(st, a, &p, buf, sizeof buf), 1);
	ck_assert_int_eq(p.ts_ns, 30 * SEC);
	ck_assert_double_eq(p.f64, 3.5);
	/* Strings are copied into buf, cut to its size. */
	{
		struct store_sample ss = {.tag_id = s, .ts_ns = SEC, .quality = QUALITY_UNCERTAIN};
		ss.v.s.ptr = "running";
		ss.v.s.len = 7;
		ck_assert_int_eq(store_append_wait(st, &ss, 1), 0);
	}
	ck_assert_int_eq(store_seal_now(st), 0);
	ck_assert_int_eq(store_last(st, s, &p, buf, 4), 1);
	ck_assert_uint_eq(p.str_len, 4);
	ck_assert_int_eq(memcmp(p.str, "runn", 4), 0);
	ck_assert_uint_eq(p.quality, QUALITY_UNCERTAIN);
	/* Retention drops old.v entirely: the cached last value goes too. */
	put_f64(st, b, day, 4);
	ck_assert_int_eq(store_seal_now(st), 0);
	ck_assert_int_eq(store_last(st, b, &p, buf, sizeof buf), 1);
	ck_assert_int_eq(store_retention_now(st, 100 * day), 0);
	ck_assert_int_eq(store_last(st, b, &p, buf, sizeof buf), 0);
	store_close(st);
}
END_TEST

/* Metadata round trip, the interpolation cache following a change, the
 * reasons for refusals, search by glob and label, and a tag's extent over
 * chunks and head. */
START_TEST(test_tag_meta_search_extent)
{
	struct store *st = open_store();
	struct store_tag_meta m;
	struct store_label lab = {"site", "north"};
	char why[STORE_ERROR_MAX];
	bool linear;
	int64_t stale, first, last;
	uint32_t f, i, id;
	enum value_type type;
	int count = 0;

	f = tag(st, "boiler.temp", VALUE_FLOAT64);
	ck_assert_int_eq(store_tag_resolve(st, "pump.on", 7, VALUE_BOOL, &lab, 1, &i, &type), 0);
	ck_assert_int_eq(store_tag_interp(st, f, &linear, &stale), 0);
	ck_assert(linear);
	ck_assert_int_eq(stale, 0);
	ck_assert_int_eq(store_tag_interp(st, i, &linear, &stale), 0);
	ck_assert(!linear);
	ck_assert_int_eq(store_tag_meta_get(st, f, &m), 0);
	strcpy(m.unit, "degC");
	m.interpolation = STORE_INTERP_STEP;
	m.stale_timeout_ns = 300 * SEC;
	m.eng_low = 0;
	m.eng_high = 400;
	ck_assert_int_eq(store_tag_meta_set(st, f, &m, why), 0);
	ck_assert_int_eq(store_tag_interp(st, f, &linear, &stale), 0);
	ck_assert(!linear);
	ck_assert_int_eq(stale, 300 * SEC);
	memset(&m, 0, sizeof m);
	ck_assert_int_eq(store_tag_meta_get(st, f, &m), 0);
	ck_assert_str_eq(m.unit, "degC");
	ck_assert_double_eq(m.eng_high, 400);
	m.eng_low = 500;
	ck_assert_int_eq(store_tag_meta_set(st, f, &m, why), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "range"));
	ck_assert_int_eq(store_tag_meta_get(st, i, &m), 0);
	m.interpolation = STORE_INTERP_LINEAR;
	ck_assert_int_eq(store_tag_meta_set(st, i, &m, why), -EINVAL);
	ck_assert_int_eq(store_tag_meta_get(st, 9999, &m), -ENOENT);
	ck_assert_str_eq(store_tag_name(st, f), "boiler.temp");
	ck_assert_ptr_null(store_tag_name(st, 9999));
	/* Search. */
	ck_assert_int_eq(store_tags_find(st, "boiler.*", NULL, 0, 0, 0, count_found, &count), 0);
	ck_assert_int_eq(count, 1);
	count = 0;
	ck_assert_int_eq(store_tags_find(st, NULL, &lab, 1, 0, 0, count_found, &count), 0);
	ck_assert_int_eq(count, 1);
	ck_assert_int_eq(store_tag_find(st, "pump.on", 7, &id, &type), 0);
	ck_assert_uint_eq(id, i);
	/* Extent: none, then chunks and head together. */
	ck_assert_int_eq(store_tag_extent(st, f, &first, &last), 0);
	put_f64(st, f, 50 * SEC, 1);
	put_f64(st, f, 60 * SEC, 1);
	ck_assert_int_eq(store_seal_now(st), 0);
	put_f64(st, f, 5 * SEC, 1);
	put_f64(st, f, 70 * SEC, 1);
	ck_assert_int_eq(store_tag_extent(st, f, &first, &last), 1);
	ck_assert_int_eq(first, 5 * SEC);
	ck_assert_int_eq(last, 70 * SEC);
	store_close(st);
}
END_TEST

/* Whole chunks handed out as statistics: only when the filter accepts,
 * in time order with the samples around them, with the v2 fields set. */
static bool accept_all(void *arg, const struct store_chunk_stats *c)
{
	(*(int *)arg)++;
	return c->has_ext;
}

START_TEST(test_scan_stats_blocks)
{
	struct store *st = open_store();
	uint32_t id = tag(st, "dense.v", VALUE_FLOAT64);
	struct store_sample *batch = calloc(3 * 3600, sizeof *batch);
	struct store_scan *sc;
	struct store_block b;
	int offered = 0, stats = 0, rc;
	size_t samples = 0;
	int64_t prev = INT64_MIN;

	ck_assert_ptr_nonnull(batch);
	/* 3 h of 1 s data from 00:30: the hour cut gives chunks 00:30-01:00
	 * (1,800 samples: below the 2,048 that starts cutting, so it runs on
	 * to 02:00), then 02:00-03:00 and 03:00-03:30. */
	for (int k = 0; k < 3 * 3600; k++) {
		batch[k] = (struct store_sample){.tag_id = id, .ts_ns = (1800 + k) * SEC};
		batch[k].v.f64 = k % 100;
	}
	ck_assert_int_eq(store_append_wait(st, batch, 3 * 3600), 0);
	ck_assert_int_eq(store_seal_now(st), 0);
	ck_assert_int_eq(store_scan_open(st, id, 0, 4 * 3600 * SEC, &sc), 0);
	store_scan_use_stats(sc, accept_all, &offered);
	while ((rc = store_scan_next(sc, &b)) == 1) {
		if (b.stats) {
			ck_assert_uint_eq(b.count, 0);
			ck_assert_int_gt(b.stats->t_min, prev);
			ck_assert(b.stats->has_ext);
			ck_assert_int_eq(b.stats->max_gap_ns, SEC);
			ck_assert_double_eq(b.stats->min, 0);
			ck_assert_double_eq(b.stats->max, 99);
			ck_assert_int_eq((b.stats->max_ts - b.stats->min_ts) % (100 * SEC), 99 * SEC);
			samples += b.stats->count;
			prev = b.stats->t_max;
			stats++;
		}
		for (size_t k = 0; k < b.count; k++) {
			ck_assert_int_gt(b.ts_ns[k], prev);
			prev = b.ts_ns[k];
			samples++;
		}
	}
	ck_assert_int_eq(rc, 0);
	store_scan_close(sc);
	ck_assert_int_eq(offered, 3);
	ck_assert_int_eq(stats, 3);
	ck_assert_uint_eq(samples, 3 * 3600);
	free(batch);
	store_close(st);
}
END_TEST

static Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc;

	tc = tcase_create("tags");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_tags);
	tcase_add_test(tc, test_unknown_tag_and_empty_batch);
	tcase_add_test(tc, test_tags_in_bulk);
	suite_add_tcase(s, tc);
	tc = tcase_create("append and read");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_append_seal_reopen);
	tcase_add_test(tc, test_late_samples_overlap_last_write_wins);
	tcase_add_test(tc, test_neighbours);
	tcase_add_test(tc, test_every_type_through_a_seal);
	tcase_add_test(tc, test_partitions);
	tcase_add_test(tc, test_string_neighbours_outlive_each_other);
	suite_add_tcase(s, tc);
	tc = tcase_create("compaction");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_compaction_merges_overlaps);
	tcase_add_test(tc, test_compaction_rewrites_single_seal_once);
	tcase_add_test(tc, test_scan_survives_compaction);
	tcase_add_test(tc, test_retention);
	suite_add_tcase(s, tc);
	tc = tcase_create("faults");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_disk_full_refuses_then_resumes);
	tcase_add_test(tc, test_fsync_failure_turns_read_only);
	suite_add_tcase(s, tc);
	tc = tcase_create("pre-aggregates");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_chunk_stats);
	tcase_add_test(tc, test_scan_stats_blocks);
	suite_add_tcase(s, tc);
	tc = tcase_create("tag facts");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_last_value);
	tcase_add_test(tc, test_tag_meta_search_extent);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(store_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* check_wal.c: unit tests for storage/wal.h: framing, segments, roll, trim, group commit, sync modes, faults, backpressure.
 * One Suite, "wal"; recovery TCases in check_wal_recover.c, helpers in check_wal_fixture.c. Seed: HS_SEED, printed. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/crc32c.h"
#include "lib/endian.h"
#include "lib/hs_error.h"
#include "tests/unit/check_wal_fixture.h"

/* ---- framing -------------------------------------------------------------- */

START_TEST(test_roundtrip)
{
	static const size_t sizes[] = {1, 2, 100, 4095, 70000, 5u << 20}; /* the last one skips buf */
	const size_t n = sizeof sizes / sizeof sizes[0];
	struct wal_replay_report rep;
	struct got g = {0};
	struct wal *w = open_ok(&(struct wal_options){.dir = wal_dir, .io = &test_io}, NULL);

	for (size_t i = 0; i < n; i++)
		append_id(w, i, sizes[i]);
	wal_close(w);
	ck_assert_int_eq(open_replay(&(struct wal_options){.dir = wal_dir, .io = &test_io}, 0, &g,
				     &rep, &w), 0);
	ck_assert_uint_eq(g.n, n);
	ck_assert_uint_eq(rep.records, n);
	ck_assert_uint_eq(g.v[0].pos, POS(1, HDR));
	for (size_t i = 0; i < n; i++) {
		check_rec(&g, i, i, sizes[i]);
		if (i > 0)
			ck_assert_uint_eq(g.v[i].pos, wal_pos_after(g.v[i - 1].pos, sizes[i - 1]));
	}
	ck_assert_uint_eq(rep.next_pos, POS(2, HDR));
	ck_assert_uint_eq(rep.torn_bytes, 0);
	wal_close(w);
	got_free(&g);
}
END_TEST

/* The bytes on disk are what wal_format.h draws, checked with the test's
 * own decoder: header fields, frames, CRCs, the SYNCED mark. */
START_TEST(test_bytes_on_disk)
{
	static const uint32_t want_synced[4] = {WAL_REC_SYNCED, WAL_REC_SYNCED, WAL_REC_SYNCED, 0};
	struct wal_options o = opts();
	struct wal *w = open_ok(&o, NULL);
	unsigned char *f, one[3] = {'a', 'b', 'c'};
	struct waiter wts[3];
	char path[PATH_MAX];
	size_t len, off;
	uint64_t salt, syncs;
	int i;

	append_id(w, 0, 10); /* group 1: record 0 */
	/* Hold the writer in the fdatasync of group 2 (record 1) while
	 * records 2 and 3 queue up: they form group 3. */
	gate_set(true);
	syncs = atomic_load(&fx.n_fdatasync);
	for (i = 0; i < 3; i++) {
		waiter_init(&wts[i]);
		ck_assert_int_eq(wal_append(w, one, sizeof one, waiter_done, &wts[i]), 0);
		while (i == 0 && atomic_load(&fx.n_fdatasync) == syncs)
			sleep_ms(1);
	}
	gate_set(false);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(waiter_wait(&wts[i]), 0);
	wal_close(w);
	seg_path(path, 1);
	f = read_file(path, &len);
	ck_assert_mem_eq(f, "HSWAL\r\n\x1a", 8);
	ck_assert_uint_eq(get_le32(f + 8), 1);
	ck_assert_uint_eq(get_le32(f + 12), HDR);
	ck_assert_uint_eq(get_le64(f + 16), 1);
	ck_assert_uint_eq(get_le32(f + 40), 0);
	ck_assert_uint_eq(get_le32(f + 44), crc32c(0, f, 44));
	salt = get_le64(f + 32);
	off = HDR;
	for (i = 0; off < len; i++) {
		uint32_t word = get_le32(f + off), rlen = word & WAL_REC_LEN_MASK;
		ck_assert_int_lt(i, 4);
		ck_assert_uint_eq(rlen, i == 0 ? 10 : 3);
		ck_assert_uint_eq(get_le32(f + off + 4), fx_crc(f + off + 8, rlen, word, 1, salt));
		ck_assert_uint_eq(word & WAL_REC_RESERVED, 0);
		/* The first record of each group says all before it is durable. */
		ck_assert_uint_eq(word & WAL_REC_SYNCED, want_synced[i]);
		off += 8 + rlen;
	}
	ck_assert_int_eq(i, 4);
	ck_assert_uint_eq(off, len);
	free(f);
}
END_TEST

/* A v1 segment made by hand: "alpha" (SYNCED), "beta", "gamma" (SYNCED),
 * salt 0x0123456789abcdef. Pins the format: a change here needs a new
 * version. */
static const unsigned char golden_v1[] = {
	0x48, 0x53, 0x57, 0x41, 0x4c, 0x0d, 0x0a, 0x1a, 0x01, 0x00, 0x00, 0x00,
	0x30, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x2a, 0x36, 0xfe, 0x9c, 0x97, 0x17, 0xef, 0xcd, 0xab, 0x89,
	0x67, 0x45, 0x23, 0x01, 0x00, 0x00, 0x00, 0x00, 0xad, 0x7e, 0xf8, 0x16,
	0x05, 0x00, 0x00, 0x80, 0x01, 0xfd, 0x9d, 0xc7, 0x61, 0x6c, 0x70, 0x68,
	0x61, 0x04, 0x00, 0x00, 0x00, 0xe4, 0x3b, 0xb5, 0xbb, 0x62, 0x65, 0x74,
	0x61, 0x05, 0x00, 0x00, 0x80, 0x66, 0xe5, 0x63, 0xd1, 0x67, 0x61, 0x6d,
	0x6d, 0x61,
};

START_TEST(test_golden_v1)
{
	unsigned char mine[sizeof golden_v1];
	struct wal_options o = opts();
	struct got g = {0};
	char path[PATH_MAX];
	struct wal *w;
	size_t n = fx_header(mine, 1, 0x0123456789abcdefull);

	n += fx_record(mine + n, "alpha", 5, WAL_REC_SYNCED, 1, 0x0123456789abcdefull);
	n += fx_record(mine + n, "beta", 4, 0, 1, 0x0123456789abcdefull);
	n += fx_record(mine + n, "gamma", 5, WAL_REC_SYNCED, 1, 0x0123456789abcdefull);
	ck_assert_uint_eq(n, sizeof golden_v1);
	ck_assert_mem_eq(mine, golden_v1, n);
	fresh_wal_dir();
	seg_path(path, 1);
	write_file(path, golden_v1, sizeof golden_v1);
	w = open_ok(&o, &g);
	ck_assert_uint_eq(g.n, 3);
	ck_assert_uint_eq(g.v[0].len, 5);
	ck_assert_mem_eq(g.v[0].data, "alpha", 5);
	ck_assert_mem_eq(g.v[1].data, "beta", 4);
	ck_assert_uint_eq(g.v[1].pos, POS(1, 61));
	ck_assert_mem_eq(g.v[2].data, "gamma", 5);
	ck_assert_int_eq(file_size(path), (int64_t)sizeof golden_v1);
	wal_close(w);
	got_free(&g);
}
END_TEST

START_TEST(test_append_vec)
{
	struct iovec iov[4] = {{"head", 4}, {NULL, 0}, {"-middle-", 8}, {"tail", 4}};
	struct wal_options o = opts();
	struct waiter wt;
	struct got g = {0};
	struct wal *w = open_ok(&o, NULL);

	waiter_init(&wt);
	ck_assert_int_eq(wal_append_vec(w, iov, 4, waiter_done, &wt), 0);
	ck_assert_int_eq(waiter_wait(&wt), 0);
	wal_close(w);
	w = open_ok(&o, &g);
	ck_assert_uint_eq(g.n, 1);
	ck_assert_uint_eq(g.v[0].len, 16);
	ck_assert_mem_eq(g.v[0].data, "head-middle-tail", 16);
	wal_close(w);
	got_free(&g);
}
END_TEST

START_TEST(test_limits)
{
	static unsigned char small[8];
	struct iovec big[2] = {{small, WAL_RECORD_MAX}, {small, 1}};
	struct wal_options o = opts();
	struct wal *w = open_ok(&o, NULL);

	ck_assert_int_eq(wal_append(w, small, 0, NULL, NULL), -EINVAL);
	ck_assert_int_eq(wal_append(w, small, (size_t)WAL_RECORD_MAX + 1, NULL, NULL), -EMSGSIZE);
	ck_assert_int_eq(wal_append_vec(w, big, 2, NULL, NULL), -EMSGSIZE);
	ck_assert_int_eq(wal_append(w, small, 1, NULL, NULL), 0); /* done may be NULL */
	wal_close(w);
}
END_TEST

START_TEST(test_calls_before_replay)
{
	struct wal_options o = opts();
	char err[WAL_ERROR_MAX];
	struct wal_stats st;
	struct wal *w;
	uint64_t pos;

	ck_assert_int_eq(wal_open(&o, &w, err), 0);
	ck_assert_int_eq(wal_append(w, "x", 1, NULL, NULL), -EAGAIN);
	ck_assert_int_eq(wal_roll(w, &pos), -EAGAIN);
	ck_assert_int_eq(wal_trim(w, UINT64_MAX), -EAGAIN);
	wal_stats(w, &st);
	ck_assert_uint_eq(st.active_seq, 0);
	ck_assert_int_eq(st.state, WAL_STATE_OK);
	wal_close(w);
	/* Nothing was created but the directory. */
	ck_assert_int_eq(count_segments(), 0);
}
END_TEST

START_TEST(test_bad_options)
{
	char err[WAL_ERROR_MAX], nested[PATH_MAX];
	struct wal_options o = opts();
	struct wal *w = (struct wal *)1;

	o.segment_bytes = 10;
	ck_assert_int_eq(wal_open(&o, &w, err), HS_EINVAL_CONFIG);
	ck_assert_ptr_null(w);
	ck_assert_str_contains(err, "segment size");
	o = opts();
	o.dir = "";
	ck_assert_int_eq(wal_open(&o, &w, err), HS_EINVAL_CONFIG);
	o = opts();
	o.sync = (enum wal_sync_mode)7;
	ck_assert_int_eq(wal_open(&o, &w, err), HS_EINVAL_CONFIG);
	/* A missing directory is created, parents too. */
	pathf(nested, "%s/a/b/wal", base_dir);
	o = opts();
	o.dir = nested;
	ck_assert_int_eq(wal_open(&o, &w, err), 0);
	ck_assert(file_exists(nested));
	wal_close(w);
	/* A file where the directory should be. */
	pathf(nested, "%s/file", base_dir);
	write_file(nested, "x", 1);
	o.dir = nested;
	ck_assert_int_eq(wal_open(&o, &w, err), -ENOTDIR);
	ck_assert_str_contains(err, nested);
}
END_TEST

START_TEST(test_tmp_removed)
{
	char tmp[PATH_MAX], junk[PATH_MAX];
	struct wal_options o = opts();
	struct wal *w;

	fresh_wal_dir();
	pathf(tmp, "%s/%020d.wal.tmp", wal_dir, 5);
	pathf(junk, "%s/notes.txt", wal_dir);
	write_file(tmp, "partial", 7);
	write_file(junk, "keep me", 7);
	w = open_ok(&o, NULL);
	ck_assert(!file_exists(tmp));
	ck_assert(file_exists(junk)); /* not ours: left alone */
	wal_close(w);
}
END_TEST

/* ---- segments ------------------------------------------------------------- */

START_TEST(test_many_segments)
{
	struct wal_options o = opts();
	struct wal_replay_report rep;
	struct wal_stats st;
	struct got g = {0};
	struct wal *w;
	const uint64_t n = 400;
	uint64_t last_seq = 0;

	o.segment_bytes = 1024;
	w = open_ok(&o, NULL);
	write_ids(w, 0, n, 1, 300);
	wal_stats(w, &st);
	ck_assert_uint_eq(st.records, n);
	ck_assert_uint_gt(st.segments, 40);
	ck_assert_uint_eq(st.segments, (uint64_t)count_segments());
	wal_close(w);
	ck_assert_int_eq(open_replay(&o, 0, &g, &rep, &w), 0);
	ck_assert_uint_eq(g.n, n);
	check_ids(&g, 0, 0, n, 1, 300);
	for (size_t i = 0; i < g.n; i++) {
		uint64_t seq = g.v[i].pos >> 32, off = (uint32_t)g.v[i].pos;
		/* No record crosses a segment end unless it starts the segment. */
		ck_assert(off == HDR || off + 8 + g.v[i].len <= o.segment_bytes);
		ck_assert_uint_ge(seq, last_seq);
		if (i > 0)
			ck_assert_uint_gt(g.v[i].pos, g.v[i - 1].pos);
		last_seq = seq;
	}
	ck_assert_uint_eq(rep.segments, st.segments);
	wal_close(w);
	got_free(&g);
}
END_TEST

START_TEST(test_big_record_alone)
{
	struct wal_options o = opts();
	struct got g = {0};
	struct wal *w;

	o.segment_bytes = 256;
	w = open_ok(&o, NULL);
	append_id(w, 0, 10);
	append_id(w, 1, 1000); /* bigger than a segment: a segment of its own */
	append_id(w, 2, 10);
	wal_close(w);
	w = open_ok(&o, &g);
	ck_assert_uint_eq(g.n, 3);
	ck_assert_uint_eq(g.v[0].pos, POS(1, HDR));
	ck_assert_uint_eq(g.v[1].pos, POS(2, HDR));
	ck_assert_uint_eq(g.v[2].pos, POS(3, HDR));
	check_rec(&g, 1, 1, 1000);
	wal_close(w);
	got_free(&g);
}
END_TEST

/* ---- roll and trim ---------------------------------------------------------- */

START_TEST(test_roll)
{
	struct wal_options o = opts();
	struct waiter wts[20];
	struct got g = {0};
	struct wal *w = open_ok(&o, NULL);
	uint64_t pos, pos2;
	unsigned char buf[64];

	/* Not waited for: still in the old segment. */
	for (int i = 0; i < 10; i++) {
		rec_fill((uint64_t)i, buf, sizeof buf);
		waiter_init(&wts[i]);
		ck_assert_int_eq(wal_append(w, buf, sizeof buf, waiter_done, &wts[i]), 0);
	}
	ck_assert_int_eq(wal_roll(w, &pos), 0);
	ck_assert_uint_eq(pos, POS(2, HDR));
	/* Everything appended before the roll is complete and durable. */
	for (int i = 0; i < 10; i++) {
		ck_assert(wts[i].fired);
		ck_assert_int_eq(waiter_wait(&wts[i]), 0);
	}
	for (int i = 10; i < 20; i++)
		append_id(w, (uint64_t)i, sizeof buf);
	ck_assert_int_eq(wal_roll(w, &pos2), 0);
	ck_assert_uint_eq(pos2, POS(3, HDR));
	wal_close(w);

	w = open_ok(&o, &g);
	ck_assert_uint_eq(g.n, 20);
	for (int i = 0; i < 20; i++) {
		check_rec(&g, (size_t)i, (uint64_t)i, sizeof buf);
		ck_assert(i < 10 ? g.v[i].pos < pos : g.v[i].pos >= pos);
	}
	ck_assert_uint_eq(g.v[10].pos, pos);
	wal_close(w);
	got_free(&g);

	/* Replay from the roll's position reads exactly what came after. */
	ck_assert_int_eq(open_replay(&o, pos, &g, NULL, &w), 0);
	ck_assert_uint_eq(g.n, 10);
	check_rec(&g, 0, 10, sizeof buf);
	wal_close(w);
	got_free(&g);
}
END_TEST

START_TEST(test_trim)
{
	struct wal_options o = opts();
	struct wal_stats st;
	struct got g = {0};
	char path[PATH_MAX];
	struct wal *w = open_ok(&o, NULL);
	uint64_t pos[5];

	/* Segments 1..5 with two records each; segment 6 active. */
	for (int s = 0; s < 5; s++) {
		write_ids(w, (uint64_t)s * 2, 2, 50, 50);
		ck_assert_int_eq(wal_roll(w, &pos[s]), 0);
	}
	ck_assert_int_eq(count_segments(), 6);
	/* A position inside segment 3 keeps it. */
	ck_assert_int_eq(wal_trim(w, POS(3, HDR + 10)), 0);
	seg_path(path, 2);
	ck_assert(!file_exists(path));
	seg_path(path, 3);
	ck_assert(file_exists(path));
	wal_stats(w, &st);
	ck_assert_uint_eq(st.segments, 4);
	/* The end of segment 3 (pos after its last record) lets it go. */
	ck_assert_int_eq(wal_trim(w, POS(3, file_size(path))), 0);
	ck_assert(!file_exists(path));
	/* Everything: all but the active segment. */
	ck_assert_int_eq(wal_trim(w, UINT64_MAX), 0);
	ck_assert_int_eq(count_segments(), 1);
	seg_path(path, 6);
	ck_assert(file_exists(path));
	append_id(w, 100, 20);
	wal_close(w);

	/* What is left replays from the trim position without a gap. */
	ck_assert_int_eq(open_replay(&o, pos[4], &g, NULL, &w), 0);
	ck_assert_uint_eq(g.n, 1);
	check_rec(&g, 0, 100, 20);
	wal_close(w);
	got_free(&g);
}
END_TEST

START_TEST(test_trim_from_replayed_pos)
{
	struct wal_options o = opts();
	struct got g = {0};
	struct wal *w;

	o.segment_bytes = 200;
	w = open_ok(&o, NULL);
	write_ids(w, 0, 30, 40, 40); /* 48 + 3 * 48 = 192: three per segment */
	wal_close(w);
	w = open_ok(&o, &g);
	ck_assert_uint_eq(g.n, 30);
	/* Just after record 8, the last of segment 3, is its end: 1..3 go,
	 * 4..10 and the new active 11 stay. */
	ck_assert_uint_eq(g.v[8].pos >> 32, 3);
	ck_assert_int_eq(wal_trim(w, wal_pos_after(g.v[8].pos, g.v[8].len)), 0);
	ck_assert_int_eq(count_segments(), 8);
	wal_close(w);
	got_free(&g);
	ck_assert_int_eq(open_replay(&o, POS(4, HDR), &g, NULL, &w), 0);
	ck_assert_uint_eq(g.n, 21);
	check_ids(&g, 0, 9, 21, 40, 40);
	wal_close(w);
	got_free(&g);
}
END_TEST

/* ---- replay from a position ------------------------------------------------ */

START_TEST(test_replay_from_middle)
{
	struct wal_options o = opts();
	struct got all = {0}, g = {0};
	struct wal *w;
	const uint64_t n = 100;
	size_t starts[] = {0, 1, 37, 50, 98, 99};

	o.segment_bytes = 2048;
	w = open_ok(&o, NULL);
	write_ids(w, 0, n, 10, 200);
	wal_close(w);
	w = open_ok(&o, &all);
	wal_close(w);
	ck_assert_uint_eq(all.n, n);
	for (size_t k = 0; k < sizeof starts / sizeof starts[0]; k++) {
		size_t s = starts[k];
		ck_assert_int_eq(open_replay(&o, all.v[s].pos, &g, NULL, &w), 0);
		ck_assert_uint_eq(g.n, n - s);
		check_ids(&g, 0, s, n - s, 10, 200);
		ck_assert_uint_eq(g.v[0].pos, all.v[s].pos);
		wal_close(w);
		got_free(&g);
	}
	/* Positions keep growing across restarts. */
	w = open_ok(&o, NULL);
	struct waiter wt;
	waiter_init(&wt);
	ck_assert_int_eq(wal_append(w, "z", 1, waiter_done, &wt), 0);
	ck_assert_int_eq(waiter_wait(&wt), 0);
	wal_close(w);
	ck_assert_int_eq(open_replay(&o, all.v[n - 1].pos, &g, NULL, &w), 0);
	ck_assert_uint_eq(g.n, 2);
	ck_assert_uint_gt(g.v[1].pos, all.v[n - 1].pos);
	wal_close(w);
	got_free(&g);
	got_free(&all);
}
END_TEST

/* ---- group commit ------------------------------------------------------------- */

enum { GC_THREADS = 8, GC_RECORDS = 1000 };


struct producer {
	struct wal *w;
	int id;
	int count;
	bool wait;
	struct rec_ctx *ctx; /* count entries */
};

static void *producer_main(void *arg)
{
	struct producer *p = arg;
	unsigned char buf[64];

	for (int i = 0; i < p->count; i++) {
		int rc;
		/* thread id and sequence number, to check order on replay */
		memset(buf, 0, sizeof buf);
		put_le32(buf, (uint32_t)p->id);
		put_le32(buf + 4, (uint32_t)i);
		if (p->wait) {
			rc = append_wait(p->w, buf, 8 + (size_t)(i % 56));
			atomic_fetch_add(&p->ctx[i].calls, 1);
			atomic_store(&p->ctx[i].status, rc);
		} else {
			rc = wal_append(p->w, buf, 8 + (size_t)(i % 56), ctx_done, &p->ctx[i]);
			ck_assert_int_eq(rc, 0);
		}
	}
	return NULL;
}

static void run_producers(struct wal *w, int nthreads, int count, bool wait, struct rec_ctx *ctx)
{
	pthread_t th[GC_THREADS];
	struct producer p[GC_THREADS];

	for (int t = 0; t < nthreads; t++) {
		p[t] = (struct producer){.w = w, .id = t, .count = count, .wait = wait,
					 .ctx = ctx + (size_t)t * (size_t)count};
		ck_assert_int_eq(pthread_create(&th[t], NULL, producer_main, &p[t]), 0);
	}
	for (int t = 0; t < nthreads; t++)
		pthread_join(th[t], NULL);
}

static int check_order(void *arg, const void *payload, size_t len, uint64_t pos)
{
	int *next = arg;
	uint32_t t = get_le32(payload), i = get_le32((const unsigned char *)payload + 4);

	(void)pos;
	ck_assert_uint_ge(len, 8);
	ck_assert_uint_lt(t, GC_THREADS);
	ck_assert_uint_eq(i, (uint32_t)next[t]); /* each thread's records in its order */
	next[t]++;
	return 0;
}

START_TEST(test_group_commit_shares_fsync)
{
	struct rec_ctx *ctx = calloc(GC_THREADS * GC_RECORDS, sizeof *ctx);
	struct wal_options o = opts();
	struct wal_replay_report rep;
	char err[WAL_ERROR_MAX];
	struct wal *w;
	int next[GC_THREADS] = {0};
	uint64_t syncs;

	ck_assert_ptr_nonnull(ctx);
	atomic_store(&fx.sync_delay_us, 200); /* a disk's fdatasync takes a while */
	w = open_ok(&o, NULL);
	atomic_store(&fx.n_fdatasync, 0);
	run_producers(w, GC_THREADS, GC_RECORDS, false, ctx);
	wal_close(w);
	syncs = atomic_load(&fx.n_fdatasync);
	fprintf(stderr, "group commit: %d records, %" PRIu64 " fdatasync calls\n",
		GC_THREADS * GC_RECORDS, syncs);
	ck_assert_uint_lt(syncs, GC_THREADS * GC_RECORDS / 4);
	for (int i = 0; i < GC_THREADS * GC_RECORDS; i++) {
		ck_assert_int_eq(atomic_load(&ctx[i].calls), 1);
		ck_assert_int_eq(atomic_load(&ctx[i].status), 0);
	}
	ck_assert_int_eq(wal_open(&o, &w, err), 0);
	ck_assert_int_eq(wal_replay(w, 0, check_order, next, &rep), 0);
	ck_assert_uint_eq(rep.records, GC_THREADS * GC_RECORDS);
	wal_close(w);
	for (int t = 0; t < GC_THREADS; t++)
		ck_assert_int_eq(next[t], GC_RECORDS);
	free(ctx);
}
END_TEST

/* Appenders that each wait for their record (one HTTP request each) still
 * share fsyncs: whoever queued during one fdatasync goes in the next. */
START_TEST(test_group_commit_waiting)
{
	enum { N = 200 };
	struct rec_ctx *ctx = calloc(GC_THREADS * N, sizeof *ctx);
	struct wal_options o = opts();
	struct wal_stats st;
	struct wal *w;
	uint64_t syncs;

	ck_assert_ptr_nonnull(ctx);
	atomic_store(&fx.sync_delay_us, 500);
	w = open_ok(&o, NULL);
	atomic_store(&fx.n_fdatasync, 0);
	run_producers(w, GC_THREADS, N, true, ctx);
	syncs = atomic_load(&fx.n_fdatasync);
	wal_stats(w, &st);
	wal_close(w);
	fprintf(stderr, "group commit, waiting appenders: %d records, %" PRIu64 " fdatasync calls\n",
		GC_THREADS * N, syncs);
	ck_assert_uint_lt(syncs, GC_THREADS * N / 2);
	ck_assert_uint_eq(st.records, GC_THREADS * N);
	ck_assert_uint_eq(st.commits, syncs);
	for (int i = 0; i < GC_THREADS * N; i++)
		ck_assert_int_eq(atomic_load(&ctx[i].status), 0);
	free(ctx);
}
END_TEST

/* ---- sync modes ----------------------------------------------------------------- */

START_TEST(test_sync_commit)
{
	struct wal_options o = opts();
	struct wal *w = open_ok(&o, NULL);

	for (int i = 0; i < 5; i++) {
		struct waiter wt;
		uint64_t before = atomic_load(&fx.n_fdatasync);
		waiter_init(&wt);
		ck_assert_int_eq(wal_append(w, "rec", 3, waiter_done, &wt), 0);
		ck_assert_int_eq(waiter_wait(&wt), 0);
		/* done() came after an fdatasync that started after the append. */
		ck_assert_uint_gt(wt.syncs_at_done, before);
	}
	wal_close(w);
}
END_TEST

START_TEST(test_sync_interval)
{
	struct wal_options o = opts();
	struct waiter wt;
	struct wal *w;
	uint64_t before;
	int waited = 0;

	o.sync = WAL_SYNC_INTERVAL;
	o.sync_interval_ms = 50;
	w = open_ok(&o, NULL);
	before = atomic_load(&fx.n_fdatasync);
	waiter_init(&wt);
	ck_assert_int_eq(wal_append(w, "rec", 3, waiter_done, &wt), 0);
	ck_assert_int_eq(waiter_wait(&wt), 0);
	ck_assert_uint_eq(wt.syncs_at_done, before); /* acknowledged after write(2) */
	while (atomic_load(&fx.n_fdatasync) == before && waited < 5000) {
		sleep_ms(5);
		waited += 5;
	}
	ck_assert_uint_eq(atomic_load(&fx.n_fdatasync), before + 1); /* then synced on time */
	ck_assert_int_ge(waited, 20);
	/* Nothing written: no more fdatasync. */
	sleep_ms(150);
	ck_assert_uint_eq(atomic_load(&fx.n_fdatasync), before + 1);
	/* wal_close() owes the last one. */
	ck_assert_int_eq(append_wait(w, "more", 4), 0);
	wal_close(w);
	ck_assert_uint_eq(atomic_load(&fx.n_fdatasync), before + 2);
}
END_TEST

START_TEST(test_sync_off)
{
	struct wal_options o = opts();
	struct got g = {0};
	char path[PATH_MAX];
	unsigned char *f;
	size_t len;
	struct wal *w;
	uint64_t pos;

	o.sync = WAL_SYNC_OFF;
	o.segment_bytes = 256;
	w = open_ok(&o, NULL);
	write_ids(w, 0, 20, 10, 40);
	ck_assert_int_eq(wal_roll(w, &pos), 0);
	ck_assert_int_eq(wal_trim(w, pos), 0);
	wal_close(w);
	ck_assert_uint_eq(atomic_load(&fx.n_fdatasync), 0);
	ck_assert_uint_eq(atomic_load(&fx.n_fsync), 0);
	/* Nothing is ever durable, so no record claims to follow durable bytes. */
	seg_path(path, pos >> 32);
	w = open_ok(&o, &g);
	wal_close(w);
	ck_assert_uint_eq(g.n, 0);
	got_free(&g);
	o.segment_bytes = 0;
	w = open_ok(&o, NULL);
	write_ids(w, 0, 3, 10, 10);
	wal_close(w);
	seg_path(path, (pos >> 32) + 2);
	f = read_file(path, &len);
	ck_assert_uint_eq(len, HDR + 3 * 18);
	for (size_t off = HDR; off < len; off += 18)
		ck_assert_uint_eq(get_le32(f + off) & WAL_REC_SYNCED, 0);
	free(f);
	ck_assert_uint_eq(atomic_load(&fx.n_fdatasync), 0);
}
END_TEST

/* ---- faults ---------------------------------------------------------------------- */

/* Retry an append until the WAL takes it (it resumes by itself). */
static int append_until_accepted(struct wal *w, const void *p, size_t len, int refusal)
{
	for (int i = 0; i < 5000; i++) {
		int rc = append_wait(w, p, len);
		if (rc != refusal)
			return rc;
		sleep_ms(1);
	}
	return refusal;
}

static void write_fault_resumes(int err, enum wal_state state)
{
	struct wal_options o = opts();
	struct wal_stats st;
	struct got g = {0};
	char path[PATH_MAX];
	struct wal *w = open_ok(&o, NULL);
	int64_t size;

	ck_assert_int_eq(append_wait(w, "good-1", 6), 0);
	seg_path(path, 1);
	size = file_size(path);
	atomic_store(&fx.pwrite_err, err);
	ck_assert_int_eq(append_wait(w, "failed", 6), err);
	/* Cut back to the last good byte, then refused at the door. */
	ck_assert_int_eq(file_size(path), size);
	ck_assert_int_eq(wal_append(w, "refused", 7, NULL, NULL), err);
	wal_stats(w, &st);
	ck_assert_int_eq(st.state, state);
	ck_assert_uint_eq(st.failed_records, 1);
	sleep_ms(50); /* probes keep failing meanwhile */
	ck_assert_int_eq(wal_append(w, "refused", 7, NULL, NULL), err);
	atomic_store(&fx.pwrite_err, 0); /* space is back */
	ck_assert_int_eq(append_until_accepted(w, "good-2", 6, err), 0);
	wal_stats(w, &st);
	ck_assert_int_eq(st.state, WAL_STATE_OK);
	wal_close(w);
	w = open_ok(&o, &g);
	ck_assert_uint_eq(g.n, 2);
	ck_assert_mem_eq(g.v[0].data, "good-1", 6);
	ck_assert_mem_eq(g.v[1].data, "good-2", 6);
	wal_close(w);
	got_free(&g);
}

START_TEST(test_enospc_resumes)
{
	write_fault_resumes(-ENOSPC, WAL_STATE_DISK_FULL);
}
END_TEST

START_TEST(test_eio_on_write)
{
	write_fault_resumes(-EIO, WAL_STATE_IO_ERROR);
}
END_TEST

/* A write that lands in part (the frame of a big record) is cut off whole. */
START_TEST(test_partial_write_cut_back)
{
	size_t big = 5u << 20; /* bigger than the coalescing buffer: two pwrites */
	unsigned char *buf = malloc(big);
	struct wal_options o = opts();
	struct got g = {0};
	char path[PATH_MAX];
	struct wal *w = open_ok(&o, NULL);
	int64_t size;

	ck_assert_ptr_nonnull(buf);
	rec_fill(1, buf, big);
	ck_assert_int_eq(append_wait(w, "before", 6), 0);
	seg_path(path, 1);
	size = file_size(path);
	atomic_store(&fx.pwrite_skip, 1);
	atomic_store(&fx.pwrite_err, -EIO);
	ck_assert_int_eq(append_wait(w, buf, big), -EIO);
	ck_assert_int_eq(file_size(path), size);
	atomic_store(&fx.pwrite_err, 0);
	ck_assert_int_eq(append_until_accepted(w, buf, big, -EIO), 0);
	wal_close(w);
	w = open_ok(&o, &g);
	ck_assert_uint_eq(g.n, 2);
	check_rec(&g, 1, 1, big);
	wal_close(w);
	got_free(&g);
	free(buf);
}
END_TEST

/* Records queued behind a failed group fail too, each exactly once. */
START_TEST(test_queued_records_fail_once)
{
	enum { N = 50 };
	struct rec_ctx ctx[N];
	struct wal_options o = opts();
	struct wal *w = open_ok(&o, NULL);
	uint64_t syncs = atomic_load(&fx.n_fdatasync);
	int failed = 0;

	memset(ctx, 0, sizeof ctx);
	gate_set(true); /* the first record's group waits in fdatasync */
	ck_assert_int_eq(wal_append(w, "first", 5, ctx_done, &ctx[0]), 0);
	while (atomic_load(&fx.n_fdatasync) == syncs)
		sleep_ms(1);
	for (int i = 1; i < N; i++)
		ck_assert_int_eq(wal_append(w, "queued", 6, ctx_done, &ctx[i]), 0);
	atomic_store(&fx.pwrite_err, -ENOSPC);
	gate_set(false);
	wal_close(w);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(atomic_load(&ctx[i].calls), 1);
		failed += atomic_load(&ctx[i].status) != 0;
	}
	ck_assert_int_eq(atomic_load(&ctx[0].status), 0);
	ck_assert_int_eq(failed, N - 1);
}
END_TEST

START_TEST(test_short_writes)
{
	struct wal_options o = opts();
	struct got g = {0};
	struct wal *w;

	atomic_store(&fx.short_max, 7); /* every pwrite, headers too, writes <= 7 bytes */
	o.segment_bytes = 4096;
	w = open_ok(&o, NULL);
	write_ids(w, 0, 30, 1, 3000);
	wal_close(w);
	ck_assert_uint_gt(atomic_load(&fx.n_pwrite), 30 * 100);
	atomic_store(&fx.short_max, 0);
	w = open_ok(&o, &g);
	ck_assert_uint_eq(g.n, 30);
	check_ids(&g, 0, 0, 30, 1, 3000);
	wal_close(w);
	got_free(&g);
}
END_TEST

START_TEST(test_write_without_progress)
{
	struct wal_options o = opts();
	struct wal *w = open_ok(&o, NULL);

	atomic_store(&fx.pwrite_zero, 1); /* a short write that cannot progress */
	ck_assert_int_eq(append_wait(w, "stuck", 5), -EIO);
	ck_assert_int_eq(wal_append(w, "x", 1, NULL, NULL), -EIO);
	atomic_store(&fx.pwrite_zero, 0);
	ck_assert_int_eq(append_until_accepted(w, "ok", 2, -EIO), 0);
	wal_close(w);
}
END_TEST

START_TEST(test_fsync_failure_read_only)
{
	struct wal_options o = opts();
	struct wal_stats st;
	struct got g = {0};
	struct wal *w = open_ok(&o, NULL);
	uint64_t pos, before;
	size_t loglen;
	unsigned char *text;

	write_ids(w, 0, 10, 10, 100);
	atomic_store(&fx.fdatasync_err, -EIO);
	ck_assert_int_eq(append_wait(w, "unlucky", 7), -EIO);
	before = atomic_load(&fx.n_fdatasync);
	ck_assert_int_eq(wal_append(w, "later", 5, NULL, NULL), -EROFS);
	ck_assert_int_eq(wal_roll(w, &pos), -EROFS);
	wal_stats(w, &st);
	ck_assert_int_eq(st.state, WAL_STATE_READ_ONLY);
	/* Never retried: no probing, no second fdatasync, even much later. */
	sleep_ms(100);
	ck_assert_int_eq(wal_append(w, "later", 5, NULL, NULL), -EROFS);
	ck_assert_uint_eq(atomic_load(&fx.n_fdatasync), before);
	/* Trim still works: it only deletes what is safe elsewhere. */
	ck_assert_int_eq(wal_trim(w, 0), 0);
	wal_close(w);
	ck_assert_uint_eq(atomic_load(&fx.n_fdatasync), before);
	text = read_file(log_path, &loglen);
	text[loglen] = '\0';
	ck_assert_str_contains((char *)text, "ERROR wal:");
	ck_assert_str_contains((char *)text, "read-only");
	free(text);
	/* Reopened: everything acknowledged is there. */
	w = open_ok(&o, &g);
	ck_assert_uint_ge(g.n, 10);
	ck_assert_uint_le(g.n, 11);
	check_ids(&g, 0, 0, 10, 10, 100);
	ck_assert_int_eq(append_wait(w, "again", 5), 0);
	wal_close(w);
	got_free(&g);
}
END_TEST

START_TEST(test_fsync_failure_interval)
{
	struct wal_options o = opts();
	struct wal_stats st;
	struct wal *w;
	int waited = 0;

	o.sync = WAL_SYNC_INTERVAL;
	w = open_ok(&o, NULL);
	atomic_store(&fx.fdatasync_err, -EIO);
	ck_assert_int_eq(append_wait(w, "acked", 5), 0);
	do {
		sleep_ms(5);
		wal_stats(w, &st);
	} while (st.state != WAL_STATE_READ_ONLY && (waited += 5) < 5000);
	ck_assert_int_eq(st.state, WAL_STATE_READ_ONLY);
	ck_assert_int_eq(wal_append(w, "x", 1, NULL, NULL), -EROFS);
	wal_close(w);
}
END_TEST

/* The next segment cannot be created (disk full): the records that needed
 * it fail, the WAL refuses, then resumes and rolls. */
START_TEST(test_roll_enospc)
{
	struct wal_options o = opts();
	struct wal_stats st;
	struct got g = {0};
	struct wal *w;
	unsigned char buf[100];

	o.segment_bytes = 300;
	w = open_ok(&o, NULL);
	write_ids(w, 0, 2, 100, 100);
	atomic_store(&fx.tmp_open_err, -ENOSPC);
	rec_fill(2, buf, sizeof buf);
	ck_assert_int_eq(append_wait(w, buf, sizeof buf), -ENOSPC);
	wal_stats(w, &st);
	ck_assert_int_eq(st.state, WAL_STATE_DISK_FULL);
	ck_assert_int_eq(count_segments(), 1);
	atomic_store(&fx.tmp_open_err, 0);
	ck_assert_int_eq(append_until_accepted(w, buf, sizeof buf, -ENOSPC), 0);
	ck_assert_int_eq(count_segments(), 2);
	wal_close(w);
	w = open_ok(&o, &g);
	ck_assert_uint_eq(g.n, 3);
	check_ids(&g, 0, 0, 3, 100, 100);
	ck_assert_uint_eq(g.v[2].pos, POS(2, HDR));
	wal_close(w);
	got_free(&g);
}
END_TEST

/* ---- backpressure --------------------------------------------------------------- */

struct bp_producer {
	struct wal *w;
	int count;
	size_t len;
	_Atomic int appended;
	struct rec_ctx ctx[64];
};

static void *bp_main(void *arg)
{
	struct bp_producer *p = arg;
	unsigned char buf[256] = {0};

	for (int i = 0; i < p->count; i++) {
		ck_assert_int_eq(wal_append(p->w, buf, p->len, ctx_done, &p->ctx[i]), 0);
		atomic_fetch_add(&p->appended, 1);
	}
	return NULL;
}

START_TEST(test_backpressure)
{
	static struct bp_producer p;
	struct wal_options o = opts();
	struct wal_stats st;
	pthread_t th;
	int seen;

	memset(&p, 0, sizeof p);
	o.queue_bytes = 1000;
	p.w = open_ok(&o, NULL);
	p.count = 50;
	p.len = 100;
	gate_set(true); /* the writer stalls in its first fdatasync */
	ck_assert_int_eq(pthread_create(&th, NULL, bp_main, &p), 0);
	sleep_ms(200);
	seen = atomic_load(&p.appended);
	wal_stats(p.w, &st);
	/* One group in flight, at most queue_bytes waiting: the rest blocks. */
	ck_assert_int_lt(seen, 25);
	ck_assert_int_ge(seen, 10);
	ck_assert_uint_le(st.queue_bytes, 1000);
	sleep_ms(100);
	ck_assert_int_eq(atomic_load(&p.appended), seen); /* still blocked */
	gate_set(false);
	pthread_join(th, NULL);
	ck_assert_int_eq(atomic_load(&p.appended), 50);
	wal_close(p.w);
	for (int i = 0; i < 50; i++) {
		ck_assert_int_eq(atomic_load(&p.ctx[i].calls), 1);
		ck_assert_int_eq(atomic_load(&p.ctx[i].status), 0);
	}
}
END_TEST

START_TEST(test_oversized_record_admitted)
{
	struct wal_options o = opts();
	unsigned char buf[500] = {1};
	struct wal *w;

	o.queue_bytes = 100;
	w = open_ok(&o, NULL);
	ck_assert_int_eq(append_wait(w, buf, sizeof buf), 0); /* alone in the queue */
	ck_assert_int_eq(append_wait(w, buf, sizeof buf), 0);
	wal_close(w);
}
END_TEST

/* Appenders blocked on a full queue learn about a failure and return. */
struct blocked {
	struct wal *w;
	_Atomic int returned;
	int rc;
};

static void *blocked_main(void *arg)
{
	struct blocked *b = arg;
	static const unsigned char buf[250];

	b->rc = wal_append(b->w, buf, sizeof buf, NULL, NULL);
	atomic_store(&b->returned, 1);
	return NULL;
}

START_TEST(test_blocked_appender_refused)
{
	static const unsigned char buf[250];
	struct blocked b = {0};
	struct wal_options o = opts();
	struct rec_ctx c[2] = {0};
	pthread_t th;
	uint64_t syncs;

	o.queue_bytes = 300;
	b.w = open_ok(&o, NULL);
	/* Record x's fdatasync will fail, but first it waits at the gate. */
	atomic_store(&fx.fdatasync_err, -EIO);
	gate_set(true);
	syncs = atomic_load(&fx.n_fdatasync);
	ck_assert_int_eq(wal_append(b.w, buf, sizeof buf, ctx_done, &c[0]), 0);
	while (atomic_load(&fx.n_fdatasync) == syncs)
		sleep_ms(1);
	ck_assert_int_eq(wal_append(b.w, buf, sizeof buf, ctx_done, &c[1]), 0); /* queue full */
	ck_assert_int_eq(pthread_create(&th, NULL, blocked_main, &b), 0);
	sleep_ms(50);
	ck_assert_int_eq(atomic_load(&b.returned), 0); /* blocked on the full queue */
	gate_set(false); /* the fdatasync fails: read-only */
	pthread_join(th, NULL);
	ck_assert_int_eq(b.rc, -EROFS);
	wal_close(b.w);
	ck_assert_int_eq(atomic_load(&c[0].status), -EIO);
	ck_assert_int_eq(atomic_load(&c[1].status), -EROFS);
}
END_TEST

/* ---- close ------------------------------------------------------------------------ */

START_TEST(test_close_drains)
{
	enum { N = 2000 };
	struct rec_ctx *ctx = calloc(N, sizeof *ctx);
	struct wal_options o = opts();
	struct wal_replay_report rep;
	struct wal *w;
	unsigned char buf[64];

	ck_assert_ptr_nonnull(ctx);
	atomic_store(&fx.sync_delay_us, 100);
	w = open_ok(&o, NULL);
	for (int i = 0; i < N; i++) {
		rec_fill((uint64_t)i, buf, sizeof buf);
		ck_assert_int_eq(wal_append(w, buf, sizeof buf, ctx_done, &ctx[i]), 0);
	}
	wal_close(w); /* right away: everything queued still completes */
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(atomic_load(&ctx[i].calls), 1);
		ck_assert_int_eq(atomic_load(&ctx[i].status), 0);
	}
	ck_assert_int_eq(open_replay(&o, 0, NULL, &rep, &w), 0);
	ck_assert_uint_eq(rep.records, N);
	wal_close(w);
	free(ctx);
}
END_TEST

static int fail_at_3(void *arg, const void *payload, size_t len, uint64_t pos)
{
	int *seen = arg;
	(void)payload;
	(void)len;
	(void)pos;
	return ++*seen == 3 ? -ECANCELED : 0;
}

START_TEST(test_close_after_failed_replay)
{
	struct wal_options o = opts();
	struct wal_replay_report rep;
	char err[WAL_ERROR_MAX];
	struct wal *w = open_ok(&o, NULL);
	int seen = 0;

	write_ids(w, 0, 5, 10, 10);
	wal_close(w);
	wal_close(NULL);
	ck_assert_int_eq(wal_open(&o, &w, err), 0);
	/* The callback's error stops replay and comes back. */
	ck_assert_int_eq(wal_replay(w, 0, fail_at_3, &seen, &rep), -ECANCELED);
	ck_assert_int_eq(seen, 3);
	ck_assert_int_eq(wal_append(w, "x", 1, NULL, NULL), -EAGAIN);
	ck_assert_int_eq(wal_replay(w, 0, NULL, NULL, &rep), -EINVAL); /* once only */
	wal_close(w);
	ck_assert_int_eq(count_segments(), 1); /* no new segment was started */
}
END_TEST

/* ---- suite --------------------------------------------------------------------- */

static Suite *wal_suite(void)
{
	Suite *s = suite_create("wal");
	TCase *tc;

	tc = tcase(s, "framing", 30);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_bytes_on_disk);
	tcase_add_test(tc, test_golden_v1);
	tcase_add_test(tc, test_append_vec);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_calls_before_replay);
	tcase_add_test(tc, test_bad_options);
	tcase_add_test(tc, test_tmp_removed);
	tc = tcase(s, "segments", 30);
	tcase_add_test(tc, test_many_segments);
	tcase_add_test(tc, test_big_record_alone);
	tc = tcase(s, "roll_trim", 30);
	tcase_add_test(tc, test_roll);
	tcase_add_test(tc, test_trim);
	tcase_add_test(tc, test_trim_from_replayed_pos);
	tc = tcase(s, "replay_from", 30);
	tcase_add_test(tc, test_replay_from_middle);
	tc = tcase(s, "group_commit", 60);
	tcase_add_test(tc, test_group_commit_shares_fsync);
	tcase_add_test(tc, test_group_commit_waiting);
	tc = tcase(s, "sync_modes", 30);
	tcase_add_test(tc, test_sync_commit);
	tcase_add_test(tc, test_sync_interval);
	tcase_add_test(tc, test_sync_off);
	tc = tcase(s, "faults", 60);
	tcase_add_test(tc, test_enospc_resumes);
	tcase_add_test(tc, test_eio_on_write);
	tcase_add_test(tc, test_partial_write_cut_back);
	tcase_add_test(tc, test_queued_records_fail_once);
	tcase_add_test(tc, test_short_writes);
	tcase_add_test(tc, test_write_without_progress);
	tcase_add_test(tc, test_fsync_failure_read_only);
	tcase_add_test(tc, test_fsync_failure_interval);
	tcase_add_test(tc, test_roll_enospc);
	tc = tcase(s, "backpressure", 30);
	tcase_add_test(tc, test_backpressure);
	tcase_add_test(tc, test_oversized_record_admitted);
	tcase_add_test(tc, test_blocked_appender_refused);
	tc = tcase(s, "close", 30);
	tcase_add_test(tc, test_close_drains);
	tcase_add_test(tc, test_close_after_failed_replay);
	wal_recover_tcases(s);
	return s;
}

int main(void)
{
	const char *env = getenv("HS_SEED");
	SRunner *sr;
	int failed;

	if (env && env[0])
		seed = strtoull(env, NULL, 0);
	fprintf(stderr, "check_wal: HS_SEED=%" PRIu64 "\n", seed);
	sr = srunner_create(wal_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* check_wal_recover.c: WAL recovery tests: cut at every byte, a bit flipped in every byte, stale and missing segments, kill -9.
 * Part of the check_wal program (one Suite); helpers from check_wal_fixture.h. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/crc32c.h"
#include "lib/endian.h"
#include "lib/hs_error.h"
#include "tests/unit/check_wal_fixture.h"

/* ---- torn tails: cut a good segment at every byte ----------------------------- */

/* Write n records (each its own commit) into segment 1; return its bytes
 * and the records' offsets (n + 1 entries: the last is the end). */
static unsigned char *good_segment(uint64_t n, size_t lo, size_t hi, size_t *len, uint64_t *offs)
{
	struct wal_options o = opts();
	struct got g = {0};
	char path[PATH_MAX];
	struct wal *w = open_ok(&o, NULL);
	unsigned char *bytes;

	write_ids(w, 0, n, lo, hi);
	wal_close(w);
	w = open_ok(&o, &g);
	wal_close(w);
	ck_assert_uint_eq(g.n, n);
	for (uint64_t i = 0; i < n; i++)
		offs[i] = (uint32_t)g.v[i].pos;
	offs[n] = offs[n - 1] + 8 + g.v[n - 1].len;
	got_free(&g);
	seg_path(path, 1);
	bytes = read_file(path, len);
	ck_assert_uint_eq(*len, offs[n]);
	fresh_wal_dir();
	return bytes;
}

START_TEST(test_cut_every_offset)
{
	enum { N = 12 };
	uint64_t offs[N + 1];
	size_t len;
	unsigned char *bytes = good_segment(N, 1, 40, &len, offs);
	struct wal_options o = opts();
	char path[PATH_MAX];

	seg_path(path, 1);
	for (size_t cut = 0; cut <= len; cut++) {
		struct wal_replay_report rep;
		struct got g = {0};
		struct wal *w;
		uint64_t whole = 0, end = HDR;

		while (whole < N && offs[whole + 1] <= cut)
			end = offs[++whole];
		fresh_wal_dir();
		write_file(path, bytes, cut);
		ck_assert_msg(open_replay(&o, 0, &g, &rep, &w) == 0, "cut %zu: %s", cut, rep.error);
		ck_assert_msg(g.n == whole, "cut %zu: %zu records, want %" PRIu64, cut, g.n, whole);
		check_ids(&g, 0, 0, whole, 1, 40);
		if (cut < HDR) {
			/* Shorter than a header: a torn creation, removed; its
			 * number is reused so the sequence has no hole. */
			ck_assert_uint_eq(rep.torn_bytes, cut);
			ck_assert_uint_eq(rep.next_pos, POS(1, HDR));
		} else {
			ck_assert_uint_eq(rep.torn_bytes, cut - end);
			ck_assert_uint_eq(rep.torn_pos, cut > end ? POS(1, end) : 0);
			ck_assert_int_eq(file_size(path), (int64_t)end);
			ck_assert_uint_eq(rep.next_pos, POS(2, HDR));
		}
		wal_close(w);
		got_free(&g);
		/* Idempotent: the second replay finds the same and cuts nothing. */
		ck_assert_int_eq(open_replay(&o, 0, &g, &rep, &w), 0);
		ck_assert_uint_eq(g.n, whole);
		ck_assert_uint_eq(rep.torn_bytes, 0);
		wal_close(w);
		got_free(&g);
	}
	free(bytes);
}
END_TEST

START_TEST(test_cut_is_logged)
{
	enum { N = 3 };
	uint64_t offs[N + 1];
	size_t len, loglen;
	unsigned char *bytes = good_segment(N, 20, 20, &len, offs), *text;
	struct wal_options o = opts();
	struct wal_replay_report rep;
	char path[PATH_MAX], want[128];
	struct wal *w;

	seg_path(path, 1);
	fresh_wal_dir();
	write_file(path, bytes, len - 5);
	ck_assert_int_eq(open_replay(&o, 0, NULL, &rep, &w), 0);
	ck_assert_uint_eq(rep.torn_bytes, 23);
	wal_close(w);
	text = read_file(log_path, &loglen);
	text[loglen] = '\0';
	snprintf(want, sizeof want, "cut 23 bytes of torn tail at offset %" PRIu64, offs[2]);
	ck_assert_str_contains((char *)text, want);
	ck_assert_str_contains((char *)text, "WARN wal:");
	free(text);
	free(bytes);
}
END_TEST

START_TEST(test_zero_tail)
{
	enum { N = 4 };
	uint64_t offs[N + 1];
	size_t len;
	unsigned char *bytes = good_segment(N, 5, 30, &len, offs), *padded;
	struct wal_options o = opts();
	struct wal_replay_report rep;
	struct got g = {0};
	char path[PATH_MAX];
	struct wal *w;

	/* ext4 may grow a file before its data lands: zeros past the end. */
	padded = calloc(1, len + 4096);
	ck_assert_ptr_nonnull(padded);
	memcpy(padded, bytes, len);
	seg_path(path, 1);
	fresh_wal_dir();
	write_file(path, padded, len + 4096);
	ck_assert_int_eq(open_replay(&o, 0, &g, &rep, &w), 0);
	ck_assert_uint_eq(g.n, N);
	ck_assert_uint_eq(rep.torn_bytes, 4096);
	ck_assert_int_eq(file_size(path), (int64_t)len);
	wal_close(w);
	got_free(&g);
	free(padded);
	free(bytes);
}
END_TEST

/* A power loss may persist a later page of an unsynced group but not an
 * earlier one: valid records after a hole, none marked SYNCED. That is a
 * tear, not corruption. */
START_TEST(test_unsynced_followers_are_torn)
{
	unsigned char seg[512];
	struct wal_options o = opts();
	struct wal_replay_report rep;
	struct got g = {0};
	char path[PATH_MAX];
	struct wal *w;
	size_t n = fx_header(seg, 1, 42), r1;

	n += fx_record(seg + n, "zero", 4, WAL_REC_SYNCED, 1, 42);
	r1 = n;
	n += fx_record(seg + n, "one", 3, 0, 1, 42);
	n += fx_record(seg + n, "two", 3, 0, 1, 42);
	memset(seg + r1, 0, 11); /* record one never reached the disk */
	seg_path(path, 1);
	fresh_wal_dir();
	write_file(path, seg, n);
	ck_assert_int_eq(open_replay(&o, 0, &g, &rep, &w), 0);
	ck_assert_uint_eq(g.n, 1);
	ck_assert_uint_eq(rep.torn_pos, POS(1, r1));
	ck_assert_uint_eq(rep.torn_bytes, n - r1);
	wal_close(w);
	got_free(&g);
	/* Salvage cuts a tear just the same (else the next start without
	 * salvage would find a hole in a segment that is no longer newest). */
	fresh_wal_dir();
	write_file(path, seg, n);
	o.salvage = true;
	ck_assert_int_eq(open_replay(&o, 0, &g, &rep, &w), 0);
	ck_assert_uint_eq(g.n, 1);
	ck_assert_uint_eq(rep.torn_bytes, n - r1);
	ck_assert_uint_eq(rep.skipped_ranges, 0);
	wal_close(w);
	got_free(&g);
	o.salvage = false;
	ck_assert_int_eq(open_replay(&o, 0, NULL, &rep, &w), 0);
	wal_close(w);

	/* The same hole before a record written after an fdatasync is
	 * corruption: the hole had been durable. */
	fresh_wal_dir();
	n = fx_header(seg, 1, 42);
	n += fx_record(seg + n, "zero", 4, WAL_REC_SYNCED, 1, 42);
	n += fx_record(seg + n, "one", 3, 0, 1, 42);
	n += fx_record(seg + n, "two", 3, WAL_REC_SYNCED, 1, 42);
	memset(seg + r1, 0, 11);
	fresh_wal_dir();
	write_file(path, seg, n);
	ck_assert_int_eq(open_replay(&o, 0, NULL, &rep, &w), HS_ECORRUPT);
	ck_assert_str_contains(rep.error, "offset 60");
	ck_assert_int_eq(wal_append(w, "x", 1, NULL, NULL), -EAGAIN);
	wal_close(w);
}
END_TEST

/* ---- flipped bits --------------------------------------------------------------- */

/* Replay a segment with one flipped bit in the byte at b, which lies in
 * record k (-1: the header), and check the verdict. */
static void check_flip(const unsigned char *bad, size_t len, const uint64_t *offs, int n, int k,
		       bool salvage, size_t b)
{
	struct wal_options o = opts();
	struct wal_replay_report rep;
	struct got g = {0};
	char path[PATH_MAX], want[128];
	struct wal *w;
	int rc;

	o.salvage = salvage;
	seg_path(path, 1);
	fresh_wal_dir();
	write_file(path, bad, len);
	rc = open_replay(&o, 0, &g, &rep, &w);
	if (k == n - 1) {
		/* The last record: a torn tail, with or without salvage. */
		ck_assert_msg(rc == 0, "byte %zu: %s", b, rep.error);
		ck_assert_uint_eq(g.n, n - 1);
		ck_assert_uint_eq(rep.torn_bytes, offs[n] - offs[n - 1]);
		check_ids(&g, 0, 0, (uint64_t)n - 1, 16, 24);
	} else if (!salvage) {
		ck_assert_msg(rc == HS_ECORRUPT, "byte %zu: rc %d", b, rc);
		ck_assert_str_contains(rep.error, path);
		snprintf(want, sizeof want, "offset %" PRIu64 ":", k < 0 ? 0 : offs[k]);
		ck_assert_str_contains(rep.error, want);
	} else if (k < 0) {
		ck_assert_int_eq(rc, 0);
		ck_assert_uint_eq(g.n, 0);
		ck_assert_uint_eq(rep.skipped_files, 1);
		ck_assert_uint_eq(rep.nskips, 1);
		ck_assert(rep.skips[0].whole_file);
	} else {
		/* Salvage: every other record, and exactly record k skipped. */
		ck_assert_msg(rc == 0, "byte %zu: %s", b, rep.error);
		ck_assert_uint_eq(g.n, n - 1);
		for (int i = 0, j = 0; i < n; i++)
			if (i != k)
				check_rec(&g, (size_t)j++, (uint64_t)i, rec_len((uint64_t)i, 16, 24));
		ck_assert_uint_eq(rep.skipped_ranges, 1);
		ck_assert_uint_eq(rep.skips[0].seq, 1);
		ck_assert_uint_eq(rep.skips[0].offset, offs[k]);
		ck_assert_uint_eq(rep.skipped_bytes, offs[k + 1] - offs[k]);
		ck_assert_uint_eq(rep.torn_bytes, 0);
	}
	wal_close(w);
	got_free(&g);
}

/* Each bit of each byte of a segment of five records (each its own
 * commit, so each marked SYNCED) flipped in turn. */
START_TEST(test_flip_every_bit)
{
	enum { N = 5 };
	uint64_t offs[N + 1];
	size_t len;
	unsigned char *bytes = good_segment(N, 16, 24, &len, offs), *bad = malloc(len);

	ck_assert_ptr_nonnull(bad);
	for (size_t bit = 0; bit < len * 8; bit++) {
		size_t b = bit / 8;
		int k = -1; /* record holding byte b, -1 for the header */

		memcpy(bad, bytes, len);
		bad[b] ^= (unsigned char)(1u << (bit % 8));
		for (int i = 0; i < N; i++)
			if (b >= offs[i] && b < offs[i + 1])
				k = i;
		check_flip(bad, len, offs, N, k, false, b);
		check_flip(bad, len, offs, N, k, true, b);
	}
	free(bad);
	free(bytes);
}
END_TEST

/* Only the newest segment may have a torn tail: the same damage in an
 * older one is corruption. */
START_TEST(test_bad_tail_in_older_segment)
{
	struct wal_options o = opts();
	struct wal_replay_report rep;
	struct got g = {0};
	char path[PATH_MAX];
	struct wal *w = open_ok(&o, NULL);
	uint64_t pos;
	int64_t size;

	write_ids(w, 0, 3, 30, 30);
	ck_assert_int_eq(wal_roll(w, &pos), 0);
	write_ids(w, 3, 3, 30, 30);
	wal_close(w);
	seg_path(path, 1);
	size = file_size(path);
	ck_assert_int_eq(truncate(path, size - 1), 0);
	ck_assert_int_eq(open_replay(&o, 0, &g, &rep, &w), HS_ECORRUPT);
	ck_assert_str_contains(rep.error, "not the newest");
	wal_close(w);
	got_free(&g);
	o.salvage = true;
	ck_assert_int_eq(open_replay(&o, 0, &g, &rep, &w), 0);
	ck_assert_uint_eq(g.n, 5);
	ck_assert_uint_eq(rep.skipped_bytes, 37);
	check_ids(&g, 2, 3, 3, 30, 30);
	wal_close(w);
	got_free(&g);
}
END_TEST

/* ---- stale and missing segments ----------------------------------------------- */

static void three_segments(struct wal_options *o)
{
	struct wal *w = open_ok(o, NULL);
	uint64_t pos;

	for (int s = 0; s < 3; s++) {
		write_ids(w, (uint64_t)s * 4, 4, 10, 60);
		if (s < 2)
			ck_assert_int_eq(wal_roll(w, &pos), 0);
	}
	wal_close(w);
}

START_TEST(test_stale_segment)
{
	struct wal_options o = opts();
	struct wal_replay_report rep;
	struct got g = {0};
	char p1[PATH_MAX], p2[PATH_MAX];
	unsigned char *b1;
	size_t len;
	struct wal *w;

	three_segments(&o);
	/* Segment 2's name, segment 1's bytes: an old file put back. */
	seg_path(p1, 1);
	seg_path(p2, 2);
	b1 = read_file(p1, &len);
	write_file(p2, b1, len);
	ck_assert_int_eq(open_replay(&o, 0, &g, &rep, &w), HS_ECORRUPT);
	ck_assert_str_contains(rep.error, "sequence");
	ck_assert_str_contains(rep.error, p2);
	wal_close(w);
	got_free(&g);
	o.salvage = true;
	ck_assert_int_eq(open_replay(&o, 0, &g, &rep, &w), 0);
	ck_assert_uint_eq(g.n, 8);
	check_ids(&g, 0, 0, 4, 10, 60);
	check_ids(&g, 4, 8, 4, 10, 60);
	ck_assert_uint_eq(rep.skipped_files, 1);
	ck_assert_uint_eq(rep.skips[0].seq, 2);
	wal_close(w);
	got_free(&g);
	free(b1);
}
END_TEST

/* A record copied from another segment carries that segment's salt in its
 * CRC: here it does not validate. */
START_TEST(test_spliced_record)
{
	struct wal_options o = opts();
	struct wal_replay_report rep;
	struct got g = {0};
	char p1[PATH_MAX], p3[PATH_MAX];
	unsigned char *b1, *b3, *mixed;
	size_t l1, l3, rlen;
	struct wal *w;

	three_segments(&o);
	seg_path(p1, 1);
	seg_path(p3, 3);
	b1 = read_file(p1, &l1);
	b3 = read_file(p3, &l3);
	rlen = 8 + (get_le32(b1 + HDR) & WAL_REC_LEN_MASK);
	mixed = malloc(l3 + rlen);
	ck_assert_ptr_nonnull(mixed);
	memcpy(mixed, b3, l3);
	memcpy(mixed + l3, b1 + HDR, rlen);
	write_file(p3, mixed, l3 + rlen);
	ck_assert_int_eq(open_replay(&o, 0, &g, &rep, &w), 0);
	ck_assert_uint_eq(g.n, 12);
	ck_assert_uint_eq(rep.torn_bytes, rlen);
	wal_close(w);
	got_free(&g);
	free(b1);
	free(b3);
	free(mixed);
}
END_TEST

START_TEST(test_missing_segment)
{
	struct wal_options o = opts();
	struct wal_replay_report rep;
	struct got g = {0};
	char p2[PATH_MAX];
	struct wal *w;

	three_segments(&o);
	seg_path(p2, 2);
	ck_assert_int_eq(unlink(p2), 0);
	ck_assert_int_eq(open_replay(&o, 0, &g, &rep, &w), HS_ECORRUPT);
	ck_assert_str_contains(rep.error, "missing segment");
	ck_assert_str_contains(rep.error, p2);
	wal_close(w);
	got_free(&g);
	/* From a position in segment 3 the hole does not matter. */
	ck_assert_int_eq(open_replay(&o, POS(3, HDR), &g, &rep, &w), 0);
	ck_assert_uint_eq(g.n, 4);
	wal_close(w);
	got_free(&g);
	/* Salvage passes over the hole and reports it. */
	o.salvage = true;
	ck_assert_int_eq(open_replay(&o, 0, &g, &rep, &w), 0);
	ck_assert_uint_eq(g.n, 8);
	ck_assert_uint_eq(rep.skipped_files, 1);
	ck_assert(rep.skips[0].missing);
	ck_assert_uint_eq(rep.skips[0].seq, 2);
	wal_close(w);
	got_free(&g);
}
END_TEST

START_TEST(test_missing_after_from)
{
	struct wal_options o = opts();
	struct wal_replay_report rep;
	char p[PATH_MAX];
	struct wal *w;

	three_segments(&o);
	seg_path(p, 1);
	ck_assert_int_eq(unlink(p), 0);
	seg_path(p, 2);
	ck_assert_int_eq(unlink(p), 0);
	/* From segment 1: segment 1 may be trimmed away, segment 2 may not. */
	ck_assert_int_eq(open_replay(&o, POS(1, HDR), NULL, &rep, &w), HS_ECORRUPT);
	ck_assert_str_contains(rep.error, "missing");
	wal_close(w);
	ck_assert_int_eq(open_replay(&o, POS(2, HDR), NULL, &rep, &w), 0);
	ck_assert_uint_eq(rep.records, 4);
	wal_close(w);
}
END_TEST

START_TEST(test_torn_creation_removed)
{
	struct wal_options o = opts();
	struct wal_replay_report rep;
	char p[PATH_MAX];
	struct wal *w;

	three_segments(&o);
	/* The newest segment: 20 bytes of a header, then the crash. */
	seg_path(p, 4);
	write_file(p, "HSWAL\r\n\x1a\x01\0\0\0\x30\0\0\0\0\0\0\0", 20);
	ck_assert_int_eq(open_replay(&o, 0, NULL, &rep, &w), 0);
	ck_assert_uint_eq(rep.records, 12);
	ck_assert_uint_eq(rep.torn_bytes, 20);
	ck_assert_uint_eq(rep.next_pos, POS(4, HDR)); /* number reused: no hole */
	wal_close(w);
	/* Bigger than a header and bad: that is corruption. */
	seg_path(p, 5);
	write_file(p, "garbage garbage garbage garbage garbage garbage garbage", 55);
	ck_assert_int_eq(open_replay(&o, 0, NULL, &rep, &w), HS_ECORRUPT);
	ck_assert_str_contains(rep.error, "magic");
	wal_close(w);
}
END_TEST

/* ---- kill -9 -------------------------------------------------------------------- */

static int ack_fd = -1;

static void ack_done(void *arg, int status)
{
	uint32_t i = (uint32_t)(uintptr_t)arg;

	if (status == 0 && write(ack_fd, &i, sizeof i) != (ssize_t)sizeof i)
		_exit(3);
}

static void crash_child(const struct wal_options *o)
{
	char err[WAL_ERROR_MAX];
	unsigned char buf[512];
	struct wal *w;

	if (wal_open(o, &w, err) != 0 || wal_replay(w, 0, NULL, NULL, NULL) != 0)
		_exit(2);
	for (uint32_t i = 0;; i++) {
		rec_fill(i, buf, sizeof buf);
		put_le32(buf, i);
		if (wal_append(w, buf, 64 + i % 400, ack_done, (void *)(uintptr_t)i) != 0)
			_exit(4);
	}
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Read one acknowledged index; returns the read() result. */
static ssize_t read_ack(int fd, int *acked, uint32_t *max_acked)
{
	uint32_t id;
	ssize_t n = read(fd, &id, sizeof id);

	if (n == (ssize_t)sizeof id) {
		++*acked;
		if (id > *max_acked)
			*max_acked = id;
	}
	return n;
}

/* A process killed at a random moment: every acknowledged record is there,
 * and what is there is a prefix of what was appended. */
START_TEST(test_kill9)
{
	struct wal_options o = opts();
	struct wal_replay_report rep;
	struct got g = {0};
	uint32_t max_acked = 0;
	uint64_t deadline;
	int fds[2], status, acked = 0;
	struct wal *w;
	pid_t pid;

	o.io = NULL; /* the real system calls */
	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		ack_fd = fds[1];
		crash_child(&o);
	}
	close(fds[1]);
	/* Read acknowledgements as they come (a full pipe would stall the
	 * child); kill it at a moment drawn from the seed, counted from the
	 * first one (valgrind makes the start slow). */
	deadline = now_ms() + 60000;
	while (now_ms() < deadline) {
		struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
		if (poll(&pfd, 1, 10) == 1 && read_ack(fds[0], &acked, &max_acked) <= 0)
			break;
		if (acked == 1)
			deadline = now_ms() + 50 + mix(seed) % 200;
	}
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status));
	while (read_ack(fds[0], &acked, &max_acked) > 0)
		;
	close(fds[0]);
	ck_assert_int_gt(acked, 0);
	ck_assert_int_eq(open_replay(&o, 0, &g, &rep, &w), 0);
	fprintf(stderr, "kill -9: %d acknowledged, %zu replayed, %" PRIu64 " bytes cut\n", acked,
		g.n, rep.torn_bytes);
	ck_assert_uint_gt(g.n, max_acked);
	for (size_t i = 0; i < g.n; i++) {
		unsigned char want[512];
		rec_fill(i, want, sizeof want);
		put_le32(want, (uint32_t)i);
		ck_assert_uint_eq(g.v[i].len, 64 + i % 400);
		ck_assert_mem_eq(g.v[i].data, want, g.v[i].len);
	}
	wal_close(w);
	got_free(&g);
}
END_TEST

void wal_recover_tcases(Suite *s)
{
	TCase *tc;

	tc = tcase(s, "torn_tail", 120);
	tcase_add_test(tc, test_cut_every_offset);
	tcase_add_test(tc, test_cut_is_logged);
	tcase_add_test(tc, test_zero_tail);
	tcase_add_test(tc, test_unsynced_followers_are_torn);
	tc = tcase(s, "bit_flips", 120);
	tcase_add_test(tc, test_flip_every_bit);
	tcase_add_test(tc, test_bad_tail_in_older_segment);
	tc = tcase(s, "stale_missing", 30);
	tcase_add_test(tc, test_stale_segment);
	tcase_add_test(tc, test_spliced_record);
	tcase_add_test(tc, test_missing_segment);
	tcase_add_test(tc, test_missing_after_from);
	tcase_add_test(tc, test_torn_creation_removed);
	tc = tcase(s, "crash", 60);
	tcase_add_test(tc, test_kill9);
}

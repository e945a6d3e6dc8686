/* check_tz.c: unit tests for query/tz.h (TZif reading, POSIX TZ rules, local-calendar buckets).
 * Known instants in real zones, glibc's localtime_r in a forked child as the reference, and corrupt files (seed printed). */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/hs_error.h"
#include "lib/timefmt.h"
#include "query/tz.h"

#define NS 1000000000LL
#define SYS_ZONEINFO "/usr/share/zoneinfo"
#define SEED 20241027u

/* RFC 3339 text -> nanoseconds, failing the test on bad text. */
static int64_t at_ns(const char *text)
{
	int64_t ns = 0;

	ck_assert_int_eq(timefmt_parse_rfc3339(text, strlen(text), &ns), 0);
	return ns;
}

/* The same in whole seconds (the texts used have no fraction). */
static int64_t at_s(const char *text)
{
	return at_ns(text) / NS;
}

/* Local wall time "YYYY-MM-DDTHH:MM:SS" as seconds since local 1970. */
static int64_t local_s(const char *text)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "%sZ", text);
	return at_s(buf);
}

static struct tz *load(const char *name)
{
	char err[TZ_ERR_LEN] = "";
	struct tz *z = NULL;
	int rc = tz_load(name, &z, err);

	ck_assert_msg(rc == 0, "tz_load(%s): %d %s", name, rc, err);
	ck_assert_ptr_nonnull(z);
	return z;
}

static void check_bucket(const struct tz *z, const char *t, enum tz_unit u, const char *start, const char *next)
{
	int64_t s = 0, n = 0;

	ck_assert_int_eq(tz_floor(z, at_ns(t), u, &s, &n), 0);
	ck_assert_int_eq(s, at_ns(start));
	ck_assert_int_eq(n, at_ns(next));
}

/* Simple seeded generator, so failures replay. */
static uint64_t rng_state;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void seed(void)
{
	rng_state = SEED;
	fprintf(stderr, "check_tz: seed %u\n", SEED);
}

/* ---- fixed zones ---- */

START_TEST(test_utc)
{
	struct tz *z = load("UTC"), *e = load("Etc/UTC");

	ck_assert_str_eq(tz_name(z), "UTC");
	ck_assert_int_eq(tz_offset_at(z, at_ns("2024-07-01T12:00:00Z")), 0);
	ck_assert_int_eq(tz_offset_at(e, at_ns("2024-07-01T12:00:00Z")), 0);
	ck_assert_int_eq(tz_offset_at(e, at_ns("1900-01-01T00:00:00Z")), 0);
	ck_assert_int_eq(tz_local_to_utc(z, local_s("2024-03-31T02:30:00")), at_s("2024-03-31T02:30:00Z"));
	check_bucket(z, "2024-02-29T13:00:00.5Z", TZ_DAY, "2024-02-29T00:00:00Z", "2024-03-01T00:00:00Z");
	check_bucket(e, "2024-02-29T13:00:00Z", TZ_MONTH, "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z");
	check_bucket(z, "1969-12-31T23:59:59.9Z", TZ_DAY, "1969-12-31T00:00:00Z", "1970-01-01T00:00:00Z");
	check_bucket(z, "1970-01-01T00:00:00Z", TZ_WEEK, "1969-12-29T00:00:00Z", "1970-01-05T00:00:00Z");
	tz_free(z);
	tz_free(e);
}
END_TEST

START_TEST(test_berlin_offsets)
{
	struct tz *z = load("Europe/Berlin");

	ck_assert_int_eq(tz_offset_at(z, at_ns("2024-01-15T12:00:00Z")), 3600);
	ck_assert_int_eq(tz_offset_at(z, at_ns("2024-07-15T12:00:00Z")), 7200);
	ck_assert_int_eq(tz_offset_at(z, at_ns("2024-03-31T01:00:00Z") - 1), 3600);
	ck_assert_int_eq(tz_offset_at(z, at_ns("2024-03-31T01:00:00Z")), 7200);
	ck_assert_int_eq(tz_offset_at(z, at_ns("2024-10-27T01:00:00Z") - 1), 7200);
	ck_assert_int_eq(tz_offset_at(z, at_ns("2024-10-27T01:00:00Z")), 3600);
	tz_free(z);
}
END_TEST

START_TEST(test_berlin_buckets)
{
	struct tz *z = load("Europe/Berlin");
	int64_t s = 0, n = 0;

	/* Spring forward: 23 hours. */
	check_bucket(z, "2024-03-31T12:00:00Z", TZ_DAY, "2024-03-30T23:00:00Z", "2024-03-31T22:00:00Z");
	ck_assert_int_eq(tz_floor(z, at_ns("2024-03-31T12:00:00Z"), TZ_DAY, &s, &n), 0);
	ck_assert_int_eq(n - s, 23 * 3600 * NS);
	/* Fall back: 25 hours, and the repeated hour is inside it. */
	check_bucket(z, "2024-10-27T00:30:00Z", TZ_DAY, "2024-10-26T22:00:00Z", "2024-10-27T23:00:00Z");
	check_bucket(z, "2024-10-27T01:30:00Z", TZ_DAY, "2024-10-26T22:00:00Z", "2024-10-27T23:00:00Z");
	ck_assert_int_eq(tz_floor(z, at_ns("2024-10-27T12:00:00Z"), TZ_DAY, &s, &n), 0);
	ck_assert_int_eq(n - s, 25 * 3600 * NS);
	/* An edge belongs to the bucket it starts; one ns before, to the previous. */
	check_bucket(z, "2024-03-30T23:00:00Z", TZ_DAY, "2024-03-30T23:00:00Z", "2024-03-31T22:00:00Z");
	ck_assert_int_eq(tz_floor(z, at_ns("2024-03-30T23:00:00Z") - 1, TZ_DAY, &s, &n), 0);
	ck_assert_int_eq(s, at_ns("2024-03-29T23:00:00Z"));
	ck_assert_int_eq(n, at_ns("2024-03-30T23:00:00Z"));
	/* ISO weeks start on Monday; 2024-03-31 is a Sunday. */
	check_bucket(z, "2024-03-31T12:00:00Z", TZ_WEEK, "2024-03-24T23:00:00Z", "2024-03-31T22:00:00Z");
	check_bucket(z, "2024-03-31T22:00:00Z", TZ_WEEK, "2024-03-31T22:00:00Z", "2024-04-07T22:00:00Z");
	check_bucket(z, "2024-12-31T23:30:00Z", TZ_WEEK, "2024-12-29T23:00:00Z", "2025-01-05T23:00:00Z");
	/* Months: local midnights on the 1st, in leap February. */
	check_bucket(z, "2024-03-15T00:00:00Z", TZ_MONTH, "2024-02-29T23:00:00Z", "2024-03-31T22:00:00Z");
	check_bucket(z, "2024-02-29T23:00:00Z", TZ_MONTH, "2024-02-29T23:00:00Z", "2024-03-31T22:00:00Z");
	check_bucket(z, "2024-02-29T22:59:59Z", TZ_MONTH, "2024-01-31T23:00:00Z", "2024-02-29T23:00:00Z");
	check_bucket(z, "2024-12-31T23:00:00Z", TZ_MONTH, "2024-12-31T23:00:00Z", "2025-01-31T23:00:00Z");
	check_bucket(z, "2024-10-15T00:00:00Z", TZ_MONTH, "2024-09-30T22:00:00Z", "2024-10-31T23:00:00Z");
	tz_free(z);
}
END_TEST

START_TEST(test_new_york)
{
	struct tz *z = load("America/New_York");

	ck_assert_int_eq(tz_offset_at(z, at_ns("2024-01-15T12:00:00Z")), -5 * 3600);
	ck_assert_int_eq(tz_offset_at(z, at_ns("2024-07-15T12:00:00Z")), -4 * 3600);
	ck_assert_int_eq(tz_offset_at(z, at_ns("2024-03-10T07:00:00Z") - 1), -5 * 3600);
	ck_assert_int_eq(tz_offset_at(z, at_ns("2024-03-10T07:00:00Z")), -4 * 3600);
	ck_assert_int_eq(tz_offset_at(z, at_ns("2024-11-03T06:00:00Z") - 1), -4 * 3600);
	ck_assert_int_eq(tz_offset_at(z, at_ns("2024-11-03T06:00:00Z")), -5 * 3600);
	check_bucket(z, "2024-03-10T12:00:00Z", TZ_DAY, "2024-03-10T05:00:00Z", "2024-03-11T04:00:00Z");
	check_bucket(z, "2024-11-03T12:00:00Z", TZ_DAY, "2024-11-03T04:00:00Z", "2024-11-04T05:00:00Z");
	check_bucket(z, "2024-11-03T12:00:00Z", TZ_MONTH, "2024-11-01T04:00:00Z", "2024-12-01T05:00:00Z");
	/* 1900: EST, before any daylight saving. */
	ck_assert_int_eq(tz_offset_at(z, at_ns("1900-07-01T12:00:00Z")), -5 * 3600);
	tz_free(z);
}
END_TEST

START_TEST(test_lord_howe)
{
	/* Standard +10:30, daylight +11: a 30-minute change. */
	struct tz *z = load("Australia/Lord_Howe");
	int64_t s = 0, n = 0;

	ck_assert_int_eq(tz_offset_at(z, at_ns("2024-01-15T00:00:00Z")), 11 * 3600);
	ck_assert_int_eq(tz_offset_at(z, at_ns("2024-07-15T00:00:00Z")), 10 * 3600 + 1800);
	/* 2024-10-06 02:00 local standard = 2024-10-05T15:30Z. */
	ck_assert_int_eq(tz_offset_at(z, at_ns("2024-10-05T15:30:00Z") - 1), 10 * 3600 + 1800);
	ck_assert_int_eq(tz_offset_at(z, at_ns("2024-10-05T15:30:00Z")), 11 * 3600);
	ck_assert_int_eq(tz_floor(z, at_ns("2024-10-06T00:00:00Z"), TZ_DAY, &s, &n), 0);
	ck_assert_int_eq(s, at_ns("2024-10-05T13:30:00Z"));
	ck_assert_int_eq(n - s, (23 * 3600 + 1800) * NS);
	/* 2024-04-07 02:00 local daylight = 2024-04-06T15:00Z; that day is 24.5 h. */
	ck_assert_int_eq(tz_offset_at(z, at_ns("2024-04-06T15:00:00Z")), 10 * 3600 + 1800);
	ck_assert_int_eq(tz_floor(z, at_ns("2024-04-07T00:00:00Z"), TZ_DAY, &s, &n), 0);
	ck_assert_int_eq(n - s, (24 * 3600 + 1800) * NS);
	/* 2100 comes from the footer rule. */
	ck_assert_int_eq(tz_offset_at(z, at_ns("2100-01-15T00:00:00Z")), 11 * 3600);
	ck_assert_int_eq(tz_offset_at(z, at_ns("2100-07-15T00:00:00Z")), 10 * 3600 + 1800);
	tz_free(z);
}
END_TEST

START_TEST(test_far_future_and_past)
{
	struct tz *z = load("Europe/Berlin");

	/* 2100: last Sunday of March is the 28th, of October the 31st. */
	ck_assert_int_eq(tz_offset_at(z, at_ns("2100-01-01T00:00:00Z")), 3600);
	ck_assert_int_eq(tz_offset_at(z, at_ns("2100-07-01T00:00:00Z")), 7200);
	ck_assert_int_eq(tz_offset_at(z, at_ns("2100-03-28T01:00:00Z") - 1), 3600);
	ck_assert_int_eq(tz_offset_at(z, at_ns("2100-03-28T01:00:00Z")), 7200);
	ck_assert_int_eq(tz_offset_at(z, at_ns("2100-10-31T01:00:00Z") - 1), 7200);
	ck_assert_int_eq(tz_offset_at(z, at_ns("2100-10-31T01:00:00Z")), 3600);
	check_bucket(z, "2100-03-28T12:00:00Z", TZ_DAY, "2100-03-27T23:00:00Z", "2100-03-28T22:00:00Z");
	/* 1900: CET since 1893, no daylight saving until 1916. */
	ck_assert_int_eq(tz_offset_at(z, at_ns("1900-01-01T00:00:00Z")), 3600);
	ck_assert_int_eq(tz_offset_at(z, at_ns("1900-07-01T00:00:00Z")), 3600);
	check_bucket(z, "1900-07-01T12:00:00Z", TZ_MONTH, "1900-06-30T23:00:00Z", "1900-07-31T23:00:00Z");
	/* Before the first transition: local mean time, +0:53:28. */
	ck_assert_int_eq(tz_offset_at(z, at_ns("1850-01-01T00:00:00Z")), 53 * 60 + 28);
	tz_free(z);
}
END_TEST

START_TEST(test_range_edges)
{
	struct tz *z = load("Europe/Berlin");
	int64_t s = 0, n = 0;

	/* INT64_MAX ns is 2262-04-11: the next month's edge does not fit. */
	ck_assert_int_eq(tz_floor(z, INT64_MAX, TZ_MONTH, &s, &n), -ERANGE);
	ck_assert_int_eq(tz_floor(z, INT64_MIN, TZ_DAY, &s, &n), -ERANGE);
	ck_assert_int_eq(tz_floor(z, INT64_MAX - 30 * 86400 * NS, TZ_DAY, &s, &n), 0);
	(void)tz_offset_at(z, INT64_MAX);
	(void)tz_offset_at(z, INT64_MIN);
	(void)tz_local_to_utc(z, INT64_MAX);
	(void)tz_local_to_utc(z, INT64_MIN);
	tz_free(z);
}
END_TEST

/* ---- local -> UTC ---- */

START_TEST(test_local_to_utc)
{
	struct tz *z = load("Europe/Berlin"), *ny = load("America/New_York"), *lh = load("Australia/Lord_Howe");

	ck_assert_int_eq(tz_local_to_utc(z, local_s("2024-07-01T12:00:00")), at_s("2024-07-01T10:00:00Z"));
	ck_assert_int_eq(tz_local_to_utc(z, local_s("2024-01-01T00:00:00")), at_s("2023-12-31T23:00:00Z"));
	/* Gap: 02:00..02:59:59 do not exist; the gap ends at 01:00Z (03:00 CEST). */
	ck_assert_int_eq(tz_local_to_utc(z, local_s("2024-03-31T02:00:00")), at_s("2024-03-31T01:00:00Z"));
	ck_assert_int_eq(tz_local_to_utc(z, local_s("2024-03-31T02:30:00")), at_s("2024-03-31T01:00:00Z"));
	ck_assert_int_eq(tz_local_to_utc(z, local_s("2024-03-31T03:00:00")), at_s("2024-03-31T01:00:00Z"));
	ck_assert_int_eq(tz_local_to_utc(z, local_s("2024-03-31T01:59:59")), at_s("2024-03-31T00:59:59Z"));
	/* Overlap: 02:30 happens at 00:30Z (CEST) and 01:30Z (CET); the earlier wins. */
	ck_assert_int_eq(tz_local_to_utc(z, local_s("2024-10-27T02:30:00")), at_s("2024-10-27T00:30:00Z"));
	ck_assert_int_eq(tz_local_to_utc(z, local_s("2024-10-27T03:00:00")), at_s("2024-10-27T02:00:00Z"));
	ck_assert_int_eq(tz_local_to_utc(z, local_s("2024-10-27T01:59:59")), at_s("2024-10-26T23:59:59Z"));
	/* New York gap and overlap. */
	ck_assert_int_eq(tz_local_to_utc(ny, local_s("2024-03-10T02:30:00")), at_s("2024-03-10T07:00:00Z"));
	ck_assert_int_eq(tz_local_to_utc(ny, local_s("2024-11-03T01:30:00")), at_s("2024-11-03T05:30:00Z"));
	/* Lord Howe: a 30-minute gap at 02:00 standard time. */
	ck_assert_int_eq(tz_local_to_utc(lh, local_s("2024-10-06T02:15:00")), at_s("2024-10-05T15:30:00Z"));
	ck_assert_int_eq(tz_local_to_utc(lh, local_s("2024-04-07T01:45:00")), at_s("2024-04-06T14:45:00Z"));
	tz_free(z);
	tz_free(ny);
	tz_free(lh);
}
END_TEST

/* ---- names and files ---- */

static void expect_refused(const char *name, int want_rc, const char *want_text)
{
	char err[TZ_ERR_LEN] = "";
	struct tz *z = NULL;
	int rc = tz_load(name, &z, err);

	ck_assert_msg(rc == want_rc, "tz_load(\"%s\") = %d, want %d (%s)", name, rc, want_rc, err);
	ck_assert_ptr_null(z);
	ck_assert_msg(strstr(err, want_text) != NULL, "tz_load(\"%s\") error \"%s\" lacks \"%s\"", name, err,
		      want_text);
}

START_TEST(test_bad_names)
{
	char err[TZ_ERR_LEN] = "";
	char longname[TZ_NAME_MAX + 2];

	expect_refused("../etc/passwd", -EINVAL, "relative");
	expect_refused("Europe/../../etc/passwd", -EINVAL, "relative");
	expect_refused("/etc/localtime", -EINVAL, "relative");
	expect_refused("No/Such_Zone", -ENOENT, "no such time zone");
	expect_refused("Europe", -ENOENT, "no such time zone");
	expect_refused("", -EINVAL, "1 to");
	expect_refused("Europe/Berlin ", -EINVAL, "character");
	expect_refused("Europe\\Berlin", -EINVAL, "character");
	expect_refused("Europe/Berlin\n", -EINVAL, "character");
	expect_refused("./UTC", -EINVAL, "character");
	memset(longname, 'A', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	expect_refused(longname, -EINVAL, "1 to");
	/* The cache reports the same reasons. */
	ck_assert_ptr_null(tz_get("../etc/passwd", err));
	ck_assert_ptr_nonnull(strstr(err, "relative"));
}
END_TEST

/* A temporary zoneinfo directory that HS_ZONEINFO points at. */
static char tmpdir[64];

static void tmp_setup(void)
{
	strcpy(tmpdir, "/tmp/check_tz.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	ck_assert_int_eq(setenv("HS_ZONEINFO", tmpdir, 1), 0);
}

static void tmp_teardown(void)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/Zone", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	unsetenv("HS_ZONEINFO");
}

static void write_zone(const void *buf, size_t len)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/Zone", tmpdir);
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = malloc(1 << 16);

	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(buf);
	*len = fread(buf, 1, 1 << 16, f);
	ck_assert_uint_gt(*len, 44);
	fclose(f);
	return buf;
}

/* Load "Zone" and, if it loads, query it everywhere so ASan sees the reads. */
static int try_zone(void)
{
	char err[TZ_ERR_LEN] = "";
	struct tz *z = NULL;
	int64_t s, n;
	int rc = tz_load("Zone", &z, err);

	if (rc != 0) {
		ck_assert_ptr_null(z);
		ck_assert_msg(err[0] != '\0', "refused without a reason");
		return rc;
	}
	for (int64_t t = -4000000000LL; t < 8000000000LL; t += 86400 * 97)
		(void)tz_offset_at(z, t * NS);
	if (tz_floor(z, 0, TZ_MONTH, &s, &n) == 0)
		ck_assert_int_lt(s, n);
	(void)tz_local_to_utc(z, 1700000000);
	tz_free(z);
	return 0;
}

START_TEST(test_truncated)
{
	size_t len;
	unsigned char *buf = slurp(SYS_ZONEINFO "/Europe/Berlin", &len);
	char err[TZ_ERR_LEN] = "";
	int rc;

	/* Every proper prefix lacks at least the footer's final newline. */
	for (size_t cut = 0; cut < len; cut++) {
		write_zone(buf, cut);
		rc = try_zone();
		ck_assert_msg(rc == HS_ECORRUPT, "cut at %zu: rc %d", cut, rc);
	}
	write_zone(buf, len);
	ck_assert_int_eq(try_zone(), 0);
	write_zone("TZif", 4);
	{
		struct tz *z = NULL;
		ck_assert_int_eq(tz_load("Zone", &z, err), HS_ECORRUPT);
		ck_assert_ptr_nonnull(strstr(err, "not a valid TZif file"));
		ck_assert_ptr_nonnull(strstr(err, "tz.c:"));
	}
	free(buf);
}
END_TEST

START_TEST(test_garbage)
{
	size_t len;
	unsigned char *orig = slurp(SYS_ZONEINFO "/America/New_York", &len);
	unsigned char *buf = malloc(len);
	unsigned char noise[512];

	seed();
	/* Pure noise, with and without a valid magic. */
	for (int i = 0; i < 200; i++) {
		for (size_t j = 0; j < sizeof(noise); j++)
			noise[j] = (unsigned char)rng();
		if (i % 2)
			memcpy(noise, "TZif2", 5);
		write_zone(noise, 1 + rng() % sizeof(noise));
		ck_assert_int_ne(try_zone(), 0);
	}
	/* A real file with a few bytes changed: may load or not, never crash. */
	for (int i = 0; i < 1500; i++) {
		memcpy(buf, orig, len);
		for (int k = 0; k < 1 + (int)(rng() % 3); k++)
			buf[rng() % len] = (unsigned char)rng();
		write_zone(buf, len);
		(void)try_zone();
	}
	free(buf);
	free(orig);
}
END_TEST

/* Build a TZif file: version (0 or '2'), transitions, types, footer. */
static size_t build_tzif(unsigned char *out, char version, const int64_t *trans, const uint8_t *idx, size_t ntrans,
			 const int32_t *offs, size_t ntypes, const char *footer)
{
	size_t p = 0;

	for (int block = 0; block < (version ? 2 : 1); block++) {
		size_t tlen = block == 0 ? 4 : 8;
		uint32_t counts[6] = {0, 0, 0, (uint32_t)ntrans, (uint32_t)ntypes, 4};
		memcpy(out + p, "TZif", 4);
		out[p + 4] = (unsigned char)version;
		memset(out + p + 5, 0, 15);
		p += 20;
		for (int c = 0; c < 6; c++, p += 4)
			for (int b = 0; b < 4; b++)
				out[p + b] = (unsigned char)(counts[c] >> (24 - 8 * b));
		for (size_t i = 0; i < ntrans; i++, p += tlen)
			for (size_t b = 0; b < tlen; b++)
				out[p + b] = (unsigned char)((uint64_t)trans[i] >> (8 * (tlen - 1 - b)));
		if (ntrans > 0)
			memcpy(out + p, idx, ntrans);
		p += ntrans;
		for (size_t i = 0; i < ntypes; i++, p += 6) {
			for (int b = 0; b < 4; b++)
				out[p + b] = (unsigned char)((uint32_t)offs[i] >> (24 - 8 * b));
			out[p + 4] = 0;
			out[p + 5] = 0;
		}
		memcpy(out + p, "ABC", 4);
		p += 4;
	}
	if (version)
		p += (size_t)sprintf((char *)out + p, "\n%s\n", footer);
	return p;
}

START_TEST(test_v1_file)
{
	unsigned char buf[512];
	const int64_t trans[] = {1000000000};
	const uint8_t idx[] = {1};
	const int32_t offs[] = {3600, 7200};
	struct tz *z;

	write_zone(buf, build_tzif(buf, 0, trans, idx, 1, offs, 2, NULL));
	z = load("Zone");
	ck_assert_int_eq(tz_offset_at(z, 999999999 * NS), 3600);
	ck_assert_int_eq(tz_offset_at(z, 1000000000 * NS), 7200);
	ck_assert_int_eq(tz_offset_at(z, 4000000000 * NS), 7200);
	tz_free(z);
	/* A version 2 file with an empty footer behaves the same. */
	write_zone(buf, build_tzif(buf, '2', trans, idx, 1, offs, 2, ""));
	z = load("Zone");
	ck_assert_int_eq(tz_offset_at(z, 4000000000 * NS), 7200);
	tz_free(z);
	/* Transitions out of order, or naming a missing type, are refused. */
	{
		const int64_t bad_t[] = {2000, 1000};
		const uint8_t bad_i[] = {0, 2}, ok_i[] = {0, 1};
		write_zone(buf, build_tzif(buf, '2', bad_t, ok_i, 2, offs, 2, ""));
		ck_assert_int_eq(try_zone(), HS_ECORRUPT);
		write_zone(buf, build_tzif(buf, '2', trans, bad_i + 1, 1, offs, 2, ""));
		ck_assert_int_eq(try_zone(), HS_ECORRUPT);
		write_zone(buf, build_tzif(buf, '2', trans, idx, 1, offs, 2, "CET-1CEST,M3.5.0,M13.5.0"));
		ck_assert_int_eq(try_zone(), HS_ECORRUPT);
		write_zone(buf, build_tzif(buf, '2', trans, idx, 1, offs, 2, "X-1"));
		ck_assert_int_eq(try_zone(), HS_ECORRUPT);
	}
}
END_TEST

/* ---- glibc as the reference ---- */

/* Offsets glibc gives for each of n instants (seconds) in zone tzval,
 * computed in a child process that may set TZ. */
static void glibc_offsets(const char *tzval, const int64_t *t, size_t n, int64_t *off)
{
	int fds[2];
	pid_t pid;
	size_t got = 0;
	int status;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		setenv("TZ", tzval, 1);
		tzset();
		for (size_t i = 0; i < n; i++) {
			time_t tt = (time_t)t[i];
			struct tm tm;
			int64_t o = INT64_MIN;
			if (localtime_r(&tt, &tm) != NULL)
				o = tm.tm_gmtoff;
			if (write(fds[1], &o, sizeof(o)) != (ssize_t)sizeof(o))
				_exit(2);
		}
		_exit(0);
	}
	close(fds[1]);
	while (got < n * sizeof(*off)) {
		ssize_t r = read(fds[0], (char *)off + got, n * sizeof(*off) - got);
		if (r < 0 && errno == EINTR)
			continue;
		ck_assert_int_gt(r, 0);
		got += (size_t)r;
	}
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "glibc child failed");
}

#define CROSS_N 6000

/* Set: leave out instants within 8 days of 1 January (see posix_rules). */
static int cross_edges;

static int near_new_year(int64_t t)
{
	int64_t y;
	unsigned m, d;

	timefmt_civil_from_days((t >= 0 ? t : t - 86399) / 86400, &y, &m, &d);
	return (m == 12 && d >= 23) || (m == 1 && d <= 8);
}

/* Compare tz_offset_at with glibc over random instants from `from` to 2200
 * and around every change our zone shows in 1970..2040. */
static void cross_check(const struct tz *z, const char *tzval, const char *from)
{
	int64_t *t = malloc(CROSS_N * sizeof(*t)), *want = malloc(CROSS_N * sizeof(*want));
	const int64_t lo = at_s(from), hi = at_s("2200-01-01T00:00:00Z");
	size_t n = 0;

	ck_assert_ptr_nonnull(t);
	ck_assert_ptr_nonnull(want);
	while (n < CROSS_N / 2)
		t[n++] = lo + (int64_t)(rng() % (uint64_t)(hi - lo));
	/* Hourly-ish probes at every change our zone shows in 1970..2040,
	 * both sides, and one second each side. */
	for (int64_t s = 0; s < at_s("2040-01-01T00:00:00Z") && n + 4 <= CROSS_N; s += 3600 * 6)
		if (tz_offset_at(z, s * NS) != tz_offset_at(z, (s + 3600 * 6) * NS)) {
			int64_t a = s, b = s + 3600 * 6;
			while (b - a > 1) {
				int64_t m = a + (b - a) / 2;
				if (tz_offset_at(z, m * NS) == tz_offset_at(z, a * NS))
					a = m;
				else
					b = m;
			}
			t[n++] = a;
			t[n++] = b;
			t[n++] = a - 1800;
			t[n++] = b + 1800;
		}
	while (n < CROSS_N)
		t[n++] = at_s("2030-01-01T00:00:00Z") + (int64_t)(rng() % (200LL * 365 * 86400));
	glibc_offsets(tzval, t, n, want);
	for (size_t i = 0; i < n; i++) {
		char when[TIMEFMT_RFC3339_MAX];
		if (cross_edges && near_new_year(t[i]))
			continue;
		timefmt_format_rfc3339(t[i] * NS, when);
		ck_assert_msg(tz_offset_at(z, t[i] * NS) == want[i], "%s at %s: tz %lld, glibc %lld", tzval, when,
			      (long long)tz_offset_at(z, t[i] * NS), (long long)want[i]);
	}
	free(t);
	free(want);
}

static const char *const cross_zones[] = {
	"Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Europe/Dublin", "America/Nuuk",
	"Africa/Casablanca", "America/Santiago", "Pacific/Chatham", "Asia/Kolkata", "Antarctica/Troll",
	"America/Sao_Paulo", "Asia/Tehran", "Pacific/Apia", "Australia/Sydney", "Europe/London",
	"America/St_Johns", "Asia/Gaza", "Pacific/Kiritimati", "America/Asuncion", "Etc/GMT+5",
};

START_TEST(test_cross_glibc)
{
	const char *name = cross_zones[_i];
	struct tz *z = load(name);

	seed();
	rng_state += (uint64_t)_i;
	cross_edges = 0;
	cross_check(z, name, "1901-12-14T00:00:00Z");
	tz_free(z);
}
END_TEST

/* Footer-only files exercise each POSIX rule form against glibc's reading
 * of the same rule. glibc picks the rule year from the UTC date, which is
 * wrong when a change crosses the new year; `edges` rules skip the days
 * around 1 January and test_rule_year_edges checks them by hand. */
static const struct {
	const char *footer, *glibc;
	int edges;
} posix_rules[] = {
	{"EST5EDT,M3.2.0,M11.1.0", "EST5EDT,M3.2.0,M11.1.0", 0},
	/* No rule: the US rules of 2007 (glibc would read its posixrules file). */
	{"AAA5BBB", "AAA5BBB,M3.2.0,M11.1.0", 0},
	{"CET-1CEST,M3.5.0,M10.5.0/3", "CET-1CEST,M3.5.0,M10.5.0/3", 0},
	{"<-03>3<-02>,M3.5.0/-2,M10.5.0/-1", "<-03>3<-02>,M3.5.0/-2,M10.5.0/-1", 0},
	{"AAA3BBB,J60/2,J300/2", "AAA3BBB,J60/2,J300/2", 0},
	{"AAA3BBB,59/2,299/2", "AAA3BBB,59/2,299/2", 0},
	{"AAA-10BBB-11:30,J1/0,J365/25", "AAA-10BBB-11:30,J1/0,J365/25", 1},
	{"<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", 0},
	{"IST-1GMT0,M10.5.0,M3.5.0/1", "IST-1GMT0,M10.5.0,M3.5.0/1", 0},
	{"<+13>-13<+14>,M9.5.0/3,M4.1.0/4", "<+13>-13<+14>,M9.5.0/3,M4.1.0/4", 0},
	{"XXX-5:45:30", "XXX-5:45:30", 0},
	{"AAA4BBB,M2.5.6/23:59:59,M12.5.1/167", "AAA4BBB,M2.5.6/23:59:59,M12.5.1/167", 1},
};

static struct tz *load_footer(const char *footer)
{
	unsigned char buf[512];
	const int32_t offs[] = {0};

	write_zone(buf, build_tzif(buf, '2', NULL, NULL, 0, offs, 1, footer));
	return load("Zone");
}

START_TEST(test_posix_rules)
{
	struct tz *z;

	tmp_setup();
	z = load_footer(posix_rules[_i].footer);
	seed();
	rng_state += (uint64_t)_i;
	/* glibc evaluates POSIX rules wrongly before 1970 (its yearly
	 * computation starts at 1970), so compare from there. */
	cross_edges = posix_rules[_i].edges;
	cross_check(z, posix_rules[_i].glibc, "1970-01-01T00:00:00Z");
	tz_free(z);
	tmp_teardown();
}
END_TEST

START_TEST(test_rule_year_edges)
{
	struct tz *z;

	tmp_setup();
	/* Daylight time from 1 Jan 00:00 (+10) to 31 Dec 25:00 (+11:30), i.e.
	 * 13:30Z on 31 Dec; standard again from 14:00Z, then the next year's. */
	z = load_footer("AAA-10BBB-11:30,J1/0,J365/25");
	ck_assert_int_eq(tz_offset_at(z, at_ns("2137-12-31T13:29:59Z")), 41400);
	ck_assert_int_eq(tz_offset_at(z, at_ns("2137-12-31T13:45:00Z")), 36000);
	ck_assert_int_eq(tz_offset_at(z, at_ns("2137-12-31T14:00:00Z")), 41400);
	ck_assert_int_eq(tz_offset_at(z, at_ns("2137-12-31T17:44:57Z")), 41400);
	tz_free(z);
	/* Daylight time ends 167 h after the last Monday of December: for 1969
	 * that is Monday 29 Dec 00:00 local + 167 h = 4 Jan 1970 23:00 (-3),
	 * 02:00Z on 5 Jan. */
	z = load_footer("AAA4BBB,M2.5.6/23:59:59,M12.5.1/167");
	ck_assert_int_eq(tz_offset_at(z, at_ns("1970-01-01T03:59:59Z")), -10800);
	ck_assert_int_eq(tz_offset_at(z, at_ns("1970-01-05T01:59:59Z")), -10800);
	ck_assert_int_eq(tz_offset_at(z, at_ns("1970-01-05T02:00:00Z")), -14400);
	tz_free(z);
	tmp_teardown();
}
END_TEST

/* ---- properties ---- */

START_TEST(test_properties)
{
	static const char *const zones[] = {"Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
					    "America/Santiago", "Asia/Gaza", "Africa/Casablanca"};
	const int64_t lo = at_s("1900-01-01T00:00:00Z"), span = 250LL * 365 * 86400;

	seed();
	for (size_t zi = 0; zi < sizeof(zones) / sizeof(zones[0]); zi++) {
		struct tz *z = load(zones[zi]);
		for (int i = 0; i < 3000; i++) {
			int64_t u = lo + (int64_t)(rng() % (uint64_t)span), loc = u + tz_offset_at(z, u * NS), r, s, n;
			enum tz_unit unit = (enum tz_unit)(i % 3);

			/* local -> UTC -> local round trips; an overlap gives the earlier. */
			r = tz_local_to_utc(z, loc);
			ck_assert_int_eq(r + tz_offset_at(z, r * NS), loc);
			ck_assert_int_le(r, u);
			/* Buckets contain the instant and start at local midnight
			 * (or at the end of a gap over midnight). */
			ck_assert_int_eq(tz_floor(z, u * NS + 123, unit, &s, &n), 0);
			ck_assert_int_le(s, u * NS + 123);
			ck_assert_int_gt(n, u * NS + 123);
			ck_assert_int_ge(n - s, 22 * 3600 * NS);
			ck_assert_int_eq(s % NS, 0);
			{
				int64_t sl = s / NS + tz_offset_at(z, s), s2, n2;
				ck_assert_msg(sl % 86400 == 0 || tz_offset_at(z, s - NS) != tz_offset_at(z, s),
					      "%s: bucket start not at local midnight", zones[zi]);
				ck_assert_int_eq(tz_floor(z, n, unit, &s2, &n2), 0);
				ck_assert_int_eq(s2, n);
			}
		}
		tz_free(z);
	}
}
END_TEST

/* ---- the cache ---- */

static void *cache_worker(void *arg)
{
	char err[TZ_ERR_LEN];
	const struct tz *z = NULL;

	(void)arg;
	for (int i = 0; i < 200; i++) {
		z = tz_get(i % 2 ? "Europe/Berlin" : "America/New_York", err);
		if (z == NULL || tz_offset_at(z, at_ns("2024-07-01T00:00:00Z")) == 0)
			return (void *)1;
	}
	return NULL;
}

START_TEST(test_cache)
{
	char err[TZ_ERR_LEN] = "";
	const struct tz *a = tz_get("Europe/Berlin", err), *b = tz_get("Europe/Berlin", err);
	pthread_t th[4];

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_eq(a, b);
	ck_assert_ptr_null(tz_get("No/Such_Zone", err));
	ck_assert_ptr_nonnull(strstr(err, "no such time zone"));
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, cache_worker, NULL), 0);
	for (int i = 0; i < 4; i++) {
		void *res = (void *)1;
		ck_assert_int_eq(pthread_join(th[i], &res), 0);
		ck_assert_ptr_null(res);
	}
	tz_cache_free();
	a = tz_get("UTC", err);
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(tz_offset_at(a, 0), 0);
	tz_cache_free();
}
END_TEST

static Suite *tz_suite(void)
{
	Suite *s = suite_create("tz");
	TCase *tc;

	tc = tcase_create("zones");
	tcase_add_test(tc, test_utc);
	tcase_add_test(tc, test_berlin_offsets);
	tcase_add_test(tc, test_new_york);
	tcase_add_test(tc, test_lord_howe);
	tcase_add_test(tc, test_far_future_and_past);
	suite_add_tcase(s, tc);

	tc = tcase_create("buckets");
	tcase_add_test(tc, test_berlin_buckets);
	tcase_add_test(tc, test_range_edges);
	suite_add_tcase(s, tc);

	tc = tcase_create("local_to_utc");
	tcase_add_test(tc, test_local_to_utc);
	suite_add_tcase(s, tc);

	tc = tcase_create("names");
	tcase_add_test(tc, test_bad_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("files");
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_garbage);
	tcase_add_test(tc, test_v1_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("glibc");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_cross_glibc, 0, (int)(sizeof(cross_zones) / sizeof(cross_zones[0])));
	tcase_add_loop_test(tc, test_posix_rules, 0, (int)(sizeof(posix_rules) / sizeof(posix_rules[0])));
	tcase_add_test(tc, test_rule_year_edges);
	suite_add_tcase(s, tc);

	tc = tcase_create("properties");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_properties);
	suite_add_tcase(s, tc);

	tc = tcase_create("cache");
	tcase_add_test(tc, test_cache);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(tz_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

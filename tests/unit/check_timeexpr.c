/* check_timeexpr.c: unit tests for query/timeexpr.h (time and duration parameters of the query API).
 * Table-driven: each table row is one loop test, so a failure names its row; every error row checks the full message. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/timefmt.h"
#include "query/timeexpr.h"

#define S 1000000000LL
#define MS 1000000LL
#define MIN (60 * S)
#define HOUR (3600 * S)
#define DAY (86400 * S)
#define NOW (1742034600 * S) /* 2025-03-15T10:30:00Z */
#define Y2025 (1735689600 * S) /* 2025-01-01T00:00:00Z */
#define RANGE "out of range (int64 nanoseconds reach about 292 years: 1678 to 2262)"
#define UNITS "(use ns, us, ms, s, m, h, d, w)"
#define NOT_TIME "not a time (use RFC 3339, an epoch like 1735689600s, now, now-1h, today or yesterday)"
#define BAD_RFC "not a valid RFC 3339 time (e.g. 2025-01-01T00:00:00Z or 2025-01-01T01:00:00.5+01:00)"
#define NO_ZONE "RFC 3339 time without a zone; add Z or an offset like +01:00"
#define FRACTION "fractions are not supported; use a smaller unit (e.g. 1h30m, 1500ms)"

struct ok_row {
	const char *text;
	int64_t ns;
};

struct err_row {
	const char *text;
	const char *msg;
};

static const struct timeexpr_ctx utc_ctx = {.now_ns = NOW, .day_start = NULL, .arg = NULL};

/* A fixed +01:00 zone (no DST): local midnight is 23:00 UTC the day before. */
static int64_t plus_one_day_start(void *arg, int64_t utc_ns)
{
	int64_t local = utc_ns + HOUR, r = local % DAY;

	(void)arg;
	if (r < 0)
		r += DAY;
	return local - r - HOUR;
}

static void time_ok(const char *text, const struct timeexpr_ctx *ctx, int64_t want)
{
	char err[256] = "untouched";
	int64_t got = -42;
	int rc = timeexpr_parse_time(text, strlen(text), ctx, &got, err, sizeof err);

	ck_assert_msg(rc == 0, "\"%s\" refused (%d): %s", text, rc, err);
	ck_assert_int_eq(got, want);
	ck_assert_str_eq(err, "");
}

static void time_err(const char *text, const struct timeexpr_ctx *ctx, const char *msg)
{
	char err[256];
	int64_t got = -42;
	int rc = timeexpr_parse_time(text, strlen(text), ctx, &got, err, sizeof err);

	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_int_eq(got, -42); /* untouched on failure */
	ck_assert_str_eq(err, msg);
}

static void dur_err(const char *text, const char *msg)
{
	char err[256];
	int64_t got = -42;
	int rc = timeexpr_parse_duration(text, strlen(text), &got, err, sizeof err);

	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_int_eq(got, -42);
	ck_assert_str_eq(err, msg);
}

/* ---- durations ---------------------------------------------------------- */

static const struct ok_row dur_ok_rows[] = {
	{"100ms", 100 * MS},
	{"15s", 15 * S},
	{"5m", 5 * MIN},
	{"1h", HOUR},
	{"1d", DAY},
	{"1w", 7 * DAY},
	{"250us", 250000},
	{"10ns", 10},
	{"1h30m", 90 * MIN},
	{"0s", 0},
	{"0ns", 0},
	{"007s", 7 * S},
	{"1w2d3h4m5s6ms7us8ns", 9 * DAY + 3 * HOUR + 4 * MIN + 5 * S + 6 * MS + 7008},
	{"9223372036854775807ns", INT64_MAX},
	{"9223372036s854775807ns", INT64_MAX},
	{"106751d", 106751 * DAY},
	{"2562047h", 2562047 * HOUR},
	{"1500ms", 1500 * MS},
};

/* timefmt_format_rfc3339 writes digits by hand: check it against the
 * documented shape, including fractions, negative times and wide years. */
START_TEST(test_format_rfc3339)
{
	static const struct { int64_t ns; const char *text; } rows[] = {
		{0, "1970-01-01T00:00:00Z"},
		{1735689600000000000LL, "2025-01-01T00:00:00Z"},
		{1735689600500000000LL, "2025-01-01T00:00:00.5Z"},
		{1735689659123456789LL, "2025-01-01T00:00:59.123456789Z"},
		{1735689600000001000LL, "2025-01-01T00:00:00.000001Z"},
		{-1, "1969-12-31T23:59:59.999999999Z"},
		{-86400000000000LL, "1969-12-31T00:00:00Z"},
		{951782400000000000LL, "2000-02-29T00:00:00Z"},
		{INT64_MAX, "2262-04-11T23:47:16.854775807Z"},
		{INT64_MIN, "1677-09-21T00:12:43.145224192Z"},
	};
	char buf[TIMEFMT_RFC3339_MAX];

	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		size_t n = timefmt_format_rfc3339(rows[i].ns, buf);
		int64_t back;
		ck_assert_str_eq(buf, rows[i].text);
		ck_assert_uint_eq(n, strlen(rows[i].text));
		if (rows[i].ns == INT64_MAX || rows[i].ns == INT64_MIN)
			continue; /* the parser keeps a margin from the int64 ends */
		ck_assert_int_eq(timefmt_parse_rfc3339(buf, n, &back), 0);
		ck_assert_int_eq(back, rows[i].ns);
	}
}
END_TEST

START_TEST(test_duration_ok)
{
	const struct ok_row *r = &dur_ok_rows[_i];
	char err[256] = "untouched";
	int64_t got = -42;
	int rc = timeexpr_parse_duration(r->text, strlen(r->text), &got, err, sizeof err);

	ck_assert_msg(rc == 0, "\"%s\" refused (%d): %s", r->text, rc, err);
	ck_assert_int_eq(got, r->ns);
	ck_assert_str_eq(err, "");
}
END_TEST

static const struct err_row dur_err_rows[] = {
	{"", "\"\": empty duration (e.g. 15s, 5m, 1h30m)"},
	{"10x", "\"10x\": unknown unit \"x\" " UNITS},
	{"5min", "\"5min\": unknown unit \"min\" " UNITS},
	{"1H", "\"1H\": unknown unit \"H\" " UNITS},
	{"1e3s", "\"1e3s\": unknown unit \"e\" " UNITS},
	{"5\xc2\xb5s", "\"5\\xc2\\xb5s\": unknown unit \"\\xc2\\xb5s\" " UNITS},
	{"-5m", "\"-5m\": a duration cannot be negative"},
	{"+5m", "\"+5m\": a duration takes no sign"},
	{"15", "\"15\": missing unit after the number " UNITS},
	{"1h30", "\"1h30\": missing unit after the number " UNITS},
	{"h", "\"h\": expected a number at offset 0, found \"h\""},
	{" 1h", "\" 1h\": expected a number at offset 0, found \" \""},
	{"1.5h", "\"1.5h\": " FRACTION},
	{"1 h", "\"1 h\": missing unit after the number, found \" \" at offset 1 " UNITS},
	{"1h ", "\"1h \": unexpected \" \" at offset 2 after the duration"},
	{"1h-5m", "\"1h-5m\": unexpected \"-\" at offset 2 after the duration"},
	{"1d\n", "\"1d\\x0a\": unexpected \"\\x0a\" at offset 2 after the duration"},
	{"30m1h", "\"30m1h\": unit \"h\" after \"m\": give units largest first, each once (e.g. 1h30m)"},
	{"1h1h", "\"1h1h\": unit \"h\" after \"h\": give units largest first, each once (e.g. 1h30m)"},
	{"9223372036854775808ns", "\"9223372036854775808ns\": " RANGE},
	{"99999999999999999999s", "\"99999999999999999999s\": " RANGE},
	{"106752d", "\"106752d\": " RANGE},
	{"2562048h", "\"2562048h\": " RANGE},
	{"9223372036s854775808ns", "\"9223372036s854775808ns\": " RANGE},
};

START_TEST(test_duration_errors)
{
	dur_err(dur_err_rows[_i].text, dur_err_rows[_i].msg);
}
END_TEST

/* ---- absolute times: epoch with a unit, RFC 3339 ------------------------- */

static const struct ok_row epoch_rows[] = {
	{"1735689600s", Y2025},
	{"1735689600000ms", Y2025},
	{"1735689600000000us", Y2025},
	{"1735689600000000000ns", Y2025},
	{"1735689600123ms", Y2025 + 123 * MS},
	{"0s", 0},
	{"0ns", 0},
	{"-1s", -S},
	{"-1ns", -1},
	{"9223372036854775807ns", INT64_MAX},
	{"-9223372036854775808ns", INT64_MIN},
	{"9223372036s", 9223372036 * S},
	{"-9223372036s", -9223372036 * S},
};

START_TEST(test_epoch_ok)
{
	time_ok(epoch_rows[_i].text, &utc_ctx, epoch_rows[_i].ns);
}
END_TEST

static const struct ok_row rfc_rows[] = {
	{"2025-01-01T00:00:00Z", Y2025},
	{"2025-01-01t00:00:00z", Y2025},
	{"2025-01-01 00:00:00Z", Y2025},
	{"2025-01-01T01:00:00+01:00", Y2025},
	{"2024-12-31T19:00:00-05:00", Y2025},
	{"2025-01-01T05:30:00+05:30", Y2025},
	{"2025-01-01T00:00:00.5Z", Y2025 + 500 * MS},
	{"2025-01-01T00:00:00.123456789Z", Y2025 + 123456789},
	{"2025-01-01T01:00:00.000000001+01:00", Y2025 + 1},
	{"1970-01-01T00:00:00Z", 0},
	{"1969-12-31T23:59:59.999999999Z", -1},
	{"2262-04-11T23:47:15Z", 9223372035 * S},
	{"2016-12-31T23:59:60Z", 1483228799 * S}, /* leap second reads as :59 */
	{"2024-02-29T00:00:00Z", 1709164800 * S},
};

START_TEST(test_rfc3339_ok)
{
	time_ok(rfc_rows[_i].text, &utc_ctx, rfc_rows[_i].ns);
}
END_TEST

/* ---- relative times ----------------------------------------------------- */

static const struct ok_row now_rows[] = {
	{"now", NOW},
	{"now-1h", NOW - HOUR},
	{"now+15m", NOW + 15 * MIN},
	{"now-1d-2h", NOW - DAY - 2 * HOUR},
	{"now-1h30m", NOW - 90 * MIN},
	{"now+0s", NOW},
	{"now-1w+1d", NOW - 6 * DAY},
	{"now+1h-1h", NOW},
	{"now-100ms", NOW - 100 * MS},
	{"now-106751d", NOW - 106751 * DAY},
	{"now-1d-1d-1d-1d", NOW - 4 * DAY},
};

START_TEST(test_now_ok)
{
	time_ok(now_rows[_i].text, &utc_ctx, now_rows[_i].ns);
}
END_TEST

#define TODAY_UTC (1741996800 * S) /* 2025-03-15T00:00:00Z */

static const struct ok_row day_utc_rows[] = {
	{"today", TODAY_UTC},
	{"yesterday", TODAY_UTC - DAY},
	{"today-1d", TODAY_UTC - DAY},
	{"yesterday+6h", TODAY_UTC - DAY + 6 * HOUR},
	{"today+8h30m", TODAY_UTC + 8 * HOUR + 30 * MIN},
};

START_TEST(test_day_utc)
{
	time_ok(day_utc_rows[_i].text, &utc_ctx, day_utc_rows[_i].ns);
}
END_TEST

/* Before 1970 the UTC day still starts at the midnight before, not after. */
START_TEST(test_day_utc_negative)
{
	struct timeexpr_ctx ctx = {.now_ns = -1, .day_start = NULL, .arg = NULL};

	time_ok("today", &ctx, -DAY);
	time_ok("yesterday", &ctx, -2 * DAY);
	ctx.now_ns = 0;
	time_ok("today", &ctx, 0);
	time_ok("yesterday", &ctx, -DAY);
}
END_TEST

START_TEST(test_day_plus_one)
{
	struct timeexpr_ctx ctx = {.now_ns = NOW, .day_start = plus_one_day_start, .arg = NULL};

	/* 10:30Z is 11:30 local on the 15th; its day began 2025-03-14T23:00Z */
	time_ok("today", &ctx, 1741993200 * S);
	time_ok("yesterday", &ctx, 1741993200 * S - DAY);
	time_ok("yesterday+6h", &ctx, 1741993200 * S - DAY + 6 * HOUR);
	time_ok("today-1d", &ctx, 1741993200 * S - DAY);
	/* 23:30Z is 00:30 local on the 16th: already the next local day */
	ctx.now_ns = 1742081400 * S;
	time_ok("today", &ctx, 1742079600 * S);
	time_ok("yesterday", &ctx, 1741993200 * S);
	/* exactly local midnight belongs to the day it starts */
	ctx.now_ns = 1742079600 * S;
	time_ok("today", &ctx, 1742079600 * S);
	ctx.now_ns = 1742079600 * S - 1;
	time_ok("today", &ctx, 1741993200 * S);
}
END_TEST

/* A zone whose previous day was 23 h long (DST start): yesterday is the
 * day holding the instant before today began, not today minus 24 h. */
struct dst_zone {
	int calls;
	int64_t args[4];
};

static int64_t dst_day_start(void *arg, int64_t utc_ns)
{
	struct dst_zone *z = arg;
	const int64_t today = 1000 * DAY, yesterday = today - 23 * HOUR;

	if (z->calls < 4)
		z->args[z->calls] = utc_ns;
	z->calls++;
	if (utc_ns >= today)
		return today;
	if (utc_ns >= yesterday)
		return yesterday;
	return yesterday - DAY;
}

START_TEST(test_day_callback_dst)
{
	struct dst_zone z = {0, {0}};
	struct timeexpr_ctx ctx = {.now_ns = 1000 * DAY + 5 * HOUR, .day_start = dst_day_start, .arg = &z};

	time_ok("yesterday", &ctx, 1000 * DAY - 23 * HOUR);
	ck_assert_int_eq(z.calls, 2);
	ck_assert_int_eq(z.args[0], ctx.now_ns);
	ck_assert_int_eq(z.args[1], 1000 * DAY - 1);
	z.calls = 0;
	time_ok("now", &ctx, ctx.now_ns);
	ck_assert_int_eq(z.calls, 0); /* "now" needs no zone */
}
END_TEST

/* ---- time errors -------------------------------------------------------- */

static const struct err_row time_err_rows[] = {
	{"", "\"\": empty time (use RFC 3339, an epoch like 1735689600s, now-1h, today or yesterday)"},
	{"1735689600", "\"1735689600\": a bare number is ambiguous; add a unit: 1735689600s (seconds), ms, us or ns"},
	{"0", "\"0\": a bare number is ambiguous; add a unit: 0s (seconds), ms, us or ns"},
	{"-5m", "\"-5m\": an epoch time takes s, ms, us or ns; for a relative time write now-5m"},
	{"5h", "\"5h\": an epoch time takes s, ms, us or ns; for a relative time write now-5h"},
	{"1d2h", "\"1d2h\": an epoch time takes s, ms, us or ns; for a relative time write now-1d"},
	{"1735689600x", "\"1735689600x\": unknown unit \"x\" " UNITS},
	{"1735689600s ", "\"1735689600s \": unexpected \" \" at offset 11 after the epoch time"},
	{"1735689600s500ms", "\"1735689600s500ms\": unexpected \"5\" at offset 11 after the epoch time"},
	{"1735689600.5s", "\"1735689600.5s\": " FRACTION},
	{"99999999999s", "\"99999999999s\": " RANGE},
	{"9223372037s", "\"9223372037s\": " RANGE},
	{"-9223372037s", "\"-9223372037s\": " RANGE},
	{"9223372036854775808ns", "\"9223372036854775808ns\": " RANGE},
	{"-9223372036854775809ns", "\"-9223372036854775809ns\": " RANGE},
	{"-", "\"-\": " NOT_TIME},
	{"2025-01-01", "\"2025-01-01\": a date alone is not a time; write e.g. 2025-01-01T00:00:00Z"},
	{"2025-01-01T00:00:00", "\"2025-01-01T00:00:00\": " NO_ZONE},
	{"2025-01-01T00:00:00.5", "\"2025-01-01T00:00:00.5\": " NO_ZONE},
	{"2025-13-01T00:00:00Z", "\"2025-13-01T00:00:00Z\": " BAD_RFC},
	{"2025-02-30T00:00:00Z", "\"2025-02-30T00:00:00Z\": " BAD_RFC},
	{"2025-01-01T24:00:00Z", "\"2025-01-01T24:00:00Z\": " BAD_RFC},
	{"2025-01-01T00:00:00+25:00", "\"2025-01-01T00:00:00+25:00\": " BAD_RFC},
	{"2025-01-01T00:00:00+0100", "\"2025-01-01T00:00:00+0100\": " BAD_RFC},
	{"2025-01-01T00:00:00.1234567891Z", "\"2025-01-01T00:00:00.1234567891Z\": " BAD_RFC},
	{"2025-01-01T00:00:00.Z", "\"2025-01-01T00:00:00.Z\": " BAD_RFC},
	{"2025-01-01T00:00:00Zjunk", "\"2025-01-01T00:00:00Zjunk\": " BAD_RFC},
	{"2262-04-11T23:47:16.854775807Z", "\"2262-04-11T23:47:16.854775807Z\": " BAD_RFC},
	{"2025-01-01\xff", "\"2025-01-01\\xff\": " BAD_RFC},
	{"now-", "\"now-\": missing duration after \"-\" (e.g. now-1h)"},
	{"now+", "\"now+\": missing duration after \"+\" (e.g. now-1h)"},
	{"now-1h-", "\"now-1h-\": missing duration after \"-\" (e.g. now-1h)"},
	{"now--1h", "\"now--1h\": missing duration after \"-\" (e.g. now-1h)"},
	{"now-h", "\"now-h\": missing duration after \"-\" (e.g. now-1h)"},
	{"now1h", "\"now1h\": expected \"+\" or \"-\" and a duration at offset 3, found \"1\""},
	{"now - 1h", "\"now - 1h\": expected \"+\" or \"-\" and a duration at offset 3, found \" \""},
	{"now-1h ", "\"now-1h \": expected \"+\" or \"-\" and a duration at offset 6, found \" \""},
	{"now-1x", "\"now-1x\": unknown unit \"x\" " UNITS},
	{"now-5", "\"now-5\": missing unit after the number " UNITS},
	{"now-30m1h", "\"now-30m1h\": unit \"h\" after \"m\": give units largest first, each once (e.g. 1h30m)"},
	{"today+1.5h", "\"today+1.5h\": " FRACTION},
	{"now-1000000d", "\"now-1000000d\": " RANGE},
	{"now+106751d", "\"now+106751d\": " RANGE},
	{"now-106751d-106751d", "\"now-106751d-106751d\": " RANGE},
	{"NOW", "\"NOW\": " NOT_TIME},
	{"Today", "\"Today\": " NOT_TIME},
	{"nowx", "\"nowx\": " NOT_TIME},
	{"tomorrow", "\"tomorrow\": " NOT_TIME},
	{" now", "\" now\": " NOT_TIME},
	{"\x01", "\"\\x01\": " NOT_TIME},
	{"\"now\"", "\"\\\"now\\\"\": " NOT_TIME},
};

START_TEST(test_time_errors)
{
	time_err(time_err_rows[_i].text, &utc_ctx, time_err_rows[_i].msg);
}
END_TEST

/* Relative forms need a clock; absolute ones do not. */
START_TEST(test_null_ctx)
{
	time_err("now", NULL, "\"now\": a relative time needs the current time, which was not given");
	time_err("today", NULL, "\"today\": a relative time needs the current time, which was not given");
	time_ok("1735689600s", NULL, Y2025);
	time_ok("2025-01-01T00:00:00Z", NULL, Y2025);
}
END_TEST

/* today/yesterday whose day start falls off int64 are refused, not wrapped. */
START_TEST(test_day_overflow)
{
	struct timeexpr_ctx ctx = {.now_ns = INT64_MIN, .day_start = NULL, .arg = NULL};

	time_err("today", &ctx, "\"today\": " RANGE);
	ctx.now_ns = INT64_MIN + DAY; /* today fits, the day before does not */
	time_err("yesterday", &ctx, "\"yesterday\": " RANGE);
	ctx.now_ns = INT64_MAX;
	time_err("now+1ns", &ctx, "\"now+1ns\": " RANGE);
	time_ok("now-0ns", &ctx, INT64_MAX);
}
END_TEST

/* ---- text and message handling ------------------------------------------ */

/* Exactly len bytes are read: the text is a slice, not a C string. */
START_TEST(test_slice_not_string)
{
	char err[128];
	int64_t got = 0;

	ck_assert_int_eq(timeexpr_parse_time("now-1hjunk", 6, &utc_ctx, &got, err, sizeof err), 0);
	ck_assert_int_eq(got, NOW - HOUR);
	ck_assert_int_eq(timeexpr_parse_duration("15s99", 3, &got, err, sizeof err), 0);
	ck_assert_int_eq(got, 15 * S);
	ck_assert_int_eq(timeexpr_parse_duration("15s", 2, &got, err, sizeof err), -EINVAL);
	ck_assert_str_eq(err, "\"15\": missing unit after the number " UNITS);
	/* an embedded NUL is a byte like any other */
	ck_assert_int_eq(timeexpr_parse_duration("1h\0", 3, &got, err, sizeof err), -EINVAL);
	ck_assert_str_eq(err, "\"1h\\x00\": unexpected \"\\x00\" at offset 2 after the duration");
}
END_TEST

/* Long text is quoted up to 48 bytes then "..."; the message stays whole. */
START_TEST(test_long_text_quoted)
{
	char text[200], err[256], want[256];
	int64_t got = 0;

	memset(text, 'a', sizeof text);
	ck_assert_int_eq(timeexpr_parse_time(text, sizeof text, &utc_ctx, &got, err, sizeof err), -EINVAL);
	snprintf(want, sizeof want, "\"%.48s...\": %s", text, NOT_TIME);
	ck_assert_str_eq(err, want);
	memset(text, '1', 150);
	memcpy(text + 150, "qq", 3);
	ck_assert_int_eq(timeexpr_parse_duration(text, 152, &got, err, sizeof err), -EINVAL);
	snprintf(want, sizeof want, "\"%.48s...\": %s", text, RANGE);
	ck_assert_str_eq(err, want);
}
END_TEST

/* A short error buffer gets a NUL-terminated prefix; none at all is fine. */
START_TEST(test_small_err_buffer)
{
	char err[8];
	int64_t got = 0;

	memset(err, 'X', sizeof err);
	ck_assert_int_eq(timeexpr_parse_duration("10x", 3, &got, err, sizeof err), -EINVAL);
	ck_assert_str_eq(err, "\"10x\": ");
	memset(err, 'X', sizeof err);
	ck_assert_int_eq(timeexpr_parse_time("bogus-text", 10, &utc_ctx, &got, err, 3), -EINVAL);
	ck_assert_str_eq(err, "\"b");
	ck_assert_int_eq(timeexpr_parse_time("bogus", 5, &utc_ctx, &got, NULL, 0), -EINVAL);
	ck_assert_int_eq(timeexpr_parse_duration("", 0, &got, NULL, 0), -EINVAL);
	ck_assert_int_eq(timeexpr_parse_duration("1h", 2, &got, NULL, 0), 0);
	ck_assert_int_eq(got, HOUR);
}
END_TEST

/* A success clears whatever the error buffer held before. */
START_TEST(test_success_clears_err)
{
	char err[64] = "stale message";
	int64_t got = 0;

	ck_assert_int_eq(timeexpr_parse_time("now", 3, &utc_ctx, &got, err, sizeof err), 0);
	ck_assert_str_eq(err, "");
}
END_TEST

#define ROWS(a) (int)(sizeof(a) / sizeof((a)[0]))

static Suite *timeexpr_suite(void)
{
	Suite *s = suite_create("timeexpr");
	TCase *tc;

	tc = tcase_create("duration_ok");
	tcase_add_loop_test(tc, test_duration_ok, 0, ROWS(dur_ok_rows));
	suite_add_tcase(s, tc);

	tc = tcase_create("duration_errors");
	tcase_add_loop_test(tc, test_duration_errors, 0, ROWS(dur_err_rows));
	suite_add_tcase(s, tc);

	tc = tcase_create("epoch");
	tcase_add_loop_test(tc, test_epoch_ok, 0, ROWS(epoch_rows));
	suite_add_tcase(s, tc);

	tc = tcase_create("rfc3339");
	tcase_add_loop_test(tc, test_rfc3339_ok, 0, ROWS(rfc_rows));
	suite_add_tcase(s, tc);

	tc = tcase_create("now");
	tcase_add_loop_test(tc, test_now_ok, 0, ROWS(now_rows));
	suite_add_tcase(s, tc);

	tc = tcase_create("today_yesterday");
	tcase_add_loop_test(tc, test_day_utc, 0, ROWS(day_utc_rows));
	tcase_add_test(tc, test_day_utc_negative);
	tcase_add_test(tc, test_day_plus_one);
	tcase_add_test(tc, test_day_callback_dst);
	suite_add_tcase(s, tc);

	tc = tcase_create("time_errors");
	tcase_add_loop_test(tc, test_time_errors, 0, ROWS(time_err_rows));
	tcase_add_test(tc, test_null_ctx);
	tcase_add_test(tc, test_day_overflow);
	suite_add_tcase(s, tc);

	tc = tcase_create("format");
	tcase_add_test(tc, test_format_rfc3339);
	suite_add_tcase(s, tc);

	tc = tcase_create("text_and_messages");
	tcase_add_test(tc, test_slice_not_string);
	tcase_add_test(tc, test_long_text_quoted);
	tcase_add_test(tc, test_small_err_buffer);
	tcase_add_test(tc, test_success_clears_err);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(timeexpr_suite());
	int failed;

	srunner_set_fork_status(sr, CK_FORK_GETENV);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

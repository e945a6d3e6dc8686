/* fuzz_timeexpr.c: libFuzzer target for the query API's time and duration parsers (query/timeexpr.c).
 * The text comes from a URL: no bytes may crash them, read past len, leave err unterminated or accept a wrong value. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/timefmt.h"
#include "query/timeexpr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                           \
	do {                                                                                  \
		if (!(cond)) {                                                                \
			fprintf(stderr, "invariant broken: %s (line %d)\n", #cond, __LINE__); \
			abort();                                                              \
		}                                                                             \
	} while (0)

#define SENTINEL INT64_C(0x5a5a5a5a5a5a5a5a)
#define HOUR_NS INT64_C(3600000000000)

/* A +01:00 zone, so the callback path runs too; clamped at the int64 ends
 * (the contract only asks for a start <= utc_ns). */
static int64_t plus_one_day_start(void *arg, int64_t utc_ns)
{
	const int64_t day = 24 * HOUR_NS;
	int64_t local, r;

	(void)arg;
	if (utc_ns < INT64_MIN + 2 * day)
		return INT64_MIN;
	if (utc_ns > INT64_MAX - HOUR_NS)
		return utc_ns - utc_ns % day;
	local = utc_ns + HOUR_NS;
	r = local % day;
	if (r < 0)
		r += day;
	return local - r - HOUR_NS;
}

/* err is NUL-terminated inside its err_len bytes; empty iff rc == 0 (a
 * 1-byte buffer can only hold the empty string). */
static void check_err(int rc, const char *err, size_t err_len)
{
	CHECK(rc == 0 || rc == -EINVAL);
	if (err_len == 0)
		return;
	CHECK(memchr(err, '\0', err_len) != NULL);
	CHECK(rc != 0 || err[0] == '\0');
	CHECK(rc == 0 || err_len < 2 || err[0] == '"');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* first byte picks the error buffer size (0..63), so truncation runs */
	size_t err_len = size > 0 ? data[0] % 64 : 0;
	/* exact-size heap copies: ASan catches any read past len */
	char *text = malloc(size ? size : 1), *rel = malloc(size + 4), err[256], big[256];
	struct timeexpr_ctx ctx = {.now_ns = INT64_C(1742034600000000000), .day_start = NULL, .arg = NULL};
	int64_t d = SENTINEL, t = SENTINEL, t2 = SENTINEL, r;
	int rc, rc_d, rc_t;

	CHECK(text != NULL && rel != NULL);
	if (size)
		memcpy(text, data, size);

	memset(err, 'X', sizeof err);
	rc_d = timeexpr_parse_duration(text, size, &d, err_len ? err : NULL, err_len);
	check_err(rc_d, err, err_len);
	CHECK(rc_d == 0 ? d >= 0 : d == SENTINEL);

	memset(err, 'X', sizeof err);
	rc_t = timeexpr_parse_time(text, size, &ctx, &t, err_len ? err : NULL, err_len);
	check_err(rc_t, err, err_len);
	CHECK(rc_t == 0 || t == SENTINEL);

	memset(err, 'X', sizeof err);
	ctx.day_start = plus_one_day_start;
	rc = timeexpr_parse_time(text, size, &ctx, &t2, err, sizeof err);
	check_err(rc, err, sizeof err);
	CHECK(rc == 0 || t2 == SENTINEL);
	/* the zone only moves today/yesterday: the rest parse alike */
	CHECK(rc != rc_t || rc != 0 || t2 == t || (size > 0 && (data[0] == 't' || data[0] == 'y')));

	/* an accepted duration reads the same after "now-" and "now+" */
	if (rc_d == 0) {
		ctx.day_start = NULL;
		memcpy(rel, "now-", 4);
		memcpy(rel + 4, text, size);
		CHECK(timeexpr_parse_time(rel, size + 4, &ctx, &r, big, sizeof big) == 0);
		CHECK(r == ctx.now_ns - d);
		rel[3] = '+';
		rc = timeexpr_parse_time(rel, size + 4, &ctx, &r, big, sizeof big);
		CHECK(rc == (d > INT64_MAX - ctx.now_ns ? -EINVAL : 0));
		CHECK(rc != 0 || r == ctx.now_ns + d);
	}

	/* an accepted RFC 3339 time survives formatting and reparsing */
	if (rc_t == 0 && size >= 5 && data[4] == '-') {
		char buf[TIMEFMT_RFC3339_MAX];
		size_t n = timefmt_format_rfc3339(t, buf);
		CHECK(timeexpr_parse_time(buf, n, NULL, &r, big, sizeof big) == 0);
		CHECK(r == t);
	}
	free(text);
	free(rel);
	return 0;
}

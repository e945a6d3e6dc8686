/* timeexpr.c: parser of the query API's time and duration parameters, behind timeexpr.h.
 * Invariants: every read of text is bounded by len (the text is a slice of a URL, not a C string); every arithmetic
 * step on nanoseconds is overflow-checked, so any accepted value is exact; a failure never writes *out_ns.
 * Concurrency: none needed; the module has no state and reads no clock (now and the zone come in the ctx).
 * Shape: a cursor (struct te_cur) walks the text; the error message always quotes the whole parameter, escaped and
 * cut to a fixed length, so a hostile value cannot inject bytes into a log line or an HTTP body. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "lib/timefmt.h"
#include "query/timeexpr.h"

#define NS_PER_DAY 86400000000000LL
#define QUOTE_MAX 48 /* bytes of the text quoted in a message before "..." */
#define UNITS_HINT "(use ns, us, ms, s, m, h, d, w)"

/* Durations units, largest first: the index is the rank that enforces
 * "largest first, each once" in compound durations. */
static const struct {
	const char *name;
	int64_t ns;
} units[] = {
	{"w", 7 * NS_PER_DAY}, {"d", NS_PER_DAY}, {"h", 3600000000000LL}, {"m", 60000000000LL},
	{"s", 1000000000LL},   {"ms", 1000000LL}, {"us", 1000LL},         {"ns", 1LL},
};
#define NUNITS (sizeof units / sizeof units[0])

/* A cursor over the parameter plus where its error message goes. */
struct te_cur {
	const char *t;
	size_t len, pos;
	char *err;
	size_t err_len;
};

/* Copy n bytes of s into out as printable ASCII: quotes, backslashes and
 * anything outside 0x20..0x7e are escaped. out holds 4 * n + 1 bytes. */
static void escape(const char *s, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			*out++ = '\\';
			*out++ = (char)c;
		} else if (c < 0x20 || c > 0x7e) {
			*out++ = '\\';
			*out++ = 'x';
			*out++ = hex[c >> 4];
			*out++ = hex[c & 15];
		} else {
			*out++ = (char)c;
		}
	}
	*out = '\0';
}

/* Write "<quoted text>": <message> into the error buffer; returns -EINVAL
 * so that callers can `return te_fail(...)`. */
__attribute__((format(printf, 2, 3))) static int te_fail(const struct te_cur *c, const char *fmt, ...)
{
	char quoted[4 * QUOTE_MAX + 1];
	size_t n = c->len > QUOTE_MAX ? QUOTE_MAX : c->len;
	va_list ap;
	int k;

	if (c->err == NULL || c->err_len == 0)
		return -EINVAL;
	escape(c->t, n, quoted);
	k = snprintf(c->err, c->err_len, "\"%s%s\": ", quoted, n < c->len ? "..." : "");
	if (k >= 0 && (size_t)k < c->err_len) {
		va_start(ap, fmt);
		vsnprintf(c->err + k, c->err_len - (size_t)k, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int fail_range(const struct te_cur *c)
{
	return te_fail(c, "out of range (int64 nanoseconds reach about 292 years: 1678 to 2262)");
}

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

/* Bytes that can form a unit name: letters, and any non-ASCII byte so that
 * "5µs" reports the whole "µs" as the unknown unit. */
static bool is_unit_byte(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (unsigned char)ch >= 0x80;
}

/* The character at the cursor, escaped, for "unexpected ..." messages. */
static const char *char_here(const struct te_cur *c, char out[8])
{
	escape(c->t + c->pos, 1, out);
	return out;
}

/* Digits at the cursor into *v. Anything above 2^63 is refused at once:
 * no unit is smaller than 1 ns, so it cannot fit (2^63 itself is kept for
 * the epoch "-9223372036854775808ns", which is INT64_MIN). */
static int scan_number(struct te_cur *c, uint64_t *v)
{
	const uint64_t limit = (uint64_t)INT64_MAX + 1;
	size_t start = c->pos;
	uint64_t n = 0;

	for (; c->pos < c->len && is_digit(c->t[c->pos]); c->pos++) {
		n = n * 10 + (uint64_t)(c->t[c->pos] - '0');
		if (n > limit)
			return fail_range(c);
	}
	if (c->pos == start) {
		char ch[8];
		if (c->pos == c->len)
			return te_fail(c, "expected a number at the end");
		return te_fail(c, "expected a number at offset %zu, found \"%s\"", c->pos, char_here(c, ch));
	}
	*v = n;
	return 0;
}

/* The unit after the number that ended at the cursor; *rank indexes units[].
 * The unit is the longest run of unit bytes, so "10x" names "x" and "5min"
 * names "min" rather than reading "m" and tripping on "in". */
static int scan_unit(struct te_cur *c, size_t *rank)
{
	size_t start = c->pos, n;
	char quoted[4 * QUOTE_MAX + 1], ch[8];

	while (c->pos < c->len && is_unit_byte(c->t[c->pos]))
		c->pos++;
	n = c->pos - start;
	if (n == 0 && c->pos == c->len)
		return te_fail(c, "missing unit after the number " UNITS_HINT);
	if (n == 0 && c->t[c->pos] == '.')
		return te_fail(c, "fractions are not supported; use a smaller unit (e.g. 1h30m, 1500ms)");
	if (n == 0)
		return te_fail(c, "missing unit after the number, found \"%s\" at offset %zu " UNITS_HINT,
			       char_here(c, ch), c->pos);
	for (size_t i = 0; i < NUNITS; i++) {
		if (strlen(units[i].name) == n && memcmp(units[i].name, c->t + start, n) == 0) {
			*rank = i;
			return 0;
		}
	}
	escape(c->t + start, n > QUOTE_MAX ? QUOTE_MAX : n, quoted);
	return te_fail(c, "unknown unit \"%s\" " UNITS_HINT, quoted);
}

/* One or more <number><unit> from the cursor, largest unit first, each
 * once; stops before the first byte that cannot start another pair. */
static int scan_duration(struct te_cur *c, int64_t *out)
{
	int64_t total = 0, part;
	size_t rank, prev = NUNITS;
	uint64_t v;
	int rc;

	do {
		if ((rc = scan_number(c, &v)) != 0 || (rc = scan_unit(c, &rank)) != 0)
			return rc;
		if (prev < NUNITS && rank <= prev)
			return te_fail(c, "unit \"%s\" after \"%s\": give units largest first, each once (e.g. 1h30m)",
				       units[rank].name, units[prev].name);
		prev = rank;
		if (v > (uint64_t)INT64_MAX || __builtin_mul_overflow((int64_t)v, units[rank].ns, &part) ||
		    __builtin_add_overflow(total, part, &total))
			return fail_range(c);
	} while (c->pos < c->len && is_digit(c->t[c->pos]));
	*out = total;
	return 0;
}

/* base, then any chain of (+|-)duration to the end of the text. */
static int apply_offsets(struct te_cur *c, int64_t base, int64_t *out)
{
	int64_t d;
	char ch[8];
	int rc;

	while (c->pos < c->len) {
		char sign = c->t[c->pos];
		if (sign != '+' && sign != '-')
			return te_fail(c, "expected \"+\" or \"-\" and a duration at offset %zu, found \"%s\"",
				       c->pos, char_here(c, ch));
		c->pos++;
		if (c->pos == c->len || !is_digit(c->t[c->pos]))
			return te_fail(c, "missing duration after \"%c\" (e.g. now-1h)", sign);
		if ((rc = scan_duration(c, &d)) != 0)
			return rc;
		if (sign == '+' ? __builtin_add_overflow(base, d, &base) : __builtin_sub_overflow(base, d, &base))
			return fail_range(c);
	}
	*out = base;
	return 0;
}

/* Start of the day holding t: the caller's zone, or UTC midnight. */
static int day_start(const struct te_cur *c, const struct timeexpr_ctx *ctx, int64_t t, int64_t *out)
{
	int64_t r;

	if (ctx->day_start != NULL) {
		*out = ctx->day_start(ctx->arg, t);
		return 0;
	}
	r = t % NS_PER_DAY;
	if (r < 0)
		r += NS_PER_DAY;
	if (__builtin_sub_overflow(t, r, out))
		return fail_range(c);
	return 0;
}

/* now / today / yesterday, with their offsets; the keyword is c->t[0..n). */
static int parse_relative(struct te_cur *c, size_t n, const struct timeexpr_ctx *ctx, int64_t *out)
{
	int64_t base;
	int rc;

	if (ctx == NULL)
		return te_fail(c, "a relative time needs the current time, which was not given");
	if (n == 3) {
		base = ctx->now_ns;
	} else if ((rc = day_start(c, ctx, ctx->now_ns, &base)) != 0) {
		return rc;
	} else if (n == 9) {
		/* the day before is the day holding the instant before today
		 * began: right across a 23 h or 25 h DST day, unlike -24h */
		if (base == INT64_MIN)
			return fail_range(c);
		if ((rc = day_start(c, ctx, base - 1, &base)) != 0)
			return rc;
	}
	return apply_offsets(c, base, out);
}

/* [-]<digits><s|ms|us|ns>, and nothing after it. */
static int parse_epoch(struct te_cur *c, int64_t *out)
{
	bool neg = c->t[0] == '-';
	uint64_t v, prod;
	size_t rank;
	char ch[8];
	int rc;

	c->pos = neg;
	if ((rc = scan_number(c, &v)) != 0)
		return rc;
	if (c->pos == c->len)
		return te_fail(c, "a bare number is ambiguous; add a unit: %.*ss (seconds), ms, us or ns",
			       (int)(c->len - neg), c->t + neg);
	if ((rc = scan_unit(c, &rank)) != 0)
		return rc;
	if (units[rank].ns > 1000000000LL) {
		size_t n = c->pos - neg; /* digits and unit only, so nothing to escape */
		return te_fail(c, "an epoch time takes s, ms, us or ns; for a relative time write now-%.*s",
			       (int)n, c->t + neg);
	}
	if (c->pos < c->len)
		return te_fail(c, "unexpected \"%s\" at offset %zu after the epoch time", char_here(c, ch), c->pos);
	if (__builtin_mul_overflow(v, (uint64_t)units[rank].ns, &prod) || prod > (uint64_t)INT64_MAX + neg)
		return fail_range(c);
	/* prod may be 2^63 when neg: step through prod - 1 so nothing overflows */
	*out = neg && prod > 0 ? -(int64_t)(prod - 1) - 1 : (int64_t)prod;
	return 0;
}

static int parse_rfc3339(struct te_cur *c, int64_t *out)
{
	char date[4 * 10 + 1];

	if (timefmt_parse_rfc3339(c->t, c->len, out) == 0)
		return 0;
	if (c->len == 10) {
		escape(c->t, 10, date);
		return te_fail(c, "a date alone is not a time; write e.g. %sT00:00:00Z", date);
	}
	/* seconds (and maybe a fraction) run to the end: the zone is missing */
	if (c->len >= 19 && is_digit(c->t[c->len - 1]) && (c->len == 19 || c->t[19] == '.'))
		return te_fail(c, "RFC 3339 time without a zone; add Z or an offset like +01:00");
	return te_fail(c, "not a valid RFC 3339 time (e.g. 2025-01-01T00:00:00Z or 2025-01-01T01:00:00.5+01:00)");
}

int timeexpr_parse_time(const char *text, size_t len, const struct timeexpr_ctx *ctx, int64_t *out_ns,
			char *err, size_t err_len)
{
	struct te_cur c = {.t = text, .len = len, .pos = 0, .err = err, .err_len = err_len};
	size_t n = 0;

	if (err_len > 0)
		err[0] = '\0';
	if (len == 0)
		return te_fail(&c, "empty time (use RFC 3339, an epoch like 1735689600s, now-1h, today or yesterday)");
	if (len >= 5 && is_digit(text[0]) && is_digit(text[1]) && is_digit(text[2]) && is_digit(text[3]) &&
	    text[4] == '-')
		return parse_rfc3339(&c, out_ns);
	if (is_digit(text[0]) || (text[0] == '-' && len > 1 && is_digit(text[1])))
		return parse_epoch(&c, out_ns);
	while (n < len && text[n] >= 'a' && text[n] <= 'z')
		n++;
	c.pos = n;
	if ((n == 3 && memcmp(text, "now", 3) == 0) || (n == 5 && memcmp(text, "today", 5) == 0) ||
	    (n == 9 && memcmp(text, "yesterday", 9) == 0))
		return parse_relative(&c, n, ctx, out_ns);
	return te_fail(&c, "not a time (use RFC 3339, an epoch like 1735689600s, now, now-1h, today or yesterday)");
}

int timeexpr_parse_duration(const char *text, size_t len, int64_t *out_ns, char *err, size_t err_len)
{
	struct te_cur c = {.t = text, .len = len, .pos = 0, .err = err, .err_len = err_len};
	char ch[8];
	int64_t d;
	int rc;

	if (err_len > 0)
		err[0] = '\0';
	if (len == 0)
		return te_fail(&c, "empty duration (e.g. 15s, 5m, 1h30m)");
	if (text[0] == '-')
		return te_fail(&c, "a duration cannot be negative");
	if (text[0] == '+')
		return te_fail(&c, "a duration takes no sign");
	if ((rc = scan_duration(&c, &d)) != 0)
		return rc;
	if (c.pos < len)
		return te_fail(&c, "unexpected \"%s\" at offset %zu after the duration", char_here(&c, ch), c.pos);
	*out_ns = d;
	return 0;
}

/* timeexpr.h: the time and duration parameters of the query API ("now-1h", "today", RFC 3339, "1735689600s", "1h30m").
 * Pure parsers: no I/O, no globals, no clock reads; the clock and the request's time zone come in from the caller. */
#ifndef HS_TIMEEXPR_H
#define HS_TIMEEXPR_H

#include <stddef.h>
#include <stdint.h>

/* Start of the local calendar day that contains utc_ns, as a UTC instant in
 * ns (so for a +01:00 zone and 2025-01-01T10:00:00Z it returns
 * 2024-12-31T23:00:00Z). Must be <= utc_ns. Called at most twice per parse,
 * on the parsing thread; arg is timeexpr_ctx.arg. */
typedef int64_t (*timeexpr_day_start_fn)(void *arg, int64_t utc_ns);

/* What a relative time is relative to. The caller reads the clock once per
 * request and fills now_ns, so every parameter of one request sees the same
 * "now". day_start NULL means days run midnight to midnight UTC. */
struct timeexpr_ctx {
	int64_t now_ns;                  /* ns since the Unix epoch, UTC */
	timeexpr_day_start_fn day_start; /* NULL = UTC days */
	void *arg;                       /* passed to day_start untouched */
};

/* Parse a point in time, one of:
 *   RFC 3339              2025-01-01T00:00:00Z, 2025-01-01T01:00:00.5+01:00
 *   epoch with a unit     1735689600s, 1735689600000ms, ...us, ...ns; may be
 *                         negative; a bare number is refused as ambiguous
 *   now[(+|-)duration]... now, now-1h, now+15m, now-1d-2h, now-1h30m
 *   today[...]            start of the current local day, e.g. today-1d
 *   yesterday[...]        start of the previous local day, e.g. yesterday+6h
 * text need not be NUL-terminated: exactly len bytes are read. ctx may be
 * NULL only if text is absolute (RFC 3339 or epoch).
 * Returns 0 and sets *out_ns, or -EINVAL leaving *out_ns untouched and
 * writing into err (err_len bytes, always NUL-terminated when err_len > 0;
 * err may be NULL when err_len is 0) a message that quotes the text and says
 * what is wrong, to be prefixed with the parameter name by the caller.
 * Thread-safe: it touches nothing but its arguments. */
int timeexpr_parse_time(const char *text, size_t len, const struct timeexpr_ctx *ctx,
			int64_t *out_ns, char *err, size_t err_len)
	__attribute__((warn_unused_result));

/* Parse a non-negative duration: one or more <digits><unit> with units
 * ns, us, ms, s, m, h, d (24 h), w (7 d), largest first and each at most
 * once ("1h30m", "250us", "0s"). No sign, no fraction, no spaces. A total
 * over INT64_MAX ns (about 292 years) is refused. Same text, return and
 * err contract as timeexpr_parse_time(). */
int timeexpr_parse_duration(const char *text, size_t len, int64_t *out_ns, char *err,
			    size_t err_len) __attribute__((warn_unused_result));

#endif

/* timefmt.h: RFC 3339 timestamps <-> int64 nanoseconds since the Unix epoch (UTC), without the C library's time zone.
 * Pure and thread-safe: days are computed from the civil calendar, so no setenv("TZ") or gmtime state is involved. */
#ifndef HS_TIMEFMT_H
#define HS_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#define TIMEFMT_RFC3339_MAX 40 /* "-292277-01-01T00:00:00.123456789+00:00" and NUL fit */

/* Parse "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm)" (T or t or a
 * space; up to 9 fraction digits) into *ns. Returns 0, or -1 when the text
 * is not such a time or is out of int64 range. */
int timefmt_parse_rfc3339(const char *text, size_t len, int64_t *ns);

/* Write ns as "YYYY-MM-DDTHH:MM:SS[.fffffffff]Z" (fraction only when not
 * zero, trailing zeros dropped) into buf (TIMEFMT_RFC3339_MAX bytes).
 * Returns the length. */
size_t timefmt_format_rfc3339(int64_t ns, char *buf);

/* Days since 1970-01-01 of a civil date, and back (proleptic Gregorian). */
int64_t timefmt_days_from_civil(int64_t y, unsigned m, unsigned d);
void timefmt_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

#endif

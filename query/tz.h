/* tz.h: named time zones from the system tz database (TZif files), for calendar buckets in local time.
 * No setenv("TZ") and no localtime(): after loading, every function is pure and safe from any thread. */
#ifndef HS_TZ_H
#define HS_TZ_H

#include <stdint.h>

#define TZ_ERR_LEN 256     /* size of every err buffer below */
#define TZ_NAME_MAX 255    /* longest zone name accepted */

/* A loaded zone: the TZif transitions plus the footer's POSIX TZ rule for
 * instants after the last transition. Immutable once loaded, so one zone
 * may be shared by any number of threads without locking. */
struct tz;

enum tz_unit {
	TZ_DAY,   /* civil day, local midnight to local midnight */
	TZ_WEEK,  /* ISO week, Monday 00:00 local to the next Monday */
	TZ_MONTH, /* civil month, the 1st 00:00 local to the next 1st */
};

/* Load zone `name` ("UTC", "Europe/Berlin", "America/New_York") from the
 * directory in the environment variable HS_ZONEINFO, else
 * /usr/share/zoneinfo. "UTC" is built in and needs no file.
 *
 * The name must be 1..TZ_NAME_MAX characters from [A-Za-z0-9_+-/], must not
 * start with '/' nor contain "..": it never leaves the zoneinfo directory.
 * Reads TZif versions 1, 2, 3 and 4 (the 64-bit block of version 2 and
 * later); files with leap-second records ("right/" zones) are refused.
 *
 * Returns 0 and sets *out to a zone the caller frees with tz_free(); or
 * -EINVAL (bad name), -ENOENT (no such zone), HS_ECORRUPT (not a valid
 * TZif file), -ENOMEM or another -errno, with a one-line reason in err
 * (TZ_ERR_LEN bytes) and *out untouched. Any thread; does file I/O. */
__attribute__((warn_unused_result)) int tz_load(const char *name, struct tz **out, char *err);

/* Free a zone from tz_load() (NULL is fine). Not for tz_get() zones. */
void tz_free(struct tz *z);

/* The zone's name as given to tz_load(); valid as long as the zone. */
const char *tz_name(const struct tz *z);

/* UTC offset in seconds (local = UTC + offset) in force at utc_ns. */
int64_t tz_offset_at(const struct tz *z, int64_t utc_ns);

/* The UTC instant, in seconds since the epoch, of local wall time local_s
 * (seconds since 1970-01-01T00:00 local). A wall time skipped by a forward
 * change (a gap) gives the instant the gap ends, i.e. the change itself; a
 * wall time that occurs twice (an overlap) gives the earlier instant. */
int64_t tz_local_to_utc(const struct tz *z, int64_t local_s);

/* The calendar bucket (unit) that contains utc_ns in zone z: *start_ns is
 * its first instant, *next_ns the first instant of the following bucket,
 * start <= utc_ns < next. Edges are local midnights through
 * tz_local_to_utc(), so a day may last 23, 24 or 25 hours (or other
 * lengths in zones with unusual changes). An instant in the repeated hour
 * after a midnight that occurs twice belongs to the new day.
 * Returns 0, or -ERANGE when an edge falls outside int64 nanoseconds. */
__attribute__((warn_unused_result)) int tz_floor(const struct tz *z, int64_t utc_ns, enum tz_unit unit,
						 int64_t *start_ns, int64_t *next_ns);

/* A process-wide cache of loaded zones, by name, under a mutex. Returns a
 * shared zone, loading it on first use, or NULL with a reason in err
 * (TZ_ERR_LEN bytes). The pointer stays valid until tz_cache_free(); do
 * not tz_free() it. Any thread. */
const struct tz *tz_get(const char *name, char *err);

/* Free every cached zone. Call once at shutdown, when no thread still uses
 * a pointer from tz_get(). */
void tz_cache_free(void);

#endif

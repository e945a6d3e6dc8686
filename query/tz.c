/* tz.c: TZif (RFC 8536) reader, POSIX TZ rule evaluation and local-calendar bucket edges behind tz.h.
 * Invariants: a loaded struct tz is never written again, so lookups need no lock; only the name cache has a mutex.
 *
 * Layout of a loaded zone: the transitions (ascending UTC seconds) with the
 * index of the local time type each one starts, the types' UTC offsets, and
 * the footer rule. An instant before the first transition takes type 0
 * (RFC 8536 section 3.2); one at or after the last transition takes the
 * footer rule when the file has one, else the last transition's type.
 *
 * Every byte of the file goes through the bounds-checked cursor below; a
 * file that is short, inconsistent or oversized is refused as HS_ECORRUPT,
 * with the reason and the source line of the check in err. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/hs_error.h"
#include "lib/timefmt.h"
#include "query/tz.h"

#define NS_PER_S 1000000000LL
#define TZ_FILE_MAX (1 << 20)     /* real zones are < 4 KiB; refuse anything absurd */
#define TZ_OFFSET_MAX (26 * 3600) /* |UT offset| bound; real ones are within +-15 h */
#define TZ_RULE_TIME_MAX (167 * 3600 + 59 * 60 + 59) /* RFC 8536 section 3.3.1 */
#define TZ_DAYS_MAX 200000         /* int64 ns covers +-106752 days; more is out of range */
#define TZ_LOCAL_MAX (1LL << 50)   /* clamp for wall times, ~35 million years */
#define TZ_DEFAULT_DIR "/usr/share/zoneinfo"

/* One end of a DST period in a POSIX TZ string. */
struct tz_date {
	char kind;       /* 'J' (Jn, 1..365, no Feb 29), 'D' (n, 0..365), 'M' (Mm.w.d) */
	int n, m, w, d;  /* n for J and D; month, week 1..5 (5 = last), weekday 0 = Sunday for M */
	int32_t time_s;  /* local time of day of the change, -167 h .. +167 h */
};

struct tz_rule {
	int32_t std_off;  /* UTC offset in seconds (east positive) */
	int32_t dst_off;
	bool has_dst;
	struct tz_date start, end; /* start in standard time, end in daylight time */
};

struct tz {
	char name[TZ_NAME_MAX + 1];
	size_t trans_count;
	int64_t *trans_s;   /* trans_count ascending UTC seconds */
	uint8_t *trans_type; /* trans_count indexes into type_off */
	size_t type_count;
	int32_t *type_off;  /* type_count offsets in seconds */
	bool has_rule;      /* footer present and not empty */
	struct tz_rule rule;
};

__attribute__((format(printf, 2, 3))) static void tz__err(char *err, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(err, TZ_ERR_LEN, fmt, ap);
	va_end(ap);
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* ---- POSIX TZ strings (the TZif footer) ---- */

/* A zone abbreviation: <...> quoted, or letters only. */
static bool rule_name(const char **pp)
{
	const char *p = *pp, *s;

	if (*p == '<') {
		for (s = ++p; *p != '\0' && *p != '>'; p++)
			if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
			      *p == '+' || *p == '-'))
				return false;
		if (*p != '>' || p == s)
			return false;
		*pp = p + 1;
		return true;
	}
	for (s = p; (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'); p++)
		;
	if (p - s < 3)
		return false;
	*pp = p;
	return true;
}

static bool rule_num(const char **pp, int lo, int hi, int *out)
{
	const char *p = *pp;
	int v = 0;

	if (*p < '0' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9') {
		v = v * 10 + (*p++ - '0');
		if (v > hi)
			return false;
	}
	if (v < lo)
		return false;
	*out = v;
	*pp = p;
	return true;
}

/* [+-]hh[:mm[:ss]] with hh <= max_h, in seconds. */
static bool rule_hms(const char **pp, int max_h, int32_t *out)
{
	const char *p = *pp;
	int sign = 1, h, m = 0, s = 0;

	if (*p == '+' || *p == '-')
		sign = *p++ == '-' ? -1 : 1;
	if (!rule_num(&p, 0, max_h, &h))
		return false;
	if (*p == ':') {
		p++;
		if (!rule_num(&p, 0, 59, &m))
			return false;
		if (*p == ':') {
			p++;
			if (!rule_num(&p, 0, 59, &s))
				return false;
		}
	}
	*out = sign * (h * 3600 + m * 60 + s);
	*pp = p;
	return true;
}

/* Jn | n | Mm.w.d, then [/time] (default 02:00). */
static bool rule_date(const char **pp, struct tz_date *dt)
{
	const char *p = *pp;

	memset(dt, 0, sizeof(*dt));
	if (*p == 'J') {
		p++;
		dt->kind = 'J';
		if (!rule_num(&p, 1, 365, &dt->n))
			return false;
	} else if (*p == 'M') {
		p++;
		dt->kind = 'M';
		if (!rule_num(&p, 1, 12, &dt->m) || *p++ != '.' || !rule_num(&p, 1, 5, &dt->w) || *p++ != '.' ||
		    !rule_num(&p, 0, 6, &dt->d))
			return false;
	} else {
		dt->kind = 'D';
		if (!rule_num(&p, 0, 365, &dt->n))
			return false;
	}
	dt->time_s = 2 * 3600;
	if (*p == '/') {
		p++;
		if (!rule_hms(&p, 167, &dt->time_s))
			return false;
	}
	*pp = p;
	return true;
}

/* Parse a POSIX TZ string: std offset [dst [offset] [,start[/time],end[/time]]].
 * POSIX offsets are west-positive; they are stored east-positive. */
static bool rule_parse(const char *s, struct tz_rule *r)
{
	const char *p = s;
	int32_t off;

	memset(r, 0, sizeof(*r));
	if (!rule_name(&p) || !rule_hms(&p, 24, &off))
		return false;
	r->std_off = -off;
	if (*p == '\0')
		return true;
	if (!rule_name(&p))
		return false;
	r->has_dst = true;
	r->dst_off = r->std_off + 3600;
	if (*p != ',' && *p != '\0') {
		if (!rule_hms(&p, 24, &off))
			return false;
		r->dst_off = -off;
	}
	if (*p == '\0') {
		/* No rule given: the tzcode and glibc default, the US rules of 2007. */
		p = ",M3.2.0,M11.1.0";
	}
	if (*p++ != ',' || !rule_date(&p, &r->start) || *p++ != ',' || !rule_date(&p, &r->end))
		return false;
	return *p == '\0';
}

static bool is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days since the epoch of a rule date in year y. */
static int64_t rule_day(const struct tz_date *dt, int64_t y)
{
	static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int64_t jan1 = timefmt_days_from_civil(y, 1, 1), first;
	unsigned dim, day;

	switch (dt->kind) {
	case 'J': /* Feb 29 is never counted: day 60 is always March 1 */
		return jan1 + dt->n - 1 + (is_leap(y) && dt->n >= 60);
	case 'D':
		return jan1 + dt->n;
	default:
		first = timefmt_days_from_civil(y, (unsigned)dt->m, 1);
		/* 1970-01-01 was a Thursday (4). */
		day = 1 + (unsigned)((dt->d - (first + 4) % 7 + 14) % 7) + (unsigned)(dt->w - 1) * 7;
		dim = mdays[dt->m - 1] + (dt->m == 2 && is_leap(y));
		while (day > dim)
			day -= 7;
		return first + day - 1;
	}
}

static int32_t rule_offset_at(const struct tz_rule *r, int64_t t)
{
	int64_t y, latest = INT64_MIN, start, end;
	unsigned m, d;
	bool dst = false;

	if (!r->has_dst)
		return r->std_off;
	/* The latest change at or before t, among the changes of the years
	 * around t: a change time up to 167 h may push a change into the
	 * neighbouring year, so the year of t alone is not enough. */
	timefmt_civil_from_days(floor_div(t + r->std_off, 86400), &y, &m, &d);
	for (int64_t yy = y - 1; yy <= y + 1; yy++) {
		start = rule_day(&r->start, yy) * 86400 + r->start.time_s - r->std_off;
		end = rule_day(&r->end, yy) * 86400 + r->end.time_s - r->dst_off;
		if (start <= t && start >= latest) {
			latest = start;
			dst = true;
		}
		if (end <= t && end >= latest) {
			latest = end;
			dst = false;
		}
	}
	return dst ? r->dst_off : r->std_off;
}

/* ---- Lookups ---- */

static int32_t offset_at_s(const struct tz *z, int64_t t)
{
	size_t lo, hi;

	if (z->trans_count == 0)
		return z->has_rule ? rule_offset_at(&z->rule, t) : z->type_off[0];
	if (t < z->trans_s[0])
		return z->type_off[0];
	if (t >= z->trans_s[z->trans_count - 1] && z->has_rule)
		return rule_offset_at(&z->rule, t);
	/* Last transition at or before t. */
	lo = 0;
	hi = z->trans_count;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (z->trans_s[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	return z->type_off[z->trans_type[lo]];
}

int64_t tz_offset_at(const struct tz *z, int64_t utc_ns)
{
	return offset_at_s(z, floor_div(utc_ns, NS_PER_S));
}

const char *tz_name(const struct tz *z)
{
	return z->name;
}

int64_t tz_local_to_utc(const struct tz *z, int64_t local_s)
{
	/* Any UTC instant u with u + offset(u) == local_s is within a day of
	 * local_s. Candidates come from the offsets a day either side and
	 * from the fixed-point guess; zones do not change twice in two days. */
	int64_t cand[4], best = INT64_MAX, lo = INT64_MAX, hi = INT64_MIN;
	int32_t lo_off;

	/* Far beyond any nanosecond timestamp; keeps the arithmetic in range. */
	if (local_s > TZ_LOCAL_MAX)
		local_s = TZ_LOCAL_MAX;
	if (local_s < -TZ_LOCAL_MAX)
		local_s = -TZ_LOCAL_MAX;
	cand[0] = local_s - offset_at_s(z, local_s - 86400);
	cand[1] = local_s - offset_at_s(z, local_s + 86400);
	cand[2] = local_s - offset_at_s(z, local_s);
	cand[3] = local_s - offset_at_s(z, cand[2]);
	for (int i = 0; i < 4; i++) {
		if (cand[i] + offset_at_s(z, cand[i]) == local_s && cand[i] < best)
			best = cand[i];
		lo = cand[i] < lo ? cand[i] : lo;
		hi = cand[i] > hi ? cand[i] : hi;
	}
	if (best != INT64_MAX)
		return best;
	/* A gap: the change lies in (lo, hi]; find the first instant whose
	 * offset differs from lo's. That instant starts the new wall time. */
	lo_off = offset_at_s(z, lo);
	while (hi - lo > 1) {
		int64_t mid = lo + (hi - lo) / 2;
		if (offset_at_s(z, mid) == lo_off)
			lo = mid;
		else
			hi = mid;
	}
	return hi;
}

/* Local midnight at the start of local day `days`, in UTC ns. */
static int day_start_ns(const struct tz *z, int64_t days, int64_t *ns)
{
	int64_t s;

	if (days > TZ_DAYS_MAX || days < -TZ_DAYS_MAX)
		return -ERANGE;
	s = tz_local_to_utc(z, days * 86400);
	if (s > INT64_MAX / NS_PER_S || s < INT64_MIN / NS_PER_S)
		return -ERANGE;
	*ns = s * NS_PER_S;
	return 0;
}

/* First local day of the bucket holding local day `day`, and of the next. */
static void bucket_days(int64_t day, enum tz_unit unit, int64_t *first, int64_t *next)
{
	int64_t y;
	unsigned m, d;

	switch (unit) {
	case TZ_WEEK: /* ISO weeks start on Monday; day 0 was a Thursday (Mon = 0 .. Thu = 3) */
		*first = day - ((day % 7 + 7 + 3) % 7);
		*next = *first + 7;
		break;
	case TZ_MONTH:
		timefmt_civil_from_days(day, &y, &m, &d);
		*first = timefmt_days_from_civil(y, m, 1);
		*next = m == 12 ? timefmt_days_from_civil(y + 1, 1, 1) : timefmt_days_from_civil(y, m + 1, 1);
		break;
	default:
		*first = day;
		*next = day + 1;
		break;
	}
}

int tz_floor(const struct tz *z, int64_t utc_ns, enum tz_unit unit, int64_t *start_ns, int64_t *next_ns)
{
	int64_t t = floor_div(utc_ns, NS_PER_S), day, first, next, s_ns = 0, n_ns = 0;
	int rc;

	day = floor_div(t + offset_at_s(z, t), 86400);
	bucket_days(day, unit, &first, &next);
	rc = day_start_ns(z, first, &s_ns);
	if (rc == 0)
		rc = day_start_ns(z, next, &n_ns);
	if (rc == 0 && n_ns <= utc_ns) {
		/* The wall clock went back over midnight: the instant is in the
		 * repeated hour, which belongs to the bucket that began. */
		bucket_days(next, unit, &first, &next);
		s_ns = n_ns;
		rc = day_start_ns(z, next, &n_ns);
	}
	if (rc == 0) {
		*start_ns = s_ns;
		*next_ns = n_ns;
	}
	return rc;
}

/* ---- TZif files ---- */

/* Bounds-checked big-endian reader over the file's bytes. */
struct tz_cur {
	const unsigned char *p;
	size_t len, pos;
	bool bad;
};

static const unsigned char *cur_take(struct tz_cur *c, size_t n)
{
	const unsigned char *p;

	if (c->bad || n > c->len - c->pos) {
		c->bad = true;
		return NULL;
	}
	p = c->p + c->pos;
	c->pos += n;
	return p;
}

static uint32_t cur_be32(struct tz_cur *c)
{
	const unsigned char *p = cur_take(c, 4);
	return p == NULL ? 0 : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t cur_be64(struct tz_cur *c)
{
	uint64_t hi = cur_be32(c), lo = cur_be32(c);
	return (int64_t)(hi << 32 | lo);
}

struct tzif_hdr {
	unsigned version; /* 0 for version 1, else '2', '3', '4' */
	uint32_t isut, isstd, leap, time, type, chars;
};

#define TZ_CORRUPT(why) (line = __LINE__, reason = (why), HS_ECORRUPT)

static int tzif_header(struct tz_cur *c, struct tzif_hdr *h, int *line, const char **reason)
{
	const unsigned char *p = cur_take(c, 20);

	if (p == NULL)
		return (*line = __LINE__, *reason = "shorter than a TZif header", HS_ECORRUPT);
	if (memcmp(p, "TZif", 4) != 0)
		return (*line = __LINE__, *reason = "no TZif magic", HS_ECORRUPT);
	h->version = p[4];
	if (h->version != 0 && (h->version < '2' || h->version > '4'))
		return (*line = __LINE__, *reason = "unknown TZif version", HS_ECORRUPT);
	h->isut = cur_be32(c);
	h->isstd = cur_be32(c);
	h->leap = cur_be32(c);
	h->time = cur_be32(c);
	h->type = cur_be32(c);
	h->chars = cur_be32(c);
	if (c->bad)
		return (*line = __LINE__, *reason = "short TZif header", HS_ECORRUPT);
	if (h->type == 0 || h->type > 256 || h->chars == 0 || h->time > 1000000 || h->chars > 65536 ||
	    h->leap > 100000 || (h->isut != 0 && h->isut != h->type) || (h->isstd != 0 && h->isstd != h->type))
		return (*line = __LINE__, *reason = "inconsistent TZif counts", HS_ECORRUPT);
	return 0;
}

/* Read one data block (time_len 4 or 8 bytes per time) into z. */
static int tzif_block(struct tz_cur *c, const struct tzif_hdr *h, size_t time_len, struct tz *z, int *line,
		      const char **reason)
{
	const unsigned char *p;

	z->trans_count = h->time;
	z->type_count = h->type;
	z->trans_s = calloc(h->time + 1, sizeof(*z->trans_s));
	z->trans_type = calloc(h->time + 1, 1);
	z->type_off = calloc(h->type, sizeof(*z->type_off));
	if (z->trans_s == NULL || z->trans_type == NULL || z->type_off == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < h->time; i++) {
		z->trans_s[i] = time_len == 8 ? cur_be64(c) : (int64_t)(int32_t)cur_be32(c);
		if (i > 0 && !c->bad && z->trans_s[i] <= z->trans_s[i - 1])
			return (*line = __LINE__, *reason = "transition times not ascending", HS_ECORRUPT);
	}
	p = cur_take(c, h->time);
	if (p != NULL)
		memcpy(z->trans_type, p, h->time);
	for (size_t i = 0; i < h->time; i++)
		if (p != NULL && z->trans_type[i] >= h->type)
			return (*line = __LINE__, *reason = "transition names a missing type", HS_ECORRUPT);
	for (size_t i = 0; i < h->type; i++) {
		int32_t off = (int32_t)cur_be32(c);
		p = cur_take(c, 2); /* isdst, abbreviation index */
		if (p != NULL && (off < -TZ_OFFSET_MAX || off > TZ_OFFSET_MAX || p[0] > 1 || p[1] >= h->chars))
			return (*line = __LINE__, *reason = "bad local time type", HS_ECORRUPT);
		z->type_off[i] = off;
	}
	cur_take(c, (size_t)h->chars + (size_t)h->leap * (time_len + 4) + h->isstd + h->isut);
	if (c->bad)
		return (*line = __LINE__, *reason = "data block cut short", HS_ECORRUPT);
	return 0;
}

/* The footer of version 2+: "\n" POSIX-TZ "\n" after the 64-bit block. */
static int tzif_footer(struct tz_cur *c, struct tz *z, int *line, const char **reason)
{
	char buf[128];
	const unsigned char *p = cur_take(c, 1), *nl;
	size_t n;

	if (p == NULL || p[0] != '\n')
		return (*line = __LINE__, *reason = "missing footer", HS_ECORRUPT);
	nl = memchr(c->p + c->pos, '\n', c->len - c->pos);
	if (nl == NULL)
		return (*line = __LINE__, *reason = "unterminated footer", HS_ECORRUPT);
	n = (size_t)(nl - (c->p + c->pos));
	if (n >= sizeof(buf))
		return (*line = __LINE__, *reason = "footer too long", HS_ECORRUPT);
	memcpy(buf, c->p + c->pos, n);
	buf[n] = '\0';
	if (n == 0)
		return 0; /* empty: the last type stays in force */
	if (!rule_parse(buf, &z->rule))
		return (*line = __LINE__, *reason = "bad POSIX TZ string in footer", HS_ECORRUPT);
	z->has_rule = true;
	return 0;
}

static int tzif_parse(const unsigned char *buf, size_t len, struct tz *z, char *err, const char *path)
{
	struct tz_cur c = {buf, len, 0, false};
	struct tzif_hdr h;
	const char *reason = NULL;
	int line = 0, rc;

	rc = tzif_header(&c, &h, &line, &reason);
	if (rc == 0 && h.version != 0) {
		/* Skip the 32-bit block; the 64-bit one follows its own header. */
		size_t v1 = (size_t)h.time * 5 + (size_t)h.type * 6 + h.chars + (size_t)h.leap * 8 + h.isstd + h.isut;
		if (cur_take(&c, v1) == NULL)
			rc = TZ_CORRUPT("version 1 block cut short");
		else
			rc = tzif_header(&c, &h, &line, &reason);
	}
	if (rc == 0 && h.leap != 0)
		rc = TZ_CORRUPT("leap-second (\"right/\") zones are not supported");
	if (rc == 0)
		rc = tzif_block(&c, &h, h.version != 0 ? 8 : 4, z, &line, &reason);
	if (rc == 0 && h.version != 0)
		rc = tzif_footer(&c, z, &line, &reason);
	if (rc == HS_ECORRUPT)
		tz__err(err, "%s: not a valid TZif file: %s (tz.c:%d)", path, reason, line);
	else if (rc != 0)
		tz__err(err, "%s: out of memory", path);
	return rc;
}

static int read_file(const char *path, unsigned char **out, size_t *out_len, char *err)
{
	struct stat st;
	unsigned char *buf = NULL;
	size_t got = 0;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -ENOENT; /* "Europe" is a directory, not a zone */
		goto out;
	}
	if (st.st_size > TZ_FILE_MAX) {
		rc = -EFBIG;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto out;
		}
		if (n == 0)
			break; /* shrank under us: parse what is there */
		got += (size_t)n;
	}
	*out = buf;
	*out_len = got;
	buf = NULL;
out:
	if (rc == -ENOENT)
		tz__err(err, "%s: no such time zone", path);
	else if (rc != 0)
		tz__err(err, "%s: %s", path, strerror(-rc));
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}

static int check_name(const char *name, char *err)
{
	size_t len = strlen(name);

	if (len == 0 || len > TZ_NAME_MAX) {
		tz__err(err, "time zone name must be 1 to %d characters", TZ_NAME_MAX);
		return -EINVAL;
	}
	if (name[0] == '/' || strstr(name, "..") != NULL) {
		tz__err(err, "time zone name \"%.64s\" must be relative to the zoneinfo directory", name);
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		char ch = name[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ||
		      ch == '+' || ch == '-' || ch == '/')) {
			tz__err(err, "time zone name \"%.64s\" has a character outside [A-Za-z0-9_+-/]", name);
			return -EINVAL;
		}
	}
	return 0;
}

void tz_free(struct tz *z)
{
	if (z == NULL)
		return;
	free(z->trans_s);
	free(z->trans_type);
	free(z->type_off);
	free(z);
}

int tz_load(const char *name, struct tz **out, char *err)
{
	const char *dir = getenv("HS_ZONEINFO");
	char path[4096];
	unsigned char *buf = NULL;
	size_t len = 0;
	struct tz *z = NULL;
	int rc;

	rc = check_name(name, err);
	if (rc != 0)
		goto out;
	z = calloc(1, sizeof(*z));
	if (z == NULL) {
		rc = -ENOMEM;
		tz__err(err, "out of memory");
		goto out;
	}
	memcpy(z->name, name, strlen(name) + 1);
	if (strcmp(name, "UTC") == 0) {
		z->type_count = 1;
		z->type_off = calloc(1, sizeof(*z->type_off));
		rc = z->type_off == NULL ? -ENOMEM : 0;
		if (rc != 0)
			tz__err(err, "out of memory");
		goto out;
	}
	if (dir == NULL || dir[0] == '\0')
		dir = TZ_DEFAULT_DIR;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path)) {
		rc = -ENAMETOOLONG;
		tz__err(err, "zoneinfo path too long");
		goto out;
	}
	rc = read_file(path, &buf, &len, err);
	if (rc == 0)
		rc = tzif_parse(buf, len, z, err, path);
out:
	free(buf);
	if (rc == 0) {
		*out = z;
		z = NULL;
	}
	tz_free(z);
	return rc;
}

/* ---- The shared cache ---- */

struct tz_cache_ent {
	struct tz_cache_ent *next;
	struct tz *zone;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tz_cache_ent *cache_head;

const struct tz *tz_get(const char *name, char *err)
{
	struct tz_cache_ent *e;
	struct tz *z = NULL;

	pthread_mutex_lock(&cache_lock);
	for (e = cache_head; e != NULL; e = e->next)
		if (strcmp(e->zone->name, name) == 0) {
			z = e->zone;
			goto out;
		}
	/* Loading under the lock keeps one copy per name; it happens once. */
	e = malloc(sizeof(*e));
	if (e == NULL) {
		tz__err(err, "out of memory");
		goto out;
	}
	if (tz_load(name, &z, err) != 0) {
		free(e);
		z = NULL;
		goto out;
	}
	e->zone = z;
	e->next = cache_head;
	cache_head = e;
out:
	pthread_mutex_unlock(&cache_lock);
	return z;
}

void tz_cache_free(void)
{
	struct tz_cache_ent *e, *next;

	pthread_mutex_lock(&cache_lock);
	for (e = cache_head; e != NULL; e = next) {
		next = e->next;
		tz_free(e->zone);
		free(e);
	}
	cache_head = NULL;
	pthread_mutex_unlock(&cache_lock);
}

/* timefmt.c: RFC 3339 parsing and formatting behind timefmt.h.
 * The civil-date arithmetic is Howard Hinnant's well-known days_from_civil algorithm, written out here. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "lib/timefmt.h"

#define NS_PER_S 1000000000LL

int64_t timefmt_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

void timefmt_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* n decimal digits at p into *out; false if any is not a digit. */
static bool digits(const char *p, int n, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	*out = v;
	return true;
}

static int days_in_month(int64_t y, unsigned m)
{
	static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : dim[m - 1];
}

/* The zone suffix at p (len bytes): "Z" or "+hh:mm"/"-hh:mm". */
static int parse_zone(const char *p, size_t len, int64_t *offset_s)
{
	unsigned hh, mm;

	if (len == 1 && (p[0] == 'Z' || p[0] == 'z')) {
		*offset_s = 0;
		return 0;
	}
	if (len != 6 || (p[0] != '+' && p[0] != '-') || p[3] != ':' || !digits(p + 1, 2, &hh) ||
	    !digits(p + 4, 2, &mm) || hh > 23 || mm > 59)
		return -1;
	*offset_s = (int64_t)(hh * 3600 + mm * 60) * (p[0] == '-' ? -1 : 1);
	return 0;
}

int timefmt_parse_rfc3339(const char *t, size_t len, int64_t *ns)
{
	unsigned y, mo, d, h, mi, s, frac_v;
	int64_t frac = 0, offset, secs;
	size_t i = 19;

	if (len < 20 || !digits(t, 4, &y) || t[4] != '-' || !digits(t + 5, 2, &mo) || t[7] != '-' ||
	    !digits(t + 8, 2, &d) || (t[10] != 'T' && t[10] != 't' && t[10] != ' ') ||
	    !digits(t + 11, 2, &h) || t[13] != ':' || !digits(t + 14, 2, &mi) || t[16] != ':' ||
	    !digits(t + 17, 2, &s))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || (int)d > days_in_month(y, mo) || h > 23 || mi > 59 ||
	    s > 60)
		return -1;
	if (t[i] == '.') {
		int n = 0;
		for (i++; i < len && t[i] >= '0' && t[i] <= '9'; i++, n++) {
			if (n >= 9)
				return -1;
			digits(t + i, 1, &frac_v);
			frac = frac * 10 + frac_v;
		}
		if (n == 0)
			return -1;
		for (; n < 9; n++)
			frac *= 10;
	}
	if (parse_zone(t + i, len - i, &offset) != 0)
		return -1;
	if (s == 60)
		s = 59; /* a leap second reads as the second before it */
	secs = timefmt_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset;
	if (secs > INT64_MAX / NS_PER_S - 1 || secs < INT64_MIN / NS_PER_S + 1)
		return -1;
	*ns = secs * NS_PER_S + frac;
	return 0;
}

static char *put2(char *p, unsigned v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
	return p + 2;
}

size_t timefmt_format_rfc3339(int64_t ns, char *buf)
{
	int64_t secs = ns / NS_PER_S, frac = ns % NS_PER_S, days, y;
	unsigned m, d, sod;
	char *p = buf;

	if (frac < 0) {
		frac += NS_PER_S;
		secs--;
	}
	days = secs / 86400;
	if (secs % 86400 < 0)
		days--;
	sod = (unsigned)(secs - days * 86400);
	timefmt_civil_from_days(days, &y, &m, &d);
	/* By hand: exports write millions of these, and snprintf dominated. */
	if (y >= 0 && y <= 9999) {
		p = put2(p, (unsigned)(y / 100));
		p = put2(p, (unsigned)(y % 100));
	} else {
		p += snprintf(p, TIMEFMT_RFC3339_MAX, "%04lld", (long long)y);
	}
	*p++ = '-';
	p = put2(p, m);
	*p++ = '-';
	p = put2(p, d);
	*p++ = 'T';
	p = put2(p, sod / 3600);
	*p++ = ':';
	p = put2(p, sod / 60 % 60);
	*p++ = ':';
	p = put2(p, sod % 60);
	if (frac) {
		int digits = 9;
		while (frac % 10 == 0) {
			frac /= 10;
			digits--;
		}
		*p++ = '.';
		for (int i = digits - 1; i >= 0; i--, frac /= 10)
			p[i] = (char)('0' + frac % 10);
		p += digits;
	}
	*p++ = 'Z';
	*p = '\0';
	return (size_t)(p - buf);
}

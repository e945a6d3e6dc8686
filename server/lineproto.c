/* lineproto.c: the InfluxDB line protocol parser behind lineproto.h, compatible with InfluxDB 1.x (models/points.go).
 * Pure and reentrant: no I/O, no allocation, no state outside struct lp_parser; any thread, one parser per thread.
 *
 * Compatibility is the point of this file, so it follows InfluxDB 1.x's
 * scanner where that scanner has a rule, quirks included, and says so:
 *
 * - Lines are split the way 1.x splits them: a backslash escapes the next
 *   byte (a newline too), and once a line has seen an unescaped space, a
 *   double quote after more '=' than ',' opens a quoted run in which a
 *   newline does not end the line.
 * - In the measurement and the labels a byte is escaped when the byte
 *   before it is a backslash (1.x looks back one byte); in the field set a
 *   backslash and the byte after it are a pair (1.x skips two bytes).
 * - Leading spaces, tabs and NUL bytes are skipped at the start of a line,
 *   before the field set and before the timestamp.
 * - Times are limited to [INT64_MIN + 2, INT64_MAX - 1] ns: 1.x keeps the
 *   ends as sentinels.
 *
 * Where 1.x accepts something a historian must not store, the line is an
 * error instead; docs/LINE_PROTOCOL.md lists these deliberate differences:
 * "\r\n" ends a line, the whole line must be UTF-8, 12u is an unsigned
 * integer, a field key is never empty, nothing may follow the closing quote
 * of a string field, and a line has at most LP_MAX_LABELS labels and
 * LP_MAX_FIELDS fields.
 *
 * Every view in struct lp_line points into the caller's buffer; nothing
 * here writes to it. */
#include <assert.h>
#include <errno.h>
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/utf8.h"
#include "server/lineproto.h"

/* 1.x's MaxKeyLength: measurement and labels as written, and with each
 * field key added (plus 4 bytes of its storage separator). */
#define LP_MAX_KEY 65535
#define LP_KEY_SEP 4

/* 1.x reserves the two lowest and the highest nanosecond as sentinels. */
#define LP_MIN_TIME (INT64_MIN + 2)
#define LP_MAX_TIME (INT64_MAX - 1)

/* Significant digits handed to strtod on the slow path: every double and
 * every halfway point between two doubles has at most 767, so a longer
 * mantissa cut here, with a sticky digit for what was cut, rounds alike. */
#define LP_FLOAT_DIGITS 780

static const int64_t precision_ns[] = {
	[LP_PRECISION_NS] = 1,
	[LP_PRECISION_US] = 1000,
	[LP_PRECISION_MS] = 1000000,
	[LP_PRECISION_S] = 1000000000,
	[LP_PRECISION_M] = 60LL * 1000000000,
	[LP_PRECISION_H] = 3600LL * 1000000000,
};

/* One line being parsed: [start, end) is the line without its "\n" or
 * "\r\n"; start is also where its first physical line begins, which the
 * error position is counted from. */
struct cur {
	const char *b;
	size_t start;
	size_t end;
	uint32_t line_no;
	struct lp_error *err;
};

/* Byte classes for the scanning loops: one table lookup per byte finds
 * the next byte that can end an element. */
enum { C_SPACE = 1, C_COMMA = 2, C_EQUALS = 4, C_BACKSLASH = 8 };

static const uint8_t byte_class[256] = {
	[' '] = C_SPACE, [','] = C_COMMA, ['='] = C_EQUALS, ['\\'] = C_BACKSLASH,
};

static unsigned cls(char ch)
{
	return byte_class[(unsigned char)ch];
}

static bool is_ws(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\0';
}

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

/* Report a bad line. The line and column are worked out here, not kept up
 * to date while scanning, because only bad lines need them. */
static int fail(const struct cur *c, size_t at, const char *msg)
{
	uint32_t line = c->line_no;
	size_t bol = c->start, col;

	for (size_t i = c->start; i < at; i++) {
		if (c->b[i] == '\n') {
			line++;
			bol = i + 1;
		}
	}
	col = at - bol + 1;
	c->err->line = line;
	c->err->column = col > UINT32_MAX ? UINT32_MAX : (uint32_t)col;
	snprintf(c->err->message, sizeof c->err->message, "%s", msg);
	return -1;
}

static struct lp_str view(const struct cur *c, size_t from, size_t to, bool escaped,
			  enum lp_str_kind kind)
{
	return (struct lp_str){c->b + from, (uint32_t)(to - from), escaped, (uint8_t)kind};
}

/* ---- lines -------------------------------------------------------------- */

void lp_parser_init(struct lp_parser *p, const char *buf, size_t len, enum lp_precision precision)
{
	assert(precision >= LP_PRECISION_NS && precision <= LP_PRECISION_H);
	p->buf = buf;
	p->len = len;
	p->pos = 0;
	p->line_no = 1;
	p->precision = precision;
}

/* 1.x's scanLine: where the line starting at i ends (the index of its '\n',
 * or len). Counts the newlines the line swallows in *inner. */
static size_t line_end_slow(const char *b, size_t i, size_t len, uint32_t *inner)
{
	bool fields = false, quoted = false;
	size_t equals = 0, commas = 0;

	while (i < len) {
		char ch = b[i];

		if (ch == '\\') {
			if (i + 1 < len && b[i + 1] == '\n')
				(*inner)++;
			i += 2;
			continue;
		}
		if (ch == ' ')
			fields = true;
		if (fields && !quoted && ch == '=') {
			equals++;
		} else if (fields && !quoted && ch == ',') {
			commas++;
		} else if (fields && ch == '"' && equals > commas) {
			quoted = !quoted;
		} else if (ch == '\n') {
			if (!quoted)
				break;
			(*inner)++;
		}
		i++;
	}
	return i < len ? i : len;
}

/* Only a backslash or a double quote can move a line's end past its first
 * newline, and most lines have neither: memchr finds those ends. */
static size_t line_end(const char *b, size_t pos, size_t len, uint32_t *inner)
{
	const char *nl = memchr(b + pos, '\n', len - pos);
	size_t end = nl ? (size_t)(nl - b) : len;

	if (!memchr(b + pos, '"', end - pos) && !memchr(b + pos, '\\', end - pos))
		return end;
	return line_end_slow(b, pos, len, inner);
}

/* The whole line must be UTF-8, strings included: names become tag names
 * and labels that the catalog and the JSON API keep as text. ASCII lines,
 * the usual case, are recognised a word at a time. */
static int check_utf8(const struct cur *c, size_t s)
{
	const unsigned char *p = (const unsigned char *)c->b + s;
	size_t n = c->end - s, j = 0;
	uint64_t acc = 0, w;

	for (; j + 8 <= n; j += 8) {
		memcpy(&w, p + j, 8);
		acc |= w;
	}
	for (; j < n; j++)
		acc |= p[j];
	if (!(acc & 0x8080808080808080ULL))
		return 0;
	for (j = 0; j < n;) {
		size_t k = p[j] < 0x80 ? 1 : utf8_sequence_len(p + j, n - j);
		if (k == 0)
			return fail(c, s + j, "invalid UTF-8");
		j += k;
	}
	return 0;
}

/* ---- measurement and labels --------------------------------------------- */

/* The first byte at or after i of a class in stop whose previous byte is
 * not a backslash: 1.x's look-back rule, under which a run of backslashes
 * escapes each byte after its first and the byte after the run. The byte
 * at i itself must not be a stop (callers check it). Sets *esc on any
 * backslash. */
static size_t scan_lookback(const char *b, size_t i, size_t end, unsigned stop, bool *esc)
{
	for (;;) {
		while (i < end && !(cls(b[i]) & (stop | C_BACKSLASH)))
			i++;
		if (i >= end || b[i] != '\\')
			return i;
		*esc = true;
		while (i < end && b[i] == '\\')
			i++;
		if (i < end)
			i++;
	}
}

/* The measurement runs to the first unescaped ',' (labels follow) or ' '
 * (fields follow). */
static int scan_measurement(const struct cur *c, size_t *pos, struct lp_line *out, bool *labels)
{
	const char *b = c->b;
	size_t s = *pos, i;
	bool esc = false;

	if (b[s] == ',')
		return fail(c, s, "missing measurement");
	i = scan_lookback(b, s, c->end, C_SPACE | C_COMMA, &esc);
	if (i >= c->end)
		return fail(c, c->end, "missing fields");
	out->measurement = view(c, s, i, esc, LP_STR_NAME);
	*labels = b[i] == ',';
	*pos = i + (*labels ? 1 : 0);
	return 0;
}

/* One key=value label at *pos; *more says whether another follows. Leaves
 * *pos on the next key, or on the space before the fields. */
static int scan_label(const struct cur *c, size_t *pos, struct lp_line *out, bool *more)
{
	const char *b = c->b;
	size_t k = *pos, i;
	bool kesc = false, vesc = false;

	if (k >= c->end || (cls(b[k]) & (C_SPACE | C_COMMA | C_EQUALS)))
		return fail(c, k, "missing label key");
	i = scan_lookback(b, k, c->end, C_SPACE | C_COMMA | C_EQUALS, &kesc);
	if (i >= c->end || b[i] != '=')
		return fail(c, i, "missing label value");
	size_t v = i + 1;
	if (v >= c->end || b[v] == ',' || b[v] == ' ')
		return fail(c, v, "missing label value");
	/* 1.x checks the first byte of a value for ',' and ' ' only: "k==v"
	 * is the value "=v" */
	i = scan_lookback(b, b[v] == '\\' ? v : v + 1, c->end, C_SPACE | C_COMMA | C_EQUALS,
			  &vesc);
	if (i >= c->end)
		return fail(c, c->end, "missing fields");
	if (b[i] == '=')
		return fail(c, i, "unescaped '=' in label value");
	if (out->nlabels == LP_MAX_LABELS)
		return fail(c, k, "too many labels");
	out->label_keys[out->nlabels] = view(c, k, v - 1, kesc, LP_STR_LABEL);
	out->label_values[out->nlabels] = view(c, v, i, vesc, LP_STR_LABEL);
	out->nlabels++;
	*more = b[i] == ',';
	*pos = i + (*more ? 1 : 0);
	return 0;
}

static int str_cmp(const struct lp_str *a, const struct lp_str *b)
{
	int d = memcmp(a->ptr, b->ptr, a->len < b->len ? a->len : b->len);

	if (d != 0)
		return d;
	return a->len < b->len ? -1 : a->len > b->len;
}

/* Duplicate label keys are an error, compared as written (as 1.x does).
 * Clients usually send labels sorted, which one pass proves; otherwise
 * every pair is compared, at most LP_MAX_LABELS^2 / 2 short memcmps. */
static int check_labels(const struct cur *c, const struct lp_line *out)
{
	const struct lp_str *k = out->label_keys;
	uint32_t n = out->nlabels, i;

	for (i = 1; i < n; i++) {
		int d = str_cmp(&k[i - 1], &k[i]);
		if (d == 0)
			return fail(c, (size_t)(k[i].ptr - c->b), "duplicate label key");
		if (d > 0)
			break;
	}
	if (i >= n)
		return 0;
	for (i = 1; i < n; i++)
		for (uint32_t j = 0; j < i; j++)
			if (str_cmp(&k[j], &k[i]) == 0)
				return fail(c, (size_t)(k[i].ptr - c->b), "duplicate label key");
	return 0;
}

/* ---- numbers ------------------------------------------------------------ */

/* The decimal digits at t (at most n): how many; *v gets their value and
 * *over whether it passed UINT64_MAX (then *v is meaningless). */
static size_t digits(const char *t, size_t n, uint64_t *v, bool *over)
{
	uint64_t x = 0;
	bool o = false;
	size_t j;

	for (j = 0; j < n; j++) {
		unsigned d = (unsigned)(unsigned char)t[j] - '0';
		if (d > 9)
			break;
		o |= x > UINT64_MAX / 10 || (x == UINT64_MAX / 10 && d > UINT64_MAX % 10);
		x = x * 10 + d;
	}
	*v = x;
	*over = o;
	return j;
}

/* Digits only, optionally after a '-'; leading zeros allowed, as Go's
 * strconv.ParseInt allows them. 0, -1 (syntax) or -2 (range). */
static int parse_int(const char *t, size_t n, bool allow_neg, uint64_t limit_pos, uint64_t *mag,
		     bool *neg)
{
	size_t j;
	bool over;

	*neg = allow_neg && n > 0 && t[0] == '-';
	j = *neg ? 1 : 0;
	if (j >= n || digits(t + j, n - j, mag, &over) != n - j)
		return -1;
	if (over || *mag > limit_pos + (*neg ? 1 : 0))
		return -2;
	return 0;
}

static int parse_i64(const char *t, size_t n, int64_t *out)
{
	uint64_t mag;
	bool neg;
	int rc = parse_int(t, n, true, (uint64_t)INT64_MAX, &mag, &neg);

	if (rc == 0)
		*out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
	return rc;
}

/* A decimal float in parts: mant * 10^exp10 is its value, exactly unless
 * trunc; the slow path reads the digits again from their span. */
struct decimal {
	bool neg;
	bool trunc;            /* mant lost nonzero digits */
	uint64_t mant;         /* first 19 significant digits */
	int64_t exp10;         /* value = mant * 10^exp10 (exactly unless trunc) */
	size_t mant_from;      /* where the digits start (after the sign) */
	size_t mant_to;        /* where the exponent starts */
	int64_t exp;           /* the explicit exponent, saturated */
};

/* The syntax Go's ParseFloat and 1.x's scanner agree on:
 * -?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?; no inf, nan, hex or '+' sign. */
static int decimal_scan(const char *t, size_t n, struct decimal *d)
{
	size_t j = 0;
	int ndig = 0;
	bool any = false, frac = false;

	memset(d, 0, sizeof *d);
	d->neg = t[0] == '-';
	j = d->mant_from = d->neg ? 1 : 0;
	for (; j < n && (is_digit(t[j]) || (t[j] == '.' && !frac)); j++) {
		if (t[j] == '.') {
			frac = true;
			continue;
		}
		unsigned v = (unsigned)(t[j] - '0');
		any = true;
		if (ndig < 19 && (d->mant != 0 || v != 0)) {
			d->mant = d->mant * 10 + v;
			ndig++;
			d->exp10 -= frac;
		} else if (d->mant == 0) {
			d->exp10 -= frac;          /* a leading zero */
		} else {
			d->exp10 += !frac;         /* a digit past the 19th */
			d->trunc |= v != 0;
		}
	}
	if (!any)
		return -1;
	d->mant_to = j;
	if (j < n && (t[j] == 'e' || t[j] == 'E')) {
		bool eneg = ++j < n && t[j] == '-';
		j += (j < n && (t[j] == '-' || t[j] == '+'));
		if (j >= n)
			return -1;
		for (; j < n && is_digit(t[j]); j++)
			if (d->exp < 1000000000000000LL)
				d->exp = d->exp * 10 + (t[j] - '0');
		d->exp = eneg ? -d->exp : d->exp;
	}
	if (j != n)
		return -1;
	d->exp10 += d->exp;
	return 0;
}

/* Correctly rounded for any length: the significant digits (cut to
 * LP_FLOAT_DIGITS plus a sticky '1') and an exponent, written without a
 * decimal point so that strtod's locale cannot matter. */
static int decimal_slow(const char *t, const struct decimal *d, double *out)
{
	char buf[LP_FLOAT_DIGITS + 32];
	size_t cnt = 0, dropped = 0, fracdig = 0;
	bool frac = false, sticky = false;
	int saved = errno, rc = 0;

	for (size_t j = d->mant_from; j < d->mant_to; j++) {
		if (t[j] == '.') {
			frac = true;
			continue;
		}
		fracdig += frac;
		if (cnt == 0 && t[j] == '0')
			continue;
		if (cnt < LP_FLOAT_DIGITS)
			buf[cnt++] = t[j];
		else {
			dropped++;
			sticky |= t[j] != '0';
		}
	}
	if (cnt == 0) {
		*out = d->neg ? -0.0 : 0.0;
		return 0;
	}
	int64_t e = d->exp - (int64_t)fracdig + (int64_t)dropped;
	if (sticky) {
		buf[cnt++] = '1';
		e--;
	}
	e = e > 999999999 ? 999999999 : e < -999999999 ? -999999999 : e;
	snprintf(buf + cnt, sizeof buf - cnt, "e%lld", (long long)e);
	errno = 0;
	*out = strtod(buf, NULL);
	if (errno == ERANGE && (*out > DBL_MAX || *out < -DBL_MAX))
		rc = -2;                   /* overflow; underflow to 0 is fine, as in Go */
	*out = d->neg ? -*out : *out;
	errno = saved;
	return rc;
}

static const double pow10_exact[] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* Clinger's fast path covers plant values ("81.52"): a mantissa below 2^53
 * and a power of ten up to 22 are both exact doubles, so one IEEE multiply
 * or divide is correctly rounded. The rest goes through strtod. */
static int parse_f64(const char *t, size_t n, double *out)
{
	struct decimal d;

	if (decimal_scan(t, n, &d) != 0)
		return -1;
#if FLT_EVAL_METHOD == 0
	if (!d.trunc && d.mant <= (1ULL << 53) && d.exp10 >= -22 && d.exp10 <= 22) {
		double v = (double)d.mant;
		v = d.exp10 < 0 ? v / pow10_exact[-d.exp10] : v * pow10_exact[d.exp10];
		*out = d.neg ? -v : v;
		return 0;
	}
#endif
	return decimal_slow(t, &d, out);
}

/* ---- fields ------------------------------------------------------------- */

/* A field key runs to the first unescaped '=' (escapes are pairs here). */
static int scan_field_key(const struct cur *c, size_t *pos, struct lp_field *f, uint32_t nfields,
			  size_t keylen)
{
	const char *b = c->b;
	size_t s = *pos, i = s;
	bool esc = false;

	for (;;) {
		while (i < c->end && !(cls(b[i]) & (C_SPACE | C_COMMA | C_EQUALS | C_BACKSLASH)))
			i++;
		if (i >= c->end || b[i] != '\\')
			break;
		esc = true;
		i += i + 1 < c->end ? 2 : 1;
	}
	if (i == s)
		return fail(c, s, nfields == 0 && s >= c->end ? "missing fields" : "missing field key");
	if (i >= c->end || b[i] != '=')
		return fail(c, i, "missing '=' after field key");
	/* 1.x's scanner reads "a\\=1" as key a\\, but its field reader looks
	 * one byte back and takes that '=' for escaped: it then garbles the
	 * field or crashes. Such a key cannot round-trip; refuse it. */
	if (b[i - 1] == '\\')
		return fail(c, i - 1, "field key ends with a backslash");
	if (keylen + LP_KEY_SEP + (i - s) > LP_MAX_KEY)
		return fail(c, s, "key too long (measurement, labels and field key over 65535 bytes)");
	f->key = view(c, s, i, esc, LP_STR_NAME);
	*pos = i + 1;
	return 0;
}

/* A string runs to the first double quote not escaped by a backslash pair:
 * an odd run of backslashes before a quote escapes it. */
static int scan_string(const struct cur *c, size_t *pos, struct lp_field *f)
{
	const char *b = c->b, *q;
	size_t open = *pos, i = open + 1, close;

	for (;;) {
		q = memchr(b + i, '"', c->end - i);
		if (!q)
			return fail(c, open, "unterminated string");
		close = (size_t)(q - b);
		size_t k = close;
		while (k > i && b[k - 1] == '\\')
			k--;
		if (((close - k) & 1) == 0)
			break;
		i = close + 1;
	}
	if (close + 1 < c->end && b[close + 1] != ',' && b[close + 1] != ' ')
		return fail(c, close + 1, "text after the closing quote of a string");
	if (close - open - 1 > UINT32_MAX)
		return fail(c, open, "string longer than 4 GiB");
	f->type = LP_FIELD_STRING;
	f->v.s = view(c, open + 1, close, memchr(b + open + 1, '\\', close - open - 1) != NULL,
		      LP_STR_STRING);
	*pos = close + 1;
	return 0;
}

static int number_value(const char *t, size_t n, struct lp_field *f, const char **why)
{
	uint64_t mag;
	bool neg;
	int rc;

	if (t[n - 1] == 'i') {
		f->type = LP_FIELD_INT;
		*why = "integer out of range";
		return parse_i64(t, n - 1, &f->v.i);
	}
	if (t[n - 1] == 'u') {
		f->type = LP_FIELD_UINT;
		*why = "unsigned integer out of range";
		rc = parse_int(t, n - 1, false, UINT64_MAX, &mag, &neg);
		f->v.u = mag;
		return rc;
	}
	f->type = LP_FIELD_FLOAT;
	*why = "float out of range";
	return parse_f64(t, n, &f->v.f);
}

static bool bool_value(const char *t, size_t n, bool *v)
{
	static const char *const yes[] = {"t", "T", "true", "True", "TRUE"};
	static const char *const no[] = {"f", "F", "false", "False", "FALSE"};

	if (n != 1 && n != 4 && n != 5)
		return false;
	for (size_t i = 0; i < 5; i++) {
		if (strlen(yes[i]) == n && memcmp(t, yes[i], n) == 0) {
			*v = true;
			return true;
		}
		if (strlen(no[i]) == n && memcmp(t, no[i], n) == 0) {
			*v = false;
			return true;
		}
	}
	return false;
}

/* The value's first byte picks its kind as in 1.x: '"' a string; a digit,
 * '.', '-', 'N' or 'n' a number (NaN is refused, as in 1.x); anything else
 * a boolean. Numbers and booleans run to the next ',' or ' '. */
static int scan_field_value(const struct cur *c, size_t *pos, struct lp_field *f)
{
	const char *b = c->b, *why = NULL;
	size_t s = *pos, i = s;
	char ch = s < c->end ? b[s] : ',';

	if (ch == ',' || ch == ' ')
		return fail(c, s, "missing field value");
	if (ch == '"')
		return scan_string(c, pos, f);
	while (i < c->end && !(cls(b[i]) & (C_SPACE | C_COMMA)))
		i++;
	*pos = i;
	if (is_digit(ch) || ch == '.' || ch == '-' || ch == 'N' || ch == 'n') {
		int rc = number_value(b + s, i - s, f, &why);
		return rc == 0 ? 0 : fail(c, s, rc == -2 ? why : "invalid number");
	}
	f->type = LP_FIELD_BOOL;
	return bool_value(b + s, i - s, &f->v.b) ? 0 : fail(c, s, "invalid boolean");
}

/* The field set: after spaces, tabs or NULs, key=value pairs split by ','
 * up to the first ' ' outside a string. Leaves *pos on that ' ' or at the
 * end of the line. */
static int scan_fields(const struct cur *c, size_t *pos, struct lp_line *out, size_t keylen)
{
	size_t i = *pos;

	while (i < c->end && is_ws(c->b[i]))
		i++;
	out->nfields = 0;
	for (;;) {
		if (out->nfields == LP_MAX_FIELDS)
			return fail(c, i, "too many fields");
		struct lp_field *f = &out->fields[out->nfields];
		if (scan_field_key(c, &i, f, out->nfields, keylen) != 0 ||
		    scan_field_value(c, &i, f) != 0)
			return -1;
		out->nfields++;
		if (i >= c->end || c->b[i] == ' ')
			break;
		i++;
	}
	*pos = i;
	return 0;
}

/* ---- timestamp ---------------------------------------------------------- */

/* An optional integer in the write's precision after spaces, tabs or NULs;
 * only spaces may follow it. Converted to ns without wrapping. */
static int scan_time(const struct cur *c, size_t i, enum lp_precision prec, struct lp_line *out)
{
	const char *b = c->b;
	size_t s, n;
	uint64_t mag;
	bool neg, over;
	int64_t ns;

	while (i < c->end && is_ws(b[i]))
		i++;
	out->has_time = false;
	if (i >= c->end)
		return 0;
	s = i;
	neg = b[i] == '-';
	i += neg;
	n = digits(b + i, c->end - i, &mag, &over);
	i += n;
	if (i < c->end && b[i] != ' ' && b[i] != '\n')
		return fail(c, i, "invalid timestamp");
	if (n == 0)
		return fail(c, s, "invalid timestamp");
	if (over || mag > (uint64_t)INT64_MAX + neg ||
	    __builtin_mul_overflow(neg ? (int64_t)(0 - mag) : (int64_t)mag, precision_ns[prec], &ns) ||
	    ns < LP_MIN_TIME || ns > LP_MAX_TIME)
		return fail(c, s, "timestamp out of range");
	for (; i < c->end; i++)
		if (b[i] != ' ')
			return fail(c, i, "text after the timestamp");
	out->has_time = true;
	out->time_ns = ns;
	return 0;
}

/* ---- the line ----------------------------------------------------------- */

static int parse_line(const struct cur *c, size_t s, enum lp_precision prec, struct lp_line *out)
{
	size_t i = s;
	bool more = false;

	out->line_no = c->line_no;
	out->nlabels = 0;
	out->nfields = 0;
	if (check_utf8(c, s) != 0 || scan_measurement(c, &i, out, &more) != 0)
		return -1;
	while (more)
		if (scan_label(c, &i, out, &more) != 0)
			return -1;
	if (check_labels(c, out) != 0)
		return -1;
	if (i - s > LP_MAX_KEY)
		return fail(c, s, "key too long (measurement and labels over 65535 bytes)");
	if (scan_fields(c, &i, out, i - s) != 0)
		return -1;
	return scan_time(c, i, prec, out);
}

/* Step p over its next line: c gets the line's bytes [c->start, c->end)
 * and its number; p moves past the line and its newlines. */
static void take_line(struct lp_parser *p, struct cur *c)
{
	uint32_t inner = 0;
	size_t pos = p->pos, end = line_end(p->buf, pos, p->len, &inner);

	c->b = p->buf;
	c->start = pos;
	c->end = end;
	c->line_no = p->line_no;
	if (end < p->len) {
		p->pos = end + 1;
		inner++;
		if (end > pos && p->buf[end - 1] == '\r')
			c->end--;
	} else {
		p->pos = p->len;
		/* a final "\\\n" ends the buffer: 1.x drops the newline */
		if (end > pos && p->buf[end - 1] == '\n')
			c->end--;
	}
	p->line_no += inner;
}

/* Step over whole lines, without parsing them, until the position is at
 * or past at (or the end); line numbers go on counting. */
static void skip_lines(struct lp_parser *p, size_t at)
{
	struct cur c;

	while (p->pos < p->len && p->pos < at)
		take_line(p, &c);
}

void lp_parser_split(const struct lp_parser *p, size_t at, struct lp_parser *first,
		     struct lp_parser *second)
{
	*second = *p;
	skip_lines(second, at);
	*first = *p;
	first->len = second->pos;
}

int lp_next(struct lp_parser *p, struct lp_line *out, struct lp_error *err)
{
	while (p->pos < p->len) {
		struct cur c = {.err = err};
		take_line(p, &c);
		size_t s = c.start;
		while (s < c.end && is_ws(p->buf[s]))
			s++;
		if (s == c.end || p->buf[s] == '#')
			continue;
		return parse_line(&c, s, p->precision, out) == 0 ? 1 : -1;
	}
	return 0;
}

/* ---- helpers ------------------------------------------------------------ */

static bool escapable(uint8_t kind, char ch)
{
	switch (kind) {
	case LP_STR_NAME:
		return ch == ',' || ch == ' ' || ch == '=' || ch == '"';
	case LP_STR_LABEL:
		return ch == ',' || ch == ' ' || ch == '=';
	default:
		return ch == '"' || ch == '\\';
	}
}

size_t lp_unescape(const struct lp_str *s, char *dst, size_t cap)
{
	size_t o = 0;

	if (!s->escaped) {
		if (cap > 0)
			memcpy(dst, s->ptr, s->len < cap ? s->len : cap);
		return s->len;
	}
	for (size_t i = 0; i < s->len; i++) {
		char ch = s->ptr[i];
		if (ch == '\\' && i + 1 < s->len && escapable(s->kind, s->ptr[i + 1]))
			ch = s->ptr[++i];
		if (o < cap)
			dst[o] = ch;
		o++;
	}
	return o;
}

int lp_precision_parse(const char *text, enum lp_precision *out)
{
	static const struct {
		const char *name;
		enum lp_precision p;
	} names[] = {
		{"", LP_PRECISION_NS},  {"n", LP_PRECISION_NS}, {"ns", LP_PRECISION_NS},
		{"u", LP_PRECISION_US}, {"us", LP_PRECISION_US}, {"ms", LP_PRECISION_MS},
		{"s", LP_PRECISION_S},  {"m", LP_PRECISION_M},  {"h", LP_PRECISION_H},
	};

	if (!text)
		text = "";
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (strcmp(text, names[i].name) == 0) {
			*out = names[i].p;
			return 0;
		}
	}
	return -1;
}

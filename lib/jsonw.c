/* jsonw.c: the streaming JSON writer behind jsonw.h, and the shortest round-trip double formatter.
 * Invariants: all the writer itself appends is valid UTF-8 and, once it is complete, the text is one RFC 8259 value
 * (jsonw_raw() splices are the caller's word).
 * The writer keeps a bit per open container (object or array; has it a member yet) so commas need no caller help.
 * Not thread-safe per writer (one writer, one strbuf, one thread); jsonw_format_double() is reentrant. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jsonw.h"
#include "lib/strbuf.h"
#include "lib/utf8.h"

_Static_assert(FLT_RADIX == 2 && DBL_MANT_DIG == 53, "jsonw_format_double() needs IEEE binary64");
_Static_assert(JSONW_MAX_DEPTH <= 32, "container bits live in a uint32_t");

void jsonw_init(struct jsonw *w, struct strbuf *out)
{
	memset(w, 0, sizeof *w);
	w->out = out;
}

bool jsonw_failed(const struct jsonw *w)
{
	return w->misuse || strbuf_failed(w->out);
}

bool jsonw_complete(const struct jsonw *w)
{
	return w->done && !jsonw_failed(w);
}

static uint32_t top_bit(const struct jsonw *w)
{
	return (uint32_t)1 << (w->depth - 1);
}

static bool top_is_object(const struct jsonw *w)
{
	return w->depth > 0 && (w->in_object & top_bit(w));
}

/* Before any value: check it may go here and write the comma it needs.
 * False when it must be dropped (misuse now or before). */
static bool value_begin(struct jsonw *w)
{
	if (w->misuse)
		return false;
	if (w->depth == 0) {
		if (w->done)
			w->misuse = true; /* a second top-level value */
	} else if (top_is_object(w)) {
		if (!w->want_value)
			w->misuse = true; /* a member value with no key */
		w->want_value = false;
	} else {
		if (w->has_member & top_bit(w))
			strbuf_append(w->out, ",", 1);
		w->has_member |= top_bit(w);
	}
	return !w->misuse;
}

/* After a value (a scalar, or a container's closing bracket). */
static void value_end(struct jsonw *w)
{
	if (w->depth == 0)
		w->done = true;
}

static void container_begin(struct jsonw *w, bool object)
{
	if (!w->misuse && w->depth == JSONW_MAX_DEPTH) {
		w->misuse = true;
		return;
	}
	if (!value_begin(w))
		return;
	w->depth++;
	if (object)
		w->in_object |= top_bit(w);
	else
		w->in_object &= ~top_bit(w);
	w->has_member &= ~top_bit(w);
	strbuf_append(w->out, object ? "{" : "[", 1);
}

static void container_end(struct jsonw *w, bool object)
{
	if (w->misuse)
		return;
	if (w->depth == 0 || top_is_object(w) != object || w->want_value) {
		w->misuse = true;
		return;
	}
	strbuf_append(w->out, object ? "}" : "]", 1);
	w->depth--;
	value_end(w);
}

void jsonw_obj_begin(struct jsonw *w)
{
	container_begin(w, true);
}

void jsonw_obj_end(struct jsonw *w)
{
	container_end(w, true);
}

void jsonw_arr_begin(struct jsonw *w)
{
	container_begin(w, false);
}

void jsonw_arr_end(struct jsonw *w)
{
	container_end(w, false);
}

/* ---- strings ------------------------------------------------------------ */

/* How many bytes at p (len > 0, and utf8_sequence_len() said invalid) make
 * up one maximal subpart: the lead byte and the continuation bytes after it
 * that still fit some well-formed sequence. utf8.h only answers valid or
 * not, so the table of Unicode 15 section 3.9 is repeated here. */
static size_t bad_subpart_len(const unsigned char *p, size_t len)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xBF;
	size_t n, i;

	if (c >= 0xC2 && c <= 0xDF)
		n = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4;
	else
		return 1; /* 80..C1, F5..FF never start a sequence */
	if (c == 0xE0)
		lo = 0xA0;
	else if (c == 0xED)
		hi = 0x9F;
	else if (c == 0xF0)
		lo = 0x90;
	else if (c == 0xF4)
		hi = 0x8F;
	for (i = 1; i < n && i < len; i++) {
		if (p[i] < lo || p[i] > hi)
			break;
		lo = 0x80;
		hi = 0xBF;
	}
	return i;
}

/* Append s as a quoted JSON string. Runs of bytes that need no escaping
 * (printable ASCII and valid multi-byte sequences) go out in one append. */
static void put_string(struct strbuf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0;

	strbuf_reserve(out, len + 2);
	strbuf_append(out, "\"", 1);
	while (i < len) {
		unsigned char c = p[i];
		char esc[6];
		size_t esc_len = 2, n;

		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0x80) {
			n = utf8_sequence_len(p + i, len - i);
			if (n > 0) {
				i += n;
				continue;
			}
		}
		strbuf_append(out, s + run, i - run);
		esc[0] = '\\';
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			if (c < 0x20) {
				memcpy(esc + 1, "u00", 3);
				esc[4] = hex[c >> 4];
				esc[5] = hex[c & 0xF];
				esc_len = 6;
			} else {
				memcpy(esc, "\xEF\xBF\xBD", 3); /* U+FFFD */
				esc_len = 3;
			}
		}
		strbuf_append(out, esc, esc_len);
		i += c >= 0x80 ? bad_subpart_len(p + i, len - i) : 1;
		run = i;
	}
	strbuf_append(out, s + run, len - run);
	strbuf_append(out, "\"", 1);
}

void jsonw_keyn(struct jsonw *w, const char *k, size_t len)
{
	if (w->misuse)
		return;
	if (!top_is_object(w) || w->want_value) {
		w->misuse = true;
		return;
	}
	if (w->has_member & top_bit(w))
		strbuf_append(w->out, ",", 1);
	w->has_member |= top_bit(w);
	put_string(w->out, k, len);
	strbuf_append(w->out, ":", 1);
	w->want_value = true;
}

void jsonw_key(struct jsonw *w, const char *k)
{
	jsonw_keyn(w, k, strlen(k));
}

void jsonw_strn(struct jsonw *w, const char *s, size_t len)
{
	if (!value_begin(w))
		return;
	put_string(w->out, s, len);
	value_end(w);
}

void jsonw_str(struct jsonw *w, const char *s)
{
	if (!s)
		jsonw_null(w);
	else
		jsonw_strn(w, s, strlen(s));
}

/* ---- scalars ------------------------------------------------------------ */

/* Write the decimal digits of v ending just before end; returns the start. */
static char *u64_digits(uint64_t v, char *end)
{
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return end;
}

static void put_scalar(struct jsonw *w, const char *text, size_t len)
{
	if (!value_begin(w))
		return;
	strbuf_append(w->out, text, len);
	value_end(w);
}

void jsonw_uint(struct jsonw *w, uint64_t v)
{
	char buf[24], *end = buf + sizeof buf, *p = u64_digits(v, end);

	put_scalar(w, p, (size_t)(end - p));
}

void jsonw_int(struct jsonw *w, int64_t v)
{
	char buf[24], *end = buf + sizeof buf;
	/* Negate in unsigned arithmetic: -INT64_MIN does not fit an int64_t. */
	char *p = u64_digits(v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v, end);

	if (v < 0)
		*--p = '-';
	put_scalar(w, p, (size_t)(end - p));
}

void jsonw_bool(struct jsonw *w, bool v)
{
	if (v)
		put_scalar(w, "true", 4);
	else
		put_scalar(w, "false", 5);
}

void jsonw_null(struct jsonw *w)
{
	put_scalar(w, "null", 4);
}

void jsonw_f64(struct jsonw *w, double v)
{
	char buf[JSONW_DOUBLE_BUF];

	if (isnan(v) || isinf(v)) {
		jsonw_null(w);
		return;
	}
	put_scalar(w, buf, jsonw_format_double(v, buf));
}

void jsonw_raw(struct jsonw *w, const char *json, size_t len)
{
	if (len == 0 && !w->misuse) {
		w->misuse = true;
		return;
	}
	put_scalar(w, json, len);
}

/* ---- doubles ------------------------------------------------------------ */

/* A decimal: the significant digits (no trailing zeros, first not '0') and
 * the exponent of the first: value = d[0].d[1]d[2]... * 10^exp. */
struct decimal {
	char d[24];
	size_t n;
	int exp;
};

/* Powers of ten that a double holds exactly: 10^22 is the last. */
static const double pow10_exact[] = {
	1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* m scaled by 10^-places as a decimal. */
static void decimal_from_u64(struct decimal *dec, uint64_t m, int places)
{
	char buf[24], *end = buf + sizeof buf, *p = u64_digits(m, end);
	size_t n = (size_t)(end - p);

	dec->exp = (int)n - 1 - places;
	while (n > 1 && p[n - 1] == '0')
		n--;
	memcpy(dec->d, p, n);
	dec->n = n;
}

/* The exact path (a > 0, finite): the fewest decimal places k for which the
 * integer m nearest a*10^k, with m < 2^53 and k <= 22, gives m / 10^k == a.
 * Both operands are exact, so that one IEEE division is correctly rounded,
 * just as strtod() rounds the decimal m*10^-k: the text round-trips.
 *
 * It misses no decimal of at most 15 digits that rounds to a normal a below
 * 2^53: such a decimal has k >= 1 places (a is not an integer, and within
 * half an ulp of one it would be that integer), and a*10^k lies within
 * m*2^-53 < 1/8 of its m < 10^15, so even the rounded product has m as its
 * nearest integer. Returns 0 when dec is set, else the digit count the
 * rounded search starts from: 16 once m has outgrown 2^53 > 10^15 with
 * nothing found, since no 15-digit decimal can round-trip then. */
static int shortest_exact(double a, struct decimal *dec)
{
	if (a < 0x1p53 && a == (double)(uint64_t)a) {
		decimal_from_u64(dec, (uint64_t)a, 0);
		return 0;
	}
	if (a < DBL_MIN)
		return 1; /* subnormals carry fewer bits: search from one digit */
	if (a >= 0x1p53)
		return 15; /* an integer, with more digits than m can hold */
#if FLT_EVAL_METHOD == 0
	for (int k = 1; k < (int)(sizeof pow10_exact / sizeof pow10_exact[0]); k++) {
		double scaled = a * pow10_exact[k];
		uint64_t m;

		if (scaled >= 0x1p53)
			return 16;
		m = (uint64_t)(scaled + 0.5);
		if ((double)m / pow10_exact[k] == a) {
			decimal_from_u64(dec, m, k);
			return 0;
		}
	}
#endif
	return 15;
}

/* The correctly rounded prec-digit decimal of a (> 0) via snprintf("%e");
 * true when strtod() reads it back as a. Any radix character is skipped. */
static bool rounded_digits(double a, int prec, struct decimal *dec)
{
	char text[48];
	const char *p;
	size_t n = 0;

	snprintf(text, sizeof text, "%.*e", prec - 1, a);
	for (p = text; *p && *p != 'e'; p++)
		if (*p >= '0' && *p <= '9')
			dec->d[n++] = *p;
	while (n > 1 && dec->d[n - 1] == '0')
		n--;
	dec->n = n;
	dec->exp = *p == 'e' ? atoi(p + 1) : 0;
	return strtod(text, NULL) == a;
}

/* Round the 17 correctly rounded digits d17 (exponent exp17) to prec < 17
 * digits. That equals rounding a itself to prec digits unless d17 lies
 * exactly on a prec-digit midpoint (digit prec is 5, the rest 0): a was
 * within half a 17th-digit unit of d17, so it lies on d17's side of every
 * other midpoint. False in that one case: then printf must decide. */
static bool round_from17(const char *d17, int exp17, int prec, struct decimal *dec)
{
	bool rest = false, up;

	for (int i = prec + 1; i < 17; i++)
		rest |= d17[i] != '0';
	if (d17[prec] == '5' && !rest)
		return false;
	up = d17[prec] > '5' || (d17[prec] == '5' && rest);
	memcpy(dec->d, d17, (size_t)prec);
	dec->exp = exp17;
	for (int i = prec - 1; up && i >= 0; i--) {
		up = dec->d[i] == '9';
		dec->d[i] = up ? '0' : (char)(dec->d[i] + 1);
	}
	if (up) { /* 99..9 became 100..0 */
		dec->d[0] = '1';
		dec->exp++;
	}
	dec->n = (size_t)prec;
	while (dec->n > 1 && dec->d[dec->n - 1] == '0')
		dec->n--;
	return true;
}

static bool reads_back(const struct decimal *dec, double a)
{
	char text[48];
	size_t n = 0;

	text[n++] = dec->d[0];
	text[n++] = '.';
	memcpy(text + n, dec->d + 1, dec->n - 1);
	n += dec->n - 1;
	snprintf(text + n, sizeof text - n, "e%d", dec->exp);
	return strtod(text, NULL) == a;
}

/* From prec digits up, the first correctly rounded decimal that reads back
 * as a. A correctly rounded 15-digit decimal that round-trips is the
 * shortest for a normal double: any shorter decimal d that rounds to a lies
 * within 2^-53 of it, relatively, far inside the 5e-16 that rounding a to
 * 15 digits may move, so that rounding lands on d itself.
 *
 * One snprintf gives the 17 digits (which always round-trip); the shorter
 * candidates are rounded from them (round_from17) and only checked with
 * strtod: means and other computed values need 16 or 17 digits, and
 * printf's exact binary-to-decimal conversion was most of their cost. */
static void shortest_rounded(double a, int prec, struct decimal *dec)
{
	char text[48], d17[17];
	const char *p;
	int exp17, n = 0;

	snprintf(text, sizeof text, "%.16e", a);
	for (p = text; *p && *p != 'e'; p++)
		if (*p >= '0' && *p <= '9' && n < 17)
			d17[n++] = *p;
	exp17 = *p == 'e' ? atoi(p + 1) : 0;
	for (; prec < 17; prec++) {
		if (round_from17(d17, exp17, prec, dec) ? reads_back(dec, a)
							: rounded_digits(a, prec, dec))
			return;
	}
	memcpy(dec->d, d17, 17);
	dec->n = 17;
	dec->exp = exp17;
	while (dec->n > 1 && dec->d[dec->n - 1] == '0')
		dec->n--;
}

static size_t put(char *dst, const char *src, size_t len)
{
	memcpy(dst, src, len);
	return len;
}

/* Lay the decimal out as jsonw.h says; returns the length. Plain notation
 * stops at exp 15, so an integer literal never overflows an int64_t. */
static size_t decimal_layout(const struct decimal *dec, bool negative, char *buf)
{
	static const char zeros[] = "0.000000000000000";
	char exp_text[8], *exp_end = exp_text + sizeof exp_text, *e;
	size_t len = 0, n = dec->n, whole;
	int exp = dec->exp;

	if (negative)
		buf[len++] = '-';
	if (exp > 15 || exp < -6) {
		buf[len++] = dec->d[0];
		if (n > 1) {
			buf[len++] = '.';
			len += put(buf + len, dec->d + 1, n - 1);
		}
		buf[len++] = 'e';
		if (exp < 0)
			buf[len++] = '-';
		e = u64_digits((uint64_t)(exp < 0 ? -exp : exp), exp_end);
		len += put(buf + len, e, (size_t)(exp_end - e));
	} else if (exp < 0) {
		len += put(buf + len, zeros, (size_t)(1 - exp)); /* "0." and -exp-1 zeros */
		len += put(buf + len, dec->d, n);
	} else if (n <= (whole = (size_t)exp + 1)) {
		len += put(buf + len, dec->d, n);
		len += put(buf + len, zeros + 2, whole - n);
	} else {
		len += put(buf + len, dec->d, whole);
		buf[len++] = '.';
		len += put(buf + len, dec->d + whole, n - whole);
	}
	buf[len] = '\0';
	return len;
}

size_t jsonw_format_double(double v, char buf[JSONW_DOUBLE_BUF])
{
	struct decimal dec;
	double a = fabs(v);
	int prec, saved_errno = errno; /* strtod() sets ERANGE on subnormals */

	if (isnan(v) || isinf(v)) {
		const char *text = isnan(v) ? "nan" : v < 0 ? "-inf" : "inf";

		return put(buf, text, strlen(text) + 1) - 1;
	}
	prec = shortest_exact(a, &dec); /* 0 too: it is an integer */
	if (prec > 0)
		shortest_rounded(a, prec, &dec);
	errno = saved_errno;
	return decimal_layout(&dec, signbit(v) != 0, buf);
}

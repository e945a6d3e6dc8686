/* check_lineproto_vectors.c: server/lineproto.c against InfluxDB 1.x's answers in the shared line-protocol vectors.
 * Every record's exact bytes are parsed; a difference fails unless a commented deliberate-difference rule below explains it. */
#define _GNU_SOURCE
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/utf8.h"
#include "server/lineproto.h"

/* ---- the deliberate differences -------------------------------------------------
 * Each is a rule on what this parser made of one line, never a list of
 * record ids. A line a rule covers may match 1.x or not; every other line
 * must match exactly. docs/LINE_PROTOCOL.md explains each and gives these
 * counts; DD_EXPECTED keeps the two in step. */
enum dd {
	/* 1.x stores any bytes. Names become the historian's tag names and
	 * labels, strings become JSON text: we refuse invalid UTF-8. */
	DD_UTF8,
	/* 1.x's default build refuses 12u (uint support is off); the issue asks
	 * for unsigned integers, as InfluxDB 2.x accepts them. */
	DD_UINT,
	/* 1.x keeps the '\r' of "\r\n" in the line (a string gains it, a number
	 * or timestamp fails on it); we end the line at "\r\n". */
	DD_CRLF,
	/* 1.x's scanner checks for an empty field key only where a space or a
	 * comma stands before the '=': after a tab or NUL ("m \t=1"), or in a
	 * field set that begins with ',', its field reader then finds an empty
	 * key (and at times a value it failed to parse, reported as 0). A tag
	 * name needs a field key; we refuse an empty one wherever it is. */
	DD_EMPTY_FIELD_KEY,
	/* A field key whose last byte is a backslash ("a\\=1"): 1.x's scanner
	 * ends the key at that '=', its field reader takes the '=' for escaped
	 * and garbles the field (or panics). We refuse such a key. */
	DD_FIELD_KEY_BACKSLASH,
	/* More than LP_MAX_LABELS labels or LP_MAX_FIELDS fields: 1.x has no
	 * limit; we keep struct lp_line fixed-size (no allocation per line). */
	DD_LIMITS,
	/* 1.x takes `a="x"y` as a string of the bytes between the first and the
	 * last byte of `"x"y`, i.e. `x"`. We refuse text after a closing quote. */
	DD_STRING_TAIL,
	DD_COUNT,
};

static const char *const dd_name[DD_COUNT] = {
	[DD_UTF8] = "invalid UTF-8 refused",
	[DD_UINT] = "unsigned integers (12u) accepted",
	[DD_CRLF] = "\\r\\n ends a line",
	[DD_EMPTY_FIELD_KEY] = "empty field key refused",
	[DD_FIELD_KEY_BACKSLASH] = "field key ending in a backslash refused",
	[DD_LIMITS] = "over LP_MAX_LABELS labels or LP_MAX_FIELDS fields",
	[DD_STRING_TAIL] = "text after a string's closing quote refused",
};

/* Records that differ from 1.x, by the first rule that explains them (in
 * line order). */
static const unsigned DD_EXPECTED[DD_COUNT] = {
	[DD_UTF8] = 96,
	[DD_UINT] = 21,
	[DD_CRLF] = 23,
	[DD_EMPTY_FIELD_KEY] = 4,
	[DD_FIELD_KEY_BACKSLASH] = 14,
	[DD_LIMITS] = 1,
	[DD_STRING_TAIL] = 20,
};

#define NRECORDS 6721

/* ---- input ------------------------------------------------------------------------ */

static char *vectors_path(void)
{
	const char *base = getenv("HS_SHARED_DATA");
	char *path = NULL;

	if (base && *base) {
		if (asprintf(&path, "%s/line-protocol/vectors.jsonl", base) < 0)
			return NULL;
		return path;
	}
	base = getenv("HS_SRCDIR");
	if (asprintf(&path, "%s/../shared/data/line-protocol/vectors.jsonl", base ? base : ".") < 0)
		return NULL;
	return path;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long size;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)size + 1);
		if (buf && fread(buf, 1, (size_t)size, f) == (size_t)size) {
			buf[size] = '\0';
			*len = (size_t)size;
		} else {
			free(buf);
			buf = NULL;
		}
	}
	fclose(f);
	return buf;
}

static int b64_val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* RFC 4648 base64 with padding. Returns a malloc'd buffer (len in *len). */
static char *b64_decode(const char *s, size_t *len)
{
	size_t n = strlen(s), o = 0;
	char *out = malloc(n / 4 * 3 + 3);
	uint32_t acc = 0;
	int bits = 0;

	ck_assert_ptr_nonnull(out);
	for (size_t i = 0; i < n && s[i] != '='; i++) {
		int v = b64_val(s[i]);
		ck_assert_msg(v >= 0, "bad base64 byte 0x%02x", (unsigned char)s[i]);
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xFF);
		}
	}
	*len = o;
	return out;
}

/* ---- comparing one point ------------------------------------------------------------ */

/* Expected bytes of a JSON string, or of {"b64": ...}. */
static char *expected_bytes(json_t *v, size_t *len)
{
	if (json_is_string(v)) {
		*len = json_string_length(v);
		char *c = malloc(*len + 1);
		memcpy(c, json_string_value(v), *len);
		return c;
	}
	json_t *b = json_object_get(v, "b64");
	ck_assert_msg(json_is_string(b), "expected a string or {\"b64\": ...}");
	return b64_decode(json_string_value(b), len);
}

static bool same_bytes(json_t *want, const struct lp_str *got)
{
	char plain[70000];
	size_t n = lp_unescape(got, plain, sizeof plain), wn;
	char *w = expected_bytes(want, &wn);
	bool same = n <= sizeof plain && n == wn && memcmp(plain, w, n) == 0;

	free(w);
	return same;
}

/* A number that may have been decoded as a real (see load_record). */
static bool json_i64(json_t *v, int64_t *out)
{
	if (json_is_integer(v)) {
		*out = (int64_t)json_integer_value(v);
		return true;
	}
	if (json_is_real(v)) {
		*out = (int64_t)json_real_value(v);
		return true;
	}
	return false;
}

struct plain_label {
	char k[1024], v[1024];
	size_t kn, vn;
};

static int label_cmp(const void *a, const void *b)
{
	const struct plain_label *x = a, *y = b;
	int d = memcmp(x->k, y->k, x->kn < y->kn ? x->kn : y->kn);
	return d ? d : (x->kn > y->kn) - (x->kn < y->kn);
}

/* Tags are compared as sets: 1.x sorts them by their escaped key, we by the
 * plain one; the order inside the record does not matter. */
static bool same_labels(json_t *want, const struct lp_line *l)
{
	static struct plain_label a[LP_MAX_LABELS], b[LP_MAX_LABELS];
	size_t n = json_array_size(want);

	if (n != l->nlabels || n > LP_MAX_LABELS)
		return false;
	for (size_t i = 0; i < n; i++) {
		char *k, *v;
		size_t kn, vn;
		k = expected_bytes(json_array_get(json_array_get(want, i), 0), &kn);
		v = expected_bytes(json_array_get(json_array_get(want, i), 1), &vn);
		if (kn > sizeof a[i].k || vn > sizeof a[i].v) {
			free(k);
			free(v);
			return false;
		}
		memcpy(a[i].k, k, a[i].kn = kn);
		memcpy(a[i].v, v, a[i].vn = vn);
		free(k);
		free(v);
		b[i].kn = lp_unescape(&l->label_keys[i], b[i].k, sizeof b[i].k);
		b[i].vn = lp_unescape(&l->label_values[i], b[i].v, sizeof b[i].v);
		if (b[i].kn > sizeof b[i].k || b[i].vn > sizeof b[i].v)
			return false;
	}
	qsort(a, n, sizeof a[0], label_cmp);
	qsort(b, n, sizeof b[0], label_cmp);
	for (size_t i = 0; i < n; i++)
		if (a[i].kn != b[i].kn || a[i].vn != b[i].vn || memcmp(a[i].k, b[i].k, a[i].kn) ||
		    memcmp(a[i].v, b[i].v, a[i].vn))
			return false;
	return true;
}

static const char *const type_name[] = {
	[LP_FIELD_FLOAT] = "float", [LP_FIELD_INT] = "int", [LP_FIELD_UINT] = "uint",
	[LP_FIELD_BOOL] = "bool",   [LP_FIELD_STRING] = "string",
};

static bool same_field(json_t *want, const struct lp_field *f)
{
	json_t *v = json_array_get(want, 2);
	int64_t i;

	if (!same_bytes(json_array_get(want, 0), &f->key) ||
	    strcmp(json_string_value(json_array_get(want, 1)), type_name[f->type]) != 0)
		return false;
	switch (f->type) {
	case LP_FIELD_FLOAT:
		if (json_is_null(v))
			return !isfinite(f->v.f);
		return json_is_number(v) && json_number_value(v) == f->v.f;
	case LP_FIELD_INT:
		if (json_is_real(v))
			return json_real_value(v) == (double)f->v.i;
		return json_i64(v, &i) && i == f->v.i;
	case LP_FIELD_UINT:
		return json_is_number(v) && json_number_value(v) == (double)f->v.u;
	case LP_FIELD_BOOL:
		return json_is_boolean(v) && json_boolean_value(v) == f->v.b;
	case LP_FIELD_STRING:
		return same_bytes(v, &f->v.s);
	}
	return false;
}

/* 1.x truncates the arrival time to the precision (Go's Time.Truncate). */
static int64_t arrival_time(int64_t now, enum lp_precision p)
{
	static const int64_t unit[] = {1, 1000, 1000000, 1000000000, 60000000000LL, 3600000000000LL};
	int64_t q = now / unit[p];

	if (now % unit[p] < 0)
		q--;
	return q * unit[p];
}

static bool same_point(json_t *want, const struct lp_line *l, int64_t now, enum lp_precision p)
{
	json_t *fields = json_object_get(want, "fields");
	int64_t t;

	if (!same_bytes(json_object_get(want, "measurement"), &l->measurement) ||
	    !same_labels(json_object_get(want, "tags"), l) || json_array_size(fields) != l->nfields)
		return false;
	for (uint32_t i = 0; i < l->nfields; i++)
		if (!same_field(json_array_get(fields, i), &l->fields[i]))
			return false;
	if (!json_i64(json_object_get(want, "time_ns"), &t))
		return false;
	return t == (l->has_time ? l->time_ns : arrival_time(now, p));
}

/* ---- 1.x's lines ------------------------------------------------------------------ */

/* InfluxDB 1.x's scanLine, transcribed from models/points.go on its own
 * (not shared with the parser, so it also checks how the parser splits):
 * a backslash skips the next byte; after the first space, a quote after
 * more '=' than ',' toggles a quoted run in which '\n' is no line end. */
static size_t x_scan_line(const char *b, size_t i, size_t len)
{
	bool fields = false, quoted = false;
	size_t equals = 0, commas = 0;

	while (i < len) {
		if (b[i] == '\\') {
			i += 2;
			continue;
		}
		if (b[i] == ' ')
			fields = true;
		if (fields) {
			if (!quoted && b[i] == '=') {
				i++;
				equals++;
				continue;
			} else if (!quoted && b[i] == ',') {
				i++;
				commas++;
				continue;
			} else if (b[i] == '"' && equals > commas) {
				i++;
				quoted = !quoted;
				continue;
			}
		}
		if (b[i] == '\n' && !quoted)
			break;
		i++;
	}
	return i;
}

/* One line 1.x parses: block is what it parses (after leading spaces, tabs
 * and NULs; its final '\n' dropped, a '\r' kept). ours says whether our
 * parser reports it too: a line of only whitespace and the '\r' of "\r\n"
 * is blank to us. */
struct xline {
	size_t start, end;
	bool ours;
};

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\0';
}

static size_t x_lines(const char *b, size_t len, struct xline *out, size_t cap)
{
	size_t pos = 0, n = 0;

	while (pos < len) {
		size_t end = x_scan_line(b, pos, len), s = pos;
		bool newline = end < len;
		end = end < len ? end : len;
		while (s < end && is_ws(b[s]))
			s++;
		if (s < end && b[s] != '#' && n < cap) {
			size_t e = end;
			if (b[e - 1] == '\n')
				e--;
			out[n].start = s;
			out[n].end = e;
			out[n].ours = !(newline && e == s + 1 && b[s] == '\r');
			n++;
		}
		pos = end + 1;
	}
	return n;
}

/* Did 1.x refuse this line? Its error text names each refused line:
 * "unable to parse '<line>': <why>", with invalid UTF-8 shown as U+FFFD
 * per byte (Go's JSON encoding). Equal lines parse alike in 1.x, so
 * finding the text is enough. */
static bool x_refused(json_t *error_text, const char *b, const struct xline *x)
{
	size_t n = x->end - x->start, o = 0;
	char *want = malloc(3 * n + 32);
	bool found;

	o += (size_t)sprintf(want, "unable to parse '");
	for (size_t i = x->start; i < x->end;) {
		size_t k = utf8_sequence_len((const unsigned char *)b + i, x->end - i);
		if (k == 0) {
			memcpy(want + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		} else {
			memcpy(want + o, b + i, k);
			o += k;
			i += k;
		}
	}
	memcpy(want + o, "': ", 3);
	o += 3;
	found = json_is_string(error_text) &&
		memmem(json_string_value(error_text), json_string_length(error_text), want, o);
	free(want);
	return found;
}

static size_t count_refusals(json_t *error_text)
{
	const char *t = json_string_value(error_text), *end, *p;
	size_t n = 0;

	if (!t)
		return 0;
	end = t + json_string_length(error_text);
	for (p = t; (p = memmem(p, (size_t)(end - p), "unable to parse '", 17)) != NULL; p += 17)
		n++;
	return n;
}

/* ---- one record ----------------------------------------------------------------- */

/* What we made of one line; dd >= 0 when a deliberate-difference rule
 * covers the line. */
struct outcome {
	bool ok;
	int dd;
	bool match;            /* ok, and equal to the 1.x point it lines up with */
	char msg[LP_ERROR_TEXT];
	uint32_t line, column;
};

enum verdict { SAME, DELIBERATE, MISMATCH };

struct record {
	const char *id;
	char *input;
	size_t len;
	enum lp_precision precision;
	int64_t now;
	json_t *points, *error_text;
	struct xline x[64];
	bool refused[64];      /* by 1.x, per line */
	size_t nx;
	long point_of[64];     /* our k-th line: index of 1.x's point, or -1 */
	struct outcome out[64];
	size_t nout;
	enum verdict verdict;
	int dd;                /* the first rule used */
	unsigned dd_lines[DD_COUNT];
	char why[256];
};

/* Byte offset of a 1-based line and column, for rules that look at bytes. */
static size_t offset_of(const struct record *r, uint32_t line, uint32_t column)
{
	size_t off = 0;

	for (uint32_t l = 1; l < line && off < r->len; off++)
		if (r->input[off] == '\n')
			l++;
	return off + column - 1;
}

static int dd_of_error(const struct record *r, const struct outcome *o)
{
	if (strcmp(o->msg, "invalid UTF-8") == 0)
		return DD_UTF8;
	if (strcmp(o->msg, "text after the closing quote of a string") == 0)
		return DD_STRING_TAIL;
	if (strcmp(o->msg, "field key ends with a backslash") == 0)
		return DD_FIELD_KEY_BACKSLASH;
	if (strcmp(o->msg, "too many labels") == 0 || strcmp(o->msg, "too many fields") == 0)
		return DD_LIMITS;
	if (strcmp(o->msg, "missing field key") == 0) {
		/* the first key of a field set: whitespace before it */
		size_t at = offset_of(r, o->line, o->column);
		if (at > 0 && at < r->len && is_ws(r->input[at - 1]))
			return DD_EMPTY_FIELD_KEY;
	}
	return -1;
}

static int dd_of_point(const struct lp_parser *p, const struct lp_line *l)
{
	for (uint32_t i = 0; i < l->nfields; i++)
		if (l->fields[i].type == LP_FIELD_UINT)
			return DD_UINT;
	if (p->pos >= 2 && p->buf[p->pos - 1] == '\n' && p->buf[p->pos - 2] == '\r')
		return DD_CRLF;
	return -1;
}

/* 1.x's lines, which of them it refused, and so which of its points each
 * line we report lines up with. */
static void map_lines(struct record *r)
{
	size_t j = 0, k = 0;

	r->nx = x_lines(r->input, r->len, r->x, sizeof r->x / sizeof r->x[0]);
	for (size_t i = 0; i < r->nx; i++) {
		r->refused[i] = x_refused(r->error_text, r->input, &r->x[i]);
		if (r->x[i].ours && k < sizeof r->point_of / sizeof r->point_of[0])
			r->point_of[k++] = r->refused[i] ? -1 : (long)j;
		j += !r->refused[i];
	}
	for (; k < sizeof r->point_of / sizeof r->point_of[0]; k++)
		r->point_of[k] = -1;
}

static void parse_record(struct record *r)
{
	static struct lp_line line;
	struct lp_parser p;
	struct lp_error err;
	int rc;

	lp_parser_init(&p, r->input, r->len, r->precision);
	while ((rc = lp_next(&p, &line, &err)) != 0) {
		ck_assert_uint_lt(r->nout, sizeof r->out / sizeof r->out[0]);
		long j = r->point_of[r->nout];
		struct outcome *o = &r->out[r->nout++];
		memset(o, 0, sizeof *o);
		o->ok = rc == 1;
		if (o->ok) {
			o->dd = dd_of_point(&p, &line);
			o->match = j >= 0 && (size_t)j < json_array_size(r->points) &&
				   same_point(json_array_get(r->points, (size_t)j), &line, r->now,
					      r->precision);
		} else {
			snprintf(o->msg, sizeof o->msg, "%s", err.message);
			o->line = err.line;
			o->column = err.column;
			o->dd = dd_of_error(r, o);
		}
	}
}

static void verdict(struct record *r, int dd, const char *why, size_t k)
{
	if (dd >= 0)
		r->dd_lines[dd]++;
	if (dd >= 0 && r->verdict == SAME) {
		r->verdict = DELIBERATE;
		r->dd = dd;
	} else if (dd < 0 && r->verdict != MISMATCH) {
		r->verdict = MISMATCH;
		snprintf(r->why, sizeof r->why, "line %zu: %s", k + 1, why);
	}
}

/* Line by line: 1.x refused it or took it (its next point); we must do
 * the same, or a deliberate-difference rule must cover our line. */
static void judge(struct record *r)
{
	size_t j = 0, k = 0;

	r->verdict = SAME;
	for (size_t i = 0; i < r->nx; i++) {
		bool refused = r->refused[i];
		j += !refused;
		if (!r->x[i].ours) {
			verdict(r, refused ? DD_CRLF : -1, "1.x took a line blank to us", i);
			continue;
		}
		if (k >= r->nout) {
			verdict(r, -1, "fewer lines than 1.x", i);
			break;
		}
		const struct outcome *o = &r->out[k++];
		if (refused && o->ok)
			verdict(r, o->dd, "1.x refused a line we took", i);
		else if (!refused && !o->ok)
			verdict(r, o->dd, "1.x took a line we refused", i);
		else if (!refused && !o->match)
			verdict(r, o->dd, "the point differs from 1.x's", i);
	}
	if (k != r->nout)
		verdict(r, -1, "more lines than 1.x", r->nx);
	if (j != json_array_size(r->points) || j + count_refusals(r->error_text) != r->nx)
		verdict(r, -1, "1.x's points and refusals do not line up with its lines", r->nx);
}

/* ---- the run -------------------------------------------------------------------- */

struct summary {
	unsigned records, matched, undefined, mismatched;
	unsigned dd[DD_COUNT], dd_lines[DD_COUNT];
	unsigned ints_as_reals;
};

static void report_mismatch(const struct record *r, json_t *rec)
{
	char *want = json_dumps(json_object_get(rec, "influx1"), JSON_COMPACT);
	const char *in = json_string_value(json_object_get(rec, "input"));

	fprintf(stderr, "MISMATCH %s: %s\n  input: %s\n  influx1: %.600s\n", r->id, r->why,
		in ? in : "(not UTF-8)", want ? want : "?");
	for (size_t i = 0; i < r->nout; i++) {
		const struct outcome *o = &r->out[i];
		if (o->ok)
			fprintf(stderr, "  ours %zu: point%s, rule %d\n", i + 1,
				o->match ? " (same as 1.x)" : "", o->dd);
		else
			fprintf(stderr, "  ours %zu: error %u:%u %s, rule %d\n", i + 1, o->line,
				o->column, o->msg, o->dd);
	}
	free(want);
}

/* jansson refuses integers past int64; a handful of records hold one (a
 * float 1.x printed without an exponent, a uint in the lp2 answer). Those
 * are decoded with every number as a real, and counted. */
static json_t *load_record(const char *line, size_t len, struct summary *s)
{
	json_error_t e;
	json_t *rec = json_loadb(line, len, JSON_ALLOW_NUL, &e);

	if (!rec) {
		rec = json_loadb(line, len, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &e);
		ck_assert_msg(rec != NULL, "line %d: %s", e.line, e.text);
		s->ints_as_reals++;
	}
	return rec;
}

static enum lp_precision precision_of(json_t *rec)
{
	static const char *const names[] = {"ns", "us", "ms", "s", "m", "h"};
	const char *p = json_string_value(json_object_get(rec, "precision"));

	for (size_t i = 0; p && i < 6; i++)
		if (strcmp(p, names[i]) == 0)
			return (enum lp_precision)i;
	ck_abort_msg("unknown precision %s", p ? p : "(none)");
	return LP_PRECISION_NS;
}

static void run_record(json_t *rec, struct summary *s)
{
	static struct record r;
	json_t *influx1 = json_object_get(rec, "influx1");

	memset(&r, 0, sizeof r);
	r.id = json_string_value(json_object_get(rec, "id"));
	r.input = b64_decode(json_string_value(json_object_get(rec, "input_b64")), &r.len);
	r.precision = precision_of(rec);
	ck_assert(json_i64(json_object_get(rec, "default_time_ns"), &r.now));
	r.points = json_object_get(influx1, "points");
	r.error_text = json_object_get(influx1, "error_text");
	s->records++;
	if (json_is_true(json_object_get(influx1, "undefined"))) {
		parse_record(&r);     /* 1.x panics here: we only must not crash */
		s->undefined++;
		free(r.input);
		return;
	}
	map_lines(&r);
	parse_record(&r);
	judge(&r);
	/* the record's error flag follows from its lines */
	if (r.verdict == SAME && json_is_true(json_object_get(influx1, "error")) !=
	    (json_is_string(r.error_text) && json_string_length(r.error_text) > 0))
		verdict(&r, -1, "1.x's error flag and error text disagree", 0);
	if (r.verdict == SAME) {
		s->matched++;
	} else if (r.verdict == DELIBERATE) {
		s->dd[r.dd]++;
		for (int i = 0; i < DD_COUNT; i++)
			s->dd_lines[i] += r.dd_lines[i];
		if (getenv("LP_VECTORS_VERBOSE"))
			printf("deliberate %s: %s\n", r.id, dd_name[r.dd]);
	} else if (++s->mismatched <= 40) {
		report_mismatch(&r, rec);
	}
	free(r.input);
}

static void run_all(struct summary *s)
{
	char *path = vectors_path(), *buf, *line, *nl;
	size_t len;

	ck_assert_ptr_nonnull(path);
	buf = slurp(path, &len);
	ck_assert_msg(buf != NULL, "cannot read %s (set HS_SHARED_DATA)", path);
	for (line = buf; line < buf + len; line = nl + 1) {
		nl = memchr(line, '\n', (size_t)(buf + len - line));
		if (!nl)
			nl = buf + len;
		if (nl == line)
			continue;
		json_t *rec = load_record(line, (size_t)(nl - line), s);
		run_record(rec, s);
		json_decref(rec);
	}
	free(buf);
	free(path);
}

static void print_summary(const struct summary *s)
{
	unsigned dd = 0;

	for (int i = 0; i < DD_COUNT; i++)
		dd += s->dd[i];
	printf("line-protocol vectors: %u records: %u match InfluxDB 1.x, %u deliberate "
	       "differences, %u undefined (no crash), %u mismatches\n",
	       s->records, s->matched, dd, s->undefined, s->mismatched);
	for (int i = 0; i < DD_COUNT; i++)
		printf("  deliberate: %-52s %4u records (%u lines)\n", dd_name[i], s->dd[i],
		       s->dd_lines[i]);
	if (s->ints_as_reals)
		printf("  (%u records decoded with numbers as reals: an integer past int64)\n",
		       s->ints_as_reals);
	fflush(stdout);
}

START_TEST(test_vectors_match_influx1)
{
	struct summary s = {0};

	run_all(&s);
	print_summary(&s);
	ck_assert_uint_eq(s.records, NRECORDS);
	ck_assert_uint_eq(s.mismatched, 0);
}
END_TEST

START_TEST(test_vectors_deliberate_counts_documented)
{
	struct summary s = {0};

	run_all(&s);
	for (int i = 0; i < DD_COUNT; i++)
		ck_assert_msg(s.dd[i] == DD_EXPECTED[i], "%s: %u records, docs say %u", dd_name[i],
			      s.dd[i], DD_EXPECTED[i]);
}
END_TEST

static Suite *lineproto_vectors_suite(void)
{
	Suite *s = suite_create("lineproto_vectors");
	TCase *tc = tcase_create("influx1");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_vectors_match_influx1);
	suite_add_tcase(s, tc);
	tc = tcase_create("documented");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_vectors_deliberate_counts_documented);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(lineproto_vectors_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* check_lineproto.c: unit tests for the InfluxDB line protocol parser (server/lineproto.c).
 * One TCase per behaviour; table rows are loop tests, so each row is its own case. Seeds are fixed and printed. */
#define _GNU_SOURCE
#include <check.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/lineproto.h"

#define N(a) (int)(sizeof(a) / sizeof((a)[0]))

/* lp_line is large (labels and fields inline): one static, reset by each
 * parse; fork mode gives every test its own copy. */
static struct lp_line L;
static struct lp_error E;
static struct lp_parser P;

static int parse_n(const char *text, size_t len, enum lp_precision prec)
{
	memset(&E, 0, sizeof E);
	lp_parser_init(&P, text, len, prec);
	return lp_next(&P, &L, &E);
}

static int parse_p(const char *text, enum lp_precision prec)
{
	return parse_n(text, strlen(text), prec);
}

/* Exactly one good line in len bytes of text. */
static void ok_n(const char *text, size_t len)
{
	int rc = parse_n(text, len, LP_PRECISION_NS);

	ck_assert_msg(rc == 1, "'%s': rc %d, %u:%u %s", text, rc, E.line, E.column, E.message);
	ck_assert_int_eq(lp_next(&P, &L, &E), 0);
}

static void ok(const char *text)
{
	ok_n(text, strlen(text));
}

/* One bad line: where and why, and nothing after it. */
static void bad_n(const char *text, size_t len, uint32_t column, const char *msg)
{
	int rc = parse_n(text, len, LP_PRECISION_NS);

	ck_assert_msg(rc == -1, "'%s' parsed (rc %d)", text, rc);
	ck_assert_str_eq(E.message, msg);
	ck_assert_uint_eq(E.line, 1);
	ck_assert_uint_eq(E.column, column);
	ck_assert_int_eq(lp_next(&P, &L, &E), 0);
}

static void bad(const char *text, uint32_t column, const char *msg)
{
	bad_n(text, strlen(text), column, msg);
}

/* The plain text of a view equals want (len bytes; 0 = strlen). */
static void plain_is_n(const struct lp_str *s, const char *want, size_t len)
{
	char buf[4096];
	size_t n = lp_unescape(s, buf, sizeof buf);

	ck_assert_uint_lt(n, sizeof buf);
	buf[n] = '\0';
	ck_assert_uint_eq(n, len);
	ck_assert_msg(memcmp(buf, want, n) == 0, "got '%s', want '%s'", buf, want);
}

static void plain_is(const struct lp_str *s, const char *want)
{
	plain_is_n(s, want, strlen(want));
}

/* ---- tables: where an element is and what it says -------------------------------------- */

enum elem { MEAS, LKEY, LVAL, FKEY, SVAL };

struct name_case {
	const char *in;
	enum elem elem;
	int idx;
	const char *plain;
	bool escaped;
};

static const struct lp_str *elem_of(enum elem e, int idx)
{
	switch (e) {
	case MEAS:
		return &L.measurement;
	case LKEY:
		return &L.label_keys[idx];
	case LVAL:
		return &L.label_values[idx];
	case FKEY:
		return &L.fields[idx].key;
	default:
		ck_assert_int_eq(L.fields[idx].type, LP_FIELD_STRING);
		return &L.fields[idx].v.s;
	}
}

static void check_name_case(const struct name_case *c)
{
	const struct lp_str *s;

	ok(c->in);
	s = elem_of(c->elem, c->idx);
	plain_is(s, c->plain);
	ck_assert_int_eq(s->escaped, c->escaped);
	ck_assert_int_eq(s->kind, c->elem == MEAS || c->elem == FKEY ? LP_STR_NAME
				  : c->elem == SVAL			 ? LP_STR_STRING
									 : LP_STR_LABEL);
}

/* Measurement: ',' and ' ' escape; 1.x also unescapes '=' and '"'. */
static const struct name_case measurement_cases[] = {
	{"cpu value=1", MEAS, 0, "cpu", false},
	{"c\\,pu value=1", MEAS, 0, "c,pu", true},
	{"c\\ pu value=1", MEAS, 0, "c pu", true},
	{"c\\=pu value=1", MEAS, 0, "c=pu", true},
	{"c\\\"pu value=1", MEAS, 0, "c\"pu", true},
	{"c\\\\pu value=1", MEAS, 0, "c\\\\pu", true},     /* no \\ escape: both bytes stay */
	{"c\\pu value=1", MEAS, 0, "c\\pu", true},         /* a lone backslash stays */
	{"a=b\"c value=1", MEAS, 0, "a=b\"c", false},      /* '=' and '"' need no escape */
	{"\\,m value=1", MEAS, 0, ",m", true},
	{"\\ m value=1", MEAS, 0, " m", true},
	{"m\\  value=1", MEAS, 0, "m ", true},
	{"a\tb value=1", MEAS, 0, "a\tb", false},
	{" \t cpu value=1", MEAS, 0, "cpu", false},        /* leading whitespace skipped */
	{"K\xc3\xbchlung v=1", MEAS, 0, "K\xc3\xbchlung", false},
	{"a\\,b\\ c\\=d,k=v f=1", MEAS, 0, "a,b c=d", true},
};

/* Labels: ',', ' ' and '=' escape; '"' and '\' do not. */
static const struct name_case label_cases[] = {
	{"cpu,host=a value=1", LKEY, 0, "host", false},
	{"cpu,host=a value=1", LVAL, 0, "a", false},
	{"cpu,zone=z,area=a,unit=3 value=1", LKEY, 0, "zone", false},   /* input order */
	{"cpu,zone=z,area=a,unit=3 value=1", LKEY, 1, "area", false},
	{"cpu,zone=z,area=a,unit=3 value=1", LVAL, 2, "3", false},
	{"m,a\\,b=1 f=1", LKEY, 0, "a,b", true},
	{"m,a\\ b=1 f=1", LKEY, 0, "a b", true},
	{"m,a\\=b=1 f=1", LKEY, 0, "a=b", true},
	{"m,a\\=b=1 f=1", LVAL, 0, "1", false},
	{"m,k=a\\,b f=1", LVAL, 0, "a,b", true},
	{"m,k=a\\ b f=1", LVAL, 0, "a b", true},
	{"m,k=a\\=b f=1", LVAL, 0, "a=b", true},
	{"m,k\\\"=v f=1", LKEY, 0, "k\\\"", true},
	{"m,k=a\\\"b f=1", LVAL, 0, "a\\\"b", true},
	{"m,k=a\\\\b f=1", LVAL, 0, "a\\\\b", true},
	{"m,k=a\\  f=1", LVAL, 0, "a ", true},
	{"m,k==v f=1", LVAL, 0, "=v", false},              /* 1.x checks later bytes only */
	{"m,\\,k=v f=1", LKEY, 0, ",k", true},
	{"m,k=\\,v f=1", LVAL, 0, ",v", true},
	{"m,k=\"quoted\" f=1", LVAL, 0, "\"quoted\"", false},
	{"m,\xe6\xb8\xa9=\xe9\xab\x98 f=1", LKEY, 0, "\xe6\xb8\xa9", false},
	{"m,\xe6\xb8\xa9=\xe9\xab\x98 f=1", LVAL, 0, "\xe9\xab\x98", false},
	{"m,a=1,ab=2,b=3,aa=4 f=1", LKEY, 3, "aa", false},
	{"m,a\\,=1,a\\\\,=2 f=1", LKEY, 1, "a\\,", true},  /* a, and a\, differ */
};

/* Field keys: ',', ' ', '=' and (as 1.x) '"' escape; pairs, not look-back. */
static const struct name_case field_key_cases[] = {
	{"m value=1", FKEY, 0, "value", false},
	{"m a\\,b=1", FKEY, 0, "a,b", true},
	{"m a\\ b=1", FKEY, 0, "a b", true},
	{"m a\\=b=1", FKEY, 0, "a=b", true},
	{"m a\\\"b=1", FKEY, 0, "a\"b", true},
	{"m a\"b=1", FKEY, 0, "a\"b", false},
	{"m \\ a=1", FKEY, 0, " a", true},
	{"m a\\\\b=1", FKEY, 0, "a\\\\b", true},
	{"m    a=1", FKEY, 0, "a", false},                 /* spaces before the fields */
	{"m \t\ta=1", FKEY, 0, "a", false},                /* and tabs, as 1.x */
	{"m a=1,b=2,a=3i", FKEY, 2, "a", false},           /* duplicates are all kept */
	{"m temp\xc2\xb0=4.5", FKEY, 0, "temp\xc2\xb0", false},
	{"m \xf0\x9f\x8c\xa1=1", FKEY, 0, "\xf0\x9f\x8c\xa1", false},
};

/* String values: '"' and '\' escape; other backslashes stay. */
static const struct name_case string_cases[] = {
	{"m s=\"running\"", SVAL, 0, "running", false},
	{"m s=\"\"", SVAL, 0, "", false},
	{"m s=\"a b,c=d\",n=1 7", SVAL, 0, "a b,c=d", false},
	{"m s=\"say \\\"hi\\\"\"", SVAL, 0, "say \"hi\"", true},
	{"m s=\"C:\\\\temp\"", SVAL, 0, "C:\\temp", true},
	{"m s=\"x\\\\\",t=1", SVAL, 0, "x\\", true},
	{"m s=\"a\\nb\\,c\"", SVAL, 0, "a\\nb\\,c", true},
	{"m s=\"a\\\\\\\"b\"", SVAL, 0, "a\\\"b", true},
	{"m s=\"a\rb\"", SVAL, 0, "a\rb", false},
	{"m s=\"two\nlines\"", SVAL, 0, "two\nlines", false},
	{"m s=\"Pumpe l\xc3\xa4uft \xe2\x9c\x93\"", SVAL, 0, "Pumpe l\xc3\xa4uft \xe2\x9c\x93", false},
	{"m a=1,s=\"x\" 5", SVAL, 1, "x", false},
	{"m s=\"#\"", SVAL, 0, "#", false},
	{"m s=\"\\\\\\\\\"", SVAL, 0, "\\\\", true},
};

START_TEST(test_measurement)
{
	check_name_case(&measurement_cases[_i]);
}
END_TEST

START_TEST(test_label)
{
	check_name_case(&label_cases[_i]);
}
END_TEST

START_TEST(test_field_key)
{
	check_name_case(&field_key_cases[_i]);
}
END_TEST

START_TEST(test_string)
{
	check_name_case(&string_cases[_i]);
}
END_TEST

/* ---- tables: bad lines ----------------------------------------------------------------- */

struct bad_case {
	const char *in;
	uint32_t column;
	const char *msg;
};

static const struct bad_case measurement_errors[] = {
	{",a=1 value=1", 1, "missing measurement"},
	{"  ,a=1 value=1", 3, "missing measurement"},
	{"cpu", 4, "missing fields"},
	{"cpu\\ ", 6, "missing fields"},
	{"cpu ", 5, "missing fields"},
	{"cpu \t ", 7, "missing fields"},
	{"cpu\\,x", 7, "missing fields"},
};

static const struct bad_case label_errors[] = {
	{"m,=v f=1", 3, "missing label key"},
	{"m, f=1", 3, "missing label key"},
	{"m,,a=1 f=1", 3, "missing label key"},
	{"m,a=1, f=1", 7, "missing label key"},
	{"m,a=1,", 7, "missing label key"},
	{"m,a= f=1", 5, "missing label value"},
	{"m,a=,b=1 f=1", 5, "missing label value"},
	{"m,a=", 5, "missing label value"},
	{"m,a f=1", 4, "missing label value"},
	{"m,a,b=1 f=1", 4, "missing label value"},
	{"m,a", 4, "missing label value"},
	{"m,a=b=c f=1", 6, "unescaped '=' in label value"},
	{"m,a=1", 6, "missing fields"},
	{"m,a=1\\ ", 8, "missing fields"},
	{"m,a=1,a=2 f=1", 7, "duplicate label key"},
	{"m,b=1,a=2,c=3,b=4 f=1", 15, "duplicate label key"},
	{"m,a\\ =1,a\\ =2 f=1", 9, "duplicate label key"},
};

static const struct bad_case field_errors[] = {
	{"m a\\\\=1", 5, "field key ends with a backslash"},
	{"m \\\\=1", 4, "field key ends with a backslash"},
	{"m =1", 3, "missing field key"},
	{"m \t=1", 4, "missing field key"},
	{"m a=1,=2", 7, "missing field key"},
	{"m ,a=1", 3, "missing field key"},
	{"m a=1,", 7, "missing field key"},
	{"m a=1, 123", 7, "missing field key"},
	{"m a=1, b=2", 7, "missing field key"},
	{"m a=1,,b=2", 7, "missing field key"},
	{"m a", 4, "missing '=' after field key"},
	{"m a,b=1", 4, "missing '=' after field key"},
	{"m a b=1", 4, "missing '=' after field key"},
	{"m a\\=1", 7, "missing '=' after field key"},
	{"m a=", 5, "missing field value"},
	{"m a=,b=1", 5, "missing field value"},
	{"m a= 1", 5, "missing field value"},
	{"m a=1,b=", 9, "missing field value"},
	{"m a==1", 5, "invalid boolean"},
	{"m a=\\1", 5, "invalid boolean"},
};

static const struct bad_case string_errors[] = {
	{"m s=\"abc", 5, "unterminated string"},
	{"m s=\"abc\\\"", 5, "unterminated string"},
	{"m s=\"", 5, "unterminated string"},
	{"m a=1,s=\"x", 9, "unterminated string"},
	{"m s=\"abc\"x", 10, "text after the closing quote of a string"},
	{"m s=\"abc\"\"", 10, "text after the closing quote of a string"},
	{"m s=\"abc\"\"def\"", 10, "text after the closing quote of a string"},
	{"m s=\"a\"\t1", 8, "text after the closing quote of a string"},
};

static const struct bad_case timestamp_errors[] = {
	{"m f=1 12a", 9, "invalid timestamp"},
	{"m f=1 1.5", 8, "invalid timestamp"},
	{"m f=1 --1", 8, "invalid timestamp"},
	{"m f=1 1e9", 8, "invalid timestamp"},
	{"m f=1 +1", 7, "invalid timestamp"},
	{"m f=1 -", 7, "invalid timestamp"},
	{"m f=1 0x10", 8, "invalid timestamp"},
	{"m f=1 1\t", 8, "invalid timestamp"},              /* only ' ' ends it, as 1.x */
	{"m f=1 # c", 7, "invalid timestamp"},              /* no comments after data */
	{"m f=1 1 2", 9, "text after the timestamp"},
	{"m f=1 1 x", 9, "text after the timestamp"},
	{"m f=1 1 \t", 9, "text after the timestamp"},
	{"m f=1\t123", 5, "invalid number"},                /* the field set ends at ' ' */
};

static const struct bad_case utf8_errors[] = {
	{"m\xff a=1", 2, "invalid UTF-8"},
	{"m,k=v\xc3 a=1", 6, "invalid UTF-8"},
	{"m,k\xfe=v a=1", 4, "invalid UTF-8"},
	{"m \x80=1", 3, "invalid UTF-8"},
	{"m s=\"a\xed\xa0\x80\"", 7, "invalid UTF-8"},     /* a surrogate */
	{"m s=\"\xc0\xaf\"", 6, "invalid UTF-8"},           /* overlong '/' */
	{"m s=\"\xf4\x90\x80\x80\"", 6, "invalid UTF-8"},   /* past U+10FFFF */
	{"m s=\"\xe2\x82\"", 6, "invalid UTF-8"},           /* cut short */
	{"m a=1 1\xa0", 8, "invalid UTF-8"},
	{"m a=\x80", 5, "invalid UTF-8"},
};

START_TEST(test_measurement_error)
{
	bad(measurement_errors[_i].in, measurement_errors[_i].column, measurement_errors[_i].msg);
}
END_TEST

START_TEST(test_label_error)
{
	bad(label_errors[_i].in, label_errors[_i].column, label_errors[_i].msg);
}
END_TEST

START_TEST(test_field_error)
{
	bad(field_errors[_i].in, field_errors[_i].column, field_errors[_i].msg);
}
END_TEST

START_TEST(test_string_error)
{
	bad(string_errors[_i].in, string_errors[_i].column, string_errors[_i].msg);
}
END_TEST

START_TEST(test_timestamp_error)
{
	bad(timestamp_errors[_i].in, timestamp_errors[_i].column, timestamp_errors[_i].msg);
}
END_TEST

START_TEST(test_utf8_error)
{
	bad(utf8_errors[_i].in, utf8_errors[_i].column, utf8_errors[_i].msg);
}
END_TEST

/* ---- tables: values ---------------------------------------------------------------------- */

static void float_is(const char *value, double want)
{
	char line[2048];

	snprintf(line, sizeof line, "m f=%s", value);
	ok(line);
	ck_assert_uint_eq(L.nfields, 1);
	ck_assert_int_eq(L.fields[0].type, LP_FIELD_FLOAT);
	ck_assert_msg(L.fields[0].v.f == want && signbit(L.fields[0].v.f) == signbit(want),
		      "%s: got %.17g, want %.17g", value, L.fields[0].v.f, want);
}

static void field_bad(const char *value, const char *msg)
{
	char line[2048];

	snprintf(line, sizeof line, "m f=%s", value);
	bad(line, 5, msg);
}

static const struct {
	const char *text;
	double value;
} floats[] = {
	{"81.52", 81.52},
	{"2.113", 2.113},
	{"1", 1.0},
	{"-1.5", -1.5},
	{"-0", -0.0},
	{"-0.0", -0.0},
	{".5", 0.5},
	{"-.5", -0.5},
	{"5.", 5.0},
	{"-5.", -5.0},
	{"000012.5", 12.5},
	{"0.000001", 1e-6},
	{"1e3", 1000.0},
	{"1E3", 1000.0},
	{"1e+3", 1000.0},
	{"1e-3", 0.001},
	{"-2.5E-3", -0.0025},
	{"1.5e10", 1.5e10},
	{"1.e2", 100.0},
	{".5e1", 5.0},
	{"1e0005", 1e5},
	{"0.3", 0.3},
	{"1e22", 1e22},
	{"1e23", 1e23},
	{"8.41e21", 8.41e21},
	{"1.7976931348623157e308", DBL_MAX},
	{"-1.7976931348623157e308", -DBL_MAX},
	{"1.7976931348623158e308", DBL_MAX},                /* rounds down to DBL_MAX */
	{"1e-400", 0.0},                                     /* underflow: 0, as Go */
	{"-1e-400", -0.0},
	{"1e-99999999999999999999", 0.0},
	{"0e99999999999", 0.0},
	{"4.9406564584124654e-324", 4.9406564584124654e-324},
	{"5e-324", 5e-324},
	{"2.2250738585072011e-308", 2.2250738585072011e-308},
	{"3.14159265358979323846264338327950288", 3.14159265358979323846},
	{"0.1000000000000000055511151231257827021181583404541015625", 0.1},
	{"123456789012345678901234567890", 1.2345678901234568e29},
	{"9007199254740993", 9007199254740992.0},            /* a tie: to even */
	{"9007199254740993.0000000000000000001", 9007199254740994.0},
	{"9007199254740995", 9007199254740996.0},
	{"18446744073709551615", 18446744073709551615.0},
};

START_TEST(test_float)
{
	float_is(floats[_i].text, floats[_i].value);
}
END_TEST

static const char *const bad_numbers[] = {
	"1.2.3", "1e",    "1e+", "1e-",   ".",   "-",     "-.",   "1-2",  "1x",  "0x10", "1e5.5",
	"NaN",   "nan",   "-Inf", "-nan", "1_000", "1..", "1e1e1", ".e1", "1e+-1", "--1", "-e1",
	"1.0i",  "1e3i",  "-i",  "1ii",   "1i2", "12I",   "--1i", "-1u",  "-0u",  "1.5u", "1e3u",
	"1iu",   "1ui",   "1uu", "n",     "N1",  "1\"",   "1=2",  "1\t2", "1\r",
};

START_TEST(test_number_invalid)
{
	field_bad(bad_numbers[_i], "invalid number");
}
END_TEST

static const struct bad_case range_errors[] = {
	{"1e309", 0, "float out of range"},
	{"-1e309", 0, "float out of range"},
	{"1e999999999999999999999", 0, "float out of range"},
	{"1.7976931348623159e308", 0, "float out of range"},
	{"9223372036854775808i", 0, "integer out of range"},
	{"99999999999999999999999i", 0, "integer out of range"},
	{"-9223372036854775809i", 0, "integer out of range"},
	{"18446744073709551616u", 0, "unsigned integer out of range"},
	{"99999999999999999999999u", 0, "unsigned integer out of range"},
};

START_TEST(test_number_range)
{
	field_bad(range_errors[_i].in, range_errors[_i].msg);
}
END_TEST

static const struct {
	const char *text;
	int64_t value;
} ints[] = {
	{"12i", 12},
	{"0i", 0},
	{"-12i", -12},
	{"-0i", 0},
	{"0000000000000000000000012i", 12},
	{"9223372036854775807i", INT64_MAX},
	{"-9223372036854775808i", INT64_MIN},
	{"-00000000000000000000009223372036854775808i", INT64_MIN},
};

START_TEST(test_int)
{
	char line[128];

	snprintf(line, sizeof line, "m f=%s", ints[_i].text);
	ok(line);
	ck_assert_int_eq(L.fields[0].type, LP_FIELD_INT);
	ck_assert_int_eq(L.fields[0].v.i, ints[_i].value);
}
END_TEST

static const struct {
	const char *text;
	uint64_t value;
} uints[] = {
	{"12u", 12},
	{"0u", 0},
	{"0000u", 0},
	{"9223372036854775808u", (uint64_t)INT64_MAX + 1},
	{"18446744073709551615u", UINT64_MAX},
};

START_TEST(test_uint)
{
	char line[128];

	snprintf(line, sizeof line, "m f=%s", uints[_i].text);
	ok(line);
	ck_assert_int_eq(L.fields[0].type, LP_FIELD_UINT);
	ck_assert_uint_eq(L.fields[0].v.u, uints[_i].value);
}
END_TEST

static const struct {
	const char *text;
	bool value;
} bools[] = {
	{"t", true},  {"T", true},  {"true", true},   {"True", true},   {"TRUE", true},
	{"f", false}, {"F", false}, {"false", false}, {"False", false}, {"FALSE", false},
};

START_TEST(test_bool)
{
	char line[64];

	snprintf(line, sizeof line, "m a=%s,b=%s 5", bools[_i].text, bools[_i].text);
	ok(line);
	ck_assert_uint_eq(L.nfields, 2);
	ck_assert_int_eq(L.fields[0].type, LP_FIELD_BOOL);
	ck_assert_int_eq(L.fields[0].v.b, bools[_i].value);
	ck_assert_int_eq(L.fields[1].v.b, bools[_i].value);
	ck_assert_int_eq(L.time_ns, 5);
}
END_TEST

/* Anything not starting like a number or a string is a boolean to 1.x. */
static const char *const bad_bools[] = {
	"tru", "TRue", "tRUE", "FaLse", "fals", "falsee", "truee", "yes", "off", "on",
	"t1",  "T\t",  "#",    "x",     "ttrue", "Inf",   "+1",    "infinity", "i", "u",
};

START_TEST(test_bool_invalid)
{
	field_bad(bad_bools[_i], "invalid boolean");
}
END_TEST

/* ---- tables: timestamps and precisions --------------------------------------------------- */

static const struct {
	const char *line;
	enum lp_precision p;
	int64_t ns;
	const char *err;  /* NULL: good */
} times[] = {
	{"m f=1 1732531200000000000", LP_PRECISION_NS, 1732531200000000000LL, NULL},
	{"m f=1 0", LP_PRECISION_NS, 0, NULL},
	{"m f=1 -1", LP_PRECISION_NS, -1, NULL},
	{"m f=1 -0", LP_PRECISION_NS, 0, NULL},
	{"m f=1 0000000000000000000000042", LP_PRECISION_NS, 42, NULL},
	{"m f=1    42   ", LP_PRECISION_NS, 42, NULL},
	{"m f=1 \t42", LP_PRECISION_NS, 42, NULL},
	{"m f=1 1732531200000000", LP_PRECISION_US, 1732531200000000000LL, NULL},
	{"m f=1 1732531200000", LP_PRECISION_MS, 1732531200000000000LL, NULL},
	{"m f=1 1732531200", LP_PRECISION_S, 1732531200000000000LL, NULL},
	{"m f=1 -1", LP_PRECISION_S, -1000000000LL, NULL},
	{"m f=1 28875520", LP_PRECISION_M, 1732531200000000000LL, NULL},
	{"m f=1 481258", LP_PRECISION_H, 1732528800000000000LL, NULL},
	/* 1.x keeps INT64_MIN, INT64_MIN + 1 and INT64_MAX as sentinels */
	{"m f=1 9223372036854775806", LP_PRECISION_NS, INT64_MAX - 1, NULL},
	{"m f=1 -9223372036854775806", LP_PRECISION_NS, INT64_MIN + 2, NULL},
	{"m f=1 9223372036854775807", LP_PRECISION_NS, 0, "timestamp out of range"},
	{"m f=1 -9223372036854775807", LP_PRECISION_NS, 0, "timestamp out of range"},
	{"m f=1 -9223372036854775808", LP_PRECISION_NS, 0, "timestamp out of range"},
	{"m f=1 9223372036854775808", LP_PRECISION_NS, 0, "timestamp out of range"},
	{"m f=1 -9223372036854775809", LP_PRECISION_NS, 0, "timestamp out of range"},
	{"m f=1 99999999999999999999999", LP_PRECISION_NS, 0, "timestamp out of range"},
	{"m f=1 9223372036854775", LP_PRECISION_US, 9223372036854775000LL, NULL},
	{"m f=1 9223372036854776", LP_PRECISION_US, 0, "timestamp out of range"},
	{"m f=1 -9223372036854776", LP_PRECISION_US, 0, "timestamp out of range"},
	{"m f=1 9223372036854", LP_PRECISION_MS, 9223372036854000000LL, NULL},
	{"m f=1 9223372036855", LP_PRECISION_MS, 0, "timestamp out of range"},
	{"m f=1 -9223372036855", LP_PRECISION_MS, 0, "timestamp out of range"},
	{"m f=1 9223372036", LP_PRECISION_S, 9223372036000000000LL, NULL},
	{"m f=1 -9223372036", LP_PRECISION_S, -9223372036000000000LL, NULL},
	{"m f=1 9223372037", LP_PRECISION_S, 0, "timestamp out of range"},
	{"m f=1 -9223372037", LP_PRECISION_S, 0, "timestamp out of range"},
	{"m f=1 153722867", LP_PRECISION_M, 153722867LL * 60000000000LL, NULL},
	{"m f=1 153722868", LP_PRECISION_M, 0, "timestamp out of range"},
	{"m f=1 -153722868", LP_PRECISION_M, 0, "timestamp out of range"},
	{"m f=1 2562047", LP_PRECISION_H, 2562047LL * 3600000000000LL, NULL},
	{"m f=1 2562048", LP_PRECISION_H, 0, "timestamp out of range"},
	{"m f=1 -2562048", LP_PRECISION_H, 0, "timestamp out of range"},
	{"m f=1 9223372036854775807", LP_PRECISION_H, 0, "timestamp out of range"},
};

START_TEST(test_timestamp)
{
	int rc = parse_p(times[_i].line, times[_i].p);

	if (times[_i].err) {
		ck_assert_int_eq(rc, -1);
		ck_assert_str_eq(E.message, times[_i].err);
		ck_assert_uint_eq(E.column, 7);
		return;
	}
	ck_assert_msg(rc == 1, "'%s': %s", times[_i].line, E.message);
	ck_assert(L.has_time);
	ck_assert_int_eq(L.time_ns, times[_i].ns);
}
END_TEST

START_TEST(test_timestamp_absent)
{
	static const char *const lines[] = {"m f=1", "m f=1   ", "m f=1 \t ", "m f=\"x\" "};

	for (int i = 0; i < N(lines); i++) {
		for (int p = LP_PRECISION_NS; p <= LP_PRECISION_H; p++) {
			ck_assert_int_eq(parse_p(lines[i], (enum lp_precision)p), 1);
			ck_assert(!L.has_time);
		}
	}
}
END_TEST

static const struct {
	const char *text;
	int rc;
	enum lp_precision p;
} precisions[] = {
	{"", 0, LP_PRECISION_NS},  {"n", 0, LP_PRECISION_NS},  {"ns", 0, LP_PRECISION_NS},
	{"u", 0, LP_PRECISION_US}, {"us", 0, LP_PRECISION_US}, {"ms", 0, LP_PRECISION_MS},
	{"s", 0, LP_PRECISION_S},  {"m", 0, LP_PRECISION_M},   {"h", 0, LP_PRECISION_H},
	{"x", -1, 0},              {"MS", -1, 0},              {"ns ", -1, 0},
	{"nanoseconds", -1, 0},    {"d", -1, 0},               {"\xc2\xb5s", -1, 0},
};

START_TEST(test_precision_parse)
{
	enum lp_precision p = LP_PRECISION_H;

	ck_assert_int_eq(lp_precision_parse(precisions[_i].text, &p), precisions[_i].rc);
	ck_assert_int_eq(p, precisions[_i].rc == 0 ? precisions[_i].p : LP_PRECISION_H);
}
END_TEST

START_TEST(test_precision_parse_null)
{
	enum lp_precision p = LP_PRECISION_H;

	ck_assert_int_eq(lp_precision_parse(NULL, &p), 0);
	ck_assert_int_eq(p, LP_PRECISION_NS);
}
END_TEST

/* ---- limits ------------------------------------------------------------------------------ */

static char *labels_line(unsigned n)
{
	size_t cap = 32 + (size_t)n * 24, len = 0;
	char *s = malloc(cap);

	len += (size_t)snprintf(s, cap, "m");
	for (unsigned i = 0; i < n; i++)
		len += (size_t)snprintf(s + len, cap - len, ",k%04u=v", i);
	snprintf(s + len, cap - len, " f=1");
	return s;
}

START_TEST(test_label_limit)
{
	char *s = labels_line(LP_MAX_LABELS);

	ok(s);
	ck_assert_uint_eq(L.nlabels, LP_MAX_LABELS);
	plain_is(&L.label_keys[LP_MAX_LABELS - 1], "k0127");
	free(s);
}
END_TEST

START_TEST(test_label_limit_one_past)
{
	char *s = labels_line(LP_MAX_LABELS + 1);

	ck_assert_int_eq(parse_p(s, LP_PRECISION_NS), -1);
	ck_assert_str_eq(E.message, "too many labels");
	ck_assert_uint_eq(E.column, 2 + 8 * LP_MAX_LABELS + 1);
	free(s);
}
END_TEST

static char *fields_line(unsigned n)
{
	size_t cap = 16 + (size_t)n * 16, len = 0;
	char *s = malloc(cap);

	len += (size_t)snprintf(s, cap, "m ");
	for (unsigned i = 0; i < n; i++)
		len += (size_t)snprintf(s + len, cap - len, "%sf%u=%ui", i ? "," : "", i, i);
	return s;
}

START_TEST(test_field_limit)
{
	char *s = fields_line(LP_MAX_FIELDS);

	ok(s);
	ck_assert_uint_eq(L.nfields, LP_MAX_FIELDS);
	ck_assert_int_eq(L.fields[LP_MAX_FIELDS - 1].v.i, LP_MAX_FIELDS - 1);
	free(s);
}
END_TEST

START_TEST(test_field_limit_one_past)
{
	char *s = fields_line(LP_MAX_FIELDS + 1);

	ck_assert_int_eq(parse_p(s, LP_PRECISION_NS), -1);
	ck_assert_str_eq(E.message, "too many fields");
	free(s);
}
END_TEST

/* measurement + labels as written: at most 65535 bytes, and with each
 * field key and 4 bytes more (1.x's MaxKeyLength). */
static char *long_key_line(size_t keylen)
{
	char *s = malloc(keylen + 8);

	memset(s, 'm', keylen);
	strcpy(s + keylen, " f=1");
	return s;
}

START_TEST(test_key_length_limit)
{
	char *s = long_key_line(65535 - 5);

	ok(s);
	ck_assert_uint_eq(L.measurement.len, 65530);
	free(s);
}
END_TEST

START_TEST(test_key_length_one_past)
{
	char *s = long_key_line(65536);

	ck_assert_int_eq(parse_p(s, LP_PRECISION_NS), -1);
	ck_assert_str_eq(E.message, "key too long (measurement and labels over 65535 bytes)");
	free(s);
	s = long_key_line(65535 - 4);
	ck_assert_int_eq(parse_p(s, LP_PRECISION_NS), -1);
	ck_assert_str_eq(E.message,
			 "key too long (measurement, labels and field key over 65535 bytes)");
	free(s);
}
END_TEST

/* ---- values in context ------------------------------------------------------------------- */

START_TEST(test_plant_line)
{
	ok("plant,area=boiler,unit=3 temp=81.52,pressure=2.113 1732531200000000000");
	plain_is(&L.measurement, "plant");
	ck_assert_uint_eq(L.nlabels, 2);
	plain_is(&L.label_keys[1], "unit");
	plain_is(&L.label_values[1], "3");
	ck_assert_uint_eq(L.nfields, 2);
	ck_assert_double_eq(L.fields[0].v.f, 81.52);
	ck_assert_double_eq(L.fields[1].v.f, 2.113);
	ck_assert(L.has_time);
	ck_assert_int_eq(L.time_ns, 1732531200000000000LL);
	ck_assert_uint_eq(L.line_no, 1);
}
END_TEST

START_TEST(test_every_type_in_one_line)
{
	ok("m s=\"x\",i=-1i,u=2u,b=t,f=1.5,v=1 1");
	ck_assert_uint_eq(L.nfields, 6);
	ck_assert_int_eq(L.fields[0].type, LP_FIELD_STRING);
	ck_assert_int_eq(L.fields[1].type, LP_FIELD_INT);
	ck_assert_int_eq(L.fields[1].v.i, -1);
	ck_assert_int_eq(L.fields[2].type, LP_FIELD_UINT);
	ck_assert_uint_eq(L.fields[2].v.u, 2);
	ck_assert_int_eq(L.fields[3].type, LP_FIELD_BOOL);
	ck_assert_int_eq(L.fields[4].type, LP_FIELD_FLOAT);
	ck_assert_int_eq(L.fields[5].type, LP_FIELD_FLOAT);
	plain_is(&L.fields[5].key, "v");
}
END_TEST

START_TEST(test_duplicate_field_keys_kept)
{
	ok("m a=1,b=2,a=3i");             /* 1.x's iterator yields all three */
	ck_assert_uint_eq(L.nfields, 3);
	ck_assert_int_eq(L.fields[0].type, LP_FIELD_FLOAT);
	ck_assert_int_eq(L.fields[2].type, LP_FIELD_INT);
	ck_assert_int_eq(L.fields[2].v.i, 3);
}
END_TEST

START_TEST(test_nul_before_fields_skipped)
{
	ok_n("m \0a=1", 6);
	plain_is(&L.fields[0].key, "a");
}
END_TEST

START_TEST(test_float_very_long_mantissa)
{
	/* 1 and 1000 zeros, scaled back: digits past the cut take the sticky path */
	char v[1100];

	memset(v, '0', sizeof v);
	v[0] = '1';
	snprintf(v + 1001, sizeof v - 1001, "e-1000");
	float_is(v, 1.0);
	v[700] = '1';
	snprintf(v + 1001, sizeof v - 1001, "e-1000");
	float_is(v, 1.0);
	memset(v, '9', 400);            /* 400 nines: past DBL_MAX */
	v[400] = '\0';
	field_bad(v, "float out of range");
}
END_TEST

START_TEST(test_float_long_fraction_zeros)
{
	char v[700] = "0.";

	memset(v + 2, '0', 600);
	strcpy(v + 602, "15");
	float_is(v, 0.0);               /* 1.5e-601: below the subnormals */
	strcpy(v + 2 + 300, "15");
	float_is(v, 1.5e-301);
}
END_TEST

/* ---- lines ------------------------------------------------------------------------------- */

/* Parse a whole buffer; check each result's kind and line. */
static void expect_lines(const char *in, size_t len, const int *rc, const uint32_t *line, int n)
{
	lp_parser_init(&P, in, len, LP_PRECISION_NS);
	for (int i = 0; i < n; i++) {
		int got = lp_next(&P, &L, &E);
		ck_assert_msg(got == rc[i], "result %d: rc %d (%s)", i, got, E.message);
		ck_assert_uint_eq(got == 1 ? L.line_no : E.line, line[i]);
	}
	ck_assert_int_eq(lp_next(&P, &L, &E), 0);
	ck_assert_int_eq(lp_next(&P, &L, &E), 0);       /* stays at the end */
	ck_assert_uint_eq(P.pos, len);
}

START_TEST(test_empty_buffer)
{
	ck_assert_int_eq(parse_n("", 0, LP_PRECISION_NS), 0);
	ck_assert_int_eq(parse_n(NULL, 0, LP_PRECISION_NS), 0);
	ck_assert_int_eq(parse_p("\n\n\n", LP_PRECISION_NS), 0);
	ck_assert_int_eq(parse_p("  \t \n \n", LP_PRECISION_NS), 0);
}
END_TEST

START_TEST(test_blank_lines_skipped)
{
	static const int rc[] = {1, 1};
	static const uint32_t line[] = {3, 6};
	const char *in = "\n\nm a=1\n   \n\t\nm b=2\n\n";

	expect_lines(in, strlen(in), rc, line, 2);
}
END_TEST

START_TEST(test_no_final_newline)
{
	static const int rc[] = {1, 1};
	static const uint32_t line[] = {1, 2};

	expect_lines("m a=1\nm b=2", 11, rc, line, 2);
	plain_is(&L.fields[0].key, "b");
}
END_TEST

START_TEST(test_string_newline_spans_lines)
{
	static const int rc[] = {1, 1};
	static const uint32_t line[] = {1, 3};
	const char *in = "m s=\"two\nlines\" 5\nm n=1\n";

	expect_lines(in, strlen(in), rc, line, 2);
}
END_TEST

START_TEST(test_escaped_newline_continues_line)
{
	/* 1.x: a backslash escapes any byte, a newline too */
	const char *in = "m\\\nx a=1\nm b=2\n";

	ck_assert_int_eq(parse_p(in, LP_PRECISION_NS), 1);
	plain_is(&L.measurement, "m\\\nx");
	ck_assert_int_eq(lp_next(&P, &L, &E), 1);
	ck_assert_uint_eq(L.line_no, 3);
}
END_TEST

START_TEST(test_escaped_newline_at_end_dropped)
{
	/* 1.x drops a buffer's final newline even when a backslash escapes it */
	bad("m a=1\\\n", 5, "invalid number");
}
END_TEST

START_TEST(test_nul_at_line_start_skipped)
{
	ok_n("\0\0m a=1", 7);
	plain_is(&L.measurement, "m");
}
END_TEST

START_TEST(test_nul_in_measurement_kept)
{
	ok_n("m\0x a=1", 7);
	plain_is_n(&L.measurement, "m\0x", 3);
}
END_TEST

START_TEST(test_length_bounds_the_buffer)
{
	const char text[] = "m a=1 123456";

	ck_assert_int_eq(parse_n(text, 5, LP_PRECISION_NS), 1);
	ck_assert(!L.has_time);
	ck_assert_int_eq(parse_n(text, 8, LP_PRECISION_NS), 1);
	ck_assert_int_eq(L.time_ns, 12);
	ck_assert_int_eq(parse_n("m s=\"abc\"", 8, LP_PRECISION_NS), -1);
	ck_assert_str_eq(E.message, "unterminated string");
}
END_TEST

/* Every prefix of a batch parses without reading past its end (the
 * sanitizers watch) and never yields more lines than the whole. */
START_TEST(test_every_prefix)
{
	const char *in = "m\\ x,k=v\\,1 a=1.5e3,b=-2i,c=3u,d=TRUE,s=\"q\\\"\\\\\" 1732531200\r\n"
			 "# c\n\nm2 v=\"x\ny\" -5\n";
	size_t len = strlen(in);

	for (size_t n = 0; n <= len; n++) {
		char *copy = malloc(n ? n : 1);
		int rc, lines = 0;
		memcpy(copy, in, n);
		lp_parser_init(&P, copy, n, LP_PRECISION_S);
		while ((rc = lp_next(&P, &L, &E)) != 0)
			lines += rc == 1;
		ck_assert_int_le(lines, 2);
		ck_assert_uint_eq(P.pos, n);
		free(copy);
	}
}
END_TEST

/* ---- comments ---------------------------------------------------------------------------- */

START_TEST(test_comment_lines_skipped)
{
	static const int rc[] = {1, -1};
	static const uint32_t line[] = {2, 5};
	const char *in = "# header\nm a=1\n  # indented\n\t#tab\nm b=2 # not a comment\n";

	expect_lines(in, strlen(in), rc, line, 2);
	ck_assert_str_eq(E.message, "invalid timestamp");
}
END_TEST

START_TEST(test_comment_only)
{
	ck_assert_int_eq(parse_p("#m a=1", LP_PRECISION_NS), 0);
	ck_assert_int_eq(parse_p("# m a=\"x\"", LP_PRECISION_NS), 0);
	ck_assert_int_eq(parse_p("#", LP_PRECISION_NS), 0);
}
END_TEST

START_TEST(test_comment_quote_swallows_next_line)
{
	/* As in 1.x, lines are split before comments are recognised: a quote
	 * opened in a comment runs on to the next quote. */
	static const int rc[] = {1};
	static const uint32_t line[] = {4};
	const char *in = "# a=\"x\nm a=1\n\"\nm b=2\n";

	expect_lines(in, strlen(in), rc, line, 1);
	plain_is(&L.fields[0].key, "b");
}
END_TEST

START_TEST(test_comment_not_utf8_checked)
{
	ck_assert_int_eq(parse_p("# \xff\xfe\nm a=1", LP_PRECISION_NS), 1);
	ck_assert_uint_eq(L.line_no, 2);
}
END_TEST

/* ---- CRLF -------------------------------------------------------------------------------- */

START_TEST(test_crlf_lines)
{
	const char *in = "m a=1\r\nm b=2i 5\r\nm s=\"x\"\r\n";

	ck_assert_int_eq(parse_p(in, LP_PRECISION_NS), 1);
	ck_assert_double_eq(L.fields[0].v.f, 1.0);
	ck_assert_int_eq(lp_next(&P, &L, &E), 1);
	ck_assert_int_eq(L.fields[0].v.i, 2);
	ck_assert_int_eq(L.time_ns, 5);
	ck_assert_uint_eq(L.line_no, 2);
	ck_assert_int_eq(lp_next(&P, &L, &E), 1);
	plain_is(&L.fields[0].v.s, "x");
	ck_assert_int_eq(lp_next(&P, &L, &E), 0);
}
END_TEST

START_TEST(test_crlf_blank_and_comment)
{
	static const int rc[] = {1};
	static const uint32_t line[] = {4};
	const char *in = "\r\n  \r\n# c\r\nm a=t\r\n\r\n";

	expect_lines(in, strlen(in), rc, line, 1);
	ck_assert_int_eq(L.fields[0].v.b, true);
}
END_TEST

START_TEST(test_lone_cr_is_a_byte)
{
	bad("m a=1\r", 5, "invalid number");           /* only "\r\n" ends a line */
	bad("m a=1\rm b=2", 5, "invalid number");
	bad("m a=1 5\r", 8, "invalid timestamp");
}
END_TEST

/* ---- errors and recovery ---------------------------------------------------------------- */

START_TEST(test_batch_good_and_bad)
{
	const char *in = "m a=1 1\n"
			 "m a= 2\n"
			 "\n"
			 "# c\n"
			 "m,x a=1 3\n"
			 "m a=4 4\n"
			 "m a=5 5 junk\n"
			 "m a=6 6";
	static const int rc[] = {1, -1, -1, 1, -1, 1};
	static const uint32_t line[] = {1, 2, 5, 6, 7, 8};
	static const uint32_t col[] = {0, 5, 4, 0, 9, 0};
	static const int64_t t[] = {1, 0, 0, 4, 0, 6};

	lp_parser_init(&P, in, strlen(in), LP_PRECISION_NS);
	for (int i = 0; i < N(rc); i++) {
		ck_assert_int_eq(lp_next(&P, &L, &E), rc[i]);
		if (rc[i] == 1) {
			ck_assert_uint_eq(L.line_no, line[i]);
			ck_assert_int_eq(L.time_ns, t[i]);
		} else {
			ck_assert_uint_eq(E.line, line[i]);
			ck_assert_uint_eq(E.column, col[i]);
		}
	}
	ck_assert_int_eq(lp_next(&P, &L, &E), 0);
}
END_TEST

START_TEST(test_error_on_later_physical_line)
{
	/* a string spans two lines; the error is on the second */
	static const int rc[] = {-1};
	static const uint32_t line[] = {2};
	const char *in = "m s=\"a\nb\",x 1\n";

	expect_lines(in, strlen(in), rc, line, 1);
	ck_assert_str_eq(E.message, "missing '=' after field key");
	ck_assert_uint_eq(E.column, 5);
}
END_TEST

START_TEST(test_error_column_after_leading_whitespace)
{
	bad("   m a=x", 8, "invalid boolean");
}
END_TEST

START_TEST(test_unterminated_string_swallows_rest)
{
	/* as in 1.x, an open quote keeps the line going to the end */
	static const int rc[] = {-1};
	static const uint32_t line[] = {1};
	const char *in = "m s=\"abc\nm a=1\nm b=2\n";

	expect_lines(in, strlen(in), rc, line, 1);
	ck_assert_str_eq(E.message, "unterminated string");
	ck_assert_uint_eq(E.column, 5);
	ck_assert_uint_eq(P.line_no, 4);
}
END_TEST

START_TEST(test_error_lines_counted_across_crlf)
{
	static const int rc[] = {1, -1, 1};
	static const uint32_t line[] = {1, 2, 3};
	const char *in = "m a=1\r\nbad\r\nm b=2\r\n";

	expect_lines(in, strlen(in), rc, line, 3);
	ck_assert_int_eq(parse_p("m a=1\r\nbad\r\n", LP_PRECISION_NS), 1);
	ck_assert_int_eq(lp_next(&P, &L, &E), -1);
	ck_assert_uint_eq(E.column, 4);
	ck_assert_str_eq(E.message, "missing fields");
}
END_TEST

START_TEST(test_error_message_fits)
{
	ck_assert_int_eq(parse_p("m a=1 1 2", LP_PRECISION_NS), -1);
	ck_assert_uint_lt(strlen(E.message), LP_ERROR_TEXT);
	ck_assert_uint_gt(strlen(E.message), 0);
}
END_TEST

/* ---- lp_unescape -------------------------------------------------------------------------- */

START_TEST(test_unescape_plain_copy)
{
	struct lp_str s = {"abc", 3, false, LP_STR_NAME};
	char buf[8];

	ck_assert_uint_eq(lp_unescape(&s, buf, sizeof buf), 3);
	ck_assert_int_eq(memcmp(buf, "abc", 3), 0);
}
END_TEST

START_TEST(test_unescape_short_buffer)
{
	struct lp_str s = {"a\\,b\\,c", 7, true, LP_STR_NAME};
	char buf[3] = {'x', 'x', 'x'};

	ck_assert_uint_eq(lp_unescape(&s, buf, 2), 5);
	ck_assert_int_eq(memcmp(buf, "a,x", 3), 0);   /* a prefix; no byte past cap */
	ck_assert_uint_eq(lp_unescape(&s, NULL, 0), 5);
	s.escaped = false;
	ck_assert_uint_eq(lp_unescape(&s, buf, 2), 7);
	ck_assert_int_eq(memcmp(buf, "a\\x", 3), 0);
	ck_assert_uint_eq(lp_unescape(&s, NULL, 0), 7);
}
END_TEST

START_TEST(test_unescape_kinds)
{
	struct lp_str s = {"\\,\\ \\=\\\"\\\\", 10, true, LP_STR_NAME};
	char buf[16];
	size_t n;

	n = lp_unescape(&s, buf, sizeof buf);
	ck_assert_uint_eq(n, 6);
	ck_assert_int_eq(memcmp(buf, ", =\"\\\\", n), 0);
	s.kind = LP_STR_LABEL;
	n = lp_unescape(&s, buf, sizeof buf);
	ck_assert_uint_eq(n, 7);
	ck_assert_int_eq(memcmp(buf, ", =\\\"\\\\", n), 0);
	s.kind = LP_STR_STRING;
	n = lp_unescape(&s, buf, sizeof buf);
	ck_assert_uint_eq(n, 8);
	ck_assert_int_eq(memcmp(buf, "\\,\\ \\=\"\\", n), 0);
}
END_TEST

START_TEST(test_unescape_trailing_backslash)
{
	struct lp_str s = {"ab\\", 3, true, LP_STR_STRING};
	char buf[8];

	ck_assert_uint_eq(lp_unescape(&s, buf, sizeof buf), 3);
	ck_assert_int_eq(memcmp(buf, "ab\\", 3), 0);
}
END_TEST

/* ---- zero copy ---------------------------------------------------------------------------- */

static void inside(const struct lp_str *s, const char *buf, size_t len)
{
	ck_assert_uint_ge((uintptr_t)s->ptr, (uintptr_t)buf);
	ck_assert_uint_le((uintptr_t)(s->ptr + s->len), (uintptr_t)(buf + len));
}

START_TEST(test_views_point_into_buffer)
{
	const char *in = "m\\ x,k=v,k2=v\\,2 a=1,s=\"q\\\"\" 1\n";
	size_t len = strlen(in);

	ck_assert_int_eq(parse_n(in, len, LP_PRECISION_NS), 1);
	inside(&L.measurement, in, len);
	for (uint32_t i = 0; i < L.nlabels; i++) {
		inside(&L.label_keys[i], in, len);
		inside(&L.label_values[i], in, len);
	}
	for (uint32_t i = 0; i < L.nfields; i++)
		inside(&L.fields[i].key, in, len);
	inside(&L.fields[1].v.s, in, len);
	ck_assert_ptr_eq(L.measurement.ptr, in);
	ck_assert_uint_eq(L.measurement.len, 4);
	ck_assert_ptr_eq(L.fields[1].v.s.ptr, strchr(in, '"') + 1);
}
END_TEST

/* ---- generated round trips ------------------------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

/* Random text from an alphabet with every separator and escape in it. */
static size_t random_text(char *out, size_t max, bool string)
{
	static const char *const names[] = {"a", "b", "Z", "0", "_", ",", " ", "=", "\"", "-",
					    "\xc3\xa4", "\xe2\x82\xac", ".", "#"};
	static const char *const strings[] = {"a", " ", ",", "=", "\"", "\\", "\n", "\xc3\xa4", "x"};
	size_t n = 1 + rng() % max, len = 0;

	for (size_t i = 0; i < n; i++) {
		const char *piece = string ? strings[rng() % 9] : names[rng() % 14];
		memcpy(out + len, piece, strlen(piece));
		len += strlen(piece);
	}
	return len;
}

/* Write plain text escaped for an element: escs lists the bytes that need
 * a backslash there. */
static size_t escape(char *dst, const char *src, size_t n, const char *escs)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (strchr(escs, src[i]))
			dst[o++] = '\\';
		dst[o++] = src[i];
	}
	return o;
}

struct gen {
	char meas[64], lk[4][64], lv[4][64], fk[6][64], sv[6][64];
	size_t meas_n, lk_n[4], lv_n[4], fk_n[6], sv_n[6];
	unsigned nl, nf;
	int type[6];
	double f[6];
	int64_t i[6];
	uint64_t u[6];
	bool b[6];
	int64_t t;
};

static void gen_value(struct gen *g, unsigned j, char *line, size_t *len)
{
	static const char *const bt[] = {"t", "T", "true", "True", "TRUE"};
	static const char *const bf[] = {"f", "F", "false", "False", "FALSE"};
	uint64_t bits;

	g->type[j] = (int)(rng() % 5);
	switch (g->type[j]) {
	case LP_FIELD_FLOAT:
		do {
			bits = rng();
			memcpy(&g->f[j], &bits, sizeof(double));
		} while (!isfinite(g->f[j]));
		*len += (size_t)sprintf(line + *len, "%.17g", g->f[j]);
		break;
	case LP_FIELD_INT:
		g->i[j] = (int64_t)rng();
		*len += (size_t)sprintf(line + *len, "%" PRId64 "i", g->i[j]);
		break;
	case LP_FIELD_UINT:
		g->u[j] = rng();
		*len += (size_t)sprintf(line + *len, "%" PRIu64 "u", g->u[j]);
		break;
	case LP_FIELD_BOOL:
		g->b[j] = rng() & 1;
		*len += (size_t)sprintf(line + *len, "%s", (g->b[j] ? bt : bf)[rng() % 5]);
		break;
	default:
		g->sv_n[j] = random_text(g->sv[j], 12, true);
		line[(*len)++] = '"';
		*len += escape(line + *len, g->sv[j], g->sv_n[j], "\"\\");
		line[(*len)++] = '"';
	}
}

/* One line with random names, escapes and every type; returns its length. */
static size_t gen_line(struct gen *g, char *line)
{
	size_t len = 0;

	do
		g->meas_n = random_text(g->meas, 8, false);
	while (g->meas[0] == '#');
	len += escape(line, g->meas, g->meas_n, ", =\"");
	g->nl = (unsigned)(rng() % 4);
	for (unsigned j = 0; j < g->nl; j++) {
		g->lk[j][0] = (char)('a' + j);          /* distinct keys */
		g->lk_n[j] = 1 + random_text(g->lk[j] + 1, 8, false);
		g->lv_n[j] = random_text(g->lv[j], 8, false);
		line[len++] = ',';
		len += escape(line + len, g->lk[j], g->lk_n[j], ", =");
		line[len++] = '=';
		len += escape(line + len, g->lv[j], g->lv_n[j], ", =");
	}
	line[len++] = ' ';
	g->nf = 1 + (unsigned)(rng() % 6);
	for (unsigned j = 0; j < g->nf; j++) {
		g->fk_n[j] = random_text(g->fk[j], 8, false);
		if (j)
			line[len++] = ',';
		len += escape(line + len, g->fk[j], g->fk_n[j], ", =\"");
		line[len++] = '=';
		gen_value(g, j, line, &len);
	}
	g->t = (int64_t)(rng() >> 2) - (INT64_MAX / 4);
	len += (size_t)sprintf(line + len, " %" PRId64 "\n", g->t);
	return len;
}

static void check_gen(const struct gen *g)
{
	plain_is_n(&L.measurement, g->meas, g->meas_n);
	ck_assert_uint_eq(L.nlabels, g->nl);
	for (unsigned j = 0; j < g->nl; j++) {
		plain_is_n(&L.label_keys[j], g->lk[j], g->lk_n[j]);
		plain_is_n(&L.label_values[j], g->lv[j], g->lv_n[j]);
	}
	ck_assert_uint_eq(L.nfields, g->nf);
	for (unsigned j = 0; j < g->nf; j++) {
		const struct lp_field *f = &L.fields[j];
		plain_is_n(&f->key, g->fk[j], g->fk_n[j]);
		ck_assert_int_eq(f->type, g->type[j]);
		if (f->type == LP_FIELD_FLOAT)
			ck_assert_int_eq(memcmp(&f->v.f, &g->f[j], sizeof(double)), 0);
		else if (f->type == LP_FIELD_INT)
			ck_assert_int_eq(f->v.i, g->i[j]);
		else if (f->type == LP_FIELD_UINT)
			ck_assert_uint_eq(f->v.u, g->u[j]);
		else if (f->type == LP_FIELD_BOOL)
			ck_assert_int_eq(f->v.b, g->b[j]);
		else
			plain_is_n(&f->v.s, g->sv[j], g->sv_n[j]);
	}
	ck_assert(L.has_time);
	ck_assert_int_eq(L.time_ns, g->t);
}

START_TEST(test_random_round_trip)
{
	static char buf[1 << 20];
	static struct gen gens[1000];
	size_t len = 0;
	uint32_t last = 0;

	rng_state = 0x5DEECE66DULL + (uint64_t)_i;
	printf("test_random_round_trip: seed 0x%" PRIx64 "\n", rng_state);
	for (int k = 0; k < N(gens); k++)
		len += gen_line(&gens[k], buf + len);
	lp_parser_init(&P, buf, len, LP_PRECISION_NS);
	for (int k = 0; k < N(gens); k++) {
		int rc = lp_next(&P, &L, &E);
		ck_assert_msg(rc == 1, "line %d: %u:%u %s", k, E.line, E.column, E.message);
		ck_assert_uint_gt(L.line_no, last);
		last = L.line_no;
		check_gen(&gens[k]);
	}
	ck_assert_int_eq(lp_next(&P, &L, &E), 0);
}
END_TEST

/* ---- the suite ----------------------------------------------------------------------------- */

static void add_case(Suite *s, const char *name, const TTest *const tests[], int n)
{
	TCase *tc = tcase_create(name);

	for (int i = 0; i < n; i++)
		tcase_add_test(tc, tests[i]);
	suite_add_tcase(s, tc);
}

#define LOOP(tc, t, table) tcase_add_loop_test(tc, t, 0, N(table))

/* ---- split parsers ------------------------------------------------------- */

/* What lp_next gave for every line of a parse, as text, for comparison. */
static void describe_all(struct lp_parser *p, char *out, size_t cap, size_t *used)
{
	int rc;

	while ((rc = lp_next(p, &L, &E)) != 0) {
		int n = rc > 0 ? snprintf(out + *used, cap - *used, "ok %u %.*s %u %" PRId64 "|", L.line_no,
					  (int)L.measurement.len, L.measurement.ptr, L.nfields,
					  L.has_time ? L.time_ns : -1)
			       : snprintf(out + *used, cap - *used, "bad %u:%u %s|", E.line, E.column,
					  E.message);
		ck_assert_int_gt(n, 0);
		*used += (size_t)n;
		ck_assert_uint_lt(*used, cap);
	}
}

/* The two halves of lp_parser_split read exactly what one parser reads,
 * wherever the cut is asked for: through quoted and escaped newlines,
 * CRLF, comments, bad lines and the final backslash-newline. */
START_TEST(test_split_reads_the_same)
{
	static const char *const bodies[] = {
		"m,a=1 f=1 10\nm,a=2 f=2 20\n\nm f=3\n",
		"m s=\"one\ntwo\nthree\" 1\nm f=2 2\nm s=\"x\ny\" 3\n",
		"m\\\nx a=1\nm b=2\r\n# comment \"quote\nm c=3\nbad line\nm d=4i 5\n",
		"m a=1\r\n\r\nm b=\"unterminated\nm c=3\nm d=4\n",
		"m a=1\nm a=\n  m a=2 7\nm a=3\\\n",
		"x=\"q\" y\nm,k=v a=\"\\\"\n\" 9\nm a=1",
	};
	static char whole[8192], split[8192];

	for (int k = 0; k < N(bodies); k++) {
		const char *body = bodies[k];
		size_t len = strlen(body), nw = 0;
		struct lp_parser p, a, b;

		lp_parser_init(&p, body, len, LP_PRECISION_NS);
		describe_all(&p, whole, sizeof whole, &nw);
		for (size_t at = 0; at <= len + 1; at++) {
			size_t ns = 0;
			lp_parser_init(&p, body, len, LP_PRECISION_NS);
			lp_parser_split(&p, at, &a, &b);
			ck_assert_uint_ge(b.pos, at < len ? at : len);
			describe_all(&a, split, sizeof split, &ns);
			describe_all(&b, split, sizeof split, &ns);
			ck_assert_msg(ns == nw && memcmp(split, whole, nw) == 0,
				      "body %d cut at %zu:\n%.*s\nwhole:\n%.*s", k, at, (int)ns, split, (int)nw,
				      whole);
		}
	}
}
END_TEST

static Suite *lineproto_suite(void)
{
	Suite *s = suite_create("lineproto");
	TCase *tc;

	tc = tcase_create("escapes");
	LOOP(tc, test_measurement, measurement_cases);
	LOOP(tc, test_label, label_cases);
	LOOP(tc, test_field_key, field_key_cases);
	LOOP(tc, test_string, string_cases);
	suite_add_tcase(s, tc);

	tc = tcase_create("malformed");
	LOOP(tc, test_measurement_error, measurement_errors);
	LOOP(tc, test_label_error, label_errors);
	LOOP(tc, test_field_error, field_errors);
	LOOP(tc, test_string_error, string_errors);
	LOOP(tc, test_timestamp_error, timestamp_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("utf8");
	LOOP(tc, test_utf8_error, utf8_errors);
	tcase_add_test(tc, test_comment_not_utf8_checked);
	suite_add_tcase(s, tc);

	tc = tcase_create("numbers");
	LOOP(tc, test_float, floats);
	LOOP(tc, test_number_invalid, bad_numbers);
	LOOP(tc, test_number_range, range_errors);
	LOOP(tc, test_int, ints);
	LOOP(tc, test_uint, uints);
	tcase_add_test(tc, test_float_very_long_mantissa);
	tcase_add_test(tc, test_float_long_fraction_zeros);
	suite_add_tcase(s, tc);

	tc = tcase_create("booleans");
	LOOP(tc, test_bool, bools);
	LOOP(tc, test_bool_invalid, bad_bools);
	suite_add_tcase(s, tc);

	tc = tcase_create("timestamps");
	LOOP(tc, test_timestamp, times);
	tcase_add_test(tc, test_timestamp_absent);
	LOOP(tc, test_precision_parse, precisions);
	tcase_add_test(tc, test_precision_parse_null);
	suite_add_tcase(s, tc);

	const TTest *const limits[] = {test_label_limit, test_label_limit_one_past,
					test_field_limit, test_field_limit_one_past,
					test_key_length_limit, test_key_length_one_past};
	add_case(s, "limits", limits, N(limits));

	const TTest *const values[] = {test_plant_line, test_every_type_in_one_line,
					test_duplicate_field_keys_kept, test_nul_before_fields_skipped};
	add_case(s, "values", values, N(values));

	const TTest *const lines[] = {
		test_empty_buffer,	       test_blank_lines_skipped,
		test_no_final_newline,	       test_string_newline_spans_lines,
		test_escaped_newline_continues_line, test_escaped_newline_at_end_dropped,
		test_nul_at_line_start_skipped, test_nul_in_measurement_kept,
		test_length_bounds_the_buffer, test_every_prefix};
	add_case(s, "lines", lines, N(lines));

	const TTest *const comments[] = {test_comment_lines_skipped, test_comment_only,
					  test_comment_quote_swallows_next_line};
	add_case(s, "comments", comments, N(comments));

	const TTest *const crlf[] = {test_crlf_lines, test_crlf_blank_and_comment,
				      test_lone_cr_is_a_byte};
	add_case(s, "crlf", crlf, N(crlf));

	const TTest *const errors[] = {test_batch_good_and_bad, test_error_on_later_physical_line,
					test_error_column_after_leading_whitespace,
					test_unterminated_string_swallows_rest,
					test_error_lines_counted_across_crlf, test_error_message_fits};
	add_case(s, "errors_and_recovery", errors, N(errors));

	const TTest *const unescape[] = {test_unescape_plain_copy, test_unescape_short_buffer,
					  test_unescape_kinds, test_unescape_trailing_backslash,
					  test_views_point_into_buffer};
	add_case(s, "unescape_and_views", unescape, N(unescape));

	tc = tcase_create("round_trip");
	tcase_add_loop_test(tc, test_random_round_trip, 0, 4);
	suite_add_tcase(s, tc);

	tc = tcase_create("split");
	tcase_add_test(tc, test_split_reads_the_same);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(lineproto_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* check_jsonw.c: unit tests for lib/jsonw.h (streaming JSON writer, shortest round-trip doubles) and lib/csvw.h.
 * Exact-text cases, reference models for escaping and CSV quoting, seeded property tests, and jansson as the judge of validity. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/csvw.h"
#include "lib/jsonw.h"
#include "lib/strbuf.h"
#include "lib/utf8.h"

static uint64_t seed = 0x6a736f6e77u; /* "jsonw"; HS_SEED overrides */
static uint64_t rng_state;

static uint64_t rng_next(void)
{
	/* xorshift64: tiny, seeded, the same sequence everywhere. */
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void rng_seed(uint64_t salt)
{
	rng_state = (seed ^ salt) ? (seed ^ salt) : 1;
}

/* A writer and its buffer, set up fresh for each use. */
struct doc {
	struct strbuf sb;
	struct jsonw w;
};

static void doc_init(struct doc *d)
{
	struct strbuf empty = STRBUF_INIT;

	d->sb = empty;
	jsonw_init(&d->w, &d->sb);
}

/* The text so far; "" before the first append. */
static const char *doc_text(const struct doc *d)
{
	return d->sb.data ? d->sb.data : "";
}

/* Parse the whole buffer with jansson; fails the test with its message. */
static json_t *doc_load(const struct doc *d)
{
	json_error_t err;
	json_t *root = json_loadb(doc_text(d), d->sb.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);

	ck_assert_msg(root != NULL, "jansson rejects the output: %s at %d: %.200s", err.text,
		      err.position, doc_text(d));
	return root;
}

/* jsonw_strn of len bytes as a document on its own, into out (NUL-ended). */
static size_t render_string(const char *s, size_t len, char *out, size_t cap)
{
	struct doc d;
	size_t n;

	doc_init(&d);
	jsonw_strn(&d.w, s, len);
	ck_assert(jsonw_complete(&d.w));
	n = d.sb.len;
	ck_assert_uint_lt(n, cap);
	memcpy(out, d.sb.data, n + 1);
	strbuf_free(&d.sb);
	return n;
}

/* ---- structure ---------------------------------------------------------- */

START_TEST(test_nesting_and_commas)
{
	struct doc d;

	doc_init(&d);
	ck_assert(!jsonw_complete(&d.w));
	jsonw_obj_begin(&d.w);
	jsonw_key(&d.w, "a");
	jsonw_arr_begin(&d.w);
	jsonw_int(&d.w, 1);
	jsonw_int(&d.w, 2);
	jsonw_obj_begin(&d.w);
	jsonw_key(&d.w, "b");
	jsonw_null(&d.w);
	jsonw_obj_end(&d.w);
	jsonw_arr_begin(&d.w);
	jsonw_arr_end(&d.w);
	jsonw_arr_end(&d.w);
	jsonw_key(&d.w, "c");
	jsonw_obj_begin(&d.w);
	jsonw_obj_end(&d.w);
	jsonw_key(&d.w, "d");
	jsonw_bool(&d.w, true);
	jsonw_key(&d.w, "e");
	jsonw_bool(&d.w, false);
	jsonw_key(&d.w, "f");
	jsonw_str(&d.w, NULL);
	jsonw_key(&d.w, "g");
	jsonw_raw(&d.w, "{\"pre\":[1,2]}", 13);
	ck_assert(!jsonw_complete(&d.w));
	jsonw_obj_end(&d.w);
	ck_assert(!jsonw_failed(&d.w));
	ck_assert(jsonw_complete(&d.w));
	ck_assert_str_eq(doc_text(&d), "{\"a\":[1,2,{\"b\":null},[]],\"c\":{},\"d\":true,"
				       "\"e\":false,\"f\":null,\"g\":{\"pre\":[1,2]}}");
	strbuf_free(&d.sb);
}
END_TEST

START_TEST(test_scalars_top_level)
{
	static const struct {
		int64_t v;
		const char *want;
	} ints[] = {
		{0, "0"}, {-1, "-1"}, {42, "42"}, {INT64_MAX, "9223372036854775807"},
		{INT64_MIN, "-9223372036854775808"},
	};
	struct doc d;

	for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
		doc_init(&d);
		jsonw_int(&d.w, ints[i].v);
		ck_assert(jsonw_complete(&d.w));
		ck_assert_str_eq(doc_text(&d), ints[i].want);
		strbuf_free(&d.sb);
	}
	doc_init(&d);
	jsonw_arr_begin(&d.w);
	jsonw_uint(&d.w, 0);
	jsonw_uint(&d.w, UINT64_MAX);
	jsonw_f64(&d.w, 12.5);
	jsonw_str(&d.w, "x");
	jsonw_arr_end(&d.w);
	ck_assert_str_eq(doc_text(&d), "[0,18446744073709551615,12.5,\"x\"]");
	strbuf_free(&d.sb);
}
END_TEST

START_TEST(test_nonfinite_is_null)
{
	struct doc d;
	json_t *root;

	doc_init(&d);
	jsonw_obj_begin(&d.w);
	jsonw_key(&d.w, "v");
	jsonw_arr_begin(&d.w);
	jsonw_f64(&d.w, NAN);
	jsonw_f64(&d.w, -NAN);
	jsonw_f64(&d.w, INFINITY);
	jsonw_f64(&d.w, -INFINITY);
	jsonw_f64(&d.w, 1.5);
	jsonw_arr_end(&d.w);
	jsonw_obj_end(&d.w);
	ck_assert(jsonw_complete(&d.w));
	ck_assert_str_eq(doc_text(&d), "{\"v\":[null,null,null,null,1.5]}");
	root = doc_load(&d);
	json_decref(root);
	strbuf_free(&d.sb);
}
END_TEST

/* Each misuse writes nothing, sets failed, and drops every later call. */
struct misuse {
	const char *what;
	void (*run)(struct jsonw *w);
	const char *want; /* the text at the point of misuse */
};

static void mis_value_no_key(struct jsonw *w)
{
	jsonw_obj_begin(w);
	jsonw_int(w, 1);
}

static void mis_key_in_array(struct jsonw *w)
{
	jsonw_arr_begin(w);
	jsonw_key(w, "k");
}

static void mis_key_at_top(struct jsonw *w)
{
	jsonw_key(w, "k");
}

static void mis_two_keys(struct jsonw *w)
{
	jsonw_obj_begin(w);
	jsonw_key(w, "a");
	jsonw_key(w, "b");
}

static void mis_key_then_end(struct jsonw *w)
{
	jsonw_obj_begin(w);
	jsonw_key(w, "a");
	jsonw_obj_end(w);
}

static void mis_wrong_end(struct jsonw *w)
{
	jsonw_obj_begin(w);
	jsonw_arr_end(w);
}

static void mis_wrong_end_arr(struct jsonw *w)
{
	jsonw_arr_begin(w);
	jsonw_obj_end(w);
}

static void mis_end_at_top(struct jsonw *w)
{
	jsonw_arr_end(w);
}

static void mis_second_value(struct jsonw *w)
{
	jsonw_arr_begin(w);
	jsonw_arr_end(w);
	jsonw_int(w, 7);
}

static void mis_empty_raw(struct jsonw *w)
{
	jsonw_arr_begin(w);
	jsonw_raw(w, "", 0);
}

START_TEST(test_misuse)
{
	static const struct misuse cases[] = {
		{"value with no key", mis_value_no_key, "{"},
		{"key in an array", mis_key_in_array, "["},
		{"key at the top", mis_key_at_top, ""},
		{"two keys", mis_two_keys, "{\"a\":"},
		{"key then end", mis_key_then_end, "{\"a\":"},
		{"] closes {", mis_wrong_end, "{"},
		{"} closes [", mis_wrong_end_arr, "["},
		{"end with nothing open", mis_end_at_top, ""},
		{"second top-level value", mis_second_value, "[]"},
		{"empty raw", mis_empty_raw, "["},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct doc d;

		doc_init(&d);
		cases[i].run(&d.w);
		ck_assert_msg(jsonw_failed(&d.w), "%s: not reported", cases[i].what);
		ck_assert_msg(!jsonw_complete(&d.w), "%s: complete", cases[i].what);
		ck_assert_msg(strcmp(doc_text(&d), cases[i].want) == 0, "%s: wrote \"%s\", want \"%s\"",
			      cases[i].what, doc_text(&d), cases[i].want);
		/* Sticky: whatever follows is dropped, and failed stays set. */
		jsonw_arr_end(&d.w);
		jsonw_obj_end(&d.w);
		jsonw_int(&d.w, 1);
		jsonw_str(&d.w, "x");
		jsonw_obj_begin(&d.w);
		jsonw_key(&d.w, "k");
		jsonw_f64(&d.w, 1.0);
		jsonw_raw(&d.w, "1", 1);
		ck_assert_msg(strcmp(doc_text(&d), cases[i].want) == 0, "%s: wrote after misuse: \"%s\"",
			      cases[i].what, doc_text(&d));
		ck_assert(jsonw_failed(&d.w));
		strbuf_free(&d.sb);
	}
}
END_TEST

START_TEST(test_depth_limit)
{
	struct doc d;
	json_t *root;
	size_t len;

	/* 32 levels are fine and load. */
	doc_init(&d);
	for (int i = 0; i < JSONW_MAX_DEPTH; i++) {
		if (i % 2) {
			jsonw_obj_begin(&d.w);
			jsonw_key(&d.w, "k");
		} else {
			jsonw_arr_begin(&d.w);
		}
	}
	jsonw_int(&d.w, 1);
	for (int i = JSONW_MAX_DEPTH - 1; i >= 0; i--) {
		if (i % 2)
			jsonw_obj_end(&d.w);
		else
			jsonw_arr_end(&d.w);
	}
	ck_assert(jsonw_complete(&d.w));
	root = doc_load(&d);
	json_decref(root);
	strbuf_free(&d.sb);

	/* The 33rd begin fails without writing; so does everything after. */
	doc_init(&d);
	for (int i = 0; i < JSONW_MAX_DEPTH; i++)
		jsonw_arr_begin(&d.w);
	ck_assert(!jsonw_failed(&d.w));
	len = d.sb.len;
	ck_assert_uint_eq(len, JSONW_MAX_DEPTH);
	jsonw_arr_begin(&d.w);
	ck_assert(jsonw_failed(&d.w));
	ck_assert_uint_eq(d.sb.len, len);
	for (int i = 0; i < 1000; i++) {
		jsonw_obj_begin(&d.w);
		jsonw_arr_begin(&d.w);
	}
	for (int i = 0; i < 1000; i++)
		jsonw_arr_end(&d.w);
	ck_assert(jsonw_failed(&d.w));
	ck_assert(!jsonw_complete(&d.w));
	ck_assert_uint_eq(d.sb.len, len);
	strbuf_free(&d.sb);
}
END_TEST

START_TEST(test_strbuf_failure)
{
	struct doc d;

	doc_init(&d);
	jsonw_arr_begin(&d.w);
	d.sb.failed = true; /* as after a failed realloc */
	jsonw_int(&d.w, 1);
	jsonw_arr_end(&d.w);
	ck_assert(jsonw_failed(&d.w));
	ck_assert(!jsonw_complete(&d.w));
	strbuf_free(&d.sb);
}
END_TEST

/* ---- strings ------------------------------------------------------------ */

START_TEST(test_escape_controls)
{
	static const char *const want[0x20] = {
		"\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005", "\\u0006", "\\u0007",
		"\\b",     "\\t",     "\\n",     "\\u000b", "\\f",     "\\r",     "\\u000e", "\\u000f",
		"\\u0010", "\\u0011", "\\u0012", "\\u0013", "\\u0014", "\\u0015", "\\u0016", "\\u0017",
		"\\u0018", "\\u0019", "\\u001a", "\\u001b", "\\u001c", "\\u001d", "\\u001e", "\\u001f",
	};
	char in[3], out[32], expect[32];

	for (unsigned c = 0; c < 0x20; c++) {
		in[0] = 'a';
		in[1] = (char)c;
		in[2] = 'z';
		render_string(in, 3, out, sizeof out);
		snprintf(expect, sizeof expect, "\"a%sz\"", want[c]);
		ck_assert_msg(strcmp(out, expect) == 0, "byte 0x%02x: %s, want %s", c, out, expect);
	}
	render_string("\"\\/\x7f", 4, out, sizeof out);
	ck_assert_str_eq(out, "\"\\\"\\\\/\x7f\"");
	/* Every other ASCII byte passes unchanged. */
	for (unsigned c = 0x20; c < 0x80; c++) {
		if (c == '"' || c == '\\')
			continue;
		in[0] = (char)c;
		render_string(in, 1, out, sizeof out);
		ck_assert_msg(out[1] == (char)c && out[2] == '"' && out[3] == '\0', "byte 0x%02x changed",
			      c);
	}
}
END_TEST

START_TEST(test_escape_keys_and_nul)
{
	struct doc d;
	json_t *root, *v;

	doc_init(&d);
	jsonw_obj_begin(&d.w);
	jsonw_keyn(&d.w, "k\"\n\0x", 5);
	jsonw_strn(&d.w, "a\0b", 3);
	jsonw_key(&d.w, "\xC3\xA9t\xC3\xA9");
	jsonw_str(&d.w, "\xE2\x82\xAC \xF0\x9F\x98\x80");
	jsonw_obj_end(&d.w);
	ck_assert_str_eq(doc_text(&d), "{\"k\\\"\\n\\u0000x\":\"a\\u0000b\","
				       "\"\xC3\xA9t\xC3\xA9\":\"\xE2\x82\xAC \xF0\x9F\x98\x80\"}");
	/* jansson refuses NUL in keys (not JSON's rule), so load it without. */
	strbuf_free(&d.sb);
	doc_init(&d);
	jsonw_obj_begin(&d.w);
	jsonw_keyn(&d.w, "k\"\n\1x", 5);
	jsonw_strn(&d.w, "a\0b", 3);
	jsonw_key(&d.w, "\xC3\xA9t\xC3\xA9");
	jsonw_str(&d.w, "\xE2\x82\xAC \xF0\x9F\x98\x80");
	jsonw_obj_end(&d.w);
	root = doc_load(&d);
	v = json_object_get(root, "k\"\n\1x");
	ck_assert_uint_eq(json_string_length(v), 3);
	ck_assert_mem_eq(json_string_value(v), "a\0b", 3);
	v = json_object_get(root, "\xC3\xA9t\xC3\xA9");
	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(json_string_value(v), "\xE2\x82\xAC \xF0\x9F\x98\x80");
	json_decref(root);
	strbuf_free(&d.sb);
}
END_TEST

#define FFFD "\xEF\xBF\xBD"

START_TEST(test_invalid_utf8)
{
	static const struct {
		const char *in;
		size_t len;
		const char *want; /* inside the quotes */
		const char *what;
	} cases[] = {
#define C(lit, want, what) {lit, sizeof(lit) - 1, want, what}
		C("\xFF", FFFD, "FF"),
		C("\x80\xBF", FFFD FFFD, "two lone continuations"),
		C("\xC0\x80", FFFD FFFD, "overlong C0 80: C0 never starts one"),
		C("\xC1\xBF", FFFD FFFD, "overlong C1 BF"),
		C("\xE0\x80\x80", FFFD FFFD FFFD, "overlong E0 80 80"),
		C("\xE0\x9F\xBF", FFFD FFFD FFFD, "overlong E0 9F BF"),
		C("\xED\xA0\x80", FFFD FFFD FFFD, "surrogate ED A0 80"),
		C("\xF0\x8F\xBF\xBF", FFFD FFFD FFFD FFFD, "overlong F0 8F"),
		C("\xF4\x90\x80\x80", FFFD FFFD FFFD FFFD, "above U+10FFFF"),
		C("\xF5\x80\x80\x80", FFFD FFFD FFFD FFFD, "lead F5"),
		C("\xF8\x88\x80\x80\x80", FFFD FFFD FFFD FFFD FFFD, "5-byte form"),
		C("\xC3", FFFD, "truncated 2-byte at end"),
		C("\xE2\x82", FFFD, "truncated 3-byte at end: one subpart"),
		C("\xF0\x9F\x98", FFFD, "truncated 4-byte at end: one subpart"),
		C("\xE2\x82(", FFFD "(", "truncated 3-byte before ASCII"),
		C("\xF0\x9F\x98(", FFFD "(", "truncated 4-byte before ASCII"),
		C("\xE1\x80\xC2", FFFD FFFD, "E1 80 then a lone lead"),
		C("\xC3\xC3\xA9", FFFD "\xC3\xA9", "lead then a valid pair"),
		C("\xED\x9F\xBF", "\xED\x9F\xBF", "U+D7FF is valid"),
		C("\xF4\x8F\xBF\xBF", "\xF4\x8F\xBF\xBF", "U+10FFFF is valid"),
		C("\"\xFF\n", "\\\"" FFFD "\\n", "escape, FFFD, escape"),
		/* Unicode 15, table 3-8. */
		C("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64",
		  "a" FFFD FFFD FFFD "b" FFFD "c" FFFD FFFD "d", "Unicode table 3-8"),
#undef C
	};
	char out[128], want[128];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t n = render_string(cases[i].in, cases[i].len, out, sizeof out);
		snprintf(want, sizeof want, "\"%s\"", cases[i].want);
		ck_assert_msg(strcmp(out, want) == 0, "%s: got %s", cases[i].what, out);
		ck_assert_msg(utf8_valid(out, n), "%s: output is not UTF-8", cases[i].what);
	}
}
END_TEST

/* Reference model for strings, kept apart from the code: a decoder written
 * from bit patterns, and "maximal subpart" read literally as the longest
 * prefix that some continuation bytes would complete. */
static size_t ref_sequence_len(const unsigned char *s, size_t len)
{
	static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
	uint32_t cp;
	size_t n;

	if (len == 0)
		return 0;
	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xE0) == 0xC0) {
		n = 2;
		cp = s[0] & 0x1Fu;
	} else if ((s[0] & 0xF0) == 0xE0) {
		n = 3;
		cp = s[0] & 0x0Fu;
	} else if ((s[0] & 0xF8) == 0xF0) {
		n = 4;
		cp = s[0] & 0x07u;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3Fu);
	}
	if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

static bool ref_completes(const unsigned char *s, size_t have, size_t need)
{
	static const unsigned char fill[] = {0x80, 0xBF};
	unsigned char seq[4];

	for (size_t f = 0; f < sizeof fill; f++) {
		memcpy(seq, s, have);
		memset(seq + have, fill[f], need - have);
		if (ref_sequence_len(seq, need) == need)
			return true;
	}
	return false;
}

static size_t ref_subpart(const unsigned char *s, size_t len)
{
	size_t need = (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 :
		      (s[0] & 0xF8) == 0xF0 ? 4 : 1;
	size_t best = 1;

	for (size_t have = 2; have < need && have <= len; have++) {
		if (!ref_completes(s, have, need))
			break;
		best = have;
	}
	return best;
}

static size_t ref_render(const char *src, size_t len, char *dst)
{
	const unsigned char *p = (const unsigned char *)src;
	size_t in = 0, out = 0;

	dst[out++] = '"';
	while (in < len) {
		unsigned char c = p[in];
		size_t n = ref_sequence_len(p + in, len - in);

		if (c == '"' || c == '\\') {
			dst[out++] = '\\';
			dst[out++] = (char)c;
			in++;
		} else if (c < 0x20) {
			const char *s = c == '\b' ? "\\b" : c == '\f' ? "\\f" : c == '\n' ? "\\n" :
					c == '\r' ? "\\r" : c == '\t' ? "\\t" : NULL;
			if (s)
				out += (size_t)sprintf(dst + out, "%s", s);
			else
				out += (size_t)sprintf(dst + out, "\\u%04x", c);
			in++;
		} else if (n > 0) {
			memcpy(dst + out, p + in, n);
			out += n;
			in += n;
		} else {
			memcpy(dst + out, FFFD, 3);
			out += 3;
			in += ref_subpart(p + in, len - in);
		}
	}
	dst[out++] = '"';
	dst[out] = '\0';
	return out;
}

START_TEST(test_string_fuzz)
{
	enum { ROUNDS = 20000, IN_MAX = 24 };
	static const unsigned char pick[] = {'a', 0x00, 0x1F, '"', '\\', 0x7F, 0x80, 0xBF, 0xC0,
					     0xC2, 0xDF, 0xE0, 0xE1, 0xED, 0xEF, 0xF0, 0xF4, 0xF5,
					     0xFF, 0xA0, 0x9F, 0x90, 0x8F};
	char src[IN_MAX], out[IN_MAX * 6 + 3], want[IN_MAX * 6 + 3];

	rng_seed(1);
	for (int round = 0; round < ROUNDS; round++) {
		size_t len = rng_next() % (IN_MAX + 1), n, wn;
		json_error_t err;
		json_t *j;

		for (size_t i = 0; i < len; i++) {
			uint64_t r = rng_next();
			src[i] = (char)((r & 1) ? pick[(r >> 1) % sizeof pick] : (r >> 8));
		}
		n = render_string(src, len, out, sizeof out);
		wn = ref_render(src, len, want);
		ck_assert_msg(n == wn && memcmp(out, want, n) == 0,
			      "round %d (seed %" PRIu64 "): got %s, want %s", round, seed, out, want);
		ck_assert(utf8_valid(out, n));
		j = json_loadb(out, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
		ck_assert_msg(j != NULL, "round %d: jansson: %s", round, err.text);
		json_decref(j);
	}
}
END_TEST

/* ---- doubles ------------------------------------------------------------ */

static const char *fmt(double v, char *buf)
{
	size_t n = jsonw_format_double(v, buf);

	ck_assert_uint_eq(n, strlen(buf));
	return buf;
}

START_TEST(test_double_expected)
{
	static const struct {
		double v;
		const char *want;
	} cases[] = {
		{0.1, "0.1"},
		{1013.25, "1013.25"},
		{12.5, "12.5"},
		{1e21, "1e21"},
		{5e-324, "5e-324"},
		{1.7976931348623157e308, "1.7976931348623157e308"},
		{-1.7976931348623157e308, "-1.7976931348623157e308"},
		{2.2250738585072014e-308, "2.2250738585072014e-308"},
		{-2.5, "-2.5"},
		{3.0, "3"},
		{0.0, "0"},
		{-0.0, "-0"},
		{0.30000000000000004, "0.30000000000000004"},
		{1.0 / 3, "0.3333333333333333"},
		{2.0 / 3, "0.6666666666666666"},
		{100.0, "100"},
		{123456789012345.0, "123456789012345"},
		{9007199254740991.0, "9007199254740991"},
		{9007199254740992.0, "9007199254740992"},
		{9007199254740994.0, "9007199254740994"},
		{1e15, "1000000000000000"},
		{1e16, "1e16"},
		{1e20, "1e20"},
		{1.5e300, "1.5e300"},
		{4503599627370495.5, "4503599627370495.5"},
		{0.000001, "0.000001"},
		{0.0000015, "0.0000015"},
		{1e-7, "1e-7"},
		{-1.25e-10, "-1.25e-10"},
		{1e-22, "1e-22"},
		{1e-23, "1e-23"},
		{123.456, "123.456"},
		{-273.15, "-273.15"},
		{1.1, "1.1"},
		{299792458.0, "299792458"},
		{6.02214076e23, "6.02214076e23"},
		{2.2250738585072009e-308, "2.225073858507201e-308"},
	};
	char buf[JSONW_DOUBLE_BUF];

	ck_assert_str_eq(fmt(0.1 + 0.2, buf), "0.30000000000000004");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		ck_assert_msg(strcmp(fmt(cases[i].v, buf), cases[i].want) == 0, "%.17g: got %s, want %s",
			      cases[i].v, buf, cases[i].want);
	errno = 0;
	ck_assert_str_eq(fmt(DBL_TRUE_MIN, buf), "5e-324"); /* strtod() says ERANGE inside */
	ck_assert_int_eq(errno, 0);
	ck_assert_str_eq(fmt(NAN, buf), "nan");
	ck_assert_str_eq(fmt(INFINITY, buf), "inf");
	ck_assert_str_eq(fmt(-INFINITY, buf), "-inf");
}
END_TEST

/* JSON's number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][-+]?[0-9]+)? */
static bool json_number_ok(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9')
		while (*s >= '0' && *s <= '9')
			s++;
	else
		return false;
	if (*s == '.') {
		if (!(*++s >= '0' && *s <= '9'))
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!(*s >= '0' && *s <= '9'))
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

/* Significant digits of a decimal text: leading and trailing zeros of the
 * mantissa do not count. */
static int sig_digits(const char *s)
{
	int first = -1, last = -1, pos = 0;

	for (; *s && *s != 'e' && *s != 'E'; s++) {
		if (*s < '0' || *s > '9')
			continue;
		if (*s != '0') {
			if (first < 0)
				first = pos;
			last = pos;
		}
		pos++;
	}
	return first < 0 ? 1 : last - first + 1;
}

/* The correctly rounded prec-digit decimal of v: does it read back as v? */
static bool rounded_round_trips(double v, int prec)
{
	char text[48];

	snprintf(text, sizeof text, "%.*e", prec - 1, v);
	return strtod(text, NULL) == v;
}

/* One value through every property: exact round trip, JSON grammar, and
 * the documented shortness (no correctly rounded decimal one digit shorter
 * reads back as v). claimed_digits > 0: v came from a decimal with that
 * many significant digits, so the output may have no more (normals). */
static void check_double(double v, int claimed_digits, long round)
{
	char buf[JSONW_DOUBLE_BUF];
	size_t n = jsonw_format_double(v, buf);
	double back = strtod(buf, NULL);
	int digits = sig_digits(buf);

	if (memcmp(&back, &v, sizeof v) != 0)
		ck_abort_msg("round %ld (seed %" PRIu64 "): %a printed as %s reads back as %a", round,
			     seed, v, buf, back);
	if (n != strlen(buf) || n >= JSONW_DOUBLE_BUF || !json_number_ok(buf))
		ck_abort_msg("round %ld: %a printed as %s (length %zu): not a JSON number", round, v,
			     buf, n);
	if (v != 0 && digits > 1 && rounded_round_trips(v, digits - 1))
		ck_abort_msg("round %ld (seed %" PRIu64 "): %.17g printed as %s, but %d digits do", round,
			     seed, v, buf, digits - 1);
	if (claimed_digits > 0 && fabs(v) >= DBL_MIN && digits > claimed_digits)
		ck_abort_msg("round %ld (seed %" PRIu64 "): %.17g came from %d digits, printed as %s",
			     round, seed, v, claimed_digits, buf);
}

START_TEST(test_double_round_trip_bits)
{
	enum { ROUNDS = 100000 };
	long tried = 0;

	rng_seed(2);
	for (long round = 0; tried < ROUNDS; round++) {
		uint64_t bits = rng_next();
		double v;

		/* A quarter of the draws near zero exponent or subnormal, so the
		 * fast path and the subnormal search are hit as much as the rest. */
		if (round % 4 == 1)
			bits &= 0x800FFFFFFFFFFFFFu;
		else if (round % 4 == 2)
			bits = (bits & 0x800FFFFFFFFFFFFFu) | ((uint64_t)(1023 + (int)(bits >> 52 & 63) - 32) << 52);
		memcpy(&v, &bits, sizeof v);
		if (isnan(v) || isinf(v))
			continue;
		check_double(v, 0, round);
		tried++;
	}
}
END_TEST

START_TEST(test_double_round_trip_decimal)
{
	enum { ROUNDS = 100000 };
	char text[64];

	rng_seed(3);
	for (long round = 0; round < ROUNDS; round++) {
		uint64_t r = rng_next();
		int ndig = 1 + (int)(r % 15), exp10;
		uint64_t mant = 0;
		double v;

		for (int i = 0; i < ndig; i++)
			mant = mant * 10 + (rng_next() % 10);
		/* Mostly the exponents of process values, sometimes any at all. */
		r = rng_next();
		exp10 = (r & 7) == 0 ? (int)(r >> 8 & 1023) - 640 : (int)(r >> 8 & 31) - 20;
		snprintf(text, sizeof text, "%s%" PRIu64 "e%d", (r >> 20 & 1) ? "-" : "", mant, exp10);
		v = strtod(text, NULL);
		if (isinf(v))
			continue;
		check_double(v, sig_digits(text), round);
	}
}
END_TEST

/* Every power of two and of ten in range, and their neighbours: where the
 * rounding interval is lopsided and where the layout switches notation. */
START_TEST(test_double_edges)
{
	long round = 0;

	for (int e = -1074; e <= 1023; e++) {
		double p = ldexp(1.0, e);
		check_double(p, 0, round++);
		check_double(nextafter(p, 0), 0, round++);
		check_double(nextafter(p, INFINITY), 0, round++);
	}
	for (int e = -323; e <= 308; e++) {
		char text[16];
		double p;

		snprintf(text, sizeof text, "1e%d", e);
		p = strtod(text, NULL);
		check_double(p, 1, round++);
		check_double(-p, 1, round++);
		check_double(nextafter(p, 0), 0, round++);
		check_double(nextafter(p, INFINITY), 0, round++);
	}
	check_double(DBL_MAX, 0, round++);
	check_double(DBL_MIN, 0, round++);
	check_double(DBL_TRUE_MIN, 0, round++);
}
END_TEST

START_TEST(test_double_through_jansson)
{
	enum { COUNT = 5000 };
	double vals[COUNT];
	struct doc d;
	json_t *root;

	rng_seed(4);
	for (size_t i = 0; i < COUNT; i++) {
		uint64_t bits = rng_next();
		if (i % 2)
			bits = (bits & 0x800FFFFFFFFFFFFFu) | ((uint64_t)(1023 + (int)(bits >> 52 & 127) - 64) << 52);
		memcpy(&vals[i], &bits, sizeof vals[i]);
		if (isnan(vals[i]) || isinf(vals[i]))
			vals[i] = (double)i; /* small integers, printed as such */
	}
	vals[0] = 1e20;     /* integral, but too big for an int64 literal */
	vals[1] = 0x1p63;
	vals[2] = -0x1p64;
	vals[3] = -0.0;
	doc_init(&d);
	jsonw_arr_begin(&d.w);
	for (size_t i = 0; i < COUNT; i++)
		jsonw_f64(&d.w, vals[i]);
	jsonw_arr_end(&d.w);
	ck_assert(jsonw_complete(&d.w));
	root = doc_load(&d);
	ck_assert_uint_eq(json_array_size(root), COUNT);
	for (size_t i = 0; i < COUNT; i++) {
		double back = json_number_value(json_array_get(root, i));
		ck_assert_msg(back == vals[i], "element %zu: %.17g loaded as %.17g", i, vals[i], back);
	}
	json_decref(root);
	strbuf_free(&d.sb);
}
END_TEST

/* ---- whole documents ---------------------------------------------------- */

START_TEST(test_document_loads)
{
	static const char raw[] = "{\"spliced\":[true,{}]}";
	struct doc d;
	json_t *root, *v;

	doc_init(&d);
	jsonw_obj_begin(&d.w);
	jsonw_key(&d.w, "tag");
	jsonw_str(&d.w, "plant/line 1/\"pump\"\t\xC2\xB0" "C");
	jsonw_key(&d.w, "bad");
	jsonw_strn(&d.w, "x\xFF\xE2\x82y", 5);
	jsonw_key(&d.w, "ints");
	jsonw_arr_begin(&d.w);
	jsonw_int(&d.w, INT64_MIN);
	jsonw_int(&d.w, INT64_MAX);
	jsonw_uint(&d.w, (uint64_t)INT64_MAX);
	jsonw_arr_end(&d.w);
	jsonw_key(&d.w, "reals");
	jsonw_arr_begin(&d.w);
	jsonw_f64(&d.w, 0.1);
	jsonw_f64(&d.w, 1013.25);
	jsonw_f64(&d.w, 1e21);
	jsonw_f64(&d.w, 5e-324);
	jsonw_f64(&d.w, NAN);
	jsonw_arr_end(&d.w);
	jsonw_key(&d.w, "raw");
	jsonw_raw(&d.w, raw, sizeof raw - 1);
	jsonw_key(&d.w, "ok");
	jsonw_bool(&d.w, true);
	jsonw_obj_end(&d.w);
	ck_assert(jsonw_complete(&d.w));

	root = doc_load(&d);
	ck_assert_str_eq(json_string_value(json_object_get(root, "tag")),
			 "plant/line 1/\"pump\"\t\xC2\xB0" "C");
	ck_assert_str_eq(json_string_value(json_object_get(root, "bad")), "x" FFFD FFFD "y");
	v = json_object_get(root, "ints");
	ck_assert_int_eq(json_integer_value(json_array_get(v, 0)), INT64_MIN);
	ck_assert_int_eq(json_integer_value(json_array_get(v, 1)), INT64_MAX);
	ck_assert_int_eq(json_integer_value(json_array_get(v, 2)), INT64_MAX);
	v = json_object_get(root, "reals");
	ck_assert_double_eq(json_real_value(json_array_get(v, 0)), 0.1);
	ck_assert_double_eq(json_real_value(json_array_get(v, 1)), 1013.25);
	ck_assert_double_eq(json_real_value(json_array_get(v, 2)), 1e21);
	ck_assert_double_eq(json_real_value(json_array_get(v, 3)), 5e-324);
	ck_assert(json_is_null(json_array_get(v, 4)));
	ck_assert(json_is_true(json_array_get(json_object_get(json_object_get(root, "raw"), "spliced"), 0)));
	ck_assert(json_is_true(json_object_get(root, "ok")));
	json_decref(root);
	strbuf_free(&d.sb);
}
END_TEST

/* A random tree of every kind of value, with hostile strings for keys and
 * values; jansson must load each one. */
static void random_value(struct jsonw *w, int depth)
{
	char s[12];
	uint64_t r = rng_next();
	unsigned kind = (unsigned)(r % (depth < JSONW_MAX_DEPTH ? 9 : 7));

	switch (kind) {
	case 0: jsonw_null(w); break;
	case 1: jsonw_bool(w, r >> 8 & 1); break;
	case 2: jsonw_int(w, (int64_t)rng_next()); break;
	case 3: jsonw_uint(w, rng_next() >> 1); break;
	case 4: {
		uint64_t bits = rng_next();
		double v;
		memcpy(&v, &bits, sizeof v);
		jsonw_f64(w, v);
		break;
	}
	case 5:
	case 6:
		for (size_t i = 0; i < sizeof s; i++)
			s[i] = (char)rng_next();
		jsonw_strn(w, s, (size_t)(r >> 8) % (sizeof s + 1));
		break;
	case 7:
	case 8: {
		unsigned count = (unsigned)(r >> 8) % 4;
		if (kind == 7)
			jsonw_arr_begin(w);
		else
			jsonw_obj_begin(w);
		for (unsigned i = 0; i < count; i++) {
			if (kind == 8) {
				/* Keys unique by index: jansson keeps only the last duplicate. */
				char key[16];
				snprintf(key, sizeof key, "%u\xFF\n", i);
				jsonw_key(w, key);
			}
			random_value(w, depth + 1);
		}
		if (kind == 7)
			jsonw_arr_end(w);
		else
			jsonw_obj_end(w);
		break;
	}
	}
}

START_TEST(test_random_documents)
{
	rng_seed(5);
	for (int round = 0; round < 2000; round++) {
		struct doc d;
		json_t *root;

		doc_init(&d);
		jsonw_arr_begin(&d.w);
		for (int i = 0; i < 5; i++)
			random_value(&d.w, 1);
		jsonw_arr_end(&d.w);
		ck_assert_msg(jsonw_complete(&d.w), "round %d: incomplete", round);
		ck_assert(utf8_valid(d.sb.data, d.sb.len));
		root = doc_load(&d);
		ck_assert_uint_eq(json_array_size(root), 5);
		json_decref(root);
		strbuf_free(&d.sb);
	}
}
END_TEST

/* ---- csvw --------------------------------------------------------------- */

START_TEST(test_csv_cases)
{
	static const struct {
		const char *in;
		size_t len;
		const char *want;
	} cases[] = {
#define C(lit, want) {lit, sizeof(lit) - 1, want}
		C("abc", "abc"),
		C("", ""),
		C("in side", "in side"),
		C("12.5", "12.5"),
		C("a,b", "\"a,b\""),
		C(",", "\",\""),
		C("say \"hi\"", "\"say \"\"hi\"\"\""),
		C("\"", "\"\"\"\""),
		C("\"\"", "\"\"\"\"\"\""),
		C("line\nbreak", "\"line\nbreak\""),
		C("cr\r", "\"cr\r\""),
		C("\r\n", "\"\r\n\""),
		C(" lead", "\" lead\""),
		C("trail ", "\"trail \""),
		C(" ", "\" \""),
		C("\tx", "\"\tx\""),
		C("x\t", "\"x\t\""),
		C("\xC3\xA9t\xC3\xA9", "\xC3\xA9t\xC3\xA9"),
		C("a;b|c'd", "a;b|c'd"),
#undef C
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct strbuf sb = STRBUF_INIT;

		csvw_field(&sb, cases[i].in, cases[i].len);
		ck_assert_msg(sb.len == strlen(cases[i].want) &&
				      memcmp(sb.data ? sb.data : "", cases[i].want, sb.len) == 0,
			      "field \"%s\": got \"%.*s\", want \"%s\"", cases[i].in, (int)sb.len,
			      sb.data ? sb.data : "", cases[i].want);
		ck_assert(!strbuf_failed(&sb));
		strbuf_free(&sb);
	}
}
END_TEST

START_TEST(test_csv_record)
{
	struct strbuf sb = STRBUF_INIT;

	strbuf_puts(&sb, "time,tag,value\r\n");
	csvw_field(&sb, "2024-01-01T00:00:00Z", 20);
	strbuf_append(&sb, ",", 1);
	csvw_field(&sb, "pump \"A\", line 1", 16);
	strbuf_append(&sb, ",", 1);
	csvw_field(&sb, "a\0b", 3); /* bytes go through as they are */
	strbuf_append(&sb, "\r\n", 2);
	ck_assert_uint_eq(sb.len, 16 + 20 + 1 + 20 + 1 + 3 + 2);
	ck_assert_mem_eq(sb.data, "time,tag,value\r\n2024-01-01T00:00:00Z,\"pump \"\"A\"\", line 1\","
				  "a\0b\r\n", sb.len);
	strbuf_free(&sb);
}
END_TEST

/* Read one RFC 4180 field back (the whole text is one field). */
static size_t csv_unquote(const char *s, size_t len, char *out, bool *ok)
{
	size_t n = 0;

	*ok = true;
	if (len == 0 || s[0] != '"') {
		for (size_t i = 0; i < len; i++)
			if (s[i] == '"' || s[i] == ',' || s[i] == '\r' || s[i] == '\n')
				*ok = false;
		memcpy(out, s, len);
		return len;
	}
	for (size_t i = 1; i < len; i++) {
		if (s[i] != '"') {
			out[n++] = s[i];
		} else if (i + 1 < len && s[i + 1] == '"') {
			out[n++] = '"';
			i++;
		} else {
			*ok = i + 1 == len; /* the closing quote ends the text */
			return n;
		}
	}
	*ok = false; /* no closing quote */
	return n;
}

START_TEST(test_csv_round_trip)
{
	static const char pick[] = {'a', ',', '"', '\r', '\n', ' ', '\t', 'z'};
	char in[16], back[40];

	rng_seed(6);
	for (int round = 0; round < 20000; round++) {
		struct strbuf sb = STRBUF_INIT;
		size_t len = rng_next() % (sizeof in + 1), n;
		bool ok, quoted, needs;

		for (size_t i = 0; i < len; i++)
			in[i] = pick[rng_next() % sizeof pick];
		csvw_field(&sb, in, len);
		n = csv_unquote(sb.data ? sb.data : "", sb.len, back, &ok);
		ck_assert_msg(ok && n == len && memcmp(back, in, len) == 0,
			      "round %d: \"%.*s\" wrote \"%.*s\"", round, (int)len, in, (int)sb.len,
			      sb.data ? sb.data : "");
		/* Quoted exactly when the rule says so. */
		quoted = sb.len > 0 && sb.data[0] == '"';
		needs = len > 0 && (in[0] == ' ' || in[0] == '\t' || in[len - 1] == ' ' ||
				    in[len - 1] == '\t');
		for (size_t i = 0; i < len; i++)
			needs |= in[i] == ',' || in[i] == '"' || in[i] == '\r' || in[i] == '\n';
		ck_assert_msg(quoted == needs, "round %d: quoted %d, should be %d", round, quoted, needs);
		strbuf_free(&sb);
	}
}
END_TEST

static Suite *jsonw_suite(void)
{
	Suite *s = suite_create("jsonw");
	TCase *tc;

	tc = tcase_create("structure");
	tcase_add_test(tc, test_nesting_and_commas);
	tcase_add_test(tc, test_scalars_top_level);
	tcase_add_test(tc, test_nonfinite_is_null);
	tcase_add_test(tc, test_misuse);
	tcase_add_test(tc, test_depth_limit);
	tcase_add_test(tc, test_strbuf_failure);
	suite_add_tcase(s, tc);

	tc = tcase_create("strings");
	tcase_add_test(tc, test_escape_controls);
	tcase_add_test(tc, test_escape_keys_and_nul);
	tcase_add_test(tc, test_invalid_utf8);
	tcase_add_test(tc, test_string_fuzz);
	suite_add_tcase(s, tc);

	tc = tcase_create("doubles");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_double_expected);
	tcase_add_test(tc, test_double_round_trip_bits);
	tcase_add_test(tc, test_double_round_trip_decimal);
	tcase_add_test(tc, test_double_edges);
	tcase_add_test(tc, test_double_through_jansson);
	suite_add_tcase(s, tc);

	tc = tcase_create("documents");
	tcase_add_test(tc, test_document_loads);
	tcase_add_test(tc, test_random_documents);
	suite_add_tcase(s, tc);

	tc = tcase_create("csv");
	tcase_add_test(tc, test_csv_cases);
	tcase_add_test(tc, test_csv_record);
	tcase_add_test(tc, test_csv_round_trip);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	const char *env = getenv("HS_SEED");
	SRunner *sr;
	int failed;

	if (env && *env)
		seed = strtoull(env, NULL, 0);
	printf("check_jsonw: seed %" PRIu64 " (set HS_SEED to repeat)\n", seed);
	fflush(stdout);
	sr = srunner_create(jsonw_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

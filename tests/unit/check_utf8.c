/* check_utf8.c: unit tests for lib/utf8.h (strict RFC 3629 validation and sanitising).
 * Table cases for every boundary, an exhaustive sweep against a reference decoder, and a seeded sanitize fuzz. */
#define _GNU_SOURCE
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/utf8.h"

/* A byte string with its length, since NUL and 0x80.. bytes are the point. */
struct bytes {
	const char *s;
	size_t len;
	const char *what;
};

#define B(lit, what) {lit, sizeof(lit) - 1, what}

/* Reference: the definition (minimal length, at most U+10FFFF, no
 * surrogates), written from bit patterns rather than from the byte-range
 * table the code uses, so the two cannot share a mistake. */
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

/* Encode a code point (no validity checks: the sweep feeds surrogates too). */
static size_t encode(uint32_t cp, unsigned char *out)
{
	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (unsigned char)(0xC0 | (cp >> 6));
		out[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (unsigned char)(0xE0 | (cp >> 12));
		out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (unsigned char)(0xF0 | (cp >> 18));
	out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

/* Reference sanitize: what utf8_sanitize must produce with unlimited room. */
static size_t ref_sanitize(char *dst, const char *src, size_t len)
{
	const unsigned char *p = (const unsigned char *)src;
	size_t in = 0, out = 0;

	while (in < len) {
		size_t n = ref_sequence_len(p + in, len - in);
		if (n == 0) {
			dst[out++] = '?';
			in++;
		} else {
			memcpy(dst + out, p + in, n);
			out += n;
			in += n;
		}
	}
	return out;
}

static uint64_t rng_state;

static uint32_t rng_next(void)
{
	/* xorshift64: tiny, seeded, the same sequence everywhere. */
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 32);
}

/* ---- valid sequences ---------------------------------------------------- */

START_TEST(test_ascii)
{
	const char text[] = "Hello, plant 42! ~\x7f\x01";

	for (unsigned c = 0; c < 0x80; c++) {
		unsigned char b = (unsigned char)c;
		ck_assert_uint_eq(utf8_sequence_len(&b, 1), 1);
	}
	ck_assert(utf8_valid(text, sizeof text - 1));
	ck_assert(utf8_valid("", 0));
}
END_TEST

START_TEST(test_multibyte)
{
	static const struct bytes ok[] = {
		B("\xC3\xA9", "U+00E9 e-acute"),
		B("\xE2\x82\xAC", "U+20AC euro"),
		B("\xF0\x9F\x98\x80", "U+1F600 emoji"),
		B("\xE6\xB8\xA9\xE5\xBA\xA6", "two CJK characters"),
	};
	static const size_t first_len[] = {2, 3, 4, 3};

	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		ck_assert_msg(utf8_valid(ok[i].s, ok[i].len), "%s should be valid", ok[i].what);
		ck_assert_uint_eq(utf8_sequence_len((const unsigned char *)ok[i].s, ok[i].len),
				  first_len[i]);
	}
	ck_assert(utf8_valid("temp \xC2\xB0" "C = 21.5", 13));
}
END_TEST

START_TEST(test_boundaries)
{
	static const struct {
		struct bytes b;
		size_t len;
	} cases[] = {
		{B("\x7F", "U+007F"), 1},
		{B("\xC2\x80", "U+0080"), 2},
		{B("\xDF\xBF", "U+07FF"), 2},
		{B("\xE0\xA0\x80", "U+0800"), 3},
		{B("\xED\x9F\xBF", "U+D7FF"), 3},
		{B("\xEE\x80\x80", "U+E000"), 3},
		{B("\xEF\xBF\xBF", "U+FFFF"), 3},
		{B("\xF0\x90\x80\x80", "U+10000"), 4},
		{B("\xF4\x8F\xBF\xBF", "U+10FFFF"), 4},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct bytes *b = &cases[i].b;
		size_t got = utf8_sequence_len((const unsigned char *)b->s, b->len);
		ck_assert_msg(got == cases[i].len, "%s: length %zu, want %zu", b->what, got,
			      cases[i].len);
		ck_assert_msg(utf8_valid(b->s, b->len), "%s should be valid", b->what);
	}
}
END_TEST

START_TEST(test_nul_is_valid)
{
	const char text[] = "a\0b";

	ck_assert(utf8_valid(text, 3));
	ck_assert_uint_eq(utf8_sequence_len((const unsigned char *)"\0", 1), 1);
}
END_TEST

/* ---- invalid sequences -------------------------------------------------- */

START_TEST(test_invalid)
{
	static const struct bytes bad[] = {
		B("\xC0\x80", "overlong U+0000 (C0 80)"),
		B("\xC1\xBF", "overlong U+007F (C1 BF)"),
		B("\xE0\x80\x80", "overlong U+0000 (E0 80 80)"),
		B("\xE0\x9F\xBF", "overlong U+07FF (E0 9F BF)"),
		B("\xF0\x80\x80\x80", "overlong U+0000 (F0 80 80 80)"),
		B("\xF0\x8F\xBF\xBF", "overlong U+FFFF (F0 8F BF BF)"),
		B("\xED\xA0\x80", "surrogate U+D800"),
		B("\xED\xBF\xBF", "surrogate U+DFFF"),
		B("\xF4\x90\x80\x80", "U+110000"),
		B("\xF5\x80\x80\x80", "lead F5"),
		B("\xF7\xBF\xBF\xBF", "lead F7"),
		B("\xF8\x88\x80\x80\x80", "5-byte form"),
		B("\xFC\x84\x80\x80\x80\x80", "6-byte form"),
		B("\xFE", "FE"),
		B("\xFF", "FF"),
		B("\x80", "lone continuation 80"),
		B("\xBF", "lone continuation BF"),
		B("\xC3", "truncated 2-byte"),
		B("\xE2\x82", "truncated 3-byte"),
		B("\xF0\x9F\x98", "truncated 4-byte"),
		B("\xC3\x28", "2-byte with ASCII continuation"),
		B("\xE2\x28\xA1", "3-byte, bad second byte"),
		B("\xE2\x82\x28", "3-byte, bad third byte"),
		B("\xF0\x9F\x28\x80", "4-byte, bad third byte"),
		B("\xF0\x9F\x98\x28", "4-byte, bad fourth byte"),
		B("\xC3\xC3\xA9", "lead byte as continuation"),
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		size_t got = utf8_sequence_len((const unsigned char *)bad[i].s, bad[i].len);
		ck_assert_msg(got == 0, "%s: sequence length %zu, want 0", bad[i].what, got);
		ck_assert_msg(!utf8_valid(bad[i].s, bad[i].len), "%s accepted", bad[i].what);
	}
}
END_TEST

START_TEST(test_invalid_inside_text)
{
	ck_assert(!utf8_valid("abc\xC3\xA9\x80xyz", 9));
	ck_assert(!utf8_valid("temperature\xED\xA0\x80", 14));
	/* A valid sequence cut by len is invalid, even though the bytes go on. */
	ck_assert(!utf8_valid("ab\xE2\x82\xAC", 4));
	ck_assert(utf8_valid("ab\xE2\x82\xAC", 5));
	/* len 0 accepts whatever follows. */
	ck_assert(utf8_valid("\xFF", 0));
}
END_TEST

/* Every scalar value, every surrogate and every 1..3-byte pattern against
 * the reference; 4-byte patterns with a spread of final bytes. */
START_TEST(test_exhaustive)
{
	unsigned char b[4];

	for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
		size_t n = encode(cp, b);
		size_t want = (cp >= 0xD800 && cp <= 0xDFFF) ? 0 : n;
		size_t got = utf8_sequence_len(b, n);
		if (got != want)
			ck_abort_msg("U+%04X: length %zu, want %zu", (unsigned)cp, got, want);
	}
	for (uint32_t v = 0; v < (1u << 24); v++) {
		b[0] = (unsigned char)(v >> 16);
		b[1] = (unsigned char)(v >> 8);
		b[2] = (unsigned char)v;
		if (b[0] < 0xC0 && (v & 0xFFFF) != 0)
			continue; /* a one-byte answer does not depend on what follows */
		for (size_t len = 1; len <= 3; len++) {
			size_t got = utf8_sequence_len(b, len), want = ref_sequence_len(b, len);
			if (got != want)
				ck_abort_msg("%02X %02X %02X (len %zu): length %zu, want %zu", b[0],
					     b[1], b[2], len, got, want);
		}
	}
	static const unsigned char last[] = {0x00, 0x7F, 0x80, 0xBF, 0xC0, 0xFF};
	for (uint32_t v = 0; v < (1u << 24); v++) {
		b[0] = (unsigned char)(0xF0 | (v >> 16 & 0x0F)); /* F0..FF */
		b[1] = (unsigned char)(v >> 8);
		b[2] = (unsigned char)v;
		if ((v >> 20) != 0)
			break;
		for (size_t j = 0; j < sizeof last; j++) {
			b[3] = last[j];
			size_t got = utf8_sequence_len(b, 4), want = ref_sequence_len(b, 4);
			if (got != want)
				ck_abort_msg("%02X %02X %02X %02X: length %zu, want %zu", b[0], b[1],
					     b[2], b[3], got, want);
		}
	}
}
END_TEST

/* The bytes right after the buffer are an unmapped page: reading one past
 * len crashes. Each probe runs in its own child, so a crash is reported
 * precisely even with CK_FORK=no. */
static unsigned char *guard_page_end(void **map, size_t *map_len)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned char *base;

	*map_len = (size_t)page * 2;
	base = mmap(NULL, *map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(base, MAP_FAILED);
	ck_assert_int_eq(mprotect(base + page, (size_t)page, PROT_NONE), 0);
	*map = base;
	return base + page;
}

enum probe { PROBE_SEQ_EMPTY, PROBE_SEQ_TRUNCATED, PROBE_VALID_TRUNCATED, PROBE_SANITIZE };

static int run_probe(enum probe which, unsigned char *end)
{
	char out[16];
	pid_t pid = fork();
	int status;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int ok = 0;
		switch (which) {
		case PROBE_SEQ_EMPTY: ok = utf8_sequence_len(end, 0) == 0; break;
		case PROBE_SEQ_TRUNCATED: ok = utf8_sequence_len(end - 3, 3) == 0; break;
		case PROBE_VALID_TRUNCATED: ok = !utf8_valid((const char *)end - 4, 4); break;
		case PROBE_SANITIZE:
			ok = utf8_sanitize(out, sizeof out, (const char *)end - 4, 4) == 4 &&
			     memcmp(out, "a???", 5) == 0;
			break;
		}
		_exit(ok ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

START_TEST(test_no_read_past_len)
{
	static const char *const names[] = {
		"utf8_sequence_len(end, 0)",
		"utf8_sequence_len on F0 9F 98 at the end",
		"utf8_valid on a F0 9F 98 at the end",
		"utf8_sanitize on a F0 9F 98 at the end",
	};
	void *map;
	size_t map_len;
	unsigned char *end = guard_page_end(&map, &map_len);

	memcpy(end - 4, "a\xF0\x9F\x98", 4);
	for (int p = PROBE_SEQ_EMPTY; p <= PROBE_SANITIZE; p++) {
		int status = run_probe((enum probe)p, end);
		ck_assert_msg(!WIFSIGNALED(status), "%s read past len: killed by signal %d",
			      names[p], WIFSIGNALED(status) ? WTERMSIG(status) : 0);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			      "%s returned a wrong answer", names[p]);
	}
	munmap(map, map_len);
}
END_TEST

/* ---- utf8_sanitize ------------------------------------------------------ */

START_TEST(test_sanitize_replaces)
{
	static const struct {
		struct bytes in;
		const char *want;
	} cases[] = {
		{B("plain ascii", "ascii"), "plain ascii"},
		{B("ab\xFF" "c\xC3\xA9", "FF between ASCII, then e-acute"), "ab?c\xC3\xA9"},
		{B("\xC0\x80", "overlong"), "??"},
		{B("\xED\xA0\x80", "surrogate"), "???"},
		{B("\xF4\x90\x80\x80", "above U+10FFFF"), "????"},
		{B("\xE2\x82", "truncated at the end"), "??"},
		{B("\xE2\x82" "A", "truncated before ASCII"), "??A"},
		{B("\x80\xBF", "lone continuations"), "??"},
		{B("\xF0\x9F\x98\x80!", "emoji kept"), "\xF0\x9F\x98\x80!"},
		{B("\xC3\xC3\xA9", "lead then valid pair"), "?\xC3\xA9"},
	};
	char out[64];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t n = utf8_sanitize(out, sizeof out, cases[i].in.s, cases[i].in.len);
		ck_assert_msg(n == strlen(cases[i].want), "%s: wrote %zu bytes, want %zu",
			      cases[i].in.what, n, strlen(cases[i].want));
		ck_assert_str_eq(out, cases[i].want);
	}
}
END_TEST

START_TEST(test_sanitize_cap)
{
	char out[8];

	memset(out, 'X', sizeof out);
	ck_assert_uint_eq(utf8_sanitize(out, 0, "abc", 3), 0);
	ck_assert_int_eq(out[0], 'X'); /* cap 0: nothing written */

	ck_assert_uint_eq(utf8_sanitize(out, 1, "abc", 3), 0);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(out[1], 'X');

	memset(out, 'X', sizeof out);
	ck_assert_uint_eq(utf8_sanitize(out, 3, "abc", 3), 2);
	ck_assert_str_eq(out, "ab");
	ck_assert_int_eq(out[3], 'X');

	ck_assert_uint_eq(utf8_sanitize(out, 4, "abc", 3), 3);
	ck_assert_str_eq(out, "abc");

	/* A multi-byte sequence is never split: "a" + euro needs 5 bytes. */
	memset(out, 'X', sizeof out);
	ck_assert_uint_eq(utf8_sanitize(out, 4, "a\xE2\x82\xAC", 4), 1);
	ck_assert_str_eq(out, "a");
	ck_assert_int_eq(out[4], 'X');
	ck_assert_uint_eq(utf8_sanitize(out, 5, "a\xE2\x82\xAC", 4), 4);
	ck_assert_str_eq(out, "a\xE2\x82\xAC");

	/* A replacement '?' also needs room for the NUL after it. */
	ck_assert_uint_eq(utf8_sanitize(out, 2, "\xFF\xFF", 2), 1);
	ck_assert_str_eq(out, "?");
}
END_TEST

/* Random bytes, every cap: output is the longest whole-sequence prefix of
 * the reference result that fits, NUL-terminated, and nothing past cap. */
START_TEST(test_sanitize_fuzz)
{
	const uint64_t seed = 0x5eed2024u;
	enum { ROUNDS = 300, IN_MAX = 24, OUT_MAX = IN_MAX + 1, CANARY = 8 };
	char src[IN_MAX], full[IN_MAX + 1], out[OUT_MAX + CANARY];

	rng_state = seed;
	printf("check_utf8: sanitize fuzz seed 0x%llx\n", (unsigned long long)seed);
	for (int round = 0; round < ROUNDS; round++) {
		size_t len = rng_next() % (IN_MAX + 1);
		for (size_t i = 0; i < len; i++) {
			/* Bias towards bytes that make interesting sequences. */
			static const unsigned char pick[] = {'a', 0x00, 0x7F, 0x80, 0xBF, 0xC0,
							     0xC2, 0xDF, 0xE0, 0xED, 0xEF, 0xF0,
							     0xF4, 0xF5, 0xFF, 0xA0, 0x9F, 0x90};
			uint32_t r = rng_next();
			src[i] = (char)((r & 1) ? pick[(r >> 1) % sizeof pick] : (r >> 8));
		}
		size_t full_len = ref_sanitize(full, src, len);
		for (size_t cap = 1; cap <= OUT_MAX; cap++) {
			memset(out, 0x5A, sizeof out);
			size_t n = utf8_sanitize(out, cap, src, len);
			ck_assert_uint_lt(n, cap);
			ck_assert_int_eq(out[n], '\0');
			for (size_t i = cap; i < sizeof out; i++)
				ck_assert_msg(out[i] == 0x5A, "round %d cap %zu: byte %zu overwritten",
					      round, cap, i);
			ck_assert_msg(n <= full_len && memcmp(out, full, n) == 0,
				      "round %d cap %zu: output is not a prefix of the reference",
				      round, cap);
			ck_assert(utf8_valid(out, n));
			/* Longest fit: the next unit of the reference would not fit. */
			if (n < full_len) {
				size_t unit = ref_sequence_len((const unsigned char *)full + n,
							       full_len - n);
				ck_assert_uint_ge(n + (unit ? unit : 1), cap);
			}
		}
	}
}
END_TEST

static Suite *utf8_suite(void)
{
	Suite *s = suite_create("utf8");
	TCase *tc;

	tc = tcase_create("valid");
	tcase_add_test(tc, test_ascii);
	tcase_add_test(tc, test_multibyte);
	tcase_add_test(tc, test_boundaries);
	tcase_add_test(tc, test_nul_is_valid);
	suite_add_tcase(s, tc);

	tc = tcase_create("invalid");
	tcase_add_test(tc, test_invalid);
	tcase_add_test(tc, test_invalid_inside_text);
	suite_add_tcase(s, tc);

	tc = tcase_create("exhaustive");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_exhaustive);
	suite_add_tcase(s, tc);

	tc = tcase_create("bounds");
	tcase_add_test(tc, test_no_read_past_len);
	suite_add_tcase(s, tc);

	tc = tcase_create("sanitize");
	tcase_add_test(tc, test_sanitize_replaces);
	tcase_add_test(tc, test_sanitize_cap);
	tcase_add_test(tc, test_sanitize_fuzz);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(utf8_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

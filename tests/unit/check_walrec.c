/* check_walrec.c: unit tests for the WAL sample-record codec (storage/walrec.c).
 * Round trips of every type and extreme values, random batches, and every truncation and bit flip of a record. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hs_error.h"
#include "storage/walrec.h"

struct collected {
	struct head_input in[64];
	char strings[64][64];
	size_t count;
};

static int collect(void *arg, const struct head_input *in, size_t count)
{
	struct collected *c = arg;
	for (size_t i = 0; i < count && c->count < 64; i++) {
		c->in[c->count] = in[i];
		if (in[i].type == VALUE_STRING) {
			memcpy(c->strings[c->count], in[i].str, in[i].str_len);
			c->in[c->count].str = c->strings[c->count];
		}
		c->count++;
	}
	return 0;
}

static struct head_input f64(uint32_t id, int64_t ts, double v)
{
	return (struct head_input){.tag_id = id, .type = VALUE_FLOAT64, .ts_ns = ts, .v.f64 = v};
}

static void assert_same(const struct head_input *a, const struct head_input *b)
{
	ck_assert_uint_eq(a->tag_id, b->tag_id);
	ck_assert_int_eq(a->type, b->type);
	ck_assert_uint_eq(a->quality, b->quality);
	ck_assert_int_eq(a->ts_ns, b->ts_ns);
	if (a->type == VALUE_STRING) {
		ck_assert_uint_eq(a->str_len, b->str_len);
		ck_assert_int_eq(memcmp(a->str, b->str, a->str_len), 0);
	} else {
		ck_assert_uint_eq(a->v.u64, b->v.u64); /* bit-exact, NaN payloads included */
	}
}

static void round_trip(const struct head_input *in, size_t n)
{
	struct strbuf buf = STRBUF_INIT;
	struct collected got = {0};

	ck_assert_int_eq(walrec_encode(in, n, &buf), 0);
	ck_assert_int_eq(walrec_decode(buf.data, buf.len, collect, &got), 0);
	ck_assert_uint_eq(got.count, n);
	for (size_t i = 0; i < n; i++)
		assert_same(&in[i], &got.in[i]);
	strbuf_free(&buf);
}

START_TEST(test_every_type)
{
	struct head_input in[] = {
		f64(1, 1700000000000000000LL, 81.5),
		{.tag_id = 2, .type = VALUE_INT64, .ts_ns = 1700000000000000001LL, .v.i64 = INT64_MIN},
		{.tag_id = 3, .type = VALUE_INT64, .ts_ns = 5, .v.i64 = INT64_MAX, .quality = 0xffff},
		{.tag_id = 4, .type = VALUE_BOOL, .ts_ns = INT64_MIN, .v.i64 = 1, .quality = QUALITY_BAD},
		{.tag_id = 5, .type = VALUE_BOOL, .ts_ns = INT64_MAX, .v.i64 = 0},
		{.tag_id = UINT32_MAX, .type = VALUE_STRING, .ts_ns = -1, .str = "open", .str_len = 4},
		{.tag_id = 0, .type = VALUE_STRING, .ts_ns = 0, .str = "", .str_len = 0},
	};
	round_trip(in, sizeof in / sizeof in[0]);
}
END_TEST

START_TEST(test_special_floats)
{
	const uint64_t bits[] = {0x7ff8000000000001ull, 0x7ff0000000000001ull /* sNaN */,
				 0xfff0000000000000ull, 0x7ff0000000000000ull, 0x8000000000000000ull,
				 0x0000000000000001ull, 0x7fefffffffffffffull, 0xffffffffffffffffull};
	struct head_input in[8];
	for (size_t i = 0; i < 8; i++) {
		in[i] = f64(7, (int64_t)i * 1000000000, 0);
		in[i].v.u64 = bits[i];
	}
	round_trip(in, 8);
}
END_TEST

START_TEST(test_random_batches)
{
	unsigned seed = getenv("HS_SEED") ? (unsigned)strtoul(getenv("HS_SEED"), NULL, 0) : 20261125u;
	printf("check_walrec: seed %u (set HS_SEED to change)\n", seed);
	srand(seed);
	for (int round = 0; round < 500; round++) {
		struct head_input in[64];
		static char text[64][40];
		size_t n = 1 + (size_t)rand() % 64;
		for (size_t i = 0; i < n; i++) {
			uint64_t r = ((uint64_t)rand() << 33) ^ ((uint64_t)rand() << 11) ^ (uint64_t)rand();
			in[i] = (struct head_input){.tag_id = (uint32_t)rand(), .quality = (quality_t)rand(),
						    .ts_ns = (int64_t)r, .type = 1 + rand() % 4};
			in[i].v.u64 = r * 2654435761u;
			if (in[i].type == VALUE_BOOL)
				in[i].v.i64 = r & 1;
			if (in[i].type == VALUE_STRING) {
				in[i].str_len = (uint32_t)snprintf(text[i], sizeof text[i], "s%llu",
								   (unsigned long long)r);
				in[i].str = text[i];
			}
		}
		round_trip(in, n);
	}
}
END_TEST

START_TEST(test_refuses_bad_input)
{
	struct strbuf buf = STRBUF_INIT;
	struct head_input bad = f64(1, 0, 1.0);

	bad.type = 9;
	ck_assert_int_eq(walrec_encode(&bad, 1, &buf), -EINVAL);
	ck_assert_int_eq(walrec_encode(&bad, 0, &buf), -EINVAL);
	strbuf_free(&buf);
}
END_TEST

START_TEST(test_every_truncation_and_flip_is_safe)
{
	struct head_input in[] = {
		f64(1, 1700000000000000000LL, 1.25),
		{.tag_id = 2, .type = VALUE_STRING, .ts_ns = 1700000000000000001LL, .str = "abc", .str_len = 3},
		{.tag_id = 3, .type = VALUE_BOOL, .ts_ns = 1700000000000000002LL, .v.i64 = 1},
	};
	struct strbuf buf = STRBUF_INIT;
	struct collected got;

	ck_assert_int_eq(walrec_encode(in, 3, &buf), 0);
	for (size_t cut = 0; cut < buf.len; cut++) {
		memset(&got, 0, sizeof got);
		ck_assert_int_eq(walrec_decode(buf.data, cut, collect, &got), HS_ECORRUPT);
		ck_assert_uint_eq(got.count, 0);
	}
	for (size_t bit = 0; bit < buf.len * 8; bit++) {
		char *copy = malloc(buf.len);
		memcpy(copy, buf.data, buf.len);
		copy[bit / 8] ^= (char)(1 << (bit % 8));
		memset(&got, 0, sizeof got);
		int rc = walrec_decode(copy, buf.len, collect, &got);
		/* A flip may still decode (e.g. in a value); it must never crash
		 * and a refusal must hand nothing out. */
		ck_assert(rc == 0 || (rc == HS_ECORRUPT && got.count == 0));
		free(copy);
	}
	strbuf_free(&buf);
}
END_TEST

static Suite *walrec_suite(void)
{
	Suite *s = suite_create("walrec");
	TCase *tc;

	tc = tcase_create("round trip");
	tcase_add_test(tc, test_every_type);
	tcase_add_test(tc, test_special_floats);
	tcase_add_test(tc, test_random_batches);
	suite_add_tcase(s, tc);
	tc = tcase_create("invalid");
	tcase_add_test(tc, test_refuses_bad_input);
	tcase_add_test(tc, test_every_truncation_and_flip_is_safe);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(walrec_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

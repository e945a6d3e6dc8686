/* check_head.c: unit tests for the head (storage/head.c) and its sample buffers (storage/sample_buf.c).
 * In-order and out-of-order appends, last-write-wins, range reads, neighbours, sealing order, strings, readers. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/head.h"

static struct head_input fs(uint32_t id, int64_t ts, double v)
{
	return (struct head_input){.tag_id = id, .type = VALUE_FLOAT64, .ts_ns = ts, .v.f64 = v};
}

static struct head *head_with(const struct head_input *in, size_t n)
{
	struct head *h;
	ck_assert_int_eq(head_new(&h), 0);
	ck_assert_int_eq(head_append(h, in, n), 0);
	return h;
}

START_TEST(test_sort_dedup_last_write_wins)
{
	struct sample_buf b = SAMPLE_BUF_INIT;
	const int64_t ts[] = {5, 3, 5, 1, 3, 9};
	const double v[] = {50, 30, 51, 10, 31, 90};

	ck_assert_int_eq(sample_buf_reserve(&b, 6), 0);
	for (int i = 0; i < 6; i++)
		sample_buf_put(&b, ts[i], (union value64){.f64 = v[i]}, (quality_t)i);
	ck_assert_int_eq(sample_buf_sort_dedup(&b, NULL), 0);
	ck_assert_uint_eq(b.count, 4);
	const int64_t want_ts[] = {1, 3, 5, 9};
	const double want_v[] = {10, 31, 51, 90};
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(b.ts_ns[i], want_ts[i]);
		ck_assert_double_eq(b.val[i].f64, want_v[i]);
	}
	ck_assert_uint_eq(sample_buf_lower_bound(&b, 4), 2);
	ck_assert_uint_eq(sample_buf_lower_bound(&b, 5), 2);
	ck_assert_uint_eq(sample_buf_lower_bound(&b, 100), 4);
	sample_buf_free(&b);
}
END_TEST

START_TEST(test_collect_range_in_order)
{
	struct head_input in[100];
	struct sample_buf out = SAMPLE_BUF_INIT;

	for (int i = 0; i < 100; i++)
		in[i] = fs(3, (int64_t)i * 1000, i);
	struct head *h = head_with(in, 100);
	ck_assert_uint_eq(head_samples(h), 100);
	ck_assert_uint_ge(head_bytes(h), 100 * 18);
	/* [t0, t1): start inclusive, end exclusive. */
	ck_assert_int_eq(head_collect(h, 3, 10000, 20000, &out), 0);
	ck_assert_uint_eq(out.count, 10);
	ck_assert_int_eq(out.ts_ns[0], 10000);
	ck_assert_int_eq(out.ts_ns[9], 19000);
	sample_buf_clear(&out);
	ck_assert_int_eq(head_collect(h, 4, 0, 1000000, &out), 0);
	ck_assert_uint_eq(out.count, 0);
	ck_assert_int_eq(head_collect(h, 99999, 0, 1000000, &out), 0);
	ck_assert_uint_eq(out.count, 0);
	sample_buf_free(&out);
	head_release(h);
}
END_TEST

START_TEST(test_collect_out_of_order_and_duplicates)
{
	const struct head_input in[] = {fs(1, 30, 3), fs(1, 10, 1), fs(1, 20, 2),
					fs(1, 10, 1.5), fs(1, 40, 4), fs(1, 5, 0.5)};
	struct sample_buf out = SAMPLE_BUF_INIT;
	struct head *h = head_with(in, 6);

	/* Earlier contents of out are the caller's and stay in front. */
	ck_assert_int_eq(sample_buf_reserve(&out, 1), 0);
	sample_buf_put(&out, -1, (union value64){.f64 = -1}, 0);
	ck_assert_int_eq(head_collect(h, 1, 10, 40, &out), 0);
	ck_assert_uint_eq(out.count, 4);
	ck_assert_int_eq(out.ts_ns[0], -1);
	ck_assert_int_eq(out.ts_ns[1], 10);
	ck_assert_double_eq(out.val[1].f64, 1.5);
	ck_assert_int_eq(out.ts_ns[2], 20);
	ck_assert_int_eq(out.ts_ns[3], 30);
	sample_buf_free(&out);
	head_release(h);
}
END_TEST

START_TEST(test_neighbours)
{
	const struct head_input in[] = {fs(1, 30, 3), fs(1, 10, 1), fs(1, 10, 1.5), fs(1, 50, 5)};
	struct head *h = head_with(in, 4);
	int64_t bts, ats;
	union value64 bv, av;
	quality_t bq, aq;

	ck_assert_int_eq(head_neighbours(h, 1, 30, &bts, &bv, &bq, &ats, &av, &aq), 3);
	ck_assert_int_eq(bts, 10);
	ck_assert_double_eq(bv.f64, 1.5);
	ck_assert_int_eq(ats, 30);
	ck_assert_int_eq(head_neighbours(h, 1, 10, &bts, &bv, &bq, &ats, &av, &aq), 2);
	ck_assert_int_eq(ats, 10);
	ck_assert_double_eq(av.f64, 1.5);
	ck_assert_int_eq(head_neighbours(h, 1, 51, &bts, &bv, &bq, &ats, &av, &aq), 1);
	ck_assert_int_eq(bts, 50);
	ck_assert_int_eq(head_neighbours(h, 2, 51, &bts, &bv, &bq, &ats, &av, &aq), 0);
	head_release(h);
}
END_TEST

START_TEST(test_series_sorted_for_seal_with_strings)
{
	struct head_input in[] = {
		{.tag_id = 2, .type = VALUE_STRING, .ts_ns = 20, .str = "closed", .str_len = 6},
		{.tag_id = 2, .type = VALUE_STRING, .ts_ns = 10, .str = "open", .str_len = 4},
		{.tag_id = 2, .type = VALUE_STRING, .ts_ns = 20, .str = "fault", .str_len = 5},
	};
	struct head *h = head_with(in, 3);
	enum value_type type;
	int err;
	struct sample_buf *b;

	ck_assert_uint_ge(head_id_limit(h), 3);
	ck_assert_ptr_null(head_series_sorted(h, 1, &type, &err));
	b = head_series_sorted(h, 2, &type, &err);
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(err, 0);
	ck_assert_int_eq(type, VALUE_STRING);
	ck_assert_uint_eq(b->count, 2);
	ck_assert_uint_eq(b->val[0].str->len, 4);
	ck_assert_int_eq(memcmp(b->val[0].str->data, "open", 4), 0);
	ck_assert_int_eq(memcmp(b->val[1].str->data, "fault", 5), 0);
	head_release(h); /* valgrind/ASan: the dropped "closed" was freed, the rest too */
}
END_TEST

START_TEST(test_references)
{
	struct head_input in = fs(1, 1, 1);
	struct head *h = head_with(&in, 1);
	struct sample_buf out = SAMPLE_BUF_INIT;

	head_acquire(h);
	head_release(h);
	ck_assert_int_eq(head_collect(h, 1, 0, 2, &out), 0);
	ck_assert_uint_eq(out.count, 1);
	sample_buf_free(&out);
	head_release(h);
}
END_TEST

struct reader_arg {
	struct head *h;
	int errors;
};

static void *reader(void *arg)
{
	struct reader_arg *r = arg;
	struct sample_buf out = SAMPLE_BUF_INIT;

	for (int i = 0; i < 2000; i++) {
		sample_buf_clear(&out);
		if (head_collect(r->h, (uint32_t)(i % 10), 0, INT64_MAX, &out) != 0)
			r->errors++;
		for (size_t k = 1; k < out.count; k++)
			if (out.ts_ns[k] <= out.ts_ns[k - 1])
				r->errors++;
	}
	sample_buf_free(&out);
	return NULL;
}

START_TEST(test_readers_during_appends)
{
	struct head *h;
	pthread_t th[2];
	struct reader_arg ra[2];
	struct head_input batch[100];

	ck_assert_int_eq(head_new(&h), 0);
	for (int i = 0; i < 2; i++) {
		ra[i] = (struct reader_arg){h, 0};
		pthread_create(&th[i], NULL, reader, &ra[i]);
	}
	for (int b = 0; b < 500; b++) {
		for (int i = 0; i < 100; i++)
			batch[i] = fs((uint32_t)(i % 10), (int64_t)(b * 100 + i), i);
		ck_assert_int_eq(head_append(h, batch, 100), 0);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(ra[i].errors, 0);
	}
	ck_assert_uint_eq(head_samples(h), 50000);
	head_release(h);
}
END_TEST

static Suite *head_suite(void)
{
	Suite *s = suite_create("head");
	TCase *tc;

	tc = tcase_create("sample_buf");
	tcase_add_test(tc, test_sort_dedup_last_write_wins);
	suite_add_tcase(s, tc);
	tc = tcase_create("read");
	tcase_add_test(tc, test_collect_range_in_order);
	tcase_add_test(tc, test_collect_out_of_order_and_duplicates);
	tcase_add_test(tc, test_neighbours);
	tcase_add_test(tc, test_references);
	suite_add_tcase(s, tc);
	tc = tcase_create("seal");
	tcase_add_test(tc, test_series_sorted_for_seal_with_strings);
	suite_add_tcase(s, tc);
	tc = tcase_create("concurrency");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_readers_during_appends);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(head_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

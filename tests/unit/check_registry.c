/* check_registry.c: unit tests for the in-memory tag registry (storage/registry.c).
 * Lookups both ways, conflicts, growth to many tags, and concurrent readers and writers. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/registry.h"

START_TEST(test_add_and_find)
{
	struct registry *reg;
	uint32_t id;
	enum value_type type;

	ck_assert_int_eq(registry_new(&reg), 0);
	ck_assert(!registry_find(reg, "boiler.temp", 11, &id, &type));
	ck_assert_int_eq(registry_add(reg, 7, "boiler.temp", 11, VALUE_FLOAT64), 0);
	ck_assert(registry_find(reg, "boiler.temp", 11, &id, &type));
	ck_assert_uint_eq(id, 7);
	ck_assert_int_eq(type, VALUE_FLOAT64);
	ck_assert_str_eq(registry_name(reg, 7), "boiler.temp");
	ck_assert_int_eq(registry_type(reg, 7), VALUE_FLOAT64);
	ck_assert_int_eq(registry_type(reg, 8), 0);
	ck_assert_ptr_null(registry_name(reg, 8));
	ck_assert_ptr_null(registry_name(reg, 4000000000u));
	/* A prefix or a longer name is another tag. */
	ck_assert(!registry_find(reg, "boiler.tem", 10, &id, &type));
	ck_assert(!registry_find(reg, "boiler.temp2", 12, &id, &type));
	ck_assert_uint_eq(registry_count(reg), 1);
	ck_assert_uint_eq(registry_id_limit(reg), 8);
	registry_free(reg);
}
END_TEST

START_TEST(test_names_with_nul_bytes_and_utf8)
{
	struct registry *reg;
	uint32_t id;
	enum value_type type;

	ck_assert_int_eq(registry_new(&reg), 0);
	ck_assert_int_eq(registry_add(reg, 1, "a\0b", 3, VALUE_INT64), 0);
	ck_assert_int_eq(registry_add(reg, 2, "a", 1, VALUE_INT64), 0);
	ck_assert_int_eq(registry_add(reg, 3, "K\xc3\xbchlwasser", 12, VALUE_BOOL), 0);
	ck_assert(registry_find(reg, "a\0b", 3, &id, &type));
	ck_assert_uint_eq(id, 1);
	ck_assert(registry_find(reg, "K\xc3\xbchlwasser", 12, &id, &type));
	ck_assert_uint_eq(id, 3);
	registry_free(reg);
}
END_TEST

START_TEST(test_conflicts)
{
	struct registry *reg;

	ck_assert_int_eq(registry_new(&reg), 0);
	ck_assert_int_eq(registry_add(reg, 1, "x", 1, VALUE_FLOAT64), 0);
	ck_assert_int_eq(registry_add(reg, 1, "x", 1, VALUE_FLOAT64), 0);
	ck_assert_int_eq(registry_add(reg, 2, "x", 1, VALUE_FLOAT64), -EEXIST);
	ck_assert_int_eq(registry_add(reg, 1, "x", 1, VALUE_STRING), -EEXIST);
	ck_assert_uint_eq(registry_count(reg), 1);
	registry_free(reg);
}
END_TEST

START_TEST(test_many_tags)
{
	struct registry *reg;
	char name[32];
	uint32_t id;
	enum value_type type;

	ck_assert_int_eq(registry_new(&reg), 0);
	for (uint32_t i = 0; i < 200000; i++) {
		int len = snprintf(name, sizeof name, "plant.area%u.tag%u", i % 97, i);
		ck_assert_int_eq(registry_add(reg, i * 3, name, (size_t)len, 1 + i % 4), 0);
	}
	ck_assert_uint_eq(registry_count(reg), 200000);
	for (uint32_t i = 0; i < 200000; i += 7) {
		int len = snprintf(name, sizeof name, "plant.area%u.tag%u", i % 97, i);
		ck_assert(registry_find(reg, name, (size_t)len, &id, &type));
		ck_assert_uint_eq(id, i * 3);
		ck_assert_int_eq(type, 1 + i % 4);
		ck_assert_str_eq(registry_name(reg, i * 3), name);
	}
	registry_free(reg);
}
END_TEST

struct worker {
	struct registry *reg;
	unsigned base;
	int errors;
};

static void *writer_reader(void *arg)
{
	struct worker *w = arg;
	char name[32];
	uint32_t id;
	enum value_type type;

	for (unsigned i = 0; i < 20000; i++) {
		unsigned n = w->base + i;
		int len = snprintf(name, sizeof name, "t%u", n);
		if (registry_add(w->reg, n, name, (size_t)len, VALUE_FLOAT64) != 0)
			w->errors++;
		/* Read back something another thread may be writing. */
		len = snprintf(name, sizeof name, "t%u", (n * 7919u) % 80000u);
		if (registry_find(w->reg, name, (size_t)len, &id, &type)) {
			const char *back = registry_name(w->reg, id);
			if (!back || strcmp(back, name) != 0)
				w->errors++;
		}
	}
	return NULL;
}

START_TEST(test_concurrent)
{
	struct registry *reg;
	pthread_t th[4];
	struct worker w[4];

	ck_assert_int_eq(registry_new(&reg), 0);
	for (unsigned i = 0; i < 4; i++) {
		w[i] = (struct worker){reg, i * 20000, 0};
		pthread_create(&th[i], NULL, writer_reader, &w[i]);
	}
	for (unsigned i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(w[i].errors, 0);
	}
	ck_assert_uint_eq(registry_count(reg), 80000);
	registry_free(reg);
}
END_TEST

static Suite *registry_suite(void)
{
	Suite *s = suite_create("registry");
	TCase *tc;

	tc = tcase_create("lookup");
	tcase_add_test(tc, test_add_and_find);
	tcase_add_test(tc, test_names_with_nul_bytes_and_utf8);
	tcase_add_test(tc, test_conflicts);
	suite_add_tcase(s, tc);
	tc = tcase_create("scale");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_many_tags);
	tcase_add_test(tc, test_concurrent);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(registry_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

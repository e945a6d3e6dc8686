/* check_ingest.c: unit tests for the ingest pipeline (server/ingest*.c) and the tag naming rule (server/tagname.c).
 * Names from lines, quality, type conflicts, JSON shapes, and backpressure with a WAL whose fsync is made slow. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/hs_error.h"
#include "lib/log.h"
#include "server/ingest.h"
#include "server/tagname.h"
#include "storage/io.h"
#include "storage/store.h"

static char dir[256];
static struct store *st;
static struct ingest *ing;
static volatile int slow_fsync_ms;

static int slow_fdatasync(int fd)
{
	if (slow_fsync_ms)
		usleep((useconds_t)slow_fsync_ms * 1000);
	return io_default.fdatasync(fd);
}

static struct io_ops slow_io;

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void setup(void)
{
	struct store_options o;
	char err[STORE_ERROR_MAX];
	struct ingest_options io = {.max_pending_bytes = 4096, .wait_timeout_ms = 20};

	log_set_level(HS_LOG_ERROR);
	snprintf(dir, sizeof dir, "/tmp/hs-ingest-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	slow_io = io_default;
	slow_io.fdatasync = slow_fdatasync;
	store_options_init(&o);
	o.data_dir = dir;
	o.io = &slow_io;
	ck_assert_msg(store_open(&o, &st, err) == 0, "%s", err);
	ck_assert_int_eq(ingest_new(st, &io, &ing), 0);
}

static void teardown(void)
{
	ingest_free(ing);
	store_close(st);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

struct waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done, status;
};

static void on_done(void *arg, int status)
{
	struct waiter *w = arg;
	pthread_mutex_lock(&w->lock);
	w->done = 1;
	w->status = status;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static int write_lp(const char *text, struct ingest_report *rep)
{
	struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
	struct ingest_batch *b;
	int rc = ingest_parse_lp(ing, text, strlen(text), LP_PRECISION_S, 1735689600000000000LL, &b, rep);

	if (rc != 0 || !b)
		return rc;
	rc = ingest_submit(ing, b, on_done, &w);
	if (rc != 0)
		return rc;
	pthread_mutex_lock(&w.lock);
	while (!w.done)
		pthread_cond_wait(&w.cond, &w.lock);
	pthread_mutex_unlock(&w.lock);
	return w.status;
}

static enum value_type type_of(const char *name)
{
	uint32_t id;
	enum value_type t;
	return store_tag_find(st, name, strlen(name), &id, &t) == 0 ? t : 0;
}

START_TEST(test_tagname_rule)
{
	struct tagname_label l[] = {{"unit", 4, "3", 1}, {"site", 4, "north", 5}, {"a", 1, "x,y=z\\", 6}};
	char name[128];

	tagname_sort_labels(l, 3);
	ck_assert_str_eq(l[0].key, "a");
	ck_assert_str_eq(l[1].key, "site");
	ck_assert_uint_eq(tagname_render(name, sizeof name, "boiler", 6, "temp", 4, l + 1, 2), 29);
	ck_assert_str_eq(name, "boiler.temp,site=north,unit=3");
	tagname_render(name, sizeof name, "pump7.speed", 11, "value", 5, NULL, 0);
	ck_assert_str_eq(name, "pump7.speed");
	tagname_render(name, sizeof name, "tank", 4, "level", 5, l, 1);
	ck_assert_str_eq(name, "tank.level,a=x\\,y\\=z\\\\");
	/* Too long for the buffer: the full length comes back, dst holds a prefix. */
	ck_assert_uint_eq(tagname_render(name, 8, "boiler", 6, "temp", 4, NULL, 0), 11);
	ck_assert_str_eq(name, "boiler.");
}
END_TEST

START_TEST(test_lines_become_tags)
{
	struct ingest_report rep;

	ck_assert_int_eq(write_lp("boiler,unit=3,site=north temp=81.5,on=true,count=2i,state=\"ok\" 1\n"
				  "pump7.speed value=3 2\n",
				  &rep),
			 0);
	ck_assert_uint_eq(rep.lines, 2);
	ck_assert_uint_eq(rep.samples, 5);
	ck_assert_uint_eq(rep.bad_lines, 0);
	ck_assert_int_eq(type_of("boiler.temp,site=north,unit=3"), VALUE_FLOAT64);
	ck_assert_int_eq(type_of("boiler.on,site=north,unit=3"), VALUE_BOOL);
	ck_assert_int_eq(type_of("boiler.count,site=north,unit=3"), VALUE_INT64);
	ck_assert_int_eq(type_of("boiler.state,site=north,unit=3"), VALUE_STRING);
	ck_assert_int_eq(type_of("pump7.speed"), VALUE_FLOAT64);
}
END_TEST

START_TEST(test_bad_lines_and_conflicts)
{
	struct ingest_report rep;

	ck_assert_int_eq(write_lp("t v=1 1\n", &rep), 0);
	/* line 2: parse error; line 3: int into a float tag (whole line goes,
	 * its good field too); line 4: fine; line 5: uint beyond int64. */
	ck_assert_int_eq(write_lp("t v=2 2\n"
				  "t v=\n"
				  "t v=3i,w=1 3\n"
				  "t v=4 4\n"
				  "u big=18446744073709551615u 5\n",
				  &rep),
			 0);
	ck_assert_uint_eq(rep.lines, 5);
	ck_assert_uint_eq(rep.bad_lines, 3);
	ck_assert_uint_eq(rep.samples, 2);
	ck_assert_uint_eq(rep.nerrors, 3);
	ck_assert_uint_eq(rep.errors[0].line, 2);
	ck_assert_uint_eq(rep.errors[1].line, 3);
	ck_assert_str_eq(rep.errors[1].message, "tag t.v holds float values; this value is integer");
	ck_assert_uint_eq(rep.errors[2].line, 5);
	/* Tags are resolved for the whole batch before lines are refused, so
	 * the refused line's new tag exists (documented), with no sample. */
	ck_assert_int_eq(type_of("t.w"), VALUE_FLOAT64);
}
END_TEST

START_TEST(test_quality_field)
{
	struct ingest_report rep;

	ck_assert_int_eq(write_lp("ai v=1,quality=2147483648i 1\nai v=2,quality=\"bad\" 2\n", &rep), 0);
	ck_assert_uint_eq(rep.samples, 1);
	ck_assert_uint_eq(rep.bad_lines, 1);
	ck_assert_str_eq(rep.errors[0].message, "quality must be an integer OPC UA status code");
	ck_assert_int_eq(type_of("ai.quality"), 0);
}
END_TEST

START_TEST(test_json_shapes)
{
	struct ingest_report rep;
	struct ingest_batch *b;
	const char *many = "{\"samples\": [{\"tag\": \"a\", \"t\": \"2025-01-01T00:00:00Z\", \"v\": 1},"
			   "{\"tag\": \"b\", \"t\": 1, \"v\": \"text\", \"q\": 1073741824},"
			   "{\"tag\": \"c\", \"v\": null}, 7]}";
	const char *one = "{\"tag\": \"d\", \"samples\": [[1, true], [2, false, 0], [3]]}";

	ck_assert_int_eq(ingest_parse_json(ing, many, strlen(many), LP_PRECISION_S, 0, &b, &rep), 0);
	ck_assert_uint_eq(rep.lines, 4);
	ck_assert_uint_eq(rep.samples, 2);
	ck_assert_uint_eq(rep.errors[0].line, 3);
	ck_assert_uint_eq(rep.errors[1].line, 4);
	ingest_batch_free(b);
	ck_assert_int_eq(ingest_parse_json(ing, one, strlen(one), LP_PRECISION_S, 0, &b, &rep), 0);
	ck_assert_uint_eq(rep.samples, 2);
	ck_assert_uint_eq(rep.errors[0].line, 3);
	ingest_batch_free(b);
	ck_assert_int_eq(ingest_parse_json(ing, "[", 1, LP_PRECISION_S, 0, &b, &rep), 0);
	ck_assert_ptr_null(b);
	ck_assert_uint_eq(rep.bad_lines, 1);
}
END_TEST

START_TEST(test_backpressure_refuses_after_wait)
{
	struct ingest_report rep;
	struct ingest_batch *a, *b;
	struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
	char text[8192];
	size_t n = 0;

	for (int i = 0; i < 200; i++)
		n += (size_t)snprintf(text + n, sizeof text - n, "bp v=%d %d\n", i, i + 1);
	ck_assert_int_eq(write_lp("bp v=0 0\n", &rep), 0); /* the tag exists: no catalog time below */
	slow_fsync_ms = 300;
	ck_assert_int_eq(ingest_parse_lp(ing, text, n, LP_PRECISION_S, 0, &a, &rep), 0);
	ck_assert_int_eq(ingest_parse_lp(ing, text, n, LP_PRECISION_S, 0, &b, &rep), 0);
	/* A batch over the whole bound goes alone when nothing waits... */
	ck_assert_int_eq(ingest_submit(ing, a, on_done, &w), 0);
	/* ...the next finds 4 KiB pending for 300 ms and gives up after 20. */
	ck_assert_int_eq(ingest_submit(ing, b, on_done, &w), -EBUSY);
	struct ingest_stats s;
	ingest_stats(ing, &s);
	ck_assert_uint_eq(s.refused_busy, 1);
	ck_assert_uint_gt(s.pending_bytes, 4096);
	pthread_mutex_lock(&w.lock);
	while (!w.done)
		pthread_cond_wait(&w.cond, &w.lock);
	pthread_mutex_unlock(&w.lock);
	slow_fsync_ms = 0;
	ingest_stats(ing, &s);
	ck_assert_uint_eq(s.pending_bytes, 0);
	ck_assert_int_eq(write_lp("bp v=1 1000\n", &rep), 0);
}
END_TEST

static Suite *ingest_suite(void)
{
	Suite *s = suite_create("ingest");
	TCase *tc;

	tc = tcase_create("tagname");
	tcase_add_test(tc, test_tagname_rule);
	suite_add_tcase(s, tc);
	tc = tcase_create("lines");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_lines_become_tags);
	tcase_add_test(tc, test_bad_lines_and_conflicts);
	tcase_add_test(tc, test_quality_field);
	tcase_add_test(tc, test_json_shapes);
	suite_add_tcase(s, tc);
	tc = tcase_create("backpressure");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_backpressure_refuses_after_wait);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ingest_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

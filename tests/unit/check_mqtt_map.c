/* check_mqtt_map.c: unit tests of MQTT topic rules and payload formats (server/mqtt_map.c).
 * Each message goes into a real ingest batch on a temporary store; the test reads back the tag names, values and times. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "server/ingest.h"
#include "server/ingest_int.h"
#include "server/mqtt_map.h"
#include "storage/store.h"

#define NOW 1735689600000000000LL /* 2025-01-01T00:00:00Z */

static char dir[256];
static struct store *st;
static struct ingest *ing;

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
	struct ingest_options io = {.max_pending_bytes = 1 << 20, .wait_timeout_ms = 1000};
	char err[STORE_ERROR_MAX];

	log_set_level(HS_LOG_ERROR);
	snprintf(dir, sizeof dir, "/tmp/hs-mqtt-map-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	store_options_init(&o);
	o.data_dir = dir;
	o.wal_sync = STORE_WAL_SYNC_OFF;
	ck_assert_msg(store_open(&o, &st, err) == 0, "%s", err);
	ck_assert_int_eq(ingest_new(st, &io, &ing), 0);
}

static void teardown(void)
{
	ingest_free(ing);
	store_close(st);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* What one message became: samples by tag name. */
struct got {
	size_t n;
	char name[8][256];
	struct store_sample s[8];
	int rc;
	char why[160];
};

static void map_one(const char *rules, const char *topic, const char *payload, struct got *g)
{
	struct mqtt_map *m;
	struct ingest_batch *b, *out = NULL;
	struct ingest_report rep;
	char err[256];

	memset(g, 0, sizeof *g);
	ck_assert_msg(mqtt_map_parse(rules, &m, err, sizeof err) == 0, "%s", err);
	ck_assert_int_eq(ingest_batch_new(ing, &b, &rep), 0);
	g->rc = mqtt_map_message(m, topic, strlen(topic), (const uint8_t *)payload, strlen(payload),
				 NOW, b, 1, &rep, g->why, sizeof g->why);
	ck_assert_int_ge(g->rc, 0);
	ck_assert_int_eq(ingest_batch_finish(b, &out, &rep), 0);
	for (size_t i = 0; out && i < out->count && i < 8; i++) {
		const char *name = store_tag_name(st, out->samples[i].tag_id);
		ck_assert_ptr_nonnull(name);
		snprintf(g->name[i], sizeof g->name[i], "%s", name);
		g->s[i] = out->samples[i];
		g->n++;
	}
	ingest_batch_free(out);
	mqtt_map_free(m);
}

START_TEST(test_default_topic_is_the_tag)
{
	struct got g;

	map_one("", "plant/boiler/temp", "81.5", &g);
	ck_assert_int_eq(g.rc, 0);
	ck_assert_uint_eq(g.n, 1);
	ck_assert_str_eq(g.name[0], "plant/boiler/temp");
	ck_assert_double_eq(g.s[0].v.f64, 81.5);
	ck_assert_int_eq(g.s[0].ts_ns, NOW);
	map_one("", "plant/boiler/count", " 42\n", &g);
	ck_assert_uint_eq(g.n, 1);
	ck_assert_int_eq(g.s[0].v.i64, 42);
	map_one("", "plant/boiler/on", "off", &g);
	ck_assert_uint_eq(g.n, 1);
	ck_assert(!g.s[0].v.b);
}
END_TEST

START_TEST(test_rule_captures_and_labels)
{
	struct got g;

	map_one("sensors/# {topic} number; plant/+site/+area/#rest {site}.{area}.{rest} json",
		"plant/north/boiler/temp/pv", "{\"value\": 7.5, \"ts\": 1735689601, \"quality\": 16384}",
		&g);
	ck_assert_int_eq(g.rc, 0);
	ck_assert_uint_eq(g.n, 1);
	ck_assert_str_eq(g.name[0], "north.boiler.temp/pv,area=boiler,site=north");
	ck_assert_double_eq(g.s[0].v.f64, 7.5);
	ck_assert_int_eq(g.s[0].ts_ns, NOW + 1000000000LL);
	ck_assert_uint_eq(g.s[0].quality, 0x4000);
	/* The first rule wins; its format refuses JSON. */
	map_one("sensors/# {topic} number; # {topic} json", "sensors/a", "{\"value\": 1}", &g);
	ck_assert_int_eq(g.rc, 1);
	ck_assert_uint_eq(g.n, 0);
	ck_assert_ptr_nonnull(strstr(g.why, "number"));
}
END_TEST

START_TEST(test_json_shapes_and_times)
{
	struct got g;

	/* Fields -> one tag each, with a shared time in ms. */
	map_one("", "unit1", "{\"ts\": 1735689600500, \"temp\": 80.25, \"running\": true}", &g);
	ck_assert_int_eq(g.rc, 0);
	ck_assert_uint_eq(g.n, 2);
	for (size_t i = 0; i < 2; i++) {
		ck_assert_int_eq(g.s[i].ts_ns, NOW + 500000000LL);
		ck_assert(strcmp(g.name[i], "unit1.temp") == 0 || strcmp(g.name[i], "unit1.running") == 0);
	}
	/* [t, v] pairs, RFC 3339 and microsecond times. */
	map_one("", "pairs", "[[\"2025-01-01T00:00:02Z\", 1.5], [1735689603000000, 2.5, 32768]]", &g);
	ck_assert_int_eq(g.rc, 0);
	ck_assert_uint_eq(g.n, 2);
	ck_assert_int_eq(g.s[0].ts_ns + g.s[1].ts_ns, 2 * NOW + 5000000000LL);
	/* A bare JSON string value. */
	map_one("", "state", "\"running\"", &g);
	ck_assert_uint_eq(g.n, 1);
	ck_assert_uint_eq(g.s[0].v.s.len, 7);
}
END_TEST

START_TEST(test_unreadable_payloads_add_nothing)
{
	static const char *const bad[] = {"{\"value\": [1]}", "{\"a\": 1, \"b\": {}}", "[[1]]", "{broken",
					  "{\"value\": 1, \"quality\": 70000}", "{\"v\": 1, \"ts\": true}"};
	struct got g;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		map_one("", "x", bad[i], &g);
		ck_assert_msg(g.rc == 1 && g.n == 0, "payload %s: rc %d, %zu samples", bad[i], g.rc, g.n);
		ck_assert_str_ne(g.why, "");
	}
	map_one("", "x", "not a number", &g); /* auto: neither JSON nor a number: line protocol */
	ck_assert_int_eq(g.rc, 1);
	map_one("", "ignored", "pump,id=7 speed=1450i 1735689600000000000", &g);
	ck_assert_int_eq(g.rc, 0);
	ck_assert_uint_eq(g.n, 1);
	ck_assert_str_eq(g.name[0], "pump.speed,id=7");
	ck_assert_int_eq(g.s[0].v.i64, 1450);
}
END_TEST

START_TEST(test_rule_errors)
{
	static const char *const bad[] = {
		"a/+x/b",                     /* no template */
		"a/#x/b {x}",                 /* # not last */
		"a/b+ {topic}",               /* + inside a level */
		"a/+x {y}",                   /* {y} is no capture */
		"a/+x {x} csv",               /* unknown format */
		"a/+x {x} json extra",        /* too many words */
	};
	struct mqtt_map *m;
	char err[256];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		ck_assert_msg(mqtt_map_parse(bad[i], &m, err, sizeof err) == -EINVAL, "%s accepted", bad[i]);
		ck_assert_msg(err[0], "%s: no reason", bad[i]);
	}
	ck_assert_int_eq(mqtt_map_parse(" ; a/+x {x} ; ", &m, err, sizeof err), 0);
	mqtt_map_free(m);
}
END_TEST

START_TEST(test_empty_level_cannot_be_a_label)
{
	struct got g;

	map_one("p/+site/+t {t}", "p//temp", "1", &g);
	ck_assert_int_eq(g.rc, 1);
	ck_assert_uint_eq(g.n, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mqtt_map");
	TCase *tc = tcase_create("map");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_default_topic_is_the_tag);
	tcase_add_test(tc, test_rule_captures_and_labels);
	tcase_add_test(tc, test_json_shapes_and_times);
	tcase_add_test(tc, test_unreadable_payloads_add_nothing);
	tcase_add_test(tc, test_rule_errors);
	tcase_add_test(tc, test_empty_level_cannot_be_a_label);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

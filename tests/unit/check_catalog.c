/* check_catalog.c: unit tests for storage/catalog.h (the SQLite catalog: tags, metadata, files, chunk index, state).
 * Each TCase works in one mkdtemp directory, emptied before every test; some tests inspect or damage catalog.db with SQLite directly. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/hs_error.h"
#include "lib/log.h"
#include "storage/catalog.h"
#include "storage/catalog_format.h"

#define ck_assert_str_contains(s, sub)                                                     \
	do {                                                                               \
		const char *s_ = (s), *sub_ = (sub);                                       \
		ck_assert_msg(strstr(s_, sub_) != NULL,                                    \
			      "Assertion '%s contains %s' failed: \"%s\" does not contain \"%s\"", \
			      #s, #sub, s_, sub_);                                         \
	} while (0)

/* rc == 0, or fail showing the catalog's message. */
#define ck_assert_ok(expr)                                                                  \
	do {                                                                                \
		int rc_ = (expr);                                                           \
		ck_assert_msg(rc_ == 0, "%s returned %d: %s", #expr, rc_, catalog_errmsg()); \
	} while (0)

static char tmp_dir[PATH_MAX];
static char db_path[PATH_MAX + 32];
static char err[CATALOG_ERROR_MAX];

/* ---- fixtures ------------------------------------------------------------ */

static void dir_create(void)
{
	const char *base = getenv("TMPDIR");
	char templ[PATH_MAX];

	snprintf(templ, sizeof templ, "%s/check_catalog.XXXXXX", base && base[0] ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(templ));
	ck_assert_ptr_nonnull(realpath(templ, tmp_dir));
	snprintf(db_path, sizeof db_path, "%s/catalog.db", tmp_dir);
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	return ftw->level == 0 ? 0 : remove(path);
}

static void dir_remove(void)
{
	nftw(tmp_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	rmdir(tmp_dir);
}

static void setup(void)
{
	nftw(tmp_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	err[0] = '\0';
}

static struct catalog *cat_open(void)
{
	struct catalog *cat = NULL;
	int rc = catalog_open(db_path, &cat, err);

	ck_assert_msg(rc == 0, "catalog_open: %d %s", rc, err);
	ck_assert_ptr_nonnull(cat);
	return cat;
}

/* Run one statement on catalog.db with plain SQLite (catalog closed). */
static void raw_exec(const char *sql)
{
	sqlite3 *db = NULL;

	ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
	ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK, "%s: %s", sql,
		      sqlite3_errmsg(db));
	sqlite3_close(db);
}

static int64_t raw_int(const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int64_t v;

	ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
	v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

static void write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

/* ---- helpers ---------------------------------------------------------------- */

static uint32_t tag_new(struct catalog *cat, const char *name, enum value_type type)
{
	uint32_t id = 0;
	enum value_type got;

	ck_assert_ok(catalog_tag_create(cat, name, strlen(name), type, NULL, 0, &id, &got));
	ck_assert_int_eq(got, type);
	ck_assert_uint_gt(id, 0);
	return id;
}

static uint64_t file_new(struct catalog *cat, int64_t start, int64_t end, const char *relpath)
{
	uint64_t id = 0;

	ck_assert_ok(catalog_file_add(cat, start, end, relpath, &id));
	ck_assert_uint_gt(id, 0);
	return id;
}

static struct catalog_chunk mk_chunk(uint32_t tag, uint64_t file, uint64_t offset, int64_t t_min,
				     int64_t t_max, uint64_t seq)
{
	struct catalog_chunk c = {
		.tag_id = tag, .file_id = file, .offset = offset, .length = 100,
		.crc = 0xdeadbeef, .t_min = t_min, .t_max = t_max, .count = 10, .seq = seq,
		.flags = 3, .min = -1.5, .max = 2.5, .sum = 7.25, .first_ts = t_min,
		.last_ts = t_max, .first_v = -1.5, .last_v = 2.5, .integral = 42.125,
		.good_count = 9,
	};
	return c;
}

static uint64_t stat_chunks(struct catalog *cat)
{
	struct catalog_stats st;

	ck_assert_ok(catalog_stats(cat, &st));
	return st.chunks;
}

/* Chunks a walk returned. */
struct chunk_list {
	struct catalog_chunk v[64];
	size_t n;
};

static int collect_chunk(void *arg, const struct catalog_chunk *c)
{
	struct chunk_list *l = arg;

	ck_assert_uint_lt(l->n, 64);
	l->v[l->n++] = *c;
	return 0;
}

/* Count only (n), for walks longer than the list holds. */
static int count_into(void *arg, const struct catalog_chunk *c)
{
	struct chunk_list *l = arg;

	(void)c;
	l->n++;
	return 0;
}

static size_t range(struct catalog *cat, uint32_t tag, int64_t t0, int64_t t1,
		    struct chunk_list *l)
{
	l->n = 0;
	ck_assert_ok(catalog_chunks_range(cat, tag, t0, t1, collect_chunk, l));
	return l->n;
}

/* Tags a walk returned: ids and names. */
struct tag_list {
	uint32_t ids[2048];
	char names[2048][32];
	enum value_type types[2048];
	size_t n;
};

static int collect_tag(void *arg, uint32_t id, const char *name, size_t len, enum value_type type)
{
	struct tag_list *l = arg;

	ck_assert_uint_lt(l->n, 2048);
	ck_assert_uint_eq(strlen(name), len);
	l->ids[l->n] = id;
	snprintf(l->names[l->n], sizeof l->names[0], "%.*s", (int)len, name);
	l->types[l->n++] = type;
	return 0;
}

static struct tag_list tags; /* big: static */

/* ---- schema ------------------------------------------------------------------- */

START_TEST(test_create_and_reopen)
{
	struct catalog *cat = cat_open();
	struct catalog_stats st;
	uint32_t a, b;

	a = tag_new(cat, "boiler.temp", VALUE_FLOAT64);
	ck_assert_ok(catalog_stats(cat, &st));
	ck_assert_uint_eq(st.tags, 1);
	ck_assert_uint_gt(st.db_bytes, 0);
	ck_assert_ok(catalog_verify(cat));
	catalog_close(cat);

	ck_assert_int_eq(raw_int("PRAGMA user_version"), CATALOG_SCHEMA_VERSION);
	ck_assert_int_eq(raw_int("PRAGMA application_id"), CATALOG_APPLICATION_ID);

	cat = cat_open();
	/* The row survived, the same name keeps its id, new ids move on. */
	ck_assert_uint_eq(tag_new(cat, "boiler.temp", VALUE_FLOAT64), a);
	b = tag_new(cat, "boiler.pressure", VALUE_FLOAT64);
	ck_assert_uint_gt(b, a);
	ck_assert_ok(catalog_stats(cat, &st));
	ck_assert_uint_eq(st.tags, 2);
	catalog_close(cat);
	catalog_close(NULL);
}
END_TEST

START_TEST(test_wal_mode)
{
	struct catalog *cat = cat_open();
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;

	tag_new(cat, "x", VALUE_BOOL);
	/* While open: WAL mode, so the -wal file exists beside it. */
	ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
	ck_assert_str_eq((const char *)sqlite3_column_text(s, 0), "wal");
	sqlite3_finalize(s);
	sqlite3_close(db);
	catalog_close(cat);
}
END_TEST

START_TEST(test_empty_file_initialised)
{
	struct catalog *cat;

	write_file(db_path, "", 0);
	cat = cat_open();
	tag_new(cat, "a", VALUE_INT64);
	catalog_close(cat);
}
END_TEST

START_TEST(test_newer_version_refused)
{
	struct catalog *cat = cat_open();
	int rc;

	catalog_close(cat);
	raw_exec("PRAGMA user_version = 4");
	cat = (struct catalog *)&cat; /* must be reset to NULL */
	rc = catalog_open(db_path, &cat, err);
	ck_assert_int_eq(rc, -EPROTONOSUPPORT);
	ck_assert_ptr_null(cat);
	ck_assert_str_contains(err, db_path);
	ck_assert_str_contains(err, "newer");
	ck_assert_str_contains(err, "version 4");
	ck_assert_str_eq(catalog_errmsg(), err);
	/* Refused without being touched. */
	ck_assert_int_eq(raw_int("PRAGMA user_version"), 4);
}
END_TEST

/* A version 1 catalog (as historian wrote it before the v2 statistics) is
 * migrated at open; its chunk rows read back without them, new rows with. */
START_TEST(test_migrate_v1)
{
	struct catalog *cat;
	struct catalog_chunk c, got;
	uint32_t a;
	uint64_t f;

	write_file(db_path, "", 0);
	raw_exec("BEGIN;" CATALOG_SCHEMA_V1_SQL "PRAGMA application_id = 1213416276;"
		 "PRAGMA user_version = 1; COMMIT;");
	raw_exec("INSERT INTO tags (name, type) VALUES ('old', 1);"
		 "INSERT INTO partitions VALUES (0, 1000);"
		 "INSERT INTO files (partition_start_ns, relpath, bytes) VALUES (0, 'p/old', 100);"
		 "INSERT INTO chunks (tag_id, t_min, seq, id, t_max, file_id, file_offset, length, crc,"
		 " sample_count, flags, v_min, v_max, v_sum, first_ts, last_ts, first_v, last_v,"
		 " integral, good_count) VALUES (1, 10, 1, 1, 20, 1, 0, 100, 7, 2, 0, 1, 2, 3, 10, 20,"
		 " 1, 2, 15, 2);"
		 "UPDATE counters SET value = 1 WHERE name IN ('tags', 'files', 'chunks');"
		 "UPDATE counters SET value = 2 WHERE name = 'next_chunk_id';");
	cat = cat_open();
	ck_assert_int_eq(raw_int("PRAGMA user_version"), CATALOG_SCHEMA_VERSION);
	ck_assert_int_eq(raw_int("SELECT compacted FROM files WHERE relpath = 'p/old'"), 0); /* v3 */
	ck_assert_ok(catalog_verify(cat));
	ck_assert_ok(catalog_chunk_get(cat, 1, &got));
	ck_assert(!got.has_ext);
	ck_assert_int_eq(got.last_ts, 20);
	a = 1;
	f = file_new(cat, 0, 1000, "p/new");
	c = mk_chunk(a, f, 0, 30, 40, 2);
	c.has_ext = true;
	c.min_ts = 31;
	c.max_ts = 39;
	c.first_q = 0x4000;
	c.last_q = 0x8000;
	c.m2 = 12.5;
	c.integral_step = 40.25;
	c.max_gap_ns = 7;
	ck_assert_ok(catalog_commit_seal(cat, &c, 1, NULL, 0));
	ck_assert_ok(catalog_chunk_get(cat, c.id, &got));
	ck_assert(got.has_ext);
	ck_assert_int_eq(got.min_ts, 31);
	ck_assert_int_eq(got.max_ts, 39);
	ck_assert_uint_eq(got.first_q, 0x4000);
	ck_assert_uint_eq(got.last_q, 0x8000);
	ck_assert_double_eq(got.m2, 12.5);
	ck_assert_double_eq(got.integral_step, 40.25);
	ck_assert_int_eq(got.max_gap_ns, 7);
	catalog_close(cat);
}
END_TEST

START_TEST(test_garbage_refused)
{
	char junk[8192];
	struct catalog *cat = NULL;
	int rc;

	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (char)(i * 131 + 7);
	write_file(db_path, junk, sizeof junk);
	rc = catalog_open(db_path, &cat, err);
	ck_assert_int_eq(rc, HS_ECORRUPT);
	ck_assert_ptr_null(cat);
	ck_assert_str_contains(err, db_path);
	ck_assert_str_contains(err, "not a database");
	ck_assert_str_contains(err, "catalog.c:"); /* where it was noticed */
}
END_TEST

START_TEST(test_foreign_db_refused)
{
	struct catalog *cat = NULL;
	sqlite3 *db = NULL;
	int rc;

	ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	rc = catalog_open(db_path, &cat, err);
	ck_assert_int_eq(rc, HS_ECORRUPT);
	ck_assert_str_contains(err, "not a historian catalog");
	/* Nothing changed: still in rollback-journal mode. */
	ck_assert_int_eq(raw_int("SELECT count(*) FROM sqlite_schema"), 1);
	ck_assert_int_eq(raw_int("PRAGMA application_id"), 0);
}
END_TEST

START_TEST(test_damaged_pages_detected)
{
	struct catalog *cat = cat_open();
	struct catalog_tag_spec specs[500];
	uint32_t ids[500];
	char names[500][32];
	unsigned char junk[4096];
	struct stat st;
	int fd, rc;

	for (size_t i = 0; i < 500; i++) {
		snprintf(names[i], sizeof names[i], "plant.area%zu.tag%zu", i % 7, i);
		specs[i] = (struct catalog_tag_spec){names[i], strlen(names[i]), VALUE_FLOAT64,
						     NULL, 0};
	}
	ck_assert_ok(catalog_tags_create(cat, specs, 500, ids, NULL));
	catalog_close(cat); /* checkpoints everything into catalog.db */

	ck_assert_int_eq(stat(db_path, &st), 0);
	ck_assert_int_gt(st.st_size, 8 * 4096);
	memset(junk, 0xA5, sizeof junk);
	fd = open(db_path, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	/* Leave page 1 (header and schema) alone; wreck the pages after it. */
	for (off_t off = 4096; off + 4096 <= st.st_size; off += 4096)
		ck_assert_int_eq(pwrite(fd, junk, sizeof junk, off), 4096);
	close(fd);

	rc = catalog_open(db_path, &cat, err);
	if (rc == 0) {
		tags.n = 0;
		rc = catalog_tags_load(cat, collect_tag, &tags);
		ck_assert_int_eq(rc, HS_ECORRUPT);
		ck_assert_str_contains(catalog_errmsg(), db_path);
		ck_assert_int_eq(catalog_verify(cat), HS_ECORRUPT);
		catalog_close(cat);
	} else {
		ck_assert_int_eq(rc, HS_ECORRUPT);
		ck_assert_str_contains(err, db_path);
	}
}
END_TEST

START_TEST(test_open_errors)
{
	struct catalog *cat = NULL;
	char path[PATH_MAX + 32];
	int rc;

	snprintf(path, sizeof path, "%s/missing/catalog.db", tmp_dir);
	rc = catalog_open(path, &cat, err);
	ck_assert_int_lt(rc, 0);
	ck_assert_ptr_null(cat);
	ck_assert_str_contains(err, path);
	ck_assert_int_eq(catalog_open("", &cat, err), -EINVAL);
	ck_assert_int_eq(catalog_open(NULL, &cat, NULL), -EINVAL);
}
END_TEST

/* ---- tags --------------------------------------------------------------------- */

START_TEST(test_tag_create_idempotent)
{
	struct catalog *cat = cat_open();
	uint32_t a, again = 0;
	enum value_type type;

	a = tag_new(cat, "pump7.speed", VALUE_FLOAT64);
	ck_assert_ok(catalog_tag_create(cat, "pump7.speed", 11, VALUE_FLOAT64, NULL, 0, &again,
					&type));
	ck_assert_uint_eq(again, a);
	/* Another type: the existing id and the stored type come back. */
	ck_assert_ok(catalog_tag_create(cat, "pump7.speed", 11, VALUE_STRING, NULL, 0, &again,
					&type));
	ck_assert_uint_eq(again, a);
	ck_assert_int_eq(type, VALUE_FLOAT64);
	/* name_len counts: a prefix is another tag. */
	ck_assert_ok(catalog_tag_create(cat, "pump7.speed", 5, VALUE_INT64, NULL, 0, &again, NULL));
	ck_assert_uint_ne(again, a);
	tags.n = 0;
	ck_assert_ok(catalog_tags_load(cat, collect_tag, &tags));
	ck_assert_uint_eq(tags.n, 2);
	ck_assert_str_eq(tags.names[1], "pump7");
	ck_assert_int_eq(tags.types[1], VALUE_INT64);
	catalog_close(cat);
}
END_TEST

START_TEST(test_tag_validation)
{
	struct catalog *cat = cat_open();
	char longname[CATALOG_NAME_MAX + 2];
	struct catalog_label dup[] = {{"site", "north"}, {"site", "south"}};
	struct catalog_label empty_v[] = {{"site", ""}};
	struct catalog_label empty_k[] = {{"", "x"}};
	uint32_t id = 7;
	struct catalog_stats st;

	memset(longname, 'n', sizeof longname);
	longname[sizeof longname - 1] = '\0';
	ck_assert_int_eq(catalog_tag_create(cat, "", 0, VALUE_FLOAT64, NULL, 0, &id, NULL), -EINVAL);
	ck_assert_str_contains(catalog_errmsg(), "empty");
	ck_assert_uint_eq(id, 0);
	ck_assert_int_eq(catalog_tag_create(cat, longname, CATALOG_NAME_MAX + 1, VALUE_FLOAT64,
					    NULL, 0, &id, NULL), -EINVAL);
	ck_assert_ok(catalog_tag_create(cat, longname, CATALOG_NAME_MAX, VALUE_FLOAT64, NULL, 0,
					&id, NULL));
	ck_assert_int_eq(catalog_tag_create(cat, "bad\xff", 4, VALUE_FLOAT64, NULL, 0, &id, NULL),
			 -EINVAL);
	ck_assert_str_contains(catalog_errmsg(), "UTF-8");
	ck_assert_int_eq(catalog_tag_create(cat, "a\0b", 3, VALUE_FLOAT64, NULL, 0, &id, NULL),
			 -EINVAL);
	ck_assert_int_eq(catalog_tag_create(cat, "t", 1, (enum value_type)9, NULL, 0, &id, NULL),
			 -EINVAL);
	ck_assert_int_eq(catalog_tag_create(cat, "t", 1, VALUE_BOOL, dup, 2, &id, NULL), -EINVAL);
	ck_assert_str_contains(catalog_errmsg(), "twice");
	ck_assert_int_eq(catalog_tag_create(cat, "t", 1, VALUE_BOOL, empty_v, 1, &id, NULL),
			 -EINVAL);
	ck_assert_int_eq(catalog_tag_create(cat, "t", 1, VALUE_BOOL, empty_k, 1, &id, NULL),
			 -EINVAL);
	ck_assert_int_eq(catalog_tag_create(cat, "t", 1, VALUE_BOOL, NULL, 3, &id, NULL), -EINVAL);
	ck_assert_int_eq(catalog_tag_create(cat, "t", 1, VALUE_BOOL, dup,
					    CATALOG_LABELS_MAX + 1, &id, NULL), -EINVAL);
	ck_assert_ok(catalog_stats(cat, &st));
	ck_assert_uint_eq(st.tags, 1); /* only the 1024-byte name */
	catalog_close(cat);
}
END_TEST

START_TEST(test_tags_batch)
{
	struct catalog *cat = cat_open();
	struct catalog_label lab[] = {{"unit", "3"}};
	struct catalog_tag_spec specs[] = {
		{"a", 1, VALUE_FLOAT64, NULL, 0},
		{"b", 1, VALUE_STRING, lab, 1},
		{"a", 1, VALUE_INT64, NULL, 0}, /* same name again: same id */
	};
	struct catalog_tag_spec bad[] = {
		{"c", 1, VALUE_FLOAT64, NULL, 0},
		{"", 0, VALUE_FLOAT64, NULL, 0},
	};
	uint32_t ids[3] = {0}, bad_ids[2] = {5, 5};
	enum value_type types[3];

	ck_assert_ok(catalog_tags_create(cat, specs, 3, ids, types));
	ck_assert_uint_eq(ids[0], ids[2]);
	ck_assert_uint_ne(ids[0], ids[1]);
	ck_assert_int_eq(types[0], VALUE_FLOAT64);
	ck_assert_int_eq(types[1], VALUE_STRING);
	ck_assert_int_eq(types[2], VALUE_FLOAT64);
	/* One bad spec refuses the batch, naming it. */
	ck_assert_int_eq(catalog_tags_create(cat, bad, 2, bad_ids, NULL), -EINVAL);
	ck_assert_str_contains(catalog_errmsg(), "tag 1 of 2");
	ck_assert_uint_eq(bad_ids[0], 0);
	tags.n = 0;
	ck_assert_ok(catalog_tags_load(cat, collect_tag, &tags));
	ck_assert_uint_eq(tags.n, 2);
	ck_assert_ok(catalog_tags_create(cat, NULL, 0, NULL, NULL));
	catalog_close(cat);
}
END_TEST

static int stop_at_second(void *arg, uint32_t id, const char *name, size_t len,
			  enum value_type type)
{
	int *seen = arg;

	(void)id;
	(void)name;
	(void)len;
	(void)type;
	return ++*seen == 2 ? 77 : 0;
}

START_TEST(test_tags_load_order_and_stop)
{
	struct catalog *cat = cat_open();
	const char *names[] = {"zeta", "alpha", "mid", "beta"};
	int seen = 0;

	for (size_t i = 0; i < 4; i++)
		tag_new(cat, names[i], (enum value_type)(VALUE_FLOAT64 + i));
	tags.n = 0;
	ck_assert_ok(catalog_tags_load(cat, collect_tag, &tags));
	ck_assert_uint_eq(tags.n, 4);
	for (size_t i = 0; i < 4; i++) {
		ck_assert_str_eq(tags.names[i], names[i]); /* id order = creation order */
		ck_assert_int_eq(tags.types[i], (int)(VALUE_FLOAT64 + i));
		if (i > 0)
			ck_assert_uint_gt(tags.ids[i], tags.ids[i - 1]);
	}
	ck_assert_int_eq(catalog_tags_load(cat, stop_at_second, &seen), 77);
	ck_assert_int_eq(seen, 2);
	catalog_close(cat);
}
END_TEST

/* ---- racing creators -------------------------------------------------------------- */

#define RACE_THREADS 4
#define RACE_NAMES 1000

struct racer {
	struct catalog *cat;
	unsigned order_seed;
	uint32_t ids[RACE_NAMES];
	int rc;
};

static void *race_create(void *arg)
{
	struct racer *r = arg;
	size_t order[RACE_NAMES];
	uint64_t x = r->order_seed;

	for (size_t i = 0; i < RACE_NAMES; i++)
		order[i] = i;
	for (size_t i = RACE_NAMES - 1; i > 0; i--) { /* Fisher-Yates with xorshift */
		size_t j, t;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		j = (size_t)(x % (i + 1));
		t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (size_t k = 0; k < RACE_NAMES && r->rc == 0; k++) {
		char name[32];
		size_t i = order[k];
		enum value_type type;
		int n = snprintf(name, sizeof name, "race.tag%04zu", i);
		r->rc = catalog_tag_create(r->cat, name, (size_t)n, VALUE_FLOAT64, NULL, 0,
					   &r->ids[i], &type);
		if (r->rc == 0 && type != VALUE_FLOAT64)
			r->rc = -1000;
	}
	return NULL;
}

START_TEST(test_tag_race)
{
	static struct racer racers[RACE_THREADS];
	struct catalog *cat = cat_open();
	const unsigned seed = 20240517;
	pthread_t th[RACE_THREADS];
	struct catalog_stats st;

	printf("check_catalog: tag race order seed %u\n", seed);
	for (size_t t = 0; t < RACE_THREADS; t++) {
		racers[t] = (struct racer){.cat = cat, .order_seed = seed + (unsigned)t * 7919};
		ck_assert_int_eq(pthread_create(&th[t], NULL, race_create, &racers[t]), 0);
	}
	for (size_t t = 0; t < RACE_THREADS; t++)
		ck_assert_int_eq(pthread_join(th[t], NULL), 0);
	for (size_t t = 0; t < RACE_THREADS; t++)
		ck_assert_msg(racers[t].rc == 0, "thread %zu: %d", t, racers[t].rc);
	for (size_t i = 0; i < RACE_NAMES; i++) {
		ck_assert_uint_gt(racers[0].ids[i], 0);
		for (size_t t = 1; t < RACE_THREADS; t++)
			ck_assert_uint_eq(racers[t].ids[i], racers[0].ids[i]);
	}
	ck_assert_ok(catalog_stats(cat, &st));
	ck_assert_uint_eq(st.tags, RACE_NAMES);
	/* Distinct ids: 1000 rows came back from 1000 names. */
	tags.n = 0;
	ck_assert_ok(catalog_tags_load(cat, collect_tag, &tags));
	ck_assert_uint_eq(tags.n, RACE_NAMES);
	catalog_close(cat);
}
END_TEST

/* ---- labels and search ------------------------------------------------------------- */

struct label_list {
	char text[16][64];
	size_t n;
};

static int collect_label(void *arg, const char *key, const char *value)
{
	struct label_list *l = arg;

	ck_assert_uint_lt(l->n, 16);
	snprintf(l->text[l->n++], sizeof l->text[0], "%s=%s", key, value);
	return 0;
}

START_TEST(test_labels)
{
	struct catalog *cat = cat_open();
	struct catalog_label lab[] = {{"unit", "3"}, {"site", "north"}, {"area", "b\xc3\xa4""ck"}};
	struct label_list l = {.n = 0};
	uint32_t id, other;

	ck_assert_ok(catalog_tag_create(cat, "boiler.temp", 11, VALUE_FLOAT64, lab, 3, &id, NULL));
	/* Existing name: labels ignored, not added. */
	ck_assert_ok(catalog_tag_create(cat, "boiler.temp", 11, VALUE_FLOAT64, lab, 1, &other, NULL));
	ck_assert_uint_eq(other, id);
	ck_assert_ok(catalog_tag_labels(cat, id, collect_label, &l));
	ck_assert_uint_eq(l.n, 3);
	ck_assert_str_eq(l.text[0], "area=b\xc3\xa4""ck"); /* key order */
	ck_assert_str_eq(l.text[1], "site=north");
	ck_assert_str_eq(l.text[2], "unit=3");
	l.n = 0;
	ck_assert_ok(catalog_tag_labels(cat, 999, collect_label, &l));
	ck_assert_uint_eq(l.n, 0);
	catalog_close(cat);
}
END_TEST

static struct catalog_label north3[] = {{"site", "north"}, {"unit", "3"}};
static struct catalog_label north4[] = {{"site", "north"}, {"unit", "4"}};
static struct catalog_label south3[] = {{"site", "south"}, {"unit", "3"}};

/* boiler.t00..t14 and pump.t15..t29; i % 3 picks north3, north4, south3. */
static struct catalog *find_fixture(void)
{
	struct catalog *cat = cat_open();
	uint32_t id;

	for (int i = 0; i < 30; i++) {
		char name[32];
		const struct catalog_label *lab = i % 3 == 0 ? north3 : i % 3 == 1 ? north4 : south3;
		int n = snprintf(name, sizeof name, "%s.t%02d", i < 15 ? "boiler" : "pump", i);
		ck_assert_ok(catalog_tag_create(cat, name, (size_t)n, VALUE_FLOAT64, lab, 2, &id,
						NULL));
	}
	return cat;
}

static size_t find(struct catalog *cat, const struct catalog_find *q)
{
	tags.n = 0;
	ck_assert_ok(catalog_tags_find(cat, q, collect_tag, &tags));
	return tags.n;
}

START_TEST(test_find)
{
	struct catalog *cat = find_fixture();
	struct catalog_find q = {0};

	ck_assert_uint_eq(find(cat, &q), 30); /* everything */
	q.glob = "pump.*";
	ck_assert_uint_eq(find(cat, &q), 15);
	ck_assert_str_eq(tags.names[0], "pump.t15");
	q.glob = "boiler.t1[0-2]";
	ck_assert_uint_eq(find(cat, &q), 3);
	q.glob = NULL; /* one label: i % 3 != 2 */
	q.labels = north3;
	q.nlabels = 1;
	ck_assert_uint_eq(find(cat, &q), 20);
	q.nlabels = 2; /* site=north and unit=3: i % 3 == 0 */
	ck_assert_uint_eq(find(cat, &q), 10);
	ck_assert_str_eq(tags.names[0], "boiler.t00");
	ck_assert_str_eq(tags.names[9], "pump.t27");
	q.glob = "pump.*"; /* and the glob */
	ck_assert_uint_eq(find(cat, &q), 5);
	q.labels = south3 + 1; /* unit=3 alone: i % 3 != 1 */
	q.nlabels = 1;
	q.glob = NULL;
	ck_assert_uint_eq(find(cat, &q), 20);
	q.nlabels = CATALOG_FIND_LABELS_MAX + 1;
	ck_assert_int_eq(catalog_tags_find(cat, &q, collect_tag, &tags), -EINVAL);
	q.nlabels = 0;
	q.glob = "";
	ck_assert_int_eq(catalog_tags_find(cat, &q, collect_tag, &tags), -EINVAL);
	catalog_close(cat);
}
END_TEST

START_TEST(test_find_paging)
{
	struct catalog *cat = find_fixture();
	struct catalog_find q = {.labels = north3, .nlabels = 2, .limit = 4};

	/* 10 matches in pages of 4: 4 + 4 + 2 + 0, in id order, no repeats. */
	tags.n = 0;
	for (int page = 0; page < 4; page++) {
		size_t before = tags.n;
		q.after_id = tags.n ? tags.ids[tags.n - 1] : 0;
		ck_assert_ok(catalog_tags_find(cat, &q, collect_tag, &tags));
		ck_assert_uint_eq(tags.n - before, page < 2 ? 4 : page == 2 ? 2 : 0);
	}
	for (size_t i = 1; i < tags.n; i++)
		ck_assert_uint_gt(tags.ids[i], tags.ids[i - 1]);
	/* Without labels, paging walks the tags table. */
	q.nlabels = 0;
	q.limit = 7;
	q.after_id = 0;
	tags.n = 0;
	while (1) {
		size_t before = tags.n;
		ck_assert_ok(catalog_tags_find(cat, &q, collect_tag, &tags));
		if (tags.n == before)
			break;
		q.after_id = tags.ids[tags.n - 1];
	}
	ck_assert_uint_eq(tags.n, 30);
	catalog_close(cat);
}
END_TEST

/* ---- metadata --------------------------------------------------------------------- */

START_TEST(test_meta_defaults)
{
	struct catalog *cat = cat_open();
	uint32_t f = tag_new(cat, "f", VALUE_FLOAT64), i = tag_new(cat, "i", VALUE_INT64);
	uint32_t b = tag_new(cat, "b", VALUE_BOOL), s = tag_new(cat, "s", VALUE_STRING);
	struct catalog_meta m;

	ck_assert_ok(catalog_meta_get(cat, f, &m));
	ck_assert_str_eq(m.unit, "");
	ck_assert_str_eq(m.description, "");
	ck_assert(isnan(m.eng_low) && isnan(m.eng_high));
	ck_assert_int_eq(m.interpolation, CATALOG_INTERP_LINEAR);
	ck_assert_int_eq(m.display_digits, -1);
	ck_assert_int_eq(m.stale_timeout_ns, 0);
	ck_assert_ok(catalog_meta_get(cat, i, &m));
	ck_assert_int_eq(m.interpolation, CATALOG_INTERP_STEP);
	ck_assert_ok(catalog_meta_get(cat, b, &m));
	ck_assert_int_eq(m.interpolation, CATALOG_INTERP_STEP);
	ck_assert_ok(catalog_meta_get(cat, s, &m));
	ck_assert_int_eq(m.interpolation, CATALOG_INTERP_STEP);
	ck_assert_int_eq(catalog_meta_get(cat, 12345, &m), -ENOENT);
	catalog_close(cat);
}
END_TEST

START_TEST(test_meta_round_trip)
{
	struct catalog *cat = cat_open();
	uint32_t id = tag_new(cat, "boiler.temp", VALUE_FLOAT64);
	struct catalog_meta m, got;

	catalog_meta_defaults(&m, VALUE_FLOAT64);
	snprintf(m.unit, sizeof m.unit, "\xc2\xb0""C");
	snprintf(m.description, sizeof m.description, "Boiler 3 outlet temperature");
	m.eng_low = -40;
	m.eng_high = 250.5;
	m.interpolation = CATALOG_INTERP_STEP;
	m.display_digits = 2;
	m.stale_timeout_ns = 300000000000;
	ck_assert_ok(catalog_meta_set(cat, id, &m));
	catalog_close(cat);

	cat = cat_open();
	ck_assert_ok(catalog_meta_get(cat, id, &got));
	ck_assert_str_eq(got.unit, "\xc2\xb0""C");
	ck_assert_str_eq(got.description, m.description);
	ck_assert_double_eq(got.eng_low, -40);
	ck_assert_double_eq(got.eng_high, 250.5);
	ck_assert_int_eq(got.interpolation, CATALOG_INTERP_STEP);
	ck_assert_int_eq(got.display_digits, 2);
	ck_assert_int_eq(got.stale_timeout_ns, 300000000000);

	/* Set again: replaced, and unset fields read back unset. */
	catalog_meta_defaults(&m, VALUE_FLOAT64);
	m.eng_high = 10;
	ck_assert_ok(catalog_meta_set(cat, id, &m));
	ck_assert_ok(catalog_meta_get(cat, id, &got));
	ck_assert_str_eq(got.unit, "");
	ck_assert(isnan(got.eng_low));
	ck_assert_double_eq(got.eng_high, 10);
	ck_assert_int_eq(got.interpolation, CATALOG_INTERP_LINEAR);
	ck_assert_int_eq(got.display_digits, -1);
	catalog_close(cat);
}
END_TEST

START_TEST(test_meta_validation)
{
	struct catalog *cat = cat_open();
	uint32_t f = tag_new(cat, "f", VALUE_FLOAT64), s = tag_new(cat, "s", VALUE_STRING);
	struct catalog_meta m, got;

	catalog_meta_defaults(&m, VALUE_FLOAT64);
	ck_assert_int_eq(catalog_meta_set(cat, 999, &m), -ENOENT);
	ck_assert_int_eq(catalog_meta_set(cat, s, &m), -EINVAL); /* linear string */
	m.interpolation = CATALOG_INTERP_STEP;
	ck_assert_ok(catalog_meta_set(cat, s, &m));

	catalog_meta_defaults(&m, VALUE_FLOAT64);
	memset(m.unit, 'u', sizeof m.unit); /* not terminated */
	ck_assert_int_eq(catalog_meta_set(cat, f, &m), -EINVAL);
	catalog_meta_defaults(&m, VALUE_FLOAT64);
	snprintf(m.description, sizeof m.description, "bad \xc0\x80");
	ck_assert_int_eq(catalog_meta_set(cat, f, &m), -EINVAL);
	catalog_meta_defaults(&m, VALUE_FLOAT64);
	m.eng_low = 5;
	m.eng_high = 5;
	ck_assert_int_eq(catalog_meta_set(cat, f, &m), -EINVAL);
	m.eng_low = -INFINITY;
	m.eng_high = NAN;
	ck_assert_int_eq(catalog_meta_set(cat, f, &m), -EINVAL);
	catalog_meta_defaults(&m, VALUE_FLOAT64);
	m.display_digits = 18;
	ck_assert_int_eq(catalog_meta_set(cat, f, &m), -EINVAL);
	m.display_digits = -2;
	ck_assert_int_eq(catalog_meta_set(cat, f, &m), -EINVAL);
	catalog_meta_defaults(&m, VALUE_FLOAT64);
	m.stale_timeout_ns = -1;
	ck_assert_int_eq(catalog_meta_set(cat, f, &m), -EINVAL);
	m.stale_timeout_ns = 0;
	m.interpolation = (enum catalog_interp)7;
	ck_assert_int_eq(catalog_meta_set(cat, f, &m), -EINVAL);
	/* Nothing stuck. */
	ck_assert_ok(catalog_meta_get(cat, f, &got));
	ck_assert_int_eq(got.display_digits, -1);
	ck_assert_int_eq(got.stale_timeout_ns, 0);
	catalog_close(cat);
}
END_TEST

/* ---- seal commits -------------------------------------------------------------------- */

START_TEST(test_seal_commit)
{
	struct catalog *cat = cat_open();
	uint32_t a = tag_new(cat, "a", VALUE_FLOAT64), b = tag_new(cat, "b", VALUE_INT64);
	uint64_t f = file_new(cat, 0, 1000000, "chunks/p0/000001.chk");
	struct catalog_chunk c[2] = {mk_chunk(a, f, 0, 10, 20, 1), mk_chunk(b, f, 100, 15, 25, 1)};
	struct catalog_state_kv st[] = {{"wal.checkpoint", 4096}, {"seal.seq", 1}};
	struct catalog_chunk got;
	uint64_t v = 0;
	bool found = false;

	ck_assert_ok(catalog_commit_seal(cat, c, 2, st, 2));
	ck_assert_uint_gt(c[0].id, 0);
	ck_assert_uint_eq(c[1].id, c[0].id + 1);
	ck_assert_ok(catalog_state_get(cat, "wal.checkpoint", &v, &found));
	ck_assert(found);
	ck_assert_uint_eq(v, 4096);
	ck_assert_uint_eq(stat_chunks(cat), 2);
	catalog_close(cat);

	cat = cat_open(); /* every field survives */
	ck_assert_ok(catalog_chunk_get(cat, c[1].id, &got));
	ck_assert_uint_eq(got.tag_id, b);
	ck_assert_uint_eq(got.file_id, f);
	ck_assert_uint_eq(got.offset, 100);
	ck_assert_uint_eq(got.length, 100);
	ck_assert_uint_eq(got.crc, 0xdeadbeef);
	ck_assert_int_eq(got.t_min, 15);
	ck_assert_int_eq(got.t_max, 25);
	ck_assert_uint_eq(got.count, 10);
	ck_assert_uint_eq(got.seq, 1);
	ck_assert_uint_eq(got.flags, 3);
	ck_assert_double_eq(got.min, -1.5);
	ck_assert_double_eq(got.max, 2.5);
	ck_assert_double_eq(got.sum, 7.25);
	ck_assert_int_eq(got.first_ts, 15);
	ck_assert_int_eq(got.last_ts, 25);
	ck_assert_double_eq(got.first_v, -1.5);
	ck_assert_double_eq(got.last_v, 2.5);
	ck_assert_double_eq(got.integral, 42.125);
	ck_assert_uint_eq(got.good_count, 9);
	ck_assert_int_eq(catalog_chunk_get(cat, 999, &got), -ENOENT);
	ck_assert_ok(catalog_verify(cat));
	catalog_close(cat);
}
END_TEST

START_TEST(test_seal_special_values)
{
	struct catalog *cat = cat_open();
	uint32_t a = tag_new(cat, "a", VALUE_FLOAT64);
	uint64_t f = file_new(cat, 0, 1000, "p/1");
	struct catalog_chunk c = mk_chunk(a, f, 0, INT64_MIN, INT64_MAX, INT64_MAX);
	struct catalog_chunk got;

	c.min = NAN;
	c.max = INFINITY;
	c.sum = -INFINITY;
	c.crc = UINT32_MAX;
	c.count = UINT32_MAX;
	c.good_count = UINT32_MAX;
	c.length = UINT32_MAX;
	c.flags = UINT32_MAX;
	ck_assert_ok(catalog_commit_seal(cat, &c, 1, NULL, 0));
	ck_assert_ok(catalog_chunk_get(cat, c.id, &got));
	ck_assert(isnan(got.min));
	ck_assert(isinf(got.max) && got.max > 0);
	ck_assert(isinf(got.sum) && got.sum < 0);
	ck_assert_uint_eq(got.crc, UINT32_MAX);
	ck_assert_uint_eq(got.count, UINT32_MAX);
	ck_assert_uint_eq(got.length, UINT32_MAX);
	ck_assert_uint_eq(got.seq, (uint64_t)INT64_MAX);
	ck_assert_int_eq(got.t_min, INT64_MIN);
	ck_assert_int_eq(got.t_max, INT64_MAX);
	catalog_close(cat);
}
END_TEST

/* A constraint fails in the middle of the batch: nothing commits. */
START_TEST(test_seal_atomic)
{
	struct catalog *cat = cat_open();
	uint32_t a = tag_new(cat, "a", VALUE_FLOAT64);
	uint64_t f = file_new(cat, 0, 1000000, "p/1");
	struct catalog_chunk ok = mk_chunk(a, f, 0, 0, 10, 1);
	struct catalog_chunk bad_tag[3] = {mk_chunk(a, f, 100, 10, 20, 2),
					   mk_chunk(a, f, 200, 20, 30, 2),
					   mk_chunk(a + 50, f, 300, 20, 30, 2)};
	struct catalog_chunk dup[3] = {mk_chunk(a, f, 100, 10, 20, 2),
				       mk_chunk(a, f, 200, 20, 30, 2),
				       mk_chunk(a, f, 100, 30, 40, 2)};
	struct catalog_chunk bad_file = mk_chunk(a, f + 9, 0, 30, 40, 2);
	struct catalog_state_kv st1 = {"wal.checkpoint", 1}, st2 = {"wal.checkpoint", 2};
	struct chunk_list l;
	uint64_t v = 0;
	bool found;

	ck_assert_ok(catalog_commit_seal(cat, &ok, 1, &st1, 1));
	ck_assert_int_eq(catalog_commit_seal(cat, bad_tag, 3, &st2, 1), -EINVAL);
	ck_assert_str_contains(catalog_errmsg(), "chunk 2");
	ck_assert_str_contains(catalog_errmsg(), "FOREIGN KEY");
	ck_assert_uint_eq(bad_tag[0].id, 0); /* ids not handed out */
	ck_assert_int_eq(catalog_commit_seal(cat, dup, 3, &st2, 1), -EINVAL);
	ck_assert_str_contains(catalog_errmsg(), "UNIQUE");
	ck_assert_int_eq(catalog_commit_seal(cat, &bad_file, 1, &st2, 1), -EINVAL);

	ck_assert_uint_eq(stat_chunks(cat), 1);
	ck_assert_uint_eq(range(cat, a, INT64_MIN, INT64_MAX, &l), 1);
	ck_assert_ok(catalog_state_get(cat, "wal.checkpoint", &v, &found));
	ck_assert_uint_eq(v, 1);
	/* The writer is usable again, and ids continue without a gap problem. */
	ck_assert_ok(catalog_commit_seal(cat, dup, 2, &st2, 1));
	ck_assert_uint_gt(dup[0].id, ok.id);
	ck_assert_ok(catalog_state_get(cat, "wal.checkpoint", &v, &found));
	ck_assert_uint_eq(v, 2);
	ck_assert_ok(catalog_verify(cat));
	catalog_close(cat);
}
END_TEST

START_TEST(test_seal_validation)
{
	struct catalog *cat = cat_open();
	uint32_t a = tag_new(cat, "a", VALUE_FLOAT64);
	uint64_t f = file_new(cat, 0, 1000, "p/1");
	struct catalog_chunk c;
	struct catalog_state_kv empty_key = {"", 1};

#define EXPECT_BAD(field_edit)                                               \
	do {                                                                 \
		c = mk_chunk(a, f, 0, 10, 20, 1);                            \
		field_edit;                                                  \
		ck_assert_int_eq(catalog_commit_seal(cat, &c, 1, NULL, 0), -EINVAL); \
	} while (0)
	EXPECT_BAD(c.tag_id = 0);
	EXPECT_BAD(c.file_id = 0);
	EXPECT_BAD(c.length = 0);
	EXPECT_BAD(c.t_min = 21);
	EXPECT_BAD(c.count = 0);
	EXPECT_BAD(c.good_count = 11);
	EXPECT_BAD(c.seq = (uint64_t)INT64_MAX + 1);
	EXPECT_BAD(c.offset = (uint64_t)INT64_MAX);
	EXPECT_BAD(c.first_ts = 9);
	EXPECT_BAD(c.last_ts = 21);
#undef EXPECT_BAD
	c = mk_chunk(a, f, 0, 10, 20, 1);
	ck_assert_int_eq(catalog_commit_seal(cat, &c, 1, &empty_key, 1), -EINVAL);
	ck_assert_uint_eq(stat_chunks(cat), 0);
	ck_assert_ok(catalog_commit_seal(cat, NULL, 0, NULL, 0)); /* empty seal */
	catalog_close(cat);
}
END_TEST

/* Disk full mid-commit (RLIMIT_FSIZE cuts the -wal writes): refused with
 * -ENOSPC or -EIO, nothing half-committed, and writes resume afterwards. */
START_TEST(test_seal_disk_full)
{
	struct catalog *cat = cat_open();
	static struct catalog_tag_spec specs[300];
	static char names[300][16];
	static struct catalog_chunk c[300];
	uint32_t ids[300];
	struct catalog_state_kv st1 = {"wal.checkpoint", 1}, st2 = {"wal.checkpoint", 2};
	struct rlimit old, lim;
	void (*old_handler)(int);
	uint64_t f, v = 0;
	bool found;
	int rc;

	for (size_t i = 0; i < 300; i++) {
		snprintf(names[i], sizeof names[i], "t%zu", i);
		specs[i] = (struct catalog_tag_spec){names[i], strlen(names[i]), VALUE_FLOAT64,
						     NULL, 0};
	}
	ck_assert_ok(catalog_tags_create(cat, specs, 300, ids, NULL));
	f = file_new(cat, 0, 1000000, "p/1");
	for (size_t i = 0; i < 300; i++)
		c[i] = mk_chunk(ids[i], f, i * 100, 0, 10, 1);
	ck_assert_ok(catalog_commit_seal(cat, c, 1, &st1, 1));

	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	old_handler = signal(SIGXFSZ, SIG_IGN);
	lim = old;
	lim.rlim_cur = 8192; /* far below what 299 chunk rows need in the -wal */
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	rc = catalog_commit_seal(cat, c + 1, 299, &st2, 1);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, old_handler);
	ck_assert_msg(rc == -ENOSPC || rc == -EIO, "rc %d: %s", rc, catalog_errmsg());
	ck_assert_str_contains(catalog_errmsg(), db_path);
	ck_assert_uint_eq(c[1].id, 0);

	ck_assert_uint_eq(stat_chunks(cat), 1);
	ck_assert_ok(catalog_state_get(cat, "wal.checkpoint", &v, &found));
	ck_assert_uint_eq(v, 1);
	/* Space is back: the same seal goes through. */
	ck_assert_ok(catalog_commit_seal(cat, c + 1, 299, &st2, 1));
	catalog_close(cat);
	cat = cat_open();
	ck_assert_uint_eq(stat_chunks(cat), 300);
	ck_assert_ok(catalog_verify(cat));
	catalog_close(cat);
}
END_TEST

/* kill -9 in the middle of a stream of seals: every seal that returned is
 * there after recovery, and chunk rows and the state row moved together. */
#define KILL_TAGS 8

static void seal_forever(const uint32_t *ids, uint64_t file, int out_fd)
{
	struct catalog_chunk c[KILL_TAGS];
	struct catalog *cat = NULL;

	if (catalog_open(db_path, &cat, err) != 0)
		_exit(1);
	for (uint64_t k = 1; k < 100000; k++) {
		struct catalog_state_kv st = {"seal", k};
		for (size_t i = 0; i < KILL_TAGS; i++)
			c[i] = mk_chunk(ids[i], file, (k * KILL_TAGS + i) * 100, (int64_t)k * 10,
					(int64_t)k * 10 + 9, k);
		if (catalog_commit_seal(cat, c, KILL_TAGS, &st, 1) != 0 ||
		    write(out_fd, &k, sizeof k) != (ssize_t)sizeof k)
			_exit(2);
	}
	_exit(3); /* never reached in time: the parent kills us */
}

START_TEST(test_seal_survives_kill)
{
	struct catalog *cat = cat_open();
	struct catalog_tag_spec specs[KILL_TAGS];
	char names[KILL_TAGS][8];
	uint32_t ids[KILL_TAGS];
	uint64_t file, k = 0, got, state = 0;
	struct chunk_list l;
	int fds[2], status;
	bool found;
	pid_t pid;

	for (size_t i = 0; i < KILL_TAGS; i++) {
		snprintf(names[i], sizeof names[i], "k%zu", i);
		specs[i] = (struct catalog_tag_spec){names[i], strlen(names[i]), VALUE_FLOAT64,
						     NULL, 0};
	}
	ck_assert_ok(catalog_tags_create(cat, specs, KILL_TAGS, ids, NULL));
	file = file_new(cat, 0, INT64_MAX, "p/1");
	catalog_close(cat); /* no SQLite connection across fork */
	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		seal_forever(ids, file, fds[1]);
	}
	close(fds[1]);
	while (k < 40 && read(fds[0], &got, sizeof got) == (ssize_t)sizeof got)
		k = got;
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	close(fds[0]);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		      "child ended by itself (status 0x%x) after seal %llu", (unsigned)status,
		      (unsigned long long)k);
	ck_assert_uint_ge(k, 40);

	cat = cat_open();
	ck_assert_ok(catalog_state_get(cat, "seal", &state, &found));
	ck_assert_uint_ge(state, k); /* at most a seal or two more than reported */
	ck_assert_uint_eq(stat_chunks(cat), state * KILL_TAGS);
	l.n = 0;
	ck_assert_ok(catalog_chunks_range(cat, ids[3], INT64_MIN, INT64_MAX, count_into, &l));
	ck_assert_uint_eq(l.n, state);
	ck_assert_ok(catalog_verify(cat));
	catalog_close(cat);
}
END_TEST

START_TEST(test_verify_counters)
{
	struct catalog *cat = cat_open();

	tag_new(cat, "a", VALUE_FLOAT64);
	ck_assert_ok(catalog_verify(cat));
	catalog_close(cat);
	raw_exec("UPDATE counters SET value = 5 WHERE name = 'tags'");
	cat = cat_open();
	ck_assert_int_eq(catalog_verify(cat), HS_ECORRUPT);
	ck_assert_str_contains(catalog_errmsg(), "counter tags is 5");
	ck_assert_str_contains(catalog_errmsg(), db_path);
	catalog_close(cat);
}
END_TEST

/* ---- ranges --------------------------------------------------------------------------- */

/* Chunks [0,9] [10,19] [20,29] [30,39] of tag a, one chunk of tag b. */
static struct catalog *ranges_fixture(uint32_t *a, uint32_t *b)
{
	struct catalog *cat = cat_open();
	struct catalog_chunk c[5];
	uint64_t f;

	*a = tag_new(cat, "a", VALUE_FLOAT64);
	*b = tag_new(cat, "b", VALUE_FLOAT64);
	f = file_new(cat, 0, 1000, "p/1");
	for (int i = 0; i < 4; i++)
		c[i] = mk_chunk(*a, f, (uint64_t)i * 100, i * 10, i * 10 + 9, 1);
	c[4] = mk_chunk(*b, f, 400, 0, 100, 1);
	ck_assert_ok(catalog_commit_seal(cat, c, 5, NULL, 0));
	return cat;
}

START_TEST(test_range_edges)
{
	uint32_t a, b;
	struct catalog *cat = ranges_fixture(&a, &b);
	struct chunk_list l;

	ck_assert_uint_eq(range(cat, a, INT64_MIN, INT64_MAX, &l), 4);
	ck_assert_uint_eq(range(cat, a, 10, 20, &l), 1); /* exactly one chunk */
	ck_assert_int_eq(l.v[0].t_min, 10);
	ck_assert_uint_eq(range(cat, a, 9, 20, &l), 2); /* t0 on a t_max: included */
	ck_assert_int_eq(l.v[0].t_min, 0);
	ck_assert_uint_eq(range(cat, a, 10, 21, &l), 2); /* t1 past a t_min: included */
	ck_assert_int_eq(l.v[1].t_min, 20);
	ck_assert_uint_eq(range(cat, a, 19, 20, &l), 1); /* [19, 20): only [10,19] */
	ck_assert_uint_eq(range(cat, a, 20, 20, &l), 0); /* empty */
	ck_assert_uint_eq(range(cat, a, 30, 10, &l), 0); /* reversed */
	ck_assert_uint_eq(range(cat, a, 40, 100, &l), 0); /* after the last */
	ck_assert_uint_eq(range(cat, a, 39, 40, &l), 1);
	ck_assert_uint_eq(range(cat, a, -100, 0, &l), 0); /* t1 == first t_min: excluded */
	ck_assert_uint_eq(range(cat, a, -100, 1, &l), 1);
	ck_assert_uint_eq(range(cat, b, 50, 51, &l), 1); /* other tag alone */
	ck_assert_uint_eq(l.v[0].tag_id, b);
	ck_assert_uint_eq(range(cat, 999, INT64_MIN, INT64_MAX, &l), 0);
	catalog_close(cat);
}
END_TEST

START_TEST(test_range_overlaps_ordered)
{
	struct catalog *cat = cat_open();
	uint32_t a = tag_new(cat, "a", VALUE_FLOAT64);
	uint64_t f = file_new(cat, 0, 1000, "p/1");
	/* Committed out of order: late chunks with newer seqs overlap older ones. */
	struct catalog_chunk c[5] = {
		mk_chunk(a, f, 0, 50, 60, 7),  mk_chunk(a, f, 100, 10, 20, 9),
		mk_chunk(a, f, 200, 10, 30, 3), mk_chunk(a, f, 300, 0, 55, 5),
		mk_chunk(a, f, 400, 10, 12, 4),
	};
	const int64_t want_tmin[] = {0, 10, 10, 10, 50};
	const uint64_t want_seq[] = {5, 3, 4, 9, 7};
	struct chunk_list l;

	ck_assert_ok(catalog_commit_seal(cat, c, 5, NULL, 0));
	ck_assert_uint_eq(range(cat, a, INT64_MIN, INT64_MAX, &l), 5);
	for (size_t i = 0; i < 5; i++) {
		ck_assert_int_eq(l.v[i].t_min, want_tmin[i]);
		ck_assert_uint_eq(l.v[i].seq, want_seq[i]);
	}
	/* Far from the wide chunk's start, it is still found. */
	ck_assert_uint_eq(range(cat, a, 54, 55, &l), 2);
	ck_assert_int_eq(l.v[0].t_min, 0);
	ck_assert_int_eq(l.v[1].t_min, 50);
	catalog_close(cat);
}
END_TEST

/* A chunk far wider than the others (e.g. from compaction) after many
 * narrow ones: the span bound must still reach it. */
START_TEST(test_range_wide_chunk)
{
	struct catalog *cat = cat_open();
	uint32_t a = tag_new(cat, "a", VALUE_FLOAT64);
	uint64_t f = file_new(cat, 0, INT64_MAX, "p/1");
	struct catalog_chunk c[41];
	struct chunk_list l;
	bool found;
	int64_t first, last;

	for (int i = 0; i < 40; i++)
		c[i] = mk_chunk(a, f, (uint64_t)i * 100, 1000 + i * 10, 1000 + i * 10 + 5, 1);
	c[40] = mk_chunk(a, f, 9000, -1000000, 500, 2); /* ends before the narrow ones */
	ck_assert_ok(catalog_commit_seal(cat, c, 40, NULL, 0));
	ck_assert_ok(catalog_commit_seal(cat, c + 40, 1, NULL, 0));
	ck_assert_uint_eq(range(cat, a, 400, 401, &l), 1);
	ck_assert_int_eq(l.v[0].t_min, -1000000);
	ck_assert_uint_eq(range(cat, a, 501, 1000, &l), 0);
	ck_assert_ok(catalog_tag_extent(cat, a, &first, &last, &found));
	ck_assert(found);
	ck_assert_int_eq(first, -1000000);
	ck_assert_int_eq(last, 1000 + 39 * 10 + 5);
	ck_assert_ok(catalog_chunk_after(cat, a, 0, &c[0], &found));
	ck_assert(found);
	ck_assert_int_eq(c[0].t_min, -1000000);
	catalog_close(cat);
}
END_TEST

START_TEST(test_before_after)
{
	uint32_t a, b;
	struct catalog *cat = ranges_fixture(&a, &b);
	struct catalog_chunk c;
	bool found = true;
	int64_t first, last;

	ck_assert_ok(catalog_chunk_before(cat, a, 0, &c, &found)); /* nothing starts before 0 */
	ck_assert(!found);
	ck_assert_ok(catalog_chunk_before(cat, a, 1, &c, &found));
	ck_assert(found);
	ck_assert_int_eq(c.t_min, 0);
	ck_assert_ok(catalog_chunk_before(cat, a, 20, &c, &found)); /* t_min < t strictly */
	ck_assert_int_eq(c.t_min, 10);
	ck_assert_ok(catalog_chunk_before(cat, a, 25, &c, &found));
	ck_assert_int_eq(c.t_min, 20);
	ck_assert_ok(catalog_chunk_before(cat, a, INT64_MAX, &c, &found));
	ck_assert_int_eq(c.t_min, 30);

	ck_assert_ok(catalog_chunk_after(cat, a, INT64_MIN, &c, &found));
	ck_assert(found);
	ck_assert_int_eq(c.t_min, 0);
	ck_assert_ok(catalog_chunk_after(cat, a, 9, &c, &found)); /* t_max >= t */
	ck_assert_int_eq(c.t_min, 0);
	ck_assert_ok(catalog_chunk_after(cat, a, 10, &c, &found));
	ck_assert_int_eq(c.t_min, 10);
	ck_assert_ok(catalog_chunk_after(cat, a, 39, &c, &found));
	ck_assert_int_eq(c.t_min, 30);
	ck_assert_ok(catalog_chunk_after(cat, a, 40, &c, &found));
	ck_assert(!found);

	ck_assert_ok(catalog_tag_extent(cat, a, &first, &last, &found));
	ck_assert(found);
	ck_assert_int_eq(first, 0);
	ck_assert_int_eq(last, 39);
	ck_assert_ok(catalog_tag_extent(cat, 999, &first, &last, &found));
	ck_assert(!found);
	catalog_close(cat);
}
END_TEST

/* ---- compaction ------------------------------------------------------------------------ */

START_TEST(test_replace_chunks)
{
	uint32_t a, b;
	struct catalog *cat = ranges_fixture(&a, &b);
	uint64_t f2 = file_new(cat, 0, 1000, "p/2");
	struct chunk_list l;
	struct catalog_chunk merged = mk_chunk(a, f2, 0, 0, 19, 2);
	struct catalog_chunk bad = mk_chunk(a, f2, 100, 20, 39, 2);
	uint64_t old[2], missing[2];

	ck_assert_uint_eq(range(cat, a, 0, 20, &l), 2);
	old[0] = l.v[0].id;
	old[1] = l.v[1].id;
	missing[0] = l.v[0].id;
	missing[1] = 999999;
	/* An unknown old id: nothing deleted, nothing inserted. */
	ck_assert_int_eq(catalog_replace_chunks(cat, missing, 2, &merged, 1), -ENOENT);
	ck_assert_uint_eq(merged.id, 0);
	ck_assert_uint_eq(range(cat, a, INT64_MIN, INT64_MAX, &l), 4);
	/* An invalid new chunk (same offset twice): nothing changes either. */
	struct catalog_chunk two[2] = {merged, merged};
	ck_assert_int_eq(catalog_replace_chunks(cat, old, 2, two, 2), -EINVAL);
	ck_assert_uint_eq(range(cat, a, INT64_MIN, INT64_MAX, &l), 4);
	ck_assert_uint_eq(stat_chunks(cat), 5);
	/* The same id twice is refused as well. */
	uint64_t twice[2] = {old[0], old[0]};
	ck_assert_int_eq(catalog_replace_chunks(cat, twice, 2, &merged, 1), -ENOENT);

	ck_assert_ok(catalog_replace_chunks(cat, old, 2, &merged, 1));
	ck_assert_uint_gt(merged.id, 0);
	ck_assert_uint_eq(range(cat, a, INT64_MIN, INT64_MAX, &l), 3);
	ck_assert_uint_eq(l.v[0].id, merged.id);
	ck_assert_uint_eq(l.v[0].file_id, f2);
	ck_assert_uint_eq(stat_chunks(cat), 4);
	ck_assert_int_eq(catalog_chunk_get(cat, old[0], &bad), -ENOENT);
	ck_assert_ok(catalog_verify(cat));
	catalog_close(cat);
}
END_TEST

/* ---- files and partitions ----------------------------------------------------------------- */

struct part_list {
	struct catalog_partition v[8];
	size_t n;
};

static int collect_part(void *arg, const struct catalog_partition *p)
{
	struct part_list *l = arg;

	ck_assert_uint_lt(l->n, 8);
	l->v[l->n++] = *p;
	return 0;
}

struct file_list {
	uint64_t ids[8];
	char paths[8][64];
	size_t n;
	struct catalog *cat; /* when set: check the catalog no longer lists the file */
};

static int collect_file(void *arg, const struct catalog_file *f)
{
	struct file_list *l = arg;

	ck_assert_uint_lt(l->n, 8);
	l->ids[l->n] = f->id;
	snprintf(l->paths[l->n++], sizeof l->paths[0], "%s", f->relpath);
	if (l->cat) {
		/* Called after the commit with no connection held: may query. */
		struct part_list p = {.n = 0};
		ck_assert_ok(catalog_partitions_list(l->cat, collect_part, &p));
		for (size_t i = 0; i < p.n; i++)
			ck_assert_int_ne(p.v[i].start_ns, f->partition_start_ns);
	}
	return 0;
}

START_TEST(test_files)
{
	struct catalog *cat = cat_open();
	uint32_t a = tag_new(cat, "a", VALUE_FLOAT64);
	uint64_t f1 = file_new(cat, 100, 200, "p100/1"), f2 = file_new(cat, 100, 200, "p100/2");
	uint64_t f3 = file_new(cat, 0, 100, "p0/1"), id = 5;
	struct catalog_chunk c = mk_chunk(a, f1, 4000, 150, 160, 1);
	struct part_list p = {.n = 0};
	struct file_list fl = {.n = 0};
	struct chunk_list cl = {.n = 0};

	ck_assert_int_eq(catalog_file_add(cat, 100, 200, "p100/1", &id), -EEXIST);
	ck_assert_uint_eq(id, 0);
	ck_assert_int_eq(catalog_file_add(cat, 100, 300, "x", &id), -EINVAL); /* other end */
	ck_assert_int_eq(catalog_file_add(cat, 150, 250, "x", &id), -EINVAL); /* overlap */
	ck_assert_int_eq(catalog_file_add(cat, 300, 300, "x", &id), -EINVAL); /* empty */
	ck_assert_int_eq(catalog_file_add(cat, 300, 400, "", &id), -EINVAL);

	ck_assert_ok(catalog_commit_seal(cat, &c, 1, NULL, 0));
	ck_assert_ok(catalog_file_set_bytes(cat, f2, 777));
	ck_assert_int_eq(catalog_file_set_bytes(cat, 999, 1), -ENOENT);
	ck_assert_ok(catalog_partitions_list(cat, collect_part, &p));
	ck_assert_uint_eq(p.n, 2);
	ck_assert_int_eq(p.v[0].start_ns, 0); /* oldest first */
	ck_assert_uint_eq(p.v[0].files, 1);
	ck_assert_uint_eq(p.v[0].bytes, 0);
	ck_assert_int_eq(p.v[1].start_ns, 100);
	ck_assert_int_eq(p.v[1].end_ns, 200);
	ck_assert_uint_eq(p.v[1].files, 2);
	ck_assert_uint_eq(p.v[1].bytes, 4100 + 777); /* f1 extended to the chunk's end */
	ck_assert_uint_eq(p.v[1].compacted_files, 0);
	ck_assert_ok(catalog_file_set_compacted(cat, f2));
	ck_assert_int_eq(catalog_file_set_compacted(cat, 999), -ENOENT);
	p.n = 0;
	ck_assert_ok(catalog_partitions_list(cat, collect_part, &p));
	ck_assert_uint_eq(p.v[0].compacted_files, 0);
	ck_assert_uint_eq(p.v[1].compacted_files, 1);
	ck_assert_ok(catalog_files_list(cat, 100, collect_file, &fl));
	ck_assert_uint_eq(fl.n, 2);
	ck_assert_str_eq(fl.paths[0], "p100/1");
	ck_assert_ok(catalog_chunks_of_file(cat, f1, collect_chunk, &cl));
	ck_assert_uint_eq(cl.n, 1);
	ck_assert_uint_eq(cl.v[0].id, c.id);

	ck_assert_int_eq(catalog_file_remove(cat, f1), -ENOTEMPTY);
	ck_assert_int_eq(catalog_file_remove(cat, 999), -ENOENT);
	ck_assert_ok(catalog_file_remove(cat, f3)); /* last file: partition goes */
	p.n = 0;
	ck_assert_ok(catalog_partitions_list(cat, collect_part, &p));
	ck_assert_uint_eq(p.n, 1);
	ck_assert_ok(catalog_file_remove(cat, f2));
	ck_assert_ok(catalog_verify(cat));
	catalog_close(cat);
}
END_TEST

/* Rows dropped leave free pages; a vacuum gives them back and keeps the rest. */
START_TEST(test_vacuum)
{
	struct catalog *cat = cat_open();
	uint32_t a = tag_new(cat, "a", VALUE_FLOAT64);
	uint64_t f0 = file_new(cat, 0, 100000, "p0/1"), f1 = file_new(cat, 100000, 200000, "p1/1");
	static struct catalog_chunk c[4000];
	struct catalog_chunk got;
	uint64_t nchunks = 0;
	int64_t before;

	for (int i = 0; i < 4000; i++)
		c[i] = mk_chunk(a, i < 3000 ? f0 : f1, (uint64_t)(i % 3000) * 100, i * 50, i * 50 + 10, 1);
	ck_assert_ok(catalog_commit_seal(cat, c, 4000, NULL, 0));
	ck_assert_ok(catalog_partition_drop(cat, 0, NULL, NULL, &nchunks));
	ck_assert_uint_eq(nchunks, 3000);
	ck_assert_ok(catalog_checkpoint(cat));
	before = raw_int("PRAGMA page_count");
	ck_assert_int_gt(raw_int("PRAGMA freelist_count"), 0);
	ck_assert_ok(catalog_vacuum(cat));
	ck_assert_ok(catalog_checkpoint(cat));
	ck_assert_int_eq(raw_int("PRAGMA freelist_count"), 0);
	ck_assert_int_lt(raw_int("PRAGMA page_count"), before);
	ck_assert_ok(catalog_chunk_get(cat, c[3999].id, &got));
	ck_assert_int_eq(got.t_min, 3999 * 50);
	ck_assert_ok(catalog_verify(cat));
	catalog_close(cat);
}
END_TEST

START_TEST(test_partition_drop)
{
	struct catalog *cat = cat_open();
	uint32_t a = tag_new(cat, "a", VALUE_FLOAT64), b = tag_new(cat, "b", VALUE_INT64);
	uint64_t old1 = file_new(cat, 0, 100, "p0/1"), old2 = file_new(cat, 0, 100, "p0/2");
	uint64_t keep = file_new(cat, 100, 200, "p100/1"), nchunks = 0;
	struct catalog_chunk c[5] = {
		mk_chunk(a, old1, 0, 0, 10, 1),   mk_chunk(b, old1, 100, 0, 10, 1),
		mk_chunk(a, old2, 0, 50, 60, 2),  mk_chunk(a, keep, 0, 100, 110, 3),
		mk_chunk(b, keep, 100, 100, 110, 3),
	};
	struct file_list fl = {.n = 0};
	struct catalog_stats st;
	struct chunk_list l;

	ck_assert_ok(catalog_commit_seal(cat, c, 5, NULL, 0));
	fl.cat = cat;
	ck_assert_ok(catalog_partition_drop(cat, 0, collect_file, &fl, &nchunks));
	ck_assert_uint_eq(nchunks, 3);
	ck_assert_uint_eq(fl.n, 2);
	ck_assert_str_eq(fl.paths[0], "p0/1");
	ck_assert_str_eq(fl.paths[1], "p0/2");
	ck_assert_uint_eq(fl.ids[0], old1);
	ck_assert_uint_eq(range(cat, a, INT64_MIN, INT64_MAX, &l), 1);
	ck_assert_uint_eq(l.v[0].file_id, keep);
	ck_assert_ok(catalog_stats(cat, &st));
	ck_assert_uint_eq(st.chunks, 2);
	ck_assert_uint_eq(st.files, 1);
	ck_assert_uint_eq(st.partitions, 1);
	ck_assert_int_eq(catalog_partition_drop(cat, 0, collect_file, &fl, &nchunks), -ENOENT);
	ck_assert_uint_eq(fl.n, 2);
	ck_assert_ok(catalog_verify(cat));
	catalog_close(cat);
}
END_TEST

START_TEST(test_chunks_expire)
{
	uint32_t a, b;
	struct catalog *cat = ranges_fixture(&a, &b);
	struct chunk_list l;
	uint64_t n = 9;

	ck_assert_ok(catalog_chunks_expire(cat, a, 19, &n)); /* t_max < 19: only [0,9] */
	ck_assert_uint_eq(n, 1);
	ck_assert_ok(catalog_chunks_expire(cat, a, 20, &n));
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(range(cat, a, INT64_MIN, INT64_MAX, &l), 2);
	ck_assert_int_eq(l.v[0].t_min, 20);
	ck_assert_uint_eq(range(cat, b, INT64_MIN, INT64_MAX, &l), 1);
	ck_assert_uint_eq(stat_chunks(cat), 3);
	ck_assert_ok(catalog_verify(cat));
	catalog_close(cat);
}
END_TEST

/* ---- state and retention ------------------------------------------------------------------- */

START_TEST(test_state)
{
	struct catalog *cat = cat_open();
	char longkey[CATALOG_STATE_KEY_MAX + 2];
	uint64_t v = 5;
	bool found = true;

	ck_assert_ok(catalog_state_get(cat, "wal.checkpoint", &v, &found));
	ck_assert(!found);
	ck_assert_uint_eq(v, 0);
	ck_assert_ok(catalog_state_set(cat, "wal.checkpoint", UINT64_MAX));
	ck_assert_ok(catalog_state_set(cat, "other", 1));
	ck_assert_ok(catalog_state_get(cat, "wal.checkpoint", &v, &found));
	ck_assert(found);
	ck_assert_uint_eq(v, UINT64_MAX);
	ck_assert_ok(catalog_state_set(cat, "wal.checkpoint", 42));
	catalog_close(cat);
	cat = cat_open();
	ck_assert_ok(catalog_state_get(cat, "wal.checkpoint", &v, &found));
	ck_assert_uint_eq(v, 42);
	memset(longkey, 'k', sizeof longkey);
	longkey[sizeof longkey - 1] = '\0';
	ck_assert_int_eq(catalog_state_set(cat, longkey, 1), -EINVAL);
	ck_assert_int_eq(catalog_state_set(cat, "", 1), -EINVAL);
	ck_assert_int_eq(catalog_state_get(cat, NULL, &v, &found), -EINVAL);
	catalog_close(cat);
}
END_TEST

struct ret_list {
	char patterns[8][32];
	int64_t keep[8];
	size_t n;
};

static int collect_ret(void *arg, const char *pattern, int64_t keep_ns)
{
	struct ret_list *l = arg;

	ck_assert_uint_lt(l->n, 8);
	snprintf(l->patterns[l->n], sizeof l->patterns[0], "%s", pattern);
	l->keep[l->n++] = keep_ns;
	return 0;
}

START_TEST(test_retention)
{
	struct catalog *cat = cat_open();
	struct ret_list l = {.n = 0};

	ck_assert_ok(catalog_retention_set(cat, "*", 365LL * 86400 * 1000000000));
	ck_assert_ok(catalog_retention_set(cat, "debug.*", 86400LL * 1000000000));
	ck_assert_ok(catalog_retention_set(cat, "debug.*", 7 * 86400LL * 1000000000));
	ck_assert_int_eq(catalog_retention_set(cat, "x", 0), -EINVAL);
	ck_assert_int_eq(catalog_retention_set(cat, "", 1), -EINVAL);
	ck_assert_ok(catalog_retention_list(cat, collect_ret, &l));
	ck_assert_uint_eq(l.n, 2);
	ck_assert_str_eq(l.patterns[0], "*");
	ck_assert_str_eq(l.patterns[1], "debug.*");
	ck_assert_int_eq(l.keep[1], 7 * 86400LL * 1000000000);
	ck_assert_ok(catalog_retention_delete(cat, "*"));
	ck_assert_int_eq(catalog_retention_delete(cat, "*"), -ENOENT);
	l.n = 0;
	ck_assert_ok(catalog_retention_list(cat, collect_ret, &l));
	ck_assert_uint_eq(l.n, 1);
	catalog_close(cat);
}
END_TEST

/* ---- concurrency ------------------------------------------------------------------------- */

#define CONC_TAGS 16
#define CONC_SEALS 150
#define CONC_READERS 12 /* more than CATALOG_READERS_MAX: some wait for a connection */

struct conc {
	struct catalog *cat;
	uint32_t ids[CONC_TAGS];
	atomic_bool done;
	atomic_int errors;
	atomic_int inconsistent;
	atomic_long reads;
	char first_error[CATALOG_ERROR_MAX];
	pthread_mutex_t lock;
};

static void conc_error(struct conc *cc, int rc)
{
	pthread_mutex_lock(&cc->lock);
	if (atomic_fetch_add(&cc->errors, 1) == 0)
		snprintf(cc->first_error, sizeof cc->first_error, "%d: %s", rc, catalog_errmsg());
	pthread_mutex_unlock(&cc->lock);
}

struct conc_walk {
	int64_t next_tmin; /* seal k wrote the chunk starting at 10 * k */
	uint64_t n;
	bool gap;
};

static int conc_chunk(void *arg, const struct catalog_chunk *c)
{
	struct conc_walk *w = arg;

	if (c->t_min != w->next_tmin)
		w->gap = true;
	w->next_tmin = c->t_min + 10;
	w->n++;
	return 0;
}

static void *conc_reader(void *arg)
{
	struct conc *cc = arg;
	uint64_t last_n[CONC_TAGS] = {0}, last_state = 0;
	unsigned k = 0;

	while (!atomic_load(&cc->done)) {
		struct conc_walk w = {0, 0, false};
		struct catalog_stats st;
		uint64_t v = 0;
		bool found;
		int rc;
		size_t t = k++ % CONC_TAGS;

		rc = catalog_chunks_range(cc->cat, cc->ids[t], INT64_MIN, INT64_MAX, conc_chunk, &w);
		if (rc == 0)
			rc = catalog_state_get(cc->cat, "seal", &v, &found);
		if (rc == 0)
			rc = catalog_stats(cc->cat, &st);
		if (rc != 0) {
			conc_error(cc, rc);
			break;
		}
		/* A walk sees a whole number of seals; nothing goes backwards. */
		if (w.gap || w.n < last_n[t] || v < last_state || st.chunks % CONC_TAGS != 0)
			atomic_fetch_add(&cc->inconsistent, 1);
		last_n[t] = w.n;
		last_state = v;
		atomic_fetch_add(&cc->reads, 1);
	}
	return NULL;
}

START_TEST(test_readers_during_commits)
{
	static struct conc cc;
	struct catalog_tag_spec specs[CONC_TAGS];
	char names[CONC_TAGS][16];
	pthread_t th[CONC_READERS];
	struct catalog_chunk c[CONC_TAGS];
	uint64_t f;

	memset(&cc, 0, sizeof cc);
	pthread_mutex_init(&cc.lock, NULL);
	cc.cat = cat_open();
	for (size_t i = 0; i < CONC_TAGS; i++) {
		snprintf(names[i], sizeof names[i], "c%zu", i);
		specs[i] = (struct catalog_tag_spec){names[i], strlen(names[i]), VALUE_FLOAT64,
						     NULL, 0};
	}
	ck_assert_ok(catalog_tags_create(cc.cat, specs, CONC_TAGS, cc.ids, NULL));
	f = file_new(cc.cat, 0, INT64_MAX, "p/1");
	for (size_t r = 0; r < CONC_READERS; r++)
		ck_assert_int_eq(pthread_create(&th[r], NULL, conc_reader, &cc), 0);
	for (uint64_t k = 0; k < CONC_SEALS; k++) {
		struct catalog_state_kv st = {"seal", k + 1};
		for (size_t i = 0; i < CONC_TAGS; i++)
			c[i] = mk_chunk(cc.ids[i], f, (k * CONC_TAGS + i) * 100, (int64_t)k * 10,
					(int64_t)k * 10 + 9, k);
		ck_assert_ok(catalog_commit_seal(cc.cat, c, CONC_TAGS, &st, 1));
	}
	atomic_store(&cc.done, true);
	for (size_t r = 0; r < CONC_READERS; r++)
		ck_assert_int_eq(pthread_join(th[r], NULL), 0);
	printf("check_catalog: %ld reads during %d seals\n", (long)atomic_load(&cc.reads),
	       CONC_SEALS);
	ck_assert_msg(atomic_load(&cc.errors) == 0, "reader error %s", cc.first_error);
	ck_assert_int_eq(atomic_load(&cc.inconsistent), 0);
	ck_assert_int_gt(atomic_load(&cc.reads), CONC_READERS);
	ck_assert_uint_eq(stat_chunks(cc.cat), CONC_TAGS * CONC_SEALS);
	catalog_close(cc.cat);
	pthread_mutex_destroy(&cc.lock);
}
END_TEST

static void *fail_in_thread(void *arg)
{
	struct catalog *cat = arg;
	uint32_t id;

	if (catalog_tag_create(cat, "", 0, VALUE_FLOAT64, NULL, 0, &id, NULL) != -EINVAL)
		return (void *)1;
	return strstr(catalog_errmsg(), "empty") ? NULL : (void *)2;
}

START_TEST(test_errmsg_per_thread)
{
	struct catalog *cat = cat_open();
	pthread_t th;
	void *res = (void *)9;

	ck_assert_int_eq(catalog_state_set(cat, "", 1), -EINVAL);
	ck_assert_str_contains(catalog_errmsg(), "state key");
	ck_assert_int_eq(pthread_create(&th, NULL, fail_in_thread, cat), 0);
	ck_assert_int_eq(pthread_join(th, &res), 0);
	ck_assert_ptr_null(res);
	/* The other thread's failure left this thread's message alone. */
	ck_assert_str_contains(catalog_errmsg(), "state key");
	catalog_close(cat);
}
END_TEST

/* ---- suite ---------------------------------------------------------------------------------- */

static void add_case(Suite *s, const char *name, const TTest *tests[], size_t n, int timeout)
{
	TCase *tc = tcase_create(name);

	tcase_add_unchecked_fixture(tc, dir_create, dir_remove);
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, timeout);
	for (size_t i = 0; i < n; i++)
		tcase_add_test(tc, tests[i]);
	suite_add_tcase(s, tc);
}

#define ADD_CASE(s, name, timeout, ...)                                               \
	do {                                                                          \
		const TTest *t_[] = {__VA_ARGS__};                                    \
		add_case((s), (name), t_, sizeof t_ / sizeof t_[0], (timeout));      \
	} while (0)

static Suite *catalog_suite(void)
{
	Suite *s = suite_create("catalog");

	ADD_CASE(s, "schema", 30, test_create_and_reopen, test_wal_mode,
		 test_empty_file_initialised, test_open_errors);
	ADD_CASE(s, "migration", 30, test_migrate_v1);
	ADD_CASE(s, "refused_files", 30, test_newer_version_refused, test_garbage_refused,
		 test_foreign_db_refused, test_damaged_pages_detected, test_verify_counters);
	ADD_CASE(s, "tags", 30, test_tag_create_idempotent, test_tag_validation, test_tags_batch,
		 test_tags_load_order_and_stop);
	ADD_CASE(s, "tag_race", 120, test_tag_race);
	ADD_CASE(s, "labels_search", 30, test_labels, test_find, test_find_paging);
	ADD_CASE(s, "metadata", 30, test_meta_defaults, test_meta_round_trip,
		 test_meta_validation);
	ADD_CASE(s, "seal", 60, test_seal_commit, test_seal_special_values, test_seal_atomic,
		 test_seal_validation, test_seal_disk_full, test_seal_survives_kill);
	ADD_CASE(s, "ranges", 30, test_range_edges, test_range_overlaps_ordered,
		 test_range_wide_chunk, test_before_after);
	ADD_CASE(s, "compaction", 30, test_replace_chunks);
	ADD_CASE(s, "files_partitions", 30, test_files, test_partition_drop, test_chunks_expire, test_vacuum);
	ADD_CASE(s, "state_retention", 30, test_state, test_retention);
	ADD_CASE(s, "concurrency", 300, test_readers_during_commits, test_errmsg_per_thread);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(catalog_suite());
	int failed;

	log_set_level(HS_LOG_WARN); /* not a "created catalog.db" line per test */
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* bench_catalog.c: benchmark of storage/catalog.h: bulk tag creation, the registry load at open, chunk ranges, seal commits.
 * Usage: bench_catalog [DIR [NTAGS]]: works in a fresh directory under DIR (default $TMPDIR or /tmp), removed at the end. */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/clock.h"
#include "storage/catalog.h"

#define TAG_BATCH 10000
#define HOUR_NS 3600000000000LL
#define YEAR_HOURS 8760
#define RANGE_TAGS 10     /* tags with a year of hourly chunks each */
#define RANGE_REPEATS 21
#define SEAL_TAGS 1000    /* one hourly seal: one chunk per tag */
#define SEAL_REPEATS 20

static char dir[PATH_MAX];
static char db_path[PATH_MAX + 16];

static double secs(uint64_t ns)
{
	return (double)ns / 1e9;
}

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof *v, cmp_u64);
	return v[n / 2];
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench_catalog: %s: %d %s\n", what, rc, catalog_errmsg());
	exit(1);
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

static void tag_name(char *buf, size_t cap, size_t i)
{
	snprintf(buf, cap, "site%02zu.area%03zu.unit%02zu.tag%07zu", i % 7, (i / 7) % 300,
		 (i / 2100) % 40, i);
}

/* 1: create ntags tags in batches of TAG_BATCH, one transaction each. */
static void bench_create(struct catalog *cat, size_t ntags)
{
	static struct catalog_tag_spec specs[TAG_BATCH];
	static char names[TAG_BATCH][64];
	static uint32_t ids[TAG_BATCH];
	uint64_t t0 = clock_mono_ns(), dt;
	int rc;

	for (size_t done = 0; done < ntags; done += TAG_BATCH) {
		size_t n = ntags - done < TAG_BATCH ? ntags - done : TAG_BATCH;
		for (size_t i = 0; i < n; i++) {
			tag_name(names[i], sizeof names[i], done + i);
			specs[i] = (struct catalog_tag_spec){names[i], strlen(names[i]),
							     VALUE_FLOAT64, NULL, 0};
		}
		rc = catalog_tags_create(cat, specs, n, ids, NULL);
		if (rc != 0)
			die("catalog_tags_create", rc);
	}
	dt = clock_mono_ns() - t0;
	printf("create %zu tags (%zu per transaction): %.2f s, %.0f tags/s\n", ntags,
	       (size_t)TAG_BATCH, secs(dt), (double)ntags / secs(dt));
}

struct load_sum {
	size_t count, bytes;
	uint32_t last_id;
};

static int load_tag(void *arg, uint32_t id, const char *name, size_t len, enum value_type type)
{
	struct load_sum *s = arg;

	(void)name;
	(void)type;
	s->count++;
	s->bytes += len;
	s->last_id = id;
	return 0;
}

/* 2: reopen and stream every tag, as the store builds its registry. */
static struct catalog *bench_load(size_t ntags)
{
	struct load_sum sum = {0, 0, 0};
	struct catalog *cat = NULL;
	char err[CATALOG_ERROR_MAX];
	uint64_t t0 = clock_mono_ns(), t1, t2;
	int rc;

	rc = catalog_open(db_path, &cat, err);
	if (rc != 0)
		die(err, rc);
	t1 = clock_mono_ns();
	rc = catalog_tags_load(cat, load_tag, &sum);
	if (rc != 0)
		die("catalog_tags_load", rc);
	t2 = clock_mono_ns();
	if (sum.count != ntags)
		die("tags_load count", (int)sum.count);
	printf("open + load %zu tags (%zu name bytes): %.3f s (open %.1f ms, load %.3f s;"
	       " goal < 5 s)\n", sum.count, sum.bytes, secs(t2 - t0), ms(t1 - t0), secs(t2 - t1));
	return cat;
}

static struct catalog_chunk mk(uint32_t tag, uint64_t file, uint64_t off, int64_t t, uint64_t seq)
{
	struct catalog_chunk c = {
		.tag_id = tag, .file_id = file, .offset = off, .length = 4000, .crc = 1,
		.t_min = t, .t_max = t + HOUR_NS - 1000000000, .count = 3600, .seq = seq,
		.min = 1, .max = 2, .sum = 5400, .first_ts = t, .last_ts = t + HOUR_NS - 1000000000,
		.first_v = 1, .last_v = 2, .integral = 5400, .good_count = 3600,
	};
	return c;
}

/* A year of hourly chunks for tags 1..RANGE_TAGS, one seal a day. */
static void fill_year(struct catalog *cat, uint64_t file)
{
	static struct catalog_chunk day[24 * RANGE_TAGS];
	uint64_t t0 = clock_mono_ns(), off = 0;
	int rc;

	for (int d = 0; d < YEAR_HOURS / 24; d++) {
		size_t n = 0;
		for (int h = 0; h < 24; h++) {
			for (uint32_t tag = 1; tag <= RANGE_TAGS; tag++) {
				int64_t t = (int64_t)(d * 24 + h) * HOUR_NS;
				day[n++] = mk(tag, file, off, t, (uint64_t)(d * 24 + h) + 1);
				off += 4000;
			}
		}
		rc = catalog_commit_seal(cat, day, n, NULL, 0);
		if (rc != 0)
			die("catalog_commit_seal (year)", rc);
	}
	printf("insert %d chunks (%d tags x %d hours, one seal a day): %.2f s\n",
	       RANGE_TAGS * YEAR_HOURS, RANGE_TAGS, YEAR_HOURS, secs(clock_mono_ns() - t0));
}

static int count_chunk(void *arg, const struct catalog_chunk *c)
{
	size_t *n = arg;

	(void)c;
	(*n)++;
	return 0;
}

/* Median time of RANGE_REPEATS catalog_chunks_range(tag, t0, t1). */
static void time_range(struct catalog *cat, const char *label, int64_t t0, int64_t t1,
		       size_t want)
{
	uint64_t v[RANGE_REPEATS], med;
	size_t n = 0;

	for (int r = 0; r < RANGE_REPEATS; r++) {
		uint64_t s = clock_mono_ns();
		int rc;
		n = 0;
		rc = catalog_chunks_range(cat, 3, t0, t1, count_chunk, &n);
		if (rc != 0)
			die("catalog_chunks_range", rc);
		v[r] = clock_mono_ns() - s;
	}
	if (n != want)
		die("range count", (int)n);
	med = median(v, RANGE_REPEATS); /* sorts v: v[0] is the fastest run */
	printf("chunks_range %s: %zu chunks, median %.3f ms (min %.3f, max %.3f, %d runs)\n",
	       label, n, ms(med), ms(v[0]), ms(v[RANGE_REPEATS - 1]), RANGE_REPEATS);
}

/* 3: one tag's year of chunks, whole and its last day. */
static void bench_range(struct catalog *cat)
{
	uint64_t file = 0;
	int rc = catalog_file_add(cat, 0, INT64_MAX, "chunks/year/000001.chk", &file);

	if (rc != 0)
		die("catalog_file_add", rc);
	fill_year(cat, file);
	time_range(cat, "whole year", INT64_MIN, INT64_MAX, YEAR_HOURS);
	time_range(cat, "last day", (int64_t)(YEAR_HOURS - 24) * HOUR_NS,
		   (int64_t)YEAR_HOURS * HOUR_NS, 24);
}

/* 4: hourly seals of SEAL_TAGS chunks, each with its WAL checkpoint. */
static void bench_seal(struct catalog *cat)
{
	static struct catalog_chunk c[SEAL_TAGS];
	uint64_t v[SEAL_REPEATS], file = 0, worst = 0;
	int rc = catalog_file_add(cat, INT64_MIN, 0, "chunks/seal/000001.chk", &file);

	if (rc != 0)
		die("catalog_file_add", rc);
	for (int r = 0; r < SEAL_REPEATS; r++) {
		struct catalog_state_kv st = {"wal.checkpoint", (uint64_t)r * 1000000};
		int64_t t = -(int64_t)(SEAL_REPEATS - r) * HOUR_NS;
		uint64_t s;
		for (uint32_t i = 0; i < SEAL_TAGS; i++)
			c[i] = mk(RANGE_TAGS + 1 + i, file, ((uint64_t)r * SEAL_TAGS + i) * 4000, t,
				  1000000 + (uint64_t)r);
		s = clock_mono_ns();
		rc = catalog_commit_seal(cat, c, SEAL_TAGS, &st, 1);
		v[r] = clock_mono_ns() - s;
		if (rc != 0)
			die("catalog_commit_seal", rc);
		worst = v[r] > worst ? v[r] : worst;
	}
	printf("commit_seal of %d chunk rows + checkpoint (synchronous=FULL): median %.2f ms,"
	       " max %.2f ms (%d seals)\n", SEAL_TAGS, ms(median(v, SEAL_REPEATS)), ms(worst),
	       SEAL_REPEATS);
}

int main(int argc, char **argv)
{
	const char *base = argc > 1 ? argv[1] : getenv("TMPDIR");
	size_t ntags = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000000;
	struct catalog *cat = NULL;
	struct catalog_stats st;
	char err[CATALOG_ERROR_MAX];
	int rc;

	if (ntags < SEAL_TAGS + RANGE_TAGS) {
		fprintf(stderr, "bench_catalog: NTAGS must be at least %d\n", SEAL_TAGS + RANGE_TAGS);
		return 2;
	}
	snprintf(dir, sizeof dir, "%s/bench_catalog.XXXXXX", base && base[0] ? base : "/tmp");
	if (mkdtemp(dir) == NULL) {
		fprintf(stderr, "bench_catalog: mkdtemp %s: %s\n", dir, strerror(errno));
		return 1;
	}
	snprintf(db_path, sizeof db_path, "%s/catalog.db", dir);
	printf("bench_catalog: %s, SQLite %s\n", db_path, sqlite3_libversion());
	rc = catalog_open(db_path, &cat, err);
	if (rc != 0)
		die(err, rc);
	bench_create(cat, ntags);
	catalog_close(cat);
	cat = bench_load(ntags);
	bench_range(cat);
	bench_seal(cat);
	rc = catalog_stats(cat, &st);
	if (rc != 0)
		die("catalog_stats", rc);
	printf("catalog: %llu tags, %llu chunks, %.1f MB on disk\n", (unsigned long long)st.tags,
	       (unsigned long long)st.chunks, (double)st.db_bytes / 1e6);
	catalog_close(cat);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* crash_writer.c: the store-level crash test's writer and verifier; the test kills the writer with SIGKILL.
 * "write DIR ACKS": append batches forever, logging each batch number to ACKS once it is acknowledged durable
 * ("fill DIR ACKS N": N batches, then close without sealing, for tests that need a WAL to replay);
 * "verify DIR ACKS": open the store (replay included) and prove every acknowledged sample is there exactly once. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/hs_error.h"
#include "lib/log.h"
#include "storage/store.h"

#define TAGS 20
#define PER_TAG 25 /* samples of each tag in one batch */
#define SEC 1000000000LL
#define T0 (1764000000LL * SEC)

static int64_t sample_ts(long batch, int j)
{
	return T0 + ((int64_t)batch * PER_TAG + j) * SEC;
}

static double sample_value(int tag, int64_t ts)
{
	return (double)tag * 1e6 + (double)((ts - T0) / SEC) * 0.25;
}

static struct store *open_store(const char *dir, int64_t seal_ns)
{
	struct store_options o;
	struct store *st;
	char err[STORE_ERROR_MAX];
	int rc;

	store_options_init(&o);
	o.data_dir = dir;
	o.seal_interval_ns = seal_ns;
	o.wal_segment_bytes = 256 << 10; /* many segments, so trims and rolls happen */
	rc = store_open(&o, &st, err);
	if (rc != 0) {
		fprintf(stderr, "crash_writer: store_open: %s\n", err);
		exit(3);
	}
	return st;
}

static long last_acked(const char *acks)
{
	FILE *f = fopen(acks, "r");
	long b, last = -1;

	if (!f)
		return -1;
	while (fscanf(f, "%ld", &b) == 1)
		last = b > last ? b : last;
	fclose(f);
	return last;
}

static void resolve_tags(struct store *st, uint32_t *ids)
{
	for (int k = 0; k < TAGS; k++) {
		char name[32];
		int len = snprintf(name, sizeof name, "crash.tag%02d", k);
		if (store_tag_resolve(st, name, (size_t)len, VALUE_FLOAT64, NULL, 0, &ids[k], NULL) != 0)
			exit(3);
	}
}

/* Append batches until killed, or (limit >= 0) until limit batches are done,
 * then close without sealing, leaving them in the WAL. */
static int do_write(const char *dir, const char *acks, long limit)
{
	/* Seal every 200 ms while crash testing; never when filling. */
	struct store *st = open_store(dir, limit < 0 ? 200 * 1000000LL : 3600 * SEC);
	struct store_sample batch[TAGS * PER_TAG];
	uint32_t ids[TAGS];
	int fd = open(acks, O_WRONLY | O_APPEND | O_CREAT, 0644);

	if (fd < 0)
		return 3;
	resolve_tags(st, ids);
	for (long b = last_acked(acks) + 1; limit < 0 || limit-- > 0; b++) {
		char line[32];
		int n = 0, len;
		for (int j = 0; j < PER_TAG; j++)
			for (int k = 0; k < TAGS; k++) {
				int64_t ts = sample_ts(b, j);
				batch[n++] = (struct store_sample){.tag_id = ids[k], .ts_ns = ts,
								   .v.f64 = sample_value(k, ts)};
			}
		if (store_append_wait(st, batch, (size_t)n) != 0)
			return 4;
		/* Logged only after the store said durable; a write(2) survives
		 * SIGKILL, which is all this test does to the process. */
		len = snprintf(line, sizeof line, "%ld\n", b);
		if (write(fd, line, (size_t)len) != len)
			return 3;
	}
	close(fd);
	store_close(st);
	return 0;
}

static int do_verify(const char *dir, const char *acks)
{
	struct store *st = open_store(dir, 3600 * SEC);
	long acked = last_acked(acks);
	uint32_t ids[TAGS];
	int bad = 0;

	resolve_tags(st, ids);
	for (int k = 0; k < TAGS && !bad; k++) {
		struct store_scan *sc;
		struct store_block blk;
		int64_t expect = T0;
		long seen = 0;
		int rc;
		if (store_scan_open(st, ids[k], INT64_MIN, INT64_MAX, &sc) != 0)
			return 3;
		while ((rc = store_scan_next(sc, &blk)) == 1) {
			for (size_t i = 0; i < blk.count; i++, seen++) {
				/* Batches are contiguous in time: any gap or repeat is loss or duplication. */
				if (blk.ts_ns[i] != expect || blk.f64[i] != sample_value(k, expect)) {
					fprintf(stderr, "tag %d: sample %ld: ts %lld value %g, expected ts %lld\n", k,
						seen, (long long)blk.ts_ns[i], blk.f64[i], (long long)expect);
					bad = 1;
					break;
				}
				expect += SEC;
			}
			if (bad)
				break;
		}
		store_scan_close(sc);
		if (rc < 0)
			bad = 1;
		if (!bad && seen < (acked + 1) * PER_TAG) {
			fprintf(stderr, "tag %d: %ld samples, but %ld batches (%ld samples) were acknowledged\n",
				k, seen, acked + 1, (acked + 1) * PER_TAG);
			bad = 1;
		}
		if (!bad && seen % PER_TAG != 0) {
			fprintf(stderr, "tag %d: %ld samples is not whole batches\n", k, seen);
			bad = 1;
		}
	}
	store_close(st);
	if (!bad)
		printf("verified: %ld acknowledged batches present, nothing lost or repeated\n", acked + 1);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc != 4 && !(argc == 5 && strcmp(argv[1], "fill") == 0)) {
		fprintf(stderr, "usage: crash_writer write|verify DIR ACKS | fill DIR ACKS BATCHES\n");
		return 2;
	}
	log_set_level(HS_LOG_WARN);
	if (strcmp(argv[1], "write") == 0)
		return do_write(argv[2], argv[3], -1);
	if (strcmp(argv[1], "fill") == 0)
		return do_write(argv[2], argv[3], strtol(argv[4], NULL, 10));
	if (strcmp(argv[1], "verify") == 0)
		return do_verify(argv[2], argv[3]);
	return 2;
}

/* bench_lineproto.c: line protocol parse rate (lines/s, MB/s) of server/lineproto.c, one core, no I/O in the timed loop.
 * Data: generated plant-like lines, and the valid inputs of the shared vectors; best of --runs on CLOCK_MONOTONIC. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "server/lineproto.h"

struct buf {
	char *data;
	size_t len, cap;
};

static void buf_reserve(struct buf *b, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 4096;
		b->data = realloc(b->data, b->cap);
		if (!b->data) {
			perror("realloc");
			exit(1);
		}
	}
}

static void buf_add(struct buf *b, const char *s, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->data + b->len, s, n);
	b->len += n;
}

/* xorshift64*: fixed seed, printed, so a run can be repeated exactly. */
static uint64_t rng_state;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

/* plant,area=boiler,unit=3 temp=81.52,pressure=2.113 1732531200000000000:
 * 2 labels, 1 to 5 fields of 2 to 3 decimals, a nanosecond timestamp. */
static void generate_plant(struct buf *b, size_t lines)
{
	static const char *const area[] = {"boiler", "turbine", "cooling", "feedwater", "stack"};
	static const char *const field[] = {"temp", "pressure", "flow", "level", "power"};
	int64_t ts = 1732531200000000000LL;
	char line[256];

	for (size_t i = 0; i < lines; i++) {
		int n = snprintf(line, sizeof line, "plant,area=%s,unit=%u ", area[rng() % 5],
				 (unsigned)(rng() % 12));
		unsigned nf = 1 + (unsigned)(rng() % 5);
		for (unsigned f = 0; f < nf; f++) {
			uint64_t v = rng() % 100000;
			n += snprintf(line + n, sizeof line - (size_t)n, "%s%s=%" PRIu64 ".%0*" PRIu64,
				      f ? "," : "", field[f], v / 1000, f % 2 ? 3 : 2,
				      f % 2 ? v % 1000 : v % 100);
		}
		n += snprintf(line + n, sizeof line - (size_t)n, " %" PRId64 "\n", ts);
		ts += 1000000000;
		buf_add(b, line, (size_t)n);
	}
}

static int b64_val(char c)
{
	const char *tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c ? strchr(tab, c) : NULL;
	return p ? (int)(p - tab) : -1;
}

static void b64_append(struct buf *b, const char *s)
{
	uint32_t acc = 0;
	int bits = 0;

	for (; *s && *s != '='; s++) {
		int v = b64_val(*s);
		if (v < 0)
			return;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			char c;
			bits -= 8;
			c = (char)((acc >> bits) & 0xFF);
			buf_add(b, &c, 1);
		}
	}
}

/* The inputs 1.x parsed without error, one after another. */
static bool load_vectors(struct buf *b, const char *path, size_t *records)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f)
		return false;
	while ((n = getline(&line, &cap, f)) > 0) {
		json_error_t e;
		json_t *rec = json_loadb(line, (size_t)n, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &e);
		json_t *i1 = json_object_get(rec, "influx1");
		if (rec && json_is_false(json_object_get(i1, "error"))) {
			b64_append(b, json_string_value(json_object_get(rec, "input_b64")));
			buf_add(b, "\n", 1);
			(*records)++;
		}
		json_decref(rec);
	}
	free(line);
	fclose(f);
	return true;
}

struct result {
	double best_s;
	uint64_t lines, errors, check;
};

/* The timed loop does what an ingest caller would: every line, every
 * field touched, nothing copied. check keeps the work observable. */
static void parse_all(const struct buf *b, struct result *r)
{
	static struct lp_line line;
	struct lp_parser p;
	struct lp_error err;
	int rc;

	r->lines = r->errors = r->check = 0;
	lp_parser_init(&p, b->data, b->len, LP_PRECISION_NS);
	while ((rc = lp_next(&p, &line, &err)) != 0) {
		if (rc < 0) {
			r->errors++;
			continue;
		}
		r->lines++;
		r->check += line.nlabels + line.nfields + (uint64_t)line.time_ns;
		for (uint32_t i = 0; i < line.nfields; i++)
			r->check += line.fields[i].key.len + (uint64_t)line.fields[i].v.i;
	}
}

static void run(const char *name, const struct buf *b, int runs, const char *what)
{
	struct result r = {.best_s = 1e30};

	for (int i = 0; i < runs; i++) {
		uint64_t t0 = clock_mono_ns();
		parse_all(b, &r);
		double s = (double)(clock_mono_ns() - t0) / 1e9;
		if (s < r.best_s)
			r.best_s = s;
	}
	printf("%s: %" PRIu64 " lines (%" PRIu64 " errors), %.1f MB, best of %d: %.4f s, check %" PRIu64 "\n",
	       what, r.lines, r.errors, (double)b->len / 1e6, runs, r.best_s, r.check);
	printf("RESULT %s_lines_per_s %.0f lines/s (%.2f M lines/s; %s)\n", name,
	       (double)(r.lines + r.errors) / r.best_s, (double)(r.lines + r.errors) / r.best_s / 1e6,
	       what);
	printf("RESULT %s_mb_per_s %.1f MB/s (%s)\n", name, (double)b->len / 1e6 / r.best_s, what);
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_lineproto [--lines N] [--runs N] [--seed N] [VECTORS.jsonl]\n"
			"  default VECTORS: $HS_SHARED_DATA/line-protocol/vectors.jsonl\n");
	exit(2);
}

int main(int argc, char **argv)
{
	size_t nlines = 1000000, records = 0;
	int runs = 5;
	const char *vectors = NULL;
	char *defpath = NULL;
	struct buf plant = {0}, vec = {0};

	rng_state = 0x9E3779B97F4A7C15ULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--lines") == 0 && i + 1 < argc)
			nlines = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			rng_state = strtoull(argv[++i], NULL, 0) | 1;
		else if (argv[i][0] == '-')
			usage();
		else
			vectors = argv[i];
	}
	if (runs < 1)
		usage();
	printf("seed 0x%016" PRIx64 "\n", rng_state);
	generate_plant(&plant, nlines);
	run("lp_parse", &plant, runs, "plant-like lines, 2 labels, 1-5 fields, ns timestamps");

	if (!vectors && getenv("HS_SHARED_DATA") &&
	    asprintf(&defpath, "%s/line-protocol/vectors.jsonl", getenv("HS_SHARED_DATA")) > 0)
		vectors = defpath;
	if (vectors && load_vectors(&vec, vectors, &records) && vec.len > 0) {
		/* 30 KB is too little to time: repeat it to about the plant size */
		size_t once = vec.len, copies = 1;
		char what[128];
		while (vec.len < plant.len) {
			buf_reserve(&vec, once);   /* may move data: copy after */
			memcpy(vec.data + vec.len, vec.data, once);
			vec.len += once;
			copies++;
		}
		snprintf(what, sizeof what, "valid inputs of %zu vectors.jsonl records, concatenated, x%zu",
			 records, copies);
		run("lp_parse_vectors", &vec, runs, what);
	} else
		printf("vectors: not found (give a path or set HS_SHARED_DATA); skipped\n");
	free(plant.data);
	free(vec.data);
	free(defpath);
	return 0;
}

/* bench_codec.c: size and speed of historian chunks on the shared data sets, beside plain Gorilla and CSV + zstd -19.
 * Usage: bench_codec [options] [DATA_DIR]; single-threaded; times are the best of several runs on CLOCK_MONOTONIC. */
#define _GNU_SOURCE
#include <errno.h>
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

#include "storage/chunk.h"
#include "storage/chunk_format.h"

struct series {
	char name[512];
	size_t n;
	int64_t *ts;
	double *v;
};

struct dataset {
	char name[64];
	struct series *s;
	size_t ns;
	size_t points;    /* (time, value) pairs in the files, duplicates included */
	size_t dropped;   /* samples replaced by a later one at the same time */
	size_t csv_bytes;
	size_t csv_zstd;  /* the files compressed one by one at zstd level 19 */
};

struct opts {
	size_t chunk_max;     /* samples per chunk */
	int64_t partition_ns; /* chunks never cross a multiple of this */
	size_t catalog_bytes; /* catalog row cost counted per chunk */
	int zstd_level;
	int runs;
	int verbose;
	int csv_zstd;         /* compress the CSV files (slow) */
};

/* One chunk: a slice of a series. */
struct slice {
	const struct series *s;
	size_t off, n;
};

struct result {
	size_t samples, chunks, bytes, gorilla_bits;
	size_t col_bytes[3], overhead; /* stored column bytes; header, directory, CRC */
	size_t enc_count[128];         /* chunks per encoding id, all columns */
	size_t zstd_cols[3];           /* columns stored zstd'd: time, value, quality */
	double enc_msps, dec_msps;
};

/* ---- loading ---------------------------------------------------------------------- */

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long size;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)size + 1);
		if (buf && fread(buf, 1, (size_t)size, f) == (size_t)size) {
			buf[size] = '\0';
			*len = (size_t)size;
		} else {
			free(buf);
			buf = NULL;
		}
	}
	fclose(f);
	return buf;
}

static int64_t days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* "YYYY-MM-DD HH:MM:SS" as UTC, in ns. */
static int parse_time(const char *p, int64_t *ns)
{
	int y, mo, d, h, mi, s;

	if (sscanf(p, "%4d-%2d-%2d %2d:%2d:%2d", &y, &mo, &d, &h, &mi, &s) != 6)
		return -1;
	*ns = ((days_from_civil(y, mo, d) * 86400) + h * 3600 + mi * 60 + s) * (int64_t)1000000000;
	return 0;
}

static int cmp_idx_time(const void *a, const void *b, void *arg)
{
	const int64_t *ts = arg;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	if (ts[x] != ts[y])
		return ts[x] < ts[y] ? -1 : 1;
	return x < y ? -1 : x > y; /* stable: later rows last */
}

/* Sort by time and keep the last sample of each time, as a store that
 * overwrites would. Returns how many were dropped. */
static size_t sort_dedup(struct series *s)
{
	size_t *idx = malloc(s->n * sizeof *idx), k = 0;
	int64_t *ts = malloc(s->n * sizeof *ts);
	double *v = malloc(s->n * sizeof *v);

	for (size_t i = 0; i < s->n; i++)
		idx[i] = i;
	qsort_r(idx, s->n, sizeof *idx, cmp_idx_time, s->ts);
	for (size_t i = 0; i < s->n; i++) {
		if (k && ts[k - 1] == s->ts[idx[i]])
			k--;
		ts[k] = s->ts[idx[i]];
		v[k++] = s->v[idx[i]];
	}
	free(s->ts);
	free(s->v);
	free(idx);
	s->ts = ts;
	s->v = v;
	size_t dropped = s->n - k;
	s->n = k;
	return dropped;
}

static struct series *add_series(struct dataset *ds, const char *name, size_t cap)
{
	struct series *s;

	ds->s = realloc(ds->s, (ds->ns + 1) * sizeof *ds->s);
	s = &ds->s[ds->ns++];
	snprintf(s->name, sizeof s->name, "%s", name);
	s->n = 0;
	s->ts = malloc(cap * sizeof *s->ts);
	s->v = malloc(cap * sizeof *s->v);
	return s;
}

/* One CSV file: header line, then rows; column 0 is the time; every other
 * column (but skipped ones) is a series. */
static int load_csv(struct dataset *ds, const char *path, char sep, const struct opts *o)
{
	size_t len, rows = 0, ncol = 0, first = ds->ns;
	char *buf = read_file(path, &len), *line, *save = NULL;
	char *cols[64];
	int skip[64] = {0};

	if (!buf)
		return -1;
	ds->csv_bytes += len;
	if (o->csv_zstd) {
		size_t bound = ZSTD_compressBound(len);
		void *z = malloc(bound);
		size_t zlen = ZSTD_compress(z, bound, buf, len, 19);
		if (!ZSTD_isError(zlen))
			ds->csv_zstd += zlen;
		free(z);
	}
	for (size_t i = 0; i < len; i++)
		rows += buf[i] == '\n';
	line = strtok_r(buf, "\r\n", &save);
	for (char *p = line; p && ncol < 64; ncol++) {
		cols[ncol] = p;
		p = strchr(p, sep);
		if (p)
			*p++ = '\0';
	}
	for (size_t c = 1; c < ncol; c++) {
		char name[512];
		skip[c] = !strcmp(cols[c], "anomaly") || !strcmp(cols[c], "changepoint");
		if (skip[c])
			continue;
		snprintf(name, sizeof name, "%s:%s", path, cols[c]);
		add_series(ds, name, rows + 1);
	}
	while ((line = strtok_r(NULL, "\r\n", &save))) {
		int64_t ts;
		char *p = line, *f[64];
		size_t nf = 0;
		while (p && nf < 64) {
			f[nf++] = p;
			p = strchr(p, sep);
			if (p)
				*p++ = '\0';
		}
		if (nf != ncol || parse_time(f[0], &ts))
			continue;
		for (size_t c = 1, k = first; c < ncol; c++) {
			struct series *s;
			if (skip[c])
				continue;
			s = &ds->s[k++];
			s->ts[s->n] = ts;
			s->v[s->n++] = strtod(f[c], NULL);
			ds->points++;
		}
	}
	for (size_t k = first; k < ds->ns; k++)
		ds->dropped += sort_dedup(&ds->s[k]);
	free(buf);
	return 0;
}

static int load_set(struct dataset *ds, const char *dir, const char *name, const char *pattern, char sep,
		    const struct opts *o)
{
	char pat[4096];
	glob_t g;

	memset(ds, 0, sizeof *ds);
	snprintf(ds->name, sizeof ds->name, "%s", name);
	snprintf(pat, sizeof pat, "%s/%s", dir, pattern);
	if (glob(pat, 0, NULL, &g) != 0) {
		fprintf(stderr, "bench_codec: no files match %s\n", pat);
		return -1;
	}
	for (size_t i = 0; i < g.gl_pathc; i++)
		if (load_csv(ds, g.gl_pathv[i], sep, o)) {
			fprintf(stderr, "bench_codec: cannot read %s\n", g.gl_pathv[i]);
			globfree(&g);
			return -1;
		}
	globfree(&g);
	return 0;
}

/* ---- synthetic sets -------------------------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint64_t rng_next(void)
{
	uint64_t x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static double rng_gauss(void)
{
	double u = ((double)(rng_next() >> 11) + 0.5) / 9007199254740992.0;
	double w = ((double)(rng_next() >> 11) + 0.5) / 9007199254740992.0;
	return sqrt(-2 * log(u)) * cos(2 * M_PI * w);
}

/* round(x, d decimals) printed and parsed, as an ingest path would. */
static double decimal(double x, int d)
{
	char text[64];

	snprintf(text, sizeof text, "%.*f", d, x);
	return strtod(text, NULL);
}

/* tags x seconds of 1-s data: a slow wave plus noise, d decimals. */
static void make_synthetic(struct dataset *ds, const char *name, size_t tags, size_t seconds, int decimals_lo,
			   int decimals_hi)
{
	const int64_t start = (int64_t)1700000000 * 1000000000;

	memset(ds, 0, sizeof *ds);
	snprintf(ds->name, sizeof ds->name, "%s", name);
	for (size_t t = 0; t < tags; t++) {
		char tag[64];
		struct series *s;
		double base = 10 + (double)(rng_next() % 4900) / 10, amp = base * 0.05, noise = base * 0.002;
		int d = decimals_lo + (int)(rng_next() % (uint64_t)(decimals_hi - decimals_lo + 1));
		snprintf(tag, sizeof tag, "%s.%zu", name, t);
		s = add_series(ds, tag, seconds);
		for (size_t i = 0; i < seconds; i++) {
			double x = base + amp * sin((double)i / 600.0 + (double)t) + noise * rng_gauss();
			s->ts[i] = start + (int64_t)i * 1000000000;
			s->v[i] = decimal(x, d);
		}
		s->n = seconds;
		ds->points += seconds;
	}
}

/* ---- plain Gorilla (bits only) ------------------------------------------------------- */

static size_t gorilla_bits(const int64_t *ts, const double *v, size_t n)
{
	size_t bits = 64 + 64; /* block header time, first value */
	int64_t prev_delta = 0;
	uint64_t prev;
	unsigned lead = 65, trail = 0;

	memcpy(&prev, &v[0], 8);
	for (size_t i = 1; i < n; i++) {
		/* Times at second resolution, as in the paper. */
		int64_t delta = ts[i] / 1000000000 - ts[i - 1] / 1000000000, dod = delta - prev_delta;
		uint64_t cur, x;
		prev_delta = delta;
		if (dod == 0)
			bits += 1;
		else if (dod >= -63 && dod <= 64)
			bits += 2 + 7;
		else if (dod >= -255 && dod <= 256)
			bits += 3 + 9;
		else if (dod >= -2047 && dod <= 2048)
			bits += 4 + 12;
		else
			bits += 4 + 32;
		memcpy(&cur, &v[i], 8);
		x = cur ^ prev;
		prev = cur;
		if (x == 0) {
			bits += 1;
			continue;
		}
		unsigned lz = (unsigned)__builtin_clzll(x), tz = (unsigned)__builtin_ctzll(x);
		if (lz > 31)
			lz = 31;
		if (lead != 65 && lz >= lead && tz >= trail) {
			bits += 2 + (64 - lead - trail);
		} else {
			lead = lz;
			trail = tz;
			bits += 2 + 5 + 6 + (64 - lz - tz);
		}
	}
	return (bits + 7) / 8 * 8;
}

/* ---- chunking, encoding, timing -------------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static struct slice *make_slices(const struct dataset *ds, const struct opts *o, size_t *count)
{
	size_t cap = 64, k = 0;
	struct slice *sl = malloc(cap * sizeof *sl);

	for (size_t i = 0; i < ds->ns; i++) {
		const struct series *s = &ds->s[i];
		for (size_t off = 0; off < s->n;) {
			int64_t part = floor_div(s->ts[off], o->partition_ns);
			size_t n = 1;
			while (off + n < s->n && n < o->chunk_max && floor_div(s->ts[off + n], o->partition_ns) == part)
				n++;
			if (k == cap)
				sl = realloc(sl, (cap *= 2) * sizeof *sl);
			sl[k++] = (struct slice){s, off, n};
			off += n;
		}
	}
	*count = k;
	return sl;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t read_varint(const unsigned char **p)
{
	uint64_t v = 0;

	for (unsigned shift = 0;; shift += 7) {
		unsigned char b = *(*p)++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
}

/* Account one encoded chunk: column sizes and encodings, from its directory. */
static void account(struct result *r, const unsigned char *c, size_t len)
{
	const unsigned char *p = c + CHUNK_OFF_DIR;
	size_t cols = 0;

	for (int i = 0; i < 3; i++) {
		unsigned enc = *p++;
		uint64_t raw = read_varint(&p), stored = raw;
		if (enc & CHUNK_COL_ZSTD) {
			stored = read_varint(&p);
			r->zstd_cols[i]++;
		}
		r->col_bytes[i] += stored;
		cols += stored;
		r->enc_count[enc & CHUNK_COL_ENC_MASK]++;
	}
	r->overhead += len - cols;
}

static void check_roundtrip(const struct slice *sl, const unsigned char *c, size_t len)
{
	struct chunk_decoded d;

	if (chunk_decode(c, len, &d) != 0 || d.count != sl->n) {
		fprintf(stderr, "bench_codec: %s: chunk does not decode\n", sl->s->name);
		exit(1);
	}
	if (memcmp(d.ts_ns, sl->s->ts + sl->off, sl->n * 8) || memcmp(d.f64, sl->s->v + sl->off, sl->n * 8)) {
		fprintf(stderr, "bench_codec: %s: round trip differs\n", sl->s->name);
		exit(1);
	}
	chunk_decoded_free(&d);
}

static struct chunk_columns slice_cols(const struct slice *sl)
{
	struct chunk_columns in = {sl->n, VALUE_FLOAT64, sl->s->ts + sl->off, sl->s->v + sl->off,
				   NULL, NULL, NULL, NULL, NULL};
	return in;
}

/* Encode every slice once into out (offsets in off[]), account sizes,
 * check each chunk decodes to its input. */
static void encode_all(const struct slice *sl, size_t nsl, const struct opts *o, struct strbuf *out,
		       size_t *off, struct result *r)
{
	for (size_t k = 0; k < nsl; k++) {
		struct chunk_columns in = slice_cols(&sl[k]);
		const char *name = sl[k].s->name;
		off[k] = out->len;
		if (chunk_encode(&in, o->zstd_level, out)) {
			fprintf(stderr, "bench_codec: %s: encode failed\n", name);
			exit(1);
		}
		r->samples += sl[k].n;
		r->gorilla_bits += gorilla_bits(in.ts_ns, in.f64, in.count);
		account(r, (unsigned char *)out->data + off[k], out->len - off[k]);
		check_roundtrip(&sl[k], (unsigned char *)out->data + off[k], out->len - off[k]);
		if (o->verbose)
			printf("  %-60s %6zu %7.3f B/sample\n", name + (strlen(name) > 60 ? strlen(name) - 60 : 0),
			       sl[k].n, (double)(out->len - off[k]) / (double)sl[k].n);
	}
	off[nsl] = out->len;
	r->bytes = out->len;
}

/* Best time of o->runs passes encoding every slice. */
static double time_encode(const struct slice *sl, size_t nsl, const struct opts *o)
{
	struct strbuf tmp = STRBUF_INIT;
	double best = INFINITY;

	for (int run = 0; run < o->runs; run++) {
		double t0 = now_s(), t;
		for (size_t k = 0; k < nsl; k++) {
			struct chunk_columns in = slice_cols(&sl[k]);
			tmp.len = 0;
			if (chunk_encode(&in, o->zstd_level, &tmp))
				exit(1);
		}
		t = now_s() - t0;
		best = t < best ? t : best;
	}
	strbuf_free(&tmp);
	return best;
}

/* Best time of o->runs passes decoding every chunk into reused arrays. */
static double time_decode(const struct strbuf *out, const size_t *off, size_t nsl, size_t maxn,
			  const struct opts *o)
{
	struct chunk_dest dst = {maxn, malloc(maxn * 8), malloc(maxn * 8), NULL, NULL, malloc(maxn * 2)};
	double best = INFINITY;

	for (int run = 0; run < o->runs; run++) {
		double t0 = now_s(), t;
		for (size_t k = 0; k < nsl; k++) {
			struct chunk_header h;
			if (chunk_decode_into(out->data + off[k], off[k + 1] - off[k], &dst, &h))
				exit(1);
		}
		t = now_s() - t0;
		best = t < best ? t : best;
	}
	free(dst.ts_ns);
	free(dst.f64);
	free(dst.quality);
	return best;
}

static void run_set(const struct dataset *ds, const struct opts *o, struct result *r)
{
	size_t nsl, maxn = 0;
	struct slice *sl = make_slices(ds, o, &nsl);
	size_t *off = malloc((nsl + 1) * sizeof *off);
	struct strbuf out = STRBUF_INIT;

	memset(r, 0, sizeof *r);
	r->chunks = nsl;
	for (size_t k = 0; k < nsl; k++)
		maxn = sl[k].n > maxn ? sl[k].n : maxn;
	encode_all(sl, nsl, o, &out, off, r);
	r->enc_msps = (double)r->samples / time_encode(sl, nsl, o) / 1e6;
	r->dec_msps = (double)r->samples / time_decode(&out, off, nsl, maxn, o) / 1e6;
	free(off);
	free(sl);
	strbuf_free(&out);
}

static const char *enc_name(unsigned e)
{
	switch (e) {
	case CHUNK_ENC_TIME_DELTA: return "time-delta";
	case CHUNK_ENC_TIME_GRID: return "time-grid";
	case CHUNK_ENC_F64_RAW: return "raw";
	case CHUNK_ENC_F64_CONST: return "const";
	case CHUNK_ENC_F64_XOR: return "xor";
	case CHUNK_ENC_F32_XOR: return "xor32";
	case CHUNK_ENC_F64_DEC: return "dec";
	case CHUNK_ENC_F64_DICT: return "dict";
	case CHUNK_ENC_QUAL_CONST: return "q-const";
	case CHUNK_ENC_QUAL_RLE: return "q-rle";
	default: return "other";
	}
}

static void print_row(const char *name, size_t points, const struct result *r, const struct opts *o,
		      double csv_zstd, int speed)
{
	double hist = (double)(r->bytes + r->chunks * o->catalog_bytes) / (double)points;
	double gor = (double)r->gorilla_bits / 8 / (double)points;

	printf("%-12s %8zu %6zu %9.3f %9.3f %9.3f %7.1f%% ", name, points, r->chunks, hist,
	       (double)r->bytes / (double)points, gor, 100 * hist / gor);
	if (csv_zstd > 0)
		printf("%9.3f ", csv_zstd / (double)points);
	else
		printf("%9s ", "-");
	if (speed)
		printf("%7.1f %7.1f", r->enc_msps, r->dec_msps);
	printf("\n");
}

static void print_detail(const char *name, const struct result *r, size_t points)
{
	printf("  %-10s time %.3f  value %.3f  quality %.3f  header+dir+crc %.3f;", name,
	       (double)r->col_bytes[0] / (double)points, (double)r->col_bytes[1] / (double)points,
	       (double)r->col_bytes[2] / (double)points, (double)r->overhead / (double)points);
	for (unsigned e = 1; e < 128; e++)
		if (r->enc_count[e])
			printf(" %s %zu", enc_name(e), r->enc_count[e]);
	printf("; zstd'd columns %zu/%zu/%zu\n", r->zstd_cols[0], r->zstd_cols[1], r->zstd_cols[2]);
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_codec [-n SAMPLES_PER_CHUNK] [-p PARTITION_DAYS] [-c CATALOG_BYTES]\n"
			"                   [-z ZSTD_LEVEL] [-r RUNS] [-Z] [-v] [DATA_DIR]\n"
			"  defaults: -n 8192 -p 30 -c 64 -z %d -r 5, DATA_DIR /work/shared/data;\n"
			"  -Z skips compressing the CSV files with zstd -19 (slow); -v lists every chunk\n",
		CHUNK_ZSTD_LEVEL_DEFAULT);
	exit(2);
}

static const char *parse_args(int argc, char **argv, struct opts *o)
{
	const char *dir = "/work/shared/data";
	int i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-v"))
			o->verbose++;
		else if (!strcmp(a, "-Z"))
			o->csv_zstd = 0;
		else if (i + 1 < argc && !strcmp(a, "-n"))
			o->chunk_max = strtoul(argv[++i], NULL, 10);
		else if (i + 1 < argc && !strcmp(a, "-p"))
			o->partition_ns = (int64_t)(strtod(argv[++i], NULL) * 86400e9);
		else if (i + 1 < argc && !strcmp(a, "-c"))
			o->catalog_bytes = strtoul(argv[++i], NULL, 10);
		else if (i + 1 < argc && !strcmp(a, "-z"))
			o->zstd_level = atoi(argv[++i]);
		else if (i + 1 < argc && !strcmp(a, "-r"))
			o->runs = atoi(argv[++i]);
		else
			usage();
	}
	if (i < argc)
		dir = argv[i++];
	if (i != argc || o->chunk_max == 0 || o->chunk_max > CHUNK_MAX_COUNT || o->partition_ns <= 0 || o->runs < 1)
		usage();
	return dir;
}

static void print_header(const struct opts *o)
{
	printf("historian chunk codec: chunks of <= %zu samples within %.0f-day partitions, catalog row %zu B "
	       "per chunk,\nzstd level %d; speeds single-threaded, best of %d runs. B/sample = bytes / points "
	       "in the files.\n\n",
	       o->chunk_max, (double)o->partition_ns / 86400e9, o->catalog_bytes, o->zstd_level, o->runs);
	printf("%-12s %8s %6s %9s %9s %9s %8s %9s %7s %7s\n", "set", "samples", "chunks", "historian", "chunks",
	       "gorilla", "hist/gor", "csv+zstd", "encode", "decode");
	printf("%-12s %8s %6s %9s %9s %9s %8s %9s %7s %7s\n", "", "", "", "+catalog", "only", "plain", "", "-19",
	       "Msmp/s", "Msmp/s");
}

int main(int argc, char **argv)
{
	struct opts o = {8192, (int64_t)30 * 86400 * 1000000000, 64, CHUNK_ZSTD_LEVEL_DEFAULT, 5, 0, 1};
	const char *dir = parse_args(argc, argv, &o);
	struct dataset sets[5];
	struct result res[5], all;
	size_t all_points = 0, all_csv = 0;

	if (load_set(&sets[0], dir, "skab", "skab/*/*.csv", ';', &o) ||
	    load_set(&sets[1], dir, "nab-real", "nab-real/*/*.csv", ',', &o) ||
	    load_set(&sets[2], dir, "ett-small", "ett-small/*.csv", ',', &o))
		return 1;
	make_synthetic(&sets[3], "plant", 100, 3600, 2, 3);
	make_synthetic(&sets[4], "regular", 1, 1 << 20, 1, 1);
	print_header(&o);
	memset(&all, 0, sizeof all);
	for (int k = 0; k < 5; k++) {
		run_set(&sets[k], &o, &res[k]);
		print_row(sets[k].name, sets[k].points, &res[k], &o, (double)sets[k].csv_zstd, 1);
		if (k < 3) {
			all.chunks += res[k].chunks;
			all.bytes += res[k].bytes;
			all.gorilla_bits += res[k].gorilla_bits;
			all_points += sets[k].points;
			all_csv += sets[k].csv_zstd;
		}
		if (k == 2)
			print_row("three sets", all_points, &all, &o, (double)all_csv, 0);
	}
	printf("\nB/sample by column (chunks only), encodings chosen per chunk:\n");
	for (int k = 0; k < 5; k++)
		print_detail(sets[k].name, &res[k], sets[k].points);
	printf("\nplant: 100 tags x 3,600 1-s samples, 2-3 decimals plus noise; regular: one tag, 2^20 1-s samples,\n"
	       "one decimal. Duplicate times replaced by the later sample: skab %zu, nab-real %zu, ett-small %zu.\n",
	       sets[0].dropped, sets[1].dropped, sets[2].dropped);
	return 0;
}

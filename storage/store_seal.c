/* store_seal.c: sealing the head into chunks, and the compactor thread that decides when.
 * A seal cuts the WAL and the head at one point (under append_lock), writes every tag's samples of the frozen head
 * as chunks, fsyncs the chunk files, commits the chunk rows with the new WAL checkpoint in one catalog transaction,
 * and only then drops the frozen head and trims the WAL. A failure before the commit leaves the frozen head in
 * place (queries still see it) and the next seal retries it. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/endian.h"
#include "lib/hs_error.h"
#include "lib/log.h"
#include "lib/memtrim.h"
#include "lib/vec.h"
#include "storage/chunk.h"
#include "storage/store_int.h"

#define SEAL_CHUNK_MAX_SAMPLES 65536
/* A chunk that holds this many samples ends at the next whole UTC hour, so
 * dense tags get chunks that hour, day and month buckets contain whole and
 * queries answer from their statistics; sparse tags keep long chunks. */
#define SEAL_CHUNK_HOUR_MIN_SAMPLES 2048
#define HOUR_NS 3600000000000LL
#define SEAL_FLUSH_BYTES (4u << 20)
#define SEAL_ZSTD_LEVEL 3     /* fast: seals run every hour on hot data */
#define COMPACT_ZSTD_LEVEL 9  /* cold partitions are rewritten once: spend more CPU on them */

/* Pending bytes of one partition, and the rows whose offsets point into them. */
struct pending {
	int64_t part_start, part_end;
	struct strbuf bytes;
	size_t first_row; /* rows [first_row, nrows) of the seal are in bytes */
	size_t *rows;
	size_t nrows, cap_rows;
};

struct seal {
	struct store *st;
	uint64_t seq;
	int zstd_level;
	struct pending parts[8];
	size_t nparts;
	struct catalog_chunk *rows;
	size_t nrows, cap_rows;
	struct chunk_columns cols;
	/* scratch arrays for the column view of a tag's samples */
	uint8_t *bools;
	const char **strs;
	uint32_t *str_lens;
	size_t scratch_cap;
};

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static void partition_of(const struct store *st, int64_t ts, int64_t *start, int64_t *end)
{
	int64_t p = st->opts.partition_ns;
	int64_t q = floor_div(ts, p);
	*start = q * p;
	*end = (*start > INT64_MAX - p) ? INT64_MAX : *start + p;
}

/* Write a partition's pending bytes to its file and fix its rows' places. */
static int flush_pending(struct seal *s, struct pending *p)
{
	uint64_t file_id, offset;
	int rc;

	if (p->bytes.len == 0)
		return 0;
	if (strbuf_failed(&p->bytes))
		return -ENOMEM;
	rc = chunkfiles_append(s->st->files, p->part_start, p->part_end, s->seq, p->bytes.data,
			       p->bytes.len, &file_id, &offset);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < p->nrows; i++) {
		struct catalog_chunk *row = &s->rows[p->rows[i]];
		row->file_id = file_id;
		row->offset += offset;
	}
	p->bytes.len = 0;
	p->nrows = 0;
	return 0;
}

static struct pending *pending_for(struct seal *s, int64_t start, int64_t end, int *rc)
{
	for (size_t i = 0; i < s->nparts; i++)
		if (s->parts[i].part_start == start)
			return &s->parts[i];
	if (s->nparts == sizeof s->parts / sizeof s->parts[0]) {
		/* Many partitions in one seal (a backfill): recycle the fullest. */
		struct pending *p = &s->parts[0];
		*rc = flush_pending(s, p);
		p->part_start = start;
		p->part_end = end;
		return *rc ? NULL : p;
	}
	s->parts[s->nparts] = (struct pending){.part_start = start, .part_end = end};
	return &s->parts[s->nparts++];
}

static int add_row(struct seal *s, struct pending *p, const struct catalog_chunk *row)
{
	if (vec_grow(&s->rows, &s->cap_rows, s->nrows, sizeof *s->rows) != 0 ||
	    vec_grow(&p->rows, &p->cap_rows, p->nrows, sizeof *p->rows) != 0)
		return -ENOMEM;
	s->rows[s->nrows] = *row;
	p->rows[p->nrows++] = s->nrows++;
	return 0;
}

/* Pre-aggregates of samples [i, j): over every sample whatever its quality;
 * flags tell readers when quality or NaN make them unfit for a query. */
static void chunk_stats(const struct sample_buf *b, size_t i, size_t j, enum value_type type,
			struct catalog_chunk *row)
{
	double prev = 0, sum = 0, integral = 0, step = 0, m2 = 0, mean;
	double min = INFINITY, max = -INFINITY;

	row->t_min = row->first_ts = b->ts_ns[i];
	row->t_max = row->last_ts = b->ts_ns[j - 1];
	row->count = (uint32_t)(j - i);
	row->good_count = 0;
	row->has_ext = true;
	row->first_q = b->quality[i];
	row->last_q = b->quality[j - 1];
	row->max_gap_ns = 0;
	for (size_t k = i; k < j; k++) {
		row->good_count += quality_is_good(b->quality[k]);
		if (k > i && b->ts_ns[k] - b->ts_ns[k - 1] > row->max_gap_ns)
			row->max_gap_ns = b->ts_ns[k] - b->ts_ns[k - 1];
	}
	if (row->good_count != row->count)
		row->flags |= STORE_CHUNK_NOT_ALL_GOOD;
	if (type != VALUE_FLOAT64 && type != VALUE_INT64)
		return;
	for (size_t k = i; k < j; k++) {
		double v = type == VALUE_FLOAT64 ? b->val[k].f64 : (double)b->val[k].i64;
		if (isnan(v))
			row->flags |= STORE_CHUNK_HAS_NAN;
		sum += v;
		if (v < min) {
			min = v;
			row->min_ts = b->ts_ns[k];
		}
		if (v > max) {
			max = v;
			row->max_ts = b->ts_ns[k];
		}
		if (k > i) { /* trapezoid (linear) and held value (step) */
			double dt = (double)(b->ts_ns[k] - b->ts_ns[k - 1]) / 1e9;
			integral += (prev + v) / 2 * dt;
			step += prev * dt;
		}
		prev = v;
		if (k == i)
			row->first_v = v;
	}
	mean = sum / (double)row->count;
	for (size_t k = i; k < j; k++) {
		double v = type == VALUE_FLOAT64 ? b->val[k].f64 : (double)b->val[k].i64;
		m2 += (v - mean) * (v - mean);
	}
	row->last_v = prev;
	row->min = min;
	row->max = max;
	row->sum = sum;
	row->integral = integral;
	row->integral_step = step;
	row->m2 = m2;
}

static int column_view(struct seal *s, const struct sample_buf *b, size_t i, size_t j,
		       enum value_type type)
{
	size_t n = j - i;

	if (n > s->scratch_cap) {
		free(s->bools);
		free(s->strs);
		free(s->str_lens);
		s->bools = malloc(n);
		s->strs = malloc(n * sizeof *s->strs);
		s->str_lens = malloc(n * sizeof *s->str_lens);
		s->scratch_cap = (s->bools && s->strs && s->str_lens) ? n : 0;
		if (!s->scratch_cap)
			return -ENOMEM;
	}
	s->cols = (struct chunk_columns){.count = n, .type = type, .ts_ns = b->ts_ns + i,
					 .quality = b->quality + i};
	/* union value64 is 8 bytes: its f64 and i64 members line up as arrays */
	if (type == VALUE_FLOAT64)
		s->cols.f64 = &b->val[i].f64;
	else if (type == VALUE_INT64)
		s->cols.i64 = &b->val[i].i64;
	else if (type == VALUE_BOOL) {
		for (size_t k = 0; k < n; k++)
			s->bools[k] = b->val[i + k].i64 != 0;
		s->cols.b = s->bools;
	} else {
		for (size_t k = 0; k < n; k++) {
			s->strs[k] = b->val[i + k].str->data;
			s->str_lens[k] = b->val[i + k].str->len;
		}
		s->cols.str = s->strs;
		s->cols.str_len = s->str_lens;
	}
	return 0;
}

static int seal_range(struct seal *s, uint32_t tag, enum value_type type,
		      const struct sample_buf *b, size_t i, size_t j, struct pending *p)
{
	struct catalog_chunk row = {.tag_id = tag, .seq = s->seq};
	size_t before = p->bytes.len;
	int rc;

	if ((rc = column_view(s, b, i, j, type)) != 0)
		return rc;
	rc = chunk_encode(&s->cols, s->zstd_level, &p->bytes);
	if (rc != 0) {
		log_error("storage", "tag %u: cannot encode a chunk: %s", tag, hs_strerror(rc));
		return rc;
	}
	row.offset = before; /* relative until flush_pending */
	row.length = (uint32_t)(p->bytes.len - before);
	/* A chunk ends with its own CRC; the catalog row keeps a copy. */
	row.crc = get_le32((const unsigned char *)p->bytes.data + p->bytes.len - 4);
	chunk_stats(b, i, j, type, &row);
	if ((rc = add_row(s, p, &row)) != 0)
		return rc;
	return p->bytes.len >= SEAL_FLUSH_BYTES ? flush_pending(s, p) : 0;
}

/* One tag's samples, split at partition edges, at the chunk size, and at
 * the hour once a chunk is dense (SEAL_CHUNK_HOUR_MIN_SAMPLES). */
static int seal_tag(struct seal *s, uint32_t tag, enum value_type type, const struct sample_buf *b)
{
	size_t i = 0;
	int rc = 0;

	while (i < b->count && rc == 0) {
		int64_t start, end;
		struct pending *p;
		size_t j;
		partition_of(s->st, b->ts_ns[i], &start, &end);
		j = sample_buf_lower_bound(b, end);
		if (j - i > SEAL_CHUNK_MAX_SAMPLES)
			j = i + SEAL_CHUNK_MAX_SAMPLES;
		if (j - i > SEAL_CHUNK_HOUR_MIN_SAMPLES) {
			int64_t t = b->ts_ns[i + SEAL_CHUNK_HOUR_MIN_SAMPLES - 1];
			int64_t hour = t - ((t % HOUR_NS) + HOUR_NS) % HOUR_NS;
			if (hour <= INT64_MAX - HOUR_NS) {
				size_t k = sample_buf_lower_bound(b, hour + HOUR_NS);
				if (k < j)
					j = k;
			}
		}
		p = pending_for(s, start, end, &rc);
		if (p)
			rc = seal_range(s, tag, type, b, i, j, p);
		i = j;
	}
	return rc;
}

static void seal_free(struct seal *s)
{
	for (size_t i = 0; i < s->nparts; i++) {
		strbuf_free(&s->parts[i].bytes);
		free(s->parts[i].rows);
	}
	free(s->rows);
	free(s->bools);
	free(s->strs);
	free(s->str_lens);
}

/* Write the frozen head as chunks and commit them with checkpoint pos. */
static int seal_frozen(struct store *st, struct head *frozen, uint64_t pos, size_t *chunks)
{
	struct seal s = {.st = st, .seq = st->seal_seq + 1, .zstd_level = SEAL_ZSTD_LEVEL};
	uint32_t limit = head_id_limit(frozen);
	int rc = 0;

	for (uint32_t tag = 0; tag < limit && rc == 0; tag++) {
		enum value_type type;
		struct sample_buf *b = head_series_sorted(frozen, tag, &type, &rc);
		if (b)
			rc = seal_tag(&s, tag, type, b);
	}
	for (size_t i = 0; i < s.nparts && rc == 0; i++)
		rc = flush_pending(&s, &s.parts[i]);
	if (rc == 0)
		rc = chunkfiles_sync(st->files);
	if (rc == 0) {
		struct catalog_state_kv state[] = {{STORE_CHECKPOINT_KEY, pos},
						   {STORE_SEAL_SEQ_KEY, s.seq}};
		rc = catalog_commit_seal(st->cat, s.rows, s.nrows, state, 2);
		if (rc != 0)
			log_error("storage", "seal: catalog commit failed: %s", catalog_errmsg());
	}
	if (rc == 0) {
		st->seal_seq = s.seq;
		*chunks = s.nrows;
		for (size_t i = 0; i < s.nrows; i++)
			store__tag_sealed(st, registry_type(st->reg, s.rows[i].tag_id), &s.rows[i]);
	} else {
		chunkfiles_abandon(st->files);
	}
	seal_free(&s);
	return rc;
}

int store__seal(struct store *st)
{
	uint64_t t0 = clock_mono_ns(), pos, paused_ns = 0;
	struct head *fresh = NULL, *frozen;
	size_t chunks = 0, samples, given_back;
	int rc = 0;

	pthread_mutex_lock(&st->seal_lock);
	if (!st->frozen) {
		if ((rc = head_new(&fresh)) != 0)
			goto out;
		pthread_mutex_lock(&st->append_lock);
		paused_ns = clock_mono_ns();
		if (head_samples(st->head) == 0) {
			pthread_mutex_unlock(&st->append_lock);
			head_release(fresh);
			goto out;
		}
		rc = wal_roll(st->wal, &pos);
		if (rc == 0) {
			pthread_rwlock_wrlock(&st->heads_lock);
			st->frozen = st->head;
			st->frozen_pos = pos;
			st->head = fresh;
			pthread_rwlock_unlock(&st->heads_lock);
		}
		/* The only time a seal holds appends up: roll and swap. */
		paused_ns = clock_mono_ns() - paused_ns;
		pthread_mutex_unlock(&st->append_lock);
		if (paused_ns > atomic_load(&st->max_seal_pause_ns))
			atomic_store(&st->max_seal_pause_ns, paused_ns);
		if (rc != 0) {
			head_release(fresh);
			goto out;
		}
	}
	frozen = st->frozen;
	samples = head_samples(frozen);
	rc = seal_frozen(st, frozen, st->frozen_pos, &chunks);
	if (rc != 0) {
		atomic_fetch_add(&st->seal_failures, 1);
		log_error("storage", "seal of %zu samples failed: %s; will retry", samples,
			  hs_strerror(rc));
		goto out;
	}
	pthread_rwlock_wrlock(&st->heads_lock);
	st->frozen = NULL;
	pthread_rwlock_unlock(&st->heads_lock);
	head_release(frozen);
	given_back = mem_give_back();
	/* The checkpoint is committed: the WAL before it may go. */
	rc = wal_trim(st->wal, st->frozen_pos);
	if (rc != 0)
		log_warn("storage", "WAL trim failed (will retry at the next seal): %s",
			 hs_strerror(rc));
	rc = 0;
	atomic_fetch_add(&st->seals, 1);
	atomic_fetch_add(&st->chunks_written, chunks);
	log_info("storage", "sealed %zu samples into %zu chunks in %.3f s (appends held %.3f ms; "
		 "%.1f MiB of freed memory given back)", samples, chunks,
		 (double)(clock_mono_ns() - t0) / 1e9, (double)paused_ns / 1e6,
		 (double)given_back / (1024.0 * 1024.0));
out:
	st->last_seal_mono_ns = clock_mono_ns();
	pthread_mutex_unlock(&st->seal_lock);
	pthread_mutex_lock(&st->wake_lock);
	pthread_cond_broadcast(&st->sealed);
	pthread_mutex_unlock(&st->wake_lock);
	return rc;
}

/* --- compaction ---------------------------------------------------------
 * A partition that several seals wrote to holds several files, small chunks
 * and, after late data, overlapping ones. Compaction rewrites the partition
 * into one file: per tag, every chunk decoded (oldest seal first, so a
 * newer sample wins a tie), merged, cut into chunks again and compressed
 * harder; then one catalog transaction swaps the rows, and the old files
 * go once no scan pins them. A crash before the swap leaves a new file
 * without rows, after it old files without rows: chunkfiles_open() deletes
 * either. */

struct rows {
	struct catalog_chunk *v;
	size_t count, cap;
};

static int push_row(void *arg, const struct catalog_chunk *c)
{
	struct rows *r = arg;
	if (vec_grow(&r->v, &r->cap, r->count, sizeof *r->v) != 0)
		return -ENOMEM;
	r->v[r->count++] = *c;
	return 0;
}

static int file_id_of(void *arg, const struct catalog_file *f)
{
	struct rows *ids = arg; /* file ids ride in the id field */
	struct catalog_chunk c = {.id = f->id};
	return push_row(ids, &c);
}

static int by_tag_then_seq(const void *a, const void *b)
{
	const struct catalog_chunk *x = a, *y = b;
	if (x->tag_id != y->tag_id)
		return x->tag_id < y->tag_id ? -1 : 1;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return x->t_min < y->t_min ? -1 : x->t_min > y->t_min;
}

static void free_strings(struct sample_buf *b)
{
	for (size_t i = 0; i < b->count; i++)
		free((void *)b->val[i].str);
}

/* Decode one chunk row and append its samples to b (strings copied). */
static int gather_chunk(struct store *st, const struct catalog_chunk *c, struct sample_buf *b)
{
	struct chunk_decoded d;
	void *raw = malloc(c->length);
	int rc;

	if (!raw)
		return -ENOMEM;
	rc = chunkfiles_read(st->files, c->file_id, c->offset, raw, c->length);
	if (rc == 0)
		rc = chunk_decode(raw, c->length, &d);
	free(raw);
	if (rc != 0)
		return rc;
	rc = sample_buf_reserve(b, d.count);
	for (size_t i = 0; rc == 0 && i < d.count; i++) {
		union value64 v = {0};
		switch (d.type) {
		case VALUE_FLOAT64: v.f64 = d.f64[i]; break;
		case VALUE_INT64: v.i64 = d.i64[i]; break;
		case VALUE_BOOL: v.i64 = d.b[i] != 0; break;
		case VALUE_STRING: {
			struct hs_string *copy = malloc(sizeof *copy + d.str_len[i]);
			if (!copy) {
				rc = -ENOMEM;
				continue;
			}
			copy->len = d.str_len[i];
			memcpy(copy->data, d.str[i], d.str_len[i]);
			v.str = copy;
			break;
		}
		}
		sample_buf_put(b, d.ts_ns[i], v, d.quality[i]);
	}
	chunk_decoded_free(&d);
	return rc;
}

static void drop_string(union value64 v)
{
	free((void *)v.str);
}

/* Merge one tag's chunks rows[0..n) (oldest seal first) into new chunks. */
static int compact_tag(struct seal *s, const struct catalog_chunk *rows, size_t n)
{
	enum value_type type = registry_type(s->st->reg, rows[0].tag_id);
	struct sample_buf b = SAMPLE_BUF_INIT;
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++)
		rc = gather_chunk(s->st, &rows[i], &b);
	if (rc == 0)
		rc = sample_buf_sort_dedup(&b, type == VALUE_STRING ? drop_string : NULL);
	if (rc == 0 && b.count)
		rc = seal_tag(s, rows[0].tag_id, type, &b);
	if (type == VALUE_STRING)
		free_strings(&b);
	sample_buf_free(&b);
	return rc;
}

/* Swap the rows, then retire the old files. */
static int compact_commit(struct seal *s, struct rows *old, const struct rows *files)
{
	uint64_t *old_ids = malloc((old->count ? old->count : 1) * sizeof *old_ids);
	int rc;

	if (!old_ids)
		return -ENOMEM;
	for (size_t i = 0; i < old->count; i++)
		old_ids[i] = old->v[i].id;
	rc = catalog_replace_chunks(s->st->cat, old_ids, old->count, s->rows, s->nrows);
	free(old_ids);
	if (rc != 0) {
		log_error("storage", "compaction: catalog swap failed: %s", catalog_errmsg());
		return rc;
	}
	for (size_t i = 0; i < files->count; i++) {
		uint64_t id = files->v[i].id;
		if (catalog_file_remove(s->st->cat, id) != 0 || chunkfiles_remove(s->st->files, id) != 0)
			log_warn("storage", "compaction: file %llu stays until the next start",
				 (unsigned long long)id);
	}
	return 0;
}

int store__compact_partition(struct store *st, const struct catalog_partition *part)
{
	struct seal s = {.st = st, .seq = st->seal_seq + 1, .zstd_level = COMPACT_ZSTD_LEVEL};
	struct rows files = {0}, old = {0};
	uint64_t t0 = clock_mono_ns();
	int rc;

	rc = catalog_files_list(st->cat, part->start_ns, file_id_of, &files);
	for (size_t i = 0; rc == 0 && i < files.count; i++)
		rc = catalog_chunks_of_file(st->cat, files.v[i].id, push_row, &old);
	/* Reserve the sequence first: the new file is named after it. */
	if (rc == 0)
		rc = catalog_state_set(st->cat, STORE_SEAL_SEQ_KEY, s.seq);
	if (rc == 0)
		st->seal_seq = s.seq;
	qsort(old.v, old.count, sizeof *old.v, by_tag_then_seq);
	for (size_t i = 0, j; rc == 0 && i < old.count; i = j) {
		for (j = i + 1; j < old.count && old.v[j].tag_id == old.v[i].tag_id; j++)
			;
		rc = compact_tag(&s, &old.v[i], j - i);
	}
	for (size_t i = 0; i < s.nparts && rc == 0; i++)
		rc = flush_pending(&s, &s.parts[i]);
	if (rc == 0)
		rc = chunkfiles_sync(st->files);
	if (rc == 0)
		rc = compact_commit(&s, &old, &files);
	/* After the swap: a crash before this mark only means the partition
	 * is rewritten once more. */
	for (size_t i = 0; rc == 0 && i < s.nrows; i++)
		if (i == 0 || s.rows[i].file_id != s.rows[i - 1].file_id)
			rc = catalog_file_set_compacted(st->cat, s.rows[i].file_id);
	if (rc == 0)
		log_info("storage", "compacted partition %lld: %zu chunks in %zu files into %zu chunks in %.3f s",
			 (long long)(part->start_ns / 1000000000), old.count, files.count, s.nrows,
			 (double)(clock_mono_ns() - t0) / 1e9);
	else
		chunkfiles_abandon(st->files);
	seal_free(&s);
	free(files.v);
	free(old.v);
	return rc;
}

static int push_partition(void *arg, const struct catalog_partition *p)
{
	struct store_partitions *l = arg;
	if (vec_grow(&l->v, &l->cap, l->count, sizeof *l->v) != 0)
		return -ENOMEM;
	l->v[l->count++] = *p;
	return 0;
}

int store__partitions(struct store *st, struct store_partitions *out)
{
	*out = (struct store_partitions){0};
	return catalog_partitions_list(st->cat, push_partition, out);
}

int store__compact(struct store *st, bool hot_too, size_t *done)
{
	struct store_partitions parts;
	int64_t now = clock_real_ns();
	int rc;

	*done = 0;
	rc = store__partitions(st, &parts);
	for (size_t i = 0; rc == 0 && i < parts.count; i++) {
		const struct catalog_partition *p = &parts.v[i];
		/* Cold: no regular sample can still arrive for it. */
		bool cold = p->end_ns <= now - st->opts.seal_interval_ns;
		/* One file a seal wrote is rewritten too: its chunks are at the
		 * seal's fast zstd level (a partition filled by one import). */
		bool done_already = p->files == 1 && p->compacted_files == 1;
		if (p->files == 0 || done_already || (!cold && !hot_too))
			continue;
		/* The lock per partition: seals go on between them, so a long
		 * round (the first after an upgrade rewrites every partition once)
		 * never holds the head back for more than one partition. */
		pthread_mutex_lock(&st->seal_lock);
		rc = store__compact_partition(st, p);
		pthread_mutex_unlock(&st->seal_lock);
		if (rc == 0)
			(*done)++;
	}
	free(parts.v);
	if (*done > 0)
		mem_give_back(); /* the merge buffers of every rewritten tag */
	if (rc != 0)
		atomic_fetch_add(&st->compaction_failures, 1);
	atomic_fetch_add(&st->compactions, *done);
	return rc;
}

void *store__compactor_main(void *arg)
{
	struct store *st = arg;

	pthread_mutex_lock(&st->wake_lock);
	while (!st->stopping) {
		uint64_t now = clock_mono_ns();
		uint64_t due = st->last_seal_mono_ns + (uint64_t)st->opts.seal_interval_ns;
		if (st->seal_requested || now >= due) {
			size_t compacted;
			st->seal_requested = false;
			pthread_mutex_unlock(&st->wake_lock);
			if (store__seal(st) != 0)
				usleep(100000); /* a failing disk: don't spin */
			else if (store__compact(st, false, &compacted) != 0)
				log_warn("storage", "compaction failed; will retry after the next seal");
			else if (store__retention(st, clock_real_ns(), &compacted) != 0)
				log_warn("storage", "retention failed; will retry after the next seal");
			pthread_mutex_lock(&st->wake_lock);
			continue;
		}
		struct timespec until = {(time_t)(due / 1000000000u), (long)(due % 1000000000u)};
		pthread_cond_timedwait(&st->wake, &st->wake_lock, &until);
	}
	pthread_mutex_unlock(&st->wake_lock);
	return NULL;
}

/* store_scan.c: reading a tag: chunks and heads merged in time order, neighbours of a range, chunk pre-aggregates.
 * A scan pins the heads it saw at open (references), so a seal that runs meanwhile cannot free what it reads; a
 * sample may then be seen both in a chunk and in the frozen head, which last-write-wins merging makes harmless. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/endian.h"
#include "lib/hs_error.h"
#include "lib/log.h"
#include "lib/vec.h"
#include "storage/chunk.h"
#include "storage/store_int.h"

struct chunk_list {
	struct catalog_chunk *rows;
	size_t count, cap;
	size_t pinned; /* rows whose files are pinned: the first `pinned` */
};

static int add_chunk(void *arg, const struct catalog_chunk *c);

struct store_scan {
	struct store *st;
	uint32_t tag_id;
	enum value_type type;
	int64_t t0, t1;
	struct head *heads[2];  /* frozen (may be NULL), live */
	struct chunk_list chunks;
	size_t next_chunk;
	bool head_done;
	struct sample_buf headbuf; /* the heads' samples in [t0, t1) */
	struct sample_buf out;     /* the block handed out */
	struct chunk_decoded dec;
	bool have_dec;
	/* column views of out for string and bool tags */
	const char **strs;
	uint32_t *str_lens;
	/* copies of the neighbours' string values: dec is reused between calls */
	char *neighbour_str[2];
	/* numbers: chunks go out cluster by cluster (see next_clustered) */
	size_t head_pos;           /* headbuf samples before this are handed out */
	struct sample_buf head_view; /* a slice of headbuf handed out as a block */
	/* store_scan_use_stats(): whole chunks answered by their stats */
	bool (*accept)(void *arg, const struct store_chunk_stats *stats);
	void *accept_arg;
	struct store_chunk_stats stats;
};

/* A catalog row's pre-aggregates as store.h shows them. */
static void stats_of(const struct catalog_chunk *c, uint32_t extra_flags, struct store_chunk_stats *s)
{
	*s = (struct store_chunk_stats){
		.t_min = c->t_min,         .t_max = c->t_max,       .count = c->count,
		.good_count = c->good_count, .flags = c->flags | extra_flags,
		.min = c->min,             .max = c->max,           .sum = c->sum,
		.integral = c->integral,   .first_ts = c->first_ts, .last_ts = c->last_ts,
		.first_v = c->first_v,     .last_v = c->last_v,     .has_ext = c->has_ext,
		.min_ts = c->min_ts,       .max_ts = c->max_ts,     .first_q = c->first_q,
		.last_q = c->last_q,       .m2 = c->m2,             .integral_step = c->integral_step,
		.max_gap_ns = c->max_gap_ns,
	};
}

/* Pin every file the listed chunks live in, so compaction cannot delete
 * one under the scan. -EAGAIN when one was removed meanwhile: list again. */
static int pin_files(struct store *st, const struct chunk_list *l)
{
	for (size_t i = 0; i < l->count; i++) {
		if (chunkfiles_pin(st->files, l->rows[i].file_id) == 0)
			continue;
		while (i-- > 0)
			chunkfiles_unpin(st->files, l->rows[i].file_id);
		return -EAGAIN;
	}
	return 0;
}

static void unpin_files(struct store *st, const struct chunk_list *l)
{
	for (size_t i = 0; i < l->pinned; i++)
		chunkfiles_unpin(st->files, l->rows[i].file_id);
}

/* catalog_chunks_range into l with every file pinned (l->count reset). */
static int list_pinned(struct store *st, uint32_t tag, int64_t t0, int64_t t1,
		       struct chunk_list *l)
{
	int rc = -EAGAIN;

	for (int attempt = 0; attempt < 5 && rc == -EAGAIN; attempt++) {
		l->count = 0;
		rc = catalog_chunks_range(st->cat, tag, t0, t1, add_chunk, l);
		if (rc == 0)
			rc = pin_files(st, l);
	}
	if (rc != 0)
		l->count = 0;
	return rc;
}

static int add_chunk(void *arg, const struct catalog_chunk *c)
{
	struct chunk_list *l = arg;
	if (vec_grow(&l->rows, &l->cap, l->count, sizeof *l->rows) != 0)
		return -ENOMEM;
	l->rows[l->count++] = *c;
	return 0;
}

/* Read and decode one chunk into dec (replacing what was there). */
static int load_chunk(struct store_scan *sc, const struct catalog_chunk *c)
{
	void *buf = malloc(c->length);
	int rc;

	if (!buf)
		return -ENOMEM;
	rc = chunkfiles_read(sc->st->files, c->file_id, c->offset, buf, c->length);
	if (rc == 0 && get_le32((unsigned char *)buf + c->length - 4) != c->crc)
		rc = HS_ECORRUPT;
	if (sc->have_dec) {
		chunk_decoded_free(&sc->dec);
		sc->have_dec = false;
	}
	if (rc == 0)
		rc = chunk_decode(buf, c->length, &sc->dec);
	if (rc == 0)
		sc->have_dec = true;
	else
		log_error("storage", "tag %u: chunk %llu (file %llu, offset %llu): %s", sc->tag_id,
			  (unsigned long long)c->id, (unsigned long long)c->file_id,
			  (unsigned long long)c->offset, hs_strerror(rc));
	free(buf);
	return rc;
}

/* Append the decoded chunk's samples with lo <= ts < hi to buf. */
static int append_decoded(struct store_scan *sc, struct sample_buf *buf, int64_t lo, int64_t hi)
{
	const struct chunk_decoded *d = &sc->dec;
	int rc = sample_buf_reserve(buf, d->count);

	if (rc != 0)
		return rc;
	for (size_t i = 0; i < d->count; i++) {
		union value64 v = {0};
		if (d->ts_ns[i] < lo || d->ts_ns[i] >= hi)
			continue;
		switch (d->type) {
		case VALUE_FLOAT64: v.f64 = d->f64[i]; break;
		case VALUE_INT64: v.i64 = d->i64[i]; break;
		case VALUE_BOOL: v.i64 = d->b[i]; break;
		case VALUE_STRING: v.u64 = i; break; /* index into dec's strings */
		}
		sample_buf_put(buf, d->ts_ns[i], v, d->quality[i]);
	}
	return 0;
}

int store_scan_open(struct store *st, uint32_t tag_id, int64_t t0, int64_t t1,
		    struct store_scan **out)
{
	struct store_scan *sc = calloc(1, sizeof *sc);
	int rc = 0;

	*out = NULL;
	if (!sc)
		return -ENOMEM;
	sc->st = st;
	sc->tag_id = tag_id;
	sc->t0 = t0;
	sc->t1 = t1;
	sc->type = registry_type(st->reg, tag_id);
	if (sc->type == 0) {
		free(sc);
		return -ENOENT;
	}
	pthread_rwlock_rdlock(&st->heads_lock);
	sc->heads[0] = st->frozen;
	sc->heads[1] = st->head;
	for (int i = 0; i < 2; i++)
		if (sc->heads[i])
			head_acquire(sc->heads[i]);
	pthread_rwlock_unlock(&st->heads_lock);
	/* Heads before the catalog: a seal committing in between shows its
	 * samples twice, never not at all. */
	for (int i = 0; i < 2 && rc == 0; i++)
		if (sc->heads[i])
			rc = head_collect(sc->heads[i], tag_id, t0, t1, &sc->headbuf);
	if (rc == 0 && sc->heads[0])
		rc = sample_buf_sort_dedup(&sc->headbuf, NULL);
	if (rc == 0 && t0 < t1)
		rc = list_pinned(st, tag_id, t0, t1, &sc->chunks);
	sc->chunks.pinned = sc->chunks.count;
	if (rc != 0) {
		store_scan_close(sc);
		return rc;
	}
	*out = sc;
	return 0;
}

static int fill_block(struct store_scan *sc, struct sample_buf *src, bool from_dec,
		      struct store_block *blk)
{
	size_t n = src->count;

	*blk = (struct store_block){.count = n, .type = sc->type, .ts_ns = src->ts_ns,
				    .quality = src->quality};
	if (sc->type == VALUE_FLOAT64) {
		blk->f64 = &src->val[0].f64;
		return 1;
	}
	if (sc->type == VALUE_INT64 || sc->type == VALUE_BOOL) {
		blk->i64 = &src->val[0].i64;
		return 1;
	}
	free(sc->strs);
	free(sc->str_lens);
	sc->strs = malloc((n ? n : 1) * sizeof *sc->strs);
	sc->str_lens = malloc((n ? n : 1) * sizeof *sc->str_lens);
	if (!sc->strs || !sc->str_lens)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (from_dec) {
			sc->strs[i] = sc->dec.str[src->val[i].u64];
			sc->str_lens[i] = sc->dec.str_len[src->val[i].u64];
		} else {
			sc->strs[i] = src->val[i].str->data;
			sc->str_lens[i] = src->val[i].str->len;
		}
	}
	blk->str = sc->strs;
	blk->str_len = sc->str_lens;
	return 1;
}

void store_scan_use_stats(struct store_scan *sc,
			  bool (*accept)(void *arg, const struct store_chunk_stats *stats), void *arg)
{
	if (sc->type == VALUE_FLOAT64 || sc->type == VALUE_INT64) {
		sc->accept = accept;
		sc->accept_arg = arg;
	}
}

/* Streaming only (chunks disjoint, the head after them): may chunk c be
 * handed out as its stats? Asks the scan's accept function. */
static bool offer_stats(struct store_scan *sc, const struct catalog_chunk *c)
{
	if (!sc->accept || c->t_min < sc->t0 || c->t_max >= sc->t1)
		return false;
	stats_of(c, 0, &sc->stats);
	return sc->accept(sc->accept_arg, &sc->stats);
}

/* Hand out headbuf[head_pos, end) as a block (end > head_pos). */
static int head_slice(struct store_scan *sc, size_t end, struct store_block *blk)
{
	struct sample_buf *h = &sc->headbuf;

	sc->head_view = (struct sample_buf){end - sc->head_pos, 0, h->ts_ns + sc->head_pos,
					    h->val + sc->head_pos, h->quality + sc->head_pos};
	sc->head_pos = end;
	return fill_block(sc, &sc->head_view, false, blk);
}

/* Decode chunks [from, to) (one cluster of overlapping chunks) and the
 * head's samples up to head_end into sc->out, merged in time order, last
 * write winning: older seals first, the head last, a stable sort. */
static int merge_cluster(struct store_scan *sc, size_t from, size_t to, size_t head_end)
{
	struct catalog_chunk *rows = sc->chunks.rows;
	int rc = 0;

	/* Oldest seal first within the cluster (insertion sort: clusters are small). */
	for (size_t i = from + 1; i < to; i++)
		for (size_t k = i; k > from && rows[k].seq < rows[k - 1].seq; k--) {
			struct catalog_chunk tmp = rows[k];
			rows[k] = rows[k - 1];
			rows[k - 1] = tmp;
		}
	sample_buf_clear(&sc->out);
	for (size_t i = from; i < to && rc == 0; i++) {
		rc = load_chunk(sc, &rows[i]);
		if (rc == 0)
			rc = append_decoded(sc, &sc->out, sc->t0, sc->t1);
	}
	if (rc == 0)
		rc = sample_buf_reserve(&sc->out, head_end - sc->head_pos);
	for (size_t i = sc->head_pos; rc == 0 && i < head_end; i++)
		sample_buf_put(&sc->out, sc->headbuf.ts_ns[i], sc->headbuf.val[i],
			       sc->headbuf.quality[i]);
	sc->head_pos = head_end;
	return rc == 0 ? sample_buf_sort_dedup(&sc->out, NULL) : rc;
}

/* A chunk taken alone: its statistics when they answer the caller (1, blk
 * set), else its samples in [t0, t1) decoded into sc->out (0); or an
 * error. */
static int single_chunk(struct store_scan *sc, const struct catalog_chunk *c, struct store_block *blk)
{
	int rc;

	if (offer_stats(sc, c)) {
		*blk = (struct store_block){.type = sc->type, .stats = &sc->stats};
		return 1;
	}
	if ((rc = load_chunk(sc, c)) != 0)
		return rc;
	sample_buf_clear(&sc->out);
	return append_decoded(sc, &sc->out, sc->t0, sc->t1);
}

/* Numbers: walk the chunks (by t_min) as clusters of overlapping ones.
 * Head samples before a cluster go out first; a lone chunk with no head
 * sample in its span streams (or goes out as its stats); a cluster, or a
 * chunk with head samples inside its span, is decoded and merged. One
 * late chunk thus costs a merge of its own neighbourhood only. */
static int next_clustered(struct store_scan *sc, struct store_block *blk)
{
	struct sample_buf *h = &sc->headbuf;
	int rc;

	while (sc->next_chunk < sc->chunks.count) {
		size_t from = sc->next_chunk, to = from + 1, head_end;
		int64_t start = sc->chunks.rows[from].t_min, end = sc->chunks.rows[from].t_max;
		while (to < sc->chunks.count && sc->chunks.rows[to].t_min <= end) {
			if (sc->chunks.rows[to].t_max > end)
				end = sc->chunks.rows[to].t_max;
			to++;
		}
		head_end = sc->head_pos;
		while (head_end < h->count && h->ts_ns[head_end] < start)
			head_end++;
		if (head_end > sc->head_pos)
			return head_slice(sc, head_end, blk);
		while (head_end < h->count && h->ts_ns[head_end] <= end)
			head_end++;
		sc->next_chunk = to;
		if (to == from + 1 && head_end == sc->head_pos) {
			if ((rc = single_chunk(sc, &sc->chunks.rows[from], blk)) != 0)
				return rc;
		} else if ((rc = merge_cluster(sc, from, to, head_end)) != 0) {
			return rc;
		}
		if (sc->out.count)
			return fill_block(sc, &sc->out, true, blk);
	}
	if (sc->head_pos < h->count)
		return head_slice(sc, h->count, blk);
	return 0;
}

int store_scan_next(struct store_scan *sc, struct store_block *blk)
{
	int rc;

	if (sc->type != VALUE_STRING)
		return next_clustered(sc, blk);
	/* Strings from several decoded chunks cannot be held at once by this
	 * path: they go chunk by chunk, then the head, so overlapping string
	 * chunks are not merged until compaction merges them. */
	while (sc->next_chunk < sc->chunks.count) {
		/* Streaming: each chunk clipped to the range on its own, then
		 * the head, whose samples start after the last chunk. */
		if ((rc = single_chunk(sc, &sc->chunks.rows[sc->next_chunk++], blk)) != 0)
			return rc;
		if (sc->out.count)
			return fill_block(sc, &sc->out, true, blk);
	}
	if (!sc->head_done) {
		sc->head_done = true;
		if (sc->headbuf.count)
			return fill_block(sc, &sc->headbuf, false, blk);
	}
	return 0;
}

static void set_point(struct store_point *p, enum value_type type, int64_t ts, union value64 v,
		      quality_t q, const char *str, uint32_t len)
{
	*p = (struct store_point){.ts_ns = ts, .quality = q};
	if (type == VALUE_FLOAT64)
		p->f64 = v.f64;
	else if (type == VALUE_STRING) {
		p->str = str;
		p->str_len = len;
	} else
		p->i64 = v.i64;
}

/* The neighbour straight from the catalog row when one chunk alone holds
 * the answer at its edge and the row knows that sample exactly (numbers
 * only; an integer beyond 2^53 is not exact as a double). */
static bool stats_neighbour(const struct store_scan *sc, const struct chunk_list *l, int64_t t,
			    bool before, struct store_point *p)
{
	const struct catalog_chunk *c = &l->rows[0];
	double v;

	if (l->count != 1 || !c->has_ext ||
	    (sc->type != VALUE_FLOAT64 && sc->type != VALUE_INT64) ||
	    (before ? c->t_max >= t : c->t_min < t))
		return false;
	v = before ? c->last_v : c->first_v;
	if (sc->type == VALUE_INT64 && !(fabs(v) <= 9007199254740992.0))
		return false;
	*p = (struct store_point){.ts_ns = before ? c->last_ts : c->first_ts,
				  .quality = before ? c->last_q : c->first_q};
	if (sc->type == VALUE_FLOAT64)
		p->f64 = v;
	else
		p->i64 = (int64_t)v;
	return true;
}

/* Neighbour in the chunks: before (last ts < t) or after (first ts >= t). */
static int chunk_neighbour(struct store_scan *sc, int64_t t, bool before, struct store_point *p,
			   bool *found)
{
	struct catalog_chunk c;
	struct chunk_list l = {0};
	uint64_t best_seq = 0;
	int rc;

	*found = false;
	rc = before ? catalog_chunk_before(sc->st->cat, sc->tag_id, t, &c, found)
		    : catalog_chunk_after(sc->st->cat, sc->tag_id, t, &c, found);
	if (rc != 0 || !*found)
		return rc;
	*found = false;
	rc = before ? list_pinned(sc->st, sc->tag_id, c.t_min, t, &l)
		    : list_pinned(sc->st, sc->tag_id, t, c.t_max == INT64_MAX ? c.t_max : c.t_max + 1,
				  &l);
	l.pinned = l.count;
	if (rc == 0 && stats_neighbour(sc, &l, t, before, p)) {
		*found = true;
		l.count = 0; /* answered: nothing to decode */
	}
	for (size_t i = 0; rc == 0 && i < l.count; i++) {
		const struct chunk_decoded *d = &sc->dec;
		if ((rc = load_chunk(sc, &l.rows[i])) != 0)
			break;
		for (size_t k = 0; k < d->count; k++) {
			int64_t ts = d->ts_ns[k];
			/* Equal times: the newer seal's sample wins. */
			bool tie_newer = *found && ts == p->ts_ns && l.rows[i].seq >= best_seq;
			bool better = before ? (ts < t && (!*found || ts > p->ts_ns || tie_newer))
					     : (ts >= t && (!*found || ts < p->ts_ns || tie_newer));
			if (!better)
				continue;
			union value64 v = {0};
			if (d->type == VALUE_FLOAT64)
				v.f64 = d->f64[k];
			else if (d->type == VALUE_INT64)
				v.i64 = d->i64[k];
			else if (d->type == VALUE_BOOL)
				v.i64 = d->b[k];
			set_point(p, d->type, ts, v, d->quality[k],
				  d->type == VALUE_STRING ? d->str[k] : NULL,
				  d->type == VALUE_STRING ? d->str_len[k] : 0);
			best_seq = l.rows[i].seq;
			*found = true;
		}
	}
	/* The point's string may live in dec: only the pins go. */
	unpin_files(sc->st, &l);
	free(l.rows);
	return rc;
}

static int neighbour(struct store_scan *sc, bool before, struct store_point *out)
{
	int64_t t = before ? sc->t0 : sc->t1;
	bool found;
	int rc = chunk_neighbour(sc, t, before, out, &found);

	if (rc != 0)
		return rc;
	/* The heads are newer than every chunk: on a tie in time they win. */
	for (int i = 0; i < 2; i++) {
		int64_t bts, ats;
		union value64 bv, av;
		quality_t bq, aq;
		int got;
		if (!sc->heads[i])
			continue;
		got = head_neighbours(sc->heads[i], sc->tag_id, t, &bts, &bv, &bq, &ats, &av, &aq);
		if (before && (got & 1) && (!found || bts >= out->ts_ns)) {
			set_point(out, sc->type, bts, bv, bq, sc->type == VALUE_STRING ? bv.str->data : NULL,
				  sc->type == VALUE_STRING ? bv.str->len : 0);
			found = true;
		}
		if (!before && (got & 2) && (!found || ats <= out->ts_ns)) {
			set_point(out, sc->type, ats, av, aq, sc->type == VALUE_STRING ? av.str->data : NULL,
				  sc->type == VALUE_STRING ? av.str->len : 0);
			found = true;
		}
	}
	return found ? 1 : 0;
}

/* Keep a neighbour's string in the scan, so it outlives the next decode. */
static int own_string(struct store_scan *sc, int slot, struct store_point *p)
{
	char *copy;

	if (sc->type != VALUE_STRING || !p->str)
		return 0;
	copy = malloc(p->str_len ? p->str_len : 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, p->str, p->str_len);
	free(sc->neighbour_str[slot]);
	sc->neighbour_str[slot] = copy;
	p->str = copy;
	return 0;
}

int store_scan_before(struct store_scan *sc, struct store_point *out)
{
	int rc = neighbour(sc, true, out);
	return rc == 1 && own_string(sc, 0, out) != 0 ? -ENOMEM : rc;
}

int store_scan_after(struct store_scan *sc, struct store_point *out)
{
	int rc = neighbour(sc, false, out);
	return rc == 1 && own_string(sc, 1, out) != 0 ? -ENOMEM : rc;
}

void store_scan_close(struct store_scan *sc)
{
	if (!sc)
		return;
	for (int i = 0; i < 2; i++)
		head_release(sc->heads[i]);
	if (sc->have_dec)
		chunk_decoded_free(&sc->dec);
	sample_buf_free(&sc->headbuf);
	sample_buf_free(&sc->out);
	unpin_files(sc->st, &sc->chunks);
	free(sc->chunks.rows);
	free(sc->strs);
	free(sc->str_lens);
	free(sc->neighbour_str[0]);
	free(sc->neighbour_str[1]);
	free(sc);
}

/* --- pre-aggregates ----------------------------------------------------- */

int store_chunk_stats(struct store *st, uint32_t tag_id, int64_t t0, int64_t t1,
		      int (*fn)(void *arg, const struct store_chunk_stats *stats), void *arg)
{
	struct chunk_list l = {0};
	struct sample_buf head = SAMPLE_BUF_INIT;
	struct head *heads[2];
	int64_t max_before = INT64_MIN;
	int rc = 0;

	pthread_rwlock_rdlock(&st->heads_lock);
	heads[0] = st->frozen;
	heads[1] = st->head;
	for (int i = 0; i < 2; i++)
		if (heads[i])
			head_acquire(heads[i]);
	pthread_rwlock_unlock(&st->heads_lock);
	for (int i = 0; i < 2 && rc == 0; i++)
		if (heads[i])
			rc = head_collect(heads[i], tag_id, t0, t1, &head);
	if (rc == 0)
		rc = catalog_chunks_range(st->cat, tag_id, t0, t1, add_chunk, &l);
	for (size_t i = 0; rc == 0 && i < l.count; i++) {
		const struct catalog_chunk *c = &l.rows[i];
		struct store_chunk_stats s;
		/* Rows come by t_min: an earlier chunk overlaps c when the largest
		 * t_max before it reaches c; a later one when the next starts
		 * inside c. */
		bool overlaps = (i > 0 && c->t_min <= max_before) ||
				(i + 1 < l.count && l.rows[i + 1].t_min <= c->t_max);
		if (i == 0 || c->t_max > max_before)
			max_before = c->t_max;
		if (c->t_min < t0 || c->t_max >= t1)
			continue;
		for (size_t k = 0; k < head.count && !overlaps; k++)
			overlaps = head.ts_ns[k] >= c->t_min && head.ts_ns[k] <= c->t_max;
		stats_of(c, overlaps ? STORE_CHUNK_OVERLAPS : 0, &s);
		rc = fn(arg, &s);
	}
	for (int i = 0; i < 2; i++)
		if (heads[i])
			head_release(heads[i]);
	sample_buf_free(&head);
	free(l.rows);
	return rc;
}

/* query_raw.c: raw samples in either order, the neighbours of a range and the latest value, behind query.h.
 * Descending order reads windows backwards from the end, each scanned ascending and handed out reversed. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/strbuf.h"
#include "lib/vec.h"
#include "query/query.h"

#define DESC_FIRST_WINDOW_NS (3600LL * 1000000000LL)
#define DESC_WANT_SAMPLES 4096 /* widen the window until it holds about this many */

struct query_raw {
	struct store *st;
	const struct query_tag *tag;
	int64_t t0, t1;
	bool desc;
	/* ascending: the live scan and its block */
	struct store_scan *sc;
	struct store_block blk;
	size_t i;
	bool ended;
	/* descending: one window's samples, copied, handed out from the back */
	int64_t hi, window_ns;
	struct query_sample *win;
	size_t win_count, win_cap;
	struct strbuf strs;        /* the window's string bytes; win[].str are offsets until handed out */
};

int query_raw_open(struct store *st, const struct query_tag *tag, int64_t t0, int64_t t1, bool desc,
		   struct query_raw **out)
{
	struct query_raw *r = calloc(1, sizeof *r);
	int rc = 0;

	*out = NULL;
	if (!r)
		return -ENOMEM;
	*r = (struct query_raw){.st = st, .tag = tag, .t0 = t0, .t1 = t1, .desc = desc, .hi = t1,
				.window_ns = DESC_FIRST_WINDOW_NS};
	if (!desc)
		rc = store_scan_open(st, tag->id, t0, t1, &r->sc);
	if (rc != 0) {
		free(r);
		return rc;
	}
	*out = r;
	return 0;
}

static void sample_from_block(const struct store_block *b, size_t i, struct query_sample *s)
{
	*s = (struct query_sample){.ts = b->ts_ns[i], .quality = b->quality[i]};
	switch (b->type) {
	case VALUE_FLOAT64: s->f64 = b->f64[i]; break;
	case VALUE_INT64:
	case VALUE_BOOL: s->i64 = b->i64[i]; break;
	case VALUE_STRING:
		s->str = b->str[i];
		s->str_len = b->str_len[i];
		break;
	}
}

/* Scan [lo, hi) into the window (copies, strings into r->strs). */
static int load_window(struct query_raw *r, int64_t lo, int64_t hi)
{
	struct store_scan *sc;
	struct store_block b;
	int rc;

	r->win_count = 0;
	r->strs.len = 0;
	if ((rc = store_scan_open(r->st, r->tag->id, lo, hi, &sc)) != 0)
		return rc;
	while ((rc = store_scan_next(sc, &b)) == 1) {
		for (size_t i = 0; i < b.count; i++) {
			struct query_sample *s;
			if (vec_grow(&r->win, &r->win_cap, r->win_count, sizeof *r->win) != 0) {
				rc = -ENOMEM;
				goto out;
			}
			s = &r->win[r->win_count++];
			sample_from_block(&b, i, s);
			if (b.type == VALUE_STRING) {
				s->str = (const char *)(uintptr_t)r->strs.len;
				strbuf_append(&r->strs, b.str[i], b.str_len[i]);
			}
		}
	}
	if (rc == 0 && strbuf_failed(&r->strs))
		rc = -ENOMEM;
out:
	store_scan_close(sc);
	return rc;
}

static int next_desc(struct query_raw *r, struct query_sample *s)
{
	int rc;

	while (r->win_count == 0) {
		int64_t lo;
		if (r->hi <= r->t0)
			return 0;
		/* Unsigned: hi - t0 overflows int64 over the whole time axis. */
		lo = (uint64_t)r->hi - (uint64_t)r->t0 <= (uint64_t)r->window_ns ? r->t0
										    : r->hi - r->window_ns;
		if ((rc = load_window(r, lo, r->hi)) != 0)
			return rc;
		if (r->win_count < DESC_WANT_SAMPLES && r->window_ns < INT64_MAX / 4)
			r->window_ns *= 4;
		r->hi = lo;
	}
	*s = r->win[--r->win_count];
	if (r->tag->type == VALUE_STRING)
		s->str = r->strs.data ? r->strs.data + (uintptr_t)s->str : "";
	return 1;
}

int query_raw_next(struct query_raw *r, struct query_sample *s)
{
	int rc;

	if (r->desc)
		return next_desc(r, s);
	while (!r->ended && r->i >= r->blk.count) {
		rc = store_scan_next(r->sc, &r->blk);
		if (rc < 0)
			return rc;
		if (rc == 0)
			r->ended = true;
		r->i = 0;
	}
	if (r->ended)
		return 0;
	sample_from_block(&r->blk, r->i++, s);
	return 1;
}

void query_raw_close(struct query_raw *r)
{
	if (!r)
		return;
	store_scan_close(r->sc);
	free(r->win);
	strbuf_free(&r->strs);
	free(r);
}

static void sample_from_point(enum value_type type, const struct store_point *p, char *buf,
			      struct query_sample *s)
{
	*s = (struct query_sample){.ts = p->ts_ns, .quality = p->quality, .f64 = p->f64,
				   .i64 = p->i64};
	if (type == VALUE_STRING) {
		s->str_len = p->str_len < QUERY_STR_MAX ? p->str_len : QUERY_STR_MAX;
		memmove(buf, p->str, s->str_len);
		s->str = buf;
	}
}

int query_raw_bounds(struct store *st, const struct query_tag *tag, int64_t t0, int64_t t1,
		     struct query_sample *before, bool *have_before, struct query_sample *after,
		     bool *have_after, char buf[2][QUERY_STR_MAX])
{
	struct store_scan *sc;
	struct store_point p;
	int rc;

	*have_before = *have_after = false;
	/* An empty range: the neighbours are still those of [t0, t1). */
	if ((rc = store_scan_open(st, tag->id, t0, t1 > t0 ? t1 : t0, &sc)) != 0)
		return rc;
	if ((rc = store_scan_before(sc, &p)) == 1) {
		sample_from_point(tag->type, &p, buf[0], before);
		*have_before = true;
	}
	if (rc >= 0 && (rc = store_scan_after(sc, &p)) == 1) {
		sample_from_point(tag->type, &p, buf[1], after);
		*have_after = true;
	}
	store_scan_close(sc);
	return rc < 0 ? rc : 0;
}

int query_current(struct store *st, const struct query_tag *tag, struct query_sample *out,
		  char buf[QUERY_STR_MAX])
{
	struct store_point p;
	int rc = store_last(st, tag->id, &p, buf, QUERY_STR_MAX);

	if (rc == 1)
		sample_from_point(tag->type, &p, buf, out);
	return rc;
}

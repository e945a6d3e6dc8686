/* ingest.c: the ingest pipeline behind ingest.h: payloads to named samples, bulk tag resolution, backpressure.
 * A batch is built by one thread; names are deduplicated per batch in a small open-addressing map so each distinct
 * tag is rendered, looked up and (when new) created once. Concurrency: only the pending-bytes account is shared. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/hs_error.h"
#include "lib/strbuf.h"
#include "lib/vec.h"
#include "server/ingest.h"
#include "server/ingest_int.h"
#include "server/tagname.h"

#define NAME_MAX_BYTES 1024

int ingest_new(struct store *st, const struct ingest_options *opts, struct ingest **out)
{
	struct ingest *ing = calloc(1, sizeof *ing);

	*out = NULL;
	if (!ing)
		return -ENOMEM;
	ing->st = st;
	ing->max_pending = opts && opts->max_pending_bytes ? opts->max_pending_bytes : 256u << 20;
	ing->wait_ms = opts && opts->wait_timeout_ms ? opts->wait_timeout_ms : 10000;
	pthread_mutex_init(&ing->lock, NULL);
	pthread_cond_init(&ing->room, NULL);
	ing->cores = sysconf(_SC_NPROCESSORS_ONLN);
	*out = ing;
	return 0;
}

void ingest_free(struct ingest *ing)
{
	if (!ing)
		return;
	pthread_mutex_destroy(&ing->lock);
	pthread_cond_destroy(&ing->room);
	free(ing);
}

void ingest__error(struct ingest_report *rep, uint32_t line, uint32_t column, const char *fmt, ...)
{
	va_list ap;

	rep->bad_lines++;
	if (rep->nerrors == INGEST_ERRORS_MAX)
		return;
	struct ingest_error *e = &rep->errors[rep->nerrors++];
	e->line = line;
	e->column = column;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof e->message, fmt, ap);
	va_end(ap);
}

/* --- batches ------------------------------------------------------------ */

int ingest__batch_new(struct ingest *ing, struct ingest_batch **out)
{
	struct ingest_batch *b = calloc(1, sizeof *b);

	*out = b;
	if (!b)
		return -ENOMEM;
	b->ing = ing;
	b->arena = (struct strbuf)STRBUF_INIT;
	return 0;
}

void ingest_batch_free(struct ingest_batch *b)
{
	if (!b)
		return;
	free(b->samples);
	free(b->pending);
	free(b->names);
	free(b->slots);
	free(b->labels);
	free(b->raw);
	free(b->raw_slots);
	strbuf_free(&b->arena);
	free(b);
}

size_t ingest_batch_samples(const struct ingest_batch *b)
{
	return b ? b->count : 0;
}

/* Copy bytes into the arena; returns their offset (arena may move: keep
 * offsets, not pointers, until the batch is complete). */
size_t ingest__keep(struct ingest_batch *b, const char *bytes, size_t len)
{
	size_t off = b->arena.len;
	strbuf_append(&b->arena, bytes, len);
	return off;
}

/* A word at a time: names are tens of bytes and hashed once per sample. */
static uint64_t hash_name(const char *p, size_t n)
{
	uint64_t h = 0x9E3779B97F4A7C15ull ^ n, w;

	for (; n >= 8; p += 8, n -= 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * 0xFF51AFD7ED558CCDull;
		h ^= h >> 32;
	}
	w = 0;
	memcpy(&w, p, n);
	h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
	h ^= h >> 29;
	return h | 1;
}

/* Double an open-addressing table over n items of stride bytes whose
 * first member is their uint64_t hash (batch_name, batch_raw_key). */
_Static_assert(offsetof(struct batch_name, hash) == 0, "hash first");
_Static_assert(offsetof(struct batch_raw_key, hash) == 0, "hash first");
static int grow_slot_table(uint32_t **slots_io, size_t *cap_io, const void *items, size_t n,
			   size_t stride)
{
	size_t cap = *cap_io ? *cap_io * 2 : 256;
	uint32_t *slots = malloc(cap * sizeof *slots);

	if (!slots)
		return -ENOMEM;
	memset(slots, 0xff, cap * sizeof *slots);
	for (size_t i = 0; i < n; i++) {
		uint64_t h;
		memcpy(&h, (const char *)items + i * stride, sizeof h);
		size_t k = h & (cap - 1);
		while (slots[k] != UINT32_MAX)
			k = (k + 1) & (cap - 1);
		slots[k] = (uint32_t)i;
	}
	free(*slots_io);
	*slots_io = slots;
	*cap_io = cap;
	return 0;
}

static int grow_slots(struct ingest_batch *b)
{
	return grow_slot_table(&b->slots, &b->slot_cap, b->names, b->nnames, sizeof *b->names);
}

int ingest__name(struct ingest_batch *b, const char *name, size_t len, enum value_type type,
		 const struct tagname_label *labels, size_t nlabels, uint32_t *index)
{
	uint64_t h = hash_name(name, len);
	size_t k;

	if ((b->nnames + 1) * 2 > b->slot_cap && grow_slots(b) != 0)
		return -ENOMEM;
	for (k = h & (b->slot_cap - 1); b->slots[k] != UINT32_MAX; k = (k + 1) & (b->slot_cap - 1)) {
		const struct batch_name *n = &b->names[b->slots[k]];
		if (n->hash == h && n->len == len && memcmp(b->arena.data + n->off, name, len) == 0) {
			*index = b->slots[k];
			return 0;
		}
	}
	if (vec_grow(&b->names, &b->names_cap, b->nnames, sizeof *b->names) != 0)
		return -ENOMEM;
	struct batch_name *n = &b->names[b->nnames];
	*n = (struct batch_name){.hash = h, .len = (uint32_t)len, .type = type,
				 .first_label = (uint32_t)b->nlabels, .nlabels = (uint32_t)nlabels};
	n->off = ingest__keep(b, name, len);
	for (size_t i = 0; i < nlabels; i++) {
		if (vec_grow(&b->labels, &b->labels_cap, b->nlabels, sizeof *b->labels) != 0)
			return -ENOMEM;
		b->labels[b->nlabels].key_off = ingest__keep(b, labels[i].key, labels[i].key_len);
		b->labels[b->nlabels].key_len = (uint32_t)labels[i].key_len;
		b->labels[b->nlabels].value_off = ingest__keep(b, labels[i].value, labels[i].value_len);
		b->labels[b->nlabels].value_len = (uint32_t)labels[i].value_len;
		b->nlabels++;
	}
	if (strbuf_failed(&b->arena))
		return -ENOMEM;
	b->slots[k] = (uint32_t)b->nnames;
	*index = (uint32_t)b->nnames++;
	return 0;
}

int ingest__add(struct ingest_batch *b, const struct pending_sample *p)
{
	if (vec_grow(&b->pending, &b->pending_cap, b->npending, sizeof *b->pending) != 0)
		return -ENOMEM;
	b->pending[b->npending++] = *p;
	return 0;
}

/* Record name i's resolution; for a type conflict also the tag's type. */
static void set_resolved(struct ingest_batch *b, size_t i, uint32_t id, int status)
{
	struct batch_name *nm = &b->names[i];
	uint32_t found;

	nm->id = id;
	nm->status = status;
	if (status == HS_ETYPE &&
	    store_tag_find(b->ing->st, b->arena.data + nm->off, nm->len, &found, &nm->existing) != 0)
		nm->existing = 0;
}

/* Create the names the store does not know yet, todo[0..n), in one call. */
static int create_new(struct ingest_batch *b, const size_t *todo, size_t n)
{
	size_t nl = 0, at = 0;
	struct store_tag_spec *specs = calloc(n, sizeof *specs);
	uint32_t *ids = calloc(n, sizeof *ids);
	int *status = calloc(n, sizeof *status);
	struct store_label *labels;
	char **owned;
	int rc = -ENOMEM;

	for (size_t i = 0; i < n; i++)
		nl += b->names[todo[i]].nlabels;
	labels = calloc(nl ? nl : 1, sizeof *labels);
	owned = calloc(nl * 2 + 1, sizeof *owned);
	if (!specs || !ids || !status || !labels || !owned)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct batch_name *nm = &b->names[todo[i]];
		specs[i] = (struct store_tag_spec){b->arena.data + nm->off, nm->len, nm->type,
						   labels + at, nm->nlabels};
		/* The store wants NUL-terminated label strings. */
		for (uint32_t k = 0; k < nm->nlabels; k++, at++) {
			const struct batch_label *l = &b->labels[nm->first_label + k];
			owned[2 * at] = strndup(b->arena.data + l->key_off, l->key_len);
			owned[2 * at + 1] = strndup(b->arena.data + l->value_off, l->value_len);
			if (!owned[2 * at] || !owned[2 * at + 1])
				goto out;
			labels[at] = (struct store_label){owned[2 * at], owned[2 * at + 1]};
		}
	}
	rc = store_tags_resolve(b->ing->st, specs, n, ids, status);
	for (size_t i = 0; rc == 0 && i < n; i++)
		set_resolved(b, todo[i], ids[i], status[i]);
out:
	for (size_t i = 0; owned && i < nl * 2; i++)
		free(owned[i]);
	free(owned);
	free(labels);
	free(specs);
	free(ids);
	free(status);
	return rc;
}

/* Resolve every distinct name of the batch: known tags through the
 * registry (no copies, no catalog), the new ones in one store call. */
static int resolve(struct ingest_batch *b)
{
	size_t *todo = malloc((b->nnames ? b->nnames : 1) * sizeof *todo), ntodo = 0;
	int rc = 0;

	if (!todo)
		return -ENOMEM;
	for (size_t i = 0; i < b->nnames; i++) {
		struct batch_name *nm = &b->names[i];
		uint32_t id;
		enum value_type t;
		if (store_tag_find(b->ing->st, b->arena.data + nm->off, nm->len, &id, &t) == 0)
			set_resolved(b, i, id, t == nm->type ? 0 : HS_ETYPE);
		else
			todo[ntodo++] = i;
	}
	if (ntodo)
		rc = create_new(b, todo, ntodo);
	free(todo);
	return rc;
}

/* Refuse the lines whose samples name a bad tag; returns a sorted list of
 * bad line numbers in *bad (caller frees). */
static int refuse_lines(struct ingest_batch *b, struct ingest_report *rep, uint32_t **bad,
			size_t *nbad)
{
	size_t cap = 0;

	*bad = NULL;
	*nbad = 0;
	for (size_t i = 0; i < b->npending; i++) {
		const struct pending_sample *p = &b->pending[i];
		const struct batch_name *nm = &b->names[p->name];
		/* The tag's type: the existing one, or the one just created. */
		enum value_type actual = nm->status == HS_ETYPE ? nm->existing : nm->type;
		if (nm->status != -EINVAL && p->type == actual)
			continue;
		if (*nbad && (*bad)[*nbad - 1] == p->line)
			continue; /* one error per line */
		if (vec_grow(bad, &cap, *nbad, sizeof **bad) != 0)
			return -ENOMEM;
		(*bad)[(*nbad)++] = p->line;
		if (nm->status == -EINVAL)
			ingest__error(rep, p->line, 0,
				      "invalid tag name (empty, over 1024 bytes, not UTF-8 or with NUL)");
		else
			ingest__error(rep, p->line, 0, "tag %.*s holds %s values; this value is %s",
				      (int)(nm->len > 300 ? 300 : nm->len), b->arena.data + nm->off,
				      value_type_name(actual), value_type_name(p->type));
	}
	return 0;
}

static int by_line(const void *a, const void *b)
{
	const struct ingest_error *x = a, *y = b;
	return x->line < y->line ? -1 : x->line > y->line;
}

static void to_store_sample(const struct ingest_batch *b, const struct pending_sample *p,
			    struct store_sample *out)
{
	*out = (struct store_sample){.tag_id = b->names[p->name].id, .quality = p->quality,
				     .ts_ns = p->ts_ns};
	switch (p->type) {
	case VALUE_FLOAT64: out->v.f64 = p->v.f64; break;
	case VALUE_INT64: out->v.i64 = p->v.i64; break;
	case VALUE_BOOL: out->v.b = p->v.i64 != 0; break;
	case VALUE_STRING:
		out->v.s.ptr = b->arena.data + p->v.s.off;
		out->v.s.len = p->v.s.len;
		break;
	}
}

int ingest__finish(struct ingest_batch *b, struct ingest_batch **out, struct ingest_report *rep)
{
	uint32_t *bad = NULL;
	size_t nbad = 0, k = 0;
	int rc;

	*out = NULL;
	if (strbuf_failed(&b->arena)) {
		rc = -ENOMEM;
		goto fail;
	}
	if (b->npending == 0) {
		ingest_batch_free(b);
		return 0;
	}
	rc = resolve(b);
	if (rc == 0)
		rc = refuse_lines(b, rep, &bad, &nbad);
	if (rc == 0 && !(b->samples = malloc(b->npending * sizeof *b->samples)))
		rc = -ENOMEM;
	if (rc != 0)
		goto fail;
	/* Samples come in line order, and bad is sorted: one walk drops them. */
	for (size_t i = 0, j = 0; i < b->npending; i++) {
		const struct pending_sample *p = &b->pending[i];
		while (j < nbad && bad[j] < p->line)
			j++;
		if (j < nbad && bad[j] == p->line)
			continue;
		to_store_sample(b, p, &b->samples[k++]);
		b->bytes += sizeof(struct store_sample) + (p->type == VALUE_STRING ? p->v.s.len : 0);
	}
	b->count = k;
	rep->samples = k;
	/* Parse errors come first, type conflicts after resolution: the
	 * client wants them in line order. */
	qsort(rep->errors, rep->nerrors, sizeof rep->errors[0], by_line);
	free(bad);
	atomic_fetch_add(&b->ing->bad_lines, rep->bad_lines);
	if (k == 0) {
		ingest_batch_free(b);
		return 0;
	}
	*out = b;
	return 0;
fail:
	free(bad);
	ingest_batch_free(b);
	return rc;
}

/* --- line protocol ------------------------------------------------------ */

/* Scratch for one line's unescaped strings: a line's names and labels. */
struct scratch {
	char buf[65536];
	size_t used;
};

static const char *unescape(struct scratch *sc, const struct lp_str *s, size_t *len)
{
	char *dst = sc->buf + sc->used;
	size_t n = s->escaped ? lp_unescape(s, dst, sizeof sc->buf - sc->used) : s->len;

	if (!s->escaped) {
		*len = s->len;
		return s->ptr;
	}
	if (n > sizeof sc->buf - sc->used)
		return NULL;
	sc->used += n;
	*len = n;
	return dst;
}

/* The quality field of a line, if any: an OPC UA status code whose upper
 * 16 bits we keep. -1 when the field is there but not an integer. */
static int line_quality(const struct lp_line *l, quality_t *q)
{
	*q = QUALITY_GOOD;
	for (uint32_t i = 0; i < l->nfields; i++) {
		const struct lp_field *f = &l->fields[i];
		if (f->key.len != 7 || memcmp(f->key.ptr, "quality", 7) != 0 || f->key.escaped)
			continue;
		if (f->type == LP_FIELD_INT && f->v.i >= 0 && f->v.i <= UINT32_MAX)
			*q = (quality_t)((uint64_t)f->v.i >> 16);
		else if (f->type == LP_FIELD_UINT && f->v.u <= UINT32_MAX)
			*q = (quality_t)(f->v.u >> 16);
		else if (f->type == LP_FIELD_FLOAT && f->v.f >= 0 && f->v.f <= 4294967295.0 &&
			 f->v.f == (double)(uint64_t)f->v.f)
			*q = (quality_t)((uint64_t)f->v.f >> 16);
		else
			return -1;
	}
	return 0;
}

/* One field into a pending sample (value part). -1 for an unsigned value
 * beyond int64. */
static int field_value(struct ingest_batch *b, struct scratch *sc, const struct lp_field *f,
		       struct pending_sample *p)
{
	size_t len;
	const char *s;

	switch (f->type) {
	case LP_FIELD_FLOAT: p->type = VALUE_FLOAT64; p->v.f64 = f->v.f; return 0;
	case LP_FIELD_INT: p->type = VALUE_INT64; p->v.i64 = f->v.i; return 0;
	case LP_FIELD_UINT:
		if (f->v.u > INT64_MAX)
			return -1;
		p->type = VALUE_INT64;
		p->v.i64 = (int64_t)f->v.u;
		return 0;
	case LP_FIELD_BOOL: p->type = VALUE_BOOL; p->v.i64 = f->v.b; return 0;
	case LP_FIELD_STRING:
		s = unescape(sc, &f->v.s, &len);
		if (!s)
			return -1;
		p->type = VALUE_STRING;
		p->v.s.off = ingest__keep(b, s, len);
		p->v.s.len = (uint32_t)len;
		return 0;
	}
	return -1;
}

/* --- raw (series, field) keys -------------------------------------------- */

static int grow_raw_slots(struct ingest_batch *b)
{
	return grow_slot_table(&b->raw_slots, &b->raw_slot_cap, b->raw, b->nraw, sizeof *b->raw);
}

static uint64_t raw_key_hash(uint64_t series_hash, const struct lp_str *field)
{
	return (series_hash * 0x9E3779B97F4A7C15ull) ^ hash_name(field->ptr, field->len);
}

/* The name index the (series, field) bytes were given before in this
 * batch, or UINT32_MAX. */
static uint32_t raw_key_find(const struct ingest_batch *b, uint64_t h, const char *series,
			     size_t series_len, const struct lp_str *field)
{
	if (!b->raw_slot_cap)
		return UINT32_MAX;
	for (size_t k = h & (b->raw_slot_cap - 1); b->raw_slots[k] != UINT32_MAX;
	     k = (k + 1) & (b->raw_slot_cap - 1)) {
		const struct batch_raw_key *r = &b->raw[b->raw_slots[k]];
		const char *at = b->arena.data + r->off;
		if (r->hash == h && r->series_len == series_len && r->field_len == field->len &&
		    memcmp(at, series, series_len) == 0 &&
		    memcmp(at + series_len, field->ptr, field->len) == 0)
			return r->name;
	}
	return UINT32_MAX;
}

static int raw_key_add(struct ingest_batch *b, uint64_t h, const char *series, size_t series_len,
		       const struct lp_str *field, uint32_t name)
{
	size_t k;

	if ((b->nraw + 1) * 2 > b->raw_slot_cap && grow_raw_slots(b) != 0)
		return -ENOMEM;
	if (vec_grow(&b->raw, &b->raw_cap, b->nraw, sizeof *b->raw) != 0)
		return -ENOMEM;
	b->raw[b->nraw] = (struct batch_raw_key){.hash = h, .series_len = (uint32_t)series_len,
						 .field_len = field->len, .name = name};
	b->raw[b->nraw].off = ingest__keep(b, series, series_len);
	ingest__keep(b, field->ptr, field->len);
	if (strbuf_failed(&b->arena))
		return -ENOMEM;
	for (k = h & (b->raw_slot_cap - 1); b->raw_slots[k] != UINT32_MAX; k = (k + 1) & (b->raw_slot_cap - 1))
		;
	b->raw_slots[k] = (uint32_t)b->nraw++;
	return 0;
}

/* A line's names, unescaped and rendered: only for a (series, field) the
 * batch has not seen spelled this way. */
struct line_names {
	bool ready;
	const char *meas;
	size_t mlen, plen;
	struct tagname_label labels[LP_MAX_LABELS];
	char label_part[NAME_MAX_BYTES + 1];
};

/* Unescape the measurement and labels, sort the labels and render the
 * label part every field of the line shares. False when the line is too
 * long for the scratch space. */
static bool line_names_prepare(struct line_names *ln, struct scratch *sc, const struct lp_line *l)
{
	ln->meas = unescape(sc, &l->measurement, &ln->mlen);
	for (uint32_t i = 0; ln->meas && i < l->nlabels; i++) {
		struct tagname_label *lb = &ln->labels[i];
		lb->key = unescape(sc, &l->label_keys[i], &lb->key_len);
		lb->value = unescape(sc, &l->label_values[i], &lb->value_len);
		if (!lb->key || !lb->value)
			ln->meas = NULL;
	}
	if (!ln->meas)
		return false;
	tagname_sort_labels(ln->labels, l->nlabels);
	ln->plen = tagname_render_labels(ln->label_part, sizeof ln->label_part, ln->labels, l->nlabels);
	ln->ready = true;
	return true;
}

static int add_line(struct ingest_batch *b, const struct lp_line *l, int64_t now_ns,
		    struct ingest_report *rep)
{
	static _Thread_local struct scratch sc;
	static _Thread_local struct line_names ln;
	char name[NAME_MAX_BYTES + 1];
	size_t start = b->npending;
	/* The series as sent: the measurement through the last label. */
	const struct lp_str *last = l->nlabels ? &l->label_values[l->nlabels - 1] : &l->measurement;
	const char *series = l->measurement.ptr;
	size_t series_len = (size_t)(last->ptr + last->len - series);
	uint64_t series_hash = hash_name(series, series_len);
	quality_t q;

	sc.used = 0;
	ln.ready = false;
	if (line_quality(l, &q) != 0) {
		ingest__error(rep, l->line_no, 0, "quality must be an integer OPC UA status code");
		return 0;
	}
	for (uint32_t i = 0; i < l->nfields; i++) {
		const struct lp_field *f = &l->fields[i];
		struct pending_sample p = {.line = l->line_no, .quality = q,
					   .ts_ns = l->has_time ? l->time_ns : now_ns};
		size_t flen, nlen = 0;
		const char *field = unescape(&sc, &f->key, &flen);
		uint64_t h = raw_key_hash(series_hash, &f->key);
		int rc;
		if (field && flen == 7 && memcmp(field, "quality", 7) == 0)
			continue;
		p.name = raw_key_find(b, h, series, series_len, &f->key);
		if (p.name == UINT32_MAX) {
			if (!ln.ready && !line_names_prepare(&ln, &sc, l)) {
				b->npending = start;
				ingest__error(rep, l->line_no, 0, "line too long");
				return 0;
			}
			nlen = field && ln.plen < sizeof ln.label_part
				       ? tagname_render_field(name, sizeof name, ln.meas, ln.mlen, field,
							      flen, ln.label_part, ln.plen)
				       : SIZE_MAX;
		}
		if (nlen > NAME_MAX_BYTES || field_value(b, &sc, f, &p) != 0) {
			b->npending = start; /* the whole line goes */
			ingest__error(rep, l->line_no, 0,
				      nlen > NAME_MAX_BYTES ? "tag name longer than 1024 bytes"
							    : "unsigned value beyond the int64 range");
			return 0;
		}
		rc = 0;
		if (p.name == UINT32_MAX) {
			rc = ingest__name(b, name, nlen, p.type, ln.labels, l->nlabels, &p.name);
			if (rc == 0)
				rc = raw_key_add(b, h, series, series_len, &f->key, p.name);
		}
		if (rc == 0)
			rc = ingest__add(b, &p);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int64_t truncate_to(int64_t ns, enum lp_precision prec)
{
	static const int64_t unit[] = {1, 1000, 1000000, 1000000000, 60000000000,
				       3600000000000};
	return ns - ns % unit[prec];
}

/* Parse what p has left into b; every sample is numbered as its line, or
 * as line_no when that is not 0 (one MQTT message counts as one "line").
 * now_ns is already truncated to the precision. */
static int add_lp_lines(struct ingest_batch *b, struct lp_parser *p, int64_t now_ns, uint32_t line_no,
			struct ingest_report *rep)
{
	struct lp_line *line = malloc(sizeof *line); /* large: not on a worker's stack */
	struct lp_error err;
	int rc = 0, got;

	if (!line)
		return -ENOMEM;
	while (rc == 0 && (got = lp_next(p, line, &err)) != 0) {
		rep->lines++;
		if (got < 0) {
			ingest__error(rep, line_no ? line_no : err.line, err.column, "%s", err.message);
			continue;
		}
		if (line_no)
			line->line_no = line_no;
		rc = add_line(b, line, now_ns, rep);
	}
	free(line);
	return rc;
}

static int add_lp_text(struct ingest_batch *b, const char *text, size_t len,
		       enum lp_precision precision, int64_t now_ns, uint32_t line_no,
		       struct ingest_report *rep)
{
	struct lp_parser p;

	lp_parser_init(&p, text, len, precision);
	/* InfluxDB 1.x truncates the arrival time to the write's precision. */
	return add_lp_lines(b, &p, truncate_to(now_ns, precision), line_no, rep);
}

/* --- one body on two threads ------------------------------------------------ */

/* A body this large is parsed in two halves on two threads when a core is
 * free: with one writer, a request's latency is mostly its parse. */
#define SPLIT_PARSE_MIN_BYTES (256u << 10)

struct half {
	struct ingest_batch *b;
	struct lp_parser p;
	int64_t now_ns;
	int rc;
	struct ingest_report rep;
};

static void *parse_half(void *arg)
{
	struct half *h = arg;

	h->rc = add_lp_lines(h->b, &h->p, h->now_ns, 0, &h->rep);
	return NULL;
}

/* Append b2's samples to b, as if b had parsed b2's lines after its own:
 * names b already has keep their first type, the rest are added in b2's
 * order, strings are copied. */
static int batch_append(struct ingest_batch *b, const struct ingest_batch *b2)
{
	struct tagname_label labels[LP_MAX_LABELS];
	uint32_t *map = malloc((b2->nnames ? b2->nnames : 1) * sizeof *map);
	int rc = map ? 0 : -ENOMEM;

	for (size_t i = 0; rc == 0 && i < b2->nnames; i++) {
		const struct batch_name *n = &b2->names[i];
		for (uint32_t j = 0; j < n->nlabels && j < LP_MAX_LABELS; j++) {
			const struct batch_label *l = &b2->labels[n->first_label + j];
			labels[j] = (struct tagname_label){b2->arena.data + l->key_off, l->key_len,
							   b2->arena.data + l->value_off, l->value_len};
		}
		rc = ingest__name(b, b2->arena.data + n->off, n->len, n->type, labels,
				  n->nlabels < LP_MAX_LABELS ? n->nlabels : LP_MAX_LABELS, &map[i]);
	}
	for (size_t i = 0; rc == 0 && i < b2->npending; i++) {
		struct pending_sample q = b2->pending[i];
		q.name = map[q.name];
		if (q.type == VALUE_STRING)
			q.v.s.off = ingest__keep(b, b2->arena.data + q.v.s.off, q.v.s.len);
		rc = ingest__add(b, &q);
	}
	if (rc == 0 && strbuf_failed(&b->arena))
		rc = -ENOMEM;
	free(map);
	return rc;
}

static void report_append(struct ingest_report *rep, const struct ingest_report *r2)
{
	rep->lines += r2->lines;
	rep->bad_lines += r2->bad_lines;
	for (size_t i = 0; i < r2->nerrors && rep->nerrors < INGEST_ERRORS_MAX; i++)
		rep->errors[rep->nerrors++] = r2->errors[i];
}

/* Parse body into b, its second half on a thread of its own when that is
 * worth it; the result is what one thread would have made of it. */
static int add_lp_body(struct ingest *ing, struct ingest_batch *b, const char *body, size_t len,
		       enum lp_precision precision, int64_t now_ns, struct ingest_report *rep)
{
	struct lp_parser whole, first;
	struct half *h = NULL;
	pthread_t thread;
	long busy = atomic_fetch_add(&ing->parsing, 1) + 1;
	int rc;

	now_ns = truncate_to(now_ns, precision);
	lp_parser_init(&whole, body, len, precision);
	if (len < SPLIT_PARSE_MIN_BYTES || busy >= ing->cores || !(h = calloc(1, sizeof *h)) ||
	    ingest__batch_new(ing, &h->b) != 0) {
		rc = add_lp_lines(b, &whole, now_ns, 0, rep);
		goto out;
	}
	h->now_ns = now_ns;
	lp_parser_split(&whole, len / 2, &first, &h->p);
	if (pthread_create(&thread, NULL, parse_half, h) != 0) {
		rc = add_lp_lines(b, &whole, now_ns, 0, rep);
		goto out;
	}
	atomic_fetch_add(&ing->split_parses, 1);
	rc = add_lp_lines(b, &first, now_ns, 0, rep);
	pthread_join(thread, NULL);
	if (rc == 0)
		rc = h->rc;
	if (rc == 0)
		rc = batch_append(b, h->b);
	report_append(rep, &h->rep);
out:
	if (h)
		ingest_batch_free(h->b);
	free(h);
	atomic_fetch_sub(&ing->parsing, 1);
	return rc;
}

int ingest_parse_lp(struct ingest *ing, const char *body, size_t len, enum lp_precision precision,
		    int64_t now_ns, struct ingest_batch **out, struct ingest_report *rep)
{
	struct ingest_batch *b;
	int rc;

	*out = NULL;
	memset(rep, 0, sizeof *rep);
	if ((rc = ingest__batch_new(ing, &b)) != 0)
		return rc;
	if ((rc = add_lp_body(ing, b, body, len, precision, now_ns, rep)) != 0) {
		ingest_batch_free(b);
		return rc;
	}
	return ingest__finish(b, out, rep);
}

/* --- batches built piece by piece (MQTT) ------------------------------------ */

int ingest_batch_new(struct ingest *ing, struct ingest_batch **out, struct ingest_report *rep)
{
	memset(rep, 0, sizeof *rep);
	return ingest__batch_new(ing, out);
}

int ingest_batch_add_lp(struct ingest_batch *b, const char *text, size_t len,
			enum lp_precision precision, int64_t now_ns, uint32_t line,
			struct ingest_report *rep)
{
	return add_lp_text(b, text, len, precision, now_ns, line, rep);
}

int ingest_batch_add(struct ingest_batch *b, const char *measurement, size_t measurement_len,
		     const char *field, size_t field_len, const struct tagname_label *labels,
		     size_t nlabels, const struct ingest_value *v, int64_t ts_ns, quality_t quality,
		     uint32_t line, struct ingest_report *rep)
{
	struct tagname_label sorted[LP_MAX_LABELS];
	char name[NAME_MAX_BYTES + 1];
	struct pending_sample p = {.line = line, .quality = quality, .ts_ns = ts_ns, .type = v->type};
	size_t nlen;
	int rc;

	if (nlabels > LP_MAX_LABELS) {
		ingest__error(rep, line, 0, "more than %d labels", LP_MAX_LABELS);
		return 0;
	}
	if (field_len == 0) { /* the rule leaves a field called "value" out */
		field = "value";
		field_len = 5;
	}
	if (nlabels)
		memcpy(sorted, labels, nlabels * sizeof *labels);
	tagname_sort_labels(sorted, nlabels);
	nlen = tagname_render(name, sizeof name, measurement, measurement_len, field, field_len,
			      sorted, nlabels);
	if (nlen > NAME_MAX_BYTES || nlen == 0) {
		ingest__error(rep, line, 0, nlen ? "tag name longer than 1024 bytes" : "empty tag name");
		return 0;
	}
	switch (v->type) {
	case VALUE_FLOAT64: p.v.f64 = v->f64; break;
	case VALUE_INT64:
	case VALUE_BOOL: p.v.i64 = v->i64; break;
	case VALUE_STRING:
		p.v.s.off = ingest__keep(b, v->str, v->str_len);
		p.v.s.len = (uint32_t)v->str_len;
		break;
	}
	rc = ingest__name(b, name, nlen, v->type, sorted, nlabels, &p.name);
	return rc == 0 ? ingest__add(b, &p) : rc;
}

int ingest_batch_finish(struct ingest_batch *b, struct ingest_batch **out,
			struct ingest_report *rep)
{
	return ingest__finish(b, out, rep);
}

/* --- submission ------------------------------------------------------------ */

struct submitted {
	struct ingest *ing;
	size_t bytes;
	store_durable_fn done;
	void *arg;
};

static void on_durable(void *arg, int status)
{
	struct submitted *s = arg;
	struct ingest *ing = s->ing;

	pthread_mutex_lock(&ing->lock);
	ing->pending -= s->bytes;
	pthread_cond_broadcast(&ing->room);
	pthread_mutex_unlock(&ing->lock);
	s->done(s->arg, status);
	free(s);
}

/* Wait up to wait_ms for room for bytes; false when the wait timed out. */
static bool wait_for_room(struct ingest *ing, size_t bytes, uint64_t wait_ms)
{
	uint64_t deadline = clock_mono_ns() + wait_ms * 1000000u;
	bool ok = true;

	pthread_mutex_lock(&ing->lock);
	/* A batch bigger than the whole bound goes alone. */
	while (ing->pending > 0 && ing->pending + bytes > ing->max_pending) {
		if (clock_mono_ns() >= deadline) {
			ok = false;
			break;
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 20000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&ing->room, &ing->lock, &ts);
	}
	if (ok)
		ing->pending += bytes;
	pthread_mutex_unlock(&ing->lock);
	return ok;
}

static int submit(struct ingest *ing, struct ingest_batch *b, store_durable_fn done, void *arg,
		  uint64_t wait_ms)
{
	struct submitted *s = malloc(sizeof *s);
	int rc;

	if (!s) {
		ingest_batch_free(b);
		return -ENOMEM;
	}
	*s = (struct submitted){ing, b->bytes, done, arg};
	if (!wait_for_room(ing, b->bytes, wait_ms)) {
		atomic_fetch_add(&ing->refused_busy, 1);
		free(s);
		ingest_batch_free(b);
		return -EBUSY;
	}
	rc = store_append(ing->st, b->samples, b->count, on_durable, s);
	if (rc != 0) {
		pthread_mutex_lock(&ing->lock);
		ing->pending -= b->bytes;
		pthread_cond_broadcast(&ing->room);
		pthread_mutex_unlock(&ing->lock);
		free(s);
	} else {
		atomic_fetch_add(&ing->batches, 1);
		atomic_fetch_add(&ing->samples, b->count);
	}
	ingest_batch_free(b); /* the store copied what it needs */
	return rc;
}

int ingest_submit(struct ingest *ing, struct ingest_batch *b, store_durable_fn done, void *arg)
{
	return submit(ing, b, done, arg, ing->wait_ms);
}

int ingest_submit_nowait(struct ingest *ing, struct ingest_batch *b, store_durable_fn done,
			 void *arg)
{
	return submit(ing, b, done, arg, 0);
}

void ingest_stats(struct ingest *ing, struct ingest_stats *out)
{
	out->batches = atomic_load(&ing->batches);
	out->samples = atomic_load(&ing->samples);
	out->bad_lines = atomic_load(&ing->bad_lines);
	out->refused_busy = atomic_load(&ing->refused_busy);
	out->split_parses = atomic_load(&ing->split_parses);
	pthread_mutex_lock(&ing->lock);
	out->pending_bytes = ing->pending;
	pthread_mutex_unlock(&ing->lock);
}

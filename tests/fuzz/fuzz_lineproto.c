/* fuzz_lineproto.c: libFuzzer target for the line protocol parser (server/lineproto.c), under every precision, whole and split in two.
 * A write body is network input: no bytes may crash the parser, read outside the buffer or break its invariants. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/lineproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                  \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "invariant broken: %s (line %d)\n", #cond, __LINE__); \
			abort();                                                     \
		}                                                                    \
	} while (0)

static const char *fuzz_buf;
static size_t fuzz_len;

/* A view lies inside the input, and unescaping it never grows it: the
 * plain text is at most as long as the escaped one. */
static void check_view(const struct lp_str *s)
{
	static char plain[1 << 16];
	size_t n, cut;

	CHECK(s->ptr >= fuzz_buf && s->len <= fuzz_len);
	CHECK((size_t)(s->ptr - fuzz_buf) <= fuzz_len - s->len);
	CHECK(s->kind <= LP_STR_STRING);
	CHECK(s->escaped || memchr(s->ptr, '\\', s->len) == NULL);
	n = lp_unescape(s, plain, sizeof plain);
	CHECK(n <= s->len);
	/* a short buffer gives the same length and a prefix of the same text */
	cut = n / 2;
	if (n <= sizeof plain) {
		char head[1 << 15];
		CHECK(lp_unescape(s, head, cut) == n);
		CHECK(memcmp(head, plain, cut) == 0);
	}
}

static void check_line(const struct lp_line *l, uint32_t first_line, uint32_t next_line)
{
	CHECK(l->nfields >= 1 && l->nfields <= LP_MAX_FIELDS);
	CHECK(l->nlabels <= LP_MAX_LABELS);
	CHECK(l->line_no >= first_line && l->line_no <= next_line);
	CHECK(l->measurement.len > 0);
	check_view(&l->measurement);
	for (uint32_t i = 0; i < l->nlabels; i++) {
		CHECK(l->label_keys[i].len > 0 && l->label_values[i].len > 0);
		check_view(&l->label_keys[i]);
		check_view(&l->label_values[i]);
	}
	for (uint32_t i = 0; i < l->nfields; i++) {
		const struct lp_field *f = &l->fields[i];
		CHECK(f->key.len > 0);
		CHECK(f->type <= LP_FIELD_STRING);
		check_view(&f->key);
		if (f->type == LP_FIELD_STRING)
			check_view(&f->v.s);
		if (f->type == LP_FIELD_FLOAT)
			CHECK(isfinite(f->v.f));
	}
	if (l->has_time)
		CHECK(l->time_ns > INT64_MIN + 1 && l->time_ns < INT64_MAX);
}

static void check_error(const struct lp_error *e, uint32_t first_line, uint32_t next_line)
{
	CHECK(e->line >= first_line && e->line <= next_line);
	CHECK(e->column >= 1);
	CHECK(memchr(e->message, '\0', sizeof e->message) != NULL);
	CHECK(e->message[0] != '\0');
}

/* The sequence of (result, line number, end position) a parser gives. */
static size_t trace(struct lp_parser *p, uint64_t *out, size_t cap)
{
	static struct lp_line line;
	struct lp_error err;
	size_t n = 0;
	int rc;

	while ((rc = lp_next(p, &line, &err)) != 0) {
		uint32_t at = rc == 1 ? line.line_no : err.line;
		CHECK(n < cap);
		out[n++] = ((uint64_t)(rc == 1) << 63) | ((uint64_t)at << 32) | (uint32_t)p->pos;
	}
	return n;
}

/* lp_parser_split's halves read what one parser reads, wherever the cut. */
static void check_split(size_t size)
{
	static uint64_t whole[1 << 16], halves[1 << 16];
	struct lp_parser p, a, b;
	size_t nw, nh, at = size ? (size_t)(uint8_t)fuzz_buf[0] * size / 256 : 0;

	if (size >= (1 << 16))
		return;
	lp_parser_init(&p, fuzz_buf, size, LP_PRECISION_NS);
	nw = trace(&p, whole, 1 << 16);
	lp_parser_init(&p, fuzz_buf, size, LP_PRECISION_NS);
	lp_parser_split(&p, at, &a, &b);
	CHECK(a.len == b.pos && b.pos <= size && (b.pos >= at || b.pos == size));
	nh = trace(&a, halves, 1 << 16);
	nh += trace(&b, halves + nh, (1 << 16) - nh);
	CHECK(nh == nw);
	for (size_t i = 0; i < nw; i++)
		CHECK(halves[i] == whole[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct lp_line line;
	struct lp_parser p;
	struct lp_error err;
	int rc;

	fuzz_buf = (const char *)data;
	fuzz_len = size;
	for (int prec = LP_PRECISION_NS; prec <= LP_PRECISION_H; prec++) {
		uint32_t lines = 0;
		lp_parser_init(&p, fuzz_buf, size, (enum lp_precision)prec);
		for (;;) {
			size_t pos = p.pos;
			uint32_t first = p.line_no;
			rc = lp_next(&p, &line, &err);
			if (rc == 0) {
				CHECK(p.pos == size);
				break;
			}
			/* progress: every line consumes bytes, and line numbers grow */
			CHECK(p.pos > pos && p.pos <= size);
			CHECK(p.line_no >= first);
			CHECK(p.line_no > first || p.pos == size);
			if (rc == 1)
				check_line(&line, first, p.line_no);
			else
				check_error(&err, first, p.line_no);
			CHECK(++lines <= size);
		}
		CHECK(lp_next(&p, &line, &err) == 0);
	}
	check_split(size);
	return 0;
}

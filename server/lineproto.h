/* lineproto.h: the InfluxDB line protocol parser: measurement, labels, fields and timestamp of each line, zero-copy.
 * Pure: no I/O and no heap allocation per line; string views point into the caller's buffer. */
#ifndef HS_LINEPROTO_H
#define HS_LINEPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits of one line; a line past them is an error, not a silent cut. */
#define LP_MAX_LABELS 128
#define LP_MAX_FIELDS 256
#define LP_ERROR_TEXT 160

/* Timestamp precision of a write (?precision=): the unit of the integer at
 * the end of a line. */
enum lp_precision {
	LP_PRECISION_NS = 0,
	LP_PRECISION_US,
	LP_PRECISION_MS,
	LP_PRECISION_S,
	LP_PRECISION_M,
	LP_PRECISION_H,
};

/* Which backslash escapes a view may hold. InfluxDB 1.x gives each element
 * its own set, and lp_unescape() needs to know which one applies: a
 * measurement keeps "\\" as two bytes, a string field turns it into one. */
enum lp_str_kind {
	LP_STR_NAME,   /* measurement, field key: \, \" \<space> \= */
	LP_STR_LABEL,  /* label key or value: \, \<space> \= */
	LP_STR_STRING, /* string field value: \" \\ */
};

/* A view of bytes in the input. escaped says the bytes still hold line
 * protocol backslash escapes; lp_unescape() writes the plain text. */
struct lp_str {
	const char *ptr;
	uint32_t len;
	bool escaped;
	uint8_t kind;                  /* enum lp_str_kind */
};

enum lp_field_type {
	LP_FIELD_FLOAT,  /* 1.5, 1e3, -2 (a number without suffix) */
	LP_FIELD_INT,    /* 12i */
	LP_FIELD_UINT,   /* 12u */
	LP_FIELD_BOOL,   /* t T true True TRUE f F false False FALSE */
	LP_FIELD_STRING, /* "text" with \" and \\ escapes */
};

struct lp_field {
	struct lp_str key;
	enum lp_field_type type;
	union {
		double f;
		int64_t i;
		uint64_t u;
		bool b;
		struct lp_str s; /* without the quotes; escaped as in the input */
	} v;
};

struct lp_line {
	struct lp_str measurement;
	struct lp_str label_keys[LP_MAX_LABELS];
	struct lp_str label_values[LP_MAX_LABELS];
	uint32_t nlabels;              /* in input order, not sorted */
	struct lp_field fields[LP_MAX_FIELDS];
	uint32_t nfields;              /* at least 1 */
	bool has_time;
	int64_t time_ns;               /* converted from the precision; valid if has_time */
	uint32_t line_no;              /* 1-based line of the input */
};

struct lp_error {
	uint32_t line;                 /* 1-based */
	uint32_t column;               /* 1-based byte column where the problem is */
	char message[LP_ERROR_TEXT];   /* "missing field value", "invalid number", ... */
};

/* Parser state over one buffer (a request body or a datagram). */
struct lp_parser {
	const char *buf;
	size_t len;
	size_t pos;
	uint32_t line_no;
	enum lp_precision precision;
};

/* buf (len bytes, no NUL needed) is read, never written or copied: it must
 * outlive every line taken from it. A parser is used by one thread at a
 * time; parsers share nothing. */
void lp_parser_init(struct lp_parser *p, const char *buf, size_t len, enum lp_precision precision);

/* Parse the next line into out. Blank lines and lines whose first
 * non-blank byte is '#' are skipped; "\r\n" ends a line like "\n".
 * Returns 1 with a line, 0 at the end of the buffer, or -1 for a bad line
 * (err says where and why; the parser has moved to the next line, so the
 * caller may go on). out's views point into buf; the next call overwrites
 * out. docs/LINE_PROTOCOL.md gives the grammar, limits and messages. */
int lp_next(struct lp_parser *p, struct lp_line *out, struct lp_error *err);

/* Cut what p has left in two at the first line start at or past at
 * (line ends found as lp_next finds them: quoted newlines and
 * backslash-newline do not end a line): first reads the lines before it,
 * second the rest, each numbering its lines as p would. Together they give exactly the lines, errors and
 * numbers p would, so two threads may parse the halves of one body. */
void lp_parser_split(const struct lp_parser *p, size_t at, struct lp_parser *first,
		     struct lp_parser *second);

/* Write s without its escapes into dst (cap bytes). Returns the length of
 * the plain text (which may exceed cap: then dst holds a prefix). */
size_t lp_unescape(const struct lp_str *s, char *dst, size_t cap);

/* Parse "n", "ns", "u", "us", "ms", "s", "m", "h" (and "" or NULL = ns).
 * 0 or -1. */
int lp_precision_parse(const char *text, enum lp_precision *out);

#endif

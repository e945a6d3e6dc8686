/* jsonw.h: a streaming JSON writer that appends RFC 8259 text to a strbuf, for responses too large for a jansson tree.
 * Pure (no I/O, no globals); misuse and allocation failure are sticky, so callers check jsonw_failed() once at the end. */
#ifndef HS_JSONW_H
#define HS_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strbuf;

/* Containers nest at most this deep; one more begin is misuse. */
#define JSONW_MAX_DEPTH 32

/* Room jsonw_format_double() needs, NUL included (the longest text is 25). */
#define JSONW_DOUBLE_BUF 32

/* One document being written. The fields are the writer's: callers only
 * pass the struct around. It lives on the caller's stack; nothing to free.
 * Like its strbuf, a writer belongs to one thread at a time. */
struct jsonw {
	struct strbuf *out;  /* not owned; must outlive the writer */
	uint32_t in_object;  /* bit d: the container at depth d+1 is an object */
	uint32_t has_member; /* bit d: that container already holds a member */
	unsigned depth;      /* open containers, 0..JSONW_MAX_DEPTH */
	bool want_value;     /* a key was written; its value comes next */
	bool done;           /* the top-level value is complete */
	bool misuse;         /* a call out of order or nesting too deep */
};

/* Start one document (one top-level value) appended to out. */
void jsonw_init(struct jsonw *w, struct strbuf *out);

/* Containers. Inside an object every value must follow jsonw_key(); inside
 * an array values just follow each other: the writer places the commas.
 * Misuse (an unmatched end, a value with no key, a key in an array, a key
 * with no value, a 33rd level, a second top-level value) writes nothing,
 * sets the sticky misuse flag and drops every later call. */
void jsonw_obj_begin(struct jsonw *w);
void jsonw_obj_end(struct jsonw *w);
void jsonw_arr_begin(struct jsonw *w);
void jsonw_arr_end(struct jsonw *w);

/* An object member's name, escaped like jsonw_strn(). k is copied. */
void jsonw_key(struct jsonw *w, const char *k);
void jsonw_keyn(struct jsonw *w, const char *k, size_t len);

/* Strings are escaped per RFC 8259: '"' and '\\' with a backslash, \b \f
 * \n \r \t in short form, other bytes below 0x20 as \u00xx (NUL included,
 * since jsonw_strn() takes any bytes). Every maximal subpart of an invalid
 * UTF-8 sequence (Unicode 15, section 3.9) becomes one U+FFFD, so the
 * output is valid UTF-8 whatever the input. jsonw_str(w, NULL) writes null. */
void jsonw_str(struct jsonw *w, const char *s);
void jsonw_strn(struct jsonw *w, const char *s, size_t len);

void jsonw_int(struct jsonw *w, int64_t v);
/* Valid JSON at any size, but jansson (json_int_t) and JavaScript readers
 * lose or reject values above INT64_MAX and 2^53 respectively. */
void jsonw_uint(struct jsonw *w, uint64_t v);
void jsonw_bool(struct jsonw *w, bool v);
void jsonw_null(struct jsonw *w);

/* A number as jsonw_format_double() writes it; NaN and the infinities,
 * which JSON lacks, are written as null. */
void jsonw_f64(struct jsonw *w, double v);

/* Splice len bytes of pre-rendered JSON as one value. Not checked: the
 * caller vouches that it is exactly one valid value. len 0 is misuse. */
void jsonw_raw(struct jsonw *w, const char *json, size_t len);

/* True when the strbuf ran out of memory or a call was misused: the text
 * is then incomplete and must not be sent. */
bool jsonw_failed(const struct jsonw *w);

/* True when exactly one whole top-level value has been written, no misuse. */
bool jsonw_complete(const struct jsonw *w);

/* Write v into buf as the decimal text that strtod() reads back as exactly
 * v, bit for bit; NUL-terminated, returns the length (at most 25).
 *
 * Digits: the fewest, p, for which v correctly rounded to p significant
 * digits reads back as v. So a normal value that came from a decimal of at
 * most 15 digits prints as that decimal (0.1 -> "0.1", 1013.25 -> "1013.25"),
 * others take 16 or 17 ((0.1 + 0.2) -> "0.30000000000000004"). That is the
 * shortest round-trip text except, rarely, at a power of two, where a
 * 16-digit neighbour that is not the correctly rounded one would also do:
 * never wrong there, one digit long.
 *
 * Layout: plain decimal notation when the decimal exponent is in -6..15
 * ("1000000000000000", "0.000001"), else d.ddde-N / d.dddeN ("1e16",
 * "1e21", "1e-7", "1.7976931348623157e308"), with no '+' and no leading
 * zeros in the exponent (the bounds of JavaScript below, of Python's repr
 * above). So integral values below 2^53 print as integers with no ".0",
 * and no integer literal exceeds int64_t: jansson rejects one that does.
 * -0.0 prints as "-0" so that it too round-trips (jansson reads that as
 * the integer 0). NaN and the infinities, which callers should handle
 * first, print as "nan", "inf" and "-inf", which strtod() accepts.
 *
 * Cost: integers below 2^53 and the decimals sensors give (12.5, 1013.25,
 * also 1/3: digits below 2^53, at most 22 places) take a few multiplications
 * and no snprintf(); others take one to three snprintf()+strtod() pairs
 * (a 17-digit value between 1e-6 and 2^53 takes two), subnormals up to 17.
 * The radix is '.' whatever the locale; errno is left as it was. Assumes
 * IEEE binary64 doubles, round to nearest, and no -ffast-math. Reentrant:
 * safe from any thread. */
size_t jsonw_format_double(double v, char buf[JSONW_DOUBLE_BUF]);

#endif

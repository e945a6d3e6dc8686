/* strbuf.h: a growable byte buffer for building responses and text (Prometheus, CSV, JSON).
 * Allocation failure is sticky: appends after it are dropped and strbuf_failed() says so, so callers check once at the end. */
#ifndef HS_STRBUF_H
#define HS_STRBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct strbuf {
	char *data;   /* NUL-terminated while not failed; owned */
	size_t len;
	size_t cap;
	bool failed;  /* an allocation failed; contents are incomplete */
};

#define STRBUF_INIT {NULL, 0, 0, false}

/* Make room for extra more bytes at once (when the final size is known),
 * sparing the doubling copies. False (and failed set) when out of memory. */
bool strbuf_reserve(struct strbuf *sb, size_t extra);
void strbuf__append_grow(struct strbuf *sb, const char *bytes, size_t len);
/* Inline while the bytes fit: JSON answers append one token at a time,
 * tens of thousands per answer. */
static inline void strbuf_append(struct strbuf *sb, const char *bytes, size_t len)
{
	if (!sb->failed && len < sb->cap - sb->len) {
		memcpy(sb->data + sb->len, bytes, len);
		sb->len += len;
		sb->data[sb->len] = '\0';
		return;
	}
	strbuf__append_grow(sb, bytes, len);
}
void strbuf_puts(struct strbuf *sb, const char *text);
void strbuf_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool strbuf_failed(const struct strbuf *sb);
/* Hand the buffer over: returns data (caller frees) and resets sb. */
char *strbuf_take(struct strbuf *sb, size_t *len);
void strbuf_free(struct strbuf *sb);

#endif

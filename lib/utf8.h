/* utf8.h: strict UTF-8 validation (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF).
 * Pure functions; untrusted names, topics and URLs go through here before they reach JSON or logs. */
#ifndef HS_UTF8_H
#define HS_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when the bytes at s
 * (at most len of them) do not start one. */
size_t utf8_sequence_len(const unsigned char *s, size_t len);

/* True when all len bytes are valid UTF-8. NUL bytes count as valid. */
bool utf8_valid(const char *s, size_t len);

/* Copy src into dst (cap bytes, always NUL-terminated when cap > 0),
 * replacing every byte that does not start a valid sequence with '?' and
 * stopping before a sequence that would not fit. Returns bytes written. */
size_t utf8_sanitize(char *dst, size_t cap, const char *src, size_t len);

#endif

/* utf8.c: UTF-8 validation behind utf8.h.
 * The ranges follow the well-formed byte sequence table of Unicode 15, section 3.9. */
#include <string.h>

#include "lib/utf8.h"

size_t utf8_sequence_len(const unsigned char *s, size_t len)
{
	unsigned char c, lo = 0x80, hi = 0xBF;
	size_t n;

	if (len == 0)
		return 0;
	c = s[0];
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		n = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4;
	else
		return 0;
	if (len < n)
		return 0;
	/* The second byte's range is narrower after E0, ED, F0 and F4: that is
	 * what rules out overlongs, surrogates and code points past U+10FFFF. */
	if (c == 0xE0)
		lo = 0xA0;
	else if (c == 0xED)
		hi = 0x9F;
	else if (c == 0xF0)
		lo = 0x90;
	else if (c == 0xF4)
		hi = 0x8F;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return n;
}

bool utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		size_t n = utf8_sequence_len(p + i, len - i);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

size_t utf8_sanitize(char *dst, size_t cap, const char *src, size_t len)
{
	const unsigned char *p = (const unsigned char *)src;
	size_t in = 0, out = 0;

	if (cap == 0)
		return 0;
	while (in < len) {
		size_t n = utf8_sequence_len(p + in, len - in);
		if (n == 0) {
			if (out + 1 >= cap)
				break;
			dst[out++] = '?';
			in++;
			continue;
		}
		if (out + n >= cap)
			break;
		memcpy(dst + out, p + in, n);
		out += n;
		in += n;
	}
	dst[out] = '\0';
	return out;
}

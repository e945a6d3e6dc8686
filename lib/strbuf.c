/* strbuf.c: the growable buffer behind strbuf.h.
 * Not thread-safe: one buffer belongs to one thread at a time. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/strbuf.h"

static bool reserve(struct strbuf *sb, size_t extra)
{
	size_t need, cap;
	char *grown;

	if (sb->failed)
		return false;
	if (extra > (size_t)-1 - sb->len - 1)
		goto fail;
	need = sb->len + extra + 1;
	if (need <= sb->cap)
		return true;
	cap = sb->cap ? sb->cap : 256;
	while (cap < need)
		cap = cap > (size_t)-1 / 2 ? need : cap * 2;
	grown = realloc(sb->data, cap);
	if (!grown)
		goto fail;
	sb->data = grown;
	sb->cap = cap;
	return true;
fail:
	sb->failed = true;
	return false;
}

bool strbuf_reserve(struct strbuf *sb, size_t extra)
{
	return reserve(sb, extra);
}

void strbuf__append_grow(struct strbuf *sb, const char *bytes, size_t len)
{
	if (!reserve(sb, len))
		return;
	memcpy(sb->data + sb->len, bytes, len);
	sb->len += len;
	sb->data[sb->len] = '\0';
}

void strbuf_puts(struct strbuf *sb, const char *text)
{
	strbuf_append(sb, text, strlen(text));
}

void strbuf_printf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int need;

	if (!reserve(sb, 64))
		return;
	va_start(ap, fmt);
	need = vsnprintf(sb->data + sb->len, sb->cap - sb->len, fmt, ap);
	va_end(ap);
	if (need < 0) {
		sb->failed = true;
		return;
	}
	if ((size_t)need >= sb->cap - sb->len) {
		if (!reserve(sb, (size_t)need))
			return;
		va_start(ap, fmt);
		vsnprintf(sb->data + sb->len, sb->cap - sb->len, fmt, ap);
		va_end(ap);
	}
	sb->len += (size_t)need;
}

bool strbuf_failed(const struct strbuf *sb)
{
	return sb->failed;
}

char *strbuf_take(struct strbuf *sb, size_t *len)
{
	char *data = sb->data;

	if (len)
		*len = sb->len;
	sb->data = NULL;
	sb->len = sb->cap = 0;
	sb->failed = false;
	return data;
}

void strbuf_free(struct strbuf *sb)
{
	free(sb->data);
	sb->data = NULL;
	sb->len = sb->cap = 0;
	sb->failed = false;
}

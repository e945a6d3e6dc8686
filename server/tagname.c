/* tagname.c: the canonical tag name rule behind tagname.h.
 * Pure and allocation-free: it runs once per field of every ingested line. */
#include <string.h>

#include "server/tagname.h"

void tagname_sort_labels(struct tagname_label *labels, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		struct tagname_label cur = labels[i];
		size_t j = i;
		while (j > 0) {
			const struct tagname_label *prev = &labels[j - 1];
			size_t m = prev->key_len < cur.key_len ? prev->key_len : cur.key_len;
			int c = memcmp(prev->key, cur.key, m);
			if (c < 0 || (c == 0 && prev->key_len <= cur.key_len))
				break;
			labels[j] = labels[j - 1];
			j--;
		}
		labels[j] = cur;
	}
}

/* Append bytes to dst at *n, counting what does not fit. */
static void put(char *dst, size_t cap, size_t *n, const char *src, size_t len)
{
	if (*n < cap) {
		size_t room = cap - *n;
		memcpy(dst + *n, src, len < room ? len : room);
	}
	*n += len;
}

static void put_escaped(char *dst, size_t cap, size_t *n, const char *src, size_t len)
{
	size_t start = 0;

	for (size_t i = 0; i < len; i++) {
		if (src[i] != ',' && src[i] != '=' && src[i] != '\\')
			continue;
		put(dst, cap, n, src + start, i - start);
		put(dst, cap, n, "\\", 1);
		start = i;
	}
	put(dst, cap, n, src + start, len - start);
}

static void terminate(char *dst, size_t cap, size_t n)
{
	if (cap)
		dst[n < cap ? n : cap - 1] = '\0';
}

size_t tagname_render_labels(char *dst, size_t cap, const struct tagname_label *labels,
			     size_t nlabels)
{
	size_t n = 0;

	for (size_t i = 0; i < nlabels; i++) {
		put(dst, cap, &n, ",", 1);
		put_escaped(dst, cap, &n, labels[i].key, labels[i].key_len);
		put(dst, cap, &n, "=", 1);
		put_escaped(dst, cap, &n, labels[i].value, labels[i].value_len);
	}
	terminate(dst, cap, n);
	return n;
}

size_t tagname_render_field(char *dst, size_t cap, const char *measurement, size_t measurement_len,
			    const char *field, size_t field_len, const char *label_part,
			    size_t label_part_len)
{
	size_t n = 0;

	put(dst, cap, &n, measurement, measurement_len);
	if (!(field_len == 5 && memcmp(field, "value", 5) == 0)) {
		put(dst, cap, &n, ".", 1);
		put(dst, cap, &n, field, field_len);
	}
	put(dst, cap, &n, label_part, label_part_len);
	terminate(dst, cap, n);
	return n;
}

size_t tagname_render(char *dst, size_t cap, const char *measurement, size_t measurement_len,
		      const char *field, size_t field_len, const struct tagname_label *labels,
		      size_t nlabels)
{
	char part[2048];
	size_t len = tagname_render_labels(part, sizeof part, labels, nlabels);

	if (len >= sizeof part)
		return len + measurement_len + field_len + 1; /* too long for any name */
	return tagname_render_field(dst, cap, measurement, measurement_len, field, field_len, part,
				    len);
}

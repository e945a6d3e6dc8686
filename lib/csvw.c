/* csvw.c: RFC 4180 field quoting behind csvw.h.
 * A field that needs no quotes is copied in one append; one that does is reserved at its final size first. */
#include <stdbool.h>
#include <string.h>

#include "lib/csvw.h"
#include "lib/strbuf.h"

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

void csvw_field(struct strbuf *out, const char *s, size_t len)
{
	size_t quotes = 0, i, run;
	bool quote = len > 0 && (is_blank(s[0]) || is_blank(s[len - 1]));

	for (i = 0; i < len; i++) {
		char c = s[i];
		if (c == '"')
			quotes++;
		else if (c == ',' || c == '\r' || c == '\n')
			quote = true;
	}
	if (!quote && quotes == 0) {
		strbuf_append(out, s, len);
		return;
	}
	strbuf_reserve(out, len + quotes + 2); /* on failure the appends below are no-ops */
	strbuf_append(out, "\"", 1);
	/* Each '"' ends a run and starts the next, so it goes out twice. */
	for (i = run = 0; i < len; i++) {
		if (s[i] != '"')
			continue;
		strbuf_append(out, s + run, i + 1 - run);
		run = i;
	}
	strbuf_append(out, s + run, len - run);
	strbuf_append(out, "\"", 1);
}

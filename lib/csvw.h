/* csvw.h: writing CSV fields (RFC 4180) into a strbuf, for the query API's text/csv responses.
 * Pure (no I/O, no globals); numbers come from jsonw_format_double() so CSV and JSON agree digit for digit. */
#ifndef HS_CSVW_H
#define HS_CSVW_H

#include <stddef.h>

struct strbuf;

/* Append the len bytes at s as one field, quoted when they hold a comma,
 * a double quote, CR or LF, or start or end with a space or a tab (which
 * some readers would trim); inside quotes each '"' is doubled. The caller
 * writes the ',' between fields and the "\r\n" after a record. Bytes are
 * copied as they are (no UTF-8 repair); an empty field is written as
 * nothing at all, so it reads back as empty, not as "". Allocation failure
 * is left in out, sticky, for strbuf_failed(). Any thread that owns out. */
void csvw_field(struct strbuf *out, const char *s, size_t len);

#endif

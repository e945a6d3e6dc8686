/* walrec.h: encoding and decoding of the store's WAL record payloads (walrec_format.h). Pure; no I/O.
 * Used by store_append (encode) and WAL replay (decode). */
#ifndef HS_WALREC_H
#define HS_WALREC_H

#include <stddef.h>
#include <stdint.h>

#include "lib/strbuf.h"
#include "storage/head.h"

/* Append the payload for count samples to out (cleared first). Returns 0,
 * -EINVAL for an unknown type or a string over WALREC_MAX_STRING, -ENOMEM. */
int walrec_encode(const struct head_input *in, size_t count, struct strbuf *out)
	__attribute__((warn_unused_result));

/* Decode a payload, calling fn for batches of decoded samples (string
 * values point into payload). Returns 0, HS_ECORRUPT for a payload that is
 * not valid (nothing was passed to fn then), -ENOMEM, or what fn returned
 * when it returned non-zero. */
int walrec_decode(const void *payload, size_t len,
		  int (*fn)(void *arg, const struct head_input *in, size_t count), void *arg)
	__attribute__((warn_unused_result));

#endif

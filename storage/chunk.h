/* chunk.h: encode and decode chunks (storage/chunk_format.h): the samples of one tag over one time range, compressed by column.
 * Pure: no I/O, no global state a caller can see. Any thread may call any function, concurrently, on its own buffers. */
#ifndef HS_CHUNK_H
#define HS_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#include "lib/strbuf.h"
#include "storage/sample.h"

/* The zstd level chunk_encode is meant to run with when sealing: the
 * columns are already dense, so higher levels buy little (bench/bench_codec
 * measures it). 0 turns zstd off. */
#define CHUNK_ZSTD_LEVEL_DEFAULT 3

/* Samples to encode, borrowed for the call. Only the value array of type
 * is read. */
struct chunk_columns {
	size_t count;               /* 1 .. CHUNK_MAX_COUNT (2^20) */
	enum value_type type;
	const int64_t *ts_ns;       /* strictly increasing: the caller dedups */
	const double *f64;          /* VALUE_FLOAT64: any bit patterns */
	const int64_t *i64;         /* VALUE_INT64 */
	const uint8_t *b;           /* VALUE_BOOL: non-zero is true */
	const char *const *str;     /* VALUE_STRING: bytes, NUL allowed; */
	const uint32_t *str_len;    /*   str[i] may be NULL if str_len[i] is 0 */
	const quality_t *quality;   /* NULL means every sample is QUALITY_GOOD */
};

/* Append one complete chunk holding in's samples to out. zstd_level is
 * 0 (no zstd) or a zstd level, 1..22; a column is stored compressed only
 * when that makes it smaller. Floats, times and qualities come back bit
 * for bit; bools come back as 0 or 1.
 * Returns 0; -EINVAL for a bad argument, a count out of range, times
 * that do not strictly increase, or an encoded column or chunk over the
 * format's bounds (CHUNK_MAX_RAW, 4 GiB); -ENOMEM. On error out->len is
 * unchanged (a failed strbuf stays failed). */
int chunk_encode(const struct chunk_columns *in, int zstd_level, struct strbuf *out)
	__attribute__((warn_unused_result));

/* What the fixed header says, once checked. */
struct chunk_header {
	enum value_type type;
	uint32_t count;
	int64_t t_min, t_max;
	size_t len;      /* bytes of the chunk: it occupies buf[0 .. len) */
	uint32_t crc;    /* its CRC-32C, as the catalog row keeps it */
	uint8_t version; /* format version, CHUNK_VERSION_MIN .. CHUNK_VERSION */
};

/* Check the fixed header of the chunk at buf (len bytes available, which
 * may run past the chunk) against the format's bounds, without the CRC:
 * enough to find the next chunk in a file. Returns 0 or HS_ECORRUPT. */
int chunk_peek(const void *buf, size_t len, struct chunk_header *hdr) __attribute__((warn_unused_result));

/* chunk_peek, then the CRC. Returns 0 or HS_ECORRUPT. */
int chunk_verify(const void *buf, size_t len, struct chunk_header *hdr) __attribute__((warn_unused_result));

/* A decoded chunk. Every array has count items and belongs to the struct;
 * only the value array of type is set (the others are NULL). String values
 * point into str_blob and are each followed by a NUL. */
struct chunk_decoded {
	size_t count;
	enum value_type type;
	int64_t *ts_ns;
	double *f64;
	int64_t *i64;
	uint8_t *b;
	const char **str;
	uint32_t *str_len;
	quality_t *quality;
	char *str_blob;
};

/* Validate the chunk at buf (CRC first, then every column) and decode it
 * into freshly allocated arrays in *out; free them with
 * chunk_decoded_free(). Returns 0, HS_ECORRUPT (nothing allocated then,
 * *out zeroed) or -ENOMEM. Never reads outside buf[0 .. len). */
int chunk_decode(const void *buf, size_t len, struct chunk_decoded *out) __attribute__((warn_unused_result));

/* Free what chunk_decode allocated and zero *d. NULL arrays are fine. */
void chunk_decoded_free(struct chunk_decoded *d);

/* Caller-owned destination arrays for chunk_decode_into, each of at least
 * cap items. A NULL array is not decoded (its column is still checked
 * against the directory and the CRC). Strings cannot be decoded this way. */
struct chunk_dest {
	size_t cap;
	int64_t *ts_ns;
	double *f64;      /* for a float64 chunk */
	int64_t *i64;     /* for an int64 chunk */
	uint8_t *b;       /* for a bool chunk */
	quality_t *quality;
};

/* chunk_decode into caller arrays, so scans can reuse buffers. Returns 0
 * (hdr says how many items were written), HS_ECORRUPT, -ENOMEM, -ENOSPC
 * if count exceeds dst->cap, or -EINVAL for a string chunk or a value
 * array of the wrong type. On error the arrays hold garbage. */
int chunk_decode_into(const void *buf, size_t len, const struct chunk_dest *dst, struct chunk_header *hdr)
	__attribute__((warn_unused_result));

/* Where in the codec's sources this thread's last HS_ECORRUPT was found
 * (file NULL if never), so a caller can log "corrupt chunk (codec_int.c:123)"
 * beside the chunk's file and offset. The strings are static. */
void chunk_last_corruption(const char **file, int *line);

#endif

/* sample.h: what a sample is in memory: value types and quality codes shared by storage, query and ingest.
 * In-memory only: on-disk formats map these to their own constants in *_format.h. */
#ifndef HS_SAMPLE_H
#define HS_SAMPLE_H

#include <stdbool.h>
#include <stdint.h>

/* A tag's value type, fixed by its first sample. */
enum value_type {
	VALUE_FLOAT64 = 1,
	VALUE_INT64 = 2,
	VALUE_BOOL = 3,
	VALUE_STRING = 4,
};

/* The type's name in the API, messages and logs: "float", "integer",
 * "boolean", "string" ("?" for anything else). */
static inline const char *value_type_name(enum value_type t)
{
	switch (t) {
	case VALUE_FLOAT64: return "float";
	case VALUE_INT64: return "integer";
	case VALUE_BOOL: return "boolean";
	case VALUE_STRING: return "string";
	}
	return "?";
}

/* Quality: the upper 16 bits of an OPC UA StatusCode. Bits 15-14 are the
 * severity (00 good, 01 uncertain, 10 bad), bits 13-0 the sub-code. 0 is
 * plain "Good", the default for samples that carry no quality. */
typedef uint16_t quality_t;

#define QUALITY_GOOD ((quality_t)0x0000)
#define QUALITY_UNCERTAIN ((quality_t)0x4000)
#define QUALITY_BAD ((quality_t)0x8000)

static inline bool quality_is_good(quality_t q)
{
	return (q & 0xC000) == 0;
}

static inline bool quality_is_bad(quality_t q)
{
	return (q & 0x8000) != 0;
}

#endif

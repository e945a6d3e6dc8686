/* walrec_format.h: the payload of the store's WAL records (version 1): a batch of samples of any tags.
 * The WAL (wal_format.h) frames and checksums records; this is what is inside the frame. Format only. */
#ifndef HS_WALREC_FORMAT_H
#define HS_WALREC_FORMAT_H

/*
 * Byte order little-endian. "uvarint" is LEB128 (7 bits a byte, low group
 * first, at most 10 bytes); "svarint" is a uvarint of the zigzag encoding
 * ((n << 1) ^ (n >> 63)).
 *
 * OFFSET SIZE     DESCRIPTION
 * 0      1        kind: WALREC_KIND_SAMPLES
 * 1      1        version: WALREC_VERSION
 * 2      uvarint  count: number of samples, at least 1
 * ...             count samples, each:
 *        uvarint    tag id
 *        1          value type (WALREC_TYPE_*)
 *        uvarint    quality (upper 16 bits of the OPC UA status code; < 65536)
 *        svarint    time: nanoseconds since the epoch minus the previous
 *                   sample's time in this record (the first: minus 0)
 *        value      F64: 8 bytes, the IEEE 754 bit pattern
 *                   I64: svarint
 *                   BOOL: 1 byte, 0 or 1
 *                   STRING: uvarint length (< 2^24), then that many bytes
 *
 * Valid iff every field lies inside the payload, count matches the samples
 * present, types and booleans hold listed values, and no bytes follow the
 * last sample. A record that is not valid is corruption: the WAL CRC
 * passed, so the writer produced it; replay stops with HS_ECORRUPT (or,
 * with --salvage, skips the record and reports it).
 *
 * Tag ids in a record always exist in the catalog: a tag's row commits
 * before its first sample is appended.
 */

#define WALREC_KIND_SAMPLES 1
#define WALREC_VERSION 1

#define WALREC_TYPE_F64 1
#define WALREC_TYPE_I64 2
#define WALREC_TYPE_BOOL 3
#define WALREC_TYPE_STRING 4

#define WALREC_MAX_STRING ((1u << 24) - 1)

#endif

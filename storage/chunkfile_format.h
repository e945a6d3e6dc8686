/* chunkfile_format.h: the chunk file (version 1): a header, then chunks back to back, for one time partition.
 * Format only; storage/chunkfile.c reads and writes it. */
#ifndef HS_CHUNKFILE_FORMAT_H
#define HS_CHUNKFILE_FORMAT_H

/*
 * DATA_DIR/chunks/pYYYYMMDDTHHMMSSZ-SEQ.hsc holds chunks of one partition
 * (the UTC start of the partition and the seal or compaction sequence that
 * created the file). Byte order little-endian.
 *
 * OFFSET SIZE DESCRIPTION
 * 0      8    magic "HSCHUNKF"
 * 8      4    version, CHUNKFILE_VERSION
 * 12     4    header length, CHUNKFILE_HEADER_LEN (64)
 * 16     8    partition start, ns since the epoch (inclusive)
 * 24     8    partition end, ns since the epoch (exclusive)
 * 32     8    creating sequence (seal or compaction)
 * 40     20   reserved, zero
 * 60     4    crc32c of bytes 0..59
 * 64     ...  chunks, each a complete chunk of chunk_format.h
 *
 * Valid iff magic, version and header length match and the crc holds. The
 * catalog, not the file, says where chunks are: each chunk row holds its
 * file, offset, length and crc. Appends go past the end; bytes after the
 * last chunk the catalog names are a torn append (the process died between
 * the write and the catalog commit) and are cut when the store opens.
 *
 * Ordering invariant: a chunk's bytes are fdatasync'd (and a new file and
 * its directory fsync'd) before the catalog row naming them commits; the
 * WAL records the chunk holds are trimmed only after that commit.
 */

#define CHUNKFILE_MAGIC "HSCHUNKF"
#define CHUNKFILE_VERSION 1
#define CHUNKFILE_HEADER_LEN 64

#endif

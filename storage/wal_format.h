/* wal_format.h: the on-disk format of the write-ahead log, version 1: segment files, their header and record frames.
 * Only the format lives here (constants and the specification below); storage/wal.h is the API, storage/wal*.c the code. */
#ifndef HS_WAL_FORMAT_H
#define HS_WAL_FORMAT_H

/*
 * WAL FORMAT, VERSION 1
 *
 * All integers are little-endian (lib/endian.h put_le*() / get_le*()).
 * CRCs are CRC-32C (lib/crc32c.h).
 *
 * FILES
 *
 * The WAL is a directory (DATA_DIR/wal) of segment files named
 * NNNNNNNNNNNNNNNNNNNN.wal: the segment's sequence number in decimal,
 * zero-padded to 20 digits, so names sort in log order. Sequence numbers
 * start at 1 and go up by exactly one per new segment; a segment is never
 * renumbered, reused or rewritten, only appended to while it is the newest,
 * cut back after a failed write or a torn tail, and deleted whole by trim.
 * A file NNN.wal.tmp is a segment being created: it is written, fsync'd
 * and renamed to NNN.wal, so every NNN.wal has a complete header; .tmp
 * files left by a crash hold no records and are deleted on open.
 *
 * SEGMENT HEADER (48 bytes, at offset 0)
 *
 *   OFFSET SIZE DESCRIPTION
 *        0    8 Magic: 48 53 57 41 4C 0D 0A 1A ("HSWAL\r\n\x1a")
 *        8    4 Format version: 1
 *       12    4 Header size in bytes: 48 (the first record starts here)
 *       16    8 Sequence number; equals the number in the file name
 *       24    8 Creation time, ns since the Unix epoch (informational)
 *       32    8 Salt: random, drawn when the segment is created
 *       40    4 Reserved: 0
 *       44    4 CRC-32C of bytes 0..43
 *
 * RECORD FRAME (8 bytes, then the payload; records follow each other with
 * no padding, the next one at offset + 8 + length)
 *
 *   OFFSET SIZE DESCRIPTION
 *        0    4 Word: bits 0..26 payload length (1 .. WAL_RECORD_MAX),
 *               bits 27..30 reserved (0), bit 31 WAL_REC_SYNCED
 *        4    4 CRC-32C of: payload, then the word (4 bytes), then the
 *               header's sequence (8 bytes) and salt (8 bytes)
 *        8    N Payload, opaque to the WAL
 *
 * The payload comes first in the CRC so the thread that appends a record
 * computes the expensive part before the writer thread knows which segment
 * (sequence, salt) the record lands in; the writer continues the CRC over
 * 20 bytes. Mixing in sequence and salt means a record copied from another
 * segment, an older WAL or a reused file can never validate here.
 *
 * WAL_REC_SYNCED on a record means: every byte of this segment before the
 * record had been made durable (fdatasync returned) before this record was
 * written. The writer sets it on the first record after each fdatasync
 * (with wal_sync = commit, the first record of every group commit). It
 * tells a torn tail from corruption: see RECOVERY.
 *
 * VALID IFF
 *
 *   A segment header is valid iff the magic matches, version is 1, header
 *   size is 48, reserved is 0, the CRC matches and the sequence equals the
 *   file name's.
 *
 *   A record at offset O of a segment of S bytes is valid iff O >= 48,
 *   O + 8 <= S, 1 <= length <= WAL_RECORD_MAX, the reserved bits are 0,
 *   O + 8 + length <= S and the CRC matches. Length 0 is never valid, so
 *   a zero-filled tail (the usual shape of a torn write) never parses.
 *
 * ORDERING INVARIANTS (wal_sync = commit or interval; off promises none)
 *
 *   1. A new segment's header is fsync'd, the file renamed from .tmp and
 *      the directory fsync'd before any record in it is acknowledged.
 *   2. The previous segment is fdatasync'd before the next one is created,
 *      so every segment but the newest is durable from end to end.
 *   3. With wal_sync = commit a record is acknowledged only after the
 *      fdatasync that covers it returned; the writer issues no write for
 *      the next group before then, so only the newest group can be torn.
 *   4. Trim deletes segments in ascending order, oldest first, then fsyncs
 *      the directory.
 *
 * RECOVERY (wal_replay)
 *
 *   Segments are read in sequence order from the requested position. A gap
 *   in the sequence is corruption. In every segment, records are read until
 *   the first invalid one, at offset O. Then:
 *
 *   - Newest segment: scan forward from O + 1 for valid records. If one
 *     with WAL_REC_SYNCED is found, the bytes at O were durable before it
 *     was written and have changed since: corruption. Otherwise the bytes
 *     from O to the end were never synced (a torn or reordered write): the
 *     file is cut at O (truncated, fdatasync'd) and the cut logged.
 *   - Any other segment: corruption (invariant 2 says it was complete).
 *   - A header that is not valid is corruption, except in the newest
 *     segment when the file is no longer than a header: such a file holds
 *     no record and is removed.
 *
 *   Corruption makes replay fail with HS_ECORRUPT naming the file and the
 *   offset. With salvage set, replay instead resynchronises: it scans
 *   forward byte by byte for the next valid record, skips what lies
 *   between, skips segments with a bad header and missing segments, and
 *   reports every skipped range. Salvage cuts a torn tail as above and
 *   repairs nothing else on disk: skipped bytes stay until trim deletes
 *   their segment, and a replay without salvage fails on them again.
 *
 *   After replay the writer starts a new segment (sequence: one above the
 *   newest kept), so a segment is appended to by one process lifetime.
 */

#define WAL_MAGIC "HSWAL\r\n\x1a" /* 8 bytes, without the string's NUL */
#define WAL_MAGIC_LEN 8
#define WAL_VERSION 1u

#define WAL_HDR_SIZE 48u
#define WAL_HDR_OFF_MAGIC 0
#define WAL_HDR_OFF_VERSION 8
#define WAL_HDR_OFF_HDR_SIZE 12
#define WAL_HDR_OFF_SEQ 16
#define WAL_HDR_OFF_CTIME 24
#define WAL_HDR_OFF_SALT 32
#define WAL_HDR_OFF_RESERVED 40
#define WAL_HDR_OFF_CRC 44

#define WAL_FRAME_SIZE 8u
#define WAL_FRAME_OFF_WORD 0
#define WAL_FRAME_OFF_CRC 4

#define WAL_RECORD_MAX (64u << 20)   /* 64 MiB: a bigger length is corrupt */
#define WAL_REC_LEN_MASK 0x07FFFFFFu /* bits 0..26 */
#define WAL_REC_RESERVED 0x78000000u /* bits 27..30, must be 0 */
#define WAL_REC_SYNCED 0x80000000u   /* bit 31 */

/* The 16 bytes mixed into every record CRC after the word: the header's
 * sequence and salt, in this order, as they are stored in the header. */
#define WAL_CRC_CONTEXT_SIZE 16

#define WAL_SEGMENT_SUFFIX ".wal"
#define WAL_SEGMENT_TMP_SUFFIX ".wal.tmp"
#define WAL_SEGMENT_DIGITS 20

#endif
